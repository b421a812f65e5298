#!/bin/sh
# gpu-check-dsv3.sh - the DeepSeek-V3 checks of issue 17 on the device machine, from a CUDA build O
# (carried, with O/lib holding the libraries the device lacks; build O/tests/test_backends too):
#   1. the ops the latent attention uses, CPU vs CUDA (test_backends: rope with yarn and
#      interleaved pairs, attention with v heads of their own width and a given scale, copy2d);
#   2. tests/golden/deepseek_v3{,_qproj} evaluated on CUDA and the CPU, fp32 and fp16-faithful;
#   3. awq-plan refuses to quantize them (one line and a hint).
set -u
O=${1:-build-gpu}; OUTD=${2:-/tmp/gpudsv3}
BIN=$(cd "$O/bin" && pwd)
export LD_LIBRARY_PATH=$PWD/$O/lib:${LD_LIBRARY_PATH:-}
mkdir -p "$OUTD"
"$BIN/awq-gen-tokens" --vocab 256 --count 8192 --seed 6 --out "$OUTD/eval.i32" >/dev/null 2>&1
echo "== 1. CPU vs CUDA, every op"
O=$O tests/run.sh test_backends 2>&1 | grep -E "FAIL|passed|rope/|attention/|copy2d/|attn/"
for name in deepseek_v3 deepseek_v3_qproj; do
    echo "== 2. $name: eval on cuda and cpu (fp32 and fp16)"
    for num in fp32 fp16; do
        for dev in cpu cuda; do
            "$BIN/awq-eval" -m tests/golden/$name -t "$OUTD/eval.i32" --seqlen 128 --numerics $num --device $dev -o /dev/null 2>&1 |
                grep -E "model |rror" | sed "s/^/$num $dev: /"
        done
    done
    echo "== 3. $name: awq-plan refuses"
    "$BIN/awq-plan" --model tests/golden/$name --calib "$OUTD/eval.i32" --out "$OUTD/out-$name" --work "$OUTD/out-$name.awq" \
        --bin "$BIN" --seqlen 128 --n-samples 8 -q 2>&1 | head -3; echo "rc $?"
done
