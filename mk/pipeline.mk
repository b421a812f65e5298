# pipeline.mk - the user entry points of the AWQ pipeline:
#   make -j quantize MODEL=<hf dir> OUT=<dir> CALIB=<text, .jsonl or .i32> [W_BIT=4 GROUP=128 ...]
#                    [DEVICES=all|0,1,3|cpu:N] [LAUNCHER=local|slurm]
#   make status OUT=<dir>          what exists per block and stage
#   make gc [GC_DAYS=30]           remove store objects unused for GC_DAYS days
# `quantize` plans first (bin/awq-plan writes $(OUT).awq/plan.mk, every object named by its key)
# and then runs that plan with the same make flags, so -j spreads the stages over the cores.
# VERIFY=1 (a plan parameter) verifies the experiment's objects first and makes damaged ones again.

MODEL      ?=
OUT        ?=
CALIB      ?=
GC_DAYS    ?= 30
WORK        = $(OUT).awq
# Where the steps run (README "Many GPUs and clusters"); neither enters a key: OUT is the same
# byte for byte whatever they are.
#   DEVICES=all | 0,1,3 | 0,0 | cpu:N   the GPUs of this host the steps share out (a pool of GPU
#                    memory units each, stages/common/slots.h); cpu:N simulates N on the CPU
#   LAUNCHER=local | slurm              slurm: each step a Slurm job step (srun), inside an allocation
#   SRUN_FLAGS=...                      more srun options for every step (e.g. --cpus-per-task=8)
DEVICES    ?= all
LAUNCHER   ?= local
SRUN_FLAGS ?=
launch_env  = AWQ_DEVICES='$(DEVICES)' AWQ_LAUNCHER='$(LAUNCHER)' AWQ_SRUN_FLAGS='$(SRUN_FLAGS)'

# The AWQ parameters (W_BIT GROUP N_GRID CLIP_GRID MAX_SHRINK N_SAMPLES SEQLEN N_SAMPLE_TOKEN
# DUO_SCALING SEMANTICS NUMERICS DEVICE EXPORT ...) are the make variables of the one parameter
# record, stages/common/params.def, read off it here; those set (on the command line or in the
# environment) go to awq-plan as VAR=VALUE, the rest keep the record's defaults.
AWQ_PARAM_VARS := $(shell sed -n 's/^AWQ_PARAM.*\.make = "\([A-Z_][A-Z0-9_]*\)".*/\1/p' stages/common/params.def)
param_args = $(foreach v,$(AWQ_PARAM_VARS),$(if $(filter-out undefined default,$(origin $(v))),'$(v)=$($(v))'))

plan_args = --model '$(MODEL)' --calib '$(CALIB)' --out '$(OUT)' --work '$(WORK)' --bin $(O)/bin $(param_args)

# The programs started from here (and the plan's steps, through plan.mk) name make variables in
# their hints, NUMERICS=fp32 rather than --numerics fp32 (stages/common/log.h awq_via_make). Set
# per command, not exported: tests and tools that run the programs by hand get the flags.
via_make := AWQ_VIA_MAKE=1

# $(call quiet_errors,COMMAND): run a make that runs the plan, without its lines
# "make[1]: *** [...] Error 1" and "make[1]: *** Waiting for unfinished jobs....". GNU make prints
# them for every recipe that fails (job.c child_error: only ignored errors are silent under -s),
# and awq-step has already said which step failed, why, and the hint, so they say nothing new.
# Its stdout and stderr come out on stderr, line by line as before; its exit status is kept (fd 9
# carries it out of the pipe: sh has no pipefail). The top-level make still prints one such line
# for `quantize` itself: a make that fails says so, and no option silences that.
make_noise := ^make(\[[0-9]+\])?: \*\*\* (\[.*\] Error [0-9]+|Waiting for unfinished jobs\.\.\.\.)$$
quiet_errors = rc=$$( { { $(1) 2>&1 9>&-; echo $$? >&9; } | grep --line-buffered -Ev '$(make_noise)' >&2; } 9>&1 ); exit $$rc

.PHONY: quantize status gc
quantize: $(PROGRAMS) ## make -j quantize MODEL=dir OUT=dir CALIB=file [W_BIT GROUP N_GRID ...]; CALIB: text, .jsonl or .i32 ids
	@test -n '$(MODEL)' && test -n '$(OUT)' && test -n '$(CALIB)' || \
	  { echo "usage: make -j quantize MODEL=<hf dir> OUT=<dir> CALIB=<text, .jsonl or .i32> [W_BIT=4 GROUP=128 ...]" >&2; exit 2; }
	$(Q)$(via_make) $(launch_env) $(O)/bin/awq-plan $(plan_args)
	$(Q)$(call quiet_errors,$(launch_env) $(MAKE) -f '$(WORK)/plan.mk' all)

