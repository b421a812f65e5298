/* bench-store.c - awq-bench-store: what "is this object cached?" costs. Puts one activation-sized
 * object (F16 [rows, 4096], per-channel log-normal scales with a few outlier channels, like the
 * captured inputs of a block) into a temporary store, then times on 1..N threads:
 *   check   awq_store_check: header + XXH3-64 of every chunk's compressed bytes (the stages' test)
 *   verify  awq_store_verify: decompress every chunk and check its raw checksum (the old test)
 *   get     awq_store_get: the same into fresh memory (the read that follows a cache hit)
 * and prints a table: MB/s of raw bytes, verify/check, and what a cache hit followed by the read
 * costs before (verify + get) and after (check + get). The file stays in the page cache (warm):
 * the figure is CPU work, not the disk. Each time is the median of --reps runs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../base/half.h"
#include "../cache/store.h"
#include "../stages/common/log.h"
#include "../stages/common/opts.h"

#define PROG "awq-bench-store"

enum { COLS = 4096 };

static int g_mib = 64, g_reps = 5, g_threads = 0;
static const char *g_dir = NULL;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *x) { return ((double)(splitmix(x) >> 11) + 0.5) / 9007199254740992.0; }

/* Activation-like halves: channel c has scale exp(0.5 g_c), 0.5% of channels x50. */
static void fill_act(uint16_t *a, size_t rows)
{
    double scale[COLS];
    uint64_t s = 42;
    for (int c = 0; c < COLS; c++) {
        double g = sqrt(-2 * log(unit(&s))) * cos(6.283185307179586 * unit(&s));
        scale[c] = exp(0.5 * g) * (unit(&s) < 0.005 ? 50 : 1);
    }
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < COLS; c++) {
            double g = sqrt(-2 * log(unit(&s))) * cos(6.283185307179586 * unit(&s));
            a[r * COLS + c] = awq_f32_to_f16((float)(g * scale[c]));
        }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef enum { OP_CHECK, OP_VERIFY, OP_GET } op;

/* Median seconds of g_reps runs of one operation. -1 when it fails (message recorded). */
static double time_op(awq_store *s, const awq_key *k, op which)
{
    double t[64];
    int n = g_reps < 64 ? g_reps : 64;
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        awq_object *o = NULL;
        awq_err e = which == OP_CHECK ? awq_store_check(s, k) : which == OP_VERIFY ? awq_store_verify(s, k) : awq_store_get(s, k, &o);
        t[i] = now_s() - t0;
        awq_object_free(o);
        if (e != AWQ_OK) return -1;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

int main(int argc, char **argv)
{
    const awq_opt opts[] = {
        {"mib", 0, AWQ_OPT_INT, &g_mib, "N", "raw size of the object in MiB (rows of 4096 halves)", 0},
        {"reps", 0, AWQ_OPT_INT, &g_reps, "N", "runs per figure (the median is shown; at most 64)", 0},
        {"threads", 'j', AWQ_OPT_INT, &g_threads, "N", "largest thread count to time (0 = all cores); 1, 2, 4... up to it", 0},
        {"store", 0, AWQ_OPT_STRING, &g_dir, "DIR", "store directory (default: a temporary one, removed afterwards)", 0},
        {0}};
    awq_cli cli = {PROG, "time the cheap cache check against the full verify and read of an object", NULL,
                   "Example (docs/PERFORMANCE.md): awq-bench-store --mib 64 --reps 7", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(PROG, argc, argv);
    if (g_mib < 1 || g_mib > 65536 || g_reps < 1 || g_threads < 0) {
        awq_fail(AWQ_ERR_ARG, "--mib %d, --reps %d, --threads %d: want 1-65536 MiB, at least 1 run, 0 or more threads", g_mib,
                 g_reps, g_threads);
        awq_hint("for example: %s --mib 64 --reps 5", PROG);
        awq_report(PROG);
        return 2;
    }
    int max_threads = g_threads ? g_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    char tmpl[] = "/tmp/awq-bench-store-XXXXXX", *dir = (char *)g_dir;
    if (!dir && !(dir = mkdtemp(tmpl))) {
        awq_fail_errno(errno, "cannot make a temporary directory under /tmp");
        awq_report(PROG);
        return 1;
    }

    size_t rows = (size_t)g_mib * (1u << 20) / (2 * COLS);
    awq_tensor t = {.name = "x", .dtype = AWQ_DT_F16, .ndim = 2, .shape = {(int64_t)rows, COLS}, .nbytes = rows * COLS * 2};
    t.data = malloc(t.nbytes);
    awq_store *s = NULL;
    awq_key k = awq_key_of_bytes("awq-bench-store", 15);
    awq_err e = t.data ? awq_store_open(&s, dir, 0) : awq_fail(AWQ_ERR_NOMEM, "out of memory for %zu bytes", t.nbytes);
    if (e == AWQ_OK) {
        fill_act(t.data, rows);
        e = awq_store_put(s, &k, "act", "stage=bench\n", &t, 1);
    }
    awq_object *h = NULL;
    char *path = s ? awq_store_path(s, &k) : NULL;
    if (e == AWQ_OK) e = path ? awq_object_read_header(path, &h, NULL) : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (e != AWQ_OK) {
        awq_report(PROG);
        return 1;
    }
    double mb = (double)t.nbytes / 1e6;
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    printf("object: F16 [%zu,%d] activation-like, %.1f MiB raw, %.1f MiB stored (%zu chunks, format %u); page cache warm\n",
           rows, COLS, (double)t.nbytes / (1 << 20), (double)h->file_size / (1 << 20), h->n_chunks, h->version);
    printf("host %s, %ld cores; median of %d runs; MB/s of raw bytes (1 MB = 10^6 B)\n", host, sysconf(_SC_NPROCESSORS_ONLN), g_reps);
    printf("threads |  check MB/s  verify MB/s   get MB/s | verify/check | hit+read before  after   ratio\n");
    for (int nt = 1; nt <= max_threads && e == AWQ_OK; nt = nt * 2 > max_threads && nt < max_threads ? max_threads : nt * 2) {
        awq_store *st = NULL;
        if ((e = awq_store_open(&st, dir, nt)) != AWQ_OK) break;
        double tc = time_op(st, &k, OP_CHECK), tv = time_op(st, &k, OP_VERIFY), tg = time_op(st, &k, OP_GET);
        awq_store_close(st);
        if (tc < 0 || tv < 0 || tg < 0) { e = awq_errcode(); break; }
        printf("%7d | %11.0f %12.0f %10.0f | %11.1fx | %12.1f ms %6.1f ms %5.2fx\n", nt, mb / tc, mb / tv, mb / tg, tv / tc,
               1e3 * (tv + tg), 1e3 * (tc + tg), (tv + tg) / (tc + tg));
    }
    awq_object_free(h);
    if (!g_dir) { /* our temporary store: the object, its fan-out directory, objects/, the root */
        unlink(path);
        *strrchr(path, '/') = 0;
        rmdir(path);
        *strrchr(path, '/') = 0;
        rmdir(path);
        rmdir(dir);
    }
    free(path);
    awq_store_close(s);
    free(t.data);
    if (e != AWQ_OK) {
        awq_report(PROG);
        return 1;
    }
    return 0;
}
