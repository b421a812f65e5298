/* clip-search.c - awq-clip-search: the clip search of a scaled block (spec §2.8) on the sampled
 * rows of its linears' captured inputs divided by the scales (spec §2.7; the clipin object, made
 * from the block input and the original block when the store lacks it): the block worker's third
 * step (stages/common/work.h). Every linear but q/k gets max_val per (output channel, group); the
 * loss of every candidate is kept. Prints the clip object's key. */
#include "../base/prof.h"
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

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key sdk, sck, ak;
    awq_work w = {0};
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_params_check(&p, &m->cfg, 0);
    if (!e) e = awq_parse_key_opt(&sdk, "scaled", scaled);
    if (!e) e = awq_parse_key_opt(&sck, "scales", scales);
    if (!e) e = awq_parse_key_opt(&ak, "input", input);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    awq_work_init(&w, m, so.block, &p, s, NULL);
    if (!e) e = awq_work_keys_from(&w, &ak, &sck, &sdk, NULL, 0);
    if (!e && s) e = awq_work_clips(&w);
    if (!e && (w.done & AWQ_K_CLIP)) awq_verbose("block %d: %d linears clipped in %.2f s", so.block, w.n_clipped, w.clip_s);
    if (!e) awq_print_key(&w.k.clip);
    else e = awq_context(e, "block %d", so.block);
    awq_work_free(&w);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
