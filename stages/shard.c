/* shard.c - awq-shard: write one shard file of the output checkpoint while the pipeline runs,
 * either a block's (its packed object's tensors under their checkpoint names, in --format's
 * layout: AutoAWQ GEMM or compressed-tensors) or the non-block
 * tensors' in fp16; awq-assemble --shards-dir later only links them into the output directory.
 * See stages/common/shard.h. */
#include <stdio.h>

#include "common/log.h"
#include "common/shard.h"
#include "common/stage.h"

int main(int argc, char **argv)
{
    const char *packed = NULL, *out = NULL;
    int block = -1, rest = 0;
    const awq_opt own[] = {
        {"block", 'b', AWQ_OPT_INT, &block, "L", "the decoder block whose shard to write (with --packed)", 0},
        {"packed", 0, AWQ_OPT_STRING, &packed, "KEY", "the block's packed object", 0},
        {"rest", 0, AWQ_OPT_FLAG, &rest, NULL, "write the non-block tensors (embedding, final norm, lm_head) in fp16", 0},
        {"out", 'o', AWQ_OPT_STRING, &out, "FILE", "the shard file (written atomically; its directory is created)", 1},
        {0},
    };
    awq_cli cli = {"awq-shard", "write one shard file of the output checkpoint; prints FILE", NULL,
                   "Give --block L --packed KEY, or --rest. awq-assemble --shards-dir links the shards into the output directory.", 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_MODEL | AWQ_SO_STORE, &p, AWQ_PROGRAM_SHARD, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    if (rest ? (packed || block >= 0) : (!packed || block < 0)) {
        fprintf(stderr, "%s: give --block L --packed KEY, or --rest\ntry '%s --help'\n", cli.prog, cli.prog);
        return 2;
    }

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key key;
    double t0 = awq_now();
    awq_err e = awq_model_open(&m, so.model);
    if (!e && !rest && block >= m->cfg.num_hidden_layers)
        e = awq_fail(AWQ_ERR_ARG, "--block %d: the model has %d blocks", block, m->cfg.num_hidden_layers);
    if (!e && !rest) e = awq_parse_key_opt(&key, "packed", packed);
    if (!e && !rest) e = awq_store_open(&s, so.store, 0);
    if (!e) e = rest ? awq_write_rest_shard(m, out) : awq_write_block_shard(&m->cfg, s, block, &key, p.format, out);
    if (!e) { awq_verbose("wrote '%s' in %.2f s", out, awq_now() - t0); printf("%s\n", out); }
    const int status = awq_stage_status(s, e); /* an input gone: AWQ_EXIT_REBUILD, awq-step remakes it */
    awq_store_close(s);
    awq_model_close(m);
    if (e) awq_report(cli.prog);
    return status;
}
