/* sq_diff.c - the scale search's loss: sum of fp32(h(a - b))^2 in fp64 (spec §2.6).
 * _ref: one running sum. Fast: fixed slabs of 65536 elements summed in parallel (four side by side
 * on a thread), then the slab sums added in slab order, so the result does not depend on the
 * thread count. Both add to *sum (ops.def: consecutive slab-aligned pieces give the bits of the
 * whole). */
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

enum { SLAB = 65536, SIDE = 4 };

/* Slabs s0 .. s0+ns-1 (ns <= SIDE) into part[]: each slab's own running sum in element order, as
 * in the _ref; the slabs' sums run side by side, so that their additions (4 cycles each) overlap
 * instead of waiting on each other. */
static void slab_sums(double *part, const float *a, const float *b, size_t n, size_t s0, size_t ns, int round_f16,
                      int clamp)
{
    double acc[SIDE] = {0};
    size_t e0[SIDE], len[SIDE], common = SLAB;
    for (size_t k = 0; k < ns; k++) {
        e0[k] = (s0 + k) * SLAB, len[k] = n - e0[k] < SLAB ? n - e0[k] : SLAB;
        if (len[k] < common) common = len[k];
    }
    if (ns == SIDE)
        for (size_t e = 0; e < common; e++)
            for (size_t k = 0; k < SIDE; k++) acc[k] += term(a[e0[k] + e], b[e0[k] + e], round_f16, clamp);
    else
        common = 0;
    for (size_t k = 0; k < ns; k++) {
        for (size_t e = common; e < len[k]; e++) acc[k] += term(a[e0[k] + e], b[e0[k] + e], round_f16, clamp);
        part[s0 + k] = acc[k];
    }
}

kern_status cpu_sq_diff(awq_backend_ctx *ctx, double *sum, const float *a, const float *b, size_t n,
                             int round_f16, int clamp)
{
    (void)ctx;
    const size_t side = kern_cpu_portable ? 1 : SIDE; /* (the portable form: one slab at a time) */
    size_t slabs = (n + SLAB - 1) / SLAB, groups = (slabs + side - 1) / side;
    double *part = malloc((slabs ? slabs : 1) * sizeof *part);
    if (!part) return KERN_ERR_NOMEM;
    #pragma omp parallel for schedule(static)
    for (size_t g = 0; g < groups; g++)
        slab_sums(part, a, b, n, g * side, slabs - g * side < side ? slabs - g * side : side, round_f16, clamp);
    double acc = *sum;
    for (size_t s = 0; s < slabs; s++) acc += part[s];
    free(part);
    *sum = acc;
    return KERN_OK;
}
