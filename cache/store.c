/* store.c - the object store on disk: where objects live (objects/ab/<rest of key>), atomic
 * put (first valid writer wins, a damaged object is replaced), verified get, and the walk over
 * all files that verify, ls and gc use. The file format itself is in object.c. */
#include "store_internal.h"
#include "../base/prof.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct awq_store {
    char *root;     /* owned */
    char *objects;  /* owned: <root>/objects */
    int n_threads;
    int codec;        /* awq_store_set_codec: 0 = chosen per chunk, else 1 + the codec */
    _Atomic int lost; /* gets that found their object missing or damaged (awq_store_lost) */
    int replaced;     /* puts that replaced a damaged object (awq_store_replaced) */
    char replaced_why[512];
};

awq_err awq_store_default_root(char **out)
{
    const char *v;
    int n = -1;
    *out = NULL;
    if ((v = getenv("AWQ_CACHE")) && *v) n = asprintf(out, "%s", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v) n = asprintf(out, "%s/awqmake", v);
    else if ((v = getenv("HOME")) && *v) n = asprintf(out, "%s/.cache/awqmake", v);
    else {
        awq_fail(AWQ_ERR_ARG, "no object store: AWQ_CACHE, XDG_CACHE_HOME and HOME are all unset");
        awq_hint("set AWQ_CACHE to a directory for the object store");
        return AWQ_ERR_ARG;
    }
    if (n < 0) { *out = NULL; return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    return AWQ_OK;
}

awq_err awq_store_open(awq_store **out, const char *root, int n_threads)
{
    *out = NULL;
    awq_store *s = calloc(1, sizeof *s);
    if (!s) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = root ? ((s->root = strdup(root)) ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory"))
                     : awq_store_default_root(&s->root);
    if (e == AWQ_OK && asprintf(&s->objects, "%s/objects", s->root) < 0) {
        s->objects = NULL;
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    }
    if (e == AWQ_OK && (e = awq_mkdirs(s->objects)) != AWQ_OK)
        awq_hint("the object store is '%s'; set AWQ_CACHE (or --store) to a writable directory", s->root);
    if (e != AWQ_OK) {
        awq_store_close(s);
        return e;
    }
    s->n_threads = n_threads;
    const char *c = getenv("AWQ_STORE_CODEC");
    if (c && *c && (e = awq_store_set_codec(s, c)) != AWQ_OK) {
        awq_context(e, "AWQ_STORE_CODEC=%s", c);
        awq_store_close(s);
        return e;
    }
    *out = s;
    return AWQ_OK;
}

awq_err awq_store_set_codec(awq_store *s, const char *name)
{
    if (strcmp(name, "auto") == 0) { s->codec = 0; return AWQ_OK; }
    for (int i = 0; i < AWQ_CODEC__COUNT; i++)
        if (strcmp(name, awq_codec_name((awq_codec)i)) == 0) { s->codec = 1 + i; return AWQ_OK; }
    awq_fail(AWQ_ERR_ARG, "'%s' is not a codec of the store", name);
    awq_hint("use auto, zstd, shuffle, raw or split (cache/store.h)");
    return AWQ_ERR_ARG;
}

void awq_store_close(awq_store *s)
{
    if (!s) return;
    free(s->root);
    free(s->objects);
    free(s);
}

const char *awq_store_root(const awq_store *s) { return s->root; }

char *awq_store_path(const awq_store *s, const awq_key *key)
{
    char hex[AWQ_KEY_HEX + 1], *path;
    awq_key_hex(key, hex);
    if (asprintf(&path, "%s/%.2s/%s", s->objects, hex, hex + 2) < 0) return NULL;
    return path;
}

int awq_store_has(const awq_store *s, const awq_key *key)
{
    char *path = awq_store_path(s, key);
    int has = path && access(path, F_OK) == 0;
    free(path);
    return has;
}

/* How deep load() looks (store.h: check, verify, get). */
typedef enum { LOAD_CHECK, LOAD_VERIFY, LOAD_DATA } load_mode;

/* Map the object file at `path` and check it, verify it or decode it (mode), and check that the
 * key in its header is `key`. Any damage: FORMAT/CHECKSUM with the path and a hint to rebuild. */
static awq_err load(awq_store *s, const awq_key *key, const char *path, load_mode mode, awq_object **out, struct stat *checked)
{
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(key, hex);
    if (out) *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return awq_fail(AWQ_ERR_NOTFOUND, "object %s is not in the store '%s'", hex, s->root);
        return awq_fail_errno(errno, "cannot open object '%s'", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        awq_err e = awq_fail_errno(errno, "cannot stat object '%s'", path);
        close(fd);
        return e;
    }
    if (checked) *checked = st;
    /* mmap: chunks are decompressed straight from the page cache on many threads. Objects are
     * never modified in place (only replaced by rename), so the mapping cannot shrink under us. */
    static const uint8_t empty[1];
    const uint8_t *map = empty;
    size_t size = (size_t)st.st_size;
    if (size > 0) {
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            awq_err e = awq_fail_errno(errno, "cannot map object '%s'", path);
            close(fd);
            return e;
        }
        map = m;
    }
    close(fd);
    awq_object *o = NULL;
    awq_err e = mode == LOAD_CHECK ? awq_object_check(map, size, s->n_threads, &o)
                                   : awq_object_decode(map, size, s->n_threads, mode == LOAD_DATA, &o);
    if (size > 0) munmap((void *)map, size);
    if (e == AWQ_OK && !awq_key_equal(&o->key, key)) {
        char other[AWQ_KEY_HEX + 1];
        awq_key_hex(&o->key, other);
        e = awq_fail(AWQ_ERR_FORMAT, "its header says it is object %s", other);
    }
    if (e == AWQ_ERR_FORMAT || e == AWQ_ERR_CHECKSUM) {
        awq_context(e, "object '%s' is damaged", path);
        awq_hint("remove it (awq-obj rm %s) or re-run; it will be rebuilt", hex);
    }
    if (e != AWQ_OK || !out) {
        awq_object_free(o);
        return e;
    }
    *out = o;
    return AWQ_OK;
}

awq_err awq_store_verify(awq_store *s, const awq_key *key)
{
    char *path = awq_store_path(s, key);
    if (!path) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = load(s, key, path, LOAD_VERIFY, NULL, NULL);
    free(path);
    return e;
}

awq_err awq_store_check(awq_store *s, const awq_key *key)
{
    char *path = awq_store_path(s, key);
    if (!path) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = load(s, key, path, LOAD_CHECK, NULL, NULL);
    free(path);
    return e;
}

/* Move the damaged file `path` (the one stat'ed in `checked`) aside as .tmp-damaged-NAME-HOST-PID-RAND,
 * a temp name (walks skip it; gc removes it). If what was moved is not that file (a healthy copy
 * was renamed into place meanwhile, by the step rebuilding it), it is put back. */
static int move_aside(const char *path, const struct stat *checked)
{
    const char *slash = strrchr(path, '/');
    char host[256], *bad = NULL;
    unsigned r = 0;
    if (!slash) return 0;
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (unsigned)time(NULL) * 2654435761u;
    if (asprintf(&bad, "%.*s/.tmp-damaged-%s-%s-%ld-%08x", (int)(slash - path), path, slash + 1, host, (long)getpid(), r) < 0)
        return 0;
    int moved = rename(path, bad) == 0;
    struct stat st;
    if (moved && checked && stat(bad, &st) == 0 && (st.st_ino != checked->st_ino || st.st_dev != checked->st_dev)) {
        (void)link(bad, path); /* a new copy: back under its name (unless yet another is there) */
        unlink(bad);
        moved = 0;
    }
    free(bad);
    return moved;
}

awq_err awq_store_move_aside(awq_store *s, const awq_key *key)
{
    char *path = awq_store_path(s, key);
    if (!path) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_err e = move_aside(path, NULL) || errno == ENOENT ? AWQ_OK : awq_fail_errno(errno, "cannot move '%s' aside", path);
    free(path);
    return e;
}

int awq_store_lost(const awq_store *s) { return s->lost; }

int awq_store_replaced(const awq_store *s, const char **why)
{
    if (why) *why = s->replaced ? s->replaced_why : "";
    return s->replaced;
}

awq_err awq_store_get(awq_store *s, const awq_key *key, awq_object **out)
{
    *out = NULL;
    char *path = awq_store_path(s, key);
    if (!path) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_prof_mark("get: (before)");
    struct stat checked = {0};
    awq_err e = load(s, key, path, LOAD_DATA, out, &checked);
    awq_prof_mark("get %s: read+decompress", e == AWQ_OK ? (*out)->kind : "?");
    if (e == AWQ_ERR_NOTFOUND || e == AWQ_ERR_FORMAT || e == AWQ_ERR_CHECKSUM) s->lost++;
    if (e == AWQ_ERR_FORMAT || e == AWQ_ERR_CHECKSUM) {
        /* A damaged object is never used: move it aside so the file is missing for make, and the
         * step that makes it runs again (awq-step does that at once: the reading program exits
         * with AWQ_EXIT_REBUILD). Another reader may have moved it already. */
        if (move_aside(path, &checked) || errno == ENOENT) {
            char msg[1100];
            snprintf(msg, sizeof msg, "%s", awq_errmsg());
            awq_fail(e, "%s", msg);
            awq_hint("it was moved aside; re-run and it will be rebuilt");
        }
    }
    /* Mark it used, so gc --older-than means "not used for". A read-only shared store
     * cannot be marked; that only makes gc there less precise. */
    if (e == AWQ_OK) (void)utimensat(AT_FDCWD, path, NULL, 0);
    free(path);
    return e;
}

/* Objects are not fsynced (AWQ_FSYNC=1 asks for it): every read verifies the header and chunk
 * checksums and moves a damaged object aside so make rebuilds it, so what a power cut can do to
 * an object written shortly before is cost a recomputation, never a wrong result. The fsync of a
 * 500 MB activation object took 0.18-0.2 s on the H100 machine's disk, on the capture chain's
 * critical path once per block (docs/PERFORMANCE.md). User-visible outputs are still fsynced. */
static int store_fsync(void)
{
    const char *v = getenv("AWQ_FSYNC");
    return v && *v && strcmp(v, "0") != 0;
}

static awq_err write_object(awq_store *s, const char *path, const awq_key *key, const char *kind, const char *recipe,
                            const awq_tensor *t, int n, awq_atomic_mode mode)
{
    awq_atomic f;
    awq_err e = awq_atomic_open(&f, path);
    if (e != AWQ_OK) return e;
    f.no_flush = !store_fsync(); /* not fsynced: leave the writeback to the kernel */
    awq_prof_mark("put %s: (before)", kind);
    e = awq_object_write(&f, key, kind, recipe, t, n, s->n_threads, s->codec);
    if (e != AWQ_OK) {
        awq_atomic_abort(&f);
        return e;
    }
    awq_prof_mark("put %s: compress+write", kind);
    e = awq_atomic_commit(&f, mode | (store_fsync() ? 0 : AWQ_ATOMIC_NOSYNC));
    awq_prof_mark("put %s: link", kind);
    return e;
}

awq_err awq_store_put(awq_store *s, const awq_key *key, const char *kind, const char *recipe,
                      const awq_tensor *tensors, int n_tensors)
{
    awq_err e = awq_object_check_args(kind, recipe, tensors, n_tensors);
    if (e != AWQ_OK) return e;
    char *path = awq_store_path(s, key);
    if (!path) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    char *dir = strndup(path, (size_t)(strrchr(path, '/') - path));
    e = dir ? awq_mkdirs(dir) : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    free(dir);

    /* An existing object: keep it when it passes the check (marking it used), replace it otherwise.
     * A new one is linked in without replacing, so of two concurrent writers the first wins
     * and the second finds a valid object. */
    awq_atomic_mode mode = AWQ_ATOMIC_NOREPLACE;
    for (int attempt = 0; e == AWQ_OK; attempt++) {
        if (access(path, F_OK) == 0) {
            if (load(s, key, path, LOAD_CHECK, NULL, NULL) == AWQ_OK) {
                (void)utimensat(AT_FDCWD, path, NULL, 0);
                break;
            }
            if (!s->replaced++) snprintf(s->replaced_why, sizeof s->replaced_why, "%s", awq_errmsg());
            awq_clear_error();
            mode = AWQ_ATOMIC_REPLACE;
        }
        e = write_object(s, path, key, kind, recipe, tensors, n_tensors, mode);
        if (e != AWQ_ERR_EXISTS || attempt == 2) break;
        /* Someone else linked it in first: look at theirs (loop). */
        e = AWQ_OK;
        awq_clear_error();
    }
    free(path);
    return e;
}

/* ---------------------------------------------------------------- walk */

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[n] == 0;
}

