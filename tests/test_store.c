/* test_store.c - the object store (cache/key.h, cache/store.h): keys against xxh128sum, recipes,
 * round trips of every dtype (scalar, empty, multi-chunk, multi-threaded), every kind of damage
 * detected (by the cheap check, the full verify and get; a flip of any byte of an object) and
 * never returned as data, objects of format version 1 (a committed file), crash safety (SIGKILL during put), concurrent puts,
 * rebuild of damaged objects, gc, and disk full (tmpfs, RLIMIT_FSIZE).
 * Children that put objects are this program re-executed with --child-put (a fresh process:
 * OpenMP does not survive fork()). */
#include "test.h"
#include "../cache/atomic.h"
#include "../cache/store.h"
#include "../base/half.h"
#include "../stages/common/stage.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---------------------------------------------------------------- helpers */

static awq_store *open_store(const char *dir, int threads)
{
    awq_store *s = NULL;
    if (awq_store_open(&s, dir, threads) != AWQ_OK) t_failf(__FILE__, __LINE__, "open store", "%s", awq_errmsg());
    return s;
}

static size_t count_glob(const char *pattern)
{
    glob_t g;
    size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

static size_t count_in(const char *store, const char *pattern)
{
    char pat[2048];
    snprintf(pat, sizeof pat, "%s/objects/%s", store, pattern);
    return count_glob(pat);
}
static size_t n_temps(const char *store) { return count_in(store, "*/.tmp-*"); }
static size_t n_objects(const char *store) { return count_in(store, "[0-9a-f][0-9a-f]/[0-9a-f]*"); }

static awq_key test_key(const char *text) { return awq_key_of_bytes(text, strlen(text)); }

/* Float data that looks like weights (normal, std 0.02) in the tensor's dtype; random bytes
 * for everything else. */
static double gauss(void)
{
    double u = ((double)(t_rand() >> 11) + 0.5) / 9007199254740992.0, v = (double)(t_rand() >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static void fill(awq_tensor *t)
{
    size_t es = awq_dtype_size(t->dtype), n = t->nbytes / (es ? es : 1);
    uint8_t *p = t->data;
    for (size_t i = 0; i < n; i++) {
        double x = 0.02 * gauss();
        switch (t->dtype) {
        case AWQ_DT_F16: { uint16_t h = awq_f32_to_f16((float)x); memcpy(p + 2 * i, &h, 2); break; }
        case AWQ_DT_BF16: { uint16_t h = awq_f32_to_bf16((float)x); memcpy(p + 2 * i, &h, 2); break; }
        case AWQ_DT_F32: { float f = (float)x; memcpy(p + 4 * i, &f, 4); break; }
        case AWQ_DT_F64: memcpy(p + 8 * i, &x, 8); break;
        default: { uint64_t r = t_rand(); memcpy(p + i * es, &r, es); break; }
        }
    }
    if (t->dtype == AWQ_DT_BOOL) for (size_t i = 0; i < n; i++) p[i] &= 1;
}

/* A tensor with its own data (free with free_tensor). */
static awq_tensor make_tensor(const char *name, awq_dtype dt, int ndim, const int64_t *shape)
{
    awq_tensor t = {.name = strdup(name), .dtype = dt, .ndim = ndim};
    size_t n = awq_dtype_size(dt);
    for (int d = 0; d < ndim; d++) { t.shape[d] = shape[d]; n *= (size_t)shape[d]; }
    t.nbytes = n;
    t.data = malloc(n ? n : 1);
    fill(&t);
    return t;
}

static void free_tensor(awq_tensor *t) { free(t->name); free(t->data); }

static int same_tensor(const awq_tensor *a, const awq_tensor *b)
{
    if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes) return 0;
    for (int d = 0; d < a->ndim; d++) if (a->shape[d] != b->shape[d]) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

/* The usual two-tensor object of the damage tests: "x" F16 of 2.5 chunks, "ids" I32. */
static void put_sample(awq_store *s, const awq_key *k, awq_tensor t[2])
{
    int64_t sx[2] = {5 * (int64_t)(AWQ_CHUNK / 2) / 1024 / 2, 1024}, si[1] = {1000};
    t[0] = make_tensor("x", AWQ_DT_F16, 2, sx);
    t[1] = make_tensor("ids", AWQ_DT_I32, 1, si);
    awq_err e = awq_store_put(s, k, "act", "stage=test\n", t, 2);
    if (e != AWQ_OK) t_failf(__FILE__, __LINE__, "put", "%s", awq_errmsg());
}

/* The cheap check, verify and the stage's "is it cached?" must fail with `code` (the check's
 * message naming the path and `what`); then get must fail the same way with no data, a message naming
 * the path and containing `what`, the rebuild hint, and move the damaged file aside (a temp
 * file gc removes) so that it is missing and the next run rebuilds it. */
static void expect_damaged_(const char *file, int line, awq_store *s, const awq_key *k, awq_err code, const char *what)
{
    awq_object *o = (awq_object *)1;
    char *path = awq_store_path(s, k);
    if (awq_store_check(s, k) != code) t_failf(file, line, "check agrees", "check: %s", awq_errmsg());
    if (!strstr(awq_errmsg(), path) || !strstr(awq_errmsg(), what))
        t_failf(file, line, "check's message", "'%s' should name '%s' and say '%s'", awq_errmsg(), path, what);
    awq_clear_error();
    if (awq_store_verify(s, k) != code) t_failf(file, line, "verify agrees", "verify: %s", awq_errmsg());
    awq_clear_error();
    if (awq_stage_cached(s, k)) t_failf(file, line, "not cached", "awq_stage_cached counted a damaged object as present");
    awq_clear_error();
    awq_err e = awq_store_get(s, k, &o);
    fprintf(stderr, "  (%s: %s / hint: %s)\n", what, awq_errmsg(), awq_errhint());
    if (e == AWQ_OK) t_failf(file, line, "damage detected", "get accepted an object with: %s", what);
    if (e != code) t_failf(file, line, "error code", "got '%s' want '%s': %s", awq_strerror(e), awq_strerror(code), awq_errmsg());
    if (o != NULL) t_failf(file, line, "no data", "get returned an object on error");
    if (!strstr(awq_errmsg(), path) || !strstr(awq_errmsg(), "is damaged") || !strstr(awq_errmsg(), what))
        t_failf(file, line, "message", "'%s' should name '%s', say 'is damaged' and '%s'", awq_errmsg(), path, what);
    if (!strstr(awq_errhint(), "rebuilt"))
        t_failf(file, line, "hint", "'%s'", awq_errhint());
    if (awq_store_has(s, k)) t_failf(file, line, "moved aside", "the damaged object is still under its name");
    free(path);
}
#define EXPECT_DAMAGED(s, k, code, what) expect_damaged_(__FILE__, __LINE__, s, k, code, what)

/* Run this program as a child (see child_put); returns the pid. in/out: pipe ends for the
 * child's stdin/stdout (or -1). */
static pid_t spawn_child(const char *store, size_t nbytes, const char *data_kind, int in_fd, int out_fd, int err_fd,
                         const struct rlimit *fsize)
{
    char n[32];
    snprintf(n, sizeof n, "%zu", nbytes);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (in_fd >= 0) dup2(in_fd, 0);
        if (out_fd >= 0) dup2(out_fd, 1);
        if (err_fd >= 0) dup2(err_fd, 2);
        if (fsize) {
            signal(SIGXFSZ, SIG_IGN); /* so write() fails with EFBIG instead of killing */
            setrlimit(RLIMIT_FSIZE, fsize);
        }
        execl("/proc/self/exe", "test_store", "--child-put", store, n, data_kind, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Child: put one object of `nbytes` under key test_key(data_kind). "f16": weight-like halves
 * (so shuffle and several chunks are used), "rand": incompressible bytes. Says "R" on stdout
 * just before the put, and (if stdin is a pipe) waits for a byte first. */
static int child_put(int argc, char **argv)
{
    if (argc < 5) return 2;
    size_t nbytes = strtoull(argv[3], NULL, 10);
    int f16 = strcmp(argv[4], "f16") == 0;
    awq_tensor t = {.name = "data", .dtype = f16 ? AWQ_DT_F16 : AWQ_DT_U8, .ndim = 1,
                    .shape = {(int64_t)(f16 ? nbytes / 2 : nbytes)}, .nbytes = nbytes};
    uint8_t *d = malloc(nbytes);
    uint64_t x = 0x1234;
    for (size_t i = 0; i + 8 <= nbytes; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t v = x;
        if (f16) v &= 0x83ff83ff83ff83ffull, v |= 0x2000200020002000ull; /* sign, small exponent, mantissa */
        memcpy(d + i, &v, 8);
    }
    t.data = d;
    struct stat st;
    if (fstat(0, &st) == 0 && S_ISFIFO(st.st_mode)) { char c; if (read(0, &c, 1) != 1) return 3; }
    awq_store *s;
    if (awq_store_open(&s, argv[2], 2) != AWQ_OK) { awq_report("child"); return 1; }
    awq_key k = test_key(argv[4]);
    if (write(1, "R", 1) != 1) return 3;
    awq_err e = awq_store_put(s, &k, "act", NULL, &t, 1);
    if (e != AWQ_OK) awq_report("child");
    awq_store_close(s);
    free(d);
    return e == AWQ_OK ? 0 : e == AWQ_ERR_NOSPACE ? 8 : 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void set_age(const char *path, double seconds_ago)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= (time_t)seconds_ago;
    ts[1] = ts[0];
    utimensat(AT_FDCWD, path, ts, 0);
}

/* ---------------------------------------------------------------- keys */

static void t_key_vectors(void)
{
    /* Expected values from Debian's xxh128sum 0.8.1 (independent of this code), regenerate with
     *   printf abc | xxh128sum ;  printf '' | xxh128sum */
    char hex[AWQ_KEY_HEX + 1];
    awq_key k = awq_key_of_bytes("abc", 3);
    awq_key_hex(&k, hex);
    CHECK(strcmp(hex, "06b05ab6733a618578af5f94892f3950") == 0, "XXH3-128(\"abc\") = %s (regenerate: printf abc | xxh128sum)", hex);
    k = awq_key_of_bytes("", 0);
    awq_key_hex(&k, hex);
    CHECK(strcmp(hex, "99aa06d3014798d86001c324468d497f") == 0, "XXH3-128(\"\") = %s (regenerate: printf '' | xxh128sum)", hex);

    /* A 3 MB file, hashed by awq_key_of_file (streamed), one shot, in odd pieces, and by xxh128sum. */
    size_t n = 3000001;
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)t_rand();
    const char *file = t_path("blob");
    REQUIRE(t_write_file(file, buf, n) == 0, "write %s", file);
    awq_key kf, k1 = awq_key_of_bytes(buf, n);
    REQUIRE(awq_key_of_file(&kf, file) == AWQ_OK, "%s", awq_errmsg());
    awq_hasher *h = awq_hasher_new();
    for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 + 1)
        awq_hasher_update(h, buf + off, off + step > n ? n - off : step);
    awq_key ks = awq_hasher_final(h);
    awq_hasher_free(h);
    CHECK(awq_key_equal(&kf, &k1) && awq_key_equal(&ks, &k1), "file, one-shot and streamed hashes agree");
    awq_key_hex(&kf, hex);
    char out[256];
    if (t_run(out, sizeof out, "command -v xxh128sum >/dev/null") != 0) {
        fprintf(stderr, "  xxh128sum not installed (apt-get install xxhash): long-input vector not cross-checked\n");
    } else {
        CHECK(t_run(out, sizeof out, "xxh128sum '%s' 2>/dev/null", file) == 0 && strncmp(out, hex, AWQ_KEY_HEX) == 0,
              "xxh128sum says %.32s, awq_key_of_file %s", out, hex);
    }
    awq_key kk;
    CHECK(awq_key_of_file(&kk, t_path("missing")) == AWQ_ERR_NOTFOUND && strstr(awq_errmsg(), "missing"), "%s", awq_errmsg());
    free(buf);
}

static void t_key_hex_parse(void)
{
    awq_key k = test_key("x"), back;
    char hex[AWQ_KEY_HEX + 1], upper[AWQ_KEY_HEX + 1];
    awq_key_hex(&k, hex);
    CHECK(strlen(hex) == 32 && strspn(hex, "0123456789abcdef") == 32, "lower-case hex: %s", hex);
    CHECK(awq_key_parse(&back, hex) == AWQ_OK && awq_key_equal(&k, &back), "round trip");
    for (int i = 0; i < 33; i++) upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
    CHECK(awq_key_parse(&back, upper) == AWQ_OK && awq_key_equal(&k, &back), "upper case accepted");
    const char *bad[] = {"", "abc", "06b05ab6733a618578af5f94892f395", "06b05ab6733a618578af5f94892f39500",
                         "06b05ab6733a618578af5f94892f395g", "06b05ab6733a618578af5f94892f395 "};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(awq_key_parse(&back, bad[i]) == AWQ_ERR_ARG && strstr(awq_errmsg(), "not an object key"), "'%s' rejected: %s",
              bad[i], awq_errmsg());
}

static void t_recipe(void)
{
    awq_recipe *a = awq_recipe_new("clip-search", 2), *b = awq_recipe_new("clip-search", 2);
    awq_key in = test_key("input");
    REQUIRE(a && b, "new");
    CHECK(awq_recipe_add(a, "w_bit", "4") == AWQ_OK && awq_recipe_addf(a, "max_shrink", "%.9g", 0.5) == AWQ_OK &&
          awq_recipe_add_key(a, "scaled", &in) == AWQ_OK, "adds: %s", awq_errmsg());
    CHECK(awq_recipe_add_key(b, "scaled", &in) == AWQ_OK && awq_recipe_addf(b, "max_shrink", "%.9g", 0.5) == AWQ_OK &&
          awq_recipe_add(b, "w_bit", "4") == AWQ_OK, "adds");
    char want[256], hex[AWQ_KEY_HEX + 1];
    awq_key_hex(&in, hex);
    snprintf(want, sizeof want, "algo_version=2\ninput.scaled=%s\nmax_shrink=0.5\nstage=clip-search\nw_bit=4\n", hex);
    CHECK(strcmp(awq_recipe_text(a), want) == 0, "canonical text:\n%s", awq_recipe_text(a));
    awq_key ka = awq_recipe_key(a), kb = awq_recipe_key(b), kt = awq_key_of_bytes(want, strlen(want));
    CHECK(awq_key_equal(&ka, &kb), "order of the adds does not matter");
    CHECK(awq_key_equal(&ka, &kt), "the key is the hash of the text");

    /* Any change of any parameter (value, stage, version, input, one more) changes the key. */
    const char *variants[][2] = {{"w_bit", "3"}, {"max_shrink", "0.25"}, {"stage", "pack"}, {"algo_version", "3"},
                                 {"input.scaled", NULL}, {"extra", "1"}};
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        awq_recipe *r = awq_recipe_new(strcmp(variants[v][0], "stage") ? "clip-search" : variants[v][1],
                                       strcmp(variants[v][0], "algo_version") ? 2 : 3);
        awq_key other = test_key("other input");
        awq_recipe_add(r, "w_bit", strcmp(variants[v][0], "w_bit") ? "4" : variants[v][1]);
        awq_recipe_add(r, "max_shrink", strcmp(variants[v][0], "max_shrink") ? "0.5" : variants[v][1]);
        awq_recipe_add_key(r, "scaled", strcmp(variants[v][0], "input.scaled") ? &in : &other);
        if (strcmp(variants[v][0], "extra") == 0) awq_recipe_add(r, "extra", "1");
        awq_key kv = awq_recipe_key(r);
        CHECK(!awq_key_equal(&kv, &ka), "changing %s changes the key", variants[v][0]);
        awq_recipe_free(r);
    }
    CHECK(awq_recipe_add(a, "w_bit", "4") == AWQ_ERR_ARG && strstr(awq_errmsg(), "'w_bit'"), "duplicate: %s", awq_errmsg());
    CHECK(awq_recipe_add(a, "a=b", "1") == AWQ_ERR_ARG, "'=' in name");
    CHECK(awq_recipe_add(a, "", "1") == AWQ_ERR_ARG, "empty name");
    CHECK(awq_recipe_add(a, "x", "1\n2") == AWQ_ERR_ARG, "newline in value");
    CHECK(strcmp(awq_recipe_text(a), want) == 0, "failed adds leave the recipe unchanged");
    awq_recipe_free(a);
    awq_recipe_free(b);
    awq_recipe_free(NULL);
}

/* ---------------------------------------------------------------- round trips */

static void t_roundtrip_every_dtype(void)
{
    awq_store *s = open_store(t_path("store"), 4);
    REQUIRE(s, "store");
    for (int dt = 1; dt < AWQ_DT__COUNT; dt++) {
        size_t es = awq_dtype_size((awq_dtype)dt);
        int64_t big[2] = {(int64_t)(AWQ_CHUNK / es / 64) * 2 + 3, 64}; /* 2 full chunks and a bit */
        int64_t small[3] = {3, 1, 7}, empty[2] = {0, 5};
        awq_tensor t[4] = {make_tensor("scalar", (awq_dtype)dt, 0, NULL), make_tensor("empty", (awq_dtype)dt, 2, empty),
                           make_tensor("small", (awq_dtype)dt, 3, small), make_tensor("model.layers.0.big", (awq_dtype)dt, 2, big)};
        char recipe[64];
        snprintf(recipe, sizeof recipe, "stage=test\ndtype=%s\n", awq_dtype_name((awq_dtype)dt));
        awq_key k = test_key(recipe);
        awq_err e = awq_store_put(s, &k, "scaled", recipe, t, 4);
        CHECK(e == AWQ_OK, "put %s: %s", awq_dtype_name((awq_dtype)dt), awq_errmsg());
        awq_object *o = NULL;
        e = awq_store_get(s, &k, &o);
        CHECK(e == AWQ_OK && o, "get %s: %s", awq_dtype_name((awq_dtype)dt), awq_errmsg());
        if (!o) continue;
        CHECK(strcmp(o->kind, "scaled") == 0 && strcmp(o->recipe, recipe) == 0 && awq_key_equal(&o->key, &k), "kind/recipe/key");
        CHECK(o->n_tensors == 4, "n_tensors %d", o->n_tensors);
        for (int i = 0; i < 4 && i < o->n_tensors; i++) {
            CHECK(same_tensor(&t[i], &o->tensors[i]), "%s tensor '%s' round trip", awq_dtype_name((awq_dtype)dt), t[i].name);
            CHECK(o->tensors[i].data && ((uintptr_t)o->tensors[i].data & 63) == 0, "data 64-byte aligned, never NULL");
        }
        CHECK(o->n_tensors == 4 && o->layout[3].n_chunks == 3 && o->layout[1].n_chunks == 0, "chunks: big 3, empty 0");
        CHECK(awq_object_tensor(o, "small") == &o->tensors[2] && !awq_object_tensor(o, "nope"), "lookup by name");
        /* N(0, 0.02) floats: the lower planes are noise, so the big tensor's chunks are split;
         * random integers are raw (zstd saves nothing); no integer chunk is ever shuffled */
        const int is_float = awq_dtype_is_float((awq_dtype)dt) && es >= 2;
        for (size_t c = 0; c < o->n_chunks; c++) {
            int shuffled = o->chunks[c].codec == AWQ_CODEC_SHUFFLE || o->chunks[c].codec == AWQ_CODEC_SPLIT;
            CHECK(is_float || !shuffled, "%s chunk %zu has codec %s", awq_dtype_name((awq_dtype)dt), c,
                  awq_codec_name((awq_codec)o->chunks[c].codec));
        }
        if (o->n_tensors == 4) {
            int want = is_float ? AWQ_CODEC_SPLIT : dt == AWQ_DT_BOOL ? AWQ_CODEC_ZSTD : AWQ_CODEC_RAW;
            const awq_chunk *bc = &o->chunks[o->layout[3].first_chunk];
            CHECK(bc->codec == want, "%s: big chunk 0 has codec %s, want %s", awq_dtype_name((awq_dtype)dt),
                  awq_codec_name((awq_codec)bc->codec), awq_codec_name((awq_codec)want));
        }
        awq_object_free(o);
        for (int i = 0; i < 4; i++) free_tensor(&t[i]);
    }
    CHECK(n_temps(t_path("store")) == 0, "no temp files left");
    awq_store_close(s);
}

/* awq_tensor.fast: packed 4-bit words (I32 whose nibbles follow a bell-shaped code distribution,
 * as quantized weights do) are stored with zstd's fastest level: the same values back, and the
 * object is larger than with the default level (which Huffman-codes the skewed bytes). */
static void t_fast_level(void)
{
    awq_store *s = open_store(t_path("store"), 2);
    REQUIRE(s, "store");
    int64_t shape[1] = {1 << 20};
    awq_tensor t = make_tensor("qweight", AWQ_DT_I32, 1, shape);
    uint32_t *w = t.data;
    for (int64_t i = 0; i < shape[0]; i++) {
        uint32_t v = 0;
        for (int n = 0; n < 8; n++) { /* a code around 7-8: the sum of three uniform draws */
            uint32_t code = (uint32_t)((t_randf(0, 5.33f) + t_randf(0, 5.33f) + t_randf(0, 5.33f)));
            v |= (code > 15 ? 15 : code) << (4 * n);
        }
        w[i] = v;
    }
    uint64_t stored[2] = {0, 0};
    for (int fast = 0; fast < 2; fast++) {
        t.fast = fast;
        char recipe[32];
        snprintf(recipe, sizeof recipe, "stage=test\nfast=%d\n", fast);
        awq_key k = test_key(recipe);
        awq_object *o = NULL;
        CHECK(awq_store_put(s, &k, "packed", recipe, &t, 1) == AWQ_OK, "put fast=%d: %s", fast, awq_errmsg());
        CHECK(awq_store_get(s, &k, &o) == AWQ_OK && o && same_tensor(&t, &o->tensors[0]), "fast=%d: round trip", fast);
        if (o) stored[fast] = o->layout[0].stored_bytes;
        awq_object_free(o);
    }
    CHECK(stored[0] > 0 && stored[1] > stored[0] + (uint64_t)t.nbytes / 20,
          "stored bytes: default level %llu, fast %llu of %zu: the fast level should skip the entropy coding",
          (unsigned long long)stored[0], (unsigned long long)stored[1], t.nbytes);
    free_tensor(&t);
    awq_store_close(s);
}

static void t_threads_give_identical_files(void)
{
    int64_t shape[1] = {(int64_t)(3 * AWQ_CHUNK / 2 + 17)};
    awq_tensor t = make_tensor("w", AWQ_DT_BF16, 1, shape);
    awq_key k = test_key("threads");
    size_t len1 = 0, len4 = 1;
    for (int threads = 1; threads <= 4; threads += 3) {
        awq_store *s = open_store(t_path("s%d", threads), threads);
        REQUIRE(s, "store");
        CHECK(awq_store_put(s, &k, "act", NULL, &t, 1) == AWQ_OK, "%s", awq_errmsg());
        awq_store_close(s);
    }
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(&k, hex);
    void *a = t_read_file(t_path("s1/objects/%.2s/%s", hex, hex + 2), &len1);
    void *b = t_read_file(t_path("s4/objects/%.2s/%s", hex, hex + 2), &len4);
    CHECK(a && b && len1 == len4 && memcmp(a, b, len1) == 0, "1 and 4 threads write the same bytes (%zu, %zu)", len1, len4);
    free(a);
    free(b);
    free_tensor(&t);
}

static void t_bad_arguments(void)
{
    awq_store *s = open_store(t_path("store"), 1);
    REQUIRE(s, "store");
    int64_t shape[1] = {4};
    awq_tensor t[2] = {make_tensor("a", AWQ_DT_F32, 1, shape), make_tensor("a", AWQ_DT_F32, 1, shape)};
    awq_key k = test_key("bad");
    CHECK(awq_store_put(s, &k, "Act!", NULL, t, 1) == AWQ_ERR_ARG && strstr(awq_errmsg(), "kind"), "kind: %s", awq_errmsg());
    CHECK(awq_store_put(s, &k, "act", NULL, t, 2) == AWQ_ERR_ARG && strstr(awq_errmsg(), "'a' appears twice"), "%s", awq_errmsg());
    t[1].nbytes = 15;
    free(t[1].name);
    t[1].name = strdup("b");
    CHECK(awq_store_put(s, &k, "act", NULL, t, 2) == AWQ_ERR_ARG && strstr(awq_errmsg(), "'b'"), "size: %s", awq_errmsg());
    t[1].nbytes = 16;
    t[1].ndim = 9;
    CHECK(awq_store_put(s, &k, "act", NULL, t, 2) == AWQ_ERR_ARG, "ndim 9");
    t[1].ndim = 1;
    t[1].dtype = AWQ_DT_INVALID;
    CHECK(awq_store_put(s, &k, "act", NULL, t, 2) == AWQ_ERR_ARG, "invalid dtype");
    CHECK(awq_store_put(s, &k, "act", "bad \xff utf-8", t, 1) == AWQ_ERR_ARG, "recipe must be UTF-8");
    CHECK(!awq_store_has(s, &k) && n_objects(t_path("store")) == 0 && n_temps(t_path("store")) == 0, "nothing written");
    awq_object *o = (awq_object *)1;
    CHECK(awq_store_get(s, &k, &o) == AWQ_ERR_NOTFOUND && o == NULL, "absent: %s", awq_errmsg());
    free_tensor(&t[0]);
    free_tensor(&t[1]);
    awq_store_close(s);
}

/* ---------------------------------------------------------------- damage */

/* Rewrite the header of an object in buf so that chunk c's checksum of its stored bytes is
 * wrong while the header's own checksum matches (a header written wrong, not damaged later). */
static void flip_stored_sum(uint8_t *buf, const awq_object *h, size_t c)
{
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h->chunks[c].stored_xxh64);
    size_t H = h->data_offset - 24;
    char *hdr = (char *)buf + 16, *at = memmem(hdr, H, want, 16);
    if (!at) { t_failf(__FILE__, __LINE__, "find checksum", "%s not in the header", want); return; }
    at[0] = at[0] == '0' ? '1' : '0';
    uint64_t sum = XXH3_64bits(hdr, H);
    for (int i = 0; i < 8; i++) buf[16 + H + i] = (uint8_t)(sum >> (8 * i));
}

/* Every byte of a small object flipped in turn (three masks): the check and a full decode both
 * reject each one, and the check reports a checksum (not a crash or a pass) wherever the header
 * parses. The object has a header, a shuffled F16 chunk, an I32 chunk and an empty tensor. */
static void t_flip_every_byte(void)
{
    awq_store *s = open_store(t_path("store"), 1);
    REQUIRE(s, "store");
    awq_key k = test_key("flip");
    int64_t sh[1] = {300}, si[1] = {5}, se[2] = {0, 3};
    awq_tensor t[3] = {make_tensor("h", AWQ_DT_F16, 1, sh), make_tensor("ids", AWQ_DT_I32, 1, si),
                       make_tensor("e", AWQ_DT_BF16, 2, se)};
    REQUIRE(awq_store_put(s, &k, "act", "stage=test\n", t, 3) == AWQ_OK, "put: %s", awq_errmsg());
    char *path = awq_store_path(s, &k);
    size_t len;
    uint8_t *orig = t_read_file(path, &len), *buf = malloc(len);
    REQUIRE(orig && buf, "read object");
    awq_object *o = NULL;
    REQUIRE(awq_object_check(orig, len, 1, &o) == AWQ_OK && o && o->version == AWQ_OBJECT_VERSION && o->n_chunks == 2,
            "the check accepts the intact object: %s", awq_errmsg());
    CHECK(awq_object_decode(orig, len, 1, 0, NULL) == AWQ_OK, "decode accepts it: %s", awq_errmsg());
    size_t missed_check = 0, missed_decode = 0, header_end = o->data_offset;
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(buf, orig, len);
            buf[i] ^= masks[m];
            awq_err e = awq_object_check(buf, len, 1, NULL);
            if (e == AWQ_OK) {
                if (missed_check++ < 5) fprintf(stderr, "  check missed a flip of byte %zu by %02x\n", i, masks[m]);
            } else if (i >= header_end && (e != AWQ_ERR_CHECKSUM || !strstr(awq_errmsg(), "compressed bytes"))) {
                t_failf(__FILE__, __LINE__, "payload flip", "byte %zu: %s", i, awq_errmsg());
            }
            if (awq_object_decode(buf, len, 1, 1, NULL) == AWQ_OK) missed_decode++;
            awq_clear_error();
        }
    }
    CHECK(missed_check == 0, "the check missed %zu of %zu flips", missed_check, 3 * len);
    CHECK(missed_decode == 0, "decode missed %zu of %zu flips", missed_decode, 3 * len);
    fprintf(stderr, "  %zu bytes (%zu of header), 3 flips each: all detected\n", len, header_end);
    awq_object_free(o);
    free(buf);
    free(orig);
    free(path);
    for (int i = 0; i < 3; i++) free_tensor(&t[i]);
    awq_store_close(s);
}

