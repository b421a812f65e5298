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
SHARD_GB   ?= 5
GC_DAYS    ?= 30
WORK        = $(OUT).awq

plan_args = --model '$(MODEL)' --calib '$(CALIB)' --out '$(OUT)' --work '$(WORK)' --bin $(O)/bin \
	--w-bit $(W_BIT) --group $(GROUP) --n-grid $(N_GRID) --clip-grid $(CLIP_GRID) --max-shrink $(MAX_SHRINK) \
	--n-samples $(N_SAMPLES) --seqlen $(SEQLEN) --n-sample-token $(N_SAMPLE_TOKEN) --semantics $(SEMANTICS) \
	--numerics $(NUMERICS) --device $(DEVICE) --shard-gb $(SHARD_GB) $(if $(filter 1,$(DUO_SCALING)),--duo-scaling)

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
