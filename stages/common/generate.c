/* generate.c - greedy decoding (generate.h): one full forward of the sequence per new token. */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "devmem.h"

awq_err awq_generate_greedy(const awq_backend *be, const awq_model *m, const awq_variant *var, int round_f16,
                            const int32_t *prompt, size_t n_prompt, int n_new, const int32_t *eos, int n_eos,
                            int32_t *out, int *n_out, awq_token_cb cb, void *cb_ctx)
{
    const size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    *n_out = 0;
    if (n_prompt == 0) return awq_fail(AWQ_ERR_ARG, "the prompt has no tokens");
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (size_t)prompt[i] >= V)
            return awq_fail(AWQ_ERR_ARG, "prompt token %zu has id %d, outside the vocabulary [0, %zu)", i, prompt[i], V);
    const size_t Tmax = n_prompt + (size_t)(n_new > 0 ? n_new : 0);
    int32_t *seq = malloc(Tmax * sizeof *seq);
    float *row = malloc(V * sizeof *row), *x = NULL, *lg = NULL;
    int32_t *ids_d = NULL;
    awq_head_w hw = {0};
    awq_err e = seq && row ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory for generation");
    if (!e) e = awq_head_upload(be, m, &hw);
    if (!e) e = awq_dev_alloc(be, (void **)&x, Tmax * C * sizeof *x);
    if (!e) e = awq_dev_alloc(be, (void **)&lg, Tmax * V * sizeof *lg);
    if (!e) e = awq_dev_alloc(be, (void **)&ids_d, Tmax * sizeof *ids_d);
    if (!e) memcpy(seq, prompt, n_prompt * sizeof *seq);
    size_t T = n_prompt;
    for (int k = 0; !e && k < n_new; k++, T++) {
        awq_fwd f;
        if ((e = awq_fwd_init(&f, be, &m->cfg, 1, (int)T, round_f16, 1))) break;
        kern_status ks = be->upload(be->ctx, ids_d, seq, T * sizeof *ids_d);
        e = ks ? awq_kern_fail(ks, "upload ids") : awq_window_logits(&f, m, &hw, var, ids_d, x, lg);
        if (!e) e = awq_dev_fetch(be, row, lg + (T - 1) * V, V * sizeof *row);
        awq_fwd_free(&f);
        if (e) break;
        size_t best = 0;
        for (size_t i = 1; i < V; i++) if (row[i] > row[best]) best = i;
        seq[T] = out[k] = (int32_t)best;
        *n_out = k + 1;
        if (cb && cb(cb_ctx, out[k])) break;
        int stop = 0;
        for (int j = 0; j < n_eos; j++) stop |= out[k] == eos[j];
        if (stop) break;
    }
    awq_dev_free(be, x); awq_dev_free(be, lg); awq_dev_free(be, ids_d);
    awq_head_release(be, &hw);
    free(seq); free(row);
    return e;
}
