/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "job.h"
#include "util.h"
#include "worker.h"

struct JobQueue {
        Job *jobs;   /* in the order they were queued */
        int eventfd; /* a job thread finished */
        sd_event_source *source;
        JobChangeFn on_change;
        void *userdata;
        bool stopping; /* job_queue_free(): nothing new starts */
};

static const char *const kind_table[_JOB_KIND_MAX] = {
        [JOB_CLAIM] = "claim",         [JOB_PREPARE] = "prepare", [JOB_RELEASE] = "release",
        [JOB_UNPREPARE] = "unprepare", [JOB_ENFORCE] = "enforce", [JOB_RETRY] = "retry",
        [JOB_GRANT] = "grant",
};

const char *job_kind_to_string(JobKind k) {
        return (size_t) k < _JOB_KIND_MAX ? kind_table[k] : NULL;
}

static void *job_thread(void *p) {
        Job *j = p;
        uint64_t one = 1;

        daemon_lock();
        blocking_enable();
        j->run(j);
        j->finished = true;
        /* Still under the lock: the loop sees finished only after the write. */
        (void) !write(j->queue->eventfd, &one, sizeof(one));
        daemon_unlock();
        return NULL;
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
        int k = pthread_create(&j->thread, NULL, job_thread, j);

        if (k != 0)
                return -k;
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

static void finish(JobQueue *q, Job *j) {
        uint32_t group = j->group;

        /* The thread let go of the lock as its last act; joining waits for no more than that. */
        daemon_unlock();
        pthread_join(j->thread, NULL);
        daemon_lock();
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
        q->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->eventfd < 0) {
                k = negative_errno();
                free(q);
                return k;
        }
        k = sd_event_add_io(e, &q->source, q->eventfd, EPOLLIN, on_job_finished, q);
        if (k < 0) {
                safe_close(q->eventfd);
                free(q);
                return k;
        }
        *ret = q;
        return 0;
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
        while (q->jobs)
                finish(q, q->jobs);
        sd_event_source_disable_unref(q->source);
        safe_close(q->eventfd);
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

bool job_queue_has(const JobQueue *q, uint32_t group) {
        for (const Job *j = q ? q->jobs : NULL; j; j = j->next)
                if (j->group == group)
                        return true;
        return false;
}
