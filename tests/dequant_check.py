#!/usr/bin/env python3
"""dequant_check.py - an independent reader of awqmake's output for tests/t_pack.sh: plain Python
(json, struct; no numpy, no awqmake code), written from the safetensors format (spec §1.3) and the
GEMM unpacking rule (spec §3.1). It dequantizes the linears of one block of an AutoAWQ GEMM
checkpoint directory and compares them bit for bit with fp16 files of the fake-quantized weights.

    dequant_check.py OUT_DIR BLOCK NAME=FILE.f16 ...     (NAME e.g. self_attn.q_proj)

Exit 0 when every weight matches; otherwise prints the first mismatches and exits 1.
"""
import json
import os
import struct
import sys

REV = [0, 4, 1, 5, 2, 6, 3, 7]  # channel 8c + j sits in nibble REV[j]


def tensors(out_dir):
    """name -> (dtype, shape, bytes) for every tensor of the checkpoint (single file or sharded)."""
    files = []
    index = os.path.join(out_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    result = {}
    for f in files:
        data = open(os.path.join(out_dir, f), "rb").read()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        for name, t in header.items():
            if name == "__metadata__":
                continue
            b, e = t["data_offsets"]
            result[name] = (t["dtype"], t["shape"], data[8 + n + b:8 + n + e])
    return result


def dequantize(qweight, qzeros, scales):
    (dq, (I, O8), qw), (dz, (G, _), qz), (ds, _, sc) = qweight, qzeros, scales
    assert dq == "I32" and dz == "I32" and ds == "F16"
    O = O8 * 8
    g = I // G
    qw = struct.unpack("<%di" % (I * O8), qw)
    qz = struct.unpack("<%di" % (G * O8), qz)
    sc = struct.unpack("<%de" % (G * O), sc)
    out = bytearray(O * I * 2)
    for o in range(O):
        shift = 4 * REV[o % 8]
        for k in range(I):
            q = ((qw[k * O8 + o // 8] & 0xFFFFFFFF) >> shift) & 0xF
            z = ((qz[(k // g) * O8 + o // 8] & 0xFFFFFFFF) >> shift) & 0xF
            # (q - z) * scale is exact in double; struct's 'e' rounds to fp16 half-to-even
            struct.pack_into("<e", out, 2 * (o * I + k), (q - z) * sc[(k // g) * O + o])
    return bytes(out)


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    t = tensors(argv[1])
    block = int(argv[2])
    bad = 0
    for pair in argv[3:]:
        name, path = pair.split("=", 1)
        p = "model.layers.%d.%s" % (block, name)
        got = dequantize(t[p + ".qweight"], t[p + ".qzeros"], t[p + ".scales"])
        want = open(path, "rb").read()
        if got != want:
            diffs = [i for i in range(0, min(len(got), len(want)), 2) if got[i:i + 2] != want[i:i + 2]]
            print("%s: %d of %d weights differ (sizes %d/%d); first at %s" % (p, len(diffs), len(want) // 2,
                  len(got), len(want), diffs[:5]), file=sys.stderr)
            bad += 1
        else:
            print("%s: %d weights identical" % (p, len(want) // 2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
