/* test_kernels.c - every kernel of kernels.h: each backend's op against the scalar _ref on random
 * inputs (printed seed; a case id per case; tolerances stated per case), and the _ref math
 * itself against values worked out by hand or given by the spec (§6 T7, T8). */
#include "test.h"
#include "kernel_support.h"
#include "../kernels/kernels.h"
#include "../kernels/cpu/ref.h"
#include "../kernels/cpu/cpu.h"
#include "../base/half.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- helpers ------------------------------------------------------------------------------- */

/* The backends under test; the CUDA instance joins this list when it exists. */
static const awq_backend *backends[1];
static size_t n_backends(void) { backends[0] = awq_backend_cpu(); return 1; }

static void round_all(float *x, size_t n) { for (size_t e = 0; e < n; e++) x[e] = awq_round_f16(x[e]); }

/* Tolerance of one comparison. Element e passes when |got-want| <= each[e] (each != NULL) or
 * atol + rtol*|want|; NaN matches NaN, Inf the same Inf. Over the whole output NMSE =
 * sum (got-want)^2 / sum want^2 must be <= nmse. In fp16 mode (f16 = 1) every got value must be
 * an fp16 value, and at most a fraction `flips` of the elements (plus one) may differ at all:
 * correct results differ only where an fp32 value sits on an fp16 rounding boundary, which is
 * rare, while a wrong rounding order moves a large share of them by one ulp. */
typedef struct tolerance { const double *each; double atol, rtol, nmse; int f16; double flips; } tolerance;

/* Compare got with want under t; on failure the case id and the first mismatches go to stderr
 * and the case fails. Returns 1 when it all passed. */
static int compare(const char *id, const float *got, const float *want, size_t n, tolerance t)
{
    size_t bad = 0, not16 = 0, differ = 0;
    double se = 0, sw = 0, mx = 0;
    for (size_t e = 0; e < n; e++) {
        double g = got[e], w = want[e], lim = t.each ? t.each[e] : t.atol + t.rtol * fabs(w);
        int ok;
        if (isnan(w) || isnan(g)) ok = isnan(w) && isnan(g);
        else if (isinf(w) || isinf(g)) ok = g == w;
        else {
            ok = fabs(g - w) <= lim;
            se += (g - w) * (g - w), sw += w * w;
            if (fabs(g - w) > mx) mx = fabs(g - w);
        }
        differ += memcmp(&got[e], &want[e], 4) != 0 && !(isnan(g) && isnan(w));
        if (!ok && bad++ < 5)
            fprintf(stderr, "  %s: [%zu] got %.9g want %.9g (diff %.3g, allowed %.3g)\n", id, e, g, w, g - w, lim);
        if (t.f16 && !isnan(g) && awq_round_f16(got[e]) != got[e] && not16++ < 3)
            fprintf(stderr, "  %s: [%zu] = %.9g is not an fp16 value\n", id, e, g);
    }
    double r = sw > 0 ? se / sw : se;
    size_t max_differ = t.f16 ? (size_t)(t.flips * (double)n) + 1 : n;
    if (getenv("AWQ_TEST_VERBOSE"))
        fprintf(stderr, "  %s: max |diff| %.3g, nmse %.3g (limit %.3g), %zu of %zu differ\n", id, mx, r, t.nmse,
                differ, n);
    CHECK(bad == 0, "%s: %zu of %zu elements out of tolerance", id, bad, n);
    CHECK(r <= t.nmse, "%s: nmse %.3g > %.3g", id, r, t.nmse);
    CHECK(not16 == 0, "%s: %zu outputs not rounded to fp16", id, not16);
    CHECK(differ <= max_differ, "%s: %zu of %zu outputs differ (at most %zu may sit on a rounding boundary)", id,
          differ, n, max_differ);
    return bad == 0 && r <= t.nmse && not16 == 0 && differ <= max_differ;
}

/* NMSE allowed in fp16 mode where two correct results differ only by landing on neighbouring
 * halves (one ulp is 2^-11..2^-10 of the value): every element one ulp off would be up to 2^-20;
 * 2^-22 is asked. The per-element limit (one ulp) and the fp16-values check do the real work. */
#define F16_FLIPS_NMSE 0x1p-22

static int same_bits(const float *a, const float *b, size_t n, size_t *where)
{
    for (size_t e = 0; e < n; e++)
        if (memcmp(&a[e], &b[e], 4)) { if (where) *where = e; return 0; }
    return 1;
}

/* ---- matmul ------------------------------------------------------------------------------ */

/* Tolerance: each of two fp32 dot products of length i is within gamma_i * sum|x w| of the exact
 * value (Higham), so the two differ by at most 2*(i+1)*2^-24*(sum|x w| + |b|). In fp16 mode the
 * rounding may then land on the neighbouring half: plus one fp16 ulp. NMSE: the _ref's sequential
 * fp32 sum has NMSE about 2^-48*i/6 on random data, so 2^-48*i (+F16_FLIPS_NMSE in fp16 mode).
 * fp16 mode: the fp32 results differ by ~sqrt(i)*2^-24 relative, so about sqrt(i)*2^-13 of them
 * sit on a rounding boundary; 1% + sqrt(i)*2^-11 may differ. */
static void t_matmul_vs_ref(void)
{
    static const struct { size_t n, o, i; const char *what; } sh[] = {
        {1, 1, 1, "scalar"}, {3, 5, 7, "odd"}, {37, 129, 300, "odd, larger"},
        {9, 256, 128, "qwen3 q_proj: H*D=256 from C=128"}, {5, 600, 1031, "3 column tiles, last partial"},
        {300, 40, 33, "2 row tiles"}, {1, 1100, 16411, "long sums, 2 weight slabs (768 + 332 rows)"}, {3, 4, 0, "i = 0: bias only"},
    };
    size_t nb = n_backends();
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int dt = 0; dt < 3; dt++)
            for (int f16 = 0; f16 < 2; f16++) {
                size_t n = sh[s].n, o = sh[s].o, i = sh[s].i;
                int with_bias = (int)((s + (size_t)dt) % 2);
                float *x = rand_floats(n * i, -1, 1, 0);
                if (f16) round_all(x, n * i);
                kern_weight w = rand_weight((kern_dtype)dt, o * i, -1, 1);
                kern_weight b = with_bias ? rand_weight((kern_dtype)dt, o, -2, 2) : KERN_NO_WEIGHT;
                float *want = xmalloc(n * o * sizeof *want), *got = xmalloc(n * o * sizeof *got);
                double *tol = xmalloc(n * o * sizeof *tol);
                CHECK(kern_matmul_ref(want, x, w, b, n, o, i, f16) == KERN_OK, "ref");
                for (size_t r = 0; r < n; r++)
                    for (size_t c = 0; c < o; c++) {
                        double sa = with_bias ? fabs(kern_weight_at(b, c)) : 0;
                        for (size_t k = 0; k < i; k++) sa += fabs((double)x[r * i + k] * kern_weight_at(w, c * i + k));
                        tol[r * o + c] = 2.0 * (double)(i + 1) * 0x1p-24 * sa + (f16 ? ulp16(want[r * o + c]) : 0);
                    }
                for (size_t bi = 0; bi < nb; bi++) {
                    const awq_backend *be = backends[bi];
                    char id[160];
                    snprintf(id, sizeof id, "matmul[%s n=%zu o=%zu i=%zu w=%s bias=%d f16=%d (%s)]", be->name, n, o,
                             i, dt_name((kern_dtype)dt), with_bias, f16, sh[s].what);
                    float *dx = dev_put(be, x, n * i * 4), *dy = dev_put(be, NULL, n * o * 4);
                    kern_weight dw = dev_weight(be, w, o * i), db = dev_weight(be, b, o);
                    kern_status st = be->matmul(be->ctx, dy, dx, dw, db, n, o, i, f16);
                    CHECK(st == KERN_OK, "%s: %s", id, kern_strerror(st));
                    dev_get(be, got, dy, n * o * 4);
                    compare(id, got, want, n * o, (tolerance){.each = tol, .nmse = 0x1p-48 * (double)(i + 1) + (f16 ? F16_FLIPS_NMSE : 0), .f16 = f16, .flips = 0.01 + sqrt((double)i) * 0x1p-11});
                    dev_free(be, dx), dev_free(be, dy), dev_free(be, dw.data), dev_free(be, db.data);
                }
                free(x), free((void *)w.data), free((void *)b.data), free(want), free(got), free(tol);
            }
}

