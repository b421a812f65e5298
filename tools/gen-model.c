/* gen-model.c - awq-gen-model: write a synthetic HF model directory (config.json + safetensors,
 * spec §1.1-1.3, + awqmake_synthetic.json with the generator's arguments and outlier channels)
 * for tests, the demo and benchmarks: Llama, Mistral, Qwen2, Qwen3 and the mixture-of-experts
 * Mixtral and Qwen3-MoE, with presets of real shapes. Tensor values are described in synth.h.
 * --dry-run writes nothing and prints the config.json and safetensors headers it would write.
 * The directory appears whole or not at all: everything is written into <parent>/.tmp-<name>-XXXXXX
 * (each file atomically), which is renamed to the output path at the end. Tensors are streamed
 * one 16 MiB chunk at a time, so the 13.5 GB w7 preset needs little memory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../cache/atomic.h"
#include "../base/error.h"
#include "../stages/common/log.h"
#include "../stages/common/opts.h"
#include "../stages/common/safetensors.h"
#include "cli.h"
#include "synth.h"

#define PROG "awq-gen-model"

/* Options whose defaults depend on the preset or the architecture are strings: NULL = not given. */
typedef struct gen_args {
    const char *out, *preset, *arch, *dtype, *hidden, *ffn, *layers, *heads, *kv_heads, *head_dim, *vocab;
    const char *seed, *outliers, *outlier_scale, *embed_outlier_scale, *rope_theta, *rope_scaling, *rms_eps;
    const char *max_pos, *bos, *eos, *shard_size;
    const char *experts, *experts_per_tok, *moe_ffn, *decoder_sparse_step, *mlp_only_layers;
    int tie, attention_bias, mlp_bias, norm_topk_prob, no_norm_topk_prob, dry_run;
} gen_args;

static gen_args g_args;

static const awq_opt g_opts[] = {
    {"out", 'o', AWQ_OPT_STRING, &g_args.out, "DIR", "output model directory (must not exist, or be empty; required unless --dry-run)", 0},
    {"preset", 0, AWQ_OPT_STRING, &g_args.preset, "NAME", "tiny (default: llama C=128 F=256 L=2 H=4 Hkv=2 V=512), w7 (Llama-2-7B shape), llama-70b (Llama-2-70B shape, 80 layers), "
     "tiny-mixtral (C=64 F=128 L=2 H=4 Hkv=2 V=512, 8 experts top-2; the default with --arch mixtral), "
     "tiny-qwen3-moe (C=64 F=128 L=2 H=4 Hkv=2 D=32 V=512, 16 experts top-4 of width 32, norm_topk_prob; the default with --arch qwen3_moe), "
     "mixtral-8x7b (Mixtral-8x7B-v0.1 shape, 32 layers), qwen3-30b-a3b (Qwen3-30B-A3B shape, 48 layers), "
     "qwen3-235b-a22b (Qwen3-235B-A22B shape, 94 layers), "
     "tiny-deepseek-v3 (C=64 F=128 L=2 H=4 V=512, latent attention q_lora 32 kv_lora 32, 8 experts top-2 of width 32 + 1 shared, "
     "layer 0 dense; the default with --arch deepseek_v3), deepseek-v3 (DeepSeek-V3 shape, 61 layers, the first 3 dense; "
     "with --layers L <= 3 the first L-1, so --layers 2 is one dense and one MoE block), "
     "tiny-phi3 (C=128 F=256 L=2 H=Hkv=4 V=512, fused qkv_proj and gate_up_proj; the default with --arch phi3), "
     "tiny-gemma2 (C=128 F=256 L=2 H=4 Hkv=2 V=512, (1 + w) norms, sliding window 64 on layer 0, soft-capping 50/30; "
     "the default with --arch gemma2), tiny-gemma3 (C=128 F=256 L=2 H=4 Hkv=2 V=512, the Gemma 2 block plus (1 + w) q/k norms, "
     "layer 0 sliding (window 64, local RoPE base 1e4), layer 1 global (theta 1e6, linear factor 8); the default with --arch gemma3_text); "
     "every preset's --layers can be lowered, e.g. --preset mixtral-8x7b --layers 1 is one full-size block", 0},
    {"arch", 0, AWQ_OPT_STRING, &g_args.arch, "ARCH", "llama | mistral | qwen2 | qwen3 | mixtral | qwen3_moe | deepseek_v3 | phi3 | gemma2 | gemma3_text "
     "(default: the preset's, llama)", 0},
    {"dtype", 0, AWQ_OPT_STRING, &g_args.dtype, "T", "f16 | bf16 | f32 (default f16)", 0},
    {"hidden", 0, AWQ_OPT_STRING, &g_args.hidden, "C", "hidden_size (default: the preset's)", 0},
    {"ffn", 0, AWQ_OPT_STRING, &g_args.ffn, "F", "intermediate_size", 0},
    {"layers", 0, AWQ_OPT_STRING, &g_args.layers, "L", "num_hidden_layers", 0},
    {"heads", 0, AWQ_OPT_STRING, &g_args.heads, "H", "num_attention_heads", 0},
    {"kv-heads", 0, AWQ_OPT_STRING, &g_args.kv_heads, "HKV", "num_key_value_heads, GQA when < heads (default: heads when --heads is given)", 0},
    {"head-dim", 0, AWQ_OPT_STRING, &g_args.head_dim, "D", "head_dim (default hidden/heads; may differ, as in Qwen3)", 0},
    {"vocab", 0, AWQ_OPT_STRING, &g_args.vocab, "V", "vocab_size", 0},
    {"tie", 0, AWQ_OPT_FLAG, &g_args.tie, NULL, "tie_word_embeddings: no lm_head.weight", 0},
    {"attention-bias", 0, AWQ_OPT_FLAG, &g_args.attention_bias, NULL, "llama/qwen3/qwen3_moe: bias on q,k,v,o (qwen2 always has q,k,v bias)", 0},
    {"mlp-bias", 0, AWQ_OPT_FLAG, &g_args.mlp_bias, NULL, "llama: bias on gate,up,down", 0},
    {"seed", 0, AWQ_OPT_STRING, &g_args.seed, "S", "random seed in [0, 2^63) (default 0); same arguments -> identical bytes", 0},
    {"outliers", 0, AWQ_OPT_STRING, &g_args.outliers, "K", "outlier channels planted in the layer norms (default 4)", 0},
    {"outlier-scale", 0, AWQ_OPT_STRING, &g_args.outlier_scale, "X", "factor on those norm channels (default 20)", 0},
    {"embed-outlier-scale", 0, AWQ_OPT_STRING, &g_args.embed_outlier_scale, "X", "factor on the same embedding columns (default 1: off)", 0},
    {"rope-theta", 0, AWQ_OPT_STRING, &g_args.rope_theta, "T", "rope_theta (default 1e4 llama, 5e5 llama with llama3 rope, 1e6 others)", 0},
    {"rope-scaling", 0, AWQ_OPT_STRING, &g_args.rope_scaling, "TYPE", "none (default) or llama3 (factor 8, low 1, high 4, original 8192)", 0},
    {"rms-eps", 0, AWQ_OPT_STRING, &g_args.rms_eps, "E", "rms_norm_eps (default 1e-5 llama/mistral/mixtral, 1e-6 qwen*)", 0},
    {"max-pos", 0, AWQ_OPT_STRING, &g_args.max_pos, "N", "max_position_embeddings (default 4096, the full-size MoE presets' own; 131072 with llama3 rope)", 0},
    {"bos", 0, AWQ_OPT_STRING, &g_args.bos, "ID", "bos_token_id (default 1; the qwen3 MoE presets 151643)", 0},
    {"eos", 0, AWQ_OPT_STRING, &g_args.eos, "ID", "eos_token_id (default 2; the qwen3 MoE presets 151645)", 0},
    {"shard-size", 0, AWQ_OPT_STRING, &g_args.shard_size, "BYTES", "max tensor bytes per shard, e.g. 5GB, 200MiB (default: one file)", 0},
    {"experts", 0, AWQ_OPT_STRING, &g_args.experts, "E", "mixtral/qwen3_moe: routed experts per MoE layer, 1..256 "
     "(num_local_experts / num_experts; default: the preset's, 8 from a dense preset)", 0},
    {"experts-per-tok", 0, AWQ_OPT_STRING, &g_args.experts_per_tok, "K", "mixtral/qwen3_moe: experts each token is routed to, "
     "1..E (num_experts_per_tok; default: the preset's, 2 from a dense preset)", 0},
    {"moe-ffn", 0, AWQ_OPT_STRING, &g_args.moe_ffn, "F", "qwen3_moe: each expert's width, moe_intermediate_size (default: the preset's, "
     "--ffn from a dense preset); mixtral's experts are --ffn wide", 0},
    {"norm-topk-prob", 0, AWQ_OPT_FLAG, &g_args.norm_topk_prob, NULL, "qwen3_moe: norm_topk_prob true, the top-k weights renormalized "
     "(default: the preset's; mixtral always renormalizes)", 0},
    {"no-norm-topk-prob", 0, AWQ_OPT_FLAG, &g_args.no_norm_topk_prob, NULL, "qwen3_moe: norm_topk_prob false (the class default)", 0},
    {"decoder-sparse-step", 0, AWQ_OPT_STRING, &g_args.decoder_sparse_step, "S", "qwen3_moe: layer i has experts when (i+1) % S == 0, "
     "others a dense mlp of --ffn (default 1: every layer)", 0},
    {"mlp-only-layers", 0, AWQ_OPT_STRING, &g_args.mlp_only_layers, "I,J", "qwen3_moe: comma-separated layer indices that get a dense "
     "mlp of --ffn instead of experts (default: none)", 0},
    {"dry-run", 0, AWQ_OPT_FLAG, &g_args.dry_run, NULL, "write nothing: print {config, sidecar, files: {name: safetensors header}, "
     "total_size} as JSON on stdout (checks a full-size preset's shapes without its gigabytes)", 0},
    {0},
};

