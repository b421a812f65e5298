/* log.h - messages for people, on stderr. stdout is reserved for machine-readable results.
 * Levels: quiet (errors only), normal, verbose (-v), debug (-vv). Progress lines are shown
 * only when stderr is a terminal (or AWQ_PROGRESS=1), so logs of make -j stay readable. */
#ifndef AWQ_LOG_H
#define AWQ_LOG_H

enum { AWQ_LOG_QUIET = 0, AWQ_LOG_NORMAL = 1, AWQ_LOG_VERBOSE = 2, AWQ_LOG_DEBUG = 3 };
extern int awq_log_level;

/* Remember the program name and log the reproducing command line at verbose level. */
void awq_log_init(const char *prog, int argc, char **argv);
const char *awq_log_prog(void);
void awq_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));    /* normal */
void awq_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* -v */
void awq_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));    /* always, "warning: " */
/* "\r<prog>: <what> done/total" on a TTY, rate-limited; a final newline when done == total. */
void awq_progress(const char *what, long done, long total);
/* Was this program started by make's pipeline? mk/pipeline.mk and the steps of plan.mk set
 * AWQ_VIA_MAKE=1; then hints name the make variables the person typed (NUMERICS=fp32), else the
 * program's own flags (--numerics fp32): params.h awq_param_say. */
int awq_via_make(void);
/* Wall-clock seconds since an arbitrary start (monotonic). */
double awq_now(void);

#endif
