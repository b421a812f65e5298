/* plan.c - awq-plan: compute the key of every object of an experiment before anything runs and
 * write an ordinary makefile whose targets are those objects' paths in the store (DESIGN.md
 * "Objects and keys"): tokens -> capture chain -> per block scale-search -> apply-scale ->
 * clip-search -> pack -> shard -> assemble. Make then builds exactly the missing objects, `make -j`
 * runs the capture chain ahead of the searches, and a crash costs a re-run. Each block's part of
 * the output checkpoint (its shard file, in WORK/shards) is written as soon as its packed object
 * exists, so the last step, assemble, only links files.
 * Writes into --work DIR: plan.mk, manifest.tsv (block, stage, key) and out.keys (what the
 * output depends on); each only when its content changed, so make's timestamps stay meaningful.
 * Block hashes are remembered by (file path, size, mtime) so re-planning a large model is quick. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cache/atomic.h"
#include "../cache/claim.h"
#include "common/act.h"
#include "common/awqobj.h"
#include "common/log.h"
#include "common/shard.h"
#include "common/memest.h"
#include "common/slots.h"
#include "common/stage.h"
#include "common/tokens.h"

typedef struct plan_args {
    const char *model, *calib, *out, *work, *store, *bin;
    int dry;
} plan_args;

/* A growing text buffer. */
typedef struct buf { char *p; size_t n, cap; int oom; } buf;
static void bput(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bput(buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int need = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (need < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)need < b->cap) { b->n += (size_t)need; return; }
        size_t cap = (b->cap + (size_t)need + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
}

/* Write `text` to path atomically, but only when it differs from what is there. */
static awq_err write_if_changed(const char *path, const char *text, size_t len)
{
    size_t old_len = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        char *old = malloc(len + 2);
        if (old) {
            old_len = fread(old, 1, len + 1, f);
            int same = old_len == len && memcmp(old, text, len) == 0;
            free(old);
            fclose(f);
            if (same) return AWQ_OK;
        } else fclose(f);
    }
    return awq_write_file_atomic(path, text, len);
}

static char *hexs(const awq_key *k, char out[AWQ_KEY_HEX + 1]) { awq_key_hex(k, out); return out; }

/* The object path of a key, as make sees it: $(S)/ab/cdef... */
static const char *obj(const awq_key *k, char out[64])
{
    char h[AWQ_KEY_HEX + 1];
    awq_key_hex(k, h);
    snprintf(out, 64, "$(S)/%.2s/%s", h, h + 2);
    return out;
}

/* The elements of block `layer`'s tensors (0 when it cannot be read: the steps report that). */
static double block_params(const awq_model *m, int layer)
{
    double w = 0;
    awq_block b;
    if (layer >= 0 && awq_model_block(m, layer, &b) == AWQ_OK) {
        for (int i = 0; i < AWQ_SLOT__COUNT; i++)
            if (b.t[i]) {
                double n = 1;
                for (int d = 0; d < b.t[i]->ndim; d++) n *= (double)b.t[i]->shape[d];
                w += n;
            }
    } else awq_clear_error();
    return w;
}

/* Host memory (MB) a step may use, for `srun --mem` (memest.h: the one estimate of memory).
 * layer < 0: the embedding. */
static long step_mb(const awq_model *m, int layer, long T)
{
    return awq_mem_host_mb(&m->cfg, layer, block_params(m, layer), T);
}

/* Shell-quote a string for a makefile recipe (single quotes; $ doubled for make). */
static const char *q(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    out[n++] = '\'';
    for (; *s && n + 6 < cap; s++) {
        if (*s == '\'') { memcpy(out + n, "'\\''", 4); n += 4; }
        else if (*s == '$') { out[n++] = '$'; out[n++] = '$'; }
        else out[n++] = *s;
    }
    out[n++] = '\'';
    out[n] = 0;
    return out;
}

/* The block keys of a model and the largest magnitude of each block's, the embedding's and the
 * rest's values (mag[L + 2], for awq_model_check_values): from the store's memo (keymemo.c), else
 * hashed - every weight read once, the magnitudes found on the way - and remembered. */
static awq_err block_keys(awq_model *m, const char *store_root, awq_key *keys, awq_key *embed, uint32_t *mag)
{
    const int L = m->cfg.num_hidden_layers;
    if (awq_model_load_key_memo(m, store_root) && m->mag_memo) {
        memcpy(keys, m->key_memo, (size_t)L * sizeof *keys);
        *embed = m->key_memo[L];
        memcpy(mag, m->mag_memo, (size_t)(L + 2) * sizeof *mag);
        awq_verbose("block keys and value magnitudes remembered in the store's memo");
        return AWQ_OK;
    }
    double t0 = awq_now();
    awq_err e = AWQ_OK;
    for (int l = 0; l < L && !e; l++) {
        e = awq_block_hash(m, l, &keys[l], &mag[l]);
        awq_progress("hashing blocks", l + 1, L);
    }
    if (!e) e = awq_embed_hash(m, embed, &mag[L]);
    if (e) return e;
    mag[L + 1] = awq_rest_mag(m);
    awq_verbose("hashed %d blocks in %.2f s", L, awq_now() - t0);
    /* remembered also when the check below fails: a re-plan names the bad value again without
     * hashing the model again */
    if (awq_model_save_key_memo(m, store_root, keys, embed, mag) != AWQ_OK) awq_clear_error(); /* a memo is only a cache */
    return AWQ_OK;
}

