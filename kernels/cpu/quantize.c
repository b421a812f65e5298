/* quantize.c - the pseudo-quantizer Q (spec §2.10) over a weight matrix, optionally column-scaled
 * as in the scale search (§2.6). The math of one group is kernels/quant_core.h, shared with the
 * CUDA twin. _ref: one group at a time, one value at a time. Fast: groups in parallel, each in
 * `omp simd` loops over the same core. */
#include "cpu.h"
#include "ref.h"
#include "../quant_core.h"
#include "../quant.h"
#include "../../base/half.h"

#include <math.h>
#include <stdlib.h>

kern_status kern_quantize_ref(float *deq, uint8_t *codes, float *scales, uint8_t *zeros, const float *w,
                              const float *col_scale, size_t o, size_t i, int64_t group, int w_bit, int round_f16)
{
    size_t g;
    if (w_bit < 2 || w_bit > 8 || kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    size_t n_groups = i / g;
    float maxq = (float)((1 << w_bit) - 1);
    int f16 = round_f16 != 0;
    float *v = malloc(g * sizeof *v);
    if (!v) return KERN_ERR_NOMEM;
    for (size_t r = 0; r < o; r++)
        for (size_t j = 0; j < n_groups; j++) {
            size_t c0 = j * g;
            for (size_t c = 0; c < g; c++) {
                float x = w[r * i + c0 + c];
                v[c] = col_scale ? quant_h(x * col_scale[c0 + c], f16) : x;
            }
            float mx = -INFINITY, mn = INFINITY, scale, zero; /* signed max/min; NaN is skipped */
            for (size_t c = 0; c < g; c++) quant_extremes_add(&mx, &mn, v[c]);
            quant_params(&scale, &zero, mx, mn, maxq, f16);
            if (scales) scales[r * n_groups + j] = scale;
            if (zeros) zeros[r * n_groups + j] = (uint8_t)zero;
            for (size_t c = 0; c < g; c++) {
                float q = quant_code(v[c], scale, zero, maxq, f16);
                float d = quant_deq(q, scale, zero, f16);
                if (col_scale) d = quant_h(d / col_scale[c0 + c], f16);
                if (codes) codes[r * i + c0 + c] = (uint8_t)q;
                if (deq) deq[r * i + c0 + c] = d;
            }
        }
    free(v);
    return KERN_OK;
}

/* One group for the fast op: src [g] (already column-scaled when cs != NULL), outputs at their
 * offsets. qb, db: scratch [g] (codes as floats; deq when the caller wants none). f16 is a
 * constant at each call site, so the loops come out without the select. */
__attribute__((always_inline)) static inline void quantize_group(float *deq, uint8_t *codes, float *scale_out, uint8_t *zero_out, const float *src,
                                  const float *cs, size_t g, float maxq, int f16, float *qb, float *db)
{
    float mx, mn, scale, zero;
    quant_extremes(&mx, &mn, src, g);
    quant_params(&scale, &zero, mx, mn, maxq, f16);
    float *dq = deq ? deq : db;
    if (cs) {
        #pragma omp simd
        for (size_t c = 0; c < g; c++) {
            float q = quant_code(src[c], scale, zero, maxq, f16);
            qb[c] = q;
            dq[c] = quant_h(quant_deq(q, scale, zero, f16) / cs[c], f16);
        }
    } else {
        #pragma omp simd
        for (size_t c = 0; c < g; c++) {
            float q = quant_code(src[c], scale, zero, maxq, f16);
            qb[c] = q;
            dq[c] = quant_deq(q, scale, zero, f16);
        }
    }
    if (codes)
        for (size_t c = 0; c < g; c++) codes[c] = (uint8_t)qb[c];
    if (scale_out) *scale_out = scale;
    if (zero_out) *zero_out = (uint8_t)zero;
}

kern_status cpu_quantize(awq_backend_ctx *ctx, float *deq, uint8_t *codes, float *scales, uint8_t *zeros,
                              const float *w, const float *col_scale, size_t o, size_t i, int64_t group,
                              int w_bit, int round_f16)
{
    (void)ctx;
    size_t g;
    if (w_bit < 2 || w_bit > 8 || kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    size_t n_groups = i / g, total = o * n_groups;
    float maxq = (float)((1 << w_bit) - 1);
    int f16 = round_f16 != 0, nomem = 0;
    #pragma omp parallel reduction(| : nomem)
    {
        float *buf = malloc(3 * g * sizeof *buf); /* the scaled group, codes, deq scratch */
        nomem = !buf;
        #pragma omp for schedule(static)
        for (size_t e = 0; e < total; e++) {
            if (nomem) continue;
            size_t r = e / n_groups, c0 = e % n_groups * g, at = r * i + c0;
            const float *src = w + at, *cs = col_scale ? col_scale + c0 : NULL;
            if (cs) {
                if (f16) {
                    #pragma omp simd
                    for (size_t c = 0; c < g; c++) buf[c] = quant_h16(src[c] * cs[c]);
                } else {
                    for (size_t c = 0; c < g; c++) buf[c] = src[c] * cs[c];
                }
                src = buf;
            }
            float *dq = deq ? deq + at : NULL, *sc = scales ? scales + e : NULL;
            uint8_t *cd = codes ? codes + at : NULL, *zr = zeros ? zeros + e : NULL;
            if (f16) quantize_group(dq, cd, sc, zr, src, cs, g, maxq, 1, buf + g, buf + 2 * g);
            else quantize_group(dq, cd, sc, zr, src, cs, g, maxq, 0, buf + g, buf + 2 * g);
        }
        free(buf);
    }
    return nomem ? KERN_ERR_NOMEM : KERN_OK;
}
