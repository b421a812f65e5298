/* ct.c - the compressed-tensors pack-quantized layout of a linear (ct.h): dense bit packing,
 * the conversion from awqmake's codes or from the AutoAWQ GEMM layout, and dequantization. */
#include "ct.h"

#include <stdlib.h>
#include <string.h>

#include "../../base/half.h"
#include "../../kernels/quant.h"

const char *const AWQ_CT_SUFFIX[4] = {"weight_packed", "weight_scale", "weight_zero_point", "weight_shape"};

size_t awq_ct_words(size_t n, int bits) { return (n * (size_t)bits + 31) / 32; }

/* value k of the bit string at bits [k*b, k*b+b): its low part in word k*b/32, the rest (when it
 * straddles) in the next word; words are OR-ed, so `w` must start zeroed */
static void put(uint32_t *w, size_t stride, size_t k, unsigned v, int bits)
{
    size_t bit = k * (size_t)bits, word = bit / 32;
    unsigned off = (unsigned)(bit % 32);
    w[word * stride] |= (uint32_t)v << off;
    if (off + (unsigned)bits > 32) w[(word + 1) * stride] |= (uint32_t)v >> (32 - off);
}

unsigned awq_ct_get(const int32_t *words, size_t stride, size_t k, int bits)
{
    const uint32_t *w = (const uint32_t *)words;
    size_t bit = k * (size_t)bits, word = bit / 32;
    unsigned off = (unsigned)(bit % 32), mask = (1u << bits) - 1;
    uint64_t v = w[word * stride] >> off;
    if (off + (unsigned)bits > 32) v |= (uint64_t)w[(word + 1) * stride] << (32 - off);
    return (unsigned)v & mask;
}

void awq_ct_pack_rows(int32_t *out, const uint8_t *codes, size_t rows, size_t cols, int bits)
{
    const size_t nw = awq_ct_words(cols, bits);
    memset(out, 0, rows * nw * sizeof *out);
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < cols; k++) put((uint32_t *)out + r * nw, 1, k, codes[r * cols + k], bits);
}

void awq_ct_pack_cols(int32_t *out, const uint8_t *codes, size_t rows, size_t cols, int bits)
{
    memset(out, 0, awq_ct_words(rows, bits) * cols * sizeof *out);
    for (size_t c = 0; c < cols; c++)
        for (size_t k = 0; k < rows; k++) put((uint32_t *)out + c, cols, k, codes[k * cols + c], bits);
}

void awq_ct_linear_free(awq_ct_linear *l)
{
    free(l->packed); free(l->scale); free(l->zero);
    memset(l, 0, sizeof *l);
}

awq_err awq_ct_from_codes(awq_ct_linear *out, const uint8_t *codes, const uint8_t *zeros, const uint16_t *scale16,
                          size_t o, size_t i, size_t G, int bits)
{
    memset(out, 0, sizeof *out);
    if (bits < 1 || bits > 8 || G == 0 || i % G) return awq_fail(AWQ_ERR_ARG, "%zu groups of %d bits do not divide %zu inputs", G, bits, i);
    *out = (awq_ct_linear){o, i, G, bits, malloc(o * awq_ct_words(i, bits) * 4 + 1), malloc(o * G * 2 + 1),
                           malloc(awq_ct_words(o, bits) * G * 4 + 1), {(int64_t)o, (int64_t)i}};
    if (!out->packed || !out->scale || !out->zero) { awq_ct_linear_free(out); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    awq_ct_pack_rows(out->packed, codes, o, i, bits);
    awq_ct_pack_cols(out->zero, zeros, o, G, bits);
    memcpy(out->scale, scale16, o * G * 2);
    return AWQ_OK;
}

awq_err awq_ct_from_gemm(awq_ct_linear *out, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales16,
                         size_t o, size_t i, size_t G)
{
    memset(out, 0, sizeof *out);
    if (G == 0 || i % G || o % 8) return awq_fail(AWQ_ERR_FORMAT, "not a GEMM linear: [%zu, %zu] in %zu groups", o, i, G);
    uint8_t *codes = malloc(o * i + 1), *zeros = malloc(o * G + 1);
    uint16_t *sc = malloc(o * G * 2 + 1);
    awq_err e = codes && zeros && sc ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    /* the codes and zeros in awqmake's order ([o, i], [o, G]); the scales transposed as they are
     * (fp16 bits unchanged: the converter's scales.T) */
    if (!e && kern_unpack_gemm(codes, zeros, NULL, qweight, qzeros, scales16, o, i, G == 1 ? -1 : (int64_t)(i / G)) != KERN_OK)
        e = awq_fail(AWQ_ERR_FORMAT, "not a GEMM linear: [%zu, %zu] in %zu groups", o, i, G);
    for (size_t r = 0; !e && r < o; r++)
        for (size_t j = 0; j < G; j++) sc[r * G + j] = scales16[j * o + r];
    if (!e) e = awq_ct_from_codes(out, codes, zeros, sc, o, i, G, 4);
    free(codes); free(zeros); free(sc);
    return e;
}

void awq_ct_dequant(float *w, const int32_t *packed, const uint16_t *scale16, const int32_t *zero, size_t o, size_t i,
                    size_t G, int bits)
{
    const size_t nw = awq_ct_words(i, bits), g = i / G;
    #pragma omp parallel for schedule(static)
    for (size_t r = 0; r < o; r++)
        for (size_t j = 0; j < G; j++) {
            float z = (float)awq_ct_get(zero + j, G, r, bits), s = awq_f16_to_f32(scale16[r * G + j]);
            for (size_t k = j * g; k < (j + 1) * g; k++)
                w[r * i + k] = awq_round_f16(((float)awq_ct_get(packed + r * nw, 1, k, bits) - z) * s);
        }
}
