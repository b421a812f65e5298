/* awq.c - the per-block AWQ algorithm (spec §2.3-§2.11) on fp32 host copies of the block.
 * Shapes: N = n_seq * seqlen tokens, C hidden, F ffn, H*D attention width; W is [out, in]. */
#include "awq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/half.h"
#include "../../kernels/quant.h"
#include "device.h"
#include "devmem.h"
#include "log.h"
#include "memest.h"

const awq_slot AWQ_LINEARS[7] = {AWQ_W_Q, AWQ_W_K, AWQ_W_V, AWQ_W_O, AWQ_W_GATE, AWQ_W_UP, AWQ_W_DOWN};

/* DeepSeek-V3's quantized linears beyond AWQ_LINEARS (its q_proj and o_proj are AWQ_W_Q, AWQ_W_O) */
static const awq_slot MLA_LINEARS[7] = {AWQ_W_Q_A, AWQ_W_Q_B, AWQ_W_KV_A, AWQ_W_KV_B,
                                        AWQ_W_SHARED_GATE, AWQ_W_SHARED_UP, AWQ_W_SHARED_DOWN};

int awq_slot_is_linear(awq_slot s)
{
    if ((unsigned)s >= AWQ_SLOT__FIXED) return (unsigned)s < AWQ_SLOT__COUNT; /* an expert's gate, up or down */
    for (int i = 0; i < 7; i++) if (AWQ_LINEARS[i] == s || MLA_LINEARS[i] == s) return 1;
    return 0;
}

/* The bias slot of a linear, or AWQ_SLOT__COUNT (experts have none). */
static awq_slot bias_of(awq_slot s)
{
    switch (s) {
    case AWQ_W_Q: return AWQ_B_Q; case AWQ_W_K: return AWQ_B_K; case AWQ_W_V: return AWQ_B_V;
    case AWQ_W_O: return AWQ_B_O; case AWQ_W_GATE: return AWQ_B_GATE; case AWQ_W_UP: return AWQ_B_UP;
    case AWQ_W_DOWN: return AWQ_B_DOWN; default: return AWQ_SLOT__COUNT;
    }
}
static kern_weight bias_w(const awq_block_w *w, awq_slot L)
{
    awq_slot b = bias_of(L);
    return b < AWQ_SLOT__COUNT ? w->w[b] : KERN_NO_WEIGHT;
}

#define KCHECK(expr, what) do { kern_status ks_ = (expr); if (ks_ != KERN_OK) return awq_kern_fail(ks_, what); } while (0)

typedef struct lin_shape { const char *name; int in, out; } lin_shape;

awq_err awq_params_check(const awq_params *p, const awq_config *c, int need_pack)
{
    awq_params each = *p; /* every parameter's own range, from the record */
    awq_err e = awq_params_finish(&each, (awq_program){AWQ_K_ALL, ~0u});
    if (e) return e;
    if (need_pack && p->w_bit != 4) {
        awq_fail(AWQ_ERR_ARG, "the AutoAWQ GEMM format holds 4-bit weights only (w_bit %d)", p->w_bit);
        awq_hint("use %s, or evaluate other widths as fake quantization", AWQ_SAY("w-bit", "4"));
        return AWQ_ERR_ARG;
    }
    if (p->export_fp16 && p->format == AWQ_FORMAT_CT) { /* plain fp16 weights: no codes to pack */
        awq_fail(AWQ_ERR_ARG, "%s writes unquantized fp16 weights, which have no compressed-tensors form (%s)",
                 AWQ_SAY("export", "1"), AWQ_SAY("format", "ct"));
        awq_hint("drop one of them: %s for the fp16 export, or %s for the quantized checkpoint", AWQ_SAY("format", "autoawq"),
                 AWQ_SAY("export", "0"));
        return AWQ_ERR_ARG;
    }
    if (kern_clip_candidates(p->clip_grid, p->max_shrink) == 0) {
        char ms[32], cg[32];
        snprintf(ms, sizeof ms, "%g", p->max_shrink);
        snprintf(cg, sizeof cg, "%d", p->clip_grid);
        awq_fail(AWQ_ERR_ARG, "%s with %s gives no clip candidates (int(%g * %d) = 0)", AWQ_SAY("max-shrink", ms),
                 AWQ_SAY("clip-grid", cg), p->max_shrink, p->clip_grid);
        awq_hint("raise %s or %s so that their product is at least 1", AWQ_SAY("max-shrink", NULL), AWQ_SAY("clip-grid", NULL));
        return AWQ_ERR_ARG;
    }
    const int H = c->num_attention_heads, dqk = c->qk_nope_head_dim + c->qk_rope_head_dim;
    const int Fs = c->moe_intermediate_size * c->n_shared_experts;
    const lin_shape dense_lin[] = {
        {"q/k/v_proj", c->hidden_size, c->num_attention_heads * c->head_dim},
        {"o_proj", c->num_attention_heads * c->head_dim, c->hidden_size},
        {"gate/up_proj", c->hidden_size, c->intermediate_size},
        {"down_proj", c->intermediate_size, c->hidden_size},
        {"k/v_proj", c->hidden_size, c->num_key_value_heads * c->head_dim},
        /* the experts' (a dense-only model repeats the rows above) */
        {"experts' gate/up_proj", c->hidden_size, c->n_experts ? c->moe_intermediate_size : c->intermediate_size},
        {"experts' down_proj", c->n_experts ? c->moe_intermediate_size : c->intermediate_size, c->hidden_size},
    }, mla_lin[] = { /* DeepSeek-V3: the latent attention's linears, dense mlp, experts, shared experts */
        {c->q_lora_rank ? "q_a_proj" : "q_proj", c->hidden_size, c->q_lora_rank ? c->q_lora_rank : H * dqk},
        {"q_b_proj", c->q_lora_rank ? c->q_lora_rank : c->hidden_size, H * dqk},
        {"kv_a_proj_with_mqa", c->hidden_size, c->kv_lora_rank + c->qk_rope_head_dim},
        {"kv_b_proj", c->kv_lora_rank, H * (c->qk_nope_head_dim + c->v_head_dim)},
        {"o_proj", H * c->v_head_dim, c->hidden_size},
        {"gate/up_proj", c->hidden_size, c->intermediate_size},
        {"down_proj", c->intermediate_size, c->hidden_size},
        {"experts' gate/up_proj", c->hidden_size, c->moe_intermediate_size},
        {"experts' down_proj", c->moe_intermediate_size, c->hidden_size},
        {"shared_experts' gate/up_proj", c->hidden_size, Fs},
        {"shared_experts' down_proj", Fs, c->hidden_size},
    };
    const int mla = c->mla;
    const lin_shape *lin = mla ? mla_lin : dense_lin;
    const int n_lin = mla ? (int)(sizeof mla_lin / sizeof mla_lin[0]) : (int)(sizeof dense_lin / sizeof dense_lin[0]);
    /* The group first, for every linear (a group that does not divide is the first thing to fix,
     * also when packing), then the GEMM format's out_features % 8. */
    int unpackable = -1; /* a linear whose out_features the GEMM format cannot hold */
    for (int i = 0; i < n_lin; i++)
        if (unpackable < 0 && lin[i].out % 8 != 0) unpackable = i;
    for (int i = 0; i < n_lin; i++) {
        size_t g;
        if (kern_quant_group(&g, (size_t)lin[i].in, p->group) != KERN_OK) {
            awq_fail(AWQ_ERR_ARG, "group size %lld does not divide in_features %d of %s", (long long)p->group, lin[i].in, lin[i].name);
            int cand[] = {128, 64, 32};
            for (int k = 0; k < 3; k++)
                if (lin[i].in % cand[k] == 0 && c->hidden_size % cand[k] == 0 && c->intermediate_size % cand[k] == 0 &&
                    awq_attn_out_width(c) % cand[k] == 0 && (!mla || (c->kv_lora_rank % cand[k] == 0 &&
                    c->q_lora_rank % cand[k] == 0 && c->moe_intermediate_size % cand[k] == 0))) {
                    char gs[16];
                    snprintf(gs, sizeof gs, "%d", cand[k]);
                    awq_hint("try %s (or %s for one group per output channel)", AWQ_SAY("group", gs), AWQ_SAY("group", "-1"));
                    return AWQ_ERR_ARG;
                }
            if (need_pack && unpackable >= 0)
                awq_hint("pad the model (out_features %d of %s is not a multiple of 8 either, so %s cannot be packed), "
                         "or evaluate %s as fake quantization", lin[unpackable].out, lin[unpackable].name,
                         AWQ_SAY("group", "-1"), AWQ_SAY("group", "-1"));
            else
                awq_hint("use %s (one group per output channel), or pad the model", AWQ_SAY("group", "-1"));
            return AWQ_ERR_ARG;
        }
    }
    if (need_pack && unpackable >= 0) {
        awq_fail(AWQ_ERR_ARG, "out_features %d of %s is not a multiple of 8, as the AutoAWQ GEMM format needs (out_features %% 8)",
                 lin[unpackable].out, lin[unpackable].name);
        awq_hint("this model cannot be packed for AutoAWQ/vLLM; evaluate it as fake quantization instead");
        return AWQ_ERR_ARG;
    }
    return AWQ_OK;
}

/* ---- block copies ------------------------------------------------------------------------- */

size_t awq_block_f32_numel(const awq_block_f32 *b, awq_slot s)
{
    if (!b->t[s]) return 0;
    return b->ndim[s] == 2 ? (size_t)b->shape[s][0] * (size_t)b->shape[s][1] : (size_t)b->shape[s][0];
}

void awq_block_f32_free(awq_block_f32 *b)
{
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) {
        if (b->be) awq_dev_free(b->be, b->t[s]);
        else free(b->t[s]);
    }
    memset(b, 0, sizeof *b);
}

/* One model tensor as fp32 into buf [n] (host): with round_f16, non-F16 values rounded to fp16
 * and one beyond its range an error naming the tensor. */
static awq_err tensor_to_f32(const st_tensor *t, int layer, awq_slot s, int round_f16, float *buf, size_t n)
{
    if (t->dtype == AWQ_DT_F16) awq_f16_to_f32_n(buf, t->data, n);
    else if (t->dtype == AWQ_DT_BF16) awq_bf16_to_f32_n(buf, t->data, n);
    else memcpy(buf, t->data, n * sizeof *buf);
    if (round_f16 && t->dtype != AWQ_DT_F16)
        for (size_t k = 0; k < n; k++) {
            if (!awq_f32_fits_f16(buf[k])) {
                awq_fail(AWQ_ERR_NUMERIC, "tensor 'model.layers.%d.%s' element %zu = %g does not fit fp16", layer,
                         awq_slot_suffix(s), k, (double)buf[k]);
                awq_hint("AWQ computes in fp16 (spec §1.1); use %s for this model", AWQ_SAY("numerics", "fp32"));
                return AWQ_ERR_NUMERIC;
            }
            buf[k] = awq_round_f16(buf[k]);
        }
    return AWQ_OK;
}

awq_err awq_block_f32_from_model(const awq_model *m, int layer, int round_f16, awq_block_f32 *out)
{
    return awq_block_f32_from_model_on(awq_backend_cpu(), m, layer, round_f16, out);
}

