/* add_rows.c - the mixture-of-experts combine: weighted expert outputs added into their tokens'
 * rows (kernels/ops.def). _ref: element by element. Fast: the rows in parallel (they are
 * distinct, so no two threads write one row). The product is kept in its own variable and the
 * build does not contract a*b+c into an fma, so both give torch's two roundings. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

static int rows_ok(const int32_t *rows, size_t n, size_t m)
{
    for (size_t r = 0; r < n; r++)
        if (rows[r] < 0 || (size_t)rows[r] >= m) return 0;
    return 1;
}

kern_status kern_add_rows_ref(float *y, const float *x, const int32_t *rows, const float *wt, size_t n, size_t c,
                              size_t m, int round_f16)
{
    if (!rows_ok(rows, n, m)) return KERN_ERR_ARG;
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < c; j++) {
            float *dst = &y[(size_t)rows[r] * c + j];
            float p = x[r * c + j] * wt[r];
            *dst = round_f16 ? awq_round_f16(*dst + awq_round_f16(p)) : *dst + p;
        }
    return KERN_OK;
}

kern_status cpu_add_rows(awq_backend_ctx *ctx, float *y, const float *x, const int32_t *rows, const float *wt, size_t n,
                         size_t c, size_t m, int round_f16)
{
    (void)ctx;
    if (!rows_ok(rows, n, m)) return KERN_ERR_ARG;
    #pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++) {
        float *dst = y + (size_t)rows[r] * c;
        const float *src = x + r * c, w = wt[r];
        for (size_t j = 0; j < c; j++) {
            float p = src[j] * w;
            dst[j] = round_f16 ? kern_round_f16_fast(dst[j] + kern_round_f16_fast(p)) : dst[j] + p;
        }
    }
    return KERN_OK;
}
