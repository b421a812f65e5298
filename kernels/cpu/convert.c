/* convert.c - dtype conversions of the backend table: stored weights widened to fp32, fp32 to
 * fp16 bits (RNE), and pin_f16, which the CPU does without: its matmul reads fp32 directly, so
 * there is nothing to convert ahead (the CUDA twin, convert.cu, keeps fp16 copies). The _refs:
 * kern_weight_at (weight.c) and awq_f32_to_f16 (base/half.h), one element at a time. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

kern_status kern_to_f32_ref(float *dst, kern_weight src, size_t n)
{
    for (size_t e = 0; e < n; e++) dst[e] = kern_weight_at(src, e);
    return KERN_OK;
}

kern_status kern_to_f16_ref(uint16_t *dst, const float *src, size_t n)
{
    for (size_t e = 0; e < n; e++) dst[e] = awq_f32_to_f16(src[e]);
    return KERN_OK;
}

kern_status cpu_to_f32(awq_backend_ctx *ctx, float *dst, kern_weight src, size_t n)
{
    (void)ctx;
    #pragma omp parallel for schedule(static)
    for (size_t e = 0; e < n; e++) dst[e] = kern_weight_at(src, e);
    return KERN_OK;
}

kern_status cpu_to_f16(awq_backend_ctx *ctx, uint16_t *dst, const float *src, size_t n)
{
    (void)ctx;
    #pragma omp parallel for schedule(static)
    for (size_t e = 0; e < n; e++) dst[e] = awq_f32_to_f16(src[e]);
    return KERN_OK;
}

kern_status cpu_pin_f16(awq_backend_ctx *ctx, const float *x, size_t n)
{
    (void)ctx, (void)x, (void)n;
    return KERN_OK;
}

void cpu_unpin_f16(awq_backend_ctx *ctx, const float *x) { (void)ctx, (void)x; }
