/* slots.c - GPU memory units between concurrent steps, as flock(2)ed files, one pool per device;
 * see slots.h. */
#include "slots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../kernels/device.h"
#include "log.h"

static int jobs_units(void)
{
    const char *j = getenv("AWQ_QUANTIZE_JOBS");
    long n = j && *j ? strtol(j, NULL, 10) : 4;
    if (n < 1) n = 1;
    if (n * AWQ_SLOT_UNITS_SEARCH > AWQ_SLOTS_MAX) n = AWQ_SLOTS_MAX / AWQ_SLOT_UNITS_SEARCH;
    return (int)n * AWQ_SLOT_UNITS_SEARCH;
}

/* one more listing of `ordinal`: a pool of its own, or a bigger one when listed already */
static void add_device(awq_devices *d, int ordinal, int per)
{
    for (int i = 0; i < d->n; i++)
        if (d->ordinal[i] == ordinal) { d->units[i] += per; return; }
    d->ordinal[d->n] = ordinal;
    d->units[d->n++] = per;
}

static awq_err parse_devices(const char *v, awq_devices *d)
{
    memset(d, 0, sizeof *d);
    const int per = jobs_units();
    if (v && strcmp(v, "slurm") == 0) { /* Slurm gave the step one GPU (or none): it is the first visible */
        d->unbounded = 1;
        add_device(d, -1, per);
        return AWQ_OK;
    }
    if (v && strncmp(v, "cpu:", 4) == 0) {
        char *end;
        long n = strtol(v + 4, &end, 10);
        if (*end || n < 1 || n > AWQ_DEVICES_MAX) {
            awq_fail(AWQ_ERR_ARG, "DEVICES=%s: cpu:N simulates N devices on the CPU, N from 1 to %d", v, AWQ_DEVICES_MAX);
            awq_hint("e.g. DEVICES=cpu:4");
            return AWQ_ERR_ARG;
        }
        d->simulated = 1;
        for (int i = 0; i < n; i++) add_device(d, i, per);
        return AWQ_OK;
    }
    const int have = awq_cuda_device_count(NULL, 0);
    if (!v || !*v || strcmp(v, "all") == 0) {
        for (int i = 0; i < have && i < AWQ_DEVICES_MAX; i++) add_device(d, i, per);
        if (d->n == 0) add_device(d, -1, per); /* no GPU: one pool, the CPU backend's steps */
        return AWQ_OK;
    }
    for (const char *p = v; *p; ) { /* the form first: a typo is named as one, GPU or not */
        char *end;
        long o = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || (*end == ',' && !end[1]) || o < 0 || o >= AWQ_DEVICES_MAX) {
            awq_fail(AWQ_ERR_ARG, "DEVICES=%s: not a list of GPU numbers", v);
            awq_hint("DEVICES=all (every GPU), a list such as DEVICES=0,1,3, or DEVICES=cpu:N (N devices simulated on the CPU)");
            return AWQ_ERR_ARG;
        }
        p = *end ? end + 1 : end;
    }
    for (const char *p = v; *p; ) {
        char *end;
        long o = strtol(p, &end, 10);
        if (o >= have) {
            if (have) awq_fail(AWQ_ERR_ARG, "DEVICES=%s: GPU %ld is not there (this machine shows %d: 0 to %d)", v, o, have, have - 1);
            else awq_fail(AWQ_ERR_ARG, "DEVICES=%s: this machine (or build) has no CUDA GPU", v);
            awq_hint("check nvidia-smi and CUDA_VISIBLE_DEVICES; DEVICES=all takes every GPU there is%s",
                     have ? "" : "; DEVICES=cpu:N simulates N devices on the CPU");
            return AWQ_ERR_ARG;
        }
        if (d->n == AWQ_DEVICES_MAX) break;
        add_device(d, (int)o, per);
        p = *end ? end + 1 : end;
    }
    return AWQ_OK;
}

awq_err awq_devices_get(awq_devices *d)
{
    /* parsed once per process: the environment does not change, and "all" asks the driver */
    static awq_devices cached;
    static int have;
    if (!have) {
        awq_err e = parse_devices(getenv("AWQ_DEVICES"), &cached);
        if (e) return e;
        have = 1;
    }
    *d = cached;
    return AWQ_OK;
}

int awq_slots_pool(void)
{
    awq_devices d;
    if (awq_devices_get(&d) != AWQ_OK) { awq_clear_error(); return jobs_units(); } /* the steps report it */
    int n = 0;
    for (int i = 0; i < d.n; i++) n += d.units[i];
    return n > AWQ_SLOTS_MAX ? AWQ_SLOTS_MAX : n;
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

/* The name of pool `i` in logs and in the unit files' names. */
static void dev_name(const awq_devices *d, int i, char *out, size_t cap)
{
    if (d->ordinal[i] < 0) snprintf(out, cap, "cpu");
    else snprintf(out, cap, "%s%d", d->simulated ? "sim" : "gpu", d->ordinal[i]);
}

static void unit_path(char *out, size_t cap, const char *dir, const awq_devices *d, int dev, int i)
{
    char name[32];
    dev_name(d, dev, name, sizeof name);
    snprintf(out, cap, "%s/%s.%d", dir, name, i);
}

/* Lock free units of pool `dev` until s->n == want; 1 when one or more were taken, 0 when none
 * was free, -1 on error. (A unit this process holds already fails the non-blocking flock like
 * anyone else's: locks belong to the open file.) */
static int grab(awq_slots *s, const char *dir, const awq_devices *d, int dev, int want)
{
    int got = 0;
    for (int i = 0; i < d->units[dev] && s->n < want; i++) {
        char path[PATH_MAX];
        unit_path(path, sizeof path, dir, d, dev, i);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) { awq_fail_errno(errno, "cannot open '%s'", path); return -1; }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) { s->fd[s->n++] = fd; got = 1; }
        else close(fd);
    }
    return got;
}

