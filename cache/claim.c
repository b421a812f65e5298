/* claim.c - claims of files being computed (claim.h): link(2)-created records, judged dead by
 * pid and start time on the same host and by lease on others, taken over by rename-aside. */
#include "claim.h"
#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct awq_claims {
    int n;
    char **paths;   /* owned: the claim files held */
    char *record;   /* owned: this process's record, as written into each */
};

double awq_claim_lease(void)
{
    const char *v = getenv("AWQ_CLAIM_LEASE");
    char *end;
    double s = v ? strtod(v, &end) : 0;
    return v && *v && !*end && s > 0 ? s : AWQ_CLAIM_LEASE_S;
}

char *awq_claim_path(const char *file, const char *dir)
{
    const char *slash = strrchr(file, '/'), *name = slash ? slash + 1 : file;
    char *p;
    int n = dir ? asprintf(&p, "%s/.tmp-claim-%s", dir, name)
                : asprintf(&p, "%.*s%s.tmp-claim-%s", slash ? (int)(slash - file) : 0, file, slash ? "/" : "", name);
    return n < 0 ? NULL : p;
}

/* The first line of a small file into buf ("" when absent). */
static void read_line(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (!fgets(buf, (int)cap, f)) buf[0] = 0;
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
}

/* Process `pid`'s start time (clock ticks since boot, field 22 of /proc/PID/stat), "-" without /proc. */
static void start_time(long pid, char *buf, size_t cap)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    read_line(path, line, sizeof line);
    const char *p = strrchr(line, ')'); /* the command name may hold spaces and parentheses */
    unsigned long long t = 0;
    if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &t) == 1)
        snprintf(buf, cap, "%llu", t);
    else
        snprintf(buf, cap, "-");
}

static void boot_id(char *buf, size_t cap)
{
    read_line("/proc/sys/kernel/random/boot_id", buf, cap);
    if (!buf[0]) snprintf(buf, cap, "-");
}

static void host_name(char *buf, size_t cap)
{
    if (gethostname(buf, cap) != 0) snprintf(buf, cap, "localhost");
    buf[cap - 1] = 0;
}

/* "host H\npid P\nstart BOOT_ID TICKS\nsince T\n": who holds a claim. */
static char *make_record(void)
{
    char host[256], boot[64], start[32], *r;
    host_name(host, sizeof host);
    boot_id(boot, sizeof boot);
    start_time((long)getpid(), start, sizeof start);
    if (asprintf(&r, "host %s\npid %ld\nstart %s %s\nsince %lld\n", host, (long)getpid(), boot, start, (long long)time(NULL)) < 0)
        return NULL;
    return r;
}

/* The claim's record (up to cap bytes) and its stat; errno-style 0 / ENOENT / other. */
static int read_claim(const char *path, char *buf, size_t cap, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = read(fd, buf, cap - 1);
    int err = n < 0 ? errno : fstat(fd, st) != 0 ? errno : 0;
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return err;
}

/* A name beside `path` no other process, on any host, uses: PATH.TAG-HOST-PID-RANDOM. */
static char *unique_sibling(const char *path, const char *tag)
{
    char host[256], *p;
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (unsigned)ts.tv_nsec * 2654435761u ^ (unsigned)getpid();
    }
    host_name(host, sizeof host);
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    return asprintf(&p, "%s.%s-%s-%ld-%08x", path, tag, host, (long)getpid(), r) < 0 ? NULL : p;
}

/* The value after "key " on its line of a record, into buf ("" when absent). */
static void field(const char *record, const char *key, char *buf, size_t cap)
{
    buf[0] = 0;
    size_t kl = strlen(key);
    for (const char *l = record; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
            snprintf(buf, cap, "%.*s", (int)strcspn(l + kl + 1, "\n"), l + kl + 1);
            return;
        }
}

/* Is the holder of a claim (its record and stat) gone? `mine`: a file of ours to touch for the
 * file server's idea of now. */
static int is_dead(const char *record, const struct stat *st, const char *mine, double lease)
{
    char host[256], their_host[256], start[128], pid_s[32];
    host_name(host, sizeof host);
    field(record, "host", their_host, sizeof their_host);
    field(record, "pid", pid_s, sizeof pid_s);
    field(record, "start", start, sizeof start);
    long pid = atol(pid_s);
    if (their_host[0] && strcmp(host, their_host) == 0 && pid > 0) {
        char boot[64], now_start[32], expect[128];
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 1;
        boot_id(boot, sizeof boot);
        start_time(pid, now_start, sizeof now_start);
        snprintf(expect, sizeof expect, "%s %s", boot, now_start);
        return strcmp(start, expect) != 0; /* rebooted since, or the pid is another process's now */
    }
    /* another host (or an unreadable record): alive while it renews the claim */
    struct stat now;
    if (utimensat(AT_FDCWD, mine, NULL, 0) != 0 || stat(mine, &now) != 0) return 0;
    double age = (double)(now.st_mtim.tv_sec - st->st_mtim.tv_sec) + 1e-9 * (double)(now.st_mtim.tv_nsec - st->st_mtim.tv_nsec);
    return age > lease;
}

/* Remove the claim at `path` if it still holds `record`: renamed aside first, so that a claim
 * made meanwhile by a live process is put back rather than removed. */
static void take_over(const char *path, const char *record)
{
    char *aside = unique_sibling(path, "stale");
    if (!aside) return;
    if (rename(path, aside) == 0) {
        char buf[1024];
        struct stat st;
        if (read_claim(aside, buf, sizeof buf, &st) == 0 && strcmp(buf, record) != 0) (void)link(aside, path);
        unlink(aside);
    }
    free(aside);
}

