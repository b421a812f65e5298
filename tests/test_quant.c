/* test_quant.c - the AWQ quantization math: the quantizer, GEMM packing, the scale formula, the
 * duo weight statistic and the clip search against the spec's test vectors (§6 T1-T6), and
 * every backend's op against the scalar _ref on random inputs (printed seed, a case id per
 * case): quantizer codes and dequantized weights bit-identical, clip indices identical except
 * documented near-ties. */
#include "test.h"
#include "kernel_support.h"
#include "../kernels/kernels.h"
#include "../kernels/quant.h"
#include "../kernels/cpu/ref.h"
#include "../base/half.h"
#include "../stages/common/safetensors.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#undef I /* OpenBLAS's cblas.h pulls in <complex.h>; I is a dimension name here */

/* ---- helpers ------------------------------------------------------------------------------- */

/* The backends under test; the CUDA instance joins this list when it exists. */
static const awq_backend *backends[1];
static size_t n_backends(void) { backends[0] = awq_backend_cpu(); return 1; }

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* first index where two float arrays differ in bits, or n */
static size_t first_diff(const float *a, const float *b, size_t n)
{
    for (size_t e = 0; e < n; e++)
        if (fbits(a[e]) != fbits(b[e])) return e;
    return n;
}

/* |a - b| in units of the fp32 spacing at b */
static double ulps32(float a, float b)
{
    float sp = nextafterf(fabsf(b), INFINITY) - fabsf(b);
    return fabs((double)a - (double)b) / sp;
}

/* Everything the quantizer writes, from the _ref (be == NULL) or a backend (host in, host out). */
typedef struct qout { float *deq, *scales; uint8_t *codes, *zeros; } qout;

static qout qout_new(size_t o, size_t i, size_t n_groups)
{
    return (qout){xmalloc(o * i * 4), xmalloc(o * n_groups * 4), xmalloc(o * i), xmalloc(o * n_groups)};
}
static void qout_free(qout q) { free(q.deq), free(q.scales), free(q.codes), free(q.zeros); }

static kern_status quantize_on(const awq_backend *be, qout q, const float *w, const float *s, size_t o, size_t i,
                               int64_t group, int w_bit, int f16)
{
    if (!be) return kern_quantize_ref(q.deq, q.codes, q.scales, q.zeros, w, s, o, i, group, w_bit, f16);
    size_t g = 0;
    kern_quant_group(&g, i, group);
    size_t ng = g ? i / g : 0;
    float *dw = dev_put(be, w, o * i * 4), *ds = s ? dev_put(be, s, i * 4) : NULL;
    float *dd = dev_put(be, NULL, o * i * 4), *dsc = dev_put(be, NULL, o * ng * 4);
    uint8_t *dc = dev_put(be, NULL, o * i), *dz = dev_put(be, NULL, o * ng);
    kern_status st = be->quantize(be->ctx, dd, dc, dsc, dz, dw, ds, o, i, group, w_bit, f16);
    if (st == KERN_OK) {
        dev_get(be, q.deq, dd, o * i * 4), dev_get(be, q.codes, dc, o * i);
        dev_get(be, q.scales, dsc, o * ng * 4), dev_get(be, q.zeros, dz, o * ng);
    }
    dev_free(be, dw), dev_free(be, ds), dev_free(be, dd), dev_free(be, dsc), dev_free(be, dc), dev_free(be, dz);
    return st;
}

/* ---- T1: the quantizer on one 8-value group per case ---------------------------------------- */

/* The spec's rows (§6 T1), each one group of g = 8; fp16 columns as bit patterns. */
static const struct t1_case {
    const char *id;
    uint16_t w[8], scale16, deq16[8];
    int zero, codes[8];
    float scale32, deq32_0; /* fp32 mode: scale, and deq[0] where the spec gives it (else NAN) */
} t1[] = {
    {"A", {0xbc00, 0xb800, 0x0000, 0x3400, 0x3800, 0x3a00, 0x3e00, 0x4000}, 0x3266,
     {0xbc00, 0xb666, 0x0000, 0x3266, 0x3666, 0x3a66, 0x3e66, 0x4000}, 5, {0, 3, 5, 6, 7, 9, 13, 15},
     0.20000000298f, NAN},
    {"B all-positive", {0x3c00, 0x3c66, 0x3ccd, 0x3d33, 0x3d9a, 0x3e00, 0x3e66, 0x3ecd}, 0x29fa,
     {0x399a, 0x399a, 0x399a, 0x399a, 0x399a, 0x399a, 0x399a, 0x399a}, 0, {15, 15, 15, 15, 15, 15, 15, 15},
     0.0466666706f, 0.70000005f},
    {"C zeros", {0}, 0x000b, {0}, 0, {0}, NAN, NAN},
    {"D constant 0.5", {0x3800, 0x3800, 0x3800, 0x3800, 0x3800, 0x3800, 0x3800, 0x3800}, 0x000b,
     {0x00a5, 0x00a5, 0x00a5, 0x00a5, 0x00a5, 0x00a5, 0x00a5, 0x00a5}, 0, {15, 15, 15, 15, 15, 15, 15, 15},
     6.6666666e-07f, 1.0e-05f},
    {"F all-negative", {0xc000, 0xbe00, 0xbc00, 0xba00, 0xb800, 0xb400, 0xb000, 0xac00}, 0x3022,
     {0xbfc0, 0xbe33, 0xbc22, 0xba33, 0xb822, 0xb422, 0xb022, 0x0000}, 15, {0, 3, 7, 9, 11, 13, 14, 15},
     0.1291666627f, NAN},
    {"G ties", {0xb4cd, 0xae66, 0x2a66, 0x30cd, 0x3400, 0x359a, 0x3733, 0x38cd}, 0x2baf,
     {0xb4cd, 0xafaf, 0x2baf, 0x2faf, 0x33af, 0x35c3, 0x36b9, 0x38cd}, 5, {0, 3, 6, 7, 9, 11, 12, 15}, NAN, NAN},
};
#define N_T1 (sizeof t1 / sizeof t1[0])

/* All cases as the rows of one [N_T1, 8] matrix with g = 8 (rows are independent), through the
 * _ref and every backend, both modes. fp16 mode: every output bit-exact. fp32 mode: the scale
 * is the fp32 value the spec prints (to its 9-10 digits: the nearest float), the codes and zero
 * equal the fp16 mode's where the spec says so (A, B, D, F), deq as printed. */
static void t_t1_quantizer(void)
{
    float w[N_T1 * 8];
    for (size_t c = 0; c < N_T1; c++)
        for (int k = 0; k < 8; k++) w[c * 8 + k] = awq_f16_to_f32(t1[c].w[k]);
    size_t nb = n_backends();
    for (size_t bi = 0; bi <= nb; bi++) {
        const awq_backend *be = bi ? backends[bi - 1] : NULL;
        const char *bn = be ? be->name : "ref";
        for (int f16 = 1; f16 >= 0; f16--) {
            /* fp32 mode takes B as the fp32 decimals 1.0f .. 1.7f (its scale 0.7/15 says so) */
            for (int k = 0; k < 8; k++) w[8 + k] = f16 ? awq_f16_to_f32(t1[1].w[k]) : 1.0f + 0.1f * (float)k;
            qout q = qout_new(N_T1, 8, 1);
            REQUIRE(quantize_on(be, q, w, NULL, N_T1, 8, 8, 4, f16) == KERN_OK, "%s", bn);
            for (size_t c = 0; c < N_T1; c++) {
                const struct t1_case *tc = &t1[c];
                CHECK(q.zeros[c] == tc->zero, "%s f16=%d T1-%s: zero %d want %d", bn, f16, tc->id, q.zeros[c], tc->zero);
                for (int k = 0; k < 8; k++)
                    CHECK(q.codes[c * 8 + k] == tc->codes[k], "%s f16=%d T1-%s: code[%d] %d want %d", bn, f16,
                          tc->id, k, q.codes[c * 8 + k], tc->codes[k]);
                if (f16) {
                    CHECK(awq_f32_to_f16(q.scales[c]) == tc->scale16 && awq_round_f16(q.scales[c]) == q.scales[c],
                          "%s T1-%s: scale %a (0x%04x) want 0x%04x", bn, tc->id, q.scales[c],
                          awq_f32_to_f16(q.scales[c]), tc->scale16);
                    for (int k = 0; k < 8; k++)
                        CHECK(fbits(q.deq[c * 8 + k]) == fbits(awq_f16_to_f32(tc->deq16[k])),
                              "%s T1-%s: deq[%d] %a want 0x%04x", bn, tc->id, k, q.deq[c * 8 + k], tc->deq16[k]);
                } else {
                    if (!isnan(tc->scale32))
                        CHECK(q.scales[c] == tc->scale32, "%s fp32 T1-%s: scale %.10g want %.10g", bn, tc->id,
                              q.scales[c], tc->scale32);
                    if (!isnan(tc->deq32_0)) /* the nearest floats to the printed decimals, bitwise */
                        CHECK(q.deq[c * 8] == tc->deq32_0, "%s fp32 T1-%s: deq %.9g want %.9g", bn, tc->id,
                              q.deq[c * 8], tc->deq32_0);
                }
            }
            /* fp32 mode A: w/s = -2.5 -> -2 and 2.5 -> 2 (half to even) give the same codes; deq
             * is then (q - 5) * 0.2f exactly as fp32 products */
            if (!f16)
                for (int k = 0; k < 8; k++)
                    CHECK(q.deq[k] == (float)(t1[0].codes[k] - 5) * 0.2f, "%s fp32 T1-A deq[%d] %.9g", bn, k, q.deq[k]);
            qout_free(q);
        }
    }
}

