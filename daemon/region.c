/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "region.h"
#include "util.h"

/* One chunk of the fill: the granularity of cancelling and of progress. 64 MiB zero in about
 * 15 ms at the 4 GB/s a core clears pages (kernel commit 4d83de6da265); a 1 GiB page is a
 * chunk of its own. */
#define FILL_CHUNK (UINT64_C(64) << 20)

static const char *const state_names[_REGION_STATE_MAX] = {
        [REGION_FILLING] = "filling",
        [REGION_READY] = "ready",
        [REGION_FAILED] = "failed",
};

const char *region_state_to_string(RegionState s) {
        return s < _REGION_STATE_MAX ? state_names[s] : NULL;
}

static void tell_loop(Region *r) {
        uint64_t one = 1;

        /* An eventfd counter only fails to take a write when it would overflow. */
        (void) !write(r->notify_fd, &one, sizeof(one));
}

/* The fill's thread: touches only the MemRegion (which the loop leaves alone while it runs)
 * and the atomics. */
static void *fill_thread(void *p) {
        Region *r = p;
        int k = 0;

        while (k == 0) {
                if (atomic_load(&r->cancel)) {
                        k = -ECANCELED;
                        break;
                }
                k = mem_region_fill(r->mem, FILL_CHUNK);
                atomic_store(&r->populated, mem_region_populated(r->mem));
                tell_loop(r);
        }
        r->result = k < 0 ? k : 0;
        atomic_store(&r->finished, true);
        tell_loop(r);
        return NULL;
}

static bool fill_done(Region *r) {
        uint64_t n;

        (void) !read(r->notify_fd, &n, sizeof(n));
        if (!atomic_load(&r->finished))
                return false;
        /* Its last wake-up is all that is left of the thread: the join waits for its return. */
        pthread_join(r->thread, NULL);
        r->thread_running = false;
        return true;
}

static int on_notify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Region *r = userdata;
        uint64_t now = 0;

        if (!fill_done(r)) {
                (void) sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now);
                if (now - r->last_report_usec < REGION_PROGRESS_USEC)
                        return 0;
                r->last_report_usec = now;
                if (r->on_change)
                        r->on_change(r, false, r->userdata);
                return 0;
        }
        r->notify = sd_event_source_disable_unref(r->notify);
        r->state = r->result < 0 ? REGION_FAILED : REGION_READY;
        atomic_store(&r->populated, mem_region_populated(r->mem));
        if (r->on_change)
                r->on_change(r, true, r->userdata);
        /* After on_change, which may also fail it (a mapping that could not be made) and says
         * how far it got: its pages go back, also from the fds others hold. */
        if (r->state == REGION_FAILED)
                (void) mem_region_empty(r->mem);
        return 0;
}

int region_new(sd_event *e, MemRegion *mem, uint64_t id, uint64_t lease_id, uint32_t uid,
               RegionChangeFn on_change, void *userdata, Region **ret) {
        _cleanup_free_ Region *r = NULL;
        int k;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (Region) { .id = id,
                        .lease_id = lease_id,
                        .uid = uid,
                        .mem = mem,
                        .iova = REGION_NO_IOVA,
                        .on_change = on_change,
                        .userdata = userdata };
        atomic_init(&r->cancel, false);
        atomic_init(&r->finished, false);
        atomic_init(&r->populated, 0);
        r->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->notify_fd < 0)
                return negative_errno();
        k = sd_event_add_io(e, &r->notify, r->notify_fd, EPOLLIN, on_notify, r);
        if (k < 0)
                goto fail;
        k = -pthread_create(&r->thread, NULL, fill_thread, r);
        if (k < 0)
                goto fail;
        r->thread_running = true;
        *ret = TAKE_PTR(r);
        return 0;
fail:
        r->notify = sd_event_source_disable_unref(r->notify);
        safe_close(r->notify_fd);
        return k;
}

Region *region_free(Region *r) {
        if (!r)
                return NULL;
        if (r->thread_running) {
                atomic_store(&r->cancel, true);
                pthread_join(r->thread, NULL);
                r->thread_running = false;
        }
        if (r->state != REGION_READY)
                (void) mem_region_empty(r->mem);
        if (r->vaddr)
                munmap(r->vaddr, mem_region_size(r->mem));
        sd_event_source_disable_unref(r->notify);
        safe_close(r->notify_fd);
        mem_region_free(r->mem);
        free(r->error);
        free(r);
        return NULL;
}

uint64_t region_populated(const Region *r) {
        return atomic_load(&((Region *) r)->populated);
}

uint64_t region_size(const Region *r) {
        return mem_region_size(r->mem);
}
