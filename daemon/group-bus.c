/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "names.h"
#include "util.h"

int group_object_path(uint32_t id, char **ret) {
        return asprintf(ret, OBJ_GROUP_PREFIX "/%" PRIu32, id) < 0 ? -ENOMEM : 0;
}

static Manager *served;

int group_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                   void **found, sd_bus_error *error) {
        Manager *d = served = userdata;
        _cleanup_free_ char *id = NULL;
        uint32_t n;
        Group *g;
        int k;

        k = sd_bus_path_decode(path, OBJ_GROUP_PREFIX, &id);
        if (k <= 0)
                return k;
        if (safe_atou32(id, 10, &n) < 0)
                return 0;
        g = topology_find_group(d->model->topology, n);
        if (!g)
                return 0;
        *found = g;
        return 1;
}

int group_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                        sd_bus_error *error) {
        Manager *d = userdata;
        const Topology *t = d->model->topology;
        char **l;

        l = calloc(t->n_groups + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_groups; i++)
                if (group_object_path(t->groups[i]->id, &l[i]) < 0) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *nodes = l;
        return 0;
}

#define GROUP(userdata) ((const Group *) (userdata))

BUS_GETTER(get_id, Group, "u", o->id)
BUS_GETTER(get_type, Group, "s", strempty(o->type))
BUS_GETTER(get_assignable, Group, "b", (int) o->assignable)

static int get_devices(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_strv(reply, GROUP(userdata)->devices);
}

static int get_blockers(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Group *g = GROUP(userdata);
        int k;

        k = sd_bus_message_open_container(reply, 'a', "(sss)");
        if (k < 0)
                return k;
        for (size_t i = 0; i < g->n_blockers; i++) {
                k = sd_bus_message_append(reply, "(sss)", g->blockers[i].code,
                                          strempty(g->blockers[i].device), g->blockers[i].reason);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(reply);
}

static int get_regions(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Group *g = GROUP(userdata);
        int k;

        k = sd_bus_message_open_container(reply, 'a', "(tts)");
        if (k < 0)
                return k;
        for (size_t i = 0; i < g->n_regions; i++) {
                k = sd_bus_message_append(reply, "(tts)", g->regions[i].start, g->regions[i].end,
                                          g->regions[i].type);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(reply);
}

/* The kind of the job running on the group. The object is the model's group; the job queue is
 * the manager's, known from the lookup that found the group (sd-bus runs it before every getter). */
static int get_job(sd_bus *bus, const char *path, const char *interface, const char *property,
                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(
                reply, "s",
                strempty(served ? job_queue_running(served->jobs, GROUP(userdata)->id) : NULL));
}

void group_bus_send_job_changed(Manager *d, uint32_t group) {
        _cleanup_free_ char *path = NULL;

        if (d->bus && group_object_path(group, &path) >= 0)
                (void) bus_emit_properties_changed(d->bus, path, IFACE_GROUP, group_properties,
                                                   GROUP_CHANGED_JOB);
}

/* name, signature, getter, the model's change bit, flags (see BusProperty) */
#define GROUP_PROPERTIES(P)                                                          \
        P("Id", "u", get_id, 0, CONST)                                               \
        P("Devices", "as", get_devices, GROUP_CHANGED_DEVICES, EMITS_CHANGE)         \
        P("Type", "s", get_type, GROUP_CHANGED_TYPE, EXPLICIT)                       \
        P("Assignable", "b", get_assignable, GROUP_CHANGED_ASSIGNABLE, EMITS_CHANGE) \
        P("Blockers", "a(sss)", get_blockers, GROUP_CHANGED_BLOCKERS, EMITS_CHANGE)  \
        P("ReservedRegions", "a(tts)", get_regions, GROUP_CHANGED_REGIONS, EXPLICIT) \
        P("Job", "s", get_job, GROUP_CHANGED_JOB, EMITS_CHANGE)

const BusProperty group_properties[] = { GROUP_PROPERTIES(BUS_PROPERTY_ROW) {} };

/* The property rows are a macro list, not an expression: clang-format would indent them. */
/* clang-format off */
const sd_bus_vtable group_vtable[] = {
        SD_BUS_VTABLE_START(0),
        GROUP_PROPERTIES(BUS_PROPERTY_VTABLE)
        SD_BUS_VTABLE_END,
};
/* clang-format on */
