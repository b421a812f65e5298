#!/bin/sh
# t_slots.sh - GPU memory units between concurrent awq-quantize steps (stages/common/slots.h):
# under make -j8 with AWQ_QUANTIZE_JOBS=1 no two steps hold units at once while scale searches
# run, and the output equals make -j1's; a clip-grid rerun (the scales are in the store) takes one
# unit per step, so three of its steps may run where one scale search could; clip-only blocks are
# batched into one process each few blocks and read the stored clip inputs, not the block inputs;
# failures inside a batch name their block.
. tests/lib.sh
for p in awq-plan awq-gen-model awq-gen-tokens awq-step awq-quantize; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
ROOT=$(pwd)
M="$TMP/model"
tiny_model "$M" 3 11
"$BIN/awq-gen-tokens" --vocab 256 --count 2048 --seed 5 --out "$TMP/calib.i32" >/dev/null 2>&1
q() { # JOBS STORE OUT [VAR=value...]
    j=$1 store=$2 out=$3; shift 3
    AWQ_VERBOSE=1 AWQ_CACHE="$store" make -C "$ROOT" --no-print-directory -j"$j" quantize O="$O" MODEL="$M" OUT="$out" \
        CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 "$@" >"$TMP/log" 2>&1
}
# "UNITS START END" of every holding the quantize steps logged (epoch seconds; at -v, AWQ_VERBOSE=1)
spans() { sed -n 's/.*gpu units: \([0-9]*\) held \([0-9.]*\)-\([0-9.]*\) on .*$/\1 \2 \3/p' "$1"/logs/quantize.block*.log; }
# how many holdings began before an earlier one ended
overlaps() { sort -k2,2n | awk 'NR > 1 && $2 < end { n++ } { if ($3 > end) end = $3 } END { print n + 0 }'; }

q 1 "$TMP/s1" "$TMP/out1"
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s2" "$TMP/out2"; rc=$?
n3=$(spans "$TMP/out2.awq" | grep -c '^3 ')
check scale_searches_never_overlap_with_one_job \
    '[ $rc -eq 0 ] && [ "$n3" -eq 3 ] && [ "$(spans "$TMP/out2.awq" | overlaps)" -eq 0 ] && diff -r "$TMP/out1" "$TMP/out2"'

AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s2" "$TMP/out2" CLIP_GRID=10; rc=$?
n1=$(spans "$TMP/out2.awq" | grep -c '^1 ')
ov=$(spans "$TMP/out2.awq" | overlaps)
# (whether they then overlap depends on timing: steps of this tiny model take ~40 ms, so it is
# reported, not asserted)
check clip_only_steps_take_one_unit \
    '[ $rc -eq 0 ] && [ "$(spans "$TMP/out2.awq" | grep -c "^3 ")" -eq 0 ] && [ "$n1" -eq 3 ]'
echo "  (clip-only steps that overlapped another: $ov of 3)"

# A clip-grid rerun of a 7-block model with AWQ_QUANTIZE_JOBS=1 (3 clip-only processes): the plan
# batches consecutive clip-only blocks (0-2, 3-5, 6), each batch one awq-quantize process with one
# GPU context, and the output equals a cold run with that clip grid.
M7="$TMP/model7"
tiny_model "$M7" 7 12
M_SAVE=$M; M=$M7
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7" "$TMP/out7"
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7" "$TMP/out7" CLIP_GRID=10; rc=$?
batches=$(sed -n 's/^awqmake: block \([0-9-]*\) *quantize .*/\1/p' "$TMP/log" | sort | tr '\n' ' ')
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7b" "$TMP/out7b" CLIP_GRID=10
check clip_only_blocks_batched_per_process \
    '[ $rc -eq 0 ] && [ "$batches" = "0-2 3-5 6 " ] && diff -r "$TMP/out7" "$TMP/out7b"'
[ "$batches" = "0-2 3-5 6 " ] || echo "  (quantize steps of the rerun: $batches)"

# A clip rerun reads the sampled rows of the blocks' captured inputs (the clipin objects the scale
# searches stored), not the block inputs: with block 4's input damaged it still gives the output
# of a clean run with that clip grid.
act4=$(awk -F'\t' '$1 == "4" && $2 == "input" {print $3}' "$TMP/out7.awq/manifest.tsv")
obj() { echo "$TMP/s7/objects/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-)"; }
damage() { chmod u+w "$1"; printf 'XXXX' | dd of="$1" bs=1 seek=300 conv=notrunc 2>/dev/null; }
damage "$(obj "$act4")"
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7" "$TMP/out7" CLIP_GRID=6; rc1=$?
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7c" "$TMP/out7c" CLIP_GRID=6
check clip_rerun_reads_no_block_input '[ $rc1 -eq 0 ] && diff -r "$TMP/out7" "$TMP/out7c"'

