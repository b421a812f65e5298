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

# A developers' benchmark (tools/), kept out of mk/pipeline.mk: the pipeline runs build/bin only.
.PHONY: bench
bench: $(PROGRAMS) ## W7 pipeline on the GPU: cold / warm / clip-grid / group reruns, TFLOP/s vs the floor (BENCH_LAYERS=32)
	$(Q)tools/bench.sh $(O) $(or $(BENCH_LAYERS),32)
