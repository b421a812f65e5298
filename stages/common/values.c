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

/* Within fp16 and bf16 the sign-cleared bits already order like |x|: the max is taken there, 16
 * bits a lane, and widened once. */
static uint16_t max16(const uint16_t *h, size_t n)
{
    uint16_t m = 0;
#pragma omp simd reduction(max : m)
    for (size_t i = 0; i < n; i++) {
        uint16_t a = h[i] & 0x7fffu;
        m = a > m ? a : m;
    }
    return m;
}

static uint32_t max32(const uint32_t *w, size_t n)
{
    uint32_t m = 0;
#pragma omp simd reduction(max : m)
    for (size_t i = 0; i < n; i++) {
        uint32_t a = w[i] & 0x7fffffffu;
        m = a > m ? a : m;
    }
    return m;
}

uint32_t awq_mag_max(const void *data, awq_dtype dt, size_t n)
{
    if (n == 0) return 0;
    switch (dt) {
    case AWQ_DT_F16: return mag_of_f16(max16(data, n));
    case AWQ_DT_BF16: return (uint32_t)max16(data, n) << 16;
    case AWQ_DT_F32: return max32(data, n);
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
