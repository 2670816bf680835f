/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* fakesys: builds directory trees that look like a host's /sys, /proc and /dev, for tests that
 * pass the tree to the daemon as --sysfs-root / --dev-root.
 *
 * The shapes follow the kernel: Documentation/ABI/testing/sysfs-bus-pci,
 * sysfs-kernel-iommu_groups, sysfs-class-iommu-intel-iommu, and the real QEMU q35 snapshot in
 * tests/data/qemu-q35-vtd/. Device directories nest under their bridges below
 * sys/devices/pciDDDD:BB/, and every symlink is relative through the deepest common ancestor,
 * as sysfs_create_link() makes them.
 *
 * The tree itself is the state: every call finds devices through sys/bus/pci/devices/<BDF>, so
 * a tree unpacked from a tarball can be edited just like one built here.
 *
 * All functions return 0 or a negative errno and never print. Paths named "rel" are relative
 * to the root and may not contain "." or ".." components. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct FakeSys FakeSys;

enum {
        /* fakesys_free() removes the whole tree. */
        FAKESYS_REMOVE_ON_FREE = 1 << 0,
};

/* dir NULL: a new directory from mkdtemp() under $TMPDIR (default /tmp). Otherwise dir is
 * created if missing; existing content is kept. The skeleton (sys/bus/pci/{devices,drivers},
 * drivers_probe, sys/devices, ...) is created in either case. */
int fakesys_new(const char *dir, unsigned flags, FakeSys **ret);
FakeSys *fakesys_free(FakeSys *fs);
void fakesys_set_remove_on_free(FakeSys *fs, bool remove);
const char *fakesys_root(const FakeSys *fs);
/* A directory fd on the root, owned by fs (do not close). */
int fakesys_root_fd(const FakeSys *fs);

static inline void fakesys_freep(FakeSys **fs) {
        fakesys_free(*fs);
}

/* ---- PCI devices ---- */

typedef enum FakePcieType {
        FAKE_PCIE_AUTO = 0, /* derived: see fakesys_add_device() */
        FAKE_PCIE_ENDPOINT,
        FAKE_PCIE_LEGACY_ENDPOINT,
        FAKE_PCIE_RC_ENDPOINT, /* root complex integrated endpoint */
        FAKE_PCIE_ROOT_PORT,
        FAKE_PCIE_UPSTREAM,      /* switch upstream port */
        FAKE_PCIE_DOWNSTREAM,    /* switch downstream port */
        FAKE_PCIE_TO_PCI_BRIDGE, /* its children are conventional PCI */
        FAKE_PCI_CONVENTIONAL,   /* no PCI Express capability, 256-byte config */
        _FAKE_PCIE_TYPE_MAX,
} FakePcieType;

typedef struct FakeDevice {
        const char *bdf;    /* canonical "dddd:bb:dd.f" */
        const char *parent; /* BDF of the upstream bridge; NULL: on a root bus */
        uint16_t vendor, device;
        uint16_t subsystem_vendor, subsystem_device;
        uint32_t class_code; /* 24 bits: base, sub, prog-if */
        uint8_t revision;
        bool multifunction; /* header type bit 7 */
        FakePcieType pcie_type;
        /* Bridges (header type 1: class 0x0604xx/0x0609xx): 0 = derived from the children. */
        uint8_t secondary_bus, subordinate_bus;
        const char *driver;          /* NULL: unbound */
        const char *driver_override; /* NULL: unset, reads "(null)" */
        const char *reset_method;    /* "flr bus"; NULL: none, no reset_method or reset */
        int numa_node;               /* -1: none */
        int boot_vga;                /* -1: "0" on VGA class devices, absent otherwise */
        int iommu_group;             /* -1: not in a group */
        const char *iommu;           /* unit under sys/class/iommu ("dmar0"); NULL: none */
        unsigned irq;
        /* SR-IOV physical function when sriov_totalvfs > 0. */
        uint16_t sriov_totalvfs, sriov_numvfs, sriov_offset, sriov_stride, sriov_vf_device;
        const char *physfn;  /* a VF: BDF of its PF (same parent) */
        bool pf_numvfs_kept; /* a VF: the PF's sriov_numvfs stays as it is (else it counts the VF;
                              * the kernel model sets it itself when an enable is done) */
        int vfio_dev;        /* >= 0: vfio-dev/vfioN with dev "MAJ:MIN" */
} FakeDevice;

/* Defaults: no parent, numa -1, boot_vga -1, iommu_group -1, vfio_dev -1, the rest zero. */
void fake_device_init(FakeDevice *d, const char *bdf);

