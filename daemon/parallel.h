/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Work on one item of a parallel_for(): called at the same time for distinct i, so it may touch
 * only what belongs to item i. */
typedef void (*ParallelFn)(void *userdata, size_t i);

/* How many threads a scan may use: the CPUs this process may run on, at most 4 (sysfs reads
 * scale no further and the daemon should not crowd the host). */
unsigned parallel_threads_default(void);

/* Calls fn(userdata, i) for every i in [0, n) on up to n_threads threads, the caller's among
 * them, each taking the next chunk of indexes when it is free; returns when every call has
 * returned. n_threads 0 means parallel_threads_default(), 1 runs everything in the caller's
 * thread. It cannot fail: when a thread cannot be started the others do its share. The
 * threads block every signal. Each started thread works on a copy of the descriptor table
 * (unshare(CLONE_FILES)): fn must close what it opens, and a descriptor that another thread
 * closes while the run lasts keeps its file open until the run ends. The daemon's one full scan
 * runs at start, before any job holds a file whose release matters (a VFIO group). Returns the
 * number of threads that ran. */
unsigned parallel_for(size_t n, unsigned n_threads, ParallelFn fn, void *userdata);
