// quantize.cu - Q over a weight matrix (the math: kernels/quant_core.h, shared with the CPU's
// quantize.c), one warp per (row, group): the warp finds the group's
// signed extremes (of h(w * col_scale) when a column scale is given), lane 0's arithmetic is
// repeated by every lane (same inputs, same result), and each lane quantizes its columns.
// deq may equal w: a lane reads each of its elements before writing it.
#include "cuda.cuh"
#include "../quant_core.h"

__global__ void quantize_kernel(float *deq, uint8_t *codes, float *scales, uint8_t *zeros, const float *w,
                                const float *cs, size_t o, size_t i, size_t g, float maxq, int f16)
{
    size_t n_groups = i / g, items = o * n_groups;
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
    size_t warps = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t it = warp; it < items; it += warps) {
        size_t at = (it / n_groups) * i + (it % n_groups) * g, c0 = (it % n_groups) * g;
        float mx = -INFINITY, mn = INFINITY;
        for (size_t c = lane; c < g; c += 32) {
            float v = w[at + c];
            if (cs) v = hif(__fmul_rn(v, cs[c0 + c]), f16);
            quant_extremes_add(&mx, &mn, v);
        }
        mx = warp_max(mx), mn = warp_min(mn);
        float scale, zero;
        quant_params(&scale, &zero, mx, mn, maxq, f16);
        if (lane == 0) {
            if (scales) scales[it] = scale;
            if (zeros) zeros[it] = (uint8_t)zero;
        }
        for (size_t c = lane; c < g; c += 32) {
            float v = w[at + c];
            if (cs) v = hif(__fmul_rn(v, cs[c0 + c]), f16);
            float q = quant_code(v, scale, zero, maxq, f16);
            float d = quant_deq(q, scale, zero, f16);
            if (cs) d = hif(__fdiv_rn(d, cs[c0 + c]), f16);
            if (codes) codes[at + c] = (uint8_t)q;
            if (deq) deq[at + c] = d;
        }
    }
}

kern_status cuda_quantize(awq_backend_ctx *ctx, float *deq, uint8_t *codes, float *scales, uint8_t *zeros,
                          const float *w, const float *col_scale, size_t o, size_t i, int64_t group, int w_bit,
                          int round_f16)
{
    size_t g;
    if (w_bit < 2 || w_bit > 8 || kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    if (!o) return KERN_OK;
    size_t items = o * (i / g);
    quantize_kernel<<<grid_for(ctx, items * 32, 256), 256, 0, ctx->stream>>>(
        deq, codes, scales, zeros, w, col_scale, o, i, g, (float)((1 << w_bit) - 1), round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}
