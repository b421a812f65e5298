// mlp.cu - the gated MLP out = down(silu(gate(m)) * up(m)) as one op (the math: kernels/cpu/mlp.c,
// the composition of matmul and silu_mul). In the faithful mode every intermediate is an fp16
// value, so with F16 weights and no biases g, u and a = silu(g)*u stay fp16 in the caller's
// scratch: m is converted once, gate and up write fp16 C (matmul.cu's no-bias path: the same
// cuBLAS call, h() of the fp32 sum), one kernel turns g, u into a (fp16, and fp32 into down_in),
// down reads a as its fp16 operand, and its fp16 C is widened into out. Each value is the one
// cuda_matmul / cuda_silu_mul would give (widening fp16 -> fp32 is exact), without writing each
// intermediate as fp32 and converting it back. Every other case calls those ops in turn. act picks
// silu or Gemma's tanh GELU (the same kernels, the activation a runtime switch).
#include "cuda.cuh"

// a = h(h(silu(g)) * u) as silu_mul_kernel computes it in f16 mode; a16 may equal g16.
// Pairs of halves per thread (n2 pairs); a widened into down_in when it is not NULL.
__device__ __forceinline__ float act_f32(float g, int gelu) { return gelu ? gelu_tanh_f32(g) : silu_f32(g); }

__global__ void silu_mul_f16x2_kernel(__half2 *a16, float *down_in, const __half2 *g16, const __half2 *u16,
                                      size_t n2, int gelu)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n2; e += (size_t)gridDim.x * blockDim.x) {
        float2 g = __half22float2(g16[e]), u = __half22float2(u16[e]);
        float a0 = h16(__fmul_rn(h16(act_f32(g.x, gelu)), u.x)), a1 = h16(__fmul_rn(h16(act_f32(g.y, gelu)), u.y));
        a16[e] = __floats2half2_rn(a0, a1); // exact: both are fp16 values
        if (down_in) down_in[2 * e] = a0, down_in[2 * e + 1] = a1;
    }
}

// the same one half at a time (an odd count or pointers not 4-byte aligned)
__global__ void silu_mul_f16_kernel(__half *a16, float *down_in, const __half *g16, const __half *u16, size_t n,
                                    int gelu)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float a = h16(__fmul_rn(h16(act_f32(__half2float(g16[e]), gelu)), __half2float(u16[e])));
        a16[e] = __float2half_rn(a);
        if (down_in) down_in[e] = a;
    }
}

static int aligned4(const void *p) { return ((uintptr_t)p & 3u) == 0; }

static kern_status silu_mul_f16(awq_backend_ctx *ctx, __half *a16, float *down_in, const __half *g16,
                                const __half *u16, size_t n, int gelu)
{
    if (n % 2 == 0 && aligned4(a16) && aligned4(g16) && aligned4(u16)) {
        size_t n2 = n / 2;
        silu_mul_f16x2_kernel<<<grid_for(ctx, n2, 256), 256, 0, ctx->stream>>>(
            (__half2 *)a16, down_in, (const __half2 *)g16, (const __half2 *)u16, n2, gelu);
    } else {
        silu_mul_f16_kernel<<<grid_for(ctx, n, 256), 256, 0, ctx->stream>>>(a16, down_in, g16, u16, n, gelu);
    }
    LAUNCH_CHECK();
    return KERN_OK;
}