/* How many units of pool `dev` are free now (at most `upto`), each locked and at once released. */
static int count_free(const char *dir, const awq_devices *d, int dev, int upto)
{
    awq_slots probe = {.n = 0};
    if (grab(&probe, dir, d, dev, upto) < 0) { awq_clear_error(); return 0; }
    const int n = probe.n;
    while (probe.n) close(probe.fd[--probe.n]);
    return n;
}

/* The pool with the most free units (up to `upto`), the first on ties; -1 when none has any. */
static int emptiest(const char *dir, const awq_devices *d, int upto)
{
    int best = -1, best_free = 0;
    for (int i = 0; i < d->n; i++) {
        int f = count_free(dir, d, i, upto);
        if (f > best_free) best = i, best_free = f;
    }
    return best;
}

/* The step runs on pool `dev` from now on; said once in its log (tests/t_devices.sh reads it). */
static void place(awq_slots *s, const awq_devices *d, int dev)
{
    s->placed = 1;
    s->dev = dev;
    s->ordinal = d->ordinal[dev];
    s->simulated = d->simulated;
    dev_name(d, dev, s->name, sizeof s->name);
    if (d->unbounded) awq_verbose("device: the one Slurm gave this step");
    else awq_info("device %s%s", s->name, d->simulated ? " (simulated: the CPU computes)" : "");
}

/* $AWQ_WORK/slots/HOST, made when missing; 0 when nothing is bounded */
static awq_err slot_dir(char *dir, size_t cap, int *bounded)
{
    const char *work = getenv("AWQ_WORK");
    *bounded = work && *work;
    if (!*bounded) return AWQ_OK;
    char host[256];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    snprintf(dir, cap, "%s/slots", work);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return awq_fail_errno(errno, "cannot create '%s'", dir);
    snprintf(dir, cap, "%s/slots/%s", work, host);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return awq_fail_errno(errno, "cannot create '%s'", dir);
    return AWQ_OK;
}

awq_err awq_slots_pick(awq_slots *s)
{
    char dir[PATH_MAX];
    int bounded;
    awq_devices d;
    awq_err e = slot_dir(dir, sizeof dir, &bounded);
    if (e || !bounded || s->placed) return e;
    if ((e = awq_devices_get(&d))) return e;
    int dev = d.unbounded ? 0 : emptiest(dir, &d, AWQ_SLOTS_MAX);
    place(s, &d, dev < 0 ? 0 : dev);
    return AWQ_OK;
}

awq_err awq_slots_take(awq_slots *s, int units)
{
    char dir[PATH_MAX], mpath[PATH_MAX + 16];
    int bounded;
    awq_devices d;
    awq_err e = slot_dir(dir, sizeof dir, &bounded);
    if (e || !bounded) return e;
    if ((e = awq_devices_get(&d))) return e;
    if (d.unbounded) {
        if (!s->placed) place(s, &d, 0);
        return AWQ_OK;
    }
    int most = 0;
    for (int i = 0; i < d.n; i++) most = d.units[i] > most ? d.units[i] : most;
    if (s->placed && units > d.units[s->dev]) units = d.units[s->dev];
    if (units > most) units = most;
    if (s->n >= units) return AWQ_OK;
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
    /* a step that held nothing before may still move to another device while it collects (it
     * has opened no backend yet); one that held units stays where its backend is */
    const int movable = !s->placed;
    double t0 = awq_now();
    int waited = 0;
    while (s->n < units) {
        if (!s->placed) {
            int dev = emptiest(dir, &d, units);
            if (dev >= 0) place(s, &d, dev);
        } else if (movable && s->n > 0) {
            /* collecting on one device while another has all we need free: go there */
            for (int i = 0; i < d.n; i++)
                if (i != s->dev && d.units[i] >= units && count_free(dir, &d, i, units) >= units) {
                    while (s->n) close(s->fd[--s->n]);
                    place(s, &d, i);
                    break;
                }
        }
        int r = s->placed ? grab(s, dir, &d, s->dev, units) : 0;
        if (r < 0) { e = AWQ_ERR_IO; break; }
        if (s->n < units) {
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
    /* when each holding began and ended, and on which device, in the step's log at -v
     * (AWQ_VERBOSE=1): tests read it to check the bound; a person never needs it (awq-step shows
     * a failed step's log) */
    awq_verbose("gpu units: %d held %.3f-%.3f on %s", s->n, s->since, wall_now(), s->placed ? s->name : "?");
    while (s->n > keep) close(s->fd[--s->n]);
    s->since = wall_now();
}
