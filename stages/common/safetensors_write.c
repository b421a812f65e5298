/* safetensors_write.c - the writer half of safetensors.h: one file or HF-style shards + index
 * (spec §1.3). Tensor bytes are streamed to the file (from the caller's buffers or a fill
 * callback), never gathered into a whole-file buffer: a 7B checkpoint is 13.5 GB. */
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cache/atomic.h"

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

/* Where the bytes come from: the tensors' data pointers, or fill(). */
typedef struct source {
    const st_tensor *t;
    int count;
    st_fill_fn fill; /* NULL: use t[i].data */
    void *ctx;
} source;

static int cmp_names(const void *a, const void *b, void *t)
{
    const st_tensor *ts = t;
    return strcmp(ts[*(const int *)a].name, ts[*(const int *)b].name);
}

/* Everything a reader would refuse, refused here first, with the tensor named. */
static awq_err validate(const source *s)
{
    if (s->count < 0 || (s->count > 0 && !s->t))
        return awq_fail(AWQ_ERR_ARG, "bad tensor table (count %d)", s->count);
    for (int i = 0; i < s->count; i++) {
        const st_tensor *t = &s->t[i];
        if (!t->name || !t->name[0]) return awq_fail(AWQ_ERR_ARG, "tensor %d has no name", i);
        if (strcmp(t->name, "__metadata__") == 0)
            return awq_fail(AWQ_ERR_ARG, "'__metadata__' is reserved and cannot name a tensor");
        size_t esize = awq_dtype_size(t->dtype);
        if (!esize) return awq_fail(AWQ_ERR_ARG, "tensor '%s': invalid dtype", t->name);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return awq_fail(AWQ_ERR_ARG, "tensor '%s': %d dimensions (at most %d)", t->name, t->ndim, ST_MAX_DIMS);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) return awq_fail(AWQ_ERR_ARG, "tensor '%s': negative dimension", t->name);
            uint64_t dim = (uint64_t)t->shape[d];
            if (dim && numel > UINT64_MAX / dim) return awq_fail(AWQ_ERR_ARG, "tensor '%s': shape overflows", t->name);
            numel *= dim;
        }
        if (numel > UINT64_MAX / esize || numel * esize != (uint64_t)t->nbytes)
            return awq_fail(AWQ_ERR_ARG, "tensor '%s': %zu bytes but shape and %s give %llu", t->name,
                            t->nbytes, awq_dtype_name(t->dtype), (unsigned long long)(numel * esize));
        if (!s->fill && t->nbytes && !t->data) return awq_fail(AWQ_ERR_ARG, "tensor '%s': no data", t->name);
    }
    if (s->count < 2) return AWQ_OK;
    int *order = malloc((size_t)s->count * sizeof *order);
    if (!order) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->count; i++) order[i] = i;
    qsort_r(order, (size_t)s->count, sizeof *order, cmp_names, (void *)s->t);
    awq_err e = AWQ_OK;
    for (int i = 1; i < s->count && e == AWQ_OK; i++)
        if (strcmp(s->t[order[i - 1]].name, s->t[order[i]].name) == 0)
            e = awq_fail(AWQ_ERR_ARG, "tensor '%s' appears twice", s->t[order[i]].name);
    free(order);
    return e;
}

/* The JSON header of tensors [first, first+n), unpadded. malloc'ed; NULL on failure (recorded). */
static char *header_json(const source *s, int first, int n)
{
    json_t *root = json_object(), *meta = json_object();
    int ok = root && meta && json_object_set_new(meta, "format", json_string("pt")) == 0 &&
             json_object_set_new(root, "__metadata__", meta) == 0;
    if (!ok) json_decref(meta);
    uint64_t off = 0;
    for (int i = first; ok && i < first + n; i++) {
        const st_tensor *t = &s->t[i];
        json_t *shape = json_array(), *offs = json_array(), *entry = json_object();
        for (int d = 0; shape && d < t->ndim; d++) ok &= json_array_append_new(shape, json_integer(t->shape[d])) == 0;
        ok &= offs && json_array_append_new(offs, json_integer((json_int_t)off)) == 0 &&
              json_array_append_new(offs, json_integer((json_int_t)(off + t->nbytes))) == 0;
        ok &= entry && json_object_set_new(entry, "dtype", json_string(awq_dtype_name(t->dtype))) == 0;
        ok &= entry && json_object_set(entry, "shape", shape) == 0 && json_object_set(entry, "data_offsets", offs) == 0;
        json_decref(shape);
        json_decref(offs);
        /* jansson refuses keys that are not valid UTF-8: say so instead of "out of memory" */
        if (ok && json_object_set_new(root, t->name, entry) != 0) {
            json_decref(root);
            awq_fail(AWQ_ERR_ARG, "tensor name '%s' is not valid UTF-8", t->name);
            return NULL;
        }
        if (!ok) json_decref(entry);
        off += t->nbytes;
    }
    char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) awq_fail(AWQ_ERR_NOMEM, "out of memory building a safetensors header");
    return text;
}

