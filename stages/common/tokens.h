/* tokens.h - calibration tokens: a pre-tokenized stream of int32 ids cut into sequences
 * (spec §2.2 steps 5-6), stored as a `tokens` object with one tensor "ids" I32 [n_blocks, seqlen]. */
#ifndef AWQ_TOKENS_H
#define AWQ_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "../../cache/store.h"

/* Read a file of little-endian int32 ids (no header). *ids is malloc'ed (caller frees).
 * Errors: unreadable, size not a multiple of 4, empty, negative id (message gives its index). */
awq_err awq_ids_load(const char *path, int32_t **ids, size_t *n);

/* Cut n ids into floor(n/seqlen) sequences (the tail is dropped), at most max_blocks of them
 * (max_blocks <= 0: all). AWQ_ERR_ARG when not even one sequence fits. */
awq_err awq_tokens_layout(size_t n, int seqlen, int max_blocks, int *n_blocks);

/* The key of a tokens object: XXH3-128 of "tokens I32 <n_blocks> <seqlen>\0" + the id bytes. */
awq_key awq_tokens_key(const int32_t *ids, int n_blocks, int seqlen);

/* Store ids[0 .. n_blocks*seqlen) as a tokens object; *key receives its key. */
awq_err awq_tokens_put(awq_store *s, const int32_t *ids, int n_blocks, int seqlen, awq_key *key);

/* Read a tokens object back: *ids points into the object (valid until awq_object_free(*obj)). */
awq_err awq_tokens_get(awq_store *s, const awq_key *key, awq_object **obj, const int32_t **ids,
                       int *n_blocks, int *seqlen);

#endif
