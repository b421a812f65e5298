#!/usr/bin/env python3
"""gen_awq_golden.py - FIXTURE GENERATOR (Python, not part of the build): runs the reference AutoAWQ on the tiny
transformers-made models of tests/golden/<name>/ with fixed calibration token ids and records what the C stages
scale-search / apply-scale / clip-search / pack must reproduce (issue 4). Writes tests/golden/awq/.

Install (PyPI only; torch 2.6.0 from PyPI pulls CUDA wheels that are never used, about 5.8 GB in the venv, a few minutes):
    python3 -m venv /tmp/awqvenv
    /tmp/awqvenv/bin/pip install -r tools/golden/requirements-awq.txt
(the top-level pins are: autoawq==0.2.9 torch==2.6.0 transformers==4.51.3 safetensors==0.8.0 numpy==2.4.6;
requirements-awq.txt pins every package of the venv it was run in). autoawq 0.2.9 is the last PyPI release
(May 2025, the deprecation release); spec §2.12 describes casper-hansen/AutoAWQ 88e4c76. That the two are the same
code is not verified here, but every §2.12 point checked against the installed code agrees (see the README).
Run from the repository root (rewrites tests/golden/awq/; a rerun gives byte-identical files):
    /tmp/awqvenv/bin/python tools/golden/gen_awq_golden.py

How AutoAWQ is driven: AutoAWQForCausalLM.quantize(quantizer_cls=Recorder), where Recorder subclasses AutoAWQ's
own AwqQuantizer and only wraps its methods (each wrapper calls the original; no AutoAWQ code is copied):
  _get_input_feat      -> block input activations
  _search_best_scale   -> prev_op / layer names, module2inspect, the chosen scales
  _compute_best_scale  -> x_mean, w_mean (its arguments)
  _compute_loss        -> the loss of every grid point, in grid order
  _search_best_clip / _compute_best_clip / pseudo_quantize_tensor -> clip max values and the quantized candidates,
                          from which the fp16 loss table is recomputed and checked against AutoAWQ's picks
  _apply_quant         -> the scaled+clipped weight before quantization and the fake-quant weight after it
Three interventions, each explained in tests/golden/awq/README.md ("AutoAWQ quirks"):
  1. the scale search gets real copies of the weights it backs up (on the CPU AutoAWQ's backup aliases the live
     weights, which breaks duo_scaling=True; on CUDA it is a copy): _compute_best_scale wrapper;
  2. GEMM packing of a linear whose out_features is not a multiple of 32 (AutoAWQ sizes the packed buffer as
     out // 32 * 4 words): WQLinear_GEMM.from_linear is wrapped to pack a row-padded copy and keep out/8 words;
  3. AutoAWQ's clip search asserts out_features % 64 == 0 (output-channel batching, memory-only), which v_proj
     (16/32 rows), gate/up (96) and Qwen3-MoE's experts (48) and router (8) violate: the wrapper appends copies of
     the last row up to a multiple of 64 and drops their results. Every (row, group) is independent; the script checks that two paddings agree bitwise.

Models: the five dense fixtures, phi3_mha and gemma2_mha (made by gen_dense_golden.py; README sections "Phi-3" and
"Gemma 2" say why those shapes and settings) and the two mixture-of-experts fixtures mixtral_moe and qwen3_moe (group
size 16 for qwen3_moe, whose experts' down_proj has in_features 48). `--models NAME...` runs some; each model's
report.json keeps its picks, and the README is written from every model's. For a sparse block the Recorder also keeps the router
logits of the calibration forward, the experts each token went to and the tokens whose rows each expert received
(checked bitwise against the rows AutoAWQ's hooks captured), in inputs.safetensors; the clip files get per-linear
n_tokens. AutoAWQ's expert names are used unchanged (block_sparse_moe.experts.E.w1, mlp.experts.E.gate_proj, ...).
    /tmp/awqvenv/bin/python tools/golden/gen_awq_golden.py --demo-unrouted-expert
shows what AutoAWQ does with an expert that receives no calibration token (writes nothing). The script forces torch's
AVX2 CPU kernels (ATEN_CPU_CAPABILITY=avx2): the AVX-512 ones round some fp16 results differently.

Calibration: tests/golden/awq/calib_ids.i32 (written by this script from a fixed numpy generator) holds 8 x 64
int32 token ids. They are passed as calib_data = a list of 8 Python int lists with max_calib_samples=8 and
max_calib_seq_len=64: AutoAWQ's get_calib_dataset takes a list of int lists as already tokenized (no
tokenizer, no shuffle), keeps every sample of length <= 64, concatenates them and cuts 64-token blocks, so the
calibration batch is exactly the 8 rows of the file, in order.
"""

import argparse
import copy
import hashlib
import importlib.metadata
import inspect
import json
import os
import platform
import re
import shutil
import sys
import tempfile

# torch picks its CPU kernels by instruction set; AVX-512 kernels round some fp16 results differently (1 ulp in the
# attention output, seen on llama2_mha). The committed files were made with the AVX2 kernels: force them so a rerun
# on any AVX2 or AVX-512 x86_64 machine gives the same bytes (checked in main()).
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import numpy as np
import torch
import transformers
from safetensors import safe_open
from safetensors.numpy import save_file

from awq import AutoAWQForCausalLM
from awq.modules.linear import WQLinear_GEMM
from awq.quantize.quantizer import AwqQuantizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dequant_awq  # noqa: E402  (the independent dequantizer next to this script)

PINNED = {"autoawq": "0.2.9", "torch": "2.6.0", "transformers": "4.51.3", "safetensors": "0.8.0", "numpy": "2.4.6"}
INSTALL = ("python3 -m venv /tmp/awqvenv && /tmp/awqvenv/bin/pip install -r tools/golden/requirements-awq.txt")
REGEN_COMMAND = "/tmp/awqvenv/bin/python tools/golden/gen_awq_golden.py"
GENERATED_ON = "2026-11-24"  # kept constant so reruns are byte-identical

MODELS = ["llama_gqa_llama3rope_tied", "llama2_mha", "mistral", "qwen2_bias", "qwen3_qknorm", "phi3_mha", "gemma2_mha"]
# Fused checkpoints (Phi-3: self_attn.qkv_proj, mlp.gate_up_proj; README section "Phi-3").
FUSED_MODELS = ["phi3_mha"]
GEMMA_MODELS = ["gemma2_mha"]   # README section "Gemma 2"
# The mixture-of-experts fixtures (tests/golden/<name>/, made by gen_moe_golden.py): per MoE block the router, its
# expert list and how the experts' linears are named in the model (AutoAWQ's own names).
MOE = {"mixtral_moe": {"moe": "block_sparse_moe", "linears": ["w1", "w2", "w3"], "up": "w3"},
       "qwen3_moe": {"moe": "mlp", "linears": ["gate_proj", "up_proj", "down_proj"], "up": "up_proj"}}
MOE_MODELS = list(MOE)
# Group size per model: 32 for all but qwen3_moe, whose experts' down_proj has in_features = moe_intermediate_size
# = 48 (not a multiple of 32; AutoAWQ asserts in_features % group == 0). 16 divides 48, 64 and 96.
GROUP_SIZE = {"qwen3_moe": 16}
MODES = {"duo_false": False, "duo_true": True}   # file name -> duo_scaling
N_SEQ, SEQLEN, CALIB_SEED, VOCAB = 8, 64, 20261125, 256
QUANT_CONFIG = {"zero_point": True, "q_group_size": 32, "w_bit": 4, "version": "GEMM"}


def quant_config(model_name):
    return dict(QUANT_CONFIG, q_group_size=GROUP_SIZE.get(model_name, QUANT_CONFIG["q_group_size"]))
DTYPE = torch.float16  # what AutoAWQ loads and searches in; float16 works on the CPU with torch 2.6
CPU_ALIAS_FIX = os.environ.get("AWQ_GOLDEN_NO_ALIAS_FIX") is None  # only for demonstrating quirk 1
CLIP_BATCH = 64        # AutoAWQ's clip search needs out_features % 64 == 0 (or % 256)

OUT_DIR = os.path.join("tests", "golden", "awq")


def fp16_candidates(x_mean, w_mean, ratio, duo):
    """Spec §2.6 / §2.12 candidate scale for one grid ratio, written from the spec with torch fp16 ops."""
    if duo:
        s = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
    else:
        s = x_mean.pow(ratio).clamp(min=1e-4)
    s = s / (s.max() * s.min()).sqrt()
    s[torch.isinf(s) | torch.isnan(s)] = 1
    return s


def strict_first_min(values):
    """Index chosen by `if v < best: best = v` starting from +inf (NaN never wins; -1 if none wins)."""
    best, idx = float("inf"), -1
    for i, v in enumerate(values):
        if v < best:
            best, idx = v, i
    return idx


