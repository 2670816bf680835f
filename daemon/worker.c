/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"
#include "worker.h"

static pthread_mutex_t daemon_mutex = PTHREAD_MUTEX_INITIALIZER;
static __thread bool blocking_enabled;

void daemon_lock(void) {
        pthread_mutex_lock(&daemon_mutex);
}

void daemon_unlock(void) {
        pthread_mutex_unlock(&daemon_mutex);
}

void blocking_enable(void) {
        blocking_enabled = true;
}

void blocking_begin(void) {
        if (blocking_enabled)
                daemon_unlock();
}

void blocking_end(void) {
        if (blocking_enabled)
                daemon_lock();
}

/* A few writers are enough: writes are short unless a driver's probe or remove hangs, and each
 * group job writes one member at a time. A writer stuck past its caller's timeout no longer
 * counts, so hung probes never starve the other groups' writes. */
#define WRITERS_MAX 4

typedef struct Write {
        struct Write *next;
        int dirfd;
        char *path;
        char *value;
        bool started, done, abandoned;
        int result;
} Write;

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done; /* CLOCK_MONOTONIC, set up once */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static Write *queue_head, *queue_tail;
static unsigned n_threads, n_idle, n_stuck, n_queued;

static void pool_setup(void) {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&pool_done, &ca);
        pthread_condattr_destroy(&ca);
}

static void write_free(Write *w) {
        safe_close(w->dirfd);
        free(w->path);
        free(w->value);
        free(w);
}

static int write_now(const Write *w) {
        _cleanup_close_ int fd = openat(w->dirfd, w->path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        size_t n = strlen(w->value);
        ssize_t k;

        if (fd < 0)
                return negative_errno();
        k = write(fd, w->value, n);
        if (k < 0)
                return negative_errno();
        return (size_t) k == n ? 0 : -EIO;
}

static void *writer_thread(void *p) {
        pthread_mutex_lock(&pool_mutex);
        for (;;) {
                Write *w;
                int k;

                while (!queue_head) {
                        /* Writers beyond the pool's size (replacements for stuck ones that came
                         * back) leave when there is nothing to do. */
                        if (n_threads - n_stuck > WRITERS_MAX) {
                                n_threads--;
                                pthread_mutex_unlock(&pool_mutex);
                                return NULL;
                        }
                        n_idle++;
                        pthread_cond_wait(&pool_work, &pool_mutex);
                        n_idle--;
                }
                w = queue_head;
                queue_head = w->next;
                if (!queue_head)
                        queue_tail = NULL;
                n_queued--;
                w->started = true;
                pthread_mutex_unlock(&pool_mutex);

                k = write_now(w);

                pthread_mutex_lock(&pool_mutex);
                if (w->abandoned) {
                        n_stuck--;
                        write_free(w);
                } else {
                        w->result = k;
                        w->done = true;
                        pthread_cond_broadcast(&pool_done);
                }
        }
}

/* With pool_mutex held. */
static int ensure_writer(void) {
        pthread_attr_t attr;
        pthread_t thread;
        int k;

        /* Each queued write needs a writer of its own: an idle one that another write already
         * woke may be about to hang in that one. */
        if (n_queued <= n_idle || n_threads - n_stuck >= WRITERS_MAX) {
                pthread_cond_signal(&pool_work);
                return 0;
        }
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        k = pthread_create(&thread, &attr, writer_thread, NULL);
        pthread_attr_destroy(&attr);
        if (k != 0)
                /* The writers there are will get to it; without any, nothing will. */
                return n_threads - n_stuck > 0 ? 0 : -k;
        n_threads++;
        return 0;
}

static void deadline_after(uint64_t usec, struct timespec *ret) {
        clock_gettime(CLOCK_MONOTONIC, ret);
        ret->tv_sec += (time_t) (usec / 1000000);
        ret->tv_nsec += (long) (usec % 1000000) * 1000;
        if (ret->tv_nsec >= 1000000000) {
                ret->tv_sec++;
                ret->tv_nsec -= 1000000000;
        }
}

static void unqueue(Write *w) {
        Write **p = &queue_head;

        queue_tail = NULL;
        while (*p) {
                if (*p == w) {
                        *p = w->next;
                        n_queued--;
                } else {
                        queue_tail = *p;
                        p = &(*p)->next;
                }
        }
}

int worker_write(int dirfd, const char *path, const char *value, uint64_t timeout_usec) {
        struct timespec deadline;
        Write *w;
        int k;

        pthread_once(&pool_once, pool_setup);
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        /* Copies: a writer that outlives our wait still needs them, and the root may be closed. */
        w->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        w->path = strdup(path);
        w->value = strdup(value);
        if (w->dirfd < 0 || !w->path || !w->value) {
                write_free(w);
                return -ENOMEM;
        }
        deadline_after(timeout_usec, &deadline);

        pthread_mutex_lock(&pool_mutex);
        if (queue_tail)
                queue_tail->next = w;
        else
                queue_head = w;
        queue_tail = w;
        n_queued++;
        k = ensure_writer();
        if (k < 0) {
                unqueue(w);
                pthread_mutex_unlock(&pool_mutex);
                write_free(w);
                return k;
        }
        pthread_mutex_unlock(&pool_mutex);

        /* The daemon lock is let go before the pool's is taken again: the order is always daemon
         * lock, then pool lock. */
        blocking_begin();
        pthread_mutex_lock(&pool_mutex);
        while (!w->done)
                if (pthread_cond_timedwait(&pool_done, &pool_mutex, &deadline) == ETIMEDOUT)
                        break;
        if (w->done) {
                k = w->result;
                write_free(w);
        } else if (!w->started) {
                /* Never began (every writer was busy): nothing happened. */
                unqueue(w);
                write_free(w);
                k = -ETIMEDOUT;
        } else {
                /* Left to the kernel; its writer frees it and counts again when it returns. */
                w->abandoned = true;
                n_stuck++;
                k = -ETIMEDOUT;
        }
        pthread_mutex_unlock(&pool_mutex);
        blocking_end();
        return k;
}

void worker_stats(unsigned *ret_threads, unsigned *ret_stuck) {
        pthread_mutex_lock(&pool_mutex);
        *ret_threads = n_threads;
        *ret_stuck = n_stuck;
        pthread_mutex_unlock(&pool_mutex);
}