static void t_damage_is_detected(void)
{
    awq_store *s = open_store(t_path("store"), 2);
    REQUIRE(s, "store");
    awq_key k = test_key("damage");
    awq_tensor t[2];
    put_sample(s, &k, t);
    char *path = awq_store_path(s, &k);
    size_t len;
    uint8_t *orig = t_read_file(path, &len);
    REQUIRE(orig && len > 100, "read object");
    awq_object *h = NULL;
    REQUIRE(awq_object_parse_header(orig, len, len, &h) == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(h->n_tensors == 2 && h->layout[0].n_chunks == 3, "layout");
    uint8_t *buf = malloc(len + 1);

#define DAMAGE(code, what, ...) do { memcpy(buf, orig, len); size_t n = len; __VA_ARGS__; \
        REQUIRE(t_write_file(path, buf, n) == 0, "write"); EXPECT_DAMAGED(s, &k, code, what); } while (0)
    DAMAGE(AWQ_ERR_CHECKSUM, "header checksum mismatch", buf[16 + 5] ^= 0x20);
    DAMAGE(AWQ_ERR_CHECKSUM, "header checksum mismatch", buf[h->data_offset - 1] ^= 1);
    /* a flipped byte inside chunk 1 of 'x' and inside the only chunk of 'ids' */
    const awq_chunk *c1 = &h->chunks[1], *ci = &h->chunks[3];
    DAMAGE(AWQ_ERR_CHECKSUM, "chunk 1 of tensor 'x'", buf[h->data_offset + c1->offset + c1->stored / 2] ^= 0x10);
    DAMAGE(AWQ_ERR_CHECKSUM, "chunk 0 of tensor 'ids'", buf[h->data_offset + ci->offset + ci->stored - 3] ^= 0x01);
    /* the first and the last byte of the payload, and the header's own checksum */
    DAMAGE(AWQ_ERR_CHECKSUM, "chunk 0 of tensor 'x'", buf[h->data_offset] ^= 0x80);
    DAMAGE(AWQ_ERR_CHECKSUM, "chunk 0 of tensor 'ids'", buf[len - 1] ^= 0x80);
    DAMAGE(AWQ_ERR_CHECKSUM, "header checksum mismatch", buf[h->data_offset - 8] ^= 0x01);
    /* a wrong checksum of the stored bytes in a header that is otherwise consistent (its own
     * checksum recomputed): the check finds the chunk whose bytes no longer match */
    DAMAGE(AWQ_ERR_CHECKSUM, "chunk 1 of tensor 'x': checksum of the compressed bytes", flip_stored_sum(buf, h, 1));
    /* version 1 in the prefix of a version-2 file: its chunk entries have a field too many */
    DAMAGE(AWQ_ERR_FORMAT, "malformed entry", buf[8] = 1);
    DAMAGE(AWQ_ERR_FORMAT, "bad magic", buf[0] = 'X');
    DAMAGE(AWQ_ERR_FORMAT, "format version 4", buf[8] = 4);
    /* version 2 in the prefix of a version-3 file: 'x' (N(0, 0.02) halves) has split chunks */
    DAMAGE(AWQ_ERR_FORMAT, "malformed entry", buf[8] = 2);
    DAMAGE(AWQ_ERR_FORMAT, "format version 0", buf[8] = 0);
    DAMAGE(AWQ_ERR_FORMAT, "truncated", n = len - 1);
    DAMAGE(AWQ_ERR_FORMAT, "truncated", n = h->data_offset - 3);
    DAMAGE(AWQ_ERR_FORMAT, "too short", n = 10);
    DAMAGE(AWQ_ERR_FORMAT, "too short", n = 0);
    DAMAGE(AWQ_ERR_FORMAT, "after the header", buf[len] = 0; n = len + 1);
    DAMAGE(AWQ_ERR_FORMAT, "exceeds the limit", buf[15] = 0x7f);
#undef DAMAGE
    /* A valid object under another key's name. */
    awq_key other = test_key("other");
    char *opath = awq_store_path(s, &other);
    char *dir = strndup(opath, (size_t)(strrchr(opath, '/') - opath));
    mkdir(dir, 0777);
    REQUIRE(t_write_file(opath, orig, len) == 0, "copy");
    EXPECT_DAMAGED(s, &other, AWQ_ERR_FORMAT, "its header says it is object");
    free(dir);
    free(opath);
    awq_object_free(h);
    free(buf);
    free(orig);
    free(path);
    free_tensor(&t[0]);
    free_tensor(&t[1]);
    awq_store_close(s);
}

