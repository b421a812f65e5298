/* mlp.c - the gated MLP out = down(silu(gate(m)) * up(m)) (Llama/Qwen mlp, spec §1.4) as one op:
 * the composition of matmul and silu_mul, in the caller's scratch. It exists as an op so that a
 * device backend can keep the intermediates in a narrower format (kernels/cuda/mlp.cu); on the
 * CPU there is nothing to gain, so _ref composes the _refs and the fast op the fast ops. */
#include "cpu.h"
#include "ref.h"

/* 1 when every weight and bias the op reads (w_down and b_down only when out is wanted) has a
 * dtype of kern_dtype; the ops refuse the call otherwise (KERN_ERR_ARG) before writing anything */
static int mlp_args_ok(const float *out, kern_weight w_gate, kern_weight b_gate, kern_weight w_up, kern_weight b_up,
                       kern_weight w_down, kern_weight b_down)
{
    if (!kern_dtype_ok(w_gate.dtype) || !kern_dtype_ok(w_up.dtype)) return 0;
    if ((b_gate.data && !kern_dtype_ok(b_gate.dtype)) || (b_up.data && !kern_dtype_ok(b_up.dtype))) return 0;
    if (out && (!kern_dtype_ok(w_down.dtype) || (b_down.data && !kern_dtype_ok(b_down.dtype)))) return 0;
    return 1;
}

kern_status kern_mlp_ref(float *out, float *down_in, const float *m, kern_weight w_gate, kern_weight b_gate,
                         kern_weight w_up, kern_weight b_up, kern_weight w_down, kern_weight b_down, float *scratch_g,
                         float *scratch_u, size_t n, size_t c, size_t f, int act, int round_f16)
{
    if (!mlp_args_ok(out, w_gate, b_gate, w_up, b_up, w_down, b_down)) return KERN_ERR_ARG;
    if (!out && !down_in) return KERN_OK;
    /* a = silu(g) * u goes straight to down_in when it is wanted: down_proj reads it from there */
    float *a = down_in ? down_in : scratch_g;
    kern_status st = kern_matmul_ref(scratch_g, m, w_gate, b_gate, n, f, c, round_f16);
    if (st == KERN_OK) st = kern_matmul_ref(scratch_u, m, w_up, b_up, n, f, c, round_f16);
    if (st == KERN_OK)
        st = (act == KERN_ACT_GELU_TANH ? kern_gelu_tanh_mul_ref : kern_silu_mul_ref)(a, scratch_g, scratch_u, n * f, round_f16);
    if (st == KERN_OK && out) st = kern_matmul_ref(out, a, w_down, b_down, n, c, f, round_f16);
    return st;
}

kern_status cpu_mlp(awq_backend_ctx *ctx, float *out, float *down_in, const float *m, kern_weight w_gate,
                         kern_weight b_gate, kern_weight w_up, kern_weight b_up, kern_weight w_down,
                         kern_weight b_down, float *scratch_g, float *scratch_u, size_t n, size_t c, size_t f,
                         int act, int round_f16)
{
    if (!mlp_args_ok(out, w_gate, b_gate, w_up, b_up, w_down, b_down)) return KERN_ERR_ARG;
    if (!out && !down_in) return KERN_OK;
    float *a = down_in ? down_in : scratch_g;
    kern_status st = cpu_matmul(ctx, scratch_g, m, w_gate, b_gate, n, f, c, round_f16);
    if (st == KERN_OK) st = cpu_matmul(ctx, scratch_u, m, w_up, b_up, n, f, c, round_f16);
    if (st == KERN_OK)
        st = (act == KERN_ACT_GELU_TANH ? cpu_gelu_tanh_mul : cpu_silu_mul)(ctx, a, scratch_g, scratch_u, n * f, round_f16);
    if (st == KERN_OK && out) st = cpu_matmul(ctx, out, a, w_down, b_down, n, c, f, round_f16);
    return st;
}

/* mlp_grouped: the mlp of each group of rows with its own weights (a mixture-of-experts block's
 * routed experts). The fast op calls cpu_mlp per group, so its bits are the mlp op's on those
 * rows (what moe.c computed expert by expert before the op existed); each matmul is already
 * parallel over its tiles, and a group of a few rows would leave threads idle either way. */
static int groups_ok(const float *out, const kern_weight *wg, const kern_weight *wu, const kern_weight *wd,
                     const size_t *start, size_t g)
{
    for (size_t e = 0; e < g; e++) {
        if (start[e + 1] < start[e]) return 0;
        if (!mlp_args_ok(out, wg[e], KERN_NO_WEIGHT, wu[e], KERN_NO_WEIGHT, wd[e], KERN_NO_WEIGHT)) return 0;
    }
    return 1;
}

kern_status kern_mlp_grouped_ref(float *out, float *down_in, const float *m, const kern_weight *w_gate,
                                 const kern_weight *w_up, const kern_weight *w_down, const size_t *start, size_t g,
                                 float *scratch_g, float *scratch_u, size_t c, size_t f, int act, int round_f16)
{
    if (!groups_ok(out, w_gate, w_up, w_down, start, g)) return KERN_ERR_ARG;
    kern_status st = KERN_OK;
    for (size_t e = 0; e < g && st == KERN_OK; e++) {
        size_t r0 = start[e], n = start[e + 1] - r0;
        if (!n) continue;
        st = kern_mlp_ref(out ? out + r0 * c : NULL, down_in ? down_in + r0 * f : NULL, m + r0 * c, w_gate[e],
                          KERN_NO_WEIGHT, w_up[e], KERN_NO_WEIGHT, w_down[e], KERN_NO_WEIGHT, scratch_g, scratch_u, n, c,
                          f, act, round_f16);
    }
    return st;
}

kern_status cpu_mlp_grouped(awq_backend_ctx *ctx, float *out, float *down_in, const float *m, const kern_weight *w_gate,
                            const kern_weight *w_up, const kern_weight *w_down, const size_t *start, size_t g,
                            float *scratch_g, float *scratch_u, size_t c, size_t f, int act, int round_f16)
{
    if (!groups_ok(out, w_gate, w_up, w_down, start, g)) return KERN_ERR_ARG;
    kern_status st = KERN_OK;
    for (size_t e = 0; e < g && st == KERN_OK; e++) {
        size_t r0 = start[e], n = start[e + 1] - r0;
        if (!n) continue;
        st = cpu_mlp(ctx, out ? out + r0 * c : NULL, down_in ? down_in + r0 * f : NULL, m + r0 * c, w_gate[e],
                     KERN_NO_WEIGHT, w_up[e], KERN_NO_WEIGHT, w_down[e], KERN_NO_WEIGHT, scratch_g, scratch_u, n, c, f,
                     act, round_f16);
    }
    return st;
}
