/* kernels.h - the math of awqmake behind one backend table (ggml style): a struct of function
 * pointers with a CPU instance (kernels/cpu/: OpenBLAS + OpenMP, each op beside its scalar `_ref`)
 * and a CUDA one (kernels/cuda/: cuBLAS and one .cu per op). Kernels do arithmetic on memory they
 * are handed: no files, no store, no model formats, no messages (they return a kern_status).
 *
 * Conventions for every op below
 * - Tensors are row-major and contiguous; the shape is in the comment beside each argument.
 * - Activations are fp32 on every backend. Tensor pointers (activations, weights, token ids,
 *   positions) are backend memory: from be->alloc and filled with be->upload. On the CPU backend
 *   that is ordinary host memory, so any host pointer works there.
 * - Weights (linear weights, biases, norm weights, the embedding table) keep their stored dtype
 *   (kern_weight) and are converted to fp32 inside the op; they are never written.
 * - round_f16 = 1 is the fp16-faithful mode of the spec (§1.4, §5): every value the PyTorch fp16
 *   reference would store as half is rounded with h() = awq_round_f16 (RNE) at the same point,
 *   while arithmetic and accumulation stay fp32. round_f16 = 0 is the pure fp32 reference mode.
 * - Outputs are caller-owned; an op writes all of its output and nothing else. An output may
 *   alias an input only where the op says so. After an error the outputs are unspecified.
 * - CPU results do not depend on the number of threads: no sum is split across threads, and
 *   OpenBLAS runs single-threaded on fixed tiles (its own threading changes the last bits).
 * - Ops may run asynchronously on a device backend: download and sync wait for queued work, and
 *   a device error may be reported by a later call. The CPU backend is synchronous.
 */
#ifndef AWQ_KERNELS_H
#define AWQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Status of a kernel call. Append-only. Stages map them to awq_err (base/error.h) and name
 * the tensor in the message; kernels themselves have no message channel. */
typedef enum kern_status {
    KERN_OK = 0,
    KERN_ERR_NOMEM = 1,       /* host or device allocation failed */
    KERN_ERR_DEVICE = 2,      /* the device runtime failed (CUDA/cuBLAS error, lost device) */
    KERN_ERR_UNSUPPORTED = 3, /* valid request this backend does not do (a dimension beyond BLAS int) */
    KERN_ERR_ARG = 4,         /* invalid arguments: H not a multiple of Hkv, odd head_dim, token id out of range */
} kern_status;

/* Stable short name of a status ("out of memory", ...). Never NULL. */
const char *kern_strerror(kern_status s);

/* Storage dtype of a weight tensor. */
typedef enum kern_dtype { KERN_F32 = 0, KERN_F16 = 1, KERN_BF16 = 2 } kern_dtype;

/* Bytes per element of t (4 or 2); 0 for a value outside the enum. */
size_t kern_dtype_size(kern_dtype t);


/* A read-only stored tensor: backend memory plus its dtype. data == NULL means "absent" (an
 * optional bias). The op converts elements to fp32 exactly (fp16 and bf16 are subsets of fp32). */
typedef struct kern_weight { const void *data; kern_dtype dtype; } kern_weight;
#define KERN_NO_WEIGHT ((kern_weight){NULL, KERN_F32})

/* RoPE parameters from config.json (spec §1.5). Only the default and "llama3" rope types exist;
 * refusing other types is the caller's job. */
typedef struct kern_rope {
    float theta;            /* rope_theta (10000, 500000, 1e6, ...) */
    int llama3;             /* 1: rope_scaling.rope_type == "llama3", then the four below apply */
    float factor;           /* 8 (Llama-3.1), 32 (Llama-3.2) */
    float low_freq_factor;  /* 1 */
    float high_freq_factor; /* 4 */
    float original_max_pos; /* original_max_position_embeddings, 8192 */
} kern_rope;

