#!/usr/bin/env python3
"""gen_dsv3_golden.py - FIXTURE GENERATOR (Python, not part of the build): golden forward outputs of tiny random
DeepseekV3ForCausalLM models made by HF transformers itself (issue 17), in the layout of gen_moe_golden.py:
tests/golden/<name>/{config.json, model.safetensors, forward.safetensors, expect.json}; expect.json holds the tokens
each routed expert received, how many tokens the correction bias moved to another expert, the routing margins, and
transformers' perplexity over 3 windows of 32 seeded token ids (each window scored alone, ppl = exp(mean of the
windows' mean losses)).

  deepseek_v3        3 layers, layer 0 dense (first_k_dense_replace 1); MLA with q_lora_rank 48 (q_a_proj,
                     q_a_layernorm, q_b_proj), kv_lora_rank 32, qk_nope 32 + qk_rope 16 (head 48), v_head_dim 24
                     (!= 48), interleaved RoPE, YaRN (factor 4, original 128, mscale 1, mscale_all_dim 0.707: cos/sin
                     times 1.037 and the softmax scale times mscale^2); 8 routed experts in 4 groups, topk_group 2,
                     top-3, norm_topk_prob, routed_scaling_factor 2.5, 2 shared experts (one mlp of 2 x 32), random
                     e_score_correction_bias.
  deepseek_v3_qproj  3 layers, layers 0-1 dense (first_k_dense_replace 2); q_proj (q_lora_rank null), kv_lora_rank
                     24, qk_nope 16 + qk_rope 8, v_head_dim 32, rotate_half RoPE (rope_interleave false), default
                     RoPE; 8 experts in 2 groups, topk_group 1, top-2 NOT renormalized, routed_scaling_factor 1.5,
                     1 shared expert; rms_norm_eps 1e-2 (the latent norms keep DeepseekV3RMSNorm's 1e-6), tied.

Install and run as gen_forward_golden.py (same pinned tools/golden/requirements.txt):
    /tmp/goldenvenv/bin/python tools/golden/gen_dsv3_golden.py
Versions it was run with: torch 2.15.0, transformers 5.23.0, safetensors 0.8.0, Python 3.11.
The experts are saved per expert (mlp.experts.<e>.gate_proj/up_proj/down_proj), the shared experts as
mlp.shared_experts.*, the router as mlp.gate.weight and its bias mlp.gate.e_score_correction_bias, kept F32 as
transformers keeps it (_keep_in_fp32_modules_strict) while the other weights are BF16.
"""

import copy
import json
import math
import os
import shutil
import sys

import torch
from safetensors import safe_open
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_forward_golden import check, forward, round_to_storage, write_json  # noqa: E402
from gen_moe_golden import EVAL_SEED, EVAL_WINDOWS, EVAL_SEQLEN, build_all, randomize, save_forward  # noqa: E402

BASE = dict(vocab_size=256, hidden_size=64, intermediate_size=96, max_position_embeddings=512, num_attention_heads=4,
            num_key_value_heads=4, n_routed_experts=8, moe_intermediate_size=32, num_hidden_layers=3)
FIXTURES = [
    dict(name="deepseek_v3", seed=301, storage=torch.bfloat16, bias_range=0.15,
         cfg=dict(first_k_dense_replace=1, q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=32, qk_rope_head_dim=16,
                  v_head_dim=24, rope_interleave=True, n_group=4, topk_group=2, num_experts_per_tok=3,
                  norm_topk_prob=True, routed_scaling_factor=2.5, n_shared_experts=2, rms_norm_eps=1e-6,
                  tie_word_embeddings=False,
                  rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                   "original_max_position_embeddings": 128, "beta_fast": 32, "beta_slow": 1,
                                   "mscale": 1.0, "mscale_all_dim": 0.707})),
    dict(name="deepseek_v3_qproj", seed=302, storage=torch.bfloat16, bias_range=0.15,
         cfg=dict(first_k_dense_replace=2, q_lora_rank=None, kv_lora_rank=24, qk_nope_head_dim=16, qk_rope_head_dim=8,
                  v_head_dim=32, rope_interleave=False, n_group=2, topk_group=1, num_experts_per_tok=2,
                  norm_topk_prob=False, routed_scaling_factor=1.5, n_shared_experts=1, rms_norm_eps=1e-2,
                  tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 50000.0})),
]
MIN_MARGIN = 1e-4  # routing decisions closer than this could flip on fp32 summation order


