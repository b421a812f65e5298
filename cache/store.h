/* store.h - the content-addressed object store.
 *
 * Layout like git's: <root>/objects/ab/<30 more hex digits>, plus temp files ".tmp-*" beside
 * them while a put is in flight. The root is $AWQ_CACHE, else $XDG_CACHE_HOME/awqmake, else
 * ~/.cache/awqmake.
 *
 * An object holds a kind ("act", "scales", ...), its key, the recipe text that produced it and
 * a table of named tensors (dtype, shape, bytes). On disk (all integers little-endian):
 *     magic "AWQOBJ\r\n" (8 bytes), u32 format version (3; 1 and 2 are still read), u32 header length H,
 *     H bytes of header (UTF-8 JSON, possibly followed by spaces), u64 XXH3-64 of those H bytes,
 *     the compressed chunks back to back, in tensor order, nothing after them.
 * The header JSON:
 *     {"kind":"act","key":"<32 hex>","recipe":"stage=...\n...",
 *      "tensors":[{"name":"x","dtype":"F16","shape":[2,3],
 *                  "chunks":[[stored_bytes, raw_bytes, "<xxh3-64 of raw bytes, 16 hex>", codec,
 *                              "<xxh3-64 of the stored (compressed) bytes, 16 hex>"], ...]}]}
 * (Version 2 is the same with codec 0 or 1 only; version 1 also lacks the fifth entry.)
 * Each tensor's bytes are cut into chunks of AWQ_CHUNK bytes (the last one shorter; an empty
 * tensor has none) that are encoded independently (on several threads) with one of the codecs
 * below, chosen per chunk (cache/object.c says how and why, with measurements). A chunk's
 * position in the file is the sum of the stored sizes before it.
 * A reader verifies the magic, version, header checksum, every size against the file size,
 * every chunk's sizes and checksum, and never returns data from an object that fails a check.
 * Two depths of checking:
 *   check  (awq_store_check): header and the checksum of every chunk's stored bytes. Hashing
 *          the compressed bytes costs a small fraction of decompressing them
 *          (docs/PERFORMANCE.md), and it sees every byte of the file: a flip anywhere, or a
 *          file cut or extended, fails. This is "is it cached?".
 *   verify (awq_store_verify, and every get): the same, then decompress every chunk and check
 *          the checksum of its raw bytes, which also catches an encoder that wrote wrong data.
 * A version-1 object has no checksums of its stored bytes, so its check is a full verify.
 */
#ifndef AWQ_STORE_H
#define AWQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "../base/error.h"
#include "key.h"

#define AWQ_MAX_DIMS 8
#define AWQ_CHUNK ((size_t)4 << 20)          /* raw bytes per chunk (the last may be shorter) */
#define AWQ_OBJECT_VERSION 3u           /* written; see the format above */
#define AWQ_OBJECT_VERSION_MIN 1u       /* oldest read */
#define AWQ_MAX_HEADER ((size_t)64 << 20)    /* larger headers are rejected as malformed */
#define AWQ_MAX_TENSORS 1000000              /* per object */
#define AWQ_MAX_NAME 4096                    /* bytes of a tensor name */

/* How a chunk's raw bytes are stored (the fourth entry of a chunk; its number is the format). */
typedef enum {
    AWQ_CODEC_ZSTD = 0,    /* zstd of the raw bytes (versions 1, 2: "not shuffled") */
    AWQ_CODEC_SHUFFLE = 1, /* byte-plane shuffle (float dtypes of 2+ bytes), then zstd ("shuffled") */
    AWQ_CODEC_RAW = 2,     /* the raw bytes as they are (version 3) */
    AWQ_CODEC_SPLIT = 3,   /* byte-plane shuffle; zstd of the upper half of the planes (sign and
                              exponent), followed by the lower half (mantissa) as it is (version 3) */
    AWQ_CODEC__COUNT
} awq_codec;
const char *awq_codec_name(awq_codec c); /* "zstd", "shuffle", "raw", "split"; "?" otherwise */

/* One tensor of an object. For put the caller owns `data`; for get the object owns it. */
typedef struct awq_tensor {
    char *name;                    /* UTF-8, unique within the object */
    awq_dtype dtype;
    int ndim;                      /* 0..AWQ_MAX_DIMS; 0 = scalar */
    int64_t shape[AWQ_MAX_DIMS];
    void *data;                    /* nbytes of row-major little-endian elements; NULL in a
                                      header read without data. For get: 64-byte aligned,
                                      never NULL (also for empty tensors) */
    size_t nbytes;                 /* must equal numel * awq_dtype_size(dtype) */
    int fast;                      /* put: data that barely compresses (packed 4-bit words): zstd's
                                      fastest level instead of spending CPU on ~10% (object.c) */
} awq_tensor;

