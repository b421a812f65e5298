#!/bin/sh
# profile.sh - where the time of each pipeline stage goes: the W7-shaped pipeline of
# tools/bench.sh run one step at a time (make -j1, so no stage shares the GPU or the CPU) with
# AWQ_PROFILE=1, then a table per stage of the phases the programs mark (base/prof.h), as the
# mean seconds per run. "process" is what no mark covers: exec, dynamic loading, CUDA context
# creation, teardown.
#   tools/profile.sh [O] [LAYERS]        (default: build, 3 blocks; PRESET=tiny TOKENS=4096 SEQLEN=128
#                                        DEVICE=cpu for a quick look without a GPU; PLAN_ARGS: extra
#                                        awq-plan options, e.g. "--clip-grid 10" after a first run
#                                        profiles the clip-grid rerun; JOBS: make -j, default 1)
set -eu
O=${1:-build}
LAYERS=${2:-3}
BIN=$(cd "$O/bin" && pwd)
B=${BENCH_DIR:-$O/profile}
export AWQ_CACHE=$B/cache AWQ_PROFILE=1
mkdir -p "$B"
[ -f "$B/w7/config.json" ] || "$BIN/awq-gen-model" -q --preset "${PRESET:-w7}" --layers "$LAYERS" --seed 7 --out "$B/w7" >/dev/null
[ -f "$B/calib.i32" ] || "$BIN/awq-gen-tokens" --vocab "${VOCAB:-32000}" --count "${TOKENS:-65536}" --seed 8 --out "$B/calib.i32" 2>/dev/null
rm -rf "$B/out.awq/logs"
"$BIN/awq-plan" --model "$B/w7" --calib "$B/calib.i32" --out "$B/out" --work "$B/out.awq" --bin "$BIN" --seqlen "${SEQLEN:-512}" \
    --device "${DEVICE:-cuda}" ${PLAN_ARGS:-} >"$B/plan.log" 2>&1 || { cat "$B/plan.log" >&2; exit 1; }
make --no-print-directory -j"${JOBS:-1}" -f "$B/out.awq/plan.mk" all >"$B/run.log" 2>&1 || { tail -30 "$B/run.log" >&2; exit 1; }
# step totals from awq-step's lines, phases from the logs (file name = stage[.blockN].log)
awk '
/^awqmake: / && / s  (hit|miss)$/ { st = $(NF-3); tot[st] += $(NF-2); runs[st]++; next }
FNR == 1 { st = FILENAME; sub(/.*\//, "", st); sub(/\.block[0-9-]+\.log$/, "", st); sub(/\.log$/, "", st) }
/^prof: / { lab = $0; sub(/^prof: /, "", lab); sub(/ +\+[0-9.]+$/, "", lab);
            key = st SUBSEP lab; if (!(key in ph)) order[st, ++np[st]] = lab; ph[key] += $NF; marked[st] += $NF }
END {
  for (st in runs) {
    n = runs[st]; printf "%s (%d runs, %.2f s per run)\n", st, n, tot[st] / n
    for (i = 1; i <= np[st]; i++) { lab = order[st, i]; printf "  %-36s %8.3f\n", lab, ph[st, lab] / n }
    printf "  %-36s %8.3f\n", "process, unmarked", (tot[st] - marked[st]) / n
  }
}' "$B/run.log" "$B"/out.awq/logs/*.log
