/* assemble.c - write the AutoAWQ GEMM checkpoint directory from packed block objects. */
#include "assemble.h"

#include "../../cache/prof.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../../cache/atomic.h"
#include "../../kernels/half.h"
#include "awqobj.h"
#include "log.h"
#include "safetensors.h"

/* One output tensor: either a block object's tensor (block >= 0) or a model tensor converted
 * to fp16 (block < 0). */
typedef struct out_src {
    int block;                 /* -1: model tensor */
    char *obj_name;            /* tensor name inside the packed object */
    const st_tensor *model_t;  /* model tensor (converted to F16) */
} out_src;

typedef struct fill_ctx {
    awq_store *s;
    const awq_key *packed;
    out_src *src;
    awq_object *cur;           /* the packed object of cur_block, loaded on demand */
    int cur_block;
} fill_ctx;

static awq_err fill(void *vctx, int index, uint64_t offset, void *buf, size_t len)
{
    fill_ctx *c = vctx;
    const out_src *src = &c->src[index];
    if (src->block < 0) { /* model tensor -> F16 */
        const st_tensor *t = src->model_t;
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
            float v = t->dtype == AWQ_DT_F16 ? awq_f16_to_f32(((const uint16_t *)t->data)[first + k])
                    : t->dtype == AWQ_DT_BF16 ? awq_bf16_to_f32(((const uint16_t *)t->data)[first + k])
                    : ((const float *)t->data)[first + k];
            if (!awq_f32_fits_f16(v))
                return awq_fail(AWQ_ERR_NUMERIC, "tensor '%s' element %zu = %g does not fit fp16", t->name, first + k, (double)v);
            h[k] = awq_f32_to_f16(v);
        }
        return AWQ_OK;
    }
    if (!c->cur || c->cur_block != src->block) {
        awq_object_free(c->cur);
        c->cur = NULL;
        awq_err e = awq_store_get(c->s, &c->packed[src->block], &c->cur);
        if (e) return awq_context(e, "block %d", src->block);
        c->cur_block = src->block;
    }
    const awq_tensor *t = awq_object_tensor(c->cur, src->obj_name);
    if (!t || offset + len > t->nbytes) return awq_fail(AWQ_ERR_FORMAT, "packed object of block %d lacks '%s'", src->block, src->obj_name);
    memcpy(buf, (const char *)t->data + offset, len);
    return AWQ_OK;
}

/* config.json = the original + quantization_config, dtype float16 (spec §3.3) */
static awq_err write_config(const awq_model *m, const awq_params *p, int export_fp16, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", m->dir);
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) return awq_fail(AWQ_ERR_FORMAT, "'%s': %s (line %d)", path, jerr.text, jerr.line);
    json_t *q = json_object();
    json_object_set_new(q, "quant_method", json_string("awq"));
    json_object_set_new(q, "bits", json_integer(p->w_bit));
    json_object_set_new(q, "group_size", json_integer(p->group <= 0 ? -1 : p->group));
    json_object_set_new(q, "zero_point", json_true());
    json_object_set_new(q, "version", json_string("gemm"));
    json_object_set_new(q, "modules_to_not_convert", json_null());
    if (export_fp16) json_decref(q); /* plain fp16 weights: loaders must not see an AWQ config */
    else json_object_set_new(cfg, "quantization_config", q);
    if (json_object_get(cfg, "dtype")) json_object_set_new(cfg, "dtype", json_string("float16"));
    json_object_set_new(cfg, "torch_dtype", json_string("float16"));
    char *text = json_dumps(cfg, JSON_INDENT(2));
    json_decref(cfg);
    if (!text) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len = strlen(text);
    awq_err e = awq_write_file_atomic(path, text, len);
    free(text);
    return e;
}

static awq_err copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in) return awq_fail_errno(errno, "cannot open '%s'", from);
    awq_atomic f;
    awq_err e = awq_atomic_open(&f, to);
    char buf[1 << 16];
    size_t n;
    while (!e && (n = fread(buf, 1, sizeof buf, in)) > 0) e = awq_atomic_write(&f, buf, n);
    if (!e && ferror(in)) e = awq_fail(AWQ_ERR_IO, "cannot read '%s'", from);
    fclose(in);
    if (!e) e = awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
    else awq_atomic_abort(&f);
    return e;
}

static awq_err copy_side_files(const awq_model *m, const char *dir)
{
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "tokenizer.model", "generation_config.json", "vocab.json", "merges.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/%s", m->dir, names[i]);
        if (access(from, R_OK) != 0) continue;
        snprintf(to, sizeof to, "%s/%s", dir, names[i]);
        awq_err e = copy_file(from, to);
        if (e) return e;
    }
    return AWQ_OK;
}

