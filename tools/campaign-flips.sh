#!/bin/sh
# campaign-flips.sh - fault campaign (issue 16): FLIPS random single-byte changes and TRUNCS random
# truncations of the store objects of a finished real-model run, each followed by a re-run into
# the same OUT with VERIFY=1. Damage number g (0-based) is a truncation when g % 11 == 10, else a
# flip (the byte XORed with a random non-zero value); it hits an object of kind g % 6 (tokens, act,
# scales, clipin, clip, packed: every kind alike), chosen at random, at a random offset (a flip) or
# to a random shorter length (a truncation). PER_RUN damages go into distinct objects before each
# run (1: one run per damage; more: a faster equivalent, each damage still counted on its own).
# Every SAMPLE-th run (7: prime to the 6 kinds, so every kind is sampled) first goes into a fresh OUT without VERIFY (a step that reads a damaged
# object heals it; one that has no reason to read it does not see it), then the VERIFY=1 run.
# Counts per damage: detected (its object named damaged by a run), rebuilt (the object is back,
# byte-identical to the one before the damage), and per run: exit status, OUT byte-identical to
# an uninterrupted run's. The store is verified every 10 runs and at the end.
#   tools/campaign-flips.sh                      # FLIPS=1000 TRUNCS=100 PER_RUN=1 SAMPLE=7
. "$(dirname "$0")/campaign-lib.sh"
FLIPS=${FLIPS:-1000}
TRUNCS=${TRUNCS:-100}
PER_RUN=${PER_RUN:-1}
SAMPLE=${SAMPLE:-7}
WORK=${WORK:-/tmp/awq-campaign-flips}
mkdir -p "$WORK"
echo "campaign-flips: $(machine)"
echo "experiment: $(quantize_cmd); then per run: the damage, [every $SAMPLE-th: make quantize OUT=fresh], make quantize OUT=same VERIFY=1"
reference "$WORK"
S=$WORK/s OUT=$WORK/out
rm -rf "$S" "$OUT" "$OUT.awq" "$WORK/pristine" "$WORK/fresh" "$WORK/fresh.awq"
cp -a "$WORK/ref-store" "$S"
quantize "$S" "$OUT" "$WORK/first.log" || { echo "a run from the reference's store failed"; tail "$WORK/first.log"; exit 1; }
cp -a "$S" "$WORK/pristine"
"$BIN/awq-obj" --store "$S" ls -l | awk -F'\t' '{print $1 "\t" $2}' | sort -k2 >"$WORK/objects.tsv"
KINDS="tokens act scales clipin clip packed"
echo "objects: $(cut -f2 "$WORK/objects.tsv" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep = ", "}')"
for k in $KINDS; do grep -q "	$k$" "$WORK/objects.tsv" || { echo "no $k object in the store"; exit 1; }; done

