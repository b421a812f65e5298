/* clip_apply.c - applying the clip search's result (spec §2.9): each group of each row clamped
 * to [-max_val, max_val] in place, on the scaled weights. Exact; _ref and a parallel twin. */
#include "cpu.h"
#include "ref.h"
#include "../quant.h"

static float clampv(float v, float mv) { return v < -mv ? -mv : v > mv ? mv : v; }

kern_status kern_clip_apply_ref(float *w, const float *max_val, size_t o, size_t i, int64_t group)
{
    size_t g;
    if (kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    for (size_t r = 0; r < o; r++)
        for (size_t c = 0; c < i; c++) w[r * i + c] = clampv(w[r * i + c], max_val[r * (i / g) + c / g]);
    return KERN_OK;
}

kern_status cpu_clip_apply(awq_backend_ctx *ctx, float *w, const float *max_val, size_t o, size_t i,
                                int64_t group)
{
    (void)ctx;
    size_t g;
    if (kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    size_t n_groups = i / g;
    #pragma omp parallel for schedule(static)
    for (size_t e = 0; e < o * n_groups; e++) {
        float mv = max_val[e], *wg = w + e / n_groups * i + e % n_groups * g;
        for (size_t c = 0; c < g; c++) wg[c] = clampv(wg[c], mv);
    }
    return KERN_OK;
}
