#!/bin/sh
# bench.sh - `make bench`: the W7 (Llama-2-7B-shaped) pipeline on this machine's GPU, cold, warm
# (nothing to do), after changing only the clip grid, and after changing only the group size.
# Prints per stage: seconds (summed over blocks), the stage's FLOPs (the AWQ search as the spec
# defines it, 128 x 512 calibration tokens, w4 g128, n_grid 20), achieved TFLOP/s and the ratio to
# the FLOP floor at the cuBLAS fp16 peak measured in the same run.
#   tools/bench.sh [O] [LAYERS]      (LAYERS < 32 runs the first blocks only: per-block figures hold;
#                                     BENCH_JOBS: make -j, default the number of cores: GPU memory is
#                                     shared out by awq-quantize itself, AWQ_QUANTIZE_JOBS)
set -eu
O=${1:-build}
LAYERS=${2:-32}
BIN=$(cd "$O/bin" && pwd)
B=${BENCH_DIR:-$O/bench}
export AWQ_CACHE=$B/cache
mkdir -p "$B"
if [ ! -f "$B/w7/config.json" ]; then
    t0=$(date +%s.%N)
    "$BIN/awq-gen-model" -q --preset w7 --layers "$LAYERS" --seed 7 --out "$B/w7" >/dev/null
    echo "generated W7 ($LAYERS layers) in $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}') s" >&2
fi
[ -f "$B/calib.i32" ] || "$BIN/awq-gen-tokens" --vocab 32000 --count 65536 --seed 8 --out "$B/calib.i32" 2>/dev/null
peak=$("$BIN/awq-bench-kernels" --device cuda --seqs 1 --reps 3 2>&1 | sed -n 's/.*GEMM fp16 \([0-9.]*\) TFLOP.*/\1/p' | head -1)
[ -n "$peak" ] || peak=0
run() { # label, extra awq-plan args. Plans and runs the plan directly (no rebuild of the programs)
    label=$1; shift
    rm -rf "$B/out.awq/logs"
    sync   # each run starts with the disk idle, not still writing the previous run's objects
    t0=$(date +%s.%N)
    { "$BIN/awq-plan" --model "$B/w7" --calib "$B/calib.i32" --out "$B/out" --work "$B/out.awq" --bin "$BIN" --seqlen 512 \
        --device cuda "$@" && make --no-print-directory -j"${BENCH_JOBS:-$(nproc)}" -f "$B/out.awq/plan.mk" all; } >"$B/$label.log" 2>&1 ||
        { tail -20 "$B/$label.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$label $(echo "$t0 $t1" | awk '{printf "%.1f", $2-$1}')" >>"$B/times"
    # the steps' own messages, for the searches inside awq-quantize
    cat "$B/out.awq/logs"/*.log >"$B/$label.steps.log" 2>/dev/null || true
}
: >"$B/times"
run cold
run warm
run clip_grid --clip-grid 10
run group --group 64
# FLOPs per block (spec §2: N tokens, C hidden, F ffn, T = 512 per sequence)
awk -v peak="$peak" -v L="$LAYERS" '
BEGIN { N = 65536; C = 4096; F = 11008; T = 512; G = 20
  attn = 4 * N * T * C                      # scores + weighted sum, causal half not subtracted
  fwd  = 2 * N * (4 * C * C + 3 * C * F) + attn
  fl["capture"] = fwd
  fl["scale-search"] = fwd + G * (2 * N * 4 * C * C + attn) + G * 2 * N * C * C + G * 2 * N * 3 * C * F + G * 2 * N * C * F
  fl["clip-search"] = fwd + 2 * 512 * 10 * (2 * C * C + 3 * C * F)
  fl["apply-scale"] = 0; fl["pack"] = 0; fl["embed"] = 0; fl["assemble"] = 0
  fl["quantize"] = fl["scale-search"] + fl["clip-search"]   # awq-quantize: both searches of a block
  fl[" scale search"] = fl["scale-search"]; fl[" clip search"] = fl["clip-search"] }

/^awqmake: / && / s  (hit|miss)$/ { st = $(NF-3); s[st] += $(NF-2); n[st]++ }
# inside awq-quantize (its log lines): the two searches on their own
/groups searched in [0-9.]+ s$/ { st = " scale search"; s[st] += $(NF-1); n[st]++ }
/linears clipped in [0-9.]+ s$/ { st = " clip search"; s[st] += $(NF-1); n[st]++ }
END {
  printf "%-13s %6s %9s %10s %9s %9s\n", "stage", "runs", "seconds", "PFLOP", "TFLOP/s", "x floor"
  for (st in s) { pf = fl[st] * n[st] / 1e15; tf = s[st] > 0 ? fl[st] * n[st] / s[st] / 1e12 : 0
    floor = peak > 0 ? fl[st] * n[st] / (peak * 1e12) : 0
    printf "%-13s %6d %9.2f %10.3f %9.1f %9s\n", st, n[st], s[st], pf, tf, (floor > 0 ? sprintf("%.1f", s[st] / floor) : "-") }
  printf "(cuBLAS fp16 peak measured: %s TFLOP/s; %d of 32 blocks; the indented rows are parts of quantize)\n", peak, L }' \
    "$B/cold.log" "$B/cold.steps.log"
echo
echo "whole pipeline (wall, seconds):"
cat "$B/times"
