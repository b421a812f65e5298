#!/bin/sh
# t_pipeline.sh - the Make pipeline (issue 5) on a small synthetic model: -j4 and -j1 give
# byte-identical outputs, a repeated run starts no stage, a parameter change reruns exactly the
# stages whose objects it changes, a changed block reruns only itself and later blocks, two
# experiments share capture objects, kill -9 at random moments then a re-run gives the same
# output with a store that verifies, a damaged object is detected and rebuilt, and a full disk
# is a clear error with no partial object and resumes once there is space again. The output's
# shard files are written while the pipeline runs (awq-shard) and only linked by assemble: the
# same tensors as awq-assemble writing them itself, a removed output is relinked without any other
# step, stale shards go, and a missing shard or packed object is a clear error.
. tests/lib.sh
pipeline_fixture
steps() { grep -c "^awqmake: .* s  \(hit\|miss\)$" "$TMP/log"; }           # stages that ran
ran() { grep "^awqmake: .* s  \(hit\|miss\)$" "$TMP/log" | awk '{print $(NF-3)}' | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }

# every make variable of the parameter record (stages/common/params.def) reaches awq-plan, and the
# record's entries with no make variable are the only ones left out
n_entries=$(grep -c '^AWQ_PARAM(' stages/common/params.def)
n_nomake=$(grep -c '^AWQ_PARAM(.*\.make = NULL' stages/common/params.def)
missing=
for v in $(grep '^AWQ_PARAM(' stages/common/params.def | grep -o '\.make = "[A-Z_0-9]*"' | cut -d'"' -f2); do
    make -C "$ROOT" --no-print-directory -n quantize O="$O" MODEL=m OUT=o CALIB=c "$v=x7" 2>&1 | grep "awq-plan" | grep -q "'$v=x7'" ||
        missing="$missing $v"
    n_nomake=$((n_nomake + 1))
done
check every_param_var_reaches_plan '[ -z "$missing" ] && [ $n_nomake -eq $n_entries ] || { echo "not passed:$missing ($n_nomake of $n_entries entries)"; false; }'

q "$TMP/s1" "$TMP/out1"; rc=$?
# embed + 2 captures (block 2's output feeds nothing) + 3 quantize (scales, clip, packed) + 3 block
# shards and the non-block one + assemble
check first_run_builds '[ $rc -eq 0 ] && [ -f "$TMP/out1/config.json" ] && [ "$(ran)" = " 1 assemble; 2 capture; 1 embed; 3 quantize; 4 shard;" ] && [ $("$BIN/awq-obj" --store "$TMP/s1" ls -l | grep -c "	scaled	") -eq 0 ]'

# the same checkpoint as awq-assemble writing every tensor itself from the same objects: the same
# tensors (name, dtype, shape, bytes; read by tests/dequant_check.py), an index that names each
# tensor's file and the total size, the same config and search results
keys() { awk -F'\t' -v st="$2" '$2 == st {printf "%s%s", sep, $3; sep = ","}' "$1/manifest.tsv"; }
AWQ_CACHE="$TMP/s1" "$BIN/awq-assemble" -m "$M" -o "$TMP/direct" --group 64 --packed "$(keys "$TMP/out1.awq" pack)" \
    --scales "$(keys "$TMP/out1.awq" scale-search)" --clips "$(keys "$TMP/out1.awq" clip-search)" >/dev/null 2>"$TMP/err"
cat >"$TMP/same.py" <<'PY'
import json, os, struct, sys
sys.path.insert(0, "tests")
from dequant_check import tensors
linked, direct = sys.argv[1:3]
assert tensors(linked) == tensors(direct), "tensors differ"
idx = json.load(open(os.path.join(linked, "model.safetensors.index.json")))
wm, held, total = idx["weight_map"], {}, 0
files = sorted(set(wm.values()))
assert files == ["model-%05d-of-00004.safetensors" % k for k in range(1, 5)], files
for f in files:
    b = open(os.path.join(linked, f), "rb").read()
    h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
    for name, t in h.items():
        if name != "__metadata__":
            held[name] = f
            total += t["data_offsets"][1] - t["data_offsets"][0]
