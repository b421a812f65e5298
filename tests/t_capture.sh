#!/bin/sh
# t_capture.sh - awq-tokenize and awq-capture as programs: the capture chain stores one act
# object per block input, a repeated run does no work, changing the weights of block k makes new
# objects for blocks > k only, --print-key agrees with the computed key, a damaged object is
# rebuilt, and bad input (unknown key, ids outside the vocabulary, fp16 overflow) is one clear
# error with a non-zero exit. The values of the chain are checked in test_forward.c/test_capture.c.
. tests/lib.sh
for p in awq-gen-model awq-gen-tokens awq-tokenize awq-capture awq-obj; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
export AWQ_CACHE="$TMP/store"
M="$TMP/model"
tiny_model "$M" 4 7
"$BIN/awq-gen-tokens" --vocab 256 --count 1000 --seed 3 --out "$TMP/ids.i32" >/dev/null 2>&1
n_objects() { find "$AWQ_CACHE/objects" -type f ! -name '.tmp-*' | wc -l; }

# chain MODEL -> prints the 5 act keys (act.0 .. act.4), one per line; stderr to $TMP/chain.err
chain() {
    k=$("$BIN/awq-capture" -v -m "$1" --tokens "$TOK" 2>>"$TMP/chain.err") || return 1
    echo "$k"
    for i in 0 1 2 3; do
        k=$("$BIN/awq-capture" -v -m "$1" --block $i --input "$k" 2>>"$TMP/chain.err") || return 1
        echo "$k"
    done
}

TOK=$("$BIN/awq-tokenize" --ids "$TMP/ids.i32" --seqlen 64 2>"$TMP/tok.err")
check tokenize_prints_key '[ ${#TOK} -eq 32 ] && "$BIN/awq-obj" info "$TOK" | grep -q "ids.*I32.*\[15,64\]"'

: >"$TMP/chain.err"
chain "$M" >"$TMP/keys1" || fail chain "capture chain failed: $(cat "$TMP/chain.err")"
check chain_makes_one_object_per_block '[ $(sort -u "$TMP/keys1" | wc -l) -eq 5 ] && [ $(n_objects) -eq 6 ]'
check chain_objects_verify '"$BIN/awq-obj" verify'

: >"$TMP/chain.err"
before=$(n_objects)
chain "$M" >"$TMP/keys2"
check repeat_does_no_work 'cmp "$TMP/keys1" "$TMP/keys2" && [ $(n_objects) -eq $before ] && [ $(grep -c "cache hit" "$TMP/chain.err") -eq 5 ] && ! grep -q "tokens in" "$TMP/chain.err"'

check print_key_matches '[ "$("$BIN/awq-capture" -m "$M" --block 2 --input "$(sed -n 3p "$TMP/keys1")" --print-key)" = "$(sed -n 4p "$TMP/keys1")" ]'

# the block keys awq-plan remembers in the store's memo are what stages use (a planted memo
# with a wrong key changes the printed key), and a model file changed in place (same size,
# new mtime) is never matched with its old memo
k2in=$(sed -n 3p "$TMP/keys1")
"$BIN/awq-plan" --model "$M" --calib "$TMP/ids.i32" --out "$TMP/plan_out" --work "$TMP/plan_out.awq" --bin "$BIN" \
    --seqlen 64 --group 32 >/dev/null 2>&1