/* The _ref by hand: X = [[1,2],[3,4]], W = [[1,0],[0,1],[1,1]], b = [0.5,-1,2] -> exact. */
static void t_matmul_ref_by_hand(void)
{
    const float x[4] = {1, 2, 3, 4}, wf[6] = {1, 0, 0, 1, 1, 1}, bf[3] = {0.5f, -1, 2};
    const float want[6] = {1.5f, 1, 5, 3.5f, 3, 9};
    uint16_t wh[6], bh[3];
    for (int e = 0; e < 6; e++) wh[e] = awq_f32_to_f16(wf[e]);
    for (int e = 0; e < 3; e++) bh[e] = awq_f32_to_bf16(bf[e]);
    float y[6];
    kern_matmul_ref(y, x, (kern_weight){wf, KERN_F32}, (kern_weight){bf, KERN_F32}, 2, 3, 2, 0);
    CHECK(!memcmp(y, want, sizeof y), "f32: %g %g %g / %g %g %g", y[0], y[1], y[2], y[3], y[4], y[5]);
    kern_matmul_ref(y, x, (kern_weight){wh, KERN_F16}, (kern_weight){bh, KERN_BF16}, 2, 3, 2, 1);
    CHECK(!memcmp(y, want, sizeof y), "f16/bf16 weights: %g %g %g / %g %g %g", y[0], y[1], y[2], y[3], y[4], y[5]);
    /* fp16 rounding of the result: 0.1f * 1 comes out as h(0.1) = 0x2e66 */
    const float x1 = 0.1f, w1 = 1.0f;
    kern_matmul_ref(y, &x1, (kern_weight){&w1, KERN_F32}, KERN_NO_WEIGHT, 1, 1, 1, 1);
    CHECK(y[0] == awq_f16_to_f32(0x2e66), "h(0.1) = 0x2e66, got %a", y[0]);
}

/* ---- rmsnorm ----------------------------------------------------------------------------- */

/* Both versions accumulate the squares in fp64, so they differ only through the summation
 * order inside fp64: fp32 mode within 1e-6 relative (NMSE 1e-12); fp16 mode one fp16 ulp
 * (NMSE F16_FLIPS_NMSE). */
static void t_rmsnorm_vs_ref(void)
{
    static const struct { size_t n, c; const char *what; } sh[] = {
        {1, 1, "single"}, {7, 33, "odd"}, {33, 1000, "rows"}, {5 * 16, 128, "qwen3 q_norm view [N*H, D]"},
        {3, 4099, "wide, odd"},
    };
    size_t nb = n_backends();
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int dt = 0; dt < 3; dt++)
            for (int f16 = 0; f16 < 2; f16++) {
                size_t n = sh[s].n, c = sh[s].c;
                float eps = s % 2 ? 1e-6f : 1e-5f;
                float *x = rand_floats(n * c, -3, 3, 0);
                if (f16) round_all(x, n * c);
                kern_weight w = rand_weight((kern_dtype)dt, c, -2, 2);
                float *want = xmalloc(n * c * 4), *got = xmalloc(n * c * 4);
                double *tol = xmalloc(n * c * sizeof *tol);
                CHECK(kern_rmsnorm_ref(want, x, w, n, c, eps, f16) == KERN_OK, "ref");
                for (size_t e = 0; e < n * c; e++) tol[e] = f16 ? ulp16(want[e]) : 1e-6 * fabs(want[e]) + 1e-30;
                for (size_t bi = 0; bi < nb; bi++) {
                    const awq_backend *be = backends[bi];
                    char id[160];
                    snprintf(id, sizeof id, "rmsnorm[%s n=%zu c=%zu w=%s eps=%g f16=%d (%s)]", be->name, n, c,
                             dt_name((kern_dtype)dt), eps, f16, sh[s].what);
                    float *dx = dev_put(be, x, n * c * 4), *dy = dev_put(be, NULL, n * c * 4);
                    kern_weight dw = dev_weight(be, w, c);
                    CHECK(be->rmsnorm(be->ctx, dy, dx, dw, n, c, eps, f16) == KERN_OK, "%s", id);
                    dev_get(be, got, dy, n * c * 4);
                    compare(id, got, want, n * c, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
                    /* in place gives the same bits */
                    CHECK(be->rmsnorm(be->ctx, dx, dx, dw, n, c, eps, f16) == KERN_OK, "%s in place", id);
                    float *inpl = xmalloc(n * c * 4);
                    dev_get(be, inpl, dx, n * c * 4);
                    size_t where = 0;
                    CHECK(same_bits(inpl, got, n * c, &where), "%s: in place differs at %zu", id, where);
                    free(inpl);
                    dev_free(be, dx), dev_free(be, dy), dev_free(be, dw.data);
                }
                free(x), free((void *)w.data), free(want), free(got), free(tol);
            }
}

/* rmsnorm through the _ref (be == NULL) or a backend, on host data (one row of c). */
static void rms_run(const awq_backend *be, float *y, const float *x, kern_weight w, size_t c, float eps, int f16)
{
    if (!be) { kern_rmsnorm_ref(y, x, w, 1, c, eps, f16); return; }
    float *dx = dev_put(be, x, c * 4), *dy = dev_put(be, NULL, c * 4);
    kern_weight dw = dev_weight(be, w, c);
    CHECK(be->rmsnorm(be->ctx, dy, dx, dw, 1, c, eps, f16) == KERN_OK, "%s", be->name);
    dev_get(be, y, dy, c * 4);
    dev_free(be, dx), dev_free(be, dy), dev_free(be, dw.data);
}

