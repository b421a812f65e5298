/* test_backends.c - one comparison test over every backend this build and machine have: the CPU
 * always, CUDA when built with it and a GPU is present. The cases come from the op list
 * (kernels/ops.def): "<op>/cpu" and "<op>/cuda" run test_op_<op>, which every op must have (a
 * missing one does not compile). Each op runs on random inputs (seed printed; AWQ_TEST_SEED
 * replays) over several shapes, its outputs are downloaded and held to the CPU _ref (or, for the
 * shapes too big for the scalar _ref, to the CPU fast op) under the tolerance stated at each op;
 * a case id and the first mismatches are printed on failure. The CUDA cases SKIP, saying why,
 * where the build has no CUDA or the machine no GPU (never counted as passed). Outputs are
 * poisoned before each run, so an element the op did not write fails. The "ref/" cases hold the
 * _refs to values worked out by hand or given by the spec (§6 T7, T8). */
#include "test.h"
#include "kernel_support.h"
#include "../kernels/kernels.h"
#include "../kernels/quant.h"
#include "../kernels/device.h"
#include "../kernels/cpu/ref.h"
#include "../kernels/cpu/cpu.h"
#include "../base/half.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- backends ------------------------------------------------------------------------------ */

enum { BE_CPU, BE_CUDA };

static const awq_backend *g_cuda;
static int g_cuda_tried, g_cuda_broken;
static char g_cuda_why[400];

/* The backend of a slot, or NULL with the reason in g_cuda_why (a GPU whose backend does not
 * start is a failure, not a skip: g_cuda_broken). */
static const awq_backend *backend_for(int slot)
{
    if (slot == BE_CPU) return awq_backend_cpu();
    if (!g_cuda_tried) {
        g_cuda_tried = 1;
        char name[160] = "";
        if (!awq_built_with_cuda())
            snprintf(g_cuda_why, sizeof g_cuda_why, "this build has no CUDA backend (CUDA=0, or no nvcc)");
        else if (awq_cuda_device_count(name, sizeof name) < 1)
            snprintf(g_cuda_why, sizeof g_cuda_why, "no CUDA device on this machine");
        else {
            kern_status st = KERN_OK;
            g_cuda = awq_backend_cuda(0, &st);
            if (!g_cuda) {
                g_cuda_broken = 1;
                snprintf(g_cuda_why, sizeof g_cuda_why, "CUDA device %s present but the backend did not start: %s (%s)",
                         name, kern_strerror(st), kern_last_error());
            } else {
                fprintf(stderr, "# test_backends: cuda device 0: %s\n", name);
            }
        }
    }
    return g_cuda;
}

typedef void (*op_test)(const awq_backend *be);

static void run_on(int slot, op_test fn)
{
    const awq_backend *be = backend_for(slot);
    if (!be) {
        if (g_cuda_broken) CHECK(0, "%s", g_cuda_why);
        else t_skip("%s", g_cuda_why);
        return;
    }
    fn(be);
    kern_status st = be->sync(be->ctx);
    CHECK(st == KERN_OK, "%s: sync after the case: %s %s", be->name, kern_strerror(st),
          slot == BE_CUDA ? kern_last_error() : "");
}

static int is_cpu(const awq_backend *be) { return be == awq_backend_cpu(); }

/* ---- helpers --------------------------------------------------------------------------------- */

static void *dev_out(const awq_backend *be, size_t bytes)
{
    void *poison = xmalloc(bytes);
    memset(poison, 0xff, bytes);
    void *d = dev_put(be, poison, bytes);
    free(poison);
    return d;
}

/* Tolerance of one float comparison: element e passes when |got-want| <= each[e] (each != NULL)
 * or atol + rtol*|want| (NaN matches NaN, Inf the same Inf); NMSE = sum (got-want)^2 / sum want^2
 * over the output must be <= nmse. f16: every output must be an fp16 value and at most a fraction
 * `flips` (plus one) may differ at all (two correct results differ only where an fp32 value sits on
 * an fp16 rounding boundary, which is rare; a wrong rounding order moves many). exact: bits. */
typedef struct tolerance { const double *each; double atol, rtol, nmse; int f16; double flips; int exact; } tolerance;

static int compare(const char *id, const float *got, const float *want, size_t n, tolerance t)
{
    size_t bad = 0, not16 = 0, differ = 0;
    double se = 0, sw = 0, mx = 0;
    for (size_t e = 0; e < n; e++) {
        double g = got[e], w = want[e], lim = t.each ? t.each[e] : t.atol + t.rtol * fabs(w);
        int ok, same = !memcmp(&got[e], &want[e], 4) || (isnan(g) && isnan(w));
        if (t.exact) ok = same;
        else if (isnan(w) || isnan(g)) ok = isnan(w) && isnan(g);
        else if (isinf(w) || isinf(g)) ok = g == w;
        else {
            ok = fabs(g - w) <= lim;
            se += (g - w) * (g - w), sw += w * w;
            if (fabs(g - w) > mx) mx = fabs(g - w);
        }
        differ += !same;
        if (!ok && bad++ < 5)
            fprintf(stderr, "  %s: [%zu] got %.9g (%a) want %.9g (%a), diff %.3g, allowed %.3g\n", id, e, g, got[e], w,
                    want[e], g - w, t.exact ? 0.0 : lim);
        if (t.f16 && !isnan(g) && awq_round_f16(got[e]) != got[e] && not16++ < 3)
            fprintf(stderr, "  %s: [%zu] = %.9g is not an fp16 value\n", id, e, g);
    }
    double r = sw > 0 ? se / sw : se;
    size_t max_differ = t.exact ? 0 : t.f16 ? (size_t)(t.flips * (double)n) + 1 : n;
    if (getenv("AWQ_TEST_VERBOSE"))
        fprintf(stderr, "  %s: max |diff| %.3g, nmse %.3g (limit %.3g), %zu of %zu differ\n", id, mx, r, t.nmse, differ, n);
    CHECK(bad == 0, "%s: %zu of %zu elements out of tolerance", id, bad, n);
    CHECK(t.exact || r <= t.nmse, "%s: nmse %.3g > %.3g", id, r, t.nmse);
    CHECK(not16 == 0, "%s: %zu outputs not rounded to fp16", id, not16);
    CHECK(differ <= max_differ, "%s: %zu of %zu outputs differ (at most %zu may sit on a rounding boundary)", id, differ,
          n, max_differ);
    return bad == 0 && (t.exact || r <= t.nmse) && not16 == 0 && differ <= max_differ;
}

/* got must equal want bit for bit (the same computation done two ways on one backend); the
 * message names the first differing element. */
static void same_bits(const char *id, const char *what, const float *got, const float *want, size_t n)
{
    size_t at = 0;
    while (at < n && !memcmp(&got[at], &want[at], 4)) at++;
    CHECK(at == n, "%s: %s at [%zu]: %a vs %a", id, what, at, at < n ? got[at] : 0.0f, at < n ? want[at] : 0.0f);
}

#define F16_FLIPS_NMSE 0x1p-22 /* every element one fp16 ulp off would be up to 2^-20 */

/* ---- matmul ---------------------------------------------------------------------------------- */

/* Tolerance: each fp32 dot product of length i, in any order (the CPU's sgemm tiles, cuBLAS's
 * blocking, the tensor cores' fp32 accumulation of exact fp16 products), is within (i+1)*2^-24 *
 * (sum|x w| + |b|) of the exact value; two of them differ by twice that; the faithful rounding may
 * then land on the neighbouring half: + one fp16 ulp. NMSE 2^-46*(i+1) (random-walk errors sit
 * far below the worst case), + F16_FLIPS_NMSE when faithful; at most 1% + sqrt(i)*2^-11 of the
 * faithful outputs may differ. Reference: the _ref, or the CPU op for the big shape. */
static void op_matmul(const awq_backend *be)
{
    static const struct { size_t n, o, i; int big; const char *what; } sh[] = {
        {1, 1, 1, 0, "scalar"}, {3, 5, 7, 0, "odd"}, {37, 129, 300, 0, "odd, larger"},
        {9, 256, 128, 0, "q_proj of a small model"}, {40, 200, 1031, 0, "long odd sums"}, {3, 4, 0, 0, "i = 0: bias only"},
        {512, 1024, 4096, 1, "W7 rows, 512 tokens (vs the CPU op)"},
        {512, 1024, 4096, 1, "the same with the other bias choice"}, /* (s + dt) % 2 flips: F16 without bias too */
    };
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        if (sh[s].big && is_cpu(be)) continue;
        for (int dt = 0; dt < 3; dt++)
            for (int f16 = 0; f16 < 2; f16++) {
                size_t n = sh[s].n, o = sh[s].o, i = sh[s].i;
                int with_bias = (int)((s + (size_t)dt) % 2);
                float *x = rand_floats(n * i, -1, 1, f16);
                kern_weight w = rand_weight((kern_dtype)dt, o * i, -1, 1);
                kern_weight b = with_bias ? rand_weight((kern_dtype)dt, o, -2, 2) : KERN_NO_WEIGHT;
                float *want = xmalloc(n * o * 4), *got = xmalloc(n * o * 4), *ax = xmalloc(n * i * 4 + 4);
                float *aw = xmalloc(o * i * 4 + 4), *sa = xmalloc(n * o * 4);
                double *tol = xmalloc(n * o * sizeof *tol);
                kern_status st = sh[s].big ? awq_backend_cpu()->matmul(NULL, want, x, w, b, n, o, i, f16)
                                           : kern_matmul_ref(want, x, w, b, n, o, i, f16);
                CHECK(st == KERN_OK, "reference");
                /* sum |x w| per output (fp32 sgemm of the magnitudes, 1% headroom for its own rounding) */
                for (size_t e = 0; e < n * i; e++) ax[e] = fabsf(x[e]);
                for (size_t e = 0; e < o * i; e++) aw[e] = fabsf(kern_weight_at(w, e));
                if (i) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)o, (int)i, 1.0f, ax, (int)i, aw,
                                   (int)i, 0.0f, sa, (int)o);
                else memset(sa, 0, n * o * 4);
                for (size_t r = 0; r < n; r++)
                    for (size_t c = 0; c < o; c++) {
                        double mag = 1.01 * sa[r * o + c] + (with_bias ? fabs(kern_weight_at(b, c)) : 0);
                        tol[r * o + c] = 2.0 * (double)(i + 1) * 0x1p-24 * mag * (sh[s].big ? 2 : 1) +
                                         (f16 ? ulp16(want[r * o + c]) : 0);
                    }
                char id[200];
                snprintf(id, sizeof id, "matmul[%s n=%zu o=%zu i=%zu w=%s bias=%d f16=%d (%s)]", be->name, n, o, i,
                         dt_name((kern_dtype)dt), with_bias, f16, sh[s].what);
                float *dx = dev_put(be, x, n * i * 4), *dy = dev_out(be, n * o * 4);
                kern_weight dw = dev_weight(be, w, o * i), db = dev_weight(be, b, o);
                st = be->matmul(be->ctx, dy, dx, dw, db, n, o, i, f16);
                CHECK(st == KERN_OK, "%s: %s", id, kern_strerror(st));
                dev_get(be, got, dy, n * o * 4);
                compare(id, got, want, n * o,
                        (tolerance){.each = tol, .nmse = 0x1p-46 * (double)(i + 1) + (f16 ? F16_FLIPS_NMSE : 0), .f16 = f16,
                                    .flips = 0.01 + sqrt((double)i) * 0x1p-11});
                dev_free(be, dx), dev_free(be, dy), dev_free(be, dw.data), dev_free(be, db.data);
                free(x), free((void *)w.data), free((void *)b.data), free(want), free(got), free(tol), free(ax), free(aw);
                free(sa);
            }
    }
    /* Faithful sums beyond fp16's range become +-Inf (h() overflows; nothing saturates at
     * 65504), with and without a bias: 64 products of 255 * 255 = 4161600. */
    const size_t n = 4, o = 16, i = 64;
    uint16_t *w16 = xmalloc(o * i * 2);
    float *x = xmalloc(n * i * 4), *got = xmalloc(n * o * 4);
    for (size_t e = 0; e < o * i; e++) w16[e] = awq_f32_to_f16(e % 3 == 1 ? -255.0f : 255.0f);
    for (size_t e = 0; e < n * i; e++) x[e] = 255.0f;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        uint16_t bias16[16];
        for (size_t c = 0; c < o; c++) bias16[c] = awq_f32_to_f16(1.0f);
        float *dx = dev_put(be, x, n * i * 4), *dy = dev_out(be, n * o * 4);
        kern_weight dw = dev_weight(be, (kern_weight){w16, KERN_F16}, o * i);
        kern_weight db = with_bias ? dev_weight(be, (kern_weight){bias16, KERN_F16}, o) : KERN_NO_WEIGHT;
        CHECK(be->matmul(be->ctx, dy, dx, dw, db, n, o, i, 1) == KERN_OK, "matmul overflow[%s]", be->name);
        dev_get(be, got, dy, n * o * 4);
        size_t bad = 0;
        for (size_t r = 0; r < n; r++)
            for (size_t c = 0; c < o; c++) { /* row c of w: 22 or 21 of its 64 entries are -255 */
                double sum = 0;
                for (size_t k = 0; k < i; k++) sum += 255.0 * awq_f16_to_f32(w16[c * i + k]);
                float want = sum > 0 ? INFINITY : -INFINITY;
                if (got[r * o + c] != want && bad++ < 3)
                    fprintf(stderr, "  matmul overflow[%s bias=%d]: y[%zu][%zu] = %g, want %g\n", be->name, with_bias, r, c,
                            (double)got[r * o + c], (double)want);
            }
        CHECK(bad == 0, "matmul overflow[%s bias=%d]: %zu outputs are not the signed Inf of h()", be->name, with_bias, bad);
        dev_free(be, dx), dev_free(be, dy), dev_free(be, dw.data), dev_free(be, db.data);
    }
    free(w16), free(x), free(got);
}

/* ---- pin_f16 ---------------------------------------------------------------------------------- */

/* A pinned input gives the same bits as converting it at every call: matmul with and without a
 * bias, on the whole array and on rows inside it, and mlp, both numerics; after unpin_f16 the ops
 * convert again. The inputs are not fp16 values, so the copy has to round as the ops do. Four
 * arrays pinned at once; a fifth is refused on CUDA and a no-op on the CPU. */
static void test_op_pin_f16(const awq_backend *be)
{
    const size_t n = 96, i = 160, o = 72, f = 200, r0 = 17, nr = 40;
    const size_t outs[4] = {n * o, n * o, nr * o, n * i};
    for (int f16 = 0; f16 < 2; f16++) {
        float *x = rand_floats(n * i, -2, 2, 0);
        kern_weight w = dev_weight(be, rand_weight(KERN_F16, o * i, -1, 1), o * i);
        kern_weight bias = dev_weight(be, rand_weight(KERN_F16, o, -1, 1), o);
        kern_weight wg = dev_weight(be, rand_weight(KERN_F16, f * i, -1, 1), f * i);
        kern_weight wu = dev_weight(be, rand_weight(KERN_F16, f * i, -1, 1), f * i);
        kern_weight wd = dev_weight(be, rand_weight(KERN_F16, i * f, -1, 1), i * f);
        float *dx = dev_put(be, x, n * i * 4), *dy = dev_out(be, n * i * 4), *sg = dev_out(be, n * f * 4), *su = dev_out(be, n * f * 4);
        float *res[3][4];
        for (int pass = 0; pass < 3; pass++) { /* 0: as always, 1: pinned, 2: unpinned again */
            if (pass == 1) CHECK(be->pin_f16(be->ctx, dx, n * i) == KERN_OK, "pin_f16[%s]: %s", be->name, kern_last_error());
            if (pass == 2) be->unpin_f16(be->ctx, dx);
            for (int k = 0; k < 4; k++) {
                kern_status st = k == 0 ? be->matmul(be->ctx, dy, dx, w, KERN_NO_WEIGHT, n, o, i, f16)
                               : k == 1 ? be->matmul(be->ctx, dy, dx, w, bias, n, o, i, f16)
                               : k == 2 ? be->matmul(be->ctx, dy, dx + r0 * i, w, KERN_NO_WEIGHT, nr, o, i, f16)
                               : be->mlp(be->ctx, dy, NULL, dx, wg, KERN_NO_WEIGHT, wu, KERN_NO_WEIGHT, wd, KERN_NO_WEIGHT,
                                         sg, su, n, i, f, KERN_ACT_SILU, f16);
                CHECK(st == KERN_OK, "pin_f16[%s f16=%d]: op %d failed", be->name, f16, k);
                res[pass][k] = xmalloc(outs[k] * 4);
                dev_get(be, res[pass][k], dy, outs[k] * 4);
            }
        }
        static const char *const what[4] = {"matmul", "matmul + bias", "matmul on rows inside", "mlp"};
        for (int k = 0; k < 4; k++) {
            char id[96];
            snprintf(id, sizeof id, "pin_f16[%s f16=%d %s pinned]", be->name, f16, what[k]);
            compare(id, res[1][k], res[0][k], outs[k], (tolerance){.exact = 1});
            snprintf(id, sizeof id, "pin_f16[%s f16=%d %s unpinned]", be->name, f16, what[k]);
            compare(id, res[2][k], res[0][k], outs[k], (tolerance){.exact = 1});
            for (int pass = 0; pass < 3; pass++) free(res[pass][k]);
        }
        dev_free(be, dx), dev_free(be, dy), dev_free(be, sg), dev_free(be, su);
        dev_free(be, w.data), dev_free(be, bias.data), dev_free(be, wg.data), dev_free(be, wu.data), dev_free(be, wd.data);
        free(x);
    }
    float *d[5];
    int ok = 0;
    for (int k = 0; k < 5; k++) {
        d[k] = dev_out(be, 64 * 4);
        ok += be->pin_f16(be->ctx, d[k], 64) == KERN_OK;
    }
    CHECK(ok == (is_cpu(be) ? 5 : 4), "pin_f16[%s]: %d of 5 pins at once taken", be->name, ok);
    for (int k = 0; k < 5; k++) be->unpin_f16(be->ctx, d[k]), dev_free(be, d[k]);
}

/* After unpin_f16 the ops read the array itself again: x is pinned, used, unpinned and then
 * changed; a matmul on it gives the bits of the same matmul on a never-pinned copy of the new
 * values. Unpinning frees the slot: four pins, four unpins, four pins again. */
static void test_op_unpin_f16(const awq_backend *be)
{
    const size_t n = 24, i = 96, o = 40;
    for (int f16 = 0; f16 < 2; f16++) {
        float *x = rand_floats(n * i, -2, 2, 0), *x2 = rand_floats(n * i, -2, 2, 0);
        float *got = xmalloc(n * o * 4), *want = xmalloc(n * o * 4);
        kern_weight w = dev_weight(be, rand_weight(KERN_F16, o * i, -1, 1), o * i);
        float *dx = dev_put(be, x, n * i * 4), *dx2 = dev_put(be, x2, n * i * 4), *dy = dev_out(be, n * o * 4);
        CHECK(be->pin_f16(be->ctx, dx, n * i) == KERN_OK, "unpin_f16[%s]: pin", be->name);
        CHECK(be->matmul(be->ctx, dy, dx, w, KERN_NO_WEIGHT, n, o, i, f16) == KERN_OK, "unpin_f16[%s]: matmul", be->name);
        be->unpin_f16(be->ctx, dx);
        CHECK(be->upload(be->ctx, dx, x2, n * i * 4) == KERN_OK, "unpin_f16[%s]: upload", be->name);
        CHECK(be->matmul(be->ctx, dy, dx, w, KERN_NO_WEIGHT, n, o, i, f16) == KERN_OK, "unpin_f16[%s]: matmul", be->name);
        dev_get(be, got, dy, n * o * 4);
        CHECK(be->matmul(be->ctx, dy, dx2, w, KERN_NO_WEIGHT, n, o, i, f16) == KERN_OK, "unpin_f16[%s]: matmul", be->name);
        dev_get(be, want, dy, n * o * 4);
        char id[64];
        snprintf(id, sizeof id, "unpin_f16[%s f16=%d]", be->name, f16);
        compare(id, got, want, n * o, (tolerance){.exact = 1});
        dev_free(be, dx), dev_free(be, dx2), dev_free(be, dy), dev_free(be, w.data);
        free(x), free(x2), free(got), free(want);
    }
    float *d[4];
    for (int round = 0; round < 2; round++) {
        int ok = 0;
        for (int k = 0; k < 4; k++) d[k] = dev_out(be, 64 * 4), ok += be->pin_f16(be->ctx, d[k], 64) == KERN_OK;
        CHECK(ok == 4, "unpin_f16[%s]: round %d: %d of 4 pins taken", be->name, round, ok);
        for (int k = 0; k < 4; k++) be->unpin_f16(be->ctx, d[k]), dev_free(be, d[k]);
    }
}

/* ---- rmsnorm, rope ------------------------------------------------------------------------- */

