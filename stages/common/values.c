/* values.c - magnitudes of stored values as fp32 bit patterns; see values.h. */
#include "values.h"

#include <string.h>

#include "../../base/half.h"

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }

/* fp16 |x| bits (sign cleared) -> the fp32 magnitude: exact for finite values; Inf and NaN keep
 * their order (NaN's mantissa moved up) */
static uint32_t mag_of_f16(uint16_t a)
{
    if (a >= 0x7c00u) return AWQ_MAG_NONFINITE | (uint32_t)(a & 0x3ffu) << 13;
    return f32_bits(awq_f16_to_f32(a));
}

/* The largest of n values after clearing their sign bit. With the sign cleared they are
 * non-negative as signed integers too, and signed compares are what x86-64's baseline vector set
 * has (pmaxsw for 16 bits; nothing for 32 bits but compare and select; the unsigned maxima came
 * with SSE4.1). The loop keeps independent lanes rather than one running max, which the compiler
 * turns into several vector accumulators: the scan then runs at the speed of the loads, over
 * bytes the hash has just brought into the cache. */
#define LANE_MAX(name, T, SIGN)                                          \
    static T name(const T *v, size_t n)                                  \
    {                                                                    \
        enum { LANES = 64 / sizeof(T) };                                 \
        T lane[LANES] = {0};                                             \
        size_t i = 0;                                                    \
        for (; i + LANES <= n; i += LANES)                               \
            _Pragma("GCC unroll 32")                                     \
            for (int j = 0; j < LANES; j++) {                            \
                T a = (T)(v[i + j] & (T)~(SIGN));                        \
                lane[j] = a > lane[j] ? a : lane[j];                     \
            }                                                            \
        T m = 0;                                                         \
        for (int j = 0; j < LANES; j++) m = lane[j] > m ? lane[j] : m;   \
        for (; i < n; i++) {                                             \
            T a = (T)(v[i] & (T)~(SIGN));                                \
            m = a > m ? a : m;                                           \
        }                                                                \
        return m;                                                        \
    }
LANE_MAX(max16, int16_t, INT16_MIN)
LANE_MAX(max32, int32_t, INT32_MIN)

uint32_t awq_mag_max(const void *data, awq_dtype dt, size_t n)
{
    if (n == 0) return 0;
    switch (dt) {
    /* fp16 and bf16: their own sign-cleared bits order like |x| already; widened once */
    case AWQ_DT_F16: return mag_of_f16((uint16_t)max16(data, n));
    case AWQ_DT_BF16: return (uint32_t)(uint16_t)max16(data, n) << 16;
    case AWQ_DT_F32: return (uint32_t)max32(data, n);
    default: return 0;
    }
}

uint32_t awq_mag_at(const void *data, awq_dtype dt, size_t i)
{
    switch (dt) {
    case AWQ_DT_F16: return mag_of_f16(((const uint16_t *)data)[i] & 0x7fffu);
    case AWQ_DT_BF16: return (uint32_t)(((const uint16_t *)data)[i] & 0x7fffu) << 16;
    case AWQ_DT_F32: return ((const uint32_t *)data)[i] & 0x7fffffffu;
    default: return 0;
    }
}

size_t awq_mag_find(const void *data, awq_dtype dt, size_t n, uint32_t bound, size_t *count)
{
    size_t first = n, c = 0;
    for (size_t i = 0; i < n; i++)
        if (awq_mag_at(data, dt, i) >= bound) {
            if (first == n) first = i;
            c++;
        }
    if (count) *count = c;
    return first;
}

double awq_value_at(const void *data, awq_dtype dt, size_t i)
{
    switch (dt) {
    case AWQ_DT_F16: return awq_f16_to_f32(((const uint16_t *)data)[i]);
    case AWQ_DT_BF16: return awq_bf16_to_f32(((const uint16_t *)data)[i]);
    case AWQ_DT_F32: return ((const float *)data)[i];
    default: return 0;
    }
}
