#!/usr/bin/env python3
"""gen_forward_golden.py - FIXTURE GENERATOR (Python, not part of the build): golden decoder-forward outputs
made by HF transformers itself, for checking awqmake's C forward (issue 3). Writes tests/golden/<name>/
{config.json, model.safetensors, forward.safetensors} for five tiny random models and tests/golden/README.md.

Install (PyPI is the only registry reachable, so no CPU-only torch index; the PyPI wheel pulls CUDA wheels
it never uses here, about 5.6 GB in the venv, under 2 minutes on this machine):
    python3 -m venv /tmp/goldenvenv
    /tmp/goldenvenv/bin/pip install -r tools/golden/requirements.txt
Run from the repository root (rewrites tests/golden/; a rerun gives byte-identical files):
    /tmp/goldenvenv/bin/python tools/golden/gen_forward_golden.py
Versions it was run with: torch 2.15.0, transformers 5.23.0, safetensors 0.8.0, numpy 2.4.6, Python 3.11.7.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import shutil
import sys

import torch
import safetensors
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

PINNED = {"torch": "2.15.0", "transformers": "5.23.0", "safetensors": "0.8.0"}
GENERATED_ON = "2026-11-24"  # date of the committed fixtures; kept constant so reruns are byte-identical
REGEN_COMMAND = "/tmp/goldenvenv/bin/python tools/golden/gen_forward_golden.py"

BATCH, SEQ, VOCAB = 2, 24, 256
IDS_SEED = 20261124

# Shared tiny dimensions; each fixture overrides what makes it what it is.
BASE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, max_position_embeddings=512)

FIXTURES = [
    dict(name="llama_gqa_llama3rope_tied", cls=LlamaForCausalLM, cfg_cls=LlamaConfig, seed=101,
         storage=torch.bfloat16, config_form="legacy", keep_v5_config=True,
         what="Llama-3.x style: GQA 4 q heads / 2 kv heads (D=16), rope_type llama3 (factor 8, low 1, high 4, "
              "original_max_position_embeddings 64, theta 500000; at D=16 inv_freq j=0 is unchanged, j=1 is "
              "smoothed, j=2..7 are divided by 8), tied embeddings, rms_norm_eps 1e-5",
         cfg=dict(num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, tie_word_embeddings=True,
                  rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 64},
                  bos_token_id=1, eos_token_id=2)),
    dict(name="llama2_mha", cls=LlamaForCausalLM, cfg_cls=LlamaConfig, seed=102,
         storage=torch.float16, config_form="v5", keep_v5_config=False,
         what="Llama-2 style: MHA 4 heads (D=16), default RoPE theta 10000, untied lm_head, rms_norm_eps 1e-5, "
              "weights stored F16",
         cfg=dict(num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-5, tie_word_embeddings=False,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, bos_token_id=1, eos_token_id=2)),
    dict(name="mistral", cls=MistralForCausalLM, cfg_cls=MistralConfig, seed=103,
         storage=torch.bfloat16, config_form="legacy", keep_v5_config=False,
         what="Mistral v0.2+/v0.3 style: GQA 8 q heads / 2 kv heads (D=8, 4 q heads per kv head), "
              "sliding_window null, rope_theta 1e6, untied, rms_norm_eps 1e-5",
         cfg=dict(num_attention_heads=8, num_key_value_heads=2, rms_norm_eps=1e-5, tie_word_embeddings=False,
                  sliding_window=None, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                  bos_token_id=1, eos_token_id=2)),
    dict(name="qwen2_bias", cls=Qwen2ForCausalLM, cfg_cls=Qwen2Config, seed=104,
         storage=torch.bfloat16, config_form="v5", keep_v5_config=False,
         what="Qwen2/2.5 style: q/k/v biases (random, nonzero), no o_proj bias, GQA 4/2 (D=16), rope_theta 1e6, "
              "tied embeddings, rms_norm_eps 1e-6, use_sliding_window false",
         cfg=dict(num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, tie_word_embeddings=True,
                  use_sliding_window=False, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                  bos_token_id=None, eos_token_id=None)),
    dict(name="qwen3_qknorm", cls=Qwen3ForCausalLM, cfg_cls=Qwen3Config, seed=105,
         storage=torch.bfloat16, config_form="legacy", keep_v5_config=False,
         what="Qwen3 style (like Qwen3 <= 4B): head_dim 32 != hidden/heads (64/4=16), so q_proj is [128,64] "
              "and o_proj [64,128]; per-head q_norm/k_norm with random weights; GQA 4/2, rope_theta 1e6, tied "
              "embeddings, rms_norm_eps 1e-6",
         cfg=dict(num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
                  tie_word_embeddings=True, attention_bias=False, use_sliding_window=False,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                  bos_token_id=None, eos_token_id=None)),
]

DTYPE_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def fail(msg):
    sys.exit(f"gen_forward_golden: {msg}")


def check(cond, msg):
    if not cond:
        fail(msg)


def randomize(model, gen):
    """Overwrite transformers' init (std 0.02, norms all ones) with values that make every part of the forward
    visible: with std 0.02 at hidden 64 the attention scores are ~0.03, softmax is nearly uniform and RoPE, the
    causal mask and the GQA head mapping barely change the output; all-ones norms would hide a skipped weight."""
    for name, p in model.named_parameters():  # a tied lm_head is the same Parameter and is listed once
        if name.endswith("norm.weight"):  # input/post_attention layernorm, model.norm, q_norm, k_norm
            val = 0.7 + 0.6 * torch.rand(p.shape, generator=gen)
        elif "embed_tokens" in name:
            val = torch.randn(p.shape, generator=gen)
        elif name.endswith(".bias"):
            val = 0.5 * torch.randn(p.shape, generator=gen)
        elif p.dim() == 2:  # linear [out, in]: outputs keep roughly unit scale, attention scores std ~1
            val = torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1])
        else:
            fail(f"unexpected parameter '{name}'")
        with torch.no_grad():
            p.copy_(val)


def round_to_storage(model, dtype):
    """Round every weight to the dtype it is saved in, so the fp32 forward of the saved file is the golden one.
    BF16 values below 2^-17 are not exact in fp16 (subnormal spacing 2^-24); they are set to 0, so a loader that
    converts BF16 -> FP16 (as AWQ does, spec 1.1) still sees exactly the same weights."""
    with torch.no_grad():
        for _, p in model.named_parameters():
            s = p.to(dtype)
            if dtype == torch.bfloat16:
                s[s.abs() < 2.0 ** -17] = 0
                check(torch.equal(s.float(), s.half().float()), "bf16 weight not exact in fp16")
            p.copy_(s.float())


def legacy_config(v5):
    """The config.json form of checkpoints written by transformers 4.x (what released Llama-3.1, Mistral and
    Qwen3 checkpoints carry): rope_theta + rope_scaling instead of rope_parameters, torch_dtype instead of dtype."""
    d = dict(v5)
    rope = dict(d.pop("rope_parameters"))
    d["rope_theta"] = rope.pop("rope_theta")
    d["rope_scaling"] = None if rope == {"rope_type": "default"} else rope
    d["torch_dtype"] = d.pop("dtype")
    return d


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def make_input_ids():
    gen = torch.Generator().manual_seed(IDS_SEED)
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=gen, dtype=torch.int64)


def forward(model, ids, position_ids=None):
    """One fp32 forward; returns {tensor name: fp32 tensor} in the forward.safetensors layout."""
    layers = model.model.layers
    outs = {}

    def hook(i):
        def f(_mod, _args, out):
            outs[i] = (out[0] if isinstance(out, tuple) else out).detach().clone()
        return f

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            r = model(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=position_ids,
                      output_hidden_states=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    n = len(layers)
    check(len(r.hidden_states) == n + 1 and len(outs) == n, "unexpected number of hidden states")
    res = {}
    for i, h in enumerate(r.hidden_states):
        res[f"hidden.{i}"] = h.float().contiguous()
    for i in range(n):
        res[f"block_out.{i}"] = outs[i].float().contiguous()
    res["logits"] = r.logits.float().contiguous()
    return res


def check_layout(model, res, n_layers):
    """The relations the README promises: hidden.i is block i's input, hidden.L is the FINAL-NORMED output."""
    for i in range(n_layers - 1):
        check(torch.equal(res[f"hidden.{i + 1}"], res[f"block_out.{i}"]), f"hidden.{i + 1} != block_out.{i}")
    with torch.no_grad():
        normed = model.model.norm(res[f"block_out.{n_layers - 1}"])
        check(torch.equal(res[f"hidden.{n_layers}"], normed), "hidden.L is not norm(block_out.L-1)")
        logits = model.lm_head(normed)
    check(torch.allclose(logits, res["logits"], rtol=0, atol=1e-5), "logits != lm_head(hidden.L)")
    check(torch.equal(res["hidden.0"], model.model.embed_tokens.weight[res["_ids"]]), "hidden.0 != embed[ids]")


