/* quant_core.h - the pseudo-quantizer Q (spec §2.10) as inline, branch-free pieces that the fast
 * CPU ops (quantize, clip_search) run in `omp simd` loops. kern_quantize_ref in quantize.c is the
 * readable twin; the tests hold these to it bit for bit. Assumes the default rounding mode
 * (round to nearest even), as rintf and the reference do. */
#ifndef AWQ_KERNELS_CPU_QUANT_CORE_H
#define AWQ_KERNELS_CPU_QUANT_CORE_H

#include "cpu.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* 1e-5 as torch's fp16 clamp sees it: 0x00a8 = 168 * 2^-24 (a subnormal, spec pitfall 3) */
#define QUANT_EPS_F16 (168.0f * 0x1p-24f)
#define QUANT_EPS_F32 1e-5f

static inline uint32_t quant_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float quant_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
/* cond ? a : b as a bit mask, so that the compiler keeps the float work that made a and b
 * unconditional (it will not move a float op that may trap under a branch and then vectorize) */
static inline uint32_t quant_select(int cond, uint32_t a, uint32_t b)
{
    uint32_t m = 0u - (uint32_t)(cond != 0);
    return (a & m) | (b & ~m);
}

/* h(x) = awq_round_f16(x) without branches, so that loops over it vectorize: every case is
 * computed and the right one selected. Normal halves: RNE on bit 13 of the fp32 pattern (see
 * kern_round_f16_fast). Subnormal halves (|x| < 2^-14): |x| + 0.75 has the ulp 2^-24 of the
 * half subnormal step, so the add rounds half to even and the subtraction is exact (0.75 is an
 * even multiple of 2^-24); the sign is put back, so -0 stays -0. |x| >= 65520 -> Inf; NaN stays
 * NaN (not necessarily the same payload). */
static inline float quant_h16(float x)
{
    uint32_t u = quant_bits(x), a = u & 0x7fffffffu, sign = u ^ a;
    uint32_t normal = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    uint32_t sub = quant_bits((quant_float(a) + 0.75f) - 0.75f) | sign;
    uint32_t big = a > 0x7f800000u ? u : (sign | 0x7f800000u);
    return quant_float(quant_select(a < 0x38800000u, sub, a < 0x477ff000u ? normal : big));
}

static inline float quant_h(float x, int f16) { return f16 ? quant_h16(x) : x; }

/* The selects below compare bit patterns as integers, not floats: without -fno-trapping-math
 * GCC will not if-convert float comparisons (they may trap on NaN), and the loops would not
 * vectorize. For non-NaN values the results are those of the float comparisons, except that
 * the sign of a zero may differ, which changes no code, zero or dequantized value. */

/* rintf (half to even) without the libm call: for |v| < 2^23, |v| + 2^23 rounds to an integer
 * and the subtraction is exact; larger values, Inf and NaN are already "integers". The sign is
 * copied back, so rint(-0.3) = -0 like rintf. */
static inline float quant_rint(float v)
{
    float a = fabsf(v), r = (a + 0x1p23f) - 0x1p23f;
    return copysignf(quant_float(quant_select(quant_bits(a) < 0x4b000000u, quant_bits(r), quant_bits(a))), v);
}

/* clamp(v, 0, maxq) (maxq > 0); a NaN becomes 0 or maxq, so a code is always a valid small
 * integer */
static inline float quant_clamp_code(float v, float maxq)
{
    int32_t b = (int32_t)quant_bits(v); /* negative for every value with the sign bit set */
    return b <= 0 ? 0.0f : b > (int32_t)quant_bits(maxq) ? maxq : v;
}

/* torch.clamp(v, -mv, mv) for mv >= 0: |v| > mv gives mv with the sign of v */
static inline float quant_clamp_abs(float v, float mv)
{
    return (quant_bits(v) & 0x7fffffffu) > quant_bits(mv) ? copysignf(mv, v) : v;
}

/* scale and zero of a group whose signed extremes are mx and mn */
static inline void quant_params(float *scale, float *zero, float mx, float mn, float maxq, int f16)
{
    float range = quant_h(mx - mn, f16), eps = f16 ? QUANT_EPS_F16 : QUANT_EPS_F32;
    if (!(range >= eps)) range = eps; /* clamp(min=1e-5); an all-NaN group lands here too */
    *scale = quant_h(range / maxq, f16);
    *zero = quant_clamp_code(-quant_rint(quant_h(mn / *scale, f16)), maxq);
}

/* the code of one value, as a float in 0..maxq */
static inline float quant_code(float v, float scale, float zero, float maxq, int f16)
{
    return quant_clamp_code(quant_h(quant_rint(quant_h(v / scale, f16)) + zero, f16), maxq);
}

/* signed max and min of v[0..n) (n >= 1; NaN is skipped by the comparisons) */
static inline void quant_extremes(float *mx, float *mn, const float *v, size_t n)
{
    float hi = -INFINITY, lo = INFINITY;
    #pragma omp simd reduction(max : hi) reduction(min : lo)
    for (size_t c = 0; c < n; c++) {
        hi = v[c] > hi ? v[c] : hi;
        lo = v[c] < lo ? v[c] : lo;
    }
    *mx = hi, *mn = lo;
}

#endif
