/* test_config.c - config.json reading (spec §1.1): class defaults and explicit values of the
 * supported architectures, both rope forms, and every refusal with its message. The
 * configs are written here, modelled on the published ones (Llama-2/3.1, Mistral v0.1,
 * Qwen2.5, Qwen3-0.6B, Mixtral-8x7B, Qwen3-30B-A3B, DeepSeek-V3). */
#include "test.h"
#include "../stages/common/config.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define NAME "models/x/config.json"
/* The required keys of a Llama-2-7B-shaped model. */
#define DIMS "\"hidden_size\":4096,\"intermediate_size\":11008,\"num_hidden_layers\":32,\"num_attention_heads\":32,\"vocab_size\":32000"
#define LLAMA "\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\""

static awq_err parse(awq_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static awq_err parse(awq_config *c, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    awq_clear_error();
    return awq_config_parse(c, buf, strlen(buf), NAME);
}

static void expect_fail_(const char *file, int line, awq_err code, const char *json, const char *const *subs)
{
    awq_config c;
    awq_err e = parse(&c, "%s", json);
    fprintf(stderr, "  expected error: %s\n", awq_errmsg()); /* shown when the case fails */
    if (e == AWQ_OK) { t_failf(file, line, "parse fails", "accepted: %s", json); return; }
    if (e != code) t_failf(file, line, "error code", "got %s want %s: %s", awq_strerror(e), awq_strerror(code), awq_errmsg());
    if (!strstr(awq_errmsg(), "'" NAME "'")) t_failf(file, line, "message names the file", "%s", awq_errmsg());
    for (; *subs; subs++)
        if (!strstr(awq_errmsg(), *subs)) t_failf(file, line, "message", "'%s' lacks '%s'", awq_errmsg(), *subs);
}
#define EXPECT_FAIL(code, json, ...) expect_fail_(__FILE__, __LINE__, code, json, (const char *const[]){__VA_ARGS__, NULL})

static void t_llama_defaults(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{" LLAMA "," DIMS "}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_LLAMA && !strcmp(c.architecture, "LlamaForCausalLM") && !strcmp(c.model_type, "llama"), "arch");
    CHECK(!strcmp(awq_arch_name(c.arch), "llama"), "%s", awq_arch_name(c.arch));
    CHECK(c.hidden_size == 4096 && c.intermediate_size == 11008 && c.num_hidden_layers == 32 && c.num_attention_heads == 32 &&
          c.vocab_size == 32000, "dims");
    CHECK(c.num_key_value_heads == 32, "Hkv defaults to H: %d", c.num_key_value_heads);
    CHECK(c.head_dim == 128, "D defaults to C/H: %d", c.head_dim);
    CHECK(c.rms_norm_eps == 1e-6 && c.rope_theta == 10000.0 && c.rope_type == AWQ_ROPE_DEFAULT, "eps %g theta %g",
          c.rms_norm_eps, c.rope_theta);
    CHECK(c.tie_word_embeddings == 0 && c.qkv_bias == 0 && c.o_bias == 0 && c.mlp_bias == 0 && c.qk_norm == 0, "flags");
    CHECK(c.sliding_window == 0 && c.max_position_embeddings == 0 && c.torch_dtype == AWQ_DT_INVALID, "absent keys");
    CHECK(c.bos_token_id == -1 && c.eos_token_id == -1, "tokens %d %d", c.bos_token_id, c.eos_token_id);
    /* nulls are "absent" (HF writes "rope_scaling": null, Mistral "head_dim": null) */
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"rope_scaling\":null,\"head_dim\":null,\"num_key_value_heads\":null,"
                      "\"torch_dtype\":null,\"eos_token_id\":null,\"sliding_window\":null}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.head_dim == 128 && c.num_key_value_heads == 32 && c.rope_type == AWQ_ROPE_DEFAULT && c.eos_token_id == -1, "nulls");
    /* no architectures: model_type decides */
    REQUIRE(parse(&c, "{\"model_type\":\"qwen2\"," DIMS "}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_QWEN2 && !strcmp(c.architecture, "Qwen2ForCausalLM"), "model_type only");
}

/* Llama-3.1-8B-Instruct's config (values as published), with biases switched on. */
static void t_llama31_explicit(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{" LLAMA ",\"attention_bias\":true,\"mlp_bias\":true,\"bos_token_id\":128000,"
                      "\"eos_token_id\":[128001,128008,128009],\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":4096,"
                      "\"intermediate_size\":14336,\"max_position_embeddings\":131072,\"num_attention_heads\":32,"
                      "\"num_hidden_layers\":32,\"num_key_value_heads\":8,\"rms_norm_eps\":1e-05,"
                      "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                      "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"rope_theta\":500000.0,"
                      "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\",\"vocab_size\":128256,"
                      "\"unknown_key\":{\"x\":[1,2]}}") == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(c.num_key_value_heads == 8 && c.head_dim == 128 && c.intermediate_size == 14336 && c.vocab_size == 128256, "dims");
    CHECK(c.max_position_embeddings == 131072 && c.rms_norm_eps == 1e-5 && c.rope_theta == 500000.0, "numbers");
    CHECK(c.rope_type == AWQ_ROPE_LLAMA3 && c.rope_factor == 8.0 && c.rope_low_freq_factor == 1.0 &&
          c.rope_high_freq_factor == 4.0 && c.rope_original_max_position_embeddings == 8192, "llama3 rope");
    CHECK(c.qkv_bias == 1 && c.o_bias == 1 && c.mlp_bias == 1 && c.tie_word_embeddings == 1, "flags");
    CHECK(c.torch_dtype == AWQ_DT_BF16 && c.bos_token_id == 128000 && c.eos_token_id == 128001, "dtype/tokens");

    /* legacy spelling "type" */
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"rope_scaling\":{\"type\":\"llama3\",\"factor\":32,\"low_freq_factor\":1,"
                      "\"high_freq_factor\":4,\"original_max_position_embeddings\":8192}}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_LLAMA3 && c.rope_factor == 32.0, "legacy type");
    /* "default" rope_type is plain RoPE */
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"rope_scaling\":{\"rope_type\":\"default\"}}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_DEFAULT, "default type");
}

/* transformers v5 writes rope_parameters (with rope_theta inside) and "dtype". */
static void t_rope_parameters_form(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"rope_parameters\":{\"rope_type\":\"llama3\",\"rope_theta\":500000.0,"
                      "\"factor\":32.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192},"
                      "\"dtype\":\"float16\",\"torch_dtype\":\"float32\"}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_LLAMA3 && c.rope_theta == 500000.0 && c.rope_factor == 32.0, "theta %g", c.rope_theta);
    CHECK(c.torch_dtype == AWQ_DT_F16, "dtype wins over torch_dtype: %s", awq_dtype_name(c.torch_dtype));
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":1000000.0}}") == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_DEFAULT && c.rope_theta == 1e6, "theta %g", c.rope_theta);
    /* without rope_theta inside, the top-level value is kept */
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"rope_theta\":250000,\"rope_parameters\":{\"rope_type\":\"default\"}}") == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(c.rope_theta == 250000.0, "theta %g", c.rope_theta);
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"torch_dtype\":\"float32\"}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.torch_dtype == AWQ_DT_F32, "torch_dtype");
}

