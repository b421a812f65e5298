/* params.c - everything a parameter does, read off its entry in params.def: defaults, options,
 * parsing from text, range checks, recipe entries and plan.mk command lines. */
#include "params.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const awq_param_desc awq_param_record[] = {
#define AWQ_PARAM(T, field, ...) {.type = AWQ_PT_##T, .offset = offsetof(awq_params, field), __VA_ARGS__},
#include "params.def"
#undef AWQ_PARAM
};
const int awq_param_count = (int)(sizeof awq_param_record / sizeof awq_param_record[0]);

void awq_param_norm_group(awq_params *p)
{
    if (p->group <= 0) p->group = -1;
}

static void *field(awq_params *p, const awq_param_desc *d) { return (char *)p + d->offset; }
static const void *cfield(const awq_params *p, const awq_param_desc *d) { return (const char *)p + d->offset; }

const char *awq_param_say(const char *flag, const char *value, char *buf, size_t cap)
{
    const char *make = NULL;
    for (int i = 0; i < awq_param_count; i++)
        if (strcmp(awq_param_record[i].flag, flag) == 0) make = awq_param_record[i].make;
    if (make && awq_via_make()) snprintf(buf, cap, "%s%s%s", make, value ? "=" : "", value ? value : "");
    else snprintf(buf, cap, "--%s%s%s", flag, value ? " " : "", value ? value : "");
    return buf;
}

/* "GROUP=-5 (--group)" or "--fake-quant": how to name a parameter in a message */
static const char *who(const awq_param_desc *d, const char *value, char *buf, size_t cap)
{
    if (d->make) snprintf(buf, cap, "%s=%s (--%s)", d->make, value, d->flag);
    else snprintf(buf, cap, "--%s %s", d->flag, value);
    return buf;
}

/* Parse text into the field; no range check. */
static awq_err parse_value(awq_params *p, const awq_param_desc *d, const char *value)
{
    char *end = NULL, name[160];
    errno = 0;
    switch (d->type) {
    case AWQ_PT_INT: {
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno || v < -2147483647L || v > 2147483647L)
            return awq_fail(AWQ_ERR_ARG, "%s: not an integer", who(d, value, name, sizeof name));
        *(int *)field(p, d) = (int)v;
        return AWQ_OK;
    }
    case AWQ_PT_DOUBLE: {
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v)) return awq_fail(AWQ_ERR_ARG, "%s: not a number", who(d, value, name, sizeof name));
        *(double *)field(p, d) = v;
        return AWQ_OK;
    }
    case AWQ_PT_FLAG:
        if (strcmp(value, "0") && strcmp(value, "1") && *value)
            return awq_fail(AWQ_ERR_ARG, "%s: give 1 (on) or 0 (off)", who(d, value, name, sizeof name));
        *(int *)field(p, d) = strcmp(value, "1") == 0;
        return AWQ_OK;
    case AWQ_PT_CHOICE: {
        int k = awq_choice_index(d->choices, value);
        if (k < 0) return awq_fail(AWQ_ERR_ARG, "%s: not one of %s", who(d, value, name, sizeof name), d->choices);
        *(int *)field(p, d) = k;
        return AWQ_OK;
    }
    case AWQ_PT_STRING: *(const char **)field(p, d) = value; return AWQ_OK;
    }
    return awq_fail(AWQ_ERR_ARG, "%s: unknown parameter type", d->flag);
}

void awq_params_default(awq_params *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *d = &awq_param_record[i];
        if (d->dflt && parse_value(p, d, d->dflt) != AWQ_OK) abort(); /* a bad default in params.def */
        if (d->norm) d->norm(p);
    }
}

void awq_param_text(const awq_param_desc *d, const awq_params *p, char *buf, size_t cap)
{
    const void *f = cfield(p, d);
    switch (d->type) {
    case AWQ_PT_INT: case AWQ_PT_FLAG: snprintf(buf, cap, "%d", *(const int *)f); break;
    case AWQ_PT_DOUBLE: snprintf(buf, cap, "%.9g", *(const double *)f); break;
    case AWQ_PT_CHOICE: awq_choice_name(d->choices, *(const int *)f, buf, cap); break;
    case AWQ_PT_STRING: snprintf(buf, cap, "%s", *(const char *const *)f ? *(const char *const *)f : ""); break;
    }
}

/* Range check and normalisation of one parameter. */
static awq_err finish_one(awq_params *p, const awq_param_desc *d)
{
    char text[64], name[160];
    awq_param_text(d, p, text, sizeof text);
    if (d->type == AWQ_PT_INT) {
        int v = *(int *)field(p, d);
        if (v < d->lo || v > d->hi) {
            awq_fail(AWQ_ERR_ARG, "%s is outside %.0f..%.0f", who(d, text, name, sizeof name), d->lo, d->hi);
            return AWQ_ERR_ARG;
        }
    } else if (d->type == AWQ_PT_DOUBLE) {
        double v = *(double *)field(p, d);
        if (!(v > d->lo && v <= d->hi)) {
            awq_fail(AWQ_ERR_ARG, "%s must be above %g and at most %g", who(d, text, name, sizeof name), d->lo, d->hi);
            return AWQ_ERR_ARG;
        }
    }
    if (d->norm) d->norm(p);
    return AWQ_OK;
}

