/* tokenizer.h - HuggingFace tokenizer.json BPE tokenizers in C: text -> token ids, the same ids as
 * the `tokenizers` library's Tokenizer.encode(text, add_special_tokens).ids (no offsets), and ids -> text (decode).
 *
 * Supported (everything else is refused at load time with an error naming the feature):
 *   model            BPE: byte-level (GPT-2, Llama-3, Qwen2/3) or SentencePiece-style with
 *                    byte_fallback/unk/fuse_unk (Llama-2, Mistral, stories260K); ignore_merges;
 *                    merges as "a b" strings or [a, b] pairs. dropout must be null/0 and
 *                    continuing_subword_prefix/end_of_word_suffix empty.
 *   normalizer       NFC, NFD, NFKC, NFKD (utf8proc), Prepend, Replace (string or regex), Strip,
 *                    Sequence
 *   pre_tokenizer    Split (string or regex, every behavior, invert), ByteLevel, Metaspace,
 *                    Digits, Whitespace, WhitespaceSplit, Sequence
 *   added_tokens     special and not, with lstrip / rstrip / single_word / normalized; each
 *                    keeps the id written in the file (the Rust library renumbers a token whose id
 *                    disagrees with the vocabulary, with a warning: such files are broken anyway)
 *   post_processor   TemplateProcessing (single), ByteLevel, BertProcessing, RobertaProcessing,
 *                    Sequence
 * "truncation" and "padding" are ignored: callers do their own length handling.
 * decoder          (awq_tokenizer_decode only) ByteLevel, Replace (string), ByteFallback, Fuse,
 *                  Strip, Metaspace, Sequence; others are refused at the first decode
 *
 * Regexes run on PCRE2 (UTF + UCP, JIT when available). `\s` / `\S` in a pattern mean Unicode
 * White_Space as in Oniguruma (which the Rust library uses); PCRE2's own \s differs on U+180E.
 * Character properties follow PCRE2's and utf8proc's Unicode tables, which may lag the Rust
 * library on characters assigned in the newest Unicode versions.
 *
 * Text must be valid UTF-8 (it is what the Rust library can represent): invalid input is an
 * AWQ_ERR_FORMAT error that names the byte offset. NUL bytes are ordinary characters.
 */
#ifndef AWQ_TOKENIZER_H
#define AWQ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../../base/error.h"

typedef struct awq_tokenizer awq_tokenizer;

/* A growable array of token ids. Zero-initialize; free with awq_idvec_free. */
typedef struct awq_idvec {
    int32_t *ids;
    size_t n, cap;
} awq_idvec;

/* Make room for `extra` more ids. AWQ_ERR_NOMEM on failure (v unchanged). */
awq_err awq_idvec_reserve(awq_idvec *v, size_t extra);
/* Append one id (grows as needed). */
awq_err awq_idvec_push(awq_idvec *v, int32_t id);
/* Free the array and zero the struct. NULL is a no-op. */
void awq_idvec_free(awq_idvec *v);

/* Load a tokenizer.json file. *out is owned by the caller (awq_tokenizer_free).
 * Errors: unreadable file (AWQ_ERR_IO / NOTFOUND), malformed JSON or inconsistent contents such as
 * a merge whose parts are not in the vocabulary (AWQ_ERR_FORMAT), features listed as unsupported
 * above (AWQ_ERR_UNSUPPORTED, the message names the feature and the file). */
awq_err awq_tokenizer_load(const char *path, awq_tokenizer **out);

/* The same from JSON text in memory; `name` is used in messages (e.g. the file name). */
awq_err awq_tokenizer_load_json(const char *json, size_t len, const char *name, awq_tokenizer **out);

/* Free a tokenizer. NULL is a no-op. */
void awq_tokenizer_free(awq_tokenizer *t);

/* Encode `len` bytes of UTF-8 text and APPEND the ids to `out`. With add_special the
 * post-processor's tokens are added (Llama-2/Mistral: BOS; GPT-2/Llama-3.0/Qwen: nothing).
 * Errors: invalid UTF-8 (AWQ_ERR_FORMAT, "invalid UTF-8 at byte N"), AWQ_ERR_NOMEM; on error
 * out->n is restored to its value at the call.
 * Not thread-safe: a tokenizer keeps a cache of recently encoded words. Use one per thread. */
awq_err awq_tokenizer_encode(awq_tokenizer *t, const char *text, size_t len, int add_special, awq_idvec *out);

/* Decode ids to text as the `tokenizers` library's Tokenizer.decode(ids, skip_special_tokens)
 * does: each id's token string, the file's "decoder" chain over them, joined. *text is a malloc'd
 * NUL-terminated string owned by the caller (*len bytes, may hold invalid UTF-8 only where the
 * library would too). Errors: an id that is no token (AWQ_ERR_ARG, names it), a decoder step not
 * listed above (AWQ_ERR_UNSUPPORTED), AWQ_ERR_NOMEM. Not thread-safe (builds a table once). */
awq_err awq_tokenizer_decode(awq_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text,
                             size_t *len);

/* One more than the largest id the tokenizer can produce (vocabulary and added tokens). */
int32_t awq_tokenizer_n_ids(const awq_tokenizer *t);

/* The id of a vocabulary or added token given by its exact string, or -1. */
int32_t awq_tokenizer_token_id(const awq_tokenizer *t, const char *token);

/* Check that s[0..len) is valid UTF-8 (RFC 3629: no overlongs, surrogates or code points above
 * U+10FFFF). Returns 1 if valid; else 0 and *bad receives the offset of the first bad byte. */
int awq_utf8_valid(const char *s, size_t len, size_t *bad);

#endif