awq_err awq_block_f32_from_model_on(const awq_backend *be, const awq_model *m, int layer, int round_f16,
                                    awq_block_f32 *out)
{
    memset(out, 0, sizeof *out);
    const int host = awq_backend_is_host(be);
    if (!host) out->be = be;
    out->fused = m->cfg.fused;
    out->norm_1p = m->cfg.gemma;
    out->layer1 = layer + 1;
    awq_block blk;
    awq_err e = awq_model_block(m, layer, &blk);
    for (int s = 0; !e && s < AWQ_SLOT__COUNT; s++) {
        const st_tensor *t = blk.t[s];
        if (!t) continue;
        size_t n = t->nbytes / awq_dtype_size(t->dtype);
        out->ndim[s] = t->ndim;
        out->shape[s][0] = t->shape[0];
        out->shape[s][1] = t->ndim == 2 ? t->shape[1] : 1;
        if (host) {
            if (!(out->t[s] = malloc(n * sizeof(float)))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory copying block %d", layer);
            else e = tensor_to_f32(t, layer, (awq_slot)s, round_f16, out->t[s], n);
            continue;
        }
        if ((e = awq_dev_alloc(be, (void **)&out->t[s], n * sizeof(float)))) break;
        kern_status ks = KERN_OK;
        if (t->dtype == AWQ_DT_F16) { /* as stored: 2 bytes a value over the bus, widened exactly there */
            void *raw = NULL;
            e = awq_dev_alloc(be, &raw, n * 2);
            if (!e && !(ks = be->upload(be->ctx, raw, t->data, n * 2)))
                ks = be->to_f32(be->ctx, out->t[s], (kern_weight){raw, KERN_F16}, n);
            awq_dev_free(be, raw);
        } else {
            float *buf = malloc(n * sizeof *buf);
            if (!buf) e = awq_fail(AWQ_ERR_NOMEM, "out of memory copying block %d", layer);
            if (!e) e = tensor_to_f32(t, layer, (awq_slot)s, round_f16, buf, n);
            if (!e) ks = be->upload(be->ctx, out->t[s], buf, n * sizeof *buf);
            free(buf);
        }
        if (!e && ks) e = awq_context(awq_kern_fail(ks, "weights to the device"), "block %d", layer);
    }
    if (e) awq_block_f32_free(out);
    return e;
}

awq_err awq_block_f32_copy(const awq_block_f32 *src, awq_block_f32 *dst)
{
    memset(dst, 0, sizeof *dst);
    if (src->be) return awq_fail(AWQ_ERR_ARG, "copying a block held in device memory is not supported");
    dst->fused = src->fused;
    dst->norm_1p = src->norm_1p;
    dst->layer1 = src->layer1;
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) {
        if (!src->t[s]) continue;
        size_t n = awq_block_f32_numel(src, (awq_slot)s);
        if (!(dst->t[s] = malloc(n * sizeof(float)))) { awq_block_f32_free(dst); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
        memcpy(dst->t[s], src->t[s], n * sizeof(float));
        dst->ndim[s] = src->ndim[s];
        memcpy(dst->shape[s], src->shape[s], sizeof dst->shape[s]);
    }
    return AWQ_OK;
}

void awq_block_f32_view(const awq_block_f32 *b, awq_block_w *w)
{
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) w->w[s] = b->t[s] ? (kern_weight){b->t[s], KERN_F32} : KERN_NO_WEIGHT;
    w->layer1 = b->layer1;
}

/* ---- scale groups --------------------------------------------------------------------------- */

awq_slot awq_sgroup_layer(const awq_sgroup *g, int i)
{
    if (!g->all_experts) return g->layers[i];
    if (g->shared && i >= g->n_layers - 2) return i == g->n_layers - 2 ? AWQ_W_SHARED_GATE : AWQ_W_SHARED_UP;
    return AWQ_SLOT_EXPERT(i / 2, i % 2 ? AWQ_EXPERT_UP : AWQ_EXPERT_GATE);
}

int awq_block_experts(const awq_block_f32 *b) { return b->t[AWQ_W_ROUTER] ? (int)b->shape[AWQ_W_ROUTER][0] : 0; }

/* DeepSeek-V3's latent attention groups (AutoAWQ's deepseek_v3.py): the block input's linears with
 * the attention as module2inspect; each latent norm with the one linear after it (AutoAWQ gives
 * no module2inspect, so the linear itself is inspected). */
static int mla_attn_groups(const awq_config *c, awq_sgroup *out)
{
    int n = 0;
    out[n++] = (awq_sgroup){"input_layernorm", AWQ_W_INPUT_NORM, {c->q_lora_rank ? AWQ_W_Q_A : AWQ_W_Q, AWQ_W_KV_A}, 2,
                            AWQ_INSPECT_ATTN, AWQ_FEAT_ATTN_IN, 0, -1, 0};
    if (c->q_lora_rank)
        out[n++] = (awq_sgroup){"self_attn.q_a_layernorm", AWQ_W_Q_A_NORM, {AWQ_W_Q_B}, 1, AWQ_INSPECT_LINEAR,
                                AWQ_FEAT_Q_B_IN, 0, -1, 0};
    out[n++] = (awq_sgroup){"self_attn.kv_a_layernorm", AWQ_W_KV_A_NORM, {AWQ_W_KV_B}, 1, AWQ_INSPECT_LINEAR,
                            AWQ_FEAT_KV_B_IN, 0, -1, 0};
    return n;
}

int awq_scale_groups(const awq_config *c, int n_experts, awq_sgroup out[AWQ_MAX_GROUPS])
{
    static const awq_sgroup all[4] = {
        {"input_layernorm", AWQ_W_INPUT_NORM, {AWQ_W_Q, AWQ_W_K, AWQ_W_V}, 3, AWQ_INSPECT_ATTN, AWQ_FEAT_ATTN_IN, 0, -1, 0},
        {"v_proj", AWQ_W_V, {AWQ_W_O}, 1, AWQ_INSPECT_LINEAR, AWQ_FEAT_O_IN, 0, -1, 0},
        {"post_attention_layernorm", AWQ_W_POST_NORM, {AWQ_W_GATE, AWQ_W_UP}, 2, AWQ_INSPECT_MLP, AWQ_FEAT_MLP_IN, 0, -1, 0},
        {"up_proj", AWQ_W_UP, {AWQ_W_DOWN}, 1, AWQ_INSPECT_LINEAR, AWQ_FEAT_DOWN_IN, 0, -1, 0},
    };
    int n = 0;
    if (c->mla) { /* no v -> o group: MLA has no v_proj */
        n = mla_attn_groups(c, out);
        out[n++] = all[2];
        if (!n_experts) { out[n++] = all[3]; return n; }
    } else {
        /* v_proj [Hkv*D, C] vs o_proj [C, H*D]: equal only for MHA with H*D == C */
        int v_o = c->num_key_value_heads * c->head_dim == c->hidden_size && c->hidden_size == c->num_attention_heads * c->head_dim;
        for (int i = 0; i < (n_experts ? 3 : 4); i++)
            if (i != 1 || v_o) out[n++] = all[i];
        if (c->gemma) { /* AutoAWQ's gemma2.py: the mlp's input norm is pre_feedforward_layernorm */
            awq_sgroup *g = &out[n - 2];
            snprintf(g->prev_name, sizeof g->prev_name, "pre_feedforward_layernorm");
            g->prev = AWQ_W_PRE_FF_NORM;
        }
        if (!n_experts) return n;
    }
    const int shared = c->mla && c->n_shared_experts > 0; /* DeepSeek-V3's shared experts */
    out[n - 1].all_experts = 1, out[n - 1].n_layers = 2 * n_experts + 2 * shared, out[n - 1].shared = shared;
    for (int e = 0; e < n_experts; e++, n++) {
        out[n] = all[3];
        snprintf(out[n].prev_name, sizeof out[n].prev_name, "mlp.experts.%d.up_proj", e);
        out[n].prev = AWQ_SLOT_EXPERT(e, AWQ_EXPERT_UP);
        out[n].layers[0] = AWQ_SLOT_EXPERT(e, AWQ_EXPERT_DOWN);
        out[n].expert = e;
    }
    if (shared) /* after the experts, as AutoAWQ lists it; on all N rows (every token reaches them) */
        out[n++] = (awq_sgroup){"mlp.shared_experts.up_proj", AWQ_W_SHARED_UP, {AWQ_W_SHARED_DOWN}, 1, AWQ_INSPECT_LINEAR,
                                AWQ_FEAT_SHARED_DOWN_IN, 0, -1, 0};
    return n;
}

awq_feat awq_linear_feat(awq_slot s)
{
    switch (s) {
    case AWQ_W_O: return AWQ_FEAT_O_IN;
    case AWQ_W_GATE: case AWQ_W_UP: case AWQ_W_SHARED_GATE: case AWQ_W_SHARED_UP: return AWQ_FEAT_MLP_IN;
    case AWQ_W_DOWN: return AWQ_FEAT_DOWN_IN;
    case AWQ_W_Q_B: return AWQ_FEAT_Q_B_IN;
    case AWQ_W_KV_B: return AWQ_FEAT_KV_B_IN;
    case AWQ_W_SHARED_DOWN: return AWQ_FEAT_SHARED_DOWN_IN;
    default: return AWQ_FEAT_ATTN_IN; /* q/k/v, q_a_proj, kv_a_proj_with_mqa */
    }
}

size_t awq_feat_width(const awq_config *c, awq_feat f, int moe)
{
    switch (f) {
    case AWQ_FEAT_O_IN: return (size_t)awq_attn_out_width(c);
    case AWQ_FEAT_DOWN_IN: return (size_t)(moe ? c->moe_intermediate_size : c->intermediate_size);
    case AWQ_FEAT_Q_B_IN: return (size_t)c->q_lora_rank;
    case AWQ_FEAT_KV_B_IN: return (size_t)c->kv_lora_rank;
    case AWQ_FEAT_SHARED_DOWN_IN: return (size_t)c->moe_intermediate_size * (size_t)c->n_shared_experts;
    default: return (size_t)c->hidden_size;
    }
}

/* Is feat f computed in a block of this config (moe: a mixture-of-experts block)? */
static int feat_present(const awq_config *c, awq_feat f, int moe)
{
    switch (f) {
    case AWQ_FEAT_Q_B_IN: return c->mla && c->q_lora_rank > 0;
    case AWQ_FEAT_KV_B_IN: return c->mla;
    case AWQ_FEAT_SHARED_DOWN_IN: return moe && c->mla && c->n_shared_experts > 0;
    default: return f < AWQ_FEAT__COUNT;
    }
}

/* out_features of a linear (the inspected output of a one-linear group) */
static size_t linear_out(const awq_config *c, awq_slot L)
{
    const size_t H = (size_t)c->num_attention_heads;
    switch (L) {
    case AWQ_W_Q_B: return H * (size_t)(c->qk_nope_head_dim + c->qk_rope_head_dim);
    case AWQ_W_KV_B: return H * (size_t)(c->qk_nope_head_dim + c->v_head_dim);
    default: return (size_t)c->hidden_size; /* o_proj and every down_proj */
    }
}

/* A block's fp32 weights in backend memory (lent host memory on the CPU). */
typedef struct dev_block { awq_block_w w; void *own[AWQ_SLOT__COUNT]; } dev_block;

static void dev_block_free(const awq_backend *be, dev_block *d)
{
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) awq_dev_release(be, d->own[s]);
    memset(d, 0, sizeof *d);
}

/* as_f16 (fp16 numerics: every value is an fp16 value already): the weights are stored as F16
 * so the forwards run on fp16 tensor cores; f32[] then also keeps fp32 copies of the linears,
 * which the quantizer and w_mean read. The routed experts are the exception, as they are most of
 * a MoE block (42 GiB of DeepSeek-V3's 44 in fp32): one copy only. On a device in fp16 numerics
 * that copy is F16 (half the bytes, and what the experts' GEMMs read) and f32->t[] of an expert
 * is NULL: search_group and expert_q_weights make an expert's fp32 when the quantizer needs it,
 * and search_group takes the duo statistic of all experts from the host copy. Elsewhere (fp32
 * numerics, the CPU) it is F32 and moe.c's batch_weights makes a batch's fp16 copies as it runs. */
typedef struct dev_block_f32 { const float *t[AWQ_SLOT__COUNT]; void *own[AWQ_SLOT__COUNT]; } dev_block_f32;

