/* work.c - the block worker (work.h): each step asks for what it needs (need_*), which comes from
 * memory, the store or a computation, in that order, and stays for the next step. The block's
 * weights go to the device once and stay there: searched, scaled in place, clip-searched and
 * quantized without another copy. */
#include "work.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../base/prof.h"
#include "act.h"
#include "device.h"
#include "devmem.h"
#include "log.h"
#include "memest.h"
#include "params.h"
#include "stage.h"

void awq_work_init(awq_work *w, const awq_model *m, int block, const awq_params *p, awq_store *s, const awq_backend *be)
{
    memset(w, 0, sizeof *w);
    w->m = m, w->block = block, w->p = p, w->s = s, w->be = be;
}

static void free_recipes(awq_work_keys *k)
{
    free(k->r_scales); free(k->r_scaled); free(k->r_clipin); free(k->r_clip); free(k->r_packed);
    k->r_scales = k->r_scaled = k->r_clipin = k->r_clip = k->r_packed = NULL;
}

static void free_x(awq_work *w)
{
    if (w->x) awq_dev_free(w->be, w->x);
    w->x = NULL;
}

static void free_max_val(awq_work *w)
{
    for (int l = 0; l < AWQ_SLOT__COUNT; l++) { free(w->max_val[l]); w->max_val[l] = NULL; }
    w->clips_ready = 0;
}

void awq_work_free(awq_work *w)
{
    free_x(w);
    awq_object_free(w->input);
    awq_block_f32_free(&w->b);
    awq_scale_results_free(w->res, w->n_res);
    awq_clip_in_free(&w->ci);
    free_max_val(w);
    free_recipes(&w->k);
    if (w->own_be && w->be) w->be->close(w->be);
    memset(w, 0, sizeof *w);
}

awq_err awq_work_keys_from(awq_work *w, const awq_key *act, const awq_key *scales, const awq_key *scaled,
                           const awq_key *clip, int rtn)
{
    awq_work_keys *k = &w->k;
    const awq_model *m = w->m;
    const awq_params *p = w->p;
    free_recipes(k);
    k->known = 0;
    awq_err e = AWQ_OK;
    if (act) {
        k->act = *act, k->known |= AWQ_K_ACT;
        e = awq_clipin_key(m, w->block, act, p, &k->clipin, &k->r_clipin);
        if (!e) k->known |= AWQ_K_CLIPIN;
    }
    if (!e && scales) k->scales = *scales, k->known |= AWQ_K_SCALES;
    else if (!e && act) {
        e = awq_scales_key(m, w->block, act, p, &k->scales, &k->r_scales);
        if (!e) k->known |= AWQ_K_SCALES;
    }
    if (!e && (k->known & AWQ_K_SCALES)) {
        e = awq_scaled_key(m, w->block, &k->scales, p, &k->scaled, &k->r_scaled);
        if (!e && scaled && !awq_key_equal(scaled, &k->scaled)) {
            char a[AWQ_KEY_HEX + 1], b[AWQ_KEY_HEX + 1];
            awq_key_hex(scaled, a), awq_key_hex(&k->scales, b);
            e = awq_fail(AWQ_ERR_ARG, "the scaled block %s is not block %d scaled with the scales %s", a, w->block, b);
            awq_hint("pass the key awq-apply-scale printed for these scales (with the same numerics)");
        }
        if (!e) k->known |= AWQ_K_SCALED;
    } else if (!e && scaled) k->scaled = *scaled, k->known |= AWQ_K_SCALED;
    if (!e && clip) k->clip = *clip, k->known |= AWQ_K_CLIP;
    else if (!e && act && (k->known & AWQ_K_SCALED) && !rtn) {
        e = awq_clip_key(&k->scaled, act, p, &k->clip, &k->r_clip);
        if (!e) k->known |= AWQ_K_CLIP;
    }
    if (!e && (rtn || (k->known & AWQ_K_SCALED))) {
        e = awq_packed_key(m, w->block, rtn ? NULL : &k->scaled, (k->known & AWQ_K_CLIP) ? &k->clip : NULL, p, &k->packed,
                           &k->r_packed);
        if (!e) k->known |= AWQ_K_PACKED;
    }
    return e;
}

static const awq_key *key_of(const awq_work *w, unsigned kind)
{
    switch (kind) {
    case AWQ_K_SCALES: return &w->k.scales;
    case AWQ_K_SCALED: return &w->k.scaled;
    case AWQ_K_CLIPIN: return &w->k.clipin;
    case AWQ_K_CLIP: return &w->k.clip;
    case AWQ_K_PACKED: return &w->k.packed;
    default: return &w->k.act;
    }
}

