#!/usr/bin/env python3
"""gen_awq_golden_dsv3.py - FIXTURE GENERATOR (Python, not part of the build): AutoAWQ 0.2.9 on the tiny DeepSeek-V3
model tests/golden/deepseek_v3 (made by gen_dsv3_golden.py), recorded exactly as gen_awq_golden.py records the other
seven models (it imports that script: same pins, calibration ids, settings, Recorder and interventions). Writes
tests/golden/awq/deepseek_v3/{duo_false,duo_true,inputs}.safetensors and README.md.

    /tmp/awqvenv/bin/python tools/golden/gen_awq_golden_dsv3.py     (venv: see gen_awq_golden.py; ~1 minute)

AutoAWQ 0.2.9 runs DeepseekV3 on the CPU with transformers 4.51.3's own DeepseekV3ForCausalLM (no trust_remote_code):
awq/models/deepseek_v3.py forms the groups, its quantizer adds the "mlp" module to the hooked feats for
model_type deepseek_v3. Group size 16 (q_lora_rank 48 and moe_intermediate_size 32 are the in_features to divide).
deepseek_v3_qproj (q_lora_rank null) has no AutoAWQ golden: transformers 4.51.3's DeepseekV3Attention always builds
q_a_proj (nn.Linear(hidden, None) fails), so AutoAWQ's q_proj branch cannot run with the pinned transformers.

Differences from gen_awq_golden.py's MoE records, DeepSeek-V3's routing being transformers 4.51.3's
DeepseekV3TopkRouter (sigmoid, e_score_correction_bias, group-limited top-k; the router is not an nn.Linear, so it
is never hooked, clipped or quantized): block.<b>.moe.selected_experts is the router's own topk_indices (not sorted
by score), block.<b>.moe.router_logits is absent (the router computes in fp32 inside the module), and
block.<b>.moe.expert.<e>.token_idx are the tokens whose rows expert e received (transformers 4.51's torch.where over
the [tokens, k] mask: ascending tokens), checked bitwise against the rows AutoAWQ's hooks captured.
"""

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_awq_golden as G  # noqa: E402  (sets ATEN_CPU_CAPABILITY before torch loads)

import importlib.metadata  # noqa: E402
import platform  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

NAME = "deepseek_v3"
GROUP = 16
REGEN = "/tmp/awqvenv/bin/python tools/golden/gen_awq_golden_dsv3.py"


class DsRecorder(G.Recorder):
    """gen_awq_golden's Recorder with DeepSeek-V3's routing recorded instead of the softmax routers'."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.moe_model = True        # per-linear clip n_tokens, as for the other MoE models

    def _get_input_feat(self, layer, named_linears):
        blk = self._block_of(layer)
        self.rec[f"block.{blk}.input"] = self.inps.detach().cpu().numpy().copy()
        mlp = layer.mlp
        if not hasattr(mlp, "experts"):
            return G.AwqQuantizer._get_input_feat(self, layer, named_linears)
        routed = []
        hooks = [mlp.gate.register_forward_hook(lambda m, i, o: routed.append(o[0].detach().clone()))]
        try:
            feats = G.AwqQuantizer._get_input_feat(self, layer, named_linears)
        finally:
            for h in hooks:
                h.remove()
        assert len(routed) == 1, "one calibration forward expected"
        sel = routed[0]                                              # [T, k] topk_indices
        x = feats["mlp"].reshape(-1, feats["mlp"].shape[-1])
        counts = []
        for e in range(len(mlp.experts)):
            tok = (sel == e).any(-1).nonzero().flatten()            # ascending tokens (torch.where over [T, k])
            name = f"mlp.experts.{e}.gate_proj"
            n = feats[name].shape[0] if name in feats else 0
            assert n == tok.numel() and (n == 0 or torch.equal(feats[name], x[tok])), f"block {blk} expert {e}: rows"
            counts.append(int(n))
            self.rec[f"block.{blk}.moe.expert.{e}.token_idx"] = tok.to(torch.int32).numpy()
        self.rec[f"block.{blk}.moe.selected_experts"] = sel.to(torch.int32).numpy()
        self.rec[f"block.{blk}.moe.tokens_per_expert"] = np.array(counts, dtype=np.int32)
        return feats


def check_forward(model_dir, ids, inputs):
    """Blocks 0 and 1 (before any MoE block) must be transformers' fp32 forward up to fp16 noise; block 2's input
    (after MoE block 1, where an fp16 near-tie can route a token otherwise) is reported, not asserted."""
    m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    with torch.no_grad():
        hs = m(torch.from_numpy(ids.astype(np.int64)), output_hidden_states=True).hidden_states
    errs = []
    for b in range(len(hs) - 1):
        ref = hs[b].numpy()
        err = float(np.abs(inputs[f"block.{b}.input"].astype(np.float32) - ref).max() / np.abs(ref).max())
        errs.append(err)
        if b < 2:
            assert err < 1e-2, f"block {b} input differs from transformers' forward: {err}"
    return errs


README = """# AutoAWQ 0.2.9 golden: DeepSeek-V3 (tests/golden/deepseek_v3)

