/* kernels.c - backend-independent bits of kernels.h: status names and dtype sizes. */
#include "kernels.h"

const char *kern_strerror(kern_status s)
{
    switch (s) {
    case KERN_OK: return "ok";
    case KERN_ERR_NOMEM: return "out of memory";
    case KERN_ERR_DEVICE: return "device error";
    case KERN_ERR_UNSUPPORTED: return "unsupported by this backend";
    case KERN_ERR_ARG: return "invalid kernel arguments";
    }
    return "unknown kernel status";
}

size_t kern_dtype_size(kern_dtype t)
{
    switch (t) {
    case KERN_F32: return 4;
    case KERN_F16: case KERN_BF16: return 2;
    }
    return 0;
}
