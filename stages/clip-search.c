/* clip-search.c - awq-clip-search: the clip search of a scaled block (spec §2.8) on the sampled
 * rows of its linears' captured inputs divided by the scales (spec §2.7; the clipin object, made
 * from the block input and the original block when the store lacks it): the block worker's third
 * step (stages/common/work.h). Every linear but q/k gets max_val per (output channel, group); the
 * loss of every candidate is kept. Prints the clip object's key. */
#include "common/log.h"
#include "common/stage.h"
#include "common/work.h"

int main(int argc, char **argv)
{
    const char *input = NULL, *scaled = NULL, *scales = NULL;
    const awq_opt own[] = {
        {"scaled", 0, AWQ_OPT_STRING, &scaled, "KEY", "scaled block (from awq-apply-scale)", 1},
        {"scales", 0, AWQ_OPT_STRING, &scales, "KEY", "the scales folded into it (from awq-scale-search)", 1},
        {"input", 'i', AWQ_OPT_STRING, &input, "KEY", "act object: the input of block I", 1},
        {0},
    };
    awq_cli cli = {"awq-clip-search", "search the weight clipping of a scaled block; prints the key of the clip object", NULL, NULL, 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_ALL, &p, AWQ_PROGRAM_CLIP_SEARCH, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;

    awq_stage_block b;
    awq_key sdk, sck, ak;
    awq_err e = awq_stage_block_open(&b, &so, &p, 0);
    if (!e) e = awq_parse_key_opt(&sdk, "scaled", scaled);
    if (!e) e = awq_parse_key_opt(&sck, "scales", scales);
    if (!e) e = awq_parse_key_opt(&ak, "input", input);
    if (!e) e = awq_work_keys_from(&b.w, &ak, &sck, &sdk, NULL, 0);
    if (!e && b.s) e = awq_work_clips(&b.w);
    if (!e && (b.w.done & AWQ_K_CLIP)) awq_verbose("block %d: %d linears clipped in %.2f s", so.block, b.w.n_clipped, b.w.clip_s);
    return awq_stage_block_close(&b, e, &b.w.k.clip, cli.prog);
}
