/* test_decode.c - awq_tokenizer_decode against the tokenizers library's Tokenizer.decode: the ids and
 * texts of tests/golden/generate/golden.json (tools/golden/gen_generate_golden.py; GPT-2, Llama-2,
 * Llama-3, Mistral, Qwen3 and stories260K, special tokens skipped and kept), and without the shared
 * assets the decoder steps on a tiny inline tokenizer and the errors. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../stages/common/tokenizer.h"
#include "test.h"

#define GOLDEN "tests/golden/generate/golden.json"
#define REGEN "regenerate: /tmp/goldenvenv/bin/python tools/golden/gen_generate_golden.py"

static void t_golden(void)
{
    if (!t_assets()) { t_skip("no ../shared/assets (the tokenizers of " GOLDEN ")"); return; }
    json_error_t err;
    json_t *root = json_load_file(GOLDEN, 0, &err);
    REQUIRE(root, "%s: %s (%s)", GOLDEN, err.text, REGEN);
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(json_object_get(root, "decode"), i, c) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", t_assets(), json_string_value(json_object_get(c, "tokenizer")));
        awq_tokenizer *t = NULL;
        CHECK(awq_tokenizer_load(path, &t) == AWQ_OK, "load %s", path);
        if (!t) continue;
        json_t *ids = json_object_get(c, "ids");
        size_t m = json_array_size(ids);
        int32_t *v = malloc((m ? m : 1) * sizeof *v);
        for (size_t k = 0; k < m; k++) v[k] = (int32_t)json_integer_value(json_array_get(ids, k));
        for (int skip = 1; skip >= 0; skip--) {
            const char *want = json_string_value(json_object_get(c, skip ? "skip_special" : "keep_special"));
            char *got = NULL;
            size_t len = 0;
            CHECK(awq_tokenizer_decode(t, v, m, skip, &got, &len) == AWQ_OK, "%s case %zu", path, i);
            CHECK(got && want && len == strlen(want) && strcmp(got, want) == 0,
                  "%s case %zu skip_special=%d:\n      got  '%s'\n      want '%s'\n    (%s)", path, i, skip,
                  got ? got : "(null)", want ? want : "(null)", REGEN);
            free(got);
            n++;
        }
        free(v);
        awq_tokenizer_free(t);
    }
    CHECK(n >= 40, "only %zu decodes in %s", n, GOLDEN);
    json_decref(root);
}

/* Metaspace and Strip/Fuse/ByteFallback without any file: the expected texts follow the library's
 * rules (Metaspace drops the first token's prepended space; a byte run that is not UTF-8 becomes
 * one U+FFFD per byte token). */
static const char TINY[] =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,"
    "\"decoder\":%s,"
    "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"<s>\":0,\"\\u2581a\":1,\"\\u2581b\":2,\"c\":3,"
    "\"<0xC3>\":4,\"<0xA9>\":5,\"<0xFF>\":6},\"merges\":[]}}";

static char *decode_with(const char *decoder, const int32_t *ids, size_t n, int skip, awq_err *e)
{
    char json[2048];
    snprintf(json, sizeof json, TINY, decoder);
    awq_tokenizer *t = NULL;
    *e = awq_tokenizer_load_json(json, strlen(json), "tiny.json", &t);
    if (*e) return NULL;
    char *s = NULL;
    *e = awq_tokenizer_decode(t, ids, n, skip, &s, NULL);
    awq_tokenizer_free(t);
    return s;
}

static void t_steps(void)
{
    static const int32_t ids[] = {0, 1, 2, 3, 4, 5, 3, 6};
    awq_err e;
    char *s = decode_with("{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true}",
                          ids, 4, 1, &e);
    CHECK(e == AWQ_OK && s && strcmp(s, "a bc") == 0, "Metaspace: '%s'", s ? s : "(null)");
    free(s);
    s = decode_with("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},"
                    "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
                    "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}", ids, 8, 0, &e);
    CHECK(e == AWQ_OK && s && strcmp(s, "<s> a bc\xC3\xA9" "c\xEF\xBF\xBD") == 0, "llama-2 chain: '%s'", s ? s : "(null)");
    free(s);
    static const int32_t run[] = {4, 5, 6};
    s = decode_with("{\"type\":\"ByteFallback\"}", run, 3, 1, &e); /* C3 A9 FF: not UTF-8, so 3 x U+FFFD */
    CHECK(e == AWQ_OK && s && strcmp(s, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") == 0, "bad byte run: '%s'", s ? s : "(null)");
    free(s);
    s = decode_with("null", ids + 1, 2, 1, &e);
    CHECK(e == AWQ_OK && s && strcmp(s, "\xE2\x96\x81" "a" "\xE2\x96\x81" "b") == 0, "no decoder: '%s'", s ? s : "(null)");
    free(s);
    static const int32_t bad[] = {1, 99};
    s = decode_with("null", bad, 2, 1, &e);
    CHECK(e == AWQ_ERR_ARG && !s, "unknown id: %d", (int)e);
    s = decode_with("{\"type\":\"WordPiece\"}", ids, 2, 1, &e);
    CHECK(e == AWQ_ERR_UNSUPPORTED && !s, "WordPiece decoder: %d", (int)e);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {{"golden", t_golden}, {"steps", t_steps}};
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
