/* test_work.c - the block worker (stages/common/work.h) linked directly, on a small synthetic
 * model and a fresh store, CPU backend: the whole block in one worker stores the same objects,
 * byte for byte, as the four steps each in a worker of its own (what awq-quantize and the four
 * single-step programs run); a second run computes nothing; a clip-grid change recomputes the
 * clips and the packed block from the stored scales and clip inputs without the block input (it
 * is removed from the store); damaged clip inputs are made again with the same bits; the batch of
 * consecutive blocks gives each block's keys; the RTN and mismatched-key paths. */
#include "test.h"
#include "../stages/common/act.h"
#include "../stages/common/work.h"

#include <stdlib.h>
#include <string.h>

enum { N_SEQ = 4, SEQLEN = 32 };

typedef struct fixture {
    awq_model *m;
    awq_key act[3];   /* inputs of blocks 0, 1 (and the output of block 1) */
    awq_params p;
} fixture;

#define REQUIRE_RET(cond, ...) do { if (!(cond)) { t_failf(__FILE__, __LINE__, #cond, __VA_ARGS__); return 0; } } while (0)

/* A two-block model in t_path("model") (made once per case) and its block inputs in the store
 * at `store`. */
static int fixture_open(fixture *f, const char *store)
{
    if (f->m) goto inputs;
    char out[4096];
    const char *dir = t_path("model");
    if (t_run(out, sizeof out, "%s/bin/awq-gen-model -q --out '%s' --layers 2 --hidden 64 --ffn 128 --heads 4 --kv-heads 2 "
                                "--vocab 256 --seed 7", t_build_dir(), dir) != 0) {
        t_skip("awq-gen-model did not run (build it first): %s", out);
        return 0;
    }
    awq_params_default(&f->p);
    f->p.group = 32, f->p.n_grid = 4, f->p.clip_grid = 10, f->p.n_sample_token = 64, f->p.device = "cpu";
    REQUIRE_RET(awq_model_open(&f->m, dir) == AWQ_OK, "%s", awq_errmsg());
inputs:;
    awq_store *s = NULL;
    REQUIRE_RET(awq_store_open(&s, store, 0) == AWQ_OK, "%s", awq_errmsg());
    const awq_backend *be = awq_backend_cpu();
    int32_t ids[N_SEQ * SEQLEN];
    for (int i = 0; i < N_SEQ * SEQLEN; i++) ids[i] = (int32_t)((i * 7919u + 13u) % 256u); /* the same in every store */
    awq_key tok = awq_key_of_bytes(ids, sizeof ids);
    float *x = malloc((size_t)N_SEQ * SEQLEN * 64 * sizeof *x);
    char *recipe = NULL;
    awq_err e = awq_act0_key(f->m, &tok, &f->p, &f->act[0], &recipe);
    if (!e) e = awq_embed_compute(be, f->m, ids, N_SEQ * SEQLEN, 1, x);
    if (!e) e = awq_act_store(s, &f->act[0], recipe, f->m, be, x, N_SEQ, SEQLEN, "embedding");
    for (int l = 0; !e && l < 2; l++) {
        free(recipe);
        recipe = NULL;
        e = awq_act_next_key(f->m, l, &f->act[l], &f->p, &f->act[l + 1], &recipe);
        if (!e) e = awq_capture_compute(be, f->m, l, N_SEQ, SEQLEN, f->p.round_f16, x);
        if (!e) e = awq_act_store(s, &f->act[l + 1], recipe, f->m, be, x, N_SEQ, SEQLEN, "block output");
    }
    free(recipe);
    free(x);
    awq_store_close(s);
    REQUIRE_RET(e == AWQ_OK, "%s", awq_errmsg());
    return 1;
}

/* Where the store keeps an object (store.c's layout: objects/ab/<rest of the key>); `store` is
 * already a full path, so not t_path. */
static const char *object_path(const char *store, const awq_key *k)
{
    static char path[4][2048];
    static int next;
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(k, hex);
    char *p = path[next++ & 3];
    snprintf(p, sizeof path[0], "%s/objects/%.2s/%s", store, hex, hex + 2);
    return p;
}

/* The bytes of an object's file (NULL when absent). */
static void *object_bytes(const char *store, const awq_key *k, size_t *n)
{
    return t_read_file(object_path(store, k), n);
}

