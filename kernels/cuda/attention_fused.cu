// attention_fused.cu - causal GQA attention in faithful fp16 mode as one kernel that keeps the
// scores on chip: attention.cu's batched-GEMM path writes all t x t fp32 scores and fp16
// probabilities to memory and reads them back, which bounds it at a few % of the tensor cores.
// Numerics: those of attention.cu's faithful path (kernels/cpu/attention.c is the math):
//   score  = q·k with fp16 q, k (the fp32 inputs hold fp16 values: converted exactly) and fp32
//            accumulation on the tensor cores (WMMA 16x16x16);
//   s      = h(h(score) * scale), scale = (float)(1/sqrt((double)d));
//   mx     = max over m <= p of s (exact), e = (float)exp((double)(s - mx)), fs = (float)(fp64 sum of e);
//   prob   = h(e / fs) as fp16 (0 for m > p); out = h(sum of prob * v), fp16 v, fp32 accumulation.
// fs needs the final max and prob needs fs, so each block sweeps its key tiles three times,
// recomputing Q K^T each time (bit-identical, same code): (1) row max, (2) fp64 sum of e,
// (3) prob and P V. No online-softmax rescaling: it would round differently. Only the fp64 sum's
// order differs from attention.cu (lane partial sums), which changes fs only when the sum rounds
// to another float.
// Shape: a block of 4 warps per (sequence, query head, tile of 64 queries), the tiles of a pair
// next to each other (they share K and V in L2), the longest first; a warp owns 16 query rows;
// key tiles of 64 up to the causal limit. Shared memory: Q, K, V tiles as fp16 (64 x (d + 8))
// and a 64 x 68 fp32 score tile whose warp rows also hold the warp's fp16 probabilities:
// 69632 bytes for d = 128 (3 blocks per H100 SM), 45056 for d = 64. q, k, v are read as fp32
// and converted on load (no scratch, no conversion pass).
#include "attention_fused.cuh"

#include <math.h>
#include <mma.h>
#include <stdint.h>

namespace wmma = nvcuda::wmma;

#define FA_TILE 64  // queries per block, keys per tile
#define FA_WARPS 4  // 16 query rows each
#define FA_LDS 68   // floats per row of the score tile (64 + 4 against bank conflicts)

template <int D> struct fa_shape {
    static constexpr int ld = D + 8; // halves per row of the Q, K, V tiles (keeps 32-byte rows for WMMA)
    static constexpr size_t tile = (size_t)FA_TILE * ld * sizeof(__half);
    static constexpr size_t smem = 3 * tile + (size_t)FA_TILE * FA_LDS * sizeof(float);
};

// rows r0 .. r0+63 of a head (row r at src + r * stride, D values, 16-byte aligned) into dst as
// fp16; rows at or past t are zeros (finite, so that a zero probability times them stays 0)
template <int D>
__device__ __forceinline__ void fa_load(__half *dst, const float *src, size_t stride, size_t r0, size_t t)
{
    constexpr int C4 = D / 4, LD = fa_shape<D>::ld;
    for (int idx = threadIdx.x; idx < FA_TILE * C4; idx += FA_WARPS * 32) {
        int r = idx / C4, c = idx % C4 * 4;
        float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r0 + r < t) x = __ldg((const float4 *)(src + (r0 + r) * stride + c));
        __half2 *d2 = (__half2 *)(dst + r * LD + c);
        d2[0] = __floats2half2_rn(x.x, x.y);
        d2[1] = __floats2half2_rn(x.z, x.w);
    }
}

// the warp's 16 x 64 raw scores Q_w K^T into Sw (row-major, ld FA_LDS); the same instructions in
// every sweep, so the same bits
template <int D>
__device__ __forceinline__ void fa_scores(float *Sw, const __half *Qw, const __half *Ks)
{
    constexpr int LD = fa_shape<D>::ld;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> bk; // K^T: key n's dims are a column
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c[4];
#pragma unroll
    for (int n = 0; n < 4; n++) wmma::fill_fragment(c[n], 0.0f);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        wmma::load_matrix_sync(a, Qw + kk * 16, LD);
#pragma unroll
        for (int n = 0; n < 4; n++) {
            wmma::load_matrix_sync(bk, Ks + n * 16 * LD + kk * 16, LD);
            wmma::mma_sync(c[n], a, bk, c[n]);
        }
    }
