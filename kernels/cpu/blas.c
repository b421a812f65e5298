/* blas.c - how the CPU backend uses OpenBLAS: single-threaded calls (parallelism comes from
 * OpenMP over fixed blocks, which keeps results independent of the thread count) and the
 * int range of its dimensions. */
#include "cpu.h"

#include <cblas.h>
#include <limits.h>

int kern_fits_blas(size_t dim) { return dim <= (size_t)INT_MAX; }

void kern_blas_serial(void)
{
    /* cheap when already 1; called each time because the caller may change it in between */
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}
