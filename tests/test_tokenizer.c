/* test_tokenizer.c - the C tokenizer against the HF `tokenizers` library: every test vector of
 * ../shared/assets/tokenizers/testvectors (6 tokenizers x 81 strings, with and without special
 * tokens) and the whole-corpus counts, first/last ids and sha256 of corpus_token_stats.json; then
 * hand-made tokenizers for the rules the vectors do not reach (merge ties, byte fallback, unk,
 * split behaviors, added-token stripping, templates), malformed tokenizer.json, invalid UTF-8,
 * and the calibration / evaluation document protocols (spec §2.2, §4.1). */
#include "test.h"
#include "../stages/common/textdocs.h"
#include "../stages/common/tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- real tokenizers, loaded once ---- */

static const char *const NAMES[] = {"llama2", "tok512", "mistral", "llama3", "qwen3", "gpt2"};
enum { N_TOK = 6 };
static awq_tokenizer *g_tok[N_TOK];

static const char *tok_path(int i)
{
    static char buf[1024];
    if (!strcmp(NAMES[i], "tok512")) snprintf(buf, sizeof buf, "%s/models/stories260K-hf/tokenizer.json", t_assets());
    else snprintf(buf, sizeof buf, "%s/tokenizers/%s/tokenizer.json", t_assets(), NAMES[i]);
    return buf;
}

static awq_tokenizer *tok(int i)
{
    if (!g_tok[i]) {
        awq_err e = awq_tokenizer_load(tok_path(i), &g_tok[i]);
        CHECK(e == AWQ_OK, "load %s: %s", NAMES[i], awq_errmsg());
    }
    return g_tok[i];
}

static int tok_index(const char *name)
{
    for (int i = 0; i < N_TOK; i++)
        if (!strcmp(NAMES[i], name)) return i;
    return -1;
}

