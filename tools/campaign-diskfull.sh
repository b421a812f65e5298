#!/bin/sh
# campaign-diskfull.sh - fault campaign (issue 16): the disk fills up at TRIALS random moments of a
# real-model `make quantize` whose store and OUT (with OUT.awq: plan, logs, shards) are on one
# small tmpfs. The tmpfs of each trial is sized at random between 2% and 100% of what a whole run
# needs there, so the run stops wherever that much has been written (the store, a shard, the
# plan, a log, the output); then EDGES trials at fixed fractions near 0% and 100%. Each trial checks: the make fails with a clear error (an "error:" line
# saying "No space left on device" and naming a path on the tmpfs); no partial object or output
# (no temporary file left, every stored object verifies, no OUT and no OUT.tmp-*, every shard
# file complete); then, with space again (the tmpfs grown to 64 MB), a resume finishes with an
# OUT byte-identical to an uninterrupted run's. Needs root (mount).
#   tools/campaign-diskfull.sh                   # TRIALS=20
. "$(dirname "$0")/campaign-lib.sh"
TRIALS=${TRIALS:-20}
EDGES=${EDGES-0.002 0.006 0.98 0.992 0.997}
WORK=${WORK:-/tmp/awq-campaign-diskfull}
MNT=$WORK/mnt
mkdir -p "$WORK" "$MNT"
umount "$MNT" 2>/dev/null
mount -t tmpfs -o size=64m tmpfs "$MNT" || { echo "campaign-diskfull: cannot mount a tmpfs (needs root)"; exit 2; }
trap 'umount "$MNT" 2>/dev/null' EXIT
echo "campaign-diskfull: $(machine)"
echo "experiment: $(quantize_cmd), AWQ_CACHE and OUT on a tmpfs"
reference "$WORK"

# what a whole run takes on the tmpfs
quantize "$MNT/store" "$MNT/out" "$WORK/need.log" || { echo "a run on the tmpfs failed"; tail "$WORK/need.log"; exit 1; }
NEED=$(df -k --output=used "$MNT" | tail -1)
echo "a whole run uses ${NEED} KiB of the tmpfs"
rm -rf "$MNT"/*

table="$WORK/table.txt"
ok_err=0 ok_named=0 ok_clean=0 ok_resume=0 n=0 first_fail=
: >"$WORK/trials.txt"
# the random trials, then the EDGES: fixed fractions of the need (the plan's own writes at the
# start; the last shard and the output's files at the end), which random sizes seldom hit
{ for i in $(seq 1 "$TRIALS"); do awk -v i="$i" -v f="$(rand "$i")" 'BEGIN {printf "%s %.6f\n", i, 0.02 + f * 0.98}'; done
  k=0; for f in $EDGES; do k=$((k + 1)); echo "edge$k $f"; done; } >"$WORK/sizes.txt"
while read -r i f; do
    rm -rf "$MNT"/*
    kb=$(awk -v f="$f" -v need="$NEED" 'BEGIN {k = int(f * need); printf "%d", k < 4 ? 4 : k}')
    mount -o remount,size="${kb}k" "$MNT"
    quantize "$MNT/store" "$MNT/out" "$WORK/log.$i"; rc=$?
    n=$((n + 1))
    made=$(ls "$MNT/store/objects"/*/ 2>/dev/null | grep -c -v -e '^$' -e '^\.' -e ':$')
    # a clear error: one line "error: ... No space left on device" that names a file on the tmpfs
    err=$(grep -m1 "error: .*No space left on device" "$WORK/log.$i")
    e_ok=0; [ $rc -ne 0 ] && [ -n "$err" ] && e_ok=1
    named=0; printf '%s' "$err" | grep -q "$MNT/" && named=1
    # nothing partial
    tmps=$(find "$MNT" -name '.tmp-*' -o -name '*.tmp-*' -o -path '*.awq/claims/*' | grep -v '\.awq/claims$' | wc -l)
    ver=0; [ ! -d "$MNT/store" ] || "$BIN/awq-obj" --store "$MNT/store" verify >"$WORK/verify.$i" 2>&1 && ver=1
    [ -d "$MNT/store" ] || ver=1
    outp=0; [ -e "$MNT/out" ] && outp=1
    shards_ok=1
    for s in "$MNT"/out.awq/shards/*.safetensors; do
        [ -f "$s" ] || continue
        python3 - "$s" <<'PY' || shards_ok=0
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
end = max([t["data_offsets"][1] for k, t in h.items() if k != "__metadata__"] + [0])
sys.exit(0 if len(b) == 8 + n + end else 1)
PY
    done
    clean=0; [ "$tmps" -eq 0 ] && [ $ver -eq 1 ] && [ $outp -eq 0 ] && [ $shards_ok -eq 1 ] && clean=1
    # space again: resume
    mount -o remount,size=64m "$MNT"
    quantize "$MNT/store" "$MNT/out" "$WORK/resume.$i"; rrc=$?
    res=0; [ $rrc -eq 0 ] && diff -r -q "$REF" "$MNT/out" >/dev/null && "$BIN/awq-obj" --store "$MNT/store" verify >/dev/null 2>&1 && res=1
    [ $rc -eq 0 ] && { e_ok=0; named=0; }   # the run fitted: no disk-full moment (counted as a failure of the trial)
    ok_err=$((ok_err + e_ok)); ok_named=$((ok_named + named)); ok_clean=$((ok_clean + clean)); ok_resume=$((ok_resume + res))
    where=$(printf '%s' "$err" | sed "s|$MNT/||g" | cut -c1-150)
    echo "  trial $i: tmpfs ${kb} KiB ($(awk -v a="$kb" -v b="$NEED" 'BEGIN {printf "%d", 100 * a / b}')%), $made objects stored, exit $rc: ${where:-no disk-full error}"
    echo "    clear error $e_ok, names the file $named, nothing partial $clean (temp $tmps, verifies $ver, OUT $outp, shards $shards_ok), resume identical $res"
    printf '%s\t%s\t%s\t%s\n' "$i" "$kb" "$made" "$where" >>"$WORK/trials.txt"
    if [ $((e_ok * named * clean * res)) -eq 0 ]; then
        [ -n "$first_fail" ] || first_fail=$i
        echo "    log:"; grep -v "^awqmake: .* s  miss$" "$WORK/log.$i" | tail -n 8 | sed 's/^/      /'
        [ $res -eq 1 ] || { echo "    resume:"; tail -n 5 "$WORK/resume.$i" | sed 's/^/      /'; }
    fi
done <"$WORK/sizes.txt"
{
    printf '%-8s %14s %14s %16s %16s\n' trials "clear error" "names file" "nothing partial" "resume identical"
    printf '%-8s %14s %14s %16s %16s\n' "$n" "$ok_err/$n" "$ok_named/$n" "$ok_clean/$n" "$ok_resume/$n"
} >"$table"
echo
echo "where the disk filled (stage of the failing step: count):"
cut -f4 "$WORK/trials.txt" | awk '{prog = "?"; if (match($0, /awq-[a-z-]*: error/)) prog = substr($0, RSTART, RLENGTH - 7)
    what = /store\/objects\// ? "a store object" : /out\.awq\/shards\// ? "a shard file" : /out\.awq\// ? "a file of OUT.awq" : /out/ ? "OUT" : "other"
    print prog ", writing " what}' | sort | uniq -c | sed 's/^ */  /'
cat "$table"
