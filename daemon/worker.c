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

void blocking_sleep(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / 1000000),
                               .tv_nsec = (long) (usec % 1000000) * 1000 };

        blocking_begin();
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        blocking_end();
}

/* A few writers are enough: writes are short unless a driver's probe or remove hangs, and each
 * group job hands over one chain of writes at a time. A writer stuck past its caller's timeout
 * no longer counts, so hung probes never starve the other groups' writes. */
#define WRITERS_MAX 4

/* How long a job waits for its writes with the daemon lock held. Each write of a claim makes a
 * uevent that wakes the event loop; were the lock free, the loop would read the device while the
 * writer writes the next one, and both would wait on each other (in the kernel, and for the CPU).
 * Most chains are done well within this; a longer one (a real driver's slow probe, a hang) is
 * waited for without the lock, so it stops nobody else for longer than this. */
#define HOLD_USEC (2 * 1000)

/* A chain of writes, made in order by one writer. Handing work to a writer and its result back
 * each wake a sleeping thread, and in a virtual machine a wake-up (an interrupt to an idle
 * virtual CPU) costs more than most writes of a claim (a driver_override, a quick driver's
 * unbind or probe: tens of microseconds); so what one step of a job writes in a row goes over
 * as one chain. */
typedef struct Write {
        struct Write *next;
        int dirfd;
        WorkerWrite *writes; /* copies */
        size_t n;
        bool started, done, abandoned;
        size_t current;         /* the write in progress, or where the chain stopped */
        uint64_t current_began; /* CLOCK_MONOTONIC µs */
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
        for (size_t i = 0; w->writes && i < w->n; i++) {
                free((char *) w->writes[i].path);
                free((char *) w->writes[i].value);
        }
        free(w->writes);
        free(w);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int write_one(int dirfd, const WorkerWrite *w) {
        _cleanup_close_ int fd = openat(dirfd, w->path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        size_t n = strlen(w->value);
        ssize_t k;

        if (fd < 0)
                k = negative_errno();
        else {
                k = write(fd, w->value, n);
                k = k < 0 ? negative_errno() : (size_t) k == n ? 0 : -EIO;
        }
        return k == -ENOENT && w->enoent_ok ? 0 : (int) k;
}

/* Called with pool_mutex held, returns with it held. Each write begins only while someone waits
 * for the chain: once its caller gave up on a write that hung, the rest is never made. */
static int write_chain(Write *w) {
        int k = 0;

        for (w->current = 0; w->current < w->n && !w->abandoned; w->current++) {
                w->current_began = now_usec();
                pthread_mutex_unlock(&pool_mutex);
                k = write_one(w->dirfd, &w->writes[w->current]);
                pthread_mutex_lock(&pool_mutex);
                if (k < 0)
                        break;
        }
        return k;
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

                k = write_chain(w);

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

static void deadline_after(uint64_t from_usec, uint64_t usec, struct timespec *ret) {
        uint64_t t = from_usec + usec;

        ret->tv_sec = (time_t) (t / 1000000);
        ret->tv_nsec = (long) (t % 1000000) * 1000;
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

static Write *write_new(int dirfd, const WorkerWrite *writes, size_t n) {
        Write *w = calloc(1, sizeof(*w));

        if (!w)
                return NULL;
        w->dirfd = -1;
        w->writes = calloc(n, sizeof(WorkerWrite));
        if (!w->writes)
                goto fail;
        w->n = n;
        /* Copies: a writer that outlives our wait still needs them, and the root may be closed. */
        w->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (w->dirfd < 0)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                w->writes[i].path = strdup(writes[i].path);
                w->writes[i].value = strdup(writes[i].value);
                w->writes[i].enoent_ok = writes[i].enoent_ok;
                if (!w->writes[i].path || !w->writes[i].value)
                        goto fail;
        }
        return w;
fail:
        write_free(w);
        return NULL;
}

int worker_write_chain(int dirfd, const WorkerWrite *writes, size_t n, uint64_t timeout_usec,
                       size_t *ret_failed) {
        struct timespec deadline;
        size_t failed = 0;
        bool holding = true;
        Write *w;
        int k;

        if (n == 0)
                return 0;
        pthread_once(&pool_once, pool_setup);
        w = write_new(dirfd, writes, n);
        if (!w)
                return -ENOMEM;
        deadline_after(now_usec(), timeout_usec, &deadline);

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

        /* A short chain is waited for with the daemon lock held (see HOLD_USEC); then the daemon
         * lock is let go before the pool's is taken again: the order is always daemon lock, then
         * pool lock. */
        pthread_mutex_lock(&pool_mutex);
        if (!w->done) {
                struct timespec hold;

                deadline_after(now_usec(), MIN(HOLD_USEC, timeout_usec), &hold);
                while (!w->done &&
                       pthread_cond_timedwait(&pool_done, &pool_mutex, &hold) != ETIMEDOUT)
                        ;
        }
        if (!w->done) {
                pthread_mutex_unlock(&pool_mutex);
                blocking_begin();
                holding = false;
                pthread_mutex_lock(&pool_mutex);
        }
        for (;;) {
                if (w->done) {
                        k = w->result;
                        failed = w->current;
                        write_free(w);
                        break;
                }
                if (pthread_cond_timedwait(&pool_done, &pool_mutex, &deadline) != ETIMEDOUT)
                        continue;
                if (w->done)
                        continue;
                if (!w->started) {
                        /* Never began (every writer was busy): nothing happened. */
                        unqueue(w);
                        write_free(w);
                        k = -ETIMEDOUT;
                        break;
                }
                if (now_usec() - w->current_began < timeout_usec) {
                        /* The chain moved on: the write now in progress has its own time. */
                        deadline_after(w->current_began, timeout_usec, &deadline);
                        continue;
                }
                /* Left to the kernel; its writer frees it and counts again when it returns. */
                w->abandoned = true;
                n_stuck++;
                failed = w->current;
                k = -ETIMEDOUT;
                break;
        }
        pthread_mutex_unlock(&pool_mutex);
        if (!holding)
                blocking_end();
        if (k < 0 && ret_failed)
                *ret_failed = failed;
        return k;
}

int worker_write(int dirfd, const char *path, const char *value, uint64_t timeout_usec) {
        return worker_write_chain(dirfd, &(WorkerWrite) { .path = path, .value = value }, 1,
                                  timeout_usec, NULL);
}

void worker_stats(unsigned *ret_threads, unsigned *ret_stuck) {
        pthread_mutex_lock(&pool_mutex);
        *ret_threads = n_threads;
        *ret_stuck = n_stuck;
        pthread_mutex_unlock(&pool_mutex);
}
