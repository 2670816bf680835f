/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a uevent means: the model reads the host again, the bus hears of the change, and a lease
 * whose member moved is enforced by a job. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/* What a uevent means for the leases, decided again when its job runs: a host driver that binds
 * to a member of a leased group (a kernel upgrade adding a driver is the known case) is undone and
 * reported; a device that joins a leased group follows it to vfio-pci; a device that should go to
 * vfio-pci as soon as it appears (persistent prepare, prepare_at_boot) goes there. */
typedef struct Enforcement {
        char *message; /* for the log */
        bool reverted; /* DriverReverted: the driver it had, in driver */
        char *driver;
        bool joined;
        bool prepare; /* an arrival to prepare */
        bool persistent;
} Enforcement;

static void enforcement_clear(Enforcement *e) {
        free(e->message);
        free(e->driver);
        *e = (Enforcement) {};
}

static int enforce_device(Manager *d, const char *action, const char *address, Enforcement *ret) {
        const Device *dev = topology_find_device(d->model->topology, address);
        int k;

        if (!dev)
                return 0;
        if (lease_set_find_device(d->leases, address)) {
                /* The kernel's driver link, not the model's: the model learns of a bind from its
                 * uevent, which may still be on its way when the job runs (a prepare's last bind
                 * checked by check_members()), and a stale "no driver" would be "moved back"
                 * and reported as DriverReverted. */
                k = binding_current_driver(d->model->root, address, &ret->driver);
                if (k < 0)
                        return k;
                k = lease_set_enforce_device(d->leases, address, ret->driver, &ret->message);
                ret->reverted = k > 0;
                return k;
        }
        if (!streq(action, "add") || dev->group < 0)
                return 0;
        k = lease_set_add_member(d->leases, dev, &ret->message);
        if (k != 0) {
                ret->joined = k > 0;
                return k;
        }
        if (!device_is_endpoint(dev))
                return 0;
        /* Whatever card is there: another one than recorded is refused by the prepare, which
         * says so in the log (IdentityChanged). */
        ret->persistent = lease_set_find_persistent(d->leases, address) != NULL;
        ret->prepare = ret->persistent || policy_prepare_at_boot(d->policy, dev);
        return 0;
}

/* Whether a uevent of address may need a job: a member of an active lease is off vfio-pci, or
 * it arrived where one may want it. Decided cheaply here, exactly by enforce_device() in the job.
 * The binds and unbinds a claim or release makes itself come while its lease is not active and
 * need none; a member that moved meanwhile is seen when the claim ends (check_members()). */
static bool may_need_enforcement(Manager *d, const char *action, const char *address) {
        const Device *dev = topology_find_device(d->model->topology, address);

        if (!dev || !d->leases)
                return false;
        if (lease_set_find_device(d->leases, address))
                return lease_set_device_drifted(d->leases, address, dev->driver);
        if (!streq(action, "add") || dev->group < 0)
                return false;
        return lease_set_find_group(d->leases, (uint32_t) dev->group) ||
               lease_set_find_persistent(d->leases, address) ||
               policy_prepare_at_boot(d->policy, dev);
}

typedef struct EnforceJob {
        Manager *daemon;
        char *action, *address;
        Enforcement e;
        int result;
} EnforceJob;

static void enforce_run(Job *j) {
        EnforceJob *x = j->data;

        x->result = enforce_device(x->daemon, x->action, x->address, &x->e);
}

static void enforce_done(Job *j) {
        EnforceJob *x = j->data;
        Manager *d = x->daemon;
        int k;

        if (j->cancelled)
                goto finish;
        if (x->result < 0)
                log_warning_errno(x->result, "%s joining its leased group: %m", x->address);
        else if (x->e.reverted) {
                log_warning("%s", x->e.message);
                manager_bus_send_driver_reverted(d, x->address, x->e.driver, j->group,
                                                 x->e.message);
        } else if (x->e.joined)
                log_info("%s", x->e.message);
        else if (x->e.prepare) {
                _cleanup_free_ char *why = NULL;

                if (asprintf(&why, "%s appeared", x->address) < 0)
                        goto finish;
                k = manager_queue_prepare(d, j->group, x->e.persistent, why, NULL, NULL);
                if (k < 0)
                        log_warning_errno(k, "Preparing %s on arrival failed: %m", x->address);
        }
finish:
        enforcement_clear(&x->e);
        free(x->action);
        free(x->address);
        free(x);
}

void manager_queue_enforcement(Manager *d, const char *action, const char *address) {
        const Device *dev = topology_find_device(d->model->topology, address);
        EnforceJob *x;
        int k;

        if (!dev || dev->group < 0 || !may_need_enforcement(d, action, address))
                return;
        x = calloc(1, sizeof(*x));
        if (!x || !(x->action = strdup(action)) || !(x->address = strdup(address))) {
                if (x)
                        free(x->action);
                free(x);
                log_warning("%s %s: out of memory", action, address);
                return;
        }
        x->daemon = d;
        k = job_enqueue(d->jobs, JOB_ENFORCE, (uint32_t) dev->group, enforce_run, enforce_done, x);
        if (k < 0) {
                free(x->action);
                free(x->address);
                free(x);
                log_warning_errno(k, "%s %s: cannot queue the check of its lease: %m", action,
                                  address);
        }
}

