/* backend.c - the CPU instance of the backend table: host memory (aligned malloc, memcpy) and
 * the fast ops of kernels/cpu/<op>.c. Static and stateless, so it needs no init or cleanup. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

static kern_status cpu_alloc(awq_backend_ctx *ctx, void **ptr, size_t bytes)
{
    (void)ctx;
    /* 64-byte alignment for vector loads; aligned_alloc wants a multiple of the alignment */
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < bytes) { *ptr = NULL; return KERN_ERR_NOMEM; } /* wrapped around */
    *ptr = aligned_alloc(64, rounded ? rounded : 64);
    return *ptr ? KERN_OK : KERN_ERR_NOMEM;
}

static void cpu_free(awq_backend_ctx *ctx, void *ptr) { (void)ctx; free(ptr); }

static kern_status cpu_memcpy(awq_backend_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes) memcpy(dst, src, bytes);
    return KERN_OK;
}

static kern_status cpu_sync(awq_backend_ctx *ctx) { (void)ctx; return KERN_OK; }
static void cpu_close(const awq_backend *be) { (void)be; }

static const awq_backend cpu_backend = {
    .name = "cpu",
    .caps = KERN_CAP_HOST_MEMORY | KERN_CAP_HOST_COMPUTE,
    .ctx = NULL,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .sync = cpu_sync,
    .close = cpu_close,
#define KERN_OP(name, stem, ret, params) .name = cpu_##name,
#include "../ops.def"
};

const awq_backend *awq_backend_cpu(void) { return &cpu_backend; }
