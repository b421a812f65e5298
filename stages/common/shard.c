/* shard.c - the per-block and non-block shard files of the output checkpoint (shard.h): their
 * names, their tensor tables (shared with the all-in-one writer of assemble.c), writing them, and
 * removing those of earlier experiments. */
#include "shard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cache/atomic.h"
#include "../../base/half.h"
#include "ct.h"
#include "log.h"
#include "params.h"

#define SUFFIX ".safetensors"

void awq_block_shard_name(int layer, const awq_key *packed, int format, char out[AWQ_SHARD_NAME_MAX])
{
    char hex[AWQ_KEY_HEX + 1];
    awq_key k = *packed;
    if (format == AWQ_FORMAT_CT) {
        awq_recipe *r = awq_recipe_new("ct-shard", 1);
        if (awq_recipe_add_key(r, "packed", packed) == AWQ_OK) k = awq_recipe_key(r);
        else awq_clear_error(); /* out of memory for a few bytes: the name is checked where it is used */
        awq_recipe_free(r);
    }
    awq_key_hex(&k, hex);
    snprintf(out, AWQ_SHARD_NAME_MAX, "%d-%s" SUFFIX, layer, hex);
}

awq_err awq_rest_shard_name(const awq_model *m, char out[AWQ_SHARD_NAME_MAX])
{
    awq_key k;
    awq_err e = awq_rest_key(m, &k);
    if (e) return e;
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(&k, hex);
    snprintf(out, AWQ_SHARD_NAME_MAX, "rest-%s" SUFFIX, hex);
    return AWQ_OK;
}

static int all_of(const char *p, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!p[i] || !strchr(set, p[i])) return 0;
    return 1;
}

int awq_is_shard_name(const char *name)
{
    if (strncmp(name, ".tmp-", 5) == 0) { /* ".tmp-<shard name>-<host>-<pid>-<random>" (cache/atomic.c) */
        const char *end = strstr(name + 5, SUFFIX "-");
        if (!end) return 0;
        char base[AWQ_SHARD_NAME_MAX];
        size_t n = (size_t)(end - (name + 5)) + strlen(SUFFIX);
        if (n >= sizeof base) return 0;
        memcpy(base, name + 5, n);
        base[n] = 0;
        return awq_is_shard_name(base);
    }
    size_t n = strlen(name), sl = strlen(SUFFIX);
    const char *dash = strchr(name, '-');
    if (n <= sl || strcmp(name + n - sl, SUFFIX) != 0 || !dash) return 0;
    if ((size_t)(name + n - sl - (dash + 1)) != AWQ_KEY_HEX || !all_of(dash + 1, AWQ_KEY_HEX, "0123456789abcdef")) return 0;
    size_t head = (size_t)(dash - name);
    return (head == 4 && strncmp(name, "rest", 4) == 0) || (head > 0 && all_of(name, head, "0123456789"));
}

