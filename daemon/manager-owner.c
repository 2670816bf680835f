/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Leases by owner key (issue 15): an orchestrator's plugin or libvirt's hook names its leases
 * with a key of its own instead of holding a bus connection, finds them again after it
 * restarted, and gives them back by that key. One key may hold several groups (a libvirt domain
 * with two host devices). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

int manager_find_owner(Manager *d, const char *owner, Lease ***ret, size_t *ret_n) {
        _cleanup_free_ Lease **found = NULL;
        size_t n = 0;

        for (size_t i = 0; i < d->leases->n; i++) {
                Lease *l = d->leases->leases[i];
                Lease **grown;

                if (!l->owner || !streq(l->owner, owner))
                        continue;
                grown = reallocarray(found, n + 1, sizeof(*found));
                if (!grown)
                        return -ENOMEM;
                found = grown;
                found[n++] = l;
        }
        *ret = TAKE_PTR(found);
        *ret_n = n;
        return 0;
}

/* The releases of one ReleaseByOwner: its reply goes when the last one is done, with the first
 * failure. */
typedef struct OwnerRelease {
        ManagerReplyFn reply;
        void *userdata;
        size_t pending;
        LeaseError err;
} OwnerRelease;

static void owner_release_done(void *userdata, const Lease *l, const LeaseError *err) {
        OwnerRelease *o = userdata;

        if (err && !o->err.error) {
                o->err.error = err->error ?: -EIO;
                o->err.code = err->code;
                o->err.message = err->message ? strdup(err->message) : NULL;
        }
        if (--o->pending > 0)
                return;
        if (o->reply)
                o->reply(o->userdata, NULL, o->err.error ? &o->err : NULL);
        lease_error_clear(&o->err);
        free(o);
}

int manager_release_by_owner(Manager *d, const char *owner, const char *who, ManagerReplyFn fn,
                             void *userdata, LeaseError *err) {
        _cleanup_free_ Lease **leases = NULL;
        OwnerRelease *o;
        size_t n;
        int k;

        k = manager_find_owner(d, owner, &leases, &n);
        if (k < 0)
                return k;
        if (n == 0)
                return lease_error_set(err, -ENOENT, VA_ERROR_NO_SUCH_LEASE,
                                       "No lease has the owner key \"%s\"", owner);
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        *o = (OwnerRelease) { .reply = fn, .userdata = userdata, .pending = n };
        k = manager_release(d, leases[0], who, owner_release_done, o);
        if (k < 0) {
                free(o);
                return lease_error_set(err, k, VA_ERROR_FAILED,
                                       "Cannot queue the release of IOMMU group %" PRIu32 ": %s",
                                       leases[0]->group, strerror(-k));
        }
        log_info("Owner \"%s\": %zu lease%s given back for %s", owner, n, n == 1 ? "" : "s",
                 strna(who));
        /* Each release is its group's job, answered from the event loop once it ends: the first
         * is queued, so a later one that cannot be is counted as failed here and the reply
         * still waits for the first. */
        for (size_t i = 1; i < n; i++) {
                k = manager_release(d, leases[i], who, owner_release_done, o);
                if (k < 0) {
                        LeaseError e = {};

                        lease_error_set(&e, k, VA_ERROR_FAILED,
                                        "Cannot queue the release of IOMMU group %" PRIu32 ": %s",
                                        leases[i]->group, strerror(-k));
                        owner_release_done(o, NULL, &e);
                        lease_error_clear(&e);
                }
        }
        return 0;
}