/* The rotary frequencies f[j], j < d/2, on the host, exactly as HF computes them in fp32:
 * inv_freq[j] = 1 / theta^(float(2j)/d) and, when p->llama3, the llama3 remap of §1.5 in the
 * same fp32 operation order. d must be even. Every backend's rope uses this function. */
void kern_rope_freqs(float *f /*[d/2]*/, size_t d, const kern_rope *p);

/* The weights of a self-attention module (Llama/Qwen self_attn) for the attn op: a host struct
 * whose members are backend memory. Absent biases and norms are KERN_NO_WEIGHT. */
typedef struct kern_attn_w {
    kern_weight q, k, v, o;                     /* [h*d, c], [hkv*d, c], [hkv*d, c], [c, h*d] */
    kern_weight q_bias, k_bias, v_bias, o_bias; /* [h*d], [hkv*d], [hkv*d], [c] or none */
    kern_weight q_norm, k_norm;                 /* [d] each or none: Qwen3's per-head RMSNorm */
    float eps;                                  /* of q_norm / k_norm */
} kern_attn_w;
/* The attn op's argument checks, shared by every backend: 1 when the shapes and every weight,
 * bias and norm the op reads (o and o_bias only when out is wanted) are valid. */
int kern_attn_args_ok(const float *out, const kern_attn_w *w, size_t h, size_t hkv, size_t d);

/* Opaque per-instance state of a backend (device, stream, BLAS handle; NULL for the CPU). */
typedef struct awq_backend_ctx awq_backend_ctx;

typedef struct awq_backend awq_backend;
struct awq_backend {
    const char *name;     /* "cpu", "cuda" */
    awq_backend_ctx *ctx; /* pass as the first argument of every function below */

    /* ---- memory ---------------------------------------------------------------------------- */

    /* *ptr = `bytes` of backend memory (64-byte aligned on the CPU), uninitialised; bytes = 0
     * gives a valid unique pointer. KERN_ERR_NOMEM when it cannot be had (*ptr = NULL). */
    kern_status (*alloc)(awq_backend_ctx *ctx, void **ptr, size_t bytes);
    /* Free memory from alloc; NULL is a no-op. */
    void (*free)(awq_backend_ctx *ctx, void *ptr);
    /* Copy host -> backend, backend -> host, backend -> backend. The regions must not overlap.
     * download returns after the bytes are on the host. */
    kern_status (*upload)(awq_backend_ctx *ctx, void *dst, const void *src_host, size_t bytes);
    kern_status (*download)(awq_backend_ctx *ctx, void *dst_host, const void *src, size_t bytes);
    kern_status (*copy)(awq_backend_ctx *ctx, void *dst, const void *src, size_t bytes);
    /* Wait for every queued op; reports a device error from any of them. */
    kern_status (*sync)(awq_backend_ctx *ctx);
    /* Release the instance and its context (the CPU instance is static: a no-op). */
    void (*close)(const awq_backend *be);

    /* ---- ops -------------------------------------------------------------------------------- */

    /* Linear layer: y[r][o] = sum_k x[r][k] * w[o][k] + bias[o], fp32 accumulation; then y = h(y)
     * when round_f16. bias.data may be NULL. y must not alias x. */
    kern_status (*matmul)(awq_backend_ctx *ctx, float *y /*[n,o]*/, const float *x /*[n,i]*/,
                          kern_weight w /*[o,i]*/, kern_weight bias /*[o] or none*/,
                          size_t n, size_t o, size_t i, int round_f16);

    /* RMSNorm over each row of c elements (spec §1.4, pitfall 16):
     *   var = mean(t*t) (the squares in fp32), r = 1/sqrt(var + eps), n = t*r;
     *   round_f16: y = h(w * h(n))   (n is cast to fp16 BEFORE the weight multiply)
     *   else:      y = w * n.
     * Qwen3's per-head q_norm/k_norm is this op on the [N*heads, D] view of q or k.
     * y may equal x (in place). */
    kern_status (*rmsnorm)(awq_backend_ctx *ctx, float *y /*[n,c]*/, const float *x /*[n,c]*/,
                           kern_weight w /*[c]*/, size_t n, size_t c, float eps, int round_f16);

