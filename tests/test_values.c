/* test_values.c - the magnitude scan awq-plan runs while hashing (stages/common/values.h), held
 * to references built from float arithmetic on the converted values (base/half.h): the largest
 * |x| (NaN above Inf above any finite value), and the first element that is not finite or that
 * fp16 cannot hold (awq_f32_fits_f16), with their counts, for F16, BF16 and F32 arrays of every
 * length around the scan's lane widths, with NaN, Inf, overflowing and subnormal values planted. */
#include "test.h"
#include "../base/half.h"
#include "../stages/common/values.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* n random values of dtype dt in buf, with specials planted; their float values in ref */
static void fill(awq_dtype dt, void *buf, float *ref, size_t n)
{
    static const float special[] = {NAN, INFINITY, -INFINITY, 70000.0f, -99840.0f, 65504.0f, 65519.0f, 65520.0f,
                                    1e-7f, -3e-41f, 0.0f, -0.0f};
    for (size_t i = 0; i < n; i++) {
        float v = t_randf(-4, 4);
        if (t_rand() % 16 == 0) v = special[t_rand() % (sizeof special / sizeof special[0])];
        if (dt == AWQ_DT_F16) { ((uint16_t *)buf)[i] = awq_f32_to_f16(v); ref[i] = awq_f16_to_f32(((uint16_t *)buf)[i]); }
        else if (dt == AWQ_DT_BF16) { ((uint16_t *)buf)[i] = awq_f32_to_bf16(v); ref[i] = awq_bf16_to_f32(((uint16_t *)buf)[i]); }
        else { ((float *)buf)[i] = v; ref[i] = v; }
    }
}

static void t_largest_magnitude(void)
{
    const awq_dtype dts[] = {AWQ_DT_F16, AWQ_DT_BF16, AWQ_DT_F32};
    int bad = 0;
    for (int d = 0; d < 3; d++)
        for (int round = 0; round < 2000; round++) {
            size_t n = (size_t)(t_rand() % 200);
            float ref[200];
            uint32_t buf[200];
            fill(dts[d], buf, ref, n);
            int nan = 0;
            float most = 0;
            for (size_t i = 0; i < n; i++) {
                if (isnan(ref[i])) nan = 1;
                else if (fabsf(ref[i]) > most) most = fabsf(ref[i]);
            }
            uint32_t got = awq_mag_max(buf, dts[d], n);
            int ok = nan ? got > AWQ_MAG_NONFINITE : got == fbits(most);
            if (!ok && bad++ < 5) CHECK(0, "%s n=%zu: got 0x%08x, want %s 0x%08x", awq_dtype_name(dts[d]), n, got,
                                        nan ? "NaN, above" : "", nan ? AWQ_MAG_NONFINITE : fbits(most));
        }
    CHECK(bad == 0, "%d mismatches", bad);
}

static void t_first_bad_value(void)
{
    const awq_dtype dts[] = {AWQ_DT_F16, AWQ_DT_BF16, AWQ_DT_F32};
    int bad = 0;
    for (int d = 0; d < 3; d++)
        for (int round = 0; round < 2000; round++) {
            size_t n = (size_t)(t_rand() % 200);
            float ref[200];
            uint32_t buf[200];
            fill(dts[d], buf, ref, n);
            for (int which = 0; which < 2; which++) {
                const uint32_t bound = which ? AWQ_MAG_F16_OVER : AWQ_MAG_NONFINITE;
                size_t want = n, want_count = 0;
                for (size_t i = 0; i < n; i++) {
                    int hit = which ? !awq_f32_fits_f16(ref[i]) : !isfinite(ref[i]);
                    if (hit && want == n) want = i;
                    want_count += (size_t)hit;
                }
                size_t count = 99, got = awq_mag_find(buf, dts[d], n, bound, &count);
                /* and the scan agrees with the search: a magnitude at the bound iff a value is found */
                int agree = (awq_mag_max(buf, dts[d], n) >= bound) == (want < n);
                if ((got != want || count != want_count || !agree) && bad++ < 5)
                    CHECK(0, "%s n=%zu %s: first %zu (want %zu), count %zu (want %zu), max agrees %d", awq_dtype_name(dts[d]), n,
                          which ? "beyond fp16" : "non-finite", got, want, count, want_count, agree);
                if (want < n && isnan(ref[want]) != isnan(awq_value_at(buf, dts[d], want)) && bad++ < 5)
                    CHECK(0, "value_at of a NaN");
            }
        }
    CHECK(bad == 0, "%d mismatches", bad);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"largest_magnitude", t_largest_magnitude},
        {"first_bad_value", t_first_bad_value},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
