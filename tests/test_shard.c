/* test_shard.c - the pieces of the output checkpoint that awq-shard writes while the pipeline
 * runs (stages/common/shard.h): shard file names and which names pruning may touch, the fp16
 * conversion of the non-block tensors with its range checks, and the key of those tensors (the
 * same while the model's files stay the same, new when one changes), and the compressed-tensors
 * packing (stages/common/ct.h) against compressed-tensors' own pack_to_int32 on 2..8 bits
 * (tests/golden/ct/pack_vectors.json, tools/golden/ct_pack_vectors.py), and Phi3's fused tensors
 * in that layout (stages/common/fused.h) equal to the layout of the stacked parts. The pipeline as a whole is
 * tested in t_pipeline.sh, FORMAT=ct in t_ct.sh. */
#include "test.h"
#include "../stages/common/ct.h"
#include "../stages/common/fused.h"
#include "../stages/common/params.h"
#include "../stages/common/shard.h"

#include <jansson.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define HEX "0123456789abcdef0123456789abcdef"

static void t_names(void)
{
    awq_key k;
    REQUIRE(awq_key_parse(&k, HEX) == AWQ_OK, "%s", awq_errmsg());
    char name[AWQ_SHARD_NAME_MAX];
    awq_block_shard_name(31, &k, AWQ_FORMAT_AUTOAWQ, name);
    CHECK(strcmp(name, "31-" HEX ".safetensors") == 0, "%s", name);
    char ct[AWQ_SHARD_NAME_MAX]; /* another format: another name of the same form */
    awq_block_shard_name(31, &k, AWQ_FORMAT_CT, ct);
    CHECK(strcmp(ct, name) != 0 && strncmp(ct, "31-", 3) == 0 && awq_is_shard_name(ct), "%s", ct);
    const char *yes[] = {name, "0-" HEX ".safetensors", "rest-" HEX ".safetensors",
                         ".tmp-rest-" HEX ".safetensors-4242-0badf00d", ".tmp-7-" HEX ".safetensors-1-00000000"};
    const char *no[] = {"model-00001-of-00033.safetensors", "model.safetensors.index.json", "31-" HEX ".safetensors.bak",
                        "x1-" HEX ".safetensors", "-" HEX ".safetensors", "rest-" HEX "0.safetensors",
                        "rest-0123456789ABCDEF0123456789abcdef.safetensors", "rest-" HEX ".json", ".tmp-notes.safetensors-1-2",
                        ".tmp-config.json-1-2", "rest-" HEX, "."};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) CHECK(awq_is_shard_name(yes[i]), "'%s' not taken for a shard", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) CHECK(!awq_is_shard_name(no[i]), "'%s' taken for a shard", no[i]);
}

/* A model tensor of n elements for awq_rest_fill. */
static st_tensor model_tensor(const char *name, awq_dtype dt, const void *data, int64_t n)
{
    return (st_tensor){name, dt, 1, {n}, data, (size_t)n * awq_dtype_size(dt), 0};
}