static void pause_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Our record into the new file `mine` (a unique name beside the claim `path`). */
static awq_err write_record(const char *mine, const char *path, const char *record)
{
    int fd = open(mine, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return awq_fail_errno(errno, "cannot write the claim '%s'", path);
    size_t len = strlen(record);
    ssize_t w = write(fd, record, len);
    int err = w < 0 ? errno : ENOSPC; /* a short write: the disk is full */
    if (close(fd) != 0 && w == (ssize_t)len) { err = errno; w = -1; }
    if (w == (ssize_t)len) return AWQ_OK;
    unlink(mine);
    return awq_fail_errno(err, "cannot write the claim '%s'", path);
}

/* Take one claim for `record` (see claim.h). */
static awq_err take_one(const char *path, const char *record, const awq_claim_opts *o, double lease)
{
    char *mine = unique_sibling(path, "new");
    if (!mine) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = write_record(mine, path, record);
    if (e == AWQ_ERR_NOTFOUND || e == AWQ_ERR_IO) { /* its directory is not there yet (a new fan-out directory) */
        char *dir = strdup(path);
        if (dir && strrchr(dir, '/')) *strrchr(dir, '/') = 0;
        awq_clear_error();
        e = !dir ? awq_fail(AWQ_ERR_NOMEM, "out of memory") : strchr(path, '/') ? awq_mkdirs(dir) : AWQ_OK;
        free(dir);
        if (!e) e = write_record(mine, path, record);
    }
    if (e) { free(mine); return e; }
    double delay = 0.01;
    int waited = 0;
    for (;;) {
        struct stat st;
        int lr = link(mine, path), lerr = errno;
        /* NFS: a retransmitted link whose first reply was lost says EEXIST, but ours has 2 links */
        if (lr == 0 || (stat(mine, &st) == 0 && st.st_nlink == 2)) break;
        if (lerr == ENOENT && access(mine, F_OK) != 0) { /* ours went (a gc): write it again */
            if ((e = write_record(mine, path, record))) break;
            continue;
        }
        if (lerr != EEXIST) { e = awq_fail_errno(lerr, "cannot create the claim '%s'", path); break; }
        char holder[1024];
        int r = read_claim(path, holder, sizeof holder, &st);
        if (r == ENOENT) continue; /* released meanwhile */
        if (r != 0) { e = awq_fail_errno(r, "cannot read the claim '%s'", path); break; }
        if (is_dead(holder, &st, mine, lease)) { take_over(path, holder); continue; }
        if (o && o->no_wait) { e = awq_fail(AWQ_ERR_EXISTS, "'%s' is held by another process", path); break; }
        if (!waited++ && o && o->waiting) o->waiting(o->ctx, path, holder);
        (void)utimensat(AT_FDCWD, mine, NULL, 0); /* a temp file in use: young, so gc leaves it */
        pause_s(delay);
        delay = delay * 1.5 > 0.5 ? 0.5 : delay * 1.5;
    }
    unlink(mine);
    free(mine);
    return e;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

awq_err awq_claims_take(awq_claims **out, const char *const *files, int n, const awq_claim_opts *o)
{
    *out = NULL;
    awq_claims *c = calloc(1, sizeof *c);
    char **want = calloc((size_t)(n > 0 ? n : 1), sizeof *want);
    awq_err e = c && want && (c->record = make_record()) ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) c->paths = calloc((size_t)(n > 0 ? n : 1), sizeof *c->paths);
    if (!e && !c->paths) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    int m = 0;
    for (int i = 0; i < n && !e; i++)
        if (!(want[m++] = awq_claim_path(files[i], o ? o->dir : NULL))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (!e) qsort(want, (size_t)m, sizeof *want, cmp_str);
    if (!e && o && o->dir) e = awq_mkdirs(o->dir);
    const double lease = o && o->lease_s > 0 ? o->lease_s : awq_claim_lease();
    for (int i = 0; i < m && !e; i++) {
        if (c->n > 0 && strcmp(want[i], c->paths[c->n - 1]) == 0) continue; /* named twice */
        e = take_one(want[i], c->record, o, lease);
        if (!e) { c->paths[c->n++] = want[i]; want[i] = NULL; }
    }
    for (int i = 0; i < m; i++) free(want[i]);
    free(want);
    if (e) {
        awq_err keep = e; /* release records no error of its own */
        awq_claims_release(c);
        return keep;
    }
    *out = c;
    return AWQ_OK;
}

awq_err awq_claims_renew(awq_claims *c)
{
    awq_err e = AWQ_OK;
    for (int i = 0; c && i < c->n; i++)
        if (utimensat(AT_FDCWD, c->paths[i], NULL, 0) != 0 && !e)
            e = errno == ENOENT ? awq_fail(AWQ_ERR_NOTFOUND, "the claim '%s' was taken over", c->paths[i])
                                : awq_fail_errno(errno, "cannot renew the claim '%s'", c->paths[i]);
    return e;
}

void awq_claims_release(awq_claims *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        char buf[1024];
        struct stat st;
        /* only our own: a claim taken over from us (we were judged gone) is its new holder's */
        if (read_claim(c->paths[i], buf, sizeof buf, &st) == 0 && strcmp(buf, c->record) == 0) unlink(c->paths[i]);
        free(c->paths[i]);
    }
    free(c->paths);
    free(c->record);
    free(c);
}
