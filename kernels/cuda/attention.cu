// attention.cu - causal GQA attention as two batched GEMMs per chunk of (sequence, head) pairs:
// S = K_j Q^T (all t x t scores, one matrix per pair), a warp per query row for the scaled,
// masked softmax (fp32; exp in fp64 rounded once; the sum in fp64), then O = P V written straight
// into the head's columns of the output. The pairs' operand pointers are built on the device for
// cublasGemmBatchedEx, since a GQA head's K/V are not at a fixed stride from its Q.
// Faithful mode: q, k, v hold fp16 values, so they are converted to fp16 exactly (or come as fp16:
// the attn op, kernels/cuda/attn.cu) and both GEMMs run on the tensor cores with fp32
// accumulation; P = h(softmax) is stored as fp16. O comes out of cuBLAS as fp16 too: h() of the
// fp32 sum, the value the CPU stores (see matmul.cu), at 2 bytes a value; cuda_attention then
// widens it into out (6 bytes of traffic per output instead of 12 for an fp32 O rounded in a
// second pass), and the attn op keeps it. Both go through the same GEMM calls (the chunking
// depends on b, t and h only), so the attn op's output is cuda_attention's bit for bit.
// For rows of up to 1024 scores (the register softmax) S itself is fp16 too: the softmax reads
// h(q·k) first thing, and an fp16 C from cuBLAS is exactly that (the fp32 accumulator rounded
// once; see matmul.cu), so half the bytes of S go through memory with the same result, and P is
// written over S (a warp holds its whole row in registers before it writes). W7's chunk: 0.95 ms
// with fp32 S.
// fp32 mode: fp32 GEMMs (CUBLAS_COMPUTE_32F_PEDANTIC), P in place of S, O written as fp32.
// Masked entries of P are exact zeros, so the full-width P V adds nothing for them, as on the CPU.
// q and k heads are d wide, v and output heads dv (DeepSeek's MLA: d != dv); the scale is given.
// Gemma: a soft-cap of the scores (tanh in fp64 rounded once, as exp) and a sliding window (keys
// lo..p only, lo = kern_attn_lo; the others get exact zeros like the causal mask's).
#include "cuda.cuh"

#include <math.h>

#define ATTN_BUDGET ((size_t)256 << 20) // bytes of scores per chunk

// s = raw * scale (faithful: h(h(raw) * scale)), then soft-capped when softcap > 0 (faithful:
// h(h(tanh(h(s / softcap))) * softcap)); the CPU op's score()
__device__ __forceinline__ float attn_score(float raw, float scale, float softcap, int f16)
{
    float s = f16 ? h16(__fmul_rn(h16(raw), scale)) : __fmul_rn(raw, scale);
    if (softcap > 0) {
        float c = hif(__fdiv_rn(s, softcap), f16);
        s = hif(__fmul_rn(hif((float)tanh((double)c), f16), softcap), f16);
    }
    return s;
}

__device__ __forceinline__ size_t attn_lo(size_t p, size_t window) { return window && p + 1 > window ? p + 1 - window : 0; }

struct attn_ptrs {
    const void **a_qk, **b_qk, **a_pv, **b_pv;
    void **c_qk, **c_pv;
};

__global__ void attn_ptrs_kernel(attn_ptrs pt, const char *q, const char *k, const char *v, char *S, char *P, char *out,
                                 size_t p0, size_t np, size_t s_lo, size_t t, size_t h, size_t hkv, size_t d,
                                 size_t dv, size_t esz, size_t ssz, size_t psz, size_t osz)
{
    size_t group = h / hkv;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < np; idx += (size_t)gridDim.x * blockDim.x) {
        size_t pair = p0 + idx, s = pair / h, hq = pair % h, j = hq / group, sl = s - s_lo;
        pt.a_qk[idx] = k + (sl * t * hkv * d + j * d) * esz;
        pt.b_qk[idx] = q + (sl * t * h * d + hq * d) * esz;
        pt.c_qk[idx] = S + idx * t * t * ssz;
        pt.a_pv[idx] = v + (sl * t * hkv * dv + j * dv) * esz;
        pt.b_pv[idx] = P + idx * t * t * psz;
        pt.c_pv[idx] = out + (s * t * h * dv + hq * dv) * osz;
    }
}

