#!/bin/sh
# campaign-kill.sh - fault campaign (issue 16): kill -9 at TRIALS random moments of a real-model
# `make quantize` from an empty store, each followed by a resume. The whole process group goes at
# once (make, awq-step, awq-claim and the stage programs), as a crash or a power cut would take
# them (kill -9 -PGID: dash's kill takes no "--"). Kill moments are drawn uniformly over the length of an uninterrupted run. Each trial
# checks: the resume succeeds, its OUT is byte-identical to the uninterrupted run's, the store
# verifies (`awq-obj verify`), and no claim, temporary file or OUT.tmp-* is left once the resume
# is done. The resume starts once every killed process is gone. Prints what was running at each kill, and a summary table last.
#   tools/campaign-kill.sh                       # TRIALS=100
. "$(dirname "$0")/campaign-lib.sh"
TRIALS=${TRIALS:-100}
WORK=${WORK:-/tmp/awq-campaign-kill}
mkdir -p "$WORK"
echo "campaign-kill: $(machine)"
echo "experiment: $(quantize_cmd)"
reference "$WORK"

n=0 mid=0 ok_resume=0 ok_same=0 ok_verify=0 left_total=0 t_all=$(now)
: >"$WORK/trials.txt"
for i in $(seq 1 "$TRIALS"); do
    d="$WORK/t"; rm -rf "$d"; mkdir -p "$d"
    delay=$(awk -v f="$(rand "$i")" -v t="$REF_S" 'BEGIN {printf "%.2f", f * t}')
    AWQ_CACHE="$d/store" setsid sh -c 'echo $$ >"$1/pgid"; shift; exec "$@"' sh "$d" \
        make -C "$ROOT" --no-print-directory -j"$JOBS" quantize O="$O" MODEL="$MODEL" OUT="$d/out" CALIB="$CALIB" $QARGS \
        >"$d/killed.log" 2>&1 &
    bg=$!
    sleep "$delay"
    pg=$(cat "$d/pgid" 2>/dev/null)
    alive=0; [ -n "$pg" ] && kill -0 -"$pg" 2>/dev/null && alive=1
    # what was running (the steps' markers) and what was stored at the kill
    running=$(ls "$d/out.awq/running" 2>/dev/null | tr '\n' ' ')
    [ -n "$pg" ] && kill -9 -"$pg" 2>/dev/null
    wait $bg 2>/dev/null
    # kill(2) returns before the group's processes are gone: resume once they are, as after a
    # crash (a plan that looked while a killed step was still exiting would see its claim live)
    j=0; while [ -n "$pg" ] && kill -0 -"$pg" 2>/dev/null && [ $j -lt 200 ]; do sleep 0.05; j=$((j + 1)); done
    stored=$(find "$d/store/objects" -type f ! -name '.*' 2>/dev/null | wc -l)
    n=$((n + 1)); mid=$((mid + alive))
    t0=$(now)
    quantize "$d/store" "$d/out" "$d/resume.log"; rc=$?
    rs=$(since "$t0")
    res=0; [ $rc -eq 0 ] && res=1
    same=0; [ $rc -eq 0 ] && diff -r -q "$REF" "$d/out" >/dev/null && same=1
    ver=0; "$BIN/awq-obj" --store "$d/store" verify >"$d/verify.log" 2>&1 && ver=1
    left=$( { find "$d" -name '.tmp-*'; find "$d" -path '*.awq/claims/*'; ls -d "$d"/out.tmp-* "$d"/out.old-* 2>/dev/null; } | wc -l)
    ok_resume=$((ok_resume + res)); ok_same=$((ok_same + same)); ok_verify=$((ok_verify + ver)); left_total=$((left_total + left))
    state="killed while running: ${running:-(nothing yet: planning or starting)}"
    [ $alive -eq 0 ] && state="had finished before the kill"
    echo "  trial $i: kill at $delay s, $stored objects stored, $state; resume $rs s: exit $rc, OUT same $same, verifies $ver, leftovers $left"
    printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$delay" "$stored" "$alive" "$running" >>"$WORK/trials.txt"
    if [ $((res * same * ver)) -eq 0 ] || [ "$left" -ne 0 ]; then
        echo "    resume log:"; tail -n 8 "$d/resume.log" | sed 's/^/      /'
        [ $ver -eq 1 ] || { echo "    verify:"; grep -v "verified" "$d/verify.log" | head -n 5 | sed 's/^/      /'; }
        [ "$left" -eq 0 ] || { echo "    left:"; { find "$d" -name '.tmp-*'; find "$d" -path '*.awq/claims/*'; } | sed "s|$d/|      |"; }
        cp -r "$d" "$WORK/failed-$i"
    fi
done
echo
echo "kill moments: $(cut -f2 "$WORK/trials.txt" | sort -n | awk '{a[NR] = $1} END {printf "min %s s, median %s s, max %s s", a[1], a[int((NR + 1) / 2)], a[NR]}') (uninterrupted run $REF_S s)"
echo "objects stored at the kill (of $(find "$WORK/ref-store/objects" -type f ! -name '.*' | wc -l)): $(cut -f3 "$WORK/trials.txt" | sort -n | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep = ", "}')"
echo "steps running at the kills: $(cut -f5 "$WORK/trials.txt" | tr ' ' '\n' | sed 's/\.block[0-9-]*//' | grep . | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep = ", "}')"
{
    printf '%-8s %14s %10s %14s %14s %10s %10s\n' kills "mid-run" resumed "OUT identical" "store clean" leftovers "total s"
    printf '%-8s %14s %10s %14s %14s %10s %10s\n' "$n" "$mid/$n" "$ok_resume/$n" "$ok_same/$n" "$ok_verify/$n" "$left_total" "$(since "$t_all")"
} >"$WORK/table.txt"
cat "$WORK/table.txt"
