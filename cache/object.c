/* object.c - the object file format (described in store.h): encode (cut tensors into chunks,
 * pick each chunk's codec, encode chunks on OpenMP threads, each pwritten at its offset as soon
 * as the chunks before it are encoded), parse and validate the header against any bytes (it is
 * fuzzed), check the stored chunks' checksums, decode and verify the chunks.
 *
 * Codecs (format 3; docs/PERFORMANCE.md "Capture chain" has the tables): on fp16 activations
 * zstd's whole saving is in the upper byte planes (sign, exponent, top mantissa bits): shuffled
 * zstd and `split` (zstd of the upper half of the planes, the lower half stored as it is) have the
 * same ratio to three digits (1.158 synthetic, 1.173-1.207 on stories260K block inputs), and split
 * skips half the entropy coding and decodes the lower half at memory speed. So a float chunk is
 * split unless a 64 KiB sample of its lower planes compresses by 10% (an embedding's repeated rows,
 * ratio 29 shuffled, 1.9 split: then shuffle); integers zstd; any chunk that zstd does not shrink
 * is raw. Raw is 4-8x faster than either but 16-21% larger; the stores of a machine where that
 * pays can say so (AWQ_STORE_CODEC, store.h).
 *
 * Format 2's choices, measured before format 3:
 * Byte-plane shuffle and zstd level, measured on one 4 MiB chunk each (one core, zstd 1.5.4,
 * level 1 / level 3; MB/s are of raw bytes and noisy, ±20%, on a shared 2-core machine):
 *                                        no shuffle          shuffle
 *   F16 random N(0,0.02) weights   L3   ratio 1.089  704/912   1.186  559/680 MB/s comp/decomp
 *                                  L1         1.089  597/732   1.186  566/346
 *   BF16 random N(0,0.02) weights  L3         1.282  607/881   1.406  189/720
 *                                  L1         1.282  723/895   1.461  336/799
 *   F16 activations (per-channel
 *     log-normal scale, 0.5% x50
 *     outlier channels)            L3         1.070  694/985   1.148  704/800
 *   F32 random N(0,0.02)           L3         1.080  645/777   1.169  285/825
 *                                  L1         1.080  438/758   1.187  515/883
 *   stories260K real F16 weights   L3         1.111  670/874   1.199  563/1180
 *   stories260K real BF16 weights  L3         1.318  512/950   1.456  185/825
 *                                  L1         1.316  702/720   1.505  333/1082
 *   stories260K real F32 weights   L3         1.076  758/977   1.182  323/1280
 *   token ids (I32, tok512)        L3   ratio 4.75;  L1 4.30
 * So: shuffle pays on every float input (7-14% smaller files, a third of what zstd saves on
 * fp16 at all) at similar decompression speed; it is kept for F16/BF16/F32/F64. On shuffled
 * floats level 1 compresses as well as or better than level 3 and up to twice as fast, so they
 * use level 1; everything else (ids) uses level 3, which is 10% smaller there.
 * Packed 4-bit weights (awq_tensor.fast) compress only 1.10-1.18x at level 1 or 3 and at ~430 MB/s
 * (zstd -b on 8 MB of min-max-quantized N(0,1) codes, 2026-11-24), i.e. ~10 CPU-seconds per
 * experiment on a 7B model to save ~0.4 GB; zstd's fastest level stores them at ~5 GB/s (ratio
 * 1.00) and decompresses at memcpy speed: a clip-grid rerun on an H100 went from 9.6-10.4 s to
 * 8.7-8.9 s (docs/PERFORMANCE.md).
 * (Measured with a throwaway program: random data from splitmix64 + Box-Muller, the real
 * weights from ../shared/assets/models/stories260K-hf*.)
 * Whole objects (1 GiB of F16 N(0,0.02), 16-core host, page cache, put includes fsync), MB/s:
 *   threads      1     4     8    16
 *   put        422   766  1141  1084   (chunks are written between batches: the disk side caps it)
 *   get        635  2304  3680  8818   (decompress + unshuffle + XXH3-64 into fresh memory)
 *   verify    1336  3570  5634 12460   (same without keeping the data)
 * The cheap check (awq_object_check: XXH3-64 of the stored bytes only, format version 2) is
 * timed against verify and get by tools/bench-store.c (docs/PERFORMANCE.md, "Cache check").
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const uint8_t MAGIC[8] = {'A', 'W', 'Q', 'O', 'B', 'J', '\r', '\n'};
/* LEVEL_FAST: zstd's fastest (negative) level, for tensors that ask for it (awq_tensor.fast). */
enum { PREFIX = 16, SUFFIX = 8, LEVEL_SHUFFLED = 1, LEVEL_OTHER = 3, LEVEL_FAST = -1 };

int awq_threads(int n_threads)
{
#ifdef _OPENMP
    return n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    (void)n_threads;
    return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* Element size used for the shuffle: 0 = not shuffled. */
static size_t shuffle_size(awq_dtype t) { return awq_dtype_is_float(t) && awq_dtype_size(t) >= 2 ? awq_dtype_size(t) : 0; }

/* Byte-plane shuffle: byte b of element i goes to dst[b * n_elems + i]. The exponent bytes of
 * floats end up together, which zstd compresses far better than interleaved bytes. */
static void shuffle(uint8_t *restrict dst, const uint8_t *restrict src, size_t nbytes, size_t es)
{
    size_t m = nbytes / es;
    if (es == 2) {
        for (size_t i = 0; i < m; i++) { dst[i] = src[2 * i]; dst[m + i] = src[2 * i + 1]; }
        return;
    }
    for (size_t b = 0; b < es; b++)
        for (size_t i = 0; i < m; i++) dst[b * m + i] = src[i * es + b];
}

/* The inverse, with the lower half of the planes at lo and the upper half at hi (the split
 * codec keeps them apart; the shuffle codec has hi = lo + nbytes / 2). */
static void unshuffle2(uint8_t *restrict dst, const uint8_t *lo, const uint8_t *hi, size_t nbytes, size_t es)
{
    size_t m = nbytes / es;
    if (es == 2) {
        for (size_t i = 0; i < m; i++) { dst[2 * i] = lo[i]; dst[2 * i + 1] = hi[i]; }
        return;
    }
    for (size_t b = 0; b < es; b++) {
        const uint8_t *plane = b < es / 2 ? lo + b * m : hi + (b - es / 2) * m;
        for (size_t i = 0; i < m; i++) dst[i * es + b] = plane[i];
    }
}

static size_t n_chunks_of(size_t nbytes) { return nbytes / AWQ_CHUNK + (nbytes % AWQ_CHUNK != 0); }

static int kind_ok(const char *kind)
{
    size_t n = strlen(kind);
    if (n == 0 || n >= sizeof ((awq_object *)0)->kind) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return 0;
    }
    return 1;
}

