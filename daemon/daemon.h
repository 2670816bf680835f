/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "leases.h"
#include "model.h"
#include "policy.h"
#include "fdstore.h"
#include "polkit.h"

/* The running daemon: the model, the leases, the policy, and the bus it is served on. Shared by
 * the *-bus.c glue. */
typedef struct Daemon {
        sd_event *event;
        sd_bus *bus;
        char bus_id[33];          /* org.freedesktop.DBus.GetId, for holder identities */
        FdStore *stored;          /* at start: the leases' fds systemd kept for us */
        Model *model;
        LeaseSet *leases;        /* NULL in --bus-introspect */
        Policy *policy;
        char **policy_errors;    /* why the last reload failed (the previous policy stays) */
        char **policy_dirs;
        PolkitRegistry *polkit;
        sd_event_source *settle;  /* re-reads what the kernel had not finished (model_settle()) */
        unsigned settle_attempt;
        sd_event_source *stuck_timer;   /* retries stuck groups */
        unsigned close_attempt;         /* checks since the last close of a /dev/vfio/N */
        int inotify_fd;                 /* closes of /dev/vfio/N that stuck groups wait for */
        sd_event_source *inotify_source;
} Daemon;


/* The policy files are read again; a bad file keeps the policy in force. Returns 0 when the new
 * policy is in force. Emits PropertiesChanged for PolicyError/PolicyFiles. */
int daemon_reload_policy(Daemon *d);

/* One property of a bus object. Each *-bus.c lists its properties once, as an X-macro of
 * (name, signature, getter, change bit, flags), and expands that list into its BusProperty table
 * and into its vtable: PropertiesChanged names come from the table. */
typedef struct BusProperty {
        const char *name;
        const char *signature;
        sd_bus_property_get_t get;
        uint32_t change;        /* the model's *_CHANGED_* bit announcing it; 0: none */
        uint64_t flags;         /* SD_BUS_VTABLE_PROPERTY_CONST or _EMITS_CHANGE */
} BusProperty;
#define BUS_PROPERTY_ROW(name, sig, get, change, flags) \
        { name, sig, get, change, SD_BUS_VTABLE_PROPERTY_##flags },
#define BUS_PROPERTY_VTABLE(name, sig, get, change, flags) \
        SD_BUS_PROPERTY(name, sig, get, 0, SD_BUS_VTABLE_PROPERTY_##flags),

/* Defines fn, the getter of a property of a `type`: it appends `value`, computed from `o`. */
#define BUS_GETTER(fn, type, sig, value)                                                                 \
        static int fn(sd_bus *bus, const char *path, const char *interface, const char *property,       \
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {                     \
                const type *o = userdata;                                                               \
                return sd_bus_message_append(reply, sig, value);                                        \
        }

/* The tables, each ended by an entry without a name. */
extern const BusProperty manager_properties[], group_properties[], device_properties[], lease_properties[];

/* manager-bus.c */
extern const sd_bus_vtable manager_vtable[];
int bus_register_objects(Daemon *d);
/* Turns model changes into InterfacesAdded/Removed and PropertiesChanged. */
int bus_emit_changes(Daemon *d, const ChangeList *changes);
/* PropertiesChanged for every property of the table whose change bit is in mask. */
int bus_emit_properties_changed(sd_bus *bus, const char *path, const char *interface, const BusProperty *props,
                                uint32_t mask);

/* group-bus.c, device-bus.c */
extern const sd_bus_vtable group_vtable[];
extern const sd_bus_vtable device_vtable[];
int group_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                   sd_bus_error *error);
int group_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error);
int device_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                    sd_bus_error *error);
int device_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error);
int group_object_path(uint32_t id, char **ret);
int device_object_path(const char *address, char **ret);

/* lease-bus.c */
extern const sd_bus_vtable lease_vtable[];
int lease_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                   sd_bus_error *error);
int lease_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error);
int lease_object_path(uint64_t id, char **ret);
/* Every lease served on the bus has its bus side attached (Lease.bus_data). */
typedef struct LeaseBus LeaseBus;
LeaseBus *lease_bus_attach(Daemon *d, Lease *l);
/* Starts watching a claim's holder on the bus; when it goes, on_holder_exit applies. */
int lease_bus_track(Daemon *d, Lease *l);
/* Frees the bus side of a lease (before the lease itself goes). */
void lease_bus_forget(Lease *l);
/* A lease that is stuck because another process holds its group is retried as soon as that
 * process closes the group (and now, when it already has). */
