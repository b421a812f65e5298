/* test_st_write.c - the safetensors writer (st_write, st_write_sharded, st_write_sharded_fill,
 * st_write_fill, st_write_index): files are checked twice, once by decoding the bytes here with
 * jansson by the rules of spec §1.3 (independent of the reader) and once through the reader
 * (st_open/st_find); sharding rules, the index, stale-file removal, streaming in chunks, and
 * refused inputs. */
#include "test.h"
#include "../stages/common/safetensors.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

/* Files in dir whose name starts with prefix (e.g. ".tmp-": leftovers of atomic writes). */
static int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* Random bytes for a tensor of the given dtype/shape; fills t (data malloc'ed, name static). */
static void make_tensor(st_tensor *t, const char *name, awq_dtype dt, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dt;
    t->ndim = ndim;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) { t->shape[d] = shape[d]; n *= (size_t)shape[d]; }
    t->nbytes = n * awq_dtype_size(dt);
    uint8_t *p = malloc(t->nbytes ? t->nbytes : 1);
    for (size_t i = 0; i < t->nbytes; i++) p[i] = (uint8_t)t_rand();
    t->data = p;
}

static void free_tensors(st_tensor *t, int n) { for (int i = 0; i < n; i++) free((void *)t[i].data); }

/* Decode a safetensors file by spec §1.3 and compare it with the tensors written. */
static void check_file_layout(const char *path, const st_tensor *t, int n)
{
    size_t len = 0;
    uint8_t *f = t_read_file(path, &len);
    REQUIRE(f && len >= 8, "cannot read '%s'", path);
    uint64_t hlen = 0;
    for (int b = 0; b < 8; b++) hlen |= (uint64_t)f[b] << (8 * b);
    CHECK(hlen % 8 == 0, "header length %llu is not a multiple of 8", (unsigned long long)hlen);
    REQUIRE(8 + hlen <= len, "header longer than the file");
    size_t jl = (size_t)hlen;
    while (jl > 0 && f[8 + jl - 1] == ' ') jl--; /* the padding is spaces only */
    CHECK(hlen - jl < 8, "padding of %zu bytes", (size_t)(hlen - jl));
    json_error_t err;
    json_t *h = json_loadb((const char *)f + 8, jl, 0, &err);
    REQUIRE(h, "header is not JSON: %s", err.text);
    CHECK(json_object_size(h) == (size_t)n + 1, "%zu keys for %d tensors", json_object_size(h), n);
    json_t *meta = json_object_get(h, "__metadata__");
    CHECK(meta && json_is_string(json_object_get(meta, "format")) &&
          strcmp(json_string_value(json_object_get(meta, "format")), "pt") == 0, "__metadata__.format != pt");
    /* tensors contiguous in the order given, the buffer covered to the end of the file */
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *e = json_object_get(h, t[i].name);
        REQUIRE(e, "'%s' missing from the header", t[i].name);
        CHECK(strcmp(json_string_value(json_object_get(e, "dtype")), awq_dtype_name(t[i].dtype)) == 0, "dtype of '%s'", t[i].name);
        json_t *shape = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
        REQUIRE(json_array_size(shape) == (size_t)t[i].ndim, "rank of '%s'", t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            CHECK(json_integer_value(json_array_get(shape, (size_t)d)) == t[i].shape[d], "shape of '%s'", t[i].name);
        uint64_t b = (uint64_t)json_integer_value(json_array_get(offs, 0)), en = (uint64_t)json_integer_value(json_array_get(offs, 1));
        CHECK(b == off && en == off + t[i].nbytes, "'%s' at [%llu,%llu), expected [%llu,%llu)", t[i].name,
              (unsigned long long)b, (unsigned long long)en, (unsigned long long)off, (unsigned long long)(off + t[i].nbytes));
        CHECK(t[i].nbytes == 0 || memcmp(f + 8 + hlen + off, t[i].data, t[i].nbytes) == 0, "bytes of '%s'", t[i].name);
        off += t[i].nbytes;
    }
    CHECK(8 + hlen + off == len, "file is %zu bytes, layout says %llu", len, (unsigned long long)(8 + hlen + off));
    json_decref(h);
    free(f);
}

