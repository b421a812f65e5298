/* add.c - residual add y = a + b (fp16 op when faithful: h(a + b)).
 * _ref: scalar loop. Fast: split over threads. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

kern_status kern_add_ref(float *y, const float *a, const float *b, size_t n, int round_f16)
{
    for (size_t e = 0; e < n; e++) y[e] = round_f16 ? awq_round_f16(a[e] + b[e]) : a[e] + b[e];
    return KERN_OK;
}

kern_status cpu_add(awq_backend_ctx *ctx, float *y, const float *a, const float *b, size_t n, int round_f16)
{
    (void)ctx;
    if (round_f16) {
        #pragma omp parallel for schedule(static)
        for (size_t e = 0; e < n; e++) y[e] = kern_round_f16_fast(a[e] + b[e]);
    } else {
        #pragma omp parallel for schedule(static)
        for (size_t e = 0; e < n; e++) y[e] = a[e] + b[e];
    }
    return KERN_OK;
}
