/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names.h"
#include "parallel.h"
#include "topology.h"
#include "vfio-variant.h"
#include "util.h"

Device *device_free(Device *d) {
        if (!d)
                return NULL;
        free(d->driver);
        free(d->driver_override);
        strv_free(d->reset_methods);
        free(d->physfn);
        strv_free(d->virtfns);
        free(d->vfio_dev);
        free(d->devpath);
        free(d->host_critical);
        free(d);
        return NULL;
}

void blockers_free(Blocker *b, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(b[i].code);
                free(b[i].device);
                free(b[i].reason);
        }
        free(b);
}

Group *group_free(Group *g) {
        if (!g)
                return NULL;
        free(g->type);
        free(g->name);
        strv_free(g->devices);
        for (size_t i = 0; i < g->n_regions; i++)
                free(g->regions[i].type);
        free(g->regions);
        blockers_free(g->blockers, g->n_blockers);
        free(g);
        return NULL;
}

int topology_new(Topology **ret) {
        Topology *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

static void topology_clear(Topology *t) {
        for (size_t i = 0; i < t->n_devices; i++)
                device_free(t->devices[i]);
        free(t->devices);
        t->devices = NULL;
        t->n_devices = 0;
        for (size_t i = 0; i < t->n_groups; i++)
                group_free(t->groups[i]);
        free(t->groups);
        t->groups = NULL;
        t->n_groups = 0;
        strv_free(t->errors);
        t->errors = NULL;
}

Topology *topology_free(Topology *t) {
        if (!t)
                return NULL;
        topology_clear(t);
        free(t);
        return NULL;
}

int topology_add_error(char ***errors, const char *fmt, ...) {
        va_list ap;
        int k;

        /* A flapping attribute re-read on every uevent must not grow the list without end. */
        if (strv_length(*errors) >= TOPOLOGY_ERRORS_MAX)
                return 0;
        va_start(ap, fmt);
        k = strv_extendv(errors, fmt, ap);
        va_end(ap);
        /* Quoted sysfs values may be any bytes; the line goes on the bus, which wants UTF-8. */
        if (k >= 0)
                utf8_sanitize((*errors)[strv_length(*errors) - 1]);
        return k;
}

bool device_is_bridge_class(uint32_t class) {
        /* PCI Code and ID Assignment spec: 06/04 PCI-to-PCI bridge, 06/09 semi-transparent
         * PCI-to-PCI bridge. An ISA bridge (06/01, an LPC controller) is an endpoint for VFIO. */
        return (class >> 8) == 0x0604 || (class >> 8) == 0x0609;
}

/* Attribute readers: absent (-ENOENT) is not an error, anything else is recorded. */
static int read_attr(const SysRoot *root, int dfd, const char *addr, const char *attr, char **ret,
                     char ***errors) {
        int k = sysfs_read_attr_at(root, dfd, attr, ret);

        if (k == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (k < 0) {
                *ret = NULL;
                if (topology_add_error(errors, "%s: %s: %s", addr, attr, strerror(-k)) < 0)
                        return -ENOMEM;
                return k == -ENOMEM ? k : 0;
        }
        return 1;
}

static int bad_value(char ***errors, const char *addr, const char *attr, const char *value) {
        return topology_add_error(errors, "%s: %s: invalid value \"%.64s\"", addr, attr, value);
}

/* A hex id attribute ("0x8086"), width bits wide. */
static int read_hex(const SysRoot *root, int dfd, const char *addr, const char *attr,
                    unsigned width, uint32_t *ret, bool *ret_present, char ***errors) {
        _cleanup_free_ char *s = NULL;
        uint32_t v;
        int k;

        *ret_present = false;
        k = read_attr(root, dfd, addr, attr, &s, errors);
        if (k <= 0)
                return k;
        if (!strneq(s, "0x", 2) || safe_atou32(s, 16, &v) < 0 || (width < 32 && v >> width))
                return bad_value(errors, addr, attr, s) < 0 ? -ENOMEM : 0;
        *ret = v;
        *ret_present = true;
        return 0;
}

static int read_i64(const SysRoot *root, int dfd, const char *addr, const char *attr, int64_t *ret,
                    char ***errors) {
        _cleanup_free_ char *s = NULL;
        int32_t v;
        int k;

        *ret = -1;
        k = read_attr(root, dfd, addr, attr, &s, errors);
        if (k <= 0)
                return k;
        if (safe_atoi32(s, &v) < 0)
                return bad_value(errors, addr, attr, s) < 0 ? -ENOMEM : 0;
        *ret = v;
        return 0;
}

static int read_link_name(const SysRoot *root, int dfd, const char *addr, const char *link,
                          char **ret, char ***errors) {
        int k = sysfs_read_link_name_at(root, dfd, link, ret);

        if (k == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (k < 0) {
                *ret = NULL;
                if (topology_add_error(errors, "%s: %s: %s", addr, link, strerror(-k)) < 0)
                        return -ENOMEM;
                return k == -ENOMEM ? k : 0;
        }
        return 1;
}

static int split_words(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *p = s;
        size_t n_l = 0;

        for (;;) {
                char w[64];
                size_t n;

                p += strspn(p, " \t\n");
                if (!*p)
                        break;
                n = strcspn(p, " \t\n");
                if (n >= sizeof(w) || n_l >= 32)
                        return -EBADMSG;
                memcpy(w, p, n);
                w[n] = 0;
                if (!filename_is_valid(w))
                        return -EBADMSG;
                if (strv_extend_n(&l, &n_l, w) < 0)
                        return -ENOMEM;
                p += n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

typedef struct VirtFn {
        unsigned n;
        char *addr;
} VirtFn;

static int cmp_virtfn(const void *a, const void *b) {
        const VirtFn *x = a, *y = b;
        return x->n < y->n ? -1 : x->n > y->n;
}

/* The virtfnN links of an SR-IOV PF, in N order (sysfs-bus-pci: virtfnN -> ../<VF>). */
static int read_virtfns(const SysRoot *root, int dfd, const char *addr, char ***ret,
                        char ***errors) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        VirtFn *v = NULL;
        size_t n = 0;
        int k = 0;

        *ret = NULL;
        k = sysroot_opendir_at(root, dfd, ".", &d);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        while ((de = readdir(d))) {
                uint32_t idx;
                char *target = NULL;
                VirtFn *nv;

                if (!strneq(de->d_name, "virtfn", 6) || safe_atou32(de->d_name + 6, 10, &idx) < 0)
                        continue;
                k = read_link_name(root, dfd, addr, de->d_name, &target, errors);
                if (k < 0)
                        goto out;
                if (k == 0)
                        continue;
                if (!pci_address_is_canonical(target)) {
                        k = bad_value(errors, addr, de->d_name, target);
                        free(target);
                        if (k < 0)
                                goto out;
                        continue;
                }
                nv = realloc(v, sizeof(*v) * (n + 1));
                if (!nv) {
                        free(target);
                        k = -ENOMEM;
                        goto out;
                }
                v = nv;
                v[n++] = (VirtFn) { .n = idx, .addr = target };
        }
        if (n > 0)
                qsort(v, n, sizeof(*v), cmp_virtfn);
        for (size_t i = 0, n_ret = 0; i < n; i++) {
                k = strv_extend_n(ret, &n_ret, v[i].addr);
                if (k < 0)
                        goto out;
        }
        k = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(v[i].addr);
        free(v);
        return k;
}

static int read_vfio_dev(const SysRoot *root, int dfd, char **ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int k;

        *ret = NULL;
        /* vfio-dev/vfioN exists while vfio-pci holds the device on kernels with
         * CONFIG_VFIO_DEVICE_CDEV (Documentation/driver-api/vfio.rst, "VFIO device cdev"). */
        k = sysroot_opendir_at(root, dfd, "vfio-dev", &d);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        while ((de = readdir(d))) {
                uint32_t idx;

                if (strneq(de->d_name, "vfio", 4) && safe_atou32(de->d_name + 4, 10, &idx) >= 0) {
                        *ret = strdup(de->d_name);
                        break;
                }
        }
        return 0;
}

/* Header type, config space offset 0x0e (PCI Local Bus spec 6.2.1): 1 = PCI-to-PCI bridge. */
static int read_header_type(const SysRoot *root, int dfd, int *ret) {
        _cleanup_close_ int fd = -1;
        uint8_t b;

        fd = openat(dfd, "config", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (pread(fd, &b, 1, 0x0e) != 1)
                return -EIO;
        *ret = b & 0x7f;
        return 0;
}

/* modalias holds every id in one read (drivers/pci/pci-sysfs.c, modalias_show():
 * "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X"); on a host with thousands of functions that is
 * a third of the scan's system calls. */
static bool parse_modalias(const char *s, Device *d) {
        unsigned v, dv, sv, sd, bc, sc, pi;
        int n = 0;

        if (sscanf(s, "pci:v%8Xd%8Xsv%8Xsd%8Xbc%2Xsc%2Xi%2X%n", &v, &dv, &sv, &sd, &bc, &sc, &pi,
                   &n) != 7 ||
            n != 53 || s[n] != 0 || v > 0xffff || dv > 0xffff || sv > 0xffff || sd > 0xffff)
                return false;
        d->vendor = (uint16_t) v;
        d->device = (uint16_t) dv;
        d->subsystem_vendor = (uint16_t) sv;
        d->subsystem_device = (uint16_t) sd;
        d->class = bc << 16 | sc << 8 | pi;
        return true;
}

/* vendor, device and class identify the function. Without them the device is either gone
 * (removed while we read it: -ENOENT) or present but not describable: then it is kept with
 * ids_known false, so that its group still lists it and is blocked. */
static int read_ids(const SysRoot *root, int dfd, const char *address, Device *d, char ***errors) {
        static const struct {
                const char *attr;
                unsigned width;
                bool required;
        } ids[] = {
                { "vendor", 16, true },
                { "device", 16, true },
                { "class", 24, true },
                { "subsystem_vendor", 16, false },
                { "subsystem_device", 16, false },
        };
        uint32_t v[ELEMENTSOF(ids)] = {};
        char buf[128];
        int k;

        if (sysfs_read_attr_buf(root, dfd, "modalias", buf, sizeof(buf)) >= 0 &&
            parse_modalias(buf, d)) {
                d->ids_known = true;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                size_t n_errors = strv_length(*errors);
                bool present;

                k = read_hex(root, dfd, address, ids[i].attr, ids[i].width, &v[i], &present,
                             errors);
                if (k < 0)
                        return k;
                if (present || !ids[i].required)
                        continue;
                if (!sysfs_exists_at(root, dfd, "."))
                        return -ENOENT;
                /* A bad value was recorded by read_hex(); an absent file was not. */
                if (strv_length(*errors) == n_errors &&
                    topology_add_error(errors, "%s: %s: missing", address, ids[i].attr) < 0)
                        return -ENOMEM;
                return 0;
        }
        d->vendor = (uint16_t) v[0];
        d->device = (uint16_t) v[1];
        d->class = v[2];
        d->subsystem_vendor = (uint16_t) v[3];
        d->subsystem_device = (uint16_t) v[4];
        d->ids_known = true;
        return 0;
}

/* Reads the device whose link is address in bus_fd (sys/bus/pci/devices), without its names:
 * safe to run in several threads at once, as it touches nothing but the tree and its own
 * outputs. */
/* What binding and unbinding change: the driver link, driver_override (user space writes it, no
 * uevent tells), and vfio-dev/. */
static int read_driver(const SysRoot *root, int dfd, Device *d, char ***errors) {
        _cleanup_free_ char *s = NULL;
        int k;

        if (read_link_name(root, dfd, d->address, "driver", &d->driver, errors) < 0)
                return -ENOMEM;

        /* driver_override shows "(null)" when unset (sysfs-bus-pci). */
        k = read_attr(root, dfd, d->address, "driver_override", &s, errors);
        if (k < 0)
                return k;
        if (k > 0 && !isempty(s) && !streq(s, "(null)")) {
                if (filename_is_valid(s))
                        d->driver_override = TAKE_PTR(s);
                else if (bad_value(errors, d->address, "driver_override", s) < 0)
                        return -ENOMEM;
        }
        if (driver_is_vfio(d->driver) && read_vfio_dev(root, dfd, &d->vfio_dev) < 0)
                return -ENOMEM;
        return 0;
}

static int device_read_at(const SysRoot *root, int bus_fd, const char *address, Device **ret,
                          char ***errors) {
        _cleanup_(device_freep) Device *d = NULL;
        _cleanup_close_ int dfd = -1;
        _cleanup_free_ char *s = NULL;
        uint32_t v;
        int k;

        if (!pci_address_is_canonical(address))
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        strcpy(d->address, address);
        (void) pci_address_parse(address, &d->addr);
        d->numa_node = -1;
        d->boot_vga = -1;
        d->group = -1;
        d->sriov_totalvfs = d->sriov_numvfs = -1;

        k = sysroot_open_dir_at(root, bus_fd, address, &dfd);
        if (k < 0)
                return k == -ENOTDIR ? -ENOENT : k;
        k = sysfs_resolve_link_at(root, bus_fd, SYSFS_PCI_DEVICES, address, &d->devpath);
        if (k == -ENOMEM)
                return k;

        k = read_ids(root, dfd, address, d, errors);
        if (k < 0)
                return k;

        k = read_driver(root, dfd, d, errors);
        if (k < 0)
                return k;

        /* reset_method (5.15+) lists the usable methods in order; absent = none. */
        k = read_attr(root, dfd, address, "reset_method", &s, errors);
        if (k < 0)
                return k;
        if (k > 0) {
                k = split_words(s, &d->reset_methods);
                if (k == -ENOMEM)
                        return k;
                if (k < 0 && bad_value(errors, address, "reset_method", s) < 0)
                        return -ENOMEM;
        }
        s = mfree(s);

        {
                int64_t n;

                if (read_i64(root, dfd, address, "numa_node", &n, errors) < 0)
                        return -ENOMEM;
                d->numa_node = n >= 0 ? (int32_t) n : -1;
                /* boot_vga exists only on VGA-class devices (pci_dev_attr_is_visible()). */
                n = -1;
                if ((d->class >> 8) == 0x0300 &&
                    read_i64(root, dfd, address, "boot_vga", &n, errors) < 0)
                        return -ENOMEM;
                d->boot_vga = n < 0 ? -1 : n > 0;
        }

        k = read_link_name(root, dfd, address, "physfn", &d->physfn, errors);
        if (k < 0)
                return k;
        if (d->physfn && !pci_address_is_canonical(d->physfn)) {
                if (bad_value(errors, address, "physfn", d->physfn) < 0)
                        return -ENOMEM;
                d->physfn = mfree(d->physfn);
        }
        /* The sriov_* attributes exist only on a PF (sriov_pf_attrs_are_visible() in
         * drivers/pci/iov.c: dev_is_pf()), and a VF never is one (PCIe Base Spec, SR-IOV: a VF
         * implements no SR-IOV capability); most devices of a large host are VFs. */
        if (!d->physfn) {
                if (read_i64(root, dfd, address, "sriov_totalvfs", &d->sriov_totalvfs, errors) < 0)
                        return -ENOMEM;
                if (d->sriov_totalvfs >= 0 &&
                    read_i64(root, dfd, address, "sriov_numvfs", &d->sriov_numvfs, errors) < 0)
                        return -ENOMEM;
        }
        if (d->sriov_totalvfs >= 0 && read_virtfns(root, dfd, address, &d->virtfns, errors) < 0)
                return -ENOMEM;

        k = read_link_name(root, dfd, address, "iommu_group", &s, errors);
        if (k < 0)
                return k;
        if (k > 0) {
                if (safe_atou32(s, 10, &v) >= 0)
                        d->group = v;
                else if (bad_value(errors, address, "iommu_group", s) < 0)
                        return -ENOMEM;
        }
        s = mfree(s);

        /* PCI Code and ID Assignment spec: 06/00 is a host bridge. */
        d->host_bridge = d->ids_known && (d->class >> 8) == 0x0600;
        d->bridge = d->ids_known && device_is_bridge_class(d->class);
        if (d->ids_known && !d->bridge && !d->host_bridge && (d->class >> 16) == 0x06) {
                int ht;

                if (read_header_type(root, dfd, &ht) >= 0)
                        d->bridge = ht == 1;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

static int strv_copy(char *const *l, char ***ret) {
        size_t n = 0;

        *ret = NULL;
        for (char *const *s = l; s && *s; s++)
                if (strv_extend_n(ret, &n, *s) < 0)
                        return -ENOMEM;
        return 0;
}

static int dup_or_null(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return !s || *ret ? 0 : -ENOMEM;
}

int device_read_driver(const SysRoot *root, const Device *old, Device **ret, char ***errors) {
        _cleanup_(device_freep) Device *d = NULL;
        _cleanup_close_ int dfd = -1;
        _cleanup_free_ char *path = NULL;
        int k;

        d = malloc(sizeof(*d));
        if (!d)
                return -ENOMEM;
        *d = *old;
        d->driver = d->driver_override = d->physfn = d->vfio_dev = d->devpath = NULL;
        d->host_critical = NULL;
        d->reset_methods = d->virtfns = NULL;
        if (strv_copy(old->reset_methods, &d->reset_methods) < 0 ||
            strv_copy(old->virtfns, &d->virtfns) < 0 || dup_or_null(old->physfn, &d->physfn) < 0 ||
            dup_or_null(old->devpath, &d->devpath) < 0 ||
            dup_or_null(old->host_critical, &d->host_critical) < 0 ||
            asprintf(&path, SYSFS_PCI_DEVICES "/%s", old->address) < 0)
                return -ENOMEM;
        k = sysroot_open_dir(root, path, &dfd);
        if (k < 0)
                return k == -ENOTDIR ? -ENOENT : k;
        k = read_driver(root, dfd, d, errors);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(d);
        return 0;
}

/* libpci is not thread-safe: names are looked up by the scan's one thread, after the reads. */
static int device_lookup_names(Device *d, PciNames *names) {
        int k;

        if (!names || !d->ids_known)
                return 0;
        k = pci_names_lookup(names, d->vendor, d->device, &d->vendor_name, &d->device_name);
        return k == -ENOMEM ? k : 0;
}

int device_read(const SysRoot *root, PciNames *names, const char *address, Device **ret,
                char ***errors) {
        _cleanup_(device_freep) Device *d = NULL;
        _cleanup_close_ int bus_fd = -1;
        int k;

        if (!pci_address_is_canonical(address))
                return -EINVAL;
        k = sysroot_open_dir(root, SYSFS_PCI_DEVICES, &bus_fd);
        if (k < 0)
                return k == -ENOTDIR ? -ENOENT : k;
        k = device_read_at(root, bus_fd, address, &d, errors);
        if (k < 0)
                return k;
        k = device_lookup_names(d, names);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(d);
        return 0;
}

static int read_reserved_regions(const SysRoot *root, int gfd, Group *g, char ***errors) {
        _cleanup_free_ char *s = NULL;
        char *line, *save = NULL;
        int k;

        /* sysfs-kernel-iommu_groups: one "start end type" line per region, addresses 0x-hex. */
        k = sysfs_read_attr_at(root, gfd, "reserved_regions", &s);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return topology_add_error(errors, "group %" PRIu32 ": reserved_regions: %s", g->id,
                                          strerror(-k)) < 0
                               ? -ENOMEM
                               : 0;
        for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char a[32], b[32], type[32];
                ReservedRegion *nr;
                uint64_t start, end;

                if (sscanf(line, "%31s %31s %31s", a, b, type) != 3 ||
                    safe_atou64(a, 0, &start) < 0 || safe_atou64(b, 0, &end) < 0 ||
                    !filename_is_valid(type) || g->n_regions >= 64) {
                        if (topology_add_error(errors,
                                               "group %" PRIu32
                                               ": reserved_regions: invalid line \"%.64s\"",
                                               g->id, line) < 0)
                                return -ENOMEM;
                        continue;
                }
                nr = realloc(g->regions, sizeof(*nr) * (g->n_regions + 1));
                if (!nr)
                        return -ENOMEM;
                g->regions = nr;
                nr[g->n_regions] = (ReservedRegion) { .start = start,
                                                      .end = end,
                                                      .type = strdup(type) };
                if (!nr[g->n_regions].type)
                        return -ENOMEM;
                g->n_regions++;
        }
        g->regions_known = true;
        return 0;
}

/* list_members false: the caller fills g->devices (a full scan knows them from the devices'
 * iommu_group links already). groups_fd is sys/kernel/iommu_groups, or -1 to start from the
 * root. Like device_read_at(), safe in several threads at once. */
static int group_read_full(const SysRoot *root, int groups_fd, uint32_t id, bool list_members,
                           Group **ret, char ***errors) {
        _cleanup_(group_freep) Group *g = NULL;
        _cleanup_close_ int gfd = -1;
        char path[sizeof(SYSFS_IOMMU_GROUPS "/") + 10]; /* a uint32_t has at most 10 digits */
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t n = 0;
        int k;

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->id = id;
        snprintf(path, sizeof(path), "%s%" PRIu32, groups_fd >= 0 ? "" : SYSFS_IOMMU_GROUPS "/",
                 id);
        k = sysroot_open_dir_at(root, groups_fd, path, &gfd);
        if (k < 0)
                return k == -ENOTDIR ? -ENOENT : k;
        if (!list_members)
                goto attributes;
        k = sysroot_opendir_at(root, gfd, "devices", &d);
        if (k < 0)
                return k;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (!pci_address_is_canonical(de->d_name)) {
                        /* Groups may hold non-PCI devices (platform devices); we only manage PCI. */
                        continue;
                }
                if (strv_extend_n(&g->devices, &n, de->d_name) < 0)
                        return -ENOMEM;
        }
        strv_sort(g->devices);

attributes:
        k = sysfs_read_attr_at(root, gfd, "type", &g->type);
        if (k < 0 && k != -ENOENT &&
            topology_add_error(errors, "group %" PRIu32 ": type: %s", id, strerror(-k)) < 0)
                return -ENOMEM;
        if (g->type && !filename_is_valid(g->type))
                g->type = mfree(g->type);
        k = sysfs_read_attr_at(root, gfd, "name", &g->name);
        if (k == -ENOMEM)
                return k;
        if (read_reserved_regions(root, gfd, g, errors) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(g);
        return 0;
}

int group_read(const SysRoot *root, uint32_t id, Group **ret, char ***errors) {
        return group_read_full(root, -1, id, true, ret, errors);
}

static int cmp_device(const void *a, const void *b) {
        const Device *x = *(Device *const *) a, *y = *(Device *const *) b;
        return pci_address_compare(&x->addr, &y->addr);
}

static int list_dir(const SysRoot *root, const char *path, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t n = 0;
        int k;

        k = sysroot_opendir_at(root, -1, path, &d);
        if (k < 0)
                return k;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strv_extend_n(&l, &n, de->d_name) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static ssize_t find_group_index(const Topology *t, uint32_t id, bool *found);

/* One device or group of a scan: what its reader found, for the scan's thread to take in list
 * order, so that a parallel scan gives the same topology, errors included, as one thread. */
typedef struct ScanSlot {
        void *object; /* Device * or Group * */
        int r;
        char **errors;
} ScanSlot;

typedef struct Scan {
        const SysRoot *root;
        int dir_fd;          /* sys/bus/pci/devices or sys/kernel/iommu_groups */
        char **addresses;    /* devices to read */
        const uint32_t *ids; /* or groups to read */
        ScanSlot *slots;
} Scan;

static void scan_device(void *userdata, size_t i) {
        Scan *s = userdata;
        ScanSlot *slot = &s->slots[i];

        slot->r = device_read_at(s->root, s->dir_fd, s->addresses[i], (Device **) &slot->object,
                                 &slot->errors);
}

static void scan_group(void *userdata, size_t i) {
        Scan *s = userdata;
        ScanSlot *slot = &s->slots[i];

        slot->r = group_read_full(s->root, s->dir_fd, s->ids[i], false, (Group **) &slot->object,
                                  &slot->errors);
}

/* Moves a reader's errors to the topology's list, which keeps its bound. */
static int scan_take_errors(Topology *t, ScanSlot *slot) {
        for (char **e = slot->errors; e && *e; e++)
                if (topology_add_error(&t->errors, "%s", *e) < 0)
                        return -ENOMEM;
        strv_free(slot->errors);
        slot->errors = NULL;
        return 0;
}

static void scan_slots_free(ScanSlot *slots, size_t n, void *(*free_object)(void *) ) {
        for (size_t i = 0; slots && i < n; i++) {
                free_object(slots[i].object);
                strv_free(slots[i].errors);
        }
        free(slots);
}

static void *device_free_void(void *p) {
        return device_free(p);
}

static void *group_free_void(void *p) {
        return group_free(p);
}

static int scan_devices(Topology *t, const SysRoot *root, PciNames *names, char **devs, size_t n,
                        unsigned n_threads) {
        _cleanup_close_ int bus_fd = -1;
        Scan s = { .root = root, .addresses = devs };
        int k = 0;

        /* Listed a moment ago: if it is gone now, so is every device in it. */
        k = sysroot_open_dir(root, SYSFS_PCI_DEVICES, &bus_fd);
        if (k == -ENOMEM)
                return k;
        s.dir_fd = bus_fd;
        s.slots = calloc(n + 1, sizeof(ScanSlot));
        if (!s.slots)
                return -ENOMEM;
        if (bus_fd >= 0)
                (void) parallel_for(n, n_threads, scan_device, &s);
        else
                for (size_t i = 0; i < n; i++)
                        s.slots[i].r = k == -ENOTDIR ? -ENOENT : k;

        for (size_t i = 0; i < n; i++) {
                ScanSlot *slot = &s.slots[i];

                if (!pci_address_is_canonical(devs[i])) {
                        k = topology_add_error(&t->errors, "%s/%.64s: not a PCI address, ignored",
                                               SYSFS_PCI_DEVICES, devs[i]);
                        if (k < 0)
                                break;
                        continue;
                }
                if ((k = scan_take_errors(t, slot)) < 0)
                        break;
                k = slot->r;
                if (k == -ENOMEM)
                        break;
                if (k == -ENOENT)
                        k = topology_add_error(&t->errors, "%s: vanished during the scan", devs[i]);
                else if (k < 0)
                        k = topology_add_error(&t->errors, "%s: cannot be read: %s", devs[i],
                                               strerror(-k));
                else if ((k = device_lookup_names(slot->object, names)) >= 0)
                        t->devices[t->n_devices++] = TAKE_PTR(slot->object);
                if (k < 0)
                        break;
        }
        scan_slots_free(s.slots, n, device_free_void);
        return k < 0 ? k : 0;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

/* Groups are the distinct iommu_group links of the devices just read (each device has exactly
 * one, sysfs-kernel-iommu_groups); only their own attributes are read here. Groups without a
 * PCI member are of no use to us and are not listed. */
static int scan_groups(Topology *t, const SysRoot *root, unsigned n_threads) {
        _cleanup_free_ uint32_t *ids = NULL;
        _cleanup_free_ size_t *n_members = NULL;
        _cleanup_close_ int groups_fd = -1;
        Scan s = { .root = root };
        size_t n = 0, n_ids = 0;
        int k = 0;

        ids = calloc(t->n_devices + 1, sizeof(uint32_t));
        n_members = calloc(t->n_devices + 1, sizeof(size_t));
        t->groups = calloc(t->n_devices + 1, sizeof(Group *));
        if (!ids || !n_members || !t->groups)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_devices; i++)
                if (t->devices[i]->group >= 0)
                        ids[n++] = (uint32_t) t->devices[i]->group;
        qsort(ids, n, sizeof(uint32_t), cmp_u32);
        for (size_t i = 0; i < n; i++)
                if (i == 0 || ids[i] != ids[i - 1])
                        ids[n_ids++] = ids[i];
        if (n_ids == 0)
                return 0;

        /* A device's group link names a group, so the directory is there unless the tree
         * changes under us; then every group is unreadable, as its own open would find. */
        k = sysroot_open_dir(root, SYSFS_IOMMU_GROUPS, &groups_fd);
        if (k == -ENOMEM)
                return k;
        s.dir_fd = groups_fd;
        s.ids = ids;
        s.slots = calloc(n_ids + 1, sizeof(ScanSlot));
        if (!s.slots)
                return -ENOMEM;
        if (groups_fd >= 0)
                (void) parallel_for(n_ids, n_threads, scan_group, &s);
        else
                for (size_t i = 0; i < n_ids; i++)
                        s.slots[i].r = k == -ENOTDIR ? -ENOENT : k;
        k = 0;
        for (size_t i = 0; i < n_ids; i++) {
                ScanSlot *slot = &s.slots[i];

                if ((k = scan_take_errors(t, slot)) < 0)
                        break;
                k = slot->r;
                if (k == -ENOMEM)
                        break;
                if (k < 0)
                        k = topology_add_error(&t->errors, "group %" PRIu32 ": cannot be read: %s",
                                               ids[i], strerror(-k));
                else
                        t->groups[t->n_groups++] = TAKE_PTR(slot->object);
                if (k < 0)
                        break;
        }
        scan_slots_free(s.slots, n_ids, group_free_void);
        if (k < 0)
                return k;

        /* Devices are sorted by address, so each group's list comes out sorted too. */
        for (size_t i = 0; i < t->n_devices; i++) {
                bool found = false;
                ssize_t at = t->devices[i]->group >= 0
                                     ? find_group_index(t, (uint32_t) t->devices[i]->group, &found)
                                     : -1;

                if (found && strv_extend_n(&t->groups[at]->devices, &n_members[at],
                                           t->devices[i]->address) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int topology_scan_threads(Topology *t, const SysRoot *root, PciNames *names, unsigned n_threads) {
        _cleanup_strv_free_ char **devs = NULL;
        size_t n;
        int k;

        topology_clear(t);

        k = list_dir(root, SYSFS_PCI_DEVICES, &devs);
        if (k == -ENOENT)
                k = topology_add_error(&t->errors, "%s: no PCI bus in this tree",
                                       SYSFS_PCI_DEVICES);
        if (k < 0)
                return k;
        n = strv_length(devs);
        t->devices = calloc(n + 1, sizeof(Device *));
        if (!t->devices)
                return -ENOMEM;
        if (n > 0) {
                k = scan_devices(t, root, names, devs, n, n_threads);
                if (k < 0)
                        return k;
        }
        qsort(t->devices, t->n_devices, sizeof(Device *), cmp_device);

        return scan_groups(t, root, n_threads);
}

int topology_scan(Topology *t, const SysRoot *root, PciNames *names) {
        return topology_scan_threads(t, root, names, 0);
}

static ssize_t find_device_index(const Topology *t, const PciAddress *a, bool *found) {
        size_t lo = 0, hi = t->n_devices;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = pci_address_compare(&t->devices[mid]->addr, a);

                if (c == 0) {
                        *found = true;
                        return (ssize_t) mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return (ssize_t) lo;
}

static ssize_t find_group_index(const Topology *t, uint32_t id, bool *found) {
        size_t lo = 0, hi = t->n_groups;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (t->groups[mid]->id == id) {
                        *found = true;
                        return (ssize_t) mid;
                }
                if (t->groups[mid]->id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return (ssize_t) lo;
}

size_t topology_device_lower_bound(const Topology *t, const PciAddress *a) {
        bool found;

        return (size_t) find_device_index(t, a, &found);
}

Device *topology_find_device(const Topology *t, const char *address) {
        PciAddress a;
        bool found;
        ssize_t i;

        if (pci_address_parse(address, &a) < 0)
                return NULL;
        i = find_device_index(t, &a, &found);
        return found ? t->devices[i] : NULL;
}

Group *topology_find_group(const Topology *t, uint32_t id) {
        bool found;
        ssize_t i = find_group_index(t, id, &found);

        return found ? t->groups[i] : NULL;
}

/* Sorted insertion into a pointer array; arrays are small enough (thousands) for memmove. */
static int array_insert(void ***array, size_t *n, size_t at, void *p) {
        void **na = realloc(*array, sizeof(void *) * (*n + 2));

        if (!na)
                return -ENOMEM;
        memmove(na + at + 1, na + at, sizeof(void *) * (*n - at));
        na[at] = p;
        (*n)++;
        na[*n] = NULL;
        *array = na;
        return 0;
}

static void *array_remove(void **array, size_t *n, size_t at) {
        void *p = array[at];

        memmove(array + at, array + at + 1, sizeof(void *) * (*n - at - 1));
        (*n)--;
        array[*n] = NULL;
        return p;
}

int topology_put_device(Topology *t, Device *d, Device **ret_old) {
        bool found;
        ssize_t i = find_device_index(t, &d->addr, &found);

        if (found) {
                *ret_old = t->devices[i];
                t->devices[i] = d;
                return 0;
        }
        *ret_old = NULL;
        return array_insert((void ***) &t->devices, &t->n_devices, (size_t) i, d);
}

int topology_put_group(Topology *t, Group *g, Group **ret_old) {
        bool found;
        ssize_t i = find_group_index(t, g->id, &found);

        if (found) {
                *ret_old = t->groups[i];
                t->groups[i] = g;
                return 0;
        }
        *ret_old = NULL;
        return array_insert((void ***) &t->groups, &t->n_groups, (size_t) i, g);
}

Device *topology_take_device(Topology *t, const char *address) {
        PciAddress a;
        bool found;
        ssize_t i;

        if (pci_address_parse(address, &a) < 0)
                return NULL;
        i = find_device_index(t, &a, &found);
        return found ? array_remove((void **) t->devices, &t->n_devices, (size_t) i) : NULL;
}

Group *topology_take_group(Topology *t, uint32_t id) {
        bool found;
        ssize_t i = find_group_index(t, id, &found);

        return found ? array_remove((void **) t->groups, &t->n_groups, (size_t) i) : NULL;
}

static int add_blocker(Group *g, const char *code, const char *device, const char *fmt, ...)
        _printf_(4, 5);
static int add_blocker(Group *g, const char *code, const char *device, const char *fmt, ...) {
        Blocker *nb;
        char *reason = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&reason, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        /* A host-critical reason names an interface, and interface names may be any bytes. */
        utf8_sanitize(reason);
        nb = realloc(g->blockers, sizeof(*nb) * (g->n_blockers + 1));
        if (!nb) {
                free(reason);
                return -ENOMEM;
        }
        g->blockers = nb;
        nb[g->n_blockers] = (Blocker) { .code = strdup(code),
                                        .device = device ? strdup(device) : NULL,
                                        .reason = reason };
        g->n_blockers++;
        return 0;
}

static bool group_has_direct_region(const Group *g) {
        /* "direct" = an RMRR the kernel will not relax: VT-d refuses a userspace domain for the
         * group. "direct-relaxable" (USB/graphics RMRRs, 5.3+) does not block assignment
         * (sysfs-kernel-iommu_groups, reserved_regions). */
        for (size_t i = 0; i < g->n_regions; i++)
                if (streq(g->regions[i].type, "direct"))
                        return true;
        return false;
}

static int derive_group(Topology *t, Group *g, bool iommu_present) {
        bool direct = group_has_direct_region(g);
        bool named_any = false, endpoint = false, all_known = true;

        blockers_free(g->blockers, g->n_blockers);
        g->blockers = NULL;
        g->n_blockers = 0;

        if (!iommu_present &&
            add_blocker(g, BLOCKER_NO_IOMMU, NULL, "the host has no active IOMMU") < 0)
                return -ENOMEM;
        if (g->name && streq(g->name, "vfio-noiommu") &&
            add_blocker(g, BLOCKER_VFIO_NOIOMMU, NULL,
                        "group %" PRIu32 " is a vfio no-IOMMU group: it gives no DMA isolation",
                        g->id) < 0)
                return -ENOMEM;
        for (char **a = g->devices; a && *a; a++) {
                Device *d = topology_find_device(t, *a);

                /* The group is what iommu_groups/N/devices lists; a member we cannot describe
                 * might be anything, so the group stays whole and unassignable. */
                if (!d) {
                        if (add_blocker(g, BLOCKER_UNREADABLE, *a,
                                        "%s is listed in IOMMU group %" PRIu32
                                        " but its device cannot be "
                                        "read (being removed or added?)",
                                        *a, g->id) < 0)
                                return -ENOMEM;
                        all_known = false;
                        continue;
                }
                if (!d->ids_known) {
                        if (add_blocker(g, BLOCKER_UNREADABLE, d->address,
                                        "%s: its vendor, device or class cannot be read",
                                        d->address) < 0)
                                return -ENOMEM;
                        all_known = false;
                }
                if (d->ids_known && device_is_endpoint(d))
                        endpoint = true;
                if (d->host_critical && add_blocker(g, BLOCKER_HOST_CRITICAL, d->address, "%s %s",
                                                    d->address, d->host_critical) < 0)
                        return -ENOMEM;
                if (d->rmrr_named)
                        named_any = true;
                if (d->rmrr_locked &&
                    add_blocker(g, BLOCKER_RMRR, d->address,
                                "%s is named by a DMAR RMRR and the kernel keeps a direct "
                                "mapping for it: VT-d refuses it a VM domain",
                                d->address) < 0)
                        return -ENOMEM;
        }
        if (direct && !named_any) {
                for (size_t i = 0; i < g->n_regions; i++)
                        if (streq(g->regions[i].type, "direct") &&
                            add_blocker(g, BLOCKER_RMRR, NULL,
                                        "group %" PRIu32
                                        " has a non-relaxable direct-mapped region "
                                        "0x%" PRIx64 "-0x%" PRIx64 " (an RMRR)",
                                        g->id, g->regions[i].start, g->regions[i].end) < 0)
                                return -ENOMEM;
        }
        /* Only bridges (or the host bridge): a claim would move nothing, and VFIO has no device
         * in the group to hand out. */
        if (!endpoint && all_known &&
            add_blocker(g, BLOCKER_NO_ENDPOINT, NULL,
                        "group %" PRIu32 " has only bridges: nothing in it can be assigned",
                        g->id) < 0)
                return -ENOMEM;
        g->assignable = g->n_blockers == 0;
        return 0;
}

bool derive_facts_rmrr_named(const DeriveFacts *f, const Device *d) {
        size_t lo = 0, hi = f->n_rmrr;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = pci_address_compare(&f->rmrr[mid], &d->addr);

                if (c == 0)
                        return true;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        /* A bridge scope gives the region to every device below the bridge as well
         * (drivers/iommu/intel/iommu.c, intel_iommu_get_resv_regions(): any device downstream
         * of the scope's bridge); below it means the bridge's directory is on the device's
         * path. */
        for (size_t i = 0; d->devpath && i < f->n_rmrr_subtrees; i++) {
                char component[PCI_ADDRESS_STRLEN + 2];

                component[0] = '/';
                pci_address_format(&f->rmrr_subtrees[i], component + 1);
                strcat(component, "/");
                if (strstr(d->devpath, component))
                        return true;
        }
        return false;
}

const char *device_vfio_driver(const Device *d) {
        if (!device_is_endpoint(d))
                return NULL;
        return d->vfio_variant ? d->vfio_variant->module : DRIVER_VFIO_PCI;
}

int topology_derive_device(Topology *t, Device *d, const DeriveFacts *f) {
        Group *g = d->group >= 0 ? topology_find_group(t, (uint32_t) d->group) : NULL;
        const char *reason = NULL;

        d->vfio_variant = NULL;
        if (f->variants && d->ids_known && device_is_endpoint(d)) {
                char alias[VFIO_VARIANT_ALIAS_MAX];

                vfio_variant_alias(d, alias);
                d->vfio_variant = vfio_variants_match(f->variants, alias);
        }
        d->rmrr_named = derive_facts_rmrr_named(f, d);
        /* Named by an RMRR is locked unless the kernel told us the region is relaxable. */
        d->rmrr_locked = d->rmrr_named && (!g || !g->regions_known || group_has_direct_region(g));
        for (size_t j = 0; j < f->n_crit && !reason; j++)
                if (streq(f->crit[j].address, d->address))
                        reason = f->crit[j].reason;
        /* boot_vga: the device the firmware used for the console (sysfs-bus-pci); the root
         * filesystem's and the default route's reasons come first. */
        if (!reason && d->boot_vga > 0)
                reason = "is the boot VGA device (boot_vga=1)";
        d->host_critical = mfree(d->host_critical);
        if (reason) {
                d->host_critical = strdup(reason);
                if (!d->host_critical)
                        return -ENOMEM;
                utf8_sanitize(d->host_critical);
        }
        t->derived_devices++;
        return 0;
}

int topology_derive_group(Topology *t, Group *g, bool iommu_present) {
        t->derived_groups++;
        return derive_group(t, g, iommu_present);
}

int topology_derive(Topology *t, const DeriveFacts *f) {
        int k;

        for (size_t i = 0; i < t->n_devices; i++)
                if ((k = topology_derive_device(t, t->devices[i], f)) < 0)
                        return k;
        for (size_t i = 0; i < t->n_groups; i++)
                if ((k = topology_derive_group(t, t->groups[i], f->iommu_present)) < 0)
                        return k;
        return 0;
}
