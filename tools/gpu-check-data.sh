#!/bin/sh
# gpu-check-data.sh - prepare DATA (default .devdata, git-ignored) for tools/gpu-check.sh on a
# machine that has ../shared/assets: the two stories260K models, the calibration, evaluation and
# whole-stream ids, a w4 g64 awqmake checkpoint of stories260K-ffn256 made here on the CPU, and
# the held-out perplexity awq-eval gives for it (what transformers must reproduce on the GPU box).
#   tools/gpu-check-data.sh [BUILD] [DATA]
set -eu
O=${1:-build}; DATA=${2:-.devdata}
A=${AWQ_ASSETS:-../shared/assets}
[ -d "$A/models" ] || { echo "gpu-check-data: no assets in '$A'" >&2; echo "hint: set AWQ_ASSETS to the shared assets folder" >&2; exit 2; }
BIN=$(cd "$O/bin" && pwd)
mkdir -p "$DATA"
for m in stories260K-hf stories260K-ffn256-hf; do rm -rf "$DATA/$m"; cp -r "$A/models/$m" "$DATA/$m"; chmod -R u+w "$DATA/$m"; done
cp "$A/tokens/tinystories_calib.tok512.i32" "$DATA/calib.i32"
cp "$A/tokens/tinystories_eval.tok512.i32" "$DATA/eval.i32"
cp "$A/tokens/tinystories_all.tok512.i32" "$DATA/all.i32"
chmod u+w "$DATA"/*.i32
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
M="$DATA/stories260K-ffn256-hf"
rm -rf "$DATA/w4g64"
AWQ_CACHE="$W/store" "$BIN/awq-plan" --model "$M" --calib "$DATA/calib.i32" --out "$DATA/w4g64" --work "$W/w.awq" \
    --bin "$BIN" --seqlen 512 --n-samples 32 --group 64 --device cpu -q
AWQ_CACHE="$W/store" make --no-print-directory -j2 -f "$W/w.awq/plan.mk" all >/dev/null
AWQ_CACHE="$W/store" "$BIN/awq-eval" -m "$M" -t "$DATA/eval.i32" --seqlen 512 --device cpu --quant "$DATA/w4g64" -o "$W/ev.json" >/dev/null 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=d["results"][-1]; print("%.6f" % v["ppl"])' "$W/ev.json" >"$DATA/expect_ppl"
echo "gpu-check-data: $DATA ready (awq-eval ppl of w4g64: $(cat "$DATA/expect_ppl"))"
