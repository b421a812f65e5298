/* slots.h - shares of the GPUs' memory between the pipeline steps that make runs at once.
 * A scale search holds a block's activations and the inputs of its linears (~14 GB for a 7B
 * model); a clip-only step (the scales were in the store) needs about a third of that. Both are
 * awq-quantize steps, so a bound on whole steps would keep clip-only reruns as slow as cold
 * runs. Instead each step takes units of a pool of 3 x AWQ_QUANTIZE_JOBS (default 4) per GPU: a
 * scale search 3, a clip-only step 1, and a step gives 2 back when its scale search ends.
 *
 * Several GPUs (DEVICES, passed to the steps as $AWQ_DEVICES): one pool per listed GPU; a step
 * takes all its units on ONE of them and runs there (its backend opens that GPU). A GPU listed
 * twice (DEVICES=0,0) has a pool twice the size. DEVICES=cpu:N makes the CPU backend stand in for
 * N devices, so the assignment runs where there is no GPU (tests/t_devices.sh).
 *
 * A unit is an flock(2)ed file in $AWQ_WORK/slots/HOST (set by awq-step), so the kernel releases
 * it whatever way a step ends; per host, because flock does not hold across NFS clients and GPUs
 * are a host's own. Without AWQ_WORK (a program run by hand), or with AWQ_DEVICES=slurm (Slurm gave
 * the step its GPU, awq-step), nothing is bounded. */
#ifndef AWQ_SLOTS_H
#define AWQ_SLOTS_H

#include "../../base/error.h"

#define AWQ_SLOT_UNITS_SEARCH 3   /* units a scale search holds */
#define AWQ_SLOTS_MAX 256         /* units held by one step, and units in all pools together */
#define AWQ_DEVICES_MAX 64

/* The devices of $AWQ_DEVICES, one pool each. */
typedef struct awq_devices {
    int n;                          /* pools (at least 1) */
    int ordinal[AWQ_DEVICES_MAX];   /* the CUDA ordinal of each; -1: the backend's default (no GPU) */
    int units[AWQ_DEVICES_MAX];     /* units in each pool: times listed x 3 x AWQ_QUANTIZE_JOBS */
    int simulated;                  /* DEVICES=cpu:N: the CPU backend stands in for every one */
    int unbounded;                  /* AWQ_DEVICES=slurm: one device (the first visible), no units */
} awq_devices;

typedef struct awq_slots {
    int fd[AWQ_SLOTS_MAX];        /* held units (open, locked files) */
    int n;                        /* how many */
    double since;                 /* when the current holding began (seconds since the epoch) */
    int placed;                   /* 1 once a device is chosen: every later take is on it */
    int dev;                      /* the pool, an index into awq_devices (when placed) */
    int ordinal;                  /* its CUDA ordinal, -1: the default (when placed) */
    int simulated;                /* run on the CPU backend (DEVICES=cpu:N) */
    char name[16];                /* the device in logs: gpu1, sim1 (DEVICES=cpu:N), cpu */
} awq_slots;

/* Parse $AWQ_DEVICES: unset, empty or "all" (every visible GPU, else one pool for the CPU),
 * "0,1,3" (CUDA ordinals; repeats allowed), "cpu:N" (N simulated devices), "slurm". AWQ_ERR_ARG,
 * naming DEVICES= and with a hint, for other values and for ordinals this machine lacks. */
awq_err awq_devices_get(awq_devices *d);
/* The size of all pools together: 3 x AWQ_QUANTIZE_JOBS (default 4) per listed device. */
int awq_slots_pool(void);
/* Wait until `units` units are held, all on one device (a no-op when AWQ_WORK is unset). The
 * first take chooses the device with the most free units; later ones stay on it. Steps that need
 * more than one unit collect them one at a time under a mutex file, so two of them can never each
 * hold part of what the other waits for. Errors: AWQ_ERR_IO when the slot files cannot be made,
 * AWQ_ERR_ARG for a bad $AWQ_DEVICES. */
awq_err awq_slots_take(awq_slots *s, int units);
/* Choose a device without taking units (a capture: it holds little, and must never wait behind
 * searches): the one with the most free units now. */
awq_err awq_slots_pick(awq_slots *s);
/* Host threads for a step holding s->n units: its share of the cores (at least 2); 0 when
 * nothing is bounded (no AWQ_WORK). */
int awq_slots_threads(const awq_slots *s);
/* Give back units until `keep` are held; logs "gpu units: N held START-END on NAME" (epoch
 * seconds) at verbose level (AWQ_VERBOSE=1). */
void awq_slots_keep(awq_slots *s, int keep);

#endif
