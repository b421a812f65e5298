/* test_safetensors.c - the safetensors reader against files whose bytes this test writes by hand
 * (8-byte length + header JSON + data, with fwrite: no writer involved), the rejections of
 * spec §1.3 with their messages, sharded directories, and the real stories260K checkpoints. */
#include "test.h"
#include "../stages/common/config.h"
#include "../stages/common/safetensors.h"
#include "../base/half.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Write `path` = LE64(len(header) + pad) + header + `pad` spaces + data. */
static void write_raw(const char *path, uint64_t n_claimed, const char *header, size_t pad, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) { CHECK(0, "cannot create %s", path); return; }
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(n_claimed >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void write_st(const char *path, const char *header, const void *data, size_t n)
{
    write_raw(path, strlen(header), header, 0, data, n);
}

static uint8_t g_bytes[4096]; /* distinct bytes for tensor data */
static void fill_bytes(void) { for (size_t i = 0; i < sizeof g_bytes; i++) g_bytes[i] = (uint8_t)(i * 37 + 11); }

/* st_open must fail with `code` and a message containing every given substring. */
static void expect_fail_(const char *file, int line, const char *path, awq_err code, const char *const *subs)
{
    st_model *m = (st_model *)1;
    awq_clear_error();
    awq_err e = st_open(&m, path);
    if (e == AWQ_OK || m != NULL) {
        t_failf(file, line, "st_open fails", "'%s' opened (e=%d)", path, e);
        st_close(m);
        return;
    }
    fprintf(stderr, "  expected error: %s\n", awq_errmsg()); /* shown when the case fails */
    if (code && e != code) t_failf(file, line, "error code", "got %s, want %s: %s", awq_strerror(e), awq_strerror(code), awq_errmsg());
    for (; *subs; subs++)
        if (!strstr(awq_errmsg(), *subs)) t_failf(file, line, "message", "'%s' lacks '%s'", awq_errmsg(), *subs);
}
#define EXPECT_FAIL(path, code, ...) expect_fail_(__FILE__, __LINE__, path, code, (const char *const[]){__VA_ARGS__, NULL})

/* ------------------------------------------------------------------------------------------ */

/* Header lists tensors out of data order, uses every dtype a model may hold plus I32/U8, a 0-d
 * tensor, __metadata__, and space padding to a multiple of 8 - like the official writer. */
static const char *k_header =
    "{\"__metadata__\":{\"format\":\"pt\",\"other\":\"x\"},"
    "\"w.bf16\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"w.f16\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
    "\"w.f32\":{\"dtype\":\"F32\",\"shape\":[2,1,1],\"data_offsets\":[16,24]},"
    "\"pad.u8\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[12,16]},"
    "\"ids.i32\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[32,44]},"
    "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[44,48]},"
    "\"empty\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[48,48]}}";

static void check_tensor(const st_model *m, const char *name, awq_dtype dt, int ndim, const int64_t *shape, size_t off,
                         size_t nbytes)
{
    const st_tensor *t = st_find(m, name);
    REQUIRE(t, "tensor %s not found", name);
    CHECK(strcmp(t->name, name) == 0, "%s", t->name);
    CHECK(t->dtype == dt, "%s dtype %s", name, awq_dtype_name(t->dtype));
    CHECK(t->ndim == ndim, "%s ndim %d", name, t->ndim);
    for (int d = 0; d < ndim && d < t->ndim; d++) CHECK(t->shape[d] == shape[d], "%s shape[%d]=%lld", name, d, (long long)t->shape[d]);
    CHECK(t->nbytes == nbytes, "%s nbytes %zu", name, t->nbytes);
    if (nbytes) CHECK(memcmp(t->data, g_bytes + off, nbytes) == 0, "%s bytes differ from what was written", name);
    CHECK((uintptr_t)t->data % awq_dtype_size(dt) == 0, "%s data misaligned", name);
}

static void check_sample(const st_model *m)
{
    REQUIRE(st_count(m) == 7, "count %d", st_count(m));
    check_tensor(m, "w.f16", AWQ_DT_F16, 2, (int64_t[]){2, 3}, 0, 12);
    check_tensor(m, "pad.u8", AWQ_DT_U8, 1, (int64_t[]){4}, 12, 4);
    check_tensor(m, "w.f32", AWQ_DT_F32, 3, (int64_t[]){2, 1, 1}, 16, 8);
    check_tensor(m, "w.bf16", AWQ_DT_BF16, 1, (int64_t[]){4}, 24, 8);
    check_tensor(m, "ids.i32", AWQ_DT_I32, 1, (int64_t[]){3}, 32, 12);
    check_tensor(m, "scalar", AWQ_DT_F32, 0, NULL, 44, 4);
    check_tensor(m, "empty", AWQ_DT_F16, 2, (int64_t[]){0, 5}, 48, 0);
    /* st_at is in data order */
    static const char *order[] = {"w.f16", "pad.u8", "w.f32", "w.bf16", "ids.i32", "scalar", "empty"};
    for (int i = 0; i < 7; i++) CHECK(strcmp(st_at(m, i)->name, order[i]) == 0, "st_at(%d) = %s", i, st_at(m, i)->name);
    CHECK(st_at(m, 7) == NULL && st_at(m, -1) == NULL, "st_at out of range");
    CHECK(st_find(m, "w.f1") == NULL && st_find(m, "w.f16x") == NULL && st_find(m, "") == NULL, "absent names");
}

static void t_read_single_file(void)
{
    fill_bytes();
    size_t hl = strlen(k_header), pad = (8 - hl % 8) % 8;
    const char *path = t_path("one.safetensors");
    write_raw(path, hl + pad, k_header, pad, g_bytes, 48);
    st_model *m;
    awq_err e = st_open(&m, path);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    check_sample(m);
    CHECK(strcmp(st_file_path(m, 0), path) == 0, "file path %s", st_file_path(m, 0));
    const st_tensor *t;
    CHECK(st_get(m, "w.f32", &t) == AWQ_OK && t == st_find(m, "w.f32"), "st_get");
    CHECK(st_get(m, "lm_head.weight", &t) == AWQ_ERR_NOTFOUND && !t, "st_get missing");
    CHECK(strstr(awq_errmsg(), "'lm_head.weight'") && strstr(awq_errmsg(), path), "%s", awq_errmsg());
    /* I32 / U8 are valid safetensors but not model weights */
    CHECK(st_model_check_dtypes(m) == AWQ_ERR_UNSUPPORTED, "check_dtypes");
    CHECK(strstr(awq_errmsg(), "'pad.u8'") && strstr(awq_errmsg(), "U8") && strstr(awq_errmsg(), path), "%s", awq_errmsg());
    st_close(m);
    st_close(NULL);

    /* the same file as model.safetensors in a directory */
    mkdir(t_path("dir"), 0777);
    write_raw(t_path("dir/model.safetensors"), hl + pad, k_header, pad, g_bytes, 48);
    REQUIRE(st_open(&m, t_path("dir")) == AWQ_OK, "%s", awq_errmsg());
    check_sample(m);
    CHECK(strstr(st_file_path(m, 0), "dir/model.safetensors") != NULL, "%s", st_file_path(m, 0));
    st_close(m);
}

/* A header length that is not a multiple of 4 leaves F32 data misaligned in the mapping: the
 * reader must still hand out aligned pointers to the right bytes. */
static void t_misaligned_header(void)
{
    fill_bytes();
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                    "\"b\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[12,14]}}";
    size_t hl = strlen(h), pad = hl % 2 == 0; /* an odd header length */
    write_raw(t_path("odd.safetensors"), hl + pad, h, pad, g_bytes, 14);
    st_model *m;
    REQUIRE(st_open(&m, t_path("odd.safetensors")) == AWQ_OK, "%s", awq_errmsg());
    check_tensor(m, "a", AWQ_DT_F32, 1, (int64_t[]){3}, 0, 12);
    check_tensor(m, "b", AWQ_DT_F16, 1, (int64_t[]){1}, 12, 2);
    CHECK(st_model_check_dtypes(m) == AWQ_OK, "%s", awq_errmsg());
    st_close(m);
}

static void t_many_tensors_lookup(void)
{
    enum { N = 3000 };
    size_t cap = (size_t)N * 80 + 16, at = 0;
    char *h = malloc(cap);
    uint8_t *data = malloc(N);
    REQUIRE(h && data, "oom");
    at += (size_t)snprintf(h + at, cap - at, "{");
    for (int i = 0; i < N; i++) {
        /* names in header order differ from data order */
        int slot = (i * 7919) % N;
        at += (size_t)snprintf(h + at, cap - at, "%s\"model.layers.%d.t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                               i ? "," : "", i, slot, slot + 1);
        data[slot] = (uint8_t)(i & 0xff);
    }
    snprintf(h + at, cap - at, "}");
    write_st(t_path("many.safetensors"), h, data, N);
    st_model *m;
    awq_err e = st_open(&m, t_path("many.safetensors"));
    free(h);
    free(data);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    CHECK(st_count(m) == N, "%d", st_count(m));
    int bad = 0;
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "model.layers.%d.t", i);
        const st_tensor *t = st_find(m, name);
        if (!t || *(const uint8_t *)t->data != (uint8_t)(i & 0xff)) bad++;
    }
    CHECK(bad == 0, "%d lookups wrong", bad);
    CHECK(!st_find(m, "model.layers.3000.t"), "absent");
    st_close(m);
}