/* Is object `kind` in the store (verified once, then remembered)? */
static int has(awq_work *w, unsigned kind)
{
    if (!(w->k.known & kind)) return 0;
    if (!(w->checked & kind)) {
        w->checked |= kind;
        if (w->s && awq_stage_cached(w->s, key_of(w, kind))) w->have |= kind;
    }
    return (w->have & kind) != 0;
}

/* The clip inputs' key is known (the block's input is) and the store has no such object: a step
 * that makes the block's objects makes them too (a later clip rerun reads them), also when the
 * clip and packed objects are there (they were lost, or found damaged by VERIFY=1). */
static int lacks_clipin(awq_work *w) { return (w->k.known & AWQ_K_CLIPIN) && !has(w, AWQ_K_CLIPIN); }

void awq_work_check(awq_work *w, unsigned which)
{
    for (unsigned kind = 1; kind < AWQ_K_ALL; kind <<= 1)
        if (which & kind) (void)has(w, kind);
}

void awq_work_give_input(awq_work *w, awq_object *input)
{
    awq_object_free(w->input);
    w->input = input;
}

/* On a GPU the host work of a step is conversions and packing, the same whatever the thread
 * count: a dozen steps sharing the cores each get their share of them (slots.h) instead of a
 * thread per core each. CPU runs keep every core (their arithmetic is on the host). */
static void share_cores(const awq_work *w)
{
#ifdef _OPENMP
    int t = w->units ? awq_slots_threads(w->units) : 0;
    if (w->be && !awq_backend_is_host(w->be) && t > 0) omp_set_num_threads(t);
#else
    (void)w;
#endif
}

/* The block's memory needs (memest.h) on the calibration tokens: $AWQ_STEP_TOKENS (the plan
 * knows them), else the default 128 sequences of SEQLEN. */
static void step_need(const awq_work *w, awq_mem_need *need)
{
    const char *t = getenv("AWQ_STEP_TOKENS");
    const int seqlen = w->p->seqlen > 0 ? w->p->seqlen : 512;
    long n_seq = t && *t ? strtol(t, NULL, 10) / seqlen : 128;
    if (n_seq < 1) n_seq = 1;
    awq_mem_estimate(&w->m->cfg, awq_layer_experts(&w->m->cfg, w->block), 0, n_seq, seqlen, w->p->round_f16,
                     awq_mem_on_gpu(w->p->device), need);
}

static awq_err need_units(awq_work *w, double bytes)
{
    awq_err e = w->units ? awq_slots_take(w->units, bytes) : AWQ_OK;
    share_cores(w);
    return e;
}

/* Give back units down to what `bytes` take (the rest of the step needs less). */
static void keep_units(awq_work *w, double bytes)
{
    if (!w->units || !w->units->bounded || w->units->unit_b <= 0) return;
    int keep = (int)ceil(bytes / w->units->unit_b);
    awq_slots_keep(w->units, keep < 1 ? 1 : keep);
}

static awq_err need_backend(awq_work *w)
{
    if (w->be) return AWQ_OK;
    /* on the device the step's memory units are on (slots.h); DEVICES=cpu:N: the CPU stands in */
    const awq_slots *u = w->units && w->units->placed ? w->units : NULL;
    awq_err e = awq_backend_open_on(u && u->simulated ? "cpu" : w->p->device, u ? u->ordinal : -1, &w->be);
    if (!e) w->be = awq_backend_test_limit(w->be);
    w->own_be = !e;
    awq_prof_dev(w->be, "stage: open backend");
    share_cores(w);
    return e;
}

/* the block input in backend memory */
static awq_err need_input(awq_work *w)
{
    if (w->x) return AWQ_OK;
    if (!(w->k.known & AWQ_K_ACT))
        return awq_fail(AWQ_ERR_ARG, "block %d: the block input is needed (its key was not given)", w->block);
    awq_err e = need_backend(w);
    if (!e && w->input) {
        e = awq_act_load_object(w->input, &w->k.act, w->m, w->be, &w->x, &w->n_seq, &w->seqlen);
        w->input = NULL;
    } else if (!e) e = awq_act_load(w->s, &w->k.act, w->m, w->be, &w->x, &w->n_seq, &w->seqlen);
    return e;
}