static int not_dots(const struct dirent *d) { return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, ".."); }

static int walk_dir(const char *dir, const char *prefix, awq_entry_fn fn, void *ctx)
{
    struct dirent **names;
    int n = scandir(dir, &names, not_dots, alphasort);
    if (n < 0) {
        awq_fail_errno(errno, "cannot read the store directory '%s'", dir);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char *path;
        if (rc != 0 || asprintf(&path, "%s/%s", dir, name) < 0) continue;
        struct stat st;
        int is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        int is_file = !is_dir && S_ISREG(st.st_mode);
        if (strncmp(name, ".tmp-", 5) == 0 && is_file) {
            rc = fn(ctx, AWQ_ENTRY_TEMP, NULL, path);
        } else if (!prefix && is_dir && strlen(name) == 2 && is_lower_hex(name, 2)) {
            rc = walk_dir(path, name, fn, ctx);
        } else if (prefix && is_file && strlen(name) == AWQ_KEY_HEX - 2 && is_lower_hex(name, AWQ_KEY_HEX - 2)) {
            char hex[AWQ_KEY_HEX + 1];
            awq_key key;
            snprintf(hex, sizeof hex, "%s%s", prefix, name);
            awq_key_parse(&key, hex);
            rc = fn(ctx, AWQ_ENTRY_OBJECT, &key, path);
        } else {
            rc = fn(ctx, AWQ_ENTRY_FOREIGN, NULL, path);
        }
        free(path);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int awq_store_walk_entries(awq_store *s, awq_entry_fn fn, void *ctx) { return walk_dir(s->objects, NULL, fn, ctx); }

typedef struct { awq_store_visit_fn fn; void *ctx; } public_walk;

static int skip_temps(void *ctx, awq_entry_type type, const awq_key *key, const char *path)
{
    public_walk *w = ctx;
    return type == AWQ_ENTRY_TEMP ? 0 : w->fn(w->ctx, key, path);
}

int awq_store_walk(awq_store *s, awq_store_visit_fn fn, void *ctx)
{
    public_walk w = {fn, ctx};
    return awq_store_walk_entries(s, skip_temps, &w);
}