    /* RoPE in place, rotate_half convention (not interleaved; spec §1.5, pitfall 15), on every
     * head of every row: with f = kern_rope_freqs(d, rope), ang[j] = (float)pos[r] * f[j],
     * c = cos(ang), s = sin(ang) in fp32, x1 = x[0..d/2), x2 = x[d/2..d):
     *   out[j]       = x1[j]*c[j] - x2[j]*s[j],   out[j+d/2] = x2[j]*c[j] + x1[j]*s[j].
     * round_f16: c and s are rounded to fp16 and out = h( h(x*c) + h(rotate_half(x)*s) ).
     * pos gives each row its position, so every sequence of a batch restarts at 0.
     * d must be even (KERN_ERR_ARG). */
    kern_status (*rope)(awq_backend_ctx *ctx, float *x /*[n, heads*d]*/, const int32_t *pos /*[n]*/,
                        size_t n, size_t heads, size_t d, const kern_rope *rope /*host*/, int round_f16);

    /* Causal self-attention with grouped KV heads for b sequences of t tokens (row = s*t + token).
     * Query head hq reads kv head hq / (h/hkv). For each sequence, head and query row p:
     *   s[m] = (q[p]·k[m]) * d^-0.5 for m <= p; prob = softmax over m <= p in fp32 (later tokens
     *   get exactly 0); out[p] = sum_m prob[m] * v[m], written to columns hq*d .. hq*d+d.
     * round_f16 (eager HF fp16): s = h(h(q·k) * scale), prob = h(softmax), out = h(sum).
     * h must be a multiple of hkv (KERN_ERR_ARG). out must not alias q, k or v. */
    kern_status (*attention)(awq_backend_ctx *ctx, float *out /*[b*t, h*d]*/,
                             const float *q /*[b*t, h*d]*/, const float *k /*[b*t, hkv*d]*/,
                             const float *v /*[b*t, hkv*d]*/, size_t b, size_t t, size_t h,
                             size_t hkv, size_t d, int round_f16);

    /* Gated MLP activation: out = silu(g) * u, silu(g) = g / (1 + exp(-g)) in fp32;
     * round_f16: out = h( h(silu(g)) * u ). out may equal g or u. */
    kern_status (*silu_mul)(awq_backend_ctx *ctx, float *out /*[n]*/, const float *g /*[n]*/,
                            const float *u /*[n]*/, size_t n, int round_f16);

    /* Gated MLP (Llama/Qwen mlp, no residual): exactly the composition of the ops above,
     *   g = matmul(m, w_gate, b_gate), u = matmul(m, w_up, b_up)        [n,f] each
     *   a = silu_mul(g, u);  down_in = a (when not NULL);  out = matmul(a, w_down, b_down)
     * with their rounding (round_f16: h() after each step) and the bits those calls give on the
     * same backend. out == NULL stops after down_in (w_down and b_down are then not read); both
     * NULL does nothing. scratch_g and scratch_u are caller-owned backend buffers of n*f floats
     * each that the op uses as raw memory (their contents afterwards are unspecified: the CUDA
     * backend may keep fp16 data in them). out and down_in must not alias m, the scratch or each
     * other. KERN_ERR_ARG: a dtype outside kern_dtype in a weight or bias that is read. */
    kern_status (*mlp)(awq_backend_ctx *ctx, float *out /*[n,c] or NULL*/, float *down_in /*[n,f] or NULL*/,
                       const float *m /*[n,c]*/, kern_weight w_gate /*[f,c]*/, kern_weight b_gate /*[f] or none*/,
                       kern_weight w_up /*[f,c]*/, kern_weight b_up /*[f] or none*/,
                       kern_weight w_down /*[c,f]*/, kern_weight b_down /*[c] or none*/,
                       float *scratch_g /*[n*f]*/, float *scratch_u /*[n*f]*/, size_t n, size_t c, size_t f,
                       int round_f16);

