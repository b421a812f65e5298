/* error.c - per-thread error message behind awq_fail()/awq_report(). */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { MSG_MAX = 1024 };
static _Thread_local char g_msg[MSG_MAX];
static _Thread_local char g_hint[MSG_MAX];
static _Thread_local awq_err g_code;

static const char *const g_names[AWQ_ERR__COUNT] = {
    [AWQ_OK] = "ok",
    [AWQ_ERR_IO] = "i/o error",
    [AWQ_ERR_NOMEM] = "out of memory",
    [AWQ_ERR_FORMAT] = "malformed input",
    [AWQ_ERR_CHECKSUM] = "checksum mismatch",
    [AWQ_ERR_NOTFOUND] = "not found",
    [AWQ_ERR_UNSUPPORTED] = "unsupported",
    [AWQ_ERR_ARG] = "bad argument",
    [AWQ_ERR_NOSPACE] = "no space left on device",
    [AWQ_ERR_EXISTS] = "already exists",
    [AWQ_ERR_NUMERIC] = "non-finite or overflowing value",
    [AWQ_ERR_DEVICE] = "device error",
    [AWQ_ERR_COMPRESS] = "compression error",
};

const char *awq_strerror(awq_err e)
{
    if ((unsigned)e >= AWQ_ERR__COUNT || !g_names[e]) return "unknown error";
    return g_names[e];
}

awq_err awq_fail(awq_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    g_hint[0] = 0;
    g_code = e;
    return e;
}

awq_err awq_fail_errno(int errno_value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof g_msg)
        snprintf(g_msg + n, sizeof g_msg - (size_t)n, ": %s", strerror(errno_value));
    g_hint[0] = 0;
    g_code = (errno_value == ENOSPC || errno_value == EDQUOT || errno_value == EFBIG) ? AWQ_ERR_NOSPACE
           : (errno_value == ENOMEM) ? AWQ_ERR_NOMEM
           : (errno_value == ENOENT) ? AWQ_ERR_NOTFOUND
           : AWQ_ERR_IO;
    if (g_code == AWQ_ERR_NOSPACE)
        snprintf(g_hint, sizeof g_hint, "free some space (or point AWQ_CACHE elsewhere) and re-run; finished work is kept");
    return g_code;
}

void awq_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_hint, sizeof g_hint, fmt, ap);
    va_end(ap);
}

awq_err awq_context(awq_err e, const char *fmt, ...)
{
    char prefix[MSG_MAX], old[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    snprintf(g_msg, sizeof g_msg, "%s: %s", prefix, old);
    return e;
}

const char *awq_errmsg(void) { return g_msg; }
const char *awq_errhint(void) { return g_hint; }
awq_err awq_errcode(void) { return g_code; }
void awq_clear_error(void) { g_msg[0] = 0; g_hint[0] = 0; g_code = AWQ_OK; }

void awq_report(const char *prog)
{
    fprintf(stderr, "%s: error: %s\n", prog, g_msg[0] ? g_msg : awq_strerror(g_code));
    if (g_hint[0]) fprintf(stderr, "hint: %s\n", g_hint);
}
