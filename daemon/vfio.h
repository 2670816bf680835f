/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sysfs.h"

/* The only file that issues VFIO ioctls (include/uapi/linux/vfio.h). Everything above it can be
 * tested without a kernel. All fds returned are O_CLOEXEC and owned by the caller. */

/* /dev/vfio/vfio with the API version checked and type1v2 available. */
int vfio_container_open(const SysRoot *r, int *ret_fd);
/* /dev/vfio/N. */
int vfio_group_open(const SysRoot *r, uint32_t group, int *ret_fd);
/* VFIO_GROUP_GET_STATUS: viable = every member is unbound or on a driver that allows user DMA
 * ownership (vfio-pci, pci-stub, pcieport; Linux 5.19 DMA ownership). */
int vfio_group_is_viable(int group_fd, bool *ret_viable);
/* VFIO_GROUP_SET_CONTAINER, then VFIO_SET_IOMMU(type1v2) when the container has no IOMMU yet.
 * EPERM from VFIO_SET_IOMMU means the kernel refused for missing interrupt remapping. */
int vfio_group_attach(int group_fd, int container_fd, bool set_iommu);
int vfio_group_device_fd(int group_fd, const char *address, int *ret_fd);
/* VFIO_DEVICE_GET_INFO flags has VFIO_DEVICE_FLAGS_RESET? */
int vfio_device_can_reset(int device_fd, bool *ret);
int vfio_device_reset(int device_fd);
/* VFIO_IOMMU_MAP_DMA, readable and writable by the devices: pins the pages of [vaddr, +size) and
 * charges them to this process's locked_vm (vfio_pin_pages_remote()). A VMM adopts such a
 * mapping with VFIO_DMA_UNMAP_FLAG_VADDR and VFIO_DMA_MAP_FLAG_VADDR (include/uapi/linux/vfio.h),
 * which moves neither the pins nor the IOVA. */
int vfio_container_map_dma(int container_fd, void *vaddr, uint64_t iova, uint64_t size);

/* iommufd (Documentation/userspace-api/iommufd.rst) and the VFIO device cdev (Linux 6.6,
 * Documentation/driver-api/vfio.rst "VFIO device cdev"). */

/* /dev/iommu: an iommufd context. */
int iommufd_open(const SysRoot *r, int *ret_fd);
/* IOMMU_OPTION_RLIMIT_MODE 1: memory the context's user pins is charged to the process that
 * maps it (the VMM's RLIMIT_MEMLOCK), not to its uid. Needs CAP_SYS_RESOURCE (-EPERM). */
int iommufd_set_rlimit_per_process(int iommufd);
/* /dev/vfio/devices/NAME, NAME the "vfioN" of the device's vfio-dev/ in sysfs. */
int vfio_cdev_open(const SysRoot *r, const char *name, int *ret_fd);
/* VFIO_DEVICE_BIND_IOMMUFD: the device file joins iommufd. The kernel claims DMA ownership of
 * the device's IOMMU group for it: -EBUSY when a member is on a driver that does not allow it;
 * -EPERM without interrupt remapping unless iommufd.allow_unsafe_interrupts; -EINVAL when
 * another file of the device is bound already (a cdev is bound once, vfio_df_open()). */
int vfio_cdev_bind(int cdev_fd, int iommufd);
