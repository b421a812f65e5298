/* device.c - device discovery; the CUDA side lives in kernels/cuda/device.cu. In a build without
 * CUDA the CUDA backend's entry points are stubs that say so. */
#include "device.h"
#include "kernels.h"

#if AWQ_CUDA
int awq_cuda_probe(char *name, size_t cap); /* kernels/cuda/device.cu */
#endif

int awq_built_with_cuda(void) { return AWQ_CUDA; }

int awq_cuda_device_count(char *name, size_t cap)
{
#if AWQ_CUDA
    return awq_cuda_probe(name, cap);
#else
    (void)name; (void)cap;
    return 0;
#endif
}

#if !AWQ_CUDA
int awq_cuda_meminfo(int ordinal, size_t *free_b, size_t *total_b, char *name, size_t cap)
{
    (void)ordinal; (void)name; (void)cap;
    *free_b = *total_b = 0;
    return -1;
}

const awq_backend *awq_backend_cuda(int device_ordinal, kern_status *err)
{
    (void)device_ordinal;
    if (err) *err = KERN_ERR_UNSUPPORTED;
    return NULL;
}


kern_status awq_cuda_bench_gemm(const awq_backend *be, kern_dtype dt, int m, int n, int k, int reps, double *seconds)
{
    (void)be; (void)dt; (void)m; (void)n; (void)k; (void)reps;
    *seconds = 0;
    return KERN_ERR_UNSUPPORTED;
}
#endif
