// clip_apply.cu - w = clamp(w, -max_val, max_val) per (row, group), in place; exact.
#include "cuda.cuh"

__global__ void clip_apply_kernel(float *w, const float *max_val, size_t o, size_t i, size_t g)
{
    size_t total = o * i, n_groups = i / g;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t r = e / i, c = e % i;
        float mv = max_val[r * n_groups + c / g], v = w[e];
        w[e] = v < -mv ? -mv : v > mv ? mv : v;
    }
}

kern_status cuda_clip_apply(awq_backend_ctx *ctx, float *w, const float *max_val, size_t o, size_t i,
                            int64_t group)
{
    size_t g;
    if (kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    if (!o) return KERN_OK;
    clip_apply_kernel<<<grid_for(ctx, o * i, 256), 256, 0, ctx->stream>>>(w, max_val, o, i, g);
    LAUNCH_CHECK();
    return KERN_OK;
}
