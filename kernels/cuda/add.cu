// add.cu - residual add y = a + b, h(a + b) in the faithful mode (one IEEE add: bit-exact with
// the CPU). y may equal a or b: each element is read before it is written, by one thread.
#include "cuda.cuh"

__global__ void add_kernel(float *y, const float *a, const float *b, size_t n, int f16)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        y[e] = hif(__fadd_rn(a[e], b[e]), f16);
}

kern_status cuda_add(awq_backend_ctx *ctx, float *y, const float *a, const float *b, size_t n, int round_f16)
{
    if (!n) return KERN_OK;
    add_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(y, a, b, n, round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}
