/* expf.c - y = expf(x) over an array, 4 values at a time, with the bits of the C library's expf.
 * The softmax of the attention and silu call expf once per element, and one call costs more than
 * the rest of their arithmetic; their results must not change (the fp16-faithful activations feed
 * every later object). glibc's expf on a CPU with FMA (__expf_fma, sysdeps/ieee754/flt-32/e_expf.c
 * compiled with FMA) computes, in double:
 *     kd = fma(N/ln2, x, SHIFT); ki = bits(kd); kd -= SHIFT; r = fma(N/ln2, x, -kd)
 *     s  = bits^-1(T[ki % 32] + (ki << 47))            (N = 32: 2^(k/32) from a table)
 *     y  = (fma(fma(r, C0, C1), r*r, fma(r, C2, 1))) * s, rounded to float once
 * for |x| below 88 (the top 12 bits of x below 0x42b); larger |x|, Inf and NaN take its special
 * cases. The fast path below does those same operations on 4 lanes (AVX2 + FMA) and hands any
 * group with a lane beyond that range to expf (AVX-512: but for lanes below log(2^-150), which
 * are +0 as in expf). It is used only where it is that computation: on
 * a CPU with AVX2 and FMA, and after a start-up check against expf on 16384 inputs across the
 * range (a C library that computes expf otherwise fails it, and then every call is expf's);
 * test_backends sweeps it over hundreds of millions of inputs (cpu/expf_n_sweep). */
#include "cpu.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

static void expf_scalar(float *y, const float *x, size_t n)
{
    for (size_t e = 0; e < n; e++) y[e] = expf(x[e]);
}

#if HAVE_X86
static uint64_t g_tab[32]; /* bits of 2^(i/32) - (i << 47) */

static double from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

__attribute__((target("avx2,fma"))) static void expf_avx2(float *y, const float *x, size_t n)
{
    const __m256d inv_ln2n = _mm256_set1_pd(from_bits(0x40471547652b82feull)); /* 32 / ln 2 */
    const __m256d shift = _mm256_set1_pd(0x1.8p52);
    const __m256d c0 = _mm256_set1_pd(from_bits(0x3ebc6af84b912394ull)), c1 = _mm256_set1_pd(from_bits(0x3f2ebfce50fac4f3ull)),
                  c2 = _mm256_set1_pd(from_bits(0x3f962e42ff0c52d6ull)), one = _mm256_set1_pd(1.0);
    const __m128i top_max = _mm_set1_epi32(0x42a), top_mask = _mm_set1_epi32(0x7ff);
    const __m256i idx_mask = _mm256_set1_epi64x(31);
    size_t e = 0;
    for (; e + 4 <= n; e += 4) {
        const __m128 xf = _mm_loadu_ps(x + e);
        const __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_castps_si128(xf), 20), top_mask);
        if (_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(top, top_max)))) { /* |x| >= 88, Inf, NaN */
            expf_scalar(y + e, x + e, 4);
            continue;
        }
        const __m256d xd = _mm256_cvtps_pd(xf);
        __m256d kd = _mm256_fmadd_pd(inv_ln2n, xd, shift);
        const __m256i ki = _mm256_castpd_si256(kd);
        kd = _mm256_sub_pd(kd, shift);
        const __m256d r = _mm256_fmsub_pd(inv_ln2n, xd, kd);
        __m256i t = _mm256_i64gather_epi64((const long long *)g_tab, _mm256_and_si256(ki, idx_mask), 8);
        t = _mm256_add_epi64(t, _mm256_slli_epi64(ki, 47));
        const __m256d z = _mm256_fmadd_pd(r, c0, c1), r2 = _mm256_mul_pd(r, r);
        __m256d v = _mm256_fmadd_pd(r, c2, one);
        v = _mm256_fmadd_pd(z, r2, v);
        v = _mm256_mul_pd(v, _mm256_castsi256_pd(t));
        _mm_storeu_ps(y + e, _mm256_cvtpd_ps(v));
    }
    expf_scalar(y + e, x + e, n - e);
}

/* 8 lanes of the computation above in AVX-512 (the table lookup as two two-register permutes
 * instead of a gather). */
