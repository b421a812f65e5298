/* eval.c - awq-eval: perplexity of a model on pre-tokenized evaluation ids under the WikiText-2
 * protocol of spec §4.1, optionally next to quantized variants of it (AutoAWQ GEMM checkpoints,
 * the AWQ fake-quant of an experiment, RTN), each compared with the model by mean KL and top-1
 * agreement. A human table goes to stderr, the JSON result to --json (default stdout). The result
 * is an object in the store too, keyed by what it depends on, so asking again costs nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../cache/atomic.h"
#include "common/device.h"
#include "common/eval.h"
#include "common/log.h"
#include "common/opts.h"
#include "common/stage.h"
#include "common/tokens.h"
#include "common/variants.h"

#define EVAL_VERSION 1
enum { MAX_VARIANTS = 10 };

/* Identity of a directory's model files (config.json bytes, every *.safetensors and manifest's
 * path, size and mtime): cheap, and it changes whenever the files do. */
static awq_err dir_identity(awq_recipe *r, const char *param, const char *dir)
{
    static const char *const files[] = {"config.json", "model.safetensors", "model.safetensors.index.json", "manifest.tsv"};
    awq_hasher *h = awq_hasher_new();
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096], id[4300];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        int n = snprintf(id, sizeof id, "%s %lld %lld.%09ld", files[i], (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        awq_hasher_update(h, id, (size_t)n + 1);
    }
    /* shards of an index */
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    json_t *idx = json_load_file(path, 0, NULL);
    const char *k;
    json_t *v;
    if (idx) json_object_foreach(json_object_get(idx, "weight_map"), k, v) {
        struct stat st;
        char sp[4096], id[4300];
        snprintf(sp, sizeof sp, "%s/%s", dir, json_string_value(v) ? json_string_value(v) : "");
        if (stat(sp, &st) != 0) continue;
        int n = snprintf(id, sizeof id, "%s %lld %lld.%09ld", sp, (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        awq_hasher_update(h, id, (size_t)n + 1);
    }
    json_decref(idx);
    awq_key key = awq_hasher_final(h);
    awq_hasher_free(h);
    return awq_recipe_add_key(r, param, &key);
}

static char *result_json(const char *model, const char *tokens, const awq_variant *v, const awq_eval_result *r, int n)
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
    return text;
}

static void print_table(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!j) return;
    awq_info("%lld windows of %lld tokens", (long long)json_integer_value(json_object_get(j, "windows")),
             (long long)json_integer_value(json_object_get(j, "seqlen")));
    awq_info("%-24s %10s %10s %12s %8s", "variant", "ppl", "mean loss", "KL vs model", "top-1");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "results"), i, v)
        awq_info("%-24s %10.4f %10.5f %12.6f %8.4f", json_string_value(json_object_get(v, "name")),
                 json_real_value(json_object_get(v, "ppl")), json_real_value(json_object_get(v, "mean_loss")),
                 json_real_value(json_object_get(v, "kl_vs_first")), json_real_value(json_object_get(v, "top1_vs_first")));
    json_decref(j);
}

static awq_err write_text(const char *path, const char *text)
{
    if (!path || strcmp(path, "-") == 0) { printf("%s\n", text); return AWQ_OK; }
    size_t len = strlen(text);
    char *line = malloc(len + 2);
    if (!line) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    memcpy(line, text, len);
    line[len] = '\n';
    awq_err e = awq_write_file_atomic(path, line, len + 1);
    free(line);
    return e;
}

typedef struct eval_args {
    const char *model, *tokens, *json, *device, *numerics, *quant, *works, *store;
    int seqlen, max_windows, rtn, rtn_bits, rtn_group, no_cache;
} eval_args;

