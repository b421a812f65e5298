/* atomic.c - temp file + fsync + rename/link, so outputs appear whole or not at all. Safe on a
 * store shared over NFS: temp names are unique per host and pid, and the first-writer-wins link
 * tells a lost reply from a real conflict. */
#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

awq_err awq_atomic_open(awq_atomic *f, const char *final_path)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->tmp_path = NULL;
    f->final_path = strdup(final_path);
    char *dir = dir_of(final_path);
    const char *base = strrchr(final_path, '/') ? strrchr(final_path, '/') + 1 : final_path;
    /* unique per host as well as per process: on a store shared over NFS, two hosts' writers of
     * one object may have the same pid (O_EXCL alone would do, but a name that says whose it is
     * also tells gc and people where a leftover came from) */
    char host[65];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/' || *c == '-') *c = '_';
    size_t n = strlen(final_path) + sizeof host + 64;
    f->tmp_path = malloc(n);
    if (!f->final_path || !dir || !f->tmp_path) {
        free(dir);
        awq_atomic_abort(f);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory opening '%s'", final_path);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned r = (unsigned)(ts.tv_nsec ^ (ts.tv_sec << 7)) * 2654435761u + (unsigned)attempt * 40503u;
        snprintf(f->tmp_path, n, "%s/.tmp-%s-%s-%ld-%08x", dir, base, host, (long)getpid(), r);
        f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (f->fd >= 0 || errno != EEXIST) break;
    }
    free(dir);
    if (f->fd < 0) {
        awq_err e = awq_fail_errno(errno, "cannot create a temporary file for '%s'", final_path);
        awq_atomic_abort(f);
        return e;
    }
    return AWQ_OK;
}

#define FLUSH_EVERY ((unsigned long long)64 << 20)

awq_err awq_atomic_write(awq_atomic *f, const void *buf, size_t len)
{
    const char *p = buf;
    f->written += len;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return awq_fail_errno(errno, "cannot write '%s'", f->final_path);
        }
        p += w;
        len -= (size_t)w;
    }
#ifdef SYNC_FILE_RANGE_WRITE
    if (!f->no_flush && f->written - f->flushed >= FLUSH_EVERY) { /* a hint: its failure changes nothing */
        (void)sync_file_range(f->fd, (off_t)f->flushed, (off_t)(f->written - f->flushed), SYNC_FILE_RANGE_WRITE);
        f->flushed = f->written;
    }
#endif
    return AWQ_OK;
}

static void fsync_dir(const char *path)
{
    char *dir = dir_of(path);
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { (void)fsync(fd); close(fd); }
    free(dir);
}

awq_err awq_atomic_commit(awq_atomic *f, awq_atomic_mode mode)
{
    awq_err e = AWQ_OK;
    const int sync = !(mode & AWQ_ATOMIC_NOSYNC);
    mode &= ~AWQ_ATOMIC_NOSYNC;
    if (sync && fsync(f->fd) != 0) e = awq_fail_errno(errno, "cannot write '%s' (fsync)", f->final_path);
    if (close(f->fd) != 0 && e == AWQ_OK) e = awq_fail_errno(errno, "cannot write '%s' (close)", f->final_path);
    f->fd = -1;
    if (e == AWQ_OK) {
        if (mode == AWQ_ATOMIC_NOREPLACE) {
            /* link() fails with EEXIST instead of replacing: the first writer wins. Over NFS a
             * retransmitted link whose first reply was lost says EEXIST too, but then ours has
             * two links (as in cache/claim.c). */
            struct stat st;
            if (link(f->tmp_path, f->final_path) != 0 && !(errno == EEXIST && stat(f->tmp_path, &st) == 0 && st.st_nlink == 2))
                e = errno == EEXIST ? awq_fail(AWQ_ERR_EXISTS, "'%s' already exists", f->final_path)
                                    : awq_fail_errno(errno, "cannot create '%s'", f->final_path);
        } else if (rename(f->tmp_path, f->final_path) != 0) {
            e = awq_fail_errno(errno, "cannot rename into '%s'", f->final_path);
        } else {
            free(f->tmp_path);
            f->tmp_path = NULL; /* renamed: nothing to remove */
        }
    }
    if (sync && (e == AWQ_OK || e == AWQ_ERR_EXISTS)) fsync_dir(f->final_path);
    awq_atomic_abort(f);
    return e;
}

void awq_atomic_abort(awq_atomic *f)
{
    if (f->fd >= 0) { close(f->fd); f->fd = -1; }
    if (f->tmp_path) { unlink(f->tmp_path); free(f->tmp_path); f->tmp_path = NULL; }
    free(f->final_path);
    f->final_path = NULL;
}

awq_err awq_write_file_atomic(const char *path, const void *data, size_t len)
{
    awq_atomic f;
    awq_err e = awq_atomic_open(&f, path);
    if (e) return e;
    if ((e = awq_atomic_write(&f, data, len))) { awq_atomic_abort(&f); return e; }
    return awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
}

awq_err awq_mkdirs(const char *path)
{
    char *p = strdup(path);
    if (!p) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                awq_err e = awq_fail_errno(errno, "cannot create directory '%s'", p);
                free(p);
                return e;
            }
            *s = c;
            if (!c) break;
        }
    }
    struct stat st;
    int ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok ? AWQ_OK : awq_fail(AWQ_ERR_IO, "'%s' exists and is not a directory", path);
}