__attribute__((target("avx512f"))) static inline __m256 exp8_avx512(__m256 xf, const __m512i tab[4])
{
    const __m512d inv_ln2n = _mm512_set1_pd(from_bits(0x40471547652b82feull)), shift = _mm512_set1_pd(0x1.8p52);
    const __m512d xd = _mm512_cvtps_pd(xf);
    __m512d kd = _mm512_fmadd_pd(inv_ln2n, xd, shift);
    const __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, shift);
    const __m512d r = _mm512_fmsub_pd(inv_ln2n, xd, kd);
    /* T[ki % 32]: entries 0-15 from tab[0]:tab[1], 16-31 from tab[2]:tab[3] (the permute reads bits 0-3) */
    const __m512i lo = _mm512_permutex2var_epi64(tab[0], ki, tab[1]), hi = _mm512_permutex2var_epi64(tab[2], ki, tab[3]);
    __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)), lo, hi);
    t = _mm512_add_epi64(t, _mm512_slli_epi64(ki, 47));
    const __m512d z = _mm512_fmadd_pd(r, _mm512_set1_pd(from_bits(0x3ebc6af84b912394ull)), _mm512_set1_pd(from_bits(0x3f2ebfce50fac4f3ull)));
    __m512d v = _mm512_fmadd_pd(r, _mm512_set1_pd(from_bits(0x3f962e42ff0c52d6ull)), _mm512_set1_pd(1.0));
    v = _mm512_fmadd_pd(z, _mm512_mul_pd(r, r), v);
    return _mm512_cvtpd_ps(_mm512_mul_pd(v, _mm512_castsi512_pd(t)));
}

/* 16 values a step (two independent halves). expf's special cases for |x| >= 88 send x in
 * [log(2^-149), 88.72] back to the computation above and return +0 below log(2^-150) (-Inf
 * included), so those lanes stay here; a step with any other lane (NaN, overflow, the band where
 * expf may underflow to the least subnormal) goes to expf. */
__attribute__((target("avx512f"))) static void expf_avx512(float *y, const float *x, size_t n)
{
    const __m512i tab[4] = {_mm512_loadu_si512(g_tab), _mm512_loadu_si512(g_tab + 8), _mm512_loadu_si512(g_tab + 16),
                            _mm512_loadu_si512(g_tab + 24)};
    const __m512 uflow = _mm512_set1_ps(-0x1.9fe368p6f), lo = _mm512_set1_ps(-0x1.9d1d9ep6f), hi = _mm512_set1_ps(0x1.62e42ep6f);
    size_t e = 0;
    for (; e + 16 <= n; e += 16) {
        const __m512 xf = _mm512_loadu_ps(x + e);
        const __mmask16 zero = _mm512_cmp_ps_mask(xf, uflow, _CMP_LT_OQ),
                        normal = _mm512_cmp_ps_mask(xf, lo, _CMP_GE_OQ) & _mm512_cmp_ps_mask(xf, hi, _CMP_LE_OQ);
        if ((__mmask16)~(zero | normal)) {
            expf_scalar(y + e, x + e, 16);
            continue;
        }
        const __m256 a = exp8_avx512(_mm512_castps512_ps256(xf), tab),
                     b = exp8_avx512(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xf), 1)), tab);
        __m512 v = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(a)), _mm256_castps_pd(b), 1));
        _mm512_storeu_ps(y + e, _mm512_mask_blend_ps(zero, v, _mm512_setzero_ps()));
    }
    expf_avx2(y + e, x + e, n - e);
}

static int g_fast; /* 0: expf; 1: expf_avx2; 2: expf_avx512 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Set up the table and decide: the fast path only where it gives expf's bits. */
static void fast_init(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    for (int i = 0; i < 32; i++) {
        double v = exp2((double)i / 32.0);
        uint64_t u;
        memcpy(&u, &v, 8);
        g_tab[i] = u - ((uint64_t)i << 47);
    }
    enum { N = 16384 };
    static float xs[N], got[N];
    for (int i = 0; i < N; i++) { /* bit patterns spread over [-128, 128], both signs, and small ones */
        uint32_t u = (uint32_t)((uint64_t)i * 0x43000000u / N) | (i & 1 ? 0x80000000u : 0);
        memcpy(&xs[i], &u, 4);
    }
    for (int path = 1; path <= 2; path++) {
        if (path == 2 && !__builtin_cpu_supports("avx512f")) break;
        (path == 1 ? expf_avx2 : expf_avx512)(got, xs, N);
        for (int i = 0; i < N; i++) {
            float want = expf(xs[i]);
            if (memcmp(&want, &got[i], 4) != 0) return;
        }
        g_fast = path;
    }
}
#endif

int kern_expf_n_is_fast(void)
{
#if HAVE_X86
    pthread_once(&g_once, fast_init);
    return g_fast;
#else
    return 0;
#endif
}

void kern_expf_n(float *y, const float *x, size_t n)
{
#if HAVE_X86
    switch (kern_cpu_portable ? 0 : kern_expf_n_is_fast()) {
    case 2: expf_avx512(y, x, n); return;
    case 1: expf_avx2(y, x, n); return;
    }
#endif
    expf_scalar(y, x, n);
}