static void t_rest_fill_converts_and_checks_range(void)
{
    /* exact fp16 values, from their bit patterns: 1.5 = 0x3e00, -2 = 0xc000, 65504 = 0x7bff (fp16 max) */
    const float f32[4] = {1.5f, -2.0f, 65504.0f, 0.0f};
    const uint16_t bf16[4] = {0x3fc0, 0xc000, 0x477f, 0x0000}; /* 1.5, -2, 65280, 0 */
    const uint16_t want[4] = {0x3e00, 0xc000, 0x7bff, 0x0000}, want_bf[4] = {0x3e00, 0xc000, 0x7bf8, 0x0000};
    uint16_t out[4];
    st_tensor t = model_tensor("embed", AWQ_DT_F32, f32, 4);
    REQUIRE(awq_rest_fill(&t, 0, out, sizeof out) == AWQ_OK, "%s", awq_errmsg());
    CHECK(memcmp(out, want, sizeof out) == 0, "f32: %04x %04x %04x %04x", out[0], out[1], out[2], out[3]);
    t = model_tensor("embed", AWQ_DT_BF16, bf16, 4);
    REQUIRE(awq_rest_fill(&t, 0, out, sizeof out) == AWQ_OK, "%s", awq_errmsg());
    CHECK(memcmp(out, want_bf, sizeof out) == 0, "bf16: %04x %04x %04x %04x", out[0], out[1], out[2], out[3]);
    /* a chunk in the middle: offset and length count output (F16) bytes */
    memset(out, 0, sizeof out);
    t = model_tensor("embed", AWQ_DT_F32, f32, 4);
    REQUIRE(awq_rest_fill(&t, 2, out, 4) == AWQ_OK, "%s", awq_errmsg());
    CHECK(out[0] == 0xc000 && out[1] == 0x7bff && out[2] == 0, "chunk: %04x %04x %04x", out[0], out[1], out[2]);
    /* F16 is copied as stored */
    t = model_tensor("norm", AWQ_DT_F16, want, 4);
    REQUIRE(awq_rest_fill(&t, 0, out, sizeof out) == AWQ_OK, "%s", awq_errmsg());
    CHECK(memcmp(out, want, sizeof out) == 0, "f16 copy");

    /* values fp16 cannot hold: an error naming the tensor and the element */
    const float big[3] = {1.0f, 2.0f, 70000.0f};
    t = model_tensor("lm_head.weight", AWQ_DT_F32, big, 3);
    awq_err e = awq_rest_fill(&t, 0, out, 6);
    CHECK(e == AWQ_ERR_NUMERIC && strstr(awq_errmsg(), "'lm_head.weight' element 2") && strstr(awq_errmsg(), "does not fit fp16"),
          "got %d: %s", e, awq_errmsg());
    const uint16_t inf[2] = {0x3c00, 0xfc00}; /* 1, -inf */
    t = model_tensor("norm", AWQ_DT_F16, inf, 2);
    e = awq_rest_fill(&t, 0, out, 4);
    CHECK(e == AWQ_ERR_NUMERIC && strstr(awq_errmsg(), "'norm' element 1"), "got %d: %s", e, awq_errmsg());
}

static void t_rest_key_follows_the_model_files(void)
{
    char out[8192];
    int rc = t_run(out, sizeof out, "cp -r tests/golden/llama2_mha '%s'", t_path("m"));
    REQUIRE(rc == 0, "copy: %s", out);
    awq_model *m = NULL;
    REQUIRE(awq_model_open(&m, t_path("m")) == AWQ_OK, "%s", awq_errmsg());
    awq_key k1, k2, k3;
    REQUIRE(awq_rest_key(m, &k1) == AWQ_OK && awq_rest_key(m, &k2) == AWQ_OK, "%s", awq_errmsg());
    CHECK(awq_key_equal(&k1, &k2), "two calls, two keys");
    char n1[AWQ_SHARD_NAME_MAX], hex[AWQ_KEY_HEX + 1];
    REQUIRE(awq_rest_shard_name(m, n1) == AWQ_OK, "%s", awq_errmsg());
    awq_key_hex(&k1, hex);
    CHECK(strncmp(n1, "rest-", 5) == 0 && strncmp(n1 + 5, hex, AWQ_KEY_HEX) == 0 && awq_is_shard_name(n1), "%s", n1);
    awq_model_close(m);
    /* the weights file touched (same bytes, another mtime): another key */
    struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
    REQUIRE(utimensat(AT_FDCWD, t_path("m/model.safetensors"), times, 0) == 0, "utimensat");
    REQUIRE(awq_model_open(&m, t_path("m")) == AWQ_OK, "%s", awq_errmsg());
    REQUIRE(awq_rest_key(m, &k3) == AWQ_OK, "%s", awq_errmsg());
    CHECK(!awq_key_equal(&k1, &k3), "the key did not follow the file's change");
    awq_model_close(m);
}

