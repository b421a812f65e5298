/* bench-sgemm.c - awq-bench-sgemm: the CPU's fp32 GEMM rate, the reference that `make bench-cpu`
 * (tools/bench-cpu.sh) holds the CPU pipeline to. For each shape MxNxK it times
 *   sgemm   one cblas_sgemm (row-major y[M,N] = x[M,K] w[N,K]^T, the linear layer's form) with
 *           OpenBLAS's own threads (--threads, default every core): the library's peak
 *   matmul  the CPU backend's matmul op on the same operands: single-threaded sgemm on fixed
 *           256 x 256 tiles spread over OpenMP threads (what every search GEMM runs)
 * and prints one line per shape and kind: GFLOP/s of the best run and of the median (2MNK FLOPs).
 * Operands are random in [-1, 1); one untimed run first. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../kernels/kernels.h"
#include "../base/error.h"
#include "../stages/common/log.h"
#include "../stages/common/opts.h"

#define PROG "awq-bench-sgemm"

static int g_threads = 0, g_reps = 5;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best and median seconds of g_reps runs of one kind (0 sgemm, 1 matmul op) after a warm-up. */
static int time_kind(int kind, const awq_backend *be, float *y, const float *x, const float *w, int m, int n, int k,
                     double *best, double *median)
{
    double t[64];
    for (int r = -1; r < g_reps; r++) {
        double t0 = now_s();
        if (kind == 0) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
        } else if (be->matmul(be->ctx, y, x, (kern_weight){w, KERN_F32}, KERN_NO_WEIGHT, (size_t)m, (size_t)n, (size_t)k, 0) != KERN_OK) {
            return -1;
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    qsort(t, (size_t)g_reps, sizeof t[0], cmp_double);
    *best = t[0], *median = t[g_reps / 2];
    return 0;
}

int main(int argc, char **argv)
{
    const awq_opt opts[] = {
        {"threads", 'j', AWQ_OPT_INT, &g_threads, "N", "threads of both kinds (0 = every core)", 0},
        {"reps", 0, AWQ_OPT_INT, &g_reps, "N", "timed runs per figure (at most 64)", 0},
        {0}};
    awq_cli cli = {PROG, "time OpenBLAS sgemm and the CPU matmul op on GEMM shapes MxNxK", "[MxNxK...]",
                   "Default shapes: 2048x2048x2048 (the peak) and 65536x256x64 (a search GEMM of stories260K-ffn256:\n"
                   "gate/up_proj over 128 x 512 tokens). Example: awq-bench-sgemm --threads 2 2048x2048x2048", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(PROG, argc, argv);
    if (g_threads < 0 || g_reps < 1 || g_reps > 64) {
        awq_fail(AWQ_ERR_ARG, "--threads %d, --reps %d: want 0 or more threads and 1-64 runs", g_threads, g_reps);
        awq_hint("for example: %s --threads 2 --reps 5", PROG);
        awq_report(PROG);
        return 2;
    }
    static const char *defaults[] = {"2048x2048x2048", "65536x256x64"};
    const char **shapes = cli.n_positional ? (const char **)cli.positional : defaults;
    const int n_shapes = cli.n_positional ? cli.n_positional : 2;
    const int threads = g_threads ? g_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    const awq_backend *be = awq_backend_cpu();
    printf("kind\tshape\tthreads\tbest_gflops\tmedian_gflops\n");
    for (int s = 0; s < n_shapes; s++) {
        int m, n, k;
        char tail;
        if (sscanf(shapes[s], "%dx%dx%d%c", &m, &n, &k, &tail) != 3 || m < 1 || n < 1 || k < 1 || m > 1 << 20 ||
            n > 1 << 16 || k > 1 << 16) {
            awq_fail(AWQ_ERR_ARG, "shape '%s' is not MxNxK with M <= 2^20, N and K <= 2^16", shapes[s]);
            awq_hint("for example: %s 2048x2048x2048 65536x256x64", PROG);
            awq_report(PROG);
            return 2;
        }
        size_t nx = (size_t)m * k, nw = (size_t)n * k, ny = (size_t)m * n;
        float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *y = malloc(ny * sizeof *y);
        if (!x || !w || !y) {
            awq_fail(AWQ_ERR_NOMEM, "out of memory for the shape '%s'", shapes[s]);
            awq_report(PROG);
            return 1;
        }
        uint64_t r = 12345;
        for (size_t e = 0; e < nx; e++) x[e] = (float)((r = r * 6364136223846793005ull + 1442695040888963407ull) >> 40) / 8388608.0f - 1.0f;
        for (size_t e = 0; e < nw; e++) w[e] = (float)((r = r * 6364136223846793005ull + 1442695040888963407ull) >> 40) / 8388608.0f - 1.0f;
        const double flops = 2.0 * m * (double)n * k;
        for (int kind = 0; kind < 2; kind++) {
            /* the matmul op sets OpenBLAS to one thread itself (kernels/cpu/blas.c); sgemm gets them all */
            if (kind == 0) openblas_set_num_threads(threads);
            double best, median;
            if (time_kind(kind, be, y, x, w, m, n, k, &best, &median) != 0) {
                awq_fail(AWQ_ERR_DEVICE, "the matmul op failed on '%s'", shapes[s]);
                awq_report(PROG);
                return 1;
            }
            printf("%s\t%s\t%d\t%.1f\t%.1f\n", kind ? "matmul" : "sgemm", shapes[s], threads, flops / best / 1e9, flops / median / 1e9);
            fflush(stdout);
        }
        free(x), free(w), free(y);
    }
    return 0;
}
