#!/bin/sh
# t_ops.sh - every entry of the op list kernels/ops.def has its files and its reference: the CPU
# twin kernels/cpu/<stem>.c defining cpu_<name>, the CUDA twin kernels/cuda/<stem>.cu defining
# cuda_<name>, and (for KERN_OP, not KERN_HINT) kern_<name>_ref declared in kernels/cpu/ref.h and
# defined in a kernels/cpu file. The table entries and test_op_<name> are checked by the compiler
# and the linker (they are generated from the same list); this catches a twin or _ref in the
# wrong place, which would still build.
. tests/lib.sh
list=$(sed -n 's/^KERN_\(OP\|HINT\)(\([a-z0-9_]*\), *\([a-z0-9_]*\),.*/\1 \2 \3/p' kernels/ops.def)
[ -n "$list" ] || { fail list "no KERN_OP entries found in kernels/ops.def"; exit 0; }
echo "$list" | while read -r kind name stem; do
    why=""
    [ -f "kernels/cpu/$stem.c" ] || why="$why; kernels/cpu/$stem.c missing"
    [ -f "kernels/cuda/$stem.cu" ] || why="$why; kernels/cuda/$stem.cu missing"
    grep -q "^[a-z_ ]*[ *]cpu_$name(" "kernels/cpu/$stem.c" 2>/dev/null || why="$why; cpu_$name not defined in kernels/cpu/$stem.c"
    grep -q "^[a-z_ ]*[ *]cuda_$name(" "kernels/cuda/$stem.cu" 2>/dev/null || why="$why; cuda_$name not defined in kernels/cuda/$stem.cu"
    if [ "$kind" = OP ]; then
        grep -q "[ *]kern_${name}_ref(" kernels/cpu/ref.h || why="$why; kern_${name}_ref not declared in kernels/cpu/ref.h"
        grep -lq "^kern_status kern_${name}_ref(" kernels/cpu/*.c || why="$why; kern_${name}_ref not defined in kernels/cpu/"
    fi
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "${why#; }"; fi
done
