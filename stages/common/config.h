/* config.h - the parts of an HF config.json that define a Llama-family decoder (spec §1.1).
 * Supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, the
 * mixture-of-experts MixtralForCausalLM and Qwen3MoeForCausalLM (awq_layer_experts),
 * DeepseekV3ForCausalLM (multi-head latent attention, YaRN RoPE, shared experts, group-limited
 * sigmoid routing; transformers 5.23's DeepseekV3Config defaults for absent keys), and
 * Phi3ForCausalLM (Phi-3, Phi-4: fused qkv_proj and gate_up_proj, longrope, partial rotary;
 * Phi3Config's defaults: rms_norm_eps 1e-5, max and original max positions 4096).
 * Anything else (architecture, rope type, activation, active sliding window < 2048 but for Phi3 and
 * Gemma, whose windows the attention computes) is refused
 * with a message naming the key and the file.
 *
 * Rules beyond the plain keys: architectures[0] picks the class, model_type (when present) must
 * match it, and model_type alone is used when architectures is absent. A JSON null counts as
 * absent. Integers must be JSON integers (4096.0 is refused), booleans JSON booleans. Both rope
 * forms are read: rope_parameters (transformers v5, may carry rope_theta) wins over
 * rope_theta + rope_scaling; the type is "rope_type" or the older "type"; only default and llama3
 * are accepted (DeepseekV3: default and yarn; Phi3: default and longrope), and partial_rotary_factor
 * must be 1 (Phi3: any giving an even rotary width). Sliding window: Mistral's non-null
 * sliding_window is active; Qwen2/Qwen3 use one only when use_sliding_window is true, and only
 * on layers >= max_window_layers (class defaults: window 4096, max_window_layers 28); Llama has
 * none. "dtype" (v5) wins over "torch_dtype". */
#ifndef AWQ_CONFIG_H
#define AWQ_CONFIG_H

#include <stddef.h>

#include "../../cache/dtype.h"
#include "../../base/error.h"

typedef enum awq_arch {
    AWQ_ARCH_LLAMA = 1, AWQ_ARCH_MISTRAL, AWQ_ARCH_QWEN2, AWQ_ARCH_QWEN3, AWQ_ARCH_MIXTRAL, AWQ_ARCH_QWEN3_MOE,
    AWQ_ARCH_DEEPSEEK_V3, AWQ_ARCH_PHI3, AWQ_ARCH_GEMMA2, AWQ_ARCH_GEMMA3
} awq_arch;

/* The most routed experts a block may have (DeepSeek-V3 has 256): the block's tensor slots are
 * fixed-size arrays (model.h). */
#define AWQ_MAX_EXPERTS 256
#define AWQ_MAX_LAYERS 1024

typedef enum awq_rope_type {
    AWQ_ROPE_DEFAULT = 0, AWQ_ROPE_LLAMA3 = 1, AWQ_ROPE_YARN = 2, AWQ_ROPE_LONGROPE = 3, AWQ_ROPE_LINEAR = 4
} awq_rope_type;

/* The most rotation pairs a head may have (longrope's factor lists are this long at most). */
#define AWQ_MAX_ROPE_PAIRS 512

/* How a mixture-of-experts block routes: softmax top-k (Mixtral, Qwen3-MoE), or DeepSeek-V3's
 * sigmoid scores with the correction bias and group-limited top-k (moe.h). */
typedef enum awq_router { AWQ_ROUTER_SOFTMAX = 0, AWQ_ROUTER_SIGMOID_GROUPED = 1 } awq_router;

