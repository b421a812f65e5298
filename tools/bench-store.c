/* bench-store.c - awq-bench-store: what storing and reading an activation object costs, per chunk
 * codec. Puts one activation-sized object (F16 [rows, 4096], per-channel log-normal scales with a
 * few outlier channels, like the captured inputs of a block; or --input FILE, raw F16 bytes such
 * as `awq-obj cat KEY x` of a real act object) into a temporary store with each codec (chosen per
 * chunk as the stages do, then each one forced), and times on 1..N threads:
 *   put     awq_store_put of a new object: encode + write into the page cache (no fsync)
 *   get     awq_store_get: check, decode and verify into fresh memory (what a step's read costs)
 *   verify  awq_store_verify: the same without keeping the data
 *   check   awq_store_check: header + XXH3-64 of every chunk's stored bytes ("is it cached?")
 * and prints a table: MB/s of raw bytes and the ratio raw / stored. The file stays in the page
 * cache (warm): the figure is CPU work and memory traffic, not the disk. Each time is the median
 * of --reps runs. */
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
static const char *g_dir = NULL, *g_input = NULL;

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

typedef enum { OP_PUT, OP_GET, OP_VERIFY, OP_CHECK } op;

/* Median seconds of g_reps runs of one operation on object k (t: its tensor, for put, which
 * first removes the object so that each run writes it). -1 when it fails (message recorded). */
static double time_op(awq_store *s, const awq_key *k, const awq_tensor *t, op which)
{
    double sec[64];
    int n = g_reps < 64 ? g_reps : 64;
    char *path = awq_store_path(s, k);
    if (!path) return -1;
    for (int i = 0; i < n; i++) {
        if (which == OP_PUT) unlink(path);
        double t0 = now_s();
        awq_object *o = NULL;
        awq_err e = which == OP_PUT      ? awq_store_put(s, k, "act", "stage=bench\n", t, 1)
                  : which == OP_CHECK    ? awq_store_check(s, k)
                  : which == OP_VERIFY   ? awq_store_verify(s, k)
                                         : awq_store_get(s, k, &o);
        sec[i] = now_s() - t0;
        awq_object_free(o);
        if (e != AWQ_OK) { free(path); return -1; }
    }
    free(path);
    qsort(sec, (size_t)n, sizeof *sec, cmp_double);
    return sec[n / 2];
}

/* The tensor's data: --input's bytes, or activation-like halves of --mib MiB. */
static awq_err load_data(awq_tensor *t)
{
    size_t cols = COLS, rows = (size_t)g_mib * (1u << 20) / (2 * COLS);
    if (g_input) {
        FILE *f = fopen(g_input, "rb");
        if (!f) return awq_fail_errno(errno, "cannot open '%s'", g_input);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        rows = len > 0 ? (size_t)len / 2 : 0, cols = 1;
        if (!rows || !(t->data = malloc(rows * 2)) || fread(t->data, 2, rows, f) != rows) {
            fclose(f);
            awq_fail(AWQ_ERR_IO, "cannot read F16 values from '%s'", g_input);
            awq_hint("give raw F16 bytes, e.g. awq-obj cat KEY x > FILE");
            return AWQ_ERR_IO;
        }
        fclose(f);
    } else if ((t->data = malloc(rows * cols * 2))) {
        fill_act(t->data, rows);
    }
    *t = (awq_tensor){.name = "x", .dtype = AWQ_DT_F16, .ndim = 2, .shape = {(int64_t)rows, (int64_t)cols},
                      .data = t->data, .nbytes = rows * cols * 2};
    return t->data ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory for %zu bytes", rows * cols * 2);
}

