/* silu_mul.c - the gated MLP activations: silu(g) * u (Llama/Qwen MLP, spec §1.4), with silu
 * computed as torch does on half tensors: g / (1 + exp(-g)) in fp32, then rounded; and Gemma's
 * gelu_tanh(g) * u (GeGLU, torch's gelu(approximate="tanh") in fp32, then rounded).
 * _ref: scalar loop. Fast: the same loop split over threads. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <math.h>

kern_status kern_silu_mul_ref(float *out, const float *g, const float *u, size_t n, int round_f16)
{
    for (size_t e = 0; e < n; e++) {
        float a = g[e] / (1.0f + expf(-g[e]));
        out[e] = round_f16 ? awq_round_f16(awq_round_f16(a) * u[e]) : a * u[e];
    }
    return KERN_OK;
}

kern_status cpu_silu_mul(awq_backend_ctx *ctx, float *out, const float *g, const float *u, size_t n,
                              int round_f16)
{
    (void)ctx;
    if (round_f16) {
        #pragma omp parallel for schedule(static)
        for (size_t e = 0; e < n; e++) {
            float a = g[e] / (1.0f + expf(-g[e]));
            out[e] = kern_round_f16_fast(kern_round_f16_fast(a) * u[e]);
        }
    } else {
        #pragma omp parallel for schedule(static)
        for (size_t e = 0; e < n; e++) out[e] = g[e] / (1.0f + expf(-g[e])) * u[e];
    }
    return KERN_OK;
}

/* torch's tanh GELU in fp32: kBeta = sqrt(2) * (2 / sqrt(pi)) * 0.5, kKappa = 0.044715,
 * 0.5 * x * (1 + tanh(kBeta * (x + kKappa * x^3))). */
static inline float gelu_tanh(float x)
{
    const float beta = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = 0.044715f;
    const float inner = beta * (x + kappa * (x * x * x));
    return 0.5f * x * (1.0f + (float)tanh((double)inner)); /* tanh in fp64, rounded once: the CUDA kernel does the same, and 1 + tanh cancels near -1, where an fp32 ulp of tanhf would show */
}

kern_status kern_gelu_tanh_mul_ref(float *out, const float *g, const float *u, size_t n, int round_f16)
{
    for (size_t e = 0; e < n; e++) {
        float a = gelu_tanh(g[e]);
        out[e] = round_f16 ? awq_round_f16(awq_round_f16(a) * u[e]) : a * u[e];
    }
    return KERN_OK;
}

kern_status cpu_gelu_tanh_mul(awq_backend_ctx *ctx, float *out, const float *g, const float *u, size_t n, int round_f16)
{
    (void)ctx;
    #pragma omp parallel for schedule(static)
    for (size_t e = 0; e < n; e++) {
        float a = gelu_tanh(g[e]);
        out[e] = round_f16 ? kern_round_f16_fast(kern_round_f16_fast(a) * u[e]) : a * u[e];
    }
    return KERN_OK;
}