/* Creates the device directory (under the parent's), its attributes, a config file (256 bytes
 * for conventional PCI, 4096 for PCI Express, with ids, class, header type, bridge bus numbers,
 * a PCI Express capability and an SR-IOV capability), the bus link, the driver link and the
 * driver's back link, group membership and the iommu link. On a bridge parent the secondary and
 * subordinate bus numbers grow to cover the new device.
 * FAKE_PCIE_AUTO picks: conventional below a PCIe-to-PCI bridge or conventional bridge; else
 * for bridges: root port on a root bus, upstream port below a root or downstream port,
 * downstream port below an upstream port; for others: RC integrated endpoint on a root bus,
 * endpoint elsewhere. -EEXIST when the BDF exists, -ENOENT when the parent or PF does not,
 * -ENOTDIR when the parent is not a bridge, -EINVAL for a malformed BDF/name or a VF whose
 * routing ID does not follow from the PF's offset and stride. */
int fakesys_add_device(FakeSys *fs, const FakeDevice *d);
/* Removes the device and everything below it: directories, bus links, driver back links,
 * group links (a group left empty goes), a PF's virtfnN link to a removed VF. */
int fakesys_remove_device(FakeSys *fs, const char *bdf);
bool fakesys_device_exists(FakeSys *fs, const char *bdf);
/* Root-relative path of the device directory, e.g. "sys/devices/pci0000:00/0000:00:01.0/..". */
int fakesys_device_path(FakeSys *fs, const char *bdf, char **ret);

/* Single attributes of a device (name is one path component, or "a/b" below the device). */
int fakesys_set_attr(FakeSys *fs, const char *bdf, const char *name, const char *value);
int fakesys_set_attr_bytes(FakeSys *fs, const char *bdf, const char *name, const void *data,
                           size_t size);
int fakesys_remove_attr(FakeSys *fs, const char *bdf, const char *name);
/* Edge cases for readers. (chmod 000 does not stop root, so these stand in for "unreadable".) */
int fakesys_attr_make_dir(FakeSys *fs, const char *bdf, const char *name);
int fakesys_attr_make_dangling(FakeSys *fs, const char *bdf, const char *name);
/* size bytes of a fixed non-text pattern (NULs, 0xff, no newline). */
int fakesys_attr_make_garbage(FakeSys *fs, const char *bdf, const char *name, size_t size);

/* Driver directory with bind, unbind, new_id, remove_id (created if missing). */
int fakesys_add_driver(FakeSys *fs, const char *driver);
/* Moves the driver link and the drivers/<name>/<BDF> link; binding a bound device unbinds it
 * first. enable follows (1 while bound, except under vfio-pci and pci-stub, which do not enable
 * the device at probe). Unbinding removes vfio-dev/. */
int fakesys_bind(FakeSys *fs, const char *bdf, const char *driver);
int fakesys_unbind(FakeSys *fs, const char *bdf);
/* Creates drivers/<name>/<BDF> back links and control files for every bound device; for trees
 * that come from a tarball that lacks them. */
int fakesys_sync_drivers(FakeSys *fs);
/* n >= 0: vfio-dev/vfioN with dev "MAJ:MIN" (major 511, as a dynamically allocated vfio cdev
 * major usually is); n < 0: removes vfio-dev/. */
int fakesys_set_vfio_dev(FakeSys *fs, const char *bdf, int n);

/* ---- IOMMU groups ---- */

/* group < 0: leaves any group. A new group gets type "DMA" and the x86 MSI window as its only
 * reserved region. A group left empty is removed. */
int fakesys_set_group(FakeSys *fs, const char *bdf, int group);
/* Writes sys/kernel/iommu_groups/N/<name> verbatim (a newline is added if missing). */
int fakesys_group_set_attr(FakeSys *fs, unsigned group, const char *name, const char *value);
/* Adds "0x%016llx 0x%016llx TYPE" to reserved_regions, kept sorted by start address as the
 * kernel prints them. type: direct, direct-relaxable, reserved, msi. */
int fakesys_group_add_region(FakeSys *fs, unsigned group, uint64_t start, uint64_t end,
                             const char *type);

/* ---- IOMMU units and ACPI tables ---- */

typedef enum FakeIommuKind {
        FAKE_IOMMU_INTEL,
        FAKE_IOMMU_AMD,
} FakeIommuKind;

typedef struct FakeIommu {
        const char *name; /* "dmar0", "ivhd0" */
        FakeIommuKind kind;
        const char *bdf;             /* AMD: the IOMMU's own PCI function; NULL: virtual */
        uint64_t cap, ecap, address; /* Intel: intel-iommu/{cap,ecap,address} */
        const char *version;         /* Intel: "1:0" by default */
        const char *features;        /* AMD: amd-iommu/features text */
        uint64_t amd_cap;            /* AMD: amd-iommu/cap */
} FakeIommu;

/* Unit directory (sys/devices/virtual/iommu/NAME, or below the AMD IOMMU's PCI device) and the
 * sys/class/iommu/NAME link. Adding a unit that exists rewrites its attributes. */
int fakesys_add_iommu(FakeSys *fs, const FakeIommu *u);
/* Points the device's iommu link at a unit (NULL removes the link). */
int fakesys_set_device_iommu(FakeSys *fs, const char *bdf, const char *unit);
/* sys/firmware/acpi/tables/NAME (name as ACPI spells it: "DMAR", "IVRS"). */
int fakesys_set_acpi_table(FakeSys *fs, const char *name, const void *data, size_t size);

