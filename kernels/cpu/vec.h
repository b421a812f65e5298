/* vec.h - the elementwise steps of the hot CPU loops on 4 floats at a time (GCC vector
 * extensions, plain SSE2: no FMA, so no contraction can change a rounding). Each helper computes
 * bit for bit what its scalar twin in cpu.h computes; test_backends holds them to it
 * (cpu/round_f16_n_sweep, cpu/fast_forms_same_bits). The tails (n % 4) go through the scalar
 * twins. */
#ifndef AWQ_KERNELS_CPU_VEC_H
#define AWQ_KERNELS_CPU_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef float kv4f __attribute__((vector_size(16)));
typedef int32_t kv4i __attribute__((vector_size(16)));

static inline kv4f kv4_load(const float *p) { kv4f v; memcpy(&v, p, sizeof v); return v; }
static inline void kv4_store(float *p, kv4f v) { memcpy(p, &v, sizeof v); }
static inline kv4f kv4_set1(float x) { return (kv4f){x, x, x, x}; }

/* h(x) = awq_round_f16(x) for 4 lanes, every input included (subnormal halves, overflow to
 * Inf, NaN as the quiet NaN awq_round_f16 gives), without branches: each case computed as in
 * kern_round_f16_fast and the lanes' answers picked by masks. */
static inline kv4f kv4_round_f16(kv4f x)
{
    const kv4i u = (kv4i)x, a = u & 0x7fffffff, sign = u & (int32_t)0x80000000u;
    /* [2^-14, 65520): round to 11 significant bits, half to even (the carry is right) */
    const kv4i normal = (u + 0xfff + ((u >> 13) & 1)) & ~0x1fff;
    /* below 2^-14: |x| + 0.5 rounds to the half subnormal step, subtracting 0.5 is exact */
    const kv4f absx = (kv4f)a;
    const kv4i sub = (kv4i)((absx + 0.5f) - 0.5f) | sign;
    /* beyond: Inf with x's sign, or the quiet NaN 0x7fc00000 with x's sign */
    const kv4i wide = sign | ((a > 0x7f800000) & 0x7fc00000) | (~(a > 0x7f800000) & 0x7f800000);
    const kv4i is_sub = a < 0x38800000, is_wide = a >= 0x477ff000;
    kv4i r = (is_sub & sub) | (~is_sub & normal);
    r = (is_wide & wide) | (~is_wide & r);
    return (kv4f)r;
}

/* v[0..n) = h(v[0..n)) in place, the portable 4-lane form; kern_round_f16_n (cpu.h) is the
 * fastest form this CPU has. */
static inline void kern_round_f16_n_v4(float *v, size_t n)
{
    size_t e = 0;
    for (; e + 4 <= n; e += 4) kv4_store(v + e, kv4_round_f16(kv4_load(v + e)));
    for (; e < n; e++) v[e] = kern_round_f16_fast(v[e]);
}

#endif
