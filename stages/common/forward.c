/* forward.c - decoder block forward built from the kernels (spec §1.4), a chunk of sequences at
 * a time. Shapes: N = n_seq*seqlen rows, C hidden, F ffn, H heads, Hkv kv heads, D head_dim. */
#include "forward.h"

#include "devmem.h"
#include "mla.h"
#include "moe.h"

#include "../../base/half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KCHECK(expr, what) do { kern_status ks_ = (expr); if (ks_ != KERN_OK) return awq_kern_fail(ks_, what); } while (0)

kern_dtype awq_kern_dtype(awq_dtype t) { return t == AWQ_DT_F16 ? KERN_F16 : t == AWQ_DT_BF16 ? KERN_BF16 : KERN_F32; }

static kern_weight kw(const st_tensor *t) { return t ? (kern_weight){t->data, awq_kern_dtype(t->dtype)} : KERN_NO_WEIGHT; }

awq_err awq_block_w_host(const awq_model *m, int layer, awq_block_w *out)
{
    awq_block b;
    awq_err e = awq_model_block(m, layer, &b);
    if (e) return e;
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) out->w[s] = kw(b.t[s]);
    out->layer1 = layer + 1;
    return AWQ_OK;
}

awq_err awq_block_w_upload(const awq_backend *be, const awq_block_w *host, awq_block_w *out, void *own[AWQ_SLOT__COUNT],
                           const size_t bytes[AWQ_SLOT__COUNT])
{
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) own[s] = NULL;
    out->layer1 = host->layer1;
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) {
        out->w[s] = host->w[s];
        if (!host->w[s].data) continue;
        const void *v = NULL;
        awq_err e = awq_dev_view(be, host->w[s].data, bytes[s], &v, &own[s]);
        if (e) { awq_block_w_release(be, own); return e; }
        out->w[s].data = v;
    }
    return AWQ_OK;
}

awq_err awq_model_block_upload(const awq_backend *be, const awq_model *m, int layer, awq_block_w *out,
                               void *own[AWQ_SLOT__COUNT])
{
    awq_block b;
    awq_block_w host;
    size_t bytes[AWQ_SLOT__COUNT] = {0};
    awq_err e = awq_model_block(m, layer, &b);
    if (!e) e = awq_block_w_host(m, layer, &host);
    if (e) return e;
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) bytes[s] = b.t[s] ? b.t[s]->nbytes : 0;
    return awq_block_w_upload(be, &host, out, own, bytes);
}

void awq_block_w_release(const awq_backend *be, void *own[AWQ_SLOT__COUNT])
{
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) { awq_dev_release(be, own[s]); own[s] = NULL; }
}

kern_weight awq_model_norm_w(const awq_model *m) { return kw(m->final_norm); }
kern_weight awq_model_head_w(const awq_model *m) { return kw(m->lm_head); }

/* Scratch buffers, each [chunk rows, width]: 0 q [H*D], 1 k [Hkv*D], 2 v [Hkv*D], 3 attention
 * output [H*D] (MLA: v and the output [H*v_head_dim]), 4 gate [F], 5 up [F] (F: the widest mlp,
 * dense, expert or shared experts), 6 normalized input [C], 7 sub-module output [C]. */
static size_t scratch_width(const awq_config *c, int i)
{
    size_t hd = (size_t)c->num_attention_heads * c->head_dim, kvd = (size_t)c->num_key_value_heads * c->head_dim;
    size_t vd = c->mla ? (size_t)awq_attn_out_width(c) : kvd, od = c->mla ? vd : hd;
    size_t F = (size_t)c->intermediate_size, C = (size_t)c->hidden_size;
    if (c->n_experts && (size_t)c->moe_intermediate_size > F) F = (size_t)c->moe_intermediate_size;
    if (c->n_experts && (size_t)c->moe_intermediate_size * (size_t)c->n_shared_experts > F)
        F = (size_t)c->moe_intermediate_size * (size_t)c->n_shared_experts;
    /* mlp_grouped's scratch: a batch of experts may take all k rows of every token */
    if (c->n_experts && (size_t)c->moe_intermediate_size * (size_t)c->n_experts_per_tok > F)
        F = (size_t)c->moe_intermediate_size * (size_t)c->n_experts_per_tok;
    const size_t w[AWQ_FWD_NBUF] = {hd, kvd, vd, od, F, F, C, C};
    return w[i];
}

