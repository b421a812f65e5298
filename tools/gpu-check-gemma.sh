#!/bin/sh
# gpu-check-gemma.sh - the issue-18 checks on the device machine, from a CUDA build O (carried,
# with O/lib holding the libraries the device lacks; build O/tests/test_backends too):
#   1. the ops Gemma and Phi-3's window added or changed, CPU vs CUDA (test_backends: rmsnorm_1p,
#      gelu_tanh_mul, softcap, attention with soft-capping and sliding windows, mlp with the tanh
#      GELU, attn with Gemma's scale/softcap/window/(1 + w) q/k norms, rope with linear scaling);
#   2. the Gemma 2/3 and Phi-3 window goldens evaluated on CUDA and the CPU, fp32 and fp16-faithful;
#   3. each quantized on CUDA and on the CPU (group 32, n_grid 4): the two checkpoints' eval (the
#      AWQ picks may differ by fp16 near-ties; the mean losses should agree closely).
set -u
O=${1:-build-gpu}; OUTD=${2:-/tmp/gpugemma}
BIN=$(cd "$O/bin" && pwd)
export LD_LIBRARY_PATH=$PWD/$O/lib:${LD_LIBRARY_PATH:-}
mkdir -p "$OUTD"
"$BIN/awq-gen-tokens" --vocab 256 --count 8192 --seed 6 --out "$OUTD/eval.i32" >/dev/null 2>&1
echo "== 1. CPU vs CUDA, every op"
O=$O tests/run.sh test_backends 2>&1 | grep -E "FAIL|passed|rmsnorm_1p/|gelu_tanh_mul/|softcap/|attention/|mlp/|attn/|rope/"
. tools/gpu-check-lib.sh
for name in gemma2_tiny gemma2_mha gemma3_tiny phi3_window; do golden_both_devices $name 32; done
