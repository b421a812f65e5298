/* fuzz_tokenizer.c - libFuzzer target for the tokenizer. The first byte picks the mode:
 *   0: encode the rest with a small byte-level tokenizer (regex split, merges, added tokens):
 *      valid UTF-8 must encode, and the tokens' bytes must spell the input exactly;
 *   1: the same with a SentencePiece-style tokenizer (Prepend/Replace normalizer, byte fallback):
 *      the tokens must spell "▁" + the input with spaces as "▁";
 *   2: load the rest as a tokenizer.json; when accepted, encoding must not crash and every id
 *      must be below awq_tokenizer_n_ids().
 * Invalid UTF-8 must give AWQ_ERR_FORMAT and leave the output as it was. */
#include "../../stages/common/tokenizer.h"
#include "../../stages/common/tokenizer_int.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ID = 512 };
typedef struct { awq_tokenizer *tok; char *text[MAX_ID]; size_t len[MAX_ID]; } mini;
static mini g_byte, g_sp;

static void set_text(mini *m, int id, const char *s, size_t n)
{
    m->text[id] = malloc(n + 1);
    memcpy(m->text[id], s, n);
    m->len[id] = n;
}

static awq_tokenizer *load(json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT);
    awq_tokenizer *t = NULL;
    if (awq_tokenizer_load_json(s, strlen(s), "fuzz-mini.json", &t) != AWQ_OK) {
        fprintf(stderr, "mini tokenizer: %s\n", awq_errmsg());
        abort();
    }
    free(s);
    json_decref(root);
    return t;
}

/* byte-level: ids 0..255 are the bytes, then merges, then two added tokens */
static void make_byte_level(void)
{
    static const char *merges[][2] = {{" ", "t"}, {"h", "e"}, {" t", "he"}, {"i", "n"}, {" ", "a"},
                                      {"e", "r"}, {"a", "n"}, {" ", " "}, {"\xc3", "\xa9"}};
    json_t *vocab = json_object(), *ml = json_array();
    char key[8];
    for (int b = 0; b < 256; b++) {
        int k = tk_utf8_encode(tk_byte_to_char((unsigned char)b), key);
        key[k] = 0;
        json_object_set_new(vocab, key, json_integer(b));
        char c = (char)b;
        set_text(&g_byte, b, &c, 1);
    }
    int id = 256;
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++, id++) {
        char a[16] = "", b[16] = "", ab[32];
        size_t la = strlen(merges[i][0]), lb = strlen(merges[i][1]);
        for (size_t k = 0; k < la; k++) {
            int n = tk_utf8_encode(tk_byte_to_char((unsigned char)merges[i][0][k]), key);
            strncat(a, key, (size_t)n);
        }
        for (size_t k = 0; k < lb; k++) {
            int n = tk_utf8_encode(tk_byte_to_char((unsigned char)merges[i][1][k]), key);
            strncat(b, key, (size_t)n);
        }
        snprintf(ab, sizeof ab, "%s%s", a, b);
        json_object_set_new(vocab, ab, json_integer(id));
        char pair[40];
        snprintf(pair, sizeof pair, "%s %s", a, b);
        json_array_append_new(ml, json_string(pair));
        char raw[32];
        snprintf(raw, sizeof raw, "%s%s", merges[i][0], merges[i][1]);
        set_text(&g_byte, id, raw, strlen(raw));
    }
    json_t *root = json_pack(
        "{s:[{s:i,s:s,s:b,s:b},{s:i,s:s,s:b,s:b}],s:n,"
        "s:{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b}]},"
        "s:{s:s,s:o,s:o,s:b}}",
        "added_tokens", "id", 400, "content", "<|x|>", "special", 1, "normalized", 0, "id", 401, "content", "abc",
        "single_word", 1, "normalized", 0, "normalizer", "pre_tokenizer", "type", "Sequence", "pretokenizers",
        "type", "Split", "pattern", "Regex",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "behavior", "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0, "model",
        "type", "BPE", "vocab", vocab, "merges", ml, "ignore_merges", 1);
    set_text(&g_byte, 400, "<|x|>", 5);
    set_text(&g_byte, 401, "abc", 3);
    g_byte.tok = load(root);
}