static int same_object(const char *a, const char *b, const awq_key *k)
{
    size_t na = 0, nb = 0;
    void *x = object_bytes(a, k, &na), *y = object_bytes(b, k, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void remove_object(const char *store, const awq_key *k)
{
    if (remove(object_path(store, k)) != 0) t_failf(__FILE__, __LINE__, "remove", "object %s not in the store", object_path(store, k));
}

/* One worker over the whole block: its done bits and keys. */
static awq_err whole_block(const fixture *f, const char *store, int block, awq_work_keys *keys, unsigned *done)
{
    awq_store *s = NULL;
    awq_work w;
    awq_err e = awq_store_open(&s, store, 0);
    awq_work_init(&w, f->m, block, &f->p, s, NULL);
    if (!e) e = awq_work_keys_from(&w, &f->act[block], NULL, NULL, NULL, 0);
    if (!e) e = awq_work_block(&w);
    *keys = w.k;
    keys->r_scales = keys->r_scaled = keys->r_clipin = keys->r_clip = keys->r_packed = NULL;
    *done = w.done;
    awq_work_free(&w);
    awq_store_close(s);
    return e;
}

static void t_block_equals_steps(void)
{
    const char *a = t_path("store-a"), *b = t_path("store-b");
    fixture f = {0};
    if (!fixture_open(&f, a) || !fixture_open(&f, b)) return;
    awq_work_keys k;
    unsigned done = 0;
    REQUIRE(whole_block(&f, a, 1, &k, &done) == AWQ_OK, "%s", awq_errmsg());
    CHECK(done == (AWQ_K_SCALES | AWQ_K_CLIPIN | AWQ_K_CLIP | AWQ_K_PACKED), "done %#x", done);
    /* the four steps, each in a worker of its own, knowing only what its program is given */
    awq_store *s = NULL;
    REQUIRE(awq_store_open(&s, b, 0) == AWQ_OK, "%s", awq_errmsg());
    awq_work w;
    awq_work_init(&w, f.m, 1, &f.p, s, NULL);
    awq_err e = awq_work_keys_from(&w, &f.act[1], NULL, NULL, NULL, 0);
    if (!e) e = awq_work_scales(&w);
    awq_work_free(&w);
    remove_object(b, &k.clipin); /* the clip search makes them again from the block input */
    awq_work_init(&w, f.m, 1, &f.p, s, NULL);
    if (!e) e = awq_work_keys_from(&w, NULL, &k.scales, NULL, NULL, 0);
    if (!e) e = awq_work_scaled(&w, 1);
    CHECK(e || w.done == AWQ_K_SCALED, "apply-scale did %#x", w.done);
    awq_work_free(&w);
    awq_work_init(&w, f.m, 1, &f.p, s, NULL);
    if (!e) e = awq_work_keys_from(&w, &f.act[1], &k.scales, &k.scaled, NULL, 0);
    if (!e) e = awq_work_clips(&w);
    CHECK(e || w.done == (AWQ_K_CLIPIN | AWQ_K_CLIP), "clip search did %#x", w.done);
    awq_work_free(&w);
    awq_work_init(&w, f.m, 1, &f.p, s, NULL);
    if (!e) e = awq_work_keys_from(&w, NULL, NULL, &k.scaled, &k.clip, 0);
    if (!e) e = awq_work_pack(&w);
    CHECK(e || awq_key_equal(&w.k.packed, &k.packed), "pack made another key");
    awq_work_free(&w);
    awq_store_close(s);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    const awq_key *objs[] = {&k.scales, &k.clipin, &k.clip, &k.packed};
    const char *names[] = {"scales", "clipin", "clip", "packed"};
    for (int i = 0; i < 4; i++) CHECK(same_object(a, b, objs[i]), "the %s objects differ", names[i]);
    /* the whole block again: everything is in the store, nothing is computed */
    awq_work_keys k2;
    REQUIRE(whole_block(&f, a, 1, &k2, &done) == AWQ_OK, "%s", awq_errmsg());
    CHECK(done == 0 && awq_key_equal(&k2.packed, &k.packed), "second run did %#x", done);
    awq_model_close(f.m);
}

static void t_clip_rerun_needs_no_input(void)
{
    const char *a = t_path("store");
    fixture f = {0};
    if (!fixture_open(&f, a)) return;
    awq_work_keys k, k2;
    unsigned done = 0;
    REQUIRE(whole_block(&f, a, 0, &k, &done) == AWQ_OK, "%s", awq_errmsg());
    remove_object(a, &f.act[0]); /* a clip-grid rerun must not read the block input */
    f.p.clip_grid = 8;
    REQUIRE(whole_block(&f, a, 0, &k2, &done) == AWQ_OK, "%s", awq_errmsg());
    CHECK(done == (AWQ_K_CLIP | AWQ_K_PACKED), "did %#x", done);
    CHECK(awq_key_equal(&k.scales, &k2.scales) && !awq_key_equal(&k.clip, &k2.clip), "keys");
    /* a lost clipin object and no block input: a clear error, not a guess */
    remove_object(a, &k2.clip);
    remove_object(a, &k2.clipin);
    awq_err e = whole_block(&f, a, 0, &k2, &done);
    CHECK(e == AWQ_ERR_NOTFOUND, "got %d: %s", e, awq_errmsg());
    awq_clear_error();
    awq_model_close(f.m);
}

static void t_damaged_clip_inputs_made_again(void)
{
    const char *a = t_path("store");
    fixture f = {0};
    if (!fixture_open(&f, a)) return;
    awq_work_keys k, k2;
    unsigned done = 0;
    REQUIRE(whole_block(&f, a, 0, &k, &done) == AWQ_OK, "%s", awq_errmsg());
    size_t n = 0;
    uint8_t *good = object_bytes(a, &k.clipin, &n), *bad = malloc(n);
    REQUIRE(good && bad && n > 64, "no clipin object");
    memcpy(bad, good, n);
    bad[n - 9] ^= 0x40; /* a byte of the last compressed chunk */
    REQUIRE(t_write_file(object_path(a, &k.clipin), bad, n) == 0, "write");
    remove_object(a, &k.clip);
    REQUIRE(whole_block(&f, a, 0, &k2, &done) == AWQ_OK, "%s", awq_errmsg());
    CHECK(done == (AWQ_K_CLIPIN | AWQ_K_CLIP), "did %#x", done);
    size_t n2 = 0;
    uint8_t *again = object_bytes(a, &k.clipin, &n2);
    CHECK(again && n2 == n && memcmp(again, good, n) == 0, "the clip inputs made again differ");
    free(good); free(bad); free(again);
    awq_model_close(f.m);
}

typedef struct batch_seen { int n; awq_key packed[4]; int block[4]; } batch_seen;
static void seen(void *ctx, const awq_work *w)
{
    batch_seen *b = ctx;
    if (b->n < 4) b->block[b->n] = w->block, b->packed[b->n] = w->k.packed;
    b->n++;
}

static void t_batch_of_blocks(void)
{
    const char *a = t_path("store-a"), *b = t_path("store-b");
    fixture f = {0};
    if (!fixture_open(&f, a) || !fixture_open(&f, b)) return;
    awq_store *s = NULL;
    REQUIRE(awq_store_open(&s, a, 0) == AWQ_OK, "%s", awq_errmsg());
    batch_seen bs = {0}, keys_only = {0};
    awq_err e = awq_work_blocks(f.m, &f.p, s, 0, f.act, 2, NULL, seen, &bs);
    awq_store_close(s);
    REQUIRE(e == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_work_blocks(f.m, &f.p, NULL, 0, f.act, 2, NULL, seen, &keys_only) == AWQ_OK, "%s", awq_errmsg());
    CHECK(bs.n == 2 && keys_only.n == 2 && bs.block[0] == 0 && bs.block[1] == 1, "blocks %d %d", bs.n, keys_only.n);
    for (int l = 0; l < 2; l++) {
        awq_work_keys k;
        unsigned done = 0;
        REQUIRE(whole_block(&f, b, l, &k, &done) == AWQ_OK, "%s", awq_errmsg());
        CHECK(awq_key_equal(&k.packed, &bs.packed[l]) && awq_key_equal(&k.packed, &keys_only.packed[l]), "block %d key", l);
        CHECK(same_object(a, b, &k.packed) && same_object(a, b, &k.clip) && same_object(a, b, &k.scales), "block %d objects", l);
    }
    awq_model_close(f.m);
}

static void t_keys_rtn_and_mismatch(void)
{
    const char *a = t_path("store");
    fixture f = {0};
    if (!fixture_open(&f, a)) return;
    awq_work w;
    awq_work_init(&w, f.m, 0, &f.p, NULL, NULL);
    awq_key want;
    REQUIRE(awq_work_keys_from(&w, NULL, NULL, NULL, NULL, 1) == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_packed_key(f.m, 0, NULL, NULL, &f.p, &want, NULL) == AWQ_OK, "%s", awq_errmsg());
    CHECK(w.k.known == AWQ_K_PACKED && awq_key_equal(&w.k.packed, &want), "rtn key");
    /* a scaled key that is not the block scaled with the given scales */
    awq_key scales = awq_key_of_bytes("x", 1), other = awq_key_of_bytes("y", 1);
    awq_err e = awq_work_keys_from(&w, &f.act[0], &scales, &other, NULL, 0);
    CHECK(e == AWQ_ERR_ARG && strstr(awq_errmsg(), "is not block 0 scaled"), "got %d: %s", e, awq_errmsg());
    awq_clear_error();
    awq_work_free(&w);
    /* the RTN pack of the original block (awq-pack --rtn) */
    awq_store *s = NULL;
    REQUIRE(awq_store_open(&s, a, 0) == AWQ_OK, "%s", awq_errmsg());
    awq_work_init(&w, f.m, 0, &f.p, s, NULL);
    e = awq_work_keys_from(&w, NULL, NULL, NULL, NULL, 1);
    if (!e) e = awq_work_pack(&w);
    CHECK(e == AWQ_OK && w.done == AWQ_K_PACKED && awq_store_has(s, &want), "%s", awq_errmsg());
    awq_work_free(&w);
    awq_store_close(s);
    awq_model_close(f.m);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"block_equals_steps", t_block_equals_steps},
        {"clip_rerun_needs_no_input", t_clip_rerun_needs_no_input},
        {"damaged_clip_inputs_made_again", t_damaged_clip_inputs_made_again},
        {"batch_of_blocks", t_batch_of_blocks},
        {"keys_rtn_and_mismatch", t_keys_rtn_and_mismatch},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
