#!/bin/sh
# t_generate.sh - awq-generate (issue 22): with ../shared/assets, its greedy tokens and text on
# stories260K equal transformers' (tests/golden/generate/golden.json, made by
# tools/golden/gen_generate_golden.py), from --prompt and from --prompt-ids, and through `make
# generate`; on CUDA (when a GPU answers) the same tokens as the CPU. Always: it generates from an
# AWQ checkpoint of a tiny synthetic model (--quant), and bad input is one clear error (exit 2 for
# usage; exit 1 naming the file, with a hint, for a missing model or a quantized one given as it).
. tests/lib.sh
for p in awq-generate awq-plan awq-gen-model awq-gen-tokens; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
ROOT=$(pwd)
G="$ROOT/tests/golden/generate/golden.json"
REGEN="regenerate with /tmp/goldenvenv/bin/python tools/golden/gen_generate_golden.py"
GEN="$BIN/awq-generate"
export AWQ_CACHE="$TMP/store"

check help '"$GEN" --help | grep -q -- "--prompt"'
"$GEN" -m /nonexistent -q >/dev/null 2>&1; rc1=$?
"$GEN" -m /nonexistent -p a --prompt-ids 1 >/dev/null 2>&1; rc2=$?
"$GEN" -m /nonexistent -p a -n 0 >/dev/null 2>&1; rc3=$?
check usage_exit_2 '[ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ]'
"$GEN" -m "$TMP/nomodel" -p hello >"$TMP/out" 2>"$TMP/err"; rc=$?
check missing_model_one_error '[ $rc -eq 1 ] && [ ! -s "$TMP/out" ] && grep -q "nomodel" "$TMP/err" && [ $(grep -vc "^hint:" "$TMP/err") -le 2 ]'

# generation from an AWQ checkpoint of a tiny model (no oracle here: make check-real compares with
# AutoAWQ's loader on SmolLM2), and a quantized directory given as the model
M="$TMP/model"
tiny_model "$M" 2 31
python3 - "$M/tokenizer.json" <<'PY'
import json, sys   # a byte-level tokenizer over the tiny model's 256 ids: one token per byte
from itertools import chain
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256)); cs = bs[:]; n = 0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256 + n); n += 1
vocab = {chr(c): b for b, c in zip(bs, cs)}
json.dump({"added_tokens": [], "normalizer": None, "post_processor": None, "decoder": {"type": "ByteLevel"},
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
           "model": {"type": "BPE", "vocab": vocab, "merges": []}}, open(sys.argv[1], "w"))
PY
"$BIN/awq-gen-tokens" --vocab 256 --count 2048 --seed 3 --out "$TMP/calib.i32" >/dev/null 2>&1
make -C "$ROOT" --no-print-directory O="$O" -j2 quantize MODEL="$M" OUT="$TMP/out" CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=64 \
    N_GRID=4 DEVICE=cpu >"$TMP/qlog" 2>&1 || { sed 's/^/    /' "$TMP/qlog" | tail -20 >&2; }
"$GEN" -m "$M" --quant "$TMP/out" -p "abc" -n 8 --ignore-eos --device cpu -o "$TMP/q.json" >"$TMP/q.txt" 2>"$TMP/q.err"; rc=$?
check quant_generates '[ $rc -eq 0 ] && python3 -c "
import json, sys; j = json.load(open(sys.argv[1])); assert len(j[\"tokens\"]) == 8 and j[\"prompt_ids\"] == [97, 98, 99], j" "$TMP/q.json"'
"$GEN" -m "$M" -p "abc" -n 8 --ignore-eos --device cpu -o "$TMP/fp.json" >/dev/null 2>&1
check fp_generates 'python3 -c "
import json, sys; assert len(json.load(open(sys.argv[1]))[\"tokens\"]) == 8" "$TMP/fp.json"'
AWQ_VIA_MAKE=1 "$GEN" -m "$TMP/out" -p abc >/dev/null 2>"$TMP/err"; rc=$?
check quantized_as_model_hint '[ $rc -eq 1 ] && grep -q "quantized checkpoint" "$TMP/err" && grep -q "^hint:.*MODEL=.*QUANT=" "$TMP/err"'

if [ -z "$ASSETS" ]; then
    skip golden "no ../shared/assets (stories260K-hf)"
    exit 0
fi
[ -f "$G" ] || { fail golden "$G missing: $REGEN"; exit 0; }
S="$ASSETS/models/stories260K-hf"
# cmp_golden INDEX JSON: prompt ids, tokens and text equal the golden's
cmp_golden() {
    python3 - "$G" "$1" "$2" "$REGEN" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))["generate"][int(sys.argv[2])]; o = json.load(open(sys.argv[3]))
for k in ("prompt_ids", "tokens", "text"):
    if g[k] != o[k]:
        sys.exit(f"{k}: awq-generate {o[k]!r}\n    transformers {g[k]!r}\n    ({sys.argv[4]})")
PY
}
n_gen=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["generate"]))' "$G")
i=0
while [ $i -lt "$n_gen" ]; do
    prompt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["generate"][int(sys.argv[2])]["prompt"])' "$G" $i)
    ids=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["generate"][int(sys.argv[2])]["prompt_ids"])))' "$G" $i)
    "$GEN" -m "$S" -p "$prompt" -n 32 --device cpu -o "$TMP/g$i.json" >"$TMP/g$i.txt" 2>"$TMP/g$i.err"
    check "golden_prompt_$i" 'cmp_golden $i "$TMP/g$i.json"'
    "$GEN" -m "$S" --prompt-ids "$ids" -n 32 --device cpu -o "$TMP/i$i.json" >/dev/null 2>&1
    check "golden_prompt_ids_$i" 'cmp_golden $i "$TMP/i$i.json"'
    i=$((i + 1))
done
# stdout: the prompt and the continuation, decoded
check stdout_text 'python3 -c "
import json, sys; g = json.load(open(sys.argv[1]))[\"generate\"][0]; t = open(sys.argv[2]).read()
assert t == g[\"prompt\"] + g[\"text\"] + \"\n\", repr(t)" "$G" "$TMP/g0.txt"'
make -C "$ROOT" --no-print-directory O="$O" generate MODEL="$S" PROMPT="Once upon a time" GEN_TOKENS=32 DEVICE=cpu >"$TMP/mk.txt" 2>"$TMP/mk.err"
check make_generate 'cmp "$TMP/mk.txt" "$TMP/g0.txt"'
if "$GEN" -m "$S" -p "Once upon a time" -n 32 --device cuda -o "$TMP/cuda.json" >/dev/null 2>"$TMP/cuda.err"; then
    check cuda_golden 'cmp_golden 0 "$TMP/cuda.json"'
else
    skip cuda_golden "no CUDA device ($(head -1 "$TMP/cuda.err"))"
fi
