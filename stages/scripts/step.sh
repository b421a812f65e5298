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
usage="usage: awq-step TARGET BLOCK STAGE -- PROGRAM ARGS..."
case ${1:-} in -h|--help)
    cat <<EOF
$usage
run one step of an awqmake plan for make (plan.mk runs it; a person runs \`make quantize\`)

  TARGET   the file the step makes (a store object, a shard, the output's config.json)
  BLOCK    the decoder block, a range A-B for a batch, or - for the model
  STAGE    embed, capture, quantize, shard or assemble
  PROGRAM  the awq-* program and its arguments; it prints the key of what it made

Prints one line per finished step on stderr, keeps PROGRAM's messages in \$AWQ_WORK/logs/ and
shows them when it fails; exits with PROGRAM's status.
EOF
    exit 0 ;;
esac
[ $# -ge 4 ] || { echo "$usage" >&2; echo "try 'awq-step --help'" >&2; exit 2; }
target=$1; block=$2; stage=$3; shift 3
[ "$1" = "--" ] && shift
work=${AWQ_WORK:-.}
name="$stage"; [ "$block" != "-" ] && name="$stage.block$block"
mkdir -p "$work/logs" "$work/running"
log="$work/logs/$name.log"
echo $$ >"$work/running/$name"
# a hit: the object appeared meanwhile (another experiment sharing the store made it)
hit=miss; [ "$stage" != "assemble" ] && [ -e "$target" ] && hit=hit
# assemble and shard write files of the output, not store objects: no key to check
keyed=1; case $stage in assemble|shard) keyed=0 ;; esac
# Several stages share the cores under make -j: OpenMP threads that spin while they wait for
# work (libgomp's default) would burn the cores the other stages need.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# The stages allocate buffers of hundreds of MB: glibc's malloc then asks for transparent huge
# pages (where the kernel offers them on request), 512 times fewer page faults to fill them.
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
# GPU memory between concurrent awq-quantize steps is shared out by the program itself
# (stages/common/slots.h: AWQ_QUANTIZE_JOBS scale searches at once), through $AWQ_WORK/slots.
export AWQ_WORK="$work"
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
if [ $keyed -eq 1 ]; then
    key=$(basename "$(dirname "$target")")$(basename "$target")
    # a step over several blocks prints one key per block; the target's must be among them
    if ! printf '%s\n' "$out" | grep -qx "$key"; then
        echo "awqmake: $label $stage: the program made object $out, the plan expected $key" >&2
        echo "hint: this is a bug (plan and stage disagree on a recipe); please report it" >&2
        exit 1
    fi
fi
printf 'awqmake: %-9s %-13s %7s s  %s\n' "$label" "$stage" "$secs" "$hit" >&2