typedef struct awq_config {
    awq_arch arch;
    char architecture[64];      /* architectures[0], e.g. "LlamaForCausalLM" */
    char model_type[32];        /* "llama", "mistral", "qwen2", "qwen3", "mixtral", "qwen3_moe" */
    int hidden_size;            /* C */
    int intermediate_size;      /* F */
    int num_hidden_layers;      /* L */
    int num_attention_heads;    /* H */
    int num_key_value_heads;    /* Hkv (default H) */
    int head_dim;               /* D (default C/H); DeepseekV3: qk_nope_head_dim + qk_rope_head_dim */
    int vocab_size;             /* V */
    int max_position_embeddings;/* 0 when absent */
    double rms_norm_eps;        /* default 1e-6 (class default), always read */
    double rope_theta;          /* default 10000 */
    awq_rope_type rope_type;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor; /* llama3 only */
    int rope_original_max_position_embeddings;                      /* llama3 and yarn */
    /* yarn (DeepseekV3 only): beta_fast/beta_slow (defaults 32/1, a 0 counts as absent, as
     * transformers' `or`), mscale and mscale_all_dim (0 when absent), truncate (default true), and
     * the cos/sin factor transformers derives (attention_factor, or get_mscale(factor, mscale) /
     * get_mscale(factor, mscale_all_dim) when both are non-zero, else get_mscale(factor)). */
    double rope_beta_fast, rope_beta_slow, rope_mscale, rope_mscale_all_dim, rope_attention_factor;
    int rope_truncate;
    /* Phi3 (transformers 5.23's Phi3Config and _compute_longrope_parameters): rotary_dim =
     * int(head_dim * partial_rotary_factor) (0: the whole head); longrope ("su" and "yarn" are read
     * as longrope, as Phi3Config does) with short and long factors of rotary_dim/2 entries each, the
     * long ones used when a sequence is longer than rope_original_max_position_embeddings (the
     * top-level original_max_position_embeddings, default 4096, which wins over the rope block's),
     * and cos/sin times rope_attention_factor (the file's attention_factor, else sqrt(1 + ln(factor) /
     * ln(original)) for factor = the file's factor or max_position_embeddings / original, > 1). */
    int rotary_dim;
    float rope_short_factor[AWQ_MAX_ROPE_PAIRS], rope_long_factor[AWQ_MAX_ROPE_PAIRS];
    int fused;                  /* Phi3: q/k/v stored as one self_attn.qkv_proj and gate/up as one
                                 * mlp.gate_up_proj (stages/common/fused.h) */
    int tie_word_embeddings;    /* default 0 for this family */
    int qkv_bias;               /* q,k,v have bias (Qwen2 always; Llama/Qwen3 attention_bias) */
    int o_bias;                 /* o_proj has bias (Llama/Qwen3 attention_bias) */
    int mlp_bias;               /* Llama mlp_bias */
    int qk_norm;                /* Qwen3: per-head q_norm/k_norm */
    int sliding_window;         /* active window (0 = none); Phi3: every layer; Gemma: only on the layers of
                                 * layer_sliding; Mistral, Qwen2: >= 2048, so the forward ignores it */
    /* Gemma 2 (transformers 5.23's Gemma2Config and modeling_gemma2.py; 4.51.3 computes the same):
     * the embedding times sqrt(hidden_size) in the model's dtype; every RMSNorm is (1 + w)
     * (rmsnorm_1p); a block is x += post_attention_layernorm(attn(input_layernorm(x))), then
     * x += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x))); GeGLU with tanh GELU;
     * scores times query_pre_attn_scalar^-0.5 and soft-capped by tanh(s / cap) * cap; the layers
     * of layer_types "sliding_attention" (default: the even ones) attend through sliding_window;
     * the logits soft-capped by final_logit_softcapping. Class defaults for absent keys: head_dim
     * 256, query_pre_attn_scalar 256, sliding_window 4096, caps 50 and 30, tied embeddings. */
    int gemma;
    double query_pre_attn_scalar, attn_softcap, final_softcap; /* 0: none (head_dim's scale, no cap) */
    /* Gemma 3 (text, Gemma3ForCausalLM / gemma3_text; Gemma3TextConfig): the Gemma 2 block plus (1 + w)
     * q_norm/k_norm (qk_norm), no soft-capping by default, the sliding layers from layer_types or
     * sliding_window_pattern (default 6: every sixth layer global), and two RoPEs: the global
     * layers' rope_theta (default 1e6) with the file's rope_scaling ("linear": rope_factor, inv_freq
     * divided by it), the sliding layers' rope_local_theta (rope_local_base_freq, default 1e4),
     * unscaled. transformers 5's form (rope_parameters per layer type) is read too. */
    double rope_local_theta;    /* 0: every layer uses rope_theta (Gemma 2) */
    unsigned char layer_sliding[AWQ_MAX_LAYERS]; /* Gemma: 1 where the layer uses sliding_window */
    awq_dtype torch_dtype;      /* F16/BF16/F32; AWQ_DT_INVALID when absent */
    int bos_token_id, eos_token_id; /* -1 when absent or negative (eos: first of a list) */
    /* Mixture of experts (0 experts: dense). Mixtral: num_local_experts, intermediate_size per
     * expert, every layer sparse, the top-k weights always renormalized. Qwen3-MoE: num_experts,
     * moe_intermediate_size per expert, a layer is sparse unless listed in mlp_only_layers or
     * (layer + 1) % decoder_sparse_step != 0 (then a dense mlp of intermediate_size), and the
     * top-k weights renormalized only with norm_topk_prob. */
    int n_experts;              /* E */
    int n_experts_per_tok;      /* top-k */
    int moe_intermediate_size;  /* Fe, each expert's ffn width */
    int norm_topk_prob;
    int decoder_sparse_step;    /* >= 1 */
    unsigned char mlp_only[AWQ_MAX_LAYERS]; /* 1: layer listed in mlp_only_layers (DeepseekV3: the first
                                             * first_k_dense_replace layers) */
    /* DeepseekV3 (transformers 5.23, modeling_deepseek_v3.py). Multi-head latent attention (mla):
     * q = q_b_proj(q_a_layernorm(q_a_proj(x))), or q_proj(x) when q_lora_rank is null (0 here);
     * kv_a_proj_with_mqa(x) = [kv_lora_rank latent | qk_rope_head_dim shared rope key], the latent
     * through kv_a_layernorm and kv_b_proj to H heads of [qk_nope_head_dim key | v_head_dim value];
     * both latent norms have eps 1e-6 (DeepseekV3RMSNorm's default), not rms_norm_eps. The
     * softmax scale attn_scale = head_dim^-0.5, times mscale^2 with mscale = 0.1 * mscale_all_dim *
     * ln(factor) + 1 under yarn with a non-zero mscale_all_dim (yarn_apply_mscale). RoPE runs on the
     * last qk_rope_head_dim of each q head and on the shared key part, interleaved pairs when
     * rope_interleave. Experts: n_experts routed (n_routed_experts) plus one shared mlp of
     * moe_intermediate_size * n_shared_experts added to their sum; layers < first_k_dense_replace
     * are dense (intermediate_size). */
    int mla;
    int q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim, rope_interleave;
    double attn_scale;          /* the softmax scale (mla) */
    awq_router router;
    int n_shared_experts, n_group, topk_group, first_k_dense_replace;
    double routed_scaling_factor;
} awq_config;

