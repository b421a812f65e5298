/* attention.c - causal self-attention with grouped KV heads (spec §1.4): per sequence and query
 * head, scores q·k * scale over lo <= m <= p (lo: the sliding window's first key, else 0),
 * optionally soft-capped (Gemma 2), fp32 softmax, weighted sum of v (v heads dv wide).
 * _ref: one dot product at a time. Fast: the (sequence, head) pairs in parallel, each as two
 * single-threaded cblas_sgemm calls on strided views (no copies): S = Q·K^T, then O = P·V; for
 * small heads S only where the mask keeps it (kern_qk_causal: the same bits, qk_causal.c). The
 * softmax between them 8 rows at a time (softmax_rows), its passes 16 or 4 lanes wide. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One score: s = x * scale, then tanh(s / softcap) * softcap when softcap > 0, with HF's fp16
 * roundings (x is q·k as accumulated; torch rounds it to fp16 first). */
static float score_ref(float x, float scale, float softcap, int round_f16)
{
    if (!round_f16) return softcap > 0 ? tanhf(x * scale / softcap) * softcap : x * scale;
    float s = awq_round_f16(awq_round_f16(x) * scale);
    if (softcap > 0) s = awq_round_f16(awq_round_f16(tanhf(awq_round_f16(s / softcap))) * softcap);
    return s;
}

/* The same with the fast rounding (bitwise the same values). */
static float score(float x, float scale, float softcap, int round_f16)
{
    if (!round_f16) return softcap > 0 ? tanhf(x * scale / softcap) * softcap : x * scale;
    float s = kern_round_f16_fast(kern_round_f16_fast(x) * scale);
    if (softcap > 0) s = kern_round_f16_fast(kern_round_f16_fast(tanhf(kern_round_f16_fast(s / softcap))) * softcap);
    return s;
}

kern_status kern_attention_ref(float *out, const float *q, const float *k, const float *v,
                               size_t b, size_t t, size_t h, size_t hkv, size_t d, size_t dv, float scale,
                               float softcap, size_t window, int round_f16)
{
    if (hkv == 0 ? h != 0 : h % hkv) return KERN_ERR_ARG;
    if (b == 0 || t == 0 || h == 0) return KERN_OK;
    size_t group = h / hkv, qw = h * d, kw = hkv * d, ow = h * dv, vw = hkv * dv;
    float *sc = malloc(t * sizeof *sc);
    if (!sc) return KERN_ERR_NOMEM;
    for (size_t s = 0; s < b; s++)
        for (size_t hq = 0; hq < h; hq++) {
            size_t j = hq / group;
            for (size_t p = 0; p < t; p++) {
                const float *qp = q + (s * t + p) * qw + hq * d;
                const size_t lo = kern_attn_lo(p, window);
                float mx = -INFINITY;
                for (size_t m = lo; m <= p; m++) {
                    const float *km = k + (s * t + m) * kw + j * d;
                    float dot = 0.0f;
                    for (size_t e = 0; e < d; e++) dot += qp[e] * km[e];
                    sc[m] = score_ref(dot, scale, softcap, round_f16);
                    if (sc[m] > mx) mx = sc[m];
                }
                float sum = 0.0f;
                for (size_t m = lo; m <= p; m++) sum += sc[m] = expf(sc[m] - mx);
                for (size_t m = lo; m <= p; m++) {
                    sc[m] = sc[m] / sum;
                    if (round_f16) sc[m] = awq_round_f16(sc[m]);
                }
                float *op = out + (s * t + p) * ow + hq * dv;
                for (size_t e = 0; e < dv; e++) {
                    float acc = 0.0f;
                    for (size_t m = lo; m <= p; m++) acc += sc[m] * v[(s * t + m) * vw + j * dv + e];
                    op[e] = round_f16 ? awq_round_f16(acc) : acc;
                }
            }
        }
    free(sc);
    return KERN_OK;
}

/* The softmax's passes over one row r[0..n), in two forms with the same bits: 4 lanes of
 * portable code, and 16 lanes of AVX-512 where kern_round_f16_n found its fp16 conversions exact.
 *   scores: r = h(h(r) * scale) (or r * scale in fp32) without soft-capping; returns their maximum
 *           as the _ref's loop finds it: NaN never wins, and which of +0 and -0 it keeps cannot
 *           matter (exp(s - mx) is the same for both)
 *   shift:  r = r - mx
 *   probs:  r = h(r / sum) (or r / sum) */
typedef struct softmax_passes {
    float (*scores)(float *r, size_t n, float scale, int round_f16);
    void (*shift)(float *r, size_t n, float mx);
    void (*probs)(float *r, size_t n, float sum, int round_f16);
} softmax_passes;

