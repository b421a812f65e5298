/* test_moe.c - the experts' routing (stages/common/moe.h) against values worked out by hand: the
 * softmax, the top-k order, a tie going to the lower expert, renormalisation only with
 * norm_topk_prob, fp16 weights in the faithful mode; and the experts' mlp on the CPU against
 * the same sum written out with the _refs (an expert no token chose adds nothing); the AWQ side
 * on block 0 of tests/golden/mixtral_moe: an expert no calibration token chose is an error naming
 * it, and the scales folded into the router keep its logits. DeepSeek-V3's grouped sigmoid routing
 * by hand (the bias picks, the unbiased score weighs), its fp16-faithful forward, and the refusal to
 * quantize it. The forward of whole models against transformers is in test_forward
 * (tests/golden/mixtral_moe, qwen3_moe, deepseek_v3, deepseek_v3_qproj). */
#include "test.h"
#include "kernel_support.h"
#include "../stages/common/moe.h"
#include "../stages/common/awq.h"
#include "../stages/common/eval.h"
#include "../stages/common/params.h"
#include "../kernels/cpu/ref.h"
#include "../base/half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static awq_config moe_cfg(int E, int k, int norm)
{
    awq_config c;
    memset(&c, 0, sizeof c);
    c.arch = AWQ_ARCH_QWEN3_MOE, c.n_experts = E, c.n_experts_per_tok = k, c.norm_topk_prob = norm;
    c.decoder_sparse_step = 1;
    return c;
}

static void t_route_by_hand(void)
{
    /* token 0: logits 2, 1, 1, 0 -> p = e^(x-2) / (1 + 2e^-1 + e^-2); top-2 = 0, then the tie 1|2 -> 1
     * token 1: logits 0, 0, 3, 3 -> the tie at the top: 2 then 3 */
    const float logits[8] = {2, 1, 1, 0, 0, 0, 3, 3};
    int32_t ex[4];
    float wt[4];
    awq_config c = moe_cfg(4, 2, 0);
    awq_moe_route(&c, 4, logits, 2, 0, ex, wt);
    double z0 = 1 + 2 * exp(-1.0) + exp(-2.0), z1 = 2 + 2 * exp(-3.0);
    CHECK(ex[0] == 0 && ex[1] == 1, "token 0 picks %d %d, want 0 1 (a tie goes to the lower index)", ex[0], ex[1]);
    CHECK(ex[2] == 2 && ex[3] == 3, "token 1 picks %d %d, want 2 3", ex[2], ex[3]);
    CHECK(fabs(wt[0] - 1 / z0) < 1e-6 && fabs(wt[1] - exp(-1.0) / z0) < 1e-6, "weights %.7g %.7g", wt[0], wt[1]);
    CHECK(fabs(wt[2] - 1 / z1) < 1e-6 && wt[2] == wt[3], "weights %.7g %.7g", wt[2], wt[3]);
    c.norm_topk_prob = 1;
    awq_moe_route(&c, 4, logits, 2, 0, ex, wt);
    CHECK(fabs(wt[0] - 1 / (1 + exp(-1.0))) < 1e-6 && fabs(wt[0] + wt[1] - 1) < 1e-6, "renormalised %.7g %.7g", wt[0], wt[1]);
    CHECK(wt[2] == 0.5f && wt[3] == 0.5f, "renormalised tie %.7g %.7g", wt[2], wt[3]);
    c.norm_topk_prob = 0;
    awq_moe_route(&c, 4, logits, 2, 1, ex, wt);
    for (int i = 0; i < 4; i++) CHECK(wt[i] == awq_round_f16(wt[i]), "fp16 mode: weight %d = %.9g is not an fp16 value", i, wt[i]);
    CHECK(wt[0] == awq_round_f16((float)(1 / z0)), "fp16 weight %.9g", wt[0]);
    /* large logits do not overflow (the max is subtracted) */
    const float big[3] = {1000, 999, -1000};
    awq_moe_route(&c, 3, big, 1, 0, ex, wt);
    CHECK(ex[0] == 0 && ex[1] == 1 && fabs(wt[0] - 1 / (1 + exp(-1.0))) < 1e-6, "large logits: %d %d %g", ex[0], ex[1], wt[0]);
}

/* DeepSeek-V3's grouped sigmoid routing by hand: 8 experts in 4 groups of 2, topk_group 2, top-3.
 * Logits are logit(s) for chosen scores s, so sigmoid gives s back (within an fp32 ulp). */
static awq_config grouped_cfg(int norm, double rsf)
{
    awq_config c = moe_cfg(8, 3, norm);
    c.arch = AWQ_ARCH_DEEPSEEK_V3, c.router = AWQ_ROUTER_SIGMOID_GROUPED, c.n_group = 4, c.topk_group = 2;
    c.routed_scaling_factor = rsf, c.n_shared_experts = 1;
    return c;
}

