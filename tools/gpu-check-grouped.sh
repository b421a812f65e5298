#!/bin/sh
# gpu-check-grouped.sh - issue 17 deliverable 4 on one GPU (an H100 80GB), from a CUDA build NEW
# (carried, O/lib holding the libraries the device lacks; build O/tests/test_backends too) and,
# for the before/after, an optional build OLD of main before the grouped experts:
#   1. test_backends on CUDA (NEW): mlp_grouped (silu, tanh GELU) and add_rows against _ref, mlp op,
#      and every other op; awq-bench-kernels --moe: the Qwen3-30B-A3B experts (4096 tokens x top-8)
#      as one mlp_grouped op against one mlp op per expert;
#   2. the DeepSeek-V3-shaped pair of blocks (LAYERS=2 tools/bench-moe.sh deepseek-v3: one dense,
#      one MoE block of 256 experts), NEW with the default expert budget (the plan's estimate,
#      memest, gives the MoE block the card alone): seconds per block, peak GPU memory and the
#      largest host RSS against docs/AWQ.md's formula (the experts in one fp16 copy: memest
#      54.7 GiB; before that copy, 71.0 GiB, the run of 2026-12-07 ran out of memory at 80 GB);
#   3. Mixtral-8x7B and Qwen3-30B-A3B blocks (tools/bench-moe.sh, one layer): OLD then NEW,
#      seconds, peak GPU memory, x the FLOP floor;
#   4. the MoE goldens (mixtral_moe, qwen3_moe, deepseek_v3) quantized on CUDA by NEW and by OLD
#      (without OLD: by NEW on the CPU): scale and clip picks compared (tools/golden/compare_picks.py;
#      every difference must be a near-tie);
#   5. while time is left: the DeepSeek-V3 pair with a tighter budget (AWQ_EXPERT_BATCH=8), OLD
#      on it (expected: out of GPU memory, as PERFORMANCE.md's first run), and a
#      Qwen3-235B-A22B-shaped block (NEW).
# Everything runs under timeouts within BUDGET_S seconds (default 510: under 9 minutes); a step
# that would not fit what is left is skipped and says so. Generated models go to CHECK_DIR
# (default /tmp/gpugrouped; ~34 GB, removed at the end).
#   tools/gpu-check-grouped.sh NEW [OLD|-]
set -u
NEW=${1:-build-gpu}; OLD=${2:--}
D=${CHECK_DIR:-/tmp/gpugrouped}
BUDGET=${BUDGET_S:-510}
T0=$(date +%s)
mkdir -p "$D"
left() { echo $((BUDGET - ($(date +%s) - T0))); }
lib() { echo "$PWD/$1/lib:${LD_LIBRARY_PATH:-}"; }
# STEP SECONDS BUILD PRESET LAYERS [ENV=VALUE...]: bench-moe.sh under a timeout, its summary lines
bench() {
    label=$1 t=$2 o=$3 preset=$4 layers=$5; shift 5
    if [ "$(left)" -lt 30 ]; then echo "$label: skipped ($(left) s left of $BUDGET)"; return; fi
    [ "$t" -gt "$(left)" ] && t=$(left)
    echo "-- $label ($o, timeout $t s)"
    env LD_LIBRARY_PATH="$(lib "$o")" BENCH_DIR="$D/bench" LAYERS="$layers" "$@" \
        timeout -k 5 "$t" tools/bench-moe.sh "$o" "$preset" 2>&1 |
        grep -E "generated|^awqmake:|per block|block [01]|AWQ FLOPs|peak|rror|out of memory|^ *(embed|capture|quantize|wall) "
}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'

echo "== 1. test_backends on CUDA ($NEW)"
LD_LIBRARY_PATH=$(lib "$NEW") O=$NEW timeout -k 5 150 tests/run.sh test_backends 2>&1 |
    grep -E "FAIL|passed|mlp_grouped/|add_rows/|/mlp/"
