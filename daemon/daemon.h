/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "model.h"

/* The running daemon: the model and the bus it is served on. Shared by the *-bus.c glue. */
typedef struct Daemon {
        sd_event *event;
        sd_bus *bus;
        Model *model;
} Daemon;

/* manager-bus.c */
extern const sd_bus_vtable manager_vtable[];
int bus_register_objects(Daemon *d);
/* Turns model changes into InterfacesAdded/Removed and PropertiesChanged. */
int bus_emit_changes(Daemon *d, const ChangeList *changes);

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
const char *const *group_changed_properties(uint32_t mask, const char **buf, size_t n);
const char *const *device_changed_properties(uint32_t mask, const char **buf, size_t n);

/* errors.c */
#define BUS_ERROR_NO_SUCH_DEVICE "org.vfioassign1.Error.NoSuchDevice"
#define BUS_ERROR_NO_SUCH_GROUP "org.vfioassign1.Error.NoSuchGroup"
#define BUS_ERROR_INVALID_ARGUMENT "org.vfioassign1.Error.InvalidArgument"
int bus_errors_register(void);