/* Both sides sum the squares in fp64 and do the rest in single IEEE ops in the same order, so
 * they differ only when the fp64 sum, cast to fp32, sits on a boundary: fp32 mode within 1e-6
 * relative (NMSE 1e-12), faithful within one fp16 ulp (1% may differ). In place gives the same bits. */
static void op_rmsnorm(const awq_backend *be, int one1p /* Gemma's rmsnorm_1p */)
{
    static const struct { size_t n, c; } sh[] = {{1, 1}, {7, 33}, {33, 1000}, {80, 128}, {3, 4099}, {5, 11008}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int dt = 0; dt < 3; dt++)
            for (int f16 = 0; f16 < 2; f16++) {
                size_t n = sh[s].n, c = sh[s].c;
                float eps = s % 2 ? 1e-6f : 1e-5f;
                float *x = rand_floats(n * c, -3, 3, f16), *want = xmalloc(n * c * 4), *got = xmalloc(n * c * 4);
                kern_weight w = rand_weight((kern_dtype)dt, c, -2, 2);
                double *tol = xmalloc(n * c * sizeof *tol);
                CHECK((one1p ? kern_rmsnorm_1p_ref : kern_rmsnorm_ref)(want, x, w, n, c, eps, f16) == KERN_OK, "ref");
                for (size_t e = 0; e < n * c; e++) tol[e] = f16 ? ulp16(want[e]) : 1e-6 * fabs(want[e]) + 1e-30;
                char id[160];
                snprintf(id, sizeof id, "%s[%s n=%zu c=%zu w=%s f16=%d]", one1p ? "rmsnorm_1p" : "rmsnorm", be->name, n, c,
                         dt_name((kern_dtype)dt), f16);
                float *dx = dev_put(be, x, n * c * 4), *dy = dev_out(be, n * c * 4);
                kern_weight dw = dev_weight(be, w, c);
                kern_status (*op)(awq_backend_ctx *, float *, const float *, kern_weight, size_t, size_t, float, int) =
                    one1p ? be->rmsnorm_1p : be->rmsnorm;
                CHECK(op(be->ctx, dy, dx, dw, n, c, eps, f16) == KERN_OK, "%s", id);
                dev_get(be, got, dy, n * c * 4);
                compare(id, got, want, n * c,
                        (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
                CHECK(op(be->ctx, dx, dx, dw, n, c, eps, f16) == KERN_OK, "%s in place", id);
                dev_get(be, want, dx, n * c * 4);
                CHECK(!memcmp(want, got, n * c * 4), "%s: in place differs", id);
                dev_free(be, dx), dev_free(be, dy), dev_free(be, dw.data);
                free(x), free((void *)w.data), free(want), free(got), free(tol);
            }
}

static const kern_rope rope_default = {.theta = 10000.0f};
static const kern_rope rope_gemma3_global = {.theta = 1000000.0f, .linear = 8.0f};
static const kern_rope rope_qwen = {.theta = 1000000.0f};
static const kern_rope rope_llama31 = {.theta = 500000.0f, .llama3 = 1, .factor = 8.0f, .low_freq_factor = 1.0f,
                                       .high_freq_factor = 4.0f, .original_max_pos = 8192.0f};
/* DeepSeek-V3: yarn (factor 40, original 4096, beta 32/1, attention factor 1), interleaved pairs;
 * and a tiny yarn with a cos/sin factor of 1.037 (mscale 1, mscale_all_dim 0.707, factor 4) */
static const kern_rope rope_dsv3 = {.theta = 10000.0f, .factor = 40.0f, .original_max_pos = 4096.0f, .yarn = 1,
                                    .beta_fast = 32, .beta_slow = 1, .truncate = 1, .attention_factor = 1.0f,
                                    .interleave = 1};
static const kern_rope rope_yarn_small = {.theta = 10000.0f, .factor = 4.0f, .original_max_pos = 128.0f, .yarn = 1,
                                          .beta_fast = 32, .beta_slow = 1, .truncate = 1,
                                          .attention_factor = 1.036992729910394f};
static const kern_rope rope_interleave = {.theta = 10000.0f, .interleave = 1};

/* cos/sin may differ by an fp32 ulp between libm and the device (the rest is the same IEEE ops),
 * so fp32 within 1e-6 absolute + 1e-6 relative (NMSE 1e-12). Faithful: that ulp can straddle an
 * fp16 boundary, so h(cos) or h(sin) may differ by one fp16 ulp (<= 2^-11, they are <= 1), which
 * moves h(a*c) by |a|*2^-11 plus a rounding (<= 2^-10 |a c|), likewise b*s: within
 * (|a| + |b|)*2^-9 + one fp16 ulp of the result; seen on the GPU at one (position, frequency) of
 * 32768, i.e. a few heads' pairs in a row; at most 1% may differ. Positions restart per
 * sequence or reach 8191. */
/* Phi-3: longrope short factors (1..2.2, one per pair of the rotated 24), cos/sin x1.19, partial
 * rotary 24 of 32 (the last 8 of each head pass through); and a plain partial rotary. */
static const float phi3_ext[12] = {1.0f, 1.05f, 1.1f, 1.2f, 1.3f, 1.4f, 1.5f, 1.7f, 1.9f, 2.0f, 2.1f, 2.2f};
static const kern_rope rope_phi3 = {.theta = 10000.0f, .ext_factors = phi3_ext, .longrope = 1, .attention_factor = 1.19f,
                                    .rotary_dim = 24};
static const kern_rope rope_partial = {.theta = 10000.0f, .rotary_dim = 8};

static void op_rope(const awq_backend *be)
{
    static const struct { size_t n, heads, d, t; const kern_rope *rope; const char *what; } sh[] = {
        {1, 1, 2, 1, &rope_default, "d=2"}, {9, 3, 64, 4, &rope_default, "3 sequences of 4, last partial"},
        {37, 8, 128, 37, &rope_qwen, "theta 1e6"}, {20, 5, 96, 10, &rope_llama31, "llama3, d=96"},
        {6, 2, 128, 0, &rope_llama31, "large positions"}, {512, 32, 128, 512, &rope_default, "W7 q, 512 tokens"},
        {48, 16, 64, 24, &rope_dsv3, "DeepSeek-V3 yarn, interleaved"}, {30, 3, 16, 10, &rope_yarn_small, "yarn, cos/sin x1.037"},
        {9, 2, 8, 9, &rope_interleave, "interleaved, d=8"},
        {20, 4, 32, 10, &rope_phi3, "longrope, partial 24 of 32"}, {12, 2, 16, 12, &rope_partial, "partial 8 of 16"},
        {24, 2, 64, 24, &rope_gemma3_global, "Gemma 3 global: theta 1e6, linear factor 8"},
    };
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t n = sh[s].n, len = n * sh[s].heads * sh[s].d;
            float *x = rand_floats(len, -3, 3, f16), *want = xmalloc(len * 4), *got = xmalloc(len * 4);
            int32_t *pos = xmalloc(n * sizeof *pos);
            for (size_t r = 0; r < n; r++) pos[r] = sh[s].t ? (int32_t)(r % sh[s].t) : (int32_t)(8191 - 1000 * r);
            memcpy(want, x, len * 4);
            CHECK(kern_rope_ref(want, pos, n, sh[s].heads, sh[s].d, sh[s].rope, f16) == KERN_OK, "ref");
            double *tol = xmalloc(len * sizeof *tol);
            size_t d = sh[s].d, half = kern_rope_dim(sh[s].rope, d) / 2;
            for (size_t e = 0; e < len; e++) {
                if (e % d >= 2 * half) { tol[e] = 0; continue; } /* not rotated: passed through exactly */
                size_t j = e % d % half, at = e - e % d; /* the rotation pair of element e */
                double ab = sh[s].rope->interleave ? fabs(x[at + 2 * j]) + fabs(x[at + 2 * j + 1])
                                                   : fabs(x[at + j]) + fabs(x[at + j + half]);
                tol[e] = f16 ? ab * 0x1p-9 + ulp16(want[e]) : 1e-6 + 1e-6 * fabs(want[e]);
            }
            char id[160];
            snprintf(id, sizeof id, "rope[%s n=%zu heads=%zu d=%zu f16=%d (%s)]", be->name, n, sh[s].heads, sh[s].d, f16,
                     sh[s].what);
            float *dx = dev_put(be, x, len * 4);
            int32_t *dp = dev_put(be, pos, n * sizeof *pos);
            CHECK(be->rope(be->ctx, dx, dp, n, sh[s].heads, sh[s].d, sh[s].rope, f16) == KERN_OK, "%s", id);
            dev_get(be, got, dx, len * 4);
            compare(id, got, want, len, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
            dev_free(be, dx), dev_free(be, dp);
            free(x), free(want), free(got), free(pos), free(tol);
        }
    /* the shape rule: an odd or too wide rotated part, and a partial interleaved one, are refused */
    static const kern_rope bad[] = {{.theta = 1e4f, .rotary_dim = 7}, {.theta = 1e4f, .rotary_dim = 18},
                                    {.theta = 1e4f, .rotary_dim = 8, .interleave = 1}};
    float *dx = dev_out(be, 2 * 16 * 4);
    int32_t zero[2] = {0, 1}, *dp = dev_put(be, zero, sizeof zero);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECK(be->rope(be->ctx, dx, dp, 2, 1, 16, &bad[k], 0) == KERN_ERR_ARG, "rope[%s] bad shape %zu accepted", be->name, k);
    dev_free(be, dx), dev_free(be, dp);
}

/* ---- attention ------------------------------------------------------------------------------- */

/* fp32: scores differ by the dot-product order only (~1e-6 relative), so out within 1e-5 absolute
 * + 1e-4 relative, NMSE 1e-10. Faithful: a score on an fp16 rounding boundary can move by one ulp
 * (<= 2^-8 for |s| < 8), which moves its probability by <= 0.4%; out within 8e-3 absolute (|v| < 1),
 * NMSE 1e-8, at most 5% of the outputs differ. GQA ratios 1, 2, 4, 8, head_dim != hidden/heads, and
 * (not on the CPU) a long case against the CPU op whose (sequence, head) pairs span two chunks of
 * the CUDA op, the boundary inside a sequence. */
static void op_attention(const awq_backend *be)
{
    static const struct {
        size_t b, t, h, hkv, d;
        int big;
        const char *what;
        size_t dv;
        float scale, softcap;
        size_t window;
    } sh[] = {
        {1, 1, 1, 1, 8, 0, "one token", 0, 0, 0, 0}, {2, 17, 4, 4, 16, 0, "MHA (ratio 1)", 0, 0, 0, 0}, {3, 33, 8, 4, 64, 0, "GQA ratio 2", 0, 0, 0, 0},
        {2, 50, 8, 2, 128, 0, "GQA ratio 4", 0, 0, 0, 0}, {1, 70, 8, 1, 40, 0, "MQA ratio 8, d=40", 0, 0, 0, 0},
        {2, 23, 6, 2, 128, 0, "d=128 with H*D=768, odd t", 0, 0, 0, 0}, {3, 2048, 6, 2, 64, 1, "t=2048, 18 pairs (vs the CPU op)", 0, 0, 0, 0},
        {1, 512, 4, 2, 128, 0, "t=512, d=128: 8 query tiles of the fused kernel", 0, 0, 0, 0},
        {2, 100, 8, 2, 64, 0, "t=100, d=64, GQA ratio 4: partial tiles of the fused kernel", 0, 0, 0, 0},
        /* DeepSeek's MLA: v heads narrower or wider than q/k heads, yarn's scale */
        {2, 24, 4, 4, 48, 0, "MLA d=48 dv=24, yarn scale", 24, 0.17401743871138853f, 0, 0},
        {1, 40, 4, 4, 24, 0, "MLA d=24 dv=40", 40, 0.3f, 0, 0},
        {2, 600, 16, 16, 192, 1, "DeepSeek-V3 heads d=192 dv=128 (vs the CPU op)", 128, 0.1147213867929261f, 0, 0},
        /* Gemma: query_pre_attn_scalar's scale, score soft-capping, a sliding window shorter than t */
        {2, 40, 4, 2, 16, 0, "Gemma 2: softcap 5, window 7", 0, 0.125f, 5.0f, 7},
        {1, 33, 2, 1, 32, 0, "window 1 (each token sees itself)", 0, 0, 0, 1},
        {2, 300, 4, 2, 64, 0, "window 128 over 300 tokens, softcap 50 (the register softmax)", 0, 0, 50.0f, 128},
        {1, 1100, 2, 1, 16, 1, "window 1000 over 1100, softcap 20 (the long-row softmax, vs the CPU op)", 0, 0, 20.0f, 1000},
    };
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        if (sh[s].big && is_cpu(be)) continue;
        for (int f16 = 0; f16 < 2; f16++) {
            size_t b = sh[s].b, t = sh[s].t, h = sh[s].h, hkv = sh[s].hkv, d = sh[s].d, dv = sh[s].dv ? sh[s].dv : d;
            float scale = sh[s].scale ? sh[s].scale : kern_attention_scale(d);
            size_t nq = b * t * h * d, nk = b * t * hkv * d, nv = b * t * hkv * dv, no = b * t * h * dv;
            float *q = rand_floats(nq, -2, 2, f16), *k = rand_floats(nk, -2, 2, f16), *v = rand_floats(nv, -1, 1, f16);
            float *want = xmalloc(no * 4), *got = xmalloc(no * 4);
            const float cap = sh[s].softcap;
            const size_t win = sh[s].window;
            kern_status st = sh[s].big ? awq_backend_cpu()->attention(NULL, want, q, k, v, b, t, h, hkv, d, dv, scale, cap, win, f16)
                                       : kern_attention_ref(want, q, k, v, b, t, h, hkv, d, dv, scale, cap, win, f16);
            CHECK(st == KERN_OK, "reference");
            char id[200];
            snprintf(id, sizeof id, "attention[%s b=%zu t=%zu h=%zu hkv=%zu d=%zu dv=%zu f16=%d (%s)]", be->name, b, t, h,
                     hkv, d, dv, f16, sh[s].what);
            float *dq = dev_put(be, q, nq * 4), *dk = dev_put(be, k, nk * 4), *dv_ = dev_put(be, v, nv * 4);
            float *dout = dev_out(be, no * 4);
            st = be->attention(be->ctx, dout, dq, dk, dv_, b, t, h, hkv, d, dv, scale, cap, win, f16);
            CHECK(st == KERN_OK, "%s: %s", id, kern_strerror(st));
            dev_get(be, got, dout, no * 4);
            if (f16) compare(id, got, want, no, (tolerance){.atol = 8e-3, .nmse = 1e-8, .f16 = 1, .flips = 0.05});
            else compare(id, got, want, no, (tolerance){.atol = 1e-5, .rtol = 1e-4, .nmse = 1e-10});
            dev_free(be, dq), dev_free(be, dk), dev_free(be, dv_), dev_free(be, dout);
            free(q), free(k), free(v), free(want), free(got);
        }
    }
}

/* ---- elementwise ops ------------------------------------------------------------------------- */

/* silu_mul: exp may differ by an fp32 ulp between libm and the device: 1e-6 relative, faithful one
 * fp16 ulp (1% may differ). add is one IEEE add: bit-exact. Both also in place (out = g / a). */
static void elementwise(const awq_backend *be, int op /* 0 silu_mul, 1 add, 2 gelu_tanh_mul */)
{
    static const size_t ns[] = {1, 7, 1000, 100003};
    for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
                size_t n = ns[s];
                float *g = rand_floats(n, -12, 12, f16), *u = rand_floats(n, -3, 3, f16);
                float *want = xmalloc(n * 4), *got = xmalloc(n * 4);
                double *tol = xmalloc(n * sizeof *tol);
                if (op == 0) kern_silu_mul_ref(want, g, u, n, f16);
                else if (op == 2) kern_gelu_tanh_mul_ref(want, g, u, n, f16);
                else kern_add_ref(want, g, u, n, f16);
                for (size_t e = 0; e < n; e++) tol[e] = f16 ? ulp16(want[e]) : 1e-6 * fabs(want[e]) + 1e-30;
                char id[120];
                static const char *const name[] = {"silu_mul", "add", "gelu_tanh_mul"};
                snprintf(id, sizeof id, "%s[%s n=%zu f16=%d]", name[op], be->name, n, f16);
                float *dg = dev_put(be, g, n * 4), *du = dev_put(be, u, n * 4), *dy = dev_out(be, n * 4);
                kern_status (*fn)(awq_backend_ctx *, float *, const float *, const float *, size_t, int) =
                    op == 0 ? be->silu_mul : op == 1 ? be->add : be->gelu_tanh_mul;
                kern_status st = fn(be->ctx, dy, dg, du, n, f16);
                CHECK(st == KERN_OK, "%s", id);
                dev_get(be, got, dy, n * 4);
                if (op == 1) compare(id, got, want, n, (tolerance){.exact = 1});
                else compare(id, got, want, n, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
                st = fn(be->ctx, dg, dg, du, n, f16);
                dev_get(be, want, dg, n * 4);
                CHECK(st == KERN_OK && !memcmp(want, got, n * 4), "%s: in place differs", id);
                dev_free(be, dg), dev_free(be, du), dev_free(be, dy);
                free(g), free(u), free(want), free(got), free(tol);
            }
}
static void test_op_silu_mul(const awq_backend *be) { elementwise(be, 0); }
static void test_op_add(const awq_backend *be) { elementwise(be, 1); }
/* softcap against its _ref on logits of +-150 (cap 30: the tanh saturates at the ends) and by
 * hand: 30 -> tanh(1) * 30 = 22.847825; tanh may differ by an fp32 ulp between libm and the
 * device, so 1e-6 relative, faithful one fp16 ulp (1% may differ). */
static void test_op_softcap(const awq_backend *be)
{
    static const size_t ns[] = {1, 1000, 100003};
    for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            const size_t n = ns[s];
            float *x = rand_floats(n, -150, 150, f16), *want = xmalloc(n * 4), *got = xmalloc(n * 4);
            double *tol = xmalloc(n * sizeof *tol);
            memcpy(want, x, n * 4);
            REQUIRE(kern_softcap_ref(want, n, 30.0f, f16) == KERN_OK, "ref");
            for (size_t e = 0; e < n; e++) tol[e] = f16 ? ulp16(want[e]) : 1e-6 * fabs(want[e]) + 1e-30;
            char id[96];
            snprintf(id, sizeof id, "softcap[%s n=%zu f16=%d]", be->name, n, f16);
            float *dx = dev_put(be, x, n * 4);
            CHECK(be->softcap(be->ctx, dx, n, 30.0f, f16) == KERN_OK, "%s", id);
            dev_get(be, got, dx, n * 4);
            compare(id, got, want, n, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
            dev_free(be, dx);
            free(x), free(want), free(got), free(tol);
        }
    float one = 30.0f;
    REQUIRE(kern_softcap_ref(&one, 1, 30.0f, 0) == KERN_OK, "ref");
    CHECK(fabsf(one - 22.847825f) < 1e-5f, "softcap(30, cap 30) = %.7g, want 22.847825", one);
    CHECK(kern_softcap_ref(&one, 1, 0.0f, 0) == KERN_ERR_ARG, "cap 0 is refused");
}
/* gelu_tanh by hand (the _ref): gelu_tanh(1) = 0.8411920, gelu_tanh(-2) = -0.0454023 (torch's
 * formula; the exact GELU would give 0.8413447 and -0.0455003). */
static void t_gelu_tanh_by_hand(void)
{
    const float g[2] = {1, -2}, u[2] = {1, 1};
    float y[2];
    REQUIRE(kern_gelu_tanh_mul_ref(y, g, u, 2, 0) == KERN_OK, "gelu_tanh_mul");
    CHECK(fabsf(y[0] - 0.841192f) < 1e-6f && fabsf(y[1] + 0.0454023f) < 1e-6f, "gelu_tanh %.7g %.7g", y[0], y[1]);
}
static void test_op_gelu_tanh_mul(const awq_backend *be) { elementwise(be, 2); t_gelu_tanh_by_hand(); }

/* ---- mlp ------------------------------------------------------------------------------------- */

/* |x| · |w|^T (+1% headroom for this sgemm's own rounding): the magnitude sum of each output of
 * a matmul, which its tolerance scales with; zeros for empty sums. */
static float *mag_sums(const float *x /*[n,i]*/, kern_weight w /*[o,i]*/, size_t n, size_t o, size_t i)
{
    float *ax = xmalloc(n * i * 4 + 4), *aw = xmalloc(o * i * 4 + 4), *y = xmalloc(n * o * 4 + 4);
    for (size_t e = 0; e < n * i; e++) ax[e] = fabsf(x[e]);
    for (size_t e = 0; e < o * i; e++) aw[e] = fabsf(kern_weight_at(w, e));
    if (n && o && i)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)o, (int)i, 1.0f, ax, (int)i, aw, (int)i,
                    0.0f, y, (int)o);
    else memset(y, 0, n * o * 4);
    for (size_t e = 0; e < n * o; e++) y[e] *= 1.01f;
    free(ax), free(aw);
    return y;
}

