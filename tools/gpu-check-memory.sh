#!/bin/sh
# gpu-check-memory.sh - "fits the GPU it is given" (issue 25) on one GPU, from a CUDA build:
#   1. W7 (tools/bench.sh's Llama-2-7B-shaped model, its first LAYERS blocks, 128 x 512 tokens,
#      every default) `make -j quantize` on the whole card, then with another process holding all
#      but 22 GiB and all but 38 GiB of it: each must succeed with an OUT byte-identical to the
#      whole card's;
#   2. one Llama-2-70B-shaped block (awq-gen-model --preset llama-70b --layers 1) and one
#      Mixtral-8x7B block with all but 22 GiB held (their scale searches must run in token chunks),
#      each compared with the same block on the whole card;
#   3. a table: seconds, the GPU memory the run added at its peak (nvidia-smi, every 0.5 s, less
#      what was used before it started), the plan's estimate per step and concurrency, same OUT.
#   tools/gpu-check-memory.sh BUILD [LAYERS]          (LAYERS default 4; about 6-8 minutes on an H100)
# The holder is a small PyTorch program (python3 with torch); SKIP_BIG=1 leaves out part 2.
set -u
O=$(cd "${1:-build-cuda}" && pwd); LAYERS=${2:-4}
BIN=$O/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${CHECK_DIR:-/tmp/gpucheck-memory}
mkdir -p "$B"
python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null || { echo "needs python3 with torch and a GPU" >&2; exit 2; }
[ -f "$B/w7/config.json" ] || "$BIN/awq-gen-model" -q --preset w7 --layers "$LAYERS" --seed 7 --out "$B/w7" >/dev/null
[ -f "$B/l70/config.json" ] || "$BIN/awq-gen-model" -q --preset llama-70b --layers 1 --seed 7 --out "$B/l70" >/dev/null
[ -f "$B/mx/config.json" ] || "$BIN/awq-gen-model" -q --preset mixtral-8x7b --layers 1 --seed 7 --out "$B/mx" >/dev/null
[ -f "$B/calib.i32" ] || "$BIN/awq-gen-tokens" --vocab 32000 --count 65536 --seed 8 --out "$B/calib.i32" 2>/dev/null
nvidia-smi --query-gpu=index,name,memory.total,memory.used --format=csv,noheader 2>/dev/null | sed 's/^/gpu /'

used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -1; }
holder=
hold() { # GIB: hold all but GIB GiB of GPU 0 until release
    python3 -c 'import sys, time, torch
free, total = torch.cuda.mem_get_info(0)
keep = int(float(sys.argv[1]) * 2**30)
x = torch.empty(max(free - keep, 0), dtype=torch.uint8, device="cuda:0")
free, _ = torch.cuda.mem_get_info(0)
print("held %.1f GiB, %.2f GiB free" % (x.numel() / 2**30, free / 2**30), flush=True)
time.sleep(3600)' "$1" >"$B/holder.out" 2>&1 &
    holder=$!
    while ! grep -q held "$B/holder.out" 2>/dev/null; do
        kill -0 $holder 2>/dev/null || { cat "$B/holder.out"; exit 1; }
        sleep 0.2
    done
    cat "$B/holder.out"
}
release() { [ -n "$holder" ] && kill $holder 2>/dev/null && wait $holder 2>/dev/null; holder=; sleep 1; }
trap release EXIT

: >"$B/table"
run() { # LABEL MODEL: a cold `make -j quantize` (its own store and OUT), with defaults
    label=$1 model=$2
    rm -rf "$B/$label" "$B/$label.awq" "$B/store-$label"
    sync
    base=$(used); peak=$base
    (while :; do u=$(used); [ "$u" -gt "$peak" ] && peak=$u && echo "$peak" >"$B/$label.peak"; sleep 0.5; done) &
    poll=$!
    echo "$base" >"$B/$label.peak"
    t0=$(date +%s.%N)
    # the plan and its make run directly, as `make quantize` runs them: that target would first
    # check the build (deps, flags) on a machine that has only the carried programs
    { AWQ_CACHE="$B/store-$label" AWQ_VERBOSE=1 "$BIN/awq-plan" --model "$B/$model" --calib "$B/calib.i32" --out "$B/$label" \
        --work "$B/$label.awq" --bin "$BIN" --seqlen 512 &&
      AWQ_CACHE="$B/store-$label" AWQ_VERBOSE=1 make --no-print-directory -j -f "$B/$label.awq/plan.mk" all; } >"$B/$label.log" 2>&1
    rc=$?
    t=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}')
    kill $poll 2>/dev/null; wait $poll 2>/dev/null
    add=$(( $(cat "$B/$label.peak") - base ))
    plan=$(sed -n 's/.*plan: gpu0 [^:]*: \(.*\)$/\1/p' "$B/$label.log" | head -1)
    chunks=$(cat "$B/$label.awq"/logs/quantize.block*.log 2>/dev/null | grep -c "scale search in chunks")
    waits=$(cat "$B/$label.awq"/logs/quantize.block*.log 2>/dev/null | grep -c "out of memory holding")
    [ $rc -eq 0 ] || { echo "$label FAILED (rc $rc):"; tail -n 15 "$B/$label.log"; }
    printf '%-10s rc %d  %6s s  peak +%6d MiB  chunked %d  oom-waits %d  | %s\n' "$label" $rc "$t" "$add" "$chunks" "$waits" "$plan" \
        | tee -a "$B/table"
}
same() { if diff -r "$B/$1" "$B/$2" >/dev/null 2>&1; then echo "$2: OUT byte-identical to $1"; else echo "$2: OUT DIFFERS from $1"; fi | tee -a "$B/table"; }

run w7-full w7
hold 22; run w7-22g w7; release; same w7-full w7-22g
hold 38; run w7-38g w7; release; same w7-full w7-38g
if [ "${SKIP_BIG:-0}" != 1 ]; then
    hold 22; run l70-22g l70; release
    run l70-full l70; same l70-full l70-22g
    hold 22; run mx-22g mx; release
    run mx-full mx; same mx-full mx-22g
fi
echo "--- $(nvidia-smi --query-gpu=name --format=csv,noheader -i 0), $(date -u +%Y-%m-%d), build $O"
cat "$B/table"
