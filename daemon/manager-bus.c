/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>

#include "daemon.h"
#include "fdstore.h"
#include "log.h"
#include "explain.h"
#include "json-util.h"
#include "userdb.h"
#include "names.h"
#include "util.h"

int manager_method_list_groups(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *d = userdata;
        const Topology *t = d->model->topology;
        int k;

        k = sd_bus_message_new_method_return(m, &reply);
        if (k < 0)
                return k;
        k = sd_bus_message_open_container(reply, 'a', "(uobas)");
        if (k < 0)
                return k;
        for (size_t i = 0; i < t->n_groups; i++) {
                const Group *g = t->groups[i];
                _cleanup_free_ char *path = NULL;

                k = group_object_path(g->id, &path);
                if (k < 0)
                        return k;
                k = sd_bus_message_open_container(reply, 'r', "uobas");
                if (k < 0)
                        return k;
                k = sd_bus_message_append(reply, "uob", g->id, path, (int) g->assignable);
                if (k < 0)
                        return k;
                k = sd_bus_message_append_strv(reply, g->devices);
                if (k < 0)
                        return k;
                k = sd_bus_message_close_container(reply);
                if (k < 0)
                        return k;
        }
        k = sd_bus_message_close_container(reply);
        if (k < 0)
                return k;
        return sd_bus_send(NULL, reply, NULL);
}

int manager_method_list_devices(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *d = userdata;
        const Topology *t = d->model->topology;
        int k;

        k = sd_bus_message_new_method_return(m, &reply);
        if (k < 0)
                return k;
        k = sd_bus_message_open_container(reply, 'a', "(sosi)");
        if (k < 0)
                return k;
        for (size_t i = 0; i < t->n_devices; i++) {
                const Device *dev = t->devices[i];
                _cleanup_free_ char *path = NULL;

                k = device_object_path(dev->address, &path);
                if (k < 0)
                        return k;
                k = sd_bus_message_append(reply, "(sosi)", dev->address, path,
                                          strempty(dev->driver),
                                          (int32_t) (dev->group >= 0 ? dev->group : -1));
                if (k < 0)
                        return k;
        }
        k = sd_bus_message_close_container(reply);
        if (k < 0)
                return k;
        return sd_bus_send(NULL, reply, NULL);
}

int manager_method_get_host_report(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *d = userdata;
        _cleanup_free_ char *json = NULL;
        int k;

        k = manager_host_report(d, &json);
        if (k < 0)
                return k;
        /* Everything in it is UTF-8 but what sysfs and the ACPI tables quote; the bus must get
         * UTF-8 or the call gets no answer. */
        utf8_sanitize(json);
        return sd_bus_reply_method_return(m, "s", json);
}

/* A claim's vf_mac (s), vf_vlan (u), vf_qos (u), vf_spoofchk (b), vf_trust (b): the settings of
 * the group's VF (vfnet.h), checked here as far as the values go. */
static int read_vf_net_option(sd_bus_message *m, const char *key, VfNetConfig *c,
                              sd_bus_error *error) {
        const char *mac;
        uint32_t u;
        int b, k;

        if (streq(key, "vf_mac")) {
                k = sd_bus_message_read(m, "v", "s", &mac);
                if (k < 0)
                        return k;
                if (vfnet_parse_mac(mac, c->mac) < 0)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                 "vf_mac \"%.*s\" is not a unicast MAC address "
                                                 "like 52:54:00:12:34:56",
                                                 utf8_prefix_len(mac, 32), mac);
                c->set_mac = true;
        } else if (streq(key, "vf_vlan") || streq(key, "vf_qos")) {
                k = sd_bus_message_read(m, "v", "u", &u);
                if (k < 0)
                        return k;
                if (u > (streq(key, "vf_vlan") ? 4095u : 7u))
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                 "%s %" PRIu32 " is out of range (%s)", key, u,
                                                 streq(key, "vf_vlan") ? "0 to 4095" : "0 to 7");
                if (streq(key, "vf_vlan"))
                        c->vlan = (uint16_t) u;
                else
                        c->qos = (uint8_t) u;
                c->set_vlan = true;
        } else if (streq(key, "vf_spoofchk") || streq(key, "vf_trust")) {
                k = sd_bus_message_read(m, "v", "b", &b);
                if (k < 0)
                        return k;
                *(streq(key, "vf_trust") ? &c->trust : &c->spoofchk) = !!b;
        } else
                return -ENOKEY;
        return 0;
}

/* Which options a call takes: a claim's, a prepare's (both take owner), or neither. */
typedef enum CallKind {
        CALL_OTHER,
        CALL_CLAIM,
        CALL_PREPARE,
} CallKind;

/* What the mutators' options may say; NULL: that key is not the call's. */
typedef struct CallOptions {
        CallKind kind;
        AcquireOptions *acquire; /* claims and prepares */
        const char **user;       /* ExplainPolicy */
} CallOptions;

