/* slots.c - GPU memory units between concurrent steps, as flock(2)ed files, one pool per device;
 * see slots.h. */
#include "slots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../kernels/device.h"
#include "log.h"

static int jobs(void)
{
    const char *j = getenv("AWQ_QUANTIZE_JOBS");
    long n = j && *j ? strtol(j, NULL, 10) : 0;
    return n < 0 ? 0 : n > AWQ_POOL_UNITS_MAX / 3 ? AWQ_POOL_UNITS_MAX / 3 : (int)n;
}

/* one more listing of `ordinal`: a pool of its own, or another listing of one already there */
static void add_device(awq_devices *d, int ordinal)
{
    for (int i = 0; i < d->n; i++)
        if (d->ordinal[i] == ordinal) { d->listed[i]++; return; }
    d->ordinal[d->n] = ordinal;
    d->listed[d->n++] = 1;
}

static awq_err parse_devices(const char *v, awq_devices *d)
{
    memset(d, 0, sizeof *d);
    d->jobs = jobs();
    if (v && strcmp(v, "slurm") == 0) { /* Slurm gave the step one GPU (or none): it is the first visible */
        d->unbounded = 1;
        add_device(d, -1);
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
        for (int i = 0; i < n; i++) add_device(d, i);
        return AWQ_OK;
    }
    const int have = awq_cuda_device_count(NULL, 0);
    if (!v || !*v || strcmp(v, "all") == 0) {
        for (int i = 0; i < have && i < AWQ_DEVICES_MAX; i++) add_device(d, i);
        if (d->n == 0) add_device(d, -1); /* no GPU: one pool, the CPU backend's steps */
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
        add_device(d, (int)o);
        p = *end ? end + 1 : end;
    }
    return AWQ_OK;
}

#define GIB (1024.0 * 1024.0 * 1024.0)

/* The host's available memory (MemAvailable), 0 when unknown. */
static double host_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

/* Free memory of pool i now, less what is kept back (a GPU: its margin for the driver and other
 * programs; the host: a tenth for the rest of the system); its name into d->card[i]. */
static double usable(awq_devices *d, int i)
{
    if (d->simulated) {
        const char *g = getenv("AWQ_SIM_DEVICE_GIB");
        double b = g && *g ? strtod(g, NULL) * GIB : host_available() * 0.9 / d->n;
        snprintf(d->card[i], sizeof d->card[i], "simulated %.2f GiB device (the CPU computes)", b / GIB);
        return d->free_b[i] = b;
    }
    size_t fr = 0, tot = 0;
    if (d->ordinal[i] >= 0 && awq_cuda_meminfo(d->ordinal[i], &fr, &tot, d->card[i], sizeof d->card[i]) == 0) {
        d->free_b[i] = (double)fr;
        double margin = 0.03 * (double)fr > 0.5 * GIB ? 0.03 * (double)fr : 0.5 * GIB;
        return (double)fr > margin ? (double)fr - margin : 0;
    }
    snprintf(d->card[i], sizeof d->card[i], d->ordinal[i] >= 0 ? "GPU %d (no answer: sized as host memory)" : "host memory (no GPU)",
             d->ordinal[i]);
    d->free_b[i] = host_available();
    return d->free_b[i] * 0.9;
}

void awq_pool_size(awq_devices *d, double search_b)
{
    double use[AWQ_DEVICES_MAX], most = 0;
    for (int i = 0; i < d->n; i++) {
        use[i] = usable(d, i);
        most = use[i] > most ? use[i] : most;
    }
    if (d->jobs) { /* J scale searches per listing: 3 units each (a clip-only step: its share of them) */
        d->unit_b = search_b > 0 ? search_b / 3 : 1;
        for (int i = 0; i < d->n; i++) {
            int u = 3 * d->jobs * d->listed[i];
            d->units[i] = u > AWQ_POOL_UNITS_MAX ? AWQ_POOL_UNITS_MAX : u;
        }
        return;
    }
    /* one unit size for every pool: a step's units mean the same bytes wherever it goes */
    const double mib = 1024.0 * 1024.0;
    d->unit_b = ceil(most / AWQ_POOL_UNITS_MAX / mib) * mib;
    if (d->unit_b < mib) d->unit_b = mib;
    for (int i = 0; i < d->n; i++) {
        int u = (int)(use[i] / d->unit_b);
        d->units[i] = u < 1 ? 1 : u > AWQ_POOL_UNITS_MAX ? AWQ_POOL_UNITS_MAX : u;
    }
}

int awq_pool_units_for(const awq_devices *d, int dev, double bytes)
{
    double u = ceil(bytes / (d->unit_b > 0 ? d->unit_b : 1));
    if (u < 1) u = 1;
    return u > d->units[dev] ? d->units[dev] : (int)u;
}

