/* matmul.c - linear layer y[n,o] = x[n,i] · w[o,i]^T + b[o] (fp32 accumulation).
 * _ref: one dot product per output, in k order. Fast: w converted to fp32 a slab of rows at a
 * time (bounded memory, nothing cached that could go stale), then fixed 256x256 output tiles in
 * parallel, each one single-threaded cblas_sgemm. */
#include "cpu.h"
#include "ref.h"
#include "../../base/half.h"

#include <cblas.h>
#include <stdlib.h>

kern_status kern_matmul_ref(float *y, const float *x, kern_weight w, kern_weight bias,
                            size_t n, size_t o, size_t i, int round_f16)
{
    if (!kern_dtype_ok(w.dtype) || (bias.data && !kern_dtype_ok(bias.dtype))) return KERN_ERR_ARG;
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < o; c++) {
            float acc = 0.0f;
            for (size_t k = 0; k < i; k++) acc += x[r * i + k] * kern_weight_at(w, c * i + k);
            if (bias.data) acc += kern_weight_at(bias, c);
            y[r * o + c] = round_f16 ? awq_round_f16(acc) : acc;
        }
    return KERN_OK;
}

/* Tiles of TILE rows of x by TILE columns of y, one single-threaded sgemm each, in parallel.
 * The tiling depends only on n and o, so results do not depend on the thread count. */
#define TILE 256
/* fp32 copy of at most this many weight elements at a time (64 MiB): a "slab" of rows of w */
#define SLAB_ELEMS ((size_t)16 << 20)

/* y[r0.., o0+c0..] for one tile; wb = fp32 rows o0.. of w (the slab) */
static void matmul_tile(float *y, const float *x, const float *wb, kern_weight bias, size_t o, size_t i,
                        size_t r0, size_t nr, size_t o0, size_t c0, size_t nc, int round_f16)
{
    float *yt = y + r0 * o + o0 + c0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, (int)i, 1.0f, x + r0 * i, (int)i,
                wb + c0 * i, (int)i, 0.0f, yt, (int)o);
    if (!bias.data && !round_f16) return;
    for (size_t r = 0; r < nr; r++) {
        float *yr = yt + r * o;
        if (bias.data)
            for (size_t c = 0; c < nc; c++) yr[c] += kern_weight_at(bias, o0 + c0 + c);
        if (round_f16) kern_round_f16_n(yr, nc);
    }
}

kern_status cpu_matmul(awq_backend_ctx *ctx, float *y, const float *x, kern_weight w, kern_weight bias,
                            size_t n, size_t o, size_t i, int round_f16)
{
    (void)ctx;
    if (!kern_dtype_ok(w.dtype) || (bias.data && !kern_dtype_ok(bias.dtype))) return KERN_ERR_ARG;
    if (!kern_fits_blas(n) || !kern_fits_blas(o) || !kern_fits_blas(i)) return KERN_ERR_UNSUPPORTED;
    if (n == 0 || o == 0) return KERN_OK;
    if (i == 0) { /* empty sums: y = bias (BLAS builds may reject lda = 0) */
        for (size_t r = 0; r < n; r++)
            for (size_t c = 0; c < o; c++) {
                float v = bias.data ? kern_weight_at(bias, c) : 0.0f;
                y[r * o + c] = round_f16 ? kern_round_f16_fast(v) : v;
            }
        return KERN_OK;
    }
    kern_blas_serial();
    /* slab rows: a multiple of TILE, so column tiles sit at multiples of TILE whatever the slab */
    size_t slab = SLAB_ELEMS / i / TILE * TILE;
    if (slab == 0) slab = TILE;
    if (slab > o) slab = o;
    float *wf = NULL;
    if (w.dtype != KERN_F32 && !(wf = malloc(slab * i * sizeof *wf))) return KERN_ERR_NOMEM;
    size_t nrt = (n + TILE - 1) / TILE;
    for (size_t o0 = 0; o0 < o; o0 += slab) {
        size_t ns = o - o0 < slab ? o - o0 : slab, nct = (ns + TILE - 1) / TILE;
        const float *wb = (const float *)w.data + o0 * i;
        if (wf) {
            #pragma omp parallel for schedule(static)
            for (size_t r = 0; r < ns; r++) kern_weight_to_f32(wf + r * i, w, (o0 + r) * i, i);
            wb = wf;
        }
        #pragma omp parallel for schedule(dynamic, 1)
        for (size_t tile = 0; tile < nrt * nct; tile++) {
            size_t r0 = tile / nct * TILE, c0 = tile % nct * TILE;
            size_t nr = n - r0 < TILE ? n - r0 : TILE, nc = ns - c0 < TILE ? ns - c0 : TILE;
            matmul_tile(y, x, wb, bias, o, i, r0, nr, o0, c0, nc, round_f16);
        }
    }
    free(wf);
    return KERN_OK;
}
