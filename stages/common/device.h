/* device.h - the --device option: which kernels backend a stage runs on. */
#ifndef AWQ_STAGE_DEVICE_H
#define AWQ_STAGE_DEVICE_H

#include "../../base/error.h"
#include "../../kernels/kernels.h"

/* device: "cpu", "cuda" or "auto" (CUDA when this build has the CUDA backend and a GPU is
 * present, else CPU). AWQ_ERR_ARG for other names, AWQ_ERR_UNSUPPORTED/AWQ_ERR_DEVICE when
 * CUDA is asked for and cannot be had. Close the result with be->close(be). */
awq_err awq_backend_open(const char *device, const awq_backend **out);
/* The same on CUDA device `ordinal` (-1: the first visible one), the GPU a step's memory units
 * are on (slots.h); the CPU backend ignores it. */
awq_err awq_backend_open_on(const char *device, int ordinal, const awq_backend **out);

/* Test hook: be itself, or, when be is the CPU backend and $AWQ_TEST_DEVICE_MB is set, the CPU
 * backend whose allocations fail (out of memory) past that many MiB held at once: a device
 * smaller than its memory units say, to test the out-of-memory paths on the CPU (device.c). */
const awq_backend *awq_backend_test_limit(const awq_backend *be);

/* A profiling mark (base/prof.h) that first waits for the backend's queued work, so the time
 * lands on the phase that queued it. No-op (no sync) unless AWQ_PROFILE is set; be may be NULL. */
void awq_prof_dev(const awq_backend *be, const char *what);

#endif
