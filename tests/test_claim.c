/* test_claim.c - claims of files being computed (cache/claim.h): a claim holds this process's
 * record and goes on release; a live holder (another process) makes a second taker wait, and
 * eight processes claiming one file never overlap; a dead holder's claim, one whose pid belongs to
 * another process now, and another host's claim not renewed for the lease are taken over, while
 * another host's fresh claim is not; renewal refreshes the mtime; release leaves a claim that is
 * no longer ours; claims in a directory of their own, and in a directory not made yet. */
#include "test.h"
#include "../cache/claim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static awq_claim_opts no_wait = {.no_wait = 1};

static int exists(const char *p) { return access(p, F_OK) == 0; }

static void t_take_release(void)
{
    const char *f = t_path("obj");
    char *claim = awq_claim_path(f, NULL);
    REQUIRE(claim && strcmp(claim, t_path(".tmp-claim-obj")) == 0, "claim path: %s", claim ? claim : "(null)");
    awq_claims *c = NULL;
    REQUIRE(awq_claims_take(&c, &f, 1, &no_wait) == AWQ_OK, "take: %s", awq_errmsg());
    char *rec = t_read_file(claim, NULL), host[256], want[512];
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "host %s\npid %ld\n", host, (long)getpid());
    CHECK(rec && strncmp(rec, want, strlen(want)) == 0, "record: %s", rec ? rec : "(none)");
    awq_claims_release(c);
    CHECK(!exists(claim), "released");
    /* nothing but the claim itself is left beside the file */
    CHECK(t_run(NULL, 0, "[ -z \"$(ls -A '%s')\" ]", t_tmpdir()) == 0, "no temp files left");
    free(rec);
    free(claim);
}

/* A child that takes the claim of f, says 'R' on `ready`, waits for a byte on `go`, then releases
 * (release = 1) or dies holding it. */
static pid_t holder(const char *f, int ready, int go, int release)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        awq_claims *c = NULL;
        if (awq_claims_take(&c, &f, 1, &no_wait) != AWQ_OK) _exit(3);
        char b = 'R';
        if (write(ready, &b, 1) != 1 || read(go, &b, 1) != 1) _exit(4);
        if (release) awq_claims_release(c);
        _exit(0);
    }
    return pid;
}

static int n_waits;
static void count_wait(void *ctx, const char *claim, const char *rec) { (void)ctx; (void)claim; (void)rec; n_waits++; }

static void t_live_holder_makes_wait(void)
{
    const char *f = t_path("obj");
    int r[2], g[2];
    REQUIRE(pipe(r) == 0 && pipe(g) == 0, "pipes");
    holder(f, r[1], g[0], 1); /* waited for at the end */
    char b;
    REQUIRE(read(r[0], &b, 1) == 1, "the holder took the claim");
    awq_claims *c = NULL;
    CHECK(awq_claims_take(&c, &f, 1, &no_wait) == AWQ_ERR_EXISTS && !c, "a live holder's claim is not taken");
    awq_clear_error();
    /* let the holder release in 0.3 s while we wait for it */
    fflush(NULL);
    if (fork() == 0) { usleep(300000); (void)!write(g[1], "x", 1); _exit(0); }
    awq_claim_opts w = {.waiting = count_wait};
    n_waits = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(awq_claims_take(&c, &f, 1, &w) == AWQ_OK, "taken once released: %s", awq_errmsg());
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(waited > 0.2 && n_waits == 1, "waited %.2f s, told %d times", waited, n_waits);
    awq_claims_release(c);
    int st;
    while (wait(&st) > 0) {}
}

/* Eight processes claim one file 5 times each; inside, each creates a marker with O_EXCL: a second
 * process inside at the same time would find it there. */
static void t_mutual_exclusion(void)
{
    const char *f = t_path("obj"), *inside = t_path("inside");
    fflush(NULL);
    for (int k = 0; k < 8; k++)
        if (fork() == 0) {
            int bad = 0;
            for (int i = 0; i < 5; i++) {
                awq_claims *c = NULL;
                if (awq_claims_take(&c, &f, 1, NULL) != AWQ_OK) _exit(3);
                int fd = open(inside, O_CREAT | O_EXCL | O_WRONLY, 0644);
                if (fd < 0) bad++;
                else close(fd);
                usleep(2000);
                unlink(inside);
                awq_claims_release(c);
            }
            _exit(bad ? 1 : 0);
        }
    int st, ok = 0, n = 0;
    while (wait(&st) > 0) { n++; ok += WIFEXITED(st) && WEXITSTATUS(st) == 0; }
    CHECK(n == 8 && ok == 8, "%d of %d processes never met another inside", ok, n);
}

static void t_dead_holder_taken_over(void)
{
    const char *f = t_path("obj");
    char *claim = awq_claim_path(f, NULL);
    int r[2], g[2];
    REQUIRE(pipe(r) == 0 && pipe(g) == 0, "pipes");
    pid_t pid = holder(f, r[1], g[0], 0); /* dies holding it, as kill -9 would leave it */
    char b;
    REQUIRE(read(r[0], &b, 1) == 1, "the holder took the claim");
    (void)!write(g[1], "x", 1);
    int st;
    waitpid(pid, &st, 0);
    REQUIRE(exists(claim), "the dead holder's claim is left");
    awq_claims *c = NULL;
    CHECK(awq_claims_take(&c, &f, 1, &no_wait) == AWQ_OK, "a dead pid's claim is taken over: %s", awq_errmsg());
    char *rec = t_read_file(claim, NULL), want[64];
    snprintf(want, sizeof want, "pid %ld\n", (long)getpid());
    CHECK(rec && strstr(rec, want), "now ours: %s", rec ? rec : "(none)");
    awq_claims_release(c);
    CHECK(t_run(NULL, 0, "[ -z \"$(ls -A '%s')\" ]", t_tmpdir()) == 0, "nothing left (the stale claim was removed)");
    free(rec);
    free(claim);
}

