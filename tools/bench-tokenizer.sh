#!/bin/sh
# bench-tokenizer.sh - tokenizer throughput on WikiText-2 test (wiki.test.raw, 1.29 MB, no special
# tokens): awq-tokenize against the HF `tokenizers` library in the same run, one row per tokenizer.
#   file:  the whole file as one string (awq-tokenize --eval --docs file; HF encode(text)), the way
#          the evaluation protocol tokenizes; the ids of both sides are compared.
#   lines: each line a document (awq-tokenize calibration loop over every line, stripped;
#          HF encode_batch(lines), which uses every core), the way calibration text is tokenized.
# Encode time only (tokenizer loaded before the clock starts), a freshly loaded tokenizer per
# repetition (no warm word cache), best of REPS; MB/s = bytes of wiki.test.raw / seconds.
#   tools/bench-tokenizer.sh                 (needs make; makes a venv in /tmp for tokenizers)
#   HF_TOKENIZERS=0.23.2 REPS=5 tools/bench-tokenizer.sh
# Not part of make test.
set -eu
O=${O:-build}
REPS=${REPS:-3}
HF_TOKENIZERS=${HF_TOKENIZERS:-0.23.2}
VENV=${VENV:-/tmp/awq-bench-venv-tokenizers-$HF_TOKENIZERS}
ASSETS=${AWQ_ASSETS:-../shared/assets}
TEXT="$ASSETS/text/wikitext-2-raw/wiki.test.raw"
TOK="$O/bin/awq-tokenize"

[ -f "$TEXT" ] || { echo "bench-tokenizer: error: no '$TEXT'" >&2; echo "hint: set AWQ_ASSETS to the shared assets directory" >&2; exit 1; }
[ -x "$TOK" ] || make -s "$TOK" >&2
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import tokenizers" 2>/dev/null; then
    echo "bench-tokenizer: installing tokenizers==$HF_TOKENIZERS into $VENV" >&2
    python3 -m venv "$VENV" >&2 && "$VENV/bin/pip" install -q "tokenizers==$HF_TOKENIZERS" >&2 ||
        { echo "bench-tokenizer: error: cannot install tokenizers==$HF_TOKENIZERS" >&2; exit 1; }
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/awq-bench-tok-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

ours() { # tokenizer.json -> "bytes seconds" (best of REPS), ids in $WORK/ours.i32
    best=""
    r=0
    while [ $r -lt "$REPS" ]; do
        "$TOK" -v --eval --docs file --no-special --tokenizer "$1" --text "$TEXT" --out "$WORK/ours.i32" >/dev/null 2>"$WORK/err"
        line=$(grep 'encoded .* bytes into' "$WORK/err")
        bytes=$(echo "$line" | sed 's/.*encoded \([0-9]*\) bytes.*/\1/')
        sec=$(echo "$line" | sed 's/.* in \([0-9.]*\) s .*/\1/')
        if [ -z "$best" ] || [ "$(python3 -c "print(int($sec < $best))")" = 1 ]; then best=$sec; fi
        r=$((r + 1))
    done
    echo "$bytes $best"
}

lines() { # tokenizer.json -> seconds of the calibration loop over every line (best of REPS)
    best=""
    r=0
    while [ $r -lt "$REPS" ]; do
        "$TOK" -v --store "$WORK/store" --docs line --no-special --n-samples 1000000 --max-doc-tokens 0 --seqlen 1 \
            --tokenizer "$1" --text "$TEXT" >/dev/null 2>"$WORK/err"
        sec=$(grep 'documents read' "$WORK/err" | sed 's/.* ids in \([0-9.]*\) s.*/\1/')
        if [ -z "$best" ] || [ "$(python3 -c "print(int($sec < $best))")" = 1 ]; then best=$sec; fi
        r=$((r + 1))
    done
    echo "$best"
}

printf '%-8s %9s | %-26s %9s | %-23s\n' "" "" "file (one string)" "" "lines (documents)"
printf '%-8s %9s | %8s %8s %7s %9s | %8s %8s %7s\n' tokenizer ids "awq MB/s" "HF MB/s" ratio "same ids" "awq MB/s" "HF MB/s" ratio
for name in ${NAMES:-llama2 mistral tok512 llama3 qwen3 gpt2}; do
    if [ "$name" = tok512 ]; then json="$ASSETS/models/stories260K-hf/tokenizer.json"; else json="$ASSETS/tokenizers/$name/tokenizer.json"; fi
    set -- $(ours "$json")
    bytes=$1 sec=$2
    lsec=$(lines "$json")
    "$VENV/bin/python" - "$json" "$TEXT" "$REPS" "$WORK/hf.i32" "$WORK/ours.i32" "$name" "$bytes" "$sec" "$lsec" <<'PY'
import array, sys, time
from tokenizers import Tokenizer
path, text_path, reps, hf_out, ours, name, nbytes, sec, lsec = sys.argv[1:10]
text = open(text_path, encoding="utf-8", newline="").read()
lines = [l.strip() for l in text.split("\n")]

def best_of(fn):
    best = None
    for _ in range(int(reps)):
        t = Tokenizer.from_file(path)
        t.no_truncation()
        t.no_padding()
        t0 = time.perf_counter()
        out = fn(t)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out

file_s, enc = best_of(lambda t: t.encode(text, add_special_tokens=False))
lines_s, _ = best_of(lambda t: t.encode_batch(lines, add_special_tokens=False))
ids = enc.ids
array.array("i", ids).tofile(open(hf_out, "wb"))
same = open(hf_out, "rb").read() == open(ours, "rb").read()
mb = len(text.encode("utf-8")) / 1e6
o_file, h_file = mb / float(sec), mb / file_s
o_lines, h_lines = mb / float(lsec), mb / lines_s
print("%-8s %9d | %8.1f %8.1f %6.1fx %9s | %8.1f %8.1f %6.1fx" % (name, len(ids), o_file, h_file, o_file / h_file,
      "yes" if same else "NO", o_lines, h_lines, o_lines / h_lines))
PY
done
echo "(best of $REPS; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); tokenizers $HF_TOKENIZERS; $(date -u +%Y-%m-%d))"
