#!/bin/sh
# step.sh (installed as build/bin/awq-step) - run one pipeline step for make and report it.
#   awq-step TARGET BLOCK STAGE -- PROGRAM ARGS...
# Prints one line per finished step: "awqmake: block 3 clip-search  2.41 s  miss" (miss: computed;
# hit: the object was already there; objects present when the plan was made are counted by
# awq-plan and never run), checks that the key
# the program printed names TARGET (plan and stage must agree), keeps the program's messages in
# $AWQ_WORK/logs/ and shows them when it fails, and marks the step as running meanwhile
# ($AWQ_WORK/running/, read by `make status`).
set -u
target=$1; block=$2; stage=$3; shift 3
[ "$1" = "--" ] && shift
work=${AWQ_WORK:-.}
name="$stage"; [ "$block" != "-" ] && name="$stage.block$block"
mkdir -p "$work/logs" "$work/running"
log="$work/logs/$name.log"
echo $$ >"$work/running/$name"
# a hit: the object appeared meanwhile (another experiment sharing the store made it)
hit=miss; [ "$stage" != "assemble" ] && [ -e "$target" ] && hit=hit
# Several stages share the cores under make -j: OpenMP threads that spin while they wait for
# work (libgomp's default) would burn the cores the other stages need.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# At most AWQ_QUANTIZE_JOBS awq-quantize steps at once (default 4), whatever make -j says: each
# holds its block's activations and the inputs of its linears (~14 GB of GPU memory for a 7B
# model), so an unbounded `make -j` would run out of memory. Captures are never held back.
if [ "$stage" = quantize ] && command -v flock >/dev/null 2>&1; then
    n=${AWQ_QUANTIZE_JOBS:-4}
    mkdir -p "$work/slots"
    slot=
    while [ -z "$slot" ]; do
        i=0
        while [ $i -lt "$n" ]; do
            exec 9>"$work/slots/quantize.$i"      # held (inherited by the program) until the step ends
            if flock -n 9; then slot=$i; break; fi
            i=$((i + 1))
        done
        [ -n "$slot" ] || sleep 0.2
    done
fi
start=$(date +%s.%N)
out=$("$@" 2>"$log")
rc=$?
echo "$start $(date +%s.%N)" >"$work/logs/$name.time"   # when it ran, for tests and tools
rm -f "$work/running/$name"
secs=$(echo "$start $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}')
label="block $block"; [ "$block" = "-" ] && label="model"
if [ $rc -ne 0 ]; then
    echo "awqmake: $label $stage FAILED after $secs s (log: $log)" >&2
    sed 's/^/  /' "$log" >&2
    exit $rc
fi
if [ "$stage" != "assemble" ]; then
    key=$(basename "$(dirname "$target")")$(basename "$target")
    if [ "$out" != "$key" ]; then
        echo "awqmake: $label $stage: the program made object $out, the plan expected $key" >&2
        echo "hint: this is a bug (plan and stage disagree on a recipe); please report it" >&2
        exit 1
    fi
fi
printf 'awqmake: %-9s %-13s %7s s  %s\n' "$label" "$stage" "$secs" "$hit" >&2
