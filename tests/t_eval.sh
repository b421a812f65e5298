#!/bin/sh
# t_eval.sh - evaluation and report (issue 6) on a small synthetic model: make compare gives FP /
# RTN / AWQ with KL and top-1; the packed checkpoint evaluates exactly like the AWQ fake-quant of
# the same experiment; results are cached store objects; make report writes the HTML and PNGs;
# a W_BIT=3 experiment is evaluated as fake quantization; bad evaluation input is a clear error.
. tests/lib.sh
for p in awq-plan awq-eval awq-report awq-gen-model awq-gen-tokens; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
command -v gnuplot >/dev/null || { skip all "gnuplot missing (tools/install-deps.sh installs gnuplot-nox)"; exit 0; }
ROOT=$(pwd)
export AWQ_CACHE="$TMP/store"
M="$TMP/model"
tiny_model "$M" 2 21
"$BIN/awq-gen-tokens" --vocab 256 --count 2048 --seed 6 --out "$TMP/calib.i32" >/dev/null 2>&1
"$BIN/awq-gen-tokens" --vocab 256 --count 1024 --seed 7 --out "$TMP/eval.i32" >/dev/null 2>&1
mk() { make -C "$ROOT" --no-print-directory O="$O" MODEL="$M" CALIB="$TMP/calib.i32" EVAL="$TMP/eval.i32" SEQLEN=128 GROUP=64 N_GRID=4 \
       EVAL_SEQLEN=128 "$@" >"$TMP/log" 2>&1; }

mk -j2 quantize OUT="$TMP/out"
mk compare OUT="$TMP/out"; rc=$?
J="$TMP/out.awq/eval.json"
check compare_fp_rtn_awq '[ $rc -eq 0 ] && [ $(grep -c "\"name\"" "$J") -eq 3 ] && grep -q "rtn-w4-g64" "$J" && grep -q "kl_vs_first" "$J" && grep -q "top1_vs_first" "$J"'
# every variant's ppl finite and positive, the model's KL exactly 0 and top-1 exactly 1
check compare_values_sane 'python3 -c "
import json, math, sys
r = json.load(open(sys.argv[1]))[\"results\"]
assert r[0][\"kl_vs_first\"] == 0 and r[0][\"top1_vs_first\"] == 1
for v in r: assert math.isfinite(v[\"ppl\"]) and v[\"ppl\"] > 0 and 0 <= v[\"top1_vs_first\"] <= 1
assert r[1][\"kl_vs_first\"] > 0 and r[2][\"kl_vs_first\"] > 0
" "$J"'

"$BIN/awq-eval" -m "$M" -t "$TMP/eval.i32" --seqlen 128 --quant "$TMP/out" --work "$TMP/out.awq" -o "$TMP/pk.json" 2>"$TMP/err"
check packed_equals_fake_quant_exactly 'python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))[\"results\"]
assert len(r) == 3 and r[1][\"name\"] == \"out\" and \"fake-quant\" in r[2][\"name\"]
for k in (\"ppl\", \"mean_loss\", \"kl_vs_first\", \"top1_vs_first\"): assert r[1][k] == r[2][k], (k, r[1][k], r[2][k])
" "$TMP/pk.json"'
"$BIN/awq-eval" -m "$M" -t "$TMP/eval.i32" --seqlen 128 --quant "$TMP/out" --work "$TMP/out.awq" -o "$TMP/pk2.json" 2>"$TMP/err"
check eval_result_is_cached 'grep -q "result from the store" "$TMP/err" && cmp "$TMP/pk.json" "$TMP/pk2.json"'

# a packed checkpoint whose norms are F32 (AutoAWQ run in float32 on a CPU saves them so) evaluates as the
# same checkpoint with F16 norms: the widening is exact. Rewritten with the stdlib (safetensors: u64 header
# length, JSON header, data); the quantized tensors' bytes are kept as they are.
cp -r "$TMP/out" "$TMP/out32"
python3 - "$TMP/out32/model.safetensors" <<'PY'
import json, struct, sys, array
p = sys.argv[1]
b = open(p, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = b[8 + n:]
meta = h.pop("__metadata__", None)
out, blobs, off, widened = {}, [], 0, 0
for name, t in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    raw = data[t["data_offsets"][0]:t["data_offsets"][1]]
    if t["dtype"] == "F16" and name.endswith("norm.weight") and ".layers." in name:
        raw = b"".join(struct.pack("<f", struct.unpack("<e", raw[i:i + 2])[0]) for i in range(0, len(raw), 2))
        t = dict(t, dtype="F32"); widened += 1
    out[name] = dict(t, data_offsets=[off, off + len(raw)]); blobs.append(raw); off += len(raw)
if meta is not None: out["__metadata__"] = meta
hj = json.dumps(out).encode(); hj += b" " * (-len(hj) % 8)
open(p, "wb").write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
assert widened >= 4, widened
PY
"$BIN/awq-eval" -m "$M" -t "$TMP/eval.i32" --seqlen 128 --quant "$TMP/out32" -o "$TMP/pk32.json" 2>"$TMP/err"; rc=$?
check packed_f32_norms_read 'python3 -c "
import json, sys
a = json.load(open(sys.argv[1]))[\"results\"][1]; b = json.load(open(sys.argv[2]))[\"results\"][1]
assert a[\"ppl\"] == b[\"ppl\"] and a[\"mean_loss\"] == b[\"mean_loss\"], (a, b)
" "$TMP/pk.json" "$TMP/pk32.json"' || cat "$TMP/err"

mk report OUT="$TMP/out"; rc=$?
R="$TMP/out.awq/report"
check report_renders '[ $rc -eq 0 ] && [ -s "$R/index.html" ] && for f in heat clip loss_input_layernorm loss_post_attention_layernorm loss_up_proj; do [ -s "$R/$f.png" ] && [ "$(head -c 4 "$R/$f.png" | tail -c 3)" = PNG ] || exit 1; done && grep -q "<img src=.heat.png" "$R/index.html" && grep -q "Perplexity" "$R/index.html"'

mk -j2 quantize OUT="$TMP/out3" W_BIT=3
mk eval OUT="$TMP/out3" W_BIT=3; rc=$?
check w3_evaluated_as_fake_quant '[ $rc -eq 0 ] && [ ! -e "$TMP/out3/config.json" ] && grep -q "out3.awq (fake-quant)" "$TMP/out3.awq/eval.json"'

"$BIN/awq-gen-tokens" --vocab 300 --count 512 --seed 8 --dist uniform --out "$TMP/bad.i32" >/dev/null 2>&1
"$BIN/awq-eval" -m "$M" -t "$TMP/bad.i32" --seqlen 128 >/dev/null 2>"$TMP/err"; rc=$?
check eval_id_outside_vocab '[ $rc -eq 1 ] && grep -q "outside the vocabulary" "$TMP/err"'
"$BIN/awq-eval" -m "$M" -t "$TMP/eval.i32" --seqlen 4096 >/dev/null 2>"$TMP/err"; rc=$?
check eval_too_few_tokens '[ $rc -eq 1 ] && grep -q "do not fill one window" "$TMP/err" && grep -q "^hint:" "$TMP/err"'
