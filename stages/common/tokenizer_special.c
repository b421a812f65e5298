/* tokenizer_special.c - added tokens and the post-processor: reading them from tokenizer.json,
 * and finding added tokens in text (leftmost-longest, as the Rust library's aho-corasick
 * matcher, with lstrip / rstrip / single_word). */
#include "tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- added tokens ---- */

static int cmp_len_desc(const void *a, const void *b, void *ctx)
{
    const tk_added *v = ctx;
    size_t la = v[*(const int32_t *)a].match_len, lb = v[*(const int32_t *)b].match_len;
    if (la != lb) return la < lb ? 1 : -1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

static awq_err build_set(awq_tokenizer *t, tk_addset *set, int normalized)
{
    set->idx = malloc((t->n_added + 1) * sizeof *set->idx);
    if (!set->idx) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    size_t count[257] = {0};
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized && t->added[i].match_len) count[(unsigned char)t->added[i].match[0]]++;
    set->first[0] = 0;
    for (int c = 0; c < 256; c++) set->first[c + 1] = set->first[c] + count[c];
    size_t fill[256];
    memcpy(fill, set->first, sizeof fill);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized && t->added[i].match_len)
            set->idx[fill[(unsigned char)t->added[i].match[0]]++] = (int32_t)i;
    set->n = set->first[256];
    for (int c = 0; c < 256; c++)
        qsort_r(set->idx + set->first[c], set->first[c + 1] - set->first[c], sizeof *set->idx, cmp_len_desc, t->added);
    return AWQ_OK;
}

awq_err tk_parse_added(awq_tokenizer *t, const json_t *list)
{
    if (!list || json_is_null(list)) list = NULL;
    else if (!json_is_array(list)) return tk_bad(t, "\"added_tokens\" is not a list");
    size_t n = list ? json_array_size(list) : 0;
    t->added = calloc(n + 1, sizeof *t->added);
    if (!t->added) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(list, i), *id = json_object_get(a, "id");
        size_t len;
        const char *content = tk_jstr(a, "content", &len);
        if (!content || !json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= INT32_MAX - 1)
            return tk_bad(t, "added token %zu needs a \"content\" string and a valid \"id\"", i);
        tk_added *tok = &t->added[t->n_added++];
        tok->id = (int32_t)json_integer_value(id);
        tok->len = len;
        if (!(tok->content = tk_dup(content, len))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
        tok->special = tk_jbool(a, "special", 0);
        tok->normalized = tk_jbool(a, "normalized", !tok->special);
        tok->lstrip = tk_jbool(a, "lstrip", 0);
        tok->rstrip = tk_jbool(a, "rstrip", 0);
        tok->single_word = tk_jbool(a, "single_word", 0);
        if (tok->id >= t->n_ids) t->n_ids = tok->id + 1;
        tok->match = tok->content;
        tok->match_len = len;
        if (tok->normalized && t->n_norm) { /* matched against normalized text, so normalize it too */
            const char *ns;
            size_t nn;
            int at_start = 1;
            awq_err e = tk_normalize(t, content, len, &ns, &nn, &at_start);
            if (e) return e;
            if (!(tok->match = tk_dup(ns, nn))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
            tok->match_len = nn;
        }
    }
    awq_err e = build_set(t, &t->raw_set, 0);
    return e ? e : build_set(t, &t->norm_set, 1);
}

/* ---- post-processor ---- */

static awq_err append_ids(int32_t **v, size_t *n, const int32_t *ids, size_t count, int at_front)
{
    int32_t *p = realloc(*v, (*n + count + 1) * sizeof *p);
    if (!p) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    if (at_front) {
        memmove(p + count, p, *n * sizeof *p);
        memcpy(p, ids, count * sizeof *p);
    } else {
        memcpy(p + *n, ids, count * sizeof *p);
    }
    *v = p;
    *n += count;
    return AWQ_OK;
}

/* [string, id] of Bert/RobertaProcessing */
static int pair_id(const json_t *pair, int32_t *id)
{
    const json_t *v = json_array_get(pair, 1);
    if (!json_is_array(pair) || !json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX)
        return 0;
    *id = (int32_t)json_integer_value(v);
    return 1;
}

awq_err tk_parse_post(awq_tokenizer *t, const json_t *n, int depth)
{
    if (!n || json_is_null(n)) return AWQ_OK;
    const char *type = tk_jstr(n, "type", NULL);
    if (!json_is_object(n) || !type) return tk_bad(t, "post_processor has no \"type\"");
    if (depth > 8) return tk_unsupported(t, "post_processor Sequences nested more than 8 deep");
    awq_err e = AWQ_OK;
    if (!strcmp(type, "ByteLevel")) return AWQ_OK; /* changes offsets only */
    if (!strcmp(type, "Sequence")) {
        const json_t *list = json_object_get(n, "processors");
        if (!json_is_array(list)) return tk_bad(t, "post_processor Sequence without a \"processors\" list");
        for (size_t i = 0; !e && i < json_array_size(list); i++) e = tk_parse_post(t, json_array_get(list, i), depth + 1);
        return e;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        int32_t cls, sep;
        if (!pair_id(json_object_get(n, "cls"), &cls) || !pair_id(json_object_get(n, "sep"), &sep))
            return tk_bad(t, "%s needs \"cls\" and \"sep\" as [token, id]", type);
        e = append_ids(&t->prefix, &t->n_prefix, &cls, 1, 1);
        return e ? e : append_ids(&t->suffix, &t->n_suffix, &sep, 1, 0);
    }
    if (strcmp(type, "TemplateProcessing")) return tk_unsupported(t, "post_processor '%s' is not supported", type);
    const json_t *single = json_object_get(n, "single"), *specials = json_object_get(n, "special_tokens");
    if (!json_is_array(single)) return tk_bad(t, "TemplateProcessing without a \"single\" template");
    /* the items of this template, wrapped around what earlier processors produced */
    int32_t *pre = NULL, *post = NULL;
    size_t n_pre = 0, n_post = 0;
    int seen_sequence = 0;
    for (size_t i = 0; !e && i < json_array_size(single); i++) {
        const json_t *item = json_array_get(single, i), *sp = json_object_get(item, "SpecialToken");
        if (json_object_get(item, "Sequence")) {
            const char *which = tk_jstr(json_object_get(item, "Sequence"), "id", NULL);
            if (!which || strcmp(which, "A") || seen_sequence)
                e = tk_bad(t, "TemplateProcessing \"single\" must hold sequence A once");
            seen_sequence = 1;
            continue;
        }
        const char *name = sp ? tk_jstr(sp, "id", NULL) : NULL;
        const json_t *st = name ? json_object_get(json_object_get(specials, name), "ids") : NULL;
        if (!json_is_array(st)) {
            e = tk_bad(t, "TemplateProcessing item %zu is not a special token listed in \"special_tokens\"", i);
            break;
        }
        for (size_t k = 0; !e && k < json_array_size(st); k++) {
            const json_t *v = json_array_get(st, k);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX) {
                e = tk_bad(t, "special token '%s' has a bad id", name);
                break;
            }
            int32_t id = (int32_t)json_integer_value(v);
            e = seen_sequence ? append_ids(&post, &n_post, &id, 1, 0) : append_ids(&pre, &n_pre, &id, 1, 0);
        }
    }
    if (!e && !seen_sequence) e = tk_bad(t, "TemplateProcessing \"single\" has no sequence A");
    if (!e && n_pre) e = append_ids(&t->prefix, &t->n_prefix, pre, n_pre, 1);
    if (!e && n_post) e = append_ids(&t->suffix, &t->n_suffix, post, n_post, 0);
    free(pre);
    free(post);
    return e;
}

