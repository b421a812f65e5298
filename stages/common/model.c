/* model.c - open an HF model directory and check it against its config (spec §1.1, §1.2). */
#include "model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fused.h"
#include "params.h"
#include "values.h"

static const char *const g_suffix[AWQ_SLOT__FIXED] = {
    [AWQ_W_INPUT_NORM] = "input_layernorm.weight",
    [AWQ_W_Q] = "self_attn.q_proj.weight", [AWQ_W_K] = "self_attn.k_proj.weight",
    [AWQ_W_V] = "self_attn.v_proj.weight", [AWQ_W_O] = "self_attn.o_proj.weight",
    [AWQ_W_Q_NORM] = "self_attn.q_norm.weight", [AWQ_W_K_NORM] = "self_attn.k_norm.weight",
    [AWQ_W_POST_NORM] = "post_attention_layernorm.weight",
    [AWQ_W_GATE] = "mlp.gate_proj.weight", [AWQ_W_UP] = "mlp.up_proj.weight",
    [AWQ_W_DOWN] = "mlp.down_proj.weight",
    [AWQ_B_Q] = "self_attn.q_proj.bias", [AWQ_B_K] = "self_attn.k_proj.bias",
    [AWQ_B_V] = "self_attn.v_proj.bias", [AWQ_B_O] = "self_attn.o_proj.bias",
    [AWQ_B_GATE] = "mlp.gate_proj.bias", [AWQ_B_UP] = "mlp.up_proj.bias",
    [AWQ_B_DOWN] = "mlp.down_proj.bias",
    [AWQ_W_ROUTER] = "mlp.gate.weight",
    [AWQ_W_ROUTER_BIAS] = "mlp.gate.e_score_correction_bias",
    [AWQ_W_SHARED_GATE] = "mlp.shared_experts.gate_proj.weight", [AWQ_W_SHARED_UP] = "mlp.shared_experts.up_proj.weight",
    [AWQ_W_SHARED_DOWN] = "mlp.shared_experts.down_proj.weight",
    [AWQ_W_Q_A] = "self_attn.q_a_proj.weight", [AWQ_W_Q_A_NORM] = "self_attn.q_a_layernorm.weight",
    [AWQ_W_Q_B] = "self_attn.q_b_proj.weight", [AWQ_W_KV_A] = "self_attn.kv_a_proj_with_mqa.weight",
    [AWQ_W_KV_A_NORM] = "self_attn.kv_a_layernorm.weight", [AWQ_W_KV_B] = "self_attn.kv_b_proj.weight",
    [AWQ_W_PRE_FF_NORM] = "pre_feedforward_layernorm.weight", [AWQ_W_POST_FF_NORM] = "post_feedforward_layernorm.weight",
};

/* The experts' names, made once (static storage, so callers may keep the pointer). */
static char g_expert_suffix[AWQ_EXPERT__SLOTS * AWQ_MAX_EXPERTS][40];
static pthread_once_t g_expert_once = PTHREAD_ONCE_INIT;
static const char *const g_expert_proj[AWQ_EXPERT__SLOTS] = {"gate_proj", "up_proj", "down_proj"};

static void make_expert_suffixes(void)
{
    for (int e = 0; e < AWQ_MAX_EXPERTS; e++)
        for (int k = 0; k < AWQ_EXPERT__SLOTS; k++)
            snprintf(g_expert_suffix[AWQ_EXPERT__SLOTS * e + k], sizeof g_expert_suffix[0], "mlp.experts.%d.%s.weight", e,
                     g_expert_proj[k]);
}

const char *awq_slot_suffix(awq_slot s)
{
    if ((unsigned)s < AWQ_SLOT__FIXED) return g_suffix[s];
    if ((unsigned)s >= AWQ_SLOT__COUNT) return "?";
    pthread_once(&g_expert_once, make_expert_suffixes);
    return g_expert_suffix[s - AWQ_SLOT__FIXED];
}

const char *awq_slot_name(const awq_config *cfg, awq_slot s, char *buf, size_t len)
{
    if (cfg->arch != AWQ_ARCH_MIXTRAL || (s != AWQ_W_ROUTER && (unsigned)s < AWQ_SLOT__FIXED)) {
        snprintf(buf, len, "%s", awq_slot_suffix(s));
    } else if (s == AWQ_W_ROUTER) {
        snprintf(buf, len, "block_sparse_moe.gate.weight");
    } else { /* Mixtral's experts: w1 = gate, w3 = up, w2 = down */
        static const char *const w[AWQ_EXPERT__SLOTS] = {"w1", "w3", "w2"};
        int i = (int)s - AWQ_SLOT__FIXED;
        snprintf(buf, len, "block_sparse_moe.experts.%d.%s.weight", i / AWQ_EXPERT__SLOTS, w[i % AWQ_EXPERT__SLOTS]);
    }
    return buf;
}

