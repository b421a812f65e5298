/* tokenizer_load.c - tokenizer.json (the Rust library's serialization) into an awq_tokenizer:
 * the file, normalizer, pre-tokenizer and BPE model (vocabulary, merges resolved to id pairs);
 * added tokens and post-processor are read by tokenizer_special.c. What cannot be reproduced
 * exactly is refused here, naming the feature. */
#include "tokenizer_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {"String": s} or {"Regex": r}: *lit gets the string (malloc'ed) or re the compiled regex. */
static awq_err parse_pattern(awq_tokenizer *t, const json_t *pat, const char *what, char **lit, size_t *lit_len,
                             tk_regex *re)
{
    size_t n;
    const char *s;
    if ((s = tk_jstr(pat, "String", &n))) {
        if (n == 0) return tk_bad(t, "%s: empty string pattern", what);
        if (!(*lit = tk_dup(s, n))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
        *lit_len = n;
        return AWQ_OK;
    }
    if ((s = tk_jstr(pat, "Regex", &n))) {
        char where[128];
        snprintf(where, sizeof where, "'%s': %s", t->name, what);
        return tk_regex_compile(re, s, n, where);
    }
    return tk_bad(t, "%s: pattern is neither {\"String\": ...} nor {\"Regex\": ...}", what);
}

/* ---- normalizer ---- */

static awq_err add_norm(awq_tokenizer *t, tk_norm **out)
{
    tk_norm *v = realloc(t->norm, (t->n_norm + 1) * sizeof *v);
    if (!v) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    t->norm = v;
    *out = memset(&v[t->n_norm++], 0, sizeof *v);
    return AWQ_OK;
}

static awq_err parse_normalizer(awq_tokenizer *t, const json_t *n, int depth)
{
    if (!n || json_is_null(n)) return AWQ_OK;
    const char *type = tk_jstr(n, "type", NULL);
    if (!json_is_object(n) || !type) return tk_bad(t, "normalizer has no \"type\"");
    if (depth > 8) return tk_unsupported(t, "normalizer Sequences nested more than 8 deep");
    if (!strcmp(type, "Sequence")) {
        const json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list)) return tk_bad(t, "normalizer Sequence without a \"normalizers\" list");
        for (size_t i = 0; i < json_array_size(list); i++) {
            awq_err e = parse_normalizer(t, json_array_get(list, i), depth + 1);
            if (e) return e;
        }
        return AWQ_OK;
    }
    static const char *forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
    static const int form_kind[] = {TK_N_NFC, TK_N_NFD, TK_N_NFKC, TK_N_NFKD};
    tk_norm *r;
    awq_err e;
    for (int i = 0; i < 4; i++)
        if (!strcmp(type, forms[i])) {
            if ((e = add_norm(t, &r))) return e;
            r->kind = form_kind[i];
            return AWQ_OK;
        }
    size_t len;
    const char *s;
    if (!strcmp(type, "Prepend")) {
        if (!(s = tk_jstr(n, "prepend", &len))) return tk_bad(t, "Prepend normalizer without \"prepend\"");
        if ((e = add_norm(t, &r))) return e;
        r->kind = TK_N_PREPEND;
        r->a_len = len;
        return (r->a = tk_dup(s, len)) ? AWQ_OK : awq_fail(AWQ_ERR_NOMEM, "out of memory");
    }
    if (!strcmp(type, "Replace")) {
        if (!(s = tk_jstr(n, "content", &len))) return tk_bad(t, "Replace normalizer without \"content\"");
        if ((e = add_norm(t, &r))) return e;
        r->kind = TK_N_REPLACE;
        r->b_len = len;
        if (!(r->b = tk_dup(s, len))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
        return parse_pattern(t, json_object_get(n, "pattern"), "Replace normalizer", &r->a, &r->a_len, &r->re);
    }
    if (!strcmp(type, "Strip")) {
        if ((e = add_norm(t, &r))) return e;
        r->kind = TK_N_STRIP;
        r->left = tk_jbool(n, "strip_left", 1);
        r->right = tk_jbool(n, "strip_right", 1);
        return AWQ_OK;
    }
    return tk_unsupported(t, "normalizer '%s' is not supported", type);
}

/* ---- pre-tokenizer ---- */

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* Oniguruma's \w is Alphabetic + marks + decimal digits + connector punctuation + Join_Control;
 * PCRE2's is narrower, so spell it out. */
static const char WHITESPACE_PATTERN[] =
    "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+|[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}\\s]+";

static awq_err add_pre(awq_tokenizer *t, int kind, tk_pre **out)
{
    tk_pre *v = realloc(t->pre, (t->n_pre + 1) * sizeof *v);
    if (!v) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    t->pre = v;
    *out = memset(&v[t->n_pre++], 0, sizeof *v);
    (*out)->kind = kind;
    return AWQ_OK;
}

