/* slots.h - shares of the GPU's memory between the pipeline steps that make runs at once.
 * A scale search holds a block's activations and the inputs of its linears (~14 GB for a 7B
 * model); a clip-only step (the scales were in the store) needs about a third of that. Both are
 * awq-quantize steps, so a bound on whole steps would keep clip-only reruns as slow as cold
 * runs. Instead each step takes units of a pool of 3 x AWQ_QUANTIZE_JOBS (default 4): a scale
 * search 3, a clip-only step 1, and a step gives 2 back when its scale search ends. A unit is an
 * flock(2)ed file in $AWQ_WORK/slots (set by awq-step), so the kernel releases it whatever way a
 * step ends. Without AWQ_WORK (a program run by hand) nothing is bounded. */
#ifndef AWQ_SLOTS_H
#define AWQ_SLOTS_H

#include "../../base/error.h"

#define AWQ_SLOT_UNITS_SEARCH 3   /* units a scale search holds */
#define AWQ_SLOTS_MAX 256

typedef struct awq_slots {
    int fd[AWQ_SLOTS_MAX];        /* held units (open, locked files) */
    int n;                        /* how many */
    double since;                 /* when the current holding began (seconds since the epoch) */
} awq_slots;

/* The size of the pool: 3 x AWQ_QUANTIZE_JOBS (default 4). */
int awq_slots_pool(void);
/* Wait until `units` units are held (a no-op when AWQ_WORK is unset). Steps that need more
 * than one unit collect them one at a time under a mutex file, so two of them can never each
 * hold part of what the other waits for. Errors: AWQ_ERR_IO when the slot files cannot be made. */
awq_err awq_slots_take(awq_slots *s, int units);
/* Host threads for a step holding s->n units: its share of the cores (at least 2); 0 when
 * nothing is bounded (no AWQ_WORK). */
int awq_slots_threads(const awq_slots *s);
/* Give back units until `keep` are held; logs "gpu units: N held START-END" (epoch seconds) at
 * verbose level (AWQ_VERBOSE=1). */
void awq_slots_keep(awq_slots *s, int keep);

#endif