/* Run awq-tokenize to store the tokens object now (cheap) and get its key. `rule` gets the same
 * command for plan.mk (quoted for make), so that a tokens object lost in the run is made again. */
static awq_err plan_tokens(const plan_args *a, const awq_params *p, awq_key *key, char *rule, size_t rule_cap)
{
    char cmd[16384], qb[4096], qc[4096], qs[4096], qm[4096], sel[64 + 4096];
    size_t n = strlen(a->calib);
    int ids = n > 4 && strcmp(a->calib + n - 4, ".i32") == 0, jsonl = n > 6 && strcmp(a->calib + n - 6, ".jsonl") == 0;
    /* pre-tokenized ids: N_SAMPLES caps the sequences; text: N_SAMPLES counts documents (spec §2.2) */
    if (ids) snprintf(sel, sizeof sel, "--ids %s%s%.0d", q(a->calib, qc, sizeof qc), p->n_samples > 0 ? " --max-blocks " : "",
                      p->n_samples > 0 ? p->n_samples : 0);
    else snprintf(sel, sizeof sel, "%s %s --model %s%s%.0d", jsonl ? "--jsonl" : "--text", q(a->calib, qc, sizeof qc),
                  q(a->model, qm, sizeof qm), p->n_samples > 0 ? " --n-samples " : "", p->n_samples > 0 ? p->n_samples : 0);
    snprintf(cmd, sizeof cmd, "%s/awq-tokenize %s --seqlen %d --store %s", q(a->bin, qb, sizeof qb), sel, p->seqlen,
             q(a->store, qs, sizeof qs));
    snprintf(rule, rule_cap, "%s", cmd);
    /* $$ in the quoted strings is for make; the shell here needs single $ */
    for (char *d = cmd; (d = strstr(d, "$$")); ) memmove(d, d + 1, strlen(d));
    FILE *f = popen(cmd, "r");
    if (!f) return awq_fail_errno(errno, "cannot run awq-tokenize");
    char line[128] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    int st = pclose(f);
    line[strcspn(line, "\n")] = 0;
    if (st != 0) return awq_fail(AWQ_ERR_ARG, "calibration data '%s' could not be tokenized (see the message above)", a->calib);
    return awq_key_parse(key, line);
}

/* Which blocks one awq-quantize process treats. A block whose scales are in the store but whose
 * clip or packed object is not (a clip-grid rerun) needs no scale search: little GPU memory and
 * little work, so the start of a process and its GPU context (made one at a time by the driver,
 * ~0.2 s each) would dominate. Consecutive such blocks are batched so that about as many
 * processes run as fit in the GPUs' memory at once (procs: memest.h's clip-only need, slots.h).
 * (*end)[l] = the last block of the process starting at l, or -1 for a block inside a batch. */
