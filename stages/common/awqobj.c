/* awqobj.c - recipes, object layouts and object I/O of the scale/clip/pack stages. */
#include "awqobj.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/half.h"
#include "../../kernels/quant.h"
#include "ct.h"
#include "devmem.h"
#include "fused.h"

const char *awq_linear_name(awq_slot s, char *buf, size_t cap)
{
    const char *suf = awq_slot_suffix(s);
    size_t n = strlen(suf);
    if (n > 7 && strcmp(suf + n - 7, ".weight") == 0) n -= 7;
    snprintf(buf, cap, "%.*s", (int)n, suf);
    return buf;
}

static awq_err recipe_done(awq_recipe *r, awq_err e, awq_key *out, char **recipe)
{
    if (!e) {
        *out = awq_recipe_key(r);
        if (recipe && !(*recipe = strdup(awq_recipe_text(r)))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    }
    awq_recipe_free(r);
    return e;
}

/* A new recipe for `stage` of block `layer`, its block key already added (*r NULL on error). */
static awq_err block_recipe(const awq_model *m, int layer, const char *stage, awq_recipe **r)
{
    awq_key bk;
    *r = NULL;
    awq_err e = awq_block_key(m, layer, &bk);
    if (e) return e;
    if (!(*r = awq_recipe_new(stage, AWQ_SEARCH_VERSION))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    e = awq_recipe_add_key(*r, "block", &bk);
    if (e) { awq_recipe_free(*r); *r = NULL; }
    return e;
}

awq_err awq_scales_key(const awq_model *m, int layer, const awq_key *act, const awq_params *p, awq_key *out, char **recipe)
{
    awq_recipe *r;
    awq_err e = block_recipe(m, layer, "scale-search", &r);
    if (e) return e;
    if (!e) e = awq_recipe_add_key(r, "act", act);
    if (!e) e = awq_params_recipe(r, p, AWQ_K_SCALES);
    return recipe_done(r, e, out, recipe);
}

awq_err awq_scaled_key(const awq_model *m, int layer, const awq_key *scales, const awq_params *p, awq_key *out, char **recipe)
{
    awq_recipe *r;
    awq_err e = block_recipe(m, layer, "apply-scale", &r);
    if (e) return e;
    if (!e) e = awq_recipe_add_key(r, "scales", scales);
    if (!e) e = awq_params_recipe(r, p, AWQ_K_SCALED);
    return recipe_done(r, e, out, recipe);
}

awq_err awq_clipin_key(const awq_model *m, int layer, const awq_key *act, const awq_params *p, awq_key *out, char **recipe)
{
    awq_recipe *r;
    awq_err e = block_recipe(m, layer, "clip-inputs", &r);
    if (e) return e;
    if (!e) e = awq_recipe_add_key(r, "act", act);
    if (!e) e = awq_params_recipe(r, p, AWQ_K_CLIPIN);
    return recipe_done(r, e, out, recipe);
}

awq_err awq_clip_key(const awq_key *scaled, const awq_key *act, const awq_params *p, awq_key *out, char **recipe)
{
    awq_recipe *r = awq_recipe_new("clip-search", AWQ_SEARCH_VERSION);
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = awq_recipe_add_key(r, "scaled", scaled);
    if (!e) e = awq_recipe_add_key(r, "act", act);
    /* the inputs are the captured ones divided by the scales (spec §2.7), not a forward of the
     * scaled block (what this program did before: the fp16 roundings differ) */
    if (!e) e = awq_recipe_add(r, "inputs", "captured / s");
    if (!e) e = awq_params_recipe(r, p, AWQ_K_CLIP);
    return recipe_done(r, e, out, recipe);
}

awq_err awq_packed_key(const awq_model *m, int layer, const awq_key *scaled, const awq_key *clip, const awq_params *p,
                       awq_key *out, char **recipe)
{
    awq_recipe *r = awq_recipe_new("pack", AWQ_SEARCH_VERSION);
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = AWQ_OK;
    if (scaled) e = awq_recipe_add_key(r, "scaled", scaled);
    else {
        awq_key bk;
        e = awq_block_key(m, layer, &bk);
        if (!e) e = awq_recipe_add_key(r, "block", &bk); /* RTN: the original block */
    }
    if (!e && clip) e = awq_recipe_add_key(r, "clip", clip);
    if (!e) e = awq_params_recipe(r, p, AWQ_K_PACKED);
    /* not from the record: FORMAT changes this key only where the object's layout differs */
    if (!e && awq_pack_layout(p) == AWQ_LAYOUT_CT) e = awq_recipe_add(r, "format", "pack-quantized");
    return recipe_done(r, e, out, recipe);
}

awq_layout awq_pack_layout(const awq_params *p)
{
    if (p->export_fp16) return AWQ_LAYOUT_EXPORT;
    if (p->fake_quant) return AWQ_LAYOUT_FAKE;
    if (p->w_bit == 4) return AWQ_LAYOUT_GEMM;
    return p->format == AWQ_FORMAT_CT ? AWQ_LAYOUT_CT : AWQ_LAYOUT_FAKE;
}

/* ---- scales ------------------------------------------------------------------------------- */

awq_err awq_scales_put(awq_store *s, const awq_key *key, const char *recipe, const awq_scale_result *r, int n)
{
    awq_tensor *t = malloc((size_t)(3 * n + 1) * sizeof *t);
    char (*names)[64] = malloc((size_t)(3 * n + 1) * sizeof *names);
    int32_t *best = malloc((size_t)(n + 1) * sizeof *best);
    if (!t || !names || !best) { free(t), free(names), free(best); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    int nt = 0;
    for (int i = 0; i < n; i++) {
        best[i] = r[i].best;
        snprintf(names[nt], 64, "%s.scales", r[i].group.prev_name);
        t[nt] = (awq_tensor){names[nt], AWQ_DT_F32, 1, {(int64_t)r[i].n}, r[i].s, r[i].n * 4, 0};
        nt++;
        snprintf(names[nt], 64, "%s.losses", r[i].group.prev_name);
        t[nt] = (awq_tensor){names[nt], AWQ_DT_F32, 1, {r[i].n_grid}, r[i].losses, (size_t)r[i].n_grid * 4, 0};
        nt++;
        snprintf(names[nt], 64, "%s.best", r[i].group.prev_name);
        t[nt] = (awq_tensor){names[nt], AWQ_DT_I32, 1, {1}, &best[i], 4, 0};
        nt++;
    }
    awq_err e = awq_store_put(s, key, "scales", recipe, t, nt);
    free(t), free(names), free(best);
    return e;
}

static awq_err bad_object(const awq_key *key, const char *kind, const char *what)
{
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(key, hex);
    return awq_fail(AWQ_ERR_FORMAT, "object %s is not a valid '%s' object: %s", hex, kind, what);
}

static awq_err get_kind(awq_store *s, const awq_key *key, const char *kind, awq_object **o)
{
    awq_err e = awq_store_get(s, key, o);
    if (e) return e;
    if (strcmp((*o)->kind, kind) != 0) {
        awq_object_free(*o);
        *o = NULL;
        return bad_object(key, kind, "wrong kind");
    }
    return AWQ_OK;
}

awq_err awq_scales_get(awq_store *s, const awq_key *key, const awq_config *cfg, int n_experts,
                       awq_scale_result res[AWQ_MAX_GROUPS], int *n)
{
    *n = 0;
    awq_object *o = NULL;
    awq_err e = get_kind(s, key, "scales", &o);
    if (e) return e;
    awq_sgroup groups[AWQ_MAX_GROUPS];
    int ng = awq_scale_groups(cfg, n_experts, groups);
    for (int i = 0; i < ng; i++) {
        char nm[3][64];
        snprintf(nm[0], 64, "%s.scales", groups[i].prev_name);
        snprintf(nm[1], 64, "%s.losses", groups[i].prev_name);
        snprintf(nm[2], 64, "%s.best", groups[i].prev_name);
        const awq_tensor *ts = awq_object_tensor(o, nm[0]), *tl = awq_object_tensor(o, nm[1]), *tb = awq_object_tensor(o, nm[2]);
        if (!ts || !tl || !tb || ts->dtype != AWQ_DT_F32 || tl->dtype != AWQ_DT_F32 || tb->dtype != AWQ_DT_I32 ||
            ts->ndim != 1 || tl->ndim != 1 || tb->nbytes != 4) {
            e = bad_object(key, "scales", nm[0]);
            break;
        }
        awq_scale_result *r = &res[i];
        *r = (awq_scale_result){.group = groups[i], .n = (size_t)ts->shape[0], .n_grid = (int)tl->shape[0],
                                .best = *(const int32_t *)tb->data};
        r->s = malloc(ts->nbytes);
        r->losses = malloc(tl->nbytes ? tl->nbytes : 1);
        *n = i + 1;
        if (!r->s || !r->losses) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        memcpy(r->s, ts->data, ts->nbytes);
        memcpy(r->losses, tl->data, tl->nbytes);
    }
    awq_object_free(o);
    if (e) { awq_scale_results_free(res, *n); *n = 0; }
    return e;
}

/* ---- whole blocks ------------------------------------------------------------------------- */

awq_err awq_block_put(awq_store *s, const awq_key *key, const char *kind, const char *recipe, const awq_block_f32 *b,
                      int as_f16)
{
    awq_tensor t[AWQ_SLOT__COUNT];
    void *conv[AWQ_SLOT__COUNT] = {0};
    float *fetched[AWQ_SLOT__COUNT] = {0};
    int nt = 0;
    awq_err e = AWQ_OK;
    for (int sl = 0; sl < AWQ_SLOT__COUNT && !e; sl++) {
        if (!b->t[sl]) continue;
        size_t n = awq_block_f32_numel(b, (awq_slot)sl);
        const float *v = b->t[sl];
        if (b->be) { /* a block in device memory comes to the host first */
            if (!(fetched[sl] = malloc(n * sizeof(float) + 1))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            if ((e = awq_dev_fetch(b->be, fetched[sl], v, n * sizeof(float)))) break;
            v = fetched[sl];
        }
        const void *data = v;
        if (as_f16) {
            size_t bad = n; /* the first value beyond fp16, found in parallel */
            #pragma omp parallel for reduction(min:bad) schedule(static)
            for (size_t k = 0; k < n; k++)
                if (!awq_f32_fits_f16(v[k]) && k < bad) bad = k;
            if (bad < n) {
                e = awq_fail(AWQ_ERR_NUMERIC, "'%s' element %zu = %g does not fit fp16 after scaling",
                             awq_slot_suffix((awq_slot)sl), bad, (double)v[bad]);
                break;
            }
            uint16_t *h = malloc(n * 2 + 1);
            if (!h) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            awq_f32_to_f16_n(h, v, n);
            conv[sl] = h;
            data = h;
        }
        t[nt] = (awq_tensor){(char *)awq_slot_suffix((awq_slot)sl), as_f16 ? AWQ_DT_F16 : AWQ_DT_F32, b->ndim[sl],
                             {b->shape[sl][0], b->shape[sl][1]}, (void *)data, n * (as_f16 ? 2 : 4), 0};
        nt++;
    }
    if (!e) e = awq_store_put(s, key, kind, recipe, t, nt);
    for (int sl = 0; sl < AWQ_SLOT__COUNT; sl++) { free(conv[sl]); free(fetched[sl]); }
    return e;
}

awq_err awq_block_get(awq_store *s, const awq_key *key, const char *kind, awq_block_f32 *b)
{
    memset(b, 0, sizeof *b);
    awq_object *o = NULL;
    awq_err e = get_kind(s, key, kind, &o);
    if (e) return e;
    for (int sl = 0; sl < AWQ_SLOT__COUNT && !e; sl++) {
        const awq_tensor *t = awq_object_tensor(o, awq_slot_suffix((awq_slot)sl));
        if (!t) continue;
        if ((t->dtype != AWQ_DT_F16 && t->dtype != AWQ_DT_F32) || t->ndim < 1 || t->ndim > 2) {
            e = bad_object(key, kind, awq_slot_suffix((awq_slot)sl));
            break;
        }
        size_t n = t->nbytes / awq_dtype_size(t->dtype);
        if (!(b->t[sl] = malloc(n * sizeof(float) + 1))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        if (t->dtype == AWQ_DT_F16) awq_f16_to_f32_n(b->t[sl], t->data, n);
        else memcpy(b->t[sl], t->data, n * sizeof(float));
        b->ndim[sl] = t->ndim;
        b->shape[sl][0] = t->shape[0];
        b->shape[sl][1] = t->ndim == 2 ? t->shape[1] : 1;
    }
    awq_object_free(o);
    if (e) awq_block_f32_free(b);
    return e;
}

/* ---- clip inputs -------------------------------------------------------------------------- */

static const char *const CLIPIN_NAMES[AWQ_FEAT__COUNT] = { /* awq_feat order */
    "attn_in", "o_in", "mlp_in", "down_in", "q_b_in", "kv_b_in", "shared_down_in"};

/* One array of the clipin object: [T, w] fp32 values, stored as F16 when they are fp16 values. */
static awq_err clipin_tensor(awq_tensor *t, char *name, const float *v, size_t T, size_t w, int as_f16, uint16_t **h)
{
    size_t n = T * w;
    *h = NULL;
    *t = (awq_tensor){name, AWQ_DT_F32, 2, {(int64_t)T, (int64_t)w}, (void *)v, n * 4, 0};
    if (!as_f16) return AWQ_OK; /* fp16 numerics: the values are fp16 values, so this is exact */
    if (!(*h = malloc(n * 2 + 1))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_f32_to_f16_n(*h, v, n);
    t->dtype = AWQ_DT_F16, t->data = *h, t->nbytes = n * 2;
    return AWQ_OK;
}

awq_err awq_clipin_put(awq_store *s, const awq_key *key, const char *recipe, const awq_clip_in *ci, int as_f16)
{
    const int cap = AWQ_FEAT__COUNT + 2 * ci->n_experts;
    awq_tensor *t = malloc((size_t)cap * sizeof *t);
    uint16_t **h = calloc((size_t)cap, sizeof *h);
    char (*names)[48] = malloc((size_t)cap * sizeof *names);
    int nt = 0;
    awq_err e = t && h && names ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < AWQ_FEAT__COUNT && !e; i++) {
        if (!ci->width[i]) continue; /* a mixture-of-experts block: no dense mlp inputs; others' absent feats */
        snprintf(names[nt], 48, "%s", CLIPIN_NAMES[i]);
        e = clipin_tensor(&t[nt], names[nt], ci->f[i], ci->T, ci->width[i], as_f16, &h[nt]);
        nt++;
    }
    for (int x = 0; x < ci->n_experts && !e; x++) {
        const awq_clip_expert *ex = &ci->ex[x];
        snprintf(names[nt], 48, "experts.%d.in", x);
        e = clipin_tensor(&t[nt], names[nt], ex->in, ex->T, ci->ex_in_w, as_f16, &h[nt]);
        nt++;
        snprintf(names[nt], 48, "experts.%d.down_in", x);
        if (!e) e = clipin_tensor(&t[nt], names[nt], ex->down, ex->T, ci->ex_down_w, as_f16, &h[nt]);
        nt++;
    }
    if (!e) e = awq_store_put(s, key, "clipin", recipe, t, nt);
    for (int i = 0; h && i < nt; i++) free(h[i]);
    free(t), free(h), free(names);
    return e;
}

/* Array `name` of the object as fp32 into dst [T, w] (T = rows given, or taken when *T is 0). */
static awq_err clipin_read(const awq_object *o, const awq_key *key, const char *name, size_t *T, size_t w, float **dst)
{
    const awq_tensor *t = awq_object_tensor(o, name);
    if (!t || t->ndim != 2 || (t->dtype != AWQ_DT_F16 && t->dtype != AWQ_DT_F32) || (*T && (size_t)t->shape[0] != *T) ||
        (size_t)t->shape[1] != w)
        return bad_object(key, "clipin", name);
    *T = (size_t)t->shape[0];
    size_t n = *T * w;
    if (!*dst && !(*dst = malloc(n * sizeof(float) + 1))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (t->dtype == AWQ_DT_F16) awq_f16_to_f32_n(*dst, t->data, n);
    else memcpy(*dst, t->data, n * 4);
    return AWQ_OK;
}

awq_err awq_clipin_get(awq_store *s, const awq_key *key, const awq_config *cfg, int n_experts, awq_clip_in *ci)
{
    awq_object *o = NULL;
    memset(ci, 0, sizeof *ci);
    awq_err e = get_kind(s, key, "clipin", &o);
    const awq_tensor *t0 = e ? NULL : awq_object_tensor(o, CLIPIN_NAMES[0]);
    if (!e && (!t0 || t0->ndim != 2)) e = bad_object(key, "clipin", CLIPIN_NAMES[0]);
    if (!e) e = awq_clip_in_alloc(ci, cfg, n_experts, (size_t)t0->shape[0], 0); /* step: not recorded, not needed */
    for (int i = 0; i < AWQ_FEAT__COUNT && !e; i++) {
        size_t T = ci->T;
        if (ci->width[i]) e = clipin_read(o, key, CLIPIN_NAMES[i], &T, ci->width[i], &ci->f[i]);
    }
    for (int x = 0; x < n_experts && !e; x++) {
        char nm[48];
        awq_clip_expert *ex = &ci->ex[x];
        size_t T = 0;
        snprintf(nm, sizeof nm, "experts.%d.in", x);
        e = clipin_read(o, key, nm, &T, (size_t)cfg->hidden_size, &ex->in);
        snprintf(nm, sizeof nm, "experts.%d.down_in", x);
        if (!e) e = clipin_read(o, key, nm, &T, (size_t)cfg->moe_intermediate_size, &ex->down);
        ex->T = T;
    }
    awq_object_free(o);
    if (e) awq_clip_in_free(ci);
    return e;
}

/* ---- clips -------------------------------------------------------------------------------- */

awq_err awq_clips_put(awq_store *s, const awq_key *key, const char *recipe, const awq_clip_result *r, int n)
{
    awq_tensor *t = malloc((size_t)(3 * n + 1) * sizeof *t);
    char (*names)[80] = malloc((size_t)(3 * n + 1) * sizeof *names);
    if (!t || !names) { free(t), free(names); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    int nt = 0;
    for (int i = 0; i < n; i++) {
        char lin[64];
        awq_linear_name(r[i].linear, lin, sizeof lin);
        int64_t O = (int64_t)r[i].o, G = (int64_t)r[i].g_count, K = (int64_t)r[i].n_cand;
        snprintf(names[nt], 80, "%s.max_val", lin);
        t[nt] = (awq_tensor){names[nt], AWQ_DT_F32, 2, {O, G}, r[i].max_val, (size_t)(O * G) * 4, 0};
        nt++;
        snprintf(names[nt], 80, "%s.best", lin);
        t[nt] = (awq_tensor){names[nt], AWQ_DT_I32, 2, {O, G}, r[i].best, (size_t)(O * G) * 4, 0};
        nt++;
        snprintf(names[nt], 80, "%s.loss", lin);
        t[nt] = (awq_tensor){names[nt], AWQ_DT_F32, 3, {O, G, K}, r[i].loss, (size_t)(O * G * K) * 4, 0};
        nt++;
    }
    awq_err e = awq_store_put(s, key, "clip", recipe, t, nt);
    free(t), free(names);
    return e;
}

/* The linear slot named lin ("self_attn.v_proj", "mlp.experts.3.down_proj"), or -1. */
static int linear_slot(const char *lin)
{
    char buf[64];
    for (int sl = 0; sl < AWQ_SLOT__FIXED; sl++) /* the dense, latent attention and shared experts' linears */
        if (awq_slot_is_linear((awq_slot)sl) && !strcmp(lin, awq_linear_name((awq_slot)sl, buf, sizeof buf))) return sl;
    int e, n = 0;
    char proj[16];
    if (sscanf(lin, "mlp.experts.%d.%15[a-z_]%n", &e, proj, &n) != 2 || lin[n] || e < 0 || e >= AWQ_MAX_EXPERTS) return -1;
    for (int k = 0; k < AWQ_EXPERT__SLOTS; k++)
        if (!strcmp(lin, awq_linear_name(AWQ_SLOT_EXPERT(e, k), buf, sizeof buf))) return AWQ_SLOT_EXPERT(e, k);
    return -1;
}

awq_err awq_clips_get(awq_store *s, const awq_key *key, float *max_val[AWQ_SLOT__COUNT])
{
    memset(max_val, 0, sizeof(float *) * AWQ_SLOT__COUNT);
    awq_object *o = NULL;
    awq_err e = get_kind(s, key, "clip", &o);
    if (e) return e;
    for (int i = 0; i < o->n_tensors && !e; i++) {
        const awq_tensor *t = &o->tensors[i];
        size_t n = strlen(t->name);
        if (n < 9 || strcmp(t->name + n - 8, ".max_val") != 0) continue;
        char lin[64];
        snprintf(lin, sizeof lin, "%.*s", (int)(n - 8), t->name);
        int L = linear_slot(lin);
        if (L < 0 || t->dtype != AWQ_DT_F32 || t->ndim != 2 || max_val[L]) { e = bad_object(key, "clip", t->name); break; }
        if (!(max_val[L] = malloc(t->nbytes + 1))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        memcpy(max_val[L], t->data, t->nbytes);
    }
    awq_object_free(o);
    if (e) for (int sl = 0; sl < AWQ_SLOT__COUNT; sl++) { free(max_val[sl]); max_val[sl] = NULL; }
    return e;
}

/* ---- packing ------------------------------------------------------------------------------ */

enum { PACK_MAX_TENSORS = 4 * AWQ_MAX_LINEARS + AWQ_SLOT__COUNT };

/* The compressed-tensors tensors of one linear (ct.h) from its codes, zeros and scales, into
 * t[0..4) (names in names[0..4), the packed arrays kept in *ct for the caller to free). */
static awq_err ct_tensors(const char *lin, awq_packed_linear *pl, awq_ct_linear *ct, int w_bit, awq_tensor *t, char (*names)[80])
{
    size_t O = pl->o, I = pl->i, G = pl->g_count;
    uint16_t *s16 = malloc(O * G * 2 + 1);
    if (!s16) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O * G; k++) {
        if (!awq_f32_fits_f16(pl->scales[k])) {
            free(s16);
            return awq_fail(AWQ_ERR_NUMERIC, "scale [%zu, %zu] = %g does not fit fp16", k / G, k % G, (double)pl->scales[k]);
        }
        s16[k] = awq_f32_to_f16(pl->scales[k]);
    }
    awq_err e = awq_ct_from_codes(ct, pl->codes, pl->zeros, s16, O, I, G, w_bit);
    free(s16);
    if (e) return e;
    for (int k = 0; k < 4; k++) snprintf(names[k], 80, "%s.%s", lin, AWQ_CT_SUFFIX[k]);
    const size_t nw = awq_ct_words(I, w_bit), zw = awq_ct_words(O, w_bit);
    t[0] = (awq_tensor){names[0], AWQ_DT_I32, 2, {(int64_t)O, (int64_t)nw}, ct->packed, O * nw * 4, .fast = 1};
    t[1] = (awq_tensor){names[1], AWQ_DT_F16, 2, {(int64_t)O, (int64_t)G}, ct->scale, O * G * 2, 0};
    t[2] = (awq_tensor){names[2], AWQ_DT_I32, 2, {(int64_t)zw, (int64_t)G}, ct->zero, zw * G * 4, 0};
    t[3] = (awq_tensor){names[3], AWQ_DT_I64, 1, {2}, ct->shape, 16, 0};
    return AWQ_OK;
}

awq_err awq_pack_block(awq_store *s, const awq_key *key, const char *recipe, const awq_backend *be,
                       const awq_params *p, const awq_block_f32 *b, float *const max_val[AWQ_SLOT__COUNT],
                       awq_block_f32 *fq)
{
    const int pack = awq_pack_layout(p) == AWQ_LAYOUT_GEMM, ct = awq_pack_layout(p) == AWQ_LAYOUT_CT;
    awq_slot lins[AWQ_MAX_LINEARS];
    const int nlin = awq_block_linears(b, lins);
    awq_packed_linear *pl = calloc((size_t)nlin + 1, sizeof *pl);
    awq_ct_linear *cts = calloc((size_t)nlin + 1, sizeof *cts);
    awq_tensor *t = malloc(PACK_MAX_TENSORS * sizeof *t);
    char (*names)[80] = malloc(PACK_MAX_TENSORS * sizeof *names);
    uint16_t **h16 = calloc(AWQ_SLOT__COUNT, sizeof *h16);
    int nt = 0;
    awq_err e = pl && cts && t && names && h16 ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (fq) memset(fq, 0, sizeof *fq);
    /* the small tensors (norms, biases) on the host; those of a block in device memory are fetched */
    const float *host_t[AWQ_SLOT__COUNT] = {0};
    float *fetched[AWQ_SLOT__COUNT] = {0};
    for (int sl = 0; sl < AWQ_SLOT__COUNT && !e; sl++) {
        if (!b->t[sl] || awq_slot_is_linear((awq_slot)sl)) continue;
        size_t n = awq_block_f32_numel(b, (awq_slot)sl);
        if (!b->be) { host_t[sl] = b->t[sl]; continue; }
        if (!(fetched[sl] = malloc(n * sizeof(float)))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        else e = awq_dev_fetch(b->be, fetched[sl], b->t[sl], n * sizeof(float));
        host_t[sl] = fetched[sl];
    }
    for (int li = 0; li < nlin && !e; li++) {
        awq_slot L = lins[li];
        size_t O = (size_t)b->shape[L][0], I = (size_t)b->shape[L][1];
        if (p->export_fp16) { /* spec §3.6: scales and clips applied, no quantization, original names */
            size_t g;
            float *wc = malloc(O * I * sizeof *wc + 1);
            if (!wc || !(h16[L] = malloc(O * I * 2 + 1))) { free(wc); e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            if (b->be) e = awq_dev_fetch(b->be, wc, b->t[L], O * I * sizeof *wc);
            else memcpy(wc, b->t[L], O * I * sizeof *wc);
            if (e) { free(wc); break; }
            if (max_val && max_val[L] && kern_quant_group(&g, I, p->group) == KERN_OK)
                for (size_t o = 0; o < O; o++)
                    for (size_t c = 0; c < I; c++) {
                        float mv = max_val[L][o * (I / g) + c / g], *v = &wc[o * I + c];
                        *v = *v > mv ? mv : *v < -mv ? -mv : *v;
                    }
            awq_f32_to_f16_n(h16[L], wc, O * I);
            t[nt] = (awq_tensor){(char *)awq_slot_suffix(L), AWQ_DT_F16, 2, {(int64_t)O, (int64_t)I}, h16[L], O * I * 2, 0};
            nt++;
            if (fq) { fq->t[L] = wc; fq->ndim[L] = 2; fq->shape[L][0] = (int64_t)O; fq->shape[L][1] = (int64_t)I; }
            else free(wc);
            continue;
        }
        e = awq_quantize_linear(be, p, b->t[L], O, I, max_val ? max_val[L] : NULL,
                                (pack ? AWQ_QL_PACK : 0) | (ct ? AWQ_QL_CODES : 0) | (fq ? AWQ_QL_DEQ : 0) |
                                (b->be ? AWQ_QL_W_ON_DEV : 0), &pl[li]);
        if (e) { char lin[64]; e = awq_context(e, "%s", awq_linear_name(L, lin, sizeof lin)); break; }
        char lin[64];
        awq_linear_name(L, lin, sizeof lin);
        size_t G = pl[li].g_count;
        if (pack) {
            snprintf(names[nt], 80, "%s.qweight", lin);
            t[nt] = (awq_tensor){names[nt], AWQ_DT_I32, 2, {(int64_t)I, (int64_t)(O / 8)}, pl[li].qweight, I * (O / 8) * 4, .fast = 1};
            nt++;
            snprintf(names[nt], 80, "%s.qzeros", lin);
            t[nt] = (awq_tensor){names[nt], AWQ_DT_I32, 2, {(int64_t)G, (int64_t)(O / 8)}, pl[li].qzeros, G * (O / 8) * 4, .fast = 1};
            nt++;
            snprintf(names[nt], 80, "%s.scales", lin);
            t[nt] = (awq_tensor){names[nt], AWQ_DT_F16, 2, {(int64_t)G, (int64_t)O}, pl[li].scales16, G * O * 2, 0};
            nt++;
        } else if (ct) {
            if ((e = ct_tensors(lin, &pl[li], &cts[li], p->w_bit, t + nt, names + nt))) { e = awq_context(e, "%s", lin); break; }
            nt += 4;
        } else { /* fake quantization only: the dequantized weight in fp16 */
            if (!(h16[L] = malloc(O * I * 2))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            awq_f32_to_f16_n(h16[L], pl[li].deq, O * I);
            t[nt] = (awq_tensor){(char *)awq_slot_suffix(L), AWQ_DT_F16, 2, {(int64_t)O, (int64_t)I}, h16[L], O * I * 2, 0};
            nt++;
        }
        if (fq) {
            fq->t[L] = pl[li].deq;
            pl[li].deq = NULL;
            fq->ndim[L] = 2;
            fq->shape[L][0] = (int64_t)O;
            fq->shape[L][1] = (int64_t)I;
        }
    }
    /* every other tensor of the block (norms, q/k norm, biases) in fp16; a linear's bias is
     * stored as "<linear>.bias", which is its slot name already */
    for (int sl = 0; sl < AWQ_SLOT__COUNT && !e; sl++) {
        if (!b->t[sl] || awq_slot_is_linear((awq_slot)sl)) continue;
        size_t n = awq_block_f32_numel(b, (awq_slot)sl);
        if (!(h16[sl] = malloc(n * 2 + 1))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        const float *v = host_t[sl];
        for (size_t k = 0; k < n && !e; k++)
            if (!awq_f32_fits_f16(v[k]))
                e = awq_fail(AWQ_ERR_NUMERIC, "'%s' element %zu = %g does not fit fp16", awq_slot_suffix((awq_slot)sl), k, (double)v[k]);
        if (e) break;
        awq_f32_to_f16_n(h16[sl], v, n);
        t[nt] = (awq_tensor){(char *)awq_slot_suffix((awq_slot)sl), AWQ_DT_F16, b->ndim[sl], {b->shape[sl][0], b->shape[sl][1]},
                             h16[sl], n * 2, 0};
        nt++;
        if (fq) {
            if (!(fq->t[sl] = malloc(n * sizeof(float) + 1))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            awq_f16_to_f32_n(fq->t[sl], h16[sl], n); /* what the checkpoint holds */
            fq->ndim[sl] = b->ndim[sl];
            memcpy(fq->shape[sl], b->shape[sl], sizeof fq->shape[sl]);
        }
    }
    /* Phi3: the output holds qkv_proj and gate_up_proj as the input did (fused.h) */
    void *fused_bufs[AWQ_FUSED_MAX_BUFS];
    int n_fused = 0;
    if (!e && b->fused) e = awq_fuse_packed(t, &nt, fused_bufs, &n_fused, names);
    if (!e) e = awq_store_put(s, key, "packed", recipe, t, nt);
    for (int k = 0; k < n_fused; k++) free(fused_bufs[k]);
    for (int li = 0; pl && li < nlin; li++) awq_packed_linear_free(&pl[li]);
    for (int li = 0; cts && li < nlin; li++) awq_ct_linear_free(&cts[li]);
    free(cts);
    for (int sl = 0; sl < AWQ_SLOT__COUNT; sl++) { if (h16) free(h16[sl]); free(fetched[sl]); }
    free(pl), free(t), free(names), free(h16);
    if (e && fq) awq_block_f32_free(fq);
    return e;
}