/* Write a claim record by hand, with mtime `age` seconds ago. */
static void plant(const char *claim, const char *host, long pid, const char *start, double age)
{
    char rec[512];
    int n = snprintf(rec, sizeof rec, "host %s\npid %ld\nstart %s\nsince 0\n", host, pid, start);
    t_write_file(claim, rec, (size_t)n);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= (time_t)age;
    ts[1] = ts[0];
    utimensat(AT_FDCWD, claim, ts, 0);
}

static void t_reused_pid_taken_over(void)
{
    const char *f = t_path("obj");
    char *claim = awq_claim_path(f, NULL), host[256];
    gethostname(host, sizeof host);
    /* our parent is alive, but it is not the process that made this claim: another start time */
    plant(claim, host, (long)getppid(), "not-this-boot 1", 0);
    awq_claims *c = NULL;
    CHECK(awq_claims_take(&c, &f, 1, &no_wait) == AWQ_OK, "a reused pid's claim is taken over: %s", awq_errmsg());
    awq_claims_release(c);
    free(claim);
}

static void t_other_host_lease(void)
{
    const char *f = t_path("obj");
    char *claim = awq_claim_path(f, NULL);
    awq_claims *c = NULL;
    awq_claim_opts o = {.lease_s = 60, .no_wait = 1};
    plant(claim, "some-other-host.example", 1, "x 1", 5); /* renewed 5 s ago: alive */
    CHECK(awq_claims_take(&c, &f, 1, &o) == AWQ_ERR_EXISTS, "another host's fresh claim is respected");
    awq_clear_error();
    plant(claim, "some-other-host.example", 1, "x 1", 120); /* not renewed for 2 minutes: gone */
    CHECK(awq_claims_take(&c, &f, 1, &o) == AWQ_OK, "an expired lease is taken over: %s", awq_errmsg());
    awq_claims_release(c);
    /* the lease comes from $AWQ_CLAIM_LEASE when the caller gives none */
    setenv("AWQ_CLAIM_LEASE", "2", 1);
    CHECK(awq_claim_lease() == 2, "lease %g", awq_claim_lease());
    plant(claim, "some-other-host.example", 1, "x 1", 5);
    CHECK(awq_claims_take(&c, &f, 1, &no_wait) == AWQ_OK, "expired under a 2 s lease: %s", awq_errmsg());
    awq_claims_release(c);
    unsetenv("AWQ_CLAIM_LEASE");
    CHECK(awq_claim_lease() == AWQ_CLAIM_LEASE_S, "default lease %g", awq_claim_lease());
    free(claim);
}

static void t_renew_and_release_only_ours(void)
{
    const char *f = t_path("obj");
    char *claim = awq_claim_path(f, NULL);
    awq_claims *c = NULL;
    REQUIRE(awq_claims_take(&c, &f, 1, &no_wait) == AWQ_OK, "take: %s", awq_errmsg());
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    utimensat(AT_FDCWD, claim, old, 0);
    struct stat st;
    CHECK(awq_claims_renew(c) == AWQ_OK && stat(claim, &st) == 0 && st.st_mtime > time(NULL) - 10, "renewed");
    /* taken over by someone else (we were judged gone): renew says so, release leaves theirs */
    plant(claim, "some-other-host.example", 1, "x 1", 0);
    awq_claims_release(c);
    CHECK(exists(claim), "another's claim is not released by us");
    unlink(claim);
    REQUIRE(awq_claims_take(&c, &f, 1, &no_wait) == AWQ_OK, "take: %s", awq_errmsg());
    unlink(claim);
    CHECK(awq_claims_renew(c) == AWQ_ERR_NOTFOUND, "a lost claim is reported: %s", awq_errmsg());
    awq_clear_error();
    awq_claims_release(c);
    free(claim);
}

static void t_several_and_dirs(void)
{
    /* two files whose directories do not exist yet (a new fan-out directory of the store), one
     * named twice; and the claims of output files in a directory of their own */
    const char *files[3] = {t_path("ab/x"), t_path("cd/y"), t_path("ab/x")};
    awq_claims *c = NULL;
    REQUIRE(awq_claims_take(&c, files, 3, &no_wait) == AWQ_OK, "take: %s", awq_errmsg());
    CHECK(exists(t_path("ab/.tmp-claim-x")) && exists(t_path("cd/.tmp-claim-y")), "both claimed");
    awq_claims_release(c);
    CHECK(!exists(t_path("ab/.tmp-claim-x")) && !exists(t_path("cd/.tmp-claim-y")), "both released");
    const char *out = t_path("out/shards/0-k.safetensors");
    awq_claim_opts o = {.no_wait = 1, .dir = t_path("work/claims")};
    REQUIRE(awq_claims_take(&c, &out, 1, &o) == AWQ_OK, "take in a directory: %s", awq_errmsg());
    CHECK(exists(t_path("work/claims/.tmp-claim-0-k.safetensors")) && !exists(t_path("out")), "claimed in work/claims");
    awq_claims_release(c);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"take_release", t_take_release},
        {"live_holder_makes_wait", t_live_holder_makes_wait},
        {"mutual_exclusion", t_mutual_exclusion},
        {"dead_holder_taken_over", t_dead_holder_taken_over},
        {"reused_pid_taken_over", t_reused_pid_taken_over},
        {"other_host_lease", t_other_host_lease},
        {"renew_and_release_only_ours", t_renew_and_release_only_ours},
        {"several_and_dirs", t_several_and_dirs},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
