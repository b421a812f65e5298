/* pack.c - AutoAWQ "GEMM" packing (spec §3.1, §2.11, pitfall 18): 4-bit codes packed eight to a
 * uint32 along the OUTPUT dimension in AWQ_ORDER, zeros likewise, scales transposed to fp16
 * [G, O]; and the way back (REVERSE order), for round trips and for evaluating packed
 * checkpoints. Host memory; OpenMP over blocks of rows of the packed tensors. The CPU's
 * pack_qweight op is kern_pack_qweight; its CUDA twin is cuda/pack.cu. */
#include "cpu.h"
#include "ref.h"
#include "../quant.h"
#include "../../base/half.h"

#include <string.h>

const int KERN_AWQ_ORDER[8] = {0, 2, 4, 6, 1, 3, 5, 7};
const int KERN_AWQ_REVERSE[8] = {0, 4, 1, 5, 2, 6, 3, 7};

uint32_t kern_pack8(const uint8_t code[8])
{
    uint32_t word = 0;
    for (int k = 0; k < 8; k++) word |= (uint32_t)(code[KERN_AWQ_ORDER[k]] & 0xFu) << (4 * k);
    return word;
}

/* nibble of channel 8c + j in a packed word */
static uint8_t unpack1(int32_t word, int j)
{
    uint32_t u;
    memcpy(&u, &word, 4);
    return (uint8_t)((u >> (4 * KERN_AWQ_REVERSE[j])) & 0xFu);
}

static int32_t as_i32(uint32_t u) { int32_t s; memcpy(&s, &u, 4); return s; }

static kern_status shape_ok(size_t *g, size_t o, size_t i, int64_t group)
{
    if (o % 8 || kern_quant_group(g, i, group) != KERN_OK) return KERN_ERR_ARG;
    return KERN_OK;
}

/* Blocks for the transposition between [o, i] bytes and [i, o/8] words: K_BLOCK input channels
 * per block when packing (the 8 code rows read for a word stay in cache), C_BLOCK words (one
 * 64-byte line of a qweight row) per block when unpacking. */
#define K_BLOCK 64
#define C_BLOCK 16

kern_status kern_pack_qweight(int32_t *qweight, const uint8_t *codes, size_t o, size_t i)
{
    if (o % 8) return KERN_ERR_ARG;
    size_t oc = o / 8, bad = 0;
    /* refuse anything that is not 4-bit data before writing a word */
    #pragma omp parallel for schedule(static) reduction(+ : bad)
    for (size_t r = 0; r < o; r++)
        for (size_t k = 0; k < i; k++) bad += codes[r * i + k] > 15;
    if (bad) return KERN_ERR_ARG;
    size_t nkb = (i + K_BLOCK - 1) / K_BLOCK;
    #pragma omp parallel for schedule(static)
    for (size_t kb = 0; kb < nkb; kb++) {
        size_t k1 = (kb + 1) * K_BLOCK < i ? (kb + 1) * K_BLOCK : i;
        for (size_t c = 0; c < oc; c++)
            for (size_t k = kb * K_BLOCK; k < k1; k++) {
                uint8_t q[8];
                for (int j = 0; j < 8; j++) q[j] = codes[(8 * c + (size_t)j) * i + k];
                qweight[k * oc + c] = as_i32(kern_pack8(q));
            }
    }
    return KERN_OK;
}

kern_status kern_pack_zeros_scales(int32_t *qzeros, uint16_t *scales16, const uint8_t *zeros, const float *scales,
                                   size_t o, size_t i, int64_t group)
{
    size_t g;
    if (shape_ok(&g, o, i, group) != KERN_OK) return KERN_ERR_ARG;
    size_t n_groups = i / g, oc = o / 8;
    for (size_t e = 0; e < o * n_groups; e++)
        if (zeros[e] > 15 || !awq_f32_fits_f16(scales[e])) return KERN_ERR_ARG;
    for (size_t j = 0; j < n_groups; j++)
        for (size_t c = 0; c < oc; c++) {
            uint8_t z[8];
            for (int m = 0; m < 8; m++) z[m] = zeros[(8 * c + (size_t)m) * n_groups + j];
            qzeros[j * oc + c] = as_i32(kern_pack8(z));
            for (int m = 0; m < 8; m++)
                scales16[j * o + 8 * c + (size_t)m] = awq_f32_to_f16(scales[(8 * c + (size_t)m) * n_groups + j]);
        }
    return KERN_OK;
}

