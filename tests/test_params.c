/* test_params.c - the parameter record (stages/common/params.def) and what is generated from it:
 * defaults, the names users type (make variables and flags, each unique), messages that name both,
 * the recipe entries of each key (the exact text the pre-record code wrote, so that every key
 * stays the same: tests/t_keys.sh checks the keys themselves), and the plan.mk command line of a
 * program parsed back by that program's options into the same values. */
#include "test.h"
#include "../stages/common/awq.h"
#include "../stages/common/params.h"

#include <stdlib.h>
#include <string.h>

static void t_defaults(void)
{
    awq_params p;
    awq_params_default(&p);
    CHECK(p.w_bit == 4 && p.group == 128 && p.n_grid == 20 && p.duo == 0 && p.autoawq == 0, "scale defaults");
    CHECK(p.round_f16 == 1 && p.clip_grid == 20 && p.max_shrink == 0.5 && p.n_sample_token == 512, "clip defaults");
    CHECK(p.export_fp16 == 0 && p.fake_quant == 0 && strcmp(p.device, "auto") == 0, "device %s", p.device);
    CHECK(p.seqlen == 512 && p.n_samples == 0, "calibration defaults");
    /* and every default is inside its own range */
    CHECK(awq_params_finish(&p, AWQ_PROGRAM_PLAN) == AWQ_OK, "%s", awq_errmsg());
}

static void t_names_are_unique(void)
{
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *a = &awq_param_record[i];
        CHECK(a->flag && a->help && *a->help, "entry %d has no flag or help", i);
        CHECK(a->keys || a->also, "--%s is taken by no program", a->flag);
        CHECK(!a->keys || a->recipe, "--%s changes keys but has no recipe entry", a->flag);
        CHECK(awq_param_of(a->offset) == a, "--%s: two entries for one field", a->flag);
        for (int j = 0; j < i; j++) {
            const awq_param_desc *b = &awq_param_record[j];
            CHECK(strcmp(a->flag, b->flag) != 0, "--%s twice", a->flag);
            CHECK(!a->make || !b->make || strcmp(a->make, b->make) != 0, "%s twice", a->make);
            CHECK(!a->short_name || a->short_name != b->short_name, "-%c twice", a->short_name);
        }
    }
    const awq_param_desc *g = AWQ_PARAM_OF(group);
    CHECK(g && strcmp(g->make, "GROUP") == 0 && strcmp(g->flag, "group") == 0, "group's entry");
}

/* awq_param_set(name, value) fails with a message holding every piece in `want` (NULL-ended). */
static void set_fails(const char *name, const char *value, const char *const *want)
{
    awq_params p;
    awq_params_default(&p);
    awq_err e = awq_param_set(&p, name, value);
    CHECK(e == AWQ_ERR_ARG, "%s=%s accepted", name, value);
    for (; *want; want++) CHECK(strstr(awq_errmsg(), *want), "%s=%s: '%s' not in: %s", name, value, *want, awq_errmsg());
    awq_clear_error();
}

