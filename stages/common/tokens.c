/* tokens.c - pre-tokenized calibration ids into a tokens object (spec §2.2 steps 5-6). */
#include "tokens.h"

#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

awq_err awq_ids_load(const char *path, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return awq_fail_errno(errno, "cannot open '%s'", path);
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return awq_fail_errno(errno, "cannot read '%s'", path); }
    long size = ftell(f);
    rewind(f);
    if (size < 0) { fclose(f); return awq_fail_errno(errno, "cannot read '%s'", path); }
    if (size == 0 || size % 4 != 0) {
        fclose(f);
        awq_fail(AWQ_ERR_FORMAT, "'%s' is %ld bytes, not a non-empty sequence of int32 token ids", path, size);
        awq_hint("token files are raw little-endian int32 ids without a header");
        return AWQ_ERR_FORMAT;
    }
    size_t count = (size_t)size / 4;
    int32_t *buf = malloc((size_t)size);
    if (!buf) { fclose(f); return awq_fail(AWQ_ERR_NOMEM, "out of memory reading '%s'", path); }
    size_t got = fread(buf, 4, count, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != count || rerr) { free(buf); return awq_fail(AWQ_ERR_IO, "cannot read '%s'", path); }
    for (size_t i = 0; i < count; i++) { /* files are little-endian; so is every supported host */
        if (buf[i] < 0) {
            int32_t bad = buf[i];
            free(buf);
            return awq_fail(AWQ_ERR_FORMAT, "'%s': token %zu has negative id %d", path, i, bad);
        }
    }
    *ids = buf;
    *n = count;
    return AWQ_OK;
}

awq_err awq_tokens_layout(size_t n, int seqlen, int max_blocks, int *n_blocks)
{
    if (seqlen <= 0) return awq_fail(AWQ_ERR_ARG, "seqlen must be positive (got %d)", seqlen);
    size_t nb = n / (size_t)seqlen;
    if (nb == 0) {
        awq_fail(AWQ_ERR_ARG, "%zu calibration tokens do not fill one sequence of %d", n, seqlen);
        awq_hint("use more calibration text or a smaller %s", AWQ_SAY("seqlen", NULL));
        return AWQ_ERR_ARG;
    }
    if (max_blocks > 0 && nb > (size_t)max_blocks) nb = (size_t)max_blocks;
    if (nb > (size_t)1 << 30) return awq_fail(AWQ_ERR_ARG, "too many calibration sequences (%zu)", nb);
    *n_blocks = (int)nb;
    return AWQ_OK;
}

awq_key awq_tokens_key(const int32_t *ids, int n_blocks, int seqlen)
{
    char head[64];
    int len = snprintf(head, sizeof head, "tokens I32 %d %d", n_blocks, seqlen);
    awq_hasher *h = awq_hasher_new();
    awq_key k;
    if (!h) { memset(&k, 0, sizeof k); return k; } /* cannot happen short of OOM; put then fails */
    awq_hasher_update(h, head, (size_t)len + 1);
    awq_hasher_update(h, ids, (size_t)n_blocks * (size_t)seqlen * sizeof *ids);
    k = awq_hasher_final(h);
    awq_hasher_free(h);
    return k;
}

awq_err awq_tokens_put(awq_store *s, const int32_t *ids, int n_blocks, int seqlen, awq_key *key)
{
    *key = awq_tokens_key(ids, n_blocks, seqlen);
    awq_tensor t = {.name = "ids", .dtype = AWQ_DT_I32, .ndim = 2, .shape = {n_blocks, seqlen},
                    .data = (void *)ids, .nbytes = (size_t)n_blocks * (size_t)seqlen * sizeof *ids};
    return awq_store_put(s, key, "tokens", NULL, &t, 1);
}

awq_err awq_tokens_get(awq_store *s, const awq_key *key, awq_object **obj, const int32_t **ids,
                       int *n_blocks, int *seqlen)
{
    awq_err e = awq_store_get(s, key, obj);
    if (e) return e;
    const awq_tensor *t = awq_object_tensor(*obj, "ids");
    if (strcmp((*obj)->kind, "tokens") != 0 || !t || t->dtype != AWQ_DT_I32 || t->ndim != 2) {
        char hex[AWQ_KEY_HEX + 1];
        awq_key_hex(key, hex);
        awq_object_free(*obj);
        *obj = NULL;
        return awq_fail(AWQ_ERR_FORMAT, "object %s is not a tokens object (kind, or no I32 [n, seqlen] tensor 'ids')", hex);
    }
    *ids = t->data;
    *n_blocks = (int)t->shape[0];
    *seqlen = (int)t->shape[1];
    return AWQ_OK;
}
