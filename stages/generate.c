/* generate.c - awq-generate: greedy decoding from a model, or from an awqmake AWQ checkpoint of
 * it (--quant), on the CPU or CUDA, with the model's own tokenizer.json: what a user runs to see
 * that the quantized model still talks. The text (prompt and continuation) goes to stdout; the
 * ids to --json. The weights are those awq-eval scores (eval.h), so what it prints is what the
 * perplexity measured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../cache/atomic.h"
#include "common/device.h"
#include "common/generate.h"
#include "common/log.h"
#include "common/opts.h"
#include "common/stage.h"
#include "common/tokenizer.h"
#include "common/variants.h"

enum { MAX_EOS = 8 };

/* The ids transformers' generate stops at: generation_config.json's eos_token_id, else
 * config.json's (an integer or a list). */
static int read_eos(const char *dir, int32_t *eos)
{
    static const char *const files[] = {"generation_config.json", "config.json"};
    for (int f = 0; f < 2; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        json_t *root = json_load_file(path, 0, NULL), *v = root ? json_object_get(root, "eos_token_id") : NULL;
        int n = 0;
        if (json_is_integer(v)) eos[n++] = (int32_t)json_integer_value(v);
        size_t i;
        json_t *x;
        if (json_is_array(v)) json_array_foreach(v, i, x) if (json_is_integer(x) && n < MAX_EOS) eos[n++] = (int32_t)json_integer_value(x);
        json_decref(root);
        if (n || v) return n;
    }
    return 0;
}

static awq_err parse_ids(const char *s, awq_idvec *v)
{
    for (const char *p = s; *p;) {
        char *end;
        long id = strtol(p, &end, 10);
        if (end == p || id < 0 || id > INT32_MAX) return awq_fail(AWQ_ERR_ARG, "--prompt-ids '%s': not a comma-separated list of ids", s);
        awq_err e = awq_idvec_push(v, (int32_t)id);
        if (e) return e;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return awq_fail(AWQ_ERR_ARG, "--prompt-ids '%s': not a comma-separated list of ids", s);
    }
    return AWQ_OK;
}

static int show_progress(void *ctx, int32_t id)
{
    (void)id;
    int *k = ctx;
    awq_progress("tokens", ++k[0], k[1]);
    return 0;
}

typedef struct gen_args {
    const char *model, *quant, *prompt, *prompt_ids, *device, *numerics, *json;
    int n_new, ignore_eos;
} gen_args;

static awq_err write_json(const char *path, const awq_idvec *prompt, const int32_t *out, int n, const char *text)
{
    json_t *root = json_object(), *p = json_array(), *t = json_array();
    for (size_t i = 0; i < prompt->n; i++) json_array_append_new(p, json_integer(prompt->ids[i]));
    for (int i = 0; i < n; i++) json_array_append_new(t, json_integer(out[i]));
    json_object_set_new(root, "prompt_ids", p);
    json_object_set_new(root, "tokens", t);
    json_object_set_new(root, "text", json_string(text));
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    size_t len = strlen(s);
    s = realloc(s, len + 2);
    s[len] = '\n';
    awq_err e = awq_write_file_atomic(path, s, len + 1);
    free(s);
    return e;
}

