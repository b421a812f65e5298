/* moe.c - the mixture-of-experts mlp (moe.h). The routing is a few floats per token, so it runs
 * on the host after one download of the router logits; the experts run on the backend. */
#include "moe.h"

#include "../../base/half.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KCHECK(expr, what) do { kern_status ks_ = (expr); if (ks_ != KERN_OK) return awq_kern_fail(ks_, what); } while (0)

void awq_moe_route(const awq_config *cfg, int n_experts, const float *logits, size_t n, int round_f16, int32_t *expert,
                   float *weight)
{
    const int E = n_experts, K = cfg->n_experts_per_tok;
    float p[AWQ_MAX_EXPERTS];
    unsigned char taken[AWQ_MAX_EXPERTS];
    for (size_t t = 0; t < n; t++) {
        const float *z = logits + t * (size_t)E;
        float mx = -INFINITY, sum = 0;
        for (int e = 0; e < E; e++) mx = z[e] > mx ? z[e] : mx;
        for (int e = 0; e < E; e++) sum += p[e] = expf(z[e] - mx);
        float inv = 1.0f / sum;
        for (int e = 0; e < E; e++) p[e] *= inv, taken[e] = 0;
        int32_t *ex = expert + t * (size_t)K;
        float *wt = weight + t * (size_t)K, ksum = 0;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) /* strict >: a tie keeps the lower index */
                if (!taken[e] && (best < 0 || p[e] > p[best])) best = e;
            taken[best] = 1;
            ex[k] = best, wt[k] = p[best];
            ksum += p[best];
        }
        for (int k = 0; k < K; k++) {
            if (cfg->norm_topk_prob) wt[k] /= ksum;
            if (round_f16) wt[k] = awq_round_f16(wt[k]);
        }
    }
}

void awq_moe_route_grouped(const awq_config *cfg, int n_experts, const float *logits, const float *bias, size_t n,
                           int32_t *expert, float *weight)
{
    const int E = n_experts, K = cfg->n_experts_per_tok, G = cfg->n_group, per = E / G, TG = cfg->topk_group;
    const float rsf = (float)cfg->routed_scaling_factor;
    float sc[AWQ_MAX_EXPERTS], ch[AWQ_MAX_EXPERTS], gs[AWQ_MAX_EXPERTS];
    unsigned char keep[AWQ_MAX_EXPERTS], taken[AWQ_MAX_EXPERTS];
    for (size_t t = 0; t < n; t++) {
        const float *z = logits + t * (size_t)E;
        for (int e = 0; e < E; e++) {
            sc[e] = 1.0f / (1.0f + expf(-z[e])); /* router_logits.sigmoid() */
            ch[e] = sc[e] + bias[e];             /* scores_for_choice */
        }
        for (int g = 0; g < G; g++) { /* each group: the sum of its two largest choice scores */
            const float *cg = ch + g * per;
            int b1 = 0;
            for (int i = 1; i < per; i++) if (cg[i] > cg[b1]) b1 = i;
            int b2 = b1 == 0 ? 1 : 0;
            for (int i = 0; i < per; i++) if (i != b1 && cg[i] > cg[b2]) b2 = i;
            gs[g] = cg[b1] + cg[b2];
            keep[g] = 0;
        }
        for (int k = 0; k < TG; k++) { /* the topk_group best groups; a tie keeps the lower group */
            int best = -1;
            for (int g = 0; g < G; g++) if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
            keep[best] = 1;
        }
        for (int e = 0; e < E; e++) taken[e] = !keep[e / per]; /* the other groups' experts: -inf */
        int32_t *ex = expert + t * (size_t)K;
        float *wt = weight + t * (size_t)K, ksum = 0;
        for (int k = 0; k < K; k++) { /* config.c: K <= the kept groups' experts */
            int best = -1;
            for (int e = 0; e < E; e++) if (!taken[e] && (best < 0 || ch[e] > ch[best])) best = e;
            taken[best] = 1;
            ex[k] = best, wt[k] = sc[best]; /* the unbiased score */
            ksum += sc[best];
        }
        const float denom = ksum + 1e-20f;
        for (int k = 0; k < K; k++) {
            if (cfg->norm_topk_prob) wt[k] /= denom;
            wt[k] = wt[k] * rsf;
        }
    }
}

