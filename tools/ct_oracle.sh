#!/bin/sh
# ct_oracle.sh [MODEL] - ORACLE CHECK (not part of make test: needs /tmp/ctvenv, tools/golden/requirements-ct.txt):
# awqmake's FORMAT=ct checkpoint of a real model, w4 g64 and w8 g64, loaded by transformers 5 natively on the
# CPU (tools/ct_oracle.py: its compressed-tensors quantizer), gives the perplexity awq-eval --quant gives for
# the same checkpoint, within 0.01. Default model: ../shared/assets/models/stories260K-ffn256-hf, calibrated
# on the first 64 sequences of tokens/tinystories_calib.tok512.i32 and evaluated on
# tokens/tinystories_eval.tok512.i32 in windows of 512 (docs/QUALITY.md's setting).
#   make -j2 && tools/ct_oracle.sh
set -eu
A=${AWQ_ASSETS:-../shared/assets}
M=${1:-$A/models/stories260K-ffn256-hf}
O=${O:-build}
PY=${CT_PYTHON:-/tmp/ctvenv/bin/python}
EVAL=$A/tokens/tinystories_eval.tok512.i32
TMP=$(mktemp -d "${TMPDIR:-/tmp}/awq-ctoracle-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export AWQ_CACHE="${AWQ_CACHE:-$TMP/store}"
status=0
for w in 4 8; do
    out="$TMP/w${w}g64-ct"
    make --no-print-directory -s -j2 quantize MODEL="$M" OUT="$out" CALIB="$A/tokens/tinystories_calib.tok512.i32" \
        N_SAMPLES=64 W_BIT=$w GROUP=64 FORMAT=ct DEVICE=cpu >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; exit 1; }
    "$O/bin/awq-eval" -q -m "$M" -t "$EVAL" --seqlen 512 --device cpu --quant "$out" -o "$TMP/eval.json" >/dev/null
    ours=$(python3 -c "import json,sys; print([r['ppl'] for r in json.load(open(sys.argv[1]))['results'] if r['name'] != 'model'][0])" "$TMP/eval.json")
    theirs=$("$PY" tools/ct_oracle.py "$out" "$EVAL" 512 --expect "$ours" --tol 0.01 2>"$TMP/err") || { status=1; tail -3 "$TMP/err" >&2; }
    echo "w$w g64 FORMAT=ct: awq-eval ppl $ours; transformers $theirs"
done
exit $status