static void t_route_grouped_by_hand(void)
{
    /* scores: groups {0.9, 0.1} = 1.0, {0.6, 0.55} = 1.15, {0.2, 0.85} = 1.05, {0.5, 0.45} = 0.95 */
    const double sc[8] = {0.9, 0.1, 0.6, 0.55, 0.2, 0.85, 0.5, 0.45};
    float logits[8], zero[8] = {0};
    for (int e = 0; e < 8; e++) logits[e] = (float)log(sc[e] / (1 - sc[e]));
    int32_t ex[3];
    float wt[3];
    awq_config c = grouped_cfg(1, 2.5);
    /* groups 1 and 2 kept (group 0 holds the best expert, 0.9, but its pair sums to less); then 5, 2, 3 */
    awq_moe_route_grouped(&c, 8, logits, zero, 1, ex, wt);
    CHECK(ex[0] == 5 && ex[1] == 2 && ex[2] == 3, "no bias: picks %d %d %d, want 5 2 3", ex[0], ex[1], ex[2]);
    const double want0[3] = {0.85 / 2.0 * 2.5, 0.6 / 2.0 * 2.5, 0.55 / 2.0 * 2.5};
    for (int k = 0; k < 3; k++) CHECK(fabs(wt[k] - want0[k]) < 1e-6, "no bias: weight %d = %.7g, want %.7g", k, wt[k], want0[k]);
    /* +0.5 on expert 4 (score 0.2): group 2 leads and 4 is chosen, with its UNBIASED weight 0.2 */
    float bias[8] = {0, 0, 0, 0, 0.5f, 0, 0, 0};
    awq_moe_route_grouped(&c, 8, logits, bias, 1, ex, wt);
    CHECK(ex[0] == 5 && ex[1] == 4 && ex[2] == 2, "bias on 4: picks %d %d %d, want 5 4 2", ex[0], ex[1], ex[2]);
    const double want1[3] = {0.85 / 1.65 * 2.5, 0.2 / 1.65 * 2.5, 0.6 / 1.65 * 2.5};
    for (int k = 0; k < 3; k++) CHECK(fabs(wt[k] - want1[k]) < 1e-6, "bias on 4: weight %d = %.7g, want %.7g", k, wt[k], want1[k]);
    /* +0.3 on expert 1 lifts group 0 to 0.9 + 0.4 = 1.3: groups 0 and 1; expert 1 itself (0.4) is not chosen */
    float bias1[8] = {0, 0.3f, 0, 0, 0, 0, 0, 0};
    awq_moe_route_grouped(&c, 8, logits, bias1, 1, ex, wt);
    CHECK(ex[0] == 0 && ex[1] == 2 && ex[2] == 3, "bias on 1: picks %d %d %d, want 0 2 3", ex[0], ex[1], ex[2]);
    /* norm_topk_prob false: the scores times routed_scaling_factor */
    c = grouped_cfg(0, 1.5);
    awq_moe_route_grouped(&c, 8, logits, zero, 1, ex, wt);
    for (int k = 0; k < 3; k++) CHECK(fabs(wt[k] - sc[ex[k]] * 1.5) < 1e-6, "unnormalised weight %d = %.7g", k, wt[k]);
    /* all equal: the lower groups, then the lower experts (ties as torch.topk on the CPU gives them here) */
    float flat[8] = {0};
    awq_moe_route_grouped(&c, 8, flat, zero, 1, ex, wt);
    CHECK(ex[0] == 0 && ex[1] == 1 && ex[2] == 2 && wt[0] == 0.75f, "ties: picks %d %d %d weight %g", ex[0], ex[1], ex[2], wt[0]);
    /* several tokens: each routed on its own row */
    float two[16];
    memcpy(two, flat, sizeof flat), memcpy(two + 8, logits, sizeof logits);
    int32_t ex2[6];
    float wt2[6];
    awq_moe_route_grouped(&c, 8, two, zero, 2, ex2, wt2);
    CHECK(ex2[3] == 5 && ex2[4] == 2 && ex2[5] == 3, "token 1 picks %d %d %d", ex2[3], ex2[4], ex2[5]);
}

/* The forward of tests/golden/deepseek_v3 in the fp16-faithful mode: finite, and its perplexity
 * near the fp32 one (the fp16 roundings of a tiny model move it by well under 1%); and the
 * parameter check knows the latent attention's linears: group 32 does not divide q_b_proj's
 * in_features (q_lora_rank 48), which the message names; group 16 divides every linear. */
