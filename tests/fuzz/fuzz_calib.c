/* fuzz_calib.c - libFuzzer target: the calibration and evaluation readers on arbitrary file
 * contents. The first byte picks the reader, the second its options, the rest is the file:
 *   mode 0-2: text documents (line / wikitext / whole file), mode 3: JSON lines: awq_docs_open,
 *             every document read and stripped, then the calibration stream (awq_calib_tokens)
 *             with a small SentencePiece-style tokenizer;
 *   mode 4:   the evaluation stream of the same file read as wikitext rows (awq_eval_tokens);
 *   mode 5:   a pre-tokenized .i32 file (awq_ids_load) cut into sequences (awq_tokens_layout).
 * The file is a memfd opened through /proc/self/fd, so the readers run exactly as on a real file.
 * Nothing may crash, leak or read out of bounds, and what is accepted must be consistent: text is
 * accepted only when it is UTF-8, every document lies inside the file (text formats), ids are
 * below the tokenizer's count, at most n_samples documents are accepted, and an ids file is
 * accepted exactly when it is a non-empty multiple of 4 bytes with no negative id. */
#include "../../stages/common/textdocs.h"
#include "../../stages/common/tokens.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char tok_json[] =
    "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"},"
    " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]},"
    " \"pre_tokenizer\": null,"
    " \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true, \"normalized\": false},"
    " {\"id\": 1, \"content\": \"<s>\", \"special\": true, \"normalized\": false}],"
    " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}},"
    " {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1],"
    " \"tokens\": [\"<s>\"]}}},"
    " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, \"byte_fallback\": true,"
    " \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"<0x0A>\": 2, \"<0x7B>\": 3, \"\xe2\x96\x81\": 4, \"a\": 5, \"b\": 6, \"t\": 7,"
    " \"\xe2\x96\x81" "a\": 8, \"ab\": 9, \"\xe2\x96\x81" "ab\": 10, \"\\\"\": 11},"
    " \"merges\": [[\"\xe2\x96\x81\", \"a\"], [\"a\", \"b\"], [\"\xe2\x96\x81" "a\", \"b\"]]}}";

static awq_tokenizer *g_tok;
static int g_fd = -1;
static char g_path[64];

static void check_ids(const awq_idvec *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->ids[i] < 0 || v->ids[i] >= awq_tokenizer_n_ids(g_tok)) abort();
}

static void fuzz_docs(awq_docs_format fmt, unsigned opt, const char *file, size_t size)
{
    awq_docs *d = NULL;
    awq_err e = awq_docs_open(g_path, fmt, (opt & 1) ? "t" : "text", &d);
    if (fmt != AWQ_DOCS_JSONL && awq_utf8_valid(file, size, NULL) != (e == AWQ_OK)) abort();
    if (e) return;
    size_t n = awq_docs_count(d);
    if (fmt == AWQ_DOCS_FILE ? n != 1 : n > size) abort();
    for (size_t i = 0; i < n + 1; i++) {
        const char *s = NULL;
        size_t len = 0;
        e = awq_docs_get(d, i, &s, &len);
        if (i == n) {
            if (e == AWQ_OK) abort(); /* no document past the last */
            break;
        }
        if (e) continue; /* a JSONL line that is not an object with the member */
        if (len && !s) abort();
        const char *t = s;
        size_t tn = len;
        awq_text_strip(&t, &tn);
        if (t < s || t + tn > s + len) abort();
    }
    awq_calib_opts o = {.n_samples = 1 + (int)((opt >> 1) & 7), .max_doc_tokens = (opt & 16) ? 8 : 0,
                        .add_special = (int)((opt >> 5) & 1), .shuffle_seed = (opt & 64) ? 42 : -1};
    awq_idvec v = {0};
    awq_calib_stats st;
    e = awq_calib_tokens(g_tok, d, &o, &v, &st);
    if (!e) {
        if (st.accepted > (size_t)o.n_samples || st.accepted + st.skipped_empty + st.skipped_long != st.visited) abort();
        check_ids(&v);
    }
    awq_idvec_free(&v);
    awq_docs_free(d);
}

static void fuzz_eval(unsigned opt, const char *file, size_t size)
{
    awq_docs *d = NULL;
    awq_err e = awq_docs_open(g_path, AWQ_DOCS_WIKITEXT, "text", &d);
    if (awq_utf8_valid(file, size, NULL) != (e == AWQ_OK)) abort();
    if (e) return;
    awq_idvec v = {0};
    size_t bytes = 0;
    if (awq_eval_tokens(g_tok, d, (int)(opt & 1), &v, &bytes) == AWQ_OK) {
        if (bytes > size + 2 * awq_docs_count(d)) abort();
        check_ids(&v);
    }
    awq_idvec_free(&v);
    awq_docs_free(d);
}

static void fuzz_ids(unsigned opt, const uint8_t *file, size_t size)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int valid = size > 0 && size % 4 == 0;
    for (size_t i = 0; valid && i < size; i += 4) {
        int32_t x;
        memcpy(&x, file + i, 4);
        if (x < 0) valid = 0;
    }
    awq_err e = awq_ids_load(g_path, &ids, &n);
    if (valid != (e == AWQ_OK)) abort();
    if (!e) {
        if (n != size / 4 || memcmp(ids, file, size)) abort();
        int seqlen = 1 + (int)(opt % 7), blocks = 0;
        if (awq_tokens_layout(n, seqlen, (int)(opt >> 3) % 3, &blocks) == AWQ_OK &&
            (blocks <= 0 || (size_t)blocks * (size_t)seqlen > n))
            abort();
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!g_tok) {
        if (awq_tokenizer_load_json(tok_json, sizeof tok_json - 1, "fuzz-calib-tokenizer.json", &g_tok) != AWQ_OK) {
            fprintf(stderr, "tokenizer: %s\n", awq_errmsg());
            abort();
        }
        g_fd = memfd_create("fuzz-calib", 0);
        if (g_fd < 0) abort();
        snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    }
    const uint8_t *file = data + 2;
    size_t n = size - 2;
    if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, file, n, 0) != (ssize_t)n) abort();
    unsigned mode = data[0] % 6, opt = data[1];
    switch (mode) {
    case 0: fuzz_docs(AWQ_DOCS_LINE, opt, (const char *)file, n); break;
    case 1: fuzz_docs(AWQ_DOCS_WIKITEXT, opt, (const char *)file, n); break;
    case 2: fuzz_docs(AWQ_DOCS_FILE, opt, (const char *)file, n); break;
    case 3: fuzz_docs(AWQ_DOCS_JSONL, opt, (const char *)file, n); break;
    case 4: fuzz_eval(opt, (const char *)file, n); break;
    default: fuzz_ids(opt, file, n); break;
    }
    return 0;
}
