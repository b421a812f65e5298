#!/bin/sh
# t_pack.sh - the packed checkpoint read back by an independent plain-Python dequantizer
# (tests/dequant_check.py: the safetensors format and spec §3.1 only) equals the C fake-quant
# weights bit for bit, for every linear of every block; plus the output directory's shape
# (config.json quantization_config, no lm_head when tied, tokenizer files, search results).
. tests/lib.sh
for p in awq-plan awq-pack awq-obj awq-gen-model; do [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }; done
command -v python3 >/dev/null || { skip all "python3 missing"; exit 0; }
ROOT=$(pwd)
export AWQ_CACHE="$TMP/store"
M="$TMP/model"
tiny_model "$M" 2 31 --arch qwen2 --tie
printf '{"model_max_length": 4096}\n' >"$M/tokenizer_config.json"
"$BIN/awq-gen-tokens" --vocab 256 --count 2048 --seed 6 --out "$TMP/calib.i32" >/dev/null 2>&1
make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$M" OUT="$TMP/out" CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=32 N_GRID=4 \
    >"$TMP/log" 2>&1
check quantize_ok '[ -f "$TMP/out/config.json" ]' || exit 0
man="$TMP/out.awq/manifest.tsv"
ok_all=1
same_steps=1
for b in 0 1; do
    # the plan's awq-quantize stores no scaled block: make it with the single-step program
    sc=$(awk -F'\t' -v b=$b '$1 == b && $2 == "scale-search" {print $3}' "$man")
    cl=$(awk -F'\t' -v b=$b '$1 == b && $2 == "clip-search" {print $3}' "$man")
    pk=$(awk -F'\t' -v b=$b '$1 == b && $2 == "pack" {print $3}' "$man")
    act=$(awk -F'\t' -v b=$b '$1 == b && $2 == "input" {print $3}' "$man")
    sd=$("$BIN/awq-apply-scale" -m "$M" -b $b --scales "$sc" 2>>"$TMP/err") || ok_all=0
    # the four single-step programs, in a store of their own, make the same objects under the
    # same keys as awq-quantize did in one process
    for k in "$act" "$sc" "$sd"; do "$BIN/awq-obj" verify "$k" >/dev/null 2>&1 || { same_steps=0; echo "  block $b: $k unreadable" >&2; }; done
    mkdir -p "$TMP/single"
    cp -r "$AWQ_CACHE/objects" "$TMP/single/" 2>/dev/null
    # (and without the clip inputs the search stored: awq-clip-search makes them from the block input)
    for k in "$sc" "$cl" "$pk" $(AWQ_CACHE="$TMP/single" "$BIN/awq-obj" ls -l | awk '$2 == "clipin" {print $1}'); do
        rm -f "$TMP/single/objects/$(echo $k | cut -c1-2)/$(echo $k | cut -c3-)"
    done
    s1=$(AWQ_CACHE="$TMP/single" "$BIN/awq-scale-search" -m "$M" -b $b -i "$act" --group 32 --n-grid 4 2>>"$TMP/err")
    # the search stores the clip inputs too (as awq-quantize does); dropped again, so that the
    # clip search below makes them from the block input itself
    ci=$(AWQ_CACHE="$TMP/single" "$BIN/awq-obj" ls -l | awk '$2 == "clipin" {print $1}')
    [ -n "$ci" ] || { same_steps=0; echo "  block $b: awq-scale-search stored no clip inputs" >&2; }
    for k in $ci; do rm -f "$TMP/single/objects/$(echo $k | cut -c1-2)/$(echo $k | cut -c3-)"; done
    c1=$(AWQ_CACHE="$TMP/single" "$BIN/awq-clip-search" -m "$M" -b $b --scaled "$sd" --scales "$s1" -i "$act" --group 32 2>>"$TMP/err")
    p1=$(AWQ_CACHE="$TMP/single" "$BIN/awq-pack" -m "$M" -b $b --scaled "$sd" --clip "$c1" --group 32 2>>"$TMP/err")
    [ "$s1" = "$sc" ] && [ "$c1" = "$cl" ] && [ "$p1" = "$pk" ] || { same_steps=0; echo "  block $b: single-step keys $s1 $c1 $p1, plan $sc $cl $pk" >&2; }
    for k in "$sc" "$cl" "$pk"; do
        cmp -s "$AWQ_CACHE/objects/$(echo $k | cut -c1-2)/$(echo $k | cut -c3-)" \
               "$TMP/single/objects/$(echo $k | cut -c1-2)/$(echo $k | cut -c3-)" || same_steps=0
    done
    fq=$("$BIN/awq-pack" -m "$M" -b $b --scaled "$sd" --clip "$cl" --group 32 --fake-quant 2>>"$TMP/err") || ok_all=0
    args=""
    for l in self_attn.q_proj self_attn.k_proj self_attn.v_proj self_attn.o_proj mlp.gate_proj mlp.up_proj mlp.down_proj; do
        "$BIN/awq-obj" cat "$fq" "$l.weight" >"$TMP/b$b.$l.f16" || ok_all=0
        args="$args $l=$TMP/b$b.$l.f16"
    done
    python3 tests/dequant_check.py "$TMP/out" $b $args >>"$TMP/pycheck" 2>&1 || ok_all=0
