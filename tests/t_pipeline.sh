#!/bin/sh
# t_pipeline.sh - the Make pipeline (issue 5) on a small synthetic model: -j4 and -j1 give
# byte-identical outputs, a repeated run starts no stage, a parameter change reruns exactly the
# stages whose objects it changes, a changed block reruns only itself and later blocks, two
# experiments share capture objects, kill -9 at random moments then a re-run gives the same
# output with a store that verifies, a damaged object is detected and rebuilt, and a full disk
# is a clear error with no partial object and resumes once there is space again.
. tests/lib.sh
for p in awq-plan awq-gen-model awq-gen-tokens awq-step; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
ROOT=$(pwd)
M="$TMP/model"
"$BIN/awq-gen-model" -q --out "$M" --layers 3 --hidden 64 --ffn 128 --heads 4 --kv-heads 2 --vocab 256 --seed 11 >/dev/null
"$BIN/awq-gen-tokens" --vocab 256 --count 2048 --seed 5 --out "$TMP/calib.i32" >/dev/null 2>&1
# q STORE OUT [VAR=value...]: one `make quantize`, its messages in $TMP/log
q() {
    store=$1; out=$2; shift 2
    AWQ_CACHE="$store" make -C "$ROOT" --no-print-directory -j4 quantize O="$O" MODEL="$M" OUT="$out" CALIB="$TMP/calib.i32" \
        SEQLEN=128 GROUP=64 N_GRID=4 "$@" >"$TMP/log" 2>&1
}
steps() { grep -c "^awqmake: .* s  \(hit\|miss\)$" "$TMP/log"; }           # stages that ran
ran() { grep "^awqmake: .* s  \(hit\|miss\)$" "$TMP/log" | awk '{print $(NF-3)}' | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }

q "$TMP/s1" "$TMP/out1"; rc=$?
# embed + 2 captures (block 2's output feeds nothing) + 3 quantize (scales, clip, packed) + assemble
check first_run_builds '[ $rc -eq 0 ] && [ -f "$TMP/out1/config.json" ] && [ "$(ran)" = " 1 assemble; 2 capture; 1 embed; 3 quantize;" ] && [ $("$BIN/awq-obj" --store "$TMP/s1" ls -l | grep -c "	scaled	") -eq 0 ]'
cp -r "$TMP/out1" "$TMP/ref"   # out1 is re-assembled with other parameters below
AWQ_CACHE="$TMP/s2" make -C "$ROOT" --no-print-directory -j1 quantize O="$O" MODEL="$M" OUT="$TMP/out2" CALIB="$TMP/calib.i32" \
    SEQLEN=128 GROUP=64 N_GRID=4 >/dev/null 2>&1
check j4_and_j1_byte_identical 'diff -r "$TMP/ref" "$TMP/out2"'

# (the bound on concurrent awq-quantize steps is tested in t_slots.sh)

q "$TMP/s1" "$TMP/out1"
check second_run_starts_no_stage '[ $(steps) -eq 0 ] && grep -q "0 to compute" "$TMP/log"'

q "$TMP/s1" "$TMP/out1" CLIP_GRID=10
# the quantize steps reran, and found the scales in the store: no scale search ran
check clip_grid_reruns_clip_pack_assemble_only '[ "$(ran)" = " 1 assemble; 3 quantize;" ] && ! grep -l "groups searched" "$TMP/out1.awq/logs"/quantize.block*.log && [ $(grep -l "linears clipped" "$TMP/out1.awq/logs"/quantize.block*.log | wc -l) -eq 3 ]'

q "$TMP/s1" "$TMP/out_g32" GROUP=32
check group_change_reuses_every_capture '! grep -q -e " capture " -e " embed " "$TMP/log" && [ $(grep -c " quantize " "$TMP/log") -eq 3 ]'
check two_experiments_share_one_store '[ -f "$TMP/out_g32/config.json" ]'