static void t_deepseek_fp16_and_params(void)
{
    awq_model *m = NULL;
    REQUIRE(awq_model_open(&m, "tests/golden/deepseek_v3") == AWQ_OK, "%s", awq_errmsg());
    const size_t T = 32, n = 96;
    int32_t ids[96];
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)((i * 37 + 11) % 256);
    awq_variant v = {"fp", NULL, NULL};
    awq_eval_result r32, r16;
    REQUIRE(awq_eval_ppl(awq_backend_cpu(), m, &v, 1, ids, n, (int)T, 0, 0, &r32) == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_eval_ppl(awq_backend_cpu(), m, &v, 1, ids, n, (int)T, 0, 1, &r16) == AWQ_OK, "%s", awq_errmsg());
    CHECK(isfinite(r16.ppl) && fabs(log(r16.ppl) - log(r32.ppl)) < 0.01 * log(r32.ppl), "fp16 mean loss %.6f, fp32 %.6f",
          log(r16.ppl), log(r32.ppl));
    fprintf(stderr, "#   deepseek_v3: mean loss fp32 %.6f, fp16-faithful %.6f\n", log(r32.ppl), log(r16.ppl));
    awq_params p;
    awq_params_default(&p);
    p.group = 32;
    CHECK(awq_params_check(&p, &m->cfg, 1) == AWQ_ERR_ARG && strstr(awq_errmsg(), "in_features 48 of q_b_proj") &&
          !strchr(awq_errmsg(), '\n') && strstr(awq_errhint(), "group"), "group 32: %s / hint: %s", awq_errmsg(), awq_errhint());
    p.group = 16;
    CHECK(awq_params_check(&p, &m->cfg, 1) == AWQ_OK, "group 16: %s", awq_errmsg());
    awq_model_close(m);
}

/* The experts' mlp through the forward's code on the CPU, against the sum written out with the
 * _refs: out[t] = sum over its k experts (in expert order) of w * mlp_e(m[t]). Expert 3 of 4 gets
 * no token (its router row is very negative): it must add nothing, and no NaN. */
static void t_experts_sum(void)
{
    const size_t C = 16, Fe = 24, N = 10, E = 4, K = 2;
    awq_config c = moe_cfg((int)E, (int)K, 1);
    c.hidden_size = (int)C, c.moe_intermediate_size = (int)Fe, c.intermediate_size = 8;
    c.num_attention_heads = 2, c.num_key_value_heads = 2, c.head_dim = 8, c.num_hidden_layers = 1;
    const awq_backend *be = awq_backend_cpu();
    awq_block_w w;
    memset(&w, 0, sizeof w);
    float *router = rand_floats(E * C, -1, 1, 0), *m = rand_floats(N * C, -1, 1, 0);
    /* expert 3's logit is 0; the others' are 50 + at most 15 * 1 * 1 in size: expert 3 is never chosen */
    for (size_t j = 0; j < C; j++) router[3 * C + j] = 0;
    for (size_t e = 0; e < 3; e++) router[e * C] = 50;
    for (size_t t = 0; t < N; t++) m[t * C] = 1;
    float *ew[4][3];
    w.w[AWQ_W_ROUTER] = (kern_weight){router, KERN_F32};
    for (size_t e = 0; e < E; e++)
        for (int k = 0; k < 3; k++) {
            ew[e][k] = rand_floats(k == 2 ? C * Fe : Fe * C, -0.5f, 0.5f, 0);
            w.w[AWQ_SLOT_EXPERT(e, k)] = (kern_weight){ew[e][k], KERN_F32};
        }
    for (int r16 = 0; r16 < 2; r16++) {
        awq_fwd f;
        REQUIRE(awq_fwd_init(&f, be, &c, 1, (int)N, r16, 1) == AWQ_OK, "init: %s", awq_errmsg());
        float *out = malloc(N * C * 4), *want = calloc(N * C, 4), *logits = malloc(N * E * 4), *y = malloc(C * 4);
        float *g = malloc(Fe * 4), *u = malloc(Fe * 4), wt[N * K];
        int32_t ex[N * K];
        REQUIRE(awq_moe_forward_rows(&f, &w, (int)E, m, out, N, NULL, NULL, 0) == AWQ_OK, "moe: %s", awq_errmsg());
        kern_matmul_ref(logits, m, w.w[AWQ_W_ROUTER], KERN_NO_WEIGHT, N, E, C, r16);
        awq_moe_route(&c, (int)E, logits, N, r16, ex, wt);
        for (size_t e = 0; e < E; e++)
            for (size_t t = 0; t < N; t++)
                for (size_t k = 0; k < K; k++) {
                    if ((size_t)ex[t * K + k] != e) continue;
                    CHECK(e != 3, "expert 3 was chosen by token %zu", t);
                    kern_mlp_ref(y, NULL, m + t * C, w.w[AWQ_SLOT_EXPERT(e, 0)], KERN_NO_WEIGHT, w.w[AWQ_SLOT_EXPERT(e, 1)],
                                 KERN_NO_WEIGHT, w.w[AWQ_SLOT_EXPERT(e, 2)], KERN_NO_WEIGHT, g, u, 1, C, Fe, KERN_ACT_SILU, r16);
                    for (size_t j = 0; j < C; j++) { /* index_add_ of this expert's weighted output */
                        float p = y[j] * wt[t * K + k], *dst = &want[t * C + j];
                        *dst = r16 ? awq_round_f16(*dst + awq_round_f16(p)) : *dst + p;
                    }
                }
        /* fp32: the same sums to rounding. fp16-faithful: the forward's matmul is OpenBLAS's sgemm on
         * all rows and the written-out sum's the scalar _ref on one, which add a dot product in
         * other orders (per sgemm kernel: tests/openblas_kernel.sh); an fp32 result on an fp16
         * rounding boundary then lands one fp16 ulp away and that step carries into the sum: allow
         * a few fp16 ulps of the output's size (a wrong expert, weight or order is off by far more) */
        float big = 0;
        for (size_t i = 0; i < N * C; i++) big = fmaxf(big, fabsf(want[i]));
        size_t bad = 0;
        for (size_t i = 0; i < N * C; i++) {
            const float tol = r16 ? 4 * 0x1p-11f * (fabsf(want[i]) + 0.25f * big) : 1e-5f * (1 + fabsf(want[i]));
            if (!(fabsf(out[i] - want[i]) <= tol)) {
                bad++;
                fprintf(stderr, "    r16=%d output %zu: %g, written-out sum %g\n", r16, i, out[i], want[i]);
            }
        }
        CHECK(bad == 0, "r16=%d: %zu of %zu outputs differ from the written-out sum", r16, bad, N * C);
        free(out), free(want), free(logits), free(y), free(g), free(u);
        awq_fwd_free(&f);
    }
    free(router), free(m);
    for (size_t e = 0; e < E; e++)
        for (int k = 0; k < 3; k++) free(ew[e][k]);
}

