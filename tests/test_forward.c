/* test_forward.c - the C decoder forward against transformers (tests/golden/, made by
 * tools/golden/gen_forward_golden.py) and against the real stories260K checkpoint's fp64
 * reference activations (../shared/assets, when present). Also: each sequence of a batch is
 * independent (positions restart at 0), and the sub-module forwards compose to the block. */
#include "test.h"
#include "../stages/common/forward.h"
#include "../base/half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* max |a-b| / max |b| over n values */
static double rel_err(const float *a, const float *b, size_t n)
{
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return mb > 0 ? md / mb : md;
}

static const float *f32_tensor(const st_model *st, const char *name, size_t want)
{
    const st_tensor *t = st_find(st, name);
    if (!t || t->dtype != AWQ_DT_F32 || t->nbytes != want * 4) return NULL;
    return t->data;
}

/* Run the chain: embed -> every block -> logits, comparing with `ref_block_out` names.
 * Returns the worst relative error seen; tol is the bound checked. */
static void check_chain(const char *model_dir, const char *ref_path, const char *ids_name,
                        const char *block_fmt, int block_fmt_offset, const char *logits_name, int n_seq, int seqlen,
                        double tol_block, double tol_logits)
{
    awq_model *m = NULL;
    st_model *ref = NULL;
    REQUIRE(awq_model_open(&m, model_dir) == AWQ_OK, "open %s: %s", model_dir, awq_errmsg());
    REQUIRE(st_open(&ref, ref_path) == AWQ_OK, "open %s: %s", ref_path, awq_errmsg());
    const awq_backend *be = awq_backend_cpu();
    const size_t N = (size_t)n_seq * seqlen, C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    const st_tensor *ids = st_find(ref, ids_name);
    REQUIRE(ids && ids->dtype == AWQ_DT_I32 && ids->nbytes == N * 4, "input ids '%s'", ids_name);
    float *x = malloc(N * C * 4), *logits = malloc(N * V * 4);
    REQUIRE(x && logits, "oom");
    kern_weight emb = {m->embed->data, awq_kern_dtype(m->embed->dtype)};
    REQUIRE(be->embed(be->ctx, x, ids->data, emb, N, C, V) == KERN_OK, "embed");
    REQUIRE(awq_embed_scale(be, &m->cfg, x, N, 0) == AWQ_OK, "embed scale: %s", awq_errmsg()); /* Gemma */
    awq_fwd f;
    REQUIRE(awq_fwd_init(&f, be, &m->cfg, n_seq, seqlen, 0, 1) == AWQ_OK, "fwd init: %s", awq_errmsg());
    double worst = 0;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        awq_block_w w;
        REQUIRE(awq_block_w_host(m, l, &w) == AWQ_OK, "block %d", l);
        REQUIRE(awq_block_forward(&f, &w, x, x, NULL) == AWQ_OK, "block %d: %s", l, awq_errmsg());
        char name[64];
        snprintf(name, sizeof name, block_fmt, l + block_fmt_offset);
        const float *want = f32_tensor(ref, name, N * C);
        REQUIRE(want, "reference tensor '%s' missing in %s", name, ref_path);
        double e = rel_err(x, want, N * C);
        if (e > worst) worst = e;
        CHECK(e <= tol_block, "%s block %d: rel err %.3g > %.1g (regenerate fixtures: see tests/golden/README.md)",
              model_dir, l, e, tol_block);
    }
    REQUIRE(awq_logits(be, m, awq_model_norm_w(m), awq_model_head_w(m), x, N, 0, logits) == AWQ_OK, "logits: %s", awq_errmsg());
    const float *want = f32_tensor(ref, logits_name, N * V);
    REQUIRE(want, "reference '%s' missing", logits_name);
    double e = rel_err(logits, want, N * V);
    CHECK(e <= tol_logits, "%s logits: rel err %.3g > %.1g", model_dir, e, tol_logits);
    fprintf(stderr, "#   %s: worst block rel err %.2e, logits %.2e\n", model_dir, worst, e);
    awq_fwd_free(&f);
    free(x);
    free(logits);
    st_close(ref);
    awq_model_close(m);
}