typedef struct preset {
    const char *name;
    awq_arch arch;
    int hidden, ffn, layers, heads, kv_heads, vocab;
    int head_dim;                              /* 0: hidden / heads */
    int experts, experts_per_tok, moe_ffn;     /* 0 experts: a dense preset */
    int norm_topk_prob;
    int max_pos, bos, eos;                     /* 0: the generator's defaults */
} preset;

/* The full-size shapes are those of the published config.json files (values checked against
 * them; also in tests/test_genmodel.c):
 *   mixtral-8x7b: huggingface.co/mistralai/Mixtral-8x7B-v0.1 config.json (transformers 4.36.0.dev0):
 *     hidden_size 4096, intermediate_size 14336, num_hidden_layers 32, num_attention_heads 32,
 *     num_key_value_heads 8, num_local_experts 8, num_experts_per_tok 2, vocab_size 32000,
 *     max_position_embeddings 32768, rope_theta 1e6, rms_norm_eps 1e-5, bos 1, eos 2; also
 *     MixtralConfig's defaults (transformers configuration_mixtral.py).
 *   qwen3-30b-a3b: huggingface.co/Qwen/Qwen3-30B-A3B config.json (transformers 4.51.0):
 *     hidden_size 2048, intermediate_size 6144, moe_intermediate_size 768, num_hidden_layers 48,
 *     num_attention_heads 32, num_key_value_heads 4, head_dim 128, num_experts 128,
 *     num_experts_per_tok 8, norm_topk_prob true, decoder_sparse_step 1, mlp_only_layers [],
 *     vocab_size 151936, max_position_embeddings 40960, rope_theta 1e6, rms_norm_eps 1e-6,
 *     bos 151643, eos 151645, tie_word_embeddings false (q/k norm: Qwen3MoeAttention always).
 *   qwen3-235b-a22b: huggingface.co/Qwen/Qwen3-235B-A22B config.json and model card: hidden_size
 *     4096, intermediate_size 12288, moe_intermediate_size 1536 (each expert's gate/up [1536, 4096]),
 *     num_hidden_layers 94, num_attention_heads 64, num_key_value_heads 4, head_dim 128,
 *     num_experts 128, num_experts_per_tok 8, and the rest as Qwen3-30B-A3B's (norm_topk_prob,
 *     vocab_size 151936, max_position_embeddings 40960, rope_theta 1e6, bos/eos, untied).
 * The tiny ones keep the real expert counts where cheap (Mixtral's 8 of 2) and Qwen3's
 * head_dim > hidden / heads, with dims small enough for the CPU tests. */
static const preset g_presets[] = {
    {"tiny", AWQ_ARCH_LLAMA, 128, 256, 2, 4, 2, 512, 0, 0, 0, 0, 0, 0, 0, 0},
    {"w7", AWQ_ARCH_LLAMA, 4096, 11008, 32, 32, 32, 32000, 0, 0, 0, 0, 0, 0, 0, 0}, /* Llama-2-7B */
    {"llama-70b", AWQ_ARCH_LLAMA, 8192, 28672, 80, 64, 8, 32000, 0, 0, 0, 0, 0, 0, 0, 0}, /* Llama-2-70B (GQA 64/8) */
    {"tiny-mixtral", AWQ_ARCH_MIXTRAL, 64, 128, 2, 4, 2, 512, 0, 8, 2, 128, 1, 0, 0, 0},
    {"tiny-qwen3-moe", AWQ_ARCH_QWEN3_MOE, 64, 128, 2, 4, 2, 512, 32, 16, 4, 32, 1, 0, 0, 0},
    {"mixtral-8x7b", AWQ_ARCH_MIXTRAL, 4096, 14336, 32, 32, 8, 32000, 0, 8, 2, 14336, 1, 32768, 1, 2},
    {"qwen3-30b-a3b", AWQ_ARCH_QWEN3_MOE, 2048, 6144, 48, 32, 4, 151936, 128, 128, 8, 768, 1, 40960, 151643, 151645},
    {"qwen3-235b-a22b", AWQ_ARCH_QWEN3_MOE, 4096, 12288, 94, 64, 4, 151936, 128, 128, 8, 1536, 1, 40960, 151643, 151645},
    {"tiny-deepseek-v3", AWQ_ARCH_DEEPSEEK_V3, 64, 128, 2, 4, 4, 512, 0, 8, 2, 32, 1, 0, 0, 1},
    {"deepseek-v3", AWQ_ARCH_DEEPSEEK_V3, 7168, 18432, 61, 128, 128, 129280, 0, 256, 8, 2048, 1, 163840, 0, 1},
    /* Phi-3-mini's proportions (MHA, D = C/H, untied), small: fused qkv_proj and gate_up_proj */
    {"tiny-phi3", AWQ_ARCH_PHI3, 128, 256, 2, 4, 4, 512, 0, 0, 0, 0, 0, 0, 0, 0},
    /* Gemma 2's block (four (1 + w) norms, GeGLU, soft-capping), small, with a window shorter than SEQLEN 128 */
    {"tiny-gemma2", AWQ_ARCH_GEMMA2, 128, 256, 2, 4, 2, 512, 0, 0, 0, 0, 0, 0, 0, 0},
    {"tiny-gemma3", AWQ_ARCH_GEMMA3, 128, 256, 2, 4, 2, 512, 0, 0, 0, 0, 0, 0, 0, 0},
};

