/* shard.h - the output checkpoint written piece by piece while the pipeline runs: one
 * safetensors file per decoder block (the tensors of its packed object under their checkpoint
 * names) and one for the non-block tensors in fp16 (the "rest"). awq-shard writes each as soon as
 * what it holds exists, beside the GPU work of the other blocks; awq-assemble --shards-dir then
 * only links them into the output directory (assemble.h). A shard's file name carries the key of
 * what it holds, so an existing shard is valid by construction and a changed block gets a new one. */
#ifndef AWQ_SHARD_H
#define AWQ_SHARD_H

#include "../../cache/store.h"
#include "model.h"

#define AWQ_SHARD_NAME_MAX 80

/* "<layer>-<hex>.safetensors": block `layer`'s shard in FORMAT `format` (AWQ_FORMAT_*): hex is
 * the packed object's key for AutoAWQ (the name every earlier version gave it), and for
 * compressed-tensors the key of the recipe (stage ct-shard, the packed key): a FORMAT switch
 * makes new shards of the same packed objects and keeps the other format's. */
void awq_block_shard_name(int layer, const awq_key *packed, int format, char out[AWQ_SHARD_NAME_MAX]);
/* "rest-<awq_rest_key hex>.safetensors": the non-block tensors' shard. Errors as awq_rest_key. */
awq_err awq_rest_shard_name(const awq_model *m, char out[AWQ_SHARD_NAME_MAX]);
/* 1 when `name` (a file name, no directory) has the form of either, or is the temporary file
 * cache/atomic.h writes one under (".tmp-<shard name>-..."); else 0. */
int awq_is_shard_name(const char *name);

/* The checkpoint tensors of block `layer` from its packed object `o` (loaded, or a header read
 * without data): t[i] for o->tensors[i], named "model.layers.<layer>.<name in the object>" as
 * the architecture's checkpoint calls it (awq_ckpt_name; the object's own name follows the NUL
 * of names[i]) (malloc'ed into names[i], which t[i].name points to; the caller frees names[0..n_tensors)
 * also after an error), same dtype, shape and bytes, data = o's data (NULL for a header).
 * This is the AutoAWQ shard, and the compressed-tensors one of an object already in that layout;
 * awq_write_block_shard converts a GEMM object for FORMAT=ct. Errors: AWQ_ERR_NOMEM. */
awq_err awq_block_shard_tensors(const awq_config *cfg, const awq_object *o, int layer, st_tensor *t, char **names);

/* The non-block tensors of the checkpoint: embed_tokens, the final norm, and lm_head when it is
 * not tied to the embedding, as F16 entries in t (names the model's, data NULL: the bytes come
 * from awq_rest_fill) with their model tensors in src. Returns the count (2 or 3). */
int awq_rest_shard_tensors(const awq_model *m, st_tensor t[3], const st_tensor *src[3]);
/* Bytes [offset, offset + len) of model tensor `t` converted to F16 into buf (offset and len even,
 * counted in F16 bytes). AWQ_ERR_NUMERIC, naming the tensor and element, for a value that does
 * not fit fp16 (NaN, Inf, or beyond its range). */
awq_err awq_rest_fill(const st_tensor *t, uint64_t offset, void *buf, size_t len);

/* Write block `layer`'s shard (its packed object `packed` from the store) in FORMAT `format` to
 * `path`: atomic and fsynced, the parent directory created. For compressed-tensors, each GEMM
 * linear (qweight, qzeros, scales) becomes weight_packed, weight_scale, weight_zero_point and
 * weight_shape (ct.h; the conversion compressed-tensors' AutoAWQConverter makes); an object in
 * that layout already (W_BIT not 4) is written as it is. Errors: the object missing or damaged
 * (named, with the store's hint), not a packed object, or fake-quant weights where FORMAT=ct
 * wants codes (AWQ_ERR_FORMAT), the file system's; never a partial file. */
awq_err awq_write_block_shard(const awq_config *cfg, awq_store *s, int layer, const awq_key *packed, int format,
                              const char *path);
/* Write the rest shard of model `m` to `path`, as above; AWQ_ERR_NUMERIC from awq_rest_fill. */
awq_err awq_write_rest_shard(const awq_model *m, const char *path);

/* Remove the files of `dir` that have a shard's name (awq_is_shard_name) but are none of
 * keep[0..n_keep): the shards of earlier experiments, and temporary files of killed writers.
 * With `trash` (an existing directory) they are moved there, for the caller to remove later (or
 * unlinked where they cannot be moved); with NULL, unlinked. Best effort: a file that cannot be
 * removed is a warning. Returns the number removed. */
int awq_prune_shards(const char *dir, const char *const *keep, int n_keep, const char *trash);

#endif
