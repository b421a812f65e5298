/* stage.h - what every stage program shares: its command line (its own options, the shared stage
 * options and the parameters of the objects it makes, from params.def), the cache check that makes
 * a repeated step free, and printing the output key. */
#ifndef AWQ_STAGE_H
#define AWQ_STAGE_H

#include "../../cache/store.h"
#include "opts.h"
#include "params.h"
#include "work.h"

/* The options stage programs share besides the parameters. */
typedef struct awq_stage_opts {
    const char *model, *store;
    int block, print_key;
} awq_stage_opts;
enum { AWQ_SO_MODEL = 1, AWQ_SO_BLOCK = 2, AWQ_SO_STORE = 4, AWQ_SO_PRINT_KEY = 8, AWQ_SO_ALL = 15 };

/* A stage program's command line. own: its own options (NULL-terminated, may be NULL); which:
 * the shared options it takes (AWQ_SO_*, bound to so); pg: the program (params.h AWQ_PROGRAM_*),
 * whose parameters are bound to p (set to the defaults first, range-checked and normalised
 * after). Logs the command line. Returns AWQ_OPTS_OK, or AWQ_OPTS_HELP / AWQ_OPTS_USAGE after
 * printing help / one error:
 *   int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_ALL, &p, AWQ_PROGRAM_CLIP_SEARCH, argc, argv);
 *   if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2; */
int awq_stage_parse(awq_cli *cli, const awq_opt *own, awq_stage_opts *so, unsigned which, awq_params *p, awq_program pg,
                    int argc, char **argv);

/* What a block program opens before it runs the block worker: the model (with the block keys
 * awq-plan memoised), the parameters checked against it (check: awq_params_check's need_pack,
 * or AWQ_STAGE_NO_CHECK for a step no parameter of which depends on the shapes), the store
 * (none with --print-key: keys only) and a worker on block so->block (stage_block.c). */
typedef struct awq_stage_block {
    awq_model *m;
    awq_store *s;
    awq_work w;
} awq_stage_block;
enum { AWQ_STAGE_NO_CHECK = -1 };
awq_err awq_stage_block_open(awq_stage_block *b, const awq_stage_opts *so, const awq_params *p, int check);
/* The program's end: on success print `out` (a key of b->w), else report e with the block named
 * (out NULL: a batch, whose errors name their blocks already); close everything; the exit
 * status (awq_stage_status). */
int awq_stage_block_close(awq_stage_block *b, awq_err e, const awq_key *out, const char *prog);

/* The exit status of a program the pipeline runs: 0 on success; AWQ_EXIT_REBUILD when it failed
 * because an input object was missing or damaged (moved aside): awq-step then has make build it
 * again and runs the step once more, in the same run; 1 for any other failure. */
enum { AWQ_EXIT_REBUILD = 75 }; /* EX_TEMPFAIL of sysexits.h: "try again" */
int awq_stage_status(const awq_store *s, awq_err e);

/* 1 when a valid object is stored under key (the step is done); a damaged one is reported as a
 * warning and 0 is returned so the caller rebuilds it. Cheap: awq_store_check (no decompression;
 * the get that reads the object verifies its content). */
int awq_stage_cached(awq_store *s, const awq_key *key);
void awq_print_key(const awq_key *key);
/* Parse a key option, naming the option in the error. */
awq_err awq_parse_key_opt(awq_key *k, const char *opt, const char *value);
/* "K0,K1,..." -> out[0..cap): the count, or -1 after recording an error naming --opt. */
int awq_parse_key_list(const char *opt, const char *list, awq_key *out, int cap);

#endif
