#!/usr/bin/env python3
"""gen_moe_golden.py - FIXTURE GENERATOR (Python, not part of the build): golden forward outputs of tiny random
mixture-of-experts models made by HF transformers itself (issue 17), in the layout of gen_forward_golden.py:
tests/golden/<name>/{config.json, model.safetensors, forward.safetensors, expect.json}; expect.json holds the
tokens each expert received and transformers' perplexity over 3 windows of 32 seeded token ids (the eval protocol:
each window scored alone, ppl = exp(mean of the windows' mean losses)).

  mixtral_moe     MixtralForCausalLM, 2 layers, 4 experts, top-2 (always renormalized), GQA 4/2, untied.
  qwen3_moe       Qwen3MoeForCausalLM, 3 layers, layer 1 dense (mlp_only_layers [1], intermediate_size 96), the
                  others 8 experts of moe_intermediate_size 48, top-3 NOT renormalized (norm_topk_prob false),
                  head_dim 32 with q/k norm, tied embeddings.

Install and run as gen_forward_golden.py (same pinned tools/golden/requirements.txt):
    /tmp/goldenvenv/bin/python tools/golden/gen_moe_golden.py
Versions it was run with: torch 2.15.0, transformers 5.23.0, safetensors 0.8.0, Python 3.11.
transformers 5 holds the experts fused ([E, 2F, C] gate_up_proj) but save_pretrained writes the per-expert
tensors released checkpoints have (block_sparse_moe.experts.<e>.w1/w2/w3 for Mixtral, mlp.experts.<e>.gate_proj/
up_proj/down_proj for Qwen3-MoE); the script checks those names.
"""

import json
import math
import os
import shutil
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import MixtralConfig, MixtralForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM
import safetensors
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_forward_golden import (PINNED, DTYPE_NAME, check, forward, make_input_ids, round_to_storage,  # noqa: E402
                                write_json)

EVAL_SEED, EVAL_WINDOWS, EVAL_SEQLEN = 20261206, 3, 32
BASE = dict(vocab_size=256, hidden_size=64, intermediate_size=96, max_position_embeddings=512)
FIXTURES = [
    dict(name="mixtral_moe", cls=MixtralForCausalLM, cfg_cls=MixtralConfig, seed=201, storage=torch.bfloat16,
         cfg=dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, num_local_experts=4,
                  num_experts_per_tok=2, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=None,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
         ),
    dict(name="qwen3_moe", cls=Qwen3MoeForCausalLM, cfg_cls=Qwen3MoeConfig, seed=202, storage=torch.bfloat16,
         cfg=dict(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32, num_experts=8,
                  num_experts_per_tok=3, moe_intermediate_size=48, norm_topk_prob=False, decoder_sparse_step=1,
                  mlp_only_layers=[1], rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
]


def randomize(model, gen):
    """As gen_forward_golden.randomize, plus the fused expert tensors [E, out, in] (std 1/sqrt(in))."""
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            val = 0.7 + 0.6 * torch.rand(p.shape, generator=gen)
        elif "embed_tokens" in name:
            val = torch.randn(p.shape, generator=gen)
        elif p.dim() in (2, 3):
            val = torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1])
        else:
            sys.exit(f"gen_moe_golden: unexpected parameter '{name}'")
        with torch.no_grad():
            p.copy_(val)


def routing(model, ids):
    """Per MoE layer: the router's top-k picks of every token (transformers' own router module)."""
    picks = {}

    def hook(i):
        def f(_mod, _args, out):
            _, scores, idx = out
            picks[i] = idx.detach().clone()
        return f

    hs = []
    for i, layer in enumerate(model.model.layers):
        if hasattr(layer.mlp, "gate") and hasattr(layer.mlp, "experts"):
            hs.append(layer.mlp.gate.register_forward_hook(hook(i)))
    try:
        forward(model, ids)
    finally:
        for h in hs:
            h.remove()
    return picks


