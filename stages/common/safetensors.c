/* safetensors.c - the reader half of safetensors.h: header validation (spec §1.3), read-only
 * mmap of single-file and sharded (index.json) checkpoints, and lookup by name (sorted index +
 * binary search). The writer half lives in safetensors_write.c. */
#include "safetensors.h"
#include "jsonutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* the limit of the official reader */
#define ST_MAX_INDEX ((size_t)100 << 20)
#define NAME_FMT "%.200s"                   /* names in messages: enough to recognise, bounded */

typedef struct st_file {
    char *path;
    void *map;        /* whole-file read-only mapping (NULL once replaced by `copy`) */
    size_t map_len;
    void *copy;       /* aligned copy of the data buffer, only when the mapping is misaligned */
} st_file;

struct st_model {
    char *path;       /* what st_open was given (for messages) */
    st_file *files;
    int n_files;
    st_tensor *t;     /* shard by shard, each shard in data-offset order */
    int n;
    struct st_name *by_name; /* (name, index into t), sorted by name */
};

typedef struct st_name { const char *name; int idx; } st_name;

/* ---------------------------------------------------------------------------------------------
 * Header parsing (no I/O: the fuzzer calls this on arbitrary bytes) */


/* dtype names the safetensors format defines but awq_dtype does not know: these are valid
 * files we cannot use (UNSUPPORTED), anything else is a malformed file (FORMAT). */
static int is_known_unsupported_dtype(const char *s)
{
    static const char *const names[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
                                        "C64", "C128"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) return 1;
    return 0;
}

static uint64_t t_begin(const st_tensor *t) { return (uint64_t)(uintptr_t)t->data; }

/* Order by data offset; zero-sized tensors sit before a non-empty one at the same offset; the
 * name breaks ties so the order never depends on qsort. */
static int cmp_by_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    uint64_t xb = t_begin(x), yb = t_begin(y);
    if (xb != yb) return xb < yb ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

void st_free_tensors(st_tensor *t, int count)
{
    if (!t) return;
    for (int i = 0; i < count; i++) free((char *)t[i].name);
    free(t);
}

/* Parse one entry {"dtype":..., "shape":[...], "data_offsets":[b,e]} of file `file`. */
static awq_err parse_entry(const char *file, const char *name, json_t *v, uint64_t buf_size, st_tensor *t)
{
    if (!json_is_object(v))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "' is %s, expected an object with dtype, shape and data_offsets",
                        file, name, awq_json_kind(v));
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    const char *missing = !dt ? "dtype" : !shape ? "shape" : !off ? "data_offsets" : NULL;
    if (missing)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "' has no '%s'", file, name, missing);

    if (!json_is_string(dt))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "': dtype is %s, expected a string", file, name, awq_json_kind(dt));
    const char *dts = json_string_value(dt);
    t->dtype = awq_dtype_parse(dts);
    if (t->dtype == AWQ_DT_INVALID) {
        if (is_known_unsupported_dtype(dts)) {
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': tensor '" NAME_FMT "' has unsupported dtype '%s'", file, name, dts);
            awq_hint("convert the checkpoint to float16/bfloat16/float32 first");
            return AWQ_ERR_UNSUPPORTED;
        }
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "' has unknown dtype '%.40s'", file, name, dts);
    }

    if (!json_is_array(shape))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "': shape is %s, expected an array", file, name, awq_json_kind(shape));
    size_t nd = json_array_size(shape);
    if (nd > ST_MAX_DIMS)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "' has %zu dimensions (at most %d supported)",
                        file, name, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *x = json_array_get(shape, d);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "': shape[%zu] must be a non-negative integer",
                            file, name, d);
        t->shape[d] = json_integer_value(x);
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel))
            return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "': element count of the shape overflows", file, name);
    }
    uint64_t want;
    if (__builtin_mul_overflow(numel, (uint64_t)awq_dtype_size(t->dtype), &want))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "': byte size of the shape overflows", file, name);

    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
        !json_is_integer(json_array_get(off, 1)))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "': data_offsets must be [begin, end] (two integers)", file, name);
    json_int_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
    if (b < 0 || e < b || (uint64_t)e > buf_size)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "' data_offsets [%lld, %lld] out of range (data buffer is %llu bytes)",
                        file, name, (long long)b, (long long)e, (unsigned long long)buf_size);
    if ((uint64_t)(e - b) != want)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "' data_offsets [%lld, %lld] hold %llu bytes but %s shape needs %llu",
                        file, name, (long long)b, (long long)e, (unsigned long long)(e - b), dts,
                        (unsigned long long)want);
    t->data = (const void *)(uintptr_t)b;
    t->nbytes = (size_t)want;
    return AWQ_OK;
}