static int read_call_option(sd_bus_message *m, const char *key, void *userdata,
                            sd_bus_error *error) {
        CallOptions *o = userdata;
        AcquireOptions *a = o->acquire;
        int b, k;

        if (o->user && streq(key, "user"))
                return sd_bus_message_read(m, "v", "s", o->user);
        if (o->kind == CALL_OTHER)
                return -ENOKEY;
        if (streq(key, "owner")) {
                k = sd_bus_message_read(m, "v", "s", &a->owner);
                if (k < 0)
                        return k;
                if (!lease_owner_is_valid(a->owner))
                        return sd_bus_error_setf(
                                error, BUS_ERROR_INVALID_ARGUMENT,
                                "owner \"%.*s\" is not an owner key: 1 to %d printable ASCII "
                                "characters without spaces, like k8s:claim/UID",
                                utf8_prefix_len(a->owner, 32), a->owner, LEASE_OWNER_MAX);
                return 0;
        }
        if (o->kind == CALL_PREPARE && streq(key, "persistent")) {
                k = sd_bus_message_read(m, "v", "b", &b);
                a->persistent = b;
                return k;
        }
        if (o->kind != CALL_CLAIM)
                return -ENOKEY;
        if (streq(key, "backend"))
                return sd_bus_message_read(m, "v", "s", &a->backend);
        if (streq(key, "memlock"))
                return sd_bus_message_read(m, "v", "t", &a->memlock);
        if (strneq(key, "vf_", 3)) {
                k = read_vf_net_option(m, key, &a->vf_net, error);
                if (k >= 0)
                        a->vf_net_set = true;
                return k;
        }
        return -ENOKEY;
}

/* ret_acquire: a claim's or a prepare's options (kind), else NULL. */
static int read_options(sd_bus_message *m, CallKind kind, AcquireOptions *ret_acquire,
                        const char **ret_user, sd_bus_error *error) {
        CallOptions o = { .kind = ret_acquire ? kind : CALL_OTHER,
                          .acquire = ret_acquire,
                          .user = ret_user };

        if (ret_user)
                *ret_user = NULL;
        if (ret_acquire)
                *ret_acquire = (AcquireOptions) { .vf_net = VF_NET_CONFIG_NONE };
        return bus_read_options(m, read_call_option, &o, error);
}

static int find_device_group(Manager *d, const char *address, const Group **ret,
                             sd_bus_error *error) {
        const Device *dev;
        const Group *g;

        if (!pci_address_is_canonical(address))
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "\"%.*s\" is not a PCI address like 0000:03:01.0",
                                         utf8_prefix_len(address, 32), address);
        dev = topology_find_device(d->model->topology, address);
        if (!dev)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE, "No PCI device %s",
                                         address);
        g = dev->group >= 0 ? topology_find_group(d->model->topology, (uint32_t) dev->group) : NULL;
        if (!g)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_GROUP, "%s is in no IOMMU group",
                                         address);
        *ret = g;
        return 0;
}

/* A job's end, for a method call kept until then. */
static void reply_job(sd_bus_message *m, const Lease *l, const LeaseError *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;

        if (err)
                (void) bus_error_set_lease(&error, err, err->error ?: -EIO);
        else if (l && lease_object_path(l->id, &path) < 0)
                (void) sd_bus_error_set_errno(&error, -ENOMEM);
        if (sd_bus_error_is_set(&error))
                (void) sd_bus_reply_method_error(m, &error);
        else if (path)
                (void) sd_bus_reply_method_return(m, "o", path);
        else
                (void) sd_bus_reply_method_return(m, NULL);
        sd_bus_message_unref(m);
}

void bus_reply_lease_path(void *userdata, const Lease *l, const LeaseError *err) {
        reply_job(userdata, l, err);
}

void bus_reply_empty(void *userdata, const Lease *l, const LeaseError *err) {
        reply_job(userdata, NULL, err);
}

/* The call is the manager's; the reply waits for its job. */
static int acquire(sd_bus_message *m, Manager *d, const Group *g, LeaseKind kind,
                   const AcquireOptions *o, sd_bus_error *error) {
        _cleanup_(bus_caller_clear) BusCaller caller = {};
        LeaseError err = {};
        int k;

        k = bus_caller(d, m, &caller);
        if (k < 0)
                return sd_bus_error_setf(error, BUS_ERROR_FAILED, "Cannot identify the caller: %s",
                                         strerror(-k));
        k = manager_acquire(d, kind, g->id, o, &caller, bus_reply_lease_path, m, &err);
        return bus_reply_after_job(m, k, &err, error);
}

/* The polkit details of a call are those of the group it acts on. */
static int about_group(BusAuth *auth, const Group *g) {
        auth->about_group = true;
        auth->group = g->id;
        return 0;
}

