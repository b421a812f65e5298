// clip_search.cu - the clip search as batched GEMMs. For a chunk of R rows:
//  1. a warp per (row, group) writes the n_cand differences D_k = Q(clamp(w, ±mv_k)) - w of its
//     group (the CPU fast op's clip_candidates, bit for bit), mv_k, and whether D_k equals D_{k-1}
//     (recomputed from k-1's parameters, not re-read);
//  2. per slice of tokens, batched GEMMs over the G groups:
//     E_j [R*n_cand, t] = D_j [R*n_cand, g] · X_j^T, X_j = the group's columns of x [t, g] (ld i);
//  3. a warp per row of E adds its squares in fp64 (err, summed over the token slices);
//  4. a thread per (row, group) takes duplicates' err from the previous candidate (as the CPU op,
//     so that ties keep the smaller shrink), err/t as fp32 loss, the first minimum (strict <).
// fp32 mode: D in fp32 and one fp32 GEMM (CUBLAS_COMPUTE_32F_PEDANTIC), like the CPU's sgemm.
// Faithful mode: x holds fp16 values (exact in fp16) and D is split into fp16 hi + lo
// (hi = h(D), lo = h(D - hi): 22 of D's 24 bits, the rest below 2^-22 |D|); one tensor-core GEMM
// with K = 2g, [hi | lo] · [x_j | x_j]^T, sums the exact products in fp32, and E is written once
// (E's traffic, not the FLOPs, bounds this op: 2 x 4 bytes per element of E against 4g FLOPs).
// Either way the losses differ from the CPU's only by rounding within the bound that
// tests/test_backends.c states.
#include "cuda.cuh"
#include "../quant_core.h"

#define CLIP_BUDGET ((size_t)1 << 30) // bytes of D and E per chunk
#define CLIP_TOK 2048                 // tokens per GEMM slice

// D (fp32 mode) [G][R*nc][g] or D16 (faithful) [G][R*nc][2g] = rows [hi | lo]; mv, dup [G*R*nc]
__global__ void clip_candidates_kernel(float *D, __half *D16, float *mv, uint8_t *dup, const float *w, size_t r0,
                                       size_t nr, size_t i, size_t g, size_t n_groups, int nc, int n_grid, float maxq, int f16)
{
    size_t items = nr * n_groups;
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
    size_t warps = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t it = warp; it < items; it += warps) { // it = j * nr + r
        size_t j = it / nr, r = it % nr;
        const float *wg = w + (r0 + r) * i + j * g;
        float m0 = 0.0f, wmax = -INFINITY, wmin = INFINITY;
        for (size_t c = lane; c < g; c += 32) {
            float v = wg[c];
            m0 = fabsf(v) > m0 ? fabsf(v) : m0;
            quant_extremes_add(&wmax, &wmin, v);
        }
        m0 = warp_max(m0), wmax = warp_max(wmax), wmin = warp_min(wmin);
        float pv = 0, ps = 0, pz = 0; // the previous candidate's mv, scale, zero
        for (int k = 0; k < nc; k++) {
            float v = hif(__fmul_rn(m0, (float)(1.0 - (double)k / (double)n_grid)), f16), scale, zero;
            quant_params(&scale, &zero, quant_clamp_abs(wmax, v), quant_clamp_abs(wmin, v), maxq, f16);
            size_t at = (it * nc + k) * g;
            int same = 1;
            for (size_t c = lane; c < g; c += 32) {
                float wc = wg[c];
                float d = __fsub_rn(quant_deq(quant_code(quant_clamp_abs(wc, v), scale, zero, maxq, f16), scale, zero, f16), wc);
                if (f16) {
                    __half hi = __float2half_rn(d);
                    D16[2 * at + c] = hi;
                    D16[2 * at + g + c] = __float2half_rn(__fsub_rn(d, __half2float(hi)));
                } else {
                    D[at + c] = d;
                }
                if (k) {
                    float dp = __fsub_rn(quant_deq(quant_code(quant_clamp_abs(wc, pv), ps, pz, maxq, f16), ps, pz, f16), wc);
                    same &= __float_as_uint(d) == __float_as_uint(dp);
                }
            }
            same = __all_sync(0xffffffffu, same);
            if (lane == 0) mv[it * nc + k] = v, dup[it * nc + k] = k && same;
            pv = v, ps = scale, pz = zero;
        }
    }
}

