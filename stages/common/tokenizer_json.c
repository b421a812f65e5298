/* tokenizer_json.c - what the tokenizer's readers (tokenizer_load.c, tokenizer_special.c) share:
 * errors "'<file>': <what>" and JSON members with defaults. Kept apart so that the two readers
 * depend on this file and load on special, never on each other both ways. */
#include "log.h"
#include "tokenizer_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static awq_err failv(awq_err code, const awq_tokenizer *t, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return awq_fail(code, "'%s': %s", t->name, msg);
}

awq_err tk_bad(const awq_tokenizer *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    awq_err e = failv(AWQ_ERR_FORMAT, t, fmt, ap);
    va_end(ap);
    return e;
}

awq_err tk_unsupported(const awq_tokenizer *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    awq_err e = failv(AWQ_ERR_UNSUPPORTED, t, fmt, ap);
    va_end(ap);
    awq_hint("awqmake reads BPE tokenizers (Llama, Mistral, Qwen, GPT-2 families); tokenize with Python and pass %s",
             awq_via_make() ? "the ids as CALIB=FILE.i32" : "--ids");
    return e;
}

int tk_jbool(const json_t *o, const char *key, int dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* A string member as (pointer, length); NULL when absent or not a string. */
const char *tk_jstr(const json_t *o, const char *key, size_t *len)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return NULL;
    if (len) *len = json_string_length(v);
    return json_string_value(v);
}

char *tk_dup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}