static float scores_v4(float *r, size_t n, float scale, int round_f16)
{
    const kv4f sc = kv4_set1(scale);
    if (round_f16) kern_round_f16_n(r, n);
    size_t m = 0;
    for (; m + 4 <= n; m += 4) kv4_store(r + m, kv4_load(r + m) * sc);
    for (; m < n; m++) r[m] *= scale;
    if (round_f16) kern_round_f16_n(r, n);
    kv4f mx4 = kv4_set1(-INFINITY);
    for (m = 0; m + 4 <= n; m += 4) {
        const kv4f x = kv4_load(r + m);
        const kv4i gt = (kv4i)(x > mx4);
        mx4 = (kv4f)((gt & (kv4i)x) | (~gt & (kv4i)mx4));
    }
    float mx = -INFINITY;
    for (int l = 0; l < 4; l++)
        if (mx4[l] > mx) mx = mx4[l];
    for (; m < n; m++)
        if (r[m] > mx) mx = r[m];
    return mx;
}

static void shift_v4(float *r, size_t n, float mx)
{
    const kv4f mx4 = kv4_set1(mx);
    size_t m = 0;
    for (; m + 4 <= n; m += 4) kv4_store(r + m, kv4_load(r + m) - mx4);
    for (; m < n; m++) r[m] -= mx;
}

static void probs_v4(float *r, size_t n, float sum, int round_f16)
{
    const kv4f s4 = kv4_set1(sum);
    size_t m = 0;
    for (; m + 4 <= n; m += 4) kv4_store(r + m, kv4_load(r + m) / s4);
    for (; m < n; m++) r[m] /= sum;
    if (round_f16) kern_round_f16_n(r, n);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* h() of 16 lanes: the conversions (exact, round_f16.c checked them), NaN as awq_round_f16's */
__attribute__((target("avx512f"))) static inline __m512 h16(__m512 x)
{
    const __m512 r = _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    if (__builtin_expect(!nan, 1)) return r;
    const __m512i q = _mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)),
                                      _mm512_set1_epi32(0x7fc00000));
    return _mm512_mask_blend_ps(nan, r, _mm512_castsi512_ps(q));
}

/* lanes m.. of a row of n: all 16, or the tail's */
static inline __mmask16 lanes(size_t m, size_t n) { return n - m >= 16 ? 0xffff : (__mmask16)((1u << (n - m)) - 1); }

__attribute__((target("avx512f"))) static float scores_v16(float *r, size_t n, float scale, int round_f16)
{
    const __m512 sc = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (size_t m = 0; m < n; m += 16) {
        const __mmask16 k = lanes(m, n);
        __m512 x = _mm512_maskz_loadu_ps(k, r + m);
        x = round_f16 ? h16(_mm512_mul_ps(h16(x), sc)) : _mm512_mul_ps(x, sc);
        _mm512_mask_storeu_ps(r + m, k, x);
        mx = _mm512_mask_blend_ps(_mm512_mask_cmp_ps_mask(k, x, mx, _CMP_GT_OQ), mx, x);
    }
    float l[16], m = -INFINITY;
    _mm512_storeu_ps(l, mx);
    for (int i = 0; i < 16; i++)
        if (l[i] > m) m = l[i];
    return m;
}

__attribute__((target("avx512f"))) static void shift_v16(float *r, size_t n, float mx)
{
    const __m512 m4 = _mm512_set1_ps(mx);
    for (size_t m = 0; m < n; m += 16) {
        const __mmask16 k = lanes(m, n);
        _mm512_mask_storeu_ps(r + m, k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, r + m), m4));
    }
}

__attribute__((target("avx512f"))) static void probs_v16(float *r, size_t n, float sum, int round_f16)
{
    const __m512 s = _mm512_set1_ps(sum);
    for (size_t m = 0; m < n; m += 16) {
        const __mmask16 k = lanes(m, n);
        const __m512 p = _mm512_div_ps(_mm512_maskz_loadu_ps(k, r + m), s);
        _mm512_mask_storeu_ps(r + m, k, round_f16 ? h16(p) : p);
    }
}
#define HAVE_V16 1
#else
#define HAVE_V16 0
#endif

static const softmax_passes *passes(void)
{
    static const softmax_passes v4 = {scores_v4, shift_v4, probs_v4};
#if HAVE_V16
    static const softmax_passes v16 = {scores_v16, shift_v16, probs_v16};
    if (kern_round_f16_n_lanes() == 16) return &v16;
#endif
    return &v4;
}

/* Rows p0 .. p0+nr-1 (nr <= 8) of S (the scores of query p against keys 0..t): scale, soft-cap,
 * causal and window mask, softmax in place. Per row as the _ref: the scores, their maximum,
 * exp(s - max), the sum of those in key order, s / sum. The bits are fixed by expf (which
 * kern_expf_n reproduces) and by each row's order of summation, which stays; the sums of the nr
 * rows run side by side, so that their additions overlap instead of waiting on each other. */