// xx [t][G][2g]: each group's columns of x as fp16, twice (exact: they are fp16 values)
__global__ void clip_x2_kernel(__half *xx, const float *x, size_t t, size_t i, size_t g)
{
    size_t total = t * 2 * i;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t tt = e / (2 * i), r = e % (2 * i), j = r / (2 * g), c = r % (2 * g) % g;
        xx[e] = __float2half_rn(x[tt * i + j * g + c]);
    }
}

__global__ void clip_sumsq_kernel(double *err, const float *E, size_t rows, size_t nt)
{
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
    size_t warps = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t q = warp; q < rows; q += warps) {
        const float *e = E + q * nt;
        double s = 0.0;
        for (size_t tt = lane; tt < nt; tt += 32) s += (double)e[tt] * (double)e[tt];
        s = warp_sum(s);
        if (lane == 0) err[q] += s;
    }
}

__global__ void clip_select_kernel(float *max_val, int32_t *best, float *loss, const double *err, const float *mv,
                                   const uint8_t *dup, size_t r0, size_t nr, size_t n_groups, int nc, size_t t)
{
    size_t items = nr * n_groups;
    for (size_t it = blockIdx.x * (size_t)blockDim.x + threadIdx.x; it < items; it += (size_t)gridDim.x * blockDim.x) {
        size_t j = it / nr, r = it % nr, at = (r0 + r) * n_groups + j;
        const double *e = err + it * nc;
        double prev = 0.0;
        float best_err = INFINITY, best_mv = mv[it * nc];
        int32_t best_k = 0;
        for (int k = 0; k < nc; k++) {
            double ek64 = k && dup[it * nc + k] ? prev : e[k];
            prev = ek64;
            float ek = (float)(ek64 / (double)t);
            if (loss) loss[at * nc + k] = ek;
            if (ek < best_err) best_err = ek, best_mv = mv[it * nc + k], best_k = k; // NaN never wins
        }
        max_val[at] = best_mv;
        if (best) best[at] = best_k;
    }
}

// scratch of a chunk of R rows: D (fp32, or fp16 [hi | lo]), E, err, mv, dup, and x twice as fp16
static void clip_layout(carve *cv, size_t at[7], size_t R, size_t i, size_t n_groups, size_t nc, size_t nt, size_t t, int f16)
{
    size_t m = R * n_groups * nc;
    cv->bytes = 0;
    at[0] = carve_add(cv, f16 ? 0 : R * nc * i * sizeof(float));
    at[1] = carve_add(cv, m * nt * sizeof(float));
    at[2] = carve_add(cv, m * sizeof(double));
    at[3] = carve_add(cv, m * sizeof(float));
    at[4] = carve_add(cv, m);
    at[5] = carve_add(cv, f16 ? 2 * R * nc * i * sizeof(__half) : 0);
    at[6] = carve_add(cv, f16 ? 2 * t * i * sizeof(__half) : 0);
}