/* Mistral-7B-v0.1: sliding_window 4096 is active but changes nothing at <= 2048 tokens. */
static void t_mistral(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{\"architectures\":[\"MistralForCausalLM\"],\"model_type\":\"mistral\",\"hidden_size\":4096,"
                      "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
                      "\"vocab_size\":32000,\"rms_norm_eps\":1e-05,\"rope_theta\":10000.0,\"sliding_window\":4096,"
                      "\"attention_bias\":true,\"mlp_bias\":true,\"hidden_act\":\"silu\",\"torch_dtype\":\"bfloat16\","
                      "\"bos_token_id\":1,\"eos_token_id\":2,\"tie_word_embeddings\":false}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_MISTRAL && !strcmp(c.model_type, "mistral") && !strcmp(awq_arch_name(c.arch), "mistral"), "arch");
    CHECK(c.sliding_window == 4096, "window %d", c.sliding_window);
    CHECK(c.qkv_bias == 0 && c.o_bias == 0 && c.mlp_bias == 0 && c.qk_norm == 0, "Mistral has no biases whatever the file says");
    CHECK(c.head_dim == 128 && c.num_key_value_heads == 8 && c.bos_token_id == 1 && c.eos_token_id == 2, "dims");
    REQUIRE(parse(&c, "{\"architectures\":[\"MistralForCausalLM\"]," DIMS ",\"sliding_window\":null}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.sliding_window == 0, "null window");
    /* Mistral-Nemo: head_dim 128 != 5120/32 */
    REQUIRE(parse(&c, "{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":5120,\"intermediate_size\":14336,"
                      "\"num_hidden_layers\":40,\"num_attention_heads\":32,\"num_key_value_heads\":8,\"head_dim\":128,"
                      "\"vocab_size\":131072,\"rope_theta\":1000000.0}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.head_dim == 128 && c.hidden_size == 5120, "nemo");
}

/* Qwen2.5-7B: q/k/v always biased, o never; the window is configured but not used. */
static void t_qwen2(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":3584,"
                      "\"intermediate_size\":18944,\"num_hidden_layers\":28,\"num_attention_heads\":28,\"num_key_value_heads\":4,"
                      "\"vocab_size\":152064,\"max_position_embeddings\":131072,\"max_window_layers\":28,\"rms_norm_eps\":1e-06,"
                      "\"rope_theta\":1000000.0,\"sliding_window\":131072,\"use_sliding_window\":false,\"tie_word_embeddings\":false,"
                      "\"torch_dtype\":\"bfloat16\",\"bos_token_id\":151643,\"eos_token_id\":151643,\"hidden_act\":\"silu\","
                      "\"rope_scaling\":null}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_QWEN2 && c.qkv_bias == 1 && c.o_bias == 0 && c.mlp_bias == 0 && c.qk_norm == 0, "biases");
    CHECK(c.head_dim == 128 && c.num_key_value_heads == 4 && c.rope_theta == 1e6 && c.rms_norm_eps == 1e-6, "dims");
    CHECK(c.sliding_window == 0 && c.eos_token_id == 151643, "window %d", c.sliding_window);
    /* attention_bias false does not remove Qwen2's q/k/v bias */
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"]," DIMS ",\"attention_bias\":false}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.qkv_bias == 1 && c.o_bias == 0, "fixed biases");
    /* an active window of 32768 is accepted and reported */
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"]," DIMS ",\"use_sliding_window\":true,\"sliding_window\":32768,"
                      "\"max_window_layers\":21}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.sliding_window == 32768, "window %d", c.sliding_window);
    /* a short window that no layer uses (max_window_layers >= L) is harmless */
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"]," DIMS ",\"use_sliding_window\":true,\"sliding_window\":1024,"
                      "\"max_window_layers\":32}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.sliding_window == 0, "window %d", c.sliding_window);
    /* and so is a short window with use_sliding_window false */
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"]," DIMS ",\"sliding_window\":1024}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.sliding_window == 0, "window %d", c.sliding_window);
}

/* Qwen3-0.6B: head_dim 128 != 1024/16, q_norm/k_norm, tied. */
static void t_qwen3(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\",\"attention_bias\":false,"
                      "\"bos_token_id\":151643,\"eos_token_id\":151645,\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":1024,"
                      "\"intermediate_size\":3072,\"max_position_embeddings\":40960,\"max_window_layers\":28,"
                      "\"num_attention_heads\":16,\"num_hidden_layers\":28,\"num_key_value_heads\":8,\"rms_norm_eps\":1e-06,"
                      "\"rope_scaling\":null,\"rope_theta\":1000000,\"sliding_window\":null,\"tie_word_embeddings\":true,"
                      "\"torch_dtype\":\"bfloat16\",\"use_sliding_window\":false,\"vocab_size\":151936}") == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_QWEN3 && !strcmp(c.model_type, "qwen3"), "arch");
    CHECK(c.head_dim == 128 && c.hidden_size == 1024 && c.num_attention_heads == 16 && c.num_key_value_heads == 8, "D %d", c.head_dim);
    CHECK(c.qk_norm == 1 && c.qkv_bias == 0 && c.o_bias == 0 && c.tie_word_embeddings == 1, "flags");
    CHECK(c.rope_theta == 1e6 && c.eos_token_id == 151645 && c.sliding_window == 0, "rest");
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen3ForCausalLM\"]," DIMS ",\"attention_bias\":true}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.qkv_bias == 1 && c.o_bias == 1 && c.qk_norm == 1 && c.mlp_bias == 0, "attention_bias");
}

static void t_load_file_and_dir(void)
{
    const char *json = "{" LLAMA "," DIMS ",\"eos_token_id\":[7,8],\"eos_extra\":[]}";
    mkdir(t_path("m"), 0777);
    REQUIRE(t_write_file(t_path("m/config.json"), json, strlen(json)) == 0, "write");
    awq_config c;
    REQUIRE(awq_config_load(&c, t_path("m")) == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.hidden_size == 4096 && c.eos_token_id == 7, "dir");
    REQUIRE(awq_config_load(&c, t_path("m/config.json")) == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.num_hidden_layers == 32, "file");
    CHECK(awq_config_load(&c, t_path("none")) == AWQ_ERR_NOTFOUND, "missing dir");
    CHECK(strstr(awq_errmsg(), "cannot open") && strstr(awq_errmsg(), "none"), "%s", awq_errmsg());
    t_write_file(t_path("m/config.json"), "{\"architectures\":[\"LlamaForCausalLM\"]", 37);
    CHECK(awq_config_load(&c, t_path("m")) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "m/config.json") &&
          strstr(awq_errmsg(), "not valid JSON"), "%s", awq_errmsg());
    /* an empty eos list means "none" */
    REQUIRE(parse(&c, "{" LLAMA "," DIMS ",\"eos_token_id\":[],\"bos_token_id\":-1}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.eos_token_id == -1 && c.bos_token_id == -1, "empty eos list");
}

static void t_rejects(void)
{
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"n_embd\":768}",
                "unsupported architecture 'GPT2LMHeadModel'");
    /* the hint lists every supported architecture */
    static const char *const every[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                                        "MixtralForCausalLM", "Qwen3MoeForCausalLM", "DeepseekV3ForCausalLM", "Phi3ForCausalLM",
                                        "Gemma2ForCausalLM", "Gemma3ForCausalLM"};
    for (size_t i = 0; i < sizeof every / sizeof every[0]; i++)
        CHECK(strstr(awq_errhint(), every[i]), "hint lacks %s: %s", every[i], awq_errhint());
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"OPTForCausalLM\"]," DIMS "}", "'OPTForCausalLM'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"model_type\":\"gpt2\"," DIMS "}", "model_type 'gpt2'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DIMS "}", "architectures", "model_type");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"qwen2\"," DIMS "}",
                "'LlamaForCausalLM'", "'qwen2'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"architectures\":\"LlamaForCausalLM\"," DIMS "}", "architectures");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"architectures\":[]," DIMS "}", "architectures");

    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"hidden_act\":\"gelu\"}", "hidden_act 'gelu'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0}}",
                "rope_scaling.rope_type 'yarn'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}}",
                "rope_scaling.type 'linear'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"rope_parameters\":{\"rope_type\":\"dynamic\",\"factor\":2.0}}",
                "rope_parameters.rope_type 'dynamic'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"rope_scaling\":{\"rope_type\":\"longrope\"}}", "'longrope'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"low_freq_factor\":1,"
                                "\"high_freq_factor\":4,\"original_max_position_embeddings\":8192}}", "rope_scaling.factor");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":4,"
                                "\"high_freq_factor\":4,\"original_max_position_embeddings\":8192}}", "high_freq_factor");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"rope_scaling\":\"llama3\"}", "rope_scaling", "a string");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"partial_rotary_factor\":0.5}", "partial_rotary_factor");

    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"MistralForCausalLM\"]," DIMS ",\"sliding_window\":1024}",
                "sliding_window 1024");
    CHECK(strstr(awq_errhint(), "2048") != NULL, "hint: %s", awq_errhint());
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"Qwen2ForCausalLM\"]," DIMS ",\"use_sliding_window\":true,"
                                     "\"sliding_window\":1024,\"max_window_layers\":0}", "sliding_window 1024");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"Qwen3ForCausalLM\"]," DIMS ",\"use_sliding_window\":true,"
                                     "\"sliding_window\":512,\"max_window_layers\":4}", "sliding_window 512");

    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"num_key_value_heads\":5}", "num_attention_heads 32", "num_key_value_heads 5");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA ",\"hidden_size\":4100,\"intermediate_size\":1,\"num_hidden_layers\":1,"
                                "\"num_attention_heads\":32,\"vocab_size\":10}", "hidden_size 4100", "num_attention_heads 32");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"head_dim\":7}", "head_dim 7");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA ",\"intermediate_size\":11008,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
                                "\"vocab_size\":32000}", "required key 'hidden_size' is missing");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA ",\"hidden_size\":4096,\"intermediate_size\":11008,\"num_hidden_layers\":32,"
                                "\"num_attention_heads\":32}", "'vocab_size'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"num_hidden_layers\":0}", "'num_hidden_layers'", "out of range");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"vocab_size\":1000000000}", "'vocab_size'", "out of range");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"rms_norm_eps\":0}", "'rms_norm_eps'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"rope_theta\":-1}", "'rope_theta'");

    /* wrong JSON types */
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA ",\"hidden_size\":\"4096\",\"intermediate_size\":11008,\"num_hidden_layers\":32,"
                                "\"num_attention_heads\":32,\"vocab_size\":32000}", "'hidden_size' is a string, expected an integer");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA ",\"hidden_size\":4096.0,\"intermediate_size\":11008,\"num_hidden_layers\":32,"
                                "\"num_attention_heads\":32,\"vocab_size\":32000}", "'hidden_size' is a real number");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"tie_word_embeddings\":\"true\"}", "'tie_word_embeddings'", "true or false");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"attention_bias\":1}", "'attention_bias'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"rms_norm_eps\":\"1e-5\"}", "'rms_norm_eps' is a string");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"eos_token_id\":\"2\"}", "'eos_token_id'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"eos_token_id\":[2,\"x\"]}", "'eos_token_id[1]'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" LLAMA "," DIMS ",\"hidden_act\":[\"silu\"]}", "'hidden_act'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"architectures\":[\"Qwen2ForCausalLM\"]," DIMS ",\"use_sliding_window\":\"yes\"}",
                "'use_sliding_window'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"torch_dtype\":\"float64\"}", "torch_dtype 'float64'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" LLAMA "," DIMS ",\"dtype\":\"int8\"}", "dtype 'int8'");

    /* malformed JSON */
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"architectures\":[\"LlamaForCausalLM\"],", "not valid JSON", "line 1");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "", "not valid JSON");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"hidden_size\":NaN}", "not valid JSON");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "[1,2]", "is an array, expected a JSON object");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "42", "expected a JSON object");
}

