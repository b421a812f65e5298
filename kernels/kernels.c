/* kernels.c - backend-independent bits of kernels.h: status names, the error detail channel,
 * dtype sizes, shared argument checks. */
#include "kernels.h"

#include <stdarg.h>
#include <stdio.h>

/* per thread: a backend instance is used from one thread at a time, and so is its detail */
static _Thread_local char last_error[256];

const char *kern_last_error(void) { return last_error; }
void kern_clear_error(void) { last_error[0] = 0; }

void kern_record_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *kern_strerror(kern_status s)
{
    switch (s) {
    case KERN_OK: return "ok";
    case KERN_ERR_NOMEM: return "out of memory";
    case KERN_ERR_DEVICE: return "device error";
    case KERN_ERR_UNSUPPORTED: return "unsupported by this backend";
    case KERN_ERR_ARG: return "invalid kernel arguments";
    }
    return "unknown kernel status";
}

size_t kern_dtype_size(kern_dtype t)
{
    switch (t) {
    case KERN_F32: return 4;
    case KERN_F16: case KERN_BF16: return 2;
    }
    return 0;
}

static int dtype_ok(kern_dtype t) { return t == KERN_F32 || t == KERN_F16 || t == KERN_BF16; }

float kern_attn_scale(const kern_attn_w *w, size_t d) { return w->scale > 0 ? w->scale : kern_attention_scale(d); }

int kern_attn_args_ok(const float *out, const kern_attn_w *w, size_t h, size_t hkv, size_t d)
{
    if ((hkv == 0 ? h != 0 : h % hkv) || d % 2) return 0;
    if (!dtype_ok(w->q.dtype) || !dtype_ok(w->k.dtype) || !dtype_ok(w->v.dtype)) return 0;
    const kern_weight opt[5] = {w->q_bias, w->k_bias, w->v_bias, w->q_norm, w->k_norm};
    for (int i = 0; i < 5; i++)
        if (opt[i].data && !dtype_ok(opt[i].dtype)) return 0;
    if (out && (!dtype_ok(w->o.dtype) || (w->o_bias.data && !dtype_ok(w->o_bias.dtype)))) return 0;
    return 1;
}
