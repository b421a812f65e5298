/* synth.h - the synthetic Llama-family model of awq-gen-model: its tensor list (spec §1.2, and the
 * mixture-of-experts blocks of Mixtral and Qwen3-MoE) and a
 * counter-based value for every element, so any tensor or slice of one can be produced on its
 * own, on any thread, in any order, and reproduced bit for bit by the tests.
 * Header-only because every tools/<name>.c is a program of its own; tests include it too.
 *
 * The values (all drawn in fp32, then rounded to the storage dtype with RNE):
 *   z(t, i)   = Irwin-Hall(4): the sum of the four 16-bit fields of splitmix64(key_t + (i+1)*phi),
 *               centred and scaled to unit variance. Bounded (|z| <= 3.46) and bell-shaped: the
 *               only large values in the model are the ones planted on purpose. key_t is the
 *               XXH3-64 of the tensor name seeded with the model seed, so a tensor does not depend
 *               on which other tensors exist or on the order they are written in.
 *   linear weight [out, in]   z / sqrt(in)            (std 1/sqrt(fan_in))
 *   embed_tokens, lm_head     z / sqrt(C)             (embed columns at outlier channels x embed_outlier_scale)
 *   biases                    0.05 z
 *   norm weights              1 + 0.1 z               (in [0.65, 1.35])
 *   input_layernorm and post_attention_layernorm: the outlier channels (the same K channels in
 *   every layer, as in real LLMs) are multiplied by outlier_scale, so the inputs of q/k/v and
 *   gate/up have a few large channels: the thing AWQ's activation-aware scales protect.
 *   router (mlp.gate / block_sparse_moe.gate) [E, C]   z / sqrt(C), the columns at the outlier
 *               channels divided by outlier_scale: the router sees the normalized input with
 *               every channel at about the same weight, so its logits (std ~1) depend on the
 *               whole token and not on the few planted channels alone, and the top-k routing is
 *               spread over all experts (a router driven by 4 large channels would route by a
 *               4-dimensional direction, leaving most of 128 experts unreachable). Experts'
 *               gate/up/down are linear weights like the dense mlp's, each its own stream.
 */
#ifndef AWQ_TOOLS_SYNTH_H
#define AWQ_TOOLS_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../cache/dtype.h"
#include "../base/half.h"
#include "../stages/common/config.h"

#define SYN_NAME_MAX 96
#define SYN_BIAS_STD 0.05f
#define SYN_NORM_STD 0.1f

typedef enum syn_kind {
    SYN_WEIGHT,       /* std * z */
    SYN_EMBED,        /* std * z, outlier columns scaled by embed_outlier_scale */
    SYN_NORM,         /* 1 + std * z */
    SYN_NORM_OUTLIER, /* 1 + std * z, outlier channels scaled by outlier_scale */
    SYN_ROUTER        /* std * z, outlier columns divided by outlier_scale */
} syn_kind;

typedef struct syn_model {
    awq_arch arch;
    awq_dtype dtype;          /* F16, BF16 or F32 */
    int hidden, ffn, layers, heads, kv_heads, head_dim, vocab;
    int tie;                  /* no lm_head.weight */
    int attention_bias;       /* Llama/Qwen3: bias on q,k,v,o */
    int mlp_bias;             /* Llama: bias on gate,up,down */
    /* Mixture of experts (arch MIXTRAL / QWEN3_MOE; n_experts 0 otherwise). A layer has experts
     * unless mlp_only[layer] or (layer + 1) % decoder_sparse_step != 0 (then a dense mlp of ffn),
     * as transformers' Qwen3MoeDecoderLayer decides; Mixtral: every layer, experts ffn wide. */
    int n_experts, experts_per_tok;
    int moe_ffn;              /* each expert's intermediate size */
    int norm_topk_prob;       /* config only (Mixtral: always) */
    int decoder_sparse_step;  /* >= 1 */
    unsigned char mlp_only[AWQ_MAX_LAYERS];
    /* DeepSeek-V3 (arch DEEPSEEK_V3): multi-head latent attention (q_lora 0: q_proj), layers >=
     * first_dense have experts plus n_shared shared experts (one mlp of moe_ffn * n_shared) and the
     * router's e_score_correction_bias; config-only: n_group, topk_group, routed_scaling */
    int q_lora, kv_lora, qk_nope, qk_rope, v_head, n_shared, n_group, topk_group, first_dense;
    double routed_scaling;
    uint64_t seed;
    int n_outliers;
    float outlier_scale, embed_outlier_scale;
    int *outliers;            /* [n_outliers] ascending channel indices; owned, set by syn_init */
    unsigned char *is_outlier;/* [hidden]; owned, set by syn_init */
} syn_model;

