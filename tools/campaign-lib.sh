# campaign-lib.sh - what the fault campaigns (tools/campaign-*.sh, issue 16) share; sourced.
# The real model: stories260K-ffn256 (HF, 5 blocks, hidden 64, ffn 256) from ../shared/assets,
# calibrated on 32 sequences of 256 tokens of its TinyStories calibration stream, group 64: one full
# run takes 10-20 s on 2 shared cores. Override with MODEL, CALIB, QARGS (make variables), JOBS (make -j).
# Every campaign prints a line per trial and a summary table last; its files are in $WORK.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
O=${O:-build}
BIN=$ROOT/$O/bin
ASSETS=$(cd "${AWQ_ASSETS:-$ROOT/../shared/assets}" 2>/dev/null && pwd)
MODEL=${MODEL:-$ASSETS/models/stories260K-ffn256-hf}
CALIB=${CALIB:-$ASSETS/tokens/tinystories_calib.tok512.i32}
QARGS=${QARGS:-GROUP=64 N_SAMPLES=32 SEQLEN=256}
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
SEED=${SEED:-1}

[ -d "$MODEL" ] && [ -f "$CALIB" ] || { echo "$(basename "$0"): no model '$MODEL' or calibration '$CALIB' (set AWQ_ASSETS)" >&2; exit 2; }

machine() {
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(getconf _NPROCESSORS_ONLN) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; ${REV:-$(git -C "$ROOT" rev-parse --short HEAD)}"
}

# quantize STORE OUT LOG [VAR=value...]: one `make quantize` of the campaign's experiment
quantize() {
    _q_store=$1 _q_out=$2 _q_log=$3; shift 3
    AWQ_CACHE="$_q_store" make -C "$ROOT" --no-print-directory -j"$JOBS" quantize O="$O" MODEL="$MODEL" OUT="$_q_out" \
        CALIB="$CALIB" $QARGS "$@" >"$_q_log" 2>&1 </dev/null
}

# the command line a person would type, for the reports
quantize_cmd() { echo "make -j$JOBS quantize MODEL=$MODEL OUT=... CALIB=$CALIB $QARGS"; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

# rand I: a reproducible number in [0, 1) for trial I of this campaign (SEED varies the draw)
rand() { awk -v s="$1" -v seed="$SEED" -v salt="${2:-0}" 'BEGIN {srand(s * 7919 + seed * 104729 + salt * 31); rand(); printf "%.6f", rand()}'; }

# misses LOG...: the steps that computed, per stage ("1 embed;4 capture;...")
misses() { cat "$@" | grep "^awqmake: .* s  miss$" | awk '{print $(NF-3)}' | sort | uniq -c | awk '{printf "%s %s;", $1, $2}'; }

# reference DIR: an uninterrupted run from an empty store into DIR/ref (made once, reused while the
# campaign's settings are the same); sets REF and REF_S (its wall time)
reference() {
    REF=$1/ref
    _r_id=$(printf '%s\n' "$MODEL" "$CALIB" "$QARGS" "${REV:-$(git -C "$ROOT" rev-parse HEAD)}" | md5sum | cut -c1-12)
    if [ -f "$REF/config.json" ] && [ "$(cat "$1/ref.id" 2>/dev/null)" = "$_r_id" ]; then
        REF_S=$(cat "$1/ref.seconds")
        echo "reference: $REF (kept; an uninterrupted run took $REF_S s)"
        return 0
    fi
    rm -rf "$1/ref" "$1/ref.awq" "$1/ref-store"
    _r_t=$(now)
    quantize "$1/ref-store" "$REF" "$1/ref.log" || { echo "reference run failed:"; tail "$1/ref.log"; exit 1; }
    REF_S=$(since "$_r_t")
    echo "$REF_S" >"$1/ref.seconds"
    echo "$_r_id" >"$1/ref.id"
    echo "reference: $REF, an uninterrupted run from an empty store: $REF_S s ($(misses "$1/ref.log"))"
}
