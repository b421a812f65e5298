/* bench-kernels.c - awq-bench-kernels: times the ops of a kernels backend on W7 shapes (Llama-2-7B:
 * hidden 4096, ffn 11008, 32 heads of 128, sequences of 512 tokens, w4 g128, clip grid 20) and
 * prints one tab-separated line per op: time, achieved TFLOP/s or GB/s, and the ratio to the
 * reference rate measured in the same run (on CUDA: bare cuBLAS GEMMs of 8192^3 in fp16 and fp32
 * and a device-to-device copy; on the CPU: the fp32 matmul op at 2048^3 and a copy).
 * Times are the median of 3 trials of --reps back-to-back calls between two syncs, after a
 * warm-up call; inputs are random (never zeros). FLOPs count the work the op does (attention:
 * both full t x t products, the causal half included); bytes the least traffic (each input read
 * once, each output written once). Two pairs of lines time the mlp op against the four ops it
 * replaced (matmul gate, up, silu_mul, matmul down) and the attn op (the self-attention module,
 * Llama-2-7B: 32 kv heads) against its eight (matmul q, k, v, rope q, k, attention, matmul o);
 * a comment line gives each ratio. --moe times instead the routed experts of a Qwen3-30B-A3B
 * block (128 experts of C 2048, Fe 768, top-8: --seqs x 512 tokens, 8 routed rows each, spread
 * unevenly over the experts) as one mlp_grouped op and as one mlp op per expert (what moe.c
 * ran before the op). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../kernels/device.h"
#include "../base/half.h"
#include "../kernels/kernels.h"
#include "../kernels/quant.h"
#include "../stages/common/device.h"
#include "../stages/common/log.h"
#include "../stages/common/opts.h"

#define PROG "awq-bench-kernels"

enum { C = 4096, F = 11008, HEADS = 32, HD = 128, SEQ = 512, GROUP = 128, NGRID = 20 };

static const char *g_device = "auto";
static int g_reps = 5, g_seqs = 8, g_moe = 0;

static const awq_opt g_opts[] = {
    {"device", 0, AWQ_OPT_STRING, &g_device, "cpu|cuda|auto", "backend to time", 0},
    {"seqs", 0, AWQ_OPT_INT, &g_seqs, "N", "sequences of 512 tokens in the activation batch", 0},
    {"reps", 0, AWQ_OPT_INT, &g_reps, "N", "calls per timed trial", 0},
    {"moe", 0, AWQ_OPT_FLAG, &g_moe, NULL, "time the routed experts of a Qwen3-30B-A3B block instead: mlp_grouped vs mlp per expert", 0},
    {0},
};

/* the benchmark's buffers (backend memory) */
typedef struct bufs {
    size_t n;                   /* tokens */
    float *x, *y, *u, *q, *k, *v, *o, *xc, *w32, *w32b, *deq, *scales, *mv, *loss;
    void *wg16, *wd16;          /* F16 [F, C] and [C, F] */
    int32_t *pos, *best;
    uint8_t *codes, *zeros;
} bufs;

typedef struct op_def {
    const char *name, *shape;
    double flops, bytes;        /* one of them is 0 */
    int ref;                    /* 0: fp16 GEMM peak, 1: fp32 GEMM peak, 2: copy bandwidth */
} op_def;

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float rnd(float lo, float hi)
{
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return lo + (hi - lo) * (float)(g_rng >> 40) * 0x1p-24f;
}

/* backend buffer of n floats from [lo, hi), as fp16 values when f16 */
static awq_err put_floats(const awq_backend *be, float **dst, size_t n, float lo, float hi, int f16)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of host memory (%zu floats)", n);
    for (size_t e = 0; e < n; e++) h[e] = f16 ? awq_round_f16(rnd(lo, hi)) : rnd(lo, hi);
    kern_status st = be->alloc(be->ctx, (void **)dst, n * sizeof *h);
    if (st == KERN_OK) st = be->upload(be->ctx, *dst, h, n * sizeof *h);
    free(h);
    return st == KERN_OK ? AWQ_OK : awq_fail(AWQ_ERR_DEVICE, "%s buffer of %zu floats: %s", be->name, n, kern_strerror(st));
}