Made by `tools/golden/gen_awq_golden_dsv3.py` (regenerate: `{regen}`; byte-identical reruns), which imports
`gen_awq_golden.py`: the same pins ({versions}), calibration ids (`../calib_ids.i32`, 8 x 64), settings (w4, zero
point, GEMM, n_grid 20, clip n_grid 20 / max_shrink 0.5 / n_sample_token 512, fp16 on the CPU, 1 thread, AVX2
kernels) and the same three interventions (README of tests/golden/awq, quirks 1-3), with group size {group}.
Tensor names and meanings as in that README; the differences are in the generator's docstring (routing records).

transformers 4.51.3 has DeepseekV3ForCausalLM natively: no trust_remote_code. `deepseek_v3_qproj` (q_lora_rank
null) has no golden: 4.51.3's DeepseekV3Attention always builds q_a_proj, which fails without q_lora_rank.

## Scale groups AutoAWQ formed (awq/models/deepseek_v3.py), per block

{groups}

Blocks 1 and 2 are MoE blocks: `post_attention_layernorm` scales the 8 experts' gate_proj/up_proj and then the
shared experts' (18 linears), inspecting the whole `mlp` (router, experts, shared experts). The latent norms'
groups have no module2inspect: AutoAWQ inspects the one linear. There is no v_proj -> o_proj group.
The router (`mlp.gate`, a DeepseekV3TopkRouter with its own weight, not an nn.Linear) is not hooked, not scaled,
not clipped and not quantized; quantization_config.modules_to_not_convert is {mtnc}. The saved router weight and
e_score_correction_bias are F16 (the model ran in fp16).