/* DeepSeek-V3's own shape (the preset rows above hold the common part; head_dim is
 * qk_rope_head_dim, as its config.json says):
 *   deepseek-v3: huggingface.co/deepseek-ai/DeepSeek-V3 config.json: q_lora_rank 1536,
 *     kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128,
 *     n_routed_experts 256, num_experts_per_tok 8, n_shared_experts 1, n_group 8, topk_group 4,
 *     first_k_dense_replace 3, routed_scaling_factor 2.5, norm_topk_prob true, rope_theta 10000,
 *     rope_scaling yarn (factor 40, original_max_position_embeddings 4096, beta_fast 32,
 *     beta_slow 1, mscale 1, mscale_all_dim 1), rms_norm_eps 1e-6, bos 0, eos 1.
 *   tiny-deepseek-v3: every dimension a multiple of 16 so that group 32 divides every in_features
 *     (C 64, q/kv_lora 32, o_proj 4 x 16, F 128, experts 32), default RoPE. */
typedef struct mla_preset {
    const char *name;
    int q_lora, kv_lora, qk_nope, qk_rope, v_head, n_shared, n_group, topk_group, first_dense, yarn;
    double routed_scaling;
} mla_preset;
static const mla_preset g_mla_presets[] = {
    {"tiny-deepseek-v3", 32, 32, 16, 16, 16, 1, 4, 2, 1, 0, 2.5},
    {"deepseek-v3", 1536, 512, 128, 64, 128, 1, 8, 4, 3, 1, 2.5},
};
#define N_PRESETS (sizeof g_presets / sizeof g_presets[0])

typedef struct gen_opts {
    syn_model m;
    const char *out, *preset;
    int dry_run;
    int rope_llama3, max_pos, bos, eos;
    double rope_theta, rms_eps;
    uint64_t shard_size;
} gen_opts;

static const char *arch_class(awq_arch a)
{
    switch (a) {
    case AWQ_ARCH_MISTRAL: return "MistralForCausalLM";
    case AWQ_ARCH_QWEN2: return "Qwen2ForCausalLM";
    case AWQ_ARCH_QWEN3: return "Qwen3ForCausalLM";
    case AWQ_ARCH_MIXTRAL: return "MixtralForCausalLM";
    case AWQ_ARCH_QWEN3_MOE: return "Qwen3MoeForCausalLM";
    case AWQ_ARCH_DEEPSEEK_V3: return "DeepseekV3ForCausalLM";
    case AWQ_ARCH_PHI3: return "Phi3ForCausalLM";
    case AWQ_ARCH_GEMMA2: return "Gemma2ForCausalLM";
    case AWQ_ARCH_GEMMA3: return "Gemma3ForCausalLM";
    default: return "LlamaForCausalLM";
    }
}

static const char *arch_type(awq_arch a)
{
    switch (a) {
    case AWQ_ARCH_MISTRAL: return "mistral";
    case AWQ_ARCH_QWEN2: return "qwen2";
    case AWQ_ARCH_QWEN3: return "qwen3";
    case AWQ_ARCH_MIXTRAL: return "mixtral";
    case AWQ_ARCH_QWEN3_MOE: return "qwen3_moe";
    case AWQ_ARCH_DEEPSEEK_V3: return "deepseek_v3";
    case AWQ_ARCH_PHI3: return "phi3";
    case AWQ_ARCH_GEMMA2: return "gemma2";
    case AWQ_ARCH_GEMMA3: return "gemma3_text";
    default: return "llama";
    }
}

static const char *torch_dtype(awq_dtype t) { return t == AWQ_DT_BF16 ? "bfloat16" : t == AWQ_DT_F32 ? "float32" : "float16"; }

static awq_err parse_arch(const char *a, awq_arch *out)
{
    static const awq_arch all[] = {AWQ_ARCH_LLAMA, AWQ_ARCH_MISTRAL, AWQ_ARCH_QWEN2, AWQ_ARCH_QWEN3, AWQ_ARCH_MIXTRAL,
                                   AWQ_ARCH_QWEN3_MOE, AWQ_ARCH_DEEPSEEK_V3, AWQ_ARCH_PHI3, AWQ_ARCH_GEMMA2, AWQ_ARCH_GEMMA3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(a, arch_type(all[i])) == 0) { *out = all[i]; return AWQ_OK; }
    awq_fail(AWQ_ERR_ARG, "--arch '%s' is not supported", a);
    awq_hint("use llama, mistral, qwen2, qwen3, mixtral, qwen3_moe, deepseek_v3, phi3, gemma2 or gemma3_text");
    return AWQ_ERR_ARG;
}

static awq_err parse_dtype(const char *a, awq_dtype *out)
{
    if (strcmp(a, "f16") == 0 || strcmp(a, "float16") == 0) *out = AWQ_DT_F16;
    else if (strcmp(a, "bf16") == 0 || strcmp(a, "bfloat16") == 0) *out = AWQ_DT_BF16;
    else if (strcmp(a, "f32") == 0 || strcmp(a, "float32") == 0) *out = AWQ_DT_F32;
    else {
        awq_fail(AWQ_ERR_ARG, "--dtype '%s' is not supported", a);
        awq_hint("use f16, bf16 or f32");
        return AWQ_ERR_ARG;
    }
    return AWQ_OK;
}

static const preset *find_preset(const char *name)
{
    for (size_t i = 0; i < N_PRESETS; i++)
        if (strcmp(name, g_presets[i].name) == 0) return &g_presets[i];
    return NULL;
}

/* --mlp-only-layers "0,3": comma-separated layer indices, each in [0, layers). */
static awq_err parse_layer_list(const char *s, int layers, unsigned char *only)
{
    char buf[4096];
    if (strlen(s) >= sizeof buf) return awq_fail(AWQ_ERR_ARG, "--mlp-only-layers is too long");
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int i;
        awq_err e = cli_int("mlp-only-layers", tok, 0, AWQ_MAX_LAYERS - 1, &i);
        if (e != AWQ_OK) {
            awq_hint("give layer indices separated by commas, e.g. --mlp-only-layers 0,3");
            return e;
        }
        if (i >= layers) {
            awq_fail(AWQ_ERR_ARG, "--mlp-only-layers index %d is out of range for --layers %d", i, layers);
            awq_hint("layer indices run from 0 to %d", layers - 1);
            return AWQ_ERR_ARG;
        }
        only[i] = 1;
    }
    return AWQ_OK;
}

/* The experts of a mixtral / qwen3_moe model (m->arch, m->ffn and m->layers already set): from
 * the options, else the preset's when it has experts, else 8 experts, top 2, --ffn wide. */