/* the reference matmul: the _ref, or the CPU op for the shapes too big for it */
static kern_status matmul_want(int big, float *y, const float *x, kern_weight w, kern_weight b, size_t n, size_t o,
                               size_t i, int f16)
{
    return big ? awq_backend_cpu()->matmul(NULL, y, x, w, b, n, o, i, f16) : kern_matmul_ref(y, x, w, b, n, o, i, f16);
}

/* The fused MLP held to the composition of the reference ops (the _refs; the CPU ops for the
 * big shape), stage by stage, each stage's tolerance carried into the next:
 * - g, u as the matmul cases: tg = 2(c+1)2^-24 (sum|m wg| + |bg|) (x2 against the CPU op),
 *   + one fp16 ulp when faithful;
 * - down_in a = silu_mul(g, u): |silu'| < 1.1, so silu moves by <= 1.1 tg (+1e-6 relative: exp),
 *   h(silu) one fp16 ulp more, the product by ds (|u| + tu) + |s| tu (+2 fp32 roundings), h() by
 *   one ulp more: ta;
 * - out: the matmul tolerance of a·wd + sum_k |wd[o][k]| ta[r][k] (+ one ulp when faithful);
 *   and, as in the matmul cases, against the matmul of the op's own down_in.
 * NMSE and the share of faithful outputs that may differ as in the matmul cases, plus what the
 * earlier stages pass on. Exact, on every backend: out does not depend on down_in being asked
 * for and down_in not on out, and both equal the backend's own matmul, matmul, silu_mul, matmul
 * bit for bit (the CUDA fast path keeps the intermediates in fp16: that must not change a value).
 * Weights: F16 without biases (CUDA's fp16 path when faithful); F16 with biases, F32, BF16 with
 * biases, F16 gate/up with a BF16 down (the composition of the separate ops on CUDA). Shapes
 * with c > f and c > 2f put CUDA's fp16 m and down output in the context's scratch. */
/* The last linear of a fused op (mlp's down_proj, attn's o_proj): out against a matmul of the op's
 * own intermediate `in` [n, i] (named in_name) with the matmul cases' tolerance; want/tol: scratch
 * of n*o. 0 when the reference could not be computed (the caller stops). */
static int out_of_input(const char *id, const char *in_name, const float *out, const float *in, kern_weight w, kern_weight b,
                        size_t n, size_t o, size_t i, int f16, int big, float *want, double *tol)
{
    kern_status st = matmul_want(big, want, in, w, b, n, o, i, f16);
    if (st != KERN_OK) { CHECK(0, "%s: reference matmul of %s: %s", id, in_name, kern_strerror(st)); return 0; }
    const double lim = 2.0 * (double)(i + 1) * 0x1p-24 * (big ? 2 : 1);
    float *sums = mag_sums(in, w, n, o, i);
    for (size_t e = 0; e < n * o; e++)
        tol[e] = lim * (sums[e] + (b.data ? fabs(kern_weight_at(b, e % o)) : 0)) + (f16 ? ulp16(want[e]) : 0);
    char sub[320];
    snprintf(sub, sizeof sub, "%s out of its %s", id, in_name);
    compare(sub, out, want, n * o,
            (tolerance){.each = tol, .nmse = 0x1p-46 * (double)(i + 1) + (f16 ? F16_FLIPS_NMSE : 0), .f16 = f16,
                        .flips = 0.01 + sqrt((double)i) * 0x1p-11});
    free(sums);
    return 1;
}

/* Per-element bounds of an mlp's down_in (ta [n, f]) and out (tout [n, c]) against its reference
 * composition (wg_, wu_: the gate and up products; wa: down_in; wout: out), from the magnitudes
 * of the sums (lim_g, lim_d: the fp32 bound per unit of magnitude) and, when faithful, one fp16
 * rounding of each intermediate; what op_mlp and op_mlp_grouped (a group at a time) hold to. */
static void mlp_bounds(const float *m, kern_weight wg, kern_weight bg, kern_weight wu, kern_weight bu, kern_weight wd,
                       kern_weight bd, const float *wg_, const float *wu_, const float *wa, const float *wout, size_t n,
                       size_t c, size_t f, int act, int f16, double lim_g, double lim_d, double *ta, double *tout)
{
    const size_t nf = n * f, nc = n * c;
    float *sg = mag_sums(m, wg, n, f, c), *su = mag_sums(m, wu, n, f, c);
    float *ta32 = xmalloc(nf * 4 + 4), *wa_hi = xmalloc(nf * 4 + 4);
    for (size_t e = 0; e < nf; e++) {
        size_t j = e % f;
        double tg = lim_g * (sg[e] + (bg.data ? fabs(kern_weight_at(bg, j)) : 0));
        double tu = lim_g * (su[e] + (bu.data ? fabs(kern_weight_at(bu, j)) : 0));
        if (f16) tg += ulp16(wg_[e]), tu += ulp16(wu_[e]);
        /* |silu'| < 1.1, |gelu_tanh'| < 1.13 */
        double g = wg_[e], uabs = fabs(wu_[e]) + tu;
        double sabs = act ? fabs(0.5 * g * (1 + tanh(0.7978845608 * (g + 0.044715 * g * g * g)))) : fabs(g / (1.0 + exp(-g)));
        double ds = 1.15 * tg + 1e-6 * sabs + 1e-30;
        if (f16) ds += ulp16(sabs + ds);
        double hs = sabs + ds, pmag = hs * uabs;
        ta[e] = ds * uabs + hs * tu + 0x1p-22 * pmag + (f16 ? ulp16(pmag) : 0);
        ta32[e] = (float)ta[e];
        wa_hi[e] = fabsf(wa[e]) + ta32[e];
    }
    float *sd = mag_sums(wa_hi, wd, n, c, f), *sp = mag_sums(ta32, wd, n, c, f);
    for (size_t e = 0; e < nc; e++) {
        double t = lim_d * (sd[e] + (bd.data ? fabs(kern_weight_at(bd, e % c)) : 0)) + sp[e];
        tout[e] = t + (f16 ? ulp16(fabs(wout[e]) + t) : 0);
    }
    free(sg), free(su), free(ta32), free(wa_hi), free(sd), free(sp);
}

static void op_mlp(const awq_backend *be)
{
    static const struct { size_t n, c, f; int big; const char *what; } sh[] = {
        {1, 1, 1, 0, "scalar"}, {3, 5, 7, 0, "odd"}, {37, 64, 96, 0, "c < f, odd n"},
        {5, 300, 200, 0, "c > f"}, {4, 130, 60, 0, "c > 2f"}, {3, 0, 5, 0, "c = 0: gate/up are their biases"},
        {3, 4, 0, 0, "f = 0: out is down's bias"}, {1000, 256, 704, 1, "n=1000 (vs the CPU ops)"},
    };
    static const struct { kern_dtype gate_up, down; int bias; const char *what; } var[] = {
        {KERN_F16, KERN_F16, 0, "F16, no bias"}, {KERN_F16, KERN_F16, 1, "F16 + biases"}, {KERN_F32, KERN_F32, 0, "F32"},
        {KERN_BF16, KERN_BF16, 1, "BF16 + biases"}, {KERN_F16, KERN_BF16, 0, "F16 gate/up, BF16 down"},
    };
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        if (sh[s].big && is_cpu(be)) continue;
        for (size_t va = 0; va < 2 * sizeof var / sizeof var[0]; va++)
            for (int f16 = 0; f16 < 2; f16++) {
                /* act: silu with every weight variant, Gemma's tanh GELU with F16 and F32 ones */
                const size_t v = va % (sizeof var / sizeof var[0]);
                const int act = va >= sizeof var / sizeof var[0] ? KERN_ACT_GELU_TANH : KERN_ACT_SILU;
                if (act && v != 0 && v != 2) continue;
                const size_t n = sh[s].n, c = sh[s].c, f = sh[s].f, nc = n * c, nf = n * f;
                const double k2 = sh[s].big ? 2 : 1, lim_g = 2.0 * (double)(c + 1) * 0x1p-24 * k2,
                             lim_d = 2.0 * (double)(f + 1) * 0x1p-24 * k2;
                float *m = rand_floats(nc, -1, 1, f16);
                kern_weight wg = rand_weight(var[v].gate_up, f * c, -1, 1);
                kern_weight wu = rand_weight(var[v].gate_up, f * c, -1, 1);
                kern_weight wd = rand_weight(var[v].down, c * f, -1, 1);
                kern_weight bg = var[v].bias ? rand_weight(var[v].gate_up, f, -2, 2) : KERN_NO_WEIGHT;
                kern_weight bu = var[v].bias ? rand_weight(var[v].gate_up, f, -2, 2) : KERN_NO_WEIGHT;
                kern_weight bd = var[v].bias ? rand_weight(var[v].down, c, -2, 2) : KERN_NO_WEIGHT;
                /* the reference composition, its intermediates kept */
                float *wg_ = xmalloc(nf * 4 + 4), *wu_ = xmalloc(nf * 4 + 4), *wa = xmalloc(nf * 4 + 4);
                float *wout = xmalloc(nc * 4 + 4);
                const int big = sh[s].big;
                kern_status st = matmul_want(big, wg_, m, wg, bg, n, f, c, f16);
                if (st == KERN_OK) st = matmul_want(big, wu_, m, wu, bu, n, f, c, f16);
                if (st == KERN_OK) st = (act ? kern_gelu_tanh_mul_ref : kern_silu_mul_ref)(wa, wg_, wu_, nf, f16);
                if (st == KERN_OK) st = matmul_want(big, wout, wa, wd, bd, n, c, f, f16);
                REQUIRE(st == KERN_OK, "reference: %s", kern_strerror(st));
                /* tolerances of down_in, then of out */
                double *ta = xmalloc(nf * sizeof *ta + 8), *tout = xmalloc(nc * sizeof *tout + 8);
                mlp_bounds(m, wg, bg, wu, bu, wd, bd, wg_, wu_, wa, wout, n, c, f, act, f16, lim_g, lim_d, ta, tout);
                double nmse_a = 0x1p-46 * (double)(c + 1) * 8 + 1e-12 + (f16 ? F16_FLIPS_NMSE : 0);
                double nmse_out = 2 * nmse_a + 0x1p-46 * (double)(f + 1) + (f16 ? F16_FLIPS_NMSE : 0);
                double flips_a = 0.03 + 2 * sqrt((double)c) * 0x1p-11;
                char id[240];
                snprintf(id, sizeof id, "mlp[%s n=%zu c=%zu f=%zu %s %s f16=%d (%s)]", be->name, n, c, f, var[v].what,
                         act ? "gelu_tanh" : "silu", f16, sh[s].what);
                /* the op: out + down_in, out alone, down_in alone (no down weights then) */
                float *dm = dev_put(be, m, nc * 4), *dsg = dev_out(be, nf * 4), *dsu = dev_out(be, nf * 4);
                kern_weight dwg = dev_weight(be, wg, f * c), dwu = dev_weight(be, wu, f * c);
                kern_weight dwd = dev_weight(be, wd, c * f);
                kern_weight dbg = dev_weight(be, bg, f), dbu = dev_weight(be, bu, f), dbd = dev_weight(be, bd, c);
                float *dout = dev_out(be, nc * 4), *dda = dev_out(be, nf * 4);
                float *got_out = xmalloc(nc * 4 + 4), *got_a = xmalloc(nf * 4 + 4);
                float *again = xmalloc((nc > nf ? nc : nf) * 4 + 4);
                st = be->mlp(be->ctx, dout, dda, dm, dwg, dbg, dwu, dbu, dwd, dbd, dsg, dsu, n, c, f, act, f16);
                REQUIRE(st == KERN_OK, "%s: %s %s", id, kern_strerror(st), is_cpu(be) ? "" : kern_last_error());
                dev_get(be, got_out, dout, nc * 4), dev_get(be, got_a, dda, nf * 4);
                char sub[280];
                snprintf(sub, sizeof sub, "%s down_in", id);
                compare(sub, got_a, wa, nf,
                        (tolerance){.each = ta, .nmse = nmse_a, .f16 = f16, .flips = flips_a});
                snprintf(sub, sizeof sub, "%s out", id);
                compare(sub, got_out, wout, nc, (tolerance){.each = tout, .nmse = nmse_out, .f16 = f16, .flips = 1});
                /* out as a matmul of the op's own down_in: the matmul cases' tolerance and share of
                 * faithful outputs that may differ (against the reference's down_in, one flipped a
                 * in a row moves all of that row's outputs, so many may sit on a boundary) */
                if (!out_of_input(id, "down_in", got_out, got_a, wd, bd, n, c, f, f16, big, wout, tout)) return;
                dev_free(be, dout), dev_free(be, dda);
                dout = dev_out(be, nc * 4);
                CHECK(be->mlp(be->ctx, dout, NULL, dm, dwg, dbg, dwu, dbu, dwd, dbd, dsg, dsu, n, c, f, act, f16) == KERN_OK, "%s", id);
                dev_get(be, again, dout, nc * 4);
                CHECK(!memcmp(again, got_out, nc * 4), "%s: out without down_in differs", id);
                dda = dev_out(be, nf * 4);
                CHECK(be->mlp(be->ctx, NULL, dda, dm, dwg, dbg, dwu, dbu, KERN_NO_WEIGHT, KERN_NO_WEIGHT, dsg, dsu, n, c, f,
                              act, f16) == KERN_OK, "%s", id);
                dev_get(be, again, dda, nf * 4);
                CHECK(!memcmp(again, got_a, nf * 4), "%s: down_in without out differs", id);
                /* the backend's own separate ops */
                st = be->matmul(be->ctx, dsg, dm, dwg, dbg, n, f, c, f16);
                if (st == KERN_OK) st = be->matmul(be->ctx, dsu, dm, dwu, dbu, n, f, c, f16);
                if (st == KERN_OK) st = (act ? be->gelu_tanh_mul : be->silu_mul)(be->ctx, dda, dsg, dsu, nf, f16);
                if (st == KERN_OK) st = be->matmul(be->ctx, dout, dda, dwd, dbd, n, c, f, f16);
                CHECK(st == KERN_OK, "%s: separate ops: %s", id, kern_strerror(st));
                dev_get(be, again, dda, nf * 4);
                same_bits(id, "down_in differs from silu_mul of the separate matmuls", got_a, again, nf);
                dev_get(be, again, dout, nc * 4);
                same_bits(id, "out differs from the separate ops", got_out, again, nc);
                dev_free(be, dm), dev_free(be, dsg), dev_free(be, dsu), dev_free(be, dout), dev_free(be, dda);
                dev_free(be, dwg.data), dev_free(be, dwu.data), dev_free(be, dwd.data);
                dev_free(be, dbg.data), dev_free(be, dbu.data), dev_free(be, dbd.data);
                free(m), free((void *)wg.data), free((void *)wu.data), free((void *)wd.data);
                free((void *)bg.data), free((void *)bu.data), free((void *)bd.data);
                free(wg_), free(wu_), free(wa), free(wout), free(ta), free(tout);
                free(got_out), free(got_a), free(again);
            }
    }
    /* refused: a bad dtype in a weight or bias it reads; w_down is not read without out, and
     * neither output asked for does nothing */
    float *d = dev_out(be, 4096);
    kern_weight ok = {d, KERN_F32}, bad = {d, (kern_dtype)7};
    CHECK(be->mlp(be->ctx, d, d + 64, d, ok, KERN_NO_WEIGHT, ok, KERN_NO_WEIGHT, bad, KERN_NO_WEIGHT, d + 128, d + 192, 2,
                  3, 4, 0, 1) == KERN_ERR_ARG, "%s: mlp w_down dtype", be->name);
    CHECK(be->mlp(be->ctx, d, d + 64, d, ok, bad, ok, KERN_NO_WEIGHT, ok, KERN_NO_WEIGHT, d + 128, d + 192, 2, 3, 4, 0, 1) ==
          KERN_ERR_ARG, "%s: mlp b_gate dtype", be->name);
    CHECK(be->mlp(be->ctx, d, NULL, d, ok, KERN_NO_WEIGHT, bad, KERN_NO_WEIGHT, ok, KERN_NO_WEIGHT, d + 128, d + 192, 2, 3,
                  4, 0, 0) == KERN_ERR_ARG, "%s: mlp w_up dtype", be->name);
    CHECK(be->mlp(be->ctx, NULL, d + 64, d, ok, KERN_NO_WEIGHT, ok, KERN_NO_WEIGHT, bad, bad, d + 128, d + 192, 2, 3, 4,
                  0, 1) == KERN_OK, "%s: mlp reads w_down without out", be->name);
    CHECK(be->mlp(be->ctx, NULL, NULL, d, ok, KERN_NO_WEIGHT, ok, KERN_NO_WEIGHT, ok, KERN_NO_WEIGHT, d + 128, d + 192, 2,
                  3, 4, 0, 1) == KERN_OK, "%s: mlp with no output", be->name);
    CHECK(be->sync(be->ctx) == KERN_OK, "%s: sync after refused mlp calls", be->name);
    dev_free(be, d);
}

/* ---- attn ------------------------------------------------------------------------------------ */

/* The reference self-attention module: the composition of the _refs (the CPU op, itself that of
 * the CPU ops, for the big shape) on host buffers; rq/rk/rv are its scratch, att and out its
 * outputs (out may be NULL). */
static kern_status attn_want(int big, float *out, float *att, const float *a, const kern_attn_w *w, const int32_t *pos,
                             const kern_rope *rope, float *rq, float *rk, float *rv, size_t b, size_t t, size_t c,
                             size_t h, size_t hkv, size_t d, int f16)
{
    const size_t n = b * t;
    if (big) return awq_backend_cpu()->attn(NULL, out, att, a, w, pos, rope, rq, rk, rv, att, b, t, c, h, hkv, d, f16);
    kern_status st = kern_matmul_ref(rq, a, w->q, w->q_bias, n, h * d, c, f16);
    if (st == KERN_OK) st = kern_matmul_ref(rk, a, w->k, w->k_bias, n, hkv * d, c, f16);
    if (st == KERN_OK) st = kern_matmul_ref(rv, a, w->v, w->v_bias, n, hkv * d, c, f16);
    if (st == KERN_OK && w->q_norm.data) st = kern_rmsnorm_ref(rq, rq, w->q_norm, n * h, d, w->eps, f16);
    if (st == KERN_OK && w->k_norm.data) st = kern_rmsnorm_ref(rk, rk, w->k_norm, n * hkv, d, w->eps, f16);
    if (st == KERN_OK) st = kern_rope_ref(rq, pos, n, h, d, rope, f16);
    if (st == KERN_OK) st = kern_rope_ref(rk, pos, n, hkv, d, rope, f16);
    if (st == KERN_OK) st = kern_attention_ref(att, rq, rk, rv, b, t, h, hkv, d, d, kern_attention_scale(d), 0, 0, f16);
    if (st == KERN_OK && out) st = kern_matmul_ref(out, att, w->o, w->o_bias, n, c, h * d, f16);
    return st;
}

/* The fused self-attention module (q/k/v_proj, q/k norm, RoPE, attention, o_proj) held to the
 * composition of the reference ops (the _refs; the CPU ops for the big shape):
 * - o_in, the attention output: q, k and v differ from the reference's by the matmuls' summation
 *   order (and, faithful, by an fp16 ulp where a sum sits on a rounding boundary: 1-3% of them)
 *   and RoPE's cos/sin by an fp32 ulp; the attention cases' reasoning then gives, with V = max |v|:
 *   fp32 within 3e-5 V absolute + 1e-4 relative, NMSE 1e-10; faithful within 1e-2 V (a flipped
 *   score moves its probability by <= 0.4%, and a row of them may add up), NMSE 1e-7, every
 *   output an fp16 value, at most 10% of them different (q and k flips move many scores a
 *   little, and some of those cross a boundary). The CPU ops against the _refs: at most 1e-3
 *   and 1.4% different faithful, 2.4e-6 in fp32, NMSE 2.4e-9 and 3.3e-14;
 * - out: the matmul tolerance of o_in · w_o (x2 against the CPU ops), plus sum_k |w_o[o][k]| times
 *   o_in's tolerance, plus one fp16 ulp when faithful; and, as in the mlp case, against the
 *   matmul of the op's own o_in with the matmul cases' tolerance.
 * Exact, on every backend: out does not depend on o_in being asked for and o_in not on out, and
 * both equal the backend's own matmul x3, rmsnorm x2, rope x2, attention, matmul bit for bit (the
 * CUDA fast path keeps q, k, v and the attention output in fp16: that must not change a value);
 * on the fast variant a pinned input (pin_f16) gives the same bits too. Weights: F16 without
 * biases or norm (CUDA's fp16 path when faithful); then the fallbacks: q/k/v biases, all four
 * biases in BF16, q/k norm, F32, F16 with a BF16 o_proj. Shapes: MHA and GQA/MQA, t not a
 * multiple of 32, c < h*d and c > 2*h*d (CUDA's fp16 input and o_proj output then go to the
 * context's scratch). */