/* Every tensor comes back through the reader with the same dtype, shape and bytes. */
static void check_via_reader(const char *path, const st_tensor *t, int n)
{
    st_model *m = NULL;
    awq_err e = st_open(&m, path);
    REQUIRE(e == AWQ_OK, "st_open('%s'): %s", path, awq_errmsg());
    CHECK(st_count(m) == n, "%d tensors read back, %d written", st_count(m), n);
    for (int i = 0; i < n; i++) {
        const st_tensor *r = st_find(m, t[i].name);
        if (!r) { CHECK(0, "'%s' not found", t[i].name); continue; }
        CHECK(r->dtype == t[i].dtype && r->ndim == t[i].ndim && r->nbytes == t[i].nbytes, "'%s' metadata", t[i].name);
        for (int d = 0; d < t[i].ndim && d < r->ndim; d++) CHECK(r->shape[d] == t[i].shape[d], "'%s' dim %d", t[i].name, d);
        CHECK(t[i].nbytes == 0 || memcmp(r->data, t[i].data, t[i].nbytes) == 0, "'%s' bytes", t[i].name);
    }
    st_close(m);
}

static void t_single_file(void)
{
    st_tensor t[5];
    make_tensor(&t[0], "model.embed_tokens.weight", AWQ_DT_F16, 2, (int64_t[]){37, 16});
    make_tensor(&t[1], "b.bias", AWQ_DT_F32, 1, (int64_t[]){5});  /* 20 bytes: later tensors unaligned to 8 */
    make_tensor(&t[2], "scalar", AWQ_DT_I32, 0, NULL);            /* 0-d: shape [] */
    make_tensor(&t[3], "empty", AWQ_DT_BF16, 2, (int64_t[]){0, 4}); /* zero bytes */
    make_tensor(&t[4], "a.weight", AWQ_DT_BF16, 3, (int64_t[]){2, 3, 7});
    char p[1600];
    snprintf(p, sizeof p, "%s", t_path("one.safetensors"));
    awq_err e = st_write(p, t, 5);
    REQUIRE(e == AWQ_OK, "st_write: %s", awq_errmsg());
    check_file_layout(p, t, 5);
    check_via_reader(p, t, 5);
    CHECK(count_prefix(t_tmpdir(), ".tmp-") == 0, "temporary files left");
    free_tensors(t, 5);
}

/* Index rules: every tensor exactly once, total_size the sum of the byte sizes. */
static void check_index(const char *dir, const st_tensor *t, int n, int want_shards, uint64_t max_bytes)
{
    char *ipath = strdup(t_path("%s/model.safetensors.index.json", dir));
    json_error_t err;
    json_t *idx = json_load_file(ipath, 0, &err);
    free(ipath);
    REQUIRE(idx, "index: %s", err.text);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += t[i].nbytes;
    CHECK((uint64_t)json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size")) == total,
          "total_size != %llu", (unsigned long long)total);
    json_t *map = json_object_get(idx, "weight_map");
    CHECK(json_object_size(map) == (size_t)n, "weight_map has %zu entries, %d tensors", json_object_size(map), n);
    uint64_t shard_bytes[64] = {0};
    int shard_count[64] = {0};
    for (int i = 0; i < n; i++) {
        const char *f = json_string_value(json_object_get(map, t[i].name));
        REQUIRE(f, "'%s' not in weight_map", t[i].name);
        int k = 0, K = 0;
        REQUIRE(sscanf(f, "model-%5d-of-%5d.safetensors", &k, &K) == 2 && K == want_shards && k >= 1 && k <= K && k < 64,
                "'%s' -> '%s' (want %d shards)", t[i].name, f, want_shards);
        CHECK(exists(t_path("%s/%s", dir, f)), "shard '%s' missing", f);
        shard_bytes[k] += t[i].nbytes;
        shard_count[k]++;
    }
    for (int k = 1; k <= want_shards && k < 64; k++)
        CHECK(shard_count[k] > 0 && (shard_bytes[k] <= max_bytes || shard_count[k] == 1),
              "shard %d: %d tensors, %llu bytes > %llu", k, shard_count[k], (unsigned long long)shard_bytes[k],
              (unsigned long long)max_bytes);
    json_decref(idx);
}

