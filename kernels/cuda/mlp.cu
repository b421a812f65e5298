// mlp.cu - the gated MLP out = down(silu(gate(m)) * up(m)) as one op (the math: kernels/cpu/mlp.c,
// the composition of matmul and silu_mul). In the faithful mode every intermediate is an fp16
// value, so with F16 weights and no biases g, u and a = silu(g)*u stay fp16 in the caller's
// scratch: m is converted once, gate and up write fp16 C (matmul.cu's no-bias path: the same
// cuBLAS call, h() of the fp32 sum), one kernel turns g, u into a (fp16, and fp32 into down_in),
// down reads a as its fp16 operand, and its fp16 C is widened into out. Each value is the one
// cuda_matmul / cuda_silu_mul would give (widening fp16 -> fp32 is exact), without writing each
// intermediate as fp32 and converting it back. Every other case calls those ops in turn. act picks
// silu or Gemma's tanh GELU (the same kernels, the activation a runtime switch).
#include "cuda.cuh"

// a = h(h(silu(g)) * u) as silu_mul_kernel computes it in f16 mode; a16 may equal g16.
// Pairs of halves per thread (n2 pairs); a widened into down_in when it is not NULL.
__device__ __forceinline__ float act_f32(float g, int gelu) { return gelu ? gelu_tanh_f32(g) : silu_f32(g); }

__global__ void silu_mul_f16x2_kernel(__half2 *a16, float *down_in, const __half2 *g16, const __half2 *u16,
                                      size_t n2, int gelu)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n2; e += (size_t)gridDim.x * blockDim.x) {
        float2 g = __half22float2(g16[e]), u = __half22float2(u16[e]);
        float a0 = h16(__fmul_rn(h16(act_f32(g.x, gelu)), u.x)), a1 = h16(__fmul_rn(h16(act_f32(g.y, gelu)), u.y));
        a16[e] = __floats2half2_rn(a0, a1); // exact: both are fp16 values
        if (down_in) down_in[2 * e] = a0, down_in[2 * e + 1] = a1;
    }
}

// the same one half at a time (an odd count or pointers not 4-byte aligned)
__global__ void silu_mul_f16_kernel(__half *a16, float *down_in, const __half *g16, const __half *u16, size_t n,
                                    int gelu)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float a = h16(__fmul_rn(h16(act_f32(__half2float(g16[e]), gelu)), __half2float(u16[e])));
        a16[e] = __float2half_rn(a);
        if (down_in) down_in[e] = a;
    }
}

static int aligned4(const void *p) { return ((uintptr_t)p & 3u) == 0; }

static kern_status silu_mul_f16(awq_backend_ctx *ctx, __half *a16, float *down_in, const __half *g16,
                                const __half *u16, size_t n, int gelu)
{
    if (n % 2 == 0 && aligned4(a16) && aligned4(g16) && aligned4(u16)) {
        size_t n2 = n / 2;
        silu_mul_f16x2_kernel<<<grid_for(ctx, n2, 256), 256, 0, ctx->stream>>>(
            (__half2 *)a16, down_in, (const __half2 *)g16, (const __half2 *)u16, n2, gelu);
    } else {
        silu_mul_f16_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(a16, down_in, g16, u16, n, gelu);
    }
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_mlp(awq_backend_ctx *ctx, float *out, float *down_in, const float *m, kern_weight w_gate,
                     kern_weight b_gate, kern_weight w_up, kern_weight b_up, kern_weight w_down, kern_weight b_down,
                     float *scratch_g, float *scratch_u, size_t n, size_t c, size_t f, int act, int round_f16)
{
    if (!dtype_ok(w_gate.dtype) || !dtype_ok(w_up.dtype) || (b_gate.data && !dtype_ok(b_gate.dtype)) ||
        (b_up.data && !dtype_ok(b_up.dtype)) ||
        (out && (!dtype_ok(w_down.dtype) || (b_down.data && !dtype_ok(b_down.dtype)))))
        return KERN_ERR_ARG;
    if (!out && !down_in) return KERN_OK;
    int fast = round_f16 && w_gate.dtype == KERN_F16 && w_up.dtype == KERN_F16 && !b_gate.data && !b_up.data &&
               (!out || (w_down.dtype == KERN_F16 && !b_down.data)) && n && c && f && fits_int(n) && fits_int(c) &&
               fits_int(f);
    if (!fast) { // the composition itself (empty sums, sizes beyond int and bad dtypes are handled there)
        float *a = down_in ? down_in : scratch_g;
        KERN_TRY(cuda_matmul(ctx, scratch_g, m, w_gate, b_gate, n, f, c, round_f16));
        KERN_TRY(cuda_matmul(ctx, scratch_u, m, w_up, b_up, n, f, c, round_f16));
        KERN_TRY((act == KERN_ACT_GELU_TANH ? cuda_gelu_tanh_mul : cuda_silu_mul)(ctx, a, scratch_g, scratch_u, n * f,
                                                                                   round_f16));
        if (out) KERN_TRY(cuda_matmul(ctx, out, a, w_down, b_down, n, c, f, round_f16));
        return KERN_OK;
    }
    // Each scratch buffer holds n*f floats = two fp16 arrays of n*f. g16 and then a16 (in place)
    // live at the start of scratch_g, u16 at the start of scratch_u; m16 [n,c] goes after g16
    // when it fits (c < f, as in every Llama/Qwen MLP), else in the context's scratch, which
    // nothing else uses during this op; down's fp16 C [n,c] takes u16's place once silu has read
    // it (stream order), or the context's scratch when c > 2f.
    const size_t nf = n * f, nc = n * c, cap = nf * sizeof(float);
    __half *g16 = (__half *)scratch_g, *u16 = (__half *)scratch_u, *c16 = NULL;
    const __half *m16 = cuda_pinned_f16(ctx, m, nc); // m already as fp16 (pin_f16), else converted here
    if (!m16) {
        __half *conv = NULL;
        size_t at = (nf * sizeof(__half) + 255) / 256 * 256; // 256-byte aligned, like matmul.cu's carve
        if (at + nc * sizeof(__half) <= cap) conv = (__half *)((char *)scratch_g + at);
        else KERN_TRY(cuda_scratch(ctx, nc * sizeof(__half), (void **)&conv));
        KERN_TRY(cuda_to_f16(ctx, conv, m, nc)); // exact: in this mode m holds fp16 values
        m16 = conv;
    }
    KERN_TRY(cuda_gemm_f16(ctx, g16, m16, w_gate.data, n, f, c));
    KERN_TRY(cuda_gemm_f16(ctx, u16, m16, w_up.data, n, f, c));
    KERN_TRY(silu_mul_f16(ctx, g16, down_in, g16, u16, nf, act == KERN_ACT_GELU_TANH));
    if (!out) return KERN_OK;
    if (nc * sizeof(__half) <= cap) c16 = u16;
    else KERN_TRY(cuda_scratch(ctx, nc * sizeof(__half), (void **)&c16)); // m16 is dead: a growth may free it
    KERN_TRY(cuda_gemm_f16(ctx, c16, g16, w_down.data, n, c, f));
    kern_weight cw = {c16, KERN_F16};
    return cuda_to_f32(ctx, out, cw, nc); // exact; out = h(fp32 sum), as from cuda_matmul
}
