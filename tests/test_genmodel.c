/* test_genmodel.c - awq-gen-model end to end: run the program, read the directory back with the
 * project's readers (st_open, awq_config_load) and check
 *   - the tensor set and shapes against spec §1.2 rules written out here from the config dims,
 *   - every tensor's bytes against the generator's documented value function (tools/synth.h,
 *     element by element, not through the table the generator uses), plus a few elements
 *     recomputed from the formula in the documentation with no synth.h code at all,
 *   - statistics: std ~ 1/sqrt(fan_in), bounded values, norms near 1, the planted outlier
 *     channels exactly at the recorded indices in every layer,
 *   - determinism (same seed -> identical files, any thread count; other seed -> other bytes),
 *   - sharding: the index covers every tensor once, total_size, same bytes as one file.
 * Mixture of experts (Mixtral, Qwen3-MoE): the same checks with the experts' tensors named and
 * shaped as the checkpoints of those classes, plus: the tiny presets open with awq_model_open
 * and run block by block on the CPU with finite outputs, every expert of every MoE layer
 * receives tokens (awq_moe_route on the router's real input, for awq-gen-tokens' stream; and
 * for a seeded random batch at the full-size presets' routers), config.json has the keys and
 * JSON types of the committed transformers-written configs (tests/golden/{mixtral,qwen3}_moe), and the
 * full-size presets' shapes come from --dry-run's safetensors headers.
 * CLI refusals and gen-tokens are in t_genmodel.sh / test_gentokens below. */
#include "test.h"
#include "../stages/common/config.h"
#include "../stages/common/forward.h"
#include "../stages/common/model.h"
#include "../stages/common/moe.h"
#include "../stages/common/safetensors.h"
#include "../tools/synth.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Run awq-gen-model into t_path(dir). Returns its exit status. */
static int gen(const char *dir, const char *args)
{
    char out[4096];
    int rc = t_run(out, sizeof out, "%s/bin/awq-gen-model -q --out '%s' %s", t_build_dir(), t_path("%s", dir), args);
    if (rc != 0) fprintf(stderr, "  awq-gen-model %s -> %d: %s\n", args, rc, out);
    return rc;
}

static int gen_available(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/bin/awq-gen-model", t_build_dir());
    struct stat st;
    if (stat(p, &st) == 0) return 1;
    t_skip("%s not built", p);
    return 0;
}

static float decode(awq_dtype dt, const void *data, uint64_t i)
{
    if (dt == AWQ_DT_F32) return ((const float *)data)[i];
    uint16_t h = ((const uint16_t *)data)[i];
    return dt == AWQ_DT_BF16 ? awq_bf16_to_f32(h) : awq_f16_to_f32(h);
}

/* The model as a sidecar (awqmake_synthetic.json, or --dry-run's "sidecar") describes it
 * (outlier channels recomputed by syn_init and compared). */
static int sidecar_model(json_t *j, const char *dir, syn_model *m)
{
    memset(m, 0, sizeof *m);
    const char *arch = json_string_value(json_object_get(j, "arch"));
    m->arch = !arch ? 0 : !strcmp(arch, "llama") ? AWQ_ARCH_LLAMA : !strcmp(arch, "mistral") ? AWQ_ARCH_MISTRAL
            : !strcmp(arch, "qwen2") ? AWQ_ARCH_QWEN2 : !strcmp(arch, "qwen3") ? AWQ_ARCH_QWEN3
            : !strcmp(arch, "mixtral") ? AWQ_ARCH_MIXTRAL : !strcmp(arch, "qwen3_moe") ? AWQ_ARCH_QWEN3_MOE : 0;
    m->dtype = awq_dtype_parse(json_string_value(json_object_get(j, "dtype")));
#define GETI(f, key) m->f = (int)json_integer_value(json_object_get(j, key))
    GETI(hidden, "hidden"); GETI(ffn, "ffn"); GETI(layers, "layers"); GETI(heads, "heads");
    GETI(kv_heads, "kv_heads"); GETI(head_dim, "head_dim"); GETI(vocab, "vocab");
    GETI(n_experts, "experts"); GETI(experts_per_tok, "experts_per_tok"); GETI(moe_ffn, "moe_ffn");
    GETI(decoder_sparse_step, "decoder_sparse_step");
#undef GETI
    m->norm_topk_prob = json_is_true(json_object_get(j, "norm_topk_prob"));
    json_t *only = json_object_get(j, "mlp_only_layers");
    for (size_t i = 0; i < json_array_size(only); i++) {
        json_int_t l = json_integer_value(json_array_get(only, i));
        if (l >= 0 && l < AWQ_MAX_LAYERS) m->mlp_only[l] = 1;
    }
    CHECK(syn_is_moe_arch(m->arch) == (m->n_experts > 0 && m->decoder_sparse_step > 0), "sidecar of '%s': experts %d for %s",
          dir, m->n_experts, arch ? arch : "?");
    m->tie = json_is_true(json_object_get(j, "tie"));
    m->attention_bias = json_is_true(json_object_get(j, "attention_bias"));
    m->mlp_bias = json_is_true(json_object_get(j, "mlp_bias"));
    m->seed = (uint64_t)json_integer_value(json_object_get(j, "seed"));
    m->outlier_scale = (float)json_number_value(json_object_get(j, "outlier_scale"));
    m->embed_outlier_scale = (float)json_number_value(json_object_get(j, "embed_outlier_scale"));
    json_t *ch = json_object_get(j, "outlier_channels");
    m->n_outliers = (int)json_array_size(ch);
    int ok = m->arch && m->dtype && m->hidden > 0 && syn_init(m) == 0;
    CHECK(ok, "sidecar of '%s' incomplete", dir);
    for (int i = 0; ok && i < m->n_outliers; i++)
        CHECK(json_integer_value(json_array_get(ch, (size_t)i)) == m->outliers[i], "outlier channel %d: recorded %lld, derived %d",
              i, (long long)json_integer_value(json_array_get(ch, (size_t)i)), m->outliers[i]);
    return ok ? 0 : -1;
}

static int load_sidecar(const char *dir, syn_model *m)
{
    json_error_t err;
    json_t *j = json_load_file(t_path("%s/awqmake_synthetic.json", dir), 0, &err);
    if (!j) { CHECK(0, "sidecar: %s", err.text); return -1; }
    int r = sidecar_model(j, dir, m);
    json_decref(j);
    return r;
}

/* The checkpoint's tensors by spec §1.2, from the config alone; a layer with experts (by
 * awq_layer_experts) has no dense mlp but the router and each expert's gate/up/down, named as
 * transformers' checkpoints of the class name them. */
typedef struct want { char name[96]; int ndim; int64_t shape[2]; } want;

static int max_tensors(const awq_config *c) { return 3 + c->num_hidden_layers * (24 + 3 * c->n_experts); }