/* ---- T2 / T3: packing ----------------------------------------------------------------------- */

static void t_t2_pack8(void)
{
    static const struct { uint8_t c[8]; uint32_t word; int32_t i32; } v[] = {
        {{1, 2, 3, 4, 5, 6, 7, 8}, 0x86427531u, -2042464975}, {{0, 1, 2, 3, 4, 5, 6, 7}, 0x75316420u, 1966171168},
        {{15, 0, 0, 0, 0, 0, 0, 0}, 0x0000000Fu, 15},       {{0, 15, 0, 0, 0, 0, 0, 0}, 0x000F0000u, 983040},
        {{0, 0, 0, 0, 0, 0, 0, 15}, 0xF0000000u, -268435456},
    };
    const size_t n = sizeof v / sizeof v[0];
    for (size_t e = 0; e < n; e++) CHECK(kern_pack8(v[e].c) == v[e].word, "T2 row %zu: %08x", e, kern_pack8(v[e].c));
    /* the same through kern_pack_gemm: o = 8 channels, i = 5 input rows (one T2 row each), one
     * group; codes are [o, i], so column k holds T2 row k */
    uint8_t codes[8 * 5], zeros[8] = {0};
    float scales[8];
    for (int o = 0; o < 8; o++) {
        scales[o] = 1.0f;
        for (size_t k = 0; k < n; k++) codes[o * 5 + k] = v[k].c[o];
    }
    int32_t qw[5], qz[1];
    uint16_t s16[8];
    REQUIRE(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 8, 5, -1) == KERN_OK, "pack");
    for (size_t k = 0; k < n; k++) CHECK(qw[k] == v[k].i32, "T2 qweight[%zu] = %d want %d", k, qw[k], v[k].i32);
    /* bytes on disk: little-endian words (the host order on every supported host) */
    static const uint8_t disk0[4] = {0x31, 0x75, 0x42, 0x86}, disk1[4] = {0x20, 0x64, 0x31, 0x75};
    CHECK(!memcmp(&qw[0], disk0, 4) && !memcmp(&qw[1], disk1, 4), "T2 bytes on disk");
    /* masking: a code's high bits never leak into a neighbour */
    uint8_t wide[8] = {0xF1, 0, 0, 0, 0, 0, 0, 0};
    CHECK(kern_pack8(wide) == 1u, "mask 0xF: %08x", kern_pack8(wide));
}

/* T3: W -> Q (fp16-faithful) -> pack, every word; then unpack and dequantize (REVERSE order). */
static void t_t3_linear(void)
{
    enum { O = 8, I = 16, G = 2 };
    static const uint8_t want_q[O][I] = {
        {0, 3, 6, 9, 12, 15, 1, 4, 5, 8, 11, 15, 0, 3, 6, 9},    {5, 8, 11, 15, 0, 3, 6, 9, 14, 0, 3, 6, 9, 12, 15, 1},
        {14, 0, 3, 6, 9, 12, 15, 1, 2, 5, 8, 11, 15, 0, 3, 6},   {2, 5, 8, 11, 15, 0, 3, 6, 11, 14, 0, 3, 6, 9, 12, 15},
        {11, 14, 0, 3, 6, 9, 12, 15, 0, 3, 6, 9, 12, 15, 1, 4},  {0, 3, 6, 9, 12, 15, 1, 4, 9, 12, 15, 0, 4, 7, 10, 13},
        {9, 12, 15, 0, 4, 7, 10, 13, 14, 0, 3, 6, 9, 12, 15, 1}, {14, 0, 3, 6, 9, 12, 15, 1, 6, 9, 12, 15, 0, 4, 7, 10},
    };
    static const uint16_t want_s16[G][O] = {{0x3000, 0x2f77, 0x3000, 0x2f77, 0x3000, 0x3000, 0x2f77, 0x3000},
                                            {0x2f77, 0x3000, 0x2f77, 0x3000, 0x3000, 0x2f77, 0x3000, 0x2f77}};
    static const uint8_t want_z[G][O] = {{8, 6, 8, 6, 8, 7, 9, 7}, {6, 8, 6, 8, 7, 9, 7, 9}};
    static const uint32_t want_qz[G] = {0x77669888u, 0x99887766u};
    static const uint32_t want_qw[I] = {0xe0259be0u, 0x0358ce03u, 0x368bf036u, 0x69bf0369u, 0x9cf0469cu, 0xcf0379cfu,
                                        0xf136acf1u, 0x1469df14u, 0x69bee025u, 0x9ce00358u, 0xcf03368bu, 0xf03669bfu,
                                        0x04699cf0u, 0x479ccf03u, 0x7acff136u, 0xadf11469u};
    static const float want_row0[I] = {-1, -0.625, -0.25, 0.125, 0.5, 0.875, -0.875, -0.5, -0.11663818359375,
                                       0.2332763671875, 0.5830078125, 1.0498046875, -0.69970703125, -0.349853515625,
                                       0, 0.349853515625};
    float w[O * I];
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) w[o * I + i] = (float)(((7 * o + 3 * i) % 17) - 8) / 8.0f;
    size_t nb = n_backends();
    for (size_t bi = 0; bi <= nb; bi++) {
        const awq_backend *be = bi ? backends[bi - 1] : NULL;
        const char *bn = be ? be->name : "ref";
        qout q = qout_new(O, I, G);
        REQUIRE(quantize_on(be, q, w, NULL, O, I, 8, 4, 1) == KERN_OK, "%s", bn);
        CHECK(!memcmp(q.codes, want_q, sizeof want_q), "%s: T3 codes", bn);
        CHECK(!memcmp(q.zeros, (const uint8_t[]){8, 6, 6, 8, 8, 6, 6, 8, 8, 7, 7, 9, 9, 7, 7, 9}, O * G),
              "%s: T3 zeros [o][j]", bn);
        int32_t qw[I], qz[G];
        uint16_t s16[G * O];
        REQUIRE(kern_pack_gemm(qw, qz, s16, q.codes, q.zeros, q.scales, O, I, 8) == KERN_OK, "%s pack", bn);
        for (int k = 0; k < I; k++) CHECK((uint32_t)qw[k] == want_qw[k], "%s: T3 qweight[%d] %08x want %08x", bn, k, (uint32_t)qw[k], want_qw[k]);
        for (int j = 0; j < G; j++) CHECK((uint32_t)qz[j] == want_qz[j], "%s: T3 qzeros[%d] %08x want %08x", bn, j, (uint32_t)qz[j], want_qz[j]);
        CHECK(qz[0] == 2003212424 && qz[1] == -1719109786, "%s: T3 qzeros as int32 %d %d", bn, qz[0], qz[1]);
        CHECK(!memcmp(s16, want_s16, sizeof want_s16), "%s: T3 scales", bn);
        /* back: unpack (REVERSE order) and dequantize */
        uint8_t codes2[O * I], zeros2[O * G];
        float scales2[O * G], deq2[O * I];
        REQUIRE(kern_unpack_gemm(codes2, zeros2, scales2, qw, qz, s16, O, I, 8) == KERN_OK, "unpack");
        CHECK(!memcmp(codes2, want_q, sizeof codes2), "%s: T3 unpacked codes", bn);
        for (int j = 0; j < G; j++)
            for (int o = 0; o < O; o++) {
                CHECK(zeros2[o * G + j] == want_z[j][o], "%s: T3 unpacked zero [%d][%d]", bn, o, j);
                CHECK(scales2[o * G + j] == awq_f16_to_f32(want_s16[j][o]), "%s: T3 unpacked scale", bn);
            }
        REQUIRE(kern_dequant_gemm(deq2, qw, qz, s16, O, I, 8) == KERN_OK, "dequant");
        for (int k = 0; k < I; k++) CHECK(deq2[k] == want_row0[k], "%s: T3 dequant row 0 [%d] %.9g want %.9g", bn, k, deq2[k], want_row0[k]);
        size_t at = first_diff(deq2, q.deq, O * I);
        CHECK(at == O * I, "%s: T3 round trip differs from Q's deq at %zu", bn, at);
        qout_free(q);
    }
}

