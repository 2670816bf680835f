/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bus glue: what the *-bus.c files share, and what the manager calls to tell the bus. */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "manager.h"

/* One property of a bus object. Each *-bus.c lists its properties once, as an X-macro of
 * (name, signature, getter, change bit, flags), and expands that list into its BusProperty table
 * and into its vtable: PropertiesChanged names come from the table. */
typedef struct BusProperty {
        const char *name;
        const char *signature;
        sd_bus_property_get_t get;
        uint32_t change; /* the model's *_CHANGED_* bit announcing it; 0: none */
        uint64_t flags;  /* BUS_PROPERTY_{CONST,EMITS_CHANGE,EXPLICIT} */
} BusProperty;
/* The flags a row names: CONST, EMITS_CHANGE, VOLATILE, or EXPLICIT for a property left out of GetAll,
 * GetManagedObjects and InterfacesAdded (sd-bus's SD_BUS_VTABLE_PROPERTY_EXPLICIT): Get answers
 * it, and PropertiesChanged names it among the invalidated ones when it changes (sd-bus refuses
 * EXPLICIT with EMITS_CHANGE); CONST_EXPLICIT for one left out that never changes. Devices and
 * groups keep their bulky, rarely read properties explicit: GetManagedObjects of a large host
 * stays within BUS_OBJECTS_BYTES_PER_DEVICE. */
#define BUS_PROPERTY_CONST SD_BUS_VTABLE_PROPERTY_CONST
#define BUS_PROPERTY_EMITS_CHANGE SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define BUS_PROPERTY_VOLATILE 0 /* changes without a signal: read it when needed */
#define BUS_PROPERTY_EXPLICIT \
        (SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION | SD_BUS_VTABLE_PROPERTY_EXPLICIT)
#define BUS_PROPERTY_CONST_EXPLICIT (SD_BUS_VTABLE_PROPERTY_CONST | SD_BUS_VTABLE_PROPERTY_EXPLICIT)
#define BUS_PROPERTY_ROW(name, sig, get, change, flags) \
        { name, sig, get, change, BUS_PROPERTY_##flags },
#define BUS_PROPERTY_VTABLE(name, sig, get, change, flags) \
        SD_BUS_PROPERTY(name, sig, get, 0, BUS_PROPERTY_##flags),

/* Defines fn, the getter of a property of a `type`: it appends `value`, computed from `o`. */
#define BUS_GETTER(fn, type, sig, value)                                                          \
        static int fn(sd_bus *bus, const char *path, const char *interface, const char *property, \
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {               \
                const type *o = userdata;                                                         \
                return sd_bus_message_append(reply, sig, value);                                  \
        }

/* Changes that are no model change: a group's running job (above the model's GROUP_CHANGED_*
 * bits), and the manager's own properties. */
#define GROUP_CHANGED_JOB (1u << 31)
enum {
        MANAGER_CHANGED_HOST = 1u << 0,
        MANAGER_CHANGED_POLICY = 1u << 1,
};

/* The tables, each ended by an entry without a name. */
extern const BusProperty manager_properties[], group_properties[], device_properties[],
        lease_properties[], region_properties[];

/* manager-bus.c */
extern const sd_bus_vtable manager_vtable[];
int bus_register_objects(Manager *d);
/* The daemon on the system bus: its errors, objects and name (a second instance finds the name
 * taken and exits, -EEXIST), the bus id for holders, an exit of the loop (-ENOTCONN) when the
 * bus goes, the callers' record (d->peers) and polkit's registry (d->polkit). Sets d->bus; logs
 * what failed. */
int manager_bus_open(Manager *d, sd_bus **ret);
/* Gives the memory of large replies (GetManagedObjects, GetHostReport, ...) back to the system
 * once they have been sent: a post source of event, armed by a filter on bus. The filter uses the
 * source: unref the filter's slot first. */
int bus_trim_after_large_replies(sd_bus *bus, sd_event *event, sd_event_source **ret_source,
                                 sd_bus_slot **ret_filter);
/* Turns model changes into InterfacesAdded/Removed and PropertiesChanged. */
int bus_emit_changes(Manager *d, const ChangeList *changes);
/* What the manager tells the bus. */
void manager_bus_send_policy_changed(Manager *d);
void manager_bus_send_host_changed(Manager *d);
void manager_bus_send_driver_reverted(Manager *d, const char *address, const char *driver,
                                      uint32_t group, const char *message);
void group_bus_send_job_changed(Manager *d, uint32_t group);
/* Replies to a method call kept for a job (userdata: the message, whose reference is dropped). */
void bus_reply_lease_path(void *userdata, const Lease *l, const LeaseError *err);
void bus_reply_empty(void *userdata, const Lease *l, const LeaseError *err);
/* PropertiesChanged for every property of the table whose change bit is in mask. */
int bus_emit_properties_changed(sd_bus *bus, const char *path, const char *interface,
                                const BusProperty *props, uint32_t mask);

/* group-bus.c, device-bus.c */
extern const sd_bus_vtable group_vtable[];
extern const sd_bus_vtable device_vtable[];
int group_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                   void **found, sd_bus_error *error);
int group_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                        sd_bus_error *error);
int device_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error);
int device_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                         sd_bus_error *error);
int group_object_path(uint32_t id, char **ret);
int device_object_path(const char *address, char **ret);

