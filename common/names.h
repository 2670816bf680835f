/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Every well-known string of the project lives here. */

#define API_VERSION 1

#define BUS_NAME "org.vfioassign1"
#define OBJ_ROOT "/org/vfioassign1"
#define OBJ_GROUP_PREFIX "/org/vfioassign1/group"
#define OBJ_DEVICE_PREFIX "/org/vfioassign1/device"
#define IFACE_MANAGER "org.vfioassign1.Manager"
#define IFACE_GROUP "org.vfioassign1.Group"
#define IFACE_DEVICE "org.vfioassign1.Device"
#define IFACE_LEASE "org.vfioassign1.Lease"
#define OBJ_LEASE_PREFIX "/org/vfioassign1/lease"
#define IFACE_REGION "org.vfioassign1.Region"
#define OBJ_REGION_PREFIX "/org/vfioassign1/region"
#define ERROR_PREFIX "org.vfioassign1.Error."

/* polkit actions (policy/org.vfioassign1.policy). */
#define POLKIT_ACTION_CLAIM "org.vfioassign1.claim"
#define POLKIT_ACTION_PREPARE "org.vfioassign1.prepare"
#define POLKIT_ACTION_MANAGE "org.vfioassign1.manage"

/* sysfs, relative to the sysfs root (see Documentation/ABI/testing/sysfs-bus-pci and
 * Documentation/ABI/testing/sysfs-kernel-iommu_groups). */
#define SYSFS_PCI_DEVICES "sys/bus/pci/devices"
#define SYSFS_PCI_DRIVERS "sys/bus/pci/drivers"
#define SYSFS_PCI_DRIVERS_PROBE "sys/bus/pci/drivers_probe"
#define SYSFS_IOMMU_GROUPS "sys/kernel/iommu_groups"
#define SYSFS_CLASS_IOMMU "sys/class/iommu"
#define SYSFS_ACPI_DMAR "sys/firmware/acpi/tables/DMAR"
#define SYSFS_ACPI_IVRS "sys/firmware/acpi/tables/IVRS"
#define SYSFS_MODULE "sys/module"
#define SYSFS_DEV_BLOCK "sys/dev/block"
#define SYSFS_CLASS_NET "sys/class/net"
#define SYSFS_HUGEPAGES "sys/kernel/mm/hugepages"
#define PROC_MOUNTINFO "proc/self/mountinfo"
#define PROC_NET_ROUTE "proc/net/route"
#define PROC_OSRELEASE "proc/sys/kernel/osrelease"
#define PROC_INTERRUPTS "proc/interrupts"
#define PROC_CMDLINE "proc/cmdline"
#define PROC_NET_IPV6_ROUTE "proc/net/ipv6_route"

/* Relative to the dev root. */
#define DEV_VFIO_CONTAINER "dev/vfio/vfio"
#define DEV_IOMMU "dev/iommu"

#define DRIVER_VFIO_PCI "vfio-pci"
/* The early-prepare file the daemon keeps in its state directory and the udev rule's helper
 * (vfio-assignd-early) reads; the helper's default is the unit's StateDirectory=. */
#define EARLY_PREPARE_FILE "early-prepare.conf"
#define EARLY_PREPARE_PATH "/var/lib/vfio-assignd/" EARLY_PREPARE_FILE
#define EARLY_PREPARE_ENV "VFIO_ASSIGND_DRIVER"
#define DRIVER_PCIEPORT "pcieport"
#define DRIVER_PCI_STUB "pci-stub"
/* The VFIO variant drivers (drivers/vfio/pci/: mlx5_vfio_pci, hisi_acc_vfio_pci, pds_vfio_pci,
 * nvgrace_gpu_vfio_pci, virtio_vfio_pci, ...) register as their module, KBUILD_MODNAME, which
 * kbuild names *_vfio_pci; vfio-pci itself has its own name. */
#define DRIVER_VFIO_VARIANT_SUFFIX "_vfio_pci"

/* Blocker codes (stable API: documented in docs/org.vfioassign1.5). */
#define BLOCKER_NO_IOMMU "no-iommu"
#define BLOCKER_HOST_CRITICAL "host-critical"
#define BLOCKER_RMRR "rmrr-locked"
#define BLOCKER_NO_RESET "no-reset"
#define BLOCKER_VFIO_NOIOMMU "noiommu-group"
#define BLOCKER_IDENTITY "identity-domain"
#define BLOCKER_NO_ENDPOINT "no-endpoint"
#define BLOCKER_UNREADABLE "unreadable"