size_t awq_fwd_row_bytes(const awq_config *cfg)
{
    size_t row_bytes = 0;
    for (int i = 0; i < AWQ_FWD_NBUF; i++) row_bytes += scratch_width(cfg, i) * sizeof(float);
    if (cfg->n_experts) /* the experts' scratch (moe.c): zeros, logits, x and y of k rows a token, routing */
        row_bytes += ((1 + 2 * (size_t)cfg->n_experts_per_tok) * (size_t)cfg->hidden_size + (size_t)cfg->n_experts * 2 +
                      (size_t)cfg->n_experts_per_tok * 8) * sizeof(float);
    if (cfg->mla) row_bytes += awq_mla_row_floats(cfg) * sizeof(float);
    return row_bytes;
}

int awq_fwd_chunk_seqs(const awq_config *cfg, int n_seq, int seqlen)
{
    const size_t budget = (size_t)1 << 30;
    int chunk_seqs = (int)(budget / (awq_fwd_row_bytes(cfg) * (size_t)(seqlen > 0 ? seqlen : 1)));
    if (chunk_seqs < 1) chunk_seqs = 1;
    return chunk_seqs > n_seq ? n_seq : chunk_seqs;
}

awq_err awq_fwd_init(awq_fwd *f, const awq_backend *be, const awq_config *cfg, int n_seq, int seqlen,
                     int round_f16, int chunk_seqs)
{
    memset(f, 0, sizeof *f);
    f->be = be;
    f->cfg = cfg;
    f->n_seq = n_seq;
    f->seqlen = seqlen;
    f->round_f16 = round_f16;
    f->rope = (kern_rope){.theta = (float)cfg->rope_theta, .llama3 = cfg->rope_type == AWQ_ROPE_LLAMA3,
                          .factor = (float)cfg->rope_factor, .low_freq_factor = (float)cfg->rope_low_freq_factor,
                          .high_freq_factor = (float)cfg->rope_high_freq_factor,
                          .original_max_pos = (float)cfg->rope_original_max_position_embeddings,
                          .yarn = cfg->rope_type == AWQ_ROPE_YARN, .beta_fast = cfg->rope_beta_fast,
                          .beta_slow = cfg->rope_beta_slow, .truncate = cfg->rope_truncate,
                          .attention_factor = (float)cfg->rope_attention_factor, .interleave = cfg->rope_interleave};
    f->rope.rotary_dim = cfg->rotary_dim;
    if (cfg->rope_type == AWQ_ROPE_LINEAR) f->rope.linear = (float)cfg->rope_factor; /* Gemma 3's global layers */
    f->rope_local = (kern_rope){.theta = (float)cfg->rope_local_theta};
    if (cfg->rope_type == AWQ_ROPE_LONGROPE) { /* Phi3: the long factors only past the original context */
        f->rope.longrope = 1;
        f->rope.ext_factors = seqlen > cfg->rope_original_max_position_embeddings ? cfg->rope_long_factor : cfg->rope_short_factor;
    }
    if (chunk_seqs <= 0) chunk_seqs = awq_fwd_chunk_seqs(cfg, n_seq, seqlen);
    if (chunk_seqs > n_seq) chunk_seqs = n_seq;
    f->chunk_seqs = chunk_seqs;
    size_t rows = (size_t)chunk_seqs * (size_t)seqlen;
    for (int i = 0; i < AWQ_FWD_NBUF; i++)
        if (be->alloc(be->ctx, (void **)&f->buf[i], rows * scratch_width(cfg, i) * sizeof(float)) != KERN_OK) {
            awq_fwd_free(f);
            return awq_kern_fail(KERN_ERR_NOMEM, "cannot allocate the forward scratch");
        }
    int32_t *pos = malloc(rows * sizeof *pos);
    kern_status ks = pos ? be->alloc(be->ctx, (void **)&f->pos, rows * sizeof *pos) : KERN_ERR_NOMEM;
    if (ks == KERN_OK) {
        for (size_t r = 0; r < rows; r++) pos[r] = (int32_t)(r % (size_t)seqlen); /* restart per sequence */
        ks = be->upload(be->ctx, f->pos, pos, rows * sizeof *pos);
    }
    free(pos);
    if (ks != KERN_OK) { awq_fwd_free(f); return awq_kern_fail(ks, "cannot set up positions"); }
    if (cfg->n_experts) {
        awq_err e = awq_moe_init(f, rows);
        if (e) { awq_fwd_free(f); return e; }
    }
    if (cfg->mla) {
        awq_err e = awq_mla_init(f, rows);
        if (e) { awq_fwd_free(f); return e; }
    }
    return AWQ_OK;
}

