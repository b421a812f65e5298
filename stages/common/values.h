/* values.h - what awq-plan's hashing pass learns about a model's values on the way: the largest
 * magnitude of each tensor, and, when that is too large, where the first such value is.
 *
 * A magnitude is the bit pattern of |x| as fp32 (bf16 and fp16 widened exactly): an unsigned
 * integer that orders like |x|, with Inf above every finite value and NaN above Inf. So one
 * integer max over the raw bytes, in the dtype they are stored in, answers "any NaN or Inf?" and
 * "anything fp16 cannot hold?" at once, with no conversion; it vectorizes and runs over bytes the
 * hash has just brought into the cache. */
#ifndef AWQ_VALUES_H
#define AWQ_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "../../cache/dtype.h"

#define AWQ_MAG_NONFINITE 0x7f800000u /* magnitude >= this: Inf or NaN */
#define AWQ_MAG_F16_OVER 0x477ff000u  /* >= this (65520): rounds to Inf in fp16 (finite fp16 ends at 65504) */

/* The largest magnitude of n elements of dtype dt (F16, BF16 or F32; 0 for others or n = 0). */
uint32_t awq_mag_max(const void *data, awq_dtype dt, size_t n);
/* The magnitude of element i. */
uint32_t awq_mag_at(const void *data, awq_dtype dt, size_t i);
/* The first element whose magnitude is >= bound (n when none), and how many there are. Scalar:
 * it runs only once a tensor is known to hold such a value. */
size_t awq_mag_find(const void *data, awq_dtype dt, size_t n, uint32_t bound, size_t *count);
/* Element i as a double (NaN and Inf as such), for messages. */
double awq_value_at(const void *data, awq_dtype dt, size_t i);

#endif
