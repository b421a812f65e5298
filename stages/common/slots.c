/* slots.c - GPU memory units between concurrent steps, as flock(2)ed files; see slots.h. */
#include "slots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int awq_slots_pool(void)
{
    const char *j = getenv("AWQ_QUANTIZE_JOBS");
    long n = j && *j ? strtol(j, NULL, 10) : 4;
    if (n < 1) n = 1;
    if (n * AWQ_SLOT_UNITS_SEARCH > AWQ_SLOTS_MAX) n = AWQ_SLOTS_MAX / AWQ_SLOT_UNITS_SEARCH;
    return (int)n * AWQ_SLOT_UNITS_SEARCH;
}

/* seconds since the epoch: comparable between processes (awq_now() is per process) */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void nap(void)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Lock one free unit file; 1 on success, 0 when all are taken, -1 on error. (A unit this
 * process holds already fails the non-blocking flock like anyone else's: locks belong to the
 * open file.) */
static int grab_one(awq_slots *s, const char *dir, int pool)
{
    for (int i = 0; i < pool; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/unit.%d", dir, i);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) { awq_fail_errno(errno, "cannot open '%s'", path); return -1; }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) { s->fd[s->n++] = fd; return 1; }
        close(fd);
    }
    return 0;
}

awq_err awq_slots_take(awq_slots *s, int units)
{
    const char *work = getenv("AWQ_WORK");
    if (!work || !*work) return AWQ_OK;
    const int pool = awq_slots_pool();
    if (units > pool) units = pool;
    if (s->n >= units) return AWQ_OK;
    char dir[PATH_MAX], mpath[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/slots", work);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return awq_fail_errno(errno, "cannot create '%s'", dir);
    int mutex = -1;
    /* Whoever waits while holding units, or to hold more than one, collects under a mutex: one
     * collector at a time, and everyone else holds one unit and waits for nothing, so the
     * collector always gets its units in the end (no deadlock). */
    if (units > 1 || s->n > 0) {
        snprintf(mpath, sizeof mpath, "%s/collect", dir);
        mutex = open(mpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (mutex < 0) return awq_fail_errno(errno, "cannot open '%s'", mpath);
        while (flock(mutex, LOCK_EX) != 0 && errno == EINTR) {}
    }
    awq_err e = AWQ_OK;
    double t0 = awq_now();
    int waited = 0;
    while (s->n < units) {
        int r = grab_one(s, dir, pool);
        if (r < 0) { e = AWQ_ERR_IO; break; }
        if (r == 0) {
            if (!waited && awq_now() - t0 > 1) { awq_verbose("waiting for GPU memory units (%d of %d held)", s->n, units); waited = 1; }
            nap();
        }
    }
    if (mutex >= 0) close(mutex);
    s->since = wall_now();
    return e;
}

int awq_slots_threads(const awq_slots *s)
{
    const char *work = getenv("AWQ_WORK");
    if (!work || !*work || s->n <= 0) return 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long t = cores * s->n / awq_slots_pool();
    return t < 2 ? 2 : (int)t;
}

void awq_slots_keep(awq_slots *s, int keep)
{
    if (s->n <= keep) return;
    /* when each holding began and ended, in the step's log at -v (AWQ_VERBOSE=1): tests read it
     * to check the bound; a person never needs it (awq-step shows a failed step's log) */
    awq_verbose("gpu units: %d held %.3f-%.3f", s->n, s->since, wall_now());
    while (s->n > keep) close(s->fd[--s->n]);
    s->since = wall_now();
}