static void golden(const char *name)
{
    char dir[256], ref[256];
    snprintf(dir, sizeof dir, "tests/golden/%s", name);
    snprintf(ref, sizeof ref, "tests/golden/%s/forward.safetensors", name);
    /* transformers fp32 on the same weights: summation order differs, so ~1e-6 relative. */
    check_chain(dir, ref, "input_ids", "block_out.%d", 0, "logits", 2, 24, 1e-5, 1e-5);
}

static void t_golden_llama_gqa_llama3rope_tied(void) { golden("llama_gqa_llama3rope_tied"); }
static void t_golden_llama2_mha(void) { golden("llama2_mha"); }
static void t_golden_mistral(void) { golden("mistral"); }
static void t_golden_qwen2_bias(void) { golden("qwen2_bias"); }
static void t_golden_qwen3_qknorm(void) { golden("qwen3_qknorm"); }
/* mixture of experts (tools/golden/gen_moe_golden.py): the routing picks the same experts as
 * transformers for every token, else an output is off by far more than the bound */
static void t_golden_mixtral_moe(void) { golden("mixtral_moe"); }
static void t_golden_qwen3_moe(void) { golden("qwen3_moe"); }
/* DeepSeek-V3 (tools/golden/gen_dsv3_golden.py): latent attention with q_a/q_b and yarn +
 * interleaved RoPE, or q_proj and rotate_half; dense first layers, grouped sigmoid routing with
 * the correction bias, shared experts */
static void t_golden_deepseek_v3(void) { golden("deepseek_v3"); }
static void t_golden_deepseek_v3_qproj(void) { golden("deepseek_v3_qproj"); }
/* Phi-3 (tools/golden/gen_dense_golden.py): fused qkv_proj and gate_up_proj read as parts;
 * longrope with the long factors (24 tokens past an original 16) and partial rotary 12 of 16, or
 * the short factors with an explicit attention_factor */
static void t_golden_phi3_longrope_partial(void) { golden("phi3_longrope_partial"); }
static void t_golden_phi3_short(void) { golden("phi3_short"); }
static void t_golden_phi3_mha(void) { golden("phi3_mha"); }
/* Phi-3 with a sliding window shorter than the sequences (Phi-3-mini-4k's 2047 in small) */
static void t_golden_phi3_window(void) { golden("phi3_window"); }
/* Gemma 2 (gen_dense_golden.py): (1 + w) norms, four per block, embedding times sqrt(C), GeGLU,
 * query_pre_attn_scalar, attention and final soft-capping, a sliding window of 8 on layer 0 */
static void t_golden_gemma2_tiny(void) { golden("gemma2_tiny"); }
static void t_golden_gemma2_mha(void) { golden("gemma2_mha"); }
/* Gemma 3 (text): (1 + w) q/k norms, the local RoPE base on the sliding layer 0 and the global
 * theta with linear scaling on layer 1, in the released config form */
static void t_golden_gemma3_tiny(void) { golden("gemma3_tiny"); }

static void t_stories260k_reference(void)
{
    const char *assets = t_assets();
    if (!assets) { t_skip("needs ../shared/assets (stories260K-hf)"); return; }
    char dir[512], ref[512];
    snprintf(dir, sizeof dir, "%s/models/stories260K-hf", assets);
    snprintf(ref, sizeof ref, "%s/models/stories260K-reference/stories260K_reference_activations.safetensors", assets);
    /* block_output_prenorm.k = input of block k = output of block k-1 (fp64 reference, SOURCE.md);
     * logits_fp64_reference is the fp64 model's logits. */
    check_chain(dir, ref, "input_ids", "block_output_prenorm.%d", 1, "logits_fp64_reference", 1, 24, 1e-5, 1e-5);
}

/* Sequence 1 of a batch of 3 equals that sequence run alone (positions restart, no leakage),
 * whatever the chunking; and attn/mlp sub-modules compose to the block. */
