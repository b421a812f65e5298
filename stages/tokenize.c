/* tokenize.c - awq-tokenize: calibration tokens (spec §2.2) into a `tokens` object, or the
 * evaluation token stream (spec §4.1) into a file of int32 ids. Input is text (.txt / .jsonl,
 * tokenized here with the model's tokenizer.json) or an already tokenized stream (--ids). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/atomic.h"
#include "common/log.h"
#include "common/opts.h"
#include "common/textdocs.h"
#include "common/tokens.h"

static int usage(const char *prog, const char *msg)
{
    fprintf(stderr, "%s: %s\ntry '%s --help'\n", prog, msg, prog);
    return 2;
}

static awq_err write_ids(const char *path, const awq_idvec *v)
{
    awq_atomic f;
    awq_err e = awq_atomic_open(&f, path);
    if (e) return e;
    e = awq_atomic_write(&f, v->ids, v->n * sizeof *v->ids); /* little-endian hosts only */
    if (e) {
        awq_atomic_abort(&f);
        return e;
    }
    return awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
}

static awq_err store_tokens(const char *store_dir, const int32_t *ids, size_t n, int seqlen, int max_blocks)
{
    int n_blocks = 0;
    awq_store *store = NULL;
    awq_key key;
    awq_err e = awq_tokens_layout(n, seqlen, max_blocks, &n_blocks);
    if (!e) e = awq_store_open(&store, store_dir, 0);
    if (!e) e = awq_tokens_put(store, ids, n_blocks, seqlen, &key);
    const char *why;
    if (!e && awq_store_replaced(store, &why)) awq_warn("%s; it was made again", why);
    if (!e) {
        char hex[AWQ_KEY_HEX + 1];
        awq_key_hex(&key, hex);
        awq_verbose("%d sequences of %d tokens from %zu ids (%zu dropped)", n_blocks, seqlen, n,
                    n - (size_t)n_blocks * (size_t)seqlen);
        printf("%s\n", hex);
    }
    awq_store_close(store);
    return e;
}

typedef struct text_job {
    const char *input;
    awq_docs_format fmt;
    const char *field, *tokenizer, *model, *out, *store;
    awq_calib_opts calib;
    int seqlen, max_blocks;
} text_job;

/* Load the tokenizer (--tokenizer or --model DIR/tokenizer.json) and open the documents. */
static awq_err open_text(const text_job *j, awq_tokenizer **tok, awq_docs **docs)
{
    char *path = NULL;
    if (j->model) {
        size_t len = strlen(j->model) + sizeof "/tokenizer.json";
        if (!(path = malloc(len))) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
        snprintf(path, len, "%s/tokenizer.json", j->model);
    }
    double t0 = awq_now();
    awq_err e = awq_tokenizer_load(path ? path : j->tokenizer, tok);
    free(path);
    if (!e) e = awq_docs_open(j->input, j->fmt, j->field, docs);
    if (!e) awq_verbose("tokenizer loaded in %.2f s; %zu documents", awq_now() - t0, awq_docs_count(*docs));
    return e;
}

static awq_err run_eval(const text_job *j)
{
    awq_tokenizer *tok = NULL;
    awq_docs *docs = NULL;
    awq_idvec ids = {0};
    size_t bytes = 0;
    awq_err e = open_text(j, &tok, &docs);
    double t0 = awq_now();
    if (!e) e = awq_eval_tokens(tok, docs, j->calib.add_special, &ids, &bytes);
    if (!e) {
        double dt = awq_now() - t0;
        awq_verbose("encoded %zu bytes into %zu ids in %.3f s (%.1f MB/s)", bytes, ids.n, dt,
                    (double)bytes / 1e6 / (dt > 0 ? dt : 1e-9));
        e = write_ids(j->out, &ids);
    }
    if (!e) printf("%zu\n", ids.n);
    awq_idvec_free(&ids);
    awq_docs_free(docs);
    awq_tokenizer_free(tok);
    return e;
}

static awq_err run_calib(const text_job *j)
{
    awq_tokenizer *tok = NULL;
    awq_docs *docs = NULL;
    awq_idvec ids = {0};
    awq_calib_stats st;
    awq_err e = open_text(j, &tok, &docs);
    double t0 = awq_now();
    if (!e) e = awq_calib_tokens(tok, docs, &j->calib, &ids, &st);
    if (!e) {
        awq_verbose("%zu documents read: %zu accepted, %zu empty and %zu longer than %d tokens skipped; %zu ids in %.3f s",
                    st.visited, st.accepted, st.skipped_empty, st.skipped_long, j->calib.max_doc_tokens, ids.n,
                    awq_now() - t0);
        if (st.accepted < (size_t)j->calib.n_samples)
            awq_warn("only %zu of %d calibration documents accepted ('%s' has %zu documents)", st.accepted,
                     j->calib.n_samples, j->input, awq_docs_count(docs));
        e = store_tokens(j->store, ids.ids, ids.n, j->seqlen, j->max_blocks);
    }
    awq_idvec_free(&ids);
    awq_docs_free(docs);
    awq_tokenizer_free(tok);
    return e;
}

