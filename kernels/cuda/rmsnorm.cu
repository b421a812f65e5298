// rmsnorm.cu - RMSNorm, one block per row: squares in fp32 summed in fp64 (as the CPU op, so
// the order of the sum hardly matters), r = 1/sqrt(var + eps) with IEEE division and square
// root, then h(w * h(t*r)) or w * (t*r); Gemma's rmsnorm_1p (one1p): h((t*r) * (1 + w)). y may equal x: the row is read for the sum before any
// thread writes it (__syncthreads in the reduction).
#include "cuda.cuh"

#define RMS_THREADS 256

__global__ void rmsnorm_kernel(float *y, const float *x, const void *w, kern_dtype wt, size_t c, float eps, int f16,
                               int one1p)
{
    __shared__ double part[RMS_THREADS / 32];
    const float *t = x + blockIdx.x * c;
    float *out = y + blockIdx.x * c;
    double ss = 0.0;
    for (size_t j = threadIdx.x; j < c; j += RMS_THREADS) ss += (double)__fmul_rn(t[j], t[j]);
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x / 32] = ss;
    __syncthreads();
    double total = 0.0;
    for (int k = 0; k < RMS_THREADS / 32; k++) total += part[k];
    float var = (float)(total / (double)c);
    float rs = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(var, eps)));
    for (size_t j = threadIdx.x; j < c; j += RMS_THREADS) {
        float nv = __fmul_rn(t[j], rs), wv = weight_at(w, wt, j);
        if (one1p) out[j] = hif(__fmul_rn(nv, __fadd_rn(1.0f, wv)), f16);
        else out[j] = f16 ? h16(__fmul_rn(wv, h16(nv))) : __fmul_rn(wv, nv);
    }
}

kern_status cuda_rmsnorm(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, size_t n, size_t c,
                         float eps, int round_f16)
{
    if (!dtype_ok(w.dtype)) return KERN_ERR_ARG;
    if (n == 0 || c == 0) return KERN_OK;
    if (!fits_int(n)) return KERN_ERR_UNSUPPORTED;
    rmsnorm_kernel<<<(unsigned)n, RMS_THREADS, 0, ctx->stream>>>(y, x, w.data, w.dtype, c, eps, round_f16 != 0, 0);
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_rmsnorm_1p(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, size_t n, size_t c,
                            float eps, int round_f16)
{
    if (!dtype_ok(w.dtype)) return KERN_ERR_ARG;
    if (n == 0 || c == 0) return KERN_OK;
    if (!fits_int(n)) return KERN_ERR_UNSUPPORTED;
    rmsnorm_kernel<<<(unsigned)n, RMS_THREADS, 0, ctx->stream>>>(y, x, w.data, w.dtype, c, eps, round_f16 != 0, 1);
    LAUNCH_CHECK();
    return KERN_OK;
}