awq_err awq_param_set(awq_params *p, const char *name, const char *value)
{
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *d = &awq_param_record[i];
        if ((d->make && strcmp(d->make, name) == 0) || strcmp(d->flag, name) == 0) {
            awq_err e = parse_value(p, d, value);
            return e ? e : finish_one(p, d);
        }
    }
    awq_fail(AWQ_ERR_ARG, "unknown parameter '%s'", name);
    awq_hint("the parameters are the make variables W_BIT, GROUP, N_GRID, ... (README: Quantizing a model)");
    return AWQ_ERR_ARG;
}

int awq_param_taken(const awq_param_desc *d, awq_program pg)
{
    return (d->keys & pg.keys) || (d->also & pg.prog);
}

void awq_param_opts(awq_optlist *l, awq_params *p, awq_program pg)
{
    static const awq_opt_type as_opt[] = {[AWQ_PT_INT] = AWQ_OPT_INT, [AWQ_PT_DOUBLE] = AWQ_OPT_DOUBLE,
                                          [AWQ_PT_FLAG] = AWQ_OPT_FLAG, [AWQ_PT_CHOICE] = AWQ_OPT_CHOICE,
                                          [AWQ_PT_STRING] = AWQ_OPT_STRING};
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *d = &awq_param_record[i];
        if (!awq_param_taken(d, pg)) continue;
        awq_optlist_add(l, (awq_opt){d->flag, d->short_name, as_opt[d->type], field(p, d),
                                     d->type == AWQ_PT_CHOICE ? d->choices : d->arg, d->help, 0});
    }
}

awq_err awq_params_finish(awq_params *p, awq_program pg)
{
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *d = &awq_param_record[i];
        if (!awq_param_taken(d, pg)) continue;
        awq_err e = finish_one(p, d);
        if (e) return e;
    }
    return AWQ_OK;
}

awq_err awq_params_recipe(awq_recipe *r, const awq_params *p, unsigned key_kind)
{
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *d = &awq_param_record[i];
        if (!(d->keys & key_kind) || !d->recipe) continue;
        const char *eq = strchr(d->recipe, '=');
        awq_err e = AWQ_OK;
        if (eq) { /* an entry only when the flag is set: "format=export" */
            if (*(const int *)cfield(p, d)) {
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(eq - d->recipe), d->recipe);
                e = awq_recipe_add(r, name, eq + 1);
            }
        } else {
            char text[256];
            awq_param_text(d, p, text, sizeof text);
            e = awq_recipe_add(r, d->recipe, text);
        }
        if (e) return e;
    }
    return AWQ_OK;
}

/* Append s to buf single-quoted when it holds anything but [A-Za-z0-9._,+-]. */
static int put_word(char *buf, size_t cap, size_t *n, const char *s)
{
    int plain = *s != 0;
    for (const char *c = s; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._,+-/", *c)) plain = 0;
    int w;
    if (plain) w = snprintf(buf + *n, cap - *n, " %s", s);
    else {
        w = snprintf(buf + *n, cap - *n, " '");
        for (const char *c = s; *c && w >= 0 && *n + (size_t)w < cap; c++)
            w += *c == '\'' ? snprintf(buf + *n + w, cap - *n - w, "'\\''") : snprintf(buf + *n + w, cap - *n - w, "%c", *c);
        if (w >= 0 && *n + (size_t)w < cap) w += snprintf(buf + *n + w, cap - *n - w, "'");
    }
    if (w < 0 || *n + (size_t)w >= cap) return -1;
    *n += (size_t)w;
    return 0;
}

awq_err awq_params_argv(char *buf, size_t cap, const awq_params *p, awq_program pg)
{
    size_t n = 0;
    if (cap) buf[0] = 0;
    for (int i = 0; i < awq_param_count; i++) {
        const awq_param_desc *d = &awq_param_record[i];
        if (!awq_param_taken(d, pg)) continue;
        char flag[80], text[256];
        snprintf(flag, sizeof flag, "--%s", d->flag);
        int bad = 0;
        if (d->type == AWQ_PT_FLAG) {
            if (*(const int *)cfield(p, d)) bad = put_word(buf, cap, &n, flag);
        } else {
            awq_param_text(d, p, text, sizeof text);
            bad = put_word(buf, cap, &n, flag) || put_word(buf, cap, &n, text);
        }
        if (bad) return awq_fail(AWQ_ERR_ARG, "the parameters of a command line do not fit %zu bytes", cap);
    }
    return AWQ_OK;
}

const awq_param_desc *awq_param_of(size_t offset)
{
    for (int i = 0; i < awq_param_count; i++)
        if (awq_param_record[i].offset == offset) return &awq_param_record[i];
    return NULL;
}
