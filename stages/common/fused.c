/* fused.c - Phi-3's fused qkv_proj and gate_up_proj as per-part views on the way in and fused
 * tensors again on the way out (fused.h). */
#include "fused.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"

/* The fused linears and their parts in row order (Phi3Attention slices q, k, v in this order;
 * Phi3MLP's chunk(2) gives gate first, then up). */
static const struct {
    const char *name;
    awq_slot parts[3];
    int n;
    const char *part_names[3]; /* the parts' linear names in awqmake's objects (awq_linear_name) */
} g_fused[] = {
    {"self_attn.qkv_proj", {AWQ_W_Q, AWQ_W_K, AWQ_W_V}, 3, {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
    {"mlp.gate_up_proj", {AWQ_W_GATE, AWQ_W_UP}, 2, {"mlp.gate_proj", "mlp.up_proj"}},
};
enum { N_FUSED = sizeof g_fused / sizeof g_fused[0], N_PARTS = 5 };

static int64_t part_rows(const awq_config *c, awq_slot s)
{
    const int64_t D = c->head_dim;
    switch (s) {
    case AWQ_W_Q: return (int64_t)c->num_attention_heads * D;
    case AWQ_W_K: case AWQ_W_V: return (int64_t)c->num_key_value_heads * D;
    default: return c->intermediate_size; /* gate, up */
    }
}

int awq_fused_part_of(const awq_config *cfg, awq_slot s, awq_fused_part *p)
{
    if (!cfg->fused) return 0;
    for (int f = 0; f < N_FUSED; f++) {
        int64_t row0 = 0, total = 0;
        int k = -1;
        for (int i = 0; i < g_fused[f].n; i++) {
            if (g_fused[f].parts[i] == s) k = i, row0 = total;
            total += part_rows(cfg, g_fused[f].parts[i]);
        }
        if (k < 0) continue;
        *p = (awq_fused_part){g_fused[f].name, row0, part_rows(cfg, s), total};
        return 1;
    }
    return 0;
}

/* The view's index in m->fused_views: block-major, parts in g_fused order. */
static int view_index(awq_slot s)
{
    static const awq_slot order[N_PARTS] = {AWQ_W_Q, AWQ_W_K, AWQ_W_V, AWQ_W_GATE, AWQ_W_UP};
    for (int i = 0; i < N_PARTS; i++)
        if (order[i] == s) return i;
    return -1;
}

awq_err awq_fused_open(awq_model *m)
{
    const awq_config *c = &m->cfg;
    if (!c->fused) return AWQ_OK;
    const int L = c->num_hidden_layers;
    m->fused_views = calloc((size_t)L * N_PARTS, sizeof *m->fused_views);
    m->fused_names = calloc((size_t)L * N_PARTS, 96);
    if (!m->fused_views || !m->fused_names) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int l = 0; l < L; l++)
        for (int f = 0; f < N_FUSED; f++) {
            char name[160];
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, g_fused[f].name);
            const st_tensor *t = st_find(m->st, name);
            if (!t) {
                awq_fail(AWQ_ERR_NOTFOUND, "'%s': tensor '%s' is missing", m->dir, name);
                awq_hint("is the checkpoint complete (all shards present)?");
                return AWQ_ERR_NOTFOUND;
            }
            awq_fused_part p;
            awq_fused_part_of(c, g_fused[f].parts[0], &p);
            if (t->ndim != 2 || t->shape[0] != p.total || t->shape[1] != c->hidden_size) {
                awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '%s' has %s shape but config.json implies [%lld, %d]", m->dir, name,
                         t->ndim == 2 ? "another" : "a non-matrix", (long long)p.total, c->hidden_size);
                awq_hint("the weights and config.json do not belong together");
                return AWQ_ERR_FORMAT;
            }
            if (t->dtype != AWQ_DT_F16 && t->dtype != AWQ_DT_BF16 && t->dtype != AWQ_DT_F32)
                return awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': tensor '%s' has dtype %s; only F16, BF16 and F32 are supported",
                                m->dir, name, awq_dtype_name(t->dtype));
            const size_t row_bytes = t->nbytes / (size_t)t->shape[0];
            for (int i = 0; i < g_fused[f].n; i++) {
                awq_slot s = g_fused[f].parts[i];
                awq_fused_part_of(c, s, &p);
                const int v = l * N_PARTS + view_index(s);
                char *vn = m->fused_names + (size_t)v * 96;
                /* named by its rows, so a message about an element says where it is */
                snprintf(vn, 96, "%s[%lld:%lld]", name, (long long)p.row0, (long long)(p.row0 + p.rows));
                m->fused_views[v] = (st_tensor){vn, t->dtype, 2, {p.rows, t->shape[1]},
                                                (const char *)t->data + (size_t)p.row0 * row_bytes, (size_t)p.rows * row_bytes,
                                                t->file};
            }
        }
    return AWQ_OK;
}

