#!/bin/sh
# t_moe.sh - the make pipeline on the tiny mixture-of-experts models of tests/golden (Mixtral,
# Qwen3-MoE with a dense layer, DeepSeek-V3 with its latent attention and shared experts): the output names every expert's GEMM tensors as the input
# checkpoint names its experts, keeps the routers fp16 and lists them in modules_to_not_convert;
# the packed checkpoint evaluates exactly as the store's fake-quant; a change to one block's
# experts reruns that block and what follows only; on awq-gen-model's tiny MoE presets (outlier
# channels planted) make compare shows AWQ's KL below RTN's; kill -9 at random moments then a
# re-run gives the same bytes.
. tests/lib.sh
. tests/lib_tiny.sh

MX=tests/golden/mixtral_moe QW=tests/golden/qwen3_moe
ok mixtral_quantizes q "$MX" "$TMP/s" "$TMP/mx" 32
keys "$TMP/mx" > "$TMP/mx.keys"
n_exp=$(grep -c '^model\.layers\.[01]\.block_sparse_moe\.experts\.[0-3]\.w[123]\.\(qweight\|qzeros\|scales\)$' "$TMP/mx.keys")
check mixtral_every_expert_packed_with_its_names "[ $n_exp -eq 72 ] && ! grep -q 'mlp\.' '$TMP/mx.keys'"
check mixtral_router_fp16_not_quantized "grep -qx 'model.layers.0.block_sparse_moe.gate.weight' '$TMP/mx.keys' && ! grep -q 'gate.qweight' '$TMP/mx.keys'"
check mixtral_modules_to_not_convert "[ \"\$(not_converted '$TMP/mx')\" = \"['gate']\" ]"
p_quant=$(loss "$MX" --quant "$TMP/mx") p_work=$(AWQ_CACHE="$TMP/s" loss "$MX" --work "$TMP/mx.awq")
check mixtral_checkpoint_evaluates_as_the_fake_quant "[ -n '$p_quant' ] && [ '$p_quant' = '$p_work' ]"

ok qwen3_moe_quantizes q "$QW" "$TMP/s" "$TMP/qw" 16
keys "$TMP/qw" > "$TMP/qw.keys"
n_exp=$(grep -c '^model\.layers\.[02]\.mlp\.experts\.[0-7]\.\(gate\|up\|down\)_proj\.qweight$' "$TMP/qw.keys")
check qwen3_moe_experts_and_dense_layer "[ $n_exp -eq 48 ] && grep -qx 'model.layers.1.mlp.gate_proj.qweight' '$TMP/qw.keys' && ! grep -q 'layers\.1\.mlp\.experts' '$TMP/qw.keys'"
check qwen3_moe_routers_fp16 "grep -qx 'model.layers.2.mlp.gate.weight' '$TMP/qw.keys' && ! grep -q 'mlp.gate.qweight' '$TMP/qw.keys'"
check qwen3_moe_routers_listed_by_full_name "[ \"\$(not_converted '$TMP/qw')\" = \"['model.layers.0.mlp.gate', 'model.layers.2.mlp.gate']\" ]"
p_quant=$(loss "$QW" --quant "$TMP/qw") p_work=$(AWQ_CACHE="$TMP/s" loss "$QW" --work "$TMP/qw.awq")
check qwen3_moe_checkpoint_evaluates_as_the_fake_quant "[ -n '$p_quant' ] && [ '$p_quant' = '$p_work' ]"

# one expert of block 0 changed: block 0's AWQ, its output (block 1's input: "block 0 capture")
# and block 1's AWQ rerun; the embedding (block 0's input) is reused
cp -r "$MX" "$TMP/mx_b0"
flip_tensor_bit "$TMP/mx_b0/model.safetensors" model.layers.0.block_sparse_moe.experts.2.w2.weight
q "$TMP/mx_b0" "$TMP/s" "$TMP/mx_b0_out" 32
check changed_expert_reruns_its_block_and_later_only "[ \"\$(ran)\" = 'block 0 capture;block 0 quantize;block 0 shard;block 1 quantize;block 1 shard;model assemble;model shard;' ] || { echo \"ran: \$(ran)\"; false; }"