/* int32 words of a JSON array of arrays, in row order, into w (at most cap); returns the count */
static size_t words_of(json_t *a, uint32_t *w, size_t cap)
{
    size_t n = 0, i, j;
    json_t *row, *v;
    json_array_foreach(a, i, row) json_array_foreach(row, j, v) if (n < cap) w[n++] = (uint32_t)json_integer_value(v);
    return n;
}

static void t_ct_packing_equals_compressed_tensors(void)
{
    json_error_t jerr;
    json_t *root = json_load_file("tests/golden/ct/pack_vectors.json", 0, &jerr);
    REQUIRE(root, "tests/golden/ct/pack_vectors.json: %s (regenerate: tools/golden/ct_pack_vectors.py)", jerr.text);
    size_t ci;
    json_t *c;
    int n_cases = 0;
    json_array_foreach(json_object_get(root, "cases"), ci, c) {
        int bits = (int)json_integer_value(json_object_get(c, "bits"));
        size_t R = (size_t)json_integer_value(json_object_get(c, "rows")), C = (size_t)json_integer_value(json_object_get(c, "cols"));
        uint8_t codes[8 * 64], tr[8 * 64];
        size_t i, j;
        json_t *row, *v;
        json_array_foreach(json_object_get(c, "codes"), i, row) json_array_foreach(row, j, v) {
            codes[i * C + j] = (uint8_t)json_integer_value(v);
            tr[j * R + i] = codes[i * C + j];
        }
        uint32_t want[512], got[512];
        size_t n = words_of(json_object_get(c, "packed_dim1"), want, 512);
        CHECK(n == R * awq_ct_words(C, bits), "%d bits: %zu words along dim 1, want %zu", bits, R * awq_ct_words(C, bits), n);
        awq_ct_pack_rows((int32_t *)got, codes, R, C, bits);
        for (size_t k = 0; k < n; k++) CHECK(got[k] == want[k], "%d bits, dim 1, word %zu: %08x, compressed-tensors %08x", bits, k, got[k], want[k]);
        for (size_t r = 0; r < R; r++)
            for (size_t k = 0; k < C; k++)
                CHECK(awq_ct_get((int32_t *)got + r * awq_ct_words(C, bits), 1, k, bits) == codes[r * C + k], "%d bits: unpack [%zu, %zu]", bits, r, k);
        n = words_of(json_object_get(c, "packed_dim0_of_transpose"), want, 512);
        CHECK(n == awq_ct_words(C, bits) * R, "%d bits: words along dim 0", bits);
        awq_ct_pack_cols((int32_t *)got, tr, C, R, bits);
        for (size_t k = 0; k < n; k++) CHECK(got[k] == want[k], "%d bits, dim 0, word %zu: %08x, compressed-tensors %08x", bits, k, got[k], want[k]);
        n_cases++;
    }
    CHECK(n_cases == 5, "%d cases", n_cases);
    json_decref(root);
}

/* Phi3 under FORMAT=ct: the pack step writes q/k/v (gate/up) each in the CT layout and
 * awq_fuse_packed joins them into qkv_proj (gate_up_proj). The result must be exactly the layout
 * of the stacked codes: weight_packed and weight_scale stack by rows, but weight_zero_point packs
 * densely along the rows, so parts whose rows*bits is not a multiple of 32 end mid-word (q 20, k
 * 12, v 12 rows: every width but 8 straddles). Other tensors (a norm) stay, in order. */