static void op_attn(const awq_backend *be)
{
    static const struct { size_t b, t, c, h, hkv, d; const kern_rope *rope; int big; const char *what; } sh[] = {
        {1, 1, 8, 1, 1, 8, &rope_default, 0, "one token"},
        {2, 17, 64, 4, 4, 16, &rope_default, 0, "MHA, odd t"},
        {3, 33, 96, 8, 2, 16, &rope_qwen, 0, "GQA ratio 4, c < h*d"},
        {2, 45, 300, 4, 2, 32, &rope_llama31, 0, "c > 2*h*d"},
        {2, 70, 128, 4, 1, 64, &rope_default, 0, "MQA, d=64"},
        {3, 300, 512, 8, 2, 64, &rope_qwen, 1, "t=300 (vs the CPU ops)"},
    };
    static const struct { kern_dtype w, o; int qkv_bias, o_bias, norm; const char *what; } var[] = {
        {KERN_F16, KERN_F16, 0, 0, 0, "F16, no bias, no norm"}, {KERN_F16, KERN_F16, 1, 0, 0, "F16 + q/k/v biases"},
        {KERN_BF16, KERN_BF16, 1, 1, 0, "BF16 + all biases"}, {KERN_F16, KERN_F16, 0, 0, 1, "F16 + q/k norm"},
        {KERN_F32, KERN_F32, 0, 0, 0, "F32"}, {KERN_F16, KERN_BF16, 0, 0, 0, "F16 q/k/v, BF16 o"},
    };
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        if (sh[s].big && is_cpu(be)) continue;
        for (size_t vi = 0; vi < sizeof var / sizeof var[0]; vi++)
            for (int f16 = 0; f16 < 2; f16++) {
                const size_t b = sh[s].b, t = sh[s].t, c = sh[s].c, h = sh[s].h, hkv = sh[s].hkv, d = sh[s].d;
                const size_t n = b * t, hd = h * d, kd = hkv * d, nc = n * c, nh = n * hd, nk = n * kd;
                const int big = sh[s].big;
                const float ws = 3.0f / sqrtf((float)c), wso = 3.0f / sqrtf((float)hd); /* q, k, v, out ~ 1 */
                float *a = rand_floats(nc, -1, 1, f16);
                int32_t *pos = xmalloc(n * sizeof *pos);
                for (size_t r = 0; r < n; r++) pos[r] = (int32_t)(r % t);
                kern_attn_w w = {
                    rand_weight(var[vi].w, hd * c, -ws, ws), rand_weight(var[vi].w, kd * c, -ws, ws),
                    rand_weight(var[vi].w, kd * c, -ws, ws), rand_weight(var[vi].o, c * hd, -wso, wso),
                    var[vi].qkv_bias ? rand_weight(var[vi].w, hd, -0.5f, 0.5f) : KERN_NO_WEIGHT,
                    var[vi].qkv_bias ? rand_weight(var[vi].w, kd, -0.5f, 0.5f) : KERN_NO_WEIGHT,
                    var[vi].qkv_bias ? rand_weight(var[vi].w, kd, -0.5f, 0.5f) : KERN_NO_WEIGHT,
                    var[vi].o_bias ? rand_weight(var[vi].o, c, -0.5f, 0.5f) : KERN_NO_WEIGHT,
                    var[vi].norm ? rand_weight(KERN_BF16, d, 0.5f, 1.5f) : KERN_NO_WEIGHT,
                    var[vi].norm ? rand_weight(KERN_BF16, d, 0.5f, 1.5f) : KERN_NO_WEIGHT,
                    .eps = 1e-6f,
                };
                /* the reference composition */
                float *rq = xmalloc(nh * 4), *rk = xmalloc(nk * 4), *rv = xmalloc(nk * 4);
                float *watt = xmalloc(nh * 4), *wout = xmalloc(nc * 4);
                kern_status st = attn_want(big, wout, watt, a, &w, pos, sh[s].rope, rq, rk, rv, b, t, c, h, hkv, d, f16);
                REQUIRE(st == KERN_OK, "reference: %s", kern_strerror(st));
                double vmax = 1;
                for (size_t e = 0; e < nk; e++) vmax = fmax(vmax, fabs(rv[e]));
                const double att_atol = (f16 ? 1e-2 : 3e-5) * vmax, att_rtol = f16 ? 0 : 1e-4;
                const double att_nmse = f16 ? 1e-7 : 1e-10, lim_o = 2.0 * (double)(hd + 1) * 0x1p-24 * (big ? 2 : 1);
                /* out's tolerance: the matmul's, plus what o_in's tolerance moves it by */
                float *att_hi = xmalloc(nh * 4), *tatt = xmalloc(nh * 4);
                for (size_t e = 0; e < nh; e++) {
                    tatt[e] = (float)(att_atol + att_rtol * fabs(watt[e]));
                    att_hi[e] = fabsf(watt[e]) + tatt[e];
                }
                float *so = mag_sums(att_hi, w.o, n, c, hd), *sp = mag_sums(tatt, w.o, n, c, hd);
                double *tout = xmalloc(nc * sizeof *tout);
                for (size_t e = 0; e < nc; e++) {
                    double tt = lim_o * (so[e] + (w.o_bias.data ? fabs(kern_weight_at(w.o_bias, e % c)) : 0)) + sp[e];
                    tout[e] = tt + (f16 ? ulp16(fabs(wout[e]) + tt) : 0);
                }
                char id[240];
                snprintf(id, sizeof id, "attn[%s b=%zu t=%zu c=%zu h=%zu hkv=%zu d=%zu %s f16=%d (%s)]", be->name, b, t, c,
                         h, hkv, d, var[vi].what, f16, sh[s].what);
                /* the op: out + o_in, out alone, o_in alone (no o_proj weights then) */
                float *da = dev_put(be, a, nc * 4), *dsq = dev_out(be, nh * 4), *dsk = dev_out(be, nk * 4);
                float *dsv = dev_out(be, nk * 4), *dsatt = dev_out(be, nh * 4);
                int32_t *dpos = dev_put(be, pos, n * sizeof *pos);
                kern_attn_w dw = {
                    dev_weight(be, w.q, hd * c), dev_weight(be, w.k, kd * c), dev_weight(be, w.v, kd * c),
                    dev_weight(be, w.o, c * hd), dev_weight(be, w.q_bias, hd), dev_weight(be, w.k_bias, kd),
                    dev_weight(be, w.v_bias, kd), dev_weight(be, w.o_bias, c), dev_weight(be, w.q_norm, d),
                    dev_weight(be, w.k_norm, d), .eps = w.eps,
                };
                float *dout = dev_out(be, nc * 4), *datt = dev_out(be, nh * 4);
                float *got_out = xmalloc(nc * 4), *got_att = xmalloc(nh * 4), *again = xmalloc((nc > nh ? nc : nh) * 4);
                st = be->attn(be->ctx, dout, datt, da, &dw, dpos, sh[s].rope, dsq, dsk, dsv, dsatt, b, t, c, h, hkv, d, f16);
                REQUIRE(st == KERN_OK, "%s: %s %s", id, kern_strerror(st), is_cpu(be) ? "" : kern_last_error());
                dev_get(be, got_out, dout, nc * 4), dev_get(be, got_att, datt, nh * 4);
                char sub[300];
                snprintf(sub, sizeof sub, "%s o_in", id);
                /* flips: q/k/v come out of differently ordered fp32 sums, each rounded to fp16, then
                 * (q/k norm,) RoPE and a softmax over up to t keys round again; on the H100 the t=300
                 * shape against the CPU ops moved 11-12% of the faithful outputs by an ulp (within
                 * atol, nmse far below its limit), the small shapes against the _ref under 2% */
                compare(sub, got_att, watt, nh,
                        (tolerance){.atol = att_atol, .rtol = att_rtol, .nmse = att_nmse, .f16 = f16, .flips = big ? 0.2 : 0.1});
                snprintf(sub, sizeof sub, "%s out", id);
                compare(sub, got_out, wout, nc,
                        (tolerance){.each = tout, .nmse = 4 * att_nmse + 0x1p-46 * (double)(hd + 1) + (f16 ? F16_FLIPS_NMSE : 0),
                                    .f16 = f16, .flips = 1});
                /* out as a matmul of the op's own o_in: the matmul cases' tolerance */
                if (!out_of_input(id, "o_in", got_out, got_att, w.o, w.o_bias, n, c, hd, f16, big, wout, tout)) return;
                dev_free(be, dout), dev_free(be, datt);
                dout = dev_out(be, nc * 4);
                CHECK(be->attn(be->ctx, dout, NULL, da, &dw, dpos, sh[s].rope, dsq, dsk, dsv, dsatt, b, t, c, h, hkv, d, f16) ==
                      KERN_OK, "%s", id);
                dev_get(be, again, dout, nc * 4);
                CHECK(!memcmp(again, got_out, nc * 4), "%s: out without o_in differs", id);
                datt = dev_out(be, nh * 4);
                kern_attn_w no_o = dw;
                no_o.o = no_o.o_bias = (kern_weight){NULL, (kern_dtype)7}; /* not read: a bad dtype passes */
                CHECK(be->attn(be->ctx, NULL, datt, da, &no_o, dpos, sh[s].rope, dsq, dsk, dsv, dsatt, b, t, c, h, hkv, d,
                               f16) == KERN_OK, "%s", id);
                dev_get(be, again, datt, nh * 4);
                CHECK(!memcmp(again, got_att, nh * 4), "%s: o_in without out differs", id);
                if (vi == 0) { /* the input pinned as fp16 */
                    CHECK(be->pin_f16(be->ctx, da, nc) == KERN_OK, "%s: pin_f16", id);
                    CHECK(be->attn(be->ctx, dout, datt, da, &dw, dpos, sh[s].rope, dsq, dsk, dsv, dsatt, b, t, c, h, hkv, d,
                                   f16) == KERN_OK, "%s pinned", id);
                    be->unpin_f16(be->ctx, da);
                    dev_get(be, again, dout, nc * 4);
                    CHECK(!memcmp(again, got_out, nc * 4), "%s: out with the input pinned differs", id);
                    dev_get(be, again, datt, nh * 4);
                    CHECK(!memcmp(again, got_att, nh * 4), "%s: o_in with the input pinned differs", id);
                }
                /* the backend's own separate ops */
                st = be->matmul(be->ctx, dsq, da, dw.q, dw.q_bias, n, hd, c, f16);
                if (st == KERN_OK) st = be->matmul(be->ctx, dsk, da, dw.k, dw.k_bias, n, kd, c, f16);
                if (st == KERN_OK) st = be->matmul(be->ctx, dsv, da, dw.v, dw.v_bias, n, kd, c, f16);
                if (st == KERN_OK && dw.q_norm.data) st = be->rmsnorm(be->ctx, dsq, dsq, dw.q_norm, n * h, d, w.eps, f16);
                if (st == KERN_OK && dw.k_norm.data) st = be->rmsnorm(be->ctx, dsk, dsk, dw.k_norm, n * hkv, d, w.eps, f16);
                if (st == KERN_OK) st = be->rope(be->ctx, dsq, dpos, n, h, d, sh[s].rope, f16);
                if (st == KERN_OK) st = be->rope(be->ctx, dsk, dpos, n, hkv, d, sh[s].rope, f16);
                if (st == KERN_OK) st = be->attention(be->ctx, dsatt, dsq, dsk, dsv, b, t, h, hkv, d, d, kern_attention_scale(d), 0, 0, f16);
                if (st == KERN_OK) st = be->matmul(be->ctx, dout, dsatt, dw.o, dw.o_bias, n, c, hd, f16);
                CHECK(st == KERN_OK, "%s: separate ops: %s", id, kern_strerror(st));
                dev_get(be, again, dsatt, nh * 4);
                same_bits(id, "o_in differs from the separate ops' attention", got_att, again, nh);
                dev_get(be, again, dout, nc * 4);
                same_bits(id, "out differs from the separate ops", got_out, again, nc);
                const kern_weight hw[10] = {w.q, w.k, w.v, w.o, w.q_bias, w.k_bias, w.v_bias, w.o_bias, w.q_norm, w.k_norm};
                const kern_weight dws[10] = {dw.q, dw.k, dw.v, dw.o, dw.q_bias, dw.k_bias, dw.v_bias, dw.o_bias, dw.q_norm,
                                             dw.k_norm};
                for (int i = 0; i < 10; i++) dev_free(be, dws[i].data), free((void *)hw[i].data);
                dev_free(be, da), dev_free(be, dsq), dev_free(be, dsk), dev_free(be, dsv), dev_free(be, dsatt);
                dev_free(be, dpos), dev_free(be, dout), dev_free(be, datt);
                free(a), free(pos), free(rq), free(rk), free(rv), free(watt), free(wout), free(att_hi), free(tatt);
                free(so), free(sp), free(tout), free(got_out), free(got_att), free(again);
            }
    }
    /* refused before anything is written: h not a multiple of hkv (and hkv = 0), odd d, a bad
     * dtype in a weight, bias or norm that is read; neither output asked for does nothing */
    float *d = dev_out(be, 4096);
    int32_t pos0[2] = {0, 1};
    int32_t *dp = dev_put(be, pos0, sizeof pos0);
    kern_weight ok = {d, KERN_F32}, bad = {d, (kern_dtype)7};
    kern_attn_w w = {ok, ok, ok, ok, KERN_NO_WEIGHT, KERN_NO_WEIGHT, KERN_NO_WEIGHT, KERN_NO_WEIGHT, KERN_NO_WEIGHT,
                     KERN_NO_WEIGHT, .eps = 1e-6f};
    float *o = dev_out(be, 64 * 4), *sq = d + 256, *sk = d + 512, *sv = d + 640, *sa = d + 768;
    float *poison = xmalloc(64 * 4), *after = xmalloc(64 * 4);
    dev_get(be, poison, o, 64 * 4);
    CHECK(be->attn(be->ctx, o, NULL, d, &w, dp, &rope_default, sq, sk, sv, sa, 1, 2, 4, 3, 2, 4, 1) == KERN_ERR_ARG,
          "%s: attn h=3 hkv=2", be->name);
    CHECK(be->attn(be->ctx, o, NULL, d, &w, dp, &rope_default, sq, sk, sv, sa, 1, 2, 4, 4, 0, 4, 1) == KERN_ERR_ARG,
          "%s: attn hkv=0", be->name);
    CHECK(be->attn(be->ctx, o, NULL, d, &w, dp, &rope_default, sq, sk, sv, sa, 1, 2, 4, 2, 1, 5, 0) == KERN_ERR_ARG,
          "%s: attn odd d", be->name);
    kern_attn_w wb = w;
    wb.k_norm = bad;
    CHECK(be->attn(be->ctx, o, NULL, d, &wb, dp, &rope_default, sq, sk, sv, sa, 1, 2, 4, 2, 1, 4, 1) == KERN_ERR_ARG,
          "%s: attn k_norm dtype", be->name);
    wb = w, wb.o = bad;
    CHECK(be->attn(be->ctx, o, NULL, d, &wb, dp, &rope_default, sq, sk, sv, sa, 1, 2, 4, 2, 1, 4, 1) == KERN_ERR_ARG,
          "%s: attn w_o dtype", be->name);
    dev_get(be, after, o, 64 * 4);
    CHECK(!memcmp(poison, after, 64 * 4), "%s: a refused attn call wrote its output", be->name);
    CHECK(be->attn(be->ctx, NULL, o, d, &wb, dp, &rope_default, sq, sk, sv, sa, 1, 2, 4, 2, 1, 4, 1) == KERN_OK,
          "%s: attn reads w_o without out", be->name);
    CHECK(be->attn(be->ctx, NULL, NULL, d, &w, dp, &rope_default, sq, sk, sv, sa, 1, 2, 4, 2, 1, 4, 1) == KERN_OK,
          "%s: attn with no output", be->name);
    CHECK(be->sync(be->ctx) == KERN_OK, "%s: sync after refused attn calls", be->name);
    dev_free(be, d), dev_free(be, dp), dev_free(be, o);
    free(poison), free(after);
}

/* embed: exact row copies in every dtype; ids -1 and vocab refused with KERN_ERR_ARG. */
static void op_embed(const awq_backend *be)
{
    static const struct { size_t vocab, c, n; } sh[] = {{101, 37, 64}, {1000, 4096, 70}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int dt = 0; dt < 3; dt++) {
            size_t vocab = sh[s].vocab, c = sh[s].c, n = sh[s].n;
            int32_t *ids = xmalloc(n * sizeof *ids);
            for (size_t r = 0; r < n; r++) ids[r] = (int32_t)(t_rand() % vocab);
            ids[0] = 0, ids[1] = (int32_t)vocab - 1;
            kern_weight tab = rand_weight((kern_dtype)dt, vocab * c, -1, 1);
            float *want = xmalloc(n * c * 4), *got = xmalloc(n * c * 4);
            CHECK(kern_embed_ref(want, ids, tab, n, c, vocab) == KERN_OK, "ref");
            char id[100];
            snprintf(id, sizeof id, "embed[%s vocab=%zu c=%zu %s]", be->name, vocab, c, dt_name((kern_dtype)dt));
            int32_t *di = dev_put(be, ids, n * sizeof *ids);
            float *dy = dev_out(be, n * c * 4);
            kern_weight dtab = dev_weight(be, tab, vocab * c);
            CHECK(be->embed(be->ctx, dy, di, dtab, n, c, vocab) == KERN_OK, "%s", id);
            dev_get(be, got, dy, n * c * 4);
            compare(id, got, want, n * c, (tolerance){.exact = 1});
            const int32_t bad[2] = {-1, (int32_t)vocab};
            for (int e = 0; e < 2; e++) {
                int32_t *dbad = dev_put(be, &bad[e], sizeof bad[e]);
                CHECK(be->embed(be->ctx, dy, dbad, dtab, 1, c, vocab) == KERN_ERR_ARG, "%s: id %d accepted", id, bad[e]);
                dev_free(be, dbad);
            }
            dev_free(be, di), dev_free(be, dy), dev_free(be, dtab.data);
            free(ids), free((void *)tab.data), free(want), free(got);
        }
}

/* mean |x|: both sides sum in fp64, so 1e-6 relative (NMSE 1e-12), faithful one fp16 ulp. */
static void op_mean_abs(const awq_backend *be)
{
    static const struct { size_t n, c; } sh[] = {{1, 1}, {3, 2}, {0, 5}, {777, 300}, {20000, 37}, {5, 1031}, {4096, 512}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t n = sh[s].n, c = sh[s].c;
            float *in = rand_floats(n * c, -5, 5, 0), *want = xmalloc(c * 4), *got = xmalloc(c * 4);
            kern_mean_abs_ref(want, in, n, c, f16);
            double *tol = xmalloc(c * sizeof *tol);
            for (size_t j = 0; j < c; j++) tol[j] = f16 ? ulp16(want[j]) : 1e-6 * want[j];
            char id[100];
            snprintf(id, sizeof id, "mean_abs[%s n=%zu c=%zu f16=%d]", be->name, n, c, f16);
            float *dx = dev_put(be, in, n * c * 4), *dm = dev_out(be, c * 4);
            CHECK(be->mean_abs(be->ctx, dm, dx, n, c, f16) == KERN_OK, "%s", id);
            dev_get(be, got, dm, c * 4);
            compare(id, got, want, c, (tolerance){.each = tol, .nmse = f16 ? F16_FLIPS_NMSE : 1e-12, .f16 = f16, .flips = 0.01});
            dev_free(be, dx), dev_free(be, dm);
            free(in), free(want), free(got), free(tol);
        }
}

/* random bit patterns of every exponent, exact ties at the fp16 rounding bit, and the edges */
static float edge_float(size_t e)
{
    static const float edges[] = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 0x1p-14f, 0x1.ffcp-15f,
                                  0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1.002p+0f, 0x1.006p+0f, 1e-5f, INFINITY, -INFINITY, NAN};
    if (e < sizeof edges / sizeof edges[0]) return edges[e];
    uint32_t u = (uint32_t)t_rand();
    u = (u & 0x807fffffu) | ((uint32_t)(90 + t_rand() % 60) << 23);
    if (e % 3 == 0) u = (u & ~0x1fffu) | 0x1000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* round_f16 bit-exact with awq_round_f16 (NaN as NaN). */
static void round_f16_edges(const awq_backend *be)
{
    size_t n = 300000;
    float *x = xmalloc(n * 4), *want = xmalloc(n * 4), *got = xmalloc(n * 4);
    for (size_t e = 0; e < n; e++) x[e] = edge_float(e);
    memcpy(want, x, n * 4);
    kern_round_f16_ref(want, n);
    float *dx = dev_put(be, x, n * 4);
    char id[60];
    snprintf(id, sizeof id, "round_f16[%s]", be->name);
    CHECK(be->round_f16(be->ctx, dx, n) == KERN_OK, "%s", id);
    dev_get(be, got, dx, n * 4);
    compare(id, got, want, n, (tolerance){.exact = 1});
    dev_free(be, dx);
    free(x), free(want), free(got);
}

/* check_f16 the same first index as the _ref (planted bad values with a later one that must not
 * win). */