static void t_sharded(void)
{
    /* 1000, 1000, 5000 (bigger than the limit: alone), 600, 600, 600 bytes with a 2000-byte limit:
     * greedy gives [1000 1000] [5000] [600 600 600] */
    enum { N = 6 };
    static const char *names[N] = {"l0.w", "l0.b", "huge", "l1.w", "l1.b", "l1.c"};
    static const int64_t sizes[N] = {500, 500, 2500, 300, 300, 300};
    st_tensor t[N];
    for (int i = 0; i < N; i++) make_tensor(&t[i], names[i], AWQ_DT_F16, 1, &sizes[i]);
    char dir[1600];
    snprintf(dir, sizeof dir, "%s", t_path("sharded")); /* t_path's buffers rotate */
    awq_err e = st_write_sharded(dir, t, N, 2000);
    REQUIRE(e == AWQ_OK, "st_write_sharded: %s", awq_errmsg());
    check_index("sharded", t, N, 3, 2000);
    /* each shard is itself a valid file holding its tensors in order */
    check_file_layout(t_path("sharded/model-00001-of-00003.safetensors"), t, 2);
    check_file_layout(t_path("sharded/model-00002-of-00003.safetensors"), t + 2, 1);
    check_file_layout(t_path("sharded/model-00003-of-00003.safetensors"), t + 3, 3);
    CHECK(!exists(t_path("sharded/model.safetensors")), "plain file next to shards");
    check_via_reader(dir, t, N);

    /* the same tensors again as one file into the same directory: the old index must go */
    e = st_write_sharded(dir, t, N, 0);
    REQUIRE(e == AWQ_OK, "st_write_sharded(0): %s", awq_errmsg());
    CHECK(!exists(t_path("sharded/model.safetensors.index.json")), "stale index left behind");
    check_file_layout(t_path("sharded/model.safetensors"), t, N);
    check_via_reader(dir, t, N);
    /* and a limit everything fits under is a single file too */
    e = st_write_sharded(t_path("fits"), t, N, 1 << 20);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    CHECK(exists(t_path("fits/model.safetensors")) && !exists(t_path("fits/model.safetensors.index.json")), "single file expected");
    /* back to shards: the stale plain file must go */
    e = st_write_sharded(t_path("fits"), t, N, 1200);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    CHECK(!exists(t_path("fits/model.safetensors")), "stale model.safetensors left behind");
    check_index("fits", t, N, 5, 1200); /* [1000] [1000] [5000] [600 600] [600] */
    check_via_reader(t_path("fits"), t, N);
    /* every tensor over the limit, the first one included: one shard each, none empty */
    e = st_write_sharded(t_path("alone"), t, N, 400);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    check_index("alone", t, N, N, 400);
    check_via_reader(t_path("alone"), t, N);
    CHECK(count_prefix(dir, ".tmp-") == 0 && count_prefix(t_path("fits"), ".tmp-") == 0, "temporary files left");
    free_tensors(t, N);
}

typedef struct fill_log {
    const st_tensor *src;
    int calls, bad_order, bad_align, fail_at;
    int last_index;
    uint64_t next_offset;
} fill_log;

static awq_err fill_from(void *ctx, int index, uint64_t offset, void *buf, size_t len)
{
    fill_log *l = ctx;
    l->calls++;
    if (l->fail_at && l->calls == l->fail_at) return awq_fail(AWQ_ERR_NUMERIC, "planted failure");
    if (index != l->last_index) { l->last_index = index; l->next_offset = 0; }
    if (offset != l->next_offset) l->bad_order++;
    size_t es = awq_dtype_size(l->src[index].dtype);
    if (offset % es || len % es || len > ST_FILL_CHUNK || len == 0) l->bad_align++;
    memcpy(buf, (const uint8_t *)l->src[index].data + offset, len);
    l->next_offset = offset + len;
    return AWQ_OK;
}