/* A MoE block of a fixture and a random block input (fp16 values). */
typedef struct moe_case { awq_model *m; awq_block_f32 b; float *x; int n_seq, seqlen; awq_params p; } moe_case;

/* Block `layer` of the fixture at dir (its tensors rounded to fp16) and a random block input of
 * n_seq x seqlen tokens; group size `group`, 4 grid points. */
static int case_open(moe_case *c, const char *dir, int layer, int n_seq, int seqlen, int64_t group)
{
    memset(c, 0, sizeof *c);
    c->n_seq = n_seq, c->seqlen = seqlen;
    awq_params_default(&c->p);
    c->p.group = group, c->p.n_grid = 4;
    if (awq_model_open(&c->m, dir) != AWQ_OK) { CHECK(0, "open: %s", awq_errmsg()); return 0; }
    if (awq_block_f32_from_model(c->m, layer, 1, &c->b) != AWQ_OK) { CHECK(0, "block: %s", awq_errmsg()); return 0; }
    c->x = rand_floats((size_t)n_seq * (size_t)seqlen * (size_t)c->m->cfg.hidden_size, -2, 2, 1);
    return 1;
}

/* Block 0 of the Mixtral fixture, 4 x 16 tokens, group 32. */
static int moe_case_open(moe_case *c) { return case_open(c, "tests/golden/mixtral_moe", 0, 4, 16, 32); }

/* Block 1 (a MoE block: latent attention, shared and routed experts) of the DeepSeek-V3 fixture,
 * 4 x 32 tokens, group 16. */
static int dsv3_case_open(moe_case *c) { return case_open(c, "tests/golden/deepseek_v3", 1, 4, 32, 16); }

static void moe_case_close(moe_case *c)
{
    awq_block_f32_free(&c->b);
    awq_model_close(c->m);
    free(c->x);
}

/* With top-1 routing and expert 3's router row the mean of rows 0..2, its logit is the mean of
 * three others and never the largest: no token chooses it, and the scale search says so, naming
 * the expert, before searching anything (AutoAWQ stops on such an expert too). */
static void t_expert_without_tokens(void)
{
    moe_case c;
    if (!moe_case_open(&c)) return;
    awq_config cfg = c.m->cfg;
    cfg.n_experts_per_tok = 1;
    const size_t C = (size_t)cfg.hidden_size;
    float *r = c.b.t[AWQ_W_ROUTER];
    for (size_t j = 0; j < C; j++) r[3 * C + j] = awq_round_f16((r[j] + r[C + j] + r[2 * C + j]) / 3);
    awq_scale_result res[AWQ_MAX_GROUPS];
    awq_clip_in ci;
    int n = 0;
    awq_err e = awq_search_scales(awq_backend_cpu(), &cfg, &c.p, &c.b, c.x, c.n_seq, c.seqlen, res, &n, &ci);
    CHECK(e == AWQ_ERR_NUMERIC && strstr(awq_errmsg(), "expert 3 received none of the 64 calibration tokens") &&
          strstr(awq_errhint(), "N_SAMPLES"), "got %d: %s / %s", e, awq_errmsg(), awq_errhint());
    CHECK(n == 0, "%d groups left after the error", n);
    awq_clear_error();
    moe_case_close(&c);
}