typedef struct syn_tensor {
    char name[SYN_NAME_MAX];
    int ndim;
    int64_t shape[2];
    syn_kind kind;
    float std;
    uint64_t key;             /* stream key: XXH3-64(name, seed) */
    float shift;              /* added last: -1 for Gemma's norms, stored as an offset from 1 */
} syn_tensor;

/* splitmix64's output function: a bijective 64-bit mixer. */
static inline uint64_t syn_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Element i of the stream `key`: splitmix64 evaluated at counter i. */
static inline uint64_t syn_bits(uint64_t key, uint64_t i) { return syn_mix(key + (i + 1) * 0x9e3779b97f4a7c15ull); }

/* Irwin-Hall(4), before scaling: the sum of the four 16-bit fields minus its mean 131070, an
 * integer in [-131070, 131070]. The sum of four uniforms on {0..65535} has variance
 * 4 * (65536^2 - 1) / 12 = 37837.227^2, so SYN_ZSCALE makes z = c * SYN_ZSCALE unit variance.
 * Every value of a tensor is a function of c alone (plus the outlier factor), which lets
 * syn_fill() convert through a table of the 262141 possible values. */
#define SYN_CMAX 131070
#define SYN_ZSCALE ((float)(1.0 / 37837.227237206))
static inline int32_t syn_centered(uint64_t key, uint64_t i)
{
    uint64_t h = syn_bits(key, i);
    return (int32_t)(h & 0xffff) + (int32_t)((h >> 16) & 0xffff) + (int32_t)((h >> 32) & 0xffff) + (int32_t)(h >> 48) - SYN_CMAX;
}

static inline float syn_normalish(uint64_t key, uint64_t i) { return (float)syn_centered(key, i) * SYN_ZSCALE; }

static inline uint64_t syn_key(const char *name, uint64_t seed) { return XXH3_64bits_withSeed(name, strlen(name), seed); }

static inline int syn_qkv_bias(const syn_model *m) { return m->arch == AWQ_ARCH_QWEN2 || m->attention_bias; }
static inline int syn_is_moe_arch(awq_arch a)
{
    return a == AWQ_ARCH_MIXTRAL || a == AWQ_ARCH_QWEN3_MOE || a == AWQ_ARCH_DEEPSEEK_V3;
}
static inline int syn_qk_norm(const syn_model *m)
{
    return m->arch == AWQ_ARCH_QWEN3 || m->arch == AWQ_ARCH_QWEN3_MOE || m->arch == AWQ_ARCH_GEMMA3;
}
/* Experts of layer i: 0 for a dense mlp (the rule of awq_layer_experts, stages/common/config.h). */
static inline int syn_layer_experts(const syn_model *m, int i)
{
    if (!syn_is_moe_arch(m->arch) || m->n_experts <= 0 || i < 0 || i >= AWQ_MAX_LAYERS || m->mlp_only[i]) return 0;
    if (m->arch == AWQ_ARCH_DEEPSEEK_V3) return i >= m->first_dense ? m->n_experts : 0;
    return m->decoder_sparse_step > 0 && (i + 1) % m->decoder_sparse_step == 0 ? m->n_experts : 0;
}
static inline int syn_o_bias(const syn_model *m) { return m->arch != AWQ_ARCH_QWEN2 && m->attention_bias; }

