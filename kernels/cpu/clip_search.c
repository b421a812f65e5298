/* clip_search.c - the clip search of one linear (spec §2.8): for every (row, group) the shrink of max|w|
 * that minimises the output error of the quantized group on the sampled tokens.
 * _ref: the loops of the spec, err in fp64 (the truth the fast path is measured against).
 * Fast: per tile of ROW_BLOCK rows and one group, the n_cand quantized versions of every row are
 * stacked as differences D = Q(clamp(w)) - w [rows*n_cand, g] and multiplied with the group's
 * inputs in one sgemm (E = D · Xg^T, [rows*n_cand, t]); err = mean of E^2 over tokens. Using the
 * difference instead of two products (sum x*wq - sum x*w) avoids the cancellation of two nearly
 * equal fp32 sums. err is fp32 math, not the reference's fp16 tensors (spec pitfall 8). */
#include "cpu.h"
#include "ref.h"
#include "../quant_core.h"
#include "../quant.h"
#include "../../base/half.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float h_if(float x, int f16) { return f16 ? awq_round_f16(x) : x; }

static kern_status clip_check(size_t *g, size_t *n_cand, size_t i, size_t t, int64_t group, int w_bit,
                              int n_grid, double max_shrink)
{
    *n_cand = kern_clip_candidates(n_grid, max_shrink);
    if (w_bit < 2 || w_bit > 8 || t == 0 || *n_cand == 0 || kern_quant_group(g, i, group) != KERN_OK)
        return KERN_ERR_ARG;
    return KERN_OK;
}

/* mv_k = max|w| shrunk by (1 - k/n_grid): a Python double, taken as fp32 by the fp16 tensor op */
static float shrink(float m0, size_t k, int n_grid) { return m0 * (float)(1.0 - (double)k / (double)n_grid); }

/* torch.clamp(w, -mv, mv) */
static float clampv(float v, float mv) { return v < -mv ? -mv : v > mv ? mv : v; }

kern_status kern_clip_search_ref(float *max_val, int32_t *best, float *loss, const float *w, const float *x,
                                 size_t o, size_t i, size_t t, int64_t group, int w_bit, int n_grid,
                                 double max_shrink, int round_f16)
{
    size_t g, n_cand;
    if (clip_check(&g, &n_cand, i, t, group, w_bit, n_grid, max_shrink) != KERN_OK) return KERN_ERR_ARG;
    size_t n_groups = i / g;
    float *wc = malloc(2 * g * sizeof *wc), *wq = wc + g;
    if (!wc) return KERN_ERR_NOMEM;
    for (size_t r = 0; r < o; r++)
        for (size_t j = 0; j < n_groups; j++) {
            const float *wg = w + r * i + j * g;
            float m0 = 0.0f;
            for (size_t c = 0; c < g; c++) m0 = fmaxf(m0, fabsf(wg[c]));
            float best_err = INFINITY, best_mv = m0;
            int32_t best_k = 0;
            for (size_t k = 0; k < n_cand; k++) {
                float mv = h_if(shrink(m0, k, n_grid), round_f16);
                for (size_t c = 0; c < g; c++) wc[c] = clampv(wg[c], mv);
                kern_quantize_ref(wq, NULL, NULL, NULL, wc, NULL, 1, g, (int64_t)g, w_bit, round_f16);
                double sum = 0.0;
                for (size_t tt = 0; tt < t; tt++) {
                    const float *xg = x + tt * i + j * g;
                    double d = 0.0; /* sum x*wq - sum x*w */
                    for (size_t c = 0; c < g; c++) d += (double)xg[c] * ((double)wq[c] - (double)wg[c]);
                    sum += d * d;
                }
                float err = (float)(sum / (double)t);
                if (loss) loss[(r * n_groups + j) * n_cand + k] = err;
                if (err < best_err) best_err = err, best_mv = mv, best_k = (int32_t)k; /* NaN never wins */
            }
            max_val[r * n_groups + j] = best_mv;
            if (best) best[r * n_groups + j] = best_k;
        }
    free(wc);
    return KERN_OK;
}

/* Tile: ROW_BLOCK rows x one group; tokens in slices of TOK_BLOCK (bounded E buffer). With
 * n_cand = 10 and g = 128 one tile's sgemm is [640 x 128] · [128 x 512]. */
#define ROW_BLOCK 64
#define TOK_BLOCK 512

typedef struct clip_job {
    float *max_val, *loss;
    int32_t *best;
    const float *w, *x;
    size_t o, i, t, g, n_groups, n_cand;
    int n_grid, f16;
    float maxq;
} clip_job;

/* The n_cand rows of D for one weight group wg [g]: d[k][c] = Q(clamp(wg, -mv_k, mv_k))[c] - wg[c].
 * The extremes of a clamped group are the clamped extremes (clamp is monotonic), so one scan of
 * wg serves every candidate. f16 is a constant at each call site. */
