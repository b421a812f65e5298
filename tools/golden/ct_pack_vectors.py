#!/usr/bin/env python3
"""ct_pack_vectors.py - FIXTURE GENERATOR (not part of the build): compressed-tensors' own pack_to_int32
(compressors/pack_quantized/helpers.py) on fixed codes of 2..8 bits, packed along dim 1 (weight_packed)
and along dim 0 (weight_zero_point), with widths that are not multiples of 32 (values straddle words, the
last word is padded). tests/test_shard.c holds stages/common/ct.c's packing to them.

    /tmp/ctvenv/bin/python tools/golden/ct_pack_vectors.py > tests/golden/ct/pack_vectors.json

Pinned: tools/golden/requirements-ct.txt (compressed-tensors 0.20.1, torch 2.15.0).
"""
import json

import compressed_tensors
import torch
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32

ROWS, COLS = 3, 37
cases = []
for bits in (2, 3, 4, 5, 8):
    codes = [[(r * 7 + k * 5 + r * k) % (1 << bits) for k in range(COLS)] for r in range(ROWS)]
    signed = torch.tensor(codes, dtype=torch.int32) - (1 << (bits - 1))  # compressed-tensors' int convention
    signed = signed.to(torch.int8)
    rows = pack_to_int32(signed, bits, packed_dim=1)
    cols = pack_to_int32(signed.T.contiguous(), bits, packed_dim=0)  # [COLS, ROWS] along dim 0
    assert torch.equal(unpack_from_int32(rows, bits, signed.shape, packed_dim=1), signed)
    cases.append({"bits": bits, "rows": ROWS, "cols": COLS, "codes": codes,
                  "packed_dim1": rows.tolist(), "packed_dim0_of_transpose": cols.tolist()})
print(json.dumps({"generator": "tools/golden/ct_pack_vectors.py", "compressed_tensors": compressed_tensors.__version__,
                  "cases": cases}))
