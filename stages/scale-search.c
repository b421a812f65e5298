/* scale-search.c - awq-scale-search: the AWQ scale grid search of one decoder block (spec
 * §2.5-§2.6) on its captured input, every group on the ORIGINAL weights (the block worker's first
 * step, stages/common/work.h). Stores a `scales` object (chosen scales, the loss of every grid
 * point, the chosen index) and the clip search's inputs (`clipin`), and prints the scales key. */
#include "common/log.h"
#include "common/stage.h"
#include "common/work.h"

int main(int argc, char **argv)
{
    const char *input = NULL;
    const awq_opt own[] = {
        {"input", 'i', AWQ_OPT_STRING, &input, "KEY", "act object: the input of block I (from awq-capture)", 1},
        {0},
    };
    awq_cli cli = {"awq-scale-search", "search the AWQ scales of one block; prints the key of the scales object", NULL, NULL, 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_ALL, &p, AWQ_PROGRAM_SCALE_SEARCH, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;

    awq_stage_block b;
    awq_key in;
    awq_err e = awq_stage_block_open(&b, &so, &p, 0);
    if (!e) e = awq_parse_key_opt(&in, "input", input);
    if (!e) e = awq_work_keys_from(&b.w, &in, NULL, NULL, NULL, 0);
    if (!e && b.s) e = awq_work_scales(&b.w);
    if (!e && (b.w.done & AWQ_K_SCALES)) awq_verbose("block %d: %d groups searched in %.2f s", so.block, b.w.n_groups, b.w.search_s);
    return awq_stage_block_close(&b, e, &b.w.k.scales, cli.prog);
}