static int expected_tensors(const awq_config *c, want *w)
{
    int n = 0;
    const int64_t C = c->hidden_size, F = c->intermediate_size, D = c->head_dim, V = c->vocab_size;
    const int64_t Q = c->num_attention_heads * D, KV = c->num_key_value_heads * D;
#define W(nd, d0, d1, ...) (snprintf(w[n].name, sizeof w[n].name, __VA_ARGS__), w[n].ndim = nd, w[n].shape[0] = d0, w[n].shape[1] = d1, n++)
    W(2, V, C, "model.embed_tokens.weight");
    for (int i = 0; i < c->num_hidden_layers; i++) {
        W(1, C, 0, "model.layers.%d.input_layernorm.weight", i);
        W(2, Q, C, "model.layers.%d.self_attn.q_proj.weight", i);
        W(2, KV, C, "model.layers.%d.self_attn.k_proj.weight", i);
        W(2, KV, C, "model.layers.%d.self_attn.v_proj.weight", i);
        W(2, C, Q, "model.layers.%d.self_attn.o_proj.weight", i);
        if (c->qkv_bias) {
            W(1, Q, 0, "model.layers.%d.self_attn.q_proj.bias", i);
            W(1, KV, 0, "model.layers.%d.self_attn.k_proj.bias", i);
            W(1, KV, 0, "model.layers.%d.self_attn.v_proj.bias", i);
        }
        if (c->o_bias) W(1, C, 0, "model.layers.%d.self_attn.o_proj.bias", i);
        if (c->qk_norm) {
            W(1, D, 0, "model.layers.%d.self_attn.q_norm.weight", i);
            W(1, D, 0, "model.layers.%d.self_attn.k_norm.weight", i);
        }
        W(1, C, 0, "model.layers.%d.post_attention_layernorm.weight", i);
        const int E = awq_layer_experts(c, i);
        const int64_t Fe = c->moe_intermediate_size;
        if (E && c->arch == AWQ_ARCH_MIXTRAL) {
            W(2, E, C, "model.layers.%d.block_sparse_moe.gate.weight", i);
            for (int e = 0; e < E; e++) {
                W(2, Fe, C, "model.layers.%d.block_sparse_moe.experts.%d.w1.weight", i, e);
                W(2, C, Fe, "model.layers.%d.block_sparse_moe.experts.%d.w2.weight", i, e);
                W(2, Fe, C, "model.layers.%d.block_sparse_moe.experts.%d.w3.weight", i, e);
            }
            continue;
        }
        if (E) {
            W(2, E, C, "model.layers.%d.mlp.gate.weight", i);
            for (int e = 0; e < E; e++) {
                W(2, Fe, C, "model.layers.%d.mlp.experts.%d.gate_proj.weight", i, e);
                W(2, Fe, C, "model.layers.%d.mlp.experts.%d.up_proj.weight", i, e);
                W(2, C, Fe, "model.layers.%d.mlp.experts.%d.down_proj.weight", i, e);
            }
            continue;
        }
        W(2, F, C, "model.layers.%d.mlp.gate_proj.weight", i);
        W(2, F, C, "model.layers.%d.mlp.up_proj.weight", i);
        W(2, C, F, "model.layers.%d.mlp.down_proj.weight", i);
        if (c->mlp_bias) {
            W(1, F, 0, "model.layers.%d.mlp.gate_proj.bias", i);
            W(1, F, 0, "model.layers.%d.mlp.up_proj.bias", i);
            W(1, C, 0, "model.layers.%d.mlp.down_proj.bias", i);
        }
    }
    W(1, C, 0, "model.norm.weight");
    if (!c->tie_word_embeddings) W(2, V, C, "lm_head.weight");
#undef W
    return n;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Statistics of one tensor as read back. */
static void check_stats(const syn_model *m, const st_tensor *t)
{
    uint64_t n = t->nbytes / awq_dtype_size(t->dtype);
    int is_norm = ends_with(t->name, "norm.weight");
    int planted = ends_with(t->name, "input_layernorm.weight") || ends_with(t->name, "post_attention_layernorm.weight");
    if (is_norm) {
        int bad = 0;
        for (uint64_t i = 0; i < n; i++) {
            float v = decode(t->dtype, t->data, i);
            int outlier = planted && m->is_outlier[i];
            float lo = outlier ? 0.64f * m->outlier_scale : 0.64f, hi = outlier ? 1.36f * m->outlier_scale : 1.36f;
            if (!(v >= lo && v <= hi) && bad++ < 3) CHECK(0, "'%s'[%llu] = %g not in [%g, %g]", t->name, (unsigned long long)i, v, lo, hi);
        }
        CHECK(bad == 0, "'%s': %d values out of range", t->name, bad);
        return;
    }
    /* weights and biases: mean ~ 0, std as documented, |v| <= 3.47 std (Irwin-Hall(4) bound) */
    int is_bias = ends_with(t->name, ".bias"), is_embed = strstr(t->name, "embed_tokens") != NULL;
    int is_router = ends_with(t->name, "mlp.gate.weight") || ends_with(t->name, "block_sparse_moe.gate.weight");
    /* the columns at the outlier channels: embed x embed_outlier_scale, router / outlier_scale */
    double out_factor = is_router ? 1.0 / m->outlier_scale : m->embed_outlier_scale;
    double want_std = is_bias ? SYN_BIAS_STD : 1.0 / sqrt((double)t->shape[1]);
    double s = 0, s2 = 0, s2_out = 0, maxabs = 0;
    uint64_t n_out = 0;
    for (uint64_t i = 0; i < n; i++) {
        double v = decode(t->dtype, t->data, i);
        if ((is_embed || is_router) && m->is_outlier[i % (uint64_t)m->hidden]) { s2_out += v * v; n_out++; continue; }
        s += v; s2 += v * v;
        if (fabs(v) > maxabs) maxabs = fabs(v);
    }
    uint64_t nn = n - n_out;
    double mean = s / (double)nn, std = sqrt(s2 / (double)nn - mean * mean);
    double tol = 5.0 / sqrt(2.0 * (double)nn) + 0.01; /* 5 sigma of the std estimate + rounding */
    CHECK(fabs(std / want_std - 1) < tol, "'%s': std %g, expected %g (tol %.3f)", t->name, std, want_std, tol);
    CHECK(fabs(mean) < 5 * want_std / sqrt((double)nn) + 1e-3 * want_std, "'%s': mean %g", t->name, mean);
    CHECK(maxabs <= 3.47 * want_std * 1.01, "'%s': |v| up to %g, bound %g", t->name, maxabs, 3.47 * want_std);
    if (n_out) {
        double rms_out = sqrt(s2_out / (double)n_out);
        double r = rms_out / (want_std * out_factor), tol_out = fmax(0.1, 5.0 / sqrt(2.0 * (double)n_out));
        CHECK(fabs(r - 1) < tol_out, "'%s': outlier columns rms %g, expected %g", t->name, rms_out, want_std * out_factor);
    }
}

/* The generator's value function, element by element (the reference the table path must match). */
static void check_bytes(const syn_model *m, const syn_tensor *plan, int nplan, const st_tensor *t)
{
    const syn_tensor *s = NULL;
    for (int i = 0; i < nplan; i++)
        if (strcmp(plan[i].name, t->name) == 0) s = &plan[i];
    REQUIRE(s, "'%s' not in the generator's plan", t->name);
    uint64_t n = t->nbytes / awq_dtype_size(t->dtype);
    int bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        float v = syn_value(m, s, i);
        int same = t->dtype == AWQ_DT_F32 ? memcmp(&v, (const float *)t->data + i, 4) == 0
                                          : syn_to_half(t->dtype, v) == ((const uint16_t *)t->data)[i];
        if (!same && bad++ < 3) CHECK(0, "'%s'[%llu] differs from syn_value", t->name, (unsigned long long)i);
    }
    CHECK(bad == 0, "'%s': %d elements differ", t->name, bad);
}

/* A few elements straight from the documented formula: z = (sum of the four 16-bit fields of
 * splitmix64(XXH3_64(name, seed) + (i+1)*0x9e3779b97f4a7c15) - 131070) / 37837.227, value z/sqrt(in). */
