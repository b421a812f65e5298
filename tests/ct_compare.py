#!/usr/bin/env python3
"""ct_compare.py - for tests/t_ct.sh, plain Python (json, struct; no numpy, no awqmake code): compare
awqmake's FORMAT=ct checkpoint with the golden that compressed-tensors' own AutoAWQConverter made from
awqmake's FORMAT=autoawq checkpoint (tools/golden/gen_ct_golden.sh), and check a checkpoint
directory's files against its index.

    ct_compare.py same GOLDEN_DIR OUT_DIR     the same tensor names, dtypes, shapes and bytes (integers
                                              identical, scales bit-equal); the same quantization scheme
    ct_compare.py indexed OUT_DIR             every *.safetensors of OUT_DIR is named by its index, and
                                              the index names no tensor its file lacks

Exit 0 when it holds; otherwise prints what differs and exits 1.
"""
import json
import os
import struct
import sys


def read(path):
    """name -> (dtype, shape, bytes) of one safetensors file"""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    base = 8 + n
    return {k: (v["dtype"], v["shape"], b[base + v["data_offsets"][0]:base + v["data_offsets"][1]])
            for k, v in h.items() if k != "__metadata__"}


def tensors(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            out.update(read(os.path.join(d, f)))
    return out


def scheme(d):
    q = json.load(open(os.path.join(d, "config.json")))["quantization_config"]
    (g,) = q["config_groups"].values()
    w = g["weights"]
    return (q["quant_method"], q["format"], q["quantization_status"], g["format"], g["targets"],
            {k: w.get(k) for k in ("num_bits", "type", "symmetric", "strategy", "group_size", "dynamic")})


def same(gold, out):
    a, b = tensors(gold), tensors(out)
    bad = [f"only in the golden: {n}" for n in sorted(set(a) - set(b))]
    bad += [f"only in FORMAT=ct: {n}" for n in sorted(set(b) - set(a))]
    for n in sorted(set(a) & set(b)):
        if a[n][:2] != b[n][:2]:
            bad.append(f"{n}: golden {a[n][0]} {a[n][1]}, FORMAT=ct {b[n][0]} {b[n][1]}")
        elif a[n][2] != b[n][2]:
            k = next(i for i in range(len(a[n][2])) if a[n][2][i] != b[n][2][i])
            bad.append(f"{n} ({a[n][0]} {a[n][1]}): bytes differ from byte {k}")
    if scheme(gold) != scheme(out):
        bad.append(f"quantization scheme: golden {scheme(gold)}, FORMAT=ct {scheme(out)}")
    return bad


def indexed(d):
    idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    files = set(idx["weight_map"].values())
    bad = [f"{f} is not named by the index" for f in sorted(os.listdir(d))
           if f.endswith(".safetensors") and f not in files]
    for f in sorted(files):
        held = read(os.path.join(d, f)) if os.path.exists(os.path.join(d, f)) else {}
        bad += [f"index names {n} in {f}, which lacks it" for n, g in idx["weight_map"].items() if g == f and n not in held]
    return bad


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "same":
        bad = same(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "indexed":
        bad = indexed(sys.argv[2])
    else:
        sys.exit(__doc__)
    for line in bad[:20]:
        print(line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