/* ClaimGroup's (u group, a{sv} options). */
static int read_group_call(sd_bus_message *m, Manager *d, const Group **ret_group,
                           AcquireOptions *ret_claim, sd_bus_error *error) {
        const Group *g;
        uint32_t id;
        int k;

        k = sd_bus_message_read(m, "u", &id);
        if (k < 0)
                return k;
        k = read_options(m, CALL_CLAIM, ret_claim, NULL, error);
        if (k < 0)
                return k;
        g = topology_find_group(d->model->topology, id);
        if (!g)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_GROUP,
                                         "IOMMU group %" PRIu32 " does not exist", id);
        *ret_group = g;
        return 0;
}

int manager_inspect_claim_group(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                                sd_bus_error *error) {
        AcquireOptions o;
        const Group *g = NULL;
        int k = read_group_call(m, d, &g, &o, error);

        return k < 0 ? k : about_group(auth, g);
}

int manager_method_claim_group(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *d = userdata;
        AcquireOptions o;
        const Group *g = NULL;
        int k;

        k = read_group_call(m, d, &g, &o, error);
        if (k < 0)
                return k;
        return acquire(m, d, g, LEASE_CLAIM, &o, error);
}

/* The (s address, a{sv} options) arguments of the device-addressed mutators, resolved to the
 * device's group: ret_acquire gets a claim's or a prepare's options (kind), NULL: none taken. */
static int read_address_call(sd_bus_message *m, Manager *d, CallKind kind,
                             AcquireOptions *ret_acquire, const char **ret_address,
                             const Group **ret_group, sd_bus_error *error) {
        const char *address;
        int k;

        k = sd_bus_message_read(m, "s", &address);
        if (k < 0)
                return k;
        k = read_options(m, kind, ret_acquire, NULL, error);
        if (k < 0)
                return k;
        k = find_device_group(d, address, ret_group, error);
        if (k < 0)
                return k;
        if (ret_address)
                *ret_address = address;
        return 0;
}

int manager_inspect_claim_device(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                                 sd_bus_error *error) {
        AcquireOptions o;
        const Group *g = NULL;
        int k = read_address_call(m, d, CALL_CLAIM, &o, NULL, &g, error);

        return k < 0 ? k : about_group(auth, g);
}

int manager_method_claim_device(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *d = userdata;
        AcquireOptions o;
        const Group *g = NULL;
        int k;

        k = read_address_call(m, d, CALL_CLAIM, &o, NULL, &g, error);
        if (k < 0)
                return k;
        return acquire(m, d, g, LEASE_CLAIM, &o, error);
}

int manager_inspect_prepare(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                            sd_bus_error *error) {
        AcquireOptions o;
        const Group *g;
        int k;

        k = read_address_call(m, d, CALL_PREPARE, &o, NULL, &g, error);
        return k < 0 ? k : about_group(auth, g);
}

int manager_method_prepare(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *d = userdata;
        AcquireOptions o;
        const Group *g;
        int k;

        k = read_address_call(m, d, CALL_PREPARE, &o, NULL, &g, error);
        if (k < 0)
                return k;
        return acquire(m, d, g, LEASE_PREPARE, &o, error);
}

/* Unprepare's (s address, a{sv} options), resolved to the prepare of the device's group. */
static int read_unprepare_call(sd_bus_message *m, Manager *d, Lease **ret, sd_bus_error *error) {
        const char *address;
        const Group *g;
        Lease *l;
        int k;

        k = read_address_call(m, d, CALL_OTHER, NULL, &address, &g, error);
        if (k < 0)
                return k;
        l = lease_set_find_group(d->leases, g->id);
        if (!l || l->kind != LEASE_PREPARE)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_LEASE,
                                         "IOMMU group %" PRIu32 " of %s is not prepared%s", g->id,
                                         address, l ? " (it is claimed)" : "");
        *ret = l;
        return 0;
}

int manager_inspect_unprepare(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                              sd_bus_error *error) {
        Lease *l;
        int k = read_unprepare_call(m, d, &l, error);

        if (k < 0)
                return k;
        auth->about_group = true;
        auth->group = l->group;
        return 0;
}

int manager_method_unprepare(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *who = NULL;
        Manager *d = userdata;
        Lease *l;
        int k;

        k = read_unprepare_call(m, d, &l, error);
        if (k < 0)
                return k;
        who = bus_caller_describe(d, m);
        k = manager_release(d, l, who, bus_reply_empty, m);
        if (k < 0)
                return k;
        sd_bus_message_ref(m); /* until the job's reply */
        return 1;
}

/* The owner key argument of FindLease and ReleaseByOwner, and its leases. NoSuchLease when it has
 * none. */