/* lease-bus.c */
extern const sd_bus_vtable lease_vtable[];
int lease_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                   void **found, sd_bus_error *error);
int lease_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                        sd_bus_error *error);
int lease_object_path(uint64_t id, char **ret);
/* Every lease served on the bus has its bus side attached (Lease.bus_data). */
typedef struct LeaseBus LeaseBus;
LeaseBus *lease_bus_attach(Manager *d, Lease *l);
/* Starts watching a claim's holder on the bus; when it goes, manager_holder_gone(). */
int lease_bus_track(Manager *d, Lease *l);
/* Frees the bus side of a lease (before the lease itself goes), or of one already gone. */
void lease_bus_forget(Lease *l);
void lease_bus_free(LeaseBus *b);
int lease_bus_emit_added(Manager *d, const Lease *l);
int lease_bus_emit_changed(Manager *d, const Lease *l);
int lease_bus_emit_removed(Manager *d, uint64_t id);

/* region-bus.c */
extern const sd_bus_vtable region_vtable[];
int region_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error);
int region_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                         sd_bus_error *error);
int region_object_path(uint64_t id, char **ret);
int region_bus_emit_added(Manager *d, const Region *r);
int region_bus_emit_changed(Manager *d, const Region *r);
int region_bus_emit_removed(Manager *d, const Region *r);

/* InterfacesRemoved for an object the daemon no longer serves (sd_bus_emit_object_removed()
 * needs it still there to list its interfaces). */
int bus_emit_interfaces_removed(Manager *d, const char *path, const char *interface);

/* Options are a{sv}, read by bus_read_options(): each key goes to fn, which reads its variant
 * and returns 0, -ENOKEY for a key it does not take, or an error (when it set none in error: the
 * variant had the wrong type). Unknown keys are refused, so that clients notice what the daemon
 * does not support; the error names the key. */
typedef int (*BusOptionFn)(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error);
int bus_read_options(sd_bus_message *m, BusOptionFn fn, void *userdata, sd_bus_error *error);
/* Refuses any option: for methods that take none yet. */
int bus_read_no_options(sd_bus_message *m, sd_bus_error *error);

/* access-bus.c: the one authorisation chokepoint. Every method of every vtable is
 * bus_method_trampoline(): it finds the method's row in bus_access_table, refuses a member
 * without one, asks polkit for the row's action and only then runs the row's handler. The handler
 * cannot skip the check, and a method without a row cannot be called. */

/* What one call needs authorised, as the row says and its inspect hook refines it. */
typedef struct BusAuth {
        const char *action; /* the polkit action to ask for; NULL: nothing to ask */
        bool about_group;   /* polkit's details are those of group */
        uint32_t group;
} BusAuth;

/* A row's handler: an sd-bus method handler, run once the call is authorised. */
typedef int bus_method_fn(sd_bus_message *m, void *userdata, sd_bus_error *error);
/* A row's inspect hook: reads what authorisation depends on (the arguments, the object) into
 * auth, whose action starts as the row's. Runs before polkit is asked, again when the message
 * comes back with polkit's answer, and its errors are the handler's own for the same
 * arguments. object: the vtable's userdata (the manager, a lease). */
typedef int bus_inspect_fn(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                           sd_bus_error *error);

