/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CDI spec (cdi.h) kept true to the lease set: built again after every change of it and
 * written when its content changed. At start it is written whatever the file holds, so that a
 * crash between state.json and the spec, or a spec someone removed, is set right. */
#include <errno.h>
#include <stdlib.h>

#include "cdi.h"
#include "daemon.h"
#include "log.h"

/* A group whose release is under way is taken out at its start: a container started from the
 * spec now would only hold the release up (it waits for the group's last close). */
static bool listed(const Manager *d, const Lease *l) {
        return cdi_lists_lease(l) && !job_queue_is_running(d->jobs, l->group, JOB_RELEASE) &&
               !job_queue_is_running(d->jobs, l->group, JOB_UNPREPARE);
}

static bool strv_equal(char *const *a, char *const *b) {
        size_t i = 0;

        for (; a && b && a[i] && b[i]; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return !(a && a[i]) && !(b && b[i]);
}

void manager_cdi_sync(Manager *d) {
        _cleanup_(cdi_spec_freep) CdiSpec *s = NULL;
        _cleanup_free_ Lease **leases = NULL;
        size_t n = 0;
        int k;

        if (!d->cdi_path || !d->leases)
                return;
        leases = calloc(d->leases->n + 1, sizeof(*leases));
        if (!leases) {
                log_warning_errno(-ENOMEM, "Cannot make the CDI spec %s: %m", d->cdi_path);
                return;
        }
        for (size_t i = 0; i < d->leases->n; i++)
                if (listed(d, d->leases->leases[i]))
                        leases[n++] = d->leases->leases[i];
        k = cdi_spec_build(d->cdi_version, leases, n, d->model, &s);
        if (k < 0) {
                log_warning_errno(k, "Cannot make the CDI spec %s: %m", d->cdi_path);
                return;
        }
        if (d->cdi && streq(strempty(d->cdi->text), strempty(s->text)))
                return;
        /* Failed already: again when the content changes, not at each job's start and end. */
        if (d->cdi_failed && streq(d->cdi_failed, strempty(s->text)))
                return;
        d->cdi_failed = mfree(d->cdi_failed);
        k = cdi_spec_write(s, d->cdi_path);
        if (k < 0) {
                /* What was written before stays, and so do the leases' CdiDevices. */
                log_warning_errno(k,
                                  "Cannot %s the CDI spec %s: %m; tried again at the next change",
                                  s->text ? "write" : "remove", d->cdi_path);
                d->cdi_failed = strdup(strempty(s->text));
                return;
        }
        log_debug("CDI spec %s: %zu groups", d->cdi_path, s->n_groups);
        for (size_t i = 0; i < d->leases->n; i++) {
                const Lease *l = d->leases->leases[i];

                if (!strv_equal(cdi_spec_names(d->cdi, l->id), cdi_spec_names(s, l->id)))
                        (void) lease_bus_emit_changed(d, l);
        }
        cdi_spec_free(d->cdi);
        d->cdi = TAKE_PTR(s);
}

char *const *manager_cdi_names(const Manager *d, const Lease *l) {
        return cdi_spec_names(d->cdi, l->id);
}

void manager_cdi_free(Manager *d) {
        /* The file stays: the groups stay on vfio-pci while the daemon is away. */
        d->cdi = cdi_spec_free(d->cdi);
        d->cdi_failed = mfree(d->cdi_failed);
}
