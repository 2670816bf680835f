/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The iommufd backend (Documentation/userspace-api/iommufd.rst; the VFIO device cdev of
 * Documentation/driver-api/vfio.rst, Linux 6.6): the lease holds an iommufd context
 * (/dev/iommu) and a file of each member's cdev (/dev/vfio/devices/vfioN). A VMM is handed the
 * context and the cdevs unbound: it binds each to the context itself
 * (VFIO_DEVICE_BIND_IOMMUFD) and makes its own IOAS, as QEMU does with
 * "-object iommufd,fd=N -device vfio-pci,iommufd=...,fd=M". */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdf.h"
#include "binding.h"
#include "names.h"
#include "topology.h"
#include "util.h"
#include "vfio-backend.h"
#include "vfio.h"

typedef struct Member {
        char address[PCI_ADDRESS_STRLEN];
        char cdev[16];   /* "vfioN" */
        char stored[48]; /* its name in systemd's fd store, see iommufd_stored_fd() */
        int fd;
} Member;

typedef struct Iommufd {
        VfioBackend backend; /* first: the handle is an Iommufd */
        int iommufd;
        Member *members; /* the group's members on vfio-pci, once open */
        size_t n_members;
        bool foreign_driver; /* a member is on a driver that keeps the group from user DMA */
} Iommufd;

static Iommufd *iommufd(const VfioBackend *b) {
        return (Iommufd *) b;
}

/* The kernel has iommufd when /dev/iommu exists or the module is loaded (its "devname:iommu"
 * alias lets kmod create the node before the first open loads it). Device cdevs are only seen
 * once a device is on vfio-pci: a kernel without them fails the claim with the error that says
 * so. */
static bool iommufd_supported(const HostInfo *h) {
        return h->iommu_present && (h->iommufd_node || h->mod_iommufd);
}

static int iommufd_new(uint32_t group, VfioBackend **ret) {
        Iommufd *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *t = (Iommufd) {
                .backend = { .ops = &vfio_iommufd_ops, .group = group },
                .iommufd = -1,
        };
        *ret = &t->backend;
        return 0;
}

static void iommufd_close(VfioBackend *b) {
        Iommufd *t = iommufd(b);

        for (size_t i = 0; i < t->n_members; i++)
                t->members[i].fd = safe_close(t->members[i].fd);
        t->iommufd = safe_close(t->iommufd);
}

static void iommufd_free(VfioBackend *b) {
        Iommufd *t = iommufd(b);

        iommufd_close(b);
        free(t->members);
        free(t);
}

static void stored_name(const Member *m, char *ret, size_t size) {
        snprintf(ret, size, "cdev-%s-%s", m->address, m->cdev);
        for (char *c = ret; *c; c++)
                if (*c == ':')
                        *c = '_';
}

/* The cdev of a device on vfio-pci: its vfio-dev/vfioN (sysfs: the struct device VFIO gives each
 * device it drives). 0 and "" when it has none. */
static int read_cdev_name(const SysRoot *root, const char *address, char *ret, size_t size) {
        _cleanup_closedir_ DIR *d = NULL;
        char path[sizeof(SYSFS_PCI_DEVICES) + 256 + 16];
        struct dirent *de;
        int k;

        ret[0] = 0;
        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/vfio-dev", address);
        k = sysroot_opendir_at(root, -1, path, &d);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        while ((de = readdir(d))) {
                uint32_t n;

                if (strneq(de->d_name, "vfio", 4) && safe_atou32(de->d_name + 4, 10, &n) >= 0) {
                        snprintf(ret, size, "vfio%" PRIu32, n);
                        break;
                }
        }
        return 0;
}

/* The group's members (iommu_groups/N/devices, sysfs-kernel-iommu_groups) that vfio-pci
 * drives, with their cdevs; the others (bridges on pcieport) have none and need none. */
