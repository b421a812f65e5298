#!/bin/sh
# t_tokenize.sh - awq-tokenize on text: .txt and .jsonl calibration into a tokens object (same
# text, same key; --model finds tokenizer.json; --n-samples / --max-doc-tokens / empty lines as
# spec §2.2 says), the --eval id file (spec §4.1), and clear errors (exit 1: missing or malformed
# tokenizer, unsupported model, invalid UTF-8 with its byte offset, JSON lines without the field,
# too little text; exit 2: usage). With ../shared/assets: WikiText-2 test with the Llama-2
# tokenizer gives 341,469 ids and the published hash, and tok512 reproduces the SentencePiece-made
# id files in assets/tokens byte for byte.
. tests/lib.sh
for p in awq-tokenize awq-obj; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
export AWQ_CACHE="$TMP/store"
TOK="$BIN/awq-tokenize"
rc() { "$@" >/dev/null 2>&1; echo $?; }

# A small SentencePiece-style tokenizer: the 256 byte tokens, a few pieces, BOS from a template.
python3 - "$TMP/tok.json" <<'PY'
import json, sys
vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256): vocab["<0x%02X>" % b] = 3 + b
for p in ["\u2581", "a", "b", "c", "\u2581a", "ab", "\u2581ab", "\u2581c"]: vocab[p] = len(vocab)
tok = {"version": "1.0", "added_tokens": [{"id": i, "content": c, "special": True, "normalized": False}
                                          for i, c in [(0, "<unk>"), (1, "<s>"), (2, "</s>")]],
       "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
       "pre_tokenizer": None,
       "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                          {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                          "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
       "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True, "vocab": vocab,
                 "merges": [["\u2581", "a"], ["a", "b"], ["\u2581a", "b"], ["\u2581", "c"]]}}
json.dump(tok, open(sys.argv[1], "w"), ensure_ascii=False)
PY
# 41 documents: i = 0..39 is " ab ab ab c" i+1 times between spaces (4i+5 tokens with BOS:
# ▁ab ▁ab ▁ab ▁c per repeat), and an empty line after i = 3
: > "$TMP/calib.txt"
i=0
while [ $i -lt 40 ]; do
    line=""; j=0; while [ $j -le $i ]; do line="$line ab ab ab c"; j=$((j + 1)); done
    echo "  $line  " >> "$TMP/calib.txt"
    [ $i -eq 3 ] && echo "" >> "$TMP/calib.txt"
    i=$((i + 1))
done
K1=$("$TOK" -v --tokenizer "$TMP/tok.json" --text "$TMP/calib.txt" --seqlen 16 --n-samples 20 --max-doc-tokens 100 2>"$TMP/err1")
check "text calibration prints a key" "printf '%s' '$K1' | grep -Eq '^[0-9a-f]{32}$' && '$BIN/awq-obj' info '$K1' | grep -q 'ids.*I32'"
# accepted: i = 0..3 (5+9+13+17), the empty line as [BOS] (1), i = 4..18 (21..77): 20 documents
want_ids=$((44 + 1 + (21 + 77) * 15 / 2))
check "spec 2.2 counts: 20 accepted, empty line kept as BOS" "[ $want_ids = 780 ] && grep -q '20 documents read: 20 accepted, 0 empty and 0 longer than 100 tokens skipped; 780 ids' '$TMP/err1'"
check "sequences = floor(ids / seqlen)" "'$BIN/awq-obj' info '$K1' | grep -q \"ids.*I32.*\\[$((want_ids / 16)),16\\]\""
K2=$("$TOK" --tokenizer "$TMP/tok.json" --text "$TMP/calib.txt" --seqlen 16 --n-samples 20 --max-doc-tokens 100 2>/dev/null)
check "same text, same key" "[ '$K1' = '$K2' ]"
mkdir -p "$TMP/model" && cp "$TMP/tok.json" "$TMP/model/tokenizer.json"
K3=$("$TOK" --model "$TMP/model" --text "$TMP/calib.txt" --seqlen 16 --n-samples 20 --max-doc-tokens 100 2>/dev/null)
check "--model DIR reads DIR/tokenizer.json" "[ '$K1' = '$K3' ]"
# i = 24..39 have 101..161 tokens: skipped
"$TOK" -v --tokenizer "$TMP/tok.json" --text "$TMP/calib.txt" --seqlen 16 --n-samples 100 --max-doc-tokens 100 >/dev/null 2>"$TMP/err2"
check "long documents skipped, too few accepted is a warning" "grep -q '41 documents read: 25 accepted, 0 empty and 16 longer than 100 tokens skipped' '$TMP/err2' && grep -q 'warning: only 25 of 100' '$TMP/err2'"
K4=$("$TOK" --tokenizer "$TMP/tok.json" --text "$TMP/calib.txt" --seqlen 16 --n-samples 5 --shuffle-seed 7 2>/dev/null)
K5=$("$TOK" --tokenizer "$TMP/tok.json" --text "$TMP/calib.txt" --seqlen 16 --n-samples 5 --shuffle-seed 7 2>/dev/null)
K6=$("$TOK" --tokenizer "$TMP/tok.json" --text "$TMP/calib.txt" --seqlen 16 --n-samples 5 2>/dev/null)
check "seeded order is deterministic and not file order" "[ -n '$K4' ] && [ '$K4' = '$K5' ] && [ '$K4' != '$K6' ]"