// One warp per query row p of S (row = pair * t + p): s = scale * score (faithful: h(h(score) *
// scale)), max over m <= p, e = exp(s - max) (fp64 exp, rounded once), sum in fp64, prob = e / sum
// (faithful: stored as fp16, i.e. h(prob)), 0 for m > p. Rows of up to 32*K scores stay in
// registers (one read of S); longer rows go through S in place. S16 (faithful): the scores as
// fp16, read instead of S (P16 may be the same memory).
template <int K>
__global__ void attn_softmax_reg(float *S, const __half *S16, __half *P16, size_t rows, size_t t, float scale,
                                 float softcap, size_t window, int f16)
{
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
    size_t warps = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t row = warp; row < rows; row += warps) {
        size_t p = row % t, lo = attn_lo(p, window);
        float *s = S + row * t, val[K];
        float mx = -INFINITY;
#pragma unroll
        for (int kk = 0; kk < K; kk++) {
            size_t m = lane + 32 * (size_t)kk;
            float sv = -INFINITY;
            if (m >= lo && m <= p) {
                float raw = S16 ? __half2float(S16[row * t + m]) : s[m];
                sv = attn_score(raw, scale, softcap, f16);
                mx = sv > mx ? sv : mx;
            }
            val[kk] = sv;
        }
        mx = warp_max(mx);
        double sum = 0.0;
#pragma unroll
        for (int kk = 0; kk < K; kk++)
            if (lane + 32 * (size_t)kk <= p && lane + 32 * (size_t)kk >= lo) {
                val[kk] = (float)exp((double)__fsub_rn(val[kk], mx));
                sum += val[kk];
            }
        float fs = (float)warp_sum(sum);
#pragma unroll
        for (int kk = 0; kk < K; kk++) {
            size_t m = lane + 32 * (size_t)kk;
            if (m >= t) break;
            float pr = m >= lo && m <= p ? __fdiv_rn(val[kk], fs) : 0.0f;
            if (f16) P16[row * t + m] = __float2half_rn(pr);
            else s[m] = pr;
        }
    }
}

__global__ void attn_softmax_kernel(float *S, __half *P16, size_t rows, size_t t, float scale, float softcap,
                                    size_t window, int f16)
{
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
    size_t warps = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t row = warp; row < rows; row += warps) {
        size_t p = row % t, lo = attn_lo(p, window);
        float *s = S + row * t;
        float mx = -INFINITY;
        for (size_t m = lo + lane; m <= p; m += 32) {
            float sv = attn_score(s[m], scale, softcap, f16);
            s[m] = sv;
            mx = sv > mx ? sv : mx;
        }
        mx = warp_max(mx);
        double sum = 0.0;
        for (size_t m = lo + lane; m <= p; m += 32) {
            float e = (float)exp((double)__fsub_rn(s[m], mx));
            s[m] = e;
            sum += e;
        }
        float fs = (float)warp_sum(sum);
        for (size_t m = lane; m < t; m += 32) {
            float pr = m >= lo && m <= p ? __fdiv_rn(s[m], fs) : 0.0f;
            if (f16) P16[row * t + m] = __float2half_rn(pr);
            else s[m] = pr;
        }
    }
}

