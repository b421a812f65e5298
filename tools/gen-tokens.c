/* gen-tokens.c - awq-gen-tokens: a synthetic token-id file (int32 little-endian, no header) for
 * calibration and evaluation runs on synthetic models; written atomically, deterministic.
 *
 * Distribution (--dist zipf, the default): token ranks follow Zipf's law with exponent 1
 * (P(rank r) proportional to 1/r), the classic word-frequency law of natural text, so a few
 * tokens are very common and most are rare. Ranks map to ids through a seeded permutation, so
 * the frequent tokens are not simply ids 0, 1, 2 (which are special tokens in real vocabularies).
 * --dist uniform draws ids uniformly. With --bos ID --doc-len L, position i holds ID whenever
 * i % L == 0 (a document start) and ID never appears elsewhere.
 * Each position is drawn from splitmix64(XXH3_64("tokens", seed) + (i+1)*phi): a counter-based
 * stream, so the file does not depend on the chunking or on anything but the arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/atomic.h"
#include "../base/error.h"
#include "../stages/common/log.h"
#include "../stages/common/opts.h"
#include "cli.h"
#include "synth.h"

#define PROG "awq-gen-tokens"
#define CHUNK (1 << 16)

static const char *g_out, *g_count, *g_seed, *g_bos, *g_doc_len, *g_dist = "zipf";
static int g_vocab;

static const awq_opt g_opts[] = {
    {"out", 'o', AWQ_OPT_STRING, &g_out, "FILE", "output file (int32 little-endian token ids)", 1},
    {"vocab", 0, AWQ_OPT_INT, &g_vocab, "V", "vocabulary size: ids are in [0, V)", 1},
    {"count", 0, AWQ_OPT_STRING, &g_count, "N", "number of tokens", 1},
    {"seed", 0, AWQ_OPT_STRING, &g_seed, "S", "random seed in [0, 2^63) (default 0); same arguments -> identical bytes", 0},
    {"bos", 0, AWQ_OPT_STRING, &g_bos, "ID", "BOS id placed at every document start (needs --doc-len)", 0},
    {"doc-len", 0, AWQ_OPT_STRING, &g_doc_len, "L", "document length in tokens, BOS included", 0},
    {"dist", 0, AWQ_OPT_STRING, &g_dist, "D", "zipf (exponent 1) or uniform", 0},
    {0},
};

typedef struct tok_opts {
    const char *out;
    int vocab, bos, doc_len, zipf;
    int64_t count;
    uint64_t seed;
} tok_opts;

/* Token sampler: the cumulative Zipf weights over the body vocabulary (every id but BOS) and
 * the rank -> id permutation. */
typedef struct sampler {
    int n;          /* body vocabulary size */
    int zipf;
    double *cdf;    /* [n] cumulative 1/r, divided by the total */
    int32_t *ids;   /* [n] rank -> token id */
} sampler;

static awq_err sampler_init(sampler *s, const tok_opts *o)
{
    s->zipf = o->zipf;
    s->n = o->vocab - (o->bos >= 0 ? 1 : 0);
    s->cdf = malloc((size_t)s->n * sizeof *s->cdf);
    s->ids = malloc((size_t)s->n * sizeof *s->ids);
    if (!s->cdf || !s->ids) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    for (int id = 0, k = 0; id < o->vocab; id++)
        if (id != o->bos) s->ids[k++] = id;
    uint64_t key = syn_key("token-permutation", o->seed);
    for (int i = s->n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)(syn_bits(key, (uint64_t)i) % (uint64_t)(i + 1));
        int32_t t = s->ids[i]; s->ids[i] = s->ids[j]; s->ids[j] = t;
    }
    double acc = 0;
    for (int r = 0; r < s->n; r++) s->cdf[r] = acc += 1.0 / (r + 1); /* IEEE division and sum: same bits everywhere */
    for (int r = 0; r < s->n; r++) s->cdf[r] /= acc;
    return AWQ_OK;
}

static int32_t sample(const sampler *s, uint64_t bits)
{
    if (!s->zipf) return s->ids[bits % (uint64_t)s->n];
    double u = (double)(bits >> 11) * 0x1p-53; /* [0, 1) */
    int lo = 0, hi = s->n - 1;                  /* first rank with cdf > u */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->cdf[mid] > u) hi = mid; else lo = mid + 1;
    }
    return s->ids[lo];
}

