#!/bin/sh
# step.sh (installed as build/bin/awq-step) - run one pipeline step for make and report it.
#   awq-step TARGET BLOCK STAGE [FILE...] -- PROGRAM ARGS...
# TARGET is the file the plan.mk rule makes; FILE... the other files the step makes (a quantize
# step: every block's scales, clip and packed objects). Prints one line per finished step:
# "awqmake: block 3 quantize  2.41 s  miss" (miss: computed; hit: another make, or another
# experiment sharing the store, made it meanwhile; objects present when the plan was made are
# counted by awq-plan and never run), checks that the key the program printed names TARGET (plan
# and stage must agree), keeps the program's messages in $AWQ_WORK/logs/ and shows them when it
# fails, and marks the step as running meanwhile ($AWQ_WORK/running/, read by `make status`).
#
# One computation per object: the program runs under awq-claim, which holds a claim on each file
# the step makes while it runs (cache/claim.h: beside the store objects, in $AWQ_WORK/claims for
# the output's files), waiting while another process - of this make, of another make on this OUT
# or sharing these objects, of another host on a shared store - holds one. Once they are held, a
# step whose files all exist is not run (a hit).
#
# Where it runs: here, on the GPU whose memory units it takes (DEVICES, slots.h), or with
# AWQ_LAUNCHER=slurm (make quantize LAUNCHER=slurm, inside an allocation) as a Slurm job step on
# whichever node has room: `srun` with one task, the step's memory ($AWQ_STEP_MB, from the plan),
# one GPU when the allocation has GPUs, --exclusive, and $AWQ_SRUN_FLAGS. The claim is taken on
# that node (its record names the host, which `make status` shows); a step Slurm kills costs only
# itself: the next make finds its claim's holder gone and runs it again.
#
# Self-healing reads: a program that finds an input object missing or damaged (moved aside by
# the read) exits with 75; the step then asks make (plan.mk, without the jobserver of the make
# that runs it) for TARGET again, which makes the input first and then runs this step once more,
# in the same run. $AWQ_HEAL_DEPTH bounds how deep such repairs nest.
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
# (internal) the start of a Slurm job step (LAUNCHER=slurm, below): note the step and its host
# beside the running file, for tests and people, then run the rest
if [ "${1:-}" = --in-step ]; then
    { echo "${SLURM_JOB_ID:-?}.${SLURM_STEP_ID:-?} $(uname -n)" >"$2"; } 2>/dev/null
    shift 2
    exec "$@"
fi
[ $# -ge 4 ] || { echo "$usage" >&2; echo "try 'awq-step --help'" >&2; exit 2; }
target=$1; block=$2; stage=$3; shift 3
files=$target   # every file the step makes (no spaces: they are make targets)
for f in "$@"; do [ "$f" = "--" ] && break; files="$files $f"; done
bin=$(cd "$(dirname "$0")" && pwd)
work=${AWQ_WORK:-.}
name="$stage"; [ "$block" != "-" ] && name="$stage.block$block"
mkdir -p "$work/logs" "$work/running"
log="$work/logs/$name.log"
host=$(uname -n)
{ echo "$$ $host" >"$work/running/$name"; } 2>/dev/null   # (a full disk: make status misses it, nothing worse)
# assemble and shard write files of the output, not store objects: no key to check, and their
# claims go in the work directory (the shards directory and OUT's parent hold nothing else)
keyed=1; claim_in=
case $stage in assemble|shard) keyed=0; claim_in="--in $work/claims" ;; esac
# the output is up to date when it is newer than the keys it was assembled from
newer=; [ "$stage" = assemble ] && newer="--newer-than $work/out.keys"
# Several stages share the cores under make -j: OpenMP threads that spin while they wait for
# work (libgomp's default) would burn the cores the other stages need.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# The stages allocate buffers of hundreds of MB: glibc's malloc then asks for transparent huge
# pages (where the kernel offers them on request), 512 times fewer page faults to fill them.
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
# GPU memory between concurrent awq-quantize steps is shared out by the program itself
# (stages/common/slots.h: AWQ_QUANTIZE_JOBS scale searches at once), through $AWQ_WORK/slots.
export AWQ_WORK="$work"
# LAUNCHER=slurm: the program runs under srun (see the top); DEVICES is Slurm's business then
launch=
if [ "${AWQ_LAUNCHER:-local}" = slurm ]; then
    gres=
    # one GPU per step when the allocation has GPUs and the step may use one (not DEVICE=cpu);
    # asked of scontrol once per allocation
    case " $* " in *" --device cpu "*) ;; *)
        gpus=$work/slurm-gpus.${SLURM_JOB_ID:-none}
        if [ ! -f "$gpus" ]; then
            if [ -n "${SLURM_JOB_GPUS:-}${SLURM_GPUS_ON_NODE:-}${SLURM_GPUS:-}" ] ||
               scontrol show job "${SLURM_JOB_ID:-}" 2>/dev/null | grep -q 'gres/gpu'; then
                echo 1 >"$gpus"
            else echo 0 >"$gpus"; fi 2>/dev/null
        fi
        [ "$(cat "$gpus" 2>/dev/null)" = 1 ] && gres=--gres=gpu:1 ;;
    esac
    launch="srun --quiet --nodes=1 --ntasks=1 --exclusive --job-name=awq-$name --mem=${AWQ_STEP_MB:-1024}M $gres ${AWQ_SRUN_FLAGS:-}"
    launch="$launch -- $bin/awq-step --in-step $work/running/$name.slurm"
    export AWQ_DEVICES=slurm   # the GPU Slurm gave the step is its first visible one; no units
