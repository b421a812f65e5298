// add_rows.cu - the mixture-of-experts combine: y[rows[r]] += x[r] * wt[r] (kernels/ops.def),
// one thread per element with explicit IEEE roundings (__fmul_rn, __fadd_rn: no fma), so the
// bits equal the CPU's. The rows of one call are distinct, so no two threads write one element.
// A row outside [0, m) sets a flag and the op returns KERN_ERR_ARG after reading it back.
#include "cuda.cuh"

__global__ void add_rows_kernel(float *y, int *bad, const float *x, const int32_t *rows, const float *wt, size_t n,
                                size_t c, size_t m, int f16)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n * c; e += (size_t)gridDim.x * blockDim.x) {
        size_t r = e / c, j = e % c;
        int32_t row = rows[r];
        if (row < 0 || (size_t)row >= m) {
            *bad = 1;
            continue;
        }
        float *dst = y + (size_t)row * c + j;
        float p = hif(__fmul_rn(x[e], wt[r]), f16);
        *dst = hif(__fadd_rn(*dst, p), f16);
    }
}

kern_status cuda_add_rows(awq_backend_ctx *ctx, float *y, const float *x, const int32_t *rows, const float *wt,
                          size_t n, size_t c, size_t m, int round_f16)
{
    if (!n || !c) return KERN_OK;
    int *flag = (int *)ctx->result, bad = 0;
    CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof *flag, ctx->stream));
    add_rows_kernel<<<grid_for(ctx, n * c, 256), 256, 0, ctx->stream>>>(y, flag, x, rows, wt, n, c, m, round_f16 != 0);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return bad ? KERN_ERR_ARG : KERN_OK;
}