kern_status cuda_mlp(awq_backend_ctx *ctx, float *out, float *down_in, const float *m, kern_weight w_gate,
                     kern_weight b_gate, kern_weight w_up, kern_weight b_up, kern_weight w_down, kern_weight b_down,
                     float *scratch_g, float *scratch_u, size_t n, size_t c, size_t f, int act, int round_f16)
{
    if (!dtype_ok(w_gate.dtype) || !dtype_ok(w_up.dtype) || (b_gate.data && !dtype_ok(b_gate.dtype)) ||
        (b_up.data && !dtype_ok(b_up.dtype)) ||
        (out && (!dtype_ok(w_down.dtype) || (b_down.data && !dtype_ok(b_down.dtype)))))
        return KERN_ERR_ARG;
    if (!out && !down_in) return KERN_OK;
    int fast = round_f16 && w_gate.dtype == KERN_F16 && w_up.dtype == KERN_F16 && !b_gate.data && !b_up.data &&
               (!out || (w_down.dtype == KERN_F16 && !b_down.data)) && n && c && f && fits_int(n) && fits_int(c) &&
               fits_int(f);
    if (!fast) { // the composition itself (empty sums, sizes beyond int and bad dtypes are handled there)
        float *a = down_in ? down_in : scratch_g;
        KERN_TRY(cuda_matmul(ctx, scratch_g, m, w_gate, b_gate, n, f, c, round_f16));
        KERN_TRY(cuda_matmul(ctx, scratch_u, m, w_up, b_up, n, f, c, round_f16));
        KERN_TRY((act == KERN_ACT_GELU_TANH ? cuda_gelu_tanh_mul : cuda_silu_mul)(ctx, a, scratch_g, scratch_u, n * f,
                                                                                   round_f16));
        if (out) KERN_TRY(cuda_matmul(ctx, out, a, w_down, b_down, n, c, f, round_f16));
        return KERN_OK;
    }
    // Each scratch buffer holds n*f floats = two fp16 arrays of n*f. g16 and then a16 (in place)
    // live at the start of scratch_g, u16 at the start of scratch_u; m16 [n,c] goes after g16
    // when it fits (c < f, as in every Llama/Qwen MLP), else in the context's scratch, which
    // nothing else uses during this op; down's fp16 C [n,c] takes u16's place once silu has read
    // it (stream order), or the context's scratch when c > 2f.
    const size_t nf = n * f, nc = n * c, cap = nf * sizeof(float);
    __half *g16 = (__half *)scratch_g, *u16 = (__half *)scratch_u, *c16 = NULL;
    const __half *m16 = cuda_pinned_f16(ctx, m, nc); // m already as fp16 (pin_f16), else converted here
    if (!m16) {
        __half *conv = NULL;
        size_t at = (nf * sizeof(__half) + 255) / 256 * 256; // 256-byte aligned, like matmul.cu's carve
        if (at + nc * sizeof(__half) <= cap) conv = (__half *)((char *)scratch_g + at);
        else KERN_TRY(cuda_scratch(ctx, nc * sizeof(__half), (void **)&conv));
        KERN_TRY(cuda_to_f16(ctx, conv, m, nc)); // exact: in this mode m holds fp16 values
        m16 = conv;
    }
    KERN_TRY(cuda_gemm_f16(ctx, g16, m16, w_gate.data, n, f, c));
    KERN_TRY(cuda_gemm_f16(ctx, u16, m16, w_up.data, n, f, c));
    KERN_TRY(silu_mul_f16(ctx, g16, down_in, g16, u16, nf, act == KERN_ACT_GELU_TANH));
    if (!out) return KERN_OK;
    if (nc * sizeof(__half) <= cap) c16 = u16;
    else KERN_TRY(cuda_scratch(ctx, nc * sizeof(__half), (void **)&c16)); // m16 is dead: a growth may free it
    KERN_TRY(cuda_gemm_f16(ctx, c16, g16, w_down.data, n, c, f));
    kern_weight cw = {c16, KERN_F16};
    return cuda_to_f32(ctx, out, cw, nc); // exact; out = h(fp32 sum), as from cuda_matmul
}

// ---- mlp_grouped: the routed experts of a mixture-of-experts block ----------------------------
// The faithful fast path of cuda_mlp over all groups at once: m converted to fp16 once, gate and
// up as two grouped GEMMs (cublasGemmGroupedBatchedEx, one problem per non-empty group, fp16 A/B/C,
// fp32 accumulation), one activation launch over every row (cuda_mlp's fp16 kernel: silu_mul's
// or gelu_tanh_mul's bits, as act says), down as a third grouped GEMM and one widening into out:
// five launches whatever the number of experts, instead of five per expert.
// Each product is h(fp32 sum) as in cuda_gemm_f16; the grouped kernels may add the sum in another
// order than cublasGemmEx does (ops.def). Where cuBLAS refuses the grouped call (NOT_SUPPORTED or
// INVALID_VALUE: a cuBLAS or device without it for these shapes) the groups run one cuda_gemm_f16
// each, the same results more slowly (awq-bench-kernels --moe shows which). Any other case (fp32
// mode, BF16/F32 weights) is cuda_mlp per group.

// The pointer arrays of one grouped GEMM (device: what cuBLAS reads; host: for the fallback)
struct grouped_ptrs {
    const void **a_d, **b_d;
    void **c_d;
    const void *const *a_h, *const *b_h;
    void *const *c_h;
};

