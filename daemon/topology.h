/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdf.h"
#include <string.h>

#include "macro.h"
#include "names.h"
#include "pcinames.h"
#include "sysfs.h"

/* What the kernel says about one PCI function (Documentation/ABI/testing/sysfs-bus-pci).
 * Optional numbers use -1 for "absent"; optional strings NULL. */
typedef struct Device {
        char address[PCI_ADDRESS_STRLEN];
        PciAddress addr;
        uint16_t vendor, device, subsystem_vendor, subsystem_device;
        uint32_t class;
        /* false: vendor, device or class could not be read (the ids above are 0). The device
         * stays a member of its group, which is then blocked ("unreadable"): leaving it out
         * would let a claim split the group. */
        bool ids_known;
        /* Owned by the PciNames they were looked up in (shared by every device of the same
         * ids): a topology must not outlive it. */
        const char *vendor_name, *device_name;
        char *driver;          /* basename of the driver link */
        char *driver_override; /* NULL when the kernel says "(null)" */
        char **reset_methods;  /* strv, may be NULL */
        int32_t numa_node;
        int boot_vga;   /* -1 no attribute, 0, 1 */
        char *physfn;   /* PF address for a VF */
        char **virtfns; /* VF addresses for a PF, in virtfnN order */
        int64_t sriov_totalvfs, sriov_numvfs;
        bool bridge;      /* PCI-to-PCI bridge (header type 1) */
        bool host_bridge; /* class 0x0600: the root complex's own function */
        int64_t group;    /* -1 when the device has no IOMMU group */
        char *vfio_dev;   /* "vfioN" from vfio-dev/ (kernel >= 6.6 cdev) */
        char *devpath;    /* real directory relative to the root: "sys/devices/pci0000:00/..." */

        /* Derived facts, filled by topology_derive(). */
        const struct VfioVariant *vfio_variant; /* the VFIO variant driver modules.alias names
                                                 * for an endpoint (the model's); NULL: vfio-pci */
        bool rmrr_named; /* named by an RMRR device scope in the DMAR table */
        bool rmrr_locked;
        char *host_critical; /* why the host needs it, or NULL */
} Device;

typedef struct ReservedRegion {
        uint64_t start, end;
        char *type;
} ReservedRegion;

typedef struct Blocker {
        char *code;
        char *device; /* NULL when the blocker concerns the whole group */
        char *reason;
} Blocker;

typedef struct Group {
        uint32_t id;
        char *type;     /* iommu_groups/N/type, NULL if absent */
        char *name;     /* iommu_groups/N/name: "vfio-noiommu" for no-IOMMU groups */
        char **devices; /* sorted addresses */
        ReservedRegion *regions;
        size_t n_regions;
        bool regions_known;
        /* Derived: */
        bool assignable;
        Blocker *blockers;
        size_t n_blockers;
} Group;

/* The host facts topology_derive() needs; filled by host.c and hostcrit.c. */
typedef struct HostCritical {
        char address[PCI_ADDRESS_STRLEN];
        char *reason;
} HostCritical;

typedef struct Topology {
        Device **devices; /* sorted by address */
        size_t n_devices;
        Group **groups; /* sorted by id */
        size_t n_groups;
        char **errors; /* what could not be read, one line each: "0000:01:00.0: reset_method: ..." */
        /* How many devices and groups were derived, ever: for tests that bound an event's
         * work. */
        unsigned long derived_devices, derived_groups;
} Topology;

Device *device_free(Device *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Device *, device_free);
Group *group_free(Group *g);
void blockers_free(Blocker *b, size_t n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Group *, group_free);

int topology_new(Topology **ret);
Topology *topology_free(Topology *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Topology *, topology_free);

/* Full scan of sys/bus/pci/devices and sys/kernel/iommu_groups. Problems with single devices or
 * attributes land in t->errors; only allocation failure or an unreadable device list fail. */
int topology_scan(Topology *t, const SysRoot *root, PciNames *names);
/* The same on n_threads threads (0: parallel_threads_default(), 1: the caller's alone); the
 * result does not depend on it. The threads only read the tree; names are looked up after. */
int topology_scan_threads(Topology *t, const SysRoot *root, PciNames *names, unsigned n_threads);

/* Reads one device. -ENOENT when it is not (or no longer) there. Attribute problems are
 * appended to *errors. */
int device_read(const SysRoot *root, PciNames *names, const char *address, Device **ret,
                char ***errors);
/* A copy of old with what a driver's binding or unbinding changes read again (the driver,
 * driver_override, vfio-dev/); -ENOENT when the device is gone. */
int device_read_driver(const SysRoot *root, const Device *old, Device **ret, char ***errors);
int group_read(const SysRoot *root, uint32_t id, Group **ret, char ***errors);

Device *topology_find_device(const Topology *t, const char *address);
Group *topology_find_group(const Topology *t, uint32_t id);
/* The index in t->devices of the first device at or after a. */
size_t topology_device_lower_bound(const Topology *t, const PciAddress *a);
/* Insert or replace by key; takes ownership. Returns the object it replaced (caller frees) via
 * ret_old, or NULL. */
int topology_put_device(Topology *t, Device *d, Device **ret_old);
int topology_put_group(Topology *t, Group *g, Group **ret_old);
Device *topology_take_device(Topology *t, const char *address);
Group *topology_take_group(Topology *t, uint32_t id);

/* The facts from outside the PCI tree that derived facts depend on. */
typedef struct DeriveFacts {
        const PciAddress *rmrr; /* devices named by RMRR scopes, sorted, unique */
        size_t n_rmrr;
        const PciAddress *rmrr_subtrees; /* bridge scopes: every device below is named too */
        size_t n_rmrr_subtrees;
        const HostCritical *crit; /* root filesystem, default route (boot VGA is per device) */
        size_t n_crit;
        bool iommu_present;                  /* false blocks everything */
        const struct VfioVariants *variants; /* NULL: none, every endpoint goes to vfio-pci */
} DeriveFacts;

bool derive_facts_rmrr_named(const DeriveFacts *f, const Device *d);
/* rmrr_named, rmrr_locked (which reads the device's group) and host_critical of one device. */
int topology_derive_device(Topology *t, Device *d, const DeriveFacts *f);
/* Blockers and assignable of one group, from its members' derived facts: derive the members
 * first. */
int topology_derive_group(Topology *t, Group *g, bool iommu_present);
/* Every device, then every group. */
int topology_derive(Topology *t, const DeriveFacts *f);

bool device_is_bridge_class(uint32_t class);
/* Whether a claim moves the function to vfio-pci. Bridges stay on pcieport, which the kernel
 * lets share a group with a VM's devices (driver_managed_dma, 5.19); a host bridge is the host's
 * root complex, never a VM's. */
static inline bool device_is_endpoint(const Device *d) {
        return !d->bridge && !d->host_bridge;
}
/* The VFIO driver a claim binds an endpoint to: its variant or vfio-pci; NULL for the rest. */
const char *device_vfio_driver(const Device *d);
/* Whether a driver is VFIO's: vfio-pci or a variant (DRIVER_VFIO_VARIANT_SUFFIX). */
static inline bool driver_is_vfio(const char *driver) {
        size_t n = driver ? strlen(driver) : 0, m = strlen(DRIVER_VFIO_VARIANT_SUFFIX);

        return driver && (streq(driver, DRIVER_VFIO_PCI) ||
                          (n > m && streq(driver + n - m, DRIVER_VFIO_VARIANT_SUFFIX)));
}
#define TOPOLOGY_ERRORS_MAX 1000
int topology_add_error(char ***errors, const char *fmt, ...) _printf_(2, 3);
