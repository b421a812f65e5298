#!/bin/sh
# t_memory.sh - concurrency sized from the card and the model (stages/common/slots.h, memest.h),
# with the CPU standing in for one device of AWQ_SIM_DEVICE_GIB GiB (DEVICES=cpu:1): the plan says
# per device the card, its free memory, a step's need and how many at once; a card that holds two
# scale searches never has more units held than its pool, nor more than two searches at once; a
# card smaller than one search runs it through the tokens in chunks; OUT is byte-identical to an
# unconstrained run's in both, with no knob set.
. tests/lib.sh
pipeline_fixture
M6="$TMP/model6"
tiny_model "$M6" 6 13
M=$M6
host=$(uname -n)
# "UNITS START END" of every holding the quantize steps logged (AWQ_VERBOSE=1)
spans() { sed -n 's/.*gpu units: \([0-9]*\) held \([0-9.]*\)-\([0-9.]*\) on .*$/\1 \2 \3/p' "$1"/logs/quantize.block*.log; }
# the most units held at once (a sweep over begin/end events, ends first on ties)
peak() { awk '{ print $2, 1, $1; print $3, 0, -$1 }' | sort -k1,1n -k2,2n | awk '{ h += $3; if (h > p) p = h } END { print p + 0 }'; }
# qm STORE OUT [VAR=value...]: make -j8 quantize on one simulated device
qm() {
    _s=$1 _o=$2; shift 2
    AWQ_VERBOSE=1 AWQ_CACHE="$_s" make -C "$ROOT" --no-print-directory -j8 quantize O="$O" MODEL="$M" OUT="$_o" \
        CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 DEVICES=cpu:1 "$@" >"$TMP/log" 2>&1
}

# unconstrained: the simulated device is the host's available memory
qm "$TMP/s1" "$TMP/out1"; rc1=$?
need=$(sed -n "s/.*plan: sim0 .*scale search needs ~\([0-9.]*\) MiB.*/\1/p" "$TMP/log" | head -1)
check plan_says_card_free_need_and_jobs \
    '[ $rc1 -eq 0 ] && [ -n "$need" ] && grep -q "plan: sim0 simulated .* GiB device (the CPU computes): .* free; a block.s scale search needs ~[0-9.]* MiB (clip-only ~[0-9.]* MiB): [0-9]* at once" "$TMP/log"'
[ -n "$need" ] || need=700

# a card of 2.5 searches: two at once, never more units held than the pool has
gib=$(awk -v n="$need" 'BEGIN { printf "%.4f", n * 2.5 / 1024 }')
AWQ_SIM_DEVICE_GIB=$gib qm "$TMP/s2" "$TMP/out2"; rc2=$?
pool=$(awk 'NR == 2 { print $2 }' "$TMP/out2.awq/slots/$host/pool" 2>/dev/null)
su=$(spans "$TMP/out2.awq" | sort -n | tail -1 | cut -d' ' -f1)
pk=$(spans "$TMP/out2.awq" | peak)
check never_more_units_than_fit \
    '[ $rc2 -eq 0 ] && grep -q "plan: sim0 .*: 2 at once" "$TMP/log" && [ "$(spans "$TMP/out2.awq" | wc -l)" -ge 6 ] && [ "$pk" -le "$pool" ] && [ "$pk" -le $((2 * su)) ]'
echo "  (card $gib GiB: pool $pool units, a search $su, most held at once $pk)"
check same_out_on_a_small_card 'diff -r "$TMP/out1" "$TMP/out2"'

# a card smaller than one search: each search runs through the tokens in chunks, the same OUT
gib=$(awk -v n="$need" 'BEGIN { printf "%.4f", n * 0.6 / 1024 }')
AWQ_SIM_DEVICE_GIB=$gib qm "$TMP/s3" "$TMP/out3"; rc3=$?
nch=$(cat "$TMP/out3.awq"/logs/quantize.block*.log | grep -c "scale search in chunks of 1024 of the 2048 tokens")
check step_larger_than_card_chunked \
    '[ $rc3 -eq 0 ] && grep -q "plan: sim0 .*more than the .* it can use: one at a time, the tokens in chunks" "$TMP/log" && [ "$nch" -eq 6 ]'
check same_out_chunked 'diff -r "$TMP/out1" "$TMP/out3"'

# AWQ_QUANTIZE_JOBS still overrides: J scale searches per device, said so
AWQ_QUANTIZE_JOBS=1 qm "$TMP/s1" "$TMP/out4"; rc4=$?
check jobs_override_said '[ $rc4 -eq 0 ] && grep -q "plan: sim0 .*AWQ_QUANTIZE_JOBS=1: 1 at once" "$TMP/log" && diff -r "$TMP/out1" "$TMP/out4"'

# a device with less memory than its units say (AWQ_TEST_DEVICE_MB, a test hook: the block
# worker's CPU backend fails allocations past it): a scale search that runs out of memory holding
# the whole card is made again in smaller token chunks (3/4 each time, down to the smallest), one
# line each, with the same OUT; one that runs out even in the smallest chunks fails with one error
# and a hint. Widths of 256+ make chunks of 256 tokens possible (64-wide linears need 1024).
M=$TMP/model_w
tiny_model "$M" 2 7 --hidden 256 --ffn 512
qm "$TMP/s5" "$TMP/out5"; rc5=$?
AWQ_TEST_DEVICE_MB=25 qm "$TMP/s6" "$TMP/out6"; rc6=$?
l6=$(cat "$TMP/out6.awq"/logs/quantize.block*.log)
check oom_retried_in_smaller_chunks \
    '[ $rc5 -eq 0 ] && [ $rc6 -eq 0 ] && echo "$l6" | grep -q "block 0: out of memory at chunks of 2048 tokens: again with chunks of 1536" &&
     echo "$l6" | grep -q "block 0: out of memory at chunks of 512 tokens: again with chunks of 256" &&
     echo "$l6" | grep -q "scale search in chunks of 256 of the 2048 tokens"'
check same_out_after_oom_retries 'diff -r "$TMP/out5" "$TMP/out6"'
AWQ_TEST_DEVICE_MB=8 qm "$TMP/s7" "$TMP/out7"; rc7=$?
l7=$(cat "$TMP/out7.awq"/logs/quantize.block0.log 2>/dev/null)
check oom_at_smallest_chunk_fails_with_hint \
    '[ $rc7 -ne 0 ] && [ ! -e "$TMP/out7" ] && [ "$(echo "$l7" | grep -c "error:")" -eq 1 ] &&
     echo "$l7" | grep -q "error: block 0: .*out of memory" &&
     echo "$l7" | grep -q "^hint: .*even its smallest chunks (256 tokens) ran out; run one step at a time with AWQ_QUANTIZE_JOBS=1, calibrate on fewer tokens (N_SAMPLES=64)" &&
     grep -q "block 0 quantize FAILED" "$TMP/log"'
