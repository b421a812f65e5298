# build.mk - libraries and programs, out of tree in $(O)/, header dependencies via -MMD -MP,
# and a rebuild of everything when the compile flags change (like git's GIT-CFLAGS).

BASE_SRC    := $(wildcard base/*.c)
CACHE_SRC   := $(wildcard cache/*.c)
COMMON_SRC  := $(wildcard stages/common/*.c)
KERNEL_SRC  := $(wildcard kernels/*.c kernels/cpu/*.c)
STAGE_SRC   := $(wildcard stages/*.c)
# Programs written in sh that the pipeline runs (awq-step, awq-status): part of the stages, not tools/.
STAGE_SCRIPTS := $(wildcard stages/scripts/*.sh)
TOOL_SRC    := $(wildcard tools/*.c)

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

LIB_BASE    := $(O)/lib/libawqbase.a
LIB_CACHE   := $(O)/lib/libawqcache.a
LIB_COMMON  := $(O)/lib/libawqcommon.a
LIB_KERNELS := $(O)/lib/libawqkernels.a
# Link order: users before what they use.
LIBS        := $(LIB_COMMON) $(LIB_KERNELS) $(LIB_CACHE) $(LIB_BASE)

PROGRAMS := $(patsubst stages/%.c,$(O)/bin/awq-%,$(STAGE_SRC)) \
            $(patsubst tools/%.c,$(O)/bin/awq-%,$(TOOL_SRC)) \
            $(patsubst stages/scripts/%.sh,$(O)/bin/awq-%,$(STAGE_SCRIPTS))

$(O)/obj/%.o: %.c $(FLAGS_FILE) | $(DEPS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D) && $(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB_BASE): $(call obj,$(BASE_SRC))
$(LIB_CACHE): $(call obj,$(CACHE_SRC))
$(LIB_COMMON): $(call obj,$(COMMON_SRC))
$(LIB_KERNELS): $(call obj,$(KERNEL_SRC)) $(CUDA_OBJ)
$(O)/lib/%.a:
	$(call say,AR,$@)
	$(Q)mkdir -p $(@D) && rm -f $@ && ar rcs $@ $^

$(O)/bin/awq-%: $(O)/obj/stages/%.o $(LIBS)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $< $(LIBS) $(LDLIBS) -o $@

$(O)/bin/awq-%: $(O)/obj/tools/%.o $(LIBS)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $< $(LIBS) $(LDLIBS) -o $@

# Scripts the pipeline runs, installed beside the programs.
$(O)/bin/awq-%: stages/scripts/%.sh
	$(Q)mkdir -p $(@D) && cp $< $@ && chmod +x $@

-include $(shell find $(O)/obj $(O)/fuzz/obj -name '*.d' 2>/dev/null)