/* The key of this evaluation: everything its result depends on. */
static awq_err eval_key(const eval_args *a, awq_key *key)
{
    awq_recipe *r = awq_recipe_new("eval", EVAL_VERSION);
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_key tk;
    awq_err e = awq_key_of_file(&tk, a->tokens);
    if (!e) e = awq_recipe_add_key(r, "tokens", &tk);
    if (!e) e = dir_identity(r, "model", a->model);
    if (!e) e = awq_recipe_addf(r, "seqlen", "%d", a->seqlen);
    if (!e) e = awq_recipe_addf(r, "max_windows", "%d", a->max_windows);
    if (!e) e = awq_recipe_add(r, "numerics", a->numerics);
    if (!e && a->rtn) e = awq_recipe_addf(r, "rtn", "w%d g%d", a->rtn_bits, a->rtn_group);
    if (!e && a->quant) e = awq_recipe_add(r, "quant_list", a->quant);
    if (!e && a->works) e = awq_recipe_add(r, "work_list", a->works);
    for (int w = 0; w < 2 && !e; w++) { /* the content of every variant directory */
        const char *list = w ? a->works : a->quant;
        int i = 0;
        for (const char *q = list; !e && q && *q; i++) {
            size_t len = strcspn(q, ",");
            char dir[4096], name[32];
            snprintf(dir, sizeof dir, "%.*s", (int)len, q);
            q += len + (q[len] == ',');
            snprintf(name, sizeof name, "%s%d", w ? "work" : "quant", i);
            e = dir_identity(r, name, dir);
        }
    }
    if (!e) *key = awq_recipe_key(r);
    awq_recipe_free(r);
    return e;
}

