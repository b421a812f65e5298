/* obj.c - awq-obj: look into and manage the object store by hand (info, cat, verify, gc, rm,
 * path, hash, put, ls). For people and tests; the pipeline stages use cache/store.h directly.
 * Results go to stdout (keys, paths, tab-separated fields), messages to stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/store.h"
#include "stages/common/log.h"
#include "stages/common/opts.h"

#define PROG "awq-obj"

static const char *g_store_dir; /* --store, NULL = default */
static int g_threads;           /* --threads, 0 = all cores */

/* ---------------------------------------------------------------- helpers */

static int fail(void)
{
    awq_report(PROG);
    return 1;
}

static int open_store(awq_store **s) { return awq_store_open(s, g_store_dir, g_threads) == AWQ_OK ? 0 : fail(); }

/* Parse a sub-command's options; returns -1 to go on, else the exit status. */
static int parse_sub(awq_cli *cli, const awq_opt *opts, int argc, char **argv, int min_pos, int max_pos)
{
    int rc = awq_opts_parse(cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    if (cli->n_positional < min_pos || (max_pos >= 0 && cli->n_positional > max_pos)) {
        fprintf(stderr, "%s: expected %s\ntry '%s --help'\n", cli->prog, cli->usage ? cli->usage : "no arguments", cli->prog);
        return 2;
    }
    return -1;
}

static void print_shape(FILE *f, const awq_tensor *t)
{
    fputc('[', f);
    for (int d = 0; d < t->ndim; d++) fprintf(f, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    fputc(']', f);
}

/* A whole file in memory (for put). */
static awq_err read_file(const char *path, void **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return awq_fail_errno(errno, "cannot open '%s'", path);
    struct stat st;
    awq_err e = AWQ_OK;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) e = awq_fail_errno(errno, "cannot stat '%s'", path);
    else if (!(buf = malloc((size_t)st.st_size + 1))) e = awq_fail(AWQ_ERR_NOMEM, "out of memory reading '%s'", path);
    size_t got = 0;
    while (e == AWQ_OK && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) e = r < 0 ? awq_fail_errno(errno, "cannot read '%s'", path) : awq_fail(AWQ_ERR_IO, "'%s' shrank while being read", path);
        else got += (size_t)r;
    }
    close(fd);
    if (e != AWQ_OK) { free(buf); return e; }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return AWQ_OK;
}

static int parse_key(const char *arg, awq_key *k) { return awq_key_parse(k, arg) == AWQ_OK ? 0 : fail(); }

/* ---------------------------------------------------------------- info */

static int cmd_info(int argc, char **argv)
{
    const awq_opt opts[] = {{0}};
    awq_cli cli = {PROG " info", "show an object's kind, key, recipe and tensors (header only, not verified)", "KEY|PATH", 0, 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 1, 1);
    if (rc >= 0) return rc;
    awq_store *s = NULL;
    awq_key k;
    const char *arg = cli.positional[0];
    int is_key = strlen(arg) == AWQ_KEY_HEX && awq_key_parse(&k, arg) == AWQ_OK;
    if (is_key && open_store(&s)) return 1;
    char *path = is_key ? awq_store_path(s, &k) : strdup(arg);
    awq_object *o = NULL;
    uint64_t payload = 0;
    if (!path || awq_object_read_header(path, &o, &payload) != AWQ_OK) {
        free(path);
        awq_store_close(s);
        return fail();
    }
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(&o->key, hex);
    uint64_t raw = 0;
    for (int i = 0; i < o->n_tensors; i++) raw += o->tensors[i].nbytes;
    printf("path\t%s\nkey\t%s\nkind\t%s\nformat\t%u\nfile_bytes\t%llu\nraw_bytes\t%llu\n", path, hex, o->kind,
           o->version, (unsigned long long)o->file_size, (unsigned long long)raw);
    if (o->file_size) printf("ratio\t%.3f\n", (double)raw / (double)o->file_size);
    for (const char *line = o->recipe; *line;) {
        size_t n = strcspn(line, "\n");
        printf("recipe\t%.*s\n", (int)n, line);
        line += n + (line[n] == '\n');
    }
    printf("tensors\t%d\n", o->n_tensors);
    for (int i = 0; i < o->n_tensors; i++) {
        const awq_tensor *t = &o->tensors[i];
        printf("tensor\t%s\t%s\t", t->name, awq_dtype_name(t->dtype));
        print_shape(stdout, t);
        printf("\t%zu\t%llu\t%zu\n", t->nbytes, (unsigned long long)o->layout[i].stored_bytes, o->layout[i].n_chunks);
    }
    awq_object_free(o);
    free(path);
    awq_store_close(s);
    return 0;
}

