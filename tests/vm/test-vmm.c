/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tests/vm/test-vmm: the smallest VMM that proves the fds of a lease work on the real kernel.
 * Built by tests/vm/run.sh on the host (same Debian as the guest) and installed in the guest as
 * /usr/local/bin/test-vmm.
 *
 *   test-vmm fds [--hold]              the fds `assignctl claim --exec` passes (VFIO_CONTAINER_FD,
 *                                      VFIO_GROUP_FD, VFIO_DEVICE_FDS, VFIO_LEASE)
 *   test-vmm claim ADDRESS [--hold]    ClaimDevice, then OpenContainer/OpenGroup/OpenDevice itself
 *   test-vmm claim-group N [--hold]    the same with ClaimGroup
 *   test-vmm claim-iommufd ADDRESS|N [--hold]
 *                                      ClaimDevice/ClaimGroup with backend "iommufd", then
 *                                      OpenIommufd and OpenCdev for every member itself
 *   test-vmm open-group N ADDRESS...  no bus: the device nodes opened as a VMM given them does
 *                                      (a container given the group through CDI): /dev/vfio/vfio
 *                                      as the container, /dev/vfio/N attached to it with the
 *                                      type1v2 IOMMU, VFIO_GROUP_GET_DEVICE_FD of each ADDRESS
 *
 * With every device fd: VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO of the config region and
 * a pread of the vendor and device ids, compared with sysfs. With the container: a 2 MiB
 * anonymous buffer mapped for DMA and unmapped again, and a map into the MSI window refused.
 * With an iommufd and the unbound cdevs (`fds` of an iommufd lease: VFIO_IOMMUFD_FD and
 * VFIO_CDEV_FDS), what QEMU does with them: every cdev bound to the iommufd, one IOAS allocated
 * and every device attached to it, the buffer mapped into the IOAS and unmapped, a map into the
 * MSI window refused; then the device checks through the bound cdevs.
 * Prints one "ok ..." or "not ok ...: why" line per check, then "summary: N ok, M not ok"; exits 0
 * when nothing failed. --hold then prints "READY" and waits for SIGTERM/SIGINT, holding the fds
 * (and, for claim, the bus connection the lease belongs to); it exits 0 without releasing, so the
 * daemon's holder tracking does the release. Without --hold, claim releases the lease itself.
 * SIGUSR1 while holding a claim: OpenDevice again for every member and the same device checks,
 * then "REOPENED <failures so far>".
 *
 *   test-vmm adopt ADDRESS SIZE_MB [--self]
 *                                      ClaimDevice, AllocateMemory(size, {map: IOVA}) on the lease,
 *                                      and the daemon's DMA mapping adopted (VFIO_DMA_UNMAP_FLAG_VADDR,
 *                                      mmap of the memfd, VFIO_DMA_MAP_FLAG_VADDR), timed against
 *                                      pinning as much fresh memory; then the e1000e DMAs through it
 *                                      (a TX descriptor written back). --self: a memfd and mapping
 *                                      of test-vmm's own instead of the daemon's. type1 only: the
 *                                      daemon refuses {map} on an iommufd lease (an IOAS pins
 *                                      only with a device attached, and the device's binding is
 *                                      the VMM's), where the memfd itself is the hand-off
 *   test-vmm memfd SIZE_MB shmem|hugetlb CMD...
 *                                      a guest-RAM memfd filled the way the daemon fills one
 *                                      (hugetlb: fallocate; shmem: MADV_POPULATE_WRITE), sealed
 *                                      against growing and shrinking, handed to CMD as
 *                                      assignctl claim --memory does (VFIO_MEMFD,
 *                                      VFIO_MEMORY_SIZE, VFIO_QEMU_MEMORY_ARGS): the reference
 *                                      the memory scenarios compare the daemon's hand-off with
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, fallocate */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "iommufd-uapi.h"
#include "macro.h"
#include "names.h"

#define DEVICES_MAX 32
#define ADDRESS_MAX 16 /* "DDDD:BB:DD.F" */
#define DMA_SIZE (2ULL << 20)
/* Inside the usable IOVA range every group on x86 has (0 - 0xfedfffff) and away from guest RAM
 * layouts, so nothing else maps there. */
#define DMA_IOVA 0x40000000ULL
/* The x86 MSI window: every group's reserved_regions has "0xfee00000 0xfeefffff msi", and type1
 * refuses a mapping that overlaps a reserved region with EINVAL (vfio_iommu_iova_dma_valid()). */
#define MSI_IOVA 0xfee00000ULL

typedef struct Device {
        char address[ADDRESS_MAX];
        int fd;
} Device;

typedef struct Vmm {
        sd_bus *bus;
        char *lease;
        bool use_iommufd; /* an iommufd lease: an iommufd and cdevs, no container or group */
        int container, group, iommufd;
        Device devices[DEVICES_MAX];
        size_t n_devices;
} Vmm;

static unsigned n_ok, n_failed;

static void report(bool good, const char *fmt, ...) _printf_(2, 3);
static void report(bool good, const char *fmt, ...) {
        va_list ap;

        fputs(good ? "ok " : "not ok ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        if (good)
                n_ok++;
        else
                n_failed++;
}

static void vmm_done(Vmm *v) {
        for (size_t i = 0; i < v->n_devices; i++)
                safe_close(v->devices[i].fd);
        v->n_devices = 0;
        v->container = safe_close(v->container);
        v->group = safe_close(v->group);
        v->iommufd = safe_close(v->iommufd);
        v->lease = mfree(v->lease);
        v->bus = sd_bus_flush_close_unref(v->bus);
}

static bool address_valid(const char *a) {
        /* DDDD:BB:DD.F in lower-case hex, as sysfs names devices. */
        static const char shape[] = "xxxx:xx:xx.x";

        if (strlen(a) != sizeof(shape) - 1)
                return false;
        for (size_t i = 0; shape[i]; i++)
                if (shape[i] == 'x' ? !strchr("0123456789abcdef", a[i]) : a[i] != shape[i])
                        return false;
        return true;
}

/* A non-negative decimal that fits in an int, nothing else. */
static int parse_int(const char *s, int *ret) {
        long v = 0;

        if (!s || !*s || strlen(s) > 9)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (*p - '0');
        }
        *ret = (int) v;
        return 0;
}

/* sysfs-bus-pci "vendor"/"device": "0x" and 4 hex digits. */
static int sysfs_id(const char *address, const char *attr, unsigned *ret) {
        char path[128], buf[16] = "";
        _cleanup_close_ int fd = -1;
        ssize_t n;
        unsigned v = 0;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", address, attr);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 7 || strncmp(buf, "0x", 2) != 0)
                return -EINVAL;
        for (int i = 2; i < 6; i++) {
                const char *h = "0123456789abcdef", *p = strchr(h, buf[i]);

                if (!p || !buf[i])
                        return -EINVAL;
                v = v << 4 | (unsigned) (p - h);
        }
        *ret = v;
        return 0;
}

static const char *sysfs_driver(const char *address, char *buf, size_t size) {
        char path[128], link[256];
        ssize_t n;
        const char *slash;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", address);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return "(none)";
        link[n] = 0;
        slash = strrchr(link, '/');
        slash = slash ? slash + 1 : link;
        /* Driver names are short; a longer one is shown cut, which fails the comparison. */
        if (strlen(slash) >= size)
                return "(too long)";
        memcpy(buf, slash, strlen(slash) + 1);
        return buf;
}

static void check_device(const Device *d) {
        struct vfio_device_info info = { .argsz = sizeof(info) };
        struct vfio_region_info region = { .argsz = sizeof(region),
                                           .index = VFIO_PCI_CONFIG_REGION_INDEX };
        unsigned want_vendor = 0, want_device = 0, vendor, device;
        uint8_t ids[4];
        char drv[64];
        const char *driver = sysfs_driver(d->address, drv, sizeof(drv));
        ssize_t n;

        report(streq(driver, "vfio-pci"), "%s driver=%s", d->address, driver);
        if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
                report(false, "%s VFIO_DEVICE_GET_INFO: %s", d->address, strerror(errno));
                return;
        }
        report((info.flags & VFIO_DEVICE_FLAGS_PCI) &&
                       info.num_regions > VFIO_PCI_CONFIG_REGION_INDEX,
               "%s VFIO_DEVICE_GET_INFO flags=0x%x regions=%u irqs=%u reset=%s", d->address,
               info.flags, info.num_regions, info.num_irqs,
               info.flags & VFIO_DEVICE_FLAGS_RESET ? "yes" : "no");
        if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &region) < 0) {
                report(false, "%s VFIO_DEVICE_GET_REGION_INFO(config): %s", d->address,
                       strerror(errno));
                return;
        }
        /* A conventional config space is 256 bytes, PCIe's 4096. */
        report(region.size >= 256 && (region.flags & VFIO_REGION_INFO_FLAG_READ),
               "%s config region size=%llu offset=0x%llx flags=0x%x", d->address,
               (unsigned long long) region.size, (unsigned long long) region.offset, region.flags);
        n = pread(d->fd, ids, sizeof(ids), (off_t) region.offset);
        if (n != (ssize_t) sizeof(ids)) {
                report(false, "%s pread of the config space: %s", d->address,
                       n < 0 ? strerror(errno) : "short read");
                return;
        }
        if (sysfs_id(d->address, "vendor", &want_vendor) < 0 ||
            sysfs_id(d->address, "device", &want_device) < 0) {
                report(false, "%s cannot read vendor/device from sysfs", d->address);
                return;
        }
        /* Config space is little-endian: vendor id at 0x00, device id at 0x02. */
        vendor = ids[0] | ids[1] << 8;
        device = ids[2] | ids[3] << 8;
        report(vendor == want_vendor && device == want_device,
               "%s config vendor=0x%04x device=0x%04x sysfs vendor=0x%04x device=0x%04x",
               d->address, vendor, device, want_vendor, want_device);
}