static void check_formula(const st_model *sm, const char *name, uint64_t seed)
{
    const st_tensor *t = st_find(sm, name);
    REQUIRE(t && t->ndim == 2, "'%s' missing", name);
    uint64_t key = XXH3_64bits_withSeed(name, strlen(name), seed);
    for (uint64_t i = 0; i < 50; i++) {
        uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        double sum = (double)(z & 0xffff) + (double)((z >> 16) & 0xffff) + (double)((z >> 32) & 0xffff) + (double)(z >> 48);
        double expect = (sum - 131070.0) / 37837.227237206 / sqrt((double)t->shape[1]);
        double got = decode(t->dtype, t->data, i);
        double ulp = t->dtype == AWQ_DT_F32 ? 1e-6 : t->dtype == AWQ_DT_BF16 ? 1.0 / 128 : 1.0 / 1024;
        CHECK(fabs(got - expect) <= fabs(expect) * ulp + 1e-7, "'%s'[%llu] = %.8g, formula %.8g", name, (unsigned long long)i, got, expect);
    }
}

/* Everything about one generated directory. */
static void check_model_dir(const char *dir)
{
    syn_model m;
    if (load_sidecar(dir, &m) != 0) return;
    awq_config c;
    awq_err e = awq_config_load(&c, t_path("%s", dir));
    REQUIRE(e == AWQ_OK, "awq_config_load: %s", awq_errmsg());
    CHECK(c.arch == m.arch && c.hidden_size == m.hidden && c.intermediate_size == m.ffn && c.num_hidden_layers == m.layers &&
          c.num_attention_heads == m.heads && c.num_key_value_heads == m.kv_heads && c.head_dim == m.head_dim &&
          c.vocab_size == m.vocab && c.tie_word_embeddings == m.tie && c.torch_dtype == m.dtype,
          "config.json does not give back the generator's dims");
    CHECK(c.qkv_bias == syn_qkv_bias(&m) && c.o_bias == syn_o_bias(&m) && c.mlp_bias == m.mlp_bias &&
          c.qk_norm == syn_qk_norm(&m), "bias/qk-norm flags: qkv %d o %d mlp %d qk %d", c.qkv_bias, c.o_bias, c.mlp_bias, c.qk_norm);
    if (syn_is_moe_arch(m.arch))
        CHECK(c.n_experts == m.n_experts && c.n_experts_per_tok == m.experts_per_tok && c.moe_intermediate_size == m.moe_ffn &&
              c.norm_topk_prob == m.norm_topk_prob && c.decoder_sparse_step == m.decoder_sparse_step,
              "experts: config %d top-%d width %d norm %d step %d, generator %d top-%d width %d norm %d step %d", c.n_experts,
              c.n_experts_per_tok, c.moe_intermediate_size, c.norm_topk_prob, c.decoder_sparse_step, m.n_experts,
              m.experts_per_tok, m.moe_ffn, m.norm_topk_prob, m.decoder_sparse_step);
    else
        CHECK(c.n_experts == 0 && m.n_experts == 0, "a dense model with experts: config %d, generator %d", c.n_experts, m.n_experts);
    for (int i = 0; i < m.layers; i++)
        CHECK(awq_layer_experts(&c, i) == syn_layer_experts(&m, i), "layer %d: %d experts by config.json, %d by the generator", i,
              awq_layer_experts(&c, i), syn_layer_experts(&m, i));

    st_model *sm = NULL;
    e = st_open(&sm, t_path("%s", dir));
    if (e != AWQ_OK) { CHECK(0, "st_open: %s", awq_errmsg()); syn_free(&m); return; }
    want *w = malloc((size_t)max_tensors(&c) * sizeof *w);
    if (!w) { CHECK(0, "oom"); st_close(sm); syn_free(&m); return; }
    int nw = expected_tensors(&c, w);
    CHECK(st_count(sm) == nw, "%d tensors, spec says %d", st_count(sm), nw);
    for (int i = 0; i < nw; i++) {
        const st_tensor *t = st_find(sm, w[i].name);
        if (!t) { CHECK(0, "'%s' missing", w[i].name); continue; }
        CHECK(t->dtype == m.dtype && t->ndim == w[i].ndim && t->shape[0] == w[i].shape[0] && (t->ndim < 2 || t->shape[1] == w[i].shape[1]),
              "'%s': %s rank %d [%lld, %lld], want rank %d [%lld, %lld]", w[i].name, awq_dtype_name(t->dtype), t->ndim,
              (long long)t->shape[0], (long long)t->shape[1], w[i].ndim, (long long)w[i].shape[0], (long long)w[i].shape[1]);
    }
    int nplan = 0;
    syn_tensor *plan = syn_plan(&m, &nplan);
    for (int i = 0; plan && i < st_count(sm); i++) {
        const st_tensor *t = st_at(sm, i);
        check_bytes(&m, plan, nplan, t);
        check_stats(&m, t);
    }
    check_formula(sm, "model.layers.0.self_attn.q_proj.weight", m.seed);
    for (int i = 0; i < m.layers && i < 4; i++) { /* the first layers' down_proj: dense, or expert 0's */
        char name[96];
        if (!syn_layer_experts(&m, i)) snprintf(name, sizeof name, "model.layers.%d.mlp.down_proj.weight", i);
        else if (m.arch == AWQ_ARCH_MIXTRAL) snprintf(name, sizeof name, "model.layers.%d.block_sparse_moe.experts.0.w2.weight", i);
        else snprintf(name, sizeof name, "model.layers.%d.mlp.experts.0.down_proj.weight", i);
        if (st_find(sm, name)) check_formula(sm, name, m.seed);
    }
    free(w);
    free(plan);
    st_close(sm);
    syn_free(&m);
}

static void run_arch(const char *dir, const char *args)
{
    if (!gen_available()) return;
    REQUIRE(gen(dir, args) == 0, "awq-gen-model %s failed", args);
    check_model_dir(dir);
}

static void t_llama_tiny(void) { run_arch("llama", "--seed 7"); }
static void t_llama_biases_tied_bf16(void)
{
    run_arch("llama_b", "--seed 8 --attention-bias --mlp-bias --tie --dtype bf16 --rope-scaling llama3 --outliers 6 --outlier-scale 12");
    if (t_failed()) return;
    awq_config c;
    REQUIRE(awq_config_load(&c, t_path("llama_b/config.json")) == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_LLAMA3 && c.rope_factor == 8 && c.rope_original_max_position_embeddings == 8192 &&
          c.rope_theta == 500000, "llama3 rope: type %d factor %g theta %g", c.rope_type, c.rope_factor, c.rope_theta);
}
static void t_mistral(void) { run_arch("mistral", "--arch mistral --hidden 64 --heads 4 --kv-heads 1 --ffn 128 --layers 3 --vocab 300"); }
static void t_qwen2_f32_tied(void) { run_arch("qwen2", "--arch qwen2 --dtype f32 --tie --seed 3"); }
static void t_qwen3_head_dim(void)
{
    /* head_dim 32 with hidden 64 and 4 heads: q_proj is [128, 64], o_proj [64, 128] */
    run_arch("qwen3", "--arch qwen3 --hidden 64 --heads 4 --kv-heads 2 --head-dim 32 --ffn 192 --seed 4");
}