/* One compressed chunk as recorded in the header. */
typedef struct awq_chunk {
    uint64_t offset;               /* in the file */
    uint32_t stored, raw;          /* compressed / raw bytes */
    uint64_t xxh64;                /* XXH3-64 of the raw (unshuffled) bytes */
    uint64_t stored_xxh64;         /* XXH3-64 of the stored (compressed) bytes; version >= 2 */
    int codec;                     /* awq_codec */
} awq_chunk;

/* Where a tensor lives in the file (filled when an object or its header is read). */
typedef struct awq_tensor_layout {
    size_t first_chunk, n_chunks;  /* range in awq_object.chunks */
    uint64_t stored_bytes;         /* compressed bytes of this tensor */
} awq_tensor_layout;

/* An object read from the store; everything in it is owned by it (awq_object_free). */
typedef struct awq_object {
    char kind[32];
    uint32_t version;              /* format version of the file */
    awq_key key;                   /* as written in the header */
    char *recipe;                  /* owned; "" for source objects */
    int n_tensors;
    awq_tensor *tensors;           /* owned, names and data included */
    awq_tensor_layout *layout;     /* owned; n_tensors entries */
    awq_chunk *chunks;             /* owned; n_chunks entries, all tensors in order */
    size_t n_chunks;
    uint64_t data_offset;          /* where the first chunk starts */
    uint64_t file_size;
    void *payload;                 /* owned; one allocation that the tensors' data point into */
} awq_object;

typedef struct awq_store awq_store;

/* Open (creating the directories if needed) the store at `root`, or the default location when
 * root is NULL. n_threads <= 0: use all cores (OpenMP) for (de)compression. The codec of its
 * puts is $AWQ_STORE_CODEC when set (awq_store_set_codec; a bad name: AWQ_ERR_ARG). */
awq_err awq_store_open(awq_store **out, const char *root, int n_threads);
/* Store every chunk of later puts with codec `name` ("zstd", "shuffle", "raw", "split") where
 * the tensor's dtype allows it (the shuffling ones: floats of 2+ bytes; other tensors as
 * chosen), or "auto" (the default: chosen per chunk, cache/object.c). For the tests,
 * awq-bench-store, and trying a codec on a machine without rebuilding (AWQ_STORE_CODEC,
 * tools/bench-capture.sh): it changes the bytes of the files, never a key or a value read back.
 * AWQ_ERR_ARG for another name. */
awq_err awq_store_set_codec(awq_store *s, const char *name);
void awq_store_close(awq_store *s);       /* NULL is a no-op */
const char *awq_store_root(const awq_store *s);
/* The default root ($AWQ_CACHE, $XDG_CACHE_HOME/awqmake, $HOME/.cache/awqmake). Caller frees.
 * AWQ_ERR_ARG when none of these variables is set. */
awq_err awq_store_default_root(char **out);

/* Path of an object's file (whether or not it exists). Caller frees; NULL when out of memory. */
char *awq_store_path(const awq_store *s, const awq_key *key);

/* Does a file exist under the key's name? (No verification: use awq_store_get/verify.) */
int awq_store_has(const awq_store *s, const awq_key *key);

/* Write an object atomically. If a valid object with this key already exists, nothing is
 * written and AWQ_OK is returned; an existing invalid one is replaced. `recipe` may be NULL.
 * Errors: AWQ_ERR_ARG for a bad kind/tensor (named), AWQ_ERR_NOSPACE when the disk is full,
 * AWQ_ERR_IO; in every error case no file is left under the final name or as a temp file. */
awq_err awq_store_put(awq_store *s, const awq_key *key, const char *kind, const char *recipe,
                      const awq_tensor *tensors, int n_tensors);

/* Read and fully verify an object. AWQ_ERR_NOTFOUND when absent; AWQ_ERR_FORMAT or
 * AWQ_ERR_CHECKSUM (message names the object path, hint says how to rebuild it) when it is
 * damaged, and then the file is moved aside (awq_store_move_aside) so that the object is missing
 * and its step runs again. *out is NULL on error. Refreshes the file's mtime (for gc by age). */
