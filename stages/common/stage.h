/* stage.h - what every stage program shares: the AWQ parameter options, the cache check that
 * makes a repeated step free, and printing the output key. */
#ifndef AWQ_STAGE_H
#define AWQ_STAGE_H

#include "../../cache/store.h"
#include "awq.h"
#include "opts.h"

/* Option values as parsed (strings are validated by awq_stage_params). */
typedef struct awq_stage_opts {
    const char *model, *store, *device;  /* the options every stage shares */
    int block, print_key;
    int w_bit, group, n_grid, duo, clip_grid, n_sample_token;
    double max_shrink;
    const char *numerics, *semantics;
} awq_stage_opts;

void awq_stage_opts_default(awq_stage_opts *o);
/* Option table entries (name list: any of "model block device store print-key", the options of
 * every stage, and the parameters "w-bit group n-grid duo-scaling semantics numerics clip-grid
 * max-shrink n-sample-token"); appended at dst, returns the count. */
int awq_stage_param_opts(awq_opt *dst, awq_stage_opts *o, const char *names);
/* Validate strings and fill p; prints a usage error and returns 2 on bad values, else 0. */
int awq_stage_params(const char *prog, const awq_stage_opts *o, awq_params *p);

/* 1 when a valid object is stored under key (the step is done); a damaged one is reported as a
 * warning and 0 is returned so the caller rebuilds it. */
int awq_stage_cached(awq_store *s, const awq_key *key);
void awq_print_key(const awq_key *key);
/* Parse a key option, naming the option in the error. */
awq_err awq_parse_key_opt(awq_key *k, const char *opt, const char *value);

#endif