#pragma unroll
    for (int n = 0; n < 4; n++) wmma::store_matrix_sync(Sw + n * 16, c[n], FA_LDS, wmma::mem_row_major);
    __syncwarp();
}

__device__ __forceinline__ float fa_scaled(float score, float scale) { return h16(__fmul_rn(h16(score), scale)); }

// Block (pair, query tile): pair = blockIdx.x / nq, tile nq-1 - blockIdx.x % nq. Lane l of warp w
// takes query row p = q0 + 16w + l/2 and half l%2 of each key tile's 64 columns, visited in an
// order rotated by l so that the lanes hit distinct banks of the score tile. Rows p >= t (the last
// tile's padding) run on zero queries over keys < t and are never written.
template <int D>
__global__ void __launch_bounds__(FA_WARPS * 32)
attn_fused_kernel(float *out, const float *q, const float *k, const float *v, size_t t, size_t h, size_t group,
                  size_t nq, float scale)
{
    constexpr int LD = fa_shape<D>::ld, NF = D / 16;
    extern __shared__ __align__(128) unsigned char fa_smem[];
    __half *Qs = (__half *)fa_smem, *Ks = Qs + FA_TILE * LD, *Vs = Ks + FA_TILE * LD;
    float *S = (float *)(Vs + FA_TILE * LD);

    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, r = lane >> 1, hf = lane & 1;
    const size_t pair = blockIdx.x / nq, qt = nq - 1 - blockIdx.x % nq;
    const size_t s = pair / h, hq = pair % h, j = hq / group, hkv = h / group;
    const size_t qw = h * D, kw = hkv * D, q0 = qt * FA_TILE, p = q0 + warp * 16 + r;
    const float *qb = q + s * t * qw + hq * D, *kb = k + s * t * kw + j * D, *vb = v + s * t * kw + j * D;
    float *Sw = S + warp * 16 * FA_LDS, *Srow = Sw + r * FA_LDS; // the warp's rows, this lane's row
    __half *Pw = (__half *)Sw;                                    // sweep 3: the warp's probabilities, ld 2*FA_LDS
    const __half *Qw = Qs + warp * 16 * LD;

    fa_load<D>(Qs, qb, qw, q0, t);

    // (1) row max
    float mx = -INFINITY;
    for (size_t kt = 0; kt <= qt; kt++) {
        size_t k0 = kt * FA_TILE;
        __syncthreads(); // every warp is done with the previous K tile
        fa_load<D>(Ks, kb, kw, k0, t);
        __syncthreads();
        fa_scores<D>(Sw, Qw, Ks);
        for (int jj = 0; jj < 32; jj++) {
            int c = hf * 32 + ((jj + lane) & 31);
            size_t m = k0 + c;
            if (m <= p && m < t) {
                float sv = fa_scaled(Srow[c], scale);
                mx = sv > mx ? sv : mx;
            }
        }
    }
    float other = __shfl_xor_sync(0xffffffffu, mx, 1);
    mx = other > mx ? other : mx;

    // (2) fp64 sum of e
    double sum = 0.0;
    for (size_t kt = 0; kt <= qt; kt++) {
        size_t k0 = kt * FA_TILE;
        __syncthreads();
        fa_load<D>(Ks, kb, kw, k0, t);
        __syncthreads();
        fa_scores<D>(Sw, Qw, Ks);
        for (int jj = 0; jj < 32; jj++) {
            int c = hf * 32 + ((jj + lane) & 31);
            size_t m = k0 + c;
            if (m <= p && m < t) sum += (float)exp((double)__fsub_rn(fa_scaled(Srow[c], scale), mx));
        }
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1); // a + b in one lane, b + a in the other: the same
    const float fs = (float)sum;

    // (3) prob = h(e / fs), O += P V
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[NF];
#pragma unroll
    for (int n = 0; n < NF; n++) wmma::fill_fragment(acc[n], 0.0f);
    for (size_t kt = 0; kt <= qt; kt++) {
        size_t k0 = kt * FA_TILE;
        __syncthreads();
        fa_load<D>(Ks, kb, kw, k0, t);
        fa_load<D>(Vs, vb, kw, k0, t);
        __syncthreads();
        fa_scores<D>(Sw, Qw, Ks);
        for (int jj = 0; jj < 32; jj++) { // in place: each lane rewrites only its own scores
            int c = hf * 32 + ((jj + lane) & 31);
            size_t m = k0 + c;
            float pr = 0.0f;
            if (m <= p && m < t) pr = __fdiv_rn((float)exp((double)__fsub_rn(fa_scaled(Srow[c], scale), mx)), fs);
            Srow[c] = pr;
        }
        __syncwarp();
        // the row as fp16 over the first half of its own bytes: another lane's values are
        // overwritten, so every lane reads all of its values before any lane writes
        float pv[32];
#pragma unroll
        for (int jj = 0; jj < 32; jj++) pv[jj] = Srow[hf * 32 + ((jj + lane) & 31)];
        __syncwarp();
#pragma unroll
        for (int jj = 0; jj < 32; jj++) Pw[r * 2 * FA_LDS + hf * 32 + ((jj + lane) & 31)] = __float2half_rn(pv[jj]);
        __syncwarp();
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> bv;
#pragma unroll
        for (int kk = 0; kk < FA_TILE / 16; kk++) {
            wmma::load_matrix_sync(a, Pw + kk * 16, 2 * FA_LDS);
#pragma unroll
            for (int n = 0; n < NF; n++) {
                wmma::load_matrix_sync(bv, Vs + kk * 16 * LD + n * 16, LD);
                wmma::mma_sync(acc[n], a, bv, acc[n]);
            }
        }
    }

    // out = h(O), 64 columns at a time through the warp's score rows
    __syncwarp(); // every lane's loads of P are done before the rows are overwritten
    float *ob = out + s * t * qw + hq * D;
#pragma unroll
    for (int g = 0; g < NF; g += 4) {
#pragma unroll
        for (int n = 0; n < 4; n++)
            if (g + n < NF) wmma::store_matrix_sync(Sw + n * 16, acc[g + n], FA_LDS, wmma::mem_row_major);
        __syncwarp();
        const int cols = D - g * 16 < 64 ? D - g * 16 : 64;
        for (int idx = lane; idx < 16 * 64; idx += 32) {
            int rr = idx >> 6, c = idx & 63;
            size_t pp = q0 + warp * 16 + rr;
            if (c < cols && pp < t) ob[pp * qw + g * 16 + c] = h16(Sw[rr * FA_LDS + c]);
        }
        __syncwarp();
    }
}