/* Header semantics beyond the checksum: hand-made headers with a correct checksum (format
 * version 1, or `version` with parse_made_v). */
static awq_err parse_made_v(uint8_t version, const char *json, size_t payload, awq_object **o)
{
    size_t H = strlen(json), len = 16 + H + 8 + payload;
    uint8_t *buf = calloc(1, len);
    memcpy(buf, "AWQOBJ\r\n\1\0\0\0", 12);
    buf[8] = version;
    for (int i = 0; i < 4; i++) buf[12 + i] = (uint8_t)(H >> (8 * i));
    memcpy(buf + 16, json, H);
    uint64_t sum = XXH3_64bits(json, H);
    for (int i = 0; i < 8; i++) buf[16 + H + i] = (uint8_t)(sum >> (8 * i));
    awq_clear_error();
    awq_err e = awq_object_parse_header(buf, len, len, o);
    free(buf);
    return e;
}
static awq_err parse_made(const char *json, size_t payload, awq_object **o) { return parse_made_v(1, json, payload, o); }

static void t_header_semantics(void)
{
    const char *key = "\"key\":\"06b05ab6733a618578af5f94892f3950\"";
    char j[1024];
    awq_object *o = NULL;
#define HDR(tensors) (snprintf(j, sizeof j, "{\"kind\":\"act\",%s,\"recipe\":\"\",\"tensors\":[%s]}", key, tensors), j)
    CHECK(parse_made(HDR("{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[[5,4,\"0000000000000000\",1]]}"), 5, &o) == AWQ_OK,
          "a valid hand-made header: %s", awq_errmsg());
    CHECK(o && o->n_tensors == 1 && o->tensors[0].nbytes == 4 && o->chunks[0].stored == 5 && o->tensors[0].data == NULL, "parsed");
    awq_object_free(o);
    struct { const char *tensors; size_t payload; const char *what; } bad[] = {
        {"{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[[5,4,\"0000000000000000\",1]]}", 6, "the file holds 6"},
        {"{\"name\":\"a\",\"dtype\":\"I16\",\"shape\":[2],\"chunks\":[[5,4,\"0000000000000000\",1]]}", 5, "shuffled"},
        {"{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[3],\"chunks\":[[5,4,\"0000000000000000\",1]]}", 5, "expected 6"},
        {"{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[[0,4,\"0000000000000000\",1]]}", 0, "impossible"},
        {"{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[[5,4,\"000000000000000\",1]]}", 5, "malformed"},
        {"{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[]}", 0, "must have 1 chunks"},
        {"{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[-2],\"chunks\":[]}", 0, "bad dimension"},
        {"{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[4611686018427387904,4],\"chunks\":[]}", 0, "overflowing"},
        {"{\"name\":\"a\",\"dtype\":\"F8_E4M3\",\"shape\":[],\"chunks\":[]}", 0, "unknown dtype"},
        {"{\"name\":\"a\",\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"chunks\":[]}", 0, "bad shape"},
        {"{\"name\":\"\",\"dtype\":\"U8\",\"shape\":[0],\"chunks\":[]}", 0, "bad name"},
        {"{\"name\":\"a\",\"dtype\":\"U8\",\"shape\":[0],\"chunks\":[]},{\"name\":\"a\",\"dtype\":\"U8\",\"shape\":[0],\"chunks\":[]}", 0,
         "appears twice"},
        {"7", 0, "not an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o = (awq_object *)1;
        awq_err e = parse_made(HDR(bad[i].tensors), bad[i].payload, &o);
        CHECK(e == AWQ_ERR_FORMAT && o == NULL && strstr(awq_errmsg(), bad[i].what), "case %zu: want '%s', got %s: %s", i,
              bad[i].what, awq_strerror(e), awq_errmsg());
    }
    /* version 2: a fifth entry per chunk, the checksum of the stored bytes */
    const char *v2 = "{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[[5,4,\"0000000000000000\",1,\"00000000000000ff\"]]}";
    CHECK(parse_made_v(2, HDR(v2), 5, &o) == AWQ_OK && o->version == 2 && o->chunks[0].stored_xxh64 == 0xff,
          "a valid version-2 header: %s", awq_errmsg());
    awq_object_free(o);
    o = NULL;
    CHECK(parse_made_v(1, HDR(v2), 5, &o) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "malformed"), "5 entries in version 1");
    CHECK(parse_made_v(2, HDR("{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[[5,4,\"0000000000000000\",1]]}"), 5, &o) ==
              AWQ_ERR_FORMAT && strstr(awq_errmsg(), "malformed"), "4 entries in version 2");
    CHECK(parse_made_v(2, HDR("{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[[5,4,\"0000000000000000\",1,\"xyz\"]]}"), 5, &o) ==
              AWQ_ERR_FORMAT && strstr(awq_errmsg(), "malformed"), "a bad stored checksum in version 2");
    /* version 3: codecs 2 (raw: stored = raw) and 3 (split: more than the raw lower half stored) */
    struct { const char *chunk; int ok; const char *what; } v3[] = {
        {"[4,4,\"0000000000000000\",2,\"0000000000000000\"]", 1, ""},
        {"[5,4,\"0000000000000000\",2,\"0000000000000000\"]", 0, "impossible for 4 raw bytes in codec raw"},
        {"[3,4,\"0000000000000000\",3,\"0000000000000000\"]", 1, ""},
        {"[2,4,\"0000000000000000\",3,\"0000000000000000\"]", 0, "impossible for 4 raw bytes in codec split"},
        {"[5,4,\"0000000000000000\",4,\"0000000000000000\"]", 0, "malformed"},
    };
    for (size_t i = 0; i < sizeof v3 / sizeof *v3; i++) {
        char t[256];
        snprintf(t, sizeof t, "{\"name\":\"a\",\"dtype\":\"F16\",\"shape\":[2],\"chunks\":[%s]}", v3[i].chunk);
        size_t payload = (size_t)atoi(v3[i].chunk + 1);
        o = NULL;
        awq_err e = parse_made_v(3, HDR(t), payload, &o);
        CHECK(v3[i].ok ? e == AWQ_OK : e == AWQ_ERR_FORMAT && strstr(awq_errmsg(), v3[i].what), "v3 case %zu: %s", i, awq_errmsg());
        awq_object_free(o);
        /* codecs 2 and 3 do not exist in version 2 */
        o = NULL;
        CHECK(parse_made_v(2, HDR(t), payload, &o) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "malformed"), "v3 case %zu in version 2", i);
    }
    CHECK(parse_made_v(3, HDR("{\"name\":\"a\",\"dtype\":\"I16\",\"shape\":[2],\"chunks\":[[3,4,\"0000000000000000\",3,\"0000000000000000\"]]}"),
                       3, &o) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "codec split"), "split on I16: %s", awq_errmsg());
    CHECK(parse_made("{\"kind\":\"act\",\"key\":\"x\",\"recipe\":\"\",\"tensors\":[]}", 0, &o) == AWQ_ERR_FORMAT, "bad key");
    CHECK(parse_made("{\"kind\":\"act\",\"kind\":\"b\"}", 0, &o) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "JSON"), "duplicate field");
    CHECK(parse_made("{\"kind\":\"a\"", 0, &o) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "JSON"), "broken JSON");
