/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.h"
#include "lease-error.h"
#include "macro.h"
#include "sysfs.h"

/* How a lease's IOMMU group reaches a VMM: one table of operations per VFIO backend, as the
 * kernel has one struct vfio_iommu_driver_ops per IOMMU driver (drivers/vfio/vfio.h: type1,
 * spapr) and QEMU one VFIOIOMMUClass per backend (legacy container, iommufd). lease.c calls
 * only these; what a backend holds (type1: the container and group fds) lives behind its
 * handle. The backends call daemon/vfio.c, the only file that issues VFIO ioctls. */

/* The fds a lease hands out whole (Lease.OpenContainer, Lease.OpenGroup); a backend hands out
 * the kinds it has. Device fds are per member: VfioBackendOps.open_device. */
typedef enum VfioFdKind {
        VFIO_FD_CONTAINER, /* type1: /dev/vfio/vfio, the group attached and the IOMMU set */
        VFIO_FD_GROUP,     /* type1: /dev/vfio/N */
        VFIO_FD_IOMMUFD,   /* iommufd: /dev/iommu, RLIMIT_MODE per process */
        _VFIO_FD_KIND_MAX,
} VfioFdKind;

typedef struct VfioBackendOps VfioBackendOps;

/* The handle: every backend's own struct starts with it (container_of). */
typedef struct VfioBackend {
        const VfioBackendOps *ops;
        uint32_t group;
} VfioBackend;

struct VfioBackendOps {
        /* state.json's "backend", the Lease's Backend and the Manager's Backends. */
        const char *name;
        /* Whether the host offers it, from the model's host facts. */
        bool (*supported)(const HostInfo *h);
        /* A handle for IOMMU group, nothing open yet. */
        int (*new)(uint32_t group, VfioBackend **ret);
        /* Closes what it holds (close()) and frees it. */
        void (*free)(VfioBackend *b);

        /* Takes the group from the kernel for this lease. -EBUSY when another process holds it
         * (the kernel lets one open file own a group); *err says what could not be opened. */
        int (*open)(VfioBackend *b, const SysRoot *root, LeaseError *err);
        /* The opened group gets the IOMMU context the VMM maps its memory into. A group that is
         * not viable is -EPERM with VA_ERROR_GROUP_NOT_VIABLE (lease.c names the members). */
        int (*attach)(VfioBackend *b, const SysRoot *root, LeaseError *err);
        /* Whether it holds the group (open() succeeded and close() has not run since). */
        bool (*is_open)(const VfioBackend *b);
        /* Closes every fd; the handle stays and can open again. */
        void (*close)(VfioBackend *b);

        /* Resets a member through VFIO (VFIO_DEVICE_RESET picks the device's best method);
         * fails when the group is not attached or the device has no reset. */
        int (*reset_device)(VfioBackend *b, const SysRoot *root, const char *address);
        /* A new fd of a member for the VMM (the caller owns it); *err names the device. */
        int (*open_device)(VfioBackend *b, const SysRoot *root, const char *address, int *ret_fd,
                           LeaseError *err);
        /* The fd of that kind, still the backend's (the bus sends a copy): -EOPNOTSUPP when the
         * backend has no such kind, -EBADF when it is not open. */
        int (*hand_out)(VfioBackend *b, VfioFdKind kind, int *ret_fd);

        /* DMA-maps [vaddr, +size) at iova into the context the group is attached to, for the
         * VMM to adopt (a pre-pinned region, region.h); NULL: the backend cannot. iommufd
         * cannot: it pins only for an IOAS with a device attached (a domain), and a device binds
         * to one context file once (vfio_df_open()), which must be the VMM's; an IOAS of the
         * daemon's own would pin nothing, and IOMMU_IOAS_COPY would pin at the copy, charged to
         * the daemon (measured on 6.12: tests/vm/README.md). */
        int (*map_dma)(VfioBackend *b, void *vaddr, uint64_t iova, uint64_t size);

        /* Its fds as systemd's fd store keeps them across a restart (fdstore.c names them
         * lease-<id>-<name>; a name is a valid FDNAME: no ':', printable ASCII). The i-th name,
         * NULL past the last; *ret_fd is -1 when that one is closed. */
        const char *(*stored_fd)(const VfioBackend *b, size_t i, int *ret_fd);
        /* Takes fd (1) when name is one of its and that one is closed, else leaves it (0). */
        int (*adopt_fd)(VfioBackend *b, const char *name, int fd);

        /* The device nodes, relative to the dev root, that a VMM opens itself: GrantAccess
         * hands them to a uid, and a release that waits for a VMM watches them for the last
         * close. */
        int (*nodes)(const VfioBackend *b, char ***ret);
        /* The same for a group this handle has not opened (a prepare, a lease read back at
         * start): from the device cdevs ("vfioN", NULL-terminated, may be NULL) of its members
         * on VFIO, which the model knows (Device.vfio_dev). nodes() is this with the cdevs the
         * handle found. */
        int (*group_nodes)(uint32_t group, char *const *cdevs, char ***ret);
        /* The node, relative to the dev root, that a VMM opens for its IOMMU context, one for
         * every group (type1: the container, dev/vfio/vfio; iommufd: dev/iommu). A grant leaves
         * it as it is (/dev/vfio/vfio is 0666; the iommufd comes from OpenIommufd), but a
         * container that is given the group needs it in its /dev too (cdi.c). */
        const char *context_node;
};

extern const VfioBackendOps vfio_type1_ops, vfio_iommufd_ops;

/* Every backend this daemon knows, NULL-terminated; the first is the default of new leases. */
extern const VfioBackendOps *const vfio_backends[];

/* NULL for a name this daemon does not know. */
const VfioBackendOps *vfio_backend_ops_from_name(const char *name);
/* The names of the backends h supports, in vfio_backends' order ([] when none). */
int vfio_backends_supported(const HostInfo *h, char ***ret);
/* "type1, iommufd": for error messages. */
char *vfio_backends_known(void);

const char *vfio_fd_kind_to_string(VfioFdKind k);

/* ops NULL: the default. */
int vfio_backend_new(const VfioBackendOps *ops, uint32_t group, VfioBackend **ret);
VfioBackend *vfio_backend_free(VfioBackend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(VfioBackend *, vfio_backend_free);

/* NULL-safe: "" for no handle. */
const char *vfio_backend_name(const VfioBackend *b);
/* NULL-safe: false for no handle. */
bool vfio_backend_is_open(const VfioBackend *b);
void vfio_backend_close(VfioBackend *b);
/* The fd the backend keeps under that fd-store name, -1 when none. */
int vfio_backend_stored_fd(const VfioBackend *b, const char *name);
