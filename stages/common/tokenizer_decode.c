/* tokenizer_decode.c - ids -> text, as the `tokenizers` library's Tokenizer.decode: each id's token
 * string (vocabulary or added token), special tokens dropped when asked, then the file's "decoder"
 * chain over the LIST of strings (a step works per token unless it joins them, like Fuse), joined.
 * Used by awq-generate to print what a model says; encoding never comes here. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"

typedef struct tk_list { tk_bytes *v; size_t n; } tk_list;

static void list_free(tk_list *l)
{
    for (size_t i = 0; i < l->n; i++) tk_bytes_free(&l->v[i]);
    free(l->v);
    l->v = NULL, l->n = 0;
}

/* every id's token string: the vocabulary's keys, then added tokens (their ids win) */
static awq_err build_id_table(awq_tokenizer *t)
{
    size_t n = (size_t)t->n_ids;
    t->id_tok = calloc(n ? n : 1, sizeof *t->id_tok);
    t->id_len = calloc(n ? n : 1, sizeof *t->id_len);
    if (!t->id_tok || !t->id_len) return awq_fail(AWQ_ERR_NOMEM, "out of memory for the decode table");
    for (size_t i = 0; t->vocab.slots && i <= t->vocab.mask; i++) {
        const tk_slot *s = &t->vocab.slots[i];
        if (s->off == UINT32_MAX || s->val < 0 || (size_t)s->val >= n) continue;
        t->id_tok[s->val] = t->vocab.keys.p + s->off;
        t->id_len[s->val] = s->len;
    }
    for (size_t i = 0; i < t->n_added; i++) {
        if (t->added[i].id < 0 || (size_t)t->added[i].id >= n) continue;
        t->id_tok[t->added[i].id] = t->added[i].content;
        t->id_len[t->added[i].id] = (uint32_t)t->added[i].len;
    }
    return AWQ_OK;
}

static int is_special(const awq_tokenizer *t, int32_t id)
{
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return t->added[i].special;
    return 0;
}

/* ByteLevel: each character is one byte of GPT-2's byte <-> character map */
static awq_err step_bytelevel(tk_bytes *b)
{
    tk_bytes o = {0};
    awq_err e = tk_bytes_reserve(&o, b->n + 1);
    for (size_t i = 0; !e && i < b->n;) {
        int32_t cp;
        int k = tk_utf8_decode((const unsigned char *)b->p + i, b->n - i, &cp);
        int byte = tk_char_to_byte(cp);
        char c = (char)byte;
        e = byte >= 0 ? tk_bytes_put(&o, &c, 1) : tk_bytes_put(&o, b->p + i, (size_t)k);
        i += (size_t)k;
    }
    tk_bytes_free(b);
    *b = o;
    return e;
}

static awq_err replace_all(tk_bytes *b, const char *pat, size_t pn, const char *rep, size_t rn)
{
    if (pn == 0) return AWQ_OK;
    tk_bytes o = {0};
    awq_err e = tk_bytes_reserve(&o, b->n + 1);
    for (size_t i = 0; !e && i < b->n;) {
        if (i + pn <= b->n && memcmp(b->p + i, pat, pn) == 0) e = tk_bytes_put(&o, rep, rn), i += pn;
        else e = tk_bytes_put(&o, b->p + i, 1), i++;
    }
    tk_bytes_free(b);
    *b = o;
    return e;
}

static int byte_token(const tk_bytes *b)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->n != 6 || memcmp(b->p, "<0x", 3) || b->p[5] != '>') return -1;
    const char *h = strchr(hex, b->p[3]), *l = strchr(hex, b->p[4]);
    return h && l && *h && *l ? (int)((h - hex) << 4 | (l - hex)) : -1;
}

/* ByteFallback: a run of <0xNN> tokens becomes its bytes when they are valid UTF-8, else one
 * U+FFFD per byte token (the library's rule) */
static awq_err step_bytefallback(tk_list *l)
{
    for (size_t i = 0; i < l->n;) {
        size_t j = i;
        while (j < l->n && byte_token(&l->v[j]) >= 0) j++;
        if (j == i) { i++; continue; }
        char run[64];
        size_t rn = 0, bad;
        for (size_t k = i; k < j && rn < sizeof run; k++) run[rn++] = (char)byte_token(&l->v[k]);
        int ok = j - i <= sizeof run && awq_utf8_valid(run, rn, &bad);
        for (size_t k = i; k < j; k++) {
            l->v[k].n = 0;
            awq_err e = ok ? (k == i ? tk_bytes_put(&l->v[k], run, rn) : AWQ_OK) : tk_bytes_put(&l->v[k], "\xEF\xBF\xBD", 3);
            if (e) return e;
        }
        i = j;
    }
    return AWQ_OK;
}