awq_err awq_block_shard_tensors(const awq_config *cfg, const awq_object *o, int layer, st_tensor *t, char **names)
{
    for (int i = 0; i < o->n_tensors; i++) {
        const awq_tensor *ot = &o->tensors[i];
        /* the output name, then (after its NUL) the object's own name, which the assembler reads */
        size_t len = 2 * strlen(ot->name) + 96;
        char rel[160];
        if (!(names[i] = malloc(len))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
        int k = snprintf(names[i], len, "model.layers.%d.%s", layer, awq_ckpt_name(cfg, ot->name, rel, sizeof rel));
        snprintf(names[i] + k + 1, len - (size_t)k - 1, "%s", ot->name);
        t[i] = (st_tensor){names[i], ot->dtype, ot->ndim, {0}, ot->data, ot->nbytes, 0};
        memcpy(t[i].shape, ot->shape, sizeof(int64_t) * (size_t)ot->ndim);
    }
    return AWQ_OK;
}

int awq_rest_shard_tensors(const awq_model *m, st_tensor t[3], const st_tensor *src[3])
{
    const st_tensor *all[3] = {m->embed, m->final_norm, m->lm_head != m->embed ? m->lm_head : NULL};
    int n = 0;
    for (int k = 0; k < 3; k++) {
        if (!all[k]) continue;
        const st_tensor *mt = all[k];
        size_t numel = mt->nbytes / awq_dtype_size(mt->dtype);
        src[n] = mt;
        t[n] = (st_tensor){mt->name, AWQ_DT_F16, mt->ndim, {0}, NULL, numel * 2, 0};
        memcpy(t[n].shape, mt->shape, sizeof(int64_t) * (size_t)mt->ndim);
        n++;
    }
    return n;
}

awq_err awq_rest_fill(const st_tensor *t, uint64_t offset, void *buf, size_t len)
{
    size_t first = (size_t)(offset / 2), n = len / 2;
    uint16_t *h = buf;
    if (t->dtype == AWQ_DT_F16) { /* as stored (the embedding and lm_head: the bulk of the bytes) */
        memcpy(h, (const uint16_t *)t->data + first, n * 2);
        for (size_t k = 0; k < n; k++)
            if ((h[k] & 0x7c00u) == 0x7c00u)
                return awq_fail(AWQ_ERR_NUMERIC, "tensor '%s' element %zu = %g does not fit fp16", t->name, first + k,
                                (double)awq_f16_to_f32(h[k]));
        return AWQ_OK;
    }
    for (size_t k = 0; k < n; k++) {
        float v = t->dtype == AWQ_DT_BF16 ? awq_bf16_to_f32(((const uint16_t *)t->data)[first + k])
                                          : ((const float *)t->data)[first + k];
        if (!awq_f32_fits_f16(v))
            return awq_fail(AWQ_ERR_NUMERIC, "tensor '%s' element %zu = %g does not fit fp16", t->name, first + k, (double)v);
        h[k] = awq_f32_to_f16(v);
    }
    return AWQ_OK;
}

static awq_err make_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return AWQ_OK;
    *slash = 0;
    return awq_mkdirs(dir);
}

/* The compressed-tensors form of a GEMM object's tensors (ct.h), in a new object `ct` whose
 * tensors and data it owns (the arrays in *lins, freed by the caller): each qweight with its
 * qzeros and scales becomes the four CT tensors, every other tensor is a view of o's. An object
 * already in the CT layout passes unchanged; fake-quant weights (no codes) are refused. */
static awq_err ct_object(const awq_object *o, int layer, awq_object *ct, awq_ct_linear **lins, char (**names)[96])
{
    const int n = o->n_tensors;
    memset(ct, 0, sizeof *ct);
    *lins = calloc((size_t)n + 1, sizeof **lins);
    *names = calloc((size_t)n * 4 + 1, sizeof **names);
    ct->tensors = calloc((size_t)n * 4 + 1, sizeof *ct->tensors);
    if (!*lins || !*names || !ct->tensors) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    int nt = 0, nl = 0, codes = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(o->tensors[i].name);
        codes |= (len > 8 && strcmp(o->tensors[i].name + len - 8, ".qweight") == 0) || strstr(o->tensors[i].name, ".weight_packed");
    }
    if (!codes) { /* every block has a quantized linear: these are fp16 weights */
        awq_fail(AWQ_ERR_FORMAT, "the packed object of block %d holds fp16 weights, not the codes FORMAT=ct writes", layer);
        awq_hint("plan again with FORMAT=ct (the packed objects of W_BIT other than 4 are then made in its layout); EXPORT=1 has no CT form");
        return AWQ_ERR_FORMAT;
    }
    for (int i = 0; i < n; i++) {
        const awq_tensor *t = &o->tensors[i];
        size_t len = strlen(t->name);
        if (len > 7 && (strcmp(t->name + len - 7, ".qzeros") == 0 || strcmp(t->name + len - 7, ".scales") == 0)) continue;
        if (len <= 8 || strcmp(t->name + len - 8, ".qweight") != 0) { ct->tensors[nt++] = *t; continue; }
        char lin[96], nm[112];
        snprintf(lin, sizeof lin, "%.*s", (int)(len - 8), t->name);
        snprintf(nm, sizeof nm, "%s.qzeros", lin);
        const awq_tensor *qz = awq_object_tensor(o, nm);
        snprintf(nm, sizeof nm, "%s.scales", lin);
        const awq_tensor *sc = awq_object_tensor(o, nm);
        if (!qz || !sc || t->ndim != 2 || qz->ndim != 2 || sc->ndim != 2 || t->dtype != AWQ_DT_I32 || sc->dtype != AWQ_DT_F16)
            return awq_fail(AWQ_ERR_FORMAT, "block %d: '%s' lacks the qzeros and scales of a GEMM linear", layer, t->name);
        size_t I = (size_t)t->shape[0], O = (size_t)t->shape[1] * 8, G = (size_t)qz->shape[0];
        awq_err e = awq_ct_from_gemm(&(*lins)[nl], t->data, qz->data, sc->data, O, I, G);
        if (e) return awq_context(e, "block %d %s", layer, lin);
        const awq_ct_linear *c = &(*lins)[nl++];
        const size_t nw = awq_ct_words(I, 4), zw = awq_ct_words(O, 4);
        char (*nm4)[96] = *names + nt;
        for (int k = 0; k < 4; k++) snprintf(nm4[k], 96, "%s.%s", lin, AWQ_CT_SUFFIX[k]);
        awq_tensor *o4 = ct->tensors + nt;
        o4[0] = (awq_tensor){nm4[0], AWQ_DT_I32, 2, {(int64_t)O, (int64_t)nw}, c->packed, O * nw * 4, 0};
        o4[1] = (awq_tensor){nm4[1], AWQ_DT_F16, 2, {(int64_t)O, (int64_t)G}, c->scale, O * G * 2, 0};
        o4[2] = (awq_tensor){nm4[2], AWQ_DT_I32, 2, {(int64_t)zw, (int64_t)G}, c->zero, zw * G * 4, 0};
        o4[3] = (awq_tensor){nm4[3], AWQ_DT_I64, 1, {2}, (void *)c->shape, 16, 0};
        nt += 4;
    }
    ct->n_tensors = nt;
    return AWQ_OK;
}

