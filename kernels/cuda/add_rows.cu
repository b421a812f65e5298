// add_rows.cu - the mixture-of-experts combine: y[t] += x[r] * wt[r] for each token t's k rows r
// in idx's order (kernels/ops.def). One thread per element of y, which walks its token's k rows
// in order with explicit IEEE roundings (__fmul_rn, __fadd_rn: no fma), so the bits equal the
// CPU's and no two threads write one element. An entry -1 adds nothing; one outside [-1, n) sets a flag and the op
// returns KERN_ERR_ARG after reading it back.
#include "cuda.cuh"

__global__ void add_rows_kernel(float *y, int *bad, const float *x, const float *wt, const int32_t *idx, size_t m,
                                size_t k, size_t c, size_t n, int f16)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < m * c; e += (size_t)gridDim.x * blockDim.x) {
        size_t t = e / c, j = e % c;
        float v = y[e];
        for (size_t s = 0; s < k; s++) {
            int32_t r = idx[t * k + s];
            if (r == -1) continue; // not in this call
            if (r < 0 || (size_t)r >= n) {
                *bad = 1;
                continue;
            }
            float p = hif(__fmul_rn(x[(size_t)r * c + j], wt[r]), f16);
            v = hif(__fadd_rn(v, p), f16);
        }
        y[e] = v;
    }
}

kern_status cuda_add_rows(awq_backend_ctx *ctx, float *y, const float *x, const float *wt, const int32_t *idx,
                          size_t m, size_t k, size_t c, size_t n, int round_f16)
{
    if (!m || !k || !c) return KERN_OK;
    int *flag = (int *)ctx->result, bad = 0;
    CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof *flag, ctx->stream));
    add_rows_kernel<<<grid_for(ctx, m * c, 256), 256, 0, ctx->stream>>>(y, flag, x, wt, idx, m, k, c, n,
                                                                        round_f16 != 0);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return bad ? KERN_ERR_ARG : KERN_OK;
}
