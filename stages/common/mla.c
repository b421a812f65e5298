/* mla.c - DeepSeek-V3's multi-head latent attention from backend ops (mla.h). */
#include "mla.h"

#include <string.h>

#define KCHECK(expr, what) do { kern_status ks_ = (expr); if (ks_ != KERN_OK) return awq_kern_fail(ks_, what); } while (0)

/* DeepseekV3RMSNorm(q_lora_rank) and (kv_lora_rank): the class default, not rms_norm_eps */
#define MLA_LATENT_EPS 1e-6f

size_t awq_mla_row_floats(const awq_config *c)
{
    const size_t H = (size_t)c->num_attention_heads, dr = (size_t)c->qk_rope_head_dim;
    return (size_t)c->q_lora_rank + 2 * (size_t)c->kv_lora_rank + 2 * dr + H * dr +
           H * ((size_t)c->qk_nope_head_dim + (size_t)c->v_head_dim);
}

awq_err awq_mla_init(awq_fwd *f, size_t rows)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    const size_t H = (size_t)c->num_attention_heads, dr = (size_t)c->qk_rope_head_dim, r = (size_t)c->kv_lora_rank;
    awq_mla_scratch *s = &f->mla;
    const struct { float **p; size_t w; } b[] = {
        {&s->qa, (size_t)c->q_lora_rank}, {&s->ckv, r + dr}, {&s->kvn, r}, {&s->krot, dr}, {&s->qrot, H * dr},
        {&s->kvb, H * ((size_t)c->qk_nope_head_dim + (size_t)c->v_head_dim)},
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        if (be->alloc(be->ctx, (void **)b[i].p, rows * b[i].w * sizeof(float)) != KERN_OK)
            return awq_kern_fail(KERN_ERR_NOMEM, "cannot allocate the latent attention's scratch");
    return AWQ_OK;
}

void awq_mla_free(awq_fwd *f)
{
    const awq_backend *be = f->be;
    awq_mla_scratch *s = &f->mla;
    be->free(be->ctx, s->qa), be->free(be->ctx, s->ckv), be->free(be->ctx, s->kvn), be->free(be->ctx, s->krot);
    be->free(be->ctx, s->qrot), be->free(be->ctx, s->kvb);
    memset(s, 0, sizeof *s);
}

awq_err awq_mla_forward_rows(awq_fwd *f, const awq_block_w *w, const float *a, float *out, float *o_in, size_t ns)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    const awq_mla_scratch *s = &f->mla;
    const int r16 = f->round_f16;
    const size_t T = (size_t)f->seqlen, rows = ns * T, C = (size_t)c->hidden_size, H = (size_t)c->num_attention_heads;
    const size_t dn = (size_t)c->qk_nope_head_dim, dr = (size_t)c->qk_rope_head_dim, dv = (size_t)c->v_head_dim;
    const size_t dqk = dn + dr, rq = (size_t)c->q_lora_rank, rkv = (size_t)c->kv_lora_rank;
    float *q = f->buf[0], *key = f->buf[1], *val = f->buf[2], *att = o_in ? o_in : f->buf[3];
    if (!out && !o_in) return AWQ_OK;
    /* queries: [rows, H, dn | dr] */
    if (rq) {
        KCHECK(be->matmul(be->ctx, s->qa, a, w->w[AWQ_W_Q_A], KERN_NO_WEIGHT, rows, rq, C, r16), "q_a_proj");
        KCHECK(be->rmsnorm(be->ctx, s->qa, s->qa, w->w[AWQ_W_Q_A_NORM], rows, rq, MLA_LATENT_EPS, r16), "q_a_layernorm");
        if (f->cap_q_b_in) KCHECK(be->copy(be->ctx, f->cap_q_b_in, s->qa, rows * rq * sizeof(float)), "copy q_b_proj input");
        KCHECK(be->matmul(be->ctx, q, s->qa, w->w[AWQ_W_Q_B], KERN_NO_WEIGHT, rows, H * dqk, rq, r16), "q_b_proj");
    } else {
        KCHECK(be->matmul(be->ctx, q, a, w->w[AWQ_W_Q], KERN_NO_WEIGHT, rows, H * dqk, C, r16), "q_proj");
    }
    /* the latent and the shared rope key */
    KCHECK(be->matmul(be->ctx, s->ckv, a, w->w[AWQ_W_KV_A], KERN_NO_WEIGHT, rows, rkv + dr, C, r16), "kv_a_proj_with_mqa");
    KCHECK(be->copy2d(be->ctx, s->kvn, rkv, s->ckv, rkv + dr, rows, rkv), "split kv_a_proj_with_mqa (latent)");
    KCHECK(be->copy2d(be->ctx, s->krot, dr, s->ckv + rkv, rkv + dr, rows, dr), "split kv_a_proj_with_mqa (rope key)");
    KCHECK(be->rmsnorm(be->ctx, s->kvn, s->kvn, w->w[AWQ_W_KV_A_NORM], rows, rkv, MLA_LATENT_EPS, r16), "kv_a_layernorm");
    if (f->cap_kv_b_in) KCHECK(be->copy(be->ctx, f->cap_kv_b_in, s->kvn, rows * rkv * sizeof(float)), "copy kv_b_proj input");
    /* RoPE: the shared key as one head, q's rope parts gathered as H heads of dr, rotated, put back */
    KCHECK(be->rope(be->ctx, s->krot, f->pos, rows, 1, dr, &f->rope, r16), "rope (shared key)");
    KCHECK(be->copy2d(be->ctx, s->qrot, dr, q + dn, dqk, rows * H, dr), "gather q's rope parts");
    KCHECK(be->rope(be->ctx, s->qrot, f->pos, rows, H, dr, &f->rope, r16), "rope (q)");
    KCHECK(be->copy2d(be->ctx, q + dn, dqk, s->qrot, dr, rows * H, dr), "put back q's rope parts");
    /* keys [rows, H, dn | dr] and values [rows, H, dv] from kv_b_proj's [rows, H, dn | dv] */
    KCHECK(be->matmul(be->ctx, s->kvb, s->kvn, w->w[AWQ_W_KV_B], KERN_NO_WEIGHT, rows, H * (dn + dv), rkv, r16), "kv_b_proj");
    KCHECK(be->copy2d(be->ctx, key, dqk, s->kvb, dn + dv, rows * H, dn), "keys (nope part)");
    KCHECK(be->copy2d(be->ctx, val, dv, s->kvb + dn, dn + dv, rows * H, dv), "values");
    for (size_t h = 0; h < H; h++)
        KCHECK(be->copy2d(be->ctx, key + h * dqk + dn, H * dqk, s->krot, dr, rows, dr), "keys (shared rope part)");
    KCHECK(be->attention(be->ctx, att, q, key, val, ns, T, H, H, dqk, dv, (float)c->attn_scale, 0, 0, r16), "attention");
    if (out) KCHECK(be->matmul(be->ctx, out, att, w->w[AWQ_W_O], KERN_NO_WEIGHT, rows, C, H * dv, r16), "o_proj");
    return AWQ_OK;
}
