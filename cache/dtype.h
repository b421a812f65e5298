/* dtype.h - element types of stored tensors (store objects and safetensors files).
 * Names are the safetensors spellings ("F16", "BF16", ...), so both formats share them. */
#ifndef AWQ_DTYPE_H
#define AWQ_DTYPE_H

#include <stddef.h>

typedef enum awq_dtype {
    AWQ_DT_INVALID = 0,
    AWQ_DT_F32, AWQ_DT_F16, AWQ_DT_BF16, AWQ_DT_F64,
    AWQ_DT_I8, AWQ_DT_I16, AWQ_DT_I32, AWQ_DT_I64,
    AWQ_DT_U8, AWQ_DT_U16, AWQ_DT_U32, AWQ_DT_U64,
    AWQ_DT_BOOL,
    AWQ_DT__COUNT
} awq_dtype;

/* Bytes per element (0 for AWQ_DT_INVALID). */
size_t awq_dtype_size(awq_dtype t);
/* "F16" etc.; "?" for invalid. */
const char *awq_dtype_name(awq_dtype t);
/* Parse a safetensors dtype name; AWQ_DT_INVALID when unknown (F8_* are unknown here). */
awq_dtype awq_dtype_parse(const char *name);
/* Is it a floating type (F16/BF16/F32/F64)? Byte-plane shuffle and NaN checks use this. */
int awq_dtype_is_float(awq_dtype t);

#endif
