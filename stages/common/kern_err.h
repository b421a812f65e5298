/* kern_err.h - a kernel status as the stage's error: the kern_status -> awq_err mapping and the
 * one-line message, with the backend's own detail (the failed CUDA/cuBLAS call, its status name
 * and file:line, from kern_last_error()) when there is one. */
#ifndef AWQ_KERN_ERR_H
#define AWQ_KERN_ERR_H

#include "../../base/error.h"
#include "../../kernels/kernels.h"

/* Set the awq error for a failed kernel call and return it: "<what>: <status>" followed, for
 * KERN_ERR_DEVICE and KERN_ERR_NOMEM, by ": <detail>" when the backend recorded one for this
 * thread (then consumed: kern_clear_error), and a hint for out of memory. NOMEM -> AWQ_ERR_NOMEM, DEVICE -> AWQ_ERR_DEVICE, UNSUPPORTED ->
 * AWQ_ERR_UNSUPPORTED, anything else AWQ_ERR_ARG. */
awq_err awq_kern_fail(kern_status s, const char *what);

#endif