static int read_members(Iommufd *t, const SysRoot *root, LeaseError *err) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ Member *m = NULL;
        char path[64];
        struct dirent *de;
        size_t n = 0;
        int k;

        t->foreign_driver = false;
        snprintf(path, sizeof(path), SYSFS_IOMMU_GROUPS "/%" PRIu32 "/devices", t->backend.group);
        k = sysroot_opendir_at(root, -1, path, &d);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                       "Cannot list the members of IOMMU group %" PRIu32 ": %s",
                                       t->backend.group, strerror(-k));
        while ((de = readdir(d))) {
                _cleanup_free_ char *driver = NULL;
                Member *nm;

                if (!pci_address_is_canonical(de->d_name))
                        continue;
                k = binding_current_driver(root, de->d_name, &driver);
                if (k == -ENOMEM)
                        return k;
                if (k < 0 || !driver)
                        continue;
                if (!driver_is_vfio(driver)) {
                        /* The drivers besides VFIO's own that allow user DMA (driver_managed_dma):
                         * bridges on pcieport, pci-stub. */
                        if (!streq(driver, DRIVER_PCIEPORT) && !streq(driver, DRIVER_PCI_STUB))
                                t->foreign_driver = true;
                        continue;
                }
                nm = realloc(m, sizeof(Member) * (n + 1));
                if (!nm)
                        return -ENOMEM;
                m = nm;
                m[n] = (Member) { .fd = -1 };
                strcpy(m[n].address, de->d_name); /* canonical: it fits */
                k = read_cdev_name(root, de->d_name, m[n].cdev, sizeof(m[n].cdev));
                if (k < 0)
                        return k;
                if (!m[n].cdev[0])
                        return lease_error_set(
                                err, -ENXIO, VA_ERROR_BACKEND_UNAVAILABLE,
                                "%s is on vfio-pci without a VFIO device cdev (vfio-dev/ in "
                                "sysfs): the kernel needs CONFIG_VFIO_DEVICE_CDEV (Linux >= 6.6) "
                                "for the iommufd backend",
                                de->d_name);
                stored_name(&m[n], m[n].stored, sizeof(m[n].stored));
                n++;
        }
        free(t->members);
        t->members = TAKE_PTR(m);
        t->n_members = n;
        return 0;
}

/* Binding a file of every member to our context asks the kernel what it would answer the VMM
 * (vfio_df_ioctl_bind_iommufd(), iommufd_device_bind()): EBUSY while another process has the
 * group open through /dev/vfio/N; EINVAL when another file of the device is bound (through its
 * cdev a device is opened once); EPERM when the group's DMA cannot go to user space (a member on
 * a host driver, another context owning a member) or its MSIs cannot be isolated (no interrupt
 * remapping and iommufd.allow_unsafe_interrupts off). The trial files are closed again, which
 * unbinds them. */
static int try_bind(Iommufd *t, const SysRoot *root, LeaseError *err) {
        for (size_t i = 0; i < t->n_members; i++) {
                _cleanup_close_ int fd = -1;
                int k = vfio_cdev_open(root, t->members[i].cdev, &fd);

                if (k >= 0)
                        k = vfio_cdev_bind(fd, t->iommufd);
                if (k == -EBUSY || k == -EINVAL)
                        return lease_error_set(err, -EBUSY, VA_ERROR_BUSY,
                                               "%s is held by another process (%s)",
                                               t->members[i].address,
                                               k == -EBUSY ? "its group is open through /dev/vfio"
                                                           : "its cdev is bound to an iommufd");
                if (k == -EPERM && t->foreign_driver)
                        return lease_error_set(err, k, VA_ERROR_GROUP_NOT_VIABLE,
                                               "IOMMU group %" PRIu32 " is not viable",
                                               t->backend.group);
                if (k == -EPERM)
                        /* lease.c tells the two apart by the host's interrupt remapping. */
                        return lease_error_set(err, k, VA_ERROR_IR_REQUIRED,
                                               "The kernel refused to bind %s to an iommufd "
                                               "(EPERM): interrupt remapping is not available "
                                               "and iommufd.allow_unsafe_interrupts is off",
                                               t->members[i].address);
                if (k < 0)
                        return lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                               "Binding %s (/dev/vfio/devices/%s) to an iommufd "
                                               "failed: %s",
                                               t->members[i].address, t->members[i].cdev,
                                               strerror(-k));
        }
        return 0;
}

