/* prof.c - phase timings for AWQ_PROFILE=1 (see prof.h). */
#include "prof.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int awq_prof_on(void)
{
    static int on = -1;
    if (on < 0) {
        const char *v = getenv("AWQ_PROFILE");
        on = v && *v && !(v[0] == '0' && v[1] == 0);
    }
    return on;
}

void awq_prof_mark(const char *fmt, ...)
{
    static _Thread_local double last = -1; /* per thread: marks also come from parallel object reads */
    if (!awq_prof_on()) return;
    double t = now();
    if (last < 0) last = t;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "prof: %-32s +%.3f\n", what, t - last);
    last = now();
}
