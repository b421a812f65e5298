#!/usr/bin/env python3
"""gen_dense_golden.py - FIXTURE GENERATOR (Python, not part of the build): golden forward outputs of tiny random
Phi3ForCausalLM models made by HF transformers itself (issue 18), in the layout of gen_moe_golden.py:
tests/golden/<name>/{config.json, model.safetensors, forward.safetensors, expect.json}; expect.json holds
transformers' perplexity over 3 windows of 32 seeded token ids (each window scored alone, ppl = exp(mean of the
windows' mean losses)).

  phi3_longrope_partial  2 layers, GQA 4/2 (D=16), partial_rotary_factor 0.75 (12 of 16 rotate), longrope written
                         in Phi-3.5-mini's legacy form (rope_scaling type "longrope", top-level
                         original_max_position_embeddings 16, max_position_embeddings 64: factor 4, cos/sin times
                         sqrt(1 + ln 4 / ln 16)); 24 and 32 tokens are past 16, so the LONG factors run.
  phi3_short             2 layers, MHA 4/4 (D=16), longrope in transformers 5's rope_parameters form with
                         original_max_position_embeddings 64 and an explicit attention_factor 1.1: 24 and 32
                         tokens are within 64, so the SHORT factors run; rms_norm_eps 1e-5 (Phi3Config's default).
  phi3_mha               2 layers, MHA 4/4 (D=16, H*D = C), partial_rotary_factor 0.5, longrope in the legacy form
                         with NO attention_factor (cos/sin times the default sqrt(1 + ln 4 / ln 64)) and original
                         64: the form transformers 4.51.3 reads, for AutoAWQ 0.2.9's golden (gen_awq_golden.py: its
                         phi3.py always scales qkv_proj -> o_proj on qkv_proj's last H*D rows, which are v only in MHA).

The Phi-3 ones store q/k/v as one self_attn.qkv_proj and gate/up as one mlp.gate_up_proj, as Phi-3 and Phi-4 do.

  phi3_window            2 layers, GQA 4/2, sliding_window 7 (as Phi-3-mini-4k's 2047, shorter than the 24/32 tokens:
                         every layer attends to the last 7 keys).
  gemma2_tiny            Gemma2ForCausalLM, 2 layers (0 sliding, 1 full), GQA 4/2 with head_dim 32 != C/H = 16,
                         query_pre_attn_scalar 24 (not head_dim), attn_logit_softcapping 5, final_logit_softcapping 8,
                         sliding_window 8 (24 and 32 tokens: the window matters), tied embeddings, norm weights
                         around 0 (the norms multiply by 1 + w), embedding std 1/sqrt(C) (times sqrt(C): std 1), GeGLU
                         with tanh GELU.
  gemma2_mha             Gemma2ForCausalLM for AutoAWQ 0.2.9's golden (gen_awq_golden.py): MHA 4/4 of head_dim 16 (H*D = C,
                         so AutoAWQ's v_proj -> o_proj group runs), query_pre_attn_scalar 24, NO attention soft-capping and
                         sliding_window 96 (AutoAWQ runs transformers 4.51.3's sdpa attention, which ignores the soft-cap,
                         and inspects self_attn without the window: with these settings neither changes the function on
                         its 64-token calibration; see tests/golden/awq/README.md), final soft-capping 30, the legacy
                         config form (rope_theta, torch_dtype) transformers 4.51.3 reads.
  gemma3_tiny            Gemma3ForCausalLM (text, gemma3_text), 2 layers (0 sliding, 1 global), GQA 4/2 with head_dim 32,
                         (1 + w) q_norm/k_norm, query_pre_attn_scalar 24, no soft-capping (Gemma3TextConfig's default),
                         sliding_window 8, two RoPEs: local base 10000 on layer 0, global theta 1e6 with linear scaling
                         (factor 4) on layer 1; written in the released Gemma 3 form (rope_theta, rope_local_base_freq,
                         rope_scaling {"rope_type": "linear"}, sliding_window_pattern 2, torch_dtype), loaded back and
                         checked bitwise against the config transformers wrote.
Install and run as gen_forward_golden.py (same pinned tools/golden/requirements.txt):
    /tmp/goldenvenv/bin/python tools/golden/gen_dense_golden.py
Versions it was run with: torch 2.15.0, transformers 5.23.0, safetensors 0.8.0, Python 3.11.
"""

import copy
import json
import math
import os
import shutil
import sys

