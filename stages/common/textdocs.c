/* textdocs.c - documents of a text file (lines, wikitext rows, whole file, JSON lines), and the
 * calibration (§2.2) and evaluation (§4.1) token streams made from them. */
#include "textdocs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "log.h"
#include "tokenizer_int.h"

struct awq_docs {
    char *path;
    awq_docs_format fmt;
    char *field;
    const char *data; /* the mapped file ("" when empty) */
    size_t size;
    size_t *start;    /* documents: start offsets of their lines, plus the end of the file */
    size_t n;
    tk_bytes buf;     /* JSONL: the current document's text */
};

int awq_docs_format_parse(const char *name)
{
    if (!strcmp(name, "line")) return AWQ_DOCS_LINE;
    if (!strcmp(name, "wikitext")) return AWQ_DOCS_WIKITEXT;
    if (!strcmp(name, "file")) return AWQ_DOCS_FILE;
    return -1;
}

static int is_py_space(int32_t c) { return tk_is_white_space(c) || (c >= 0x1C && c <= 0x1F); }

void awq_text_strip(const char **s, size_t *n)
{
    const unsigned char *p = (const unsigned char *)*s;
    size_t a = 0, b = *n;
    int32_t cp;
    while (a < b) {
        int k = tk_utf8_decode(p + a, b - a, &cp);
        if (!is_py_space(cp)) break;
        a += (size_t)k;
    }
    while (b > a) {
        size_t k = b - 1;
        while (k > a && (p[k] & 0xC0) == 0x80) k--;
        tk_utf8_decode(p + k, b - k, &cp);
        if (!is_py_space(cp)) break;
        b = k;
    }
    *s += a;
    *n = b - a;
}

static size_t line_of(const char *s, size_t off)
{
    size_t line = 1;
    for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + off - p))) != NULL; p++) line++;
    return line;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Line starts (and the end) of the file; JSONL skips blank lines. */
static awq_err index_lines(awq_docs *d)
{
    size_t cap = 1024;
    d->start = malloc(cap * sizeof *d->start);
    if (!d->start) return awq_fail(AWQ_ERR_NOMEM, "out of memory indexing '%s'", d->path);
    size_t pos = 0;
    while (pos < d->size) {
        const char *nl = memchr(d->data + pos, '\n', d->size - pos);
        size_t end = nl ? (size_t)(nl - d->data) + 1 : d->size;
        if (!(d->fmt == AWQ_DOCS_JSONL && blank(d->data + pos, end - pos))) {
            if (d->n + 2 > cap) {
                cap *= 2;
                size_t *s = realloc(d->start, cap * sizeof *s);
                if (!s) return awq_fail(AWQ_ERR_NOMEM, "out of memory indexing '%s'", d->path);
                d->start = s;
            }
            d->start[d->n++] = pos;
            d->start[d->n] = end;
        }
        pos = end;
    }
    return AWQ_OK;
}

awq_err awq_docs_open(const char *path, awq_docs_format fmt, const char *field, awq_docs **out)
{
    *out = NULL;
    awq_docs *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path)) || !(d->field = strdup(field ? field : "text"))) {
        awq_docs_free(d);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    }
    d->fmt = fmt;
    d->data = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        awq_err e = awq_fail_errno(errno, "cannot open '%s'", path);
        if (fd >= 0) close(fd);
        awq_docs_free(d);
        return e;
    }
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            awq_err e = awq_fail_errno(errno, "cannot read '%s'", path);
            close(fd);
            awq_docs_free(d);
            return e;
        }
        d->data = m;
        d->size = (size_t)st.st_size;
    }
    close(fd);
    awq_err e = AWQ_OK;
    size_t bad;
    if (fmt != AWQ_DOCS_JSONL && !awq_utf8_valid(d->data, d->size, &bad)) {
        e = awq_fail(AWQ_ERR_FORMAT, "'%s': invalid UTF-8 at byte %zu (line %zu)", path, bad, line_of(d->data, bad));
        awq_hint("calibration and evaluation text must be UTF-8; convert it first (e.g. iconv -f latin1 -t utf-8)");
    } else if (fmt == AWQ_DOCS_FILE) {
        d->start = malloc(2 * sizeof *d->start);
        if (!d->start) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
        else d->start[0] = 0, d->start[1] = d->size, d->n = 1;
    } else {
        e = index_lines(d);
    }
    if (e) {
        awq_docs_free(d);
        return e;
    }
    *out = d;
    return AWQ_OK;
}

void awq_docs_free(awq_docs *d)
{
    if (!d) return;
    if (d->size) munmap((void *)d->data, d->size);
    free(d->start);
    free(d->path);
    free(d->field);
    tk_bytes_free(&d->buf);
    free(d);
}

size_t awq_docs_count(const awq_docs *d) { return d->n; }

