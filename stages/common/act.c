/* act.c - act objects: recipe keys, load/store with dtype conversion and overflow checks, and
 * the embedding / original-block computations of the capture chain. */
#include "act.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/half.h"
#include "../../base/prof.h"
#include "device.h"
#include "devmem.h"

awq_dtype awq_act_dtype(const awq_model *m) { return m->embed->dtype; }

static awq_err finish_recipe(awq_recipe *r, awq_key *out, char **recipe)
{
    *out = awq_recipe_key(r);
    if (recipe && !(*recipe = strdup(awq_recipe_text(r)))) {
        awq_recipe_free(r);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    }
    awq_recipe_free(r);
    return AWQ_OK;
}

awq_err awq_act0_key(const awq_model *m, const awq_key *tokens, const awq_params *p, awq_key *out, char **recipe)
{
    awq_key ek;
    awq_err e = awq_embed_key(m, &ek);
    if (e) return e;
    awq_recipe *r = awq_recipe_new("embed", AWQ_CAPTURE_VERSION);
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) e = awq_recipe_add_key(r, "tokens", tokens);
    if (!e) e = awq_recipe_add_key(r, "embed_tokens", &ek);
    if (!e) e = awq_params_recipe(r, p, AWQ_K_ACT);
    if (!e) e = awq_recipe_add(r, "dtype", awq_dtype_name(awq_act_dtype(m)));
    if (e) { awq_recipe_free(r); return e; }
    return finish_recipe(r, out, recipe);
}

awq_err awq_act_next_key(const awq_model *m, int layer, const awq_key *in, const awq_params *p, awq_key *out, char **recipe)
{
    awq_key bk;
    awq_err e = awq_block_key(m, layer, &bk);
    if (e) return e;
    awq_recipe *r = awq_recipe_new("capture", AWQ_CAPTURE_VERSION);
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) e = awq_recipe_add_key(r, "block", &bk);
    if (!e) e = awq_recipe_add_key(r, "act", in);
    if (!e) e = awq_params_recipe(r, p, AWQ_K_ACT);
    if (!e) e = awq_recipe_add(r, "dtype", awq_dtype_name(awq_act_dtype(m)));
    if (e) { awq_recipe_free(r); return e; }
    return finish_recipe(r, out, recipe);
}

awq_err awq_act_load(awq_store *s, const awq_key *key, const awq_model *m, const awq_backend *be, float **x,
                     int *n_seq, int *seqlen)
{
    *x = NULL;
    awq_object *o = NULL;
    awq_err e = awq_store_get(s, key, &o);
    if (e) return e;
    return awq_act_load_object(o, key, m, be, x, n_seq, seqlen);
}

awq_err awq_act_load_object(awq_object *o, const awq_key *key, const awq_model *m, const awq_backend *be, float **x,
                            int *n_seq, int *seqlen)
{
    *x = NULL;
    awq_err e = AWQ_OK;
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(key, hex);
    const awq_tensor *t = awq_object_tensor(o, "x");
    if (strcmp(o->kind, "act") != 0 || !t || t->ndim != 3 || t->shape[2] != m->cfg.hidden_size ||
        !(t->dtype == AWQ_DT_F16 || t->dtype == AWQ_DT_BF16 || t->dtype == AWQ_DT_F32)) {
        awq_object_free(o);
        awq_fail(AWQ_ERR_FORMAT, "object %s is not an activation object of this model (kind, or 'x' [n, seqlen, %d])",
                 hex, m->cfg.hidden_size);
        return AWQ_ERR_FORMAT;
    }
    const size_t n = (size_t)t->shape[0] * (size_t)t->shape[1] * (size_t)t->shape[2];
    const void *raw = NULL;
    void *raw_own = NULL;
    float *buf = NULL;
    e = awq_dev_alloc(be, (void **)&buf, n * sizeof *buf);
    if (!e) e = awq_dev_view(be, t->data, t->nbytes, &raw, &raw_own);
    if (!e) {
        kern_status ks = be->to_f32(be->ctx, buf, (kern_weight){raw, awq_kern_dtype(t->dtype)}, n);
        if (ks) e = awq_kern_fail(ks, "widen activations");
    }
    if (!e) awq_prof_dev(be, "act load: upload, widen");
    awq_dev_release(be, raw_own);
    *n_seq = (int)t->shape[0];
    *seqlen = (int)t->shape[1];
    awq_object_free(o);
    if (e) { awq_dev_free(be, buf); return awq_context(e, "activations %s", hex); }
    *x = buf;
    return AWQ_OK;
}

