/* tokenizer.c - encoding: the pipeline of the Rust library's Tokenizer::encode for one sequence.
 * Added tokens are cut out of the raw text first (those with normalized=false), each remaining
 * stretch is normalized, cut again at normalized added tokens, pre-tokenized into pieces, and
 * each piece goes through the BPE model; the post-processor adds BOS/EOS around the result. */
#include "tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

int32_t awq_tokenizer_n_ids(const awq_tokenizer *t) { return t->n_ids; }

int32_t awq_tokenizer_token_id(const awq_tokenizer *t, const char *token)
{
    size_t len = strlen(token);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, token, len) == 0) return t->added[i].id;
    return tk_strmap_get(&t->vocab, token, len);
}

static awq_err encode_pieces(awq_tokenizer *t, const char *s, size_t n, int at_start, awq_idvec *out)
{
    tk_pieces *pieces;
    awq_err e = tk_pretokenize(t, s, n, at_start, &pieces);
    for (size_t i = 0; !e && i < pieces->n; i++)
        e = tk_bpe_encode(t, pieces->text.p + pieces->v[i].off, pieces->v[i].len, out);
    return e;
}

/* One stretch of raw text between added tokens: normalize, split at normalized added tokens. */
static awq_err encode_stretch(awq_tokenizer *t, const char *s, size_t n, int at_start, awq_idvec *out)
{
    const char *ns;
    size_t nn;
    awq_err e = tk_normalize(t, s, n, &ns, &nn, &at_start);
    size_t prev = 0, ms, me;
    long tok;
    while (!e && (tok = tk_next_added(t, &t->norm_set, ns, nn, prev, prev, &ms, &me)) >= 0) {
        if (ms > prev) e = encode_pieces(t, ns + prev, ms - prev, at_start && prev == 0, out);
        if (!e) e = awq_idvec_push(out, t->added[tok].id);
        prev = me;
    }
    if (!e && prev < nn) e = encode_pieces(t, ns + prev, nn - prev, at_start && prev == 0, out);
    return e;
}

awq_err awq_tokenizer_encode(awq_tokenizer *t, const char *text, size_t len, int add_special, awq_idvec *out)
{
    size_t bad, before = out->n;
    if (!awq_utf8_valid(text, len, &bad)) {
        awq_fail(AWQ_ERR_FORMAT, "invalid UTF-8 at byte %zu", bad);
        awq_hint("tokenizers take UTF-8 text; convert it first (e.g. iconv -f latin1 -t utf-8)");
        return AWQ_ERR_FORMAT;
    }
    awq_err e = AWQ_OK;
    if (add_special)
        for (size_t i = 0; !e && i < t->n_prefix; i++) e = awq_idvec_push(out, t->prefix[i]);
    size_t prev = 0, ms, me;
    long tok;
    while (!e && (tok = tk_next_added(t, &t->raw_set, text, len, prev, prev, &ms, &me)) >= 0) {
        if (ms > prev) e = encode_stretch(t, text + prev, ms - prev, prev == 0, out);
        if (!e) e = awq_idvec_push(out, t->added[tok].id);
        prev = me;
    }
    if (!e && prev < len) e = encode_stretch(t, text + prev, len - prev, prev == 0, out);
    if (add_special)
        for (size_t i = 0; !e && i < t->n_suffix; i++) e = awq_idvec_push(out, t->suffix[i]);
    if (e) out->n = before;
    return e;
}

void awq_tokenizer_free(awq_tokenizer *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_norm; i++) tk_norm_free(&t->norm[i]);
    for (size_t i = 0; i < t->n_pre; i++) tk_pre_free(&t->pre[i]);
    for (size_t i = 0; i < t->n_added; i++) {
        if (t->added[i].match != t->added[i].content) free(t->added[i].match);
        free(t->added[i].content);
    }
    free(t->norm);
    free(t->pre);
    free(t->added);
    json_decref(t->decoder);
    free(t->id_tok);
    free(t->id_len);
    free(t->raw_set.idx);
    free(t->norm_set.idx);
    free(t->prefix);
    free(t->suffix);
    tk_strmap_free(&t->vocab);
    tk_strmap_free(&t->raw_vocab);
    tk_pairmap_free(&t->merges);
    tk_pairmap_free(&t->bigrams);
    tk_matcher_free(&t->mt);
    tk_bytes_free(&t->norm_a);
    tk_bytes_free(&t->norm_b);
    tk_bytes_free(&t->tmp);
    free(t->pa.v);
    tk_bytes_free(&t->pa.text);
    free(t->pb.v);
    tk_bytes_free(&t->pb.text);
    free(t->rng);
    tk_bpe_scratch_free(t);
    free(t->name);
    free(t);
}
