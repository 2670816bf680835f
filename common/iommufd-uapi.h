/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The iommufd and VFIO device cdev ioctls the daemon and the kernel model use, declared here
 * under names of our own: Debian 12's kernel headers (6.1) have neither include/uapi/linux/
 * iommufd.h's current form nor the cdev ioctls (Linux 6.6). The numbers and layouts are the
 * kernel's stable ABI; every structure starts with its size, and the kernel accepts any size
 * from the first version of the structure on (Documentation/userspace-api/iommufd.rst, "General
 * ioctl format"), so these, the first versions, work on every kernel that has the ioctl. */

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

/* include/uapi/linux/iommufd.h: IOMMUFD_TYPE ';', commands from 0x80. */
#define VA_IOMMUFD_TYPE ';'
#define VA_IOMMU_DESTROY _IO(VA_IOMMUFD_TYPE, 0x80)
#define VA_IOMMU_IOAS_ALLOC _IO(VA_IOMMUFD_TYPE, 0x81)
#define VA_IOMMU_IOAS_MAP _IO(VA_IOMMUFD_TYPE, 0x85)
#define VA_IOMMU_IOAS_UNMAP _IO(VA_IOMMUFD_TYPE, 0x86)
#define VA_IOMMU_OPTION _IO(VA_IOMMUFD_TYPE, 0x87)

struct va_iommu_destroy {
        __u32 size;
        __u32 id;
};

struct va_iommu_ioas_alloc {
        __u32 size;
        __u32 flags; /* 0 */
        __u32 out_ioas_id;
};

#define VA_IOMMU_IOAS_MAP_FIXED_IOVA (1u << 0)
#define VA_IOMMU_IOAS_MAP_WRITEABLE (1u << 1)
#define VA_IOMMU_IOAS_MAP_READABLE (1u << 2)

struct va_iommu_ioas_map {
        __u32 size;
        __u32 flags;
        __u32 ioas_id;
        __u32 reserved; /* 0 */
        __aligned_u64 user_va;
        __aligned_u64 length;
        __aligned_u64 iova;
};

struct va_iommu_ioas_unmap {
        __u32 size;
        __u32 ioas_id;
        __aligned_u64 iova;
        __aligned_u64 length;
};

/* IOMMU_OPTION_RLIMIT_MODE: 0 charges pinned memory to the user (the default), 1 to the process
 * that maps it; setting it needs CAP_SYS_RESOURCE. A global option: object_id 0. */
#define VA_IOMMU_OPTION_RLIMIT_MODE 0
#define VA_IOMMU_OPTION_OP_SET 0
#define VA_IOMMU_OPTION_OP_GET 1

struct va_iommu_option {
        __u32 size;
        __u32 option_id;
        __u16 op;
        __u16 reserved; /* 0 */
        __u32 object_id;
        __aligned_u64 val64;
};

/* include/uapi/linux/vfio.h, on a device cdev (/dev/vfio/devices/vfioN): nothing but
 * VFIO_DEVICE_BIND_IOMMUFD works before the bind; the bind claims DMA ownership of the device's
 * IOMMU group (every member on a driver that allows it). */
#define VA_VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
#define VA_VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#define VA_VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 20)

struct va_vfio_device_bind_iommufd {
        __u32 argsz;
        __u32 flags; /* 0 */
        __s32 iommufd;
        __u32 out_devid;
};

struct va_vfio_device_attach_iommufd_pt {
        __u32 argsz;
        __u32 flags; /* 0 */
        __u32 pt_id; /* an IOAS id in; the hardware page table's id out */
};

struct va_vfio_device_detach_iommufd_pt {
        __u32 argsz;
        __u32 flags; /* 0 */
};