static const char *shard1 = "model-00001-of-00002.safetensors", *shard2 = "model-00002-of-00002.safetensors";

static void write_index(const char *dir, const char *weight_map)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"total_size\":40,\"format\":\"whatever\",\"nested\":{\"x\":[1]}},\"weight_map\":%s}", weight_map);
    t_write_file(t_path("%s/model.safetensors.index.json", dir), buf, strlen(buf));
}

static void write_two_shards(const char *dir)
{
    mkdir(t_path("%s", dir), 0777);
    write_st(t_path("%s/%s", dir, shard1),
             "{\"__metadata__\":{\"format\":\"pt\"},\"model.embed_tokens.weight\":{\"dtype\":\"F16\",\"shape\":[4,2],\"data_offsets\":[0,16]},"
             "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
             g_bytes, 24);
    write_st(t_path("%s/%s", dir, shard2),
             "{\"lm_head.weight\":{\"dtype\":\"BF16\",\"shape\":[4,2],\"data_offsets\":[0,16]}}", g_bytes + 100, 16);
}

static void t_sharded(void)
{
    fill_bytes();
    write_two_shards("sh");
    write_index("sh", "{\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
                      "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
                      "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}");
    st_model *m;
    REQUIRE(st_open(&m, t_path("sh")) == AWQ_OK, "%s", awq_errmsg());
    CHECK(st_count(m) == 3, "%d", st_count(m));
    check_tensor(m, "model.embed_tokens.weight", AWQ_DT_F16, 2, (int64_t[]){4, 2}, 0, 16);
    check_tensor(m, "model.norm.weight", AWQ_DT_F32, 1, (int64_t[]){2}, 16, 8);
    check_tensor(m, "lm_head.weight", AWQ_DT_BF16, 2, (int64_t[]){4, 2}, 100, 16);
    const st_tensor *t = st_find(m, "lm_head.weight");
    REQUIRE(t, "lm_head");
    CHECK(strstr(st_file_path(m, t->file), shard2) != NULL, "lm_head in %s", st_file_path(m, t->file));
    CHECK(strstr(st_file_path(m, st_find(m, "model.norm.weight")->file), shard1) != NULL, "norm shard");
    CHECK(strcmp(st_at(m, 0)->name, "model.embed_tokens.weight") == 0 && strcmp(st_at(m, 2)->name, "lm_head.weight") == 0,
          "shard order");
    CHECK(st_model_check_dtypes(m) == AWQ_OK, "%s", awq_errmsg());
    st_close(m);
}