void lease_bus_wait_for_close(Daemon *d, Lease *l);
/* The stuck leases are looked at now rather than at the next periodic check. */
void lease_bus_kick_stuck(Daemon *d);
/* Releases a lease and emits the signals; the lease is gone on success. */
int lease_bus_release(Daemon *d, Lease *l, sd_bus_error *error);
int lease_bus_emit_added(Daemon *d, const Lease *l);
int lease_bus_emit_changed(Daemon *d, const Lease *l);

/* access-bus.c: the one authorisation chokepoint. */
typedef struct BusAccess {
        const char *interface;
        const char *member;
        const char *action;      /* polkit action, NULL = free (read-only) */
} BusAccess;
extern const BusAccess bus_access_table[];
const BusAccess *bus_access_find(const char *interface, const char *member);
/* 1: authorised, 0: asked polkit (return 1 from the handler), <0: denied (error set). Unknown
 * members are denied. */
int bus_authorize(Daemon *d, sd_bus_message *m, char *const *details, sd_bus_error *error);
/* The same, judged as the table's entry for iface.member instead of the message's own (one act
 * reached through two methods needs one action). */
int bus_authorize_as(Daemon *d, sd_bus_message *m, const char *iface, const char *member, char *const *details,
                     sd_bus_error *error);

/* The same for org.vfioassign1.manage, for what a method does only for administrators (an
 * option of a method free to call). */
int bus_authorize_manage(Daemon *d, sd_bus_message *m, char *const *details, sd_bus_error *error);

/* polkit details for a group: "group", and its first assignable member's "address" and
 * "vendor" when it has one. */
typedef struct BusGroupDetails {
        char group[16], vendor[8];
        char *list[7];
} BusGroupDetails;
char **bus_group_details(Daemon *d, uint32_t group, BusGroupDetails *gd);

typedef struct BusCaller {
        uint32_t uid, pid;
        const char *unique_name;
        char *user;
        char **groups;
} BusCaller;
int bus_caller(sd_bus_message *m, BusCaller *ret);
void bus_caller_clear(BusCaller *c);
/* Whether the policy gives IOMMU group to the user c (uid, user, groups) as it would to a claim
 * of its own: 0, or the error a claim would get (PolicyDenied, HostCritical, ...). */
int bus_policy_check_user(Daemon *d, uint32_t group, const BusCaller *c, sd_bus_error *error);

/* "uid 1000 (alice), pid 4242, :1.17" for the log: who asked. */
char *bus_caller_describe(sd_bus_message *m);

/* errors.c */
#define BUS_ERROR_NO_SUCH_DEVICE "org.vfioassign1.Error.NoSuchDevice"
#define BUS_ERROR_NO_SUCH_GROUP "org.vfioassign1.Error.NoSuchGroup"
#define BUS_ERROR_INVALID_ARGUMENT "org.vfioassign1.Error.InvalidArgument"
#define BUS_ERROR_POLICY_DENIED "org.vfioassign1.Error.PolicyDenied"
#define BUS_ERROR_IR_REQUIRED "org.vfioassign1.Error.InterruptRemappingRequired"
#define BUS_ERROR_HOST_CRITICAL "org.vfioassign1.Error.HostCritical"
#define BUS_ERROR_RMRR_LOCKED "org.vfioassign1.Error.RmrrLocked"
#define BUS_ERROR_NOT_ASSIGNABLE "org.vfioassign1.Error.NotAssignable"
#define BUS_ERROR_BIND_FAILED "org.vfioassign1.Error.BindFailed"
#define BUS_ERROR_GROUP_NOT_VIABLE "org.vfioassign1.Error.GroupNotViable"
#define BUS_ERROR_BUSY "org.vfioassign1.Error.Busy"
#define BUS_ERROR_STUCK "org.vfioassign1.Error.Stuck"
#define BUS_ERROR_NO_SUCH_LEASE "org.vfioassign1.Error.NoSuchLease"
#define BUS_ERROR_NOT_HOLDER "org.vfioassign1.Error.NotHolder"
#define BUS_ERROR_POLICY_INVALID "org.vfioassign1.Error.PolicyInvalid"
#define BUS_ERROR_FAILED "org.vfioassign1.Error.Failed"
#define BUS_ERROR_VFIO_FAILED "org.vfioassign1.Error.VfioFailed"
#define BUS_ERROR_STATE_FAILED "org.vfioassign1.Error.StateFailed"
#define BUS_ERROR_NOT_ACTIVE "org.vfioassign1.Error.NotActive"
#define BUS_ERROR_NO_SUCH_USER "org.vfioassign1.Error.NoSuchUser"
#define BUS_ERROR_NOT_CLAIMED "org.vfioassign1.Error.NotClaimed"
int bus_errors_register(void);
