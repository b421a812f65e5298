/* safetensors.h - read (mmap) and write HF safetensors checkpoints, single-file or sharded.
 *
 * Reader: st_open() takes a model directory (model.safetensors, or model.safetensors.index.json
 * and its shards) or a single .safetensors file. Every header is validated (spec §1.3): header
 * length <= 100 MiB and inside the file, JSON object, known dtype, shape/size agreement, offsets
 * inside the data buffer, no overlaps, no holes, and no trailing bytes after the last tensor
 * (the official reader refuses those too). F16/BF16/F32 are the dtypes a model may use; other
 * valid dtypes are listed but st_model_check_dtypes() refuses them with a clear error; F8_* are
 * refused at open (AWQ_ERR_UNSUPPORTED, naming the tensor). Tensor names are unique across all
 * shards. Tensor data points into the read-only mapping and stays valid until st_close(); it is
 * always aligned to its element size (a file whose header length breaks that - legal, never
 * written by HF - has its data buffer copied to aligned memory instead).
 * Sharded: every shard the index names is opened once; a tensor the weight_map lists must be in
 * the shard it names; tensors a shard holds that the map does not list are kept (transformers
 * loads them too); metadata of the index is ignored.
 *
 * Writer (safetensors_write.c): st_write() writes one file atomically (header padded to a
 * multiple of 8 with spaces, tensors contiguous in the order given); st_write_sharded() splits
 * tensors over model-0000i-of-0000K.safetensors files of at most max_shard_bytes each plus the
 * index; st_write_sharded_fill() does the same with the bytes produced chunk by chunk by a
 * callback, for checkpoints that do not fit in memory (st_write_fill: one file that way);
 * st_write_index() writes the index of shards made elsewhere.
 */
#ifndef AWQ_SAFETENSORS_H
#define AWQ_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../../cache/dtype.h"
#include "../../base/error.h"

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    const char *name;              /* owned by the model/file */
    awq_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;              /* into the mapping (reader) / caller's buffer (writer) */
    size_t nbytes;
    int file;                      /* index of the shard holding it (reader) */
} st_tensor;

typedef struct st_model st_model;

/* Open a single .safetensors file, or a directory holding model.safetensors (preferred, as in
 * transformers) or model.safetensors.index.json + shards. On error *out is NULL and the message
 * names the file (and the tensor): AWQ_ERR_NOTFOUND/IO for missing or unreadable files,
 * AWQ_ERR_FORMAT for malformed ones, AWQ_ERR_UNSUPPORTED for F8 dtypes. The model owns
 * everything it hands out; free it with st_close(). */
awq_err st_open(st_model **out, const char *path);
void st_close(st_model *m);                           /* NULL is a no-op */

int st_count(const st_model *m);
/* Tensor i (NULL when out of range): shard by shard (shards in file-name order), and within a
 * shard in data-offset order. */
const st_tensor *st_at(const st_model *m, int i);
const st_tensor *st_find(const st_model *m, const char *name); /* O(log n); NULL when absent */
/* Like st_find but a missing tensor is an error naming the tensor and the checkpoint. */
awq_err st_get(const st_model *m, const char *name, const st_tensor **out);
/* Path of shard i (for messages; "?" when out of range). */
const char *st_file_path(const st_model *m, int file);
/* Refuse (AWQ_ERR_UNSUPPORTED, naming tensor and shard) any tensor whose dtype is not
 * F16/BF16/F32 (the ones a model may hold). */
awq_err st_model_check_dtypes(const st_model *m);

/* Parse and validate one safetensors header held in memory: `buf` = the first `len` bytes of a
 * file of `file_size` bytes (8-byte length + header must lie within `len`). `name` is used in
 * messages. On success returns the tensors sorted by data offset (malloc'ed array, names
 * malloc'ed inside, free with st_free_tensors; data = offset from the buffer start cast to a
 * pointer, i.e. NOT dereferenceable) and *out_data_start = 8 + header length. On error nothing
 * is returned (*out_tensors NULL, *out_count 0). Exposed for the fuzzer and tests. */