void awq_fwd_free(awq_fwd *f)
{
    if (!f->be) return;
    awq_moe_free(f);
    awq_mla_free(f);
    for (int i = 0; i < AWQ_FWD_NBUF; i++) f->be->free(f->be->ctx, f->buf[i]);
    f->be->free(f->be->ctx, f->pos);
    memset(f, 0, sizeof *f);
}

/* Attention on `rows` rows (= ns sequences): a [rows, C] normalized input -> out [rows, C].
 * When o_in != NULL the attention output (input of o_proj) is also written there. One backend op
 * (q/k/v_proj, q/k norm, RoPE, attention, o_proj) with buf[0..3] as its scratch, so that a
 * device backend can keep q, k, v and the attention output in fp16 (kernels.h). */
/* The sliding window of block w and its RoPE (Gemma: of its layer, which the block must then
 * know; Gemma 3's sliding layers rotate with the local base). */
static awq_err block_window(const awq_fwd *f, const awq_block_w *w, size_t *window, const kern_rope **rope)
{
    const awq_config *c = f->cfg;
    *window = 0, *rope = &f->rope;
    if (c->arch == AWQ_ARCH_PHI3) *window = (size_t)c->sliding_window; /* every layer (Phi3Model's sliding mask) */
    if (!c->gemma) return AWQ_OK; /* (Mistral, Qwen2: windows shorter than 2048 are refused, longer ones change nothing) */
    if (!w->layer1) return awq_fail(AWQ_ERR_ARG, "internal: a %s block's forward needs its layer (sliding windows)", c->architecture);
    const int layer = w->layer1 - 1;
    *window = (size_t)awq_layer_window(c, layer);
    if (c->rope_local_theta > 0 && c->layer_sliding[layer]) *rope = &f->rope_local;
    return AWQ_OK;
}

static awq_err attn_chunk(awq_fwd *f, const awq_block_w *w, const float *a, float *out, float *o_in, size_t ns)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    if (c->mla) return awq_mla_forward_rows(f, w, a, out, o_in, ns);
    const kern_rope *rope = &f->rope;
    kern_attn_w aw = {
        w->w[AWQ_W_Q], w->w[AWQ_W_K], w->w[AWQ_W_V], w->w[AWQ_W_O],
        w->w[AWQ_B_Q], w->w[AWQ_B_K], w->w[AWQ_B_V], w->w[AWQ_B_O],
        c->qk_norm ? w->w[AWQ_W_Q_NORM] : KERN_NO_WEIGHT, c->qk_norm ? w->w[AWQ_W_K_NORM] : KERN_NO_WEIGHT,
        .eps = (float)c->rms_norm_eps,
    };
    if (c->arch == AWQ_ARCH_PHI3) {
        awq_err e = block_window(f, w, &aw.window, &rope);
        if (e) return e;
    }
    if (c->gemma) { /* HF: scaling = query_pre_attn_scalar ** -0.5 (a Python float, as fp32), softcap */
        aw.scale = c->query_pre_attn_scalar > 0 ? (float)pow(c->query_pre_attn_scalar, -0.5) : 0.0f;
        aw.softcap = (float)c->attn_softcap;
        aw.norm_1p = 1;
        awq_err e = block_window(f, w, &aw.window, &rope);
        if (e) return e;
    }
    KCHECK(be->attn(be->ctx, out, o_in, a, &aw, f->pos, rope, f->buf[0], f->buf[1], f->buf[2], f->buf[3], ns,
                    (size_t)f->seqlen, (size_t)c->hidden_size, (size_t)c->num_attention_heads,
                    (size_t)c->num_key_value_heads, (size_t)c->head_dim, f->round_f16),
           "self_attn (q/k/v_proj, q/k norm, rope, attention, o_proj)");
    return AWQ_OK;
}