    /* Self-attention module (Llama/Qwen self_attn, no residual) on b sequences of t tokens, n = b*t
     * rows: exactly the composition of the ops above,
     *   q = matmul(a, w->q, w->q_bias), k = matmul(a, w->k, ...), v = matmul(a, w->v, ...)
     *   q = rmsnorm(q as [n*h, d], w->q_norm), k = rmsnorm(k as [n*hkv, d], w->k_norm)   (each when given)
     *   rope(q, pos, h heads), rope(k, pos, hkv heads)
     *   att = attention(q, k, v, b, t, h, hkv, d);  o_in = att (when not NULL)
     *   out = matmul(att, w->o, w->o_bias)         (when not NULL)
     * with their rounding (round_f16: h() after each step) and the bits those calls give on the
     * same backend. out == NULL stops after o_in (w->o and w->o_bias are then not read); both NULL
     * does nothing. pos [n] is backend memory (each sequence's positions, as for rope); rope and w
     * are host structs. scratch_q [n, h*d], scratch_k [n, hkv*d], scratch_v [n, hkv*d] and
     * scratch_att [n, h*d] are caller-owned backend buffers of that many floats that the op uses
     * as raw memory (their contents afterwards are unspecified: the CUDA backend may keep fp16
     * data in them). out and o_in must not alias a, the scratch or each other.
     * KERN_ERR_ARG, before anything is written: h not a multiple of hkv, odd d, or a dtype outside
     * kern_dtype in a weight, bias or norm that is read. */
    kern_status (*attn)(awq_backend_ctx *ctx, float *out /*[n,c] or NULL*/, float *o_in /*[n,h*d] or NULL*/,
                        const float *a /*[n,c]*/, const kern_attn_w *w /*host*/, const int32_t *pos /*[n]*/,
                        const kern_rope *rope /*host*/, float *scratch_q /*[n,h*d]*/, float *scratch_k /*[n,hkv*d]*/,
                        float *scratch_v /*[n,hkv*d]*/, float *scratch_att /*[n,h*d]*/, size_t b, size_t t, size_t c,
                        size_t h, size_t hkv, size_t d, int round_f16);

    /* Residual add: y = a + b, h(a + b) when round_f16. y may equal a or b. */
    kern_status (*add)(awq_backend_ctx *ctx, float *y /*[n]*/, const float *a /*[n]*/,
                       const float *b /*[n]*/, size_t n, int round_f16);

    /* Embedding lookup: y[r] = table[ids[r]] converted to fp32 (no scaling). An id outside
     * [0, vocab) gives KERN_ERR_ARG (y is then unspecified). */
    kern_status (*embed)(awq_backend_ctx *ctx, float *y /*[n,c]*/, const int32_t *ids /*[n]*/,
                         kern_weight table /*[vocab,c]*/, size_t n, size_t c, size_t vocab);

    /* Per-channel mean of |x| over the n rows (spec §5 pitfall 6: the mean, not the max),
     * accumulated in fp64, stored as fp32; h(mean) when round_f16. n = 0 gives zeros. */
    kern_status (*mean_abs)(awq_backend_ctx *ctx, float *mean /*[c]*/, const float *x /*[n,c]*/,
                            size_t n, size_t c, int round_f16);

    /* x = h(x) elementwise, in place (NaN stays NaN, overflow becomes +-Inf). */
    kern_status (*round_f16)(awq_backend_ctx *ctx, float *x /*[n]*/, size_t n);