import torch
from safetensors import safe_open
from torch import nn
from transformers import (Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig, Phi3Config,
                          Phi3ForCausalLM)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_forward_golden import check, forward, round_to_storage, write_json  # noqa: E402
from gen_moe_golden import EVAL_SEED, EVAL_WINDOWS, EVAL_SEQLEN, build_all, randomize, save_forward  # noqa: E402

BASE = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, bos_token_id=1, eos_token_id=2,
            pad_token_id=0)  # Phi3Config's ids (32000) are outside a 256 vocabulary


def factors(n, lo, hi):
    return [round(lo + (hi - lo) * j / (n - 1), 4) for j in range(n)]


FIXTURES = [
    dict(name="phi3_longrope_partial", seed=401, storage=torch.bfloat16, legacy=True,
         cfg=dict(num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  original_max_position_embeddings=16, partial_rotary_factor=0.75, rms_norm_eps=1e-5,
                  tie_word_embeddings=False,
                  rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                   "short_factor": factors(6, 1.0, 1.5), "long_factor": factors(6, 1.0, 12.0)})),
    dict(name="phi3_short", seed=402, storage=torch.bfloat16, legacy=False,
         cfg=dict(num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                  original_max_position_embeddings=64, tie_word_embeddings=False,
                  rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "attention_factor": 1.1,
                                   "short_factor": factors(8, 1.0, 3.0), "long_factor": factors(8, 2.0, 20.0)})),
    dict(name="gemma2_tiny", seed=501, storage=torch.bfloat16, legacy=False, arch="gemma2",
         cfg=dict(num_attention_heads=4, num_key_value_heads=2, head_dim=32, query_pre_attn_scalar=24,
                  attn_logit_softcapping=5.0, final_logit_softcapping=8.0, sliding_window=8, max_position_embeddings=256,
                  tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    dict(name="gemma2_mha", seed=502, storage=torch.bfloat16, legacy=True, arch="gemma2",
         cfg=dict(num_attention_heads=4, num_key_value_heads=4, head_dim=16, query_pre_attn_scalar=24,
                  attn_logit_softcapping=None, final_logit_softcapping=30.0, sliding_window=96, max_position_embeddings=256,
                  tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    dict(name="gemma3_tiny", seed=601, storage=torch.bfloat16, legacy=True, arch="gemma3",
         cfg=dict(num_attention_heads=4, num_key_value_heads=2, head_dim=32, query_pre_attn_scalar=24, sliding_window=8,
                  max_position_embeddings=256, tie_word_embeddings=True, layer_types=["sliding_attention", "full_attention"],
                  rope_parameters={"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000000.0},
                                   "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})),
    dict(name="phi3_window", seed=404, storage=torch.bfloat16, legacy=False,
         cfg=dict(num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, sliding_window=7,
                  original_max_position_embeddings=256, tie_word_embeddings=False,
                  rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                   "short_factor": factors(8, 1.0, 2.0), "long_factor": factors(8, 2.0, 8.0)})),
    dict(name="phi3_mha", seed=403, storage=torch.bfloat16, legacy=True,
         cfg=dict(num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                  original_max_position_embeddings=64, partial_rotary_factor=0.5, tie_word_embeddings=False,
                  rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                   "short_factor": factors(4, 1.0, 2.5), "long_factor": factors(4, 2.0, 16.0)})),
]


def legacy(v5):
    """Phi-3.5-mini's config.json form: rope_theta + rope_scaling {"type": "longrope", ...}, partial_rotary_factor and
    original_max_position_embeddings at the top level, torch_dtype."""
    d = dict(v5)
    rope = dict(d.pop("rope_parameters"))
    if d["model_type"] == "gemma3_text":  # the released Gemma 3 form
        full, local = rope["full_attention"], rope["sliding_attention"]
        d["rope_theta"] = full["rope_theta"]
        d["rope_local_base_freq"] = local["rope_theta"]
        d["rope_scaling"] = {"rope_type": full["rope_type"], "factor": full["factor"]}
        d["sliding_window_pattern"] = 2
        d.pop("layer_types")
        d["torch_dtype"] = d.pop("dtype")
        return d
    d["rope_theta"] = rope.pop("rope_theta")
    if d["model_type"] == "gemma2":  # default RoPE: no rope_scaling; layer_types is the class default pattern
        d["rope_scaling"] = None
        d["torch_dtype"] = d.pop("dtype")
        return d
    d["partial_rotary_factor"] = rope.pop("partial_rotary_factor", 1.0)
    rope.pop("original_max_position_embeddings", None)
    rope.pop("rope_type")
    rope["type"] = "longrope"  # (transformers 5.23 fails to load "su": standardize_rope_params misses its original_max)
    d["rope_scaling"] = rope
    d["torch_dtype"] = d.pop("dtype")
    return d


ARCH = {"phi3": (Phi3Config, Phi3ForCausalLM), "gemma2": (Gemma2Config, Gemma2ForCausalLM),
        "gemma3": (Gemma3TextConfig, Gemma3ForCausalLM)}


def sensitivity_gemma(model, delta):
    """Gemma 2's pieces, each left out of transformers' own model as a C forward could get it wrong."""
    found = {}
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("norm.weight"):
                p.sub_(1.0)  # 1 + (w - 1) = w: the norm read as Llama's w
    found["norms as w, not 1 + w"] = delta(m)
    m = copy.deepcopy(model)
    m.model.embed_tokens.scalar_embed_scale = 1.0
    m.model.embed_tokens.embed_scale.fill_(1.0)
    found["embedding not times sqrt(hidden)"] = delta(m)
    if model.config.attn_logit_softcapping:
        m = copy.deepcopy(model)
        for layer in m.model.layers:
            layer.self_attn.attn_logit_softcapping = None
        found["no attention soft-capping"] = delta(m)
    if model.config.final_logit_softcapping:
        m = copy.deepcopy(model)
        m.config.final_logit_softcapping = None
        found["no final soft-capping"] = delta(m)
    if model.config.model_type == "gemma3_text":  # the two RoPEs
        rot = model.model.rotary_emb
        for bug, change in (("local layers on the global RoPE", lambda rp: rp.__setitem__("sliding_attention", dict(rp["full_attention"]))),
                            ("global RoPE without its linear scaling",
                             lambda rp: rp.__setitem__("full_attention", {"rope_type": "default",
                                                                          "rope_theta": rp["full_attention"]["rope_theta"]}))):
            m = copy.deepcopy(model)
            change(m.config.rope_parameters)
            m.model.rotary_emb = type(rot)(m.config)
            found[bug] = delta(m)
    m = copy.deepcopy(model)
    for layer in m.model.layers:
        layer.self_attn.scaling = layer.self_attn.head_dim ** -0.5
    found["head_dim scale, not query_pre_attn_scalar"] = delta(m)
    if model.config.sliding_window < EVAL_SEQLEN:
        m = copy.deepcopy(model)
        m.config.sliding_window = 4096
        found["no sliding window"] = delta(m)
    m = copy.deepcopy(model)
    for layer in m.model.layers:
        layer.mlp.act_fn = nn.GELU()
    found["exact GELU, not tanh"] = delta(m)
    m = copy.deepcopy(model)
    for layer in m.model.layers:
        layer.post_feedforward_layernorm = nn.Identity()
        layer.post_attention_layernorm = nn.Identity()
    found["no post-attention / post-feed-forward norms"] = delta(m)
    return found


def sensitivity(model, ids, ref):
    """Plausible C-forward bugs applied to transformers' model: each must move the logits clearly."""
    base = ref["logits"]
    found = {}
    mod = sys.modules[type(model).__module__]

    def delta(m):
        return (forward(m, ids)["logits"] - base).abs().max().item()

    if model.config.model_type in ("gemma2", "gemma3_text"):
        found = sensitivity_gemma(model, delta)
        for bug, d in found.items():  # the two GELUs differ by < 5e-4 anywhere: recorded, not asserted here
            check(d > 1e-3 or bug.startswith("exact GELU"), f"fixture would not catch '{bug}' (max |delta logits| {d:.2e})")
        return found

    rot = model.model.rotary_emb
    other = copy.deepcopy(model)  # the other factor list
    cfg = other.config
    rp = cfg.rope_parameters
    rp["short_factor"], rp["long_factor"] = rp["long_factor"], rp["short_factor"]
    other.model.rotary_emb = type(rot)(cfg)
    found["the other longrope factor list"] = delta(other)
    m = copy.deepcopy(model)
    m.model.rotary_emb.attention_scaling = 1.0
    found["longrope cos/sin factor ignored"] = delta(m)
    m = copy.deepcopy(model)  # gate and up swapped in the fused tensor
    with torch.no_grad():
        for layer in m.model.layers:
            w = layer.mlp.gate_up_proj.weight
            g, u = w.chunk(2, dim=0)
            w.copy_(torch.cat([u, g], dim=0))
    found["gate_up_proj halves swapped"] = delta(m)
    m = copy.deepcopy(model)  # k and v swapped in the fused tensor
    with torch.no_grad():
        for layer in m.model.layers:
            w = layer.self_attn.qkv_proj.weight
            q = model.config.num_attention_heads * layer.self_attn.head_dim
            kv = model.config.num_key_value_heads * layer.self_attn.head_dim
            w.copy_(torch.cat([w[:q], w[q + kv:], w[q:q + kv]], dim=0))
    found["k and v swapped in qkv_proj"] = delta(m)
    if model.config.sliding_window:
        m = copy.deepcopy(model)
        m.config.sliding_window = None
        found["no sliding window"] = delta(m)
    if model.config.rope_parameters.get("partial_rotary_factor", 1.0) != 1.0:
        orig = mod.apply_rotary_pos_emb

        def whole_head(q, k, cos, sin, unsqueeze_dim=1):  # rotate all of each head with the rotary frequencies
            d = q.shape[-1]
            reps = -(-d // cos.shape[-1])
            c, s = cos.repeat(1, 1, reps)[..., :d], sin.repeat(1, 1, reps)[..., :d]
            return orig(q, k, c, s, unsqueeze_dim)

        mod.apply_rotary_pos_emb = whole_head
        try:
            found["partial rotary ignored"] = delta(model)
        finally:
            mod.apply_rotary_pos_emb = orig
    for bug, d in found.items():
        check(d > 1e-3, f"fixture would not catch '{bug}' (max |delta logits| {d:.2e})")
    return found


def build(fx, out_dir, ids):
    d = os.path.join(out_dir, fx["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    config_cls, model_cls = ARCH[fx.get("arch", "phi3")]
    cfg = config_cls(**BASE, **fx["cfg"])
    torch.manual_seed(fx["seed"])
    model = model_cls(cfg).eval()
    gen = torch.Generator().manual_seed(fx["seed"])
    randomize(model, gen)
    if fx.get("arch") in ("gemma2", "gemma3"):  # Gemma's norms multiply by 1 + w: weights around 0, as trained ones are
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("norm.weight"):
                    p.copy_(0.6 * torch.rand(p.shape, generator=gen) - 0.3)
                elif "embed_tokens" in name:  # std 1/sqrt(C): times sqrt(C) the block input has std 1
                    p.div_(math.sqrt(p.shape[1]))
    round_to_storage(model, fx["storage"])
    model.to(fx["storage"]).save_pretrained(d)
    if os.path.exists(os.path.join(d, "generation_config.json")):
        os.remove(os.path.join(d, "generation_config.json"))
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    if fx.get("arch", "phi3") == "phi3":
        check("model.layers.1.self_attn.qkv_proj.weight" in keys and "model.layers.1.mlp.gate_up_proj.weight" in keys,
              f"{fx['name']}: save_pretrained did not write the fused tensors")
    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path) as f:
        v5 = json.load(f)
    write_json(cfg_path, v5)
    ref_model = model_cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    ref = forward(ref_model, ids)
    if fx["legacy"]:  # the outputs must hold for the config.json shipped: load it back, compare bitwise
        write_json(cfg_path, legacy(v5))
        lm = model_cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        res = forward(lm, ids)
        for k in ref:
            check(torch.equal(ref[k], res[k]), f"{fx['name']}: legacy config changes '{k}'")
        ref_model = lm
    found = sensitivity(ref_model, ids, ref)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    stream = torch.randint(0, BASE["vocab_size"], (EVAL_WINDOWS * EVAL_SEQLEN,), generator=gen, dtype=torch.int64)
    with torch.no_grad():
        losses = [ref_model(input_ids=w[None], labels=w[None], use_cache=False).loss.item()
                  for w in stream.view(EVAL_WINDOWS, EVAL_SEQLEN)]
    info = {"eval": {"seqlen": EVAL_SEQLEN, "ids": stream.tolist(), "window_losses": losses,
                     "ppl": math.exp(sum(losses) / len(losses))},
            "sensitivity": {k: round(v, 4) for k, v in found.items()}}
    write_json(os.path.join(d, "expect.json"), info)
    save_forward(d, ids, ref, "tools/golden/gen_dense_golden.py")
    print(f"{fx['name']}: ppl {info['eval']['ppl']:.6f}; {json.dumps(info['sensitivity'])}")


def main():
    only = sys.argv[1:]  # fixture names (default: all)
    build_all([fx for fx in FIXTURES if not only or fx["name"] in only], build)


if __name__ == "__main__":
    main()
