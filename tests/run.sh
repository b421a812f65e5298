#!/bin/sh
# run.sh - run every test program ($O/tests/test_*), shell test (tests/t_*.sh) and bounded
# fuzz run ($O/fuzz/fuzz_*), and print one closing line "N passed, N failed, N skipped".
# Each test prints PASS/FAIL/SKIP lines; a program that dies without printing FAIL is a failure.
# Usage: O=build FUZZ_TIME=8 tests/run.sh [filter]
O=${O:-build}
FUZZ_TIME=${FUZZ_TIME:-8}
filter=${1:-}
export O
. tests/openblas_kernel.sh  # the sgemm kernel the byte goldens were made with, where the CPU has it
log=$(mktemp)
trap 'rm -f "$log"' EXIT
crashed=0

run_one() { # name, command...
    name=$1; shift
    case "$name" in *"$filter"*) ;; *) return ;; esac
    out=$(mktemp)
    "$@" >"$out" 2>"$out.err"
    rc=$?
    cat "$out" >>"$log"
    grep -E '^(PASS|FAIL|SKIP) ' "$out"
    if [ $rc -ne 0 ] || grep -q '^FAIL ' "$out"; then
        sed 's/^/    /' "$out.err" | tail -n 40
        if ! grep -q '^FAIL ' "$out"; then
            echo "FAIL $name: exited with status $rc" | tee -a "$log"
        fi
    fi
    rm -f "$out" "$out.err"
}

for t in "$O"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/t_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" sh "$t"
done
# Fuzz targets: bounded runs from the committed seeds. Built only when clang has libFuzzer.
for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    n=$(basename "$src" .c)
    case "$n" in *"$filter"*) ;; *) continue ;; esac
    bin="$O/fuzz/$n"
    if [ ! -x "$bin" ]; then
        echo "SKIP fuzz:$n: clang with libFuzzer not available" | tee -a "$log"
        continue
    fi
    corpus="$O/fuzz/corpus-$n"; mkdir -p "$corpus"
    seeds="tests/fuzz/seeds/${n#fuzz_}"; kept="tests/fuzz/corpus/${n#fuzz_}"   # kept: tools/campaign-fuzz.sh
    if "$bin" -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=2048 "$corpus" $( [ -d "$seeds" ] && echo "$seeds") \
            $( [ -d "$kept" ] && echo "$kept") \
            >"$O/fuzz/$n.log" 2>&1; then
        echo "PASS fuzz:$n (${FUZZ_TIME}s, $(grep -c . "$corpus"/* 2>/dev/null | wc -l) corpus entries)" | tee -a "$log"
    else
        echo "FAIL fuzz:$n: see $O/fuzz/$n.log" | tee -a "$log"
        tail -n 30 "$O/fuzz/$n.log" | sed 's/^/    /'
    fi
done

p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
echo
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ] && [ "$p" -gt 0 ]