__attribute__((always_inline)) static inline void clip_candidates(float *d, float *mv, const float *wg, size_t g, size_t nc, int n_grid,
                                   float maxq, int f16)
{
    float m0 = 0.0f, wmax, wmin;
    #pragma omp simd reduction(max : m0)
    for (size_t c = 0; c < g; c++) m0 = fabsf(wg[c]) > m0 ? fabsf(wg[c]) : m0;
    quant_extremes(&wmax, &wmin, wg, g);
    for (size_t k = 0; k < nc; k++) {
        float v = quant_h(shrink(m0, k, n_grid), f16), scale, zero, *dk = d + k * g;
        quant_params(&scale, &zero, quant_clamp_abs(wmax, v), quant_clamp_abs(wmin, v), maxq, f16);
        mv[k] = v;
        #pragma omp simd
        for (size_t c = 0; c < g; c++) {
            float q = quant_code(quant_clamp_abs(wg[c], v), scale, zero, maxq, f16);
            dk[c] = quant_deq(q, scale, zero, f16) - wg[c];
        }
    }
}

/* One tile: rows r0..r0+nr of group j. d: [nr*n_cand, g], e: [nr*n_cand, TOK_BLOCK],
 * mv: [nr*n_cand], err: [nr*n_cand] fp64. */
static void clip_tile(const clip_job *jb, size_t r0, size_t nr, size_t j, float *d, float *e, float *mv,
                      double *err)
{
    size_t g = jb->g, nc = jb->n_cand, m = nr * nc;
    for (size_t r = 0; r < nr; r++) {
        const float *wg = jb->w + (r0 + r) * jb->i + j * g;
        if (jb->f16) clip_candidates(d + r * nc * g, mv + r * nc, wg, g, nc, jb->n_grid, jb->maxq, 1);
        else clip_candidates(d + r * nc * g, mv + r * nc, wg, g, nc, jb->n_grid, jb->maxq, 0);
    }
    for (size_t q = 0; q < m; q++) err[q] = 0.0;
    for (size_t t0 = 0; t0 < jb->t; t0 += TOK_BLOCK) {
        size_t nt = jb->t - t0 < TOK_BLOCK ? jb->t - t0 : TOK_BLOCK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nt, (int)g, 1.0f, d, (int)g,
                    jb->x + t0 * jb->i + j * g, (int)jb->i, 0.0f, e, (int)nt);
        for (size_t q = 0; q < m; q++) {
            const float *eq = e + q * nt;
            double s = 0.0; /* the squares are exact in fp64; the lanes' order is fixed per build */
            #pragma omp simd reduction(+ : s)
            for (size_t tt = 0; tt < nt; tt++) s += (double)eq[tt] * (double)eq[tt];
            err[q] += s;
        }
    }
    /* A candidate whose quantized group equals the previous one's (a constant group, a shrink
     * that moves no code) has the same loss: take it exactly, so that the strict < keeps the
     * smaller shrink as the reference does, whatever rounding sgemm gave the duplicate row. */
    for (size_t q = 0; q < m; q++)
        if (q % nc && !memcmp(d + q * g, d + (q - 1) * g, g * sizeof *d)) err[q] = err[q - 1];
    for (size_t r = 0; r < nr; r++) {
        size_t at = (r0 + r) * jb->n_groups + j;
        float best_err = INFINITY, best_mv = mv[r * nc];
        int32_t best_k = 0;
        for (size_t k = 0; k < nc; k++) {
            float ek = (float)(err[r * nc + k] / (double)jb->t);
            if (jb->loss) jb->loss[at * nc + k] = ek;
            if (ek < best_err) best_err = ek, best_mv = mv[r * nc + k], best_k = (int32_t)k;
        }
        jb->max_val[at] = best_mv;
        if (jb->best) jb->best[at] = best_k;
    }
}

kern_status cpu_clip_search(awq_backend_ctx *ctx, float *max_val, int32_t *best, float *loss, const float *w,
                                 const float *x, size_t o, size_t i, size_t t, int64_t group, int w_bit,
                                 int n_grid, double max_shrink, int round_f16)
{
    (void)ctx;
    size_t g, n_cand;
    if (clip_check(&g, &n_cand, i, t, group, w_bit, n_grid, max_shrink) != KERN_OK) return KERN_ERR_ARG;
    if (!kern_fits_blas(i) || !kern_fits_blas(ROW_BLOCK * n_cand)) return KERN_ERR_UNSUPPORTED;
    if (o == 0) return KERN_OK;
    kern_blas_serial();
    clip_job jb = {max_val, loss, best, w, x, o, i, t, g, i / g, n_cand, n_grid, round_f16 != 0,
                   (float)((1 << w_bit) - 1)};
    size_t nrb = (o + ROW_BLOCK - 1) / ROW_BLOCK, m = ROW_BLOCK * n_cand, n_tiles = nrb * jb.n_groups;
    int nomem = 0;
    #pragma omp parallel reduction(| : nomem)
    {
        float *d = malloc((m * g + m * TOK_BLOCK + m) * sizeof *d);
        double *err = malloc(m * sizeof *err);
        nomem = !d || !err;
        #pragma omp for schedule(dynamic, 1)
        for (size_t tile = 0; tile < n_tiles; tile++) {
            if (nomem) continue;
            size_t r0 = tile / jb.n_groups * ROW_BLOCK, j = tile % jb.n_groups;
            size_t nr = o - r0 < ROW_BLOCK ? o - r0 : ROW_BLOCK;
            clip_tile(&jb, r0, nr, j, d, d + m * g, d + m * g + m * TOK_BLOCK, err);
        }
        free(d), free(err);
    }
    return nomem ? KERN_ERR_NOMEM : KERN_OK;
}
