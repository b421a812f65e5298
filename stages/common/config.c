/* config.c - read an HF config.json into awq_config (spec §1.1): the class defaults of each
 * supported architecture, both rope forms (rope_theta + rope_scaling, and transformers v5
 * rope_parameters), and every refusal (architecture, activation, rope type, sliding window). */
#include "config.h"
#include "jsonutil.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CONFIG_BYTES ((size_t)16 << 20)
/* Sliding windows at least this long change nothing at our sequence lengths (512 calibration,
 * 2048 evaluation), so only shorter active windows are refused. */
#define MIN_WINDOW 2048

static const struct {
    const char *architecture, *model_type;
    awq_arch arch;
} g_archs[] = {
    {"LlamaForCausalLM", "llama", AWQ_ARCH_LLAMA},
    {"MistralForCausalLM", "mistral", AWQ_ARCH_MISTRAL},
    {"Qwen2ForCausalLM", "qwen2", AWQ_ARCH_QWEN2},
    {"Qwen3ForCausalLM", "qwen3", AWQ_ARCH_QWEN3},
    {"MixtralForCausalLM", "mixtral", AWQ_ARCH_MIXTRAL},
    {"Qwen3MoeForCausalLM", "qwen3_moe", AWQ_ARCH_QWEN3_MOE},
    {"DeepseekV3ForCausalLM", "deepseek_v3", AWQ_ARCH_DEEPSEEK_V3},
    {"Phi3ForCausalLM", "phi3", AWQ_ARCH_PHI3},
    {"Gemma2ForCausalLM", "gemma2", AWQ_ARCH_GEMMA2},
    {"Gemma3ForCausalLM", "gemma3_text", AWQ_ARCH_GEMMA3},
};
#define N_ARCHS (sizeof g_archs / sizeof g_archs[0])
#define SUPPORTED_HINT "supported architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, " \
                       "MixtralForCausalLM, Qwen3MoeForCausalLM, DeepseekV3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM, " \
                       "Gemma3ForCausalLM"

const char *awq_arch_name(awq_arch a)
{
    for (size_t i = 0; i < N_ARCHS; i++)
        if (g_archs[i].arch == a) return g_archs[i].model_type;
    return "?";
}


/* The reader's context: the file name for messages. Keys in messages are written as paths
 * ("rope_scaling.factor") so the user finds them in the file. */
typedef struct rd { const char *file; } rd;

static awq_err bad_type(const rd *r, const char *prefix, const char *key, const json_t *v, const char *want)
{
    return awq_fail(AWQ_ERR_FORMAT, "'%s': key '%s%s' is %s, expected %s", r->file, prefix, key, awq_json_kind(v), want);
}

/* An integer key: absent or null leaves *out at the default and *present 0. */
static awq_err get_int(const rd *r, json_t *obj, const char *prefix, const char *key, long long lo, long long hi,
                       int *out, int *present)
{
    json_t *v = json_object_get(obj, key);
    if (present) *present = 0;
    if (!v || json_is_null(v)) return AWQ_OK;
    if (!json_is_integer(v)) return bad_type(r, prefix, key, v, "an integer");
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': key '%s%s' = %lld is out of range [%lld, %lld]", r->file, prefix, key, x, lo, hi);
    *out = (int)x;
    if (present) *present = 1;
    return AWQ_OK;
}

static awq_err get_required_int(const rd *r, json_t *obj, const char *key, long long hi, int *out)
{
    int present;
    awq_err e = get_int(r, obj, "", key, 1, hi, out, &present);
    if (e == AWQ_OK && !present) return awq_fail(AWQ_ERR_FORMAT, "'%s': required key '%s' is missing", r->file, key);
    return e;
}

/* A number key (integer or real), finite, lo < x <= hi. */
static awq_err get_number(const rd *r, json_t *obj, const char *prefix, const char *key, double lo, double hi,
                          double *out, int *present)
{
    json_t *v = json_object_get(obj, key);
    if (present) *present = 0;
    if (!v || json_is_null(v)) return AWQ_OK;
    if (!json_is_number(v)) return bad_type(r, prefix, key, v, "a number");
    double x = json_number_value(v);
    if (!isfinite(x) || !(x > lo) || x > hi)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': key '%s%s' = %g is out of range (%g, %g]", r->file, prefix, key, x, lo, hi);
    *out = x;
    if (present) *present = 1;
    return AWQ_OK;
}

static awq_err get_bool(const rd *r, json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return AWQ_OK;
    if (!json_is_boolean(v)) return bad_type(r, "", key, v, "true or false");
    *out = json_is_true(v);
    return AWQ_OK;
}

/* A string key: NULL when absent or null. */
static awq_err get_string(const rd *r, json_t *obj, const char *prefix, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return AWQ_OK;
    if (!json_is_string(v)) return bad_type(r, prefix, key, v, "a string");
    *out = json_string_value(v);
    return AWQ_OK;
}

/* architectures[0] decides; model_type, when present, must agree with it (the class defaults
 * below depend on both, so a mix is not a model we know). */
static awq_err read_arch(const rd *r, json_t *root, awq_config *cfg)
{
    json_t *archs = json_object_get(root, "architectures");
    const char *mt;
    awq_err e = get_string(r, root, "", "model_type", &mt);
    if (e) return e;
    const char *name = NULL;
    if (archs && !json_is_null(archs)) {
        if (!json_is_array(archs) || json_array_size(archs) == 0 || !json_is_string(json_array_get(archs, 0)))
            return awq_fail(AWQ_ERR_FORMAT, "'%s': key 'architectures' must be a non-empty array of strings", r->file);
        name = json_string_value(json_array_get(archs, 0));
    }
    int found = -1;
    for (size_t i = 0; i < N_ARCHS; i++)
        if (name ? strcmp(name, g_archs[i].architecture) == 0 : mt && strcmp(mt, g_archs[i].model_type) == 0)
            found = (int)i;
    if (found < 0) {
        if (name)
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': unsupported architecture '%.100s'", r->file, name);
        else if (mt)
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': unsupported model_type '%.100s' (and no 'architectures')", r->file, mt);
        else
            awq_fail(AWQ_ERR_FORMAT, "'%s': neither 'architectures' nor 'model_type' says which model this is", r->file);
        awq_hint(SUPPORTED_HINT);
        return awq_errcode();
    }
    if (mt && strcmp(mt, g_archs[found].model_type) != 0)
        return awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': architecture '%s' with model_type '%.100s' (expected '%s')", r->file,
                        g_archs[found].architecture, mt, g_archs[found].model_type);
    cfg->arch = g_archs[found].arch;
    snprintf(cfg->architecture, sizeof cfg->architecture, "%s", g_archs[found].architecture);
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", g_archs[found].model_type);
    return AWQ_OK;
}

