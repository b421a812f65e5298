/* generate.h - greedy decoding with a model (or a quantized variant of it, eval.h): the whole
 * sequence is run again for every new token (no KV cache; fine for the short continuations
 * awq-generate prints and tests compare), the next token is the argmax of the last row's
 * logits (the first of equal maxima, as torch.argmax). */
#ifndef AWQ_GENERATE_H
#define AWQ_GENERATE_H

#include "eval.h"

/* Called after each new token (e.g. to print it); a non-zero return stops generation. */
typedef int (*awq_token_cb)(void *ctx, int32_t id);

/* Append up to n_new greedy tokens to prompt[0..n_prompt): out[0..*n_out) receives them. Stops
 * after a token listed in eos[0..n_eos) (it is kept, as transformers' generate keeps it).
 * Errors: an id outside the vocabulary (AWQ_ERR_ARG), an empty prompt (AWQ_ERR_ARG), the
 * backend's. */
awq_err awq_generate_greedy(const awq_backend *be, const awq_model *m, const awq_variant *var, int round_f16,
                            const int32_t *prompt, size_t n_prompt, int n_new, const int32_t *eos, int n_eos,
                            int32_t *out, int *n_out, awq_token_cb cb, void *cb_ctx);

#endif
