// convert.cu - dtype conversions the ops need before cuBLAS: fp32 activations to fp16 operands
// (exact for the fp16 values of the faithful mode) and stored weights to fp32 (always exact).
#include "cuda.cuh"

__global__ void to_f16_kernel(__half *dst, const float *src, size_t n)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        dst[e] = __float2half_rn(src[e]);
}

__global__ void weight_to_f32_kernel(float *dst, const void *w, kern_dtype t, size_t n)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        dst[e] = weight_at(w, t, e);
}

kern_status cuda_to_f16(awq_backend_ctx *ctx, __half *dst, const float *src, size_t n)
{
    if (!n) return KERN_OK;
    to_f16_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(dst, src, n);
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_weight_to_f32(awq_backend_ctx *ctx, float *dst, kern_weight w, size_t n)
{
    if (!n) return KERN_OK;
    weight_to_f32_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(dst, w.data, w.dtype, n);
    LAUNCH_CHECK();
    return KERN_OK;
}
