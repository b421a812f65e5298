/* model.h - an HF model directory opened for awqmake: config.json + safetensors, with every
 * tensor a Llama-family decoder needs (spec §1.2) checked for presence, dtype and shape, and
 * the decoder blocks addressed by slot (q_proj, k_proj, ...) instead of by name. */
#ifndef AWQ_MODEL_H
#define AWQ_MODEL_H

#include "../../cache/key.h"
#include "config.h"
#include "safetensors.h"

/* The tensors of one decoder block, in a fixed order (also the hashing order of the block key).
 * A mixture-of-experts block has no dense mlp slots (gate/up/down and their biases) but a
 * router (AWQ_W_ROUTER, never quantized) and, after the fixed slots, each expert's gate, up
 * and down weights: AWQ_SLOT_EXPERT(e, AWQ_EXPERT_UP) etc. Every array indexed by slot has
 * AWQ_SLOT__COUNT entries; those of experts a block does not have are NULL. */
typedef enum awq_slot {
    AWQ_W_INPUT_NORM, AWQ_W_Q, AWQ_W_K, AWQ_W_V, AWQ_W_O, AWQ_W_Q_NORM, AWQ_W_K_NORM,
    AWQ_W_POST_NORM, AWQ_W_GATE, AWQ_W_UP, AWQ_W_DOWN,
    AWQ_B_Q, AWQ_B_K, AWQ_B_V, AWQ_B_O, AWQ_B_GATE, AWQ_B_UP, AWQ_B_DOWN,
    AWQ_W_ROUTER,
    /* DeepseekV3: the router's e_score_correction_bias, the shared experts' mlp, and the
     * multi-head latent attention's own linears and norms (q_proj and o_proj are AWQ_W_Q and
     * AWQ_W_O). After the router so that the dense and Mixtral/Qwen3-MoE slots keep their places. */
    AWQ_W_ROUTER_BIAS, AWQ_W_SHARED_GATE, AWQ_W_SHARED_UP, AWQ_W_SHARED_DOWN,
    AWQ_W_Q_A, AWQ_W_Q_A_NORM, AWQ_W_Q_B, AWQ_W_KV_A, AWQ_W_KV_A_NORM, AWQ_W_KV_B,
    /* Gemma 2: the norms around the mlp (AWQ_W_POST_NORM is its post_attention_layernorm, on the
     * attention's output; pre_feedforward_layernorm is the mlp's input norm) */
    AWQ_W_PRE_FF_NORM, AWQ_W_POST_FF_NORM,
    AWQ_SLOT__FIXED
} awq_slot;

enum { AWQ_EXPERT_GATE, AWQ_EXPERT_UP, AWQ_EXPERT_DOWN, AWQ_EXPERT__SLOTS };
#define AWQ_SLOT_EXPERT(e, k) ((awq_slot)(AWQ_SLOT__FIXED + AWQ_EXPERT__SLOTS * (e) + (k)))
#define AWQ_SLOT__COUNT (AWQ_SLOT__FIXED + AWQ_EXPERT__SLOTS * AWQ_MAX_EXPERTS)

/* The slot's name inside awqmake's objects and keys: "self_attn.q_proj.weight" etc. (the part
 * after "model.layers.<i>."); experts "mlp.experts.<e>.gate_proj.weight", the router
 * "mlp.gate.weight" whatever the architecture calls them. */
const char *awq_slot_suffix(awq_slot s);
/* A block-relative tensor name of awqmake's objects ("mlp.experts.3.gate_proj.qweight",
 * "mlp.gate.weight", "self_attn.q_proj.qweight") as this architecture's checkpoint names it
 * (Mixtral: "block_sparse_moe.experts.3.w1.qweight", "block_sparse_moe.gate.weight"), into buf. */
const char *awq_ckpt_name(const awq_config *cfg, const char *name, char *buf, size_t len);
/* The slot's tensor name in this architecture's checkpoint (Mixtral:
 * "block_sparse_moe.experts.<e>.w1.weight", ...), into buf (at least 96 bytes). */
const char *awq_slot_name(const awq_config *cfg, awq_slot s, char *buf, size_t len);

