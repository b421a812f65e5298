// rope.cu - rotary embedding in place, rotate_half convention, one thread per rotation pair
// (row, head, j < d/2). The frequencies come from kern_rope_freqs on the host; cos and sin of
// the fp32 angle are taken in fp64 and rounded once (glibc's cosf/sinf are within 0.56 ulp, so
// both sides agree in all but rare cases). Products and sums are single IEEE ops (no FMA), so
// with equal cos/sin the results are those of the CPU op bit for bit. A second kernel does the
// faithful math on fp16 storage (the attn op's q and k): it widens each value, computes exactly
// as the fp32 kernel does and stores the result, already an fp16 value, as fp16: the same bits.
#include "cuda.cuh"

#include <stdlib.h>

// one rotation pair (a = x1[j], b = x2[j]) at angle ang: the math of both kernels
__device__ __forceinline__ void rope_pair(float a, float b, float ang, int f16, float *o1, float *o2)
{
    float c = (float)cos((double)ang), s = (float)sin((double)ang);
    if (f16) {
        c = h16(c), s = h16(s);
        *o1 = h16(__fsub_rn(h16(__fmul_rn(a, c)), h16(__fmul_rn(b, s))));
        *o2 = h16(__fadd_rn(h16(__fmul_rn(b, c)), h16(__fmul_rn(a, s))));
    } else {
        *o1 = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        *o2 = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
    }
}

__global__ void rope_kernel(float *x, const int32_t *pos, const float *f, size_t n, size_t heads, size_t d, int f16)
{
    size_t half = d / 2, total = n * heads * half;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t j = e % half, rh = e / half, r = rh / heads;
        float *x1 = x + rh * d, *x2 = x1 + half;
        rope_pair(x1[j], x2[j], __fmul_rn((float)pos[r], f[j]), f16, &x1[j], &x2[j]);
    }
}

// the faithful math on fp16 values, in place
__global__ void rope_f16_kernel(__half *x, const int32_t *pos, const float *f, size_t n, size_t heads, size_t d)
{
    size_t half = d / 2, total = n * heads * half;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t j = e % half, rh = e / half, r = rh / heads;
        __half *x1 = x + rh * d, *x2 = x1 + half;
        float o1, o2;
        rope_pair(__half2float(x1[j]), __half2float(x2[j]), __fmul_rn((float)pos[r], f[j]), 1, &o1, &o2);
        x1[j] = __float2half_rn(o1), x2[j] = __float2half_rn(o2); // exact: both are fp16 values
    }
}

// *df = the d/2 frequencies in device scratch (valid until the next op)
static kern_status rope_freqs_dev(awq_backend_ctx *ctx, size_t d, const kern_rope *rope, float **df)
{
    size_t half = d / 2;
    float *f = (float *)malloc(half * sizeof *f);
    if (!f) return KERN_ERR_NOMEM;
    kern_rope_freqs(f, d, rope);
    kern_status st = cuda_scratch(ctx, half * sizeof *f, (void **)df);
    // pageable source: the copy is staged before it returns, so f can be freed right after
    cudaError_t e = st == KERN_OK ? cudaMemcpyAsync(*df, f, half * sizeof *f, cudaMemcpyHostToDevice, ctx->stream)
                                  : cudaSuccess;
    free(f);
    KERN_TRY(st);
    CUDA_CHECK(e);
    return KERN_OK;
}

kern_status cuda_rope(awq_backend_ctx *ctx, float *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                      const kern_rope *rope, int round_f16)
{
    if (d % 2) return KERN_ERR_ARG;
    size_t half = d / 2;
    if (n == 0 || heads == 0 || half == 0) return KERN_OK;
    float *df = NULL;
    KERN_TRY(rope_freqs_dev(ctx, d, rope, &df));
    rope_kernel<<<grid_for(ctx, n * heads * half, 256), 256, 0, ctx->stream>>>(x, pos, df, n, heads, d, round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_rope_f16(awq_backend_ctx *ctx, __half *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                          const kern_rope *rope)
{
    if (d % 2) return KERN_ERR_ARG;
    size_t half = d / 2;
    if (n == 0 || heads == 0 || half == 0) return KERN_OK;
    float *df = NULL;
    KERN_TRY(rope_freqs_dev(ctx, d, rope, &df));
    rope_f16_kernel<<<grid_for(ctx, n * heads * half, 256), 256, 0, ctx->stream>>>(x, pos, df, n, heads, d);
    LAUNCH_CHECK();
    return KERN_OK;
}
