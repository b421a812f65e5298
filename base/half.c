/* half.c - fp16/bf16 conversions with round-to-nearest-even, subnormals kept. */
#include "half.h"

#include <math.h>
#include <string.h>

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t awq_f32_to_f16(float f)
{
    uint32_t x = bits_of(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* Inf or NaN (keep NaN quiet and non-zero) */
        return sign | (absx > 0x7f800000u ? 0x7e00u : 0x7c00u);
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to Inf */
        return sign | 0x7c00u;
    if (absx < 0x38800000u) { /* below the smallest normal half (2^-14): subnormal or zero */
        if (absx < 0x33000000u) return sign; /* < 2^-25: rounds to 0 (2^-25 ties to even = 0) */
        /* value = mant * 2^(e-150) with the implicit bit in mant; in units of the half
         * subnormal step 2^-24 that is mant >> (126 - e), rounded half to even. */
        int e = (int)(absx >> 23);
        uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
        int drop = 126 - e; /* 14..24 here */
        uint32_t q = mant >> drop;
        uint32_t rem = mant & ((1u << drop) - 1);
        uint32_t half = 1u << (drop - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    /* normal: rebias exponent, round mantissa from 23 to 10 bits */
    uint32_t e = (absx >> 23) - 127 + 15;
    uint32_t mant = absx & 0x7fffffu;
    uint32_t h = (e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into exponent: correct */
    return sign | (uint16_t)h;
}

float awq_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0) {
        if (m == 0) return float_of(sign);
        /* subnormal: m * 2^-24, exact in fp32 */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    if (e == 31) return float_of(sign | 0x7f800000u | (m << 13));
    return float_of(sign | ((e - 15 + 127) << 23) | (m << 13));
}

uint16_t awq_f32_to_bf16(float f)
{
    uint32_t x = bits_of(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    uint32_t lsb = (x >> 16) & 1u;
    x += 0x7fffu + lsb;
    return (uint16_t)(x >> 16);
}

float awq_bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

int awq_f32_fits_f16(float f) { return isfinite(f) && (bits_of(f) & 0x7fffffffu) < 0x477ff000u; }

/* Array forms: elementwise, so split over threads for the large buffers of a block or an
 * activation tensor (results do not depend on the split). */
#define PAR_MIN ((size_t)1 << 16)
void awq_f32_to_f16_n(uint16_t *dst, const float *src, size_t n)
{
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = awq_f32_to_f16(src[i]);
}
void awq_f16_to_f32_n(float *dst, const uint16_t *src, size_t n)
{
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = awq_f16_to_f32(src[i]);
}
void awq_f32_to_bf16_n(uint16_t *dst, const float *src, size_t n)
{
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = awq_f32_to_bf16(src[i]);
}
void awq_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n)
{
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = awq_bf16_to_f32(src[i]);
}
