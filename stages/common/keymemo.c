/* keymemo.c - the block and embedding source keys of a model, remembered in the store.
 * Computing them reads every weight (13.5 GB for a 7B model), so awq-plan does it once and
 * writes <store>/memo/<hash of the model files' paths, sizes, mtimes and inodes>; every stage
 * program then finds its block's key there instead of hashing the block again. A changed file
 * (new size, mtime or inode) gets a new memo name, so a stale memo is never read. The same
 * identity names the output's non-block tensors (awq_rest_key). */
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

int awq_model_load_key_memo(awq_model *m, const char *store_root)
{
    char path[PATH_MAX];
    if (memo_path(m, store_root, path, sizeof path) != AWQ_OK) { awq_clear_error(); return 0; }
    const size_t L = (size_t)m->cfg.num_hidden_layers;
    awq_key *keys = malloc((L + 1) * sizeof *keys);
    FILE *f = keys ? fopen(path, "rb") : NULL;
    int ok = f && fread(keys, sizeof *keys, L + 1, f) == L + 1 && fgetc(f) == EOF;
    if (f) fclose(f);
    if (!ok) { free(keys); return 0; }
    free(m->key_memo);
    m->key_memo = keys;
    return 1;
}

awq_err awq_model_save_key_memo(awq_model *m, const char *store_root, const awq_key *blocks, const awq_key *embed)
{
    char path[PATH_MAX];
    awq_err e = memo_path(m, store_root, path, sizeof path);
    if (e) return e;
    const size_t L = (size_t)m->cfg.num_hidden_layers;
    awq_key *keys = malloc((L + 1) * sizeof *keys);
    if (!keys) return awq_fail(AWQ_ERR_NOMEM, "out of memory");
    memcpy(keys, blocks, L * sizeof *keys);
    keys[L] = *embed;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    e = awq_mkdirs(dir);
    if (!e) e = awq_write_file_atomic(path, keys, (L + 1) * sizeof *keys);
    if (e) { free(keys); return e; }
    free(m->key_memo);
    m->key_memo = keys;
    return AWQ_OK;
}
