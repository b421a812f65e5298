#!/bin/sh
# t_terminal.sh - what a person sees on the terminal (issue 16): `make quantize` and `make demo`
# print their step lines and nothing of make's own ("Nothing to be done", the plan's make's
# "*** [...] Error 1" under a failed step's clean error), no "gpu units" lines, no bare paths; a
# failed step's hint names the make variable under make and the flag by hand; every program in
# bin/ answers --help; `make help` says what CALIB takes; `make status` has a row for every stage,
# the output's shards and assemble included.
. tests/lib.sh
for p in awq-plan awq-gen-model awq-gen-tokens awq-step awq-status awq-capture; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
ROOT=$(pwd)
# make as a person types it: not a sub-make of `make test` (whose MAKELEVEL would name it make[1])
unset MAKELEVEL MAKEFLAGS MFLAGS
M=$TMP/model
tiny_model "$M" 2 21
"$BIN/awq-gen-tokens" -q --vocab 256 --count 2048 --seed 5 --out "$TMP/calib.i32" >/dev/null
q() { # OUT [VAR=value...]: make quantize into the store $STORE; its output in $TMP/log
    _o=$1; shift
    AWQ_CACHE="$STORE" make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$M" OUT="$_o" \
        CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 "$@" >"$TMP/log" 2>&1
}
# lines make prints of its own, and lines that are nothing but a path
noise() { grep -E "Nothing to be done|\*\*\*|gpu units|^/[^ ]*$" "$1"; }

STORE=$TMP/s
q "$TMP/out"; rc1=$?
cp "$TMP/log" "$TMP/log1"
q "$TMP/out"; rc2=$?
check quantize_twice_without_noise '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && grep -q "^awqmake: block 1 *quantize" "$TMP/log1" && ! noise "$TMP/log1" && ! noise "$TMP/log"'
# the units the steps held are in their logs only at -v (t_slots.sh reads them there): a failed
# step shows its log, and on a machine without a GPU they meant nothing to anyone
check no_gpu_units_in_step_logs '[ -n "$(ls "$TMP/out.awq/logs/"quantize.block*.log)" ] && ! grep -q "gpu units" "$TMP/out.awq/logs/"*.log'

# A step that fails cleanly: DEVICE=cuda with no GPU visible (or a build without CUDA). The step's
# line, its error and the hint in make's words; none of the plan's make's "***" lines. The
# top-level make still ends with one line of its own ("make: *** [...quantize] Error 2"): GNU
# make prints it for any recipe that fails, and the exit status must say the run failed. (A store
# of its own: DEVICE changes no key, so the first store would have every object.)
STORE=$TMP/s_cuda
CUDA_VISIBLE_DEVICES= q "$TMP/out_cuda" DEVICE=cuda; rc=$?
check failed_step_hint_names_the_make_variable '[ $rc -ne 0 ] && grep -q "FAILED after" "$TMP/log" && grep -q "^  hint: .*DEVICE=cpu" "$TMP/log" && ! grep -q -- "--device" "$TMP/log"'
check failed_step_without_the_plans_make_errors '! grep -qE "^make\[[0-9]+\]: \*\*\*|Waiting for unfinished jobs" "$TMP/log" && [ "$(grep -c "\*\*\*" "$TMP/log")" -eq 1 ] && tail -n 1 "$TMP/log" | grep -q "^make: \*\*\* .*quantize\] Error" || { cat "$TMP/log"; false; }'
tok=$(awk -F'\t' '$2 == "tokens" {print $3}' "$TMP/out_cuda.awq/manifest.tsv")
CUDA_VISIBLE_DEVICES= AWQ_CACHE="$TMP/s_cuda" "$BIN/awq-capture" -m "$M" --tokens "$tok" --device cuda >"$TMP/log" 2>&1; rc=$?
check failed_program_by_hand_hint_names_the_flag '[ $rc -ne 0 ] && grep -q "^hint: .*--device cpu" "$TMP/log" && ! grep -q "DEVICE=" "$TMP/log"'

# every program answers --help (exit 0, usage on stdout), the two in sh that make runs included;
# and a usage error is one line and a pointer to --help, not the shell's "parameter not set"
: >"$TMP/nohelp"
for p in "$BIN"/awq-*; do
    "$p" --help >"$TMP/help" 2>&1 && head -n 1 "$TMP/help" | grep -q "^usage: $(basename "$p")" || echo "$(basename "$p")" >>"$TMP/nohelp"
done
check every_program_answers_help '[ ! -s "$TMP/nohelp" ] || { cat "$TMP/nohelp"; false; }'
"$BIN/awq-step" >"$TMP/log" 2>&1; rc=$?
check awq_step_usage_error '[ $rc -eq 2 ] && grep -q "^usage: awq-step" "$TMP/log" && ! grep -q "parameter not set" "$TMP/log"'

make -C "$ROOT" --no-print-directory help O="$O" >"$TMP/help" 2>&1
check make_help_says_what_calib_takes 'grep -E "^  quantize " "$TMP/help" | grep -q "text, .jsonl or .i32" && ! grep -q "CALIB=ids.i32" "$TMP/help"'

# make status: the store objects per block, the output's files (each block's shard, the rest
# shard) and OUT itself; a removed shard and a removed OUT show as missing
st() { AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory status O="$O" OUT="$TMP/out" >"$TMP/status" 2>&1; }
row() { grep -qE "^$1 +$2 +$3 " "$TMP/status"; }
st
check status_has_every_stage 'row 0 pack done && row 0 shard done && row 1 shard done && row - shard done && row - assemble done && [ "$(grep -c " shard " "$TMP/status")" -eq 3 ]'
rm -f "$TMP/out.awq/shards/1-"*
rm -rf "$TMP/out"
st
check status_shows_missing_files 'row 0 shard done && row 1 shard missing && row - assemble missing'

# make demo: its own model, store and output under $TMP (DEMO_DIR); no noise, no bare paths
if make -C "$ROOT" --no-print-directory demo O="$O" DEMO_DIR="$TMP/demo" >"$TMP/demo.log" 2>&1; then rc=0; else rc=$?; fi
check demo_without_noise '[ $rc -eq 0 ] && grep -q "^awqmake: model *assemble" "$TMP/demo.log" && ! noise "$TMP/demo.log"'