static void check_group(int fd) {
        struct vfio_group_status st = { .argsz = sizeof(st) };
        bool viable, attached;

        if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
                report(false, "group VFIO_GROUP_GET_STATUS: %s", strerror(errno));
                return;
        }
        viable = st.flags & VFIO_GROUP_FLAGS_VIABLE;
        attached = st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET;
        report(viable && attached, "group viable=%s container_set=%s", viable ? "yes" : "no",
               attached ? "yes" : "no");
}

/* The IOVA ranges of VFIO_IOMMU_GET_INFO's capability chain, printed for the log. */
static void show_iova_ranges(int fd) {
        struct vfio_iommu_type1_info probe = { .argsz = sizeof(probe) };
        _cleanup_free_ struct vfio_iommu_type1_info *info = NULL;

        if (ioctl(fd, VFIO_IOMMU_GET_INFO, &probe) < 0) {
                report(false, "container VFIO_IOMMU_GET_INFO: %s", strerror(errno));
                return;
        }
        report(probe.flags & VFIO_IOMMU_INFO_PGSIZES,
               "container VFIO_IOMMU_GET_INFO pgsizes=0x%llx",
               (unsigned long long) probe.iova_pgsizes);
        if (!(probe.flags & VFIO_IOMMU_INFO_CAPS) || probe.argsz <= sizeof(probe) ||
            probe.argsz > 65536)
                return;
        info = calloc(1, probe.argsz);
        if (!info)
                return;
        info->argsz = probe.argsz;
        if (ioctl(fd, VFIO_IOMMU_GET_INFO, info) < 0 || !info->cap_offset)
                return;
        /* A chain of capabilities, each with the offset of the next (0 ends it). On the real
         * kernel they are only 4-byte aligned (UBSan caught it): everything is copied out,
         * never dereferenced in place. */
        for (uint32_t off = info->cap_offset, hops = 0;
             off && off + sizeof(struct vfio_info_cap_header) <= info->argsz && hops < 16; hops++) {
                const char *base = (const char *) info;
                struct vfio_info_cap_header h;
                struct vfio_iova_range range;
                uint32_t n;

                memcpy(&h, base + off, sizeof(h));
                if (h.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
                    off + sizeof(struct vfio_iommu_type1_info_cap_iova_range) <= info->argsz) {
                        typedef struct vfio_iommu_type1_info_cap_iova_range Cap;
                        size_t first = off + offsetof(Cap, iova_ranges);

                        memcpy(&n, base + off + offsetof(Cap, nr_iovas), sizeof(n));
                        printf("info iova ranges:");
                        for (uint32_t i = 0;
                             i < n && i < 16 && first + (i + 1) * sizeof(range) <= info->argsz;
                             i++) {
                                memcpy(&range, base + first + i * sizeof(range), sizeof(range));
                                printf(" 0x%llx-0x%llx", (unsigned long long) range.start,
                                       (unsigned long long) range.end);
                        }
                        printf("\n");
                }
                if (h.next <= off)
                        break;
                off = h.next;
        }
}

/* VFIO_IOMMU_MAP_DMA of [buf, buf + size) at iova, readable and writable by the device. */
static int container_map(int fd, void *buf, uint64_t iova, uint64_t size) {
        struct vfio_iommu_type1_dma_map map = {
                .argsz = sizeof(map),
                .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                .vaddr = (uintptr_t) buf,
                .iova = iova,
                .size = size,
        };

        return ioctl(fd, VFIO_IOMMU_MAP_DMA, &map) < 0 ? -errno : 0;
}

/* VFIO_IOMMU_UNMAP_DMA of [iova, iova + size); what the kernel unmapped in ret_size. */
static int container_unmap(int fd, uint64_t iova, uint64_t size, uint64_t *ret_size) {
        struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap),
                                                    .iova = iova,
                                                    .size = size };

        if (ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
                return -errno;
        if (ret_size)
                *ret_size = unmap.size;
        return 0;
}

