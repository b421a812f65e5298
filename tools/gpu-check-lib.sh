# gpu-check-lib.sh - what the per-issue GPU checks share (sourced; needs BIN and OUTD set):
#   golden_both_devices NAME GROUP: tests/golden/NAME evaluated on the CPU and CUDA in fp32 and
#   fp16-faithful numerics, then quantized on each (group GROUP, n_grid 4) and each checkpoint
#   evaluated. The plan runs directly, not through `make quantize`, which would check the build
#   (deps, flags) on a device machine that has only the carried programs.
golden_both_devices() {
    name=$1 group=$2
    [ -f "$OUTD/eval.i32" ] || "$BIN/awq-gen-tokens" --vocab 256 --count 8192 --seed 6 --out "$OUTD/eval.i32" >/dev/null 2>&1
    echo "== $name: eval on cuda and cpu (fp32 and fp16)"
    for num in fp32 fp16; do
        for dev in cpu cuda; do
            "$BIN/awq-eval" -m tests/golden/$name -t "$OUTD/eval.i32" --seqlen 128 --numerics $num --device $dev -o /dev/null 2>&1 |
                grep -E "model |rror" | sed "s/^/$num $dev: /"
        done
    done
    echo "== $name: quantize on cuda and cpu, eval each checkpoint"
    for dev in cpu cuda; do
        out=$OUTD/out-$name-$dev
        rm -rf "$out" "$out.awq"
        { AWQ_CACHE="$OUTD/cache-$dev" "$BIN/awq-plan" --model tests/golden/$name --calib "$OUTD/eval.i32" --out "$out" \
            --work "$out.awq" --bin "$BIN" --seqlen 128 --group "$group" --n-grid 4 --device $dev -q &&
          AWQ_CACHE="$OUTD/cache-$dev" make --no-print-directory -j4 -f "$out.awq/plan.mk" all; } \
            >"$OUTD/q-$name-$dev.log" 2>&1 || tail -3 "$OUTD/q-$name-$dev.log"
        "$BIN/awq-eval" -m tests/golden/$name -t "$OUTD/eval.i32" --seqlen 128 --quant "$out" -o /dev/null 2>&1 |
            grep -E "out-|rror" | sed "s/^/quantized on $dev: /"
    done
}
