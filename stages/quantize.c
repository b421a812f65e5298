/* quantize.c - awq-quantize: the whole AWQ treatment of a decoder block in one process, as the
 * plan runs it (the block worker, stages/common/work.h): scale search, scaling, clip search and
 * packing, storing the scales, clip inputs, clip and packed objects under the keys of the four
 * single-step programs and skipping what the store has (a clip-grid change recomputes clip and
 * pack only, from the stored scales and clip inputs: no block input read, no forward). The scaled
 * block stays in memory (12 GB of store per 7B experiment saved). Given the inputs of consecutive
 * blocks it treats them one after the other in one process and one GPU context, reading each next
 * input while the current block computes. Prints each block's packed key. */
#include <stdio.h>

#include "common/log.h"
#include "common/stage.h"
#include "common/work.h"

/* each finished block: what it computed, then its packed key */
static void block_done(void *ctx, const awq_work *w)
{
    (void)ctx;
    if (w->done & AWQ_K_SCALES) awq_info("block %d: %d groups searched in %.2f s", w->block, w->n_groups, w->search_s);
    if (w->done & AWQ_K_CLIP) awq_info("block %d: %d linears clipped in %.2f s", w->block, w->n_clipped, w->clip_s);
    awq_print_key(&w->k.packed);
}

int main(int argc, char **argv)
{
    const char *input = NULL;
    const awq_opt own[] = {
        {"input", 'i', AWQ_OPT_STRING, &input, "KEY[,KEY...]", "act object: the input of block I (from awq-capture); "
         "several keys: blocks I, I+1, ... one after the other in this process", 1},
        {0},
    };
    awq_cli cli = {"awq-quantize", "scale search, scaling, clip search and packing of a block (or of consecutive "
                   "blocks); prints the packed keys", NULL,
                   "Stores the scales, clip and packed objects (those not in the store yet) under the keys of "
                   "awq-scale-search, awq-clip-search and awq-pack, one packed key per line. Several blocks in one "
                   "process share one GPU context: the plan runs clip-only reruns that way.", 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_ALL, &p, AWQ_PROGRAM_QUANTIZE, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;

    awq_stage_block b;
    awq_key acts[1024];
    awq_slots units = {0};
    int n = 0;
    awq_err e = awq_stage_block_open(&b, &so, &p, awq_pack_layout(&p) == AWQ_LAYOUT_GEMM);
    if (!e && (n = awq_parse_key_list("input", input, acts, (int)(sizeof acts / sizeof acts[0]))) <= 0)
        e = n < 0 ? AWQ_ERR_ARG : awq_fail(AWQ_ERR_ARG, "--input: no key given");
    if (!e && so.block + n > b.m->cfg.num_hidden_layers)
        e = awq_fail(AWQ_ERR_ARG, "--input: %d keys from block %d, but the model has %d blocks", n, so.block,
                     b.m->cfg.num_hidden_layers);
    if (!e) e = awq_work_blocks(b.m, &p, b.s, so.block, acts, n, &units, block_done, NULL); /* no store: keys only */
    return awq_stage_block_close(&b, e, NULL, cli.prog); /* block_done printed the keys */
}
