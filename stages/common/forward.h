/* forward.h - the Llama-family decoder block forward (spec §1.4) on any kernels backend, with
 * the inputs of every linear ("feats", spec §2.3) and the two sub-modules AWQ inspects
 * (self_attn and mlp without their residuals, spec §2.4), plus final norm + lm_head logits.
 *
 * Activations are fp32 backend memory laid out [n_seq * seqlen, width]; every sequence has its
 * own positions 0..seqlen-1 and attends only to itself. The work is done a few sequences at a
 * time (chunk_seqs) so the scratch memory does not grow with the calibration set. */
#ifndef AWQ_FORWARD_H
#define AWQ_FORWARD_H

#include "../../kernels/kernels.h"
#include "kern_err.h"
#include "model.h"

/* A block's weights as the kernels see them (backend memory; absent slots have data NULL). */
typedef struct awq_block_w {
    kern_weight w[AWQ_SLOT__COUNT];
    int layer1; /* 1 + the block's layer, 0 when not known: the forward of a model whose layers
                 * differ beyond their tensors (Gemma's sliding-window layers) then fails */
} awq_block_w;

/* Point the weights of block `layer` straight at the model's mapping (CPU backend only). */
awq_err awq_block_w_host(const awq_model *m, int layer, awq_block_w *out);
/* The same weights in backend memory: lent on the CPU, copied to the device otherwise (own[]
 * holds what was allocated; release with awq_block_w_release). */
awq_err awq_block_w_upload(const awq_backend *be, const awq_block_w *host, awq_block_w *out, void *own[AWQ_SLOT__COUNT],
                           const size_t bytes[AWQ_SLOT__COUNT]);
awq_err awq_model_block_upload(const awq_backend *be, const awq_model *m, int layer, awq_block_w *out,
                               void *own[AWQ_SLOT__COUNT]);
void awq_block_w_release(const awq_backend *be, void *own[AWQ_SLOT__COUNT]);

/* Kernel dtype of a stored tensor (F32/F16/BF16). */
kern_dtype awq_kern_dtype(awq_dtype t);

/* Which token and expert a row of a mixture-of-experts block's down_in feat belongs to: the
 * token's slot-th choice (0 = the router's first). */
typedef struct awq_route { int32_t token, expert, slot; } awq_route;

/* Inputs of the block's linears, fp32 [N, in_features] each (caller-owned backend memory);
 * NULL members are not captured. q/k/v share attn_in and gate/up share mlp_in. In a
 * mixture-of-experts block mlp_in is every expert's gate/up input (each expert reads the rows of
 * its tokens) and down_in holds N * k rows of width Fe, one per (token, chosen expert): the rows
 * of each pass of chunk_seqs sequences, grouped by expert; routes (host, [N * k], required then)
 * says which token and expert each row is. */
typedef struct awq_feats {
    float *attn_in; /* input_layernorm(x)        [N, C]    -> q_proj, k_proj, v_proj */
    float *o_in;    /* attention output           [N, H*D]  -> o_proj (MLA: [N, H*v_head_dim]) */
    float *mlp_in;  /* post_attention_layernorm   [N, C]    -> gate_proj, up_proj (every expert's) */
    float *down_in; /* silu(gate) * up            [N, F] or [N * k, Fe] -> down_proj */
    awq_route *routes;
    /* DeepSeek-V3's (after routes, so positional initializers of the others stay valid) */
    float *q_b_in;         /* q_a_layernorm(q_a_proj(a))  [N, q_lora_rank]  -> q_b_proj */
    float *kv_b_in;        /* kv_a_layernorm(latent)      [N, kv_lora_rank] -> kv_b_proj */
    float *shared_down_in; /* the shared experts' silu(gate) * up [N, Fe * n_shared_experts] */
} awq_feats;

enum { AWQ_FWD_NBUF = 8 };

/* The experts' scratch (stages/common/moe.h), for a model with a mixture-of-experts block. A pass
 * of `rows` tokens has R = rows * k routed rows, sorted by expert. */
typedef struct awq_moe_scratch {
    float *logits;              /* [rows, E] router logits (backend) */
    float *zero;                /* [rows, C] zeros, where the experts' sum starts (backend) */
    float *x, *y;               /* [R, C] a batch of experts' gathered inputs and their outputs (backend) */
    int32_t *rows;              /* [R] the token of each routed row of a batch (backend) */
    float *wt;                  /* [R] their routing weights (backend) */
    int32_t *idx;               /* [rows, k] each token's rows in the batch, experts ascending, -1: none (backend) */
    uint16_t *w16;              /* a batch's expert weights as fp16 ([3 * batch, Fe * C]), made when needed (backend) */
    float *h_logits;            /* host copies and the routing: [rows, E] */
    int32_t *h_expert;          /* [rows * k] */
    float *h_weight;            /* [rows * k] */
    int32_t *h_idx, *h_cnt;     /* [rows * k], [rows] */
    float *h_bias;              /* [E] DeepSeek-V3's e_score_correction_bias as fp32 (host) */
    void *h_bias_raw;           /* [E] as stored (host) */
    /* the routing of every pass of a forward (awq_mlp_forward runs expert batches outside the
     * passes): per pass p, rows start[p * (E + 1) + e] .. of expert e in the sorted order */
    int32_t *h_rows;            /* [N * k] token (row of the pass) of each sorted row */
    float *h_wt;                /* [N * k] its routing weight */
    size_t *h_start;            /* [passes * (E + 1)] */
} awq_moe_scratch;

