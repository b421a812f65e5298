/* rmsnorm.c - RMSNorm in HF's exact order (spec §1.4, pitfall 16): fp32 squares, their mean,
 * 1/sqrt(var + eps) in fp32, n = t*r, then (fp16-faithful) h(w * h(n)); Gemma's rmsnorm_1p:
 * h(n * (1 + w)), the weight an offset from 1 and one rounding at the end. The sum of squares is
 * accumulated in fp64 so the result does not hinge on the summation order (torch's is a tree).
 * _ref: element by element. Fast: rows in parallel, weight converted once, 4 partial sums. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <math.h>
#include <stdlib.h>

kern_status kern_rmsnorm_ref(float *y, const float *x, kern_weight w, size_t n, size_t c, float eps,
                             int round_f16)
{
    if (!kern_dtype_ok(w.dtype)) return KERN_ERR_ARG;
    for (size_t r = 0; r < n; r++) {
        const float *t = x + r * c;
        double ss = 0.0;
        for (size_t j = 0; j < c; j++) {
            float sq = t[j] * t[j]; /* pow(2) is an fp32 op */
            ss += sq;
        }
        float var = (float)(ss / (double)c);
        float rs = 1.0f / sqrtf(var + eps);
        for (size_t j = 0; j < c; j++) {
            float nv = t[j] * rs;
            float wv = kern_weight_at(w, j);
            y[r * c + j] = round_f16 ? awq_round_f16(wv * awq_round_f16(nv)) : wv * nv;
        }
    }
    return KERN_OK;
}

/* 1 / sqrt(mean(x^2) + eps) of one row: fp32 squares summed in four fp64 lanes (the order both
 * fast norms share) */
static inline float row_rs(const float *t, size_t c, float eps)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= c; j += 4) {
        float q0 = t[j] * t[j], q1 = t[j + 1] * t[j + 1], q2 = t[j + 2] * t[j + 2], q3 = t[j + 3] * t[j + 3];
        s0 += q0, s1 += q1, s2 += q2, s3 += q3;
    }
    for (; j < c; j++) { float q = t[j] * t[j]; s0 += q; }
    const float var = (float)(((s0 + s1) + (s2 + s3)) / (double)c);
    return 1.0f / sqrtf(var + eps);
}

kern_status cpu_rmsnorm(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, size_t n, size_t c,
                             float eps, int round_f16)
{
    (void)ctx;
    if (!kern_dtype_ok(w.dtype)) return KERN_ERR_ARG;
    if (n == 0 || c == 0) return KERN_OK;
    float *wf = malloc(c * sizeof *wf);
    if (!wf) return KERN_ERR_NOMEM;
    kern_weight_to_f32(wf, w, 0, c);
    #pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++) {
        const float *t = x + r * c;
        float *out = y + r * c;
        const float rs = row_rs(t, c, eps);
        size_t j;
        if (round_f16)
            for (j = 0; j < c; j++) out[j] = kern_round_f16_fast(wf[j] * kern_round_f16_fast(t[j] * rs));
        else
            for (j = 0; j < c; j++) out[j] = wf[j] * (t[j] * rs);
    }
    free(wf);
    return KERN_OK;
}

/* Gemma: the same statistics, then n * (1 + w) in fp32 (Gemma2RMSNorm: output * (1.0 +
 * weight.float()), cast to the input's dtype once). */
kern_status kern_rmsnorm_1p_ref(float *y, const float *x, kern_weight w, size_t n, size_t c, float eps, int round_f16)
{
    if (!kern_dtype_ok(w.dtype)) return KERN_ERR_ARG;
    for (size_t r = 0; r < n; r++) {
        const float *t = x + r * c;
        double ss = 0.0;
        for (size_t j = 0; j < c; j++) {
            float sq = t[j] * t[j];
            ss += sq;
        }
        float var = (float)(ss / (double)c);
        float rs = 1.0f / sqrtf(var + eps);
        for (size_t j = 0; j < c; j++) {
            float v = (t[j] * rs) * (1.0f + kern_weight_at(w, j));
            y[r * c + j] = round_f16 ? awq_round_f16(v) : v;
        }
    }
    return KERN_OK;
}

kern_status cpu_rmsnorm_1p(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, size_t n, size_t c, float eps,
                           int round_f16)
{
    (void)ctx;
    if (!kern_dtype_ok(w.dtype)) return KERN_ERR_ARG;
    if (n == 0 || c == 0) return KERN_OK;
    float *wf = malloc(c * sizeof *wf);
    if (!wf) return KERN_ERR_NOMEM;
    kern_weight_to_f32(wf, w, 0, c);
    for (size_t j = 0; j < c; j++) wf[j] = 1.0f + wf[j]; /* fp32, as torch's 1.0 + weight.float() */
    #pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++) {
        const float *t = x + r * c;
        float *out = y + r * c;
        const float rs = row_rs(t, c, eps);
        size_t j;
        if (round_f16)
            for (j = 0; j < c; j++) out[j] = kern_round_f16_fast((t[j] * rs) * wf[j]);
        else
            for (j = 0; j < c; j++) out[j] = (t[j] * rs) * wf[j];
    }
    free(wf);
    return KERN_OK;
}
