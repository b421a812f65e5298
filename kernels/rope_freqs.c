/* rope_freqs.c - the RoPE frequency table of spec §1.5, on the host, shared by every backend.
 * Each line is one fp32 tensor op of HF's _compute_default_rope_parameters /
 * _compute_llama3_parameters, with Python scalars rounded to fp32 as torch does. */
#include "kernels.h"

#include <math.h>

float kern_rope_cs_scale(const kern_rope *p) { return p->yarn || p->longrope ? p->attention_factor : 1.0f; }

float kern_attention_scale(size_t d) { return (float)(1.0 / sqrt((double)d)); }

/* transformers' find_correction_dim: Python floats (fp64) */
static double yarn_correction_dim(double rotations, size_t d, double base, double max_pos)
{
    const double pi = 3.14159265358979323846;
    return ((double)d * log(max_pos / (rotations * 2 * pi))) / (2 * log(base));
}

void kern_rope_freqs(float *f, size_t d, const kern_rope *p)
{
    const float two_pi = (float)(2.0 * 3.14159265358979323846); /* 2 * math.pi, then fp32 */
    for (size_t j = 0; j < d / 2; j++) {
        float expo = (float)(2 * j) / (float)d;   /* arange(0, d, 2).float() / d */
        float inv = 1.0f / powf(p->theta, expo);  /* 1.0 / (base ** expo) */
        if (p->ext_factors) inv = 1.0f / (p->ext_factors[j] * powf(p->theta, expo)); /* longrope: 1 / (ext * base ** expo) */
        if (p->llama3) {
            float lo_wl = p->original_max_pos / p->low_freq_factor;
            float hi_wl = p->original_max_pos / p->high_freq_factor;
            float wavelen = two_pi / inv;
            /* where(wavelen > lo_wl, inv / factor, inv); the medium band uses the undivided value */
            float base = wavelen > lo_wl ? inv / p->factor : inv;
            if (!(wavelen < hi_wl) && !(wavelen > lo_wl)) {
                float smooth = (p->original_max_pos / wavelen - p->low_freq_factor) /
                               (p->high_freq_factor - p->low_freq_factor);
                base = (1.0f - smooth) * base / p->factor + smooth * base;
            }
            inv = base;
        }
        if (p->yarn) {
            /* find_correction_range(beta_fast, beta_slow, d, theta, original_max_pos, truncate) */
            double lo = yarn_correction_dim(p->beta_fast, d, p->theta, p->original_max_pos);
            double hi = yarn_correction_dim(p->beta_slow, d, p->theta, p->original_max_pos);
            if (p->truncate) lo = floor(lo), hi = ceil(hi);
            if (lo < 0) lo = 0;
            if (hi > (double)(d - 1)) hi = (double)(d - 1);
            if (lo == hi) hi += 0.001; /* linear_ramp_factor's guard */
            /* ramp = clamp((arange(d/2) - lo) / (hi - lo), 0, 1), fp32 ops with fp32 scalars */
            float ramp = ((float)j - (float)lo) / (float)(hi - lo);
            ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
            float extra = 1.0f - ramp;                           /* inv_freq_extrapolation_factor */
            float pos_freq = powf(p->theta, expo);               /* base ** (arange / dim) */
            float inv_extra = 1.0f / pos_freq, inv_inter = 1.0f / (p->factor * pos_freq);
            inv = inv_inter * (1.0f - extra) + inv_extra * extra;
        }
        if (p->linear > 0) inv /= p->linear; /* _compute_linear_scaling_rope_parameters: inv_freq /= factor */
        f[j] = inv;
    }
}
