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

typedef enum { AWQ_OPT_FLAG, AWQ_OPT_INT, AWQ_OPT_DOUBLE, AWQ_OPT_STRING } awq_opt_type;

typedef struct awq_opt {
    const char *name;       /* long name, without "--"; NULL ends the table */
    char short_name;        /* 0 for none */
    awq_opt_type type;
    void *dest;             /* int* (FLAG, INT), double*, const char** */
    const char *arg_name;   /* shown in --help ("N", "DIR"); NULL for flags */
    const char *help;       /* one line; the default is shown from *dest when not required */
    int required;
} awq_opt;

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
void awq_opts_help(const awq_cli *cli, const awq_opt *opts);

#endif