static void t_sharded_rejects(void)
{
    fill_bytes();
    /* a tensor in two shards */
    mkdir(t_path("dup"), 0777);
    write_st(t_path("dup/%s", shard1), "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", g_bytes, 1);
    write_st(t_path("dup/%s", shard2),
             "{\"y\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
             g_bytes, 2);
    write_index("dup", "{\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00002-of-00002.safetensors\"}");
    EXPECT_FAIL(t_path("dup"), AWQ_ERR_FORMAT, "'x'", "is in both", shard1, shard2);

    /* index naming a shard that is not there */
    write_two_shards("noshard");
    write_index("noshard", "{\"lm_head.weight\":\"model-00003-of-00003.safetensors\","
                           "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}");
    EXPECT_FAIL(t_path("noshard"), AWQ_ERR_NOTFOUND, "model-00003-of-00003.safetensors", "model.safetensors.index.json",
                "No such file");

    /* index naming a tensor its shard does not hold */
    write_two_shards("notensor");
    write_index("notensor", "{\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
                            "\"model.layers.0.mlp.up_proj.weight\":\"model-00001-of-00002.safetensors\"}");
    EXPECT_FAIL(t_path("notensor"), AWQ_ERR_FORMAT, "'model.layers.0.mlp.up_proj.weight'", shard1, "does not contain");

    /* index naming the wrong shard for a tensor */
    write_two_shards("wrong");
    write_index("wrong", "{\"lm_head.weight\":\"model-00001-of-00002.safetensors\","
                         "\"model.norm.weight\":\"model-00002-of-00002.safetensors\"}");
    EXPECT_FAIL(t_path("wrong"), AWQ_ERR_FORMAT, "'lm_head.weight'", "but it is in", shard2);

    /* malformed indexes */
    write_two_shards("badidx");
    write_index("badidx", "[\"x\"]");
    EXPECT_FAIL(t_path("badidx"), AWQ_ERR_FORMAT, "model.safetensors.index.json", "weight_map");
    write_index("badidx", "{}");
    EXPECT_FAIL(t_path("badidx"), AWQ_ERR_FORMAT, "lists no tensors");
    write_index("badidx", "{\"lm_head.weight\":\"../model-00002-of-00002.safetensors\"}");
    EXPECT_FAIL(t_path("badidx"), AWQ_ERR_FORMAT, "'lm_head.weight'", "file name in the model directory");
    write_index("badidx", "{\"lm_head.weight\":7}");
    EXPECT_FAIL(t_path("badidx"), AWQ_ERR_FORMAT, "'lm_head.weight'");
    t_write_file(t_path("badidx/model.safetensors.index.json"), "{\"weight_map\":", 14);
    EXPECT_FAIL(t_path("badidx"), AWQ_ERR_FORMAT, "model.safetensors.index.json", "not valid JSON");
    /* a bad shard is named in the message */
    write_two_shards("badshard");
    write_index("badshard", "{\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}");
    write_st(t_path("badshard/%s", shard2), "{\"lm_head.weight\":{\"dtype\":\"BF16\",\"shape\":[4,2],\"data_offsets\":[0,16]}}",
             g_bytes, 15);
    EXPECT_FAIL(t_path("badshard"), AWQ_ERR_FORMAT, shard2, "'lm_head.weight'", "out of range");

    /* directories without a checkpoint, paths that do not exist */
    mkdir(t_path("empty"), 0777);
    EXPECT_FAIL(t_path("empty"), AWQ_ERR_NOTFOUND, "empty", "model.safetensors");
    CHECK(strstr(awq_errhint(), "safetensors") != NULL, "hint '%s'", awq_errhint());
    EXPECT_FAIL(t_path("nope.safetensors"), AWQ_ERR_NOTFOUND, "cannot open", "nope.safetensors");
}

