/* pack.c - awq-pack: clip, quantize and pack one block into the AutoAWQ GEMM layout (spec
 * §2.9-§2.11, §3.1): a scaled block with its clips (AWQ), or with --rtn the original block
 * (round-to-nearest baseline, no search); the block worker's last step (stages/common/work.h).
 * Prints the key of the packed object. */
#include <stdio.h>

#include "common/log.h"
#include "common/stage.h"
#include "common/work.h"

int main(int argc, char **argv)
{
    const char *scaled = NULL, *clip = NULL;
    int rtn = 0;
    const awq_opt own[] = {
        {"scaled", 0, AWQ_OPT_STRING, &scaled, "KEY", "scaled block (from awq-apply-scale)", 0},
        {"clip", 0, AWQ_OPT_STRING, &clip, "KEY", "clip object (from awq-clip-search); none: no clipping", 0},
        {"rtn", 0, AWQ_OPT_FLAG, &rtn, NULL, "round-to-nearest baseline: quantize the original block", 0},
        {0},
    };
    awq_cli cli = {"awq-pack", "quantize and pack one block (AutoAWQ GEMM layout); prints the key of the packed object",
                   NULL, "Give --scaled KEY [--clip KEY] (AWQ) or --rtn (baseline). w_bit other than 4 stores fake-quant fp16 weights, or with --format ct the compressed-tensors layout.", 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_ALL, &p, AWQ_PROGRAM_PACK, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    if (!!rtn == !!scaled || (rtn && clip)) {
        fprintf(stderr, "%s: give --scaled KEY [--clip KEY], or --rtn\ntry '%s --help'\n", cli.prog, cli.prog);
        return 2;
    }

    awq_stage_block b;
    awq_key sk, ck;
    awq_err e = awq_stage_block_open(&b, &so, &p, awq_pack_layout(&p) == AWQ_LAYOUT_GEMM);
    if (!e && scaled) e = awq_parse_key_opt(&sk, "scaled", scaled);
    if (!e && clip) e = awq_parse_key_opt(&ck, "clip", clip);
    if (!e) e = awq_work_keys_from(&b.w, NULL, NULL, scaled ? &sk : NULL, clip ? &ck : NULL, rtn);
    if (!e && b.s) e = awq_work_pack(&b.w);
    return awq_stage_block_close(&b, e, &b.w.k.packed, cli.prog);
}
