/* w_mean.c - AutoAWQ's weight statistic for duo scaling (spec §2.12): every group of g weights of
 * each row divided by its max |w| (+1e-6), then the mean over all rows of the stacked linears.
 * _ref: column by column in row order. Fast: the per-(row, group) divisors in parallel over
 * rows, then column blocks in parallel, each summed in row order (no thread dependence; in
 * faithful mode the fp64 sums of fp16 values are exact anyway). */
#include "cpu.h"
#include "ref.h"
#include "../quant.h"
#include "../quant_core.h"
#include "../../base/half.h"

#include <math.h>
#include <stdlib.h>

static float h_if(float x, int f16) { return f16 ? awq_round_f16(x) : x; }

/* "+ 1e-6" with the constant as the fp16 value 0x0011 in faithful mode (spec pitfall 3) */
static float wm_eps(int f16) { return f16 ? awq_f16_to_f32(0x0011) : 1e-6f; }

static kern_status wm_check(size_t *g, size_t *total, const size_t *rows, size_t n_w, size_t i, int64_t group)
{
    if (n_w == 0 || kern_quant_group(g, i, group) != KERN_OK) return KERN_ERR_ARG;
    *total = 0;
    for (size_t m = 0; m < n_w; m++) *total += rows[m];
    return *total ? KERN_OK : KERN_ERR_ARG;
}

kern_status kern_w_mean_ref(float *wm, const float *const *w, const size_t *rows, size_t n_w, size_t i,
                            int64_t group, int round_f16)
{
    size_t g, total;
    if (wm_check(&g, &total, rows, n_w, i, group) != KERN_OK) return KERN_ERR_ARG;
    float eps = wm_eps(round_f16);
    for (size_t c = 0; c < i; c++) {
        size_t c0 = c / g * g;
        double acc = 0.0;
        for (size_t m = 0; m < n_w; m++)
            for (size_t r = 0; r < rows[m]; r++) {
                const float *grp = w[m] + r * i + c0;
                float amax = 0.0f;
                for (size_t k = 0; k < g; k++) amax = fmaxf(amax, fabsf(grp[k]));
                acc += h_if(fabsf(w[m][r * i + c]) / h_if(amax + eps, round_f16), round_f16);
            }
        wm[c] = h_if((float)(acc / (double)total), round_f16);
    }
    return KERN_OK;
}

#define COL_BLOCK 256

kern_status cpu_w_mean(awq_backend_ctx *ctx, float *wm, const float *const *w, const size_t *rows, size_t n_w,
                            size_t i, int64_t group, int round_f16)
{
    (void)ctx;
    size_t g, total;
    if (wm_check(&g, &total, rows, n_w, i, group) != KERN_OK) return KERN_ERR_ARG;
    int f16 = round_f16 != 0;
    float eps = wm_eps(f16);
    size_t n_groups = i / g;
    float *den = malloc(total * n_groups * sizeof *den); /* [total rows, G]: h(max|w| + eps) */
    if (!den) return KERN_ERR_NOMEM;
    for (size_t m = 0, r0 = 0; m < n_w; r0 += rows[m], m++) {
        const float *wb = w[m];
        #pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows[m]; r++)
            for (size_t j = 0; j < n_groups; j++) {
                const float *grp = wb + r * i + j * g;
                float amax = 0.0f;
                for (size_t k = 0; k < g; k++) amax = fmaxf(amax, fabsf(grp[k]));
                den[(r0 + r) * n_groups + j] = quant_h(amax + eps, f16);
            }
    }
    size_t nblk = (i + COL_BLOCK - 1) / COL_BLOCK;
    #pragma omp parallel for schedule(static)
    for (size_t bk = 0; bk < nblk; bk++) {
        double acc[COL_BLOCK] = {0};
        size_t c0 = bk * COL_BLOCK, nc = i - c0 < COL_BLOCK ? i - c0 : COL_BLOCK;
        for (size_t m = 0, r0 = 0; m < n_w; r0 += rows[m], m++)
            for (size_t r = 0; r < rows[m]; r++) {
                const float *wr = w[m] + r * i, *dr = den + (r0 + r) * n_groups;
                for (size_t c = c0; c < c0 + nc; c++)
                    acc[c - c0] += quant_h(fabsf(wr[c]) / dr[c / g], f16);
            }
        for (size_t c = 0; c < nc; c++) wm[c0 + c] = quant_h((float)(acc[c] / (double)total), f16);
    }
    free(den);
    return KERN_OK;
}
