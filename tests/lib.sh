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
. tests/openblas_kernel.sh
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

# pipeline_fixture: the pipeline tests' common start: the programs they run (else every check is
# skipped), ROOT, a tiny 3-block model in $M and 2048 calibration ids in $TMP/calib.i32
pipeline_fixture() {
    for _pf in awq-plan awq-gen-model awq-gen-tokens awq-step; do
        [ -x "$BIN/$_pf" ] || { skip all "$_pf not built"; exit 0; }
    done
    ROOT=$(pwd)
    M="$TMP/model"
    tiny_model "$M" 3 11
    "$BIN/awq-gen-tokens" --vocab 256 --count 2048 --seed 5 --out "$TMP/calib.i32" >/dev/null 2>&1
}

# q STORE OUT [VAR=value...]: one `make quantize` of $M on $TMP/calib.i32 (small settings), its
# messages in $TMP/log
q() {
    _qs=$1 _qo=$2; shift 2
    AWQ_CACHE="$_qs" make -C "$ROOT" --no-print-directory -j4 quantize O="$O" MODEL="$M" OUT="$_qo" CALIB="$TMP/calib.i32" \
        SEQLEN=128 GROUP=64 N_GRID=4 "$@" >"$TMP/log" 2>&1
}

# flip_tensor_bit FILE TENSOR: flip one bit of the second byte of TENSOR in the safetensors FILE
# (a model that differs from the original in that tensor only)
flip_tensor_bit() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
p, name = sys.argv[1], sys.argv[2]
b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
off = 8 + n + h[name]['data_offsets'][0]
b[off + 1] ^= 0x04
open(p, 'wb').write(b)
PY
}

# The crash tests (t_pipeline, t_moe) kill -9 a whole `make quantize` at a moment drawn over the length
# of a timed run: fixed moments stopped finding the make running once runs got fast.
# seconds_since T0: seconds since T0 (a `date +%s.%N`), to the millisecond
seconds_since() { echo "$1 $(date +%s.%N)" | awk '{printf "%.3f", $2 - $1}'; }
# kill_delay SEED RUN_S COLD: a kill moment: anywhere in a run from an empty store (COLD=1), early in a
# warm one (only shards and assembly left)
kill_delay() { awk -v s="$1" -v t="$2" -v cold="$3" 'BEGIN{srand(s); printf "%.3f", rand() * (cold ? t : t / 4)}'; }
# make_killed_at DELAY STORE MAKE-ARGS...: `make quantize MAKE-ARGS` on store STORE in a session of its
# own, kill -9 its process group after DELAY seconds (dash's kill takes no "--": `kill -9 -- -PG`
# killed nothing), and return once the group's processes are gone, as after a crash (kill(2) returns
# before they are: a killed assemble still exiting would look alive, and its OUT.tmp-<pid> be kept).
# Status 0 when the kill found the make running.
make_killed_at() {
    _mk_delay=$1 _mk_store=$2; shift 2
    ( AWQ_CACHE="$_mk_store" setsid make -C "$ROOT" --no-print-directory quantize O="$O" "$@" >/dev/null 2>&1 &
      echo $! >"$TMP/pid"; wait ) &
    sleep "$_mk_delay"
    _mk_pg=$(cat "$TMP/pid")
    _mk_killed=1
    kill -0 -"$_mk_pg" 2>/dev/null && kill -9 -"$_mk_pg" 2>/dev/null && _mk_killed=0
    wait
    _mk_j=0; while kill -0 -"$_mk_pg" 2>/dev/null && [ $_mk_j -lt 200 ]; do sleep 0.05; _mk_j=$((_mk_j + 1)); done
    return $_mk_killed
}
