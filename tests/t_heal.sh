#!/bin/sh
# t_heal.sh - self-healing reads (issue 16): a store object found damaged or truncated while a run
# reads it is moved aside and made again in the same run, which succeeds with an output
# byte-identical to a clean run's; VERIFY=1 on an existing output verifies the objects it was made
# from, and repairs them in one run; a damaged input read by two steps at once is made once;
# `make gc` removes the moved-aside copies.
. tests/lib.sh
pipeline_fixture
ran() { grep "^awqmake: .* s  miss$" "$TMP/log" | awk '{print $(NF-3)}' | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
# path STORE STAGE BLOCK: the object file of a manifest row of out1
path() {
    k=$(awk -F'\t' -v st="$2" -v b="$3" '$1 == b && $2 == st {print $3}' "$TMP/out1.awq/manifest.tsv")
    echo "$1/objects/$(echo "$k" | cut -c1-2)/$(echo "$k" | cut -c3-)"
}
damaged_copies() { find "$1" -name '.tmp-damaged-*' | wc -l; }

q "$TMP/s" "$TMP/out1"
cp -r "$TMP/out1" "$TMP/ref"

# VERIFY=1 verifies the clip inputs too (clipin objects: the output does not need them, a later
# clip rerun does) and makes a damaged or truncated one again in that run, byte-identical, from a
# forward of its block alone (they were not verified: found by tools/campaign-flips.sh)
set -- $("$BIN/awq-obj" --store "$TMP/s" ls -l | awk -F'\t' '$2 == "clipin" {print $1}')
n_ci=$#; c1=$("$BIN/awq-obj" --store "$TMP/s" path "$1"); c2=$("$BIN/awq-obj" --store "$TMP/s" path "$2")
cp "$c1" "$TMP/c1"; cp "$c2" "$TMP/c2"
damage_bytes "$c1" $(( $(wc -c <"$c1") / 2 ))
chmod u+w "$c2"; truncate -s $(( $(wc -c <"$c2") - 9 )) "$c2"
q "$TMP/s" "$TMP/out1" VERIFY=1; rc=$?
check verify_remakes_damaged_clip_inputs \
    '[ $n_ci -eq 3 ] && [ $rc -eq 0 ] && [ $(grep -c "warning: object .* made again in this run" "$TMP/log") -eq 2 ] && [ "$(ran)" = " 2 quantize;" ] &&
     cmp "$c1" "$TMP/c1" && cmp "$c2" "$TMP/c2" && diff -r "$TMP/ref" "$TMP/out1" && "$BIN/awq-obj" --store "$TMP/s" verify >/dev/null'
cp "$TMP/log" "$TMP/log.clipin"
find "$TMP/s" -name ".tmp-damaged-*" -exec rm -f {} +   # the copies gc removes (counted below)

# A new output from a store where block 2's packed object has a byte flipped and block 0's is cut
# short: both shards find their input damaged, the objects are moved aside and made again (block 0
# and 2's awq-quantize, from the stored scales and clips), the shards are written, in one run.
f2=$(path "$TMP/s" pack 2); f0=$(path "$TMP/s" pack 0)
damage_bytes "$f2" $(( $(wc -c <"$f2") / 2 ))
chmod u+w "$f0"; truncate -s $(( $(wc -c <"$f0") - 7 )) "$f0"
q "$TMP/s" "$TMP/out2"; rc=$?
cp "$TMP/log" "$TMP/log.new_out"
check damaged_and_truncated_rebuilt_in_one_run_new_out \
    '[ $rc -eq 0 ] && [ $(grep -c "damaged.*; making it again" "$TMP/log") -eq 2 ] && [ "$(ran)" = " 1 assemble; 2 quantize; 4 shard;" ] &&
     diff -r "$TMP/ref" "$TMP/out2" && "$BIN/awq-obj" --store "$TMP/s" verify >/dev/null && [ $(damaged_copies "$TMP/s") -eq 2 ]'

# The same output again: it was written from verified reads and is up to date, so a plain run reads
# nothing and does nothing; with VERIFY=1 every object of the experiment is verified first, the
# damaged ones (block 1's packed object, block 2's input) are moved aside and made again in that
# run, and the output stays byte-identical.
damage_bytes "$(path "$TMP/s" pack 1)" 200
f=$(path "$TMP/s" input 2); chmod u+w "$f"; truncate -s 100 "$f"
q "$TMP/s" "$TMP/out1"; rc1=$?
cp "$TMP/log" "$TMP/log.plain"
q "$TMP/s" "$TMP/out1" VERIFY=1; rc2=$?
cp "$TMP/log" "$TMP/log.verify"
q "$TMP/s" "$TMP/out1"; rc3=$?
check plain_rerun_of_an_up_to_date_output_reads_nothing '[ $rc1 -eq 0 ] && grep -q "0 to compute" "$TMP/log.plain" && ! grep -q "^awqmake: " "$TMP/log.plain"'
check verify_repairs_the_same_output_in_one_run \
    '[ $rc2 -eq 0 ] && grep -q "verified 16 objects.* 2 damaged" "$TMP/log.verify" && [ $(grep -c "warning: object .* is damaged.*made again in this run" "$TMP/log.verify") -eq 2 ] &&
     grep -q "block 1   quantize .* miss" "$TMP/log.verify" && grep -q "block 1   capture .* miss" "$TMP/log.verify" &&
     diff -r "$TMP/ref" "$TMP/out1" && "$BIN/awq-obj" --store "$TMP/s" verify >/dev/null && [ $rc3 -eq 0 ] && ! grep -q "^awqmake: " "$TMP/log"'

# Block 1's input damaged, and read by two steps of one run at once: block 1's capture (block 2's
# input was removed) and its quantize (a new scale grid). The input is made once (block 0's capture
# runs once, whichever step found the damage first; the other waits on the claim, or finds it made)
# and the output is the one a clean store gives.
damage_bytes "$(path "$TMP/s" input 1)" 300
rm -f "$(path "$TMP/s" input 2)"
q "$TMP/s" "$TMP/out3" N_GRID=3; rc=$?
cp "$TMP/log" "$TMP/log.two_readers"
q "$TMP/s_clean" "$TMP/out3_clean" N_GRID=3
c0=$(grep -c "block 0   capture .* miss" "$TMP/log.two_readers")
check damaged_input_of_two_steps_made_once \
    '[ $rc -eq 0 ] && grep -q "damaged.*; making it again" "$TMP/log.two_readers" && [ "$c0" -eq 1 ] && diff -r "$TMP/out3_clean" "$TMP/out3" &&
     "$BIN/awq-obj" --store "$TMP/s" verify >/dev/null'

# The tokens object damaged after the plan stored it (the plan itself replaces a damaged one):
# the embedding finds it so, and plan.mk's rule for it makes it again in the same run.
AWQ_CACHE="$TMP/s4" "$BIN/awq-plan" -q --model "$M" --calib "$TMP/calib.i32" --out "$TMP/out4" --work "$TMP/out4.awq" \
    --bin "$BIN" SEQLEN=128 GROUP=64 N_GRID=4 >/dev/null 2>&1
damage_bytes "$(path "$TMP/s4" tokens -)" 60
AWQ_CACHE="$TMP/s4" make --no-print-directory -j4 -f "$TMP/out4.awq/plan.mk" all >"$TMP/log" 2>&1; rc=$?
check damaged_tokens_made_again_by_their_rule \
    '[ $rc -eq 0 ] && grep -q "model embed: .*damaged.*; making it again" "$TMP/log" && grep -q "model     tokenize .* miss" "$TMP/log" &&
     diff -r "$TMP/ref" "$TMP/out4"'

# `make gc` (objects unused for GC_DAYS days, so none here) removes every moved-aside copy and
# nothing else
n_damaged=$(damaged_copies "$TMP/s")
n_objects=$("$BIN/awq-obj" --store "$TMP/s" ls | wc -l)
AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory gc O="$O" >"$TMP/log" 2>&1; rc=$?
check gc_removes_damaged_copies \
    '[ $rc -eq 0 ] && [ "$n_damaged" -ge 5 ] && [ $(damaged_copies "$TMP/s") -eq 0 ] && [ $(grep -c "\.tmp-damaged-" "$TMP/log") -eq "$n_damaged" ] &&
     [ $("$BIN/awq-obj" --store "$TMP/s" ls | wc -l) -eq "$n_objects" ]'