def build(fx, out_dir, ids):
    d = os.path.join(out_dir, fx["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    cfg = fx["cfg_cls"](**BASE, **fx["cfg"])
    torch.manual_seed(fx["seed"])
    model = fx["cls"](cfg).eval()
    randomize(model, torch.Generator().manual_seed(fx["seed"]))
    round_to_storage(model, fx["storage"])
    model.to(fx["storage"]).save_pretrained(d)
    if os.path.exists(os.path.join(d, "generation_config.json")):
        os.remove(os.path.join(d, "generation_config.json"))
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    want = "model.layers.0.block_sparse_moe.experts.3.w2.weight" if fx["cls"] is MixtralForCausalLM \
        else "model.layers.2.mlp.experts.7.down_proj.weight"
    check(want in keys, f"{fx['name']}: save_pretrained did not write per-expert tensors ('{want}')")
    if fx["cls"] is Qwen3MoeForCausalLM:
        check("model.layers.1.mlp.gate_proj.weight" in keys, "qwen3_moe: layer 1 is not dense")
    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path) as f:
        write_json(cfg_path, json.load(f))

    ref_model = fx["cls"].from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    ref = forward(ref_model, ids)
    picks = routing(ref_model, ids)
    info = {"layers": {}}
    for i, idx in picks.items():
        E = ref_model.config.num_local_experts if fx["cls"] is MixtralForCausalLM else ref_model.config.num_experts
        counts = torch.bincount(idx.flatten(), minlength=E).tolist()
        info["layers"][str(i)] = {"tokens_per_expert": counts}
        check(min(counts) > 0, f"{fx['name']}: layer {i} has an expert no token chose: {counts}")
    gen = torch.Generator().manual_seed(EVAL_SEED)
    stream = torch.randint(0, BASE["vocab_size"], (EVAL_WINDOWS * EVAL_SEQLEN,), generator=gen, dtype=torch.int64)
    with torch.no_grad():
        losses = [ref_model(input_ids=w[None], labels=w[None], use_cache=False).loss.item()
                  for w in stream.view(EVAL_WINDOWS, EVAL_SEQLEN)]
    info["eval"] = {"seqlen": EVAL_SEQLEN, "ids": stream.tolist(), "window_losses": losses,
                    "ppl": math.exp(sum(losses) / len(losses))}
    write_json(os.path.join(d, "expect.json"), info)
    save_forward(d, ids, ref, "tools/golden/gen_moe_golden.py")
    print(f"{fx['name']}: {json.dumps(info['layers'])} ppl {info['eval']['ppl']:.6f}")


def save_forward(d, ids, ref, generator):
    """forward.safetensors of a fixture: its input ids and transformers' outputs, in the layout of
    gen_forward_golden.py (one metadata key, so reruns are byte-identical)."""
    tensors = {"input_ids": ids.to(torch.int32).contiguous()}
    tensors.update(ref)
    meta = {"generator": generator, "torch": torch.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__,
            "compute": "float32, eager attention, CPU", "positions": "0..23 per sequence, mask all ones",
            "layout": "hidden.i = input of block i (i<L); hidden.L = FINAL-NORMED output; block_out.i = raw block i output"}
    save_file(tensors, os.path.join(d, "forward.safetensors"), metadata={"golden": json.dumps(meta, sort_keys=True)})


def build_all(fixtures, build_one):
    """Every fixture into tests/golden/ on one CPU thread, warning when the pinned versions differ."""
    for mod, v in ((torch, PINNED["torch"]), (transformers, PINNED["transformers"])):
        if not mod.__version__.startswith(v):
            print(f"warning: {mod.__name__} {mod.__version__}, the fixtures were made with {v}", file=sys.stderr)
    torch.set_num_threads(1)
    ids = make_input_ids()
    for fx in fixtures:
        build_one(fx, "tests/golden", ids)


def main():
    build_all(FIXTURES, build)


if __name__ == "__main__":
    main()