static void t_fill_streams_in_chunks(void)
{
    /* one tensor of 2.5 chunks, so the writer must call fill three times for it */
    st_tensor t[3];
    int64_t big = (int64_t)(ST_FILL_CHUNK / 4) * 5 / 2;
    make_tensor(&t[0], "first", AWQ_DT_F16, 1, (int64_t[]){3});
    make_tensor(&t[1], "big", AWQ_DT_F32, 2, (int64_t[]){big / 64, 64});
    make_tensor(&t[2], "last", AWQ_DT_I8, 1, (int64_t[]){5});
    st_tensor meta[3];
    memcpy(meta, t, sizeof t);
    for (int i = 0; i < 3; i++) meta[i].data = NULL; /* the fill writer must not need data */
    fill_log log = {t, 0, 0, 0, 0, -1, 0};
    awq_err e = st_write_sharded_fill(t_path("fill"), meta, 3, 0, fill_from, &log);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    CHECK(log.calls == 5, "%d fill calls, expected 1 + 3 + 1", log.calls);
    CHECK(log.bad_order == 0 && log.bad_align == 0, "order %d align %d", log.bad_order, log.bad_align);
    check_file_layout(t_path("fill/model.safetensors"), t, 3);

    /* a failing fill: an error naming the tensor, and no file */
    fill_log bad = {t, 0, 0, 0, 3, -1, 0};
    e = st_write_sharded_fill(t_path("fillbad"), meta, 3, 0, fill_from, &bad);
    CHECK(e == AWQ_ERR_NUMERIC, "got %d", e);
    CHECK(strstr(awq_errmsg(), "'big'") && strstr(awq_errmsg(), "planted failure"), "message: %s", awq_errmsg());
    CHECK(!exists(t_path("fillbad/model.safetensors")), "partial file after a failed fill");
    CHECK(count_prefix(t_path("fillbad"), ".tmp-") == 0, "temporary files left");

    /* the same into one file (st_write_fill), and a failing fill leaves none */
    fill_log one = {t, 0, 0, 0, 0, -1, 0};
    e = st_write_fill(t_path("one.safetensors"), meta, 3, fill_from, &one);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    CHECK(one.calls == 5 && one.bad_order == 0 && one.bad_align == 0, "calls %d order %d align %d", one.calls, one.bad_order, one.bad_align);
    check_file_layout(t_path("one.safetensors"), t, 3);
    fill_log bad1 = {t, 0, 0, 0, 2, -1, 0};
    e = st_write_fill(t_path("onebad.safetensors"), meta, 3, fill_from, &bad1);
    CHECK(e == AWQ_ERR_NUMERIC && strstr(awq_errmsg(), "'big'"), "got %d: %s", e, awq_errmsg());
    CHECK(!exists(t_path("onebad.safetensors")), "partial file after a failed fill");
    CHECK(count_prefix(t_tmpdir(), ".tmp-") == 0, "temporary files left");
    free_tensors(t, 3);
}