/* Every regular file of two directories, byte for byte. */
static int same_dirs(const char *a, const char *b)
{
    DIR *d = opendir(t_path("%s", a));
    if (!d) return 0;
    int same = 1, n = 0;
    struct dirent *de;
    while (same && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        size_t la = 0, lb = 0;
        char *fa = t_read_file(t_path("%s/%s", a, de->d_name), &la), *fb = t_read_file(t_path("%s/%s", b, de->d_name), &lb);
        same = fa && fb && la == lb && memcmp(fa, fb, la) == 0;
        if (!same) fprintf(stderr, "  '%s' differs between %s and %s\n", de->d_name, a, b);
        free(fa);
        free(fb);
        n++;
    }
    closedir(d);
    return same && n >= 3;
}

static void t_deterministic(void)
{
    if (!gen_available()) return;
    /* vocab 8192: the embedding (1M elements) takes the table path; its outlier columns do not */
    const char *args = "--seed 11 --vocab 8192 --embed-outlier-scale 8";
    REQUIRE(gen("a", args) == 0 && gen("b", args) == 0, "generation failed");
    CHECK(same_dirs("a", "b"), "same arguments gave different files");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s", args);
    char out[2048];
    int rc = t_run(out, sizeof out, "OMP_NUM_THREADS=1 %s/bin/awq-gen-model -q --out '%s' %s", t_build_dir(), t_path("one_thread"), cmd);
    REQUIRE(rc == 0, "%s", out);
    CHECK(same_dirs("a", "one_thread"), "one thread gave other bytes than several");
    check_model_dir("a");
    REQUIRE(gen("c", "--seed 12 --vocab 8192 --embed-outlier-scale 8") == 0, "generation failed");
    size_t la, lc;
    char *fa = t_read_file(t_path("a/model.safetensors"), &la), *fc = t_read_file(t_path("c/model.safetensors"), &lc);
    REQUIRE(fa && fc, "read");
    CHECK(la == lc && memcmp(fa, fc, la) != 0, "another seed gave the same bytes");
    free(fa);
    free(fc);
}

static void t_sharded(void)
{
    if (!gen_available()) return;
    /* tiny is ~855 KB: 100 KB shards; the embedding (128 KB) exceeds the limit: a shard of its own */
    REQUIRE(gen("one", "--seed 5 --arch qwen2") == 0 && gen("shards", "--seed 5 --arch qwen2 --shard-size 100KB") == 0, "generation failed");
    json_error_t err;
    json_t *idx = json_load_file(t_path("shards/model.safetensors.index.json"), 0, &err);
    REQUIRE(idx, "index: %s", err.text);
    struct stat st;
    CHECK(stat(t_path("shards/model.safetensors"), &st) != 0, "plain model.safetensors next to the shards");
    st_model *one = NULL, *sh = NULL;
    REQUIRE(st_open(&one, t_path("one")) == AWQ_OK, "%s", awq_errmsg());
    if (st_open(&sh, t_path("shards")) != AWQ_OK) { CHECK(0, "%s", awq_errmsg()); st_close(one); json_decref(idx); return; }
    json_t *map = json_object_get(idx, "weight_map");
    CHECK(json_object_size(map) == (size_t)st_count(one), "weight_map has %zu names, the model %d tensors",
          json_object_size(map), st_count(one));
    uint64_t total = 0, per_shard[128] = {0};
    int max_k = 0, count[128] = {0};
    for (int i = 0; i < st_count(one); i++) {
        const st_tensor *a = st_at(one, i), *b = st_find(sh, a->name);
        total += a->nbytes;
        const char *f = json_string_value(json_object_get(map, a->name));
        int k = 0, K = 0;
        if (!f || sscanf(f, "model-%5d-of-%5d.safetensors", &k, &K) != 2 || k < 1 || k > K || K >= 128) {
            CHECK(0, "'%s' -> '%s'", a->name, f ? f : "(missing)");
            continue;
        }
        per_shard[k] += a->nbytes;
        count[k]++;
        if (K > max_k) max_k = K;
        CHECK(b && b->nbytes == a->nbytes && memcmp(a->data, b->data, a->nbytes) == 0, "'%s' differs between one file and shards", a->name);
        CHECK(b && strstr(st_file_path(sh, b->file), f), "'%s' is read from '%s', index says '%s'", a->name,
              b ? st_file_path(sh, b->file) : "?", f);
    }
    CHECK(max_k >= 8, "only %d shards", max_k);
    for (int k = 1; k <= max_k && k < 128; k++)
        CHECK(count[k] > 0 && (per_shard[k] <= 100000 || count[k] == 1), "shard %d: %d tensors, %llu bytes", k, count[k],
              (unsigned long long)per_shard[k]);
    CHECK((uint64_t)json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size")) == total,
          "total_size != %llu", (unsigned long long)total);
    st_close(one);
    st_close(sh);
    json_decref(idx);
}

/* ---- mixture of experts ---- */

/* The model opens as the pipeline opens it (every tensor named and shaped as model.c expects). */
static void open_ok(const char *dir)
{
    awq_model *mm = NULL;
    CHECK(awq_model_open(&mm, t_path("%s", dir)) == AWQ_OK, "awq_model_open '%s': %s", dir, awq_errmsg());
    awq_model_close(mm);
}

static void t_mixtral_tiny(void)
{
    run_arch("mixtral", "--preset tiny-mixtral --seed 21");
    if (t_failed()) return;
    awq_config c;
    REQUIRE(awq_config_load(&c, t_path("mixtral")) == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_MIXTRAL && c.n_experts == 8 && c.n_experts_per_tok == 2 && c.moe_intermediate_size == c.intermediate_size &&
          c.norm_topk_prob && c.sliding_window == 0, "tiny-mixtral: %d experts top-%d width %d", c.n_experts, c.n_experts_per_tok,
          c.moe_intermediate_size);
    for (int i = 0; i < c.num_hidden_layers; i++) CHECK(awq_layer_experts(&c, i) == 8, "layer %d is dense", i);
    open_ok("mixtral");
}

static void t_qwen3_moe_tiny(void)
{
    run_arch("qwen3_moe", "--preset tiny-qwen3-moe --seed 22");
    if (t_failed()) return;
    awq_config c;
    REQUIRE(awq_config_load(&c, t_path("qwen3_moe")) == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_QWEN3_MOE && c.n_experts == 16 && c.n_experts_per_tok == 4 && c.moe_intermediate_size == 32 &&
          c.norm_topk_prob && c.qk_norm && c.head_dim * c.num_attention_heads > c.hidden_size,
          "tiny-qwen3-moe: %d experts top-%d width %d norm %d", c.n_experts, c.n_experts_per_tok, c.moe_intermediate_size,
          c.norm_topk_prob);
    open_ok("qwen3_moe");
}

/* Every option of the experts, and the dense layers of Qwen3-MoE: --mlp-only-layers and
 * --decoder-sparse-step, as transformers' Qwen3MoeDecoderLayer picks them. */