/* One malformed single file per case: the error must name the file and, where there is one, the
 * tensor, and nothing may crash (run under ASan by the fuzz target too). */
static void t_rejects(void)
{
    fill_bytes();
    const char *p = t_path("bad.safetensors");

    t_write_file(p, "\x10\x00\x00", 3);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "too short");

    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    write_raw(p, 200, h, 0, g_bytes, 8); /* claims 200 header bytes, file has fewer */
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "header length 200 runs past the end");

    write_raw(p, (uint64_t)200 << 20, h, 0, g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "100 MiB");
    write_raw(p, UINT64_MAX, h, 0, g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "100 MiB");

    /* whole file present but cut inside the data */
    write_st(p, h, g_bytes, 6);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "out of range");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", g_bytes, 12);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "tensor 'b' data_offsets [4, 12] overlap tensor 'a' [0, 8]");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "overlap");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", g_bytes, 12);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "hole", "[4, 8)", "'b'");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "hole", "'a'");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "4 bytes belong to no tensor");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,16]}}", g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "out of range");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "out of range");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "out of range");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", g_bytes, 8);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "hold 8 bytes but F32 shape needs 12");
    write_st(p, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "needs 8");

    write_st(p, "{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,2]}}", g_bytes, 2);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "unknown dtype 'F17'");
    write_st(p, "{\"w.scale\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", g_bytes, 2);
    EXPECT_FAIL(p, AWQ_ERR_UNSUPPORTED, p, "'w.scale'", "unsupported dtype 'F8_E4M3'");
    write_st(p, "{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,2]}}", g_bytes, 2);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "dtype");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "not valid JSON");
    write_st(p, "not json at all", g_bytes, 0);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "not valid JSON");
    write_st(p, "", g_bytes, 0);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "not valid JSON");
    write_st(p, "[1,2,3]", g_bytes, 0);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "is an array, expected a JSON object");
    write_st(p, "\"str\"", g_bytes, 0);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "expected a JSON object");
    write_st(p, "{\"a\":[1]}", g_bytes, 0);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "expected an object");

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "no 'data_offsets'");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "no 'shape'");
    write_st(p, "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "no 'dtype'");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "data_offsets must be");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "data_offsets must be");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "shape[0]");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "shape");
    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", g_bytes, 1);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "9 dimensions");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "overflows");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", g_bytes, 4);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "'a'", "overflows");

    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", g_bytes, 2);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "tensor name twice", "\"a\"");
    write_st(p, "{\"__metadata__\":{\"format\":1}}", g_bytes, 0);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "__metadata__");
    write_st(p, "{\"__metadata__\":[]}", g_bytes, 0);
    EXPECT_FAIL(p, AWQ_ERR_FORMAT, p, "__metadata__");

    /* an empty checkpoint is a valid file */
    write_st(p, "{\"__metadata__\":{}}", g_bytes, 0);
    st_model *m;
    CHECK(st_open(&m, p) == AWQ_OK && st_count(m) == 0, "%s", awq_errmsg());
    st_close(m);
}

