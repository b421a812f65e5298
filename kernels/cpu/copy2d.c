/* copy2d.c - strided copy of an n x w block of floats (the MLA forward's head splits and joins).
 * _ref: element by element. Fast: one memcpy per row, rows in parallel. */
#include "cpu.h"
#include "ref.h"

#include <string.h>

kern_status kern_copy2d_ref(float *dst, size_t dst_ld, const float *src, size_t src_ld, size_t n, size_t w)
{
    if (w > dst_ld || w > src_ld) return KERN_ERR_ARG;
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < w; j++) dst[r * dst_ld + j] = src[r * src_ld + j];
    return KERN_OK;
}

kern_status cpu_copy2d(awq_backend_ctx *ctx, float *dst, size_t dst_ld, const float *src, size_t src_ld, size_t n,
                       size_t w)
{
    (void)ctx;
    if (w > dst_ld || w > src_ld) return KERN_ERR_ARG;
    if (!w) return KERN_OK;
    #pragma omp parallel for schedule(static) if (n * w > 65536)
    for (size_t r = 0; r < n; r++) memcpy(dst + r * dst_ld, src + r * src_ld, w * sizeof *dst);
    return KERN_OK;
}