/* ---- T4 and T5: the scale formula and the duo statistic ------------------------------------- */

static void t_t4_scale_formula(void)
{
    const float xs[4] = {1, 4, 0.25f, 16}, wm[4] = {0.5f, 0.25f, 1, 0.5f};
    static const struct { int duo; double r; uint16_t f16[4]; float f32[4]; } v[] = {
        {0, 0.0, {0x3c00, 0x3c00, 0x3c00, 0x3c00}, {1, 1, 1, 1}},
        {0, 0.5, {0x39a8, 0x3da8, 0x35a8, 0x41a8}, {0.70710677f, 1.41421354f, 0.35355338f, 2.82842708f}},
        {1, 0.0, {0x3c00, 0x4000, 0x3800, 0x3c00}, {1.00004995f, 1.99970019f, 0.50007498f, 1.00004995f}},
        {1, 0.5, {0x3aba, 0x40c2, 0x34c2, 0x42ba}, {0.84087902f, 2.37822556f, 0.29730794f, 3.36351609f}},
    };
    for (size_t e = 0; e < sizeof v / sizeof v[0]; e++) {
        float s[4];
        REQUIRE(kern_scale_formula(s, xs, v[e].duo ? wm : NULL, 4, v[e].r, 1, 1) == KERN_OK, "f16");
        for (int c = 0; c < 4; c++)
            CHECK(fbits(s[c]) == fbits(awq_f16_to_f32(v[e].f16[c])), "T4 duo=%d r=%g fp16 [%d]: %a want 0x%04x",
                  v[e].duo, v[e].r, c, s[c], v[e].f16[c]);
        REQUIRE(kern_scale_formula(s, xs, v[e].duo ? wm : NULL, 4, v[e].r, 0, 1) == KERN_OK, "f32");
        for (int c = 0; c < 4; c++)
            CHECK(ulps32(s[c], v[e].f32[c]) <= 1.0, "T4 duo=%d r=%g fp32 [%d]: %.9g want %.9g (%.2f ulp)", v[e].duo,
                  v[e].r, c, s[c], v[e].f32[c], ulps32(s[c], v[e].f32[c]));
    }
    /* without autoawq the duo denominator has no eps (llm-awq's first formula): r = 0 gives
     * s = 1/wm normalised = [2,4,1,2]/2 = [1,2,0.5,1] exactly in both modes */
    for (int f16 = 0; f16 < 2; f16++) {
        float s[4];
        kern_scale_formula(s, xs, wm, 4, 0.0, f16, 0);
        CHECK(s[0] == 1 && s[1] == 2 && s[2] == 0.5f && s[3] == 1, "no-eps duo f16=%d: %g %g %g %g", f16, s[0], s[1], s[2], s[3]);
    }
    /* the guard: all-zero xs clamp to 1e-4; in fp16 max*min = 1e-8 underflows to 0, so
     * llm-awq semantics give +inf (no guard) and AutoAWQ's set them to 1. fp32: exactly 1. */
    const float zx[3] = {0, 0, 0};
    float s[3];
    kern_scale_formula(s, zx, NULL, 3, 0.5, 1, 0);
    CHECK(isinf(s[0]) && isinf(s[2]), "fp16 llm-awq: %g", s[0]);
    kern_scale_formula(s, zx, NULL, 3, 0.5, 1, 1);
    CHECK(s[0] == 1 && s[1] == 1 && s[2] == 1, "fp16 autoawq guard: %g", s[0]);
    kern_scale_formula(s, zx, NULL, 3, 0.5, 0, 0);
    CHECK(s[0] == 1 && s[1] == 1, "fp32: %g", s[0]);
    /* clamp at 1e-4 as its fp16 value 0x068e: xs = [0, 1] at r = 0.5 gives s = [1e-4, 1] before
     * normalising by sqrt(h(1e-4 * 1)) */
    const float x2[2] = {0, 1};
    kern_scale_formula(s, x2, NULL, 2, 0.5, 1, 0);
    float e4 = awq_f16_to_f32(0x068e), nrm = awq_round_f16(sqrtf(e4));
    CHECK(s[0] == awq_round_f16(e4 / nrm) && s[1] == awq_round_f16(1.0f / nrm), "clamp 1e-4: %a %a", s[0], s[1]);
}

/* T5's inputs give the xs and (duo) wm the spec prints, and the scale vectors of the best grid
 * points (fp32 mode; the spec prints 6 digits). */
static void t_t5_wmean_and_scales(void)
{
    enum { T = 6, I = 8, O = 8 };
    float x[T * I], w[O * I], xs[I], wm[I];
    for (int t = 0; t < T; t++)
        for (int i = 0; i < I; i++) x[t * I + i] = (float)(((5 * t + 3 * i) % 7 - 3) * (i == 2 ? 8 : 1)) / 4.0f;
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) w[o * I + i] = (float)((3 * o + 5 * i) % 11 - 5) / 10.0f;
    const awq_backend *cpu = awq_backend_cpu();
    REQUIRE(cpu->mean_abs(cpu->ctx, xs, x, T, I, 0) == KERN_OK, "mean_abs");
    static const float want_xs[I] = {0.4583333f, 0.4166667f, 3.3333333f, 0.4583333f, 0.375f, 0.5f, 0.375f, 0.4583333f};
    static const float want_wm[I] = {0.6062488f, 0.5249989f, 0.5874988f, 0.5437489f,
                                     0.5687488f, 0.5624989f, 0.5749988f, 0.5562489f};
    for (int c = 0; c < I; c++) CHECK(fabsf(xs[c] - want_xs[c]) <= 1e-6f, "T5 xs[%d] %.8g", c, xs[c]);
    const float *ws[1] = {w};
    const size_t rows[1] = {O};
    REQUIRE(kern_w_mean_ref(wm, ws, rows, 1, I, 8, 0) == KERN_OK, "w_mean ref");
    for (int c = 0; c < I; c++) CHECK(fabsf(wm[c] - want_wm[c]) <= 2e-7f, "T5 wm[%d] %.8g want %.8g", c, wm[c], want_wm[c]);
    size_t nb = n_backends();
    for (size_t bi = 0; bi < nb; bi++) {
        const awq_backend *be = backends[bi];
        float *dw = dev_put(be, w, sizeof w), *dwm = dev_put(be, NULL, sizeof wm), got[I];
        const float *dws[1] = {dw};
        REQUIRE(be->w_mean(be->ctx, dwm, dws, rows, 1, I, 8, 0) == KERN_OK, "%s w_mean", be->name);
        dev_get(be, got, dwm, sizeof got);
        CHECK(first_diff(got, wm, I) == I, "%s: T5 wm differs from the _ref", be->name);
        dev_free(be, dw), dev_free(be, dwm);
    }
    static const float s_x[I] = {0.64027f, 0.610474f, 1.72668f, 0.64027f, 0.579146f, 0.66874f, 0.579146f, 0.64027f};
    static const float s_duo[I] = {0.712118f, 0.756273f, 1.4555f, 0.764296f, 0.691945f, 0.770759f, 0.687048f, 0.753089f};
    float s[I];
    kern_scale_formula(s, xs, NULL, I, 10 / 20.0, 0, 0);
    for (int c = 0; c < I; c++) CHECK(fabsf(s[c] - s_x[c]) <= 5e-6f * s_x[c] + 1e-6f, "T5 x-only k=10 s[%d] %.7g want %.7g", c, s[c], s_x[c]);
    kern_scale_formula(s, xs, wm, I, 7 / 20.0, 0, 1);
    for (int c = 0; c < I; c++) CHECK(fabsf(s[c] - s_duo[c]) <= 5e-6f * s_duo[c] + 1e-6f, "T5 duo k=7 s[%d] %.7g want %.7g", c, s[c], s_duo[c]);
}