static awq_err read_dims(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    if ((e = get_required_int(r, root, "hidden_size", 1 << 17, &cfg->hidden_size)) ||
        (e = get_required_int(r, root, "intermediate_size", 1 << 20, &cfg->intermediate_size)) ||
        (e = get_required_int(r, root, "num_hidden_layers", AWQ_MAX_LAYERS, &cfg->num_hidden_layers)) ||
        (e = get_required_int(r, root, "num_attention_heads", 1024, &cfg->num_attention_heads)) ||
        (e = get_required_int(r, root, "vocab_size", 1 << 22, &cfg->vocab_size)))
        return e;
    int H = cfg->num_attention_heads, C = cfg->hidden_size;
    cfg->num_key_value_heads = H;
    if ((e = get_int(r, root, "", "num_key_value_heads", 1, 1024, &cfg->num_key_value_heads, NULL)))
        return e;
    if (cfg->arch == AWQ_ARCH_DEEPSEEK_V3) { /* head_dim is derived (read_mla); the file's is qk_rope_head_dim */
        /* kv_b_proj makes H key/value heads; eager attention would repeat them H/Hkv times more */
        if (cfg->num_key_value_heads != H)
            return awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': num_key_value_heads %d differs from num_attention_heads %d; "
                            "multi-head latent attention has one key/value head per query head", r->file,
                            cfg->num_key_value_heads, H);
        cfg->max_position_embeddings = 4096; /* DeepseekV3Config's default (yarn's fallback) */
        if ((e = get_int(r, root, "", "max_position_embeddings", 1, 1 << 30, &cfg->max_position_embeddings, NULL))) return e;
        return get_number(r, root, "", "rms_norm_eps", 0, 1, &cfg->rms_norm_eps, NULL);
    }
    if (cfg->arch == AWQ_ARCH_PHI3) cfg->rms_norm_eps = 1e-5, cfg->max_position_embeddings = 4096; /* Phi3Config's */
    if (cfg->arch == AWQ_ARCH_GEMMA2) cfg->head_dim = 256, cfg->max_position_embeddings = 8192; /* Gemma2Config's */
    if (cfg->arch == AWQ_ARCH_GEMMA3) cfg->head_dim = 256, cfg->max_position_embeddings = 131072; /* Gemma3TextConfig's */
    if (H % cfg->num_key_value_heads != 0)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': num_attention_heads %d is not a multiple of num_key_value_heads %d", r->file,
                        H, cfg->num_key_value_heads);
    int has_d;
    if ((e = get_int(r, root, "", "head_dim", 1, 1024, &cfg->head_dim, &has_d))) return e;
    if (!has_d && cfg->arch != AWQ_ARCH_GEMMA2 && cfg->arch != AWQ_ARCH_GEMMA3) {
        if (C % H != 0)
            return awq_fail(AWQ_ERR_FORMAT, "'%s': hidden_size %d is not a multiple of num_attention_heads %d (and no head_dim)",
                            r->file, C, H);
        cfg->head_dim = C / H;
    }
    if (cfg->head_dim % 2 != 0)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': head_dim %d is odd; RoPE rotates the two halves of a head", r->file, cfg->head_dim);
    if ((long long)H * cfg->head_dim > (1 << 20))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': num_attention_heads * head_dim = %lld is implausibly large", r->file,
                        (long long)H * cfg->head_dim);
    if ((e = get_int(r, root, "", "max_position_embeddings", 1, 1 << 30, &cfg->max_position_embeddings, NULL))) return e;
    return get_number(r, root, "", "rms_norm_eps", 0, 1, &cfg->rms_norm_eps, NULL);
}

static double yarn_get_mscale(double scale, double mscale)
{
    return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

/* YaRN (DeepseekV3): transformers' _compute_yarn_parameters and standardize_rope_params. The
 * original context is a top-level original_max_position_embeddings when the file has one (it wins,
 * as in standardize_rope_params), else the rope dict's, else max_position_embeddings. */
static awq_err read_yarn(const rd *r, json_t *root, json_t *rp, const char *prefix, awq_config *cfg)
{
    awq_err e;
    int has_factor, has_af = 0, top = 0, inner = 0;
    double af = 0;
    cfg->rope_type = AWQ_ROPE_YARN;
    cfg->rope_beta_fast = 32, cfg->rope_beta_slow = 1, cfg->rope_truncate = 1;
    if ((e = get_number(r, rp, prefix, "factor", 0, 1e6, &cfg->rope_factor, &has_factor))) return e;
    if (!has_factor) return awq_fail(AWQ_ERR_FORMAT, "'%s': yarn RoPE needs key '%sfactor'", r->file, prefix);
    cfg->rope_original_max_position_embeddings = cfg->max_position_embeddings;
    if ((e = get_int(r, rp, prefix, "original_max_position_embeddings", 1, 1 << 30,
                     &cfg->rope_original_max_position_embeddings, &inner)) ||
        (e = get_int(r, root, "", "original_max_position_embeddings", 1, 1 << 30,
                     &cfg->rope_original_max_position_embeddings, &top)))
        return e;
    (void)inner, (void)top;
    double bf = 0, bs = 0;
    json_t *tr = json_object_get(rp, "truncate");
    if (tr && !json_is_null(tr)) {
        if (!json_is_boolean(tr)) return bad_type(r, prefix, "truncate", tr, "true or false");
        cfg->rope_truncate = json_is_true(tr);
    }
    /* beta_fast / beta_slow may be any number (transformers: `or 32`, `or 1`: 0 counts as absent) */
    static const char *const keys[4] = {"beta_fast", "beta_slow", "mscale", "mscale_all_dim"};
    double *dst[4] = {&bf, &bs, &cfg->rope_mscale, &cfg->rope_mscale_all_dim};
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(rp, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_number(v) || !isfinite(json_number_value(v)) || fabs(json_number_value(v)) > 1e6)
            return bad_type(r, prefix, keys[i], v, "a finite number");
        *dst[i] = json_number_value(v);
    }
    if (bf != 0) cfg->rope_beta_fast = bf;
    if (bs != 0) cfg->rope_beta_slow = bs;
    if ((e = get_number(r, rp, prefix, "attention_factor", 0, 1e6, &af, &has_af))) return e;
    const double f = cfg->rope_factor;
    if (has_af) cfg->rope_attention_factor = af;
    else if (cfg->rope_mscale != 0 && cfg->rope_mscale_all_dim != 0)
        cfg->rope_attention_factor = yarn_get_mscale(f, cfg->rope_mscale) / yarn_get_mscale(f, cfg->rope_mscale_all_dim);
    else cfg->rope_attention_factor = yarn_get_mscale(f, 1);
    return AWQ_OK;
}

