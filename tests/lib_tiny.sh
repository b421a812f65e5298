# lib_tiny.sh - what the pipeline tests on the tiny golden models share (t_dense, t_moe), sourced
# after tests/lib.sh: calibration and evaluation ids ($TMP/calib.i32, $TMP/eval.i32) and
#   q MODEL STORE OUT GROUP   one `make quantize` (SEQLEN 128, N_GRID 4), its messages in $TMP/log
#   ran                       the steps that log listed (hit or miss), sorted, ';'-joined
#   keys OUT                  the tensor names of the output's index, one per line
#   not_converted OUT         quantization_config's modules_to_not_convert
#   loss MODEL --quant DIR | --work DIR: the variant's mean loss on the eval ids
ROOT=$(pwd)
"$BIN/awq-gen-tokens" --vocab 256 --count 4096 --seed 5 --out "$TMP/calib.i32" >/dev/null 2>&1
"$BIN/awq-gen-tokens" --vocab 256 --count 4096 --seed 6 --out "$TMP/eval.i32" >/dev/null 2>&1
q() {
    AWQ_CACHE="$2" make -C "$ROOT" --no-print-directory -j2 quantize O="$O" MODEL="$1" OUT="$3" CALIB="$TMP/calib.i32" \
        SEQLEN=128 GROUP="$4" N_GRID=4 >"$TMP/log" 2>&1
}
ran() { grep "^awqmake: .* s  \(hit\|miss\)$" "$TMP/log" | awk '{s = $2; for (i = 3; i <= NF - 3; i++) s = s " " $i; print s}' |
        sort | tr '\n' ';'; }
# keys OUT: the tensor names of the output's index, one per line
keys() { python3 -c 'import json,sys; print("\n".join(sorted(json.load(open(sys.argv[1]))["weight_map"])))' "$1/model.safetensors.index.json"; }
not_converted() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["quantization_config"]["modules_to_not_convert"])' "$1/config.json"; }
# loss MODEL --quant DIR | --work DIR: the variant's mean loss on the eval ids
loss() { "$BIN/awq-eval" -m "$1" -t "$TMP/eval.i32" --seqlen 128 "$2" "$3" -o "$TMP/ev.json" >/dev/null 2>&1 &&
         python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][1]["mean_loss"])' "$TMP/ev.json"; }