static awq_err resolve_moe(const gen_args *a, const preset *p, syn_model *m)
{
    awq_err e;
    const char *given = a->experts ? "--experts" : a->experts_per_tok ? "--experts-per-tok" : a->moe_ffn ? "--moe-ffn"
                      : a->norm_topk_prob ? "--norm-topk-prob" : a->no_norm_topk_prob ? "--no-norm-topk-prob"
                      : a->decoder_sparse_step ? "--decoder-sparse-step" : a->mlp_only_layers ? "--mlp-only-layers" : NULL;
    if (!syn_is_moe_arch(m->arch)) {
        if (!given) return AWQ_OK;
        awq_fail(AWQ_ERR_ARG, "%s is a mixture-of-experts option; --arch %s has a dense mlp", given, arch_type(m->arch));
        awq_hint("use --arch mixtral or --arch qwen3_moe (or --preset tiny-mixtral, tiny-qwen3-moe, mixtral-8x7b, qwen3-30b-a3b, qwen3-235b-a22b)");
        return AWQ_ERR_ARG;
    }
    const preset *pe = p->experts ? p : NULL;
    int mixtral = m->arch == AWQ_ARCH_MIXTRAL;
    if (m->arch == AWQ_ARCH_DEEPSEEK_V3) {
        const mla_preset *mp = NULL;
        for (size_t i = 0; i < sizeof g_mla_presets / sizeof g_mla_presets[0]; i++)
            if (!strcmp(p->name, g_mla_presets[i].name)) mp = &g_mla_presets[i];
        if (!mp || a->decoder_sparse_step || a->mlp_only_layers) {
            awq_fail(AWQ_ERR_ARG, !mp ? "--arch deepseek_v3 takes its latent attention from a deepseek preset, not '%s'"
                                      : "%s is a qwen3_moe option, not deepseek_v3", !mp ? p->name
                     : a->decoder_sparse_step ? "--decoder-sparse-step" : "--mlp-only-layers");
            awq_hint(!mp ? "use --preset tiny-deepseek-v3 or deepseek-v3" : "DeepSeek-V3's first layers are dense: lower --layers");
            return AWQ_ERR_ARG;
        }
        m->q_lora = mp->q_lora, m->kv_lora = mp->kv_lora, m->qk_nope = mp->qk_nope, m->qk_rope = mp->qk_rope;
        m->v_head = mp->v_head, m->n_shared = mp->n_shared, m->n_group = mp->n_group, m->topk_group = mp->topk_group;
        m->routed_scaling = mp->routed_scaling;
        /* fewer layers than the preset's dense ones: keep the last a MoE block */
        m->first_dense = m->layers <= mp->first_dense ? m->layers - 1 : mp->first_dense;
        m->head_dim = m->qk_rope;
    }
    if (mixtral) {
        const char *qwen_only = a->moe_ffn ? "--moe-ffn" : a->norm_topk_prob ? "--norm-topk-prob"
                              : a->no_norm_topk_prob ? "--no-norm-topk-prob" : a->decoder_sparse_step ? "--decoder-sparse-step"
                              : a->mlp_only_layers ? "--mlp-only-layers" : NULL;
        if (qwen_only) {
            awq_fail(AWQ_ERR_ARG, "%s is a qwen3_moe option, not mixtral", qwen_only);
            awq_hint(a->moe_ffn ? "Mixtral's experts are --ffn wide: use --ffn"
                     : (a->norm_topk_prob || a->no_norm_topk_prob) ? "Mixtral always renormalizes its top-k weights: drop it"
                     : "every Mixtral layer has experts: drop it, or use --arch qwen3_moe");
            return AWQ_ERR_ARG;
        }
    }
    if (a->norm_topk_prob && a->no_norm_topk_prob) {
        awq_fail(AWQ_ERR_ARG, "--norm-topk-prob and --no-norm-topk-prob contradict each other");
        awq_hint("give one of them");
        return AWQ_ERR_ARG;
    }
#define INT_ARG(str, name, lo, hi, field, dflt) \
    if (!(str)) field = (dflt); else if ((e = cli_int(name, str, lo, hi, &field)) != AWQ_OK) return e
    INT_ARG(a->experts, "experts", 1, 1 << 20, m->n_experts, pe ? pe->experts : 8);
    if (m->n_experts > AWQ_MAX_EXPERTS) {
        awq_fail(AWQ_ERR_ARG, "--experts %d is more than the %d awqmake handles", m->n_experts, AWQ_MAX_EXPERTS);
        awq_hint("a block's expert slots are a fixed array (AWQ_MAX_EXPERTS, stages/common/config.h): give at most %d",
                 AWQ_MAX_EXPERTS);
        return AWQ_ERR_ARG;
    }
    INT_ARG(a->experts_per_tok, "experts-per-tok", 1, AWQ_MAX_EXPERTS, m->experts_per_tok, pe ? pe->experts_per_tok : 2);
    INT_ARG(a->moe_ffn, "moe-ffn", 1, 1 << 18, m->moe_ffn, pe && !mixtral ? pe->moe_ffn : m->ffn);
    INT_ARG(a->decoder_sparse_step, "decoder-sparse-step", 1, AWQ_MAX_LAYERS, m->decoder_sparse_step, 1);
#undef INT_ARG
    if (mixtral) m->moe_ffn = m->ffn;
    if (m->arch == AWQ_ARCH_DEEPSEEK_V3) {
        m->decoder_sparse_step = 1;
        if (m->n_experts % m->n_group || m->experts_per_tok > m->n_experts / m->n_group * m->topk_group) {
            awq_fail(AWQ_ERR_ARG, "--experts %d / --experts-per-tok %d do not fit DeepSeek-V3's %d expert groups (top %d groups)",
                     m->n_experts, m->experts_per_tok, m->n_group, m->topk_group);
            awq_hint("give --experts a multiple of %d and --experts-per-tok at most %d experts per group times %d",
                     m->n_group, m->n_group, m->topk_group);
            return AWQ_ERR_ARG;
        }
    }
    m->norm_topk_prob = mixtral || a->norm_topk_prob || (!a->no_norm_topk_prob && pe && pe->norm_topk_prob);
    if (m->experts_per_tok > m->n_experts) {
        awq_fail(AWQ_ERR_ARG, "--experts-per-tok %d%s is more than --experts %d", m->experts_per_tok,
                 a->experts_per_tok ? "" : " (the preset's)", m->n_experts);
        awq_hint("each token is routed to K of the E experts: give --experts-per-tok at most %d (or more --experts)", m->n_experts);
        return AWQ_ERR_ARG;
    }
    memset(m->mlp_only, 0, sizeof m->mlp_only);
    if (a->mlp_only_layers && (e = parse_layer_list(a->mlp_only_layers, m->layers, m->mlp_only)) != AWQ_OK) return e;
    int sparse = 0;
    for (int i = 0; i < m->layers; i++) sparse += syn_layer_experts(m, i) > 0;
    if (!sparse) {
        awq_fail(AWQ_ERR_ARG, "no layer has experts with --layers %d, --decoder-sparse-step %d%s%s", m->layers,
                 m->decoder_sparse_step, a->mlp_only_layers ? " and --mlp-only-layers " : "",
                 a->mlp_only_layers ? a->mlp_only_layers : "");
        awq_hint("layer i has experts when (i+1) %% --decoder-sparse-step == 0 and i is not in --mlp-only-layers: "
                 "lower the step or list fewer layers");
        return AWQ_ERR_ARG;
    }
    return AWQ_OK;
}

/* Turn the arguments into a model: the preset and the architecture give what the options leave
 * open; then check that the shapes make a model the pipeline can run. */