/* numel * element size, 0 on overflow (reported through *overflow). */
static size_t tensor_bytes(awq_dtype dt, int ndim, const int64_t *shape, int *overflow)
{
    size_t n = awq_dtype_size(dt);
    *overflow = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > SIZE_MAX || __builtin_mul_overflow(n, (size_t)shape[d], &n)) {
            *overflow = 1;
            return 0;
        }
    }
    if (n > (size_t)INT64_MAX) *overflow = 1;
    return n;
}

static int cmp_name_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Index of a duplicated name, or -1. Sorting keeps this fast for many tensors. */
static const char *find_duplicate(const awq_tensor *t, int n)
{
    if (n < 2) return NULL;
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names) return NULL; /* cannot check; the caller's other checks still apply */
    for (int i = 0; i < n; i++) names[i] = t[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_name_ptr);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(names[i - 1], names[i]) == 0) dup = names[i];
    free(names);
    return dup;
}

awq_err awq_object_check_args(const char *kind, const char *recipe, const awq_tensor *t, int n)
{
    if (!kind || !kind_ok(kind))
        return awq_fail(AWQ_ERR_ARG, "bad object kind '%s': use 1-31 characters of a-z 0-9 _ - .", kind ? kind : "(null)");
    if (n < 0 || n > AWQ_MAX_TENSORS || (n > 0 && !t))
        return awq_fail(AWQ_ERR_ARG, "bad tensor count %d for a '%s' object", n, kind);
    if (recipe) {
        json_t *j = json_string(recipe); /* NULL when not valid UTF-8 */
        if (!j) return awq_fail(AWQ_ERR_ARG, "the recipe of a '%s' object is not valid UTF-8 text", kind);
        json_decref(j);
    }
    for (int i = 0; i < n; i++) {
        const awq_tensor *x = &t[i];
        if (!x->name || !*x->name || strlen(x->name) > AWQ_MAX_NAME)
            return awq_fail(AWQ_ERR_ARG, "tensor %d of a '%s' object has an empty or too long name", i, kind);
        json_t *j = json_string(x->name);
        if (!j) return awq_fail(AWQ_ERR_ARG, "tensor name '%s' is not valid UTF-8", x->name);
        json_decref(j);
        if (x->dtype <= AWQ_DT_INVALID || x->dtype >= AWQ_DT__COUNT)
            return awq_fail(AWQ_ERR_ARG, "tensor '%s' has an invalid dtype (%d)", x->name, (int)x->dtype);
        if (x->ndim < 0 || x->ndim > AWQ_MAX_DIMS)
            return awq_fail(AWQ_ERR_ARG, "tensor '%s' has %d dimensions (at most %d)", x->name, x->ndim, AWQ_MAX_DIMS);
        int overflow;
        size_t want = tensor_bytes(x->dtype, x->ndim, x->shape, &overflow);
        if (overflow) return awq_fail(AWQ_ERR_ARG, "tensor '%s' has a negative or overflowing shape", x->name);
        if (want != x->nbytes)
            return awq_fail(AWQ_ERR_ARG, "tensor '%s': %zu bytes given, its dtype and shape need %zu", x->name, x->nbytes, want);
        if (want > 0 && !x->data) return awq_fail(AWQ_ERR_ARG, "tensor '%s' has no data", x->name);
    }
    const char *dup = find_duplicate(t, n);
    if (dup) return awq_fail(AWQ_ERR_ARG, "tensor name '%s' appears twice in a '%s' object", dup, kind);
    return AWQ_OK;
}

/* ---------------------------------------------------------------- encode */

const char *awq_codec_name(awq_codec c)
{
    static const char *const names[AWQ_CODEC__COUNT] = {"zstd", "shuffle", "raw", "split"};
    return c >= 0 && c < AWQ_CODEC__COUNT ? names[c] : "?";
}

/* A chunk to write: where its raw bytes are and how to treat them. */
typedef struct {
    const uint8_t *src;
    size_t tensor;
    size_t es;  /* shuffle element size, 0 = not a float of 2+ bytes */
    int fast;   /* the tensor asked for LEVEL_FAST */
    int force;  /* 0 = choose, else 1 + the codec (awq_store_set_codec) */
} src_chunk;