static awq_err clip_only_batches(const char *store_root, int L, const awq_key *sc, const awq_key *cl, const awq_key *pk,
                                 int procs, int **end)
{
    int *clip_only = calloc((size_t)L, sizeof *clip_only);
    *end = malloc((size_t)L * sizeof **end);
    if (!clip_only || !*end) { free(clip_only); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    awq_store *s = NULL;
    int n = 0;
    if (awq_store_open(&s, store_root, 1) == AWQ_OK) {
        for (int l = 0; l < L; l++)
            n += clip_only[l] = awq_store_has(s, &sc[l]) && !(awq_store_has(s, &cl[l]) && awq_store_has(s, &pk[l]));
        awq_store_close(s);
    } else awq_clear_error(); /* no store yet: nothing is clip-only */
    const int per = (n + procs - 1) / procs;
    for (int l = 0; l < L; ) {
        int last = l;
        if (clip_only[l]) while (last + 1 < L && clip_only[last + 1] && last + 1 - l < per) last++;
        (*end)[l] = last;
        for (int b = l + 1; b <= last; b++) (*end)[b] = -1;
        l = last + 1;
    }
    free(clip_only);
    return AWQ_OK;
}

/* VERIFY=1: verify every object of the experiment that the store holds (decompressing it, as a
 * read does); a damaged one is moved aside, so that make builds it again in this run (`all` then
 * asks for every object, not only what the output needs). */
static awq_err verify_objects(const char *store_root, const awq_key *tok, const awq_key *act, const awq_key *sc,
                              const awq_key *ci, const awq_key *cl, const awq_key *pk, int L)
{
    awq_store *s = NULL;
    awq_err e = awq_store_open(&s, store_root, 0);
    int n = 0, bad = 0;
    double t0 = awq_now();
    const struct { const awq_key *k; int count; } kinds[] = {{tok, 1}, {act, L + 1}, {sc, L}, {ci, L}, {cl, L}, {pk, L}};
    for (int k = 0; k < 6 && !e; k++)
        for (int i = 0; i < kinds[k].count && !e; i++) {
            const awq_key *key = &kinds[k].k[i];
            if (!awq_store_has(s, key)) continue;
            n++;
            awq_err v = awq_store_verify(s, key);
            if (v == AWQ_ERR_FORMAT || v == AWQ_ERR_CHECKSUM) {
                awq_warn("%s; it is made again in this run", awq_errmsg());
                awq_clear_error();
                bad++;
                e = awq_store_move_aside(s, key);
            } else e = v;
        }
    if (!e) awq_info("plan: verified %d objects in %.1f s: %d damaged%s", n, awq_now() - t0, bad, bad ? ", moved aside" : "");
    awq_store_close(s);
    return e;
}

/* A step killed after its file was made leaves its claim: make does not run that step again, so
 * no step would take the claim over. Here every such claim (of a file that exists) is taken and
 * released when its holder is gone; a live holder's is left alone. */
static void sweep_claim(const char *file, const char *dir)
{
    char *c = awq_claim_path(file, dir);
    int stale = c && access(file, F_OK) == 0 && access(c, F_OK) == 0;
    free(c);
    if (!stale) return;
    awq_claims *cl = NULL;
    const awq_claim_opts o = {.dir = dir, .no_wait = 1};
    if (awq_claims_take(&cl, &file, 1, &o) == AWQ_OK) awq_claims_release(cl);
    else awq_clear_error(); /* held by a live process, or unreadable: not ours to remove */
}

static void sweep_claims(const char *store_root, const char *work, const char *out, const awq_key *const *keys,
                         const int *counts, int n_kinds, const awq_model *m, const awq_key *pk, int fmt, const char *rest_shard)
{
    char path[PATH_MAX], claims[PATH_MAX], h[AWQ_KEY_HEX + 1], shard[AWQ_SHARD_NAME_MAX];
    for (int k = 0; k < n_kinds; k++)
        for (int i = 0; i < counts[k]; i++) {
            awq_key_hex(&keys[k][i], h);
            snprintf(path, sizeof path, "%s/objects/%.2s/%s", store_root, h, h + 2);
            sweep_claim(path, NULL);
        }
    snprintf(claims, sizeof claims, "%s/claims", work); /* the output's files (awq-step --in) */
    for (int l = 0; pk && l <= m->cfg.num_hidden_layers; l++) {
        if (l < m->cfg.num_hidden_layers) awq_block_shard_name(l, &pk[l], fmt, shard);
        snprintf(path, sizeof path, "%s/shards/%s", work, l < m->cfg.num_hidden_layers ? shard : rest_shard);
        sweep_claim(path, claims);
    }
    sweep_claim(out, claims);
}

/* DEVICES and LAUNCHER (make variables that reach the steps as $AWQ_DEVICES and $AWQ_LAUNCHER,
 * and enter no key): checked here, once, in the user's words, rather than by every step. */
static awq_err check_launch(void)
{
    awq_devices d;
    awq_err e = awq_devices_get(&d);
    if (e) return e;
    const char *l = getenv("AWQ_LAUNCHER");
    if (!l || !*l || strcmp(l, "local") == 0) return AWQ_OK;
    if (strcmp(l, "slurm") != 0) {
        awq_fail(AWQ_ERR_ARG, "LAUNCHER=%s: not one of local, slurm", l);
        awq_hint("LAUNCHER=local runs the steps here (make -j, every GPU of DEVICES); LAUNCHER=slurm runs each as a Slurm job step");
        return AWQ_ERR_ARG;
    }
    const char *job = getenv("SLURM_JOB_ID");
    if (!job || !*job) {
        awq_fail(AWQ_ERR_ARG, "LAUNCHER=slurm: not inside a Slurm allocation (SLURM_JOB_ID is not set)");
        awq_hint("salloc -N 2 --gres=gpu:8 make -j quantize LAUNCHER=slurm ..., or its batch script from outside (README: Many GPUs and clusters)");
        return AWQ_ERR_ARG;
    }
    return AWQ_OK;
}

/* The GPU memory pools of this run (slots.h), sized from each device's free memory now and the
 * largest block's need (memest.h), written for the steps; one line per device says what was
 * found and chosen. T: the calibration tokens (0: not known yet, the default 128 sequences). */
static awq_err size_pools(const plan_args *a, const awq_params *p, const awq_model *m, long T, awq_devices *d,
                          awq_mem_need *need)
{
    const awq_config *c = &m->cfg;
    const int seqlen = p->seqlen > 0 ? p->seqlen : 512;
    const long n_seq = T > 0 ? T / seqlen : 128;
    memset(need, 0, sizeof *need);
    for (int l = 0; l < c->num_hidden_layers; l++) { /* dense and experts' blocks differ */
        awq_mem_need n;
        awq_mem_estimate(c, awq_layer_experts(c, l), 0, n_seq, seqlen, p->round_f16, awq_mem_on_gpu(p->device), &n);
        if (n.search > need->search) *need = n;
    }
    awq_err e = awq_devices_get(d);
    if (e || d->unbounded) return e;
    awq_pool_size(d, need->search);
    if (!a->dry) e = awq_mkdirs(a->work);
    if (!e && !a->dry) e = awq_pool_write(d, a->work);
    char s1[32], s2[32], s3[32], s4[32];
    for (int i = 0; !e && i < d->n; i++) {
        const double pool = d->units[i] * d->unit_b;
        const int at_once = d->units[i] / awq_pool_units_for(d, i, need->search);
        char dev[16];
        if (d->ordinal[i] < 0) snprintf(dev, sizeof dev, "cpu");
        else snprintf(dev, sizeof dev, "%s%d", d->simulated ? "sim" : "gpu", d->ordinal[i]);
        if (d->jobs)
            awq_info("plan: %s %s: %s free; a block's scale search needs ~%s; AWQ_QUANTIZE_JOBS=%d: %d at once", dev,
                     d->card[i], awq_mem_str(d->free_b[i], s1, sizeof s1), awq_mem_str(need->search, s2, sizeof s2),
                     d->jobs, d->jobs * d->listed[i]);
        else if (need->search <= pool)
            awq_info("plan: %s %s: %s free; a block's scale search needs ~%s (clip-only ~%s): %d at once", dev, d->card[i],
                     awq_mem_str(d->free_b[i], s1, sizeof s1), awq_mem_str(need->search, s2, sizeof s2),
                     awq_mem_str(need->clip, s3, sizeof s3), at_once);
        else
            awq_info("plan: %s %s: %s free; a block's scale search needs ~%s, more than the %s it can use: one at a time, "
                     "the tokens in chunks (~%s)", dev, d->card[i], awq_mem_str(d->free_b[i], s1, sizeof s1),
                     awq_mem_str(need->search, s2, sizeof s2), awq_mem_str(pool, s3, sizeof s3),
                     awq_mem_str(need->chunked, s4, sizeof s4));
        if (!d->jobs && need->chunked > pool)
            awq_warn("%s: even in chunks a scale search needs ~%s, more than the %s free there: steps may run out of memory "
                     "(hint: fewer calibration tokens, %s, or %s)", dev, awq_mem_str(need->chunked, s1, sizeof s1),
                     awq_mem_str(pool, s2, sizeof s2), AWQ_SAY("n_samples", "64"), AWQ_SAY("device", "cpu"));
    }
    return e;
}

static awq_err plan(const plan_args *a, const awq_params *p, const char *store_root)
{
    awq_model *m = NULL;
    awq_err e = awq_model_open(&m, a->model);
    /* a checkpoint: AutoAWQ GEMM (4 bits), compressed-tensors (FORMAT=ct, 2..8 bits) or --export's
     * scaled + clipped fp16 (any width); other widths in FORMAT=autoawq stay fake-quant objects */
    const awq_layout layout = awq_pack_layout(p);
    const int pack = layout != AWQ_LAYOUT_FAKE;
    if (!e) e = awq_params_check(p, &m->cfg, layout == AWQ_LAYOUT_GEMM && p->format == AWQ_FORMAT_AUTOAWQ);
    if (e) { awq_model_close(m); return e; }
    const int L = m->cfg.num_hidden_layers;
    awq_key *bk = calloc((size_t)L, sizeof *bk), ek, tok;
    awq_key *act = calloc((size_t)L + 1, sizeof *act), *sc = calloc((size_t)L, sizeof *sc), *sd = calloc((size_t)L, sizeof *sd);
    awq_key *cl = calloc((size_t)L, sizeof *cl), *pk = calloc((size_t)L, sizeof *pk), *ci = calloc((size_t)L, sizeof *ci);
    uint32_t *mag = calloc((size_t)L + 2, sizeof *mag);
    if (!bk || !act || !sc || !sd || !cl || !pk || !ci || !mag) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) e = block_keys(m, store_root, bk, &ek, mag);
    /* NaN, Inf or (in fp16 numerics) values fp16 cannot hold: refused here, before any step runs
     * and before anything is written, rather than by the step that meets them */
    if (!e) e = awq_model_check_values(m, mag, p->round_f16);
    static char tok_cmd[16384];
    if (!e) e = plan_tokens(a, p, &tok, tok_cmd, sizeof tok_cmd);
    long T = 0; /* calibration tokens, for the steps' memory (step_mb) */
    if (!e) {
        awq_store *ts = NULL;
        awq_object *to = NULL;
        const int32_t *ids;
        int n_seq = 0, seqlen = 0;
        if (awq_store_open(&ts, store_root, 1) == AWQ_OK && awq_tokens_get(ts, &tok, &to, &ids, &n_seq, &seqlen) == AWQ_OK)
            T = (long)n_seq * seqlen;
        else awq_clear_error(); /* an estimate only: read again by the steps, which report it */
        awq_object_free(to);
        awq_store_close(ts);
    }
    char rest_shard[AWQ_SHARD_NAME_MAX];
    if (!e) e = awq_rest_shard_name(m, rest_shard);
    /* Every key, with the same functions the stages use. */
    if (!e) e = awq_act0_key(m, &tok, p, &act[0], NULL);
    for (int l = 0; !e && l < L; l++) {
        e = awq_act_next_key(m, l, &act[l], p, &act[l + 1], NULL);
        if (!e) e = awq_scales_key(m, l, &act[l], p, &sc[l], NULL);
        if (!e) e = awq_scaled_key(m, l, &sc[l], p, &sd[l], NULL);
        if (!e) e = awq_clipin_key(m, l, &act[l], p, &ci[l], NULL);
        if (!e) e = awq_clip_key(&sd[l], &act[l], p, &cl[l], NULL);
        if (!e) e = awq_packed_key(m, l, &sd[l], &cl[l], p, &pk[l], NULL); /* p->export_fp16 is in the key */
    }
    if (!e && p->verify) e = verify_objects(store_root, &tok, act, sc, ci, cl, pk, L);
    if (e) goto done;

    char qm[4096], qo[4096], o1[64], o2[64], o3[64], o4[64], h1[AWQ_KEY_HEX + 1];
    /* each step's parameters, from the record, as the step's own program reads them (params.h) */
    char capture_params[1024], quantize_params[1024], assemble_params[1024], shard_params[256];
    e = awq_params_argv(capture_params, sizeof capture_params, p, AWQ_PROGRAM_CAPTURE);
    if (!e) e = awq_params_argv(quantize_params, sizeof quantize_params, p, AWQ_PROGRAM_QUANTIZE);
    if (!e) e = awq_params_argv(assemble_params, sizeof assemble_params, p, AWQ_PROGRAM_ASSEMBLE);
    if (!e) e = awq_params_argv(shard_params, sizeof shard_params, p, AWQ_PROGRAM_SHARD);
    if (e) goto done;
    buf mk = {0}, man = {0}, keys = {0};
    bput(&mk, "# plan.mk - written by awq-plan; targets are object files named by their keys.\n"
              "# Re-run `make quantize` (which re-plans) rather than editing this file.\n\n");
    bput(&mk, "S := %s/objects\nBIN := %s\nMODEL := %s\nOUT := %s\nWORK := %s\nSTORE := %s\n",
         store_root, a->bin, a->model, a->out, a->work, store_root);
    /* the steps speak to whoever started the plan: make variables when `make quantize` did
     * (AWQ_VIA_MAKE, log.h), the programs' flags when awq-plan was run by hand */
    bput(&mk, "RUN = AWQ_CACHE=$(STORE) AWQ_WORK=$(WORK)%s $(BIN)/awq-step\n.SUFFIXES:\n\n",
         awq_via_make() ? " AWQ_VIA_MAKE=1" : "");
    bput(&mk, ".DEFAULT_GOAL := all\n\n");
    /* each block's awq-quantize is one rule for three objects: an older make would run it three
     * times, once per object, and fail the key check */
    bput(&mk, "ifeq ($(filter grouped-target,$(.FEATURES)),)\n$(error awqmake needs GNU make 4.3 or newer (grouped targets); "
              "this is make $(MAKE_VERSION))\nendif\n\n");
    q(a->model, qm, sizeof qm);
    q(a->out, qo, sizeof qo);
    /* act.0: the embedding of the tokens (the tokens object was stored by the plan itself; its
     * rule makes it again if it is lost during the run) */
    bput(&mk, "%s:\n\t@$(RUN) $@ - tokenize -- %s\n\n", obj(&tok, o1), tok_cmd);
    bput(&mk, "%s: | %s\n\t@AWQ_STEP_MB=%ld $(RUN) %s - embed -- $(BIN)/awq-capture -m %s --tokens %s%s\n\n", obj(&act[0], o1),
         obj(&tok, o3), step_mb(m, -1, T), obj(&act[0], o2), qm, hexs(&tok, h1), capture_params);
    bput(&man, "block\tstage\tkey\n-\ttokens\t%s\n", hexs(&tok, h1));
    int *batch_end = NULL;
    /* the GPUs' memory pools, sized now for this model and these tokens (one line per GPU) */
    awq_devices dv;
    awq_mem_need need;
    if (!e) e = size_pools(a, p, m, T, &dv, &need);
    if (!e) e = clip_only_batches(store_root, L, sc, cl, pk, dv.unbounded ? 12 : awq_pool_fit(&dv, need.clip), &batch_end);
    for (int l = 0; !e && l < L; l++) {
        /* capture: the next block's input, from the ORIGINAL block: never waits on a search */
        bput(&mk, "%s: | %s\n\t@AWQ_STEP_MB=%ld $(RUN) %s %d capture -- $(BIN)/awq-capture -m %s -b %d -i %s%s\n\n",
             obj(&act[l + 1], o1), obj(&act[l], o2), step_mb(m, l, T), obj(&act[l + 1], o3), l, qm, l, hexs(&act[l], h1),
             capture_params);
        const struct { const char *stage; const awq_key *k; } rows[] = {
            {"input", &act[l]}, {"scale-search", &sc[l]}, {"clip-search", &cl[l]}, {"pack", &pk[l]}};
        for (int r = 0; r < 4; r++) bput(&man, "%d\t%s\t%s\n", l, rows[r].stage, hexs(rows[r].k, h1));
        if (batch_end[l] < 0) continue; /* inside a batch written at its first block */
        /* the AWQ treatment of the block (or of blocks l..end, a batch of clip-only work), one
         * process making their objects (awq-quantize; a grouped target: any of them missing
         * runs it once, and it makes only what is missing). The scaled block is never stored:
         * awq-quantize folds the scales in memory. The clip inputs are one of its objects: the
         * output does not need them, but a later clip rerun does, so a lost or damaged one
         * (VERIFY=1) is made again, by a forward of the block only. */
        const int end = batch_end[l];
        for (int b = l; b <= end; b++)
            bput(&mk, "%s %s %s %s ", obj(&sc[b], o1), obj(&cl[b], o2), obj(&pk[b], o3), obj(&ci[b], o4));
        bput(&mk, "&: |");
        for (int b = l; b <= end; b++) bput(&mk, " %s", obj(&act[b], o1));
        char label[32];
        snprintf(label, sizeof label, end > l ? "%d-%d" : "%d", l, end);
        /* the step claims every object it makes (awq-step), not only the target: another
         * experiment may share the scales of a block whose clip and packed objects differ */
        long mb = 0; /* a batch holds one block at a time */
        for (int b = l; b <= end; b++) mb = step_mb(m, b, T) > mb ? step_mb(m, b, T) : mb;
        bput(&mk, "\n\t@AWQ_STEP_MB=%ld AWQ_STEP_TOKENS=%ld $(RUN) %s %s quantize", mb, T, obj(&pk[l], o1), label);
        for (int b = l; b <= end; b++) {
            bput(&mk, " %s %s %s", obj(&sc[b], o1), obj(&cl[b], o2), obj(&ci[b], o3));
            if (b > l) bput(&mk, " %s", obj(&pk[b], o1));
        }
        bput(&mk, " -- $(BIN)/awq-quantize -m %s -b %d -i ", qm, l);
        for (int b = l; b <= end; b++) bput(&mk, "%s%s", b > l ? "," : "", hexs(&act[b], h1));
        bput(&mk, "%s\n\n", quantize_params);
    }
    free(batch_end);
    if (e) goto done;
    /* the objects by kind, for the rules below and .PRECIOUS */
    bput(&mk, "PACKED :=");
    for (int l = 0; l < L; l++) bput(&mk, " %s", obj(&pk[l], o1));
    bput(&mk, "\nACTS :=");
    for (int l = 0; l <= L; l++) bput(&mk, " %s", obj(&act[l], o1));
    bput(&mk, "\nSEARCH :=");
    for (int l = 0; l < L; l++) bput(&mk, " %s %s", obj(&sc[l], o1), obj(&cl[l], o2));
    bput(&mk, "\nCLIPINS :=");
    for (int l = 0; l < L; l++) bput(&mk, " %s", obj(&ci[l], o1));
    bput(&mk, "\nTOKENS := %s\n", obj(&tok, o1));
    /* The capture chain is the serial path: make's walk meets its next link first (and so gives
     * it the next job slot, before any search) when the last input a block needs comes first in
     * the prerequisites of the goal. It is made anyway (an order-only prerequisite of that
     * block's step), so this changes the order, not what is made. */
    bput(&mk, "CHAIN := %s\n", obj(&act[L > 0 ? L - 1 : 0], o1));
    /* VERIFY=1 moved damaged objects aside: `all` asks for every object of the experiment (act.L
     * feeds nothing and is not made), so that make builds them again */
    bput(&mk, "VERIFIED :=");
    if (p->verify) {
        bput(&mk, " $(TOKENS) $(PACKED) $(SEARCH) $(CLIPINS)");
        for (int l = 0; l < L; l++) bput(&mk, " %s", obj(&act[l], o1));
    }
    bput(&mk, "\n");
    /* the output checkpoint (4-bit GEMM, or --export fp16): a shard file per block, written as
     * soon as its packed object exists, and one of the non-block tensors; assemble links them */
    if (pack) {
        char shard[AWQ_SHARD_NAME_MAX];
        bput(&mk, "\nSHARDS :=");
        for (int l = 0; l < L; l++) { awq_block_shard_name(l, &pk[l], p->format, shard); bput(&mk, " $(WORK)/shards/%s", shard); }
        bput(&mk, " $(WORK)/shards/%s", rest_shard);
        bput(&mk, "\n\n");
        for (int l = 0; l < L; l++) {
            awq_block_shard_name(l, &pk[l], p->format, shard);
            bput(&mk, "$(WORK)/shards/%s: | %s\n\t@$(RUN) $@ %d shard -- $(BIN)/awq-shard -m %s --block %d --packed %s%s -o $@\n\n",
                 shard, obj(&pk[l], o1), l, qm, l, hexs(&pk[l], h1), shard_params);
        }
        bput(&mk, "$(WORK)/shards/%s:\n\t@$(RUN) $@ - shard -- $(BIN)/awq-shard -m %s --rest -o $@\n\n", rest_shard, qm);
        /* the output directory: rebuilt when out.keys changes, its inputs as order-only
         * prerequisites (the objects' mtimes track use for gc, not content) */
        bput(&mk, "$(OUT)/config.json: $(WORK)/out.keys | $(CHAIN) $(SHARDS) $(SEARCH)\n\t@$(RUN) %s - assemble -- $(BIN)/awq-assemble -m %s -o %s%s --shards-dir $(WORK)/shards \\\n\t\t--manifest $(WORK)/manifest.tsv --search-results $(WORK)/awq_search_results.safetensors --packed ",
             "$(OUT)", qm, qo, assemble_params);
        for (int l = 0; l < L; l++) bput(&mk, "%s%s", l ? "," : "", hexs(&pk[l], h1));
        bput(&mk, " \\\n\t\t--scales ");
        for (int l = 0; l < L; l++) bput(&mk, "%s%s", l ? "," : "", hexs(&sc[l], h1));
        bput(&mk, " \\\n\t\t--clips ");
        for (int l = 0; l < L; l++) bput(&mk, "%s%s", l ? "," : "", hexs(&cl[l], h1));
        bput(&mk, "\n\n");
    }
    /* after the variables it names: a rule's prerequisites are expanded when it is read */
    bput(&mk, "# Every output appears atomically, so nothing is ever deleted on an error or an interrupt.\n"
              ".PRECIOUS: $(OUT)/config.json $(TOKENS) $(ACTS) $(PACKED) $(SEARCH) $(CLIPINS)%s\n\n", pack ? " $(SHARDS)" : "");
    /* a recipe that does nothing, so that make has something to do and no "Nothing to be done" to say */
    if (pack) bput(&mk, ".PHONY: all\nall: $(OUT)/config.json $(VERIFIED)\n\t@:\n\n");
    else bput(&mk, ".PHONY: all\nall: $(CHAIN) $(PACKED) $(SEARCH) $(VERIFIED)\n\t@echo 'awqmake: w_bit %d has no AutoAWQ GEMM checkpoint: the fake-quantized blocks are in the store; evaluate them with make eval' >&2\n"
                   "\t@echo 'hint: %s writes a compressed-tensors checkpoint of %d-bit weights from the same search' >&2\n\n",
                   p->w_bit, AWQ_SAY("format", "ct"), p->w_bit);
    bput(&keys, "%s\n", assemble_params); /* what the checkpoint's config says, beside the blocks' keys */
    for (int l = 0; l < L; l++) bput(&keys, "%s\n", hexs(&pk[l], h1));
    if (pack) bput(&keys, "%s\n", rest_shard); /* the non-block tensors (the model's files) */
    if (mk.oom || man.oom || keys.oom) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory writing the plan"); goto freebufs; }

    /* How much is there already. */
    int total = 0, have = 0;
    const awq_key *all[] = {act, sc, cl, pk};
    const int counts[] = {L, L, L, L}; /* act.L feeds nothing */
    awq_store *s = NULL;
    if (!(e = awq_store_open(&s, store_root, 1))) {
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < counts[k]; i++) { total++; have += awq_store_has(s, &all[k][i]); }
        awq_store_close(s);
    }
    if (!e) {
        awq_info("plan: %d blocks, %d objects: %d in the store, %d to compute", L, total, have, total - have);
        if (!a->dry) {
            char path[PATH_MAX];
            e = awq_mkdirs(a->work);
            snprintf(path, sizeof path, "%s/plan.mk", a->work);
            if (!e) e = write_if_changed(path, mk.p, mk.n);
            snprintf(path, sizeof path, "%s/manifest.tsv", a->work);
            if (!e) e = write_if_changed(path, man.p, man.n);
            snprintf(path, sizeof path, "%s/out.keys", a->work);
            if (!e) e = write_if_changed(path, keys.p, keys.n);
            const awq_key *kinds[] = {&tok, act, sc, ci, cl, pk};
            const int n_of[] = {1, L, L, L, L, L};
            if (!e) sweep_claims(store_root, a->work, a->out, kinds, n_of, 6, m, pack ? pk : NULL, p->format, rest_shard);
        }
    }
