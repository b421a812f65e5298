#!/bin/sh
# status.sh (installed as build/bin/awq-status WORK BIN) - `make status`: for every block and stage of the plan in WORK, whether
# its object is done (in the store), running (a step is computing it) or missing.
set -eu
work=$1; bin=$2
man="$work/manifest.tsv"
[ -f "$man" ] || { echo "no plan in '$work' (run make quantize first)" >&2; exit 1; }
store=$(sed -n 's/^STORE := //p' "$work/plan.mk")
done_n=0; run_n=0; miss_n=0
# is an awq-quantize step over block $1 running? (running/quantize.blockN, or .blockA-B for a
# batch of clip-only blocks)
quantize_running() {
    for f in "$work"/running/quantize.block*; do
        [ -f "$f" ] || continue
        r=${f##*.block}; lo=${r%-*}; hi=${r#*-}
        [ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
    done
    return 1
}
printf '%-6s %-13s %-8s %s\n' block stage state key
tail -n +2 "$man" | while IFS="$(printf '\t')" read -r block stage key; do
    name=$stage; [ "$block" != "-" ] && name="$stage.block$block"
    if [ -f "$store/objects/$(echo "$key" | cut -c1-2)/$(echo "$key" | cut -c3-)" ]; then state=done
    elif [ -f "$work/running/$name" ] && kill -0 "$(cat "$work/running/$name")" 2>/dev/null; then state=running
    elif [ "$block" != "-" ] && quantize_running "$block"; then
        state=running  # awq-quantize makes the scales, clip and packed objects of its block
    else state=missing; fi
    printf '%-6s %-13s %-8s %s\n' "$block" "$stage" "$state" "$key"
done