/* the original block, where the backend computes (host memory when there is none) */
static awq_err load_block(awq_work *w, awq_block_f32 *b)
{
    awq_err e = awq_block_f32_from_model_on(w->be ? w->be : awq_backend_cpu(), w->m, w->block, w->p->round_f16, b);
    awq_prof_dev(w->be, "stage: block weights to the device");
    return e;
}

static awq_err need_block(awq_work *w)
{
    if (w->b_loaded) return AWQ_OK;
    awq_err e = load_block(w, &w->b);
    w->b_loaded = !e;
    return e;
}

awq_err awq_work_scales(awq_work *w)
{
    if (w->res_ready) return AWQ_OK;
    awq_err e = AWQ_OK;
    if (has(w, AWQ_K_SCALES) || !(w->k.known & AWQ_K_ACT)) {
        e = awq_scales_get(w->s, &w->k.scales, &w->m->cfg, awq_layer_experts(&w->m->cfg, w->block), w->res, &w->n_res);
        w->res_ready = !e;
        return e;
    }
    double t0 = awq_now();
    e = need_backend(w);
    if (!e) e = need_input(w);
    if (!e) e = need_block(w);
    if (!e && w->b_scaled) e = awq_fail(AWQ_ERR_ARG, "block %d: internal: the scale search needs the original block", w->block);
    /* the clip inputs come out of the search's own forward (stored for later clip reruns) */
    const int capture = !w->ci_ready && (!has(w, AWQ_K_CLIP) || lacks_clipin(w));
    /* the memory it may use: what the step's units stand for (a step holding a whole GPU that is
     * smaller than the search's need works through the tokens in chunks, with the same result) */
    const double budget = w->units ? awq_slots_bytes(w->units) : 0;
    if (!e) {
        w->search_rows = w->chunk_rows ? w->chunk_rows
                                       : awq_search_chunk_rows(w->be, &w->m->cfg, awq_block_experts(&w->b), w->n_seq,
                                                               w->seqlen, w->p->round_f16, budget);
        e = w->chunk_rows ? awq_search_scales_chunked(w->be, &w->m->cfg, w->p, &w->b, w->x, w->n_seq, w->seqlen,
                                                      w->chunk_rows, w->res, &w->n_res, capture ? &w->ci : NULL)
                          : awq_search_scales_within(w->be, &w->m->cfg, w->p, &w->b, w->x, w->n_seq, w->seqlen, budget,
                                                     w->res, &w->n_res, capture ? &w->ci : NULL);
        w->search_oom = e == AWQ_ERR_NOMEM;
    }
    if (!e) e = awq_scales_put(w->s, &w->k.scales, w->k.r_scales, w->res, w->n_res);
    if (!e) {
        w->res_ready = 1, w->done |= AWQ_K_SCALES;
        w->n_groups = w->n_res, w->search_s = awq_now() - t0;
    }
    awq_prof_mark("stage: put scales");
    if (!e && capture) {
        w->ci_ready = 1;
        e = awq_clipin_put(w->s, &w->k.clipin, w->k.r_clipin, &w->ci, w->p->round_f16);
        if (!e) w->done |= AWQ_K_CLIPIN;
    }
    if (w->units && !e) { /* the search's buffers are freed: the clip search needs less (after a
                           * failure the step keeps what it held: a retry needs it, the hint says it) */
        awq_mem_need need;
        step_need(w, &need);
        keep_units(w, need.clip);
    }
    share_cores(w);
    return e;
}

/* the sampled rows of the original block's linear inputs: stored, else a forward of the original
 * block (then stored); the block input's memory goes back afterwards */
static awq_err need_clip_inputs(awq_work *w)
{
    awq_err e = AWQ_OK;
    if (w->ci_ready) goto done;
    if (has(w, AWQ_K_CLIPIN)) {
        e = awq_clipin_get(w->s, &w->k.clipin, &w->m->cfg, awq_layer_experts(&w->m->cfg, w->block), &w->ci);
        w->ci_ready = !e;
        goto done;
    }
    e = need_backend(w);
    if (!e) e = need_input(w);
    awq_block_f32 orig = {0};
    const awq_block_f32 *b = &w->b;
    if (!e && w->b_scaled) e = load_block(w, &orig), b = &orig; /* the block was scaled already */
    else if (!e) e = need_block(w);
    if (!e) e = awq_clip_in_compute(w->be, &w->m->cfg, w->p, b, w->x, w->n_seq, w->seqlen, &w->ci);
    awq_block_f32_free(&orig);
    if (!e) e = awq_clipin_put(w->s, &w->k.clipin, w->k.r_clipin, &w->ci, w->p->round_f16);
    if (!e) w->ci_ready = 1, w->done |= AWQ_K_CLIPIN;
    awq_prof_dev(w->be, "stage: clip inputs");
done:
    free_x(w); /* device memory back: the rest reads the sampled rows only */
    return e;
}

