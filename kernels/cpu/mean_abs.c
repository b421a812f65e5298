/* mean_abs.c - the AWQ activation statistic: per-channel mean of |x| over all tokens (spec §5
 * pitfall 6: a mean, not a max), fp64 accumulation, h(mean) when faithful (torch's fp16 mean).
 * _ref: one channel at a time down the rows. Fast: channel blocks in parallel, each summed
 * row by row along contiguous memory (same per-channel order, so no thread dependence). */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <math.h>

kern_status kern_mean_abs_ref(float *mean, const float *x, size_t n, size_t c, int round_f16)
{
    for (size_t j = 0; j < c; j++) {
        double acc = 0.0;
        for (size_t r = 0; r < n; r++) acc += fabsf(x[r * c + j]);
        float m = n ? (float)(acc / (double)n) : 0.0f;
        mean[j] = round_f16 ? awq_round_f16(m) : m;
    }
    return KERN_OK;
}

#define CHAN_BLOCK 256

kern_status cpu_mean_abs(awq_backend_ctx *ctx, float *mean, const float *x, size_t n, size_t c,
                              int round_f16)
{
    (void)ctx;
    size_t nblk = (c + CHAN_BLOCK - 1) / CHAN_BLOCK;
    #pragma omp parallel for schedule(static)
    for (size_t bk = 0; bk < nblk; bk++) {
        double acc[CHAN_BLOCK] = {0};
        size_t j0 = bk * CHAN_BLOCK, w = c - j0 < CHAN_BLOCK ? c - j0 : CHAN_BLOCK;
        for (size_t r = 0; r < n; r++) {
            const float *xr = x + r * c + j0;
            for (size_t j = 0; j < w; j++) acc[j] += fabsf(xr[j]);
        }
        for (size_t j = 0; j < w; j++) {
            float m = n ? (float)(acc[j] / (double)n) : 0.0f;
            mean[j0 + j] = round_f16 ? awq_round_f16(m) : m;
        }
    }
    return KERN_OK;
}