static awq_err resolve(const gen_args *a, gen_opts *o)
{
    syn_model *m = &o->m;
    awq_err e;
    const preset *p = NULL;
    awq_arch arch = 0;
    if (a->arch && (e = parse_arch(a->arch, &arch)) != AWQ_OK) return e;
    o->out = a->out;
    o->dry_run = a->dry_run;
    /* --arch mixtral / qwen3_moe alone starts from its tiny preset, not from tiny's dense llama */
    o->preset = a->preset ? a->preset : arch == AWQ_ARCH_MIXTRAL ? "tiny-mixtral" : arch == AWQ_ARCH_QWEN3_MOE ? "tiny-qwen3-moe"
              : arch == AWQ_ARCH_DEEPSEEK_V3 ? "tiny-deepseek-v3" : arch == AWQ_ARCH_PHI3 ? "tiny-phi3"
              : arch == AWQ_ARCH_GEMMA2 ? "tiny-gemma2" : arch == AWQ_ARCH_GEMMA3 ? "tiny-gemma3" : "tiny";
    if (!(p = find_preset(o->preset))) {
        awq_fail(AWQ_ERR_ARG, "--preset '%s' is unknown", o->preset);
        awq_hint("use tiny, w7, tiny-mixtral, tiny-qwen3-moe, mixtral-8x7b, qwen3-30b-a3b, qwen3-235b-a22b, tiny-deepseek-v3, deepseek-v3, tiny-phi3, tiny-gemma2 or tiny-gemma3");
        return AWQ_ERR_ARG;
    }
    if (!o->dry_run && !o->out) {
        awq_fail(AWQ_ERR_ARG, "--out DIR is required");
        awq_hint("name the model directory to write, or pass --dry-run to print what would be written");
        return AWQ_ERR_ARG;
    }
    if (o->out && !o->out[0]) return awq_fail(AWQ_ERR_ARG, "--out is empty");
    m->arch = arch ? arch : p->arch;
    m->dtype = AWQ_DT_F16;
    if (a->dtype && (e = parse_dtype(a->dtype, &m->dtype)) != AWQ_OK) return e;
    if (a->rope_scaling) {
        if (strcmp(a->rope_scaling, "llama3") == 0) o->rope_llama3 = 1;
        else if (strcmp(a->rope_scaling, "none") != 0) {
            awq_fail(AWQ_ERR_ARG, "--rope-scaling '%s' is not supported", a->rope_scaling);
            awq_hint("use llama3 or none (other rope types are out of scope, spec §1.1)");
            return AWQ_ERR_ARG;
        }
    }
    int llama = m->arch == AWQ_ARCH_LLAMA;
    int qwen = m->arch == AWQ_ARCH_QWEN2 || m->arch == AWQ_ARCH_QWEN3 || m->arch == AWQ_ARCH_QWEN3_MOE;
    const int dsv3 = m->arch == AWQ_ARCH_DEEPSEEK_V3;
    int64_t seed = 0;
    double d;
    /* value given ? parse it : default */
#define INT_ARG(str, name, lo, hi, field, dflt) \
    if (!(str)) field = (dflt); else if ((e = cli_int(name, str, lo, hi, &field)) != AWQ_OK) return e
#define DBL_ARG(str, name, lo, hi, field, dflt) \
    if (!(str)) d = (dflt); else if ((e = cli_double(name, str, lo, hi, &d)) != AWQ_OK) return e; field = d
    INT_ARG(a->hidden, "hidden", 1, 1 << 16, m->hidden, p->hidden);
    INT_ARG(a->ffn, "ffn", 1, 1 << 18, m->ffn, p->ffn);
    INT_ARG(a->layers, "layers", 1, AWQ_MAX_LAYERS, m->layers, p->layers);
    INT_ARG(a->heads, "heads", 1, 4096, m->heads, p->heads);
    /* the preset's kv-heads only go with its own heads: --heads alone means MHA */
    INT_ARG(a->kv_heads, "kv-heads", 1, 4096, m->kv_heads, a->heads ? m->heads : p->kv_heads);
    INT_ARG(a->vocab, "vocab", 2, 1 << 22, m->vocab, p->vocab);
    INT_ARG(a->outliers, "outliers", 0, 1 << 16, m->n_outliers, m->hidden < 4 ? m->hidden : 4);
    DBL_ARG(a->outlier_scale, "outlier-scale", 1e-3, 1e3, m->outlier_scale, 20.0);
    DBL_ARG(a->embed_outlier_scale, "embed-outlier-scale", 1e-3, 1e3, m->embed_outlier_scale, 1.0);
    DBL_ARG(a->rms_eps, "rms-eps", 1e-12, 1.0, o->rms_eps, qwen || dsv3 || m->arch == AWQ_ARCH_GEMMA2 || m->arch == AWQ_ARCH_GEMMA3 ? 1e-6 : 1e-5);
    DBL_ARG(a->rope_theta, "rope-theta", 1.0, 1e12, o->rope_theta,
            llama || dsv3 ? (o->rope_llama3 ? 500000.0 : 10000.0) : m->arch == AWQ_ARCH_PHI3 || m->arch == AWQ_ARCH_GEMMA2 ? 10000.0 : 1000000.0);
    INT_ARG(a->max_pos, "max-pos", 1, 1 << 24, o->max_pos, o->rope_llama3 ? 131072 : p->max_pos ? p->max_pos : 4096);
    INT_ARG(a->bos, "bos", 0, 1 << 22, o->bos, p->bos || dsv3 ? p->bos : 1);
    INT_ARG(a->eos, "eos", 0, 1 << 22, o->eos, p->eos ? p->eos : 2);
#undef INT_ARG
#undef DBL_ARG
    if (a->seed && (e = cli_int64("seed", a->seed, 0, INT64_MAX, &seed)) != AWQ_OK) return e;
    m->seed = (uint64_t)seed;
    if (a->shard_size && (e = cli_bytes("shard-size", a->shard_size, &o->shard_size)) != AWQ_OK) return e;
    m->tie = a->tie;
    m->attention_bias = a->attention_bias;
    m->mlp_bias = a->mlp_bias;

    if (a->head_dim) {
        if ((e = cli_int("head-dim", a->head_dim, 2, 4096, &m->head_dim)) != AWQ_OK) return e;
    } else if (p->head_dim) {
        m->head_dim = p->head_dim; /* Qwen3's head_dim is its own, not hidden / heads */
    } else if (m->hidden % m->heads) {
        awq_fail(AWQ_ERR_ARG, "--hidden %d is not divisible by --heads %d", m->hidden, m->heads);
        awq_hint("choose heads that divide hidden, or give --head-dim explicitly (as Qwen3 does)");
        return AWQ_ERR_ARG;
    } else {
        m->head_dim = m->hidden / m->heads;
    }
    if (m->head_dim % 2) {
        awq_fail(AWQ_ERR_ARG, "head_dim %d is odd", m->head_dim);
        awq_hint("RoPE rotates pairs of dimensions: use an even --head-dim (or heads dividing hidden into even parts)");
        return AWQ_ERR_ARG;
    }
    if (m->kv_heads > m->heads || m->heads % m->kv_heads) {
        awq_fail(AWQ_ERR_ARG, "--heads %d is not a multiple of --kv-heads %d", m->heads, m->kv_heads);
        awq_hint("GQA shares each KV head among heads/kv-heads query heads: pick kv-heads dividing heads");
        return AWQ_ERR_ARG;
    }
    if (m->n_outliers > m->hidden)
        return awq_fail(AWQ_ERR_ARG, "--outliers %d exceeds --hidden %d", m->n_outliers, m->hidden);
    if (o->bos >= m->vocab || o->eos >= m->vocab) {
        awq_fail(AWQ_ERR_ARG, "bos/eos token ids %d/%d must be below --vocab %d", o->bos, o->eos, m->vocab);
        awq_hint("pass --bos/--eos below the vocabulary size");
        return AWQ_ERR_ARG;
    }
    if (m->attention_bias && !(llama || m->arch == AWQ_ARCH_QWEN3 || m->arch == AWQ_ARCH_QWEN3_MOE)) {
        awq_fail(AWQ_ERR_ARG, "--attention-bias is a llama/qwen3/qwen3_moe option, not %s", arch_type(m->arch));
        awq_hint(m->arch == AWQ_ARCH_QWEN2 ? "qwen2 always has q,k,v biases" : "drop --attention-bias");
        return AWQ_ERR_ARG;
    }
    if (m->mlp_bias && !llama)
        return awq_fail(AWQ_ERR_ARG, "--mlp-bias is a llama option, not %s", arch_type(m->arch));
    if (o->rope_llama3 && !llama)
        return awq_fail(AWQ_ERR_ARG, "--rope-scaling llama3 is a llama option, not %s", arch_type(m->arch));
    return resolve_moe(a, p, m);
}

/* Write JSON (consumed) to dir/name atomically: indent 2, trailing newline, as HF does. */
static awq_err write_json(const char *dir, const char *name, json_t *j)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    if (!text) return awq_fail(AWQ_ERR_NOMEM, "out of memory building '%s'", path);
    awq_atomic f;
    awq_err e = awq_atomic_open(&f, path);
    if (e == AWQ_OK) e = awq_atomic_write(&f, text, strlen(text));
    if (e == AWQ_OK) e = awq_atomic_write(&f, "\n", 1);
    if (e == AWQ_OK) e = awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
    else if (f.final_path) awq_atomic_abort(&f);
    free(text);
    return e;
}

/* config.json: the keys of spec §1.1 that the family's real configs carry, in the transformers 4
 * form the released checkpoints have (torch_dtype, rope_theta + rope_scaling). Mixtral and
 * Qwen3-MoE: the keys of Mixtral-8x7B-v0.1's and Qwen3-30B-A3B's config.json (MixtralConfig and
 * Qwen3MoeConfig of transformers 4.x): num_local_experts for Mixtral, num_experts for Qwen3-MoE
 * (transformers 5 writes num_local_experts for both; stages/common/config.c reads either). */
