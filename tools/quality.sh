#!/bin/sh
# quality.sh - the figures of docs/QUALITY.md: FP / RTN / AWQ perplexity, KL and top-1 of the
# real stories260K (FFN padded to 256) for w4 and w3, per-channel and group 64, calibrated on
# tokens/tinystories_calib.tok512.i32 and evaluated on the disjoint tokens/tinystories_eval.tok512.i32.
#   tools/quality.sh [N_SAMPLES]     (needs ../shared/assets; writes build/quality/*.json)
set -eu
A=${AWQ_ASSETS:-../shared/assets}
M=$A/models/stories260K-ffn256-hf
N=${1:-0}
Q=build/quality
mkdir -p $Q
export AWQ_CACHE=${AWQ_CACHE:-$Q/cache}
for cfg in "4 64" "4 -1" "3 64" "3 -1"; do
    set -- $cfg
    out=$Q/w$1g$2
    make --no-print-directory -j2 quantize MODEL=$M OUT=$out CALIB=$A/tokens/tinystories_calib.tok512.i32 \
        SEQLEN=512 N_SAMPLES=$N W_BIT=$1 GROUP=$2
    make --no-print-directory compare MODEL=$M OUT=$out EVAL=$A/tokens/tinystories_eval.tok512.i32 EVAL_SEQLEN=512 \
        W_BIT=$1 GROUP=$2
    cp $out.awq/eval.json $Q/eval-w$1g$2.json
done
