#!/bin/sh
# install-deps.sh - install the Debian packages awqmake builds and tests with, when absent.
#   tools/install-deps.sh           install what is missing (apt-get; says what and why)
#   tools/install-deps.sh --check   only report
#   tools/install-deps.sh --slurm   the packages of the Slurm test instead (tests/t_slurm.sh installs
#                                   them when it runs: slurmctld, slurmd, srun and munge, configured
#                                   and started by the test itself on localhost, never as services)
# Called once per build directory by make (mk/build.mk) so a fresh machine needs no manual step.
set -eu

# package : what it is for
PKGS="
libzstd-dev:object store compression
libxxhash-dev:object keys (XXH3-128) and checksums
libjansson-dev:JSON (config.json, safetensors headers, object headers)
libopenblas-dev:CPU matrix multiply
libpcre2-dev:tokenizer pre-tokenizer regexes (Unicode, JIT)
libutf8proc-dev:tokenizer Unicode normalization (NFC/NFKC) and character classes
pkg-config:library probes
clang:libFuzzer targets (make fuzz, bounded runs in make test)
libclang-rt-dev:libFuzzer runtime for clang
python3:test scripts
gnuplot-nox:plots of make report
"

if [ "${1:-}" = "--slurm" ]; then
    shift
    PKGS="
slurmctld:the Slurm controller of tests/t_slurm.sh (LAUNCHER=slurm)
slurmd:the Slurm node daemon of tests/t_slurm.sh
slurm-client:srun, salloc, squeue, scancel
munge:Slurm's authentication (its own key under the test's directory)
"
fi

missing=""
for entry in $(printf '%s' "$PKGS" | sed 's/:.*//'); do
    if ! dpkg-query -W -f='${Status}' "$entry" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $entry"
    fi
done

if [ "${1:-}" = "--check" ]; then
    if [ -z "$missing" ]; then echo "deps: ✓ all Debian packages present"; else echo "deps: ✗ missing:$missing (make deps installs them)"; fi
    exit 0
fi
[ -z "$missing" ] && exit 0

echo "awqmake: installing missing Debian packages:$missing" >&2
printf '%s' "$PKGS" | while IFS=: read -r p why; do
    case " $missing " in *" $p "*) echo "  $p - $why" >&2 ;; esac
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "awqmake: error: not root and no sudo; install:$missing" >&2
        echo "hint: sudo apt-get install$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
