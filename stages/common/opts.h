/* opts.h - command-line options from one table: getopt_long parsing and the --help text.
 *
 *   int block = -1; const char *model = NULL;
 *   const awq_opt opts[] = {
 *       {"model", 'm', AWQ_OPT_STRING, &model, "DIR", "HF model directory", 1},
 *       {"block", 0,   AWQ_OPT_INT,    &block, "N",   "decoder block index", 1},
 *       {0}};
 *   int rc = awq_opts_parse(&cli, opts, argc, argv);   // cli: prog, summary, usage
 *   if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
 *
 * Every program also gets the common options -q/--quiet, -v/--verbose and -h/--help.
 */
#ifndef AWQ_OPTS_H
#define AWQ_OPTS_H

#include <stddef.h>

typedef enum { AWQ_OPT_FLAG, AWQ_OPT_INT, AWQ_OPT_DOUBLE, AWQ_OPT_STRING, AWQ_OPT_CHOICE } awq_opt_type;

typedef struct awq_opt {
    const char *name;       /* long name, without "--"; NULL ends the table */
    char short_name;        /* 0 for none */
    awq_opt_type type;
    void *dest;             /* int* (FLAG, INT, CHOICE), double*, const char** */
    const char *arg_name;   /* shown in --help ("N", "DIR"); NULL for flags; CHOICE: the choices
                               "a|b|c", *dest gets the index of the one given */
    const char *help;       /* one line; the default is shown from *dest when not required */
    int required;
} awq_opt;

/* An option table built in steps (a program's own options, then the parameters it takes from
 * params.h), with a capacity: adding past it is reported by awq_opts_parse, never written. */
enum { AWQ_OPTS_MAX = 48 };
typedef struct awq_optlist {
    awq_opt o[AWQ_OPTS_MAX + 1];  /* NULL-name terminated */
    int n;
    int overflow;                 /* options that did not fit */
} awq_optlist;

/* l = the NULL-terminated table `base` (may be NULL). */
void awq_optlist_init(awq_optlist *l, const awq_opt *base);
void awq_optlist_add(awq_optlist *l, awq_opt o);

typedef struct awq_cli {
    const char *prog;       /* "awq-capture" */
    const char *summary;    /* one line: what the program does */
    const char *usage;      /* positional part, e.g. "[KEY...]"; NULL for none */
    const char *details;    /* optional paragraph after the options */
    int n_positional;       /* out: argv[first_positional ..] */
    char **positional;      /* out */
} awq_cli;

enum { AWQ_OPTS_OK = 0, AWQ_OPTS_HELP = 1, AWQ_OPTS_USAGE = 2 };

/* Parse argv. Prints --help to stdout (AWQ_OPTS_HELP) or one usage error + "try --help" to
 * stderr (AWQ_OPTS_USAGE). Integers and doubles are checked (whole string, range). */
int awq_opts_parse(awq_cli *cli, const awq_opt *opts, int argc, char **argv);
/* The same over a list (an overflowed list is an internal usage error). */
int awq_optlist_parse(awq_cli *cli, const awq_optlist *l, int argc, char **argv);
/* The index of `value` in "a|b|c", or -1. */
int awq_choice_index(const char *choices, const char *value);
/* The text of choice i into buf. */
const char *awq_choice_name(const char *choices, int i, char *buf, size_t cap);
void awq_opts_help(const awq_cli *cli, const awq_opt *opts);

#endif
