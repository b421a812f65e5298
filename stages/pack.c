/* pack.c - awq-pack: clip, quantize and pack one block into the AutoAWQ GEMM layout (spec
 * §2.9-§2.11, §3.1): a scaled block with its clips (AWQ), or with --rtn the original block
 * (round-to-nearest baseline, no search). Prints the key of the packed object. */
#include <stdio.h>
#include <stdlib.h>

#include "../cache/prof.h"
#include "common/awqobj.h"
#include "common/device.h"
#include "common/log.h"
#include "common/stage.h"

int main(int argc, char **argv)
{
    const char *scaled = NULL, *clip = NULL;
    int rtn = 0, fake = 0, export_fp16 = 0;
    awq_stage_opts so;
    awq_stage_opts_default(&so);
    awq_opt opts[22] = {
        {"scaled", 0, AWQ_OPT_STRING, &scaled, "KEY", "scaled block (from awq-apply-scale)", 0},
        {"clip", 0, AWQ_OPT_STRING, &clip, "KEY", "clip object (from awq-clip-search); none: no clipping", 0},
        {"rtn", 0, AWQ_OPT_FLAG, &rtn, NULL, "round-to-nearest baseline: quantize the original block", 0},
        {"fake-quant", 0, AWQ_OPT_FLAG, &fake, NULL, "store the fake-quantized fp16 weights, not the GEMM layout", 0},
        {"export", 0, AWQ_OPT_FLAG, &export_fp16, NULL, "store the scaled + clipped fp16 weights unquantized (export_compatible)", 0},
    };
    awq_stage_param_opts(opts + 5, &so, "model block device store print-key w-bit group numerics");
    awq_cli cli = {"awq-pack", "quantize and pack one block (AutoAWQ GEMM layout); prints the key of the packed object",
                   NULL, "Give --scaled KEY [--clip KEY] (AWQ) or --rtn (baseline). w_bit other than 4 stores fake-quant fp16 weights.", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    if (!!rtn == !!scaled || (rtn && clip)) {
        fprintf(stderr, "%s: give --scaled KEY [--clip KEY], or --rtn\ntry '%s --help'\n", cli.prog, cli.prog);
        return 2;
    }
    awq_params p;
    if (awq_stage_params(cli.prog, &so, &p)) return 2;
    p.fake_quant = fake;
    p.export_fp16 = export_fp16;

    awq_model *m = NULL;
    awq_store *s = NULL;
    const awq_backend *be = NULL;
    awq_key sk, ck, key;
    char *recipe = NULL;
    awq_block_f32 b = {0};
    float *max_val[AWQ_SLOT__COUNT] = {0};
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_params_check(&p, &m->cfg, p.w_bit == 4 && !fake && !export_fp16);
    if (!e && scaled) e = awq_parse_key_opt(&sk, "scaled", scaled);
    if (!e && clip) e = awq_parse_key_opt(&ck, "clip", clip);
    if (!e) e = awq_packed_key(m, so.block, scaled ? &sk : NULL, clip ? &ck : NULL, &p, &key, &recipe);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    if (!e && !so.print_key && !awq_stage_cached(s, &key)) {
        e = awq_backend_open(so.device, &be);
        if (!e) e = rtn ? awq_block_f32_from_model(m, so.block, p.round_f16, &b) : awq_block_get(s, &sk, "scaled", &b);
        if (!e && clip) e = awq_clips_get(s, &ck, max_val);
        awq_prof_dev(be, "stage: inputs");
        if (!e) e = awq_pack_block(s, &key, recipe, be, &p, &b, max_val, NULL);
        if (e) e = awq_context(e, "block %d", so.block);
    }
    if (!e) awq_print_key(&key);
    for (int i = 0; i < AWQ_SLOT__COUNT; i++) free(max_val[i]);
    awq_block_f32_free(&b);
    free(recipe);
    if (be) be->close(be);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