assert held == wm and idx["metadata"]["total_size"] == total, "index disagrees with the shards"
assert all(wm[n] == "model-00004-of-00004.safetensors" for n in wm if not n.startswith("model.layers."))
PY
check linked_shards_equal_assemble_writing_every_tensor 'python3 "$TMP/same.py" "$TMP/out1" "$TMP/direct" && cmp "$TMP/out1/config.json" "$TMP/direct/config.json" && cmp "$TMP/out1.awq/awq_search_results.safetensors" "$TMP/direct.awq/awq_search_results.safetensors"'
cp -r "$TMP/out1" "$TMP/ref"   # out1 is re-assembled with other parameters below
AWQ_CACHE="$TMP/s2" make -C "$ROOT" --no-print-directory -j1 quantize O="$O" MODEL="$M" OUT="$TMP/out2" CALIB="$TMP/calib.i32" \
    SEQLEN=128 GROUP=64 N_GRID=4 >/dev/null 2>&1
check j4_and_j1_byte_identical 'diff -r "$TMP/ref" "$TMP/out2"'

rm -rf "$TMP/out1"
# leftovers of a killed assemble go (OUT.tmp-<pid>, OUT.old-<pid>); a user's OUT.old-mine stays
mkdir -p "$TMP/out1.tmp-99998" "$TMP/out1.old-99999" "$TMP/out1.old-mine"
q "$TMP/s1" "$TMP/out1"
check removed_output_is_only_relinked '[ "$(ran)" = " 1 assemble;" ] && diff -r "$TMP/ref" "$TMP/out1"'

# (the bound on concurrent awq-quantize steps is tested in t_slots.sh)

q "$TMP/s1" "$TMP/out1"
check second_run_starts_no_stage '[ $(steps) -eq 0 ] && grep -q "0 to compute" "$TMP/log"'

old_shards=$(ls "$TMP/out1.awq/shards")
q "$TMP/s1" "$TMP/out1" CLIP_GRID=10
# the quantize steps reran, and found the scales in the store: no scale search ran; the block
# shards were rewritten, the non-block one (same model files) was not
check clip_grid_reruns_clip_pack_assemble_only '[ "$(ran)" = " 1 assemble; 3 quantize; 3 shard;" ] && ! grep -l "groups searched" "$TMP/out1.awq/logs"/quantize.block*.log && [ $(grep -l "linears clipped" "$TMP/out1.awq/logs"/quantize.block*.log | wc -l) -eq 3 ]'

# the shards of the previous clip grid are gone; what is left is what the new output links to.
# The old output and those shards are removed in the background (it takes a while on gigabytes):
# gone() waits up to 10 s for the paths given to disappear.
gone() { i=0; while [ -n "$(ls -d "$@" 2>/dev/null)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; [ -z "$(ls -d "$@" 2>/dev/null)" ]; }
stale=0
for f in $old_shards; do case $f in rest-*) ;; *) [ -e "$TMP/out1.awq/shards/$f" ] && stale=$((stale + 1)) ;; esac; done
linked=0
for l in 0:1 1:2 2:3 rest:4; do   # shard file prefix : output shard number
    s=$(ls "$TMP/out1.awq/shards" | grep "^${l%:*}-")
    [ "$TMP/out1.awq/shards/$s" -ef "$TMP/out1/model-0000${l#*:}-of-00004.safetensors" ] 2>/dev/null && linked=$((linked + 1))
done
check stale_shards_removed_output_linked '[ $stale -eq 0 ] && [ $(ls -A "$TMP/out1.awq/shards" | wc -l) -eq 4 ] && [ $linked -eq 4 ] && gone "$TMP"/out1.tmp-* "$TMP"/out1.old-[0-9]*'
check killed_assembles_leftovers_removed_others_kept '[ -d "$TMP/out1.old-mine" ] && rmdir "$TMP/out1.old-mine"'

# a missing shard: one error line naming it and a hint; no temporary directory, the output unchanged
pk1=$(awk -F'\t' '$1 == "1" && $2 == "pack" {print $3}' "$TMP/out1.awq/manifest.tsv")
cp -r "$TMP/out1.awq/shards" "$TMP/shards_x"; cp -r "$TMP/out1" "$TMP/out1.before"
rm "$TMP/shards_x/1-$pk1.safetensors"
AWQ_CACHE="$TMP/s1" "$BIN/awq-assemble" -m "$M" -o "$TMP/out1" --group 64 --shards-dir "$TMP/shards_x" --packed "$(keys "$TMP/out1.awq" pack)" \
    --scales "$(keys "$TMP/out1.awq" scale-search)" --clips "$(keys "$TMP/out1.awq" clip-search)" >/dev/null 2>"$TMP/err"; rc=$?
