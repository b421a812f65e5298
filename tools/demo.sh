#!/bin/sh
# demo.sh - `make demo`: the main job on an embedded default. Until the quantization pipeline
# exists (issues 3-5) it builds a synthetic model with planted outlier channels, stores its
# block tensors in the object store and shows them; it says plainly what is not there yet.
set -eu
O=${1:-build}
BIN="$O/bin"
DEMO=${DEMO_DIR:-$O/demo}
export AWQ_CACHE=${AWQ_CACHE:-$DEMO/cache}
rm -rf "$DEMO/model"
mkdir -p "$DEMO"
echo "== 1. a synthetic Llama-style model with outlier channels (tools/gen-model.c)"
"$BIN/awq-gen-model" --preset tiny --seed 1 --out "$DEMO/model"
ls -l "$DEMO/model"
echo "== 2. synthetic calibration tokens"
"$BIN/awq-gen-tokens" --vocab 512 --count 16384 --seed 2 --out "$DEMO/calib.i32"
echo "== 3. the embedding table as a store object (zstd chunks, XXH3-128 key)"
key=$("$BIN/awq-obj" put --kind demo "calib=$DEMO/calib.i32:I32:16384")
"$BIN/awq-obj" info "$key"
echo
echo "not yet: the quantization pipeline (capture -> scale-search -> clip-search -> pack ->"
echo "assemble) arrives with issues 3-5; 'make demo' will then quantize this model end to end."
