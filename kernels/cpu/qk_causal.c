/* qk_causal.c - the attention scores S = Q·K^T of one (sequence, head) pair, only where the
 * causal (and window) mask keeps them: rows p, keys lo(p)..p. The attention op computed all of S
 * with one cblas_sgemm; for the small head widths of small models that call is bound by writing
 * S (and OpenBLAS's packing and zeroing of it), and half of S is masked anyway.
 * The bits are OpenBLAS's: its sgemm kernels compute each element of a product with one inner
 * dimension block (K = d here) as one FMA chain in k order starting from 0, which is what this
 * does, 16 keys at a time (AVX-512, 4 chains side by side). It is used only where that holds:
 * on a CPU with AVX-512F, for head widths up to 32, and for a shape (d, t) only after a check
 * against cblas_sgemm on that shape at its first use (kern_qk_causal_ok); otherwise the op keeps
 * the sgemm. test_backends holds
 * the two to the same bits (cpu/qk_causal_vs_sgemm). */
#include "cpu.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Row p of S over keys [m0, m1) (m1 - m0 a multiple of 16 except at the end of the row: masked). */
__attribute__((target("avx512f"))) static void qk_row(float *s, const float *q, const float *kt, size_t t, size_t d,
                                                      size_t m0, size_t m1)
{
    size_t m = m0;
    for (; m + 64 <= m1; m += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t e = 0; e < d; e++) {
            const __m512 qe = _mm512_set1_ps(q[e]);
            const float *k = kt + e * t + m;
            a0 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k), a0);
            a1 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k + 16), a1);
            a2 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k + 32), a2);
            a3 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k + 48), a3);
        }
        _mm512_storeu_ps(s + m, a0), _mm512_storeu_ps(s + m + 16, a1);
        _mm512_storeu_ps(s + m + 32, a2), _mm512_storeu_ps(s + m + 48, a3);
    }
    for (; m < m1; m += 16) {
        const __mmask16 keep = m1 - m >= 16 ? 0xffff : (__mmask16)((1u << (m1 - m)) - 1);
        __m512 a = _mm512_setzero_ps();
        for (size_t e = 0; e < d; e++) a = _mm512_fmadd_ps(_mm512_set1_ps(q[e]), _mm512_maskz_loadu_ps(keep, kt + e * t + m), a);
        _mm512_mask_storeu_ps(s + m, keep, a);
    }
}

__attribute__((target("avx512f"))) static void qk_causal(float *S, const float *Q, const float *K, float *Kt, size_t t,
                                                         size_t d, size_t qw, size_t kw, size_t window)
{
    for (size_t m = 0; m < t; m++) /* K^T of the head: [d, t], rows of keys */
        for (size_t e = 0; e < d; e++) Kt[e * t + m] = K[m * kw + e];
    for (size_t p = 0; p < t; p++) {
        const size_t lo = kern_attn_lo(p, window) & ~(size_t)15; /* from a multiple of 16: the caller masks */
        qk_row(S + p * t, Q + p * qw, Kt, t, d, lo, p + 1);
    }
}

static int have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
static void qk_causal(float *S, const float *Q, const float *K, float *Kt, size_t t, size_t d, size_t qw, size_t kw,
                      size_t window)
{
    (void)S, (void)Q, (void)K, (void)Kt, (void)t, (void)d, (void)qw, (void)kw, (void)window;
}
static int have_avx512(void) { return 0; }
#endif

void kern_qk_causal(float *S, const float *Q, const float *K, float *Kt, size_t t, size_t d, size_t qw, size_t kw,
                    size_t window)
{
    qk_causal(S, Q, K, Kt, t, d, qw, kw, window);
}

/* The head widths where this pays: for wider heads the sgemm is compute-bound and fast */
enum { MAX_D = 32, N_SEEN = 8 };
/* (d, t) pairs checked so far and the answer: 1 same bits as sgemm, 2 not */
static struct { size_t d, t; int ok; } g_seen[N_SEEN];
static int g_n_seen;

/* The check on the op's own shape (OpenBLAS picks its kernels by the product's size): t x t
 * scores of random q and k of width d (strided, as in the op) both ways. */
static int check(size_t d, size_t t)
{
    const size_t qw = 3 * d, kw = 2 * d;
    float *q = malloc(t * qw * sizeof *q), *k = malloc(t * kw * sizeof *k), *s1 = malloc(2 * t * t * sizeof *s1),
          *kt = malloc(d * t * sizeof *kt);
    int same = q && k && s1 && kt;
    if (same) {
        float *s2 = s1 + t * t;
        uint32_t r = 2463534242u;
        for (size_t e = 0; e < t * qw; e++) r ^= r << 13, r ^= r >> 17, r ^= r << 5, q[e] = (float)(int32_t)r * 0x1p-31f;
        for (size_t e = 0; e < t * kw; e++) r ^= r << 13, r ^= r >> 17, r ^= r << 5, k[e] = (float)(int32_t)r * 0x1p-28f;
        kern_blas_serial();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)t, (int)d, 1.0f, q, (int)qw, k, (int)kw, 0.0f, s1, (int)t);
        qk_causal(s2, q, k, kt, t, d, qw, kw, 0);
        for (size_t p = 0; p < t && same; p++)
            for (size_t m = 0; m <= p; m++)
                if (s1[p * t + m] != s2[p * t + m]) { same = 0; break; } /* == : the sign of a zero score cannot matter */
    }
    free(q), free(k), free(s1), free(kt);
    return same;
}

int kern_qk_causal_ok(size_t d, size_t t)
{
    if (kern_cpu_portable || d == 0 || d > MAX_D || t > 4096 || !have_avx512()) return 0;
    int ok = 0;
    #pragma omp critical(awq_qk_causal)
    {
        int i = 0;
        while (i < g_n_seen && (g_seen[i].d != d || g_seen[i].t != t)) i++;
        if (i == g_n_seen) { /* a new shape: check it (the table keeps the last N_SEEN) */
            i = g_n_seen < N_SEEN ? g_n_seen++ : (int)(t % N_SEEN);
            g_seen[i].d = d, g_seen[i].t = t, g_seen[i].ok = check(d, t) ? 1 : 2;
        }
        ok = g_seen[i].ok == 1;
    }
    return ok;
}