const st_tensor *awq_fused_view(const awq_model *m, int layer, awq_slot s)
{
    int i = view_index(s);
    if (!m->fused_views || i < 0 || layer < 0 || layer >= m->cfg.num_hidden_layers) return NULL;
    return &m->fused_views[layer * N_PARTS + i];
}

static int find(const awq_tensor *t, int nt, const char *name)
{
    for (int i = 0; i < nt; i++)
        if (strcmp(t[i].name, name) == 0) return i;
    return -1;
}

/* Drop parts idx[1..n) (the fused tensor took idx[0]'s place), keeping the order of the rest. */
static awq_err drop_parts(awq_tensor *t, int *nt, const int *idx, int n, char (*names)[80])
{
    int keep = 0;
    for (int i = 0; i < *nt; i++) {
        int drop = 0;
        for (int k = 1; k < n; k++) drop |= i == idx[k];
        if (!drop) {
            if (keep != i) {
                t[keep] = t[i];
                if (t[i].name == names[i]) { memcpy(names[keep], names[i], 80); t[keep].name = names[keep]; }
            }
            keep++;
        }
    }
    *nt = keep;
    return AWQ_OK;
}

/* One fused tensor from parts idx[0..n): along rows (cat_rows) or side by side along columns. */
static awq_err merge(awq_tensor *t, int *nt, const int *idx, int n, int cat_rows, const char *name, void **bufs,
                     int *n_bufs, char (*names)[80])
{
    const awq_tensor *first = &t[idx[0]];
    const size_t esz = first->nbytes / (size_t)(first->shape[0] * first->shape[1]);
    int64_t rows = cat_rows ? 0 : first->shape[0], cols = cat_rows ? first->shape[1] : 0;
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        const awq_tensor *p = &t[idx[i]];
        if (p->ndim != 2 || p->dtype != first->dtype || (cat_rows ? p->shape[1] != cols : p->shape[0] != rows))
            return awq_fail(AWQ_ERR_FORMAT, "internal: the parts of '%s' do not stack", name);
        if (cat_rows) rows += p->shape[0];
        else cols += p->shape[1];
        bytes += p->nbytes;
    }
    if (*n_bufs >= AWQ_FUSED_MAX_BUFS) return awq_fail(AWQ_ERR_ARG, "internal: too many fused tensors");
    char *out = malloc(bytes + 1);
    if (!out) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    bufs[(*n_bufs)++] = out;
    if (cat_rows) {
        size_t off = 0;
        for (int i = 0; i < n; off += t[idx[i]].nbytes, i++) memcpy(out + off, t[idx[i]].data, t[idx[i]].nbytes);
    } else { /* row r of the fused tensor: row r of each part in turn */
        char *o = out;
        for (int64_t r = 0; r < rows; r++)
            for (int i = 0; i < n; i++) {
                const size_t w = (size_t)t[idx[i]].shape[1] * esz;
                memcpy(o, (const char *)t[idx[i]].data + (size_t)r * w, w);
                o += w;
            }
    }
    int fi = idx[0];
    snprintf(names[fi], 80, "%s", name);
    t[fi] = (awq_tensor){names[fi], first->dtype, 2, {rows, cols}, out, bytes, first->fast};
    return drop_parts(t, nt, idx, n, names);
}

/* The fused "<name>.weight_zero_point" from its parts': compressed-tensors packs the zeros
 * densely along the output rows ([ceil(o*b/32), G]), so a part whose o*b is not a multiple of 32
 * ends mid-word and the fused tensor is the parts' zeros unpacked, stacked and packed again. */
static awq_err merge_ct_zeros(awq_tensor *t, int *nt, const int *idx, const int64_t *prow, int n, int bits,
                              const char *name, void **bufs, int *n_bufs, char (*names)[80])
{
    const int64_t G = t[idx[0]].shape[1];
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const awq_tensor *p = &t[idx[i]];
        if (p->ndim != 2 || p->dtype != AWQ_DT_I32 || p->shape[1] != G || p->shape[0] != (int64_t)awq_ct_words((size_t)prow[i], bits))
            return awq_fail(AWQ_ERR_FORMAT, "internal: the parts of '%s' do not stack", name);
        total += prow[i];
    }
    if (*n_bufs >= AWQ_FUSED_MAX_BUFS) return awq_fail(AWQ_ERR_ARG, "internal: too many fused tensors");
    const size_t zw = awq_ct_words((size_t)total, bits);
    uint8_t *z = malloc((size_t)(total * G) + 1);
    int32_t *out = malloc(zw * (size_t)G * 4 + 1);
    if (!z || !out) { free(z), free(out); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    for (int i = 0, r0 = 0; i < n; r0 += (int)prow[i], i++)
        for (int64_t r = 0; r < prow[i]; r++)
            for (int64_t g = 0; g < G; g++) /* value r of column g's bit string */
                z[(r0 + r) * G + g] = (uint8_t)awq_ct_get((const int32_t *)t[idx[i]].data + g, (size_t)G, (size_t)r, bits);
    awq_ct_pack_cols(out, z, (size_t)total, (size_t)G, bits);
    free(z);
    bufs[(*n_bufs)++] = out;
    /* the fused tensor in place of the first part, the others dropped as merge does */
    awq_tensor *f = &t[idx[0]];
    snprintf(names[idx[0]], 80, "%s", name);
    *f = (awq_tensor){names[idx[0]], AWQ_DT_I32, 2, {(int64_t)zw, G}, out, zw * (size_t)G * 4, f->fast};
    return drop_parts(t, nt, idx, n, names);
}

