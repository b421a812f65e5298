/* bg.h - one piece of work on a thread of its own beside the caller's (the capture reads its
 * input while the GPU context is made, and writes its output while the context is torn down).
 * The work's error (code, message, hint) comes back on the caller's thread at the join.
 *
 *   awq_bg b;
 *   awq_bg_start(&b, read_input, &args);   // runs inline if no thread can be started
 *   ... other work ...
 *   e = awq_bg_join(&b);                   // read_input's awq_err, its message re-raised here
 */
#ifndef AWQ_BG_H
#define AWQ_BG_H

#include <pthread.h>

#include "../../base/error.h"

typedef struct awq_bg {
    awq_err (*fn)(void *arg);
    void *arg;
    pthread_t thread;
    int running;           /* a thread was started and not joined yet */
    awq_err e;             /* fn's result */
    char msg[1024], hint[1024];
} awq_bg;

/* Start fn(arg) on a new thread; without one (pthread_create failed) run it now. */
void awq_bg_start(awq_bg *b, awq_err (*fn)(void *arg), void *arg);
/* Wait for it; its error is set again on this thread (awq_errmsg, awq_errhint). AWQ_OK twice. */
awq_err awq_bg_join(awq_bg *b);
/* Wait for it and forget its result (the caller failed already; the message it set stays). */
void awq_bg_drop(awq_bg *b);

#endif