static int read_owner_call(sd_bus_message *m, Manager *d, bool options, const char **ret_owner,
                           Lease ***ret_leases, size_t *ret_n, sd_bus_error *error) {
        const char *owner;
        int k;

        k = sd_bus_message_read(m, "s", &owner);
        if (k < 0)
                return k;
        if (options) {
                k = bus_read_no_options(m, error);
                if (k < 0)
                        return k;
        }
        if (!lease_owner_is_valid(owner))
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "\"%.*s\" is not an owner key", utf8_prefix_len(owner, 32),
                                         owner);
        k = manager_find_owner(d, owner, ret_leases, ret_n);
        if (k < 0)
                return k;
        if (*ret_n == 0)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_LEASE,
                                         "No lease has the owner key \"%s\"", owner);
        if (ret_owner)
                *ret_owner = owner;
        return 0;
}

/* FindLease(s owner) -> o: the key's lease. A key that holds several (a libvirt domain with two
 * groups) names them all, each lease's Owner property and ReleaseByOwner cover them. */
int manager_method_find_lease(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *path = NULL, *paths = NULL;
        _cleanup_free_ Lease **leases = NULL;
        Manager *d = userdata;
        size_t n;
        int k;

        k = read_owner_call(m, d, false, NULL, &leases, &n, error);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                char *joined;

                if (lease_object_path(leases[i]->id, &p) < 0 ||
                    asprintf(&joined, "%s%s%s", strempty(paths), paths ? ", " : "", p) < 0)
                        return -ENOMEM;
                free(paths);
                paths = joined;
                if (i == 0)
                        path = TAKE_PTR(p);
        }
        if (n > 1)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "The owner key \"%s\" holds %zu leases: %s",
                                         leases[0]->owner, n, paths);
        return sd_bus_reply_method_return(m, "o", path);
}

/* ReleaseByOwner's polkit action is the claim's, or Unprepare's when the key holds a prepare; the
 * details are those of its first group. */
int manager_inspect_release_by_owner(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                                     sd_bus_error *error) {
        _cleanup_free_ Lease **leases = NULL;
        size_t n;
        int k;

        k = read_owner_call(m, d, true, NULL, &leases, &n, error);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++)
                if (leases[i]->kind == LEASE_PREPARE)
                        auth->action = POLKIT_ACTION_PREPARE;
        auth->about_group = true;
        auth->group = leases[0]->group;
        return 0;
}

int manager_method_release_by_owner(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ Lease **leases = NULL;
        _cleanup_free_ char *who = NULL;
        Manager *d = userdata;
        LeaseError err = {};
        const char *owner;
        size_t n;
        int k;

        k = read_owner_call(m, d, true, &owner, &leases, &n, error);
        if (k < 0)
                return k;
        who = bus_caller_describe(d, m);
        k = manager_release_by_owner(d, owner, who, bus_reply_empty, m, &err);
        return bus_reply_after_job(m, k, &err, error);
}

int manager_method_list_leases(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *d = userdata;
        int k;

        k = sd_bus_message_new_method_return(m, &reply);
        if (k < 0)
                return k;
        k = sd_bus_message_open_container(reply, 'a', "(tousssu)");
        if (k < 0)
                return k;
        for (size_t i = 0; d->leases && i < d->leases->n; i++) {
                const Lease *l = d->leases->leases[i];
                _cleanup_free_ char *path = NULL;

                k = lease_object_path(l->id, &path);
                if (k < 0)
                        return k;
                k = sd_bus_message_append(reply, "(tousssu)", l->id, path, l->group,
                                          lease_kind_to_string(l->kind),
                                          lease_state_to_string(l->state), strempty(l->holder),
                                          l->uid);
                if (k < 0)
                        return k;
        }
        k = sd_bus_message_close_container(reply);
        if (k < 0)
                return k;
        return sd_bus_send(NULL, reply, NULL);
}

int manager_inspect_reload_policy(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                                  sd_bus_error *error) {
        return bus_read_no_options(m, error);
}

int manager_method_reload_policy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *d = userdata;
        _cleanup_free_ char *why = NULL;
        int k;

        k = bus_read_no_options(m, error);
        if (k < 0)
                return k;
        k = manager_reload_policy(d);
        if (k < 0) {
                why = manager_policy_errors(d);
                return sd_bus_error_setf(error, BUS_ERROR_POLICY_INVALID,
                                         "The policy was not reloaded, the previous "
                                         "one stays in force: %s",
                                         why ? why : strerror(-k));
        }
        return sd_bus_reply_method_return(m, NULL);
}

/* AcceptIdentity(s address, a{sv} options): no options yet. */
static int read_accept_call(sd_bus_message *m, Manager *d, const char **ret_address,
                            const Device **ret_device, sd_bus_error *error) {
        const char *address;
        int k;

        k = sd_bus_message_read(m, "s", &address);
        if (k < 0)
                return k;
        k = bus_read_no_options(m, error);
        if (k < 0)
                return k;
        if (!pci_address_is_canonical(address))
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "\"%.*s\" is not a PCI address like 0000:03:00.0",
                                         utf8_prefix_len(address, 32), address);
        *ret_address = address;
        *ret_device = topology_find_device(d->model->topology, address);
        return 0;
}

