#!/bin/sh
# campaign-concurrent.sh - fault campaign (issue 16): K `make quantize` started together on one
# empty store, either on one OUT or each on its own OUT, ROUNDS times for each of K = 2 and 4.
# Each round checks that every object was computed exactly once - counted from the steps' "miss"
# lines of all the makes (an experiment is 1 embed, 4 capture, 5 quantize steps; each OUT has its
# own 6 shard files and 1 assemble) and, with separate OUTs, from the scale searches the quantize
# logs report - that every OUT is byte-identical to an uninterrupted run's, that the store
# verifies, and that no claim or temporary file is left.
#   tools/campaign-concurrent.sh                 # ROUNDS=5
. "$(dirname "$0")/campaign-lib.sh"
ROUNDS=${ROUNDS:-5}
WORK=${WORK:-/tmp/awq-campaign-concurrent}
mkdir -p "$WORK"
echo "campaign-concurrent: $(machine)"
echo "experiment: $(quantize_cmd)"
reference "$WORK"
L=$(awk -F'\t' '$2 == "pack"' "$REF.awq/manifest.tsv" | wc -l)

table="$WORK/table.txt"
printf '%-22s %6s %14s %10s %10s %10s %8s\n' case rounds "computed once" "OUT same" "verifies" "leftovers" "s/round" >"$table"
for case in "2 one" "4 one" "2 own" "4 own"; do
    set -- $case; K=$1 how=$2
    ok_once=0 ok_same=0 ok_verify=0 leftovers=0 secs=0
    for r in $(seq 1 "$ROUNDS"); do
        d="$WORK/k$K-$how"; rm -rf "$d"; mkdir -p "$d"
        t0=$(now)
        pids=
        for j in $(seq 1 "$K"); do
            out="$d/out"; [ "$how" = own ] && out="$d/out$j"
            quantize "$d/store" "$out" "$d/log.$j" &
            pids="$pids $!"
        done
        rcs=
        for p in $pids; do wait "$p"; rcs="$rcs$?"; done
        dt=$(since "$t0"); secs=$(awk -v a="$secs" -v b="$dt" 'BEGIN {print a + b}')
        # what one experiment computes, and what each OUT makes of its own
        n_out=1; [ "$how" = own ] && n_out=$K
        want="$((L - 1)) capture;1 embed;$L quantize;"
        got=$(misses "$d"/log.* | tr ';' '\n' | grep -v -e assemble -e shard | tr '\n' ';' | sed 's/;*$/;/')
        got_out=$(misses "$d"/log.* | tr ';' '\n' | grep -e assemble -e shard | tr '\n' ';')
        want_out="$n_out assemble;$((n_out * (L + 1))) shard;"
        searches=$L
        [ "$how" = own ] && searches=$(cat "$d"/out*.awq/logs/quantize.*.log | grep -c "groups searched")
        once=0; [ "$got" = "$want" ] && [ "$got_out" = "$want_out" ] && [ "$searches" -eq "$L" ] && once=1
        same=1
        for o in "$d"/out "$d"/out[0-9] "$d"/out[0-9][0-9]; do [ -d "$o" ] || continue; diff -r -q "$REF" "$o" >/dev/null || same=0; done
        [ "$rcs" = "$(printf '0%.0s' $(seq 1 "$K"))" ] || same=0
        ver=0; "$BIN/awq-obj" --store "$d/store" verify >"$d/verify.log" 2>&1 && ver=1
        left=$( { find "$d" -name '.tmp-*'; find "$d" -path '*.awq/claims/*'; ls -d "$d"/out*.tmp-* 2>/dev/null; } | wc -l)
        ok_once=$((ok_once + once)); ok_same=$((ok_same + same)); ok_verify=$((ok_verify + ver)); leftovers=$((leftovers + left))
        echo "  K=$K $how OUT, round $r: exit $rcs, $dt s; computed: $got$got_out scale searches $searches; once=$once same=$same verifies=$ver leftovers=$left"
        [ $once -eq 1 ] || echo "    computed more or less than once: want $want$want_out"
        [ $same -eq 1 ] || { echo "    an OUT differs or a make failed:"; tail -n 3 "$d"/log.* | sed 's/^/      /'; cp -r "$d" "$WORK/failed-k$K-$how-$r"; }
    done
    name="$K makes, $( [ "$how" = one ] && echo "one OUT" || echo "$K OUTs")"
    printf '%-22s %6s %14s %10s %10s %10s %8s\n' "$name" "$ROUNDS" "$ok_once/$ROUNDS" "$ok_same/$ROUNDS" "$ok_verify/$ROUNDS" \
        "$leftovers" "$(awk -v s="$secs" -v n="$ROUNDS" 'BEGIN {printf "%.1f", s / n}')" >>"$table"
done
echo
echo "one store per round; 'computed once': every object by one make only (miss lines; scale searches from the logs)"
cat "$table"
