/* rope.c - rotary position embedding, rotate_half convention (spec §1.5, pitfall 15):
 * the first and second halves of each head (of its first rotary_dim values, Phi-3's partial
 * rotary) are the two coordinates of d/2 rotations; with
 * rope->interleave (DeepSeek) the pairs (x[2j], x[2j+1]) are, and the result is written in halves
 * (transformers' apply_rotary_pos_emb_interleave). Yarn multiplies cos and sin by its attention
 * factor. _ref: cos/sin recomputed for every element. Fast: cos/sin once per row for all heads,
 * rows in parallel, the rotation 4 pairs at a time (vec.h: the same bits). */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The interleaved layout's pairs moved to halves, in place: (x0, x2, ..., x1, x3, ...). The rotation
 * of the halves then computes transformers' interleaved result (the same products and sums). */
static void deinterleave(float *x, float *tmp, size_t d)
{
    size_t half = d / 2;
    for (size_t j = 0; j < half; j++) tmp[j] = x[2 * j], tmp[j + half] = x[2 * j + 1];
    memcpy(x, tmp, d * sizeof *x);
}

/* The rope op's shape rule (ops.def): d and the rotated width rd even, rd <= d, interleave whole heads. */
static int rope_args_ok(size_t d, const kern_rope *rope)
{
    size_t rd = kern_rope_dim(rope, d);
    return d % 2 == 0 && rd % 2 == 0 && rd <= d && (!rope->interleave || rd == d);
}

kern_status kern_rope_ref(float *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                          const kern_rope *rope, int round_f16)
{
    if (!rope_args_ok(d, rope)) return KERN_ERR_ARG;
    size_t rd = kern_rope_dim(rope, d), half = rd / 2;
    float *f = malloc((d ? d + half : 1) * sizeof *f), *tmp = f + half;
    if (!f) return KERN_ERR_NOMEM;
    kern_rope_freqs(f, rd, rope);
    const float cs = kern_rope_cs_scale(rope);
    for (size_t r = 0; r < n; r++)
        for (size_t hd = 0; hd < heads; hd++) {
            float *x1 = x + r * heads * d + hd * d, *x2 = x1 + half;
            if (rope->interleave) deinterleave(x1, tmp, d);
            for (size_t j = 0; j < half; j++) {
                float ang = (float)pos[r] * f[j];
                float c = cosf(ang) * cs, s = sinf(ang) * cs; /* emb.cos() * attention_scaling */
                float a = x1[j], b = x2[j];
                if (round_f16) {
                    c = awq_round_f16(c), s = awq_round_f16(s);
                    /* h( h(x*cos) + h(rotate_half(x)*sin) ), rotate_half(x) = [-x2, x1] */
                    x1[j] = awq_round_f16(awq_round_f16(a * c) + awq_round_f16(-b * s));
                    x2[j] = awq_round_f16(awq_round_f16(b * c) + awq_round_f16(a * s));
                } else {
                    x1[j] = a * c - b * s;
                    x2[j] = b * c + a * s;
                }
            }
        }
    free(f);
    return KERN_OK;
}

kern_status cpu_rope(awq_backend_ctx *ctx, float *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                          const kern_rope *rope, int round_f16)
{
    (void)ctx;
    if (!rope_args_ok(d, rope)) return KERN_ERR_ARG;
    size_t half = kern_rope_dim(rope, d) / 2;
    if (n == 0 || heads == 0 || half == 0) return KERN_OK;
    /* f, then one cos/sin table (and a head for the de-interleave) per thread */
    float *f = malloc(half * sizeof *f);
    if (!f) return KERN_ERR_NOMEM;
    kern_rope_freqs(f, 2 * half, rope);
    const float cs_scale = kern_rope_cs_scale(rope);
    const int inter = rope->interleave;
    int nomem = 0;
    #pragma omp parallel
    {
        float *cs = malloc((2 * half + (inter ? d : 0)) * sizeof *cs);
        if (!cs) {
            #pragma omp atomic write
            nomem = 1;
        }
        #pragma omp for schedule(static)
        for (size_t r = 0; r < n; r++) {
            if (!cs) continue;
            float *c = cs, *s = cs + half;
            for (size_t j = 0; j < half; j++) {
                float ang = (float)pos[r] * f[j];
                c[j] = cosf(ang) * cs_scale, s[j] = sinf(ang) * cs_scale;
                if (round_f16) c[j] = awq_round_f16(c[j]), s[j] = awq_round_f16(s[j]);
            }
            for (size_t hd = 0; hd < heads; hd++) {
                float *x1 = x + r * heads * d + hd * d, *x2 = x1 + half;
                if (inter) deinterleave(x1, cs + 2 * half, d);
                if (round_f16) {
                    size_t j = 0;
                    for (; !kern_cpu_portable && j + 4 <= half; j += 4) { /* the same arithmetic 4 at a time */
                        const kv4f a = kv4_load(x1 + j), b = kv4_load(x2 + j), cj = kv4_load(c + j), sj = kv4_load(s + j);
                        kv4_store(x1 + j, kv4_round_f16(kv4_round_f16(a * cj) - kv4_round_f16(b * sj)));
                        kv4_store(x2 + j, kv4_round_f16(kv4_round_f16(b * cj) + kv4_round_f16(a * sj)));
                    }
                    for (; j < half; j++) {
                        float a = x1[j], b = x2[j];
                        x1[j] = kern_round_f16_fast(kern_round_f16_fast(a * c[j]) - kern_round_f16_fast(b * s[j]));
                        x2[j] = kern_round_f16_fast(kern_round_f16_fast(b * c[j]) + kern_round_f16_fast(a * s[j]));
                    }
                } else {
                    for (size_t j = 0; j < half; j++) {
                        float a = x1[j], b = x2[j];
                        x1[j] = a * c[j] - b * s[j];
                        x2[j] = b * c[j] + a * s[j];
                    }
                }
            }
        }
        free(cs);
    }
    free(f);
    return nomem ? KERN_ERR_NOMEM : KERN_OK;
}