int manager_inspect_accept_identity(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                                    sd_bus_error *error) {
        const char *address;
        const Device *dev;
        int k = read_accept_call(m, d, &address, &dev, error);

        if (k < 0 || !dev || dev->group < 0)
                return k;
        auth->about_group = true;
        auth->group = (uint32_t) dev->group;
        return 0;
}

int manager_method_accept_identity(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *who = NULL;
        Manager *d = userdata;
        LeaseError err = {};
        const char *address;
        const Device *dev;
        int k;

        k = read_accept_call(m, d, &address, &dev, error);
        if (k < 0)
                return k;
        who = bus_caller_describe(d, m);
        k = manager_accept_identity(d, address, strna(who), &err);
        if (k < 0) {
                k = bus_error_set_lease(error, &err, k);
                lease_error_clear(&err);
                return k;
        }
        return sd_bus_reply_method_return(m, NULL);
}

int manager_method_get_policy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(policy_freep) Policy *none = NULL;
        Manager *d = userdata;
        struct json_object *o = NULL, *errs;
        int k;

        /* Without a policy in force: the built-in host settings that still apply to the leases,
         * no rules, and "in_force": false. */
        if (!d->policy) {
                k = policy_new_default(&none);
                if (k < 0)
                        return k;
        }
        k = policy_to_json(d->policy ?: none, &o);
        if (k < 0)
                return k;
        errs = json_object_new_array();
        if (json_add_new(o, "errors", errs) < 0 ||
            json_add_new(o, "in_force", json_object_new_boolean(!!d->policy)) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        for (char **e = d->policy_errors; e && *e; e++)
                json_object_array_add(errs, json_object_new_string(*e));
        k = sd_bus_reply_method_return(m, "s",
                                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return k;
}

/* ExplainPolicy's (s address, a{sv} options), resolved to the device's group. */
static int read_explain_call(sd_bus_message *m, Manager *d, const char **ret_user,
                             const Group **ret_group, sd_bus_error *error) {
        const char *address;
        int k;

        k = sd_bus_message_read(m, "s", &address);
        if (k < 0)
                return k;
        k = read_options(m, CALL_OTHER, NULL, ret_user, error);
        if (k < 0)
                return k;
        return find_device_group(d, address, ret_group, error);
}

/* The caller, and whether the option user names someone else. */
static int explain_caller(Manager *d, sd_bus_message *m, const char *user, BusCaller *ret,
                          bool *ret_other, sd_bus_error *error) {
        int k = bus_caller(d, m, ret);

        if (k < 0)
                return sd_bus_error_setf(error, BUS_ERROR_FAILED, "Cannot identify the caller: %s",
                                         strerror(-k));
        *ret_other = user && !(ret->user && streq(user, ret->user));
        return 0;
}

/* Another user's verdicts, and whether the account exists, are for administrators: asked before
 * the handler looks the name up. */
int manager_inspect_explain_policy(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                                   sd_bus_error *error) {
        _cleanup_(bus_caller_clear) BusCaller caller = {};
        const char *user;
        const Group *g;
        bool other;
        int k;

        /* Without the option, the caller's own verdicts are free, and the bus is not asked who
         * called until the handler asks. */
        k = read_explain_call(m, d, &user, &g, error);
        if (k < 0 || !user)
                return k;
        k = explain_caller(d, m, user, &caller, &other, error);
        if (k < 0 || !other)
                return k;
        auth->action = POLKIT_ACTION_MANAGE;
        return about_group(auth, g);
}

int manager_method_explain_policy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_caller_clear) BusCaller caller = {};
        Manager *d = userdata;
        LeaseError err = {};
        struct json_object *o;
        const char *user;
        const Group *g;
        bool other;
        int k;

        k = read_explain_call(m, d, &user, &g, error);
        if (k < 0)
                return k;
        k = explain_caller(d, m, user, &caller, &other, error);
        if (k < 0)
                return k;
        if (other) {
                bus_caller_clear(&caller);
                k = userdb_by_name(user, &caller.uid, &caller.user, &caller.groups);
                if (k < 0)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                 "No user \"%.*s\"", utf8_prefix_len(user, 32),
                                                 user);
        }
        k = manager_explain(d, g->id, &caller, &o, &err);
        if (k < 0) {
                k = bus_error_set_lease(error, &err, k);
                lease_error_clear(&err);
                return k;
        }
        k = sd_bus_reply_method_return(m, "s",
                                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return k;
}

static int get_policy_error(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error) {
        Manager *d = userdata;
        _cleanup_free_ char *why = manager_policy_errors(d);

        return sd_bus_message_append(reply, "s", strempty(why));
}

static int get_policy_files(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error) {
        Manager *d = userdata;

        return sd_bus_message_append_strv(reply, d->policy ? policy_files(d->policy) : NULL);
}