/* w_mean by hand (g = 2): rows [1, -0.5] and [0.25, 0.5] stacked from two matrices:
 * row 0 / h(1 + 1e-6) = [1, 0.5], row 1 / h(0.5 + 1e-6) = [0.5, 1]; mean = [0.75, 0.75].
 * Then fast vs _ref on random stacks: bit-identical (same values, same order per column). */
static void t_w_mean(void)
{
    const float a[2] = {1, -0.5f}, b[2] = {0.25f, 0.5f};
    const float *ab[2] = {a, b};
    const size_t r11[2] = {1, 1};
    float wm[2];
    REQUIRE(kern_w_mean_ref(wm, ab, r11, 2, 2, 2, 1) == KERN_OK, "ref");
    CHECK(wm[0] == 0.75f && wm[1] == 0.75f, "by hand: %g %g", wm[0], wm[1]);
    static const struct { size_t rows[3], n_w, i; int64_t group; } sh[] = {
        {{24, 8, 8}, 3, 256, 128}, {{5, 0, 0}, 1, 96, 32}, {{300, 17, 0}, 2, 640, 64}, {{3, 4, 0}, 2, 300, -1},
    };
    size_t nb = n_backends();
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t i = sh[s].i;
            float *m[3] = {0}, *want = xmalloc(i * 4), *got = xmalloc(i * 4);
            for (size_t k = 0; k < sh[s].n_w; k++) m[k] = rand_floats(sh[s].rows[k] * i, -2, 2, f16);
            if (s == 0) memset(m[1], 0, sh[s].rows[1] * i * 4); /* all-zero groups: 0 / (0 + eps) = 0 */
            REQUIRE(kern_w_mean_ref(want, (const float *const *)m, sh[s].rows, sh[s].n_w, i, sh[s].group, f16) == KERN_OK, "ref");
            for (size_t bi = 0; bi < nb; bi++) {
                const awq_backend *be = backends[bi];
                float *dm[3] = {0}, *dwm = dev_put(be, NULL, i * 4);
                for (size_t k = 0; k < sh[s].n_w; k++) dm[k] = dev_put(be, m[k], sh[s].rows[k] * i * 4);
                REQUIRE(be->w_mean(be->ctx, dwm, (const float *const *)dm, sh[s].rows, sh[s].n_w, i, sh[s].group, f16) == KERN_OK, "%s", be->name);
                dev_get(be, got, dwm, i * 4);
                size_t at = first_diff(got, want, i);
                CHECK(at == i, "w_mean[%s shape %zu f16=%d]: differs at %zu: %a vs %a", be->name, s, f16, at,
                      at < i ? got[at] : 0, at < i ? want[at] : 0);
                for (size_t k = 0; k < sh[s].n_w; k++) dev_free(be, dm[k]);
                dev_free(be, dwm);
            }
            for (size_t k = 0; k < 3; k++) free(m[k]);
            free(want), free(got);
        }
}

/* ---- the quantizer: fast vs _ref ------------------------------------------------------------- */

/* Random weights with the awkward groups mixed in: a constant row segment, an all-positive one,
 * an all-zero one (the spec's collapse cases), and values on exact .5 ties of w/scale. */
static float *awkward_weights(size_t o, size_t i, size_t g, int f16)
{
    float *w = rand_floats(o * i, -1, 1, f16);
    for (size_t r = 0; r < o; r += 3) {
        size_t c0 = (r / 3 % (i / g)) * g;
        float *grp = w + r * i + c0;
        switch (r / 3 % 4) {
        case 0: for (size_t c = 0; c < g; c++) grp[c] = 0.5f; break;
        case 1: for (size_t c = 0; c < g; c++) grp[c] = fabsf(grp[c]) + 0.25f; break;
        case 2: for (size_t c = 0; c < g; c++) grp[c] = 0.0f; break;
        default: for (size_t c = 0; c < g; c++) grp[c] = (float)((int)(c % 16) - 8) / 16.0f; break;
        }
    }
    return w;
}

/* Codes, zeros, scales and deq of every backend bit-identical to the _ref over shapes, group
 * sizes 32/64/128/-1, w_bit 2..8, both modes, with and without a column scale, and in place. */
static void t_quantize_vs_ref(void)
{
    static const struct { size_t o, i; int64_t group; } sh[] = {
        {7, 256, 32}, {16, 384, 64}, {33, 512, 128}, {5, 300, -1}, {64, 128, 128}, {3, 64, 0},
    };
    size_t nb = n_backends(), cases = 0;
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int w_bit = 2; w_bit <= 8; w_bit++)
            for (int f16 = 0; f16 < 2; f16++)
                for (int with_s = 0; with_s < 2; with_s++) {
                    size_t o = sh[s].o, i = sh[s].i, g = sh[s].group > 0 ? (size_t)sh[s].group : i, ng = i / g;
                    float *w = awkward_weights(o, i, g, f16);
                    float *sc = with_s ? rand_floats(i, 0.1f, 4.0f, f16) : NULL;
                    qout want = qout_new(o, i, ng), got = qout_new(o, i, ng);
                    REQUIRE(quantize_on(NULL, want, w, sc, o, i, sh[s].group, w_bit, f16) == KERN_OK, "ref");
                    for (size_t bi = 0; bi < nb; bi++) {
                        const awq_backend *be = backends[bi];
                        char id[128];
                        snprintf(id, sizeof id, "quantize[%s o=%zu i=%zu g=%lld w_bit=%d f16=%d col_scale=%d]", be->name,
                                 o, i, (long long)sh[s].group, w_bit, f16, with_s);
                        REQUIRE(quantize_on(be, got, w, sc, o, i, sh[s].group, w_bit, f16) == KERN_OK, "%s", id);
                        CHECK(!memcmp(got.codes, want.codes, o * i), "%s: codes differ", id);
                        CHECK(!memcmp(got.zeros, want.zeros, o * ng), "%s: zeros differ", id);
                        size_t at = first_diff(got.scales, want.scales, o * ng);
                        CHECK(at == o * ng, "%s: scale %zu differs", id, at);
                        at = first_diff(got.deq, want.deq, o * i);
                        CHECK(at == o * i, "%s: deq[%zu] %a vs ref %a", id, at, at < o * i ? got.deq[at] : 0,
                              at < o * i ? want.deq[at] : 0);
                        /* in place (deq = w) */
                        float *dw = dev_put(be, w, o * i * 4), *inpl = xmalloc(o * i * 4);
                        float *ds = sc ? dev_put(be, sc, i * 4) : NULL;
                        REQUIRE(be->quantize(be->ctx, dw, NULL, NULL, NULL, dw, ds, o, i, sh[s].group, w_bit, f16) == KERN_OK, "%s in place", id);
                        dev_get(be, inpl, dw, o * i * 4);
                        CHECK(first_diff(inpl, want.deq, o * i) == o * i, "%s: in place differs", id);
                        dev_free(be, dw), dev_free(be, ds), free(inpl);
                        cases++;
                    }
                    /* invariants of the _ref itself: codes within 0..maxq, faithful outputs fp16 values */
                    int maxq = (1 << w_bit) - 1, bad = 0;
                    for (size_t e = 0; e < o * i; e++) bad += want.codes[e] > maxq || (f16 && awq_round_f16(want.deq[e]) != want.deq[e]);
                    for (size_t e = 0; e < o * ng; e++) bad += want.zeros[e] > maxq;
                    CHECK(bad == 0, "ref o=%zu i=%zu w_bit=%d f16=%d: %d codes/zeros out of range or deq not fp16", o, i, w_bit, f16, bad);
                    free(w), free(sc), qout_free(want), qout_free(got);
                }
    if (getenv("AWQ_TEST_VERBOSE")) fprintf(stderr, "  quantize: %zu backend cases bit-identical\n", cases);
}

/* Q is what the spec says on a case the tests above do not pin: a column scale gives
 * h(Q(h(w*s))/s), i.e. the same as quantizing the pre-scaled matrix and dividing after. */
