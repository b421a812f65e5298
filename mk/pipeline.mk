# pipeline.mk - the user entry points of the AWQ pipeline:
#   make -j quantize MODEL=<hf dir> OUT=<dir> CALIB=<ids.i32> [W_BIT=4 GROUP=128 ...]
#   make status OUT=<dir>          what exists per block and stage
#   make gc [GC_DAYS=30]           remove store objects unused for GC_DAYS days
# `quantize` plans first (bin/awq-plan writes $(OUT).awq/plan.mk, every object named by its key)
# and then runs that plan with the same make flags, so -j spreads the stages over the cores.

MODEL      ?=
OUT        ?=
CALIB      ?=
W_BIT      ?= 4
GROUP      ?= 128
N_GRID     ?= 20
CLIP_GRID  ?= 20
MAX_SHRINK ?= 0.5
N_SAMPLES  ?= 0
SEQLEN     ?= 512
N_SAMPLE_TOKEN ?= 512
DUO_SCALING ?= 0
SEMANTICS  ?= llm-awq
NUMERICS   ?= fp16
DEVICE     ?= auto
EXPORT     ?= 0
GC_DAYS    ?= 30
WORK        = $(OUT).awq

plan_args = --model '$(MODEL)' --calib '$(CALIB)' --out '$(OUT)' --work '$(WORK)' --bin $(O)/bin \
	--w-bit $(W_BIT) --group $(GROUP) --n-grid $(N_GRID) --clip-grid $(CLIP_GRID) --max-shrink $(MAX_SHRINK) \
	--n-samples $(N_SAMPLES) --seqlen $(SEQLEN) --n-sample-token $(N_SAMPLE_TOKEN) --semantics $(SEMANTICS) \
	--numerics $(NUMERICS) --device $(DEVICE) $(if $(filter 1,$(DUO_SCALING)),--duo-scaling) $(if $(filter 1,$(EXPORT)),--export)

.PHONY: quantize status gc
quantize: $(PROGRAMS) ## make -j quantize MODEL=dir OUT=dir CALIB=ids.i32 [W_BIT GROUP N_GRID CLIP_GRID ...]
	@test -n '$(MODEL)' && test -n '$(OUT)' && test -n '$(CALIB)' || \
	  { echo "usage: make -j quantize MODEL=<hf dir> OUT=<dir> CALIB=<ids.i32> [W_BIT=4 GROUP=128 ...]" >&2; exit 2; }
	$(Q)$(O)/bin/awq-plan $(plan_args)
	$(Q)$(MAKE) -f '$(WORK)/plan.mk' all

status: $(PROGRAMS) ## make status OUT=dir: done / missing / running per block and stage
	@test -n '$(OUT)' || { echo "usage: make status OUT=<dir>" >&2; exit 2; }
	$(Q)tools/status.sh '$(WORK)' $(O)/bin

gc: $(PROGRAMS) ## remove store objects not used for GC_DAYS days (and stale temp files)
	$(Q)$(O)/bin/awq-obj gc --older-than $(GC_DAYS)

# ---- evaluation and report (issue 6) -------------------------------------------------------
#   make eval MODEL=dir EVAL=ids.i32|text [OUT=dir] [EVAL_SEQLEN=2048]   FP (+ OUT) perplexity
#   make compare MODEL=dir OUT=dir EVAL=...                             FP / RTN / AWQ side by side
#   make report OUT=dir                                                 HTML + PNG plots of the search
EVAL        ?=
EVAL_SEQLEN ?= 2048
EVAL_WINDOWS ?= 0
eval_json    = $(if $(OUT),$(WORK)/eval.json,eval.json)
# text is tokenized once per (model, file) into the work directory (spec §4.1: joined, one BOS)
eval_ids     = $(if $(filter %.i32,$(EVAL)),$(EVAL),$(if $(OUT),$(WORK),.)/eval-$(notdir $(EVAL)).i32)
# the AWQ variant: the GEMM checkpoint when there is one, else the fake-quant objects (W_BIT != 4)
awq_variant  = $(if $(OUT),$(if $(wildcard $(OUT)/config.json),--quant '$(OUT)',--work '$(WORK)'))

.PHONY: eval compare report
eval: $(PROGRAMS) ## make eval MODEL=dir EVAL=ids.i32|text [OUT=dir]: perplexity (spec §4.1), cached
	@test -n '$(MODEL)' && test -n '$(EVAL)' || { echo "usage: make eval MODEL=<hf dir> EVAL=<ids.i32 or text> [OUT=<dir>]" >&2; exit 2; }
	$(Q)$(call eval_tokens)
	$(Q)$(O)/bin/awq-eval -m '$(MODEL)' -t '$(eval_ids)' --seqlen $(EVAL_SEQLEN) --max-windows $(EVAL_WINDOWS) --device $(DEVICE) \
	  $(awq_variant) -o '$(eval_json)'

compare: $(PROGRAMS) ## make compare MODEL=dir OUT=dir EVAL=...: FP / RTN / AWQ in one table
	@test -n '$(MODEL)' && test -n '$(OUT)' && test -n '$(EVAL)' || { echo "usage: make compare MODEL=<hf dir> OUT=<dir> EVAL=<ids.i32 or text>" >&2; exit 2; }
	$(Q)$(call eval_tokens)
	$(Q)$(O)/bin/awq-eval -m '$(MODEL)' -t '$(eval_ids)' --seqlen $(EVAL_SEQLEN) --max-windows $(EVAL_WINDOWS) --device $(DEVICE) \
	  --rtn --rtn-w-bit $(W_BIT) --rtn-group $(GROUP) $(awq_variant) -o '$(eval_json)'

report: $(PROGRAMS) ## make report OUT=dir: HTML page with PNG plots (scale losses, ratio heat map, clip shrinks, ppl)
	@test -n '$(OUT)' || { echo "usage: make report OUT=<dir>" >&2; exit 2; }
	$(Q)$(O)/bin/awq-report --work '$(WORK)' $(if $(wildcard $(WORK)/eval.json),--eval '$(WORK)/eval.json')

eval_tokens = $(if $(filter %.i32,$(EVAL)),true,mkdir -p $(dir $(eval_ids)) && \
	{ test -s '$(eval_ids)' || $(O)/bin/awq-tokenize --eval --text '$(EVAL)' --model '$(MODEL)' -o '$(eval_ids)' >/dev/null; })

.PHONY: bench
bench: $(PROGRAMS) ## W7 pipeline on the GPU: cold / warm / clip-grid / group reruns, TFLOP/s vs the floor (BENCH_LAYERS=32)
	$(Q)tools/bench.sh $(O) $(or $(BENCH_LAYERS),32)