static void t_parse_header_direct(void)
{
    /* the in-memory entry point the fuzzer uses: offsets come back relative to the buffer */
    const char *h = "{\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}  ";
    size_t hl = strlen(h);
    uint8_t buf[512] = {0};
    buf[0] = (uint8_t)hl;
    memcpy(buf + 8, h, hl);
    st_tensor *t;
    int n;
    uint64_t start;
    awq_err e = st_parse_header(buf, 8 + hl, 8 + hl + 12, "mem", &t, &n, &start);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    CHECK(n == 2 && start == 8 + hl, "n %d start %llu", n, (unsigned long long)start);
    CHECK(strcmp(t[0].name, "a") == 0 && (uintptr_t)t[0].data == 0, "first by offset");
    CHECK(strcmp(t[1].name, "b") == 0 && (uintptr_t)t[1].data == 4 && t[1].nbytes == 8 && t[1].dtype == AWQ_DT_I32, "second");
    st_free_tensors(t, n);
    /* file one byte longer: an uncovered byte */
    e = st_parse_header(buf, 8 + hl, 8 + hl + 13, "mem", &t, &n, &start);
    CHECK(e == AWQ_ERR_FORMAT && t == NULL && n == 0 && strstr(awq_errmsg(), "'mem'"), "%s", awq_errmsg());
    /* given fewer bytes than the header claims */
    e = st_parse_header(buf, 8 + hl - 1, 8 + hl + 12, "mem", &t, &n, &start);
    CHECK(e == AWQ_ERR_FORMAT && t == NULL, "short buffer");
    st_free_tensors(NULL, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* The real checkpoints under ../shared/assets/models/ (the *-hf* directories) */

static void expect_shape(const st_model *m, const char *name, awq_dtype dt, int64_t d0, int64_t d1, int *seen)
{
    const st_tensor *t = st_find(m, name);
    if (!t) { CHECK(0, "missing %s", name); return; }
    (*seen)++;
    CHECK(t->dtype == dt, "%s dtype %s want %s", name, awq_dtype_name(t->dtype), awq_dtype_name(dt));
    int nd = d1 ? 2 : 1;
    CHECK(t->ndim == nd && t->shape[0] == d0 && (nd == 1 || t->shape[1] == d1), "%s shape [%lld,%lld] want [%lld,%lld]", name,
          (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0), (long long)d0, (long long)d1);
}

static void check_asset_model(const char *dir)
{
    awq_config c;
    REQUIRE(awq_config_load(&c, dir) == AWQ_OK, "%s", awq_errmsg());
    /* facts from SOURCE.md / config.json of stories260K-hf */
    CHECK(c.arch == AWQ_ARCH_LLAMA && strcmp(c.architecture, "LlamaForCausalLM") == 0, "%s arch", dir);
    CHECK(c.hidden_size == 64 && c.num_hidden_layers == 5 && c.num_attention_heads == 8 && c.num_key_value_heads == 4 &&
          c.head_dim == 8 && c.vocab_size == 512 && c.max_position_embeddings == 512, "%s dims", dir);
    CHECK(c.intermediate_size == (strstr(dir, "ffn256") ? 256 : 172), "%s F=%d", dir, c.intermediate_size);
    CHECK(c.tie_word_embeddings == 1 && c.qkv_bias == 0 && c.o_bias == 0 && c.mlp_bias == 0 && c.qk_norm == 0, "%s flags", dir);
    CHECK(c.rms_norm_eps == 1e-5 && c.rope_theta == 10000.0 && c.rope_type == AWQ_ROPE_DEFAULT, "%s eps/rope", dir);
    CHECK(c.bos_token_id == 1 && c.eos_token_id == 2 && c.sliding_window == 0, "%s tokens", dir);
    awq_dtype want = strstr(dir, "bf16") ? AWQ_DT_BF16 : strstr(dir, "f16") ? AWQ_DT_F16 : AWQ_DT_F32;
    CHECK(c.torch_dtype == want, "%s torch_dtype %s", dir, awq_dtype_name(c.torch_dtype));

    st_model *m;
    REQUIRE(st_open(&m, dir) == AWQ_OK, "%s", awq_errmsg());
    CHECK(st_model_check_dtypes(m) == AWQ_OK, "%s", awq_errmsg());
    int C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, D = c.head_dim;
    int H = c.num_attention_heads, K = c.num_key_value_heads, seen = 0;
    expect_shape(m, "model.embed_tokens.weight", want, V, C, &seen);
    expect_shape(m, "model.norm.weight", want, C, 0, &seen);
    CHECK(st_find(m, "lm_head.weight") == NULL, "tied model has no lm_head");
    char n[128];
    for (int i = 0; i < c.num_hidden_layers; i++) {
#define L(suffix, d0, d1) (snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix), expect_shape(m, n, want, d0, d1, &seen))
        L("input_layernorm.weight", C, 0);
        L("post_attention_layernorm.weight", C, 0);
        L("self_attn.q_proj.weight", H * D, C);
        L("self_attn.k_proj.weight", K * D, C);
        L("self_attn.v_proj.weight", K * D, C);
        L("self_attn.o_proj.weight", C, H * D);
        L("mlp.gate_proj.weight", F, C);
        L("mlp.up_proj.weight", F, C);
        L("mlp.down_proj.weight", C, F);
#undef L
    }
    CHECK(seen == 47 && st_count(m) == 47, "%s: %d tensors, %d expected ones", dir, st_count(m), seen);
    st_close(m);
}

static float elem(const st_tensor *t, size_t i)
{
    switch (t->dtype) {
    case AWQ_DT_F32: return ((const float *)t->data)[i];
    case AWQ_DT_F16: return awq_f16_to_f32(((const uint16_t *)t->data)[i]);
    case AWQ_DT_BF16: return awq_bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return 0;
    }
}

static void t_assets_models(void)
{
    const char *assets = t_assets();
    if (!assets) { t_skip("../shared/assets not present"); return; }
    char models[1024];
    snprintf(models, sizeof models, "%s/models", assets);
    DIR *d = opendir(models);
    REQUIRE(d, "cannot list %s", models);
    struct dirent *de;
    int count = 0;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, "-hf")) continue;
        char dir[1400];
        snprintf(dir, sizeof dir, "%s/%s", models, de->d_name);
        check_asset_model(dir);
        count++;
    }
    closedir(d);
    CHECK(count >= 5, "found %d *-hf* models", count);
}

