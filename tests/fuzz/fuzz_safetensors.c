/* fuzz_safetensors.c - libFuzzer target: st_parse_header on arbitrary bytes taken as a whole
 * file (file_size = len). It must never crash or leak, and what it accepts must satisfy the
 * layout rules of spec §1.3 (sorted, contiguous, exactly covering the data buffer). */
#include "../../stages/common/safetensors.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_tensor *t;
    int n;
    uint64_t start;
    if (st_parse_header(data, size, size, "fuzz.safetensors", &t, &n, &start) != AWQ_OK) {
        if (t || n) abort(); /* nothing handed out on failure */
        return 0;
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if ((uint64_t)(uintptr_t)t[i].data != at) abort();
        if (t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS || !t[i].name) abort();
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (uint64_t)t[i].shape[d];
        if (numel * awq_dtype_size(t[i].dtype) != t[i].nbytes) abort();
        at += t[i].nbytes;
    }
    if (start + at != size) abort();
    st_free_tensors(t, n);
    return 0;
}