#undef HDR
}

/* walk callback of t_foreign_files */
typedef struct { int objects, foreign, saw_key; } foreign_seen;
static int foreign_visit(void *ctx, const awq_key *key, const char *path)
{
    foreign_seen *seen = ctx;
    awq_key want = test_key("foreign");
    if (key) {
        seen->objects++;
        seen->saw_key = awq_key_equal(key, &want);
    } else {
        seen->foreign++;
        fprintf(stderr, "  foreign: %s\n", path);
    }
    CHECK(strstr(path, ".tmp-") == NULL, "temp files are not shown: %s", path);
    return 0;
}

static void t_foreign_files(void)
{
    awq_store *s = open_store(t_path("store"), 1);
    REQUIRE(s, "store");
    awq_key k = test_key("foreign");
    awq_tensor t[2];
    put_sample(s, &k, t);
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(&k, hex);
    mkdir(t_path("store/objects/zz"), 0777);
    t_write_file(t_path("store/objects/%.2s/notes.txt", hex), "hi", 2);
    t_write_file(t_path("store/objects/README"), "hi", 2);
    t_write_file(t_path("store/objects/%.2s/%.30s", hex, "ABCDEF0123456789ABCDEF01234567"), "hi", 2);
    t_write_file(t_path("store/objects/%.2s/.tmp-x-1-2", hex), "tmp", 3);
    foreign_seen seen = {0};
    int rc = awq_store_walk(s, foreign_visit, &seen);
    CHECK(rc == 0 && seen.objects == 1 && seen.saw_key && seen.foreign == 4, "walk: %d objects, %d foreign (want 1, 4)",
          seen.objects, seen.foreign);
    awq_gc_opts g = {.older_than_s = -1, .keep = &k, .n_keep = 0}; /* keep nothing */
    size_t n = 0;
    CHECK(awq_store_gc(s, &g, &n, NULL) == AWQ_OK && n == 1 && !awq_store_has(s, &k), "gc removes only the object: %zu", n);
    CHECK(count_glob(t_path("store/objects/*/notes.txt")) == 1 && access(t_path("store/objects/README"), F_OK) == 0,
          "foreign files are never removed");
    free_tensor(&t[0]);
    free_tensor(&t[1]);
    awq_store_close(s);
}