static awq_err put_f16(const awq_backend *be, void **dst, size_t n)
{
    uint16_t *h = malloc(n * sizeof *h);
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of host memory (%zu halves)", n);
    for (size_t e = 0; e < n; e++) h[e] = awq_f32_to_f16(rnd(-0.05f, 0.05f));
    kern_status st = be->alloc(be->ctx, dst, n * sizeof *h);
    if (st == KERN_OK) st = be->upload(be->ctx, *dst, h, n * sizeof *h);
    free(h);
    return st == KERN_OK ? AWQ_OK : awq_fail(AWQ_ERR_DEVICE, "%s buffer of %zu halves: %s", be->name, n, kern_strerror(st));
}

static awq_err put_raw(const awq_backend *be, void **dst, size_t bytes)
{
    kern_status st = be->alloc(be->ctx, dst, bytes);
    return st == KERN_OK ? AWQ_OK : awq_fail(AWQ_ERR_DEVICE, "%s buffer of %zu bytes: %s", be->name, bytes, kern_strerror(st));
}

static awq_err bufs_init(const awq_backend *be, bufs *b, size_t n)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    size_t nc = kern_clip_candidates(NGRID, 0.5), G = C / GROUP;
    awq_err e = AWQ_OK;
    if (!e) e = put_floats(be, &b->x, n * F, -2, 2, 1);
    if (!e) e = put_raw(be, (void **)&b->y, n * F * sizeof(float));
    if (!e) e = put_raw(be, (void **)&b->u, n * F * sizeof(float)); /* the mlp's second scratch */
    if (!e) e = put_floats(be, &b->q, n * C, -2, 2, 1);
    if (!e) e = put_floats(be, &b->k, n * C, -2, 2, 1);
    if (!e) e = put_floats(be, &b->v, n * C, -1, 1, 1);
    if (!e) e = put_raw(be, (void **)&b->o, n * C * sizeof(float));
    if (!e) e = put_floats(be, &b->xc, (size_t)SEQ * F, -2, 2, 1); /* the clip search's 512 sampled tokens */
    if (!e) e = put_floats(be, &b->w32, (size_t)F * C, -0.05f, 0.05f, 1);
    if (!e) e = put_floats(be, &b->w32b, (size_t)F * C, -0.05f, 0.05f, 1);
    if (!e) e = put_raw(be, (void **)&b->deq, (size_t)F * C * sizeof(float));
    if (!e) e = put_f16(be, &b->wg16, (size_t)F * C);
    if (!e) e = put_f16(be, &b->wd16, (size_t)C * F);
    if (!e) e = put_raw(be, (void **)&b->scales, (size_t)F * (F / GROUP) * sizeof(float));
    if (!e) e = put_raw(be, (void **)&b->zeros, (size_t)F * (F / GROUP));
    if (!e) e = put_raw(be, (void **)&b->codes, (size_t)F * C);
    if (!e) e = put_raw(be, (void **)&b->mv, (size_t)F * (F / GROUP) * sizeof(float));
    if (!e) e = put_raw(be, (void **)&b->loss, (size_t)F * G * nc * sizeof(float));
    if (!e) e = put_raw(be, (void **)&b->best, (size_t)F * (F / GROUP) * sizeof(int32_t));
    if (!e) {
        int32_t *pos = malloc(n * sizeof *pos);
        if (!pos) return awq_fail(AWQ_ERR_NOMEM, "out of host memory");
        for (size_t r = 0; r < n; r++) pos[r] = (int32_t)(r % SEQ);
        e = put_raw(be, (void **)&b->pos, n * sizeof *pos);
        if (!e && be->upload(be->ctx, b->pos, pos, n * sizeof *pos) != KERN_OK) e = awq_fail(AWQ_ERR_DEVICE, "upload");
        free(pos);
    }
    return e;
}

