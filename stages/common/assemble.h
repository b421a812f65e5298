/* assemble.h - the output model directory: every block's packed object plus the non-block
 * tensors in fp16, sharded safetensors + index, config.json with quantization_config (spec
 * §3.1-§3.3), the tokenizer files, and awq_search_results.safetensors (the scales and clips of
 * every block, so another run can apply them without searching). The directory is built beside
 * `out` under a temporary name and renamed into place at the end: never a half model. */
#ifndef AWQ_ASSEMBLE_H
#define AWQ_ASSEMBLE_H

#include "../../cache/store.h"
#include "awq.h"

typedef struct awq_assemble_in {
    const awq_model *m;
    const awq_params *p;
    const awq_key *packed;     /* [L] */
    const awq_key *scales;     /* [L] or NULL (RTN) */
    const awq_key *clips;      /* [L] or NULL */
    uint64_t max_shard_bytes;  /* 0: one file */
    int export_fp16;           /* the blocks are export_compatible fp16: no quantization_config (spec §3.6) */
} awq_assemble_in;

awq_err awq_assemble(awq_store *s, const awq_assemble_in *in, const char *out_dir);

#endif