/* MLP on `rows` rows: m [rows, C] -> out [rows, C]; down_in receives silu(g)*u when not NULL.
 * out == NULL stops before down_proj (only down_in is wanted). One backend op (gate_proj, up_proj,
 * silu_mul, down_proj) with buf[4] and buf[5] as its scratch, so that a device backend can keep
 * the intermediates in fp16 (kernels.h). */
static awq_err mlp_chunk(awq_fwd *f, const awq_block_w *w, const float *m, float *out, float *down_in, awq_route *routes,
                         size_t token0, size_t rows)
{
    const awq_backend *be = f->be;
    const size_t C = (size_t)f->cfg->hidden_size, F = (size_t)f->cfg->intermediate_size;
    if (!out && !down_in) return AWQ_OK;
    if (w->w[AWQ_W_ROUTER].data) /* a mixture of experts: moe.c */
        return awq_moe_forward_rows(f, w, f->cfg->n_experts, m, out, rows, down_in, routes, token0);
    KCHECK(be->mlp(be->ctx, out, down_in, m, w->w[AWQ_W_GATE], w->w[AWQ_B_GATE], w->w[AWQ_W_UP], w->w[AWQ_B_UP],
                   w->w[AWQ_W_DOWN], w->w[AWQ_B_DOWN], f->buf[4], f->buf[5], rows, C, F,
                   f->cfg->gemma ? KERN_ACT_GELU_TANH : KERN_ACT_SILU, f->round_f16),
           "mlp (gate_proj, up_proj, silu_mul, down_proj)");
    return AWQ_OK;
}

/* Gemma 2's block on sequences [s0, s0+ns): every norm (1 + w), and one after each sub-module too:
 * x += post_attention_layernorm(attn(input_layernorm(x))),
 * x += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x))). The feats are those of
 * the Llama block (the mlp's input is pre_feedforward_layernorm's output). */
static awq_err gemma_chunk(awq_fwd *f, const awq_block_w *w, const float *x, float *y, const awq_feats *ft, size_t s0,
                           size_t ns)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    const size_t T = (size_t)f->seqlen, C = (size_t)c->hidden_size, rows = ns * T, r0 = s0 * T;
    const size_t HD = (size_t)awq_attn_out_width(c), F = (size_t)c->intermediate_size;
    const float eps = (float)c->rms_norm_eps;
    const int r16 = f->round_f16;
    float *normed = f->buf[6], *sub_out = f->buf[7], *resid = y ? y + r0 * C : sub_out;
    x += r0 * C;
    KCHECK(be->rmsnorm_1p(be->ctx, normed, x, w->w[AWQ_W_INPUT_NORM], rows, C, eps, r16), "input_layernorm");
    if (ft && ft->attn_in) KCHECK(be->copy(be->ctx, ft->attn_in + r0 * C, normed, rows * C * sizeof(float)), "copy q/k/v input");
    awq_err e = attn_chunk(f, w, normed, sub_out, ft && ft->o_in ? ft->o_in + r0 * HD : NULL, ns);
    if (e) return e;
    KCHECK(be->rmsnorm_1p(be->ctx, sub_out, sub_out, w->w[AWQ_W_POST_NORM], rows, C, eps, r16), "post_attention_layernorm");
    KCHECK(be->add(be->ctx, resid, x, sub_out, rows * C, r16), "residual add (attention)");
    KCHECK(be->rmsnorm_1p(be->ctx, normed, resid, w->w[AWQ_W_PRE_FF_NORM], rows, C, eps, r16), "pre_feedforward_layernorm");
    if (ft && ft->mlp_in) KCHECK(be->copy(be->ctx, ft->mlp_in + r0 * C, normed, rows * C * sizeof(float)), "copy gate/up input");
    e = mlp_chunk(f, w, normed, y ? sub_out : NULL, ft && ft->down_in ? ft->down_in + r0 * F : NULL, NULL, r0, rows);
    if (e || !y) return e;
    KCHECK(be->rmsnorm_1p(be->ctx, sub_out, sub_out, w->w[AWQ_W_POST_FF_NORM], rows, C, eps, r16), "post_feedforward_layernorm");
    KCHECK(be->add(be->ctx, resid, resid, sub_out, rows * C, r16), "residual add (mlp)");
    return AWQ_OK;
}

