// pack.cu - the GEMM checkpoint's qweight where the quantizer's codes are (spec §3.1): word
// [k][c] = codes[8c..8c+7][k] in AWQ order, as kern_pack_qweight. A code above 15 sets a flag
// and the op returns KERN_ERR_ARG after reading it back.
#include "cuda.cuh"

__global__ void pack_qweight_kernel(int32_t *qweight, int *bad, const uint8_t *codes, size_t o, size_t i)
{
    const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7}; // KERN_AWQ_ORDER
    size_t oc = o / 8, total = oc * i;
    // consecutive threads take consecutive k of one c: their code reads are coalesced
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t c = e / i, k = e % i;
        unsigned word = 0;
        for (int n = 0; n < 8; n++) {
            unsigned q = codes[(8 * c + (size_t)order[n]) * i + k];
            if (q > 15) *bad = 1;
            word |= (q & 0xFu) << (4 * n);
        }
        qweight[k * oc + c] = (int32_t)word;
    }
}

kern_status cuda_pack_qweight(awq_backend_ctx *ctx, int32_t *qweight, const uint8_t *codes, size_t o, size_t i)
{
    if (o % 8) return KERN_ERR_ARG;
    if (!o || !i) return KERN_OK;
    int *flag = (int *)ctx->result, bad = 0;
    CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof *flag, ctx->stream));
    pack_qweight_kernel<<<grid_for(ctx, o / 8 * i, 256), 256, 0, ctx->stream>>>(qweight, flag, codes, o, i);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    return bad ? KERN_ERR_ARG : KERN_OK;
}