static awq_err generate(const tok_opts *o)
{
    sampler s = {0};
    awq_err e = sampler_init(&s, o);
    int32_t *buf = malloc(CHUNK * sizeof *buf);
    if (e == AWQ_OK && !buf) e = awq_fail(AWQ_ERR_NOMEM, "out of memory");
    awq_atomic f;
    if (e == AWQ_OK) e = awq_atomic_open(&f, o->out);
    if (e == AWQ_OK) {
        uint64_t key = syn_key("tokens", o->seed);
        for (int64_t first = 0; e == AWQ_OK && first < o->count; first += CHUNK) {
            int n = o->count - first < CHUNK ? (int)(o->count - first) : CHUNK;
            for (int k = 0; k < n; k++) {
                int64_t i = first + k;
                int32_t id = o->bos >= 0 && i % o->doc_len == 0 ? o->bos : sample(&s, syn_bits(key, (uint64_t)i));
                uint8_t *p = (uint8_t *)&buf[k]; /* little-endian whatever the host */
                p[0] = (uint8_t)id; p[1] = (uint8_t)(id >> 8); p[2] = (uint8_t)(id >> 16); p[3] = (uint8_t)(id >> 24);
            }
            e = awq_atomic_write(&f, buf, (size_t)n * 4);
        }
        if (e == AWQ_OK) e = awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);
        else awq_atomic_abort(&f);
    }
    free(buf);
    free(s.cdf);
    free(s.ids);
    return e;
}

/* The arguments, parsed and checked. */
static awq_err resolve(tok_opts *o)
{
    int64_t v = 0;
    awq_err e;
    *o = (tok_opts){.out = g_out, .vocab = g_vocab, .bos = -1, .zipf = 1};
    if (!o->out[0]) return awq_fail(AWQ_ERR_ARG, "--out is empty");
    if (o->vocab < 1 || o->vocab > (1 << 24)) return awq_fail(AWQ_ERR_ARG, "--vocab %d is not in [1, 16777216]", o->vocab);
    if ((e = cli_int64("count", g_count, 0, INT64_MAX / 4, &o->count)) != AWQ_OK) return e;
    if (g_seed && (e = cli_int64("seed", g_seed, 0, INT64_MAX, &v)) != AWQ_OK) return e;
    o->seed = (uint64_t)v;
    if (g_bos && (e = cli_int("bos", g_bos, 0, INT32_MAX, &o->bos)) != AWQ_OK) return e;
    if (g_doc_len && (e = cli_int("doc-len", g_doc_len, 1, INT32_MAX, &o->doc_len)) != AWQ_OK) return e;
    if (strcmp(g_dist, "zipf") == 0) o->zipf = 1;
    else if (strcmp(g_dist, "uniform") == 0) o->zipf = 0;
    else { awq_fail(AWQ_ERR_ARG, "--dist '%s' is unknown", g_dist); awq_hint("use zipf or uniform"); return AWQ_ERR_ARG; }
    if ((o->bos >= 0) != (o->doc_len > 0)) {
        awq_fail(AWQ_ERR_ARG, "--bos and --doc-len go together");
        awq_hint("pass both (BOS at every document start) or neither");
        return AWQ_ERR_ARG;
    }
    if (o->bos >= o->vocab) return awq_fail(AWQ_ERR_ARG, "--bos %d is not below --vocab %d", o->bos, o->vocab);
    if (o->bos >= 0 && o->vocab < 2) return awq_fail(AWQ_ERR_ARG, "--vocab %d leaves no ids besides BOS", o->vocab);
    return AWQ_OK;
}

int main(int argc, char **argv)
{
    awq_log_init(PROG, argc, argv);
    awq_cli cli = {PROG, "write synthetic token ids (int32 little-endian) drawn from a Zipf(1) law over [0, V); prints the file",
                   NULL, NULL, 0, NULL};
    int rc = awq_opts_parse(&cli, g_opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    tok_opts o;
    awq_err e = cli.n_positional ? awq_fail(AWQ_ERR_ARG, "unexpected argument '%s'", cli.positional[0]) : resolve(&o);
    if (e != AWQ_OK) { awq_report(PROG); return 2; }
    if ((e = generate(&o)) != AWQ_OK) { awq_report(PROG); return 1; }
    awq_info("%lld tokens (%s over %d ids%s) -> '%s'", (long long)o.count, o.zipf ? "zipf" : "uniform", o.vocab,
             o.bos >= 0 ? ", BOS at document starts" : "", o.out);
    printf("%s\n", o.out);
    return 0;
}