check missing_shard_clear_error '[ $rc -eq 1 ] && [ $(grep -c . "$TMP/err") -eq 2 ] && grep -q "error: .*'"'"'$TMP/shards_x/1-$pk1.safetensors'"'"'" "$TMP/err" && grep -q "^hint: .*make quantize" "$TMP/err" && [ -z "$(ls -d "$TMP"/out1.tmp-* "$TMP"/out1.old-* 2>/dev/null)" ] && diff -r "$TMP/out1.before" "$TMP/out1" && [ $(ls "$TMP/shards_x" | wc -l) -eq 3 ]'

# awq-shard of a packed object that is not in the store, or that is damaged: a clear error, no
# file, and exit status 75 (an input object is gone: awq-step has it made again, t_heal.sh)
mkdir -p "$TMP/sh"
"$BIN/awq-shard" --store "$TMP/s1" -m "$M" --block 1 --packed 0123456789abcdef0123456789abcdef -o "$TMP/sh/1.safetensors" 2>"$TMP/err"; rc=$?
check shard_of_missing_object '[ $rc -eq 75 ] && grep -q "0123456789abcdef0123456789abcdef is not in the store" "$TMP/err" && [ -z "$(ls -A "$TMP/sh")" ]'
cp -r "$TMP/s1" "$TMP/s_bad"
f="$TMP/s_bad/objects/$(echo $pk1 | cut -c1-2)/$(echo $pk1 | cut -c3-)"
chmod u+w "$f"; printf 'XXXX' | dd of="$f" bs=1 seek=$(( $(wc -c <"$f") - 100 )) conv=notrunc 2>/dev/null
"$BIN/awq-shard" --store "$TMP/s_bad" -m "$M" --block 1 --packed "$pk1" -o "$TMP/sh/1.safetensors" 2>"$TMP/err"; rc=$?
check shard_of_damaged_object '[ $rc -eq 75 ] && grep -q "block 1: .*damaged" "$TMP/err" && [ -z "$(ls -A "$TMP/sh")" ]'

q "$TMP/s1" "$TMP/out_g32" GROUP=32
check group_change_reuses_every_capture '! grep -q -e " capture " -e " embed " "$TMP/log" && [ $(grep -c " quantize " "$TMP/log") -eq 3 ]'
check two_experiments_share_one_store '[ -f "$TMP/out_g32/config.json" ]'

# a copy of the model with block 1 changed: block 0's work is reused
cp -r "$M" "$TMP/model_b1"
flip_tensor_bit "$TMP/model_b1/model.safetensors" model.layers.1.mlp.down_proj.weight
M_SAVE=$M; M="$TMP/model_b1"
q "$TMP/s1" "$TMP/out_b1"
M=$M_SAVE
# (block 0's only step: its shard, into the new output's directory)
check changed_block_reruns_it_and_later_only '[ "$(grep "block 0 " "$TMP/log" | awk "{print \$(NF-3)}")" = shard ] && grep -q "block 1   quantize" "$TMP/log" && grep -q "block 2   quantize" "$TMP/log" && grep -q "block 1   capture" "$TMP/log"'

# crash resume: kill -9 the whole make at random moments, then finish; same bytes as out1. Some
# kills must find the make running (make_killed_at, tests/lib.sh; found by tools/campaign-kill.sh).
# The kill moments are drawn over the length of a run from an empty store, timed here: a fixed
# range (1.5 s) found the make running in only 1 of 20 kills once runs took 1.0-1.3 s.
rm -rf "$TMP/s3" "$TMP/out_c"
t0=$(date +%s.%N)
AWQ_CACHE="$TMP/s3" make -C "$ROOT" --no-print-directory -j4 quantize O="$O" MODEL="$M" OUT="$TMP/out_c" \
    CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 >/dev/null 2>&1
run_s=$(seconds_since "$t0")
i=0; crash_ok=1; n_killed=0
while [ $i -lt 20 ]; do
    rm -rf "$TMP/out_c"
    [ $((i % 4)) -eq 0 ] && rm -rf "$TMP/s3"   # now and then from an empty store
    make_killed_at "$(kill_delay $((i * 7 + 1)) "$run_s" $((i % 4 == 0)))" "$TMP/s3" -j4 MODEL="$M" OUT="$TMP/out_c" \
        CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 && n_killed=$((n_killed + 1))
    q "$TMP/s3" "$TMP/out_c" || { crash_ok=0; echo "  resume $i failed: $(tail -3 "$TMP/log")" >&2; }
    diff -r "$TMP/ref" "$TMP/out_c" >/dev/null || { crash_ok=0; echo "  resume $i: output differs" >&2; }
    "$BIN/awq-obj" --store "$TMP/s3" verify >/dev/null 2>&1 || { crash_ok=0; echo "  resume $i: store does not verify" >&2; }
    i=$((i + 1))
