/* silu_mul.c - the gated MLP activations: silu(g) * u (Llama/Qwen MLP, spec §1.4), with silu
 * computed as torch does on half tensors: g / (1 + exp(-g)) in fp32, then rounded; and Gemma's
 * gelu_tanh(g) * u (GeGLU, torch's gelu(approximate="tanh") in fp32, then rounded).
 * _ref: scalar loop. Fast: blocks over threads, each exp(-g) at once (kern_expf_n), the rest in
 * passes over the block 4 at a time (vec.h) and h() through kern_round_f16_n: the same bits. */
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

/* Elements [e0, e1) of the fast op, e1 - e0 <= SILU_BLOCK: exp(-g) for the block first
 * (kern_expf_n: expf's bits, several at a time), then the same divisions, products and
 * roundings as the _ref, 4 at a time. */
enum { SILU_BLOCK = 1024 };
static void silu_mul_block(float *out, const float *g, const float *u, size_t e0, size_t e1, int round_f16)
{
    float ex[SILU_BLOCK];
    const size_t n = e1 - e0;
    if (n == 0 || n > SILU_BLOCK) return;
    g += e0, u += e0, out += e0;
    for (size_t e = 0; e < n; e++) ex[e] = -g[e];
    kern_expf_n(ex, ex, n);
    size_t e = 0; /* a = g / (1 + exp(-g)), then h(h(a) * u) (or a * u) */
    for (; e + 4 <= n; e += 4) kv4_store(ex + e, kv4_load(g + e) / (1.0f + kv4_load(ex + e)));
    for (; e < n; e++) ex[e] = g[e] / (1.0f + ex[e]);
    if (round_f16) kern_round_f16_n(ex, n);
    for (e = 0; e + 4 <= n; e += 4) kv4_store(out + e, kv4_load(ex + e) * kv4_load(u + e));
    for (; e < n; e++) out[e] = ex[e] * u[e];
    if (round_f16) kern_round_f16_n(out, n);
}

kern_status cpu_silu_mul(awq_backend_ctx *ctx, float *out, const float *g, const float *u, size_t n,
                              int round_f16)
{
    (void)ctx;
    const size_t blocks = (n + SILU_BLOCK - 1) / SILU_BLOCK;
    #pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < blocks; blk++) {
        size_t e0 = blk * SILU_BLOCK, e1 = e0 + SILU_BLOCK < n ? e0 + SILU_BLOCK : n;
        silu_mul_block(out, g, u, e0, e1, round_f16);
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