static awq_err not_storable(const char *what, float v, size_t bad, size_t C, int seqlen, awq_dtype dt)
{
    size_t row = bad / C;
    awq_fail(AWQ_ERR_NUMERIC, "%s: value %g at sequence %zu, token %zu, channel %zu cannot be stored as %s",
             what, (double)v, row / (size_t)seqlen, row % (size_t)seqlen, bad % C, awq_dtype_name(dt));
    if (dt == AWQ_DT_F16) awq_hint("the activations overflow fp16 (|x| > 65504); this model needs bf16 or fp32 activations");
    return AWQ_ERR_NUMERIC;
}

/* Touch every page of a fresh host buffer from all threads before a device download writes it:
 * the copy engine's destination otherwise takes its page faults one at a time (most of the
 * 0.36 s the fetch of a 512 MB activation took on the H100 machine). */
static void prefault(void *p, size_t bytes)
{
    #pragma omp parallel for schedule(static)
    for (size_t o = 0; o < bytes; o += 4096) ((volatile char *)p)[o] = 0;
}

/* F16 activations: the overflow check and the narrowing on the backend, fp16 values down. */
static awq_err narrow_f16(const awq_backend *be, const float *x, size_t n, size_t C, int seqlen, const char *what,
                          uint16_t **out)
{
    *out = NULL;
    size_t bad = n;
    kern_status ks = be->check_f16(be->ctx, x, n, &bad);
    if (ks) return awq_kern_fail(ks, "overflow check");
    if (bad < n) {
        float v = 0;
        awq_err e = awq_dev_fetch(be, &v, x + bad, sizeof v);
        return e ? e : not_storable(what, v, bad, C, seqlen, AWQ_DT_F16);
    }
    uint16_t *h = malloc(n * 2 + 1), *d = h;
    awq_err e = h ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory storing %s", what);
    if (!e && !awq_backend_is_host(be)) {
        prefault(h, n * 2);
        e = awq_dev_alloc(be, (void **)&d, n * 2);
    }
    if (!e && (ks = be->to_f16(be->ctx, d, x, n))) e = awq_kern_fail(ks, "narrow to fp16");
    if (!e) e = awq_dev_fetch(be, h, d, n * 2);
    if (d != h) awq_dev_free(be, d);
    if (e) { free(h); return e; }
    *out = h;
    return AWQ_OK;
}

/* BF16 / F32 activations: checked and converted on the host (fp32 values down). */
static awq_err narrow_host(const awq_backend *be, const float *xd, size_t n, size_t C, int seqlen, awq_dtype dt,
                           const char *what, void **out)
{
    *out = NULL;
    float *x = malloc(n * sizeof *x + 1);
    if (!x) return awq_fail(AWQ_ERR_NOMEM, "out of memory storing %s", what);
    awq_err e = awq_dev_fetch(be, x, xd, n * sizeof *x);
    if (e) { free(x); return e; }
    size_t bad = n; /* the first value that cannot be stored, found in parallel */
    #pragma omp parallel for reduction(min:bad) schedule(static)
    for (size_t i = 0; i < n; i++) {
        int ok = isfinite(x[i]) && (dt != AWQ_DT_BF16 || isfinite(awq_bf16_to_f32(awq_f32_to_bf16(x[i]))));
        if (!ok && i < bad) bad = i;
    }
    if (bad < n) { e = not_storable(what, x[bad], bad, C, seqlen, dt); free(x); return e; }
    if (dt == AWQ_DT_BF16) { /* a second buffer: narrowing in place would race between threads */
        uint16_t *b = malloc(n * 2 + 1);
        if (b) awq_f32_to_bf16_n(b, x, n);
        free(x);
        if (!b) return awq_fail(AWQ_ERR_NOMEM, "out of memory storing %s", what);
        *out = b;
        return AWQ_OK;
    }
    *out = x;
    return AWQ_OK;
}

