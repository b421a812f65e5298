/* devmem.h - moving stage data to and from a backend's memory. On the CPU backend backend
 * memory IS host memory, so "uploading" a host buffer just lends it (no copy); on a device
 * backend it allocates and copies. Stages write their code once for both:
 *   const float *xd; void *own;
 *   if ((e = awq_dev_view(be, x, bytes, (const void **)&xd, &own))) ...;
 *   ... ops on xd ...
 *   awq_dev_release(be, own);
 */
#ifndef AWQ_DEVMEM_H
#define AWQ_DEVMEM_H

#include <string.h>

#include "../../base/error.h"
#include "../../kernels/kernels.h"

#include "kern_err.h"

/* Is backend memory host memory (so a host pointer can be lent instead of copied)? */
static inline int awq_backend_is_host(const awq_backend *be) { return (be->caps & KERN_CAP_HOST_MEMORY) != 0; }

/* Backend memory of `bytes` (uninitialised); NULL-safe free with awq_dev_free. */
static inline awq_err awq_dev_alloc(const awq_backend *be, void **p, size_t bytes)
{
    kern_status ks = be->alloc(be->ctx, p, bytes);
    return ks == KERN_OK ? AWQ_OK : awq_kern_fail(ks, bytes > ((size_t)1 << 30) ? "cannot allocate a large buffer" : "cannot allocate");
}
static inline void awq_dev_free(const awq_backend *be, void *p) { if (p) be->free(be->ctx, p); }

/* A backend view of host data: the host pointer itself on the CPU (*owned = NULL), else a new
 * copy (*owned = it; release with awq_dev_release). */
static inline awq_err awq_dev_view(const awq_backend *be, const void *host, size_t bytes, const void **view, void **owned)
{
    *owned = NULL;
    if (awq_backend_is_host(be)) { *view = host; return AWQ_OK; }
    void *d = NULL;
    awq_err e = awq_dev_alloc(be, &d, bytes);
    if (e) return e;
    kern_status ks = be->upload(be->ctx, d, host, bytes);
    if (ks != KERN_OK) { be->free(be->ctx, d); return awq_kern_fail(ks, "upload"); }
    *view = d;
    *owned = d;
    return AWQ_OK;
}
static inline void awq_dev_release(const awq_backend *be, void *owned) { awq_dev_free(be, owned); }

/* Host copy of backend data (a no-op when they are the same memory). */
static inline awq_err awq_dev_fetch(const awq_backend *be, void *host, const void *dev, size_t bytes)
{
    if (host == dev || bytes == 0) return AWQ_OK;
    kern_status ks = be->download(be->ctx, host, dev, bytes);
    return ks == KERN_OK ? AWQ_OK : awq_kern_fail(ks, "download");
}

#endif
