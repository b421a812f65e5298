// round_f16.cu - x = h(x) in place, and the fp16 overflow check (lowest index whose |x| rounds
// to Inf in fp16, or NaN/Inf): per-warp minimum, then one atomicMin per warp.
#include "cuda.cuh"

__global__ void round_f16_kernel(float *x, size_t n)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        x[e] = h16(x[e]);
}

__global__ void check_f16_kernel(unsigned long long *first, const float *x, size_t n)
{
    unsigned long long bad = n;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        if ((__float_as_uint(x[e]) & 0x7fffffffu) >= 0x477ff000u) { // |x| >= 65520, Inf, NaN
            bad = e;
            break; // later elements of this thread only have larger indices
        }
    for (int o = 16; o; o >>= 1) {
        unsigned long long other = __shfl_xor_sync(0xffffffffu, bad, o);
        bad = other < bad ? other : bad;
    }
    if ((threadIdx.x & 31) == 0 && bad < n) atomicMin(first, bad);
}

kern_status cuda_round_f16(awq_backend_ctx *ctx, float *x, size_t n)
{
    if (!n) return KERN_OK;
    round_f16_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(x, n);
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_check_f16(awq_backend_ctx *ctx, const float *x, size_t n, size_t *first_bad)
{
    unsigned long long first = n;
    *first_bad = n;
    if (!n) return KERN_OK;
    unsigned long long *d = (unsigned long long *)ctx->result;
    CUDA_CHECK(cudaMemcpyAsync(d, &first, sizeof first, cudaMemcpyHostToDevice, ctx->stream));
    check_f16_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(d, x, n);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(&first, d, sizeof first, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    *first_bad = (size_t)first;
    return KERN_OK;
}
