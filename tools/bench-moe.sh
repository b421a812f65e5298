#!/bin/sh
# bench-moe.sh - one full-size mixture-of-experts block on this machine's GPU: awq-gen-model's
# PRESET with one layer (mixtral-8x7b, qwen3-30b-a3b), 128 x 512 calibration tokens, w4 g128,
# n_grid 20; prints the time of each stage (embed, capture, quantize), the peak GPU memory seen by
# nvidia-smi, the block's AWQ FLOPs and the ratio to the FLOP floor at the cuBLAS fp16 peak
# measured in the same run. DeepSeek-V3: LAYERS=2 tools/bench-moe.sh build deepseek-v3 generates one
# dense and one MoE block (awq-gen-model keeps the last layer a MoE one) and times both blocks
# ("block 0" dense, "block 1" MoE) against the FLOP floor of each (latent attention, dense mlp or
# router + routed experts + shared experts). Also printed: the largest resident set of one awqmake
# process (ps, every 0.2 s). BENCH_DIR shares the generated model between builds; the experts'
# batch (AWQ_EXPERT_BATCH, AWQ_EXPERT_BUDGET_MB) and AWQ_QUANTIZE_JOBS pass through to the steps.
#   [LAYERS=N] [BENCH_DIR=D] tools/bench-moe.sh [O] [PRESET]
set -eu
O=${1:-build}
PRESET=${2:-mixtral-8x7b}
LAYERS=${LAYERS:-1}
BIN=$(cd "$O/bin" && pwd)
B=${BENCH_DIR:-$O/bench-moe}/$PRESET-L$LAYERS
export AWQ_CACHE=$B/cache
mkdir -p "$B"
if [ ! -f "$B/model/config.json" ]; then
    t0=$(date +%s.%N)
    "$BIN/awq-gen-model" -q --preset "$PRESET" --layers "$LAYERS" --seed 7 --out "$B/model" >/dev/null
    echo "generated $PRESET ($LAYERS layers) in $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}') s" >&2
fi
V=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$B/model/config.json")
[ -f "$B/calib.i32" ] || "$BIN/awq-gen-tokens" --vocab "$V" --count 65536 --seed 8 --out "$B/calib.i32" 2>/dev/null
peak=$("$BIN/awq-bench-kernels" --device cuda --seqs 1 --reps 3 2>&1 | sed -n 's/.*GEMM fp16 \([0-9.]*\) TFLOP.*/\1/p' | head -1)
[ -n "$peak" ] || peak=0
rm -rf "$B/out" "$B/out.awq" "$AWQ_CACHE"
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$B/mem.log" 2>/dev/null &
smi=$!
# the largest resident set of one awqmake process (KiB), sampled every 0.2 s
while :; do ps -eo rss=,comm= | awk '$2 ~ /^awq-/ {print $1}'; sleep 0.2; done >"$B/rss.log" 2>/dev/null &
rss=$!
t0=$(date +%s.%N)
"$BIN/awq-plan" --model "$B/model" --calib "$B/calib.i32" --out "$B/out" --work "$B/out.awq" --bin "$BIN" --seqlen 512 \
    --n-samples 128 --group 128 --device cuda -q && make --no-print-directory -j4 -f "$B/out.awq/plan.mk" all >"$B/run.log" 2>&1 ||
    { kill $smi $rss; tail -20 "$B/run.log" >&2; grep "^awqmake:" "$B/run.log" >&2
      echo "peak GPU memory used: $(sort -n "$B/mem.log" | tail -1) MiB; peak host RSS of one process: $(sort -n "$B/rss.log" | tail -1) KiB" >&2
      exit 1; }
