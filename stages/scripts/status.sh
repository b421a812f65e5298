#!/bin/sh
# status.sh (installed as build/bin/awq-status WORK BIN) - `make status`: for every block and stage of the plan in WORK, whether
# its object is done (in the store), running (a step is computing it) or missing; and the same
# for the files of the output: each block's shard, the rest shard, and OUT itself (assemble). A
# running one is shown with the host computing it (its claim's, so across a cluster too).
set -eu
case ${1:-} in -h|--help)
    cat <<EOF
usage: awq-status WORK BIN
what \`make status OUT=dir\` prints: for every block and stage of the plan in WORK (OUT.awq), done
(its object is in the store, or its file is written), running (a step is making it) or missing
EOF
    exit 0 ;;
esac
[ $# -eq 2 ] || { echo "usage: awq-status WORK BIN" >&2; echo "try 'awq-status --help'" >&2; exit 2; }
work=$1; bin=$2
man="$work/manifest.tsv"
[ -f "$man" ] || { echo "no plan in '$work' (run make quantize first)" >&2; exit 1; }
store=$(sed -n 's/^STORE := //p' "$work/plan.mk")
out=$(sed -n 's/^OUT := //p' "$work/plan.mk")
# the output's shard files, block by block and the rest last (none when W_BIT has no checkpoint)
shards=$(sed -n 's/^SHARDS := //p' "$work/plan.mk")
this_host=$(uname -n)
lease=${AWQ_CLAIM_LEASE:-60}
# Which host computes a file: the holder of its live claim (cache/claim.h: the record names host
# and pid; from this host a live pid, from another a claim renewed within two leases). Sets $on.
claim_host() { # FILE CLAIMS-DIR-OR-EMPTY
    c=${2:-${1%/*}}/.tmp-claim-${1##*/}; on=
    [ -f "$c" ] || return 1
    h=$(sed -n 's/^host //p' "$c" 2>/dev/null); p=$(sed -n 's/^pid //p' "$c" 2>/dev/null)
    [ -n "$h" ] || return 1
    if [ "$h" = "$this_host" ]; then kill -0 "$p" 2>/dev/null || return 1
    elif [ -z "$(find "$c" -newermt "@$(( $(date +%s) - 2 * ${lease%.*} ))" 2>/dev/null)" ]; then return 1; fi
    on=$h
}
# is the step of running file $1 alive? (its awq-step: "PID HOST"; from another host, trusted)
alive() {
    [ -f "$1" ] || return 1
    read -r p h <"$1" 2>/dev/null || return 1
    on=${h:-$this_host}
    [ "$on" != "$this_host" ] || kill -0 "$p" 2>/dev/null
}
# is an awq-quantize step over block $1 running? (running/quantize.blockN, or .blockA-B for a
# batch of clip-only blocks)
quantize_running() {
    for f in "$work"/running/quantize.block*; do
        case $f in *.slurm) continue ;; esac   # (awq-step's note of its Slurm step)
        [ -f "$f" ] || continue
        r=${f##*.block}; lo=${r%-*}; hi=${r#*-}
        [ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ] && alive "$f" && return 0
    done
    return 1
}
# is the step running/$1 alive?
running() { alive "$work/running/$1"; }
# a row; a running one says on which host
row() { # BLOCK STAGE STATE SHOWN
    if [ "$3" = running ]; then printf '%-6s %-13s %-8s %s  on %s\n' "$1" "$2" "$3" "$4" "$on"
    else printf '%-6s %-13s %-8s %s\n' "$1" "$2" "$3" "$4"; fi
}
# row BLOCK STAGE FILE-EXISTS RUNNING-NAME SHOWN FILE: a file of the output
file_row() {
    if [ "$3" = 1 ]; then state=done; elif claim_host "$6" "$work/claims" || running "$4"; then state=running; else state=missing; fi
    row "$1" "$2" "$state" "$5"
}
# the shard row of block $1 ("rest" for the rest shard)
shard_row() {
    for s in $shards; do
        f=$work/shards/${s##*/}
        case ${s##*/} in
        "$1"-*) if [ "$1" = rest ]; then b=- run=shard; else b=$1 run=shard.block$1; fi
                have=0; [ -f "$f" ] && have=1
                file_row "$b" shard "$have" "$run" "${s##*/}" "$f" ;;
        esac
    done
}
printf '%-6s %-13s %-8s %s\n' block stage state key
tail -n +2 "$man" | while IFS="$(printf '\t')" read -r block stage key; do
    name=$stage; [ "$block" != "-" ] && name="$stage.block$block"
    f=$store/objects/$(echo "$key" | cut -c1-2)/$(echo "$key" | cut -c3-)
    if [ -f "$f" ]; then state=done
    elif claim_host "$f" || running "$name"; then state=running
    elif [ "$block" != "-" ] && quantize_running "$block"; then
        state=running  # awq-quantize makes the scales, clip and packed objects of its block
    else state=missing; fi
    row "$block" "$stage" "$state" "$key"
    if [ "$stage" = pack ]; then shard_row "$block"; fi
done
if [ -n "$shards" ]; then
    shard_row rest
    # OUT is up to date when its config.json is not older than what it depends on (as make sees it)
    have=0; [ -f "$out/config.json" ] && [ ! "$out/config.json" -ot "$work/out.keys" ] && have=1
    file_row - assemble "$have" assemble "$out" "$out"
fi
