# cuda.mk - the CUDA backend (kernels/cuda/*.cu), built with nvcc when CUDA is on.
# It is compiled and linked on machines without a GPU too (CI); it runs only where one exists.

CUDA_SRC := $(wildcard kernels/cuda/*.cu)
ifeq ($(use_cuda),1)
  CUDA_OBJ := $(patsubst %.cu,$(O)/obj/%.o,$(CUDA_SRC))
else
  CUDA_OBJ :=
endif

$(O)/obj/%.o: %.cu $(FLAGS_FILE) | $(DEPS_STAMP)
	$(call say,NVCC,$<)
	$(Q)mkdir -p $(@D) && $(NVCC) $(NVCCFLAGS) -c $< -o $@
