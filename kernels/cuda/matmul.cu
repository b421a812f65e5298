// matmul.cu - y[n,o] = x[n,i] · w[o,i]^T + b with cuBLAS (row-major y^T = W x^T, so W is the
// transposed operand). Exact products and fp32 accumulation on every path:
// - faithful mode (round_f16) with F16 weights: x is converted to fp16 (exact: in this mode it holds
//   fp16 values) and cublasGemmEx runs on the tensor cores with fp32 accumulation. Two sub-paths:
//   * no bias: C is fp16 (CUDA_R_16F, compute CUBLAS_COMPUTE_32F) in scratch, then one pass widens
//     it into y: 8 bytes of traffic per output (C written 2, read 2, y written 4) instead of 12
//     (fp32 C written 4, then read 4 and rewritten 4 to round). This is the same value: with
//     alpha = 1 and beta = 0 the epilogue's fp32 value is the fp32 accumulator itself, cuBLAS
//     converts it once to fp16 rounding to nearest even, which is h() of that fp32 sum, and
//     widening back to fp32 is exact. Split-K partial
//     sums stay fp32 because backend.cu sets CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION on
//     the handle (otherwise cuBLAS may add them up in fp16, a second rounding). The RNE
//     conversion is not stated in the cuBLAS docs; tests/test_backends.c's matmul cases check the
//     outputs on the GPU against the CPU reference (h of an fp32 sum);
//   * with a bias: C is fp32 and one pass adds the bias in fp32 and rounds (h(sum + b), as the
//     CPU reference does; an fp16 C would round twice);
// - everything else (fp32 mode, F32 or BF16 weights): the weights are converted to fp32 (exact)
//   and the product is an fp32 GEMM (CUBLAS_COMPUTE_32F_PEDANTIC: no TF32); then one pass adds
//   the bias and rounds (h) where asked.
#include "cuda.cuh"

__global__ void bias_round_kernel(float *y, const void *bias, kern_dtype bt, size_t n, size_t o, int f16)
{
    size_t total = n * o;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        float v = y[e];
        if (bias) v = __fadd_rn(v, weight_at(bias, bt, e % o));
        y[e] = hif(v, f16);
    }
}

// y = bias (i = 0: empty sums)
__global__ void bias_only_kernel(float *y, const void *bias, kern_dtype bt, size_t n, size_t o, int f16)
{
    size_t total = n * o;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x)
        y[e] = bias ? hif(weight_at(bias, bt, e % o), f16) : 0.0f;
}

kern_status cuda_gemm_f16(awq_backend_ctx *ctx, __half *c16, const __half *x16, const void *w16, size_t n, size_t o,
                          size_t i)
{
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasGemmEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)o, (int)n, (int)i, &one, w16, CUDA_R_16F, (int)i,
                              x16, CUDA_R_16F, (int)i, &zero, c16, CUDA_R_16F, (int)o, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
    return KERN_OK;
}

kern_status cuda_matmul(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, kern_weight bias, size_t n,
                        size_t o, size_t i, int round_f16)
{
    if (!dtype_ok(w.dtype) || (bias.data && !dtype_ok(bias.dtype))) return KERN_ERR_ARG;
    if (!fits_int(n) || !fits_int(o) || !fits_int(i)) return KERN_ERR_UNSUPPORTED;
    if (n == 0 || o == 0) return KERN_OK;
    int f16 = round_f16 != 0;
    if (i == 0) {
        bias_only_kernel<<<grid_for(ctx, n * o, 256), 256, 0, ctx->stream>>>(y, bias.data, bias.dtype, n, o, f16);
        LAUNCH_CHECK();
        return KERN_OK;
    }
    const float one = 1.0f, zero = 0.0f;
    if (f16 && w.dtype == KERN_F16 && !bias.data) {
        // one scratch buffer per context: x16 and the fp16 C share it (C 256-byte aligned)
        const __half *pinned = cuda_pinned_f16(ctx, x, n * i); // x already as fp16 (pin_f16)
        carve cv = {0, NULL};
        size_t at_x = carve_add(&cv, pinned ? 0 : n * i * sizeof(__half)), at_c = carve_add(&cv, n * o * sizeof(__half));
        KERN_TRY(cuda_scratch(ctx, cv.bytes, (void **)&cv.base));
        __half *c16 = (__half *)(cv.base + at_c);
        const __half *x16 = pinned ? pinned : (const __half *)(cv.base + at_x);
        if (!pinned) KERN_TRY(cuda_to_f16(ctx, (__half *)(cv.base + at_x), x, n * i));
        KERN_TRY(cuda_gemm_f16(ctx, c16, x16, w.data, n, o, i));
        // fp16 -> fp32 is exact; y now holds h(fp32 sum), nothing left to round
        kern_weight c = {c16, KERN_F16};
        return cuda_to_f32(ctx, y, c, n * o);
    }
    if (f16 && w.dtype == KERN_F16) {
        const __half *x16 = cuda_pinned_f16(ctx, x, n * i);
        if (!x16) {
            __half *conv = NULL;
            KERN_TRY(cuda_scratch(ctx, n * i * sizeof *conv, (void **)&conv));
            KERN_TRY(cuda_to_f16(ctx, conv, x, n * i));
            x16 = conv;
        }
        CUBLAS_CHECK(cublasGemmEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)o, (int)n, (int)i, &one, w.data, CUDA_R_16F,
                                  (int)i, x16, CUDA_R_16F, (int)i, &zero, y, CUDA_R_32F, (int)o, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    } else {
        const void *wf = w.data;
        if (w.dtype != KERN_F32) {
            float *conv = NULL;
            KERN_TRY(cuda_scratch(ctx, o * i * sizeof *conv, (void **)&conv));
            KERN_TRY(cuda_to_f32(ctx, conv, w, o * i));
            wf = conv;
        }
        CUBLAS_CHECK(cublasGemmEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)o, (int)n, (int)i, &one, wf, CUDA_R_32F,
                                  (int)i, x, CUDA_R_32F, (int)i, &zero, y, CUDA_R_32F, (int)o,
                                  CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
    }
    if (bias.data || f16) {
        bias_round_kernel<<<grid_for(ctx, n * o, 256), 256, 0, ctx->stream>>>(y, bias.data, bias.dtype, n, o, f16);
        LAUNCH_CHECK();
    }
    return KERN_OK;
}
