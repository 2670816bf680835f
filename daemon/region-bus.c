/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus side of guest-RAM regions: Lease.AllocateMemory, and each region as an object under
 * /org/vfioassign1/region that shows its fill and can be released. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "names.h"
#include "util.h"

int region_object_path(uint64_t id, char **ret) {
        return asprintf(ret, OBJ_REGION_PREFIX "/%" PRIu64, id) < 0 ? -ENOMEM : 0;
}

int region_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error) {
        Manager *d = userdata;
        _cleanup_free_ char *id = NULL;
        uint64_t n;
        Region *r;
        int k;

        k = sd_bus_path_decode(path, OBJ_REGION_PREFIX, &id);
        if (k <= 0)
                return k;
        if (safe_atou64(id, 10, &n) < 0)
                return 0;
        r = manager_find_region(d, n);
        if (!r)
                return 0;
        *found = r;
        return 1;
}

int region_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                         sd_bus_error *error) {
        Manager *d = userdata;
        char **l = calloc(d->n_regions + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_regions; i++)
                if (region_object_path(d->regions[i]->id, &l[i]) < 0) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *nodes = l;
        return 0;
}

int region_bus_emit_added(Manager *d, const Region *r) {
        _cleanup_free_ char *path = NULL;
        int k = region_object_path(r->id, &path);

        return k < 0 ? k : sd_bus_emit_object_added(d->bus, path);
}

/* What changes in a region (its fill, its state, its error, its mapping) is announced together. */
#define REGION_CHANGED (1u << 0)

int region_bus_emit_changed(Manager *d, const Region *r) {
        _cleanup_free_ char *path = NULL;
        int k = region_object_path(r->id, &path);

        return k < 0 ? k
                     : bus_emit_properties_changed(d->bus, path, IFACE_REGION, region_properties,
                                                   REGION_CHANGED);
}

int region_bus_emit_removed(Manager *d, const Region *r) {
        _cleanup_free_ char *path = NULL;
        int k = region_object_path(r->id, &path);

        return k < 0 ? k : bus_emit_interfaces_removed(d, path, IFACE_REGION);
}

static int read_memory_option(sd_bus_message *m, const char *key, void *userdata,
                              sd_bus_error *error) {
        MemoryOptions *o = userdata;

        if (streq(key, "hugepages"))
                return sd_bus_message_read(m, "v", "s", &o->hugepages);
        if (streq(key, "numa_node"))
                return sd_bus_message_read(m, "v", "i", &o->numa_node);
        if (streq(key, "map"))
                return sd_bus_message_read(m, "v", "t", &o->iova);
        return -ENOKEY;
}

/* Options of AllocateMemory. */
static int read_memory_options(sd_bus_message *m, MemoryOptions *o, sd_bus_error *error) {
        int k = bus_read_options(m, read_memory_option, o, error);

        if (k < 0)
                return k;
        if (o->numa_node < MEM_NODE_ANY && o->numa_node != MEMORY_NODE_OF_DEVICES)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "Option numa_node: %d is no node (-1: any)", o->numa_node);
        return 0;
}

int lease_method_allocate_memory(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        MemoryOptions o = { .numa_node = MEMORY_NODE_OF_DEVICES, .iova = REGION_NO_IOVA };
        _cleanup_free_ char *path = NULL;
        LeaseError err = {};
        Lease *l = userdata;
        Manager *d = bus_current_manager(m);
        Region *r = NULL;
        int k;

        if (!d)
                return sd_bus_error_set(error, BUS_ERROR_FAILED, "Lease not served");
        k = sd_bus_message_read(m, "t", &o.size);
        if (k < 0)
                return k;
        k = read_memory_options(m, &o, error);
        if (k < 0)
                return k;
        k = manager_allocate_memory(d, l, &o, &r, &err);
        if (k < 0) {
                k = bus_error_set_lease(error, &err, k);
                lease_error_clear(&err);
                return k;
        }
        k = region_object_path(r->id, &path);
        if (k < 0)
                return k;
        (void) region_bus_emit_added(d, r);
        return sd_bus_reply_method_return(m, "ho", mem_region_fd(r->mem), path);
}

/* A region is its lease's: its holder may release it, anyone else needs what the lease's
 * methods need. */
int region_inspect(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                   sd_bus_error *error) {
        Region *r = object;
        Lease *l = d->leases ? lease_set_find_id(d->leases, r->lease_id) : NULL;

        if (!l)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_LEASE,
                                         "The lease of region %" PRIu64 " is gone", r->id);
        return lease_inspect(m, d, l, auth, error);
}

int region_method_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *who = NULL, *why = NULL;
        Manager *d = bus_current_manager(m);
        Region *r = userdata;
        int k;

        if (!d)
                return sd_bus_error_set(error, BUS_ERROR_FAILED, "Region not served");
        k = bus_read_no_options(m, error);
        if (k < 0)
                return k;
        who = bus_caller_describe(d, m);
        if (asprintf(&why, "released by %s", strna(who)) < 0)
                return -ENOMEM;
        manager_release_region(d, r, why);
        return sd_bus_reply_method_return(m, "");
}

static int get_lease(sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Region *r = userdata;
        _cleanup_free_ char *lease = NULL;
        int k = lease_object_path(r->lease_id, &lease);

        return k < 0 ? k : sd_bus_message_append(reply, "o", lease);
}

BUS_GETTER(get_size, Region, "t", region_size(o))
BUS_GETTER(get_populated, Region, "t", region_populated(o))
BUS_GETTER(get_page_size, Region, "s", mem_page_to_string(mem_region_page(o->mem)))
BUS_GETTER(get_numa_node, Region, "i", mem_region_node(o->mem))
BUS_GETTER(get_state, Region, "s", region_state_to_string(o->state))
BUS_GETTER(get_error, Region, "s", strempty(o->error))
BUS_GETTER(get_mapped, Region, "b", (int) o->mapped)
BUS_GETTER(get_iova, Region, "t", o->iova)

/* name, signature, getter, change bit, flags (see BusProperty) */
#define REGION_PROPERTIES(P)                                             \
        P("Lease", "o", get_lease, 0, CONST)                             \
        P("Size", "t", get_size, 0, CONST)                               \
        P("Populated", "t", get_populated, REGION_CHANGED, EMITS_CHANGE) \
        P("PageSize", "s", get_page_size, 0, CONST)                      \
        P("NumaNode", "i", get_numa_node, 0, CONST)                      \
        P("State", "s", get_state, REGION_CHANGED, EMITS_CHANGE)         \
        P("Error", "s", get_error, REGION_CHANGED, EMITS_CHANGE)         \
        P("Mapped", "b", get_mapped, REGION_CHANGED, EMITS_CHANGE)       \
        P("Iova", "t", get_iova, 0, CONST)

const BusProperty region_properties[] = { REGION_PROPERTIES(BUS_PROPERTY_ROW) {} };

/* clang-format off */
const sd_bus_vtable region_vtable[] = {
        SD_BUS_VTABLE_START(0),
        REGION_PROPERTIES(BUS_PROPERTY_VTABLE)
        SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                bus_method_trampoline, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
/* clang-format on */
