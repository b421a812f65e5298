/* store.h - the content-addressed object store.
 *
 * Layout like git's: <root>/objects/ab/<30 more hex digits>, plus temp files ".tmp-*" beside
 * them while a put is in flight. The root is $AWQ_CACHE, else $XDG_CACHE_HOME/awqmake, else
 * ~/.cache/awqmake.
 *
 * An object holds a kind ("act", "scales", ...), its key, the recipe text that produced it and
 * a table of named tensors (dtype, shape, bytes). On disk (all integers little-endian):
 *     magic "AWQOBJ\r\n" (8 bytes), u32 format version, u32 header length H,
 *     H bytes of header (JSON: kind, key, recipe, tensors, chunks), u64 XXH3-64 of the header,
 *     the compressed chunks back to back.
 * Each tensor's bytes are cut into chunks of at most AWQ_CHUNK bytes that are compressed
 * independently with zstd (on several threads), after a byte-plane shuffle for 2- and 4-byte
 * float types; each chunk records its compressed and raw sizes and the XXH3-64 of its raw bytes.
 * A reader verifies the magic, version, header checksum, every chunk's sizes and checksum, and
 * never returns data from an object that fails any check.
 */
#ifndef AWQ_STORE_H
#define AWQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "error.h"
#include "key.h"

#define AWQ_MAX_DIMS 8

/* One tensor of an object. For put the caller owns `data`; for get the object owns it. */
typedef struct awq_tensor {
    char *name;                    /* UTF-8, unique within the object */
    awq_dtype dtype;
    int ndim;                      /* 0..AWQ_MAX_DIMS; 0 = scalar */
    int64_t shape[AWQ_MAX_DIMS];
    void *data;                    /* nbytes of row-major little-endian elements */
    size_t nbytes;                 /* must equal numel * awq_dtype_size(dtype) */
} awq_tensor;

/* An object read from the store: everything lives in one allocation set owned by the object. */
typedef struct awq_object {
    char kind[32];
    awq_key key;
    char *recipe;                  /* owned; "" for source objects */
    int n_tensors;
    awq_tensor *tensors;           /* owned, data included */
} awq_object;

typedef struct awq_store awq_store;

/* Open (creating the directories if needed) the store at `root`, or the default location when
 * root is NULL. n_threads <= 0: use all cores for (de)compression. */
awq_err awq_store_open(awq_store **out, const char *root, int n_threads);
void awq_store_close(awq_store *s);       /* NULL is a no-op */
const char *awq_store_root(const awq_store *s);

/* Path of an object's file (whether or not it exists). Caller frees. */
char *awq_store_path(const awq_store *s, const awq_key *key);

/* Does a file exist under the key's name? (No verification: use awq_store_get/verify.) */
int awq_store_has(const awq_store *s, const awq_key *key);

/* Write an object atomically. If a valid object with this key already exists, nothing is
 * written and AWQ_OK is returned; an existing invalid one is replaced. `recipe` may be NULL. */
awq_err awq_store_put(awq_store *s, const awq_key *key, const char *kind, const char *recipe,
                      const awq_tensor *tensors, int n_tensors);

/* Read and fully verify an object. AWQ_ERR_NOTFOUND when absent; AWQ_ERR_FORMAT or
 * AWQ_ERR_CHECKSUM (message names the object path) when it is damaged. *out is NULL on error. */
awq_err awq_store_get(awq_store *s, const awq_key *key, awq_object **out);
void awq_object_free(awq_object *o);      /* NULL is a no-op */
/* Tensor by name, NULL when absent. */
const awq_tensor *awq_object_tensor(const awq_object *o, const char *name);

/* Read just the header of an object file (no payload decompression); used by `info`. */
awq_err awq_object_read_header(const char *path, awq_object **out_without_data, uint64_t *payload_bytes);

/* Verify one object completely (as get does, and also that its file name matches its key). */
awq_err awq_store_verify(awq_store *s, const awq_key *key);

/* Walk every object file; call `fn` for each (key parsed from the path). A non-zero return
 * from fn stops the walk and is returned. Files that do not look like objects are reported
 * to fn with key == NULL and their path. */
typedef int (*awq_store_visit_fn)(void *ctx, const awq_key *key, const char *path);
int awq_store_walk(awq_store *s, awq_store_visit_fn fn, void *ctx);

/* Garbage collection. Removes objects whose mtime is older than `older_than_s` seconds
 * (when >= 0) and/or that are not in `keep` (when keep != NULL), plus temp files older than an
 * hour. Reading an object refreshes its mtime, so "age" is time since last use.
 * dry_run: report only. Counts and bytes removed are returned. */
typedef struct awq_gc_opts {
    double older_than_s;     /* < 0: no age rule */
    const awq_key *keep;     /* NULL: no keep-list rule */
    size_t n_keep;
    int dry_run;
} awq_gc_opts;
awq_err awq_store_gc(awq_store *s, const awq_gc_opts *opts, size_t *n_removed, uint64_t *bytes_removed);

/* Low level, exposed for the fuzzer and the tests: parse and validate an object header held
 * in memory (the bytes from the magic up to, not including, the chunk data). `file_size` is
 * the size of the whole file; chunk extents are checked against it. */
awq_err awq_object_parse_header(const uint8_t *buf, size_t len, uint64_t file_size, awq_object **out_without_data);

#endif