static json_t *header_json(const awq_key *key, const char *kind, const char *recipe, const awq_tensor *t, int n,
                           const awq_chunk *chunks, int bound_sizes)
{
    char hex[AWQ_KEY_HEX + 1];
    awq_key_hex(key, hex);
    json_t *root = json_object(), *tensors = json_array();
    if (!root) { json_decref(tensors); return NULL; }
    /* json_*_set_new/append_new take the reference even when they fail, so each is called
     * exactly once (no short-circuit) and the containers are filled only when all succeeded. */
    int ok = (json_object_set_new(root, "kind", json_string(kind)) == 0) &
             (json_object_set_new(root, "key", json_string(hex)) == 0) &
             (json_object_set_new(root, "recipe", json_string(recipe ? recipe : "")) == 0) &
             (json_object_set_new(root, "tensors", tensors) == 0);
    size_t c = 0;
    for (int i = 0; ok && i < n; i++) {
        json_t *jt = json_object(), *shape = json_array(), *jc = json_array();
        ok = (json_object_set_new(jt, "name", json_string(t[i].name)) == 0) &
             (json_object_set_new(jt, "dtype", json_string(awq_dtype_name(t[i].dtype))) == 0) &
             (json_object_set_new(jt, "shape", shape) == 0) & (json_object_set_new(jt, "chunks", jc) == 0) &
             (json_array_append_new(tensors, jt) == 0);
        for (int d = 0; ok && d < t[i].ndim; d++) ok = json_array_append_new(shape, json_integer(t[i].shape[d])) == 0;
        for (size_t k = n_chunks_of(t[i].nbytes); ok && k > 0; k--, c++) {
            /* While planning, each stored size is the largest zstd can produce, so the final
             * header (real sizes, padded with spaces) is never longer than the planned one. */
            uint64_t stored = bound_sizes ? ZSTD_compressBound(chunks[c].raw) : chunks[c].stored;
            /* The checksum of the stored bytes has a fixed width too (the planned one is 0). */
            char h[17], hs[17];
            snprintf(h, sizeof h, "%016llx", (unsigned long long)chunks[c].xxh64);
            snprintf(hs, sizeof hs, "%016llx", (unsigned long long)chunks[c].stored_xxh64);
            ok = json_array_append_new(jc, json_pack("[I,I,s,i,s]", (json_int_t)stored, (json_int_t)chunks[c].raw, h,
                                                     chunks[c].codec, hs)) == 0;
        }
    }
    if (!ok) { json_decref(root); return NULL; }
    return root;
}

static char *header_text(const awq_key *key, const char *kind, const char *recipe, const awq_tensor *t, int n,
                         const awq_chunk *chunks, int bound_sizes)
{
    json_t *j = header_json(key, kind, recipe, t, n, chunks, bound_sizes);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return s;
}

/* One encoder thread's buffers, made by the thread itself when it first needs them. */
typedef struct {
    ZSTD_CCtx *cctx;
    uint8_t *scratch;   /* shuffled bytes, AWQ_CHUNK */
    uint8_t *out;       /* stored bytes, ZSTD_compressBound(AWQ_CHUNK) */
} enc_thread;

/* Does zstd save at least SAMPLE_GAIN on the first SAMPLE bytes of p[0, n)? The split codec's
 * test of the lower planes: ~3% of a chunk's work. */
enum { SAMPLE = 64 << 10 };
#define SAMPLE_GAIN 0.9
static int compressible(ZSTD_CCtx *cc, uint8_t *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t m = n < SAMPLE ? n : SAMPLE;
    size_t r = ZSTD_compressCCtx(cc, out, cap, p, m, LEVEL_SHUFFLED);
    return !ZSTD_isError(r) && (double)r < SAMPLE_GAIN * (double)m;
}

/* Which codec a chunk gets when the tensor does not force one (measured in the comment at the
 * top): integers zstd; floats split, unless their lower planes compress too (an embedding's
 * repeated rows, weights with many zeros), then shuffle. Either falls back to raw below when
 * zstd saves nothing. */
static awq_codec choose(enc_thread *me, const src_chunk *s, const uint8_t *shuffled, size_t raw)
{
    if (s->force) return (awq_codec)(s->force - 1);
    if (!s->es || s->fast) return AWQ_CODEC_ZSTD;
    return compressible(me->cctx, me->out, ZSTD_compressBound(AWQ_CHUNK), shuffled, raw / 2) ? AWQ_CODEC_SHUFFLE
                                                                                              : AWQ_CODEC_SPLIT;
}

/* Encode one chunk: fills c's codec, stored size and checksums and points *stored at the bytes
 * to write (me->out, or the source itself for raw). NULL on success, else what failed. */