const char *awq_ckpt_name(const awq_config *cfg, const char *name, char *buf, size_t len)
{
    static const char *const proj[AWQ_EXPERT__SLOTS][2] = {{"gate_proj", "w1"}, {"up_proj", "w3"}, {"down_proj", "w2"}};
    int e, n = 0;
    char p[16];
    if (cfg->arch != AWQ_ARCH_MIXTRAL) return snprintf(buf, len, "%s", name), buf;
    if (strncmp(name, "mlp.gate.", 9) == 0) return snprintf(buf, len, "block_sparse_moe.gate.%s", name + 9), buf;
    if (sscanf(name, "mlp.experts.%d.%15[a-z_]%n", &e, p, &n) == 2 && (name[n] == 0 || name[n] == '.'))
        for (int k = 0; k < AWQ_EXPERT__SLOTS; k++)
            if (strcmp(p, proj[k][0]) == 0) return snprintf(buf, len, "block_sparse_moe.experts.%d.%s%s", e, proj[k][1], name + n), buf;
    return snprintf(buf, len, "%s", name), buf;
}

/* Expected shape of a slot in block `layer`, or ndim 0 when the block has no such tensor. */
static int slot_shape(const awq_config *c, int layer, awq_slot s, int64_t shape[2])
{
    const int64_t C = c->hidden_size, F = c->intermediate_size, D = c->head_dim;
    const int64_t Q = (int64_t)c->num_attention_heads * D, KV = (int64_t)c->num_key_value_heads * D;
    const int experts = awq_layer_experts(c, layer);
    if ((unsigned)s >= AWQ_SLOT__FIXED) { /* an expert's gate, up or down */
        int i = (int)s - AWQ_SLOT__FIXED;
        if (i / AWQ_EXPERT__SLOTS >= experts) return 0;
        const int64_t Fe = c->moe_intermediate_size;
        int down = i % AWQ_EXPERT__SLOTS == AWQ_EXPERT_DOWN;
        shape[0] = down ? C : Fe, shape[1] = down ? Fe : C;
        return 2;
    }
    if (experts && s >= AWQ_W_GATE && s <= AWQ_B_DOWN && (s <= AWQ_W_DOWN || s >= AWQ_B_GATE)) return 0; /* no dense mlp */
    if (c->mla) { /* DeepseekV3's attention (no k/v_proj, no biases: config.c refuses attention_bias) */
        const int64_t H = c->num_attention_heads, rq = c->q_lora_rank, rkv = c->kv_lora_rank;
        const int64_t Fs = (int64_t)c->moe_intermediate_size * c->n_shared_experts;
        switch (s) {
        case AWQ_W_Q: if (rq) return 0; shape[0] = H * D; shape[1] = C; return 2;
        case AWQ_W_K: case AWQ_W_V: return 0;
        case AWQ_W_O: shape[0] = C; shape[1] = H * c->v_head_dim; return 2;
        case AWQ_W_Q_A: if (!rq) return 0; shape[0] = rq; shape[1] = C; return 2;
        case AWQ_W_Q_A_NORM: if (!rq) return 0; shape[0] = rq; return 1;
        case AWQ_W_Q_B: if (!rq) return 0; shape[0] = H * D; shape[1] = rq; return 2;
        case AWQ_W_KV_A: shape[0] = rkv + c->qk_rope_head_dim; shape[1] = C; return 2;
        case AWQ_W_KV_A_NORM: shape[0] = rkv; return 1;
        case AWQ_W_KV_B: shape[0] = H * (c->qk_nope_head_dim + c->v_head_dim); shape[1] = rkv; return 2;
        case AWQ_W_ROUTER_BIAS: if (!experts) return 0; shape[0] = experts; return 1;
        case AWQ_W_SHARED_GATE: case AWQ_W_SHARED_UP: if (!experts) return 0; shape[0] = Fs; shape[1] = C; return 2;
        case AWQ_W_SHARED_DOWN: if (!experts) return 0; shape[0] = C; shape[1] = Fs; return 2;
        default: break;
        }
    }
    switch (s) {
    case AWQ_W_INPUT_NORM: case AWQ_W_POST_NORM: shape[0] = C; return 1;
    case AWQ_W_Q: shape[0] = Q; shape[1] = C; return 2;
    case AWQ_W_K: case AWQ_W_V: shape[0] = KV; shape[1] = C; return 2;
    case AWQ_W_O: shape[0] = C; shape[1] = Q; return 2;
    case AWQ_W_Q_NORM: case AWQ_W_K_NORM: if (!c->qk_norm) return 0; shape[0] = D; return 1;
    case AWQ_W_GATE: case AWQ_W_UP: shape[0] = F; shape[1] = C; return 2;
    case AWQ_W_DOWN: shape[0] = C; shape[1] = F; return 2;
    case AWQ_B_Q: if (!c->qkv_bias) return 0; shape[0] = Q; return 1;
    case AWQ_B_K: case AWQ_B_V: if (!c->qkv_bias) return 0; shape[0] = KV; return 1;
    case AWQ_B_O: if (!c->o_bias) return 0; shape[0] = C; return 1;
    case AWQ_B_GATE: case AWQ_B_UP: if (!c->mlp_bias) return 0; shape[0] = F; return 1;
    case AWQ_B_DOWN: if (!c->mlp_bias) return 0; shape[0] = C; return 1;
    case AWQ_W_ROUTER: if (!experts) return 0; shape[0] = experts; shape[1] = C; return 2;
    case AWQ_W_PRE_FF_NORM: case AWQ_W_POST_FF_NORM: if (!c->gemma) return 0; shape[0] = C; return 1;
    default: return 0;
    }
}

