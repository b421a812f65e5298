/* stage.c - shared stage plumbing: the command line of a stage program, cache check, key output. */
#include "stage.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

int awq_stage_parse(awq_cli *cli, const awq_opt *own, awq_stage_opts *so, unsigned which, awq_params *p, awq_program pg,
                    int argc, char **argv)
{
    *so = (awq_stage_opts){.block = -1};
    awq_params_default(p);
    const awq_opt shared[] = {
        {"model", 'm', AWQ_OPT_STRING, &so->model, "DIR", "HF model directory", 1},
        {"block", 'b', AWQ_OPT_INT, &so->block, "I", "decoder block", 1},
        {"store", 0, AWQ_OPT_STRING, &so->store, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {"print-key", 0, AWQ_OPT_FLAG, &so->print_key, NULL, "print the output key and exit without computing", 0},
    };
    awq_optlist l;
    awq_optlist_init(&l, own);
    for (int i = 0; i < 4; i++)
        if (which & (1u << i)) awq_optlist_add(&l, shared[i]);
    awq_param_opts(&l, p, pg);
    int rc = awq_optlist_parse(cli, &l, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc;
    awq_log_init(cli->prog, argc, argv);
    if (awq_params_finish(p, pg) != AWQ_OK) {
        awq_report(cli->prog);
        return AWQ_OPTS_USAGE;
    }
    return AWQ_OPTS_OK;
}

int awq_stage_status(const awq_store *s, awq_err e)
{
    if (e == AWQ_OK) return 0;
    /* an object error, and a read of this store found an object missing or damaged */
    int object = e == AWQ_ERR_NOTFOUND || e == AWQ_ERR_FORMAT || e == AWQ_ERR_CHECKSUM;
    return object && s && awq_store_lost(s) > 0 ? AWQ_EXIT_REBUILD : 1;
}

int awq_stage_cached(awq_store *s, const awq_key *key)
{
    if (!awq_store_has(s, key)) return 0;
    if (awq_store_check(s, key) == AWQ_OK) { /* cheap; the get that reads it verifies the content */
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

int awq_parse_key_list(const char *opt, const char *list, awq_key *out, int cap)
{
    int n = 0;
    for (const char *q = list; q && *q; n++) {
        size_t len = strcspn(q, ",");
        char hex[AWQ_KEY_HEX + 1] = {0};
        if (n == cap) { awq_fail(AWQ_ERR_ARG, "--%s: more than %d keys", opt, cap); return -1; }
        if (len != AWQ_KEY_HEX) {
            awq_fail(AWQ_ERR_ARG, "--%s: entry %d is not a %d-digit key", opt, n, AWQ_KEY_HEX);
            awq_hint("give the keys separated by commas");
            return -1;
        }
        memcpy(hex, q, len);
        if (awq_parse_key_opt(&out[n], opt, hex)) return -1;
        q += len;
        if (*q == ',') q++;
    }
    return n;
}
