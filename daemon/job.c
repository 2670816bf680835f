/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "job.h"
#include "util.h"
#include "worker.h"

/* Idle job threads kept for the next jobs: a claim, its release and the checks after uevents
 * would otherwise each create a thread and free its stack again. More threads than this exist
 * only while that many jobs of different groups run at once (hung probes). */
#define JOB_THREADS_IDLE_MAX 4

struct JobQueue {
        Job *jobs;   /* in the order they were queued */
        int eventfd; /* a job thread finished */
        sd_event_source *source;
        JobChangeFn on_change;
        void *userdata;
        bool stopping; /* job_queue_free(): nothing new starts */

        /* The threads, under lock (taken inside the daemon lock, never around it): */
        pthread_mutex_t lock;
        pthread_cond_t work;     /* a job was handed over, or the threads are to end */
        pthread_cond_t gone;     /* a thread ended */
        Job *ready, *ready_tail; /* started, not yet taken by a thread */
        unsigned n_ready, n_threads, n_idle;
        bool ending;
};

static const char *const kind_table[_JOB_KIND_MAX] = {
        [JOB_CLAIM] = "claim",         [JOB_PREPARE] = "prepare", [JOB_RELEASE] = "release",
        [JOB_UNPREPARE] = "unprepare", [JOB_ENFORCE] = "enforce", [JOB_RETRY] = "retry",
        [JOB_GRANT] = "grant",         [JOB_SRIOV] = "sriov",
};

const char *job_kind_to_string(JobKind k) {
        return (size_t) k < _JOB_KIND_MAX ? kind_table[k] : NULL;
}

static void run_job(Job *j) {
        uint64_t one = 1;

        daemon_lock();
        j->run(j);
        j->finished = true;
        /* Still under the lock: the loop sees finished only after the write, and frees j only
         * after we let go of the lock; j is not touched after that. */
        (void) !write(j->queue->eventfd, &one, sizeof(one));
        daemon_unlock();
}

static void *job_thread(void *p) {
        JobQueue *q = p;

        blocking_enable();
        pthread_mutex_lock(&q->lock);
        for (;;) {
                Job *j;

                while (!q->ready && !q->ending) {
                        if (q->n_idle >= JOB_THREADS_IDLE_MAX)
                                goto end;
                        q->n_idle++;
                        pthread_cond_wait(&q->work, &q->lock);
                        q->n_idle--;
                }
                if (!q->ready)
                        break;
                j = q->ready;
                q->ready = j->ready_next;
                if (!q->ready)
                        q->ready_tail = NULL;
                q->n_ready--;
                pthread_mutex_unlock(&q->lock);

                run_job(j);

                pthread_mutex_lock(&q->lock);
        }
end:
        q->n_threads--;
        pthread_cond_broadcast(&q->gone);
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

/* Hands j to an idle thread, or to a new one. */
static int hand_over(JobQueue *q, Job *j) {
        int k = 0;

        pthread_mutex_lock(&q->lock);
        j->ready_next = NULL;
        if (q->ready_tail)
                q->ready_tail->ready_next = j;
        else
                q->ready = j;
        q->ready_tail = j;
        q->n_ready++;
        /* Each job handed over needs a thread of its own: an idle one that another hand-over
         * already woke is taken. */
        if (q->n_ready <= q->n_idle)
                pthread_cond_signal(&q->work);
        else {
                pthread_attr_t attr;
                pthread_t thread;

                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                k = -pthread_create(&thread, &attr, job_thread, q);
                pthread_attr_destroy(&attr);
                if (k == 0)
                        q->n_threads++;
                else {
                        /* Taken back: the ready list ends with j. */
                        Job **p = &q->ready;

                        while (*p != j)
                                p = &(*p)->ready_next;
                        *p = NULL;
                        q->ready_tail = NULL;
                        for (Job *i = q->ready; i; i = i->ready_next)
                                q->ready_tail = i;
                        q->n_ready--;
                }
        }
        pthread_mutex_unlock(&q->lock);
        return k;
}

static Job *running_job(const JobQueue *q, uint32_t group) {
        for (Job *j = q->jobs; j; j = j->next)
                if (j->group == group && j->running)
                        return j;
        return NULL;
}

static void unlink_job(JobQueue *q, Job *j) {
        for (Job **p = &q->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

static int start(JobQueue *q, Job *j) {
        int k = hand_over(q, j);

        if (k < 0)
                return k;
        j->running = true;
        if (q->on_change)
                q->on_change(q->userdata, j->group);
        return 0;
}

/* Starts the first queued job of group unless one runs. */
static void start_next(JobQueue *q, uint32_t group) {
        for (;;) {
                Job *j = NULL;

                if (running_job(q, group))
                        return;
                for (Job *i = q->jobs; i && !j; i = i->next)
                        if (i->group == group)
                                j = i;
                if (!j || start(q, j) >= 0)
                        return;
                /* No thread for it: it ends as if the daemon were stopping. */
                unlink_job(q, j);
                j->cancelled = true;
                j->done(j);
                free(j);
        }
}

/* With the daemon lock held, j finished. */
static void finish(JobQueue *q, Job *j) {
        uint32_t group = j->group;

        unlink_job(q, j);
        j->done(j);
        free(j);
        if (q->on_change)
                q->on_change(q->userdata, group);
        start_next(q, group);
}

static int on_job_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        JobQueue *q = userdata;
        uint64_t n;
        Job *j;

        (void) !read(fd, &n, sizeof(n));
        /* done() may queue new jobs: look again from the start after each one. */
        do {
                for (j = q->jobs; j && !j->finished; j = j->next)
                        ;
                if (j)
                        finish(q, j);
        } while (j);
        return 0;
}

int job_queue_new(sd_event *e, JobChangeFn on_change, void *userdata, JobQueue **ret) {
        JobQueue *q = calloc(1, sizeof(*q));
        int k;

        if (!q)
                return -ENOMEM;
        q->on_change = on_change;
        q->userdata = userdata;
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->work, NULL);
        pthread_cond_init(&q->gone, NULL);
        q->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->eventfd < 0) {
                k = negative_errno();
                goto fail;
        }
        k = sd_event_add_io(e, &q->source, q->eventfd, EPOLLIN, on_job_finished, q);
        if (k < 0)
                goto fail;
        /* After the uevents at the same wake-up: those a job's own writes caused are in the model
         * when its done() looks at it. */
        k = sd_event_source_set_priority(q->source, SD_EVENT_PRIORITY_NORMAL + 1);
        if (k < 0)
                goto fail;
        *ret = q;
        return 0;
fail:
        sd_event_source_disable_unref(q->source);
        safe_close(q->eventfd);
        pthread_cond_destroy(&q->gone);
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return k;
}

