# openblas_kernel.sh - sourced by tests/run.sh, tests/lib.sh and the byte-golden generators
# (tools/golden/gen_keys.sh, gen_ct_golden.sh). The CPU backend's GEMMs are OpenBLAS's sgemm, and
# Debian's OpenBLAS (DYNAMIC_ARCH) picks its kernel by CPU model when it loads: SkylakeX on a CPU
# with AVX-512 that it knows, Zen on AMD Zen 2-4, Haswell on other AVX2 CPUs (AMD Zen 5 among
# them). Each kernel adds a dot product's terms in its own order, so fp32 results, and the fp16
# roundings after them, differ in the last bit between kernels: awqmake's objects and output
# bytes repeat run to run and machine to machine only for the same kernel. The byte goldens
# (tests/golden/keys, tests/golden/ct) are recorded with Haswell, the kernel every x86-64 CPU with
# AVX2 and FMA runs (and the one these machines' environment asks for), so the tests ask for it
# (OPENBLAS_CORETYPE, read when the library loads) where the CPU has AVX2 and FMA; with another
# kernel (a value the user set, or a CPU without them) the byte comparisons skip and say why.
OPENBLAS_GOLDEN_KERNEL=Haswell
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    _ob_flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
    case $_ob_flags in *" avx2 "*" fma "*|*" fma "*" avx2 "*) OPENBLAS_CORETYPE=$OPENBLAS_GOLDEN_KERNEL; export OPENBLAS_CORETYPE ;; esac
fi
# openblas_golden_kernel: true when sgemm runs the kernel the byte goldens were recorded with
openblas_golden_kernel() { [ "${OPENBLAS_CORETYPE:-}" = "$OPENBLAS_GOLDEN_KERNEL" ]; }
