/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake VFIO character devices: /dev/vfio/vfio (a container) and /dev/vfio/N (a group), and
 * the device fds a group hands out, with the type1 ioctls of include/uapi/linux/vfio.h.
 *
 * A container is a memfd: it has no state worth sharing. A group fd is an fd on
 * <root>/.vfio-mock/group-N holding an open-file-description write lock on byte 0; a device fd
 * is another open of that file holding a shared lock on byte 1. The locks follow the fds into
 * dup()s, forks and SCM_RIGHTS messages and go away with the last close, so every process
 * under the model sees "this group is open" exactly as long as the kernel would. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdf.h"
#include "iommufd-uapi.h"
#include "macro.h"
#include "mock.h"
#include "util.h"

#define GROUP_LOCK_BYTE 0
#define DEVICE_LOCK_BYTE 1
#define ARGSZ_END(type, member) (offsetof(type, member) + sizeof(((type *) NULL)->member))

bool mock_vfio_path_is_node(const char *rel) {
        const char *n;

        if (!strneq(rel, "dev/vfio/", 9))
                return false;
        n = rel + 9;
        if (streq(n, "vfio"))
                return true;
        if (!*n || strlen(n) > 10)
                return false;
        for (const char *p = n; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

static int open_root(const MockRoots *roots) {
        int fd = open(roots->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

/* Kernel 5.19 DMA ownership: a group can go to userspace only when no member is bound to a
 * driver that uses the DMA API (vfio-pci and its variants, pci-stub and pcieport set
 * driver_managed_dma). */
bool mock_group_viable(int root_fd, unsigned group) {
        static const char *const ok[] = { "", MOCK_DRIVER_VFIO, "pci-stub", "pcieport" };
        _cleanup_strv_free_ char **members = NULL;

        if (mock_group_members(root_fd, group, &members) < 0)
                return false;
        for (char **i = members; i && *i; i++) {
                char drv[MOCK_NAME_MAX];
                bool fine = false;

                if (mock_device_driver(root_fd, *i, drv) < 0)
                        continue; /* gone meanwhile */
                for (size_t k = 0; k < ELEMENTSOF(ok); k++)
                        fine = fine || streq(drv, ok[k]);
                fine = fine || mock_driver_is_vfio(drv);
                if (!fine)
                        return false;
        }
        return true;
}

static bool group_has_vfio_member(int root_fd, unsigned group) {
        _cleanup_strv_free_ char **members = NULL;

        if (mock_group_members(root_fd, group, &members) < 0)
                return false;
        for (char **i = members; i && *i; i++) {
                char drv[MOCK_NAME_MAX];

                if (mock_device_driver(root_fd, *i, drv) >= 0 && mock_driver_is_vfio(drv))
                        return true;
        }
        return false;
}

static int set_ofd_lock(int fd, short type, off_t byte) {
        struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

        if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
                return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
        return 0;
}

int mock_obj_install(int fd, MockKind kind, const MockRoots *roots, const char *name,
                     unsigned group, bool table_locked) {
        struct stat st;
        MockObj *o;
        int r;

        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        o = mock_obj_new(kind, roots);
        if (!o) {
                close(fd);
                return -ENOMEM;
        }
        o->st_dev = st.st_dev;
        o->st_ino = st.st_ino;
        o->group = group;
        if (name)
                strcpy(o->name, name);
        if (!table_locked)
                mock_table_lock();
        r = mock_table_install_locked(fd, o);
        if (!table_locked)
                mock_table_unlock();
        if (r < 0) {
                free(o);
                close(fd);
                return r;
        }
        return fd;
}

static int open_container(const MockRoots *roots, int flags) {
        _cleanup_free_ char *node = NULL;
        _cleanup_close_ int root_fd = -1;
        int fd;

        /* /dev/vfio/vfio exists while vfio is loaded: the tree has the node, or vfio-pci (which
         * needs vfio) is there. */
        if (asprintf(&node, "%s/dev/vfio/vfio", roots->dev_root) < 0)
                return -ENOMEM;
        root_fd = open_root(roots);
        if (root_fd < 0)
                return root_fd;
        if (access(node, F_OK) < 0 &&
            faccessat(root_fd, "sys/bus/pci/drivers/" MOCK_DRIVER_VFIO, F_OK, 0) < 0)
                return -ENOENT;
        fd = memfd_create("vfio-mock-container", flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
        if (fd < 0)
                return -errno;
        return mock_obj_install(fd, MOCK_KIND_CONTAINER, roots, NULL, 0, false);
}

static bool group_lock_held(const char *root, unsigned group) {
        struct flock fl = {
                .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = GROUP_LOCK_BYTE, .l_len = 1
        };
        _cleanup_close_ int fd = -1;
        char p[PATH_MAX + 32];

        snprintf(p, sizeof(p), "%s/" MOCK_STATE_DIR "/group-%u", root, group);
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        return fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) >= 0 && fl.l_type != F_UNLCK;
}

static int open_group(const MockRoots *roots, unsigned group, int flags) {
        _cleanup_close_ int root_fd = -1, fd = -1;
        _cleanup_strv_free_ char **members = NULL;
        _cleanup_free_ char *node = NULL;
        int lock, r;

        root_fd = open_root(roots);
        if (root_fd < 0)
                return root_fd;
        /* The node's permissions decide who may open it (the daemon's uid grants), as the
         * kernel's path walk would; a tree without nodes lets everyone in. */
        if (asprintf(&node, "%s/dev/vfio/%u", roots->dev_root, group) < 0)
                return -ENOMEM;
        if (faccessat(AT_FDCWD, node, R_OK | W_OK, AT_EACCESS) < 0 && errno == EACCES)
                return -EACCES;
        lock = mock_lock_model(roots->root);
        if (lock < 0)
                return lock;
        /* The node exists while vfio-pci holds a member (vfio_group_find_or_alloc()). */
        r = mock_group_members(root_fd, group, &members);
        if (r >= 0 && !group_has_vfio_member(root_fd, group))
                r = -ENOENT;
        /* One opener per group (vfio_group_fops_open(): -EBUSY when already open). The kernel's
         * failed open closes nothing that was open, so it makes no close event (__fput() skips
         * fsnotify_close() without FMODE_OPENED): test the lock read-only first, which a watch
         * for IN_CLOSE_WRITE does not see (see inotify_add_watch() in vfio-mock.c). */
        if (r >= 0 && group_lock_held(roots->root, group))
                r = -EBUSY;
        /* A member's cdev bound to an iommufd blocks the group (vfio_group_fops_open():
         * cdev_device_open_cnt, counted by vfio_device_block_group() at the bind). */
        if (r >= 0 && mock_cdev_group_bound(roots->root, group))
                r = -EBUSY;
        if (r >= 0)
                r = fd = mock_group_lock_open(roots->root, group, flags);
        if (r >= 0)
                r = set_ofd_lock(fd, F_WRLCK, GROUP_LOCK_BYTE);
        mock_unlock_model(lock);
        if (r < 0)
                return r;
        return mock_obj_install(TAKE_FD(fd), MOCK_KIND_GROUP, roots, NULL, group, false);
}

int mock_vfio_open(const MockRoots *roots, const char *rel, int flags) {
        const char *n = rel + strlen("dev/vfio/");
        uint32_t group;
        int r;

        if (streq(n, "vfio"))
                return open_container(roots, flags);
        r = safe_atou32(n, 10, &group);
        if (r < 0)
                return -ENOENT;
        return open_group(roots, group, flags);
}

/* vfio_iommu_type1_attach_group() and iommufd_device_bind() refuse a group without isolated
 * MSI (interrupt remapping) unless the module's allow_unsafe_interrupts is set. */
bool mock_interrupts_unsafe(const MockRoots *roots, const char *module) {
        _cleanup_close_ int root_fd = -1, fd = -1;
        char param[128], buf[16] = {};
        MockFaults f;
        ssize_t n;

        if (mock_config_load(NULL, &f) < 0 || !f.no_interrupt_remapping)
                return false;
        root_fd = open_root(roots);
        if (root_fd < 0)
                return true;
        snprintf(param, sizeof(param), "sys/module/%s/parameters/allow_unsafe_interrupts", module);
        fd = openat(root_fd, param, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return true;
        n = read(fd, buf, sizeof(buf) - 1);
        /* A bool module parameter reads "Y" or "N" (kernel/params.c param_get_bool()). */
        return !(n > 0 && (buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1'));
}

static bool interrupts_safe(const MockObj *o) {
        return !mock_interrupts_unsafe(&o->roots, "vfio_iommu_type1");
}

/* vfio_dma_do_map() checks, without the bookkeeping: no IOMMU yet EINVAL (vfio_iommu_type1_ioctl()
 * has no iommu), flags other than READ/WRITE or a size/IOVA/vaddr not page aligned EINVAL, a
 * vaddr range with holes EFAULT (the pin would fault). Overlaps are not tracked. */
static int container_map_dma(MockObj *o, void *arg) {
        struct vfio_iommu_type1_dma_map m;
        long page = sysconf(_SC_PAGESIZE);
        _cleanup_free_ unsigned char *vec = NULL;
        int r = 0;

        memcpy(&m, arg, sizeof(m));
        if (m.argsz < sizeof(m) || !o->iommu_set)
                return -EINVAL;
        if (m.flags & ~(uint32_t) (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
                return -EINVAL;
        if (m.size == 0 || (m.size | m.iova | m.vaddr) % (uint64_t) page != 0)
                return -EINVAL;
        vec = malloc(m.size / (uint64_t) page);
        if (!vec)
                return -ENOMEM;
        if (mincore((void *) (uintptr_t) m.vaddr, m.size, vec) < 0)
                r = -EFAULT;
        return r;
}

static int container_ioctl(MockObj *o, unsigned long request, void *arg) {
        /* An int in the variadic slot: only its low 32 bits are defined. */
        unsigned type = (unsigned) (unsigned long) arg;

        switch (request) {
        case VFIO_GET_API_VERSION:
                return VFIO_API_VERSION;
        case VFIO_CHECK_EXTENSION:
                return type == VFIO_TYPE1_IOMMU || type == VFIO_TYPE1v2_IOMMU;
        case VFIO_SET_IOMMU:
                /* vfio_ioctl_set_iommu(): needs a group and no backend yet. */
                if (o->n_groups == 0 || o->iommu_set)
                        return -EINVAL;
                if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
                        return -ENODEV;
                if (!interrupts_safe(o))
                        return -EPERM;
                o->iommu_set = true;
                return 0;
        case VFIO_IOMMU_MAP_DMA:
                return container_map_dma(o, arg);
        default:
                return -ENOTTY;
        }
}

static void group_detach(MockObj *o) {
        MockObj *c = o->container;

        o->container = NULL;
        if (--c->n_groups == 0)
                c->iommu_set = false;
        mock_obj_unref_locked(c);
}

static int group_get_device_fd(MockObj *o, const char *address) {
        _cleanup_close_ int root_fd = -1;
        char drv[MOCK_NAME_MAX], bdf[MOCK_NAME_MAX];
        unsigned group;
        size_t len;
        int fd, r;

        if (!address)
                return -EFAULT;
        len = strnlen(address, MOCK_NAME_MAX);
        if (len == MOCK_NAME_MAX)
                return -EINVAL;
        memcpy(bdf, address, len + 1);
        /* vfio_group_ioctl_get_device_fd() needs a container with a backend. */
        if (!o->container || !o->container->iommu_set || !pci_address_is_canonical(bdf))
                return -EINVAL;
        root_fd = open_root(&o->roots);
        if (root_fd < 0)
                return root_fd;
        if (mock_device_group(root_fd, bdf, &group) < 0 || group != o->group ||
            mock_device_driver(root_fd, bdf, drv) < 0 || !mock_driver_is_vfio(drv))
                return -EINVAL;
        fd = mock_group_lock_open(o->roots.root, group, O_CLOEXEC);
        if (fd < 0)
                return fd;
        r = set_ofd_lock(fd, F_RDLCK, DEVICE_LOCK_BYTE);
        if (r < 0) {
                close(fd);
                return r;
        }
        return mock_obj_install(fd, MOCK_KIND_DEVICE, &o->roots, bdf, group, true);
}

static int group_ioctl(MockObj *o, unsigned long request, void *arg) {
        _cleanup_close_ int root_fd = -1;

        switch (request) {
        case VFIO_GROUP_GET_STATUS: {
                struct vfio_group_status *st = arg;

                if (!st)
                        return -EFAULT;
                if (st->argsz < ARGSZ_END(struct vfio_group_status, flags))
                        return -EINVAL;
                root_fd = open_root(&o->roots);
                if (root_fd < 0)
                        return root_fd;
                st->flags = (mock_group_viable(root_fd, o->group) ? VFIO_GROUP_FLAGS_VIABLE : 0) |
                            (o->container ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
                return 0;
        }
        case VFIO_GROUP_SET_CONTAINER: {
                const int *cfd = arg;
                MockObj *c;

                if (!cfd)
                        return -EFAULT;
                if (o->container)
                        return -EBUSY;
                c = mock_table_get_locked(*cfd);
                if (!c)
                        return fcntl(*cfd, F_GETFD) < 0 ? -EBADF : -EINVAL;
                if (c->kind != MOCK_KIND_CONTAINER)
                        return -EINVAL;
                root_fd = open_root(&o->roots);
                if (root_fd < 0)
                        return root_fd;
                /* iommu_group_claim_dma_owner() fails while a DMA-API driver holds a member. */
                if (!mock_group_viable(root_fd, o->group))
                        return -EPERM;
                /* Joining a container that has a domain attaches to it: the same IR check. */
                if (c->iommu_set && !interrupts_safe(c))
                        return -EPERM;
                o->container = c;
                c->refs++;
                c->n_groups++;
                return 0;
        }
        case VFIO_GROUP_UNSET_CONTAINER:
                if (!o->container)
                        return -EINVAL;
                group_detach(o);
                return 0;
        case VFIO_GROUP_GET_DEVICE_FD:
                return group_get_device_fd(o, arg);
        default:
                return -ENOTTY;
        }
}

int mock_vfio_device_ioctl(const MockRoots *roots, const char *bdf, unsigned long request,
                           void *arg) {
        _cleanup_close_ int root_fd = -1;
        MockFaults f;
        int r;

        root_fd = open_root(roots);
        if (root_fd < 0)
                return root_fd;
        switch (request) {
        case VFIO_DEVICE_GET_INFO: {
                struct vfio_device_info *info = arg;

                if (!info)
                        return -EFAULT;
                if (info->argsz < ARGSZ_END(struct vfio_device_info, num_irqs))
                        return -EINVAL;
                /* vfio_pci_ioctl_get_info(): RESET when some reset method works. */
                info->flags = VFIO_DEVICE_FLAGS_PCI;
                if (mock_device_has_reset(root_fd, bdf))
                        info->flags |= VFIO_DEVICE_FLAGS_RESET;
                info->num_regions = VFIO_PCI_NUM_REGIONS;
                info->num_irqs = VFIO_PCI_NUM_IRQS;
                if (info->argsz >= ARGSZ_END(struct vfio_device_info, cap_offset))
                        info->cap_offset = 0;
                return 0;
        }
        case VFIO_DEVICE_RESET:
                if (!mock_device_has_reset(root_fd, bdf))
                        return -EINVAL;
                r = mock_config_load(bdf, &f);
                if (r < 0)
                        return r;
                return f.reset_fails ? -EIO : 0;
        default:
                return -ENOTTY;
        }
}

static int device_ioctl(MockObj *o, unsigned long request, void *arg) {
        /* vfio_df_ioctl_bind_iommufd(): "BIND_IOMMUFD only allowed for cdev fds". */
        if (request == VA_VFIO_DEVICE_BIND_IOMMUFD)
                return -EINVAL;
        return mock_vfio_device_ioctl(&o->roots, o->name, request, arg);
}

int mock_vfio_ioctl_locked(MockObj *o, unsigned long request, void *arg) {
        switch (o->kind) {
        case MOCK_KIND_CONTAINER:
                return container_ioctl(o, request, arg);
        case MOCK_KIND_GROUP:
                return group_ioctl(o, request, arg);
        case MOCK_KIND_DEVICE:
                return device_ioctl(o, request, arg);
        default:
                return -ENOTTY;
        }
}