# DeepSeek-V3 (latent attention, shared experts, layer 0 dense): every quantized linear under its
# own name, router weight and e_score_correction_bias fp16 and listed by full name (the dense
# layer's mlp.gate_proj would match "mlp.gate"), the checkpoint evaluates as the fake quant, and
# one expert of block 1 changed reruns block 1, its capture and block 2 only
DS=tests/golden/deepseek_v3
ok deepseek_v3_quantizes q "$DS" "$TMP/s" "$TMP/ds" 16
keys "$TMP/ds" > "$TMP/ds.keys"
n_lin=$(grep -c '^model\.layers\.[12]\.\(self_attn\.\(q_a\|q_b\|kv_a\|kv_b\|o\)_proj\(_with_mqa\)\?\|mlp\.shared_experts\.\(gate\|up\|down\)_proj\|mlp\.experts\.[0-7]\.\(gate\|up\|down\)_proj\)\.qweight$' "$TMP/ds.keys")
check deepseek_v3_every_linear_packed_with_its_names "[ $n_lin -eq 64 ] && grep -qx 'model.layers.0.mlp.down_proj.qweight' '$TMP/ds.keys' && grep -qx 'model.layers.0.self_attn.kv_a_layernorm.weight' '$TMP/ds.keys' || { echo \"$n_lin linears\"; false; }"
check deepseek_v3_router_fp16 "grep -qx 'model.layers.1.mlp.gate.weight' '$TMP/ds.keys' && grep -qx 'model.layers.2.mlp.gate.e_score_correction_bias' '$TMP/ds.keys' && ! grep -q 'mlp.gate.qweight' '$TMP/ds.keys'"
check deepseek_v3_modules_to_not_convert "[ \"\$(not_converted '$TMP/ds')\" = \"['model.layers.1.mlp.gate', 'model.layers.2.mlp.gate']\" ]"
p_quant=$(loss "$DS" --quant "$TMP/ds") p_work=$(AWQ_CACHE="$TMP/s" loss "$DS" --work "$TMP/ds.awq")
check deepseek_v3_checkpoint_evaluates_as_the_fake_quant "[ -n '$p_quant' ] && [ '$p_quant' = '$p_work' ]"
# the GPU's MoE memory path (the experts in one fp16 copy, awq.c dev_block_upload) on the CPU:
# the same output bytes as the fp32 copies
AWQ_TEST_EXPERTS_F16=1 q "$DS" "$TMP/s16" "$TMP/ds16" 16; rc=$?
check deepseek_v3_experts_fp16_only_same_out "[ $rc -eq 0 ] && diff -r -x .awqmake-manifest.tsv '$TMP/ds' '$TMP/ds16'"
cp -r "$DS" "$TMP/ds_b1"
flip_tensor_bit "$TMP/ds_b1/model.safetensors" model.layers.1.mlp.experts.5.down_proj.weight
q "$TMP/ds_b1" "$TMP/s" "$TMP/ds_b1_out" 16
# (a new OUT: every block's shard file is written for it, block 0's too, from the stored packed
# object; block 0's capture and quantize are hits)
check deepseek_v3_changed_expert_reruns_its_block_and_later_only "[ \"\$(ran)\" = 'block 0 shard;block 1 capture;block 1 quantize;block 1 shard;block 2 quantize;block 2 shard;model assemble;model shard;' ] || { echo \"ran: \$(ran)\"; false; }"

# make compare on the generator's tiny MoE models (outlier channels planted): AWQ's KL below RTN's
for preset in tiny-mixtral tiny-qwen3-moe tiny-deepseek-v3; do
    "$BIN/awq-gen-model" -q --preset $preset --seed 3 --out "$TMP/$preset" >/dev/null
    "$BIN/awq-gen-tokens" --vocab 512 --count 8192 --seed 5 --out "$TMP/calib512.i32" >/dev/null 2>&1
    "$BIN/awq-gen-tokens" --vocab 512 --count 8192 --seed 6 --out "$TMP/eval512.i32" >/dev/null 2>&1
    AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$TMP/$preset" OUT="$TMP/out-$preset" \
        CALIB="$TMP/calib512.i32" SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1 &&
    AWQ_CACHE="$TMP/s" make -C "$ROOT" --no-print-directory compare O="$O" MODEL="$TMP/$preset" OUT="$TMP/out-$preset" \
        EVAL="$TMP/eval512.i32" EVAL_SEQLEN=128 GROUP=32 >"$TMP/log" 2>&1
    kl=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[1]["kl_vs_first"], r[2]["kl_vs_first"])' \
        "$TMP/out-$preset.awq/eval.json" 2>/dev/null)
    check "${preset}_compare_awq_kl_below_rtn" "[ -n '$kl' ] && echo '$kl' | awk '{exit !(\$2 < \$1)}' || { echo 'RTN, AWQ KL: $kl'; false; }"
done

# kill -9 the whole make at random moments, then finish: the same bytes. The kill moments are
# drawn over the length of the reference run (from an empty store, timed here), and the store is
# emptied before the first and third kill: fixed moments up to 1.5 s after a warm store's run of a
# few tenths found the make running in only the first kill (t_pipeline.sh learned the same).
t0=$(date +%s.%N)
q "$QW" "$TMP/s_ref" "$TMP/ref" 16
run_s=$(seconds_since "$t0")
i=0; crash_ok=1; n_killed=0
while [ $i -lt 5 ]; do
    rm -rf "$TMP/out_c"
    cold=0; { [ $i -eq 0 ] || [ $i -eq 2 ]; } && { rm -rf "$TMP/s_c"; cold=1; }
    make_killed_at "$(kill_delay $((i * 11 + 3)) "$run_s" $cold)" "$TMP/s_c" -j2 MODEL="$QW" OUT="$TMP/out_c" \
        CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=16 N_GRID=4 && n_killed=$((n_killed + 1))
    q "$QW" "$TMP/s_c" "$TMP/out_c" 16 || { crash_ok=0; echo "  resume $i failed: $(tail -3 "$TMP/log")" >&2; }
    diff -r "$TMP/ref" "$TMP/out_c" >/dev/null || { crash_ok=0; echo "  resume $i: output differs" >&2; }
    i=$((i + 1))
done
echo "  (crash resume: $n_killed of 5 kills found the make running (a run from an empty store took $run_s s))" >&2
check crash_resume_5_kills "[ $crash_ok -eq 1 ] && [ $n_killed -ge 2 ] && \"$BIN/awq-obj\" --store '$TMP/s_c' verify >/dev/null 2>&1"
exit $T_FAILED
