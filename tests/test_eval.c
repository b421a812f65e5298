/* test_eval.c - perplexity arithmetic (spec §6 T9), the cross-entropy of one row against a
 * hand-computed value, and the FP perplexity of the real stories260K checkpoints against the
 * reference values recorded in ../shared/assets/models/stories260K-reference/SOURCE.md. */
#include "test.h"
#include "../stages/common/eval.h"
#include "../stages/common/tokens.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

static void t_t9_ppl_arithmetic(void)
{
    const double loss[2] = {2.0, 2.2};
    double ppl = awq_ppl_from_losses(loss, 2, 2048);
    CHECK(fabs(ppl - 8.16617) < 1e-5, "T9: ppl %.6f != 8.16617", ppl);
}

static void t_row_nll(void)
{
    const float l[3] = {1.0f, 2.0f, 3.0f};
    double want = log(exp(1.0) + exp(2.0) + exp(3.0)) - 2.0;
    CHECK(fabs(awq_row_nll(l, 3, 1) - want) < 1e-12, "nll %.15g != %.15g", awq_row_nll(l, 3, 1), want);
    const float big[2] = {1000.0f, 0.0f}; /* stable for large logits */
    CHECK(fabs(awq_row_nll(big, 2, 0)) < 1e-12 && isfinite(awq_row_nll(big, 2, 1)), "unstable log-sum-exp");
}

static void stories_ppl(const char *variant, double want)
{
    const char *assets = t_assets();
    if (!assets) { t_skip("needs ../shared/assets (stories260K)"); return; }
    char dir[512], tok[512];
    snprintf(dir, sizeof dir, "%s/models/%s", assets, variant);
    snprintf(tok, sizeof tok, "%s/tokens/tinystories_all.tok512.i32", assets);
    awq_model *m = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    REQUIRE(awq_model_open(&m, dir) == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_ids_load(tok, &ids, &n) == AWQ_OK, "%s", awq_errmsg());
    awq_variant v = {"fp", NULL, NULL};
    awq_eval_result r;
    REQUIRE(awq_eval_ppl(awq_backend_cpu(), m, &v, 1, ids, n, 512, 0, 0, &r) == AWQ_OK, "%s", awq_errmsg());
    CHECK(r.n_windows == 767, "windows %d (SOURCE.md: 767)", r.n_windows);
    CHECK(fabs(r.ppl - want) <= 0.001, "%s ppl %.5f, reference %.4f (models/stories260K-reference/SOURCE.md)", variant, r.ppl, want);
    CHECK(r.kl == 0 && r.top1 == 1, "variant 0 against itself: kl %g top1 %g", r.kl, r.top1);
    fprintf(stderr, "#   %s: ppl %.5f (reference %.4f)\n", variant, r.ppl, want);
    free(ids);
    awq_model_close(m);
}

static void t_stories260k_fp32_ppl(void) { stories_ppl("stories260K-hf", 5.0512); }
static void t_stories260k_fp16_ppl(void) { stories_ppl("stories260K-hf-f16", 5.0513); }

/* A mixture-of-experts fixture's perplexity against transformers' own (tests/golden/<name>/expect.json,
 * tools/golden/gen_moe_golden.py): the same windows, compared as mean losses (the random
 * models' perplexities are huge, their losses ~6 and ~39). */
static void golden_moe_ppl(const char *name)
{
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "tests/golden/%s", name);
    snprintf(path, sizeof path, "%s/expect.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr), *ev = json_object_get(root, "eval");
    REQUIRE(ev, "%s: %s (regenerate: tools/golden/gen_moe_golden.py)", path, root ? "no 'eval'" : jerr.text);
    json_t *jids = json_object_get(ev, "ids");
    size_t n = json_array_size(jids);
    int seqlen = (int)json_integer_value(json_object_get(ev, "seqlen"));
    double want = log(json_real_value(json_object_get(ev, "ppl")));
    int32_t *ids = malloc(n * sizeof *ids);
    REQUIRE(ids && n && seqlen > 0, "%s: eval ids", path);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(jids, i));
    awq_model *m = NULL;
    REQUIRE(awq_model_open(&m, dir) == AWQ_OK, "%s", awq_errmsg());
    awq_variant v = {"fp", NULL, NULL};
    awq_eval_result r;
    REQUIRE(awq_eval_ppl(awq_backend_cpu(), m, &v, 1, ids, n, seqlen, 0, 0, &r) == AWQ_OK, "%s", awq_errmsg());
    CHECK(r.n_windows == (int)(n / (size_t)seqlen), "%s: %d windows", name, r.n_windows);
    CHECK(fabs(log(r.ppl) - want) <= 1e-5 * want, "%s: mean loss %.7f, transformers %.7f (regenerate: "
          "tools/golden/gen_moe_golden.py, gen_dsv3_golden.py or gen_dense_golden.py)", name, log(r.ppl), want);
    fprintf(stderr, "#   %s: mean loss %.7f, transformers %.7f\n", name, log(r.ppl), want);
    awq_model_close(m);
    free(ids);
    json_decref(root);
}

static void t_golden_mixtral_moe_ppl(void) { golden_moe_ppl("mixtral_moe"); }
static void t_golden_qwen3_moe_ppl(void) { golden_moe_ppl("qwen3_moe"); }
static void t_golden_deepseek_v3_ppl(void) { golden_moe_ppl("deepseek_v3"); }
static void t_golden_deepseek_v3_qproj_ppl(void) { golden_moe_ppl("deepseek_v3_qproj"); }
/* Phi-3 (tools/golden/gen_dense_golden.py): 32-token windows, long factors past 16 / short within 64 */
static void t_golden_phi3_longrope_partial_ppl(void) { golden_moe_ppl("phi3_longrope_partial"); }
static void t_golden_phi3_short_ppl(void) { golden_moe_ppl("phi3_short"); }
static void t_golden_phi3_mha_ppl(void) { golden_moe_ppl("phi3_mha"); }
static void t_golden_phi3_window_ppl(void) { golden_moe_ppl("phi3_window"); }
static void t_golden_gemma2_tiny_ppl(void) { golden_moe_ppl("gemma2_tiny"); }
static void t_golden_gemma2_mha_ppl(void) { golden_moe_ppl("gemma2_mha"); }
static void t_golden_gemma3_tiny_ppl(void) { golden_moe_ppl("gemma3_tiny"); }

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"t9_ppl_arithmetic", t_t9_ppl_arithmetic},
        {"row_nll", t_row_nll},
        {"stories260k_fp32_ppl", t_stories260k_fp32_ppl},
        {"stories260k_fp16_ppl", t_stories260k_fp16_ppl},
        {"golden_mixtral_moe_ppl", t_golden_mixtral_moe_ppl},
        {"golden_qwen3_moe_ppl", t_golden_qwen3_moe_ppl},
        {"golden_deepseek_v3_ppl", t_golden_deepseek_v3_ppl},
        {"golden_deepseek_v3_qproj_ppl", t_golden_deepseek_v3_qproj_ppl},
        {"golden_phi3_longrope_partial_ppl", t_golden_phi3_longrope_partial_ppl},
        {"golden_phi3_short_ppl", t_golden_phi3_short_ppl},
        {"golden_phi3_mha_ppl", t_golden_phi3_mha_ppl},
        {"golden_phi3_window_ppl", t_golden_phi3_window_ppl},
        {"golden_gemma2_tiny_ppl", t_golden_gemma2_tiny_ppl},
        {"golden_gemma2_mha_ppl", t_golden_gemma2_mha_ppl},
        {"golden_gemma3_tiny_ppl", t_golden_gemma3_tiny_ppl},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