/* A longrope factor list: an array of rotary_dim/2 numbers. */
static awq_err read_factors(const rd *r, json_t *rp, const char *prefix, const char *key, int n, float *out)
{
    json_t *v = json_object_get(rp, key);
    if (!v || json_is_null(v)) return awq_fail(AWQ_ERR_FORMAT, "'%s': longrope RoPE needs key '%s%s'", r->file, prefix, key);
    if (!json_is_array(v) || json_array_size(v) != (size_t)n)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': key '%s%s' must be an array of %d numbers (rotary width / 2)", r->file, prefix,
                        key, n);
    for (int j = 0; j < n; j++) {
        json_t *x = json_array_get(v, (size_t)j);
        double d = json_is_number(x) ? json_number_value(x) : NAN;
        if (!isfinite(d) || d <= 0)
            return awq_fail(AWQ_ERR_FORMAT, "'%s': key '%s%s[%d]' must be a positive number", r->file, prefix, key, j);
        out[j] = (float)d; /* torch.tensor(factors, dtype=float32) */
    }
    return AWQ_OK;
}

/* Phi3's longrope (Phi3Config reads "su" and "yarn" as longrope): both factor lists, the original
 * context (the top-level key wins: standardize_rope_params), factor and attention_factor. */
/* Phi3's rotated width: int(head_dim * partial_rotary_factor), even (rotate_half splits it). */
static awq_err check_partial_phi3(const rd *r, double partial, awq_config *cfg)
{
    int rd_ = (int)(cfg->head_dim * partial);
    if (rd_ < 2 || rd_ % 2 || rd_ / 2 > AWQ_MAX_ROPE_PAIRS)
        return awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': partial_rotary_factor %g gives a rotary width of %d of head_dim %d; "
                        "it must be even and at least 2", r->file, partial, rd_, cfg->head_dim);
    cfg->rotary_dim = rd_ == cfg->head_dim ? 0 : rd_;
    return AWQ_OK;
}

static awq_err read_longrope(const rd *r, json_t *root, json_t *rp, const char *prefix, awq_config *cfg)
{
    awq_err e;
    const int pairs = (cfg->rotary_dim ? cfg->rotary_dim : cfg->head_dim) / 2;
    int orig = 4096, has_top;
    double factor = 0, att = 0;
    int has_factor, has_att;
    if ((e = get_int(r, rp, prefix, "original_max_position_embeddings", 1, 1 << 30, &orig, NULL)) ||
        (e = get_int(r, root, "", "original_max_position_embeddings", 1, 1 << 30, &orig, &has_top)) ||
        (e = get_number(r, rp, prefix, "factor", 0, 1e6, &factor, &has_factor)) ||
        (e = get_number(r, rp, prefix, "attention_factor", 0, 1e6, &att, &has_att)) ||
        (e = read_factors(r, rp, prefix, "short_factor", pairs, cfg->rope_short_factor)) ||
        (e = read_factors(r, rp, prefix, "long_factor", pairs, cfg->rope_long_factor)))
        return e;
    cfg->rope_type = AWQ_ROPE_LONGROPE;
    cfg->rope_original_max_position_embeddings = orig;
    if (!has_factor) factor = (double)cfg->max_position_embeddings / orig;
    cfg->rope_factor = factor;
    if (!has_att) att = factor <= 1.0 ? 1.0 : sqrt(1 + log(factor) / log((double)orig));
    cfg->rope_attention_factor = att;
    return AWQ_OK;
}

/* One Gemma 3 RoPE: theta (absent: the default given) and, where allowed, linear scaling. */
static awq_err gemma3_rope_one(const rd *r, json_t *rp, const char *prefix, int scaling_ok, double *theta, double *factor)
{
    awq_err e;
    const char *type;
    if ((e = get_number(r, rp, prefix, "rope_theta", 0, 1e12, theta, NULL))) return e;
    if ((e = get_string(r, rp, prefix, "rope_type", &type))) return e;
    if (!type && (e = get_string(r, rp, prefix, "type", &type))) return e;
    if (!type || strcmp(type, "default") == 0) return AWQ_OK;
    if (strcmp(type, "linear") != 0 || !scaling_ok) {
        awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': %srope_type '%.40s' is not supported for Gemma 3 (default; linear on the global "
                 "layers)", r->file, prefix, type);
        awq_hint("released Gemma 3 checkpoints scale their global layers linearly (factor 8) and their local ones not at all");
        return AWQ_ERR_UNSUPPORTED;
    }
    int has;
    if ((e = get_number(r, rp, prefix, "factor", 0, 1e6, factor, &has))) return e;
    if (!has) return awq_fail(AWQ_ERR_FORMAT, "'%s': linear RoPE needs key '%sfactor'", r->file, prefix);
    return AWQ_OK;
}

