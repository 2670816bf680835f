/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>

#include "daemon.h"
#include "fdstore.h"
#include "log.h"
#include "names.h"
#include "userdb.h"
#include "util.h"

/* What the bus glue keeps per lease (Lease.bus_data). */
struct LeaseBus {
        Manager *daemon;
        uint64_t id;          /* the lease may be gone before its bus side (its job's end) */
        BusPeerWatch *holder; /* a claim's holder, until it leaves */
};

int lease_object_path(uint64_t id, char **ret) {
        return asprintf(ret, OBJ_LEASE_PREFIX "/%" PRIu64, id) < 0 ? -ENOMEM : 0;
}

int lease_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                   void **found, sd_bus_error *error) {
        Manager *d = userdata;
        _cleanup_free_ char *id = NULL;
        uint64_t n;
        Lease *l;
        int k;

        if (!d->leases)
                return 0;
        k = sd_bus_path_decode(path, OBJ_LEASE_PREFIX, &id);
        if (k <= 0)
                return k;
        if (safe_atou64(id, 10, &n) < 0)
                return 0;
        l = lease_set_find_id(d->leases, n);
        /* A lease being acquired is served already: a Release waits for the claim's job. */
        if (!l || !lease_bus_attach(d, l))
                return 0;
        *found = l;
        return 1;
}

int lease_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                        sd_bus_error *error) {
        Manager *d = userdata;
        size_t n = d->leases ? d->leases->n : 0;
        char **l = calloc(n + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (lease_object_path(d->leases->leases[i]->id, &l[i]) < 0) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *nodes = l;
        return 0;
}

void lease_bus_free(LeaseBus *b) {
        if (!b)
                return;
        bus_peer_watch_free(b->holder);
        free(b);
}

void lease_bus_forget(Lease *l) {
        lease_bus_free(l->bus_data);
        l->bus_data = NULL;
}

LeaseBus *lease_bus_attach(Manager *d, Lease *l) {
        LeaseBus *b = l->bus_data;

        if (!b) {
                b = calloc(1, sizeof(*b));
                if (!b)
                        return NULL;
                b->daemon = d;
                b->id = l->id;
                l->bus_data = b;
        }
        return b;
}

int lease_bus_emit_added(Manager *d, const Lease *l) {
        _cleanup_free_ char *path = NULL;
        int k = lease_object_path(l->id, &path);

        return k < 0 ? k : sd_bus_emit_object_added(d->bus, path);
}

/* The model has no change bits for leases: what changes in one (state, reason, holder) is announced
 * together. */
#define LEASE_CHANGED (1u << 0)

int lease_bus_emit_changed(Manager *d, const Lease *l) {
        _cleanup_free_ char *path = NULL;
        int k = lease_object_path(l->id, &path);

        return k < 0 ? k
                     : bus_emit_properties_changed(d->bus, path, IFACE_LEASE, lease_properties,
                                                   LEASE_CHANGED);
}

int lease_bus_emit_removed(Manager *d, uint64_t id) {
        _cleanup_free_ char *path = NULL;
        int k = lease_object_path(id, &path);

        return k < 0 ? k : bus_emit_interfaces_removed(d, path, IFACE_LEASE);
}

static void on_holder_gone(void *userdata) {
        LeaseBus *b = userdata;
        Lease *l = lease_set_find_id(b->daemon->leases, b->id);

        b->holder = bus_peer_watch_free(b->holder);
        if (l)
                manager_holder_gone(b->daemon, l);
}

int lease_bus_track(Manager *d, Lease *l) {
        LeaseBus *b;

        if (!l->holder)
                return 0;
        b = lease_bus_attach(d, l);
        if (!b)
                return -ENOMEM;
        return b->holder ? 0 : bus_peers_watch(d->peers, l->holder, on_holder_gone, b, &b->holder);
}

/* Unique names are never reused on one bus instance, and a claim made on another one was given
 * back at start unless its holder was recognised on this one (holder_alive()). */
static bool is_holder(Manager *d, sd_bus_message *m, const Lease *l) {
        const char *sender = sd_bus_message_get_sender(m);

        return l->holder && sender && streq(sender, l->holder) &&
               streq(l->holder_bus_id, d->bus_id);
}

static Manager *manager_of(Lease *l) {
        LeaseBus *b = l->bus_data;
        return b ? b->daemon : NULL;
}

/* The holder may use its lease; anyone else needs the row's org.vfioassign1.manage, except that
 * releasing a prepare is what Unprepare does and needs what Unprepare needs. */
int lease_inspect(sd_bus_message *m, Manager *d, void *object, BusAuth *auth, sd_bus_error *error) {
        Lease *l = object;

        if (!manager_of(l))
                return sd_bus_error_set(error, BUS_ERROR_FAILED, "Lease not served");
        if (is_holder(d, m, l)) {
                auth->action = NULL;
                return 0;
        }
        if ((l->kind == LEASE_PREPARE || l->owner) &&
            streq(sd_bus_message_get_member(m), "Release")) {
                const char *as = l->kind == LEASE_PREPARE ? "Unprepare" : "ReleaseByOwner";
                const BusAccess *a = bus_access_find(IFACE_MANAGER, as);

                if (!a)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 IFACE_MANAGER ".%s is not an authorised method",
                                                 as);
                auth->action = a->action;
        }
        auth->about_group = true;
        auth->group = l->group;
        return 0;
}

