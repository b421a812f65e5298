/* quantize.c - awq-quantize: the whole AWQ treatment of one decoder block in one process, as
 * the plan runs it: the scale search on the block's captured input (awq-scale-search), the scales
 * folded into the block (awq-apply-scale), the clip search (awq-clip-search) and the quantized,
 * packed block (awq-pack). It stores the scales, clip and packed objects under the same keys the
 * four single-step programs use, and skips each one that is in the store already (a clip-grid
 * change recomputes clip + pack, and reads the scales). The scale search also stores the clip
 * search's inputs (clipin: the sampled rows of the linears' captured inputs, ~24 MB per 7B block),
 * so a clip-grid change reads those instead of the 0.5 GB block input and runs no forward. The scaled block is computed in memory
 * and never stored: on a 7B model that is 12 GB of store per experiment saved, and one process
 * instead of four per block saves three GPU context start-ups and teardowns, two loads of the
 * block input and two of the scaled block (docs/PERFORMANCE.md). Prints the packed key.
 * Given the inputs of consecutive blocks it treats them one after the other in one process: a
 * clip-only rerun then pays for one GPU context per batch instead of one per block (contexts
 * are made one at a time by the driver: 32 of them were ~7 s of a 15 s rerun on an H100). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../cache/prof.h"
#include "common/act.h"
#include "common/awqobj.h"
#include "common/device.h"
#include "common/devmem.h"
#include "common/log.h"
#include "common/slots.h"
#include "common/stage.h"

/* On a GPU the host work of a step is conversions and packing, the same whatever the thread
 * count: a dozen steps sharing the cores each get their share of them (slots.h) instead of a
 * thread per core each. CPU runs keep every core (their arithmetic is on the host). */
static void share_cores(const awq_backend *be, const awq_slots *units)
{
#ifdef _OPENMP
    int t = awq_slots_threads(units);
    if (be && strcmp(be->name, "cpu") != 0 && t > 0) omp_set_num_threads(t);
#else
    (void)be; (void)units;
#endif
}

/* A block's act object read and decompressed on a second thread (host work: zstd and the
 * checksums) while this one waits for the GPU context or runs the previous block on the GPU. */
typedef struct prefetch {
    pthread_t thread;
    awq_store *s;
    awq_key key;
    int threads;          /* OpenMP threads for the decompression (the step's share), 0 = default */
    awq_object *obj;
    awq_err e;
    int running;
    char msg[1024], hint[1024];   /* the thread's error, carried to the caller's thread */
} prefetch;

static void *prefetch_main(void *arg)
{
    prefetch *pf = arg;
#ifdef _OPENMP
    if (pf->threads > 0) omp_set_num_threads(pf->threads);
#endif
    pf->e = awq_store_get(pf->s, &pf->key, &pf->obj);
    if (pf->e) { snprintf(pf->msg, sizeof pf->msg, "%s", awq_errmsg()); snprintf(pf->hint, sizeof pf->hint, "%s", awq_errhint()); }
    return NULL;
}

static void prefetch_start(prefetch *pf, awq_store *s, const awq_key *key, int threads)
{
    *pf = (prefetch){.s = s, .key = *key, .threads = threads};
    pf->running = pthread_create(&pf->thread, NULL, prefetch_main, pf) == 0; /* else read when needed */
}

/* The object (NULL: no prefetch ran; the caller reads it itself), or the thread's error. */
static awq_err prefetch_join(prefetch *pf, awq_object **obj)
{
    *obj = NULL;
    if (!pf->running) return AWQ_OK;
    pthread_join(pf->thread, NULL);
    pf->running = 0;
    if (pf->e) {
        awq_fail(pf->e, "%s", pf->msg);
        if (pf->hint[0]) awq_hint("%s", pf->hint);
        return pf->e;
    }
    *obj = pf->obj;
    return AWQ_OK;
}

/* Wait for a prefetch nobody will use and free what it read (its error is not reported). */
static void prefetch_drop(prefetch *pf)
{
    if (!pf->running) return;
    pthread_join(pf->thread, NULL);
    pf->running = 0;
    awq_object_free(pf->obj);
}

