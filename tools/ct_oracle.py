#!/usr/bin/env python3
"""ct_oracle.py - ORACLE CHECK (Python, not part of the build): transformers loads awqmake's FORMAT=ct output
NATIVELY (its compressed-tensors quantizer: config.json's quantization_config, weight_packed / weight_scale /
weight_zero_point / weight_shape unpacked by compressed-tensors itself) on the CPU, and computes the perplexity
of the eval ids under the protocol of spec §4.1 (non-overlapping windows from position 0, each scored alone,
ppl = exp(mean window loss)). Compare with `awq-eval --quant OUT` on the same ids (tools/ct_oracle.sh).

    /tmp/ctvenv/bin/python tools/ct_oracle.py OUT_DIR EVAL_IDS.i32 SEQLEN [--windows N] [--device cpu|cuda]
                                              [--expect PPL --tol 0.01]

(--windows: the first N windows, 0 = all; --device: CUDA when there is one, as make check-real runs it on the GPU
machine.) The checkpoint is loaded in its own dtype (config.json's; float16 or bfloat16) with the weights decompressed at load
(CompressedTensorsConfig(dequantize=True): transformers' CompressedTensorsDequantize runs compressed-tensors'
pack-quantized decompress, (q - zp) * scale in fp16), then computed in fp32, as awq-eval computes. (The default,
compressed route of transformers 5.23 with compressed-tensors 0.20.1 refuses every pack-quantized checkpoint with
asymmetric zero points, the AutoAWQConverter's own output included: it builds weight_zero_point unpacked
[out, G] and then finds the packed [ceil(out*bits/32), G] the format stores.) Pinned: tools/golden/requirements-ct.txt (compressed-tensors 0.20.1, transformers 5.23.0, torch 2.15.0).
"""
import argparse
import json
import os
import sys

import compressed_tensors
import torch
import transformers
from transformers import AutoModelForCausalLM
from transformers.utils.quantization_config import CompressedTensorsConfig

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "real"))
from windows import window_ppl  # noqa: E402  (tools/real/windows.py)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("ids")
    ap.add_argument("seqlen", type=int)
    ap.add_argument("--expect", type=float)
    ap.add_argument("--tol", type=float, default=0.01)
    ap.add_argument("--windows", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False     # fp32 as awq-eval computes it, not TF32
    cfg = json.load(open(f"{a.out}/config.json"))
    q = cfg["quantization_config"]
    dtype = getattr(torch, cfg.get("dtype") or cfg.get("torch_dtype") or "float16")
    assert q["quant_method"] == "compressed-tensors" and q["format"] == "pack-quantized", q
    model, info = AutoModelForCausalLM.from_pretrained(a.out, dtype=dtype, output_loading_info=True,
                                                       quantization_config=CompressedTensorsConfig(dequantize=True))
    bad = {k: v for k, v in info.items() if v and k != "error_msgs"}
    assert not bad, f"the checkpoint does not load cleanly: {bad}"
    model = model.float().eval().to(a.device)
    n, ppl = window_ppl(model, a.ids, a.seqlen, a.windows, a.device, "ct_oracle", logits_dtype=torch.float32)
    print(json.dumps({"windows": n, "seqlen": a.seqlen, "ppl": ppl, "device": a.device, "dtype": str(dtype), "torch": torch.__version__,
                      "transformers": transformers.__version__, "compressed_tensors": compressed_tensors.__version__}))
    if a.expect is not None and abs(ppl - a.expect) > a.tol:
        sys.exit("ppl %.4f differs from awqmake's %.4f by more than %g" % (ppl, a.expect, a.tol))


if __name__ == "__main__":
    main()
