// cuda.cuh - what the CUDA ops share: the backend context, checked CUDA/cuBLAS calls mapped to
// kern_status, the context's scratch memory, fp16 rounding on the device and the per-op entry
// points that backend.cu puts in the table. The math of every op is its CPU _ref's
// (kernels/cpu/<op>.c); the .cu files only say how it maps onto the GPU.
#ifndef AWQ_KERNELS_CUDA_CUH
#define AWQ_KERNELS_CUDA_CUH

extern "C" {
#include "../kernels.h"

#include <math.h>
#include "../quant.h"
}

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

struct awq_backend_ctx {
    int device;            // CUDA ordinal
    int sm_count;          // multiprocessors, for grid sizes
    cudaStream_t stream;   // every op and copy runs on it, in call order
    cublasHandle_t blas;   // bound to stream
    void *scratch;         // temporaries of one op (grown on demand, never shrunk)
    size_t scratch_bytes;
    void *result;          // 64 bytes for small results read back by the host (flags, indices)
    struct { const float *x; size_t n; __half *h; } pin[4]; // pin_f16: fp16 copies of read-only inputs
    awq_backend table;     // the instance handed out; table.ctx points back here
};

// The pinned fp16 copy of x[0..n) (pin_f16), or NULL: what an fp16 path uses instead of converting.
const __half *cuda_pinned_f16(const awq_backend_ctx *ctx, const float *x, size_t n);

// Record "expr: what (file:line)" for kern_last_error() and map the error: allocation
// failures are KERN_ERR_NOMEM, everything else KERN_ERR_DEVICE. Non-sticky errors are cleared
// so that the next op does not report them again.
kern_status cuda_fail(cudaError_t e, const char *expr, const char *file, int line);
kern_status cublas_fail(cublasStatus_t s, const char *expr, const char *file, int line);