int awq_expert_batch(const awq_config *c)
{
    const int E = c->n_experts;
    if (E <= 0) return 0;
    const char *v = getenv("AWQ_EXPERT_BATCH"), *mb = getenv("AWQ_EXPERT_BUDGET_MB");
    char *end;
    if (v && *v) {
        long b = strtol(v, &end, 10);
        if (*end || b < 1) {
            awq_fail(AWQ_ERR_ARG, "AWQ_EXPERT_BATCH='%s' is not a number of experts", v);
            awq_hint("set AWQ_EXPERT_BATCH to a whole number >= 1 (experts whose weights are worked on at once), or unset it");
            return -1;
        }
        return b < E ? (int)b : E;
    }
    double budget = 8192;
    if (mb && *mb && (!(budget = strtod(mb, &end)) || *end || budget <= 0)) {
        awq_fail(AWQ_ERR_ARG, "AWQ_EXPERT_BUDGET_MB='%s' is not a size in MiB", mb);
        awq_hint("set AWQ_EXPERT_BUDGET_MB to the MiB a batch of experts may take (default 8192), or unset it");
        return -1;
    }
    /* per expert: its gate/up/down as fp16 plus the scale search's fp32 and fp16 pseudo-quantized
     * gate and up, 3*2 + 2*(4+2) = 18 bytes per C*Fe */
    double per = 18.0 * (double)c->hidden_size * (double)c->moe_intermediate_size;
    double b = budget * 1048576.0 / per;
    return b >= E ? E : b < 1 ? 1 : (int)b;
}

awq_err awq_moe_init(awq_fwd *f, size_t rows)
{
    const awq_backend *be = f->be;
    const size_t C = (size_t)f->cfg->hidden_size, E = (size_t)f->cfg->n_experts, K = (size_t)f->cfg->n_experts_per_tok;
    const size_t R = rows * K, N = (size_t)f->n_seq * (size_t)f->seqlen;
    const size_t passes = ((size_t)f->n_seq + (size_t)f->chunk_seqs - 1) / (size_t)f->chunk_seqs;
    awq_moe_scratch *s = &f->moe;
    if ((f->expert_batch = awq_expert_batch(f->cfg)) < 0) return AWQ_ERR_ARG;
    s->h_logits = malloc(rows * E * sizeof(float));
    s->h_expert = malloc(R * sizeof(int32_t));
    s->h_weight = malloc(R * sizeof(float));
    s->h_idx = malloc(R * sizeof(int32_t));
    s->h_cnt = malloc(rows * sizeof(int32_t));
    s->h_bias = malloc(E * sizeof(float));
    s->h_bias_raw = malloc(E * sizeof(float));
    s->h_rows = malloc(N * K * sizeof(int32_t));
    s->h_wt = malloc(N * K * sizeof(float));
    s->h_start = malloc(passes * (E + 1) * sizeof(size_t));
    float *zero = calloc(rows * C, sizeof(float));
    int ok = s->h_logits && s->h_expert && s->h_weight && s->h_idx && s->h_cnt && s->h_bias && s->h_bias_raw &&
             s->h_rows && s->h_wt && s->h_start && zero &&
             be->alloc(be->ctx, (void **)&s->logits, rows * E * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->zero, rows * C * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->x, R * C * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->y, R * C * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->rows, R * sizeof(int32_t)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->wt, R * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->idx, R * sizeof(int32_t)) == KERN_OK &&
             be->upload(be->ctx, s->zero, zero, rows * C * sizeof(float)) == KERN_OK;
    free(zero);
    if (!ok) return awq_kern_fail(KERN_ERR_NOMEM, "cannot allocate the experts' scratch");
    return AWQ_OK;
}

void awq_moe_free(awq_fwd *f)
{
    const awq_backend *be = f->be;
    awq_moe_scratch *s = &f->moe;
    be->free(be->ctx, s->logits), be->free(be->ctx, s->zero), be->free(be->ctx, s->x), be->free(be->ctx, s->y);
    be->free(be->ctx, s->rows), be->free(be->ctx, s->wt), be->free(be->ctx, s->idx), be->free(be->ctx, s->w16);
    free(s->h_logits), free(s->h_expert), free(s->h_weight), free(s->h_idx), free(s->h_cnt);
    free(s->h_bias), free(s->h_bias_raw), free(s->h_rows), free(s->h_wt), free(s->h_start);
    memset(s, 0, sizeof *s);
}

