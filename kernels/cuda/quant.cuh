// quant.cuh - the pseudo-quantizer Q (spec §2.10) on the device, line for line the CPU
// kern_quantize_ref: every operation a single IEEE op (no FMA contraction), h() at the same
// points, rint half to even, so that quantize.cu and clip_search.cu agree with the CPU bit for bit.
#ifndef AWQ_KERNELS_CUDA_QUANT_CUH
#define AWQ_KERNELS_CUDA_QUANT_CUH

#include "cuda.cuh"

// 1e-5 as torch's fp16 clamp sees it (0x00a8), or the fp32 constant
__device__ __forceinline__ float q_eps(int f16) { return f16 ? 168.0f * 0x1p-24f : 1e-5f; }

// clamp(v, 0, maxq); NaN becomes 0 (codes are always valid small integers)
__device__ __forceinline__ float q_clamp_code(float v, float maxq) { return !(v >= 0.0f) ? 0.0f : v > maxq ? maxq : v; }

// torch.clamp(v, -mv, mv) for mv >= 0, as the CPU's quant_clamp_abs (bit-pattern compare)
__device__ __forceinline__ float q_clamp_abs(float v, float mv)
{
    return (__float_as_uint(v) & 0x7fffffffu) > __float_as_uint(mv) ? copysignf(mv, v) : v;
}

// scale and zero of a group whose signed max and min are mx, mn
__device__ __forceinline__ void q_params(float *scale, float *zero, float mx, float mn, float maxq, int f16)
{
    float range = hif(__fsub_rn(mx, mn), f16), eps = q_eps(f16);
    if (!(range >= eps)) range = eps;
    *scale = hif(__fdiv_rn(range, maxq), f16);
    *zero = q_clamp_code(-rintf(hif(__fdiv_rn(mn, *scale), f16)), maxq);
}

// the code of one value
__device__ __forceinline__ float q_code(float v, float scale, float zero, float maxq, int f16)
{
    return q_clamp_code(hif(__fadd_rn(rintf(hif(__fdiv_rn(v, scale), f16)), zero), f16), maxq);
}

// the dequantized value of a code
__device__ __forceinline__ float q_deq(float q, float scale, float zero, int f16)
{
    return hif(__fmul_rn(__fsub_rn(q, zero), scale), f16);
}

// signed max and min over a warp's values (NaN skipped: it never compares greater or less)
__device__ __forceinline__ void q_extremes_add(float *mx, float *mn, float v)
{
    if (v > *mx) *mx = v;
    if (v < *mn) *mn = v;
}

#endif
