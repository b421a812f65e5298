/* tokenizer_unicode.c - what the tokenizer needs from Unicode: UTF-8 checking and decoding,
 * character classes as Rust defines them (utf8proc's tables), GPT-2's byte <-> character map,
 * and regexes on PCRE2 with Oniguruma's meaning of \s. */
#include "tokenizer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

int awq_utf8_valid(const char *str, size_t len, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time */
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) { i += 8; continue; }
        }
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            if (c == 0xED) hi = 0x9F;      /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            if (c == 0xF4) hi = 0x8F;      /* above U+10FFFF */
        } else {
            if (bad) *bad = i;
            return 0;
        }
        if (i + need >= len) { if (bad) *bad = i; return 0; } /* truncated at the end */
        if (s[i + 1] < lo || s[i + 1] > hi) { if (bad) *bad = i; return 0; }
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) { if (bad) *bad = i; return 0; }
        i += need + 1;
    }
    return 1;
}

int tk_utf8_decode(const unsigned char *s, size_t n, int32_t *cp)
{
    /* The text was validated: the lead byte tells the length (the n check only guards misuse). */
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (len == 1 || len > n) { *cp = (int32_t)c; return 1; }
    if (c < 0xE0) { *cp = (int32_t)((c & 0x1F) << 6 | (s[1] & 0x3F)); return 2; }
    if (c < 0xF0) { *cp = (int32_t)((c & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F)); return 3; }
    *cp = (int32_t)((c & 0x07) << 18 | (s[1] & 0x3F) << 12 | (s[2] & 0x3F) << 6 | (s[3] & 0x3F));
    return 4;
}

int tk_utf8_encode(int32_t cp, char out[4])
{
    return (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

int tk_is_white_space(int32_t c)
{
    /* The White_Space property: a fixed list since Unicode 6.3 (PropList.txt). */
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

int tk_is_numeric(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

int tk_is_alnum(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || tk_is_numeric(c);
}

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes
 * (0-32, 127-160, 173) become U+0100.. in byte order. */
int32_t tk_byte_to_char(unsigned char b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256 + b;
    if (b <= 160) return 256 + 33 + (b - 127);
    return 256 + 33 + 34; /* 173 */
}

int tk_char_to_byte(int32_t cp)
{
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return cp;
    if (cp >= 256 && cp <= 288) return cp - 256;
    if (cp >= 289 && cp <= 322) return cp - 289 + 127;
    if (cp == 323) return 173;
    return -1;
}

/* ---- regexes ---- */

/* Oniguruma (Ruby syntax), which the Rust library uses, differs from PCRE2 in a few escapes:
 * \s / \S are Unicode White_Space (PCRE2's \s also matches U+180E) and \h / \H are hex digits
 * (PCRE2: horizontal space). Rewritten here, inside character classes too
 * ([^\s\p{L}] -> [^\p{White_Space}\p{L}]). ^ and $ are line anchors in Ruby: PCRE2_MULTILINE. */
static char *rewrite_pattern(const char *p, size_t n, size_t *out_n)
{
    char *out = malloc(n * 8 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char c = p[i + 1];
            if (c == 'Q') { /* \Q...\E: literal text, copy through */
                const char *end = NULL;
                for (size_t k = i + 2; k + 1 < n; k++)
                    if (p[k] == '\\' && p[k + 1] == 'E') { end = p + k; break; }
                size_t stop = end ? (size_t)(end - p) + 2 : n;
                memcpy(out + o, p + i, stop - i);
                o += stop - i;
                i = stop - 1;
                continue;
            }
            if (c == 's' || c == 'S' || c == 'h' || c == 'H') {
                const char *rep = c == 's' ? "\\p{White_Space}" : c == 'S' ? "\\P{White_Space}"
                                : c == 'h' ? "\\p{AHex}" : "\\P{AHex}";
                size_t rl = strlen(rep);
                memcpy(out + o, rep, rl);
                o += rl;
            } else {
                out[o++] = p[i];
                out[o++] = c;
            }
            i++;
            continue;
        }
        out[o++] = p[i];
    }
    out[o] = 0;
    *out_n = o;
    return out;
}

awq_err tk_regex_compile(tk_regex *re, const char *pattern, size_t len, const char *what)
{
    memset(re, 0, sizeof *re);
    size_t n = 0;
    char *p = rewrite_pattern(pattern, len, &n);
    if (!p) return awq_fail(AWQ_ERR_NOMEM, "out of memory compiling %s", what);
    int code;
    PCRE2_SIZE at;
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        free(p);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory compiling %s", what);
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    re->code = pcre2_compile((PCRE2_SPTR)p, n, PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &code, &at, cc);
    pcre2_compile_context_free(cc);
    free(p);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return awq_fail(AWQ_ERR_UNSUPPORTED, "%s: regex /%.*s/ is not supported: %s (at offset %zu)", what,
                        (int)(len > 200 ? 200 : len), pattern, (const char *)msg, (size_t)at);
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    return AWQ_OK;
}

void tk_regex_free(tk_regex *re)
{
    if (re->code) pcre2_code_free(re->code);
    memset(re, 0, sizeof *re);
}

awq_err tk_matcher_init(tk_matcher *m)
{
    memset(m, 0, sizeof *m);
    m->md = pcre2_match_data_create(8, NULL);
    m->ctx = pcre2_match_context_create(NULL);
    /* Backtracking over a long run of spaces needs more than the default 32 KiB JIT stack. */
    m->stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL);
    if (!m->md || !m->ctx || !m->stack) {
        tk_matcher_free(m);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory (regex match data)");
    }
    pcre2_jit_stack_assign(m->ctx, NULL, m->stack);
    return AWQ_OK;
}

void tk_matcher_free(tk_matcher *m)
{
    if (m->md) pcre2_match_data_free(m->md);
    if (m->ctx) pcre2_match_context_free(m->ctx);
    if (m->stack) pcre2_jit_stack_free(m->stack);
    memset(m, 0, sizeof *m);
}

int tk_regex_next(const tk_regex *re, tk_matcher *m, const char *s, size_t n, size_t from, size_t *ms,
                  size_t *me)
{
    while (from <= n) {
        int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, from, 0, m->md, m->ctx)
                         : pcre2_match(re->code, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, m->md, m->ctx);
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            awq_fail(AWQ_ERR_UNSUPPORTED, "regex match failed on a piece of %zu bytes: %s", n, (const char *)msg);
            return -(int)AWQ_ERR_UNSUPPORTED;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        if (ov[1] > ov[0]) {
            *ms = ov[0];
            *me = ov[1];
            return 1;
        }
        /* An empty match splits nothing (empty pieces are dropped): search again one character on. */
        if (ov[0] >= n) return 0;
        int32_t cp;
        from = ov[0] + (size_t)tk_utf8_decode((const unsigned char *)s + ov[0], n - ov[0], &cp);
    }
    return 0;
}