// c[e][n_e, o] = h(x[e][n_e, i] · w[e][o, i]^T) for the ng groups (n_rows[e] >= 1)
static kern_status gemm_grouped_f16(awq_backend_ctx *ctx, int ng, const int *n_rows, int o, int i, grouped_ptrs p)
{
    cublasOperation_t *ta = (cublasOperation_t *)malloc(2 * (size_t)ng * sizeof *ta);
    int *ints = (int *)malloc(7 * (size_t)ng * sizeof *ints);
    float *ab = (float *)malloc(2 * (size_t)ng * sizeof *ab);
    if (!ta || !ints || !ab) { free(ta), free(ints), free(ab); return KERN_ERR_NOMEM; }
    cublasOperation_t *tb = ta + ng;
    int *mm = ints, *kk = ints + ng, *lda = ints + 2 * ng, *ldb = ints + 3 * ng, *ldc = ints + 4 * ng,
        *size = ints + 5 * ng, *nn = ints + 6 * ng;
    for (int e = 0; e < ng; e++) {
        ta[e] = CUBLAS_OP_T, tb[e] = CUBLAS_OP_N;
        mm[e] = o, nn[e] = n_rows[e], kk[e] = i, lda[e] = i, ldb[e] = i, ldc[e] = o, size[e] = 1;
        ab[e] = 1.0f, ab[ng + e] = 0.0f;
    }
    cublasStatus_t s = cublasGemmGroupedBatchedEx(ctx->blas, ta, tb, mm, nn, kk, ab, p.a_d, CUDA_R_16F, lda, p.b_d,
                                                  CUDA_R_16F, ldb, ab + ng, p.c_d, CUDA_R_16F, ldc, ng, size,
                                                  CUBLAS_COMPUTE_32F);
    free(ta), free(ints), free(ab);
    if (s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_INVALID_VALUE) { // not for these shapes/types here
        for (int e = 0; e < ng; e++)
            KERN_TRY(cuda_gemm_f16(ctx, (__half *)p.c_h[e], (const __half *)p.b_h[e], p.a_h[e], (size_t)n_rows[e],
                                   (size_t)o, (size_t)i));
        return KERN_OK;
    }
    if (s != CUBLAS_STATUS_SUCCESS) return cublas_fail(s, "cublasGemmGroupedBatchedEx", __FILE__, __LINE__);
    return KERN_OK;
}

