// device.cu - CUDA device discovery. A machine without a driver or GPU reports 0 devices
// (cudaGetDeviceCount fails there); that is not an error for --device auto.
#include <cuda_runtime.h>
#include <stdio.h>

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