/* Mixtral-8x7B and Qwen3-30B-A3B as published, and the per-layer rule of Qwen3-MoE. */
static void t_moe(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{\"architectures\":[\"MixtralForCausalLM\"],\"model_type\":\"mixtral\",\"hidden_size\":4096,"
                      "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
                      "\"num_key_value_heads\":8,\"vocab_size\":32000,\"num_local_experts\":8,\"num_experts_per_tok\":2,"
                      "\"sliding_window\":null,\"rope_theta\":1e6}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_MIXTRAL && c.n_experts == 8 && c.n_experts_per_tok == 2 && c.norm_topk_prob == 1 &&
          c.moe_intermediate_size == 14336 && awq_config_is_moe(&c), "mixtral: E %d k %d norm %d Fe %d", c.n_experts,
          c.n_experts_per_tok, c.norm_topk_prob, c.moe_intermediate_size);
    for (int l = 0; l < 32; l++) CHECK(awq_layer_experts(&c, l) == 8, "mixtral layer %d dense", l);
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\",\"hidden_size\":2048,"
                      "\"intermediate_size\":6144,\"num_hidden_layers\":48,\"num_attention_heads\":32,\"head_dim\":128,"
                      "\"num_key_value_heads\":4,\"vocab_size\":151936,\"num_experts\":128,\"num_experts_per_tok\":8,"
                      "\"moe_intermediate_size\":768,\"norm_topk_prob\":true,\"decoder_sparse_step\":1,"
                      "\"mlp_only_layers\":[]}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_QWEN3_MOE && c.qk_norm && c.n_experts == 128 && c.n_experts_per_tok == 8 &&
          c.moe_intermediate_size == 768 && c.norm_topk_prob == 1 && awq_layer_experts(&c, 47) == 128, "qwen3_moe");
    /* decoder_sparse_step 2: layers 1, 3, ... sparse; mlp_only_layers makes 3 dense again; the
     * transformers 5 key num_local_experts is read too; norm_topk_prob defaults to false */
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen3MoeForCausalLM\"]," DIMS ",\"num_local_experts\":16,"
                      "\"decoder_sparse_step\":2,\"mlp_only_layers\":[3]}") == AWQ_OK, "%s", awq_errmsg());
    int want[6] = {0, 16, 0, 0, 0, 16};
    for (int l = 0; l < 6; l++) CHECK(awq_layer_experts(&c, l) == want[l], "layer %d: %d experts", l, awq_layer_experts(&c, l));
    CHECK(c.norm_topk_prob == 0 && c.n_experts_per_tok == 8 && c.moe_intermediate_size == 768, "qwen3_moe defaults");
    /* no experts at all: a dense model */
    REQUIRE(parse(&c, "{\"architectures\":[\"Qwen3MoeForCausalLM\"]," DIMS ",\"num_experts\":0}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(!awq_config_is_moe(&c) && awq_layer_experts(&c, 1) == 0, "num_experts 0 is dense");
    REQUIRE(parse(&c, "{" LLAMA "," DIMS "}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(!awq_config_is_moe(&c) && awq_layer_experts(&c, 0) == 0, "llama has no experts");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"architectures\":[\"MixtralForCausalLM\"]," DIMS ",\"num_local_experts\":4,\"num_experts_per_tok\":5}",
                "num_experts_per_tok 5", "4 experts");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"architectures\":[\"Qwen3MoeForCausalLM\"]," DIMS ",\"mlp_only_layers\":[32]}",
                "mlp_only_layers[0]", "[0, 32)");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{\"architectures\":[\"MixtralForCausalLM\"]," DIMS ",\"num_local_experts\":257}",
                "num_local_experts", "257");
}

/* DeepSeek-V3 as released (4.x config: rope_scaling with "type": "yarn", the keys transformers
 * ignores), the class defaults of DeepseekV3Config, q_lora_rank null, and every refusal. */
#define DSV3 "\"architectures\":[\"DeepseekV3ForCausalLM\"],\"model_type\":\"deepseek_v3\""
#define DSV3_TINY DSV3 ",\"hidden_size\":64,\"intermediate_size\":96,\"num_hidden_layers\":3,\"num_attention_heads\":4," \
                  "\"vocab_size\":256,\"n_routed_experts\":8,\"n_group\":4,\"topk_group\":2,\"num_experts_per_tok\":3"
#define PHI3 "\"architectures\":[\"Phi3ForCausalLM\"],\"model_type\":\"phi3\",\"hidden_size\":3072," \
             "\"intermediate_size\":8192,\"num_hidden_layers\":32,\"num_attention_heads\":32,\"vocab_size\":32064"
#define GEMMA2 "\"architectures\":[\"Gemma2ForCausalLM\"],\"model_type\":\"gemma2\",\"hidden_size\":2304," \
               "\"intermediate_size\":9216,\"num_hidden_layers\":26,\"num_attention_heads\":8,\"num_key_value_heads\":4," \
               "\"vocab_size\":256000"
/* Gemma2Config's defaults (head_dim 256, query_pre_attn_scalar 256, window 4096 on the even layers,
 * caps 50 and 30, tied embeddings, eps 1e-6), layer_types, nulls, and the refusals. */
static void t_gemma2(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{" GEMMA2 "}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_GEMMA2 && c.gemma && c.head_dim == 256 && c.query_pre_attn_scalar == 256 &&
          c.sliding_window == 4096 && c.attn_softcap == 50 && c.final_softcap == 30 && c.tie_word_embeddings &&
          c.rms_norm_eps == 1e-6 && c.max_position_embeddings == 8192 && !c.qkv_bias, "gemma2 defaults");
    CHECK(awq_layer_window(&c, 0) == 4096 && awq_layer_window(&c, 1) == 0 && awq_layer_window(&c, 24) == 4096 &&
          awq_layer_window(&c, 25) == 0, "gemma2: even layers slide");
    REQUIRE(parse(&c, "{" GEMMA2 ",\"num_hidden_layers\":3,\"layer_types\":[\"full_attention\",\"sliding_attention\","
                      "\"full_attention\"],\"sliding_window\":512,\"attn_logit_softcapping\":null,"
                      "\"final_logit_softcapping\":null,\"query_pre_attn_scalar\":144,\"head_dim\":128,"
                      "\"tie_word_embeddings\":false}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(awq_layer_window(&c, 0) == 0 && awq_layer_window(&c, 1) == 512 && awq_layer_window(&c, 2) == 0 &&
          c.attn_softcap == 0 && c.final_softcap == 0 && c.query_pre_attn_scalar == 144 && c.head_dim == 128 &&
          !c.tie_word_embeddings, "gemma2 layer_types, nulls");
    REQUIRE(parse(&c, "{" GEMMA2 ",\"sliding_window\":null}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(awq_layer_window(&c, 0) == 0, "gemma2: null window");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" GEMMA2 ",\"layer_types\":[\"full_attention\"]}", "layer_types", "26");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" GEMMA2 ",\"num_hidden_layers\":2,\"layer_types\":[\"full_attention\",\"chunked\"]}",
                "layer_types[1]");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" GEMMA2 ",\"hidden_activation\":\"gelu\"}", "hidden_activation 'gelu'");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" GEMMA2 ",\"use_bidirectional_attention\":true}", "use_bidirectional_attention");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" GEMMA2 ",\"attn_logit_softcapping\":-1}", "attn_logit_softcapping");
}