int main(int argc, char **argv)
{
    const awq_opt opts[] = {
        {"mib", 0, AWQ_OPT_INT, &g_mib, "N", "raw size of the synthetic object in MiB (rows of 4096 halves)", 0},
        {"input", 0, AWQ_OPT_STRING, &g_input, "FILE", "raw F16 values to store instead (e.g. awq-obj cat KEY x)", 0},
        {"reps", 0, AWQ_OPT_INT, &g_reps, "N", "runs per figure (the median is shown; at most 64)", 0},
        {"threads", 'j', AWQ_OPT_INT, &g_threads, "N", "largest thread count to time (0 = all cores); 1, 2, 4... up to it", 0},
        {"store", 0, AWQ_OPT_STRING, &g_dir, "DIR", "store directory (default: a temporary one, removed afterwards)", 0},
        {0}};
    awq_cli cli = {PROG, "time put, get, verify and check of an activation object for each chunk codec", NULL,
                   "Example (docs/PERFORMANCE.md): awq-bench-store --mib 256 --reps 5", 0, 0};
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
    awq_tensor t = {0};
    awq_err e = load_data(&t);
    awq_store *s = NULL;
    if (!e) e = awq_store_open(&s, dir, 0);
    if (e) {
        awq_report(PROG);
        return 1;
    }
    const double mb = (double)t.nbytes / 1e6;
    char host[64] = "?";
    double load[3] = {0, 0, 0};
    gethostname(host, sizeof host - 1);
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("object: F16 [%lld,%lld] %s, %.1f MiB raw (%zu chunks); page cache warm\n", (long long)t.shape[0],
           (long long)t.shape[1], g_input ? g_input : "activation-like", (double)t.nbytes / (1 << 20),
           (t.nbytes + AWQ_CHUNK - 1) / AWQ_CHUNK);
    printf("host %s, %ld cores, load average %.2f %.2f %.2f; median of %d runs; MB/s of raw bytes (1 MB = 10^6 B)\n", host,
           sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2], g_reps);
    printf("codec    threads  ratio |   put MB/s   get MB/s  verify MB/s  check MB/s\n");
    char *path = NULL;
    for (int force = 0; force <= AWQ_CODEC__COUNT && e == AWQ_OK; force++) {
        awq_key k = awq_key_of_bytes(&force, sizeof force);
        free(path);
        path = awq_store_path(s, &k);
        for (int nt = 1; nt <= max_threads && e == AWQ_OK; nt = nt * 2 > max_threads && nt < max_threads ? max_threads : nt * 2) {
            awq_store *st = NULL;
            if ((e = awq_store_open(&st, dir, nt)) != AWQ_OK ||
                (e = awq_store_set_codec(st, force ? awq_codec_name((awq_codec)(force - 1)) : "auto")) != AWQ_OK) {
                awq_store_close(st);
                break;
            }
            double tp = time_op(st, &k, &t, OP_PUT), tg = time_op(st, &k, &t, OP_GET), tv = time_op(st, &k, &t, OP_VERIFY),
                   tc = time_op(st, &k, &t, OP_CHECK);
            awq_store_close(st);
            awq_object *h = NULL;
            if (tp < 0 || tg < 0 || tv < 0 || tc < 0 || (e = awq_object_read_header(path, &h, NULL)) != AWQ_OK) {
                e = awq_errcode();
                break;
            }
            printf("%-8s %7d %6.3f | %10.0f %10.0f %12.0f %11.0f\n", force ? awq_codec_name((awq_codec)(force - 1)) : "chosen",
                   nt, (double)t.nbytes / (double)h->file_size, mb / tp, mb / tg, mb / tv, mb / tc);
            awq_object_free(h);
        }
        if (!g_dir) unlink(path);
    }
    if (!g_dir && path) { /* our temporary store: the fan-out directories, objects/, the root */
        char *objects = NULL;
        if (asprintf(&objects, "%s/objects", dir) > 0) {
            for (int i = 0; i < 256; i++) {
                char sub[16];
                snprintf(sub, sizeof sub, "/%02x", i);
                char *d = NULL;
                if (asprintf(&d, "%s%s", objects, sub) > 0) rmdir(d);
                free(d);
            }
            rmdir(objects);
        }
        free(objects);
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
