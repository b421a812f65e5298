/* awq.h - the AWQ algorithm for one decoder block (spec §2.3-§2.11), on fp32 copies of the
 * block's tensors, with the kernels backend doing the arithmetic:
 *   awq_search_scales  - every scale group (§2.5), grid search on the ORIGINAL weights (§2.6)
 *   awq_apply_scales   - fold the scales into prev ops and next linears, in table order (§2.7)
 *   awq_clip_in_*      - the sampled rows of the linears' captured inputs, divided by the scales (§2.7)
 *   awq_search_clips   - clip search of every linear but q/k on the scaled block and those rows (§2.8)
 *   awq_quantize_linear- clip + Q + GEMM packing of one linear (§2.9-§2.11, §3.1)
 * The stage programs (stages/scale-search.c, ...) read and write the objects around these. */
#ifndef AWQ_AWQ_H
#define AWQ_AWQ_H

#include "forward.h"
#include "params.h"

/* Check the parameters against a model: group divides every linear's in_features, the GEMM
 * format's 4 bits and out_features % 8, clip candidates. (Each parameter's own range is checked
 * by awq_params_finish.) The message names the parameter and the linear and gives a hint. */
awq_err awq_params_check(const awq_params *p, const awq_config *cfg, int need_pack);

/* fp32 host copies of a block's tensors (rounded to fp16 values in fp16 numerics). */
typedef struct awq_block_f32 {
    float *t[AWQ_SLOT__COUNT];        /* NULL for absent slots; owned */
    int64_t shape[AWQ_SLOT__COUNT][2];
    int ndim[AWQ_SLOT__COUNT];
    const awq_backend *be;            /* NULL: t[] are host memory; else memory of this device backend */
    int layer1;                       /* 1 + the block's layer (0: not known; awq_block_w's layer1) */
    int norm_1p;                      /* 1: its norms multiply by (1 + w) (Gemma): scales fold as
                                       * w' = (1 + w) / s - 1 (awq_apply_scales) */
    int fused;                        /* 1: the checkpoint fuses q/k/v and gate/up (Phi3, fused.h): every
                                       * part is clipped (AutoAWQ clips qkv_proj) and packed fused */
} awq_block_f32;

/* From the model's (original) tensors. With round_f16, BF16/F32 values are rounded to fp16
 * (RNE) and a value beyond fp16 range is an error naming the tensor (spec pitfall 21). */
awq_err awq_block_f32_from_model(const awq_model *m, int layer, int round_f16, awq_block_f32 *out);
/* The same values in be's memory, made there: F16 tensors go up as stored and are widened on
 * the device (half the bytes, no host conversion); others are converted on the host first. On a
 * host backend this is awq_block_f32_from_model. The scale search, awq_apply_scales, the clip
 * search and awq_pack_block all take such a block, so a block's weights stay on the GPU. */
awq_err awq_block_f32_from_model_on(const awq_backend *be, const awq_model *m, int layer, int round_f16,
                                    awq_block_f32 *out);
awq_err awq_block_f32_copy(const awq_block_f32 *src, awq_block_f32 *dst);   /* host blocks only */
void awq_block_f32_free(awq_block_f32 *b);
/* The kernel view (F32 weights pointing into b). */
void awq_block_f32_view(const awq_block_f32 *b, awq_block_w *w);
size_t awq_block_f32_numel(const awq_block_f32 *b, awq_slot s);

/* ---- scale groups (spec §2.5) ------------------------------------------------------------- */

/* A block has at most this many scale groups (the four dense ones; three plus one per expert; for
 * DeepSeek-V3 three attention groups, the experts' and shared experts' gate/up, one per expert and
 * the shared experts' up->down) and quantized linears (the fixed linear slots, seven dense plus
 * the latent attention's four and the shared experts' three, then three per expert). */
#define AWQ_MAX_GROUPS (5 + AWQ_MAX_EXPERTS)
#define AWQ_MAX_LINEARS (14 + AWQ_EXPERT__SLOTS * AWQ_MAX_EXPERTS)

typedef enum { AWQ_INSPECT_ATTN, AWQ_INSPECT_MLP, AWQ_INSPECT_LINEAR } awq_inspect;
/* The inputs the linears read (forward.h's awq_feats); the last three are DeepSeek-V3's:
 * q_a_layernorm's output (q_b_proj), kv_a_layernorm's (kv_b_proj), the shared experts' down_proj
 * input. */