/* Whether the routed experts are kept in fp16 only (above): on a device in fp16 numerics, and on
 * the CPU when AWQ_TEST_EXPERTS_F16=1 (tests only: the device's path, whose bits test_moe holds
 * to the fp32 path's). */
static int experts_f16_only(const awq_backend *be, int as_f16)
{
    if (!as_f16) return 0;
    if (!(be->caps & KERN_CAP_HOST_COMPUTE)) return 1;
    const char *t = getenv("AWQ_TEST_EXPERTS_F16");
    return t && strcmp(t, "1") == 0;
}

static size_t g_experts_f16_uploads; /* awq_experts_f16_uploads (tests) */
size_t awq_experts_f16_uploads(void) { return g_experts_f16_uploads; }

static awq_err dev_block_upload(const awq_backend *be, const awq_block_f32 *b, int as_f16, dev_block *d, dev_block_f32 *f32)
{
    memset(d, 0, sizeof *d);
    memset(f32, 0, sizeof *f32);
    d->w.layer1 = b->layer1;
    awq_err e = AWQ_OK;
    /* experts in fp16 only: each goes up in fp32 through one staging buffer and is narrowed there
     * (exact: fp16 values), so the device never holds the experts' fp32 */
    const int ex16 = experts_f16_only(be, as_f16) && b->be != be;
    float *stage = NULL;
    size_t stage_n = 0;
    for (int s = 0; s < AWQ_SLOT__COUNT && !e; s++) {
        d->w.w[s] = KERN_NO_WEIGHT;
        if (!b->t[s]) continue;
        size_t n = awq_block_f32_numel(b, (awq_slot)s);
        if (ex16 && s >= AWQ_SLOT__FIXED) {
            if (n > stage_n) {
                awq_dev_free(be, stage);
                stage = NULL, stage_n = 0;
                if ((e = awq_dev_alloc(be, (void **)&stage, n * sizeof *stage))) break;
                stage_n = n;
            }
            if ((e = awq_dev_alloc(be, &d->own[s], n * 2))) break;
            kern_status ks = be->upload(be->ctx, stage, b->t[s], n * sizeof *stage);
            if (!ks) ks = be->to_f16(be->ctx, d->own[s], stage, n);
            if (ks) { e = awq_kern_fail(ks, "experts' weights to fp16"); break; }
            d->w.w[s] = (kern_weight){d->own[s], KERN_F16};
            g_experts_f16_uploads++;
            continue;
        }
        const void *v = b->t[s]; /* a block in this backend's memory already: used as it is */
        if (b->be != be) e = awq_dev_view(be, b->t[s], n * sizeof(float), &v, &f32->own[s]);
        if (e) break;
        f32->t[s] = v;
        /* the experts stay fp32 only: moe.c makes a batch's fp16 copies when it runs them, so the
         * block takes 4 bytes a parameter, not 6 (docs/AWQ.md, memory of a MoE block) */
        if (!as_f16 || s >= AWQ_SLOT__FIXED) { d->w.w[s] = (kern_weight){v, KERN_F32}; continue; }
        if ((e = awq_dev_alloc(be, &d->own[s], n * 2))) break;
        kern_status ks = be->to_f16(be->ctx, d->own[s], v, n);
        if (ks) { e = awq_kern_fail(ks, "weights to fp16"); break; }
        d->w.w[s] = (kern_weight){d->own[s], KERN_F16};
    }
    awq_dev_free(be, stage);
    if (e) {
        dev_block_free(be, d);
        for (int s = 0; s < AWQ_SLOT__COUNT; s++) awq_dev_release(be, f32->own[s]);
        memset(f32, 0, sizeof *f32);
    }
    return e;
}

static void dev_block_f32_free(const awq_backend *be, dev_block_f32 *f)
{
    for (int s = 0; s < AWQ_SLOT__COUNT; s++) awq_dev_release(be, f->own[s]);
    memset(f, 0, sizeof *f);
}

/* Inputs of every linear of block b on x (backend memory, each [N, width]; a mixture-of-experts
 * block's down_in [N * k, Fe] with its routes on the host, forward.h). */
typedef struct feats_buf { float *f[AWQ_FEAT__COUNT]; awq_route *routes; size_t down_rows; int moe; } feats_buf;

static void feats_free(const awq_backend *be, feats_buf *fb)
{
    for (int i = 0; i < AWQ_FEAT__COUNT; i++) { awq_dev_free(be, fb->f[i]); fb->f[i] = NULL; }
    free(fb->routes);
    fb->routes = NULL;
}

/* the same buffers in host memory (search_chunked) */
static void host_feats_free(feats_buf *fb)
{
    for (int i = 0; i < AWQ_FEAT__COUNT; i++) { free(fb->f[i]); fb->f[i] = NULL; }
    free(fb->routes);
    fb->routes = NULL;
}

static awq_err compute_feats(awq_fwd *f, const awq_config *c, const dev_block *b, const float *x, feats_buf *fb)
{
    const awq_backend *be = f->be;
    const size_t N = (size_t)f->n_seq * (size_t)f->seqlen;
    memset(fb, 0, sizeof *fb);
    fb->moe = b->w.w[AWQ_W_ROUTER].data != NULL;
    fb->down_rows = fb->moe ? N * (size_t)c->n_experts_per_tok : N;
    awq_err e = AWQ_OK;
    for (int i = 0; i < AWQ_FEAT__COUNT && !e; i++)
        if (feat_present(c, (awq_feat)i, fb->moe))
            e = awq_dev_alloc(be, (void **)&fb->f[i],
                              (i == AWQ_FEAT_DOWN_IN ? fb->down_rows : N) * awq_feat_width(c, (awq_feat)i, fb->moe) * sizeof(float));
    if (!e && fb->moe && !(fb->routes = malloc(fb->down_rows * sizeof *fb->routes)))
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory for the routing");
    awq_feats ft = {fb->f[0], fb->f[1], fb->f[2], fb->f[3], fb->routes, fb->f[AWQ_FEAT_Q_B_IN], fb->f[AWQ_FEAT_KV_B_IN],
                    fb->f[AWQ_FEAT_SHARED_DOWN_IN]};
    if (!e) e = awq_block_forward(f, &b->w, x, NULL, &ft); /* the feats only: no block output needed */
    if (e) feats_free(be, fb);
    return e;
}

/* The rows of expert e among a mixture-of-experts block's down_in rows, in AutoAWQ's order
 * (transformers 4.51's torch.where over [k, tokens] for Mixtral and Qwen3-MoE: the tokens that
 * chose it first, ascending, then those that chose it second, ...; over [tokens, k] for
 * DeepSeek-V3, by_token: its tokens ascending): pos[] (host, caller-sized [down_rows]) gets their
 * indices into down_in; the count is returned. */
static size_t expert_rows(const feats_buf *fb, int e, int k, int by_token, int32_t *pos)
{
    size_t n = 0;
    if (by_token) {
        for (size_t r = 0; r < fb->down_rows; r++)
            if (fb->routes[r].expert == e) pos[n++] = (int32_t)r;
        for (size_t i = 1; i < n; i++) /* a pass's rows are grouped by expert: sort by token */
            for (size_t j = i; j > 0 && fb->routes[pos[j - 1]].token > fb->routes[pos[j]].token; j--) {
                int32_t t = pos[j]; pos[j] = pos[j - 1]; pos[j - 1] = t;
            }
        return n;
    }
    for (int slot = 0; slot < k; slot++) {
        size_t first = n;
        for (size_t r = 0; r < fb->down_rows; r++)
            if (fb->routes[r].expert == e && fb->routes[r].slot == slot) pos[n++] = (int32_t)r;
        /* routes are grouped by expert per pass, tokens ascending: sort this slot's rows by token */
        for (size_t i = first + 1; i < n; i++)
            for (size_t j = i; j > first && fb->routes[pos[j - 1]].token > fb->routes[pos[j]].token; j--) {
                int32_t t = pos[j]; pos[j] = pos[j - 1]; pos[j - 1] = t;
            }
    }
    return n;
}

/* dst [n, w] (backend) = the rows idx[] (host) of src [m, w] (backend): the embed op as a gather. */
static awq_err gather_rows(const awq_backend *be, float *dst, const float *src, size_t m, size_t w, const int32_t *idx,
                           size_t n)
{
    const void *d_idx = NULL;
    void *own = NULL;
    awq_err e = awq_dev_view(be, idx, n * sizeof *idx, &d_idx, &own);
    kern_status ks = e ? KERN_OK : be->embed(be->ctx, dst, d_idx, (kern_weight){src, KERN_F32}, n, w, m);
    awq_dev_release(be, own);
    return e ? e : ks ? awq_kern_fail(ks, "gather an expert's rows") : AWQ_OK;
}

/* out = the group's module2inspect on its input (N rows), with weights w. */
static awq_err run_inspect(awq_fwd *f, const awq_sgroup *g, const awq_block_w *w, const float *in, float *out, size_t N)
{
    const awq_backend *be = f->be;
    switch (g->inspect) {
    case AWQ_INSPECT_ATTN:
    case AWQ_INSPECT_MLP: { /* the modules run on whole sequences: N / seqlen of them (a chunk of the search) */
        const int all = f->n_seq;
        f->n_seq = (int)(N / (size_t)f->seqlen);
        awq_err e = g->inspect == AWQ_INSPECT_ATTN ? awq_attn_forward(f, w, in, out)
                                                   : awq_mlp_forward(f, w, in, out); /* the experts' module in a MoE block */
        f->n_seq = all;
        return e;
    }
    case AWQ_INSPECT_LINEAR: {
        /* out [N, O] = in [N, I] W^T + b; the layer's shape from the config */
        awq_slot L = g->layers[0];
        const awq_config *c = f->cfg;
        size_t I = awq_feat_width(c, g->feat, g->expert >= 0), O = linear_out(c, L);
        KCHECK(be->matmul(be->ctx, out, in, w->w[L], bias_w(w, L), N, O, I, f->round_f16), "inspect linear");
        return AWQ_OK;
    }
    }
    return awq_fail(AWQ_ERR_ARG, "internal: bad inspect kind");
}

static size_t inspect_width(const awq_config *c, const awq_sgroup *g)
{
    /* the attention and mlp modules output [N, C]; a one-linear group its out_features */
    return g->inspect == AWQ_INSPECT_LINEAR ? linear_out(c, g->layers[0]) : (size_t)c->hidden_size;
}

/* The all-experts group's pseudo-quantized gate/up, a batch of experts at a time (f->expert_w):
 * at each grid point the MoE forward asks for each batch once (awq_moe_forward), so only
 * AWQ_EXPERT_BATCH experts' W' exist at once instead of every expert's. */
typedef struct expert_q {
    const awq_backend *be;
    const awq_params *p;
    const dev_block_f32 *f32;
    const dev_block *dev;
    float *w32;         /* an expert's fp32 weight when the block keeps its experts in fp16 only */
    const float *s_d;   /* this grid point's scales (backend) */
    size_t o, i;        /* each gate/up is [o = Fe, i = C] */
    int n;              /* buffers for n experts */
    float **wq;         /* [2n] W' in fp32 */
    uint16_t **wq16;    /* [2n] and as fp16 (faithful mode) */
} expert_q;