static awq_err run(const eval_args *a, awq_store *store, char **text)
{
    awq_model *m = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    const awq_backend *be = NULL;
    awq_variant var[MAX_VARIANTS] = {{"model", NULL, NULL}};
    awq_variant_ctx vctx[MAX_VARIANTS];
    char names[MAX_VARIANTS][64];
    int nv = 1, nctx = 0;
    awq_eval_result res[MAX_VARIANTS];
    awq_err e = awq_model_open(&m, a->model);
    if (!e) awq_model_load_key_memo(m, a->store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_ids_load(a->tokens, &ids, &n);
    if (!e) e = awq_backend_open(a->device, &be);
    if (!e && a->rtn) {
        awq_params p;
        awq_params_default(&p);
        p.w_bit = a->rtn_bits;
        p.group = a->rtn_group;
        e = awq_params_check(&p, &m->cfg, 0);
        if (!e) {
            awq_variant_rtn_init(&vctx[nctx], m, be, &p);
            snprintf(names[nv], sizeof names[nv], "rtn-w%d-g%d", a->rtn_bits, (int)p.group);
            var[nv] = (awq_variant){names[nv], awq_variant_rtn_weights, &vctx[nctx++]};
            nv++;
        }
    }
    for (int w = 0; w < 2 && !e; w++) {
        const char *list = w ? a->works : a->quant;
        for (const char *q = list; !e && q && *q;) {
            size_t len = strcspn(q, ",");
            char dir[4096];
            snprintf(dir, sizeof dir, "%.*s", (int)len, q);
            q += len + (q[len] == ',');
            if (nv == MAX_VARIANTS) { e = awq_fail(AWQ_ERR_ARG, "at most %d variants", MAX_VARIANTS - 1); break; }
            e = w ? awq_variant_plan_open(&vctx[nctx], m, be, store, dir) : awq_variant_packed_open(&vctx[nctx], m, be, dir);
            if (e) { awq_variant_free(&vctx[nctx]); break; }
            const char *base = strrchr(dir, '/') && strrchr(dir, '/')[1] ? strrchr(dir, '/') + 1 : dir;
            snprintf(names[nv], sizeof names[nv], "%s%s", base, w ? " (fake-quant)" : "");
            var[nv] = (awq_variant){names[nv], w ? awq_variant_plan_weights : awq_variant_packed_weights, &vctx[nctx++]};
            nv++;
        }
    }
    double t0 = awq_now();
    if (!e) e = awq_eval_ppl(be, m, var, nv, ids, n, a->seqlen, a->max_windows, strcmp(a->numerics, "fp16") == 0, res);
    if (!e) {
        awq_verbose("evaluated %d variants in %.1f s", nv, awq_now() - t0);
        if (!(*text = result_json(a->model, a->tokens, var, res, nv))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < nctx; i++) awq_variant_free(&vctx[i]);
    if (be) be->close(be);
    free(ids);
    awq_model_close(m);
    return e;
}

int main(int argc, char **argv)
{
    awq_params dflt; /* the RTN variant's defaults are the quantizer's (params.def) */
    awq_params_default(&dflt);
    eval_args a = {.device = dflt.device, .numerics = "fp32", .seqlen = 2048, .rtn_bits = dflt.w_bit, .rtn_group = dflt.group};
    const awq_opt opts[] = {
        {"model", 'm', AWQ_OPT_STRING, &a.model, "DIR", "HF model directory", 1},
        {"tokens", 't', AWQ_OPT_STRING, &a.tokens, "FILE", "evaluation ids: raw little-endian int32 (whole text tokenized once)", 1},
        {"seqlen", 0, AWQ_OPT_INT, &a.seqlen, "N", "window length", 0},
        {"max-windows", 0, AWQ_OPT_INT, &a.max_windows, "N", "evaluate only the first N windows (0 = all)", 0},
        {"numerics", 0, AWQ_OPT_STRING, &a.numerics, "fp32|fp16", "fp32 compute, or emulate fp16 activations", 0},
        {"device", 0, AWQ_OPT_STRING, &a.device, "cpu|cuda|auto", "where to compute", 0},
        {"json", 'o', AWQ_OPT_STRING, &a.json, "FILE", "write the result as JSON here (default: stdout)", 0},
        {"quant", 0, AWQ_OPT_STRING, &a.quant, "DIR[,DIR..]", "also evaluate these AWQ GEMM checkpoints of the model (dequantized)", 0},
        {"work", 0, AWQ_OPT_STRING, &a.works, "DIR[,DIR..]", "also evaluate the AWQ fake-quant of these experiments (OUT.awq: any W_BIT)", 0},
        {"rtn", 0, AWQ_OPT_FLAG, &a.rtn, NULL, "also evaluate round-to-nearest fake quantization (fp16-faithful)", 0},
        {"rtn-w-bit", 0, AWQ_OPT_INT, &a.rtn_bits, "B", "bits of the RTN variant", 0},
        {"rtn-group", 0, AWQ_OPT_INT, &a.rtn_group, "G", "group of the RTN variant (-1: per output channel)", 0},
        {"store", 0, AWQ_OPT_STRING, &a.store, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {"no-cache", 0, AWQ_OPT_FLAG, &a.no_cache, NULL, "compute even when the result is in the store", 0},
        {0},
    };
    awq_cli cli = {"awq-eval", "perplexity of a model and its quantized variants (WikiText-2 protocol, spec §4.1)", NULL,
                   "Windows of --seqlen tokens from position 0, each scored alone; the tail is dropped. Variants are\n"
                   "compared with the model itself: mean KL(P_model || P_variant) per token and top-1 agreement.", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    if (strcmp(a.numerics, "fp32") && strcmp(a.numerics, "fp16")) {
        fprintf(stderr, "%s: --numerics must be fp32 or fp16\n", cli.prog);
        return 2;
    }
    awq_params rtn = dflt; /* the RTN variant's bits and group: checked and normalised by the record */
    rtn.w_bit = a.rtn_bits, rtn.group = a.rtn_group;
    if (awq_params_finish(&rtn, AWQ_PROGRAM_PACK) != AWQ_OK) {
        awq_report(cli.prog);
        return 2;
    }
    a.rtn_group = rtn.group;
    awq_store *store = NULL;
    awq_key key;
    char *text = NULL;
    awq_err e = awq_store_open(&store, a.store, 0);
    if (!e) e = eval_key(&a, &key);
    if (!e && !a.no_cache && awq_stage_cached(store, &key)) {
        awq_object *o = NULL;
        e = awq_store_get(store, &key, &o);
        const awq_tensor *t = e ? NULL : awq_object_tensor(o, "json");
        if (!e && (!t || !(text = strndup(t->data, t->nbytes)))) e = awq_fail(AWQ_ERR_FORMAT, "eval object without its result");
        awq_object_free(o);
        if (!e) awq_info("result from the store (same model, variants and tokens)");
    } else if (!e) {
        e = run(&a, store, &text);
        if (!e) {
            awq_tensor t = {"json", AWQ_DT_U8, 1, {(int64_t)strlen(text)}, text, strlen(text), 0};
            e = awq_store_put(store, &key, "eval", NULL, &t, 1);
        }
    }
    if (!e) {
        print_table(text);
        e = write_text(a.json, text);
    }
    free(text);
    awq_store_close(store);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