awq_err awq_work_scaled(awq_work *w, int store)
{
    awq_err e = AWQ_OK;
    if (!w->b_scaled && ((w->k.known & AWQ_K_SCALES) || w->res_ready)) {
        e = awq_work_scales(w);
        if (!e) e = need_block(w);
        /* the original block is not needed past this point: the scales go into it in place */
        if (!e) e = awq_apply_scales(&w->b, w->res, w->n_res, w->p->round_f16);
        w->b_scaled = !e;
        awq_prof_mark("stage: apply scales");
    } else if (!w->b_scaled) { /* only the scaled block's key is known (awq-pack --scaled) */
        e = awq_block_get(w->s, &w->k.scaled, "scaled", &w->b);
        /* what the stored tensors do not say: the block's place and the family's layout */
        w->b.layer1 = w->block + 1, w->b.fused = w->m->cfg.fused, w->b.norm_1p = w->m->cfg.gemma;
        w->b_loaded = w->b_scaled = !e;
    }
    if (!e && store && !has(w, AWQ_K_SCALED)) {
        e = awq_block_put(w->s, &w->k.scaled, "scaled", w->k.r_scaled, &w->b, w->p->round_f16);
        if (!e) w->done |= AWQ_K_SCALED;
    }
    return e;
}

awq_err awq_work_clips(awq_work *w)
{
    if (w->clips_ready) return AWQ_OK;
    awq_err e = AWQ_OK;
    if (has(w, AWQ_K_CLIP) || !(w->k.known & AWQ_K_ACT)) {
        e = awq_clips_get(w->s, &w->k.clip, w->max_val);
        w->clips_ready = !e;
        return e;
    }
    double t0 = awq_now();
    awq_clip_result *clips = calloc(AWQ_MAX_LINEARS, sizeof *clips);
    int n_clip = 0;
    e = clips ? need_backend(w) : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) e = need_clip_inputs(w); /* before the block is scaled: they may need the original */
    if (!e) e = awq_work_scaled(w, 0);
    if (!e && !w->ci_scaled) e = awq_clip_in_scale(&w->ci, w->res, w->n_res, w->p->round_f16);
    w->ci_scaled = !e;
    if (!e) e = awq_search_clips(w->be, &w->m->cfg, w->p, &w->b, &w->ci, clips, &n_clip);
    if (!e) e = awq_clips_put(w->s, &w->k.clip, w->k.r_clip, clips, n_clip);
    awq_prof_mark("stage: put clips");
    for (int i = 0; !e && i < n_clip; i++) {
        w->max_val[clips[i].linear] = clips[i].max_val;
        clips[i].max_val = NULL; /* the worker's now */
    }
    if (clips) awq_clip_results_free(clips, n_clip);
    free(clips);
    if (!e) {
        w->clips_ready = 1, w->done |= AWQ_K_CLIP;
        w->n_clipped = n_clip, w->clip_s = awq_now() - t0;
    }
    awq_clip_in_free(&w->ci);
    w->ci_ready = w->ci_scaled = 0;
    return e;
}

awq_err awq_work_pack(awq_work *w)
{
    if (has(w, AWQ_K_PACKED)) return AWQ_OK;
    const int rtn = !(w->k.known & AWQ_K_SCALED);
    awq_err e = need_backend(w);
    if (!e) e = rtn ? need_block(w) : awq_work_scaled(w, 0);
    if (!e && (w->k.known & AWQ_K_CLIP)) e = awq_work_clips(w);
    awq_prof_dev(w->be, "stage: pack inputs");
    if (!e) e = awq_pack_block(w->s, &w->k.packed, w->k.r_packed, w->be, w->p, &w->b,
                               (w->k.known & AWQ_K_CLIP) ? w->max_val : NULL, NULL);
    if (!e) w->done |= AWQ_K_PACKED;
    return e;
}

/* a block whose input must be read: for the scale search, or for a clip search whose inputs (the
 * clipin object) are not stored */
