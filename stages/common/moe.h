/* moe.h - the mixture-of-experts mlp of a block (Mixtral's block_sparse_moe, Qwen3-MoE's mlp):
 * router, top-k routing, each expert's gated mlp on the tokens routed to it, and the weighted
 * sum, as transformers computes them (docs/AWQ.md "Mixture of experts"). */
#ifndef AWQ_MOE_H
#define AWQ_MOE_H

#include "forward.h"

/* Routing of n tokens from the router's logits [n, n_experts] (host memory):
 *   p = softmax(logits) in fp32 (the max subtracted, exp, the sum in expert order, times 1/sum);
 *   the top k = cfg->n_experts_per_tok experts by p, largest first, a tie going to the lower
 *   expert index (torch.topk on the CPU); weight = p, divided by the sum of the k when
 *   cfg->norm_topk_prob; round_f16: the weight rounded to fp16 (transformers 4.51, which AutoAWQ
 *   runs, casts it to the activations' dtype before the products).
 * expert and weight are [n, k]. */
void awq_moe_route(const awq_config *cfg, int n_experts, const float *logits, size_t n, int round_f16, int32_t *expert,
                   float *weight);

/* DeepSeek-V3's routing (cfg->router == AWQ_ROUTER_SIGMOID_GROUPED; transformers 5.23's
 * DeepseekV3TopkRouter) of n tokens from fp32 router logits [n, n_experts] (host):
 *   s = sigmoid(logits) in fp32; c = s + bias (e_score_correction_bias, [n_experts] fp32: the
 *   CHOICE only); each of cfg->n_group consecutive groups scored by the sum of its two largest c;
 *   the cfg->topk_group best groups kept (a tie keeps the lower group); the top k =
 *   cfg->n_experts_per_tok experts by c among the kept groups' experts, largest first (a tie
 *   keeps the lower index); weight = s of the chosen expert (unbiased), divided by (the sum of
 *   the k, in choice order, + 1e-20) when cfg->norm_topk_prob, then times
 *   (float)routed_scaling_factor, all in fp32. The weights stay fp32 in the faithful mode too
 *   (the fp16 expert outputs times fp32 weights promote to fp32; add_rows rounds the product).
 * expert and weight are [n, k]. */
void awq_moe_route_grouped(const awq_config *cfg, int n_experts, const float *logits, const float *bias, size_t n,
                           int32_t *expert, float *weight);

/* Experts whose weights are worked on at once (a batch): AWQ_EXPERT_BATCH when set, else as many
 * as fit AWQ_EXPERT_BUDGET_MB (default 8192 MiB) at 18 * hidden_size * moe_intermediate_size
 * bytes each (their fp16 gate/up/down and the scale search's pseudo-quantized gate/up in fp32 and
 * fp16), at least 1, at most n_experts; 0 without experts. -1 (the message set) for a bad value.
 * docs/AWQ.md "Memory of a mixture-of-experts block". */
int awq_expert_batch(const awq_config *cfg);

/* Scratch of the experts' forward for `rows` rows a pass (awq_fwd_init calls it, after setting
 * the passes); AWQ_ERR_ARG for a bad AWQ_EXPERT_BATCH / AWQ_EXPERT_BUDGET_MB. */
awq_err awq_moe_init(awq_fwd *f, size_t rows);
void awq_moe_free(awq_fwd *f);

/* out [rows, C] = the experts' mlp of the block on m [rows, C] (backend memory), one pass: router
 * logits (fp16-rounded when faithful; DeepSeek-V3's always fp32), the routing on the host, the
 * routed rows sorted by expert (tokens ascending within an expert), then per batch of
 * f->expert_batch experts one gather of their rows (the embed op), one mlp_grouped, and one
 * add_rows of the weighted outputs into out, which starts at zero; add_rows adds each token's
 * outputs in expert order (transformers' index_add_ order), so the sum is the per-expert one's
 * whatever the batches. DeepSeek-V3 then adds its shared experts' mlp of m (out = h(out +
 * shared)). out must not alias m.
 * down_in (backend, [rows * k, Fe], may be NULL) receives each expert's down_proj input, the
 * experts' rows one after the other, tokens ascending within an expert; routes (host, [rows *
 * k], with down_in) says which token (token0 + row of m) and expert each row is. out NULL: the
 * down_in rows only (the routed experts'; the shared experts' input is m itself). */
awq_err awq_moe_forward_rows(awq_fwd *f, const awq_block_w *w, int n_experts, const float *m, float *out, size_t rows,
                             float *down_in, awq_route *routes, size_t token0);

/* The same on all f->n_seq sequences (m, out: [N, C]) with the expert batches outside the passes:
 * every pass is routed first, then each batch's weights are made once (f->expert_w, the fp16
 * copies) and run on every pass. Each token's sum is in expert order as above, so out is
 * awq_moe_forward_rows's on each pass. What awq_mlp_forward runs for a mixture of experts (the
 * scale search's module forward, once per grid point). */
awq_err awq_moe_forward(awq_fwd *f, const awq_block_w *w, const float *m, float *out);

#endif