static void t_ct_fused_equals_ct_of_stacked(void)
{
    static const size_t rows[3] = {20, 12, 12}, I = 64, G = 2, O = 44;
    static const char *part[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
    static const int widths[] = {2, 3, 4, 5, 8};
    uint8_t codes[44 * 64], zeros[44 * 2];
    uint16_t scale[44 * 2];
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        const int bits = widths[w];
        uint32_t x = 12345u + (uint32_t)bits;
        for (size_t k = 0; k < O * I; k++) x = x * 1103515245u + 12345u, codes[k] = (uint8_t)((x >> 16) & ((1u << bits) - 1));
        for (size_t k = 0; k < O * G; k++) {
            x = x * 1103515245u + 12345u;
            zeros[k] = (uint8_t)((x >> 16) & ((1u << bits) - 1));
            scale[k] = (uint16_t)(0x2000u + ((x >> 8) & 0x0fffu));
        }
        awq_ct_linear want, p[3];
        REQUIRE(awq_ct_from_codes(&want, codes, zeros, scale, O, I, G, bits) == AWQ_OK, "ct of the stack");
        awq_tensor t[14];
        char names[14][80];
        uint16_t norm[4] = {1, 2, 3, 4};
        int nt = 0;
        t[nt++] = (awq_tensor){"input_layernorm.weight", AWQ_DT_F16, 1, {4}, norm, 8, 0};
        for (size_t i = 0, r0 = 0; i < 3; r0 += rows[i], i++) {
            REQUIRE(awq_ct_from_codes(&p[i], codes + r0 * I, zeros + r0 * G, scale + r0 * G, rows[i], I, G, bits) == AWQ_OK, "ct part");
            const size_t nw = awq_ct_words(I, bits), zw = awq_ct_words(rows[i], bits);
            for (int k = 0; k < 4; k++) snprintf(names[nt + k], 80, "%s.%s", part[i], AWQ_CT_SUFFIX[k]);
            t[nt] = (awq_tensor){names[nt], AWQ_DT_I32, 2, {(int64_t)rows[i], (int64_t)nw}, p[i].packed, rows[i] * nw * 4, 1};
            t[nt + 1] = (awq_tensor){names[nt + 1], AWQ_DT_F16, 2, {(int64_t)rows[i], (int64_t)G}, p[i].scale, rows[i] * G * 2, 0};
            t[nt + 2] = (awq_tensor){names[nt + 2], AWQ_DT_I32, 2, {(int64_t)zw, (int64_t)G}, p[i].zero, zw * G * 4, 0};
            t[nt + 3] = (awq_tensor){names[nt + 3], AWQ_DT_I64, 1, {2}, p[i].shape, 16, 0};
            nt += 4;
        }
        void *bufs[AWQ_FUSED_MAX_BUFS];
        int nb = 0;
        REQUIRE(awq_fuse_packed(t, &nt, bufs, &nb, names) == AWQ_OK, "%d bits: fuse", bits);
        CHECK(nt == 5 && strcmp(t[0].name, "input_layernorm.weight") == 0, "%d bits: %d tensors, first %s", bits, nt, t[0].name);
        const void *wdata[4] = {want.packed, want.scale, want.zero, want.shape};
        const size_t wbytes[4] = {O * awq_ct_words(I, bits) * 4, O * G * 2, awq_ct_words(O, bits) * G * 4, 16};
        for (int k = 0; k < 4; k++) {
            char nm[96];
            snprintf(nm, sizeof nm, "self_attn.qkv_proj.%s", AWQ_CT_SUFFIX[k]);
            int at = -1;
            for (int i = 0; i < nt; i++)
                if (strcmp(t[i].name, nm) == 0) at = i;
            CHECK(at == 1 + k, "%d bits: %s at %d", bits, nm, at);
            if (at < 0) continue;
            CHECK(t[at].nbytes == wbytes[k] && memcmp(t[at].data, wdata[k], wbytes[k]) == 0, "%d bits: %s differs from the stack's",
                  bits, nm);
        }
        CHECK(t[1].shape[0] == (int64_t)O && t[3].shape[0] == (int64_t)awq_ct_words(O, bits), "%d bits: fused shapes", bits);
        for (int k = 0; k < nb; k++) free(bufs[k]);
        for (int i = 0; i < 3; i++) awq_ct_linear_free(&p[i]);
        awq_ct_linear_free(&want);
    }
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"names", t_names},
        {"rest_fill_converts_and_checks_range", t_rest_fill_converts_and_checks_range},
        {"rest_key_follows_the_model_files", t_rest_key_follows_the_model_files},
        {"ct_packing_equals_compressed_tensors", t_ct_packing_equals_compressed_tensors},
        {"ct_fused_equals_ct_of_stacked", t_ct_fused_equals_ct_of_stacked},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
