/* quant.h - host-side helpers of the AWQ quantization math (spec §2.6, §2.10-§2.12, §3.1): group
 * sizes, the clip grid, the scale formula and the AutoAWQ GEMM packing. Every backend shares them;
 * the ops that touch big tensors on a device (quantize, w_mean, clip_search, clip_apply) are in the
 * backend table of kernels.h. All pointers here are host memory; outputs are caller-owned. */
#ifndef AWQ_KERNELS_QUANT_H
#define AWQ_KERNELS_QUANT_H

#include "kernels.h"

#include <stddef.h>
#include <stdint.h>

/* ---- parameters ----------------------------------------------------------------------------- */

/* The group size g used for a row of i input channels: `group` itself, or the whole row (g = i)
 * when group is 0 or -1 (spec §2.8 "if g <= 0: g = I"). KERN_ERR_ARG when i = 0, group < -1 or
 * g does not divide i (spec pitfall 17); *g is then 0. The number of groups is i / *g. */
kern_status kern_quant_group(size_t *g, size_t i, int64_t group);

/* Number of clip candidates, int(max_shrink * n_grid) as Python computes it (0.5 * 20 = 10,
 * spec pitfall 7). 0 when n_grid < 1 or max_shrink is not in (0, 1] or the product is below 1:
 * callers treat 0 as invalid parameters. */
size_t kern_clip_candidates(int n_grid, double max_shrink);

/* ---- scale formula (spec §2.6 and the duo form of §2.12) ------------------------------------- */

/* The scale vector of one grid point r = k / n_grid (pass r as the double Python computes):
 *   x-only (wm == NULL): s = h(max(h(xs^r), 1e-4))
 *   duo (wm given):      s = h(max(h(h(xs^r) / d), 1e-4)), d = h(h(wm^(1-r)) + 1e-4) with
 *                        autoawq, d = h(wm^(1-r)) without (llm-awq's first formula, no eps)
 *   then s = h(s / h(sqrt(h(max(s) * min(s)))))  and, with autoawq, inf/NaN entries -> 1.
 * torch's pow(tensor, Python float) converts the exponent to the tensor's dtype, so in faithful
 * mode the exponents are h(r) and h(1 - r) (not in spec §2.6; AutoAWQ's fp16 results in
 * tests/golden/awq agree only this way), fp32 values otherwise; an exponent of exactly 0.5 uses
 * sqrt like torch. round_f16 = 1: every h() above with the constants as fp16 values
 * (1e-4 = 0x068e, spec pitfall 3); round_f16 = 0: no h(), fp32 constants. xs is the mean |x|
 * per channel (mean_abs), wm the statistic of w_mean.
 * KERN_ERR_ARG when n = 0 or r is outside [0, 1]. */
kern_status kern_scale_formula(float *s /*[n]*/, const float *xs /*[n]*/, const float *wm /*[n] or NULL*/,
                               size_t n, double r, int round_f16, int autoawq);

/* ---- AutoAWQ GEMM packing (spec §3.1, §2.11, pitfall 18) -------------------------------------- */

/* Nibble order of the GEMM format: bits [4k, 4k+4) of a word hold output channel
 * 8c + KERN_AWQ_ORDER[k]; channel 8c + j sits in nibble KERN_AWQ_REVERSE[j]. */
extern const int KERN_AWQ_ORDER[8];
extern const int KERN_AWQ_REVERSE[8];

/* One packed word from the 4-bit codes of 8 consecutive output channels (codes are masked with
 * 0xF). The bit pattern is returned as uint32; store it as int32. */
uint32_t kern_pack8(const uint8_t code[8]);

/* Pack a quantized linear (out = o, in = i, G = i / g groups; codes/zeros/scales from the
 * quantize op with w_bit = 4) into the tensors of the checkpoint:
 *   qweight[k][c] = the codes q[8c..8c+7][k]  (packed along the OUTPUT dimension),
 *   qzeros[j][c]  = the zeros z[8c..8c+7][j], in the same nibble order,
 *   scales16[j][o] = fp16 bits of scale[o][j] (transposed; RNE, so fp32-mode scales are rounded).
 * Words are in host byte order (little-endian on every supported host), as safetensors wants.
 * KERN_ERR_ARG when o % 8 != 0, the group does not divide i (kern_quant_group), a code or zero is
 * above 15 (not 4-bit data), or a scale is not finite or does not fit fp16. The outputs are then
 * unspecified. */
kern_status kern_pack_gemm(int32_t *qweight /*[i, o/8]*/, int32_t *qzeros /*[G, o/8]*/,
                           uint16_t *scales16 /*[G, o]*/, const uint8_t *codes /*[o, i]*/,
                           const uint8_t *zeros /*[o, G]*/, const float *scales /*[o, G]*/,
                           size_t o, size_t i, int64_t group);
/* The two halves of kern_pack_gemm: the qweight words (KERN_ERR_ARG when o % 8 != 0 or a code is
 * above 15), and qzeros + scales16 (KERN_ERR_ARG as kern_pack_gemm for a bad shape, zero or
 * scale). The backend op pack_qweight does the first where the codes are. */
kern_status kern_pack_qweight(int32_t *qweight /*[i, o/8]*/, const uint8_t *codes /*[o, i]*/, size_t o, size_t i);
kern_status kern_pack_zeros_scales(int32_t *qzeros /*[G, o/8]*/, uint16_t *scales16 /*[G, o]*/,
                                   const uint8_t *zeros /*[o, G]*/, const float *scales /*[o, G]*/, size_t o, size_t i,
                                   int64_t group);

/* The inverse of kern_pack_gemm (nibbles read in KERN_AWQ_REVERSE order): codes [o, i], zeros
 * [o, G] and the scales as fp32 [o, G]. Any output may be NULL. Errors as kern_pack_gemm (shape
 * only: every nibble is a valid 4-bit value). */
kern_status kern_unpack_gemm(uint8_t *codes /*[o, i] or NULL*/, uint8_t *zeros /*[o, G] or NULL*/,
                             float *scales /*[o, G] or NULL*/, const int32_t *qweight /*[i, o/8]*/,
                             const int32_t *qzeros /*[G, o/8]*/, const uint16_t *scales16 /*[G, o]*/,
                             size_t o, size_t i, int64_t group);

/* The weight a packed checkpoint stands for, as every AWQ kernel computes it (always fp16
 * arithmetic, the checkpoint is fp16): w[o][k] = h((q - z) * s) with q, z, s of (k, o) read as
 * in kern_unpack_gemm. w is [o, i] like the original nn.Linear weight (not the transposed Wt of
 * the kernels), ready for the matmul op. Errors as kern_unpack_gemm. */
kern_status kern_dequant_gemm(float *w /*[o, i]*/, const int32_t *qweight /*[i, o/8]*/,
                              const int32_t *qzeros /*[G, o/8]*/, const uint16_t *scales16 /*[G, o]*/,
                              size_t o, size_t i, int64_t group);

#endif
