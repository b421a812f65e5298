#!/bin/sh
# t_layers.sh - the directions of docs/DESIGN.md ("Which way the code may lean"), read off the
# #include lines of every source file: each folder includes only itself and the folders below it,
# no header includes itself round a loop, kernels/cpu and kernels/cuda never see each other, and
# nothing the pipeline runs (stages/, mk/pipeline.mk) reaches into tools/. A planted wrong-way
# include in a copy of the tree must be caught by the same checker, so the check can fail.
. tests/lib.sh

# FOLDER: the folders its files may include (besides system headers). A folder not listed here
# (tools/, tests/) may include anything. The list is the design's arrows, lowest first.
RULES='
base: base
cache: cache base
kernels: kernels base
kernels/cpu: kernels/cpu kernels base
kernels/cuda: kernels/cuda kernels base
stages/common: stages/common kernels cache base
stages: stages stages/common kernels cache base
'

# The include edges "FILE TARGET" of the sources under ROOT; a quoted include is resolved next
# to the file first, then from the root (the -I. of the build).
edges() {
    root=$1
    (cd "$root" && find base cache kernels stages -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' -o -name '*.def' |
        sort | while read -r f; do
            d=$(dirname "$f")
            sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | while read -r inc; do
                if [ -e "$d/$inc" ]; then t=$(realpath -m --relative-to=. "$d/$inc")
                elif [ -e "$inc" ]; then t=$(realpath -m --relative-to=. "$inc")
                else t="?$inc"; fi
                echo "$f $t"
            done
        done)
}

# Wrong-way includes of the tree at ROOT, one per line ("FILE includes TARGET (FOLDER may use: ...)").
violations() {
    edges "$1" | while read -r f t; do
        from=$(dirname "$f")
        allowed=$(printf '%s\n' "$RULES" | sed -n "s|^$from: ||p")
        [ -n "$allowed" ] || continue
        case "$t" in "?"*) echo "$f includes ${t#?}, which is not in the tree"; continue ;; esac
        to=$(dirname "$t")
        ok=0
        for a in $allowed; do [ "$to" = "$a" ] && ok=1; done
        [ $ok -eq 1 ] || echo "$f includes $t ($from may use: $allowed)"
    done
}

# Include loops: tsort names the files of a loop.
loops() { edges "$1" | grep -v ' ?' | tsort 2>&1 >/dev/null | grep -v '^tsort: -: input contains a loop:$'; }

violations . >"$TMP/v"
check include_directions_hold '[ ! -s "$TMP/v" ] || { cat "$TMP/v"; false; }'

loops . >"$TMP/loops"
check no_include_loops '[ ! -s "$TMP/loops" ] || { cat "$TMP/loops"; false; }'

# The same directions where no #include shows them: which object file calls which, from the
# symbols each defines and uses (nm). Loops between files are refused too (the tokenizer's readers
# once called each other both ways); a backend's table (kernels/*/backend.o names every op, and
# the ops report errors through it) is the one place where a file and its users meet both ways.
link_edges() {
    objdir=$1
    (cd "$objdir" && find base cache kernels stages -name '*.o' | sort >"$TMP/objs"
     while read -r o; do nm -g --defined-only "$o" | awk -v f="$o" '$2 ~ /^[TDBRV]$/ {print $3, f}'; done <"$TMP/objs" | sort >"$TMP/defs"
     while read -r o; do nm -u "$o" | awk -v f="$o" '{print $2, f}'; done <"$TMP/objs" | sort >"$TMP/uses"
     join "$TMP/uses" "$TMP/defs" | awk '$2 != $3 {print $2, $3}' | sort -u)
}
if [ -d "$O/obj/stages/common" ] && command -v nm >/dev/null; then
    link_edges "$O/obj" >"$TMP/ledges"
    while read -r f t; do
        from=$(dirname "$f") to=$(dirname "$t")
        # kernels/cpu and kernels/cuda implement kernels.h: others reach them through it (the
        # backend tables), but the two never call each other
        case "$from:$to" in kernels/cpu:*|kernels/cuda:*) ;; *:kernels/cpu|*:kernels/cuda) to=kernels ;; esac
        allowed=$(printf '%s\n' "$RULES" | sed -n "s|^$from: ||p")
        [ -n "$allowed" ] || continue
        ok=0
        for a in $allowed; do [ "$to" = "$a" ] && ok=1; done
        [ $ok -eq 1 ] || echo "$f calls into $t ($from may use: $allowed)"
    done <"$TMP/ledges" >"$TMP/lv"
    check calls_follow_the_directions '[ -s "$TMP/ledges" ] && [ ! -s "$TMP/lv" ] || { cat "$TMP/lv"; false; }'
    grep -v '/backend\.o ' "$TMP/ledges" | tsort 2>&1 >/dev/null | grep -v 'input contains a loop:$' >"$TMP/lloops"
    check no_call_loops_between_files '[ ! -s "$TMP/lloops" ] || { cat "$TMP/lloops"; false; }'
else
    skip calls_follow_the_directions "no objects in $O/obj (build first)"
    skip no_call_loops_between_files "no objects in $O/obj (build first)"
fi

# the pipeline runs programs of build/bin only: no path into tools/ from stages/ or mk/pipeline.mk
grep -rn 'tools/' stages mk/pipeline.mk >"$TMP/tools" 2>/dev/null
check pipeline_does_not_run_tools '[ ! -s "$TMP/tools" ] || { cat "$TMP/tools"; false; }'

# the checker itself: a copy of the tree with cache/ reaching up into stages/common and a loop
# between two kernels headers must be reported, naming the file
mkdir -p "$TMP/tree"
cp -r base cache kernels stages "$TMP/tree/"
printf '#include "../stages/common/log.h"\n' >>"$TMP/tree/cache/key.c"
printf '#include "cpu/cpu.h"\n' >>"$TMP/tree/kernels/kernels.h"
violations "$TMP/tree" >"$TMP/planted"
check planted_wrong_way_include_is_caught 'grep -q "^cache/key.c includes stages/common/log.h" "$TMP/planted"'
loops "$TMP/tree" >"$TMP/planted_loops"
check planted_loop_is_caught 'grep -q "kernels/kernels.h" "$TMP/planted_loops"'
