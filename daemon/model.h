/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "host.h"
#include "hostcrit.h"
#include "pcinames.h"
#include "sysfs.h"
#include "topology.h"

/* What changed in one device or group, as bits; the bus glue maps them to properties. */
enum {
        DEVICE_CHANGED_IDS = 1u << 0, /* vendor, device, subsystem ids, class, names */
        DEVICE_CHANGED_DRIVER = 1u << 1,
        DEVICE_CHANGED_DRIVER_OVERRIDE = 1u << 2,
        DEVICE_CHANGED_RESET = 1u << 3,
        DEVICE_CHANGED_NUMA = 1u << 4,
        DEVICE_CHANGED_BOOT_VGA = 1u << 5,
        DEVICE_CHANGED_PHYSFN = 1u << 6,
        DEVICE_CHANGED_VIRTFNS = 1u << 7,
        DEVICE_CHANGED_SRIOV = 1u << 8,
        DEVICE_CHANGED_BRIDGE = 1u << 9,
        DEVICE_CHANGED_GROUP = 1u << 10,
        DEVICE_CHANGED_VFIO_DEV = 1u << 11,
        DEVICE_CHANGED_RMRR = 1u << 12,
        DEVICE_CHANGED_HOST_CRITICAL = 1u << 13,
};

enum {
        GROUP_CHANGED_DEVICES = 1u << 0,
        GROUP_CHANGED_TYPE = 1u << 1,
        GROUP_CHANGED_REGIONS = 1u << 2,
        GROUP_CHANGED_ASSIGNABLE = 1u << 3,
        GROUP_CHANGED_BLOCKERS = 1u << 4,
};

typedef enum ChangeKind {
        CHANGE_DEVICE_ADDED,
        CHANGE_DEVICE_REMOVED,
        CHANGE_DEVICE_CHANGED,
        CHANGE_GROUP_ADDED,
        CHANGE_GROUP_REMOVED,
        CHANGE_GROUP_CHANGED,
} ChangeKind;

typedef struct Change {
        ChangeKind kind;
        char address[PCI_ADDRESS_STRLEN]; /* device changes */
        uint32_t group;                   /* group changes */
        uint32_t mask;                    /* *_CHANGED bits for CHANGE_*_CHANGED */
} Change;

typedef struct ChangeList {
        Change *changes;
        size_t n;
} ChangeList;

void change_list_clear(ChangeList *l);

typedef struct Model {
        SysRoot *root;
        PciNames *names;
        Topology *topology;
        HostInfo *host;
        /* The DMAR RMRR scopes resolved: the devices they name (sorted) and the bridge scopes
         * (whose subtrees they name too). Resolving reads the secondary bus of the bridges on
         * each scope's path: those are remembered, and rmrr_volatile says that a bridge was
         * missing or had no readable config (the answer then depends on which devices exist). */
        PciAddress *rmrr;
        size_t n_rmrr;
        PciAddress *rmrr_subtrees;
        size_t n_rmrr_subtrees;
        PciAddress *rmrr_bridges;
        size_t n_rmrr_bridges;
        bool rmrr_volatile;
        char *rmrr_error;
        /* modules.alias' VFIO variant drivers (NULL: none), read by model_load() from
         * modules_alias, an absolute path the caller may set first (else lib/modules/RELEASE/
         * modules.alias under the root); why they could not be read, for the report. */
        struct VfioVariants *variants;
        const char *modules_alias;
        char *variants_error;
        HostCritical *critical; /* behind "/" and the default route */
        size_t n_critical;
        char **critical_errors;
        bool derived_iommu_present; /* what the groups' blockers were derived with */
        char **errors; /* host-critical and RMRR resolution problems: the two lists above */
        /* What the kernel had not finished updating when we read it: a remove uevent can come
         * while iommu_groups/N/devices still lists the device, an add before the device's group
         * is there. model_settle() reads these again. */
        uint32_t *unsettled_groups;
        size_t n_unsettled_groups;
        char **unsettled_devices;
} Model;

/* Takes ownership of root. names may be NULL (no vendor/device names). */
int model_new(SysRoot *root, PciNames *names, Model **ret);
Model *model_free(Model *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Model *, model_free);

/* Reads everything: host facts, DMAR, topology, host-critical devices, derived facts. */
int model_load(Model *m);

/* Reads the host facts again: all of them (full), or only the module parameters such as
 * allow_unsafe_interrupts, which can change at any time with no uevent (host_read_params()).
 * *ret_changed says whether the IR verdict or IOMMU presence moved. The topology is not
 * touched. */
int model_refresh_host(Model *m, bool full, bool *ret_changed);

/* The one entry point for uevents (udev, the kernel netlink group, or the test FIFO).
 * action: add, remove, change, bind, unbind, move (unknown actions refresh). Appends what
 * changed to *changes. -EINVAL for an address that is not canonical. */
int model_process_event(Model *m, const char *action, const char *address, ChangeList *changes);

/* Whether every group and device the events touched was consistent when read (see Model). */
bool model_is_settled(const Model *m);
/* Reads the unsettled groups and devices again (and the members an unsettled group lists that
 * the model lacks); appends what changed. What is still inconsistent stays unsettled: the caller
 * tries again a little later, a bounded number of times. */
int model_settle(Model *m, ChangeList *changes);
/* The caller gave up waiting: the model keeps what it read last. */
void model_forget_unsettled(Model *m);

/* Diffs, exposed for tests. */
uint32_t device_diff(const Device *a, const Device *b);
uint32_t group_diff(const Group *a, const Group *b);
