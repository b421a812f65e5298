# tests.mk - unit and CLI tests: tests/test_*.c become programs in $(O)/tests/, tests/t_*.sh
# are shell tests of the installed programs; tests/run.sh runs them all and prints the
# closing line "N passed, N failed, N skipped".

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(O)/tests/%,$(TEST_SRC))
TEST_SUPPORT := $(call obj,tests/support.c)

$(O)/tests/%: $(O)/obj/tests/%.o $(TEST_SUPPORT) $(LIBS)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $< $(TEST_SUPPORT) $(LIBS) $(LDLIBS) -o $@

.PHONY: test check
test: $(PROGRAMS) $(TEST_BINS) $(FUZZ_BINS) ## build and run the whole test suite
	$(Q)O=$(O) FUZZ_TIME=$(FUZZ_TIME_TEST) tests/run.sh

check: test

# Developers' benchmarks (tools/), kept out of mk/pipeline.mk: the pipeline runs build/bin only.
# `make bench` times the GPU when this build has CUDA and nvidia-smi lists a GPU, else the CPU;
# BENCH_DEVICE=cpu|cuda picks one (`make bench-cpu` = BENCH_DEVICE=cpu).
BENCH_DEVICE ?= auto
ifeq ($(filter auto cpu cuda,$(BENCH_DEVICE)),)
  $(error BENCH_DEVICE=$(BENCH_DEVICE): want auto, cpu or cuda)
endif
.PHONY: bench bench-cpu
bench: $(PROGRAMS) ## W7 pipeline on the GPU (cold / warm / clip-grid / group reruns, BENCH_LAYERS=32), or without a GPU bench-cpu
	$(Q)if [ '$(BENCH_DEVICE)' = cuda ] || { [ '$(BENCH_DEVICE)' = auto ] && [ '$(use_cuda)' = 1 ] && nvidia-smi -L >/dev/null 2>&1; }; \
	  then tools/bench.sh $(O) $(or $(BENCH_LAYERS),32); else tools/bench-cpu.sh $(O); fi

bench-cpu: $(PROGRAMS) ## stories260K-ffn256 quantized and evaluated on the CPU: GFLOP/s per stage vs the OpenBLAS sgemm peak
	$(Q)tools/bench-cpu.sh $(O)
