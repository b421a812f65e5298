/* weight.c - reading stored weights (F32/F16/BF16) as fp32, for the _refs and the fast ops. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <string.h>

float kern_weight_at(kern_weight w, size_t idx)
{
    switch (w.dtype) {
    case KERN_F16: return awq_f16_to_f32(((const uint16_t *)w.data)[idx]);
    case KERN_BF16: return awq_bf16_to_f32(((const uint16_t *)w.data)[idx]);
    case KERN_F32: break;
    }
    return ((const float *)w.data)[idx];
}

void kern_weight_to_f32(float *dst, kern_weight w, size_t off, size_t n)
{
    switch (w.dtype) {
    case KERN_F16: awq_f16_to_f32_n(dst, (const uint16_t *)w.data + off, n); return;
    case KERN_BF16: awq_bf16_to_f32_n(dst, (const uint16_t *)w.data + off, n); return;
    case KERN_F32: break;
    }
    memcpy(dst, (const float *)w.data + off, n * sizeof *dst);
}

int kern_dtype_ok(kern_dtype t) { return t == KERN_F32 || t == KERN_F16 || t == KERN_BF16; }
