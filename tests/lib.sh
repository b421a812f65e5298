# lib.sh - helpers for the shell tests tests/t_*.sh (sourced). Each check prints one line
# "PASS t_x:name" / "FAIL t_x:name: why" / "SKIP t_x:name: why" that tests/run.sh counts.
#   . tests/lib.sh
#   ok "name" test -f x         # runs the command; PASS when it exits 0
#   fails "name" cmd ...         # PASS when the command exits non-zero
#   check "name" "$cond_cmd"     # same as ok, for a shell snippet (eval)
#   skip "name" "why"
# $BIN is the program directory, $TMP a fresh directory removed at exit, $ASSETS the shared
# assets directory when present (else empty).
set -u
O=${O:-build}
BIN=$(cd "$O/bin" 2>/dev/null && pwd)
T_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/awq-$T_NAME-XXXXXX")
T_FAILED=0
trap 'if [ $T_FAILED -eq 0 ]; then rm -rf "$TMP"; else echo "# files kept in $TMP" >&2; fi' EXIT
ASSETS=""
for d in "${AWQ_ASSETS:-}" ../shared/assets; do
    if [ -n "$d" ] && [ -f "$d/README.md" ]; then ASSETS=$(cd "$d" && pwd); break; fi
done

# tiny_model DIR LAYERS SEED [awq-gen-model options...]: the small synthetic Llama the pipeline
# tests share (hidden 64, ffn 128, 4 heads, 2 kv heads, vocab 256)
tiny_model() {
    _tm_dir=$1 _tm_layers=$2 _tm_seed=$3; shift 3
    "$BIN/awq-gen-model" -q --out "$_tm_dir" --layers "$_tm_layers" --hidden 64 --ffn 128 --heads 4 --kv-heads 2 \
        --vocab 256 --seed "$_tm_seed" "$@" >/dev/null
}

pass() { echo "PASS $T_NAME:$1"; }
fail() { echo "FAIL $T_NAME:$1: $2"; T_FAILED=1; }
skip() { echo "SKIP $T_NAME:$1: $2"; }
ok() {
    n=$1; shift
    if "$@" >"$TMP/.out" 2>&1; then pass "$n"; else fail "$n" "command failed: $*"; sed 's/^/    /' "$TMP/.out" | tail -n 20 >&2; fi
}
fails() {
    n=$1; shift
    if "$@" >"$TMP/.out" 2>&1; then fail "$n" "command succeeded but should fail: $*"; else pass "$n"; fi
}
check() {
    n=$1; shift
    if eval "$1" >"$TMP/.out" 2>&1; then pass "$n"; else fail "$n" "$1"; sed 's/^/    /' "$TMP/.out" | tail -n 20 >&2; fi
}

# damage FILE OFFSET [COUNT]: invert COUNT bytes (default 1) of FILE at OFFSET, so the damage is
# never a no-op (writing a fixed byte over random data leaves it unchanged one time in 256)
damage_bytes() {
    _db_f=$1 _db_at=$2 _db_n=${3:-1}
    chmod u+w "$_db_f"
    for _db_b in $(od -An -tu1 -j "$_db_at" -N "$_db_n" "$_db_f"); do
        printf "$(printf '\\%03o' $(( 255 - _db_b )))" | dd of="$_db_f" bs=1 seek="$_db_at" conv=notrunc 2>/dev/null
        _db_at=$(( _db_at + 1 ))
    done
}