static int get_api_version(sd_bus *bus, const char *path, const char *interface,
                           const char *property, sd_bus_message *reply, void *userdata,
                           sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", (uint32_t) API_VERSION);
}

static int get_interrupt_remapping(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        Manager *d = userdata;

        return sd_bus_message_append(reply, "s", ir_verdict_to_string(d->model->host->ir));
}

static int get_iommu_present(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Manager *d = userdata;

        return sd_bus_message_append(reply, "b", (int) d->model->host->iommu_present);
}

/* (page size, node, total, free, held by the daemon's regions) per pool: read afresh at each Get,
 * without a signal (free pages change with every allocation on the host). */
static int get_memory_pools(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error) {
        Manager *d = userdata;
        _cleanup_free_ MemPool *pools = NULL;
        size_t n = 0;
        int k;

        k = mem_pools_list(d->model->root, &pools, &n);
        if (k < 0)
                return sd_bus_error_set_errnof(error, k, "Cannot read the memory pools: %m");
        k = sd_bus_message_open_container(reply, 'a', "(sittt)");
        for (size_t i = 0; k >= 0 && i < n; i++)
                k = sd_bus_message_append(reply, "(sittt)", mem_page_to_string(pools[i].page),
                                          (int32_t) pools[i].node, pools[i].total,
                                          pools[i].free_bytes,
                                          manager_memory_held_in(d, pools[i].page, pools[i].node));
        if (k < 0)
                return k;
        return sd_bus_message_close_container(reply);
}

static int get_backends(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        _cleanup_strv_free_ char **names = NULL;
        Manager *d = userdata;
        int k = vfio_backends_supported(d->model->host, &names);

        return k < 0 ? k : sd_bus_message_append_strv(reply, names);
}

/* name, signature, getter, change bit, flags (see BusProperty). The model has no change bits for
 * these: refresh_host() and daemon_reload_policy() announce them by name. */
#define MANAGER_PROPERTIES(P)                                                                     \
        P("APIVersion", "u", get_api_version, 0, CONST)                                           \
        P("Backends", "as", get_backends, MANAGER_CHANGED_HOST, EMITS_CHANGE)                     \
        P("InterruptRemapping", "s", get_interrupt_remapping, MANAGER_CHANGED_HOST, EMITS_CHANGE) \
        P("IommuPresent", "b", get_iommu_present, MANAGER_CHANGED_HOST, EMITS_CHANGE)             \
        P("MemoryPools", "a(sittt)", get_memory_pools, 0, VOLATILE)                               \
        P("PolicyError", "s", get_policy_error, MANAGER_CHANGED_POLICY, EMITS_CHANGE)             \
        P("PolicyFiles", "as", get_policy_files, MANAGER_CHANGED_POLICY, EMITS_CHANGE)

const BusProperty manager_properties[] = { MANAGER_PROPERTIES(BUS_PROPERTY_ROW) {} };

/* The property rows are a macro list, not an expression: clang-format would indent them. */
/* clang-format off */
const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        MANAGER_PROPERTIES(BUS_PROPERTY_VTABLE)
        SD_BUS_METHOD_WITH_ARGS("ListGroups", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(uobas)", groups),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sosi)", devices),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetHostReport", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", report),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListLeases", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(tousssu)", leases),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPolicy", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", policy), bus_method_trampoline,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExplainPolicy", SD_BUS_ARGS("s", address, "a{sv}", options),
                                SD_BUS_RESULT("s", verdict), bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ClaimGroup", SD_BUS_ARGS("u", group, "a{sv}", options), SD_BUS_RESULT("o", lease),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ClaimDevice", SD_BUS_ARGS("s", address, "a{sv}", options),
                                SD_BUS_RESULT("o", lease), bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Prepare", SD_BUS_ARGS("s", address, "a{sv}", options), SD_BUS_RESULT("o", lease),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unprepare", SD_BUS_ARGS("s", address, "a{sv}", options), SD_BUS_NO_RESULT,
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FindLease", SD_BUS_ARGS("s", owner), SD_BUS_RESULT("o", lease),
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReleaseByOwner", SD_BUS_ARGS("s", owner, "a{sv}", options), SD_BUS_NO_RESULT,
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReloadPolicy", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AcceptIdentity", SD_BUS_ARGS("s", address, "a{sv}", options), SD_BUS_NO_RESULT,
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetNumVfs", SD_BUS_ARGS("s", pf, "u", count, "a{sv}", options),
                                SD_BUS_RESULT("as", vfs), bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("DriverReverted", SD_BUS_ARGS("s", address, "s", driver, "u", group, "s", message), 0),
        SD_BUS_VTABLE_END,
};
/* clang-format on */

void manager_bus_send_policy_changed(Manager *d) {
        if (d->bus)
                (void) bus_emit_properties_changed(d->bus, OBJ_ROOT, IFACE_MANAGER,
                                                   manager_properties, MANAGER_CHANGED_POLICY);
}