/* Sequences [s0, s0+ns) of the whole batch. */
static awq_err block_chunk(awq_fwd *f, const awq_block_w *w, const float *x, float *y, const awq_feats *ft,
                           size_t s0, size_t ns)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    if (c->gemma) return gemma_chunk(f, w, x, y, ft, s0, ns);
    const size_t T = (size_t)f->seqlen, C = (size_t)c->hidden_size, rows = ns * T, r0 = s0 * T;
    const size_t HD = (size_t)awq_attn_out_width(c), F = (size_t)c->intermediate_size;
    const float eps = (float)c->rms_norm_eps;
    const int r16 = f->round_f16;
    /* The residual stream moves into y after the attention half, so y == x works. y == NULL
     * computes the feats only: the residual goes through the scratch and down_proj is skipped. */
    float *normed = f->buf[6], *sub_out = f->buf[7], *resid = y ? y + r0 * C : sub_out;
    x += r0 * C;
    KCHECK(be->rmsnorm(be->ctx, normed, x, w->w[AWQ_W_INPUT_NORM], rows, C, eps, r16), "input_layernorm");
    if (ft) { /* DeepSeek-V3's extra feats, this pass's rows (mla.c, moe.c write them) */
        const size_t Fs = (size_t)c->moe_intermediate_size * (size_t)c->n_shared_experts;
        f->cap_q_b_in = ft->q_b_in ? ft->q_b_in + r0 * (size_t)c->q_lora_rank : NULL;
        f->cap_kv_b_in = ft->kv_b_in ? ft->kv_b_in + r0 * (size_t)c->kv_lora_rank : NULL;
        f->cap_shared_down_in = ft->shared_down_in ? ft->shared_down_in + r0 * Fs : NULL;
    }
    if (ft && ft->attn_in) KCHECK(be->copy(be->ctx, ft->attn_in + r0 * C, normed, rows * C * sizeof(float)), "copy q/k/v input");
    awq_err e = attn_chunk(f, w, normed, sub_out, ft && ft->o_in ? ft->o_in + r0 * HD : NULL, ns);
    if (e) { f->cap_q_b_in = f->cap_kv_b_in = f->cap_shared_down_in = NULL; return e; }
    KCHECK(be->add(be->ctx, resid, x, sub_out, rows * C, r16), "residual add (attention)");
    KCHECK(be->rmsnorm(be->ctx, normed, resid, w->w[AWQ_W_POST_NORM], rows, C, eps, r16), "post_attention_layernorm");
    if (ft && ft->mlp_in) KCHECK(be->copy(be->ctx, ft->mlp_in + r0 * C, normed, rows * C * sizeof(float)), "copy gate/up input");
    /* a mixture of experts writes k rows of width Fe per token (forward.h) */
    const int moe = w->w[AWQ_W_ROUTER].data != NULL;
    const size_t k = moe ? (size_t)c->n_experts_per_tok : 1, dw = moe ? (size_t)c->moe_intermediate_size : F;
    if (moe && ft && ft->down_in && !ft->routes) return awq_fail(AWQ_ERR_ARG, "internal: the experts' feats need routes");
    e = mlp_chunk(f, w, normed, y ? sub_out : NULL, ft && ft->down_in ? ft->down_in + r0 * k * dw : NULL,
                  ft && ft->routes ? ft->routes + r0 * k : NULL, r0, rows);
    f->cap_q_b_in = f->cap_kv_b_in = f->cap_shared_down_in = NULL;
    if (e || !y) return e;
    KCHECK(be->add(be->ctx, resid, resid, sub_out, rows * C, r16), "residual add (mlp)");
    return AWQ_OK;
}