int main(int argc, char **argv)
{
    const char *ids_path = NULL, *text = NULL, *jsonl = NULL, *field = "text", *docs_name = NULL;
    const char *tok_path = NULL, *model = NULL, *out = NULL, *store_dir = NULL;
    int seqlen = 512, max_blocks = 0, n_samples = 128, max_doc_tokens = 512, shuffle_seed = -1;
    int eval = 0, no_special = 0;
    const awq_opt opts[] = {
        {"text", 't', AWQ_OPT_STRING, &text, "FILE", "text input (UTF-8), documents as --docs says", 0},
        {"jsonl", 'j', AWQ_OPT_STRING, &jsonl, "FILE", "JSON lines input: one document per line, its --field member", 0},
        {"ids", 'i', AWQ_OPT_STRING, &ids_path, "FILE", "pre-tokenized input: raw little-endian int32 ids, concatenated documents", 0},
        {"field", 0, AWQ_OPT_STRING, &field, "NAME", "the text member of each --jsonl object", 0},
        {"docs", 0, AWQ_OPT_STRING, &docs_name, "HOW", "documents of --text: line, wikitext or file (default: line; wikitext with --eval)", 0},
        {"tokenizer", 0, AWQ_OPT_STRING, &tok_path, "FILE", "HF tokenizer.json", 0},
        {"model", 'm', AWQ_OPT_STRING, &model, "DIR", "HF model directory (its tokenizer.json)", 0},
        {"n-samples", 'n', AWQ_OPT_INT, &n_samples, "N", "calibration documents to accept (spec 2.2)", 0},
        {"max-doc-tokens", 0, AWQ_OPT_INT, &max_doc_tokens, "N", "skip documents of more tokens (0 = no limit)", 0},
        {"shuffle-seed", 0, AWQ_OPT_INT, &shuffle_seed, "S", "visit documents in a seeded order (-1 = file order)", 0},
        {"no-special", 0, AWQ_OPT_FLAG, &no_special, NULL, "do not add the tokenizer's special tokens (BOS)", 0},
        {"seqlen", 0, AWQ_OPT_INT, &seqlen, "N", "tokens per calibration sequence", 0},
        {"max-blocks", 0, AWQ_OPT_INT, &max_blocks, "N", "keep at most N sequences (0 = all that fit)", 0},
        {"eval", 'e', AWQ_OPT_FLAG, &eval, NULL, "evaluation stream (spec 4.1) to --out instead of a tokens object", 0},
        {"out", 'o', AWQ_OPT_STRING, &out, "FILE", "--eval: where to write the int32 ids", 0},
        {"store", 0, AWQ_OPT_STRING, &store_dir, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {0},
    };
    awq_cli cli = {
        "awq-tokenize", "make calibration sequences (a tokens object; prints its key) or an evaluation id file",
        NULL,
        "Calibration (spec 2.2): documents in file order (or --shuffle-seed order: increasing\n"
        "XXH3_64(index as 8 LE bytes, seed)), each stripped and encoded with special tokens; empty\n"
        "ones and ones over --max-doc-tokens are skipped; after --n-samples accepted documents the\n"
        "stream is cut into floor(n/seqlen) sequences, the tail dropped. HF's shuffle(seed=42) of\n"
        "llm-awq cannot be reproduced, so the documents differ from llm-awq's unless pre-shuffled.\n"
        "Evaluation (--eval, spec 4.1): documents joined with \"\\n\\n\", encoded once, all ids written\n"
        "to --out; prints the id count. wikitext documents are the HF wikitext loader's rows (lines\n"
        "with their newline, blank lines empty): wiki.test.raw then gives the published stream.\n"
        "With --ids the stream is used as it is (calibration only).",
        0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);

    if (!!ids_path + !!text + !!jsonl != 1) return usage(cli.prog, "give exactly one of --text, --jsonl, --ids");
    if (ids_path && eval) return usage(cli.prog, "--eval tokenizes text: use --text or --jsonl");
    if (eval && !out) return usage(cli.prog, "--eval needs --out FILE");
    if (!eval && out) return usage(cli.prog, "--out is for --eval (calibration goes to the store)");
    if (!ids_path && !tok_path && !model) return usage(cli.prog, "text needs --tokenizer FILE or --model DIR");
    if (tok_path && model) return usage(cli.prog, "give --tokenizer or --model, not both");
    if (n_samples <= 0 || seqlen <= 0) return usage(cli.prog, "--n-samples and --seqlen must be positive");
    int fmt = jsonl ? AWQ_DOCS_JSONL : eval ? AWQ_DOCS_WIKITEXT : AWQ_DOCS_LINE;
    if (docs_name) {
        if (jsonl) return usage(cli.prog, "--docs is for --text (a --jsonl document is one line)");
        if ((fmt = awq_docs_format_parse(docs_name)) < 0) return usage(cli.prog, "--docs must be line, wikitext or file");
    }

    awq_err e;
    if (ids_path) {
        int32_t *ids = NULL;
        size_t n = 0;
        e = awq_ids_load(ids_path, &ids, &n);
        if (!e) e = store_tokens(store_dir, ids, n, seqlen, max_blocks);
        free(ids);
    } else {
        text_job job = {text ? text : jsonl, (awq_docs_format)fmt, field, tok_path, model, out, store_dir,
                        {n_samples, max_doc_tokens, !no_special, shuffle_seed}, seqlen, max_blocks};
        e = eval ? run_eval(&job) : run_calib(&job);
    }
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