/* SentencePiece-style: <unk>, 256 byte tokens, a few pieces */
static void make_sentencepiece(void)
{
    json_t *vocab = json_object();
    json_object_set_new(vocab, "<unk>", json_integer(0));
    set_text(&g_sp, 0, "?", 1); /* must never appear: every byte has a fallback token */
    for (int b = 0; b < 256; b++) {
        char name[8], c = (char)b;
        snprintf(name, sizeof name, "<0x%02X>", b);
        json_object_set_new(vocab, name, json_integer(b + 1));
        set_text(&g_sp, b + 1, &c, 1);
    }
    static const char *pieces[] = {"\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab", "\xc3\xa9"};
    for (int i = 0; i < 7; i++) {
        json_object_set_new(vocab, pieces[i], json_integer(257 + i));
        set_text(&g_sp, 257 + i, pieces[i], strlen(pieces[i]));
    }
    json_t *root = json_pack(
        "{s:{s:s,s:[{s:s,s:s},{s:s,s:{s:s},s:s}]},s:n,s:{s:s,s:o,s:[s,s,s],s:b,s:b,s:s}}", "normalizer", "type",
        "Sequence", "normalizers", "type", "Prepend", "prepend", "\xe2\x96\x81", "type", "Replace", "pattern", "String",
        " ", "content", "\xe2\x96\x81", "pre_tokenizer", "model", "type", "BPE", "vocab", vocab, "merges",
        "\xe2\x96\x81 a", "a b", "\xe2\x96\x81" "a b", "byte_fallback", 1, "fuse_unk", 1, "unk_token", "<unk>");
    g_sp.tok = load(root);
}

static void check_spelling(const mini *m, const awq_idvec *v, const char *want, size_t want_len)
{
    size_t at = 0;
    for (size_t i = 0; i < v->n; i++) {
        int32_t id = v->ids[i];
        if (id < 0 || id >= MAX_ID || !m->text[id] || at + m->len[id] > want_len ||
            memcmp(want + at, m->text[id], m->len[id]) != 0)
            abort();
        at += m->len[id];
    }
    if (at != want_len) abort();
}

static void encode_checked(awq_tokenizer *t, const char *s, size_t n, awq_idvec *v)
{
    v->n = 0;
    awq_idvec_push(v, 12345);
    awq_err e = awq_tokenizer_encode(t, s, n, 0, v);
    int valid = awq_utf8_valid(s, n, NULL);
    if (valid ? e != AWQ_OK : (e != AWQ_ERR_FORMAT || v->n != 1)) abort();
    if (v->ids[0] != 12345) abort();
    memmove(v->ids, v->ids + 1, (v->n - 1) * sizeof *v->ids);
    v->n--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    if (!g_byte.tok) make_byte_level();
    if (!g_sp.tok) make_sentencepiece();
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    awq_idvec v = {0};
    switch (data[0] % 3) {
    case 0:
        encode_checked(g_byte.tok, s, n, &v);
        if (awq_utf8_valid(s, n, NULL)) check_spelling(&g_byte, &v, s, n);
        break;
    case 1:
        encode_checked(g_sp.tok, s, n, &v);
        if (awq_utf8_valid(s, n, NULL) && n) {
            char *want = malloc(3 * n + 3);
            size_t w = 0;
            memcpy(want, "\xe2\x96\x81", 3), w = 3;
            for (size_t i = 0; i < n; i++) {
                if (s[i] == ' ') memcpy(want + w, "\xe2\x96\x81", 3), w += 3;
                else want[w++] = s[i];
            }
            check_spelling(&g_sp, &v, want, w);
            free(want);
        }
        break;
    default: {
        awq_tokenizer *t = NULL;
        if (awq_tokenizer_load_json(s, n, "fuzz.json", &t) != AWQ_OK) break;
        static const char *probes[] = {"", "Hello world", " \n\t 12345 <s> <|endoftext|> caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd"};
        for (int i = 0; i < 3; i++) {
            v.n = 0;
            if (awq_tokenizer_encode(t, probes[i], strlen(probes[i]), i & 1, &v) == AWQ_OK)
                for (size_t k = 0; k < v.n; k++)
                    if (v.ids[k] < 0 || v.ids[k] >= awq_tokenizer_n_ids(t)) abort();
        }
        awq_tokenizer_free(t);
    }
    }
    awq_idvec_free(&v);
    return 0;
}