static inline void syn_free(syn_model *m)
{
    free(m->outliers);
    free(m->is_outlier);
    m->outliers = NULL;
    m->is_outlier = NULL;
}

static inline int syn_cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

/* Choose the outlier channels: n_outliers distinct channels of [0, hidden) from the seed
 * (partial Fisher-Yates), sorted. Returns 0, or -1 when out of memory / n_outliers > hidden. */
static inline int syn_init(syn_model *m)
{
    m->outliers = NULL;
    m->is_outlier = calloc((size_t)m->hidden, 1);
    int *perm = malloc((size_t)m->hidden * sizeof *perm);
    if (m->n_outliers > 0) m->outliers = malloc((size_t)m->n_outliers * sizeof *m->outliers);
    if (!m->is_outlier || !perm || (m->n_outliers > 0 && !m->outliers) || m->n_outliers > m->hidden || m->n_outliers < 0) {
        free(perm);
        syn_free(m);
        return -1;
    }
    for (int c = 0; c < m->hidden; c++) perm[c] = c;
    uint64_t key = syn_key("outlier-channels", m->seed);
    for (int j = 0; j < m->n_outliers; j++) {
        int r = j + (int)(syn_bits(key, (uint64_t)j) % (uint64_t)(m->hidden - j));
        int t = perm[j]; perm[j] = perm[r]; perm[r] = t;
        m->outliers[j] = perm[j];
        m->is_outlier[perm[j]] = 1;
    }
    free(perm);
    if (m->n_outliers > 0) qsort(m->outliers, (size_t)m->n_outliers, sizeof *m->outliers, syn_cmp_int);
    return 0;
}

