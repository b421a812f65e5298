/* kernel_support.h - helpers the kernel tests share (test_backends.c, test_quant.c): random
 * inputs from the test seed, and backend copies of host data. Static inline: each test program
 * is one translation unit. Failures to allocate end the test program. */
#ifndef AWQ_KERNEL_SUPPORT_H
#define AWQ_KERNEL_SUPPORT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/half.h"
#include "../kernels/kernels.h"
#include "test.h"

static inline const char *dt_name(kern_dtype t) { return t == KERN_F16 ? "F16" : t == KERN_BF16 ? "BF16" : "F32"; }

static inline void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) { fprintf(stderr, "test: out of memory\n"); exit(1); }
    return p;
}

/* n values in [lo, hi); f16: rounded to fp16 values (inputs of the faithful mode). */
static inline float *rand_floats(size_t n, float lo, float hi, int f16)
{
    float *x = xmalloc(n * sizeof *x);
    for (size_t e = 0; e < n; e++) x[e] = f16 ? awq_round_f16(t_randf(lo, hi)) : t_randf(lo, hi);
    return x;
}

/* A stored tensor of dtype dt with random values in [lo, hi) (host memory, caller frees .data). */
static inline kern_weight rand_weight(kern_dtype dt, size_t n, float lo, float hi)
{
    void *p = xmalloc(n * kern_dtype_size(dt));
    for (size_t e = 0; e < n; e++) {
        float f = t_randf(lo, hi);
        if (dt == KERN_F16) ((uint16_t *)p)[e] = awq_f32_to_f16(f);
        else if (dt == KERN_BF16) ((uint16_t *)p)[e] = awq_f32_to_bf16(f);
        else ((float *)p)[e] = f;
    }
    return (kern_weight){p, dt};
}

/* Backend copies of host data (alloc + upload, host may be NULL), and back. */
static inline void *dev_put(const awq_backend *be, const void *host, size_t bytes)
{
    void *d = NULL;
    kern_status st = be->alloc(be->ctx, &d, bytes);
    if (st != KERN_OK) { fprintf(stderr, "test: %s alloc of %zu bytes: %s\n", be->name, bytes, kern_strerror(st)); exit(1); }
    if (host && bytes && be->upload(be->ctx, d, host, bytes) != KERN_OK) { fprintf(stderr, "test: upload failed\n"); exit(1); }
    return d;
}
static inline kern_weight dev_weight(const awq_backend *be, kern_weight w, size_t n)
{
    return w.data ? (kern_weight){dev_put(be, w.data, n * kern_dtype_size(w.dtype)), w.dtype} : w;
}
static inline void dev_get(const awq_backend *be, void *host, const void *dev, size_t bytes)
{
    kern_status st = be->download(be->ctx, host, dev, bytes);
    if (st != KERN_OK) { fprintf(stderr, "test: %s download: %s\n", be->name, kern_strerror(st)); exit(1); }
}
static inline void dev_free(const awq_backend *be, const void *p) { be->free(be->ctx, (void *)p); }

/* One fp16 unit in the last place at |v| (the gap a faithful result may be off by when the fp32
 * value it rounds sits on a rounding boundary and the summation order differs). */
static inline double ulp16(double v)
{
    v = fabs(v);
    if (v < 0x1p-14) return 0x1p-24;
    return ldexp(1.0, (int)floor(log2(v)) - 10);
}

#endif