static awq_err check_tensor(const awq_model *m, const char *name, const st_tensor *t, int ndim, const int64_t *shape)
{
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
        char want[64], got[96];
        int n = snprintf(want, sizeof want, "[%lld", (long long)shape[0]);
        if (ndim == 2) snprintf(want + n, sizeof want - (size_t)n, ", %lld]", (long long)shape[1]);
        else snprintf(want + n, sizeof want - (size_t)n, "]");
        n = snprintf(got, sizeof got, "[");
        for (int d = 0; d < t->ndim; d++)
            n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        snprintf(got + n, sizeof got - (size_t)n, "]");
        awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '%s' has shape %s but config.json implies %s", m->dir, name, got, want);
        awq_hint("the weights and config.json do not belong together");
        return AWQ_ERR_FORMAT;
    }
    if (t->dtype != AWQ_DT_F16 && t->dtype != AWQ_DT_BF16 && t->dtype != AWQ_DT_F32)
        return awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': tensor '%s' has dtype %s; only F16, BF16 and F32 are supported",
                        m->dir, name, awq_dtype_name(t->dtype));
    return AWQ_OK;
}

awq_err awq_model_block(const awq_model *m, int layer, awq_block *out)
{
    memset(out, 0, sizeof *out);
    out->layer = layer;
    if (layer < 0 || layer >= m->cfg.num_hidden_layers)
        return awq_fail(AWQ_ERR_ARG, "block %d does not exist: '%s' has %d decoder blocks", layer, m->dir, m->cfg.num_hidden_layers);
    /* a dense block looks at the fixed slots only (no lookups of expert names it cannot have) */
    const int n_slots = AWQ_SLOT__FIXED + AWQ_EXPERT__SLOTS * awq_layer_experts(&m->cfg, layer);
    for (int s = 0; s < n_slots; s++) {
        int64_t shape[2];
        int ndim = slot_shape(&m->cfg, layer, (awq_slot)s, shape);
        char name[160], rel[96];
        snprintf(name, sizeof name, "model.layers.%d.%s", layer, awq_slot_name(&m->cfg, (awq_slot)s, rel, sizeof rel));
        awq_fused_part fp;
        const int fused = awq_fused_part_of(&m->cfg, (awq_slot)s, &fp);
        const st_tensor *t = fused ? awq_fused_view(m, layer, (awq_slot)s) : st_find(m->st, name);
        if (fused && !t) return awq_fail(AWQ_ERR_ARG, "internal: '%s' has no views of its fused tensors", m->dir);
        if (!ndim) {
            if (t) return awq_fail(AWQ_ERR_FORMAT, "'%s': unexpected tensor '%s' for %s with this config.json", m->dir, name, m->cfg.architecture);
            continue;
        }
        if (!t) {
            awq_fail(AWQ_ERR_NOTFOUND, "'%s': tensor '%s' is missing", m->dir, name);
            awq_hint("is the checkpoint complete (all shards present)?");
            return AWQ_ERR_NOTFOUND;
        }
        awq_err e = check_tensor(m, name, t, ndim, shape);
        if (e) return e;
        out->t[s] = t;
    }
    return AWQ_OK;
}