/* Width of the attention output (o_proj's in_features): H * v_head_dim under mla, else H * D. */
static inline int awq_attn_out_width(const awq_config *c)
{
    return c->num_attention_heads * (c->mla ? c->v_head_dim : c->head_dim);
}

/* The sliding window block `layer` attends through (0: none; Gemma: only its sliding layers). */
static inline int awq_layer_window(const awq_config *c, int layer)
{
    if (!c->gemma) return c->sliding_window;
    return layer >= 0 && layer < c->num_hidden_layers && c->layer_sliding[layer] ? c->sliding_window : 0;
}

/* Experts of block `layer`: 0 for a dense block (the mlp slots), else cfg->n_experts. */
int awq_layer_experts(const awq_config *cfg, int layer);
/* Does the model have any mixture-of-experts block? */
static inline int awq_config_is_moe(const awq_config *cfg) { return cfg->n_experts > 0; }

/* Read and validate `path` (a config.json, or a directory containing one). Errors:
 * AWQ_ERR_NOTFOUND/IO (cannot read), AWQ_ERR_FORMAT (bad JSON, missing/mistyped/out-of-range
 * key), AWQ_ERR_UNSUPPORTED (valid config of something we do not handle); the message names
 * the file and key. *cfg is fully written either way (zeroed/defaults on error). */
awq_err awq_config_load(awq_config *cfg, const char *path);
/* Same from `len` bytes in memory (need not be NUL-terminated); `name` is used in messages
 * (exposed for the fuzzer). */
awq_err awq_config_parse(awq_config *cfg, const char *json, size_t len, const char *name);

const char *awq_arch_name(awq_arch a); /* its model_type: "llama", ...; "?" when unknown */

#endif
