/* ref.h - the plain scalar references of every kernel (each in kernels/cpu/<stem>.c, the file of its op): the math
 * written to be read, one element at a time, in the order of spec §1.4/§1.5. The fast CPU ops
 * and the CUDA ops are tested against these. Semantics, shapes and aliasing rules are those of
 * the op of the same name in kernels.h (host memory; no context argument). */
#ifndef AWQ_KERNELS_CPU_REF_H
#define AWQ_KERNELS_CPU_REF_H

#include "../kernels.h"

/* Element idx of a weight tensor as fp32 (exact for F32/F16/BF16). */
float kern_weight_at(kern_weight w, size_t idx);

kern_status kern_matmul_ref(float *y /*[n,o]*/, const float *x /*[n,i]*/, kern_weight w /*[o,i]*/,
                            kern_weight bias /*[o] or none*/, size_t n, size_t o, size_t i, int round_f16);
kern_status kern_rmsnorm_ref(float *y /*[n,c]*/, const float *x /*[n,c]*/, kern_weight w /*[c]*/,
                             size_t n, size_t c, float eps, int round_f16);
kern_status kern_rmsnorm_1p_ref(float *y /*[n,c]*/, const float *x /*[n,c]*/, kern_weight w /*[c]*/,
                                size_t n, size_t c, float eps, int round_f16);
kern_status kern_rope_ref(float *x /*[n, heads*d]*/, const int32_t *pos /*[n]*/, size_t n, size_t heads,
                          size_t d, const kern_rope *rope, int round_f16);
kern_status kern_attention_ref(float *out /*[b*t, h*dv]*/, const float *q /*[b*t, h*d]*/,
                               const float *k /*[b*t, hkv*d]*/, const float *v /*[b*t, hkv*dv]*/,
                               size_t b, size_t t, size_t h, size_t hkv, size_t d, size_t dv, float scale,
                               float softcap, size_t window, int round_f16);
kern_status kern_silu_mul_ref(float *out /*[n]*/, const float *g /*[n]*/, const float *u /*[n]*/,
                              size_t n, int round_f16);
kern_status kern_gelu_tanh_mul_ref(float *out /*[n]*/, const float *g /*[n]*/, const float *u /*[n]*/,
                                   size_t n, int round_f16);
/* The composition of kern_matmul_ref and kern_silu_mul_ref (scratch: host buffers of n*f floats). */
kern_status kern_mlp_ref(float *out /*[n,c] or NULL*/, float *down_in /*[n,f] or NULL*/, const float *m /*[n,c]*/,
                         kern_weight w_gate /*[f,c]*/, kern_weight b_gate /*[f] or none*/, kern_weight w_up /*[f,c]*/,
                         kern_weight b_up /*[f] or none*/, kern_weight w_down /*[c,f]*/,
                         kern_weight b_down /*[c] or none*/, float *scratch_g /*[n*f]*/, float *scratch_u /*[n*f]*/,
                         size_t n, size_t c, size_t f, int act, int round_f16);
/* kern_mlp_ref on each group of rows (scratch: host buffers of rows*f floats). */
kern_status kern_mlp_grouped_ref(float *out /*[rows,c] or NULL*/, float *down_in /*[rows,f] or NULL*/,
                                 const float *m /*[rows,c]*/, const kern_weight *w_gate, const kern_weight *w_up,
                                 const kern_weight *w_down, const size_t *start /*[g+1]*/, size_t g, float *scratch_g,
                                 float *scratch_u, size_t c, size_t f, int act, int round_f16);
/* The composition of kern_matmul_ref, kern_rmsnorm_ref, kern_rope_ref and kern_attention_ref
 * (its own scratch: KERN_ERR_NOMEM when that cannot be had). */
kern_status kern_attn_ref(float *out /*[n,c] or NULL*/, float *o_in /*[n,h*d] or NULL*/, const float *a /*[n,c]*/,
                          const kern_attn_w *w, const int32_t *pos /*[n]*/, const kern_rope *rope, size_t b, size_t t,
                          size_t c, size_t h, size_t hkv, size_t d, int round_f16);
kern_status kern_softcap_ref(float *x /*[n]*/, size_t n, float cap, int round_f16);
kern_status kern_add_ref(float *y /*[n]*/, const float *a /*[n]*/, const float *b /*[n]*/, size_t n,
                         int round_f16);
kern_status kern_add_rows_ref(float *y /*[m,c]*/, const float *x /*[n,c]*/, const float *wt /*[n]*/,
                              const int32_t *idx /*[m,k]*/, size_t m, size_t k, size_t c, size_t n, int round_f16);
kern_status kern_copy2d_ref(float *dst /*[n, dst_ld]*/, size_t dst_ld, const float *src /*[n, src_ld]*/,
                           size_t src_ld, size_t n, size_t w);
kern_status kern_embed_ref(float *y /*[n,c]*/, const int32_t *ids /*[n]*/, kern_weight table /*[vocab,c]*/,
                           size_t n, size_t c, size_t vocab);
kern_status kern_mean_abs_ref(float *mean /*[c]*/, const float *x /*[n,c]*/, size_t n, size_t c,
                              int round_f16);
kern_status kern_round_f16_ref(float *x /*[n]*/, size_t n);
kern_status kern_check_f16_ref(const float *x /*[n]*/, size_t n, size_t *first_bad);
kern_status kern_quantize_ref(float *deq /*[o,i] or NULL*/, uint8_t *codes /*[o,i] or NULL*/,
                              float *scales /*[o,G] or NULL*/, uint8_t *zeros /*[o,G] or NULL*/,
                              const float *w /*[o,i]*/, const float *col_scale /*[i] or NULL*/, size_t o,
                              size_t i, int64_t group, int w_bit, int round_f16);
kern_status kern_w_mean_ref(float *wm /*[i]*/, const float *const *w /*n_w x [rows[m], i]*/,
                            const size_t *rows /*[n_w]*/, size_t n_w, size_t i, int64_t group, int round_f16);
kern_status kern_clip_search_ref(float *max_val /*[o,G]*/, int32_t *best /*[o,G] or NULL*/,
                                 float *loss /*[o,G,n_cand] or NULL*/, const float *w /*[o,i]*/,
                                 const float *x /*[t,i]*/, size_t o, size_t i, size_t t, int64_t group,
                                 int w_bit, int n_grid, double max_shrink, int round_f16);
kern_status kern_clip_apply_ref(float *w /*[o,i]*/, const float *max_val /*[o,G]*/, size_t o, size_t i,
                                int64_t group);

kern_status kern_scale_weight_ref(float *w /*[rows,cols]*/, const float *s, size_t rows, size_t cols, int per_row,
                                  int round_f16);

kern_status kern_to_f32_ref(float *dst /*[n]*/, kern_weight src /*[n]*/, size_t n);
kern_status kern_to_f16_ref(uint16_t *dst /*[n]*/, const float *src /*[n]*/, size_t n);
/* pack_qweight word by word with kern_pack8 (the fast op is kern_pack_qweight, kernels/quant.h) */
kern_status kern_pack_qweight_ref(int32_t *qweight /*[i, o/8]*/, const uint8_t *codes /*[o, i]*/, size_t o, size_t i);

kern_status kern_sq_diff_ref(double *sum, const float *a, const float *b, size_t n, int round_f16, int clamp);

#endif