static int ids_equal(const awq_idvec *v, const json_t *want)
{
    if (!json_is_array(want) || json_array_size(want) != v->n) return 0;
    for (size_t i = 0; i < v->n; i++)
        if (json_integer_value(json_array_get(want, i)) != v->ids[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const awq_idvec *v)
{
    fprintf(stderr, "    %s (%zu):", what, v->n);
    for (size_t i = 0; i < v->n && i < 40; i++) fprintf(stderr, " %d", v->ids[i]);
    fprintf(stderr, "\n");
}

static void t_vectors(void)
{
    if (!t_assets()) { t_skip("no ../shared/assets"); return; }
    size_t total = 0;
    for (int k = 0; k < N_TOK; k++) {
        awq_tokenizer *t = tok(k);
        REQUIRE(t, "tokenizer %s", NAMES[k]);
        char vpath[1024];
        snprintf(vpath, sizeof vpath, "%s/tokenizers/testvectors/vectors_%s.jsonl", t_assets(), NAMES[k]);
        size_t len;
        char *data = t_read_file(vpath, &len);
        REQUIRE(data, "read %s", vpath);
        int bad = 0;
        size_t n_lines = 0;
        for (char *line = data, *end; line < data + len; line = end + 1) {
            end = memchr(line, '\n', (size_t)(data + len - line));
            if (!end) end = data + len;
            if (end == line) continue;
            json_error_t err;
            json_t *v = json_loadb(line, (size_t)(end - line), JSON_ALLOW_NUL, &err);
            REQUIRE(v, "%s: %s", vpath, err.text);
            const json_t *text = json_object_get(v, "text");
            for (int special = 0; special < 2; special++) {
                awq_idvec ids = {0};
                awq_err e = awq_tokenizer_encode(t, json_string_value(text), json_string_length(text), special, &ids);
                const json_t *want = json_object_get(v, special ? "ids_with_special_tokens" : "ids");
                if (e || !ids_equal(&ids, want)) {
                    if (bad++ < 3) {
                        CHECK(0, "%s line %zu special=%d text=%.60s%s", NAMES[k], n_lines + 1, special,
                              json_string_value(text), e ? awq_errmsg() : "");
                        print_ids("got", &ids);
                        char *w = json_dumps(want, JSON_COMPACT);
                        fprintf(stderr, "    want: %.300s\n", w);
                        free(w);
                    }
                }
                awq_idvec_free(&ids);
            }
            json_decref(v);
            n_lines++;
        }
        free(data);
        CHECK(bad == 0, "%s: %d of %zu vectors differ", NAMES[k], bad, 2 * n_lines);
        CHECK(n_lines == 81, "%s: %zu vectors (expected 81)", NAMES[k], n_lines);
        total += n_lines;
    }
    fprintf(stderr, "  %zu strings x 2 reproduced\n", total);
}

/* Third-party published vectors (llama2.c test.c, llama/llama3/mistral-tokenizer-js): ours must
 * equal what HF tokenizers gives, and agree with the published ids exactly where HF does. */
static void t_published_vectors(void)
{
    if (!t_assets()) { t_skip("no ../shared/assets"); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/testvectors/published_vectors_checked.json", t_assets());
    json_error_t err;
    json_t *all = json_load_file(path, 0, &err);
    REQUIRE(all, "%s: %s", path, err.text);
    static const struct { const char *set, *tok; } sets[] = {
        {"llama2.c test.c", "llama2"}, {"llama-tokenizer-js", "llama2"},
        {"mistral-tokenizer-js", "mistral"}, {"llama3-tokenizer-js", "llama3"}};
    size_t n = 0;
    for (int s = 0; s < 4; s++) {
        awq_tokenizer *t = tok(tok_index(sets[s].tok));
        REQUIRE(t, "%s", sets[s].tok);
        const json_t *list = json_object_get(all, sets[s].set);
        CHECK(json_array_size(list) > 0, "no vectors for %s", sets[s].set);
        for (size_t i = 0; i < json_array_size(list); i++) {
            const json_t *v = json_array_get(list, i), *text = json_object_get(v, "text");
            const json_t *opt = json_object_get(v, "options");
            awq_idvec ids = {0};
            if (opt) { /* llama3-tokenizer-js: bos/eos options around the plain encoding */
                if (json_is_true(json_object_get(opt, "bos")))
                    awq_idvec_push(&ids, awq_tokenizer_token_id(t, "<|begin_of_text|>"));
                CHECK(awq_tokenizer_encode(t, json_string_value(text), json_string_length(text), 0, &ids) == AWQ_OK, "%s",
                      awq_errmsg());
                if (json_is_true(json_object_get(opt, "eos")))
                    awq_idvec_push(&ids, awq_tokenizer_token_id(t, "<|end_of_text|>"));
            } else {
                int special = json_is_true(json_object_get(v, "add_special_tokens"));
                CHECK(awq_tokenizer_encode(t, json_string_value(text), json_string_length(text), special, &ids) == AWQ_OK,
                      "%s", awq_errmsg());
            }
            CHECK(ids_equal(&ids, json_object_get(v, "hf_tokenizers_ids")), "%s #%zu '%.40s' differs from HF", sets[s].set,
                  i, json_string_value(text));
            CHECK(ids_equal(&ids, json_object_get(v, "expected_ids")) == json_is_true(json_object_get(v, "match")),
                  "%s #%zu: agreement with the published ids should be %d", sets[s].set, i,
                  json_is_true(json_object_get(v, "match")));
            awq_idvec_free(&ids);
            n++;
        }
    }
    CHECK(n == 49, "%zu published vectors", n);
    json_decref(all);
}

/* sha256 of the ids as int32 LE, by the system's sha256sum (no hash code of our own) */
static int sha256_ids(const awq_idvec *v, char out[65])
{
    const char *p = t_path("ids.i32");
    if (t_write_file(p, v->ids, v->n * sizeof *v->ids) != 0) return 0;
    char buf[256];
    if (t_run(buf, sizeof buf, "sha256sum '%s'", p) != 0 || strlen(buf) < 64) return 0;
    memcpy(out, buf, 64);
    out[64] = 0;
    return 1;
}

static void check_corpus(int k, const char *corpus, const json_t *stats, const awq_idvec *ids)
{
    const json_t *want = json_object_get(stats, "n_tokens");
    CHECK((size_t)json_integer_value(want) == ids->n, "%s %s: %zu tokens, expected %lld", NAMES[k], corpus, ids->n,
          (long long)json_integer_value(want));
    const json_t *first = json_object_get(stats, "first_32"), *last = json_object_get(stats, "last_8");
    int ok = ids->n >= 32;
    for (size_t i = 0; ok && i < 32; i++) ok = json_integer_value(json_array_get(first, i)) == ids->ids[i];
    for (size_t i = 0; ok && i < 8; i++) ok = json_integer_value(json_array_get(last, i)) == ids->ids[ids->n - 8 + i];
    CHECK(ok, "%s %s: first 32 / last 8 ids differ", NAMES[k], corpus);
    char sha[65];
    CHECK(sha256_ids(ids, sha), "sha256sum failed");
    const char *want_sha = json_string_value(json_object_get(stats, "ids_int32le_sha256"));
    CHECK(want_sha && !strcmp(sha, want_sha), "%s %s: sha256 %s, expected %s", NAMES[k], corpus, sha, want_sha);
}

static void t_corpus_stats(void)
{
    if (!t_assets()) { t_skip("no ../shared/assets"); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/testvectors/corpus_token_stats.json", t_assets());
    json_error_t err;
    json_t *all = json_load_file(path, 0, &err);
    REQUIRE(all, "%s: %s", path, err.text);
    static const struct { const char *key, *file; awq_docs_format fmt; } corpora[] = {
        {"wiki.test.raw", "text/wikitext-2-raw/wiki.test.raw", AWQ_DOCS_FILE},
        {"wikitext2_hf_rows_joined", "text/wikitext-2-raw/wiki.test.raw", AWQ_DOCS_WIKITEXT},
        {"tinystories_validation_head.txt", "text/tinystories/tinystories_validation_head.txt", AWQ_DOCS_FILE},
    };
    int checked = 0;
    for (int k = 0; k < N_TOK; k++) {
        const json_t *c = json_object_get(json_object_get(json_object_get(all, NAMES[k]), "corpora"), "wiki.test.raw");
        CHECK(c, "no stats for %s", NAMES[k]);
        awq_tokenizer *t = tok(k);
        REQUIRE(t, "tokenizer %s", NAMES[k]);
        for (int j = 0; j < 3; j++) {
            const json_t *stats =
                json_object_get(json_object_get(json_object_get(all, NAMES[k]), "corpora"), corpora[j].key);
            REQUIRE(stats, "no stats for %s %s", NAMES[k], corpora[j].key);
            char file[1024];
            snprintf(file, sizeof file, "%s/%s", t_assets(), corpora[j].file);
            awq_docs *d;
            REQUIRE(awq_docs_open(file, corpora[j].fmt, NULL, &d) == AWQ_OK, "%s", awq_errmsg());
            awq_idvec ids = {0};
            awq_err e = awq_eval_tokens(t, d, 0, &ids, NULL);
            CHECK(e == AWQ_OK, "%s", awq_errmsg());
            if (!e) check_corpus(k, corpora[j].key, stats, &ids);
            /* spec §4.1 with special tokens: Llama-2 gives the well-known 341,469 */
            if (!e && j == 1) {
                awq_idvec bos = {0};
                CHECK(awq_eval_tokens(t, d, 1, &bos, NULL) == AWQ_OK, "%s", awq_errmsg());
                size_t extra = (k <= 2) ? 1 : 0; /* BOS for llama2, tok512, mistral only */
                CHECK(bos.n == ids.n + extra, "%s: %zu with special tokens vs %zu", NAMES[k], bos.n, ids.n);
                if (k == 0) CHECK(bos.n == 341469 && bos.ids[0] == 1, "llama2 wikitext-2: %zu ids", bos.n);
                awq_idvec_free(&bos);
            }
            awq_idvec_free(&ids);
            awq_docs_free(d);
            checked++;
        }
    }
    json_decref(all);
    CHECK(checked == 18, "%d corpora checked", checked);
}

/* ---- hand-made tokenizers ---- */

static awq_tokenizer *load_str(const char *json)
{
    awq_tokenizer *t = NULL;
    awq_err e = awq_tokenizer_load_json(json, strlen(json), "test.json", &t);
    CHECK(e == AWQ_OK, "load: %s", awq_errmsg());
    return t;
}

/* encode and compare with an expected list ending in -1 */
static void expect(awq_tokenizer *t, const char *text, int special, const int *want)
{
    awq_idvec v = {0};
    awq_err e = awq_tokenizer_encode(t, text, strlen(text), special, &v);
    CHECK(e == AWQ_OK, "encode '%s': %s", text, awq_errmsg());
    size_t n = 0;
    while (want[n] >= 0) n++;
    int ok = v.n == n;
    for (size_t i = 0; ok && i < n; i++) ok = v.ids[i] == want[i];
    CHECK(ok, "encode '%s'", text);
    if (!ok) print_ids("got", &v);
    awq_idvec_free(&v);
}

#define EXPECT(t, text, special, ...) expect(t, text, special, (const int[]){__VA_ARGS__, -1})
#define EXPECT_NOTHING(t, text, special) expect(t, text, special, (const int[]){-1})

static void t_merge_order(void)
{
    /* lowest rank first; among equal ranks the leftmost pair */
    awq_tokenizer *t = load_str("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"aa\": 2, \"ab\": 3,"
                                " \"abab\": 4, \"aab\": 5, \"c\": 6}, \"merges\": [\"a a\", \"a b\", \"ab ab\", \"a ab\"]}}");
    REQUIRE(t, "load");
    EXPECT(t, "aaa", 0, 2, 0);      /* (a a) leftmost first */
    EXPECT(t, "aaaa", 0, 2, 2);
    EXPECT(t, "abab", 0, 4);        /* a b, a b, then ab ab */
    EXPECT(t, "aab", 0, 2, 1);      /* "a a" (rank 0) beats "a b" (rank 1); "aa b" is no merge */
    EXPECT(t, "cab", 0, 6, 3);
    EXPECT_NOTHING(t, "", 1);       /* nothing, and no post-processor */
    awq_tokenizer_free(t);
}

static void t_byte_fallback_and_unk(void)
{
    static const char *base = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"<unk>\": 0, \"<0xC3>\": 1, \"<0xA9>\": 2,"
                              " \"a\": 3, \"\\u00e9\": 4, \"<0x21>\": 5}, \"merges\": [], %s}}";
    char json[512];
    snprintf(json, sizeof json, base, "\"byte_fallback\": true, \"unk_token\": \"<unk>\"");
    awq_tokenizer *t = load_str(json);
    REQUIRE(t, "load");
    EXPECT(t, "a\xc3\xa9", 0, 3, 4);   /* é is in the vocabulary */
    EXPECT(t, "a!", 0, 3, 5);          /* '!' only as a byte */
    EXPECT(t, "a?", 0, 3, 0);          /* no <0x3F>: unk */
    awq_tokenizer_free(t);

    snprintf(json, sizeof json, base, "\"unk_token\": \"<unk>\", \"fuse_unk\": true");
    REQUIRE((t = load_str(json)), "load");
    EXPECT(t, "a!!?a", 0, 3, 0, 3);    /* unknown run fused into one unk */
    awq_tokenizer_free(t);

    snprintf(json, sizeof json, base, "\"unk_token\": \"<unk>\", \"fuse_unk\": false");
    REQUIRE((t = load_str(json)), "load");
    EXPECT(t, "a!!?a", 0, 3, 0, 0, 0, 3);
    awq_tokenizer_free(t);

    snprintf(json, sizeof json, base, "\"unk_token\": null");
    REQUIRE((t = load_str(json)), "load");
    EXPECT(t, "a!a", 0, 3, 3);         /* no unk token: unknown characters vanish */
    awq_tokenizer_free(t);
}

static void t_split_behaviors(void)
{
    /* pieces of "a-b--c" split at "-", made visible by ignore_merges + whole-piece tokens */
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    static const int want[5][7] = {
        {0, 1, 2, -1},            /* a b c */
        {0, 3, 1, 3, 3, 2, -1},   /* a - b - - c */
        {4, 5, 3, 2, -1},         /* a- b- - c */
        {0, 6, 3, 7, -1},         /* a -b - -c */
        {0, 3, 1, 8, 2, -1},      /* a - b -- c */
    };
    for (int b = 0; b < 5; b++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"%s\","
                 " \"invert\": false}, \"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": {\"a\": 0,"
                 " \"b\": 1, \"c\": 2, \"-\": 3, \"a-\": 4, \"b-\": 5, \"-b\": 6, \"-c\": 7, \"--\": 8}, \"merges\": []}}",
                 names[b]);
        awq_tokenizer *t = load_str(json);
        REQUIRE(t, "load");
        fprintf(stderr, "  behavior %s\n", names[b]);
        expect(t, "a-b--c", 0, want[b]);
        awq_tokenizer_free(t);
    }
    /* the same with a regex and invert: keep what matched as pieces, Removed drops the rest */
    awq_tokenizer *t = load_str(
        "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"behavior\": \"Removed\","
        " \"invert\": false}, \"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": {\"a\": 0, \"b\": 1,"
        " \"ab\": 2}, \"merges\": []}}");
    REQUIRE(t, "load");
    EXPECT(t, "ab \t\xc2\x85 ab", 0, 2, 2); /* U+0085 is \s (Oniguruma, White_Space) */
    awq_tokenizer_free(t);
}

static void t_metaspace(void)
{
    awq_tokenizer *t = load_str(
        "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\","
        " \"split\": true}, \"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": {\"\\u2581hi\": 0,"
        " \"\\u2581you\": 1, \"\\u2581\": 2, \"h\": 3, \"i\": 4}, \"merges\": []}}");
    REQUIRE(t, "load");
    EXPECT(t, "hi you", 0, 0, 1);
    EXPECT(t, " hi", 0, 0);      /* starts with the replacement after the space: no second one */
    EXPECT(t, "hi  you", 0, 0, 2, 1);
    awq_tokenizer_free(t);
}

static void t_added_tokens(void)
{
    awq_tokenizer *t = load_str(
        "{\"added_tokens\": [{\"id\": 6, \"content\": \"<m>\", \"lstrip\": true, \"rstrip\": true, \"special\": true,"
        " \"normalized\": false}, {\"id\": 7, \"content\": \"ab\", \"single_word\": true, \"special\": false,"
        " \"normalized\": false}, {\"id\": 8, \"content\": \"<m>x\", \"special\": true, \"normalized\": false}],"
        " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\","
        " \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\","
        " \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [20], \"tokens\":"
        " [\"<s>\"]}, \"</s>\": {\"id\": \"</s>\", \"ids\": [21], \"tokens\": [\"</s>\"]}}},"
        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"x\": 0, \"y\": 1, \" \": 2, \"a\": 3, \"b\": 4, \"c\": 5},"
        " \"merges\": []}}");
    REQUIRE(t, "load");
    EXPECT(t, "x <m> y", 0, 0, 6, 1);           /* lstrip/rstrip take the spaces */
    EXPECT(t, "x <m>x y", 0, 0, 2, 8, 2, 1);    /* the longest added token wins */
    EXPECT(t, "ab cab", 0, 7, 2, 5, 3, 4);      /* single_word: not inside "cab" */
    EXPECT(t, "x", 1, 20, 0, 21);               /* template: BOS ... EOS */
    EXPECT(t, "", 1, 20, 21);
    awq_tokenizer_free(t);
}

static void t_malformed(void)
{
    static const struct { const char *json, *needle; awq_err code; } cases[] = {
        {"{\"model\": ", "not valid JSON", AWQ_ERR_FORMAT},
        {"[1, 2]", "not a tokenizer.json", AWQ_ERR_FORMAT},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model type 'Unigram'", AWQ_ERR_UNSUPPORTED},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "model type 'WordPiece'", AWQ_ERR_UNSUPPORTED},
        {"{\"normalizer\": {\"type\": \"Lowercase\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "normalizer 'Lowercase'", AWQ_ERR_UNSUPPORTED},
        {"{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Precompiled\"}]},"
         " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "normalizer 'Precompiled'", AWQ_ERR_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "pre_tokenizer 'BertPreTokenizer'", AWQ_ERR_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, {\"type\": \"Digits\"}]},"
         " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "after ByteLevel", AWQ_ERR_UNSUPPORTED},
        {"{\"post_processor\": {\"type\": \"Fancy\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "post_processor 'Fancy'", AWQ_ERR_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {}, \"merges\": []}}", "dropout", AWQ_ERR_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"end_of_word_suffix\": \"</w>\", \"vocab\": {}, \"merges\": []}}",
         "end_of_word_suffix", AWQ_ERR_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "'b' is not in the vocabulary",
         AWQ_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
         "merged token 'ab'", AWQ_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", "separated by a space", AWQ_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", "valid id", AWQ_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}}",
         "unk_token '<unk>'", AWQ_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "no \"merges\"", AWQ_ERR_FORMAT},
        {"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"},"
         " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "regex", AWQ_ERR_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\"},"
         " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "behavior 'Sideways'", AWQ_ERR_UNSUPPORTED},
        {"{\"added_tokens\": [{\"content\": 5}], \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "added token 0", AWQ_ERR_FORMAT},
        {"{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}},"
         " {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {}}, \"model\": {\"type\": \"BPE\", \"vocab\": {},"
         " \"merges\": []}}", "special_tokens", AWQ_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        awq_tokenizer *t = NULL;
        awq_err e = awq_tokenizer_load_json(cases[i].json, strlen(cases[i].json), "bad.json", &t);
        CHECK(e == cases[i].code && !t, "case %zu: code %d (%s)", i, e, awq_errmsg());
        CHECK(strstr(awq_errmsg(), cases[i].needle) && strstr(awq_errmsg(), "bad.json"),
              "case %zu: message '%s' should name '%s' and the file", i, awq_errmsg(), cases[i].needle);
        awq_tokenizer_free(t);
    }
    awq_tokenizer *t = NULL;
    CHECK(awq_tokenizer_load(t_path("missing.json"), &t) == AWQ_ERR_NOTFOUND && !t, "missing file");
    CHECK(strstr(awq_errmsg(), "cannot open") && strstr(awq_errmsg(), "missing.json"), "%s", awq_errmsg());
}

static void t_invalid_utf8(void)
{
    awq_tokenizer *t = load_str("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    REQUIRE(t, "load");
    static const struct { const char *s; size_t len, at; } bad[] = {
        {"aa\xff", 3, 2},           /* never valid */
        {"a\xc0\xaf", 3, 1},        /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},     /* overlong, 3 bytes */
        {"a\xed\xa0\x80", 4, 1},    /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"aaaaaaaa\xe2\x82", 10, 8},/* truncated at the end (after the 8-byte fast path) */
        {"a\x80", 2, 1},            /* lone continuation byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        awq_idvec v = {0};
        awq_idvec_push(&v, 7);
        awq_err e = awq_tokenizer_encode(t, bad[i].s, bad[i].len, 1, &v);
        char needle[64];
        snprintf(needle, sizeof needle, "invalid UTF-8 at byte %zu", bad[i].at);
        CHECK(e == AWQ_ERR_FORMAT && strstr(awq_errmsg(), needle), "case %zu: %s", i, awq_errmsg());
        CHECK(v.n == 1 && v.ids[0] == 7, "case %zu: output left as it was", i);
        awq_idvec_free(&v);
    }
    /* valid edge cases: NUL, U+FFFF, U+10FFFF, U+E000 after the surrogates */
    static const char ok[] = "a\0b\xef\xbf\xbf\xf4\x8f\xbf\xbf\xee\x80\x80";
    size_t where;
    CHECK(awq_utf8_valid(ok, sizeof ok - 1, &where), "valid text rejected at %zu", where);
    awq_tokenizer_free(t);
}

static void t_empty_documents(void)
{
    if (!t_assets()) { t_skip("no ../shared/assets"); return; }
    awq_tokenizer *l = tok(tok_index("llama2")), *g = tok(tok_index("gpt2"));
    REQUIRE(l && g, "tokenizers");
    EXPECT(l, "", 1, 1);   /* spec §2.2: for Llama an empty line is [BOS] and is kept */
    EXPECT_NOTHING(l, "", 0);
    EXPECT_NOTHING(g, "", 1); /* GPT-2, Qwen: no BOS, so an empty document is skipped */
}

/* ---- documents and protocols ---- */

static void t_strip(void)
{
    const char *s = "\x1c \t\xe3\x80\x80 a b\xc2\x85\n";
    size_t n = strlen(s);
    awq_text_strip(&s, &n);
    CHECK(n == 3 && !memcmp(s, "a b", 3), "strip gave '%.*s'", (int)n, s);
    const char *z = "\xe2\x80\x8b"; /* zero-width space is not whitespace for Python */
    n = 3;
    awq_text_strip(&z, &n);
    CHECK(n == 3, "ZWSP kept");
}

static void t_docs_formats(void)
{
    const char *f = t_path("w.txt");
    const char text[] = " \n = A = \n \n B\xc3\xa9\nlast";
    REQUIRE(t_write_file(f, text, sizeof text - 1) == 0, "write");
    const struct { awq_docs_format fmt; size_t n; const char *docs[5]; } want[] = {
        {AWQ_DOCS_LINE, 5, {" ", " = A = ", " ", " B\xc3\xa9", "last"}},
        {AWQ_DOCS_WIKITEXT, 5, {"", " = A = \n", "", " B\xc3\xa9\n", "last"}},
        {AWQ_DOCS_FILE, 1, {text, NULL, NULL, NULL, NULL}},
    };
    for (int k = 0; k < 3; k++) {
        awq_docs *d;
        REQUIRE(awq_docs_open(f, want[k].fmt, NULL, &d) == AWQ_OK, "%s", awq_errmsg());
        CHECK(awq_docs_count(d) == want[k].n, "format %d: %zu docs", k, awq_docs_count(d));
        for (size_t i = 0; i < want[k].n && i < awq_docs_count(d); i++) {
            const char *s;
            size_t n;
            CHECK(awq_docs_get(d, i, &s, &n) == AWQ_OK, "get");
            CHECK(n == strlen(want[k].docs[i]) && !memcmp(s, want[k].docs[i], n), "format %d doc %zu: '%.*s'", k, i,
                  (int)n, s);
        }
        awq_docs_free(d);
    }
    const char *j = t_path("d.jsonl");
    const char jl[] = "{\"text\": \"one\\u0000x\", \"id\": 1}\n\n  \n{\"id\": 2, \"text\": \"two\"}\n{\"id\": 3}\n[1\n";
    REQUIRE(t_write_file(j, jl, sizeof jl - 1) == 0, "write");
    awq_docs *d;
    REQUIRE(awq_docs_open(j, AWQ_DOCS_JSONL, "text", &d) == AWQ_OK, "%s", awq_errmsg());
    CHECK(awq_docs_count(d) == 4, "blank lines skipped: %zu", awq_docs_count(d));
    const char *s;
    size_t n;
    CHECK(awq_docs_get(d, 0, &s, &n) == AWQ_OK && n == 5 && !memcmp(s, "one\0x", 5), "doc 0");
    CHECK(awq_docs_get(d, 1, &s, &n) == AWQ_OK && n == 3 && !memcmp(s, "two", 3), "doc 1");
    CHECK(awq_docs_get(d, 2, &s, &n) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "line 5 has no string member \"text\""),
          "%s", awq_errmsg());
    CHECK(awq_docs_get(d, 3, &s, &n) == AWQ_ERR_FORMAT && strstr(awq_errmsg(), "line 6: invalid JSON"), "%s",
          awq_errmsg());
    awq_docs_free(d);

    const char *b = t_path("bad.txt");
    REQUIRE(t_write_file(b, "ok\nstill ok\nbad \xff here\n", 22) == 0, "write");
    CHECK(awq_docs_open(b, AWQ_DOCS_LINE, NULL, &d) == AWQ_ERR_FORMAT, "invalid UTF-8 file accepted");
    CHECK(strstr(awq_errmsg(), "bad.txt': invalid UTF-8 at byte 16 (line 3)") != NULL, "%s", awq_errmsg());
    CHECK(awq_docs_open(t_path("none.txt"), AWQ_DOCS_LINE, NULL, &d) == AWQ_ERR_NOTFOUND &&
          strstr(awq_errmsg(), "cannot open"), "%s", awq_errmsg());
}

/* Calibration protocol: strip, BOS per document, empty docs kept for Llama / skipped without
 * BOS, over-long docs skipped, stop after n_samples accepted; the oracle is the tokenizer itself
 * applied to the documents the protocol should pick. */
static void t_calib_protocol(void)
{
    if (!t_assets()) { t_skip("no ../shared/assets"); return; }
    awq_tokenizer *l = tok(tok_index("tok512")), *g = tok(tok_index("gpt2"));
    REQUIRE(l && g, "tokenizers");
    const char *f = t_path("calib.txt");
    FILE *fp = fopen(f, "w");
    REQUIRE(fp, "open");
    fprintf(fp, "  Once upon a time.  \n\n");
    for (int i = 0; i < 300; i++) fprintf(fp, "long story %d ", i); /* > 512 tokens */
    fprintf(fp, "\nThe cat sat.\nA dog ran.\nNot reached.\n");
    fclose(fp);
    awq_docs *d;
    REQUIRE(awq_docs_open(f, AWQ_DOCS_LINE, NULL, &d) == AWQ_OK, "%s", awq_errmsg());

    awq_calib_opts o = {.n_samples = 4, .max_doc_tokens = 512, .add_special = 1, .shuffle_seed = -1};
    awq_calib_stats st;
    awq_idvec got = {0}, want = {0};
    CHECK(awq_calib_tokens(l, d, &o, &got, &st) == AWQ_OK, "%s", awq_errmsg());
    CHECK(st.accepted == 4 && st.skipped_long == 1 && st.skipped_empty == 0 && st.visited == 5,
          "accepted %zu long %zu empty %zu visited %zu", st.accepted, st.skipped_long, st.skipped_empty, st.visited);
    static const char *picked[] = {"Once upon a time.", "", "The cat sat.", "A dog ran."};
    for (int i = 0; i < 4; i++) awq_tokenizer_encode(l, picked[i], strlen(picked[i]), 1, &want);
    CHECK(got.n == want.n && !memcmp(got.ids, want.ids, got.n * 4), "stream differs (%zu vs %zu ids)", got.n, want.n);
    CHECK(got.ids[0] == 1 && got.n > 1, "starts with BOS");

    /* no BOS (GPT-2): the empty line encodes to nothing and is skipped */
    got.n = 0;
    CHECK(awq_calib_tokens(g, d, &o, &got, &st) == AWQ_OK, "%s", awq_errmsg());
    CHECK(st.accepted == 4 && st.skipped_empty == 1 && st.skipped_long == 1 && st.visited == 6, "gpt2: %zu/%zu/%zu",
          st.accepted, st.skipped_empty, st.skipped_long);

    /* no limit: the long document is accepted */
    o.max_doc_tokens = 0;
    got.n = 0;
    CHECK(awq_calib_tokens(l, d, &o, &got, &st) == AWQ_OK && st.skipped_long == 0 && got.n > 600, "no limit");

    /* asking for more documents than there are is not an error */
    o.n_samples = 100;
    got.n = 0;
    CHECK(awq_calib_tokens(l, d, &o, &got, &st) == AWQ_OK && st.accepted == 6, "accepted %zu", st.accepted);

    /* seeded order: deterministic, the order XXH3_64(index LE, seed) says */
    o.shuffle_seed = 42;
    o.n_samples = 1;
    got.n = 0;
    CHECK(awq_calib_tokens(l, d, &o, &got, &st) == AWQ_OK, "%s", awq_errmsg());
    size_t first = 0;
    uint64_t best = UINT64_MAX;
    for (uint64_t i = 0; i < awq_docs_count(d); i++) {
        uint64_t h = XXH3_64bits_withSeed(&i, 8, 42); /* little-endian host */
        if (h < best) best = h, first = i;
    }
    const char *s;
    size_t n;
    awq_docs_get(d, first, &s, &n);
    awq_text_strip(&s, &n);
    want.n = 0;
    awq_tokenizer_encode(l, s, n, 1, &want);
    if (want.n <= 512) CHECK(got.n == want.n && !memcmp(got.ids, want.ids, got.n * 4), "seeded first document");
    awq_idvec_free(&got);
    awq_idvec_free(&want);
    awq_docs_free(d);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"vectors", t_vectors},
        {"published_vectors", t_published_vectors},
        {"corpus_stats", t_corpus_stats},
        {"merge_order", t_merge_order},
        {"byte_fallback_and_unk", t_byte_fallback_and_unk},
        {"split_behaviors", t_split_behaviors},
        {"metaspace", t_metaspace},
        {"added_tokens", t_added_tokens},
        {"malformed", t_malformed},
        {"invalid_utf8", t_invalid_utf8},
        {"empty_documents", t_empty_documents},
        {"strip", t_strip},
        {"docs_formats", t_docs_formats},
        {"calib_protocol", t_calib_protocol},
    };
    int rc = t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
    for (int i = 0; i < N_TOK; i++) awq_tokenizer_free(g_tok[i]);
    return rc;
}