typedef struct BusAccess {
        const char *interface;
        const char *member;
        const char *action; /* polkit action, NULL = free (reads only) */
        bus_method_fn *handler;
        bus_inspect_fn *inspect; /* NULL: the row's action, no details */
} BusAccess;
extern const BusAccess bus_access_table[];
const BusAccess *bus_access_find(const char *interface, const char *member);
/* The handler of every vtable method. Finds the manager in the vtable's registration (each is
 * registered with the Manager as its userdata, see bus_register_objects()). */
int bus_method_trampoline(sd_bus_message *m, void *userdata, sd_bus_error *error);

/* The rows' handlers and inspect hooks (manager-bus.c, lease-bus.c). */
bus_method_fn manager_method_list_groups, manager_method_list_devices,
        manager_method_get_host_report, manager_method_list_leases, manager_method_get_policy,
        manager_method_explain_policy, manager_method_claim_group, manager_method_claim_device,
        manager_method_prepare, manager_method_unprepare, manager_method_reload_policy,
        manager_method_set_num_vfs, manager_method_accept_identity, manager_method_find_lease,
        manager_method_release_by_owner;
bus_inspect_fn manager_inspect_explain_policy, manager_inspect_claim_group,
        manager_inspect_claim_device, manager_inspect_prepare, manager_inspect_unprepare,
        manager_inspect_reload_policy, manager_inspect_set_num_vfs, manager_inspect_accept_identity,
        manager_inspect_release_by_owner;
bus_method_fn lease_method_open_container, lease_method_open_group, lease_method_open_device,
        lease_method_open_iommufd, lease_method_open_cdev, lease_method_grant_access,
        lease_method_release, lease_method_allocate_memory, region_method_release;
bus_inspect_fn lease_inspect, region_inspect;
/* The manager a method call was registered with (every vtable's slot keeps it). */
Manager *bus_current_manager(sd_bus_message *m);

int bus_caller(Manager *d, sd_bus_message *m, BusCaller *ret);
void bus_caller_clear(BusCaller *c);
/* The uid and pid of the process that owns a bus name now, as the bus recorded them. */
int bus_name_owner(Manager *d, const char *name, uint32_t *ret_uid, uint32_t *ret_pid);

/* "uid 1000 (alice), pid 4242, :1.17" for the log: who asked. */
char *bus_caller_describe(Manager *d, sd_bus_message *m);

/* errors.c. The names the glue sets itself, from the catalogue (common/errors.h). */
#define BUS_ERROR_NO_SUCH_DEVICE va_error_name(VA_ERROR_NO_SUCH_DEVICE)
#define BUS_ERROR_NO_SUCH_GROUP va_error_name(VA_ERROR_NO_SUCH_GROUP)
#define BUS_ERROR_INVALID_ARGUMENT va_error_name(VA_ERROR_INVALID_ARGUMENT)
#define BUS_ERROR_POLICY_DENIED va_error_name(VA_ERROR_POLICY_DENIED)
#define BUS_ERROR_IR_REQUIRED va_error_name(VA_ERROR_IR_REQUIRED)
#define BUS_ERROR_HOST_CRITICAL va_error_name(VA_ERROR_HOST_CRITICAL)
#define BUS_ERROR_RMRR_LOCKED va_error_name(VA_ERROR_RMRR_LOCKED)
#define BUS_ERROR_NOT_ASSIGNABLE va_error_name(VA_ERROR_NOT_ASSIGNABLE)
#define BUS_ERROR_NO_SUCH_LEASE va_error_name(VA_ERROR_NO_SUCH_LEASE)
#define BUS_ERROR_POLICY_INVALID va_error_name(VA_ERROR_POLICY_INVALID)
#define BUS_ERROR_FAILED va_error_name(VA_ERROR_FAILED)
#define BUS_ERROR_STATE_FAILED va_error_name(VA_ERROR_STATE_FAILED)
#define BUS_ERROR_NO_SUCH_USER va_error_name(VA_ERROR_NO_SUCH_USER)
/* Adds the catalogue's errnos to sd-bus's, for sd_bus_error_setf()'s return and for clients. */
int bus_errors_register(void);
/* Sets error from the LeaseError of the lease operation that failed with k (its strerror() when err
 * has no message). */
int bus_error_set_lease(sd_bus_error *error, const LeaseError *err, int k);
/* A handler that queued a job: refused at once (k < 0: the error from err, cleared), or the
 * call is kept (one more reference on m) for the job's reply; the handler's return value. */
int bus_reply_after_job(sd_bus_message *m, int k, LeaseError *err, sd_bus_error *error);
