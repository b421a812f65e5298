/* quant_core.h - the pseudo-quantizer Q (spec §2.10), written once for every backend: the group's
 * scale and zero from its signed extremes, the code of a value and its dequantized value. The
 * CPU (_ref and fast op, kernels/cpu/quantize.c, clip_search.c) and CUDA (kernels/cuda/quantize.cu,
 * clip_search.cu) include this header, so their bits agree by construction.
 *
 * Every operation is a single IEEE op in round-to-nearest-even: no FMA contraction (the device
 * side spells the ops as __fadd_rn etc.; C11 mode does not contract on the host), h() at the
 * spec's points, rint half to even. Only the primitives differ by compiler: h() and rint are
 * branch-free bit operations on the host (so that the CPU's `omp simd` loops vectorize) and the
 * hardware conversions on the device; both are exact. Assumes the default rounding mode. */
#ifndef AWQ_KERNELS_QUANT_CORE_H
#define AWQ_KERNELS_QUANT_CORE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define QUANT_FN static __host__ __device__ __forceinline__
#else
#define QUANT_FN static inline
#endif

/* the arithmetic of the core: one rounded IEEE op each, never fused */
#ifdef __CUDA_ARCH__
#define QUANT_ADD(a, b) __fadd_rn((a), (b))
#define QUANT_SUB(a, b) __fsub_rn((a), (b))
#define QUANT_MUL(a, b) __fmul_rn((a), (b))
#define QUANT_DIV(a, b) __fdiv_rn((a), (b))
#else
#define QUANT_ADD(a, b) ((a) + (b))
#define QUANT_SUB(a, b) ((a) - (b))
#define QUANT_MUL(a, b) ((a) * (b))
#define QUANT_DIV(a, b) ((a) / (b))
#endif

/* 1e-5 as torch's fp16 clamp sees it: 0x00a8 = 168 * 2^-24 (a subnormal, spec pitfall 3) */
#define QUANT_EPS_F16 (168.0f * 0x1p-24f)
#define QUANT_EPS_F32 1e-5f

QUANT_FN uint32_t quant_bits(float f)
{
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#endif
}
QUANT_FN float quant_float(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}
/* cond ? a : b as a bit mask, so that the compiler keeps the float work that made a and b
 * unconditional (it will not move a float op that may trap under a branch and then vectorize) */
QUANT_FN uint32_t quant_select(int cond, uint32_t a, uint32_t b)
{
    uint32_t m = 0u - (uint32_t)(cond != 0);
    return (a & m) | (b & ~m);
}

/* h(x) = awq_round_f16(x): round to the nearest fp16 (RNE, subnormals kept, |x| >= 65520 -> Inf,
 * NaN stays NaN) and back. Host: without branches, so that loops over it vectorize: every case
 * is computed and the right one selected. Normal halves: RNE on bit 13 of the fp32 pattern (see
 * kern_round_f16_fast). Subnormal halves (|x| < 2^-14): |x| + 0.75 has the ulp 2^-24 of the half
 * subnormal step, so the add rounds half to even and the subtraction is exact (0.75 is an even
 * multiple of 2^-24); the sign is put back, so -0 stays -0. */
QUANT_FN float quant_h16(float x)
{
#ifdef __CUDA_ARCH__
    return __half2float(__float2half_rn(x));
#else
    uint32_t u = quant_bits(x), a = u & 0x7fffffffu, sign = u ^ a;
    uint32_t normal = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    uint32_t sub = quant_bits((quant_float(a) + 0.75f) - 0.75f) | sign;
    uint32_t big = a > 0x7f800000u ? u : (sign | 0x7f800000u);
    return quant_float(quant_select(a < 0x38800000u, sub, a < 0x477ff000u ? normal : big));
#endif
}

QUANT_FN float quant_h(float x, int f16) { return f16 ? quant_h16(x) : x; }

/* The selects below compare bit patterns as integers, not floats: without -fno-trapping-math
 * GCC will not if-convert float comparisons (they may trap on NaN), and the loops would not
 * vectorize. For non-NaN values the results are those of the float comparisons, except that
 * the sign of a zero may differ, which changes no code, zero or dequantized value. */

/* rintf (half to even). Host, without the libm call: for |v| < 2^23, |v| + 2^23 rounds to an
 * integer and the subtraction is exact; larger values, Inf and NaN are already "integers". The
 * sign is copied back, so rint(-0.3) = -0 like rintf. */
QUANT_FN float quant_rint(float v)
{
#ifdef __CUDA_ARCH__
    return rintf(v);
#else
    float a = fabsf(v), r = (a + 0x1p23f) - 0x1p23f;
    return copysignf(quant_float(quant_select(quant_bits(a) < 0x4b000000u, quant_bits(r), quant_bits(a))), v);
#endif
}

/* clamp(v, 0, maxq) (maxq > 0); a NaN becomes 0 or maxq (by its sign bit), so a code is always a
 * valid small integer */
QUANT_FN float quant_clamp_code(float v, float maxq)
{
    int32_t b = (int32_t)quant_bits(v); /* negative for every value with the sign bit set */
    return b <= 0 ? 0.0f : b > (int32_t)quant_bits(maxq) ? maxq : v;
}

/* torch.clamp(v, -mv, mv) for mv >= 0: |v| > mv gives mv with the sign of v */
QUANT_FN float quant_clamp_abs(float v, float mv)
{
    return (quant_bits(v) & 0x7fffffffu) > quant_bits(mv) ? copysignf(mv, v) : v;
}

/* ---- Q itself (spec §2.10; maxq = 2^w_bit - 1, f16: the faithful mode's h(), else fp32) ----- */

/* scale and zero of a group whose signed extremes are mx and mn:
 *   scale = h( h(max(h(mx - mn), 1e-5)) / maxq ),  zero = clamp( -rint(h(mn / scale)), 0, maxq ) */
QUANT_FN void quant_params(float *scale, float *zero, float mx, float mn, float maxq, int f16)
{
    float range = quant_h(QUANT_SUB(mx, mn), f16), eps = f16 ? QUANT_EPS_F16 : QUANT_EPS_F32;
    if (!(range >= eps)) range = eps; /* clamp(min=1e-5); an all-NaN group lands here too */
    *scale = quant_h(QUANT_DIV(range, maxq), f16);
    *zero = quant_clamp_code(-quant_rint(quant_h(QUANT_DIV(mn, *scale), f16)), maxq);
}

/* the code of one value, as a float in 0..maxq: clamp( h(rint(h(v / scale)) + zero), 0, maxq ) */
QUANT_FN float quant_code(float v, float scale, float zero, float maxq, int f16)
{
    return quant_clamp_code(quant_h(QUANT_ADD(quant_rint(quant_h(QUANT_DIV(v, scale), f16)), zero), f16), maxq);
}

/* the dequantized value of a code: h( (q - zero) * scale ) */
QUANT_FN float quant_deq(float q, float scale, float zero, int f16)
{
    return quant_h(QUANT_MUL(QUANT_SUB(q, zero), scale), f16);
}

/* one value into the running signed max and min of a group (start: -Inf, +Inf; NaN is skipped:
 * it never compares greater or less) */
QUANT_FN void quant_extremes_add(float *mx, float *mn, float v)
{
    *mx = v > *mx ? v : *mx;
    *mn = v < *mn ? v : *mn;
}

#endif
