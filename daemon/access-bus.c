/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "names.h"
#include "util.h"

/* Every method of every interface we serve: the polkit action that guards it, the handler that
 * runs once the caller is authorised, and the hook that reads what authorisation depends on.
 * Reading is free: a row without an action is the read-only set, and nothing else is.
 * Anything that changes the host needs an action. A member missing here is refused
 * (tests/unit/test-access.c checks that every vtable method goes through bus_method_trampoline()
 * and has a row, and that every row is served). Beyond the rows' actions, as their inspect hooks
 * find them: Lease methods called by the lease's own holder need no action (the holder was
 * authorised when it claimed); releasing a prepare (it has no holder) is Unprepare and is judged
 * as Unprepare; releasing an owner's claim is judged as ReleaseByOwner (the key stands for the
 * holder); ReleaseByOwner of a key that holds a prepare needs Unprepare's action; ExplainPolicy
 * for another user needs manage. */
const BusAccess bus_access_table[] = {
        { IFACE_MANAGER, "ListGroups", NULL, manager_method_list_groups, NULL },
        { IFACE_MANAGER, "ListDevices", NULL, manager_method_list_devices, NULL },
        { IFACE_MANAGER, "GetHostReport", NULL, manager_method_get_host_report, NULL },
        { IFACE_MANAGER, "ListLeases", NULL, manager_method_list_leases, NULL },
        { IFACE_MANAGER, "GetPolicy", NULL, manager_method_get_policy, NULL },
        { IFACE_MANAGER, "ExplainPolicy", NULL, manager_method_explain_policy,
          manager_inspect_explain_policy },
        { IFACE_MANAGER, "ClaimGroup", POLKIT_ACTION_CLAIM, manager_method_claim_group,
          manager_inspect_claim_group },
        { IFACE_MANAGER, "ClaimDevice", POLKIT_ACTION_CLAIM, manager_method_claim_device,
          manager_inspect_claim_device },
        { IFACE_MANAGER, "Prepare", POLKIT_ACTION_PREPARE, manager_method_prepare,
          manager_inspect_prepare },
        { IFACE_MANAGER, "Unprepare", POLKIT_ACTION_PREPARE, manager_method_unprepare,
          manager_inspect_unprepare },
        { IFACE_MANAGER, "FindLease", NULL, manager_method_find_lease, NULL },
        { IFACE_MANAGER, "ReleaseByOwner", POLKIT_ACTION_CLAIM, manager_method_release_by_owner,
          manager_inspect_release_by_owner },
        { IFACE_MANAGER, "ReloadPolicy", POLKIT_ACTION_MANAGE, manager_method_reload_policy,
          manager_inspect_reload_policy },
        { IFACE_MANAGER, "AcceptIdentity", POLKIT_ACTION_MANAGE, manager_method_accept_identity,
          manager_inspect_accept_identity },
        { IFACE_MANAGER, "SetNumVfs", POLKIT_ACTION_MANAGE, manager_method_set_num_vfs,
          manager_inspect_set_num_vfs },
        { IFACE_LEASE, "OpenContainer", POLKIT_ACTION_MANAGE, lease_method_open_container,
          lease_inspect },
        { IFACE_LEASE, "OpenGroup", POLKIT_ACTION_MANAGE, lease_method_open_group, lease_inspect },
        { IFACE_LEASE, "OpenIommufd", POLKIT_ACTION_MANAGE, lease_method_open_iommufd,
          lease_inspect },
        { IFACE_LEASE, "OpenCdev", POLKIT_ACTION_MANAGE, lease_method_open_cdev, lease_inspect },
        { IFACE_LEASE, "OpenDevice", POLKIT_ACTION_MANAGE, lease_method_open_device,
          lease_inspect },
        { IFACE_LEASE, "GrantAccess", POLKIT_ACTION_MANAGE, lease_method_grant_access,
          lease_inspect },
        { IFACE_LEASE, "Release", POLKIT_ACTION_MANAGE, lease_method_release, lease_inspect },
        { IFACE_LEASE, "AllocateMemory", POLKIT_ACTION_MANAGE, lease_method_allocate_memory,
          lease_inspect },
        { IFACE_REGION, "Release", POLKIT_ACTION_MANAGE, region_method_release, region_inspect },
        {}
};

const BusAccess *bus_access_find(const char *interface, const char *member) {
        if (!interface || !member)
                return NULL;
        for (const BusAccess *a = bus_access_table; a->interface; a++)
                if (streq(a->interface, interface) && streq(a->member, member))
                        return a;
        return NULL;
}

/* polkit details for a group: "group", and its first assignable member's "address" and
 * "vendor" when it has one. */
typedef struct BusGroupDetails {
        char group[16], vendor[8];
        char *list[7];
} BusGroupDetails;