done
echo "  (crash resume: $n_killed of 20 kills found the make running (a run from an empty store took $run_s s); left: $(ls -d "$TMP"/out_c.tmp-* 2>/dev/null))" >&2
check crash_resume_20_kills '[ $crash_ok -eq 1 ] && [ $n_killed -ge 3 ] && [ -z "$(ls -d "$TMP"/out_c.tmp-* 2>/dev/null)" ] && [ $(ls -A "$TMP/out_c.awq/shards" | wc -l) -eq 4 ]'

# a crash right after the output appears (here: at the first `cp` any step runs, which is where
# the manifest used to be copied in, after OUT was renamed into place): the resume gives the same
# OUT, its manifest included (OUT was complete and up to date without it: found by the kills above)
mkdir -p "$TMP/fakebin"; printf '#!/bin/sh\nkill -9 0\n' >"$TMP/fakebin/cp"; chmod +x "$TMP/fakebin/cp"
rm -rf "$TMP/out_c"
AWQ_CACHE="$TMP/s3" PATH="$TMP/fakebin:$PATH" setsid make -C "$ROOT" --no-print-directory -j4 quantize O="$O" MODEL="$M" OUT="$TMP/out_c" \
    CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 >/dev/null 2>&1
q "$TMP/s3" "$TMP/out_c"; rc=$?
check crash_after_out_appears_resumes_complete '[ $rc -eq 0 ] && diff -r "$TMP/ref" "$TMP/out_c"'

# a damaged object: detected by the step that reads it, moved aside and rebuilt in the same run
# (a scale-grid change, so block 0's scale search reads its input; a clip-grid rerun would not);
# the next run has nothing to do (more in t_heal.sh)
act0=$(awk -F'\t' '$1 == "0" && $2 == "input" {print $3}' "$TMP/out1.awq/manifest.tsv")
f="$TMP/s1/objects/$(echo $act0 | cut -c1-2)/$(echo $act0 | cut -c3-)"
chmod u+w "$f"; printf 'XXXX' | dd of="$f" bs=1 seek=300 conv=notrunc 2>/dev/null
q "$TMP/s1" "$TMP/out_d" N_GRID=3; rc1=$?
cp "$TMP/log" "$TMP/log.damaged"
q "$TMP/s1" "$TMP/out_d" N_GRID=3; rc2=$?
check damaged_object_detected_and_rebuilt '[ $rc1 -eq 0 ] && grep -q "damaged.*; making it again" "$TMP/log.damaged" && grep -q " embed .* miss" "$TMP/log.damaged" && [ $rc2 -eq 0 ] && [ $(steps) -eq 0 ] && "$BIN/awq-obj" --store "$TMP/s1" verify >/dev/null'

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

# disk full where OUT.awq is: a step's error is still shown when its log cannot be written (its
# messages were lost with the log: found by tools/campaign-diskfull.sh, the output's last files)
mkdir -p "$TMP/full"
if mount -t tmpfs -o size=64k tmpfs "$TMP/full" 2>/dev/null; then
    mkdir -p "$TMP/full/w/logs" "$TMP/full/w/running" "$TMP/s_full/objects/ab"
    dd if=/dev/zero of="$TMP/full/filler" bs=4k 2>/dev/null   # until the tmpfs is full
    AWQ_WORK="$TMP/full/w" "$BIN/awq-step" "$TMP/s_full/objects/ab/cdef0123456789abcdef0123456789" 0 capture -- \
        sh -c 'echo "awq-capture: error: cannot write '"'"'x'"'"': No space left on device" >&2; exit 1' 2>"$TMP/err"; rc=$?
    check full_disk_step_error_shown_without_its_log \
        '[ $rc -eq 1 ] && grep -q "block 0 capture FAILED .*could not be written" "$TMP/err" && grep -q "^  awq-capture: error: cannot write .x.: No space left on device" "$TMP/err"'
    umount "$TMP/full"
else
    skip full_disk_step_error_shown_without_its_log "cannot mount a tmpfs here (needs root)"
fi
