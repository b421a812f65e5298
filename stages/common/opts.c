/* opts.c - getopt_long over an awq_opt table, with the --help text made from the same table. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum { MAX_OPTS = 64, OPT_BASE = 256 };

static void print_default(const awq_opt *o)
{
    switch (o->type) {
    case AWQ_OPT_INT: printf(" (default %d)", *(int *)o->dest); break;
    case AWQ_OPT_DOUBLE: printf(" (default %g)", *(double *)o->dest); break;
    case AWQ_OPT_STRING:
        if (*(const char **)o->dest) printf(" (default %s)", *(const char **)o->dest);
        break;
    case AWQ_OPT_CHOICE: {
        char name[64];
        printf(" (default %s)", awq_choice_name(o->arg_name, *(int *)o->dest, name, sizeof name));
        break;
    }
    default: break;
    }
}

void awq_opts_help(const awq_cli *cli, const awq_opt *opts)
{
    printf("usage: %s [options]%s%s\n%s\n\noptions:\n", cli->prog, cli->usage ? " " : "",
           cli->usage ? cli->usage : "", cli->summary);
    for (const awq_opt *o = opts; o->name; o++) {
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
        printf("  %-26s %s", left, o->help);
        if (o->required) printf(" (required)");
        else print_default(o);
        printf("\n");
    }
    printf("  %-26s %s\n  %-26s %s\n  %-26s %s\n", "-q, --quiet", "only errors on stderr",
           "-v, --verbose", "more detail on stderr (repeat for more)", "-h, --help", "show this help");
    if (cli->details) printf("\n%s\n", cli->details);
}

static int usage_error(const awq_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const awq_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cli->prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\ntry '%s --help'\n", cli->prog);
    va_end(ap);
    return AWQ_OPTS_USAGE;
}

int awq_choice_index(const char *choices, const char *value)
{
    size_t n = strlen(value);
    int i = 0;
    for (const char *c = choices; c && *c; i++) {
        size_t len = strcspn(c, "|");
        if (len == n && strncmp(c, value, n) == 0) return i;
        c += len + (c[len] == '|');
    }
    return -1;
}

const char *awq_choice_name(const char *choices, int i, char *buf, size_t cap)
{
    const char *c = choices ? choices : "";
    for (int k = 0; k < i && *c; k++) c += strcspn(c, "|") + (c[strcspn(c, "|")] == '|');
    snprintf(buf, cap, "%.*s", (int)strcspn(c, "|"), c);
    return buf;
}

void awq_optlist_init(awq_optlist *l, const awq_opt *base)
{
    memset(l, 0, sizeof *l);
    for (const awq_opt *o = base; o && o->name; o++) awq_optlist_add(l, *o);
}

void awq_optlist_add(awq_optlist *l, awq_opt o)
{
    if (l->n == AWQ_OPTS_MAX) { l->overflow++; return; }
    l->o[l->n++] = o;
    l->o[l->n] = (awq_opt){0};
}

int awq_optlist_parse(awq_cli *cli, const awq_optlist *l, int argc, char **argv)
{
    if (l->overflow) {
        fprintf(stderr, "%s: %d options beyond the table's %d (internal: raise AWQ_OPTS_MAX)\n", cli->prog, l->overflow,
                AWQ_OPTS_MAX);
        return AWQ_OPTS_USAGE;
    }
    return awq_opts_parse(cli, l->o, argc, argv);
}

int awq_opts_parse(awq_cli *cli, const awq_opt *opts, int argc, char **argv)
{
    struct option lo[MAX_OPTS + 4];
    char shorts[3 * MAX_OPTS + 8] = "+qvh";
    int n = 0, seen[MAX_OPTS] = {0};
    for (const awq_opt *o = opts; o->name; o++, n++) {
        if (n >= MAX_OPTS) { fprintf(stderr, "%s: too many options (internal)\n", cli->prog); return AWQ_OPTS_USAGE; }
        if (o->short_name && strchr("qvh", o->short_name)) { /* taken by --quiet/--verbose/--help */
            fprintf(stderr, "%s: option --%s reuses -%c (internal)\n", cli->prog, o->name, o->short_name);
            return AWQ_OPTS_USAGE;
        }
        lo[n] = (struct option){o->name, o->type == AWQ_OPT_FLAG ? no_argument : required_argument, NULL, OPT_BASE + n};
        if (o->short_name) {
            size_t l = strlen(shorts);
            shorts[l] = o->short_name;
            shorts[l + 1] = o->type == AWQ_OPT_FLAG ? 0 : ':';
            shorts[l + 2] = 0;
        }
    }
    lo[n++] = (struct option){"quiet", no_argument, NULL, 'q'};
    lo[n++] = (struct option){"verbose", no_argument, NULL, 'v'};
    lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n] = (struct option){0, 0, 0, 0};

    opterr = 0;
    optind = 0; /* 0, not 1: glibc then forgets the permutation state of an earlier parse */
    int c;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (c == 'h') { awq_opts_help(cli, opts); return AWQ_OPTS_HELP; }
        if (c == 'q') { awq_log_level = AWQ_LOG_QUIET; continue; }
        if (c == 'v') { awq_log_level++; continue; }
        if (c == '?' || c == ':') {
            const char *bad = argv[optind - 1];
            return usage_error(cli, c == ':' ? "option '%s' needs a value" : "unknown option '%s'", bad);
        }
        int idx = -1;
        if (c >= OPT_BASE) idx = c - OPT_BASE;
        else
            for (int i = 0; opts[i].name; i++)
                if (opts[i].short_name == c) idx = i;
        if (idx < 0) return usage_error(cli, "unknown option '%s'", argv[optind - 1]);
        const awq_opt *o = &opts[idx];
        seen[idx] = 1;
        char *end = NULL;
        errno = 0;
        switch (o->type) {
        case AWQ_OPT_FLAG: *(int *)o->dest = 1; break;
        case AWQ_OPT_INT: {
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || errno || v < INT_MIN || v > INT_MAX)
                return usage_error(cli, "--%s: '%s' is not an integer", o->name, optarg);
            *(int *)o->dest = (int)v;
            break;
        }
        case AWQ_OPT_DOUBLE: {
            double v = strtod(optarg, &end);
            if (!*optarg || *end || errno || !isfinite(v))
                return usage_error(cli, "--%s: '%s' is not a number", o->name, optarg);
            *(double *)o->dest = v;
            break;
        }
        case AWQ_OPT_STRING: *(const char **)o->dest = optarg; break;
        case AWQ_OPT_CHOICE: {
            int k = awq_choice_index(o->arg_name, optarg);
            if (k < 0) return usage_error(cli, "--%s: '%s' is not one of %s", o->name, optarg, o->arg_name);
            *(int *)o->dest = k;
            break;
        }
        }
    }
    for (int i = 0; opts[i].name; i++)
        if (opts[i].required && !seen[i]) return usage_error(cli, "missing --%s", opts[i].name);
    cli->n_positional = argc - optind;
    cli->positional = argv + optind;
    return AWQ_OPTS_OK;
}
