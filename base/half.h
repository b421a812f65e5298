/* half.h - IEEE binary16 and bfloat16 <-> fp32 conversions, round to nearest even.
 * Subnormals are kept (spec §5 pitfall 3), NaN stays NaN, overflow gives +-Inf (callers that must
 * refuse overflow check with awq_f32_fits_f16 first). Scalar and exact: these are the `_ref`s. */
#ifndef AWQ_HALF_H
#define AWQ_HALF_H

#include <stddef.h>
#include <stdint.h>

uint16_t awq_f32_to_f16(float f);
float awq_f16_to_f32(uint16_t h);
uint16_t awq_f32_to_bf16(float f);
float awq_bf16_to_f32(uint16_t h);
/* h(v): round to the nearest fp16 value and back (the "fp16 op" of the spec). */
static inline float awq_round_f16(float f) { return awq_f16_to_f32(awq_f32_to_f16(f)); }
/* Finite and |f| <= 65504 (after rounding, i.e. it does not become Inf in fp16). */
int awq_f32_fits_f16(float f);

/* Array forms (n elements). */
void awq_f32_to_f16_n(uint16_t *dst, const float *src, size_t n);
void awq_f16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void awq_f32_to_bf16_n(uint16_t *dst, const float *src, size_t n);
void awq_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n);

#endif
