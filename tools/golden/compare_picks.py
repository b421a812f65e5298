#!/usr/bin/env python3
"""compare_picks.py - the scale-grid and clip picks of two awqmake runs of the same plan (e.g. the
CPU and the CUDA backend, tools/gpu-check.sh): same keys, two stores. Every pick that differs must
be a near-tie: the loss of the other run's pick, in this run's own losses, within REL of the best.
A block whose scale picks differ (a near-tie there) has differently scaled weights, so its clip
searches see other weights: its clip picks are counted apart and not required to match. Prints
the counts and exits 1 when a difference elsewhere is not a near-tie.
    compare_picks.py BIN MANIFEST STORE_A STORE_B [REL]"""
import os, subprocess, struct, sys

def tensors(binary, store, key):
    out = subprocess.run([binary, "info", key], env=dict(os.environ, AWQ_CACHE=store), capture_output=True, text=True, check=True).stdout
    return [l.split("\t")[1] for l in out.splitlines() if l.startswith("tensor\t")]

def cat(binary, store, key, name, fmt):
    raw = subprocess.run([binary, "cat", key, name], env=dict(os.environ, AWQ_CACHE=store), capture_output=True, check=True).stdout
    return struct.unpack("<%d%s" % (len(raw) // 4, fmt), raw)

def main():
    binary, manifest, sa, sb = sys.argv[1:5]
    rel = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-3
    rows = [l.rstrip("\n").split("\t") for l in open(manifest)][1:]
    counts = {"scale": [0, 0, 0], "clip": [0, 0, 0], "after": [0, 0, 0]}  # same, near-tie, other
    worst = {"scale": 0.0, "clip": 0.0, "after": 0.0}
    rescaled = set()  # blocks with a scale pick that differs
    rows.sort(key=lambda r: (r[0], r[1] != "scale-search"))  # a block's scales before its clips
    for block, stage, key in rows:
        if stage not in ("scale-search", "clip-search"):
            continue
        kind = "scale" if stage == "scale-search" else ("after" if block in rescaled else "clip")
        for name in tensors(binary, sa, key):
            if not name.endswith(".best"):
                continue
            base = name[:-5]
            lname = base + (".losses" if kind == "scale" else ".loss")
            ba, bb = cat(binary, sa, key, name, "i"), cat(binary, sb, key, name, "i")
            la = cat(binary, sa, key, lname, "f")
            k = len(la) // len(ba)
            for j, (x, y) in enumerate(zip(ba, bb)):
                if x == y:
                    counts[kind][0] += 1
                    continue
                if kind == "scale":
                    rescaled.add(block)
                best, other = la[j * k + x], la[j * k + y]
                gap = (other - best) / max(abs(best), 1e-30)
                worst[kind] = max(worst[kind], gap)
                counts[kind][1 if gap <= rel else 2] += 1
                if gap > rel and kind != "after":
                    print("block %s %s %s[%d]: picks %d vs %d, loss gap %.3g" % (block, kind, base, j, x, y, gap))
    names = {"scale": "scale picks", "clip": "clip picks", "after": "clip picks in blocks whose scale picks differ"}
    for kind in ("scale", "clip", "after"):
        s, t, o = counts[kind]
        if s + t + o:
            print("%s: %d of %d identical, %d near-ties (loss within %g of the best; worst gap %.2g), %d other"
                  % (names[kind], s, s + t + o, t, rel, worst[kind], o))
    return 1 if counts["scale"][2] or counts["clip"][2] else 0

if __name__ == "__main__":
    sys.exit(main())