/* The scales of post_attention_layernorm -> experts go into the router's columns too: on the
 * scaled block's input (the normed rows divided by s, as the scaled norm makes them) the scaled
 * router gives the original logits to fp16 rounding, where an unscaled router would not. */
static void t_router_takes_the_scales(void)
{
    moe_case c;
    if (!moe_case_open(&c)) return;
    const awq_config *cfg = &c.m->cfg;
    const awq_backend *be = awq_backend_cpu();
    const size_t C = (size_t)cfg->hidden_size, N = (size_t)c.n_seq * (size_t)c.seqlen, E = (size_t)cfg->n_experts;
    awq_scale_result res[AWQ_MAX_GROUPS];
    int n = 0;
    REQUIRE(awq_search_scales(be, cfg, &c.p, &c.b, c.x, c.n_seq, c.seqlen, res, &n, NULL) == AWQ_OK, "%s", awq_errmsg());
    int gi = -1;
    for (int i = 0; i < n; i++) if (res[i].group.all_experts) gi = i;
    REQUIRE(gi >= 0 && res[gi].group.n_layers == 2 * (int)E && n == gi + 1 + (int)E, "groups: %d, all-experts at %d", n, gi);
    float *router0 = malloc(E * C * 4), *m = rand_floats(N * C, -2, 2, 1), *ms = malloc(N * C * 4);
    float *l0 = malloc(N * E * 4), *l1 = malloc(N * E * 4), *l2 = malloc(N * E * 4);
    memcpy(router0, c.b.t[AWQ_W_ROUTER], E * C * 4);
    REQUIRE(awq_apply_scales(&c.b, res, n, 1) == AWQ_OK, "%s", awq_errmsg());
    const float *s = res[gi].s;
    for (size_t i = 0; i < N * C; i++) ms[i] = awq_round_f16(m[i] / s[i % C]);
    kern_matmul_ref(l0, m, (kern_weight){router0, KERN_F32}, KERN_NO_WEIGHT, N, E, C, 1);
    kern_matmul_ref(l1, ms, (kern_weight){c.b.t[AWQ_W_ROUTER], KERN_F32}, KERN_NO_WEIGHT, N, E, C, 1);
    kern_matmul_ref(l2, ms, (kern_weight){router0, KERN_F32}, KERN_NO_WEIGHT, N, E, C, 1);
    double d1 = 0, d2 = 0, mx = 0;
    for (size_t i = 0; i < N * E; i++)
        d1 = fmax(d1, fabs(l1[i] - l0[i])), d2 = fmax(d2, fabs(l2[i] - l0[i])), mx = fmax(mx, fabs(l0[i]));
    CHECK(d1 <= 0.02 * mx, "scaled router: logits move by %.3g of %.3g", d1, mx);
    CHECK(d2 > 10 * d1, "an unscaled router would move them by only %.3g (scaled %.3g): the check cannot tell", d2, d1);
    fprintf(stderr, "#   router logits: scaled router moves them by %.3g, unscaled by %.3g (of %.3g)\n", d1, d2, mx);
    awq_scale_results_free(res, n);
    free(router0), free(m), free(ms), free(l0), free(l1), free(l2);
    moe_case_close(&c);
}

/* DeepSeek-V3's scale groups as AutoAWQ 0.2.9's deepseek_v3.py forms them (its order, names,
 * linears and module2inspect), for a dense and a MoE block, with and without q_lora_rank; then a
 * MoE block's whole search on random inputs: the clip inputs hold the shared experts' rows and the
 * latent norm's output, and the clip search visits kv_a/kv_b/o and the shared experts but not the
 * q projections (AutoAWQ's q/k rule). */