typedef struct awq_block {
    int layer;
    const st_tensor *t[AWQ_SLOT__COUNT]; /* NULL for slots this architecture does not have */
} awq_block;

typedef struct awq_model {
    awq_config cfg;
    st_model *st;
    char *dir;                           /* owned */
    const st_tensor *embed;              /* [V, C] */
    const st_tensor *final_norm;         /* [C] */
    const st_tensor *lm_head;            /* [V, C]; == embed when tied */
    awq_key *key_memo;                   /* [L block keys, embed key] from the store's memo, or NULL */
    uint32_t *mag_memo;                  /* [L blocks, embed, rest] largest magnitudes from the memo, or NULL */
    st_tensor *fused_views;              /* Phi3: each block's q/k/v and gate/up as views of its fused
                                          * tensors (fused.h), or NULL */
    char *fused_names;                   /* their names */
} awq_model;

/* Open `dir`: config.json, safetensors, and check every tensor of spec §1.2 (presence, dtype
 * F16/BF16/F32, shape) with a message naming the tensor and the expected shape. */
awq_err awq_model_open(awq_model **out, const char *dir);
void awq_model_close(awq_model *m);      /* NULL is a no-op */

/* The tensors of block `layer` (0 <= layer < L). */
awq_err awq_model_block(const awq_model *m, int layer, awq_block *out);

/* Source key of a block: XXH3-128 over (slot name, dtype, shape, bytes) of its tensors plus the
 * config values the block forward depends on. Two models sharing a block share its key. */
awq_err awq_block_key(const awq_model *m, int layer, awq_key *out);
/* Key of the non-block tensors used by the embedding (embed_tokens) - for the block-0 input. */
awq_err awq_embed_key(const awq_model *m, awq_key *out);
/* Both come from m->key_memo when it is loaded (keymemo.c: hashing a block reads all its bytes). */

/* The same keys, always read from the bytes, and on the way the largest magnitude of the values
 * (values.h: |x| as fp32 bits, NaN > Inf > finite), for awq_model_check_values (mag may be NULL). */
awq_err awq_block_hash(const awq_model *m, int layer, awq_key *out, uint32_t *mag);
awq_err awq_embed_hash(const awq_model *m, awq_key *out, uint32_t *mag);
/* The largest magnitude of the other tensors the output holds: the final norm, and lm_head when
 * it is not the embedding (the only bytes the check reads that the keys do not). */
uint32_t awq_rest_mag(const awq_model *m);

/* Refuse, before anything is computed, values the pipeline cannot carry, given the magnitudes
 * mag[L + 2] (blocks, embedding, rest) that hashing found: NaN or Inf in any tensor; beyond fp16
 * (|x| >= 65520 rounds to Inf) in the embedding, final norm or lm_head, which the checkpoint holds
 * in fp16, and, with round_f16 (NUMERICS=fp16), in any block tensor. Only a unit whose magnitude
 * fails is read again, to name the file, tensor and element of its first such value
 * (AWQ_ERR_NUMERIC; the hint names NUMERICS=fp32 where that would help). */
awq_err awq_model_check_values(const awq_model *m, const uint32_t *mag, int round_f16);

/* Load the keys awq-plan remembered in <store_root>/memo (NULL: the default store) into
 * m->key_memo, and the magnitudes into m->mag_memo when the memo has them (memos written before
 * the check have keys only); 1 when found, 0 when not (then the keys are computed on demand; not
 * an error). */
int awq_model_load_key_memo(awq_model *m, const char *store_root);
/* Remember computed keys (blocks [L], embed) and magnitudes (mag[L + 2], as for
 * awq_model_check_values) there, and use them from now on. */
awq_err awq_model_save_key_memo(awq_model *m, const char *store_root, const awq_key *blocks, const awq_key *embed,
                                const uint32_t *mag);

/* Key of the output's non-block tensors (embed_tokens, final norm, lm_head when untied, in fp16;
 * the "rest" shard of stages/common/shard.h), from the identity of the model's files
 * (config.json's bytes, each safetensors file's path, size, mtime and inode): no weight is read,
 * and any change of the files gives a new key. Errors: a file that cannot be read or stat'ed. */
awq_err awq_rest_key(const awq_model *m, awq_key *out);

#endif
