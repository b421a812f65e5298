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
 * CLI refusals and gen-tokens are in t_genmodel.sh / test_gentokens below. */
#include "test.h"
#include "../stages/common/config.h"
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

/* The model as the sidecar describes it (outlier channels recomputed by syn_init and compared). */
static int load_sidecar(const char *dir, syn_model *m)
{
    json_error_t err;
    json_t *j = json_load_file(t_path("%s/awqmake_synthetic.json", dir), 0, &err);
    if (!j) { CHECK(0, "sidecar: %s", err.text); return -1; }
    memset(m, 0, sizeof *m);
    const char *arch = json_string_value(json_object_get(j, "arch"));
    m->arch = !arch ? 0 : !strcmp(arch, "llama") ? AWQ_ARCH_LLAMA : !strcmp(arch, "mistral") ? AWQ_ARCH_MISTRAL
            : !strcmp(arch, "qwen2") ? AWQ_ARCH_QWEN2 : !strcmp(arch, "qwen3") ? AWQ_ARCH_QWEN3 : 0;
    m->dtype = awq_dtype_parse(json_string_value(json_object_get(j, "dtype")));
#define GETI(f, key) m->f = (int)json_integer_value(json_object_get(j, key))
    GETI(hidden, "hidden"); GETI(ffn, "ffn"); GETI(layers, "layers"); GETI(heads, "heads");
    GETI(kv_heads, "kv_heads"); GETI(head_dim, "head_dim"); GETI(vocab, "vocab");
#undef GETI
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
    json_decref(j);
    return ok ? 0 : -1;
}

/* The checkpoint's tensors by spec §1.2, from the config alone. */
typedef struct want { char name[96]; int ndim; int64_t shape[2]; } want;

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
    double want_std = is_bias ? SYN_BIAS_STD : 1.0 / sqrt((double)t->shape[1]);
    double s = 0, s2 = 0, s2_out = 0, maxabs = 0;
    uint64_t n_out = 0;
    for (uint64_t i = 0; i < n; i++) {
        double v = decode(t->dtype, t->data, i);
        if (is_embed && m->is_outlier[i % (uint64_t)m->hidden]) { s2_out += v * v; n_out++; continue; }
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
        double r = rms_out / (want_std * m->embed_outlier_scale);
        CHECK(fabs(r - 1) < 0.1, "'%s': outlier columns rms %g, expected %g", t->name, rms_out, want_std * m->embed_outlier_scale);
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
          c.qk_norm == (m.arch == AWQ_ARCH_QWEN3), "bias/qk-norm flags: qkv %d o %d mlp %d qk %d", c.qkv_bias, c.o_bias, c.mlp_bias, c.qk_norm);

    st_model *sm = NULL;
    e = st_open(&sm, t_path("%s", dir));
    if (e != AWQ_OK) { CHECK(0, "st_open: %s", awq_errmsg()); syn_free(&m); return; }
    want w[1024];
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
    check_formula(sm, "model.layers.0.mlp.down_proj.weight", m.seed);
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
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
