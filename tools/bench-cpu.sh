#!/bin/sh
# bench-cpu.sh - `make bench-cpu` (and `make bench` on a machine without a GPU): the CPU backend
# on the real stories260K-ffn256 (../shared/assets: 5 blocks, hidden 64, ffn 256, 8 heads / 4 kv),
# 128 x 512 calibration tokens, w4 g64, n_grid 20, quantized cold on every core (make -j$(nproc)),
# then evaluated (awq-eval, FP and AWQ, 512-token windows of tinystories_eval). Prints
#   - OpenBLAS sgemm GFLOP/s measured first in the same run (awq-bench-sgemm: 2048^3 with
#     OpenBLAS's own threads = the peak; the search's gate/up GEMM shape, as sgemm and as the
#     matmul op the search calls);
#   - per stage: seconds summed over blocks, the stage's FLOPs counted as tools/bench.sh counts
#     them (spec §2; attention as both full t x t products), GFLOP/s, its share of the sgemm peak
#     and the ratio to its FLOP floor at that peak;
#   - block 0's scale search again, alone on every core (under make -j two searches and a capture
#     share the cores), the search's own GFLOP/s against the peak; its objects must come out the
#     same bytes as the first run's;
#   - the wall time of the quantize and of the eval, and the whole run against its floor.
#   tools/bench-cpu.sh [O]      (BENCH_DIR: where it works, default $O/bench-cpu, emptied first;
#                                BENCH_JOBS: make -j, default the number of cores; AWQ_ASSETS)
set -eu
O=${1:-build}
BIN=$(cd "$O/bin" && pwd)
A=${AWQ_ASSETS:-../shared/assets}
M=$A/models/stories260K-ffn256-hf
CALIB=$A/tokens/tinystories_calib.tok512.i32
EVAL=$A/tokens/tinystories_eval.tok512.i32
for f in "$M/config.json" "$CALIB" "$EVAL"; do
    [ -f "$f" ] || { echo "bench-cpu: missing '$f'" >&2; echo "hint: the shared assets (AWQ_ASSETS=$A) hold the model and tokens" >&2; exit 1; }
done
B=${BENCH_DIR:-$O/bench-cpu}
J=${BENCH_JOBS:-$(nproc)}
export AWQ_CACHE=$B/cache OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
secs() { echo "$1 $2" | awk '{printf "%.1f", $2 - $1}'; }
[ -x /usr/bin/time ] || { echo "bench-cpu: needs /usr/bin/time (GNU time)" >&2; echo "hint: apt-get install time" >&2; exit 1; }
if [ -z "${BENCH_REPORT_ONLY:-}" ]; then # (BENCH_REPORT_ONLY=1: the table again from BENCH_DIR's logs)
rm -rf "$B"
mkdir -p "$B"

echo "bench-cpu: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); sgemm reference ..." >&2
"$BIN/awq-bench-sgemm" --reps 5 2048x2048x2048 65536x256x64 >"$B/sgemm.tsv"

echo "bench-cpu: quantize stories260K-ffn256 (128 x 512 tokens, w4 g64) on $J jobs, cold ..." >&2
t0=$(date +%s.%N)
"$BIN/awq-plan" -q --model "$M" --calib "$CALIB" --out "$B/out" --work "$B/out.awq" --bin "$BIN" --seqlen 512 \
    --n-samples 128 --w-bit 4 --group 64 --device cpu >"$B/plan.log" 2>&1 || { cat "$B/plan.log" >&2; exit 1; }
# the steps' lines ("awqmake: block 0   capture  4.80 s  miss") are the progress
make --no-print-directory -j"$J" -f "$B/out.awq/plan.mk" all 2>&1 | tee "$B/run.log" >&2
[ -f "$B/out/config.json" ] || { echo "bench-cpu: the quantize failed (logs: $B/out.awq/logs)" >&2; exit 1; }
t1=$(date +%s.%N)
echo "bench-cpu: evaluate FP and AWQ on tinystories_eval (512-token windows) ..." >&2
"$BIN/awq-eval" -q -m "$M" -t "$EVAL" --seqlen 512 --device cpu --quant "$B/out" -o "$B/eval.json" 2>"$B/eval.log" ||
    { cat "$B/eval.log" >&2; exit 1; }
