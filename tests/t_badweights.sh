#!/bin/sh
# t_badweights.sh - NaN, Inf, and values fp16 cannot hold are refused by awq-plan's hashing pass
# (issue 16): one error line naming the file, tensor and element, before any step runs and with
# nothing written (no plan.mk, no object, no OUT); also when the keys come from the store's memo,
# whose record must not depend on NUMERICS; a hint (NUMERICS=fp32) only where it helps, as the
# make variable under make and as the flag by hand; and following it works. The values are
# planted at known elements, so the expected element is the test's, not the program's.
. tests/lib.sh
for p in awq-plan awq-gen-model awq-gen-tokens; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
command -v python3 >/dev/null 2>&1 || { skip all "python3 not found (it plants the values)"; exit 0; }
ROOT=$(pwd)
"$BIN/awq-gen-tokens" -q --vocab 256 --count 2048 --seed 5 --out "$TMP/calib.i32" >/dev/null

# plant FILE TENSOR INDEX HEX: element INDEX of TENSOR gets the raw bits HEX (little-endian, the
# tensor's dtype width)
plant() {
    python3 - "$@" <<'PY'
import json, struct, sys
p, name, i, bits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4], 16)
b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]; t = json.loads(b[8:8 + n])[name]
w = {'F16': 2, 'BF16': 2, 'F32': 4}[t['dtype']]
off = 8 + n + t['data_offsets'][0] + i * w
b[off:off + w] = bits.to_bytes(w, 'little')
open(p, 'r+b').write(b)
PY
}
q() { # MODEL STORE OUT [VAR=value...]: make quantize; its output in $TMP/log
    _m=$1 _s=$2 _o=$3; shift 3
    AWQ_CACHE="$_s" make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$_m" OUT="$_o" \
        CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 N_GRID=4 "$@" >"$TMP/log" 2>&1
}
by_hand() { # MODEL STORE [awq-plan options...]: awq-plan as a person runs it; output in $TMP/log
    _m=$1 _s=$2; shift 2
    AWQ_CACHE="$_s" "$BIN/awq-plan" --model "$_m" --calib "$TMP/calib.i32" --out "$TMP/hand" --work "$TMP/hand.awq" \
        --bin "$BIN" --seqlen 128 --group 64 "$@" >"$TMP/log" 2>&1
}
# nothing_written STORE OUT: no step ran, no plan, no object, no output
nothing_written() {
    ! grep -q '^awqmake: ' "$TMP/log" && [ ! -e "$2.awq/plan.mk" ] && [ ! -e "$2" ] &&
        [ -z "$(find "$1/objects" -type f 2>/dev/null)" ]
}
one_error() { [ "$(grep -c 'error:' "$TMP/log")" -eq 1 ] && grep -qF "$1" "$TMP/log"; }

# A NaN in block 2's down_proj ([64, 128], fp16): element 1000 is [7, 104]. Before, block 2's
# quantize met it after blocks 0 and 1 were computed, and the hint (--numerics fp32) did not help.
M=$TMP/nan
tiny_model "$M" 3 7
plant "$M/model.safetensors" model.layers.2.mlp.down_proj.weight 1000 7e00
q "$M" "$TMP/s1" "$TMP/out1"; rc=$?
cp "$TMP/log" "$TMP/log.nan"
nan_line="model.safetensors': tensor 'model.layers.2.mlp.down_proj.weight' element [7, 104] is NaN"
check nan_refused_by_the_plan '[ $rc -ne 0 ] && one_error "$nan_line" && grep -q "^awq-plan: error: " "$TMP/log"'
check nan_nothing_ran_or_written 'nothing_written "$TMP/s1" "$TMP/out1"'
check nan_no_hint '! grep -q "^hint:" "$TMP/log"'
# again, with the keys (and what the check needs) from the memo the first plan left
AWQ_VERBOSE=1 q "$M" "$TMP/s1" "$TMP/out1"; rc=$?
check nan_refused_from_the_memo '[ $rc -ne 0 ] && one_error "$nan_line" && grep -q "remembered in the store" "$TMP/log" && nothing_written "$TMP/s1" "$TMP/out1"'
q "$M" "$TMP/s1" "$TMP/out1" NUMERICS=fp32; rc=$?
check nan_refused_in_fp32 '[ $rc -ne 0 ] && one_error "$nan_line" && ! grep -q "^hint:" "$TMP/log"'

# -Inf in the embedding ([256, 64]): element 69 is [1, 5]
M=$TMP/inf
tiny_model "$M" 2 8
plant "$M/model.safetensors" model.embed_tokens.weight 69 fc00
q "$M" "$TMP/s2" "$TMP/out2"; rc=$?
check inf_in_embedding_refused '[ $rc -ne 0 ] && one_error "tensor '"'"'model.embed_tokens.weight'"'"' element [1, 5] is -Inf" && nothing_written "$TMP/s2" "$TMP/out2"'

# 99840 (bf16 0x47c3) in block 1's up_proj ([128, 64]) of a bf16 model, element 5 = [0, 5]: fp16
# numerics cannot hold it; fp32 can, and a run with NUMERICS=fp32 completes.
M=$TMP/big
tiny_model "$M" 3 9 --dtype bf16
cp -r "$M" "$TMP/big_head"
plant "$M/model.safetensors" model.layers.1.mlp.up_proj.weight 5 47c3
big_line="tensor 'model.layers.1.mlp.up_proj.weight' element [0, 5] = 99840 does not fit fp16"
q "$M" "$TMP/s3" "$TMP/out3" NUMERICS=fp32; rc=$?
check overflow_fits_in_fp32 '[ $rc -eq 0 ] && [ -f "$TMP/out3/config.json" ]'
# the memo the fp32 plan left says how large the values are, not that they passed: fp16 numerics
# are refused from it
q "$M" "$TMP/s3" "$TMP/out3b"; rc=$?
check overflow_refused_in_fp16 '[ $rc -ne 0 ] && one_error "$big_line" && [ ! -e "$TMP/out3b.awq/plan.mk" ] && [ ! -e "$TMP/out3b" ]'
check overflow_hint_is_the_make_variable 'grep -q "^hint: NUMERICS=fp32 " "$TMP/log" && ! grep -q -- "--numerics" "$TMP/log"'
by_hand "$M" "$TMP/s3"; rc=$?
check overflow_hint_by_hand_is_the_flag '[ $rc -ne 0 ] && one_error "$big_line" && grep -q "^hint: --numerics fp32 " "$TMP/log" && ! grep -q "NUMERICS=" "$TMP/log"'

# lm_head (not hashed for keys, but written to the checkpoint in fp16 whatever the numerics):
# refused in fp32 too, with no hint, since no setting helps
M=$TMP/big_head
plant "$M/model.safetensors" lm_head.weight 3 47c3
q "$M" "$TMP/s4" "$TMP/out4" NUMERICS=fp32; rc=$?
check overflow_in_lm_head_refused '[ $rc -ne 0 ] && one_error "tensor '"'"'lm_head.weight'"'"' element [0, 3] = 99840 does not fit fp16" && ! grep -q "^hint:" "$TMP/log" && nothing_written "$TMP/s4" "$TMP/out4"'