/* ---------------------------------------------------------------- cat */

static int cmd_cat(int argc, char **argv)
{
    const awq_opt opts[] = {{0}};
    awq_cli cli = {PROG " cat", "write the raw bytes of one tensor of an object (verified) to stdout", "KEY [TENSOR]",
                   "TENSOR may be left out when the object has only one.", 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 1, 2);
    if (rc >= 0) return rc;
    awq_key k;
    if (parse_key(cli.positional[0], &k)) return 1;
    if (isatty(STDOUT_FILENO)) {
        awq_fail(AWQ_ERR_ARG, "refusing to write binary tensor data to a terminal");
        awq_hint("redirect it: %s cat %s%s%s > FILE", PROG, cli.positional[0], cli.n_positional > 1 ? " " : "",
                 cli.n_positional > 1 ? cli.positional[1] : "");
        return fail();
    }
    awq_store *s;
    if (open_store(&s)) return 1;
    awq_object *o = NULL;
    if (awq_store_get(s, &k, &o) != AWQ_OK) {
        awq_store_close(s);
        return fail();
    }
    const awq_tensor *t = cli.n_positional > 1 ? awq_object_tensor(o, cli.positional[1]) : o->n_tensors == 1 ? &o->tensors[0] : NULL;
    if (!t) {
        if (cli.n_positional > 1) awq_fail(AWQ_ERR_NOTFOUND, "object %s has no tensor '%s'", cli.positional[0], cli.positional[1]);
        else awq_fail(AWQ_ERR_ARG, "object %s has %d tensors: name one", cli.positional[0], o->n_tensors);
        awq_hint("list them with: %s info %s", PROG, cli.positional[0]);
    } else if (fwrite(t->data, 1, t->nbytes, stdout) != t->nbytes || fflush(stdout) != 0) {
        awq_fail_errno(errno, "cannot write tensor '%s' to stdout", t->name);
        t = NULL;
    }
    awq_object_free(o);
    awq_store_close(s);
    return t ? 0 : fail();
}

/* ---------------------------------------------------------------- verify */

typedef struct { awq_store *s; int quick; long n_ok, n_bad; } verify_ctx;

static void verify_one(verify_ctx *v, const awq_key *k, const char *shown)
{
    if ((v->quick ? awq_store_check(v->s, k) : awq_store_verify(v->s, k)) == AWQ_OK) {
        v->n_ok++;
        return;
    }
    v->n_bad++;
    printf("%s\t%s\n", shown, awq_errmsg());
    fflush(stdout);
}

static int verify_visit(void *ctx, const awq_key *key, const char *path)
{
    if (!key) {
        awq_warn("'%s' is not an object (a foreign file in the store; left alone)", path);
        return 0;
    }
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(key, hex);
    verify_one(ctx, key, hex);
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    int quick = 0;
    const awq_opt opts[] = {
        {"quick", 0, AWQ_OPT_FLAG, &quick, NULL, "check the stored bytes' checksums only, without decompressing", 0},
        {0}};
    awq_cli cli = {PROG " verify", "check objects completely; print \"KEY<TAB>problem\" for each bad one", "[KEY...]",
                   "With no KEY every object in the store is checked. Exit status 1 when any is bad or missing.\n"
                   "--quick is the stages' \"is it cached?\": it sees any damage to a file, but not an object\n"
                   "that was written wrong; objects of format version 1 are checked completely.", 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 0, -1);
    if (rc >= 0) return rc;
    verify_ctx v = {.quick = quick};
    if (open_store(&v.s)) return 1;
    if (cli.n_positional == 0) {
        if (awq_store_walk(v.s, verify_visit, &v) < 0) {
            awq_store_close(v.s);
            return fail();
        }
    }
    for (int i = 0; i < cli.n_positional; i++) {
        awq_key k;
        if (awq_key_parse(&k, cli.positional[i]) != AWQ_OK) {
            awq_store_close(v.s);
            return fail();
        }
        verify_one(&v, &k, cli.positional[i]);
    }
    awq_info("%ld objects %s: %ld good, %ld bad", v.n_ok + v.n_bad, quick ? "checked (--quick)" : "verified", v.n_ok, v.n_bad);
    awq_store_close(v.s);
    return v.n_bad ? 1 : 0;
}

