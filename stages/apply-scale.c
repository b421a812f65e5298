/* apply-scale.c - awq-apply-scale: fold a block's searched scales into its norms / previous
 * linears and next linears (spec §2.7), in table order (the block worker's second step,
 * stages/common/work.h). Stores the `scaled` block (F16 in fp16 numerics; this is also what an
 * export_compatible checkpoint holds) and prints its key. */
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

    awq_stage_block b;
    awq_key sk;
    awq_err e = awq_stage_block_open(&b, &so, &p, AWQ_STAGE_NO_CHECK); /* the block is scaled on the host */
    if (!e) e = awq_parse_key_opt(&sk, "scales", scales);
    if (!e) e = awq_work_keys_from(&b.w, NULL, &sk, NULL, NULL, 0);
    if (!e && b.s) e = awq_work_scaled(&b.w, 1);
    return awq_stage_block_close(&b, e, &b.w.k.scaled, cli.prog);
}