static void t_quantize_col_scale(void)
{
    enum { O = 4, I = 64 };
    for (int f16 = 0; f16 < 2; f16++) {
        float *w = rand_floats(O * I, -1, 1, f16), *s = rand_floats(I, 0.25f, 3, f16), ws[O * I];
        for (int e = 0; e < O * I; e++) ws[e] = f16 ? awq_round_f16(w[e] * s[e % I]) : w[e] * s[e % I];
        qout a = qout_new(O, I, 2), b = qout_new(O, I, 2);
        kern_quantize_ref(a.deq, a.codes, a.scales, a.zeros, w, s, O, I, 32, 4, f16);
        kern_quantize_ref(b.deq, b.codes, b.scales, b.zeros, ws, NULL, O, I, 32, 4, f16);
        CHECK(!memcmp(a.codes, b.codes, O * I), "f16=%d codes", f16);
        int bad = 0;
        for (int e = 0; e < O * I; e++) {
            float want = f16 ? awq_round_f16(b.deq[e] / s[e % I]) : b.deq[e] / s[e % I];
            bad += fbits(a.deq[e]) != fbits(want);
        }
        CHECK(bad == 0, "f16=%d: %d deq differ from h(Q(h(w*s))/s)", f16, bad);
        free(w), free(s), qout_free(a), qout_free(b);
    }
}

/* ---- packing round trips -------------------------------------------------------------------- */

/* pack -> unpack gives back codes, zeros and fp16 scales exactly; and dequantizing a packed
 * quantized weight gives Q's deq bit for bit (fp16-faithful Q), over several shapes. */
static void t_pack_roundtrip(void)
{
    static const struct { size_t o, i; int64_t group; } sh[] = {{8, 32, 32}, {24, 256, 64}, {136, 384, 128}, {16, 200, -1}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        size_t o = sh[s].o, i = sh[s].i, g = sh[s].group > 0 ? (size_t)sh[s].group : i, ng = i / g;
        float *w = awkward_weights(o, i, g, 1);
        qout q = qout_new(o, i, ng);
        REQUIRE(kern_quantize_ref(q.deq, q.codes, q.scales, q.zeros, w, NULL, o, i, sh[s].group, 4, 1) == KERN_OK, "Q");
        int32_t *qw = xmalloc(i * o / 8 * 4), *qz = xmalloc(ng * o / 8 * 4);
        uint16_t *s16 = xmalloc(ng * o * 2);
        REQUIRE(kern_pack_gemm(qw, qz, s16, q.codes, q.zeros, q.scales, o, i, sh[s].group) == KERN_OK, "pack");
        qout u = qout_new(o, i, ng);
        REQUIRE(kern_unpack_gemm(u.codes, u.zeros, u.scales, qw, qz, s16, o, i, sh[s].group) == KERN_OK, "unpack");
        CHECK(!memcmp(u.codes, q.codes, o * i), "shape %zu: codes", s);
        CHECK(!memcmp(u.zeros, q.zeros, o * ng), "shape %zu: zeros", s);
        CHECK(first_diff(u.scales, q.scales, o * ng) == o * ng, "shape %zu: scales", s);
        REQUIRE(kern_dequant_gemm(u.deq, qw, qz, s16, o, i, sh[s].group) == KERN_OK, "dequant");
        size_t at = first_diff(u.deq, q.deq, o * i);
        CHECK(at == o * i, "shape %zu: dequant of the packed weight differs from Q at %zu", s, at);
        /* a packed word really holds channel 8c + j in nibble REVERSE[j] */
        size_t k = i / 3, c = o / 16;
        for (int j = 0; j < 8; j++)
            CHECK((((uint32_t)qw[k * (o / 8) + c] >> (4 * KERN_AWQ_REVERSE[j])) & 0xF) == q.codes[(8 * c + (size_t)j) * i + k],
                  "shape %zu: nibble of channel %zu", s, 8 * c + (size_t)j);
        free(w), free(qw), free(qz), free(s16), qout_free(q), qout_free(u);
    }
}

/* ---- T6 and the clip search ----------------------------------------------------------------- */

static kern_status clip_on(const awq_backend *be, float *mv, int32_t *best, float *loss, const float *w,
                           const float *x, size_t o, size_t i, size_t t, int64_t group, int w_bit, int f16)
{
    if (!be) return kern_clip_search_ref(mv, best, loss, w, x, o, i, t, group, w_bit, 20, 0.5, f16);
    size_t g = 0;
    kern_quant_group(&g, i, group);
    size_t ng = g ? i / g : 0, nc = kern_clip_candidates(20, 0.5);
    float *dw = dev_put(be, w, o * i * 4), *dx = dev_put(be, x, t * i * 4);
    float *dmv = dev_put(be, NULL, o * ng * 4), *dl = dev_put(be, NULL, o * ng * nc * 4);
    int32_t *db = dev_put(be, NULL, o * ng * 4);
    kern_status st = be->clip_search(be->ctx, dmv, db, dl, dw, dx, o, i, t, group, w_bit, 20, 0.5, f16);
    if (st == KERN_OK) dev_get(be, mv, dmv, o * ng * 4), dev_get(be, best, db, o * ng * 4), dev_get(be, loss, dl, o * ng * nc * 4);
    dev_free(be, dw), dev_free(be, dx), dev_free(be, dmv), dev_free(be, dl), dev_free(be, db);
    return st;
}

static void t_t6_clip(void)
{
    const float w[8] = {0.75f, -0.125f, -1.0625f, 0.3125f, -0.5625f, -0.6875f, 0.1875f, 0.4375f};
    const float x[4 * 8] = {-1.25f, -1.75f, 0.5f, 0.75f, 0.5f, -1.5f, -0.25f, 1.75f,
                            0.75f, -0.5f, -0.25f, 0.25f, 1.5f, 1.5f, 1.0f, -0.75f,
                            -0.5f, 0, -0.5f, 0.25f, 0.5f, 0, 0.75f, 0.5f,
                            0, 0.75f, -0.25f, 0, 0.5f, 2.25f, -1.5f, -1.5f};
    static const float err32[10] = {0.024973f, 0.01337f, 0.004069f, 0.001996f, 0.004113f,
                                    0.008745f, 0.011379f, 0.01604f, 0.044602f, 0.074558f};
    CHECK(kern_clip_candidates(20, 0.5) == 10, "int(0.5 * 20) candidates");
    size_t nb = n_backends();
    for (size_t bi = 0; bi <= nb; bi++) {
        const awq_backend *be = bi ? backends[bi - 1] : NULL;
        const char *bn = be ? be->name : "ref";
        for (int f16 = 0; f16 < 2; f16++) {
            float mv, loss[10];
            int32_t best = -1;
            REQUIRE(clip_on(be, &mv, &best, loss, w, x, 1, 8, 4, 8, 4, f16) == KERN_OK, "%s", bn);
            CHECK(best == 3, "%s f16=%d T6: index %d want 3", bn, f16, best);
            if (f16) CHECK(mv == 0.9033203125f, "%s T6 fp16 max_val %.10g", bn, mv);
            else CHECK(ulps32(mv, 0.903125f) <= 1.0, "%s T6 fp32 max_val %.10g want 1.0625*0.85", bn, mv);
            /* fp32 mode computes the reference's fp32 losses (printed to 4-5 digits) */
            if (!f16)
                for (int k = 0; k < 10; k++)
                    CHECK(fabsf(loss[k] - err32[k]) <= 6e-4f * err32[k], "%s T6 fp32 err[%d] %.6g want %.6g", bn, k, loss[k], err32[k]);
        }
    }
}

/* Error bound of a backend's clip loss against the _ref's fp64 value, per (row, group, cand):
 * the fast path computes each token's d = sum_c x[c]*D[c] (D = Q(clamp(w)) - w) in fp32, so
 * |d - d_exact| <= b = (g+2)*2^-24 * sum_c |x[c]*D[c]| (Higham's gamma_g, plus the rounding of
 * D), and the mean of d^2 moves by at most mean_t(2|d|b + b^2), plus 2^-23 relative for the
 * final fp32 values. D is rebuilt here with the _ref quantizer. */