static void t_set_and_errors(void)
{
    awq_params p;
    awq_params_default(&p);
    CHECK(awq_param_set(&p, "GROUP", "64") == AWQ_OK && p.group == 64, "GROUP=64");
    CHECK(awq_param_set(&p, "group", "0") == AWQ_OK && p.group == -1, "--group 0 is per channel: %d", p.group);
    CHECK(awq_param_set(&p, "NUMERICS", "fp32") == AWQ_OK && p.round_f16 == 0, "NUMERICS=fp32");
    CHECK(awq_param_set(&p, "SEMANTICS", "autoawq") == AWQ_OK && p.autoawq == 1, "SEMANTICS=autoawq");
    CHECK(awq_param_set(&p, "DUO_SCALING", "1") == AWQ_OK && p.duo == 1, "DUO_SCALING=1");
    CHECK(awq_param_set(&p, "MAX_SHRINK", "0.25") == AWQ_OK && p.max_shrink == 0.25, "MAX_SHRINK");
    set_fails("GROUP", "12x", (const char *[]){"GROUP=12x (--group)", "not an integer", NULL});
    set_fails("GROUP", "-5", (const char *[]){"GROUP=-5 (--group)", "-1..", NULL});
    set_fails("W_BIT", "9", (const char *[]){"W_BIT=9 (--w-bit)", "2..8", NULL});
    set_fails("NUMERICS", "fp8", (const char *[]){"NUMERICS=fp8", "fp32|fp16", NULL});
    set_fails("MAX_SHRINK", "0", (const char *[]){"MAX_SHRINK=0", "above 0", NULL});
    set_fails("MAX_SHRINK", "nan", (const char *[]){"MAX_SHRINK=nan", "not a number", NULL});
    set_fails("DUO_SCALING", "yes", (const char *[]){"DUO_SCALING=yes", "1 (on) or 0 (off)", NULL});
    set_fails("GROPU", "64", (const char *[]){"unknown parameter 'GROPU'", NULL});
}

/* The recipe entries of one key at the defaults. */
static void recipe_is(unsigned kind, const char *stage, const char *want)
{
    awq_params p;
    awq_params_default(&p);
    awq_recipe *r = awq_recipe_new(stage, 1);
    REQUIRE(r && awq_params_recipe(r, &p, kind) == AWQ_OK, "%s", awq_errmsg());
    const char *text = awq_recipe_text(r);
    CHECK(text && strcmp(text, want) == 0, "%s recipe:\n%s\nwant:\n%s", stage, text, want);
    awq_recipe_free(r);
}

static void t_recipe_entries(void)
{
    /* what the code before the record wrote (commit 12d90c6's awqobj.c; the recipe sorts its entries) */
    recipe_is(AWQ_K_SCALES, "scales", "algo_version=1\nduo_scaling=0\ngroup=128\nn_grid=20\nnumerics=fp16\nsemantics=llm-awq\nstage=scales\nw_bit=4\n");
    recipe_is(AWQ_K_CLIP, "clip", "algo_version=1\nclip_grid=20\ngroup=128\nmax_shrink=0.5\nn_sample_token=512\nnumerics=fp16\nstage=clip\nw_bit=4\n");
    recipe_is(AWQ_K_CLIPIN, "clipin", "algo_version=1\nn_sample_token=512\nnumerics=fp16\nstage=clipin\n");
    recipe_is(AWQ_K_PACKED, "packed", "algo_version=1\ngroup=128\nnumerics=fp16\nstage=packed\nw_bit=4\n");
    recipe_is(AWQ_K_ACT, "act", "algo_version=1\nnumerics=fp16\nstage=act\n");
    /* a flag adds its entry only when set */
    awq_params p;
    awq_params_default(&p);
    p.export_fp16 = 1;
    awq_recipe *r = awq_recipe_new("packed", 1);
    REQUIRE(r && awq_params_recipe(r, &p, AWQ_K_PACKED) == AWQ_OK, "%s", awq_errmsg());
    CHECK(strstr(awq_recipe_text(r), "format=export\n"), "%s", awq_recipe_text(r));
    awq_recipe_free(r);
}

/* Split a command line of plain words and '...' words (what awq_params_argv writes). */
static int split_words(char *line, char **argv, int cap)
{
    int n = 0;
    char *out = line;
    for (char *c = line; *c;) {
        while (*c == ' ') c++;
        if (!*c || n == cap) break;
        argv[n++] = out;
        while (*c && *c != ' ') {
            if (*c == '\'') {
                for (c++; *c && *c != '\''; c++) *out++ = *c;
                if (*c) c++;
            } else *out++ = *c++;
        }
        if (*c) c++; /* past the space before the terminator may land on it */
        *out++ = 0;
    }
    return n;
}

