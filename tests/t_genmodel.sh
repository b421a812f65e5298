#!/bin/sh
# t_genmodel.sh - the command lines of awq-gen-model and awq-gen-tokens: refusals (exit 2 with a
# named option and a hint), I/O failures (exit 1, no partial output, no temporary left behind),
# stdout carrying only the result, and the token files (size, range, BOS, determinism, Zipf shape).
# The tensor contents of generated models are checked in test_genmodel.c.
. tests/lib.sh
GM=$BIN/awq-gen-model
GT=$BIN/awq-gen-tokens
if [ ! -x "$GM" ] || [ ! -x "$GT" ]; then skip all "programs not built"; exit 0; fi

# exit status of a command, its stderr in $TMP/err
status() { "$@" >"$TMP/out" 2>"$TMP/err"; echo $?; }
# no .tmp-* leftovers in a directory
no_tmp() { [ -z "$(ls -A "$1" | grep '^\.tmp-')" ]; }

check help_lists_options '"$GM" --help | grep -q -- "--shard-size" && "$GM" --help | grep -q -- "--embed-outlier-scale" && "$GT" --help | grep -q -- "--doc-len"'
check help_lists_moe '"$GM" --help >"$TMP/help" && ( for w in --experts --experts-per-tok --moe-ffn --norm-topk-prob --decoder-sparse-step \
    --mlp-only-layers --dry-run tiny-mixtral tiny-qwen3-moe mixtral-8x7b qwen3-30b-a3b "mixtral | qwen3_moe" block_sparse_moe.experts; do
    grep -q -- "$w" "$TMP/help" || { echo "help lacks $w"; exit 1; }; done )'

check stdout_is_the_path '[ "$("$GM" --out "$TMP/m" 2>/dev/null)" = "$TMP/m" ] && [ -f "$TMP/m/config.json" ] && [ -f "$TMP/m/model.safetensors" ] && [ -f "$TMP/m/awqmake_synthetic.json" ]'
check summary_on_stderr '"$GM" --out "$TMP/m_summary" 2>&1 >/dev/null | grep -q "outlier channels"'
check quiet_is_quiet '[ -z "$("$GM" -q --out "$TMP/m_quiet" 2>&1 >/dev/null)" ]'

check bad_arch '[ "$(status "$GM" --out "$TMP/x" --arch gpt2)" = 2 ] && grep -q "gpt2" "$TMP/err" && grep -q "^hint:" "$TMP/err" && [ ! -e "$TMP/x" ]'
check hidden_not_divisible '[ "$(status "$GM" --out "$TMP/x" --hidden 100 --heads 3)" = 2 ] && grep -q "not divisible" "$TMP/err" && grep -q "^hint:.*head-dim" "$TMP/err" && [ ! -e "$TMP/x" ]'
check heads_not_multiple_of_kv '[ "$(status "$GM" --out "$TMP/x" --heads 4 --kv-heads 3)" = 2 ] && grep -q "kv-heads" "$TMP/err"'
check bad_number '[ "$(status "$GM" --out "$TMP/x" --layers 2x)" = 2 ] && grep -q -- "--layers" "$TMP/err"'
check bad_shard_size '[ "$(status "$GM" --out "$TMP/x" --shard-size 5XB)" = 2 ] && grep -q -- "--shard-size" "$TMP/err"'
check bias_wrong_arch '[ "$(status "$GM" --out "$TMP/x" --arch mistral --attention-bias)" = 2 ]'
check missing_out '[ "$(status "$GM")" = 2 ] && grep -q -- "--out" "$TMP/err"'