/* Gemma 3's two RoPEs: rope_theta + rope_scaling (global) and rope_local_base_freq (local), or
 * transformers 5's rope_parameters {"full_attention": {...}, "sliding_attention": {...}}. */
static awq_err read_rope_gemma3(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    double factor = 0;
    cfg->rope_theta = 1e6, cfg->rope_local_theta = 1e4;
    if ((e = get_number(r, root, "", "rope_theta", 0, 1e12, &cfg->rope_theta, NULL)) ||
        (e = get_number(r, root, "", "rope_local_base_freq", 0, 1e12, &cfg->rope_local_theta, NULL)))
        return e;
    json_t *rp = json_object_get(root, "rope_parameters");
    if (rp && !json_is_null(rp)) {
        if (!json_is_object(rp)) return bad_type(r, "", "rope_parameters", rp, "an object or null");
        json_t *full = json_object_get(rp, "full_attention"), *slide = json_object_get(rp, "sliding_attention");
        if (full && !json_is_object(full)) return bad_type(r, "rope_parameters.", "full_attention", full, "an object");
        if (slide && !json_is_object(slide)) return bad_type(r, "rope_parameters.", "sliding_attention", slide, "an object");
        if (full && (e = gemma3_rope_one(r, full, "rope_parameters.full_attention.", 1, &cfg->rope_theta, &factor))) return e;
        if (slide && (e = gemma3_rope_one(r, slide, "rope_parameters.sliding_attention.", 0, &cfg->rope_local_theta, NULL)))
            return e;
    } else {
        json_t *rs = json_object_get(root, "rope_scaling");
        if (rs && !json_is_null(rs)) {
            if (!json_is_object(rs)) return bad_type(r, "", "rope_scaling", rs, "an object or null");
            if ((e = gemma3_rope_one(r, rs, "rope_scaling.", 1, &cfg->rope_theta, &factor))) return e;
        }
    }
    if (factor > 0) cfg->rope_type = AWQ_ROPE_LINEAR, cfg->rope_factor = factor;
    return AWQ_OK;
}

/* rope_parameters (transformers v5) or rope_theta + rope_scaling (older). Both may carry the
 * type under "rope_type" or, in old files, "type". */
static awq_err read_rope(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    if ((e = get_number(r, root, "", "rope_theta", 0, 1e12, &cfg->rope_theta, NULL))) return e;
    json_t *rp = json_object_get(root, "rope_parameters");
    const char *key = "rope_parameters";
    if (!rp || json_is_null(rp)) {
        rp = json_object_get(root, "rope_scaling");
        key = "rope_scaling";
    }
    double partial = 1.0;
    if ((e = get_number(r, root, "", "partial_rotary_factor", 0, 1, &partial, NULL))) return e;
    if (!rp || json_is_null(rp)) goto check_partial;
    if (!json_is_object(rp)) return bad_type(r, "", key, rp, "an object or null");

    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.", key);
    if ((e = get_number(r, rp, prefix, "rope_theta", 0, 1e12, &cfg->rope_theta, NULL))) return e;
    if ((e = get_number(r, rp, prefix, "partial_rotary_factor", 0, 1, &partial, NULL))) return e;
    const char *type, *type_key = "rope_type";
    if ((e = get_string(r, rp, prefix, "rope_type", &type))) return e;
    if (!type) {
        type_key = "type";
        if ((e = get_string(r, rp, prefix, "type", &type))) return e;
    }
    if (!type || strcmp(type, "default") == 0) goto check_partial;
    if (cfg->arch == AWQ_ARCH_PHI3) {
        if (strcmp(type, "longrope") != 0 && strcmp(type, "su") != 0 && strcmp(type, "yarn") != 0) {
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': %s%s '%.40s' is not supported for Phi3 (default and longrope RoPE)", r->file,
                     prefix, type_key, type);
            awq_hint("Phi3ForCausalLM itself accepts only default and longrope (su, yarn)");
            return AWQ_ERR_UNSUPPORTED;
        }
        if ((e = check_partial_phi3(r, partial, cfg))) return e;
        return read_longrope(r, root, rp, prefix, cfg);
    }
    if (cfg->arch == AWQ_ARCH_DEEPSEEK_V3) {
        if (strcmp(type, "yarn") != 0) {
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': %s%s '%.40s' is not supported for DeepseekV3 (only default and yarn RoPE)",
                     r->file, prefix, type_key, type);
            awq_hint("linear, dynamic, llama3 and longrope scaling are out of scope");
            return AWQ_ERR_UNSUPPORTED;
        }
        if ((e = read_yarn(r, root, rp, prefix, cfg))) return e;
        goto check_partial;
    }
    if (strcmp(type, "llama3") != 0) {
        awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': %s%s '%.40s' is not supported (only default and llama3 RoPE)", r->file, prefix,
                 type_key, type);
        awq_hint("linear, dynamic, yarn and longrope scaling change the model at long context; they are out of scope");
        return AWQ_ERR_UNSUPPORTED;
    }
    static const char *const need[] = {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};
    for (size_t i = 0; i < 4; i++)
        if (!json_object_get(rp, need[i]))
            return awq_fail(AWQ_ERR_FORMAT, "'%s': llama3 RoPE needs key '%s%s'", r->file, prefix, need[i]);
    cfg->rope_type = AWQ_ROPE_LLAMA3;
    if ((e = get_number(r, rp, prefix, "factor", 0, 1e6, &cfg->rope_factor, NULL)) ||
        (e = get_number(r, rp, prefix, "low_freq_factor", 0, 1e6, &cfg->rope_low_freq_factor, NULL)) ||
        (e = get_number(r, rp, prefix, "high_freq_factor", 0, 1e6, &cfg->rope_high_freq_factor, NULL)) ||
        (e = get_int(r, rp, prefix, "original_max_position_embeddings", 1, 1 << 30,
                     &cfg->rope_original_max_position_embeddings, NULL)))
        return e;
    if (cfg->rope_factor < 1)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': %sfactor %g must be >= 1", r->file, prefix, cfg->rope_factor);
    /* the smooth interpolation divides by high - low */
    if (!(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': %shigh_freq_factor %g must be greater than low_freq_factor %g", r->file,
                        prefix, cfg->rope_high_freq_factor, cfg->rope_low_freq_factor);
check_partial:
    if (cfg->arch == AWQ_ARCH_PHI3) return check_partial_phi3(r, partial, cfg);
    if (partial != 1.0)
        return awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': partial_rotary_factor %g is not supported (RoPE over the whole head only)",
                        r->file, partial);
    return AWQ_OK;
}