static awq_err parse_pre(awq_tokenizer *t, const json_t *n, int depth)
{
    if (!n || json_is_null(n)) return AWQ_OK;
    const char *type = tk_jstr(n, "type", NULL);
    if (!json_is_object(n) || !type) return tk_bad(t, "pre_tokenizer has no \"type\"");
    if (depth > 8) return tk_unsupported(t, "pre_tokenizer Sequences nested more than 8 deep");
    char where[160];
    snprintf(where, sizeof where, "'%s': pre_tokenizer %s", t->name, type);
    tk_pre *p;
    awq_err e;
    if (!strcmp(type, "Sequence")) {
        const json_t *list = json_object_get(n, "pretokenizers");
        if (!json_is_array(list)) return tk_bad(t, "pre_tokenizer Sequence without a \"pretokenizers\" list");
        for (size_t i = 0; i < json_array_size(list); i++)
            if ((e = parse_pre(t, json_array_get(list, i), depth + 1))) return e;
        return AWQ_OK;
    }
    if (!strcmp(type, "Split")) {
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        const char *b = tk_jstr(n, "behavior", NULL);
        int behavior = -1;
        for (int i = 0; b && i < 5; i++)
            if (!strcmp(b, names[i])) behavior = i;
        if (behavior < 0) return tk_unsupported(t, "Split behavior '%s' is not supported", b ? b : "(missing)");
        if ((e = add_pre(t, TK_P_SPLIT, &p))) return e;
        p->behavior = behavior;
        p->invert = tk_jbool(n, "invert", 0);
        return parse_pattern(t, json_object_get(n, "pattern"), "Split pre_tokenizer", &p->lit, &p->lit_len, &p->re);
    }
    if (!strcmp(type, "ByteLevel")) {
        if ((e = add_pre(t, TK_P_BYTELEVEL, &p))) return e;
        p->add_prefix_space = tk_jbool(n, "add_prefix_space", 1);
        p->use_regex = tk_jbool(n, "use_regex", 1);
        return p->use_regex ? tk_regex_compile(&p->re, GPT2_PATTERN, sizeof GPT2_PATTERN - 1, where) : AWQ_OK;
    }
    if (!strcmp(type, "Metaspace")) {
        size_t len;
        const char *r = tk_jstr(n, "replacement", &len);
        int32_t cp;
        if (!r || len == 0 || len > 4 || (size_t)tk_utf8_decode((const unsigned char *)r, len, &cp) != len)
            return tk_bad(t, "Metaspace replacement must be one character");
        if ((e = add_pre(t, TK_P_METASPACE, &p))) return e;
        memcpy(p->repl, r, len);
        p->repl_len = (int)len;
        p->split = tk_jbool(n, "split", 1);
        p->prepend_scheme = TK_PREPEND_ALWAYS;
        const char *scheme = tk_jstr(n, "prepend_scheme", NULL);
        if (scheme) {
            if (!strcmp(scheme, "always")) p->prepend_scheme = TK_PREPEND_ALWAYS;
            else if (!strcmp(scheme, "first")) p->prepend_scheme = TK_PREPEND_FIRST;
            else if (!strcmp(scheme, "never")) p->prepend_scheme = TK_PREPEND_NEVER;
            else return tk_unsupported(t, "Metaspace prepend_scheme '%s' is not supported", scheme);
        } else if (!tk_jbool(n, "add_prefix_space", 1)) {
            p->prepend_scheme = TK_PREPEND_NEVER; /* the older form of the same setting */
        }
        return AWQ_OK;
    }
    if (!strcmp(type, "Digits")) {
        if ((e = add_pre(t, TK_P_DIGITS, &p))) return e;
        p->individual = tk_jbool(n, "individual_digits", 0);
        return AWQ_OK;
    }
    if (!strcmp(type, "Whitespace")) {
        if ((e = add_pre(t, TK_P_WHITESPACE, &p))) return e;
        return tk_regex_compile(&p->re, WHITESPACE_PATTERN, sizeof WHITESPACE_PATTERN - 1, where);
    }
    if (!strcmp(type, "WhitespaceSplit")) return add_pre(t, TK_P_WSPLIT, &p);
    return tk_unsupported(t, "pre_tokenizer '%s' is not supported", type);
}

/* ---- model ---- */

static awq_err vocab_id(awq_tokenizer *t, const char *s, size_t n, const char *what, size_t rank, int32_t *id)
{
    *id = tk_strmap_get(&t->vocab, s, n);
    if (*id < 0) return tk_bad(t, "merge %zu: %s '%.*s' is not in the vocabulary", rank, what, (int)(n > 80 ? 80 : n), s);
    return AWQ_OK;
}