/* OpenMP threads for a prefetch: the share of the cores of a step holding one unit (0: no bound) */
static int one_unit_threads(void)
{
    awq_slots one = {.n = 1};
    return awq_slots_threads(&one);
}

/* What a block has in the store already (verified), and whether its input must be read: for the
 * scale search, or for a clip search whose inputs (the clipin object) are not stored. */
enum { HAVE_SCALES, HAVE_CLIP, HAVE_PACKED, HAVE_CLIPIN, HAVE__N };
static int needs_input(const int *h) { return !h[HAVE_SCALES] || (!h[HAVE_CLIP] && !h[HAVE_CLIPIN]); }

/* The first block from `from` on whose input is needed, or n. */
static int next_input(int (*have)[HAVE__N], int from, int n)
{
    while (from < n && !needs_input(have[from])) from++;
    return from;
}

typedef struct keys { awq_key act, scales, scaled, clipin, clip, packed; char *r_scales, *r_clipin, *r_clip, *r_packed; } keys;

static void keys_free(keys *k) { free(k->r_scales); free(k->r_clipin); free(k->r_clip); free(k->r_packed); }

static awq_err make_keys(const awq_model *m, int block, const awq_params *p, keys *k)
{
    awq_err e = awq_scales_key(m, block, &k->act, p, &k->scales, &k->r_scales);
    if (!e) e = awq_clipin_key(m, block, &k->act, p, &k->clipin, &k->r_clipin);
    if (!e) e = awq_scaled_key(m, block, &k->scales, p, &k->scaled, NULL);
    if (!e) e = awq_clip_key(&k->scaled, &k->act, p, &k->clip, &k->r_clip);
    if (!e) e = awq_packed_key(m, block, &k->scaled, &k->clip, p, &k->packed, &k->r_packed);
    return e;
}

/* What the blocks of one process share: the backend (one CUDA context for all of them) and the
 * GPU memory units held. */
typedef struct step { const awq_backend *be; awq_slots units; } step;

/* Compute what is missing of scales / clip / packed of one block (have[]: what the store has,
 * verified); act: its input object when already read (owned), else NULL. */
