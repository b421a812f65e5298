/* apply-scale.c - awq-apply-scale: fold a block's searched scales into its norms / previous
 * linears and next linears (spec §2.7), in table order (the block worker's second step,
 * stages/common/work.h). Stores the `scaled` block (F16 in fp16 numerics; this is also what an
 * export_compatible checkpoint holds) and prints its key. */
#include "../base/prof.h"
#include "common/log.h"
#include "common/stage.h"
#include "common/work.h"

int main(int argc, char **argv)
{
    const char *scales = NULL;
    const awq_opt own[] = {
        {"scales", 0, AWQ_OPT_STRING, &scales, "KEY", "scales object of block I (from awq-scale-search)", 1},
        {0},
    };
    awq_cli cli = {"awq-apply-scale", "apply a block's AWQ scales to its weights; prints the key of the scaled block", NULL, NULL, 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_ALL, &p, AWQ_PROGRAM_APPLY_SCALE, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key sk;
    awq_work w = {0};
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_parse_key_opt(&sk, "scales", scales);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    awq_work_init(&w, m, so.block, &p, s, NULL); /* no backend: the block is scaled on the host */
    if (!e) e = awq_work_keys_from(&w, NULL, &sk, NULL, NULL, 0);
    if (!e && s) e = awq_work_scaled(&w, 1);
    if (!e) awq_print_key(&w.k.scaled);
    else e = awq_context(e, "block %d", so.block);
    awq_work_free(&w);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