/* Weights of the experts e0 .. e1-1 for one batch (moe.h): the block's own are in gate/up/down
 * [e1 - e0] on the call; the function may replace them (the scale search puts the experts'
 * pseudo-quantized gate/up there). They must stay valid until the next call. */
typedef awq_err (*awq_expert_w_fn)(void *ctx, int e0, int e1, kern_weight *gate, kern_weight *up, kern_weight *down);

/* The multi-head latent attention's scratch (stages/common/mla.h), for a DeepseekV3 model; each
 * [rows, width] (backend). q, the keys, the values and the attention output use buf[0..3]. */
typedef struct awq_mla_scratch {
    float *qa;   /* [rows, q_lora_rank] q_a_proj, then q_a_layernorm (none without q_lora_rank) */
    float *ckv;  /* [rows, kv_lora_rank + qk_rope_head_dim] kv_a_proj_with_mqa */
    float *kvn;  /* [rows, kv_lora_rank] the latent, then kv_a_layernorm */
    float *krot; /* [rows, qk_rope_head_dim] the shared rope key */
    float *qrot; /* [rows, H * qk_rope_head_dim] the rope parts of q's heads */
    float *kvb;  /* [rows, H * (qk_nope_head_dim + v_head_dim)] kv_b_proj */
} awq_mla_scratch;

/* Shapes, numerics and scratch of a forward. */
typedef struct awq_fwd {
    const awq_backend *be;
    const awq_config *cfg;
    int n_seq, seqlen;
    int round_f16;        /* 1: emulate fp16 storage of activations (spec §1.4); 0: pure fp32 */
    int chunk_seqs;       /* sequences per pass (memory bound), >= 1 */
    kern_rope rope;
    kern_rope rope_local;       /* Gemma 3's sliding layers: rope_local_theta, unscaled */
    int32_t *pos;         /* [chunk_seqs * seqlen] positions (backend memory) */
    float *buf[AWQ_FWD_NBUF]; /* scratch, chunk-sized (see forward.c) */
    awq_moe_scratch moe;      /* zeroed for a dense model */
    int expert_batch;         /* experts whose weights are worked on at once (moe.h awq_expert_batch) */
    awq_expert_w_fn expert_w; /* NULL: the block's expert weights */
    void *expert_w_ctx;
    awq_mla_scratch mla;      /* zeroed unless cfg->mla */
    /* where the current pass's rows of the DeepSeek-V3 feats go (block_chunk sets them for mla.c
     * and moe.c, then clears them); NULL: not captured */
    float *cap_q_b_in, *cap_kv_b_in, *cap_shared_down_in;
} awq_fwd;

/* Set up for n_seq sequences of seqlen tokens; chunk_seqs <= 0 picks a size that keeps the
 * scratch under ~1 GiB. AWQ_ERR_NOMEM / AWQ_ERR_DEVICE when the backend cannot allocate. */
awq_err awq_fwd_init(awq_fwd *f, const awq_backend *be, const awq_config *cfg, int n_seq, int seqlen,
                     int round_f16, int chunk_seqs);
void awq_fwd_free(awq_fwd *f);
/* Scratch bytes per row of a forward pass, and the sequences per pass awq_fwd_init picks for
 * chunk_seqs <= 0 (the scratch under ~1 GiB); memest.c estimates from them. */
size_t awq_fwd_row_bytes(const awq_config *cfg);
int awq_fwd_chunk_seqs(const awq_config *cfg, int n_seq, int seqlen);

/* y = Block(x). y may equal x. feats may be NULL. y == NULL computes only the feats (which
 * must then be given): the block's last matmul (down_proj) and residual are skipped. */
awq_err awq_block_forward(awq_fwd *f, const awq_block_w *w, const float *x /*[N,C]*/, float *y /*[N,C]*/,
                          const awq_feats *feats);
/* self_attn module alone on its (already normalized) input: q/k/v (+bias), q/k norm, RoPE,
 * causal GQA attention, o_proj (+bias), or DeepSeek-V3's multi-head latent attention (mla.h); no
 * residual. out must not alias a. */
awq_err awq_attn_forward(awq_fwd *f, const awq_block_w *w, const float *a /*[N,C]*/, float *out /*[N,C]*/);
/* mlp module alone: down(silu(gate(m)) * up(m)), or the experts' mlp of a mixture-of-experts
 * block (moe.h); no residual. out must not alias m. */
awq_err awq_mlp_forward(awq_fwd *f, const awq_block_w *w, const float *m /*[N,C]*/, float *out /*[N,C]*/);

/* logits = lm_head(RMSNorm(x; norm)) for n rows; x, logits, norm and head in backend memory. */
/* Gemma: the embedding x [n, C] (backend memory) times sqrt(hidden_size) in place, the factor in
 * the model's dtype (h(sqrt C) when round_f16) and each product h()-rounded then; nothing for
 * other families. Call it after every embedding lookup. */
awq_err awq_embed_scale(const awq_backend *be, const awq_config *c, float *x, size_t n, int round_f16);
/* Final norm, lm_head and (Gemma 2) the final soft-capping: logits [n, V]. */
awq_err awq_logits(const awq_backend *be, const awq_model *m, kern_weight norm, kern_weight head, const float *x /*[n,C]*/,
                   size_t n, int round_f16, float *logits /*[n,V]*/);
/* The model's final norm and lm_head as kernel weights of host memory (views for awq_logits on
 * the CPU; upload them with awq_dev_view for a device). */
kern_weight awq_model_norm_w(const awq_model *m);
kern_weight awq_model_head_w(const awq_model *m);

#endif
