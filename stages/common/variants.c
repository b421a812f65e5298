/* variants.c - quantized model variants for evaluation: packed checkpoints and RTN. */
#include "variants.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../base/half.h"
#include "../../kernels/quant.h"
#include "awqobj.h"
#include "ct.h"
#include "fused.h"

/* The quantization of a checkpoint directory from its config.json: AutoAWQ GEMM (*bits = 0) or
 * compressed-tensors pack-quantized (*bits = num_bits of its one int-weight config group). */
static awq_err read_quant(const char *dir, int64_t *group, int *bits)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) return awq_fail(AWQ_ERR_FORMAT, "'%s': %s", path, jerr.text);
    json_t *q = json_object_get(cfg, "quantization_config");
    json_t *method = q ? json_object_get(q, "quant_method") : NULL;
    const char *mt = json_is_string(method) ? json_string_value(method) : "";
    awq_err e = AWQ_OK;
    *bits = 0;
    if (strcmp(mt, "compressed-tensors") == 0) {
        json_t *fmt = json_object_get(q, "format"), *groups = json_object_get(q, "config_groups");
        const char *key;
        json_t *grp, *w = NULL;
        int n = 0;
        json_object_foreach(groups, key, grp) { n++; w = json_object_get(grp, "weights"); }
        json_t *nb = w ? json_object_get(w, "num_bits") : NULL, *gs = w ? json_object_get(w, "group_size") : NULL;
        json_t *st = w ? json_object_get(w, "strategy") : NULL, *ty = w ? json_object_get(w, "type") : NULL;
        if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "pack-quantized") != 0 || n != 1 || !json_is_integer(nb) ||
            json_integer_value(nb) < 1 || json_integer_value(nb) > 8 || !json_is_string(ty) || strcmp(json_string_value(ty), "int") ||
            !json_is_string(st))
            e = awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': only compressed-tensors pack-quantized checkpoints of one int weight "
                         "config group are read", path);
        else if (strcmp(json_string_value(st), "channel") == 0) *group = -1, *bits = (int)json_integer_value(nb);
        else if (strcmp(json_string_value(st), "group") == 0 && json_is_integer(gs))
            *group = json_integer_value(gs), *bits = (int)json_integer_value(nb);
        else e = awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': compressed-tensors strategy '%s'; group and channel are read", path,
                          json_string_value(st));
        json_decref(cfg);
        return e;
    }
    json_t *g = q ? json_object_get(q, "group_size") : NULL;
    json_t *version = q ? json_object_get(q, "version") : NULL;
    if (!q || !json_is_integer(g) || strcmp(mt, "awq") != 0)
        e = awq_fail(AWQ_ERR_FORMAT, "'%s' has no AWQ quantization_config (quant_method awq, group_size, or compressed-tensors)", path);
    else if (version && json_is_string(version) && strcmp(json_string_value(version), "gemm") != 0)
        e = awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': AWQ version '%s'; only gemm checkpoints are read", path, json_string_value(version));
    else
        *group = json_integer_value(g);
    json_decref(cfg);
    return e;
}

/* A compressed-tensors linear `lin` ("model.layers.3.self_attn.q_proj") of [rows, cols] from
 * store `st` (a checkpoint), dequantized into w; a missing zero point is the symmetric one. */
