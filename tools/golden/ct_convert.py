#!/usr/bin/env python3
"""ct_convert.py - FIXTURE GENERATOR helper (not part of the build): convert an AutoAWQ GEMM checkpoint
directory (awqmake's FORMAT=autoawq OUT) to compressed-tensors pack-quantized with compressed-tensors' own
AutoAWQConverter through convert_checkpoint, on the CPU. Used by gen_ct_golden.sh.

    /tmp/ctvenv/bin/python tools/golden/ct_convert.py AWQ_DIR CT_DIR

Pinned: tools/golden/requirements-ct.txt (compressed-tensors 0.20.1, transformers 5.23.0, torch 2.15.0).
"""
import sys

import compressed_tensors
from compressed_tensors.entrypoints.convert import convert_checkpoint
from compressed_tensors.entrypoints.convert.converters import AutoAWQConverter

PINNED = "0.20.1"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    if compressed_tensors.__version__ != PINNED:
        sys.exit(f"compressed-tensors {compressed_tensors.__version__}, the golden is pinned to {PINNED}")
    src, dst = sys.argv[1], sys.argv[2]
    conv = AutoAWQConverter.from_pretrained(src)
    convert_checkpoint(src, dst, conv, max_workers=1, device="cpu")


if __name__ == "__main__":
    main()