# mixture of experts: one error line naming the flag, a hint, nothing written
refused() { # expected-text args...: exit 2, the text on the error line, a hint, no output directory
    _want=$1; shift
    [ "$(status "$GM" --out "$TMP/x" "$@")" = 2 ] && [ "$(grep -c "error:" "$TMP/err")" = 1 ] && grep "error:" "$TMP/err" | grep -q -- "$_want" &&
        grep -q "^hint:" "$TMP/err" && [ ! -e "$TMP/x" ]
}
check moe_topk_over_experts 'refused "--experts-per-tok 5 is more than --experts 4" --arch mixtral --experts 4 --experts-per-tok 5'
check moe_topk_over_preset_experts 'refused "--experts-per-tok 8 (the preset.s) is more than --experts 4" --preset qwen3-30b-a3b --experts 4'
check moe_too_many_experts 'refused "--experts 300" --arch qwen3_moe --experts 300'
check moe_mlp_only_out_of_range 'refused "--mlp-only-layers index 2 is out of range for --layers 2" --arch qwen3_moe --mlp-only-layers 0,2'
check moe_mlp_only_not_a_number 'refused "--mlp-only-layers .x." --arch qwen3_moe --mlp-only-layers 1,x'
check moe_option_on_dense_arch 'refused "--experts is a mixture-of-experts option; --arch llama" --experts 4 &&
    refused "--mlp-only-layers is a mixture-of-experts option; --arch qwen3 " --arch qwen3 --mlp-only-layers 1 &&
    refused "--norm-topk-prob is a mixture-of-experts option" --preset w7 --norm-topk-prob'
check moe_qwen_option_on_mixtral 'refused "--moe-ffn is a qwen3_moe option, not mixtral" --arch mixtral --moe-ffn 64 &&
    grep -q "^hint:.*--ffn" "$TMP/err" &&
    refused "--norm-topk-prob is a qwen3_moe option" --preset tiny-mixtral --norm-topk-prob &&
    refused "--decoder-sparse-step is a qwen3_moe option" --arch mixtral --decoder-sparse-step 2'
check moe_no_sparse_layer 'refused "no layer has experts" --arch qwen3_moe --layers 2 --decoder-sparse-step 3 && grep -q "^hint:.*decoder-sparse-step" "$TMP/err" &&
    refused "no layer has experts" --arch qwen3_moe --mlp-only-layers 0,1'
check moe_norm_flags_contradict 'refused "contradict" --arch qwen3_moe --norm-topk-prob --no-norm-topk-prob'
check unknown_preset_lists_moe 'refused "bogus" --preset bogus && grep -q "^hint:.*tiny-qwen3-moe.*qwen3-30b-a3b" "$TMP/err"'
# --arch mixtral alone is tiny-mixtral; --dry-run writes nothing and needs no --out
check moe_arch_picks_its_preset '"$GM" -q --out "$TMP/mx" --arch mixtral >/dev/null && grep -q "\"preset\": \"tiny-mixtral\"" "$TMP/mx/awqmake_synthetic.json" &&
    grep -q "\"num_local_experts\": 8" "$TMP/mx/config.json" && grep -q "block_sparse_moe.experts.7.w2.weight" "$TMP/mx/model.safetensors"'
check dry_run_writes_nothing '"$GM" -q --preset qwen3-30b-a3b --layers 1 --dry-run --out "$TMP/dry" >"$TMP/dry.json" && [ ! -e "$TMP/dry" ] &&
    grep -q "mlp.experts.127.down_proj.weight" "$TMP/dry.json" && grep -q "\"total_size\": 2490905088" "$TMP/dry.json" &&
    "$GM" -q --preset mixtral-8x7b --dry-run >/dev/null'
check unknown_option '[ "$(status "$GM" --out "$TMP/x" --frobnicate)" = 2 ]'

# an output whose parent is a regular file cannot be created
: >"$TMP/afile"
check unwritable_out '[ "$(status "$GM" --out "$TMP/afile/model")" = 1 ] && grep -q "error:.*afile" "$TMP/err"'
# an existing non-empty directory is left alone
mkdir -p "$TMP/full" && echo keep >"$TMP/full/mine"
check existing_dir_refused '[ "$(status "$GM" --out "$TMP/full")" = 1 ] && grep -q "already exists" "$TMP/err" && [ "$(cat "$TMP/full/mine")" = keep ] && [ "$(ls "$TMP/full")" = mine ]'
# an existing empty directory is taken
mkdir -p "$TMP/empty"
check existing_empty_dir_used '"$GM" -q --out "$TMP/empty" >/dev/null && [ -f "$TMP/empty/model.safetensors" ]'