# a copy of the model with block 1 changed: block 0's work is reused
cp -r "$M" "$TMP/model_b1"
python3 - "$TMP/model_b1/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
off = 8 + n + h['model.layers.1.mlp.down_proj.weight']['data_offsets'][0]
b[off + 1] ^= 0x04
open(p, 'wb').write(b)
PY
M_SAVE=$M; M="$TMP/model_b1"
q "$TMP/s1" "$TMP/out_b1"
M=$M_SAVE
check changed_block_reruns_it_and_later_only '! grep -q "block 0 " "$TMP/log" && grep -q "block 1   quantize" "$TMP/log" && grep -q "block 2   quantize" "$TMP/log" && grep -q "block 1   capture" "$TMP/log"'

# crash resume: kill -9 the whole make at random moments, then finish; same bytes as out1
i=0; crash_ok=1
while [ $i -lt 20 ]; do
    rm -rf "$TMP/out_c"
    [ $((i % 4)) -eq 0 ] && rm -rf "$TMP/s3"   # now and then from an empty store
    delay=$(awk -v s=$i 'BEGIN{srand(s*7+1); printf "%.2f", rand()*1.5}')
    ( AWQ_CACHE="$TMP/s3" setsid make -C "$ROOT" --no-print-directory -j4 quantize O="$O" MODEL="$M" OUT="$TMP/out_c" \
        CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 >/dev/null 2>&1 & echo $! >"$TMP/pid"; wait ) &
    sleep "$delay"
    pg=$(cat "$TMP/pid"); kill -9 -- -"$pg" 2>/dev/null
    wait
    q "$TMP/s3" "$TMP/out_c" || { crash_ok=0; echo "  resume $i failed: $(tail -3 "$TMP/log")" >&2; }
    diff -r "$TMP/ref" "$TMP/out_c" >/dev/null || { crash_ok=0; echo "  resume $i: output differs" >&2; }
    "$BIN/awq-obj" --store "$TMP/s3" verify >/dev/null 2>&1 || { crash_ok=0; echo "  resume $i: store does not verify" >&2; }
    i=$((i + 1))
done
check crash_resume_20_kills '[ $crash_ok -eq 1 ] && [ -z "$(ls -d "$TMP"/out_c.tmp-* 2>/dev/null)" ]'

# a damaged object: detected by the step that reads it, moved aside, rebuilt on the next run
act0=$(awk -F'\t' '$1 == "0" && $2 == "input" {print $3}' "$TMP/out1.awq/manifest.tsv")
f="$TMP/s1/objects/$(echo $act0 | cut -c1-2)/$(echo $act0 | cut -c3-)"
chmod u+w "$f"; printf 'XXXX' | dd of="$f" bs=1 seek=300 conv=notrunc 2>/dev/null
q "$TMP/s1" "$TMP/out_d" CLIP_GRID=7; rc1=$?
cp "$TMP/log" "$TMP/log.damaged"
q "$TMP/s1" "$TMP/out_d" CLIP_GRID=7; rc2=$?
check damaged_object_detected_and_rebuilt '[ $rc1 -ne 0 ] && grep -q "damaged" "$TMP/log.damaged" && [ $rc2 -eq 0 ] && grep -q "embed" "$TMP/log" && "$BIN/awq-obj" --store "$TMP/s1" verify >/dev/null'

# disk full: a small tmpfs as the store
mkdir -p "$TMP/small"
if mount -t tmpfs -o size=96k tmpfs "$TMP/small" 2>/dev/null; then
    q "$TMP/small" "$TMP/out_f"; rc=$?
    check disk_full_clear_error '[ $rc -ne 0 ] && grep -q "No space left on device" "$TMP/log" && [ -z "$(find "$TMP/small" -name ".tmp-*")" ] && "$BIN/awq-obj" --store "$TMP/small" verify >/dev/null 2>&1'
    mount -o remount,size=64m "$TMP/small"
    q "$TMP/small" "$TMP/out_f"; rc=$?
    check disk_full_resumes '[ $rc -eq 0 ] && diff -r "$TMP/ref" "$TMP/out_f"'
    umount "$TMP/small"
else
    skip disk_full_clear_error "cannot mount a tmpfs here (needs root)"
    skip disk_full_resumes "cannot mount a tmpfs here (needs root)"
fi