/* ---------------------------------------------------------------- crashes and concurrency */

static void t_killed_writer(void)
{
    const char *store = t_path("store");
    awq_store *s = open_store(store, 1);
    REQUIRE(s, "store");
    awq_key k = test_key("f16");
    size_t nbytes = 40u << 20;
    double dur = 0;
    int killed_mid_write = 0;
    for (int trial = 0; trial < 6; trial++) {
        int out[2];
        REQUIRE(pipe(out) == 0, "pipe");
        pid_t pid = spawn_child(store, nbytes, "f16", -1, out[1], -1, NULL);
        close(out[1]);
        char c;
        REQUIRE(read(out[0], &c, 1) == 1, "child ready");
        double t0 = now_s();
        int st;
        if (trial == 0) { /* the first run completes: it tells how long a put takes */
            waitpid(pid, &st, 0);
            dur = now_s() - t0;
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "full put");
            CHECK(awq_store_verify(s, &k) == AWQ_OK, "complete object verifies: %s", awq_errmsg());
            char *p = awq_store_path(s, &k);
            unlink(p);
            free(p);
            fprintf(stderr, "  a put of %zu MiB takes %.3f s\n", nbytes >> 20, dur);
        } else {
            useconds_t at = (useconds_t)(1e6 * dur * (double)(t_rand() % 1000) / 1000.0);
            usleep(at);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            int was_killed = WIFSIGNALED(st);
            size_t temps = n_temps(store);
            fprintf(stderr, "  kill after %.3f s: %s, %zu temp files\n", at / 1e6, was_killed ? "killed" : "had finished", temps);
            if (was_killed && awq_store_has(s, &k)) {
                /* killed after the link: the object must then be whole */
                CHECK(awq_store_verify(s, &k) == AWQ_OK, "object after kill: %s", awq_errmsg());
            } else if (was_killed) {
                killed_mid_write++;
            }
            if (awq_store_has(s, &k)) { /* reset for the next trial */
                char *p = awq_store_path(s, &k);
                unlink(p);
                free(p);
            }
        }
        close(out[0]);
    }
    CHECK(killed_mid_write >= 1, "at least one kill hit a write in progress (%d)", killed_mid_write);
    CHECK(!awq_store_has(s, &k), "no object under the final name");
    size_t temps = n_temps(store);
    CHECK(temps >= (size_t)killed_mid_write, "killed writers left temp files (%zu)", temps);
    /* gc leaves fresh temp files alone (a put may be in flight) and removes old ones */
    awq_gc_opts g = {.older_than_s = -1};
    size_t n = 99;
    CHECK(awq_store_gc(s, &g, &n, NULL) == AWQ_OK && n == 0 && n_temps(store) == temps, "fresh temps kept");
    glob_t gl;
    if (glob(t_path("store/objects/*/.tmp-*"), 0, NULL, &gl) == 0) {
        for (size_t i = 0; i < gl.gl_pathc; i++) set_age(gl.gl_pathv[i], 7200);
        globfree(&gl);
    }
    CHECK(awq_store_gc(s, &g, &n, NULL) == AWQ_OK && n == temps && n_temps(store) == 0, "old temps removed: %zu of %zu", n, temps);
    awq_store_close(s);
}

/* A store shared over NFS: temp names say host and pid, and a first-writer-wins link whose reply
 * was lost (the retransmitted link says EEXIST although the first one linked ours) is a success,
 * told by our temp file's two links; a real conflict (another file there) stays AWQ_ERR_EXISTS. */