t1=$(date +%s.%N)
kill $smi $rss 2>/dev/null || true
grep "^awqmake:" "$B/run.log"
python3 - "$B/model/config.json" "$(echo "$t0 $t1" | awk '{printf "%.2f", $2-$1}')" "$peak" "$B/mem.log" "$B/run.log" "$B/rss.log" <<'PY'
import json, re, sys
c = json.load(open(sys.argv[1])); wall = float(sys.argv[2]); peak = float(sys.argv[3])
mem = [int(x) for x in open(sys.argv[4]).read().split() if x.isdigit()]
rss = [int(x) for x in open(sys.argv[6]).read().split() if x.isdigit()]
log = open(sys.argv[5]).read()
st = {m.group(2): float(m.group(3)) for m in re.finditer(r"awqmake: (block 0|model) +(\w+) +([0-9.]+) s", log)}
blk = {(int(m.group(1)), m.group(2)): float(m.group(3)) for m in re.finditer(r"awqmake: block (\d+) +(\w+) +([0-9.]+) s", log)}
C = c["hidden_size"]; H = c["num_attention_heads"]; Hkv = c["num_key_value_heads"]; D = c.get("head_dim") or C // H
E = c.get("num_local_experts") or c.get("num_experts") or c.get("n_routed_experts"); K = c["num_experts_per_tok"]
F = c.get("moe_intermediate_size") or c["intermediate_size"]
N, T, G = 128 * 512, 512, 20
lin = lambda i, o, n: 2.0 * n * i * o
attn = lin(C, H * D, N) + 2 * lin(C, Hkv * D, N) + lin(H * D, C, N) + 2 * 2.0 * 128 * H * T * T * D / 2
moe = lin(C, E, N) + K * (2 * lin(C, F, N) + lin(F, C, N))   # router + the routed tokens' three GEMMs
fwd = attn + moe
search = fwd + G * attn + G * moe + E * G * lin(F, C, N * K / E)  # reference forward, grids of attn, experts, each down
if c.get("kv_lora_rank"):  # DeepSeek-V3: latent attention; layer 0 dense (as bench LAYERS=2 makes it), the last MoE
    rq, rkv, dn, dr, dv = c.get("q_lora_rank") or 0, c["kv_lora_rank"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    Fd, Fs = c["intermediate_size"], F * c["n_shared_experts"]
    q = lin(C, rq, N) + lin(rq, H * (dn + dr), N) if rq else lin(C, H * (dn + dr), N)
    attn = q + lin(C, rkv + dr, N) + lin(rkv, H * (dn + dv), N) + lin(H * dv, C, N) + 2.0 * 128 * H * T * T * (dn + dr + dv) / 2
    latent = (lin(rq, H * (dn + dr), N) if rq else 0) + lin(rkv, H * (dn + dv), N)   # q_a_layernorm, kv_a_layernorm groups
    dense = 3 * lin(C, Fd, N)
    moe = lin(C, E, N) + K * (2 * lin(C, F, N) + lin(F, C, N)) + 3 * lin(C, Fs, N)
    f0, f1 = attn + dense, attn + moe
    s0 = f0 + G * (attn + latent + dense + lin(Fd, C, N))
    s1 = f1 + G * (attn + latent + moe + lin(Fs, C, N)) + E * G * lin(F, C, N * K / E)
    print("per block (capture + scale search FLOPs; floor at the measured fp16 peak):")
    for b, (name, fl) in enumerate([("dense", s0 + f0), ("MoE", s1 + f1)][-int(c["num_hidden_layers"]):]):
        t = blk.get((b, "capture"), 0) + blk.get((b, "quantize"), 0)
        floor = fl / peak / 1e12 if peak > 0 else 0
        print("  block %d (%s): %.1f TFLOP, floor %.2f s, capture+quantize %.2f s = %.1fx" % (b, name, fl / 1e12, floor, t,
              t / floor if floor else 0))
    fwd, search = f1, s1
print("%s, %d block(s), %d x %d tokens, w4 g128, n_grid 20: E=%d top-%d, Fe=%d" % (c["architectures"][0], c["num_hidden_layers"], 128, 512, E, K, F))
print("stage       seconds")
for k in ("embed", "capture", "quantize"):
    if k in st: print("%-10s %8.2f" % (k, st[k]))
print("wall       %8.2f   (plan, all stages, shards, assemble)" % wall)
print("peak GPU memory used: %.1f GiB; peak host RSS of one awqmake process: %.1f GiB" % (max(mem) / 1024 if mem else 0,
      max(rss) / 1048576 if rss else 0))
if peak > 0:
    fl = search + fwd
    print("AWQ FLOPs of the block (capture + scale search): %.1f TFLOP; floor at %.0f TFLOP/s: %.2f s; "
          "capture+quantize %.2f s = %.1fx the floor" % (fl / 1e12, peak, fl / peak / 1e12, st.get("capture", 0) + st.get("quantize", 0),
          (st.get("capture", 0) + st.get("quantize", 0)) / (fl / peak / 1e12)))
PY