/* awq_search_results.safetensors: model.layers.<i>.<prev>.scales and .<linear>.max_val */
static awq_err write_search_results(awq_store *s, const awq_assemble_in *in, const char *dir)
{
    const int L = in->m->cfg.num_hidden_layers;
    awq_object **objs = calloc((size_t)L * 2, sizeof *objs);
    st_tensor *t = calloc((size_t)L * 16, sizeof *t);
    char (*names)[96] = calloc((size_t)L * 16, sizeof *names);
    int nt = 0;
    awq_err e = (!objs || !t || !names) ? awq_fail(AWQ_ERR_NOMEM, "out of memory") : AWQ_OK;
    for (int l = 0; !e && l < L; l++) {
        for (int k = 0; k < 2 && !e; k++) {
            const awq_key *key = k == 0 ? (in->scales ? &in->scales[l] : NULL) : (in->clips ? &in->clips[l] : NULL);
            if (!key) continue;
            if ((e = awq_store_get(s, key, &objs[2 * l + k]))) break;
            awq_object *o = objs[2 * l + k];
            for (int i = 0; i < o->n_tensors; i++) {
                const char *nm = o->tensors[i].name;
                size_t n = strlen(nm);
                int keep = (n > 7 && strcmp(nm + n - 7, ".scales") == 0) || (n > 8 && strcmp(nm + n - 8, ".max_val") == 0);
                if (!keep) continue;
                snprintf(names[nt], sizeof names[nt], "model.layers.%d.%s", l, nm);
                t[nt] = (st_tensor){names[nt], o->tensors[i].dtype, o->tensors[i].ndim, {0}, o->tensors[i].data, o->tensors[i].nbytes, 0};
                memcpy(t[nt].shape, o->tensors[i].shape, sizeof(int64_t) * (size_t)o->tensors[i].ndim);
                nt++;
            }
        }
    }
    if (!e && nt > 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/awq_search_results.safetensors", dir);
        e = st_write(path, t, nt);
    }
    for (int i = 0; objs && i < L * 2; i++) awq_object_free(objs[i]);
    free(objs); free(t); free(names);
    return e;
}

static awq_err remove_tree(const char *dir)
{
    char cmd[8400];
    /* only ever called on a directory this process created under a .tmp-/.old- name */
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? AWQ_OK : awq_fail(AWQ_ERR_IO, "cannot remove '%s'", dir);
}

awq_err awq_assemble(awq_store *s, const awq_assemble_in *in, const char *out_dir)
{
    const awq_model *m = in->m;
    const int L = m->cfg.num_hidden_layers;
    char tmp[4096], old[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out_dir, (long)getpid());
    snprintf(old, sizeof old, "%s.old-%ld", out_dir, (long)getpid());
    /* leftovers of an assemble that was killed (one assemble per OUT runs at a time) */
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s.tmp-*", out_dir);
    glob_t g;
    if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) remove_tree(g.gl_pathv[i]);
        globfree(&g);
    }
    awq_err e = awq_mkdirs(tmp);
    if (e) return e;

    /* The tensor table: block tensors from the packed objects (read their headers for names,
     * dtypes and shapes), then the non-block tensors. */
    int cap = 64 * (L + 1), n = 0;
    st_tensor *t = calloc((size_t)cap, sizeof *t);
    out_src *src = calloc((size_t)cap, sizeof *src);
    char **names = calloc((size_t)cap, sizeof *names);
    if (!t || !src || !names) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int l = 0; !e && l < L; l++) {
        char *path = awq_store_path(s, &in->packed[l]);
        awq_object *h = NULL;
        uint64_t payload;
        e = path ? awq_object_read_header(path, &h, &payload) : awq_fail(AWQ_ERR_NOMEM, "out of memory");
        free(path);
        if (e) { e = awq_context(e, "packed object of block %d", l); break; }
        for (int i = 0; i < h->n_tensors && n < cap; i++, n++) {
            const awq_tensor *ot = &h->tensors[i];
            size_t len = strlen(ot->name) + 32;
            names[n] = malloc(len);
            src[n].obj_name = strdup(ot->name);
            if (!names[n] || !src[n].obj_name) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            snprintf(names[n], len, "model.layers.%d.%s", l, ot->name);
            src[n].block = l;
            t[n] = (st_tensor){names[n], ot->dtype, ot->ndim, {0}, NULL, ot->nbytes, 0};
            memcpy(t[n].shape, ot->shape, sizeof(int64_t) * (size_t)ot->ndim);
        }
        awq_object_free(h);
    }
    const st_tensor *extra[3] = {m->embed, m->final_norm, m->lm_head != m->embed ? m->lm_head : NULL};
    for (int k = 0; !e && k < 3; k++) {
        if (!extra[k]) continue;
        const st_tensor *mt = extra[k];
        size_t numel = mt->nbytes / awq_dtype_size(mt->dtype);
        src[n] = (out_src){-1, NULL, mt};
        t[n] = (st_tensor){mt->name, AWQ_DT_F16, mt->ndim, {0}, NULL, numel * 2, 0};
        memcpy(t[n].shape, mt->shape, sizeof(int64_t) * (size_t)mt->ndim);
        n++;
    }
    fill_ctx fc = {s, in->packed, src, NULL, -1};
    awq_prof_mark("assemble: tensor table");
    if (!e) e = st_write_sharded_fill(tmp, t, n, in->max_shard_bytes, fill, &fc);
    awq_object_free(fc.cur);
    awq_prof_mark("assemble: shards");
    if (!e) e = write_config(m, in->p, in->export_fp16, tmp);
    if (!e) e = copy_side_files(m, tmp);
    if (!e) e = write_search_results(s, in, tmp);
    awq_prof_mark("assemble: config, search results");
    /* Move into place: an existing OUT is moved aside first and removed after. */
    if (!e) {
        struct stat st;
        int had_old = stat(out_dir, &st) == 0;
        if (had_old && rename(out_dir, old) != 0) e = awq_fail_errno(errno, "cannot move the old '%s' aside", out_dir);
        if (!e && rename(tmp, out_dir) != 0) {
            e = awq_fail_errno(errno, "cannot rename '%s' to '%s'", tmp, out_dir);
            if (had_old) (void)rename(old, out_dir);
        }
        if (!e && had_old) remove_tree(old);
    }
    if (e) remove_tree(tmp);
    for (int i = 0; i < n; i++) { if (src[i].block >= 0) free(names[i]); free(src[i].obj_name); }
    free(t); free(src); free(names);
    return e;
}