def rope_branches(fx):
    """For the llama3 fixture: which rule of spec 1.5 each inv_freq index falls under (all three must occur)."""
    rp = fx["cfg"]["rope_parameters"]
    hd = fx["cfg"].get("head_dim") or BASE["hidden_size"] // fx["cfg"]["num_attention_heads"]
    orig = rp["original_max_position_embeddings"]
    lo_wl, hi_wl = orig / rp["low_freq_factor"], orig / rp["high_freq_factor"]
    out = []
    for j in range(hd // 2):
        inv = 1.0 / rp["rope_theta"] ** (2 * j / hd)
        wl = 2 * math.pi / inv
        out.append("high" if wl < hi_wl else "low" if wl > lo_wl else "smooth")
    return out


def sensitivity(fx, model, ids, ref):
    """Plausible C-forward bugs, applied to transformers' model: each must move the logits clearly (fp32 noise is
    ~1e-6), otherwise the fixture could not catch it. Returns {bug: max |delta logits|}."""
    mod = sys.modules[type(model).__module__]
    base = ref["logits"]
    found = {}

    def delta(res):
        return (res["logits"] - base).abs().max().item()

    def with_params(edit):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for name, p in m.named_parameters():
                edit(name, p)
        return delta(forward(m, ids))

    found["norm weights ignored (all ones)"] = with_params(
        lambda n, p: p.fill_(1.0) if n.endswith("norm.weight") else None)
    found["no RoPE (all positions 0)"] = delta(forward(model, ids, torch.zeros_like(ids)))

    # kv head j serving query heads j, j+Hkv, ... instead of the consecutive block j*G .. j*G+G-1
    if fx["cfg"]["num_key_value_heads"] != fx["cfg"]["num_attention_heads"]:
        orig = mod.repeat_kv

        def repeat_kv_interleaved(x, n_rep):
            b, hkv, s, d = x.shape
            return x[:, None].expand(b, n_rep, hkv, s, d).reshape(b, n_rep * hkv, s, d)

        mod.repeat_kv = repeat_kv_interleaved
        try:
            found["GQA head mapping h % Hkv"] = delta(forward(model, ids))
        finally:
            mod.repeat_kv = orig

    # causal mask dropped: every position also attends to later ones
    orig_attn = mod.eager_attention_forward

    def attention_unmasked(module, query, key, value, attention_mask, *args, **kwargs):
        return orig_attn(module, query, key, value, None, *args, **kwargs)

    mod.eager_attention_forward = attention_unmasked
    try:
        found["no causal mask"] = delta(forward(model, ids))
    finally:
        mod.eager_attention_forward = orig_attn

    # rotate_half replaced by GPT-J style interleaved pairs (spec 1.5: must be rotate_half)
    orig_rot = mod.rotate_half

    def rotate_pairs(x):
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((-x2, x1), dim=-1).flatten(-2)

    mod.rotate_half = rotate_pairs
    try:
        found["RoPE on interleaved pairs"] = delta(forward(model, ids))
    finally:
        mod.rotate_half = orig_rot

    if fx["cfg"].get("rope_parameters", {}).get("rope_type") == "llama3":
        m = copy.deepcopy(model)
        hd = head_dim(m.config)
        theta = fx["cfg"]["rope_parameters"]["rope_theta"]
        plain = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd)
        m.model.rotary_emb.inv_freq.copy_(plain)
        found["llama3 rope_scaling ignored"] = delta(forward(m, ids))
    if fx["cls"] is Qwen2ForCausalLM:
        found["q/k/v biases ignored"] = with_params(lambda n, p: p.zero_() if n.endswith(".bias") else None)
    if fx["cls"] is Qwen3ForCausalLM:
        found["q_norm/k_norm weights ignored"] = with_params(
            lambda n, p: p.fill_(1.0) if n.endswith(("q_norm.weight", "k_norm.weight")) else None)
        m = copy.deepcopy(model)
        for layer in m.model.layers:
            layer.self_attn.q_norm = torch.nn.Identity()
            layer.self_attn.k_norm = torch.nn.Identity()
        found["q_norm/k_norm skipped"] = delta(forward(m, ids))
        m = copy.deepcopy(model)
        for layer in m.model.layers:
            layer.self_attn.scaling = (m.config.hidden_size // m.config.num_attention_heads) ** -0.5
        found["score scale (C/H)^-0.5 instead of D^-0.5"] = delta(forward(m, ids))
    for bug, d in found.items():
        check(d > 1e-2, f"{fx['name']}: fixture would not catch '{bug}' (max |delta logits| {d:.2e})")
    return found


def build_fixture(fx, out_dir, ids):
    name = fx["name"]
    d = os.path.join(out_dir, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)

    cfg = fx["cfg_cls"](**BASE, **fx["cfg"])
    torch.manual_seed(fx["seed"])
    model = fx["cls"](cfg).eval()
    randomize(model, torch.Generator().manual_seed(fx["seed"]))
    round_to_storage(model, fx["storage"])
    model.to(fx["storage"]).save_pretrained(d)
    gen_cfg = os.path.join(d, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)  # not read by awqmake's forward
    check(sorted(os.listdir(d)) == ["config.json", "model.safetensors"], f"{name}: unexpected files {os.listdir(d)}")

    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        for k in keys:
            check(f.get_slice(k).get_dtype() == DTYPE_NAME[fx["storage"]], f"{name}: '{k}' has the wrong dtype")
    check(("lm_head.weight" in keys) != cfg.tie_word_embeddings, f"{name}: lm_head presence does not match tying")

    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path) as f:
        v5 = json.load(f)
    # Reference model: the saved checkpoint as written by save_pretrained, loaded back in fp32.
    ref_model = fx["cls"].from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    ref = forward(ref_model, ids)
    if fx["config_form"] == "legacy":
        write_json(cfg_path, legacy_config(v5))
        if fx["keep_v5_config"]:
            write_json(os.path.join(d, "config.v5.json"), v5)
        # The golden outputs must hold for the config.json actually shipped: load it again and compare bitwise.
        legacy_model = fx["cls"].from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        check(legacy_model.config.rope_parameters == ref_model.config.rope_parameters,
              f"{name}: legacy config gives other rope parameters")
        res = forward(legacy_model, ids)
        for k in ref:
            check(torch.equal(ref[k], res[k]), f"{name}: legacy config changes '{k}'")
        ref_model = legacy_model
    else:
        write_json(cfg_path, v5)  # same content, stable formatting

    ref["_ids"] = ids
    check_layout(ref_model, ref, cfg.num_hidden_layers)
    del ref["_ids"]
    found = sensitivity(fx, ref_model, ids, ref)

    tensors = {"input_ids": ids.to(torch.int32).contiguous()}
    tensors.update(ref)
    meta = {"generator": "tools/golden/gen_forward_golden.py", "torch": torch.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__,
            "compute": "float32, eager attention, CPU, 1 thread", "positions": "0..23 per sequence, mask all ones",
            "layout": "hidden.i = input of block i (i<L); hidden.L = FINAL-NORMED output; block_out.i = raw block i output"}
    # One metadata key: safetensors writes the metadata map in hash order, which changes from run to run.
    save_file(tensors, os.path.join(d, "forward.safetensors"), metadata={"golden": json.dumps(meta, sort_keys=True)})
    return dict(fx=fx, cfg=cfg, dir=d, found=found, logits_absmax=ref["logits"].abs().max().item())