# JSON lines: the same documents under "text" give the same tokens
python3 - "$TMP/calib.txt" "$TMP/calib.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for i, line in enumerate(open(sys.argv[1]).read().split("\n")[:-1]):
        f.write(json.dumps({"id": i, "text": line}) + "\n")
PY
K7=$("$TOK" --tokenizer "$TMP/tok.json" --jsonl "$TMP/calib.jsonl" --seqlen 16 --n-samples 20 --max-doc-tokens 100 2>/dev/null)
check "jsonl gives the same tokens as txt" "[ '$K1' = '$K7' ]"
printf '{"text": "ab"}\n{"body": "ab"}\n' > "$TMP/nofield.jsonl"
check "jsonl without the field names the line" "[ \$(rc '$TOK' --tokenizer '$TMP/tok.json' --jsonl '$TMP/nofield.jsonl' --seqlen 1) = 1 ] && '$TOK' --tokenizer '$TMP/tok.json' --jsonl '$TMP/nofield.jsonl' --seqlen 1 2>&1 | grep -q \"nofield.jsonl' line 2 has no string member \\\"text\\\"\""
printf '{"body": "ab c", "text": 5}\n' > "$TMP/body.jsonl"
check "--field picks the member" "'$TOK' --tokenizer '$TMP/tok.json' --jsonl '$TMP/body.jsonl' --field body --n-samples 1 --seqlen 2 2>/dev/null | grep -Eq '^[0-9a-f]{32}$'"

# evaluation file: documents joined with "\n\n", one BOS, raw int32
printf 'ab c\nab\n' > "$TMP/eval.txt"
N=$("$TOK" --tokenizer "$TMP/tok.json" --text "$TMP/eval.txt" --docs line --eval --out "$TMP/eval.i32" 2>"$TMP/err3")
# "▁ab▁c" + "\n\n" as bytes + "ab" -> <s>=1 ▁ab=265 ▁c=266 <0x0A>=13 <0x0A>=13 ab=264
check "eval file: count on stdout, int32 ids" "[ '$N' = 6 ] && [ \$(wc -c < '$TMP/eval.i32') = 24 ] && od -An -v -td4 '$TMP/eval.i32' | tr -s ' \n' ' ' | grep -q '^ *1 265 266 13 13 264 *$'"
check "eval --no-special drops BOS" "[ \$('$TOK' --tokenizer '$TMP/tok.json' --text '$TMP/eval.txt' --docs line --eval --no-special --out '$TMP/eval2.i32' 2>/dev/null) = 5 ]"