// S16: fp16 scores (only with t <= 1024, the register kernels)
static kern_status attn_softmax(awq_backend_ctx *ctx, float *S, const __half *S16, __half *P16, size_t rows, size_t t,
                                float scale, float softcap, size_t window, int f16)
{
    unsigned grid = grid_for(ctx, rows * 32, 256);
    if (S16 && t > 1024) return KERN_ERR_ARG;
    const float cap = softcap;
    const size_t w = window;
    if (t <= 128) attn_softmax_reg<4><<<grid, 256, 0, ctx->stream>>>(S, S16, P16, rows, t, scale, cap, w, f16);
    else if (t <= 256) attn_softmax_reg<8><<<grid, 256, 0, ctx->stream>>>(S, S16, P16, rows, t, scale, cap, w, f16);
    else if (t <= 512) attn_softmax_reg<16><<<grid, 256, 0, ctx->stream>>>(S, S16, P16, rows, t, scale, cap, w, f16);
    else if (t <= 1024) attn_softmax_reg<32><<<grid, 256, 0, ctx->stream>>>(S, S16, P16, rows, t, scale, cap, w, f16);
    else attn_softmax_kernel<<<grid, 256, 0, ctx->stream>>>(S, P16, rows, t, scale, cap, w, f16);
    LAUNCH_CHECK();
    return KERN_OK;
}

