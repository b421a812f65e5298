/* variants.h - block weights of quantized variants of a model for evaluation:
 *   packed: an AutoAWQ GEMM or compressed-tensors pack-quantized checkpoint directory (e.g.
 *           awqmake's OUT in either FORMAT), dequantized exactly as their kernels do (spec §3.1,
 *           ct.h); its modified norms and biases are taken from it too
 *   rtn:    round-to-nearest fake quantization of the original weights (no search)
 * Each gives an awq_weights_fn for awq_eval_ppl. */
#ifndef AWQ_VARIANTS_H
#define AWQ_VARIANTS_H

#include "../../cache/store.h"
#include "awq.h"
#include "eval.h"

typedef struct awq_variant_ctx {
    const awq_model *m;
    const awq_backend *be;
    awq_params p;            /* rtn: w_bit, group, numerics */
    st_model *packed;        /* packed: the checkpoint */
    int64_t packed_group;    /* packed: group_size from its config.json */
    int packed_bits;         /* packed: 0 for AutoAWQ GEMM, num_bits for compressed-tensors */
    awq_store *store;        /* plan: the store holding the packed objects */
    awq_key *packed_keys;    /* plan: the pack object of every block (from manifest.tsv) */
    awq_block_f32 cur;       /* the block handed out last */
    int cur_layer;
} awq_variant_ctx;

/* Open a packed checkpoint directory as a variant of model m (shapes must match). */
awq_err awq_variant_packed_open(awq_variant_ctx *v, const awq_model *m, const awq_backend *be, const char *dir);
/* The AWQ fake-quant of an experiment: the pack objects named in WORK/manifest.tsv (any w_bit;
 * identical weights to the assembled checkpoint for w_bit 4). The store must outlive v. */
awq_err awq_variant_plan_open(awq_variant_ctx *v, const awq_model *m, const awq_backend *be, awq_store *store,
                              const char *work);
awq_err awq_variant_plan_weights(void *ctx, int layer, awq_block_w *w);
void awq_variant_rtn_init(awq_variant_ctx *v, const awq_model *m, const awq_backend *be, const awq_params *p);
void awq_variant_free(awq_variant_ctx *v);

awq_err awq_variant_packed_weights(void *ctx, int layer, awq_block_w *w);
awq_err awq_variant_rtn_weights(void *ctx, int layer, awq_block_w *w);

/* The fp32 weights of one block of a packed checkpoint (dequantized linears + its other tensors):
 * AutoAWQ GEMM (ct_bits 0) or compressed-tensors pack-quantized of ct_bits bits (ct.h). */
awq_err awq_packed_block_f32(st_model *packed, int64_t group, int ct_bits, const awq_model *m, int layer, awq_block_f32 *out);

#endif
