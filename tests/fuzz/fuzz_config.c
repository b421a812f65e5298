/* fuzz_config.c - libFuzzer target: awq_config_parse on arbitrary bytes. It must never crash
 * or leak, and an accepted config must satisfy the invariants the stages rely on. */
#include "../../stages/common/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    awq_config c;
    if (awq_config_parse(&c, (const char *)data, size, "fuzz/config.json") != AWQ_OK) return 0;
    if (c.hidden_size <= 0 || c.intermediate_size <= 0 || c.num_hidden_layers <= 0 || c.vocab_size <= 0) abort();
    if (c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads) abort();
    if (c.head_dim <= 0 || c.head_dim % 2) abort();
    if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0)) abort();
    /* Gemma 2/3 and Phi-3 compute any window; the others refuse an active one under 2048 */
    const int any_window = c.arch == AWQ_ARCH_GEMMA2 || c.arch == AWQ_ARCH_GEMMA3 || c.arch == AWQ_ARCH_PHI3;
    if (c.sliding_window < 0 || (!any_window && c.sliding_window != 0 && c.sliding_window < 2048)) abort();
    if (c.rope_type == AWQ_ROPE_LLAMA3 && !(c.rope_high_freq_factor > c.rope_low_freq_factor && c.rope_factor >= 1)) abort();
    if (memchr(c.architecture, 0, sizeof c.architecture) == NULL || strcmp(awq_arch_name(c.arch), c.model_type)) abort();
    return 0;
}