static void t_batch_independence_and_submodules(void)
{
    awq_model *m = NULL;
    REQUIRE(awq_model_open(&m, "tests/golden/qwen3_qknorm") == AWQ_OK, "%s", awq_errmsg());
    const awq_backend *be = awq_backend_cpu();
    const int T = 9, B = 3;
    const size_t C = (size_t)m->cfg.hidden_size, N = (size_t)B * T;
    float *x = malloc(N * C * 4), *y = malloc(N * C * 4), *y1 = malloc(T * C * 4), *y2 = malloc(N * C * 4);
    float *a = malloc(N * C * 4), *ao = malloc(N * C * 4), *mo = malloc(N * C * 4), *r = malloc(N * C * 4);
    REQUIRE(x && y && y1 && y2 && a && ao && mo && r, "oom");
    for (size_t i = 0; i < N * C; i++) x[i] = t_randf(-2, 2);
    awq_block_w w;
    REQUIRE(awq_block_w_host(m, 1, &w) == AWQ_OK, "block");
    awq_fwd fb, f1, fc;
    REQUIRE(awq_fwd_init(&fb, be, &m->cfg, B, T, 0, 0) == AWQ_OK, "init");
    REQUIRE(awq_fwd_init(&f1, be, &m->cfg, 1, T, 0, 1) == AWQ_OK, "init");
    REQUIRE(awq_fwd_init(&fc, be, &m->cfg, B, T, 0, 2) == AWQ_OK, "init"); /* chunks of 2 + 1 */
    awq_feats ft = {a, NULL, mo, NULL, NULL, NULL, NULL, NULL};
    REQUIRE(awq_block_forward(&fb, &w, x, y, &ft) == AWQ_OK, "fwd");
    REQUIRE(awq_block_forward(&f1, &w, x + T * C, y1, NULL) == AWQ_OK, "fwd");
    REQUIRE(awq_block_forward(&fc, &w, x, y2, NULL) == AWQ_OK, "fwd");
    /* BLAS blocking depends on the row count, so equal up to fp32 summation order */
    CHECK(rel_err(y1, y + T * C, T * C) < 1e-6, "sequence 1 in a batch differs from it alone: %.3g", rel_err(y1, y + T * C, T * C));
    CHECK(rel_err(y2, y, N * C) < 1e-6, "chunking changed the result: %.3g", rel_err(y2, y, N * C));
    /* block = x + attn(norm1(x)) ; then + mlp(norm2(.)) with feats giving the normalized inputs */
    REQUIRE(awq_attn_forward(&fb, &w, a, ao) == AWQ_OK, "attn");
    for (size_t i = 0; i < N * C; i++) r[i] = x[i] + ao[i];
    float *mlp_in = malloc(N * C * 4);
    memcpy(mlp_in, mo, N * C * 4);
    REQUIRE(awq_mlp_forward(&fb, &w, mlp_in, mo) == AWQ_OK, "mlp");
    for (size_t i = 0; i < N * C; i++) r[i] += mo[i];
    CHECK(rel_err(r, y, N * C) < 1e-6, "attn + mlp sub-modules do not compose to the block: %.3g", rel_err(r, y, N * C));
    /* changing a later token of sequence 0 does not change its earlier outputs (causal) */
    for (size_t c = 0; c < C; c++) x[(T - 1) * C + c] += 1.0f;
    REQUIRE(awq_block_forward(&fb, &w, x, y2, NULL) == AWQ_OK, "fwd");
    CHECK(memcmp(y, y2, (T - 1) * C * 4) == 0, "a later token changed earlier outputs");
    CHECK(memcmp(y + (T - 1) * C, y2 + (T - 1) * C, C * 4) != 0, "the changed token's output did not change");
    awq_fwd_free(&fb); awq_fwd_free(&f1); awq_fwd_free(&fc);
    free(x); free(y); free(y1); free(y2); free(a); free(ao); free(mo); free(r); free(mlp_in);
    awq_model_close(m);
}