static void t_moe_options(void)
{
    run_arch("mixtral_o", "--arch mixtral --hidden 32 --heads 2 --kv-heads 1 --ffn 48 --layers 3 --experts 5 --experts-per-tok 1 "
                          "--dtype f32 --tie --seed 8");
    if (t_failed()) return;
    open_ok("mixtral_o");
    run_arch("qwen3_moe_o", "--arch qwen3_moe --layers 4 --experts 6 --experts-per-tok 3 --moe-ffn 40 --mlp-only-layers 0,2 "
                            "--no-norm-topk-prob --dtype bf16 --attention-bias --seed 9");
    if (t_failed()) return;
    open_ok("qwen3_moe_o");
    awq_config c;
    REQUIRE(awq_config_load(&c, t_path("qwen3_moe_o")) == AWQ_OK, "%s", awq_errmsg());
    static const int want_o[4] = {0, 6, 0, 6};
    for (int i = 0; i < 4; i++) CHECK(awq_layer_experts(&c, i) == want_o[i], "layer %d: %d experts", i, awq_layer_experts(&c, i));
    CHECK(!c.norm_topk_prob && c.qkv_bias && c.o_bias && c.n_experts_per_tok == 3, "norm %d bias %d/%d top-%d", c.norm_topk_prob,
          c.qkv_bias, c.o_bias, c.n_experts_per_tok);
    run_arch("qwen3_moe_s", "--arch qwen3_moe --layers 5 --decoder-sparse-step 2 --mlp-only-layers 3 --seed 10");
    if (t_failed()) return;
    open_ok("qwen3_moe_s");
    REQUIRE(awq_config_load(&c, t_path("qwen3_moe_s")) == AWQ_OK, "%s", awq_errmsg());
    static const int want_s[5] = {0, 16, 0, 0, 0}; /* (i+1) % 2 == 0: layers 1 and 3; 3 is mlp-only */
    for (int i = 0; i < 5; i++) CHECK(awq_layer_experts(&c, i) == want_s[i], "layer %d: %d experts", i, awq_layer_experts(&c, i));
}

/* Embed a token stream, run every block on the CPU (finite outputs), and count the tokens each
 * expert of each MoE layer receives: the router applied to the block's real mlp input
 * (post_attention_layernorm's output, captured by the forward) and routed by awq_moe_route, as
 * the forward routes them. Every expert must get at least one token; the spread is printed. */
static void forward_and_route(const char *dir, const char *tokens_file, int n_seq, int seqlen)
{
    awq_model *mm = NULL;
    REQUIRE(awq_model_open(&mm, t_path("%s", dir)) == AWQ_OK, "awq_model_open: %s", awq_errmsg());
    const awq_config *c = &mm->cfg;
    const size_t N = (size_t)n_seq * (size_t)seqlen, C = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    size_t len = 0;
    int32_t *ids = t_read_file(tokens_file, &len);
    float *x = malloc(N * C * 4), *mlp_in = malloc(N * C * 4), *router = malloc(AWQ_MAX_EXPERTS * C * 4);
    float *logits = malloc(N * AWQ_MAX_EXPERTS * 4), *wt = malloc(N * AWQ_MAX_EXPERTS * 4);
    int32_t *ex = malloc(N * AWQ_MAX_EXPERTS * 4);
    int moe_layers = 0;
    awq_fwd f;
    int fwd_ok = 0;
    if (!ids || len != N * 4 || !x || !mlp_in || !router || !logits || !wt || !ex) { CHECK(0, "tokens (%zu bytes) / oom", len); goto done; }
    const awq_backend *be = awq_backend_cpu();
    kern_weight emb = {mm->embed->data, awq_kern_dtype(mm->embed->dtype)};
    if (be->embed(be->ctx, x, ids, emb, N, C, V) != KERN_OK) { CHECK(0, "embed"); goto done; }
    if (awq_fwd_init(&f, be, c, n_seq, seqlen, 0, 0) != AWQ_OK) { CHECK(0, "fwd init: %s", awq_errmsg()); goto done; }
    fwd_ok = 1;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        awq_block_w w;
        awq_block b;
        awq_feats ft = {NULL, NULL, mlp_in, NULL, NULL, NULL, NULL, NULL};
        if (awq_block_w_host(mm, l, &w) != AWQ_OK || awq_model_block(mm, l, &b) != AWQ_OK) { CHECK(0, "block %d: %s", l, awq_errmsg()); break; }
        if (awq_block_forward(&f, &w, x, x, &ft) != AWQ_OK) { CHECK(0, "block %d forward: %s", l, awq_errmsg()); break; }
        size_t bad = 0;
        double ss = 0;
        for (size_t i = 0; i < N * C; i++) { bad += !isfinite(x[i]); ss += (double)x[i] * x[i]; }
        CHECK(bad == 0 && ss > 0, "%s block %d: %zu non-finite outputs (sum of squares %g)", dir, l, bad, ss);
        const int E = awq_layer_experts(c, l), K = c->n_experts_per_tok;
        if (!E) continue;
        moe_layers++;
        const st_tensor *r = b.t[AWQ_W_ROUTER];
        if (!r || r->shape[0] != E || (size_t)r->shape[1] != C) { CHECK(0, "layer %d: no [%d, %zu] router", l, E, C); break; }
        for (size_t i = 0; i < (size_t)E * C; i++) router[i] = decode(r->dtype, r->data, i);
        for (size_t t = 0; t < N; t++)
            for (int e = 0; e < E; e++) {
                double acc = 0;
                for (size_t j = 0; j < C; j++) acc += (double)mlp_in[t * C + j] * router[(size_t)e * C + j];
                logits[t * (size_t)E + (size_t)e] = (float)acc;
            }
        awq_moe_route(c, E, logits, N, 0, ex, wt);
        int count[AWQ_MAX_EXPERTS] = {0}, lo = INT32_MAX, hi = 0, starved = 0;
        for (size_t i = 0; i < N * (size_t)K; i++) count[ex[i]]++;
        for (int e = 0; e < E; e++) {
            lo = count[e] < lo ? count[e] : lo, hi = count[e] > hi ? count[e] : hi;
            starved += count[e] == 0;
        }
        fprintf(stderr, "  %s layer %d: %zu tokens x top-%d over %d experts: %d..%d per expert (mean %.1f)\n", dir, l, N, K, E, lo,
                hi, (double)N * K / E);
        CHECK(starved == 0, "%s layer %d: %d of %d experts receive no token (spread %d..%d)", dir, l, starved, E, lo, hi);
    }
    CHECK(moe_layers > 0, "%s: no MoE layer", dir);
done:
    if (fwd_ok) awq_fwd_free(&f);
    free(ids), free(x), free(mlp_in), free(router), free(logits), free(wt), free(ex);
    awq_model_close(mm);
}

static void t_moe_forward_routing(void)
{
    if (!gen_available()) return;
    /* 4 documents of 64 tokens from awq-gen-tokens (Zipf, BOS at each start) */
    char out[2048];
    REQUIRE(t_run(out, sizeof out, "%s/bin/awq-gen-tokens -q --vocab 512 --count 256 --seed 3 --bos 1 --doc-len 64 --out '%s'",
                  t_build_dir(), t_path("tokens.i32")) == 0, "awq-gen-tokens: %s", out);
    /* the presets as they come (seed 0), and Qwen3-MoE with a dense layer in the middle */
    REQUIRE(gen("fw_mixtral", "--preset tiny-mixtral") == 0 && gen("fw_qwen3", "--preset tiny-qwen3-moe") == 0 &&
            gen("fw_qwen3_dense", "--preset tiny-qwen3-moe --layers 3 --mlp-only-layers 1") == 0, "generation failed");
    forward_and_route("fw_mixtral", t_path("tokens.i32"), 4, 64);
    forward_and_route("fw_qwen3", t_path("tokens.i32"), 4, 64);
    forward_and_route("fw_qwen3_dense", t_path("tokens.i32"), 4, 64);
}

