// embed.cu - rows of the stored table by token id into fp32 activations. A bad id sets a flag
// (its row is left unwritten) and the op returns KERN_ERR_ARG after reading the flag back.
#include "cuda.cuh"

__global__ void embed_kernel(float *y, int *bad, const int32_t *ids, const void *table, kern_dtype t, size_t n,
                             size_t c, size_t vocab)
{
    size_t cc = c ? c : 1, total = n * cc; // c = 0: the ids are still checked
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t r = e / cc, j = e % cc;
        int32_t id = ids[r];
        if (id < 0 || (size_t)id >= vocab) {
            *bad = 1;
            continue;
        }
        if (c) y[e] = weight_at(table, t, (size_t)id * c + j);
    }
}

kern_status cuda_embed(awq_backend_ctx *ctx, float *y, const int32_t *ids, kern_weight table, size_t n, size_t c,
                       size_t vocab)
{
    if (!dtype_ok(table.dtype)) return KERN_ERR_ARG;
    if (!n) return KERN_OK;
    int *flag = (int *)ctx->result, bad = 0;
    CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof *flag, ctx->stream));
    embed_kernel<<<grid_for(ctx, n * (c ? c : 1), 256), 256, 0, ctx->stream>>>(y, flag, ids, table.data, table.dtype, n,
                                                                                c, vocab);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return bad ? KERN_ERR_ARG : KERN_OK;
}