#define GEMMA3 "\"architectures\":[\"Gemma3ForCausalLM\"],\"model_type\":\"gemma3_text\",\"hidden_size\":2560," \
               "\"intermediate_size\":10240,\"num_hidden_layers\":34,\"num_attention_heads\":8,\"num_key_value_heads\":4," \
               "\"vocab_size\":262208"
/* Gemma3TextConfig: q/k norms, no soft-capping, every sixth layer global (sliding_window_pattern),
 * rope theta 1e6 (global, linear scaling from rope_scaling) and 1e4 (local); the released form
 * (gemma-3-4b's text_config keys) and transformers 5's rope_parameters per layer type. */
static void t_gemma3(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{" GEMMA3 "}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_GEMMA3 && c.gemma && c.qk_norm && c.head_dim == 256 && c.attn_softcap == 0 &&
          c.final_softcap == 0 && c.rope_theta == 1e6 && c.rope_local_theta == 1e4 && c.rope_type == AWQ_ROPE_DEFAULT &&
          c.max_position_embeddings == 131072 && c.tie_word_embeddings, "gemma3 defaults");
    int global = 0;
    for (int l = 0; l < 34; l++) global += !c.layer_sliding[l];
    CHECK(global == 5 && !c.layer_sliding[5] && c.layer_sliding[6] && !c.layer_sliding[29], "pattern 6: %d global", global);
    REQUIRE(parse(&c, "{" GEMMA3 ",\"rope_theta\":1000000.0,\"rope_local_base_freq\":10000.0,\"sliding_window\":1024,"
                      "\"sliding_window_pattern\":6,\"rope_scaling\":{\"factor\":8.0,\"rope_type\":\"linear\"},"
                      "\"query_pre_attn_scalar\":256}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_LINEAR && c.rope_factor == 8 && c.sliding_window == 1024 && awq_layer_window(&c, 0) == 1024 &&
          awq_layer_window(&c, 5) == 0, "gemma-3-4b text config");
    REQUIRE(parse(&c, "{" GEMMA3 ",\"rope_parameters\":{\"full_attention\":{\"rope_type\":\"linear\",\"factor\":4.0,"
                      "\"rope_theta\":500000.0},\"sliding_attention\":{\"rope_type\":\"default\",\"rope_theta\":20000.0}}}") == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_LINEAR && c.rope_factor == 4 && c.rope_theta == 5e5 && c.rope_local_theta == 2e4,
          "gemma3 rope_parameters: %g %g %g", c.rope_factor, c.rope_theta, c.rope_local_theta);
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" GEMMA3 ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":8.0}}", "'yarn'", "Gemma 3");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" GEMMA3 ",\"rope_parameters\":{\"sliding_attention\":{\"rope_type\":\"linear\","
                "\"factor\":2.0}}}", "sliding_attention", "linear");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" GEMMA3 ",\"rope_scaling\":{\"rope_type\":\"linear\"}}", "factor");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"Gemma3ForCausalLM\"],\"model_type\":\"gemma3\",\"hidden_size\":64,"
                "\"intermediate_size\":96,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":256}", "gemma3");
}