static void t_moe_deterministic(void)
{
    if (!gen_available()) return;
    REQUIRE(gen("ma", "--preset tiny-qwen3-moe --seed 41") == 0 && gen("mb", "--preset tiny-qwen3-moe --seed 41") == 0 &&
            gen("mc", "--preset tiny-qwen3-moe --seed 42") == 0, "generation failed");
    CHECK(same_dirs("ma", "mb"), "same arguments gave different files");
    size_t la, lc;
    char *fa = t_read_file(t_path("ma/model.safetensors"), &la), *fc = t_read_file(t_path("mc/model.safetensors"), &lc);
    REQUIRE(fa && fc, "read");
    CHECK(la == lc && memcmp(fa, fc, la) != 0, "another seed gave the same bytes");
    free(fa);
    free(fc);
    REQUIRE(gen("xa", "--preset tiny-mixtral --seed 43") == 0 && gen("xb", "--preset tiny-mixtral --seed 43") == 0, "generation failed");
    CHECK(same_dirs("xa", "xb"), "same arguments gave different files (mixtral)");
}

/* config.json against the one transformers itself wrote for the class (tests/golden/{mixtral,qwen3}_moe,
 * transformers 5.23): every key of it present with the same JSON type (integer and real are
 * different types: attention_dropout must be 0.0, not 0), and no key it lacks but those of the
 * transformers 4 form the released checkpoints have (torch_dtype for dtype, rope_theta and
 * rope_scaling for rope_parameters, Qwen3-MoE's num_experts for num_local_experts, and
 * max_window_layers, which Qwen3-30B-A3B's file has). A key null in the golden is unset there:
 * it may be absent, null or (all of those here are) an integer. */
static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE: case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static void compare_keys(const char *golden_path, const char *dir, int qwen)
{
    json_error_t err;
    json_t *g = json_load_file(golden_path, 0, &err), *o = json_load_file(t_path("%s/config.json", dir), 0, &err);
    if (!g || !o) { CHECK(0, "cannot read %s or %s/config.json: %s", golden_path, dir, err.text); json_decref(g), json_decref(o); return; }
    const char *key;
    json_t *gv;
    json_object_foreach(g, key, gv) {
        const char *ok = key;
        const json_t *gw = gv;
        if (!strcmp(key, "transformers_version")) continue; /* the writer's, not the model's */
        if (!strcmp(key, "dtype")) ok = "torch_dtype";
        if (!strcmp(key, "num_local_experts") && qwen) ok = "num_experts";
        if (!strcmp(key, "rope_parameters")) ok = "rope_theta", gw = json_object_get(gv, "rope_theta");
        json_t *v = json_object_get(o, ok);
        if (json_is_null(gv)) {
            CHECK(!v || json_is_null(v) || json_is_integer(v), "%s: '%s' (null in the golden) is %s", dir, ok, json_kind(v));
            continue;
        }
        if (!v) { CHECK(0, "%s: key '%s' (golden '%s') is missing", dir, ok, key); continue; }
        CHECK(gw && !strcmp(json_kind(v), json_kind(gw)), "%s: '%s' is %s, transformers writes %s", dir, ok, json_kind(v),
              gw ? json_kind(gw) : "?");
        if (json_is_array(gw) && json_is_array(v))
            for (size_t i = 0; i < json_array_size(v) && json_array_size(gw); i++)
                CHECK(!strcmp(json_kind(json_array_get(v, i)), json_kind(json_array_get(gw, 0))), "%s: '%s[%zu]' is %s", dir, ok, i,
                      json_kind(json_array_get(v, i)));
    }
    static const char *const v4[] = {"torch_dtype", "rope_theta", "rope_scaling", "num_experts", "max_window_layers"};
    json_t *ov;
    json_object_foreach(o, key, ov) {
        int known = json_object_get(g, key) != NULL;
        for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) known |= !strcmp(key, v4[i]);
        if (!strcmp(key, "num_experts") && !qwen) known = 0; /* Mixtral says num_local_experts */
        CHECK(known, "%s: key '%s' is not in %s", dir, key, golden_path);
    }
    json_decref(g);
    json_decref(o);
}

static void t_moe_config_keys(void)
{
    if (!gen_available()) return;
    REQUIRE(gen("keys_mixtral", "--preset tiny-mixtral") == 0 && gen("keys_qwen3", "--preset tiny-qwen3-moe --mlp-only-layers 1") == 0,
            "generation failed");
    compare_keys("tests/golden/mixtral_moe/config.json", "keys_mixtral", 0);
    compare_keys("tests/golden/qwen3_moe/config.json", "keys_qwen3", 1);
    /* and the golden ones read as the generated ones do (the same reader, the same fields) */
    awq_config a, b;
    REQUIRE(awq_config_load(&a, "tests/golden/qwen3_moe/config.json") == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_config_load(&b, t_path("keys_qwen3")) == AWQ_OK, "%s", awq_errmsg());
    CHECK(a.n_experts > 0 && b.n_experts > 0 && a.mlp_only[1] && b.mlp_only[1] && !b.mlp_only[0], "experts / mlp_only_layers");
}

/* --dry-run's JSON of a generator run, stdout into a file. NULL (failed check) on error. */
static json_t *dry_run(const char *tag, const char *args)
{
    char out[2048];
    const char *path = t_path("%s.json", tag);
    int rc = t_run(out, sizeof out, "%s/bin/awq-gen-model -q %s --dry-run > '%s'", t_build_dir(), args, path);
    if (rc != 0) { CHECK(0, "awq-gen-model %s --dry-run -> %d: %s", args, rc, out); return NULL; }
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    CHECK(j, "%s: %s", path, err.text);
    return j;
}

static int cmp_u64_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* The header(s) of a dry run against the tensors the config calls for (names, F16, shapes),
 * with contiguous data offsets; returns the config read back and the tensor bytes. */
static uint64_t check_dry_headers(json_t *j, awq_config *c)
{
    char *text = json_dumps(json_object_get(j, "config"), 0);
    awq_err e = text ? awq_config_parse(c, text, strlen(text), "dry-run config") : AWQ_ERR_NOMEM;
    free(text);
    if (e != AWQ_OK) { CHECK(0, "config: %s", awq_errmsg()); return 0; }
    want *w = malloc((size_t)max_tensors(c) * sizeof *w);
    if (!w) { CHECK(0, "oom"); return 0; }
    int nw = expected_tensors(c, w), seen = 0;
    uint64_t total = 0;
    json_t *files = json_object_get(j, "files"), *h;
    const char *fname;
    json_object_foreach(files, fname, h) {
        size_t n = json_object_size(h);
        uint64_t (*span)[2] = calloc(n, sizeof *span), file_bytes = 0;
        size_t k = 0;
        const char *name;
        json_t *entry;
        json_object_foreach(h, name, entry) {
            if (!strcmp(name, "__metadata__")) continue;
            const want *wt = NULL;
            for (int i = 0; i < nw; i++)
                if (!strcmp(w[i].name, name)) wt = &w[i];
            seen++;
            if (!wt) { CHECK(0, "%s: unexpected tensor '%s'", fname, name); continue; }
            json_t *shape = json_object_get(entry, "shape"), *offs = json_object_get(entry, "data_offsets");
            int64_t d0 = json_integer_value(json_array_get(shape, 0)), d1 = json_integer_value(json_array_get(shape, 1));
            CHECK(!strcmp(json_string_value(json_object_get(entry, "dtype")), "F16") && (int)json_array_size(shape) == wt->ndim &&
                  d0 == wt->shape[0] && (wt->ndim < 2 || d1 == wt->shape[1]), "'%s': shape [%lld, %lld] rank %zu, want [%lld, %lld] rank %d",
                  name, (long long)d0, (long long)d1, json_array_size(shape), (long long)wt->shape[0], (long long)wt->shape[1], wt->ndim);
            uint64_t bytes = (uint64_t)wt->shape[0] * (uint64_t)(wt->ndim == 2 ? wt->shape[1] : 1) * 2;
            uint64_t a = (uint64_t)json_integer_value(json_array_get(offs, 0)), b = (uint64_t)json_integer_value(json_array_get(offs, 1));
            CHECK(b - a == bytes, "'%s': data_offsets [%llu, %llu] for %llu bytes", name, (unsigned long long)a, (unsigned long long)b,
                  (unsigned long long)bytes);
            if (span && k < n) span[k][0] = a, span[k][1] = b, k++;
            file_bytes += bytes;
        }
        if (span) {
            qsort(span, k, sizeof *span, cmp_u64_pair);
            for (size_t i = 0; i < k; i++)
                CHECK(span[i][0] == (i ? span[i - 1][1] : 0), "%s: data not contiguous at %llu", fname, (unsigned long long)span[i][0]);
        }
        free(span);
        total += file_bytes;
    }
    CHECK(seen == nw, "%d tensors in the headers, the config calls for %d", seen, nw);
    CHECK((uint64_t)json_integer_value(json_object_get(j, "total_size")) == total, "total_size %lld, headers %llu",
          (long long)json_integer_value(json_object_get(j, "total_size")), (unsigned long long)total);
    free(w);
    return total;
}

