/* device.h - which compute devices this build and this machine have (for --device auto), and
 * the bare cuBLAS rate benchmarks compare with. */
#ifndef AWQ_DEVICE_H
#define AWQ_DEVICE_H

#include <stddef.h>

#include "kernels.h"

/* Was this build compiled with the CUDA backend? */
int awq_built_with_cuda(void);
/* Number of usable CUDA devices (0 when built without CUDA, without a driver or without a GPU).
 * When > 0 and name != NULL, the first device's name is written to name[0..cap). */
int awq_cuda_device_count(char *name, size_t cap);
/* Free and total memory of CUDA device `ordinal` now, and its name (name may be NULL): 0, or -1
 * without CUDA or when that GPU does not answer. Makes this process's context on it. */
int awq_cuda_meminfo(int ordinal, size_t *free_b, size_t *total_b, char *name, size_t cap);

/* The reference rate for benchmarks: the median time in seconds (*seconds) of one bare cuBLAS
 * GEMM C[m,n] = A[m,k]·B[k,n] on a CUDA backend's stream, over `reps` timed runs after a warm-up,
 * on random operands of dtype dt (F16/BF16: tensor cores, fp32 accumulation, C in dt; F32: an
 * fp32 GEMM as the backend's own). The operands are allocated and freed here.
 * KERN_ERR_UNSUPPORTED without CUDA or for a non-CUDA backend; device errors as the ops. */
kern_status awq_cuda_bench_gemm(const awq_backend *be, kern_dtype dt, int m, int n, int k, int reps, double *seconds);

#endif
