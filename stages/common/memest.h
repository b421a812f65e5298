/* memest.h - how much memory a pipeline step needs, from the model's shape, the calibration
 * tokens, the numerics and the step kind: the ONE place that says so. The plan sizes the GPU
 * memory pool and prints its per-GPU line from it, each awq-quantize step takes that many units
 * of the pool (slots.h) and chooses whether its scale search runs in token chunks (awq.c), and
 * the plan's `srun --mem` for LAUNCHER=slurm steps is its host figure (awq_mem_host_mb).
 *
 * The device figures follow the search's own allocations (awq.c, forward.c): the block input
 * x [N, C] fp32; the block's weights fp32, plus an fp16 copy in fp16 numerics (a MoE block's
 * routed experts: one copy, fp16 on a GPU in fp16 numerics, else fp32); the forward's
 * scratch (a pass of chunk_seqs sequences, ~1 GiB) and its attention scores; the linears'
 * inputs (feats) of all N tokens; a MoE block's gathered expert rows; and the largest scale
 * group's reference and trial outputs (the latent attention's kv_b_proj group among them),
 * pseudo-quantized weights (fp32 + fp16; the experts' a batch at a time) and its input
 * pinned as fp16; plus the CUDA context and cuBLAS workspace. A chunked search keeps the feats on
 * the host and holds one group's input, its reference output and one chunk's trial output.
 * Checked against the peaks measured on an H100 (docs/PERFORMANCE.md) by tests/test_memest.c. */
#ifndef AWQ_MEMEST_H
#define AWQ_MEMEST_H

#include <stddef.h>

#include "config.h"

typedef struct awq_mem_need {
    double ctx;        /* CUDA context, cuBLAS workspace, kernel scratch */
    double x;          /* the block input, fp32 */
    double weights;    /* the block's weights: fp32 (+ fp16 copy in fp16 numerics) */
    double fwd;        /* the forward's scratch for one pass, attention scores included */
    double feats;      /* the linears' inputs of all tokens (+ a MoE block's gathered expert rows) */
    double group;      /* the largest scale group's buffers, unchunked */
    double search;     /* a whole scale search, unchunked: the sum of the above */
    double chunked;    /* the least a chunked search needs (one forward pass of trial output) */
    double clip;       /* a clip-only step (the scales are stored): weights, clip rows, grid */
    long pass_rows;    /* rows of one forward pass (chunk_seqs * seqlen) */
} awq_mem_need;

/* Elements of the block's weights (every tensor of a layer with n_experts experts), from the shape. */
double awq_mem_block_params(const awq_config *c, int n_experts);
/* The device memory of block steps on N = n_seq * seqlen calibration tokens. params: the block's
 * element count (0: awq_mem_block_params). r16: fp16 numerics. gpu: a device (also a simulated
 * one, DEVICES=cpu:N), whose process holds a CUDA context; 0: the host's memory (no GPU). */
void awq_mem_estimate(const awq_config *c, int n_experts, double params, long n_seq, int seqlen, int r16, int gpu,
                      awq_mem_need *out);
/* A chunked search's need when its trial outputs are `rows` rows at a time (>= pass_rows). */
double awq_mem_chunked(const awq_config *c, int n_experts, double params, long n_seq, int seqlen, int r16, int gpu,
                       long rows);
/* Host memory (MB) of a step, for `srun --mem` (LAUNCHER=slurm): the block input and output in
 * fp32, the weights in fp32 three times (original, scaled, quantized), the widest intermediate of
 * the forward over all tokens twice, and 512 MB for the program. It errs high: a step that asks
 * too little may be killed, one that asks too much only waits longer. params: the block's
 * elements; layer < 0 (the embedding): the embedding table instead. */
long awq_mem_host_mb(const awq_config *c, int layer, double params, long n_tokens);

/* Whether a step's memory is a device's (the estimate counts a CUDA context): DEVICES=cpu:N
 * (simulated devices), or a GPU that DEVICE (cpu|cuda|auto) computes on. */
int awq_mem_simulated(void);
int awq_mem_on_gpu(const char *device);

/* "13.9 GiB" / "512 MiB" into out (for the plan's per-GPU line and logs). */
const char *awq_mem_str(double bytes, char *out, size_t cap);

#endif
