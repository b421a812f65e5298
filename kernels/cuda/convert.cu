// convert.cu - dtype conversions the ops need before cuBLAS: fp32 activations to fp16 operands
// (exact for the fp16 values of the faithful mode) and stored weights to fp32 (always exact); and
// pinned fp16 copies of inputs that many GEMMs read (pin_f16), so each converts them only once.
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

kern_status cuda_to_f32(awq_backend_ctx *ctx, float *dst, kern_weight w, size_t n)
{
    if (!n) return KERN_OK;
    weight_to_f32_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(dst, w.data, w.dtype, n);
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_pin_f16(awq_backend_ctx *ctx, const float *x, size_t n)
{
    const int slots = (int)(sizeof ctx->pin / sizeof ctx->pin[0]);
    int k = 0;
    while (k < slots && ctx->pin[k].x) k++;
    if (k == slots) return KERN_ERR_UNSUPPORTED;
    if (!n) return KERN_OK;
    __half *h = NULL;
    CUDA_CHECK(cudaMalloc((void **)&h, n * sizeof *h));
    kern_status st = cuda_to_f16(ctx, h, x, n);
    if (st != KERN_OK) { cudaFree(h); return st; }
    ctx->pin[k].x = x, ctx->pin[k].n = n, ctx->pin[k].h = h;
    return KERN_OK;
}

void cuda_unpin_f16(awq_backend_ctx *ctx, const float *x)
{
    for (size_t k = 0; k < sizeof ctx->pin / sizeof ctx->pin[0]; k++)
        if (ctx->pin[k].x == x) {
            // queued ops may still read the copy: cudaFree waits for the device to be done with it
            cudaFree(ctx->pin[k].h);
            ctx->pin[k].x = NULL, ctx->pin[k].n = 0, ctx->pin[k].h = NULL;
        }
}

const __half *cuda_pinned_f16(const awq_backend_ctx *ctx, const float *x, size_t n)
{
    for (size_t k = 0; k < sizeof ctx->pin / sizeof ctx->pin[0]; k++) {
        const float *p = ctx->pin[k].x;
        if (p && x >= p && n <= ctx->pin[k].n && (size_t)(x - p) <= ctx->pin[k].n - n) return ctx->pin[k].h + (x - p);
    }
    return NULL;
}

// the to_f16 op: fp32 -> fp16 bits for the host
__global__ void to_f16_bits_kernel(uint16_t *dst, const float *src, size_t n)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        dst[e] = __half_as_ushort(__float2half_rn(src[e]));
}

kern_status cuda_to_f16(awq_backend_ctx *ctx, uint16_t *dst, const float *src, size_t n)
{
    if (!n) return KERN_OK;
    to_f16_bits_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(dst, src, n);
    LAUNCH_CHECK();
    return KERN_OK;
}
