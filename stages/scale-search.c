/* scale-search.c - awq-scale-search: the AWQ scale grid search of one decoder block (spec
 * §2.5-§2.6) on its captured input, every group on the ORIGINAL weights. Stores a `scales`
 * object (chosen scales, the loss of every grid point, the chosen index) and prints its key. */
#include <stdio.h>
#include <stdlib.h>

#include "../cache/prof.h"
#include "common/act.h"
#include "common/awqobj.h"
#include "common/device.h"
#include "common/devmem.h"
#include "common/log.h"
#include "common/stage.h"

int main(int argc, char **argv)
{
    const char *input = NULL;
    awq_stage_opts so;
    awq_stage_opts_default(&so);
    awq_opt opts[24] = {
        {"input", 'i', AWQ_OPT_STRING, &input, "KEY", "act object: the input of block I (from awq-capture)", 1},
    };
    awq_stage_param_opts(opts + 1, &so, "model block device store print-key w-bit group n-grid duo-scaling semantics numerics");
    awq_cli cli = {"awq-scale-search", "search the AWQ scales of one block; prints the key of the scales object", NULL, NULL, 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    awq_params p;
    if (awq_stage_params(cli.prog, &so, &p)) return 2;

    awq_model *m = NULL;
    awq_store *s = NULL;
    const awq_backend *be = NULL;
    awq_key in, key;
    char *recipe = NULL;
    float *x = NULL;
    awq_block_f32 orig = {0};
    awq_scale_result res[4];
    int n_res = 0, n_seq = 0, seqlen = 0;
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_params_check(&p, &m->cfg, 0);
    if (!e) e = awq_parse_key_opt(&in, "input", input);
    if (!e) e = awq_scales_key(m, so.block, &in, &p, &key, &recipe);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    if (!e && !so.print_key && !awq_stage_cached(s, &key)) {
        double t0 = awq_now();
        e = awq_backend_open(so.device, &be);
        awq_prof_dev(be, "stage: open model, backend");
        if (!e) e = awq_act_load(s, &in, m, be, &x, &n_seq, &seqlen);
        if (!e) e = awq_block_f32_from_model(m, so.block, p.round_f16, &orig);
        awq_prof_mark("stage: block weights to fp32");
        if (!e) e = awq_search_scales(be, &m->cfg, &p, &orig, x, n_seq, seqlen, res, &n_res, NULL);
        if (!e) e = awq_scales_put(s, &key, recipe, res, n_res);
        awq_prof_mark("stage: put scales");
        if (!e) awq_verbose("block %d: %d groups searched in %.2f s", so.block, n_res, awq_now() - t0);
        if (e) e = awq_context(e, "block %d", so.block);
    }
    if (!e) awq_print_key(&key);
    awq_scale_results_free(res, n_res);
    awq_block_f32_free(&orig);
    if (be) awq_dev_free(be, x);
    free(recipe);
    if (be) be->close(be);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
