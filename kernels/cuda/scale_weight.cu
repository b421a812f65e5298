// scale_weight.cu - folding scales into weights on the device (spec §2.7): per_row w /= s[row],
// else w *= s[col], h()-rounded when round_f16. IEEE division (nvcc's default, no fast math),
// so the bits equal the CPU's.
#include "cuda.cuh"

__global__ void scale_weight_kernel(float *w, const float *s, size_t rows, size_t cols, int per_row, int f16)
{
    size_t total = rows * cols;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        float v = per_row ? w[e] / s[e / cols] : w[e] * s[e % cols];
        w[e] = hif(v, f16);
    }
}

kern_status cuda_scale_weight(awq_backend_ctx *ctx, float *w, const float *s, size_t rows, size_t cols, int per_row,
                              int round_f16)
{
    if (!rows || !cols) return KERN_OK;
    scale_weight_kernel<<<grid_for(ctx, rows * cols, 256), 256, 0, ctx->stream>>>(w, s, rows, cols, per_row, round_f16);
    LAUNCH_CHECK();
    return KERN_OK;
}