/* ---------------------------------------------------------------- gc */

/* Keys to keep: one per line, either a key or an object path (…/ab/cdef…); '#' comments. */
static awq_err read_keep_list(const char *path, awq_key **keys, size_t *n)
{
    void *text;
    size_t len;
    awq_err e = read_file(path, &text, &len);
    if (e != AWQ_OK) return e;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += ((char *)text)[i] == '\n';
    *keys = malloc(cap * sizeof **keys);
    *n = 0;
    if (!*keys) { free(text); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    int lineno = 0;
    for (char *line = text, *next; line && *line && e == AWQ_OK; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line += strspn(line, " \t");
        line[strcspn(line, " \t\r#")] = 0;
        if (!*line) continue;
        /* "<32 hex>" or "…/ab/<30 hex>" (the last two components of an object path) */
        char hex[AWQ_KEY_HEX + 1] = "";
        size_t L = strlen(line);
        if (L == AWQ_KEY_HEX) snprintf(hex, sizeof hex, "%s", line);
        else if (L > AWQ_KEY_HEX && line[L - 31] == '/' && (L == 33 || line[L - 34] == '/'))
            snprintf(hex, sizeof hex, "%.2s%s", line + L - 33, line + L - 30);
        if (!hex[0] || awq_key_parse(&(*keys)[*n], hex) != AWQ_OK)
            e = awq_fail(AWQ_ERR_ARG, "%s:%d: '%.80s' is neither an object key nor an object path", path, lineno, line);
        else
            (*n)++;
    }
    free(text);
    if (e != AWQ_OK) { free(*keys); *keys = NULL; }
    return e;
}

static void gc_report(void *ctx, const char *path, uint64_t bytes, int is_temp) { printf("%s\n", path); }

static int cmd_gc(int argc, char **argv)
{
    double days = -1;
    const char *keep_file = NULL;
    int dry_run = 0;
    const awq_opt opts[] = {
        {"older-than", 0, AWQ_OPT_DOUBLE, &days, "DAYS", "remove objects not used for more than DAYS days (-1: no age rule)", 0},
        {"keep", 0, AWQ_OPT_STRING, &keep_file, "FILE", "remove objects not listed in FILE (keys or object paths, one per line)", 0},
        {"dry-run", 'n', AWQ_OPT_FLAG, &dry_run, NULL, "only print what would be removed", 0},
        {0}};
    awq_cli cli = {PROG " gc", "remove unused objects and stale temp files; print each removed path", NULL,
                   "An object is removed when every rule given says so. With no rule only temp files older than an\n"
                   "hour (left by killed writers) are removed. Foreign files are never touched.", 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 0, 0);
    if (rc >= 0) return rc;
    awq_gc_opts g = {.older_than_s = days < 0 ? -1 : days * 86400.0, .dry_run = dry_run, .report = gc_report};
    awq_key *keep = NULL;
    size_t n_keep = 0;
    if (keep_file && read_keep_list(keep_file, &keep, &n_keep) != AWQ_OK) return fail();
    g.keep = keep; /* non-NULL (possibly with no entries) when --keep was given */
    g.n_keep = n_keep;
    awq_store *s;
    if (open_store(&s)) { free(keep); return 1; }
    size_t n = 0;
    uint64_t bytes = 0;
    awq_err e = awq_store_gc(s, &g, &n, &bytes);
    if (e == AWQ_OK)
        awq_info("%s %zu files, %.1f MiB%s", dry_run ? "would remove" : "removed", n, (double)bytes / (1 << 20),
                 days < 0 && !keep_file ? " (no --older-than/--keep: stale temp files only)" : "");
    free(keep);
    awq_store_close(s);
    return e == AWQ_OK ? 0 : fail();
}

/* ---------------------------------------------------------------- rm, path, hash, ls */

static int cmd_rm(int argc, char **argv)
{
    const awq_opt opts[] = {{0}};
    awq_cli cli = {PROG " rm", "remove objects from the store (the next run rebuilds them)", "KEY...", 0, 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 1, -1);
    if (rc >= 0) return rc;
    awq_store *s;
    if (open_store(&s)) return 1;
    int bad = 0;
    for (int i = 0; i < cli.n_positional; i++) {
        awq_key k;
        char *path = NULL;
        if (awq_key_parse(&k, cli.positional[i]) != AWQ_OK || !(path = awq_store_path(s, &k))) bad = fail();
        else if (unlink(path) != 0) {
            if (errno == ENOENT) awq_fail(AWQ_ERR_NOTFOUND, "object %s is not in the store '%s'", cli.positional[i], awq_store_root(s));
            else awq_fail_errno(errno, "cannot remove '%s'", path);
            bad = fail();
        }
        free(path);
    }
    awq_store_close(s);
    return bad;
}

static int cmd_path(int argc, char **argv)
{
    const awq_opt opts[] = {{0}};
    awq_cli cli = {PROG " path", "print the file path of an object (whether or not it exists)", "KEY", 0, 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 1, 1);
    if (rc >= 0) return rc;
    awq_key k;
    awq_store *s;
    if (parse_key(cli.positional[0], &k) || open_store(&s)) return 1;
    char *path = awq_store_path(s, &k);
    if (path) printf("%s\n", path);
    free(path);
    awq_store_close(s);
    return path ? 0 : 1;
}

static int cmd_hash(int argc, char **argv)
{
    const awq_opt opts[] = {{0}};
    awq_cli cli = {PROG " hash", "print the XXH3-128 of each file (its key as a source object), like git hash-object", "FILE...", 0, 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 1, -1);
    if (rc >= 0) return rc;
    for (int i = 0; i < cli.n_positional; i++) {
        awq_key k;
        char hex[AWQ_KEY_HEX + 1];
        if (awq_key_of_file(&k, cli.positional[i]) != AWQ_OK) return fail();
        awq_key_hex(&k, hex);
        printf("%s\n", hex);
    }
    return 0;
}

typedef struct { int long_format; } ls_ctx;

static int ls_visit(void *ctx, const awq_key *key, const char *path)
{
    ls_ctx *l = ctx;
    if (!key) {
        awq_warn("'%s' is not an object (a foreign file in the store; left alone)", path);
        return 0;
    }
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(key, hex);
    if (!l->long_format) {
        printf("%s\n", hex);
        return 0;
    }
    awq_object *o = NULL;
    struct stat st;
    char when[32] = "?";
    if (stat(path, &st) == 0) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", localtime(&st.st_mtime));
    if (awq_object_read_header(path, &o, NULL) != AWQ_OK) {
        printf("%s\t?\t%lld\t?\t%s\tdamaged: %s\n", hex, (long long)st.st_size, when, awq_errmsg());
        return 0;
    }
    uint64_t raw = 0;
    for (int i = 0; i < o->n_tensors; i++) raw += o->tensors[i].nbytes;
    printf("%s\t%s\t%llu\t%llu\t%s\n", hex, o->kind, (unsigned long long)o->file_size, (unsigned long long)raw, when);
    awq_object_free(o);
    return 0;
}

static int cmd_ls(int argc, char **argv)
{
    ls_ctx l = {0};
    const awq_opt opts[] = {
        {"long", 'l', AWQ_OPT_FLAG, &l.long_format, NULL, "KEY, kind, file bytes, raw bytes, last use (tab-separated)", 0},
        {0}};
    awq_cli cli = {PROG " ls", "list the keys of all objects in the store", NULL, 0, 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 0, 0);
    if (rc >= 0) return rc;
    awq_store *s;
    if (open_store(&s)) return 1;
    rc = awq_store_walk(s, ls_visit, &l) < 0 ? fail() : 0;
    awq_store_close(s);
    return rc;
}

/* ---------------------------------------------------------------- put */

/* NAME=FILE:DTYPE:SHAPE, SHAPE = comma-separated dims, empty for a scalar. The tensor's data
 * is read into t->data (caller frees). */
static awq_err load_tensor_spec(const char *spec, awq_tensor *t)
{
    memset(t, 0, sizeof *t);
    char *copy = strdup(spec);
    if (!copy) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    char *eq = strchr(copy, '='), *c2 = strrchr(copy, ':');
    char *c1 = NULL;
    if (c2) { *c2 = 0; c1 = strrchr(copy, ':'); *c2 = ':'; }
    awq_err e = AWQ_OK;
    if (!eq || !c1 || c1 < eq || eq == copy) {
        e = awq_fail(AWQ_ERR_ARG, "bad tensor '%s': expected NAME=FILE:DTYPE:SHAPE (e.g. w=w.bin:F16:4096,4096)", spec);
        goto out;
    }
    *eq = *c1 = *c2 = 0;
    const char *file = eq + 1, *dtype = c1 + 1, *shape = c2 + 1;
    t->dtype = awq_dtype_parse(dtype);
    if (t->dtype == AWQ_DT_INVALID) {
        e = awq_fail(AWQ_ERR_ARG, "bad tensor '%s': unknown dtype '%s' (F32 F16 BF16 F64 I8..I64 U8..U64 BOOL)", spec, dtype);
        goto out;
    }
    for (const char *p = shape; *p;) {
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 0 || errno || (*end && *end != ',') || t->ndim == AWQ_MAX_DIMS) {
            e = awq_fail(AWQ_ERR_ARG, "bad tensor '%s': shape '%s' is not up to %d comma-separated sizes", spec, shape, AWQ_MAX_DIMS);
            goto out;
        }
        t->shape[t->ndim++] = d;
        p = *end ? end + 1 : end;
    }
    if ((e = read_file(file, &t->data, &t->nbytes)) != AWQ_OK) goto out;
    t->name = strdup(copy);
    if (!t->name) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
out:
    free(copy);
    return e;
}

