/* slots.h - shares of the GPUs' memory between the pipeline steps that make runs at once.
 * Each GPU is a pool of memory units: its free memory when the run starts, less a margin, cut
 * into units of one size (at most AWQ_POOL_UNITS_MAX per GPU). The plan sizes the pools, says so
 * in one line per GPU, and writes them to $AWQ_WORK/slots/HOST/pool, which every step reads. A
 * step takes the units of what it needs (memest.h: a scale search ~14 GB on a 7B model, a
 * clip-only step a fraction), so `make -j` runs as many steps at once as fit, whatever the card.
 * A step whose need is more than its GPU has takes the whole pool and its scale search works
 * through the tokens in chunks (awq.c). AWQ_QUANTIZE_JOBS=J overrides the sizing: J scale
 * searches per listed GPU.
 *
 * Several GPUs (DEVICES, passed to the steps as $AWQ_DEVICES): one pool per listed GPU; a step
 * takes all its units on ONE of them and runs there (its backend opens that GPU). DEVICES=cpu:N
 * makes the CPU backend stand in for N devices of $AWQ_SIM_DEVICE_GIB GiB each (default: the
 * host's available memory shared out), so the assignment and the sizing run where there is no
 * GPU (tests/t_devices.sh, tests/t_memory.sh). Without a GPU the one pool is the host's memory.
 *
 * A unit is an flock(2)ed file in $AWQ_WORK/slots/HOST (set by awq-step), so the kernel releases
 * it whatever way a step ends; per host, because flock does not hold across NFS clients and GPUs
 * are a host's own. Without AWQ_WORK (a program run by hand), or with AWQ_DEVICES=slurm (Slurm gave
 * the step its GPU, awq-step), nothing is bounded. */
#ifndef AWQ_SLOTS_H
#define AWQ_SLOTS_H

#include "../../base/error.h"

#define AWQ_POOL_UNITS_MAX 256    /* units of one GPU's pool */
#define AWQ_SLOTS_MAX AWQ_POOL_UNITS_MAX /* units held by one step (all on one GPU) */
#define AWQ_DEVICES_MAX 64

/* The devices of $AWQ_DEVICES, one pool each, and their sizes. */
typedef struct awq_devices {
    int n;                          /* pools (at least 1) */
    int ordinal[AWQ_DEVICES_MAX];   /* the CUDA ordinal of each; -1: the backend's default (no GPU) */
    int listed[AWQ_DEVICES_MAX];    /* how often DEVICES lists it */
    int units[AWQ_DEVICES_MAX];     /* units in each pool (awq_pool_size) */
    double free_b[AWQ_DEVICES_MAX]; /* its free memory when sized (bytes) */
    double unit_b;                  /* bytes one unit stands for, the same in every pool */
    int jobs;                       /* AWQ_QUANTIZE_JOBS (0: not set): J scale searches per listing */
    char card[AWQ_DEVICES_MAX][64]; /* what it is, for the plan's line: the GPU's name, "host memory" */
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
    int bounded;                  /* 1 once a take found AWQ_WORK set and units to count */
    double unit_b;                /* bytes one unit stands for (when bounded) */
    int pool;                     /* units in its device's pool (when placed) */
    char name[16];                /* the device in logs: gpu1, sim1 (DEVICES=cpu:N), cpu */
} awq_slots;

/* Parse $AWQ_DEVICES: unset, empty or "all" (every visible GPU, else one pool for the CPU),
 * "0,1,3" (CUDA ordinals; repeats allowed), "cpu:N" (N simulated devices), "slurm". AWQ_ERR_ARG,
 * naming DEVICES= and with a hint, for other values and for ordinals this machine lacks. The
 * pools are those of $AWQ_WORK/slots/HOST/pool when the plan wrote one for these devices, else
 * sized now (awq_pool_size with a 7B-like search's need). */
awq_err awq_devices_get(awq_devices *d);
/* Size the pools from each device's free memory now, less a margin; with AWQ_QUANTIZE_JOBS=J,
 * J x the units of a scale search (search_b bytes) per listing instead. */
void awq_pool_size(awq_devices *d, double search_b);
/* Write d's pools to DIR/slots/HOST/pool (renamed into place), for the steps of this run. */
awq_err awq_pool_write(const awq_devices *d, const char *work);
/* Units of the given pool that a need of `bytes` takes (at least 1; all of it when more). */
int awq_pool_units_for(const awq_devices *d, int dev, double bytes);
/* How many steps needing `bytes` each fit at once in all pools together (at least 1). */
int awq_pool_fit(const awq_devices *d, double bytes);
/* The size of all pools together, in units. */
int awq_slots_pool(void);
/* Wait until `bytes` of GPU memory are held, as units all on one device (a no-op when AWQ_WORK is
 * unset). The first take chooses the device with the most free units; later ones stay on it. A
 * need larger than the device's pool takes the whole pool. Steps that need more than one unit
 * collect them one at a time under a mutex file, so two of them can never each hold part of what
 * the other waits for. Errors: AWQ_ERR_IO when the slot files cannot be made, AWQ_ERR_ARG for a
 * bad $AWQ_DEVICES. */
awq_err awq_slots_take(awq_slots *s, double bytes);
/* Wait until every unit of the step's device is held (a step that ran out of memory while others
 * held theirs: it retries alone). */
awq_err awq_slots_take_all(awq_slots *s);
/* Bytes the held units stand for: what a step may use (0: nothing is bounded). */
double awq_slots_bytes(const awq_slots *s);
/* 1 when the step holds every unit of its device, or nothing is bounded (no one else to wait for). */
int awq_slots_alone(const awq_slots *s);
/* Choose a device without taking units (a capture: it holds little, and must never wait behind
 * searches): the one with the most free units now. */
awq_err awq_slots_pick(awq_slots *s);
/* Host threads for a step holding s->n units: its share of the cores (at least 2); 0 when
 * nothing is bounded (no AWQ_WORK). */
int awq_slots_threads(const awq_slots *s);
/* Give back units until `keep` are held (keep 1: the least a step holds while it still computes); logs "gpu units: N held START-END on NAME" (epoch
 * seconds) at verbose level (AWQ_VERBOSE=1). */
void awq_slots_keep(awq_slots *s, int keep);

#endif