static void random_params(awq_params *p)
{
    static const char *devices[] = {"cpu", "cuda", "auto"};
    awq_params_default(p);
    p->w_bit = 2 + (int)(t_rand() % 7);
    p->group = t_rand() % 3 == 0 ? -1 : 1 << (int)(t_rand() % 9);
    p->n_grid = 1 + (int)(t_rand() % 100);
    p->duo = (int)(t_rand() & 1);
    p->autoawq = (int)(t_rand() & 1);
    p->round_f16 = (int)(t_rand() & 1);
    p->clip_grid = 1 + (int)(t_rand() % 100);
    p->max_shrink = (double)(1 + t_rand() % 1000) / 1000.0;
    p->n_sample_token = 1 + (int)(t_rand() % 4096);
    p->export_fp16 = (int)(t_rand() & 1);
    p->fake_quant = (int)(t_rand() & 1);
    p->device = devices[t_rand() % 3];
    p->seqlen = 1 + (int)(t_rand() % 4096);
    p->n_samples = (int)(t_rand() % 1000);
}

static int same_taken(const awq_params *a, const awq_params *b, awq_program pg, char *which, size_t cap)
{
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *d = &awq_param_record[i];
        if (!awq_param_taken(d, pg)) continue;
        char x[256], y[256];
        awq_param_text(d, a, x, sizeof x);
        awq_param_text(d, b, y, sizeof y);
        if (strcmp(x, y) != 0) {
            snprintf(which, cap, "--%s: wrote %s, read %s", d->flag, x, y);
            return 0;
        }
    }
    return 1;
}

/* awq-plan writes a step's parameters (awq_params_argv) and the step's program reads them
 * (awq_param_opts): the same values, for every program and random values. */
static void t_plan_line_reads_back(void)
{
    const awq_program progs[] = {AWQ_PROGRAM_CAPTURE, AWQ_PROGRAM_QUANTIZE, AWQ_PROGRAM_SCALE_SEARCH,
                                 AWQ_PROGRAM_APPLY_SCALE, AWQ_PROGRAM_CLIP_SEARCH, AWQ_PROGRAM_PACK,
                                 AWQ_PROGRAM_ASSEMBLE, AWQ_PROGRAM_SHARD, AWQ_PROGRAM_PLAN};
    for (int round = 0; round < 200; round++) {
        awq_params want;
        random_params(&want);
        for (size_t k = 0; k < sizeof progs / sizeof progs[0]; k++) {
            char line[2048], *words[64];
            REQUIRE(awq_params_argv(line, sizeof line, &want, progs[k]) == AWQ_OK, "%s", awq_errmsg());
            char copy[2048];
            snprintf(copy, sizeof copy, "prog%s", line);
            int argc = split_words(copy, words, 63);
            words[argc] = NULL;
            REQUIRE(argc > 1 || !*line, "split '%s' into %d words", line, argc);
            awq_params got;
            awq_params_default(&got);
            awq_optlist l;
            awq_optlist_init(&l, NULL);
            awq_param_opts(&l, &got, progs[k]);
            awq_cli cli = {.prog = "test_params", .summary = "x"};
            int rc = awq_optlist_parse(&cli, &l, argc, words);
            REQUIRE(rc == AWQ_OPTS_OK, "program %zu did not parse:%s", k, line);
            REQUIRE(awq_params_finish(&got, progs[k]) == AWQ_OK, "%s (%s)", awq_errmsg(), line);
            char which[600];
            REQUIRE(same_taken(&want, &got, progs[k], which, sizeof which), "program %zu: %s (line:%s)", k, which, line);
        }
    }
    /* a line that does not fit is an error, not a cut-off command */
    awq_params p;
    awq_params_default(&p);
    char small[16];
    CHECK(awq_params_argv(small, sizeof small, &p, AWQ_PROGRAM_PLAN) == AWQ_ERR_ARG, "fit 16 bytes: %s", small);
    awq_clear_error();
}

