/* eval.c - perplexity, KL and top-1 agreement over non-overlapping windows (spec §4.1). */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "log.h"

double awq_row_nll(const float *logits, size_t v, int32_t target)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < v; i++) if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (size_t i = 0; i < v; i++) sum += exp((double)logits[i] - mx);
    return log(sum) + mx - (double)logits[target];
}

double awq_ppl_from_losses(const double *window_loss, size_t n, int seqlen)
{
    double nll = 0;
    for (size_t i = 0; i < n; i++) nll += window_loss[i] * (double)seqlen;
    return exp(nll / ((double)n * (double)seqlen));
}

/* log-softmax of a row into out (double) */
static void log_softmax(double *out, const float *logits, size_t v)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < v; i++) if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (size_t i = 0; i < v; i++) sum += exp((double)logits[i] - mx);
    double lse = log(sum) + mx;
    for (size_t i = 0; i < v; i++) out[i] = (double)logits[i] - lse;
}

static size_t argmax(const float *x, size_t v)
{
    size_t b = 0;
    for (size_t i = 1; i < v; i++) if (x[i] > x[b]) b = i;
    return b;
}

void awq_head_release(const awq_backend *be, awq_head_w *h) { for (int i = 0; i < 3; i++) awq_dev_release(be, h->own[i]); }

awq_err awq_head_upload(const awq_backend *be, const awq_model *m, awq_head_w *h)
{
    memset(h, 0, sizeof *h);
    const st_tensor *t[3] = {m->embed, m->final_norm, m->lm_head};
    kern_weight *w[3] = {&h->table, &h->norm, &h->head};
    for (int i = 0; i < 3; i++) {
        const void *v = NULL;
        awq_err e = awq_dev_view(be, t[i]->data, t[i]->nbytes, &v, &h->own[i]);
        if (e) { awq_head_release(be, h); return e; }
        *w[i] = (kern_weight){v, awq_kern_dtype(t[i]->dtype)};
    }
    return AWQ_OK;
}

/* Block weights come as host memory (the model's mapping or a variant's arrays) and are lent
 * (CPU) or uploaded (device) block by block. */
awq_err awq_window_logits(awq_fwd *f, const awq_model *m, const awq_head_w *hw, const awq_variant *var, const int32_t *ids,
                             float *x, float *logits)
{
    const awq_backend *be = f->be;
    const size_t T = (size_t)f->seqlen, C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    kern_status ks = be->embed(be->ctx, x, ids, hw->table, T, C, V);
    if (ks != KERN_OK) return awq_kern_fail(ks, "embedding lookup (is a token id outside the vocabulary?)");
    awq_err es = awq_embed_scale(be, &m->cfg, x, T, f->round_f16);
    if (es) return es;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        awq_block_w host, w;
        awq_block blk;
        void *own[AWQ_SLOT__COUNT] = {0};
        size_t bytes[AWQ_SLOT__COUNT] = {0};
        awq_err e = var->weights ? var->weights(var->ctx, l, &host) : awq_block_w_host(m, l, &host);
        host.layer1 = l + 1;
        if (!e) e = awq_model_block(m, l, &blk);
        for (int s = 0; !e && s < AWQ_SLOT__COUNT; s++)
            if (blk.t[s]) bytes[s] = blk.t[s]->nbytes / awq_dtype_size(blk.t[s]->dtype) * kern_dtype_size(host.w[s].dtype);
        if (!e) e = awq_block_w_upload(be, &host, &w, own, bytes);
        if (!e) e = awq_block_forward(f, &w, x, x, NULL);
        awq_block_w_release(be, own);
        if (e) return awq_context(e, "%s: block %d", var->name, l);
    }
    return awq_logits(be, m, hw->norm, hw->head, x, T, f->round_f16, logits);
}

