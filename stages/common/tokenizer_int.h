/* tokenizer_int.h - internals of the tokenizer, shared by stages/common/tokenizer*.c only
 * (the public interface is tokenizer.h). Structures follow the encode pipeline of the Rust
 * library: added-token split -> normalizer -> added-token split (normalized tokens) ->
 * pre-tokenizer -> BPE model -> post-processor. */
#ifndef AWQ_TOKENIZER_INT_H
#define AWQ_TOKENIZER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

/* ---- growable byte buffer ---- */
typedef struct tk_bytes {
    char *p;
    size_t n, cap;
} tk_bytes;
awq_err tk_bytes_reserve(tk_bytes *b, size_t extra);
awq_err tk_bytes_put(tk_bytes *b, const void *s, size_t n);
void tk_bytes_free(tk_bytes *b);

/* ---- string -> non-negative int32 map (open addressing, XXH3 hashes, keys copied) ---- */
typedef struct tk_slot {
    uint64_t hash;
    uint32_t off, len; /* key bytes in keys.p[off .. off+len); off == UINT32_MAX: empty slot */
    int32_t val;
} tk_slot;
typedef struct tk_strmap {
    tk_slot *slots;
    size_t mask, n;
    tk_bytes keys;
} tk_strmap;
awq_err tk_strmap_init(tk_strmap *m, size_t expected);
void tk_strmap_free(tk_strmap *m);
void tk_strmap_clear(tk_strmap *m);
/* Insert or overwrite. */
awq_err tk_strmap_set(tk_strmap *m, const char *key, size_t len, int32_t val);
/* The value, or -1 when absent. */
int32_t tk_strmap_get(const tk_strmap *m, const char *key, size_t len);

/* ---- (left id, right id) -> (rank, merged id) ---- */
typedef struct tk_pairslot {
    uint64_t key; /* UINT64_MAX: empty */
    int32_t rank, id;
} tk_pairslot;
typedef struct tk_pairmap {
    tk_pairslot *slots;
    size_t mask, n;
} tk_pairmap;
awq_err tk_pairmap_init(tk_pairmap *m, size_t expected);
void tk_pairmap_free(tk_pairmap *m);
/* Insert or overwrite (a later duplicate merge wins, as in the Rust library's HashMap). */
awq_err tk_pairmap_set(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* The merge of (a, b), or NULL. */
const tk_pairslot *tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b);

/* ---- regexes (PCRE2) ---- */
typedef struct tk_regex {
    pcre2_code *code;
    int jit;
} tk_regex;
/* Compile an Oniguruma-style pattern (see tokenizer.h on \s); `what` names it in errors. */
awq_err tk_regex_compile(tk_regex *re, const char *pattern, size_t len, const char *what);
void tk_regex_free(tk_regex *re);

/* Per-tokenizer match state (one tokenizer = one thread). */
typedef struct tk_matcher {
    pcre2_match_data *md;
    pcre2_match_context *ctx;
    pcre2_jit_stack *stack;
} tk_matcher;
awq_err tk_matcher_init(tk_matcher *m);
void tk_matcher_free(tk_matcher *m);
/* Next match in s[0..n) starting the search at `from`: 1 and [*ms, *me), 0 when none, or an
 * awq_err (negated) on a matching failure (message recorded). */
int tk_regex_next(const tk_regex *re, tk_matcher *m, const char *s, size_t n, size_t from, size_t *ms,
                  size_t *me);

/* ---- Unicode helpers ---- */
/* Decode the UTF-8 character at s (valid input assumed); *cp receives the code point, returns
 * its length in bytes. */
int tk_utf8_decode(const unsigned char *s, size_t n, int32_t *cp);
int tk_utf8_encode(int32_t cp, char out[4]);
/* Rust's char::is_whitespace (the Unicode White_Space property). */
int tk_is_white_space(int32_t cp);
/* Rust's char::is_numeric (general categories Nd, Nl, No). */
int tk_is_numeric(int32_t cp);
/* Rust's char::is_alphanumeric, approximated by categories L* and N* (single_word tokens). */
int tk_is_alnum(int32_t cp);

/* ---- normalizers ---- */
enum { TK_N_NFC, TK_N_NFD, TK_N_NFKC, TK_N_NFKD, TK_N_PREPEND, TK_N_REPLACE, TK_N_STRIP };
typedef struct tk_norm {
    int kind;
    char *a;        /* Prepend: the prefix; Replace: the literal pattern (NULL for a regex) */
    size_t a_len;
    char *b;        /* Replace: the content */
    size_t b_len;
    tk_regex re;    /* Replace with a Regex pattern */
    int left, right; /* Strip */
} tk_norm;

/* ---- pre-tokenizers ---- */
enum { TK_P_SPLIT, TK_P_BYTELEVEL, TK_P_METASPACE, TK_P_DIGITS, TK_P_WHITESPACE, TK_P_WSPLIT };
enum { TK_B_REMOVED, TK_B_ISOLATED, TK_B_MERGED_PREV, TK_B_MERGED_NEXT, TK_B_CONTIGUOUS };
enum { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER };
typedef struct tk_pre {
    int kind;
    int behavior, invert;          /* Split */
    tk_regex re;                   /* Split (Regex), ByteLevel (use_regex), Whitespace */
    char *lit;                     /* Split (String) */
    size_t lit_len;
    int add_prefix_space, use_regex; /* ByteLevel */
    char repl[8];                  /* Metaspace replacement character (UTF-8) */
    int repl_len, prepend_scheme, split;
    int individual;                /* Digits */
} tk_pre;