memo=$(ls "$AWQ_CACHE"/memo/* 2>/dev/null | head -1)
with_memo=$("$BIN/awq-capture" -m "$M" --block 2 --input "$k2in" --print-key)
cp "$memo" "$TMP/memo.keep"
python3 - "$memo" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[2 * 16] ^= 1   # block 2's key
open(p, 'wb').write(b)
PY
planted=$("$BIN/awq-capture" -m "$M" --block 2 --input "$k2in" --print-key)
cp "$TMP/memo.keep" "$memo"
check stages_read_the_key_memo '[ -n "$memo" ] && [ "$with_memo" = "$(sed -n 4p "$TMP/keys1")" ] && [ "$planted" != "$with_memo" ]'
cp -p "$M/model.safetensors" "$TMP/model.keep"
python3 - "$M/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
off = 8 + n + h['model.layers.2.mlp.down_proj.weight']['data_offsets'][0]
b[off + 1] ^= 0x04
open(p, 'r+b').write(b)      # in place: same file, same size
PY
touch -d '+1 second' "$M/model.safetensors"
changed=$("$BIN/awq-capture" -m "$M" --block 2 --input "$k2in" --print-key)
cp -p "$TMP/model.keep" "$M/model.safetensors"
check memo_not_used_for_a_changed_file '[ "$changed" != "$with_memo" ]'

# Same model with one value of block 2 changed: act.0..act.2 are shared, act.3 and act.4 new.
cp -r "$M" "$TMP/model2"
python3 - "$TMP/model2/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
off = 8 + n + h['model.layers.2.mlp.up_proj.weight']['data_offsets'][0]
b[off + 1] ^= 0x40          # change the first fp16 value's exponent bits
open(p, 'wb').write(b)
PY
before=$(n_objects)
chain "$TMP/model2" >"$TMP/keys3"
check changed_block_k_reruns_later_blocks_only '[ "$(head -3 "$TMP/keys1")" = "$(head -3 "$TMP/keys3")" ] && [ "$(sed -n 4p "$TMP/keys1")" != "$(sed -n 4p "$TMP/keys3")" ] && [ "$(sed -n 5p "$TMP/keys1")" != "$(sed -n 5p "$TMP/keys3")" ] && [ $(n_objects) -eq $((before + 2)) ]'

# A damaged object is reported and rebuilt by the next run.
k2=$(sed -n 3p "$TMP/keys1")
f=$("$BIN/awq-obj" path "$k2")
chmod u+w "$f"; printf 'garbage' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null
"$BIN/awq-capture" -m "$M" --block 1 --input "$(sed -n 2p "$TMP/keys1")" >"$TMP/out" 2>"$TMP/err"
rc=$?
check damaged_object_rebuilt '[ "$(cat "$TMP/out")" = "$k2" ] && grep -q "warning" "$TMP/err" && "$BIN/awq-obj" verify "$k2"'

# Errors
"$BIN/awq-capture" -m "$M" --block 0 --input 0123456789abcdef0123456789abcdef >"$TMP/out" 2>"$TMP/err"
rc=$?
# (status 75: an input object is missing, which awq-step has made again, t_heal.sh)
check missing_input_is_an_error '[ $rc -eq 75 ] && [ ! -s "$TMP/out" ] && grep -q "error" "$TMP/err" && [ $(wc -l <"$TMP/err") -le 2 ]'
"$BIN/awq-capture" -m "$M" --block 9 --input "$TOK" >/dev/null 2>"$TMP/err"
rc=$?
check block_out_of_range '[ $rc -eq 1 ] && grep -q "block 9" "$TMP/err"'
"$BIN/awq-capture" -m "$M" --block 0 >/dev/null 2>"$TMP/err"
rc=$?
check usage_error_exit_2 '[ $rc -eq 2 ]'

"$BIN/awq-gen-tokens" --vocab 300 --count 640 --seed 4 --dist uniform --out "$TMP/big.i32" >/dev/null 2>&1
TOK2=$("$BIN/awq-tokenize" --ids "$TMP/big.i32" --seqlen 64 2>/dev/null)
"$BIN/awq-capture" -m "$M" --tokens "$TOK2" >/dev/null 2>"$TMP/err"
rc=$?
check id_outside_vocab '[ $rc -eq 1 ] && grep -q "outside the vocabulary" "$TMP/err" && grep -q "^hint:" "$TMP/err"'

printf 'abc' >"$TMP/odd.i32"
"$BIN/awq-tokenize" --ids "$TMP/odd.i32" >/dev/null 2>"$TMP/err"
rc=$?
check ids_file_not_int32 '[ $rc -eq 1 ] && grep -q "odd.i32" "$TMP/err"'
"$BIN/awq-tokenize" --ids "$TMP/ids.i32" --seqlen 4096 >/dev/null 2>"$TMP/err"
rc=$?
check too_few_ids '[ $rc -eq 1 ] && grep -q "do not fill one sequence" "$TMP/err"'

# fp16 overflow: huge norm weights make the MLP output exceed 65504.
"$BIN/awq-gen-model" -q --out "$TMP/hot" --layers 1 --hidden 64 --heads 4 --vocab 256 --outlier-scale 1000 --ffn 1024 >/dev/null
k0=$("$BIN/awq-capture" -m "$TMP/hot" --tokens "$TOK" 2>/dev/null)
n0=$(n_objects)
"$BIN/awq-capture" -m "$TMP/hot" --block 0 --input "$k0" >"$TMP/out" 2>"$TMP/err"
rc=$?
check fp16_overflow_named '[ $rc -eq 1 ] && grep -q "output of block 0.*sequence [0-9]*, token [0-9]*, channel [0-9]*" "$TMP/err" && [ $(n_objects) -eq $n0 ]'

# DeepSeek-V3 (tests/golden/deepseek_v3, 3 blocks): the capture chain runs (awq-capture needs no
# scale groups, which quantizing it would) and stores one object per block input
: >"$TMP/chain.err"
DS=tests/golden/deepseek_v3
k=$("$BIN/awq-capture" -m "$DS" --tokens "$TOK" 2>>"$TMP/chain.err") && echo "$k" >"$TMP/dskeys" &&
for i in 0 1 2; do k=$("$BIN/awq-capture" -m "$DS" --block $i --input "$k" 2>>"$TMP/chain.err") && echo "$k" >>"$TMP/dskeys"; done
check deepseek_v3_chain '[ $(sort -u "$TMP/dskeys" | wc -l) -eq 4 ] && [ ! -s "$TMP/chain.err" ] && "$BIN/awq-obj" info "$(tail -1 "$TMP/dskeys")" | grep -q "F16\|BF16\|F32"'
