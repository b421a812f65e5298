/* add_rows.c - the mixture-of-experts combine: each token's weighted expert outputs added into its
 * row in the order idx lists them (kernels/ops.def). _ref: element by element. Fast: the tokens in
 * parallel (each thread owns its tokens' rows, and walks each token's k rows in order, so the
 * bits do not depend on the threads). The product is kept in its own variable and the build does
 * not contract a*b+c into an fma, so both give torch's two roundings. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

static int idx_ok(const int32_t *idx, size_t mk, size_t n)
{
    for (size_t i = 0; i < mk; i++)
        if (idx[i] < -1 || (idx[i] >= 0 && (size_t)idx[i] >= n)) return 0;
    return 1;
}

kern_status kern_add_rows_ref(float *y, const float *x, const float *wt, const int32_t *idx, size_t m, size_t k,
                              size_t c, size_t n, int round_f16)
{
    if (!idx_ok(idx, m * k, n)) return KERN_ERR_ARG;
    for (size_t t = 0; t < m; t++)
        for (size_t s = 0; s < k; s++) {
            if (idx[t * k + s] < 0) continue;
            const size_t r = (size_t)idx[t * k + s];
            for (size_t j = 0; j < c; j++) {
                float *dst = &y[t * c + j];
                float p = x[r * c + j] * wt[r];
                *dst = round_f16 ? awq_round_f16(*dst + awq_round_f16(p)) : *dst + p;
            }
        }
    return KERN_OK;
}

kern_status cpu_add_rows(awq_backend_ctx *ctx, float *y, const float *x, const float *wt, const int32_t *idx, size_t m,
                         size_t k, size_t c, size_t n, int round_f16)
{
    (void)ctx;
    if (!idx_ok(idx, m * k, n)) return KERN_ERR_ARG;
    #pragma omp parallel for schedule(static)
    for (size_t t = 0; t < m; t++) {
        float *dst = y + t * c;
        for (size_t s = 0; s < k; s++) {
            if (idx[t * k + s] < 0) continue;
            const size_t r = (size_t)idx[t * k + s];
            const float *src = x + r * c, w = wt[r];
            for (size_t j = 0; j < c; j++) {
                float p = src[j] * w;
                dst[j] = round_f16 ? kern_round_f16_fast(dst[j] + kern_round_f16_fast(p)) : dst[j] + p;
            }
        }
    }
    return KERN_OK;
}