void manager_bus_send_host_changed(Manager *d) {
        if (d->bus)
                (void) bus_emit_properties_changed(d->bus, OBJ_ROOT, IFACE_MANAGER,
                                                   manager_properties, MANAGER_CHANGED_HOST);
}

void manager_bus_send_driver_reverted(Manager *d, const char *address, const char *driver,
                                      uint32_t group, const char *message) {
        (void) sd_bus_emit_signal(d->bus, OBJ_ROOT, IFACE_MANAGER, "DriverReverted", "ssus",
                                  address, strempty(driver), group, strempty(message));
}

/* Every vtable gets the manager as its userdata: bus_method_trampoline() finds it there. */
/* Without the bus nobody can reach the leases, and the holders' exits go unseen: stop, and let
 * the service manager start us again (the leases are on disk). */
static int on_bus_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *d = userdata;

        log_error("Lost the connection to the system bus; exiting");
        return sd_event_exit(d->event, -ENOTCONN);
}

/* Everything on d->bus, once it is open. */
static int bus_take_name(Manager *d) {
        sd_id128_t bus_id;
        int k;

        /* Before anyone can call: every caller that leaves after its call is seen to leave. */
        k = bus_peers_new(d->bus, d->event, &d->peers);
        if (k < 0)
                return log_error_errno(k, "Cannot watch the bus for callers that leave: %m");
        k = bus_register_objects(d);
        if (k < 0)
                return log_error_errno(k, "Cannot register the bus objects: %m");
        k = sd_bus_request_name(d->bus, BUS_NAME, 0);
        if (k == -EEXIST) {
                log_error("Another vfio-assignd already owns %s on the system bus; exiting without "
                          "touching anything",
                          BUS_NAME);
                return k;
        }
        if (k < 0)
                return log_error_errno(k, "Cannot own %s on the system bus: %m", BUS_NAME);
        k = sd_bus_get_bus_id(d->bus, &bus_id);
        if (k < 0)
                return log_error_errno(k, "Cannot get the id of the system bus: %m");
        sd_id128_to_string(bus_id, d->bus_id);
        k = sd_bus_match_signal(d->bus, NULL, "org.freedesktop.DBus.Local",
                                "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                "Disconnected", on_bus_disconnected, d);
        if (k < 0)
                return log_error_errno(k, "Cannot watch the bus connection: %m");
        return 0;
}

int manager_bus_open(Manager *d, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int k;

        k = bus_errors_register();
        if (k < 0)
                return log_error_errno(k, "Cannot register the D-Bus errors: %m");
        k = sd_bus_open_system(&bus);
        if (k < 0)
                return log_error_errno(k, "Cannot connect to the system bus: %m");
        d->bus = bus;
        k = bus_take_name(d);
        if (k < 0) {
                d->bus = NULL;
                return k;
        }
        /* polkit's checks go out on a connection of their own, and learn of callers that leave
         * from d->peers. */
        k = polkit_registry_new(d->event, d->peers, &d->polkit);
        if (k < 0) {
                d->bus = NULL;
                return log_error_errno(k, "Cannot connect to the system bus for polkit: %m");
        }
        *ret = TAKE_PTR(bus);
        return 0;
}

int bus_register_objects(Manager *d) {
        int k;

        k = sd_bus_add_object_vtable(d->bus, NULL, OBJ_ROOT, IFACE_MANAGER, manager_vtable, d);
        if (k < 0)
                return k;
        k = sd_bus_add_fallback_vtable(d->bus, NULL, OBJ_GROUP_PREFIX, IFACE_GROUP, group_vtable,
                                       group_bus_find, d);
        if (k < 0)
                return k;
        k = sd_bus_add_node_enumerator(d->bus, NULL, OBJ_GROUP_PREFIX, group_bus_enumerate, d);
        if (k < 0)
                return k;
        k = sd_bus_add_fallback_vtable(d->bus, NULL, OBJ_DEVICE_PREFIX, IFACE_DEVICE, device_vtable,
                                       device_bus_find, d);
        if (k < 0)
                return k;
        k = sd_bus_add_node_enumerator(d->bus, NULL, OBJ_DEVICE_PREFIX, device_bus_enumerate, d);
        if (k < 0)
                return k;
        k = sd_bus_add_fallback_vtable(d->bus, NULL, OBJ_LEASE_PREFIX, IFACE_LEASE, lease_vtable,
                                       lease_bus_find, d);
        if (k < 0)
                return k;
        k = sd_bus_add_node_enumerator(d->bus, NULL, OBJ_LEASE_PREFIX, lease_bus_enumerate, d);
        if (k < 0)
                return k;
        k = sd_bus_add_fallback_vtable(d->bus, NULL, OBJ_REGION_PREFIX, IFACE_REGION, region_vtable,
                                       region_bus_find, d);
        if (k < 0)
                return k;
        k = sd_bus_add_node_enumerator(d->bus, NULL, OBJ_REGION_PREFIX, region_bus_enumerate, d);
        if (k < 0)
                return k;
        return sd_bus_add_object_manager(d->bus, NULL, OBJ_ROOT);
}

/* The calls whose replies grow with the host: several MiB at 9,000 devices, built from many
 * small allocations. glibc keeps what they freed in its arenas, so one such call would hold the
 * daemon's RSS at its high-water mark for good; once the reply has left, the free pages go back. */
static const char *const large_reply_members[] = {
        "GetManagedObjects", "Introspect", "GetAll",     "GetHostReport",
        "ListDevices",       "ListGroups", "ListLeases", NULL,
};

/* The post source: runs after the event loop's iteration that handled the call, and again after
 * each later one until the reply has been written out (it is freed then). */
static int on_trim(sd_event_source *s, void *userdata) {
        uint64_t queued = 0;

        if (sd_bus_get_n_queued_write(userdata, &queued) >= 0 && queued > 0)
                return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        (void) malloc_trim(0);
        return 0;
}

/* A bus filter: sees every message before it is dispatched. */
static int on_incoming(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(m);

        if (sd_bus_message_is_method_call(m, NULL, NULL) && member &&
            strv_contains((char **) large_reply_members, member))
                (void) sd_event_source_set_enabled(userdata, SD_EVENT_ONESHOT);
        return 0;
}

int bus_trim_after_large_replies(sd_bus *bus, sd_event *event, sd_event_source **ret_source,
                                 sd_bus_slot **ret_filter) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *s = NULL;
        int k;

        k = sd_event_add_post(event, &s, on_trim, bus);
        if (k < 0)
                return k;
        k = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (k < 0)
                return k;
        k = sd_bus_add_filter(bus, ret_filter, on_incoming, s);
        if (k < 0)
                return k;
        *ret_source = TAKE_PTR(s);
        return 0;
}

