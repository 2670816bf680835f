/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "daemon.h"
#include "names.h"
#include "util.h"

int device_object_path(const char *address, char **ret) {
        return sd_bus_path_encode(OBJ_DEVICE_PREFIX, address, ret);
}

int device_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                    sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_free_ char *address = NULL;
        Device *dev;
        int k;

        k = sd_bus_path_decode(path, OBJ_DEVICE_PREFIX, &address);
        if (k <= 0)
                return k;
        dev = topology_find_device(d->model->topology, address);
        if (!dev)
                return 0;
        *found = dev;
        return 1;
}

int device_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error) {
        Daemon *d = userdata;
        const Topology *t = d->model->topology;
        char **l;

        l = calloc(t->n_devices + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_devices; i++)
                if (device_object_path(t->devices[i]->address, &l[i]) < 0) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *nodes = l;
        return 0;
}

static const struct {
        uint32_t bit;
        const char *names[8];
} device_props[] = {
        { DEVICE_CHANGED_IDS, { "Vendor", "Device", "SubsystemVendor", "SubsystemDevice", "Class", "VendorName",
                                "DeviceName" } },
        { DEVICE_CHANGED_DRIVER, { "Driver" } },
        { DEVICE_CHANGED_DRIVER_OVERRIDE, { "DriverOverride" } },
        { DEVICE_CHANGED_RESET, { "ResetMethods" } },
        { DEVICE_CHANGED_NUMA, { "NumaNode" } },
        { DEVICE_CHANGED_BOOT_VGA, { "BootVga" } },
        { DEVICE_CHANGED_PHYSFN, { "PhysFn" } },
        { DEVICE_CHANGED_VIRTFNS, { "VirtFns" } },
        { DEVICE_CHANGED_SRIOV, { "SriovTotalVfs", "SriovNumVfs" } },
        { DEVICE_CHANGED_BRIDGE, { "Bridge" } },
        { DEVICE_CHANGED_GROUP, { "Group" } },
        { DEVICE_CHANGED_VFIO_DEV, { "VfioDevice" } },
        { DEVICE_CHANGED_RMRR, { "RmrrLocked" } },
        { DEVICE_CHANGED_HOST_CRITICAL, { "HostCritical" } },
};

const char *const *device_changed_properties(uint32_t mask, const char **buf, size_t n) {
        size_t j = 0;

        for (size_t i = 0; i < ELEMENTSOF(device_props); i++)
                if (mask & device_props[i].bit)
                        for (size_t p = 0; p < ELEMENTSOF(device_props[i].names) && device_props[i].names[p]; p++)
                                if (j + 1 < n)
                                        buf[j++] = device_props[i].names[p];
        buf[j] = NULL;
        return buf;
}

#define DEVICE(userdata) ((const Device *) (userdata))

static int get_address(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", DEVICE(userdata)->address);
}

static int get_ids(sd_bus *bus, const char *path, const char *interface, const char *property,
                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Device *d = DEVICE(userdata);

        if (streq(property, "Vendor"))
                return sd_bus_message_append(reply, "q", d->vendor);
        if (streq(property, "Device"))
                return sd_bus_message_append(reply, "q", d->device);
        if (streq(property, "SubsystemVendor"))
                return sd_bus_message_append(reply, "q", d->subsystem_vendor);
        if (streq(property, "SubsystemDevice"))
                return sd_bus_message_append(reply, "q", d->subsystem_device);
        return sd_bus_message_append(reply, "u", d->class);
}

static int get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Device *d = DEVICE(userdata);
        const char *s;

        if (streq(property, "VendorName"))
                s = d->vendor_name;
        else if (streq(property, "DeviceName"))
                s = d->device_name;
        else if (streq(property, "Driver"))
                s = d->driver;
        else if (streq(property, "DriverOverride"))
                s = d->driver_override;
        else if (streq(property, "PhysFn"))
                s = d->physfn;
        else if (streq(property, "VfioDevice"))
                s = d->vfio_dev;
        else
                s = d->host_critical;
        return sd_bus_message_append(reply, "s", strempty(s));
}

static int get_strv(sd_bus *bus, const char *path, const char *interface, const char *property,
                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Device *d = DEVICE(userdata);

        return sd_bus_message_append_strv(reply, streq(property, "VirtFns") ? d->virtfns : d->reset_methods);
}

static int get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Device *d = DEVICE(userdata);
        int b;

        if (streq(property, "Bridge"))
                b = d->bridge;
        else if (streq(property, "BootVga"))
                b = d->boot_vga > 0;
        else
                b = d->rmrr_locked;
        return sd_bus_message_append(reply, "b", b);
}

static int get_int(sd_bus *bus, const char *path, const char *interface, const char *property,
                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Device *d = DEVICE(userdata);

        if (streq(property, "Group"))
                return sd_bus_message_append(reply, "i", (int32_t) (d->group >= 0 ? d->group : -1));
        if (streq(property, "NumaNode"))
                return sd_bus_message_append(reply, "i", d->numa_node);
        if (streq(property, "SriovTotalVfs"))
                return sd_bus_message_append(reply, "u", (uint32_t) MAX(d->sriov_totalvfs, 0));
        return sd_bus_message_append(reply, "u", (uint32_t) MAX(d->sriov_numvfs, 0));
}

#define PROP(name, sig, getter) SD_BUS_PROPERTY(name, sig, getter, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)

const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Address", "s", get_address, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        PROP("Vendor", "q", get_ids),
        PROP("Device", "q", get_ids),
        PROP("SubsystemVendor", "q", get_ids),
        PROP("SubsystemDevice", "q", get_ids),
        PROP("Class", "u", get_ids),
        PROP("VendorName", "s", get_string),
        PROP("DeviceName", "s", get_string),
        PROP("Driver", "s", get_string),
        PROP("DriverOverride", "s", get_string),
        PROP("Group", "i", get_int),
        PROP("Bridge", "b", get_bool),
        PROP("ResetMethods", "as", get_strv),
        PROP("NumaNode", "i", get_int),
        PROP("BootVga", "b", get_bool),
        PROP("PhysFn", "s", get_string),
        PROP("VirtFns", "as", get_strv),
        PROP("SriovTotalVfs", "u", get_int),
        PROP("SriovNumVfs", "u", get_int),
        PROP("RmrrLocked", "b", get_bool),
        PROP("HostCritical", "s", get_string),
        PROP("VfioDevice", "s", get_string),
        SD_BUS_VTABLE_END,
};