static void check_container(int fd) {
        uint64_t unmapped = 0;
        void *buf;
        int r;

        r = ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU);
        report(r == 1, "container VFIO_CHECK_EXTENSION(TYPE1v2)=%d", r);
        show_iova_ranges(fd);

        buf = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED) {
                report(false, "container mmap of %llu bytes: %s", DMA_SIZE, strerror(errno));
                return;
        }
        memset(buf, 0x5a, DMA_SIZE);
        r = container_map(fd, buf, DMA_IOVA, DMA_SIZE);
        report(r == 0, "container VFIO_IOMMU_MAP_DMA iova=0x%llx size=0x%llx%s%s", DMA_IOVA,
               DMA_SIZE, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        if (r == 0) {
                r = container_unmap(fd, DMA_IOVA, DMA_SIZE, &unmapped);
                report(r == 0 && unmapped == DMA_SIZE,
                       "container VFIO_IOMMU_UNMAP_DMA iova=0x%llx unmapped=0x%llx%s%s", DMA_IOVA,
                       (unsigned long long) unmapped, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        }
        r = container_map(fd, buf, MSI_IOVA, DMA_SIZE);
        report(r == -EINVAL,
               "container VFIO_IOMMU_MAP_DMA into the MSI window "
               "iova=0x%llx refused: %s",
               MSI_IOVA, r < 0 ? strerror(-r) : "it was mapped");
        if (r == 0)
                (void) container_unmap(fd, MSI_IOVA, DMA_SIZE, NULL);
        munmap(buf, DMA_SIZE);
}

/* ---- iommufd: what QEMU's iommufd backend does with the fds (docs/devel/vfio-iommufd.rst) ---- */

static int ioas_map(int iommufd, uint32_t ioas, void *buf, uint64_t iova) {
        struct va_iommu_ioas_map map = {
                .size = sizeof(map),
                .flags = VA_IOMMU_IOAS_MAP_FIXED_IOVA | VA_IOMMU_IOAS_MAP_READABLE |
                         VA_IOMMU_IOAS_MAP_WRITEABLE,
                .ioas_id = ioas,
                .user_va = (uintptr_t) buf,
                .length = DMA_SIZE,
                .iova = iova,
        };

        return ioctl(iommufd, VA_IOMMU_IOAS_MAP, &map) < 0 ? -errno : 0;
}

static void check_ioas(int iommufd, uint32_t ioas) {
        struct va_iommu_ioas_unmap unmap = {
                .size = sizeof(unmap), .ioas_id = ioas, .iova = DMA_IOVA, .length = DMA_SIZE
        };
        void *buf;
        int r;

        buf = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED) {
                report(false, "iommufd mmap of %llu bytes: %s", DMA_SIZE, strerror(errno));
                return;
        }
        memset(buf, 0x5a, DMA_SIZE);
        r = ioas_map(iommufd, ioas, buf, DMA_IOVA);
        report(r == 0, "iommufd IOMMU_IOAS_MAP ioas=%u iova=0x%llx size=0x%llx%s%s", ioas, DMA_IOVA,
               DMA_SIZE, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        if (r == 0) {
                r = ioctl(iommufd, VA_IOMMU_IOAS_UNMAP, &unmap) < 0 ? -errno : 0;
                report(r == 0 && unmap.length == DMA_SIZE,
                       "iommufd IOMMU_IOAS_UNMAP iova=0x%llx unmapped=0x%llx%s%s", DMA_IOVA,
                       (unsigned long long) unmap.length, r < 0 ? ": " : "",
                       r < 0 ? strerror(-r) : "");
        }
        /* The attached devices' reserved regions (the MSI window) are cut out of the IOAS. */
        r = ioas_map(iommufd, ioas, buf, MSI_IOVA);
        report(r < 0, "iommufd IOMMU_IOAS_MAP into the MSI window iova=0x%llx refused: %s",
               MSI_IOVA, r < 0 ? strerror(-r) : "it was mapped");
        if (r == 0) {
                unmap.iova = MSI_IOVA;
                (void) ioctl(iommufd, VA_IOMMU_IOAS_UNMAP, &unmap);
        }
        munmap(buf, DMA_SIZE);
}

/* Every cdev bound to the iommufd and attached to one new IOAS; false when one could not be,
 * and the device checks are skipped (an unbound cdev answers nothing else). */
static bool bind_and_attach(const Vmm *v) {
        struct va_iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
        bool all = true;
        int r;

        if (v->iommufd < 0) {
                report(false, "no iommufd");
                return false;
        }
        r = ioctl(v->iommufd, VA_IOMMU_IOAS_ALLOC, &alloc) < 0 ? -errno : 0;
        report(r == 0, "iommufd IOMMU_IOAS_ALLOC ioas=%u%s%s", alloc.out_ioas_id, r < 0 ? ": " : "",
               r < 0 ? strerror(-r) : "");
        if (r < 0)
                return false;
        for (size_t i = 0; i < v->n_devices; i++) {
                const Device *d = &v->devices[i];
                struct va_vfio_device_bind_iommufd bind = { .argsz = sizeof(bind),
                                                            .iommufd = v->iommufd };
                struct va_vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach),
                                                                   .pt_id = alloc.out_ioas_id };

                r = ioctl(d->fd, VA_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0 ? -errno : 0;
                report(r == 0, "%s VFIO_DEVICE_BIND_IOMMUFD devid=%u%s%s", d->address,
                       bind.out_devid, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
                if (r == 0) {
                        r = ioctl(d->fd, VA_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0 ? -errno
                                                                                        : 0;
                        report(r == 0, "%s VFIO_DEVICE_ATTACH_IOMMUFD_PT ioas=%u hwpt=%u%s%s",
                               d->address, alloc.out_ioas_id, attach.pt_id, r < 0 ? ": " : "",
                               r < 0 ? strerror(-r) : "");
                }
                all = all && r == 0;
        }
        if (v->n_devices > 0 && all)
                check_ioas(v->iommufd, alloc.out_ioas_id);
        return all;
}

static void run_checks(const Vmm *v) {
        if (v->use_iommufd) {
                if (v->n_devices == 0)
                        report(false, "no cdev fds");
                if (!bind_and_attach(v))
                        return;
                for (size_t i = 0; i < v->n_devices; i++)
                        check_device(&v->devices[i]);
                return;
        }
        if (v->group >= 0)
                check_group(v->group);
        if (v->container >= 0)
                check_container(v->container);
        else
                report(false, "no container fd");
        if (v->n_devices == 0)
                report(false, "no device fds");
        for (size_t i = 0; i < v->n_devices; i++)
                check_device(&v->devices[i]);
}

/* ---- the nodes, opened without the daemon ---- */

/* open-group: what a VMM does with the nodes it was given (QEMU's legacy VFIO path,
 * Documentation/driver-api/vfio.rst "VFIO Usage Example"): the container, the group set to it,
 * the IOMMU model, then each device from the group. */
static int open_nodes(Vmm *v, const char *group, char *const *addresses, size_t n) {
        char path[32];
        int number, r;

        if (parse_int(group, &number) < 0) {
                report(false, "\"%s\" is not a group number", group);
                return -EINVAL;
        }
        v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
        r = v->container < 0 ? -errno : 0;
        report(r == 0, "open /dev/vfio/vfio%s%s", r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        if (r < 0)
                return r;
        r = ioctl(v->container, VFIO_GET_API_VERSION);
        report(r == VFIO_API_VERSION, "container VFIO_GET_API_VERSION=%d", r);
        snprintf(path, sizeof(path), "/dev/vfio/%d", number);
        v->group = open(path, O_RDWR | O_CLOEXEC);
        r = v->group < 0 ? -errno : 0;
        report(r == 0, "open %s%s%s", path, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        if (r < 0)
                return r;
        r = ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) < 0 ? -errno : 0;
        report(r == 0, "group VFIO_GROUP_SET_CONTAINER%s%s", r < 0 ? ": " : "",
               r < 0 ? strerror(-r) : "");
        if (r < 0)
                return r;
        r = ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0 ? -errno : 0;
        report(r == 0, "container VFIO_SET_IOMMU(TYPE1v2)%s%s", r < 0 ? ": " : "",
               r < 0 ? strerror(-r) : "");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                Device *d = &v->devices[v->n_devices];

                if (!address_valid(addresses[i]) || v->n_devices >= DEVICES_MAX) {
                        report(false, "\"%s\" is not a PCI address (or one too many)",
                               addresses[i]);
                        continue;
                }
                d->fd = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, addresses[i]);
                r = d->fd < 0 ? -errno : 0;
                report(r == 0, "VFIO_GROUP_GET_DEVICE_FD %s%s%s", addresses[i], r < 0 ? ": " : "",
                       r < 0 ? strerror(-r) : "");
                if (r < 0)
                        continue;
                snprintf(d->address, sizeof(d->address), "%s", addresses[i]);
                v->n_devices++;
        }
        return 0;
}

/* ---- the lease over the bus ---- */

static int get_string(sd_bus *bus, const char *path, const char *iface, const char *name,
                      char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        return sd_bus_get_property_string(bus, BUS_NAME, path, iface, name, &e, ret);
}

static int get_u32(sd_bus *bus, const char *path, const char *iface, const char *name,
                   uint32_t *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        return sd_bus_get_property_trivial(bus, BUS_NAME, path, iface, name, &e, 'u', ret);
}

static bool device_is_bridge(sd_bus *bus, const char *address) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        int bridge = 0;

        if (sd_bus_path_encode(OBJ_DEVICE_PREFIX, address, &path) < 0)
                return false;
        if (sd_bus_get_property_trivial(bus, BUS_NAME, path, IFACE_DEVICE, "Bridge", &e, 'b',
                                        &bridge) < 0)
                return false;
        return bridge;
}