static const char *encode_chunk(enc_thread *me, awq_chunk *c, const src_chunk *s, const uint8_t **stored)
{
    const size_t cap = ZSTD_compressBound(AWQ_CHUNK), raw = c->raw;
    if (!me->cctx) me->cctx = ZSTD_createCCtx();
    if (!me->out) me->out = malloc(cap);
    if (s->es && !me->scratch) me->scratch = malloc(AWQ_CHUNK);
    if (!me->cctx || !me->out || (s->es && !me->scratch)) return "out of memory";
    c->xxh64 = XXH3_64bits(s->src, raw);
    const awq_codec forced = (awq_codec)(s->force - 1);
    if (s->es && !s->fast && (!s->force || forced == AWQ_CODEC_SHUFFLE || forced == AWQ_CODEC_SPLIT))
        shuffle(me->scratch, s->src, raw, s->es);
    awq_codec codec = choose(me, s, me->scratch, raw);
    size_t r = 0;
    if (codec == AWQ_CODEC_ZSTD || codec == AWQ_CODEC_SHUFFLE) {
        const int level = s->fast ? LEVEL_FAST : codec == AWQ_CODEC_SHUFFLE ? LEVEL_SHUFFLED : LEVEL_OTHER;
        r = ZSTD_compressCCtx(me->cctx, me->out, cap, codec == AWQ_CODEC_SHUFFLE ? me->scratch : s->src, raw, level);
    } else if (codec == AWQ_CODEC_SPLIT) {
        /* upper planes (the scratch's second half) through zstd, the lower ones after them */
        r = ZSTD_compressCCtx(me->cctx, me->out, cap - raw / 2, me->scratch + raw / 2, raw - raw / 2, LEVEL_SHUFFLED);
        if (!ZSTD_isError(r)) {
            memcpy(me->out + r, me->scratch, raw / 2);
            r += raw / 2;
        }
    }
    if (ZSTD_isError(r)) return ZSTD_getErrorName(r);
    /* zstd saved nothing (random bits, or forced raw): the bytes as they are, read at memory speed */
    if (codec == AWQ_CODEC_RAW || (!s->force && r >= raw)) {
        c->codec = AWQ_CODEC_RAW;
        c->stored = (uint32_t)raw;
        c->stored_xxh64 = c->xxh64;
        *stored = s->src;
        return NULL;
    }
    c->codec = codec;
    c->stored = (uint32_t)r;
    c->stored_xxh64 = XXH3_64bits(me->out, r);
    *stored = me->out;
    return NULL;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Encode every chunk and write it at its place: chunk c's offset is known once chunks before
 * it are encoded (the ordered region hands the offsets out in order), and its pwrite then runs
 * on its own thread beside the others' compression, so the write is as parallel as the
 * encoding instead of one thread writing batches between them. Returns 0, or 1 + the first
 * chunk that failed with *why (an encoder message) or *err (errno of the write). */
static size_t encode_all(awq_chunk *chunks, const src_chunk *src, size_t n_chunks, int nt, int fd, uint64_t start,
                         const char **why, int *err)
{
    enc_thread *th = calloc((size_t)nt, sizeof *th);
    if (!th) { *why = "out of memory"; return 1; }
    uint64_t next = start;
    size_t bad = 0;
    int failed = 0; /* read without the lock: once a chunk failed, the others need not be encoded */
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1) ordered
    for (size_t c = 0; c < n_chunks; c++) {
        enc_thread *me = &th[thread_id()];
        const uint8_t *stored = NULL;
        const char *msg = __atomic_load_n(&failed, __ATOMIC_RELAXED) ? "" : encode_chunk(me, &chunks[c], &src[c], &stored);
        uint64_t off = 0;
        #pragma omp ordered
        {
            off = next;
            next += msg ? 0 : chunks[c].stored;
        }
        int wr = msg ? 0 : pwrite_all(fd, stored, chunks[c].stored, off);
        if ((msg && *msg) || wr) {
            #pragma omp critical(awq_encode_error)
            if (!bad || c + 1 < bad) { bad = c + 1; *why = msg; *err = wr; }
            __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
        }
    }
    for (int i = 0; i < nt; i++) {
        ZSTD_freeCCtx(th[i].cctx);
        free(th[i].scratch);
        free(th[i].out);
    }
    free(th);
    return bad;
}

awq_err awq_object_write(awq_atomic *f, const awq_key *key, const char *kind, const char *recipe,
                         const awq_tensor *t, int n, int n_threads, int force)
{
    /* Plan the chunks. */
    size_t n_chunks = 0;
    for (int i = 0; i < n; i++) n_chunks += n_chunks_of(t[i].nbytes);
    awq_chunk *chunks = calloc(n_chunks ? n_chunks : 1, sizeof *chunks);
    src_chunk *src = calloc(n_chunks ? n_chunks : 1, sizeof *src);
    if (!chunks || !src) {
        free(chunks);
        free(src);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory writing '%s'", f->final_path);
    }
    size_t c = 0;
    for (int i = 0; i < n; i++) {
        for (size_t off = 0; off < t[i].nbytes; off += AWQ_CHUNK, c++) {
            size_t raw = t[i].nbytes - off < AWQ_CHUNK ? t[i].nbytes - off : AWQ_CHUNK;
            chunks[c].raw = (uint32_t)raw;
            /* a shuffling codec only where the dtype has byte planes; elsewhere the choice */
            size_t es = shuffle_size(t[i].dtype);
            int fc = force && (es || (force - 1 != AWQ_CODEC_SHUFFLE && force - 1 != AWQ_CODEC_SPLIT)) ? force : 0;
            src[c] = (src_chunk){(const uint8_t *)t[i].data + off, (size_t)i, es, t[i].fast, fc};
        }
    }

    awq_err e = AWQ_OK;
    char *planned = header_text(key, kind, recipe, t, n, chunks, 1), *final = NULL;
    size_t H = planned ? strlen(planned) : 0;
    if (!planned) {
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory building the header of '%s'", f->final_path);
        goto out;
    }
    if (H > AWQ_MAX_HEADER) {
        e = awq_fail(AWQ_ERR_ARG, "the header of '%s' would be %zu bytes (limit %zu): too many tensors or chunks",
                     f->final_path, H, AWQ_MAX_HEADER);
        goto out;
    }

    /* Prefix and a placeholder for header + checksum; the real ones are written at the end,
     * when the stored sizes are known. Memory stays at two chunks per thread however large the
     * object is. */
    uint8_t prefix[PREFIX];
    memcpy(prefix, MAGIC, 8);
    put_u32(prefix + 8, AWQ_OBJECT_VERSION);
    put_u32(prefix + 12, (uint32_t)H);
    if ((e = awq_atomic_write(f, prefix, PREFIX)) != AWQ_OK) goto out;
    if (ftruncate(f->fd, (off_t)(PREFIX + H + SUFFIX)) != 0) {
        e = awq_fail_errno(errno, "cannot write '%s'", f->final_path);
        goto out;
    }

    int nt = awq_threads(n_threads);
    if ((size_t)nt > n_chunks) nt = n_chunks ? (int)n_chunks : 1;
    const char *why = NULL;
    int err = 0;
    size_t bad = encode_all(chunks, src, n_chunks, nt, f->fd, PREFIX + H + SUFFIX, &why, &err);
    if (bad && err) {
        e = awq_fail_errno(err, "cannot write '%s'", f->final_path);
        goto out;
    }
    if (bad) {
        e = awq_fail(!strcmp(why, "out of memory") ? AWQ_ERR_NOMEM : AWQ_ERR_COMPRESS, "cannot compress tensor '%s' for '%s': %s",
                     t[src[bad - 1].tensor].name, f->final_path, why);
        goto out;
    }

    /* The real header, padded with spaces (valid JSON whitespace) to the planned length. */
    final = header_text(key, kind, recipe, t, n, chunks, 0);
    if (!final || strlen(final) > H) {
        e = awq_fail(final ? AWQ_ERR_COMPRESS : AWQ_ERR_NOMEM, "cannot build the header of '%s'", f->final_path);
        goto out;
    }
    char *hdr = realloc(final, H + SUFFIX);
    if (!hdr) {
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory writing '%s'", f->final_path);
        goto out;
    }
    final = hdr;
    size_t len = strlen(final);
    memset(final + len, ' ', H - len);
    put_u64((uint8_t *)final + H, XXH3_64bits(final, H));
    int werr = pwrite_all(f->fd, (const uint8_t *)final, H + SUFFIX, PREFIX);
    if (werr) e = awq_fail_errno(werr, "cannot write '%s'", f->final_path);
out:
    free(planned);
    free(final);
    free(chunks);
    free(src);
    return e;
}