/* The f16/bf16/ffn256 variants were cast/padded from the F32 checkpoint (SOURCE.md): check that
 * every element read through the reader agrees, which tests data pointers, not just headers. */
static void t_assets_variants_agree(void)
{
    const char *assets = t_assets();
    if (!assets) { t_skip("../shared/assets not present"); return; }
    st_model *base, *var;
    char p[1024];
    snprintf(p, sizeof p, "%s/models/stories260K-hf/model.safetensors", assets);
    REQUIRE(st_open(&base, p) == AWQ_OK, "%s", awq_errmsg());
    static const char *variants[] = {"stories260K-hf-f16", "stories260K-hf-bf16", "stories260K-ffn256-hf"};
    for (int v = 0; v < 3; v++) {
        snprintf(p, sizeof p, "%s/models/%s", assets, variants[v]);
        if (st_open(&var, p) != AWQ_OK) { CHECK(0, "%s", awq_errmsg()); continue; }
        long bad = 0;
        for (int i = 0; i < st_count(base); i++) {
            const st_tensor *a = st_at(base, i), *b = st_find(var, a->name);
            if (!b) { CHECK(0, "%s lacks %s", variants[v], a->name); continue; }
            /* ffn256 pads F 172->256: gate/up get zero rows, down zero columns */
            int64_t rows = a->ndim ? a->shape[0] : 1, cols = a->ndim > 1 ? a->shape[1] : 1;
            int64_t bcols = b->ndim > 1 ? b->shape[1] : 1;
            for (int64_t r = 0; r < (b->ndim ? b->shape[0] : 1); r++)
                for (int64_t c = 0; c < bcols; c++) {
                    float got = elem(b, (size_t)(r * bcols + c));
                    float want = (r < rows && c < cols) ? ((const float *)a->data)[r * cols + c] : 0.0f;
                    if (b->dtype == AWQ_DT_F16) want = awq_f16_to_f32(awq_f32_to_f16(want));
                    if (b->dtype == AWQ_DT_BF16) want = awq_bf16_to_f32(awq_f32_to_bf16(want));
                    if (got != want && bad++ < 3) CHECK(0, "%s %s[%lld,%lld] %g want %g", variants[v], a->name, (long long)r, (long long)c, got, want);
                }
        }
        CHECK(bad == 0, "%s: %ld elements differ", variants[v], bad);
        st_close(var);
    }
    st_close(base);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"read_single_file", t_read_single_file},
        {"misaligned_header", t_misaligned_header},
        {"many_tensors_lookup", t_many_tensors_lookup},
        {"sharded", t_sharded},
        {"sharded_rejects", t_sharded_rejects},
        {"rejects", t_rejects},
        {"parse_header_direct", t_parse_header_direct},
        {"assets_models", t_assets_models},
        {"assets_variants_agree", t_assets_variants_agree},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