/* Spec §6 T7: x = [1,2,3,4], w = [1,0.5,2,1], eps 1e-6 -> out 35d8 35d8 4062 3dd8 (bit-exact);
 * n in fp32 within 1e-6 relative, h(n) exact. T7 does not tell h(w*h(n)) from h(w*n); by hand,
 * x = [1,1,3], w = [3,1,1] does: n0 = 1/sqrt(11/3) = 0.5222329, h(n0) = 0.5224609375 (0x382e),
 * 3*h(n0) = 1.5673828125 (0x3e45) while h(3*n0) = 1.56640625 (0x3e44). For the _ref and every backend. */
static void t_rmsnorm_spec_T7(void)
{
    const float x[4] = {1, 2, 3, 4}, ones[4] = {1, 1, 1, 1}, x2[3] = {1, 1, 3};
    const uint16_t wh[4] = {0x3c00, 0x3800, 0x4000, 0x3c00}, want_bits[4] = {0x35d8, 0x35d8, 0x4062, 0x3dd8};
    const uint16_t w2[3] = {0x4200, 0x3c00, 0x3c00};
    const double n32[4] = {0.36514837, 0.73029673, 1.09544516, 1.46059346};
    const float hn[4] = {0.365234375f, 0.73046875f, 1.095703125f, 1.4609375f};
    size_t nb = n_backends();
    for (size_t bi = 0; bi <= nb; bi++) {
        const awq_backend *be = bi < nb ? backends[bi] : NULL;
        const char *who = be ? be->name : "ref";
        float out[4], n[4], h[4], o2[3];
        rms_run(be, out, x, (kern_weight){wh, KERN_F16}, 4, 1e-6f, 1);
        rms_run(be, n, x, (kern_weight){ones, KERN_F32}, 4, 1e-6f, 0);
        rms_run(be, h, x, (kern_weight){ones, KERN_F32}, 4, 1e-6f, 1);
        rms_run(be, o2, x2, (kern_weight){w2, KERN_F16}, 3, 1e-6f, 1);
        for (int e = 0; e < 4; e++) {
            CHECK(awq_f32_to_f16(out[e]) == want_bits[e] && awq_round_f16(out[e]) == out[e],
                  "%s: out[%d] = %.9g (0x%04x), want 0x%04x", who, e, out[e], awq_f32_to_f16(out[e]), want_bits[e]);
            CHECK(fabs(n[e] - n32[e]) <= 1e-6 * n32[e], "%s: n[%d] = %.9g, want %.9g", who, e, n[e], n32[e]);
            CHECK(h[e] == hn[e], "%s: h(n)[%d] = %.9g, want %.9g", who, e, h[e], hn[e]);
        }
        CHECK(o2[0] == 1.5673828125f && o2[1] == 0.5224609375f, "%s: cast order: %.9g %.9g, want 1.5673828125 (0x3e45) 0.5224609375",
              who, o2[0], o2[1]);
    }
}

/* ---- rope -------------------------------------------------------------------------------- */

static const kern_rope rope_default = {10000.0f, 0, 0, 0, 0, 0};
static const kern_rope rope_qwen = {1000000.0f, 0, 0, 0, 0, 0};
static const kern_rope rope_llama31 = {500000.0f, 1, 8.0f, 1.0f, 4.0f, 8192.0f};

/* Spec §6 T8 and its band counts for Llama-3.1. The spec allows 1e-6 relative; the values are
 * printed to 8 digits, so 2e-7 (their rounding plus one fp32 ulp) is asked. */
static void t_rope_spec_T8(void)
{
    float f[64], plain[64];
    kern_rope_freqs(f, 128, &rope_default);
    const struct { int j; double v; } d[] = {{0, 1.0}, {1, 0.86596435}, {63, 1.1547819e-4}};
    for (int e = 0; e < 3; e++)
        CHECK(fabs(f[d[e].j] - d[e].v) <= 2e-7 * d[e].v, "theta 1e4: f[%d] = %.9g, want %.9g", d[e].j, f[d[e].j], d[e].v);
    kern_rope_freqs(f, 128, &rope_llama31);
    const kern_rope unscaled = {500000.0f, 0, 0, 0, 0, 0};
    kern_rope_freqs(plain, 128, &unscaled);
    const struct { int j; double before, after; } l[] = {
        {0, 1, 1}, {20, 1.656044e-2, 1.656044e-2}, {30, 2.1311196e-3, 1.3718937e-3},
        {40, 2.7424819e-4, 3.4281024e-5}, {63, 2.4551407e-6, 3.0689259e-7},
    };
    for (int e = 0; e < 5; e++) {
        CHECK(fabs(plain[l[e].j] - l[e].before) <= 2e-7 * l[e].before, "llama3 before: f[%d] = %.9g, want %.9g",
              l[e].j, plain[l[e].j], l[e].before);
        CHECK(fabs(f[l[e].j] - l[e].after) <= 2e-7 * l[e].after, "llama3: f[%d] = %.9g, want %.9g", l[e].j,
              f[l[e].j], l[e].after);
    }
    int same = 0, divided = 0, medium = 0;
    for (int j = 0; j < 64; j++) {
        if (f[j] == plain[j]) same++;
        else if (f[j] == plain[j] / 8.0f) divided++;
        else medium++;
    }
    CHECK(same == 29 && divided == 29 && medium == 6, "bands: %d unchanged, %d divided, %d medium (want 29/29/6)",
          same, divided, medium);
}

/* The _ref by hand, d = 4, theta = 1e4: f = [1, 0.01]; rotate_half pairs (0,2) and (1,3). */
static void t_rope_ref_by_hand(void)
{
    float x[4] = {1, 2, 3, 4};
    const int32_t pos = 1;
    kern_rope_ref(x, &pos, 1, 1, 4, &rope_default, 0);
    double c0 = cos(1.0), s0 = sin(1.0), c1 = cos(0.01), s1 = sin(0.01);
    const double want[4] = {1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1};
    for (int e = 0; e < 4; e++) CHECK(fabs(x[e] - want[e]) <= 1e-6, "x[%d] = %.9g, want %.9g", e, x[e], want[e]);
    /* a random head at a large position: each pair rotated by pos*f[j] (the angle as fp32, the
     * rotation in double), norms kept */
    float y[128], y0[128], f[64];
    for (int e = 0; e < 128; e++) y[e] = y0[e] = t_randf(-2, 2);
    const int32_t p2 = 4093;
    kern_rope_freqs(f, 128, &rope_qwen);
    kern_rope_ref(y, &p2, 1, 1, 128, &rope_qwen, 0);
    for (int j = 0; j < 64; j++) {
        double a = (double)((float)p2 * f[j]);
        double r1 = y0[j] * cos(a) - y0[j + 64] * sin(a), r2 = y0[j + 64] * cos(a) + y0[j] * sin(a);
        CHECK(fabs(y[j] - r1) <= 1e-5 && fabs(y[j + 64] - r2) <= 1e-5, "pair %d: (%g, %g) want (%g, %g)", j, y[j],
              y[j + 64], r1, r2);
        double n0 = hypot(y0[j], y0[j + 64]), n1 = hypot(y[j], y[j + 64]);
        CHECK(fabs(n0 - n1) <= 1e-5 * (1 + n0), "pair %d norm %g -> %g", j, n0, n1);
    }
}