static awq_err expert_q_weights(void *ctx, int e0, int e1, kern_weight *gate, kern_weight *up, kern_weight *down)
{
    expert_q *q = ctx;
    const awq_backend *be = q->be;
    const int r16 = q->p->round_f16;
    (void)down;
    if (e1 - e0 > q->n) return awq_fail(AWQ_ERR_ARG, "internal: a batch of %d experts for %d buffers", e1 - e0, q->n);
    for (int e = e0; e < e1; e++)
        for (int part = 0; part < 2; part++) {
            const int b = 2 * (e - e0) + part;
            awq_slot L = AWQ_SLOT_EXPERT(e, part ? AWQ_EXPERT_UP : AWQ_EXPERT_GATE);
            const float *w = q->f32->t[L];
            kern_status ks = KERN_OK;
            if (!w) ks = be->to_f32(be->ctx, q->w32, q->dev->w.w[L], q->o * q->i), w = q->w32; /* exact */
            if (!ks) ks = be->quantize(be->ctx, q->wq[b], NULL, NULL, NULL, w, q->s_d, q->o, q->i, q->p->group, q->p->w_bit, r16);
            if (!ks && r16) ks = be->to_f16(be->ctx, q->wq16[b], q->wq[b], q->o * q->i); /* exact: fp16 values */
            if (ks) return awq_kern_fail(ks, "pseudo-quantize an expert");
            (part ? up : gate)[e - e0] = r16 ? (kern_weight){q->wq16[b], KERN_F16} : (kern_weight){q->wq[b], KERN_F32};
        }
    return AWQ_OK;
}

/* One group's grid search (spec §2.6). Everything big stays in backend memory; per grid point
 * only the scale vector goes up and one loss value comes back. orig: host copy (shapes, w_mean
 * is computed on dev); dev: its backend weights; x: the group's input in backend memory. */
static awq_err search_group(awq_fwd *f, const awq_config *c, const awq_params *p, const awq_block_f32 *orig,
                            const dev_block *dev, const dev_block_f32 *f32, const awq_sgroup *g, const float *x, size_t N,
                            size_t chunk, awq_scale_result *r)
{
    /* chunk: rows of a trial forward at once (0 or >= N: all); the loss adds the same partial sums
     * in the same order either way (sq_diff's slabs, chunk * OW a multiple of them), so only the
     * memory of the trial output changes */
    if (!chunk || chunk > N) chunk = N;
    const awq_backend *be = f->be;
    const size_t I = awq_feat_width(c, g->feat, g->expert >= 0 || g->all_experts), OW = inspect_width(c, g);
    const int r16 = p->round_f16, nl = g->n_layers;
    memset(r, 0, sizeof *r);
    r->group = *g;
    r->n = I;
    r->n_grid = p->n_grid;
    r->best = -1;
    float *ref = NULL, *out = NULL, *xs_d = NULL, *wm_d = NULL, *s_d = NULL;
    float **wq = calloc((size_t)nl, sizeof *wq);
    uint16_t **wq16 = calloc((size_t)nl, sizeof *wq16); /* fp16 numerics: the pseudo-quantized weights as F16 */
    /* the all-experts group: the experts' gate/up go through expert_q a batch at a time */
    const int nq = g->all_experts ? f->expert_batch : 0;
    expert_q eq = {be, p, f32, dev, NULL, NULL, (size_t)c->moe_intermediate_size, (size_t)c->hidden_size, nq,
                   nq ? calloc(2 * (size_t)nq, sizeof(float *)) : NULL, nq ? calloc(2 * (size_t)nq, sizeof(uint16_t *)) : NULL};
    /* the group's weights in fp32 (what the quantizer and w_mean read): the block's, or, for an
     * expert the block keeps in fp16 only, a copy made here (one expert's down_proj: its own group) */
    const float **w32 = calloc((size_t)nl, sizeof *w32);
    float **w32_own = calloc((size_t)nl, sizeof *w32_own);
    float *xs = malloc(I * sizeof *xs), *wm = NULL, *s = malloc(I * sizeof *s);
    r->s = calloc(I, sizeof *r->s);
    r->losses = malloc((size_t)p->n_grid * sizeof *r->losses);
    awq_err e = (!xs || !s || !r->s || !r->losses || !wq || !wq16 || !w32 || !w32_own || (nq && (!eq.wq || !eq.wq16)))
                    ? awq_fail(AWQ_ERR_NOMEM, "out of memory in the scale search") : AWQ_OK;
    if (!e) e = awq_dev_alloc(be, (void **)&ref, N * OW * sizeof(float));
    if (!e) e = awq_dev_alloc(be, (void **)&out, (chunk ? chunk : 1) * OW * sizeof(float));
    if (!e) e = awq_dev_alloc(be, (void **)&xs_d, I * sizeof(float));
    if (!e) e = awq_dev_alloc(be, (void **)&s_d, I * sizeof(float));
    for (int l = 0; !e && l < nl; l++) {
        size_t numel = awq_block_f32_numel(orig, awq_sgroup_layer(g, l));
        if (!numel) { e = awq_fail(AWQ_ERR_FORMAT, "scale group '%s': the block lacks a layer", g->prev_name); break; }
        const awq_slot L = awq_sgroup_layer(g, l);
        if (nq && L >= AWQ_SLOT__FIXED) { /* an expert's: expert_q's buffers */
            if (!f32->t[L] && !eq.w32) e = awq_dev_alloc(be, (void **)&eq.w32, eq.o * eq.i * sizeof(float));
            continue;
        }
        e = awq_dev_alloc(be, (void **)&wq[l], numel * sizeof(float));
        if (!e && r16) e = awq_dev_alloc(be, (void **)&wq16[l], numel * 2);
        if (!e && !(w32[l] = f32->t[L])) {
            kern_status ks0 = KERN_OK;
            e = awq_dev_alloc(be, (void **)&w32_own[l], numel * sizeof(float));
            if (!e && (ks0 = be->to_f32(be->ctx, w32_own[l], dev->w.w[L], numel))) e = awq_kern_fail(ks0, "an expert's weights to fp32");
            w32[l] = w32_own[l];
        }
    }
    for (int b = 0; !e && b < 2 * nq; b++) {
        e = awq_dev_alloc(be, (void **)&eq.wq[b], eq.o * eq.i * sizeof(float));
        if (!e && r16) e = awq_dev_alloc(be, (void **)&eq.wq16[b], eq.o * eq.i * 2);
    }
    /* the reference forward's weights: an expert's down_proj is fp32 on the block (dev_block_upload);
     * on a device in the faithful mode it goes to fp16 here, as the grid's W' do, so that both
     * forwards take the same GEMM path */
    awq_block_w wref = dev->w;
    for (int l = 0; !e && l < nl; l++) {
        awq_slot L = awq_sgroup_layer(g, l);
        if (!wq16[l] || wref.w[L].dtype != KERN_F32 || (be->caps & KERN_CAP_HOST_COMPUTE)) continue;
        kern_status ks0 = be->to_f16(be->ctx, wq16[l], w32[l], awq_block_f32_numel(orig, L));
        if (ks0) e = awq_kern_fail(ks0, "weights to fp16");
        wref.w[L] = (kern_weight){wq16[l], KERN_F16};
    }
    kern_status ks = KERN_OK;
    /* x is read by every grid point's forward: the device keeps it as fp16 once instead of each
     * GEMM converting it (the same bits; without room for the copy the GEMMs convert as before) */
    const int pinned = !e && r16 && chunk == N && be->pin_f16(be->ctx, x, N * I) == KERN_OK;
    /* ref = M(x) with the original weights; xs = mean |x| per input channel */
    if (!e) e = run_inspect(f, g, &wref, x, ref, N);
    if (!e && (ks = be->mean_abs(be->ctx, xs_d, x, N, I, r16))) e = awq_kern_fail(ks, "mean |x|");
    if (!e) e = awq_dev_fetch(be, xs, xs_d, I * sizeof *xs);
    if (!e && p->duo) {
        const float **mats = malloc((size_t)nl * sizeof *mats);
        size_t *rows = malloc((size_t)nl * sizeof *rows);
        int on_host = 0; /* experts kept in fp16 only: their fp32 is on the host (orig) */
        if (!mats || !rows || !(wm = malloc(I * sizeof *wm))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        for (int l = 0; !e && l < nl; l++) {
            awq_slot L = awq_sgroup_layer(g, l);
            mats[l] = (nq && L >= AWQ_SLOT__FIXED) ? f32->t[L] : w32[l], rows[l] = (size_t)orig->shape[L][0];
            on_host |= !mats[l];
        }
        if (!e && on_host && (orig->be || !r16))
            e = awq_fail(AWQ_ERR_ARG, "internal: experts in fp16 only need the block's host copy in fp16 numerics");
        if (!e && on_host) {
            /* every expert's gate/up at once would need their fp32 on the device; the statistic is
             * the same bits on the CPU: in fp16 numerics each term is an fp16 value and the fp64
             * sums are exact in any order (test_backends w_mean; test_moe experts_f16_only) */
            const awq_backend *cpu = awq_backend_cpu();
            for (int l = 0; l < nl; l++) mats[l] = orig->t[awq_sgroup_layer(g, l)];
            if ((ks = cpu->w_mean(cpu->ctx, wm, mats, rows, (size_t)nl, I, p->group, r16)))
                e = awq_kern_fail(ks, "weight statistic (duo scaling)");
        } else {
            if (!e) e = awq_dev_alloc(be, (void **)&wm_d, I * sizeof(float));
            if (!e && (ks = be->w_mean(be->ctx, wm_d, mats, rows, (size_t)nl, I, p->group, r16)))
                e = awq_kern_fail(ks, "weight statistic (duo scaling)");
            if (!e) e = awq_dev_fetch(be, wm, wm_d, I * sizeof *wm);
        }
        free(mats), free(rows);
    }
    awq_prof_dev(be, "scale: reference forward, stats");
    double best_err = INFINITY;
    for (int k = 0; !e && k < p->n_grid; k++) {
        double ratio = (double)k / (double)p->n_grid;
        if ((ks = kern_scale_formula(s, xs, wm, I, ratio, r16, p->autoawq))) { e = awq_kern_fail(ks, "scale formula"); break; }
        if ((ks = be->upload(be->ctx, s_d, s, I * sizeof *s))) { e = awq_kern_fail(ks, "upload scales"); break; }
        /* W'_L = h(Q(h(W_L * s)) / s) for the group's layers only; every other weight original */
        awq_block_w wk = dev->w;
        eq.s_d = s_d;
        for (int l = 0; !e && l < nl; l++) {
            awq_slot L = awq_sgroup_layer(g, l);
            if (nq && L >= AWQ_SLOT__FIXED) continue; /* expert_q, during the forward */
            size_t rows = (size_t)orig->shape[L][0], cols = (size_t)orig->shape[L][1];
            ks = be->quantize(be->ctx, wq[l], NULL, NULL, NULL, w32[l], s_d, rows, cols, p->group, p->w_bit, r16);
            if (!ks && r16) ks = be->to_f16(be->ctx, wq16[l], wq[l], rows * cols); /* exact: fp16 values */
            if (ks) e = awq_kern_fail(ks, "pseudo-quantize");
            wk.w[L] = r16 ? (kern_weight){wq16[l], KERN_F16} : (kern_weight){wq[l], KERN_F32};
        }
        awq_prof_dev(be, "scale grid: pseudo-quantize");
        if (nq) f->expert_w = expert_q_weights, f->expert_w_ctx = &eq; /* each trial forward asks for W' a batch at a time */
        /* err = mean over all elements of fp32(h(ref - out))^2 (spec §2.6, pitfall 8); AutoAWQ
         * clamps both outputs to the fp16 range first */
        double acc = 0;
        for (size_t r0 = 0; !e && r0 < N; r0 += chunk) {
            const size_t n = N - r0 < chunk ? N - r0 : chunk;
            e = run_inspect(f, g, &wk, x + r0 * I, out, n);
            awq_prof_dev(be, "scale grid: module forward");
            if (!e && (ks = be->sq_diff(be->ctx, &acc, ref + r0 * OW, out, n * OW, r16, p->autoawq))) e = awq_kern_fail(ks, "loss");
        }
        f->expert_w = NULL, f->expert_w_ctx = NULL;
        if (e) break;
        awq_prof_dev(be, "scale grid: loss");
        double err = acc / (double)(N * OW);
        r->losses[k] = (float)err;
        if (err < best_err) { /* strict <: ties keep the smaller ratio; NaN never wins */
            best_err = err;
            r->best = k;
            memcpy(r->s, s, I * sizeof *s);
        }
    }
    if (!e && r->best < 0) {
        e = awq_fail(AWQ_ERR_NUMERIC, "scale search of group '%s': no grid point has a finite loss", g->prev_name);
        /* the weights were checked by the plan: it is the block's outputs that overflow, which
         * fp32 may hold; already in fp32, no setting helps */
        if (r16) awq_hint("the block's outputs overflow fp16; %s computes them in fp32", AWQ_SAY("numerics", "fp32"));
    }
    if (pinned) be->unpin_f16(be->ctx, x);
    for (int l = 0; l < nl && wq && wq16; l++) { awq_dev_free(be, wq[l]); awq_dev_free(be, wq16[l]); }
    for (int b = 0; b < 2 * nq && eq.wq && eq.wq16; b++) { awq_dev_free(be, eq.wq[b]); awq_dev_free(be, eq.wq16[b]); }
    for (int l = 0; l < nl && w32_own; l++) awq_dev_free(be, w32_own[l]);
    awq_dev_free(be, eq.w32);
    free(wq), free(wq16), free(eq.wq), free(eq.wq16), free(w32), free(w32_own);
    awq_dev_free(be, ref); awq_dev_free(be, out); awq_dev_free(be, xs_d); awq_dev_free(be, wm_d); awq_dev_free(be, s_d);
    free(xs); free(wm); free(s);
    if (e) { free(r->s); free(r->losses); r->s = NULL; r->losses = NULL; }
    return e;
}

awq_err awq_search_group(const awq_backend *be, const awq_config *cfg, const awq_params *p, const awq_block_f32 *orig,
                         const awq_sgroup *g, const float *x, int n_seq, int seqlen, awq_scale_result *r)
{
    awq_fwd f;
    dev_block dev;
    dev_block_f32 f32;
    const void *xd = NULL;
    void *xown = NULL;
    const size_t N = (size_t)n_seq * (size_t)seqlen;
    size_t xbytes = N * awq_feat_width(cfg, g->feat, g->expert >= 0 || g->all_experts) * sizeof(float);
    awq_err e = awq_fwd_init(&f, be, cfg, n_seq, seqlen, p->round_f16, 0);
    if (e) return e;
    e = dev_block_upload(be, orig, p->round_f16, &dev, &f32);
    if (!e) e = awq_dev_view(be, x, xbytes, &xd, &xown);
    if (!e) e = search_group(&f, cfg, p, orig, &dev, &f32, g, xd, N, 0, r);
    awq_dev_release(be, xown);
    dev_block_free(be, &dev);
    dev_block_f32_free(be, &f32);
    awq_fwd_free(&f);
    return e;
}

/* A block on the backend with the inputs of its linears computed from the block input x (backend
 * memory): what the scale search and the clip inputs start from. On error everything is released. */
typedef struct block_run { awq_fwd f; dev_block dev; dev_block_f32 f32; feats_buf fb; } block_run;

static void block_run_free(const awq_backend *be, block_run *br)
{
    feats_free(be, &br->fb);
    dev_block_free(be, &br->dev);
    dev_block_f32_free(be, &br->f32);
    awq_fwd_free(&br->f);
}

static awq_err block_run_init(const awq_backend *be, const awq_config *cfg, const awq_params *p, const awq_block_f32 *b,
                              const float *x, int n_seq, int seqlen, block_run *br)
{
    memset(br, 0, sizeof *br);
    awq_err e = awq_fwd_init(&br->f, be, cfg, n_seq, seqlen, p->round_f16, 0);
    if (e) return e;
    awq_prof_dev(be, "block: (before)");
    e = dev_block_upload(be, b, p->round_f16, &br->dev, &br->f32);
    awq_prof_dev(be, "block: upload weights");
    if (!e) e = compute_feats(&br->f, cfg, &br->dev, x, &br->fb);
    awq_prof_dev(be, "block: forward with feats");
    if (e) block_run_free(be, br);
    return e;
}

/* Rows 0, step, ..., (T-1)*step of the [N, w] backend array src into host dst [T, w]. */
static awq_err fetch_rows(const awq_backend *be, float *dst, const float *src, size_t w, size_t step, size_t T)
{
    if (step == 1) return awq_dev_fetch(be, dst, src, T * w * sizeof *dst);
    float *rows = NULL;
    awq_err e = awq_dev_alloc(be, (void **)&rows, T * w * sizeof *rows);
    for (size_t t = 0; !e && t < T; t++) {
        kern_status ks = be->copy(be->ctx, rows + t * w, src + t * step * w, w * sizeof *rows);
        if (ks) e = awq_kern_fail(ks, "gather sampled rows");
    }
    if (!e) e = awq_dev_fetch(be, dst, rows, T * w * sizeof *dst);
    awq_dev_free(be, rows);
    return e;
}

/* The clip inputs of a block run (spec §2.8): the sampled rows of the dense feats, and of each
 * expert the sampled rows of its tokens' gate/up and down_proj inputs. An expert without tokens
 * is an error (its inputs are empty; AutoAWQ asserts there). */
static awq_err fill_clip_in(const awq_backend *be, const awq_config *cfg, const awq_params *p, const block_run *br,
                            awq_clip_in *ci)
{
    const feats_buf *fb = &br->fb;
    const size_t N = (size_t)br->f.n_seq * (size_t)br->f.seqlen, C = (size_t)cfg->hidden_size;
    const int E = fb->moe ? cfg->n_experts : 0, K = cfg->n_experts_per_tok;
    size_t T, step;
    awq_clip_rows(N, p, &T, &step);
    awq_err e = awq_clip_in_alloc(ci, cfg, E, T, step);
    for (int i = 0; i < AWQ_FEAT__COUNT && !e; i++)
        if (ci->width[i]) e = fetch_rows(be, ci->f[i], fb->f[i], ci->width[i], ci->step, ci->T);
    int32_t *pos = E ? malloc(fb->down_rows * sizeof *pos) : NULL, *tok = E ? malloc(fb->down_rows * sizeof *tok) : NULL;
    float *rows_d = NULL;
    const size_t Fe = (size_t)cfg->moe_intermediate_size, wmax = C > Fe ? C : Fe;
    if (!e && E && (!pos || !tok)) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e && E) e = awq_dev_alloc(be, (void **)&rows_d, N * wmax * sizeof(float)); /* an expert has at most N tokens */
    for (int ex = 0; ex < E && !e; ex++) {
        size_t n = expert_rows(fb, ex, K, cfg->arch == AWQ_ARCH_DEEPSEEK_V3, pos);
        if (!n) {
            e = awq_fail(AWQ_ERR_NUMERIC, "expert %d received none of the %zu calibration tokens, so AWQ has no inputs for it", ex, N);
            awq_hint("calibrate on more (or more varied) text: more N_SAMPLES or another CALIB (AutoAWQ stops here too)");
            break;
        }
        size_t Te, ste;
        awq_clip_rows(n, p, &Te, &ste);
        if ((e = awq_clip_in_alloc_expert(ci, cfg, ex, n, Te, ste))) break;
        /* the kept rows: i * step of the ordered list; gate/up read the tokens' mlp_in rows */
        size_t m = 0;
        for (size_t i = 0; i < n; i += ste) tok[m] = fb->routes[pos[i]].token, pos[m] = pos[i], m++;
        awq_clip_expert *x = &ci->ex[ex];
        if (!e) e = gather_rows(be, rows_d, fb->f[2], N, C, tok, m);
        if (!e) e = awq_dev_fetch(be, x->in, rows_d, m * C * sizeof(float));
        if (!e) e = gather_rows(be, rows_d, fb->f[3], fb->down_rows, Fe, pos, m);
        if (!e) e = awq_dev_fetch(be, x->down, rows_d, m * Fe * sizeof(float));
    }
    awq_dev_free(be, rows_d);
    free(pos), free(tok);
    if (e) awq_clip_in_free(ci);
    return e;
}