    /* Overflow check before storing as fp16: *first_bad (host) = the lowest index whose value
     * is NaN/Inf or does not fit fp16 (h(x) would be +-Inf, i.e. |x| >= 65520; values that
     * round to 65504 fit), or n when every value fits. */
    kern_status (*check_f16)(awq_backend_ctx *ctx, const float *x /*[n]*/, size_t n, size_t *first_bad);

    /* ---- AWQ quantization (spec §2.6-§2.12; host helpers in kernels/quant.h) ----------------- *
     * Groups: g consecutive input channels of each row, g from kern_quant_group(i, group) (the
     * whole row when group is 0 or -1); G = i / g. w_bit is 2..8, maxq = 2^w_bit - 1. */

    /* Pseudo-quantizer Q (spec §2.10), zero point, per group, optionally on a column-scaled
     * weight as in the scale search (§2.6):
     *   v     = col_scale ? h(w[o][c] * col_scale[c]) : w[o][c]
     *   mx, mn = signed max and min of v over the group
     *   scale = h( h(max(h(mx - mn), 1e-5)) / maxq )        1e-5 as its fp16 value 0x00a8
     *   zero  = clamp( -rint(h(mn / scale)), 0, maxq )      rint: half to even
     *   q     = clamp( h(rint(h(v / scale)) + zero), 0, maxq )
     *   deq   = h( (q - zero) * scale ),  then h(deq / col_scale[c]) when col_scale is given.
     * round_f16 = 0 (fp32 reference mode) drops every h() and uses 1e-5f. In faithful mode w and
     * col_scale should hold fp16 values, as the reference's tensors do. Constant and one-signed
     * groups collapse or saturate exactly as the spec says (§2.10, T1-B/D/F); nothing is fixed.
     * Outputs, each optional (NULL): deq; codes q; scales (an fp16 value held in fp32 when
     * faithful); zeros (integers 0..maxq). deq may equal w (in place). Codes and zeros stay in
     * 0..maxq even for non-finite input (NaN is skipped by max/min and gets code 0 or maxq),
     * but the other outputs are then meaningless: check weights with check_f16 first.
     * KERN_ERR_ARG: w_bit outside 2..8, or the group is invalid for i (kern_quant_group). */
    kern_status (*quantize)(awq_backend_ctx *ctx, float *deq /*[o,i] or NULL*/, uint8_t *codes /*[o,i] or NULL*/,
                            float *scales /*[o,G] or NULL*/, uint8_t *zeros /*[o,G] or NULL*/,
                            const float *w /*[o,i]*/, const float *col_scale /*[i] or NULL*/,
                            size_t o, size_t i, int64_t group, int w_bit, int round_f16);

    /* AutoAWQ's weight statistic for duo scaling (spec §2.12). W = the n_w matrices stacked
     * along rows (the group's linears, all with i columns; rows[m] rows each; w is a host array
     * of backend pointers). Per row and group: a = h(|w| / h(max|w| + 1e-6)) (1e-6 as fp16,
     * 0x0011); wm[c] = h(mean over all rows of a[.][c]), the sum in fp64. round_f16 = 0: no h(),
     * fp32 constant. The whole-row group (group 0/-1) is allowed (AutoAWQ crashes on it).
     * KERN_ERR_ARG: n_w = 0, no rows at all, or an invalid group. */
    kern_status (*w_mean)(awq_backend_ctx *ctx, float *wm /*[i]*/, const float *const *w /*n_w x [rows[m], i]*/,
                          const size_t *rows /*[n_w], host*/, size_t n_w, size_t i, int64_t group, int round_f16);

