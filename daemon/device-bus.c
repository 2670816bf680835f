/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "daemon.h"
#include "names.h"
#include "util.h"

int device_object_path(const char *address, char **ret) {
        return sd_bus_path_encode(OBJ_DEVICE_PREFIX, address, ret);
}

int device_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error) {
        Manager *d = userdata;
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

int device_bus_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                         sd_bus_error *error) {
        Manager *d = userdata;
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

static int get_address(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", ((const Device *) userdata)->address);
}

BUS_GETTER(get_vendor, Device, "q", o->vendor)
BUS_GETTER(get_device, Device, "q", o->device)
BUS_GETTER(get_subsystem_vendor, Device, "q", o->subsystem_vendor)
BUS_GETTER(get_subsystem_device, Device, "q", o->subsystem_device)
BUS_GETTER(get_class, Device, "u", o->class)
BUS_GETTER(get_vendor_name, Device, "s", strempty(o->vendor_name))
BUS_GETTER(get_device_name, Device, "s", strempty(o->device_name))
BUS_GETTER(get_driver, Device, "s", strempty(o->driver))
BUS_GETTER(get_driver_override, Device, "s", strempty(o->driver_override))
BUS_GETTER(get_group, Device, "i", (int32_t) (o->group >= 0 ? o->group : -1))
BUS_GETTER(get_bridge, Device, "b", (int) o->bridge)
BUS_GETTER(get_numa_node, Device, "i", o->numa_node)
BUS_GETTER(get_boot_vga, Device, "b", (int) (o->boot_vga > 0))
BUS_GETTER(get_physfn, Device, "s", strempty(o->physfn))
BUS_GETTER(get_sriov_total_vfs, Device, "u", (uint32_t) MAX(o->sriov_totalvfs, 0))
BUS_GETTER(get_sriov_num_vfs, Device, "u", (uint32_t) MAX(o->sriov_numvfs, 0))
BUS_GETTER(get_rmrr_locked, Device, "b", (int) o->rmrr_locked)
BUS_GETTER(get_host_critical, Device, "s", strempty(o->host_critical))
BUS_GETTER(get_vfio_device, Device, "s", strempty(o->vfio_dev))
BUS_GETTER(get_vfio_driver, Device, "s", strempty(device_vfio_driver(o)))

static int get_pcie_root(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Device *d = userdata;
        char root[PCI_ROOT_STRLEN];

        return sd_bus_message_append(reply, "s", pci_root_of_path(d->devpath, root) ? root : "");
}

static int get_reset_methods(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        return sd_bus_message_append_strv(reply, ((const Device *) userdata)->reset_methods);
}

static int get_virtfns(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_strv(reply, ((const Device *) userdata)->virtfns);
}

/* name, signature, getter, the model's change bit, flags (see BusProperty) */
#define DEVICE_PROPERTIES(P)                                                                    \
        P("Address", "s", get_address, 0, CONST)                                                \
        P("Vendor", "q", get_vendor, DEVICE_CHANGED_IDS, EMITS_CHANGE)                          \
        P("Device", "q", get_device, DEVICE_CHANGED_IDS, EMITS_CHANGE)                          \
        P("SubsystemVendor", "q", get_subsystem_vendor, DEVICE_CHANGED_IDS, EXPLICIT)           \
        P("SubsystemDevice", "q", get_subsystem_device, DEVICE_CHANGED_IDS, EXPLICIT)           \
        P("Class", "u", get_class, DEVICE_CHANGED_IDS, EMITS_CHANGE)                            \
        P("VendorName", "s", get_vendor_name, DEVICE_CHANGED_IDS, EXPLICIT)                     \
        P("DeviceName", "s", get_device_name, DEVICE_CHANGED_IDS, EXPLICIT)                     \
        P("Driver", "s", get_driver, DEVICE_CHANGED_DRIVER, EMITS_CHANGE)                       \
        P("DriverOverride", "s", get_driver_override, DEVICE_CHANGED_DRIVER_OVERRIDE, EXPLICIT) \
        P("Group", "i", get_group, DEVICE_CHANGED_GROUP, EMITS_CHANGE)                          \
        P("Bridge", "b", get_bridge, DEVICE_CHANGED_BRIDGE, EXPLICIT)                           \
        P("ResetMethods", "as", get_reset_methods, DEVICE_CHANGED_RESET, EXPLICIT)              \
        P("NumaNode", "i", get_numa_node, DEVICE_CHANGED_NUMA, EXPLICIT)                        \
        P("PcieRoot", "s", get_pcie_root, 0, CONST_EXPLICIT)                                    \
        P("BootVga", "b", get_boot_vga, DEVICE_CHANGED_BOOT_VGA, EXPLICIT)                      \
        P("PhysFn", "s", get_physfn, DEVICE_CHANGED_PHYSFN, EXPLICIT)                           \
        P("VirtFns", "as", get_virtfns, DEVICE_CHANGED_VIRTFNS, EXPLICIT)                       \
        P("SriovTotalVfs", "u", get_sriov_total_vfs, DEVICE_CHANGED_SRIOV, EXPLICIT)            \
        P("SriovNumVfs", "u", get_sriov_num_vfs, DEVICE_CHANGED_SRIOV, EXPLICIT)                \
        P("RmrrLocked", "b", get_rmrr_locked, DEVICE_CHANGED_RMRR, EXPLICIT)                    \
        P("HostCritical", "s", get_host_critical, DEVICE_CHANGED_HOST_CRITICAL, EXPLICIT)       \
        P("VfioDevice", "s", get_vfio_device, DEVICE_CHANGED_VFIO_DEV, EXPLICIT)                \
        P("VfioDriver", "s", get_vfio_driver, DEVICE_CHANGED_IDS, EXPLICIT)

const BusProperty device_properties[] = { DEVICE_PROPERTIES(BUS_PROPERTY_ROW) {} };

/* The property rows are a macro list, not an expression: clang-format would indent them. */
/* clang-format off */
const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        DEVICE_PROPERTIES(BUS_PROPERTY_VTABLE)
        SD_BUS_VTABLE_END,
};
/* clang-format on */