static awq_err jsonl_get(awq_docs *d, size_t i, const char **text, size_t *len)
{
    const char *line = d->data + d->start[i];
    size_t n = d->start[i + 1] - d->start[i];
    size_t line_no = line_of(d->data, d->start[i]);
    json_error_t err;
    json_t *obj = json_loadb(line, n, JSON_ALLOW_NUL, &err);
    if (!obj) return awq_fail(AWQ_ERR_FORMAT, "'%s' line %zu: invalid JSON: %s", d->path, line_no, err.text);
    const json_t *v = json_object_get(obj, d->field);
    awq_err e = AWQ_OK;
    if (!json_is_string(v)) {
        e = awq_fail(AWQ_ERR_FORMAT, "'%s' line %zu has no string member \"%s\"", d->path, line_no, d->field);
        /* make passes no --field: the file needs "text" members (README) */
        if (!awq_via_make()) awq_hint("choose the member with --field");
    } else {
        d->buf.n = 0;
        e = tk_bytes_put(&d->buf, json_string_value(v), json_string_length(v));
        *text = d->buf.p ? d->buf.p : "";
        *len = d->buf.n;
    }
    json_decref(obj);
    return e;
}

awq_err awq_docs_get(awq_docs *d, size_t i, const char **text, size_t *len)
{
    if (i >= d->n) return awq_fail(AWQ_ERR_ARG, "'%s' has no document %zu", d->path, i);
    if (d->fmt == AWQ_DOCS_JSONL) return jsonl_get(d, i, text, len);
    const char *s = d->data + d->start[i];
    size_t n = d->start[i + 1] - d->start[i];
    if (d->fmt == AWQ_DOCS_LINE && n && s[n - 1] == '\n') n--;
    if (d->fmt == AWQ_DOCS_WIKITEXT) {
        const char *b = s;
        size_t bn = n;
        awq_text_strip(&b, &bn);
        if (bn == 0) n = 0; /* the loader's `if row.strip()`: blank rows are "" */
    }
    *text = s;
    *len = n;
    return AWQ_OK;
}

/* ---- calibration and evaluation streams ---- */

typedef struct { uint64_t key; size_t index; } order_item;

static int cmp_order(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static awq_err make_order(const awq_docs *d, long long seed, size_t **order)
{
    *order = NULL;
    if (seed < 0) return AWQ_OK;
    order_item *it = malloc((d->n + 1) * sizeof *it);
    size_t *o = malloc((d->n + 1) * sizeof *o);
    if (!it || !o) {
        free(it);
        free(o);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory shuffling %zu documents", d->n);
    }
    for (size_t i = 0; i < d->n; i++) {
        unsigned char le[8];
        for (int k = 0; k < 8; k++) le[k] = (unsigned char)((uint64_t)i >> (8 * k));
        it[i].key = XXH3_64bits_withSeed(le, sizeof le, (XXH64_hash_t)seed);
        it[i].index = i;
    }
    qsort(it, d->n, sizeof *it, cmp_order);
    for (size_t i = 0; i < d->n; i++) o[i] = it[i].index;
    free(it);
    *order = o;
    return AWQ_OK;
}

awq_err awq_calib_tokens(awq_tokenizer *t, awq_docs *d, const awq_calib_opts *o, awq_idvec *out,
                         awq_calib_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (o->n_samples <= 0) return awq_fail(AWQ_ERR_ARG, "n_samples must be positive (got %d)", o->n_samples);
    size_t *order;
    awq_err e = make_order(d, o->shuffle_seed, &order);
    awq_idvec doc = {0};
    for (size_t k = 0; !e && k < d->n && stats->accepted < (size_t)o->n_samples; k++) {
        size_t i = order ? order[k] : k;
        const char *s;
        size_t n;
        if ((e = awq_docs_get(d, i, &s, &n))) break;
        awq_text_strip(&s, &n);
        doc.n = 0;
        if ((e = awq_tokenizer_encode(t, s, n, o->add_special, &doc))) {
            e = awq_context(e, "'%s' document %zu", d->path, i + 1);
            break;
        }
        stats->visited++;
        if (doc.n == 0) { stats->skipped_empty++; continue; }
        if (o->max_doc_tokens > 0 && doc.n > (size_t)o->max_doc_tokens) { stats->skipped_long++; continue; }
        if ((e = awq_idvec_reserve(out, doc.n))) break;
        memcpy(out->ids + out->n, doc.ids, doc.n * sizeof *doc.ids);
        out->n += doc.n;
        stats->accepted++;
    }
    awq_idvec_free(&doc);
    free(order);
    return e;
}

awq_err awq_eval_tokens(awq_tokenizer *t, awq_docs *d, int add_special, awq_idvec *out, size_t *text_bytes)
{
    tk_bytes all = {0};
    awq_err e = AWQ_OK;
    for (size_t i = 0; !e && i < d->n; i++) {
        const char *s;
        size_t n;
        if (i > 0) e = tk_bytes_put(&all, "\n\n", 2);
        if (!e) e = awq_docs_get(d, i, &s, &n);
        if (!e) e = tk_bytes_put(&all, s, n);
    }
    if (text_bytes) *text_bytes = all.n;
    if (!e) {
        e = awq_tokenizer_encode(t, all.p ? all.p : "", all.n, add_special, out);
        if (e) e = awq_context(e, "'%s'", d->path);
    }
    tk_bytes_free(&all);
    return e;
}
