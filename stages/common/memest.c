/* memest.c - the memory steps need (memest.h): one formula, following the allocations of the
 * scale search (awq.c search_group, awq_search_scales) and the forward (forward.c). */
#include "memest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/device.h"

#include "forward.h"
#include "moe.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* the CUDA context, cuBLAS's workspace and the kernels' scratch of one process */
static const double CTX_BYTES = 0.6 * GIB;

typedef struct shape {
    double C, HD, KVD, OD, F, E, K, Fe, H, N, seqlen, params;
    double B, shared; /* a MoE block: experts in a batch (moe.h awq_expert_batch), shared experts */
    double qlr, kvlr, qbw, kvbw; /* latent attention: q_b_proj's and kv_b_proj's in and out widths */
} shape;

static shape shape_of(const awq_config *c, int E, double params, long n_seq, int seqlen)
{
    shape s;
    s.C = c->hidden_size;
    s.H = c->num_attention_heads;
    s.HD = (double)c->num_attention_heads * c->head_dim;
    s.KVD = (double)c->num_key_value_heads * c->head_dim;
    s.OD = c->mla ? (double)awq_attn_out_width(c) : s.HD; /* o_proj's input */
    s.F = c->intermediate_size;
    s.E = E;
    s.K = E ? c->n_experts_per_tok : 0;
    s.Fe = c->moe_intermediate_size;
    s.N = (double)n_seq * seqlen;
    s.seqlen = seqlen;
    s.params = params > 0 ? params : awq_mem_block_params(c, E);
    int b = E ? awq_expert_batch(c) : 0;
    s.B = b < 0 || b > E ? E : b; /* a bad AWQ_EXPERT_BATCH: the step says so */
    s.shared = E && c->mla ? c->n_shared_experts : 0;
    s.qlr = c->mla ? c->q_lora_rank : 0, s.kvlr = c->mla ? c->kv_lora_rank : 0;
    s.qbw = s.H * (c->qk_nope_head_dim + c->qk_rope_head_dim), s.kvbw = s.H * (c->qk_nope_head_dim + c->v_head_dim);
    return s;
}

double awq_mem_block_params(const awq_config *c, int E)
{
    const double C = c->hidden_size, HD = (double)c->num_attention_heads * c->head_dim;
    const double KVD = (double)c->num_key_value_heads * c->head_dim;
    double p = C * HD * 2 + C * KVD * 2 + 2 * C; /* q, o, k, v and the two norms */
    if (E) p += (double)E * 3 * C * c->moe_intermediate_size + (double)E * C +
                (double)c->n_shared_experts * 3 * C * c->moe_intermediate_size;
    else p += 3 * C * c->intermediate_size;
    return p;
}

/* One scale group's device buffers: reference and trial outputs (`out_rows` rows of the trial),
 * its layers pseudo-quantized (fp32, + fp16), its input pinned as fp16 (unchunked only) and, for a
 * chunked search, the input itself (its feats are on the host). */
static double group_bytes(double rows, double I, double OW, double wq, int r16, int chunked, double out_rows)
{
    double b = rows * OW * 4 + out_rows * OW * 4 + wq * (r16 ? 6 : 4);
    if (!chunked && r16) b += rows * I * 2;
    if (chunked) b += rows * I * 4;
    return b;
}

/* The largest group of the block. out_rows < 0: unchunked (the trial output of all rows). gpu:
 * in fp16 numerics the experts are fp16 only there, and a group's expert weight is made fp32 in
 * one more buffer (awq.c expert_q, w32). */
static double largest_group(const shape *s, int r16, int gpu, double out_rows)
{
    const int chunked = out_rows >= 0;
    double g[8];
    int n = 0;
    const double N = s->N, o = chunked ? out_rows : N;
    g[n++] = group_bytes(N, s->C, s->C, s->C * (s->HD + 2 * s->KVD), r16, chunked, o); /* q, k, v */
    if (s->HD == s->C && s->KVD == s->HD) g[n++] = group_bytes(N, s->HD, s->C, s->C * s->HD, r16, chunked, o); /* v -> o */
    /* the latent attention's one-linear groups, whose outputs are wider than the block's: kv_b_proj's
     * [N, H (nope + v)] reference and trial outputs are 16 GiB for DeepSeek-V3 on 128 x 512 tokens
     * (missing them, the estimate was 71 GiB where the H100 ran out at 80: docs/PERFORMANCE.md) */
    if (s->qlr) g[n++] = group_bytes(N, s->qlr, s->qbw, s->qlr * s->qbw, r16, chunked, o);
    if (s->kvlr) g[n++] = group_bytes(N, s->kvlr, s->kvbw, s->kvlr * s->kvbw, r16, chunked, o);
    if (s->E) {
        /* the experts' gate/up pseudo-quantized a batch at a time (and the shared experts'); an
         * expert's down_proj on its tokens (at most N) */
        const double w32 = r16 && gpu ? 4 * s->C * s->Fe : 0;
        g[n++] = group_bytes(N, s->C, s->C, 2 * (s->B + s->shared) * s->C * s->Fe, r16, chunked, o) + w32;
        g[n++] = group_bytes(N, s->Fe, s->C, s->C * s->Fe, r16, chunked, chunked ? (o < N ? o : N) : N) + w32;
    } else {
        g[n++] = group_bytes(N, s->C, s->C, 2 * s->C * s->F, r16, chunked, o);
        g[n++] = group_bytes(N, s->F, s->C, s->C * s->F, r16, chunked, o);
    }
    double m = 0;
    for (int i = 0; i < n; i++) m = g[i] > m ? g[i] : m;
    return m;
}

