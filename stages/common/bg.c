/* bg.c - a piece of work on its own thread, its error carried back to the joiner (bg.h). */
#include "bg.h"

#include <stdio.h>
#include <string.h>

static void finish(awq_bg *b)
{
    b->e = b->fn(b->arg);
    if (b->e) {
        snprintf(b->msg, sizeof b->msg, "%s", awq_errmsg());
        snprintf(b->hint, sizeof b->hint, "%s", awq_errhint());
    }
}

static void *bg_main(void *arg)
{
    finish(arg);
    return NULL;
}

void awq_bg_start(awq_bg *b, awq_err (*fn)(void *arg), void *arg)
{
    *b = (awq_bg){.fn = fn, .arg = arg};
    b->running = pthread_create(&b->thread, NULL, bg_main, b) == 0;
    if (!b->running) finish(b); /* no thread: the work is done before the caller goes on */
}

awq_err awq_bg_join(awq_bg *b)
{
    if (b->running) pthread_join(b->thread, NULL);
    b->running = 0;
    awq_err e = b->e;
    b->e = AWQ_OK;
    if (e) {
        awq_fail(e, "%s", b->msg);
        if (*b->hint) awq_hint("%s", b->hint);
    }
    return e;
}

void awq_bg_drop(awq_bg *b)
{
    if (b->running) pthread_join(b->thread, NULL);
    b->running = 0;
    b->e = AWQ_OK;
}
