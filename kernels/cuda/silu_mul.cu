// silu_mul.cu - out = silu(g) * u, silu(g) = g / (1 + exp(-g)) in fp32; h(h(silu) * u) when
// faithful. exp is taken in fp64 and rounded once, which is what glibc's expf gives on the CPU
// in all but rare cases (CUDA's expf is within 2 ulp). out may equal g or u. gelu_tanh_mul: the
// same with Gemma's tanh GELU (gelu_tanh_f32, cuda.cuh).
#include "cuda.cuh"

__global__ void silu_mul_kernel(float *out, const float *g, const float *u, size_t n, int f16)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float gv = g[e], uv = u[e];
        float a = silu_f32(gv);
        out[e] = f16 ? h16(__fmul_rn(h16(a), uv)) : __fmul_rn(a, uv);
    }
}

kern_status cuda_silu_mul(awq_backend_ctx *ctx, float *out, const float *g, const float *u, size_t n,
                          int round_f16)
{
    if (!n) return KERN_OK;
    silu_mul_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(out, g, u, n, round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}

__global__ void gelu_tanh_mul_kernel(float *out, const float *g, const float *u, size_t n, int f16)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float a = gelu_tanh_f32(g[e]), uv = u[e];
        out[e] = f16 ? h16(__fmul_rn(h16(a), uv)) : __fmul_rn(a, uv);
    }
}

kern_status cuda_gelu_tanh_mul(awq_backend_ctx *ctx, float *out, const float *g, const float *u, size_t n, int round_f16)
{
    if (!n) return KERN_OK;
    gelu_tanh_mul_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(out, g, u, n, round_f16 != 0);
    LAUNCH_CHECK();
    return KERN_OK;
}
