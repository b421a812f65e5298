/* support.c - implementation of the test harness in test.h. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *g_prog = "test";
static const char *g_case = "";
static int g_case_failed, g_case_skipped, g_any_failed;
static char g_skip_why[512];
static char g_tmproot[512];
static char g_casedir[1024];
static uint64_t g_seed, g_state;

void t_failf(const char *file, int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: check failed: %s: ", file, line, expr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    g_case_failed = 1;
}

void t_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_skip_why, sizeof g_skip_why, fmt, ap);
    va_end(ap);
    g_case_skipped = 1;
}

int t_failed(void) { return g_case_failed; }

const char *t_tmpdir(void)
{
    if (!g_casedir[0]) {
        snprintf(g_casedir, sizeof g_casedir, "%s/%s", g_tmproot, g_case);
        mkdir(g_casedir, 0777);
    }
    return g_casedir;
}

const char *t_path(const char *fmt, ...)
{
    static char slots[8][1536];
    static int next;
    char rel[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    char *out = slots[next++ & 7];
    snprintf(out, sizeof slots[0], "%s/%s", t_tmpdir(), rel);
    return out;
}

const char *t_assets(void)
{
    static char buf[1024];
    const char *env = getenv("AWQ_ASSETS");
    const char *cands[] = {env, "../shared/assets", NULL};
    for (int i = 0; i < 2; i++) {
        if (!cands[i]) continue;
        snprintf(buf, sizeof buf, "%s/README.md", cands[i]);
        if (access(buf, R_OK) == 0) {
            snprintf(buf, sizeof buf, "%s", cands[i]);
            return buf;
        }
    }
    return NULL;
}

const char *t_build_dir(void)
{
    const char *o = getenv("O");
    return o && *o ? o : "build";
}

uint64_t t_seed(void) { return g_seed; }

uint64_t t_rand(void)
{
    uint64_t z = (g_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float t_randf(float lo, float hi) { return lo + (hi - lo) * (float)((t_rand() >> 40) * (1.0 / 16777216.0)); }

int t_run(char *capture, size_t cap, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (capture && n + 1 < cap) {
            size_t take = got < cap - 1 - n ? got : cap - 1 - n;
            memcpy(capture + n, buf, take);
            n += take;
        }
    }
    if (capture && cap) capture[n] = 0;
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

void *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (len) *len = (size_t)n; }
    return buf;
}

int t_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int t_main(int argc, char **argv, const t_case *cases, size_t n)
{
    g_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    const char *s = getenv("AWQ_TEST_SEED");
    g_seed = s ? strtoull(s, NULL, 0) : 0x5eed0001ull;
    fprintf(stderr, "# %s: seed %llu (AWQ_TEST_SEED to change)\n", g_prog, (unsigned long long)g_seed);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmproot, sizeof g_tmproot, "%s/awq-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", g_prog);
    if (!mkdtemp(g_tmproot)) { perror("mkdtemp"); return 2; }
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && !strstr(cases[i].name, argv[1])) continue;
        g_case = cases[i].name;
        g_case_failed = g_case_skipped = 0;
        g_casedir[0] = 0;
        g_state = g_seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
        cases[i].fn();
        if (g_case_failed) { printf("FAIL %s:%s\n", g_prog, g_case); failed++; }
        else if (g_case_skipped) printf("SKIP %s:%s: %s\n", g_prog, g_case, g_skip_why);
        else printf("PASS %s:%s\n", g_prog, g_case);
        fflush(stdout);
    }
    g_any_failed = failed;
    if (!failed && !getenv("AWQ_TEST_KEEP")) {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmproot);
        if (system(cmd) != 0) fprintf(stderr, "# could not remove %s\n", g_tmproot);
    } else if (failed) {
        fprintf(stderr, "# %s: files kept in %s\n", g_prog, g_tmproot);
    }
    return failed ? 1 : 0;
}