static void t_nfs_safe_atomic_link(void)
{
    char host[65], want[160];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/' || *c == '-') *c = '_';
    snprintf(want, sizeof want, ".tmp-obj-%s-%ld-", host, (long)getpid());
    const char *final = t_path("nfs/obj");
    mkdir(t_path("nfs"), 0755);
    awq_atomic f;
    REQUIRE(awq_atomic_open(&f, final) == AWQ_OK, "%s", awq_errmsg());
    const char *base = strrchr(f.tmp_path, '/') + 1;
    CHECK(strncmp(base, want, strlen(want)) == 0, "temp name '%s' does not start with '%s'", base, want);
    REQUIRE(awq_atomic_write(&f, "abc", 3) == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(link(f.tmp_path, final) == 0, "link: %s", strerror(errno)); /* the first link, whose reply was "lost" */
    CHECK(awq_atomic_commit(&f, AWQ_ATOMIC_NOREPLACE) == AWQ_OK, "a lost link reply taken for a conflict: %s", awq_errmsg());
    struct stat st;
    CHECK(stat(final, &st) == 0 && st.st_size == 3 && st.st_nlink == 1, "the object, with its one link");
    REQUIRE(awq_atomic_open(&f, final) == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_atomic_write(&f, "xyz", 3) == AWQ_OK, "%s", awq_errmsg());
    CHECK(awq_atomic_commit(&f, AWQ_ATOMIC_NOREPLACE) == AWQ_ERR_EXISTS, "a real conflict");
    awq_clear_error();
}

static void t_concurrent_puts(void)
{
    const char *store = t_path("store");
    enum { N = 3 };
    int go[2];
    REQUIRE(pipe(go) == 0, "pipe");
    pid_t pids[N];
    int devnull = open("/dev/null", O_WRONLY);
    for (int i = 0; i < N; i++) pids[i] = spawn_child(store, 12u << 20, "f16", go[0], devnull, -1, NULL);
    close(go[0]);
    close(devnull);
    REQUIRE(write(go[1], "GGG", N) == N, "start"); /* all start at once */
    close(go[1]);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    CHECK(ok == N, "every writer succeeds (%d of %d)", ok, N);
    awq_store *s = open_store(store, 2);
    REQUIRE(s, "store");
    awq_key k = test_key("f16");
    awq_object *o = NULL;
    CHECK(awq_store_get(s, &k, &o) == AWQ_OK && o->n_tensors == 1 && o->tensors[0].nbytes == 12u << 20, "one valid object: %s",
          awq_errmsg());
    CHECK(n_objects(store) == 1 && n_temps(store) == 0, "one object file, no temp files (%zu, %zu)", n_objects(store), n_temps(store));
    awq_object_free(o);
    awq_store_close(s);
}

static void t_damaged_object_is_rebuilt(void)
{
    awq_store *s = open_store(t_path("store"), 2);
    REQUIRE(s, "store");
    awq_key k = test_key("rebuild");
    awq_tensor t[2];
    put_sample(s, &k, t);
    char *path = awq_store_path(s, &k);
    size_t len;
    uint8_t *buf = t_read_file(path, &len);
    buf[len - 10] ^= 0xff;
    REQUIRE(t_write_file(path, buf, len) == 0, "damage");
    EXPECT_DAMAGED(s, &k, AWQ_ERR_CHECKSUM, "chunk");
    CHECK(awq_store_put(s, &k, "act", "stage=test\n", t, 2) == AWQ_OK, "put over a damaged object: %s", awq_errmsg());
    awq_object *o = NULL;
    CHECK(awq_store_get(s, &k, &o) == AWQ_OK && o && same_tensor(&o->tensors[0], &t[0]) && same_tensor(&o->tensors[1], &t[1]),
          "rebuilt: %s", awq_errmsg());
    awq_object_free(o);
    /* a valid object is kept as it is: same inode after another put */
    struct stat a, b;
    stat(path, &a);
    CHECK(awq_store_put(s, &k, "act", "stage=test\n", t, 2) == AWQ_OK, "put again");
    stat(path, &b);
    CHECK(a.st_ino == b.st_ino, "valid object not rewritten");
    CHECK(n_temps(t_path("store")) == 1, "only the damaged copy is left aside (%zu temps)", n_temps(t_path("store")));
    /* gc removes the damaged copy at once (nothing reads it), not an hour later like a temp file
     * that may be a put in flight */
    t_write_file(t_path("store/objects/%.2s/.tmp-inflight-1-2", path + strlen(path) - 33), "tmp", 3);
    awq_gc_opts g = {.older_than_s = -1};
    size_t n = 0;
    CHECK(awq_store_gc(s, &g, &n, NULL) == AWQ_OK && n == 1 && count_in(t_path("store"), "*/.tmp-damaged-*") == 0 &&
          n_temps(t_path("store")) == 1 && awq_store_verify(s, &k) == AWQ_OK, "gc removed %zu: the damaged copy only", n);
    free(buf);
    free(path);
    free_tensor(&t[0]);
    free_tensor(&t[1]);
    awq_store_close(s);
}

/* A get that finds its object missing or damaged is counted (a program then exits with
 * AWQ_EXIT_REBUILD, and awq-step has the object made again); its exit status says so only for
 * an object error after such a get; VERIFY=1 moves a damaged object aside by hand. */
static void t_lost_objects(void)
{
    awq_store *s = open_store(t_path("store"), 1);
    REQUIRE(s, "store");
    awq_key k = test_key("lost"), missing = test_key("never");
    awq_tensor t[2];
    put_sample(s, &k, t);
    awq_object *o = NULL;
    CHECK(awq_store_get(s, &k, &o) == AWQ_OK && awq_store_lost(s) == 0, "a good get loses nothing");
    awq_object_free(o);
    CHECK(awq_stage_status(s, AWQ_ERR_NOTFOUND) == 1, "no get lost an object: status 1");
    CHECK(awq_store_get(s, &missing, &o) == AWQ_ERR_NOTFOUND && awq_store_lost(s) == 1, "a missing object is lost");
    CHECK(awq_stage_status(s, AWQ_ERR_NOTFOUND) == AWQ_EXIT_REBUILD && awq_stage_status(s, AWQ_ERR_CHECKSUM) == AWQ_EXIT_REBUILD &&
          awq_stage_status(s, AWQ_ERR_ARG) == 1 && awq_stage_status(s, AWQ_OK) == 0, "statuses");
    awq_clear_error();
    CHECK(awq_store_move_aside(s, &k) == AWQ_OK && !awq_store_has(s, &k) && count_in(t_path("store"), "*/.tmp-damaged-*") == 1,
          "moved aside by hand (VERIFY=1)");
    CHECK(awq_store_move_aside(s, &missing) == AWQ_OK, "moving a missing object aside is no error: %s", awq_errmsg());
    free_tensor(&t[0]);
    free_tensor(&t[1]);
    awq_store_close(s);
}

/* ---------------------------------------------------------------- gc */

static void t_gc_age_and_keep(void)
{
    awq_store *s = open_store(t_path("store"), 1);
    REQUIRE(s, "store");
    int64_t shape[1] = {100};
    awq_tensor t = make_tensor("v", AWQ_DT_F32, 1, shape);
    awq_key k[4];
    char *p[4];
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "gc%d", i);
        k[i] = test_key(name);
        REQUIRE(awq_store_put(s, &k[i], "scales", NULL, &t, 1) == AWQ_OK, "%s", awq_errmsg());
        p[i] = awq_store_path(s, &k[i]);
    }
    /* ages: 0 and 1 ten days, 2 and 3 fresh; then reading 1 makes it fresh again */
    set_age(p[0], 10 * 86400.0);
    set_age(p[1], 10 * 86400.0);
    awq_object *o = NULL;
    CHECK(awq_store_get(s, &k[1], &o) == AWQ_OK, "get refreshes");
    awq_object_free(o);
    awq_gc_opts g = {.older_than_s = 5 * 86400.0, .dry_run = 1};
    size_t n = 0;
    uint64_t bytes = 0;
    CHECK(awq_store_gc(s, &g, &n, &bytes) == AWQ_OK && n == 1 && bytes > 0 && awq_store_has(s, &k[0]), "dry run: %zu", n);
    g.dry_run = 0;
    CHECK(awq_store_gc(s, &g, &n, NULL) == AWQ_OK && n == 1, "age: %zu removed", n);
    CHECK(!awq_store_has(s, &k[0]) && awq_store_has(s, &k[1]) && awq_store_has(s, &k[2]), "the unused one went");
    /* keep-list: keep 2; with an age rule too, only old unkept objects go */
    set_age(p[3], 10 * 86400.0);
    awq_gc_opts gk = {.older_than_s = 5 * 86400.0, .keep = &k[2], .n_keep = 1};
    CHECK(awq_store_gc(s, &gk, &n, NULL) == AWQ_OK && n == 1 && !awq_store_has(s, &k[3]) && awq_store_has(s, &k[1]),
          "keep + age: %zu", n);
    gk.older_than_s = -1;
    CHECK(awq_store_gc(s, &gk, &n, NULL) == AWQ_OK && n == 1 && !awq_store_has(s, &k[1]) && awq_store_has(s, &k[2]), "keep: %zu", n);
    awq_gc_opts none = {.older_than_s = -1};
    CHECK(awq_store_gc(s, &none, &n, NULL) == AWQ_OK && n == 0 && awq_store_has(s, &k[2]), "no rule removes no object");
    for (int i = 0; i < 4; i++) free(p[i]);
    free_tensor(&t);
    awq_store_close(s);
}

/* ---------------------------------------------------------------- disk full */

