#!/usr/bin/env python3
"""dequant_awq.py - CHECKING TOOL (Python, not part of the build): an independent dequantizer of an AutoAWQ
"GEMM" checkpoint, written only from the safetensors format and the unpacking rule of spec §3.1. It imports
neither AutoAWQ nor torch, so it can check awqmake's packed output and AutoAWQ's output alike.

    python3 tools/golden/dequant_awq.py IN OUT [--linears-only]

IN is a .safetensors file or a model directory (model.safetensors, or model.safetensors.index.json with its
shards). OUT is a .safetensors file: for every quantized linear <p> (a <p>.qweight / <p>.qzeros / <p>.scales
triple) it holds <p>.weight F16 [O, I] in nn.Linear layout, the fake-quant weight
    W[o][k] = fp16( (q - zero) * scale ),  q = nibble(qweight[k][o/8], REV[o%8]),
    zero = nibble(qzeros[k/g][o/8], REV[o%8]),  scale = scales[k/g][o],  REV = [0, 4, 1, 5, 2, 6, 3, 7]
(the product is exact in fp32, so one rounding to fp16 gives PyTorch's fp16 result bit for bit). Every other
tensor (biases, norms, embeddings) is copied unchanged unless --linears-only is given. Needs numpy and
safetensors (any recent version). Exit status: 0 ok, 1 bad checkpoint, 2 usage.
"""

import argparse
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

# Nibble i of a packed word holds output channel 8c + AWQ_ORDER[i]; channel 8c + j sits in nibble REV[j].
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]


class CheckpointError(Exception):
    pass


def unpack_nibbles(words):
    """int32 [R, C] packed words -> int32 codes [R, 8C] in output-channel order (spec §3.1)."""
    u = words.astype(np.int64) & 0xFFFFFFFF  # the bit pattern, as unsigned
    rows, cols = u.shape
    out = np.empty((rows, cols * 8), dtype=np.int32)
    for j in range(8):
        out[:, j::8] = (u >> (4 * AWQ_REVERSE_ORDER[j])) & 0xF
    return out


def dequantize_linear(name, qweight, qzeros, scales):
    """One GEMM linear -> F16 weight [O, I]. Raises CheckpointError on inconsistent shapes or dtypes."""
    if qweight.dtype != np.int32 or qzeros.dtype != np.int32:
        raise CheckpointError(f"'{name}': qweight/qzeros must be I32, got {qweight.dtype}/{qzeros.dtype}")
    if scales.dtype != np.float16:
        raise CheckpointError(f"'{name}.scales' must be F16, got {scales.dtype}")
    if qweight.ndim != 2 or qzeros.ndim != 2 or scales.ndim != 2:
        raise CheckpointError(f"'{name}': qweight, qzeros and scales must be 2-D")
    in_features, out_packed = qweight.shape
    n_groups, out_features = scales.shape
    if out_features != 8 * out_packed or qzeros.shape != (n_groups, out_packed):
        raise CheckpointError(f"'{name}': shapes disagree: qweight {list(qweight.shape)}, "
                              f"qzeros {list(qzeros.shape)}, scales {list(scales.shape)}")
    if n_groups == 0 or in_features % n_groups != 0:
        raise CheckpointError(f"'{name}': {n_groups} groups do not divide in_features {in_features}")
    group = in_features // n_groups
    codes = unpack_nibbles(qweight)                       # [I, O]
    zeros = np.repeat(unpack_nibbles(qzeros), group, 0)   # [I, O]
    scale = np.repeat(scales.astype(np.float32), group, 0)
    wt = ((codes - zeros).astype(np.float32) * scale).astype(np.float16)  # exact product, one RNE rounding
    return np.ascontiguousarray(wt.T)                     # [O, I] like nn.Linear.weight


def checkpoint_files(path):
    if os.path.isfile(path):
        return [path]
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        return [os.path.join(path, s) for s in shards]
    single = os.path.join(path, "model.safetensors")
    if os.path.isfile(single):
        return [single]
    raise CheckpointError(f"no model.safetensors or model.safetensors.index.json in '{path}'")


def load_tensors(path):
    tensors = {}
    for file in checkpoint_files(path):
        with safe_open(file, framework="numpy") as f:
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    return tensors


def dequantize_checkpoint(tensors, linears_only=False):
    """{name: array} of a GEMM checkpoint -> {name: array} with every linear dequantized to <p>.weight."""
    prefixes = sorted(k[: -len(".qweight")] for k in tensors if k.endswith(".qweight"))
    out = {}
    for p in prefixes:
        for part in ("qzeros", "scales"):
            if f"{p}.{part}" not in tensors:
                raise CheckpointError(f"'{p}.qweight' has no '{p}.{part}'")
        out[p + ".weight"] = dequantize_linear(p, tensors[p + ".qweight"], tensors[p + ".qzeros"],
                                               tensors[p + ".scales"])
    if not linears_only:
        packed = {f"{p}.{s}" for p in prefixes for s in ("qweight", "qzeros", "scales")}
        for k, v in tensors.items():
            if k not in packed:
                out[k] = v
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="AutoAWQ GEMM checkpoint: a .safetensors file or a model directory")
    ap.add_argument("output", help="output .safetensors file (dequantized F16 weights)")
    ap.add_argument("--linears-only", action="store_true", help="write only the dequantized <p>.weight tensors")
    args = ap.parse_args(argv)
    try:
        out = dequantize_checkpoint(load_tensors(args.input), args.linears_only)
        if not any(k.endswith(".weight") for k in out):
            raise CheckpointError(f"'{args.input}' holds no tensors")
        tmp = args.output + ".tmp"
        save_file(out, tmp)
        os.replace(tmp, args.output)  # never a half-written output
    except (CheckpointError, OSError, ValueError, KeyError) as e:
        print(f"dequant_awq: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
