/* device.c - pick the kernels backend for --device cpu|cuda|auto. */
#include "device.h"

#include "../../base/prof.h"
#include "params.h"

#include <string.h>

#include "../../kernels/device.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- test hook: a device smaller than it says ---------------------------------------------------
 * AWQ_TEST_DEVICE_MB=M (tests only; never set by the Makefile): the block worker's CPU backend
 * (work.c: awq-quantize and the per-step programs, not the captures) fails its allocations as
 * out of memory once they would hold more than M MiB at once, as a GPU does when the
 * memory estimate (memest.c) fell short of what its steps really take. The CPU backend otherwise
 * never runs out, so the steps' out-of-memory paths (work.c: the retry in smaller chunks) could
 * not be tested on the CPU. Host buffers the stages lend it (devmem.h) are not counted. */
typedef struct { void *p; size_t bytes; } held_buf;
static struct {
    pthread_mutex_t mu;
    double limit, live, peak;
    held_buf *buf;
    size_t n, cap;
} lim = {.mu = PTHREAD_MUTEX_INITIALIZER};
static awq_backend limited;

static kern_status lim_alloc(awq_backend_ctx *ctx, void **ptr, size_t bytes)
{
    *ptr = NULL;
    pthread_mutex_lock(&lim.mu);
    kern_status st = KERN_ERR_NOMEM;
    if (lim.live + (double)bytes > lim.limit)
        kern_record_error("%zu bytes past AWQ_TEST_DEVICE_MB=%.0f (%.0f MiB held)", bytes, lim.limit / 1048576.0,
                          lim.live / 1048576.0);
    else if (lim.n == lim.cap && !(lim.buf = realloc(lim.buf, (lim.cap = lim.cap ? 2 * lim.cap : 256) * sizeof *lim.buf)))
        lim.cap = lim.n = 0;
    else if ((st = awq_backend_cpu()->alloc(ctx, ptr, bytes)) == KERN_OK) {
        lim.buf[lim.n++] = (held_buf){*ptr, bytes};
        lim.live += (double)bytes;
        if (lim.live > lim.peak) lim.peak = lim.live;
    }
    pthread_mutex_unlock(&lim.mu);
    return st;
}

static void lim_free(awq_backend_ctx *ctx, void *ptr)
{
    if (!ptr) return;
    pthread_mutex_lock(&lim.mu);
    for (size_t i = lim.n; i-- > 0;)
        if (lim.buf[i].p == ptr) {
            lim.live -= (double)lim.buf[i].bytes;
            lim.buf[i] = lim.buf[--lim.n];
            break;
        }
    pthread_mutex_unlock(&lim.mu);
    awq_backend_cpu()->free(ctx, ptr);
}

static void lim_close(const awq_backend *be)
{
    (void)be;
    awq_verbose("test device: at most %.1f MiB held of AWQ_TEST_DEVICE_MB=%.0f", lim.peak / 1048576.0, lim.limit / 1048576.0);
}

const awq_backend *awq_backend_test_limit(const awq_backend *be)
{
    const char *v = getenv("AWQ_TEST_DEVICE_MB");
    if (!v || !*v || be != awq_backend_cpu()) return be;
    pthread_mutex_lock(&lim.mu);
    if (!limited.alloc) {
        lim.limit = strtod(v, NULL) * 1048576.0;
        limited = *awq_backend_cpu();
        limited.alloc = lim_alloc, limited.free = lim_free, limited.close = lim_close;
    }
    pthread_mutex_unlock(&lim.mu);
    return &limited;
}

/* The CUDA backend on GPU `ordinal` (-1: the first visible), or the reason there is none (recorded). */
static awq_err open_cuda(int ordinal, const awq_backend **out)
{
    if (!awq_built_with_cuda()) {
        awq_fail(AWQ_ERR_UNSUPPORTED, "%s: this build has no CUDA backend", AWQ_SAY("device", "cuda"));
        awq_hint("rebuild with CUDA=1 (needs nvcc), or use %s", AWQ_SAY("device", "cpu"));
        return AWQ_ERR_UNSUPPORTED;
    }
    if (awq_cuda_device_count(NULL, 0) < 1) {
        awq_fail(AWQ_ERR_DEVICE, "%s: no CUDA device found", AWQ_SAY("device", "cuda"));
        awq_hint("check nvidia-smi and CUDA_VISIBLE_DEVICES, or use %s", AWQ_SAY("device", "cpu"));
        return AWQ_ERR_DEVICE;
    }
    kern_status st = KERN_OK;
    *out = awq_backend_cuda(ordinal < 0 ? 0 : ordinal, &st);
    if (*out) return AWQ_OK;
    const char *detail = kern_last_error();
    awq_fail(st == KERN_ERR_NOMEM ? AWQ_ERR_NOMEM : AWQ_ERR_DEVICE, "%s: cannot start the CUDA backend: %s%s%s",
             AWQ_SAY("device", "cuda"), kern_strerror(st), *detail ? ": " : "", detail);
    kern_clear_error();
    awq_hint("use %s", AWQ_SAY("device", "cpu"));
    return st == KERN_ERR_NOMEM ? AWQ_ERR_NOMEM : AWQ_ERR_DEVICE;
}

awq_err awq_backend_open(const char *device, const awq_backend **out)
{
    return awq_backend_open_on(device, -1, out);
}

awq_err awq_backend_open_on(const char *device, int ordinal, const awq_backend **out)
{
    *out = NULL;
    if (device && strcmp(device, "cpu") == 0) {
        *out = awq_backend_cpu();
        return AWQ_OK;
    }
    if (!device || strcmp(device, "auto") == 0) {
        /* the GPU when this build has CUDA and a device answers, else the CPU (also when the
         * GPU is there but its backend cannot start: auto never fails) */
        if (awq_built_with_cuda() && awq_cuda_device_count(NULL, 0) > 0 && open_cuda(ordinal, out) == AWQ_OK) return AWQ_OK;
        awq_clear_error();
        *out = awq_backend_cpu();
        return AWQ_OK;
    }
    if (strcmp(device, "cuda") == 0) return open_cuda(ordinal, out);
    awq_fail(AWQ_ERR_ARG, "--device '%s' is not one of cpu, cuda, auto", device);
    return AWQ_ERR_ARG;
}

void awq_prof_dev(const awq_backend *be, const char *what)
{
    if (!awq_prof_on()) return;
    if (be) (void)be->sync(be->ctx);
    awq_prof_mark("%s", what);
}
