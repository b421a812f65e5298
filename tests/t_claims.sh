#!/bin/sh
# t_claims.sh - one computation per object (issue 16): every step runs under awq-claim, which holds
# a claim on each file it makes. Two makes started together on one plan (the same OUT), two
# experiments sharing every object, and two sharing only the scale searches (another CLIP_GRID)
# compute each object exactly once - counted from the steps' "miss" lines and from the scale
# searches the quantize logs report - and give the outputs of a clean run. A claim held by a live
# process makes the step wait for it; a dead process's claim, and another host's claim not renewed
# for the lease, are taken over.
. tests/lib.sh
pipeline_fixture
# plan STORE OUT [VAR=value...]: write OUT.awq/plan.mk (as make quantize does before it runs it)
plan() {
    store=$1; out=$2; shift 2
    AWQ_CACHE="$store" "$BIN/awq-plan" -q --model "$M" --calib "$TMP/calib.i32" --out "$out" --work "$out.awq" --bin "$BIN" \
        SEQLEN=128 GROUP=64 N_GRID=4 "$@" >/dev/null 2>&1
}
# run STORE OUT LOG: make the plan of OUT
run() { AWQ_CACHE="$1" make --no-print-directory -j2 -f "$2.awq/plan.mk" all >"$3" 2>&1; }
# computed LOG...: the steps that ran their program, per stage ("1 embed;2 capture;...")
computed() { cat "$@" | grep "^awqmake: .* s  miss$" | awk '{print $(NF-3)}' | sort | uniq -c | awk '{printf "%s %s;", $1, $2}'; }
searches() { cat "$@" | grep -c "groups searched"; }   # scale searches, from the quantize logs

# the reference: one make, its own store
plan "$TMP/s0" "$TMP/ref"
run "$TMP/s0" "$TMP/ref" "$TMP/log.ref"

# Two makes on one plan (one OUT), started together: every object once, whichever make computes it
plan "$TMP/s1" "$TMP/a"
run "$TMP/s1" "$TMP/a" "$TMP/log.a1" & p1=$!
run "$TMP/s1" "$TMP/a" "$TMP/log.a2" & p2=$!
wait $p1; rc1=$?; wait $p2; rc2=$?
check two_makes_one_out_compute_each_object_once \
    '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$(computed "$TMP/log.a1" "$TMP/log.a2")" = "1 assemble;2 capture;1 embed;3 quantize;4 shard;" ] &&
     diff -r "$TMP/ref" "$TMP/a" && [ -z "$(ls -A "$TMP/a.awq/claims")" ] && [ -z "$(find "$TMP/s1" -name ".tmp-*")" ]'
[ "$(computed "$TMP/log.a1" "$TMP/log.a2")" = "1 assemble;2 capture;1 embed;3 quantize;4 shard;" ] ||
    echo "  (computed: $(computed "$TMP/log.a1" "$TMP/log.a2"))"

# Two experiments sharing every object (same parameters, two OUTs), run together: the objects once,
# each output's own files (shards, assemble) once per output
plan "$TMP/s2" "$TMP/b"
plan "$TMP/s2" "$TMP/c"
run "$TMP/s2" "$TMP/b" "$TMP/log.b" & p1=$!
run "$TMP/s2" "$TMP/c" "$TMP/log.c" & p2=$!
wait $p1; rc1=$?; wait $p2; rc2=$?
check two_outs_sharing_objects_compute_each_once \
    '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$(computed "$TMP/log.b" "$TMP/log.c")" = "2 assemble;2 capture;1 embed;3 quantize;8 shard;" ] &&
     [ $(searches "$TMP"/b.awq/logs/quantize.*.log "$TMP"/c.awq/logs/quantize.*.log) -eq 3 ] && diff -r "$TMP/ref" "$TMP/b" && diff -r "$TMP/ref" "$TMP/c"'
[ "$(computed "$TMP/log.b" "$TMP/log.c")" = "2 assemble;2 capture;1 embed;3 quantize;8 shard;" ] ||
    echo "  (computed: $(computed "$TMP/log.b" "$TMP/log.c"))"

# Two experiments sharing the block inputs and the scale searches, not the clips (CLIP_GRID 20 and
# 10): a quantize step claims every object it makes, so each block's scales are searched once (the
# other experiment's step waits, then clips and packs from them)
plan "$TMP/s3" "$TMP/d"
plan "$TMP/s3" "$TMP/e" CLIP_GRID=10
run "$TMP/s3" "$TMP/d" "$TMP/log.d" & p1=$!
run "$TMP/s3" "$TMP/e" "$TMP/log.e" & p2=$!
wait $p1; rc1=$?; wait $p2; rc2=$?
plan "$TMP/s3e" "$TMP/e_clean" CLIP_GRID=10
run "$TMP/s3e" "$TMP/e_clean" "$TMP/log.e_clean"
n_search=$(searches "$TMP"/d.awq/logs/quantize.*.log "$TMP"/e.awq/logs/quantize.*.log)
check shared_scale_searches_run_once \
    '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$n_search" -eq 3 ] && [ "$(computed "$TMP/log.d" "$TMP/log.e" | grep -o "[0-9]* capture")" = "2 capture" ] &&
     diff -r "$TMP/ref" "$TMP/d" && diff -r "$TMP/e_clean" "$TMP/e"'
[ "$n_search" -eq 3 ] || echo "  (scale searches: $n_search)"