/* Position 0 is the identity (cos 1, sin 0), for the _ref and every backend, in both modes. */
static void t_rope_pos0_identity(void)
{
    size_t n = 5, heads = 3, d = 64, len = n * heads * d, nb = n_backends();
    float *x = rand_floats(len, -4, 4, 0), *y = xmalloc(len * 4);
    round_all(x, len); /* fp16 values, so the faithful mode must keep them too */
    int32_t pos[5] = {0};
    for (int f16 = 0; f16 < 2; f16++) {
        memcpy(y, x, len * 4);
        kern_rope_ref(y, pos, n, heads, d, &rope_llama31, f16);
        size_t where = 0;
        CHECK(same_bits(x, y, len, &where), "ref f16=%d: changed at %zu", f16, where);
        for (size_t bi = 0; bi < nb; bi++) {
            const awq_backend *be = backends[bi];
            float *dx = dev_put(be, x, len * 4);
            int32_t *dp = dev_put(be, pos, sizeof pos);
            CHECK(be->rope(be->ctx, dx, dp, n, heads, d, &rope_llama31, f16) == KERN_OK, "%s", be->name);
            dev_get(be, y, dx, len * 4);
            CHECK(same_bits(x, y, len, &where), "%s f16=%d: changed at %zu", be->name, f16, where);
            dev_free(be, dx), dev_free(be, dp);
        }
    }
    free(x), free(y);
}

/* The CPU versions do the same fp32 operations, so they agree bit for bit; the tolerance
 * (1e-6 relative + 1e-6 absolute in fp32, one fp16 ulp in fp16) leaves room for a backend with
 * its own cos/sin. Positions restart per sequence of t tokens and reach 8191. */
static void t_rope_vs_ref(void)
{
    static const struct { size_t n, heads, d, t; const kern_rope *rope; const char *what; } sh[] = {
        {1, 1, 2, 1, &rope_default, "d=2"}, {9, 3, 64, 4, &rope_default, "3 sequences of 4 (last partial)"},
        {37, 8, 128, 37, &rope_qwen, "theta 1e6"}, {20, 5, 96, 10, &rope_llama31, "llama3, d=96"},
        {6, 2, 128, 0, &rope_llama31, "large positions"},
    };
    size_t nb = n_backends();
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t n = sh[s].n, len = n * sh[s].heads * sh[s].d;
            float *x = rand_floats(len, -3, 3, 0), *want = xmalloc(len * 4), *got = xmalloc(len * 4);
            if (f16) round_all(x, len);
            int32_t *pos = xmalloc(n * sizeof *pos);
            for (size_t r = 0; r < n; r++) pos[r] = sh[s].t ? (int32_t)(r % sh[s].t) : (int32_t)(8191 - 1000 * r);
            memcpy(want, x, len * 4);
            CHECK(kern_rope_ref(want, pos, n, sh[s].heads, sh[s].d, sh[s].rope, f16) == KERN_OK, "ref");
            double *tol = xmalloc(len * sizeof *tol);
            for (size_t e = 0; e < len; e++) tol[e] = f16 ? ulp16(want[e]) : 1e-6 + 1e-6 * fabs(want[e]);
            for (size_t bi = 0; bi < nb; bi++) {
                const awq_backend *be = backends[bi];
                char id[160];
                snprintf(id, sizeof id, "rope[%s n=%zu heads=%zu d=%zu f16=%d (%s)]", be->name, n, sh[s].heads,
                         sh[s].d, f16, sh[s].what);
                float *dx = dev_put(be, x, len * 4);
                int32_t *dp = dev_put(be, pos, n * sizeof *pos);
                CHECK(be->rope(be->ctx, dx, dp, n, sh[s].heads, sh[s].d, sh[s].rope, f16) == KERN_OK, "%s", id);
                dev_get(be, got, dx, len * 4);
                compare(id, got, want, len, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
                dev_free(be, dx), dev_free(be, dp);
            }
            free(x), free(want), free(got), free(pos), free(tol);
        }
}

/* ---- attention --------------------------------------------------------------------------- */

typedef struct attn_in { size_t b, t, h, hkv, d; float *q, *k, *v; } attn_in;

static attn_in attn_rand(size_t b, size_t t, size_t h, size_t hkv, size_t d, int f16)
{
    attn_in a = {b, t, h, hkv, d, rand_floats(b * t * h * d, -2, 2, 0), rand_floats(b * t * hkv * d, -2, 2, 0),
                 rand_floats(b * t * hkv * d, -1, 1, 0)};
    if (f16) round_all(a.q, b * t * h * d), round_all(a.k, b * t * hkv * d), round_all(a.v, b * t * hkv * d);
    return a;
}
static void attn_free(attn_in *a) { free(a->q), free(a->k), free(a->v); }

/* Run a backend's attention on host inputs; out is host [b*t, h*d]. */
static kern_status attn_run(const awq_backend *be, float *out, const attn_in *a, int f16)
{
    size_t nq = a->b * a->t * a->h * a->d, nk = a->b * a->t * a->hkv * a->d;
    float *dq = dev_put(be, a->q, nq * 4), *dk = dev_put(be, a->k, nk * 4), *dv = dev_put(be, a->v, nk * 4);
    float *dout = dev_put(be, NULL, nq * 4);
    kern_status st = be->attention(be->ctx, dout, dq, dk, dv, a->b, a->t, a->h, a->hkv, a->d, f16);
    if (st == KERN_OK) dev_get(be, out, dout, nq * 4);
    dev_free(be, dq), dev_free(be, dk), dev_free(be, dv), dev_free(be, dout);
    return st;
}

/* fp32: scores differ by the dot-product order only (~1e-6 relative), so out within 1e-5
 * absolute + 1e-4 relative, NMSE 1e-10. fp16: a score on an fp16 rounding boundary can move by one
 * ulp (<= 2^-8 for |s| < 8; the scores here have sd 1.3), which moves its probability by <= 0.4%;
 * out within 8e-3 absolute (|v| < 1, two such flips), NMSE 1e-8 (observed <= 3e-10), and at
 * most 5% of the outputs differ at all (observed <= 0.2%). */
static void t_attention_vs_ref(void)
{
    static const struct { size_t b, t, h, hkv, d; const char *what; } sh[] = {
        {1, 1, 1, 1, 8, "one token"}, {2, 17, 4, 4, 16, "MHA (ratio 1)"}, {3, 33, 8, 4, 64, "GQA ratio 2"},
        {2, 50, 8, 2, 128, "GQA ratio 4"}, {1, 70, 4, 1, 40, "MQA ratio 4, d=40"},
        {2, 23, 6, 2, 128, "d=128 with H*D=768, odd t"},
    };
    size_t nb = n_backends();
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            attn_in a = attn_rand(sh[s].b, sh[s].t, sh[s].h, sh[s].hkv, sh[s].d, f16);
            size_t nq = a.b * a.t * a.h * a.d;
            float *want = xmalloc(nq * 4), *got = xmalloc(nq * 4);
            CHECK(kern_attention_ref(want, a.q, a.k, a.v, a.b, a.t, a.h, a.hkv, a.d, f16) == KERN_OK, "ref");
            for (size_t bi = 0; bi < nb; bi++) {
                const awq_backend *be = backends[bi];
                char id[160];
                snprintf(id, sizeof id, "attention[%s b=%zu t=%zu h=%zu hkv=%zu d=%zu f16=%d (%s)]", be->name, a.b,
                         a.t, a.h, a.hkv, a.d, f16, sh[s].what);
                CHECK(attn_run(be, got, &a, f16) == KERN_OK, "%s", id);
                if (f16) compare(id, got, want, nq, (tolerance){.atol = 8e-3, .nmse = 1e-8, .f16 = 1, .flips = 0.05});
                else compare(id, got, want, nq, (tolerance){.atol = 1e-5, .rtol = 1e-4, .nmse = 1e-10});
            }
            attn_free(&a), free(want), free(got);
        }
}

