/* ct.h - the compressed-tensors "pack-quantized" layout of a quantized linear (asymmetric int
 * weights, group or channel strategy), as compressed-tensors 0.20 writes and reads it
 * (compressors/pack_quantized/helpers.py pack_to_int32 / unpack_from_int32, and the AutoAWQ
 * converter of entrypoints/convert/converters/autoawq.py):
 *   <linear>.weight_packed      I32 [o, ceil(i*b/32)]  the codes packed DENSELY along in_features:
 *                                                      value k of a row occupies bits [k*b, k*b+b) of
 *                                                      the row's bit string (word k*b/32, little-end
 *                                                      first; a value may straddle two words); the
 *                                                      pad bits after the last value are 0
 *   <linear>.weight_scale       F16 [o, G]             the scales (G = i / group; 1 for channel)
 *   <linear>.weight_zero_point  I32 [ceil(o*b/32), G]  the zeros packed the same way along out_features
 *   <linear>.weight_shape       I64 [2]                {o, i}
 * compressed-tensors stores signed values v = code - 2^(b-1) and adds 2^(b-1) back before
 * packing, so the packed bits are the unsigned codes and zeros of awqmake's quantizer unchanged;
 * the weight is (v - zp) * scale = (code - zero) * scale, in the scale's dtype. */
#ifndef AWQ_CT_H
#define AWQ_CT_H

#include <stddef.h>
#include <stdint.h>

#include "../../base/error.h"

/* ceil(n * bits / 32): the int32 words that n values of `bits` bits fill */
size_t awq_ct_words(size_t n, int bits);

/* Pack codes [rows, cols] (each < 2^bits) along cols: out [rows, awq_ct_words(cols, bits)]. */
void awq_ct_pack_rows(int32_t *out, const uint8_t *codes, size_t rows, size_t cols, int bits);
/* Pack codes [rows, cols] along rows: out [awq_ct_words(rows, bits), cols]. */
void awq_ct_pack_cols(int32_t *out, const uint8_t *codes, size_t rows, size_t cols, int bits);
/* Value k of a packed bit string `words` (the inverse of the packing above, one value). */
unsigned awq_ct_get(const int32_t *words, size_t stride, size_t k, int bits);

/* One linear in the layout (each array malloc'ed; awq_ct_linear_free). */
typedef struct awq_ct_linear {
    size_t o, i, G;
    int bits;
    int32_t *packed;   /* [o, awq_ct_words(i, bits)] */
    uint16_t *scale;   /* [o, G] fp16 bits */
    int32_t *zero;     /* [awq_ct_words(o, bits), G] */
    int64_t shape[2];  /* {o, i} */
} awq_ct_linear;

/* From codes [o, i], zeros [o, G] (unsigned, < 2^bits) and fp16 scales [o, G]. AWQ_ERR_NOMEM;
 * AWQ_ERR_ARG when G does not divide i or bits is not 1..8. */
awq_err awq_ct_from_codes(awq_ct_linear *out, const uint8_t *codes, const uint8_t *zeros, const uint16_t *scale16,
                          size_t o, size_t i, size_t G, int bits);
/* From an AutoAWQ GEMM linear (qweight [i, o/8], qzeros [G, o/8], scales [G, o] fp16; 4 bits),
 * the conversion compressed-tensors' AutoAWQConverter makes. Errors as awq_ct_from_codes, and
 * AWQ_ERR_FORMAT for shapes that are not a GEMM linear's. */
awq_err awq_ct_from_gemm(awq_ct_linear *out, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales16,
                         size_t o, size_t i, size_t G);
void awq_ct_linear_free(awq_ct_linear *l);

/* The weight w [o, i] a linear of the layout stands for, h((code - zero) * scale) with fp16
 * rounding (the checkpoint's dtype), as kern_dequant_gemm computes the GEMM one. */
void awq_ct_dequant(float *w, const int32_t *packed, const uint16_t *scale16, const int32_t *zero, size_t o, size_t i,
                    size_t G, int bits);

/* The four tensors' name suffixes, in the order above. */
extern const char *const AWQ_CT_SUFFIX[4];

#endif