/* After sorting by offset every tensor must start where the previous one ended, and the last
 * must end at the end of the buffer (the official reader's rule: trailing bytes are refused). */
static awq_err check_layout(const char *file, const st_tensor *t, int n, uint64_t buf_size)
{
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t b = t_begin(&t[i]), e = b + t[i].nbytes;
        if (b < at)
            return awq_fail(AWQ_ERR_FORMAT, "'%s': tensor '" NAME_FMT "' data_offsets [%llu, %llu] overlap tensor '" NAME_FMT "' [%llu, %llu]",
                            file, t[i].name, (unsigned long long)b, (unsigned long long)e, t[i - 1].name,
                            (unsigned long long)t_begin(&t[i - 1]), (unsigned long long)at);
        if (b > at)
            return awq_fail(AWQ_ERR_FORMAT, "'%s': hole in the data buffer: bytes [%llu, %llu) before tensor '" NAME_FMT "' belong to no tensor",
                            file, (unsigned long long)at, (unsigned long long)b, t[i].name);
        at = e;
    }
    if (at != buf_size)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': data buffer is %llu bytes but the tensors end at %llu (%llu bytes belong to no tensor)",
                        file, (unsigned long long)buf_size, (unsigned long long)at, (unsigned long long)(buf_size - at));
    return AWQ_OK;
}

static awq_err check_metadata(const char *file, json_t *v)
{
    if (!json_is_object(v))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': __metadata__ is %s, expected an object of strings", file, awq_json_kind(v));
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!json_is_string(x))
            return awq_fail(AWQ_ERR_FORMAT, "'%s': __metadata__ value '" NAME_FMT "' is %s, expected a string", file, k, awq_json_kind(x));
    }
    return AWQ_OK;
}