Clip search ran on: {clips} (q_a_proj and q_b_proj are skipped by AutoAWQ's "q_" rule).

## Routing and forward

Calibration tokens per expert (block: counts): {routing}. Relative max difference of AutoAWQ's fp16 block inputs
from transformers' fp32 forward: {errs} (blocks 0-1 asserted < 1e-2).

## What the runs picked

{picks}

## Files

| file | bytes | sha256 |
| --- | ---: | --- |
{files}
"""


def main():
    for pkg, want in G.PINNED.items():
        have = importlib.metadata.version(pkg)
        if have.split("+")[0] != want:
            sys.exit(f"gen_awq_golden_dsv3: {pkg} {have} installed, {want} pinned; install with: {G.INSTALL}")
    if torch.backends.cpu.get_cpu_capability() != "AVX2":
        sys.exit("gen_awq_golden_dsv3: torch must use its AVX2 CPU kernels (ATEN_CPU_CAPABILITY=avx2)")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    G.GROUP_SIZE[NAME] = GROUP
    G.Recorder = DsRecorder                 # run_mode passes quantizer_cls=Recorder
    out_dir = os.path.join(G.OUT_DIR, NAME)
    os.makedirs(out_dir, exist_ok=True)
    ids = G.calib_ids()
    with open(os.path.join(G.OUT_DIR, "calib_ids.i32"), "rb") as f:
        assert f.read() == ids.tobytes(), "tests/golden/awq/calib_ids.i32 is not gen_awq_golden.py's"
    report, inputs_seen, errs = {}, None, None
    with tempfile.TemporaryDirectory() as tmp:
        mdir = os.path.join(tmp, NAME)
        os.makedirs(mdir)
        with open(os.path.join("tests", "golden", NAME, "config.json"), encoding="utf-8") as f:
            cfg = G.legacy_config(json.load(f))
        with open(os.path.join(mdir, "config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2)
        shutil.copy(os.path.join("tests", "golden", NAME, "model.safetensors"), mdir)
        for mode, duo in G.MODES.items():
            print(f"== {NAME} {mode}", file=sys.stderr)
            rec, meta, stats = G.run_mode(NAME, mdir, ids, duo, G.settings_record(G.quant_config(NAME)), tmp)
            inputs = {k: rec.pop(k) for k in [k for k in rec if k.endswith(".input") or ".moe." in k]}
            if inputs_seen is None:
                inputs_seen = inputs
                errs = check_forward(mdir, ids, inputs)
            else:
                assert inputs.keys() == inputs_seen.keys()
                assert all(np.array_equal(inputs[k], inputs_seen[k]) for k in inputs)
            G.write_safetensors(os.path.join(out_dir, f"{mode}.safetensors"), rec, meta)
            report[mode] = (meta, stats)
    G.write_safetensors(os.path.join(out_dir, "inputs.safetensors"), inputs_seen,
                        {"model": NAME, "what": "block inputs AutoAWQ saw (fp16) [8, 64, 64]; per MoE block b: "
                         "block.b.moe.selected_experts [512, 3] I32 (DeepseekV3TopkRouter's topk_indices), "
                         "block.b.moe.tokens_per_expert [8] I32, block.b.moe.expert.e.token_idx [n_e] I32"})
    meta0 = report["duo_false"][0]
    groups = "\n".join(f"- block {g['block']}: `{g['prev_op']}` -> " +
                       (", ".join(f"`{n}`" for n in g["layers"]) if len(g["layers"]) <= 3 else
                        f"`{g['layers'][0]}`, ... `{g['layers'][-1]}` ({len(g['layers'])} linears)") +
                       f"; module2inspect `{g['module2inspect']}`" for g in meta0["groups"])
    clips = ", ".join(sorted({f"`{c['linear']}`" for c in meta0["clips"] if ".experts." not in c["linear"]})) + \
        ", every `mlp.experts.<e>.*` (on its own rows)"
    picks = "\n".join(f"- {mode}: " + ", ".join(f"{g['block']}.{g['prev_op']}={g['best_ratio_idx']}" for g in m["groups"])
                      for mode, (m, _) in report.items())
    routing = "; ".join(f"{k.split('.')[1]}: {' '.join(map(str, v.tolist()))}"
                        for k, v in sorted(inputs_seen.items()) if k.endswith(".tokens_per_expert"))
    files = []
    for fn in sorted(os.listdir(out_dir)):
        if fn.endswith(".safetensors"):
            p = os.path.join(out_dir, fn)
            files.append(f"| `{fn}` | {os.path.getsize(p)} | `{G.sha256(p)}` |")
    text = README.format(regen=REGEN, versions=", ".join(f"{k} {v}" for k, v in G.PINNED.items()), group=GROUP,
                         groups=groups, mtnc=json.dumps(meta0["quantization_config"].get("modules_to_not_convert")),
                         clips=clips, routing=routing, errs=", ".join(f"block {b} {e:.2e}" for b, e in enumerate(errs)),
                         picks=picks, files="\n".join(files))
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(f"python {platform.python_version()}: wrote {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