typedef enum {
    AWQ_FEAT_ATTN_IN, AWQ_FEAT_O_IN, AWQ_FEAT_MLP_IN, AWQ_FEAT_DOWN_IN,
    AWQ_FEAT_Q_B_IN, AWQ_FEAT_KV_B_IN, AWQ_FEAT_SHARED_DOWN_IN, AWQ_FEAT__COUNT
} awq_feat;

typedef struct awq_sgroup {
    char prev_name[40];      /* "input_layernorm", "v_proj", "mlp.experts.3.up_proj" (also the object tensor prefix) */
    awq_slot prev;           /* the norm weight or the previous linear */
    awq_slot layers[3];      /* (all_experts: see awq_sgroup_layer) */
    int n_layers;
    awq_inspect inspect;     /* AWQ_INSPECT_MLP of a mixture-of-experts block: the whole experts' module */
    awq_feat feat;           /* the group's input */
    int all_experts;         /* post_attention_layernorm -> every expert's gate_proj and up_proj (n_layers 2E,
                              * or 2E + 2 with DeepSeek-V3's shared experts' gate_proj and up_proj last);
                              * the router's columns take the scales too (docs/AWQ.md) */
    int expert;              /* >= 0: expert's up_proj -> down_proj, on the rows of its tokens; else -1 */
    int shared;              /* an all_experts group ending with the shared experts' gate/up (DeepSeek-V3) */
} awq_sgroup;

/* Linear i of group g (i < g->n_layers): an all_experts group lists expert 0's gate_proj and
 * up_proj, then expert 1's, ..., then the shared experts' (AutoAWQ's order). */
awq_slot awq_sgroup_layer(const awq_sgroup *g, int i);

/* The groups of a block with n_experts experts (0: dense) in table order (spec §2.5): attention
 * input; v->o only when v_proj and o_proj have the same shape (MHA with H*D == C, pitfall 12);
 * then gate/up and up->down, or for experts post_attention_layernorm -> all experts' gate/up and
 * each expert's up->down (AutoAWQ's mixtral.py / qwen3_moe.py). DeepSeek-V3 (AutoAWQ's
 * deepseek_v3.py): input_layernorm -> q_a_proj (q_proj without q_lora_rank) + kv_a_proj_with_mqa
 * on the latent attention; q_a_layernorm -> q_b_proj; kv_a_layernorm -> kv_b_proj; then the dense
 * groups, or the experts' with the shared experts' gate/up in the all-experts group and
 * shared_experts.up_proj -> down_proj last. Returns the count. */
int awq_scale_groups(const awq_config *cfg, int n_experts, awq_sgroup out[AWQ_MAX_GROUPS]);
/* Experts of a block copy (0: dense): the rows of its router. */
int awq_block_experts(const awq_block_f32 *b);

/* Result of the search for one group. */
typedef struct awq_scale_result {
    awq_sgroup group;
    size_t n;                /* in_features of the group's layers */
    float *s;                /* [n] the chosen scales (fp16 values in fp16 numerics); owned */
    float *losses;           /* [n_grid] loss of every grid point; owned */
    int n_grid;
    int best;                /* chosen grid index k (ratio k / n_grid) */
} awq_scale_result;

/* Search every group of the block. x: the block input [n_seq*seqlen, C], fp32 in BACKEND memory
 * (awq_act_load; host memory on the CPU backend).
 * res receives awq_scale_groups() entries; free with awq_scale_results_free.
 * clip_in (may be NULL) receives the clip search's sampled rows of the inputs the search captured
 * (awq_clip_in_compute's result, without a second forward). An expert that no calibration token
 * chose is an error naming it (AutoAWQ stops there too: its inputs are empty). */
struct awq_clip_in;
awq_err awq_search_scales(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                          const awq_block_f32 *orig, const float *x, int n_seq, int seqlen,
                          awq_scale_result res[AWQ_MAX_GROUPS], int *n_res, struct awq_clip_in *clip_in);
/* The same within `budget` bytes of memory (0: no bound): when the whole search needs more
 * (memest.h), the block's forward runs on chunks of the tokens, the linears' inputs wait on the
 * host and each group's trial forwards run a chunk at a time. The results are the same bits as
 * awq_search_scales' (the chunks follow the forward's passes and the loss's summation slabs). */
awq_err awq_search_scales_within(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                                 const awq_block_f32 *orig, const float *x, int n_seq, int seqlen, double budget,
                                 awq_scale_result res[AWQ_MAX_GROUPS], int *n_res, struct awq_clip_in *clip_in);