awq_err st_parse_header(const uint8_t *buf, size_t len, uint64_t file_size, const char *name,
                        st_tensor **out_tensors, int *out_count, uint64_t *out_data_start);
void st_free_tensors(st_tensor *t, int count); /* NULL is a no-op */

/* Write tensors to one file, atomically (temp + fsync + rename): an 8-byte header length, the
 * JSON header ("__metadata__": {"format": "pt"} first, then the tensors in the order given),
 * padded with spaces to a multiple of 8, then the tensors' bytes back to back in that order.
 * The caller keeps ownership of the tensors and their data; data is read, never freed, and is
 * streamed to the file (no copy of the whole file is made). Errors: AWQ_ERR_ARG for a bad
 * table (missing, empty, "__metadata__" or duplicate name, ndim > ST_MAX_DIMS, negative dim,
 * unknown dtype, nbytes != numel * dtype size, NULL data with nbytes > 0), AWQ_ERR_IO /
 * NOTFOUND / NOSPACE from the file system; on any error no file appears under `path`. */
awq_err st_write(const char *path, const st_tensor *tensors, int count);

/* Write tensors to `dir` (created if missing) as shards model-0000i-of-0000K.safetensors of at
 * most max_shard_bytes of tensor data each (the header comes on top, as in HF), filled in the
 * order given; a tensor larger than max_shard_bytes gets a shard of its own. Then
 * model.safetensors.index.json ({"metadata": {"total_size": <sum of nbytes>}, "weight_map":
 * {name: shard file}}) is written LAST, so an index never names a missing shard.
 * When everything fits in one shard (or max_shard_bytes is 0 = no limit) the output is a plain
 * model.safetensors with no index. Whichever form is written, a stale entry file of the other
 * form (an old index, or an old model.safetensors) is removed afterwards so readers see only the
 * new checkpoint. Every file is atomic; errors as st_write. */
awq_err st_write_sharded(const char *dir, const st_tensor *tensors, int count, uint64_t max_shard_bytes);

/* Streaming writer for checkpoints larger than memory: fill() produces bytes
 * [offset, offset + len) of tensors[index] into buf. Chunks of one tensor come in increasing
 * offset order, each at most ST_FILL_CHUNK bytes, offset and len multiples of the element size;
 * calls come from the writer's thread, one at a time. fill() returns AWQ_OK, or an error it has
 * recorded with awq_fail() - the write is then abandoned (no file appears). */
#define ST_FILL_CHUNK ((size_t)16 << 20)
typedef awq_err (*st_fill_fn)(void *ctx, int index, uint64_t offset, void *buf, size_t len);

/* st_write_sharded, but tensors[i].data is ignored: the bytes come from fill(ctx, i, ...). */
awq_err st_write_sharded_fill(const char *dir, const st_tensor *tensors, int count,
                              uint64_t max_shard_bytes, st_fill_fn fill, void *ctx);
/* st_write, but tensors[i].data is ignored: the bytes come from fill(ctx, i, ...). */
awq_err st_write_fill(const char *path, const st_tensor *tensors, int count, st_fill_fn fill, void *ctx);

/* The JSON header st_write() would give tensors[0..count) (compact, before the padding; the
 * data pointers are ignored), after the same checks of the table. malloc'ed (caller frees);
 * NULL on failure (recorded). For dry runs that show a checkpoint without writing its bytes. */
char *st_header_json(const st_tensor *tensors, int count);

/* Write <dir>/model.safetensors.index.json atomically, as st_write_sharded does: tensor names[i]
 * is in shard file files[i] (a name inside dir), metadata.total_size = total_size (the sum of the
 * tensors' bytes). For shards written by other means (awq-assemble links them). Names must be
 * valid UTF-8 (names read from safetensors headers are). Errors: AWQ_ERR_NOMEM, and those of
 * the file system as st_write. */
awq_err st_write_index(const char *dir, const char *const *names, const char *const *files, int count, uint64_t total_size);

#endif
