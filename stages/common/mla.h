/* mla.h - DeepSeek-V3's multi-head latent attention (transformers 5.23's DeepseekV3Attention,
 * eager) as a composition of backend ops, on a chunk of whole sequences:
 *   q    = q_b_proj(q_a_layernorm(q_a_proj(a)))    or q_proj(a) without q_lora_rank   [rows, H*(dn+dr)]
 *   ckv  = kv_a_proj_with_mqa(a) = [latent | k_rot]                                   [rows, r + dr]
 *   kv   = kv_b_proj(kv_a_layernorm(latent))  = H heads of [k_nope | v]               [rows, H*(dn+dv)]
 *   q's last dr of each head and k_rot through RoPE (interleaved pairs with rope_interleave; yarn's
 *   frequencies and cos/sin factor); key = H heads of [k_nope | k_rot] (k_rot shared by all heads)
 *   att  = causal attention(q, key, v) with cfg->attn_scale;  o_in = att;  out = o_proj(att)
 * matmul, rmsnorm (eps 1e-6 for both latent norms, as DeepseekV3RMSNorm's default), rope, attention
 * and copy2d (the splits and joins are exact copies), each with its fp16 rounding in the faithful
 * mode: transformers' fp16 model rounds at the same points (every linear's output, each norm,
 * RoPE, the scores, probabilities and attention output). */
#ifndef AWQ_MLA_H
#define AWQ_MLA_H

#include "forward.h"

/* Scratch for `rows` rows a pass (awq_fwd_init calls it for a cfg->mla model). */
awq_err awq_mla_init(awq_fwd *f, size_t rows);
void awq_mla_free(awq_fwd *f);
/* Floats of that scratch per row (for the chunk size). */
size_t awq_mla_row_floats(const awq_config *c);

/* out [ns*T, C] = the attention of ns sequences of f->seqlen tokens on a [ns*T, C] (backend
 * memory); o_in (may be NULL) receives the attention output [ns*T, H*v_head_dim]. out NULL
 * stops after o_in. Uses f->buf[0..3] (q, key, value, attention output) and f->mla. */
awq_err awq_mla_forward_rows(awq_fwd *f, const awq_block_w *w, const float *a, float *out, float *o_in, size_t ns);

#endif
