/* assemble.h - the output model directory: every block's packed object plus the non-block
 * tensors in fp16, sharded safetensors + index, config.json with quantization_config (spec
 * §3.1-§3.3; AutoAWQ's, or compressed-tensors' for FORMAT=ct), the tokenizer files: only what a
 * loader reads. The search results (the scales and clips of every block, so another run can
 * apply them without searching) go beside it, to awq_search_results.safetensors in OUT.awq/: a
 * safetensors file the index does not name makes loaders refuse the directory (compressed-tensors'
 * converter does). The directory is built beside
 * `out` under a temporary name and renamed into place at the end: never a half model. The
 * tensor files are written here, or were written while the pipeline ran (shard.h) and are only
 * linked here. */
#ifndef AWQ_ASSEMBLE_H
#define AWQ_ASSEMBLE_H

#include "../../cache/store.h"
#include "awq.h"

/* The compressed-tensors quantization_config of a checkpoint of model `m` with parameters `p`
 * (a new reference): one config group for every quantized linear (asymmetric int, group or
 * channel strategy), and `ignore` naming the linears left in fp16 (lm_head, the MoE routers). */
struct json_t *awq_ct_quant_config(const awq_model *m, const awq_params *p);

typedef struct awq_assemble_in {
    const awq_model *m;
    const awq_params *p;
    const awq_key *packed;     /* [L] */
    const awq_key *scales;     /* [L] or NULL (RTN) */
    const awq_key *clips;      /* [L] or NULL */
    uint64_t max_shard_bytes;  /* 0: one file */
    const char *shards_dir;    /* NULL: write every tensor here; else link the shard files awq-shard
                                  wrote there (shard.h), and max_shard_bytes is not used */
    const char *manifest;      /* NULL, or a file copied in as .awqmake-manifest.tsv (the plan's
                                  manifest: which objects the output was made from) */
    const char *search_results;/* where awq_search_results.safetensors goes (atomically); NULL:
                                  <out_dir>.awq/awq_search_results.safetensors */
} awq_assemble_in;

/* Make `out_dir` (replacing an existing one only once the new one is complete), in in->p->format.
 * Without shards_dir the tensors are written here, in shards of at most max_shard_bytes (FORMAT=ct:
 * the block shards are written into a temporary directory beside out_dir and linked, one per block).
 * With it, the tensor files are shards_dir/<l>-<packed[l] hex>.safetensors for every block l and
 * shards_dir/rest-<awq_rest_key hex>.safetensors, hard-linked (copied where the file system
 * cannot link) as model-<l+1>-of-<L+1>.safetensors and model-<L+1>-of-<L+1>.safetensors, with
 * the index built from their headers; a missing or malformed shard is an error naming the file,
 * with a hint. After success the old output and the other shard files of shards_dir (earlier
 * experiments') are removed by a detached `rm -rf` that this call does not wait for (freeing
 * gigabytes takes a second or more). The search results are read from the store `s` in both
 * cases (in->scales, in->clips). */
awq_err awq_assemble(awq_store *s, const awq_assemble_in *in, const char *out_dir);

#endif