static int iommufd_open_backend(VfioBackend *b, const SysRoot *root, LeaseError *err) {
        Iommufd *t = iommufd(b);
        int k;

        if (t->iommufd >= 0)
                return 0;
        k = read_members(t, root, err);
        if (k < 0)
                return k;
        k = iommufd_open(root, &t->iommufd);
        if (k < 0)
                return lease_error_set(err, k == -ENOENT ? -ENXIO : k,
                                       k == -ENOENT ? VA_ERROR_BACKEND_UNAVAILABLE
                                                    : VA_ERROR_VFIO_FAILED,
                                       "Cannot open /dev/iommu: %s%s", strerror(-k),
                                       k == -ENOENT ? " (the kernel needs CONFIG_IOMMUFD for the "
                                                      "iommufd backend)"
                                                    : "");
        /* Pinned memory is charged to the VMM that maps it, not to its user as a whole. */
        k = iommufd_set_rlimit_per_process(t->iommufd);
        if (k >= 0)
                k = try_bind(t, root, err);
        for (size_t i = 0; k >= 0 && i < t->n_members; i++) {
                k = vfio_cdev_open(root, t->members[i].cdev, &t->members[i].fd);
                if (k < 0)
                        lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                        "Cannot open /dev/vfio/devices/%s of %s: %s",
                                        t->members[i].cdev, t->members[i].address, strerror(-k));
        }
        if (k < 0) {
                if (err && !err->message)
                        lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                        "Cannot set up an iommufd for IOMMU group %" PRIu32 ": %s",
                                        b->group, strerror(-k));
                iommufd_close(b);
                return k;
        }
        return 0;
}

static bool iommufd_is_open(const VfioBackend *b) {
        return iommufd(b)->iommufd >= 0;
}

/* Everything is checked at open: the cdevs go to the VMM unbound. */
static int iommufd_attach(VfioBackend *b, const SysRoot *root, LeaseError *err) {
        if (!iommufd_is_open(b))
                return lease_error_set(err, -EBADF, VA_ERROR_VFIO_FAILED,
                                       "IOMMU group %" PRIu32 " is not open", b->group);
        return 0;
}

static Member *find_member(Iommufd *t, const char *address) {
        for (size_t i = 0; address && i < t->n_members; i++)
                if (streq(t->members[i].address, address))
                        return &t->members[i];
        return NULL;
}

/* A file of its own, bound to our context: VFIO_DEVICE_RESET works on a bound file only, and
 * the VMM's are closed by now (a device is bound once). */
static int iommufd_reset_device(VfioBackend *b, const SysRoot *root, const char *address) {
        Iommufd *t = iommufd(b);
        Member *m = find_member(t, address);
        _cleanup_close_ int fd = -1;
        bool can = false;
        int k;

        if (!m || t->iommufd < 0)
                return -EBADF;
        k = vfio_cdev_open(root, m->cdev, &fd);
        if (k >= 0)
                k = vfio_cdev_bind(fd, t->iommufd);
        if (k >= 0)
                k = vfio_device_can_reset(fd, &can);
        if (k < 0)
                return k;
        return can ? vfio_device_reset(fd) : -EOPNOTSUPP;
}

/* A new file of the member's cdev, unbound, for the VMM to bind (Lease.OpenCdev). */
static int iommufd_open_device(VfioBackend *b, const SysRoot *root, const char *address,
                               int *ret_fd, LeaseError *err) {
        Iommufd *t = iommufd(b);
        Member *m = find_member(t, address);
        int k = t->iommufd < 0 ? -EBADF : !m ? -ENODEV : vfio_cdev_open(root, m->cdev, ret_fd);

        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                       "Cannot open the VFIO device cdev of %s%s%s: %s", address,
                                       m ? " /dev/vfio/devices/" : "", m ? m->cdev : "",
                                       strerror(-k));
        return 0;
}