/* The feats-only forward (y == NULL, down_proj skipped) gives the same feats as the full one, bit
 * for bit: both numerics, qwen2 (biases) and qwen3 (q/k norm), chunks of uneven size. */
static void t_feats_only(void)
{
    static const char *const models[] = {"tests/golden/qwen2_bias", "tests/golden/qwen3_qknorm"};
    for (int mi = 0; mi < 2; mi++)
        for (int r16 = 0; r16 < 2; r16++) {
            awq_model *m = NULL;
            REQUIRE(awq_model_open(&m, models[mi]) == AWQ_OK, "%s", awq_errmsg());
            const awq_backend *be = awq_backend_cpu();
            const int S = 11, B = 5;
            const size_t C = (size_t)m->cfg.hidden_size, F = (size_t)m->cfg.intermediate_size, N = (size_t)B * S;
            const size_t HD = (size_t)m->cfg.num_attention_heads * m->cfg.head_dim;
            const size_t width[4] = {C, HD, C, F};
            float *x = malloc(N * C * 4), *y = malloc(N * C * 4), *full[4], *only[4];
            REQUIRE(x && y, "oom");
            for (int k = 0; k < 4; k++) REQUIRE((full[k] = malloc(N * width[k] * 4)) && (only[k] = malloc(N * width[k] * 4)), "oom");
            for (size_t i = 0; i < N * C; i++) x[i] = r16 ? awq_round_f16(t_randf(-2, 2)) : t_randf(-2, 2);
            awq_block_w w;
            REQUIRE(awq_block_w_host(m, 0, &w) == AWQ_OK, "block");
            awq_fwd f;
            REQUIRE(awq_fwd_init(&f, be, &m->cfg, B, S, r16, 2) == AWQ_OK, "init"); /* chunks of 2, 2, 1 sequences */
            awq_feats ff = {full[0], full[1], full[2], full[3], NULL, NULL, NULL, NULL},
                      fo = {only[0], only[1], only[2], only[3], NULL, NULL, NULL, NULL};
            REQUIRE(awq_block_forward(&f, &w, x, y, &ff) == AWQ_OK, "fwd: %s", awq_errmsg());
            REQUIRE(awq_block_forward(&f, &w, x, NULL, &fo) == AWQ_OK, "feats only: %s", awq_errmsg());
            for (int k = 0; k < 4; k++)
                CHECK(memcmp(only[k], full[k], N * width[k] * 4) == 0, "%s f16=%d feat %d: feats-only forward differs", models[mi], r16, k);
            awq_fwd_free(&f);
            for (int k = 0; k < 4; k++) free(full[k]), free(only[k]);
            free(x); free(y);
            awq_model_close(m);
        }
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"golden_llama_gqa_llama3rope_tied", t_golden_llama_gqa_llama3rope_tied},
        {"golden_llama2_mha", t_golden_llama2_mha},
        {"golden_mistral", t_golden_mistral},
        {"golden_qwen2_bias", t_golden_qwen2_bias},
        {"golden_qwen3_qknorm", t_golden_qwen3_qknorm},
        {"golden_mixtral_moe", t_golden_mixtral_moe},
        {"golden_qwen3_moe", t_golden_qwen3_moe},
        {"golden_deepseek_v3", t_golden_deepseek_v3},
        {"golden_deepseek_v3_qproj", t_golden_deepseek_v3_qproj},
        {"golden_phi3_longrope_partial", t_golden_phi3_longrope_partial},
        {"golden_phi3_short", t_golden_phi3_short},
        {"golden_phi3_mha", t_golden_phi3_mha},
        {"golden_phi3_window", t_golden_phi3_window},
        {"golden_gemma2_tiny", t_golden_gemma2_tiny},
        {"golden_gemma2_mha", t_golden_gemma2_mha},
        {"golden_gemma3_tiny", t_golden_gemma3_tiny},
        {"stories260k_reference", t_stories260k_reference},
        {"batch_independence_and_submodules", t_batch_independence_and_submodules},
        {"feats_only", t_feats_only},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
