/* sq_diff.c - the scale search's loss: sum of fp32(h(a - b))^2 in fp64 (spec §2.6).
 * _ref: one running sum. Fast: fixed slabs of 65536 elements summed in parallel, then the slab
 * sums added in slab order, so the result does not depend on the thread count. Both add to *sum
 * (ops.def: consecutive slab-aligned pieces give the bits of the whole). */
#include "cpu.h"
#include "ref.h"

#include <stdlib.h>

static inline double term(float a, float b, int round_f16, int clamp)
{
    if (clamp) { /* fminf/fmaxf would turn NaN into a number: compare explicitly */
        a = a > 65504.0f ? 65504.0f : a < -65504.0f ? -65504.0f : a;
        b = b > 65504.0f ? 65504.0f : b < -65504.0f ? -65504.0f : b;
    }
    float d = a - b;
    if (round_f16) d = kern_round_f16_fast(d);
    return (double)d * (double)d;
}

kern_status kern_sq_diff_ref(double *sum, const float *a, const float *b, size_t n, int round_f16, int clamp)
{
    double acc = *sum;
    for (size_t e = 0; e < n; e++) acc += term(a[e], b[e], round_f16, clamp);
    *sum = acc;
    return KERN_OK;
}

enum { SLAB = 65536 };

kern_status cpu_sq_diff(awq_backend_ctx *ctx, double *sum, const float *a, const float *b, size_t n,
                             int round_f16, int clamp)
{
    (void)ctx;
    size_t slabs = (n + SLAB - 1) / SLAB;
    double *part = malloc((slabs ? slabs : 1) * sizeof *part);
    if (!part) return KERN_ERR_NOMEM;
    #pragma omp parallel for schedule(static)
    for (size_t s = 0; s < slabs; s++) {
        size_t e0 = s * SLAB, e1 = e0 + SLAB < n ? e0 + SLAB : n;
        double acc = 0;
        for (size_t e = e0; e < e1; e++) acc += term(a[e], b[e], round_f16, clamp);
        part[s] = acc;
    }
    double acc = *sum;
    for (size_t s = 0; s < slabs; s++) acc += part[s];
    free(part);
    *sum = acc;
    return KERN_OK;
}