/* Routing at full size for a seeded random batch: N tokens x ~ N(0, 1) per channel, RMS-normed
 * and times layer 0's post_attention_layernorm (outlier channels included), through layer 0's
 * router as stored (fp16); every expert must receive a token. */
static void full_size_routing(json_t *j, const awq_config *c, const char *tag)
{
    syn_model m;
    if (sidecar_model(json_object_get(j, "sidecar"), tag, &m) != 0) return;
    int n = 0;
    syn_tensor *plan = syn_plan(&m, &n);
    const syn_tensor *norm = NULL, *router = NULL;
    const char *rname = m.arch == AWQ_ARCH_MIXTRAL ? "model.layers.0.block_sparse_moe.gate.weight" : "model.layers.0.mlp.gate.weight";
    for (int i = 0; plan && i < n; i++) {
        if (!strcmp(plan[i].name, "model.layers.0.post_attention_layernorm.weight")) norm = &plan[i];
        if (!strcmp(plan[i].name, rname)) router = &plan[i];
    }
    const size_t N = 512, C = (size_t)m.hidden, E = (size_t)c->n_experts, K = (size_t)c->n_experts_per_tok;
    float *R = malloc(E * C * 4), *g = malloc(C * 4), *x = malloc(C * 4), *logits = malloc(N * E * 4), *wt = malloc(N * K * 4);
    int32_t *ex = malloc(N * K * 4);
    if (!plan || !norm || !router || router->shape[0] != (int64_t)E || !R || !g || !x || !logits || !wt || !ex) {
        CHECK(0, "%s: plan / router / oom", tag);
        goto done;
    }
    for (size_t i = 0; i < E * C; i++) R[i] = awq_f16_to_f32(syn_to_half(AWQ_DT_F16, syn_value(&m, router, i)));
    for (size_t i = 0; i < C; i++) g[i] = awq_f16_to_f32(syn_to_half(AWQ_DT_F16, syn_value(&m, norm, i)));
    for (size_t t = 0; t < N; t++) {
        double ss = 0;
        for (size_t i = 0; i < C; i++) {
            float u = t_randf(-1, 1) + t_randf(-1, 1) + t_randf(-1, 1) + t_randf(-1, 1); /* bell-shaped, var 4/3 */
            x[i] = u, ss += (double)u * u;
        }
        float inv = (float)(1.0 / sqrt(ss / (double)C + 1e-6));
        for (size_t i = 0; i < C; i++) x[i] *= inv * g[i];
        for (size_t e = 0; e < E; e++) {
            double acc = 0;
            for (size_t i = 0; i < C; i++) acc += (double)x[i] * R[e * C + i];
            logits[t * E + e] = (float)acc;
        }
    }
    awq_moe_route(c, (int)E, logits, N, 0, ex, wt);
    int count[AWQ_MAX_EXPERTS] = {0}, lo = INT32_MAX, hi = 0, starved = 0;
    for (size_t i = 0; i < N * K; i++) count[ex[i]]++;
    for (size_t e = 0; e < E; e++) {
        lo = count[e] < lo ? count[e] : lo, hi = count[e] > hi ? count[e] : hi;
        starved += count[e] == 0;
    }
    fprintf(stderr, "  %s layer 0: %zu random tokens x top-%zu over %zu experts: %d..%d per expert (mean %.1f)\n", tag, N, K, E, lo,
            hi, (double)N * K / E);
    CHECK(starved == 0, "%s: %d of %zu experts receive no token (spread %d..%d)", tag, starved, E, lo, hi);
done:
    free(plan), free(R), free(g), free(x), free(logits), free(wt), free(ex);
    syn_free(&m);
}

/* The full-size presets with --layers 1, shown by --dry-run (3.4, 2.5 and 7.5 GB were they written):
 * the published dims in config.json, every tensor's name and shape in the safetensors header,
 * the bytes, and routing spread over all experts. */
static void t_full_size_presets(void)
{
    if (!gen_available()) return;
    awq_config c;
    json_t *j = dry_run("mixtral_8x7b", "--preset mixtral-8x7b --layers 1");
    if (j) {
        uint64_t total = check_dry_headers(j, &c);
        /* Mixtral-8x7B-v0.1's config.json */
        CHECK(c.arch == AWQ_ARCH_MIXTRAL && c.hidden_size == 4096 && c.intermediate_size == 14336 && c.num_attention_heads == 32 &&
              c.num_key_value_heads == 8 && c.head_dim == 128 && c.n_experts == 8 && c.n_experts_per_tok == 2 &&
              c.moe_intermediate_size == 14336 && c.vocab_size == 32000 && c.num_hidden_layers == 1 &&
              c.max_position_embeddings == 32768 && c.rope_theta == 1e6 && c.rms_norm_eps == 1e-5 && !c.tie_word_embeddings,
              "mixtral-8x7b dims");
        /* 2 x 32000 x 4096 (embed, lm_head) + 2 x 4096^2 + 2 x 1024 x 4096 (attention) + 3 x 4096 (norms)
         * + 8 x 4096 (router) + 8 x 3 x 14336 x 4096 (experts), fp16 */
        CHECK(total == 3426836480ull, "mixtral-8x7b --layers 1: %llu bytes", (unsigned long long)total);
        full_size_routing(j, &c, "mixtral-8x7b");
        json_decref(j);
    }
    j = dry_run("qwen3_30b", "--preset qwen3-30b-a3b --layers 1");
    if (j) {
        uint64_t total = check_dry_headers(j, &c);
        /* Qwen3-30B-A3B's config.json */
        CHECK(c.arch == AWQ_ARCH_QWEN3_MOE && c.hidden_size == 2048 && c.intermediate_size == 6144 && c.num_attention_heads == 32 &&
              c.num_key_value_heads == 4 && c.head_dim == 128 && c.n_experts == 128 && c.n_experts_per_tok == 8 &&
              c.moe_intermediate_size == 768 && c.norm_topk_prob && c.qk_norm && c.vocab_size == 151936 && c.decoder_sparse_step == 1 &&
              c.max_position_embeddings == 40960 && c.rope_theta == 1e6 && c.rms_norm_eps == 1e-6 && c.bos_token_id == 151643 &&
              c.eos_token_id == 151645 && !c.tie_word_embeddings && awq_layer_experts(&c, 0) == 128, "qwen3-30b-a3b dims");
        /* 2 x 151936 x 2048 + (4096 + 512 + 512) x 2048 + 2048 x 4096 + 3 x 2048 + 2 x 128 + 128 x 2048
         * + 128 x 3 x 768 x 2048, fp16 */
        CHECK(total == 2490905088ull, "qwen3-30b-a3b --layers 1: %llu bytes", (unsigned long long)total);
        full_size_routing(j, &c, "qwen3-30b-a3b");
        json_decref(j);
    }
    j = dry_run("qwen3_235b", "--preset qwen3-235b-a22b --layers 1");
    if (j) {
        uint64_t total = check_dry_headers(j, &c);
        /* Qwen3-235B-A22B's config.json */
        CHECK(c.arch == AWQ_ARCH_QWEN3_MOE && c.hidden_size == 4096 && c.intermediate_size == 12288 && c.num_attention_heads == 64 &&
              c.num_key_value_heads == 4 && c.head_dim == 128 && c.n_experts == 128 && c.n_experts_per_tok == 8 &&
              c.moe_intermediate_size == 1536 && c.norm_topk_prob && c.qk_norm && c.vocab_size == 151936 && c.decoder_sparse_step == 1 &&
              c.max_position_embeddings == 40960 && c.rope_theta == 1e6 && c.rms_norm_eps == 1e-6 && c.bos_token_id == 151643 &&
              c.eos_token_id == 151645 && !c.tie_word_embeddings && awq_layer_experts(&c, 0) == 128, "qwen3-235b-a22b dims");
        /* 2 x 151936 x 4096 + (8192 + 512 + 512) x 4096 + 4096 x 8192 + 3 x 4096 + 2 x 128 + 128 x 4096
         * + 128 x 3 x 1536 x 4096, fp16 */
        CHECK(total == 7464837632ull, "qwen3-235b-a22b --layers 1: %llu bytes", (unsigned long long)total);
        full_size_routing(j, &c, "qwen3-235b-a22b");
        json_decref(j);
    }
    /* a dense layer at full size: intermediate_size wide; and shards */
    j = dry_run("qwen3_30b_dense", "--preset qwen3-30b-a3b --layers 2 --mlp-only-layers 0 --shard-size 1GB");
    if (j) {
        check_dry_headers(j, &c);
        CHECK(awq_layer_experts(&c, 0) == 0 && awq_layer_experts(&c, 1) == 128, "mlp_only_layers [0]");
        CHECK(json_object_size(json_object_get(j, "files")) >= 3, "1 GB shards: %zu files", json_object_size(json_object_get(j, "files")));
        json_decref(j);
    }
}

