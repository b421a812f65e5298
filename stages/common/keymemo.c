/* keymemo.c - the block and embedding source keys of a model, remembered in the store.
 * Computing them reads every weight (13.5 GB for a 7B model), so awq-plan does it once and
 * writes <store>/memo/<hash of the model files' paths, sizes, mtimes and inodes>; every stage
 * program then finds its block's key there instead of hashing the block again. A changed file
 * (new size, mtime or inode) gets a new memo name, so a stale memo is never read. The same
 * identity names the output's non-block tensors (awq_rest_key).
 * After the keys, the memo holds what the plan's value check needs (model.h
 * awq_model_check_values): the largest magnitude of each block, the embedding and the rest,
 * found while hashing. It records magnitudes, not "the check passed", because the check depends
 * on NUMERICS and the magnitudes do not: a re-plan with other numerics checks again from the memo,
 * with no weight read, and reads only a block that fails, to name the element. Layout:
 *   (L + 1) keys | (L + 2) uint32 magnitudes | "awqmag1\n"
 * A memo of keys only (written before the check) still gives the stages their keys; the plan
 * hashes again and rewrites it. */
#include "model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../cache/atomic.h"
#include "../../cache/store.h"

/* The identity of the model's files: config.json's bytes plus each safetensors file's real path,
 * size, mtime and inode. Cheap (no weight is read) and different whenever a file changes. */
static awq_err files_key(const awq_model *m, awq_key *out)
{
    awq_hasher *h = awq_hasher_new();
    if (!h) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", m->dir);
    awq_key ck;
    awq_err e = awq_key_of_file(&ck, path);
    if (!e) awq_hasher_update(h, &ck, sizeof ck);
    for (int f = 0; !e && strcmp(st_file_path(m->st, f), "?") != 0; f++) {
        struct stat st;
        char real[PATH_MAX];
        const char *p = realpath(st_file_path(m->st, f), real) ? real : st_file_path(m->st, f);
        if (stat(p, &st) != 0) { e = awq_fail_errno(errno, "cannot stat '%s'", p); break; }
        char id[PATH_MAX + 128];
        int n = snprintf(id, sizeof id, "%s %lld %lld.%09ld %llu", p, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                         st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
        awq_hasher_update(h, id, (size_t)n + 1);
    }
    *out = awq_hasher_final(h);
    awq_hasher_free(h);
    return e;
}

static awq_err memo_path(const awq_model *m, const char *store_root, char *out, size_t cap)
{
    char *root_own = NULL;
    if (!store_root) {
        awq_err e = awq_store_default_root(&root_own);
        if (e) return e;
        store_root = root_own;
    }
    awq_key k;
    awq_err e = files_key(m, &k);
    if (!e) {
        char hex[AWQ_KEY_HEX + 1];
        awq_key_hex(&k, hex);
        snprintf(out, cap, "%s/memo/%s", store_root, hex);
    }
    free(root_own);
    return e;
}

awq_err awq_rest_key(const awq_model *m, awq_key *out)
{
    awq_key files;
    awq_err e = files_key(m, &files);
    if (e) return e;
    /* versioned, so a change of the fp16 conversion could rename every rest shard */
    awq_recipe *r = awq_recipe_new("rest-shard", 1);
    e = awq_recipe_add_key(r, "model_files", &files);
    if (!e) *out = awq_recipe_key(r);
    awq_recipe_free(r);
    return e;
}

static const char MAG_TAG[8] = {'a', 'w', 'q', 'm', 'a', 'g', '1', '\n'};

int awq_model_load_key_memo(awq_model *m, const char *store_root)
{
    char path[PATH_MAX];
    if (memo_path(m, store_root, path, sizeof path) != AWQ_OK) { awq_clear_error(); return 0; }
    const size_t L = (size_t)m->cfg.num_hidden_layers;
    awq_key *keys = malloc((L + 1) * sizeof *keys);
    uint32_t *mags = malloc((L + 2) * sizeof *mags);
    char tag[sizeof MAG_TAG];
    FILE *f = keys && mags ? fopen(path, "rb") : NULL;
    int ok = f && fread(keys, sizeof *keys, L + 1, f) == L + 1;
    int c = ok ? fgetc(f) : EOF;
    int with_mags = ok && c != EOF && ungetc(c, f) != EOF && fread(mags, sizeof *mags, L + 2, f) == L + 2 &&
                    fread(tag, 1, sizeof tag, f) == sizeof tag && memcmp(tag, MAG_TAG, sizeof tag) == 0 && fgetc(f) == EOF;
    ok = ok && (c == EOF || with_mags);
    if (f) fclose(f);
    if (!ok) { free(keys); free(mags); return 0; }
    if (!with_mags) { free(mags); mags = NULL; }
    free(m->key_memo);
    free(m->mag_memo);
    m->key_memo = keys;
    m->mag_memo = mags;
    return 1;
}

awq_err awq_model_save_key_memo(awq_model *m, const char *store_root, const awq_key *blocks, const awq_key *embed,
                                const uint32_t *mag)
{
    char path[PATH_MAX];
    awq_err e = memo_path(m, store_root, path, sizeof path);
    if (e) return e;
    const size_t L = (size_t)m->cfg.num_hidden_layers;
    const size_t nk = (L + 1) * sizeof(awq_key), nm = (L + 2) * sizeof(uint32_t);
    char *buf = malloc(nk + nm + sizeof MAG_TAG);
    awq_key *keys = malloc(nk);
    uint32_t *mags = malloc(nm);
    if (!buf || !keys || !mags) { free(buf); free(keys); free(mags); return awq_fail(AWQ_ERR_NOMEM, "out of memory"); }
    memcpy(keys, blocks, L * sizeof *keys);
    keys[L] = *embed;
    memcpy(mags, mag, nm);
    memcpy(buf, keys, nk);
    memcpy(buf + nk, mags, nm);
    memcpy(buf + nk + nm, MAG_TAG, sizeof MAG_TAG);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    e = awq_mkdirs(dir);
    if (!e) e = awq_write_file_atomic(path, buf, nk + nm + sizeof MAG_TAG);
    free(buf);
    if (e) { free(keys); free(mags); return e; }
    free(m->key_memo);
    free(m->mag_memo);
    m->key_memo = keys;
    m->mag_memo = mags;
    return AWQ_OK;
}
