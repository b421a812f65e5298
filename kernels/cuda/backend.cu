// backend.cu - the CUDA instance of the backend table: context (device, stream, cuBLAS handle,
// scratch), device memory with cudaMalloc, copies on the context's stream, and the error detail
// behind a failed call. The ops live in kernels/cuda/<op>.cu.
#include "cuda.cuh"

#include <stdio.h>
#include <stdlib.h>

static kern_status record(kern_status st, const char *expr, const char *what, const char *file, int line)
{
    const char *base = file;
    for (const char *p = file; *p; p++)
        if (*p == '/' && p[1]) base = p + 1;
    kern_record_error("%s: %s (%s:%d)", expr, what, base, line);
    return st;
}

kern_status cuda_fail(cudaError_t e, const char *expr, const char *file, int line)
{
    (void)cudaGetLastError(); // clear a non-sticky error; a sticky one stays with the context
    kern_status st = e == cudaErrorMemoryAllocation ? KERN_ERR_NOMEM : KERN_ERR_DEVICE;
    return record(st, expr, cudaGetErrorString(e), file, line);
}

kern_status cublas_fail(cublasStatus_t s, const char *expr, const char *file, int line)
{
    (void)cudaGetLastError();
    kern_status st = s == CUBLAS_STATUS_ALLOC_FAILED ? KERN_ERR_NOMEM : KERN_ERR_DEVICE;
    return record(st, expr, cublasGetStatusString(s), file, line);
}

kern_status cuda_scratch(awq_backend_ctx *ctx, size_t bytes, void **p)
{
    if (bytes > ctx->scratch_bytes) {
        size_t want = bytes + bytes / 4; // some headroom, so that slowly growing requests do not reallocate each time
        CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
        CUDA_CHECK(cudaFree(ctx->scratch));
        ctx->scratch = NULL, ctx->scratch_bytes = 0;
        if (cudaMalloc(&ctx->scratch, want) != cudaSuccess) {
            (void)cudaGetLastError(); // or the next launch check would report it
            ctx->scratch = NULL;
            CUDA_CHECK(cudaMalloc(&ctx->scratch, bytes)); // no headroom then
            want = bytes;
        }
        ctx->scratch_bytes = want;
    }
    *p = ctx->scratch;
    return KERN_OK;
}

// ---- memory ------------------------------------------------------------------------------------

static kern_status cu_alloc(awq_backend_ctx *ctx, void **ptr, size_t bytes)
{
    (void)ctx;
    *ptr = NULL;
    cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 1); // bytes = 0: still a unique pointer
    if (e != cudaSuccess) {
        *ptr = NULL;
        char what[64];
        snprintf(what, sizeof what, "cudaMalloc(%zu bytes)", bytes);
        return cuda_fail(e, what, __FILE__, __LINE__);
    }
    return KERN_OK;
}

static void cu_free(awq_backend_ctx *ctx, void *ptr)
{
    (void)ctx;
    if (ptr && cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError(); // nothing to report to
}

// upload returns when src may be reused (the copy from pageable memory is staged anyway)
static kern_status cu_upload(awq_backend_ctx *ctx, void *dst, const void *src_host, size_t bytes)
{
    if (!bytes) return KERN_OK;
    CUDA_CHECK(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return KERN_OK;
}

static kern_status cu_download(awq_backend_ctx *ctx, void *dst_host, const void *src, size_t bytes)
{
    if (!bytes) return KERN_OK;
    CUDA_CHECK(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return KERN_OK;
}

static kern_status cu_copy(awq_backend_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return KERN_OK;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    return KERN_OK;
}

static kern_status cu_sync(awq_backend_ctx *ctx)
{
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return KERN_OK;
}

static void ctx_destroy(awq_backend_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->stream) (void)cudaStreamSynchronize(ctx->stream);
    if (ctx->blas) cublasDestroy(ctx->blas);
    if (ctx->stream) cudaStreamDestroy(ctx->stream);
    cudaFree(ctx->scratch);
    cudaFree(ctx->result);
    for (size_t k = 0; k < sizeof ctx->pin / sizeof ctx->pin[0]; k++) cudaFree(ctx->pin[k].h);
    (void)cudaGetLastError();
    free(ctx);
}

static void cu_close(const awq_backend *be)
{
    if (be) ctx_destroy(be->ctx);
}

static kern_status ctx_init(awq_backend_ctx *ctx, int ordinal)
{
    int n = 0;
    CUDA_CHECK(cudaGetDeviceCount(&n));
    if (ordinal < 0 || ordinal >= n) {
        kern_record_error("device %d: this machine has %d CUDA device(s)", ordinal, n);
        return KERN_ERR_ARG;
    }
    ctx->device = ordinal;
    // A host thread waiting for the GPU sleeps instead of spinning (the default while a process
    // has fewer contexts than cores): under make -j a dozen steps share one GPU, and their spinning
    // waits took the cores their host work needed. Set before the context is made (no device is
    // current yet, so the flags go to the one initialised next); only a speed matter, so a
    // refusal is not an error.
    if (cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync) != cudaSuccess) (void)cudaGetLastError();
    CUDA_CHECK(cudaSetDevice(ordinal));
    CUDA_CHECK(cudaDeviceGetAttribute(&ctx->sm_count, cudaDevAttrMultiProcessorCount, ordinal));
    CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&ctx->blas));
    CUBLAS_CHECK(cublasSetStream(ctx->blas, ctx->stream));
    // fp32 GEMMs are asked for with CUBLAS_COMPUTE_32F_PEDANTIC (no TF32 or emulation, whatever
    // the environment says), fp16 ones with fp32 accumulation; no reduction in reduced precision
    CUBLAS_CHECK(cublasSetMathMode(ctx->blas, (cublasMath_t)(CUBLAS_DEFAULT_MATH |
                                                             CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    CUDA_CHECK(cudaMalloc(&ctx->result, 64));
    return KERN_OK;
}

extern "C" const awq_backend *awq_backend_cuda(int device_ordinal, kern_status *err)
{
    kern_status st = KERN_OK;
    awq_backend_ctx *ctx = (awq_backend_ctx *)calloc(1, sizeof *ctx);
    if (!ctx) st = KERN_ERR_NOMEM;
    else if ((st = ctx_init(ctx, device_ordinal)) != KERN_OK) {
        ctx_destroy(ctx);
        ctx = NULL;
    }
    if (err) *err = st;
    if (!ctx) return NULL;
    awq_backend *t = &ctx->table;
    t->name = "cuda";
    t->caps = KERN_CAP_CUDA;
    t->ctx = ctx;
    t->alloc = cu_alloc;
    t->free = cu_free;
    t->upload = cu_upload;
    t->download = cu_download;
    t->copy = cu_copy;
    t->sync = cu_sync;
    t->close = cu_close;
#define KERN_OP(name, stem, ret, params) t->name = cuda_##name;
#include "../ops.def"
    return t;
}
