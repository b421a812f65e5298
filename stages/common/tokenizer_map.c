/* tokenizer_map.c - the tokenizer's containers: growable byte buffers and id arrays, a string -> id map and
 * a (left id, right id) -> merge map. Open addressing with linear probing on XXH3 hashes; load
 * factor at most 1/2, so a miss costs a probe or two. */
#include "tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* the same libxxhash code, inlined: the hash of an 8-byte pair is hot */
#include <xxhash.h>

awq_err tk_bytes_reserve(tk_bytes *b, size_t extra)
{
    if (b->cap - b->n >= extra) return AWQ_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < extra) {
        if (cap > SIZE_MAX / 2) return awq_fail(AWQ_ERR_NOMEM, "out of memory (text buffer)");
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return awq_fail(AWQ_ERR_NOMEM, "out of memory (text buffer of %zu bytes)", cap);
    b->p = p;
    b->cap = cap;
    return AWQ_OK;
}

awq_err tk_bytes_put(tk_bytes *b, const void *s, size_t n)
{
    awq_err e = tk_bytes_reserve(b, n);
    if (e) return e;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return AWQ_OK;
}

void tk_bytes_free(tk_bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- string map ---- */

static size_t table_size(size_t expected)
{
    size_t size = 16;
    while (size < 2 * expected + 2) size *= 2;
    return size;
}

awq_err tk_strmap_init(tk_strmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    size_t size = table_size(expected);
    m->slots = malloc(size * sizeof *m->slots);
    if (!m->slots) return awq_fail(AWQ_ERR_NOMEM, "out of memory (table of %zu entries)", size);
    for (size_t i = 0; i < size; i++) m->slots[i].off = UINT32_MAX;
    m->mask = size - 1;
    return AWQ_OK;
}

void tk_strmap_free(tk_strmap *m)
{
    free(m->slots);
    tk_bytes_free(&m->keys);
    memset(m, 0, sizeof *m);
}

void tk_strmap_clear(tk_strmap *m)
{
    for (size_t i = 0; i <= m->mask; i++) m->slots[i].off = UINT32_MAX;
    m->n = 0;
    m->keys.n = 0;
}

static tk_slot *strmap_find(const tk_strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & m->mask;
    for (;;) {
        tk_slot *s = &m->slots[i];
        if (s->off == UINT32_MAX) return s;
        if (s->hash == h && s->len == len && memcmp(m->keys.p + s->off, key, len) == 0) return s;
        i = (i + 1) & m->mask;
    }
}

static awq_err strmap_grow(tk_strmap *m)
{
    size_t size = (m->mask + 1) * 2;
    tk_slot *slots = malloc(size * sizeof *slots);
    if (!slots) return awq_fail(AWQ_ERR_NOMEM, "out of memory (table of %zu entries)", size);
    for (size_t i = 0; i < size; i++) slots[i].off = UINT32_MAX;
    for (size_t i = 0; i <= m->mask; i++) {
        tk_slot *s = &m->slots[i];
        if (s->off == UINT32_MAX) continue;
        size_t j = (size_t)s->hash & (size - 1);
        while (slots[j].off != UINT32_MAX) j = (j + 1) & (size - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return AWQ_OK;
}

awq_err tk_strmap_set(tk_strmap *m, const char *key, size_t len, int32_t val)
{
    uint64_t h = XXH3_64bits(key, len);
    tk_slot *s = strmap_find(m, key, len, h);
    if (s->off != UINT32_MAX) {
        s->val = val;
        return AWQ_OK;
    }
    if (m->keys.n + len >= UINT32_MAX) return awq_fail(AWQ_ERR_NOMEM, "token table too large");
    size_t off = m->keys.n;
    awq_err e = tk_bytes_put(&m->keys, key, len);
    if (e) return e;
    s->hash = h;
    s->off = (uint32_t)off;
    s->len = (uint32_t)len;
    s->val = val;
    if (++m->n * 2 > m->mask + 1) return strmap_grow(m);
    return AWQ_OK;
}

int32_t tk_strmap_get(const tk_strmap *m, const char *key, size_t len)
{
    const tk_slot *s = strmap_find(m, key, len, XXH3_64bits(key, len));
    return s->off == UINT32_MAX ? -1 : s->val;
}

/* ---- pair map ---- */

static inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

awq_err tk_pairmap_init(tk_pairmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    size_t size = table_size(expected);
    m->slots = malloc(size * sizeof *m->slots);
    if (!m->slots) return awq_fail(AWQ_ERR_NOMEM, "out of memory (merge table of %zu entries)", size);
    for (size_t i = 0; i < size; i++) m->slots[i].key = UINT64_MAX;
    m->mask = size - 1;
    return AWQ_OK;
}

void tk_pairmap_free(tk_pairmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static tk_pairslot *pair_find(const tk_pairmap *m, uint64_t key)
{
    size_t i = (size_t)XXH3_64bits(&key, sizeof key) & m->mask;
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key) i = (i + 1) & m->mask;
    return &m->slots[i];
}

awq_err tk_pairmap_set(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = pair_key(a, b);
    tk_pairslot *s = pair_find(m, key);
    if (s->key == UINT64_MAX) {
        if ((m->n + 1) * 2 > m->mask + 1) {
            size_t size = (m->mask + 1) * 2;
            tk_pairslot *slots = malloc(size * sizeof *slots);
            if (!slots) return awq_fail(AWQ_ERR_NOMEM, "out of memory (merge table of %zu entries)", size);
            for (size_t i = 0; i < size; i++) slots[i].key = UINT64_MAX;
            tk_pairmap bigger = {slots, size - 1, m->n};
            for (size_t i = 0; i <= m->mask; i++)
                if (m->slots[i].key != UINT64_MAX) *pair_find(&bigger, m->slots[i].key) = m->slots[i];
            free(m->slots);
            *m = bigger;
            s = pair_find(m, key);
        }
        m->n++;
    }
    s->key = key;
    s->rank = rank;
    s->id = id;
    return AWQ_OK;
}

const tk_pairslot *tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b)
{
    const tk_pairslot *s = pair_find(m, pair_key(a, b));
    return s->key == UINT64_MAX ? NULL : s;
}

/* ---- awq_idvec (tokenizer.h): the growable id array encoding appends to; here, with the other
 * containers, so that the BPE model and the encoder both use it without using each other both ways */

awq_err awq_idvec_reserve(awq_idvec *v, size_t extra)
{
    if (v->cap - v->n >= extra) return AWQ_OK;
    size_t cap = v->cap ? v->cap : 1024;
    while (cap - v->n < extra) {
        if (cap > SIZE_MAX / 8) return awq_fail(AWQ_ERR_NOMEM, "out of memory (token ids)");
        cap *= 2;
    }
    int32_t *p = realloc(v->ids, cap * sizeof *p);
    if (!p) return awq_fail(AWQ_ERR_NOMEM, "out of memory (%zu token ids)", cap);
    v->ids = p;
    v->cap = cap;
    return AWQ_OK;
}

awq_err awq_idvec_push(awq_idvec *v, int32_t id)
{
    if (v->n == v->cap) {
        awq_err e = awq_idvec_reserve(v, 1);
        if (e) return e;
    }
    v->ids[v->n++] = id;
    return AWQ_OK;
}

void awq_idvec_free(awq_idvec *v)
{
    if (!v) return;
    free(v->ids);
    memset(v, 0, sizeof *v);
}