/* Phi3Config: eps 1e-5 and 4096 positions by default, fused linears; longrope ("su" read as it, the
 * top-level original_max_position_embeddings wins, attention factor from max/original), partial rotary */
static void t_phi3(void)
{
    awq_config c;
    char sf[2048], lf[2048];
    int n = 0, k = 0;
    for (int j = 0; j < 48; j++) {
        n += snprintf(sf + n, sizeof sf - (size_t)n, "%s%g", j ? "," : "", 1.0 + 0.01 * j);
        k += snprintf(lf + k, sizeof lf - (size_t)k, "%s%g", j ? "," : "", 1.0 + 0.5 * j);
    }
    REQUIRE(parse(&c, "{" PHI3 "}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_PHI3 && c.fused && c.rms_norm_eps == 1e-5 && c.max_position_embeddings == 4096 &&
          c.head_dim == 96 && c.rotary_dim == 0 && c.rope_type == AWQ_ROPE_DEFAULT && !c.qkv_bias, "phi3 defaults");
    /* Phi-3-mini-128k: su, 131072 / 4096 -> sqrt(1 + ln 32 / ln 4096) */
    REQUIRE(parse(&c, "{" PHI3 ",\"max_position_embeddings\":131072,\"original_max_position_embeddings\":4096,"
                      "\"rope_scaling\":{\"type\":\"su\",\"short_factor\":[%s],\"long_factor\":[%s],"
                      "\"original_max_position_embeddings\":99}}", sf, lf) == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.rope_type == AWQ_ROPE_LONGROPE && c.rope_original_max_position_embeddings == 4096 &&
          fabs(c.rope_attention_factor - sqrt(1 + log(32.0) / log(4096.0))) < 1e-15 && c.rope_short_factor[47] == 1.47f &&
          c.rope_long_factor[1] == 1.5f, "phi3 longrope: orig %d af %.17g", c.rope_original_max_position_embeddings,
          c.rope_attention_factor);
    /* Phi-4-mini: partial_rotary_factor 0.75 of head 128 -> 96 rotate, 48 factors */
    REQUIRE(parse(&c, "{" PHI3 ",\"num_attention_heads\":24,\"num_key_value_heads\":8,\"partial_rotary_factor\":0.75,"
                      "\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[%s],\"long_factor\":[%s]}}", sf, lf) == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(c.head_dim == 128 && c.rotary_dim == 96 && c.rope_attention_factor == 1.0, "phi4-mini: rotary %d af %g", c.rotary_dim,
          c.rope_attention_factor);
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" PHI3 ",\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[1,2],\"long_factor\":[1,2]}}",
                "short_factor", "48 numbers");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" PHI3 ",\"rope_scaling\":{\"type\":\"llama3\"}}", "not supported for Phi3");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" PHI3 ",\"partial_rotary_factor\":0.01}", "partial_rotary_factor");
    /* Phi-3-mini-4k's sliding_window 2047: accepted, the attention op computes the window */
    REQUIRE(parse(&c, "{" PHI3 ",\"sliding_window\":2047}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.sliding_window == 2047 && awq_layer_window(&c, 0) == 2047 && awq_layer_window(&c, 31) == 2047, "phi3 window %d",
          c.sliding_window);
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"MistralForCausalLM\"]," DIMS ",\"sliding_window\":2047}", "2047");
}