enum { ROWS = 8 };
static void softmax_rows(const softmax_passes *ps, float *S, size_t p0, size_t nr, size_t t, float scale, float softcap,
                         size_t window, int round_f16)
{
    float *r[ROWS], sum[ROWS] = {0};
    size_t n[ROWS], n_min = t;
    for (size_t i = 0; i < nr; i++) {
        const size_t p = p0 + i, lo = kern_attn_lo(p, window);
        float *row = S + p * t, mx = -INFINITY;
        r[i] = row + lo, n[i] = p + 1 - lo;
        if (n[i] < n_min) n_min = n[i];
        if (softcap > 0) {
            for (size_t m = 0; m < n[i]; m++) {
                float sv = score(r[i][m], scale, softcap, round_f16);
                r[i][m] = sv;
                if (sv > mx) mx = sv;
            }
        } else {
            mx = ps->scores(r[i], n[i], scale, round_f16);
        }
        ps->shift(r[i], n[i], mx);
        kern_expf_n(r[i], r[i], n[i]);
        memset(row, 0, lo * sizeof *row); /* masked: contributes exactly nothing */
        memset(row + p + 1, 0, (t - p - 1) * sizeof *row);
    }
    if (nr == ROWS) /* the common case: eight running sums, each in its own row's order */
        for (size_t m = 0; m < n_min; m++) {
            sum[0] += r[0][m], sum[1] += r[1][m], sum[2] += r[2][m], sum[3] += r[3][m];
            sum[4] += r[4][m], sum[5] += r[5][m], sum[6] += r[6][m], sum[7] += r[7][m];
        }
    else
        n_min = 0;
    for (size_t i = 0; i < nr; i++) {
        for (size_t m = n_min; m < n[i]; m++) sum[i] += r[i][m];
        ps->probs(r[i], n[i], sum[i], round_f16);
    }
}

/* One (sequence, query head) pair: S = Q·K^T, masked softmax, O = P·V; S is [t, t] scratch.
 * Row strides: qw (Q), kw (K), vw (V), ow (O). Kt: scratch [d, t] for kern_qk_causal, or NULL:
 * the whole of S by sgemm. */
static void attention_pair(float *O, const float *Q, const float *K, const float *V, float *S, size_t t,
                           size_t d, size_t dv, size_t qw, size_t kw, size_t vw, size_t ow, float scale, float softcap,
                           size_t window, int round_f16, float *Kt)
{
    if (Kt) /* only the unmasked scores (the same bits) */
        kern_qk_causal(S, Q, K, Kt, t, d, qw, kw, window);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)t, (int)d, 1.0f, Q, (int)qw, K, (int)kw,
                    0.0f, S, (int)t);
    const softmax_passes *ps = passes();
    for (size_t p = 0; p < t; p += ROWS) softmax_rows(ps, S, p, t - p < ROWS ? t - p : ROWS, t, scale, softcap, window, round_f16);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t, (int)dv, (int)t, 1.0f, S, (int)t, V, (int)vw,
                0.0f, O, (int)ow);
    if (round_f16)
        for (size_t p = 0; p < t; p++) kern_round_f16_n(O + p * ow, dv);
}

kern_status cpu_attention(awq_backend_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                               size_t b, size_t t, size_t h, size_t hkv, size_t d, size_t dv, float scale,
                               float softcap, size_t window, int round_f16)
{
    (void)ctx;
    if (hkv == 0 ? h != 0 : h % hkv) return KERN_ERR_ARG;
    if (b == 0 || t == 0 || h == 0 || dv == 0) return KERN_OK;
    size_t group = h / hkv, qw = h * d, kw = hkv * d, ow = h * dv, vw = hkv * dv;
    if (!kern_fits_blas(t) || !kern_fits_blas(qw) || !kern_fits_blas(ow)) return KERN_ERR_UNSUPPORTED;
    kern_blas_serial();
    int nomem = 0;
    const int causal = kern_qk_causal_ok(d, t);
    #pragma omp parallel
    {
        float *S = malloc((t * t + (causal ? d * t : 0)) * sizeof *S);
        if (!S) {
            #pragma omp atomic write
            nomem = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (size_t pair = 0; pair < b * h; pair++) {
            if (!S) continue;
            size_t s = pair / h, hq = pair % h, j = hq / group;
            /* strided views: rows of one head, row stride qw (queries/outputs) or kw (keys/values) */
            attention_pair(out + s * t * ow + hq * dv, q + s * t * qw + hq * d, k + s * t * kw + j * d,
                           v + s * t * vw + j * dv, S, t, d, dv, qw, kw, vw, ow, scale, softcap, window, round_f16,
                           causal ? S + t * t : NULL);
        }
        free(S);
    }
    return nomem ? KERN_ERR_NOMEM : KERN_OK;
}