/* ---------------------------------------------------------------- parse */

void awq_object_free(awq_object *o)
{
    if (!o) return;
    for (int i = 0; o->tensors && i < o->n_tensors; i++) free(o->tensors[i].name);
    free(o->tensors);
    free(o->layout);
    free(o->chunks);
    free(o->recipe);
    free(o->payload);
    free(o);
}

const awq_tensor *awq_object_tensor(const awq_object *o, const char *name)
{
    for (int i = 0; o && i < o->n_tensors; i++)
        if (strcmp(o->tensors[i].name, name) == 0) return &o->tensors[i];
    return NULL;
}

/* A JSON string member without embedded NULs, or NULL. */
static const char *get_str(json_t *obj, const char *field)
{
    json_t *v = json_object_get(obj, field);
    if (!json_is_string(v)) return NULL;
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL;
}

static int get_uint(json_t *v, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v)) return 0;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max) return 0;
    *out = (uint64_t)x;
    return 1;
}

static int parse_hex64(const char *s, uint64_t *out)
{
    if (!s || strlen(s) != 16) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 1;
}

/* Parse one tensor entry; chunk entries are appended to o->chunks at *c (capacity checked by
 * the caller: chunks are counted before they are parsed). Returns AWQ_OK or a FORMAT error. */
static awq_err parse_tensor(json_t *jt, int i, awq_object *o, size_t *c, size_t cap, uint64_t *offset)
{
    awq_tensor *t = &o->tensors[i];
    if (!json_is_object(jt)) return awq_fail(AWQ_ERR_FORMAT, "tensor %d of the header is not an object", i);
    const char *name = get_str(jt, "name");
    if (!name || !*name || strlen(name) > AWQ_MAX_NAME)
        return awq_fail(AWQ_ERR_FORMAT, "tensor %d of the header has a missing or bad name", i);
    if (!(t->name = strdup(name))) return awq_fail(AWQ_ERR_NOMEM, "out of memory reading a header");
    const char *dt = get_str(jt, "dtype");
    t->dtype = awq_dtype_parse(dt);
    if (t->dtype == AWQ_DT_INVALID)
        return awq_fail(AWQ_ERR_FORMAT, "tensor '%s' has an unknown dtype '%.32s'", name, dt ? dt : "(missing)");
    json_t *shape = json_object_get(jt, "shape");
    if (!json_is_array(shape) || json_array_size(shape) > AWQ_MAX_DIMS)
        return awq_fail(AWQ_ERR_FORMAT, "tensor '%s' has a missing or bad shape", name);
    t->ndim = (int)json_array_size(shape);
    for (int d = 0; d < t->ndim; d++) {
        uint64_t v;
        if (!get_uint(json_array_get(shape, (size_t)d), INT64_MAX, &v))
            return awq_fail(AWQ_ERR_FORMAT, "tensor '%s' has a bad dimension %d", name, d);
        t->shape[d] = (int64_t)v;
    }
    int overflow;
    t->nbytes = tensor_bytes(t->dtype, t->ndim, t->shape, &overflow);
    if (overflow) return awq_fail(AWQ_ERR_FORMAT, "tensor '%s' has an overflowing shape", name);
    json_t *jc = json_object_get(jt, "chunks");
    size_t want = n_chunks_of(t->nbytes);
    if (!json_is_array(jc) || json_array_size(jc) != want)
        return awq_fail(AWQ_ERR_FORMAT, "tensor '%s' of %zu bytes must have %zu chunks, the header lists %zu", name,
                        t->nbytes, want, json_is_array(jc) ? json_array_size(jc) : 0);
    if (want > cap - *c) return awq_fail(AWQ_ERR_FORMAT, "the header lists more chunks than it holds");
    o->layout[i].first_chunk = *c;
    o->layout[i].n_chunks = want;
    size_t es = shuffle_size(t->dtype);
    for (size_t k = 0; k < want; k++, (*c)++) {
        awq_chunk *ch = &o->chunks[*c];
        json_t *e = json_array_get(jc, k);
        uint64_t stored, raw, codec;
        size_t expect_raw = k + 1 < want ? AWQ_CHUNK : t->nbytes - k * AWQ_CHUNK;
        size_t n_fields = o->version >= 2 ? 5 : 4; /* version 2 adds the checksum of the stored bytes */
        if (!json_is_array(e) || json_array_size(e) != n_fields || !get_uint(json_array_get(e, 0), UINT32_MAX, &stored) ||
            !get_uint(json_array_get(e, 1), UINT32_MAX, &raw) ||
            !parse_hex64(json_string_value(json_array_get(e, 2)), &ch->xxh64) ||
            !get_uint(json_array_get(e, 3), o->version >= 3 ? AWQ_CODEC__COUNT - 1 : AWQ_CODEC_SHUFFLE, &codec) ||
            (n_fields == 5 && !parse_hex64(json_string_value(json_array_get(e, 4)), &ch->stored_xxh64)))
            return awq_fail(AWQ_ERR_FORMAT, "chunk %zu of tensor '%s' has a malformed entry", k, name);
        if (raw != expect_raw)
            return awq_fail(AWQ_ERR_FORMAT, "chunk %zu of tensor '%s' claims %llu raw bytes, expected %zu", k, name,
                            (unsigned long long)raw, expect_raw);
        if (stored == 0 || stored > ZSTD_compressBound(raw))
            return awq_fail(AWQ_ERR_FORMAT, "chunk %zu of tensor '%s' claims an impossible compressed size %llu", k, name,
                            (unsigned long long)stored);
        if ((codec == AWQ_CODEC_SHUFFLE || codec == AWQ_CODEC_SPLIT) && !es)
            return awq_fail(AWQ_ERR_FORMAT, "chunk %zu of tensor '%s' is marked shuffled (codec %s) but its dtype is %s", k,
                            name, awq_codec_name((awq_codec)codec), awq_dtype_name(t->dtype));
        if ((codec == AWQ_CODEC_RAW && stored != raw) || (codec == AWQ_CODEC_SPLIT && stored <= raw / 2))
            return awq_fail(AWQ_ERR_FORMAT, "chunk %zu of tensor '%s' claims %llu stored bytes, impossible for %llu raw bytes in codec %s",
                            k, name, (unsigned long long)stored, (unsigned long long)raw, awq_codec_name((awq_codec)codec));
        ch->stored = (uint32_t)stored;
        ch->raw = (uint32_t)raw;
        ch->codec = (int)codec;
        ch->offset = *offset;
        *offset += stored; /* cannot overflow: at most 2^32 * chunks that fit a 64 MiB header */
        o->layout[i].stored_bytes += stored;
    }
    return AWQ_OK;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const awq_tensor *)a)->name, ((const awq_tensor *)b)->name);
}