static void t_deepseek_groups(void)
{
    awq_model *m = NULL, *mq = NULL;
    REQUIRE(awq_model_open(&m, "tests/golden/deepseek_v3") == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_model_open(&mq, "tests/golden/deepseek_v3_qproj") == AWQ_OK, "%s", awq_errmsg());
    const awq_config *c = &m->cfg;
    awq_sgroup g[AWQ_MAX_GROUPS];
    int n = awq_scale_groups(c, 0, g);
    CHECK(n == 5 && !strcmp(g[0].prev_name, "input_layernorm") && g[0].n_layers == 2 && g[0].layers[0] == AWQ_W_Q_A &&
          g[0].layers[1] == AWQ_W_KV_A && g[0].inspect == AWQ_INSPECT_ATTN && !strcmp(g[1].prev_name, "self_attn.q_a_layernorm") &&
          g[1].prev == AWQ_W_Q_A_NORM && g[1].layers[0] == AWQ_W_Q_B && g[1].inspect == AWQ_INSPECT_LINEAR &&
          g[1].feat == AWQ_FEAT_Q_B_IN && !strcmp(g[2].prev_name, "self_attn.kv_a_layernorm") && g[2].layers[0] == AWQ_W_KV_B &&
          g[2].feat == AWQ_FEAT_KV_B_IN && g[3].prev == AWQ_W_POST_NORM && g[3].inspect == AWQ_INSPECT_MLP &&
          g[4].prev == AWQ_W_UP && g[4].layers[0] == AWQ_W_DOWN, "dense block: %d groups", n);
    n = awq_scale_groups(c, 8, g);
    CHECK(n == 3 + 1 + 8 + 1 && g[3].all_experts && g[3].shared && g[3].n_layers == 18 &&
          awq_sgroup_layer(&g[3], 0) == AWQ_SLOT_EXPERT(0, AWQ_EXPERT_GATE) &&
          awq_sgroup_layer(&g[3], 15) == AWQ_SLOT_EXPERT(7, AWQ_EXPERT_UP) && awq_sgroup_layer(&g[3], 16) == AWQ_W_SHARED_GATE &&
          awq_sgroup_layer(&g[3], 17) == AWQ_W_SHARED_UP && g[4].expert == 0 && g[11].expert == 7 &&
          !strcmp(g[12].prev_name, "mlp.shared_experts.up_proj") && g[12].layers[0] == AWQ_W_SHARED_DOWN &&
          g[12].feat == AWQ_FEAT_SHARED_DOWN_IN && g[12].expert < 0, "MoE block: %d groups", n);
    n = awq_scale_groups(&mq->cfg, 0, g); /* q_lora_rank null: q_proj joins kv_a_proj_with_mqa, no q_a_layernorm */
    CHECK(n == 4 && g[0].layers[0] == AWQ_W_Q && g[0].layers[1] == AWQ_W_KV_A && g[1].prev == AWQ_W_KV_A_NORM,
          "q_proj model: %d groups, first %d %d", n, g[0].layers[0], g[0].layers[1]);

    awq_params p;
    awq_params_default(&p);
    p.group = 16, p.n_grid = 4;
    awq_block_f32 b;
    REQUIRE(awq_block_f32_from_model(m, 1, 1, &b) == AWQ_OK, "%s", awq_errmsg());
    const int ns = 4, T = 32;
    float *x = rand_floats((size_t)ns * T * (size_t)c->hidden_size, -2, 2, 1);
    awq_scale_result res[AWQ_MAX_GROUPS];
    awq_clip_in ci;
    int nr = 0;
    REQUIRE(awq_search_scales(awq_backend_cpu(), c, &p, &b, x, ns, T, res, &nr, &ci) == AWQ_OK, "%s", awq_errmsg());
    CHECK(nr == 13, "%d results", nr);
    int finite = 1;
    for (int i = 0; i < nr; i++)
        for (size_t k = 0; k < res[i].n; k++) finite &= isfinite(res[i].s[k]) && res[i].s[k] > 0;
    CHECK(finite, "a scale is not finite and positive");
    CHECK(ci.width[AWQ_FEAT_MLP_IN] == 64 && ci.width[AWQ_FEAT_SHARED_DOWN_IN] == 64 && ci.width[AWQ_FEAT_KV_B_IN] == 32 &&
          ci.width[AWQ_FEAT_Q_B_IN] == 0 && ci.width[AWQ_FEAT_DOWN_IN] == 0, "clip input widths %zu %zu %zu %zu",
          ci.width[AWQ_FEAT_MLP_IN], ci.width[AWQ_FEAT_SHARED_DOWN_IN], ci.width[AWQ_FEAT_KV_B_IN], ci.width[AWQ_FEAT_Q_B_IN]);
    REQUIRE(awq_apply_scales(&b, res, nr, 1) == AWQ_OK && awq_clip_in_scale(&ci, res, nr, 1) == AWQ_OK, "%s", awq_errmsg());
    static awq_clip_result cr[AWQ_MAX_LINEARS];
    int nc = 0;
    REQUIRE(awq_search_clips(awq_backend_cpu(), c, &p, &b, &ci, cr, &nc) == AWQ_OK, "%s", awq_errmsg());
    unsigned seen = 0;
    const awq_slot want[] = {AWQ_W_KV_A, AWQ_W_KV_B, AWQ_W_O, AWQ_W_SHARED_GATE, AWQ_W_SHARED_UP, AWQ_W_SHARED_DOWN,
                             AWQ_W_Q_A, AWQ_W_Q_B};
    for (int i = 0; i < nc; i++)
        for (int k = 0; k < 8; k++) seen |= (cr[i].linear == want[k]) << k;
    CHECK(seen == 0x3f && nc == 6 + 24, "clip search visited %#x, %d linears", seen, nc);
    awq_clip_results_free(cr, nc);
    awq_clip_in_free(&ci);
    awq_scale_results_free(res, nr);
    awq_block_f32_free(&b);
    free(x);
    awq_model_close(m);
    awq_model_close(mq);
}

