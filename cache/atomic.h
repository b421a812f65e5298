/* atomic.h - files that appear complete or not at all (temp file in the same directory,
 * fsync, then rename or link). Used by the store and by every writer of user-visible output.
 *
 *   awq_atomic f;
 *   if ((e = awq_atomic_open(&f, "out/model.safetensors")) != AWQ_OK) return e;
 *   ... awq_atomic_write(&f, buf, n) ...
 *   e = awq_atomic_commit(&f, AWQ_ATOMIC_REPLACE);   // or awq_atomic_abort(&f) on any error
 *
 * A crash at any moment leaves at most a ".tmp-*" file beside the target (gc removes old ones),
 * never a partial file under the final name. */
#ifndef AWQ_ATOMIC_H
#define AWQ_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

#include "../base/error.h"

typedef struct awq_atomic {
    char *final_path; /* owned */
    char *tmp_path;   /* owned */
    int fd;           /* -1 when closed */
    int no_flush;     /* set by writers that will commit with AWQ_ATOMIC_NOSYNC: no early writeback */
    unsigned long long written, flushed; /* bytes written; bytes whose writeback was started */
} awq_atomic;

typedef enum {
    AWQ_ATOMIC_REPLACE = 0,   /* rename over an existing file */
    AWQ_ATOMIC_NOREPLACE = 1, /* link(); if the target exists return AWQ_ERR_EXISTS and drop ours */
    /* or'ed in: no fsync of the file and its directory. Only for files whose every reader
     * verifies them (store objects: checksummed, and a damaged one is moved aside and rebuilt),
     * where a power cut can cost a recomputation but never a wrong result. */
    AWQ_ATOMIC_NOSYNC = 2
} awq_atomic_mode;

/* Create "<dir>/.tmp-<base>-<host>-<pid>-<random>" beside final_path (directory must exist). */
awq_err awq_atomic_open(awq_atomic *f, const char *final_path);
/* Write all bytes; ENOSPC gives AWQ_ERR_NOSPACE naming the final path. Every 64 MB the disk
 * writeback of what was written is started (Linux sync_file_range, not waited for), so the fsync
 * of commit does not find gigabytes still to write (a 4 GB checkpoint: the disk works while the
 * rest is written instead of after). */
awq_err awq_atomic_write(awq_atomic *f, const void *buf, size_t len);
/* fsync the file (unless AWQ_ATOMIC_NOSYNC), move it into place, fsync the directory. Frees f's resources in all cases;
 * on failure the temp file is removed. */
awq_err awq_atomic_commit(awq_atomic *f, awq_atomic_mode mode);
/* Remove the temp file and free f's resources. Safe to call twice and after commit. */
void awq_atomic_abort(awq_atomic *f);

/* Write a whole file atomically (open, write, commit with AWQ_ATOMIC_REPLACE; abort on error). */
awq_err awq_write_file_atomic(const char *path, const void *data, size_t len);

/* mkdir -p; AWQ_OK if it exists already. */
awq_err awq_mkdirs(const char *path);

#endif