awq_err st_parse_header(const uint8_t *buf, size_t len, uint64_t file_size, const char *name,
                        st_tensor **out_tensors, int *out_count, uint64_t *out_data_start)
{
    *out_tensors = NULL;
    *out_count = 0;
    *out_data_start = 0;
    if (len < 8 || file_size < 8)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': file is %llu bytes, too short for a safetensors header", name,
                        (unsigned long long)(file_size < len ? file_size : len));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > ST_MAX_HEADER) {
        awq_fail(AWQ_ERR_FORMAT, "'%s': header length %llu is over the 100 MiB limit", name, (unsigned long long)n);
        awq_hint("is this a safetensors file? (it must start with an 8-byte little-endian header length)");
        return AWQ_ERR_FORMAT;
    }
    if (n > file_size - 8)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': header length %llu runs past the end of the file (%llu bytes); truncated?",
                        name, (unsigned long long)n, (unsigned long long)file_size);
    if (n > len - 8)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': only %zu of the %llu header bytes were given", name, len - 8,
                        (unsigned long long)n);
    uint64_t buf_size = file_size - 8 - n;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        if (strstr(jerr.text, "duplicate object key")) /* jansson's text names the key: near '"x"' */
            return awq_fail(AWQ_ERR_FORMAT, "'%s': header lists a tensor name twice (%s)", name, jerr.text);
        return awq_fail(AWQ_ERR_FORMAT, "'%s': header is not valid JSON: %s (header byte %d)", name, jerr.text, jerr.position);
    }
    if (!json_is_object(root)) {
        awq_fail(AWQ_ERR_FORMAT, "'%s': header is %s, expected a JSON object", name, awq_json_kind(root));
        json_decref(root);
        return AWQ_ERR_FORMAT;
    }

    size_t cap = json_object_size(root);
    st_tensor *t = calloc(cap ? cap : 1, sizeof *t);
    if (!t) {
        json_decref(root);
        return awq_fail(AWQ_ERR_NOMEM, "'%s': out of memory for %zu tensor entries", name, cap);
    }
    int count = 0;
    awq_err e = AWQ_OK;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((e = check_metadata(name, v)) != AWQ_OK) break;
            continue;
        }
        st_tensor *ti = &t[count];
        if ((e = parse_entry(name, key, v, buf_size, ti)) != AWQ_OK) break;
        if (!(ti->name = strdup(key))) { e = awq_fail(AWQ_ERR_NOMEM, "'%s': out of memory", name); break; }
        count++;
    }
    json_decref(root);
    if (e == AWQ_OK) {
        qsort(t, (size_t)count, sizeof *t, cmp_by_offset);
        e = check_layout(name, t, count, buf_size);
    }
    if (e != AWQ_OK) {
        st_free_tensors(t, count);
        return e;
    }
    *out_tensors = t;
    *out_count = count;
    *out_data_start = 8 + n;
    return AWQ_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Files and models */

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static void file_release(st_file *f)
{
    if (f->map) munmap(f->map, f->map_len);
    free(f->copy);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Map `f->path`, validate its header, and append its tensors (data pointing into the file) to m.
 * The data of every tensor must be aligned to its element size so callers can read it as
 * uint16_t / float arrays; a file whose header length breaks that (legal, but the official
 * writer never produces it) gets its data buffer copied to aligned memory instead. */
static awq_err file_load(st_model *m, int fi)
{
    st_file *f = &m->files[fi];
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return awq_fail_errno(errno, "cannot open '%s'", f->path);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return awq_fail_errno(err, "cannot stat '%s'", f->path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return awq_fail(AWQ_ERR_IO, "'%s' is not a regular file", f->path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return awq_fail(AWQ_ERR_FORMAT, "'%s': file is %lld bytes, too short for a safetensors header", f->path,
                        (long long)sb.st_size);
    }
    f->map_len = (size_t)sb.st_size;
    void *map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) return awq_fail_errno(err, "cannot map '%s'", f->path);
    f->map = map;

    st_tensor *t;
    int n;
    uint64_t start;
    awq_err e = st_parse_header(map, f->map_len, f->map_len, f->path, &t, &n, &start);
    if (e != AWQ_OK) return e;

    const uint8_t *base = (const uint8_t *)map + start;
    int misaligned = 0;
    for (int i = 0; i < n; i++)
        if ((start + t_begin(&t[i])) % awq_dtype_size(t[i].dtype)) misaligned = 1;
    if (misaligned) {
        size_t bytes = f->map_len - (size_t)start;
        f->copy = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
        if (!f->copy) {
            st_free_tensors(t, n);
            return awq_fail(AWQ_ERR_NOMEM, "'%s': out of memory copying %zu unaligned bytes", f->path, bytes);
        }
        memcpy(f->copy, base, bytes);
        munmap(f->map, f->map_len);
        f->map = NULL;
        base = f->copy;
    }

    st_tensor *grown = realloc(m->t, ((size_t)m->n + (size_t)n + 1) * sizeof *grown);
    if (!grown) {
        st_free_tensors(t, n);
        return awq_fail(AWQ_ERR_NOMEM, "'%s': out of memory", f->path);
    }
    m->t = grown;
    for (int i = 0; i < n; i++) {
        t[i].data = base + t_begin(&t[i]);
        t[i].file = fi;
        m->t[m->n++] = t[i]; /* the name moves with it */
    }
    free(t);
    return AWQ_OK;
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(((const st_name *)a)->name, ((const st_name *)b)->name);
}

/* Build the name index and refuse duplicates (within a file the JSON parser already did). */
static awq_err build_index(st_model *m)
{
    m->by_name = malloc(((size_t)m->n + 1) * sizeof *m->by_name);
    if (!m->by_name) return awq_fail(AWQ_ERR_NOMEM, "'%s': out of memory", m->path);
    for (int i = 0; i < m->n; i++) m->by_name[i] = (st_name){m->t[i].name, i};
    qsort(m->by_name, (size_t)m->n, sizeof *m->by_name, cmp_by_name);
    for (int i = 1; i < m->n; i++) {
        const st_tensor *a = &m->t[m->by_name[i - 1].idx], *b = &m->t[m->by_name[i].idx];
        if (strcmp(a->name, b->name) == 0)
            return awq_fail(AWQ_ERR_FORMAT, "tensor '" NAME_FMT "' is in both '%s' and '%s'", a->name,
                            m->files[a->file].path, m->files[b->file].path);
    }
    return AWQ_OK;
}

static int find_index(const st_model *m, const char *name)
{
    int lo = 0, hi = m->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(m->by_name[mid].name, name);
        if (c == 0) return m->by_name[mid].idx;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

static awq_err add_file(st_model *m, const char *dir, const char *name)
{
    st_file *grown = realloc(m->files, ((size_t)m->n_files + 1) * sizeof *grown);
    if (!grown) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    m->files = grown;
    st_file *f = &m->files[m->n_files];
    memset(f, 0, sizeof *f);
    f->path = dir ? join(dir, name) : strdup(name);
    if (!f->path) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    m->n_files++;
    return file_load(m, m->n_files - 1);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* A shard name from the index must be a plain file name in the model directory. */
static int plain_file_name(const char *s)
{
    return s[0] && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Open every shard named by `index_path` once and check the weight_map against the shards:
 * a listed tensor must be in the named shard. Tensors a shard holds but the map does not list
 * are kept (transformers loads them too); the same name in two shards is an error. */
static awq_err open_index(st_model *m, const char *dir, const char *index_path)
{
    FILE *fp = fopen(index_path, "rb");
    if (!fp) return awq_fail_errno(errno, "cannot open '%s'", index_path);
    char *text = malloc(ST_MAX_INDEX + 1);
    if (!text) {
        fclose(fp);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory reading '%s'", index_path);
    }
    size_t len = fread(text, 1, ST_MAX_INDEX + 1, fp);
    int rerr = ferror(fp) ? errno : 0;
    fclose(fp);
    if (rerr) {
        free(text);
        return awq_fail_errno(rerr, "cannot read '%s'", index_path);
    }
    if (len > ST_MAX_INDEX) {
        free(text);
        return awq_fail(AWQ_ERR_FORMAT, "'%s' is larger than 100 MiB", index_path);
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    free(text);
    if (!root)
        return awq_fail(AWQ_ERR_FORMAT, "'%s' is not valid JSON: %s (line %d, column %d)", index_path, jerr.text,
                        jerr.line, jerr.column);

    awq_err e = AWQ_OK;
    const char **shards = NULL;
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(root)) {
        e = awq_fail(AWQ_ERR_FORMAT, "'%s' is %s, expected a JSON object", index_path, awq_json_kind(root));
        goto out;
    }
    if (!json_is_object(wm)) {
        e = awq_fail(AWQ_ERR_FORMAT, "'%s': 'weight_map' is %s, expected an object of tensor name -> file name",
                     index_path, wm ? awq_json_kind(wm) : "missing");
        goto out;
    }
    size_t nmap = json_object_size(wm);
    if (nmap == 0) {
        e = awq_fail(AWQ_ERR_FORMAT, "'%s': 'weight_map' lists no tensors", index_path);
        goto out;
    }
    shards = malloc(nmap * sizeof *shards);
    if (!shards) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); goto out; }
    size_t ns = 0;
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        if (!json_is_string(v) || !plain_file_name(json_string_value(v))) {
            e = awq_fail(AWQ_ERR_FORMAT, "'%s': weight_map entry for '" NAME_FMT "' must be a file name in the model directory",
                         index_path, key);
            goto out;
        }
        shards[ns++] = json_string_value(v);
    }
    qsort(shards, ns, sizeof *shards, cmp_str);
    for (size_t i = 0; i < ns; i++) {
        if (i > 0 && strcmp(shards[i], shards[i - 1]) == 0) continue;
        if ((e = add_file(m, dir, shards[i])) != AWQ_OK) {
            awq_context(e, "shard named by '%s'", index_path);
            goto out;
        }
    }
    if ((e = build_index(m)) != AWQ_OK) goto out;
    json_object_foreach(wm, key, v) {
        const char *want = json_string_value(v);
        int i = find_index(m, key);
        if (i < 0) {
            e = awq_fail(AWQ_ERR_FORMAT, "'%s' lists tensor '" NAME_FMT "' in '%s', but that shard does not contain it",
                         index_path, key, want);
            goto out;
        }
        const char *have = m->files[m->t[i].file].path;
        size_t hl = strlen(have), wl = strlen(want);
        if (hl < wl + 1 || strcmp(have + hl - wl, want) != 0 || have[hl - wl - 1] != '/') {
            e = awq_fail(AWQ_ERR_FORMAT, "'%s' lists tensor '" NAME_FMT "' in '%s', but it is in '%s'", index_path, key,
                         want, have);
            goto out;
        }
    }
out:
    free(shards);
    json_decref(root);
    return e;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

awq_err st_open(st_model **out, const char *path)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return awq_fail_errno(errno, "cannot open '%s'", path);
    st_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    }
    awq_err e;
    if (!S_ISDIR(sb.st_mode)) {
        e = add_file(m, NULL, path);
        if (e == AWQ_OK) e = build_index(m);
    } else {
        /* transformers looks for the single file first, then the index: so do we */
        char *single = join(path, "model.safetensors"), *index = join(path, "model.safetensors.index.json");
        if (!single || !index) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        else if (is_file(single)) {
            e = add_file(m, path, "model.safetensors");
            if (e == AWQ_OK) e = build_index(m);
        } else if (is_file(index)) {
            e = open_index(m, path, index);
        } else {
            e = awq_fail(AWQ_ERR_NOTFOUND, "'%s' has no model.safetensors or model.safetensors.index.json", path);
            awq_hint("point at a HuggingFace model directory; .bin (pickle) checkpoints must be converted to safetensors first");
        }
        free(single);
        free(index);
    }
    if (e != AWQ_OK) {
        st_close(m);
        return e;
    }
    *out = m;
    return AWQ_OK;
}

