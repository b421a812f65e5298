// bench.cu - a bare cuBLAS GEMM timed with events, the peak that tools/bench-kernels.c compares
// the ops with (kernels/device.h).
#include "cuda.cuh"

extern "C" {
#include "../device.h"
}

#include <stdlib.h>
#include <string.h>

// random values in [-1, 1) from a hash of the index (never zeros: they run faster than data)
__global__ void bench_fill(void *p, kern_dtype t, size_t n, unsigned seed)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        unsigned x = (unsigned)e * 2654435761u ^ seed;
        x ^= x >> 15, x *= 2246822519u, x ^= x >> 13;
        float f = (float)(x >> 8) * 0x1p-23f - 1.0f;
        if (t == KERN_F32) ((float *)p)[e] = f;
        else if (t == KERN_F16) ((__half *)p)[e] = __float2half_rn(f);
        else ((unsigned short *)p)[e] = (unsigned short)(__float_as_uint(f) >> 16);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static kern_status bench_run(awq_backend_ctx *ctx, kern_dtype dt, int m, int n, int k, int reps, void *A, void *B,
                             void *C, double *seconds)
{
    cudaDataType ty = dt == KERN_F16 ? CUDA_R_16F : dt == KERN_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasComputeType_t ct = dt == KERN_F32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
    bench_fill<<<grid_for(ctx, (size_t)m * k, 256), 256, 0, ctx->stream>>>(A, dt, (size_t)m * k, 1u);
    LAUNCH_CHECK();
    bench_fill<<<grid_for(ctx, (size_t)k * n, 256), 256, 0, ctx->stream>>>(B, dt, (size_t)k * n, 2u);
    LAUNCH_CHECK();
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t ev[2];
    CUDA_CHECK(cudaEventCreate(&ev[0]));
    CUDA_CHECK(cudaEventCreate(&ev[1]));
    double *t = (double *)calloc((size_t)reps, sizeof *t);
    kern_status st = t ? KERN_OK : KERN_ERR_NOMEM;
    for (int r = -2; r < reps && st == KERN_OK; r++) { // two warm-ups
        cudaError_t e = cudaEventRecord(ev[0], ctx->stream);
        if (e != cudaSuccess) { st = cuda_fail(e, "cudaEventRecord", __FILE__, __LINE__); break; }
        cublasStatus_t bs = cublasGemmEx(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, A, ty, m, B, ty, k, &zero, C,
                                         ty, m, ct, CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS) { st = cublas_fail(bs, "cublasGemmEx", __FILE__, __LINE__); break; }
        e = cudaEventRecord(ev[1], ctx->stream);
        if (e == cudaSuccess) e = cudaEventSynchronize(ev[1]);
        float ms = 0;
        if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, ev[0], ev[1]);
        if (e != cudaSuccess) { st = cuda_fail(e, "cudaEventElapsedTime", __FILE__, __LINE__); break; }
        if (r >= 0) t[r] = ms * 1e-3;
    }
    if (st == KERN_OK) {
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        *seconds = t[reps / 2];
    }
    free(t);
    cudaEventDestroy(ev[0]), cudaEventDestroy(ev[1]);
    return st;
}

extern "C" kern_status awq_cuda_bench_gemm(const awq_backend *be, kern_dtype dt, int m, int n, int k, int reps,
                                           double *seconds)
{
    *seconds = 0;
    if (!be || strcmp(be->name, "cuda") != 0) return KERN_ERR_UNSUPPORTED;
    if (m <= 0 || n <= 0 || k <= 0 || reps <= 0 || !dtype_ok(dt)) return KERN_ERR_ARG;
    awq_backend_ctx *ctx = be->ctx;
    size_t esz = kern_dtype_size(dt);
    void *A = NULL, *B = NULL, *C = NULL;
    kern_status st = KERN_OK;
    if ((st = be->alloc(ctx, &A, (size_t)m * k * esz)) == KERN_OK && (st = be->alloc(ctx, &B, (size_t)k * n * esz)) == KERN_OK &&
        (st = be->alloc(ctx, &C, (size_t)m * n * esz)) == KERN_OK)
        st = bench_run(ctx, dt, m, n, k, reps, A, B, C, seconds);
    be->free(ctx, A), be->free(ctx, B), be->free(ctx, C);
    return st;
}