static void t_deepseek_v3(void)
{
    awq_config c;
    REQUIRE(parse(&c, "{" DSV3 ",\"hidden_size\":7168,\"intermediate_size\":18432,\"num_hidden_layers\":61,"
                      "\"num_attention_heads\":128,\"num_key_value_heads\":128,\"vocab_size\":129280,"
                      "\"max_position_embeddings\":163840,\"rms_norm_eps\":1e-06,\"q_lora_rank\":1536,\"kv_lora_rank\":512,"
                      "\"qk_nope_head_dim\":128,\"qk_rope_head_dim\":64,\"v_head_dim\":128,\"n_routed_experts\":256,"
                      "\"n_shared_experts\":1,\"num_experts_per_tok\":8,\"moe_intermediate_size\":2048,\"n_group\":8,"
                      "\"topk_group\":4,\"first_k_dense_replace\":3,\"norm_topk_prob\":true,\"routed_scaling_factor\":2.5,"
                      "\"scoring_func\":\"sigmoid\",\"topk_method\":\"noaux_tc\",\"moe_layer_freq\":1,"
                      "\"num_nextn_predict_layers\":1,\"rope_theta\":10000,\"rope_scaling\":{\"beta_fast\":32,\"beta_slow\":1,"
                      "\"factor\":40,\"mscale\":1.0,\"mscale_all_dim\":1.0,\"original_max_position_embeddings\":4096,"
                      "\"type\":\"yarn\"},\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\"}") == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(c.arch == AWQ_ARCH_DEEPSEEK_V3 && c.mla && c.head_dim == 192 && c.num_key_value_heads == 128 &&
          c.q_lora_rank == 1536 && c.kv_lora_rank == 512 && c.v_head_dim == 128 && c.rope_interleave &&
          awq_attn_out_width(&c) == 128 * 128, "dsv3 attention: D %d q_lora %d", c.head_dim, c.q_lora_rank);
    double m = 0.1 * log(40.0) + 1.0;
    CHECK(c.rope_type == AWQ_ROPE_YARN && c.rope_factor == 40 && c.rope_original_max_position_embeddings == 4096 &&
          c.rope_beta_fast == 32 && c.rope_beta_slow == 1 && c.rope_truncate && c.rope_attention_factor == 1.0 &&
          fabs(c.attn_scale - pow(192.0, -0.5) * m * m) < 1e-15, "dsv3 yarn: scale %.17g af %.17g", c.attn_scale,
          c.rope_attention_factor);
    CHECK(c.router == AWQ_ROUTER_SIGMOID_GROUPED && c.n_experts == 256 && c.n_experts_per_tok == 8 && c.n_group == 8 &&
          c.topk_group == 4 && c.n_shared_experts == 1 && c.routed_scaling_factor == 2.5 && c.norm_topk_prob &&
          c.moe_intermediate_size == 2048, "dsv3 experts");
    for (int l = 0; l < 61; l++) CHECK(awq_layer_experts(&c, l) == (l < 3 ? 0 : 256), "dsv3 layer %d: %d experts", l, awq_layer_experts(&c, l));
    /* the class defaults; q_lora_rank null = q_proj; default RoPE keeps the plain scale */
    REQUIRE(parse(&c, "{" DSV3 ",\"hidden_size\":64,\"intermediate_size\":96,\"num_hidden_layers\":4,"
                      "\"num_attention_heads\":4,\"vocab_size\":256,\"q_lora_rank\":null}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.q_lora_rank == 0 && c.kv_lora_rank == 512 && c.head_dim == 192 && c.v_head_dim == 128 && c.n_experts == 256 &&
          c.n_group == 8 && c.topk_group == 4 && c.first_k_dense_replace == 3 && c.routed_scaling_factor == 2.5 &&
          c.rope_type == AWQ_ROPE_DEFAULT && c.rope_theta == 10000 && c.attn_scale == pow(192.0, -0.5) &&
          awq_layer_experts(&c, 2) == 0 && awq_layer_experts(&c, 3) == 256, "dsv3 defaults");
    REQUIRE(parse(&c, "{" DSV3 ",\"hidden_size\":64,\"intermediate_size\":96,\"num_hidden_layers\":4,"
                      "\"num_attention_heads\":4,\"vocab_size\":256}") == AWQ_OK, "%s", awq_errmsg());
    CHECK(c.q_lora_rank == 1536, "absent q_lora_rank: the default 1536, got %d", c.q_lora_rank);
    /* yarn with attention_factor given, betas 0 meaning their defaults, truncate false, a top-level original */
    REQUIRE(parse(&c, "{" DSV3_TINY ",\"original_max_position_embeddings\":256,\"rope_parameters\":{\"rope_type\":\"yarn\","
                      "\"rope_theta\":1e4,\"factor\":4,\"original_max_position_embeddings\":128,\"beta_fast\":0,"
                      "\"attention_factor\":0.5,\"truncate\":false,\"mscale_all_dim\":0.707}}") == AWQ_OK, "%s", awq_errmsg());
    m = 0.1 * 0.707 * log(4.0) + 1.0;
    CHECK(c.rope_original_max_position_embeddings == 256 && c.rope_beta_fast == 32 && !c.rope_truncate &&
          c.rope_attention_factor == 0.5 && fabs(c.attn_scale - pow(192.0, -0.5) * m * m) < 1e-15, "yarn keys");
    /* mscale and mscale_all_dim both set: cos/sin factor get_mscale(f, mscale) / get_mscale(f, mscale_all_dim) */
    REQUIRE(parse(&c, "{" DSV3_TINY ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":4,"
                      "\"original_max_position_embeddings\":128,\"mscale\":1.0,\"mscale_all_dim\":0.707}}") == AWQ_OK,
            "%s", awq_errmsg());
    CHECK(fabs(c.rope_attention_factor - (0.1 * log(4.0) + 1) / m) < 1e-15 && c.rope_original_max_position_embeddings == 128,
          "attention factor %.17g", c.rope_attention_factor);

    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" DSV3_TINY ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
                "'llama3'", "DeepseekV3", "default and yarn");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"rope_scaling\":{\"type\":\"yarn\",\"beta_fast\":32}}", "rope_scaling.factor");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4,\"mscale\":\"1\"}}",
                "rope_scaling.mscale");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4,\"truncate\":1}}",
                "rope_scaling.truncate");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3 ",\"hidden_size\":64,\"intermediate_size\":96,\"num_hidden_layers\":3,"
                                "\"num_attention_heads\":4,\"vocab_size\":256,\"n_routed_experts\":10,\"n_group\":4}",
                "n_routed_experts 10", "n_group 4");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3 ",\"hidden_size\":64,\"intermediate_size\":96,\"num_hidden_layers\":3,"
                                "\"num_attention_heads\":4,\"vocab_size\":256,\"n_routed_experts\":8,\"n_group\":8}",
                "at least 2 experts");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"topk_group\":5}", "topk_group 5", "n_group 4");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"num_experts_per_tok\":5}", "num_experts_per_tok 5", "the 4 experts");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" DSV3_TINY ",\"attention_bias\":true}", "attention_bias");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" DSV3_TINY ",\"num_key_value_heads\":2}", "num_key_value_heads 2");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" DSV3_TINY ",\"n_shared_experts\":0}", "n_shared_experts 0");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"qk_rope_head_dim\":7}", "qk_rope_head_dim 7");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"q_lora_rank\":\"48\"}", "'q_lora_rank'", "an integer");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"routed_scaling_factor\":0}", "'routed_scaling_factor'");
    EXPECT_FAIL(AWQ_ERR_FORMAT, "{" DSV3_TINY ",\"rope_interleave\":1}", "'rope_interleave'", "true or false");
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{" DSV3_TINY ",\"hidden_act\":\"gelu\"}", "hidden_act 'gelu'");
    /* the yarn refusal of the other architectures stays */
    EXPECT_FAIL(AWQ_ERR_UNSUPPORTED, "{\"architectures\":[\"Qwen3ForCausalLM\"]," DIMS ",\"rope_scaling\":{\"rope_type\":\"yarn\","
                                     "\"factor\":4.0}}", "'yarn'");
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"llama_defaults", t_llama_defaults},
        {"llama31_explicit", t_llama31_explicit},
        {"rope_parameters_form", t_rope_parameters_form},
        {"mistral", t_mistral},
        {"moe", t_moe},
        {"deepseek_v3", t_deepseek_v3},
        {"phi3", t_phi3},
        {"gemma2", t_gemma2},
        {"gemma3", t_gemma3},
        {"qwen2", t_qwen2},
        {"qwen3", t_qwen3},
        {"load_file_and_dir", t_load_file_and_dir},
        {"rejects", t_rejects},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