static void t_disk_full_tmpfs(void)
{
    const char *mnt = t_path("tmpfs");
    mkdir(mnt, 0777);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
        t_skip("cannot mount a 1 MiB tmpfs (%s; needs root or CAP_SYS_ADMIN); RLIMIT_FSIZE case still runs", strerror(errno));
        return;
    }
    awq_store *s = open_store(mnt, 2);
    if (s) {
        int64_t shape[1] = {3 << 20};
        awq_tensor t = make_tensor("noise", AWQ_DT_U8, 1, shape); /* random bytes do not compress */
        awq_key k = test_key("full");
        awq_err e = awq_store_put(s, &k, "act", NULL, &t, 1);
        CHECK(e == AWQ_ERR_NOSPACE, "disk full gives NOSPACE: %s: %s", awq_strerror(e), awq_errmsg());
        char *path = awq_store_path(s, &k);
        CHECK(strstr(awq_errmsg(), path) && strstr(awq_errhint(), "space"), "message names the object, hint: %s / %s",
              awq_errmsg(), awq_errhint());
        CHECK(!awq_store_has(s, &k) && n_temps(mnt) == 0, "no object, no temp file");
        /* and a small object still fits afterwards */
        int64_t small[1] = {1000};
        awq_tensor t2 = make_tensor("x", AWQ_DT_F16, 1, small);
        CHECK(awq_store_put(s, &k, "act", NULL, &t2, 1) == AWQ_OK && awq_store_verify(s, &k) == AWQ_OK, "after: %s", awq_errmsg());
        free(path);
        free_tensor(&t);
        free_tensor(&t2);
        awq_store_close(s);
    }
    CHECK(umount2(mnt, MNT_DETACH) == 0, "umount: %s", strerror(errno));
}