/* sd_bus_emit_object_removed() needs the object to still exist to list its interfaces; ours is
 * already gone from the model, so we say which interfaces went ourselves. */
int bus_emit_interfaces_removed(Manager *d, const char *path, const char *interface) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int k;

        k = sd_bus_message_new_signal(d->bus, &m, OBJ_ROOT, "org.freedesktop.DBus.ObjectManager",
                                      "InterfacesRemoved");
        if (k < 0)
                return k;
        k = sd_bus_message_append(m, "oas", path, 4, "org.freedesktop.DBus.Peer",
                                  "org.freedesktop.DBus.Introspectable",
                                  "org.freedesktop.DBus.Properties", interface);
        if (k < 0)
                return k;
        return sd_bus_send(d->bus, m, NULL);
}

int bus_emit_properties_changed(sd_bus *bus, const char *path, const char *interface,
                                const BusProperty *props, uint32_t mask) {
        _cleanup_free_ char **names = NULL;
        size_t n = 0;

        /* Room for every property of the table: none can be left out. */
        for (const BusProperty *p = props; p->name; p++)
                n++;
        names = calloc(n + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        n = 0;
        for (const BusProperty *p = props; p->name; p++)
                if (p->change & mask)
                        names[n++] = (char *) p->name;
        return sd_bus_emit_properties_changed_strv(bus, path, interface, names);
}

static int emit_change(Manager *d, const Change *c) {
        _cleanup_free_ char *path = NULL;
        int k;

        switch (c->kind) {
        case CHANGE_DEVICE_ADDED:
        case CHANGE_DEVICE_REMOVED:
        case CHANGE_DEVICE_CHANGED:
                k = device_object_path(c->address, &path);
                break;
        default:
                k = group_object_path(c->group, &path);
        }
        if (k < 0)
                return k;

        switch (c->kind) {
        case CHANGE_DEVICE_ADDED:
        case CHANGE_GROUP_ADDED:
                return sd_bus_emit_object_added(d->bus, path);
        case CHANGE_DEVICE_REMOVED:
                return bus_emit_interfaces_removed(d, path, IFACE_DEVICE);
        case CHANGE_GROUP_REMOVED:
                return bus_emit_interfaces_removed(d, path, IFACE_GROUP);
        case CHANGE_DEVICE_CHANGED:
                return bus_emit_properties_changed(d->bus, path, IFACE_DEVICE, device_properties,
                                                   c->mask);
        case CHANGE_GROUP_CHANGED:
                return bus_emit_properties_changed(d->bus, path, IFACE_GROUP, group_properties,
                                                   c->mask);
        }
        return -EINVAL;
}

int bus_emit_changes(Manager *d, const ChangeList *changes) {
        int r = 0;

        /* Keep going after a failure: one lost signal must not hide the others. */
        for (size_t i = 0; i < changes->n; i++) {
                int k = emit_change(d, &changes->changes[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