/* Key of a source object made of these tensors: XXH3-128 of names, dtypes, shapes and bytes. */
static awq_err tensors_key(const awq_tensor *t, int n, awq_key *k)
{
    awq_hasher *h = awq_hasher_new();
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        char meta[512];
        int len = snprintf(meta, sizeof meta, "%s:%d:", awq_dtype_name(t[i].dtype), t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++) len += snprintf(meta + len, sizeof meta - (size_t)len, "%lld,", (long long)t[i].shape[d]);
        awq_hasher_update(h, t[i].name, strlen(t[i].name) + 1);
        awq_hasher_update(h, meta, (size_t)len + 1);
        awq_hasher_update(h, t[i].data, t[i].nbytes);
    }
    *k = awq_hasher_final(h);
    awq_hasher_free(h);
    return AWQ_OK;
}

static int cmd_put(int argc, char **argv)
{
    const char *kind = NULL, *recipe_file = NULL;
    const awq_opt opts[] = {
        {"kind", 'k', AWQ_OPT_STRING, &kind, "KIND", "object kind (act, scales, ...)", 1},
        {"recipe-file", 'r', AWQ_OPT_STRING, &recipe_file, "FILE", "recipe text; the key is then its XXH3-128", 0},
        {0}};
    awq_cli cli = {PROG " put", "store raw files as the tensors of one object and print its key", "NAME=FILE:DTYPE:SHAPE...",
                   "SHAPE is comma-separated (empty for a scalar), e.g. w=w.bin:F16:4096,4096. Without --recipe-file\n"
                   "the key is the XXH3-128 of the tensors' names, dtypes, shapes and bytes.", 0, 0};
    int rc = parse_sub(&cli, opts, argc, argv, 1, -1);
    if (rc >= 0) return rc;
    int n = cli.n_positional;
    awq_tensor *t = calloc((size_t)n, sizeof *t);
    void *recipe = NULL;
    size_t recipe_len = 0;
    awq_store *s = NULL;
    awq_err e = t ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && e == AWQ_OK; i++) e = load_tensor_spec(cli.positional[i], &t[i]);
    if (e == AWQ_OK && recipe_file) {
        e = read_file(recipe_file, &recipe, &recipe_len);
        if (e == AWQ_OK && strlen(recipe) != recipe_len) e = awq_fail(AWQ_ERR_ARG, "recipe file '%s' contains NUL bytes", recipe_file);
    }
    awq_key k;
    if (e == AWQ_OK) {
        if (recipe) k = awq_key_of_bytes(recipe, recipe_len);
        else e = tensors_key(t, n, &k);
    }
    if (e == AWQ_OK) e = awq_store_open(&s, g_store_dir, g_threads);
    if (e == AWQ_OK) e = awq_store_put(s, &k, kind, recipe, t, n);
    if (e == AWQ_OK) {
        char hex[AWQ_KEY_HEX + 1];
        awq_key_hex(&k, hex);
        printf("%s\n", hex);
    }
    for (int i = 0; t && i < n; i++) { free(t[i].name); free(t[i].data); }
    free(t);
    free(recipe);
    awq_store_close(s);
    return e == AWQ_OK ? 0 : fail();
}

