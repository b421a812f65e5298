/* work.h - the block worker: the AWQ treatment of one decoder block against the object store,
 * step by step or whole. Each step makes one object (spec §2.5-§2.11):
 *   awq_work_scales  the scales object: from the store, or searched on the block input
 *   awq_work_scaled  the block with the scales folded in (in memory; stored only when asked)
 *   awq_work_clips   the clip object: from the store, or searched on the clip inputs
 *   awq_work_pack    the packed object (the AutoAWQ GEMM layout, or fake-quant / export)
 *   awq_work_block   all four, computing only what the store lacks (what awq-quantize runs)
 * A step fetches or computes what it needs first (the block input, the original block, the clip
 * inputs, the scales, the clips) and keeps it for the next step, so the four programs and
 * awq-quantize share one path and store the same objects under the same keys.
 * The worker reads no options and prints nothing: the caller owns the model, the store, the
 * parameters and (optionally) the backend and GPU memory units, and reports what w->done says. */
#ifndef AWQ_WORK_H
#define AWQ_WORK_H

#include "../../cache/store.h"
#include "awq.h"
#include "awqobj.h"
#include "slots.h"

/* The keys of a block's objects; `known` says which are (AWQ_K_*). Recipes are owned. */
typedef struct awq_work_keys {
    awq_key act, scales, scaled, clipin, clip, packed;
    char *r_scales, *r_scaled, *r_clipin, *r_clip, *r_packed;
    unsigned known;
} awq_work_keys;

typedef struct awq_work {
    /* given (awq_work_init) */
    const awq_model *m;
    int block;
    const awq_params *p;
    awq_store *s;
    const awq_backend *be;          /* the caller's backend, or NULL: opened from p->device when needed */
    awq_slots *units;               /* GPU memory units to hold while computing (slots.h), or NULL */
    size_t chunk_rows;              /* > 0: the scale search's token chunks, instead of those the
                                     * units hold (a retry after running out: awq_work_blocks) */
    awq_work_keys k;                /* awq_work_keys_from */
    unsigned have, checked;         /* objects found in the store / looked for there (verified once), AWQ_K_* */
    unsigned done;                  /* objects this worker computed and stored, AWQ_K_* */
    int n_groups, n_clipped;        /* scale groups searched, linears clipped (when done says so) */
    double search_s, clip_s;        /* their wall time */
    /* the scale search this worker ran: the rows of its token chunks (0: all tokens at once), and
     * whether it ran out of memory */
    size_t search_rows;
    int search_oom;
    /* what the steps keep for the next (owned) */
    int own_be;
    awq_object *input;              /* the block input read ahead (awq_work_give_input), or NULL */
    float *x;                       /* the block input in backend memory [n_seq*seqlen, C] */
    int n_seq, seqlen;
    awq_block_f32 b;                /* the block: original, then scaled in place */
    int b_loaded, b_scaled;
    awq_scale_result res[AWQ_MAX_GROUPS];
    int n_res, res_ready;
    awq_clip_in ci;
    int ci_ready, ci_scaled;
    float *max_val[AWQ_SLOT__COUNT]; /* per clipped linear, [O, G]; NULL: not clipped */
    int clips_ready;
} awq_work;

/* A worker for block `block` of m with parameters p and store s (all owned by the caller and
 * alive until awq_work_free). be may be NULL (then p->device is opened when a step computes). */
void awq_work_init(awq_work *w, const awq_model *m, int block, const awq_params *p, awq_store *s, const awq_backend *be);
void awq_work_free(awq_work *w);

/* The keys of the block's objects from what the caller knows (NULL: not known): the block input
 * act (scales, clipin, clip, packed follow from it), the scales object (then scaled), the scaled
 * block, the clip object. rtn: the packed key is the round-to-nearest one (the original block,
 * with the given clip or none). AWQ_ERR_ARG when scaled is not the block scaled with scales. */
awq_err awq_work_keys_from(awq_work *w, const awq_key *act, const awq_key *scales, const awq_key *scaled,
                           const awq_key *clip, int rtn);
/* Verify which of the objects `which` (AWQ_K_*, known keys only) the store holds, into w->have.
 * A damaged object counts as absent: it is rebuilt (awq_stage_cached). */
void awq_work_check(awq_work *w, unsigned which);
/* Hand over the block input, already read (e.g. on another thread); the worker owns it. */
void awq_work_give_input(awq_work *w, awq_object *input);

awq_err awq_work_scales(awq_work *w);
/* store: also put the scaled object (awq-apply-scale; awq-quantize never stores it). */
awq_err awq_work_scaled(awq_work *w, int store);
awq_err awq_work_clips(awq_work *w);
/* The packed object of the scaled block with its clips, or (rtn keys) of the original block. */
awq_err awq_work_pack(awq_work *w);
/* Everything the store lacks of scales, clip and packed (and the clip inputs when they are
 * computed), in the order that holds the least memory; done when all three are there. */
awq_err awq_work_block(awq_work *w);

/* Blocks first .. first+n-1 of one process (awq-quantize): each block's input is read on a second
 * thread while the previous block computes; one backend and one set of GPU units for all. done(ctx,
 * w) is called after each block that succeeded (w->done etc. say what it did). Stops at the first
 * error, which names its block. s NULL: the keys only (w->k), nothing is read or computed. */
typedef void (*awq_work_done_fn)(void *ctx, const awq_work *w);
awq_err awq_work_blocks(const awq_model *m, const awq_params *p, awq_store *s, int first, const awq_key *acts, int n,
                        awq_slots *units, awq_work_done_fn done, void *ctx);

#endif
