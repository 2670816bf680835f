/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The daemon's threads and the one lock they share.
 *
 * The event loop and the group jobs (job.c) run the daemon's code under one lock, the daemon
 * lock: the loop holds it except while it waits for events, a job thread holds it except while
 * it waits for the kernel (a sysfs write, a sleep, a slow ioctl), inside blocking_begin() ...
 * blocking_end(). So every structure (the model, the lease set, the bus objects) is touched by
 * one thread at a time, and a job that waits for a hung probe stops nobody else. Between
 * blocking_begin() and blocking_end() a job must not touch shared data or keep pointers into the
 * model across them: a uevent may have changed it. */

void daemon_lock(void);
void daemon_unlock(void);

/* Called by a job thread: from now on blocking sections of this thread let go of the daemon
 * lock. Threads that never call it (the event loop) keep the lock through their blocking calls:
 * the loop's callers expect nothing to change under them. */
void blocking_enable(void);

void blocking_begin(void);
void blocking_end(void);
/* Sleeps usec in a blocking section (polling the kernel for what it does in its own time). */
void blocking_sleep(uint64_t usec);

/* Writes value to path relative to dirfd in one of a few long-lived writer threads, waiting at
 * most timeout_usec (in a blocking section). A writer whose write outlives its timeout is left to
 * the kernel and replaced; -ETIMEDOUT then, and the write may still complete later. */
int worker_write(int dirfd, const char *path, const char *value, uint64_t timeout_usec);

typedef struct WorkerWrite {
        const char *path; /* relative to dirfd */
        const char *value;
        bool enoent_ok; /* -ENOENT counts as done: what the write would end went away by itself */
} WorkerWrite;

/* The writes in order, in one writer thread, stopping at the first that fails. Each write may
 * take timeout_usec; one that takes longer is left to the kernel as above, and the ones after it
 * are never made, even when it completes later. On failure *ret_failed (may be NULL) is the index
 * of the write that failed or timed out. */
int worker_write_chain(int dirfd, const WorkerWrite *writes, size_t n, uint64_t timeout_usec,
                       size_t *ret_failed);

/* Writer threads now alive and now stuck in a write whose caller gave up (for tests). */
void worker_stats(unsigned *ret_threads, unsigned *ret_stuck);
