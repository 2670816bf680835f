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
 */
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

static void check_container(int fd) {
        struct vfio_iommu_type1_dma_map map = {
                .argsz = sizeof(map),
                .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                .iova = DMA_IOVA,
                .size = DMA_SIZE,
        };
        struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap),
                                                    .iova = DMA_IOVA,
                                                    .size = DMA_SIZE };
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
        map.vaddr = (uintptr_t) buf;
        r = ioctl(fd, VFIO_IOMMU_MAP_DMA, &map);
        report(r == 0, "container VFIO_IOMMU_MAP_DMA iova=0x%llx size=0x%llx%s%s", DMA_IOVA,
               DMA_SIZE, r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
        if (r == 0) {
                r = ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap);
                report(r == 0 && unmap.size == DMA_SIZE,
                       "container VFIO_IOMMU_UNMAP_DMA iova=0x%llx unmapped=0x%llx%s%s", DMA_IOVA,
                       (unsigned long long) unmap.size, r < 0 ? ": " : "",
                       r < 0 ? strerror(errno) : "");
        }
        map.iova = MSI_IOVA;
        r = ioctl(fd, VFIO_IOMMU_MAP_DMA, &map);
        report(r < 0 && errno == EINVAL,
               "container VFIO_IOMMU_MAP_DMA into the MSI window "
               "iova=0x%llx refused: %s",
               MSI_IOVA, r < 0 ? strerror(errno) : "it was mapped");
        if (r == 0) {
                unmap.iova = MSI_IOVA;
                (void) ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap);
        }
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

static void usage(void) {
        fprintf(stderr, "usage: test-vmm fds [--hold]\n"
                        "       test-vmm claim ADDRESS [--hold]\n"
                        "       test-vmm claim-group N [--hold]\n"
                        "       test-vmm claim-iommufd ADDRESS|N [--hold]\n");
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
        } else if (args == 3 && streq(argv[1], "claim-group")) {
                if (claim(&v, NULL, argv[2]) < 0)
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
