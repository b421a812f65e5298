#!/bin/sh
# t_dense.sh - the make pipeline on Phi-3 (fused qkv_proj and gate_up_proj): the output holds the
# fused tensors under the input's names and shapes (GEMM: qweight [C, (Q+2KV)/8], scales [G, Q+2KV]),
# no per-part q_proj/gate_proj; the packed checkpoint evaluates exactly as the store's fake-quant;
# on awq-gen-model's tiny-phi3 (outlier channels planted) make compare shows AWQ's KL below RTN's;
# the same for Gemma 2 (gemma2_tiny and tiny-gemma2) and Gemma 3 (gemma3_tiny and tiny-gemma3).
. tests/lib.sh
. tests/lib_tiny.sh
# shape OUT TENSOR: its shape in the output's safetensors header, e.g. [64, 16]
shape() {
    python3 -c 'import json,struct,sys,glob
for f in glob.glob(sys.argv[1] + "/*.safetensors"):
    b = open(f, "rb").read(8); h = json.loads(open(f, "rb").read(8 + struct.unpack("<Q", b)[0])[8:])
    if sys.argv[2] in h: print(h[sys.argv[2]]["shape"])' "$1" "$2"
}

# phi3_longrope_partial: C 64, GQA 4/2 of D 16 -> qkv rows 64 + 2*32 = 128; F 96 -> gate_up rows 192
P3=tests/golden/phi3_longrope_partial
ok phi3_quantizes q "$P3" "$TMP/s" "$TMP/p3" 32
keys "$TMP/p3" > "$TMP/p3.keys"
check phi3_fused_names_only "grep -qx 'model.layers.1.self_attn.qkv_proj.qweight' '$TMP/p3.keys' && grep -qx 'model.layers.1.mlp.gate_up_proj.scales' '$TMP/p3.keys' && ! grep -q '\.\(q\|k\|v\|gate\|up\)_proj\.' '$TMP/p3.keys'"
check phi3_fused_gemm_shapes "[ \"\$(shape '$TMP/p3' model.layers.0.self_attn.qkv_proj.qweight)\" = '[64, 16]' ] && [ \"\$(shape '$TMP/p3' model.layers.0.self_attn.qkv_proj.scales)\" = '[2, 128]' ] && [ \"\$(shape '$TMP/p3' model.layers.0.mlp.gate_up_proj.qzeros)\" = '[2, 24]' ]"
p_quant=$(loss "$P3" --quant "$TMP/p3") p_work=$(AWQ_CACHE="$TMP/s" loss "$P3" --work "$TMP/p3.awq")
check phi3_checkpoint_evaluates_as_the_fake_quant "[ -n '$p_quant' ] && [ '$p_quant' = '$p_work' ]"

# make compare on the generator's tiny-phi3 (outlier channels planted): AWQ's KL below RTN's
"$BIN/awq-gen-model" -q --preset tiny-phi3 --seed 3 --out "$TMP/tiny-phi3" >/dev/null
"$BIN/awq-gen-tokens" --vocab 512 --count 8192 --seed 5 --out "$TMP/calib512.i32" >/dev/null 2>&1
"$BIN/awq-gen-tokens" --vocab 512 --count 8192 --seed 6 --out "$TMP/eval512.i32" >/dev/null 2>&1
AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$TMP/tiny-phi3" OUT="$TMP/out-phi3" \
    CALIB="$TMP/calib512.i32" SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1 &&
AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory compare O="$O" MODEL="$TMP/tiny-phi3" OUT="$TMP/out-phi3" \
    EVAL="$TMP/eval512.i32" EVAL_SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1
kl=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[1]["kl_vs_first"], r[2]["kl_vs_first"])' \
    "$TMP/out-phi3.awq/eval.json" 2>/dev/null)
echo "#   tiny-phi3 KL (RTN, AWQ): $kl"
check tiny_phi3_compare_awq_kl_below_rtn "[ -n '$kl' ] && echo '$kl' | awk '{exit !(\$2 < \$1)}' || { echo 'RTN, AWQ KL: $kl'; false; }"