kern_status kern_pack_gemm(int32_t *qweight, int32_t *qzeros, uint16_t *scales16, const uint8_t *codes,
                           const uint8_t *zeros, const float *scales, size_t o, size_t i, int64_t group)
{
    size_t g;
    if (shape_ok(&g, o, i, group) != KERN_OK) return KERN_ERR_ARG;
    /* zeros and scales first: both refuse bad data before writing anything */
    kern_status st = kern_pack_zeros_scales(qzeros, scales16, zeros, scales, o, i, group);
    return st ? st : kern_pack_qweight(qweight, codes, o, i);
}

kern_status kern_unpack_gemm(uint8_t *codes, uint8_t *zeros, float *scales, const int32_t *qweight,
                             const int32_t *qzeros, const uint16_t *scales16, size_t o, size_t i, int64_t group)
{
    size_t g;
    if (shape_ok(&g, o, i, group) != KERN_OK) return KERN_ERR_ARG;
    size_t n_groups = i / g, oc = o / 8;
    if (codes) {
        size_t ncb = (oc + C_BLOCK - 1) / C_BLOCK;
        #pragma omp parallel for schedule(static)
        for (size_t cb = 0; cb < ncb; cb++) {
            size_t c1 = (cb + 1) * C_BLOCK < oc ? (cb + 1) * C_BLOCK : oc;
            for (size_t k = 0; k < i; k++)
                for (size_t c = cb * C_BLOCK; c < c1; c++)
                    for (int j = 0; j < 8; j++) codes[(8 * c + (size_t)j) * i + k] = unpack1(qweight[k * oc + c], j);
        }
    }
    for (size_t r = 0; r < o; r++)
        for (size_t j = 0; j < n_groups; j++) {
            if (zeros) zeros[r * n_groups + j] = unpack1(qzeros[j * oc + r / 8], (int)(r % 8));
            if (scales) scales[r * n_groups + j] = awq_f16_to_f32(scales16[j * o + r]);
        }
    return KERN_OK;
}

kern_status kern_dequant_gemm(float *w, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales16,
                              size_t o, size_t i, int64_t group)
{
    size_t g;
    if (shape_ok(&g, o, i, group) != KERN_OK) return KERN_ERR_ARG;
    size_t oc = o / 8, ncb = (oc + C_BLOCK - 1) / C_BLOCK, n_groups = i / g;
    /* Within one (row, group) a weight takes one of 16 values h((q - z) * s), q = 0..15: a
     * table per row of the block, rebuilt per group, replaces the arithmetic per weight. */
    #pragma omp parallel for schedule(static)
    for (size_t cb = 0; cb < ncb; cb++) {
        float lut[C_BLOCK * 8][16];
        size_t c0 = cb * C_BLOCK, c1 = c0 + C_BLOCK < oc ? c0 + C_BLOCK : oc;
        for (size_t j = 0; j < n_groups; j++) {
            for (size_t c = c0; c < c1; c++)
                for (int m = 0; m < 8; m++) {
                    size_t r = 8 * c + (size_t)m;
                    float z = unpack1(qzeros[j * oc + c], m), sc = awq_f16_to_f32(scales16[j * o + r]);
                    for (int q = 0; q < 16; q++) lut[r - 8 * c0][q] = awq_round_f16(((float)q - z) * sc);
                }
            for (size_t k = j * g; k < (j + 1) * g; k++)
                for (size_t c = c0; c < c1; c++) {
                    uint32_t word;
                    memcpy(&word, &qweight[k * oc + c], 4);
                    for (int m = 0; m < 8; m++) {
                        size_t r = 8 * c + (size_t)m;
                        w[r * i + k] = lut[r - 8 * c0][(word >> (4 * KERN_AWQ_REVERSE[m])) & 0xFu];
                    }
                }
        }
    }
    return KERN_OK;
}

/* The math of pack_qweight: one word at a time, kern_pack8 of the 8 codes of a column. */
kern_status kern_pack_qweight_ref(int32_t *qweight, const uint8_t *codes, size_t o, size_t i)
{
    if (o % 8) return KERN_ERR_ARG;
    for (size_t e = 0; e < o * i; e++)
        if (codes[e] > 15) return KERN_ERR_ARG;
    for (size_t k = 0; k < i; k++)
        for (size_t c = 0; c < o / 8; c++) {
            uint8_t q[8];
            for (int j = 0; j < 8; j++) q[j] = codes[(8 * c + (size_t)j) * i + k];
            qweight[k * (o / 8) + c] = as_i32(kern_pack8(q));
        }
    return KERN_OK;
}

kern_status cpu_pack_qweight(awq_backend_ctx *ctx, int32_t *qweight, const uint8_t *codes, size_t o, size_t i)
{
    (void)ctx;
    return kern_pack_qweight(qweight, codes, o, i);
}