template <int D>
static kern_status attn_fused_launch(awq_backend_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                                     size_t b, size_t t, size_t h, size_t hkv, float scale)
{
    const size_t smem = fa_shape<D>::smem, nq = (t + FA_TILE - 1) / FA_TILE;
    CUDA_CHECK(cudaFuncSetAttribute(attn_fused_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    // most of L1 as shared memory: 3 blocks of d=128 (68 KB each) per SM; the loads do not reuse L1
    CUDA_CHECK(cudaFuncSetAttribute(attn_fused_kernel<D>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                    cudaSharedmemCarveoutMaxShared));
    attn_fused_kernel<D><<<(unsigned)(b * h * nq), FA_WARPS * 32, smem, ctx->stream>>>(out, q, k, v, t, h, h / hkv,
                                                                                        nq, scale);
    LAUNCH_CHECK();
    return KERN_OK;
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

int cuda_attention_fused_covers(const float *q, const float *k, const float *v, size_t b, size_t t, size_t h,
                                size_t hkv, size_t d)
{
    if (d != 64 && d != 128) return 0;
    if (!aligned16(q) || !aligned16(k) || !aligned16(v)) return 0; // float4 loads
    if (b == 0 || t == 0 || h == 0 || hkv == 0 || h % hkv) return 0;
    size_t nq = (t + FA_TILE - 1) / FA_TILE;
    return b <= 0x7fffffff / h && b * h <= 0x7fffffff / nq; // blocks fit gridDim.x
}

kern_status cuda_attention_fused(awq_backend_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                                 size_t b, size_t t, size_t h, size_t hkv, size_t d)
{
    if (!cuda_attention_fused_covers(q, k, v, b, t, h, hkv, d)) return KERN_ERR_UNSUPPORTED;
    const float scale = (float)(1.0 / sqrt((double)d));
    if (d == 64) return attn_fused_launch<64>(ctx, out, q, k, v, b, t, h, hkv, scale);
    return attn_fused_launch<128>(ctx, out, q, k, v, b, t, h, hkv, scale);
}