# Gemma 2: gemma2_tiny (window 8 on layer 0, soft-capping, (1 + w) norms) through the pipeline; the
# four norms per block are in the output as fp16 weights (two of them scaled), the checkpoint
# evaluates as the store's fake quant, and on tiny-gemma2 (outliers planted in
# pre_feedforward_layernorm and input_layernorm, window 64 < SEQLEN 128) AWQ's KL is below RTN's
G2=tests/golden/gemma2_tiny
ok gemma2_quantizes q "$G2" "$TMP/s" "$TMP/g2" 32
keys "$TMP/g2" > "$TMP/g2.keys"
check gemma2_output_names "grep -qx 'model.layers.1.pre_feedforward_layernorm.weight' '$TMP/g2.keys' && grep -qx 'model.layers.1.post_feedforward_layernorm.weight' '$TMP/g2.keys' && grep -qx 'model.layers.0.mlp.gate_proj.qweight' '$TMP/g2.keys' && ! grep -q 'layernorm.qweight' '$TMP/g2.keys'"
g_quant=$(loss "$G2" --quant "$TMP/g2") g_work=$(AWQ_CACHE="$TMP/s" loss "$G2" --work "$TMP/g2.awq")
check gemma2_checkpoint_evaluates_as_the_fake_quant "[ -n '$g_quant' ] && [ '$g_quant' = '$g_work' ]"
"$BIN/awq-gen-model" -q --preset tiny-gemma2 --seed 3 --out "$TMP/tiny-gemma2" >/dev/null
AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$TMP/tiny-gemma2" OUT="$TMP/out-gemma2" \
    CALIB="$TMP/calib512.i32" SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1 &&
AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory compare O="$O" MODEL="$TMP/tiny-gemma2" OUT="$TMP/out-gemma2" \
    EVAL="$TMP/eval512.i32" EVAL_SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1
kl=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[1]["kl_vs_first"], r[2]["kl_vs_first"])' \
    "$TMP/out-gemma2.awq/eval.json" 2>/dev/null)
echo "#   tiny-gemma2 KL (RTN, AWQ): $kl"
check tiny_gemma2_compare_awq_kl_below_rtn "[ -n '$kl' ] && echo '$kl' | awk '{exit !(\$2 < \$1)}' || { echo 'RTN, AWQ KL: $kl'; false; }"

# Gemma 3 (text): gemma3_tiny (q/k norms, two RoPEs, window 8) through the pipeline, and
# tiny-gemma3 (window 64, linear global RoPE) make compare: AWQ's KL below RTN's
G3=tests/golden/gemma3_tiny
ok gemma3_quantizes q "$G3" "$TMP/s" "$TMP/g3" 32
keys "$TMP/g3" > "$TMP/g3.keys"
check gemma3_output_names "grep -qx 'model.layers.0.self_attn.q_norm.weight' '$TMP/g3.keys' && grep -qx 'model.layers.1.pre_feedforward_layernorm.weight' '$TMP/g3.keys' && grep -qx 'model.layers.1.self_attn.k_proj.qweight' '$TMP/g3.keys'"
g3_quant=$(loss "$G3" --quant "$TMP/g3") g3_work=$(AWQ_CACHE="$TMP/s" loss "$G3" --work "$TMP/g3.awq")
check gemma3_checkpoint_evaluates_as_the_fake_quant "[ -n '$g3_quant' ] && [ '$g3_quant' = '$g3_work' ]"
"$BIN/awq-gen-model" -q --preset tiny-gemma3 --seed 3 --out "$TMP/tiny-gemma3" >/dev/null
AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$TMP/tiny-gemma3" OUT="$TMP/out-gemma3" \
    CALIB="$TMP/calib512.i32" SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1 &&
AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory compare O="$O" MODEL="$TMP/tiny-gemma3" OUT="$TMP/out-gemma3" \
    EVAL="$TMP/eval512.i32" EVAL_SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1
kl=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[1]["kl_vs_first"], r[2]["kl_vs_first"])' \
    "$TMP/out-gemma3.awq/eval.json" 2>/dev/null)
echo "#   tiny-gemma3 KL (RTN, AWQ): $kl"
check tiny_gemma3_compare_awq_kl_below_rtn "[ -n '$kl' ] && echo '$kl' | awk '{exit !(\$2 < \$1)}' || { echo 'RTN, AWQ KL: $kl'; false; }"
exit $T_FAILED
