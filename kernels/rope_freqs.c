/* rope_freqs.c - the RoPE frequency table of spec §1.5, on the host, shared by every backend.
 * Each line is one fp32 tensor op of HF's _compute_default_rope_parameters /
 * _compute_llama3_parameters, with Python scalars rounded to fp32 as torch does. */
#include "kernels.h"

#include <math.h>

void kern_rope_freqs(float *f, size_t d, const kern_rope *p)
{
    const float two_pi = (float)(2.0 * 3.14159265358979323846); /* 2 * math.pi, then fp32 */
    for (size_t j = 0; j < d / 2; j++) {
        float expo = (float)(2 * j) / (float)d;   /* arange(0, d, 2).float() / d */
        float inv = 1.0f / powf(p->theta, expo);  /* 1.0 / (base ** expo) */
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
        f[j] = inv;
    }
}