static const char *const change_names[] = {
        [CHANGE_DEVICE_ADDED] = "added device",     [CHANGE_DEVICE_REMOVED] = "removed device",
        [CHANGE_DEVICE_CHANGED] = "changed device", [CHANGE_GROUP_ADDED] = "added group",
        [CHANGE_GROUP_REMOVED] = "removed group",   [CHANGE_GROUP_CHANGED] = "changed group",
};

static void emit_changes(Manager *d, const char *action, const char *address, ChangeList *changes) {
        bool cdevs = false;
        int k;

        for (size_t i = 0; i < changes->n; i++) {
                const Change *c = &changes->changes[i];

                /* A device's cdev came or went: the CDI spec names those of leased members. */
                cdevs |= c->kind == CHANGE_DEVICE_REMOVED ||
                         (c->kind == CHANGE_DEVICE_CHANGED && (c->mask & DEVICE_CHANGED_VFIO_DEV));

                if (c->kind <= CHANGE_DEVICE_CHANGED)
                        log_debug("%s: %s %s", action, change_names[c->kind], c->address);
                else
                        log_debug("%s: %s %u", action, change_names[c->kind], c->group);
        }
        k = bus_emit_changes(d, changes);
        if (k < 0)
                log_warning_errno(k, "%s %s: cannot emit signals: %m", action, address);
        change_list_clear(changes);
        if (cdevs)
                manager_cdi_sync(d);
}

/* The kernel updates a group's member list and a device's own links one after the other, and a
 * uevent can come in between (a remove while iommu_groups/N/devices still lists the device). What
 * was read half-done is read again after 50 ms, doubling, seven times (6.35 s in all); after that
 * it is what the kernel says it is, and the next event of that group reads it again anyway. */
#define SETTLE_FIRST_USEC (50 * 1000ULL)
#define SETTLE_ATTEMPTS 7

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *d = userdata;
        ChangeList changes = {};
        int k;

        k = model_settle(d->model, &changes);
        if (k < 0)
                log_warning_errno(k, "Cannot read unsettled IOMMU groups again: %m");
        emit_changes(d, "settle", "", &changes);
        if (model_is_settled(d->model) || k < 0) {
                d->settle_attempt = 0;
                return 0;
        }
        if (++d->settle_attempt >= SETTLE_ATTEMPTS) {
                _cleanup_free_ char *what = NULL;

                for (size_t i = 0; i < d->model->n_unsettled_groups; i++)
                        (void) strextendf(&what, ", ", "IOMMU group %" PRIu32,
                                          d->model->unsettled_groups[i]);
                for (char **a = d->model->unsettled_devices; a && *a; a++)
                        (void) strextendf(&what, ", ", "%s", *a);
                log_warning(
                        "The kernel's view of %s still disagrees with itself; keeping what it says now",
                        strna(what));
                model_forget_unsettled(d->model);
                d->settle_attempt = 0;
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, SETTLE_FIRST_USEC << d->settle_attempt);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void schedule_settle(Manager *d) {
        int k;

        if (model_is_settled(d->model))
                return;
        if (d->settle) {
                int enabled = SD_EVENT_OFF;

                (void) sd_event_source_get_enabled(d->settle, &enabled);
                if (enabled != SD_EVENT_OFF)
                        return; /* already waiting */
                k = sd_event_source_set_time_relative(d->settle, SETTLE_FIRST_USEC);
                if (k >= 0)
                        k = sd_event_source_set_enabled(d->settle, SD_EVENT_ONESHOT);
        } else
                /* 1 ms accuracy: sd-event's default of 250 ms would dwarf the first 50 ms. */
                k = sd_event_add_time_relative(d->event, &d->settle, CLOCK_MONOTONIC,
                                               SETTLE_FIRST_USEC, 1000, on_settle, d);
        if (k < 0)
                log_warning_errno(k, "Cannot schedule reading unsettled IOMMU groups again: %m");
        d->settle_attempt = 0;
}

/* Every uevent, whatever its source, ends here. */
void manager_uevent(const char *action, const char *address, void *userdata) {
        Manager *d = userdata;
        ChangeList changes = {};
        int k;

        k = model_process_event(d->model, action, address, &changes);
        if (k < 0)
                log_warning_errno(k, "%s %s: cannot refresh the model: %m", action, address);
        if (d->model->host && (streq(action, "add") || streq(action, "remove")) &&
            host_iommu_presence_moved(d->model->root, d->model->host))
                manager_refresh_host(d, true);
        emit_changes(d, action, address, &changes);
        schedule_settle(d);
        if (streq(action, "add"))
                manager_identities_record(d, address, false);
        if (streq(action, "add") || streq(action, "bind") || streq(action, "unbind"))
                manager_queue_enforcement(d, action, address);
}