/* DeepSeek-V3 at full size with --layers 2 (--dry-run; 27.9 GB were it written): one dense and one
 * MoE block, the published latent attention dims, every tensor counted and the bytes by hand. */
static void t_deepseek_v3_preset(void)
{
    if (!gen_available()) return;
    json_t *j = dry_run("deepseek_v3", "--preset deepseek-v3 --layers 2");
    if (!j) return;
    json_t *c = json_object_get(j, "config");
#define CI(k) json_integer_value(json_object_get(c, k))
    CHECK(CI("hidden_size") == 7168 && CI("intermediate_size") == 18432 && CI("moe_intermediate_size") == 2048 &&
          CI("num_attention_heads") == 128 && CI("q_lora_rank") == 1536 && CI("kv_lora_rank") == 512 &&
          CI("qk_nope_head_dim") == 128 && CI("qk_rope_head_dim") == 64 && CI("v_head_dim") == 128 &&
          CI("n_routed_experts") == 256 && CI("num_experts_per_tok") == 8 && CI("n_shared_experts") == 1 && CI("n_group") == 8 &&
          CI("topk_group") == 4 && CI("first_k_dense_replace") == 1 && CI("vocab_size") == 129280 && CI("num_hidden_layers") == 2,
          "deepseek-v3 dims");
#undef CI
    size_t n = 0;
    const char *fname;
    json_t *hdr;
    json_object_foreach(json_object_get(j, "files"), fname, hdr) n += json_object_size(hdr) - (json_object_get(hdr, "__metadata__") != NULL);
    /* embed, lm_head, final norm; 2 x (7 attention tensors + 2 norms); dense mlp 3; router + bias + 256 x 3 + shared 3 */
    CHECK(n == 797, "%zu tensors", n);
    /* elements: 2 x 129280 x 7168 + 2 x 187121664 (attention, norms) + 3 x 18432 x 7168 + 256 x 7168 + 256
     * + 256 x 3 x 2048 x 7168 + 3 x 2048 x 7168 + 7168, fp16 */
    CHECK(json_integer_value(json_object_get(j, "total_size")) == 27888269824ll, "deepseek-v3 --layers 2: %lld bytes",
          (long long)json_integer_value(json_object_get(j, "total_size")));
    json_decref(j);
}

/* What --dry-run shows is what is written: the same headers, config.json and sidecar. */
static void t_dry_run_matches(void)
{
    if (!gen_available()) return;
    const char *args = "--preset tiny-qwen3-moe --mlp-only-layers 0 --seed 5 --shard-size 200KB";
    REQUIRE(gen("written", args) == 0, "generation failed");
    char full[512];
    snprintf(full, sizeof full, "--out '%s' %s", t_path("not_written"), args);
    json_t *j = dry_run("dry", full);
    REQUIRE(j, "dry run");
    struct stat st;
    CHECK(stat(t_path("not_written"), &st) != 0, "--dry-run created its --out");
    json_error_t err;
    json_t *cfg = json_load_file(t_path("written/config.json"), 0, &err), *side = json_load_file(t_path("written/awqmake_synthetic.json"), 0, &err);
    CHECK(cfg && json_equal(cfg, json_object_get(j, "config")), "config.json differs from the dry run's");
    CHECK(side && json_equal(side, json_object_get(j, "sidecar")), "awqmake_synthetic.json differs from the dry run's");
    json_decref(cfg);
    json_decref(side);
    const char *fname;
    json_t *h;
    size_t nfiles = 0;
    json_object_foreach(json_object_get(j, "files"), fname, h) {
        size_t len = 0;
        unsigned char *f = t_read_file(t_path("written/%s", fname), &len);
        uint64_t hl = 0;
        for (int b = 0; f && len >= 8 && b < 8; b++) hl |= (uint64_t)f[b] << (8 * b);
        json_t *got = f && len >= 8 + hl ? json_loadb((const char *)f + 8, hl, 0, &err) : NULL;
        CHECK(got && json_equal(got, h), "'%s': written header differs from the dry run's", fname);
        json_decref(got);
        free(f);
        nfiles++;
    }
    CHECK(nfiles >= 3, "only %zu files", nfiles);
    json_decref(j);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"llama_tiny", t_llama_tiny},
        {"llama_biases_tied_bf16", t_llama_biases_tied_bf16},
        {"mistral", t_mistral},
        {"qwen2_f32_tied", t_qwen2_f32_tied},
        {"qwen3_head_dim", t_qwen3_head_dim},
        {"deterministic", t_deterministic},
        {"sharded", t_sharded},
        {"mixtral_tiny", t_mixtral_tiny},
        {"qwen3_moe_tiny", t_qwen3_moe_tiny},
        {"moe_options", t_moe_options},
        {"moe_forward_routing", t_moe_forward_routing},
        {"moe_deterministic", t_moe_deterministic},
        {"moe_config_keys", t_moe_config_keys},
        {"full_size_presets", t_full_size_presets},
        {"deepseek_v3_preset", t_deepseek_v3_preset},
        {"dry_run_matches", t_dry_run_matches},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