static void check_f16_planted(const awq_backend *be)
{
    size_t n = 300000;
    float *x = xmalloc(n * 4), *dx;
    const float bad_vals[3] = {65520.0f, -INFINITY, NAN};
    for (size_t e = 0; e < n; e++) x[e] = t_randf(-65000, 65000);
    for (int round = 0; round < 5; round++) {
        size_t first = round == 4 ? n : round == 3 ? 0 : (size_t)(t_rand() % n), want_at = 0, got_at = 7;
        if (round < 4) {
            size_t later = first + (n - first) / 2 + 1; /* a later bad value must not win */
            x[first] = bad_vals[round % 3];
            if (later < n) x[later] = NAN;
        }
        kern_check_f16_ref(x, n, &want_at);
        dx = dev_put(be, x, n * 4);
        CHECK(be->check_f16(be->ctx, dx, n, &got_at) == KERN_OK, "%s", be->name);
        CHECK(got_at == want_at && (round == 4 || want_at == first), "check_f16[%s]: got %zu want %zu (planted at %zu)",
              be->name, got_at, want_at, first);
        CHECK(be->check_f16(be->ctx, dx, 0, &got_at) == KERN_OK && got_at == 0, "check_f16[%s]: n = 0 gives %zu", be->name, got_at);
        dev_free(be, dx);
        for (size_t e = 0; e < n; e++) if (!awq_f32_fits_f16(x[e])) x[e] = 1.0f;
    }
    free(x);
}

/* to_f32 bit-exact with the host conversions (half.h) for every fp16 and bf16 bit pattern, fp32
 * copied. */
static void test_op_to_f32(const awq_backend *be)
{
    const size_t n = 65536;
    uint16_t *bits = xmalloc(n * 2);
    float *got = xmalloc(n * 4), *want = xmalloc(n * 4), *x = xmalloc(n * 4);
    for (size_t e = 0; e < n; e++) bits[e] = (uint16_t)e;
    char id[60];
    for (int dt = 0; dt < 3; dt++) {
        kern_dtype t = dt == 0 ? KERN_F16 : dt == 1 ? KERN_BF16 : KERN_F32;
        for (size_t e = 0; e < n; e++) {
            x[e] = edge_float(e);
            want[e] = t == KERN_F16 ? awq_f16_to_f32(bits[e]) : t == KERN_BF16 ? awq_bf16_to_f32(bits[e]) : x[e];
        }
        const void *src = t == KERN_F32 ? (const void *)x : (const void *)bits;
        kern_to_f32_ref(got, (kern_weight){src, t}, n);
        snprintf(id, sizeof id, "to_f32[_ref %s]", dt == 0 ? "f16" : dt == 1 ? "bf16" : "f32");
        compare(id, got, want, n, (tolerance){.exact = 1});
        void *ds = dev_put(be, src, n * kern_dtype_size(t));
        float *dy = dev_out(be, n * 4);
        snprintf(id, sizeof id, "to_f32[%s %s]", be->name, dt == 0 ? "f16" : dt == 1 ? "bf16" : "f32");
        CHECK(be->to_f32(be->ctx, dy, (kern_weight){ds, t}, n) == KERN_OK, "%s", id);
        dev_get(be, got, dy, n * 4);
        compare(id, got, want, n, (tolerance){.exact = 1});
        dev_free(be, ds), dev_free(be, dy);
    }
    free(bits), free(got), free(want), free(x);
}

/* to_f16 bit-exact with awq_f32_to_f16 (RNE, overflow to Inf, NaN stays NaN). */
static void test_op_to_f16(const awq_backend *be)
{
    const size_t n = 65536;
    uint16_t *h16 = xmalloc(n * 2), *want16 = xmalloc(n * 2);
    float *x = xmalloc(n * 4);
    for (size_t e = 0; e < n; e++) {
        x[e] = e % 2 ? edge_float(e) : t_randf(-70000, 70000);
    }
    kern_to_f16_ref(want16, x, n);
    float *dx = dev_put(be, x, n * 4);
    uint16_t *dh = dev_out(be, n * 2);
    CHECK(be->to_f16(be->ctx, dh, dx, n) == KERN_OK, "to_f16[%s]", be->name);
    dev_get(be, h16, dh, n * 2);
    size_t bad = 0;
    for (size_t e = 0; e < n; e++) {
        int both_nan = isnan(awq_f16_to_f32(h16[e])) && isnan(awq_f16_to_f32(want16[e]));
        if (h16[e] != want16[e] && !both_nan && bad++ < 3)
            fprintf(stderr, "  to_f16[%s]: x[%zu] = %a gives 0x%04x, want 0x%04x\n", be->name, e, (double)x[e], h16[e], want16[e]);
    }
    CHECK(bad == 0, "to_f16[%s]: %zu of %zu values differ from awq_f32_to_f16", be->name, bad, n);
    dev_free(be, dx), dev_free(be, dh);
    free(h16), free(want16), free(x);
}

/* ---- quantization ---------------------------------------------------------------------------- */

/* random weights with the awkward groups mixed in: constant, all-positive, all-zero, and values
 * on exact .5 ties of w/scale */
static float *awkward_weights(size_t o, size_t i, size_t g, int f16)
{
    float *w = rand_floats(o * i, -1, 1, f16);
    for (size_t r = 0; r < o; r += 3) {
        float *grp = w + r * i + (r / 3 % (i / g)) * g;
        for (size_t c = 0; c < g; c++)
            switch (r / 3 % 4) {
            case 0: grp[c] = 0.5f; break;
            case 1: grp[c] = fabsf(grp[c]) + 0.25f; break;
            case 2: grp[c] = 0.0f; break;
            default: grp[c] = (float)((int)(c % 16) - 8) / 16.0f; break;
            }
    }
    return w;
}

/* quantize: codes, zeros, scales and deq bit-identical to the _ref (exact IEEE ops in the same
 * order on both sides), over groups 32/64/128/whole row, w_bit 2/3/4/8, both modes, with and
 * without a column scale, and in place (deq = w). */
static void op_quantize(const awq_backend *be)
{
    static const struct { size_t o, i; int64_t group; } sh[] = {
        {7, 256, 32}, {16, 384, 64}, {33, 512, 128}, {5, 300, -1}, {3, 64, 0}, {300, 4096, 128},
    };
    static const int bits[] = {2, 3, 4, 8};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (size_t wb = 0; wb < 4; wb++)
            for (int f16 = 0; f16 < 2; f16++)
                for (int with_s = 0; with_s < 2; with_s++) {
                    size_t o = sh[s].o, i = sh[s].i, g = sh[s].group > 0 ? (size_t)sh[s].group : i, ng = i / g;
                    int w_bit = bits[wb];
                    float *w = awkward_weights(o, i, g, f16), *cs = with_s ? rand_floats(i, 0.1f, 4.0f, f16) : NULL;
                    float *deq0 = xmalloc(o * i * 4), *sc0 = xmalloc(o * ng * 4), *deq1 = xmalloc(o * i * 4), *sc1 = xmalloc(o * ng * 4);
                    uint8_t *cd0 = xmalloc(o * i), *z0 = xmalloc(o * ng), *cd1 = xmalloc(o * i), *z1 = xmalloc(o * ng);
                    REQUIRE(kern_quantize_ref(deq0, cd0, sc0, z0, w, cs, o, i, sh[s].group, w_bit, f16) == KERN_OK, "ref");
                    char id[160];
                    snprintf(id, sizeof id, "quantize[%s o=%zu i=%zu g=%lld w_bit=%d f16=%d col_scale=%d]", be->name, o, i,
                             (long long)sh[s].group, w_bit, f16, with_s);
                    float *dw = dev_put(be, w, o * i * 4), *dcs = cs ? dev_put(be, cs, i * 4) : NULL;
                    float *ddeq = dev_out(be, o * i * 4), *dsc = dev_out(be, o * ng * 4);
                    uint8_t *dcd = dev_out(be, o * i), *dz = dev_out(be, o * ng);
                    REQUIRE(be->quantize(be->ctx, ddeq, dcd, dsc, dz, dw, dcs, o, i, sh[s].group, w_bit, f16) == KERN_OK, "%s", id);
                    dev_get(be, deq1, ddeq, o * i * 4), dev_get(be, sc1, dsc, o * ng * 4);
                    dev_get(be, cd1, dcd, o * i), dev_get(be, z1, dz, o * ng);
                    size_t at = 0;
                    while (at < o * i && cd0[at] == cd1[at]) at++;
                    CHECK(at == o * i, "%s: code [%zu] %d, ref %d", id, at, at < o * i ? cd1[at] : 0, at < o * i ? cd0[at] : 0);
                    for (at = 0; at < o * ng && z0[at] == z1[at]; at++) {}
                    CHECK(at == o * ng, "%s: zero [%zu] %d, ref %d", id, at, at < o * ng ? z1[at] : 0, at < o * ng ? z0[at] : 0);
                    compare(id, sc1, sc0, o * ng, (tolerance){.exact = 1});
                    compare(id, deq1, deq0, o * i, (tolerance){.exact = 1});
                    /* in place, deq only */
                    REQUIRE(be->quantize(be->ctx, dw, NULL, NULL, NULL, dw, dcs, o, i, sh[s].group, w_bit, f16) == KERN_OK, "%s in place", id);
                    dev_get(be, deq1, dw, o * i * 4);
                    CHECK(!memcmp(deq1, deq0, o * i * 4), "%s: in place differs", id);
                    dev_free(be, dw), dev_free(be, dcs), dev_free(be, ddeq), dev_free(be, dsc), dev_free(be, dcd), dev_free(be, dz);
                    free(w), free(cs), free(deq0), free(sc0), free(deq1), free(sc1), free(cd0), free(z0), free(cd1), free(z1);
                }
}

/* w_mean: faithful, every term is an fp16 value and the fp64 sums are exact whatever their
 * order: bit-exact; fp32 mode: the fp64 sums may round differently once cast: one fp32 ulp. */
static void op_w_mean(const awq_backend *be)
{
    static const struct { size_t n_w, rows[3], i; int64_t group; } sh[] = {
        {1, {5}, 256, 32}, {2, {7, 300}, 256, 64}, {3, {600, 600, 11}, 384, 128}, {2, {9, 4}, 96, -1}, {2, {1100, 1100}, 512, 128},
    };
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t n_w = sh[s].n_w, i = sh[s].i;
            float *w[3] = {0};
            void *dw[3] = {0};
            for (size_t m = 0; m < n_w; m++) {
                w[m] = rand_floats(sh[s].rows[m] * i, -2, 2, f16);
                dw[m] = dev_put(be, w[m], sh[s].rows[m] * i * 4);
            }
            float *want = xmalloc(i * 4), *got = xmalloc(i * 4);
            REQUIRE(kern_w_mean_ref(want, (const float *const *)w, sh[s].rows, n_w, i, sh[s].group, f16) == KERN_OK, "ref");
            char id[120];
            snprintf(id, sizeof id, "w_mean[%s n_w=%zu i=%zu g=%lld f16=%d]", be->name, n_w, i, (long long)sh[s].group, f16);
            float *dwm = dev_out(be, i * 4);
            CHECK(be->w_mean(be->ctx, dwm, (const float *const *)dw, sh[s].rows, n_w, i, sh[s].group, f16) == KERN_OK, "%s", id);
            dev_get(be, got, dwm, i * 4);
            if (f16) compare(id, got, want, i, (tolerance){.exact = 1});
            else compare(id, got, want, i, (tolerance){.rtol = 0x1p-23, .nmse = 1e-13});
            dev_free(be, dwm);
            for (size_t m = 0; m < n_w; m++) free(w[m]), dev_free(be, dw[m]);
            free(want), free(got);
        }
}

/* clip_apply: exact clamps, against the _ref. */
static void op_clip_apply(const awq_backend *be)
{
    static const struct { size_t o, i; int64_t group; } sh[] = {{9, 256, 64}, {4, 96, -1}, {100, 4096, 128}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        size_t o = sh[s].o, i = sh[s].i, ng = sh[s].group > 0 ? i / (size_t)sh[s].group : 1;
        float *w = rand_floats(o * i, -2, 2, 1), *mv = rand_floats(o * ng, 0, 1.5f, 1), *got = xmalloc(o * i * 4);
        float *dw = dev_put(be, w, o * i * 4), *dm = dev_put(be, mv, o * ng * 4);
        char id[100];
        snprintf(id, sizeof id, "clip_apply[%s o=%zu i=%zu g=%lld]", be->name, o, i, (long long)sh[s].group);
        CHECK(be->clip_apply(be->ctx, dw, dm, o, i, sh[s].group) == KERN_OK, "%s", id);
        dev_get(be, got, dw, o * i * 4);
        kern_clip_apply_ref(w, mv, o, i, sh[s].group);
        compare(id, got, w, o * i, (tolerance){.exact = 1});
        dev_free(be, dw), dev_free(be, dm), free(w), free(mv), free(got);
    }
}

/* scale_weight: folding scales in (per row / per column, fp16-rounded or not) gives the _ref's
 * bits, including quotients and products beyond fp16 (Inf under h). */
static void op_scale_weight(const awq_backend *be)
{
    static const struct { size_t rows, cols; int per_row; } sh[] = {{4096, 1, 1}, {37, 300, 1}, {300, 37, 0}, {64, 4096, 0}};
    for (size_t k = 0; k < sizeof sh / sizeof sh[0]; k++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t rows = sh[k].rows, cols = sh[k].cols, ns = sh[k].per_row ? rows : cols;
            float *w = rand_floats(rows * cols, -3, 3, f16), *sc = rand_floats(ns, 0.01f, 8, f16), *got = xmalloc(rows * cols * 4);
            w[0] = 60000.0f; /* beyond fp16 after scaling by most s: +Inf when rounded */
            sc[0] = sh[k].per_row ? 0.5f : 2.0f;
            float *dw = dev_put(be, w, rows * cols * 4), *ds = dev_put(be, sc, ns * 4);
            char id[100];
            snprintf(id, sizeof id, "scale_weight[%s %zux%zu per_row=%d f16=%d]", be->name, rows, cols, sh[k].per_row, f16);
            CHECK(be->scale_weight(be->ctx, dw, ds, rows, cols, sh[k].per_row, f16) == KERN_OK, "%s", id);
            dev_get(be, got, dw, rows * cols * 4);
            kern_scale_weight_ref(w, sc, rows, cols, sh[k].per_row, f16);
            compare(id, got, w, rows * cols, (tolerance){.exact = 1});
            dev_free(be, dw), dev_free(be, ds), free(w), free(sc), free(got);
        }
}

/* pack_qweight: the qweight words equal the host packer's (kern_pack_gemm's first half, itself
 * checked against the spec's vectors in test_quant), and a code above 15 is refused. */
static void op_pack_qweight(const awq_backend *be)
{
    static const struct { size_t o, i; } sh[] = {{8, 1}, {64, 96}, {4096, 128}, {11008, 64}};
    for (size_t k = 0; k < sizeof sh / sizeof sh[0]; k++) {
        size_t o = sh[k].o, i = sh[k].i, nw = i * (o / 8);
        uint8_t *codes = xmalloc(o * i);
        for (size_t e = 0; e < o * i; e++) codes[e] = (uint8_t)(t_rand() & 15);
        int32_t *want = xmalloc(nw * 4), *got = xmalloc(nw * 4);
        REQUIRE(kern_pack_qweight_ref(want, codes, o, i) == KERN_OK, "_ref");
        uint8_t *dc = dev_put(be, codes, o * i);
        int32_t *dq = dev_out(be, nw * 4);
        char id[80];
        snprintf(id, sizeof id, "pack_qweight[%s o=%zu i=%zu]", be->name, o, i);
        CHECK(be->pack_qweight(be->ctx, dq, dc, o, i) == KERN_OK, "%s", id);
        dev_get(be, got, dq, nw * 4);
        CHECK(memcmp(got, want, nw * 4) == 0, "%s: words differ from the _ref's", id);
        codes[o * i - 1] = 16; /* not 4-bit data */
        dev_free(be, dc);
        dc = dev_put(be, codes, o * i);
        CHECK(be->pack_qweight(be->ctx, dq, dc, o, i) == KERN_ERR_ARG, "%s: a code of 16 is refused", id);
        CHECK(be->pack_qweight(be->ctx, dq, dc, o - 1, i) == KERN_ERR_ARG, "%s: o %% 8 != 0 is refused", id);
        dev_free(be, dc), dev_free(be, dq), free(codes), free(want), free(got);
    }
}

/* ---- clip search ----------------------------------------------------------------------------- */

/* Error bound of a clip loss against another computation of it, per (row, group, candidate):
 * each token's d = sum_c x[c]*D[c] (D = Q(clamp(w)) - w, the same fp32 values on every backend) is
 * a dot product of length g that each side computes within gamma_side * sum_c |x[c]*D[c]| of the
 * exact value, so the two differ by at most b = gamma * sum|x D| (gamma = the sum of both sides'),
 * and the mean of d^2 by at most mean_t(2|d|b + b^2), plus 2^-23 relative for the fp32 results.
 * gamma: the fp64 _ref 0; an fp32 dot product in any order (OpenBLAS, cuBLAS fp32) (g+1)*2^-24;
 * the CUDA op in faithful mode 2(g+2)*2^-24: D as fp16 hi + lo (2^-22 |D| lost) and the tensor
 * cores' fp32 accumulation, which need not round to nearest (up to an ulp per add, twice fp32's).
 * Computed with sgemm on |D| and |x| (1% headroom) from D rebuilt with the _ref quantizer. */
static void clip_bounds(double *bound /*[o*G, nc]*/, const float *w, const float *x, size_t o, size_t i, size_t t,
                        size_t g, size_t nc, int w_bit, int f16, double gamma)
{
    size_t ng = i / g;
    float *wc = xmalloc(g * 4), *wq = xmalloc(g * 4);
    float *D = xmalloc(o * nc * g * 4), *aD = xmalloc(o * nc * g * 4), *xg = xmalloc(t * g * 4), *ax = xmalloc(t * g * 4);
    float *E = xmalloc(o * nc * t * 4), *A = xmalloc(o * nc * t * 4);
    for (size_t j = 0; j < ng; j++) {
        for (size_t r = 0; r < o; r++) {
            const float *wg = w + r * i + j * g;
            float m0 = 0;
            for (size_t c = 0; c < g; c++) m0 = fmaxf(m0, fabsf(wg[c]));
            for (size_t k = 0; k < nc; k++) {
                float mv = m0 * (float)(1.0 - (double)k / 20.0);
                if (f16) mv = awq_round_f16(mv);
                for (size_t c = 0; c < g; c++) wc[c] = fminf(fmaxf(wg[c], -mv), mv);
                kern_quantize_ref(wq, NULL, NULL, NULL, wc, NULL, 1, g, (int64_t)g, w_bit, f16);
                float *dr = D + (r * nc + k) * g, *ar = aD + (r * nc + k) * g;
                for (size_t c = 0; c < g; c++) dr[c] = wq[c] - wg[c], ar[c] = fabsf(dr[c]);
            }
        }
        for (size_t tt = 0; tt < t; tt++)
            for (size_t c = 0; c < g; c++) xg[tt * g + c] = x[tt * i + j * g + c], ax[tt * g + c] = fabsf(xg[tt * g + c]);
        int m = (int)(o * nc);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, (int)t, (int)g, 1.0f, D, (int)g, xg, (int)g, 0.0f, E, (int)t);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, (int)t, (int)g, 1.0f, aD, (int)g, ax, (int)g, 0.0f, A, (int)t);
        for (size_t r = 0; r < o; r++)
            for (size_t k = 0; k < nc; k++) {
                double sum = 0, err = 0;
                const float *er = E + (r * nc + k) * t, *arow = A + (r * nc + k) * t;
                for (size_t tt = 0; tt < t; tt++) {
                    double b = gamma * 1.01 * arow[tt], d = fabs((double)er[tt]) + b;
                    sum += 2 * d * b + b * b, err += d * d;
                }
                bound[(r * ng + j) * nc + k] = sum / (double)t + 0x1p-23 * err / (double)t;
            }
    }
    free(wc), free(wq), free(D), free(aD), free(xg), free(ax), free(E), free(A);
}

/* Clip search against the _ref (fp64 losses) or, for the long case, the CPU op: every loss within
 * the bound of clip_bounds (gamma of the backend plus that of the reference); max_val identical where
 * the index is; a different index only at a near-tie: the reference's losses of the two indices
 * within 1e-6 relative or within their bounds (printed either way). Losses more than 1e-6
 * relative apart are counted and the worst printed (cancellation in d makes a few). The long
 * case (not on the CPU) spans several row chunks and two token slices of the CUDA op. */
