/* apply-scale.c - awq-apply-scale: fold a block's searched scales into its norms / previous
 * linears and next linears (spec §2.7), in table order. Stores the `scaled` block (F16 in fp16
 * numerics; this is also what an export_compatible checkpoint holds) and prints its key. */
#include <stdio.h>
#include <stdlib.h>

#include "../cache/prof.h"
#include "common/awqobj.h"
#include "common/log.h"
#include "common/stage.h"

int main(int argc, char **argv)
{
    const char *scales = NULL;
    awq_stage_opts so;
    awq_stage_opts_default(&so);
    awq_opt opts[16] = {
        {"scales", 0, AWQ_OPT_STRING, &scales, "KEY", "scales object of block I (from awq-scale-search)", 1},
    };
    awq_stage_param_opts(opts + 1, &so, "model block store print-key numerics");
    awq_cli cli = {"awq-apply-scale", "apply a block's AWQ scales to its weights; prints the key of the scaled block", NULL, NULL, 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    awq_params p;
    if (awq_stage_params(cli.prog, &so, &p)) return 2;

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key sk, key;
    char *recipe = NULL;
    awq_block_f32 b = {0};
    awq_scale_result res[4];
    int n_res = 0;
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_parse_key_opt(&sk, "scales", scales);
    if (!e) e = awq_scaled_key(m, so.block, &sk, &p, &key, &recipe);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    if (!e && !so.print_key && !awq_stage_cached(s, &key)) {
        e = awq_scales_get(s, &sk, &m->cfg, res, &n_res);
        if (!e) e = awq_block_f32_from_model(m, so.block, p.round_f16, &b);
        awq_prof_mark("stage: block weights to fp32");
        if (!e) e = awq_apply_scales(&b, res, n_res, p.round_f16);
        awq_prof_mark("stage: apply scales");
        if (!e) e = awq_block_put(s, &key, "scaled", recipe, &b, p.round_f16);
        if (e) e = awq_context(e, "block %d", so.block);
    }
    if (!e) awq_print_key(&key);
    awq_scale_results_free(res, n_res);
    awq_block_f32_free(&b);
    free(recipe);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