/* The routing of one pass of `rows` tokens (m: [rows, C], backend): router logits (fp16-rounded
 * when faithful; DeepSeek-V3's always fp32), top-k on the host, then the (token, weight) pairs
 * sorted by expert, tokens ascending within an expert: rows_out/wt_out [rows * k], start [E + 1]. */
static awq_err route(awq_fwd *f, const awq_block_w *w, int n_experts, const float *m, size_t rows, int32_t *rows_out,
                     float *wt_out, size_t *start, awq_route *routes, size_t token0)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    const size_t C = (size_t)c->hidden_size, K = (size_t)c->n_experts_per_tok;
    awq_moe_scratch *s = &f->moe;
    const int grouped = c->router == AWQ_ROUTER_SIGMOID_GROUPED;
    /* DeepSeek-V3's router runs in fp32 whatever the model's dtype (F.linear on .float() copies) */
    KCHECK(be->matmul(be->ctx, s->logits, m, w->w[AWQ_W_ROUTER], KERN_NO_WEIGHT, rows, (size_t)n_experts, C,
                      grouped ? 0 : f->round_f16),
           "router (mlp.gate)");
    KCHECK(be->download(be->ctx, s->h_logits, s->logits, rows * (size_t)n_experts * sizeof(float)), "router logits");
    if (grouped) {
        const kern_weight bw = w->w[AWQ_W_ROUTER_BIAS];
        if (!bw.data) return awq_fail(AWQ_ERR_ARG, "internal: the grouped router needs e_score_correction_bias");
        KCHECK(be->download(be->ctx, s->h_bias_raw, bw.data, (size_t)n_experts * kern_dtype_size(bw.dtype)),
               "e_score_correction_bias");
        for (int e = 0; e < n_experts; e++) {
            const uint16_t *h = s->h_bias_raw;
            s->h_bias[e] = bw.dtype == KERN_F32 ? ((const float *)s->h_bias_raw)[e]
                         : bw.dtype == KERN_F16 ? awq_f16_to_f32(h[e]) : awq_bf16_to_f32(h[e]);
        }
        awq_moe_route_grouped(c, n_experts, s->h_logits, s->h_bias, rows, s->h_expert, s->h_weight);
    } else {
        awq_moe_route(c, n_experts, s->h_logits, rows, f->round_f16, s->h_expert, s->h_weight);
    }
    memset(start, 0, sizeof(size_t) * (size_t)(n_experts + 1));
    for (size_t i = 0; i < rows * K; i++) start[s->h_expert[i] + 1]++;
    for (int e = 0; e < n_experts; e++) start[e + 1] += start[e];
    size_t fill[AWQ_MAX_EXPERTS];
    memcpy(fill, start, sizeof(size_t) * (size_t)n_experts);
    for (size_t t = 0; t < rows; t++)
        for (size_t k = 0; k < K; k++) {
            int32_t ex = s->h_expert[t * K + k];
            size_t at = fill[ex]++;
            rows_out[at] = (int32_t)t, wt_out[at] = s->h_weight[t * K + k];
            if (routes) routes[at] = (awq_route){(int32_t)(token0 + t), ex, (int32_t)k};
        }
    return AWQ_OK;
}

/* The weights of experts e0 .. e1-1 for one batch: the block's, or what f->expert_w puts there;
 * on a device in the faithful mode, fp32 ones (dev_block_upload keeps the experts fp32 only) go
 * to fp16 in the batch buffer, exactly (they hold fp16 values), so the experts' GEMMs take the
 * fp16 tensor-core path as before. */
