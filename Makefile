# awqmake - AWQ quantization of HuggingFace LLM checkpoints as a Make pipeline of small C programs.
# This file is thin: the build lives in mk/, the user entry points are listed by `make help`.

.DEFAULT_GOAL := all

include mk/quiet.mk
include mk/config.mk
include mk/cuda.mk
include mk/build.mk
include mk/fuzz.mk
include mk/tests.mk
include mk/pipeline.mk
include mk/real.mk

.PHONY: all help config demo clean deps

all: $(LIBS) $(PROGRAMS) ## build every program into $(O)/bin/

deps: ## install missing Debian packages (apt-get), then exit
	$(Q)tools/install-deps.sh

demo: all ## run the main job on an embedded default (a synthetic model)
	$(Q)tools/demo.sh $(O)

clean: ## remove the build directory
	$(Q)rm -rf $(O)

help: ## list the public targets
	@echo "awqmake targets (knobs: make config):"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):.*## (.*)/  \1\t\2/' | expand -t 16
