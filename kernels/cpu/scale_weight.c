/* scale_weight.c - folding the searched scales into the weights (spec §2.7): the layer before
 * the scales divided by them per row, the linears after multiplied per column, each result
 * h()-rounded in fp16 numerics. _ref: awq_round_f16 per element; fast: parallel rows and the
 * inlined bit-level rounding (the same bits). */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

kern_status kern_scale_weight_ref(float *w, const float *s, size_t rows, size_t cols, int per_row, int round_f16)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            float v = per_row ? w[r * cols + c] / s[r] : w[r * cols + c] * s[c];
            w[r * cols + c] = round_f16 ? awq_round_f16(v) : v;
        }
    return KERN_OK;
}

kern_status cpu_scale_weight(awq_backend_ctx *ctx, float *w, const float *s, size_t rows, size_t cols, int per_row,
                                  int round_f16)
{
    (void)ctx;
    #pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *wr = w + r * cols;
        if (per_row) {
            const float sr = s[r];
            for (size_t c = 0; c < cols; c++) wr[c] /= sr;
        } else {
            for (size_t c = 0; c < cols; c++) wr[c] *= s[c];
        }
        if (round_f16)
            for (size_t c = 0; c < cols; c++) wr[c] = kern_round_f16_fast(wr[c]);
    }
    return KERN_OK;
}
