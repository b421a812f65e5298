# fuzz.mk - libFuzzer targets (tests/fuzz/fuzz_*.c) built with clang.
#   make test   runs each for FUZZ_TIME_TEST seconds (bounded, part of the suite)
#   make fuzz   runs each for FUZZ_TIME seconds (longer, by hand)
# Both start from the seeds (tests/fuzz/seeds/NAME) and the corpus that tools/campaign-fuzz.sh keeps
# (tests/fuzz/corpus/NAME, minimized); what they find stays in $(O)/fuzz/corpus-fuzz_NAME.
# Without a clang that has the libFuzzer runtime the targets are skipped, and the runner
# reports them as skipped (never as passed).

FUZZ_TIME      ?= 300
FUZZ_TIME_TEST ?= 8
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
fuzz_ok   := $(shell printf 'int LLVMFuzzerTestOneInput(const char*d,long n){return 0;}' | \
               $(FUZZ_CC) -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null && echo 1)
ifeq ($(fuzz_ok),1)
  FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))
else
  FUZZ_BINS :=
endif
# The fuzzed code is compiled again, instrumented, from the same sources the programs use, into
# an archive so that each target links only the members it needs.
FUZZ_LIB_SRC := $(BASE_SRC) $(CACHE_SRC) $(COMMON_SRC)
FUZZ_LIB     := $(O)/fuzz/libfuzzed.a
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -I. -DAWQ_CUDA=0 -MMD -MP

$(O)/fuzz/obj/%.o: %.c $(FLAGS_FILE) | $(DEPS_STAMP)
	$(call say,FUZZCC,$<)
	$(Q)mkdir -p $(@D) && $(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(patsubst %.c,$(O)/fuzz/obj/%.o,$(FUZZ_LIB_SRC))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(FLAGS_FILE) | $(DEPS_STAMP)
	$(call say,FUZZLD,$<)
	$(Q)mkdir -p $(@D) && $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB) -lzstd -lxxhash -ljansson -lpcre2-8 -lutf8proc -lm -lpthread -o $@

.PHONY: fuzz
fuzz: $(FUZZ_BINS) ## run every libFuzzer target for FUZZ_TIME seconds
	$(Q)for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p $(O)/fuzz/corpus-$$n; \
	  echo "fuzz $$n for $(FUZZ_TIME)s"; $$f -max_total_time=$(FUZZ_TIME) $(O)/fuzz/corpus-$$n tests/fuzz/seeds/$${n#fuzz_} \
	    $$([ -d tests/fuzz/corpus/$${n#fuzz_} ] && echo tests/fuzz/corpus/$${n#fuzz_}) || exit 1; done
