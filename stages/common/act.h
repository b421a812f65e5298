/* act.h - block-input activations ("act" objects) and the capture step that makes them.
 *
 * act.0 is the embedding of a tokens object; act.(i+1) is the output of ORIGINAL block i on
 * act.i (spec §2.1, pitfall 9). An act object holds one tensor "x" [n_seq, seqlen, C] in the
 * model's dtype (F16/BF16; F32 for F32 checkpoints). Keys are recipe keys (DESIGN.md):
 *   act.0:     stage=embed,   the tokens key, the embedding's key, the AWQ_K_ACT parameters
 *              (numerics, params.def), dtype
 *   act.(i+1): stage=capture, the key of block i's tensors (not its index: identical blocks of
 *              two models share objects), the key of act.i, the AWQ_K_ACT parameters, dtype
 * Nothing else (threads, device, chunk size) is in a key. */
#ifndef AWQ_ACT_H
#define AWQ_ACT_H

#include "../../cache/store.h"
#include "forward.h"
#include "params.h"

#define AWQ_CAPTURE_VERSION 1

/* Recipe keys (no data is read beyond the model's tensors for hashing). *recipe, when not NULL,
 * receives the recipe text (malloc'ed). */
awq_err awq_act0_key(const awq_model *m, const awq_key *tokens, const awq_params *p, awq_key *out, char **recipe);
awq_err awq_act_next_key(const awq_model *m, int layer, const awq_key *in, const awq_params *p, awq_key *out, char **recipe);

/* Storage dtype of activations for this model (the embedding's dtype). */
awq_dtype awq_act_dtype(const awq_model *m);

/* Read an act object into fp32 BACKEND memory: *x from be->alloc ([n_seq*seqlen, C]; free with
 * awq_dev_free). The stored fp16/bf16 values travel at their own width and widen on the backend
 * (be->to_f32): half the bytes over PCIe and no host conversion. Checks the kind and that C
 * matches the model. */
awq_err awq_act_load(awq_store *s, const awq_key *key, const awq_model *m, const awq_backend *be, float **x,
                     int *n_seq, int *seqlen);
/* The same from the object already read (awq_store_get of key, e.g. on another thread while the
 * GPU was busy); takes ownership of o (freed, whatever the result). */
awq_err awq_act_load_object(awq_object *o, const awq_key *key, const awq_model *m, const awq_backend *be, float **x,
                            int *n_seq, int *seqlen);

/* Store x (BACKEND memory, fp32) in the model's dtype under `key` with `recipe`. A value that is
 * not finite or overflows the dtype is an error naming `what` (e.g. "output of block 3") and the
 * sequence, token and channel. For F16 the check and the narrowing run on the backend and only
 * the fp16 values come down. */
awq_err awq_act_store(awq_store *s, const awq_key *key, const char *recipe, const awq_model *m, const awq_backend *be,
                      const float *x, int n_seq, int seqlen, const char *what);

/* The first half of awq_act_store: check and narrow x (BACKEND memory) into t, host memory the
 * caller frees (free(t->data)), ready for awq_store_put(s, key, "act", recipe, t, 1), which may
 * then run beside other work (the capture writes while its backend closes). */
awq_err awq_act_narrow(const awq_model *m, const awq_backend *be, const float *x, int n_seq, int seqlen, const char *what,
                       awq_tensor *t);

/* The computations, on backend memory (host memory on the CPU backend): the embedding of host
 * token ids into x, and ORIGINAL block `layer` applied to x in place (x becomes its output). */
awq_err awq_embed_compute(const awq_backend *be, const awq_model *m, const int32_t *ids, size_t n, int round_f16,
                          float *x /*[n,C]*/);
awq_err awq_capture_compute(const awq_backend *be, const awq_model *m, int layer, int n_seq, int seqlen,
                            int round_f16, float *x /*[N,C], in: block input, out: block output*/);

#endif