static void clip_bounds(double *bound /*[o*G, nc]*/, const float *w, const float *x, size_t o, size_t i, size_t t,
                        size_t g, size_t nc, int w_bit, int f16)
{
    float *wc = xmalloc(g * 4), *wq = xmalloc(g * 4);
    size_t ng = i / g;
    for (size_t r = 0; r < o; r++)
        for (size_t j = 0; j < ng; j++) {
            const float *wg = w + r * i + j * g;
            float m0 = 0;
            for (size_t c = 0; c < g; c++) m0 = fmaxf(m0, fabsf(wg[c]));
            for (size_t k = 0; k < nc; k++) {
                float mv = m0 * (float)(1.0 - (double)k / 20.0);
                if (f16) mv = awq_round_f16(mv);
                for (size_t c = 0; c < g; c++) wc[c] = fminf(fmaxf(wg[c], -mv), mv);
                kern_quantize_ref(wq, NULL, NULL, NULL, wc, NULL, 1, g, (int64_t)g, w_bit, f16);
                double sum = 0, err = 0;
                for (size_t tt = 0; tt < t; tt++) {
                    double d = 0, a = 0;
                    for (size_t c = 0; c < g; c++) {
                        double p = (double)x[tt * i + j * g + c] * ((double)wq[c] - (double)wg[c]);
                        d += p, a += fabs(p);
                    }
                    double b = (double)(g + 2) * 0x1p-24 * a;
                    sum += 2 * fabs(d) * b + b * b, err += d * d;
                }
                bound[(r * ng + j) * nc + k] = sum / (double)t + 0x1p-23 * err / (double)t;
            }
        }
    free(wc), free(wq);
}

/* Clip fast vs _ref over shapes, groups 32/64/128/-1, both modes: every loss within its bound
 * (clip_bounds); max_val = the _ref's; the same index unless the _ref's losses of the two
 * indices are closer than their bounds (a near-tie: printed, allowed). Losses more than 1e-6
 * relative apart are counted and the worst printed: they come from cancellation in d. */
static void t_clip_vs_ref(void)
{
    static const struct { size_t o, i, t; int64_t group; int w_bit; } sh[] = {
        {64, 256, 64, 128, 4}, {13, 192, 37, 64, 4}, {8, 96, 5, 32, 3}, {70, 128, 600, -1, 4}, {130, 256, 16, 128, 8},
        {3, 64, 1, 32, 2},
    };
    size_t nb = n_backends(), nc = kern_clip_candidates(20, 0.5), ties = 0, compared = 0, over1e6 = 0, losses = 0;
    double worst_rel = 0, worst_bound = 0;
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int f16 = 0; f16 < 2; f16++) {
            size_t o = sh[s].o, i = sh[s].i, t = sh[s].t, g = sh[s].group > 0 ? (size_t)sh[s].group : i, ng = i / g;
            float *w = awkward_weights(o, i, g, f16), *x = rand_floats(t * i, -2, 2, f16);
            float *mv0 = xmalloc(o * ng * 4), *l0 = xmalloc(o * ng * nc * 4), *mv1 = xmalloc(o * ng * 4), *l1 = xmalloc(o * ng * nc * 4);
            int32_t *b0 = xmalloc(o * ng * 4), *b1 = xmalloc(o * ng * 4);
            double *bound = xmalloc(o * ng * nc * sizeof *bound);
            REQUIRE(clip_on(NULL, mv0, b0, l0, w, x, o, i, t, sh[s].group, sh[s].w_bit, f16) == KERN_OK, "ref");
            clip_bounds(bound, w, x, o, i, t, g, nc, sh[s].w_bit, f16);
            /* the _ref's own bookkeeping: best is the first minimum */
            for (size_t e = 0; e < o * ng; e++) {
                size_t k0 = 0;
                for (size_t k = 1; k < nc; k++) if (l0[e * nc + k] < l0[e * nc + k0]) k0 = k;
                CHECK(b0[e] == (int32_t)k0, "ref [%zu]: best %d, first minimum %zu", e, b0[e], k0);
            }
            for (size_t bi = 0; bi < nb; bi++) {
                const awq_backend *be = backends[bi];
                char id[128];
                snprintf(id, sizeof id, "clip[%s o=%zu i=%zu t=%zu g=%lld w_bit=%d f16=%d]", be->name, o, i, t,
                         (long long)sh[s].group, sh[s].w_bit, f16);
                REQUIRE(clip_on(be, mv1, b1, l1, w, x, o, i, t, sh[s].group, sh[s].w_bit, f16) == KERN_OK, "%s", id);
                size_t bad = 0;
                for (size_t e = 0; e < o * ng; e++) {
                    for (size_t k = 0; k < nc; k++) {
                        size_t q = e * nc + k;
                        double a = l1[q], r = l0[q], diff = fabs(a - r);
                        double rel = diff == 0 ? 0 : diff / fabs(r);
                        losses++;
                        over1e6 += rel > 1e-6;
                        if (rel > worst_rel) worst_rel = rel;
                        if (bound[q] > 0 && diff / bound[q] > worst_bound) worst_bound = diff / bound[q];
                        if (!(diff <= bound[q]) && bad++ < 5)
                            fprintf(stderr, "  %s: loss [%zu][%zu] %.9g vs ref %.9g (diff %.3g, bound %.3g)\n", id, e, k, a, r,
                                    diff, bound[q]);
                    }
                    compared++;
                    if (b1[e] != b0[e]) {
                        size_t qa = e * nc + (size_t)b1[e], qb = e * nc + (size_t)b0[e];
                        int tie = fabs((double)l0[qa] - (double)l0[qb]) <= bound[qa] + bound[qb];
                        fprintf(stderr, "  %s: [%zu] index %d vs ref %d, ref losses %.9g / %.9g: %s\n", id, e, b1[e], b0[e],
                                l0[qa], l0[qb], tie ? "near-tie (allowed)" : "NOT a near-tie");
                        ties += tie;
                        bad += !tie;
                        continue;
                    }
                    bad += mv1[e] != mv0[e];
                }
                CHECK(bad == 0, "%s: %zu mismatches", id, bad);
            }
            free(w), free(x), free(mv0), free(l0), free(mv1), free(l1), free(b0), free(b1), free(bound);
        }
    fprintf(stderr, "  clip: %zu (row, group) compared, %zu near-ties; %zu of %zu losses differ by > 1e-6 relative "
                    "(worst %.3g); worst diff / bound %.3g\n", compared, ties, over1e6, losses, worst_rel, worst_bound);
}