awq_err awq_write_block_shard(const awq_config *cfg, awq_store *s, int layer, const awq_key *packed, int format,
                              const char *path)
{
    awq_object *o = NULL;
    awq_err e = awq_store_get(s, packed, &o);
    if (e) return awq_context(e, "packed object of block %d", layer);
    if (strcmp(o->kind, "packed") != 0) {
        char hex[AWQ_KEY_HEX + 1];
        awq_key_hex(packed, hex);
        e = awq_fail(AWQ_ERR_FORMAT, "object %s is a '%s' object, not the packed object of block %d", hex, o->kind, layer);
    }
    awq_object ct;
    awq_ct_linear *lins = NULL;
    char (*ct_names)[96] = NULL;
    const awq_object *src = o;
    if (!e && format == AWQ_FORMAT_CT) {
        e = ct_object(o, layer, &ct, &lins, &ct_names);
        src = &ct;
    }
    const int n = e ? 0 : src->n_tensors;
    st_tensor *t = calloc((size_t)n + 1, sizeof *t);
    char **names = calloc((size_t)n + 1, sizeof *names);
    if (!e && (!t || !names)) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) e = awq_block_shard_tensors(cfg, src, layer, t, names);
    if (!e) e = make_parent(path);
    if (!e) e = st_write(path, t, n);
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(t);
    if (format == AWQ_FORMAT_CT) {
        for (int i = 0; lins && i < o->n_tensors; i++) awq_ct_linear_free(&lins[i]);
        free(lins); free(ct_names); free(ct.tensors);
    }
    awq_object_free(o);
    return e;
}

static awq_err rest_fill(void *ctx, int index, uint64_t offset, void *buf, size_t len)
{
    const st_tensor *const *src = ctx;
    return awq_rest_fill(src[index], offset, buf, len);
}

awq_err awq_write_rest_shard(const awq_model *m, const char *path)
{
    st_tensor t[3];
    const st_tensor *src[3];
    int n = awq_rest_shard_tensors(m, t, src);
    awq_err e = make_parent(path);
    if (!e) e = st_write_fill(path, t, n, rest_fill, (void *)src);
    return e;
}

int awq_prune_shards(const char *dir, const char *const *keep, int n_keep, const char *trash)
{
    DIR *d = opendir(dir);
    if (!d) { awq_warn("cannot read '%s' to remove stale shards: %s", dir, strerror(errno)); return 0; }
    int removed = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (!awq_is_shard_name(ent->d_name)) continue;
        int kept = 0;
        for (int i = 0; i < n_keep && !kept; i++) kept = strcmp(ent->d_name, keep[i]) == 0;
        if (kept) continue;
        char path[4096 + 256], to[4096 + 256];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        snprintf(to, sizeof to, "%s/%s", trash ? trash : "", ent->d_name);
        if ((trash && rename(path, to) == 0) || unlink(path) == 0) removed++;
        else if (errno != ENOENT) awq_warn("cannot remove stale shard '%s': %s", path, strerror(errno));
    }
    closedir(d);
    return removed;
}