awq_err awq_model_open(awq_model **out, const char *dir)
{
    *out = NULL;
    awq_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) { free(m); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    awq_err e = awq_config_load(&m->cfg, dir);
    if (!e) e = st_open(&m->st, dir);
    if (!e) e = st_get(m->st, "model.embed_tokens.weight", &m->embed);
    int64_t vc[2] = {m->cfg.vocab_size, m->cfg.hidden_size};
    if (!e) e = check_tensor(m, "model.embed_tokens.weight", m->embed, 2, vc);
    if (!e) e = st_get(m->st, "model.norm.weight", &m->final_norm);
    if (!e) e = check_tensor(m, "model.norm.weight", m->final_norm, 1, vc + 1);
    if (!e) {
        m->lm_head = st_find(m->st, "lm_head.weight");
        if (!m->lm_head && m->cfg.tie_word_embeddings) m->lm_head = m->embed;
        else if (!m->lm_head) {
            e = awq_fail(AWQ_ERR_NOTFOUND, "'%s': tensor 'lm_head.weight' is missing and tie_word_embeddings is false", dir);
        } else e = check_tensor(m, "lm_head.weight", m->lm_head, 2, vc);
    }
    if (!e) e = awq_fused_open(m);
    for (int i = 0; !e && i < m->cfg.num_hidden_layers; i++) {
        awq_block b;
        e = awq_model_block(m, i, &b);
    }
    if (e) { awq_model_close(m); return e; }
    *out = m;
    return AWQ_OK;
}

void awq_model_close(awq_model *m)
{
    if (!m) return;
    st_close(m->st);
    free(m->dir);
    free(m->key_memo);
    free(m->mag_memo);
    free(m->fused_views);
    free(m->fused_names);
    free(m);
}

/* Hash a tensor (its slot name, dtype, shape, bytes) and return the largest magnitude of its
 * values (values.h). The magnitude rides on the hash: chunk by chunk, each chunk still in the
 * cache when it is scanned (XXH3's streaming digest does not depend on how the bytes are split). */
static uint32_t hash_tensor(awq_hasher *h, const char *slot, const st_tensor *t)
{
    char meta[256];
    int n = snprintf(meta, sizeof meta, "%s %s %d", slot, awq_dtype_name(t->dtype), t->ndim);
    for (int d = 0; d < t->ndim; d++) n += snprintf(meta + n, sizeof meta - (size_t)n, " %lld", (long long)t->shape[d]);
    awq_hasher_update(h, meta, (size_t)n + 1);
    const size_t esz = awq_dtype_size(t->dtype), chunk = ((size_t)64 << 10) * esz;
    uint32_t mag = 0;
    for (size_t off = 0; off < t->nbytes; off += chunk) {
        const size_t len = t->nbytes - off < chunk ? t->nbytes - off : chunk;
        const char *p = (const char *)t->data + off;
        awq_hasher_update(h, p, len);
        const uint32_t m = awq_mag_max(p, t->dtype, len / esz);
        if (m > mag) mag = m;
    }
    return mag;
}