awq_err awq_act_narrow(const awq_model *m, const awq_backend *be, const float *x, int n_seq, int seqlen, const char *what,
                       awq_tensor *t)
{
    const size_t C = (size_t)m->cfg.hidden_size, n = (size_t)n_seq * (size_t)seqlen * C;
    const awq_dtype dt = awq_act_dtype(m);
    void *data = NULL;
    *t = (awq_tensor){0};
    awq_prof_dev(be, "act store: (before)");
    awq_err e = dt == AWQ_DT_F16 ? narrow_f16(be, x, n, C, seqlen, what, (uint16_t **)&data)
                                 : narrow_host(be, x, n, C, seqlen, dt, what, &data);
    awq_prof_mark("act store: check, narrow, fetch");
    if (e) return e;
    *t = (awq_tensor){.name = "x", .dtype = dt, .ndim = 3, .shape = {n_seq, seqlen, (int64_t)C}, .data = data,
                      .nbytes = n * awq_dtype_size(dt)};
    return AWQ_OK;
}

awq_err awq_act_store(awq_store *s, const awq_key *key, const char *recipe, const awq_model *m, const awq_backend *be,
                      const float *x, int n_seq, int seqlen, const char *what)
{
    awq_tensor t;
    awq_err e = awq_act_narrow(m, be, x, n_seq, seqlen, what, &t);
    if (!e) e = awq_store_put(s, key, "act", recipe, &t, 1);
    free(t.data);
    return e;
}

awq_err awq_embed_compute(const awq_backend *be, const awq_model *m, const int32_t *ids, size_t n, int round_f16, float *x)
{
    const size_t V = (size_t)m->cfg.vocab_size, C = (size_t)m->cfg.hidden_size;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= V) {
            awq_fail(AWQ_ERR_ARG, "token %zu has id %d, outside the vocabulary [0, %zu) of '%s'", i, ids[i], V, m->dir);
            awq_hint("were the tokens made with this model's tokenizer?");
            return AWQ_ERR_ARG;
        }
    const void *idd = NULL, *tab = NULL;
    void *id_own = NULL, *tab_own = NULL;
    awq_err e = awq_dev_view(be, ids, n * sizeof *ids, &idd, &id_own);
    if (!e) e = awq_dev_view(be, m->embed->data, m->embed->nbytes, &tab, &tab_own);
    if (!e) {
        kern_status ks = be->embed(be->ctx, x, idd, (kern_weight){tab, awq_kern_dtype(m->embed->dtype)}, n, C, V);
        if (ks) e = awq_kern_fail(ks, "embedding lookup");
    }
    if (!e) e = awq_embed_scale(be, &m->cfg, x, n, round_f16); /* Gemma: times sqrt(hidden_size) */
    awq_dev_release(be, id_own);
    awq_dev_release(be, tab_own);
    return e;
}

awq_err awq_capture_compute(const awq_backend *be, const awq_model *m, int layer, int n_seq, int seqlen,
                            int round_f16, float *x)
{
    awq_block_w w;
    void *own[AWQ_SLOT__COUNT] = {0};
    awq_fwd f;
    awq_prof_dev(be, "capture: (before)");
    awq_err e = awq_model_block_upload(be, m, layer, &w, own);
    awq_prof_dev(be, "capture: upload weights");
    if (!e) e = awq_fwd_init(&f, be, &m->cfg, n_seq, seqlen, round_f16, 0);
    if (!e) {
        e = awq_block_forward(&f, &w, x, x, NULL); /* in place: the forward allows y == x */
        awq_fwd_free(&f);
    }
    awq_prof_dev(be, "capture: forward");
    awq_block_w_release(be, own);
    return e ? awq_context(e, "block %d", layer) : AWQ_OK;
}
