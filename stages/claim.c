/* claim.c - awq-claim: run a program while holding the claims of the files it makes
 * (cache/claim.h), so that no two processes - of one make, of two makes on one OUT, of two
 * experiments sharing objects, of two hosts sharing the store - compute the same file at once.
 * awq-step runs every plan step through it. The claims are renewed on a thread while the program
 * runs (other hosts judge a claim by its mtime) and released when it ends, however it ends short
 * of a kill -9 (then the dead pid, or the lease, frees them). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cache/claim.h"
#include "common/log.h"
#include "common/opts.h"

static volatile sig_atomic_t child_pid, got_signal;

/* make's interrupt reaches the whole process group; a signal sent to us alone is passed on, and
 * we wait for the program so that its claims are released after it, not before */
static void on_signal(int sig)
{
    got_signal = sig;
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

typedef struct renewer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    double every_s;
    awq_claims *claims;
} renewer;

static void *renew_main(void *arg)
{
    renewer *r = arg;
    int warned = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        double s = (double)t.tv_nsec * 1e-9 + r->every_s;
        t.tv_sec += (time_t)s;
        t.tv_nsec = (long)((s - (double)(time_t)s) * 1e9);
        if (pthread_cond_timedwait(&r->cv, &r->mu, &t) == ETIMEDOUT && !r->stop &&
            awq_claims_renew(r->claims) != AWQ_OK && !warned++)
            awq_warn("%s", awq_errmsg()); /* the work goes on: a claim saves work, it is not needed for correctness */
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void waiting(void *ctx, const char *claim, const char *holder)
{
    (void)ctx;
    char who[512];
    size_t n = 0;
    for (const char *c = holder; *c && n + 3 < sizeof who; c++) /* the record's lines, on one line */
        if (*c != '\n') who[n++] = *c;
        else if (c[1]) { who[n++] = ','; who[n++] = ' '; }
    who[n] = 0;
    awq_info("waiting for '%s' (held by %s)", claim, who);
}

/* Does `file` exist (and, with `newer`, have a later mtime than it)? */
static int present(const char *file, const char *newer)
{
    struct stat ref, st;
    if (stat(file, &st) != 0) return 0;
    if (!newer) return 1;
    return stat(newer, &ref) == 0 && (st.st_mtim.tv_sec > ref.st_mtim.tv_sec ||
                                      (st.st_mtim.tv_sec == ref.st_mtim.tv_sec && st.st_mtim.tv_nsec > ref.st_mtim.tv_nsec));
}

/* Keep the files not present yet, in order; their count. */
static int missing(char **files, int n, const char *newer)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!present(files[i], newer)) files[m++] = files[i];
    return m;
}

/* Run argv as a child while the renewer keeps the claims; its exit status (128 + signal when killed). */
static int run(char **argv, awq_claims *claims, double lease)
{
    renewer r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, lease / 4, claims};
    pthread_t th;
    int have_thread = pthread_create(&th, NULL, renew_main, &r) == 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "awq-claim: error: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0, rc;
    if (pid < 0) {
        awq_fail_errno(errno, "cannot start '%s'", argv[0]);
        awq_report("awq-claim");
        rc = 1;
    } else {
        child_pid = pid;
        if (got_signal) kill(pid, got_signal); /* one that came before the child existed */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        child_pid = 0;
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
    }
    if (have_thread) {
        pthread_mutex_lock(&r.mu);
        r.stop = 1;
        pthread_cond_signal(&r.cv);
        pthread_mutex_unlock(&r.mu);
        pthread_join(th, NULL);
    }
    return rc;
}

int main(int argc, char **argv)
{
    double lease = awq_claim_lease();
    int skip = -1;
    const char *newer = NULL, *dir = NULL;
    const awq_opt opts[] = {
        {"lease", 0, AWQ_OPT_DOUBLE, &lease, "S", "seconds after which another host's unrenewed claim is taken over "
         "($AWQ_CLAIM_LEASE, the same on every host)", 0},
        {"in", 0, AWQ_OPT_STRING, &dir, "DIR", "make the claims in DIR (created if needed), not beside each FILE", 0},
        {"skip-present", 0, AWQ_OPT_INT, &skip, "STATUS", "claim only the FILEs not there yet; when every FILE exists once "
         "claimed, do not run PROGRAM and exit with STATUS", 0},
        {"newer-than", 0, AWQ_OPT_STRING, &newer, "REF", "with --skip-present: FILE counts as present only when newer than REF", 0},
        {0},
    };
    awq_cli cli = {"awq-claim", "run PROGRAM holding the claims of the FILEs it makes: one computation per file",
                   "FILE... -- PROGRAM [ARGS...]",
                   "Waits while another process (on this host or another sharing the directory) holds the claim of a\n"
                   "FILE (DIR/.tmp-claim-NAME); takes over the claim of a dead process, or of another host's that was\n"
                   "not renewed for the lease. Exit status: PROGRAM's (128 + signal when it was killed).", 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    int n_files = 0;
    while (n_files < cli.n_positional && strcmp(cli.positional[n_files], "--") != 0) n_files++;
    if (n_files == 0 || n_files + 1 >= cli.n_positional || !(lease > 0)) {
        fprintf(stderr, "%s: give FILE... -- PROGRAM [ARGS...]%s\ntry '%s --help'\n", cli.prog,
                lease > 0 ? "" : " and a positive --lease", cli.prog);
        return 2;
    }
    char **files = cli.positional, **prog = cli.positional + n_files + 1;

    /* With --skip-present a file that is there needs no claim: it is made, nobody computes it (two
     * clip-only reruns sharing a block's scales do not wait for each other) */
    if (skip >= 0 && (n_files = missing(files, n_files, newer)) == 0) return skip;
    /* (an interrupt while waiting simply ends us: nothing is held yet) */
    awq_claims *claims = NULL;
    awq_claim_opts co = {.lease_s = lease, .dir = dir, .waiting = waiting};
    if (awq_claims_take(&claims, (const char *const *)files, n_files, &co) != AWQ_OK) {
        awq_report(cli.prog);
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int s = 0, sigs[] = {SIGINT, SIGTERM, SIGHUP}; s < 3; s++) sigaction(sigs[s], &sa, NULL);
    if (skip >= 0 && missing(files, n_files, newer) == 0) rc = skip; /* made meanwhile */
    else rc = run(prog, claims, lease);
    awq_claims_release(claims);
    if (got_signal) { /* die of it, as the shell and make expect of an interrupted job */
        signal(got_signal, SIG_DFL);
        raise(got_signal);
    }
    return rc;
}
