/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "daemon.h"
#include "names.h"
#include "report.h"
#include "util.h"

static int method_list_groups(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Daemon *d = userdata;
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

static int method_list_devices(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Daemon *d = userdata;
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
                k = sd_bus_message_append(reply, "(sosi)", dev->address, path, strempty(dev->driver),
                                          (int32_t) (dev->group >= 0 ? dev->group : -1));
                if (k < 0)
                        return k;
        }
        k = sd_bus_message_close_container(reply);
        if (k < 0)
                return k;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_host_report(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_free_ char *json = NULL;
        int k;

        k = report_to_string(d->model, &json);
        if (k < 0)
                return k;
        return sd_bus_reply_method_return(m, "s", json);
}

static int get_api_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", (uint32_t) API_VERSION);
}

static int get_interrupt_remapping(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;

        return sd_bus_message_append(reply, "s", ir_verdict_to_string(d->model->host->ir));
}

static int get_iommu_present(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;

        return sd_bus_message_append(reply, "b", (int) d->model->host->iommu_present);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("APIVersion", "u", get_api_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("InterruptRemapping", "s", get_interrupt_remapping, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IommuPresent", "b", get_iommu_present, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListGroups", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(uobas)", groups),
                                method_list_groups, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sosi)", devices),
                                method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetHostReport", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", report),
                                method_get_host_report, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_register_objects(Daemon *d) {
        int k;

        k = sd_bus_add_object_vtable(d->bus, NULL, OBJ_ROOT, IFACE_MANAGER, manager_vtable, d);
        if (k < 0)
                return k;
        k = sd_bus_add_fallback_vtable(d->bus, NULL, OBJ_GROUP_PREFIX, IFACE_GROUP, group_vtable, group_bus_find, d);
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
        return sd_bus_add_object_manager(d->bus, NULL, OBJ_ROOT);
}

/* sd_bus_emit_object_removed() needs the object to still exist to list its interfaces; ours is
 * already gone from the model, so we say which interfaces went ourselves. */
static int emit_removed(Daemon *d, const char *path, const char *interface) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int k;

        k = sd_bus_message_new_signal(d->bus, &m, OBJ_ROOT, "org.freedesktop.DBus.ObjectManager",
                                      "InterfacesRemoved");
        if (k < 0)
                return k;
        k = sd_bus_message_append(m, "oas", path, 4, "org.freedesktop.DBus.Peer",
                                  "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Properties",
                                  interface);
        if (k < 0)
                return k;
        return sd_bus_send(d->bus, m, NULL);
}

static int emit_change(Daemon *d, const Change *c) {
        _cleanup_free_ char *path = NULL;
        const char *props[16];
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
                return emit_removed(d, path, IFACE_DEVICE);
        case CHANGE_GROUP_REMOVED:
                return emit_removed(d, path, IFACE_GROUP);
        case CHANGE_DEVICE_CHANGED:
                return sd_bus_emit_properties_changed_strv(
                                d->bus, path, IFACE_DEVICE,
                                (char **) device_changed_properties(c->mask, props, ELEMENTSOF(props)));
        case CHANGE_GROUP_CHANGED:
                return sd_bus_emit_properties_changed_strv(
                                d->bus, path, IFACE_GROUP,
                                (char **) group_changed_properties(c->mask, props, ELEMENTSOF(props)));
        }
        return -EINVAL;
}

int bus_emit_changes(Daemon *d, const ChangeList *changes) {
        int r = 0;

        /* Keep going after a failure: one lost signal must not hide the others. */
        for (size_t i = 0; i < changes->n; i++) {
                int k = emit_change(d, &changes->changes[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
