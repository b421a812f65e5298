/* test.h - the tiny test harness every tests/test_*.c uses.
 *
 *   static void t_roundtrip(void) { CHECK(x == 1, "x=%d", x); }
 *   int main(int argc, char **argv) {
 *       static const t_case cases[] = {{"roundtrip", t_roundtrip}, ...};
 *       return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
 *   }
 *
 * Each case prints one line: "PASS <file>:<case>", "FAIL <file>:<case>" (after the failed checks,
 * each with file:line and the values) or "SKIP <file>:<case>: <why>". tests/run.sh counts them.
 * `prog <substring>` runs only the matching cases. The seed of random inputs is printed so a
 * failure can be replayed with AWQ_TEST_SEED=<n>.
 */
#ifndef AWQ_TEST_H
#define AWQ_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct t_case { const char *name; void (*fn)(void); } t_case;

int t_main(int argc, char **argv, const t_case *cases, size_t n);

/* Mark the running case failed (the CHECK macros call this). */
void t_failf(const char *file, int line, const char *expr, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Mark the running case skipped; the caller returns right after. */
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int t_failed(void); /* has the running case failed so far? */

#define CHECK(cond, ...) do { if (!(cond)) t_failf(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)
/* CHECK that also leaves the case (for checks later lines depend on). */
#define REQUIRE(cond, ...) do { if (!(cond)) { t_failf(__FILE__, __LINE__, #cond, __VA_ARGS__); return; } } while (0)

/* A fresh empty directory under $TMPDIR for the running case (removed at exit when all passed). */
const char *t_tmpdir(void);
/* Path inside t_tmpdir(); returned buffer is static per call slot (8 slots, rotating). */
const char *t_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ../shared/assets (or $AWQ_ASSETS) when present, else NULL: tests that need it t_skip(). */
const char *t_assets(void);
/* The build directory ($O, default "build"): tests that run programs use $O/bin. */
const char *t_build_dir(void);
/* Deterministic random numbers; the seed is printed once per program. */
uint64_t t_seed(void);
uint64_t t_rand(void);               /* splitmix64 stream from the seed */
float t_randf(float lo, float hi);
/* Run a shell command, return its exit status (-1 when it could not run / was signalled).
 * stdout+stderr go to `capture` (when not NULL, up to cap bytes, NUL-terminated). */
int t_run(char *capture, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Read / write a whole file (malloc'ed; NULL on failure). */
void *t_read_file(const char *path, size_t *len);
int t_write_file(const char *path, const void *data, size_t len);

#endif