static awq_err run(step *st, int block, const awq_stage_opts *so, const awq_params *p, awq_store *s, const awq_model *m,
                   const keys *k, awq_object *act, const int *have)
{
    /* GPU memory: a scale search holds 3 units, the rest of the step 1 (slots.h); so does a
     * clip-only step whose inputs are not stored (the search's forward makes them) */
    awq_err e = awq_slots_take(&st->units, needs_input(have) ? AWQ_SLOT_UNITS_SEARCH : 1);
    if (!e && !st->be) {
        e = awq_backend_open(so->device, &st->be);
        awq_prof_dev(st->be, "stage: open model, backend");
    }
    const awq_backend *be = st->be;
    share_cores(be, &st->units);
    float *x = NULL;
    int n_seq = 0, seqlen = 0, n_res = 0, n_clip = 0;
    awq_block_f32 b = {0};
    awq_scale_result res[4];
    awq_clip_result clips[7];
    awq_clip_in ci = {0};
    int have_ci = 0, put_ci = 0;
    float *max_val[AWQ_SLOT__COUNT] = {0};
    double t0 = awq_now();
    if (!e && act) { e = awq_act_load_object(act, &k->act, m, be, &x, &n_seq, &seqlen); act = NULL; }
    else if (!e && needs_input(have)) e = awq_act_load(s, &k->act, m, be, &x, &n_seq, &seqlen);
    awq_object_free(act); /* not used after an error */
    /* the block's weights go to the device once and stay there: searched, scaled in place,
     * clip-searched and quantized without another copy */
    if (!e) e = awq_block_f32_from_model_on(be, m, block, p->round_f16, &b);
    awq_prof_dev(be, "stage: block weights to the device");
    if (!e && have[HAVE_SCALES]) e = awq_scales_get(s, &k->scales, &m->cfg, res, &n_res);
    else if (!e) {
        /* the clip inputs come out of the search's own forward (stored for later clip reruns) */
        e = awq_search_scales(be, &m->cfg, p, &b, x, n_seq, seqlen, res, &n_res, have[HAVE_CLIP] ? NULL : &ci);
        have_ci = put_ci = !e && !have[HAVE_CLIP];
        if (!e) e = awq_scales_put(s, &k->scales, k->r_scales, res, n_res);
        if (!e) awq_info("block %d: %d groups searched in %.2f s", block, n_res, awq_now() - t0);
        awq_prof_mark("stage: put scales");
    }
    awq_slots_keep(&st->units, 1); /* the search's buffers are freed */
    share_cores(be, &st->units);
    if (!e && !have[HAVE_CLIP] && !have_ci) { /* a clip-only step: the stored inputs, else a forward of the original block */
        if (have[HAVE_CLIPIN]) e = awq_clipin_get(s, &k->clipin, &m->cfg, &ci);
        else {
            e = awq_clip_in_compute(be, &m->cfg, p, &b, x, n_seq, seqlen, &ci);
            put_ci = 1;
        }
        have_ci = !e;
        awq_prof_dev(be, "stage: clip inputs");
    }
    if (!e && put_ci) e = awq_clipin_put(s, &k->clipin, k->r_clipin, &ci, p->round_f16);
    if (x) { awq_dev_free(be, x); x = NULL; } /* device memory back: the rest reads the sampled rows only */
    /* the original block is not needed past this point: the scales go into it in place */
    if (!e) e = awq_apply_scales(&b, res, n_res, p->round_f16);
    awq_prof_mark("stage: apply scales");
    t0 = awq_now();
    if (!e && have[HAVE_CLIP]) e = awq_clips_get(s, &k->clip, max_val);
    else if (!e) {
        e = awq_clip_in_scale(&ci, res, n_res, p->round_f16);
        if (!e) e = awq_search_clips(be, &m->cfg, p, &b, &ci, clips, &n_clip);
        if (!e) e = awq_clips_put(s, &k->clip, k->r_clip, clips, n_clip);
        for (int i = 0; !e && i < n_clip; i++) max_val[clips[i].linear] = clips[i].max_val;
        if (!e) awq_info("block %d: %d linears clipped in %.2f s", block, n_clip, awq_now() - t0);
        awq_prof_mark("stage: put clips");
    }
    awq_clip_in_free(&ci);
    if (!e && !have[HAVE_PACKED]) e = awq_pack_block(s, &k->packed, k->r_packed, be, p, &b, max_val, NULL);
    if (n_clip) awq_clip_results_free(clips, n_clip); /* owns the max_val arrays then */
    else for (int l = 0; l < AWQ_SLOT__COUNT; l++) free(max_val[l]);
    awq_scale_results_free(res, n_res);
    awq_block_f32_free(&b);
    if (x) awq_dev_free(be, x);
    return e;
}

/* "K0,K1,..." -> out (at most cap keys); the count, or -1 after recording an error */
static int parse_inputs(const char *list, awq_key *out, int cap)
{
    int n = 0;
    for (const char *q = list; *q; n++) {
        size_t len = strcspn(q, ",");
        char hex[AWQ_KEY_HEX + 1] = {0};
        if (n == cap) { awq_fail(AWQ_ERR_ARG, "--input: more than %d keys", cap); return -1; }
        if (len != AWQ_KEY_HEX) {
            awq_fail(AWQ_ERR_ARG, "--input: entry %d is not a %d-digit key", n, AWQ_KEY_HEX);
            awq_hint("give the act key of block I, or of blocks I, I+1, ... separated by commas");
            return -1;
        }
        memcpy(hex, q, len);
        if (awq_parse_key_opt(&out[n], "input", hex)) return -1;
        q += len;
        if (*q == ',') q++;
    }
    return n;
}

