/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostcrit.h"
#include "names.h"
#include "util.h"

#define PROC_TEXT_MAX (4 * 1024 * 1024)
#define STACK_DEPTH_MAX 8 /* dm on md on partitions...: deeper is a loop or nonsense */

void host_critical_free(HostCritical *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(c[i].reason);
        free(c);
}

int mountinfo_root_device(const char *mountinfo, unsigned *ret_major, unsigned *ret_minor) {
        bool found = false;
        unsigned maj = 0, min = 0;

        /* proc(5): "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": field 3 is
         * MAJ:MIN, field 5 the mount point. */
        for (const char *line = mountinfo; line && *line;) {
                const char *end = strchrnul(line, '\n');
                char mp[8];
                unsigned a, b;
                int n = 0;

                if (sscanf(line, "%*u %*u %u:%u %*s %7s%n", &a, &b, mp, &n) == 3 && n > 0 &&
                    line + n <= end && streq(mp, "/") &&
                    (line[n] == ' ' || line[n] == '\n' || !line[n])) {
                        maj = a;
                        min = b;
                        found = true;
                }
                line = *end ? end + 1 : end;
        }
        if (!found)
                return -ENOENT;
        *ret_major = maj;
        *ret_minor = min;
        return 0;
}

int route_default_interfaces(const char *route, const char *ipv6_route, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        /* proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask ...", hex
         * fields; a default route has Destination and Mask 00000000 and flag RTF_UP (0x1). */
        for (const char *line = route; line && *line;) {
                const char *end = strchrnul(line, '\n');
                char ifname[64], dest[16], mask[16];
                unsigned flags;

                if (sscanf(line, "%63s %15s %*s %x %*s %*s %*s %15s", ifname, dest, &flags, mask) ==
                            4 &&
                    streq(dest, "00000000") && streq(mask, "00000000") && (flags & 1) &&
                    filename_is_valid(ifname) && !streq(ifname, "lo") &&
                    !strv_contains(l, ifname) && strv_extend(&l, ifname) < 0)
                        return -ENOMEM;
                line = *end ? end + 1 : end;
        }
        /* proc/net/ipv6_route: dest, dest prefix len, src, src prefix, next hop, metric, refcnt,
         * use, flags, device; default = 32 zeros with prefix 00. */
        for (const char *line = ipv6_route; line && *line;) {
                const char *end = strchrnul(line, '\n');
                char dest[40], plen[4], ifname[64];
                unsigned flags;

                if (sscanf(line, "%39s %3s %*s %*s %*s %*s %*s %*s %x %63s", dest, plen, &flags,
                           ifname) == 4 &&
                    streq(dest, "00000000000000000000000000000000") && streq(plen, "00") &&
                    (flags & 1) && filename_is_valid(ifname) && !streq(ifname, "lo") &&
                    !strv_contains(l, ifname) && strv_extend(&l, ifname) < 0)
                        return -ENOMEM;
                line = *end ? end + 1 : end;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int devpath_pci_device(const char *path, char ret[static PCI_ADDRESS_STRLEN]) {
        const char *found = NULL;

        for (const char *p = path; p && *p;) {
                const char *e = strchrnul(p, '/');

                if (e - p == PCI_ADDRESS_STRLEN - 1) {
                        char c[PCI_ADDRESS_STRLEN];

                        memcpy(c, p, PCI_ADDRESS_STRLEN - 1);
                        c[PCI_ADDRESS_STRLEN - 1] = 0;
                        if (pci_address_is_canonical(c))
                                found = p;
                }
                p = *e ? e + 1 : e;
        }
        if (!found)
                return -ENODEV;
        memcpy(ret, found, PCI_ADDRESS_STRLEN - 1);
        ret[PCI_ADDRESS_STRLEN - 1] = 0;
        return 0;
}

static int add(HostCritical **c, size_t *n, const char *address, const char *fmt, ...)
        _printf_(4, 5);
static int add(HostCritical **c, size_t *n, const char *address, const char *fmt, ...) {
        HostCritical *nc;
        char *reason;
        va_list ap;
        int k;

        for (size_t i = 0; i < *n; i++)
                if (streq((*c)[i].address, address))
                        return 0; /* the first reason stands */
        va_start(ap, fmt);
        k = vasprintf(&reason, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        nc = realloc(*c, sizeof(*nc) * (*n + 1));
        if (!nc) {
                free(reason);
                return -ENOMEM;
        }
        *c = nc;
        strcpy(nc[*n].address, address);
        nc[*n].reason = reason;
        (*n)++;
        return 0;
}

static int read_text(const SysRoot *root, const char *path, char **ret) {
        uint8_t *buf;
        size_t size;
        char *s;
        int k;

        k = sysfs_read_file(root, path, PROC_TEXT_MAX, &buf, &size);
        if (k < 0)
                return k;
        s = realloc(buf, size + 1);
        if (!s) {
                free(buf);
                return -ENOMEM;
        }
        s[size] = 0;
        *ret = s;
        return 0;
}

/* Walks from a block device to the PCI devices under it, following stacked devices (dm, md)
 * through their slaves/ directory (Documentation/ABI/stable/sysfs-block). */
static int block_devices(const SysRoot *root, const char *blockpath, const char *what,
                         unsigned depth, HostCritical **c, size_t *n, char ***errors) {
        _cleanup_free_ char *real = NULL, *slaves = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        char addr[PCI_ADDRESS_STRLEN];
        struct dirent *de;
        int k;

        if (depth > STACK_DEPTH_MAX)
                return 0;
        k = sysfs_resolve_link(root, blockpath, &real);
        if (k == -EINVAL) /* not a link: already a real directory */
                real = strdup(blockpath);
        else if (k < 0)
                return k == -ENOMEM ? k
                                    : strv_extendf(errors, "root filesystem: %s: %s", blockpath,
                                                   strerror(-k));
        if (!real)
                return -ENOMEM;
        if (devpath_pci_device(real, addr) >= 0)
                return add(c, n, addr, "holds the root filesystem (%s)", what);

        if (asprintf(&slaves, "%s/slaves", real) < 0)
                return -ENOMEM;
        k = sysroot_opendir_at(root, -1, slaves, &d);
        if (k < 0)
                return k == -ENOMEM ? k
                                    : 0; /* virtual device with nothing under it (tmpfs, overlay) */
        while ((de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;

                if (de->d_name[0] == '.' || !filename_is_valid(de->d_name))
                        continue;
                if (asprintf(&sub, "%s/%s", slaves, de->d_name) < 0)
                        return -ENOMEM;
                k = block_devices(root, sub, what, depth + 1, c, n, errors);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Follows virtual interfaces (bond, vlan, macvlan: lower_*; bridge: brif/) down to PCI. */
static int net_devices(const SysRoot *root, const char *ifname, const char *top, unsigned depth,
                       HostCritical **c, size_t *n, char ***errors) {
        _cleanup_free_ char *link = NULL, *real = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        char addr[PCI_ADDRESS_STRLEN];
        struct dirent *de;
        int k;

        if (depth > STACK_DEPTH_MAX)
                return 0;
        if (asprintf(&link, SYSFS_CLASS_NET "/%s", ifname) < 0)
                return -ENOMEM;
        k = sysfs_resolve_link(root, link, &real);
        if (k < 0)
                return k == -ENOMEM
                               ? k
                               : strv_extendf(errors, "default route: %s: %s", link, strerror(-k));
        if (devpath_pci_device(real, addr) >= 0)
                return add(c, n, addr, "carries the default route (%s)", top);

        k = sysroot_opendir_at(root, -1, real, &d);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        while ((de = readdir(d))) {
                if (!strneq(de->d_name, "lower_", 6) || !filename_is_valid(de->d_name + 6))
                        continue;
                k = net_devices(root, de->d_name + 6, top, depth + 1, c, n, errors);
                if (k < 0)
                        return k;
        }
        d = safe_closedir(d);
        link = mfree(link);
        if (asprintf(&link, "%s/brif", real) < 0)
                return -ENOMEM;
        if (sysroot_opendir_at(root, -1, link, &d) < 0)
                return 0;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || !filename_is_valid(de->d_name))
                        continue;
                k = net_devices(root, de->d_name, top, depth + 1, c, n, errors);
                if (k < 0)
                        return k;
        }
        return 0;
}

int host_critical_find(const SysRoot *root, HostCritical **ret, size_t *ret_n, char ***errors) {
        _cleanup_free_ char *mountinfo = NULL, *route = NULL, *route6 = NULL;
        _cleanup_strv_free_ char **ifaces = NULL;
        HostCritical *c = NULL;
        size_t n = 0;
        unsigned maj, min;
        int k;

        k = read_text(root, PROC_MOUNTINFO, &mountinfo);
        if (k == -ENOMEM)
                goto fail;
        if (k >= 0 && mountinfo_root_device(mountinfo, &maj, &min) >= 0) {
                char path[64], what[64];

                snprintf(path, sizeof(path), SYSFS_DEV_BLOCK "/%u:%u", maj, min);
                snprintf(what, sizeof(what), "block device %u:%u", maj, min);
                /* Major 0 is an anonymous device (overlay, tmpfs, nfs): no PCI device below it. */
                if (maj != 0) {
                        k = block_devices(root, path, what, 0, &c, &n, errors);
                        if (k < 0)
                                goto fail;
                }
        }

        k = read_text(root, PROC_NET_ROUTE, &route);
        if (k == -ENOMEM)
                goto fail;
        k = read_text(root, PROC_NET_IPV6_ROUTE, &route6);
        if (k == -ENOMEM)
                goto fail;
        k = route_default_interfaces(route, route6, &ifaces);
        if (k < 0)
                goto fail;
        for (char **i = ifaces; i && *i; i++) {
                k = net_devices(root, *i, *i, 0, &c, &n, errors);
                if (k < 0)
                        goto fail;
        }

        *ret = c;
        *ret_n = n;
        return 0;
fail:
        host_critical_free(c, n);
        return k;
}
