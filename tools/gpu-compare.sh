#!/bin/sh
# gpu-compare.sh NEW OLD [DATA] - on the device machine: every C test of build NEW, then
# tools/gpu-check.sh with build NEW and with build OLD (e.g. the last commit before a refactor),
# and a cmp of every output file of the two, so "nothing user-visible changes" is checked on the GPU.
# Both builds are made on the build machine with CUDA on and carried with DATA (tools/gpu-check-data.sh);
# NEW/lib holds the libraries the device lacks (libutf8proc).
set -u
NEW=${1:?usage: gpu-compare.sh NEW OLD [DATA]}; OLD=${2:?usage: gpu-compare.sh NEW OLD [DATA]}; DATA=${3:-.devdata}
export LD_LIBRARY_PATH=$PWD/$NEW/lib:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
echo "=== all C tests, $NEW"
O=$NEW tests/run.sh test_ 2>&1 | grep -E "^FAIL|passed"
echo "=== gpu-check, $NEW"
sh tools/gpu-check.sh "$NEW" "$DATA" /tmp/gc-new 2>&1
echo "=== gpu-check, $OLD"
sh tools/gpu-check.sh "$OLD" "$DATA" /tmp/gc-old 2>&1 | grep -v "^== 1\|test_backends\|passed"
echo "=== $NEW vs $OLD outputs"
for d in cpu cuda; do
    for f in /tmp/gc-new/out-$d/*.safetensors; do
        b=$(basename "$f")
        if cmp -s "$f" "/tmp/gc-old/out-$d/$b"; then echo "$d $b identical"; else echo "$d $b DIFFERS"; fi
    done
done