static int needs_input(awq_work *w)
{
    return !has(w, AWQ_K_SCALES) || (!has(w, AWQ_K_CLIP) && !has(w, AWQ_K_CLIPIN)) || lacks_clipin(w);
}

static int complete(awq_work *w)
{
    return has(w, AWQ_K_SCALES) && has(w, AWQ_K_CLIP) && has(w, AWQ_K_PACKED) && !lacks_clipin(w);
}

awq_err awq_work_block(awq_work *w)
{
    /* done when all three are there (the packed object alone is not enough: assemble also
     * writes the searched scales and clips into the checkpoint) */
    if (complete(w)) return AWQ_OK;
    /* GPU memory (slots.h, memest.h): a scale search's need, else a clip-only step's; a
     * clip-only step whose inputs are not stored runs the forward, so it counts as a search */
    awq_mem_need need;
    step_need(w, &need);
    awq_err e = need_units(w, needs_input(w) ? need.search : need.clip);
    if (!e) e = need_backend(w);
    if (!e) e = need_block(w);
    if (!e) e = awq_work_scales(w);
    if (!e && (!has(w, AWQ_K_CLIP) || lacks_clipin(w))) e = need_clip_inputs(w);
    free_x(w);
    if (!e) e = awq_work_scaled(w, 0);
    if (!e) e = awq_work_clips(w);
    if (!e) e = awq_work_pack(w);
    return e;
}

/* ---- several blocks in one process ------------------------------------------------------------ */

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

static void prefetch_start(prefetch *pf, awq_store *s, const awq_key *key)
{
    awq_slots one = {.n = 1}; /* the share of the cores of a step holding one unit (0: no bound) */
    *pf = (prefetch){.s = s, .key = *key, .threads = awq_slots_threads(&one)};
    pf->running = pthread_create(&pf->thread, NULL, prefetch_main, pf) == 0; /* else read when needed */
}

/* The object (NULL: no prefetch ran; the worker reads it itself), or the thread's error. */
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

/* The first block from `from` on whose input is needed, or n. */
static int next_input(awq_work *w, int from, int n)
{
    while (from < n && (complete(&w[from]) || !needs_input(&w[from]))) from++;
    return from;
}

/* A block that does not fit even alone: what it needs, what the step held (and the smallest
 * chunk, when its search ran out of memory at that), and the make variables that shrink it. */
static void oom_hint(const awq_work *w, size_t least)
{
    awq_mem_need need;
    char a[32], b[32], c[32], d[96] = "";
    step_need(w, &need);
    const double held = w->units ? awq_slots_bytes(w->units) : 0;
    if (held > 0) snprintf(d, sizeof d, ", and this step held %s", awq_mem_str(held, c, sizeof c));
    if (least && w->search_oom && w->search_rows == least)
        snprintf(d + strlen(d), sizeof d - strlen(d), "%s even its smallest chunks (%zu tokens) ran out", held > 0 ? ";" : ",",
                 least);
    const int moe = awq_layer_experts(&w->m->cfg, w->block) > 0;
    awq_hint("a scale search of this block needs ~%s whole, ~%s in token chunks%s; run one step at a time with "
             "AWQ_QUANTIZE_JOBS=1, calibrate on fewer tokens (N_SAMPLES=64)%s, or compute on the host (%s); finished work is kept",
             awq_mem_str(need.search, a, sizeof a), awq_mem_str(need.chunked, b, sizeof b), d,
             moe ? ", work on fewer experts at once (AWQ_EXPERT_BATCH=8)" : "", AWQ_SAY("device", "cpu"));
}

/* Block i made again: what the store holds now is kept (awq_work_check), the rest recomputed;
 * rows > 0: its scale search in chunks of that many tokens. */
static awq_err work_again(awq_work *w, const awq_model *m, const awq_params *p, awq_store *s, int block,
                          const awq_backend *be, awq_slots *units, const awq_key *act, size_t rows)
{
    awq_clear_error();
    awq_work_free(w);
    awq_work_init(w, m, block, p, s, be);
    w->units = units, w->chunk_rows = rows;
    awq_err e = awq_work_keys_from(w, act, NULL, NULL, NULL, 0);
    if (!e) awq_work_check(w, AWQ_K_SCALES | AWQ_K_CLIP | AWQ_K_PACKED);
    if (!e && units) e = awq_slots_take_all(units);
    if (!e) e = awq_work_block(w);
    return e;
}

