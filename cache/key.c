/* key.c - object keys (XXH3-128, canonical big-endian bytes, lower-case hex) and recipes
 * (sorted "name=value" lines whose text is hashed). The hash is libxxhash's; nothing here
 * computes a hash by hand. */
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static awq_key key_from_hash(XXH128_hash_t h)
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    awq_key k;
    memcpy(k.b, c.digest, sizeof k.b);
    return k;
}

awq_key awq_key_of_bytes(const void *data, size_t len)
{
    return key_from_hash(XXH3_128bits(data, len));
}

void awq_key_hex(const awq_key *k, char hex[AWQ_KEY_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[k->b[i] >> 4];
        hex[2 * i + 1] = digits[k->b[i] & 15];
    }
    hex[AWQ_KEY_HEX] = 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

awq_err awq_key_parse(awq_key *k, const char *hex)
{
    if (!hex) return awq_fail(AWQ_ERR_ARG, "missing object key");
    size_t n = strnlen(hex, AWQ_KEY_HEX + 1);
    for (size_t i = 0; i < n && i < AWQ_KEY_HEX; i++) {
        if (hex_value(hex[i]) < 0) {
            awq_fail(AWQ_ERR_ARG, "'%.64s' is not an object key: character %zu is not a hex digit", hex, i + 1);
            awq_hint("a key is %d hex digits, as printed by awq-obj ls", AWQ_KEY_HEX);
            return AWQ_ERR_ARG;
        }
    }
    if (n != AWQ_KEY_HEX) {
        awq_fail(AWQ_ERR_ARG, "'%.64s' is not an object key: it has %s%zu hex digits, not %d", hex,
                 n > AWQ_KEY_HEX ? "more than " : "", n > AWQ_KEY_HEX ? (size_t)AWQ_KEY_HEX : n, AWQ_KEY_HEX);
        awq_hint("a key is %d hex digits, as printed by awq-obj ls", AWQ_KEY_HEX);
        return AWQ_ERR_ARG;
    }
    for (int i = 0; i < 16; i++)
        k->b[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    return AWQ_OK;
}

int awq_key_equal(const awq_key *a, const awq_key *b) { return memcmp(a->b, b->b, sizeof a->b) == 0; }

/* ---- streaming ---- */

struct awq_hasher { XXH3_state_t *state; };

awq_hasher *awq_hasher_new(void)
{
    awq_hasher *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->state = XXH3_createState();
    if (!h->state || XXH3_128bits_reset(h->state) != XXH_OK) {
        XXH3_freeState(h->state);
        free(h);
        return NULL;
    }
    return h;
}

void awq_hasher_update(awq_hasher *h, const void *data, size_t len)
{
    (void)XXH3_128bits_update(h->state, data, len); /* fails only for a NULL state */
}

awq_key awq_hasher_final(awq_hasher *h) { return key_from_hash(XXH3_128bits_digest(h->state)); }

void awq_hasher_free(awq_hasher *h)
{
    if (!h) return;
    XXH3_freeState(h->state);
    free(h);
}

awq_err awq_key_of_file(awq_key *k, const char *path)
{
    enum { BUF = 1 << 20 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return awq_fail_errno(errno, "cannot open '%s'", path);
    awq_hasher *h = awq_hasher_new();
    char *buf = malloc(BUF);
    awq_err e = AWQ_OK;
    if (!h || !buf) {
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory hashing '%s'", path);
    } else {
        for (;;) {
            ssize_t n = read(fd, buf, BUF);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) { e = awq_fail_errno(errno, "cannot read '%s'", path); break; }
            if (n == 0) break;
            awq_hasher_update(h, buf, (size_t)n);
        }
        if (e == AWQ_OK) *k = awq_hasher_final(h);
    }
    free(buf);
    awq_hasher_free(h);
    close(fd);
    return e;
}

/* ---- recipes ---- */

struct awq_recipe {
    char **names, **values; /* owned, n entries, in insertion order */
    size_t n, cap;
    char *text;             /* owned; the canonical text, rebuilt by every add */
};

static awq_err rebuild_text(awq_recipe *r);

awq_recipe *awq_recipe_new(const char *stage, int algo_version)
{
    awq_recipe *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (rebuild_text(r) != AWQ_OK) { free(r); return NULL; }
    if (awq_recipe_add(r, "stage", stage) != AWQ_OK ||
        awq_recipe_addf(r, "algo_version", "%d", algo_version) != AWQ_OK) {
        awq_recipe_free(r);
        return NULL;
    }
    return r;
}

awq_err awq_recipe_add(awq_recipe *r, const char *name, const char *value)
{
    if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory building a recipe");
    if (!name || !*name || strchr(name, '=') || strchr(name, '\n'))
        return awq_fail(AWQ_ERR_ARG, "bad recipe parameter name '%s': it must be non-empty without '=' or newline",
                        name ? name : "(null)");
    if (!value || strchr(value, '\n'))
        return awq_fail(AWQ_ERR_ARG, "bad value for recipe parameter '%s': it must be one line", name);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->names[i], name) == 0)
            return awq_fail(AWQ_ERR_ARG, "recipe parameter '%s' given twice", name);
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        char **nn = realloc(r->names, cap * sizeof *nn);
        if (!nn) return awq_fail(AWQ_ERR_NOMEM, "out of memory building a recipe");
        r->names = nn;
        char **nv = realloc(r->values, cap * sizeof *nv);
        if (!nv) return awq_fail(AWQ_ERR_NOMEM, "out of memory building a recipe");
        r->values = nv;
        r->cap = cap;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory building a recipe");
    }
    r->names[r->n] = n;
    r->values[r->n] = v;
    r->n++;
    awq_err e = rebuild_text(r);
    if (e != AWQ_OK) { /* leave the recipe as it was before this add */
        r->n--;
        free(n);
        free(v);
    }
    return e;
}

