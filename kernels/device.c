/* device.c - device discovery; the CUDA side lives in kernels/cuda/device.cu. */
#include "device.h"

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