/* With v[m] = e_m (one-hot, t <= d) the output row p is the probability row itself: it must sum
 * to 1, be exactly 0 for m > p, and match a softmax worked out in double (1e-5 relative). */
static void t_attention_softmax_by_hand(void)
{
    size_t b = 2, t = 12, h = 4, hkv = 2, d = 16, nb = n_backends();
    attn_in a = attn_rand(b, t, h, hkv, d, 0);
    for (size_t r = 0; r < b * t; r++)
        for (size_t j = 0; j < hkv; j++)
            for (size_t e = 0; e < d; e++) a.v[r * hkv * d + j * d + e] = (e == r % t) ? 1.0f : 0.0f;
    float *out = xmalloc(b * t * h * d * 4);
    for (size_t bi = 0; bi <= nb; bi++) {
        const char *who = bi < nb ? backends[bi]->name : "ref";
        kern_status st = bi < nb ? attn_run(backends[bi], out, &a, 0)
                                 : kern_attention_ref(out, a.q, a.k, a.v, b, t, h, hkv, d, 0);
        REQUIRE(st == KERN_OK, "%s: %s", who, kern_strerror(st));
        int bad = 0;
        for (size_t s = 0; s < b; s++)
            for (size_t hq = 0; hq < h; hq++)
                for (size_t p = 0; p < t; p++) {
                    const float *row = out + (s * t + p) * h * d + hq * d;
                    const float *qp = a.q + (s * t + p) * h * d + hq * d;
                    double sc[16], mx = -INFINITY, sum = 0, psum = 0;
                    for (size_t m = 0; m <= p; m++) {
                        const float *km = a.k + (s * t + m) * hkv * d + (hq / (h / hkv)) * d;
                        double dot = 0;
                        for (size_t e = 0; e < d; e++) dot += (double)qp[e] * km[e];
                        sc[m] = dot / sqrt((double)d);
                        if (sc[m] > mx) mx = sc[m];
                    }
                    for (size_t m = 0; m <= p; m++) sum += exp(sc[m] - mx);
                    for (size_t m = 0; m < d; m++) {
                        psum += row[m];
                        double want = m <= p ? exp(sc[m] - mx) / sum : 0.0;
                        if (m <= p ? fabs(row[m] - want) > 1e-5 * want + 1e-7 : row[m] != 0.0f) {
                            if (bad++ < 5) CHECK(0, "%s s=%zu h=%zu p=%zu m=%zu: prob %.9g want %.9g", who, s, hq, p, m, row[m], want);
                        }
                    }
                    if (fabs(psum - 1.0) > 1e-6 && bad++ < 5) CHECK(0, "%s s=%zu h=%zu p=%zu: row sums to %.9g", who, s, hq, p, psum);
                }
        CHECK(bad == 0, "%s: %d bad probabilities", who, bad);
    }
    attn_free(&a), free(out);
}

/* Causality and sequence independence: changing token m0 of sequence 1 (its q, k and v) leaves
 * every earlier row and all of sequence 0 unchanged bit for bit, and changes row m0. */
static void t_attention_causal(void)
{
    size_t b = 2, t = 20, h = 4, hkv = 2, d = 32, m0 = 11, nb = n_backends(), nq = b * t * h * d;
    for (int f16 = 0; f16 < 2; f16++) {
        attn_in a = attn_rand(b, t, h, hkv, d, f16);
        float *o1 = xmalloc(nq * 4), *o2 = xmalloc(nq * 4);
        for (size_t bi = 0; bi <= nb; bi++) {
            const char *who = bi < nb ? backends[bi]->name : "ref";
            attn_in c = attn_rand(b, t, h, hkv, d, f16);
            memcpy(c.q, a.q, nq * 4), memcpy(c.k, a.k, nq / h * hkv * 4), memcpy(c.v, a.v, nq / h * hkv * 4);
            size_t row = t + m0;
            for (size_t e = 0; e < h * d; e++) c.q[row * h * d + e] += 0.5f;
            for (size_t e = 0; e < hkv * d; e++) c.k[row * hkv * d + e] -= 0.75f, c.v[row * hkv * d + e] += 0.25f;
            if (bi < nb) attn_run(backends[bi], o1, &a, f16), attn_run(backends[bi], o2, &c, f16);
            else kern_attention_ref(o1, a.q, a.k, a.v, b, t, h, hkv, d, f16), kern_attention_ref(o2, c.q, c.k, c.v, b, t, h, hkv, d, f16);
            size_t where = 0, before = row * h * d;
            CHECK(same_bits(o1, o2, before, &where), "%s f16=%d: row %zu changed by a later token", who, f16,
                  where / (h * d));
            CHECK(!same_bits(o1 + before, o2 + before, h * d, NULL), "%s f16=%d: row %zu did not change", who, f16, row);
            attn_free(&c);
        }
        attn_free(&a), free(o1), free(o2);
    }
}

/* GQA with the kv heads repeated into h heads (MHA) gives the same output: bit for bit in the
 * _ref, within 1e-6 relative + 1e-7 absolute in a backend (only the BLAS strides differ). */
static void t_attention_gqa_is_mha(void)
{
    size_t b = 2, t = 15, h = 8, d = 24, nb = n_backends();
    for (size_t hkv = 1; hkv <= 4; hkv *= 2) {
        attn_in g = attn_rand(b, t, h, hkv, d, 0);
        attn_in m = {b, t, h, h, d, xmalloc(b * t * h * d * 4), xmalloc(b * t * h * d * 4), xmalloc(b * t * h * d * 4)};
        memcpy(m.q, g.q, b * t * h * d * 4);
        for (size_t r = 0; r < b * t; r++)
            for (size_t hq = 0; hq < h; hq++) {
                memcpy(m.k + (r * h + hq) * d, g.k + (r * hkv + hq / (h / hkv)) * d, d * 4);
                memcpy(m.v + (r * h + hq) * d, g.v + (r * hkv + hq / (h / hkv)) * d, d * 4);
            }
        size_t nq = b * t * h * d;
        float *og = xmalloc(nq * 4), *om = xmalloc(nq * 4);
        kern_attention_ref(og, g.q, g.k, g.v, b, t, h, hkv, d, 0);
        kern_attention_ref(om, m.q, m.k, m.v, b, t, h, h, d, 0);
        size_t where = 0;
        CHECK(same_bits(og, om, nq, &where), "ref hkv=%zu: differs from MHA at %zu", hkv, where);
        for (size_t bi = 0; bi < nb; bi++) {
            char id[80];
            snprintf(id, sizeof id, "gqa_is_mha[%s hkv=%zu]", backends[bi]->name, hkv);
            attn_run(backends[bi], og, &g, 0), attn_run(backends[bi], om, &m, 0);
            compare(id, og, om, nq, (tolerance){.atol = 1e-7, .rtol = 1e-6, .nmse = 1e-12});
        }
        attn_free(&g), attn_free(&m), free(og), free(om);
    }
}