static void op_clip_search(const awq_backend *be)
{
    static const struct { size_t o, i, t; int64_t group; int w_bit, big; } sh[] = {
        {64, 256, 64, 128, 4, 0}, {13, 192, 37, 64, 4, 0}, {8, 96, 5, 32, 3, 0}, {70, 128, 600, -1, 4, 0},
        {130, 256, 16, 128, 8, 0}, {3, 64, 1, 32, 2, 0}, {5, 150, 7, -1, 3, 0}, {1400, 2048, 2100, 128, 4, 1},
    };
    size_t nc = kern_clip_candidates(20, 0.5), ties = 0, compared = 0, over1e6 = 0, losses = 0;
    double worst_rel = 0, worst_bound = 0;
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        if (sh[s].big && is_cpu(be)) continue;
        for (int f16 = 0; f16 < 2; f16++) {
            size_t o = sh[s].o, i = sh[s].i, t = sh[s].t, g = sh[s].group > 0 ? (size_t)sh[s].group : i, ng = i / g;
            float *w = awkward_weights(o, i, g, f16), *x = rand_floats(t * i, -2, 2, f16);
            float *mv0 = xmalloc(o * ng * 4), *l0 = xmalloc(o * ng * nc * 4), *mv1 = xmalloc(o * ng * 4);
            float *l1 = xmalloc(o * ng * nc * 4);
            int32_t *b0 = xmalloc(o * ng * 4), *b1 = xmalloc(o * ng * 4);
            double *bound = xmalloc(o * ng * nc * sizeof *bound);
            kern_status st = sh[s].big ? awq_backend_cpu()->clip_search(NULL, mv0, b0, l0, w, x, o, i, t, sh[s].group, sh[s].w_bit, 20, 0.5, f16)
                                       : kern_clip_search_ref(mv0, b0, l0, w, x, o, i, t, sh[s].group, sh[s].w_bit, 20, 0.5, f16);
            REQUIRE(st == KERN_OK, "reference");
            double g32 = (double)(g + 1) * 0x1p-24;
            double gamma = (is_cpu(be) || !f16 ? g32 : 2.0 * (double)(g + 2) * 0x1p-24) + (sh[s].big ? g32 : 0);
            clip_bounds(bound, w, x, o, i, t, g, nc, sh[s].w_bit, f16, gamma);
            char id[160];
            snprintf(id, sizeof id, "clip_search[%s o=%zu i=%zu t=%zu g=%lld w_bit=%d f16=%d]", be->name, o, i, t,
                     (long long)sh[s].group, sh[s].w_bit, f16);
            float *dw = dev_put(be, w, o * i * 4), *dx = dev_put(be, x, t * i * 4);
            float *dmv = dev_out(be, o * ng * 4), *dl = dev_out(be, o * ng * nc * 4);
            int32_t *db = dev_out(be, o * ng * 4);
            st = be->clip_search(be->ctx, dmv, db, dl, dw, dx, o, i, t, sh[s].group, sh[s].w_bit, 20, 0.5, f16);
            REQUIRE(st == KERN_OK, "%s: %s", id, kern_strerror(st));
            dev_get(be, mv1, dmv, o * ng * 4), dev_get(be, b1, db, o * ng * 4), dev_get(be, l1, dl, o * ng * nc * 4);
            size_t bad = 0;
            for (size_t e = 0; e < o * ng; e++) {
                for (size_t k = 0; k < nc; k++) {
                    size_t q = e * nc + k;
                    double a = l1[q], r = l0[q], diff = fabs(a - r), lim = bound[q];
                    double rel = diff == 0 ? 0 : diff / fabs(r);
                    losses++;
                    over1e6 += rel > 1e-6;
                    if (rel > worst_rel) worst_rel = rel;
                    if (lim > 0 && diff / lim > worst_bound) worst_bound = diff / lim;
                    if (!(diff <= lim) && bad++ < 5)
                        fprintf(stderr, "  %s: loss [%zu][%zu] %.9g vs ref %.9g (diff %.3g, bound %.3g)\n", id, e, k, a, r, diff, lim);
                }
                compared++;
                if (b1[e] < 0 || b1[e] >= (int32_t)nc) {
                    if (bad++ < 5) fprintf(stderr, "  %s: [%zu] index %d out of range\n", id, e, b1[e]);
                    continue;
                }
                if (b1[e] != b0[e]) {
                    size_t qa = e * nc + (size_t)b1[e], qb = e * nc + (size_t)b0[e];
                    double la = l0[qa], lb = l0[qb], gap = fabs(la - lb);
                    int rel_tie = gap <= 1e-6 * fmax(fabs(la), fabs(lb));
                    int bound_tie = gap <= bound[qa] + bound[qb];
                    fprintf(stderr, "  %s: [%zu] index %d vs ref %d, ref losses %.9g / %.9g (gap %.3g relative): %s\n", id, e,
                            b1[e], b0[e], la, lb, gap / fmax(fabs(la), fabs(lb)),
                            rel_tie ? "near-tie within 1e-6 (allowed)" : bound_tie ? "near-tie within the error bounds (allowed)"
                                                                              : "NOT a near-tie");
                    ties += rel_tie || bound_tie;
                    bad += !(rel_tie || bound_tie);
                    continue;
                }
                if (memcmp(&mv1[e], &mv0[e], 4) && bad++ < 5)
                    fprintf(stderr, "  %s: [%zu] max_val %a vs ref %a at the same index\n", id, e, mv1[e], mv0[e]);
            }
            CHECK(bad == 0, "%s: %zu mismatches", id, bad);
            dev_free(be, dw), dev_free(be, dx), dev_free(be, dmv), dev_free(be, dl), dev_free(be, db);
            free(w), free(x), free(mv0), free(l0), free(mv1), free(l1), free(b0), free(b1), free(bound);
        }
    }
    fprintf(stderr, "  clip_search[%s]: %zu (row, group) compared, %zu near-ties; %zu of %zu losses differ by > 1e-6 relative "
                    "(worst %.3g); worst diff / bound %.3g\n", be->name, compared, ties, over1e6, losses, worst_rel, worst_bound);
}

/* ==== the ops against their _ref, and the _ref against values by hand (once test_kernels.c) ====
 * These loop over `backends`, which holds the backend of the running case (with_backend), so the
 * same checks run on every backend present. */

static const awq_backend *backends[1];
static size_t n_backends(void) { return 1; }
static void with_backend(const awq_backend *be, void (*t)(void)) { backends[0] = be; t(); }

static void round_all(float *x, size_t n) { for (size_t e = 0; e < n; e++) x[e] = awq_round_f16(x[e]); }

static int bits_equal(const float *a, const float *b, size_t n, size_t *where)
{
    for (size_t e = 0; e < n; e++)
        if (memcmp(&a[e], &b[e], 4)) { if (where) *where = e; return 0; }
    return 1;
}

/* ---- matmul (from test_kernels.c) ------------------------------------------------------------------------------ */

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
                    CHECK(bits_equal(inpl, got, n * c, &where), "%s: in place differs at %zu", id, where);
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
    const kern_rope unscaled = {.theta = 500000.0f};
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

/* YaRN's frequencies as transformers 5.23's _compute_yarn_parameters gives them (the fp32 values
 * printed by torch; within 2e-7 relative for powf's last bit): DeepSeek-V3's (d 64, factor 40,
 * original 4096, truncate false here) and a tiny one (d 16, factor 4, original 128). */
static void t_rope_yarn_freqs(void)
{
    float f[32];
    const double tiny[8] = {0x1p+0, 0x1.e5b9dp-3, 0x1.999998p-5, 0x1.030dc6p-7, 0x1.47ae14p-9, 0x1.9e7c7p-11,
                            0x1.0624dep-12, 0x1.4b96cp-14};
    kern_rope_freqs(f, 16, &rope_yarn_small);
    for (int j = 0; j < 8; j++) CHECK(fabs(f[j] - tiny[j]) <= 2e-7 * tiny[j], "tiny yarn f[%d] = %a, want %a", j, f[j], tiny[j]);
    kern_rope ds = rope_dsv3;
    ds.theta = 50000.0f, ds.truncate = 0;
    const double big[32] = {
        0x1p+0, 0x1.6d1ce6p-1, 0x1.045db6p-1, 0x1.7356fep-2, 0x1.08ce7ap-2, 0x1.79ac46p-3, 0x1.0d52a2p-3, 0x1.801d36p-4,
        0x1.11ea82p-4, 0x1.837ce6p-5, 0x1.f3a502p-6, 0x1.3e81fcp-6, 0x1.905c18p-7, 0x1.ee1fc6p-8, 0x1.298b02p-8,
        0x1.5a2c6ap-9, 0x1.7e34ap-10, 0x1.8210aep-11, 0x1.43c80cp-12, 0x1.148a0ep-14, 0x1.e511b4p-16, 0x1.59e88p-16,
        0x1.ed578ap-17, 0x1.5fcebep-17, 0x1.f5c17cp-18, 0x1.65cecp-18, 0x1.fe502ap-19, 0x1.6be8f4p-19, 0x1.03821cp-19,
        0x1.721dccp-20, 0x1.07ef2p-20, 0x1.786dbcp-21};
    kern_rope_freqs(f, 64, &ds);
    for (int j = 0; j < 32; j++) CHECK(fabs(f[j] - big[j]) <= 2e-7 * big[j], "DeepSeek yarn f[%d] = %a, want %a", j, f[j], big[j]);
    CHECK(kern_rope_cs_scale(&rope_yarn_small) == 1.036992729910394f && kern_rope_cs_scale(&rope_interleave) == 1.0f,
          "cos/sin factor");
}

/* Interleaved pairs (x[2j], x[2j+1]) rotated and written in halves: the same bits as the halves
 * rotation of the de-interleaved head (transformers' two formulations), in both modes; and the
 * yarn factor multiplies cos and sin: with it, the result is the rotation by scaled cos/sin. */
static void t_rope_interleave_by_hand(void)
{
    const size_t n = 5, heads = 3, d = 16, len = n * heads * d;
    float *x = rand_floats(len, -3, 3, 0), *a = xmalloc(len * 4), *b = xmalloc(len * 4);
    int32_t pos[5] = {0, 1, 2, 7, 300};
    kern_rope plain = rope_yarn_small, inter = rope_yarn_small;
    inter.interleave = 1;
    for (int f16 = 0; f16 < 2; f16++) {
        if (f16) round_all(x, len);
        memcpy(a, x, len * 4);
        for (size_t rh = 0; rh < n * heads; rh++)
            for (size_t j = 0; j < d / 2; j++) b[rh * d + j] = x[rh * d + 2 * j], b[rh * d + j + d / 2] = x[rh * d + 2 * j + 1];
        kern_rope_ref(a, pos, n, heads, d, &inter, f16);
        kern_rope_ref(b, pos, n, heads, d, &plain, f16);
        size_t where = 0;
        CHECK(bits_equal(a, b, len, &where), "f16=%d: interleaved differs from de-interleaved halves at %zu", f16, where);
    }
    float y[4] = {1, 2, 3, 4}, f[2];
    const int32_t p1 = 1;
    kern_rope r4 = rope_yarn_small;
    r4.interleave = 1;
    kern_rope_freqs(f, 4, &r4);
    kern_rope_ref(y, &p1, 1, 1, 4, &r4, 0);
    double cs = 1.036992729910394, c0 = cos(f[0]) * cs, s0 = sin(f[0]) * cs, c1 = cos(f[1]) * cs, s1 = sin(f[1]) * cs;
    const double want[4] = {1 * c0 - 2 * s0, 3 * c1 - 4 * s1, 2 * c0 + 1 * s0, 4 * c1 + 3 * s1};
    for (int e = 0; e < 4; e++) CHECK(fabs(y[e] - want[e]) <= 1e-6, "y[%d] = %.9g, want %.9g", e, y[e], want[e]);
    free(x), free(a), free(b);
}

/* v heads narrower than q/k heads (MLA): the output equals, bit for bit, the d = dv attention on
 * v padded with zero columns (its first dv columns), at the same scale. */