/* "lease PATH group=N uid=U holder=NAME devices=A,B": what the daemon says about the lease. */
static void show_lease(Vmm *v, char ***ret_devices) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *holder = NULL;
        char **devices = NULL;
        uint32_t group = 0, uid = 0;
        int r;

        if (!v->bus && sd_bus_open_system(&v->bus) < 0) {
                report(false, "cannot connect to the system bus");
                return;
        }
        r = get_u32(v->bus, v->lease, IFACE_LEASE, "Group", &group);
        if (r >= 0)
                r = get_u32(v->bus, v->lease, IFACE_LEASE, "Uid", &uid);
        if (r >= 0)
                r = get_string(v->bus, v->lease, IFACE_LEASE, "Holder", &holder);
        if (r >= 0)
                r = sd_bus_get_property_strv(v->bus, BUS_NAME, v->lease, IFACE_LEASE, "Devices", &e,
                                             &devices);
        if (r < 0) {
                report(false, "properties of %s: %s", v->lease, strerror(-r));
                return;
        }
        printf("lease %s group=%" PRIu32 " uid=%" PRIu32 " holder=%s devices=", v->lease, group,
               uid, holder);
        for (char **d = devices; d && *d; d++)
                printf("%s%s", d == devices ? "" : ",", *d);
        printf("\n");
        fflush(stdout);
        if (ret_devices)
                *ret_devices = devices;
        else
                strv_free(devices);
}

static int take_fd(sd_bus_message *reply, int *ret) {
        int fd, r;

        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return r;
        /* The message owns its fd; ours must outlive it. */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}

static int open_fd(Vmm *v, const char *method, const char *address, int *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (address)
                r = sd_bus_call_method(v->bus, BUS_NAME, v->lease, IFACE_LEASE, method, &e, &reply,
                                       "s", address);
        else
                r = sd_bus_call_method(v->bus, BUS_NAME, v->lease, IFACE_LEASE, method, &e, &reply,
                                       "");
        if (r >= 0)
                r = take_fd(reply, ret);
        report(r >= 0, "%s%s%s%s%s", method, address ? " " : "", strempty(address),
               r < 0 ? ": " : "", r < 0 ? (e.name ? e.message : strerror(-r)) : "");
        return r;
}

/* ClaimDevice ADDRESS or ClaimGroup N, with the backend option for an iommufd lease. */
static int claim_call(Vmm *v, const char *address, const char *group, sd_bus_error *e,
                      sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int n = 0, r;

        if (!address && parse_int(group, &n) < 0)
                return -EINVAL;
        r = sd_bus_message_new_method_call(v->bus, &m, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                           address ? "ClaimDevice" : "ClaimGroup");
        if (r >= 0)
                r = address ? sd_bus_message_append(m, "s", address)
                            : sd_bus_message_append(m, "u", (uint32_t) n);
        if (r >= 0 && v->use_iommufd)
                r = sd_bus_message_append(m, "a{sv}", 1, "backend", "s", "iommufd");
        else if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return r;
        return sd_bus_call(v->bus, m, 0, e, ret);
}

static int claim(Vmm *v, const char *address, const char *group) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *holder = NULL;
        _cleanup_free_ char *backend = NULL;
        char **devices = NULL;
        const char *path, *me = NULL;
        int r;

        r = sd_bus_open_system(&v->bus);
        if (r < 0) {
                report(false, "cannot connect to the system bus: %s", strerror(-r));
                return r;
        }
        r = claim_call(v, address, group, &e, &reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &path);
        if (r < 0) {
                /* The error name first, so a scenario can match it. */
                report(false, "claim %s: %s: %s", address ?: group, strna(e.name),
                       e.message ?: strerror(-r));
                return r;
        }
        v->lease = strdup(path);
        if (!v->lease)
                return -ENOMEM;
        report(true, "claim %s: %s", address ?: group, v->lease);
        show_lease(v, &devices);
        (void) sd_bus_get_unique_name(v->bus, &me);
        r = get_string(v->bus, v->lease, IFACE_LEASE, "Holder", &holder);
        report(r >= 0 && me && streq(holder, me), "holder %s is this connection %s", strna(holder),
               strna(me));

        r = get_string(v->bus, v->lease, IFACE_LEASE, "Backend", &backend);
        report(r >= 0 && streq(backend, v->use_iommufd ? "iommufd" : "type1"), "Backend %s",
               strna(backend));

        if (v->use_iommufd)
                r = open_fd(v, "OpenIommufd", NULL, &v->iommufd);
        else {
                r = open_fd(v, "OpenContainer", NULL, &v->container);
                if (r >= 0)
                        r = open_fd(v, "OpenGroup", NULL, &v->group);
        }
        for (char **d = devices; r >= 0 && d && *d; d++) {
                Device *dev;

                /* Bridges stay on their host driver: VFIO has no device fd for them. */
                if (device_is_bridge(v->bus, *d)) {
                        printf("info %s is a bridge: no device fd\n", *d);
                        continue;
                }
                if (v->n_devices >= DEVICES_MAX || !address_valid(*d))
                        break;
                dev = &v->devices[v->n_devices];
                snprintf(dev->address, sizeof(dev->address), "%s", *d);
                r = open_fd(v, v->use_iommufd ? "OpenCdev" : "OpenDevice", *d, &dev->fd);
                if (r >= 0)
                        v->n_devices++;
        }
        strv_free(devices);
        return 0;
}

