#!/bin/sh
# gen_keys.sh OUTDIR - the keys of every object, and the bytes of every output file, of a few
# experiments on a small synthetic model, one file per experiment: what tests/t_keys.sh holds
# the code to. A refactoring must not change a key (a re-plan of an existing experiment must hit
# every object it made) nor an output byte.
#   O=build tools/golden/gen_keys.sh tests/golden/keys     # regenerate (only for an intended change)
# The committed files were made by commit 12d90c6 (before the block worker / parameter record
# refactoring of issue 15), so they pin the keys the stores of earlier versions hold. The output
# bytes depend on OpenBLAS's sgemm kernel (tests/openblas_kernel.sh): they were re-recorded with
# Haswell on 2026-12-07 by commit 2b4e588's code and by the code of 0965a7b (the same bytes).
set -eu
out=$1
O=${O:-build}
ROOT=$(pwd)
BIN="$ROOT/$O/bin"
mkdir -p "$out"
. "$ROOT/tests/openblas_kernel.sh"   # the sgemm kernel the goldens are recorded with
[ "$(cd "$out" 2>/dev/null && pwd)" != "$ROOT/tests/golden/keys" ] || openblas_golden_kernel || { echo "$0: OpenBLAS runs another sgemm than $OPENBLAS_GOLDEN_KERNEL, with which the goldens are recorded (tests/openblas_kernel.sh)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/awq-keys-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$BIN/awq-gen-model" -q --out "$TMP/m" --layers 2 --hidden 64 --ffn 128 --heads 4 --kv-heads 2 --vocab 256 --seed 3 >/dev/null
"$BIN/awq-gen-tokens" --vocab 256 --count 1024 --seed 5 --out "$TMP/c.i32" >/dev/null 2>&1
"$BIN/awq-gen-tokens" --vocab 256 --count 512 --seed 6 --out "$TMP/e.i32" >/dev/null 2>&1

# experiment NAME VAR=value...: quantize (and compare FP / RTN / AWQ when there is a checkpoint)
# into a fresh store, then list "kind key" of every object and the sha256 of every output file
experiment() {
    name=$1; shift
    s="$TMP/store-$name" o="$TMP/out-$name"
    AWQ_CACHE="$s" make -C "$ROOT" --no-print-directory -s quantize O="$O" MODEL="$TMP/m" OUT="$o" \
        CALIB="$TMP/c.i32" SEQLEN=128 DEVICE=cpu "$@" >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; exit 1; }
    if [ -f "$o/config.json" ] && grep -q quantization_config "$o/config.json"; then
        AWQ_CACHE="$s" make -C "$ROOT" --no-print-directory -s compare O="$O" MODEL="$TMP/m" OUT="$o" \
            EVAL="$TMP/e.i32" EVAL_SEQLEN=64 DEVICE=cpu "$@" >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; exit 1; }
    fi
    {
        echo "# experiment $name: $*"
        # (eval objects are keyed by the identity of the files they read: paths and mtimes)
        "$BIN/awq-obj" --store "$s" ls -l | awk -F'\t' '$2 != "eval" {print $2, $1}' | sort
        # the search results were in OUT until issue 24 moved them to OUT.awq/ (OUT holds only what
        # loaders read): listed where they sorted before, so their bytes stay pinned too
        [ -f "$o.awq/awq_search_results.safetensors" ] && (cd "$o.awq" && sha256sum ./awq_search_results.safetensors)
        [ -d "$o" ] && (cd "$o" && find . -type f ! -name '.awqmake-manifest.tsv' | sort | xargs sha256sum)
        true
    } >"$out/$name.txt"
}

experiment g64 GROUP=64 N_GRID=4
experiment g32_clip GROUP=32 N_GRID=5 CLIP_GRID=10 MAX_SHRINK=0.3 N_SAMPLE_TOKEN=64
experiment fp32_duo_autoawq GROUP=64 N_GRID=4 NUMERICS=fp32 DUO_SCALING=1 SEMANTICS=autoawq
experiment per_channel GROUP=-1 N_GRID=3
experiment w3_fake GROUP=64 N_GRID=4 W_BIT=3
experiment export GROUP=64 N_GRID=4 EXPORT=1