kern_status cuda_mlp_grouped(awq_backend_ctx *ctx, float *out, float *down_in, const float *m, const kern_weight *w_gate,
                             const kern_weight *w_up, const kern_weight *w_down, const size_t *start, size_t g,
                             float *scratch_g, float *scratch_u, size_t c, size_t f, int act, int round_f16)
{
    int fast = round_f16 && c && f && fits_int(c) && fits_int(f);
    size_t ng = 0;
    for (size_t e = 0; e < g; e++) {
        if (start[e + 1] < start[e] || !dtype_ok(w_gate[e].dtype) || !dtype_ok(w_up[e].dtype) ||
            (out && !dtype_ok(w_down[e].dtype)))
            return KERN_ERR_ARG;
        if (start[e + 1] == start[e]) continue;
        ng++;
        fast = fast && w_gate[e].dtype == KERN_F16 && w_up[e].dtype == KERN_F16 && (!out || w_down[e].dtype == KERN_F16);
    }
    const size_t r0 = g ? start[0] : 0, R = g ? start[g] - r0 : 0;
    if ((!out && !down_in) || !R) return KERN_OK;
    if (!fast || !fits_int(R) || !fits_int(ng)) { // the mlp op per group: its bits
        for (size_t e = 0; e < g; e++) {
            size_t a = start[e], n = start[e + 1] - a;
            if (n)
                KERN_TRY(cuda_mlp(ctx, out ? out + a * c : NULL, down_in ? down_in + a * f : NULL, m + a * c, w_gate[e],
                                  KERN_NO_WEIGHT, w_up[e], KERN_NO_WEIGHT, w_down[e], KERN_NO_WEIGHT, scratch_g, scratch_u,
                                  n, c, f, act, round_f16));
        }
        return KERN_OK;
    }
    // As in cuda_mlp: g16 (then a16, in place) at the start of scratch_g, u16 at the start of
    // scratch_u, m16 after g16 when it fits, the down GEMM's fp16 C in u16's place when it fits;
    // what does not fit, and the device copies of the 9 pointer arrays, in one carve of the
    // context's scratch.
    const size_t nf = R * f, nc = R * c, cap = nf * sizeof(float), at_m16 = (nf * sizeof(__half) + 255) / 256 * 256;
    const __half *pinned = cuda_pinned_f16(ctx, m + r0 * c, nc);
    const int m_in_g = pinned || at_m16 + nc * sizeof(__half) <= cap, c_in_u = nc * sizeof(__half) <= cap;
    carve cv = {0, NULL};
    const size_t at_m = carve_add(&cv, m_in_g ? 0 : nc * sizeof(__half)), at_c = carve_add(&cv, c_in_u ? 0 : nc * sizeof(__half));
    const size_t at_p = carve_add(&cv, 9 * ng * sizeof(void *));
    KERN_TRY(cuda_scratch(ctx, cv.bytes, (void **)&cv.base));
    __half *g16 = (__half *)scratch_g, *u16 = (__half *)scratch_u;
    __half *c16 = c_in_u ? u16 : (__half *)(cv.base + at_c);
    const __half *m16 = pinned;
    if (!m16) {
        __half *conv = m_in_g ? (__half *)((char *)scratch_g + at_m16) : (__half *)(cv.base + at_m);
        KERN_TRY(cuda_to_f16(ctx, conv, m + r0 * c, nc)); // exact: in this mode m holds fp16 values
        m16 = conv;
    }
    // host pointer arrays: gate (A, B, C), up (A, B, C), down (A, B, C), each ng long; rows per group
    void **hp = (void **)malloc(9 * ng * sizeof *hp);
    int *rows = (int *)malloc(ng * sizeof *rows);
    if (!hp || !rows) { free(hp), free(rows); return KERN_ERR_NOMEM; }
    for (size_t e = 0, i = 0; e < g; e++) {
        size_t a = start[e] - r0, n = start[e + 1] - start[e];
        if (!n) continue;
        rows[i] = (int)n;
        hp[i] = (void *)w_gate[e].data, hp[ng + i] = (void *)(m16 + a * c), hp[2 * ng + i] = g16 + a * f;
        hp[3 * ng + i] = (void *)w_up[e].data, hp[4 * ng + i] = (void *)(m16 + a * c), hp[5 * ng + i] = u16 + a * f;
        hp[6 * ng + i] = out ? (void *)w_down[e].data : NULL, hp[7 * ng + i] = g16 + a * f, hp[8 * ng + i] = c16 + a * c;
        i++;
    }
    void **dp = (void **)(cv.base + at_p);
    cudaError_t ce = cudaMemcpyAsync(dp, hp, 9 * ng * sizeof *hp, cudaMemcpyHostToDevice, ctx->stream);
    kern_status st = ce == cudaSuccess ? KERN_OK : cuda_fail(ce, "cudaMemcpyAsync(pointer arrays)", __FILE__, __LINE__);
    const int G = (int)ng;
    for (int p = 0; p < 2 && st == KERN_OK; p++) // gate, up: [n_e, f] = m16 rows · w^T
        st = gemm_grouped_f16(ctx, G, rows, (int)f, (int)c,
                              {(const void **)dp + 3 * p * ng, (const void **)dp + (3 * p + 1) * ng, dp + (3 * p + 2) * ng,
                               hp + 3 * p * ng, hp + (3 * p + 1) * ng, hp + (3 * p + 2) * ng});
    if (st == KERN_OK) st = silu_mul_f16(ctx, g16, down_in ? down_in + r0 * f : NULL, g16, u16, nf, act == KERN_ACT_GELU_TANH);
    if (st == KERN_OK && out) // down: [n_e, c] = a16 rows · w_down^T
        st = gemm_grouped_f16(ctx, G, rows, (int)c, (int)f,
                              {(const void **)dp + 6 * ng, (const void **)dp + 7 * ng, dp + 8 * ng, hp + 6 * ng, hp + 7 * ng,
                               hp + 8 * ng});
    free(hp), free(rows);
    if (st != KERN_OK || !out) return st;
    kern_weight cw = {c16, KERN_F16};
    return cuda_to_f32(ctx, out + r0 * c, cw, nc); // exact; out = h(fp32 sum), as from cuda_matmul
}