/* Gemma 2: sliding_window (default 4096; null: none) on the layers layer_types calls
 * "sliding_attention", by default the even ones ((i + 1) % 2, Gemma2Config). The window is
 * computed for real (the attention op's window), so any length is accepted. */
static awq_err read_window_gemma(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    const int L = cfg->num_hidden_layers;
    json_t *sw = json_object_get(root, "sliding_window");
    cfg->sliding_window = 4096;
    if (sw && json_is_null(sw)) cfg->sliding_window = 0;
    else if ((e = get_int(r, root, "", "sliding_window", 1, INT_MAX, &cfg->sliding_window, NULL))) return e;
    json_t *lt = json_object_get(root, "layer_types");
    if (!lt || json_is_null(lt)) { /* Gemma 2: every second layer global; Gemma 3: sliding_window_pattern's */
        int pattern = 2;
        if (cfg->arch == AWQ_ARCH_GEMMA3) {
            pattern = 6;
            if ((e = get_int(r, root, "", "sliding_window_pattern", 1, INT_MAX, &pattern, NULL))) return e;
        }
        for (int l = 0; l < L; l++) cfg->layer_sliding[l] = (l + 1) % pattern != 0;
        return AWQ_OK;
    }
    if (!json_is_array(lt) || json_array_size(lt) != (size_t)L)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': key 'layer_types' must be a list of num_hidden_layers = %d strings", r->file, L);
    for (int l = 0; l < L; l++) {
        const char *t = json_string_value(json_array_get(lt, (size_t)l));
        if (!t || (strcmp(t, "sliding_attention") != 0 && strcmp(t, "full_attention") != 0))
            return awq_fail(AWQ_ERR_FORMAT, "'%s': key 'layer_types[%d]' must be \"sliding_attention\" or \"full_attention\"",
                            r->file, l);
        cfg->layer_sliding[l] = strcmp(t, "sliding_attention") == 0;
    }
    return AWQ_OK;
}

/* Mistral: a non-null sliding_window is active. Qwen2/Qwen3: only with use_sliding_window, and
 * then only on layers >= max_window_layers (class defaults 4096 and 28). Llama has none. */
static awq_err read_window(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    int window = 0, has_window = 0;
    if (cfg->arch == AWQ_ARCH_LLAMA || cfg->arch == AWQ_ARCH_DEEPSEEK_V3) return AWQ_OK;
    if (cfg->gemma) return read_window_gemma(r, root, cfg);
    if ((e = get_int(r, root, "", "sliding_window", 1, INT_MAX, &window, &has_window))) return e;
    int active = 0;
    if (cfg->arch == AWQ_ARCH_MISTRAL || cfg->arch == AWQ_ARCH_MIXTRAL || cfg->arch == AWQ_ARCH_PHI3) {
        active = has_window;
    } else {
        int use = 0, max_window_layers = 28;
        if ((e = get_bool(r, root, "use_sliding_window", &use)) ||
            (e = get_int(r, root, "", "max_window_layers", 0, INT_MAX, &max_window_layers, NULL)))
            return e;
        if (!has_window && !json_is_null(json_object_get(root, "sliding_window"))) window = 4096;
        active = use && window > 0 && max_window_layers < cfg->num_hidden_layers;
    }
    if (!active) return AWQ_OK;
    if (window < MIN_WINDOW && cfg->arch != AWQ_ARCH_PHI3) { /* Phi-3's window is computed (the attention op's) */
        awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': active sliding_window %d is shorter than %d tokens", r->file, window, MIN_WINDOW);
        awq_hint("awqmake computes full causal attention, which equals windowed attention only for windows >= %d", MIN_WINDOW);
        return AWQ_ERR_UNSUPPORTED;
    }
    cfg->sliding_window = window;
    return AWQ_OK;
}

/* A soft-capping key: a positive number, null (none) or absent (the class default dflt). */
static awq_err get_cap(const rd *r, json_t *root, const char *key, double dflt, double *out)
{
    json_t *v = json_object_get(root, key);
    *out = dflt;
    if (v && json_is_null(v)) return *out = 0, AWQ_OK;
    return get_number(r, root, "", key, 0, 1e9, out, NULL);
}

/* Gemma 2's own keys (Gemma2Config's defaults); its activation is hidden_activation (hidden_act
 * in older files), gelu_pytorch_tanh only. */
