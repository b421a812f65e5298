#!/bin/sh
# gpu-check-moe.sh - the mixture-of-experts checks of issue 17 on the device machine, from a CUDA
# build O (carried, with O/lib holding the libraries the device lacks):
#   1. every backend op CPU vs CUDA (tests/test_backends.c, add_rows included);
#   2. the forward of tests/golden/{mixtral_moe,qwen3_moe} on CUDA: perplexity against the CPU's;
#   3. the AWQ pipeline with DEVICE=cuda and DEVICE=cpu on both: packed bytes and the grid and
#      clip picks compared (tools/golden/compare_picks.py), CPU and CUDA times.
set -u
O=${1:-build-gpu}; OUTD=${2:-/tmp/gpumoe}
BIN=$(cd "$O/bin" && pwd)
export LD_LIBRARY_PATH=$PWD/$O/lib:${LD_LIBRARY_PATH:-}
mkdir -p "$OUTD"
"$BIN/awq-gen-tokens" --vocab 256 --count 8192 --seed 5 --out "$OUTD/calib.i32" >/dev/null 2>&1
"$BIN/awq-gen-tokens" --vocab 256 --count 8192 --seed 6 --out "$OUTD/eval.i32" >/dev/null 2>&1
echo "== 1. CPU vs CUDA, every op"
O=$O tests/run.sh test_backends 2>&1 | grep -E "FAIL|passed"
for m in mixtral_moe:32 qwen3_moe:16; do
    name=${m%%:*} group=${m##*:} M=tests/golden/${m%%:*}
    echo "== 2. $name: eval on cuda and cpu (fp32 and fp16)"
    for num in fp32 fp16; do
        for dev in cpu cuda; do
            "$BIN/awq-eval" -m "$M" -t "$OUTD/eval.i32" --seqlen 128 --numerics $num --device $dev -o /dev/null 2>&1 |
                grep "model " | sed "s/^/$num $dev: /"
        done
    done
    echo "== 3. $name: pipeline cpu vs cuda (64 x 128 tokens, w4 g$group)"
    for dev in cpu cuda; do
        t0=$(date +%s.%N)
        AWQ_CACHE=$OUTD/store-$name-$dev "$BIN/awq-plan" --model "$M" --calib "$OUTD/calib.i32" --out "$OUTD/out-$name-$dev" \
            --work "$OUTD/out-$name-$dev.awq" --bin "$BIN" --seqlen 128 --n-samples 64 --group $group --device $dev -q &&
        AWQ_CACHE=$OUTD/store-$name-$dev make --no-print-directory -j4 -f "$OUTD/out-$name-$dev.awq/plan.mk" all \
            2>"$OUTD/$name-$dev.log" || tail -5 "$OUTD/$name-$dev.log"
        echo "$dev: $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}') s"
    done
    python3 - "$OUTD/out-$name-cpu" "$OUTD/out-$name-cuda" <<'PY'
import sys
sys.path.insert(0, 'tests')
from dequant_check import tensors
a, c = tensors(sys.argv[1]), tensors(sys.argv[2])
tot = diff = 0
for k in a:
    if k.endswith('.qweight'):
        for x, y in zip(a[k][2], c[k][2]): tot += 1; diff += x != y
print("packed qweight bytes identical: %d of %d (%.3f%%)" % (tot - diff, tot, 100.0 * (tot - diff) / max(tot, 1)))
PY
    echo "grid and clip picks, each backend on its own captures (a token routed otherwise moves an expert's sampled rows):"
    python3 tools/golden/compare_picks.py "$BIN/awq-obj" "$OUTD/out-$name-cpu.awq/manifest.tsv" "$OUTD/store-$name-cpu" \
        "$OUTD/store-$name-cuda" | grep -v "^block "
    # the same searches on the SAME inputs: the CPU run's act objects, the searches on CUDA
    rm -rf "$OUTD/store-$name-mix" && cp -r "$OUTD/store-$name-cpu" "$OUTD/store-$name-mix"
    for k in $(awk -F'\t' '$2 == "quantize" || $2 == "scale-search" || $2 == "clip-search" || $2 == "pack" || $2 == "clip-inputs" {print $3}' \
               "$OUTD/out-$name-cpu.awq/manifest.tsv"); do
        rm -f "$OUTD/store-$name-mix/objects/$(echo $k | cut -c1-2)/$(echo $k | cut -c3-)"
    done
    AWQ_CACHE=$OUTD/store-$name-mix "$BIN/awq-plan" --model "$M" --calib "$OUTD/calib.i32" --out "$OUTD/out-$name-mix" \
        --work "$OUTD/out-$name-mix.awq" --bin "$BIN" --seqlen 128 --n-samples 64 --group $group --device cuda -q &&
    AWQ_CACHE=$OUTD/store-$name-mix make --no-print-directory -j4 -f "$OUTD/out-$name-mix.awq/plan.mk" all \
        2>"$OUTD/$name-mix.log" || tail -5 "$OUTD/$name-mix.log"
    echo "grid and clip picks on the same inputs (the CPU's captures), searched on the CPU and on CUDA:"
    python3 tools/golden/compare_picks.py "$BIN/awq-obj" "$OUTD/out-$name-cpu.awq/manifest.tsv" "$OUTD/store-$name-cpu" \
        "$OUTD/store-$name-mix" | grep -v "^block "
    for dev in cpu cuda; do
        AWQ_CACHE=$OUTD/store-$name-$dev "$BIN/awq-eval" -m "$M" -t "$OUTD/eval.i32" --seqlen 128 --device cpu \
            --quant "$OUTD/out-$name-$dev" --rtn --rtn-group $group -o /dev/null 2>&1 | tail -3 | sed "s/^/$dev out: /"
    done
done