status: $(PROGRAMS) ## make status OUT=dir: done / missing / running per block and stage
	@test -n '$(OUT)' || { echo "usage: make status OUT=<dir>" >&2; exit 2; }
	$(Q)$(via_make) $(O)/bin/awq-status '$(WORK)' $(O)/bin

gc: $(PROGRAMS) ## remove store objects not used for GC_DAYS days (and stale temp files)
	$(Q)$(via_make) $(O)/bin/awq-obj gc --older-than $(GC_DAYS)

# ---- evaluation and report (issue 6) -------------------------------------------------------
#   make eval MODEL=dir EVAL=ids.i32|text [OUT=dir] [EVAL_SEQLEN=2048]   FP (+ OUT) perplexity
#   make compare MODEL=dir OUT=dir EVAL=...                             FP / RTN / AWQ side by side
#   make report OUT=dir                                                 HTML + PNG plots of the search
EVAL        ?=
EVAL_SEQLEN ?= 2048
EVAL_WINDOWS ?= 0
eval_json    = $(if $(OUT),$(WORK)/eval.json,eval.json)
eval_params  = $(if $(DEVICE),--device '$(DEVICE)')
# text is tokenized once per (model, file) into the work directory (spec §4.1: joined, one BOS)
eval_ids     = $(if $(filter %.i32,$(EVAL)),$(EVAL),$(if $(OUT),$(WORK),.)/eval-$(notdir $(EVAL)).i32)
# the AWQ variant: the GEMM checkpoint when there is one, else the fake-quant objects (W_BIT != 4)
awq_variant  = $(if $(OUT),$(if $(wildcard $(OUT)/config.json),--quant '$(OUT)',--work '$(WORK)'))

.PHONY: eval compare report
eval: $(PROGRAMS) ## make eval MODEL=dir EVAL=ids.i32|text [OUT=dir]: perplexity (spec §4.1), cached
	@test -n '$(MODEL)' && test -n '$(EVAL)' || { echo "usage: make eval MODEL=<hf dir> EVAL=<ids.i32 or text> [OUT=<dir>]" >&2; exit 2; }
	$(Q)$(call eval_tokens)
	$(Q)$(via_make) $(O)/bin/awq-eval -m '$(MODEL)' -t '$(eval_ids)' --seqlen $(EVAL_SEQLEN) --max-windows $(EVAL_WINDOWS) $(eval_params) \
	  $(awq_variant) -o '$(eval_json)'

compare: $(PROGRAMS) ## make compare MODEL=dir OUT=dir EVAL=...: FP / RTN / AWQ in one table
	@test -n '$(MODEL)' && test -n '$(OUT)' && test -n '$(EVAL)' || { echo "usage: make compare MODEL=<hf dir> OUT=<dir> EVAL=<ids.i32 or text>" >&2; exit 2; }
	$(Q)$(call eval_tokens)
	$(Q)$(via_make) $(O)/bin/awq-eval -m '$(MODEL)' -t '$(eval_ids)' --seqlen $(EVAL_SEQLEN) --max-windows $(EVAL_WINDOWS) $(eval_params) \
	  --rtn $(if $(W_BIT),--rtn-w-bit $(W_BIT)) $(if $(GROUP),--rtn-group $(GROUP)) $(awq_variant) -o '$(eval_json)'

report: $(PROGRAMS) ## make report OUT=dir: HTML page with PNG plots (scale losses, ratio heat map, clip shrinks, ppl)
	@test -n '$(OUT)' || { echo "usage: make report OUT=<dir>" >&2; exit 2; }
	$(Q)$(via_make) $(O)/bin/awq-report --work '$(WORK)' $(if $(wildcard $(WORK)/eval.json),--eval '$(WORK)/eval.json')

eval_tokens = $(if $(filter %.i32,$(EVAL)),true,mkdir -p $(dir $(eval_ids)) && \
	{ test -s '$(eval_ids)' || $(via_make) $(O)/bin/awq-tokenize --eval --text '$(EVAL)' --model '$(MODEL)' -o '$(eval_ids)' >/dev/null; })
