/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "bdf.h"
#include "iommufd-uapi.h"
#include "names.h"
#include "util.h"
#include "vfio.h"

int vfio_container_open(const SysRoot *r, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        int v;

        fd = dev_open(r, DEV_VFIO_CONTAINER, O_RDWR);
        if (fd < 0)
                return fd;
        v = ioctl(fd, VFIO_GET_API_VERSION);
        if (v < 0)
                return negative_errno();
        if (v != VFIO_API_VERSION)
                return -EPROTONOSUPPORT;
        /* type1v2: unmap semantics the VMMs rely on (Documentation/driver-api/vfio.rst). */
        if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
                return -EOPNOTSUPP;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int vfio_group_open(const SysRoot *r, uint32_t group, int *ret_fd) {
        char path[64];
        int fd;

        snprintf(path, sizeof(path), "dev/vfio/%" PRIu32, group);
        fd = dev_open(r, path, O_RDWR);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

int vfio_group_is_viable(int group_fd, bool *ret_viable) {
        struct vfio_group_status st = { .argsz = sizeof(st) };

        if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &st) < 0)
                return negative_errno();
        *ret_viable = st.flags & VFIO_GROUP_FLAGS_VIABLE;
        return 0;
}

int vfio_group_attach(int group_fd, int container_fd, bool set_iommu) {
        if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd) < 0)
                return negative_errno();
        if (set_iommu && ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
                return negative_errno();
        return 0;
}

int vfio_group_device_fd(int group_fd, const char *address, int *ret_fd) {
        int fd;

        if (!pci_address_is_canonical(address))
                return -EINVAL;
        fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, address);
        if (fd < 0)
                return negative_errno();
        /* The kernel sets O_CLOEXEC on device fds (vfio_group_ioctl_get_device_fd uses O_CLOEXEC). */
        *ret_fd = fd;
        return 0;
}

int vfio_device_can_reset(int device_fd, bool *ret) {
        struct vfio_device_info info = { .argsz = sizeof(info) };

        if (ioctl(device_fd, VFIO_DEVICE_GET_INFO, &info) < 0)
                return negative_errno();
        *ret = info.flags & VFIO_DEVICE_FLAGS_RESET;
        return 0;
}

int vfio_device_reset(int device_fd) {
        return ioctl(device_fd, VFIO_DEVICE_RESET) < 0 ? negative_errno() : 0;
}

int vfio_container_map_dma(int container_fd, void *vaddr, uint64_t iova, uint64_t size) {
        struct vfio_iommu_type1_dma_map m = {
                .argsz = sizeof(m),
                .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                .vaddr = (uintptr_t) vaddr,
                .iova = iova,
                .size = size,
        };

        return ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &m) < 0 ? negative_errno() : 0;
}

int iommufd_open(const SysRoot *r, int *ret_fd) {
        int fd = dev_open(r, DEV_IOMMU, O_RDWR);

        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

int iommufd_set_rlimit_per_process(int iommufd) {
        struct va_iommu_option o = {
                .size = sizeof(o),
                .option_id = VA_IOMMU_OPTION_RLIMIT_MODE,
                .op = VA_IOMMU_OPTION_OP_SET,
                .val64 = 1,
        };

        return ioctl(iommufd, VA_IOMMU_OPTION, &o) < 0 ? negative_errno() : 0;
}

int vfio_cdev_open(const SysRoot *r, const char *name, int *ret_fd) {
        char path[64];
        uint32_t n;
        int fd;

        if (!name || !strneq(name, "vfio", 4) || safe_atou32(name + 4, 10, &n) < 0)
                return -EINVAL;
        snprintf(path, sizeof(path), "dev/vfio/devices/vfio%" PRIu32, n);
        fd = dev_open(r, path, O_RDWR);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

int vfio_cdev_bind(int cdev_fd, int iommufd) {
        struct va_vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = iommufd };

        return ioctl(cdev_fd, VA_VFIO_DEVICE_BIND_IOMMUFD, &b) < 0 ? negative_errno() : 0;
}