kern_status cuda_clip_search(awq_backend_ctx *ctx, float *max_val, int32_t *best, float *loss, const float *w,
                             const float *x, size_t o, size_t i, size_t t, int64_t group, int w_bit, int n_grid,
                             double max_shrink, int round_f16)
{
    size_t g, nc = kern_clip_candidates(n_grid, max_shrink);
    if (w_bit < 2 || w_bit > 8 || t == 0 || nc == 0 || kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    if (o == 0) return KERN_OK;
    size_t n_groups = i / g, nt_max = t < CLIP_TOK ? t : CLIP_TOK;
    if (!fits_int(i) || !fits_int(n_groups) || !fits_int(nc)) return KERN_ERR_UNSUPPORTED;
    // rows per chunk: D (nc*i floats a row) and E (G*nc*nt floats a row) within the budget
    size_t per_row = nc * i * 4 + n_groups * nc * nt_max * 4 + n_groups * nc * 13;
    size_t R = CLIP_BUDGET / per_row;
    if (R < 1) R = 1;
    if (R > o) R = o;
    while (R > 1 && !fits_int(R * nc)) R /= 2;
    if (!fits_int(R * nc)) return KERN_ERR_UNSUPPORTED;
    int f16 = round_f16 != 0;
    carve cv = {0, NULL};
    size_t at[7];
    kern_status st;
    for (;;) { // halve the chunk while the scratch cannot be had
        clip_layout(&cv, at, R, i, n_groups, nc, nt_max, t, f16);
        st = cuda_scratch(ctx, cv.bytes, (void **)&cv.base);
        if (st != KERN_ERR_NOMEM || R == 1) break;
        R /= 2;
    }
    KERN_TRY(st);
    float *D = (float *)(cv.base + at[0]), *E = (float *)(cv.base + at[1]), *mv = (float *)(cv.base + at[3]);
    double *err = (double *)(cv.base + at[2]);
    uint8_t *dup = (uint8_t *)(cv.base + at[4]);
    __half *D16 = (__half *)(cv.base + at[5]), *xx = (__half *)(cv.base + at[6]);
    if (f16) {
        clip_x2_kernel<<<grid_for(ctx, 2 * t * i, 256), 256, 0, ctx->stream>>>(xx, x, t, i, g);
        LAUNCH_CHECK();
    }
    float maxq = (float)((1 << w_bit) - 1);
    const float one = 1.0f, zero = 0.0f;
    for (size_t r0 = 0; r0 < o; r0 += R) {
        size_t nr = o - r0 < R ? o - r0 : R, rows = nr * n_groups * nc;
        clip_candidates_kernel<<<grid_for(ctx, nr * n_groups * 32, 256), 256, 0, ctx->stream>>>(
            D, D16, mv, dup, w, r0, nr, i, g, n_groups, (int)nc, n_grid, maxq, f16);
        LAUNCH_CHECK();
        CUDA_CHECK(cudaMemsetAsync(err, 0, rows * sizeof *err, ctx->stream));
        for (size_t t0 = 0; t0 < t; t0 += nt_max) {
            size_t nt = t - t0 < nt_max ? t - t0 : nt_max;
            long long sd = (long long)(nr * nc * g), se = (long long)(nr * nc * nt);
            if (f16) { // E_j = [hi | lo]_j · [x_j | x_j]^T, K = 2g
                CUBLAS_CHECK(cublasGemmStridedBatchedEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nt, (int)(nr * nc),
                                                        (int)(2 * g), &one, xx + t0 * 2 * i, CUDA_R_16F, (int)(2 * i),
                                                        (long long)(2 * g), D16, CUDA_R_16F, (int)(2 * g), 2 * sd, &zero, E,
                                                        CUDA_R_32F, (int)nt, se, (int)n_groups, CUBLAS_COMPUTE_32F,
                                                        CUBLAS_GEMM_DEFAULT));
            } else {
                CUBLAS_CHECK(cublasGemmStridedBatchedEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nt, (int)(nr * nc), (int)g,
                                                        &one, x + t0 * i, CUDA_R_32F, (int)i, (long long)g, D, CUDA_R_32F,
                                                        (int)g, sd, &zero, E, CUDA_R_32F, (int)nt, se, (int)n_groups,
                                                        CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
            }
            clip_sumsq_kernel<<<grid_for(ctx, rows * 32, 256), 256, 0, ctx->stream>>>(err, E, rows, nt);
            LAUNCH_CHECK();
        }
        clip_select_kernel<<<grid_for(ctx, nr * n_groups, 128), 128, 0, ctx->stream>>>(
            max_val, best, loss, err, mv, dup, r0, nr, n_groups, (int)nc, t);
        LAUNCH_CHECK();
    }
    return KERN_OK;
}
