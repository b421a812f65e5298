/* act.c - act objects: recipe keys, load/store with dtype conversion and overflow checks, and
 * the embedding / original-block computations of the capture chain. */
#include "act.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/half.h"
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

awq_err awq_act0_key(const awq_model *m, const awq_key *tokens, int round_f16, awq_key *out, char **recipe)
{
    awq_key ek;
    awq_err e = awq_embed_key(m, &ek);
    if (e) return e;
    awq_recipe *r = awq_recipe_new("embed", AWQ_CAPTURE_VERSION);
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) e = awq_recipe_add_key(r, "tokens", tokens);
    if (!e) e = awq_recipe_add_key(r, "embed_tokens", &ek);
    if (!e) e = awq_recipe_add(r, "numerics", round_f16 ? "fp16" : "fp32");
    if (!e) e = awq_recipe_add(r, "dtype", awq_dtype_name(awq_act_dtype(m)));
    if (e) { awq_recipe_free(r); return e; }
    return finish_recipe(r, out, recipe);
}

awq_err awq_act_next_key(const awq_model *m, int layer, const awq_key *in, int round_f16, awq_key *out, char **recipe)
{
    awq_key bk;
    awq_err e = awq_block_key(m, layer, &bk);
    if (e) return e;
    awq_recipe *r = awq_recipe_new("capture", AWQ_CAPTURE_VERSION);
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) e = awq_recipe_add_key(r, "block", &bk);
    if (!e) e = awq_recipe_add_key(r, "act", in);
    if (!e) e = awq_recipe_add(r, "numerics", round_f16 ? "fp16" : "fp32");
    if (!e) e = awq_recipe_add(r, "dtype", awq_dtype_name(awq_act_dtype(m)));
    if (e) { awq_recipe_free(r); return e; }
    return finish_recipe(r, out, recipe);
}

awq_err awq_act_load(awq_store *s, const awq_key *key, const awq_model *m, float **x, int *n_seq, int *seqlen)
{
    *x = NULL;
    awq_object *o = NULL;
    awq_err e = awq_store_get(s, key, &o);
    if (e) return e;
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
    size_t n = (size_t)t->shape[0] * (size_t)t->shape[1] * (size_t)t->shape[2];
    float *buf = malloc(n * sizeof *buf);
    if (!buf) { awq_object_free(o); return awq_fail(AWQ_ERR_NOMEM, "out of memory loading activations %s", hex); }
    if (t->dtype == AWQ_DT_F16) awq_f16_to_f32_n(buf, t->data, n);
    else if (t->dtype == AWQ_DT_BF16) awq_bf16_to_f32_n(buf, t->data, n);
    else memcpy(buf, t->data, n * sizeof *buf);
    *n_seq = (int)t->shape[0];
    *seqlen = (int)t->shape[1];
    awq_object_free(o);
    *x = buf;
    return AWQ_OK;
}

awq_err awq_act_store(awq_store *s, const awq_key *key, const char *recipe, const awq_model *m,
                      const float *x, int n_seq, int seqlen, const char *what)
{
    const size_t C = (size_t)m->cfg.hidden_size, n = (size_t)n_seq * (size_t)seqlen * C;
    const awq_dtype dt = awq_act_dtype(m);
    /* First value that cannot be stored: not finite, or beyond fp16's range for F16 (found in
     * parallel: the block outputs are large). */
    size_t bad = n;
    #pragma omp parallel for reduction(min:bad) schedule(static)
    for (size_t i = 0; i < n; i++) {
        int ok = dt == AWQ_DT_F16 ? awq_f32_fits_f16(x[i]) : isfinite(x[i]) && (dt != AWQ_DT_BF16 || isfinite(awq_bf16_to_f32(awq_f32_to_bf16(x[i]))));
        if (!ok && i < bad) bad = i;
    }
    if (bad < n) {
        size_t row = bad / C;
        awq_fail(AWQ_ERR_NUMERIC, "%s: value %g at sequence %zu, token %zu, channel %zu cannot be stored as %s",
                 what, (double)x[bad], row / (size_t)seqlen, row % (size_t)seqlen, bad % C, awq_dtype_name(dt));
        if (dt == AWQ_DT_F16) awq_hint("the activations overflow fp16 (|x| > 65504); this model needs bf16 or fp32 activations");
        return AWQ_ERR_NUMERIC;
    }
    void *data = (void *)x;
    void *conv = NULL;
    if (dt != AWQ_DT_F32) {
        conv = malloc(n * 2);
        if (!conv) return awq_fail(AWQ_ERR_NOMEM, "out of memory storing %s", what);
        if (dt == AWQ_DT_F16) awq_f32_to_f16_n(conv, x, n);
        else awq_f32_to_bf16_n(conv, x, n);
        data = conv;
    }
    awq_tensor t = {.name = "x", .dtype = dt, .ndim = 3, .shape = {n_seq, seqlen, (int64_t)C},
                    .data = data, .nbytes = n * awq_dtype_size(dt)};
    awq_err e = awq_store_put(s, key, "act", recipe, &t, 1);
    free(conv);
    return e;
}

awq_err awq_embed_compute(const awq_backend *be, const awq_model *m, const int32_t *ids, size_t n, float *x)
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
    float *xd = NULL;
    awq_err e = awq_dev_view(be, ids, n * sizeof *ids, &idd, &id_own);
    if (!e) e = awq_dev_view(be, m->embed->data, m->embed->nbytes, &tab, &tab_own);
    if (!e) e = awq_backend_is_host(be) ? (xd = x, AWQ_OK) : awq_dev_alloc(be, (void **)&xd, n * C * sizeof *xd);
    if (!e) {
        kern_status ks = be->embed(be->ctx, xd, idd, (kern_weight){tab, awq_kern_dtype(m->embed->dtype)}, n, C, V);
        if (ks) e = awq_kern_fail(ks, "embedding lookup");
    }
    if (!e) e = awq_dev_fetch(be, x, xd, n * C * sizeof *x);
    if (xd != x) awq_dev_free(be, xd);
    awq_dev_release(be, id_own);
    awq_dev_release(be, tab_own);
    return e;
}

awq_err awq_capture_compute(const awq_backend *be, const awq_model *m, int layer, int n_seq, int seqlen,
                            int round_f16, const float *x, float *y)
{
    const size_t bytes = (size_t)n_seq * (size_t)seqlen * (size_t)m->cfg.hidden_size * sizeof(float);
    awq_block_w w;
    void *own[AWQ_SLOT__COUNT] = {0}, *x_own = NULL;
    const void *xd = NULL;
    float *yd = NULL;
    awq_fwd f;
    awq_err e = awq_model_block_upload(be, m, layer, &w, own);
    if (!e) e = awq_dev_view(be, x, bytes, &xd, &x_own);
    if (!e) e = awq_backend_is_host(be) ? (yd = y, AWQ_OK) : awq_dev_alloc(be, (void **)&yd, bytes);
    if (!e) e = awq_fwd_init(&f, be, &m->cfg, n_seq, seqlen, round_f16, 0);
    if (!e) {
        e = awq_block_forward(&f, &w, xd, yd, NULL);
        awq_fwd_free(&f);
    }
    if (!e) e = awq_dev_fetch(be, y, yd, bytes);
    if (yd != y) awq_dev_free(be, yd);
    awq_dev_release(be, x_own);
    awq_block_w_release(be, own);
    return e ? awq_context(e, "block %d", layer) : AWQ_OK;
}