static json_t *config_json(const gen_opts *o)
{
    const syn_model *m = &o->m;
    const int moe = syn_is_moe_arch(m->arch);
    json_t *j = json_object();
    json_object_set_new(j, "architectures", json_pack("[s]", arch_class(m->arch)));
    json_object_set_new(j, "model_type", json_string(arch_type(m->arch)));
    json_object_set_new(j, "hidden_size", json_integer(m->hidden));
    json_object_set_new(j, "intermediate_size", json_integer(m->ffn));
    json_object_set_new(j, "num_hidden_layers", json_integer(m->layers));
    json_object_set_new(j, "num_attention_heads", json_integer(m->heads));
    json_object_set_new(j, "num_key_value_heads", json_integer(m->kv_heads));
    json_object_set_new(j, "head_dim", json_integer(m->head_dim));
    json_object_set_new(j, "vocab_size", json_integer(m->vocab));
    json_object_set_new(j, "max_position_embeddings", json_integer(o->max_pos));
    if (m->arch == AWQ_ARCH_GEMMA2) { /* Gemma2Config's keys: GeGLU, query_pre_attn_scalar = head_dim, the caps */
        json_object_set_new(j, "hidden_activation", json_string("gelu_pytorch_tanh"));
        json_object_set_new(j, "query_pre_attn_scalar", json_integer(m->head_dim));
        json_object_set_new(j, "attn_logit_softcapping", json_real(50.0));
        json_object_set_new(j, "final_logit_softcapping", json_real(30.0));
        json_object_set_new(j, "sliding_window", json_integer(64));
    } else if (m->arch == AWQ_ARCH_GEMMA3) { /* the released Gemma 3 text_config keys, every second layer global here */
        json_object_set_new(j, "hidden_activation", json_string("gelu_pytorch_tanh"));
        json_object_set_new(j, "query_pre_attn_scalar", json_integer(m->head_dim));
        json_object_set_new(j, "sliding_window", json_integer(64));
        json_object_set_new(j, "sliding_window_pattern", json_integer(2));
        json_object_set_new(j, "rope_local_base_freq", json_real(10000.0));
    } else
        json_object_set_new(j, "hidden_act", json_string("silu"));
    json_object_set_new(j, "rms_norm_eps", json_real(o->rms_eps));
    json_object_set_new(j, "rope_theta", json_real(o->rope_theta));
    if (m->arch == AWQ_ARCH_GEMMA3) /* the global layers' linear scaling, as Gemma 3 4B-27B */
        json_object_set_new(j, "rope_scaling", json_pack("{s:f, s:s}", "factor", 8.0, "rope_type", "linear"));
    else if (m->arch != AWQ_ARCH_MIXTRAL) /* MixtralConfig (4.x) has no rope_scaling, nor has Mixtral's file */
        json_object_set_new(j, "rope_scaling", o->rope_llama3
            ? json_pack("{s:f, s:f, s:f, s:i, s:s}", "factor", 8.0, "low_freq_factor", 1.0, "high_freq_factor", 4.0,
                        "original_max_position_embeddings", 8192, "rope_type", "llama3")
            : json_null());
    json_object_set_new(j, "tie_word_embeddings", json_boolean(m->tie));
    if (m->arch == AWQ_ARCH_LLAMA || m->arch == AWQ_ARCH_QWEN3 || m->arch == AWQ_ARCH_QWEN3_MOE)
        json_object_set_new(j, "attention_bias", json_boolean(m->attention_bias));
    if (m->arch == AWQ_ARCH_LLAMA) json_object_set_new(j, "mlp_bias", json_boolean(m->mlp_bias));
    if (m->arch == AWQ_ARCH_MISTRAL || m->arch == AWQ_ARCH_MIXTRAL || m->arch == AWQ_ARCH_PHI3)
        json_object_set_new(j, "sliding_window", json_null());
    if (m->arch == AWQ_ARCH_PHI3) /* Phi3Config's; the longrope checkpoints' factor ratio */
        json_object_set_new(j, "original_max_position_embeddings", json_integer(o->max_pos));
    if (moe) {
        json_object_set_new(j, "attention_dropout", json_real(0.0));
        json_object_set_new(j, m->arch == AWQ_ARCH_MIXTRAL ? "num_local_experts" : "num_experts", json_integer(m->n_experts));
        json_object_set_new(j, "num_experts_per_tok", json_integer(m->experts_per_tok));
        json_object_set_new(j, "output_router_logits", json_false());
        /* the released files' values: 0.02 in Mixtral-8x7B's, 0.001 (the class default) in Qwen3's */
        json_object_set_new(j, "router_aux_loss_coef", json_real(m->arch == AWQ_ARCH_MIXTRAL ? 0.02 : 0.001));
    }
    if (m->arch == AWQ_ARCH_MIXTRAL) json_object_set_new(j, "router_jitter_noise", json_real(0.0));
    if (m->arch == AWQ_ARCH_DEEPSEEK_V3) { /* DeepSeek-V3's config.json keys (DeepseekV3Config) */
        int yarn = 0;
        for (size_t i = 0; i < sizeof g_mla_presets / sizeof g_mla_presets[0]; i++)
            if (!strcmp(o->preset, g_mla_presets[i].name)) yarn = g_mla_presets[i].yarn;
        json_object_del(j, "num_experts");
        json_object_set_new(j, "n_routed_experts", json_integer(m->n_experts));
        json_object_set_new(j, "moe_intermediate_size", json_integer(m->moe_ffn));
        json_object_set_new(j, "n_shared_experts", json_integer(m->n_shared));
        json_object_set_new(j, "n_group", json_integer(m->n_group));
        json_object_set_new(j, "topk_group", json_integer(m->topk_group));
        json_object_set_new(j, "first_k_dense_replace", json_integer(m->first_dense));
        json_object_set_new(j, "norm_topk_prob", json_boolean(m->norm_topk_prob));
        json_object_set_new(j, "routed_scaling_factor", json_real(m->routed_scaling));
        json_object_set_new(j, "scoring_func", json_string("sigmoid"));
        json_object_set_new(j, "topk_method", json_string("noaux_tc"));
        json_object_set_new(j, "q_lora_rank", m->q_lora ? json_integer(m->q_lora) : json_null());
        json_object_set_new(j, "kv_lora_rank", json_integer(m->kv_lora));
        json_object_set_new(j, "qk_nope_head_dim", json_integer(m->qk_nope));
        json_object_set_new(j, "qk_rope_head_dim", json_integer(m->qk_rope));
        json_object_set_new(j, "v_head_dim", json_integer(m->v_head));
        json_object_set_new(j, "attention_bias", json_false());
        json_object_del(j, "router_aux_loss_coef");
        if (yarn)
            json_object_set_new(j, "rope_scaling",
                                json_pack("{s:f, s:i, s:i, s:f, s:f, s:i, s:s}", "factor", 40.0, "beta_fast", 32, "beta_slow", 1,
                                          "mscale", 1.0, "mscale_all_dim", 1.0, "original_max_position_embeddings", 4096,
                                          "type", "yarn"));
    }
    if (m->arch == AWQ_ARCH_QWEN3_MOE) {
        json_object_set_new(j, "moe_intermediate_size", json_integer(m->moe_ffn));
        json_object_set_new(j, "norm_topk_prob", json_boolean(m->norm_topk_prob));
        json_object_set_new(j, "decoder_sparse_step", json_integer(m->decoder_sparse_step));
        json_t *only = json_array();
        for (int i = 0; i < m->layers; i++)
            if (m->mlp_only[i]) json_array_append_new(only, json_integer(i));
        json_object_set_new(j, "mlp_only_layers", only);
    }
    if (m->arch == AWQ_ARCH_QWEN2 || m->arch == AWQ_ARCH_QWEN3 || m->arch == AWQ_ARCH_QWEN3_MOE) {
        /* as Qwen releases ship it: a window that is configured but switched off */
        json_object_set_new(j, "use_sliding_window", json_false());
        json_object_set_new(j, "sliding_window", m->arch == AWQ_ARCH_QWEN2 ? json_integer(o->max_pos) : json_null());
        /* Qwen3-30B-A3B's file: max_window_layers = num_hidden_layers, as the dense Qwen3's */
        json_object_set_new(j, "max_window_layers", json_integer(m->layers));
    }
    json_object_set_new(j, "initializer_range", json_real(0.02));
    json_object_set_new(j, "use_cache", json_true());
    json_object_set_new(j, "torch_dtype", json_string(torch_dtype(m->dtype)));
    json_object_set_new(j, "bos_token_id", json_integer(o->bos));
    json_object_set_new(j, "eos_token_id", json_integer(o->eos));
    return j;
}