    /* Clip search for one linear (spec §2.8), each (row o, group j) on its own:
     *   m0 = max |w| over the group; for cand k < n_cand = kern_clip_candidates(n_grid, max_shrink):
     *     mv_k  = h(m0 * (float)(1 - k/n_grid))
     *     wq    = Q(clamp(w, -mv_k, mv_k))                    (the group as one Q group)
     *     err_k = mean over the t rows of x of ( sum_c x[.][c] * (wq[c] - w[c]) )^2
     *   best = the first k with the smallest err (strict <: ties keep less clipping; NaN never
     *   wins; 0 when no err is finite); max_val[o][j] = mv_best.
     * w is the scaled weight, x the already subsampled inputs (rows 0, step, 2*step, ... of the
     * layer input, divided by the scales). round_f16 selects fp16 mv_k and Q (faithful) or fp32.
     * err is computed in fp32 arithmetic on the differences wq - w (one GEMM), NOT in fp16 tensors
     * as the reference does: near-ties may pick a neighbouring candidate (spec §5 pitfall 8).
     * Outputs: max_val; optionally best [o,G] (the index k) and loss [o,G,n_cand] (err_k).
     * KERN_ERR_ARG: bad w_bit or group, t = 0, or no candidates (n_grid < 1, max_shrink not in
     * (0, 1]). */
    kern_status (*clip_search)(awq_backend_ctx *ctx, float *max_val /*[o,G]*/, int32_t *best /*[o,G] or NULL*/,
                               float *loss /*[o,G,n_cand] or NULL*/, const float *w /*[o,i]*/,
                               const float *x /*[t,i]*/, size_t o, size_t i, size_t t, int64_t group,
                               int w_bit, int n_grid, double max_shrink, int round_f16);

    /* Apply clips in place (spec §2.9): w[o][c] = clamp(w[o][c], -max_val[o][c/g], max_val[o][c/g]).
     * Exact (no rounding). KERN_ERR_ARG: invalid group. */
    kern_status (*clip_apply)(awq_backend_ctx *ctx, float *w /*[o,i]*/, const float *max_val /*[o,G]*/,
                              size_t o, size_t i, int64_t group);

    /* The scale search's loss (spec §2.6, pitfall 8): *sum (host) = sum over e of d*d in fp64,
     * d = a[e] - b[e] in fp32, rounded to fp16 when round_f16 (d = h(a - b)). clamp (AutoAWQ
     * semantics): a and b are first clamped to [-65504, 65504] (NaN stays NaN). The summation
     * order is fixed (independent of threads / launch shape), so the result is deterministic. */
    kern_status (*sq_diff)(awq_backend_ctx *ctx, double *sum /*host*/, const float *a /*[n]*/, const float *b /*[n]*/,
                           size_t n, int round_f16, int clamp);

    /* dst = the fp16 bits of src, round to nearest even (exact for values that are fp16 already:
     * the fp16-faithful search stores its pseudo-quantized weights this way so the matmuls run
     * on fp16 tensor cores). */
    kern_status (*to_f16)(awq_backend_ctx *ctx, uint16_t *dst /*[n]*/, const float *src /*[n]*/, size_t n);

    /* Folding AWQ scales into weights (spec §2.7), in place. per_row: w[r][c] = w[r][c] / s[r]
     * (the layer before the scales: a norm or a bias as [n, 1], or a linear's last n rows);
     * otherwise w[r][c] = w[r][c] * s[c] (the linears after them). Each quotient or product is
     * h()-rounded when round_f16, as the reference computes in fp16. One IEEE operation per
     * element, so every backend gives the same bits. */
    kern_status (*scale_weight)(awq_backend_ctx *ctx, float *w /*[rows,cols]*/, const float *s /*[rows] or [cols]*/,
                                size_t rows, size_t cols, int per_row, int round_f16);

    /* The GEMM checkpoint's qweight from the quantizer's 4-bit codes (spec §3.1): word [k][c] =
     * codes[8c..8c+7][k] in AWQ order (kern_pack8), as kern_pack_qweight on the host; packing
     * where the codes are sends half the bytes to the host. KERN_ERR_ARG when o % 8 != 0 or a
     * code is above 15 (qweight is then unspecified). */
    kern_status (*pack_qweight)(awq_backend_ctx *ctx, int32_t *qweight /*[i, o/8]*/, const uint8_t *codes /*[o, i]*/,
                                size_t o, size_t i);