static awq_err parse_json(json_t *root, awq_object *o)
{
    if (!json_is_object(root)) return awq_fail(AWQ_ERR_FORMAT, "the header is not a JSON object");
    const char *kind = get_str(root, "kind"), *key = get_str(root, "key"), *recipe = get_str(root, "recipe");
    if (!kind || !kind_ok(kind)) return awq_fail(AWQ_ERR_FORMAT, "the header has a missing or bad kind");
    strcpy(o->kind, kind);
    if (!key || strlen(key) != AWQ_KEY_HEX || awq_key_parse(&o->key, key) != AWQ_OK)
        return awq_fail(AWQ_ERR_FORMAT, "the header has a missing or bad key");
    if (!recipe) return awq_fail(AWQ_ERR_FORMAT, "the header has a missing or bad recipe");
    if (!(o->recipe = strdup(recipe))) return awq_fail(AWQ_ERR_NOMEM, "out of memory reading a header");
    json_t *tensors = json_object_get(root, "tensors");
    if (!json_is_array(tensors) || json_array_size(tensors) > AWQ_MAX_TENSORS)
        return awq_fail(AWQ_ERR_FORMAT, "the header has a missing or oversized tensor list");
    size_t n = json_array_size(tensors), n_chunks = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *jc = json_object_get(json_array_get(tensors, i), "chunks");
        if (json_is_array(jc)) n_chunks += json_array_size(jc);
    }
    o->tensors = calloc(n ? n : 1, sizeof *o->tensors);
    o->layout = calloc(n ? n : 1, sizeof *o->layout);
    o->chunks = calloc(n_chunks ? n_chunks : 1, sizeof *o->chunks);
    if (!o->tensors || !o->layout || !o->chunks) return awq_fail(AWQ_ERR_NOMEM, "out of memory reading a header");
    uint64_t offset = 0;
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        o->n_tensors = (int)i + 1; /* so that free releases the names parsed so far */
        awq_err e = parse_tensor(json_array_get(tensors, i), (int)i, o, &c, n_chunks, &offset);
        if (e != AWQ_OK) return e;
    }
    o->n_tensors = (int)n;
    o->n_chunks = c;
    if (offset != o->file_size - o->data_offset)
        return awq_fail(AWQ_ERR_FORMAT, "the chunks add up to %llu bytes but the file holds %llu after the header%s",
                        (unsigned long long)offset, (unsigned long long)(o->file_size - o->data_offset),
                        offset > o->file_size - o->data_offset ? " (truncated?)" : "");
    if (n > 1) { /* duplicate names: sort a copy */
        awq_tensor *copy = malloc(n * sizeof *copy);
        if (!copy) return awq_fail(AWQ_ERR_NOMEM, "out of memory reading a header");
        memcpy(copy, o->tensors, n * sizeof *copy);
        qsort(copy, n, sizeof *copy, cmp_tensor_name);
        const char *dup = NULL;
        for (size_t i = 1; i < n && !dup; i++)
            if (strcmp(copy[i - 1].name, copy[i].name) == 0) dup = copy[i].name;
        awq_err e = dup ? awq_fail(AWQ_ERR_FORMAT, "tensor name '%s' appears twice", dup) : AWQ_OK;
        free(copy);
        if (e != AWQ_OK) return e;
    }
    return AWQ_OK;
}