awq_err awq_block_hash(const awq_model *m, int layer, awq_key *out, uint32_t *mag)
{
    awq_block b;
    awq_err e = awq_model_block(m, layer, &b);
    if (e) return e;
    awq_hasher *h = awq_hasher_new();
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    /* The block's function also depends on these config values (not on the layer index). */
    const awq_config *c = &m->cfg;
    char cfgtext[1024];
    int n = snprintf(cfgtext, sizeof cfgtext,
                     "block arch=%s H=%d Hkv=%d D=%d eps=%.17g theta=%.17g rope=%d f=%.17g lo=%.17g hi=%.17g orig=%d qkn=%d",
                     awq_arch_name(c->arch), c->num_attention_heads, c->num_key_value_heads, c->head_dim,
                     c->rms_norm_eps, c->rope_theta, (int)c->rope_type, c->rope_factor, c->rope_low_freq_factor,
                     c->rope_high_freq_factor, c->rope_original_max_position_embeddings, c->qk_norm);
    if (awq_layer_experts(c, layer)) /* only then, so dense keys are unchanged */
        n += snprintf(cfgtext + n, sizeof cfgtext - (size_t)n, " experts=%d topk=%d norm_topk=%d",
                      awq_layer_experts(c, layer), c->n_experts_per_tok, c->norm_topk_prob);
    if (c->mla) /* DeepseekV3 (the architectures before it hash none of this) */
        n += snprintf(cfgtext + n, sizeof cfgtext - (size_t)n,
                      " mla q_lora=%d kv_lora=%d nope=%d rope_dim=%d v=%d interleave=%d scale=%.17g yarn_bf=%.17g"
                      " yarn_bs=%.17g yarn_af=%.17g yarn_trunc=%d",
                      c->q_lora_rank, c->kv_lora_rank, c->qk_nope_head_dim, c->qk_rope_head_dim, c->v_head_dim,
                      c->rope_interleave, c->attn_scale, c->rope_beta_fast, c->rope_beta_slow, c->rope_attention_factor,
                      c->rope_truncate);
    if (c->router == AWQ_ROUTER_SIGMOID_GROUPED && awq_layer_experts(c, layer))
        n += snprintf(cfgtext + n, sizeof cfgtext - (size_t)n, " router=sigmoid_grouped groups=%d topk_groups=%d shared=%d rsf=%.17g",
                      c->n_group, c->topk_group, c->n_shared_experts, c->routed_scaling_factor);
    if (c->arch == AWQ_ARCH_PHI3) /* (the architectures before it hash none of this) */
        n += snprintf(cfgtext + n, sizeof cfgtext - (size_t)n, " rotary=%d af=%.17g", c->rotary_dim, c->rope_attention_factor);
    if (c->arch == AWQ_ARCH_PHI3 && c->sliding_window && c->sliding_window < 2048) /* (refused before: no key changes) */
        n += snprintf(cfgtext + n, sizeof cfgtext - (size_t)n, " window=%d", c->sliding_window);
    if (c->gemma) /* the block's own attention (its window) and the Gemma block's constants */
        n += snprintf(cfgtext + n, sizeof cfgtext - (size_t)n, " gemma=%d window=%d qpas=%.17g softcap=%.17g", c->arch,
                      awq_layer_window(c, layer), c->query_pre_attn_scalar, c->attn_softcap);
    if (c->arch == AWQ_ARCH_GEMMA3) /* the layer's RoPE: the local base on sliding layers, else the global one, scaled */
        n += snprintf(cfgtext + n, sizeof cfgtext - (size_t)n, " local=%d local_theta=%.17g linear=%.17g",
                      c->layer_sliding[layer], c->rope_local_theta, c->rope_type == AWQ_ROPE_LINEAR ? c->rope_factor : 0.0);
    awq_hasher_update(h, cfgtext, (size_t)n + 1);
    if (c->rope_type == AWQ_ROPE_LONGROPE) { /* both factor lists: which one runs depends on the sequence length */
        const size_t pairs = (size_t)(c->rotary_dim ? c->rotary_dim : c->head_dim) / 2;
        awq_hasher_update(h, c->rope_short_factor, pairs * sizeof(float));
        awq_hasher_update(h, c->rope_long_factor, pairs * sizeof(float));
    }
    /* (a block's experts enter the key only after the fixed slots, so dense keys are unchanged) */
    uint32_t most = 0;
    for (int s = 0; s < AWQ_SLOT__COUNT; s++)
        if (b.t[s]) {
            uint32_t v = hash_tensor(h, awq_slot_suffix((awq_slot)s), b.t[s]);
            if (v > most) most = v;
        }
    *out = awq_hasher_final(h);
    awq_hasher_free(h);
    if (mag) *mag = most;
    return AWQ_OK;
}

awq_err awq_block_key(const awq_model *m, int layer, awq_key *out)
{
    if (m->key_memo && layer >= 0 && layer < m->cfg.num_hidden_layers) { *out = m->key_memo[layer]; return AWQ_OK; }
    return awq_block_hash(m, layer, out, NULL);
}

awq_err awq_embed_hash(const awq_model *m, awq_key *out, uint32_t *mag)
{
    awq_hasher *h = awq_hasher_new();
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    uint32_t v = hash_tensor(h, "embed_tokens", m->embed);
    *out = awq_hasher_final(h);
    awq_hasher_free(h);
    if (mag) *mag = v;
    return AWQ_OK;
}

