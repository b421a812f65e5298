/* round_f16.c - storing activations as fp16: x = h(x) over a buffer, and the overflow check
 * that must come first where overflow is an error (spec §5 pitfall 21).
 * _ref: awq_round_f16 / awq_f32_fits_f16 per element. Fast: the CPU's own fp32 -> fp16 -> fp32
 * conversions (F16C: round to nearest even, subnormal halves, overflow to Inf, as awq_round_f16)
 * where it has them, 8 or 16 at a time, else a bit-level RNE 4 at a time; parallel loops.
 * kern_round_f16_n is that in-place h() over a short array for the other ops' hot loops too. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#if HAVE_X86
/* x -> fp16 (round to nearest even: the instruction's immediate, not MXCSR) -> fp32; NaN lanes
 * then become awq_round_f16's quiet NaN with x's sign (the instruction would keep the payload). */
__attribute__((target("avx2,f16c"))) static void round_n_f16c(float *v, size_t n)
{
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u)),
                 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
    size_t e = 0;
    for (; e + 8 <= n; e += 8) {
        const __m256 x = _mm256_loadu_ps(v + e);
        __m256 r = _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        r = _mm256_blendv_ps(r, _mm256_or_ps(_mm256_and_ps(x, sign), qnan), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
        _mm256_storeu_ps(v + e, r);
    }
    kern_round_f16_n_v4(v + e, n - e);
}

__attribute__((target("avx512f"))) static void round_n_avx512(float *v, size_t n)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u), qnan = _mm512_set1_epi32(0x7fc00000);
    size_t e = 0;
    for (; e + 16 <= n; e += 16) {
        const __m512 x = _mm512_loadu_ps(v + e);
        const __m512 r = _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        const __m512i q = _mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(x), sign), qnan);
        _mm512_storeu_ps(v + e, _mm512_mask_blend_ps(nan, r, _mm512_castsi512_ps(q)));
    }
    round_n_f16c(v + e, n - e);
}
#endif

static void (*g_round_n)(float *, size_t) = kern_round_f16_n_v4;
static const char *g_round_path = "4 lanes of bit arithmetic";
static int g_round_lanes = 4;
static pthread_once_t g_round_once = PTHREAD_ONCE_INIT;

/* The fastest form that gives awq_round_f16's bits on a set of hard inputs: every half's
 * neighbourhood (ties, just above and below), subnormal halves, the overflow edge, Inf, NaNs. */
static void round_init(void)
{
#if HAVE_X86
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("f16c")) return;
    enum { N = 65536 * 4 + 8 };
    static float x[N], got[N];
    size_t n = 0;
    for (uint32_t h = 0; h < 65536; h++) { /* the half h as fp32, then the tie above it and its neighbours */
        float f = awq_f16_to_f32((uint16_t)h);
        uint32_t u;
        memcpy(&u, &f, 4);
        uint32_t tie = (h & 0x7c00u) == 0x7c00u ? u : u + ((h & 0x7c00u) ? 0x1000u : 0u);
        const uint32_t c[4] = {u, tie, tie + 1, tie - 1};
        for (int k = 0; k < 4; k++) memcpy(&x[n++], &c[k], 4);
    }
    const uint32_t odd[8] = {0x477ff000u, 0x477fefffu, 0xc77ff000u, 0x7f800001u, 0xffc12345u, 0x33000000u, 0x33000001u, 0x80000001u};
    for (int k = 0; k < 8; k++) memcpy(&x[n++], &odd[k], 4);
    for (int path = 0; path < 2; path++) {
        if (path == 1 && !__builtin_cpu_supports("avx512f")) break;
        memcpy(got, x, sizeof x);
        (path ? round_n_avx512 : round_n_f16c)(got, n);
        for (size_t e = 0; e < n; e++) {
            float want = awq_round_f16(x[e]);
            if (memcmp(&want, &got[e], 4) != 0) return;
        }
        g_round_n = path ? round_n_avx512 : round_n_f16c;
        g_round_lanes = path ? 16 : 8;
        g_round_path = path ? "F16C conversions, 16 lanes (AVX-512)" : "F16C conversions, 8 lanes (AVX2)";
    }
#endif
}

int kern_cpu_portable;

void kern_round_f16_n(float *v, size_t n)
{
    pthread_once(&g_round_once, round_init);
    (kern_cpu_portable ? kern_round_f16_n_v4 : g_round_n)(v, n);
}

int kern_round_f16_n_lanes(void)
{
    pthread_once(&g_round_once, round_init);
    return kern_cpu_portable ? 4 : g_round_lanes;
}

const char *kern_round_f16_n_path(void)
{
    pthread_once(&g_round_once, round_init);
    return g_round_path;
}

kern_status kern_round_f16_ref(float *x, size_t n)
{
    for (size_t e = 0; e < n; e++) x[e] = awq_round_f16(x[e]);
    return KERN_OK;
}

kern_status cpu_round_f16(awq_backend_ctx *ctx, float *x, size_t n)
{
    (void)ctx;
    const size_t blk = 4096, nb = (n + blk - 1) / blk;
    #pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) kern_round_f16_n(x + b * blk, b + 1 < nb ? blk : n - b * blk);
    return KERN_OK;
}

kern_status kern_check_f16_ref(const float *x, size_t n, size_t *first_bad)
{
    size_t e = 0;
    while (e < n && awq_f32_fits_f16(x[e])) e++;
    *first_bad = e;
    return KERN_OK;
}

kern_status cpu_check_f16(awq_backend_ctx *ctx, const float *x, size_t n, size_t *first_bad)
{
    (void)ctx;
    size_t bad = n;
    /* |x| < 65520 as bits (NaN and Inf have larger bit patterns); lowest index wins */
    #pragma omp parallel for schedule(static) reduction(min : bad)
    for (size_t e = 0; e < n; e++) {
        uint32_t u;
        memcpy(&u, &x[e], 4);
        if ((u & 0x7fffffffu) >= 0x477ff000u && e < bad) bad = e;
    }
    *first_bad = bad;
    return KERN_OK;
}
