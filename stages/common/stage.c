/* stage.c - shared stage plumbing: parameter options, cache check, key output. */
#include "stage.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

void awq_stage_opts_default(awq_stage_opts *o)
{
    *o = (awq_stage_opts){.device = "auto", .block = -1, .w_bit = 4, .group = 128, .n_grid = 20, .duo = 0, .clip_grid = 20, .n_sample_token = 512,
                          .max_shrink = 0.5, .numerics = "fp16", .semantics = "llm-awq"};
}

int awq_stage_param_opts(awq_opt *dst, awq_stage_opts *o, const char *names)
{
    const awq_opt all[] = {
        {"model", 'm', AWQ_OPT_STRING, &o->model, "DIR", "HF model directory", 1},
        {"block", 'b', AWQ_OPT_INT, &o->block, "I", "decoder block", 1},
        {"device", 0, AWQ_OPT_STRING, &o->device, "cpu|cuda|auto", "where to compute", 0},
        {"store", 0, AWQ_OPT_STRING, &o->store, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {"print-key", 0, AWQ_OPT_FLAG, &o->print_key, NULL, "print the output key and exit without computing", 0},
        {"w-bit", 0, AWQ_OPT_INT, &o->w_bit, "B", "weight bits (4 for the GEMM format; 2..8 fake-quant)", 0},
        {"group", 'g', AWQ_OPT_INT, &o->group, "G", "group size along in_features; -1 = one group per output channel", 0},
        {"n-grid", 0, AWQ_OPT_INT, &o->n_grid, "N", "scale search grid: ratios k/N, k < N", 0},
        {"duo-scaling", 0, AWQ_OPT_FLAG, &o->duo, NULL, "AutoAWQ duo scaling (x^r / w^(1-r), spec §2.12)", 0},
        {"semantics", 0, AWQ_OPT_STRING, &o->semantics, "llm-awq|autoawq", "reference semantics (spec §2.12)", 0},
        {"numerics", 0, AWQ_OPT_STRING, &o->numerics, "fp16|fp32", "fp16-faithful quantizer and activations, or fp32 reference", 0},
        {"clip-grid", 0, AWQ_OPT_INT, &o->clip_grid, "N", "clip search grid", 0},
        {"max-shrink", 0, AWQ_OPT_DOUBLE, &o->max_shrink, "X", "largest clip shrink (candidates int(X*N))", 0},
        {"n-sample-token", 0, AWQ_OPT_INT, &o->n_sample_token, "N", "tokens sampled for the clip search", 0},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *p = strstr(names, all[i].name);
        size_t l = strlen(all[i].name);
        if (p && (p == names || p[-1] == ' ') && (p[l] == 0 || p[l] == ' ')) dst[n++] = all[i];
    }
    return n;
}

int awq_stage_params(const char *prog, const awq_stage_opts *o, awq_params *p)
{
    awq_params_default(p);
    if (strcmp(o->numerics, "fp16") && strcmp(o->numerics, "fp32")) {
        fprintf(stderr, "%s: --numerics must be fp16 or fp32 (got '%s')\n", prog, o->numerics);
        return 2;
    }
    if (strcmp(o->semantics, "llm-awq") && strcmp(o->semantics, "autoawq")) {
        fprintf(stderr, "%s: --semantics must be llm-awq or autoawq (got '%s')\n", prog, o->semantics);
        return 2;
    }
    p->w_bit = o->w_bit;
    p->group = o->group <= 0 ? -1 : o->group;
    p->n_grid = o->n_grid;
    p->duo = o->duo;
    p->autoawq = strcmp(o->semantics, "autoawq") == 0;
    p->round_f16 = strcmp(o->numerics, "fp16") == 0;
    p->clip_grid = o->clip_grid;
    p->max_shrink = o->max_shrink;
    p->n_sample_token = o->n_sample_token;
    return 0;
}

int awq_stage_cached(awq_store *s, const awq_key *key)
{
    if (!awq_store_has(s, key)) return 0;
    if (awq_store_verify(s, key) == AWQ_OK) {
        char hex[AWQ_KEY_HEX + 1];
        awq_key_hex(key, hex);
        awq_verbose("cache hit %s", hex);
        return 1;
    }
    awq_warn("%s; rebuilding it", awq_errmsg());
    awq_clear_error();
    return 0;
}

void awq_print_key(const awq_key *key)
{
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(key, hex);
    printf("%s\n", hex);
}

awq_err awq_parse_key_opt(awq_key *k, const char *opt, const char *value)
{
    awq_err e = awq_key_parse(k, value);
    return e ? awq_context(e, "--%s", opt) : AWQ_OK;
}
