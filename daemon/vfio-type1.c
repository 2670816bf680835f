/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The type1 backend (Documentation/driver-api/vfio.rst, "VFIO Usage Example"): the group
 * /dev/vfio/N is attached to a container, /dev/vfio/vfio with the type1v2 IOMMU set; a VMM is
 * handed the container and the group, and device fds the group gives out. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "util.h"
#include "vfio-backend.h"
#include "vfio.h"

typedef struct Type1 {
        VfioBackend backend; /* first: the handle is a Type1 */
        int container_fd;    /* attached: both open */
        int group_fd;
} Type1;

static Type1 *type1(const VfioBackend *b) {
        return (Type1 *) b;
}

/* Their names in systemd's fd store: what an older daemon stored, so that an update in place
 * finds them (lease-<id>-container, lease-<id>-group). */
static const char *const stored_names[] = { "container", "group" };

static int *stored_slot(Type1 *t, size_t i) {
        return i == 0 ? &t->container_fd : &t->group_fd;
}

/* type1 gives each group an IOMMU domain (vfio_iommu_type1_attach_group()): no IOMMU, no type1.
 * The container node comes with the vfio module (drivers/vfio/container.c registers the misc
 * device vfio/vfio; its "devname:vfio/vfio" alias lets kmod create the node before the module
 * is loaded, and the first open loads it), so either fact says the host has it. */
static bool type1_supported(const HostInfo *h) {
        return h->iommu_present && (h->vfio_container_node || h->mod_vfio);
}

static int type1_new(uint32_t group, VfioBackend **ret) {
        Type1 *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *t = (Type1) {
                .backend = { .ops = &vfio_type1_ops, .group = group },
                .container_fd = -1,
                .group_fd = -1,
        };
        *ret = &t->backend;
        return 0;
}

static void type1_close(VfioBackend *b) {
        Type1 *t = type1(b);

        t->group_fd = safe_close(t->group_fd);
        t->container_fd = safe_close(t->container_fd);
}

static void type1_free(VfioBackend *b) {
        type1_close(b);
        free(type1(b));
}

static int type1_open(VfioBackend *b, const SysRoot *root, LeaseError *err) {
        Type1 *t = type1(b);
        int k;

        if (t->group_fd >= 0)
                return 0;
        k = vfio_group_open(root, b->group, &t->group_fd);
        if (k < 0)
                return lease_error_set(err, k, k == -EBUSY ? VA_ERROR_BUSY : VA_ERROR_VFIO_FAILED,
                                       "Cannot open /dev/vfio/%" PRIu32 ": %s%s", b->group,
                                       strerror(-k),
                                       k == -EBUSY ? " (another VFIO user holds the group)" : "");
        return 0;
}

static bool type1_is_open(const VfioBackend *b) {
        return type1(b)->group_fd >= 0;
}

static int type1_attach(VfioBackend *b, const SysRoot *root, LeaseError *err) {
        Type1 *t = type1(b);
        bool viable = false;
        int k;

        if (t->group_fd < 0)
                return lease_error_set(err, -EBADF, VA_ERROR_VFIO_FAILED,
                                       "IOMMU group %" PRIu32 " is not open", b->group);
        if (t->container_fd >= 0)
                return 0;
        k = vfio_group_is_viable(t->group_fd, &viable);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                       "VFIO_GROUP_GET_STATUS on group %" PRIu32 " failed: %s",
                                       b->group, strerror(-k));
        if (!viable)
                return lease_error_set(err, -EPERM, VA_ERROR_GROUP_NOT_VIABLE,
                                       "IOMMU group %" PRIu32 " is not viable", b->group);
        k = vfio_container_open(root, &t->container_fd);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                       "Cannot open the VFIO container /dev/vfio/vfio: %s",
                                       strerror(-k));
        k = vfio_group_attach(t->group_fd, t->container_fd, true);
        if (k < 0)
                /* Attached means both open: the fds to hand out, and a reset through VFIO. */
                t->container_fd = safe_close(t->container_fd);
        if (k == -EPERM)
                /* The type1 backend refuses VFIO_SET_IOMMU without interrupt remapping unless
                 * vfio_iommu_type1.allow_unsafe_interrupts is set (vfio_iommu_type1_attach_group). */
                return lease_error_set(err, k, VA_ERROR_IR_REQUIRED,
                                       "The kernel refused IOMMU group %" PRIu32
                                       " a type1 IOMMU domain (EPERM): "
                                       "interrupt remapping is not available and vfio_iommu_type1."
                                       "allow_unsafe_interrupts is off",
                                       b->group);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                       "Attaching IOMMU group %" PRIu32
                                       " to a container failed: %s",
                                       b->group, strerror(-k));
        return 0;
}