static awq_err read_gemma(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    int attn_bias = 0;
    const int g3 = cfg->arch == AWQ_ARCH_GEMMA3;
    cfg->gemma = 1;
    cfg->qk_norm = g3; /* Gemma3Attention's q_norm, k_norm */
    cfg->tie_word_embeddings = 1;
    cfg->query_pre_attn_scalar = 256;
    if ((e = get_bool(r, root, "tie_word_embeddings", &cfg->tie_word_embeddings)) ||
        (e = get_bool(r, root, "attention_bias", &attn_bias)) ||
        (e = get_number(r, root, "", "query_pre_attn_scalar", 0, 1e9, &cfg->query_pre_attn_scalar, NULL)) ||
        (e = get_cap(r, root, "attn_logit_softcapping", g3 ? 0 : 50.0, &cfg->attn_softcap)) ||
        (e = get_cap(r, root, "final_logit_softcapping", g3 ? 0 : 30.0, &cfg->final_softcap)))
        return e;
    cfg->qkv_bias = cfg->o_bias = attn_bias;
    int bidir = 0;
    if ((e = get_bool(r, root, "use_bidirectional_attention", &bidir))) return e;
    if (bidir) {
        awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': use_bidirectional_attention true is not supported (causal attention only)", r->file);
        awq_hint("that is an encoder use of the class (EmbeddingGemma), not a causal LM");
        return AWQ_ERR_UNSUPPORTED;
    }
    static const char *const keys[2] = {"hidden_activation", "hidden_act"};
    for (int k = 0; k < 2; k++) {
        const char *act;
        if ((e = get_string(r, root, "", keys[k], &act))) return e;
        if (act && strcmp(act, "gelu_pytorch_tanh") != 0) {
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': %s '%.40s' is not supported (Gemma uses gelu_pytorch_tanh)", r->file, keys[k], act);
            return AWQ_ERR_UNSUPPORTED;
        }
    }
    return AWQ_OK;
}

static awq_err read_flags(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    int attn_bias = 0;
    if ((e = get_bool(r, root, "tie_word_embeddings", &cfg->tie_word_embeddings))) return e;
    switch (cfg->arch) {
    case AWQ_ARCH_LLAMA:
        if ((e = get_bool(r, root, "attention_bias", &attn_bias)) || (e = get_bool(r, root, "mlp_bias", &cfg->mlp_bias)))
            return e;
        cfg->qkv_bias = cfg->o_bias = attn_bias;
        break;
    case AWQ_ARCH_QWEN3:
    case AWQ_ARCH_QWEN3_MOE:
        if ((e = get_bool(r, root, "attention_bias", &attn_bias))) return e;
        cfg->qkv_bias = cfg->o_bias = attn_bias;
        cfg->qk_norm = 1;
        break;
    case AWQ_ARCH_QWEN2: /* fixed by the model class, whatever the file says */
        cfg->qkv_bias = 1;
        break;
    case AWQ_ARCH_MISTRAL:
    case AWQ_ARCH_MIXTRAL:
        break;
    case AWQ_ARCH_PHI3: /* no biases (the class has none), q/k/v and gate/up fused */
        cfg->fused = 1;
        break;
    case AWQ_ARCH_GEMMA2:
    case AWQ_ARCH_GEMMA3:
        return read_gemma(r, root, cfg);
    case AWQ_ARCH_DEEPSEEK_V3:
        if ((e = get_bool(r, root, "attention_bias", &attn_bias))) return e;
        if (attn_bias) {
            awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': attention_bias true is not supported for DeepseekV3", r->file);
            awq_hint("the released DeepSeek-V3 checkpoints have no attention biases");
            return AWQ_ERR_UNSUPPORTED;
        }
        break;
    }
    const char *act;
    if ((e = get_string(r, root, "", "hidden_act", &act))) return e;
    if (act && strcmp(act, "silu") != 0) {
        awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': hidden_act '%.40s' is not supported (this model family uses silu)", r->file, act);
        return AWQ_ERR_UNSUPPORTED;
    }
    return AWQ_OK;
}

/* DeepseekV3's experts and router (DeepseekV3Config's defaults). A null counts as absent (the
 * class default), as for every key; transformers itself fails on most of these nulls. */
static awq_err read_moe_deepseek(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    const int L = cfg->num_hidden_layers;
    cfg->router = AWQ_ROUTER_SIGMOID_GROUPED;
    cfg->n_experts = 256, cfg->n_experts_per_tok = 8, cfg->moe_intermediate_size = 2048, cfg->norm_topk_prob = 1;
    cfg->n_shared_experts = 1, cfg->n_group = 8, cfg->topk_group = 4, cfg->first_k_dense_replace = 3;
    cfg->routed_scaling_factor = 2.5;
    if ((e = get_int(r, root, "", "num_local_experts", 1, AWQ_MAX_EXPERTS, &cfg->n_experts, NULL)) ||
        (e = get_int(r, root, "", "n_routed_experts", 1, AWQ_MAX_EXPERTS, &cfg->n_experts, NULL)) ||
        (e = get_int(r, root, "", "num_experts_per_tok", 1, AWQ_MAX_EXPERTS, &cfg->n_experts_per_tok, NULL)) ||
        (e = get_int(r, root, "", "moe_intermediate_size", 1, 1 << 20, &cfg->moe_intermediate_size, NULL)) ||
        (e = get_int(r, root, "", "n_shared_experts", 0, 64, &cfg->n_shared_experts, NULL)) ||
        (e = get_int(r, root, "", "n_group", 1, AWQ_MAX_EXPERTS, &cfg->n_group, NULL)) ||
        (e = get_int(r, root, "", "topk_group", 1, AWQ_MAX_EXPERTS, &cfg->topk_group, NULL)) ||
        (e = get_int(r, root, "", "first_k_dense_replace", 0, AWQ_MAX_LAYERS, &cfg->first_k_dense_replace, NULL)) ||
        (e = get_bool(r, root, "norm_topk_prob", &cfg->norm_topk_prob)) ||
        (e = get_number(r, root, "", "routed_scaling_factor", 0, 1e6, &cfg->routed_scaling_factor, NULL)))
        return e;
    const int E = cfg->n_experts, G = cfg->n_group;
    if (cfg->n_shared_experts == 0) {
        awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': n_shared_experts 0 is not supported (DeepseekV3 adds a shared-expert mlp)", r->file);
        return AWQ_ERR_UNSUPPORTED;
    }
    if ((long long)cfg->moe_intermediate_size * cfg->n_shared_experts > (1 << 20))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': moe_intermediate_size * n_shared_experts is implausibly large", r->file);
    if (E % G != 0 || E / G < 2)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': n_routed_experts %d must be a multiple of n_group %d with at least 2 experts "
                        "per group (each group is scored by its top 2)", r->file, E, G);
    if (cfg->topk_group > G)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': topk_group %d is more than n_group %d", r->file, cfg->topk_group, G);
    if (cfg->n_experts_per_tok > cfg->topk_group * (E / G))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': num_experts_per_tok %d is more than the %d experts of topk_group %d groups",
                        r->file, cfg->n_experts_per_tok, cfg->topk_group * (E / G), cfg->topk_group);
    for (int l = 0; l < L && l < cfg->first_k_dense_replace; l++) cfg->mlp_only[l] = 1;
    cfg->decoder_sparse_step = 1;
    return AWQ_OK;
}

