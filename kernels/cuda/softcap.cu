// softcap.cu - x = tanh(x / cap) * cap in place (Gemma 2's final logits); faithful: h() after the
// division, the tanh and the product. tanh is taken in fp64 and rounded once (glibc's tanhf is
// correctly rounded in all but rare cases; CUDA's is within 2 ulp).
#include "cuda.cuh"

__global__ void softcap_kernel(float *x, size_t n, float cap, int f16)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float c = hif(__fdiv_rn(x[e], cap), f16);
        x[e] = hif(__fmul_rn(hif((float)tanh((double)c), f16), cap), f16);
    }
}

kern_status cuda_softcap(awq_backend_ctx *ctx, float *x, size_t n, float cap, int round_f16)
{
    if (!(cap > 0)) return KERN_ERR_ARG;
    if (!n) return KERN_OK;
    softcap_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(x, n, cap, round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}