static void bufs_free(const awq_backend *be, bufs *b)
{
    void *all[] = {b->x, b->y, b->u, b->q, b->k, b->v, b->o, b->xc, b->w32, b->w32b, b->deq, b->scales, b->mv,
                   b->loss, b->wg16, b->wd16, b->pos, b->best, b->codes, b->zeros};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->free(be->ctx, all[i]);
}

static const kern_rope ROPE = {.theta = 10000.0f};

/* the MLP and the attention module as one op and as the ops they replaced: their times are also
 * printed as ratios */
enum { OP_MLP = 19, OP_MLP_SPLIT = 20, OP_ATTN = 21, OP_ATTN_SPLIT = 22 };

/* one call of op k */
static kern_status run_op(const awq_backend *be, bufs *b, int k)
{
    awq_backend_ctx *c = be->ctx;
    size_t n = b->n;
    kern_weight wg = {b->wg16, KERN_F16}, wd = {b->wd16, KERN_F16};
    const float *stack[2] = {b->w32, b->w32b};
    const size_t rows[2] = {F, F};
    switch (k) {
    case 0: return be->matmul(c, b->y, b->x, wg, KERN_NO_WEIGHT, n, F, C, 1);
    case 1: return be->matmul(c, b->y, b->x, wd, KERN_NO_WEIGHT, n, C, F, 1);
    case 2: return be->matmul(c, b->y, b->x, wd, KERN_NO_WEIGHT, n, C, C, 1);
    case 3: return be->matmul(c, b->y, b->x, wg, KERN_NO_WEIGHT, n, F, C, 0);
    case 4: return be->attention(c, b->o, b->q, b->k, b->v, n / SEQ, SEQ, HEADS, HEADS, HD, HD, kern_attention_scale(HD), 0, 0, 1);
    case 5: return be->attention(c, b->o, b->q, b->k, b->v, n / SEQ, SEQ, HEADS, HEADS, HD, HD, kern_attention_scale(HD), 0, 0, 0);
    case 6: return be->rmsnorm(c, b->y, b->q, wg, n, C, 1e-5f, 1);
    case 7: return be->rope(c, b->q, b->pos, n, HEADS, HD, &ROPE, 1);
    case 8: return be->silu_mul(c, b->y, b->x, b->x, n * F, 1);
    case 9: return be->add(c, b->o, b->q, b->k, n * C, 1);
    case 10: return be->mean_abs(c, b->o, b->q, n, C, 1);
    case 11: return be->round_f16(c, b->q, n * C);
    case 12: { size_t at; return be->check_f16(c, b->q, n * C, &at); }
    case 13: return be->quantize(c, b->deq, b->codes, b->scales, b->zeros, b->w32, NULL, F, C, GROUP, 4, 1);
    case 14: return be->w_mean(c, b->o, stack, rows, 2, C, GROUP, 1);
    case 15: return be->clip_search(c, b->mv, b->best, b->loss, b->w32, b->xc, F, C, SEQ, GROUP, 4, NGRID, 0.5, 1);
    case 16: return be->clip_search(c, b->mv, b->best, b->loss, b->w32, b->xc, C, F, SEQ, GROUP, 4, NGRID, 0.5, 1);
    case 17: return be->clip_apply(c, b->deq, b->mv, F, C, GROUP);
    case 18: return be->clip_search(c, b->mv, b->best, b->loss, b->w32, b->xc, F, C, SEQ, GROUP, 4, NGRID, 0.5, 0);
    case OP_MLP: /* the scale search's MLP forward (gate and up share a weight here: the same work) */
        return be->mlp(c, b->o, NULL, b->q, wg, KERN_NO_WEIGHT, wg, KERN_NO_WEIGHT, wd, KERN_NO_WEIGHT, b->y, b->u, n, C,
                       F, KERN_ACT_SILU, 1);
    case OP_MLP_SPLIT: {
        kern_status st = be->matmul(c, b->y, b->q, wg, KERN_NO_WEIGHT, n, F, C, 1);
        if (st == KERN_OK) st = be->matmul(c, b->u, b->q, wg, KERN_NO_WEIGHT, n, F, C, 1);
        if (st == KERN_OK) st = be->silu_mul(c, b->y, b->y, b->u, n * F, 1);
        if (st == KERN_OK) st = be->matmul(c, b->o, b->y, wd, KERN_NO_WEIGHT, n, C, F, 1);
        return st;
    }
    case OP_ATTN: { /* the scale search's self_attn forward: q, k, v, o share a [C, C] weight (the same work);
                     * scratch: q, k in y, v and the attention output in u (each holds n*F > 2*n*C floats) */
        const kern_attn_w aw = {wg, wg, wg, wg, KERN_NO_WEIGHT, KERN_NO_WEIGHT, KERN_NO_WEIGHT, KERN_NO_WEIGHT,
                                KERN_NO_WEIGHT, KERN_NO_WEIGHT, .eps = 1e-6f};
        return be->attn(c, b->o, NULL, b->x, &aw, b->pos, &ROPE, b->y, b->y + n * C, b->u, b->u + n * C, n / SEQ, SEQ, C,
                        HEADS, HEADS, HD, 1);
    }
    case OP_ATTN_SPLIT: {
        float *sq = b->y, *sk = b->y + n * C, *sv = b->u, *satt = b->u + n * C;
        kern_status st = be->matmul(c, sq, b->x, wg, KERN_NO_WEIGHT, n, C, C, 1);
        if (st == KERN_OK) st = be->matmul(c, sk, b->x, wg, KERN_NO_WEIGHT, n, C, C, 1);
        if (st == KERN_OK) st = be->matmul(c, sv, b->x, wg, KERN_NO_WEIGHT, n, C, C, 1);
        if (st == KERN_OK) st = be->rope(c, sq, b->pos, n, HEADS, HD, &ROPE, 1);
        if (st == KERN_OK) st = be->rope(c, sk, b->pos, n, HEADS, HD, &ROPE, 1);
        if (st == KERN_OK) st = be->attention(c, satt, sq, sk, sv, n / SEQ, SEQ, HEADS, HEADS, HD, HD, kern_attention_scale(HD), 0, 0, 1);
        if (st == KERN_OK) st = be->matmul(c, b->o, satt, wg, KERN_NO_WEIGHT, n, C, C, 1);
        return st;
    }
    }
    return KERN_ERR_ARG;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median seconds of one call of op k (3 trials of reps calls) */
static awq_err time_op(const awq_backend *be, bufs *b, int k, int reps, double *sec)
{
    kern_status st = run_op(be, b, k);
    if (st == KERN_OK) st = be->sync(be->ctx);
    double t[3];
    for (int trial = 0; trial < 3 && st == KERN_OK; trial++) {
        double t0 = awq_now();
        for (int r = 0; r < reps && st == KERN_OK; r++) st = run_op(be, b, k);
        if (st == KERN_OK) st = be->sync(be->ctx);
        t[trial] = (awq_now() - t0) / reps;
    }
    if (st != KERN_OK)
        return awq_fail(st == KERN_ERR_NOMEM ? AWQ_ERR_NOMEM : AWQ_ERR_DEVICE, "op %d on %s: %s %s", k, be->name,
                        kern_strerror(st), kern_last_error());
    qsort(t, 3, sizeof t[0], cmp_double);
    *sec = t[1];
    return AWQ_OK;
}

/* reference rates: GEMM TFLOP/s (fp16, fp32) and copy GB/s (bytes read + written) */
static awq_err references(const awq_backend *be, bufs *b, double ref[3], double *bf16)
{
    *bf16 = 0;
    if (be->caps & KERN_CAP_CUDA) {
        const int m = 8192;
        double s = 0;
        kern_status st = awq_cuda_bench_gemm(be, KERN_F16, m, m, m, 10, &s);
        ref[0] = st == KERN_OK ? 2.0 * m * m * (double)m / s / 1e12 : 0;
        if (st == KERN_OK && (st = awq_cuda_bench_gemm(be, KERN_BF16, m, m, m, 10, &s)) == KERN_OK)
            *bf16 = 2.0 * m * m * (double)m / s / 1e12;
        if (st == KERN_OK && (st = awq_cuda_bench_gemm(be, KERN_F32, m, m, m, 5, &s)) == KERN_OK)
            ref[1] = 2.0 * m * m * (double)m / s / 1e12;
        if (st != KERN_OK) return awq_fail(AWQ_ERR_DEVICE, "cuBLAS reference GEMM: %s %s", kern_strerror(st), kern_last_error());
    } else { /* the CPU: its fp32 matmul op at 2048^3 stands for both */
        const size_t m = 2048;
        double t0 = awq_now();
        kern_status st = be->matmul(be->ctx, b->y, b->x, (kern_weight){b->w32, KERN_F32}, KERN_NO_WEIGHT, m, m, m, 0);
        if (st != KERN_OK) return awq_fail(AWQ_ERR_DEVICE, "cpu reference matmul: %s", kern_strerror(st));
        ref[0] = ref[1] = 2.0 * m * m * (double)m / (awq_now() - t0) / 1e12;
    }
    /* copy bandwidth: w32 -> deq (180 MB), 10 copies between syncs, best of 3 */
    size_t bytes = (size_t)F * C * sizeof(float);
    double best = 1e30;
    for (int trial = 0; trial < 3; trial++) {
        be->sync(be->ctx);
        double t0 = awq_now();
        for (int r = 0; r < 10; r++) be->copy(be->ctx, b->deq, b->w32, bytes);
        if (be->sync(be->ctx) != KERN_OK) return awq_fail(AWQ_ERR_DEVICE, "copy: %s", kern_last_error());
        double t = (awq_now() - t0) / 10;
        if (t < best) best = t;
    }
    ref[2] = 2.0 * (double)bytes / best / 1e9;
    return AWQ_OK;
}

static awq_err bench(const awq_backend *be)
{
    size_t n = (size_t)g_seqs * SEQ, nc = kern_clip_candidates(NGRID, 0.5);
    double fn = (double)n, f4 = 4.0;
    char sh[19][80];
    double mlp_s[2] = {0, 0}, attn_s[2] = {0, 0};
    snprintf(sh[0], 80, "%zux%dx%d", n, F, C), snprintf(sh[1], 80, "%zux%dx%d", n, C, F), snprintf(sh[2], 80, "%zux%dx%d", n, C, C);
    snprintf(sh[3], 80, "b=%d t=%d h=%d d=%d", g_seqs, SEQ, HEADS, HD);
    snprintf(sh[4], 80, "%zux%d", n, C), snprintf(sh[5], 80, "%zux%dx%d", n, HEADS, HD), snprintf(sh[6], 80, "%zux%d", n, F);
    snprintf(sh[7], 80, "o=%d i=%d g=%d t=%d", F, C, GROUP, SEQ), snprintf(sh[8], 80, "o=%d i=%d g=%d t=%d", C, F, GROUP, SEQ);
    snprintf(sh[9], 80, "%dx%d g=%d", F, C, GROUP), snprintf(sh[10], 80, "2x%dx%d g=%d", F, C, GROUP);
    snprintf(sh[11], 80, "n=%zu c=%d f=%d", n, C, F);
    snprintf(sh[12], 80, "b=%d t=%d c=%d h=%d hkv=%d d=%d", g_seqs, SEQ, C, HEADS, HEADS, HD);
    double attn = 4.0 * g_seqs * HEADS * (double)SEQ * SEQ * HD;
    const op_def ops[] = {
        {"matmul gate, faithful (fp16 tensor cores)", sh[0], 2.0 * fn * F * C, 0, 0},
        {"matmul down, faithful", sh[1], 2.0 * fn * F * C, 0, 0},
        {"matmul q, faithful", sh[2], 2.0 * fn * C * C, 0, 0},
        {"matmul gate, fp32 mode (fp32 GEMM)", sh[0], 2.0 * fn * F * C, 0, 1},
        {"attention, faithful", sh[3], attn, 0, 0},
        {"attention, fp32 mode", sh[3], attn, 0, 1},
        {"rmsnorm", sh[4], 0, 2 * f4 * fn * C, 2},
        {"rope", sh[5], 0, 2 * f4 * fn * C, 2},
        {"silu_mul", sh[6], 0, 3 * f4 * fn * F, 2},
        {"add", sh[4], 0, 3 * f4 * fn * C, 2},
        {"mean_abs", sh[4], 0, f4 * fn * C, 2},
        {"round_f16", sh[4], 0, 2 * f4 * fn * C, 2},
        {"check_f16", sh[4], 0, f4 * fn * C, 2},
        {"quantize (deq, codes, scales, zeros)", sh[9], 0, (double)F * C * 9, 2},
        {"w_mean (gate+up)", sh[10], 0, 2.0 * F * C * 4, 2},
        {"clip_search gate, faithful", sh[7], 2.0 * F * (double)nc * SEQ * C, 0, 0},
        {"clip_search down, faithful", sh[8], 2.0 * F * (double)nc * SEQ * C, 0, 0},
        {"clip_apply", sh[9], 0, 2.0 * F * C * 4, 2},
        {"clip_search gate, fp32 mode", sh[7], 2.0 * F * (double)nc * SEQ * C, 0, 1},
        {"mlp, faithful (one op; --seqs 11: the forward's 5632-row chunk)", sh[11], 3 * 2.0 * fn * F * C, 0, 0},
        {"mlp, faithful, as 4 ops (matmul gate, up, silu_mul, matmul down)", sh[11], 3 * 2.0 * fn * F * C, 0, 0},
        {"attn, faithful (one op; --seqs 11: the forward's chunk)", sh[12], 4 * 2.0 * fn * C * C + attn, 0, 0},
        {"attn, faithful, as 8 ops (matmul q, k, v, rope q, k, attention, matmul o)", sh[12], 4 * 2.0 * fn * C * C + attn,
         0, 0},
    };
    bufs b;
    awq_err e = bufs_init(be, &b, n);
    double ref[3] = {0}, bf16 = 0;
    if (!e) e = references(be, &b, ref, &bf16);
    if (!e) {
        char name[200] = "";
        if (be->caps & KERN_CAP_CUDA) awq_cuda_device_count(name, sizeof name);
        printf("# %s: device %s%s%s, %zu tokens (%d x %d), %d calls per trial, median of 3\n", PROG, be->name,
               *name ? " " : "", name, n, g_seqs, SEQ, g_reps);
        printf("# reference: GEMM fp16 %.4g TFLOP/s, bf16 %.4g, fp32 %.4g (%s); copy %.4g GB/s (read + write)\n", ref[0],
               bf16, ref[1], strcmp(be->name, "cuda") == 0 ? "cuBLAS 8192^3" : "cpu matmul op 2048^3", ref[2]);
        printf("op\tshape\tms\trate\tunit\tof_reference\n");
        static const char *ref_name[3] = {"fp16 GEMM", "fp32 GEMM", "copy"};
        for (size_t k = 0; k < sizeof ops / sizeof ops[0] && !e; k++) {
            double s = 0;
            int reps = g_reps;
            if ((e = time_op(be, &b, (int)k, reps, &s)) != AWQ_OK) break;
            if (k == OP_MLP || k == OP_MLP_SPLIT) mlp_s[k - OP_MLP] = s;
            if (k == OP_ATTN || k == OP_ATTN_SPLIT) attn_s[k - OP_ATTN] = s;
            double rate = ops[k].flops ? ops[k].flops / s / 1e12 : ops[k].bytes / s / 1e9;
            double r = ref[ops[k].ref] > 0 ? rate / ref[ops[k].ref] : 0;
            printf("%s\t%s\t%.3f\t%.4g\t%s\t%.3f of %s\n", ops[k].name, ops[k].shape, s * 1e3, rate,
                   ops[k].flops ? "TFLOP/s" : "GB/s", r, ref_name[ops[k].ref]);
            fflush(stdout);
        }
        if (!e && mlp_s[0] > 0)
            printf("# mlp: one op %.3f ms, 4 ops %.3f ms: the op takes %.3f of the 4 ops' time\n", mlp_s[0] * 1e3,
                   mlp_s[1] * 1e3, mlp_s[1] > 0 ? mlp_s[0] / mlp_s[1] : 0);
        if (!e && attn_s[0] > 0)
            printf("# attn: one op %.3f ms, 8 ops %.3f ms: the op takes %.3f of the 8 ops' time\n", attn_s[0] * 1e3,
                   attn_s[1] * 1e3, attn_s[1] > 0 ? attn_s[0] / attn_s[1] : 0);
    }
    bufs_free(be, &b);
    return e;
}

/* --moe: 128 experts (C 2048, Fe 768, F16 weights), n * 8 routed rows spread unevenly (expert e
 * gets a share growing with (e * 37) % 128, a few none), as mlp_grouped and as mlp per expert */
enum { MOE_E = 128, MOE_K = 8, MOE_C = 2048, MOE_F = 768 };

static awq_err moe_run(const awq_backend *be, int grouped, float *out, const float *m, const kern_weight *wg,
                       const kern_weight *wu, const kern_weight *wd, const size_t *start, float *sg, float *su)
{
    kern_status st = KERN_OK;
    if (grouped) st = be->mlp_grouped(be->ctx, out, NULL, m, wg, wu, wd, start, MOE_E, sg, su, MOE_C, MOE_F, KERN_ACT_SILU, 1);
    for (int e = 0; !grouped && e < MOE_E && st == KERN_OK; e++) {
        size_t a = start[e], n = start[e + 1] - a;
        if (n)
            st = be->mlp(be->ctx, out + a * MOE_C, NULL, m + a * MOE_C, wg[e], KERN_NO_WEIGHT, wu[e], KERN_NO_WEIGHT, wd[e],
                         KERN_NO_WEIGHT, sg, su, n, MOE_C, MOE_F, KERN_ACT_SILU, 1);
    }
    return st == KERN_OK ? AWQ_OK : awq_fail(AWQ_ERR_DEVICE, "experts on %s: %s %s", be->name, kern_strerror(st), kern_last_error());
}

static awq_err bench_moe(const awq_backend *be)
{
    const size_t n = (size_t)g_seqs * SEQ, R = n * MOE_K, CF = (size_t)MOE_C * MOE_F;
    size_t start[MOE_E + 1] = {0}, share = 0;
    for (int e = 0; e < MOE_E; e++) share += (size_t)((e * 37) % MOE_E);
    for (int e = 0; e < MOE_E; e++) start[e + 1] = start[e] + R * (size_t)((e * 37) % MOE_E) / share;
    start[MOE_E] = R; /* the rounding's rest to the last expert */
    float *m = NULL, *out = NULL, *sg = NULL, *su = NULL;
    void *w = NULL;
    kern_weight wg[MOE_E], wu[MOE_E], wd[MOE_E];
    awq_err e = put_floats(be, &m, R * MOE_C, -1, 1, 1);
    if (!e) e = put_raw(be, (void **)&out, R * MOE_C * sizeof(float));
    if (!e) e = put_raw(be, (void **)&sg, R * MOE_F * sizeof(float));
    if (!e) e = put_raw(be, (void **)&su, R * MOE_F * sizeof(float));
    if (!e) e = put_f16(be, &w, 3 * (size_t)MOE_E * CF);
    for (int x = 0; x < MOE_E && !e; x++) {
        uint16_t *base = (uint16_t *)w + 3 * (size_t)x * CF;
        wg[x] = (kern_weight){base, KERN_F16}, wu[x] = (kern_weight){base + CF, KERN_F16}, wd[x] = (kern_weight){base + 2 * CF, KERN_F16};
    }
    double t[2][3];
    for (int grouped = 1; grouped >= 0 && !e; grouped--) {
        e = moe_run(be, grouped, out, m, wg, wu, wd, start, sg, su); /* warm-up */
        for (int trial = 0; trial < 3 && !e; trial++) {
            if (be->sync(be->ctx) != KERN_OK) { e = awq_fail(AWQ_ERR_DEVICE, "sync: %s", kern_last_error()); break; }
            double t0 = awq_now();
            for (int r = 0; r < g_reps && !e; r++) e = moe_run(be, grouped, out, m, wg, wu, wd, start, sg, su);
            if (!e && be->sync(be->ctx) != KERN_OK) e = awq_fail(AWQ_ERR_DEVICE, "sync: %s", kern_last_error());
            t[grouped][trial] = (awq_now() - t0) / g_reps;
        }
        if (!e) qsort(t[grouped], 3, sizeof t[grouped][0], cmp_double);
    }
    if (!e) {
        double flops = 3 * 2.0 * (double)R * CF;
        printf("# %s --moe: %s, Qwen3-30B-A3B experts (E %d, C %d, Fe %d), %zu tokens x top-%d = %zu routed rows, "
               "%d calls per trial, median of 3\n", PROG, be->name, MOE_E, MOE_C, MOE_F, n, MOE_K, R, g_reps);
        printf("mlp_grouped, faithful (one op)\t%.3f ms\t%.4g TFLOP/s\n", t[1][1] * 1e3, flops / t[1][1] / 1e12);
        printf("mlp per expert, faithful (%d ops)\t%.3f ms\t%.4g TFLOP/s\n", MOE_E, t[0][1] * 1e3, flops / t[0][1] / 1e12);
        printf("# experts: mlp_grouped takes %.3f of the per-expert ops' time\n", t[1][1] / t[0][1]);
    }
    be->free(be->ctx, m), be->free(be->ctx, out), be->free(be->ctx, sg), be->free(be->ctx, su), be->free(be->ctx, w);
    return e;
}

int main(int argc, char **argv)
{
    awq_log_init(PROG, argc, argv);
    awq_cli cli = {PROG, "time the kernels backend's ops on Llama-2-7B shapes against cuBLAS peak and copy bandwidth",
                   NULL, NULL, 0, NULL};
    int rc = awq_opts_parse(&cli, g_opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    if (cli.n_positional || g_seqs < 1 || g_seqs > 256 || g_reps < 1) {
        awq_fail(AWQ_ERR_ARG, cli.n_positional ? "unexpected argument '%s'" : "--seqs must be 1..256 and --reps >= 1",
                 cli.n_positional ? cli.positional[0] : "");
        awq_report(PROG);
        return 2;
    }
    const awq_backend *be = NULL;
    awq_err e = awq_backend_open(g_device, &be);
    if (e == AWQ_ERR_ARG) { awq_report(PROG); return 2; }
    if (!e) e = g_moe ? bench_moe(be) : bench(be);
    if (be) be->close(be);
    if (e) { awq_report(PROG); return 1; }
    return 0;
}
