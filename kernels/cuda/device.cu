// device.cu - CUDA device discovery. A machine without a driver or GPU reports 0 devices
// (cudaGetDeviceCount fails there); that is not an error for --device auto.
#include <cuda_runtime.h>
#include <stdio.h>

// Free and total memory of GPU `ordinal` now (this makes the process's context there); 0 on
// success, -1 when the GPU does not answer.
extern "C" int awq_cuda_meminfo(int ordinal, size_t *free_b, size_t *total_b, char *name, size_t cap)
{
    if (cudaSetDevice(ordinal) != cudaSuccess || cudaMemGetInfo(free_b, total_b) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    cudaDeviceProp p;
    if (name && cap && cudaGetDeviceProperties(&p, ordinal) == cudaSuccess) snprintf(name, cap, "%s", p.name);
    return 0;
}

extern "C" int awq_cuda_probe(char *name, size_t cap)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); // clear the sticky error
        return 0;
    }
    if (n > 0 && name && cap) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
            snprintf(name, cap, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                     (double)p.totalGlobalMem / (1 << 30));
    }
    return n;
}
