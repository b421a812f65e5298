/* tokenizer_pre.c - pre-tokenizers: cut normalized text into the pieces the BPE model encodes
 * one by one (Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit). Each step maps
 * a list of pieces to a new list, as the Rust library's PreTokenizedString::split does: a
 * pattern gives matched and unmatched stretches, the step's behavior groups them, empty pieces
 * are dropped. The ByteLevel byte -> character mapping itself is folded into the model
 * (tokenizer_bpe.c works on raw bytes), so ByteLevel must be the last step. */
#include "tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

static awq_err add_range(awq_tokenizer *t, size_t s, size_t e, int match)
{
    if (t->n_rng == t->rng_cap) {
        size_t cap = t->rng_cap ? t->rng_cap * 2 : 256;
        tk_range *r = realloc(t->rng, cap * sizeof *r);
        if (!r) return awq_fail(AWQ_ERR_NOMEM, "out of memory (pre-tokenizer)");
        t->rng = r;
        t->rng_cap = cap;
    }
    t->rng[t->n_rng++] = (tk_range){s, e, match};
    return AWQ_OK;
}

static awq_err add_piece(tk_pieces *p, const char *s, size_t n, int at_start)
{
    if (n == 0) return AWQ_OK;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        tk_piece *v = realloc(p->v, cap * sizeof *v);
        if (!v) return awq_fail(AWQ_ERR_NOMEM, "out of memory (pre-tokenizer)");
        p->v = v;
        p->cap = cap;
    }
    size_t off = p->text.n;
    awq_err e = tk_bytes_put(&p->text, s, n);
    if (e) return e;
    p->v[p->n++] = (tk_piece){off, n, at_start};
    return AWQ_OK;
}

/* Matched / unmatched stretches of s[0..n) for a regex or a literal: like the Rust Pattern
 * impls, gaps between matches are unmatched stretches. */
static awq_err find_pattern(awq_tokenizer *t, const tk_regex *re, const char *lit, size_t lit_len, const char *s,
                            size_t n)
{
    size_t prev = 0, from = 0, ms, me;
    awq_err e = AWQ_OK;
    for (;;) {
        if (re) {
            int rc = tk_regex_next(re, &t->mt, s, n, from, &ms, &me);
            if (rc < 0) return (awq_err)-rc;
            if (rc == 0) break;
        } else {
            const char *hit = from < n ? memmem(s + from, n - from, lit, lit_len) : NULL;
            if (!hit) break;
            ms = (size_t)(hit - s);
            me = ms + lit_len;
        }
        if (ms > prev) e = add_range(t, prev, ms, 0);
        if (!e) e = add_range(t, ms, me, 1);
        if (e) return e;
        prev = from = me;
    }
    return prev < n ? add_range(t, prev, n, 0) : AWQ_OK;
}

enum { CH_NUMERIC, CH_SPACE, CH_EQUAL };

/* Every character for which the predicate holds is a match of its own (the Rust Fn(char) Pattern). */
static awq_err find_chars(awq_tokenizer *t, int pred, const char *eq, int eq_len, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t prev = 0, i = 0;
    awq_err e = AWQ_OK;
    while (i < n) {
        int32_t cp;
        int k = tk_utf8_decode(p + i, n - i, &cp);
        int hit = pred == CH_NUMERIC ? tk_is_numeric(cp)
                  : pred == CH_SPACE ? tk_is_white_space(cp)
                                     : (k == eq_len && memcmp(s + i, eq, (size_t)k) == 0);
        if (hit) {
            if (i > prev) e = add_range(t, prev, i, 0);
            if (!e) e = add_range(t, i, i + (size_t)k, 1);
            if (e) return e;
            prev = i + (size_t)k;
        }
        i += (size_t)k;
    }
    return prev < n ? add_range(t, prev, n, 0) : AWQ_OK;
}

/* Group t->rng by behavior (SplitDelimiterBehavior in the Rust library) and append the pieces. */
static awq_err emit(awq_tokenizer *t, int behavior, int invert, const char *s, int at_start, tk_pieces *out)
{
    tk_range *r = t->rng;
    size_t n = t->n_rng, m = 0;
    if (invert)
        for (size_t i = 0; i < n; i++) r[i].match = !r[i].match;
    int prev_match = 0;
    switch (behavior) {
    case TK_B_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!r[i].match) r[m++] = r[i];
        break;
    case TK_B_ISOLATED:
        m = n;
        break;
    case TK_B_MERGED_PREV: /* a match joins the stretch before it (not a previous match) */
        for (size_t i = 0; i < n; i++) {
            if (r[i].match && !prev_match && m > 0) r[m - 1].e = r[i].e;
            else r[m++] = r[i];
            prev_match = r[i].match;
        }
        break;
    case TK_B_MERGED_NEXT: { /* the same from the right: a match joins the stretch after it */
        size_t k = n;
        for (size_t i = n; i-- > 0;) {
            tk_range cur = r[i];
            if (cur.match && !prev_match && k < n) r[k].s = cur.s;
            else r[--k] = cur;
            prev_match = cur.match;
        }
        m = n - k;
        memmove(r, r + k, m * sizeof *r);
        break;
    }
    case TK_B_CONTIGUOUS: /* consecutive stretches of the same kind are one piece */
        for (size_t i = 0; i < n; i++) {
            if (m > 0 && r[i].match == prev_match) r[m - 1].e = r[i].e;
            else r[m++] = r[i];
            prev_match = r[i].match;
        }
        break;
    }
    for (size_t i = 0; i < m; i++) {
        awq_err e = add_piece(out, s + r[i].s, r[i].e - r[i].s, at_start && r[i].s == 0);
        if (e) return e;
    }
    return AWQ_OK;
}