void st_close(st_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n; i++) free((char *)m->t[i].name);
    free(m->t);
    for (int i = 0; i < m->n_files; i++) file_release(&m->files[i]);
    free(m->files);
    free(m->by_name);
    free(m->path);
    free(m);
}

int st_count(const st_model *m) { return m ? m->n : 0; }

const st_tensor *st_at(const st_model *m, int i) { return m && i >= 0 && i < m->n ? &m->t[i] : NULL; }

const st_tensor *st_find(const st_model *m, const char *name)
{
    int i = m && name ? find_index(m, name) : -1;
    return i < 0 ? NULL : &m->t[i];
}

awq_err st_get(const st_model *m, const char *name, const st_tensor **out)
{
    *out = st_find(m, name);
    if (!*out) return awq_fail(AWQ_ERR_NOTFOUND, "tensor '" NAME_FMT "' not found in '%s'", name, m->path);
    return AWQ_OK;
}

const char *st_file_path(const st_model *m, int file)
{
    return m && file >= 0 && file < m->n_files ? m->files[file].path : "?";
}

awq_err st_model_check_dtypes(const st_model *m)
{
    for (int i = 0; i < m->n; i++) {
        awq_dtype d = m->t[i].dtype;
        if (d != AWQ_DT_F16 && d != AWQ_DT_BF16 && d != AWQ_DT_F32) {
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': tensor '" NAME_FMT "' has dtype %s; model weights must be F16, BF16 or F32",
                     m->files[m->t[i].file].path, m->t[i].name, awq_dtype_name(d));
            awq_hint("is this checkpoint already quantized? awqmake needs the original float weights");
            return AWQ_ERR_UNSUPPORTED;
        }
    }
    return AWQ_OK;
}
