/* kern_err.c - kernel statuses as stage errors (kern_err.h). */
#include "kern_err.h"

#include "params.h"

awq_err awq_kern_fail(kern_status s, const char *what)
{
    awq_err e = s == KERN_ERR_NOMEM ? AWQ_ERR_NOMEM : s == KERN_ERR_DEVICE ? AWQ_ERR_DEVICE
              : s == KERN_ERR_UNSUPPORTED ? AWQ_ERR_UNSUPPORTED : AWQ_ERR_ARG;
    /* the detail is the runtime's (CUDA/cuBLAS): only a device or memory failure has one */
    const char *detail = s == KERN_ERR_DEVICE || s == KERN_ERR_NOMEM ? kern_last_error() : "";
    awq_fail(e, "%s: %s%s%s", what, kern_strerror(s), *detail ? ": " : "", detail);
    kern_clear_error();
    if (e == AWQ_ERR_NOMEM)
        awq_hint("under make -j the steps share the GPU's memory (each block's awq-quantize of a 7B model holds ~14 GB): "
                 "run one at a time with AWQ_QUANTIZE_JOBS=1, calibrate on fewer tokens (N_SAMPLES=64), or compute on the host (%s); "
                 "finished work is kept", AWQ_SAY("device", "cpu"));
    return e;
}
