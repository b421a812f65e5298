/* error.h - the one numbered error enum of awqmake, and the per-thread error message.
 *
 * It lives in cache/ because cache/ is the lowest layer every program links; kernels/ has its
 * own small status codes (it must not depend on cache/).
 *
 * Library code never prints and never exits: it returns an awq_err and, for anything a person
 * has to act on, records a one-line message (and optionally a hint) with awq_fail(). main()
 * prints it with awq_report():
 *     awq-obj: error: cannot open 'x.safetensors': No such file or directory
 *     hint: ...
 * The enum is append-only: numbers are stable across versions (they appear in logs).
 */
#ifndef AWQ_ERROR_H
#define AWQ_ERROR_H

#include <stdarg.h>

typedef enum awq_err {
    AWQ_OK            = 0,
    AWQ_ERR_IO        = 1,  /* open/read/write/rename failed; errno text in the message */
    AWQ_ERR_NOMEM     = 2,  /* host allocation failed */
    AWQ_ERR_FORMAT    = 3,  /* malformed file: bad magic, bad header, sizes that do not add up */
    AWQ_ERR_CHECKSUM  = 4,  /* stored checksum does not match the bytes */
    AWQ_ERR_NOTFOUND  = 5,  /* object, tensor or file absent */
    AWQ_ERR_UNSUPPORTED = 6,/* valid input this program does not handle (dtype, architecture, ...) */
    AWQ_ERR_ARG       = 7,  /* bad parameter value (usage error) */
    AWQ_ERR_NOSPACE   = 8,  /* disk full / quota (ENOSPC, EDQUOT) */
    AWQ_ERR_EXISTS    = 9,  /* target exists and must not be overwritten */
    AWQ_ERR_NUMERIC   = 10, /* NaN/Inf or overflow of the storage dtype */
    AWQ_ERR_DEVICE    = 11, /* CUDA/cuBLAS failure, no device, out of device memory */
    AWQ_ERR_COMPRESS  = 12, /* zstd (de)compression failed */
    AWQ_ERR__COUNT
} awq_err;

/* Stable short name of a code, e.g. "io error". Never NULL. */
const char *awq_strerror(awq_err e);

/* Record the message for the current thread and return `e` (so: `return awq_fail(...)`).
 * The message is one line, lower case, naming the file/tensor in quotes. Clears the hint. */
awq_err awq_fail(awq_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the errno text of `errno_value` after a message: "cannot open 'x': No such file". */
awq_err awq_fail_errno(int errno_value, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add a hint line to the current message (call after awq_fail). */
void awq_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current message with context: "block 3: " + old message. Returns `e`. */
awq_err awq_context(awq_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current thread's last message / hint ("" when none). Valid until the next awq_fail. */
const char *awq_errmsg(void);
const char *awq_errhint(void);
awq_err awq_errcode(void);
void awq_clear_error(void);

/* Print "<prog>: error: <message>" and, when set, "hint: <hint>" to stderr. */
void awq_report(const char *prog);

#endif