/* Authorised by lease_inspect() before the handler runs. (clang-format cannot lay out a macro
 * that ends in a statement.) */
/* clang-format off */
#define LEASE_METHOD_PROLOGUE(m, userdata, error)                                       \
        Lease *l = userdata;                                                            \
        Manager *d = manager_of(l);                                                     \
        int k = d ? 0 : sd_bus_error_set(error, BUS_ERROR_FAILED, "Lease not served");  \
        if (k < 0)                                                                      \
                return k
/* clang-format on */

/* The container or the group fd of an active claim, from its backend. */
static int reply_lease_fd(sd_bus_message *m, Manager *d, Lease *l, VfioFdKind kind,
                          sd_bus_error *error) {
        LeaseError err = {};
        int fd = -1, k = manager_hand_out_fd(d, l, kind, &fd, &err);

        if (k < 0) {
                k = bus_error_set_lease(error, &err, k);
                lease_error_clear(&err);
                return k;
        }
        return sd_bus_reply_method_return(m, "h", fd);
}

int lease_method_open_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        LEASE_METHOD_PROLOGUE(m, userdata, error);
        return reply_lease_fd(m, d, l, VFIO_FD_CONTAINER, error);
}

int lease_method_open_group(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        LEASE_METHOD_PROLOGUE(m, userdata, error);
        return reply_lease_fd(m, d, l, VFIO_FD_GROUP, error);
}

int lease_method_open_iommufd(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        LEASE_METHOD_PROLOGUE(m, userdata, error);
        return reply_lease_fd(m, d, l, VFIO_FD_IOMMUFD, error);
}

/* OpenDevice and OpenCdev: a new fd of one member, the caller's. */
static int reply_member_fd(sd_bus_message *m, Manager *d, Lease *l, bool cdev,
                           sd_bus_error *error) {
        _cleanup_close_ int fd = -1;
        LeaseError err = {};
        const char *address;
        int k;

        k = sd_bus_message_read(m, "s", &address);
        if (k < 0)
                return k;
        if (!pci_address_is_canonical(address))
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "\"%.*s\" is not a PCI address like 0000:03:01.0",
                                         utf8_prefix_len(address, 32), address);
        k = cdev ? manager_open_cdev(d, l, address, &fd, &err)
                 : manager_open_device(d, l, address, &fd, &err);
        if (k < 0) {
                k = bus_error_set_lease(error, &err, k);
                lease_error_clear(&err);
                return k;
        }
        return sd_bus_reply_method_return(m, "h", fd);
}

int lease_method_open_device(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        LEASE_METHOD_PROLOGUE(m, userdata, error);
        return reply_member_fd(m, d, l, false, error);
}

int lease_method_open_cdev(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        LEASE_METHOD_PROLOGUE(m, userdata, error);
        return reply_member_fd(m, d, l, true, error);
}

int lease_method_grant_access(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_caller_clear) BusCaller grantee = {};
        _cleanup_free_ char *who = NULL;
        LeaseError err = {};
        uint32_t uid;

        LEASE_METHOD_PROLOGUE(m, userdata, error);
        k = sd_bus_message_read(m, "u", &uid);
        if (k < 0)
                return k;
        k = bus_read_no_options(m, error);
        if (k < 0)
                return k;
        if (uid == UINT32_MAX)
                return sd_bus_error_set(error, BUS_ERROR_INVALID_ARGUMENT,
                                        "uid 4294967295 is not a user");
        who = bus_caller_describe(d, m);
        /* A node owned by a uid nobody has yet would go to whoever is given that uid later. */
        k = userdb_by_uid(uid, &grantee.user, &grantee.groups);
        if (k == -ESRCH)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_USER,
                                         "uid %" PRIu32 " has no user entry: /dev/vfio/%" PRIu32
                                         " is handed only to an existing user",
                                         uid, l->group);
        if (k < 0)
                return k;
        grantee.uid = uid;
        k = manager_grant_access(d, l, &grantee, who, bus_reply_empty, m, &err);
        return bus_reply_after_job(m, k, &err, error);
}