freebufs:
    free(mk.p); free(man.p); free(keys.p);
done:
    free(bk); free(act); free(sc); free(sd); free(cl); free(pk); free(ci); free(mag);
    awq_model_close(m);
    return e;
}

int main(int argc, char **argv)
{
    plan_args a = {0};
    const awq_opt own[] = {
        {"model", 'm', AWQ_OPT_STRING, &a.model, "DIR", "HF model directory", 1},
        {"calib", 'c', AWQ_OPT_STRING, &a.calib, "FILE", "calibration: ids (*.i32, int32 LE), *.jsonl or text (one document per line)", 1},
        {"out", 'o', AWQ_OPT_STRING, &a.out, "DIR", "output model directory", 1},
        {"work", 0, AWQ_OPT_STRING, &a.work, "DIR", "where plan.mk and the manifest go", 1},
        {"store", 0, AWQ_OPT_STRING, &a.store, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {"bin", 0, AWQ_OPT_STRING, &a.bin, "DIR", "directory of the awq-* programs", 1},
        {"dry-run", 'n', AWQ_OPT_FLAG, &a.dry, NULL, "print the summary, write nothing", 0},
        {0},
    };
    awq_cli cli = {"awq-plan", "plan an AWQ experiment: write the makefile of every object by key", "[VAR=VALUE...]",
                   "Parameters are given as options or as make variables (VAR=VALUE: W_BIT=4 GROUP=128 ..., the\n"
                   "words `make quantize` takes; later ones win). Each step's command line in plan.mk carries the\n"
                   "parameters of that step, written from the same record (stages/common/params.def).", 0, 0};
    awq_params p;
    awq_params_default(&p);
    awq_optlist l;
    awq_optlist_init(&l, own);
    awq_param_opts(&l, &p, AWQ_PROGRAM_PLAN);
    int rc = awq_optlist_parse(&cli, &l, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    awq_err e = awq_params_finish(&p, AWQ_PROGRAM_PLAN);
    for (int i = 0; !e && i < cli.n_positional; i++) { /* VAR=VALUE, as `make quantize` passes them */
        char name[64];
        const char *arg = cli.positional[i], *eq = strchr(arg, '=');
        if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof name) {
            e = awq_fail(AWQ_ERR_ARG, "'%s' is not VAR=VALUE", arg);
            break;
        }
        snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
        e = awq_param_set(&p, name, eq + 1);
    }
    if (e) { awq_report(cli.prog); return 2; }
    /* absolute paths: plan.mk runs from anywhere */
    char model[PATH_MAX], bin[PATH_MAX], store[PATH_MAX], calib[PATH_MAX], out[PATH_MAX + 2], work[PATH_MAX + 2];
    awq_store *s = NULL;
    if (!realpath(a.model, model)) e = awq_fail_errno(errno, "cannot open model directory '%s'", a.model);
    if (!e && !realpath(a.calib, calib)) e = awq_fail_errno(errno, "cannot open calibration data '%s'", a.calib);
    if (!e && !realpath(a.bin, bin)) e = awq_fail_errno(errno, "cannot find the programs in '%s'", a.bin);
    if (!e) e = awq_store_open(&s, a.store, 1);
    if (!e && !realpath(awq_store_root(s), store)) e = awq_fail_errno(errno, "cannot open the store");
    awq_store_close(s);
    if (!e) {
        /* OUT and WORK may not exist yet: resolve their parent directories */
        const char *names[2] = {a.out, a.work};
        char *dst[2] = {out, work};
        for (int i = 0; i < 2 && !e; i++) {
            char parent[PATH_MAX], rp[PATH_MAX];
            snprintf(parent, sizeof parent, "%s", names[i]);
            char *slash = strrchr(parent, '/');
            const char *base = slash ? slash + 1 : parent;
            if (slash == parent) snprintf(parent, sizeof parent, "/");
            else if (slash) *slash = 0;
            else snprintf(parent, sizeof parent, ".");
            if (!*base) { e = awq_fail(AWQ_ERR_ARG, "'%s' must name a directory, without a trailing slash", names[i]); break; }
            char basebuf[PATH_MAX];
            snprintf(basebuf, sizeof basebuf, "%s", strrchr(names[i], '/') ? strrchr(names[i], '/') + 1 : names[i]);
            if (awq_mkdirs(parent) || !realpath(parent, rp)) { e = awq_fail_errno(errno, "cannot create '%s'", parent); break; }
            snprintf(dst[i], PATH_MAX + 2, "%s/%s", strcmp(rp, "/") ? rp : "", basebuf);
        }
    }
    if (!e) {
        a.model = model; a.calib = calib; a.bin = bin; a.store = store; a.out = out; a.work = work;
        e = check_launch();
        if (!e) e = plan(&a, &p, store);
    }
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