static awq_err metaspace(awq_tokenizer *t, const tk_pre *p, const char *s, size_t n, int at_start, tk_pieces *out)
{
    tk_bytes *b = &t->tmp;
    b->n = 0;
    int starts = n >= (size_t)p->repl_len && memcmp(s, p->repl, (size_t)p->repl_len) == 0;
    if (!starts && n > 0 && s[0] == ' ') starts = 1; /* the space becomes the replacement */
    awq_err e = AWQ_OK;
    if (!starts && (p->prepend_scheme == TK_PREPEND_ALWAYS || (p->prepend_scheme == TK_PREPEND_FIRST && at_start)))
        e = tk_bytes_put(b, p->repl, (size_t)p->repl_len);
    for (size_t i = 0; !e && i < n;) {
        const char *sp = memchr(s + i, ' ', n - i);
        size_t stop = sp ? (size_t)(sp - s) : n;
        e = tk_bytes_put(b, s + i, stop - i);
        if (!e && sp) e = tk_bytes_put(b, p->repl, (size_t)p->repl_len);
        i = stop + 1;
    }
    if (e) return e;
    if (!p->split) return add_piece(out, b->p, b->n, at_start);
    t->n_rng = 0;
    e = find_chars(t, CH_EQUAL, p->repl, p->repl_len, b->p, b->n);
    return e ? e : emit(t, TK_B_MERGED_NEXT, 0, b->p, at_start, out);
}

static awq_err step(awq_tokenizer *t, const tk_pre *p, const char *s, size_t n, int at_start, tk_pieces *out)
{
    awq_err e = AWQ_OK;
    t->n_rng = 0;
    switch (p->kind) {
    case TK_P_SPLIT:
        e = find_pattern(t, p->lit ? NULL : &p->re, p->lit, p->lit_len, s, n);
        return e ? e : emit(t, p->behavior, p->invert, s, at_start, out);
    case TK_P_BYTELEVEL:
        if (p->add_prefix_space && (n == 0 || s[0] != ' ')) {
            tk_bytes *b = &t->tmp;
            b->n = 0;
            if ((e = tk_bytes_put(b, " ", 1)) || (e = tk_bytes_put(b, s, n))) return e;
            s = b->p;
            n = b->n;
        }
        if (!p->use_regex) return add_piece(out, s, n, at_start);
        e = find_pattern(t, &p->re, NULL, 0, s, n);
        return e ? e : emit(t, TK_B_ISOLATED, 0, s, at_start, out);
    case TK_P_METASPACE:
        return metaspace(t, p, s, n, at_start, out);
    case TK_P_DIGITS:
        e = find_chars(t, CH_NUMERIC, NULL, 0, s, n);
        return e ? e : emit(t, p->individual ? TK_B_ISOLATED : TK_B_CONTIGUOUS, 0, s, at_start, out);
    case TK_P_WHITESPACE: /* keep the \w+ and [^\w\s]+ matches, drop the rest */
        e = find_pattern(t, &p->re, NULL, 0, s, n);
        return e ? e : emit(t, TK_B_REMOVED, 1, s, at_start, out);
    case TK_P_WSPLIT:
        e = find_chars(t, CH_SPACE, NULL, 0, s, n);
        return e ? e : emit(t, TK_B_REMOVED, 0, s, at_start, out);
    }
    return AWQ_OK;
}

awq_err tk_pretokenize(awq_tokenizer *t, const char *s, size_t n, int at_start, tk_pieces **out)
{
    tk_pieces *cur = &t->pa, *next = &t->pb;
    cur->n = 0;
    cur->text.n = 0;
    awq_err e = add_piece(cur, s, n, at_start);
    for (size_t k = 0; !e && k < t->n_pre; k++) {
        const tk_pre *p = &t->pre[k];
        if (p->kind == TK_P_BYTELEVEL && !p->add_prefix_space && !p->use_regex) continue; /* mapping only */
        next->n = 0;
        next->text.n = 0;
        for (size_t i = 0; !e && i < cur->n; i++)
            e = step(t, p, cur->text.p + cur->v[i].off, cur->v[i].len, cur->v[i].at_start, next);
        tk_pieces *tmp = cur;
        cur = next;
        next = tmp;
    }
    *out = cur;
    return e;
}

void tk_pre_free(tk_pre *p)
{
    tk_regex_free(&p->re);
    free(p->lit);
}
