/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host facts of a fake root that are not PCI topology: modules, hugepages, the root
 * block device and mountinfo, network interfaces and routes, interrupts, the IVRS bytes.
 * Written only through fakesys's public calls (tests/fakesys.c holds the tree primitives). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdf.h"
#include "fakesys.h"
#include "macro.h"
#include "util.h"

typedef char Path[PATH_MAX];

static _printf_(2, 3) int pathf(char *buf, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, PATH_MAX, fmt, ap);
        va_end(ap);
        return n < 0 ? -EINVAL : n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Writes printf-formatted text to the root-relative file rel. */
static _printf_(3, 4) int writef(FakeSys *fs, const char *rel, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return fakesys_write_file(fs, rel, s, (size_t) n);
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
        put16(p, (uint16_t) v);
        put16(p + 2, (uint16_t) (v >> 16));
}

static uint16_t routing_id(const PciAddress *a) {
        return (uint16_t) (a->bus << 8 | a->dev << 3 | a->fn);
}

int fakesys_build_ivrs(const char *iommu_bdf, uint64_t base, uint8_t **ret, size_t *ret_size) {
        /* ACPI header (36) + IVinfo and reserved (12) + IVHD type 0x11 (40) + device entries:
         * range start/end (4 + 4) and one special IOAPIC entry (8). AMD I/O Virtualization
         * Technology Specification 48882 §5.2. */
        const size_t size = 36 + 12 + 40 + 16;
        uint8_t *t, sum = 0;
        PciAddress a;

        if (!ret || !ret_size || pci_address_parse(iommu_bdf, &a) < 0)
                return -EINVAL;
        t = calloc(1, size);
        if (!t)
                return -ENOMEM;
        memcpy(t, "IVRS", 4);
        put32(t + 4, (uint32_t) size);
        t[8] = 2;
        memcpy(t + 10, "AMD   AmdTable", 14);
        put32(t + 24, 1);
        memcpy(t + 28, "AMD ", 4);
        put32(t + 32, 1);
        /* IVinfo: VAsize 64, PAsize 48, GVAsize 48 bits, EFRSup. */
        put32(t + 36, 64u << 15 | 48u << 8 | 2u << 5 | 1u);
        t[48] = 0x11;
        t[49] = 0xb0;
        put16(t + 50, 40 + 16);
        put16(t + 52, routing_id(&a));
        put16(t + 54, 0x40);
        put32(t + 56, (uint32_t) base);
        put32(t + 60, (uint32_t) (base >> 32));
        put32(t + 72, 0xa2254afaU); /* EFR image */
        put32(t + 76, 0x246577efU);
        t[88] = 3; /* devices 0000 .. */
        t[92] = 4; /* .. ffff */
        put16(t + 93, 0xffff);
        t[96] = 0x48; /* special: IOAPIC, handle 0x21, behind 00:14.0 */
        t[100] = 0x21;
        put16(t + 101, 0x00a0);
        t[103] = 1;
        for (size_t i = 0; i < size; i++)
                sum = (uint8_t) (sum + t[i]);
        t[9] = (uint8_t) (0x100 - sum);
        *ret = t;
        *ret_size = size;
        return 0;
}

int fakesys_add_module(FakeSys *fs, const char *module) {
        Path p;

        if (!fs || !filename_is_valid(module))
                return -EINVAL;
        if (pathf(p, "sys/module/%s/initstate", module) < 0)
                return -ENAMETOOLONG;
        return writef(fs, p, "live\n");
}

int fakesys_set_module_param(FakeSys *fs, const char *module, const char *param,
                             const char *value) {
        size_t n;
        Path p;
        int r;

        if (!fs || !filename_is_valid(param) || !value)
                return -EINVAL;
        r = fakesys_add_module(fs, module);
        if (r >= 0)
                r = pathf(p, "sys/module/%s/parameters/%s", module, param);
        if (r < 0)
                return r;
        n = strlen(value);
        return writef(fs, p, "%s%s", value, n > 0 && value[n - 1] == '\n' ? "" : "\n");
}

int fakesys_enable_iommufd(FakeSys *fs) {
        int r;

        if (!fs)
                return -EINVAL;
        /* A regular empty file stands in for the node in a fake dev root. */
        r = fakesys_write_file(fs, "dev/iommu", "", 0);
        if (r >= 0)
                r = fakesys_set_module_param(fs, "iommufd", "allow_unsafe_interrupts", "N");
        return r;
}

