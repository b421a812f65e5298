#!/bin/sh
# t_keys.sh - object keys and output bytes do not drift: a few experiments on a small synthetic
# model (tools/golden/gen_keys.sh) give exactly the keys and output files recorded in
# tests/golden/keys/ by the code before the issue-15 refactoring. A changed key means a re-plan of
# an existing experiment would recompute objects its store already holds.
. tests/lib.sh
for p in awq-plan awq-gen-model awq-gen-tokens awq-obj awq-eval; do
    [ -x "$BIN/$p" ] || { skip all "$p not built"; exit 0; }
done
if ! sh tools/golden/gen_keys.sh "$TMP/keys" >"$TMP/gen.log" 2>&1; then
    fail generate "tools/golden/gen_keys.sh failed"; sed 's/^/    /' "$TMP/gen.log" | tail -n 20 >&2; exit 0
fi
# The output bytes were recorded with OpenBLAS's Haswell sgemm (tests/openblas_kernel.sh): with
# another kernel only the keys are compared (they do not depend on the arithmetic).
bytes=1
openblas_golden_kernel || bytes=0
for f in tests/golden/keys/*.txt; do
    n=$(basename "$f" .txt)
    if [ $bytes -eq 0 ]; then
        grep -v '  \./' "$f" >"$TMP/want"; grep -v '  \./' "$TMP/keys/$n.txt" >"$TMP/got"
        if diff "$TMP/want" "$TMP/got" >"$TMP/diff" 2>&1; then pass "${n}_keys"
        else fail "${n}_keys" "keys changed (if intended: O=$O tools/golden/gen_keys.sh tests/golden/keys)"; sed 's/^/    /' "$TMP/diff" | head -n 20 >&2; fi
        skip "${n}_output_bytes" "recorded with OpenBLAS's $OPENBLAS_GOLDEN_KERNEL sgemm; this run's is ${OPENBLAS_CORETYPE:-the one OpenBLAS picked} (tests/openblas_kernel.sh)"
        continue
    fi
    if diff "$f" "$TMP/keys/$n.txt" >"$TMP/diff" 2>&1; then pass "$n"
    else
        fail "$n" "keys or output bytes changed (if intended: O=$O tools/golden/gen_keys.sh tests/golden/keys)"
        sed 's/^/    /' "$TMP/diff" | head -n 20 >&2
    fi
done