int lease_method_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *who = NULL;

        LEASE_METHOD_PROLOGUE(m, userdata, error);
        k = bus_read_no_options(m, error);
        if (k < 0)
                return k;
        who = bus_caller_describe(d, m);
        k = manager_release(d, l, who, bus_reply_empty, m);
        if (k < 0)
                return k;
        sd_bus_message_ref(m); /* until the job's reply */
        return 1;
}

#define LEASE(userdata) ((const Lease *) (userdata))

BUS_GETTER(get_id, Lease, "t", o->id)
BUS_GETTER(get_kind, Lease, "s", lease_kind_to_string(o->kind))
BUS_GETTER(get_group, Lease, "u", o->group)
BUS_GETTER(get_holder, Lease, "s", strempty(o->holder))
BUS_GETTER(get_owner, Lease, "s", strempty(o->owner))
BUS_GETTER(get_uid, Lease, "u", o->uid)
BUS_GETTER(get_pid, Lease, "u", o->pid)
BUS_GETTER(get_state, Lease, "s", lease_state_to_string(o->state))
BUS_GETTER(get_reason, Lease, "s", strempty(o->reason))
BUS_GETTER(get_persistent, Lease, "b", (int) o->persistent)
BUS_GETTER(get_backend, Lease, "s", vfio_backend_name(o->backend))

static int get_devices(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Lease *l = LEASE(userdata);
        int k;

        k = sd_bus_message_open_container(reply, 'a', "s");
        if (k < 0)
                return k;
        for (size_t i = 0; i < l->n_devices; i++) {
                k = sd_bus_message_append(reply, "s", l->devices[i].address);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(reply);
}

/* Who the release waits for: (pid, command) of each process that has the group's nodes open,
 * as far as the daemon may see (holders.h). */
static int get_holders(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Lease *l = LEASE(userdata);
        int k;

        k = sd_bus_message_open_container(reply, 'a', "(us)");
        if (k < 0)
                return k;
        for (size_t i = 0; i < l->n_holders; i++) {
                k = sd_bus_message_append(reply, "(us)", l->holders[i].pid, l->holders[i].comm);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(reply);
}

/* name, signature, getter, change bit, flags (see BusProperty) */
#define LEASE_PROPERTIES(P)                                       \
        P("Id", "t", get_id, 0, CONST)                            \
        P("Kind", "s", get_kind, 0, CONST)                        \
        P("Group", "u", get_group, 0, CONST)                      \
        P("Devices", "as", get_devices, 0, CONST)                 \
        P("Holder", "s", get_holder, LEASE_CHANGED, EMITS_CHANGE) \
        P("Owner", "s", get_owner, 0, CONST)                      \
        P("Uid", "u", get_uid, 0, CONST)                          \
        P("Pid", "u", get_pid, 0, CONST)                          \
        P("State", "s", get_state, LEASE_CHANGED, EMITS_CHANGE)   \
        P("Reason", "s", get_reason, LEASE_CHANGED, EMITS_CHANGE) \
        P("Persistent", "b", get_persistent, 0, CONST)            \
        P("Backend", "s", get_backend, 0, CONST)                  \
        P("Holders", "a(us)", get_holders, LEASE_CHANGED, EMITS_CHANGE)

const BusProperty lease_properties[] = { LEASE_PROPERTIES(BUS_PROPERTY_ROW) {} };

/* The property rows are a macro list, not an expression: clang-format would indent them. */
/* clang-format off */
const sd_bus_vtable lease_vtable[] = {
        SD_BUS_VTABLE_START(0),
        LEASE_PROPERTIES(BUS_PROPERTY_VTABLE)
        SD_BUS_METHOD_WITH_ARGS("OpenContainer", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", container),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenGroup", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", group), bus_method_trampoline,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenDevice", SD_BUS_ARGS("s", address), SD_BUS_RESULT("h", device),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenIommufd", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", iommufd),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenCdev", SD_BUS_ARGS("s", address), SD_BUS_RESULT("h", cdev),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GrantAccess", SD_BUS_ARGS("u", uid, "a{sv}", options), SD_BUS_NO_RESULT,
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, bus_method_trampoline,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AllocateMemory", SD_BUS_ARGS("t", size, "a{sv}", options),
                                SD_BUS_RESULT("h", memfd, "o", region), bus_method_trampoline,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
/* clang-format on */
