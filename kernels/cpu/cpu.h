/* cpu.h - the fast CPU ops (OpenBLAS sgemm, OpenMP loops) behind awq_backend_cpu(), and the
 * helpers they share. Semantics are those of kernels.h; each lives in <op>.c beside its _ref. */
#ifndef AWQ_KERNELS_CPU_H
#define AWQ_KERNELS_CPU_H

#include "../kernels.h"

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
kern_status kern_add_cpu(awq_backend_ctx *ctx, float *y, const float *a, const float *b, size_t n, int round_f16);
kern_status kern_embed_cpu(awq_backend_ctx *ctx, float *y, const int32_t *ids, kern_weight table, size_t n,
                           size_t c, size_t vocab);
kern_status kern_mean_abs_cpu(awq_backend_ctx *ctx, float *mean, const float *x, size_t n, size_t c,
                              int round_f16);
kern_status kern_round_f16_cpu(awq_backend_ctx *ctx, float *x, size_t n);
kern_status kern_check_f16_cpu(awq_backend_ctx *ctx, const float *x, size_t n, size_t *first_bad);

/* h(x) without the library call for the common case (normal fp16 range); exact RNE like
 * awq_round_f16, which it falls back to for subnormals, overflow and NaN. */
float kern_round_f16_fast(float x);

#endif
