// attn.cu - the self-attention module (q/k/v_proj, q/k norm, RoPE, causal GQA attention, o_proj)
// as one op (the math: kernels/cpu/attn.c, the composition of matmul, rmsnorm, rope, attention
// and matmul). In the faithful mode every intermediate is an fp16 value, so with F16 weights, no
// biases and no q/k norm, q, k, v and the attention output stay fp16 in the caller's scratch:
// a is converted once (or pinned), q/k/v_proj write fp16 C (cuda_gemm_f16: cuda_matmul's no-bias
// call), RoPE works on fp16 in place (cuda_rope_f16), the attention reads them without a
// conversion and leaves its output as fp16 (cuda_attention_f16; widened into o_in when asked),
// o_proj reads that as its operand and its fp16 C is widened into out. Each value is the one the
// separate ops give (widening is exact, and every GEMM is the same cuBLAS call with the same
// shape), without writing each intermediate as fp32 and converting it back. Every other case
// calls those ops in turn.
#include "cuda.cuh"

kern_status cuda_attn(awq_backend_ctx *ctx, float *out, float *o_in, const float *a, const kern_attn_w *w,
                      const int32_t *pos, const kern_rope *rope, float *scratch_q, float *scratch_k, float *scratch_v,
                      float *scratch_att, size_t b, size_t t, size_t c, size_t h, size_t hkv, size_t d, int round_f16)
{
    if (!kern_attn_args_ok(out, w, h, hkv, d)) return KERN_ERR_ARG;
    if (!out && !o_in) return KERN_OK;
    const size_t n = b * t, hd = h * d, kd = hkv * d;
    int fast = round_f16 && w->q.dtype == KERN_F16 && w->k.dtype == KERN_F16 && w->v.dtype == KERN_F16 &&
               !w->q_bias.data && !w->k_bias.data && !w->v_bias.data && !w->q_norm.data && !w->k_norm.data &&
               !rope->interleave &&
               (!out || (w->o.dtype == KERN_F16 && !w->o_bias.data)) && n && c && hd && fits_int(n) && fits_int(c) &&
               fits_int(hd);
    if (!fast) { // the composition itself (empty shapes, sizes beyond int are handled there)
        float *att = o_in ? o_in : scratch_att;
        KERN_TRY(cuda_matmul(ctx, scratch_q, a, w->q, w->q_bias, n, hd, c, round_f16));
        KERN_TRY(cuda_matmul(ctx, scratch_k, a, w->k, w->k_bias, n, kd, c, round_f16));
        KERN_TRY(cuda_matmul(ctx, scratch_v, a, w->v, w->v_bias, n, kd, c, round_f16));
        kern_status (*norm)(awq_backend_ctx *, float *, const float *, kern_weight, size_t, size_t, float, int) =
            w->norm_1p ? cuda_rmsnorm_1p : cuda_rmsnorm;
        if (w->q_norm.data) KERN_TRY(norm(ctx, scratch_q, scratch_q, w->q_norm, n * h, d, w->eps, round_f16));
        if (w->k_norm.data) KERN_TRY(norm(ctx, scratch_k, scratch_k, w->k_norm, n * hkv, d, w->eps, round_f16));
        KERN_TRY(cuda_rope(ctx, scratch_q, pos, n, h, d, rope, round_f16));
        KERN_TRY(cuda_rope(ctx, scratch_k, pos, n, hkv, d, rope, round_f16));
        KERN_TRY(cuda_attention(ctx, att, scratch_q, scratch_k, scratch_v, b, t, h, hkv, d, d, kern_attn_scale(w, d),
                                 w->softcap, w->window, round_f16));
        if (out) KERN_TRY(cuda_matmul(ctx, out, att, w->o, w->o_bias, n, c, hd, round_f16));
        return KERN_OK;
    }
    // Scratch (each buffer holds twice its fp16 array): q16, k16, v16 at the start of scratch_q,
    // _k, _v; the attention output att16 [n, h*d] at the start of scratch_att. a16 [n, c] (when
    // not pinned) goes into scratch_att before att16 is written (it is dead after v_proj: stream
    // order) when c <= 2*h*d, else into the context's scratch; o_proj's fp16 C [n, c] takes q16's
    // place once the attention has read it, or the context's scratch when c > 2*h*d. The
    // context's scratch is also rope's and the attention's: each use is over before the next
    // op is queued, and a growth waits for the device (cuda_scratch).
    const size_t nc = n * c;
    __half *q16 = (__half *)scratch_q, *k16 = (__half *)scratch_k, *v16 = (__half *)scratch_v;
    __half *att16 = (__half *)scratch_att, *c16 = NULL;
    const __half *a16 = cuda_pinned_f16(ctx, a, nc); // a already as fp16 (pin_f16), else converted here
    if (!a16) {
        __half *conv = NULL;
        if (c <= 2 * hd) conv = att16;
        else KERN_TRY(cuda_scratch(ctx, nc * sizeof(__half), (void **)&conv));
        KERN_TRY(cuda_to_f16(ctx, conv, a, nc)); // exact: in this mode a holds fp16 values
        a16 = conv;
    }
    KERN_TRY(cuda_gemm_f16(ctx, q16, a16, w->q.data, n, hd, c)); // kd >= 1 too: h >= 1 and hkv divides it
    KERN_TRY(cuda_gemm_f16(ctx, k16, a16, w->k.data, n, kd, c));
    KERN_TRY(cuda_gemm_f16(ctx, v16, a16, w->v.data, n, kd, c));
    KERN_TRY(cuda_rope_f16(ctx, q16, pos, n, h, d, rope));
    KERN_TRY(cuda_rope_f16(ctx, k16, pos, n, hkv, d, rope));
    KERN_TRY(cuda_attention_f16(ctx, att16, o_in, q16, k16, v16, b, t, h, hkv, d, kern_attn_scale(w, d), w->softcap,
                                w->window));
    if (!out) return KERN_OK;
    if (c <= 2 * hd) c16 = q16;
    else KERN_TRY(cuda_scratch(ctx, nc * sizeof(__half), (void **)&c16));
    KERN_TRY(cuda_gemm_f16(ctx, c16, att16, w->o.data, n, c, hd));
    kern_weight cw = {c16, KERN_F16};
    return cuda_to_f32(ctx, out, cw, nc); // exact; out = h(fp32 sum), as from cuda_matmul
}
