/* prof.h - AWQ_PROFILE=1 prints where a stage's time goes: one "prof: WHAT +SECONDS" line on
 * stderr per mark, the time since the previous mark of the process. tools/bench.sh sums these
 * lines over the pipeline's logs. Off (the default) a mark costs one cached getenv. */
#ifndef AWQ_CACHE_PROF_H
#define AWQ_CACHE_PROF_H

/* Nonzero when AWQ_PROFILE is set to a value other than "" and "0". */
int awq_prof_on(void);

/* Print the time since the previous mark (or since the first call) under the label. */
void awq_prof_mark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