# Block 4's clip inputs damaged as well (the block in the middle of batch 3-5, whose input is read
# ahead on the prefetch thread): the batch stops naming block 4, the damaged input is moved aside,
# made again and the batch run once more, in the same run (awq-step), which gives the output of a
# clean run; the next run has nothing to do.
ci4=$(AWQ_CACHE="$TMP/s7" "$BIN/awq-obj" ls -l | awk '$2 == "clipin" {print $1}' | while read -r k; do
    AWQ_CACHE="$TMP/s7" "$BIN/awq-obj" info "$k" | grep -q "input.act=$act4" && echo "$k"; done)
[ -n "$ci4" ] && damage "$(obj "$ci4")"
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7" "$TMP/out7" CLIP_GRID=5; rc1=$?
cp "$TMP/log" "$TMP/log.damaged"
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7" "$TMP/out7" CLIP_GRID=5; rc2=$?
cp "$TMP/log" "$TMP/log.next"
AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/s7d" "$TMP/out7d" CLIP_GRID=5
check damaged_input_in_a_batch \
    '[ -n "$ci4" ] && [ $rc1 -eq 0 ] && grep -q "block 4: .*damaged.*; making it again" "$TMP/log.damaged" && [ $rc2 -eq 0 ] && grep -q "0 to compute" "$TMP/log.next" && diff -r "$TMP/out7" "$TMP/out7d"'

# The store fills up while a batch writes its objects: one
# clear error naming the block, no temporary file left, a store that verifies; with room again
# the rerun completes with the output of a clean run.
mkdir -p "$TMP/full"
if mount -t tmpfs -o size=64m tmpfs "$TMP/full" 2>/dev/null; then
    AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/full/s" "$TMP/out7f"
    used_k=$(du -sk "$TMP/full" | cut -f1)
    # room for the claims (a page each, up to 16: the rerun computes 14 objects, a clip and a packed
    # per block, and the batches claim them all at once) and 12 KiB more, which no block's two
    # objects fit (~36 KiB): the store fills while the objects are written, not at the claims
    # (with 12 KiB alone concurrent batches' claims took it first, once in a fresh clone's run)
    mount -o remount,size=$((used_k + 16 * 4 + 12))k "$TMP/full"
    AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/full/s" "$TMP/out7f" CLIP_GRID=6; rc1=$?
    cp "$TMP/log" "$TMP/log.full"
    check store_full_during_batch_writes \
        '[ $rc1 -ne 0 ] && grep -q "block [0-9]: .*No space left on device" "$TMP/log.full" && [ -z "$(find "$TMP/full" -name ".tmp-*")" ] && "$BIN/awq-obj" --store "$TMP/full/s" verify >/dev/null 2>&1'
    mount -o remount,size=64m "$TMP/full"
    AWQ_QUANTIZE_JOBS=1 q 8 "$TMP/full/s" "$TMP/out7f" CLIP_GRID=6; rc2=$?
    check store_full_then_resumes '[ $rc2 -eq 0 ] && diff -r "$TMP/out7f" "$TMP/out7c"'
    umount "$TMP/full"
else
    skip store_full_during_batch_writes "cannot mount a tmpfs here (needs root)"
    skip store_full_then_resumes "cannot mount a tmpfs here (needs root)"
fi
M=$M_SAVE

# make status knows a batch's running file (running/quantize.block0-2) covers blocks 0 to 2
AWQ_CACHE="$TMP/s7" "$BIN/awq-plan" -q --model "$M7" --calib "$TMP/calib.i32" --out "$TMP/out7" --work "$TMP/out7.awq" \
    --bin "$BIN" --seqlen 128 --group 64 --n-grid 4 --clip-grid 12 >/dev/null 2>&1
mkdir -p "$TMP/out7.awq/running" && echo $$ >"$TMP/out7.awq/running/quantize.block0-2"
"$BIN/awq-status" "$TMP/out7.awq" "$BIN" >"$TMP/status" 2>&1
check status_shows_batched_blocks_running \
    'grep -q "^1 *clip-search *running" "$TMP/status" && grep -q "^4 *clip-search *missing" "$TMP/status" && grep -q "^1 *scale-search *done" "$TMP/status"'