/* Record the adjacent code point pairs of a merged token (see use_bigrams). */
static awq_err add_bigrams(awq_tokenizer *t, const char *s, size_t n)
{
    int32_t prev = -1, cp;
    for (size_t i = 0; i < n;) {
        i += (size_t)tk_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (prev >= 0) {
            awq_err e = tk_pairmap_set(&t->bigrams, prev, cp, 0, 0);
            if (e) return e;
        }
        prev = cp;
    }
    return AWQ_OK;
}

static awq_err parse_merges(awq_tokenizer *t, const json_t *merges)
{
    size_t count = json_array_size(merges);
    awq_err e = tk_pairmap_init(&t->merges, count);
    t->use_bigrams = !t->byte_level && !t->ignore_merges;
    if (!e && t->use_bigrams) e = tk_pairmap_init(&t->bigrams, count);
    char *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; !e && i < count; i++) {
        const json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t an, bn;
        if (json_is_string(m)) { /* "a b" */
            a = json_string_value(m);
            const char *sp = memchr(a, ' ', json_string_length(m));
            if (!sp) { e = tk_bad(t, "merge %zu (\"%.80s\") is not two tokens separated by a space", i, a); break; }
            an = (size_t)(sp - a);
            b = sp + 1;
            bn = json_string_length(m) - an - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) { /* ["a", "b"] */
            a = json_string_value(json_array_get(m, 0));
            an = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            bn = json_string_length(json_array_get(m, 1));
        } else {
            e = tk_bad(t, "merge %zu is neither \"a b\" nor [\"a\", \"b\"]", i);
            break;
        }
        if (an + bn > cap) {
            cap = 2 * (an + bn) + 64;
            char *nb = realloc(buf, cap);
            if (!nb) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            buf = nb;
        }
        memcpy(buf, a, an);
        memcpy(buf + an, b, bn);
        int32_t ia, ib, inew;
        if ((e = vocab_id(t, a, an, "left part", i, &ia)) || (e = vocab_id(t, b, bn, "right part", i, &ib)) ||
            (e = vocab_id(t, buf, an + bn, "merged token", i, &inew)))
            break;
        if (i > INT32_MAX) { e = tk_unsupported(t, "more than 2^31 merges"); break; }
        e = tk_pairmap_set(&t->merges, ia, ib, (int32_t)i, inew);
        if (!e && t->use_bigrams) e = add_bigrams(t, buf, an + bn);
    }
    free(buf);
    return e;
}

/* Byte-level vocabularies: the id of each byte's character, and every token as raw bytes. */
static awq_err byte_level_tables(awq_tokenizer *t)
{
    for (int b = 0; b < 256; b++) {
        char c[4];
        int k = tk_utf8_encode(tk_byte_to_char((unsigned char)b), c);
        t->byte_id[b] = tk_strmap_get(&t->vocab, c, (size_t)k);
    }
    if (!t->ignore_merges) return AWQ_OK; /* raw_vocab is only used for ignore_merges */
    awq_err e = tk_strmap_init(&t->raw_vocab, t->vocab.n);
    char *raw = NULL;
    size_t cap = 0;
    for (size_t i = 0; !e && i <= t->vocab.mask; i++) {
        const tk_slot *s = &t->vocab.slots[i];
        if (s->off == UINT32_MAX) continue;
        if (s->len > cap) {
            cap = s->len;
            char *r = realloc(raw, cap);
            if (!r) { e = awq_fail(AWQ_ERR_NOMEM, "out of memory"); break; }
            raw = r;
        }
        const unsigned char *p = (const unsigned char *)t->vocab.keys.p + s->off;
        size_t n = 0, j = 0;
        while (j < s->len) {
            int32_t cp;
            j += (size_t)tk_utf8_decode(p + j, s->len - j, &cp);
            int byte = tk_char_to_byte(cp);
            if (byte < 0) break; /* not a byte-level string: unreachable by this model */
            raw[n++] = (char)byte;
        }
        if (j == s->len && n) e = tk_strmap_set(&t->raw_vocab, raw, n, s->val);
    }
    free(raw);
    return e;
}

