#!/bin/sh
# campaign-fuzz.sh - fault campaign (issue 16): every libFuzzer target (tests/fuzz/fuzz_*.c, built
# with ASan + UBSan, -fno-sanitize-recover) run for RUNS executions each, one after the other, from
# the committed seeds (tests/fuzz/seeds/NAME) and corpus (tests/fuzz/corpus/NAME). Records per
# target: executions, seconds, crashes (any crash-/leak-/timeout-/oom- artifact libFuzzer leaves:
# it stops at the first), then minimizes what was found together with the committed corpus
# (-merge=1) and, with KEEP=1 (default), replaces tests/fuzz/corpus/NAME with the result.
#   tools/campaign-fuzz.sh                       # RUNS=1000000 per target
#   RUNS=100000 TARGETS="calib config" tools/campaign-fuzz.sh
# Work files (logs, full corpora, artifacts) are in $WORK (default /tmp/awq-campaign-fuzz).
# Prints a line every PULSE seconds while a target runs, and a summary table last.
set -u
cd "$(dirname "$0")/.."
O=${O:-build}
RUNS=${RUNS:-1000000}
PULSE=${PULSE:-30}
KEEP=${KEEP:-1}
WORK=${WORK:-/tmp/awq-campaign-fuzz}
TARGETS=${TARGETS:-$(for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); echo "${n#fuzz_}"; done)}
mkdir -p "$WORK"

echo "campaign-fuzz: $(date -u '+%Y-%m-%d %H:%M UTC'), $(getconf _NPROCESSORS_ONLN) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(clang --version | head -1)"
echo "building the targets (ASan + UBSan)..."
make --no-print-directory -j"$(nproc)" O="$O" $(for t in $TARGETS; do echo "$O/fuzz/fuzz_$t"; done) >"$WORK/build.log" 2>&1 ||
    { tail -20 "$WORK/build.log"; echo "campaign-fuzz: build failed"; exit 1; }

table="$WORK/table.txt"
printf '%-20s %12s %8s %8s %8s %16s\n' target executions seconds exec/s crashes "corpus kept" >"$table"
total_crashes=0
for t in $TARGETS; do
    bin="$O/fuzz/fuzz_$t"
    corpus="$WORK/corpus-$t"; art="$WORK/artifacts-$t/"; log="$WORK/fuzz_$t.log"
    mkdir -p "$corpus" "$art" "tests/fuzz/corpus/$t"
    rm -f "$art"*
    inputs="$corpus"
    [ -d "tests/fuzz/seeds/$t" ] && inputs="$inputs tests/fuzz/seeds/$t"
    inputs="$inputs tests/fuzz/corpus/$t"
    echo "fuzz_$t: $RUNS executions..."
    t0=$(date +%s)
    # shellcheck disable=SC2086
    "$bin" -runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art" $inputs >"$log" 2>&1 &
    pid=$!
    while kill -0 $pid 2>/dev/null; do
        i=0
        while [ $i -lt "$PULSE" ] && kill -0 $pid 2>/dev/null; do sleep 1; i=$((i + 1)); done
        kill -0 $pid 2>/dev/null && echo "  fuzz_$t: $(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#') executions, $(( $(date +%s) - t0 )) s"
    done
    wait $pid; rc=$?
    secs=$(( $(date +%s) - t0 ))
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    crashes=$(ls "$art" | grep -c -E '^(crash|leak|timeout|oom|slow-unit)-' )
    [ $rc -ne 0 ] && [ "$crashes" -eq 0 ] && crashes="rc=$rc"
    [ "$crashes" != 0 ] && { total_crashes=$((total_crashes + 1)); echo "  fuzz_$t: CRASH, see $log and $art"; grep -m3 -E 'ERROR|runtime error|Test unit written' "$log" | sed 's/^/    /'; }
    kept="-"
    if [ "$KEEP" = 1 ]; then
        rm -rf "$WORK/merged-$t"; mkdir -p "$WORK/merged-$t"
        # shellcheck disable=SC2086
        "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$WORK/merged-$t" "tests/fuzz/corpus/$t" "$corpus" >"$WORK/merge_$t.log" 2>&1 &&
            { rm -rf "tests/fuzz/corpus/$t"; mv "$WORK/merged-$t" "tests/fuzz/corpus/$t"; }
        kept="$(ls "tests/fuzz/corpus/$t" | wc -l) files $(du -sk "tests/fuzz/corpus/$t" | cut -f1)K"
    fi
    rate=$(awk -v e="${execs:-0}" -v s="$secs" 'BEGIN{printf "%d", (s > 0 ? e / s : e)}')
    echo "  fuzz_$t: done, $execs executions in $secs s, crashes: $crashes, corpus kept: $kept"
    printf '%-20s %12s %8s %8s %8s %16s\n' "fuzz_$t" "$execs" "$secs" "$rate" "$crashes" "$kept" >>"$table"
done
echo
cat "$table"
[ $total_crashes -eq 0 ]
