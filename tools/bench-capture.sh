#!/bin/sh
# bench-capture.sh - the capture chain of W7 (Llama-2-7B-shaped, 128 x 512 calibration tokens) on
# this machine's GPU, with each of several builds, in seconds per block: the chain alone (embed,
# then each block's capture, one at a time), then (FULL=1) inside the cold pipeline, where the
# captures share the GPU and the cores with the quantize steps (what tools/bench.sh sums).
#   tools/bench-capture.sh BUILD[:CODEC]... [-- LAYERS]
#   e.g. tools/bench-capture.sh build-main build-cuda build-cuda:raw -- 8
# (BUILD:CODEC runs that build with AWQ_STORE_CODEC=CODEC: raw, split, shuffle, zstd; cache/store.h)
# Each build gets its own store (a build before object format 3 cannot read newer objects); the
# model and the tokens are made once, by the first build. AWQ_PROFILE=1 splits one capture of
# each build into its phases. Env: BENCH_DIR (default /tmp/awq-bench-capture), FULL=1,
# BENCH_JOBS (make -j of the full run, default the number of cores); for a smoke run on the CPU:
# DEVICE=cpu MODEL=DIR CALIB=FILE.i32 PLAN_ARGS="--group 64" (LAYERS must be the model's).
set -eu
builds=""
LAYERS=8
while [ $# -gt 0 ]; do
    case $1 in
        --) shift; LAYERS=${1:-8}; break ;;
        *) builds="$builds $1"; shift ;;
    esac
done
[ -n "$builds" ] || { echo "usage: tools/bench-capture.sh BUILD... [-- LAYERS]" >&2; exit 2; }
B=${BENCH_DIR:-/tmp/awq-bench-capture}
mkdir -p "$B"
first=$(echo $builds | cut -d' ' -f1 | cut -d: -f1)
MODEL=${MODEL:-$B/w7}
CALIB=${CALIB:-$B/calib.i32}
if [ ! -f "$MODEL/config.json" ]; then
    "$first/bin/awq-gen-model" -q --preset w7 --layers "$LAYERS" --seed 7 --out "$MODEL" >/dev/null
fi
[ -f "$CALIB" ] || "$first/bin/awq-gen-tokens" --vocab 32000 --count 65536 --seed 8 --out "$CALIB" 2>/dev/null
echo "machine: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $MODEL, $LAYERS blocks, $(date -u +%F)"

# plan BUILD NAME: a fresh store and plan for BUILD; prints the path of the last block input
plan() {
    rm -rf "$B/$2"
    AWQ_CACHE="$B/$2/cache" "$1/bin/awq-plan" --model "$MODEL" --calib "$CALIB" --out "$B/$2/out" --work "$B/$2/out.awq" \
        --bin "$(cd "$1/bin" && pwd)" --seqlen 512 --device "${DEVICE:-cuda}" ${PLAN_ARGS:-} >"$B/$2.plan.log" 2>&1 || { cat "$B/$2.plan.log" >&2; exit 1; }
    k=$(awk -v l=$((LAYERS - 1)) '$1 == l && $2 == "input" { print $3 }' "$B/$2/out.awq/manifest.tsv")
    echo "$B/$2/cache/objects/$(echo "$k" | cut -c1-2)/$(echo "$k" | cut -c3-)"
}
# per_block LOG: "N mean min max" of the capture steps' seconds in a make log
per_block() {
    awk '/^awqmake: .* capture +[0-9.]+ s  (hit|miss)$/ { s = $(NF-2); n++; t += s; if (n == 1 || s < lo) lo = s; if (s > hi) hi = s }
         END { if (n) printf "%d %.3f %.3f %.3f\n", n, t / n, lo, hi; else print "0 - - -" }' "$1"
}

i=0
for spec in $builds; do
    i=$((i + 1))
    name=b$i
    b=${spec%%:*}
    case $spec in *:*) export AWQ_STORE_CODEC=${spec#*:} ;; *) unset AWQ_STORE_CODEC ;; esac
    last=$(plan "$b" "$name")
    sync
    AWQ_CACHE="$B/$name/cache" make --no-print-directory -f "$B/$name/out.awq/plan.mk" "$last" >"$B/$name.chain.log" 2>&1 ||
        { tail -20 "$B/$name.chain.log" >&2; exit 1; }
    set -- $(per_block "$B/$name.chain.log")
    printf "%-24s chain alone: %2d captures, %.3f s per block (min %.3f, max %.3f)\n" "$spec" "$1" "$2" "$3" "$4"
    # one capture again under AWQ_PROFILE=1: where its time goes
    rm -f "$last"
    AWQ_CACHE="$B/$name/cache" AWQ_PROFILE=1 make --no-print-directory -f "$B/$name/out.awq/plan.mk" "$last" >"$B/$name.prof.log" 2>&1 || true
    log=$(ls "$B/$name/out.awq/logs"/capture.block$((LAYERS - 2)).log 2>/dev/null || true)
    [ -n "$log" ] && grep "prof:" "$log" | sed 's/^/    /' || true
done
if [ "${FULL:-0}" = 1 ]; then
    i=0
    for spec in $builds; do
        i=$((i + 1))
        name=f$i
        b=${spec%%:*}
        case $spec in *:*) export AWQ_STORE_CODEC=${spec#*:} ;; *) unset AWQ_STORE_CODEC ;; esac
        plan "$b" "$name" >/dev/null
        sync
        t0=$(date +%s.%N)
        AWQ_CACHE="$B/$name/cache" make --no-print-directory -j"${BENCH_JOBS:-$(nproc)}" -f "$B/$name/out.awq/plan.mk" all \
            >"$B/$name.full.log" 2>&1 || { tail -20 "$B/$name.full.log" >&2; exit 1; }
        t1=$(date +%s.%N)
        set -- $(per_block "$B/$name.full.log")
        printf "%-24s cold pipeline %.1f s: %2d captures, %.3f s per block (min %.3f, max %.3f), %.1f s summed\n" "$spec" \
            "$(echo "$t0 $t1" | awk '{print $2 - $1}')" "$1" "$2" "$3" "$4" "$(echo "$1 $2" | awk '{print $1 * $2}')"
        rm -rf "$B/$name"
    done
fi