static awq_err parse_model(awq_tokenizer *t, const json_t *m)
{
    if (!json_is_object(m)) return tk_bad(t, "no \"model\" object");
    const char *type = tk_jstr(m, "type", NULL);
    if (!type && !json_object_get(m, "merges")) return tk_unsupported(t, "model without \"type\" or \"merges\"");
    if (type && strcmp(type, "BPE")) return tk_unsupported(t, "model type '%s' is not supported (only BPE)", type);
    const json_t *dropout = json_object_get(m, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return tk_unsupported(t, "BPE dropout (%g) is not supported: it makes tokenization random", json_number_value(dropout));
    static const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        if (tk_jstr(m, affixes[i], &len) && len)
            return tk_unsupported(t, "BPE %s \"%s\" is not supported", affixes[i], tk_jstr(m, affixes[i], NULL));
    }
    const json_t *vocab = json_object_get(m, "vocab"), *merges = json_object_get(m, "merges");
    if (!json_is_object(vocab)) return tk_bad(t, "model has no \"vocab\" object");
    if (!json_is_array(merges)) return tk_bad(t, "model has no \"merges\" list");
    t->byte_fallback = tk_jbool(m, "byte_fallback", 0);
    t->fuse_unk = tk_jbool(m, "fuse_unk", 0);
    t->ignore_merges = tk_jbool(m, "ignore_merges", 0);

    awq_err e = tk_strmap_init(&t->vocab, json_object_size(vocab));
    const char *key;
    size_t key_len;
    json_t *val;
    json_object_keylen_foreach((json_t *)vocab, key, key_len, val)
    {
        if (e) break;
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= INT32_MAX - 1) {
            e = tk_bad(t, "vocab entry '%.80s' does not have a valid id", key);
            break;
        }
        int32_t id = (int32_t)json_integer_value(val);
        if (id >= t->n_ids) t->n_ids = id + 1;
        e = tk_strmap_set(&t->vocab, key, key_len, id);
    }
    if (!e) e = parse_merges(t, merges);
    if (e) return e;

    size_t len;
    const char *unk = tk_jstr(m, "unk_token", &len);
    t->unk_id = unk ? tk_strmap_get(&t->vocab, unk, len) : -1;
    if (unk && t->unk_id < 0) return tk_bad(t, "unk_token '%.80s' is not in the vocabulary", unk);
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        t->ascii_id[c] = tk_strmap_get(&t->vocab, &ch, 1);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->fallback_id[b] = t->byte_fallback ? tk_strmap_get(&t->vocab, name, 6) : -1;
    }
    return t->byte_level ? byte_level_tables(t) : AWQ_OK;
}

/* ---- the whole file ---- */

static awq_err build(const json_t *root, awq_tokenizer *t)
{
    if (!json_is_object(root)) return tk_bad(t, "not a tokenizer.json (the top level is not an object)");
    awq_err e = tk_matcher_init(&t->mt);
    if (!e) e = tk_strmap_init(&t->cache, 1024);
    if (!e) e = parse_normalizer(t, json_object_get(root, "normalizer"), 0);
    if (!e) e = parse_pre(t, json_object_get(root, "pre_tokenizer"), 0);
    if (e) return e;
    for (size_t i = 0; i < t->n_pre; i++)
        if (t->pre[i].kind == TK_P_BYTELEVEL) {
            if (i + 1 != t->n_pre)
                return tk_unsupported(t, "pre_tokenizer steps after ByteLevel are not supported");
            t->byte_level = 1;
        }
    if ((e = parse_model(t, json_object_get(root, "model")))) return e;
    if ((e = tk_parse_added(t, json_object_get(root, "added_tokens")))) return e;
    if ((e = tk_parse_post(t, json_object_get(root, "post_processor"), 0))) return e;
    t->decoder = json_incref(json_object_get(root, "decoder")); /* read at the first decode only */
    for (size_t i = 0; i < t->n_prefix; i++)
        if (t->prefix[i] >= t->n_ids) t->n_ids = t->prefix[i] + 1;
    for (size_t i = 0; i < t->n_suffix; i++)
        if (t->suffix[i] >= t->n_ids) t->n_ids = t->suffix[i] + 1;
    return AWQ_OK;
}

static awq_err finish(json_t *root, const char *name, awq_tokenizer **out)
{
    awq_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        json_decref(root);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory loading '%s'", name);
    }
    awq_err e = build(root, t);
    json_decref(root);
    if (e) {
        awq_tokenizer_free(t);
        return e;
    }
    *out = t;
    return AWQ_OK;
}

awq_err awq_tokenizer_load_json(const char *json, size_t len, const char *name, awq_tokenizer **out)
{
    *out = NULL;
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &err);
    if (!root) return awq_fail(AWQ_ERR_FORMAT, "'%s' is not valid JSON: %s (line %d)", name, err.text, err.line);
    return finish(root, name, out);
}

awq_err awq_tokenizer_load(const char *path, awq_tokenizer **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err_no = errno;
        awq_err e = awq_fail_errno(err_no, "cannot open '%s'", path);
        if (err_no == ENOENT) awq_hint("a HuggingFace model directory has its tokenizer in tokenizer.json");
        return e;
    }
    json_error_t err;
    json_t *root = json_loadf(f, JSON_ALLOW_NUL, &err);
    fclose(f);
    if (!root) return awq_fail(AWQ_ERR_FORMAT, "'%s' is not valid JSON: %s (line %d)", path, err.text, err.line);
    return finish(root, path, out);
}
