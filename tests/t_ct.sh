#!/bin/sh
# t_ct.sh - FORMAT=ct, the compressed-tensors pack-quantized checkpoint (README "Formats"):
#   - it holds the tensors compressed-tensors' own AutoAWQConverter makes from awqmake's
#     FORMAT=autoawq checkpoint of the same experiment (tests/golden/ct, tools/golden/gen_ct_golden.sh):
#     integers identical, scales bit-equal, MoE experts under the input's own names, same scheme
#     (Llama, Mixtral, Phi3 with its fused linears, DeepSeek-V3 with MLA, shared experts, a router
#     with e_score_correction_bias, routers in `ignore`);
#   - switching FORMAT on an existing experiment computes only the shards and the assembly;
#   - OUT holds no safetensors file its index does not name (the search results are in OUT.awq/);
#   - awq-eval reads it as it reads AutoAWQ's: the same perplexity for the same codes, and W_BIT 3
#     and 8 (which only CT holds) and GROUP=-1 (strategy channel) equal the fake-quant of the search;
#   - a W_BIT that AutoAWQ cannot hold says so and names FORMAT=ct;
#   - Phi3 keeps qkv_proj and gate_up_proj fused as its input has them, at 4 bits (converted from
#     the fused GEMM object) and 8 bits (the parts' CT tensors joined in the pack step), and the CT
#     checkpoint evaluates exactly as the search's fake quantization.
. tests/lib.sh
for p in awq-plan awq-gen-model awq-gen-tokens awq-eval; do [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }; done
command -v python3 >/dev/null || { skip all "python3 missing"; exit 0; }
ROOT=$(pwd)
. tests/ct_cases.sh
export AWQ_CACHE="$TMP/store"
"$BIN/awq-gen-tokens" --vocab 256 --count 1024 --seed 5 --out "$TMP/c.i32" >/dev/null 2>&1
"$BIN/awq-gen-tokens" --vocab 256 --count 512 --seed 6 --out "$TMP/e.i32" >/dev/null 2>&1
regen="if FORMAT=ct is right and the golden is stale: tools/golden/gen_ct_golden.sh (needs /tmp/ctvenv, tools/golden/requirements-ct.txt)"
# q MODEL OUT VAR=...: make quantize into the shared store, its step lines in $TMP/log
q() { _m=$1 _o=$2; shift 2; make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$_m" OUT="$_o" CALIB="$TMP/c.i32" \
    SEQLEN=128 DEVICE=cpu "$@" >"$TMP/log" 2>&1; }
# the stages that computed something in the last q (sorted, one per line)
computed() { grep "^awqmake: .* s  miss$" "$TMP/log" | awk '{print $(NF-3)}' | sort -u | tr '\n' ' '; }
# ppl EVAL_JSON VARIANT_NAME
ppl() { python3 -c "import json,sys; print([v['ppl'] for v in json.load(open(sys.argv[1]))['results'] if v['name'] == sys.argv[2]][0])" "$1" "$2"; }
ev() { _em=$1; shift; "$BIN/awq-eval" -m "$_em" -t "$TMP/e.i32" --seqlen 64 --device cpu -o "$TMP/eval.json" "$@" >/dev/null 2>"$TMP/eval.err"; }

while IFS='|' read -r name gen vars; do
    M="$TMP/m-$name" O1="$TMP/o-$name"
    # shellcheck disable=SC2086 # the variables are words
    "$BIN/awq-gen-model" -q --out "$M" $gen >/dev/null
    # shellcheck disable=SC2086
    if ! q "$M" "$O1" FORMAT=autoawq $vars; then fail "${name}_autoawq" "make quantize failed"; sed 's/^/    /' "$TMP/log" | tail -5 >&2; continue; fi
    check "${name}_autoawq_out_indexed" 'python3 tests/ct_compare.py indexed "$O1"'
    cp "$O1/config.json" "$TMP/autoawq-config.json"
    # shellcheck disable=SC2086
    q "$M" "$O1" FORMAT=ct $vars; rc=$?
    check "${name}_format_switch_computes_only_shards_and_assembly" '[ $rc -eq 0 ] && [ "$(computed)" = "assemble shard " ] || { echo "computed: $(computed)"; false; }'
    check "${name}_ct_out_indexed" 'python3 tests/ct_compare.py indexed "$O1" && [ -s "$O1.awq/awq_search_results.safetensors" ]'
    if ! openblas_golden_kernel; then
        skip "${name}_equals_compressed_tensors_converter" "the golden was converted from codes computed with OpenBLAS's $OPENBLAS_GOLDEN_KERNEL sgemm, and this run's is ${OPENBLAS_CORETYPE:-the one OpenBLAS picked} (tests/openblas_kernel.sh)"
    elif [ -d "tests/golden/ct/$name" ]; then
        if python3 tests/ct_compare.py same "tests/golden/ct/$name" "$O1" >"$TMP/cmp" 2>&1; then pass "${name}_equals_compressed_tensors_converter"
        else fail "${name}_equals_compressed_tensors_converter" "$regen"; sed 's/^/    /' "$TMP/cmp" >&2; fi
    else skip "${name}_equals_compressed_tensors_converter" "tests/golden/ct/$name missing ($regen)"; fi
    # the same codes read from both checkpoints: the same perplexity, to the last digit
    mv "$O1" "$TMP/ct-$name"
    # shellcheck disable=SC2086
    q "$M" "$O1" FORMAT=autoawq $vars
    ev "$M" --quant "$O1,$TMP/ct-$name"
    check "${name}_eval_reads_ct_as_autoawq" '[ -n "$(ppl "$TMP/eval.json" "ct-$name")" ] && [ "$(ppl "$TMP/eval.json" "ct-$name")" = "$(ppl "$TMP/eval.json" "o-$name")" ]'
    a=$(ppl "$TMP/eval.json" "o-$name")
    mkdir -p "$TMP/ct-$name.awq" # make compare writes its eval.json into OUT.awq (ct-$name was moved out of o-$name)
    # shellcheck disable=SC2086
    make -C "$ROOT" --no-print-directory compare O="$O" MODEL="$M" OUT="$TMP/ct-$name" EVAL="$TMP/e.i32" EVAL_SEQLEN=64 DEVICE=cpu \
        $vars >"$TMP/cmp.log" 2>&1; rc=$?
    check "${name}_make_compare_reads_ct" '[ $rc -eq 0 ] && [ "$(ppl "$TMP/ct-$name.awq/eval.json" "ct-$name")" = "$a" ]'
done <<EOF
$CT_CASES
EOF
# DeepSeek-V3 (layer 0 dense, layer 1 MoE): `ignore` names the MoE block's router module as the
# checkpoint does (its weight and e_score_correction_bias stay fp16, checked against the golden above)
check dsv3_ignore_names_the_moe_router 'python3 -c "import json,sys; i=json.load(open(sys.argv[1]))[\"quantization_config\"][\"ignore\"]; assert i == [\"lm_head\", \"model.layers.1.mlp.gate\"], i" "$TMP/ct-dsv3_g32/config.json"'
M="$TMP/m-llama_g64"
fails export_with_format_ct_refused q "$M" "$TMP/exp" FORMAT=ct EXPORT=1
check export_with_format_ct_says_why 'grep -q "EXPORT=1 writes unquantized fp16 weights" "$TMP/log" && grep -q "hint:" "$TMP/log" && [ ! -e "$TMP/exp" ]'

# widths and strategies only CT holds, against the search's own fake quantization of the same codes
M="$TMP/m-llama"
tiny_model "$M" 2 3
for v in "W_BIT=3 GROUP=64" "W_BIT=8 GROUP=64" "W_BIT=2 GROUP=32" "W_BIT=4 GROUP=-1"; do
    cn=$(echo "$v" | tr ' =' '_-')
    # shellcheck disable=SC2086
    q "$M" "$TMP/fake-$cn" N_GRID=3 $v
    [ "${v#W_BIT=4}" = "$v" ] && check "${cn}_autoawq_names_format_ct" 'grep -q "hint: FORMAT=ct writes a compressed-tensors checkpoint" "$TMP/log" && [ ! -e "$TMP/fake-$cn" ]'
    # shellcheck disable=SC2086
    q "$M" "$TMP/ct-$cn" N_GRID=3 FORMAT=ct $v; rc=$?
    bits=$(echo "$v" | sed 's/W_BIT=\([0-9]\).*/\1/')
    check "${cn}_ct_checkpoint" '[ $rc -eq 0 ] && python3 tests/ct_compare.py indexed "$TMP/ct-$cn" && grep -q "\"num_bits\": $bits," "$TMP/ct-$cn/config.json"'
    ev "$M" --quant "$TMP/ct-$cn" --work "$TMP/fake-$cn.awq"
    check "${cn}_ct_eval_equals_fake_quant" 'a=$(ppl "$TMP/eval.json" "ct-$cn") b=$(ppl "$TMP/eval.json" "fake-$cn.awq (fake-quant)"); [ -n "$a" ] && [ "$a" = "$b" ] || { echo "ct $a, fake-quant $b"; cat "$TMP/eval.err"; false; }'
done
check channel_strategy 'python3 -c "import json,sys; w=json.load(open(sys.argv[1]))[\"quantization_config\"][\"config_groups\"][\"config_group_0\"][\"weights\"]; assert w[\"strategy\"] == \"channel\" and \"group_size\" not in w, w" "$TMP/ct-W_BIT-4_GROUP--1/config.json"'

# Phi3 (awq-gen-model --preset tiny-phi3: qkv rows 3 x 128, gate_up rows 2 x 256, C 128): the CT
# checkpoint holds the fused tensors, of the fused shapes, and no per-part name
M="$TMP/m-phi3_g64"
[ -d "$M" ] || "$BIN/awq-gen-model" -q --preset tiny-phi3 --layers 1 --vocab 256 --seed 7 --out "$M" >/dev/null
for b in 4 8; do
    q "$M" "$TMP/phi3-fake-$b" N_GRID=3 GROUP=64 W_BIT=$b # 4: the AutoAWQ checkpoint; 8: the fake quant only
    q "$M" "$TMP/phi3-ct-$b" N_GRID=3 GROUP=64 W_BIT=$b FORMAT=ct; rc=$?
    check "phi3_w${b}_ct_fused_names_and_shapes" '[ $rc -eq 0 ] && python3 - "$TMP/phi3-ct-$b" $b <<PY
import json, struct, sys
sys.path.insert(0, "tests")
from ct_compare import tensors
t, b = tensors(sys.argv[1]), int(sys.argv[2])
names = sorted(t)
assert not [n for n in names if any(p in n for p in (".q_proj.", ".k_proj.", ".v_proj.", ".gate_proj.", ".up_proj."))], names
for lin, o in (("self_attn.qkv_proj", 384), ("mlp.gate_up_proj", 512)):
    p = "model.layers.0." + lin + "."
    assert t[p + "weight_packed"][:2] == ("I32", [o, 128 * b // 32]), t[p + "weight_packed"][:2]
    assert t[p + "weight_scale"][:2] == ("F16", [o, 2]), t[p + "weight_scale"][:2]
    assert t[p + "weight_zero_point"][:2] == ("I32", [o * b // 32, 2]), t[p + "weight_zero_point"][:2]
    assert list(struct.unpack("<2q", t[p + "weight_shape"][2])) == [o, 128], lin
PY'
    # the CT experiment's own packed objects too (what make compare reads: at 8 bits the fused CT layout)
    ev "$M" --quant "$TMP/phi3-ct-$b" --work "$TMP/phi3-fake-$b.awq,$TMP/phi3-ct-$b.awq"
    check "phi3_w${b}_ct_eval_equals_fake_quant" 'a=$(ppl "$TMP/eval.json" "phi3-ct-$b") f=$(ppl "$TMP/eval.json" "phi3-fake-$b.awq (fake-quant)") w=$(ppl "$TMP/eval.json" "phi3-ct-$b.awq (fake-quant)"); [ -n "$a" ] && [ "$a" = "$f" ] && [ "$a" = "$w" ] || { echo "ct $a, fake-quant $f, CT objects $w"; cat "$TMP/eval.err"; false; }'
done
