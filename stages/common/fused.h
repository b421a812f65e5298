/* fused.h - checkpoints that store several linears as one tensor (Phi-3's self_attn.qkv_proj =
 * [q_proj; k_proj; v_proj] and mlp.gate_up_proj = [gate_proj; up_proj], stacked along the output
 * rows). Inside awqmake every part is its own slot (AWQ_W_Q, ..., AWQ_W_UP), a view of its rows
 * of the fused tensor: the forward, the scale search, the clip search and the quantizer work on
 * the parts exactly as for Llama (each output row is its own dot product, each group its own
 * quantizer, each row its own clip), and the packed object holds the fused tensors again, in the
 * checkpoint's layout (awq_fuse_packed), so the output has the names and shapes the input had. */
#ifndef AWQ_FUSED_H
#define AWQ_FUSED_H

#include "../../cache/store.h"
#include "model.h"

/* Where slot s lives in a fused tensor of this architecture: the fused linear's name
 * ("self_attn.qkv_proj"), its rows [row0, row0 + rows) and the fused tensor's row count. */
typedef struct awq_fused_part {
    const char *name;
    int64_t row0, rows, total;
} awq_fused_part;

/* 1 and *p when slot s is part of a fused tensor in cfg's checkpoint (cfg->fused), else 0. */
int awq_fused_part_of(const awq_config *cfg, awq_slot s, awq_fused_part *p);

/* Build the part views of every block of m (m->fused_views), checking each fused tensor's
 * presence, dtype and shape with a message naming it. No-op unless m->cfg.fused. */
awq_err awq_fused_open(awq_model *m);
/* The view of slot s of block `layer` (awq_model_block uses it), or NULL. */
const st_tensor *awq_fused_view(const awq_model *m, int layer, awq_slot s);

/* Merge, in a packed object's tensor list t[0..*nt), the parts of each fused linear into the
 * fused tensor of the checkpoint: "<part>.qweight" [I, O/8], ".qzeros" [G, O/8] and ".scales"
 * [G, O] side by side along their columns (AWQ's GEMM layout puts output channels there), a
 * fake-quantized or exported "<part>.weight" [O, I] stacked along the rows, and compressed-tensors'
 * (ct.h) weight_packed and weight_scale stacked along the rows, weight_zero_point (packed along the
 * rows) unpacked, stacked and packed again, weight_shape summed. The fused tensor takes
 * the place of its first part; its bytes are malloc'ed into *bufs (n_bufs entries; the caller
 * frees each). A part present without the others is left as it is. Errors: AWQ_ERR_NOMEM. */
awq_err awq_fuse_packed(awq_tensor *t, int *nt, void **bufs, int *n_bufs, char (*names)[80]);
enum { AWQ_FUSED_MAX_BUFS = 8 }; /* 2 fused linears x 4 tensors (either layout) */

#endif
