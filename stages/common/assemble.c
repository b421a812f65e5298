/* assemble.c - write the AutoAWQ GEMM checkpoint directory from packed block objects: either
 * every tensor written here (st_write_sharded_fill), or the shard files awq-shard wrote while the
 * pipeline ran linked into place (shard.h), so that the last step only links files. */
#include "assemble.h"

#include "../../base/prof.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../../cache/atomic.h"
#include "awqobj.h"
#include "params.h"
#include "log.h"
#include "safetensors.h"
#include "shard.h"

/* One output tensor of the all-in-one writer: a packed object's tensor (block >= 0) or a model
 * tensor converted to fp16 (block < 0). */
typedef struct out_src {
    int block;                 /* -1: model tensor */
    const char *obj_name;      /* tensor name inside the packed object (the tail of the output name) */
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
    if (src->block < 0) return awq_rest_fill(src->model_t, offset, buf, len);
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

/* The routers stay fp16: loaders skip a linear whose name contains an entry (AutoAWQ matches
 * the block-relative name, vLLM the full one). Mixtral's "gate" is AutoAWQ's own entry (its
 * experts are w1/w2/w3); Qwen3-MoE's router is "mlp.gate", which is also part of a dense
 * layer's "mlp.gate_proj": with dense layers (mlp_only_layers) each router is listed by its full
 * name, which vLLM reads and AutoAWQ's loader cannot (docs/AWQ.md). */
static json_t *not_converted(const awq_config *c)
{
    if (!awq_config_is_moe(c)) return json_null();
    json_t *a = json_array();
    int dense = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) dense |= !awq_layer_experts(c, l);
    if (c->arch == AWQ_ARCH_MIXTRAL) json_array_append_new(a, json_string("gate"));
    else if (!dense) json_array_append_new(a, json_string("mlp.gate"));
    else
        for (int l = 0; l < c->num_hidden_layers; l++) {
            char name[64];
            if (!awq_layer_experts(c, l)) continue;
            snprintf(name, sizeof name, "model.layers.%d.mlp.gate", l);
            json_array_append_new(a, json_string(name));
        }
    return a;
}

json_t *awq_ct_quant_config(const awq_model *m, const awq_params *p)
{
    const awq_config *c = &m->cfg;
    const int channel = p->group <= 0;
    /* the keys and values compressed-tensors 0.20.1's AutoAWQConverter writes for this scheme
     * (QuantizationConfig, tests/golden/ct), so that its loaders read it as their own; a channel
     * scheme has no group_size */
    json_t *w = json_pack("{s:b, s:i, s:s, s:b, s:s}", "dynamic", 0, "num_bits", p->w_bit, "strategy",
                          channel ? "channel" : "group", "symmetric", 0, "type", "int");
    if (w && !channel) json_object_set_new(w, "group_size", json_integer(p->group));
    json_t *group = json_pack("{s:s, s:n, s:n, s:[s], s:o}", "format", "pack-quantized", "input_activations",
                              "output_activations", "targets", "Linear", "weights", w);
    json_t *ignore = json_pack("[s]", "lm_head");
    for (int l = 0; l < c->num_hidden_layers; l++) {
        char rel[96], name[128];
        if (!awq_layer_experts(c, l)) continue; /* the router of each MoE block, as the checkpoint names it */
        snprintf(name, sizeof name, "model.layers.%d.%s", l, awq_ckpt_name(c, "mlp.gate", rel, sizeof rel));
        json_array_append_new(ignore, json_string(name));
    }
    return json_pack("{s:{s:o}, s:s, s:n, s:o, s:n, s:n, s:s, s:s, s:s}", "config_groups", "config_group_0", group,
                     "format", "pack-quantized", "global_compression_ratio", "ignore", ignore, "kv_cache_scheme",
                     "moe_sparsity_config", "quant_method", "compressed-tensors", "quantization_status", "compressed",
                     "version", "0.20.1");
}

/* config.json = the original + quantization_config, dtype float16 (spec §3.3; both formats: the
 * scales are fp16, as the search made them, see README "Formats") */