awq_err awq_object_parse_header(const uint8_t *buf, size_t len, uint64_t file_size, awq_object **out)
{
    *out = NULL;
    if (len < PREFIX || file_size < PREFIX)
        return awq_fail(AWQ_ERR_FORMAT, "only %llu bytes, too short for an object",
                        (unsigned long long)(len < file_size ? len : file_size));
    if (memcmp(buf, MAGIC, 8) != 0) return awq_fail(AWQ_ERR_FORMAT, "bad magic: not an awqmake object");
    uint32_t version = get_u32(buf + 8), H = get_u32(buf + 12);
    if (version < AWQ_OBJECT_VERSION_MIN || version > AWQ_OBJECT_VERSION)
        return awq_fail(AWQ_ERR_FORMAT, "format version %u, this build reads versions %u to %u", version,
                        AWQ_OBJECT_VERSION_MIN, AWQ_OBJECT_VERSION);
    if (H > AWQ_MAX_HEADER) return awq_fail(AWQ_ERR_FORMAT, "header length %u exceeds the limit of %zu", H, AWQ_MAX_HEADER);
    uint64_t need = (uint64_t)PREFIX + H + SUFFIX;
    if (need > file_size)
        return awq_fail(AWQ_ERR_FORMAT, "truncated: a header of %u bytes does not fit in the file's %llu bytes", H,
                        (unsigned long long)file_size);
    if (need > len)
        return awq_fail(AWQ_ERR_FORMAT, "a header of %u bytes does not fit in the %zu bytes given", H, len);
    if (XXH3_64bits(buf + PREFIX, H) != get_u64(buf + PREFIX + H))
        return awq_fail(AWQ_ERR_CHECKSUM, "header checksum mismatch");
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + PREFIX, H, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return awq_fail(AWQ_ERR_FORMAT, "the header is not valid JSON: %s (column %d)", jerr.text, jerr.column);
    awq_object *o = calloc(1, sizeof *o);
    if (!o) {
        json_decref(root);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory reading a header");
    }
    o->version = version;
    o->data_offset = need;
    o->file_size = file_size;
    awq_err e = parse_json(root, o);
    json_decref(root);
    if (e != AWQ_OK) {
        awq_object_free(o);
        return e;
    }
    *out = o;
    return AWQ_OK;
}

/* ---------------------------------------------------------------- decode */

enum { CH_OK, CH_NOMEM, CH_ZSTD, CH_SIZE, CH_SUM, CH_STORED };

/* Does chunk c's stored checksum match its bytes? Version 1 objects have none: yes. */
static int stored_ok(const awq_object *o, const uint8_t *buf, size_t c)
{
    const awq_chunk *ch = &o->chunks[c];
    return o->version < 2 || XXH3_64bits(buf + o->data_offset + ch->offset, ch->stored) == ch->stored_xxh64;
}

/* Message for a chunk's status (not CH_OK). */
static awq_err chunk_error(const awq_object *o, const int *tensor_of, size_t c, int status)
{
    const char *name = o->tensors[tensor_of[c]].name;
    size_t k = c - o->layout[tensor_of[c]].first_chunk;
    return status == CH_NOMEM  ? awq_fail(AWQ_ERR_NOMEM, "out of memory decoding an object")
         : status == CH_SUM    ? awq_fail(AWQ_ERR_CHECKSUM, "chunk %zu of tensor '%s': checksum mismatch", k, name)
         : status == CH_STORED ? awq_fail(AWQ_ERR_CHECKSUM, "chunk %zu of tensor '%s': checksum of the compressed bytes mismatch", k, name)
         : status == CH_SIZE   ? awq_fail(AWQ_ERR_CHECKSUM, "chunk %zu of tensor '%s': decompresses to the wrong size", k, name)
         : awq_fail(AWQ_ERR_CHECKSUM, "chunk %zu of tensor '%s': corrupt compressed data", k, name);
}

/* Which tensor each chunk belongs to (caller frees; NULL when out of memory). */
static int *chunk_tensors(const awq_object *o)
{
    int *tensor_of = malloc((o->n_chunks ? o->n_chunks : 1) * sizeof *tensor_of);
    for (int i = 0; tensor_of && i < o->n_tensors; i++)
        for (size_t k = 0; k < o->layout[i].n_chunks; k++) tensor_of[o->layout[i].first_chunk + k] = i;
    return tensor_of;
}

typedef struct {
    ZSTD_DCtx *dctx;
    uint8_t *a, *b; /* scratch: decompressed (shuffled) bytes, unshuffled bytes when verifying */
} dec_thread;

/* Decode chunk c of the object in buf into dst (NULL: verify only) and check it; a CH_ status.
 * es: the tensor's element size (for the shuffling codecs). */
static int decode_chunk(dec_thread *me, const awq_object *o, const uint8_t *buf, size_t c, size_t es, uint8_t *dst)
{
    if (!stored_ok(o, buf, c)) return CH_STORED; /* what awq_object_check sees */
    const awq_chunk *ch = &o->chunks[c];
    const uint8_t *in = buf + o->data_offset + ch->offset;
    const size_t raw = ch->raw;
    if (ch->codec == AWQ_CODEC_RAW) { /* the stored bytes are the raw ones */
        if (dst) memcpy(dst, in, raw);
        return XXH3_64bits(in, raw) == ch->xxh64 ? CH_OK : CH_SUM;
    }
    const int shuffled = ch->codec == AWQ_CODEC_SHUFFLE || ch->codec == AWQ_CODEC_SPLIT;
    if (!me->dctx) me->dctx = ZSTD_createDCtx();
    if (!me->a) me->a = malloc(AWQ_CHUNK);
    if (!dst && !me->b) me->b = malloc(AWQ_CHUNK);
    if (!me->dctx || !me->a || (!dst && !me->b)) return CH_NOMEM;
    uint8_t *into = (shuffled || !dst) ? me->a : dst;
    size_t r;
    const uint8_t *lower = into; /* the lower half of the planes */
    if (ch->codec == AWQ_CODEC_SPLIT) { /* zstd of the upper planes, then the lower ones as they are */
        size_t z = ch->stored - raw / 2;
        r = ZSTD_decompressDCtx(me->dctx, into + raw / 2, raw - raw / 2, in, z);
        if (!ZSTD_isError(r)) r += raw / 2;
        lower = in + z;
    } else {
        r = ZSTD_decompressDCtx(me->dctx, into, raw, in, ch->stored);
    }
    if (ZSTD_isError(r)) return CH_ZSTD;
    if (r != raw) return CH_SIZE;
    const uint8_t *plain = into;
    if (shuffled) {
        uint8_t *to = dst ? dst : me->b;
        unshuffle2(to, lower, into + raw / 2, raw, es);
        plain = to;
    }
    return XXH3_64bits(plain, raw) == ch->xxh64 ? CH_OK : CH_SUM;
}