static awq_err search_whole(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                            const awq_block_f32 *orig, const float *x, int n_seq, int seqlen,
                            awq_scale_result res[AWQ_MAX_GROUPS], int *n_res, awq_clip_in *clip_in)
{
    *n_res = 0;
    awq_sgroup groups[AWQ_MAX_GROUPS];
    const int E = awq_block_experts(orig), ng = awq_scale_groups(cfg, E, groups);
    const size_t N = (size_t)n_seq * (size_t)seqlen;
    block_run br;
    awq_err e = block_run_init(be, cfg, p, orig, x, n_seq, seqlen, &br);
    if (e) return e;
    /* the clip search's rows of the captured inputs, before the search reuses its memory (this
     * also stops at an expert no token chose, before any search) */
    if (clip_in) {
        e = fill_clip_in(be, cfg, p, &br, clip_in);
        awq_prof_dev(be, "scale: clip inputs (sampled rows)");
    }
    int32_t *pos = E ? malloc(br.fb.down_rows * sizeof *pos) : NULL;
    float *xe = NULL; /* an expert's down_proj inputs, gathered */
    if (!e && E && !pos) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    /* an expert has at most N tokens (each token chooses it at most once) */
    if (!e && E) e = awq_dev_alloc(be, (void **)&xe, N * (size_t)cfg->moe_intermediate_size * sizeof(float));
    for (int i = 0; !e && i < ng; i++) {
        double t0 = awq_now();
        const awq_sgroup *g = &groups[i];
        const float *in = br.fb.f[g->feat];
        size_t rows = N;
        if (g->expert >= 0) { /* the rows of its tokens, in AutoAWQ's order */
            rows = expert_rows(&br.fb, g->expert, cfg->n_experts_per_tok, cfg->arch == AWQ_ARCH_DEEPSEEK_V3, pos);
            if (!rows) {
                e = awq_fail(AWQ_ERR_NUMERIC, "expert %d received none of the %zu calibration tokens, so AWQ has no inputs for it",
                             g->expert, N);
                awq_hint("calibrate on more (or more varied) text: more N_SAMPLES or another CALIB (AutoAWQ stops here too)");
                break;
            }
            e = gather_rows(be, xe, br.fb.f[3], br.fb.down_rows, (size_t)cfg->moe_intermediate_size, pos, rows);
            in = xe;
        }
        if (!e) e = search_group(&br.f, cfg, p, orig, &br.dev, &br.f32, g, in, rows, 0, &res[i]);
        if (!e) {
            *n_res = i + 1;
            awq_verbose("group %-25s best ratio %2d/%d loss %.6g (%.2f s)", g->prev_name, res[i].best, p->n_grid,
                        (double)res[i].losses[res[i].best], awq_now() - t0);
        }
    }
    awq_dev_free(be, xe);
    free(pos);
    block_run_free(be, &br);
    if (e) {
        awq_scale_results_free(res, *n_res);
        *n_res = 0;
        if (clip_in) awq_clip_in_free(clip_in);
    }
    return e;
}

/* ---- a scale search within a memory budget: the tokens in chunks ----------------------------
 * When the whole search does not fit (memest.h), the block's forward runs on `rows` tokens at a
 * time and the linears' inputs go to the host; each group then holds its own input (all tokens),
 * its reference output and the trial output of one chunk. The forward's passes are the same as a
 * whole search's (rows is a multiple of them), every loss adds the same sq_diff slabs in the same
 * order, and mean |x|, the reference and the routing see the same rows: the same scales, losses
 * and clip inputs, bit for bit, whatever the budget (test_awq: chunked_search). */

