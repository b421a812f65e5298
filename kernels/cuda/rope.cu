// rope.cu - rotary embedding in place, rotate_half convention, one thread per rotation pair
// (row, head, j < d/2). The frequencies come from kern_rope_freqs on the host; cos and sin of
// the fp32 angle are taken in fp64 and rounded once (glibc's cosf/sinf are within 0.56 ulp, so
// both sides agree in all but rare cases). Products and sums are single IEEE ops (no FMA), so
// with equal cos/sin the results are those of the CPU op bit for bit. A second kernel does the
// faithful math on fp16 storage (the attn op's q and k): it widens each value, computes exactly
// as the fp32 kernel does and stores the result, already an fp16 value, as fp16: the same bits.
// Yarn's attention factor multiplies cos and sin (one fp32 product each). The interleaved layout
// (DeepSeek) reads pair j from x[2j], x[2j+1] and writes halves: a block per (row, head) reads
// the head into shared memory first, since the op is in place.
#include "cuda.cuh"

#include <stdlib.h>

// one rotation pair (a = x1[j], b = x2[j]) at angle ang: the math of both kernels
__device__ __forceinline__ void rope_pair(float a, float b, float ang, float cs, int f16, float *o1, float *o2)
{
    float c = __fmul_rn((float)cos((double)ang), cs), s = __fmul_rn((float)sin((double)ang), cs);
    if (f16) {
        c = h16(c), s = h16(s);
        *o1 = h16(__fsub_rn(h16(__fmul_rn(a, c)), h16(__fmul_rn(b, s))));
        *o2 = h16(__fadd_rn(h16(__fmul_rn(b, c)), h16(__fmul_rn(a, s))));
    } else {
        *o1 = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        *o2 = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
    }
}

__global__ void rope_kernel(float *x, const int32_t *pos, const float *f, size_t n, size_t heads, size_t d,
                            size_t half, float cs, int f16)
{
    size_t total = n * heads * half;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t j = e % half, rh = e / half, r = rh / heads;
        float *x1 = x + rh * d, *x2 = x1 + half;
        rope_pair(x1[j], x2[j], __fmul_rn((float)pos[r], f[j]), cs, f16, &x1[j], &x2[j]);
    }
}

// interleaved pairs: one block per (row, head) at a time, the head staged in shared memory (d floats)
__global__ void rope_interleave_kernel(float *x, const int32_t *pos, const float *f, size_t n, size_t heads, size_t d,
                                       float cs, int f16)
{
    extern __shared__ float head[];
    size_t half = d / 2;
    for (size_t rh = blockIdx.x; rh < n * heads; rh += gridDim.x) {
        float *xh = x + rh * d;
        size_t r = rh / heads;
        for (size_t i = threadIdx.x; i < d; i += blockDim.x) head[i] = xh[i];
        __syncthreads();
        for (size_t j = threadIdx.x; j < half; j += blockDim.x)
            rope_pair(head[2 * j], head[2 * j + 1], __fmul_rn((float)pos[r], f[j]), cs, f16, &xh[j], &xh[j + half]);
        __syncthreads();
    }
}

// the faithful math on fp16 values, in place
__global__ void rope_f16_kernel(__half *x, const int32_t *pos, const float *f, size_t n, size_t heads, size_t d,
                                size_t half, float cs)
{
    size_t total = n * heads * half;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t j = e % half, rh = e / half, r = rh / heads;
        __half *x1 = x + rh * d, *x2 = x1 + half;
        float o1, o2;
        rope_pair(__half2float(x1[j]), __half2float(x2[j]), __fmul_rn((float)pos[r], f[j]), cs, 1, &o1, &o2);
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

// the op's shape rule (ops.def), as the CPU's
static int rope_args_ok(size_t d, const kern_rope *rope)
{
    size_t rd = kern_rope_dim(rope, d);
    return d % 2 == 0 && rd % 2 == 0 && rd <= d && (!rope->interleave || rd == d);
}

kern_status cuda_rope(awq_backend_ctx *ctx, float *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                      const kern_rope *rope, int round_f16)
{
    if (!rope_args_ok(d, rope)) return KERN_ERR_ARG;
    size_t half = kern_rope_dim(rope, d) / 2;
    if (n == 0 || heads == 0 || half == 0) return KERN_OK;
    float *df = NULL;
    KERN_TRY(rope_freqs_dev(ctx, 2 * half, rope, &df));
    const float cs = kern_rope_cs_scale(rope);
    if (rope->interleave) {
        if (d * sizeof(float) > 48 * 1024) return KERN_ERR_UNSUPPORTED;
        unsigned threads = half < 128 ? (unsigned)((half + 31) / 32 * 32) : 128;
        size_t blocks = n * heads < 65536 ? n * heads : 65536;
        rope_interleave_kernel<<<(unsigned)blocks, threads, d * sizeof(float), ctx->stream>>>(x, pos, df, n, heads, d, cs,
                                                                                             round_f16 != 0);
    } else {
        rope_kernel<<<grid_for(ctx, n * heads * half, 256), 256, 0, ctx->stream>>>(x, pos, df, n, heads, d, half,
                                                                                   cs, round_f16 != 0);
    }
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_rope_f16(awq_backend_ctx *ctx, __half *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                          const kern_rope *rope)
{
    if (!rope_args_ok(d, rope)) return KERN_ERR_ARG;
    if (rope->interleave) return KERN_ERR_UNSUPPORTED; // the attn op's fast path, which never takes it
    size_t half = kern_rope_dim(rope, d) / 2;
    if (n == 0 || heads == 0 || half == 0) return KERN_OK;
    float *df = NULL;
    KERN_TRY(rope_freqs_dev(ctx, 2 * half, rope, &df));
    rope_f16_kernel<<<grid_for(ctx, n * heads * half, 256), 256, 0, ctx->stream>>>(x, pos, df, n, heads, d, half,
                                                                                   kern_rope_cs_scale(rope));
    LAUNCH_CHECK();
    return KERN_OK;
}