/* The rows of the token chunks such a search works in within `budget` (0: the whole search at
 * once: no bound, the search fits, or no chunk smaller than all the tokens exists), for a block of
 * E routed experts (0: dense) on the backend be; and the smallest chunk there is (0: none). A step
 * that runs out of memory anyway retries in smaller chunks down to that (work.c). */
size_t awq_search_chunk_rows(const awq_backend *be, const awq_config *cfg, int E, int n_seq, int seqlen, int r16,
                             double budget);
size_t awq_search_min_chunk(const awq_config *cfg, int E, int n_seq, int seqlen);
/* The same in chunks of `rows` tokens, a multiple of awq_search_min_chunk below all the tokens
 * (a retry after running out of memory anyway: work.c); the same bits again. */
awq_err awq_search_scales_chunked(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                                  const awq_block_f32 *orig, const float *x, int n_seq, int seqlen, size_t rows,
                                  awq_scale_result res[AWQ_MAX_GROUPS], int *n_res, struct awq_clip_in *clip_in);
void awq_scale_results_free(awq_scale_result *res, int n);
/* Expert weights uploaded in fp16 only so far in this process (a device in fp16 numerics, or the
 * CPU with AWQ_TEST_EXPERTS_F16=1): for tests to see that path ran (awq.c dev_block_upload). */
size_t awq_experts_f16_uploads(void);

/* The grid search of one group on its input x [n_seq*seqlen, in] (the group's feature, fp32 host
 * memory), for
 * callers that already have the inputs (tests, spec §6 T5: a single linear as the up_proj ->
 * down_proj group of a one-linear "block"). */
awq_err awq_search_group(const awq_backend *be, const awq_config *cfg, const awq_params *p, const awq_block_f32 *orig,
                         const awq_sgroup *g, const float *x, int n_seq, int seqlen, awq_scale_result *r);

/* Fold scales into b in place, groups in the order given (spec §2.7). */
awq_err awq_apply_scales(awq_block_f32 *b, const awq_scale_result *res, int n_res, int round_f16);

/* ---- clip (spec §2.8-§2.9) ------------------------------------------------------------------ */

/* The linears clip search visits, in slot order: every quantized linear of the block but those
 * whose name contains "q_" or "k_" (spec §2.8); of a fused block (Phi3) every one, q and k
 * included, as AutoAWQ clips the fused qkv_proj. */
int awq_clip_linears(const awq_block_f32 *b, awq_slot out[AWQ_MAX_LINEARS]);
/* The quantized linears of a block copy, in slot order (q, k, v, o, gate, up, down, then each
 * expert's gate, up, down). */
int awq_block_linears(const awq_block_f32 *b, awq_slot out[AWQ_MAX_LINEARS]);
/* In (feature) index of a dense linear's input. */
awq_feat awq_linear_feat(awq_slot linear);
/* Channels of a feat; moe: of a mixture-of-experts block (down_in is an expert's, Fe wide). */
size_t awq_feat_width(const awq_config *cfg, awq_feat f, int moe);

typedef struct awq_clip_result {
    awq_slot linear;
    size_t o, g_count, n_cand;
    float *max_val;          /* [o, G]; owned */
    int32_t *best;           /* [o, G]; owned */
    float *loss;             /* [o, G, n_cand]; owned */
} awq_clip_result;

/* One expert's clip inputs: the rows of its tokens in AutoAWQ's order (the router's first
 * choices by token, then the second choices, ...), of which rows 0, step, ... (T of them, step =
 * max(1, n_tok / n_sample_token)) are kept; host memory. */
typedef struct awq_clip_expert {
    size_t n_tok, T, step;
    float *in;               /* [T, C]  its gate_proj / up_proj input (post_attention_layernorm rows) */
    float *down;             /* [T, Fe] its down_proj input */
} awq_clip_expert;

/* What the clip search reads (spec §2.3, §2.7, §2.8): the rows 0, step, 2*step, ... (T of
 * them, step = max(1, N / n_sample_token)) of the inputs of the block's linears as captured in
 * the forward with the ORIGINAL weights, then divided by the scales of each input's group,
 * feats[t][c] = h(feats[t][c] / s[c]) (AutoAWQ's apply_scale on input_feat). They depend on the
 * block input, the original block and the numerics only, so a clip-grid rerun reads them from
 * the store (awqobj.h) instead of the block input and a forward. Host memory. A mixture-of-
 * experts block has no dense down_in rows (width 0) but ex[] per expert, and its mlp_in rows only
 * for DeepSeek-V3's shared experts. q_b_proj's input is never kept: no clip search reads it. */