static awq_err step_fuse(tk_list *l)
{
    if (l->n < 2) return AWQ_OK;
    for (size_t i = 1; i < l->n; i++) {
        awq_err e = tk_bytes_put(&l->v[0], l->v[i].p, l->v[i].n);
        if (e) return e;
        tk_bytes_free(&l->v[i]);
    }
    l->n = 1;
    return AWQ_OK;
}

/* Strip: up to `start` leading and `stop` trailing copies of one character, per token */
static void step_strip(tk_list *l, const char *c, size_t cn, json_int_t start, json_int_t stop)
{
    for (size_t i = 0; cn && i < l->n; i++) {
        tk_bytes *b = &l->v[i];
        if (b->n == 0) continue;
        size_t a = 0;
        for (json_int_t k = 0; k < start && a + cn <= b->n && !memcmp(b->p + a, c, cn); k++) a += cn;
        size_t z = b->n;
        for (json_int_t k = 0; k < stop && z >= a + cn && !memcmp(b->p + z - cn, c, cn); k++) z -= cn;
        memmove(b->p, b->p + a, z - a);
        b->n = z - a;
    }
}

static awq_err run_step(awq_tokenizer *t, const json_t *d, tk_list *l, int depth)
{
    const char *type = tk_jstr(d, "type", NULL);
    if (!type) return tk_bad(t, "decoder without a type");
    awq_err e = AWQ_OK;
    if (!strcmp(type, "Sequence") && depth < 8) {
        size_t i;
        const json_t *s;
        json_array_foreach(json_object_get(d, "decoders"), i, s) if ((e = run_step(t, s, l, depth + 1))) return e;
        return AWQ_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        for (size_t i = 0; !e && i < l->n; i++) e = step_bytelevel(&l->v[i]);
        return e;
    }
    if (!strcmp(type, "Replace")) {
        size_t pn, rn;
        const char *pat = tk_jstr(json_object_get(d, "pattern"), "String", &pn), *rep = tk_jstr(d, "content", &rn);
        if (!pat || !rep) return tk_unsupported(t, "decoder Replace with a non-string pattern");
        for (size_t i = 0; !e && i < l->n; i++) e = replace_all(&l->v[i], pat, pn, rep, rn);
        return e;
    }
    if (!strcmp(type, "ByteFallback")) return step_bytefallback(l);
    if (!strcmp(type, "Fuse")) return step_fuse(l);
    if (!strcmp(type, "Strip")) {
        size_t cn;
        const char *c = tk_jstr(d, "content", &cn);
        step_strip(l, c ? c : " ", c ? cn : 1, json_integer_value(json_object_get(d, "start")),
                   json_integer_value(json_object_get(d, "stop")));
        return AWQ_OK;
    }
    if (!strcmp(type, "Metaspace")) { /* the replacement back to ' '; the first token loses its prepended one */
        size_t rn;
        const char *r = tk_jstr(d, "replacement", &rn);
        const char *scheme = tk_jstr(d, "prepend_scheme", NULL);
        int prepend = scheme ? strcmp(scheme, "never") != 0 : tk_jbool(d, "add_prefix_space", 1);
        for (size_t i = 0; !e && i < l->n; i++) {
            e = replace_all(&l->v[i], r ? r : "\xE2\x96\x81", r ? rn : 3, " ", 1);
            if (!e && i == 0 && prepend && l->v[0].n && l->v[0].p[0] == ' ') memmove(l->v[0].p, l->v[0].p + 1, --l->v[0].n);
        }
        return e;
    }
    return tk_unsupported(t, "decoder type '%s' (awq_tokenizer_decode)", type);
}

awq_err awq_tokenizer_decode(awq_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text, size_t *len)
{
    *text = NULL;
    if (len) *len = 0;
    awq_err e = t->id_tok ? AWQ_OK : build_id_table(t);
    tk_list l = {calloc(n ? n : 1, sizeof *l.v), 0};
    if (!e && !l.v) e = awq_fail(AWQ_ERR_NOMEM, "out of memory decoding %zu ids", n);
    for (size_t i = 0; !e && i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->id_tok[id]) {
            e = awq_fail(AWQ_ERR_ARG, "'%s': id %d (position %zu) is no token of this tokenizer", t->name, id, i);
            break;
        }
        if (skip_special && is_special(t, id)) continue;
        e = tk_bytes_put(&l.v[l.n++], t->id_tok[id], t->id_len[id]);
    }
    if (!e && t->decoder && json_is_object(t->decoder)) e = run_step(t, t->decoder, &l, 0);
    tk_bytes out = {0};
    if (!e) e = tk_bytes_reserve(&out, 1);
    for (size_t i = 0; !e && i < l.n; i++) e = tk_bytes_put(&out, l.v[i].p, l.v[i].n);
    if (!e) e = tk_bytes_put(&out, "", 1);
    list_free(&l);
    if (e) { tk_bytes_free(&out); return e; }
    *text = out.p;
    if (len) *len = out.n - 1;
    return AWQ_OK;
}