static int iommufd_hand_out(VfioBackend *b, VfioFdKind kind, int *ret_fd) {
        Iommufd *t = iommufd(b);

        if (kind != VFIO_FD_IOMMUFD)
                return -EOPNOTSUPP;
        if (t->iommufd < 0)
                return -EBADF;
        *ret_fd = t->iommufd;
        return 0;
}

/* In systemd's fd store: "iommufd", and each member's file as "cdev-DDDD_BB_SS.F-vfioN" (the
 * address with '_' for ':', which an FDNAME may not hold), so that it is found again. */
static const char *iommufd_stored_fd(const VfioBackend *b, size_t i, int *ret_fd) {
        Iommufd *t = iommufd(b);

        if (i == 0) {
                *ret_fd = t->iommufd;
                return "iommufd";
        }
        if (i > t->n_members)
                return NULL;
        *ret_fd = t->members[i - 1].fd;
        return t->members[i - 1].stored;
}

static int iommufd_adopt_fd(VfioBackend *b, const char *name, int fd) {
        Iommufd *t = iommufd(b);
        char address[PCI_ADDRESS_STRLEN + 8], cdev[16];
        const char *dash;
        Member *nm;

        if (streq(name, "iommufd")) {
                if (t->iommufd >= 0)
                        return 0;
                t->iommufd = fd;
                return 1;
        }
        if (!strneq(name, "cdev-", 5) || !(dash = strrchr(name + 5, '-')) ||
            (size_t) (dash - (name + 5)) >= sizeof(address) || strlen(dash + 1) >= sizeof(cdev))
                return 0;
        snprintf(address, (size_t) (dash - (name + 5)) + 1, "%s", name + 5);
        for (char *c = address; *c; c++)
                if (*c == '_')
                        *c = ':';
        snprintf(cdev, sizeof(cdev), "%s", dash + 1);
        if (!pci_address_is_canonical(address) || !strneq(cdev, "vfio", 4) ||
            find_member(t, address))
                return 0;
        nm = realloc(t->members, sizeof(Member) * (t->n_members + 1));
        if (!nm)
                return -ENOMEM;
        t->members = nm;
        nm = &t->members[t->n_members++];
        *nm = (Member) { .fd = fd };
        strcpy(nm->address, address); /* canonical: it fits */
        snprintf(nm->cdev, sizeof(nm->cdev), "%s", cdev);
        stored_name(nm, nm->stored, sizeof(nm->stored));
        return 1;
}

/* The nodes a VMM would open itself: each member's cdev. GrantAccess gives them; /dev/iommu
 * stays root's (the kernel's misc device is 0660 root), the VMM takes the iommufd from
 * OpenIommufd. A release that waits for a VMM watches the cdevs. */
static int iommufd_group_nodes(uint32_t group, char *const *cdevs, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; cdevs && cdevs[i]; i++)
                if (strv_extendf(&l, "dev/vfio/devices/%s", cdevs[i]) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int iommufd_nodes(const VfioBackend *b, char ***ret) {
        Iommufd *t = iommufd(b);
        _cleanup_free_ char **cdevs = calloc(t->n_members + 1, sizeof(char *));

        if (!cdevs)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_members; i++)
                cdevs[i] = t->members[i].cdev; /* borrowed */
        return iommufd_group_nodes(b->group, cdevs, ret);
}

const VfioBackendOps vfio_iommufd_ops = {
        .name = "iommufd",
        .supported = iommufd_supported,
        .new = iommufd_new,
        .free = iommufd_free,
        .open = iommufd_open_backend,
        .attach = iommufd_attach,
        .is_open = iommufd_is_open,
        .close = iommufd_close,
        .reset_device = iommufd_reset_device,
        .open_device = iommufd_open_device,
        .hand_out = iommufd_hand_out,
        .stored_fd = iommufd_stored_fd,
        .adopt_fd = iommufd_adopt_fd,
        .nodes = iommufd_nodes,
        .group_nodes = iommufd_group_nodes,
        .context_node = DEV_IOMMU,
};
