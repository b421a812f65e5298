/* quant_core.h - the pseudo-quantizer Q of one group (spec §2.10) as an inline function, shared
 * by the fast CPU ops that quantize (quantize, clip_search). kern_quantize_ref in quant.c is its
 * readable twin; the tests hold this one to it bit for bit. */
#ifndef AWQ_KERNELS_CPU_QUANT_CORE_H
#define AWQ_KERNELS_CPU_QUANT_CORE_H

#include "cpu.h"
#include "../half.h"

#include <math.h>
#include <stdint.h>

/* 1e-5 as torch's fp16 clamp sees it: 0x00a8 = 168 * 2^-24 (a subnormal, spec pitfall 3) */
#define QUANT_EPS_F16 (168.0f * 0x1p-24f)
#define QUANT_EPS_F32 1e-5f

static inline float quant_h(float x, int f16) { return f16 ? kern_round_f16_fast(x) : x; }

/* clamp(v, 0, maxq) with NaN -> 0, so that a code is always a valid small integer */
static inline float quant_clamp_code(float v, float maxq)
{
    if (!(v >= 0.0f)) return 0.0f;
    return v > maxq ? maxq : v;
}

/* Q of v[0..n) (n >= 1). Outputs are optional; deq may equal v. */
static inline void quant_group(float *deq, uint8_t *codes, float *scale_out, uint8_t *zero_out,
                               const float *v, size_t n, float maxq, int f16)
{
    float mx = -INFINITY, mn = INFINITY; /* comparisons skip NaN */
    for (size_t c = 0; c < n; c++) {
        if (v[c] > mx) mx = v[c];
        if (v[c] < mn) mn = v[c];
    }
    float range = quant_h(mx - mn, f16), eps = f16 ? QUANT_EPS_F16 : QUANT_EPS_F32;
    if (!(range >= eps)) range = eps; /* clamp(min=1e-5); an all-NaN group lands here too */
    float scale = quant_h(range / maxq, f16);
    float zero = quant_clamp_code(-rintf(quant_h(mn / scale, f16)), maxq);
    if (scale_out) *scale_out = scale;
    if (zero_out) *zero_out = (uint8_t)zero;
    for (size_t c = 0; c < n; c++) {
        float q = quant_clamp_code(quant_h(rintf(quant_h(v[c] / scale, f16)) + zero, f16), maxq);
        if (codes) codes[c] = (uint8_t)q;
        if (deq) deq[c] = quant_h((q - zero) * scale, f16);
    }
}

#endif