def moe_block(layer):
    """(attribute, module) of a decoder layer's sparse MoE block (router `gate` + `experts`), else (None, None)."""
    for attr in ("block_sparse_moe", "mlp"):
        m = getattr(layer, attr, None)
        if m is not None and hasattr(m, "experts") and hasattr(m, "gate"):
            return attr, m
    return None, None


class Recorder(AwqQuantizer):
    """AutoAWQ's quantizer with recording wrappers around its steps; the maths is AutoAWQ's own."""

    def __init__(self, *args, **kwargs):
        self.rec = {}          # tensor name -> numpy array (goes into <mode>.safetensors)
        self.groups = []       # scale-group descriptions (metadata)
        self.clips = []        # clip descriptions (metadata)
        self.fakequant = {}    # "<block>.<linear>" -> fp16 weight after AutoAWQ's pseudo-quantization
        self.scaled = {}       # "<block>.<linear>" -> fp16 weight before it (scaled and clipped)
        self._losses = None
        self._means = None
        self._clip_capture = None
        self._clip_linears = None
        self.moe_blocks = []   # per MoE block: routing summary (metadata) and the router input (checks)
        super().__init__(*args, **kwargs)
        # MoE-only extras (clip n_tokens) are kept out of the dense files, whose bytes must not change
        self.moe_model = self.awq_model.model_type in ("mixtral", "qwen3_moe")

    def _block_of(self, module):
        return next(i for i, m in enumerate(self.modules) if m is module)

    # ---- block inputs (and, for a mixture-of-experts block, the routing AutoAWQ's calibration forward took)
    def _get_input_feat(self, layer, named_linears):
        blk = self._block_of(layer)
        self.rec[f"block.{blk}.input"] = self.inps.detach().cpu().numpy().copy()
        attr, moe = moe_block(layer)
        if moe is None:
            return super()._get_input_feat(layer, named_linears)
        logits = []
        hook = moe.gate.register_forward_hook(lambda m, i, o: logits.append(o.detach().clone()))
        try:
            feats = super()._get_input_feat(layer, named_linears)
        finally:
            hook.remove()
        self._record_routing(blk, attr, moe, feats, logits)
        return feats

    def _record_routing(self, blk, attr, moe, feats, logits):
        """Per MoE block: the router logits of the original fp16 block, the experts each token was sent to, and
        for every expert the tokens whose rows its linears received (in the order of those rows). The routing is
        transformers' own (softmax in fp32, topk); it is checked against the rows AutoAWQ's hooks captured."""
        assert len(logits) == 1, "one calibration forward expected"
        lg = logits[0]
        x = feats[attr].reshape(-1, feats[attr].shape[-1])                     # the MoE block input, [T, C]
        probs = torch.nn.functional.softmax(lg, dim=1, dtype=torch.float)
        _, selected = torch.topk(probs, moe.top_k, dim=-1)
        mask = torch.nn.functional.one_hot(selected, num_classes=moe.num_experts).permute(2, 1, 0)
        key = f"block.{blk}.moe"
        counts = []
        for e in range(moe.num_experts):
            _, top_x = torch.where(mask[e])
            rows = {n: feats[n].shape[0] for n in feats if n.startswith(f"{attr}.experts.{e}.")}
            assert len(set(rows.values())) == 1 and len(rows) == 3, f"expert {e}: {rows}"
            first = next(n for n in feats if n.startswith(f"{attr}.experts.{e}."))
            got = feats[first]
            assert got.shape[0] == top_x.numel() and torch.equal(got, x[top_x]), \
                f"block {blk} expert {e}: the captured rows are not the routed tokens"
            counts.append(int(top_x.numel()))
            self.rec[f"{key}.expert.{e}.token_idx"] = top_x.to(torch.int32).numpy()
        self.rec[f"{key}.router_logits"] = lg.numpy().copy()
        self.rec[f"{key}.selected_experts"] = selected.to(torch.int32).numpy()
        self.rec[f"{key}.tokens_per_expert"] = np.array(counts, dtype=np.int32)
        self.moe_blocks.append({"block": blk, "moe": attr, "experts": moe.num_experts, "top_k": moe.top_k,
                                "tokens_per_expert": counts, "router_x": x.clone(),
                                "router_linear_hooked": f"{attr}.gate" in feats})

    # ---- scale search
    def _compute_loss(self, fp16_output, int_w_output, device):
        loss = super()._compute_loss(fp16_output, int_w_output, device)
        if self._losses is not None:
            self._losses.append(loss)
        return loss

    def _compute_best_scale(self, x, w_mean, x_mean, module2inspect, linears2scale, fp16_output, kwargs={}):
        self._means = (x_mean.detach().clone().view(-1), w_mean.detach().clone().view(-1))
        if not CPU_ALIAS_FIX:
            return super()._compute_best_scale(x, w_mean, x_mean, module2inspect, linears2scale, fp16_output,
                                               kwargs)
        # AutoAWQ backs up the weights as {k: v.cpu() for k, v in state_dict()}: a copy on CUDA, the SAME storage
        # on the CPU, where the in-place fc.weight.mul_(scales) of grid point 0 then also changes the "backup".
        # Give the search real copies, as on CUDA (see README, quirk 1).
        own = module2inspect.state_dict
        module2inspect.state_dict = lambda *a, **k: {n: t.clone() for n, t in own(*a, **k).items()}
        try:
            return super()._compute_best_scale(x, w_mean, x_mean, module2inspect, linears2scale, fp16_output,
                                               kwargs)
        finally:
            del module2inspect.state_dict

    def _search_best_scale(self, module, prev_op, layers, inp, module2inspect=None, kwargs={}):
        self._losses = []
        prev_name, layer_names, best = super()._search_best_scale(module, prev_op, layers, inp, module2inspect,
                                                                  kwargs)
        losses, self._losses = self._losses, None
        x_mean, w_mean = self._means
        n_grid = len(losses)
        idx = strict_first_min(losses)
        assert idx >= 0, "no finite loss"
        cand = fp16_candidates(x_mean, w_mean, idx / n_grid, self.duo_scaling)
        assert torch.equal(cand, best), f"{prev_name}: best scales are not the candidate of ratio index {idx}"
        blk = self._block_of(module)
        inspect_name = (layer_names[0] if module2inspect is None else
                        next(n for n, m in module.named_modules() if m is module2inspect))
        key = f"block.{blk}.scale.{prev_name}"
        self.rec[key + ".losses"] = np.array(losses, dtype=np.float64)
        self.rec[key + ".best_ratio_idx"] = np.array([idx], dtype=np.int32)
        self.rec[key + ".scales"] = best.float().numpy()
        self.rec[key + ".x_mean"] = x_mean.float().cpu().numpy()
        self.rec[key + ".w_mean"] = w_mean.float().cpu().numpy()
        finite = sorted(v for v in losses if v == v)
        gap = (finite[1] - finite[0]) / finite[0] if len(finite) > 1 and finite[0] > 0 else float("inf")
        self.groups.append({"block": blk, "prev_op": prev_name, "layers": list(layer_names),
                            "module2inspect": inspect_name, "input": f"feats[{layer_names[0]}]",
                            "best_ratio_idx": idx, "n_grid": n_grid, "runner_up_rel_gap": gap})
        return prev_name, layer_names, best

    # ---- clip search
    def pseudo_quantize_tensor(self, w):
        out = super().pseudo_quantize_tensor(w)
        if self._clip_capture is not None:
            self._clip_capture.append(out[0].detach().clone())
        return out

    def _search_best_clip(self, layer, named_linears, input_feat):
        self._clip_linears = named_linears
        self._clip_block = self._block_of(layer)
        clip_list = super()._search_best_clip(layer, named_linears, input_feat)
        self._clip_linears = None
        return clip_list

    def _padded_clip(self, w, input_feat, pad_to, **kw):
        """AutoAWQ's clip search on w with copies of its last row appended up to a multiple of pad_to."""
        rows = w.shape[0]
        pad = (-rows) % pad_to
        wp = torch.cat([w, w[-1:].expand(pad, -1)], 0) if pad else w
        self._clip_capture = []
        max_val = super()._compute_best_clip(wp, input_feat, **kw)
        captured, self._clip_capture = self._clip_capture, None
        return max_val[:rows], captured, wp

    def _compute_best_clip(self, w, input_feat, n_grid=20, max_shrink=0.5, n_sample_token=512):
        name = next(n for n, m in self._clip_linears.items() if m.weight is w)
        kw = dict(n_grid=n_grid, max_shrink=max_shrink, n_sample_token=n_sample_token)
        max_val, captured, wp = self._padded_clip(w, input_feat, CLIP_BATCH, **kw)
        other, _, _ = self._padded_clip(w, input_feat, 2 * CLIP_BATCH, **kw)
        assert torch.equal(max_val, other), f"{name}: clip result depends on the padding"

        # fp16 loss table from AutoAWQ's own quantized candidates (captured in call order: batch, then shrink)
        rows, cols = w.shape
        g = self.group_size if self.group_size > 0 else cols
        n_shrink = int(max_shrink * n_grid)
        x = input_feat.view(-1, cols).reshape(1, -1, cols // g, g)
        x = x[:, ::max(1, x.shape[1] // n_sample_token)]
        ob = 256 if wp.shape[0] % 256 == 0 else 64
        assert len(captured) == (wp.shape[0] // ob) * n_shrink
        w4 = wp.reshape(wp.shape[0], 1, -1, g)
        table = torch.empty(n_shrink, wp.shape[0], cols // g, dtype=w.dtype)
        for b in range(wp.shape[0] // ob):
            wb = w4[b * ob:(b + 1) * ob]
            ref = (x * wb).sum(dim=-1)
            for i in range(n_shrink):
                qw = captured[b * n_shrink + i]
                table[i, b * ob:(b + 1) * ob] = ((x * qw).sum(dim=-1) - ref).pow(2).mean(dim=1)
        table = table[:, :rows]
        org = w.reshape(rows, -1, g).abs().amax(dim=-1)                       # [O, G] fp16
        picks = torch.full(org.shape, -1, dtype=torch.int32)
        best = torch.full(org.shape, float("inf"), dtype=w.dtype)            # AutoAWQ's 1e9 is inf in fp16
        for i in range(n_shrink):
            better = table[i] < best
            best[better] = table[i][better]
            picks[better] = i
        picks[picks < 0] = 0                                                  # no finite error: max_val stays m0
        got = max_val.reshape(rows, -1)
        for i in range(n_shrink):
            cand = org * (1 - i / n_grid)
            sel = picks == i
            assert torch.equal(got[sel], cand[sel]), f"{name}: loss table does not reproduce AutoAWQ's picks"

        key = f"block.{self._clip_block}.clip.{name}"
        if self.moe_model:   # rows of the clip input after AutoAWQ's n_sample_token subsampling
            self.rec[key + ".n_tokens"] = np.array([x.shape[1]], dtype=np.int32)
        self.rec[key + ".max_val"] = got.float().numpy()
        self.rec[key + ".best_shrink_idx"] = picks.numpy()
        self.rec[key + ".losses"] = table.numpy()                             # F16, AutoAWQ's fp16 err
        tmin = torch.where(torch.isfinite(table), table, torch.full_like(table, float("inf"))).amin(0)
        n_min = ((table == tmin) & torch.isfinite(tmin)).sum(0)
        self.clips.append({"block": self._clip_block, "linear": name, "out": rows, "groups": cols // g,
                           "n_tokens": int(x.shape[1]), "tied_picks": int((n_min > 1).sum()),
                           "zero_loss_picks": int((tmin == 0).sum())})
        if self.moe_model:
            self.clips[-1]["n_rows_in"] = int(input_feat.numel() // cols)
        return max_val

    # ---- final quantization
    def _apply_quant(self, module, named_linears):
        blk = self._block_of(module)
        for name, lin in named_linears.items():
            self.scaled[f"{blk}.{name}"] = lin.weight.detach().clone()
        super()._apply_quant(module, named_linears)
        for name, lin in named_linears.items():   # AutoAWQ leaves the fake-quant weight in the old nn.Linear
            self.fakequant[f"{blk}.{name}"] = lin.weight.detach().clone()


_gemm_from_linear = WQLinear_GEMM.from_linear.__func__
PACK_PADDED = []   # out_features of the linears of the current run packed through the wrapper below


def _gemm_from_linear_any_out(cls, linear, w_bit, group_size, init_only=False, scales=None, zeros=None):
    """AutoAWQ's WQLinear_GEMM.from_linear sizes its packed buffers as out // 32 * 4 words, so it needs
    out_features % 32 == 0 (IndexError for Mistral's 16-row k/v here), although the format only needs % 8.
    Pack a copy with the last row repeated up to a multiple of 32 and keep the first out/8 words: every word holds
    8 whole output channels and each row is quantized on its own, so the kept words are exactly the packing of the
    real rows (README, quirk 2)."""
    out = linear.out_features
    pad = (-out) % 32
    if init_only or pad == 0:
        return _gemm_from_linear(cls, linear, w_bit, group_size, init_only, scales, zeros)
    PACK_PADDED.append(out)
    w = linear.weight.data
    big = torch.nn.Linear(linear.in_features, out + pad, bias=linear.bias is not None, dtype=w.dtype,
                          device=w.device)
    big.weight.data = torch.cat([w, w[-1:].expand(pad, -1)])
    if linear.bias is not None:
        big.bias.data = torch.cat([linear.bias.data, linear.bias.data[-1:].expand(pad)])
    packed = _gemm_from_linear(cls, big, w_bit, group_size, False,
                               torch.cat([scales, scales[:, -1:].expand(-1, pad)], 1),
                               torch.cat([zeros, zeros[:, -1:].expand(-1, pad)], 1))
    small = cls(w_bit, group_size, linear.in_features, out, linear.bias is not None, w.device)
    small.qweight = packed.qweight[:, : out // 8].contiguous()
    small.qzeros = packed.qzeros[:, : out // 8].contiguous()
    small.scales = packed.scales[:, :out].contiguous()
    if linear.bias is not None:
        small.bias = packed.bias[:out].contiguous()
    return small


WQLinear_GEMM.from_linear = classmethod(_gemm_from_linear_any_out)


def settings_record(qc=QUANT_CONFIG, modules_to_not_convert=None):
    """The AutoAWQ settings actually in force, read from the installed code (not assumed)."""
    sig = inspect.signature(AwqQuantizer._compute_best_clip).parameters
    src = inspect.getsource(AwqQuantizer._compute_best_scale)
    n_grid = int(re.search(r"n_grid\s*=\s*(\d+)", src).group(1))
    qsig = inspect.signature(AwqQuantizer.__init__).parameters
    return {"w_bit": qc["w_bit"], "q_group_size": qc["q_group_size"],
            "zero_point": qc["zero_point"], "version": qc["version"],
            "scale_n_grid": n_grid, "clip_n_grid": sig["n_grid"].default,
            "clip_max_shrink": sig["max_shrink"].default, "clip_n_sample_token": sig["n_sample_token"].default,
            "max_chunk_memory": qsig["max_chunk_memory"].default, "n_parallel_calib_samples": None,
            "apply_clip": True, "export_compatible": False, "modules_to_not_convert": modules_to_not_convert,
            "max_calib_samples": N_SEQ, "max_calib_seq_len": SEQLEN, "dtype": str(DTYPE).replace("torch.", ""),
            "device": "cpu", "torch_threads": 1}


def legacy_config(cfg):
    """transformers-5 config.json -> the form transformers 4.51 reads (rope_parameters, dtype)."""
    cfg = copy.deepcopy(cfg)
    if "rope_parameters" in cfg:
        rp = dict(cfg.pop("rope_parameters"))
        cfg["rope_theta"] = rp.pop("rope_theta")
        cfg["rope_scaling"] = None if rp.get("rope_type", "default") == "default" else rp
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    if cfg.get("model_type") == "qwen3_moe" and "num_local_experts" in cfg:   # 4.51 reads num_experts (default 128)
        cfg["num_experts"] = cfg.pop("num_local_experts")
    return cfg


def calib_ids():
    rng = np.random.default_rng(CALIB_SEED)
    return rng.integers(0, VOCAB, size=(N_SEQ, SEQLEN), dtype=np.int64).astype("<i4")


def check_forward(model_dir, ids, inputs):
    """AutoAWQ's block inputs must be transformers' own fp32 forward up to fp16 noise (mask/RoPE sanity).
    For a MoE model, a token that the fp32 router sends to other experts than AutoAWQ's fp16 routing did (a near
    tie) is listed and returned, and from the next block on its sequence's positions from there are not compared
    (attention carries the difference along the sequence). Returns those routing differences."""
    m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    sel32, hooks = {}, []
    for b, layer in enumerate(m.model.layers):
        _, moe = moe_block(layer)
        if moe is not None:
            hooks.append(moe.gate.register_forward_hook(
                lambda mod, i, o, b=b, k=moe.top_k: sel32.__setitem__(b, torch.topk(o.softmax(-1), k, -1)[1])))
    with torch.no_grad():
        hs = m(torch.from_numpy(ids.astype(np.int64)), output_hidden_states=True).hidden_states
    for h in hooks:
        h.remove()
    flips, skip = [], np.zeros(ids.shape, dtype=bool)
    for b in range(len(hs) - 1):
        ref = hs[b].numpy()
        got = inputs[f"block.{b}.input"].astype(np.float32)
        err = np.abs(got - ref)[~skip].max() / np.abs(ref).max()
        assert err < 1e-2, f"block {b} input differs from transformers' forward: {err}"
        if b in sel32:
            logits = torch.from_numpy(inputs[f"block.{b}.moe.router_logits"])
            sel16 = torch.from_numpy(inputs[f"block.{b}.moe.selected_experts"]).long()
            p16 = logits.float().softmax(-1)
            for t in (sel32[b].sort(-1)[0] != sel16.sort(-1)[0]).any(-1).nonzero().flatten().tolist():
                seq, pos = divmod(t, ids.shape[1])
                if skip[seq, pos]:
                    continue
                only32 = sorted(set(sel32[b][t].tolist()) - set(sel16[t].tolist()))
                only16 = sorted(set(sel16[t].tolist()) - set(sel32[b][t].tolist()))
                flips.append({"block": b, "token": t, "sequence": seq, "position": pos,
                              "fp16_experts": sel16[t].tolist(), "fp32_experts": sel32[b][t].tolist(),
                              "fp16_probs": {e: float(p16[t, e]) for e in only16 + only32}})
                skip[seq, pos:] = True
    return flips


def run_mode(model_name, model_dir, ids, duo, settings, tmp):
    PACK_PADDED.clear()
    model = AutoAWQForCausalLM.from_pretrained(model_dir, torch_dtype=DTYPE, device_map="cpu")
    calib = [row.tolist() for row in ids.astype(np.int64)]   # Python ints: AutoAWQ tests isinstance(.., int)
    model.quantize(None, quant_config=quant_config(model_name), calib_data=calib, duo_scaling=duo,
                   max_calib_samples=N_SEQ, max_calib_seq_len=SEQLEN, quantizer_cls=Recorder)
    q = model.quantizer
    settings = dict(settings, q_group_size=q.group_size, modules_to_not_convert=model.quant_config.modules_to_not_convert)
    out = os.path.join(tmp, f"{model_name}-{int(duo)}")
    model.save_quantized(out)
    ckpt = dequant_awq.load_tensors(out)
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        qconf = json.load(f)["quantization_config"]

    # The independent dequantizer (CLI path) must give AutoAWQ's fake-quant weights bit for bit.
    deq_file = os.path.join(tmp, f"{model_name}-{int(duo)}-deq.safetensors")
    assert dequant_awq.main([out, deq_file, "--linears-only"]) == 0
    with safe_open(deq_file, framework="numpy") as f:
        deq = {k: f.get_tensor(k) for k in f.keys()}
    n_checked = 0
    for key, fq in q.fakequant.items():
        blk, name = key.split(".", 1)
        got = deq[f"model.layers.{blk}.{name}.weight"]
        want = fq.numpy()
        assert got.dtype == want.dtype and np.array_equal(got.view(np.uint16), want.view(np.uint16)), key
        n_checked += got.size
    assert len(deq) == len(q.fakequant)

    rec = dict(q.rec)
    for k, v in ckpt.items():   # the packed checkpoint's block tensors under their own names
        if k.startswith("model.layers."):
            rec["ckpt." + k] = v
    meta = {"model": model_name, "duo_scaling": duo, "settings": settings, "quantization_config": qconf,
            "groups": q.groups, "clips": q.clips, "versions": PINNED,
            "packed_with_row_padding": len(PACK_PADDED)}
    stats = {"dequant_weights_checked": n_checked, "groups": q.groups, "clips": q.clips,
             "spec_q": spec_quantizer_agreement(q), "padded": len(PACK_PADDED)}
    if q.moe_blocks:
        meta["moe"] = stats["moe"] = moe_facts(model_dir, q, ckpt)
        meta["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return rec, meta, stats


def moe_facts(model_dir, q, ckpt):
    """Per MoE block: tokens per expert, and what AutoAWQ did to the router (README quirks 6-7)."""
    with safe_open(os.path.join(model_dir, "model.safetensors"), framework="pt") as f:
        orig = {k: f.get_tensor(k).to(DTYPE) for k in f.keys()}   # BF16 -> FP16 is exact here
    facts = []
    for mb in q.moe_blocks:
        b, attr = mb["block"], mb["moe"]
        gate = f"model.layers.{b}.{attr}.gate"
        w0 = orig[gate + ".weight"]
        scale_key = f"block.{b}.scale.post_attention_layernorm.scales"
        s = torch.from_numpy(q.rec[scale_key]).to(DTYPE)
        group = next(g for g in q.groups if g["block"] == b and g["prev_op"] == "post_attention_layernorm")
        if gate + ".weight" in ckpt:
            saved = torch.from_numpy(ckpt[gate + ".weight"])
            kind = "weight F16 (not quantized)"
        else:
            assert gate + ".qweight" in ckpt
            saved = q.fakequant[f"{b}.{attr}.gate"]
            kind = "qweight/qzeros/scales (quantized, GEMM)"
        # the saved model feeds the router the scaled norm's output, x / s (AutoAWQ scales only the experts)
        x = mb["router_x"]
        sel0 = torch.topk(torch.nn.functional.linear(x, w0).float().softmax(-1), mb["top_k"], -1)[1]
        moved = []
        for w in (w0, saved):   # the original router on x/s (the scaling alone), then the saved router on x/s
            sel1 = torch.topk(torch.nn.functional.linear(x / s, w).float().softmax(-1), mb["top_k"], -1)[1]
            moved.append(int((sel0.sort(-1)[0] != sel1.sort(-1)[0]).any(-1).sum()))
        facts.append({"block": b, "moe": attr, "experts": mb["experts"], "top_k": mb["top_k"],
                      "tokens_per_expert": mb["tokens_per_expert"],
                      "router_hooked_as_linear": mb["router_linear_hooked"],
                      "router_in_scale_group": any(n.endswith(".gate") for n in group["layers"]),
                      "router_clip_searched": any(c["block"] == b and c["linear"] == f"{attr}.gate" for c in q.clips),
                      "router_saved_as": kind,
                      "router_saved_equals_original": bool(torch.equal(saved.view(torch.int16), w0.view(torch.int16))),
                      "tokens_routed_differently_on_x_over_s": moved[0],
                      "tokens_routed_differently_saved_router_on_x_over_s": moved[1]})
    return facts


def demo_unrouted_expert():
    """README quirk 8: what AutoAWQ does when an expert receives no calibration token. A one-token calibration set
    (token id 7) guarantees it: top-2 of 4 (Mixtral) and top-3 of 8 (Qwen3-MoE) experts leave 2 and 5 experts
    without rows. transformers 4.51.3 still calls every expert (with a [0, C] tensor); AutoAWQ's hooks record the
    empty inputs and its cat_and_assert stops the run. Prints what happened; writes nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in MOE_MODELS:
            mdir = os.path.join(tmp, name)
            os.makedirs(mdir)
            with open(os.path.join("tests", "golden", name, "config.json"), encoding="utf-8") as f:
                cfg = legacy_config(json.load(f))
            with open(os.path.join(mdir, "config.json"), "w", encoding="utf-8") as f:
                json.dump(cfg, f, indent=2)
            shutil.copy(os.path.join("tests", "golden", name, "model.safetensors"), mdir)
            model = AutoAWQForCausalLM.from_pretrained(mdir, torch_dtype=DTYPE, device_map="cpu")
            attr, moe = moe_block(model.model.model.layers[0])
            calls = []
            for e, expert in enumerate(moe.experts):
                expert.register_forward_pre_hook(lambda m, a, e=e: calls.append((e, tuple(a[0].shape))))
            try:
                model.quantize(None, quant_config=quant_config(name), calib_data=[[7]], duo_scaling=False,
                               max_calib_samples=1, max_calib_seq_len=1, quantizer_cls=Recorder)
                print(f"{name}: no error", file=sys.stderr)
            except Exception as ex:   # noqa: BLE001  (reporting whatever AutoAWQ raises)
                print(f"{name}: block 0 expert calls (expert, input shape): {calls[:moe.num_experts]}", file=sys.stderr)
                print(f"{name}: {type(ex).__name__}: {ex}", file=sys.stderr)


def spec_quantizer_agreement(q):
    """Spec §2.10 Q written in numpy (fp16 = fp32 op then RNE cast), run on the scaled+clipped weights:
    how many fake-quant weights equal AutoAWQ's bit for bit (reported, not asserted)."""
    h = np.float16
    same = total = 0
    g = q.group_size
    for key, w in q.scaled.items():
        w16 = w.numpy().reshape(-1, g)
        mx = w16.max(1, keepdims=True).astype(np.float32)
        mn = w16.min(1, keepdims=True).astype(np.float32)
        rng = np.maximum(h(mx - mn).astype(np.float32), np.float32(h(1e-5)))
        scale = h(h(rng).astype(np.float32) / 15).astype(np.float32)
        zero = np.clip(-np.rint(h(mn / scale).astype(np.float32)), 0, 15)
        code = np.clip(np.rint(h(w16.astype(np.float32) / scale).astype(np.float32)) + zero, 0, 15)
        deq = h((code - zero) * scale).reshape(w.shape)
        ref = q.fakequant[key].numpy()
        same += int((deq.view(np.uint16) == ref.view(np.uint16)).sum())
        total += ref.size
    return [same, total]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_safetensors(path, tensors, meta):
    """One metadata key: safetensors keeps __metadata__ in a hash map, so several keys come out in random order."""
    tmp = path + ".tmp"
    save_file({k: np.ascontiguousarray(v) for k, v in sorted(tensors.items())}, tmp,
              metadata={"awq_golden": json.dumps(meta, sort_keys=True)})
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=OUT_DIR, help="output directory (default tests/golden/awq)")
    ap.add_argument("--models", nargs="*", default=MODELS + MOE_MODELS)
    ap.add_argument("--demo-unrouted-expert", action="store_true",
                    help="only show what AutoAWQ does when an expert gets no calibration token (README quirk 8); "
                         "writes nothing")
    args = ap.parse_args()
    for pkg, want in PINNED.items():
        have = importlib.metadata.version(pkg)
        if have.split("+")[0] != want:
            sys.exit(f"gen_awq_golden: {pkg} {have} installed, {want} pinned; install with: {INSTALL}")
    if torch.backends.cpu.get_cpu_capability() != "AVX2":
        sys.exit(f"gen_awq_golden: torch uses its {torch.backends.cpu.get_cpu_capability()} CPU kernels; the "
                 "committed files were made with ATEN_CPU_CAPABILITY=avx2 (an x86_64 CPU with AVX2 is needed)")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    if args.demo_unrouted_expert:
        demo_unrouted_expert()
        return
    settings = settings_record()
    os.makedirs(args.out, exist_ok=True)
    ids = calib_ids()
    ids_path = os.path.join(args.out, "calib_ids.i32")
    with open(ids_path + ".tmp", "wb") as f:
        f.write(ids.tobytes())
    os.replace(ids_path + ".tmp", ids_path)

    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            src = os.path.join("tests", "golden", name)
            mdir = os.path.join(tmp, name)   # a temp copy with a config.json transformers 4.51 reads
            os.makedirs(mdir)
            with open(os.path.join(src, "config.json"), encoding="utf-8") as f:
                cfg = legacy_config(json.load(f))
            with open(os.path.join(mdir, "config.json"), "w", encoding="utf-8") as f:
                json.dump(cfg, f, indent=2)
            shutil.copy(os.path.join(src, "model.safetensors"), mdir)
            os.makedirs(os.path.join(args.out, name), exist_ok=True)
            inputs_seen = None
            for mode, duo in MODES.items():
                print(f"== {name} {mode}", file=sys.stderr)
                rec, meta, stats = run_mode(name, mdir, ids, duo, settings, tmp)
                # block inputs and the routing of the original blocks do not depend on the mode: inputs.safetensors
                inputs = {k: rec.pop(k) for k in [k for k in rec if k.endswith(".input") or ".moe." in k]}
                if inputs_seen is None:
                    inputs_seen = inputs
                    flips = check_forward(mdir, ids, inputs)
                else:   # the next block's input comes from the original block: the mode cannot change it
                    assert inputs.keys() == inputs_seen.keys()
                    assert all(np.array_equal(inputs[k], inputs_seen[k]) for k in inputs)
                write_safetensors(os.path.join(args.out, name, f"{mode}.safetensors"), rec, meta)
                if name in MOE:
                    stats["routing_fp16_vs_fp32"] = flips
                report[f"{name}/{mode}"] = stats
            # this model's picks and checks, kept beside its files: the README lists every model run so far
            write_text(os.path.join(args.out, name, "report.json"),
                       json.dumps({k: v for k, v in report.items() if k.startswith(name + "/")}, indent=1,
                                  sort_keys=True) + "\n")
            what = "block inputs AutoAWQ saw (fp16), batch [8, 64, C]"
            if name in MOE:
                what += ("; per MoE block b: block.b.moe.router_logits [T, E] F16, block.b.moe.selected_experts "
                         "[T, k] I32, block.b.moe.tokens_per_expert [E] I32, block.b.moe.expert.e.token_idx [n_e] I32 "
                         "(T = 512 calibration tokens, index = sequence * 64 + position)")
            write_safetensors(os.path.join(args.out, name, "inputs.safetensors"), inputs_seen,
                              {"model": name, "what": what})
    write_readme(args.out, settings, stored_reports(args.out))
    for k, v in report.items():
        s = v["spec_q"]
        picks = " ".join(f"{g['block']}:{g['prev_op']}={g['best_ratio_idx']}" for g in v["groups"])
        print(f"{k}: dequant ok ({v['dequant_weights_checked']} weights), spec-Q agreement {s[0]}/{s[1]}, "
              f"ratio picks {picks}", file=sys.stderr)


README_HEAD = """# AWQ golden fixtures (made by AutoAWQ)

FIXTURES, generated by `tools/golden/gen_awq_golden.py` (Python, not part of the build). Do not edit by hand; regenerate.
They are AutoAWQ's own results on the tiny dense models of `tests/golden/<name>/` (see ../README.md: Llama, Mistral,
Qwen2, Qwen3 and, sections "Phi-3" and "Gemma 2" below, `phi3_mha` and `gemma2_mha`), for checking awqmake's scale-search, apply-scale,
clip-search and pack stages (issue 4) and its packed output, and on the two tiny mixture-of-experts models
`mixtral_moe` and `qwen3_moe` (section "Mixture of experts" below).

## Regenerate

```
{install}
{regen}   # from the repository root; rewrites tests/golden/awq/ (all {n_models} models, ~3 min)
```

`--models NAME...` runs only some models; each model's picks and checks are kept in its `report.json`, and the
README is written from every model's report.json, so the other models' entries stay as they were.
`{regen} --demo-unrouted-expert` shows MoE quirk 8 (writes nothing).

`requirements-awq.txt` pins every package of the venv (top level: autoawq {autoawq}, torch {torch},
transformers {transformers}, safetensors {safetensors}, numpy {numpy}; torch from PyPI also pulls CUDA wheels,
never used). autoawq 0.2.9 is the last PyPI release (the May 2025 deprecation release); spec §2.12 describes
casper-hansen/AutoAWQ 88e4c76. Their identity is not verified, but every §2.12 point read or checked in the installed
code agrees. Generated on {date} with Python {python} ({machine}).
A rerun gives byte-identical files (sha256 below; checked by running it twice). torch picks its CPU kernels by
instruction set, and its AVX-512 kernels round some fp16 results differently (on an AVX-512 machine the default
dispatch changed 39 fp16 values of llama2_mha's block-1 input by 1 ulp, and with them every loss table): the script
sets `ATEN_CPU_CAPABILITY=avx2` before importing torch (the committed files were made with the AVX2 kernels; it
refuses to run if torch does not report AVX2).

## What was run

`AutoAWQForCausalLM.from_pretrained(<temp copy>, torch_dtype=float16, device_map="cpu")`, then
`model.quantize(None, quant_config={quant_config}, calib_data=<calib_ids as 8 Python int lists>,
duo_scaling=False|True, max_calib_samples=8, max_calib_seq_len=64, quantizer_cls=Recorder)` and
`save_quantized`. Everything runs on the CPU in **float16** (torch CPU fp16 ops compute in fp32 and round to fp16
after each op, the spec's `h()`); one torch thread.

- **Config**: transformers 4.51 cannot read the transformers-5 `config.json` form (`rope_parameters`, `dtype`), so the
  script runs on a temporary copy whose config has `rope_theta`/`rope_scaling`/`torch_dtype` instead. The committed
  fixtures are not touched. BF16 weights are loaded as FP16 (exact, see ../README.md).
- **Calibration** (`calib_ids.i32`): 8 x 64 little-endian int32 token ids, `numpy.random.default_rng({seed})
  .integers(0, 256, (8, 64))`. AutoAWQ's `get_calib_dataset` treats a list of int lists as pre-tokenized: no
  tokenizer, no shuffle; samples longer than `max_calib_seq_len` are skipped, the rest concatenated and cut into
  64-token blocks. With 8 samples of exactly 64 tokens the calibration batch is the file's 8 rows in order, each an
  independent causal sequence with positions 0..63 (AutoAWQ passes attention_mask=None to the sdpa attention,
  which is then causal; position_embeddings are computed once from the fp16 block-0 input, so cos/sin are fp16). n_tok = 512, so the clip search
  uses every token (step = max(1, 512 // 512) = 1).
- **Settings in force** (read from the installed code): `{settings}`.
  Group size 32 because F = 96 is not divisible by 64; 96 % 8 == 0 so the GEMM packing fits (qwen3_moe: 16, see
  below; its settings and `quantization_config` metadata say so). Per-channel
  (`q_group_size=-1`) is **not** recorded: AutoAWQ's scale search crashes on it (`weight.view(-1, -1)` for w_mean,
  computed even without duo scaling).
- **Recording**: `Recorder` subclasses AutoAWQ's `AwqQuantizer` and wraps its methods (each wrapper calls the
  original). The clip search needs `out_features % 64 == 0` in AutoAWQ (memory batching); the wrapper pads the rows with
  copies of the last row up to a multiple of 64 and drops their results (checked: padding to 64 and to 128 gives
  bitwise the same max values). With quirks 1 and 2 below, these are the only three interventions.

## AutoAWQ quirks found (where it differs from the spec or needs help here)

1. **CPU aliasing breaks `duo_scaling=True` on the CPU** (fixed in the generator; CUDA is not affected).
   `_compute_best_scale` backs up module2inspect as `{{k: v.cpu() for k, v in state_dict().items()}}`. On CUDA that is
   a copy; on the CPU `.cpu()` returns the same tensor, so the in-place `fc.weight.mul_(scales)` of grid point 0 also
   scales the "backup". Every later grid point (k >= 1) is then evaluated on weights already multiplied by the k = 0
   scales, and after the search `load_state_dict` leaves the scaled layers at `W * s0`, which `apply_scale` multiplies by
   the chosen s while the prev op is only divided by s: the scaled model is no longer equivalent to the original.
   With `duo_scaling=False`, s0 is exactly 1, so nothing changes. With `duo_scaling=True`, s0 = normalised
   `1/(w_mean + 1e-4)` is not 1: on llama2_mha every duo pick becomes 0 and the scaled `q_proj` equals `(W*s0)*s`
   (checked). The generator gives the search real copies (it wraps module2inspect's `state_dict` to clone), as on CUDA.
   `AWQ_GOLDEN_NO_ALIAS_FIX=1` reproduces the CPU behaviour for demonstration; the committed files use the fix.
2. **GEMM packing needs out_features % 32 == 0**, not % 8. `WQLinear_GEMM.from_linear` allocates
   `qweight`/`qzeros` as `out // 32 * 4` words per row (equal to out/8 only when 32 divides out). So Mistral's 16-row
   k_proj/v_proj crash with IndexError (out = 40 or 48 would crash too). The format itself, transformers and vLLM only
   need out % 8. The generator packs such a linear through a wrapper that repeats the last row up to a multiple of 32
   and keeps the first out/8 words (each word holds 8 whole rows, and rows are quantized independently). This applies
   to mistral's k_proj/v_proj (metadata `packed_with_row_padding`).
3. **Clip search needs out_features % 64 == 0** (`oc_batch_size` is 256 or 64, then an assert), as spec §2.8 says for
   llm-awq. It is memory batching only. The generator pads (see Recording). The C stage must not require it.
4. **`q_group_size = -1` crashes** the scale search (`weight.view(-1, -1)` for w_mean, computed also without duo), as
   spec §2.12 says. There is no per-channel golden.
5. As the spec says: scale losses are AutoAWQ's fp32 sum of squared fp16 differences divided by numel in Python double
   (one chunk here); the clip errors are fp16 (coarse: the "tied" column below counts (row, group) pairs whose
   minimum is reached by more than one candidate; the strict `<` keeps the first). In duo mode, ratio 0 is not the
   identity. Everything else checked here matches the spec exactly: the numpy §2.10 quantizer reproduces AutoAWQ's
   fake-quant weights bit for bit (column below), §3.1 unpacking reproduces them from the saved checkpoint, and the
   §2.6/§2.12 candidate formula reproduces the chosen scales.

{moe_quirks}
## Checks the generator makes before writing

- For each scale group, the returned best scales equal (bitwise) the spec §2.6/§2.12 candidate of the recorded
  `best_ratio_idx` recomputed from `x_mean`/`w_mean`, and that index is the first strict minimum of the recorded losses.
- For each clipped linear, the recorded fp16 loss table (recomputed from AutoAWQ's own quantized candidates)
  reproduces AutoAWQ's max values exactly through the strict-< rule.
- `tools/golden/dequant_awq.py` (independent: numpy + safetensors + spec §3.1) run on AutoAWQ's saved checkpoint
  gives AutoAWQ's fake-quant weights bit for bit, for every linear of every run.
- Block inputs are identical in both modes (next-block input comes from the original block) and every block input
  matches transformers' own fp32 forward to < 1e-2 relative (so the mask and RoPE were right; MoE: see quirk 11).
- MoE: the rows each expert's linears received are bitwise the MoE input rows of the tokens transformers' routing
  (fp32 softmax of the recorded fp16 router logits, topk) sends to it, in that order; the routing is the same in
  both modes.

## Files

Per model `<name>`: `inputs.safetensors` and one file per mode, `duo_false.safetensors` (`duo_scaling=False`,
llm-awq semantics) and `duo_true.safetensors` (`duo_scaling=True`, AutoAWQ's default). Blocks `b` = 0, 1 (qwen3_moe:
0, 1, 2). The dense models' layout follows; the MoE additions are in "Mixture of experts".
Scale groups are named by their prev_op, relative to the block: `input_layernorm` (q,k,v; module2inspect self_attn),
`self_attn.v_proj` (o_proj; only llama2_mha, the MHA model), `post_attention_layernorm` (gate,up; mlp),
`mlp.up_proj` (down_proj). Clip search covers `self_attn.v_proj`, `self_attn.o_proj`, `mlp.gate_proj`, `mlp.up_proj`,
`mlp.down_proj`.

| tensor | dtype | shape | meaning |
| --- | --- | --- | --- |
| `block.<b>.input` (inputs.safetensors) | F16 | [8, 64, C] | the input AutoAWQ fed to block b (block 0: embedding lookup; block 1: original fp16 block 0's output) |
| `block.<b>.scale.<prev_op>.losses` | F64 | [20] | loss of grid point k (ratio k/20), AutoAWQ's Python double |
| `block.<b>.scale.<prev_op>.best_ratio_idx` | I32 | [1] | chosen k |
| `block.<b>.scale.<prev_op>.scales` | F32 | [in] | the chosen scales (fp16 values, exact in F32) |
| `block.<b>.scale.<prev_op>.x_mean` | F32 | [in] | mean of abs(x) over the 512 tokens (fp16 values) |
| `block.<b>.scale.<prev_op>.w_mean` | F32 | [in] | AutoAWQ's w statistic (fp16 values; computed in both modes, used only by duo) |
| `block.<b>.clip.<linear>.max_val` | F32 | [O, G] | chosen clip max per (output row, group) (fp16 values) |
| `block.<b>.clip.<linear>.best_shrink_idx` | I32 | [O, G] | chosen i: max_val = fp16(m0 * (1 - i/20)), i in 0..9 |
| `block.<b>.clip.<linear>.losses` | F16 | [10, O, G] | AutoAWQ's fp16 clip error of candidate i |
| `ckpt.model.layers.<b>.<linear>.qweight` | I32 | [I, O/8] | AutoAWQ's saved GEMM tensors (spec §3.1) |
| `ckpt.model.layers.<b>.<linear>.qzeros` | I32 | [G, O/8] | |
| `ckpt.model.layers.<b>.<linear>.scales` | F16 | [G, O] | |
| `ckpt.model.layers.<b>.<linear>.bias` | F16 | [O] | qwen2 q/k/v only |
| `ckpt.model.layers.<b>.<norm>.weight` | F16 | [C] / [D] | the saved (scaled) input/post-attention norms; Qwen3 q_norm/k_norm (unchanged) |

Metadata (`__metadata__`, JSON strings): `settings`, `quantization_config` (as written to the saved config.json),
`groups` (per scale group: block, prev_op, layers, module2inspect, best_ratio_idx), `clips`, `versions`, `duo_scaling`.

{phi3_section}{gemma_section}{moe_section}
## What the runs picked

{picks}

## Sizes and checksums

| file | bytes | sha256 |
| --- | ---: | --- |
{files}

Total {total} bytes (plus this README).
"""


PHI3_SECTION = """## Phi-3

`phi3_mha` (tests/golden/phi3_mha, made by gen_dense_golden.py): MHA 4/4 of D 16 (H*D = C = 64), partial rotary 0.5,
longrope in the legacy form transformers 4.51.3 reads (short factors: 64 tokens are within
original_max_position_embeddings 64; no attention_factor, so cos/sin are scaled by sqrt(1 + ln 4 / ln 64)). q/k/v are
one `self_attn.qkv_proj` [192, 64] and gate/up one `mlp.gate_up_proj` [192, 64]. AutoAWQ's groups (awq/models/phi3.py),
keyed by prev_op:

| prev_op (key) | layers | module2inspect | what it divides |
| --- | --- | --- | --- |
| `input_layernorm` | `self_attn.qkv_proj` | `self_attn` | the norm |
| `self_attn.qkv_proj` | `self_attn.o_proj` | that linear | qkv_proj's LAST 64 rows (`scale_fc_fc`), which are v only because this model is MHA; phi3.py adds the group whatever the shapes, so a GQA Phi-3 is not run here (docs/AWQ.md) |
| `post_attention_layernorm` | `mlp.gate_up_proj` | `mlp` | the norm |
| `mlp.gate_up_proj` | `mlp.down_proj` | that linear | gate_up_proj's last 96 rows (up) |

Clip search covers `self_attn.qkv_proj` (all 192 rows: the name has no `q_`/`k_`, so q and k are clipped too),
`self_attn.o_proj`, `mlp.gate_up_proj` and `mlp.down_proj`; their `clip.*` and `ckpt.*` tensors are the fused ones.

"""


GEMMA_SECTION = """## Gemma 2

`gemma2_mha` (tests/golden/gemma2_mha, made by gen_dense_golden.py): MHA 4/4 of head_dim 16 (H*D = C = 64, so the
v_proj -> o_proj group runs), query_pre_attn_scalar 24, (1 + w) norms with weights around 0, tied embeddings,
final_logit_softcapping 30, **no attention soft-capping and sliding_window 96**. Groups (awq/models/gemma2.py):
`input_layernorm` -> q/k/v (module2inspect self_attn), `self_attn.v_proj` -> o_proj, `pre_feedforward_layernorm` ->
gate/up (mlp), `mlp.up_proj` -> down. The saved norms are AutoAWQ's `scale_ln_fcs` on a Gemma norm, in fp16:
`w += 1; w /= s; w -= 1` (three fp16 roundings); post_attention_layernorm and post_feedforward_layernorm are not
scaled.

Why no attention soft-capping and a window longer than the calibration: AutoAWQ 0.2.9 runs transformers 4.51.3's
default attention for Gemma 2, sdpa, and `sdpa_attention_forward` ignores `softcap` (on tests/golden/gemma2_tiny, whose
attn_logit_softcapping is 5, 4.51.3's sdpa and eager logits differ by up to 0.76 for the same weights); and 4.51.3
applies the sliding window in the decoder layer (`Gemma2DecoderLayer.forward` narrows the mask when `is_sliding`), not
in `Gemma2Attention`, so the input_layernorm group's module2inspect (self_attn, called with the layer's plain causal
mask) scores its grid without the window. With these settings neither changes the function on 64-token sequences, so
the recorded picks are those of the model's own function; awqmake's search always uses the model's attention
(soft-capped, windowed).

"""


MOE_QUIRKS = """### Mixture-of-experts quirks (mixtral_moe, qwen3_moe; all observed in these runs)

6. **The router is not scaled with the experts (fact a).** The `post_attention_layernorm` group holds only the experts'
   w1/w3 (Mixtral, 8 linears) or gate_proj/up_proj (Qwen3-MoE, 16 linears); its module2inspect is the whole sparse
   block, router included, so the search's losses route on the unscaled x with the router untouched. `apply_scale`
   then divides the norm by s and multiplies only the experts: the router weight is not multiplied by s, and the
   saved model routes on x/s instead of x. Saved router weight bitwise equal to the original (fp16): {router_equal}.
   Routing each block's original MoE input x divided by s, instead of x, through the original router changes the
   expert set of {moved} of the 512 calibration tokens (model/mode: per block; the saved, for Qwen3-MoE also
   quantized, router: last column of the table in "Mixture of experts").
7. **Qwen3-MoE's router is quantized (fact b).** `Qwen3MoeAWQForCausalLM` sets no `modules_to_not_convert` (the saved
   quantization_config says null), so `mlp.gate` (nn.Linear 64 -> 8, no bias) is one of the block's named linears:
   hooked, clip-searched (on its unscaled input x, 512 rows, although the saved model feeds it x/s: quirk 6) and
   quantized and packed (`mlp.gate.qweight` [64, 1], `qzeros` [4, 1], `scales` [4, 8]; 8 rows, so through quirk 2's
   wrapper). Mixtral's `modules_to_not_convert = ["gate"]` (a substring match on the linear's name) keeps
   `block_sparse_moe.gate` an F16 weight: not hooked, not clipped, not quantized.
8. **An expert without calibration tokens stops AutoAWQ (fact c).** transformers 4.51.3 loops over every expert and
   calls it even with no token (a [0, C] input); AutoAWQ's hooks keep the empty tensors and `cat_and_assert` raises.
   Observed with `--demo-unrouted-expert` (one calibration token, id 7: Mixtral's block-0 experts got inputs of
   shapes (0, 64), (1, 64), (1, 64), (0, 64)):
   `AssertionError: block_sparse_moe.experts.0.w1 has a zero dimension. This can happen if no data was passed through (e.g. an expert in MoE not being activated). Try increasing max_calib_samples (warning: this can significantly increase quantization time and memory usage.)`
   and for Qwen3-MoE (experts 0, 1, 2, 4, 6 empty) the same message naming `mlp.experts.0.gate_proj`. There is no
   fixture for it (with the 512 tokens every expert gets at least {min_tok}). Pointing one router row in a large
   negative direction did not empty an expert here: no direction u with x.u > 0 for all 512 block-0 MoE inputs was
   found (the mean direction leaves 24-25% of the tokens negative; a 20000-step perceptron search found none).
9. **Mixtral's experts are never clip-searched.** `_search_best_clip` skips every linear whose name contains one of
   `["q_", "k_", "query", "key", "Wqkv"]` (meant for q/k projections), and `block_sparse_moe.experts.<e>.w<n>`
   contains `k_` (`bloc` + `k_sparse_moe`): its 12 expert linears per block are quantized from the scaled weights
   without clipping; only `self_attn.v_proj` and `self_attn.o_proj` have `block.<b>.clip.*` entries. Qwen3-MoE's
   `mlp.experts.<e>.*` and `mlp.gate` are clipped.
10. **Clip and pack padding reach the expert linears (fact d).** Quirk 3's row padding (to a multiple of 64, checked
    bitwise against padding to 128) is used for Qwen3-MoE's expert gate_proj/up_proj (48 rows) and router (8 rows);
    its expert down_proj (64 rows) and Mixtral's experts (96 and 64 rows, but not clipped: quirk 9) need none.
    Quirk 2's packing wrapper is used for the 48-row and 8-row Qwen3-MoE linears ({padded} linears per mode).
    qwen3_moe uses group size 16 because its experts' down_proj has in_features 48 (AutoAWQ asserts in % group == 0).
11. **fp16 routing is not fp32 routing.** AutoAWQ calibrates in fp16, and a near tie of router probabilities can go the
    other way than in fp32: {flips}. The later blocks' inputs of that sequence from that position on then differ
    from the fp32 forward by more than fp16 noise (4% relative), so the forward check leaves them out. A C forward
    must make AutoAWQ's choice to get its expert inputs: compare against `block.<b>.moe.selected_experts`.
"""

MOE_SECTION = """## Mixture of experts

`mixtral_moe`: blocks 0 and 1 sparse, 4 experts (w1/w3 64 -> 96, w2 96 -> 64), top-2, renormalized; group 32,
`modules_to_not_convert ["gate"]`. `qwen3_moe`: blocks 0 and 2 sparse, 8 experts (gate_proj/up_proj 64 -> 48,
down_proj 48 -> 64), top-3, not renormalized; block 1 dense (`mlp_only_layers`, F 96); group 16; tied embeddings.
Same calibration ids, settings and interventions as the dense runs. Scale groups AutoAWQ forms in a sparse block
(awq/models/mixtral.py, qwen3_moe.py); the key is the prev_op, block-relative:

| prev_op (key) | layers (order) | module2inspect | input |
| --- | --- | --- | --- |
| `input_layernorm` | `self_attn.q_proj`, `k_proj`, `v_proj` | `self_attn` | the q_proj input (512 rows) |
| `post_attention_layernorm` | Mixtral `block_sparse_moe.experts.0.w1`, `experts.0.w3`, `experts.1.w1`, ... `experts.3.w3`; Qwen3 `mlp.experts.0.gate_proj`, `experts.0.up_proj`, ... `experts.7.up_proj` | the sparse block (`block_sparse_moe` / `mlp`, router included) | the sparse block's input (512 rows) |
| `block_sparse_moe.experts.<e>.w3` / `mlp.experts.<e>.up_proj` | that expert's `w2` / `down_proj` | that linear | its own input rows (the expert's n_e tokens) |

No v_proj -> o_proj group (shapes differ in both). qwen3_moe's dense block 1 has the dense groups
(`post_attention_layernorm` over `mlp.gate_proj`, `mlp.up_proj`, module2inspect `mlp`; `mlp.up_proj` over
`mlp.down_proj`). The `post_attention_layernorm` group's w_mean is taken over all experts' rows concatenated (768).

Keys added by the MoE runs (`<b>` block, `<e>` expert, `<x>` = `block_sparse_moe` (Mixtral) / `mlp` (Qwen3-MoE);
token index t = sequence * 64 + position of the 8 x 64 calibration batch):

| tensor | file | dtype | shape | meaning |
| --- | --- | --- | --- | --- |
| `block.<b>.moe.router_logits` | inputs | F16 | [512, E] | router output in AutoAWQ's calibration forward of the original fp16 block |
| `block.<b>.moe.selected_experts` | inputs | I32 | [512, k] | transformers' topk of the fp32 softmax of those logits (descending probability) |
| `block.<b>.moe.tokens_per_expert` | inputs | I32 | [E] | rows each expert's linears received |
| `block.<b>.moe.expert.<e>.token_idx` | inputs | I32 | [n_e] | the tokens of those rows, in row order: transformers' `torch.where` over the [k, T] mask, i.e. tokens whose 1st choice is e (ascending t), then whose 2nd choice is e, ... |
| `block.<b>.scale.post_attention_layernorm.*`, `block.<b>.scale.<x>.experts.<e>.w3.*` (Mixtral), `block.<b>.scale.mlp.experts.<e>.up_proj.*` (Qwen3) | duo_* | as dense | | `losses`, `best_ratio_idx`, `scales`, `x_mean`, `w_mean` of the groups above |
| `block.<b>.clip.<linear>.{{max_val,best_shrink_idx,losses}}` | duo_* | as dense | | Qwen3: `mlp.gate`, `mlp.experts.<e>.gate_proj/up_proj/down_proj`, `self_attn.v_proj`, `self_attn.o_proj` (block 1: `mlp.gate_proj/up_proj/down_proj`); Mixtral: `self_attn.v_proj`, `self_attn.o_proj` only (quirk 9) |
| `block.<b>.clip.<linear>.n_tokens` | duo_* | I32 | [1] | rows of the clip input after AutoAWQ's n_sample_token subsampling (n_e for an expert linear, else 512; step 1 everywhere here) |
| `ckpt.model.layers.<b>.<x>.experts.<e>.<w>.{{qweight,qzeros,scales}}` | duo_* | I32, I32, F16 | [I, O/8], [G, O/8], [G, O] | every expert linear, AutoAWQ's names: `w1`, `w2`, `w3` / `gate_proj`, `up_proj`, `down_proj` |
| `ckpt.model.layers.<b>.block_sparse_moe.gate.weight` | duo_* | F16 | [4, 64] | Mixtral's saved router: not quantized, equal to the original (quirk 6) |
| `ckpt.model.layers.<b>.mlp.gate.{{qweight,qzeros,scales}}` | duo_* | I32, I32, F16 | [64, 1], [4, 1], [4, 8] | Qwen3-MoE's saved router, quantized (quirk 7) |
| `ckpt.model.layers.<b>.{{input_layernorm,post_attention_layernorm}}.weight`, Qwen3 `self_attn.{{q,k}}_norm.weight` | duo_* | F16 | [64], [32] | saved norms (scaled as in the dense files; post_attention_layernorm by the expert group's scales) |

Metadata adds `moe` (per sparse block: tokens_per_expert and the router facts of quirks 6-7), `torch_cpu_capability`
and, per clip, `n_rows_in` (rows before subsampling).

| model/mode | block | calibration tokens per expert (sum = 512 k) | router saved as | saved == original | router clip-searched | tokens routed differently: original router on x/s, saved router on x/s |
| --- | ---: | --- | --- | --- | --- | ---: |
{moe_rows}
"""


def moe_readme_parts(report):
    moe = {k: v for k, v in report.items() if "moe" in v}
    if not moe:
        return {"moe_quirks": "", "moe_section": ""}
    rows, moved, equal = [], [], {}
    for k, v in moe.items():
        model = k.split("/")[0]
        for f in v["moe"]:
            rows.append(f"| {k} | {f['block']} | {' '.join(map(str, f['tokens_per_expert']))} | "
                        f"{f['router_saved_as']} | {'yes' if f['router_saved_equals_original'] else 'no'} | "
                        f"{'yes' if f['router_clip_searched'] else 'no'} | {f['tokens_routed_differently_on_x_over_s']}, "
                        f"{f['tokens_routed_differently_saved_router_on_x_over_s']} |")
            equal.setdefault(model, set()).add(f["router_saved_equals_original"])
        moved.append(f"{k} " + "/".join(str(f["tokens_routed_differently_on_x_over_s"]) for f in v["moe"]))
    router_equal = "; ".join(f"{m} {'yes' if e == {True} else 'no' if e == {False} else 'mixed'}"
                             for m, e in equal.items())
    flips = []
    for k, v in moe.items():
        if not k.endswith("/duo_false"):
            continue
        model = k.split("/")[0]
        fl = v["routing_fp16_vs_fp32"]
        if not fl:
            flips.append(f"{model}: none")
        for f in fl:
            probs = ", ".join(f"{e}: {p:.9g}" for e, p in f["fp16_probs"].items())
            flips.append(f"{model} block {f['block']} token {f['token']} (sequence {f['sequence']}, position "
                         f"{f['position']}) goes to experts {f['fp16_experts']} in AutoAWQ's fp16 run and to "
                         f"{f['fp32_experts']} in transformers' fp32 forward (fp16-logit probabilities {probs})")
    min_tok = min(t for v in moe.values() for f in v["moe"] for t in f["tokens_per_expert"])
    padded = ", ".join(f"{k}: {v['padded']}" for k, v in moe.items())
    return {"moe_quirks": MOE_QUIRKS.format(router_equal=router_equal, moved="; ".join(moved), min_tok=min_tok,
                                            padded=padded, flips="; ".join(flips)),
            "moe_section": MOE_SECTION.format(moe_rows="\n".join(rows))}


def write_text(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def stored_reports(out):
    """The report.json of every model of MODELS + MOE_MODELS that has one under out, in that order: a run of
    --models NAME rewrites the README with the other models' entries kept."""
    report = {}
    for name in MODELS + MOE_MODELS:
        path = os.path.join(out, name, "report.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                report.update(json.load(f))
    return report


def write_readme(out, settings, report):
    picks = ["| model/mode | scale ratio index per block.prev_op | smallest runner-up gap | clip (o,g): tied / zero-loss picks | dequant check | spec §2.10 Q (numpy) == AutoAWQ |",
             "| --- | --- | ---: | --- | --- | --- |"]
    for k, v in report.items():
        p = ", ".join(f"{g['block']}.{g['prev_op']}={g['best_ratio_idx']}" for g in v["groups"])
        gap = min(g["runner_up_rel_gap"] for g in v["groups"])
        n_og = sum(c["out"] * c["groups"] for c in v["clips"])
        ties = sum(c["tied_picks"] for c in v["clips"])
        zero = sum(c["zero_loss_picks"] for c in v["clips"])
        s = v["spec_q"]
        picks.append(f"| {k} | {p} | {gap:.2e} | {ties} / {zero} of {n_og} | {v['dequant_weights_checked']} weights "
                     f"bitwise | {s[0]}/{s[1]} |")
    rows, total = [], 0
    models = sorted({k.split("/")[0] for k in report})   # (other generators' directories are theirs to list)
    paths = [os.path.join(out, "calib_ids.i32")] + [os.path.join(out, m, fn) for m in models
                                                    for fn in sorted(os.listdir(os.path.join(out, m)))
                                                    if fn != "README.md"]
    for path in paths:
        size = os.path.getsize(path)
        total += size
        rows.append(f"| `{os.path.relpath(path, out)}` | {size} | `{sha256(path)}` |")
    text = README_HEAD.format(
        install=INSTALL.replace(" && ", "\n"), regen=REGEN_COMMAND, date=GENERATED_ON, n_models=len(MODELS + MOE_MODELS),
        python=platform.python_version(), machine=platform.machine(), seed=CALIB_SEED,
        quant_config=json.dumps(QUANT_CONFIG), settings=json.dumps(settings, sort_keys=True),
        picks="\n".join(picks), files="\n".join(rows), total=total, **moe_readme_parts(report),
        phi3_section=PHI3_SECTION if any(k.split("/")[0] in FUSED_MODELS for k in report) else "",
        gemma_section=GEMMA_SECTION if any(k.split("/")[0] in GEMMA_MODELS for k in report) else "", **PINNED)
    write_text(os.path.join(out, "README.md"), text)


if __name__ == "__main__":
    main()
