/* backend.c - the CPU instance of the backend table: host memory (aligned malloc, memcpy) and
 * the fast ops of kernels/cpu/<op>.c. Static and stateless, so it needs no init or cleanup. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

static kern_status cpu_alloc(awq_backend_ctx *ctx, void **ptr, size_t bytes)
{
    (void)ctx;
    /* 64-byte alignment for vector loads; aligned_alloc wants a multiple of the alignment */
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < bytes) { *ptr = NULL; return KERN_ERR_NOMEM; } /* wrapped around */
    *ptr = aligned_alloc(64, rounded ? rounded : 64);
    return *ptr ? KERN_OK : KERN_ERR_NOMEM;
}

static void cpu_free(awq_backend_ctx *ctx, void *ptr) { (void)ctx; free(ptr); }

static kern_status cpu_memcpy(awq_backend_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes) memcpy(dst, src, bytes);
    return KERN_OK;
}

static kern_status cpu_sync(awq_backend_ctx *ctx) { (void)ctx; return KERN_OK; }
static void cpu_close(const awq_backend *be) { (void)be; }

static const awq_backend cpu_backend = {
    .name = "cpu",
    .ctx = NULL,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .sync = cpu_sync,
    .close = cpu_close,
    .matmul = kern_matmul_cpu,
    .rmsnorm = kern_rmsnorm_cpu,
    .rope = kern_rope_cpu,
    .attention = kern_attention_cpu,
    .silu_mul = kern_silu_mul_cpu,
    .mlp = kern_mlp_cpu,
    .attn = kern_attn_cpu,
    .add = kern_add_cpu,
    .embed = kern_embed_cpu,
    .mean_abs = kern_mean_abs_cpu,
    .round_f16 = kern_round_f16_cpu,
    .check_f16 = kern_check_f16_cpu,
    .quantize = kern_quantize_cpu,
    .w_mean = kern_w_mean_cpu,
    .clip_search = kern_clip_search_cpu,
    .clip_apply = kern_clip_apply_cpu,
    .sq_diff = kern_sq_diff_cpu,
    .to_f16 = kern_to_f16_cpu,
    .pin_f16 = kern_pin_f16_cpu,
    .unpin_f16 = kern_unpin_f16_cpu,
    .to_f32 = kern_to_f32_cpu,
    .scale_weight = kern_scale_weight_cpu,
    .pack_qweight = kern_pack_qweight_cpu,
};

const awq_backend *awq_backend_cpu(void) { return &cpu_backend; }