# A claim held by a live process (awq-claim running a 1.5 s command on block 0's input): the
# embedding step waits for it, says so in its log, and then finds the object made (a hit)
plan "$TMP/s5" "$TMP/f"
act0=$(awk -F'\t' '$1 == "0" && $2 == "input" {print $3}' "$TMP/f.awq/manifest.tsv")
obj0="$TMP/s5/objects/$(echo "$act0" | cut -c1-2)/$(echo "$act0" | cut -c3-)"
"$BIN/awq-claim" "$obj0" -- sh -c "sleep 1.5; cp '$TMP/s0/objects/$(echo "$act0" | cut -c1-2)/$(echo "$act0" | cut -c3-)' '$obj0'; date +%s.%N >'$TMP/held'" &
holder=$!
i=0; while [ ! -e "$(dirname "$obj0")/.tmp-claim-$(basename "$obj0")" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
run "$TMP/s5" "$TMP/f" "$TMP/log.f"; rc=$?
wait $holder
embed_end=$(cut -d' ' -f2 "$TMP/f.awq/logs/embed.time")
check live_claim_makes_the_step_wait \
    '[ $rc -eq 0 ] && grep -q "model     embed .* hit" "$TMP/log.f" && grep -q "waiting for .*held by host" "$TMP/f.awq/logs/embed.log" &&
     awk -v a="$embed_end" -v b="$(cat "$TMP/held")" "BEGIN { exit !(a >= b) }" && diff -r "$TMP/ref" "$TMP/f"'

# A claim left by a process killed with -9 (its pid is dead): taken over at once
plan "$TMP/s6" "$TMP/g"
obj0g="$TMP/s6/objects/$(echo "$act0" | cut -c1-2)/$(echo "$act0" | cut -c3-)"
"$BIN/awq-claim" "$obj0g" -- sh -c "echo \$\$ >'$TMP/sleeper'; exec sleep 30" &
holder=$!
i=0; while [ ! -s "$TMP/sleeper" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $holder; wait $holder 2>/dev/null
kill "$(cat "$TMP/sleeper")"
[ -e "$(dirname "$obj0g")/.tmp-claim-$(basename "$obj0g")" ] || echo "  (the killed holder left no claim)"
t0=$(date +%s)
run "$TMP/s6" "$TMP/g" "$TMP/log.g"; rc=$?
t1=$(date +%s)
check dead_holders_claim_taken_over \
    '[ $rc -eq 0 ] && [ $((t1 - t0)) -lt 20 ] && grep -q "model     embed .* miss" "$TMP/log.g" && diff -r "$TMP/ref" "$TMP/g" &&
     [ -z "$(find "$TMP/s6" -name ".tmp-claim-*")" ]'

# Claims left beside files that were made (a step killed after making its file: make never runs
# it again, so nothing took them over; found by tools/campaign-kill.sh): the next plan removes those
# of dead holders, in the store and in OUT.awq/claims, and leaves a live holder's alone
shard=$(ls "$TMP/g.awq/shards" | head -n 1)
sc0=$(awk -F'\t' '$1 == "0" && $2 == "scale-search" {print $3}' "$TMP/g.awq/manifest.tsv")
objs="$TMP/s6/objects/$(echo "$sc0" | cut -c1-2)/$(echo "$sc0" | cut -c3-)"
rm -f "$TMP/sleeper"
"$BIN/awq-claim" "$obj0g" -- sh -c "echo \$\$ >'$TMP/sleeper'; exec sleep 30" &
h1=$!
"$BIN/awq-claim" --in "$TMP/g.awq/claims" "$TMP/g.awq/shards/$shard" -- sh -c "echo \$\$ >'$TMP/sleeper2'; exec sleep 30" &
h2=$!
"$BIN/awq-claim" "$objs" -- sh -c "echo \$\$ >'$TMP/sleeper3'; exec sleep 30" &
h3=$!
i=0; while { [ ! -s "$TMP/sleeper" ] || [ ! -s "$TMP/sleeper2" ] || [ ! -s "$TMP/sleeper3" ]; } && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $h1 $h2; wait $h1 $h2 2>/dev/null
kill "$(cat "$TMP/sleeper")" "$(cat "$TMP/sleeper2")"
n_left=$(find "$TMP/s6" "$TMP/g.awq/claims" -name ".tmp-claim-*" | wc -l)
plan "$TMP/s6" "$TMP/g"
check stale_claims_of_made_files_removed_by_the_plan \
    '[ "$n_left" -eq 3 ] && [ "$(find "$TMP/s6" "$TMP/g.awq/claims" -name ".tmp-claim-*")" = "$(dirname "$objs")/.tmp-claim-$(basename "$objs")" ]'
kill $h3 "$(cat "$TMP/sleeper3")" 2>/dev/null; wait $h3 2>/dev/null

# Another host's claim: respected while renewed, taken over once not renewed for the lease
# (AWQ_CLAIM_LEASE=2 here; 60 s by default)
plan "$TMP/s7" "$TMP/h"
obj0h="$TMP/s7/objects/$(echo "$act0" | cut -c1-2)/$(echo "$act0" | cut -c3-)"
mkdir -p "$(dirname "$obj0h")"
printf 'host other-host.example\npid 1\nstart x 1\nsince 0\n' >"$(dirname "$obj0h")/.tmp-claim-$(basename "$obj0h")"
AWQ_CLAIM_LEASE=2 run "$TMP/s7" "$TMP/h" "$TMP/log.h"; rc=$?
span=$(awk '{printf "%.1f", $2 - $1}' "$TMP/h.awq/logs/embed.time")
check other_hosts_expired_claim_taken_over \
    '[ $rc -eq 0 ] && awk -v s="$span" "BEGIN { exit !(s >= 1.5) }" && grep -q "waiting for .*other-host.example" "$TMP/h.awq/logs/embed.log" &&
     diff -r "$TMP/ref" "$TMP/h"'
