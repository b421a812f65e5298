# config.mk - knobs (override on the command line) and toolchain probes.
#   make config        show the values in force
#   CUDA=auto|0|1      build the CUDA backend: auto = when nvcc is found
#   O=build            out-of-tree build directory
#   V=1                show commands

ifeq ($(origin CC),default)
  CC := gcc
endif
NVCC    ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc),nvcc)
FUZZ_CC ?= clang
CUDA    ?= auto
O       ?= build
CUDA_ARCH ?= 90
OPT     ?= -O2

ifeq ($(filter $(CUDA),auto 0 1),)
  $(error CUDA must be auto, 0 or 1 (got '$(CUDA)'))
endif

nvcc_found := $(shell command -v $(NVCC) >/dev/null 2>&1 && echo 1)
ifeq ($(CUDA),auto)
  use_cuda := $(if $(nvcc_found),1,0)
else
  use_cuda := $(CUDA)
endif
ifeq ($(use_cuda)$(nvcc_found),1)
  $(error CUDA=1 but nvcc was not found (NVCC=$(NVCC)); hint: install the CUDA toolkit or use CUDA=0)
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell readlink -f $$(command -v $(NVCC)) 2>/dev/null))

# No -ffast-math: the quantizer needs IEEE subnormals and exact rounding (spec §5 pitfall 3).
WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wno-format-truncation
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -fopenmp $(WARN) -MMD -MP
CPPFLAGS += -I. -DAWQ_CUDA=$(use_cuda)
LDLIBS   := -lzstd -lxxhash -ljansson -lpcre2-8 -lutf8proc -lopenblas -lm -lpthread
ifeq ($(use_cuda),1)
  LDLIBS += -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/targets/x86_64-linux/lib -lcublas -lcudart -lstdc++ \
            -Wl,-rpath,$(CUDA_HOME)/lib64
endif
NVCCFLAGS ?= -O2 -g -lineinfo
# IEEE division/sqrt and subnormals kept (the defaults without --use_fast_math, stated here so
# that they stay): the CUDA quantizer must match the CPU's bit for bit.
NVCCFLAGS += -std=c++17 -arch=sm_$(CUDA_ARCH) -MMD -MP -I. -DAWQ_CUDA=1 -Xcompiler -fPIC \
             -ftz=false -prec-div=true -prec-sqrt=true

# Flag file: its content changes when the flags do, and every object depends on it.
FLAGS_FILE := $(O)/FLAGS
flags_now  := $(CC) $(CPPFLAGS) $(CFLAGS) | $(use_cuda) $(NVCC) $(NVCCFLAGS) | $(LDLIBS)
$(shell mkdir -p $(O) && { [ "$$(cat $(FLAGS_FILE) 2>/dev/null)" = '$(flags_now)' ] || echo '$(flags_now)' > $(FLAGS_FILE); })

# Missing Debian packages are installed once per build directory (tools/install-deps.sh).
DEPS_STAMP := $(O)/.deps-ok
$(DEPS_STAMP): tools/install-deps.sh
	$(Q)tools/install-deps.sh
	$(Q)mkdir -p $(@D) && touch $@

.PHONY: config
config: ## show the build configuration
	@echo "CC=$(CC)  CFLAGS=$(CFLAGS)"
	@echo "CUDA=$(CUDA) -> $(if $(filter 1,$(use_cuda)),✓ on ($(NVCC), sm_$(CUDA_ARCH), $(CUDA_HOME)),✗ off)"
	@echo "FUZZ_CC=$(FUZZ_CC) -> $(if $(shell command -v $(FUZZ_CC) 2>/dev/null),✓,✗ not found: fuzz targets skipped)"
	@echo "O=$(O)  V=$(V)"
	@tools/install-deps.sh --check