// The attention of kernels.h. in16 (faithful only): q, k, v are the fp16 arrays themselves;
// otherwise fp32 arrays (converted to fp16 a chunk of sequences at a time in the faithful mode).
// Output: fp32 mode: out32, as fp32. Faithful: O as fp16 into o16 ([b*t, h*dv]; in the scratch
// when NULL), then widened into out32 when it is not NULL.
static kern_status attn_run(awq_backend_ctx *ctx, float *out32, __half *o16, const void *q, const void *k, const void *v,
                            int in16, size_t b, size_t t, size_t h, size_t hkv, size_t d, size_t dv, float scale,
                            float softcap, size_t window, int f16)
{
    if (hkv == 0 ? h != 0 : h % hkv) return KERN_ERR_ARG;
    if (b == 0 || t == 0 || h == 0 || dv == 0) return KERN_OK;
    if (!fits_int(t) || !fits_int(h * d) || !fits_int(h * dv) || !fits_int(t * t)) return KERN_ERR_UNSUPPORTED;
    int s16 = f16 && t <= 1024, conv = f16 && !in16; // s16: fp16 scores, P written over them
    size_t ssz = s16 ? sizeof(__half) : sizeof(float), pairs = b * h, np = ATTN_BUDGET / (t * t * ssz);
    if (np < 1) np = 1;
    if (np > pairs) np = pairs;
    size_t esz = f16 ? sizeof(__half) : sizeof(float), seqs = np / h + 2; // sequences one chunk can touch
    if (seqs > b) seqs = b;
    carve cv = {0, NULL};
    size_t at_s = carve_add(&cv, np * t * t * ssz), at_p = carve_add(&cv, f16 && !s16 ? np * t * t * sizeof(__half) : 0);
    size_t at_q = carve_add(&cv, conv ? seqs * t * h * d * esz : 0), at_k = carve_add(&cv, conv ? seqs * t * hkv * d * esz : 0);
    size_t at_v = carve_add(&cv, conv ? seqs * t * hkv * dv * esz : 0), at_ptr = carve_add(&cv, 6 * np * sizeof(void *));
    size_t at_o = carve_add(&cv, f16 && !o16 ? b * t * h * dv * sizeof(__half) : 0);
    KERN_TRY(cuda_scratch(ctx, cv.bytes, (void **)&cv.base));
    float *S = (float *)(cv.base + at_s);
    __half *P16 = s16 ? (__half *)S : f16 ? (__half *)(cv.base + at_p) : NULL;
    if (f16 && !o16) o16 = (__half *)(cv.base + at_o);
    void **ptr = (void **)(cv.base + at_ptr);
    attn_ptrs pt = {(const void **)ptr, (const void **)ptr + np, (const void **)ptr + 2 * np, (const void **)ptr + 3 * np,
                    ptr + 4 * np, ptr + 5 * np};
    cudaDataType ty = f16 ? CUDA_R_16F : CUDA_R_32F;
    cublasComputeType_t ct = f16 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_PEDANTIC;
    const float one = 1.0f, zero = 0.0f;
    char *ob = f16 ? (char *)o16 : (char *)out32;
    for (size_t p0 = 0; p0 < pairs; p0 += np) {
        size_t n = pairs - p0 < np ? pairs - p0 : np, s_lo = p0 / h, s_hi = (p0 + n - 1) / h;
        const char *qb = (const char *)q, *kb = (const char *)k, *vb = (const char *)v;
        if (conv) { // this chunk's sequences as fp16 (exact)
            size_t ns = s_hi - s_lo + 1;
            const float *qf = (const float *)q, *kf = (const float *)k, *vf = (const float *)v;
            __half *q16 = (__half *)(cv.base + at_q), *k16 = (__half *)(cv.base + at_k), *v16 = (__half *)(cv.base + at_v);
            KERN_TRY(cuda_to_f16(ctx, q16, qf + s_lo * t * h * d, ns * t * h * d));
            KERN_TRY(cuda_to_f16(ctx, k16, kf + s_lo * t * hkv * d, ns * t * hkv * d));
            KERN_TRY(cuda_to_f16(ctx, v16, vf + s_lo * t * hkv * dv, ns * t * hkv * dv));
            qb = (const char *)q16, kb = (const char *)k16, vb = (const char *)v16;
        } else {
            s_lo = 0; // the arrays themselves
        }
        attn_ptrs_kernel<<<grid_for(ctx, n, 128), 128, 0, ctx->stream>>>(pt, qb, kb, vb, (char *)S,
                                                                         f16 ? (char *)P16 : (char *)S, ob, p0, n,
                                                                         s_lo, t, h, hkv, d, dv, esz, ssz, f16 ? 2 : 4, esz);
        LAUNCH_CHECK();
        CUBLAS_CHECK(cublasGemmBatchedEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)t, (int)t, (int)d, &one, pt.a_qk, ty,
                                         (int)(hkv * d), pt.b_qk, ty, (int)(h * d), &zero, pt.c_qk, s16 ? CUDA_R_16F : CUDA_R_32F, (int)t,
                                         (int)n, ct, CUBLAS_GEMM_DEFAULT));
        KERN_TRY(attn_softmax(ctx, S, s16 ? P16 : NULL, P16, n * t, t, scale, softcap, window, f16));
        CUBLAS_CHECK(cublasGemmBatchedEx(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)dv, (int)t, (int)t, &one, pt.a_pv, ty,
                                         (int)(hkv * dv), pt.b_pv, ty, (int)t, &zero, pt.c_pv, ty, (int)(h * dv),
                                         (int)n, ct, CUBLAS_GEMM_DEFAULT));
    }
    if (f16 && out32) { // fp16 -> fp32 is exact: out32 = h(fp32 sum), nothing left to round
        kern_weight ow = {o16, KERN_F16};
        KERN_TRY(cuda_to_f32(ctx, out32, ow, b * t * h * dv));
    }
    return KERN_OK;
}

kern_status cuda_attention(awq_backend_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                           size_t b, size_t t, size_t h, size_t hkv, size_t d, size_t dv, float scale, float softcap,
                           size_t window, int round_f16)
{
    return attn_run(ctx, out, NULL, q, k, v, 0, b, t, h, hkv, d, dv, scale, softcap, window, round_f16 != 0);
}

kern_status cuda_attention_f16(awq_backend_ctx *ctx, __half *o16, float *out32, const __half *q16, const __half *k16,
                               const __half *v16, size_t b, size_t t, size_t h, size_t hkv, size_t d, float scale,
                               float softcap, size_t window)
{
    return attn_run(ctx, out32, o16, q16, k16, v16, 1, b, t, h, hkv, d, d, scale, softcap, window, 1);
}
