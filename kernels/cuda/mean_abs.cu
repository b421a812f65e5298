// mean_abs.cu - per-channel mean |x| over n rows in fp64: each block sums a slab of rows for
// 256 channels (coalesced along the row), then the slabs' partial sums are added in slab order.
// Both sums are fp64, so the result differs from the CPU's row-order sum only when the fp64
// value sits on an fp32 (or fp16) rounding boundary.
#include "cuda.cuh"

#define MA_COLS 256
#define MA_ROWS 256 // rows per slab

__global__ void mean_abs_part(double *part, const float *x, size_t n, size_t c)
{
    size_t j = blockIdx.x * (size_t)MA_COLS + threadIdx.x, r0 = blockIdx.y * (size_t)MA_ROWS;
    if (j >= c) return;
    size_t r1 = r0 + MA_ROWS < n ? r0 + MA_ROWS : n;
    double acc = 0.0;
    for (size_t r = r0; r < r1; r++) acc += fabsf(x[r * c + j]);
    part[blockIdx.y * c + j] = acc;
}

__global__ void mean_abs_final(float *mean, const double *part, size_t slabs, size_t n, size_t c, int f16)
{
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < c; j += (size_t)gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (size_t s = 0; s < slabs; s++) acc += part[s * c + j];
        float m = n ? (float)(acc / (double)n) : 0.0f;
        mean[j] = hif(m, f16);
    }
}

kern_status cuda_mean_abs(awq_backend_ctx *ctx, float *mean, const float *x, size_t n, size_t c, int round_f16)
{
    if (!c) return KERN_OK;
    size_t slabs = (n + MA_ROWS - 1) / MA_ROWS;
    if (slabs > 65535) return KERN_ERR_UNSUPPORTED; // grid.y; 16.7M rows
    double *part = NULL;
    if (slabs) {
        KERN_TRY(cuda_scratch(ctx, slabs * c * sizeof *part, (void **)&part));
        dim3 grid((unsigned)((c + MA_COLS - 1) / MA_COLS), (unsigned)slabs);
        mean_abs_part<<<grid, MA_COLS, 0, ctx->stream>>>(part, x, n, c);
        LAUNCH_CHECK();
    }
    mean_abs_final<<<grid_for(ctx, c, 256), 256, 0, ctx->stream>>>(mean, part, slabs, n, c, round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}
