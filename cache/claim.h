/* claim.h - one computation per object: a claim file beside each file a step makes, held while
 * the step computes it, so that a second make (on the same OUT, on another experiment sharing
 * objects through the store, or on another host sharing the store over NFS) waits for it instead
 * of computing the same object again.
 *
 * The claim of DIR/NAME is DIR/.tmp-claim-NAME (a temp name: store walks skip it, gc removes one
 * left unrenewed for an hour), or CLAIMS/.tmp-claim-NAME where the caller names a directory for
 * them (the files of an output, whose directory should hold nothing else). It holds one record, "host H / pid P / start S / since T", and is
 * created atomically: the record is written to a file named per host, pid and a random number, then
 * link(2)ed to the claim name, which fails when the claim exists (on NFS a lost reply is told by
 * the link count). Nothing relies on flock, which NFS does not give across hosts.
 * A claim is taken over when its holder is gone:
 *   - same host: the process is dead, or the pid now belongs to another process (its start time
 *     differs), or the machine was rebooted since (boot id);
 *   - another host: the claim's mtime, which the holder renews every lease/4, is older than the
 *     lease (compared with the mtime of a file this process just touched, so both times come from
 *     the file server's clock, not the hosts').
 * A takeover renames the claim aside under a unique name and removes it only if it is the record
 * that was judged dead (else it links it back), so two processes judging the same dead claim at
 * once cannot both remove a fresh claim.
 * Claims save work; they are not needed for correctness: objects are content-addressed and linked
 * into place first-writer-wins, so a rare double computation (a host paused longer than the lease)
 * gives the same bytes. */
#ifndef AWQ_CLAIM_H
#define AWQ_CLAIM_H

#include "../base/error.h"

#define AWQ_CLAIM_LEASE_S 60.0 /* default; $AWQ_CLAIM_LEASE (seconds) overrides it, the same everywhere */

typedef struct awq_claims awq_claims;

typedef struct awq_claim_opts {
    double lease_s;  /* <= 0: awq_claim_lease() */
    const char *dir; /* where the claims are made (created if needed); NULL: beside each file */
    int no_wait;     /* a live claim held by another process: AWQ_ERR_EXISTS instead of waiting */
    /* called once for each claim the caller waits for, with the claim's path and holder's record */
    void (*waiting)(void *ctx, const char *claim, const char *holder);
    void *ctx;
} awq_claim_opts;

/* Take the claims of files[0..n) (in sorted order, so two callers claiming overlapping sets cannot
 * deadlock), waiting while live processes hold them and taking over dead ones; the claims'
 * directories are created when missing. On error none is held (AWQ_ERR_EXISTS only with no_wait). */
awq_err awq_claims_take(awq_claims **out, const char *const *files, int n, const awq_claim_opts *o);
/* Refresh the claims' mtimes (call every lease/4 while holding them). AWQ_ERR_NOTFOUND when one
 * was taken over (this process was judged gone: paused longer than the lease). */
awq_err awq_claims_renew(awq_claims *c);
/* Remove the claims that are still this process's, and free c. NULL is a no-op. */
void awq_claims_release(awq_claims *c);

/* The claim file of `file`: DIR/.tmp-claim-NAME, or in `dir` when not NULL; caller frees; NULL when
 * out of memory. */
char *awq_claim_path(const char *file, const char *dir);
/* The lease in seconds: $AWQ_CLAIM_LEASE when set to a positive number, else AWQ_CLAIM_LEASE_S. */
double awq_claim_lease(void);

#endif