/* awqmake_synthetic.json: how to regenerate the model, and where the outliers are. */
static json_t *sidecar_json(const gen_opts *o)
{
    const syn_model *m = &o->m;
    json_t *ch = json_array();
    for (int i = 0; i < m->n_outliers; i++) json_array_append_new(ch, json_integer(m->outliers[i]));
    json_t *j = json_object();
    json_object_set_new(j, "generator", json_string(PROG));
    json_object_set_new(j, "format_version", json_integer(1));
    json_object_set_new(j, "preset", json_string(o->preset));
    json_object_set_new(j, "arch", json_string(arch_type(m->arch)));
    json_object_set_new(j, "dtype", json_string(awq_dtype_name(m->dtype)));
    json_object_set_new(j, "seed", json_integer((json_int_t)m->seed));
    json_object_set_new(j, "hidden", json_integer(m->hidden));
    json_object_set_new(j, "ffn", json_integer(m->ffn));
    json_object_set_new(j, "layers", json_integer(m->layers));
    json_object_set_new(j, "heads", json_integer(m->heads));
    json_object_set_new(j, "kv_heads", json_integer(m->kv_heads));
    json_object_set_new(j, "head_dim", json_integer(m->head_dim));
    json_object_set_new(j, "vocab", json_integer(m->vocab));
    json_object_set_new(j, "tie", json_boolean(m->tie));
    json_object_set_new(j, "attention_bias", json_boolean(m->attention_bias));
    json_object_set_new(j, "mlp_bias", json_boolean(m->mlp_bias));
    if (syn_is_moe_arch(m->arch)) {
        json_t *only = json_array();
        for (int i = 0; i < m->layers; i++)
            if (m->mlp_only[i]) json_array_append_new(only, json_integer(i));
        json_object_set_new(j, "experts", json_integer(m->n_experts));
        json_object_set_new(j, "experts_per_tok", json_integer(m->experts_per_tok));
        json_object_set_new(j, "moe_ffn", json_integer(m->moe_ffn));
        json_object_set_new(j, "norm_topk_prob", json_boolean(m->norm_topk_prob));
        json_object_set_new(j, "decoder_sparse_step", json_integer(m->decoder_sparse_step));
        json_object_set_new(j, "mlp_only_layers", only);
    }
    if (m->arch == AWQ_ARCH_DEEPSEEK_V3) {
        json_object_set_new(j, "q_lora_rank", json_integer(m->q_lora));
        json_object_set_new(j, "kv_lora_rank", json_integer(m->kv_lora));
        json_object_set_new(j, "qk_nope_head_dim", json_integer(m->qk_nope));
        json_object_set_new(j, "qk_rope_head_dim", json_integer(m->qk_rope));
        json_object_set_new(j, "v_head_dim", json_integer(m->v_head));
        json_object_set_new(j, "n_shared_experts", json_integer(m->n_shared));
        json_object_set_new(j, "first_k_dense_replace", json_integer(m->first_dense));
    }
    json_object_set_new(j, "shard_size", json_integer((json_int_t)o->shard_size));
    json_object_set_new(j, "outlier_scale", json_real(m->outlier_scale));
    json_object_set_new(j, "embed_outlier_scale", json_real(m->embed_outlier_scale));
    json_object_set_new(j, "outlier_channels", ch);
    json_object_set_new(j, "values", json_string(
        "z = Irwin-Hall(4) (sum of the four 16-bit fields of splitmix64(XXH3_64(name, seed) + (i+1)*0x9e3779b97f4a7c15), "
        "unit variance); linear weights z/sqrt(in), embed/lm_head z/sqrt(hidden), biases 0.05z, norms 1+0.1z; "
        "outlier channels of input/post_attention layernorms x outlier_scale, embed columns x embed_outlier_scale; "
        "MoE: router z/sqrt(hidden) with the outlier columns / outlier_scale, experts' linears as the dense ones"));
    return j;
}

typedef struct fill_ctx {
    const syn_model *m;
    const syn_tensor *t;
    uint64_t done, total;
} fill_ctx;

static awq_err fill(void *ctx, int index, uint64_t offset, void *buf, size_t len)
{
    fill_ctx *c = ctx;
    size_t es = awq_dtype_size(c->m->dtype);
    syn_fill(c->m, &c->t[index], offset / es, len / es, buf);
    c->done += len;
    awq_progress("MB written", (long)(c->done >> 20), (long)(c->total >> 20));
    return AWQ_OK;
}

/* Remove our temporary directory (flat: only files we wrote, plus atomic temp files). */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d))) empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

/* The safetensors table of the model (no data: fill() makes it) and its bytes. */
static awq_err plan_tensors(const syn_model *m, syn_tensor **ts_out, st_tensor **st_out, int *count, uint64_t *total)
{
    syn_tensor *ts = syn_plan(m, count);
    st_tensor *st_t = ts ? calloc((size_t)*count, sizeof *st_t) : NULL;
    if (!st_t) { free(ts); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    *total = 0;
    for (int i = 0; i < *count; i++) {
        st_t[i].name = ts[i].name;
        st_t[i].dtype = m->dtype;
        st_t[i].ndim = ts[i].ndim;
        st_t[i].shape[0] = ts[i].shape[0];
        st_t[i].shape[1] = ts[i].shape[1];
        st_t[i].nbytes = (size_t)(syn_numel(&ts[i]) * awq_dtype_size(m->dtype));
        *total += st_t[i].nbytes;
    }
    *ts_out = ts;
    *st_out = st_t;
    return AWQ_OK;
}

/* Shards by the writer's rule (greedy in model order, a new one when the next tensor would
 * overflow a non-empty one): shard_of[i] for each tensor; returns the number of files. */
static int split_shards(const st_tensor *st_t, int count, uint64_t shard_size, int *shard_of)
{
    uint64_t used = 0;
    int files = 1;
    for (int i = 0; i < count; i++) {
        if (shard_size && used > 0 && used + st_t[i].nbytes > shard_size) { files++; used = 0; }
        used += st_t[i].nbytes;
        if (shard_of) shard_of[i] = files - 1;
    }
    return files;
}

/* --dry-run: on stdout, {"config": config.json, "sidecar": awqmake_synthetic.json, "files":
 * {file name: its safetensors header as the writer makes it}, "total_size": tensor bytes}. */
static awq_err dry_run(gen_opts *o, uint64_t *out_bytes, int *out_files)
{
    int count = 0;
    syn_tensor *ts = NULL;
    st_tensor *st_t = NULL;
    uint64_t total = 0;
    awq_err e = plan_tensors(&o->m, &ts, &st_t, &count, &total);
    if (e != AWQ_OK) return e;
    int *shard_of = malloc(((size_t)count + 1) * sizeof *shard_of);
    json_t *files = json_object(), *j = json_object();
    int nfiles = shard_of ? split_shards(st_t, count, o->shard_size, shard_of) : 0;
    if (!shard_of || !files || !j) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int k = 0, first = 0; e == AWQ_OK && k < nfiles; k++) {
        int n = 0;
        while (first + n < count && shard_of[first + n] == k) n++;
        char fname[64];
        if (nfiles == 1) snprintf(fname, sizeof fname, "model.safetensors");
        else snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", k + 1, nfiles);
        char *text = st_header_json(st_t + first, n);
        json_error_t err;
        json_t *h = text ? json_loads(text, 0, &err) : NULL;
        free(text);
        if (!h) e = awq_errcode() ? awq_errcode() : awq_fail(AWQ_ERR_NOMEM, "out of memory");
        else json_object_set_new(files, fname, h);
        first += n;
    }
    if (e == AWQ_OK) {
        json_object_set_new(j, "config", config_json(o));
        json_object_set_new(j, "sidecar", sidecar_json(o));
        json_object_set(j, "files", files);
        json_object_set_new(j, "total_size", json_integer((json_int_t)total));
        char *text = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(15));
        if (!text) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        else if (printf("%s\n", text) < 0 || fflush(stdout) != 0) e = awq_fail_errno(errno, "cannot write to stdout");
        free(text);
    }
    json_decref(files);
    json_decref(j);
    free(shard_of);
    free(st_t);
    free(ts);
    *out_bytes = total;
    *out_files = nfiles;
    return e;
}