static awq_err batch_weights(awq_fwd *f, const awq_block_w *w, int e0, int e1, kern_weight *wg, kern_weight *wu,
                             kern_weight *wd)
{
    const awq_backend *be = f->be;
    const size_t CF = (size_t)f->cfg->hidden_size * (size_t)f->cfg->moe_intermediate_size;
    awq_moe_scratch *s = &f->moe;
    for (int e = e0; e < e1; e++) {
        wg[e - e0] = w->w[AWQ_SLOT_EXPERT(e, AWQ_EXPERT_GATE)];
        wu[e - e0] = w->w[AWQ_SLOT_EXPERT(e, AWQ_EXPERT_UP)];
        wd[e - e0] = w->w[AWQ_SLOT_EXPERT(e, AWQ_EXPERT_DOWN)];
    }
    if (f->expert_w) {
        awq_err e = f->expert_w(f->expert_w_ctx, e0, e1, wg, wu, wd);
        if (e) return e;
    }
    if (!f->round_f16 || (be->caps & KERN_CAP_HOST_COMPUTE)) return AWQ_OK; /* the CPU reads fp32 anyway */
    kern_weight *all[3] = {wg, wu, wd};
    for (int i = 0; i < 3 * (e1 - e0); i++) {
        kern_weight *kw = &all[i % 3][i / 3];
        if (kw->dtype != KERN_F32) continue;
        if (!s->w16 && be->alloc(be->ctx, (void **)&s->w16, 3 * (size_t)f->expert_batch * CF * 2) != KERN_OK)
            return awq_kern_fail(KERN_ERR_NOMEM, "cannot allocate a batch of experts' fp16 weights (AWQ_EXPERT_BATCH)");
        uint16_t *dst = s->w16 + (size_t)i * CF;
        KCHECK(be->to_f16(be->ctx, dst, kw->data, CF), "experts' weights to fp16");
        *kw = (kern_weight){dst, KERN_F16};
    }
    return AWQ_OK;
}

/* Experts e0 .. e1-1 (weights wg/wu/wd) on their routed rows of one pass: m [rows, C], the pass's
 * sorted routing rows_in/wt_in and start [E + 1] (host); gather those rows (the embed op), one
 * mlp_grouped, and add_rows of the weighted outputs into out [rows, C] (NULL: down_in only, its
 * rows start[e0] .. of the pass's [rows * k, Fe]). */
static awq_err batch_pass(awq_fwd *f, int e0, int e1, const kern_weight *wg, const kern_weight *wu, const kern_weight *wd,
                          const float *m, float *out, float *down_in, size_t rows, const int32_t *rows_in,
                          const float *wt_in, const size_t *start)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    const size_t C = (size_t)c->hidden_size, Fe = (size_t)c->moe_intermediate_size, K = (size_t)c->n_experts_per_tok;
    awq_moe_scratch *s = &f->moe;
    const size_t a = start[e0], n = start[e1] - a;
    if (!n) return AWQ_OK; /* experts no token chose add nothing */
    size_t lstart[AWQ_MAX_EXPERTS + 1];
    for (int e = e0; e <= e1; e++) lstart[e - e0] = start[e] - a;
    KCHECK(be->upload(be->ctx, s->rows, rows_in + a, n * sizeof(int32_t)), "expert rows");
    KCHECK(be->embed(be->ctx, s->x, s->rows, (kern_weight){m, KERN_F32}, n, C, rows), "gather the experts' tokens");
    KCHECK(be->mlp_grouped(be->ctx, out ? s->y : NULL, down_in ? down_in + a * Fe : NULL, s->x, wg, wu, wd, lstart,
                           (size_t)(e1 - e0), f->buf[4], f->buf[5], C, Fe, KERN_ACT_SILU, f->round_f16),
           "experts' mlp (gate_proj, up_proj, silu_mul, down_proj)");
    if (!out) return AWQ_OK;
    /* each token's rows of this batch, experts ascending (the sorted order): index_add_'s order */
    for (size_t t = 0; t < rows; t++) s->h_cnt[t] = 0;
    for (size_t i = 0; i < rows * K; i++) s->h_idx[i] = -1;
    for (size_t r = 0; r < n; r++) {
        size_t t = (size_t)rows_in[a + r];
        s->h_idx[t * K + (size_t)s->h_cnt[t]++] = (int32_t)r;
    }
    KCHECK(be->upload(be->ctx, s->wt, wt_in + a, n * sizeof(float)), "expert weights");
    KCHECK(be->upload(be->ctx, s->idx, s->h_idx, rows * K * sizeof(int32_t)), "experts' rows per token");
    KCHECK(be->add_rows(be->ctx, out, s->y, s->wt, s->idx, rows, K, C, n, f->round_f16), "experts' weighted sum");
    return AWQ_OK;
}

