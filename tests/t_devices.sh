#!/bin/sh
# t_devices.sh - the GPU memory unit pool over several devices (DEVICES, stages/common/slots.h),
# run with the CPU standing in for them (DEVICES=cpu:N): each step says which device it ran on, no
# device ever has more units held than its pool, OUT is the same as with one device; a device
# whose units are all taken gets no step; captures take no units (they never wait behind the
# searches); bad DEVICES and LAUNCHER values are one clear error each, before any step runs.
. tests/lib.sh
pipeline_fixture
M6="$TMP/model6"
tiny_model "$M6" 6 13
M=$M6
host=$(uname -n)
# "UNITS START END DEVICE" of every holding the quantize steps logged (AWQ_VERBOSE=1)
spans() { sed -n 's/.*gpu units: \([0-9]*\) held \([0-9.]*\)-\([0-9.]*\) on \([a-z0-9]*\)$/\1 \2 \3 \4/p' "$1"/logs/quantize.block*.log; }
# the most units any one device held at once (a sweep over begin/end events, ends first on ties)
peak() {
    awk '{ print $2, 1, $1, $4; print $3, 0, -$1, $4 }' | sort -k1,1n -k2,2n |
        awk '{ held[$4] += $3; if (held[$4] > peak) peak = held[$4] } END { print peak + 0 }'
}
# the device each quantize / capture step logged, one per line
devs() { cat "$1"/logs/"$2".block*.log 2>/dev/null | sed -n 's/.*: device \([a-z0-9]*\).*/\1/p'; }

q "$TMP/s1" "$TMP/out1"
rc1=$?
AWQ_VERBOSE=1 AWQ_QUANTIZE_JOBS=1 q "$TMP/s3" "$TMP/out3" DEVICES=cpu:3; rc3=$?
nq=$(ls "$TMP/out3.awq"/logs/quantize.block*.log | wc -l)
check every_step_logs_its_device \
    '[ $rc1 -eq 0 ] && [ $rc3 -eq 0 ] && [ "$nq" -eq 6 ] && [ "$(devs "$TMP/out3.awq" quantize | grep -c "^sim[012]$")" -eq 6 ] && [ "$(devs "$TMP/out3.awq" capture | grep -c "^sim[012]$")" -eq 5 ]'
check no_device_over_its_units '[ "$(spans "$TMP/out3.awq" | wc -l)" -ge 6 ] && [ "$(spans "$TMP/out3.awq" | peak)" -le 3 ]'
check out_same_for_any_devices 'diff -r "$TMP/out1" "$TMP/out3"'
echo "  (devices the 6 quantize steps ran on: $(devs "$TMP/out3.awq" quantize | sort | uniq -c | awk '{printf "%s x%s ", $2, $1}'))"

# A device whose every unit is held elsewhere gets no step: sim0's three units are locked by
# another process, so every quantize step runs on sim1; the output is the same.
slots="$TMP/out4.awq/slots/$host"
mkdir -p "$slots"
python3 -c 'import fcntl, sys, time
fs = [open(f, "a") for f in sys.argv[1:]]
for f in fs: fcntl.flock(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)' "$slots/sim0.0" "$slots/sim0.1" "$slots/sim0.2" >"$TMP/holder" &
holder=$!
while ! grep -q held "$TMP/holder" 2>/dev/null; do sleep 0.05; done
AWQ_QUANTIZE_JOBS=1 q "$TMP/s4" "$TMP/out4" DEVICES=cpu:2; rc=$?
kill $holder 2>/dev/null; wait $holder 2>/dev/null
check busy_device_gets_no_step \
    '[ $rc -eq 0 ] && [ "$(devs "$TMP/out4.awq" quantize | sort -u)" = sim1 ] && diff -r "$TMP/out1" "$TMP/out4"'

# Captures take no units: with every unit of the one device held elsewhere, the whole capture
# chain is made while no quantize step can start; released, the run completes as usual.
slots="$TMP/out5.awq/slots/$host"
mkdir -p "$slots"
python3 -c 'import fcntl, sys, time
fs = [open(f, "a") for f in sys.argv[1:]]
for f in fs: fcntl.flock(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)' "$slots/sim0.0" "$slots/sim0.1" "$slots/sim0.2" >"$TMP/holder" &
holder=$!
while ! grep -q held "$TMP/holder" 2>/dev/null; do sleep 0.05; done
AWQ_QUANTIZE_JOBS=1 AWQ_CACHE="$TMP/s5" make -C "$ROOT" --no-print-directory -j quantize O="$O" MODEL="$M" OUT="$TMP/out5" \
    CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 DEVICES=cpu:1 >"$TMP/log5" 2>&1 &
mk=$!
chain=0
for _ in $(seq 1 600); do   # up to 60 s for the 6 links (embed and 5 captures)
    [ "$(cat "$TMP/log5" 2>/dev/null | grep -c 'capture\|embed')" -ge 6 ] && { chain=1; break; }
    sleep 0.1
done
quantized=$(grep -c ' quantize ' "$TMP/log5")
kill $holder 2>/dev/null; wait $holder 2>/dev/null
wait $mk; rc=$?
check captures_never_wait_for_units \
    '[ $chain -eq 1 ] && [ "$quantized" -eq 0 ] && [ $rc -eq 0 ] && diff -r "$TMP/out1" "$TMP/out5"'

# Bad values: one error naming the make variable, a hint, nothing run.
bad() { AWQ_CACHE="$TMP/s1" make -C "$ROOT" --no-print-directory quantize O="$O" MODEL="$M" OUT="$TMP/bad" \
            CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 "$@" >"$TMP/log" 2>&1; }
bad DEVICES=63; rc=$?
check bad_devices_ordinal '[ $rc -ne 0 ] && grep -q "error: DEVICES=63: " "$TMP/log" && grep -q "^hint: .*DEVICES=all" "$TMP/log" && [ ! -e "$TMP/bad.awq/plan.mk" ]'
bad DEVICES=0,x; rc=$?
check bad_devices_list '[ $rc -ne 0 ] && grep -q "error: DEVICES=0,x: not a list of GPU numbers" "$TMP/log" && grep -q "^hint: " "$TMP/log"'
bad DEVICES=cpu:0; rc=$?
check bad_devices_simulated '[ $rc -ne 0 ] && grep -q "error: DEVICES=cpu:0: " "$TMP/log"'
bad LAUNCHER=pbs; rc=$?
check bad_launcher '[ $rc -ne 0 ] && grep -q "error: LAUNCHER=pbs: not one of local, slurm" "$TMP/log" && grep -q "^hint: " "$TMP/log"'
(unset SLURM_JOB_ID; bad LAUNCHER=slurm); rc=$?
check slurm_outside_an_allocation \
    '[ $rc -ne 0 ] && grep -q "error: LAUNCHER=slurm: not inside a Slurm allocation" "$TMP/log" && grep -q "^hint: salloc .*LAUNCHER=slurm .*README: Many GPUs and clusters" "$TMP/log"'
