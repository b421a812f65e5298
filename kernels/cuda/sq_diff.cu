// sq_diff.cu - sum of fp32(h(a - b))^2 in fp64: each block sums a fixed slab (grid-stride-free,
// so the partition depends only on n), then one block adds the slab sums in slab order:
// deterministic, whatever the GPU. The result is added to *sum (ops.def): the final block starts
// from it, so slab-aligned pieces in turn give the bits of one call on the whole.
#include "cuda.cuh"

#define SD_SLAB 65536
#define SD_THREADS 256

__device__ __forceinline__ double sd_term(float a, float b, int f16, int clamp)
{
    if (clamp) {
        a = a > 65504.0f ? 65504.0f : a < -65504.0f ? -65504.0f : a;
        b = b > 65504.0f ? 65504.0f : b < -65504.0f ? -65504.0f : b;
    }
    float d = hif(a - b, f16);
    return (double)d * (double)d;
}

__global__ void sq_diff_part(double *part, const float *a, const float *b, size_t n, int f16, int clamp)
{
    __shared__ double sh[SD_THREADS];
    size_t e0 = blockIdx.x * (size_t)SD_SLAB, e1 = e0 + SD_SLAB < n ? e0 + SD_SLAB : n;
    double acc = 0.0;
    for (size_t e = e0 + threadIdx.x; e < e1; e += SD_THREADS) acc += sd_term(a[e], b[e], f16, clamp);
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int s = SD_THREADS / 2; s; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

__global__ void sq_diff_final(double *out, const double *part, size_t slabs, double init)
{
    double acc = init;
    for (size_t s = 0; s < slabs; s++) acc += part[s];
    *out = acc;
}

kern_status cuda_sq_diff(awq_backend_ctx *ctx, double *sum, const float *a, const float *b, size_t n, int round_f16,
                         int clamp)
{
    if (!n) return KERN_OK;
    size_t slabs = (n + SD_SLAB - 1) / SD_SLAB;
    if (slabs > 0x7fffffffu) return KERN_ERR_UNSUPPORTED;
    double *part = NULL;
    KERN_TRY(cuda_scratch(ctx, (slabs + 1) * sizeof *part, (void **)&part));
    sq_diff_part<<<(unsigned)slabs, SD_THREADS, 0, ctx->stream>>>(part, a, b, n, round_f16 != 0, clamp != 0);
    LAUNCH_CHECK();
    sq_diff_final<<<1, 1, 0, ctx->stream>>>(part + slabs, part, slabs, *sum);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(sum, part + slabs, sizeof *sum, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return KERN_OK;
}
