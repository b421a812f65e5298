/* cpu.h - the fast CPU ops (OpenBLAS sgemm, OpenMP loops) behind awq_backend_cpu(), and the
 * helpers they share. Semantics are those of kernels.h; each lives in <op>.c beside its _ref. */
#ifndef AWQ_KERNELS_CPU_H
#define AWQ_KERNELS_CPU_H

#include "../kernels.h"
#include "../../base/half.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* dst[0..n) = elements off .. off+n of w as fp32 (exact). */
void kern_weight_to_f32(float *dst, kern_weight w, size_t off, size_t n);
/* Is w.dtype one of kern_dtype? (ops refuse anything else with KERN_ERR_ARG) */
int kern_dtype_ok(kern_dtype t);
/* Does dim fit OpenBLAS's int? Larger requests are KERN_ERR_UNSUPPORTED. */
int kern_fits_blas(size_t dim);
/* Make OpenBLAS run each call on the calling thread. OpenBLAS's own threading splits a product
 * by the thread count, and the last bits of its results change with the split; the CPU ops
 * instead run single-threaded sgemm calls on fixed blocks from OpenMP threads, so their results
 * do not depend on the number of threads. Called by every op that uses BLAS. */
void kern_blas_serial(void);

/* Tests set this to 1 to run the portable forms of the ops' hot loops (4 lanes of plain C, expf per
 * element, the scores by sgemm) instead of the CPU-specific ones, and hold the two to the same
 * bits (test_backends cpu/fast_forms_same_bits). 0 otherwise; nothing else sets it. */
extern int kern_cpu_portable;

/* v[0..n) = h(v[0..n)) in place, bit for bit awq_round_f16 (NaN as its quiet NaN): with the
 * CPU's fp32 -> fp16 -> fp32 conversions (F16C, 8 or 16 lanes) where it has them and they pass
 * a start-up check, else 4 lanes of bit arithmetic (vec.h). kern_round_f16_n_path names the form. */
void kern_round_f16_n(float *v, size_t n);
const char *kern_round_f16_n_path(void);
/* The lanes of that form: 16 (AVX-512 conversions, which AVX-512 code may then use inline), 8, 4. */
int kern_round_f16_n_lanes(void);

/* The attention scores of one (sequence, head) pair where the mask keeps them: S[p, m] = Q[p]·K[m]
 * for lo(p) <= m <= p, with the bits cblas_sgemm gives them (qk_causal.c); entries of row p from
 * lo(p) rounded down to a multiple of 16 up to lo(p) are written too, the rest of S untouched.
 * S [t, t]; Q rows of stride qw, K rows of stride kw, d wide; Kt scratch [d, t]. Only where
 * kern_qk_causal_ok(d, t) (AVX-512F, d <= 32, the bits checked against sgemm on that shape). */
void kern_qk_causal(float *S, const float *Q, const float *K, float *Kt, size_t t, size_t d, size_t qw, size_t kw,
                    size_t window);
int kern_qk_causal_ok(size_t d, size_t t);

/* y[0..n) = expf(x[0..n)) bit for bit (y may be x), 4 at a time where the CPU and the C library
 * allow (expf.c says when); kern_expf_n_is_fast says whether they do. */
void kern_expf_n(float *y, const float *x, size_t n);
int kern_expf_n_is_fast(void);

/* The ops of the table, cpu_<name> for every entry of kernels/ops.def (semantics there). */
#define KERN_OP(name, stem, ret, params) ret cpu_##name params;
#include "../ops.def"

/* h(x) without the library call, inlined into the hot loops; exact RNE like awq_round_f16,
 * which it falls back to only for overflow, Inf and NaN. */
static inline float kern_round_f16_fast(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t a = u & 0x7fffffffu;
    /* [2^-14, 65520): the result is a normal half, i.e. x rounded to 11 significant bits.
     * Adding 0xfff plus the lowest kept bit and truncating is round-half-even on bit 13;
     * a carry into the exponent gives the next binade, which is right. */
    if (a >= 0x38800000u && a < 0x477ff000u) {
        u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
        memcpy(&x, &u, 4);
        return x;
    }
    /* below 2^-14: a multiple of the half subnormal step 2^-24. Floats in [0.5, 1) have exactly
     * that ulp, so |x| + 0.5 rounds |x| half-to-even to it (the FPU's default rounding) and
     * subtracting 0.5 is exact. Zero keeps its sign through copysign. */
    if (a < 0x38800000u) {
        volatile float t = fabsf(x) + 0.5f; /* volatile: keep the rounding step as written */
        return copysignf(t - 0.5f, x);
    }
    return awq_round_f16(x); /* overflow, Inf, NaN */
}

#include "vec.h" /* the same h() and friends 4 lanes at a time */

/* Signed max and min of v[0..n) (n >= 1; NaN is skipped by the comparisons), vectorized: the
 * loop form of quant_extremes_add (kernels/quant_core.h) that the quantizing ops use. */
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
