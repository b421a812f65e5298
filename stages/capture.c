/* capture.c - awq-capture: one link of the capture chain (spec §2.3). With --tokens it embeds a
 * tokens object (act.0); with --block I --input KEY it runs ORIGINAL block I on act.I and stores
 * act.(I+1). An existing object is not recomputed. Prints the output key on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/prof.h"
#include "common/act.h"
#include "common/bg.h"
#include "common/device.h"
#include "common/devmem.h"
#include "common/log.h"
#include "common/slots.h"
#include "common/stage.h"
#include "common/tokens.h"

typedef struct capture_args {
    const char *tokens, *input;
    int block;
} capture_args;

/* The input read and the output write, each on a thread of its own (bg.h). */
typedef struct {
    awq_store *s;
    awq_key key;
    const char *recipe;
    awq_object *obj;   /* get: what was read */
    awq_tensor t;      /* put: what to write (its data owned here) */
} io_job;

static awq_err get_job(void *arg) { io_job *j = arg; return awq_store_get(j->s, &j->key, &j->obj); }
static awq_err put_job(void *arg) { io_job *j = arg; return awq_store_put(j->s, &j->key, "act", j->recipe, &j->t, 1); }

/* Compute and store the object `key` (not yet in the store). The activations stay in backend
 * memory from load to store: the block runs on them in place. The block input is read (and
 * decoded on all cores) while the backend opens (a GPU context: ~0.2 s), and the output is
 * written while the backend closes (docs/PERFORMANCE.md, "Capture chain"). */
static awq_err run(const capture_args *a, const awq_params *p, awq_store *s, const awq_model *m, const awq_key *key,
                   const char *recipe)
{
    const awq_backend *be = NULL;
    io_job in = {.s = s}, out = {.s = s, .key = *key, .recipe = recipe};
    awq_bg reader = {0}, writer = {0};
    awq_err e = AWQ_OK;
    if (a->input && !(e = awq_key_parse(&in.key, a->input))) awq_bg_start(&reader, get_job, &in);
    /* the GPU with the most free memory units now, without taking any: a capture holds one block
     * and its input, and the chain must never wait behind the searches (slots.h) */
    awq_slots where = {0};
    if (!e) e = awq_slots_pick(&where);
    if (!e) e = awq_backend_open_on(where.placed && where.simulated ? "cpu" : p->device, where.placed ? where.ordinal : -1, &be);
    if (!e) awq_prof_dev(be, "stage: open backend");
    float *x = NULL;
    int n_seq = 0, seqlen = 0;
    char what[64];
    if (e) {
        awq_bg_drop(&reader); /* nothing to compute with: wait for the reader, drop what it read */
    } else if (a->tokens) {
        awq_key tk;
        awq_object *to = NULL;
        const int32_t *ids = NULL;
        e = awq_key_parse(&tk, a->tokens);
        if (!e) e = awq_tokens_get(s, &tk, &to, &ids, &n_seq, &seqlen);
        if (!e) e = awq_dev_alloc(be, (void **)&x, (size_t)n_seq * seqlen * m->cfg.hidden_size * sizeof *x);
        if (!e) e = awq_embed_compute(be, m, ids, (size_t)n_seq * seqlen, p->round_f16, x);
        awq_object_free(to);
        snprintf(what, sizeof what, "embedding");
    } else {
        e = awq_bg_join(&reader);
        awq_prof_mark("capture: input read (beside the backend's start)");
        if (!e) e = awq_act_load_object(in.obj, &in.key, m, be, &x, &n_seq, &seqlen);
        in.obj = NULL; /* owned by awq_act_load_object, whatever its result */
        double t0 = awq_now();
        if (!e) e = awq_capture_compute(be, m, a->block, n_seq, seqlen, p->round_f16, x);
        if (!e) awq_verbose("block %d: %d x %d tokens in %.2f s", a->block, n_seq, seqlen, awq_now() - t0);
        snprintf(what, sizeof what, "output of block %d", a->block);
    }
    awq_object_free(in.obj);
    if (!e) e = awq_act_narrow(m, be, x, n_seq, seqlen, what, &out.t);
    if (be) awq_dev_free(be, x);
    if (!e) awq_bg_start(&writer, put_job, &out);
    if (be) be->close(be);
    awq_prof_mark("capture: backend closed (beside the write)");
    if (writer.fn) e = awq_bg_join(&writer); /* started only when e was AWQ_OK */
    awq_prof_mark("capture: output written");
    free(out.t.data);
    return e;
}

int main(int argc, char **argv)
{
    capture_args a = {.block = -1};
    const awq_opt own[] = {
        {"tokens", 't', AWQ_OPT_STRING, &a.tokens, "KEY", "tokens object: produce act.0 (the embedding)", 0},
        {"block", 'b', AWQ_OPT_INT, &a.block, "I", "decoder block to run (with --input)", 0},
        {"input", 'i', AWQ_OPT_STRING, &a.input, "KEY", "act object: the input of block I", 0},
        {0},
    };
    awq_cli cli = {"awq-capture", "compute the input of the next decoder block from the ORIGINAL weights; prints its key",
                   NULL, "Either --tokens KEY (block-0 input) or --block I --input KEY (block I+1 input).", 0, 0};
    awq_stage_opts so;
    awq_params p;
    int rc = awq_stage_parse(&cli, own, &so, AWQ_SO_MODEL | AWQ_SO_STORE | AWQ_SO_PRINT_KEY, &p, AWQ_PROGRAM_CAPTURE,
                             argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    if (!!a.tokens == !!a.input || (a.input && a.block < 0) || (a.tokens && a.block >= 0)) {
        fprintf(stderr, "%s: give either --tokens KEY, or --block I and --input KEY\ntry '%s --help'\n", cli.prog, cli.prog);
        return 2;
    }

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key in, key;
    char *recipe = NULL;
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_key_parse(&in, a.tokens ? a.tokens : a.input);
    if (!e) e = a.tokens ? awq_act0_key(m, &in, &p, &key, &recipe) : awq_act_next_key(m, a.block, &in, &p, &key, &recipe);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    /* a valid object under the key is the result already (DESIGN: valid by construction); a
     * damaged one is reported and rebuilt by the put below */
    if (!e && !so.print_key && !awq_stage_cached(s, &key)) e = run(&a, &p, s, m, &key, recipe);
    if (!e) awq_print_key(&key);
    free(recipe);
    const int status = awq_stage_status(s, e); /* an input gone: AWQ_EXIT_REBUILD, awq-step remakes it */
    awq_store_close(s);
    awq_model_close(m);
    if (e) awq_report(cli.prog);
    return status;
}
