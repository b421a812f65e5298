#!/usr/bin/env python3
"""ppl_transformers.py - CHECKING TOOL (Python, not part of the build; run where torch and transformers
are installed, e.g. the GPU machine): the perplexity of an awqmake output checkpoint computed by HF
transformers, from weights dequantized by the independent reader tools/golden/dequant_awq.py (spec §3.1),
under the protocol of spec §4.1 (non-overlapping windows from position 0, each scored alone,
ppl = exp(mean window loss)). Compare with `awq-eval --quant OUT` on the same ids.

    python3 tools/golden/ppl_transformers.py MODEL_DIR OUT_DIR EVAL_IDS.i32 SEQLEN [--expect PPL --tol 0.01]

MODEL_DIR gives the architecture (config.json without quantization_config); OUT_DIR the tensors.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dequant_awq  # noqa: E402  (the independent GEMM dequantizer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("ids")
    ap.add_argument("seqlen", type=int)
    ap.add_argument("--expect", type=float)
    ap.add_argument("--tol", type=float, default=0.01)
    a = ap.parse_args()
    tensors = dequant_awq.dequantize_checkpoint(dequant_awq.load_tensors(a.out))
    cfg = AutoConfig.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32).eval()
    state = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and cfg.tie_word_embeddings)]
    if missing or unexpected:
        sys.exit("checkpoint does not fit the model: missing %s unexpected %s" % (missing[:5], unexpected[:5]))
    if cfg.tie_word_embeddings:
        model.tie_weights()
    ids = np.fromfile(a.ids, dtype="<i4")
    n = len(ids) // a.seqlen
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(dev)
    losses = []
    with torch.no_grad():
        for w in range(n):
            x = torch.from_numpy(ids[w * a.seqlen:(w + 1) * a.seqlen].astype(np.int64))[None].to(dev)
            logits = model(x).logits.float()
            loss = torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:])
            losses.append(loss.item())
    ppl = math.exp(sum(losses) / len(losses))
    print(json.dumps({"windows": n, "seqlen": a.seqlen, "ppl": ppl, "device": dev, "torch": torch.__version__}))
    if a.expect is not None and abs(ppl - a.expect) > a.tol:
        sys.exit("ppl %.4f differs from the expected %.4f by more than %g" % (ppl, a.expect, a.tol))


if __name__ == "__main__":
    main()
