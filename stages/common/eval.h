/* eval.h - perplexity under the WikiText-2 protocol of llm-awq / AutoAWQ (spec §4.1): the token
 * stream is cut into floor(n/seqlen) non-overlapping windows from position 0 (the tail is
 * dropped), each window is run alone with positions 0..seqlen-1, Loss_i = mean cross-entropy of
 * its seqlen-1 next-token predictions, nll_i = Loss_i * seqlen (sic), ppl = exp(sum nll / (n_win *
 * seqlen)) = exp(mean Loss_i). Optionally a second set of block weights (a quantized model) is
 * run on the same windows and compared with the first: mean KL(P_ref || P_q) per token and
 * top-1 agreement. */
#ifndef AWQ_EVAL_H
#define AWQ_EVAL_H

#include "forward.h"

/* Block weights of a model variant: fills *w for block `layer` (pointers must stay valid until
 * the next call for the same variant). */
typedef awq_err (*awq_weights_fn)(void *ctx, int layer, awq_block_w *w);

typedef struct awq_variant {
    const char *name;          /* "fp16", "rtn", "awq", ... */
    awq_weights_fn weights;    /* NULL: the model's own weights */
    void *ctx;
} awq_variant;

typedef struct awq_eval_result {
    int n_windows, seqlen;
    double mean_loss;          /* mean over windows of Loss_i */
    double ppl;
    double kl;                 /* vs variant 0: mean KL(P0 || P) per predicted token (0 for variant 0) */
    double top1;               /* vs variant 0: fraction of tokens where argmax agrees (1 for variant 0) */
} awq_eval_result;

/* Evaluate n_variants variants of model m on ids[0..n). results[v] for each variant; variant 0
 * is the reference for KL / top-1. max_windows <= 0: all windows. */
awq_err awq_eval_ppl(const awq_backend *be, const awq_model *m, const awq_variant *variants, int n_variants,
                     const int32_t *ids, size_t n, int seqlen, int max_windows, int round_f16,
                     awq_eval_result *results);

/* The model's embedding, final norm and lm_head in backend memory (views on the CPU), for
 * awq_window_logits; release with awq_head_release. */
typedef struct awq_head_w { kern_weight table, norm, head; void *own[3]; } awq_head_w;
awq_err awq_head_upload(const awq_backend *be, const awq_model *m, awq_head_w *h);
void awq_head_release(const awq_backend *be, awq_head_w *h);

/* Run f->seqlen ids (backend memory) of one sequence from position 0 through every block of a
 * variant: logits [T, V] in backend memory; x [T, C] is backend scratch. Used by awq_eval_ppl
 * and by awq-generate (greedy decoding re-runs the whole sequence per token: no KV cache). */
awq_err awq_window_logits(awq_fwd *f, const awq_model *m, const awq_head_w *hw, const awq_variant *var,
                          const int32_t *ids /*[T]*/, float *x /*[T,C]*/, float *logits /*[T,V]*/);

/* ppl from per-window mean losses, exactly as the reference: nll_i = Loss_i * seqlen,
 * ppl = exp(sum nll_i / (n * seqlen)). (spec §6 T9) */
double awq_ppl_from_losses(const double *window_loss, size_t n, int seqlen);

/* Cross-entropy helpers (exposed for tests): log-softmax of one row of v logits, in double. */
double awq_row_nll(const float *logits, size_t v, int32_t target);

#endif
