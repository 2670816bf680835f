/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"

/* Group jobs: every change of an IOMMU group (claim, prepare, release, unprepare, a member moved
 * back after a uevent, a stuck group retried, a grant) is a job queued on that group. Jobs of one
 * group run one after the other, in the order they were queued; jobs of different groups run at
 * the same time, each in a thread of its own under the daemon lock (worker.h), so a job that
 * waits for the kernel holds up nobody else. The threads are long-lived: one that finished a job
 * waits for the next. */

typedef enum JobKind {
        JOB_CLAIM,
        JOB_PREPARE,
        JOB_RELEASE,
        JOB_UNPREPARE,
        JOB_ENFORCE, /* after a uevent: a member back to vfio-pci, a new member, an arrival */
        JOB_RETRY,   /* a stuck group given back again */
        JOB_GRANT,
        JOB_SRIOV, /* a PF's VF count changed (on the PF's group) */
        _JOB_KIND_MAX,
} JobKind;

const char *job_kind_to_string(JobKind k);

typedef struct JobQueue JobQueue;
typedef struct Job Job;
typedef void (*JobFn)(Job *j);

struct Job {
        JobKind kind;
        uint32_t group;
        void *data;
        JobFn run;  /* in the job's thread, daemon lock held */
        JobFn done; /* in the event loop once run returned, or with cancelled set when the
                            * queue goes before the job ran; frees data */
        bool cancelled;

        /* The queue's: */
        JobQueue *queue;
        Job *next;
        bool running, finished;
        Job *ready_next; /* handed over, waiting for a thread */
};

/* on_change(userdata, group) runs in the event loop whenever the running job of a group starts
 * or ends (the group's Job property). */
typedef void (*JobChangeFn)(void *userdata, uint32_t group);

int job_queue_new(sd_event *e, JobChangeFn on_change, void *userdata, JobQueue **ret);
/* Waits for the running jobs (their done() runs) and cancels the queued ones. */
JobQueue *job_queue_free(JobQueue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(JobQueue *, job_queue_free);

/* Queues a job on group; it starts now if the group has none running. From then on data belongs
 * to the job (done() frees it); on failure it is still the caller's. done() never runs before
 * job_enqueue() returns: it runs in the event loop. */
int job_enqueue(JobQueue *q, JobKind kind, uint32_t group, JobFn run, JobFn done, void *data);

/* The kind of the job running on group, or NULL. */
const char *job_queue_running(const JobQueue *q, uint32_t group);
/* Whether the job running on group is of that kind. */
bool job_queue_is_running(const JobQueue *q, uint32_t group, JobKind kind);
/* Whether group has a job running or queued. */
bool job_queue_has(const JobQueue *q, uint32_t group);