awq_err awq_store_get(awq_store *s, const awq_key *key, awq_object **out);
/* How many gets of this store found their object missing or damaged: a program whose input is
 * gone tells the pipeline so by its exit status, and the input is made again (awq-step). */
int awq_store_lost(const awq_store *s);
/* How many puts of this store found the object there but damaged, and replaced it (*why: the
 * first one's check error, naming the file), so that the program can say so. */
int awq_store_replaced(const awq_store *s, const char **why);
/* Move an object's file aside as ".tmp-damaged-<name>-<host>-<pid>-<random>" beside it (a temp
 * file: never read again; `awq-obj gc` removes it), so that the object is missing. AWQ_OK when
 * there was none. */
awq_err awq_store_move_aside(awq_store *s, const awq_key *key);
void awq_object_free(awq_object *o);      /* NULL is a no-op */
/* Tensor by name, NULL when absent. */
const awq_tensor *awq_object_tensor(const awq_object *o, const char *name);

/* Read just the header of an object file (no payload decompression); used by `info`.
 * Tensors have data == NULL. payload_bytes (may be NULL): compressed bytes after the header. */
awq_err awq_object_read_header(const char *path, awq_object **out_without_data, uint64_t *payload_bytes);

/* Verify one object completely (as get does, and also that its file name matches its key),
 * without keeping its data. Errors as awq_store_get. Does not touch the mtime. */
awq_err awq_store_verify(awq_store *s, const awq_key *key);

/* Check that an object is present and intact without decompressing it: the header, that the
 * file name matches its key, and the checksum of every chunk's stored bytes (version 1 objects,
 * which have none, are verified completely). A cheap "is it cached?"; the decoded content is
 * still verified by the get that reads it. Errors as awq_store_verify; does not touch the mtime. */
awq_err awq_store_check(awq_store *s, const awq_key *key);

/* Walk every object file, in sorted order; call `fn` for each (key parsed from the path).
 * A non-zero return from fn stops the walk and is returned. Files that do not look like objects
 * are reported to fn with key == NULL and their path; temp files (".tmp-*") are skipped.
 * Returns -1 (message set) when the objects directory cannot be read. */
typedef int (*awq_store_visit_fn)(void *ctx, const awq_key *key, const char *path);
int awq_store_walk(awq_store *s, awq_store_visit_fn fn, void *ctx);

/* Garbage collection. An object is removed when every rule given says so: its mtime is older
 * than `older_than_s` seconds (rule used when >= 0) and it is not in `keep` (rule used when
 * keep != NULL). With no rule, no object is removed. Temp files older than an hour (left by a
 * killed writer, or an unrenewed claim) and moved-aside damaged objects (".tmp-damaged-*", of any
 * age: nothing reads them) are always removed; foreign files never. Reading an object refreshes its mtime,
 * so "age" is time since last use. dry_run: count and report only.
 * `report` (optional) is called for each file removed (or that would be). */
typedef struct awq_gc_opts {
    double older_than_s;     /* < 0: no age rule */
    const awq_key *keep;     /* NULL: no keep-list rule (n_keep == 0 with keep != NULL: keep none) */
    size_t n_keep;
    int dry_run;
    void (*report)(void *ctx, const char *path, uint64_t bytes, int is_temp);
    void *report_ctx;
} awq_gc_opts;
awq_err awq_store_gc(awq_store *s, const awq_gc_opts *opts, size_t *n_removed, uint64_t *bytes_removed);

/* Low level, exposed for the fuzzer and the tests: parse and validate an object header held
 * in memory (the bytes from the magic up to, not including, the chunk data; more may follow).
 * `file_size` is the size of the whole file; chunk extents are checked against it. Messages
 * say what is wrong without naming a file (callers add that with awq_context). */
awq_err awq_object_parse_header(const uint8_t *buf, size_t len, uint64_t file_size, awq_object **out_without_data);

/* Parse, verify and decode a whole object held in memory (buf = the whole file).
 * with_data = 0: verify only (*out may then be NULL; it gets the header when not NULL).
 * n_threads <= 0: all cores. */
awq_err awq_object_decode(const uint8_t *buf, size_t len, int n_threads, int with_data, awq_object **out);

/* The check of awq_store_check on a whole object held in memory: parse the header and hash every
 * chunk's stored bytes (version 1: awq_object_decode without data). *out (may be NULL) gets the
 * header when the object passes. n_threads <= 0: all cores. */
awq_err awq_object_check(const uint8_t *buf, size_t len, int n_threads, awq_object **out);

#endif