int fakesys_set_hugepages(FakeSys *fs, unsigned long size_kb, unsigned long nr,
                          unsigned long free_pages) {
        static const char *const names[] = {
                "nr_hugepages",      "free_hugepages",          "resv_hugepages",
                "surplus_hugepages", "nr_overcommit_hugepages", "nr_hugepages_mempolicy"
        };
        const unsigned long values[] = { nr, free_pages, 0, 0, 0, nr };
        Path p;
        int r = 0;

        /* Documentation/admin-guide/mm/hugetlbpage.rst: one directory per page size. */
        if (!fs || size_kb == 0 || free_pages > nr)
                return -EINVAL;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(names); i++) {
                r = pathf(p, "sys/kernel/mm/hugepages/hugepages-%lukB/%s", size_kb, names[i]);
                if (r >= 0)
                        r = writef(fs, p, "%lu\n", values[i]);
        }
        return r;
}

int fakesys_set_osrelease(FakeSys *fs, const char *release) {
        if (!fs || isempty(release) || strchr(release, '\n'))
                return -EINVAL;
        return writef(fs, "proc/sys/kernel/osrelease", "%s\n", release);
}

static int dev_block_links(FakeSys *fs, const char *block, unsigned major, unsigned minor) {
        Path l;
        int r;

        r = pathf(l, "sys/dev/block/%u:%u", major, minor);
        if (r >= 0)
                r = fakesys_link_to(fs, l, block);
        if (r >= 0)
                r = pathf(l, "sys/class/block/%s", strrchr(block, '/') + 1);
        return r < 0 ? r : fakesys_link_to(fs, l, block);
}

int fakesys_add_block(FakeSys *fs, const char *bdf, const char *path, unsigned major,
                      unsigned minor) {
        _cleanup_free_ char *dev = NULL;
        const char *name, *digits;
        Path blk, p;
        int r;

        /* dev_t holds a 12-bit major and a 20-bit minor. */
        if (!fs || isempty(path) || path[0] == '/' || strstr(path, "..") || major > 4095 ||
            minor > 0xfffff)
                return -EINVAL;
        r = fakesys_device_path(fs, bdf, &dev);
        if (r >= 0)
                r = pathf(blk, "%s/%s", dev, path);
        if (r >= 0)
                r = pathf(p, "%s/dev", blk);
        if (r >= 0)
                r = writef(fs, p, "%u:%u\n", major, minor);
        if (r < 0)
                return r;
        /* A partition sits in its disk's directory and has a "partition" number
         * (Documentation/ABI/stable/sysfs-block). */
        name = strrchr(blk, '/') + 1;
        r = pathf(p, "%.*sdev", (int) (name - blk), blk);
        if (r >= 0 && fakesys_exists(fs, p)) {
                for (digits = name + strlen(name);
                     digits > name && digits[-1] >= '0' && digits[-1] <= '9';)
                        digits--;
                r = pathf(p, "%s/partition", blk);
                if (r >= 0)
                        r = writef(fs, p, "%s\n", *digits ? digits : "1");
        }
        return r < 0 ? r : dev_block_links(fs, blk, major, minor);
}

int fakesys_add_dm(FakeSys *fs, const char *name, const char *dm_name, unsigned major,
                   unsigned minor, char *const *slaves) {
        Path dir, p;
        int r;

        if (!fs || !filename_is_valid(name) || !filename_is_valid(dm_name))
                return -EINVAL;
        r = pathf(dir, "sys/devices/virtual/block/%s", name);
        if (r >= 0)
                r = pathf(p, "%s/dev", dir);
        if (r >= 0)
                r = writef(fs, p, "%u:%u\n", major, minor);
        if (r >= 0)
                r = pathf(p, "%s/dm/name", dir);
        if (r >= 0)
                r = writef(fs, p, "%s\n", dm_name);
        if (r >= 0)
                r = pathf(p, "%s/holders", dir);
        if (r >= 0)
                r = fakesys_mkdir(fs, p);
        /* slaves/ on the holder, holders/ on each slave (Documentation/ABI/stable/sysfs-block). */
        for (char *const *s = slaves; r >= 0 && s && *s; s++) {
                _cleanup_free_ char *t = NULL;

                if (!filename_is_valid(*s))
                        return -EINVAL;
                r = pathf(p, "sys/dev/block/%s", *s);
                if (r >= 0)
                        r = fakesys_resolve_link(fs, p, &t);
                if (r >= 0)
                        r = pathf(p, "%s/slaves/%s", dir, strrchr(t, '/') + 1);
                if (r >= 0)
                        r = fakesys_link_to(fs, p, t);
                if (r >= 0)
                        r = pathf(p, "%s/holders/%s", t, name);
                if (r >= 0)
                        r = fakesys_link_to(fs, p, dir);
        }
        return r < 0 ? r : dev_block_links(fs, dir, major, minor);
}