/* ---- added tokens: leftmost-longest search with lstrip / rstrip / single_word ---- */

static int last_char_is_word(const char *s, size_t n)
{
    if (n == 0) return 0;
    size_t k = n - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    int32_t cp;
    tk_utf8_decode((const unsigned char *)s + k, n - k, &cp);
    return tk_is_alnum(cp);
}

static int first_char_is_word(const char *s, size_t n)
{
    if (n == 0) return 0;
    int32_t cp;
    tk_utf8_decode((const unsigned char *)s, n, &cp);
    return tk_is_alnum(cp);
}

/* Find the next added token in s[from..n). On success [*ms, *me) is the stretch it takes
 * (including stripped whitespace, never before `floor`) and the token index is returned; -1 if none. */
long tk_next_added(const awq_tokenizer *t, const tk_addset *set, const char *s, size_t n, size_t from, size_t floor,
                   size_t *ms, size_t *me)
{
    if (set->n == 0) return -1;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = from; i < n; i++) {
        size_t a = set->first[p[i]], b = set->first[p[i] + 1];
        long best = -1;
        for (size_t k = a; k < b; k++) { /* longest first */
            const tk_added *tok = &t->added[set->idx[k]];
            if (tok->match_len <= n - i && memcmp(s + i, tok->match, tok->match_len) == 0) {
                best = set->idx[k];
                break;
            }
        }
        if (best < 0) continue;
        const tk_added *tok = &t->added[best];
        size_t start = i, stop = i + tok->match_len;
        if (tok->single_word && (last_char_is_word(s, start) || first_char_is_word(s + stop, n - stop))) {
            i = stop - 1; /* the search goes on after the rejected match, as aho-corasick's does */
            continue;
        }
        if (tok->lstrip) {
            while (start > floor) {
                size_t k = start - 1;
                while (k > floor && (p[k] & 0xC0) == 0x80) k--;
                int32_t cp;
                tk_utf8_decode(p + k, start - k, &cp);
                if (!tk_is_white_space(cp)) break;
                start = k;
            }
        }
        if (tok->rstrip) {
            while (stop < n) {
                int32_t cp;
                int k = tk_utf8_decode(p + stop, n - stop, &cp);
                if (!tk_is_white_space(cp)) break;
                stop += (size_t)k;
            }
        }
        *ms = start;
        *me = stop;
        return best;
    }
    return -1;
}