static void t_file_size_limit(void)
{
    const char *store = t_path("store");
    int err[2];
    REQUIRE(pipe(err) == 0, "pipe");
    struct rlimit lim = {1u << 20, 1u << 20};
    int devnull = open("/dev/null", O_WRONLY);
    pid_t pid = spawn_child(store, 6u << 20, "rand", -1, devnull, err[1], &lim);
    close(err[1]);
    close(devnull);
    char msg[2048] = "";
    size_t got = 0;
    ssize_t r;
    while ((r = read(err[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)r;
    msg[got] = 0;
    close(err[0]);
    int st;
    waitpid(pid, &st, 0);
    fprintf(stderr, "  child said: %s", msg);
    /* EFBIG counts as "no space" (exit 8 of child_put), like ENOSPC */
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 8, "child fails cleanly with no-space (status %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    CHECK(strstr(msg, "File too large") && strstr(msg, "/objects/"), "message names the object and EFBIG: %s", msg);
    CHECK(n_objects(store) == 0 && n_temps(store) == 0, "no partial object, no temp file (%zu, %zu)", n_objects(store), n_temps(store));
}

/* ---------------------------------------------------------------- fuzz seeds */

static void t_fuzz_seeds_are_objects(void)
{
    glob_t g;
    if (glob("tests/fuzz/seeds/object_header/*", 0, NULL, &g) != 0) {
        t_skip("tests/fuzz/seeds/object_header not found (run from the repository root)");
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len;
        uint8_t *b = t_read_file(g.gl_pathv[i], &len);
        awq_object *o = NULL;
        CHECK(b && awq_object_decode(b, len, 1, 1, &o) == AWQ_OK,
              "seed %s is not a valid object (%s); regenerate the seeds (tests/t_obj.sh explains how)", g.gl_pathv[i], awq_errmsg());
        awq_object_free(o);
        free(b);
    }
    CHECK(g.gl_pathc >= 3, "at least 3 seeds (%zu)", g.gl_pathc);
    globfree(&g);
}

/* ---------------------------------------------------------------- codecs */

/* Bit patterns every float codec must keep: zeros of both signs, the subnormal range, the
 * largest finite values, infinities, quiet and signalling NaNs with payloads, of each sign. */
static size_t special_bits(awq_dtype dt, uint64_t *v)
{
    static const uint64_t h[] = {0x0000, 0x8000, 0x0001, 0x83ff, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
                                 0x7e00, 0xfe01, 0x7c01, 0x7d55, 0xffff, 0x3c00};
    static const uint64_t b[] = {0x0000, 0x8000, 0x0001, 0x807f, 0x007f, 0x0080, 0x7f7f, 0xff7f, 0x7f80, 0xff80,
                                 0x7fc0, 0xffc1, 0x7f81, 0x7faa, 0xffff, 0x3f80};
    static const uint64_t f[] = {0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff,
                                 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x7fa5a5a5, 0xffffffff};
    static const uint64_t d[] = {0, 0x8000000000000000ull, 1, 0x800fffffffffffffull, 0x0010000000000000ull,
                                 0x7fefffffffffffffull, 0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
                                 0xfff8000000000001ull, 0x7ff0000000000001ull, 0x7ff5a5a5a5a5a5a5ull, ~0ull};
    const uint64_t *src = dt == AWQ_DT_F16 ? h : dt == AWQ_DT_BF16 ? b : dt == AWQ_DT_F32 ? f : d;
    size_t n = dt == AWQ_DT_F16 ? sizeof h / 8 : dt == AWQ_DT_BF16 ? sizeof b / 8 : dt == AWQ_DT_F32 ? sizeof f / 8 : sizeof d / 8;
    memcpy(v, src, n * 8);
    return n;
}

/* A tensor of 1.5 chunks and 3 elements: random bit patterns (NaN payloads included) in the
 * first half, N(0, 0.02) values in the second, the special values at its start and across the
 * chunk boundary. */
static awq_tensor codec_tensor(awq_dtype dt)
{
    size_t es = awq_dtype_size(dt);
    int64_t shape[1] = {(int64_t)(3 * AWQ_CHUNK / 2 / es + 3)};
    awq_tensor t = make_tensor("x", dt, 1, shape);
    uint8_t *p = t.data;
    size_t n = (size_t)shape[0];
    for (size_t i = 0; i < n / 2; i++) { uint64_t r = t_rand(); memcpy(p + i * es, &r, es); }
    if (awq_dtype_is_float(dt)) {
        uint64_t v[16];
        size_t m = special_bits(dt, v), at[2] = {0, AWQ_CHUNK / es - m / 2};
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < m; i++) memcpy(p + (at[k] + i) * es, &v[i], es);
    }
    return t;
}

/* Rewrite chunk c's checksum of its stored bytes in buf's header to match them (and the header's
 * own checksum): a writer that stored wrong bytes, which only decoding can tell. */
static void resum_stored(uint8_t *buf, const awq_object *h, size_t c)
{
    char old[20], now[17];
    const awq_chunk *ch = &h->chunks[c];
    /* the fifth (last) entry of the chunk: a raw chunk's two checksums are the same */
    snprintf(old, sizeof old, "%016llx\"]", (unsigned long long)ch->stored_xxh64);
    snprintf(now, sizeof now, "%016llx", (unsigned long long)XXH3_64bits(buf + h->data_offset + ch->offset, ch->stored));
    size_t H = h->data_offset - 24;
    char *hdr = (char *)buf + 16, *at = memmem(hdr, H, old, 18);
    if (!at) { t_failf(__FILE__, __LINE__, "find checksum", "%s not in the header", old); return; }
    memcpy(at, now, 16);
    uint64_t sum = XXH3_64bits(hdr, H);
    for (int i = 0; i < 8; i++) buf[16 + H + i] = (uint8_t)(sum >> (8 * i));
}

/* Every codec, forced (awq_store_set_codec) and chosen, on every float dtype: the same bits back
 * (specials, NaN payloads, random patterns), every chunk in the codec asked for. A flipped stored
 * byte is found by the cheap check (one line naming the chunk); a stored byte written wrong under
 * a matching stored checksum by the decode of get and verify. Integers take zstd and raw only. */
static void t_codecs(void)
{
    awq_store *s = open_store(t_path("store"), 2);
    REQUIRE(s, "store");
    static const awq_dtype dts[] = {AWQ_DT_F16, AWQ_DT_BF16, AWQ_DT_F32, AWQ_DT_F64, AWQ_DT_I32};
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        awq_tensor t = codec_tensor(dts[d]);
        const char *dn = awq_dtype_name(dts[d]);
        for (int force = 0; force <= AWQ_CODEC__COUNT; force++) {
            const char *cn = force ? awq_codec_name((awq_codec)(force - 1)) : "chosen";
            char recipe[64];
            snprintf(recipe, sizeof recipe, "stage=test\ndtype=%s\ncodec=%d\n", dn, force);
            awq_key k = test_key(recipe);
            REQUIRE(awq_store_set_codec(s, force ? cn : "auto") == AWQ_OK, "set codec %s: %s", cn, awq_errmsg());
            int shuffling = force - 1 == AWQ_CODEC_SHUFFLE || force - 1 == AWQ_CODEC_SPLIT;
            CHECK(awq_store_put(s, &k, "act", recipe, &t, 1) == AWQ_OK, "put %s %s: %s", dn, cn, awq_errmsg());
            awq_object *o = NULL;
            CHECK(awq_store_get(s, &k, &o) == AWQ_OK && o && same_tensor(&t, &o->tensors[0]), "%s %s: round trip: %s", dn, cn,
                  awq_errmsg());
            /* a shuffling codec is not applied to integers: they keep the chosen one */
            for (size_t c = 0; o && force && c < o->n_chunks; c++) {
                int got = o->chunks[c].codec;
                CHECK(awq_dtype_is_float(dts[d]) || !shuffling ? got == force - 1 : got == AWQ_CODEC_ZSTD || got == AWQ_CODEC_RAW,
                      "%s %s: chunk %zu has codec %s", dn, cn, c, awq_codec_name((awq_codec)got));
            }
            if (!o || force == 0 || dts[d] != AWQ_DT_F16) { awq_object_free(o); continue; }
            /* damage, on the F16 objects of each codec: chunk 1 (the N(0, 0.02) half) */
            char *path = awq_store_path(s, &k);
            size_t len;
            uint8_t *orig = t_read_file(path, &len), *buf = malloc(len);
            REQUIRE(orig && buf, "read %s", path);
            const awq_chunk *c1 = &o->chunks[1];
            size_t at[2] = {c1->offset, c1->offset + c1->stored - 1}; /* the first and last stored byte */
            for (int w = 0; w < 2; w++) {
                memcpy(buf, orig, len);
                buf[o->data_offset + at[w]] ^= 0x10;
                REQUIRE(t_write_file(path, buf, len) == 0, "write");
                EXPECT_DAMAGED(s, &k, AWQ_ERR_CHECKSUM, "chunk 1 of tensor 'x': checksum of the compressed bytes mismatch");
                /* written wrong: the stored checksum matches, the content does not */
                resum_stored(buf, o, 1);
                REQUIRE(t_write_file(path, buf, len) == 0, "write");
                CHECK(awq_store_check(s, &k) == AWQ_OK, "%s: the cheap check sees consistent stored bytes", cn);
                awq_object *bad = NULL;
                awq_err e = awq_store_verify(s, &k);
                CHECK(e == AWQ_ERR_CHECKSUM && strstr(awq_errmsg(), "chunk 1 of tensor 'x'") && !strchr(awq_errmsg(), '\n'),
                      "%s, byte %zu written wrong: verify says '%s'", cn, at[w], awq_errmsg());
                e = awq_store_get(s, &k, &bad);
                CHECK(e == AWQ_ERR_CHECKSUM && !bad && !awq_store_has(s, &k), "%s: get refuses and moves it aside: %s", cn, awq_errmsg());
                fprintf(stderr, "  %s %s, byte %zu of chunk 1 written wrong: %s\n", dn, cn, at[w], awq_errmsg());
            }
            free(orig);
            free(buf);
            free(path);
            awq_object_free(o);
        }
        free_tensor(&t);
    }
    awq_store_close(s);
}

/* AWQ_STORE_CODEC: every put's chunks in that codec where the dtype allows it (split: the float
 * ones), the others as chosen; a bad name is refused when the store opens, naming the variable. */
static void t_store_codec_env(void)
{
    setenv("AWQ_STORE_CODEC", "split", 1);
    awq_store *s = open_store(t_path("store"), 2);
    REQUIRE(s, "store: %s", awq_errmsg());
    awq_key k = test_key("store codec");
    awq_tensor t[2];
    put_sample(s, &k, t);
    awq_object *o = NULL;
    REQUIRE(awq_store_get(s, &k, &o) == AWQ_OK && same_tensor(&t[0], &o->tensors[0]) && same_tensor(&t[1], &o->tensors[1]),
            "round trip: %s", awq_errmsg());
    for (size_t c = 0; c < o->layout[0].n_chunks; c++) CHECK(o->chunks[c].codec == AWQ_CODEC_SPLIT, "x chunk %zu split", c);
    CHECK(o->chunks[o->layout[1].first_chunk].codec != AWQ_CODEC_SHUFFLE, "ids not shuffled");
    awq_object_free(o);
    awq_store_close(s);
    setenv("AWQ_STORE_CODEC", "lz4", 1);
    awq_store *bad = NULL;
    CHECK(awq_store_open(&bad, t_path("store"), 1) == AWQ_ERR_ARG && !bad && strstr(awq_errmsg(), "AWQ_STORE_CODEC=lz4") &&
              strstr(awq_errhint(), "split"), "a bad codec name: %s", awq_errmsg());
    unsetenv("AWQ_STORE_CODEC");
    free_tensor(&t[0]);
    free_tensor(&t[1]);
}

/* ---------------------------------------------------------------- old formats */

/* The committed objects of format versions 1 and 2 (tests/golden/objects/README.md), copied
 * into a store under their keys: they verify, and get returns exactly the data they were written
 * from. */
static awq_store *old_store(const char *file, const char *hex, awq_key *k, char **path)
{
    size_t len;
    uint8_t *b = t_read_file(file, &len);
    if (!b) return NULL;
    awq_store *s = open_store(t_path("store-%s", hex), 2);
    awq_key_parse(k, hex);
    *path = awq_store_path(s, k);
    char *dir = strndup(*path, (size_t)(strrchr(*path, '/') - *path));
    mkdir(dir, 0777);
    free(dir);
    if (t_write_file(*path, b, len) != 0) t_failf(__FILE__, __LINE__, "copy", "cannot write '%s'", *path);
    free(b);
    return s;
}

static void old_object(unsigned version, const char *hex, const char *recipe, size_t file_len)
{
    awq_key k;
    char *path = NULL, file[128];
    snprintf(file, sizeof file, "tests/golden/objects/v%u/%s", version, hex);
    awq_store *s = old_store(file, hex, &k, &path);
    if (!s) {
        t_skip("%s not found (run from the repository root)", file);
        return;
    }
    CHECK(awq_store_verify(s, &k) == AWQ_OK, "verify a v%u object: %s", version, awq_errmsg());
    awq_object *o = NULL;
    REQUIRE(awq_store_get(s, &k, &o) == AWQ_OK && o, "get a v%u object: %s", version, awq_errmsg());
    CHECK(strcmp(o->kind, "act") == 0 && strcmp(o->recipe, recipe) == 0, "kind/recipe");
    const awq_tensor *w = awq_object_tensor(o, "w"), *ids = awq_object_tensor(o, "ids"), *e = awq_object_tensor(o, "e");
    REQUIRE(w && ids && e && o->n_tensors == 3, "tensors w, ids, e");
    CHECK(w->dtype == AWQ_DT_F16 && w->ndim == 2 && w->shape[0] == 2304 && w->shape[1] == 1024, "w's dtype and shape");
    size_t bad = 0;
    for (size_t i = 0; i < 2304 * 1024; i++) {
        uint16_t v;
        memcpy(&v, (const uint8_t *)w->data + 2 * i, 2);
        bad += v != (uint16_t)(0x3c00 | (i * 7) % 251);
    }
    CHECK(bad == 0, "w differs from its pattern in %zu elements", bad);
    static const uint8_t want_ids[12] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
    CHECK(ids->nbytes == 12 && memcmp(ids->data, want_ids, 12) == 0, "ids");
    CHECK(e->dtype == AWQ_DT_BF16 && e->nbytes == 0 && e->ndim == 2 && e->shape[1] == 3, "e");
    CHECK(o->version == version, "read as version %u", o->version);
    for (size_t c = 0; c < o->n_chunks; c++)
        CHECK(o->chunks[c].codec == (c < 2 ? AWQ_CODEC_SHUFFLE : AWQ_CODEC_ZSTD), "chunk %zu: codec %s", c,
              awq_codec_name((awq_codec)o->chunks[c].codec));
    awq_object_free(o);
    /* The cheap check passes (for version 1, which has no checksums of its stored bytes, it is
     * a full verify), and it finds damage the header cannot show. */
    CHECK(awq_store_check(s, &k) == AWQ_OK, "check a v%u object: %s", version, awq_errmsg());
    CHECK(awq_stage_cached(s, &k), "a v%u object is cached", version);
    size_t len;
    uint8_t *b = t_read_file(path, &len);
    REQUIRE(b && len == file_len, "read back %zu bytes, want %zu", len, file_len);
    b[len - 3] ^= 0x04; /* in the last chunk: ids' (21 bytes stored; e has none) */
    REQUIRE(t_write_file(path, b, len) == 0, "damage");
    EXPECT_DAMAGED(s, &k, AWQ_ERR_CHECKSUM, "chunk 0 of tensor 'ids'");
    free(b);
    free(path);
    awq_store_close(s);
}

static void t_v1_object(void) { old_object(1, "3d5d3a1e104192836f02dc015c156c47", "stage=v1-fixture\nalgo_version=1\n", 1238); }
static void t_v2_object(void) { old_object(2, "85139597729a9293a215f9d65f53aaba", "stage=v2-fixture\nalgo_version=1\n", 1295); }

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child-put") == 0) return child_put(argc, argv);
    static const t_case cases[] = {
        {"key_vectors", t_key_vectors},
        {"key_hex_parse", t_key_hex_parse},
        {"recipe", t_recipe},
        {"roundtrip_every_dtype", t_roundtrip_every_dtype},
        {"fast_level", t_fast_level},
        {"threads_give_identical_files", t_threads_give_identical_files},
        {"bad_arguments", t_bad_arguments},
        {"damage_is_detected", t_damage_is_detected},
        {"flip_every_byte", t_flip_every_byte},
        {"header_semantics", t_header_semantics},
        {"foreign_files", t_foreign_files},
        {"killed_writer", t_killed_writer},
        {"nfs_safe_atomic_link", t_nfs_safe_atomic_link},
        {"concurrent_puts", t_concurrent_puts},
        {"damaged_object_is_rebuilt", t_damaged_object_is_rebuilt},
        {"lost_objects", t_lost_objects},
        {"gc_age_and_keep", t_gc_age_and_keep},
        {"disk_full_tmpfs", t_disk_full_tmpfs},
        {"file_size_limit", t_file_size_limit},
        {"fuzz_seeds_are_objects", t_fuzz_seeds_are_objects},
        {"v1_object", t_v1_object},
        {"v2_object", t_v2_object},
        {"codecs", t_codecs},
        {"store_codec_env", t_store_codec_env},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
