#!/bin/sh
# gpu-check-devices.sh - DEVICES on a GPU machine (issue 19), from a CUDA build:
#   1. cold runs of the first LAYERS blocks of W7 (Llama-2-7B-shaped, tools/bench.sh's model and
#      calibration: 128 x 512 tokens) with DEVICES unset (every GPU), DEVICES=0, DEVICES=0,0 (two
#      pools on GPU 0; AWQ_QUANTIZE_JOBS=2 each, so as many searches at once as the default's 4),
#      and, given a second build (BASE, e.g. main's), that build's run as today's speed;
#   2. every OUT compared byte for byte with the default run's;
#   3. a table: seconds, same OUT, the devices the quantize steps logged, the most units one
#      device held at once.
#   tools/gpu-check-devices.sh BUILD [BASE_BUILD|-] [LAYERS]     (LAYERS default 4)
# (CHECK_MODEL and CHECK_DEVICE, default "--preset w7" and cuda, let it be tried on a small model.)
set -u
O=${1:-build-cuda}; BASE=${2:--}; LAYERS=${3:-4}
MODEL_ARGS=${CHECK_MODEL:---preset w7}; DEVICE=${CHECK_DEVICE:-cuda}
BIN=$(cd "$O/bin" && pwd)
B=${CHECK_DIR:-/tmp/gpucheck-devices}
mkdir -p "$B"
[ -f "$B/w7/config.json" ] || "$BIN/awq-gen-model" -q $MODEL_ARGS --layers "$LAYERS" --seed 7 --out "$B/w7" >/dev/null
[ -f "$B/calib.i32" ] || "$BIN/awq-gen-tokens" --vocab 32000 --count 65536 --seed 8 --out "$B/calib.i32" 2>/dev/null
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu /'

# shellcheck disable=SC2086 # $MODEL_ARGS: options
run() { # LABEL BIN DEVICES(or -) [ENV=VALUE...]: a cold run into $B/LABEL (its own store)
    label=$1 bin=$2 devs=$3; shift 3
    rm -rf "$B/$label" "$B/$label.awq" "$B/store-$label"
    sync
    t0=$(date +%s.%N)
    if [ "$devs" = - ]; then set -- env -u AWQ_DEVICES "$@"; else set -- env AWQ_DEVICES="$devs" "$@"; fi
    "$@" AWQ_CACHE="$B/store-$label" AWQ_VERBOSE=1 sh -c '
        "$0/awq-plan" --model "$1/w7" --calib "$1/calib.i32" --out "$1/$2" --work "$1/$2.awq" --bin "$0" --seqlen 512 \
            --device "$3" -q && make --no-print-directory -j"$(nproc)" -f "$1/$2.awq/plan.mk" all' "$bin" "$B" "$label" "$DEVICE" \
        >"$B/$label.log" 2>&1 || { echo "$label FAILED:"; tail -n 20 "$B/$label.log"; }
    echo "$label $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}')" >>"$B/times"
}
: >"$B/times"
[ "$BASE" != - ] && run base "$(cd "$BASE/bin" && pwd)" -
run default "$BIN" -
run dev0 "$BIN" 0
run dev00 "$BIN" 0,0 AWQ_QUANTIZE_JOBS=2
[ "$BASE" != - ] && run base2 "$(cd "$BASE/bin" && pwd)" -   # twice: the first may pay for the page cache
run default2 "$BIN" -

printf '%-9s %8s %9s %-22s %s\n' run seconds "same OUT" "quantize steps on" "most units on one device"
while read -r label secs; do
    same=no; diff -r "$B/default" "$B/$label" >/dev/null 2>&1 && same=yes
    on=$(cat "$B/$label.awq"/logs/quantize.block*.log 2>/dev/null | sed -n 's/.*: device \([a-z0-9]*\).*/\1/p' | sort | uniq -c |
         awk '{printf "%s%sx%s", (NR > 1 ? " " : ""), $2, $1}')
    peak=$(cat "$B/$label.awq"/logs/quantize.block*.log 2>/dev/null |
           sed -n 's/.*gpu units: \([0-9]*\) held \([0-9.]*\)-\([0-9.]*\) on \([a-z0-9]*\)$/\1 \2 \3 \4/p' |
           awk '{ print $2, 1, $1, $4; print $3, 0, -$1, $4 }' | sort -k1,1n -k2,2n |
           awk '{ h[$4] += $3; if (h[$4] > p) p = h[$4] } END { print p + 0 }')
    printf '%-9s %8s %9s %-22s %s\n' "$label" "$secs" "$same" "${on:--}" "$peak"
done <"$B/times"
echo "(default and dev0: pools of 12 units; dev00: two listings of GPU 0 with AWQ_QUANTIZE_JOBS=2, 12 units; base: BASE's programs)"
