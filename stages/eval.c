/* eval.c - awq-eval: perplexity of a model on pre-tokenized evaluation ids under the WikiText-2
 * protocol of spec §4.1. A human table goes to stderr and a JSON result to --json (or stdout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../cache/atomic.h"
#include "common/device.h"
#include "common/eval.h"
#include "common/log.h"
#include "common/opts.h"
#include "common/stage.h"
#include "common/variants.h"
#include "common/tokens.h"

static awq_err write_json(const char *path, const char *model, const char *tokens, const awq_variant *v,
                          const awq_eval_result *r, int n)
{
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "model", json_string(model));
    json_object_set_new(root, "tokens", json_string(tokens));
    json_object_set_new(root, "protocol", json_string("wikitext2 (spec 4.1): non-overlapping windows, nll = loss * seqlen"));
    json_object_set_new(root, "seqlen", json_integer(r[0].seqlen));
    json_object_set_new(root, "windows", json_integer(r[0].n_windows));
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(v[i].name));
        json_object_set_new(o, "ppl", json_real(r[i].ppl));
        json_object_set_new(o, "mean_loss", json_real(r[i].mean_loss));
        json_object_set_new(o, "kl_vs_first", json_real(r[i].kl));
        json_object_set_new(o, "top1_vs_first", json_real(r[i].top1));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "results", arr);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!text) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = AWQ_OK;
    if (!path || strcmp(path, "-") == 0) {
        printf("%s\n", text);
    } else {
        awq_atomic f;
        e = awq_atomic_open(&f, path);
        if (!e) e = awq_atomic_write(&f, text, strlen(text));
        if (!e) e = awq_atomic_write(&f, "\n", 1);
        if (!e) e = awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
        else awq_atomic_abort(&f);
    }
    free(text);
    return e;
}

int main(int argc, char **argv)
{
    const char *model_dir = NULL, *tokens = NULL, *json_path = NULL, *device = "auto", *numerics = "fp32", *quant = NULL, *works = NULL, *store_dir = NULL;
    int seqlen = 2048, max_windows = 0, rtn = 0, rtn_bits = 4, rtn_group = 128;
    const awq_opt opts[] = {
        {"model", 'm', AWQ_OPT_STRING, &model_dir, "DIR", "HF model directory", 1},
        {"tokens", 't', AWQ_OPT_STRING, &tokens, "FILE", "evaluation ids: raw little-endian int32 (whole text tokenized once)", 1},
        {"seqlen", 0, AWQ_OPT_INT, &seqlen, "N", "window length", 0},
        {"max-windows", 0, AWQ_OPT_INT, &max_windows, "N", "evaluate only the first N windows (0 = all)", 0},
        {"numerics", 0, AWQ_OPT_STRING, &numerics, "fp32|fp16", "fp32 compute, or emulate fp16 activations", 0},
        {"device", 0, AWQ_OPT_STRING, &device, "cpu|cuda|auto", "where to compute", 0},
        {"json", 'o', AWQ_OPT_STRING, &json_path, "FILE", "write the result as JSON here (default: stdout)", 0},
        {"quant", 0, AWQ_OPT_STRING, &quant, "DIR[,DIR..]", "also evaluate these AWQ GEMM checkpoints (dequantized) of the model", 0},
        {"work", 0, AWQ_OPT_STRING, &works, "DIR[,DIR..]", "also evaluate the AWQ fake-quant of these experiments (OUT.awq: any W_BIT)", 0},
        {"store", 0, AWQ_OPT_STRING, &store_dir, "DIR", "object store of --work (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {"rtn", 0, AWQ_OPT_FLAG, &rtn, NULL, "also evaluate round-to-nearest fake quantization (fp16-faithful)", 0},
        {"rtn-w-bit", 0, AWQ_OPT_INT, &rtn_bits, "B", "bits of the RTN variant", 0},
        {"rtn-group", 0, AWQ_OPT_INT, &rtn_group, "G", "group of the RTN variant (-1: per output channel)", 0},
        {0},
    };
    awq_cli cli = {"awq-eval", "perplexity of a model on evaluation ids (WikiText-2 protocol, spec §4.1)", NULL,
                   "Windows of --seqlen tokens from position 0, each scored alone; the tail is dropped. With --quant/--rtn\n"
                   "the variants are compared with the model itself: mean KL(P_model || P_variant) and top-1 agreement.", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    if (strcmp(numerics, "fp32") && strcmp(numerics, "fp16")) {
        fprintf(stderr, "%s: --numerics must be fp32 or fp16\n", cli.prog);
        return 2;
    }
    awq_model *m = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    const awq_backend *be = NULL;
    enum { MAX_VARIANTS = 10 };
    awq_variant var[MAX_VARIANTS] = {{"model", NULL, NULL}};
    awq_variant_ctx vctx[MAX_VARIANTS];
    char names[MAX_VARIANTS][64];
    int nv = 1, nctx = 0;
    awq_eval_result res[MAX_VARIANTS];
    double t0 = awq_now();
    awq_err e = awq_model_open(&m, model_dir);
    if (!e) e = awq_ids_load(tokens, &ids, &n);
    if (!e) e = awq_backend_open(device, &be);
    if (!e && rtn) {
        awq_params p;
        awq_params_default(&p);
        p.w_bit = rtn_bits;
        p.group = rtn_group <= 0 ? -1 : rtn_group;
        e = awq_params_check(&p, &m->cfg, 0);
        if (!e) {
            awq_variant_rtn_init(&vctx[nctx], m, be, &p);
            snprintf(names[nv], sizeof names[nv], "rtn-w%d-g%d", rtn_bits, rtn_group <= 0 ? -1 : rtn_group);
            var[nv++] = (awq_variant){names[nv - 1], awq_variant_rtn_weights, &vctx[nctx++]};
        }
    }
    for (const char *q = quant; !e && q && *q;) {
        size_t len = strcspn(q, ",");
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)len, q);
        q += len + (q[len] == ',');
        if (nv == MAX_VARIANTS) { e = awq_fail(AWQ_ERR_ARG, "at most %d variants", MAX_VARIANTS - 1); break; }
        e = awq_variant_packed_open(&vctx[nctx], m, be, dir);
        if (e) { awq_variant_free(&vctx[nctx]); break; }
        const char *base = strrchr(dir, '/') && strrchr(dir, '/')[1] ? strrchr(dir, '/') + 1 : dir;
        snprintf(names[nv], sizeof names[nv], "%s", base);
        var[nv++] = (awq_variant){names[nv - 1], awq_variant_packed_weights, &vctx[nctx++]};
    }
    awq_store *store = NULL;
    for (const char *q = works; !e && q && *q;) {
        size_t len = strcspn(q, ",");
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)len, q);
        q += len + (q[len] == ',');
        if (nv == MAX_VARIANTS) { e = awq_fail(AWQ_ERR_ARG, "at most %d variants", MAX_VARIANTS - 1); break; }
        if (!store && (e = awq_store_open(&store, store_dir, 0))) break;
        e = awq_variant_plan_open(&vctx[nctx], m, be, store, dir);
        if (e) { awq_variant_free(&vctx[nctx]); break; }
        const char *base = strrchr(dir, '/') && strrchr(dir, '/')[1] ? strrchr(dir, '/') + 1 : dir;
        snprintf(names[nv], sizeof names[nv], "%s (fake-quant)", base);
        var[nv++] = (awq_variant){names[nv - 1], awq_variant_plan_weights, &vctx[nctx++]};
    }
    if (!e) e = awq_eval_ppl(be, m, var, nv, ids, n, seqlen, max_windows, strcmp(numerics, "fp16") == 0, res);
    if (!e) {
        awq_info("%d windows of %d tokens in %.1f s", res[0].n_windows, res[0].seqlen, awq_now() - t0);
        awq_info("%-24s %10s %10s %12s %8s", "variant", "ppl", "mean loss", "KL vs model", "top-1");
        for (int i = 0; i < nv; i++)
            awq_info("%-24s %10.4f %10.5f %12.6f %8.4f", var[i].name, res[i].ppl, res[i].mean_loss, res[i].kl, res[i].top1);
        e = write_json(json_path, model_dir, tokens, var, res, nv);
    }
    for (int i = 0; i < nctx; i++) awq_variant_free(&vctx[i]);
    awq_store_close(store);
    if (be) be->close(be);
    free(ids);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
