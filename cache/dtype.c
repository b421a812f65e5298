/* dtype.c - names and sizes of awq_dtype. */
#include "dtype.h"

#include <string.h>

static const struct { const char *name; size_t size; int is_float; } g_dt[AWQ_DT__COUNT] = {
    [AWQ_DT_INVALID] = {"?", 0, 0},
    [AWQ_DT_F32] = {"F32", 4, 1}, [AWQ_DT_F16] = {"F16", 2, 1},
    [AWQ_DT_BF16] = {"BF16", 2, 1}, [AWQ_DT_F64] = {"F64", 8, 1},
    [AWQ_DT_I8] = {"I8", 1, 0}, [AWQ_DT_I16] = {"I16", 2, 0},
    [AWQ_DT_I32] = {"I32", 4, 0}, [AWQ_DT_I64] = {"I64", 8, 0},
    [AWQ_DT_U8] = {"U8", 1, 0}, [AWQ_DT_U16] = {"U16", 2, 0},
    [AWQ_DT_U32] = {"U32", 4, 0}, [AWQ_DT_U64] = {"U64", 8, 0},
    [AWQ_DT_BOOL] = {"BOOL", 1, 0},
};

size_t awq_dtype_size(awq_dtype t) { return (unsigned)t < AWQ_DT__COUNT ? g_dt[t].size : 0; }
const char *awq_dtype_name(awq_dtype t) { return (unsigned)t < AWQ_DT__COUNT ? g_dt[t].name : "?"; }
int awq_dtype_is_float(awq_dtype t) { return (unsigned)t < AWQ_DT__COUNT && g_dt[t].is_float; }

awq_dtype awq_dtype_parse(const char *name)
{
    if (!name) return AWQ_DT_INVALID;
    for (int t = 1; t < AWQ_DT__COUNT; t++)
        if (strcmp(name, g_dt[t].name) == 0) return (awq_dtype)t;
    return AWQ_DT_INVALID;
}
