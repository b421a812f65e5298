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

Both store q/k/v as one self_attn.qkv_proj and gate/up as one mlp.gate_up_proj, as Phi-3 and Phi-4 do.
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
from transformers import Phi3Config, Phi3ForCausalLM

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
    d["rope_theta"] = rope.pop("rope_theta")
    d["partial_rotary_factor"] = rope.pop("partial_rotary_factor", 1.0)
    rope.pop("original_max_position_embeddings", None)
    rope.pop("rope_type")
    rope["type"] = "longrope"  # (transformers 5.23 fails to load "su": standardize_rope_params misses its original_max)
    d["rope_scaling"] = rope
    d["torch_dtype"] = d.pop("dtype")
    return d


def sensitivity(model, ids, ref):
    """Plausible C-forward bugs applied to transformers' model: each must move the logits clearly."""
    base = ref["logits"]
    found = {}
    mod = sys.modules[type(model).__module__]

    def delta(m):
        return (forward(m, ids)["logits"] - base).abs().max().item()

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
    cfg = Phi3Config(**BASE, **fx["cfg"])
    torch.manual_seed(fx["seed"])
    model = Phi3ForCausalLM(cfg).eval()
    randomize(model, torch.Generator().manual_seed(fx["seed"]))
    round_to_storage(model, fx["storage"])
    model.to(fx["storage"]).save_pretrained(d)
    if os.path.exists(os.path.join(d, "generation_config.json")):
        os.remove(os.path.join(d, "generation_config.json"))
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    check("model.layers.1.self_attn.qkv_proj.weight" in keys and "model.layers.1.mlp.gate_up_proj.weight" in keys,
          f"{fx['name']}: save_pretrained did not write the fused tensors")
    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path) as f:
        v5 = json.load(f)
    write_json(cfg_path, v5)
    ref_model = Phi3ForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    ref = forward(ref_model, ids)
    if fx["legacy"]:  # the outputs must hold for the config.json shipped: load it back, compare bitwise
        write_json(cfg_path, legacy(v5))
        lm = Phi3ForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
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
