// rope.cu - rotary embedding in place, rotate_half convention, one thread per rotation pair
// (row, head, j < d/2). The frequencies come from kern_rope_freqs on the host; cos and sin of
// the fp32 angle are taken in fp64 and rounded once (glibc's cosf/sinf are within 0.56 ulp, so
// both sides agree in all but rare cases). Products and sums are single IEEE ops (no FMA), so
// with equal cos/sin the results are those of the CPU op bit for bit.
#include "cuda.cuh"

#include <stdlib.h>

__global__ void rope_kernel(float *x, const int32_t *pos, const float *f, size_t n, size_t heads, size_t d, int f16)
{
    size_t half = d / 2, total = n * heads * half;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t j = e % half, rh = e / half, r = rh / heads;
        float ang = __fmul_rn((float)pos[r], f[j]);
        float c = (float)cos((double)ang), s = (float)sin((double)ang);
        float *x1 = x + rh * d, *x2 = x1 + half;
        float a = x1[j], b = x2[j];
        if (f16) {
            c = h16(c), s = h16(s);
            x1[j] = h16(__fsub_rn(h16(__fmul_rn(a, c)), h16(__fmul_rn(b, s))));
            x2[j] = h16(__fadd_rn(h16(__fmul_rn(b, c)), h16(__fmul_rn(a, s))));
        } else {
            x1[j] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
            x2[j] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
        }
    }
}

kern_status cuda_rope(awq_backend_ctx *ctx, float *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                      const kern_rope *rope, int round_f16)
{
    if (d % 2) return KERN_ERR_ARG;
    size_t half = d / 2;
    if (n == 0 || heads == 0 || half == 0) return KERN_OK;
    float *f = (float *)malloc(half * sizeof *f), *df = NULL;
    if (!f) return KERN_ERR_NOMEM;
    kern_rope_freqs(f, d, rope);
    kern_status st = cuda_scratch(ctx, half * sizeof *f, (void **)&df);
    // pageable source: the copy is staged before it returns, so f can be freed right after
    cudaError_t e = st == KERN_OK ? cudaMemcpyAsync(df, f, half * sizeof *f, cudaMemcpyHostToDevice, ctx->stream)
                                  : cudaSuccess;
    free(f);
    KERN_TRY(st);
    CUDA_CHECK(e);
    rope_kernel<<<grid_for(ctx, n * heads * half, 256), 256, 0, ctx->stream>>>(x, pos, df, n, heads, d, round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}
