/* moe.c - the mixture-of-experts mlp (moe.h). The routing is a few floats per token, so it runs
 * on the host after one download of the router logits; the experts run on the backend. */
#include "moe.h"

#include "../../base/half.h"

#include <math.h>
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

awq_err awq_moe_init(awq_fwd *f, size_t rows)
{
    const awq_backend *be = f->be;
    const size_t C = (size_t)f->cfg->hidden_size, E = (size_t)f->cfg->n_experts, K = (size_t)f->cfg->n_experts_per_tok;
    awq_moe_scratch *s = &f->moe;
    s->h_logits = malloc(rows * E * sizeof(float));
    s->h_expert = malloc(rows * K * sizeof(int32_t));
    s->h_weight = malloc(rows * K * sizeof(float));
    s->h_rows = malloc(rows * K * sizeof(int32_t));
    s->h_wt = malloc(rows * K * sizeof(float));
    s->h_bias = malloc(E * sizeof(float));
    s->h_bias_raw = malloc(E * sizeof(float));
    float *zero = calloc(rows * C, sizeof(float));
    int ok = s->h_logits && s->h_expert && s->h_weight && s->h_rows && s->h_wt && s->h_bias && s->h_bias_raw && zero &&
             be->alloc(be->ctx, (void **)&s->logits, rows * E * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->zero, rows * C * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->x, rows * C * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->y, rows * C * sizeof(float)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->rows, rows * K * sizeof(int32_t)) == KERN_OK &&
             be->alloc(be->ctx, (void **)&s->wt, rows * K * sizeof(float)) == KERN_OK &&
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
    be->free(be->ctx, s->rows), be->free(be->ctx, s->wt);
    free(s->h_logits), free(s->h_expert), free(s->h_weight), free(s->h_rows), free(s->h_wt);
    free(s->h_bias), free(s->h_bias_raw);
    memset(s, 0, sizeof *s);
}

awq_err awq_moe_forward_rows(awq_fwd *f, const awq_block_w *w, int n_experts, const float *m, float *out, size_t rows,
                             float *down_in, awq_route *routes, size_t token0)
{
    const awq_backend *be = f->be;
    const awq_config *c = f->cfg;
    const size_t C = (size_t)c->hidden_size, Fe = (size_t)c->moe_intermediate_size, K = (size_t)c->n_experts_per_tok;
    const int r16 = f->round_f16;
    awq_moe_scratch *s = &f->moe;
    const int grouped = c->router == AWQ_ROUTER_SIGMOID_GROUPED;
    /* DeepSeek-V3's router runs in fp32 whatever the model's dtype (F.linear on .float() copies) */
    KCHECK(be->matmul(be->ctx, s->logits, m, w->w[AWQ_W_ROUTER], KERN_NO_WEIGHT, rows, (size_t)n_experts, C,
                      grouped ? 0 : r16),
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
        awq_moe_route(c, n_experts, s->h_logits, rows, r16, s->h_expert, s->h_weight);
    }
    /* the (token, weight) pairs of each expert in turn, tokens ascending within an expert */
    size_t start[AWQ_MAX_EXPERTS + 1] = {0};
    for (size_t i = 0; i < rows * K; i++) start[s->h_expert[i] + 1]++;
    for (int e = 0; e < n_experts; e++) start[e + 1] += start[e];
    size_t fill[AWQ_MAX_EXPERTS];
    memcpy(fill, start, sizeof(size_t) * (size_t)n_experts);
    for (size_t t = 0; t < rows; t++)
        for (size_t k = 0; k < K; k++) {
            int32_t ex = s->h_expert[t * K + k];
            size_t at = fill[ex]++;
            s->h_rows[at] = (int32_t)t, s->h_wt[at] = s->h_weight[t * K + k];
            if (routes) routes[at] = (awq_route){(int32_t)(token0 + t), ex, (int32_t)k};
        }
    KCHECK(be->upload(be->ctx, s->rows, s->h_rows, rows * K * sizeof(int32_t)), "expert rows");
    KCHECK(be->upload(be->ctx, s->wt, s->h_wt, rows * K * sizeof(float)), "expert weights");
    if (out) KCHECK(be->copy(be->ctx, out, s->zero, rows * C * sizeof(float)), "experts' sum");
    const kern_weight rows_f32 = {m, KERN_F32};
    for (int e = 0; e < n_experts; e++) {
        size_t ne = start[e + 1] - start[e];
        if (!ne) continue; /* an expert no token chose adds nothing */
        const int32_t *er = s->rows + start[e];
        KCHECK(be->embed(be->ctx, s->x, er, rows_f32, ne, C, rows), "gather an expert's tokens");
        KCHECK(be->mlp(be->ctx, out ? s->y : NULL, down_in ? down_in + start[e] * Fe : NULL, s->x,
                       w->w[AWQ_SLOT_EXPERT(e, AWQ_EXPERT_GATE)], KERN_NO_WEIGHT,
                       w->w[AWQ_SLOT_EXPERT(e, AWQ_EXPERT_UP)], KERN_NO_WEIGHT, w->w[AWQ_SLOT_EXPERT(e, AWQ_EXPERT_DOWN)],
                       KERN_NO_WEIGHT, f->buf[4], f->buf[5], ne, C, Fe, KERN_ACT_SILU, r16),
               "expert mlp (gate_proj, up_proj, silu_mul, down_proj)");
        if (out) KCHECK(be->add_rows(be->ctx, out, s->y, er, s->wt + start[e], ne, C, rows, r16), "experts' weighted sum");
    }
    if ((out || f->cap_shared_down_in) && w->w[AWQ_W_SHARED_GATE].data) { /* DeepSeek-V3: routed sum + shared_experts(m) */
        const size_t Fs = Fe * (size_t)c->n_shared_experts;
        KCHECK(be->mlp(be->ctx, out ? s->y : NULL, f->cap_shared_down_in, m, w->w[AWQ_W_SHARED_GATE], KERN_NO_WEIGHT,
                       w->w[AWQ_W_SHARED_UP], KERN_NO_WEIGHT,
                       w->w[AWQ_W_SHARED_DOWN], KERN_NO_WEIGHT, f->buf[4], f->buf[5], rows, C, Fs, KERN_ACT_SILU, r16),
               "shared experts (gate_proj, up_proj, silu_mul, down_proj)");
        if (out) KCHECK(be->add(be->ctx, out, out, s->y, rows * C, r16), "routed + shared experts");
    }
    return AWQ_OK;
}
