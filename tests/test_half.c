/* test_half.c - fp16/bf16 conversions against independent references: the compiler's
 * _Float16 (libgcc's RNE conversion) exhaustively over all 65536 halves and on random floats;
 * bf16 by checking that the result is the nearest bf16 with ties to even. */
#include "test.h"
#include "../base/half.h"

#include <math.h>
#include <string.h>

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float ffrom(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void t_f16_exhaustive_decode(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        _Float16 r; uint16_t hh = (uint16_t)h; memcpy(&r, &hh, 2);
        float want = (float)r, got = awq_f16_to_f32(hh);
        if (isnan(want) ? !isnan(got) : fbits(want) != fbits(got)) {
            if (bad++ < 5) CHECK(0, "h=0x%04x want %a got %a", h, want, got);
        }
        /* and back: every half survives the round trip */
        if (!isnan(want) && awq_f32_to_f16(got) != hh) { if (bad++ < 5) CHECK(0, "roundtrip 0x%04x", h); }
    }
    CHECK(bad == 0, "%d mismatches", bad);
}

static void t_f16_encode_random_and_ties(void)
{
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        /* all exponents from tiny subnormal range to overflow */
        uint32_t u = (uint32_t)t_rand();
        u = (u & 0x807fffffu) | ((uint32_t)(90 + (t_rand() % 60)) << 23);
        if (i % 4 == 0) u &= ~0x00000fffu, u |= 0x1000u; /* exact ties at the f16 rounding bit */
        float f = ffrom(u);
        _Float16 r = (_Float16)f; uint16_t want; memcpy(&want, &r, 2);
        uint16_t got = awq_f32_to_f16(f);
        if (want != got && bad++ < 5) CHECK(0, "f=%a want 0x%04x got 0x%04x", f, want, got);
    }
    CHECK(bad == 0, "%d mismatches", bad);
    CHECK(awq_f32_to_f16(65504.0f) == 0x7bff, "max half");
    CHECK(awq_f32_to_f16(65520.0f) == 0x7c00, "65520 rounds to inf");
    CHECK(awq_f32_to_f16(1e-5f) == 0x00a8, "spec pitfall 3: 1e-5 -> 0x00a8, got 0x%04x", awq_f32_to_f16(1e-5f));
    CHECK(awq_f32_to_f16(1e-4f) == 0x068e, "spec pitfall 3: 1e-4 -> 0x068e");
    CHECK(awq_f32_to_f16(1e-6f) == 0x0011, "spec pitfall 3: 1e-6 -> 0x0011");
    CHECK(!awq_f32_fits_f16(65520.0f) && awq_f32_fits_f16(65504.0f) && !awq_f32_fits_f16(NAN), "fits");
}

static void t_bf16_nearest_even(void)
{
    int bad = 0;
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)t_rand();
        if (i % 3 == 0) u = (u & 0xffff0000u) | 0x8000u; /* ties */
        float f = ffrom(u);
        if (isnan(f)) continue;
        uint16_t got = awq_f32_to_bf16(f);
        uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
        /* the upper neighbour as a double: past the largest finite bf16 it is 2^128 */
        double vhi = isinf(ffrom(hi)) ? copysign(ldexp(1.0, 128), f) : (double)ffrom(hi);
        double dlo = fabs((double)f - (double)ffrom(lo)), dhi = fabs(vhi - (double)f);
        uint16_t want = (dlo < dhi || (dlo == dhi && !((lo >> 16) & 1))) ? (uint16_t)(lo >> 16) : (uint16_t)(hi >> 16);
        if (got != want && bad++ < 5) CHECK(0, "f=%a want 0x%04x got 0x%04x", f, want, got);
        if (awq_bf16_to_f32(got) != ffrom((uint32_t)got << 16)) bad++;
    }
    CHECK(bad == 0, "%d mismatches", bad);
    CHECK(isnan(awq_bf16_to_f32(awq_f32_to_bf16(NAN))), "nan stays nan");
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"f16_exhaustive_decode", t_f16_exhaustive_decode},
        {"f16_encode_random_and_ties", t_f16_encode_random_and_ties},
        {"bf16_nearest_even", t_bf16_nearest_even},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