int main(int argc, char **argv)
{
    const char *input = NULL;
    int export_fp16 = 0;
    awq_stage_opts so;
    awq_stage_opts_default(&so);
    awq_opt opts[32] = {
        {"input", 'i', AWQ_OPT_STRING, &input, "KEY[,KEY...]", "act object: the input of block I (from awq-capture); "
         "several keys: blocks I, I+1, ... one after the other in this process", 1},
        {"export", 0, AWQ_OPT_FLAG, &export_fp16, NULL, "pack the scaled + clipped fp16 weights (export_compatible, spec §3.6)", 0},
    };
    awq_stage_param_opts(opts + 2, &so, "model block device store print-key w-bit group n-grid duo-scaling semantics "
                                        "numerics clip-grid max-shrink n-sample-token");
    awq_cli cli = {"awq-quantize", "scale search, scaling, clip search and packing of a block (or of consecutive "
                   "blocks); prints the packed keys", NULL,
                   "Stores the scales, clip and packed objects (those not in the store yet) under the keys of "
                   "awq-scale-search, awq-clip-search and awq-pack, one packed key per line. Several blocks in one "
                   "process share one GPU context: the plan runs clip-only reruns that way.", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    awq_params p;
    if (awq_stage_params(cli.prog, &so, &p)) return 2;
    p.export_fp16 = export_fp16;

    awq_model *m = NULL;
    awq_store *s = NULL;
    awq_key acts[1024];
    int n_blocks = 0;
    step st = {0};
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&m, so.model);
    if (!e) awq_model_load_key_memo(m, so.store); /* the block keys awq-plan computed, if it did */
    if (!e) e = awq_params_check(&p, &m->cfg, p.w_bit == 4 && !export_fp16);
    if (!e && (n_blocks = parse_inputs(input, acts, (int)(sizeof acts / sizeof acts[0]))) < 0) e = AWQ_ERR_ARG;
    if (!e && n_blocks == 0) e = awq_fail(AWQ_ERR_ARG, "--input: no key given");
    if (!e && so.block + n_blocks > m->cfg.num_hidden_layers)
        e = awq_fail(AWQ_ERR_ARG, "--input: %d keys from block %d, but the model has %d blocks", n_blocks, so.block,
                     m->cfg.num_hidden_layers);
    if (!e && !so.print_key) e = awq_store_open(&s, so.store, 0);
    /* what each block lacks; done when all three are there (the packed object alone is not
     * enough: assemble also writes the searched scales and clips into the checkpoint) */
    keys *k = calloc((size_t)(n_blocks > 0 ? n_blocks : 1), sizeof *k);
    int (*have)[HAVE__N] = calloc((size_t)(n_blocks > 0 ? n_blocks : 1), sizeof *have);
    if (!e && (!k || !have)) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int i = 0; !e && i < n_blocks; i++) {
        k[i].act = acts[i];
        e = make_keys(m, so.block + i, &p, &k[i]);
        if (!e && !so.print_key) { /* each verified once */
            const awq_key *hk[HAVE__N] = {&k[i].scales, &k[i].clip, &k[i].packed, &k[i].clipin};
            for (int j = 0; j < HAVE__N; j++)
                have[i][j] = (j != HAVE_CLIPIN || (have[i][HAVE_SCALES] && !have[i][HAVE_CLIP])) && awq_stage_cached(s, hk[j]);
        }
        if (e) e = awq_context(e, "block %d", so.block + i);
    }
    prefetch pf = {0};
    int pf_block = e || so.print_key ? n_blocks : next_input(have, 0, n_blocks);
    if (pf_block < n_blocks) prefetch_start(&pf, s, &k[pf_block].act, one_unit_threads()); /* beside the GPU context's creation */
    for (int i = 0; !e && i < n_blocks; i++) {
        const int block = so.block + i;
        if (!so.print_key && !(have[i][HAVE_SCALES] && have[i][HAVE_CLIP] && have[i][HAVE_PACKED])) {
            awq_object *act = NULL;
            if (pf_block == i) e = prefetch_join(&pf, &act);
            /* the next input is read while this block computes (unless it is being read already) */
            if (!e && !pf.running && (pf_block = next_input(have, i + 1, n_blocks)) < n_blocks)
                prefetch_start(&pf, s, &k[pf_block].act, one_unit_threads());
            if (!e) e = run(&st, block, &so, &p, s, m, &k[i], act, have[i]);
        }
        if (e) e = awq_context(e, "block %d", block);
        else awq_print_key(&k[i].packed);
    }
    prefetch_drop(&pf); /* an error stopped the loop: wait for the reader, drop what it read */
    for (int i = 0; k && i < n_blocks; i++) keys_free(&k[i]);
    free(k); free(have);
    if (st.be) st.be->close(st.be);
    awq_slots_keep(&st.units, 0);
    awq_store_close(s);
    awq_model_close(m);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
