/* device.c - pick the kernels backend for --device cpu|cuda|auto. */
#include "device.h"

#include <string.h>

#include "../../kernels/device.h"

awq_err awq_backend_open(const char *device, const awq_backend **out)
{
    *out = NULL;
    if (!device || strcmp(device, "auto") == 0 || strcmp(device, "cpu") == 0) {
        /* auto: the CUDA backend table does not exist yet (issue 7), so auto means CPU. */
        *out = awq_backend_cpu();
        return AWQ_OK;
    }
    if (strcmp(device, "cuda") == 0) {
        if (!awq_built_with_cuda()) {
            awq_fail(AWQ_ERR_UNSUPPORTED, "--device cuda: this build has no CUDA backend");
            awq_hint("rebuild with CUDA=1 (needs nvcc), or use --device cpu");
            return AWQ_ERR_UNSUPPORTED;
        }
        awq_fail(AWQ_ERR_UNSUPPORTED, "--device cuda: the CUDA stage kernels are not implemented yet");
        awq_hint("use --device cpu (or auto)");
        return AWQ_ERR_UNSUPPORTED;
    }
    awq_fail(AWQ_ERR_ARG, "--device '%s' is not one of cpu, cuda, auto", device);
    return AWQ_ERR_ARG;
}
