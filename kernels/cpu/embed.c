/* embed.c - embedding lookup: rows of the stored table (F32/F16/BF16) into fp32 activations
 * (spec §1.4: no scaling). Ids are checked first, so a bad id never reads out of bounds.
 * _ref: element by element. Fast: one row conversion per token, tokens in parallel. */
#include "cpu.h"
#include "ref.h"

static int ids_ok(const int32_t *ids, size_t n, size_t vocab)
{
    for (size_t r = 0; r < n; r++)
        if (ids[r] < 0 || (size_t)ids[r] >= vocab) return 0;
    return 1;
}

kern_status kern_embed_ref(float *y, const int32_t *ids, kern_weight table, size_t n, size_t c, size_t vocab)
{
    if (!kern_dtype_ok(table.dtype) || !ids_ok(ids, n, vocab)) return KERN_ERR_ARG;
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < c; j++) y[r * c + j] = kern_weight_at(table, (size_t)ids[r] * c + j);
    return KERN_OK;
}

kern_status cpu_embed(awq_backend_ctx *ctx, float *y, const int32_t *ids, kern_weight table, size_t n,
                           size_t c, size_t vocab)
{
    (void)ctx;
    if (!kern_dtype_ok(table.dtype) || !ids_ok(ids, n, vocab)) return KERN_ERR_ARG;
    #pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n; r++) kern_weight_to_f32(y + r * c, table, (size_t)ids[r] * c, c);
    return KERN_OK;
}
