// w_mean.cu - AutoAWQ's duo weight statistic over the stacked linears: a warp per (row, group)
// finds den = h(max|w| + eps); then, as in mean_abs.cu, blocks sum h(|w| / den) down slabs of
// rows in fp64 and the slabs are added in order. In the faithful mode every term is an fp16
// value and the fp64 sums are exact, so the result is the CPU's bit for bit.
#include "cuda.cuh"

#define WM_COLS 256
#define WM_ROWS 256

__global__ void w_mean_den(float *den, const float *w, size_t rows, size_t i, size_t g, float eps, int f16)
{
    size_t n_groups = i / g, items = rows * n_groups;
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
    size_t warps = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t it = warp; it < items; it += warps) {
        const float *grp = w + (it / n_groups) * i + (it % n_groups) * g;
        float amax = 0.0f;
        for (size_t c = lane; c < g; c += 32) amax = fmaxf(amax, fabsf(grp[c]));
        amax = warp_max(amax);
        if (lane == 0) den[it] = hif(__fadd_rn(amax, eps), f16);
    }
}

__global__ void w_mean_part(double *part, const float *w, const float *den, size_t rows, size_t i, size_t g, int f16)
{
    size_t c = blockIdx.x * (size_t)WM_COLS + threadIdx.x, r0 = blockIdx.y * (size_t)WM_ROWS;
    if (c >= i) return;
    size_t r1 = r0 + WM_ROWS < rows ? r0 + WM_ROWS : rows, n_groups = i / g;
    double acc = 0.0;
    for (size_t r = r0; r < r1; r++) acc += hif(__fdiv_rn(fabsf(w[r * i + c]), den[r * n_groups + c / g]), f16);
    part[blockIdx.y * i + c] = acc;
}

__global__ void w_mean_final(float *wm, const double *part, size_t slabs, size_t total, size_t i, int f16)
{
    for (size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x; c < i; c += (size_t)gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (size_t s = 0; s < slabs; s++) acc += part[s * i + c];
        wm[c] = hif((float)(acc / (double)total), f16);
    }
}

kern_status cuda_w_mean(awq_backend_ctx *ctx, float *wm, const float *const *w, const size_t *rows, size_t n_w,
                        size_t i, int64_t group, int round_f16)
{
    size_t g, total = 0, slabs = 0, max_rows = 0;
    if (n_w == 0 || kern_quant_group(&g, i, group) != KERN_OK) return KERN_ERR_ARG;
    for (size_t m = 0; m < n_w; m++) {
        total += rows[m];
        slabs += (rows[m] + WM_ROWS - 1) / WM_ROWS;
        if (rows[m] > max_rows) max_rows = rows[m];
    }
    if (!total) return KERN_ERR_ARG;
    if ((max_rows + WM_ROWS - 1) / WM_ROWS > 65535) return KERN_ERR_UNSUPPORTED;
    int f16 = round_f16 != 0;
    float eps = f16 ? 17.0f * 0x1p-24f : 1e-6f; // 1e-6 as the fp16 value 0x0011 (spec pitfall 3)
    size_t n_groups = i / g;
    carve cv = {0, NULL};
    size_t at_den = carve_add(&cv, max_rows * n_groups * sizeof(float)), at_part = carve_add(&cv, slabs * i * sizeof(double));
    KERN_TRY(cuda_scratch(ctx, cv.bytes, (void **)&cv.base));
    float *den = (float *)(cv.base + at_den);
    double *part = (double *)(cv.base + at_part);
    for (size_t m = 0, s0 = 0; m < n_w; m++) {
        if (!rows[m]) continue;
        size_t ns = (rows[m] + WM_ROWS - 1) / WM_ROWS;
        w_mean_den<<<grid_for(ctx, rows[m] * n_groups * 32, 256), 256, 0, ctx->stream>>>(den, w[m], rows[m], i, g, eps, f16);
        LAUNCH_CHECK();
        dim3 grid((unsigned)((i + WM_COLS - 1) / WM_COLS), (unsigned)ns);
        w_mean_part<<<grid, WM_COLS, 0, ctx->stream>>>(part + s0 * i, w[m], den, rows[m], i, g, f16);
        LAUNCH_CHECK();
        s0 += ns;
    }
    w_mean_final<<<grid_for(ctx, i, 256), 256, 0, ctx->stream>>>(wm, part, slabs, total, i, f16);
    LAUNCH_CHECK();
    return KERN_OK;
}