def grouped_choice(scores, bias, cfg):
    """DeepseekV3TopkRouter's choice (sets of experts per token) and its margins: the gap between the last kept
    and the first dropped group score, and between the k-th and (k+1)-th choice score among the kept groups."""
    e, g, tg, k = cfg.n_routed_experts, cfg.n_group, cfg.topk_group, cfg.num_experts_per_tok
    c = scores + bias
    gs = c.view(-1, g, e // g).topk(2, dim=-1)[0].sum(-1)
    gsort = gs.sort(dim=-1, descending=True)[0]
    gmargin = (gsort[:, tg - 1] - gsort[:, tg]).min().item() if tg < g else float("inf")
    gidx = gs.topk(tg, dim=-1)[1]
    mask = torch.zeros_like(gs).scatter_(1, gidx, 1).bool()
    mask = mask.unsqueeze(-1).expand(-1, g, e // g).reshape(-1, e)
    cm = c.masked_fill(~mask, float("-inf"))
    csort = cm.sort(dim=-1, descending=True)[0]
    emargin = (csort[:, k - 1] - csort[:, k]).min().item() if k < tg * (e // g) else float("inf")
    idx = cm.topk(k, dim=-1)[1]
    return [frozenset(r) for r in idx.tolist()], min(gmargin, emargin)


class RouterLog:
    """Per MoE layer: transformers' own picks, and how many tokens the bias moved (biased vs unbiased choice)."""

    def __init__(self, model):
        self.picks, self.moved, self.margin, self.hs = {}, {}, float("inf"), []
        cfg = model.config
        for i, layer in enumerate(model.model.layers):
            if hasattr(layer.mlp, "gate") and hasattr(layer.mlp, "experts"):
                self.hs.append(layer.mlp.gate.register_forward_hook(self.hook(i, cfg)))

    def hook(self, i, cfg):
        def f(mod, _args, out):
            logits, _, idx = out
            scores = logits.sigmoid()
            biased, m1 = grouped_choice(scores, mod.e_score_correction_bias.float(), cfg)
            plain, _ = grouped_choice(scores, torch.zeros_like(mod.e_score_correction_bias.float()), cfg)
            check(biased == [frozenset(r) for r in idx.tolist()], f"layer {i}: the router's picks differ from the rule")
            self.picks.setdefault(i, []).append(idx.detach().clone())
            self.moved[i] = self.moved.get(i, 0) + sum(a != b for a, b in zip(biased, plain))
            self.margin = min(self.margin, m1)
        return f

    def remove(self):
        for h in self.hs:
            h.remove()


def sensitivity(model, ids, ref):
    """Plausible C-forward bugs applied to transformers' model: each must move the logits clearly."""
    base = ref["logits"]
    found = {}

    def delta(m):
        return (forward(m, ids)["logits"] - base).abs().max().item()

    def edited(fn):
        m = copy.deepcopy(model)
        with torch.no_grad():
            fn(m)
        return delta(m)

    moe = [l for l in model.model.layers if hasattr(l.mlp, "experts")]
    found["e_score_correction_bias ignored"] = edited(
        lambda m: [l.mlp.gate.e_score_correction_bias.zero_() for l in m.model.layers if hasattr(l.mlp, "experts")])
    found["routed_scaling_factor ignored"] = edited(
        lambda m: [setattr(l.mlp.gate, "routed_scaling_factor", 1.0) for l in m.model.layers if hasattr(l.mlp, "experts")])
    found["shared experts ignored"] = edited(
        lambda m: [l.mlp.shared_experts.down_proj.weight.zero_() for l in m.model.layers if hasattr(l.mlp, "experts")])
    found["rope_interleave flipped"] = edited(lambda m: setattr(m.config, "rope_interleave", not m.config.rope_interleave))
    qk = model.config.qk_nope_head_dim + model.config.qk_rope_head_dim
    if abs(model.model.layers[0].self_attn.scaling - qk ** -0.5) > 1e-9:
        found["softmax mscale ignored"] = edited(
            lambda m: [setattr(l.self_attn, "scaling", qk ** -0.5) for l in m.model.layers])
    if model.model.rotary_emb.attention_scaling != 1.0:
        found["yarn cos/sin factor ignored"] = edited(lambda m: setattr(m.model.rotary_emb, "attention_scaling", 1.0))
    if model.config.rms_norm_eps != 1e-6:
        def eps(m):
            for l in m.model.layers:
                for n in ("q_a_layernorm", "kv_a_layernorm"):
                    if getattr(l.self_attn, n, None) is not None:
                        getattr(l.self_attn, n).variance_epsilon = m.config.rms_norm_eps
        found["latent norms with rms_norm_eps"] = edited(eps)
    for bug, d in found.items():
        check(d > 1e-3, f"fixture would not catch '{bug}' (max |delta logits| {d:.2e})")
    check(moe, "no MoE layer")
    return found


def build(fx, out_dir, ids):
    d = os.path.join(out_dir, fx["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    cfg = DeepseekV3Config(**BASE, **fx["cfg"])
    torch.manual_seed(fx["seed"])
    model = DeepseekV3ForCausalLM(cfg).eval()
    gen = torch.Generator().manual_seed(fx["seed"])
    randomize(model, gen)
    round_to_storage(model, fx["storage"])
    biases = {}
    for i, layer in enumerate(model.model.layers):
        if hasattr(layer.mlp, "experts"):
            b = (2 * torch.rand(cfg.n_routed_experts, generator=gen) - 1) * fx["bias_range"]
            biases[i] = b
    model.to(fx["storage"])
    with torch.no_grad():
        for i, b in biases.items():  # fp32 as in released checkpoints (_keep_in_fp32_modules_strict)
            model.model.layers[i].mlp.gate.e_score_correction_bias = b.clone()
    model.save_pretrained(d)
    if os.path.exists(os.path.join(d, "generation_config.json")):
        os.remove(os.path.join(d, "generation_config.json"))
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        bias_dtype = f.get_slice("model.layers.2.mlp.gate.e_score_correction_bias").get_dtype()
    for want in ("model.layers.2.mlp.experts.7.down_proj.weight", "model.layers.2.mlp.shared_experts.up_proj.weight",
                 "model.layers.0.mlp.gate_proj.weight", "model.layers.1.self_attn.kv_b_proj.weight"):
        check(want in keys, f"{fx['name']}: save_pretrained did not write '{want}'")
    check(bias_dtype == "F32", f"{fx['name']}: e_score_correction_bias saved as {bias_dtype}")
    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path) as f:
        write_json(cfg_path, json.load(f))

    ref_model = DeepseekV3ForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    log = RouterLog(ref_model)
    ref = forward(ref_model, ids)
    info = {"layers": {}}
    for i, idx in log.picks.items():
        counts = torch.bincount(idx[0].flatten(), minlength=cfg.n_routed_experts).tolist()
        info["layers"][str(i)] = {"tokens_per_expert": counts, "tokens_moved_by_bias": log.moved[i]}
        check(min(counts) > 0, f"{fx['name']}: layer {i} has an expert no token chose: {counts}")
        check(log.moved[i] > 0, f"{fx['name']}: layer {i}: the correction bias changes no token's experts")
    gen = torch.Generator().manual_seed(EVAL_SEED)
    stream = torch.randint(0, BASE["vocab_size"], (EVAL_WINDOWS * EVAL_SEQLEN,), generator=gen, dtype=torch.int64)
    with torch.no_grad():
        losses = [ref_model(input_ids=w[None], labels=w[None], use_cache=False).loss.item()
                  for w in stream.view(EVAL_WINDOWS, EVAL_SEQLEN)]
    log.remove()
    check(log.margin > MIN_MARGIN, f"{fx['name']}: a routing decision within {log.margin:.2e} (reseed)")
    info["min_routing_margin"] = log.margin
    info["eval"] = {"seqlen": EVAL_SEQLEN, "ids": stream.tolist(), "window_losses": losses,
                    "ppl": math.exp(sum(losses) / len(losses))}
    info["softmax_scale"] = ref_model.model.layers[0].self_attn.scaling
    info["rope_attention_factor"] = ref_model.model.rotary_emb.attention_scaling
    info["sensitivity"] = sensitivity(ref_model, ids, ref)
    write_json(os.path.join(d, "expect.json"), info)
    save_forward(d, ids, ref, "tools/golden/gen_dsv3_golden.py")
    print(f"{fx['name']}: {json.dumps(info['layers'])} margin {log.margin:.2e} ppl {info['eval']['ppl']:.6f}")
    print(f"  sensitivity: {json.dumps({k: round(v, 4) for k, v in info['sensitivity'].items()})}")


def main():
    build_all(FIXTURES, build)


if __name__ == "__main__":
    main()
