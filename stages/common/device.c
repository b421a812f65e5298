/* device.c - pick the kernels backend for --device cpu|cuda|auto. */
#include "device.h"

#include "../../base/prof.h"
#include "params.h"

#include <string.h>

#include "../../kernels/device.h"

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
