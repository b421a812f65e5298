/* attention.c - causal self-attention with grouped KV heads (spec §1.4): per sequence and query
 * head, scores q·k * scale over lo <= m <= p (lo: the sliding window's first key, else 0),
 * optionally soft-capped (Gemma 2), fp32 softmax, weighted sum of v (v heads dv wide).
 * _ref: one dot product at a time. Fast: the (sequence, head) pairs in parallel, each as two
 * single-threaded cblas_sgemm calls on strided views (no copies): S = Q·K^T, then O = P·V. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

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

/* Row p of S (scores of query p against keys 0..t): scale, soft-cap, causal and window mask,
 * softmax in place. */
static void softmax_row(float *row, size_t p, size_t t, float scale, float softcap, size_t window, int round_f16)
{
    const size_t lo = kern_attn_lo(p, window);
    float mx = -INFINITY;
    for (size_t m = lo; m <= p; m++) {
        float sv = score(row[m], scale, softcap, round_f16);
        row[m] = sv;
        if (sv > mx) mx = sv;
    }
    float sum = 0.0f;
    for (size_t m = lo; m <= p; m++) sum += row[m] = expf(row[m] - mx);
    for (size_t m = lo; m <= p; m++) {
        float pr = row[m] / sum;
        row[m] = round_f16 ? kern_round_f16_fast(pr) : pr;
    }
    for (size_t m = 0; m < lo; m++) row[m] = 0.0f; /* masked: contributes exactly nothing */
    for (size_t m = p + 1; m < t; m++) row[m] = 0.0f;
}

/* One (sequence, query head) pair: S = Q·K^T, masked softmax, O = P·V; S is [t, t] scratch.
 * Row strides: qw (Q), kw (K), vw (V), ow (O). */
static void attention_pair(float *O, const float *Q, const float *K, const float *V, float *S, size_t t,
                           size_t d, size_t dv, size_t qw, size_t kw, size_t vw, size_t ow, float scale, float softcap,
                           size_t window, int round_f16)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)t, (int)d, 1.0f, Q, (int)qw, K, (int)kw,
                0.0f, S, (int)t);
    for (size_t p = 0; p < t; p++) softmax_row(S + p * t, p, t, scale, softcap, window, round_f16);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t, (int)dv, (int)t, 1.0f, S, (int)t, V, (int)vw,
                0.0f, O, (int)ow);
    if (round_f16)
        for (size_t p = 0; p < t; p++)
            for (size_t e = 0; e < dv; e++) O[p * ow + e] = kern_round_f16_fast(O[p * ow + e]);
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
    #pragma omp parallel
    {
        float *S = malloc(t * t * sizeof *S);
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
                           v + s * t * vw + j * dv, S, t, d, dv, qw, kw, vw, ow, scale, softcap, window, round_f16);
        }
        free(S);
    }
    return nomem ? KERN_ERR_NOMEM : KERN_OK;
}