# a write that fails half-way (file size limit: EFBIG) leaves no directory and no temporary
mkdir -p "$TMP/lim"
check failure_leaves_nothing '[ "$( (trap "" XFSZ; ulimit -f 64; status "$GM" --out "$TMP/lim/model") )" = 1 ] && grep -q "error:" "$TMP/err" && [ ! -e "$TMP/lim/model" ] && [ -z "$(ls -A "$TMP/lim")" ]'
check failure_leaves_nothing_sharded '[ "$( (trap "" XFSZ; ulimit -f 64; status "$GM" --out "$TMP/lim/model" --shard-size 20KB) )" = 1 ] && [ -z "$(ls -A "$TMP/lim")" ]'

# gen-tokens
ints() { od -An -v -t d4 "$1" | tr -s ' ' '\n' | grep -v '^$'; }
check tokens_size_range '"$GT" -q --vocab 300 --count 5000 --seed 3 --out "$TMP/t.i32" >/dev/null && [ "$(wc -c <"$TMP/t.i32")" -eq 20000 ] &&
    ints "$TMP/t.i32" | awk "\$1 < 0 || \$1 >= 300 { bad++ } END { exit bad > 0 }"'
check tokens_deterministic '"$GT" -q --vocab 300 --count 5000 --seed 3 --out "$TMP/t2.i32" >/dev/null && cmp -s "$TMP/t.i32" "$TMP/t2.i32"'
check tokens_seed_matters '"$GT" -q --vocab 300 --count 5000 --seed 4 --out "$TMP/t3.i32" >/dev/null && ! cmp -s "$TMP/t.i32" "$TMP/t3.i32"'
# Zipf(1) over 300 ids: the top id holds 1/H(300) ~ 16% of the tokens, the second half that
check tokens_zipf_shape 'ints "$TMP/t.i32" | sort -n | uniq -c | sort -rn | head -2 | awk "NR==1{a=\$1} NR==2{b=\$1} END { exit !(a > 650 && a < 950 && b > 0.35*a && b < 0.65*a) }"'
check tokens_uniform '"$GT" -q --vocab 50 --count 20000 --dist uniform --out "$TMP/u.i32" >/dev/null &&
    ints "$TMP/u.i32" | sort -n | uniq -c | awk "{ n++; if (\$1 < 300 || \$1 > 500) bad++ } END { exit !(n == 50 && bad == 0) }"'
# BOS exactly at the document starts and nowhere else
check tokens_bos '"$GT" -q --vocab 64 --count 1000 --bos 1 --doc-len 100 --out "$TMP/b.i32" >/dev/null &&
    ints "$TMP/b.i32" | awk "{ if ((NR - 1) % 100 == 0) { if (\$1 != 1) bad++ } else if (\$1 == 1) bad++ } END { exit !(NR == 1000 && bad == 0) }"'
check tokens_empty '"$GT" -q --vocab 10 --count 0 --out "$TMP/e.i32" >/dev/null && [ -f "$TMP/e.i32" ] && [ ! -s "$TMP/e.i32" ]'
check tokens_bos_needs_doc_len '[ "$(status "$GT" --vocab 10 --count 5 --bos 1 --out "$TMP/y")" = 2 ] && grep -q "doc-len" "$TMP/err" && [ ! -e "$TMP/y" ]'
check tokens_bos_range '[ "$(status "$GT" --vocab 10 --count 5 --bos 10 --doc-len 4 --out "$TMP/y")" = 2 ]'
check tokens_unwritable '[ "$(status "$GT" --vocab 10 --count 5 --out "$TMP/afile/t")" = 1 ] && grep -q "error:" "$TMP/err"'
check tokens_no_tmp_left 'no_tmp "$TMP"'