static int type1_reset_device(VfioBackend *b, const SysRoot *root, const char *address) {
        _cleanup_close_ int fd = -1;
        Type1 *t = type1(b);
        bool can = false;
        int k;

        /* A group gives out device fds only once its container has an IOMMU
         * (vfio_group_ioctl_get_device_fd()). */
        if (t->group_fd < 0 || t->container_fd < 0)
                return -EBADF;
        k = vfio_group_device_fd(t->group_fd, address, &fd);
        if (k < 0)
                return k;
        k = vfio_device_can_reset(fd, &can);
        if (k < 0)
                return k;
        return can ? vfio_device_reset(fd) : -EOPNOTSUPP;
}

static int type1_open_device(VfioBackend *b, const SysRoot *root, const char *address, int *ret_fd,
                             LeaseError *err) {
        Type1 *t = type1(b);
        int k = t->group_fd < 0 ? -EBADF : vfio_group_device_fd(t->group_fd, address, ret_fd);

        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_VFIO_FAILED,
                                       "VFIO_GROUP_GET_DEVICE_FD for %s failed: %s", address,
                                       strerror(-k));
        return 0;
}

static int type1_hand_out(VfioBackend *b, VfioFdKind kind, int *ret_fd) {
        Type1 *t = type1(b);
        int fd;

        switch (kind) {
        case VFIO_FD_CONTAINER:
                fd = t->container_fd;
                break;
        case VFIO_FD_GROUP:
                fd = t->group_fd;
                break;
        default:
                return -EOPNOTSUPP;
        }
        if (fd < 0)
                return -EBADF;
        *ret_fd = fd;
        return 0;
}

static int type1_map_dma(VfioBackend *b, void *vaddr, uint64_t iova, uint64_t size) {
        Type1 *t = type1(b);

        return t->container_fd < 0 ? -EBADF
                                   : vfio_container_map_dma(t->container_fd, vaddr, iova, size);
}

static const char *type1_stored_fd(const VfioBackend *b, size_t i, int *ret_fd) {
        if (i >= ELEMENTSOF(stored_names))
                return NULL;
        *ret_fd = *stored_slot(type1(b), i);
        return stored_names[i];
}

static int type1_adopt_fd(VfioBackend *b, const char *name, int fd) {
        for (size_t i = 0; i < ELEMENTSOF(stored_names); i++) {
                int *slot = stored_slot(type1(b), i);

                if (streq(name, stored_names[i]) && *slot < 0) {
                        *slot = fd;
                        return 1;
                }
        }
        return 0;
}

/* The group's node, whatever its members' cdevs: through it the VMM gets every member. */
static int type1_group_nodes(uint32_t group, char *const *cdevs, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        if (strv_extendf(&l, "dev/vfio/%" PRIu32, group) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int type1_nodes(const VfioBackend *b, char ***ret) {
        return type1_group_nodes(b->group, NULL, ret);
}

const VfioBackendOps vfio_type1_ops = {
        .name = "type1",
        .supported = type1_supported,
        .new = type1_new,
        .free = type1_free,
        .open = type1_open,
        .attach = type1_attach,
        .is_open = type1_is_open,
        .close = type1_close,
        .reset_device = type1_reset_device,
        .open_device = type1_open_device,
        .hand_out = type1_hand_out,
        .map_dma = type1_map_dma,
        .stored_fd = type1_stored_fd,
        .adopt_fd = type1_adopt_fd,
        .nodes = type1_nodes,
        .group_nodes = type1_group_nodes,
        .context_node = DEV_VFIO_CONTAINER,
};