/* clip_apply: by hand, and the backend against the _ref */
static void t_clip_apply(void)
{
    float w[8] = {-3, -1, 0.5f, 2, 4, -0.25f, 0.25f, -5};
    const float mv[2] = {1.5f, 0.3f};
    REQUIRE(kern_clip_apply_ref(w, mv, 2, 4, -1) == KERN_OK, "ref");
    const float want[8] = {-1.5f, -1, 0.5f, 1.5f, 0.3f, -0.25f, 0.25f, -0.3f};
    CHECK(!memcmp(w, want, sizeof w), "by hand: %g %g %g %g %g %g %g %g", w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
    size_t nb = n_backends();
    for (size_t bi = 0; bi < nb; bi++) {
        const awq_backend *be = backends[bi];
        enum { O = 9, I = 256 };
        float *a = rand_floats(O * I, -2, 2, 1), *m = rand_floats(O * 4, 0, 1.5f, 1), *got = xmalloc(O * I * 4);
        float *d = dev_put(be, a, O * I * 4), *dm = dev_put(be, m, O * 4 * 4);
        REQUIRE(be->clip_apply(be->ctx, d, dm, O, I, 64) == KERN_OK, "%s", be->name);
        dev_get(be, got, d, O * I * 4);
        kern_clip_apply_ref(a, m, O, I, 64);
        CHECK(first_diff(got, a, O * I) == O * I, "%s: clip_apply differs from the _ref", be->name);
        dev_free(be, d), dev_free(be, dm), free(a), free(m), free(got);
    }
}

/* ---- errors ----------------------------------------------------------------------------------- */

static void t_bad_arguments(void)
{
    float w[8 * 12] = {0}, out[8 * 12], mv[16], s[12];
    uint8_t codes[8 * 12] = {0}, zeros[16] = {0};
    float scales[16];
    for (int e = 0; e < 16; e++) scales[e] = 1;
    int32_t qw[16], qz[16], best[16];
    uint16_t s16[32];
    size_t g = 99;
    CHECK(kern_quant_group(&g, 12, 5) == KERN_ERR_ARG && g == 0, "group 5 does not divide 12");
    CHECK(kern_quant_group(&g, 12, -2) == KERN_ERR_ARG, "group -2");
    CHECK(kern_quant_group(&g, 0, -1) == KERN_ERR_ARG, "i = 0");
    CHECK(kern_quant_group(&g, 12, -1) == KERN_OK && g == 12, "group -1 = whole row");
    CHECK(kern_quant_group(&g, 12, 0) == KERN_OK && g == 12, "group 0 = whole row");
    CHECK(kern_clip_candidates(0, 0.5) == 0 && kern_clip_candidates(20, 0) == 0 && kern_clip_candidates(20, 1.5) == 0 &&
          kern_clip_candidates(1, 0.5) == 0 && kern_clip_candidates(20, 1.0) == 20, "clip candidates");
    CHECK(kern_quantize_ref(out, NULL, NULL, NULL, w, NULL, 8, 12, 5, 4, 1) == KERN_ERR_ARG, "ref: g !| i");
    CHECK(kern_quantize_ref(out, NULL, NULL, NULL, w, NULL, 8, 12, 4, 1, 1) == KERN_ERR_ARG, "ref: w_bit 1");
    CHECK(kern_quantize_ref(out, NULL, NULL, NULL, w, NULL, 8, 12, 4, 9, 1) == KERN_ERR_ARG, "ref: w_bit 9");
    CHECK(kern_clip_search_ref(mv, best, NULL, w, w, 8, 12, 0, 4, 4, 20, 0.5, 0) == KERN_ERR_ARG, "ref: t = 0");
    size_t nb = n_backends();
    for (size_t bi = 0; bi < nb; bi++) {
        const awq_backend *be = backends[bi];
        float *dw = dev_put(be, w, sizeof w), *dout = dev_put(be, NULL, sizeof out), *dmv = dev_put(be, NULL, sizeof mv);
        const float *dws[1] = {dw};
        const size_t rows[1] = {8};
        CHECK(be->quantize(be->ctx, dout, NULL, NULL, NULL, dw, NULL, 8, 12, 5, 4, 1) == KERN_ERR_ARG, "%s: g !| i", be->name);
        CHECK(be->quantize(be->ctx, dout, NULL, NULL, NULL, dw, NULL, 8, 12, 4, 1, 0) == KERN_ERR_ARG, "%s: w_bit 1", be->name);
        CHECK(be->quantize(be->ctx, dout, NULL, NULL, NULL, dw, NULL, 8, 12, 4, 9, 0) == KERN_ERR_ARG, "%s: w_bit 9", be->name);
        CHECK(be->w_mean(be->ctx, dout, dws, rows, 1, 12, 5, 1) == KERN_ERR_ARG, "%s: w_mean g !| i", be->name);
        CHECK(be->w_mean(be->ctx, dout, dws, rows, 0, 12, 4, 1) == KERN_ERR_ARG, "%s: w_mean no matrices", be->name);
        CHECK(be->clip_search(be->ctx, dmv, NULL, NULL, dw, dw, 8, 12, 8, 5, 4, 20, 0.5, 1) == KERN_ERR_ARG, "%s: clip g !| i", be->name);
        CHECK(be->clip_search(be->ctx, dmv, NULL, NULL, dw, dw, 8, 12, 0, 4, 4, 20, 0.5, 1) == KERN_ERR_ARG, "%s: clip t = 0", be->name);
        CHECK(be->clip_search(be->ctx, dmv, NULL, NULL, dw, dw, 8, 12, 8, 4, 4, 20, 1.5, 1) == KERN_ERR_ARG, "%s: clip shrink 1.5", be->name);
        CHECK(be->clip_search(be->ctx, dmv, NULL, NULL, dw, dw, 8, 12, 8, 4, 10, 20, 0.5, 1) == KERN_ERR_ARG, "%s: clip w_bit 10", be->name);
        CHECK(be->clip_apply(be->ctx, dw, dmv, 8, 12, 7) == KERN_ERR_ARG, "%s: clip_apply g !| i", be->name);
        dev_free(be, dw), dev_free(be, dout), dev_free(be, dmv);
    }
    /* packing: o % 8, group, codes/zeros above 15, scales that are not fp16 */
    CHECK(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 12, 8, -1) == KERN_ERR_ARG, "pack o = 12");
    CHECK(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 8, 12, 5) == KERN_ERR_ARG, "pack g !| i");
    CHECK(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 8, 12, 6) == KERN_OK, "pack ok");
    codes[17] = 16;
    CHECK(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 8, 12, 6) == KERN_ERR_ARG, "pack code 16");
    codes[17] = 0, zeros[3] = 200;
    CHECK(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 8, 12, 6) == KERN_ERR_ARG, "pack zero 200");
    zeros[3] = 0, scales[5] = 1e6f;
    CHECK(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 8, 12, 6) == KERN_ERR_ARG, "pack scale 1e6");
    scales[5] = NAN;
    CHECK(kern_pack_gemm(qw, qz, s16, codes, zeros, scales, 8, 12, 6) == KERN_ERR_ARG, "pack scale NaN");
    CHECK(kern_unpack_gemm(codes, zeros, scales, qw, qz, s16, 4, 12, 6) == KERN_ERR_ARG, "unpack o = 4");
    CHECK(kern_dequant_gemm(out, qw, qz, s16, 8, 12, 7) == KERN_ERR_ARG, "dequant g !| i");
    for (int e = 0; e < 12; e++) s[e] = 1;
    CHECK(kern_scale_formula(out, s, NULL, 0, 0.5, 1, 0) == KERN_ERR_ARG, "scale n = 0");
    CHECK(kern_scale_formula(out, s, NULL, 12, 1.5, 1, 0) == KERN_ERR_ARG, "scale r = 1.5");
    CHECK(kern_scale_formula(out, s, NULL, 12, -0.1, 1, 0) == KERN_ERR_ARG, "scale r < 0");
}

/* Non-finite weights never produce an out-of-range code (packing stays memory-safe). */
static void t_quantize_nonfinite(void)
{
    float w[16] = {NAN, 1, -1, 0.5f, INFINITY, 0, 0, 0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    uint8_t codes[16], zeros[2];
    size_t nb = n_backends();
    for (size_t bi = 0; bi <= nb; bi++)
        for (int f16 = 0; f16 < 2; f16++) {
            kern_status st = bi ? backends[bi - 1]->quantize(backends[bi - 1]->ctx, NULL, codes, NULL, zeros, w, NULL, 2, 8, 8, 4, f16)
                                : kern_quantize_ref(NULL, codes, NULL, zeros, w, NULL, 2, 8, 8, 4, f16);
            REQUIRE(st == KERN_OK, "status");
            int bad = 0;
            for (int e = 0; e < 16; e++) bad += codes[e] > 15;
            CHECK(bad == 0 && zeros[0] <= 15 && zeros[1] <= 15, "backend %zu f16=%d: codes out of range", bi, f16);
        }
}

/* The CPU ops give the same bits with 1 and 3 threads (fixed tiles, no sum split across
 * threads; OpenBLAS single-threaded per call). */
static void t_cpu_thread_count(void)
{
#ifdef _OPENMP
    const awq_backend *be = awq_backend_cpu();
    enum { O = 200, I = 384, T = 100 };
    float *w = awkward_weights(O, I, 128, 1), *x = rand_floats(T * I, -2, 2, 1), *r[2][4];
    int32_t *best[2];
    int saved = omp_get_max_threads();
    const float *ws[1] = {w};
    const size_t rows[1] = {O};
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(1 + 2 * k), openblas_set_num_threads(1 + 2 * k);
        r[k][0] = xmalloc(O * I * 4), r[k][1] = xmalloc(O * 3 * 4), r[k][2] = xmalloc(O * 3 * 10 * 4), r[k][3] = xmalloc(I * 4);
        best[k] = xmalloc(O * 3 * 4);
        be->quantize(be->ctx, r[k][0], NULL, NULL, NULL, w, NULL, O, I, 128, 4, 1);
        be->clip_search(be->ctx, r[k][1], best[k], r[k][2], w, x, O, I, T, 128, 4, 20, 0.5, 0);
        be->w_mean(be->ctx, r[k][3], ws, rows, 1, I, 64, 0);
    }
    omp_set_num_threads(saved), openblas_set_num_threads(saved);
    const size_t len[4] = {O * I, O * 3, O * 3 * 10, I};
    const char *what[4] = {"quantize", "clip max_val", "clip loss", "w_mean"};
    for (int op = 0; op < 4; op++) {
        size_t at = first_diff(r[0][op], r[1][op], len[op]);
        CHECK(at == len[op], "%s: 1 vs 3 threads differ at %zu", what[op], at);
        free(r[0][op]), free(r[1][op]);
    }
    CHECK(!memcmp(best[0], best[1], O * 3 * 4), "clip index: 1 vs 3 threads differ");
    free(best[0]), free(best[1]), free(w), free(x);
#else
    t_skip("built without OpenMP");
#endif
}

