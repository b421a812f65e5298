/* scale.c - the AWQ scale vector of one grid point (spec §2.6 and AutoAWQ's duo form, §2.12),
 * on the host: it is O(in_features) per ratio, so no backend needs its own. Each line is one
 * fp16 tensor op of the reference (fp32 math, result rounded with h()) in faithful mode. */
#include "quant.h"
#include "../base/half.h"

#include <math.h>

static float h_if(float x, int f16) { return f16 ? awq_round_f16(x) : x; }

/* torch's pow(tensor, python float) in fp32: the exponent becomes a float, and 0.5 is sqrt */
static float pow_torch(float x, float e)
{
    if (e == 0.5f) return sqrtf(x);
    if (e == 1.0f) return x;
    return powf(x, e);
}

kern_status kern_scale_formula(float *s, const float *xs, const float *wm, size_t n, double r, int round_f16,
                               int autoawq)
{
    if (n == 0 || !(r >= 0.0 && r <= 1.0)) return KERN_ERR_ARG;
    int f16 = round_f16 != 0;
    /* clamp(min=1e-4) and "+ 1e-4" with the constant in the weight dtype (0x068e, pitfall 3) */
    float eps = f16 ? awq_f16_to_f32(0x068e) : 1e-4f;
    /* torch's pow(tensor, Python float) converts the exponent to the tensor's dtype first
     * (exp_scalar.to<scalar_t>()), so in fp16 the exponents are h(r) and h(1 - r) */
    float ex = h_if((float)r, f16), ew = h_if((float)(1.0 - r), f16);
    for (size_t c = 0; c < n; c++) {
        float v = h_if(pow_torch(xs[c], ex), f16);
        if (wm) {
            float d = h_if(pow_torch(wm[c], ew), f16);
            if (autoawq) d = h_if(d + eps, f16);
            v = h_if(v / d, f16);
        }
        s[c] = v < eps ? eps : v; /* torch.clamp(min=): NaN stays NaN */
    }
    /* s / sqrt(max(s) * min(s)): torch's max/min propagate NaN */
    float mx = s[0], mn = s[0];
    for (size_t c = 1; c < n; c++) {
        if (isnan(s[c]) || s[c] > mx) mx = isnan(mx) ? mx : s[c];
        if (isnan(s[c]) || s[c] < mn) mn = isnan(mn) ? mn : s[c];
    }
    float norm = h_if(sqrtf(h_if(mx * mn, f16)), f16);
    for (size_t c = 0; c < n; c++) {
        float v = h_if(s[c] / norm, f16);
        if (autoawq && !isfinite(v)) v = 1.0f; /* AutoAWQ: scales[isinf] = 1, scales[isnan] = 1 */
        s[c] = v;
    }
    return KERN_OK;
}