fi
PRESENT=3   # awq-claim's status when every file exists once claimed: nothing was run
REBUILD=75  # a program's status when an input object was missing or damaged (stage.h)
start=$(date +%s.%N)
# The program's messages are kept in memory, then written to its log: on a full disk the log may
# not be writable (the program has just failed for want of space), and its error must still be
# shown. Its stdout (the keys it made) and its status come after a marker line.
mark="@@awq-step status@@"
# shellcheck disable=SC2086 # $launch, $claim_in and $newer are commands, options or nothing
res=$( { out=$($launch "$bin/awq-claim" --skip-present $PRESENT $claim_in $newer "$target" "$@" 2>&3 3>&-)
         printf '\n%s %s\n%s' "$mark" "$?" "$out"; } 3>&1 )
msgs=${res%"
$mark "*}                                  # stderr: all before the last marker line
res=${res##*"
$mark "}                                   # "STATUS" or "STATUS<newline>STDOUT"
rc=${res%%"
"*}
out=; case $res in *"
"*) out=${res#*"
"} ;; esac
logged=1
{ printf '%s' "$msgs" >"$log"; } 2>/dev/null || logged=0
{ echo "$start $(date +%s.%N)" >"$work/logs/$name.time"; } 2>/dev/null   # when it ran, for tests and tools
rm -f "$work/running/$name" "$work/running/$name.slurm"
secs=$(echo "$start $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}')
label="block $block"; [ "$block" = "-" ] && label="model"
hit=miss; [ $rc -eq $PRESENT ] && { hit=hit; rc=0; }
depth=${AWQ_HEAL_DEPTH:-0}
if [ $rc -eq $REBUILD ] && [ "$depth" -lt 3 ]; then
    why=$(printf '%s\n' "$msgs" | sed -n 's/^[a-z-]*: error: //p' | head -n 1)
    echo "awqmake: $label $stage: $why; making it again" >&2
    # a file of this step that is still missing: make then runs this step's rule (its existing
    # files would not: the inputs are order-only prerequisites); assemble's rule is the output's
    # config.json, which `all` asks for
    goal=all
    if [ "$stage" != assemble ]; then
        goal=
        for f in $files; do [ -e "$f" ] || { goal=$f; break; }; done
        [ -n "$goal" ] || exit 0   # made meanwhile, by another make
    fi
    AWQ_HEAL_DEPTH=$((depth + 1)); export AWQ_HEAL_DEPTH
    unset MAKEFLAGS MFLAGS MAKELEVEL
    exec "${AWQ_MAKE:-make}" --no-print-directory -f "$work/plan.mk" "$goal"
fi
if [ $rc -ne 0 ]; then
    where="log: $log"; [ $logged -eq 1 ] || where="its log $log could not be written"
    echo "awqmake: $label $stage FAILED after $secs s ($where)" >&2
    msgs=$(printf '%s' "$msgs")   # without its last newline
    [ -z "$msgs" ] || printf '%s\n' "$msgs" | sed 's/^/  /' >&2
    exit $rc
fi
if [ $keyed -eq 1 ] && [ $hit = miss ]; then
    key=$(basename "$(dirname "$target")")$(basename "$target")
    # a step over several blocks prints one key per block; the target's must be among them
    if ! printf '%s\n' "$out" | grep -qx "$key"; then
        echo "awqmake: $label $stage: the program made object $out, the plan expected $key" >&2
        echo "hint: this is a bug (plan and stage disagree on a recipe); please report it" >&2
        exit 1
    fi
fi
printf 'awqmake: %-9s %-13s %7s s  %s\n' "$label" "$stage" "$secs" "$hit" >&2