awq_err awq_fuse_packed(awq_tensor *t, int *nt, void **bufs, int *n_bufs, char (*names)[80])
{
    /* AutoAWQ GEMM: qweight/qzeros/scales hold output channels along their columns; fake-quant or
     * exported weights and compressed-tensors' weight_packed/weight_scale along their rows. */
    static const struct { const char *suffix; int cat_rows; } kinds[] = {
        {"qweight", 0}, {"qzeros", 0}, {"scales", 0}, {"weight", 1}, {"weight_packed", 1}, {"weight_scale", 1},
    };
    *n_bufs = 0;
    for (int f = 0; f < N_FUSED; f++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            int idx[3], n = 0;
            for (int i = 0; i < g_fused[f].n; i++) {
                char part[96];
                snprintf(part, sizeof part, "%s.%s", g_fused[f].part_names[i], kinds[k].suffix);
                int at = find(t, *nt, part);
                if (at >= 0) idx[n++] = at;
            }
            if (n != g_fused[f].n) continue;
            char name[96];
            snprintf(name, sizeof name, "%s.%s", g_fused[f].name, kinds[k].suffix);
            awq_err e = merge(t, nt, idx, n, kinds[k].cat_rows, name, bufs, n_bufs, names);
            if (e) return e;
        }
        /* compressed-tensors (FORMAT=ct, W_BIT not 4): the zero points and weight_shape, from the
         * parts' rows (weight_shape) and bits (the fused weight_packed's width) */
        int zi[3], si[3], n = 0;
        int64_t prow[3], I = 0;
        for (int i = 0; i < g_fused[f].n; i++) {
            char part[96];
            snprintf(part, sizeof part, "%s.weight_zero_point", g_fused[f].part_names[i]);
            zi[n] = find(t, *nt, part);
            snprintf(part, sizeof part, "%s.weight_shape", g_fused[f].part_names[i]);
            si[n] = find(t, *nt, part);
            if (zi[n] < 0 || si[n] < 0 || t[si[n]].dtype != AWQ_DT_I64 || t[si[n]].nbytes != 16) break;
            const int64_t *sh = t[si[n]].data;
            prow[n] = sh[0], I = sh[1];
            n++;
        }
        if (n != g_fused[f].n) continue;
        char name[96];
        snprintf(name, sizeof name, "%s.weight_packed", g_fused[f].name);
        const int wp = find(t, *nt, name);
        int bits = 1;
        while (wp >= 0 && bits <= 8 && t[wp].shape[1] != (int64_t)awq_ct_words((size_t)I, bits)) bits++;
        if (wp < 0 || bits > 8) return awq_fail(AWQ_ERR_FORMAT, "internal: '%s' is not a compressed-tensors weight", name);
        snprintf(name, sizeof name, "%s.weight_zero_point", g_fused[f].name);
        awq_err e = merge_ct_zeros(t, nt, zi, prow, n, bits, name, bufs, n_bufs, names);
        if (e) return e;
        /* weight_shape {sum of the parts' rows, I}: indices moved when the zero points' parts went */
        for (int i = 0; i < n; i++) {
            char part[96];
            snprintf(part, sizeof part, "%s.weight_shape", g_fused[f].part_names[i]);
            si[i] = find(t, *nt, part);
        }
        if (*n_bufs >= AWQ_FUSED_MAX_BUFS) return awq_fail(AWQ_ERR_ARG, "internal: too many fused tensors");
        int64_t *shape = malloc(16);
        if (!shape) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
        bufs[(*n_bufs)++] = shape;
        shape[0] = 0, shape[1] = I;
        for (int i = 0; i < n; i++) shape[0] += prow[i];
        snprintf(name, sizeof name, "%s.weight_shape", g_fused[f].name);
        snprintf(names[si[0]], 80, "%s", name);
        t[si[0]] = (awq_tensor){names[si[0]], AWQ_DT_I64, 1, {2}, shape, 16, 0};
        if ((e = drop_parts(t, nt, si, n, names))) return e;
    }
    return AWQ_OK;
}