static void release(Vmm *v) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        /* vfio-pci's unbind waits for every fd of a device to close: ours go before the daemon
         * gives the group back, or the release would wait for us. */
        for (size_t i = 0; i < v->n_devices; i++)
                v->devices[i].fd = safe_close(v->devices[i].fd);
        v->n_devices = 0;
        v->container = safe_close(v->container);
        v->group = safe_close(v->group);
        v->iommufd = safe_close(v->iommufd);
        r = sd_bus_call_method(v->bus, BUS_NAME, v->lease, IFACE_LEASE, "Release", &e, NULL,
                               "a{sv}", 0);
        report(r >= 0, "Release %s%s%s", v->lease, r < 0 ? ": " : "",
               r < 0 ? (e.message ?: strerror(-r)) : "");
}

/* An fd number from the environment that must be open here; -1 (and a failed check) if not. */
static int env_fd(const char *name) {
        const char *value = getenv(name);
        int fd = -1;

        if (parse_int(value, &fd) < 0 || fcntl(fd, F_GETFD) < 0) {
                report(false, "%s=%s is not an open fd", name, strna(value));
                return -1;
        }
        return fd;
}

/* What assignctl claim --exec sets: VFIO_CONTAINER_FD, VFIO_GROUP_FD and
 * VFIO_DEVICE_FDS="0000:03:01.0=7,0000:03:02.0=8" for a type1 lease; VFIO_IOMMUFD_FD and
 * VFIO_CDEV_FDS (the same shape) for an iommufd lease. */
static int from_env(Vmm *v) {
        const char *lease = getenv("VFIO_LEASE"), *list;
        const char *list_name = "VFIO_DEVICE_FDS";
        _cleanup_free_ char *copy = NULL;
        char *save = NULL;

        v->use_iommufd = getenv("VFIO_IOMMUFD_FD");
        if (v->use_iommufd) {
                list_name = "VFIO_CDEV_FDS";
                v->iommufd = env_fd("VFIO_IOMMUFD_FD");
        } else {
                v->container = env_fd("VFIO_CONTAINER_FD");
                v->group = env_fd("VFIO_GROUP_FD");
        }
        list = getenv(list_name);
        if (lease && !(v->lease = strdup(lease)))
                return -ENOMEM;
        if (v->use_iommufd)
                printf("info VFIO_LEASE=%s VFIO_IOMMUFD_FD=%s VFIO_CDEV_FDS=%s\n"
                       "info VFIO_QEMU_ARGS=%s\n",
                       strna(lease), getenv("VFIO_IOMMUFD_FD"), strna(list),
                       strna(getenv("VFIO_QEMU_ARGS")));
        else
                printf("info VFIO_LEASE=%s VFIO_CONTAINER_FD=%s VFIO_GROUP_FD=%s "
                       "VFIO_DEVICE_FDS=%s\n",
                       strna(lease), strna(getenv("VFIO_CONTAINER_FD")),
                       strna(getenv("VFIO_GROUP_FD")), strna(list));
        if (!list)
                return 0;
        copy = strdup(list);
        if (!copy)
                return -ENOMEM;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');
                Device *d;

                if (v->n_devices >= DEVICES_MAX) {
                        report(false, "more than %d devices in %s", DEVICES_MAX, list_name);
                        break;
                }
                d = &v->devices[v->n_devices];
                if (eq)
                        *eq = 0;
                if (!eq || !address_valid(item) || parse_int(eq + 1, &d->fd) < 0 ||
                    fcntl(d->fd, F_GETFD) < 0) {
                        report(false, "%s entry \"%s\" is not ADDRESS=FD of an open fd", list_name,
                               item);
                        continue;
                }
                snprintf(d->address, sizeof(d->address), "%s", item);
                printf("info device %s fd %d\n", d->address, d->fd);
                v->n_devices++;
        }
        return 0;
}

/* SIGUSR1 while holding a claim: OpenDevice again for every member and check the new fd (after
 * a restart of the daemon, its lease must still hand them out); then "REOPENED N" with the
 * number of failed checks so far. */
static void reopen_devices(Vmm *v) {
        for (size_t i = 0; i < v->n_devices; i++) {
                Device d = { .fd = -1 };

                strcpy(d.address, v->devices[i].address);
                if (!v->use_iommufd) {
                        if (open_fd(v, "OpenDevice", d.address, &d.fd) >= 0) {
                                check_device(&d);
                                close(d.fd);
                        }
                        continue;
                }
                /* Through its cdevs a device is bound once: our held file has it, so a new
                 * one must be refused with EINVAL, and the held one still answers. */
                if (open_fd(v, "OpenCdev", d.address, &d.fd) >= 0) {
                        struct va_vfio_device_bind_iommufd bind = { .argsz = sizeof(bind),
                                                                    .iommufd = v->iommufd };
                        int r = ioctl(d.fd, VA_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0 ? -errno : 0;

                        report(r == -EINVAL, "%s a second cdev file's bind refused: %s", d.address,
                               r < 0 ? strerror(-r) : "it was bound");
                        close(d.fd);
                }
                check_device(&v->devices[i]);
        }
        printf("REOPENED %u\n", n_failed);
        fflush(stdout);
}

static void hold(Vmm *v) {
        sigset_t mask;
        int sig = 0;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGUSR1);
        printf("READY\n");
        fflush(stdout);
        /* Blocked since main(): no signal can slip in between READY and the wait. */
        for (;;) {
                (void) sigwait(&mask, &sig);
                if (sig != SIGUSR1)
                        break;
                if (v->bus && v->lease)
                        reopen_devices(v);
        }
        printf("info signal %d: exiting without Release\n", sig);
}

/* ---- a guest-RAM memfd, filled and handed to a command ---- */

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Every page of the memfd allocated and zeroed, as mempool.c does it: fallocate zeroes hugetlbfs
 * pages but only reserves shmem ones, which MADV_POPULATE_WRITE (5.14) faults in instead. */
static int memfd_fill(int fd, uint64_t size, bool hugetlb) {
        void *p;
        int r = 0;

        if (hugetlb)
                return fallocate(fd, 0, 0, (off_t) size) < 0 ? -errno : 0;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        if (madvise(p, size, MADV_POPULATE_WRITE) < 0)
                r = -errno;
        munmap(p, size);
        return r;
}

