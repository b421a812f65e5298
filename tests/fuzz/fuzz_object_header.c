/* fuzz_object_header.c - libFuzzer target: any bytes as an object file. The header parser must
 * accept or reject them without crashing, leaking or reading out of bounds, and what it accepts
 * must be consistent (every chunk inside the file); accepted objects are also put through the
 * cheap check (checksums of the stored bytes), and those of modest raw size are decoded
 * completely (decompression and checksums on hostile data).
 *
 * Seeds (tests/fuzz/seeds/object_header/) are small valid objects, made with awq-obj. Those named
 * by the bare key were written by the format-version-1 writer (no checksums of the stored bytes,
 * so mutated chunks reach zstd); "<key>.v2" by the version-2 writer (the last line, with .v2):
 *   d=$(mktemp -d); printf '\x00\x3c\x00\xbc' > $d/h; printf 'stage=seed\nalgo_version=1\n' > $d/r
 *   head -c 300 /dev/urandom > $d/u; printf '\x01\x00\x00\x00\x02\x00\x00\x00' > $d/i; head -c 4 $d/i > $d/f
 *   k1=$(build/bin/awq-obj --store $d/s put --kind act w=$d/h:F16:2)
 *   k2=$(build/bin/awq-obj --store $d/s put --kind clip --recipe-file $d/r ids=$d/i:I32:2 e=/dev/null:BF16:0,3 u=$d/u:U8:300)
 *   k3=$(build/bin/awq-obj --store $d/s put --kind scales s=$d/f:F32:)
 *   for k in $k1 $k2 $k3; do cp "$(build/bin/awq-obj --store $d/s path $k)" tests/fuzz/seeds/object_header/$k; done
 * (test_store's fuzz_seeds_are_objects case checks that they are still valid objects.)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/store.h"

static void check_one(const uint8_t *data, size_t size)
{
    awq_object *o = NULL;
    if (awq_object_parse_header(data, size, size, &o) != AWQ_OK) return;
    uint64_t raw = 0;
    for (size_t c = 0; c < o->n_chunks; c++) {
        const awq_chunk *ch = &o->chunks[c];
        if (o->data_offset + ch->offset + ch->stored > size) abort(); /* parser let a chunk past the end */
        raw += ch->raw;
    }
    for (int i = 0; i < o->n_tensors; i++)
        if (o->tensors[i].data != NULL || !o->tensors[i].name) abort();
    awq_object_free(o);
    o = NULL;
    awq_err e = awq_object_check(data, size, 1, &o);
    if ((e == AWQ_OK) != (o != NULL)) abort();
    awq_object_free(o);
    /* Decoding allocates the raw size; bound it so the fuzzer's memory limit is not the finding. */
    if (raw <= ((uint64_t)64 << 20)) {
        o = NULL;
        if (awq_object_decode(data, size, 1, 1, &o) == AWQ_OK && !o) abort();
        awq_object_free(o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one(data, size);
    /* Mutations almost always break the header checksum, which would hide the JSON checks from
     * the fuzzer: parse a copy whose checksum is recomputed as well. */
    if (size < 16) return 0;
    uint32_t H = (uint32_t)data[12] | (uint32_t)data[13] << 8 | (uint32_t)data[14] << 16 | (uint32_t)data[15] << 24;
    if ((uint64_t)16 + H + 8 > size) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    uint64_t sum = XXH3_64bits(copy + 16, H);
    for (int i = 0; i < 8; i++) copy[16 + H + i] = (uint8_t)(sum >> (8 * i));
    check_one(copy, size);
    free(copy);
    return 0;
}