static awq_err run(const gen_args *a)
{
    awq_model *m = NULL;
    awq_tokenizer *tok = NULL;
    const awq_backend *be = NULL;
    awq_variant_ctx vctx;
    int have_v = 0;
    awq_variant var = {"model", NULL, NULL};
    awq_idvec prompt = {0};
    int32_t *out = calloc((size_t)a->n_new + 1, sizeof *out), eos[MAX_EOS];
    int n_out = 0, n_eos = 0;
    char path[4096], *text = NULL;
    snprintf(path, sizeof path, "%s/config.json", a->model);
    json_t *cfg = json_load_file(path, 0, NULL);
    awq_err e = out ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e && json_object_get(cfg, "quantization_config")) {
        e = awq_fail(AWQ_ERR_ARG, "'%s' is a quantized checkpoint; the model to read is the original it was made from", a->model);
        awq_hint("give the original model as %s and the AWQ output as %s", awq_via_make() ? "MODEL=" : "--model",
                 awq_via_make() ? "QUANT=" : "--quant");
    }
    json_decref(cfg);
    if (!e) e = awq_model_open(&m, a->model);
    snprintf(path, sizeof path, "%s/tokenizer.json", a->model);
    if (!e) e = awq_tokenizer_load(path, &tok);
    if (!e && a->prompt_ids) e = parse_ids(a->prompt_ids, &prompt);
    else if (!e) e = awq_tokenizer_encode(tok, a->prompt, strlen(a->prompt), 1, &prompt);
    if (!e) e = awq_backend_open(a->device, &be);
    if (!e && a->quant) {
        e = awq_variant_packed_open(&vctx, m, be, a->quant);
        have_v = 1;
        var = (awq_variant){"awq", awq_variant_packed_weights, &vctx};
    }
    if (!e && !a->ignore_eos) n_eos = read_eos(a->model, eos);
    int prog[2] = {0, a->n_new};
    double t0 = awq_now();
    if (!e) e = awq_generate_greedy(be, m, &var, strcmp(a->numerics, "fp16") == 0, prompt.ids, prompt.n, a->n_new, eos, n_eos,
                                    out, &n_out, show_progress, prog);
    if (!e) {
        awq_verbose("%d tokens in %.1f s", n_out, awq_now() - t0);
        awq_idvec all = {0};
        e = awq_idvec_reserve(&all, prompt.n + (size_t)n_out);
        for (size_t i = 0; !e && i < prompt.n; i++) e = awq_idvec_push(&all, prompt.ids[i]);
        for (int i = 0; !e && i < n_out; i++) e = awq_idvec_push(&all, out[i]);
        if (!e) e = awq_tokenizer_decode(tok, all.ids, all.n, 1, &text, NULL);
        awq_idvec_free(&all);
    }
    char *cont = NULL;
    if (!e && a->json) e = awq_tokenizer_decode(tok, out, (size_t)n_out, 1, &cont, NULL);
    if (!e && a->json) e = write_json(a->json, &prompt, out, n_out, cont);
    if (!e) printf("%s\n", text);
    free(cont);
    free(text);
    if (have_v) awq_variant_free(&vctx);
    if (be) be->close(be);
    awq_idvec_free(&prompt);
    awq_tokenizer_free(tok);
    awq_model_close(m);
    free(out);
    return e;
}

int main(int argc, char **argv)
{
    gen_args a = {.device = "auto", .numerics = "fp32", .n_new = 32};
    const awq_opt opts[] = {
        {"model", 'm', AWQ_OPT_STRING, &a.model, "DIR", "HF model directory (config.json, *.safetensors, tokenizer.json)", 1},
        {"quant", 0, AWQ_OPT_STRING, &a.quant, "DIR", "an awqmake AWQ GEMM checkpoint of that model: generate with it", 0},
        {"prompt", 'p', AWQ_OPT_STRING, &a.prompt, "TEXT", "the text to continue (encoded with the special tokens, as tokenizer(TEXT))", 0},
        {"prompt-ids", 0, AWQ_OPT_STRING, &a.prompt_ids, "I,J,..", "the prompt as token ids instead", 0},
        {"max-new-tokens", 'n', AWQ_OPT_INT, &a.n_new, "N", "tokens to generate at most", 0},
        {"ignore-eos", 0, AWQ_OPT_FLAG, &a.ignore_eos, NULL, "do not stop at the model's eos_token_id", 0},
        {"numerics", 0, AWQ_OPT_STRING, &a.numerics, "fp32|fp16", "fp32 compute, or emulate fp16 activations", 0},
        {"device", 0, AWQ_OPT_STRING, &a.device, "cpu|cuda|auto", "where to compute", 0},
        {"json", 'o', AWQ_OPT_STRING, &a.json, "FILE", "also write {prompt_ids, tokens, text} (the continuation) here", 0},
        {0},
    };
    awq_cli cli = {"awq-generate", "greedy text generation from a model or its AWQ checkpoint", NULL,
                   "Greedy: each new token is the argmax of the next-token logits (no sampling), the whole\n"
                   "sequence re-run per token. Stops after --max-new-tokens or the model's eos token (kept).\n"
                   "stdout: the prompt and its continuation, decoded without special tokens.", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    const char *bad = NULL;
    if (!a.prompt == !a.prompt_ids) bad = "give exactly one of --prompt and --prompt-ids";
    else if (strcmp(a.numerics, "fp32") && strcmp(a.numerics, "fp16")) bad = "--numerics must be fp32 or fp16";
    else if (a.n_new < 1 || a.n_new > 1 << 20) bad = "--max-new-tokens must be between 1 and 1048576";
    if (bad) {
        fprintf(stderr, "%s: %s\n", cli.prog, bad);
        if (awq_via_make()) fprintf(stderr, "hint: make generate MODEL=<hf dir> PROMPT='text' [QUANT=<awq out>] [GEN_TOKENS=32]\n");
        else fprintf(stderr, "try '%s --help'\n", cli.prog);
        return 2;
    }
    if (run(&a)) { awq_report(cli.prog); return 1; }
    return 0;
}