# errors
check "missing tokenizer: exit 1, names the file" "[ \$(rc '$TOK' --tokenizer '$TMP/none.json' --text '$TMP/calib.txt') = 1 ] && '$TOK' --tokenizer '$TMP/none.json' --text '$TMP/calib.txt' 2>&1 | grep -q \"cannot open '$TMP/none.json'\""
check "--model without tokenizer.json" "'$TOK' --model '$TMP' --text '$TMP/calib.txt' 2>&1 | grep -q 'tokenizer.json.*No such file'"
printf '{"model": {"type": "BPE", "vocab": {' > "$TMP/broken.json"
check "malformed tokenizer.json: exit 1" "[ \$(rc '$TOK' --tokenizer '$TMP/broken.json' --text '$TMP/calib.txt') = 1 ] && '$TOK' --tokenizer '$TMP/broken.json' --text '$TMP/calib.txt' 2>&1 | grep -q 'broken.json.* is not valid JSON'"
printf '{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}' > "$TMP/unigram.json"
check "unsupported model named" "'$TOK' --tokenizer '$TMP/unigram.json' --text '$TMP/calib.txt' 2>&1 | grep -q \"model type 'Unigram' is not supported\""
printf 'ab\nab \303\050 c\n' > "$TMP/latin.txt"
check "invalid UTF-8: exit 1 with byte offset and line" "[ \$(rc '$TOK' --tokenizer '$TMP/tok.json' --text '$TMP/latin.txt' --seqlen 1) = 1 ] && '$TOK' --tokenizer '$TMP/tok.json' --text '$TMP/latin.txt' --seqlen 1 2>&1 | grep -q \"latin.txt': invalid UTF-8 at byte 6 (line 2)\""
check "eval on invalid UTF-8 writes no file" "! '$TOK' --tokenizer '$TMP/tok.json' --text '$TMP/latin.txt' --eval --out '$TMP/bad.i32' 2>/dev/null && [ ! -e '$TMP/bad.i32' ]"
check "too little text for one sequence" "'$TOK' --tokenizer '$TMP/tok.json' --text '$TMP/eval.txt' --seqlen 512 2>&1 | grep -q 'do not fill one sequence of 512'"
# a negative id in an .i32 file: its index and value (the value was read after the buffer was
# freed: found by tests/fuzz/fuzz_calib.c; a file this large is unmapped by free, so it crashed)
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<65536i', *range(65535), -7))" > "$TMP/neg.i32"
check "ids file with a negative id: exit 1, names index and value" "[ \$(rc '$TOK' --ids '$TMP/neg.i32') = 1 ] && '$TOK' --ids '$TMP/neg.i32' 2>&1 | grep -q \"neg.i32': token 65535 has negative id -7\""
# the tokens object found damaged when it is stored again (as every plan does): replaced, and said
# (it was replaced silently: found by tools/campaign-flips.sh)
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<4096i', *[i % 300 for i in range(4096)]))" > "$TMP/ids.i32"
k=$("$TOK" --ids "$TMP/ids.i32" --seqlen 64 2>/dev/null)
f=$("$BIN/awq-obj" path "$k"); cp "$f" "$TMP/tok.obj"
damage_bytes "$f" $(( $(wc -c <"$f") / 2 ))
k2=$("$TOK" --ids "$TMP/ids.i32" --seqlen 64 2>"$TMP/err.dmg")
check "a damaged tokens object is replaced and said so" "[ '$k' = '$k2' ] && grep -q \"warning: object '.*' is damaged: .*; it was made again\" '$TMP/err.dmg' && cmp '$f' '$TMP/tok.obj'"
check "usage: no input" "[ \$(rc '$TOK' --tokenizer '$TMP/tok.json') = 2 ]"
check "usage: two inputs" "[ \$(rc '$TOK' --tokenizer '$TMP/tok.json' --text a --jsonl b) = 2 ]"
check "usage: text without tokenizer" "[ \$(rc '$TOK' --text '$TMP/calib.txt') = 2 ]"
check "usage: --eval without --out" "[ \$(rc '$TOK' --tokenizer '$TMP/tok.json' --text '$TMP/calib.txt' --eval) = 2 ]"
check "usage: bad --docs" "[ \$(rc '$TOK' --tokenizer '$TMP/tok.json' --text '$TMP/calib.txt' --docs paragraphs) = 2 ]"
check "--help lists the text options" "'$TOK' --help | grep -q -- '--jsonl FILE' && '$TOK' --help | grep -q -- '--max-doc-tokens'"

# real tokenizers and text
if [ -z "$ASSETS" ]; then
    skip "wikitext2 llama2 341469" "no ../shared/assets"
    skip "tok512 matches the SentencePiece id files" "no ../shared/assets"
    exit 0
fi
W="$ASSETS/text/wikitext-2-raw/wiki.test.raw"
N=$("$TOK" --tokenizer "$ASSETS/tokenizers/llama2/tokenizer.json" --text "$W" --eval --out "$TMP/wiki.i32" 2>"$TMP/err4")
want=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['llama2']['corpora']['wikitext2_hf_rows_joined']['ids_int32le_sha256'])" "$ASSETS/tokenizers/testvectors/corpus_token_stats.json")
check "wikitext2 llama2 341469" "[ '$N' = 341469 ] && [ \"\$(head -c 4 '$TMP/wiki.i32' | od -An -td4 | tr -d ' ')\" = 1 ] && [ \"\$(tail -c +5 '$TMP/wiki.i32' | sha256sum | cut -d' ' -f1)\" = '$want' ]"
"$TOK" --tokenizer "$ASSETS/models/stories260K-hf/tokenizer.json" --text "$W" --docs file --no-special --eval --out "$TMP/w512.i32" >/dev/null 2>&1
"$TOK" --model "$ASSETS/models/stories260K-hf" --text "$ASSETS/text/tinystories/tinystories_validation_head.txt" --docs file --no-special --eval --out "$TMP/ts512.i32" >/dev/null 2>&1
check "tok512 matches the SentencePiece id files" "cmp '$TMP/w512.i32' '$ASSETS/tokens/wikitext2_test.tok512.i32' && cmp '$TMP/ts512.i32' '$ASSETS/tokens/tinystories_all.tok512.i32'"
K8=$("$TOK" -v --model "$ASSETS/models/stories260K-hf" --text "$ASSETS/text/tinystories/tinystories_validation_head.txt" --n-samples 128 --seqlen 512 2>"$TMP/err5")
check "tinystories calibration: 128 documents" "printf '%s' '$K8' | grep -Eq '^[0-9a-f]{32}$' && grep -q ': 128 accepted' '$TMP/err5'"
