/* quant_params.c - the parameter checks every quantization op shares: the group size of a row
 * (spec §2.8, pitfall 17) and the number of clip candidates (pitfall 7). */
#include "quant.h"

kern_status kern_quant_group(size_t *g, size_t i, int64_t group)
{
    *g = 0;
    if (i == 0 || group < -1) return KERN_ERR_ARG;
    size_t gs = group <= 0 ? i : (size_t)group;
    if (i % gs) return KERN_ERR_ARG;
    *g = gs;
    return KERN_OK;
}

size_t kern_clip_candidates(int n_grid, double max_shrink)
{
    if (n_grid < 1 || !(max_shrink > 0.0 && max_shrink <= 1.0)) return 0;
    return (size_t)(max_shrink * (double)n_grid); /* Python int(): truncation toward zero */
}
