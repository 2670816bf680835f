/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include "macro.h"
#include "parallel.h"

#define PARALLEL_THREADS_MAX 4

typedef struct ParallelRun {
        size_t n, chunk;
        size_t next; /* the first index nobody has taken; atomic */
        ParallelFn fn;
        void *userdata;
} ParallelRun;

unsigned parallel_threads_default(void) {
        cpu_set_t set;
        int n;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return 1;
        n = CPU_COUNT(&set);
        return n < 1 ? 1 : MIN((unsigned) n, PARALLEL_THREADS_MAX);
}

static void run_chunks(ParallelRun *r) {
        for (;;) {
                size_t i = __atomic_fetch_add(&r->next, r->chunk, __ATOMIC_RELAXED);
                size_t end;

                if (i >= r->n)
                        return;
                end = MIN(i + r->chunk, r->n);
                for (; i < end; i++)
                        r->fn(r->userdata, i);
        }
}

static void *thread_main(void *p) {
        /* A table of descriptors of its own: the readers open and close hundreds of thousands
         * of files, and in a shared table every open and close takes the table's lock and every
         * use of a descriptor a reference on its file (fdget(): only a table used by one task
         * skips that). The copy holds what the process had open; the thread's readers close what
         * they open. Without it (a filter refusing unshare) the table is shared, as before. */
        (void) unshare(CLONE_FILES);
        run_chunks(p);
        return NULL;
}

unsigned parallel_for(size_t n, unsigned n_threads, ParallelFn fn, void *userdata) {
        ParallelRun r = { .n = n, .fn = fn, .userdata = userdata };
        pthread_t threads[PARALLEL_THREADS_MAX - 1];
        unsigned started = 0;
        sigset_t all, saved;

        if (n_threads == 0)
                n_threads = parallel_threads_default();
        n_threads = MIN(n_threads, PARALLEL_THREADS_MAX);
        if ((size_t) n_threads > n)
                n_threads = n > 0 ? (unsigned) n : 1;
        /* Chunks small enough that a thread the scheduler leaves waiting does not hold up the
         * end, large enough that taking one costs nothing next to the work in it. */
        r.chunk = MAX((size_t) 1, MIN(n / ((size_t) n_threads * 16), (size_t) 64));

        if (n_threads > 1) {
                /* Signals stay with the thread that handles them (the daemon's signalfd). */
                sigfillset(&all);
                pthread_sigmask(SIG_SETMASK, &all, &saved);
                for (unsigned i = 0; i + 1 < n_threads; i++) {
                        if (pthread_create(&threads[started], NULL, thread_main, &r) != 0)
                                break;
                        started++;
                }
                pthread_sigmask(SIG_SETMASK, &saved, NULL);
        }
        run_chunks(&r);
        for (unsigned i = 0; i < started; i++)
                pthread_join(threads[i], NULL);
        return started + 1;
}