done
check single_step_programs_make_the_same_objects '[ $same_steps -eq 1 ]'
check python_dequant_equals_c_fake_quant '[ $ok_all -eq 1 ] && [ $(grep -c "identical" "$TMP/pycheck") -eq 14 ]' || cat "$TMP/pycheck" >&2
# one shard per block and one for the rest (tied: no lm_head)
check output_is_sharded_with_index '[ -f "$TMP/out/model.safetensors.index.json" ] && [ "$(ls "$TMP/out" | grep -c "^model-0000[1-3]-of-00003.safetensors$")" -eq 3 ]'
check config_has_quantization_config 'python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
q = c[\"quantization_config\"]
assert q == {\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 32, \"zero_point\": True, \"version\": \"gemm\", \"modules_to_not_convert\": None}, q
assert c[\"torch_dtype\"] == \"float16\" and c[\"architectures\"] == [\"Qwen2ForCausalLM\"]
w = json.load(open(sys.argv[2]))[\"weight_map\"]
assert \"lm_head.weight\" not in w and \"model.embed_tokens.weight\" in w and \"model.norm.weight\" in w
assert not any(k.endswith(\"_proj.weight\") for k in w), \"unquantized linears left\"
assert \"model.layers.0.self_attn.q_proj.bias\" in w and \"model.layers.1.mlp.down_proj.qweight\" in w
" "$TMP/out/config.json" "$TMP/out/model.safetensors.index.json"'
check side_files_and_search_results '[ -f "$TMP/out/tokenizer_config.json" ] && [ -s "$TMP/out.awq/awq_search_results.safetensors" ] && [ ! -e "$TMP/out/awq_search_results.safetensors" ]'

# export_compatible (spec §3.6): the scaled + clipped fp16 weights under the original names, no
# quantization_config; it is an ordinary fp16 model that computes nearly what the original does
make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$M" OUT="$TMP/exp" CALIB="$TMP/calib.i32" SEQLEN=128 GROUP=32 N_GRID=4 \
    EXPORT=1 >"$TMP/log" 2>&1
check export_is_plain_fp16 'python3 -c "
import json, sys
sys.path.insert(0, \"tests\")
from dequant_check import tensors
c = json.load(open(sys.argv[1] + \"/config.json\"))
assert \"quantization_config\" not in c and c[\"torch_dtype\"] == \"float16\"
h = tensors(sys.argv[1])
assert h[\"model.layers.1.mlp.down_proj.weight\"][0] == \"F16\" and not any(k.endswith(\"qweight\") for k in h)
" "$TMP/exp"'
"$BIN/awq-gen-tokens" --vocab 256 --count 1024 --seed 9 --out "$TMP/ev.i32" >/dev/null 2>&1
"$BIN/awq-eval" -m "$M" -t "$TMP/ev.i32" --seqlen 128 -o "$TMP/e0.json" 2>/dev/null
"$BIN/awq-eval" -m "$TMP/exp" -t "$TMP/ev.i32" --seqlen 128 -o "$TMP/e1.json" 2>/dev/null
check export_computes_like_the_original 'python3 -c "
import json, sys
a, b = (json.load(open(f))[\"results\"][0][\"ppl\"] for f in sys.argv[1:])
assert abs(a - b) / a < 0.02, (a, b)
" "$TMP/e0.json" "$TMP/e1.json"'