static inline void syn_add(const syn_model *m, syn_tensor *out, int *n, const char *name, int ndim,
                           int64_t d0, int64_t d1, syn_kind kind, float std)
{
    syn_tensor *t = &out[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->kind = kind;
    t->std = std;
    t->key = syn_key(name, m->seed);
    /* Gemma multiplies by 1 + w: its norms are the same values minus 1 (the same function) */
    if ((m->arch == AWQ_ARCH_GEMMA2 || m->arch == AWQ_ARCH_GEMMA3) && (kind == SYN_NORM || kind == SYN_NORM_OUTLIER))
        t->shift = -1.0f;
}

/* The checkpoint's tensors in model order (embeddings, layer 0..L-1 as in spec §1.2, final
 * norm, lm_head), so shards split between blocks. A layer with experts has, after
 * post_attention_layernorm, the router and each expert's gate, up, down in expert order, named
 * as the architecture's checkpoints name them: Mixtral
 *   model.layers.N.block_sparse_moe.gate.weight, block_sparse_moe.experts.E.w1/w3/w2.weight
 * (w1 = gate, w3 = up, w2 = down), Qwen3-MoE
 *   model.layers.N.mlp.gate.weight, mlp.experts.E.gate_proj/up_proj/down_proj.weight.
 * Returns a malloc'ed array (caller frees) and its length in *count; NULL when out of memory. */
static inline syn_tensor *syn_plan(const syn_model *m, int *count)
{
    const int64_t C = m->hidden, F = m->ffn, D = m->head_dim, q = (int64_t)m->heads * D, kv = (int64_t)m->kv_heads * D;
    const int64_t Fe = m->moe_ffn;
    size_t cap = 3;
    for (int i = 0; i < m->layers; i++) cap += 30 + 3 * (size_t)syn_layer_experts(m, i);
    syn_tensor *t = malloc(cap * sizeof *t);
    if (!t) return NULL;
    int n = 0;
    char name[SYN_NAME_MAX];
    float inv_c = 1.0f / sqrtf((float)C), inv_q = 1.0f / sqrtf((float)q), inv_f = 1.0f / sqrtf((float)F);
    float inv_fe = Fe > 0 ? 1.0f / sqrtf((float)Fe) : 0.0f;
    syn_add(m, t, &n, "model.embed_tokens.weight", 2, m->vocab, C, SYN_EMBED, inv_c);
#define ADD(ndim, d0, d1, kind, std, ...) \
    (snprintf(name, sizeof name, __VA_ARGS__), syn_add(m, t, &n, name, ndim, d0, d1, kind, std))
    for (int i = 0; i < m->layers; i++) {
        const char *p = "model.layers";
        ADD(1, C, 0, SYN_NORM_OUTLIER, SYN_NORM_STD, "%s.%d.input_layernorm.weight", p, i);
        if (m->arch == AWQ_ARCH_DEEPSEEK_V3) { /* the latent attention, as DeepSeek-V3's checkpoint names it */
            const int64_t H = m->heads, dqk = m->qk_nope + m->qk_rope, rq = m->q_lora, rkv = m->kv_lora;
            if (rq) {
                ADD(2, rq, C, SYN_WEIGHT, inv_c, "%s.%d.self_attn.q_a_proj.weight", p, i);
                ADD(1, rq, 0, SYN_NORM, SYN_NORM_STD, "%s.%d.self_attn.q_a_layernorm.weight", p, i);
                ADD(2, H * dqk, rq, SYN_WEIGHT, 1.0f / sqrtf((float)rq), "%s.%d.self_attn.q_b_proj.weight", p, i);
            } else {
                ADD(2, H * dqk, C, SYN_WEIGHT, inv_c, "%s.%d.self_attn.q_proj.weight", p, i);
            }
            ADD(2, rkv + m->qk_rope, C, SYN_WEIGHT, inv_c, "%s.%d.self_attn.kv_a_proj_with_mqa.weight", p, i);
            ADD(1, rkv, 0, SYN_NORM, SYN_NORM_STD, "%s.%d.self_attn.kv_a_layernorm.weight", p, i);
            ADD(2, H * (m->qk_nope + m->v_head), rkv, SYN_WEIGHT, 1.0f / sqrtf((float)rkv), "%s.%d.self_attn.kv_b_proj.weight", p, i);
            ADD(2, C, H * m->v_head, SYN_WEIGHT, 1.0f / sqrtf((float)(H * m->v_head)), "%s.%d.self_attn.o_proj.weight", p, i);
            ADD(1, C, 0, SYN_NORM_OUTLIER, SYN_NORM_STD, "%s.%d.post_attention_layernorm.weight", p, i);
            const int E = syn_layer_experts(m, i);
            if (E) {
                const int64_t Fs = Fe * m->n_shared;
                ADD(2, E, C, SYN_ROUTER, inv_c, "%s.%d.mlp.gate.weight", p, i);
                ADD(1, E, 0, SYN_WEIGHT, SYN_BIAS_STD, "%s.%d.mlp.gate.e_score_correction_bias", p, i);
                for (int e = 0; e < E; e++) {
                    ADD(2, Fe, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.experts.%d.gate_proj.weight", p, i, e);
                    ADD(2, Fe, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.experts.%d.up_proj.weight", p, i, e);
                    ADD(2, C, Fe, SYN_WEIGHT, inv_fe, "%s.%d.mlp.experts.%d.down_proj.weight", p, i, e);
                }
                ADD(2, Fs, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.shared_experts.gate_proj.weight", p, i);
                ADD(2, Fs, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.shared_experts.up_proj.weight", p, i);
                ADD(2, C, Fs, SYN_WEIGHT, 1.0f / sqrtf((float)Fs), "%s.%d.mlp.shared_experts.down_proj.weight", p, i);
                continue;
            }
            ADD(2, F, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.gate_proj.weight", p, i);
            ADD(2, F, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.up_proj.weight", p, i);
            ADD(2, C, F, SYN_WEIGHT, inv_f, "%s.%d.mlp.down_proj.weight", p, i);
            continue;
        }
        static const char *proj[3] = {"q_proj", "k_proj", "v_proj"};
        const int phi3 = m->arch == AWQ_ARCH_PHI3; /* q/k/v and gate/up fused, as Phi-3 stores them */
        if (phi3) ADD(2, q + 2 * kv, C, SYN_WEIGHT, inv_c, "%s.%d.self_attn.qkv_proj.weight", p, i);
        for (int j = 0; j < 3 && !phi3; j++) {
            int64_t out = j == 0 ? q : kv;
            ADD(2, out, C, SYN_WEIGHT, inv_c, "%s.%d.self_attn.%s.weight", p, i, proj[j]);
            if (syn_qkv_bias(m)) ADD(1, out, 0, SYN_WEIGHT, SYN_BIAS_STD, "%s.%d.self_attn.%s.bias", p, i, proj[j]);
        }
        ADD(2, C, q, SYN_WEIGHT, inv_q, "%s.%d.self_attn.o_proj.weight", p, i);
        if (syn_o_bias(m)) ADD(1, C, 0, SYN_WEIGHT, SYN_BIAS_STD, "%s.%d.self_attn.o_proj.bias", p, i);
        if (syn_qk_norm(m)) {
            ADD(1, D, 0, SYN_NORM, SYN_NORM_STD, "%s.%d.self_attn.q_norm.weight", p, i);
            ADD(1, D, 0, SYN_NORM, SYN_NORM_STD, "%s.%d.self_attn.k_norm.weight", p, i);
        }
        /* the norm on the attention's output, then the mlp's input norm */
        const int gemma = m->arch == AWQ_ARCH_GEMMA2 || m->arch == AWQ_ARCH_GEMMA3;
        if (gemma) {
            ADD(1, C, 0, SYN_NORM, SYN_NORM_STD, "%s.%d.post_attention_layernorm.weight", p, i);
            ADD(1, C, 0, SYN_NORM_OUTLIER, SYN_NORM_STD, "%s.%d.pre_feedforward_layernorm.weight", p, i);
            ADD(1, C, 0, SYN_NORM, SYN_NORM_STD, "%s.%d.post_feedforward_layernorm.weight", p, i);
        } else
            ADD(1, C, 0, SYN_NORM_OUTLIER, SYN_NORM_STD, "%s.%d.post_attention_layernorm.weight", p, i);
        const int E = syn_layer_experts(m, i);
        if (E) {
            const int mixtral = m->arch == AWQ_ARCH_MIXTRAL;
            const char *moe = mixtral ? "block_sparse_moe" : "mlp";
            static const char *const mix_w[3] = {"w1", "w3", "w2"}, *const qwen_w[3] = {"gate_proj", "up_proj", "down_proj"};
            const char *const *w = mixtral ? mix_w : qwen_w;
            ADD(2, E, C, SYN_ROUTER, inv_c, "%s.%d.%s.gate.weight", p, i, moe);
            for (int e = 0; e < E; e++) {
                ADD(2, Fe, C, SYN_WEIGHT, inv_c, "%s.%d.%s.experts.%d.%s.weight", p, i, moe, e, w[0]);
                ADD(2, Fe, C, SYN_WEIGHT, inv_c, "%s.%d.%s.experts.%d.%s.weight", p, i, moe, e, w[1]);
                ADD(2, C, Fe, SYN_WEIGHT, inv_fe, "%s.%d.%s.experts.%d.%s.weight", p, i, moe, e, w[2]);
            }
            continue;
        }
        if (phi3) {
            ADD(2, 2 * F, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.gate_up_proj.weight", p, i);
        } else {
            ADD(2, F, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.gate_proj.weight", p, i);
            if (m->mlp_bias) ADD(1, F, 0, SYN_WEIGHT, SYN_BIAS_STD, "%s.%d.mlp.gate_proj.bias", p, i);
            ADD(2, F, C, SYN_WEIGHT, inv_c, "%s.%d.mlp.up_proj.weight", p, i);
            if (m->mlp_bias) ADD(1, F, 0, SYN_WEIGHT, SYN_BIAS_STD, "%s.%d.mlp.up_proj.bias", p, i);
        }
        ADD(2, C, F, SYN_WEIGHT, inv_f, "%s.%d.mlp.down_proj.weight", p, i);
        if (m->mlp_bias) ADD(1, C, 0, SYN_WEIGHT, SYN_BIAS_STD, "%s.%d.mlp.down_proj.bias", p, i);
    }
#undef ADD
    syn_add(m, t, &n, "model.norm.weight", 1, C, 0, SYN_NORM, SYN_NORM_STD);
    if (!m->tie) syn_add(m, t, &n, "lm_head.weight", 2, m->vocab, C, SYN_WEIGHT, inv_c);
    *count = n;
    return t;
}

static inline uint64_t syn_numel(const syn_tensor *t) { return (uint64_t)t->shape[0] * (uint64_t)(t->ndim == 2 ? t->shape[1] : 1); }

/* The value for centred sum c before any outlier factor. */
static inline float syn_base(const syn_tensor *t, int32_t c)
{
    float z = (float)c * SYN_ZSCALE;
    return t->kind == SYN_NORM || t->kind == SYN_NORM_OUTLIER ? 1.0f + t->std * z : t->std * z;
}

/* The outlier factor of element i: does it sit on a planted outlier channel? 0 when not. */
static inline float syn_outlier_factor(const syn_model *m, const syn_tensor *t, uint64_t i)
{
    if (t->kind == SYN_NORM_OUTLIER) return m->is_outlier[i] ? m->outlier_scale : 0.0f;
    if (t->kind == SYN_EMBED) return m->is_outlier[i % (uint64_t)m->hidden] ? m->embed_outlier_scale : 0.0f;
    if (t->kind == SYN_ROUTER) return m->is_outlier[i % (uint64_t)m->hidden] ? 1.0f / m->outlier_scale : 0.0f;
    return 0.0f;
}

/* The fp32 value of element i (row-major) of tensor t, before rounding to the dtype. */
static inline float syn_value(const syn_model *m, const syn_tensor *t, uint64_t i)
{
    float v = syn_base(t, syn_centered(t->key, i)), f = syn_outlier_factor(m, t, i);
    return (f != 0.0f ? v * f : v) + t->shift;
}

static inline uint16_t syn_to_half(awq_dtype dt, float v) { return dt == AWQ_DT_BF16 ? awq_f32_to_bf16(v) : awq_f32_to_f16(v); }

/* Elements [first, first+n) of t in m->dtype, little-endian, into out. Parallel over elements;
 * each element depends only on its index, so the bytes do not depend on the thread count or
 * the chunking. For 16-bit dtypes and large n the fp32 -> half rounding (the costly part) goes
 * through a table over the 262141 possible centred sums: the same function, computed once. */
static inline void syn_fill(const syn_model *m, const syn_tensor *t, uint64_t first, size_t n, void *out)
{
    long long nn = (long long)n;
    if (m->dtype == AWQ_DT_F32) {
        float *o = out;
#pragma omp parallel for schedule(static) if (nn > 65536)
        for (long long k = 0; k < nn; k++) o[k] = syn_value(m, t, first + (uint64_t)k);
        return;
    }
    uint16_t *o = out, *lut = nn >= (1 << 20) ? malloc((2 * SYN_CMAX + 1) * sizeof *lut) : NULL;
    if (!lut) {
#pragma omp parallel for schedule(static) if (nn > 65536)
        for (long long k = 0; k < nn; k++) o[k] = syn_to_half(m->dtype, syn_value(m, t, first + (uint64_t)k));
        return;
    }
#pragma omp parallel for schedule(static)
    for (int32_t c = -SYN_CMAX; c <= SYN_CMAX; c++) lut[c + SYN_CMAX] = syn_to_half(m->dtype, syn_base(t, c) + t->shift);
#pragma omp parallel for schedule(static)
    for (long long k = 0; k < nn; k++) {
        uint64_t i = first + (uint64_t)k;
        int32_t c = syn_centered(t->key, i);
        float f = syn_outlier_factor(m, t, i);
        o[k] = f != 0.0f ? syn_to_half(m->dtype, syn_base(t, c) * f + t->shift) : lut[c + SYN_CMAX];
    }
    free(lut);
}

#endif
