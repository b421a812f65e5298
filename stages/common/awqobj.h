/* awqobj.h - the objects of the AWQ stages and their recipe keys (DESIGN.md "Objects and keys"):
 *   scales  (scale-search): per group "<prev>.scales" F32 [in], "<prev>.losses" F32 [n_grid],
 *           "<prev>.best" I32 [1]  (prev = input_layernorm, v_proj, post_attention_layernorm, up_proj)
 *   scaled  (apply-scale):  the block's tensors with the scales folded in, by slot name
 *           ("self_attn.q_proj.weight", ...), F16 in fp16 numerics (F32 in fp32 numerics)
 *   clipin  (inside the searches): the clip search's sampled rows of the block's captured linear
 *           inputs, "attn_in", "o_in", "mlp_in", "down_in" [T, width], F16 in fp16 numerics (F32 in fp32)
 *   clip    (clip-search):  per clipped linear "<linear>.max_val" F32 [O, G], ".best" I32 [O, G],
 *           ".loss" F32 [O, G, n_cand]  (linear = "self_attn.v_proj", ...)
 *   packed  (pack):         per linear "<linear>.qweight" I32 [I, O/8], ".qzeros" I32 [G, O/8],
 *           ".scales" F16 [G, O] (+ ".bias" F16 [O]); the block's other tensors in F16 by slot name
 *           (norms, q/k norm). Without --pack (w_bit != 4) "<linear>.weight" holds the fake-quant F16. */
#ifndef AWQ_AWQOBJ_H
#define AWQ_AWQOBJ_H

#include "../../cache/store.h"
#include "awq.h"

#define AWQ_SEARCH_VERSION 1

/* Recipe keys; *recipe (when not NULL) gets the text (malloc'ed). */
awq_err awq_scales_key(const awq_model *m, int layer, const awq_key *act, const awq_params *p, awq_key *out, char **recipe);
awq_err awq_scaled_key(const awq_model *m, int layer, const awq_key *scales, const awq_params *p, awq_key *out, char **recipe);
/* The clip inputs depend on the block input, the original block, the numerics and the sample. */
awq_err awq_clipin_key(const awq_model *m, int layer, const awq_key *act, const awq_params *p, awq_key *out, char **recipe);
awq_err awq_clip_key(const awq_key *scaled, const awq_key *act, const awq_params *p, awq_key *out, char **recipe);
/* scaled == NULL: RTN (the original block, no clip); clip may be NULL (no clipping). */
awq_err awq_packed_key(const awq_model *m, int layer, const awq_key *scaled, const awq_key *clip, const awq_params *p,
                       awq_key *out, char **recipe);

awq_err awq_scales_put(awq_store *s, const awq_key *key, const char *recipe, const awq_scale_result *r, int n);
/* Read the scale groups back (the group table of a block of cfg with n_experts experts);
 * res[i].s/losses owned by the caller. */
awq_err awq_scales_get(awq_store *s, const awq_key *key, const awq_config *cfg, int n_experts,
                       awq_scale_result res[AWQ_MAX_GROUPS], int *n);

/* A whole block as fp32 copies: put stores F16 (round_f16) or F32; get reads either. */
awq_err awq_block_put(awq_store *s, const awq_key *key, const char *kind, const char *recipe, const awq_block_f32 *b,
                      int as_f16);
awq_err awq_block_get(awq_store *s, const awq_key *key, const char *kind, awq_block_f32 *b);

awq_err awq_clipin_put(awq_store *s, const awq_key *key, const char *recipe, const awq_clip_in *ci, int as_f16);
/* Read them back as fp32 into ci (allocated here; the widths checked against cfg and a block
 * with n_experts experts). */
awq_err awq_clipin_get(awq_store *s, const awq_key *key, const awq_config *cfg, int n_experts, awq_clip_in *ci);

awq_err awq_clips_put(awq_store *s, const awq_key *key, const char *recipe, const awq_clip_result *r, int n);
/* max_val of every clipped linear, indexed by slot (NULL for unclipped); caller frees each. */
awq_err awq_clips_get(awq_store *s, const awq_key *key, float *max_val[AWQ_SLOT__COUNT]);

/* What a block's packed object holds, from the parameters: the AutoAWQ GEMM layout (W_BIT 4),
 * the compressed-tensors layout (FORMAT=ct and W_BIT not 4: the only checkpoint of those widths;
 * its key has the entry format=pack-quantized, so every other key is what it was), the
 * fake-quantized fp16 weights (other widths in FORMAT=autoawq, or --fake-quant), or the scaled
 * and clipped fp16 weights (EXPORT=1). A FORMAT=ct checkpoint of 4 bits is made from the GEMM
 * object by its shards (shard.h): both formats share every object of the search. */
typedef enum { AWQ_LAYOUT_GEMM, AWQ_LAYOUT_CT, AWQ_LAYOUT_FAKE, AWQ_LAYOUT_EXPORT } awq_layout;
awq_layout awq_pack_layout(const awq_params *p);

/* Quantize every linear of b (after clipping with max_val[slot] when given) and store the packed
 * object; with fq != NULL the fake-quant weights are also returned (fq->t[slot] for linears,
 * the other slots copied from b). A block in be's memory (b->be) is quantized where it is. */
awq_err awq_pack_block(awq_store *s, const awq_key *key, const char *recipe, const awq_backend *be,
                       const awq_params *p, const awq_block_f32 *b, float *const max_val[AWQ_SLOT__COUNT],
                       awq_block_f32 *fq);

/* "self_attn.q_proj" from "self_attn.q_proj.weight" into buf. */
const char *awq_linear_name(awq_slot s, char *buf, size_t cap);

#endif
