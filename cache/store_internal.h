/* store_internal.h - what cache/store.c, cache/gc.c and cache/object.c share and nothing
 * outside cache/ should use: the object encoder, the walker that also sees temp files, and
 * the thread count helper. */
#ifndef AWQ_STORE_INTERNAL_H
#define AWQ_STORE_INTERNAL_H

#include "atomic.h"
#include "store.h"

/* Check a put's arguments (kind, names, dtypes, shapes, sizes); AWQ_ERR_ARG naming the culprit. */
awq_err awq_object_check_args(const char *kind, const char *recipe, const awq_tensor *t, int n);

/* Encode an object into an open atomic file (which must be empty) and leave it uncommitted.
 * Arguments must have passed awq_object_check_args. force: 0 = each chunk's codec chosen, else
 * 1 + the awq_codec of every chunk whose dtype allows it (awq_store_set_codec). Errors name
 * f->final_path. */
awq_err awq_object_write(awq_atomic *f, const awq_key *key, const char *kind, const char *recipe,
                         const awq_tensor *t, int n, int n_threads, int force);

/* n_threads <= 0: all cores (OpenMP), else n_threads; 1 without OpenMP. */
int awq_threads(int n_threads);

/* Everything under <root>/objects, sorted, including temp files. */
typedef enum { AWQ_ENTRY_OBJECT, AWQ_ENTRY_TEMP, AWQ_ENTRY_FOREIGN } awq_entry_type;
typedef int (*awq_entry_fn)(void *ctx, awq_entry_type type, const awq_key *key, const char *path);
int awq_store_walk_entries(awq_store *s, awq_entry_fn fn, void *ctx);

#endif