static awq_err write_config(const awq_model *m, const awq_params *p, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", m->dir);
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) return awq_fail(AWQ_ERR_FORMAT, "'%s': %s (line %d)", path, jerr.text, jerr.line);
    json_t *q = json_object();
    json_object_set_new(q, "quant_method", json_string("awq"));
    json_object_set_new(q, "bits", json_integer(p->w_bit));
    json_object_set_new(q, "group_size", json_integer(p->group));
    json_object_set_new(q, "zero_point", json_true());
    json_object_set_new(q, "version", json_string("gemm"));
    json_object_set_new(q, "modules_to_not_convert", not_converted(&m->cfg));
    if (p->export_fp16) json_decref(q); /* plain fp16 weights: loaders must not see an AWQ config */
    else if (p->format == AWQ_FORMAT_CT) {
        json_decref(q);
        if (!(q = awq_ct_quant_config(m, p))) { json_decref(cfg); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
        json_object_set_new(cfg, "quantization_config", q);
    } else json_object_set_new(cfg, "quantization_config", q);
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

/* Read objects keys[0..n) (NULL entries skipped) into objs, several at once: the 2 x L search
 * objects, a few MB each, took 0.7 s one after the other for a 7B model (each alone uses few
 * cores). The first error is reported. */
static awq_err get_objects(awq_store *s, const awq_key *const *keys, int n, awq_object **objs)
{
    int bad = n;
    awq_err code = AWQ_OK;
    char msg[1024] = "", hint[1024] = "";
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        if (!keys[i]) continue;
        awq_err e = awq_store_get(s, keys[i], &objs[i]);
        if (e) {
            #pragma omp critical(assemble_get)
            if (i < bad) { /* the message lives in this thread: carry it to the caller's */
                bad = i;
                code = e;
                snprintf(msg, sizeof msg, "%s", awq_errmsg());
                snprintf(hint, sizeof hint, "%s", awq_errhint());
            }
        }
    }
    if (bad == n) return AWQ_OK;
    awq_fail(code, "%s", msg);
    if (hint[0]) awq_hint("%s", hint);
    return code;
}

/* awq_search_results.safetensors (at `path`): model.layers.<i>.<prev>.scales and .<linear>.max_val */
static awq_err write_search_results(awq_store *s, const awq_assemble_in *in, const char *path)
{
    const int L = in->m->cfg.num_hidden_layers;
    awq_object **objs = calloc((size_t)L * 2, sizeof *objs);
    const awq_key **keys = calloc((size_t)L * 2, sizeof *keys);
    st_tensor *t = NULL;
    char (*names)[96] = NULL;
    int nt = 0, cap = 0;
    awq_err e = (!objs || !keys) ? awq_fail(AWQ_ERR_NOMEM, "out of memory") : AWQ_OK;
    for (int l = 0; !e && l < L; l++) {
        keys[2 * l] = in->scales ? &in->scales[l] : NULL;
        keys[2 * l + 1] = in->clips ? &in->clips[l] : NULL;
    }
    if (!e) e = get_objects(s, keys, L * 2, objs);
    for (int j = 0; !e && j < L * 2; j++) cap += objs[j] ? objs[j]->n_tensors : 0; /* at most all of them */
    if (!e && (!(t = calloc((size_t)cap + 1, sizeof *t)) || !(names = calloc((size_t)cap + 1, sizeof *names))))
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int j = 0; !e && j < L * 2; j++) {
        const awq_object *o = objs[j];
        for (int i = 0; o && i < o->n_tensors && !e; i++) {
            const char *nm = o->tensors[i].name;
            size_t n = strlen(nm);
            int keep = (n > 7 && strcmp(nm + n - 7, ".scales") == 0) || (n > 8 && strcmp(nm + n - 8, ".max_val") == 0);
            if (!keep) continue;
            snprintf(names[nt], sizeof names[nt], "model.layers.%d.%s", j / 2, nm);
            t[nt] = (st_tensor){names[nt], o->tensors[i].dtype, o->tensors[i].ndim, {0}, o->tensors[i].data, o->tensors[i].nbytes, 0};
            memcpy(t[nt].shape, o->tensors[i].shape, sizeof(int64_t) * (size_t)o->tensors[i].ndim);
            nt++;
        }
    }
    if (!e && nt > 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) { *slash = 0; e = awq_mkdirs(dir); }
        if (!e) e = st_write(path, t, nt);
    }
    for (int i = 0; objs && i < L * 2; i++) awq_object_free(objs[i]);
    free(objs); free(keys); free(t); free(names);
    return e;
}

