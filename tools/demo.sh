#!/bin/sh
# demo.sh - `make demo`: the main job on an embedded default. A synthetic Llama-style model with
# planted outlier channels (tools/gen-model.c) and synthetic calibration tokens are quantized end
# to end with `make -j quantize` (AWQ w4 g128, AutoAWQ GEMM checkpoint), the same command is run
# again to show that nothing reruns, and FP / RTN / AWQ are compared on held-out tokens.
set -eu
O=${1:-build}
MAKE=${MAKE:-make}
BIN="$O/bin"
DEMO=${DEMO_DIR:-$O/demo}
export AWQ_CACHE=${AWQ_CACHE:-$DEMO/cache}
JOBS=$(nproc 2>/dev/null || echo 2)
mkdir -p "$DEMO"
if [ ! -f "$DEMO/model/config.json" ]; then
    echo "== a synthetic Llama model (C=128, F=256, 2 layers, GQA 4/2, fp16) with 4 outlier channels x20"
    # (the generators print what they wrote on stdout, for scripts; the line above says it)
    "$BIN/awq-gen-model" -q --preset tiny --seed 1 --out "$DEMO/model" >/dev/null
    "$BIN/awq-gen-tokens" -q --vocab 512 --count 8192 --seed 2 --out "$DEMO/calib.i32" >/dev/null
    "$BIN/awq-gen-tokens" -q --vocab 512 --count 8192 --seed 3 --out "$DEMO/eval.i32" >/dev/null
fi
set -- MODEL="$DEMO/model" OUT="$DEMO/out" CALIB="$DEMO/calib.i32" SEQLEN=256 N_SAMPLES=32 O="$O"
echo "== make -j$JOBS quantize $*"
$MAKE --no-print-directory -j"$JOBS" quantize "$@"
echo
echo "== the same command again: every object is in the store, nothing reruns"
$MAKE --no-print-directory -j"$JOBS" quantize "$@"
echo
echo "== the output: an AutoAWQ GEMM checkpoint (vLLM / transformers load it)"
ls -l "$DEMO/out"
echo
echo "== FP vs RTN vs AWQ on held-out synthetic tokens (a random model: its perplexity means little;"
echo "   the KL divergence from the FP model and the top-1 agreement are the meaningful figures)"
"$BIN/awq-eval" -m "$DEMO/model" -t "$DEMO/eval.i32" --seqlen 256 --rtn --quant "$DEMO/out" -o "$DEMO/eval.json"
echo
echo "results: $DEMO/eval.json; store: $AWQ_CACHE (awq-obj ls); per-step logs: $DEMO/out.awq/logs"
