"""windows.py - CHECKING TOOL (Python, not part of the build): the perplexity protocol of spec §4.1 for the oracle
scripts (tools/real/hf_side.py, tools/real/autoawq_side.py, tools/ct_oracle.py), each run in its own venv, so this
imports only numpy and torch: non-overlapping windows of SEQLEN ids from position 0, each scored alone, ppl =
exp(mean window loss)."""
import math
import sys

import numpy as np
import torch


def window_ppl(model, ids_path, seqlen, windows, dev, what, logits_dtype=torch.float64):
    """(windows scored, ppl) of model on the first `windows` windows of the i32 ids (0: all; < 0: none, ppl None);
    each window's loss goes to stderr as `what: window i/n loss x`."""
    ids = np.fromfile(ids_path, dtype="<i4")
    nw = len(ids) // seqlen
    if windows > 0:
        nw = min(nw, windows)
    if windows < 0:   # no perplexity (generation only)
        nw = 0
    losses = []
    with torch.no_grad():
        for w in range(nw):
            x = torch.from_numpy(ids[w * seqlen:(w + 1) * seqlen].astype(np.int64))[None].to(dev)
            logits = model(x).logits.to(logits_dtype)
            losses.append(torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:]).item())
            print(f"{what}: window {w + 1}/{nw} loss {losses[-1]:.4f}", file=sys.stderr, flush=True)
    return nw, (math.exp(sum(losses) / nw) if nw else None)
