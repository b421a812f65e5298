#!/bin/sh
# gpu-check.sh - the GPU checks of issues 6 and 7, run on the device machine from a CUDA build
# (O=build-cuda) with the real stories260K data copied into DATA (model, calibration and eval ids,
# an awqmake output checkpoint and the perplexity awq-eval gave for it):
#   1. every backend op, CPU vs CUDA (tests/test_backends.c);
#   2. the AWQ pipeline on stories260K-ffn256 with --device cuda and --device cpu: the same grid
#      and clip picks except near-ties, compared through their outputs;
#   3. FP perplexity on the GPU (reference 5.0512);
#   4. transformers' perplexity of the checkpoint dequantized by the independent Python reader.
set -u
O=${1:-build-cuda}; DATA=${2:-.devdata}; OUTD=${3:-/tmp/gpucheck}
BIN=$(cd "$O/bin" && pwd)
M=$DATA/stories260K-ffn256-hf
mkdir -p "$OUTD"
echo "== 1. CPU vs CUDA, every op"
O=$O tests/run.sh test_backends 2>&1 | grep -E "FAIL|passed"
echo "== 2. pipeline cpu vs cuda (stories260K-ffn256, 32 x 512 calibration tokens, w4 g64)"
for dev in cpu cuda; do
    t0=$(date +%s.%N)
    AWQ_CACHE=$OUTD/store-$dev "$BIN/awq-plan" --model $M --calib $DATA/calib.i32 --out $OUTD/out-$dev --work $OUTD/out-$dev.awq \
        --bin "$BIN" --seqlen 512 --n-samples 32 --group 64 --device $dev -q &&
    AWQ_CACHE=$OUTD/store-$dev make --no-print-directory -j4 -f $OUTD/out-$dev.awq/plan.mk all 2>$OUTD/$dev.log || tail $OUTD/$dev.log
    echo "$dev: $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}') s"
done
python3 - "$OUTD" <<'PY'
import sys
sys.path.insert(0, 'tests')
from dequant_check import tensors  # name -> (dtype, shape, bytes), through the index of the shards
d = sys.argv[1]
a, c = tensors(d + '/out-cpu'), tensors(d + '/out-cuda')
tot = diff = 0
for k in a:
    if k.endswith('.qweight'):
        for x, y in zip(a[k][2], c[k][2]): tot += 1; diff += x != y
print("packed qweight bytes identical: %d of %d (%.3f%%)" % (tot - diff, tot, 100.0 * (tot - diff) / tot))
PY
echo "grid and clip picks, each backend on its own captured inputs:"
python3 tools/golden/compare_picks.py "$BIN/awq-obj" $OUTD/out-cpu.awq/manifest.tsv $OUTD/store-cpu $OUTD/store-cuda
# the same searches on the SAME inputs: the CPU run's act objects, the searches on CUDA
rm -rf $OUTD/store-mix && cp -r $OUTD/store-cpu $OUTD/store-mix
for k in $(awk -F'\t' '$2 == "scale-search" || $2 == "clip-search" || $2 == "pack" {print $3}' $OUTD/out-cpu.awq/manifest.tsv); do
    rm -f $OUTD/store-mix/objects/$(echo $k | cut -c1-2)/$(echo $k | cut -c3-)
done
AWQ_CACHE=$OUTD/store-mix "$BIN/awq-plan" --model $M --calib $DATA/calib.i32 --out $OUTD/out-mix --work $OUTD/out-mix.awq \
    --bin "$BIN" --seqlen 512 --n-samples 32 --group 64 --device cuda -q &&
AWQ_CACHE=$OUTD/store-mix make --no-print-directory -j4 -f $OUTD/out-mix.awq/plan.mk all 2>$OUTD/mix.log || tail $OUTD/mix.log
echo "grid and clip picks on the same inputs (the CPU's captures), searched on the CPU and on CUDA:"
python3 tools/golden/compare_picks.py "$BIN/awq-obj" $OUTD/out-cpu.awq/manifest.tsv $OUTD/store-cpu $OUTD/store-mix
for dev in cpu cuda; do
    AWQ_CACHE=$OUTD/store-$dev "$BIN/awq-eval" -m $M -t $DATA/eval.i32 --seqlen 512 --max-windows 100 --device cpu --quant $OUTD/out-$dev -o $OUTD/ev-$dev.json 2>&1 | tail -2
done
echo "== 3. FP perplexity on the GPU (reference 5.0512)"
AWQ_CACHE=$OUTD/store-cuda "$BIN/awq-eval" -m $DATA/stories260K-hf -t $DATA/all.i32 --seqlen 512 --device cuda -o /dev/null 2>&1 | tail -2
echo "== 4. transformers ppl of the awqmake checkpoint (awq-eval said $(cat $DATA/expect_ppl))"
python3 tools/golden/ppl_transformers.py $M $DATA/w4g64 $DATA/eval.i32 512 --expect "$(cat $DATA/expect_ppl)" --tol 0.01