static awq_err generate(gen_opts *o, uint64_t *out_bytes, int *out_files)
{
    syn_model *m = &o->m;
    /* "<parent>/<base>" without trailing slashes */
    char out[4096], parent[4096], tmp[4200];
    snprintf(out, sizeof out, "%s", o->out);
    for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--) out[n - 1] = 0;
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    snprintf(parent, sizeof parent, "%.*s", slash ? (slash == out ? 1 : (int)(slash - out)) : 1, slash ? out : ".");
    struct stat st;
    if (stat(out, &st) == 0 && !(S_ISDIR(st.st_mode) && is_empty_dir(out))) {
        awq_fail(AWQ_ERR_EXISTS, "'%s' already exists", out);
        awq_hint("remove it or choose another --out");
        return AWQ_ERR_EXISTS;
    }
    awq_err e = awq_mkdirs(parent);
    if (e != AWQ_OK) return e;

    int count = 0;
    syn_tensor *ts = NULL;
    st_tensor *st_t = NULL;
    uint64_t total = 0;
    if ((e = plan_tensors(m, &ts, &st_t, &count, &total)) != AWQ_OK) return e;
    /* Refuse early rather than fail 13 GB in: the data plus a little for headers and JSON. */
    struct statvfs vfs;
    if (statvfs(parent, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < total + (1u << 20)) {
        e = awq_fail(AWQ_ERR_NOSPACE, "not enough space for '%s': the model needs %.2f GB, %.2f GB are free", out,
                     total / 1e9, (double)vfs.f_bavail * vfs.f_frsize / 1e9);
        awq_hint("free some space, choose another --out or a smaller model");
        goto done;
    }
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s-XXXXXX", parent, base);
    if (!mkdtemp(tmp)) {
        e = awq_fail_errno(errno, "cannot create '%s' (temporary directory in '%s')", out, parent);
        goto done;
    }
    chmod(tmp, 0755);
    fill_ctx ctx = {m, ts, 0, total};
    e = st_write_sharded_fill(tmp, st_t, count, o->shard_size, fill, &ctx);
    if (e == AWQ_OK) e = write_json(tmp, "awqmake_synthetic.json", sidecar_json(o));
    if (e == AWQ_OK) e = write_json(tmp, "config.json", config_json(o));
    /* rename() replaces an empty directory, never a non-empty one: a racing writer loses cleanly */
    if (e == AWQ_OK && rename(tmp, out) != 0) {
        int err = errno;
        e = awq_fail_errno(err, "cannot move the finished model into '%s'", out);
        if (err == ENOTEMPTY || err == EEXIST) awq_hint("'%s' appeared meanwhile: remove it or choose another --out", out);
    }
    if (e != AWQ_OK) {
        if (!strstr(awq_errmsg(), out)) e = awq_context(e, "writing '%s'", out); /* temp paths alone confuse */
        remove_flat_dir(tmp);
    } else {
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) { (void)fsync(fd); close(fd); }
        *out_bytes = total;
        *out_files = split_shards(st_t, count, o->shard_size, NULL); /* for the summary */
    }
done:
    free(st_t);
    free(ts);
    return e;
}

int main(int argc, char **argv)
{
    awq_log_init(PROG, argc, argv);
    awq_cli cli = {PROG, "write a synthetic HF-format Llama-family or mixture-of-experts model (config.json, safetensors, "
                         "awqmake_synthetic.json) with outlier channels planted in the layer norms; prints the directory",
                   NULL, "Architectures: llama, mistral, qwen2, qwen3, and the mixture-of-experts mixtral (MixtralForCausalLM:\n"
                         "model.layers.N.block_sparse_moe.gate.weight [E, C], block_sparse_moe.experts.E.w1/w3/w2.weight = gate/up/down)\n"
                         "and qwen3_moe (Qwen3MoeForCausalLM: model.layers.N.mlp.gate.weight, mlp.experts.E.gate_proj/up_proj/down_proj.weight;\n"
                         "layers in --mlp-only-layers or with (i+1) % --decoder-sparse-step != 0 get a dense mlp of --ffn).\n"
                         "Tensor values: see tools/synth.h (counter-based: same arguments, same bytes). The router's\n"
                         "columns at the outlier channels are divided by --outlier-scale, so routing spreads over all experts.", 0, NULL};
    int rc = awq_opts_parse(&cli, g_opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    gen_opts o;
    memset(&o, 0, sizeof o);
    awq_err e = cli.n_positional ? awq_fail(AWQ_ERR_ARG, "unexpected argument '%s'", cli.positional[0]) : resolve(&g_args, &o);
    if (e != AWQ_OK) { awq_report(PROG); return 2; }
    if (syn_init(&o.m) != 0) { awq_fail(AWQ_ERR_NOMEM, "out of memory"); awq_report(PROG); return 1; }

    double t0 = awq_now();
    uint64_t bytes = 0;
    int files = 0;
    e = o.dry_run ? dry_run(&o, &bytes, &files) : generate(&o, &bytes, &files);
    double secs = awq_now() - t0;
    if (e != AWQ_OK) { awq_report(PROG); syn_free(&o.m); return 1; }
    const syn_model *m = &o.m;
    char ch[160] = "";
    for (int i = 0, n = 0; i < m->n_outliers && n < (int)sizeof ch - 16; i++)
        n += snprintf(ch + n, sizeof ch - (size_t)n, "%s%d", i ? "," : "", m->outliers[i]);
    char took[96];
    if (o.dry_run) snprintf(took, sizeof took, "dry run, nothing written");
    else snprintf(took, sizeof took, "%.2f s (%.0f MB/s)", secs, secs > 0 ? bytes / 1e6 / secs : 0.0);
    awq_info("%s C=%d F=%d L=%d H=%d Hkv=%d D=%d V=%d %s%s: %.1f MB in %d file%s, %s; outlier channels %s",
             arch_type(m->arch), m->hidden, m->ffn, m->layers, m->heads, m->kv_heads, m->head_dim, m->vocab,
             awq_dtype_name(m->dtype), m->tie ? " tied" : "", bytes / 1e6, files, files == 1 ? "" : "s", took,
             m->n_outliers ? ch : "none");
    if (m->n_experts) {
        int sparse = 0;
        for (int i = 0; i < m->layers; i++) sparse += syn_layer_experts(m, i) > 0;
        awq_info("%d of %d layers with %d experts (top %d, width %d%s)", sparse, m->layers, m->n_experts,
                 m->experts_per_tok, m->moe_ffn, m->norm_topk_prob ? ", renormalized" : "");
    }
    if (!o.dry_run) printf("%s\n", o.out);
    syn_free(&o.m);
    return 0;
}