/* ---- AutoAWQ's own results (tests/golden/awq, made by tools/golden/gen_awq_golden.py) --------- */

/* Tensor `name` of m as fp32 (F16/BF16/F32 converted exactly); NULL when absent. Caller frees. */
static float *golden_f32(const st_model *m, const char *name, size_t *n)
{
    const st_tensor *t = st_find(m, name);
    if (!t) return NULL;
    size_t cnt = 1;
    for (int d = 0; d < t->ndim; d++) cnt *= (size_t)t->shape[d];
    float *v = xmalloc(cnt * 4);
    for (size_t e = 0; e < cnt; e++) {
        if (t->dtype == AWQ_DT_F16) v[e] = awq_f16_to_f32(((const uint16_t *)t->data)[e]);
        else if (t->dtype == AWQ_DT_BF16) v[e] = awq_bf16_to_f32(((const uint16_t *)t->data)[e]);
        else v[e] = ((const float *)t->data)[e];
    }
    if (n) *n = cnt;
    return v;
}

/* For every scale group AutoAWQ searched (fp16, g = 32, both duo modes): the w statistic of the
 * group's original linears equals AutoAWQ's w_mean bitwise (faithful w_mean), and the scale
 * formula at the picked ratio gives AutoAWQ's chosen scales bitwise from its x_mean / w_mean.
 * Every packed linear of its checkpoint unpacks and repacks to the same words. */
static void t_autoawq_golden(void)
{
    static const char *models[] = {"llama_gqa_llama3rope_tied", "llama2_mha", "mistral", "qwen2_bias", "qwen3_qknorm"};
    static const struct { const char *prev; const char *layers[3]; } grp[] = {
        {"input_layernorm", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
        {"self_attn.v_proj", {"self_attn.o_proj"}},
        {"post_attention_layernorm", {"mlp.gate_proj", "mlp.up_proj"}},
        {"mlp.up_proj", {"mlp.down_proj"}},
    };
    static const char *linears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    const awq_backend *be = awq_backend_cpu();
    int groups = 0, packed = 0;
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        char path[256], name[256];
        snprintf(path, sizeof path, "tests/golden/%s/model.safetensors", models[mi]);
        st_model *model = NULL;
        if (st_open(&model, path) != AWQ_OK) { t_skip("%s not found (run from the repository root)", path); return; }
        for (int duo = 0; duo < 2; duo++) {
            snprintf(path, sizeof path, "tests/golden/awq/%s/duo_%s.safetensors", models[mi], duo ? "true" : "false");
            st_model *gold = NULL;
            REQUIRE(st_open(&gold, path) == AWQ_OK, "cannot open %s", path);
            for (int b = 0; b < 2; b++) {
                for (size_t gi = 0; gi < sizeof grp / sizeof grp[0]; gi++) {
                    size_t n = 0;
                    snprintf(name, sizeof name, "block.%d.scale.%s.scales", b, grp[gi].prev);
                    float *want = golden_f32(gold, name, &n);
                    if (!want) continue; /* v_proj -> o_proj only for MHA */
                    snprintf(name, sizeof name, "block.%d.scale.%s.x_mean", b, grp[gi].prev);
                    float *xm = golden_f32(gold, name, NULL);
                    snprintf(name, sizeof name, "block.%d.scale.%s.w_mean", b, grp[gi].prev);
                    float *wm = golden_f32(gold, name, NULL);
                    snprintf(name, sizeof name, "block.%d.scale.%s.best_ratio_idx", b, grp[gi].prev);
                    const st_tensor *bt = st_find(gold, name);
                    REQUIRE(xm && wm && bt, "%s: group %s incomplete", path, grp[gi].prev);
                    int k = ((const int32_t *)bt->data)[0];
                    /* w statistic from the original weights of the group's linears */
                    float *mats[3] = {0}, *got = xmalloc(n * 4);
                    size_t rows[3], nw = 0;
                    for (; nw < 3 && grp[gi].layers[nw]; nw++) {
                        size_t cnt;
                        snprintf(name, sizeof name, "model.layers.%d.%s.weight", b, grp[gi].layers[nw]);
                        mats[nw] = golden_f32(model, name, &cnt);
                        REQUIRE(mats[nw], "%s missing", name);
                        rows[nw] = cnt / n;
                    }
                    REQUIRE(be->w_mean(be->ctx, got, (const float *const *)mats, rows, nw, n, 32, 1) == KERN_OK, "w_mean");
                    size_t at = first_diff(got, wm, n);
                    CHECK(at == n, "%s block %d %s: w_mean[%zu] %a vs AutoAWQ %a", models[mi], b, grp[gi].prev, at,
                          at < n ? got[at] : 0, at < n ? wm[at] : 0);
                    REQUIRE(kern_scale_formula(got, xm, duo ? wm : NULL, n, k / 20.0, 1, 1) == KERN_OK, "formula");
                    at = first_diff(got, want, n);
                    CHECK(at == n, "%s duo=%d block %d %s k=%d: scale[%zu] %a vs AutoAWQ %a", models[mi], duo, b,
                          grp[gi].prev, k, at, at < n ? got[at] : 0, at < n ? want[at] : 0);
                    groups++;
                    for (size_t m = 0; m < nw; m++) free(mats[m]);
                    free(want), free(xm), free(wm), free(got);
                }
                for (size_t li = 0; li < sizeof linears / sizeof linears[0]; li++) {
                    const st_tensor *qw, *qz, *sc;
                    snprintf(name, sizeof name, "ckpt.model.layers.%d.%s.qweight", b, linears[li]);
                    qw = st_find(gold, name);
                    snprintf(name, sizeof name, "ckpt.model.layers.%d.%s.qzeros", b, linears[li]);
                    qz = st_find(gold, name);
                    snprintf(name, sizeof name, "ckpt.model.layers.%d.%s.scales", b, linears[li]);
                    sc = st_find(gold, name);
                    REQUIRE(qw && qz && sc, "%s: %s not packed", path, linears[li]);
                    size_t i = (size_t)qw->shape[0], o = (size_t)sc->shape[1], ng = (size_t)sc->shape[0];
                    uint8_t *codes = xmalloc(o * i), *zeros = xmalloc(o * ng);
                    float *scales = xmalloc(o * ng * 4);
                    int32_t *qw2 = xmalloc(qw->nbytes), *qz2 = xmalloc(qz->nbytes);
                    uint16_t *sc2 = xmalloc(sc->nbytes);
                    CHECK(kern_unpack_gemm(codes, zeros, scales, qw->data, qz->data, sc->data, o, i, (int64_t)(i / ng)) == KERN_OK &&
                          kern_pack_gemm(qw2, qz2, sc2, codes, zeros, scales, o, i, (int64_t)(i / ng)) == KERN_OK, "%s repack", name);
                    CHECK(!memcmp(qw2, qw->data, qw->nbytes) && !memcmp(qz2, qz->data, qz->nbytes) && !memcmp(sc2, sc->data, sc->nbytes),
                          "%s block %d %s: repacked words differ from AutoAWQ's", models[mi], b, linears[li]);
                    packed++;
                    free(codes), free(zeros), free(scales), free(qw2), free(qz2), free(sc2);
                }
            }
            st_close(gold);
        }
        st_close(model);
    }
    if (getenv("AWQ_TEST_VERBOSE")) fprintf(stderr, "  AutoAWQ: %d scale groups, %d packed linears\n", groups, packed);
    CHECK(groups >= 60 && packed == 140, "fixtures: %d groups, %d packed linears", groups, packed);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"t1_quantizer", t_t1_quantizer},
        {"t2_pack8", t_t2_pack8},
        {"t3_linear", t_t3_linear},
        {"t4_scale_formula", t_t4_scale_formula},
        {"t5_wmean_and_scales", t_t5_wmean_and_scales},
        {"w_mean", t_w_mean},
        {"quantize_vs_ref", t_quantize_vs_ref},
        {"quantize_col_scale", t_quantize_col_scale},
        {"quantize_nonfinite", t_quantize_nonfinite},
        {"pack_roundtrip", t_pack_roundtrip},
        {"t6_clip", t_t6_clip},
        {"clip_vs_ref", t_clip_vs_ref},
        {"clip_apply", t_clip_apply},
        {"bad_arguments", t_bad_arguments},
        {"autoawq_golden", t_autoawq_golden},
        {"cpu_thread_count", t_cpu_thread_count},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