static void t_attention_dv_is_padded(void)
{
    const size_t b = 2, t = 13, h = 4, hkv = 2, d = 24, dv = 10;
    const float scale = 0.3f;
    float *q = rand_floats(b * t * h * d, -2, 2, 0), *k = rand_floats(b * t * hkv * d, -2, 2, 0);
    float *v = rand_floats(b * t * hkv * dv, -1, 1, 0), *vp = calloc(b * t * hkv * d, 4);
    float *o = xmalloc(b * t * h * dv * 4), *op = xmalloc(b * t * h * d * 4);
    for (size_t r = 0; r < b * t * hkv; r++) memcpy(vp + r * d, v + r * dv, dv * 4);
    for (int f16 = 0; f16 < 2; f16++) {
        kern_attention_ref(o, q, k, v, b, t, h, hkv, d, dv, scale, 0, 0, f16);
        kern_attention_ref(op, q, k, vp, b, t, h, hkv, d, d, scale, 0, 0, f16);
        int bad = 0;
        for (size_t r = 0; r < b * t * h; r++) bad += memcmp(o + r * dv, op + r * d, dv * 4) != 0;
        CHECK(!bad, "f16=%d: %d heads differ from the padded attention", f16, bad);
    }
    free(q), free(k), free(v), free(vp), free(o), free(op);
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
        CHECK(bits_equal(x, y, len, &where), "ref f16=%d: changed at %zu", f16, where);
        for (size_t bi = 0; bi < nb; bi++) {
            const awq_backend *be = backends[bi];
            float *dx = dev_put(be, x, len * 4);
            int32_t *dp = dev_put(be, pos, sizeof pos);
            CHECK(be->rope(be->ctx, dx, dp, n, heads, d, &rope_llama31, f16) == KERN_OK, "%s", be->name);
            dev_get(be, y, dx, len * 4);
            CHECK(bits_equal(x, y, len, &where), "%s f16=%d: changed at %zu", be->name, f16, where);
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
        {6, 2, 128, 0, &rope_llama31, "large positions"}, {48, 16, 64, 24, &rope_dsv3, "DeepSeek-V3 yarn, interleaved"},
        {30, 3, 16, 10, &rope_yarn_small, "yarn, cos/sin x1.037"},
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
    kern_status st = be->attention(be->ctx, dout, dq, dk, dv, a->b, a->t, a->h, a->hkv, a->d, a->d,
                                    kern_attention_scale(a->d), 0, 0, f16);
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
            CHECK(kern_attention_ref(want, a.q, a.k, a.v, a.b, a.t, a.h, a.hkv, a.d, a.d, kern_attention_scale(a.d), 0, 0, f16) == KERN_OK, "ref");
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
                                 : kern_attention_ref(out, a.q, a.k, a.v, b, t, h, hkv, d, d, kern_attention_scale(d), 0, 0, 0);
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
            else kern_attention_ref(o1, a.q, a.k, a.v, b, t, h, hkv, d, d, kern_attention_scale(d), 0, 0, f16),
                 kern_attention_ref(o2, c.q, c.k, c.v, b, t, h, hkv, d, d, kern_attention_scale(d), 0, 0, f16);
            size_t where = 0, before = row * h * d;
            CHECK(bits_equal(o1, o2, before, &where), "%s f16=%d: row %zu changed by a later token", who, f16,
                  where / (h * d));
            CHECK(!bits_equal(o1 + before, o2 + before, h * d, NULL), "%s f16=%d: row %zu did not change", who, f16, row);
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
        kern_attention_ref(og, g.q, g.k, g.v, b, t, h, hkv, d, d, kern_attention_scale(d), 0, 0, 0);
        kern_attention_ref(om, m.q, m.k, m.v, b, t, h, h, d, d, kern_attention_scale(d), 0, 0, 0);
        size_t where = 0;
        CHECK(bits_equal(og, om, nq, &where), "ref hkv=%zu: differs from MHA at %zu", hkv, where);
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
            CHECK(bits_equal(got, want, n * c, &where), "embed[%s %s]: differs at %zu", be->name,
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
    CHECK(kern_attention_ref(buf, buf, buf, buf, 1, 2, 3, 2, 4, 4, 0.5f, 0, 0, 0) == KERN_ERR_ARG, "ref: h=3 hkv=2");
    CHECK(kern_rope_ref(buf, pos, 1, 1, 5, &rope_default, 0) == KERN_ERR_ARG, "ref: odd d");
    CHECK(kern_matmul_ref(buf, buf, bad_dt, KERN_NO_WEIGHT, 1, 1, 1, 0) == KERN_ERR_ARG, "ref: bad dtype");
    size_t nb = n_backends();
    for (size_t bi = 0; bi < nb; bi++) {
        const awq_backend *be = backends[bi];
        float *d = dev_put(be, buf, sizeof buf);
        int32_t *dp = dev_put(be, pos, sizeof pos);
        CHECK(be->attention(be->ctx, d, d, d, d, 1, 2, 3, 2, 4, 4, 0.5f, 0, 0, 0) == KERN_ERR_ARG, "%s: h=3 hkv=2", be->name);
        CHECK(be->attention(be->ctx, d, d, d, d, 1, 2, 4, 0, 4, 4, 0.5f, 0, 0, 0) == KERN_ERR_ARG, "%s: hkv=0", be->name);
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
        CHECK(bits_equal(r[0][op], r[1][op], len[op], &where), "%s: 1 vs 2 threads differ at %zu", what[op], where);
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


/* Both array forms of h() in the hot loops equal awq_round_f16 bit for bit, NaN included (the
 * quiet NaN with the input's sign): kern_round_f16_n (the fastest form this CPU passes at start-up:
 * F16C conversions or bit arithmetic) and the portable 4-lane kern_round_f16_n_v4 (vec.h), on every
 * 17th float bit pattern and every 7th below 2^-14 of both signs, in arrays of 4099 (every lane
 * position of 4, 8 and 16 and a scalar tail). */
static void t_round_f16_n_sweep(void)
{
    enum { B = 4099 };
    static float in[B], a[B], b[B];
    long bad = 0;
    fprintf(stderr, "# kern_round_f16_n: %s\n", kern_round_f16_n_path());
    for (int part = 0; part < 3; part++) {
        const uint64_t step = part == 0 ? 17 : 7, end = part == 0 ? 0x100000000ull : 0x38800000u;
        for (uint64_t v0 = 0; v0 < end; v0 += step * B) {
            size_t n = 0;
            for (; n < B && v0 + n * step < end; n++) {
                uint32_t u = (uint32_t)(v0 + n * step) | (part == 2 ? 0x80000000u : 0);
                memcpy(&in[n], &u, 4);
            }
            memcpy(a, in, n * 4), memcpy(b, in, n * 4);
            kern_round_f16_n(a, n);
            kern_round_f16_n_v4(b, n);
            for (size_t e = 0; e < n; e++) {
                float want = awq_round_f16(in[e]);
                uint32_t u;
                memcpy(&u, &in[e], 4);
                if (memcmp(&a[e], &want, 4) != 0 && bad++ < 5) CHECK(0, "x=0x%08x kern_round_f16_n %a ref %a", u, a[e], want);
                if (memcmp(&b[e], &want, 4) != 0 && bad++ < 5) CHECK(0, "x=0x%08x kern_round_f16_n_v4 %a ref %a", u, b[e], want);
            }
        }
    }
    CHECK(bad == 0, "%ld mismatches", bad);
}

/* kern_qk_causal gives cblas_sgemm's scores bit for bit where the mask keeps them (the attention
 * op uses it only on shapes where it checked that at first use; this holds it there on more
 * inputs: head widths 2..32, sequence lengths around the 16-key blocks, windows, strided rows). */
static void t_qk_causal_vs_sgemm(void)
{
    const size_t ds[] = {2, 8, 16, 32}, ts[] = {1, 15, 16, 17, 64, 100, 512};
    int used = 0;
    long bad = 0;
    for (size_t di = 0; di < 4; di++)
        for (size_t ti = 0; ti < 7; ti++) {
            const size_t d = ds[di], t = ts[ti], qw = 3 * d, kw = 2 * d;
            if (!kern_qk_causal_ok(d, t)) continue;
            used++;
            float *q = rand_floats(t * qw, -2, 2, 0), *k = rand_floats(t * kw, -2, 2, 0), *want = xmalloc(t * t * 4),
                  *got = xmalloc(t * t * 4), *kt = xmalloc(d * t * 4);
            kern_blas_serial();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)t, (int)d, 1.0f, q, (int)qw, k, (int)kw, 0.0f, want, (int)t);
            for (size_t window = 0; window <= 20; window += 20) {
                kern_qk_causal(got, q, k, kt, t, d, qw, kw, window);
                for (size_t p = 0; p < t; p++)
                    for (size_t m = kern_attn_lo(p, window); m <= p; m++)
                        if (got[p * t + m] != want[p * t + m] && bad++ < 5)
                            CHECK(0, "d=%zu t=%zu window=%zu S[%zu,%zu]: %a, sgemm %a", d, t, window, p, m, got[p * t + m], want[p * t + m]);
            }
            free(q), free(k), free(want), free(got), free(kt);
        }
    if (!used) t_skip("kern_qk_causal is not used on this CPU (no AVX-512F, or its bits differ from this OpenBLAS's)");
    CHECK(bad == 0, "%ld scores differ", bad);
}

/* The CPU-specific forms of the hot loops (F16C h(), AVX-512 exp and softmax passes, the causal
 * scores) give the bits of the portable forms (kern_cpu_portable: 4 lanes of plain C, expf per
 * element, sgemm for every score), op by op on random inputs: attention (MHA, GQA, head widths
 * 8..64, a sliding window, soft-capping, fp32 and fp16), silu_mul, matmul with the h() of its
 * tiles, round_f16, rope, sq_diff. The portable forms are the arithmetic the ops had before the
 * fast ones. */
static void t_fast_forms_same_bits(void)
{
    static const struct { size_t b, t, h, hkv, d; float cap; size_t win; } sh[] = {
        {2, 512, 8, 4, 8, 0, 0}, {1, 100, 4, 4, 16, 0, 0}, {2, 77, 4, 2, 32, 0, 20}, {1, 64, 2, 1, 64, 0, 0},
        {1, 40, 4, 2, 8, 30.0f, 0},
    };
    const awq_backend *be = awq_backend_cpu();
    long bad = 0;
    for (size_t c = 0; c < sizeof sh / sizeof sh[0]; c++)
        for (int f16 = 0; f16 < 2; f16++) {
            attn_in a = attn_rand(sh[c].b, sh[c].t, sh[c].h, sh[c].hkv, sh[c].d, f16);
            size_t n = sh[c].b * sh[c].t * sh[c].h * sh[c].d;
            float *o[2] = {xmalloc(n * 4), xmalloc(n * 4)};
            for (int port = 0; port < 2; port++) {
                kern_cpu_portable = port;
                CHECK(be->attention(be->ctx, o[port], a.q, a.k, a.v, sh[c].b, sh[c].t, sh[c].h, sh[c].hkv, sh[c].d, sh[c].d,
                                    kern_attention_scale(sh[c].d), sh[c].cap, sh[c].win, f16) == KERN_OK, "attention");
            }
            kern_cpu_portable = 0;
            if (memcmp(o[0], o[1], n * 4) != 0 && bad++ < 5)
                CHECK(0, "attention case %zu f16=%d: the fast forms' output differs from the portable forms'", c, f16);
            free(o[0]), free(o[1]);
            attn_free(&a);
        }
    const size_t n = 70001, rows = 300, cols = 257, in = 64; /* odd sizes: every tail */
    for (int f16 = 0; f16 < 2; f16++) {
        float *g = rand_floats(n, -12, 12, f16), *u = rand_floats(n, -3, 3, f16), *x = rand_floats(rows * in, -2, 2, f16);
        kern_weight w = rand_weight(KERN_F16, cols * in, -1, 1);
        float *o[2][3], *r = rand_floats(n, -70000, 70000, 0); /* round_f16's input: overflow, a NaN, a subnormal half */
        r[7] = NAN, r[9] = 1e-6f;
        for (int port = 0; port < 2; port++) {
            kern_cpu_portable = port;
            o[port][0] = xmalloc(n * 4), o[port][1] = xmalloc(rows * cols * 4), o[port][2] = xmalloc(n * 4);
            memcpy(o[port][2], r, n * 4);
            CHECK(be->silu_mul(be->ctx, o[port][0], g, u, n, f16) == KERN_OK, "silu_mul");
            CHECK(be->matmul(be->ctx, o[port][1], x, w, KERN_NO_WEIGHT, rows, cols, in, f16) == KERN_OK, "matmul");
            CHECK(be->round_f16(be->ctx, o[port][2], n) == KERN_OK, "round_f16");
        }
        kern_cpu_portable = 0;
        const size_t len[3] = {n, rows * cols, n};
        const char *what[3] = {"silu_mul", "matmul", "round_f16"};
        for (int k = 0; k < 3; k++) {
            if (memcmp(o[0][k], o[1][k], len[k] * 4) != 0 && bad++ < 5) CHECK(0, "%s f16=%d: fast and portable forms differ", what[k], f16);
            free(o[0][k]), free(o[1][k]);
        }
        free(g), free(u), free(x), free(r), free((void *)w.data);
    }
    /* rope (4 rotations at a time) and sq_diff (four slabs side by side): the same bits */
    for (int f16 = 0; f16 < 2; f16++) {
        const size_t rn = 1000, heads = 8, hd = 24;
        float *x = rand_floats(rn * heads * hd, -3, 3, f16), *y[2] = {xmalloc(rn * heads * hd * 4), xmalloc(rn * heads * hd * 4)};
        int32_t *pos = xmalloc(rn * sizeof *pos);
        for (size_t r = 0; r < rn; r++) pos[r] = (int32_t)(r % 300);
        const kern_rope rope = {.theta = 10000.0f};
        const size_t sn = 65536 * 9 + 77; /* 10 slabs: two groups of four and a short one */
        float *sa = rand_floats(sn, -70000, 70000, f16), *sb = rand_floats(sn, -70000, 70000, f16);
        double sum[2];
        for (int port = 0; port < 2; port++) {
            kern_cpu_portable = port;
            memcpy(y[port], x, rn * heads * hd * 4);
            CHECK(be->rope(be->ctx, y[port], pos, rn, heads, hd, &rope, f16) == KERN_OK, "rope");
            sum[port] = 0.5;
            CHECK(be->sq_diff(be->ctx, &sum[port], sa, sb, sn, f16, 1) == KERN_OK, "sq_diff");
        }
        kern_cpu_portable = 0;
        if (memcmp(y[0], y[1], rn * heads * hd * 4) != 0 && bad++ < 5) CHECK(0, "rope f16=%d: fast and portable forms differ", f16);
        if (memcmp(&sum[0], &sum[1], sizeof sum[0]) != 0 && bad++ < 5)
            CHECK(0, "sq_diff f16=%d: %a and %a (portable)", f16, sum[0], sum[1]);
        free(x), free(y[0]), free(y[1]), free(pos), free(sa), free(sb);
    }
    CHECK(bad == 0, "%ld cases differ", bad);
}

/* kern_expf_n gives expf's bits (the C library's, which the _refs call) on every 5th float bit
 * pattern of |x| < 128 of both signs (the underflow to 0 below -104 included), on Inf, NaN and
 * values at the edges of the fast path's range, at every array length up to 20 (the scalar tails)
 * and in place. It reports which path ran. */
static void t_expf_n_sweep(void)
{
    enum { B = 4096 };
    static float x[B], y[B];
    long bad = 0, n = 0;
    fprintf(stderr, "# kern_expf_n: %s\n", kern_expf_n_is_fast() ? "vector path (matches expf at start-up)" : "expf per element");
    for (uint32_t sgn = 0; sgn < 2; sgn++)
        for (uint64_t u0 = 0; u0 < 0x43000000u; u0 += 5 * B) {
            size_t m = 0;
            for (; m < B && u0 + m * 5 < 0x43000000u; m++) {
                uint32_t w = (uint32_t)(u0 + m * 5) | (sgn ? 0x80000000u : 0);
                memcpy(&x[m], &w, 4);
            }
            kern_expf_n(y, x, m);
            for (size_t e = 0; e < m; e++, n++) {
                float want = expf(x[e]);
                if (memcmp(&y[e], &want, 4) != 0 && bad++ < 5) CHECK(0, "x=%a: kern_expf_n %a expf %a", x[e], y[e], want);
            }
        }
    const float odd[] = {INFINITY, -INFINITY, NAN, 88.7f, 89.0f, -103.9f, -104.5f, -150.0f, 0.0f, -0.0f, 1e-30f, -1e-30f,
                         -87.99f, -88.0f, -88.01f, 88.72283f, 88.72284f, 5.0f, -5.0f, 0.25f};
    for (size_t len = 1; len <= 20; len++) {
        memcpy(x, odd, sizeof odd);
        kern_expf_n(x, x, len); /* in place */
        for (size_t e = 0; e < len; e++) {
            float want = expf(odd[e]);
            if (memcmp(&x[e], &want, 4) != 0 && !(isnan(x[e]) && isnan(want)) && bad++ < 5)
                CHECK(0, "len %zu: x=%a: kern_expf_n %a expf %a", len, odd[e], x[e], want);
        }
    }
    CHECK(bad == 0, "%ld of %ld values differ from expf", bad, n);
}


/* ---- sq_diff -------------------------------------------------------------------------------- */

/* The sum of positive fp64 terms (each the exact square of an fp32 difference) in another order
 * than the _ref's one running sum: within n * 2^-52 relative, so 1e-9 is asked for n <= 200003.
 * Called twice it gives the same bits (fixed order); added to *sum piece by piece (pieces of
 * 2 x 65536 elements) the same bits as in one call. Values beyond +-65504 test the clamp; a NaN
 * makes the sum NaN on every backend. n = 0 gives 0. */
static void op_sq_diff(const awq_backend *be)
{
    static const size_t ns[] = {0, 1, 1000, 65536, 200003};
    for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++)
        for (int f16 = 0; f16 < 2; f16++)
            for (int clamp = 0; clamp < 2; clamp++) {
                size_t n = ns[s];
                float *a = rand_floats(n, -3, 3, 0), *c = rand_floats(n, -3, 3, 0);
                if (clamp)
                    for (size_t e = 0; e < n; e += 97) a[e] = e % 2 ? 1e6f : -70000.0f;
                double want = 0, got = 0, again = 0, pieces = 0;
                kern_sq_diff_ref(&want, a, c, n, f16, clamp);
                float *da = dev_put(be, a, n * 4), *dc = dev_put(be, c, n * 4);
                char id[80];
                snprintf(id, sizeof id, "sq_diff[%s n=%zu f16=%d clamp=%d]", be->name, n, f16, clamp);
                CHECK(be->sq_diff(be->ctx, &got, da, dc, n, f16, clamp) == KERN_OK, "%s", id);
                CHECK(be->sq_diff(be->ctx, &again, da, dc, n, f16, clamp) == KERN_OK, "%s", id);
                CHECK(fabs(got - want) <= 1e-9 * want, "%s: got %.17g want %.17g", id, got, want);
                CHECK(!memcmp(&got, &again, sizeof got), "%s: a second call gives %.17g, the first %.17g", id, again, got);
                /* the sum is added to *sum: pieces starting at multiples of 65536 give the whole's bits */
                for (size_t e0 = 0; e0 < n; e0 += 2 * 65536) {
                    size_t m = n - e0 < 2 * 65536 ? n - e0 : 2 * 65536;
                    CHECK(be->sq_diff(be->ctx, &pieces, da + e0, dc + e0, m, f16, clamp) == KERN_OK, "%s", id);
                }
                CHECK(!memcmp(&got, &pieces, sizeof got), "%s: in pieces %.17g, whole %.17g", id, pieces, got);
                if (n > 1) {
                    a[n / 2] = NAN;
                    CHECK(be->upload(be->ctx, da, a, n * 4) == KERN_OK, "%s", id);
                    got = 0;
                    CHECK(be->sq_diff(be->ctx, &got, da, dc, n, f16, clamp) == KERN_OK && isnan(got), "%s: NaN gives %g", id, got);
                }
                dev_free(be, da), dev_free(be, dc);
                free(a), free(c);
            }
}

/* add_rows: every token's k routed rows (sorted by expert, as moe.c lays them out) added in idx's
 * order, bit for bit as the _ref; -1 entries add nothing. By hand: the order of a token's adds is
 * idx's (1e8 + 1 - 1e8 is 0 in fp32, 1e8 - 1e8 + 1 is 1), and a row outside [0, n) is refused. */
static void op_add_rows(const awq_backend *be)
{
    static const struct { size_t m, k, c; } sh[] = {{1, 1, 1}, {24, 2, 64}, {300, 8, 200}, {512, 2, 4096}};
    for (size_t q = 0; q < sizeof sh / sizeof sh[0]; q++)
        for (int f16 = 0; f16 < 2; f16++) {
            const size_t m = sh[q].m, k = sh[q].k, c = sh[q].c, n = m * k;
            float *y = rand_floats(m * c, -2, 2, f16), *got = xmalloc(m * c * 4);
            float *x = rand_floats(n * c, -3, 3, f16), *wt = rand_floats(n, 0, 1, f16);
            int32_t *idx = xmalloc(n * sizeof *idx);
            /* rows in a scrambled order; every fifth entry none */
            for (size_t i = 0; i < n; i++) idx[i] = i % 5 == 3 ? -1 : (int32_t)((i * 7919 + 13) % n);
            float *dy = dev_put(be, y, m * c * 4), *dx = dev_put(be, x, n * c * 4), *dw = dev_put(be, wt, n * 4);
            int32_t *di = dev_put(be, idx, n * sizeof *idx);
            char id[100];
            snprintf(id, sizeof id, "add_rows[%s m=%zu k=%zu c=%zu f16=%d]", be->name, m, k, c, f16);
            CHECK(be->add_rows(be->ctx, dy, dx, dw, di, m, k, c, n, f16) == KERN_OK, "%s", id);
            CHECK(kern_add_rows_ref(y, x, wt, idx, m, k, c, n, f16) == KERN_OK, "%s ref", id);
            dev_get(be, got, dy, m * c * 4);
            compare(id, got, y, m * c, (tolerance){.exact = 1});
            dev_free(be, dy), dev_free(be, dx), dev_free(be, dw), dev_free(be, di);
            free(y), free(got), free(x), free(wt), free(idx);
        }
    float x[3] = {1e8f, 1.0f, -1e8f}, wt[3] = {1, 1, 1}, got[2];
    int32_t in_order[2 * 3] = {0, 1, 2, -1, -1, -1}, swapped[2 * 3] = {0, 2, 1, -1, -1, -1}, bad[2 * 3] = {0, 3, -1, -1, -1, -1};
    float *dx = dev_put(be, x, 12), *dw = dev_put(be, wt, 12);
    int32_t *d1 = dev_put(be, in_order, sizeof in_order), *d2 = dev_put(be, swapped, sizeof swapped), *d3 = dev_put(be, bad, sizeof bad);
    const float zero[2] = {0, 5.0f};
    float *dy = dev_put(be, zero, 8);
    CHECK(be->add_rows(be->ctx, dy, dx, dw, d1, 2, 3, 1, 3, 0) == KERN_OK, "add_rows by hand");
    dev_get(be, got, dy, 8);
    CHECK(got[0] == 0.0f && got[1] == 5.0f, "add_rows[%s] 1e8 + 1 - 1e8: got %.9g %.9g, want 0 5", be->name, got[0], got[1]);
    dev_free(be, dy), dy = dev_put(be, zero, 8);
    CHECK(be->add_rows(be->ctx, dy, dx, dw, d2, 2, 3, 1, 3, 0) == KERN_OK, "add_rows by hand");
    dev_get(be, got, dy, 8);
    CHECK(got[0] == 1.0f && got[1] == 5.0f, "add_rows[%s] 1e8 - 1e8 + 1: got %.9g %.9g, want 1 5", be->name, got[0], got[1]);
    CHECK(be->add_rows(be->ctx, dy, dx, dw, d3, 2, 3, 1, 3, 0) == KERN_ERR_ARG, "add_rows[%s]: row 3 of 3 accepted", be->name);
    dev_free(be, dy), dev_free(be, dx), dev_free(be, dw), dev_free(be, d1), dev_free(be, d2), dev_free(be, d3);
}

/* mlp_grouped against its _ref (kern_mlp_ref on each group) on random inputs with uneven and
 * empty groups, with silu and with Gemma's tanh GELU (act: a GELU _ref that equals the silu one
 * would not test it, so that is checked too), and against the mlp op of the same backend on
 * each group: the CPU's bits are
 * that op's (what moe.c relied on before the op); a device's grouped GEMMs may order the fp32
 * sums differently, so there the faithful outputs may differ in a few fp16 roundings (the
 * matmul cases' share), fp32 within the matmul bound. */
static void op_mlp_grouped(const awq_backend *be)
{
    static const struct { size_t c, f, g, sizes[8]; int big; } sh[] = {
        {48, 80, 6, {3, 0, 17, 1, 0, 40}, 0},      /* c < f, empty groups between */
        {130, 60, 4, {0, 5, 9, 2}, 0},             /* c > 2f: the down product's fp16 C in scratch */
        {256, 704, 5, {300, 0, 700, 5, 64}, 1},    /* bigger (devices only: the CPU _ref is slow) */
    };
    static const kern_dtype dts[] = {KERN_F16, KERN_F32, KERN_BF16};
    for (size_t q = 0; q < sizeof sh / sizeof sh[0]; q++) {
        if (sh[q].big && is_cpu(be)) continue;
        const size_t c = sh[q].c, f = sh[q].f, g = sh[q].g;
        size_t start[9] = {0};
        for (size_t e = 0; e < g; e++) start[e + 1] = start[e] + sh[q].sizes[e];
        const size_t R = start[g], nc = R * c, nf = R * f;
        for (int act = KERN_ACT_SILU; act <= KERN_ACT_GELU_TANH; act++)
        for (size_t v = 0; v < sizeof dts / sizeof dts[0]; v++)
            for (int f16 = 0; f16 < 2; f16++) {
                kern_weight hg[8], hu[8], hd[8], dg[8], du[8], dd[8];
                for (size_t e = 0; e < g; e++) {
                    hg[e] = rand_weight(dts[v], f * c, -1, 1), hu[e] = rand_weight(dts[v], f * c, -1, 1);
                    hd[e] = rand_weight(dts[v], c * f, -1, 1);
                    dg[e] = dev_weight(be, hg[e], f * c), du[e] = dev_weight(be, hu[e], f * c), dd[e] = dev_weight(be, hd[e], c * f);
                }
                float *m = rand_floats(nc, -1, 1, f16), *want = xmalloc(nc * 4 + 4), *want_a = xmalloc(nf * 4 + 4);
                float *sg = xmalloc(nf * 4 + 4), *su = xmalloc(nf * 4 + 4);
                REQUIRE(kern_mlp_grouped_ref(want, want_a, m, hg, hu, hd, start, g, sg, su, c, f, act, f16) == KERN_OK, "_ref");
                if (act == KERN_ACT_GELU_TANH) { /* the GELU _ref must not be the silu one */
                    float *silu_a = xmalloc(nf * 4 + 4);
                    REQUIRE(kern_mlp_grouped_ref(NULL, silu_a, m, hg, hu, hd, start, g, sg, su, c, f, KERN_ACT_SILU, f16) ==
                                KERN_OK, "_ref silu");
                    size_t differ = 0;
                    for (size_t i = 0; i < nf; i++) differ += silu_a[i] != want_a[i];
                    CHECK(differ > nf / 2, "mlp_grouped_ref c=%zu f=%zu: gelu equals silu in %zu of %zu values (act ignored?)",
                          c, f, nf - differ, nf);
                    free(silu_a);
                }
                float *dm = dev_put(be, m, nc * 4), *dsg = dev_out(be, nf * 4), *dsu = dev_out(be, nf * 4);
                float *dout = dev_out(be, nc * 4), *dda = dev_out(be, nf * 4);
                float *got = xmalloc(nc * 4 + 4), *got_a = xmalloc(nf * 4 + 4), *per = xmalloc(nc * 4 + 4),
                      *per_a = xmalloc(nf * 4 + 4);
                char id[160];
                snprintf(id, sizeof id, "mlp_grouped[%s c=%zu f=%zu g=%zu rows=%zu dtype=%d f16=%d act=%s]", be->name, c, f, g,
                         R, (int)dts[v], f16, act == KERN_ACT_GELU_TANH ? "gelu_tanh" : "silu");
                kern_status st = be->mlp_grouped(be->ctx, dout, dda, dm, dg, du, dd, start, g, dsg, dsu, c, f, act, f16);
                REQUIRE(st == KERN_OK, "%s: %s %s", id, kern_strerror(st), is_cpu(be) ? "" : kern_last_error());
                dev_get(be, got, dout, nc * 4), dev_get(be, got_a, dda, nf * 4);
                /* op_mlp's per-element bounds, a group at a time: a flat 1e-4 (the first form of this
                 * test) failed on the H100 for the c=256 f=704 groups, whose sums cancel (|out| ~1
                 * from magnitudes ~1000: fp32 order alone moves it by ~2e-4), as did a flat 0.05 in
                 * fp16 numerics, where one flipped rounding of an intermediate moves out by ~0.1 */
                const double k2 = sh[q].big ? 2 : 1, lim_g = 2.0 * (double)(c + 1) * 0x1p-24 * k2,
                             lim_d = 2.0 * (double)(f + 1) * 0x1p-24 * k2;
                double *ta = xmalloc(nf * sizeof *ta + 8), *tout = xmalloc(nc * sizeof *tout + 8);
                float *wg_ = xmalloc(nf * 4 + 4), *wu_ = xmalloc(nf * 4 + 4);
                for (size_t e = 0; e < g; e++) {
                    size_t a = start[e], n = start[e + 1] - a;
                    if (!n) continue;
                    REQUIRE(kern_matmul_ref(wg_ + a * f, m + a * c, hg[e], KERN_NO_WEIGHT, n, f, c, f16) == KERN_OK &&
                                kern_matmul_ref(wu_ + a * f, m + a * c, hu[e], KERN_NO_WEIGHT, n, f, c, f16) == KERN_OK,
                            "gate/up _ref");
                    mlp_bounds(m + a * c, hg[e], KERN_NO_WEIGHT, hu[e], KERN_NO_WEIGHT, hd[e], KERN_NO_WEIGHT, wg_ + a * f,
                               wu_ + a * f, want_a + a * f, want + a * c, n, c, f, act, f16, lim_g, lim_d, ta + a * f,
                               tout + a * c);
                }
                const double nmse_a = 0x1p-46 * (double)(c + 1) * 8 + 1e-12 + (f16 ? F16_FLIPS_NMSE : 0);
                const double nmse_out = 2 * nmse_a + 0x1p-46 * (double)(f + 1) + (f16 ? F16_FLIPS_NMSE : 0);
                char sub[200];
                snprintf(sub, sizeof sub, "%s down_in vs _ref", id);
                compare(sub, got_a, want_a, nf,
                        (tolerance){.each = ta, .nmse = nmse_a, .f16 = f16, .flips = 0.03 + 2 * sqrt((double)c) * 0x1p-11});
                snprintf(sub, sizeof sub, "%s out vs _ref", id);
                compare(sub, got, want, nc, (tolerance){.each = tout, .nmse = nmse_out, .f16 = f16, .flips = 1});
                free(ta), free(tout), free(wg_), free(wu_);
                /* the mlp op on each group */
                for (size_t e = 0; e < g; e++) {
                    size_t a = start[e], n = start[e + 1] - a;
                    if (!n) continue;
                    CHECK(be->mlp(be->ctx, dout + a * c, dda + a * f, dm + a * c, dg[e], KERN_NO_WEIGHT, du[e], KERN_NO_WEIGHT,
                                  dd[e], KERN_NO_WEIGHT, dsg, dsu, n, c, f, act, f16) == KERN_OK, "%s: mlp", id);
                }
                dev_get(be, per, dout, nc * 4), dev_get(be, per_a, dda, nf * 4);
                const int grouped_gemm = !is_cpu(be) && f16 && dts[v] == KERN_F16;
                if (!grouped_gemm) {
                    same_bits(id, "down_in differs from the mlp op per group", got_a, per_a, nf);
                    same_bits(id, "out differs from the mlp op per group", got, per, nc);
                } else {
                    snprintf(sub, sizeof sub, "%s down_in vs the mlp op", id);
                    compare(sub, got_a, per_a, nf, (tolerance){.atol = 0.05, .rtol = 0.05, .nmse = F16_FLIPS_NMSE, .f16 = 1, .flips = 0.01});
                    snprintf(sub, sizeof sub, "%s out vs the mlp op", id);
                    compare(sub, got, per, nc, (tolerance){.atol = 0.05, .rtol = 0.05, .nmse = 2 * F16_FLIPS_NMSE, .f16 = 1, .flips = 0.05});
                }
                /* down_in alone (no down weights read), out alone */
                dev_free(be, dda), dda = dev_out(be, nf * 4);
                kern_weight none[8];
                for (size_t e = 0; e < g; e++) none[e] = (kern_weight){NULL, (kern_dtype)7};
                CHECK(be->mlp_grouped(be->ctx, NULL, dda, dm, dg, du, none, start, g, dsg, dsu, c, f, act, f16) == KERN_OK, "%s", id);
                dev_get(be, per_a, dda, nf * 4);
                same_bits(id, "down_in without out differs", per_a, got_a, nf);
                CHECK(be->mlp_grouped(be->ctx, dout, NULL, dm, dg, du, dd, start, g, dsg, dsu, c, f, act, f16) == KERN_OK, "%s", id);
                dev_get(be, per, dout, nc * 4);
                same_bits(id, "out without down_in differs", per, got, nc);
                for (size_t e = 0; e < g; e++) {
                    dev_free(be, dg[e].data), dev_free(be, du[e].data), dev_free(be, dd[e].data);
                    free((void *)hg[e].data), free((void *)hu[e].data), free((void *)hd[e].data);
                }
                dev_free(be, dm), dev_free(be, dsg), dev_free(be, dsu), dev_free(be, dout), dev_free(be, dda);
                free(m), free(want), free(want_a), free(sg), free(su), free(got), free(got_a), free(per), free(per_a);
            }
    }
    /* refused: a decreasing start, a bad dtype it reads */
    float *d = dev_out(be, 4096);
    kern_weight ok[2] = {{d, KERN_F32}, {d, KERN_F32}}, bad[2] = {{d, KERN_F32}, {d, (kern_dtype)7}};
    size_t down[3] = {0, 2, 1}, fine[3] = {0, 1, 2};
    CHECK(be->mlp_grouped(be->ctx, d, NULL, d, ok, ok, ok, down, 2, d + 128, d + 192, 3, 4, KERN_ACT_SILU, 1) == KERN_ERR_ARG,
          "%s: mlp_grouped decreasing start", be->name);
    CHECK(be->mlp_grouped(be->ctx, d, NULL, d, ok, bad, ok, fine, 2, d + 128, d + 192, 3, 4, KERN_ACT_SILU, 1) == KERN_ERR_ARG,
          "%s: mlp_grouped w_up dtype", be->name);
    dev_free(be, d);
}

/* ---- memory and errors ----------------------------------------------------------------------- */

/* An absurd allocation is KERN_ERR_NOMEM with *ptr = NULL, no crash, and the backend works on
 * (a small alloc and an op afterwards); every backend refuses invalid arguments with KERN_ERR_ARG. */
static void op_memory_errors(const awq_backend *be)
{
    void *p = (void *)1;
    kern_status st = be->alloc(be->ctx, &p, (size_t)1 << 60);
    CHECK(st == KERN_ERR_NOMEM && p == NULL, "%s: alloc(2^60): %s, ptr %p", be->name, kern_strerror(st), p);
    if (!is_cpu(be)) CHECK(strstr(kern_last_error(), "cudaMalloc") != NULL, "detail: '%s'", kern_last_error());
    const float a[3] = {1, 2, 3};
    float y[3] = {0};
    float *da = dev_put(be, a, sizeof a);
    CHECK(be->add(be->ctx, da, da, da, 3, 0) == KERN_OK, "%s: add after the failed alloc", be->name);
    dev_get(be, y, da, sizeof y);
    CHECK(y[0] == 2 && y[1] == 4 && y[2] == 6, "%s: add after the failed alloc gave %g %g %g", be->name, y[0], y[1], y[2]);
    void *z = NULL;
    CHECK(be->alloc(be->ctx, &z, 0) == KERN_OK && z, "%s: alloc(0)", be->name);
    be->free(be->ctx, z), be->free(be->ctx, NULL);
    int32_t pos[4] = {0};
    int32_t *dp = dev_put(be, pos, sizeof pos);
    float *d = dev_out(be, 4096);
    CHECK(be->attention(be->ctx, d, d, d, d, 1, 2, 3, 2, 4, 4, 0.5f, 0, 0, 0) == KERN_ERR_ARG, "%s: h=3 hkv=2", be->name);
    CHECK(be->attention(be->ctx, d, d, d, d, 1, 2, 4, 0, 4, 4, 0.5f, 0, 0, 0) == KERN_ERR_ARG, "%s: hkv=0", be->name);
    CHECK(be->rope(be->ctx, d, dp, 1, 1, 5, &rope_default, 0) == KERN_ERR_ARG, "%s: odd d", be->name);
    CHECK(be->matmul(be->ctx, d, d, (kern_weight){d, (kern_dtype)7}, KERN_NO_WEIGHT, 1, 1, 1, 0) == KERN_ERR_ARG, "%s: dtype", be->name);
    CHECK(be->rmsnorm(be->ctx, d, d, (kern_weight){d, (kern_dtype)-1}, 1, 1, 1e-6f, 0) == KERN_ERR_ARG, "%s: dtype", be->name);
    CHECK(be->quantize(be->ctx, d, NULL, NULL, NULL, d, NULL, 2, 12, 5, 4, 1) == KERN_ERR_ARG, "%s: g !| i", be->name);
    CHECK(be->quantize(be->ctx, d, NULL, NULL, NULL, d, NULL, 2, 12, 4, 9, 1) == KERN_ERR_ARG, "%s: w_bit 9", be->name);
    CHECK(be->clip_search(be->ctx, d, NULL, NULL, d, d, 8, 12, 0, 4, 4, 20, 0.5, 1) == KERN_ERR_ARG, "%s: t = 0", be->name);
    CHECK(be->clip_search(be->ctx, d, NULL, NULL, d, d, 8, 12, 8, 4, 4, 20, 1.5, 1) == KERN_ERR_ARG, "%s: shrink 1.5", be->name);
    CHECK(be->clip_apply(be->ctx, d, d, 2, 12, 5) == KERN_ERR_ARG, "%s: clip_apply g !| i", be->name);
    const float *ws[1] = {d};
    size_t rows0[1] = {0};
    CHECK(be->w_mean(be->ctx, d, ws, rows0, 1, 12, 4, 1) == KERN_ERR_ARG, "%s: w_mean no rows", be->name);
    CHECK(be->sync(be->ctx) == KERN_OK, "%s: sync after refused calls", be->name);
    dev_free(be, da), dev_free(be, dp), dev_free(be, d);
}

/* ---- copy2d ---------------------------------------------------------------------------------- */

/* Exact: the block lands bit for bit, and nothing outside it is written (the destination starts
 * with a canary); w > an ld is refused. */
static void op_copy2d(const awq_backend *be)
{
    static const struct { size_t n, dld, sld, w; } sh[] = {{1, 1, 1, 1}, {7, 48, 40, 16}, {300, 64, 224, 32}, {5, 9, 9, 9},
                                                          {64, 192, 192, 0}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        size_t n = sh[s].n, dld = sh[s].dld, sld = sh[s].sld, w = sh[s].w;
        float *src = rand_floats(n * sld, -5, 5, 0), *want = xmalloc(n * dld * 4), *got = xmalloc(n * dld * 4);
        for (size_t e = 0; e < n * dld; e++) want[e] = -1234.5f;
        float *dd = dev_put(be, want, n * dld * 4), *ds = dev_put(be, src, n * sld * 4);
        CHECK(kern_copy2d_ref(want, dld, src, sld, n, w) == KERN_OK, "ref");
        CHECK(be->copy2d(be->ctx, dd, dld, ds, sld, n, w) == KERN_OK, "copy2d[%s n=%zu w=%zu]", be->name, n, w);
        dev_get(be, got, dd, n * dld * 4);
        CHECK(!memcmp(got, want, n * dld * 4), "copy2d[%s n=%zu dld=%zu sld=%zu w=%zu] differs from the ref", be->name, n,
              dld, sld, w);
        dev_free(be, dd), dev_free(be, ds);
        free(src), free(want), free(got);
    }
    float *d = dev_out(be, 64);
    CHECK(be->copy2d(be->ctx, d, 2, d + 8, 4, 2, 3) == KERN_ERR_ARG, "%s: w > dst_ld", be->name);
    CHECK(be->copy2d(be->ctx, d, 4, d + 8, 2, 2, 3) == KERN_ERR_ARG, "%s: w > src_ld", be->name);
    dev_free(be, d);
}

/* ---- cases ----------------------------------------------------------------------------------- */

/* test_op_<name>: every check of one op on one backend; one per entry of kernels/ops.def (a
 * missing one does not compile). Ops without a section of their own above: */
static void test_op_matmul(const awq_backend *be) { op_matmul(be); with_backend(be, t_matmul_vs_ref); }
/* Gemma's (1 + w) norm by hand (the _ref; the ops are held to it above): a row of 2, x = (3, -4)
 * (rms 3.5355), w = (0, 0.5), eps 0 -> (0.8485281, -1.6970563); in fp16 one rounding of
 * n * (1 + w): h(-1.6970563) = -1.697265625, where rmsnorm's h(w * h(n)) with w = 1.5 would give
 * h(1.5 * h(-1.1313708)) = h(1.5 * -1.130859375) = -1.6962890625. */
static void t_rmsnorm_1p_by_hand(void)
{
    const float x[2] = {3, -4}, wv[2] = {0, 0.5f};
    float y[2];
    kern_weight w = {wv, KERN_F32};
    REQUIRE(kern_rmsnorm_1p_ref(y, x, w, 1, 2, 0.0f, 0) == KERN_OK, "rmsnorm_1p");
    CHECK(fabsf(y[0] - 0.8485281f) < 1e-6f && fabsf(y[1] + 1.6970563f) < 1e-6f, "rmsnorm_1p %.7g %.7g", y[0], y[1]);
    REQUIRE(kern_rmsnorm_1p_ref(y, x, w, 1, 2, 0.0f, 1) == KERN_OK, "rmsnorm_1p f16");
    CHECK(y[1] == -1.697265625f, "rmsnorm_1p f16: %.10g, want -1.697265625 (one rounding)", y[1]);
}
static void test_op_rmsnorm_1p(const awq_backend *be) { op_rmsnorm(be, 1); t_rmsnorm_1p_by_hand(); }
static void test_op_rmsnorm(const awq_backend *be)
{
    op_rmsnorm(be, 0);
    with_backend(be, t_rmsnorm_vs_ref), with_backend(be, t_rmsnorm_spec_T7);
}
/* Gemma 3's linear scaling: each default frequency divided by the factor (fp32), f[0] = 1/8. */
static void t_rope_linear_freqs(void)
{
    float f[32], g[32];
    const kern_rope plain = {.theta = 1000000.0f};
    kern_rope_freqs(f, 64, &rope_gemma3_global);
    kern_rope_freqs(g, 64, &plain);
    int bad = f[0] != 0.125f;
    for (int j = 0; j < 32; j++) bad += f[j] != g[j] / 8.0f;
    CHECK(!bad, "linear rope: %d frequencies are not the default ones / 8 (f[0] %.9g)", bad, f[0]);
}
static void test_op_rope(const awq_backend *be)
{
    op_rope(be);
    with_backend(be, t_rope_vs_ref), with_backend(be, t_rope_pos0_identity);
    t_rope_linear_freqs();
}
static void test_op_attention(const awq_backend *be)
{
    op_attention(be);
    with_backend(be, t_attention_vs_ref), with_backend(be, t_attention_softmax_by_hand);
    with_backend(be, t_attention_causal), with_backend(be, t_attention_gqa_is_mha);
}
static void test_op_mlp(const awq_backend *be) { op_mlp(be); }
static void test_op_mlp_grouped(const awq_backend *be) { op_mlp_grouped(be); }
/* attn against its own _ref (the composition of the scalar _refs) on small random inputs, both
 * outputs, with and without biases and q/k norms: the two differ only by the sums' order inside
 * the matmuls and the attention, so fp32 within NMSE 1e-10 and faithful within NMSE 1e-5 (a
 * flipped fp16 rounding early moves later values by an ulp or two). */
static void attn_vs_ref(const awq_backend *be)
{
    const size_t b = 2, t = 7, c = 48, h = 4, hkv = 2, d = 8, n = b * t;
    const kern_rope rope = {.theta = 10000.0f};
    for (int extras = 0; extras < 3; extras++) /* 2: Gemma's scale, softcap, window and (1 + w) q/k norms */
        for (int f16 = 0; f16 < 2; f16++) {
            kern_weight hw[10];
            size_t len[10] = {h * d * c, hkv * d * c, hkv * d * c, c * h * d, h * d, hkv * d, hkv * d, c, d, d};
            for (int k = 0; k < 10; k++)
                hw[k] = k < 4 || extras ? rand_weight(KERN_F16, len[k], k < 8 ? -0.3f : 0.5f, k < 8 ? 0.3f : 1.5f) : KERN_NO_WEIGHT;
            kern_attn_w w = {hw[0], hw[1], hw[2], hw[3], hw[4], hw[5], hw[6], hw[7], hw[8], hw[9], .eps = 1e-6f}, dw;
            if (extras == 2) w.scale = 0.25f, w.softcap = 3.0f, w.window = 3, w.norm_1p = 1;
            dw = w;
            kern_weight *dws[10] = {&dw.q, &dw.k, &dw.v, &dw.o, &dw.q_bias, &dw.k_bias, &dw.v_bias, &dw.o_bias, &dw.q_norm, &dw.k_norm};
            for (int k = 0; k < 10; k++) *dws[k] = dev_weight(be, hw[k], len[k]);
            float *a = rand_floats(n * c, -2, 2, f16);
            int32_t pos[14];
            for (size_t r = 0; r < n; r++) pos[r] = (int32_t)(r % t);
            float *want = xmalloc(n * c * 4), *want_in = xmalloc(n * h * d * 4);
            float *got = xmalloc(n * c * 4), *got_in = xmalloc(n * h * d * 4);
            REQUIRE(kern_attn_ref(want, want_in, a, &w, pos, &rope, b, t, c, h, hkv, d, f16) == KERN_OK, "_ref");
            float *da = dev_put(be, a, n * c * 4), *dout = dev_out(be, n * c * 4), *din = dev_out(be, n * h * d * 4);
            int32_t *dp = dev_put(be, pos, sizeof pos);
            float *sq = dev_out(be, n * h * d * 4), *sk = dev_out(be, n * hkv * d * 4), *sv = dev_out(be, n * hkv * d * 4),
                  *sa = dev_out(be, n * h * d * 4);
            char id[96];
            snprintf(id, sizeof id, "attn_vs_ref[%s extras=%d f16=%d]", be->name, extras, f16);
            kern_status st = be->attn(be->ctx, dout, din, da, &dw, dp, &rope, sq, sk, sv, sa, b, t, c, h, hkv, d, f16);
            REQUIRE(st == KERN_OK, "%s: %s", id, kern_strerror(st));
            dev_get(be, got, dout, n * c * 4), dev_get(be, got_in, din, n * h * d * 4);
            tolerance tol = {.atol = f16 ? 0.05 : 1e-4, .rtol = f16 ? 0.05 : 1e-4, .nmse = f16 ? 1e-5 : 1e-10};
            compare(id, got_in, want_in, n * h * d, tol);
            compare(id, got, want, n * c, tol);
            dev_free(be, da), dev_free(be, dout), dev_free(be, din), dev_free(be, dp);
            dev_free(be, sq), dev_free(be, sk), dev_free(be, sv), dev_free(be, sa);
            for (int k = 0; k < 10; k++) dev_free(be, dws[k]->data), free((void *)hw[k].data);
            free(a), free(want), free(want_in), free(got), free(got_in);
        }
}
static void test_op_attn(const awq_backend *be) { op_attn(be); attn_vs_ref(be); }
static void test_op_copy2d(const awq_backend *be) { op_copy2d(be); }
static void test_op_embed(const awq_backend *be) { op_embed(be); with_backend(be, t_embed); }
static void test_op_mean_abs(const awq_backend *be) { op_mean_abs(be); with_backend(be, t_mean_abs); }
static void test_op_round_f16(const awq_backend *be) { round_f16_edges(be); with_backend(be, t_round_f16); }
static void test_op_check_f16(const awq_backend *be) { check_f16_planted(be); with_backend(be, t_check_f16); }
static void test_op_quantize(const awq_backend *be) { op_quantize(be); }
static void test_op_w_mean(const awq_backend *be) { op_w_mean(be); }
static void test_op_clip_search(const awq_backend *be) { op_clip_search(be); }
static void test_op_clip_apply(const awq_backend *be) { op_clip_apply(be); }
static void test_op_sq_diff(const awq_backend *be) { op_sq_diff(be); }
static void test_op_add_rows(const awq_backend *be) { op_add_rows(be); }
static void test_op_scale_weight(const awq_backend *be) { op_scale_weight(be); }
static void test_op_pack_qweight(const awq_backend *be) { op_pack_qweight(be); }
/* what is not one op: allocation failure, refused arguments */
static void test_errors(const awq_backend *be) { op_memory_errors(be); with_backend(be, t_bad_arguments); }

#define BOTH(fn)                                           \
    static void fn##_cpu(void) { run_on(BE_CPU, fn); }     \
    static void fn##_cuda(void) { run_on(BE_CUDA, fn); }
#define KERN_OP(name, stem, ret, params) BOTH(test_op_##name)
#include "../kernels/ops.def"
BOTH(test_errors)

int main(int argc, char **argv)
{
#define CASES(name, fn) {name "/cpu", fn##_cpu}, {name "/cuda", fn##_cuda}
    static const t_case cases[] = {
#define KERN_OP(name, stem, ret, params) CASES(#name, test_op_##name),
#include "../kernels/ops.def"
        CASES("errors", test_errors),
        /* the _ref against values by hand or from the spec, and CPU-only properties */
        {"ref/matmul_by_hand", t_matmul_ref_by_hand},
        {"ref/rope_spec_T8", t_rope_spec_T8},
        {"ref/rope_by_hand", t_rope_ref_by_hand},
        {"ref/rope_yarn_freqs", t_rope_yarn_freqs},
        {"ref/rope_interleave_by_hand", t_rope_interleave_by_hand},
        {"ref/attention_dv_is_padded", t_attention_dv_is_padded},
        {"ref/silu_add_by_hand", t_silu_add_by_hand},
        {"cpu/round_f16_fast_sweep", t_round_f16_fast_sweep},
        {"cpu/round_f16_n_sweep", t_round_f16_n_sweep},
        {"cpu/expf_n_sweep", t_expf_n_sweep},
        {"cpu/qk_causal_vs_sgemm", t_qk_causal_vs_sgemm},
        {"cpu/fast_forms_same_bits", t_fast_forms_same_bits},
        {"cpu/thread_count", t_cpu_thread_count},
    };
    int rc = t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
    if (g_cuda) g_cuda->close(g_cuda);
    return rc;
}
