/* softcap.c - soft-capping x = tanh(x / cap) * cap (Gemma 2's final logits), with the fp16
 * roundings of HF's three tensor ops when faithful. _ref: scalar loop. Fast: split over threads. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <math.h>

kern_status kern_softcap_ref(float *x, size_t n, float cap, int round_f16)
{
    if (!(cap > 0)) return KERN_ERR_ARG;
    for (size_t e = 0; e < n; e++)
        x[e] = round_f16 ? awq_round_f16(awq_round_f16(tanhf(awq_round_f16(x[e] / cap))) * cap) : tanhf(x[e] / cap) * cap;
    return KERN_OK;
}

kern_status cpu_softcap(awq_backend_ctx *ctx, float *x, size_t n, float cap, int round_f16)
{
    (void)ctx;
    if (!(cap > 0)) return KERN_ERR_ARG;
    #pragma omp parallel for schedule(static)
    for (size_t e = 0; e < n; e++)
        x[e] = round_f16 ? kern_round_f16_fast(kern_round_f16_fast(tanhf(kern_round_f16_fast(x[e] / cap))) * cap)
                         : tanhf(x[e] / cap) * cap;
    return KERN_OK;
}