/* DeepSeek-V3: out = h(out + shared_experts(m)); the shared experts' down_proj input captured */
static awq_err shared_pass(awq_fwd *f, const awq_block_w *w, const float *m, float *out, size_t rows)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    if ((!out && !f->cap_shared_down_in) || !w->w[AWQ_W_SHARED_GATE].data) return AWQ_OK;
    const size_t C = (size_t)c->hidden_size, Fs = (size_t)c->moe_intermediate_size * (size_t)c->n_shared_experts;
    KCHECK(be->mlp(be->ctx, out ? f->moe.y : NULL, f->cap_shared_down_in, m, w->w[AWQ_W_SHARED_GATE], KERN_NO_WEIGHT,
                   w->w[AWQ_W_SHARED_UP], KERN_NO_WEIGHT, w->w[AWQ_W_SHARED_DOWN], KERN_NO_WEIGHT, f->buf[4], f->buf[5],
                   rows, C, Fs, KERN_ACT_SILU, f->round_f16),
           "shared experts (gate_proj, up_proj, silu_mul, down_proj)");
    if (out) KCHECK(be->add(be->ctx, out, out, f->moe.y, rows * C, f->round_f16), "routed + shared experts");
    return AWQ_OK;
}

awq_err awq_moe_forward_rows(awq_fwd *f, const awq_block_w *w, int n_experts, const float *m, float *out, size_t rows,
                             float *down_in, awq_route *routes, size_t token0)
{
    awq_moe_scratch *s = &f->moe;
    const size_t C = (size_t)f->cfg->hidden_size;
    awq_err e = route(f, w, n_experts, m, rows, s->h_rows, s->h_wt, s->h_start, routes, token0);
    if (e) return e;
    if (out) KCHECK(f->be->copy(f->be->ctx, out, s->zero, rows * C * sizeof(float)), "experts' sum");
    kern_weight wg[AWQ_MAX_EXPERTS], wu[AWQ_MAX_EXPERTS], wd[AWQ_MAX_EXPERTS];
    for (int e0 = 0; e0 < n_experts && !e; e0 += f->expert_batch) {
        int e1 = e0 + f->expert_batch < n_experts ? e0 + f->expert_batch : n_experts;
        if (s->h_start[e1] == s->h_start[e0]) continue;
        e = batch_weights(f, w, e0, e1, wg, wu, wd);
        if (!e) e = batch_pass(f, e0, e1, wg, wu, wd, m, out, down_in, rows, s->h_rows, s->h_wt, s->h_start);
    }
    return e ? e : shared_pass(f, w, m, out, rows);
}

awq_err awq_moe_forward(awq_fwd *f, const awq_block_w *w, const float *m, float *out)
{
    awq_moe_scratch *s = &f->moe;
    const int E = f->cfg->n_experts;
    const size_t T = (size_t)f->seqlen, C = (size_t)f->cfg->hidden_size, K = (size_t)f->cfg->n_experts_per_tok;
    const size_t ns = (size_t)f->n_seq, cs = (size_t)f->chunk_seqs;
    awq_err e = AWQ_OK;
    /* every pass's routing first (kept on the host), out zeroed */
    for (size_t p = 0, s0 = 0; !e && s0 < ns; p++, s0 += cs) {
        size_t rows = (ns - s0 < cs ? ns - s0 : cs) * T;
        e = route(f, w, E, m + s0 * T * C, rows, s->h_rows + s0 * T * K, s->h_wt + s0 * T * K,
                  s->h_start + p * (size_t)(E + 1), NULL, 0);
        if (!e) KCHECK(f->be->copy(f->be->ctx, out + s0 * T * C, s->zero, rows * C * sizeof(float)), "experts' sum");
    }
    /* then each batch of experts over every pass: a batch's weights are made once per forward */
    kern_weight wg[AWQ_MAX_EXPERTS], wu[AWQ_MAX_EXPERTS], wd[AWQ_MAX_EXPERTS];
    for (int e0 = 0; e0 < E && !e; e0 += f->expert_batch) {
        int e1 = e0 + f->expert_batch < E ? e0 + f->expert_batch : E;
        e = batch_weights(f, w, e0, e1, wg, wu, wd);
        for (size_t p = 0, s0 = 0; !e && s0 < ns; p++, s0 += cs) {
            size_t rows = (ns - s0 < cs ? ns - s0 : cs) * T;
            e = batch_pass(f, e0, e1, wg, wu, wd, m + s0 * T * C, out + s0 * T * C, NULL, rows, s->h_rows + s0 * T * K,
                           s->h_wt + s0 * T * K, s->h_start + p * (size_t)(E + 1));
        }
    }
    for (size_t s0 = 0; !e && s0 < ns; s0 += cs) {
        size_t rows = (ns - s0 < cs ? ns - s0 : cs) * T;
        e = shared_pass(f, w, m + s0 * T * C, out + s0 * T * C, rows);
    }
    return e;
}