/* ---- modules, memory, host (tests/fakesys-host.c) ---- */

/* A small plausible IVRS table: one IVHD type 0x11 for the IOMMU at iommu_bdf with register
 * base `base`, whose device entries cover all of segment 0. Returns malloc'ed bytes. */
int fakesys_build_ivrs(const char *iommu_bdf, uint64_t base, uint8_t **ret, size_t *ret_size);

/* sys/module/NAME/ (and initstate "live"). */
int fakesys_add_module(FakeSys *fs, const char *module);
/* sys/module/M/parameters/P = value (a newline is added if missing); creates the module. */
int fakesys_set_module_param(FakeSys *fs, const char *module, const char *param, const char *value);
/* sys/kernel/mm/hugepages/hugepages-<size_kb>kB/{nr,free,resv,surplus}_hugepages... */
int fakesys_set_hugepages(FakeSys *fs, unsigned long size_kb, unsigned long nr,
                          unsigned long free_pages);
int fakesys_set_osrelease(FakeSys *fs, const char *release);

/* A block device directory <device dir>/<path> (e.g. "nvme/nvme0/nvme0n1/nvme0n1p2") with dev,
 * partition (when its parent directory is a block device too), the sys/dev/block/MAJ:MIN and
 * sys/class/block/NAME links. */
int fakesys_add_block(FakeSys *fs, const char *bdf, const char *path, unsigned major,
                      unsigned minor);
/* sys/devices/virtual/block/NAME (a device-mapper device) with dev, dm/name, and slaves/ links
 * to the block devices slaves[] ("MAJ:MIN", NULL-terminated), and holders/ links back. */
int fakesys_add_dm(FakeSys *fs, const char *name, const char *dm_name, unsigned major,
                   unsigned minor, char *const *slaves);
/* proc/self/mountinfo of a typical host whose "/" is block device MAJ:MIN. */
int fakesys_set_root_mount(FakeSys *fs, unsigned major, unsigned minor, const char *fstype,
                           const char *source);

/* <device dir>/net/IFNAME (ifindex, address, operstate, type) and sys/class/net/IFNAME. */
int fakesys_add_netdev(FakeSys *fs, const char *bdf, const char *ifname, const char *mac);
/* The same with a given ifindex; 0: the lowest one from FAKESYS_IFINDEX_FIRST up that no netdev
 * has (the kernel model's netlink finds a PF's netdev by it, tests/mock/README.md). */
#define FAKESYS_IFINDEX_FIRST 100u
int fakesys_add_netdev_ifindex(FakeSys *fs, const char *bdf, const char *ifname, const char *mac,
                               unsigned ifindex);
/* proc/interrupts of a 4-CPU host: the legacy IO-APIC lines and one MSI line per bound PCI
 * device, with chip names prefixed "IR-" when remapped (as the kernel names remapped interrupt
 * domains when interrupt remapping is enabled). */
int fakesys_write_interrupts(FakeSys *fs, bool remapped);
/* A kernel with iommufd (CONFIG_IOMMUFD, Linux >= 6.2): the node dev/iommu and the module's
 * allow_unsafe_interrupts parameter, "N" (drivers/iommu/iommufd/main.c). */
int fakesys_enable_iommufd(FakeSys *fs);

/* Appends a route to proc/net/route (created with the kernel's header). Addresses are IPv4
 * dotted quads; gateway NULL: on-link. prefix 0 with dest "0.0.0.0" is the default route. */
int fakesys_add_route(FakeSys *fs, const char *ifname, const char *dest, unsigned prefix,
                      const char *gateway, unsigned metric);

/* ---- raw files, for anything the helpers above do not cover ---- */

/* Parent directories are created. Existing files and links are replaced. */
int fakesys_write_file(FakeSys *fs, const char *rel, const void *data, size_t size);
int fakesys_symlink(FakeSys *fs, const char *rel, const char *target);
/* A relative symlink at rel to root-relative target, through the common ancestor. */
int fakesys_link_to(FakeSys *fs, const char *rel, const char *target_rel);
int fakesys_mkdir(FakeSys *fs, const char *rel);
/* Removes a file, link or whole directory tree; -ENOENT when absent. */
int fakesys_remove(FakeSys *fs, const char *rel);
/* Whole file content, NUL-terminated (at most 64 MiB). */
int fakesys_read_file(FakeSys *fs, const char *rel, char **ret, size_t *ret_size);
/* The root-relative path a relative link at rel points to. */
int fakesys_resolve_link(FakeSys *fs, const char *rel, char **ret);
bool fakesys_exists(FakeSys *fs, const char *rel);
/* Copies a file from the real filesystem into the tree. */
int fakesys_copy_file(FakeSys *fs, const char *src_path, const char *rel);
/* Unpacks a .tar(.gz) into the root with tar(1), keeping nothing of its ownership. */
int fakesys_untar(FakeSys *fs, const char *tarball);
