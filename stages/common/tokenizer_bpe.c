/* tokenizer_bpe.c - the BPE model: one piece of text -> ids, exactly as the Rust library's
 * BPE::merge_word + Word::merge_all. The piece starts as one symbol per character (per byte for
 * byte-level vocabularies); unknown characters become byte-fallback tokens "<0xXX>" or the unk
 * token. Then, repeatedly, the adjacent pair with the lowest merge rank is merged, the leftmost
 * one among equal ranks: a binary min-heap of (rank << 32 | position) with stale entries
 * skipped when popped, so a whole document of one piece (SentencePiece-style, no pre-tokenizer)
 * costs O(n log n). Words seen recently are answered from a cache. */
#include "tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

enum {
    CACHE_MAX_PIECE = 256,         /* longer pieces are rare and not worth keeping */
    CACHE_MAX_WORDS = 1 << 17,     /* cleared when full: a few MiB at most */
    CACHE_MAX_IDS = 1 << 21,
};

static awq_err scratch_reserve(awq_tokenizer *t, size_t n_sym)
{
    if (n_sym <= t->sym_cap) return AWQ_OK;
    size_t cap = t->sym_cap ? t->sym_cap : 64;
    while (cap < n_sym) cap *= 2;
    int32_t *a = realloc(t->sym_id, cap * sizeof *a);
    if (a) t->sym_id = a;
    int32_t *b = a ? realloc(t->sym_prev, cap * sizeof *b) : NULL;
    if (b) t->sym_prev = b;
    int32_t *c = b ? realloc(t->sym_next, cap * sizeof *c) : NULL;
    if (c) t->sym_next = c;
    uint64_t *h = c ? realloc(t->heap, 3 * cap * sizeof *h) : NULL;
    if (h) t->heap = h;
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of memory (BPE of a piece of %zu symbols)", n_sym);
    t->sym_cap = cap;
    t->heap_cap = 3 * cap;
    return AWQ_OK;
}

static inline void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

static inline void push_pair(const awq_tokenizer *t, uint64_t *heap, size_t *nh, int32_t pos)
{
    const tk_pairslot *m = tk_pairmap_get(&t->merges, t->sym_id[pos], t->sym_id[t->sym_next[pos]]);
    if (m) heap_push(heap, nh, (uint64_t)(uint32_t)m->rank << 32 | (uint32_t)pos);
}

/* Initial symbols of s (HF merge_word). Returns the count. */
static size_t initial_symbols(awq_tokenizer *t, const char *s, size_t n)
{
    int32_t *sym = t->sym_id;
    size_t ns = 0;
    int32_t pending_unk = -1;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = 1;
        int32_t id;
        if (t->byte_level) id = t->byte_id[c];
        else if (c < 0x80) id = t->ascii_id[c];
        else {
            int32_t cp;
            k = (size_t)tk_utf8_decode((const unsigned char *)s + i, n - i, &cp);
            id = tk_strmap_get(&t->vocab, s + i, k);
        }
        if (id >= 0) {
            if (pending_unk >= 0) sym[ns++] = pending_unk, pending_unk = -1;
            sym[ns++] = id;
            i += k;
            continue;
        }
        /* not in the vocabulary: its text as the model sees it (mapped for byte-level) */
        char mapped[4];
        const char *cs = s + i;
        size_t cl = k;
        if (t->byte_level) cs = mapped, cl = (size_t)tk_utf8_encode(tk_byte_to_char(c), mapped);
        i += k;
        if (t->byte_fallback) {
            size_t j = 0;
            while (j < cl && t->fallback_id[(unsigned char)cs[j]] >= 0) j++;
            if (j == cl) {
                /* As in the Rust library, a pending unk is not flushed before fallback bytes. */
                for (j = 0; j < cl; j++) sym[ns++] = t->fallback_id[(unsigned char)cs[j]];
                continue;
            }
        }
        if (t->unk_id >= 0) {
            if (pending_unk >= 0 && !t->fuse_unk) sym[ns++] = pending_unk;
            pending_unk = t->unk_id;
        } /* no unk token: the character is dropped (the Rust library does the same) */
    }
    if (pending_unk >= 0) sym[ns++] = pending_unk;
    return ns;
}

static void merge_all(awq_tokenizer *t, size_t ns)
{
    int32_t *id = t->sym_id, *prev = t->sym_prev, *next = t->sym_next;
    uint64_t *heap = t->heap;
    size_t nh = 0;
    for (size_t i = 0; i < ns; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < ns ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < ns; i++) push_pair(t, heap, &nh, (int32_t)i);
    while (nh) {
        uint64_t top = heap_pop(heap, &nh);
        int32_t pos = (int32_t)(uint32_t)top, rank = (int32_t)(top >> 32);
        int32_t right = next[pos];
        if (id[pos] < 0 || right < 0) continue; /* merged away, or now the last symbol */
        const tk_pairslot *m = tk_pairmap_get(&t->merges, id[pos], id[right]);
        if (!m || m->rank != rank) continue;   /* stale: the pair at pos has changed */
        id[pos] = m->id;
        id[right] = -1;
        next[pos] = next[right];
        if (next[pos] >= 0) prev[next[pos]] = pos;
        if (prev[pos] >= 0) push_pair(t, heap, &nh, prev[pos]);
        if (next[pos] >= 0) push_pair(t, heap, &nh, pos);
    }
}

