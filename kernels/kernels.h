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

/* RoPE parameters from config.json (spec §1.5): the default, "llama3" and (DeepSeek-V3) "yarn"
 * types; refusing other types is the caller's job. Members a type does not use are 0. */
typedef struct kern_rope {
    float theta;            /* rope_theta (10000, 500000, 1e6, ...) */
    int llama3;             /* 1: rope_scaling.rope_type == "llama3", then the four below apply */
    float factor;           /* 8 (Llama-3.1), 32 (Llama-3.2); yarn's factor too */
    float low_freq_factor;  /* 1 */
    float high_freq_factor; /* 4 */
    float original_max_pos; /* original_max_position_embeddings, 8192; yarn's too */
    int yarn;               /* 1: rope_type "yarn": factor, original_max_pos and the four below apply */
    double beta_fast, beta_slow; /* yarn's correction range, in rotations (32, 1) */
    int truncate;           /* yarn: floor/ceil the correction range (transformers' default) */
    float attention_factor; /* yarn: cos and sin are multiplied by it in fp32 (before any fp16 rounding) */
    int interleave;         /* DeepSeek's rope_interleave: see the rope op */
    /* Phi-3 (transformers' longrope, "su"): inv_freq[j] = 1 / (ext_factors[j] * theta^(2j/rd)) and cos/sin
     * times attention_factor; ext_factors (host, [rd/2]) are the short or the long factors, which the
     * caller picks by sequence length. NULL: none. */
    const float *ext_factors;
    int longrope;           /* 1: cos and sin are multiplied by attention_factor (as for yarn) */
    int rotary_dim;         /* partial rotary (Phi-3 partial_rotary_factor): only the first rotary_dim
                             * values of each head rotate, as rotate_half over them; 0 = the whole head */
    float linear;           /* rope_type "linear" (Gemma 3's global layers): inv_freq[j] /= linear; 0 = none */
} kern_rope;
/* The rotated width of a head of d values: rope->rotary_dim, or d when it is 0. */
static inline size_t kern_rope_dim(const kern_rope *p, size_t d) { return p->rotary_dim ? (size_t)p->rotary_dim : d; }

/* The rotary frequencies f[j], j < d/2, on the host, exactly as HF computes them in fp32:
 * inv_freq[j] = 1 / theta^(float(2j)/d) and, when p->llama3, the llama3 remap of §1.5 in the
 * same fp32 operation order; when p->yarn, transformers' _compute_yarn_parameters (the correction
 * range in fp64 as Python computes it, the ramp and the blend in fp32). d must be even. Every
 * backend's rope uses this function. */
void kern_rope_freqs(float *f /*[d/2]*/, size_t d, const kern_rope *p);
/* The factor cos and sin are multiplied by: p->attention_factor for yarn and longrope, else 1. */
float kern_rope_cs_scale(const kern_rope *p);
/* The attention's default softmax scale, HF's head_dim ** -0.5 as fp32: (float)(1 / sqrt(d)). */
float kern_attention_scale(size_t d);

/* The weights of a self-attention module (Llama/Qwen self_attn) for the attn op: a host struct
 * whose members are backend memory. Absent biases and norms are KERN_NO_WEIGHT. */
typedef struct kern_attn_w {
    kern_weight q, k, v, o;                     /* [h*d, c], [hkv*d, c], [hkv*d, c], [c, h*d] */
    kern_weight q_bias, k_bias, v_bias, o_bias; /* [h*d], [hkv*d], [hkv*d], [c] or none */
    kern_weight q_norm, k_norm;                 /* [d] each or none: Qwen3's per-head RMSNorm */
    float eps;                                  /* of q_norm / k_norm */
    /* Gemma (0 for every other family): the softmax scale (0: kern_attention_scale(d); Gemma:
     * query_pre_attn_scalar ** -0.5), the score soft-capping (0: none), the sliding window of this
     * layer (0: none), and q_norm/k_norm as Gemma's (1 + w) RMSNorm (rmsnorm_1p). */
    float scale, softcap;
    size_t window;
    int norm_1p;
} kern_attn_w;
/* The attn op's softmax scale: w->scale, or kern_attention_scale(d) when it is 0. */
float kern_attn_scale(const kern_attn_w *w, size_t d);
/* The first key a query row p sees: max(0, p + 1 - window) for a sliding window, else 0. */
static inline size_t kern_attn_lo(size_t p, size_t window) { return window && p + 1 > window ? p + 1 - window : 0; }
/* The gated MLP's activation (the mlp op's act). */
enum kern_act { KERN_ACT_SILU = 0, KERN_ACT_GELU_TANH = 1 };
/* The attn op's argument checks, shared by every backend: 1 when the shapes and every weight,
 * bias and norm the op reads (o and o_bias only when out is wanted) are valid. */
int kern_attn_args_ok(const float *out, const kern_attn_w *w, size_t h, size_t hkv, size_t d);

/* Opaque per-instance state of a backend (device, stream, BLAS handle; NULL for the CPU). */
typedef struct awq_backend_ctx awq_backend_ctx;

/* What a backend can do, for callers that must choose (the bits of awq_backend.caps). */
enum kern_cap {
    KERN_CAP_HOST_MEMORY = 1u << 0,  /* backend memory is host memory: host pointers work as tensors */
    KERN_CAP_HOST_COMPUTE = 1u << 1, /* the ops run on the calling thread (synchronous, OpenMP) */
    KERN_CAP_CUDA = 1u << 2,         /* a CUDA device: device memory, stream-ordered ops */
};

typedef struct awq_backend awq_backend;
struct awq_backend {
    const char *name;     /* "cpu", "cuda": for messages; ask caps, not the name */
    unsigned caps;        /* KERN_CAP_* */
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

    /* ---- ops: one member per entry of kernels/ops.def, where each is documented ----------- */
#define KERN_OP(name, stem, ret, params) ret(*name) params;
#include "ops.def"
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

/* ---- error detail (every backend) ------------------------------------------------------------ */

/* The detail behind this thread's last failed kernel call when the backend recorded one: for
 * CUDA the call, its status name and file:line, e.g. "cudaMalloc(1152921504606846976 bytes): out
 * of memory (backend.cu:57)"; "" when there is none. It stays until kern_clear_error or the next
 * recorded failure; stages put it in their message (stages/common/kern_err.h). Never NULL. */
const char *kern_last_error(void);
void kern_clear_error(void);
/* For backends: record the detail of a failure (printf format; truncated to 255 bytes). */
void kern_record_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
