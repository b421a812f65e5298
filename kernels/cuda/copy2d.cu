// copy2d.cu - strided copy of an n x w block of floats: one cudaMemcpy2DAsync on the stream.
#include "cuda.cuh"

kern_status cuda_copy2d(awq_backend_ctx *ctx, float *dst, size_t dst_ld, const float *src, size_t src_ld, size_t n,
                        size_t w)
{
    if (w > dst_ld || w > src_ld) return KERN_ERR_ARG;
    if (!n || !w) return KERN_OK;
    CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_ld * sizeof(float), src, src_ld * sizeof(float), w * sizeof(float), n,
                                 cudaMemcpyDeviceToDevice, ctx->stream));
    return KERN_OK;
}