t2=$(date +%s.%N)
cat "$B/out.awq/logs"/*.log >"$B/steps.log" 2>/dev/null || true
# Block 0's quantize once more, alone on every core (under make -j the searches share the cores
# with each other and the captures): its objects moved aside, the plan's command line run again,
# and the objects it makes compared with the first run's (they must be the same bytes).
echo "bench-cpu: block 0's quantize again, alone ..." >&2
line=$(grep -m1 ' 0 quantize ' "$B/out.awq/plan.mk")
objs=$(echo "${line%% -- *}" | grep -o '$(S)/[0-9a-f/]*' | sed "s|\$(S)|$AWQ_CACHE/objects|")
mkdir -p "$B/first"
for o in $objs; do mv "$o" "$B/first/$(basename "$o")"; done
cmd=$(echo "${line#* -- }" | sed "s|\$(BIN)|$BIN|")
t3=$(date +%s.%N)
# (its CPU seconds too: on a shared machine they say how much of the cores it got)
eval "AWQ_PROFILE=1 /usr/bin/time -f 'cpu %U %S' $cmd" >/dev/null 2>"$B/alone.log" || { cat "$B/alone.log" >&2; exit 1; }
t4=$(date +%s.%N)
for o in $objs; do cmp -s "$o" "$B/first/$(basename "$o")" || { echo "bench-cpu: block 0's rerun made other bytes than the first run ($o)" >&2; exit 1; }; done
echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2") $(secs "$t3" "$t4")" >"$B/walls"
fi
read -r qwall ewall awall <"$B/walls"
peak=$(awk -F'\t' '$1 == "sgemm" && $2 == "2048x2048x2048" { print $4 }' "$B/sgemm.tsv")

# the model's shape, for the FLOPs (a flat config.json: "key": number)
cfg() { sed -n "s/.*\"$1\": *\([0-9][0-9]*\).*/\1/p" "$M/config.json" | head -1; }
ntok=$(($(wc -c <"$EVAL") / 4))
awk -v peak="$peak" -v C="$(cfg hidden_size)" -v F="$(cfg intermediate_size)" -v H="$(cfg num_attention_heads)" \
    -v KVH="$(cfg num_key_value_heads)" -v D="$(cfg head_dim)" -v L="$(cfg num_hidden_layers)" -v V="$(cfg vocab_size)" \
    -v ntok="$ntok" -v qwall="$qwall" -v ewall="$ewall" -v awall="$awall" -v alone="$(sed -n 's/.*groups searched in \([0-9.]*\) s$/\1/p' "$B/alone.log")" \
    -v acpu="$(awk '$1 == "cpu" { print $2 + $3 }' "$B/alone.log")" -v cores="$(nproc)" -v sg="$B/sgemm.tsv" '