int awq_pool_fit(const awq_devices *d, double bytes)
{
    int n = 0;
    for (int i = 0; i < d->n; i++) n += d->units[i] / awq_pool_units_for(d, i, bytes);
    return n < 1 ? 1 : n;
}

static awq_err slot_dir(char *dir, size_t cap, int *bounded);

/* The pools the plan wrote for this run, when they are for the devices d lists. */
static int pool_read(awq_devices *d)
{
    char dir[PATH_MAX], path[PATH_MAX + 8];
    int bounded;
    if (slot_dir(dir, sizeof dir, &bounded) != AWQ_OK) { awq_clear_error(); return 0; }
    if (!bounded) return 0;
    snprintf(path, sizeof path, "%s/pool", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    awq_devices r = *d;
    int n = 0, ok = fscanf(f, "awq-pool 1 %lf %d", &r.unit_b, &r.jobs) == 2 && r.unit_b > 0;
    for (; ok && n < d->n; n++) {
        int o, u;
        double fb;
        ok = fscanf(f, " %d %d %lf", &o, &u, &fb) == 3 && o == d->ordinal[n] && u >= 1 && u <= AWQ_POOL_UNITS_MAX;
        if (ok) r.units[n] = u, r.free_b[n] = fb;
    }
    fclose(f);
    if (ok && r.jobs == d->jobs) *d = r;
    return ok && r.jobs == d->jobs;
}

awq_err awq_pool_write(const awq_devices *d, const char *work)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], tmp[PATH_MAX + 32];
    const char *old = getenv("AWQ_WORK");
    char *keep = old ? strdup(old) : NULL;
    setenv("AWQ_WORK", work, 1);
    int bounded;
    awq_err e = slot_dir(dir, sizeof dir, &bounded);
    if (keep) setenv("AWQ_WORK", keep, 1); else unsetenv("AWQ_WORK");
    free(keep);
    if (e) return e;
    snprintf(path, sizeof path, "%s/pool", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return awq_fail_errno(errno, "cannot create '%s'", tmp);
    fprintf(f, "awq-pool 1 %.0f %d\n", d->unit_b, d->jobs);
    for (int i = 0; i < d->n; i++) fprintf(f, "%d %d %.0f\n", d->ordinal[i], d->units[i], d->free_b[i]);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        e = awq_fail_errno(errno, "cannot write '%s'", path);
        unlink(tmp);
    }
    return e;
}

awq_err awq_devices_get(awq_devices *d)
{
    /* parsed and sized once per process: the environment does not change, and "all" asks the driver */
    static awq_devices cached;
    static int have;
    if (!have) {
        awq_err e = parse_devices(getenv("AWQ_DEVICES"), &cached);
        if (e) return e;
        /* a step run without the plan's pools sizes them itself, for a 7B-like search (~14 GB) */
        if (!cached.unbounded && !pool_read(&cached)) awq_pool_size(&cached, 14.0 * GIB);
        have = 1;
    }
    *d = cached;
    return AWQ_OK;
}

int awq_slots_pool(void)
{
    awq_devices d;
    if (awq_devices_get(&d) != AWQ_OK) { awq_clear_error(); return 12; } /* the steps report it */
    int n = 0;
    for (int i = 0; i < d.n; i++) n += d.units[i];
    return n < 1 ? 1 : n; /* AWQ_DEVICES=slurm: no pools (Slurm shares the GPUs) */
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
    s->pool = d->units[dev];
    s->unit_b = d->unit_b;
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

awq_err awq_slots_take(awq_slots *s, double bytes)
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
    s->bounded = 1;
    s->unit_b = d.unit_b;
    int most = 0, units = 1;
    for (int i = 0; i < d.n; i++) {
        int u = awq_pool_units_for(&d, i, bytes);
        most = d.units[i] > most ? d.units[i] : most;
        units = u > units ? u : units; /* the need in units (the largest pool's cap, at most) */
    }
    if (s->placed) units = awq_pool_units_for(&d, s->dev, bytes);
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
            if (dev >= 0 && units > d.units[dev]) units = d.units[dev]; /* a smaller GPU: all of it */
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

awq_err awq_slots_take_all(awq_slots *s)
{
    return awq_slots_take(s, s->placed && s->unit_b > 0 ? (s->pool + 1) * s->unit_b : 1e30);
}

double awq_slots_bytes(const awq_slots *s) { return s->bounded ? s->n * s->unit_b : 0; }

int awq_slots_alone(const awq_slots *s) { return !s->bounded || !s->placed || s->n >= s->pool; }

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
