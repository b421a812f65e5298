/* cli.h - strict parsing of option values for the tools/ programs (whole string, range
 * checked, errors recorded with awq_fail naming the option). The option table itself is
 * stages/common/opts.h; options whose default depends on others (a preset, the architecture)
 * are declared there as strings, NULL meaning "not given", and parsed here.
 * Header-only because every tools/<name>.c is built into a program of its own. */
#ifndef AWQ_TOOLS_CLI_H
#define AWQ_TOOLS_CLI_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/error.h"

/* Parse a whole decimal integer in [lo, hi] given to --opt. AWQ_ERR_ARG (recorded) otherwise. */
static inline awq_err cli_int64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return awq_fail(AWQ_ERR_ARG, "--%s '%s' is not an integer in [%" PRId64 ", %" PRId64 "]", opt, s, lo, hi);
    *out = v;
    return AWQ_OK;
}

static inline awq_err cli_int(const char *opt, const char *s, int lo, int hi, int *out)
{
    int64_t v = 0;
    awq_err e = cli_int64(opt, s, lo, hi, &v);
    if (e == AWQ_OK) *out = (int)v;
    return e;
}

static inline awq_err cli_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return awq_fail(AWQ_ERR_ARG, "--%s '%s' is not a number in [%g, %g]", opt, s, lo, hi);
    *out = v;
    return AWQ_OK;
}

/* A byte count with an optional unit, as HF's max_shard_size: "5GB" = 5e9, "100MiB" = 100*2^20,
 * "4096" = 4096 bytes. K/M/G/T(B) are powers of 1000, KiB/MiB/GiB/TiB powers of 1024. */
static inline awq_err cli_bytes(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') goto bad;
    static const char *units[] = {"", "B", "K", "KB", "KiB", "M", "MB", "MiB", "G", "GB", "GiB", "T", "TB", "TiB"};
    static const uint64_t mult[] = {1, 1, 1000, 1000, 1024, 1000000, 1000000, 1u << 20,
                                    1000000000, 1000000000, 1u << 30, 1000000000000ull, 1000000000000ull, 1ull << 40};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i]) == 0) {
            if (v > UINT64_MAX / mult[i]) goto bad;
            *out = v * mult[i];
            return AWQ_OK;
        }
bad:
    awq_fail(AWQ_ERR_ARG, "--%s '%s' is not a byte count", opt, s);
    awq_hint("write e.g. 5GB, 200MiB or 4096");
    return AWQ_ERR_ARG;
}

#endif