/* DeepseekV3's multi-head latent attention (after read_rope: the softmax scale takes yarn's
 * mscale). q_lora_rank null means q_proj; absent means the class default 1536. */
static awq_err read_mla(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    if (cfg->arch != AWQ_ARCH_DEEPSEEK_V3) return AWQ_OK;
    cfg->mla = 1;
    cfg->q_lora_rank = 1536, cfg->kv_lora_rank = 512, cfg->qk_nope_head_dim = 128, cfg->qk_rope_head_dim = 64;
    cfg->v_head_dim = 128, cfg->rope_interleave = 1;
    json_t *ql = json_object_get(root, "q_lora_rank");
    if (ql && json_is_null(ql)) cfg->q_lora_rank = 0;
    else if ((e = get_int(r, root, "", "q_lora_rank", 1, 1 << 20, &cfg->q_lora_rank, NULL))) return e;
    if ((e = get_int(r, root, "", "kv_lora_rank", 1, 1 << 20, &cfg->kv_lora_rank, NULL)) ||
        (e = get_int(r, root, "", "qk_nope_head_dim", 1, 4096, &cfg->qk_nope_head_dim, NULL)) ||
        (e = get_int(r, root, "", "qk_rope_head_dim", 2, 4096, &cfg->qk_rope_head_dim, NULL)) ||
        (e = get_int(r, root, "", "v_head_dim", 1, 4096, &cfg->v_head_dim, NULL)) ||
        (e = get_bool(r, root, "rope_interleave", &cfg->rope_interleave)))
        return e;
    if (cfg->qk_rope_head_dim % 2 != 0)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': qk_rope_head_dim %d is odd; RoPE rotates pairs", r->file, cfg->qk_rope_head_dim);
    cfg->head_dim = cfg->qk_nope_head_dim + cfg->qk_rope_head_dim;
    const long long H = cfg->num_attention_heads;
    if (H * cfg->head_dim > (1 << 20) || H * (cfg->qk_nope_head_dim + cfg->v_head_dim) > (1 << 20))
        return awq_fail(AWQ_ERR_FORMAT, "'%s': num_attention_heads * the head dims is implausibly large", r->file);
    /* HF: self.scaling = yarn_apply_mscale(rope_parameters, qk_head_dim ** (-0.5)), in Python floats */
    cfg->attn_scale = pow((double)cfg->head_dim, -0.5);
    if (cfg->rope_type == AWQ_ROPE_YARN && cfg->rope_mscale_all_dim != 0) {
        double m = yarn_get_mscale(cfg->rope_factor, cfg->rope_mscale_all_dim);
        cfg->attn_scale = cfg->attn_scale * m * m;
    }
    return AWQ_OK;
}

/* The experts (class defaults as transformers' MixtralConfig and Qwen3MoeConfig). */
static awq_err read_moe(const rd *r, json_t *root, awq_config *cfg)
{
    awq_err e;
    cfg->decoder_sparse_step = 1;
    if (cfg->arch == AWQ_ARCH_MIXTRAL) {
        cfg->n_experts = 8, cfg->n_experts_per_tok = 2, cfg->norm_topk_prob = 1;
        cfg->moe_intermediate_size = cfg->intermediate_size;
        if ((e = get_int(r, root, "", "num_local_experts", 1, AWQ_MAX_EXPERTS, &cfg->n_experts, NULL))) return e;
    } else if (cfg->arch == AWQ_ARCH_QWEN3_MOE) {
        cfg->n_experts = 128, cfg->n_experts_per_tok = 8, cfg->moe_intermediate_size = 768;
        /* released checkpoints say num_experts; transformers 5 writes num_local_experts */
        if ((e = get_int(r, root, "", "num_local_experts", 0, AWQ_MAX_EXPERTS, &cfg->n_experts, NULL)) ||
            (e = get_int(r, root, "", "num_experts", 0, AWQ_MAX_EXPERTS, &cfg->n_experts, NULL)) ||
            (e = get_int(r, root, "", "moe_intermediate_size", 1, 1 << 20, &cfg->moe_intermediate_size, NULL)) ||
            (e = get_int(r, root, "", "decoder_sparse_step", 1, AWQ_MAX_LAYERS, &cfg->decoder_sparse_step, NULL)) ||
            (e = get_bool(r, root, "norm_topk_prob", &cfg->norm_topk_prob)))
            return e;
        json_t *only = json_object_get(root, "mlp_only_layers");
        if (only && !json_is_null(only)) {
            if (!json_is_array(only)) return bad_type(r, "", "mlp_only_layers", only, "a list of layer indices");
            for (size_t i = 0; i < json_array_size(only); i++) {
                json_t *v = json_array_get(only, i);
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= cfg->num_hidden_layers)
                    return awq_fail(AWQ_ERR_FORMAT, "'%s': key 'mlp_only_layers[%zu]' must be a layer index in [0, %d)",
                                    r->file, i, cfg->num_hidden_layers);
                cfg->mlp_only[json_integer_value(v)] = 1;
            }
        }
    } else if (cfg->arch == AWQ_ARCH_DEEPSEEK_V3) {
        return read_moe_deepseek(r, root, cfg);
    } else {
        return AWQ_OK;
    }
    if (cfg->n_experts == 0) return AWQ_OK;
    if ((e = get_int(r, root, "", "num_experts_per_tok", 1, AWQ_MAX_EXPERTS, &cfg->n_experts_per_tok, NULL))) return e;
    if (cfg->n_experts_per_tok > cfg->n_experts)
        return awq_fail(AWQ_ERR_FORMAT, "'%s': num_experts_per_tok %d is more than the %d experts", r->file,
                        cfg->n_experts_per_tok, cfg->n_experts);
    return AWQ_OK;
}