BEGIN { N = 128 * 512; T = 512; G = 20; HD = H * D; KV = KVH * D
  attn_n = 4 * N * T * HD                               # scores + weighted sum, causal half not subtracted
  att_lin = 2 * N * (C * HD + 2 * C * KV + HD * C); mlp = 2 * N * 3 * C * F
  fwd = att_lin + attn_n + mlp
  fl["capture"] = fwd
  # the grid: the attention module (q/k/v group), v -> o_proj when the widths match (MHA), the mlp
  # (gate/up group), down_proj alone; plus the reference forward of the block
  fl["scale search"] = fwd + G * (att_lin + attn_n) + (KV == HD ? G * 2 * N * HD * C : 0) + G * mlp + G * 2 * N * F * C
  # 512 sampled tokens x 10 candidates over the clipped linears (v, o, gate, up, down); inputs come
  # from the scale search in awq-quantize, so no forward
  fl["clip search"] = 2 * 512 * 10 * (C * KV + HD * C + 3 * C * F)
  W = int(ntok / T) * T                                 # evaluated tokens (whole windows)
  fl["eval"] = 2 * (L * (W / N) * fwd + 2 * W * C * V)  # FP and AWQ: every block, and the lm_head
  while ((getline line < sg) > 0) { split(line, c, "\t"); if (c[1] == "sgemm" || c[1] == "matmul") ref[c[1] " " c[2]] = c[4] }
}
/^awqmake: / && / s  (hit|miss)$/ { st = $(NF-3); s[st] += $(NF-2); n[st]++ }
/groups searched in [0-9.]+ s$/ { s["scale search"] += $(NF-1); n["scale search"]++ }
/linears clipped in [0-9.]+ s$/ { s["clip search"] += $(NF-1); n["clip search"]++ }
END {
  s["eval"] = ewall; n["eval"] = 1
  s["quantize, rest"] = s["quantize"] - s["scale search"] - s["clip search"]; n["quantize, rest"] = n["quantize"]
  printf "sgemm reference (GFLOP/s, best of 5; OpenBLAS threads = cores for sgemm, OpenMP tiles for the matmul op):\n"
  printf "  sgemm 2048^3 %.1f (the peak)   sgemm 65536x256x64 %.1f   matmul op 65536x256x64 %.1f\n\n",
         ref["sgemm 2048x2048x2048"], ref["sgemm 65536x256x64"], ref["matmul 65536x256x64"]
  printf "%-15s %5s %9s %9s %9s %8s %8s\n", "stage", "runs", "seconds", "GFLOP", "GFLOP/s", "of peak", "x floor"
  k = split("embed|capture|quantize|scale search|clip search|quantize, rest|shard|assemble|eval", list, "|")
  total = 0
  for (i = 1; i <= k; i++) { st = list[i]; if (!(st in n)) continue
    f = (st == "quantize") ? fl["scale search"] + fl["clip search"] : fl[st]
    gf = f * (st == "eval" ? 1 : n[st]) / 1e9
    if (st != "quantize" && st != "quantize, rest") total += gf
    rate = s[st] > 0 ? gf / s[st] : 0
    ind = (st == "scale search" || st == "clip search" || st == "quantize, rest") ? "  " : ""
    printf "%-15s %5d %9.2f %9.1f %9.1f %8s %8s\n", ind st, n[st], s[st], gf, rate,
           (gf > 0 && peak > 0 ? sprintf("%.0f%%", 100 * rate / peak) : "-"), (gf > 0 && peak > 0 ? sprintf("%.1f", s[st] / (gf / peak)) : "-") }
  printf "(indented: parts of quantize; seconds summed over blocks, which run side by side under make -j)\n\n"
  printf "scale search of block 0 alone on every core: %.2f s, %.1f GFLOP/s, %.0f%% of the sgemm peak\n",
         alone, fl["scale search"] / 1e9 / alone, 100 * fl["scale search"] / 1e9 / alone / peak
  printf "  (its quantize: %.1f s wall, %.1f CPU-s: %.0f%% of %d cores; at that share of the cores the\n", awall, acpu,
         100 * acpu / (awall * cores), cores
  printf "   search alone would run at %.0f%% of the peak)\n", 100 * fl["scale search"] / 1e9 / alone / peak * awall * cores / acpu
  floor = total / peak
  printf "wall: quantize %.1f s, eval %.1f s, together %.1f s; FLOP floor at the sgemm peak %.1f s (%.1f GFLOP): x%.1f\n",
         qwall, ewall, qwall + ewall, floor, total, (qwall + ewall) / floor
}' "$B/run.log" "$B/steps.log"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