/* The experts run in batches of AWQ_EXPERT_BATCH (moe.c) and the scale search pseudo-quantizes
 * one batch at a time; every token's sum still runs in expert order, so on the CPU the batch size
 * changes no bit: the Mixtral and DeepSeek-V3 fixtures' whole scale search (every grid loss and
 * scale) with all experts at once, 3 and 1 a batch; and the module forward that runs the batches
 * outside the passes (awq_mlp_forward) gives the per-pass forward's bits with 2 passes. */
static int search_with_batch(const char *batch, const awq_config *cfg, const awq_params *p, const awq_block_f32 *b,
                             const float *x, int ns, int T, awq_scale_result *res)
{
    if (batch) setenv("AWQ_EXPERT_BATCH", batch, 1);
    else unsetenv("AWQ_EXPERT_BATCH");
    int n = 0;
    awq_err e = awq_search_scales(awq_backend_cpu(), cfg, p, b, x, ns, T, res, &n, NULL);
    unsetenv("AWQ_EXPERT_BATCH");
    CHECK(e == AWQ_OK, "batch %s: %s", batch ? batch : "default", awq_errmsg());
    return e ? 0 : n;
}

/* The same groups, picks, grid losses and scales, bit for bit. */
static int same_results(const awq_scale_result *got, int m, const awq_scale_result *ref, int n, int n_grid)
{
    int same = m == n && n > 0;
    for (int i = 0; same && i < n; i++)
        same = got[i].best == ref[i].best && !memcmp(got[i].losses, ref[i].losses, (size_t)n_grid * sizeof(float)) &&
               !memcmp(got[i].s, ref[i].s, ref[i].n * sizeof(float));
    return same;
}

static void same_search(const char *what, const awq_config *cfg, const awq_params *p, const awq_block_f32 *b, const float *x,
                        int ns, int T)
{
    static awq_scale_result ref[AWQ_MAX_GROUPS], got[AWQ_MAX_GROUPS];
    int n = search_with_batch(NULL, cfg, p, b, x, ns, T, ref);
    const char *batches[] = {"3", "1"};
    for (int bi = 0; bi < 2; bi++) {
        int m = search_with_batch(batches[bi], cfg, p, b, x, ns, T, got);
        CHECK(same_results(got, m, ref, n, p->n_grid), "%s: the scale search with %s experts a batch differs from all at once",
              what, batches[bi]);
        awq_scale_results_free(got, m);
    }
    awq_scale_results_free(ref, n);
}