static size_t alloc_payload(awq_object *o)
{
    size_t total = 64;
    for (int i = 0; i < o->n_tensors; i++) total += (o->tensors[i].nbytes + 63) & ~(size_t)63;
    return total;
}

awq_err awq_object_decode(const uint8_t *buf, size_t len, int n_threads, int with_data, awq_object **out)
{
    awq_object *o;
    if (out) *out = NULL;
    awq_err e = awq_object_parse_header(buf, len, len, &o);
    if (e != AWQ_OK) return e;
    if (with_data) {
        size_t total = alloc_payload(o);
        if (posix_memalign(&o->payload, 64, total) != 0) {
            o->payload = NULL;
            awq_object_free(o);
            return awq_fail(AWQ_ERR_NOMEM, "out of memory: the object needs %zu bytes", total);
        }
        uint8_t *p = o->payload;
        for (int i = 0; i < o->n_tensors; i++) {
            o->tensors[i].data = p;
            p += (o->tensors[i].nbytes + 63) & ~(size_t)63;
        }
    }
    /* Which tensor each chunk belongs to, for the destination and the message. */
    int *tensor_of = chunk_tensors(o);
    uint8_t *status = calloc(o->n_chunks ? o->n_chunks : 1, 1);
    int nt = awq_threads(n_threads);
    if ((size_t)nt > o->n_chunks) nt = o->n_chunks ? (int)o->n_chunks : 1;
    dec_thread *th = calloc((size_t)nt, sizeof *th);
    if (!tensor_of || !status || !th) {
        free(tensor_of);
        free(status);
        free(th);
        awq_object_free(o);
        return awq_fail(AWQ_ERR_NOMEM, "out of memory decoding an object");
    }

    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t c = 0; c < o->n_chunks; c++) {
        const awq_tensor *t = &o->tensors[tensor_of[c]];
        uint8_t *dst = t->data ? (uint8_t *)t->data + (c - o->layout[tensor_of[c]].first_chunk) * AWQ_CHUNK : NULL;
        status[c] = (uint8_t)decode_chunk(&th[thread_id()], o, buf, c, awq_dtype_size(t->dtype), dst);
    }

    for (int i = 0; i < nt; i++) {
        ZSTD_freeDCtx(th[i].dctx);
        free(th[i].a);
        free(th[i].b);
    }
    free(th);
    for (size_t c = 0; c < o->n_chunks && e == AWQ_OK; c++)
        if (status[c] != CH_OK) e = chunk_error(o, tensor_of, c, status[c]);
    free(tensor_of);
    free(status);
    if (e != AWQ_OK || !out) {
        awq_object_free(o);
        return e;
    }
    *out = o;
    return AWQ_OK;
}

awq_err awq_object_check(const uint8_t *buf, size_t len, int n_threads, awq_object **out)
{
    if (out) *out = NULL;
    awq_object *o;
    awq_err e = awq_object_parse_header(buf, len, len, &o);
    if (e != AWQ_OK) return e;
    if (o->version < 2) { /* no checksums of the stored bytes: only decoding can tell */
        awq_object_free(o);
        return awq_object_decode(buf, len, n_threads, 0, out);
    }
    int nt = awq_threads(n_threads);
    if ((size_t)nt > o->n_chunks) nt = o->n_chunks ? (int)o->n_chunks : 1;
    size_t first_bad = SIZE_MAX;
    /* Hashing runs at memory speed; threads help mostly with the page faults of a cold mapping. */
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(min : first_bad)
    for (size_t c = 0; c < o->n_chunks; c++)
        if (!stored_ok(o, buf, c) && c < first_bad) first_bad = c;
    if (first_bad != SIZE_MAX) {
        int *tensor_of = chunk_tensors(o);
        e = tensor_of ? chunk_error(o, tensor_of, first_bad, CH_STORED) : awq_fail(AWQ_ERR_NOMEM, "out of memory checking an object");
        free(tensor_of);
    }
    if (e != AWQ_OK || !out) {
        awq_object_free(o);
        return e;
    }
    *out = o;
    return AWQ_OK;
}

awq_err awq_object_read_header(const char *path, awq_object **out, uint64_t *payload_bytes)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return awq_fail_errno(errno, "cannot open '%s'", path);
    struct stat st;
    uint8_t *buf = NULL;
    awq_err e = AWQ_OK;
    if (fstat(fd, &st) != 0) {
        e = awq_fail_errno(errno, "cannot stat '%s'", path);
        goto out;
    }
    /* Read the prefix, then no more than it claims and the file holds; the parser checks it all. */
    uint64_t size = (uint64_t)st.st_size, want = size < PREFIX ? size : PREFIX;
    uint8_t prefix[PREFIX];
    if (pread(fd, prefix, want, 0) != (ssize_t)want) {
        e = awq_fail_errno(errno ? errno : EIO, "cannot read '%s'", path);
        goto out;
    }
    if (want == PREFIX) {
        uint64_t full = (uint64_t)PREFIX + get_u32(prefix + 12) + SUFFIX;
        if (full <= size && full <= PREFIX + AWQ_MAX_HEADER + SUFFIX) want = full;
    }
    if (!(buf = malloc(want ? want : 1))) {
        e = awq_fail(AWQ_ERR_NOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    if (pread(fd, buf, want, 0) != (ssize_t)want) {
        e = awq_fail_errno(errno ? errno : EIO, "cannot read '%s'", path);
        goto out;
    }
    if ((e = awq_object_parse_header(buf, want, size, out)) != AWQ_OK) {
        awq_context(e, "'%s'", path);
        goto out;
    }
    if (payload_bytes) *payload_bytes = (*out)->file_size - (*out)->data_offset;
out:
    free(buf);
    close(fd);
    return e;
}