/* st_write_index: the index of shards written elsewhere, decoded here with jansson. */
static void t_index_of_linked_shards(void)
{
    const char *names[] = {"model.layers.0.a", "model.layers.1.a", "lm_head.weight"};
    const char *files[] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"};
    awq_err e = st_write_index(t_tmpdir(), names, files, 3, 12345);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    size_t len = 0;
    char *text = t_read_file(t_path("model.safetensors.index.json"), &len);
    REQUIRE(text && len > 0, "no index");
    CHECK(text[len - 1] == '\n', "no trailing newline");
    json_error_t err;
    json_t *idx = json_loadb(text, len, 0, &err);
    REQUIRE(idx, "index is not JSON: %s", err.text);
    CHECK(json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size")) == 12345, "total_size");
    json_t *wm = json_object_get(idx, "weight_map");
    CHECK(json_object_size(wm) == 3, "%zu entries", json_object_size(wm));
    for (int i = 0; i < 3; i++)
        CHECK(json_string_value(json_object_get(wm, names[i])) && strcmp(json_string_value(json_object_get(wm, names[i])), files[i]) == 0,
              "'%s' maps to the wrong file", names[i]);
    json_decref(idx);
    free(text);
    CHECK(count_prefix(t_tmpdir(), ".tmp-") == 0, "temporary files left");
}

static void expect_refused(const char *what, st_tensor *t, int n, const char *msg_part)
{
    char p[1600];
    snprintf(p, sizeof p, "%s", t_path("refused.safetensors"));
    awq_err e = st_write(p, t, n);
    CHECK(e == AWQ_ERR_ARG, "%s: got %d (%s)", what, e, awq_errmsg());
    CHECK(strstr(awq_errmsg(), msg_part), "%s: message '%s' lacks '%s'", what, awq_errmsg(), msg_part);
    CHECK(!exists(p), "%s: a file was written", what);
    e = st_write_sharded(t_path("refused_dir"), t, n, 100);
    CHECK(e == AWQ_ERR_ARG, "%s (sharded): got %d", what, e);
}

static void t_refuses_bad_tables(void)
{
    st_tensor t[2];
    make_tensor(&t[0], "w", AWQ_DT_F16, 2, (int64_t[]){4, 4});
    make_tensor(&t[1], "w", AWQ_DT_F16, 1, (int64_t[]){4});
    expect_refused("duplicate", t, 2, "'w' appears twice");
    t[1].name = "v";
    t[1].nbytes = 6;
    expect_refused("nbytes", t, 2, "'v'");
    t[1].nbytes = 8;
    t[1].name = "__metadata__";
    expect_refused("reserved name", t, 2, "__metadata__");
    t[1].name = "v";
    t[1].dtype = AWQ_DT_INVALID;
    expect_refused("dtype", t, 2, "'v'");
    t[1].dtype = AWQ_DT_F16;
    t[1].ndim = ST_MAX_DIMS + 1;
    expect_refused("rank", t, 2, "'v'");
    t[1].ndim = 1;
    const void *keep = t[1].data;
    t[1].data = NULL;
    expect_refused("no data", t, 2, "'v'");
    t[1].data = keep;
    t[1].shape[0] = -4;
    expect_refused("negative dim", t, 2, "'v'");
    t[1].shape[0] = 4;
    t[1].name = "";
    expect_refused("empty name", t, 2, "no name");
    t[1].name = "v";
    /* the table is fine now */
    CHECK(st_write(t_path("fine.safetensors"), t, 2) == AWQ_OK, "%s", awq_errmsg());
    free_tensors(t, 2);
}

static void t_io_errors(void)
{
    st_tensor t;
    make_tensor(&t, "w", AWQ_DT_F16, 1, (int64_t[]){8});
    awq_err e = st_write(t_path("no/such/dir/x.safetensors"), &t, 1);
    CHECK(e == AWQ_ERR_IO || e == AWQ_ERR_NOTFOUND, "missing directory: got %d", e);
    CHECK(strstr(awq_errmsg(), "x.safetensors"), "message names the file: %s", awq_errmsg());
    /* a directory path that is a file */
    REQUIRE(t_write_file(t_path("afile"), "x", 1) == 0, "setup");
    e = st_write_sharded(t_path("afile/sub"), &t, 1, 0);
    CHECK(e != AWQ_OK && strstr(awq_errmsg(), "afile"), "got %d: %s", e, awq_errmsg());
    free_tensors(&t, 1);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"single_file", t_single_file},
        {"sharded", t_sharded},
        {"fill_streams_in_chunks", t_fill_streams_in_chunks},
        {"index_of_linked_shards", t_index_of_linked_shards},
        {"refuses_bad_tables", t_refuses_bad_tables},
        {"io_errors", t_io_errors},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