/* ---------------------------------------------------------------- main */

typedef struct { const char *name, *args, *help; int (*run)(int argc, char **argv); } command;

static const command g_commands[] = {
    {"info", "KEY|PATH", "kind, key, recipe, tensors, sizes (header only)", cmd_info},
    {"cat", "KEY [TENSOR]", "raw bytes of a tensor to stdout (verified)", cmd_cat},
    {"verify", "[--quick] [KEY...]", "check objects completely (or quickly); list the bad ones", cmd_verify},
    {"gc", "[--older-than DAYS] [--keep FILE] [-n]", "remove unused objects, stale temp files", cmd_gc},
    {"rm", "KEY...", "remove objects", cmd_rm},
    {"path", "KEY", "the file of an object", cmd_path},
    {"hash", "FILE...", "XXH3-128 of files (source object keys)", cmd_hash},
    {"put", "--kind K [--recipe-file F] NAME=FILE:DTYPE:SHAPE...", "store files as an object", cmd_put},
    {"ls", "[-l]", "list the objects", cmd_ls},
};

int main(int argc, char **argv)
{
    awq_log_init(PROG, argc, argv);
    static char details[2048];
    size_t len = (size_t)snprintf(details, sizeof details, "commands (each has --help):");
    for (size_t i = 0; i < sizeof g_commands / sizeof *g_commands; i++) {
        char left[96];
        int w = snprintf(left, sizeof left, "%s %s", g_commands[i].name, g_commands[i].args);
        len += (size_t)snprintf(details + len, sizeof details - len, "\n  %-46s%s%s", left, w > 45 ? "\n  " : "",
                                w > 45 ? "                                              " : "");
        len += (size_t)snprintf(details + len, sizeof details - len, "%s", g_commands[i].help);
    }
    snprintf(details + len, sizeof details - len, "\n\nThe store is --store, else $AWQ_CACHE, $XDG_CACHE_HOME/awqmake, ~/.cache/awqmake.");
    const awq_opt opts[] = {
        {"store", 's', AWQ_OPT_STRING, &g_store_dir, "DIR", "object store directory", 0},
        {"threads", 'j', AWQ_OPT_INT, &g_threads, "N", "(de)compression threads, 0 = all cores", 0},
        {0}};
    awq_cli cli = {PROG, "look into and manage the awqmake object store", "COMMAND [ARGS...]", details, 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    for (size_t i = 0; cli.n_positional > 0 && i < sizeof g_commands / sizeof *g_commands; i++)
        if (strcmp(cli.positional[0], g_commands[i].name) == 0) return g_commands[i].run(cli.n_positional, cli.positional);
    fprintf(stderr, "%s: %s%s%s\ntry '%s --help'\n", PROG, cli.n_positional ? "unknown command '" : "missing command",
            cli.n_positional ? cli.positional[0] : "", cli.n_positional ? "'" : "", PROG);
    return 2;
}