typedef struct awq_clip_in {
    size_t T, step;
    size_t width[AWQ_FEAT__COUNT]; /* of each awq_feat (0: not kept) */
    float *f[AWQ_FEAT__COUNT];     /* [T, width[i]] in awq_feat order; owned */
    int n_experts;
    awq_clip_expert *ex;     /* [n_experts]; owned */
    size_t ex_in_w, ex_down_w; /* widths of their in and down rows: C and Fe */
} awq_clip_in;

/* The sampled rows: T and step for N rows. */
void awq_clip_rows(size_t N, const awq_params *p, size_t *T, size_t *step);
/* Allocate ci for T sampled rows of a block of this config with n_experts experts (zeroed; the
 * experts' arrays come later, awq_clip_in_alloc_expert); free with awq_clip_in_free. */
awq_err awq_clip_in_alloc(awq_clip_in *ci, const awq_config *cfg, int n_experts, size_t T, size_t step);
awq_err awq_clip_in_alloc_expert(awq_clip_in *ci, const awq_config *cfg, int e, size_t n_tok, size_t T, size_t step);
/* The sampled rows of the ORIGINAL block's linear inputs on its input x (backend memory, as for
 * awq_search_scales): the same forward as the search's, so the same bits as its clip_in. */
awq_err awq_clip_in_compute(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                            const awq_block_f32 *orig, const float *x, int n_seq, int seqlen, awq_clip_in *out);
/* Divide each input by its group's scales, in table order (spec §2.7), h()-rounded when round_f16:
 * one IEEE division per element, the same bits on every machine. */
awq_err awq_clip_in_scale(awq_clip_in *ci, const awq_scale_result *res, int n_res, int round_f16);
void awq_clip_in_free(awq_clip_in *ci);

/* Clip search on the scaled block and its scaled clip inputs (awq_clip_in_scale). */
awq_err awq_search_clips(const awq_backend *be, const awq_config *cfg, const awq_params *p,
                         const awq_block_f32 *scaled, const awq_clip_in *in, awq_clip_result res[AWQ_MAX_LINEARS],
                         int *n_res);
void awq_clip_results_free(awq_clip_result *res, int n);


/* ---- quantize + pack (spec §2.10-§2.11, §3.1) -------------------------------------------- */

typedef struct awq_packed_linear {
    size_t o, i, g_count;
    int32_t *qweight;        /* [i, o/8] */
    int32_t *qzeros;         /* [G, o/8] */
    uint16_t *scales16;      /* [G, o] fp16 bits */
    float *deq;              /* [o, i] the fake-quantized weight (what the checkpoint stands for) */
    uint8_t *codes, *zeros;  /* AWQ_QL_CODES: [o, i] and [o, G], any w_bit */
    float *scales;           /* AWQ_QL_CODES: [o, G] */
} awq_packed_linear;

/* Clip (max_val may be NULL: no clipping) and quantize w [o, i]. `what`: AWQ_QL_PACK packs
 * (w_bit 4, o % 8 == 0 required) and leaves deq NULL unless AWQ_QL_DEQ is given too; without
 * AWQ_QL_PACK only deq is filled (or, with AWQ_QL_CODES alone, only codes, zeros and scales). (Fetching an unneeded fp32 deq from a GPU costs more than the
 * quantization itself.) */
#define AWQ_QL_PACK 1
#define AWQ_QL_DEQ 2
#define AWQ_QL_W_ON_DEV 4   /* w is backend memory (a block from awq_block_f32_from_model_on), not host */
#define AWQ_QL_CODES 8      /* also return the codes, zeros and scales (any w_bit: the CT layout packs them) */
awq_err awq_quantize_linear(const awq_backend *be, const awq_params *p, const float *w, size_t o, size_t i,
                            const float *max_val, unsigned what, awq_packed_linear *out);
void awq_packed_linear_free(awq_packed_linear *pl);

/* The 7 quantized linears of a dense block in module order (q, k, v, o, gate, up, down). */
extern const awq_slot AWQ_LINEARS[7];
/* Is slot a quantized linear weight (one of AWQ_LINEARS, DeepSeek-V3's latent attention and
 * shared experts' linears, or an expert's; never the router)? */
int awq_slot_is_linear(awq_slot s);

#endif