/* Rows of a chunk for a budget: a multiple of the forward's pass, so that every GEMM sees the row
 * counts of the whole search, whose sq_diff pieces start on slab boundaries for every group's
 * output width (and on the CPU matmul's 256-row tiles), as many as fit; 0 when no chunk smaller
 * than all the tokens exists. A dense block whose one pass is all the tokens (a small model: the
 * pass is ~1 GiB of scratch) is cut into whole sequences instead: its GEMMs are per row, the
 * same bits on the CPU (test_awq chunked_search); an experts' block is not, since each expert's
 * GEMM would see another count of rows. */
static size_t chunk_rows(const awq_config *c, int E, int n_seq, int seqlen, int r16, int gpu, double budget)
{
    const int cs = awq_fwd_chunk_seqs(c, n_seq, seqlen);
    if (cs >= n_seq && E) return 0;
    size_t unit = (size_t)(cs < n_seq ? cs : 1) * (size_t)seqlen;
    awq_sgroup groups[AWQ_MAX_GROUPS];
    const int ng = awq_scale_groups(c, E, groups);
    for (int m = 1; m <= 65536; m *= 2) { /* slabs are 65536 = 2^16 elements: a power of two suffices */
        int ok = unit * (size_t)m % 256 == 0;
        for (int i = 0; i < ng && ok; i++) ok = (unit * (size_t)m * inspect_width(c, &groups[i])) % 65536 == 0;
        if (ok) { unit *= (size_t)m; break; }
        if (m == 65536) return 0;
    }
    const size_t N = (size_t)n_seq * (size_t)seqlen;
    if (unit >= N) return 0;
    size_t rows = unit;
    while (rows + unit < N && awq_mem_chunked(c, E, 0, n_seq, seqlen, r16, gpu, (long)(rows + unit)) <= budget) rows += unit;
    return rows;
}

/* The linears' inputs of every token on the host, computed `rows` at a time (feats_buf's
 * layout: a MoE block's down_in rows chunk after chunk, routes with the tokens' global index). */
static awq_err host_feats(awq_fwd *f, const awq_config *c, const dev_block *b, const float *x, size_t rows, feats_buf *hf)
{
    const awq_backend *be = f->be;
    const size_t N = (size_t)f->n_seq * (size_t)f->seqlen, C = (size_t)c->hidden_size;
    const int all = f->n_seq, moe = b->w.w[AWQ_W_ROUTER].data != NULL;
    const size_t k = moe ? (size_t)c->n_experts_per_tok : 1;
    memset(hf, 0, sizeof *hf);
    hf->moe = moe;
    hf->down_rows = N * k;
    feats_buf d = {0};
    awq_err e = AWQ_OK;
    for (int i = 0; i < AWQ_FEAT__COUNT && !e; i++) {
        if (!feat_present(c, (awq_feat)i, moe)) continue;
        const size_t w = awq_feat_width(c, (awq_feat)i, moe), per = i == AWQ_FEAT_DOWN_IN ? k : 1;
        if (!(hf->f[i] = malloc(N * per * w * sizeof(float)))) e = awq_fail(AWQ_ERR_NOMEM, "out of host memory for the block's feats");
        if (!e) e = awq_dev_alloc(be, (void **)&d.f[i], rows * per * w * sizeof(float));
    }
    if (!e && moe && !(hf->routes = malloc(hf->down_rows * sizeof *hf->routes))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory for the routing");
    for (size_t r0 = 0; !e && r0 < N; r0 += rows) {
        const size_t n = N - r0 < rows ? N - r0 : rows;
        f->n_seq = (int)(n / (size_t)f->seqlen);
        awq_feats ft = {d.f[0], d.f[1], d.f[2], d.f[3], moe ? hf->routes + r0 * k : NULL, d.f[AWQ_FEAT_Q_B_IN],
                        d.f[AWQ_FEAT_KV_B_IN], d.f[AWQ_FEAT_SHARED_DOWN_IN]};
        e = awq_block_forward(f, &b->w, x + r0 * C, NULL, &ft);
        f->n_seq = all;
        for (size_t r = 0; !e && moe && r < n * k; r++) hf->routes[r0 * k + r].token += (int32_t)r0;
        for (int i = 0; i < AWQ_FEAT__COUNT && !e; i++) {
            if (!hf->f[i]) continue;
            const size_t w = awq_feat_width(c, (awq_feat)i, moe), per = i == AWQ_FEAT_DOWN_IN ? k : 1;
            e = awq_dev_fetch(be, hf->f[i] + r0 * per * w, d.f[i], n * per * w * sizeof(float));
        }
    }
    for (int i = 0; i < AWQ_FEAT__COUNT; i++) awq_dev_free(be, d.f[i]);
    if (e) host_feats_free(hf);
    return e;
}

/* fill_clip_in's rows, from host feats */
static awq_err host_clip_in(const awq_config *cfg, const awq_params *p, const feats_buf *hf, size_t N, awq_clip_in *ci)
{
    const size_t C = (size_t)cfg->hidden_size, Fe = (size_t)cfg->moe_intermediate_size;
    const int E = hf->moe ? cfg->n_experts : 0, K = cfg->n_experts_per_tok;
    size_t T, step;
    awq_clip_rows(N, p, &T, &step);
    awq_err e = awq_clip_in_alloc(ci, cfg, E, T, step);
    for (int i = 0; i < AWQ_FEAT__COUNT && !e; i++)
        for (size_t t = 0; ci->width[i] && t < ci->T; t++)
            memcpy(ci->f[i] + t * ci->width[i], hf->f[i] + t * ci->step * ci->width[i], ci->width[i] * sizeof(float));
    int32_t *pos = E ? malloc(hf->down_rows * sizeof *pos) : NULL;
    if (!e && E && !pos) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int ex = 0; ex < E && !e; ex++) {
        size_t n = expert_rows(hf, ex, K, cfg->arch == AWQ_ARCH_DEEPSEEK_V3, pos);
        if (!n) {
            e = awq_fail(AWQ_ERR_NUMERIC, "expert %d received none of the %zu calibration tokens, so AWQ has no inputs for it", ex, N);
            awq_hint("calibrate on more (or more varied) text: more N_SAMPLES or another CALIB (AutoAWQ stops here too)");
            break;
        }
        size_t Te, ste, m = 0;
        awq_clip_rows(n, p, &Te, &ste);
        if ((e = awq_clip_in_alloc_expert(ci, cfg, ex, n, Te, ste))) break;
        for (size_t i = 0; i < n; i += ste, m++) {
            memcpy(ci->ex[ex].in + m * C, hf->f[AWQ_FEAT_MLP_IN] + (size_t)hf->routes[pos[i]].token * C, C * sizeof(float));
            memcpy(ci->ex[ex].down + m * Fe, hf->f[AWQ_FEAT_DOWN_IN] + (size_t)pos[i] * Fe, Fe * sizeof(float));
        }
    }
    free(pos);
    if (e) awq_clip_in_free(ci);
    return e;
}

static awq_err search_chunked(const awq_backend *be, const awq_config *cfg, const awq_params *p, const awq_block_f32 *orig,
                              const float *x, int n_seq, int seqlen, size_t rows, awq_scale_result res[AWQ_MAX_GROUPS],
                              int *n_res, awq_clip_in *clip_in)
{
    *n_res = 0;
    awq_sgroup groups[AWQ_MAX_GROUPS];
    const int E = awq_block_experts(orig), ng = awq_scale_groups(cfg, E, groups);
    const size_t N = (size_t)n_seq * (size_t)seqlen, Fe = (size_t)cfg->moe_intermediate_size;
    awq_fwd f;
    dev_block dev;
    dev_block_f32 f32;
    feats_buf hf = {0};
    awq_err e = awq_fwd_init(&f, be, cfg, n_seq, seqlen, p->round_f16, 0);
    if (e) return e;
    e = dev_block_upload(be, orig, p->round_f16, &dev, &f32);
    if (e) { awq_fwd_free(&f); return e; }
    awq_info("scale search in chunks of %zu of the %zu tokens (the whole search does not fit this step's memory)", rows, N);
    e = host_feats(&f, cfg, &dev, x, rows, &hf);
    awq_prof_dev(be, "scale: forward with feats, in chunks");
    if (!e && clip_in) e = host_clip_in(cfg, p, &hf, N, clip_in);
    int32_t *pos = E ? malloc(hf.down_rows * sizeof *pos) : NULL;
    float *xe = E ? malloc(N * Fe * sizeof *xe) : NULL; /* an expert's down_proj inputs (at most N rows) */
    if (!e && E && (!pos || !xe)) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int i = 0; !e && i < ng; i++) {
        double t0 = awq_now();
        const awq_sgroup *g = &groups[i];
        const float *in = hf.f[g->feat];
        size_t n = N;
        if (g->expert >= 0) { /* the rows of its tokens, in AutoAWQ's order */
            n = expert_rows(&hf, g->expert, cfg->n_experts_per_tok, cfg->arch == AWQ_ARCH_DEEPSEEK_V3, pos);
            if (!n) {
                e = awq_fail(AWQ_ERR_NUMERIC, "expert %d received none of the %zu calibration tokens, so AWQ has no inputs for it",
                             g->expert, N);
                awq_hint("calibrate on more (or more varied) text: more N_SAMPLES or another CALIB (AutoAWQ stops here too)");
                break;
            }
            for (size_t r = 0; r < n; r++) memcpy(xe + r * Fe, hf.f[AWQ_FEAT_DOWN_IN] + (size_t)pos[r] * Fe, Fe * sizeof(float));
            in = xe;
        }
        const void *ind = NULL;
        void *own = NULL;
        e = awq_dev_view(be, in, n * awq_feat_width(cfg, g->feat, g->expert >= 0 || g->all_experts) * sizeof(float), &ind, &own);
        if (!e) e = search_group(&f, cfg, p, orig, &dev, &f32, g, ind, n, rows, &res[i]);
        awq_dev_release(be, own);
        if (!e) {
            *n_res = i + 1;
            awq_verbose("group %-25s best ratio %2d/%d loss %.6g (%.2f s)", g->prev_name, res[i].best, p->n_grid,
                        (double)res[i].losses[res[i].best], awq_now() - t0);
        }
    }
    free(xe), free(pos);
    host_feats_free(&hf);
    dev_block_free(be, &dev);
    dev_block_f32_free(be, &f32);
    awq_fwd_free(&f);
    if (e) {
        awq_scale_results_free(res, *n_res);
        *n_res = 0;
        if (clip_in) awq_clip_in_free(clip_in);
    }
    return e;
}

size_t awq_search_chunk_rows(const awq_backend *be, const awq_config *cfg, int E, int n_seq, int seqlen, int r16,
                             double budget)
{
    if (budget <= 0) return 0;
    /* a CPU backend standing in for a device (DEVICES=cpu:N) was given units sized as one */
    const int gpu = !awq_backend_is_host(be) || awq_mem_simulated();
    awq_mem_need need;
    awq_mem_estimate(cfg, E, 0, n_seq, seqlen, r16, gpu, &need);
    return need.search > budget ? chunk_rows(cfg, E, n_seq, seqlen, r16, gpu, budget) : 0;
}

size_t awq_search_min_chunk(const awq_config *cfg, int E, int n_seq, int seqlen)
{
    return chunk_rows(cfg, E, n_seq, seqlen, 0, 0, 0); /* no budget: the loop adds nothing to the unit */
}

awq_err awq_search_scales_within(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                                 const awq_block_f32 *orig, const float *x, int n_seq, int seqlen, double budget,
                                 awq_scale_result res[AWQ_MAX_GROUPS], int *n_res, awq_clip_in *clip_in)
{
    const int E = awq_block_experts(orig);
    const size_t rows = awq_search_chunk_rows(be, cfg, E, n_seq, seqlen, p->round_f16, budget);
    if (rows) return search_chunked(be, cfg, p, orig, x, n_seq, seqlen, rows, res, n_res, clip_in);
    return search_whole(be, cfg, p, orig, x, n_seq, seqlen, res, n_res, clip_in);
}