/* A piece of text between pipeline steps: bytes in a tk_pieces' text buffer. */
typedef struct tk_piece {
    size_t off, len;
    int at_start; /* begins at offset 0 of the original input (Metaspace prepend_scheme "first") */
} tk_piece;
/* A stretch of a piece, matched by a pre-tokenizer's pattern or not. */
typedef struct tk_range {
    size_t s, e;
    int match;
} tk_range;
typedef struct tk_pieces {
    tk_piece *v;
    size_t n, cap;
    tk_bytes text;
} tk_pieces;

/* ---- added tokens ---- */
typedef struct tk_added {
    char *content;   /* as written in the file */
    size_t len;
    char *match;     /* what is searched: content, normalized when `normalized` */
    size_t match_len;
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} tk_added;
/* Tokens of one matching pass grouped by first byte, longest first (leftmost-longest search). */
typedef struct tk_addset {
    int32_t *idx;
    size_t n;
    size_t first[257]; /* idx[first[c] .. first[c+1]) start with byte c */
} tk_addset;

struct awq_tokenizer {
    char *name;
    tk_norm *norm;
    size_t n_norm;
    tk_pre *pre;
    size_t n_pre;

    /* BPE model */
    tk_strmap vocab;      /* token string -> id, as in the file */
    int byte_level;       /* strings are ByteLevel-mapped: the model works on raw bytes */
    tk_strmap raw_vocab;  /* byte_level: raw bytes -> id (ignore_merges) */
    int32_t byte_id[256]; /* byte_level: id of the one-byte token, or -1 */
    int32_t ascii_id[128];/* not byte_level: id of the one-character token, or -1 */
    int32_t fallback_id[256]; /* "<0xXX>" ids, -1 when absent */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;       /* -1: none */
    tk_pairmap merges;
    /* Not byte-level, no ignore_merges: adjacent characters (code point pairs) that occur inside
     * some merged token. Where the text has any other pair of known characters, no merge can
     * ever join them, so long pieces are cut there and the parts encoded (and cached) alone. */
    int use_bigrams;
    tk_pairmap bigrams;

    tk_added *added;
    size_t n_added;
    tk_addset raw_set, norm_set;

    int32_t *prefix, *suffix; /* post-processor, single sequence */
    size_t n_prefix, n_suffix;
    int32_t n_ids;

    /* decoding (tokenizer_decode.c): the file's "decoder" (NULL when absent), and every id's token
     * string, built at the first decode (id_tok[i] == NULL: no token has id i) */
    json_t *decoder;
    const char **id_tok;
    uint32_t *id_len;

    /* scratch, reused between calls */
    tk_matcher mt;
    tk_bytes norm_a, norm_b;
    tk_pieces pa, pb;
    tk_range *rng;
    size_t n_rng, rng_cap;
    tk_bytes tmp;
    int32_t *sym_id, *sym_prev, *sym_next;
    size_t sym_cap;
    uint64_t *heap;
    size_t heap_cap;
    /* word cache: piece bytes -> offset in cache_ids of [count, ids...] */
    tk_strmap cache;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
};

/* GPT-2's byte <-> character map of the ByteLevel pre-tokenizer. */
int32_t tk_byte_to_char(unsigned char b);
/* The byte of a mapped character, or -1. */
int tk_char_to_byte(int32_t cp);

/* The readers' shared helpers (tokenizer_json.c): errors "'<file>': <what>" (AWQ_ERR_FORMAT, AWQ_ERR_UNSUPPORTED with a
 * hint), JSON members with defaults, a NUL-terminated copy of bytes. */
awq_err tk_bad(const awq_tokenizer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
awq_err tk_unsupported(const awq_tokenizer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tk_jbool(const json_t *o, const char *key, int dflt);
const char *tk_jstr(const json_t *o, const char *key, size_t *len); /* NULL when absent / not a string */
char *tk_dup(const char *s, size_t n);

/* Added tokens and post-processor (tokenizer_special.c). tk_parse_added needs the normalizer
 * already loaded (normalized tokens are matched in normalized form). */
awq_err tk_parse_added(awq_tokenizer *t, const json_t *list);
awq_err tk_parse_post(awq_tokenizer *t, const json_t *n, int depth);
/* The next added token of `set` in s[from..n): its index in t->added, and in [*ms, *me) the
 * stretch it takes (with stripped whitespace, never before `floor`); -1 when none. */
long tk_next_added(const awq_tokenizer *t, const tk_addset *set, const char *s, size_t n, size_t from, size_t floor,
                   size_t *ms, size_t *me);

/* Steps of the pipeline (tokenizer_norm.c, tokenizer_pre.c, tokenizer_bpe.c). */
/* *at_start: in, whether s begins the input; out, whether the normalized text still begins with
 * a character that came from there (Strip and empty replacements can drop it). */
awq_err tk_normalize(awq_tokenizer *t, const char *s, size_t n, const char **out, size_t *out_n, int *at_start);
awq_err tk_pretokenize(awq_tokenizer *t, const char *s, size_t n, int at_start, tk_pieces **out);
awq_err tk_bpe_encode(awq_tokenizer *t, const char *s, size_t n, awq_idvec *out);
void tk_norm_free(tk_norm *n);
void tk_pre_free(tk_pre *p);
void tk_bpe_scratch_free(awq_tokenizer *t);

#endif
