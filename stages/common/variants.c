/* variants.c - quantized model variants for evaluation: packed checkpoints and RTN. */
#include "variants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../kernels/half.h"
#include "../../kernels/quant.h"
#include "awqobj.h"

static awq_err read_group(const char *dir, int64_t *group)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) return awq_fail(AWQ_ERR_FORMAT, "'%s': %s", path, jerr.text);
    json_t *q = json_object_get(cfg, "quantization_config");
    json_t *g = q ? json_object_get(q, "group_size") : NULL;
    json_t *method = q ? json_object_get(q, "quant_method") : NULL;
    json_t *version = q ? json_object_get(q, "version") : NULL;
    awq_err e = AWQ_OK;
    if (!q || !json_is_integer(g) || !json_is_string(method) || strcmp(json_string_value(method), "awq") != 0)
        e = awq_fail(AWQ_ERR_FORMAT, "'%s' has no AWQ quantization_config (quant_method awq, group_size)", path);
    else if (version && json_is_string(version) && strcmp(json_string_value(version), "gemm") != 0)
        e = awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': AWQ version '%s'; only gemm checkpoints are read", path, json_string_value(version));
    else
        *group = json_integer_value(g);
    json_decref(cfg);
    return e;
}

awq_err awq_variant_packed_open(awq_variant_ctx *v, const awq_model *m, const awq_backend *be, const char *dir)
{
    memset(v, 0, sizeof *v);
    v->m = m;
    v->be = be;
    v->cur_layer = -1;
    awq_err e = read_group(dir, &v->packed_group);
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
    st_close(v->packed);
    v->packed = NULL;
}

static awq_err get_f16(st_model *st, const char *name, size_t numel, float *out)
{
    const st_tensor *t;
    awq_err e = st_get(st, name, &t);
    if (e) return e;
    if (t->dtype != AWQ_DT_F16 || t->nbytes != numel * 2)
        return awq_fail(AWQ_ERR_FORMAT, "tensor '%s' of the packed checkpoint is not F16 with %zu elements", name, numel);
    awq_f16_to_f32_n(out, t->data, numel);
    return AWQ_OK;
}

awq_err awq_packed_block_f32(st_model *packed, int64_t group, const awq_model *m, int layer, awq_block_f32 *out)
{
    /* shapes come from the original model's block */
    awq_block blk;
    awq_err e = awq_model_block(m, layer, &blk);
    if (e) return e;
    memset(out, 0, sizeof *out);
    for (int s = 0; s < AWQ_SLOT__COUNT && !e; s++) {
        const st_tensor *ot = blk.t[s];
        if (!ot) continue;
        size_t rows = (size_t)ot->shape[0], cols = ot->ndim == 2 ? (size_t)ot->shape[1] : 1, n = rows * cols;
        out->ndim[s] = ot->ndim;
        out->shape[s][0] = (int64_t)rows;
        out->shape[s][1] = (int64_t)cols;
        if (!(out->t[s] = malloc(n * sizeof(float)))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        char lin[64], name[160];
        if (!awq_slot_is_linear((awq_slot)s)) {
            snprintf(name, sizeof name, "model.layers.%d.%s", layer, awq_slot_suffix((awq_slot)s));
            e = get_f16(packed, name, n, out->t[s]);
            continue;
        }
        awq_linear_name((awq_slot)s, lin, sizeof lin);
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
        kern_status ks = kern_dequant_gemm(out->t[s], qw->data, qz->data, sc->data, rows, cols, group);
        if (ks) e = awq_kern_fail(ks, "dequantize");
    }
    if (e) awq_block_f32_free(out);
    return e;
}

awq_err awq_variant_packed_weights(void *ctx, int layer, awq_block_w *w)
{
    awq_variant_ctx *v = ctx;
    if (v->cur_layer != layer) {
        awq_block_f32_free(&v->cur);
        v->cur_layer = -1;
        awq_err e = awq_packed_block_f32(v->packed, v->packed_group, v->m, layer, &v->cur);
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
        for (int li = 0; !e && li < 7; li++) {
            awq_slot L = AWQ_LINEARS[li];
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
