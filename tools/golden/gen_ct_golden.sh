#!/bin/sh
# gen_ct_golden.sh [OUTDIR] - FIXTURE GENERATOR (not part of the build): the compressed-tensors golden of
# tests/t_ct.sh. For each experiment of tests/ct_cases.sh it runs awqmake's FORMAT=autoawq pipeline on a
# synthetic model and converts that output with compressed-tensors' own AutoAWQConverter
# (tools/golden/ct_convert.py); the converted tensors, index and config go to OUTDIR/<name>/
# (default tests/golden/ct). A FORMAT=ct run of the same experiment must give the same tensors.
#   python3 -m venv /tmp/ctvenv && /tmp/ctvenv/bin/pip install -r tools/golden/requirements-ct.txt
#   make -j2 && O=build tools/golden/gen_ct_golden.sh
# Run with compressed-tensors 0.20.1, transformers 5.23.0, torch 2.15.0 (Python 3.11).
set -eu
out=${1:-tests/golden/ct}
O=${O:-build}
PY=${CT_PYTHON:-/tmp/ctvenv/bin/python}
ROOT=$(pwd)
BIN="$ROOT/$O/bin"
. "$ROOT/tests/ct_cases.sh"
. "$ROOT/tests/openblas_kernel.sh"   # the sgemm kernel the goldens are recorded with
openblas_golden_kernel || { echo "$0: OpenBLAS runs another sgemm than $OPENBLAS_GOLDEN_KERNEL, with which the goldens are recorded (tests/openblas_kernel.sh)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/awq-ctgold-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$BIN/awq-gen-tokens" --vocab 256 --count 1024 --seed 5 --out "$TMP/c.i32" >/dev/null 2>&1
echo "$CT_CASES" | while IFS='|' read -r name gen vars; do
    "$BIN/awq-gen-model" -q --out "$TMP/m-$name" $gen >/dev/null
    # shellcheck disable=SC2086 # the variables are words
    AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory -s quantize O="$O" MODEL="$TMP/m-$name" OUT="$TMP/o-$name" \
        CALIB="$TMP/c.i32" SEQLEN=128 DEVICE=cpu FORMAT=autoawq $vars >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; exit 1; }
    rm -rf "${out:?}/$name"
    mkdir -p "$out/$name"
    "$PY" "$ROOT/tools/golden/ct_convert.py" "$TMP/o-$name" "$TMP/ct-$name"
    cp "$TMP/ct-$name"/*.safetensors "$TMP/ct-$name/model.safetensors.index.json" "$TMP/ct-$name/config.json" "$out/$name/"
    echo "$name: $(ls "$out/$name" | wc -l) files in $out/$name"
done