int fakesys_set_root_mount(FakeSys *fs, unsigned major, unsigned minor, const char *fstype,
                           const char *source) {
        if (!fs || !filename_is_valid(fstype) || isempty(source) || strpbrk(source, " \t\n"))
                return -EINVAL;
        /* proc(5) mountinfo: id parent MAJ:MIN root mountpoint options tags - type source. */
        return writef(
                fs, "proc/self/mountinfo",
                "26 1 %u:%u / / rw,relatime shared:1 - %s %s rw\n"
                "21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
                "22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
                "23 26 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev "
                "rw,size=16318516k,nr_inodes=4079629,mode=755,inode64\n"
                "24 23 0:22 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts "
                "rw,gid=5,mode=620,ptmxmode=000\n"
                "25 26 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs "
                "rw,size=3270588k,mode=755,inode64\n"
                "28 23 0:24 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,inode64\n"
                "40 23 0:33 / /dev/hugepages rw,relatime shared:15 - hugetlbfs hugetlbfs "
                "rw,pagesize=2M\n",
                major, minor, fstype, source);
}

static int count_entries(FakeSys *fs, const char *rel, size_t *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        int fd;

        fd = openat(fakesys_root_fd(fs), rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        *ret = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        (*ret)++;
        return 0;
}

/* The lowest ifindex from `from` up that no sys/class/net/IFNAME/ifindex holds. */
static int free_ifindex(FakeSys *fs, unsigned from, unsigned *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        unsigned n = from;
        int fd;

        fd = openat(fakesys_root_fd(fs), "sys/class/net", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return -errno;
        if (fd >= 0) {
                d = fdopendir(fd);
                if (!d) {
                        close(fd);
                        return -ENOMEM;
                }
        }
        /* Few netdevs: one pass per candidate is cheap. */
        for (bool taken = d != NULL; taken; n += taken) {
                taken = false;
                rewinddir(d);
                for (struct dirent *de; !taken && (de = readdir(d));) {
                        _cleanup_free_ char *v = NULL;
                        uint32_t idx;
                        Path p;

                        if (de->d_name[0] == '.' ||
                            pathf(p, "sys/class/net/%s/ifindex", de->d_name) < 0 ||
                            fakesys_read_file(fs, p, &v, NULL) < 0)
                                continue;
                        taken = safe_atou32(v, 10, &idx) >= 0 && idx == n;
                }
        }
        *ret = n;
        return 0;
}

static int add_netdev(FakeSys *fs, const char *bdf, const char *ifname, const char *mac,
                      unsigned ifindex) {
        static const char *const names[] = { "ifindex", "address", "operstate", "type", "mtu" };
        _cleanup_free_ char *dev = NULL;
        char values[ELEMENTSOF(names)][32];
        Path dir, p;
        int r;

        /* IFNAMSIZ is 16 with the NUL. */
        if (!fs || !filename_is_valid(ifname) || strlen(ifname) >= 16 ||
            (mac && (strlen(mac) != 17 || strchr(mac, '\n'))) || ifindex > INT32_MAX)
                return -EINVAL;
        r = fakesys_device_path(fs, bdf, &dev);
        if (r < 0)
                return r;
        /* lo is ifindex 1 and virtual; the others count up from it. */
        if (!fakesys_exists(fs, "sys/class/net/lo")) {
                r = writef(fs, "sys/devices/virtual/net/lo/ifindex", "1\n");
                if (r >= 0)
                        r = fakesys_link_to(fs, "sys/class/net/lo", "sys/devices/virtual/net/lo");
                if (r < 0)
                        return r;
        }
        if (ifindex == 0) {
                size_t n = 0;

                r = count_entries(fs, "sys/class/net", &n);
                if (r < 0)
                        return r;
                ifindex = (unsigned) n + 1;
        }
        snprintf(values[0], sizeof(values[0]), "%u\n", ifindex);
        snprintf(values[1], sizeof(values[1]), "%s\n", mac ?: "52:54:00:12:34:56");
        snprintf(values[2], sizeof(values[2]), "up\n");
        snprintf(values[3], sizeof(values[3]), "1\n"); /* ARPHRD_ETHER */
        snprintf(values[4], sizeof(values[4]), "1500\n");
        r = pathf(dir, "%s/net/%s", dev, ifname);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(names); i++) {
                r = pathf(p, "%s/%s", dir, names[i]);
                if (r >= 0)
                        r = writef(fs, p, "%s", values[i]);
        }
        if (r >= 0)
                r = pathf(p, "sys/class/net/%s", ifname);
        return r < 0 ? r : fakesys_link_to(fs, p, dir);
}

int fakesys_add_netdev(FakeSys *fs, const char *bdf, const char *ifname, const char *mac) {
        return add_netdev(fs, bdf, ifname, mac, 0);
}

int fakesys_add_netdev_ifindex(FakeSys *fs, const char *bdf, const char *ifname, const char *mac,
                               unsigned ifindex) {
        int r;

        if (!fs)
                return -EINVAL;
        if (ifindex == 0) {
                r = free_ifindex(fs, FAKESYS_IFINDEX_FIRST, &ifindex);
                if (r < 0)
                        return r;
        }
        return add_netdev(fs, bdf, ifname, mac, ifindex);
}

int fakesys_add_route(FakeSys *fs, const char *ifname, const char *dest, unsigned prefix,
                      const char *gateway, unsigned metric) {
        _cleanup_free_ char *old = NULL, *line = NULL;
        struct in_addr d, g = { 0 };
        unsigned flags = 0x1; /* RTF_UP */
        uint32_t mask;
        int r;

        if (!fs || !filename_is_valid(ifname) || strlen(ifname) >= 16 || prefix > 32 || !dest ||
            inet_pton(AF_INET, dest, &d) != 1 || (gateway && inet_pton(AF_INET, gateway, &g) != 1))
                return -EINVAL;
        if (gateway)
                flags |= 0x2; /* RTF_GATEWAY */
        mask = prefix == 0 ? 0 : htonl(~0u << (32 - prefix));
        r = fakesys_read_file(fs, "proc/net/route", &old, NULL);
        if (r == -ENOENT) {
                /* net/ipv4/fib_trie.c fib_route_seq_show(): each line padded to 127. */
                if (asprintf(&old, "%-127s\n",
                             "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\t"
                             "Metric\tMask\t\tMTU\tWindow\tIRTT") < 0)
                        return -ENOMEM;
        } else if (r < 0)
                return r;
        /* Addresses print as the raw network-order u32, as the kernel does. */
        if (asprintf(&line, "%s\t%08X\t%08X\t%04X\t0\t0\t%u\t%08X\t0\t0\t0", ifname,
                     d.s_addr & mask, g.s_addr, flags, metric, mask) < 0)
                return -ENOMEM;
        return writef(fs, "proc/net/route", "%s%-127s\n", old, line);
}

int fakesys_write_interrupts(FakeSys *fs, bool remapped) {
        static const struct {
                unsigned irq, pin;
                const char *trigger, *name;
        } legacy[] = {
                { 0, 2, "edge", "timer" },   { 1, 1, "edge", "i8042" },   { 8, 8, "edge", "rtc0" },
                { 9, 9, "fasteoi", "acpi" }, { 12, 12, "edge", "i8042" },
        };
        const char *ir = remapped ? "IR-" : "";
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **bdfs = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0, alloc = 0;
        unsigned irq = 120;
        FILE *f;
        int fd, r = 0;

        if (!fs)
                return -EINVAL;
        fd = openat(fakesys_root_fd(fs), "sys/bus/pci/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        for (struct dirent *de; r >= 0 && (de = readdir(d));)
                if (pci_address_is_canonical(de->d_name))
                        r = strv_extend(&bdfs, de->d_name);
        if (r < 0)
                return r;
        strv_sort(bdfs);
        f = open_memstream(&text, &alloc);
        if (!f)
                return -ENOMEM;
        /* arch/x86/kernel/irq.c arch_show_interrupts() layout, 4 CPUs. */
        fprintf(f, "%*s%-11s%-11s%-11s%-11s\n", 11, "", "CPU0", "CPU1", "CPU2", "CPU3");
        for (size_t i = 0; i < ELEMENTSOF(legacy); i++)
                fprintf(f, "%3u: %10u %10u %10u %10u  %sIO-APIC %4u-%-9s %s\n", legacy[i].irq,
                        legacy[i].irq ? 0 : 36, 0u, 0u, legacy[i].irq ? 9 : 0, ir, legacy[i].pin,
                        legacy[i].trigger, legacy[i].name);
        for (char **b = bdfs; b && *b; b++) {
                _cleanup_free_ char *drv = NULL;
                PciAddress a;
                Path l;

                if (pathf(l, "sys/bus/pci/devices/%s/driver", *b) < 0 ||
                    fakesys_resolve_link(fs, l, &drv) < 0 || pci_address_parse(*b, &a) < 0)
                        continue;
                /* MSI hwirq = PCI requester ID << 11 | vector (arch/x86/kernel/apic/msi.c). */
                fprintf(f, "%3u: %10u %10u %10u %10u  %sPCI-MSI %u-edge      %s\n", irq++, 0u, 120u,
                        0u, 0u, ir, (unsigned) routing_id(&a) << 11, strrchr(drv, '/') + 1);
        }
        fprintf(f, "NMI: %10u %10u %10u %10u   Non-maskable interrupts\n", 0u, 0u, 0u, 0u);
        fprintf(f, "LOC: %10u %10u %10u %10u   Local timer interrupts\n", 8210u, 7731u, 9120u,
                6604u);
        if (fclose(f) != 0)
                return -ENOMEM;
        len = strlen(text);
        return fakesys_write_file(fs, "proc/interrupts", text, len);
}