echo "-- the Qwen3-30B-A3B experts as one mlp_grouped op and as 128 mlp ops (awq-bench-kernels --moe)"
LD_LIBRARY_PATH=$(lib "$NEW") timeout -k 5 60 "$NEW/bin/awq-bench-kernels" --device cuda --moe --seqs 8 --reps 5 2>&1

echo "== 2. DeepSeek-V3 dense + MoE block, default expert budget"
bench "dsv3 NEW" 260 "$NEW" deepseek-v3 2

echo "== 3. Mixtral-8x7B and Qwen3-30B-A3B blocks, before / after"
for p in mixtral-8x7b qwen3-30b-a3b; do
    [ "$OLD" != - ] && bench "$p OLD" 60 "$OLD" $p 1
    bench "$p NEW" 60 "$NEW" $p 1
    rm -rf "$D/bench/$p-L1"
done

echo "== 4. MoE goldens: picks of NEW on CUDA against $([ "$OLD" != - ] && echo "OLD on CUDA" || echo "NEW on the CPU")"
if [ "$(left)" -gt 90 ]; then
    LD_LIBRARY_PATH=$(lib "$NEW") "$NEW/bin/awq-gen-tokens" --vocab 256 --count 8192 --seed 5 --out "$D/calib.i32" >/dev/null 2>&1
    for m in mixtral_moe:32 qwen3_moe:16 deepseek_v3:16; do
        name=${m%%:*} group=${m##*:}
        for run in new:$NEW:cuda old:$OLD:cuda cpu:$NEW:cpu; do
            tag=${run%%:*} o=${run#*:} dev=${o#*:} o=${o%%:*}
            [ "$o" = - ] && continue
            [ "$tag" = cpu ] && [ "$OLD" != - ] && continue
            rm -rf "$D/out-$name-$tag" "$D/out-$name-$tag.awq" "$D/store-$name-$tag"
            t0=$(date +%s.%N)
            bin=$(cd "$o/bin" && pwd)
            LD_LIBRARY_PATH=$(lib "$o") AWQ_CACHE=$D/store-$name-$tag timeout -k 5 60 sh -c '
                "$0/awq-plan" --model "tests/golden/$1" --calib "$2/calib.i32" --out "$2/out-$1-$3" --work "$2/out-$1-$3.awq" \
                    --bin "$0" --seqlen 128 --n-samples 64 --group "$4" --device "$5" -q &&
                make --no-print-directory -j4 -f "$2/out-$1-$3.awq/plan.mk" all' "$bin" "$name" "$D" "$tag" "$group" "$dev" \
                >"$D/$name-$tag.log" 2>&1 || tail -3 "$D/$name-$tag.log"
            echo "$name $tag ($dev): $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}') s"
        done
        other=$([ "$OLD" != - ] && echo old || echo cpu)
        LD_LIBRARY_PATH=$(lib "$NEW") python3 tools/golden/compare_picks.py "$NEW/bin/awq-obj" "$D/out-$name-new.awq/manifest.tsv" "$D/store-$name-new" \
            "$D/store-$name-$other" 2>&1 | grep -v "^block " | sed "s/^/$name new vs $other: /"
    done
else
    echo "skipped ($(left) s left)"
fi

echo "== 5. while time is left: a tighter expert budget, OLD on DeepSeek-V3, a Qwen3-235B-A22B block"
bench "dsv3 NEW AWQ_EXPERT_BATCH=8" 240 "$NEW" deepseek-v3 2 AWQ_EXPERT_BATCH=8
[ "$OLD" != - ] && bench "dsv3 OLD" 60 "$OLD" deepseek-v3 2 AWQ_QUANTIZE_JOBS=1
rm -rf "$D/bench/deepseek-v3-L2"
bench "qwen3-235b-a22b NEW" 120 "$NEW" qwen3-235b-a22b 1
rm -rf "$D/bench"
echo "total $(($(date +%s) - T0)) s"
