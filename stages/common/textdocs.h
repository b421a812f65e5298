/* textdocs.h - calibration and evaluation text: documents from .txt / .jsonl files, the spec §2.2
 * calibration protocol (strip, encode with special tokens, skip empty and over-long documents,
 * stop after n_samples accepted) and the §4.1 evaluation stream (documents joined with "\n\n",
 * encoded once).
 *
 * Document order: file order by default. The HF `datasets` shuffle(seed=42) of llm-awq cannot be
 * reproduced (spec §2.2), so an optional seeded order of our own is offered instead: documents
 * are visited by increasing XXH3_64(index as 8 little-endian bytes, seed), ties by index.
 */
#ifndef AWQ_TEXTDOCS_H
#define AWQ_TEXTDOCS_H

#include <stddef.h>

#include "tokenizer.h"

typedef enum {
    AWQ_DOCS_LINE,     /* .txt: one document per line, without its "\n" */
    AWQ_DOCS_WIKITEXT, /* .txt as the HF wikitext loader makes rows: each line WITH its "\n";
                          a line that is only whitespace becomes the empty row "" */
    AWQ_DOCS_FILE,     /* the whole file is one document */
    AWQ_DOCS_JSONL,    /* one JSON object per line; the document is its string member `field`;
                          blank lines are skipped */
} awq_docs_format;

typedef struct awq_docs awq_docs;

/* Parse "line" / "wikitext" / "file" (the --docs option). -1 when unknown. */
int awq_docs_format_parse(const char *name);

/* Open `path` (read through mmap). Text formats are checked to be UTF-8 here, so an error names
 * the file, line and byte offset. JSON is checked line by line when a document is read.
 * Errors: unreadable file, invalid UTF-8 (AWQ_ERR_FORMAT). *out: caller frees (awq_docs_free). */
awq_err awq_docs_open(const char *path, awq_docs_format fmt, const char *field, awq_docs **out);
void awq_docs_free(awq_docs *d);

/* Number of documents. */
size_t awq_docs_count(const awq_docs *d);

/* Document i (0-based). *text stays valid until the next call on d. Errors (JSONL): a line that
 * is not a JSON object with a string member `field` (AWQ_ERR_FORMAT, naming file and line). */
awq_err awq_docs_get(awq_docs *d, size_t i, const char **text, size_t *len);

/* Python's str.strip(): remove leading and trailing whitespace (str.isspace: Unicode White_Space
 * plus the separators U+001C..U+001F) by narrowing [*s, *s + *n). */
void awq_text_strip(const char **s, size_t *n);

typedef struct awq_calib_opts {
    int n_samples;      /* documents to accept (spec: 128) */
    int max_doc_tokens; /* skip documents with more tokens than this (spec: 512); <= 0: no limit */
    int add_special;    /* encode with the post-processor's tokens (spec: yes) */
    long long shuffle_seed; /* < 0: file order */
} awq_calib_opts;

typedef struct awq_calib_stats {
    size_t visited, accepted, skipped_empty, skipped_long;
} awq_calib_stats;

/* Spec §2.2 steps 3-5 up to the concatenation: APPEND the accepted documents' ids to `out`.
 * Fewer than n_samples documents is not an error (stats say how many); errors name the file
 * and document. */
awq_err awq_calib_tokens(awq_tokenizer *t, awq_docs *d, const awq_calib_opts *o, awq_idvec *out,
                         awq_calib_stats *stats);

/* Spec §4.1 steps 1-2: all documents joined with "\n\n", encoded once; ids APPENDED to `out`.
 * *text_bytes (when not NULL) receives the length of the joined text. */
awq_err awq_eval_tokens(awq_tokenizer *t, awq_docs *d, int add_special, awq_idvec *out, size_t *text_bytes);

#endif