/* Write tensors [first, first+n) as one safetensors file at `path`. */
static awq_err write_file(const char *path, const source *s, int first, int n, void **chunk)
{
    char *json = header_json(s, first, n);
    if (!json) return awq_errcode();
    size_t jlen = strlen(json), hlen = (jlen + 7) & ~(size_t)7;
    uint8_t *head = malloc(8 + hlen);
    if (!head) { free(json); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    for (int b = 0; b < 8; b++) head[b] = (uint8_t)((uint64_t)hlen >> (8 * b)); /* little-endian u64 */
    memcpy(head + 8, json, jlen);
    memset(head + 8 + jlen, ' ', hlen - jlen);
    free(json);

    awq_atomic f;
    awq_err e = awq_atomic_open(&f, path);
    if (e == AWQ_OK) e = awq_atomic_write(&f, head, 8 + hlen);
    free(head);
    for (int i = first; e == AWQ_OK && i < first + n; i++) {
        const st_tensor *t = &s->t[i];
        if (!s->fill) { e = awq_atomic_write(&f, t->data, t->nbytes); continue; }
        if (!*chunk && t->nbytes && !(*chunk = malloc(ST_FILL_CHUNK))) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
        /* ST_FILL_CHUNK is a multiple of every element size, so chunks split between elements */
        for (uint64_t off = 0; e == AWQ_OK && off < t->nbytes; off += ST_FILL_CHUNK) {
            size_t len = t->nbytes - off < ST_FILL_CHUNK ? (size_t)(t->nbytes - off) : ST_FILL_CHUNK;
            e = s->fill(s->ctx, i, off, *chunk, len);
            if (e != AWQ_OK) e = awq_context(e, "tensor '%s'", t->name);
            else e = awq_atomic_write(&f, *chunk, len);
        }
    }
    if (e == AWQ_OK) return awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
    if (f.final_path) awq_atomic_abort(&f);
    return e;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Remove the entry file of the layout we did not write, so a reader cannot pick up a stale one. */
static awq_err remove_stale(const char *dir, const char *name)
{
    char *p = join(dir, name);
    if (!p) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = AWQ_OK;
    if (unlink(p) != 0 && errno != ENOENT) e = awq_fail_errno(errno, "cannot remove stale '%s'", p);
    free(p);
    return e;
}

awq_err st_write_index(const char *dir, const char *const *names, const char *const *files, int count, uint64_t total_size)
{
    json_t *root = json_object(), *meta = json_object(), *map = json_object();
    int ok = root && meta && map;
    for (int i = 0; ok && i < count; i++) ok = json_object_set_new(map, names[i], json_string(files[i])) == 0;
    ok = ok && json_object_set_new(meta, "total_size", json_integer((json_int_t)total_size)) == 0;
    ok = ok && json_object_set(root, "metadata", meta) == 0 && json_object_set(root, "weight_map", map) == 0;
    json_decref(meta);
    json_decref(map);
    /* the layout HF writes: indent 2, keys sorted, trailing newline */
    char *text = ok ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    char *path = join(dir, INDEX_NAME);
    if (!text || !path) { free(text); free(path); return awq_fail(AWQ_ERR_NOMEM, "out of memory building the index"); }
    awq_atomic f;
    awq_err e = awq_atomic_open(&f, path);
    if (e == AWQ_OK) e = awq_atomic_write(&f, text, strlen(text));
    if (e == AWQ_OK) e = awq_atomic_write(&f, "\n", 1);
    if (e == AWQ_OK) e = awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
    else if (f.final_path) awq_atomic_abort(&f);
    free(text);
    free(path);
    return e;
}

static awq_err write_index(const char *dir, const source *s, const int *shard_of, int nshards)
{
    const char **names = malloc(((size_t)s->count + 1) * sizeof *names);
    const char **files = malloc(((size_t)s->count + 1) * sizeof *files);
    char (*fnames)[64] = malloc((size_t)nshards * sizeof *fnames);
    awq_err e = names && files && fnames ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory building the index");
    uint64_t total = 0;
    for (int k = 0; !e && k < nshards; k++) snprintf(fnames[k], sizeof fnames[k], "model-%05d-of-%05d.safetensors", k + 1, nshards);
    for (int i = 0; !e && i < s->count; i++) {
        names[i] = s->t[i].name;
        files[i] = fnames[shard_of[i]];
        total += s->t[i].nbytes;
    }
    if (!e) e = st_write_index(dir, names, files, s->count, total);
    free(names); free(files); free(fnames);
    return e;
}

static awq_err write_sharded(const char *dir, const source *s, uint64_t max_shard_bytes)
{
    awq_err e = validate(s);
    if (e == AWQ_OK) e = awq_mkdirs(dir);
    if (e != AWQ_OK) return e;
    /* Greedy in the given order (a block's tensors stay together): open a new shard when the
     * next tensor would overflow a non-empty one. */
    int *shard_of = malloc(((size_t)s->count + 1) * sizeof *shard_of);
    if (!shard_of) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    int nshards = 1;
    uint64_t used = 0;
    for (int i = 0; i < s->count; i++) {
        uint64_t nb = s->t[i].nbytes;
        if (max_shard_bytes && used > 0 && used + nb > max_shard_bytes) { nshards++; used = 0; }
        shard_of[i] = nshards - 1;
        used += nb;
    }
    void *chunk = NULL;
    char *path = NULL;
    if (nshards > 99999) {
        e = awq_fail(AWQ_ERR_ARG, "%d shards are too many for '%s'", nshards, dir);
        awq_hint("raise the shard size");
    } else if (nshards == 1) {
        if (!(path = join(dir, SINGLE_NAME))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        if (e == AWQ_OK) e = write_file(path, s, 0, s->count, &chunk);
        if (e == AWQ_OK) e = remove_stale(dir, INDEX_NAME);
    } else {
        char fname[64];
        for (int k = 0, first = 0; e == AWQ_OK && k < nshards; k++) {
            int n = 0;
            while (first + n < s->count && shard_of[first + n] == k) n++;
            snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", k + 1, nshards);
            free(path);
            if (!(path = join(dir, fname))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
            if (e == AWQ_OK) e = write_file(path, s, first, n, &chunk);
            first += n;
        }
        if (e == AWQ_OK) e = write_index(dir, s, shard_of, nshards);
        if (e == AWQ_OK) e = remove_stale(dir, SINGLE_NAME);
    }
    free(path);
    free(chunk);
    free(shard_of);
    return e;
}

static awq_err no_fill(void *ctx, int index, uint64_t offset, void *buf, size_t len)
{
    (void)ctx, (void)index, (void)offset, (void)buf, (void)len;
    return awq_fail(AWQ_ERR_ARG, "st_header_json writes no data");
}

char *st_header_json(const st_tensor *tensors, int count)
{
    source s = {tensors, count, no_fill, NULL};
    return validate(&s) == AWQ_OK ? header_json(&s, 0, count) : NULL;
}

awq_err st_write(const char *path, const st_tensor *tensors, int count)
{
    source s = {tensors, count, NULL, NULL};
    awq_err e = validate(&s);
    void *chunk = NULL;
    if (e == AWQ_OK) e = write_file(path, &s, 0, count, &chunk);
    return e;
}

awq_err st_write_fill(const char *path, const st_tensor *tensors, int count, st_fill_fn fill, void *ctx)
{
    if (!fill) return awq_fail(AWQ_ERR_ARG, "st_write_fill: no fill function");
    source s = {tensors, count, fill, ctx};
    awq_err e = validate(&s);
    void *chunk = NULL;
    if (e == AWQ_OK) e = write_file(path, &s, 0, count, &chunk);
    free(chunk);
    return e;
}

awq_err st_write_sharded(const char *dir, const st_tensor *tensors, int count, uint64_t max_shard_bytes)
{
    source s = {tensors, count, NULL, NULL};
    return write_sharded(dir, &s, max_shard_bytes);
}

awq_err st_write_sharded_fill(const char *dir, const st_tensor *tensors, int count,
                              uint64_t max_shard_bytes, st_fill_fn fill, void *ctx)
{
    if (!fill) return awq_fail(AWQ_ERR_ARG, "st_write_sharded_fill: no fill function");
    source s = {tensors, count, fill, ctx};
    return write_sharded(dir, &s, max_shard_bytes);
}
