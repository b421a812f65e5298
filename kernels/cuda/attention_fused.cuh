// attention_fused.cuh - the fused faithful-mode attention kernel (attention_fused.cu) that
// cuda_attention (attention.cu) hands the calls it covers.
#ifndef AWQ_KERNELS_CUDA_ATTENTION_FUSED_CUH
#define AWQ_KERNELS_CUDA_ATTENTION_FUSED_CUH

#include "cuda.cuh"

// Whether the fused kernel takes this call: d is 64 or 128, q, k and v are 16-byte aligned
// (float4 loads), b, t, h, hkv > 0 with h % hkv == 0, and the b*h*ceil(t/64) blocks fit a grid.
int cuda_attention_fused_covers(const float *q, const float *k, const float *v, size_t b, size_t t, size_t h,
                                size_t hkv, size_t d);

// cuda_attention's faithful mode (round_f16 != 0; semantics in kernels.h) without materialised
// scores: the same numerics as attention.cu's path but for the order of the fp64 sum of the
// softmax (see attention_fused.cu). out [b*t, h*d], q [b*t, h*d], k and v [b*t, hkv*d] hold fp16
// values as fp32, on the device; out must not alias them. Enqueued on ctx's stream, no scratch.
// KERN_ERR_UNSUPPORTED for a call that cuda_attention_fused_covers refuses, KERN_ERR_DEVICE for a
// failed launch.
kern_status cuda_attention_fused(awq_backend_ctx *ctx, float *out /*[b*t, h*d]*/, const float *q /*[b*t, h*d]*/,
                                 const float *k /*[b*t, hkv*d]*/, const float *v /*[b*t, hkv*d]*/, size_t b, size_t t,
                                 size_t h, size_t hkv, size_t d);

#endif
