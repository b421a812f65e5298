/* apply-scale.c - awq-apply-scale: fold a block's searched scales into its norms / previous
 * linears and next linears (spec §2.7), in table order. Stores the `scaled` block (F16 in fp16
 * numerics; this is also what an export_compatible checkpoint holds) and prints its key. */
#include <stdio.h>
#include <stdlib.h>

#include "common/awqobj.h"
#include "common/log.h"
#include "common/stage.h"

int main(int argc, char **argv)
{
    const char *model = NULL, *scales = NULL, *store_dir = NULL;
    int block = -1, print_key = 0;
    awq_stage_opts so;
    awq_stage_opts_default(&so);
    awq_opt opts[16] = {
        {"model", 'm', AWQ_OPT_STRING, &model, "DIR", "HF model directory", 1},
        {"block", 'b', AWQ_OPT_INT, &block, "I", "decoder block", 1},
        {"scales", 0, AWQ_OPT_STRING, &scales, "KEY", "scales object of block I (from awq-scale-search)", 1},
        {"store", 0, AWQ_OPT_STRING, &store_dir, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {"print-key", 0, AWQ_OPT_FLAG, &print_key, NULL, "print the output key and exit without computing", 0},
    };
    awq_stage_param_opts(opts + 5, &so, "numerics");
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
    awq_err e = awq_model_open(&m, model);
    if (!e) e = awq_parse_key_opt(&sk, "scales", scales);
    if (!e) e = awq_scaled_key(m, block, &sk, &p, &key, &recipe);
    if (!e && !print_key) e = awq_store_open(&s, store_dir, 0);
    if (!e && !print_key && !awq_stage_cached(s, &key)) {
        e = awq_scales_get(s, &sk, &m->cfg, res, &n_res);
        if (!e) e = awq_block_f32_from_model(m, block, p.round_f16, &b);
        if (!e) e = awq_apply_scales(&b, res, n_res, p.round_f16);
        if (!e) e = awq_block_put(s, &key, "scaled", recipe, &b, p.round_f16);
        if (e) e = awq_context(e, "block %d", block);
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
