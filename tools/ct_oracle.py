#!/usr/bin/env python3
"""ct_oracle.py - ORACLE CHECK (Python, not part of the build): transformers loads awqmake's FORMAT=ct output
NATIVELY (its compressed-tensors quantizer: config.json's quantization_config, weight_packed / weight_scale /
weight_zero_point / weight_shape unpacked by compressed-tensors itself) on the CPU, and computes the perplexity
of the eval ids under the protocol of spec §4.1 (non-overlapping windows from position 0, each scored alone,
ppl = exp(mean window loss)). Compare with `awq-eval --quant OUT` on the same ids (tools/ct_oracle.sh).

    /tmp/ctvenv/bin/python tools/ct_oracle.py OUT_DIR EVAL_IDS.i32 SEQLEN [--expect PPL --tol 0.01]

The checkpoint is loaded in its own dtype (float16) with the weights decompressed at load
(CompressedTensorsConfig(dequantize=True): transformers' CompressedTensorsDequantize runs compressed-tensors'
pack-quantized decompress, (q - zp) * scale in fp16), then computed in fp32, as awq-eval computes. (The default,
compressed route of transformers 5.23 with compressed-tensors 0.20.1 refuses every pack-quantized checkpoint with
asymmetric zero points, the AutoAWQConverter's own output included: it builds weight_zero_point unpacked
[out, G] and then finds the packed [ceil(out*bits/32), G] the format stores.) Pinned: tools/golden/requirements-ct.txt (compressed-tensors 0.20.1, transformers 5.23.0, torch 2.15.0).
"""
import argparse
import json
import math
import sys

import compressed_tensors
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM
from transformers.utils.quantization_config import CompressedTensorsConfig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("ids")
    ap.add_argument("seqlen", type=int)
    ap.add_argument("--expect", type=float)
    ap.add_argument("--tol", type=float, default=0.01)
    a = ap.parse_args()
    q = json.load(open(f"{a.out}/config.json"))["quantization_config"]
    assert q["quant_method"] == "compressed-tensors" and q["format"] == "pack-quantized", q
    model, info = AutoModelForCausalLM.from_pretrained(a.out, dtype=torch.float16, output_loading_info=True,
                                                       quantization_config=CompressedTensorsConfig(dequantize=True))
    bad = {k: v for k, v in info.items() if v and k != "error_msgs"}
    assert not bad, f"the checkpoint does not load cleanly: {bad}"
    model = model.float().eval()
    ids = np.fromfile(a.ids, dtype="<i4")
    n = len(ids) // a.seqlen
    losses = []
    with torch.no_grad():
        for w in range(n):
            x = torch.from_numpy(ids[w * a.seqlen:(w + 1) * a.seqlen].astype(np.int64))[None]
            logits = model(x).logits.float()
            losses.append(torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:]).item())
    ppl = math.exp(sum(losses) / len(losses))
    print(json.dumps({"windows": n, "seqlen": a.seqlen, "ppl": ppl, "torch": torch.__version__,
                      "transformers": transformers.__version__, "compressed_tensors": compressed_tensors.__version__}))
    if a.expect is not None and abs(ppl - a.expect) > a.tol:
        sys.exit("ppl %.4f differs from awqmake's %.4f by more than %g" % (ppl, a.expect, a.tol))


if __name__ == "__main__":
    main()