    /* x [n] will be read by many matmul / mlp calls and not change until unpin_f16(x) (the scale
     * search's group input, read at every grid point): the backend may keep x rounded to fp16
     * (what those ops' fp16 paths convert their input to at every call, RNE) and use that copy for
     * any input inside [x, x + n) instead. The results are the same bits. A backend without the
     * notion does nothing (the CPU). KERN_ERR_NOMEM when the copy does not fit (go on without it);
     * at most a few arrays are pinned at once (KERN_ERR_UNSUPPORTED beyond). */
    kern_status (*pin_f16)(awq_backend_ctx *ctx, const float *x, size_t n);
    void (*unpin_f16)(awq_backend_ctx *ctx, const float *x);

    /* dst = src widened to fp32 (exact for every dtype; NaN stays NaN): how stored activations
     * (fp16 / bf16 act objects) go up to the device at 2 bytes per value and widen there. */
    kern_status (*to_f32)(awq_backend_ctx *ctx, float *dst /*[n]*/, kern_weight src /*[n]*/, size_t n);
};

/* The CPU backend: a static instance (ctx NULL), always available; close is a no-op.
 * Threads: OpenMP (OMP_NUM_THREADS) for everything; it sets OpenBLAS to one thread per call
 * (openblas_set_num_threads(1)) and runs its sgemm calls from the OpenMP threads. */
const awq_backend *awq_backend_cpu(void);

/* The CUDA backend on device `device_ordinal` (0 = the first visible GPU; CUDA_VISIBLE_DEVICES
 * picks which): a new instance with its own stream, cuBLAS handle and scratch memory, released
 * by be->close(be). Its memory is device memory (cudaMalloc, never managed memory); ops are
 * queued on the stream in call order and may report a device error at a later call. Use an
 * instance from one thread at a time; the calling thread's current device is set to the ordinal.
 * NULL with *err (when err != NULL) set on failure: KERN_ERR_UNSUPPORTED in a build without
 * CUDA, KERN_ERR_ARG for an ordinal the machine does not have, KERN_ERR_DEVICE when there is no
 * usable driver or GPU or the runtime fails, KERN_ERR_NOMEM when memory runs out.
 * Precision, beside the rules above: matmul in the faithful mode with F16 weights rounds x to
 * fp16 (exact, since in that mode x holds fp16 values) and multiplies on the tensor cores with
 * fp32 accumulation, and so do attention (q, k, v and the probabilities) and the clip search
 * (x likewise; its differences split into fp16 hi + lo, 22 of their 24 bits); every other product
 * is an fp32 GEMM without TF32. Sums are in another order than on the CPU (the tolerances
 * are in tests/test_backends.c); quantize, w_mean (faithful), round_f16, check_f16, add, embed
 * and clip_apply give the CPU's bits. mlp in the faithful mode with F16 weights and no biases
 * keeps g, u and silu(g)*u on the device as fp16 (in the scratch) instead of widening each to
 * fp32 and narrowing it again: the same values with less memory traffic. attn likewise, in the
 * faithful mode with F16 q/k/v/o weights, no biases and no q/k norm: q, k, v (after RoPE) and the
 * attention output stay fp16 in the scratch. The attention op's P·V product comes out of cuBLAS
 * as fp16 (h() of the fp32 sum: the same value as rounding an fp32 C) and is widened into out. */
const awq_backend *awq_backend_cuda(int device_ordinal, kern_status *err);

/* The CUDA or cuBLAS call behind this thread's last KERN_ERR_DEVICE/KERN_ERR_NOMEM from the
 * CUDA backend, e.g. "cudaMalloc(1152921504606846976 bytes): out of memory (backend.cu:57)", for
 * a message; "" when there was none (and always in a build without CUDA). */
const char *awq_cuda_last_error(void);

#endif
