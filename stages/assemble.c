/* assemble.c - awq-assemble: write the quantized model directory (AutoAWQ GEMM, or with --format ct
 * compressed-tensors pack-quantized) from every block's packed object, or (--shards-dir) by linking the
 * shard files awq-shard wrote while the pipeline ran; see stages/common/assemble.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/prof.h"
#include "common/assemble.h"
#include "common/log.h"
#include "common/stage.h"

/* "k0,k1,..." -> keys[L] */
static awq_err parse_keys(const char *opt, const char *list, int L, awq_key **out)
{
    *out = calloc((size_t)L, sizeof **out);
    if (!*out) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    const char *p = list;
    for (int i = 0; i < L; i++) {
        char hex[AWQ_KEY_HEX + 2] = {0};
        size_t len = strcspn(p, ",");
        if (len != AWQ_KEY_HEX) {
            awq_fail(AWQ_ERR_ARG, "--%s: entry %d is not a 32-digit key", opt, i);
            awq_hint("give one key per decoder block (%d), separated by commas", L);
            return AWQ_ERR_ARG;
        }
        memcpy(hex, p, len);
        awq_err e = awq_parse_key_opt(&(*out)[i], opt, hex);
        if (e) return e;
        p += len;
        if (*p == ',') p++;
    }
    if (*p) return awq_fail(AWQ_ERR_ARG, "--%s: more keys than the model's %d blocks", opt, L);
    return AWQ_OK;
}

int main(int argc, char **argv)
{
    const char *packed = NULL, *scales = NULL, *clips = NULL, *out = NULL, *shards_dir = NULL, *manifest = NULL,
               *results = NULL;
    double shard_gb = 5;
    const awq_opt own[] = {
        {"packed", 0, AWQ_OPT_STRING, &packed, "K0,K1,...", "packed object of every block, in order", 1},
        {"scales", 0, AWQ_OPT_STRING, &scales, "K0,K1,...", "scales objects (for the search results file)", 0},
        {"clips", 0, AWQ_OPT_STRING, &clips, "K0,K1,...", "clip objects (for awq_search_results.safetensors)", 0},
        {"out", 'o', AWQ_OPT_STRING, &out, "DIR", "output model directory (replaced atomically)", 1},
        {"shard-gb", 0, AWQ_OPT_DOUBLE, &shard_gb, "GB", "largest shard (0 = one file)", 0},
        {"shards-dir", 0, AWQ_OPT_STRING, &shards_dir, "DIR", "link the shard files awq-shard wrote in DIR instead of writing the tensors", 0},
        {"search-results", 0, AWQ_OPT_STRING, &results, "FILE", "where awq_search_results.safetensors goes (default OUT.awq/)", 0},
        {"manifest", 0, AWQ_OPT_STRING, &manifest, "FILE", "copy FILE into the output as .awqmake-manifest.tsv (the plan's manifest)", 0},
        {0},
    };
    awq_cli cli = {"awq-assemble", "write the quantized model directory (AutoAWQ GEMM or --format ct) from packed blocks; prints it", NULL,
                   "With --export the packed objects are awq-pack --export blocks: a plain fp16 checkpoint is written.", 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_MODEL | AWQ_SO_STORE, &p, AWQ_PROGRAM_ASSEMBLE, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_prof_mark("stage: start");

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key *pk = NULL, *sk = NULL, *ck = NULL;
    awq_err e = awq_model_open(&m, so.model);
    if (!e) e = awq_params_check(&p, &m->cfg, !p.export_fp16 && p.format == AWQ_FORMAT_AUTOAWQ);
    if (!e) e = parse_keys("packed", packed, m->cfg.num_hidden_layers, &pk);
    if (!e && scales) e = parse_keys("scales", scales, m->cfg.num_hidden_layers, &sk);
    if (!e && clips) e = parse_keys("clips", clips, m->cfg.num_hidden_layers, &ck);
    if (!e) e = awq_store_open(&s, so.store, 0);
    if (!e) {
        awq_assemble_in in = {m, &p, pk, sk, ck, (uint64_t)(shard_gb * 1e9), shards_dir, manifest, results};
        awq_prof_mark("assemble: inputs opened");
        double t0 = awq_now();
        e = awq_assemble(s, &in, out);
        if (!e) { awq_verbose("wrote '%s' in %.2f s", out, awq_now() - t0); printf("%s\n", out); }
    }
    free(pk); free(sk); free(ck);
    const int status = awq_stage_status(s, e); /* an input gone: AWQ_EXIT_REBUILD, awq-step remakes it */
    awq_store_close(s);
    awq_model_close(m);
    if (e) awq_report(cli.prog);
    return status;
}
