/* tokenizer_norm.c - normalizers: Unicode normal forms (utf8proc), Prepend, Replace, Strip.
 * Only the normalized text matters for ids, so no alignment tracking (the Rust library keeps
 * one for offsets). Steps ping-pong between two scratch buffers of the tokenizer. */
#include "tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

static int all_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

static awq_err normal_form_run(int kind, const char *s, size_t n, tk_bytes *dst)
{
    utf8proc_option_t opt = UTF8PROC_STABLE;
    switch (kind) {
    case TK_N_NFC: opt |= UTF8PROC_COMPOSE; break;
    case TK_N_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case TK_N_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    default: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t *buf = NULL;
    utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &buf, opt);
    if (len < 0) {
        free(buf);
        if (len == UTF8PROC_ERROR_NOMEM) return awq_fail(AWQ_ERR_NOMEM, "out of memory normalizing text");
        return awq_fail(AWQ_ERR_FORMAT, "cannot normalize text: %s", utf8proc_errmsg(len));
    }
    awq_err e = tk_bytes_put(dst, buf, (size_t)len);
    free(buf);
    return e;
}

/* Mostly-ASCII text: only the stretches with non-ASCII characters go through utf8proc. A cut
 * between two ASCII characters is safe for every normal form: ASCII characters are starters,
 * invariant, never the second part of a composition and never compose with each other. The
 * ASCII character before a non-ASCII stretch goes with it (it may take a combining mark). */
static awq_err normal_form(int kind, const char *s, size_t n, tk_bytes *dst)
{
    size_t i = 0;
    awq_err e = AWQ_OK;
    while (!e && i < n) {
        size_t j = i;
        while (j < n && (unsigned char)s[j] < 0x80) j++;
        if (j == n) return tk_bytes_put(dst, s + i, n - i);
        size_t start = j > i ? j - 1 : j; /* keep the base character with its marks */
        size_t end = j;
        while (end < n && !((unsigned char)s[end] < 0x80 && (end + 1 == n || (unsigned char)s[end + 1] < 0x80)))
            end++;
        e = tk_bytes_put(dst, s + i, start - i);
        if (!e) e = normal_form_run(kind, s + start, end - start, dst);
        i = end;
    }
    return e;
}

/* *at_zero: set when a match starts at offset 0 */
static awq_err replace_literal(const tk_norm *r, const char *s, size_t n, tk_bytes *dst, int *at_zero)
{
    size_t i = 0;
    awq_err e = AWQ_OK;
    while (!e && i < n) {
        const char *hit = memmem(s + i, n - i, r->a, r->a_len);
        if (!hit) break;
        size_t at = (size_t)(hit - s);
        if (at == 0) *at_zero = 1;
        e = tk_bytes_put(dst, s + i, at - i);
        if (!e) e = tk_bytes_put(dst, r->b, r->b_len);
        i = at + r->a_len;
    }
    if (!e && i < n) e = tk_bytes_put(dst, s + i, n - i);
    return e;
}

static awq_err replace_regex(awq_tokenizer *t, const tk_norm *r, const char *s, size_t n, tk_bytes *dst, int *at_zero)
{
    size_t i = 0, ms, me;
    awq_err e = AWQ_OK;
    int rc;
    while (!e && (rc = tk_regex_next(&r->re, &t->mt, s, n, i, &ms, &me)) == 1) {
        if (ms == 0) *at_zero = 1;
        e = tk_bytes_put(dst, s + i, ms - i);
        if (!e) e = tk_bytes_put(dst, r->b, r->b_len);
        i = me;
    }
    if (!e && rc < 0) e = (awq_err)-rc;
    if (!e && i < n) e = tk_bytes_put(dst, s + i, n - i);
    return e;
}

static void strip(const tk_norm *r, const char **s, size_t *n)
{
    const unsigned char *p = (const unsigned char *)*s;
    size_t a = 0, b = *n;
    int32_t cp;
    while (r->left && a < b) {
        int k = tk_utf8_decode(p + a, b - a, &cp);
        if (!tk_is_white_space(cp)) break;
        a += (size_t)k;
    }
    while (r->right && b > a) {
        size_t k = b - 1;
        while (k > a && (p[k] & 0xC0) == 0x80) k--; /* start of the last character */
        tk_utf8_decode(p + k, b - k, &cp);
        if (!tk_is_white_space(cp)) break;
        b = k;
    }
    *s += a;
    *n = b - a;
}

awq_err tk_normalize(awq_tokenizer *t, const char *s, size_t n, const char **out, size_t *out_n, int *at_start)
{
    const char *cur = s;
    size_t cur_n = n;
    tk_bytes *dst = &t->norm_a;
    for (size_t k = 0; k < t->n_norm; k++) {
        const tk_norm *r = &t->norm[k];
        awq_err e = AWQ_OK;
        dst->n = 0;
        switch (r->kind) {
        case TK_N_NFC: case TK_N_NFD: case TK_N_NFKC: case TK_N_NFKD:
            if (all_ascii(cur, cur_n)) continue; /* ASCII is invariant under every normal form */
            e = normal_form(r->kind, cur, cur_n, dst);
            break;
        case TK_N_PREPEND:
            if (cur_n == 0) continue; /* the Rust library prepends to non-empty text only */
            e = tk_bytes_put(dst, r->a, r->a_len);
            if (!e) e = tk_bytes_put(dst, cur, cur_n);
            break;
        case TK_N_REPLACE: {
            int at_zero = 0;
            e = r->a ? replace_literal(r, cur, cur_n, dst, &at_zero) : replace_regex(t, r, cur, cur_n, dst, &at_zero);
            /* text that starts with a match replaced by nothing no longer starts with the input's
             * first character (what Metaspace's prepend_scheme "first" looks at) */
            if (at_zero && r->b_len == 0) *at_start = 0;
            break;
        }
        case TK_N_STRIP: {
            const char *before = cur;
            strip(r, &cur, &cur_n);
            if (cur != before) *at_start = 0;
            continue;
        }
        }
        if (e) return e;
        cur = dst->p ? dst->p : "";
        cur_n = dst->n;
        dst = dst == &t->norm_a ? &t->norm_b : &t->norm_a;
    }
    *out = cur;
    *out_n = cur_n;
    return AWQ_OK;
}

void tk_norm_free(tk_norm *r)
{
    free(r->a);
    free(r->b);
    tk_regex_free(&r->re);
}