static int memfd_new(uint64_t size, bool hugetlb, int *ret) {
        _cleanup_close_ int fd = -1;
        int r;

        /* Not O_CLOEXEC: the command inherits it. */
        fd = memfd_create("vfio-ram", MFD_ALLOW_SEALING | (hugetlb ? MFD_HUGETLB : 0));
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t) size) < 0)
                return -errno;
        r = memfd_fill(fd, size, hugetlb);
        if (r < 0)
                return r;
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
                return -errno;
        *ret = TAKE_FD(fd);
        return 0;
}

static int run_memfd(const char *size_mb, const char *kind, char **cmd) {
        bool hugetlb = streq(kind, "hugetlb");
        char args[512], num[32];
        uint64_t size;
        double t0;
        int mb, fd = -1, r;

        if (parse_int(size_mb, &mb) < 0 || mb <= 0 || (mb % 2 && hugetlb) ||
            (!hugetlb && !streq(kind, "shmem")))
                return -EINVAL;
        size = (uint64_t) mb << 20;
        t0 = now_s();
        r = memfd_new(size, hugetlb, &fd);
        if (r < 0) {
                fprintf(stderr, "test-vmm: %s memfd of %d MiB: %s\n", kind, mb, strerror(-r));
                return r;
        }
        fprintf(stderr, "test-vmm: %s memfd of %d MiB filled in %.3f s: fd %d\n", kind, mb,
                now_s() - t0, fd);
        /* "-m" in MiB with its suffix: a bare number is MiB to QEMU, and a size that differs
         * from the backend's is refused ("Machine memory size does not match"). */
        snprintf(args, sizeof(args),
                 "-object memory-backend-file,id=vfio-ram,mem-path=/dev/fd/%d,share=on,"
                 "size=%" PRIu64 " -machine memory-backend=vfio-ram -m %dM",
                 fd, size, mb);
        snprintf(num, sizeof(num), "%d", fd);
        setenv("VFIO_MEMFD", num, 1);
        snprintf(num, sizeof(num), "%" PRIu64, size);
        setenv("VFIO_MEMORY_SIZE", num, 1);
        setenv("VFIO_QEMU_MEMORY_ARGS", args, 1);
        execvp(cmd[0], cmd);
        r = -errno;
        fprintf(stderr, "test-vmm: cannot run %s: %s\n", cmd[0], strerror(-r));
        return r;
}

/* ---- adopt: the daemon's DMA mapping of a filled region taken over by the VMM (type1) ---- */

/* The region at 1 GiB, the memory the VMM pins itself at 2 GiB: both below the MSI window and
 * inside every group's usable range, for sizes up to ADOPT_MAX_MB. */
#define ADOPT_IOVA 0x40000000ULL
#define PIN_IOVA 0x80000000ULL
#define ADOPT_MAX_MB 1024
#define REGION_WAIT_S 300.0

/* e1000e (82574) registers, from its datasheet (section 10.2) as QEMU's model implements them. */
#define E1000_TCTL 0x0400
#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3)
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
/* A legacy TX descriptor: buffer address, then length | CMD << 24 (EOP, IFCS, RS), then the
 * status byte the device sets DD in when it writes the descriptor back (RS asks for that). */
#define TXD_CMD_EOP 0x01u
#define TXD_CMD_IFCS 0x02u
#define TXD_CMD_RS 0x08u
#define TXD_STAT_DD 0x01u
#define TX_RING_BYTES 128 /* 8 descriptors: TDLEN must be a multiple of 128 */
#define TX_BUFFER_OFFSET 4096
#define TX_FRAME_BYTES 60
#define TX_WAIT_S 10.0

typedef struct TxDesc {
        uint64_t buffer;
        uint32_t lower;
        uint32_t upper;
} TxDesc;

/* "VmLck"/"VmPin" of /proc/PID/status in kB; -1 when unreadable. type1 charges its pins to
 * locked_vm (VmLck), iommufd to pinned_vm (VmPin). */
static long status_kb(pid_t pid, const char *field) {
        char path[64], line[256];
        _cleanup_fclose_ FILE *f = NULL;
        size_t n = strlen(field);
        long kb = -1;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strneq(line, field, n) && line[n] == ':') {
                        kb = strtol(line + n + 1, NULL, 10);
                        break;
                }
        return kb;
}

static pid_t daemon_pid(sd_bus *bus) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        pid_t pid = 0;

        if (sd_bus_get_name_creds(bus, BUS_NAME, SD_BUS_CREDS_PID, &creds) < 0 ||
            sd_bus_creds_get_pid(creds, &pid) < 0)
                return 0;
        return pid;
}

static void show_charges(const char *when, pid_t daemon) {
        printf("info memlock %s: test-vmm VmLck %ld kB VmPin %ld kB, daemon (pid %d) VmLck %ld kB "
               "VmPin %ld kB\n",
               when, status_kb(getpid(), "VmLck"), status_kb(getpid(), "VmPin"), (int) daemon,
               status_kb(daemon, "VmLck"), status_kb(daemon, "VmPin"));
        fflush(stdout);
}

/* AllocateMemory(size, {map: iova}) on the lease: the memfd (ours to close) and the region. */
static int allocate_memory(Vmm *v, uint64_t size, uint64_t iova, int *ret_fd, char **ret_region) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path = NULL;
        int fd = -1, r;

        r = sd_bus_call_method(v->bus, BUS_NAME, v->lease, IFACE_LEASE, "AllocateMemory", &e,
                               &reply, "ta{sv}", size, 1, "map", "t", iova);
        if (r >= 0)
                r = take_fd(reply, &fd);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &path);
        report(r >= 0, "AllocateMemory size=%" PRIu64 " map=0x%" PRIx64 ": %s", size, iova,
               r < 0 ? (e.name ? e.message : strerror(-r)) : strna(path));
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        *ret_region = strdup(path);
        if (!*ret_region) {
                safe_close(fd);
                return -ENOMEM;
        }
        *ret_fd = fd;
        return 0;
}