awq_err awq_search_scales_chunked(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                                  const awq_block_f32 *orig, const float *x, int n_seq, int seqlen, size_t rows,
                                  awq_scale_result res[AWQ_MAX_GROUPS], int *n_res, awq_clip_in *clip_in)
{
    const size_t least = awq_search_min_chunk(cfg, awq_block_experts(orig), n_seq, seqlen);
    if (!least || !rows || rows % least || rows >= (size_t)n_seq * (size_t)seqlen)
        return awq_fail(AWQ_ERR_ARG, "internal: a scale search in chunks of %zu tokens (the smallest is %zu, of %d x %d)",
                        rows, least, n_seq, seqlen);
    return search_chunked(be, cfg, p, orig, x, n_seq, seqlen, rows, res, n_res, clip_in);
}

awq_err awq_search_scales(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                          const awq_block_f32 *orig, const float *x, int n_seq, int seqlen,
                          awq_scale_result res[AWQ_MAX_GROUPS], int *n_res, awq_clip_in *clip_in)
{
    return awq_search_scales_within(be, cfg, p, orig, x, n_seq, seqlen, 0, res, n_res, clip_in);
}


void awq_scale_results_free(awq_scale_result *res, int n)
{
    for (int i = 0; i < n; i++) { free(res[i].s); free(res[i].losses); res[i].s = NULL; res[i].losses = NULL; }
}

/* ---- applying scales (spec §2.7) ----------------------------------------------------------- */

/* One fold through the backend op (w and s in its memory; s is uploaded when it is not). */
static awq_err fold(const awq_backend *be, float *w, const float *s_host, size_t rows, size_t cols, int per_row, int r16)
{
    const void *s = NULL;
    void *own = NULL;
    awq_err e = awq_dev_view(be, s_host, (per_row ? rows : cols) * sizeof(float), &s, &own);
    kern_status ks = e ? KERN_OK : be->scale_weight(be->ctx, w, s, rows, cols, per_row, r16);
    awq_dev_release(be, own);
    return e ? e : ks ? awq_kern_fail(ks, "apply scales") : AWQ_OK;
}

/* Gemma's norm multiplies by (1 + w): dividing the norm by s takes w' = (1 + w) / s - 1, not w / s.
 * In fp16 each step is rounded as AutoAWQ's scale_ln_fcs computes it on the fp16 weight (w += 1;
 * w /= s; w -= 1): w' = h(h(h(1 + w) / s) - 1); in fp32 one expression. The few values of a norm
 * go through the host. */
static awq_err fold_1p(const awq_backend *be, float *w, const float *s, size_t n, int r16)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    kern_status ks = be->download(be->ctx, h, w, n * sizeof *h);
    for (size_t c = 0; !ks && c < n; c++)
        h[c] = r16 ? awq_round_f16(awq_round_f16(awq_round_f16(1.0f + h[c]) / s[c]) - 1.0f) : (1.0f + h[c]) / s[c] - 1.0f;
    if (!ks) ks = be->upload(be->ctx, w, h, n * sizeof *h);
    free(h);
    return ks ? awq_kern_fail(ks, "apply scales to a (1 + w) norm") : AWQ_OK;
}

awq_err awq_apply_scales(awq_block_f32 *b, const awq_scale_result *res, int n_res, int round_f16)
{
    /* on the device that holds the block, else on the host (the CPU op is the same arithmetic) */
    const awq_backend *be = b->be ? b->be : awq_backend_cpu();
    awq_err e = AWQ_OK;
    for (int gi = 0; !e && gi < n_res; gi++) {
        const awq_scale_result *r = &res[gi];
        const float *s = r->s;
        const size_t n = r->n;
        awq_slot prev = r->group.prev;
        float *pw = b->t[prev];
        if (!pw) return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': the block has no such tensor", r->group.prev_name);
        if (b->ndim[prev] == 1) { /* (a) a norm: weight[c] = h(weight[c] / s[c]) */
            if ((size_t)b->shape[prev][0] != n) return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': %zu scales for %lld channels", r->group.prev_name, n, (long long)b->shape[prev][0]);
            e = b->norm_1p ? fold_1p(be, pw, s, n, round_f16) : fold(be, pw, s, n, 1, 1, round_f16);
        } else { /* (b) a linear: its last n output rows (and bias entries) = h(. / s[row]) */
            size_t rows = (size_t)b->shape[prev][0], cols = (size_t)b->shape[prev][1];
            if (rows < n) return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': %zu scales for %zu rows", r->group.prev_name, n, rows);
            float *bias = bias_of(prev) < AWQ_SLOT__COUNT ? b->t[bias_of(prev)] : NULL;
            e = fold(be, pw + (rows - n) * cols, s, n, cols, 1, round_f16);
            if (!e && bias) e = fold(be, bias + (rows - n), s, n, 1, 1, round_f16);
        }
        for (int l = 0; !e && l < r->group.n_layers; l++) { /* next linears: W[o][c] = h(W[o][c] * s[c]) */
            awq_slot L = awq_sgroup_layer(&r->group, l);
            if (!b->t[L]) return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': the block lacks a layer", r->group.prev_name);
            size_t rows = (size_t)b->shape[L][0], cols = (size_t)b->shape[L][1];
            if (cols != n) return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': %zu scales for in_features %zu", r->group.prev_name, n, cols);
            e = fold(be, b->t[L], s, rows, cols, 0, round_f16);
        }
        /* The router reads the same normed input as the experts: its columns take the scales too,
         * so the routing of the scaled model is the original's (up to fp16 rounding). AutoAWQ
         * leaves it out and the saved model routes on x / s; llm-compressor folds it (#2451). */
        if (!e && r->group.all_experts && b->t[AWQ_W_ROUTER]) {
            size_t rows = (size_t)b->shape[AWQ_W_ROUTER][0], cols = (size_t)b->shape[AWQ_W_ROUTER][1];
            if (cols != n) return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': %zu scales for the router's %zu", r->group.prev_name, n, cols);
            e = fold(be, b->t[AWQ_W_ROUTER], s, rows, cols, 0, round_f16);
        }
    }
    return e;
}

/* ---- clip search (spec §2.8) ---------------------------------------------------------------- */

int awq_block_linears(const awq_block_f32 *b, awq_slot out[AWQ_MAX_LINEARS])
{
    int n = 0;
    for (int s = 0; s < AWQ_SLOT__COUNT; s++)
        if (b->t[s] && awq_slot_is_linear((awq_slot)s)) out[n++] = (awq_slot)s;
    return n;
}

int awq_clip_linears(const awq_block_f32 *b, awq_slot out[AWQ_MAX_LINEARS])
{
    awq_slot all[AWQ_MAX_LINEARS];
    int n = 0, na = awq_block_linears(b, all);
    if (b->fused) { /* AutoAWQ's name test sees "self_attn.qkv_proj" (no "q_", "k_"): q and k rows are clipped */
        memcpy(out, all, (size_t)na * sizeof *all);
        return na;
    }
    for (int i = 0; i < na; i++) {
        const char *name = awq_slot_suffix(all[i]); /* block-relative, e.g. "self_attn.q_proj.weight" */
        static const char *const skip[] = {"q_", "k_", "query", "key", "Wqkv"};
        int skipped = 0;
        for (int k = 0; k < 5; k++) if (strstr(name, skip[k])) skipped = 1;
        if (!skipped) out[n++] = all[i];
    }
    return n;
}

void awq_clip_rows(size_t N, const awq_params *p, size_t *T, size_t *step)
{
    size_t st = p->n_sample_token > 0 ? N / (size_t)p->n_sample_token : N;
    if (st < 1) st = 1;
    *step = st;
    *T = (N + st - 1) / st;
}

awq_err awq_clip_in_alloc(awq_clip_in *ci, const awq_config *cfg, int n_experts, size_t T, size_t step)
{
    memset(ci, 0, sizeof *ci);
    ci->T = T, ci->step = step;
    const int shared = n_experts && cfg->mla && cfg->n_shared_experts > 0; /* DeepSeek-V3's shared experts */
    for (int i = 0; i < AWQ_FEAT__COUNT; i++) {
        /* a mixture-of-experts block has no dense gate/up/down: its experts' rows are in ex[]; the
         * shared experts read every token's mlp_in row and their own down_in; q_b_proj is never
         * clipped (its name has "q_"), so its input is not kept */
        if (!feat_present(cfg, (awq_feat)i, n_experts > 0) || i == AWQ_FEAT_Q_B_IN) ci->width[i] = 0;
        else if (n_experts && i == AWQ_FEAT_MLP_IN) ci->width[i] = shared ? (size_t)cfg->hidden_size : 0;
        else if (n_experts && i == AWQ_FEAT_DOWN_IN) ci->width[i] = 0;
        else ci->width[i] = awq_feat_width(cfg, (awq_feat)i, n_experts > 0);
        if (ci->width[i] && !(ci->f[i] = calloc(ci->T * ci->width[i], sizeof(float)))) {
            awq_clip_in_free(ci);
            return awq_fail(AWQ_ERR_NOMEM, "out of memory for the clip inputs");
        }
    }
    if (n_experts && !(ci->ex = calloc((size_t)n_experts, sizeof *ci->ex))) {
        awq_clip_in_free(ci);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory for the clip inputs");
    }
    ci->n_experts = n_experts;
    ci->ex_in_w = (size_t)cfg->hidden_size, ci->ex_down_w = (size_t)cfg->moe_intermediate_size;
    return AWQ_OK;
}

awq_err awq_clip_in_alloc_expert(awq_clip_in *ci, const awq_config *cfg, int e, size_t n_tok, size_t T, size_t step)
{
    awq_clip_expert *x = &ci->ex[e];
    x->n_tok = n_tok, x->T = T, x->step = step;
    x->in = calloc(T * (size_t)cfg->hidden_size + 1, sizeof(float));
    x->down = calloc(T * (size_t)cfg->moe_intermediate_size + 1, sizeof(float));
    return x->in && x->down ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory for the clip inputs");
}

void awq_clip_in_free(awq_clip_in *ci)
{
    for (int i = 0; i < AWQ_FEAT__COUNT; i++) free(ci->f[i]);
    for (int e = 0; e < ci->n_experts && ci->ex; e++) free(ci->ex[e].in), free(ci->ex[e].down);
    free(ci->ex);
    memset(ci, 0, sizeof *ci);
}

awq_err awq_clip_in_compute(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                            const awq_block_f32 *orig, const float *x, int n_seq, int seqlen, awq_clip_in *out)
{
    /* the whole forward, as the scale search runs it, so the rows are the same bits as those a
     * search hands over (a forward over the sampled rows alone would block the GEMMs otherwise) */
    memset(out, 0, sizeof *out);
    block_run br;
    awq_err e = block_run_init(be, cfg, p, orig, x, n_seq, seqlen, &br); /* frees itself on error */
    if (e) return e;
    e = fill_clip_in(be, cfg, p, &br, out);
    block_run_free(be, &br);
    return e;
}

/* rows [T, w] = h(rows / s) */
static void divide_rows(float *f, size_t T, size_t w, const float *s, int round_f16)
{
    #pragma omp parallel for schedule(static)
    for (size_t t = 0; t < T; t++)
        for (size_t c = 0; c < w; c++) {
            float v = f[t * w + c] / s[c];
            f[t * w + c] = round_f16 ? awq_round_f16(v) : v;
        }
}

