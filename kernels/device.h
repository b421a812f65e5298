/* device.h - which compute devices this build and this machine have (for --device auto). */
#ifndef AWQ_DEVICE_H
#define AWQ_DEVICE_H

#include <stddef.h>

/* Was this build compiled with the CUDA backend? */
int awq_built_with_cuda(void);
/* Number of usable CUDA devices (0 when built without CUDA, without a driver or without a GPU).
 * When > 0 and name != NULL, the first device's name is written to name[0..cap). */
int awq_cuda_device_count(char *name, size_t cap);

#endif
