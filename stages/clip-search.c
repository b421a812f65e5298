/* clip-search.c - awq-clip-search: the clip search of a scaled block (spec §2.8) on the sampled
 * rows of its linears' captured inputs divided by the scales (spec §2.7; the clipin object, made
 * from the block input and the original block when the store lacks it). Every linear but q/k gets
 * max_val per (output channel, group); the loss of every candidate is kept. Prints the clip
 * object's key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/prof.h"
#include "common/act.h"
#include "common/awqobj.h"
#include "common/device.h"
#include "common/devmem.h"
#include "common/log.h"
#include "common/stage.h"

int main(int argc, char **argv)
{
    const char *input = NULL, *scaled = NULL, *scales = NULL;
    awq_stage_opts so;
    awq_stage_opts_default(&so);
    awq_opt opts[24] = {
        {"scaled", 0, AWQ_OPT_STRING, &scaled, "KEY", "scaled block (from awq-apply-scale)", 1},
        {"scales", 0, AWQ_OPT_STRING, &scales, "KEY", "the scales folded into it (from awq-scale-search)", 1},
        {"input", 'i', AWQ_OPT_STRING, &input, "KEY", "act object: the input of block I", 1},
    };
    awq_stage_param_opts(opts + 3, &so, "model block device store print-key w-bit group numerics clip-grid max-shrink n-sample-token");
    awq_cli cli = {"awq-clip-search", "search the weight clipping of a scaled block; prints the key of the clip object", NULL, NULL, 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    awq_params p;
    if (awq_stage_params(cli.prog, &so, &p)) return 2;

    awq_model *m = NULL;
    awq_store *s = NULL;
    const awq_backend *be = NULL;
    awq_key sk, ak, sck, want, cik, key;
    char *recipe = NULL, *ci_recipe = NULL;
    float *x = NULL;
    awq_block_f32 b = {0}, orig = {0};
    awq_clip_result res[7];
    awq_scale_result sres[4];
    awq_clip_in ci = {0};
    int n_res = 0, n_sres = 0, n_seq = 0, seqlen = 0;
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_params_check(&p, &m->cfg, 0);
    if (!e) e = awq_parse_key_opt(&sk, "scaled", scaled);
    if (!e) e = awq_parse_key_opt(&sck, "scales", scales);
    if (!e) e = awq_parse_key_opt(&ak, "input", input);
    if (!e) e = awq_scaled_key(m, so.block, &sck, &p, &want, NULL);
    if (!e && memcmp(&want, &sk, sizeof sk) != 0) {
        e = awq_fail(AWQ_ERR_ARG, "--scaled %s is not block %d scaled with --scales %s", scaled, so.block, scales);
        awq_hint("pass the key awq-apply-scale printed for these scales (same --numerics)");
    }
    if (!e) e = awq_clipin_key(m, so.block, &ak, &p, &cik, &ci_recipe);
    if (!e) e = awq_clip_key(&sk, &ak, &p, &key, &recipe);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    if (!e && !so.print_key && !awq_stage_cached(s, &key)) {
        double t0 = awq_now();
        e = awq_backend_open(so.device, &be);
        awq_prof_dev(be, "stage: open model, backend");
        if (!e && awq_stage_cached(s, &cik)) e = awq_clipin_get(s, &cik, &m->cfg, &ci);
        else if (!e) { /* the sampled rows of the original block's inputs, stored for the next run */
            e = awq_block_f32_from_model(m, so.block, p.round_f16, &orig);
            if (!e) e = awq_act_load(s, &ak, m, be, &x, &n_seq, &seqlen);
            if (!e) e = awq_clip_in_compute(be, &m->cfg, &p, &orig, x, n_seq, seqlen, &ci);
            if (!e) e = awq_clipin_put(s, &cik, ci_recipe, &ci, p.round_f16);
        }
        if (!e) e = awq_scales_get(s, &sck, &m->cfg, sres, &n_sres);
        if (!e) e = awq_clip_in_scale(&ci, sres, n_sres, p.round_f16);
        if (!e) e = awq_block_get(s, &sk, "scaled", &b);
        if (!e) e = awq_search_clips(be, &m->cfg, &p, &b, &ci, res, &n_res);
        if (!e) e = awq_clips_put(s, &key, recipe, res, n_res);
        awq_prof_mark("stage: put clips");
        if (!e) awq_verbose("block %d: %d linears clipped in %.2f s", so.block, n_res, awq_now() - t0);
        if (e) e = awq_context(e, "block %d", so.block);
    }
    if (!e) awq_print_key(&key);
    awq_clip_results_free(res, n_res);
    awq_scale_results_free(sres, n_sres);
    awq_clip_in_free(&ci);
    awq_block_f32_free(&b);
    awq_block_f32_free(&orig);
    free(ci_recipe);
    if (be) awq_dev_free(be, x);
    free(recipe);
    if (be) be->close(be);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