awq_err awq_block_forward(awq_fwd *f, const awq_block_w *w, const float *x, float *y, const awq_feats *feats)
{
    for (size_t s0 = 0; s0 < (size_t)f->n_seq; s0 += (size_t)f->chunk_seqs) {
        size_t ns = (size_t)f->n_seq - s0 < (size_t)f->chunk_seqs ? (size_t)f->n_seq - s0 : (size_t)f->chunk_seqs;
        awq_err e = block_chunk(f, w, x, y, feats, s0, ns);
        if (e) return e;
    }
    return AWQ_OK;
}

awq_err awq_attn_forward(awq_fwd *f, const awq_block_w *w, const float *a, float *out)
{
    const size_t T = (size_t)f->seqlen, C = (size_t)f->cfg->hidden_size;
    for (size_t s0 = 0; s0 < (size_t)f->n_seq; s0 += (size_t)f->chunk_seqs) {
        size_t ns = (size_t)f->n_seq - s0 < (size_t)f->chunk_seqs ? (size_t)f->n_seq - s0 : (size_t)f->chunk_seqs;
        awq_err e = attn_chunk(f, w, a + s0 * T * C, out + s0 * T * C, NULL, ns);
        if (e) return e;
    }
    return AWQ_OK;
}

awq_err awq_mlp_forward(awq_fwd *f, const awq_block_w *w, const float *m, float *out)
{
    if (w->w[AWQ_W_ROUTER].data) return awq_moe_forward(f, w, m, out); /* expert batches outside the passes */
    const size_t T = (size_t)f->seqlen, C = (size_t)f->cfg->hidden_size;
    for (size_t s0 = 0; s0 < (size_t)f->n_seq; s0 += (size_t)f->chunk_seqs) {
        size_t ns = (size_t)f->n_seq - s0 < (size_t)f->chunk_seqs ? (size_t)f->n_seq - s0 : (size_t)f->chunk_seqs;
        awq_err e = mlp_chunk(f, w, m + s0 * T * C, out + s0 * T * C, NULL, NULL, 0, ns * T);
        if (e) return e;
    }
    return AWQ_OK;
}

awq_err awq_logits(const awq_backend *be, const awq_model *m, kern_weight norm, kern_weight head, const float *x,
                   size_t n, int round_f16, float *logits)
{
    const size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    float *xn = NULL;
    if (be->alloc(be->ctx, (void **)&xn, n * C * sizeof(float)) != KERN_OK)
        return awq_kern_fail(KERN_ERR_NOMEM, "cannot allocate the final norm output");
    kern_status ks = (m->cfg.gemma ? be->rmsnorm_1p : be->rmsnorm)(be->ctx, xn, x, norm, n, C, (float)m->cfg.rms_norm_eps,
                                                                    round_f16);
    if (ks == KERN_OK) ks = be->matmul(be->ctx, logits, xn, head, KERN_NO_WEIGHT, n, V, C, round_f16);
    be->free(be->ctx, xn);
    if (ks == KERN_OK && m->cfg.final_softcap > 0) ks = be->softcap(be->ctx, logits, n * V, (float)m->cfg.final_softcap, round_f16);
    return ks == KERN_OK ? AWQ_OK : awq_kern_fail(ks, "final norm / lm_head");
}

awq_err awq_embed_scale(const awq_backend *be, const awq_config *c, float *x, size_t n, int round_f16)
{
    if (!c->gemma) return AWQ_OK;
    const size_t C = (size_t)c->hidden_size;
    /* HF: embeds * torch.tensor(hidden_size ** 0.5).to(dtype): the factor itself in the model's dtype */
    float s = (float)sqrt((double)C);
    if (round_f16) s = awq_round_f16(s);
    float *sv = malloc(C * sizeof *sv);
    if (!sv) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < C; j++) sv[j] = s;
    const void *ds = NULL;
    void *own = NULL;
    awq_err e = awq_dev_view(be, sv, C * sizeof *sv, &ds, &own);
    kern_status ks = e ? KERN_OK : be->scale_weight(be->ctx, x, ds, n, C, 0, round_f16);
    awq_dev_release(be, own);
    free(sv);
    return e ? e : ks ? awq_kern_fail(ks, "embedding times sqrt(hidden_size)") : AWQ_OK;
}