/* With the daemon lock held: waits, letting go of it, until a running job finishes. */
static void wait_finished(JobQueue *q) {
        struct pollfd p = { .fd = q->eventfd, .events = POLLIN };
        uint64_t n;

        /* A job sets finished and writes the eventfd under the daemon lock, so one that finishes
         * after our look wakes this poll. */
        daemon_unlock();
        (void) poll(&p, 1, -1);
        daemon_lock();
        (void) !read(q->eventfd, &n, sizeof(n));
}

JobQueue *job_queue_free(JobQueue *q) {
        if (!q)
                return NULL;
        /* No new job starts: the queued ones are cancelled first, then the running ones end. */
        q->on_change = NULL;
        q->stopping = true;
        for (Job **p = &q->jobs; *p;) {
                Job *j = *p;

                if (j->running) {
                        p = &j->next;
                        continue;
                }
                *p = j->next;
                j->cancelled = true;
                j->done(j);
                free(j);
        }
        while (q->jobs) {
                if (q->jobs->finished)
                        finish(q, q->jobs);
                else
                        wait_finished(q);
        }
        /* The idle threads end; none is running a job now. */
        pthread_mutex_lock(&q->lock);
        q->ending = true;
        pthread_cond_broadcast(&q->work);
        while (q->n_threads > 0)
                pthread_cond_wait(&q->gone, &q->lock);
        pthread_mutex_unlock(&q->lock);
        sd_event_source_disable_unref(q->source);
        safe_close(q->eventfd);
        pthread_cond_destroy(&q->gone);
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return NULL;
}

int job_enqueue(JobQueue *q, JobKind kind, uint32_t group, JobFn run, JobFn done, void *data) {
        Job *j, **p;

        if (q->stopping)
                return -ESHUTDOWN;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (Job) {
                .kind = kind, .group = group, .data = data, .run = run, .done = done, .queue = q
        };
        if (!running_job(q, group)) {
                int k = start(q, j);

                if (k < 0) {
                        free(j);
                        return k;
                }
        }
        for (p = &q->jobs; *p; p = &(*p)->next)
                ;
        *p = j;
        return 0;
}

const char *job_queue_running(const JobQueue *q, uint32_t group) {
        const Job *j = q ? running_job(q, group) : NULL;

        return j ? job_kind_to_string(j->kind) : NULL;
}

bool job_queue_is_running(const JobQueue *q, uint32_t group, JobKind kind) {
        const Job *j = q ? running_job(q, group) : NULL;

        return j && j->kind == kind;
}

bool job_queue_has(const JobQueue *q, uint32_t group) {
        for (const Job *j = q ? q->jobs : NULL; j; j = j->next)
                if (j->group == group)
                        return true;
        return false;
}
