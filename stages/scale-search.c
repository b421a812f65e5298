/* scale-search.c - awq-scale-search: the AWQ scale grid search of one decoder block (spec
 * §2.5-§2.6) on its captured input, every group on the ORIGINAL weights (the block worker's first
 * step, stages/common/work.h). Stores a `scales` object (chosen scales, the loss of every grid
 * point, the chosen index) and the clip search's inputs (`clipin`), and prints the scales key. */
#include "../base/prof.h"
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

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key in;
    awq_work w = {0};
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_params_check(&p, &m->cfg, 0);
    if (!e) e = awq_parse_key_opt(&in, "input", input);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    awq_work_init(&w, m, so.block, &p, s, NULL);
    if (!e) e = awq_work_keys_from(&w, &in, NULL, NULL, NULL, 0);
    if (!e && s) e = awq_work_scales(&w);
    if (!e && (w.done & AWQ_K_SCALES)) awq_verbose("block %d: %d groups searched in %.2f s", so.block, w.n_groups, w.search_s);
    if (!e) awq_print_key(&w.k.scales);
    else e = awq_context(e, "block %d", so.block);
    awq_work_free(&w);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
