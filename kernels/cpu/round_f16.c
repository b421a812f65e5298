/* round_f16.c - storing activations as fp16: x = h(x) over a buffer, and the overflow check
 * that must come first where overflow is an error (spec §5 pitfall 21).
 * _ref: awq_round_f16 / awq_f32_fits_f16 per element. Fast: a bit-level RNE for the normal
 * fp16 range (the common case) and parallel loops. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <string.h>

kern_status kern_round_f16_ref(float *x, size_t n)
{
    for (size_t e = 0; e < n; e++) x[e] = awq_round_f16(x[e]);
    return KERN_OK;
}

kern_status cpu_round_f16(awq_backend_ctx *ctx, float *x, size_t n)
{
    (void)ctx;
    #pragma omp parallel for schedule(static)
    for (size_t e = 0; e < n; e++) x[e] = kern_round_f16_fast(x[e]);
    return KERN_OK;
}

kern_status kern_check_f16_ref(const float *x, size_t n, size_t *first_bad)
{
    size_t e = 0;
    while (e < n && awq_f32_fits_f16(x[e])) e++;
    *first_bad = e;
    return KERN_OK;
}

kern_status cpu_check_f16(awq_backend_ctx *ctx, const float *x, size_t n, size_t *first_bad)
{
    (void)ctx;
    size_t bad = n;
    /* |x| < 65520 as bits (NaN and Inf have larger bit patterns); lowest index wins */
    #pragma omp parallel for schedule(static) reduction(min : bad)
    for (size_t e = 0; e < n; e++) {
        uint32_t u;
        memcpy(&u, &x[e], 4);
        if ((u & 0x7fffffffu) >= 0x477ff000u && e < bad) bad = e;
    }
    *first_bad = bad;
    return KERN_OK;
}
