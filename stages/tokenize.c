/* tokenize.c - awq-tokenize: calibration token ids into a `tokens` object (spec §2.2 steps 5-6).
 * Reads a pre-tokenized stream (raw little-endian int32 ids, documents already concatenated);
 * tokenizing text in C arrives with the tokenizer (issue 8). Prints the object key on stdout. */
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/opts.h"
#include "common/tokens.h"

int main(int argc, char **argv)
{
    const char *ids_path = NULL, *store_dir = NULL;
    int seqlen = 512, max_blocks = 0;
    const awq_opt opts[] = {
        {"ids", 'i', AWQ_OPT_STRING, &ids_path, "FILE", "pre-tokenized ids: raw little-endian int32, concatenated documents", 1},
        {"seqlen", 0, AWQ_OPT_INT, &seqlen, "N", "tokens per calibration sequence", 0},
        {"max-blocks", 0, AWQ_OPT_INT, &max_blocks, "N", "keep at most N sequences (0 = all that fit)", 0},
        {"store", 0, AWQ_OPT_STRING, &store_dir, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {0},
    };
    awq_cli cli = {"awq-tokenize", "cut a token-id stream into calibration sequences and store them; prints the key",
                   NULL, "The stream is cut into floor(n/seqlen) sequences; the tail is dropped.", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);

    int32_t *ids = NULL;
    size_t n = 0;
    int n_blocks = 0;
    awq_store *store = NULL;
    awq_key key;
    awq_err e = awq_ids_load(ids_path, &ids, &n);
    if (!e) e = awq_tokens_layout(n, seqlen, max_blocks, &n_blocks);
    if (!e) e = awq_store_open(&store, store_dir, 0);
    if (!e) e = awq_tokens_put(store, ids, n_blocks, seqlen, &key);
    if (!e) {
        char hex[AWQ_KEY_HEX + 1];
        awq_key_hex(&key, hex);
        awq_verbose("%d sequences of %d tokens from %zu ids (%zu dropped)", n_blocks, seqlen, n,
                    n - (size_t)n_blocks * (size_t)seqlen);
        printf("%s\n", hex);
    }
    awq_store_close(store);
    free(ids);
    if (e) { awq_report(cli.prog); return 1; }
    return 0;
}