static awq_err cache_store(awq_tokenizer *t, const char *s, size_t n, const int32_t *ids, size_t count)
{
    if (t->cache.n >= CACHE_MAX_WORDS || t->cache_n + count + 1 > CACHE_MAX_IDS) {
        tk_strmap_clear(&t->cache);
        t->cache_n = 0;
    }
    if (t->cache_n + count + 1 > t->cache_cap) {
        size_t cap = t->cache_cap ? t->cache_cap * 2 : 4096;
        while (cap < t->cache_n + count + 1) cap *= 2;
        int32_t *p = realloc(t->cache_ids, cap * sizeof *p);
        if (!p) return AWQ_OK; /* the cache is an optimization only */
        t->cache_ids = p;
        t->cache_cap = cap;
    }
    awq_err e = tk_strmap_set(&t->cache, s, n, (int32_t)t->cache_n);
    if (e) { awq_clear_error(); return AWQ_OK; }
    t->cache_ids[t->cache_n] = (int32_t)count;
    if (count) memcpy(t->cache_ids + t->cache_n + 1, ids, count * sizeof *ids);
    t->cache_n += count + 1;
    return AWQ_OK;
}

static awq_err encode_word(awq_tokenizer *t, const char *s, size_t n, awq_idvec *out)
{
    if (n >= INT32_MAX / 2) return awq_fail(AWQ_ERR_ARG, "a piece of %zu bytes is too long to encode", n);
    int cacheable = n <= CACHE_MAX_PIECE;
    if (cacheable) {
        int32_t at = tk_strmap_get(&t->cache, s, n);
        if (at >= 0) {
            size_t count = (size_t)t->cache_ids[at];
            if (count == 0) return AWQ_OK;
            awq_err e = awq_idvec_reserve(out, count);
            if (e) return e;
            memcpy(out->ids + out->n, t->cache_ids + at + 1, count * sizeof *out->ids);
            out->n += count;
            return AWQ_OK;
        }
    }
    size_t before = out->n;
    awq_err e = AWQ_OK;
    int32_t whole = t->ignore_merges ? tk_strmap_get(t->byte_level ? &t->raw_vocab : &t->vocab, s, n) : -1;
    if (whole >= 0) {
        e = awq_idvec_push(out, whole);
    } else {
        /* at most 2 symbols per byte (a byte-level byte falling back to a 2-byte character) */
        if ((e = scratch_reserve(t, 2 * n + 1))) return e;
        size_t ns = initial_symbols(t, s, n);
        merge_all(t, ns);
        if (ns && (e = awq_idvec_reserve(out, ns)) == AWQ_OK)
            for (int32_t i = 0; i >= 0; i = t->sym_next[i]) out->ids[out->n++] = t->sym_id[i];
    }
    if (!e && cacheable) e = cache_store(t, s, n, out->n > before ? out->ids + before : NULL, out->n - before);
    return e;
}

/* Is the character at s a one-character token? (Else it falls back to bytes or unk, and merges
 * of those are not tracked by the bigram table, so no cut is made next to it.) */
static int known_char(const awq_tokenizer *t, const char *s, size_t k)
{
    unsigned char c = (unsigned char)s[0];
    return c < 0x80 ? t->ascii_id[c] >= 0 : tk_strmap_get(&t->vocab, s, k) >= 0;
}

awq_err tk_bpe_encode(awq_tokenizer *t, const char *s, size_t n, awq_idvec *out)
{
    if (n == 0) return AWQ_OK;
    if (!t->use_bigrams || n <= 16) return encode_word(t, s, n, out);
    /* Cut where no merge can join the neighbours: BPE on the parts gives the same ids (merges
     * are between adjacent symbols, and the order of merges inside a part does not depend on
     * the other parts), and the parts are short, repeat, and hit the cache. */
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, i = 0;
    int32_t prev_cp = -1;
    int prev_known = 0;
    while (i < n) {
        int32_t cp;
        size_t k = (size_t)tk_utf8_decode(p + i, n - i, &cp);
        int known = known_char(t, s + i, k);
        if (prev_known && known && !tk_pairmap_get(&t->bigrams, prev_cp, cp)) {
            awq_err e = encode_word(t, s + start, i - start, out);
            if (e) return e;
            start = i;
        }
        prev_cp = cp;
        prev_known = known;
        i += k;
    }
    return encode_word(t, s + start, n - start, out);
}

void tk_bpe_scratch_free(awq_tokenizer *t)
{
    free(t->sym_id);
    free(t->sym_prev);
    free(t->sym_next);
    free(t->heap);
    free(t->cache_ids);
    tk_strmap_free(&t->cache);
    t->sym_id = t->sym_prev = t->sym_next = NULL;
    t->heap = NULL;
    t->cache_ids = NULL;
    t->sym_cap = t->heap_cap = t->cache_n = t->cache_cap = 0;
}