awq_err awq_embed_key(const awq_model *m, awq_key *out)
{
    if (m->key_memo) { *out = m->key_memo[m->cfg.num_hidden_layers]; return AWQ_OK; }
    return awq_embed_hash(m, out, NULL);
}

/* The output's other tensors: the final norm, and lm_head when it is not the embedding. */
static int rest_tensors(const awq_model *m, const st_tensor *t[2])
{
    int n = 0;
    t[n++] = m->final_norm;
    if (m->lm_head != m->embed) t[n++] = m->lm_head;
    return n;
}

uint32_t awq_rest_mag(const awq_model *m)
{
    const st_tensor *t[2];
    uint32_t most = 0;
    for (int i = 0, n = rest_tensors(m, t); i < n; i++) {
        uint32_t v = awq_mag_max(t[i]->data, t[i]->dtype, t[i]->nbytes / awq_dtype_size(t[i]->dtype));
        if (v > most) most = v;
    }
    return most;
}

/* The error for tensor t holding `count` values at or beyond `bound`, the first at element i. */
static awq_err value_error(const awq_model *m, const st_tensor *t, size_t i, size_t count, uint32_t bound)
{
    char where[96];
    if (t->ndim == 2) snprintf(where, sizeof where, "[%zu, %zu]", i / (size_t)t->shape[1], i % (size_t)t->shape[1]);
    else snprintf(where, sizeof where, "[%zu]", i);
    const double v = awq_value_at(t->data, t->dtype, i);
    char more[64] = "";
    if (count > 1) snprintf(more, sizeof more, " (%zu such values in this tensor)", count);
    if (bound == AWQ_MAG_NONFINITE)
        return awq_fail(AWQ_ERR_NUMERIC, "'%s': tensor '%s' element %s is %s%s", st_file_path(m->st, t->file), t->name, where,
                        v != v ? "NaN" : v > 0 ? "+Inf" : "-Inf", more);
    return awq_fail(AWQ_ERR_NUMERIC, "'%s': tensor '%s' element %s = %g does not fit fp16 (largest 65504)%s",
                    st_file_path(m->st, t->file), t->name, where, v, more);
}

/* Find, in tensors t[0..n), the first value with magnitude >= bound and fail naming it; AWQ_OK
 * when there is none (a memo that was wrong about it). */
static awq_err find_value(const awq_model *m, const st_tensor *const *t, int n, uint32_t bound)
{
    for (int k = 0; k < n; k++) {
        if (!t[k]) continue;
        size_t count, numel = t[k]->nbytes / awq_dtype_size(t[k]->dtype);
        size_t i = awq_mag_find(t[k]->data, t[k]->dtype, numel, bound, &count);
        if (i < numel) return value_error(m, t[k], i, count, bound);
    }
    return AWQ_OK;
}

awq_err awq_model_check_values(const awq_model *m, const uint32_t *mag, int round_f16)
{
    const int L = m->cfg.num_hidden_layers;
    /* blocks first, in order, then the embedding and the rest */
    for (int l = 0; l <= L + 1; l++) {
        /* the embedding, final norm and lm_head go to the checkpoint in fp16 as they are, whatever
         * the numerics; a block's tensors are rounded to fp16 only with NUMERICS=fp16 (in fp32 a
         * norm may still fit once the scales are folded into it: awq-quantize checks that) */
        const uint32_t bound = l < L && !round_f16 ? AWQ_MAG_NONFINITE : AWQ_MAG_F16_OVER;
        if (mag[l] < bound) continue;
        const uint32_t which = mag[l] >= AWQ_MAG_NONFINITE ? AWQ_MAG_NONFINITE : bound;
        awq_block b;
        const st_tensor *t[AWQ_SLOT__COUNT];
        int n = 0;
        if (l < L) {
            awq_err e = awq_model_block(m, l, &b);
            if (e) return e;
            for (int s = 0; s < AWQ_SLOT__COUNT; s++) t[n++] = b.t[s];
        } else if (l == L) t[n++] = m->embed;
        else n = rest_tensors(m, t);
        awq_err e = find_value(m, t, n, which);
        if (!e) continue;
        /* NUMERICS=fp32 keeps a block's weights as they are; nothing the user can set helps with
         * NaN/Inf, or with the tensors stored in fp16 whatever the numerics */
        if (which == AWQ_MAG_F16_OVER && l < L)
            awq_hint("%s computes with the weights as stored (fp16 numerics round them to fp16 first)",
                     AWQ_SAY("numerics", "fp32"));
        return e;
    }
    return AWQ_OK;
}