/* The next smaller chunk after a scale search of block w ran out of memory holding its whole
 * GPU (the estimate was short: another program took memory since the plan, or the backend's
 * scratch grew past it): 3/4 of its rows, a multiple of the smallest chunk; 0 when it ran in
 * the smallest chunk there is (*least) already. The chunks give the same bits whatever their size (awq.c), so only the time changes. */
static size_t smaller_chunk(const awq_work *w, size_t *least)
{
    const int E = awq_layer_experts(&w->m->cfg, w->block);
    const size_t N = (size_t)w->n_seq * (size_t)w->seqlen, rows = w->search_rows ? w->search_rows : N;
    *least = awq_search_min_chunk(&w->m->cfg, E, w->n_seq, w->seqlen);
    if (!w->be || !*least || rows <= *least) return 0;
    size_t next = rows / 4 * 3 / *least * *least;
    if (next < *least) next = *least;
    return next;
}

awq_err awq_work_blocks(const awq_model *m, const awq_params *p, awq_store *s, int first, const awq_key *acts, int n,
                        awq_slots *units, awq_work_done_fn done, void *ctx)
{
    awq_work *w = calloc((size_t)(n > 0 ? n : 1), sizeof *w);
    if (!w) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = AWQ_OK;
    for (int i = 0; !e && i < n; i++) { /* what each block has in the store, each object verified once */
        awq_work_init(&w[i], m, first + i, p, s, NULL);
        w[i].units = units;
        e = awq_work_keys_from(&w[i], &acts[i], NULL, NULL, NULL, 0);
        if (!e) awq_work_check(&w[i], AWQ_K_SCALES | AWQ_K_CLIP | AWQ_K_PACKED);
        if (e) e = awq_context(e, "block %d", first + i);
    }
    const awq_backend *be = NULL; /* one backend (one GPU context) for every block */
    int own_be = 0;
    prefetch pf = {0};
    int pf_block = e || !s ? n : next_input(w, 0, n);
    if (pf_block < n) prefetch_start(&pf, s, &w[pf_block].k.act); /* beside the GPU context's creation */
    for (int i = 0; !e && i < n; i++) {
        if (s && !complete(&w[i])) {
            awq_object *input = NULL;
            if (pf_block == i) e = prefetch_join(&pf, &input);
            if (input) awq_work_give_input(&w[i], input);
            /* the next input is read while this block computes (unless it is being read already) */
            if (!e && !pf.running && (pf_block = next_input(w, i + 1, n)) < n) prefetch_start(&pf, s, &w[pf_block].k.act);
            w[i].be = be;
            if (!e) e = awq_work_block(&w[i]);
            if (w[i].own_be) be = w[i].be, own_be = 1, w[i].own_be = 0; /* opened by this block: kept for the next */
            if (e == AWQ_ERR_NOMEM && units && !awq_slots_alone(units)) {
                /* out of memory while other steps hold the rest of the GPU (or a program outside
                 * took memory since the run began): wait until this step holds the whole GPU, then
                 * make the block again; only a step that fails alone fails the run */
                awq_info("block %d: out of memory holding %d of %d units of %s: waiting for the others to finish",
                         first + i, units->n, units->pool, units->name);
                e = work_again(&w[i], m, p, s, first + i, be, units, &acts[i], 0);
            }
            /* out of memory in the scale search holding the whole GPU (or no pool at all): again
             * in smaller token chunks, down to the smallest; the result is the same bits */
            size_t least = 0, next;
            while (e == AWQ_ERR_NOMEM && w[i].search_oom && (!units || awq_slots_alone(units)) &&
                   (next = smaller_chunk(&w[i], &least))) {
                const size_t rows = w[i].search_rows ? w[i].search_rows : (size_t)w[i].n_seq * (size_t)w[i].seqlen;
                awq_info("block %d: out of memory at chunks of %zu tokens: again with chunks of %zu", first + i, rows, next);
                e = work_again(&w[i], m, p, s, first + i, be, units, &acts[i], next);
            }
            if (e == AWQ_ERR_NOMEM) oom_hint(&w[i], least);
        }
        if (e) e = awq_context(e, "block %d", first + i);
        else if (done) done(ctx, &w[i]);
        awq_work_free(&w[i]);
    }
    prefetch_drop(&pf); /* an error stopped the loop: wait for the reader, drop what it read */
    for (int i = 0; i < n; i++) awq_work_free(&w[i]);
    free(w);
    if (own_be) be->close(be);
    if (units) awq_slots_keep(units, 0);
    return e;
}
