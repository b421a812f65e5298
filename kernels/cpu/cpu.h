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

kern_status kern_matmul_cpu(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, kern_weight bias,
                            size_t n, size_t o, size_t i, int round_f16);
kern_status kern_rmsnorm_cpu(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, size_t n, size_t c,
                             float eps, int round_f16);
kern_status kern_rope_cpu(awq_backend_ctx *ctx, float *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                          const kern_rope *rope, int round_f16);
kern_status kern_attention_cpu(awq_backend_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                               size_t b, size_t t, size_t h, size_t hkv, size_t d, int round_f16);
kern_status kern_silu_mul_cpu(awq_backend_ctx *ctx, float *out, const float *g, const float *u, size_t n,
                              int round_f16);
kern_status kern_mlp_cpu(awq_backend_ctx *ctx, float *out, float *down_in, const float *m, kern_weight w_gate,
                         kern_weight b_gate, kern_weight w_up, kern_weight b_up, kern_weight w_down,
                         kern_weight b_down, float *scratch_g, float *scratch_u, size_t n, size_t c, size_t f,
                         int round_f16);
kern_status kern_attn_cpu(awq_backend_ctx *ctx, float *out, float *o_in, const float *a, const kern_attn_w *w,
                          const int32_t *pos, const kern_rope *rope, float *scratch_q, float *scratch_k,
                          float *scratch_v, float *scratch_att, size_t b, size_t t, size_t c, size_t h, size_t hkv,
                          size_t d, int round_f16);
kern_status kern_add_cpu(awq_backend_ctx *ctx, float *y, const float *a, const float *b, size_t n, int round_f16);
kern_status kern_embed_cpu(awq_backend_ctx *ctx, float *y, const int32_t *ids, kern_weight table, size_t n,
                           size_t c, size_t vocab);
kern_status kern_mean_abs_cpu(awq_backend_ctx *ctx, float *mean, const float *x, size_t n, size_t c,
                              int round_f16);
kern_status kern_sq_diff_cpu(awq_backend_ctx *ctx, double *sum, const float *a, const float *b, size_t n,
                            int round_f16, int clamp);
kern_status kern_pin_f16_cpu(awq_backend_ctx *ctx, const float *x, size_t n);
void kern_unpin_f16_cpu(awq_backend_ctx *ctx, const float *x);
kern_status kern_pack_qweight_cpu(awq_backend_ctx *ctx, int32_t *qweight, const uint8_t *codes, size_t o, size_t i);
kern_status kern_to_f32_cpu(awq_backend_ctx *ctx, float *dst, kern_weight src, size_t n);
kern_status kern_to_f16_cpu(awq_backend_ctx *ctx, uint16_t *dst, const float *src, size_t n);
kern_status kern_round_f16_cpu(awq_backend_ctx *ctx, float *x, size_t n);
kern_status kern_check_f16_cpu(awq_backend_ctx *ctx, const float *x, size_t n, size_t *first_bad);
kern_status kern_quantize_cpu(awq_backend_ctx *ctx, float *deq, uint8_t *codes, float *scales, uint8_t *zeros,
                              const float *w, const float *col_scale, size_t o, size_t i, int64_t group,
                              int w_bit, int round_f16);
kern_status kern_w_mean_cpu(awq_backend_ctx *ctx, float *wm, const float *const *w, const size_t *rows, size_t n_w,
                            size_t i, int64_t group, int round_f16);
kern_status kern_clip_search_cpu(awq_backend_ctx *ctx, float *max_val, int32_t *best, float *loss, const float *w,
                                 const float *x, size_t o, size_t i, size_t t, int64_t group, int w_bit,
                                 int n_grid, double max_shrink, int round_f16);
kern_status kern_clip_apply_cpu(awq_backend_ctx *ctx, float *w, const float *max_val, size_t o, size_t i,
                                int64_t group);
kern_status kern_scale_weight_cpu(awq_backend_ctx *ctx, float *w, const float *s, size_t rows, size_t cols, int per_row,
                                  int round_f16);

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