/* ---- elementwise ops --------------------------------------------------------------------- */

/* silu_mul and add: same fp32 operations in both versions (tolerance 1e-6 relative for a
 * backend with its own exp; one fp16 ulp in fp16 mode); in place (out = first input) too. */
static void t_elementwise_vs_ref(void)
{
    static const size_t ns[] = {1, 7, 1000, 100003};
    size_t nb = n_backends();
    for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++)
        for (int op = 0; op < 2; op++)
            for (int f16 = 0; f16 < 2; f16++) {
                size_t n = ns[s];
                float *g = rand_floats(n, -12, 12, 0), *u = rand_floats(n, -3, 3, 0);
                if (f16) round_all(g, n), round_all(u, n);
                float *want = xmalloc(n * 4), *got = xmalloc(n * 4);
                double *tol = xmalloc(n * sizeof *tol);
                if (op == 0) kern_silu_mul_ref(want, g, u, n, f16);
                else kern_add_ref(want, g, u, n, f16);
                for (size_t e = 0; e < n; e++) tol[e] = f16 ? ulp16(want[e]) : 1e-6 * fabs(want[e]) + 1e-30;
                for (size_t bi = 0; bi < nb; bi++) {
                    const awq_backend *be = backends[bi];
                    char id[120];
                    snprintf(id, sizeof id, "%s[%s n=%zu f16=%d]", op ? "add" : "silu_mul", be->name, n, f16);
                    float *dg = dev_put(be, g, n * 4), *du = dev_put(be, u, n * 4), *dy = dev_put(be, NULL, n * 4);
                    kern_status st = op ? be->add(be->ctx, dy, dg, du, n, f16) : be->silu_mul(be->ctx, dy, dg, du, n, f16);
                    CHECK(st == KERN_OK, "%s", id);
                    dev_get(be, got, dy, n * 4);
                    compare(id, got, want, n, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
                    st = op ? be->add(be->ctx, dg, dg, du, n, f16) : be->silu_mul(be->ctx, dg, dg, du, n, f16);
                    dev_get(be, want, dg, n * 4);
                    size_t where = 0;
                    CHECK(st == KERN_OK && same_bits(want, got, n, &where), "%s: in place differs at %zu", id, where);
                    dev_free(be, dg), dev_free(be, du), dev_free(be, dy);
                }
                free(g), free(u), free(want), free(got), free(tol);
            }
}

/* silu by hand (double): silu(0) = 0, silu(20) ~ 20, silu(-20) ~ -4.1e-8, silu(1) = 0.7310586;
 * and the faithful order h(h(silu(g)) * u). */
static void t_silu_add_by_hand(void)
{
    const float g[5] = {0, 20, -20, 1, -1.5f}, u[5] = {3, 1, 1, 1, 2};
    float y[5];
    kern_silu_mul_ref(y, g, u, 5, 0);
    for (int e = 0; e < 5; e++) {
        double want = g[e] / (1 + exp(-(double)g[e])) * u[e];
        CHECK(fabs(y[e] - want) <= 1e-6 * fabs(want) + 1e-30, "silu(%g)*%g = %.9g, want %.9g", g[e], u[e], y[e], want);
    }
    kern_silu_mul_ref(y, g, u, 5, 1);
    float s1 = awq_round_f16((float)(1 / (1 + exp(-1.0))));
    CHECK(y[3] == s1, "faithful silu(1) = %.9g, want h() = %.9g", y[3], s1);
    const float a[3] = {1, 65504, 0.1f}, b[3] = {2, 8, 0.2f}; /* 65512 rounds down to 65504 */
    kern_add_ref(y, a, b, 3, 1);
    CHECK(y[0] == 3 && y[1] == 65504 && y[2] == awq_round_f16(0.1f + 0.2f), "add: %g %g %g", y[0], y[1], y[2]);
    kern_add_ref(y, a, b, 3, 0);
    CHECK(y[1] == 65512 && y[2] == 0.1f + 0.2f, "add fp32: %g %g", y[1], y[2]);
}

/* embed: exact row copies in every dtype; ids outside [0, vocab) refused. */
static void t_embed(void)
{
    size_t vocab = 101, c = 37, n = 64, nb = n_backends();
    int32_t *ids = xmalloc(n * sizeof *ids);
    for (size_t r = 0; r < n; r++) ids[r] = (int32_t)(t_rand() % vocab);
    ids[0] = 0, ids[1] = (int32_t)vocab - 1;
    for (int dt = 0; dt < 3; dt++) {
        kern_weight tab = rand_weight((kern_dtype)dt, vocab * c, -1, 1);
        float *want = xmalloc(n * c * 4), *got = xmalloc(n * c * 4);
        CHECK(kern_embed_ref(want, ids, tab, n, c, vocab) == KERN_OK, "ref");
        for (size_t r = 0; r < n; r++)
            for (size_t j = 0; j < c; j++)
                if (want[r * c + j] != kern_weight_at(tab, (size_t)ids[r] * c + j)) {
                    CHECK(0, "ref %s: row %zu col %zu", dt_name((kern_dtype)dt), r, j);
                    r = n;
                    break;
                }
        for (size_t bi = 0; bi < nb; bi++) {
            const awq_backend *be = backends[bi];
            int32_t *di = dev_put(be, ids, n * sizeof *ids);
            float *dy = dev_put(be, NULL, n * c * 4);
            kern_weight dtab = dev_weight(be, tab, vocab * c);
            CHECK(be->embed(be->ctx, dy, di, dtab, n, c, vocab) == KERN_OK, "%s", be->name);
            dev_get(be, got, dy, n * c * 4);
            size_t where = 0;
            CHECK(same_bits(got, want, n * c, &where), "embed[%s %s]: differs at %zu", be->name,
                  dt_name((kern_dtype)dt), where);
            const int32_t bad[2] = {-1, (int32_t)vocab};
            for (int e = 0; e < 2; e++) {
                int32_t *dbad = dev_put(be, &bad[e], sizeof bad[e]);
                CHECK(be->embed(be->ctx, dy, dbad, dtab, 1, c, vocab) == KERN_ERR_ARG, "%s: id %d accepted", be->name, bad[e]);
                dev_free(be, dbad);
            }
            dev_free(be, di), dev_free(be, dy), dev_free(be, dtab.data);
        }
        CHECK(kern_embed_ref(want, &(int32_t){(int32_t)vocab}, tab, 1, c, vocab) == KERN_ERR_ARG, "ref: id vocab accepted");
        free((void *)tab.data), free(want), free(got);
    }
    free(ids);
}