def head_dim(cfg):
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_readme(out_dir, ids, built):
    rel = "tests/golden"
    lines = [
        "# Golden decoder-forward fixtures (made by HF transformers)",
        "",
        "FIXTURES, generated by `tools/golden/gen_forward_golden.py` (Python, not part of the build): five tiny random",
        "models built with transformers' own model classes, saved with `save_pretrained`, and the outputs of",
        "transformers' float32 forward over them. They check awqmake's C forward (spec §1.4/§1.5) per block.",
        "Do not edit by hand; regenerate.",
        "",
        "## Regenerate",
        "",
        "```",
        "python3 -m venv /tmp/goldenvenv",
        "/tmp/goldenvenv/bin/pip install -r tools/golden/requirements.txt   # PyPI only; torch pulls unused CUDA wheels (~5.6 GB)",
        f"{REGEN_COMMAND}   # from the repository root; rewrites {rel}/",
        "```",
        "",
        f"Generated on {GENERATED_ON} with torch {torch.__version__}, transformers {transformers.__version__}, "
        f"safetensors {safetensors.__version__}, Python {platform.python_version()} (x86_64). A rerun gives",
        "byte-identical files (checked with sha256 below); another CPU may differ in the last bits of the fp32 outputs.",
        "",
        "## Fixtures",
        "",
        "| dir | class | L | C | F | H/Hkv | D | V | weights | tied | config.json form | what it exercises |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | --- | --- |",
    ]
    for b in built:
        fx, cfg = b["fx"], b["cfg"]
        form = "legacy (rope_theta, rope_scaling, torch_dtype)" if fx["config_form"] == "legacy" \
            else "transformers 5 (rope_parameters, dtype)"
        lines.append(f"| `{fx['name']}` | {fx['cls'].__name__} | {cfg.num_hidden_layers} | {cfg.hidden_size} | "
                     f"{cfg.intermediate_size} | {cfg.num_attention_heads}/{cfg.num_key_value_heads} | {head_dim(cfg)} | "
                     f"{cfg.vocab_size} | {DTYPE_NAME[fx['storage']]} | {str(cfg.tie_word_embeddings).lower()} | "
                     f"{form} | {fx['what']} |")
    lines += [
        "",
        "`llama_gqa_llama3rope_tied/config.v5.json` is the same config in the form transformers 5.23 writes",
        "(`rope_parameters` with `rope_type: llama3`); transformers loads both forms to the same model (checked).",
        "For each legacy-form fixture the script loads the shipped config.json back and checks that the outputs",
        "are bitwise the ones from the config transformers wrote. Note: transformers 5 writes `dtype`, not `torch_dtype`.",
        "",
        "## Weights",
        "",
        "Random, seeded (`torch.Generator`), chosen so that every part of the forward moves the output: embeddings",
        "normal with std 1; linear weights normal with std 1/sqrt(in_features) (attention scores have std ~1, so",
        "softmax, RoPE, the causal mask and the GQA mapping matter); biases (qwen2 q/k/v) std 0.5; every RMSNorm weight (input/post-attention,",
        "final norm, Qwen3 q_norm/k_norm) uniform in [0.7, 1.3]. Weights are rounded to the stored dtype before the",
        "forward, so the fp32 forward of the file is exactly the golden one. BF16 weights below 2^-17 are set to 0,",
        "so every stored weight is also exact in FP16 (a BF16->FP16 converting loader sees the same numbers).",
        "",
        "## forward.safetensors",
        "",
        f"Forward in float32 (weights upcast exactly), eager attention, CPU, one thread, batch {BATCH} x {SEQ} tokens,",
        "attention_mask all ones (no padding), positions 0..23 in each sequence, use_cache off.",
        "",
        "| tensor | dtype | shape | meaning |",
        "| --- | --- | --- | --- |",
        f"| `input_ids` | I32 | [{BATCH},{SEQ}] | token ids (same for all fixtures, `torch.randint` with seed {IDS_SEED}) |",
        f"| `hidden.<i>`, i = 0..L-1 | F32 | [{BATCH},{SEQ},C] | input of decoder block i (`hidden.0` = embed_tokens[input_ids]) |",
        f"| `hidden.<L>` | F32 | [{BATCH},{SEQ},C] | transformers' last hidden_states entry: the output of block L-1 **after the final norm** |",
        f"| `block_out.<i>`, i = 0..L-1 | F32 | [{BATCH},{SEQ},C] | raw output of decoder block i (forward hook; residual included, no final norm) |",
        f"| `logits` | F32 | [{BATCH},{SEQ},V] | lm_head(hidden.L) |",
        "",
        "So `hidden.<i+1>` == `block_out.<i>` for i < L-1 and `hidden.<L>` == norm(`block_out.<L-1>`) (the script checks",
        "both bitwise). A C forward in fp32 should match to about 1e-5 relative; in fp16 storage (spec §1.4) to ~1e-2.",
        "RoPE depends only on position differences, so a constant offset of the positions is NOT detectable here",
        "(only rounding changes); per-sequence restart must be tested by other means.",
        "",
        "token ids:",
        "",
        "```",
    ]
    for row in ids.tolist():
        lines.append(" ".join(str(t) for t in row))
    lines += [
        "```",
        "",
        "## What each fixture can catch",
        "",
        "The script applies these bugs to transformers' model and refuses to write the fixtures unless each moves",
        "the logits by more than 1e-2 (max |delta| shown; fp32 noise is ~1e-6):",
        "",
        "| dir | bug | max \\|delta logits\\| |",
        "| --- | --- | ---: |",
    ]
    for b in built:
        for bug, dl in b["found"].items():
            lines.append(f"| `{b['fx']['name']}` | {bug} | {dl:.3g} |")
    lines += [
        "",
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "| --- | ---: | --- |",
    ]
    total = 0
    for b in built:
        for fn in sorted(os.listdir(b["dir"])):
            p = os.path.join(b["dir"], fn)
            total += os.path.getsize(p)
            lines.append(f"| `{b['fx']['name']}/{fn}` | {os.path.getsize(p)} | `{sha256(p)}` |")
    lines += ["", f"Total {total} bytes (plus this README).", ""]
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Write golden forward fixtures made by HF transformers.")
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "..", "tests", "golden")),
                    help="output directory (default: tests/golden of this repository)")
    args = ap.parse_args()

    for mod, want in ((torch, PINNED["torch"]), (transformers, PINNED["transformers"]),
                      (safetensors, PINNED["safetensors"])):
        if mod.__version__.split("+")[0] != want:
            print(f"warning: {mod.__name__} {mod.__version__} is not the pinned {want}; outputs may differ",
                  file=sys.stderr)
    torch.set_num_threads(1)  # one reduction order, so reruns are byte-identical
    torch.use_deterministic_algorithms(True)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    os.makedirs(args.out, exist_ok=True)
    ids = make_input_ids()
    br = rope_branches(FIXTURES[0])
    check(set(br) == {"high", "smooth", "low"}, f"llama3 fixture does not hit all three rope rules: {br}")
    built = []
    for fx in FIXTURES:
        b = build_fixture(fx, args.out, ids)
        built.append(b)
        size = sum(os.path.getsize(os.path.join(b["dir"], f)) for f in os.listdir(b["dir"]))
        print(f"{fx['name']}: {size} bytes, max|logit| {b['logits_absmax']:.3f}, "
              + ", ".join(f"{k}: {v:.3g}" for k, v in b["found"].items()))
    print(f"llama3 inv_freq rules by index: {br}")
    write_readme(args.out, ids, built)


if __name__ == "__main__":
    main()