static void t_optlist_capacity(void)
{
    static int sink[AWQ_OPTS_MAX + 2];
    static char names[AWQ_OPTS_MAX + 2][16];
    awq_optlist l;
    awq_optlist_init(&l, NULL);
    for (int i = 0; i < AWQ_OPTS_MAX + 2; i++) {
        snprintf(names[i], sizeof names[i], "opt%d", i);
        awq_optlist_add(&l, (awq_opt){names[i], 0, AWQ_OPT_INT, &sink[i], "N", "x", 0});
    }
    CHECK(l.n == AWQ_OPTS_MAX && l.overflow == 2 && l.o[AWQ_OPTS_MAX].name == NULL, "n %d overflow %d", l.n, l.overflow);
    char *argv[] = {"prog", NULL};
    awq_cli cli = {.prog = "test_params", .summary = "x"};
    fflush(stderr);
    CHECK(awq_optlist_parse(&cli, &l, 1, argv) == AWQ_OPTS_USAGE, "an overflowed table parsed");
}

/* Hints speak the words of whoever started the program: the make variable under make's pipeline
 * (AWQ_VIA_MAKE=1), the flag by hand; a parameter with no make variable, or a flag outside the
 * record, is its flag either way. The expected text is put together from the record's fields. */
static void t_hint_words(void)
{
    char want[128];
    for (int via = 0; via < 2; via++) {
        if (via) setenv("AWQ_VIA_MAKE", "1", 1);
        else unsetenv("AWQ_VIA_MAKE");
        for (int i = 0; i < awq_param_count; i++) {
            const awq_param_desc *d = &awq_param_record[i];
            if (via && d->make) snprintf(want, sizeof want, "%s=v1", d->make);
            else snprintf(want, sizeof want, "--%s v1", d->flag);
            CHECK(strcmp(AWQ_SAY(d->flag, "v1"), want) == 0, "%s: '%s', want '%s'", d->flag, AWQ_SAY(d->flag, "v1"), want);
            if (via && d->make) snprintf(want, sizeof want, "%s", d->make);
            else snprintf(want, sizeof want, "--%s", d->flag);
            CHECK(strcmp(AWQ_SAY(d->flag, NULL), want) == 0, "%s alone: '%s', want '%s'", d->flag, AWQ_SAY(d->flag, NULL), want);
        }
        CHECK(strcmp(AWQ_SAY("not-a-parameter", "x"), "--not-a-parameter x") == 0, "%s", AWQ_SAY("not-a-parameter", "x"));
    }
    unsetenv("AWQ_VIA_MAKE");
    /* and the messages made with it: a group that does not divide (awq_params_check's hint) */
    awq_params p;
    awq_params_default(&p);
    p.group = 48;
    awq_config c = {.hidden_size = 64, .intermediate_size = 128, .num_attention_heads = 4, .num_key_value_heads = 2,
                    .head_dim = 16};
    setenv("AWQ_VIA_MAKE", "1", 1);
    CHECK(awq_params_check(&p, &c, 1) == AWQ_ERR_ARG && strstr(awq_errhint(), "GROUP=64") && !strstr(awq_errhint(), "--group"),
          "under make: %s", awq_errhint());
    unsetenv("AWQ_VIA_MAKE");
    CHECK(awq_params_check(&p, &c, 1) == AWQ_ERR_ARG && strstr(awq_errhint(), "--group 64") && !strstr(awq_errhint(), "GROUP"),
          "by hand: %s", awq_errhint());
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"defaults", t_defaults},
        {"names_are_unique", t_names_are_unique},
        {"set_and_errors", t_set_and_errors},
        {"recipe_entries", t_recipe_entries},
        {"plan_line_reads_back", t_plan_line_reads_back},
        {"optlist_capacity", t_optlist_capacity},
        {"hint_words", t_hint_words},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