awq_err awq_eval_ppl(const awq_backend *be, const awq_model *m, const awq_variant *variants, int n_variants,
                     const int32_t *ids, size_t n, int seqlen, int max_windows, int round_f16,
                     awq_eval_result *results)
{
    const size_t T = (size_t)seqlen, C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    if (seqlen < 2) return awq_fail(AWQ_ERR_ARG, "eval seqlen must be at least 2 (got %d)", seqlen);
    size_t n_win = n / T;
    if (max_windows > 0 && n_win > (size_t)max_windows) n_win = (size_t)max_windows;
    if (n_win == 0) {
        awq_fail(AWQ_ERR_ARG, "%zu evaluation tokens do not fill one window of %d", n, seqlen);
        /* make eval / compare pass EVAL_SEQLEN as awq-eval's --seqlen (mk/pipeline.mk) */
        awq_hint("use a longer evaluation text or a smaller %s", awq_via_make() ? "EVAL_SEQLEN" : "--seqlen");
        return AWQ_ERR_ARG;
    }
    for (size_t i = 0; i < n_win * T; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= V)
            return awq_fail(AWQ_ERR_ARG, "evaluation token %zu has id %d, outside the vocabulary [0, %zu)", i, ids[i], V);
    awq_fwd f;
    awq_err e = awq_fwd_init(&f, be, &m->cfg, 1, seqlen, round_f16, 1);
    if (e) return e;
    awq_head_w hw = {0};
    float *x = NULL, *lg_d = NULL;
    int32_t *ids_d = NULL;
    float *lg = malloc((size_t)n_variants * T * V * sizeof *lg);
    if (!e) e = awq_head_upload(be, m, &hw);
    if (!e) e = awq_dev_alloc(be, (void **)&x, T * C * sizeof *x);
    if (!e) e = awq_dev_alloc(be, (void **)&lg_d, T * V * sizeof *lg_d);
    if (!e) e = awq_dev_alloc(be, (void **)&ids_d, T * sizeof *ids_d);
    /* per position t and variant: its nll, KL and top-1 agreement, computed in parallel, then
     * added in position order as one loop would (the sums' bits do not depend on the threads) */
    const size_t nv = (size_t)n_variants;
    double *t_nll = malloc(nv * T * sizeof *t_nll), *t_kl = malloc(nv * T * sizeof *t_kl);
    unsigned char *t_agree = malloc(nv * T);
    double *loss_sum = calloc((size_t)n_variants * n_win, sizeof *loss_sum), *kl_sum = calloc((size_t)n_variants, sizeof *kl_sum);
    size_t *agree = calloc((size_t)n_variants, sizeof *agree);
    if (!e && (!lg || !t_nll || !t_kl || !t_agree || !loss_sum || !kl_sum || !agree))
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory for evaluation");
    for (size_t w = 0; !e && w < n_win; w++) {
        const int32_t *wid = ids + w * T;
        kern_status ks = be->upload(be->ctx, ids_d, wid, T * sizeof *ids_d);
        if (ks) e = awq_kern_fail(ks, "upload ids");
        for (int v = 0; !e && v < n_variants; v++) {
            e = awq_window_logits(&f, m, &hw, &variants[v], ids_d, x, lg_d);
            if (!e) e = awq_dev_fetch(be, lg + (size_t)v * T * V, lg_d, T * V * sizeof *lg);
        }
        int nomem = 0;
        #pragma omp parallel if (!e) reduction(| : nomem)
        {
            double *lp0 = malloc(V * sizeof *lp0), *lpv = malloc(V * sizeof *lpv);
            nomem = !lp0 || !lpv;
            #pragma omp for schedule(static)
            for (size_t t = 0; t < T - 1; t++) {
                if (nomem) continue;
                const float *l0 = lg + t * V;
                log_softmax(lp0, l0, V);
                size_t a0 = argmax(l0, V);
                for (size_t v = 0; v < nv; v++) {
                    const float *lv = lg + v * T * V + t * V;
                    if (v > 0) log_softmax(lpv, lv, V);
                    const double *lpt = v ? lpv : lp0;
                    t_nll[v * T + t] = -lpt[wid[t + 1]];
                    double kl = 0;
                    if (v > 0)
                        for (size_t i = 0; i < V; i++) kl += exp(lp0[i]) * (lp0[i] - lpv[i]);
                    t_kl[v * T + t] = kl;
                    t_agree[v * T + t] = v == 0 || argmax(lv, V) == a0;
                }
            }
            free(lp0), free(lpv);
        }
        if (!e && nomem) e = awq_fail(AWQ_ERR_NOMEM, "out of memory for evaluation");
        for (size_t t = 0; !e && t + 1 < T; t++)
            for (size_t v = 0; v < nv; v++) {
                loss_sum[v * n_win + w] += t_nll[v * T + t] / (double)(T - 1); /* Loss_i: mean over the window */
                if (v > 0) kl_sum[v] += t_kl[v * T + t];
                agree[v] += t_agree[v * T + t];
            }
        awq_progress("windows", (long)w + 1, (long)n_win);
    }
    for (int v = 0; !e && v < n_variants; v++) {
        awq_eval_result *r = &results[v];
        r->n_windows = (int)n_win;
        r->seqlen = seqlen;
        const double *wl = loss_sum + (size_t)v * n_win;
        r->mean_loss = 0;
        for (size_t w = 0; w < n_win; w++) r->mean_loss += wl[w] / (double)n_win;
        r->ppl = awq_ppl_from_losses(wl, n_win, seqlen);
        r->kl = kl_sum[v] / ((double)n_win * (double)(T - 1));
        r->top1 = (double)agree[v] / ((double)n_win * (double)(T - 1));
    }
    awq_dev_free(be, x); awq_dev_free(be, lg_d); awq_dev_free(be, ids_d);
    awq_head_release(be, &hw);
    free(lg); free(t_nll); free(t_kl); free(t_agree); free(loss_sum); free(kl_sum); free(agree);
    awq_fwd_free(&f);
    return e;
}