/* mean |x| per channel: by hand, n = 0, and backends vs _ref (both fp64 sums: 1e-6 relative). */
static void t_mean_abs(void)
{
    const float x[6] = {1, -2, -3, 4, 5, -6};
    float m[2] = {-1, -1};
    kern_mean_abs_ref(m, x, 3, 2, 0);
    CHECK(m[0] == 3 && m[1] == 4, "by hand: %g %g (want 3 4: the mean, not the max 5 6)", m[0], m[1]);
    kern_mean_abs_ref(m, x, 0, 2, 0);
    CHECK(m[0] == 0 && m[1] == 0, "n = 0: %g %g", m[0], m[1]);
    const float third[3] = {1, 0, 0};
    kern_mean_abs_ref(m, third, 3, 1, 1);
    CHECK(m[0] == awq_round_f16(1.0f / 3), "faithful: %.9g", m[0]);
    static const struct { size_t n, c; } sh[] = {{1, 1}, {3, 2}, {777, 300}, {20000, 37}, {5, 1031}};
    size_t nb = n_backends();
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t n = sh[s].n, c = sh[s].c;
            float *in = rand_floats(n * c, -5, 5, 0), *want = xmalloc(c * 4), *got = xmalloc(c * 4);
            kern_mean_abs_ref(want, in, n, c, f16);
            for (size_t bi = 0; bi < nb; bi++) {
                const awq_backend *be = backends[bi];
                char id[100];
                snprintf(id, sizeof id, "mean_abs[%s n=%zu c=%zu f16=%d]", be->name, n, c, f16);
                float *dx = dev_put(be, in, n * c * 4), *dm = dev_put(be, NULL, c * 4);
                CHECK(be->mean_abs(be->ctx, dm, dx, n, c, f16) == KERN_OK, "%s", id);
                dev_get(be, got, dm, c * 4);
                double *tol = xmalloc(c * sizeof *tol);
                for (size_t j = 0; j < c; j++) tol[j] = f16 ? ulp16(want[j]) : 1e-6 * want[j];
                compare(id, got, want, c, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
                free(tol), dev_free(be, dx), dev_free(be, dm);
            }
            free(in), free(want), free(got);
        }
}

/* Random bit patterns of every exponent, ties at the fp16 rounding bit, and the edges. */
static float edge_float(size_t e)
{
    static const float edges[] = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 0x1p-14f, 0x1.ffcp-15f,
                                  0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1.002p+0f, 0x1.006p+0f, 1e-5f, INFINITY, -INFINITY, NAN};
    if (e < sizeof edges / sizeof edges[0]) return edges[e];
    uint32_t u = (uint32_t)t_rand();
    u = (u & 0x807fffffu) | ((uint32_t)(90 + t_rand() % 60) << 23);
    if (e % 3 == 0) u = (u & ~0x1fffu) | 0x1000u; /* an exact tie */
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* round_f16: bit-exact against the _ref (awq_round_f16) on all kinds of values. */
static void t_round_f16(void)
{
    size_t n = 300000, nb = n_backends();
    float *x = xmalloc(n * 4), *want = xmalloc(n * 4), *got = xmalloc(n * 4);
    for (size_t e = 0; e < n; e++) x[e] = edge_float(e);
    memcpy(want, x, n * 4);
    kern_round_f16_ref(want, n);
    for (size_t bi = 0; bi < nb; bi++) {
        const awq_backend *be = backends[bi];
        float *dx = dev_put(be, x, n * 4);
        CHECK(be->round_f16(be->ctx, dx, n) == KERN_OK, "%s", be->name);
        dev_get(be, got, dx, n * 4);
        size_t bad = 0;
        for (size_t e = 0; e < n; e++) {
            int ok = isnan(want[e]) ? isnan(got[e]) : !memcmp(&got[e], &want[e], 4);
            if (!ok && bad++ < 5) CHECK(0, "round_f16[%s]: x=%a got %a want %a", be->name, x[e], got[e], want[e]);
        }
        CHECK(bad == 0, "round_f16[%s]: %zu mismatches", be->name, bad);
        dev_free(be, dx);
    }
    free(x), free(want), free(got);
}

/* check_f16: by hand on the edges, then the lowest bad index of random arrays. */
static void t_check_f16(void)
{
    const float ok[4] = {1, -65504, 65519.99f, 0x1p-30f};
    size_t at = 99;
    kern_check_f16_ref(ok, 4, &at);
    CHECK(at == 4, "all fit: got %zu", at);
    const float bad_vals[3] = {65520.0f, -INFINITY, NAN};
    size_t n = 50001, nb = n_backends();
    float *x = rand_floats(n, -60000, 60000, 0);
    for (int v = 0; v < 3; v++) {
        float y[4] = {1, 2, bad_vals[v], 3};
        kern_check_f16_ref(y, 4, &at);
        CHECK(at == 2, "ref: %g at 2, reported %zu", bad_vals[v], at);
    }
    kern_check_f16_ref(x, 0, &at);
    CHECK(at == 0, "n = 0: %zu", at);
    for (size_t bi = 0; bi < nb; bi++) { /* the edges: 65519.99 fits (rounds to 65504), 65520 does not */
        const awq_backend *be = backends[bi];
        const float edge[5] = {1, -65504, 65519.99f, 0x1p-30f, -65520.0f};
        float *dx = dev_put(be, edge, sizeof edge);
        CHECK(be->check_f16(be->ctx, dx, 5, &at) == KERN_OK && at == 4, "check_f16[%s]: edges: first bad %zu, want 4",
              be->name, at);
        CHECK(be->check_f16(be->ctx, dx, 4, &at) == KERN_OK && at == 4, "check_f16[%s]: all fit: %zu", be->name, at);
        dev_free(be, dx);
    }
    for (int round = 0; round < 4; round++) {
        size_t first = round == 3 ? n : (size_t)(t_rand() % n), want = 0;
        if (round < 3) {
            x[first] = bad_vals[round];
            x[first + (n - first) / 2] = NAN; /* a later bad value does not win */
        }
        kern_check_f16_ref(x, n, &want);
        for (size_t bi = 0; bi < nb; bi++) {
            const awq_backend *be = backends[bi];
            float *dx = dev_put(be, x, n * 4);
            size_t got = 99;
            CHECK(be->check_f16(be->ctx, dx, n, &got) == KERN_OK, "%s", be->name);
            CHECK(got == want && (round == 3 || want == first), "check_f16[%s]: got %zu want %zu (planted at %zu)",
                  be->name, got, want, first);
            dev_free(be, dx);
        }
        for (size_t e = 0; e < n; e++) if (!awq_f32_fits_f16(x[e])) x[e] = 1.0f;
    }
    free(x);
}

/* ---- backend-wide properties ------------------------------------------------------------- */