/* Polls the region (10 ms) until it is ready and mapped, failed, or REGION_WAIT_S passed. */
static int wait_region(Vmm *v, const char *region, uint64_t size, uint64_t iova) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        double t0 = now_s();
        uint64_t populated = 0, got_size = 0, got_iova = 0;
        int mapped = 0, r;

        for (;;) {
                _cleanup_free_ char *state = NULL, *error = NULL;

                r = get_string(v->bus, region, IFACE_REGION, "State", &state);
                if (r >= 0)
                        r = sd_bus_get_property_trivial(v->bus, BUS_NAME, region, IFACE_REGION,
                                                        "Mapped", &e, 'b', &mapped);
                if (r < 0) {
                        report(false, "%s properties: %s", region, strerror(-r));
                        return r;
                }
                if (streq(state, "failed")) {
                        (void) get_string(v->bus, region, IFACE_REGION, "Error", &error);
                        report(false, "%s failed: %s", region, strna(error));
                        return -EIO;
                }
                if (streq(state, "ready") && mapped)
                        break;
                if (now_s() - t0 > REGION_WAIT_S) {
                        report(false, "%s is %s, mapped=%d after %.0f s", region, state, mapped,
                               REGION_WAIT_S);
                        return -ETIMEDOUT;
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        (void) sd_bus_get_property_trivial(v->bus, BUS_NAME, region, IFACE_REGION, "Populated", &e,
                                           't', &populated);
        (void) sd_bus_get_property_trivial(v->bus, BUS_NAME, region, IFACE_REGION, "Size", &e, 't',
                                           &got_size);
        (void) sd_bus_get_property_trivial(v->bus, BUS_NAME, region, IFACE_REGION, "Iova", &e, 't',
                                           &got_iova);
        report(populated == size && got_size == size && got_iova == iova,
               "%s ready and mapped in %.3f s: Size %" PRIu64 " Populated %" PRIu64
               " Iova 0x%" PRIx64,
               region, now_s() - t0, got_size, populated, got_iova);
        return 0;
}

/* Takes over the daemon's mapping of [iova, iova + size): its pins stay, only the vaddr the
 * kernel knows for them becomes ours (VFIO_DMA_UNMAP_FLAG_VADDR, then VFIO_DMA_MAP_FLAG_VADDR,
 * which takes no READ/WRITE flags and must name the whole mapping). */
static int adopt_mapping(int container, int memfd, uint64_t iova, uint64_t size, void **ret,
                         double *ret_s) {
        struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap),
                                                    .flags = VFIO_DMA_UNMAP_FLAG_VADDR,
                                                    .iova = iova,
                                                    .size = size };
        struct vfio_iommu_type1_dma_map map = {
                .argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_VADDR, .iova = iova, .size = size
        };
        double t0 = now_s();
        void *p;
        int r;

        r = ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0 ? -errno : 0;
        report(r == 0 && unmap.size == size,
               "adopt VFIO_IOMMU_UNMAP_DMA(FLAG_VADDR) iova=0x%" PRIx64 " size=0x%llx%s%s", iova,
               (unsigned long long) unmap.size, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        if (r < 0)
                return r;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                report(false, "adopt mmap of the memfd: %s", strerror(-r));
                return r;
        }
        map.vaddr = (uintptr_t) p;
        r = ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0 ? -errno : 0;
        *ret_s = now_s() - t0;
        report(r == 0, "adopt VFIO_IOMMU_MAP_DMA(FLAG_VADDR) iova=0x%" PRIx64 " vaddr=%p%s%s", iova,
               p, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        if (r < 0) {
                munmap(p, size);
                return r;
        }
        *ret = p;
        return 0;
}

/* What a VMM does without a region: pins fresh anonymous memory, every page faulted in and
 * zeroed by the pin. Unmapped again after. */
static int pin_fresh(int container, uint64_t iova, uint64_t size, double *ret_s) {
        double t0 = now_s();
        void *p;
        int r;

        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                report(false, "pin: mmap of %" PRIu64 " bytes: %s", size, strerror(-r));
                return r;
        }
        r = container_map(container, p, iova, size);
        *ret_s = now_s() - t0;
        if (r == 0)
                (void) container_unmap(container, iova, size, NULL);
        report(r == 0,
               "pin VFIO_IOMMU_MAP_DMA of fresh anonymous memory iova=0x%" PRIx64 " size=0x%" PRIx64
               " in %.3f s%s%s",
               iova, size, *ret_s, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        munmap(p, size);
        return r;
}

static int region_rw(int fd, const struct vfio_region_info *ri, uint64_t off, void *buf, size_t n,
                     bool write) {
        ssize_t k = write ? pwrite(fd, buf, n, (off_t) (ri->offset + off))
                          : pread(fd, buf, n, (off_t) (ri->offset + off));

        return k == (ssize_t) n ? 0 : k < 0 ? -errno : -EIO;
}

static int bar_write32(int fd, const struct vfio_region_info *bar, uint32_t reg, uint32_t val) {
        return region_rw(fd, bar, reg, &val, sizeof(val), true);
}

/* The e1000e sends one frame from a TX ring inside the adopted region: it reads the descriptor
 * and the buffer by DMA through the adopted mapping and writes the descriptor back with DD set,
 * which we see through our own mapping of the memfd. */
static void dma_through(const Device *d, uint8_t *mem, uint64_t iova) {
        struct vfio_region_info cfg = { .argsz = sizeof(cfg),
                                        .index = VFIO_PCI_CONFIG_REGION_INDEX };
        struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
        volatile TxDesc *ring = (volatile TxDesc *) mem;
        uint16_t cmd = 0, master;
        double t0;
        int r;

        if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0 ||
            ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &bar) < 0) {
                report(false, "%s VFIO_DEVICE_GET_REGION_INFO: %s", d->address, strerror(errno));
                return;
        }
        report(bar.size >= E1000_TDT + 4 && (bar.flags & VFIO_REGION_INFO_FLAG_WRITE),
               "%s BAR0 size=0x%llx flags=0x%x", d->address, (unsigned long long) bar.size,
               bar.flags);
        /* PCI command register (config 0x04): memory space (bit 1) and bus master (bit 2). */
        r = region_rw(d->fd, &cfg, 0x04, &cmd, sizeof(cmd), false);
        master = cmd | 0x6;
        if (r >= 0)
                r = region_rw(d->fd, &cfg, 0x04, &master, sizeof(master), true);
        report(r >= 0, "%s PCI command 0x%04x -> 0x%04x (bus master)", d->address, cmd, master);

        memset(mem, 0, TX_BUFFER_OFFSET + TX_FRAME_BYTES);
        memset(mem + TX_BUFFER_OFFSET, 0xff, 6); /* broadcast; nobody receives it */
        ring[0].buffer = iova + TX_BUFFER_OFFSET;
        ring[0].lower = TX_FRAME_BYTES | (TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS) << 24;
        ring[0].upper = 0;
        __sync_synchronize();
        r = bar_write32(d->fd, &bar, E1000_TDBAL, (uint32_t) iova);
        if (r >= 0)
                r = bar_write32(d->fd, &bar, E1000_TDBAH, (uint32_t) (iova >> 32));
        if (r >= 0)
                r = bar_write32(d->fd, &bar, E1000_TDLEN, TX_RING_BYTES);
        if (r >= 0)
                r = bar_write32(d->fd, &bar, E1000_TDH, 0);
        if (r >= 0)
                r = bar_write32(d->fd, &bar, E1000_TDT, 0);
        if (r >= 0)
                r = bar_write32(d->fd, &bar, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
        t0 = now_s();
        /* Moving the tail past descriptor 0 hands it to the device. */
        if (r >= 0)
                r = bar_write32(d->fd, &bar, E1000_TDT, 1);
        report(r >= 0, "%s TX ring at iova 0x%" PRIx64 " (TDBAL/TDBAH/TDLEN/TDH/TDT, TCTL.EN)%s%s",
               d->address, iova, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        while (r >= 0 && !(ring[0].upper & TXD_STAT_DD) && now_s() - t0 < TX_WAIT_S)
                (void) nanosleep(&(struct timespec) { .tv_nsec = 1000 * 1000 }, NULL);
        report(ring[0].upper & TXD_STAT_DD,
               "%s DMA through the adopted mapping: the device wrote the descriptor back "
               "(status 0x%02x) in %.3f s",
               d->address, ring[0].upper & 0xff, now_s() - t0);
        (void) bar_write32(d->fd, &bar, E1000_TCTL, 0);
        (void) region_rw(d->fd, &cfg, 0x04, &cmd, sizeof(cmd), true);
}

static void region_release(Vmm *v, const char *region) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(v->bus, BUS_NAME, region, IFACE_REGION, "Release", &e, NULL, "a{sv}",
                               0);
        report(r >= 0, "Region.Release %s%s%s", region, r < 0 ? ": " : "",
               r < 0 ? (e.message ?: strerror(-r)) : "");
}