/* the linears' inputs of `rows` tokens: attn_in, o_in, mlp_in, down_in (a MoE block: k rows of
 * Fe per token, and the gathered rows of an expert, at most one a token) */
static double feats_bytes(const shape *s, double rows)
{
    double b = rows * (2 * s->C + s->OD + s->qlr + s->kvlr) * 4;
    if (s->E) b += rows * (s->K + 1 + s->shared) * s->Fe * 4;
    else b += rows * s->F * 4;
    return b;
}

static void base(const awq_config *c, const shape *s, int r16, int gpu, long n_seq, awq_mem_need *out)
{
    const int cs = awq_fwd_chunk_seqs(c, (int)n_seq, (int)s->seqlen);
    out->pass_rows = (long)cs * (long)s->seqlen;
    out->ctx = gpu ? CTX_BYTES : 0;
    out->x = s->N * s->C * 4;
    out->weights = s->params * (r16 ? 6 : 4);
    if (s->E) { /* the routed experts in one copy: fp16 on a device in fp16 numerics, else fp32 (awq.c) */
        const double ex = s->E * 3 * s->C * s->Fe;
        out->weights = r16 && gpu ? (s->params - ex) * 6 + ex * 2 : s->params * 4 + (r16 ? 2 * (s->params - ex) : 0);
    }
    /* the pass's scratch and its attention scores [rows, H, seqlen] (fp32) */
    out->fwd = (double)out->pass_rows * ((double)awq_fwd_row_bytes(c) + s->H * s->seqlen * 4);
}

void awq_mem_estimate(const awq_config *c, int n_experts, double params, long n_seq, int seqlen, int r16, int gpu,
                      awq_mem_need *out)
{
    const shape s = shape_of(c, n_experts, params, n_seq, seqlen);
    base(c, &s, r16, gpu, n_seq, out);
    out->feats = feats_bytes(&s, s.N);
    out->group = largest_group(&s, r16, gpu, -1);
    out->search = out->ctx + out->x + out->weights + out->fwd + out->feats + out->group;
    out->chunked = awq_mem_chunked(c, n_experts, params, n_seq, seqlen, r16, gpu, out->pass_rows);
    /* clip-only: the scaled weights (fp32 + the packing's codes), the sampled rows of the inputs
     * (n_sample_token 512 by default: small) and the grid's [o, G, candidates] losses, which the
     * weights bound; the context */
    /* A MoE block's clip holds one linear at a time (awq.c awq_search_clips; the weight, its
     * clipped copy and the dequantized one of the packing): its largest linear. A dense block
     * keeps the earlier whole-block figure, which errs high. */
    double widest = s.C * (s.Fe > s.OD ? (s.Fe > s.HD ? s.Fe : s.HD) : (s.OD > s.HD ? s.OD : s.HD));
    if (s.qlr * s.qbw > widest) widest = s.qlr * s.qbw;
    if (s.kvlr * s.kvbw > widest) widest = s.kvlr * s.kvbw;
    out->clip = out->ctx + (s.E ? widest * 4 * 3 : s.params * 4 * 2) + 512.0 * (2 * s.C + s.OD + (s.E ? s.E * (s.C + s.Fe) : s.F)) * 4;
}

double awq_mem_chunked(const awq_config *c, int n_experts, double params, long n_seq, int seqlen, int r16, int gpu,
                       long rows)
{
    const shape s = shape_of(c, n_experts, params, n_seq, seqlen);
    awq_mem_need b;
    base(c, &s, r16, gpu, n_seq, &b);
    if (rows < b.pass_rows) rows = b.pass_rows;
    if ((double)rows > s.N) rows = (long)s.N;
    /* first the forward of a chunk, its feats downloaded to the host; then one group at a time */
    const double fw = feats_bytes(&s, (double)rows), gr = largest_group(&s, r16, gpu, (double)rows);
    /* a GEMM's fp32 input of the chunk converted to fp16 in the backend's scratch, which grows by
     * a quarter for headroom (kernels/cuda/backend.cu): for the widest linear input (down_proj's
     * F). Missing it, a 70B-shaped block's chunks were sized ~1.3 GiB too large for a 22 GiB card
     * on the H100 (docs/PERFORMANCE.md). */
    const double I = s.E ? (s.Fe > s.C ? s.Fe : s.C) : (s.F > s.C ? s.F : s.C);
    const double conv = gpu ? 1.25 * 2.0 * (double)rows * (I > s.HD ? I : s.HD) : 0;
    return b.ctx + b.x + b.weights + b.fwd + (fw > gr ? fw : gr) + conv;
}

long awq_mem_host_mb(const awq_config *c, int layer, double params, long T)
{
    double w = 4 * params;
    if (layer < 0) w = 4.0 * c->vocab_size * c->hidden_size; /* the embedding table */
    const double wide = c->intermediate_size > 4 * c->hidden_size ? c->intermediate_size : 4.0 * c->hidden_size;
    const double bytes = 2.0 * T * c->hidden_size * 4 + 3 * w + 2.0 * T * wide * 4;
    return 512 + (long)(bytes / (1 << 20));
}

int awq_mem_simulated(void)
{
    const char *d = getenv("AWQ_DEVICES");
    return d && strncmp(d, "cpu:", 4) == 0;
}

int awq_mem_on_gpu(const char *device)
{
    return awq_mem_simulated() || ((!device || strcmp(device, "cpu") != 0) && awq_cuda_device_count(NULL, 0) > 0);
}

const char *awq_mem_str(double bytes, char *out, size_t cap)
{
    if (bytes >= GIB) snprintf(out, cap, "%.1f GiB", bytes / GIB);
    else snprintf(out, cap, "%.0f MiB", bytes / (1024.0 * 1024.0));
    return out;
}