static awq_err remove_tree(const char *dir)
{
    char cmd[8400];
    /* only ever called on a directory this process created under a .tmp-/.old- name */
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? AWQ_OK : awq_fail(AWQ_ERR_IO, "cannot remove '%s'", dir);
}

/* remove_tree without waiting for it. Freeing the gigabytes of an old output takes ext4 a second
 * or more (the blocks are freed in unlink), which the pipeline's last step need not wait for: a
 * detached `rm -rf` (its own session, no terminal, no inherited files; like `git gc --auto`)
 * does it. Only on trees already out of every reader's way; done here if it cannot start. */
static void remove_tree_detached(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); dup2(fd, 2); }
        close_range(3, ~0u, 0); /* make's jobserver, the caller's pipes */
        execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 && remove_tree(dir) != AWQ_OK) awq_clear_error();
}

/* Every tensor written here: the packed objects' tensors (names, dtypes and shapes from their
 * headers, bytes loaded block by block while writing), then the non-block tensors in fp16. */
static awq_err write_tensors(awq_store *s, const awq_assemble_in *in, const char *dir)
{
    const awq_model *m = in->m;
    const int L = m->cfg.num_hidden_layers;
    int cap = 0, n = 0;
    st_tensor *t = NULL;
    out_src *src = NULL;
    char **names = NULL;
    awq_err e = AWQ_OK;
    for (int l = 0; !e && l <= L; l++) {
        awq_object *h = NULL;
        if (l < L) { /* the block's header; at l == L: room for the rest */
            char *path = awq_store_path(s, &in->packed[l]);
            uint64_t payload;
            e = path ? awq_object_read_header(path, &h, &payload) : awq_fail(AWQ_ERR_NOMEM, "out of memory");
            free(path);
            if (e) { e = awq_context(e, "packed object of block %d", l); break; }
        }
        int need = n + (h ? h->n_tensors : 3);
        if (need > cap) {
            int ncap = need * 2;
            st_tensor *t2 = realloc(t, (size_t)ncap * sizeof *t);
            if (t2) t = t2;
            out_src *src2 = realloc(src, (size_t)ncap * sizeof *src);
            if (src2) src = src2;
            char **names2 = realloc(names, (size_t)ncap * sizeof *names);
            if (names2) names = names2;
            if (!t2 || !src2 || !names2) { awq_object_free(h); e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            memset(names + n, 0, (size_t)(ncap - n) * sizeof *names);
            cap = ncap;
        }
        if (h) {
            e = awq_block_shard_tensors(&m->cfg, h, l, t + n, names + n);
            /* the name inside the object follows the output name's NUL (awq_block_shard_tensors) */
            for (int i = 0; !e && i < h->n_tensors; i++)
                src[n + i] = (out_src){l, names[n + i] + strlen(names[n + i]) + 1, NULL};
            n += h->n_tensors;
            awq_object_free(h);
        } else {
            const st_tensor *rest[3];
            int nr = awq_rest_shard_tensors(m, t + n, rest);
            for (int k = 0; k < nr; k++) src[n + k] = (out_src){-1, NULL, rest[k]};
            n += nr;
        }
    }
    fill_ctx fc = {s, in->packed, src, NULL, -1};
    awq_prof_mark("assemble: tensor table");
    if (!e) e = st_write_sharded_fill(dir, t, n, in->max_shard_bytes, fill, &fc);
    awq_object_free(fc.cur);
    awq_prof_mark("assemble: shards");
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(t); free(src); free(names);
    return e;
}

/* The shard file names of this checkpoint: block l's at [l], the rest's at [L]. */
static awq_err shard_names(const awq_assemble_in *in, char (*names)[AWQ_SHARD_NAME_MAX])
{
    const int L = in->m->cfg.num_hidden_layers;
    for (int l = 0; l < L; l++) awq_block_shard_name(l, &in->packed[l], in->p->format, names[l]);
    return awq_rest_shard_name(in->m, names[L]);
}

/* A hard link where the file system allows one (no byte is copied or written again), else an
 * atomic, fsynced copy. */
static awq_err link_or_copy(const char *from, const char *to)
{
    if (link(from, to) == 0) return AWQ_OK;
    int err = errno;
    if (err == EXDEV || err == EPERM || err == EMLINK || err == ENOTSUP || err == EOPNOTSUPP) return copy_file(from, to);
    return awq_fail_errno(err, "cannot link '%s' to '%s'", from, to);
}

/* The shards of `names` in in->shards_dir become dir/model-<k>-of-<L+1>.safetensors (block l:
 * k = l + 1, the rest: k = L + 1), indexed from their own headers. The entries reach the disk
 * with the fsync of `dir` that writing config.json into it does next. */
static awq_err link_shards(const awq_assemble_in *in, char (*names)[AWQ_SHARD_NAME_MAX], const char *dir)
{
    const int nn = in->m->cfg.num_hidden_layers + 1;
    st_model **sm = calloc((size_t)nn, sizeof *sm);
    char (*files)[64] = calloc((size_t)nn, sizeof *files);
    const char **tnames = NULL, **tfiles = NULL;
    int n = 0, cap = 0;
    uint64_t total = 0;
    awq_err e = sm && files ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int k = 0; !e && k < nn; k++) {
        char from[4096 + AWQ_SHARD_NAME_MAX], to[4096 + 64], prefix[40];
        snprintf(from, sizeof from, "%s/%s", in->shards_dir, names[k]);
        snprintf(files[k], sizeof files[k], "model-%05d-of-%05d.safetensors", k + 1, nn);
        snprintf(to, sizeof to, "%s/%s", dir, files[k]);
        snprintf(prefix, sizeof prefix, "model.layers.%d.", k);
        if ((e = st_open(&sm[k], from))) {
            awq_hint("the pipeline writes the shards: rerun `make quantize` (after removing the file if it is damaged)");
            break;
        }
        if (n + st_count(sm[k]) > cap) {
            cap = (n + st_count(sm[k])) * 2;
            const char **a = realloc(tnames, (size_t)cap * sizeof *a);
            if (a) tnames = a;
            const char **b = realloc(tfiles, (size_t)cap * sizeof *b);
            if (b) tfiles = b;
            if (!a || !b) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        }
        for (int i = 0; !e && i < st_count(sm[k]); i++) {
            const st_tensor *t = st_at(sm[k], i);
            if (k < nn - 1 && strncmp(t->name, prefix, strlen(prefix)) != 0) {
                e = awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '%s' is not one of block %d", from, t->name, k);
                awq_hint("remove the file and rerun `make quantize`");
            }
            tnames[n] = t->name;
            tfiles[n++] = files[k];
            total += t->nbytes;
        }
        if (!e) e = link_or_copy(from, to);
    }
    if (!e) e = st_write_index(dir, tnames, tfiles, n, total);
    for (int k = 0; sm && k < nn; k++) st_close(sm[k]);
    free(sm); free(files); free(tnames); free(tfiles);
    return e;
}

