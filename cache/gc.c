/* gc.c - garbage collection of the object store: objects unused for a while and/or not on a
 * keep-list, temp files that killed writers left behind (older than an hour, so a put in
 * flight is never touched) and damaged objects moved aside by a read (at once). */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { TEMP_MAX_AGE_S = 3600 };

typedef struct {
    const awq_gc_opts *opts;
    awq_key *keep;        /* sorted copy */
    time_t now;
    size_t n_removed;
    uint64_t bytes;
    awq_err err;
} gc_ctx;

static int cmp_key(const void *a, const void *b) { return memcmp(a, b, sizeof(awq_key)); }

static int remove_one(gc_ctx *g, const char *path, const struct stat *st, int is_temp)
{
    if (!g->opts->dry_run && unlink(path) != 0 && errno != ENOENT) {
        g->err = awq_fail_errno(errno, "cannot remove '%s'", path);
        return 1;
    }
    g->n_removed++;
    g->bytes += (uint64_t)st->st_size;
    if (g->opts->report) g->opts->report(g->opts->report_ctx, path, (uint64_t)st->st_size, is_temp);
    return 0;
}

static int visit(void *ctx, awq_entry_type type, const awq_key *key, const char *path)
{
    gc_ctx *g = ctx;
    const awq_gc_opts *o = g->opts;
    struct stat st;
    if (type == AWQ_ENTRY_FOREIGN || lstat(path, &st) != 0) return 0; /* foreign: not ours to delete */
    double age = difftime(g->now, st.st_mtime);
    if (type == AWQ_ENTRY_TEMP) {
        /* a damaged object moved aside is never read again; other temps may be a put in flight
         * or a live claim (renewed, so young) */
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        int damaged = strncmp(name, ".tmp-damaged-", 13) == 0;
        return damaged || age > TEMP_MAX_AGE_S ? remove_one(g, path, &st, 1) : 0;
    }
    int by_age = o->older_than_s >= 0, by_keep = o->keep != NULL;
    if (!by_age && !by_keep) return 0;
    if (by_age && !(age >= o->older_than_s)) return 0;
    if (by_keep && g->keep && bsearch(key, g->keep, o->n_keep, sizeof *key, cmp_key)) return 0;
    return remove_one(g, path, &st, 0);
}

awq_err awq_store_gc(awq_store *s, const awq_gc_opts *opts, size_t *n_removed, uint64_t *bytes_removed)
{
    gc_ctx g = {.opts = opts, .now = time(NULL)};
    if (n_removed) *n_removed = 0;
    if (bytes_removed) *bytes_removed = 0;
    if (opts->keep && opts->n_keep > 0) {
        g.keep = malloc(opts->n_keep * sizeof *g.keep);
        if (!g.keep) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
        memcpy(g.keep, opts->keep, opts->n_keep * sizeof *g.keep);
        qsort(g.keep, opts->n_keep, sizeof *g.keep, cmp_key);
    }
    int rc = awq_store_walk_entries(s, visit, &g);
    free(g.keep);
    if (rc < 0) return awq_errcode();
    if (g.err != AWQ_OK) return g.err;
    /* Emptied fan-out directories stay: removing them would race with a put that has just
     * created one and is about to open its temp file there. */
    if (n_removed) *n_removed = g.n_removed;
    if (bytes_removed) *bytes_removed = g.bytes;
    return AWQ_OK;
}
