/* log.c - stderr messages, the reproducing command line, progress on a TTY. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int awq_log_level = AWQ_LOG_NORMAL;
static const char *g_prog = "awq";

double awq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *awq_log_prog(void) { return g_prog; }

int awq_via_make(void)
{
    const char *v = getenv("AWQ_VIA_MAKE");
    return v && strcmp(v, "1") == 0;
}

void awq_log_init(const char *prog, int argc, char **argv)
{
    g_prog = prog;
    const char *env = getenv("AWQ_VERBOSE");
    if (env && *env) awq_log_level = AWQ_LOG_NORMAL + atoi(env);
    if (awq_log_level < AWQ_LOG_VERBOSE) return;
    /* The exact command line, shell-quoted, so a failed step can be re-run by hand. */
    fprintf(stderr, "%s: run:", prog);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = *a != 0 && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@") == strlen(a);
        if (plain) { fprintf(stderr, " %s", a); continue; }
        fputs(" '", stderr);
        for (; *a; a++) {
            if (*a == '\'') fputs("'\\''", stderr);
            else fputc(*a, stderr);
        }
        fputc('\'', stderr);
    }
    fputc('\n', stderr);
}

static void vlog(int level, const char *prefix, const char *fmt, va_list ap)
{
    if (awq_log_level < level) return;
    fprintf(stderr, "%s: %s", g_prog, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void awq_info(const char *fmt, ...) { va_list ap; va_start(ap, fmt); vlog(AWQ_LOG_NORMAL, "", fmt, ap); va_end(ap); }
void awq_verbose(const char *fmt, ...) { va_list ap; va_start(ap, fmt); vlog(AWQ_LOG_VERBOSE, "", fmt, ap); va_end(ap); }
void awq_warn(const char *fmt, ...) { va_list ap; va_start(ap, fmt); vlog(AWQ_LOG_QUIET, "warning: ", fmt, ap); va_end(ap); }

void awq_progress(const char *what, long done, long total)
{
    static double last;
    static int tty = -1;
    if (tty < 0) {
        const char *env = getenv("AWQ_PROGRESS");
        tty = (env && *env == '1') || isatty(2);
    }
    if (!tty || awq_log_level < AWQ_LOG_NORMAL) return;
    double t = awq_now();
    if (done < total && t - last < 0.2) return;
    last = t;
    fprintf(stderr, "\r%s: %s %ld/%ld", g_prog, what, done, total);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}
