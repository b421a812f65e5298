#!/bin/sh
# gpu-check-dsv3.sh - the DeepSeek-V3 checks of issue 17 on the device machine, from a CUDA build O
# (carried, with O/lib holding the libraries the device lacks; build O/tests/test_backends too):
#   1. the ops the latent attention uses, CPU vs CUDA (test_backends: rope with yarn and
#      interleaved pairs, attention with v heads of their own width and a given scale, copy2d);
#   2. tests/golden/deepseek_v3{,_qproj} evaluated on CUDA and the CPU, fp32 and fp16-faithful;
#   3. each quantized on CUDA and on the CPU (group 16, n_grid 4): the two checkpoints' eval
#      (the AWQ picks may differ by fp16 near-ties; the mean losses should agree closely).
set -u
O=${1:-build-gpu}; OUTD=${2:-/tmp/gpudsv3}
BIN=$(cd "$O/bin" && pwd)
export LD_LIBRARY_PATH=$PWD/$O/lib:${LD_LIBRARY_PATH:-}
mkdir -p "$OUTD"
"$BIN/awq-gen-tokens" --vocab 256 --count 8192 --seed 6 --out "$OUTD/eval.i32" >/dev/null 2>&1
echo "== 1. CPU vs CUDA, every op"
O=$O tests/run.sh test_backends 2>&1 | grep -E "FAIL|passed|rope/|attention/|copy2d/|attn/"
. tools/gpu-check-lib.sh
for name in deepseek_v3 deepseek_v3_qproj; do golden_both_devices $name 16; done
echo "== 4. a DeepSeek-V3-shaped dense + MoE block pair, timed (tools/bench-moe.sh)"
LAYERS=2 tools/bench-moe.sh "$O" deepseek-v3 2>&1 | tail -12