awq_err awq_clip_in_scale(awq_clip_in *ci, const awq_scale_result *res, int n_res, int round_f16)
{
    for (int gi = 0; gi < n_res; gi++) {
        const awq_scale_result *r = &res[gi];
        const awq_sgroup *g = &r->group;
        if (g->all_experts || g->expert >= 0) { /* every expert's gate/up input, or one expert's down input */
            for (int e = 0; e < ci->n_experts; e++) {
                if (g->expert >= 0 && e != g->expert) continue;
                awq_clip_expert *x = &ci->ex[e];
                if (!x->in) return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': no clip inputs for expert %d", g->prev_name, e);
                divide_rows(g->expert >= 0 ? x->down : x->in, x->T, r->n, r->s, round_f16);
            }
            /* the shared experts' gate/up read the dense mlp_in rows (AutoAWQ divides their
             * input_feat too: they are layers of this group) */
            if (g->shared && ci->width[AWQ_FEAT_MLP_IN]) {
                if (r->n != ci->width[AWQ_FEAT_MLP_IN])
                    return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': %zu scales for an input of %zu channels", g->prev_name,
                                    r->n, ci->width[AWQ_FEAT_MLP_IN]);
                divide_rows(ci->f[AWQ_FEAT_MLP_IN], ci->T, r->n, r->s, round_f16);
            }
            continue;
        }
        const size_t w = ci->width[g->feat];
        if (!w) continue; /* an input no clip search reads (q_b_proj's) */
        if (r->n != w)
            return awq_fail(AWQ_ERR_FORMAT, "scale group '%s': %zu scales for an input of %zu channels", g->prev_name, r->n, w);
        divide_rows(ci->f[g->feat], ci->T, w, r->s, round_f16);
    }
    return AWQ_OK;
}

/* The clip input of linear L: its rows [*T, I] in host memory. */
static const float *clip_input(const awq_clip_in *in, awq_slot L, size_t *T, size_t *width)
{
    if ((unsigned)L >= AWQ_SLOT__FIXED) { /* an expert's */
        int i = (int)L - AWQ_SLOT__FIXED, e = i / AWQ_EXPERT__SLOTS;
        if (e >= in->n_experts || !in->ex[e].in) return NULL;
        const awq_clip_expert *x = &in->ex[e];
        *T = x->T;
        if (i % AWQ_EXPERT__SLOTS == AWQ_EXPERT_DOWN) return *width = 0, x->down; /* width: the caller's I */
        return *width = 0, x->in;
    }
    awq_feat f = awq_linear_feat(L);
    *T = in->T, *width = in->width[f];
    return in->f[f];
}

awq_err awq_search_clips(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                         const awq_block_f32 *scaled, const awq_clip_in *in, awq_clip_result res[AWQ_MAX_LINEARS],
                         int *n_res)
{
    (void)cfg;
    *n_res = 0;
    awq_err e = AWQ_OK;
    const size_t n_cand = kern_clip_candidates(p->clip_grid, p->max_shrink);
    awq_slot lin[AWQ_MAX_LINEARS];
    int nl = awq_clip_linears(scaled, lin);
    float *mv_d = NULL, *loss_d = NULL;
    int32_t *best_d = NULL;
    for (int li = 0; !e && li < nl; li++) {
        awq_slot L = lin[li];
        size_t O = (size_t)scaled->shape[L][0], I = (size_t)scaled->shape[L][1], g, T = 0, width = 0;
        if (kern_quant_group(&g, I, p->group) != KERN_OK) { e = awq_fail(AWQ_ERR_ARG, "group %lld does not divide %zu", (long long)p->group, I); break; }
        const float *x_host = clip_input(in, L, &T, &width);
        if (!x_host || (width && width != I)) {
            e = awq_fail(AWQ_ERR_ARG, "internal: no clip input of width %zu for %s", I, awq_slot_suffix(L));
            break;
        }
        size_t G = I / g;
        const void *xs = NULL; /* the sampled rows [T, I] on the device */
        void *xs_own = NULL;
        /* the linear's fp32 weight, one at a time: the device never holds the whole block (a
         * DeepSeek-V3 MoE block is 44 GiB in fp32) */
        const void *wl = scaled->t[L];
        void *wl_own = NULL;
        awq_dev_free(be, mv_d); awq_dev_free(be, best_d); awq_dev_free(be, loss_d);
        mv_d = loss_d = NULL;
        best_d = NULL;
        awq_clip_result *r = &res[li];
        *r = (awq_clip_result){.linear = L, .o = O, .g_count = G, .n_cand = n_cand};
        r->max_val = malloc(O * G * sizeof *r->max_val);
        r->best = malloc(O * G * sizeof *r->best);
        r->loss = malloc(O * G * n_cand * sizeof *r->loss);
        *n_res = li + 1;
        if (!e && (!r->max_val || !r->best || !r->loss)) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        if (!e && scaled->be != be) e = awq_dev_view(be, scaled->t[L], O * I * sizeof(float), &wl, &wl_own);
        if (!e) e = awq_dev_view(be, x_host, T * I * sizeof(float), &xs, &xs_own);
        if (!e) e = awq_dev_alloc(be, (void **)&mv_d, O * G * sizeof *mv_d);
        if (!e) e = awq_dev_alloc(be, (void **)&best_d, O * G * sizeof *best_d);
        if (!e) e = awq_dev_alloc(be, (void **)&loss_d, O * G * n_cand * sizeof *loss_d);
        if (e) { awq_dev_release(be, xs_own); awq_dev_release(be, wl_own); break; }
        double t0 = awq_now();
        kern_status ks = be->clip_search(be->ctx, mv_d, best_d, loss_d, wl, xs, O, I, T, p->group,
                                         p->w_bit, p->clip_grid, p->max_shrink, p->round_f16);
        awq_dev_release(be, xs_own);
        awq_dev_release(be, wl_own);
        if (ks) { e = awq_kern_fail(ks, "clip search"); break; }
        if (!e) e = awq_dev_fetch(be, r->max_val, mv_d, O * G * sizeof *mv_d);
        if (!e) e = awq_dev_fetch(be, r->best, best_d, O * G * sizeof *best_d);
        if (!e) e = awq_dev_fetch(be, r->loss, loss_d, O * G * n_cand * sizeof *loss_d);
        awq_prof_dev(be, "clip: search, fetch");
        awq_verbose("clip %-24s %zu x %zu, %zu tokens (%.2f s)", awq_slot_suffix(L), O, I, T, awq_now() - t0);
    }
    awq_dev_free(be, mv_d); awq_dev_free(be, best_d); awq_dev_free(be, loss_d);
    if (e) { awq_clip_results_free(res, *n_res); *n_res = 0; }
    return e;
}

void awq_clip_results_free(awq_clip_result *res, int n)
{
    for (int i = 0; i < n; i++) {
        free(res[i].max_val); free(res[i].best); free(res[i].loss);
        res[i].max_val = NULL; res[i].best = NULL; res[i].loss = NULL;
    }
}

/* ---- quantize + pack ------------------------------------------------------------------------ */

awq_err awq_quantize_linear(const awq_backend *be, const awq_params *p, const float *w, size_t o, size_t i,
                            const float *max_val, unsigned what, awq_packed_linear *out)
{
    const int pack = (what & AWQ_QL_PACK) != 0, want_deq = (!pack && !(what & AWQ_QL_CODES)) || (what & AWQ_QL_DEQ), on_dev = (what & AWQ_QL_W_ON_DEV) != 0;
    memset(out, 0, sizeof *out);
    size_t g;
    if (kern_quant_group(&g, i, p->group) != KERN_OK)
        return awq_fail(AWQ_ERR_ARG, "group size %lld does not divide in_features %zu", (long long)p->group, i);
    const size_t G = i / g;
    out->o = o; out->i = i; out->g_count = G;
    float *scales = malloc(o * G * sizeof *scales);
    uint8_t *zeros = malloc(o * G);
    out->deq = want_deq ? malloc(o * i * sizeof *out->deq) : NULL;
    /* backend buffers: the weight to clip (a copy: clipping is in place), the outputs */
    float *wc = NULL, *deq_d = NULL, *sc_d = NULL;
    uint8_t *codes_d = NULL, *zeros_d = NULL;
    int32_t *qw_d = NULL; /* qweight is packed where the codes are: half their bytes come to the host */
    const void *mv = NULL;
    void *mv_own = NULL;
    kern_status ks;
    awq_err e = (!scales || !zeros || (want_deq && !out->deq)) ? awq_fail(AWQ_ERR_NOMEM, "out of memory quantizing") : AWQ_OK;
    if (!e) e = awq_dev_alloc(be, (void **)&wc, o * i * sizeof *wc);
    if (!e && (ks = (on_dev ? be->copy : be->upload)(be->ctx, wc, w, o * i * sizeof *wc))) e = awq_kern_fail(ks, "upload weight");
    if (!e && want_deq) e = awq_dev_alloc(be, (void **)&deq_d, o * i * sizeof *deq_d);
    if (!e) e = awq_dev_alloc(be, (void **)&sc_d, o * G * sizeof *sc_d);
    if (!e) e = awq_dev_alloc(be, (void **)&codes_d, o * i);
    if (!e) e = awq_dev_alloc(be, (void **)&zeros_d, o * G);
    if (!e && max_val) e = awq_dev_view(be, max_val, o * G * sizeof *max_val, &mv, &mv_own);
    if (!e && max_val && (ks = be->clip_apply(be->ctx, wc, mv, o, i, p->group))) e = awq_kern_fail(ks, "apply clip");
    if (!e && (ks = be->quantize(be->ctx, want_deq ? deq_d : NULL, codes_d, sc_d, zeros_d, wc, NULL, o, i, p->group, p->w_bit, p->round_f16)))
        e = awq_kern_fail(ks, "quantize");
    if (!e && want_deq) e = awq_dev_fetch(be, out->deq, deq_d, o * i * sizeof *deq_d);
    if (!e) e = awq_dev_fetch(be, scales, sc_d, o * G * sizeof *sc_d);
    if (!e) e = awq_dev_fetch(be, zeros, zeros_d, o * G);
    if (!e && (what & AWQ_QL_CODES)) { /* handed over, with the codes fetched */
        if (!(out->codes = malloc(o * i + 1))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        else e = awq_dev_fetch(be, out->codes, codes_d, o * i);
        out->zeros = zeros;
        out->scales = scales;
        zeros = NULL;
        scales = NULL;
    }
    if (!e && pack) {
        out->qweight = malloc(i * (o / 8) * sizeof *out->qweight);
        out->qzeros = malloc(G * (o / 8) * sizeof *out->qzeros);
        out->scales16 = malloc(G * o * sizeof *out->scales16);
        if (!out->qweight || !out->qzeros || !out->scales16) e = awq_fail(AWQ_ERR_NOMEM, "out of memory packing");
        const int host = awq_backend_is_host(be); /* the CPU packs straight into the output */
        if (!e && !host) e = awq_dev_alloc(be, (void **)&qw_d, i * (o / 8) * sizeof *qw_d);
        if (!e && ((ks = kern_pack_zeros_scales(out->qzeros, out->scales16, out->zeros ? out->zeros : zeros,
                                                out->scales ? out->scales : scales, o, i, p->group)) ||
                   (ks = be->pack_qweight(be->ctx, host ? out->qweight : qw_d, codes_d, o, i))))
            e = awq_kern_fail(ks, "pack (GEMM layout needs w_bit 4, out_features % 8 == 0 and fp16 scales)");
        if (!e && !host) e = awq_dev_fetch(be, out->qweight, qw_d, i * (o / 8) * sizeof *qw_d);
    }
    awq_dev_release(be, mv_own);
    awq_dev_free(be, wc); awq_dev_free(be, deq_d); awq_dev_free(be, sc_d); awq_dev_free(be, codes_d); awq_dev_free(be, zeros_d);
    awq_dev_free(be, qw_d);
    free(scales); free(zeros);
    if (e) awq_packed_linear_free(out);
    return e;
}

void awq_packed_linear_free(awq_packed_linear *pl)
{
    free(pl->qweight); free(pl->qzeros); free(pl->scales16); free(pl->deq);
    free(pl->codes); free(pl->zeros); free(pl->scales);
    memset(pl, 0, sizeof *pl);
}