#define CUDA_CHECK(expr)                                                                   \
    do {                                                                                   \
        cudaError_t e_ = (expr);                                                           \
        if (e_ != cudaSuccess) return cuda_fail(e_, #expr, __FILE__, __LINE__);            \
    } while (0)
#define CUBLAS_CHECK(expr)                                                                 \
    do {                                                                                   \
        cublasStatus_t s_ = (expr);                                                        \
        if (s_ != CUBLAS_STATUS_SUCCESS) return cublas_fail(s_, #expr, __FILE__, __LINE__);\
    } while (0)
// after every kernel launch
#define LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())
// a kern_status from a helper
#define KERN_TRY(expr)                                                                     \
    do {                                                                                   \
        kern_status k_ = (expr);                                                           \
        if (k_ != KERN_OK) return k_;                                                      \
    } while (0)

// *p = at least `bytes` of device scratch, valid until the next op of this context (ops run in
// stream order, so reuse by the next op is safe). Growing frees the old buffer (cudaFree waits
// for the device). KERN_ERR_NOMEM when it cannot be had.
kern_status cuda_scratch(awq_backend_ctx *ctx, size_t bytes, void **p);

// Carving one scratch allocation into aligned pieces: size with carve_add, then carve_take.
struct carve {
    size_t bytes;
    char *base;
};
static inline size_t carve_add(carve *c, size_t bytes)
{
    size_t at = c->bytes;
    c->bytes += (bytes + 255) / 256 * 256;
    return at;
}

// Blocks for a grid-stride loop over n items with `threads` per block: enough to fill the GPU,
// never more than the work.
static inline unsigned grid_for(const awq_backend_ctx *ctx, size_t n, unsigned threads)
{
    size_t want = (n + threads - 1) / threads, cap = (size_t)ctx->sm_count * 32;
    if (want > cap) want = cap;
    return want ? (unsigned)want : 1u;
}

static inline int fits_int(size_t v) { return v <= 0x7fffffff; }
static inline int dtype_ok(kern_dtype t) { return t == KERN_F32 || t == KERN_F16 || t == KERN_BF16; }

// h(x): round to the nearest fp16 (RNE, subnormals kept, overflow to Inf, NaN stays NaN) and
// back; exact like awq_round_f16.
__device__ __forceinline__ float h16(float x) { return __half2float(__float2half_rn(x)); }
__device__ __forceinline__ float hif(float x, int f16) { return f16 ? h16(x) : x; }

// silu(g) = g / (1 + exp(-g)) in fp32, exp taken in fp64 and rounded once (why: silu_mul.cu);
// silu_mul and mlp share it so that their results are the same bits
__device__ __forceinline__ float silu_f32(float g)
{
    float ex = (float)exp(-(double)g);
    return __fdiv_rn(g, __fadd_rn(1.0f, ex));
}

// torch's tanh GELU in fp32 (kernels/cpu/silu_mul.c): 0.5 x (1 + tanh(beta (x + 0.044715 x^3))),
// tanh taken in fp64 and rounded once (CUDA's tanhf is within 2 ulp; glibc's is correctly rounded
// in all but rare cases); gelu_tanh_mul and mlp share it
__device__ __forceinline__ float gelu_tanh_f32(float x)
{
    const float beta = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = 0.044715f;
    float inner = __fmul_rn(beta, __fadd_rn(x, __fmul_rn(kappa, __fmul_rn(__fmul_rn(x, x), x))));
    return __fmul_rn(__fmul_rn(0.5f, x), __fadd_rn(1.0f, (float)tanh((double)inner)));
}

// element idx of a stored weight as fp32 (exact)
__device__ __forceinline__ float weight_at(const void *p, kern_dtype t, size_t idx)
{
    if (t == KERN_F16) return __half2float(__ushort_as_half(((const unsigned short *)p)[idx]));
    if (t == KERN_BF16) return __uint_as_float((unsigned)((const unsigned short *)p)[idx] << 16);
    return ((const float *)p)[idx];
}

// warp-wide reductions (all 32 lanes take part)
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    return v;
}
__device__ __forceinline__ float warp_min(float v)
{
    for (int o = 16; o; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u < v ? u : v;
    }
    return v;
}
__device__ __forceinline__ double warp_sum(double v)
{
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// fp32 -> fp16 copy of n values (rounded; exact for fp16 values) on the device; in convert.cu
kern_status cuda_to_f16(awq_backend_ctx *ctx, __half *dst, const float *src, size_t n);

// c16[n,o] = h(x16[n,i] · w16[o,i]^T): fp16 operands and C, fp32 accumulation; the one cublasGemmEx
// call of cuda_matmul's faithful no-bias path, which mlp and attn share so that their products
// are its bits (why an fp16 C is h(fp32 sum): matmul.cu). n, o, i >= 1 and within int.
kern_status cuda_gemm_f16(awq_backend_ctx *ctx, __half *c16, const __half *x16, const void *w16, size_t n, size_t o,
                          size_t i);
// rope (kernels.h) in the faithful mode on fp16 storage: the bits of cuda_rope on the widened values
kern_status cuda_rope_f16(awq_backend_ctx *ctx, __half *x, const int32_t *pos, size_t n, size_t heads, size_t d,
                          const kern_rope *rope);
// faithful attention (kernels.h) on fp16 q, k, v: o16 [b*t, h*d] = the output as fp16 and, when
// out32 is not NULL, widened into it; cuda_attention's bits on the widened inputs
kern_status cuda_attention_f16(awq_backend_ctx *ctx, __half *o16, float *out32, const __half *q16, const __half *k16,
                               const __half *v16, size_t b, size_t t, size_t h, size_t hkv, size_t d, float scale,
                               float softcap, size_t window);

// ---- the ops: cuda_<name> for every entry of kernels/ops.def (semantics there) ------------
#define KERN_OP(name, stem, ret, params) ret cuda_##name params;
#include "../ops.def"

#endif