int awq_layer_experts(const awq_config *cfg, int layer)
{
    if (cfg->n_experts == 0 || layer < 0 || layer >= cfg->num_hidden_layers || cfg->mlp_only[layer]) return 0;
    return (layer + 1) % cfg->decoder_sparse_step == 0 ? cfg->n_experts : 0;
}

/* "dtype" (transformers v5) wins over "torch_dtype"; "torch.float16" spellings are accepted. */
static awq_err read_dtype(const rd *r, json_t *root, awq_config *cfg)
{
    const char *s, *key = "dtype";
    awq_err e;
    if ((e = get_string(r, root, "", "dtype", &s))) return e;
    if (!s) {
        key = "torch_dtype";
        if ((e = get_string(r, root, "", "torch_dtype", &s))) return e;
    }
    cfg->torch_dtype = AWQ_DT_INVALID;
    if (!s || strcmp(s, "auto") == 0) return AWQ_OK;
    const char *v = strncmp(s, "torch.", 6) == 0 ? s + 6 : s;
    if (strcmp(v, "float16") == 0 || strcmp(v, "half") == 0) cfg->torch_dtype = AWQ_DT_F16;
    else if (strcmp(v, "bfloat16") == 0) cfg->torch_dtype = AWQ_DT_BF16;
    else if (strcmp(v, "float32") == 0 || strcmp(v, "float") == 0) cfg->torch_dtype = AWQ_DT_F32;
    else
        return awq_fail(AWQ_ERR_UNSUPPORTED, "'%s': %s '%.40s' is not supported (float16, bfloat16 or float32)", r->file, key, s);
    return AWQ_OK;
}

/* bos/eos only matter to the tokenizer side: a negative id means "none" (old Llama files). */
static awq_err read_tokens(const rd *r, json_t *root, awq_config *cfg)
{
    static const char *const keys[2] = {"bos_token_id", "eos_token_id"};
    int *dst[2] = {&cfg->bos_token_id, &cfg->eos_token_id};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(root, keys[k]);
        *dst[k] = -1;
        if (k == 1 && json_is_array(v)) {
            for (size_t i = 0; i < json_array_size(v); i++)
                if (!json_is_integer(json_array_get(v, i)))
                    return awq_fail(AWQ_ERR_FORMAT, "'%s': key '%s[%zu]' is %s, expected an integer", r->file, keys[k], i,
                                    awq_json_kind(json_array_get(v, i)));
            v = json_array_get(v, 0); /* NULL for [] */
        }
        if (!v || json_is_null(v)) continue;
        if (!json_is_integer(v)) return bad_type(r, "", keys[k], v, k ? "an integer or a list of integers" : "an integer");
        long long x = json_integer_value(v);
        if (x > INT_MAX) return awq_fail(AWQ_ERR_FORMAT, "'%s': key '%s' = %lld is too large", r->file, keys[k], x);
        *dst[k] = x < 0 ? -1 : (int)x;
    }
    return AWQ_OK;
}

awq_err awq_config_parse(awq_config *cfg, const char *json, size_t len, const char *name)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->rms_norm_eps = 1e-6;
    cfg->rope_theta = 10000.0;
    cfg->bos_token_id = cfg->eos_token_id = -1;
    rd r = {name};
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    if (!root)
        return awq_fail(AWQ_ERR_FORMAT, "'%s' is not valid JSON: %s (line %d, column %d)", name, jerr.text, jerr.line,
                        jerr.column);
    awq_err e = json_is_object(root) ? read_arch(&r, root, cfg)
              : awq_fail(AWQ_ERR_FORMAT, "'%s' is %s, expected a JSON object", name, awq_json_kind(root));
    if (e == AWQ_OK) e = read_dims(&r, root, cfg);
    if (e == AWQ_OK) e = cfg->arch == AWQ_ARCH_GEMMA3 ? read_rope_gemma3(&r, root, cfg) : read_rope(&r, root, cfg);
    if (e == AWQ_OK) e = read_flags(&r, root, cfg);
    if (e == AWQ_OK) e = read_window(&r, root, cfg);
    if (e == AWQ_OK) e = read_moe(&r, root, cfg);
    if (e == AWQ_OK) e = read_mla(&r, root, cfg);
    if (e == AWQ_OK) e = read_dtype(&r, root, cfg);
    if (e == AWQ_OK) e = read_tokens(&r, root, cfg);
    json_decref(root);
    return e;
}

awq_err awq_config_load(awq_config *cfg, const char *path)
{
    struct stat sb;
    char file[4096];
    memset(cfg, 0, sizeof *cfg);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(file, sizeof file, "%s/config.json", path);
    else snprintf(file, sizeof file, "%s", path);
    FILE *fp = fopen(file, "rb");
    if (!fp) return awq_fail_errno(errno, "cannot open '%s'", file);
    char *buf = malloc(MAX_CONFIG_BYTES + 1);
    if (!buf) {
        fclose(fp);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory reading '%s'", file);
    }
    size_t n = fread(buf, 1, MAX_CONFIG_BYTES + 1, fp);
    int err = ferror(fp) ? errno : 0;
    fclose(fp);
    awq_err e;
    if (err) e = awq_fail_errno(err, "cannot read '%s'", file);
    else if (n > MAX_CONFIG_BYTES) e = awq_fail(AWQ_ERR_FORMAT, "'%s' is larger than 16 MiB; not a config.json?", file);
    else e = awq_config_parse(cfg, buf, n, file);
    free(buf);
    return e;
}