awq_err awq_recipe_addf(awq_recipe *r, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *value = NULL;
    int n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0) return awq_fail(AWQ_ERR_NOMEM, "out of memory building a recipe");
    awq_err e = awq_recipe_add(r, name, value);
    free(value);
    return e;
}

awq_err awq_recipe_add_key(awq_recipe *r, const char *input_name, const awq_key *k)
{
    if (!input_name || !*input_name)
        return awq_fail(AWQ_ERR_ARG, "recipe input without a name");
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(k, hex);
    char *name = NULL;
    if (asprintf(&name, "input.%s", input_name) < 0) return awq_fail(AWQ_ERR_NOMEM, "out of memory building a recipe");
    awq_err e = awq_recipe_add(r, name, hex);
    free(name);
    return e;
}

static int by_name(const void *a, const void *b, void *names)
{
    char **nm = names;
    return strcmp(nm[*(const size_t *)a], nm[*(const size_t *)b]);
}

/* Rebuild the canonical text: lines sorted by name, so the order of the adds does not matter.
 * Done on every add (recipes have tens of lines) so that reading the text or key cannot fail. */
static awq_err rebuild_text(awq_recipe *r)
{
    size_t *order = malloc((r->n ? r->n : 1) * sizeof *order);
    size_t len = 1;
    for (size_t i = 0; i < r->n; i++) len += strlen(r->names[i]) + strlen(r->values[i]) + 2;
    char *text = malloc(len);
    if (!order || !text) {
        free(order);
        free(text);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory building a recipe");
    }
    for (size_t i = 0; i < r->n; i++) order[i] = i;
    qsort_r(order, r->n, sizeof *order, by_name, r->names);
    char *p = text;
    for (size_t i = 0; i < r->n; i++)
        p += sprintf(p, "%s=%s\n", r->names[order[i]], r->values[order[i]]);
    *p = 0;
    free(order);
    free(r->text);
    r->text = text;
    return AWQ_OK;
}

const char *awq_recipe_text(awq_recipe *r) { return r ? r->text : NULL; }

awq_key awq_recipe_key(awq_recipe *r)
{
    return awq_key_of_bytes(r->text, strlen(r->text));
}

void awq_recipe_free(awq_recipe *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    free(r->text);
    free(r);
}