path() { echo "$S/objects/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-)"; }
TOTAL=$((FLIPS + TRUNCS))
RUNS=$(( (TOTAL + PER_RUN - 1) / PER_RUN ))
: >"$WORK/damages.tsv"   # g, kind, key, what, detected, rebuilt, detected by the fresh-OUT run
: >"$WORK/pending.tsv"
bad_runs=0 out_diff=0 fresh_runs=0 fresh_diff=0 verify_bad=0 t_all=$(now) t_runs=0
g=0
for r in $(seq 1 "$RUNS"); do
    # the damages of this run, in distinct objects
    : >"$WORK/this.tsv"
    j=0
    while [ $j -lt "$PER_RUN" ] && [ $g -lt "$TOTAL" ]; do
        kind=$(echo $KINDS | cut -d' ' -f$((g % 6 + 1)))
        keys=$(awk -F'\t' -v k="$kind" '$2 == k {print $1}' "$WORK/objects.tsv" | grep -v -x -F -f "$WORK/this.tsv" 2>/dev/null || true)
        [ -s "$WORK/this.tsv" ] || keys=$(awk -F'\t' -v k="$kind" '$2 == k {print $1}' "$WORK/objects.tsv")
        nk=$(echo "$keys" | wc -l)
        key=$(echo "$keys" | sed -n "$(awk -v f="$(rand "$g" 1)" -v n="$nk" 'BEGIN {printf "%d", 1 + int(f * n)}')p")
        f=$(path "$key")
        what=$(python3 - "$f" "$(rand "$g" 2)" "$(rand "$g" 3)" "$((g % 11 == 10))" <<'PY'
import os, sys
f, a, b, trunc = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
size = os.path.getsize(f)
os.chmod(f, 0o644)
if trunc:
    n = int(a * size)
    os.truncate(f, n)
    print("truncated %d -> %d" % (size, n))
else:
    off = int(a * size)
    x = 1 + int(b * 255)
    with open(f, "r+b") as h:
        h.seek(off); old = h.read(1)[0]; h.seek(off); h.write(bytes([old ^ x]))
    print("byte %d of %d xor 0x%02x" % (off, size, x))
PY
)
        echo "$key" >>"$WORK/this.tsv"
        printf '%s\t%s\t%s\t%s\n' "$g" "$kind" "$key" "$what" >>"$WORK/pending.tsv"
        g=$((g + 1)); j=$((j + 1))
    done
    t0=$(now)
    logs="$WORK/run.log"
    fresh=0
    if [ $((r % SAMPLE)) -eq 0 ]; then
        fresh=1; fresh_runs=$((fresh_runs + 1))
        rm -rf "$WORK/fresh" "$WORK/fresh.awq"
        quantize "$S" "$WORK/fresh" "$WORK/fresh.log"; frc=$?
        fsame=0; [ $frc -eq 0 ] && diff -r -q "$REF" "$WORK/fresh" >/dev/null && fsame=1
        [ $fsame -eq 1 ] || { fresh_diff=$((fresh_diff + 1)); echo "    fresh OUT: exit $frc, differs or failed:"; tail -n 5 "$WORK/fresh.log" | sed 's/^/      /'; }
        logs="$logs $WORK/fresh.log"
    fi
    quantize "$S" "$OUT" "$WORK/run.log" VERIFY=1; rc=$?
    dt=$(since "$t0"); t_runs=$(awk -v a="$t_runs" -v b="$dt" 'BEGIN {print a + b}')
    same=0; [ $rc -eq 0 ] && diff -r -q "$REF" "$OUT" >/dev/null && same=1
    [ $rc -eq 0 ] || bad_runs=$((bad_runs + 1))
    [ $same -eq 1 ] || out_diff=$((out_diff + 1))
    line=""
    while IFS='	' read -r dg kind key what; do
        p2="$(echo "$key" | cut -c1-2)/$(echo "$key" | cut -c3-)"
        det=0; cat $logs | grep -i "damaged\|truncated\|checksum\|corrupt" | grep -q -e "$key" -e "$p2" && det=1
        fdet=0; [ $fresh -eq 1 ] && grep -i "damaged\|truncated\|checksum\|corrupt" "$WORK/fresh.log" | grep -q -e "$key" -e "$p2" && fdet=1
        reb=0; cmp -s "$(path "$key")" "$WORK/pristine/objects/$p2" && reb=1
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dg" "$kind" "$key" "$what" "$det" "$reb" "$( [ $fresh -eq 1 ] && echo "$fdet" || echo -)" >>"$WORK/damages.tsv"
        line="$line $kind($what): detected $det rebuilt $reb$( [ $fresh -eq 1 ] && echo " fresh-OUT-read $fdet");"
        if [ $det -eq 0 ] || [ $reb -eq 0 ]; then
            # put the object back so that the next runs start from a sound store
            cp -a "$WORK/pristine/objects/$p2" "$(path "$key")"
        fi
    done <"$WORK/pending.tsv"
    : >"$WORK/pending.tsv"
    if [ $((r % 10)) -eq 0 ] || [ "$r" -eq "$RUNS" ]; then
        "$BIN/awq-obj" --store "$S" verify >"$WORK/verify.log" 2>&1 || { verify_bad=$((verify_bad + 1)); echo "    store does not verify:"; grep -v good "$WORK/verify.log" | head -3; }
    fi
    echo "  run $r/$RUNS ($dt s, exit $rc, OUT same $same):$line"
    [ $rc -eq 0 ] && [ $same -eq 1 ] || { tail -n 6 "$WORK/run.log" | sed 's/^/      /'; }
done
echo
echo "$RUNS runs of make quantize VERIFY=1 ($fresh_runs of them after a run into a fresh OUT without VERIFY), $(since "$t_all") s in all, $(awk -v s="$t_runs" -v n="$RUNS" 'BEGIN {printf "%.1f", s / n}') s per run"
{
    printf '%-8s %10s %10s %10s %10s %12s %16s\n' kind damages flips truncs detected "rebuilt same" "fresh OUT read"
    for k in $KINDS all; do
        awk -F'\t' -v k="$k" '$2 == k || k == "all" {n++; if ($4 ~ /^trunc/) t++; else f++; d += $5; b += $6; if ($7 != "-") {s++; sd += $7}}
            END {printf "%-8s %10d %10d %10d %10s %12s %16s\n", k, n, f, t, d "/" n, b "/" n, s ? sd "/" s : "-"}' "$WORK/damages.tsv"
    done
    echo "runs failed: $bad_runs/$RUNS, OUT differs: $out_diff/$RUNS, fresh OUT failed or differs: $fresh_diff/$fresh_runs, store verify failures: $verify_bad"
} >"$WORK/table.txt"
cat "$WORK/table.txt"