static awq_err ct_linear(st_model *st, const char *lin, size_t rows, size_t cols, int64_t group, int bits, float *w)
{
    const st_tensor *pk, *sc, *zp = NULL, *sh;
    char name[192];
    size_t g;
    if (kern_quant_group(&g, cols, group) != KERN_OK) return awq_fail(AWQ_ERR_FORMAT, "group_size %lld does not divide %zu", (long long)group, cols);
    const size_t G = cols / g;
    awq_err e;
    snprintf(name, sizeof name, "%s.weight_packed", lin);
    if ((e = st_get(st, name, &pk))) return e;
    snprintf(name, sizeof name, "%s.weight_scale", lin);
    if ((e = st_get(st, name, &sc))) return e;
    snprintf(name, sizeof name, "%s.weight_shape", lin);
    if ((e = st_get(st, name, &sh))) return e;
    snprintf(name, sizeof name, "%s.weight_zero_point", lin);
    if (st_get(st, name, &zp) != AWQ_OK) { awq_clear_error(); zp = NULL; }
    int64_t shape[2] = {0, 0};
    if (sh->dtype == AWQ_DT_I64 && sh->nbytes == 16) memcpy(shape, sh->data, 16);
    else if (sh->dtype == AWQ_DT_I32 && sh->nbytes == 8) shape[0] = ((const int32_t *)sh->data)[0], shape[1] = ((const int32_t *)sh->data)[1];
    if (shape[0] != (int64_t)rows || shape[1] != (int64_t)cols || pk->dtype != AWQ_DT_I32 ||
        pk->nbytes != rows * awq_ct_words(cols, bits) * 4 || sc->dtype != AWQ_DT_F16 || sc->nbytes != rows * G * 2 ||
        (zp && (zp->dtype != AWQ_DT_I32 || zp->nbytes != awq_ct_words(rows, bits) * G * 4)))
        return awq_fail(AWQ_ERR_FORMAT, "%s: weight_packed/weight_scale/weight_zero_point/weight_shape do not have the "
                        "compressed-tensors shapes of [%zu, %zu], %d bits, group %zu (fp16 scales)", lin, rows, cols, bits, g);
    int32_t *sym = NULL;
    if (!zp) { /* symmetric: every zero is 2^(bits-1) in the unsigned codes */
        size_t nw = awq_ct_words(rows, bits) * G;
        uint8_t *z = malloc(rows * G + 1);
        if (!z || !(sym = malloc(nw * 4 + 1))) { free(z); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
        memset(z, 1 << (bits - 1), rows * G);
        awq_ct_pack_cols(sym, z, rows, G, bits);
        free(z);
    }
    awq_ct_dequant(w, pk->data, sc->data, zp ? zp->data : sym, rows, cols, G, bits);
    free(sym);
    return AWQ_OK;
}

awq_err awq_variant_packed_open(awq_variant_ctx *v, const awq_model *m, const awq_backend *be, const char *dir)
{
    memset(v, 0, sizeof *v);
    v->m = m;
    v->be = be;
    v->cur_layer = -1;
    awq_err e = read_quant(dir, &v->packed_group, &v->packed_bits);
    if (!e) e = st_open(&v->packed, dir);
    return e;
}

void awq_variant_rtn_init(awq_variant_ctx *v, const awq_model *m, const awq_backend *be, const awq_params *p)
{
    memset(v, 0, sizeof *v);
    v->m = m;
    v->be = be;
    v->p = *p;
    v->cur_layer = -1;
}

void awq_variant_free(awq_variant_ctx *v)
{
    awq_block_f32_free(&v->cur);
    free(v->packed_keys);
    v->packed_keys = NULL;
    st_close(v->packed);
    v->packed = NULL;
}

/* An unquantized tensor of the packed checkpoint (a norm) in the dtype its writer kept: F16 as
 * awq-assemble and AutoAWQ on CUDA write it, BF16 or F32 where the model was loaded so (AutoAWQ run
 * in float32 on a CPU saves its norms in F32). */
static awq_err get_plain(st_model *st, const char *name, size_t numel, float *out)
{
    const st_tensor *t;
    awq_err e = st_get(st, name, &t);
    if (e) return e;
    const size_t width = t->dtype == AWQ_DT_F32 ? 4 : 2;
    if (!(t->dtype == AWQ_DT_F16 || t->dtype == AWQ_DT_BF16 || t->dtype == AWQ_DT_F32) || t->nbytes != numel * width)
        return awq_fail(AWQ_ERR_FORMAT, "tensor '%s' of the packed checkpoint is not F16, BF16 or F32 with %zu elements",
                        name, numel);
    if (t->dtype == AWQ_DT_F16) awq_f16_to_f32_n(out, t->data, numel);
    else if (t->dtype == AWQ_DT_BF16) awq_bf16_to_f32_n(out, t->data, numel);
    else memcpy(out, t->data, numel * sizeof *out);
    return AWQ_OK;
}

awq_err awq_packed_block_f32(st_model *packed, int64_t group, int ct_bits, const awq_model *m, int layer, awq_block_f32 *out)
{
    /* shapes come from the original model's block */
    awq_block blk;
    awq_err e = awq_model_block(m, layer, &blk);
    if (e) return e;
    memset(out, 0, sizeof *out);
    float *fused_buf = NULL; /* a fused tensor dequantized (Phi3) */
    for (int s = 0; s < AWQ_SLOT__COUNT && !e; s++) {
        const st_tensor *ot = blk.t[s];
        if (!ot) continue;
        size_t rows = (size_t)ot->shape[0], cols = ot->ndim == 2 ? (size_t)ot->shape[1] : 1, n = rows * cols;
        out->ndim[s] = ot->ndim;
        out->shape[s][0] = (int64_t)rows;
        out->shape[s][1] = (int64_t)cols;
        if (!(out->t[s] = malloc(n * sizeof(float)))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        char lin[96], name[160], obj[96];
        if (!awq_slot_is_linear((awq_slot)s)) {
            snprintf(name, sizeof name, "model.layers.%d.%s", layer,
                     awq_ckpt_name(&m->cfg, awq_slot_suffix((awq_slot)s), obj, sizeof obj));
            e = get_plain(packed, name, n, out->t[s]);
            continue;
        }
        awq_linear_name((awq_slot)s, obj, sizeof obj);
        awq_ckpt_name(&m->cfg, obj, lin, sizeof lin); /* "mlp.experts.3.gate_proj" as the checkpoint calls it */
        /* a part of a fused tensor (Phi3): dequantize the fused one, keep the part's rows */
        awq_fused_part fp;
        const int fused = awq_fused_part_of(&m->cfg, (awq_slot)s, &fp);
        float *dst = out->t[s];
        free(fused_buf);
        fused_buf = NULL;
        if (fused) {
            snprintf(lin, sizeof lin, "%s", fp.name);
            rows = (size_t)fp.total;
            if (!(dst = fused_buf = malloc(rows * cols * sizeof(float)))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        }
        if (ct_bits) {
            snprintf(name, sizeof name, "model.layers.%d.%s", layer, lin);
            if ((e = ct_linear(packed, name, rows, cols, group, ct_bits, dst))) { e = awq_context(e, "block %d", layer); break; }
            if (fused) memcpy(out->t[s], dst + (size_t)fp.row0 * cols, (size_t)fp.rows * cols * sizeof(float));
            continue;
        }
        const st_tensor *qw, *qz, *sc;
        size_t g;
        if (kern_quant_group(&g, cols, group) != KERN_OK) { e = awq_fail(AWQ_ERR_FORMAT, "group_size %lld does not divide %zu", (long long)group, cols); break; }
        size_t G = cols / g;
        snprintf(name, sizeof name, "model.layers.%d.%s.qweight", layer, lin);
        if ((e = st_get(packed, name, &qw))) break;
        snprintf(name, sizeof name, "model.layers.%d.%s.qzeros", layer, lin);
        if ((e = st_get(packed, name, &qz))) break;
        snprintf(name, sizeof name, "model.layers.%d.%s.scales", layer, lin);
        if ((e = st_get(packed, name, &sc))) break;
        if (qw->dtype != AWQ_DT_I32 || qw->nbytes != cols * (rows / 8) * 4 || qz->dtype != AWQ_DT_I32 ||
            qz->nbytes != G * (rows / 8) * 4 || sc->dtype != AWQ_DT_F16 || sc->nbytes != G * rows * 2) {
            e = awq_fail(AWQ_ERR_FORMAT, "block %d %s: qweight/qzeros/scales do not have the GEMM shapes for [%zu, %zu], group %zu",
                         layer, lin, rows, cols, g);
            break;
        }
        kern_status ks = kern_dequant_gemm(dst, qw->data, qz->data, sc->data, rows, cols, group);
        if (ks) e = awq_kern_fail(ks, "dequantize");
        if (fused && !e) memcpy(out->t[s], dst + (size_t)fp.row0 * cols, (size_t)fp.rows * cols * sizeof(float));
    }
    free(fused_buf);
    if (e) awq_block_f32_free(out);
    return e;
}

awq_err awq_variant_packed_weights(void *ctx, int layer, awq_block_w *w)
{
    awq_variant_ctx *v = ctx;
    if (v->cur_layer != layer) {
        awq_block_f32_free(&v->cur);
        v->cur_layer = -1;
        awq_err e = awq_packed_block_f32(v->packed, v->packed_group, v->packed_bits, v->m, layer, &v->cur);
        if (e) return e;
        v->cur_layer = layer;
    }
    awq_block_f32_view(&v->cur, w);
    return AWQ_OK;
}

awq_err awq_variant_rtn_weights(void *ctx, int layer, awq_block_w *w)
{
    awq_variant_ctx *v = ctx;
    if (v->cur_layer != layer) {
        awq_block_f32_free(&v->cur);
        v->cur_layer = -1;
        awq_err e = awq_block_f32_from_model(v->m, layer, v->p.round_f16, &v->cur);
        awq_slot lins[AWQ_MAX_LINEARS];
        int nl = e ? 0 : awq_block_linears(&v->cur, lins);
        for (int li = 0; !e && li < nl; li++) {
            awq_slot L = lins[li];
            awq_packed_linear pl;
            e = awq_quantize_linear(v->be, &v->p, v->cur.t[L], (size_t)v->cur.shape[L][0], (size_t)v->cur.shape[L][1], NULL, 0, &pl);
            if (!e) { free(v->cur.t[L]); v->cur.t[L] = pl.deq; pl.deq = NULL; }
            awq_packed_linear_free(&pl);
        }
        if (e) { awq_block_f32_free(&v->cur); return e; }
        v->cur_layer = layer;
    }
    awq_block_f32_view(&v->cur, w);
    return AWQ_OK;
}

awq_err awq_variant_plan_open(awq_variant_ctx *v, const awq_model *m, const awq_backend *be, awq_store *store,
                              const char *work)
{
    memset(v, 0, sizeof *v);
    v->m = m;
    v->be = be;
    v->store = store;
    v->cur_layer = -1;
    const int L = m->cfg.num_hidden_layers;
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/manifest.tsv", work);
    FILE *f = fopen(path, "r");
    if (!f) {
        awq_fail_errno(errno, "cannot open '%s'", path);
        awq_hint("run make quantize for this experiment first (its plan lives in OUT.awq)");
        return AWQ_ERR_NOTFOUND;
    }
    v->packed_keys = calloc((size_t)L, sizeof *v->packed_keys);
    int *seen = calloc((size_t)L, sizeof *seen);
    awq_err e = v->packed_keys && seen ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    while (!e && fgets(line, sizeof line, f)) {
        int block;
        char stage[64], hex[64];
        if (sscanf(line, "%d\t%63s\t%63s", &block, stage, hex) != 3 || strcmp(stage, "pack") != 0) continue;
        if (block < 0 || block >= L) { e = awq_fail(AWQ_ERR_FORMAT, "'%s': block %d but the model has %d", path, block, L); break; }
        e = awq_key_parse(&v->packed_keys[block], hex);
        seen[block] = 1;
    }
    fclose(f);
    for (int l = 0; !e && l < L; l++)
        if (!seen[l]) e = awq_fail(AWQ_ERR_FORMAT, "'%s' has no pack object for block %d (a plan of another model?)", path, l);
    free(seen);
    return e;
}

awq_err awq_variant_plan_weights(void *ctx, int layer, awq_block_w *w)
{
    awq_variant_ctx *v = ctx;
    if (v->cur_layer != layer) {
        awq_block_f32_free(&v->cur);
        v->cur_layer = -1;
        awq_object *o = NULL;
        awq_err e = awq_store_get(v->store, &v->packed_keys[layer], &o);
        if (e) return awq_context(e, "packed object of block %d", layer);
        awq_block blk;
        e = awq_model_block(v->m, layer, &blk);
        awq_block_f32 *b = &v->cur;
        float *fused_buf = NULL; /* a fused tensor (Phi3) as the object holds it */
        for (int s = 0; s < AWQ_SLOT__COUNT && !e; s++) {
            const st_tensor *ot = blk.t[s];
            if (!ot) continue;
            size_t rows = (size_t)ot->shape[0], cols = ot->ndim == 2 ? (size_t)ot->shape[1] : 1;
            b->ndim[s] = ot->ndim;
            b->shape[s][0] = (int64_t)rows;
            b->shape[s][1] = (int64_t)cols;
            if (!(b->t[s] = malloc(rows * cols * sizeof(float)))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            char lin[64], name[96];
            /* a part of a fused tensor (Phi3): the object holds the fused one; take the part's rows */
            awq_fused_part fp;
            const int fused = awq_fused_part_of(&v->m->cfg, (awq_slot)s, &fp);
            const size_t row0 = fused ? (size_t)fp.row0 : 0, all_rows = fused ? (size_t)fp.total : rows;
            float *dst = b->t[s];
            free(fused_buf);
            fused_buf = NULL;
            if (fused && !(dst = fused_buf = malloc(all_rows * cols * sizeof(float)))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            if (fused) snprintf(name, sizeof name, "%s.weight", fp.name);
            const awq_tensor *t = awq_object_tensor(o, fused ? name : awq_slot_suffix((awq_slot)s));
            if (t) { /* stored as fp16: norms, biases, and fake-quant linears (w_bit != 4) */
                if (t->dtype != AWQ_DT_F16 || t->nbytes != all_rows * cols * 2) { e = awq_fail(AWQ_ERR_FORMAT, "packed object: '%s' is not F16 of the block's shape", t->name); break; }
                awq_f16_to_f32_n(dst, t->data, all_rows * cols);
                if (fused) memcpy(b->t[s], dst + row0 * cols, rows * cols * sizeof(float));
                continue;
            }
            if (!awq_slot_is_linear((awq_slot)s)) { e = awq_fail(AWQ_ERR_FORMAT, "packed object of block %d lacks '%s'", layer, awq_slot_suffix((awq_slot)s)); break; }
            if (fused) snprintf(lin, sizeof lin, "%s", fp.name);
            else awq_linear_name((awq_slot)s, lin, sizeof lin);
            snprintf(name, sizeof name, "%s.weight_packed", lin);
            const awq_tensor *ct = awq_object_tensor(o, name);
            if (ct) { /* FORMAT=ct, W_BIT not 4 (awq_pack_layout): weight_packed [o, words], weight_scale [o, G] */
                snprintf(name, sizeof name, "%s.weight_scale", lin);
                const awq_tensor *sc = awq_object_tensor(o, name);
                snprintf(name, sizeof name, "%s.weight_zero_point", lin);
                const awq_tensor *zp = awq_object_tensor(o, name);
                int bits = 1; /* ceil(cols * b / 32) words: the first b that gives its width */
                while (bits < 9 && awq_ct_words(cols, bits) != (size_t)ct->shape[1]) bits++;
                if (!sc || !zp || ct->ndim != 2 || ct->shape[0] != (int64_t)all_rows || sc->ndim != 2 ||
                    sc->shape[0] != (int64_t)all_rows || bits < 1 || bits > 8 || cols % (size_t)sc->shape[1] ||
                    zp->ndim != 2 || zp->shape[0] != (int64_t)awq_ct_words(all_rows, bits) || zp->shape[1] != sc->shape[1]) {
                    e = awq_fail(AWQ_ERR_FORMAT, "packed object of block %d: bad compressed-tensors tensors of %s", layer, lin);
                    break;
                }
                awq_ct_dequant(dst, ct->data, sc->data, zp->data, all_rows, cols, (size_t)sc->shape[1], bits);
                if (fused) memcpy(b->t[s], dst + row0 * cols, rows * cols * sizeof(float));
                continue;
            }
            snprintf(name, sizeof name, "%s.qweight", lin);
            const awq_tensor *qw = awq_object_tensor(o, name);
            snprintf(name, sizeof name, "%s.qzeros", lin);
            const awq_tensor *qz = awq_object_tensor(o, name);
            snprintf(name, sizeof name, "%s.scales", lin);
            const awq_tensor *sc = awq_object_tensor(o, name);
            if (!qw || !qz || !sc || qz->ndim != 2 || qz->shape[0] < 1 || cols % (size_t)qz->shape[0]) {
                e = awq_fail(AWQ_ERR_FORMAT, "packed object of block %d lacks the GEMM tensors of %s", layer, lin);
                break;
            }
            int64_t group = (int64_t)(cols / (size_t)qz->shape[0]);
            kern_status ks = kern_dequant_gemm(dst, qw->data, qz->data, sc->data, all_rows, cols, group);
            if (ks) e = awq_kern_fail(ks, "dequantize");
            else if (fused) memcpy(b->t[s], dst + row0 * cols, rows * cols * sizeof(float));
        }
        free(fused_buf);
        awq_object_free(o);
        if (e) { awq_block_f32_free(&v->cur); return e; }
        v->cur_layer = layer;
    }
    awq_block_f32_view(&v->cur, w);
    return AWQ_OK;
}