/* --self: the region made by test-vmm and mapped from a first mmap of its own, for the kernel's
 * side of an adoption (and the DMA) without the daemon. */
static int self_region(int container, uint64_t size, int *ret_fd, void **ret_first) {
        _cleanup_close_ int fd = -1;
        void *p;
        int r;

        r = memfd_new(size, false, &fd);
        if (r < 0) {
                report(false, "self: memfd of %" PRIu64 " bytes: %s", size, strerror(-r));
                return r;
        }
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        r = container_map(container, p, ADOPT_IOVA, size);
        report(r == 0, "self: VFIO_IOMMU_MAP_DMA of a filled memfd iova=0x%llx%s%s", ADOPT_IOVA,
               r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        if (r < 0) {
                munmap(p, size);
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        *ret_first = p;
        return 0;
}

/* test-vmm adopt ADDRESS SIZE_MB: the lease's container with a daemon-filled region mapped in
 * it, adopted (VFIO_DMA_UNMAP/MAP_FLAG_VADDR), timed against pinning as much fresh memory, and
 * proven by a DMA of the device. */
static void run_adopt(Vmm *v, const char *size_mb, bool self) {
        _cleanup_free_ char *region = NULL;
        _cleanup_close_ int memfd = -1;
        uint64_t size;
        double adopt_s = 0, pin_s = 0;
        void *mem = NULL, *first = NULL;
        pid_t daemon;
        int mb = 0, r;

        if (parse_int(size_mb, &mb) < 0 || mb < 2 || mb > ADOPT_MAX_MB) {
                report(false, "adopt: size %s MiB is not 2 to %d", size_mb, ADOPT_MAX_MB);
                return;
        }
        size = (uint64_t) mb << 20;
        if (v->container < 0 || v->n_devices == 0) {
                report(false, "adopt: no container or device fd");
                return;
        }
        r = ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR);
        report(r == 1, "container VFIO_CHECK_EXTENSION(VFIO_UPDATE_VADDR)=%d", r);
        if (r != 1)
                return;
        daemon = daemon_pid(v->bus);
        if (self) {
                if (self_region(v->container, size, &memfd, &first) < 0)
                        return;
        } else {
                if (allocate_memory(v, size, ADOPT_IOVA, &memfd, &region) < 0)
                        return;
                if (wait_region(v, region, size, ADOPT_IOVA) < 0)
                        goto release;
        }
        show_charges("before adopting", daemon);
        if (adopt_mapping(v->container, memfd, ADOPT_IOVA, size, &mem, &adopt_s) < 0)
                goto release;
        show_charges("after adopting", daemon);
        printf("info adopt %d MiB in %.6f s\n", mb, adopt_s);
        dma_through(&v->devices[0], mem, ADOPT_IOVA);
        (void) pin_fresh(v->container, PIN_IOVA, size, &pin_s);
        printf("bench size_mb=%d adopt_s=%.6f pin_s=%.6f ratio=%.0f\n", mb, adopt_s, pin_s,
               adopt_s > 0 ? pin_s / adopt_s : 0);
        fflush(stdout);
release:
        if (region)
                region_release(v, region);
        if (self) {
                (void) container_unmap(v->container, ADOPT_IOVA, size, NULL);
                if (first)
                        munmap(first, size);
        }
        if (mem)
                munmap(mem, size);
}

static void usage(void) {
        fprintf(stderr, "usage: test-vmm fds [--hold]\n"
                        "       test-vmm claim ADDRESS [--hold]\n"
                        "       test-vmm claim-group N [--hold]\n"
                        "       test-vmm claim-iommufd ADDRESS|N [--hold]\n"
                        "       test-vmm open-group N ADDRESS...\n"
                        "       test-vmm memfd SIZE_MB shmem|hugetlb CMD...\n"
                        "       test-vmm adopt ADDRESS SIZE_MB [--self]\n");
}

int main(int argc, char *argv[]) {
        _cleanup_(vmm_done) Vmm v = { .container = -1, .group = -1, .iommufd = -1 };
        bool do_hold = false;
        sigset_t mask;
        int args = argc;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGUSR1);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        if (argc >= 5 && streq(argv[1], "memfd")) {
                /* The command gets the signal mask a shell would give it. */
                sigprocmask(SIG_UNBLOCK, &mask, NULL);
                if (run_memfd(argv[2], argv[3], argv + 4) == -EINVAL)
                        usage();
                return 2;
        }
        if (argc >= 2 && streq(argv[argc - 1], "--hold")) {
                do_hold = true;
                args--;
        }
        if (args == 2 && streq(argv[1], "fds")) {
                if (from_env(&v) < 0)
                        return 2;
                if (v.lease)
                        show_lease(&v, NULL);
        } else if (args == 3 && streq(argv[1], "claim") && address_valid(argv[2])) {
                if (claim(&v, argv[2], NULL) < 0)
                        goto summary;
        } else if ((args == 4 || (args == 5 && streq(argv[4], "--self"))) &&
                   streq(argv[1], "adopt") && address_valid(argv[2])) {
                if (claim(&v, argv[2], NULL) < 0)
                        goto summary;
                run_checks(&v);
                run_adopt(&v, argv[3], args == 5);
                release(&v);
                goto summary;
        } else if (args == 3 && streq(argv[1], "claim-group")) {
                if (claim(&v, NULL, argv[2]) < 0)
                        goto summary;
        } else if (args >= 4 && streq(argv[1], "open-group")) {
                if (open_nodes(&v, argv[2], argv + 3, (size_t) args - 3) < 0)
                        goto summary;
        } else if (args == 3 && streq(argv[1], "claim-iommufd")) {
                v.use_iommufd = true;
                if (claim(&v, address_valid(argv[2]) ? argv[2] : NULL, argv[2]) < 0)
                        goto summary;
        } else {
                usage();
                return 2;
        }
        run_checks(&v);
        if (do_hold && n_failed == 0) {
                printf("summary: %u ok, %u not ok\n", n_ok, n_failed);
                hold(&v);
                return 0;
        }
        if (v.bus && v.lease && !streq(argv[1], "fds"))
                release(&v);
summary:
        printf("summary: %u ok, %u not ok\n", n_ok, n_failed);
        fflush(stdout);
        return n_failed ? 1 : 0;
}