static char **group_details(Manager *d, uint32_t group, BusGroupDetails *gd) {
        const Group *g = topology_find_group(d->model->topology, group);
        const Device *first = NULL;
        size_t n = 0;

        snprintf(gd->group, sizeof(gd->group), "%" PRIu32, group);
        for (char **a = g ? g->devices : NULL; a && *a && !first; a++) {
                const Device *dev = topology_find_device(d->model->topology, *a);

                if (dev && dev->ids_known && device_is_endpoint(dev))
                        first = dev;
        }
        gd->list[n++] = (char *) "group";
        gd->list[n++] = gd->group;
        if (first) {
                snprintf(gd->vendor, sizeof(gd->vendor), "0x%04x", first->vendor);
                gd->list[n++] = (char *) "address";
                gd->list[n++] = (char *) first->address;
                gd->list[n++] = (char *) "vendor";
                gd->list[n++] = gd->vendor;
        }
        gd->list[n] = NULL;
        return gd->list;
}

/* Every vtable is registered with the manager as its userdata (for the fallback vtables, the
 * object the handlers get is what the find callback found; the slot keeps the manager). */
Manager *bus_current_manager(sd_bus_message *m) {
        sd_bus_slot *slot = sd_bus_get_current_slot(sd_bus_message_get_bus(m));

        return slot ? sd_bus_slot_get_userdata(slot) : NULL;
}

int bus_method_trampoline(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *iface = sd_bus_message_get_interface(m), *member = sd_bus_message_get_member(m);
        const BusAccess *a = bus_access_find(iface, member);
        Manager *d = bus_current_manager(m);
        BusGroupDetails gd;
        BusAuth auth;
        int k;

        if (!a || !a->handler)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "%s.%s is not an authorised method", strna(iface),
                                         strna(member));
        if (!d && (a->action || a->inspect))
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "%s.%s cannot be authorised outside the daemon's objects",
                                         iface, member);
        auth = (BusAuth) { .action = a->action };
        if (a->inspect) {
                k = a->inspect(m, d, userdata, &auth, error);
                if (k < 0)
                        return k;
                /* The handler reads the arguments from the start. */
                k = sd_bus_message_rewind(m, true);
                if (k < 0)
                        return k;
        }
        if (auth.action) {
                /* 0: polkit was asked; its answer queues the message again, which comes back
                 * here, finds the verdict and, when granted, runs the handler, once. */
                k = polkit_check_async(d->polkit, m, auth.action,
                                       auth.about_group ? group_details(d, auth.group, &gd) : NULL,
                                       error);
                if (k <= 0)
                        return k < 0 ? k : 1;
        }
        return a->handler(m, userdata, error);
}

char *bus_caller_describe(Manager *d, sd_bus_message *m) {
        _cleanup_(bus_caller_clear) BusCaller c = {};
        char *s = NULL;

        if (bus_caller(d, m, &c) < 0)
                return strdup(strna(sd_bus_message_get_sender(m)));
        if (asprintf(&s, "uid %" PRIu32 "%s%s%s, pid %" PRIu32 ", %s", c.uid, c.user ? " (" : "",
                     strempty(c.user), c.user ? ")" : "", c.pid, strna(c.unique_name)) < 0)
                return NULL;
        return s;
}

void bus_caller_clear(BusCaller *c) {
        free(c->user);
        strv_free(c->groups);
        *c = (BusCaller) {};
}

/* Who called, from the bus's record of the connection (bus-peers.h), never from /proc/<pid>:
 * under the same pid a caller can exec a setuid or setgid binary after it connected. */
int bus_caller(Manager *d, sd_bus_message *m, BusCaller *ret) {
        _cleanup_(bus_caller_clear) BusCaller c = {};
        const BusPeerCreds *creds;
        size_t n = 0;
        int k;

        c.unique_name = sd_bus_message_get_sender(m);
        if (!c.unique_name)
                return -ENXIO;
        k = bus_peers_get(d->peers, c.unique_name, &creds);
        if (k < 0)
                return k;
        c.uid = creds->uid;
        c.pid = creds->pid;
        if (creds->user && !(c.user = strdup(creds->user)))
                return -ENOMEM;
        for (char *const *g = creds->groups; g && *g; g++)
                if (strv_extend_n(&c.groups, &n, *g) < 0)
                        return -ENOMEM;
        *ret = c;
        c = (BusCaller) {};
        return 0;
}

/* The uid and pid are the bus's record of the connection (no augmenting from /proc). */
int bus_name_owner(Manager *d, const char *name, uint32_t *ret_uid, uint32_t *ret_pid) {
        const BusPeerCreds *creds;
        int k = bus_peers_get(d->peers, name, &creds);

        if (k < 0)
                return k;
        *ret_uid = creds->uid;
        *ret_pid = creds->pid;
        return 0;
}