static void t_expert_batches(void)
{
    moe_case c;
    if (!moe_case_open(&c)) return;
    same_search("mixtral_moe", &c.m->cfg, &c.p, &c.b, c.x, c.n_seq, c.seqlen);
    /* the module forward: batches outside two passes vs each pass on its own */
    const awq_config *cfg = &c.m->cfg;
    const awq_backend *be = awq_backend_cpu();
    const size_t C = (size_t)cfg->hidden_size, N = (size_t)c.n_seq * (size_t)c.seqlen, half = N / 2;
    awq_block_w w;
    for (int sl = 0; sl < AWQ_SLOT__COUNT; sl++)
        w.w[sl] = c.b.t[sl] ? (kern_weight){c.b.t[sl], KERN_F32} : KERN_NO_WEIGHT;
    awq_fwd f;
    REQUIRE(awq_fwd_init(&f, be, cfg, c.n_seq, c.seqlen, 1, c.n_seq / 2) == AWQ_OK, "%s", awq_errmsg());
    f.expert_batch = 3;
    float *a = malloc(N * C * 4), *b2 = malloc(N * C * 4);
    REQUIRE(awq_mlp_forward(&f, &w, c.x, a) == AWQ_OK, "%s", awq_errmsg());
    f.expert_batch = cfg->n_experts;
    REQUIRE(awq_moe_forward_rows(&f, &w, cfg->n_experts, c.x, b2, half, NULL, NULL, 0) == AWQ_OK &&
            awq_moe_forward_rows(&f, &w, cfg->n_experts, c.x + half * C, b2 + half * C, half, NULL, NULL, half) == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(!memcmp(a, b2, N * C * 4), "awq_mlp_forward (3 experts a batch, 2 passes) differs from the passes one by one");
    free(a), free(b2);
    awq_fwd_free(&f);
    moe_case_close(&c);
    if (!dsv3_case_open(&c)) return;
    same_search("deepseek_v3 block 1", &c.m->cfg, &c.p, &c.b, c.x, c.n_seq, c.seqlen);
    moe_case_close(&c);
}

/* On a device in fp16 numerics the block keeps its routed experts in fp16 only (awq.c
 * dev_block_upload: DeepSeek-V3's 42 GiB of fp32 experts become 21 GiB), makes an expert's fp32
 * for the quantizer when it needs it and takes the all-experts duo statistic on the host. Its bits
 * must be the fp32 copy's: the whole scale search of the Mixtral and DeepSeek-V3 fixtures, duo on
 * and off, with AWQ_TEST_EXPERTS_F16=1 (that path on the CPU) against without. */
static int search_experts_f16(int on, const awq_config *cfg, const awq_params *p, const awq_block_f32 *b, const float *x,
                              int ns, int T, awq_scale_result *res)
{
    if (on) setenv("AWQ_TEST_EXPERTS_F16", "1", 1);
    else unsetenv("AWQ_TEST_EXPERTS_F16");
    int n = 0;
    awq_err e = awq_search_scales(awq_backend_cpu(), cfg, p, b, x, ns, T, res, &n, NULL);
    unsetenv("AWQ_TEST_EXPERTS_F16");
    CHECK(e == AWQ_OK, "experts fp16 only %d: %s", on, awq_errmsg());
    return e ? 0 : n;
}

static void same_experts_f16(const char *what, const awq_config *cfg, awq_params p, const awq_block_f32 *b, const float *x,
                             int ns, int T)
{
    static awq_scale_result ref[AWQ_MAX_GROUPS], got[AWQ_MAX_GROUPS];
    for (int duo = 0; duo < 2; duo++) {
        p.duo = duo, p.round_f16 = 1;
        int n = search_experts_f16(0, cfg, &p, b, x, ns, T, ref);
        size_t before = awq_experts_f16_uploads();
        int m = search_experts_f16(1, cfg, &p, b, x, ns, T, got);
        CHECK(awq_experts_f16_uploads() >= before + 3 * (size_t)cfg->n_experts, "%s: the experts were not kept in fp16 only", what);
        const int same = same_results(got, m, ref, n, p.n_grid);
        for (int i = 0; i < n && i < m; i++)
            if (got[i].best != ref[i].best || memcmp(got[i].s, ref[i].s, ref[i].n * sizeof(float)))
                fprintf(stderr, "    group %d (%s, %d layers): best %d / %d, s[0] %.9g / %.9g\n", i, ref[i].group.prev_name,
                        ref[i].group.n_layers, got[i].best, ref[i].best, got[i].s[0], ref[i].s[0]);
        CHECK(same, "%s duo=%d: the scale search with the experts in fp16 only differs from fp32 copies", what, duo);
        awq_scale_results_free(got, m);
        awq_scale_results_free(ref, n);
    }
}

static void t_experts_f16_only(void)
{
    moe_case c;
    if (!moe_case_open(&c)) return;
    same_experts_f16("mixtral_moe", &c.m->cfg, c.p, &c.b, c.x, c.n_seq, c.seqlen);
    moe_case_close(&c);
    if (!dsv3_case_open(&c)) return;
    same_experts_f16("deepseek_v3 block 1", &c.m->cfg, c.p, &c.b, c.x, c.n_seq, c.seqlen);
    moe_case_close(&c);
}

/* A bad AWQ_EXPERT_BATCH / AWQ_EXPERT_BUDGET_MB is one line naming the variable, with a hint. */
static void t_expert_batch_env(void)
{
    awq_config c = moe_cfg(8, 2, 1);
    c.hidden_size = 4096, c.moe_intermediate_size = 14336;
    setenv("AWQ_EXPERT_BATCH", "abc", 1);
    CHECK(awq_expert_batch(&c) == -1 && strstr(awq_errmsg(), "AWQ_EXPERT_BATCH='abc'") && strstr(awq_errhint(), "AWQ_EXPERT_BATCH"),
          "%s / %s", awq_errmsg(), awq_errhint());
    setenv("AWQ_EXPERT_BATCH", "20", 1);
    CHECK(awq_expert_batch(&c) == 8, "a batch above n_experts is all of them");
    unsetenv("AWQ_EXPERT_BATCH");
    setenv("AWQ_EXPERT_BUDGET_MB", "0", 1);
    CHECK(awq_expert_batch(&c) == -1 && strstr(awq_errmsg(), "AWQ_EXPERT_BUDGET_MB"), "%s", awq_errmsg());
    setenv("AWQ_EXPERT_BUDGET_MB", "3000", 1); /* 18 * 4096 * 14336 bytes = 1008 MiB an expert */
    CHECK(awq_expert_batch(&c) == 2, "3000 MiB: %d experts", awq_expert_batch(&c));
    unsetenv("AWQ_EXPERT_BUDGET_MB");
    CHECK(awq_expert_batch(&c) == 8, "default 8192 MiB: %d experts", awq_expert_batch(&c));
    awq_clear_error();
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"route_by_hand", t_route_by_hand},
        {"route_grouped_by_hand", t_route_grouped_by_hand},
        {"deepseek_fp16_and_params", t_deepseek_fp16_and_params},
        {"experts_sum", t_experts_sum},
        {"expert_without_tokens", t_expert_without_tokens},
        {"router_takes_the_scales", t_router_takes_the_scales},
        {"deepseek_groups", t_deepseek_groups},
        {"expert_batches", t_expert_batches},
        {"expert_batch_env", t_expert_batch_env},
        {"experts_f16_only", t_experts_f16_only},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
