/* attn.c - the self-attention module (Llama/Qwen self_attn: q/k/v projections, optional q/k
 * RMSNorm, RoPE, causal GQA attention, o_proj) as one op: the composition of the CPU ops in the
 * caller's scratch. It exists as an op so that a device backend can keep q, k, v and the
 * attention output in a narrower format (kernels/cuda/attn.cu); on the CPU it is the sequence
 * of calls the forward made before, so the results are those bits. kern_attn_ref: the same
 * composition of the scalar _refs. */
#include "cpu.h"
#include "ref.h"

#include <stdlib.h>
#include <string.h>

/* The math: the same composition of the _refs, on host scratch of its own. */
kern_status kern_attn_ref(float *out, float *o_in, const float *a, const kern_attn_w *w, const int32_t *pos,
                          const kern_rope *rope, size_t b, size_t t, size_t c, size_t h, size_t hkv, size_t d,
                          int round_f16)
{
    if (!kern_attn_args_ok(out, w, h, hkv, d)) return KERN_ERR_ARG;
    if (!out && !o_in) return KERN_OK;
    const size_t n = b * t;
    float *q = malloc((n * h * d * 2 + n * hkv * d * 2) * sizeof *q);
    if (!q) return KERN_ERR_NOMEM;
    float *k = q + n * h * d, *v = k + n * hkv * d, *att = v + n * hkv * d;
    kern_status st = kern_matmul_ref(q, a, w->q, w->q_bias, n, h * d, c, round_f16);
    if (st == KERN_OK) st = kern_matmul_ref(k, a, w->k, w->k_bias, n, hkv * d, c, round_f16);
    if (st == KERN_OK) st = kern_matmul_ref(v, a, w->v, w->v_bias, n, hkv * d, c, round_f16);
    kern_status (*norm)(float *, const float *, kern_weight, size_t, size_t, float, int) =
        w->norm_1p ? kern_rmsnorm_1p_ref : kern_rmsnorm_ref;
    if (st == KERN_OK && w->q_norm.data) st = norm(q, q, w->q_norm, n * h, d, w->eps, round_f16);
    if (st == KERN_OK && w->k_norm.data) st = norm(k, k, w->k_norm, n * hkv, d, w->eps, round_f16);
    if (st == KERN_OK) st = kern_rope_ref(q, pos, n, h, d, rope, round_f16);
    if (st == KERN_OK) st = kern_rope_ref(k, pos, n, hkv, d, rope, round_f16);
    if (st == KERN_OK)
        st = kern_attention_ref(att, q, k, v, b, t, h, hkv, d, d, kern_attn_scale(w, d), w->softcap, w->window, round_f16);
    if (st == KERN_OK && o_in) memcpy(o_in, att, n * h * d * sizeof *att);
    if (st == KERN_OK && out) st = kern_matmul_ref(out, att, w->o, w->o_bias, n, c, h * d, round_f16);
    free(q);
    return st;
}

kern_status cpu_attn(awq_backend_ctx *ctx, float *out, float *o_in, const float *a, const kern_attn_w *w,
                          const int32_t *pos, const kern_rope *rope, float *scratch_q, float *scratch_k,
                          float *scratch_v, float *scratch_att, size_t b, size_t t, size_t c, size_t h, size_t hkv,
                          size_t d, int round_f16)
{
    if (!kern_attn_args_ok(out, w, h, hkv, d)) return KERN_ERR_ARG;
    if (!out && !o_in) return KERN_OK;
    const size_t n = b * t;
    float *q = scratch_q, *k = scratch_k, *v = scratch_v;
    /* the attention output goes straight to o_in when it is wanted: o_proj reads it from there */
    float *att = o_in ? o_in : scratch_att;
    kern_status st = cpu_matmul(ctx, q, a, w->q, w->q_bias, n, h * d, c, round_f16);
    if (st == KERN_OK) st = cpu_matmul(ctx, k, a, w->k, w->k_bias, n, hkv * d, c, round_f16);
    if (st == KERN_OK) st = cpu_matmul(ctx, v, a, w->v, w->v_bias, n, hkv * d, c, round_f16);
    kern_status (*norm)(awq_backend_ctx *, float *, const float *, kern_weight, size_t, size_t, float, int) =
        w->norm_1p ? cpu_rmsnorm_1p : cpu_rmsnorm;
    if (st == KERN_OK && w->q_norm.data) st = norm(ctx, q, q, w->q_norm, n * h, d, w->eps, round_f16);
    if (st == KERN_OK && w->k_norm.data) st = norm(ctx, k, k, w->k_norm, n * hkv, d, w->eps, round_f16);
    if (st == KERN_OK) st = cpu_rope(ctx, q, pos, n, h, d, rope, round_f16);
    if (st == KERN_OK) st = cpu_rope(ctx, k, pos, n, hkv, d, rope, round_f16);
    if (st == KERN_OK)
        st = cpu_attention(ctx, att, q, k, v, b, t, h, hkv, d, d, kern_attn_scale(w, d), w->softcap, w->window, round_f16);
    if (st == KERN_OK && out) st = cpu_matmul(ctx, out, att, w->o, w->o_bias, n, c, h * d, round_f16);
    return st;
}