awq_err awq_assemble(awq_store *s, const awq_assemble_in *in, const char *out_dir)
{
    const awq_model *m = in->m;
    const int L = m->cfg.num_hidden_layers;
    char tmp[4096], old[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out_dir, (long)getpid());
    snprintf(old, sizeof old, "%s.old-%ld", out_dir, (long)getpid());
    /* leftovers of an assemble that was killed (one assemble per OUT runs at a time), and old
     * outputs whose removal was killed: OUT.tmp-<pid> and OUT.old-<pid>, nothing else */
    for (int k = 0; k < 2; k++) {
        char pattern[4200];
        snprintf(pattern, sizeof pattern, k == 0 ? "%s.tmp-*" : "%s.old-*", out_dir);
        glob_t g;
        if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                const char *pid = g.gl_pathv[i] + strlen(out_dir) + 5;
                if (!*pid || pid[strspn(pid, "0123456789")]) continue;
                if (k == 0) remove_tree(g.gl_pathv[i]);
                else remove_tree_detached(g.gl_pathv[i]);
            }
            globfree(&g);
        }
    }
    awq_prof_mark("assemble: leftovers removed");
    char (*shards)[AWQ_SHARD_NAME_MAX] = NULL;
    awq_err e = awq_mkdirs(tmp);
    if (e) return e;
    /* FORMAT=ct without the pipeline's shards: written here first (the conversion from the GEMM
     * layout is per block), then linked as the pipeline's are, inside the new directory and removed
     * from it once linked */
    char own_shards[4200];
    awq_assemble_in ct_in = *in;
    const int own = !in->shards_dir && in->p->format == AWQ_FORMAT_CT;
    if (own) {
        snprintf(own_shards, sizeof own_shards, "%s/.shards", tmp);
        ct_in.shards_dir = own_shards;
        in = &ct_in;
        char name[AWQ_SHARD_NAME_MAX], path[4200 + AWQ_SHARD_NAME_MAX];
        for (int l = 0; !e && l <= L; l++) {
            if (l < L) awq_block_shard_name(l, &in->packed[l], AWQ_FORMAT_CT, name);
            else e = awq_rest_shard_name(m, name);
            snprintf(path, sizeof path, "%s/%s", own_shards, name);
            if (!e) e = l < L ? awq_write_block_shard(&m->cfg, s, l, &in->packed[l], AWQ_FORMAT_CT, path) : awq_write_rest_shard(m, path);
        }
        if (e) { remove_tree(tmp); return e; }
    }
    if (in->shards_dir) {
        shards = calloc((size_t)L + 1, sizeof *shards);
        e = shards ? shard_names(in, shards) : awq_fail(AWQ_ERR_NOMEM, "out of memory");
        if (!e) e = link_shards(in, shards, tmp);
        if (!e && own) e = remove_tree(own_shards);
        awq_prof_mark("assemble: shards linked");
    } else {
        e = write_tensors(s, in, tmp);
    }
    if (!e) e = write_config(m, in->p, tmp);
    if (!e) e = copy_side_files(m, tmp);
    if (!e && in->manifest) { /* inside the new directory: OUT never appears without it */
        char to[4096];
        snprintf(to, sizeof to, "%s/.awqmake-manifest.tsv", tmp);
        e = copy_file(in->manifest, to);
    }
    awq_prof_mark("assemble: config, side files");
    char results[4200];
    if (in->search_results) snprintf(results, sizeof results, "%s", in->search_results);
    else snprintf(results, sizeof results, "%s.awq/awq_search_results.safetensors", out_dir);
    if (!e) e = write_search_results(s, in, results);
    awq_prof_mark("assemble: search results");
    /* Move into place: an existing OUT is moved aside first and removed after. */
    int had_old = 0;
    if (!e) {
        struct stat st;
        had_old = stat(out_dir, &st) == 0;
        if (had_old && rename(out_dir, old) != 0) e = awq_fail_errno(errno, "cannot move the old '%s' aside", out_dir);
        if (!e && rename(tmp, out_dir) != 0) {
            e = awq_fail_errno(errno, "cannot rename '%s' to '%s'", tmp, out_dir);
            if (had_old) (void)rename(old, out_dir);
        }
        awq_prof_mark("assemble: moved into place");
    }
    if (e) remove_tree(tmp);
    /* What this checkpoint does not use goes: the old output, and the shards of earlier
     * experiments (the new output keeps its own links to the shards it uses), moved into the
     * old output's directory and removed with it in the background. */
    if (!e && shards && !own) {
        if (!had_old && awq_mkdirs(old) != AWQ_OK) awq_clear_error(); /* then they are unlinked here */
        const char *keep[L + 1];
        for (int k = 0; k <= L; k++) keep[k] = shards[k];
        int removed = awq_prune_shards(in->shards_dir, keep, L + 1, old);
        if (removed) awq_verbose("removed %d stale shard file(s) from '%s'", removed, in->shards_dir);
        had_old = 1;
    }
    if (!e && had_old) remove_tree_detached(old);
    awq_prof_mark("assemble: stale files removed");
    free(shards);
    return e;
}
