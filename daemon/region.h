/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A guest-RAM region the daemon holds for a lease (design.md, "Pre-pinned memory"): a mempool
 * region, filled by a thread of its own so that the event loop keeps serving while gigabytes are
 * zeroed, cancellable between chunks, and reporting how far it got. No sd-bus: the manager
 * decides what to allocate and the bus glue shows it. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "mempool.h"

typedef enum RegionState {
        REGION_FILLING,
        REGION_READY,
        REGION_FAILED, /* Region.error says why; its pages went back to the pool */
        _REGION_STATE_MAX,
} RegionState;

#define REGION_NO_IOVA UINT64_MAX

typedef struct Region Region;

/* Called on the event loop: while the region fills (at most every REGION_PROGRESS_USEC), and once
 * when it is done (r->state READY or FAILED; r->result the fill's). Once done it may set the state
 * to FAILED itself; a failed region's pages go back to the pool when it returns (Populated keeps
 * how far the fill got). A cancelled fill (region_free()) is not reported. */
typedef void (*RegionChangeFn)(Region *r, bool done, void *userdata);

struct Region {
        uint64_t id;
        uint64_t lease_id; /* regions die with their lease */
        uint32_t uid;      /* charged to (the lease's holder) */
        MemRegion *mem;
        RegionState state;
        char *error;           /* FAILED: why, naming the pool */
        uint64_t iova;         /* where the lease's container should map it once filled, or
                          * REGION_NO_IOVA */
        bool mapped;           /* it is: the daemon's mapping of the memfd below */
        void *vaddr;           /* the daemon's own mapping, while mapped */
        uint64_t started_usec; /* CLOCK_MONOTONIC, for the log */

        /* The fill: */
        pthread_t thread;
        bool thread_running;
        atomic_bool cancel;
        atomic_bool finished;       /* the thread has set result and will only return */
        _Atomic uint64_t populated; /* bytes, as the thread last said */
        int result;                 /* the thread's: 0 filled, -ECANCELED, or the fill's errno */
        int notify_fd;              /* eventfd: the thread -> the loop */
        sd_event_source *notify;
        uint64_t last_report_usec;
        RegionChangeFn on_change;
        void *userdata;
};

/* How often the loop is told of progress at most (each chunk wakes it; the bus is told less). */
#define REGION_PROGRESS_USEC (200 * 1000)

const char *region_state_to_string(RegionState s);

/* A region of the lease's: made (empty) by the caller with mem_region_new(), now owned here.
 * Starts filling it on a thread of its own; on_change runs on e's loop. */
int region_new(sd_event *e, MemRegion *mem, uint64_t id, uint64_t lease_id, uint32_t uid,
               RegionChangeFn on_change, void *userdata, Region **ret);
/* Stops the fill at the next chunk and waits for it (at most one chunk), gives back the pages of
 * a region that never became ready, and drops the daemon's fd and mapping. Whoever took a copy
 * of a ready region's fd keeps its memory. */
Region *region_free(Region *r);

uint64_t region_populated(const Region *r);
uint64_t region_size(const Region *r);
