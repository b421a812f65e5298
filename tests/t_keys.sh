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
for f in tests/golden/keys/*.txt; do
    n=$(basename "$f" .txt)
    if diff "$f" "$TMP/keys/$n.txt" >"$TMP/diff" 2>&1; then pass "$n"
    else
        fail "$n" "keys or output bytes changed (if intended: O=$O tools/golden/gen_keys.sh tests/golden/keys)"
        sed 's/^/    /' "$TMP/diff" | head -n 20 >&2
    fi
done