/* Invalid arguments are refused with KERN_ERR_ARG, by the _ref and every backend. */
static void t_bad_arguments(void)
{
    float buf[64] = {0};
    int32_t pos[4] = {0};
    kern_weight bad_dt = {buf, (kern_dtype)7};
    CHECK(kern_attention_ref(buf, buf, buf, buf, 1, 2, 3, 2, 4, 0) == KERN_ERR_ARG, "ref: h=3 hkv=2");
    CHECK(kern_rope_ref(buf, pos, 1, 1, 5, &rope_default, 0) == KERN_ERR_ARG, "ref: odd d");
    CHECK(kern_matmul_ref(buf, buf, bad_dt, KERN_NO_WEIGHT, 1, 1, 1, 0) == KERN_ERR_ARG, "ref: bad dtype");
    size_t nb = n_backends();
    for (size_t bi = 0; bi < nb; bi++) {
        const awq_backend *be = backends[bi];
        float *d = dev_put(be, buf, sizeof buf);
        int32_t *dp = dev_put(be, pos, sizeof pos);
        CHECK(be->attention(be->ctx, d, d, d, d, 1, 2, 3, 2, 4, 0) == KERN_ERR_ARG, "%s: h=3 hkv=2", be->name);
        CHECK(be->attention(be->ctx, d, d, d, d, 1, 2, 4, 0, 4, 0) == KERN_ERR_ARG, "%s: hkv=0", be->name);
        CHECK(be->rope(be->ctx, d, dp, 1, 1, 5, &rope_default, 0) == KERN_ERR_ARG, "%s: odd d", be->name);
        CHECK(be->matmul(be->ctx, d, d, (kern_weight){d, (kern_dtype)7}, KERN_NO_WEIGHT, 1, 1, 1, 0) == KERN_ERR_ARG,
              "%s: bad dtype", be->name);
        CHECK(be->rmsnorm(be->ctx, d, d, (kern_weight){d, (kern_dtype)-1}, 1, 1, 1e-6f, 0) == KERN_ERR_ARG,
              "%s: bad dtype", be->name);
        void *z = NULL;
        CHECK(be->alloc(be->ctx, &z, 0) == KERN_OK && z, "%s: alloc(0)", be->name);
        be->free(be->ctx, z), be->free(be->ctx, NULL);
        CHECK(be->sync(be->ctx) == KERN_OK, "%s: sync", be->name);
        dev_free(be, d), dev_free(be, dp);
    }
    for (int s = 0; s <= 5; s++) CHECK(kern_strerror((kern_status)s) && *kern_strerror((kern_status)s), "strerror %d", s);
}

/* CPU results do not depend on the number of threads (OpenMP and OpenBLAS, 1 vs 2). */
static void t_cpu_thread_count(void)
{
#ifdef _OPENMP
    const awq_backend *be = awq_backend_cpu();
    size_t n = 300, o = 600, i = 200, c = 512; /* 2 x 3 tiles of matmul, so 2 threads share them */
    float *x = rand_floats(n * i, -1, 1, 0), *xc = rand_floats(n * c, -3, 3, 0);
    kern_weight w = rand_weight(KERN_BF16, o * i, -1, 1), nw = rand_weight(KERN_F16, c, 0, 2);
    attn_in a = attn_rand(2, 32, 8, 2, 64, 1);
    size_t nq = 2 * 32 * 8 * 64;
    float *r[2][4];
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1), openblas_set_num_threads(k + 1);
        r[k][0] = xmalloc(n * o * 4), r[k][1] = xmalloc(n * c * 4), r[k][2] = xmalloc(nq * 4), r[k][3] = xmalloc(c * 4);
        be->matmul(be->ctx, r[k][0], x, w, KERN_NO_WEIGHT, n, o, i, 0);
        be->rmsnorm(be->ctx, r[k][1], xc, nw, n, c, 1e-5f, 1);
        attn_run(be, r[k][2], &a, 1);
        be->mean_abs(be->ctx, r[k][3], xc, n, c, 0);
    }
    omp_set_num_threads(saved), openblas_set_num_threads(saved);
    const size_t len[4] = {n * o, n * c, nq, c};
    const char *what[4] = {"matmul", "rmsnorm", "attention", "mean_abs"};
    for (int op = 0; op < 4; op++) {
        size_t where = 0;
        CHECK(same_bits(r[0][op], r[1][op], len[op], &where), "%s: 1 vs 2 threads differ at %zu", what[op], where);
        free(r[0][op]), free(r[1][op]);
    }
    free(x), free(xc), free((void *)w.data), free((void *)nw.data), attn_free(&a);
#else
    t_skip("built without OpenMP");
#endif
}

/* The inlined h() of the hot loops equals awq_round_f16 on a dense sweep of all float bit
 * patterns (every 23rd, plus every 13th pattern below 2^-14 and around the overflow edge). */
static void t_round_f16_fast_sweep(void)
{
    long bad = 0;
    for (uint64_t v = 0; v < 0x100000000ull; v += 23) {
        uint32_t u = (uint32_t)v;
        if ((u & 0x7fffffffu) < 0x38800000u) continue; /* covered exactly below */
        float f, a, b;
        memcpy(&f, &u, 4);
        a = kern_round_f16_fast(f);
        b = awq_round_f16(f);
        if (memcmp(&a, &b, 4) != 0 && !(isnan(a) && isnan(b)) && bad++ < 5) CHECK(0, "x=0x%08x fast %a ref %a", u, a, b);
    }
    for (uint32_t u = 0; u < 0x38800000u; u += 13) /* all subnormal-range magnitudes, both signs */
        for (int sgn = 0; sgn < 2; sgn++) {
            uint32_t w = u | (sgn ? 0x80000000u : 0);
            float f, a, b;
            memcpy(&f, &w, 4);
            a = kern_round_f16_fast(f);
            b = awq_round_f16(f);
            if (memcmp(&a, &b, 4) != 0 && bad++ < 5) CHECK(0, "x=0x%08x fast %a ref %a", w, a, b);
        }
    CHECK(bad == 0, "%ld mismatches", bad);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"round_f16_fast_sweep", t_round_f16_fast_sweep},
        {"matmul_vs_ref", t_matmul_vs_ref},
        {"matmul_ref_by_hand", t_matmul_ref_by_hand},
        {"rmsnorm_vs_ref", t_rmsnorm_vs_ref},
        {"rmsnorm_spec_T7", t_rmsnorm_spec_T7},
        {"rope_spec_T8", t_rope_spec_T8},
        {"rope_ref_by_hand", t_rope_ref_by_hand},
        {"rope_pos0_identity", t_rope_pos0_identity},
        {"rope_vs_ref", t_rope_vs_ref},
        {"attention_vs_ref", t_attention_vs_ref},
        {"attention_softmax_by_hand", t_attention_softmax_by_hand},
        {"attention_causal", t_attention_causal},
        {"attention_gqa_is_mha", t_attention_gqa_is_mha},
        {"elementwise_vs_ref", t_elementwise_vs_ref},
        {"silu_add_by_hand", t_silu_add_by_hand},
        {"embed", t_embed},
        {"mean_abs", t_mean_abs},
        {"round_f16", t_round_f16},
        {"check_f16", t_check_f16},
        {"bad_arguments", t_bad_arguments},
        {"cpu_thread_count", t_cpu_thread_count},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
