/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdf.h"
#include "dmar-build.h"
#include "fakesys.h"
#include "hostspec.h"
#include "macro.h"
#include "util.h"

#define MAX_SPEC_SIZE (4u << 20)
#define MAX_LINE 4096
#define MAX_ARGS 64
#define MAX_INCLUDE_DEPTH 8
#define MAX_SLAVES 16
#define MAX_PATH_HOPS 16

typedef struct Apply {
        FakeSys *fs;
        DmarBuilder *dmar;
        char *error;
        unsigned depth;
} Apply;

typedef struct Loc {
        const char *name; /* for messages */
        const char *dir;  /* relative paths start here */
        unsigned line;
} Loc;

/* Records the first error as "NAME:LINE: message[: strerror]" and returns r (< 0). */
static _printf_(4, 5) int fail(Apply *a, const Loc *l, int r, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int n;

        if (r >= 0)
                r = -EINVAL;
        if (a->error)
                return r;
        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        if (asprintf(&a->error, "%s:%u: %s", l->name, l->line, msg) < 0)
                a->error = NULL;
        return r;
}

/* Like fail(), with ": strerror(r)" appended. */
#define fail_errno(a, l, r, fmt, ...) fail((a), (l), (r), fmt ": %s", ##__VA_ARGS__, strerror(-(r)))

/* ---- value parsers ---- */

static int parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int r;

        r = safe_atou64(s, 0, &v);
        if (r < 0)
                return r;
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* Register images, as the kernel prints them: hex, "0x" optional. */
static int parse_hex(const char *s, uint64_t *ret) {
        return safe_atou64(s, 16, ret);
}

static int parse_bdf(const char *s, char buf[static PCI_ADDRESS_STRLEN]) {
        PciAddress a;

        if (pci_address_parse(s, &a) < 0)
                return -EINVAL;
        pci_address_format(&a, buf);
        return 0;
}

static int parse_majmin(const char *s, unsigned *ret_major, unsigned *ret_minor) {
        _cleanup_free_ char *copy = strdup(s);
        uint32_t maj, min;
        char *colon;

        if (!copy)
                return -ENOMEM;
        colon = strchr(copy, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        if (safe_atou32(copy, 10, &maj) < 0 || safe_atou32(colon + 1, 10, &min) < 0)
                return -EINVAL;
        *ret_major = maj;
        *ret_minor = min;
        return 0;
}

static bool parse_bool(const char *s, bool *ret) {
        if (streq(s, "1") || streq(s, "yes") || streq(s, "true"))
                *ret = true;
        else if (streq(s, "0") || streq(s, "no") || streq(s, "false"))
                *ret = false;
        else
                return false;
        return true;
}

/* Splits "key=value" in place; false when there is no '='. */
static bool split_kv(char *tok, char **ret_key, char **ret_value) {
        char *eq = strchr(tok, '=');

        if (!eq || eq == tok)
                return false;
        *eq = 0;
        *ret_key = tok;
        *ret_value = eq + 1;
        return true;
}

static int resolve_path(const Loc *l, const char *p, char **ret) {
        if (p[0] == '/')
                *ret = strdup(p);
        else if (asprintf(ret, "%s/%s", l->dir, p) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

static bool rel_ok(const char *p) {
        /* Same rule fakesys applies; checked here to name the line. */
        if (isempty(p) || p[0] == '/' || strstr(p, "//"))
                return false;
        for (const char *s = p; *s;) {
                const char *e = strchrnul(s, '/');

                if ((e - s == 1 && s[0] == '.') || (e - s == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s = *e ? e + 1 : e;
        }
        return true;
}

/* ---- directives ---- */

typedef int (*Handler)(Apply *a, const Loc *l, char **argv, size_t argc);

static int apply_file(Apply *a, const char *path, const char *name);

static int do_untar(Apply *a, const Loc *l, char **argv, size_t argc) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = resolve_path(l, argv[1], &p);
        if (r >= 0)
                r = fakesys_untar(a->fs, p);
        return r < 0 ? fail_errno(a, l, r, "untar %s", p ?: argv[1]) : 0;
}

static int do_include(Apply *a, const Loc *l, char **argv, size_t argc) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (a->depth >= MAX_INCLUDE_DEPTH)
                return fail(a, l, -ELOOP, "include %s: nested deeper than %d", argv[1],
                            MAX_INCLUDE_DEPTH);
        r = resolve_path(l, argv[1], &p);
        if (r < 0)
                return fail_errno(a, l, r, "include %s", argv[1]);
        a->depth++;
        r = apply_file(a, p, p);
        a->depth--;
        /* The included file has named its own line; add where it was included from. */
        return r < 0 ? fail_errno(a, l, r, "include %s", argv[1]) : 0;
}

static int do_copy(Apply *a, const Loc *l, char **argv, size_t argc) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (!rel_ok(argv[2]))
                return fail(a, l, -EINVAL, "copy: bad destination \"%s\"", argv[2]);
        r = resolve_path(l, argv[1], &p);
        if (r >= 0)
                r = fakesys_copy_file(a->fs, p, argv[2]);
        return r < 0 ? fail_errno(a, l, r, "copy %s", p ?: argv[1]) : 0;
}

static int do_file(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r;

        if (!rel_ok(argv[1]))
                return fail(a, l, -EINVAL, "file: bad path \"%s\"", argv[1]);
        r = fakesys_write_file(a->fs, argv[1], argv[2], strlen(argv[2]));
        return r < 0 ? fail_errno(a, l, r, "file %s", argv[1]) : 0;
}

static int do_symlink(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r;

        if (!rel_ok(argv[1]))
                return fail(a, l, -EINVAL, "symlink: bad path \"%s\"", argv[1]);
        r = fakesys_symlink(a->fs, argv[1], argv[2]);
        return r < 0 ? fail_errno(a, l, r, "symlink %s", argv[1]) : 0;
}

static int do_mkdir(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r;

        if (!rel_ok(argv[1]))
                return fail(a, l, -EINVAL, "mkdir: bad path \"%s\"", argv[1]);
        r = fakesys_mkdir(a->fs, argv[1]);
        return r < 0 ? fail_errno(a, l, r, "mkdir %s", argv[1]) : 0;
}

static int do_remove(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r;

        if (!rel_ok(argv[1]))
                return fail(a, l, -EINVAL, "remove: bad path \"%s\"", argv[1]);
        r = fakesys_remove(a->fs, argv[1]);
        return r < 0 ? fail_errno(a, l, r, "remove %s", argv[1]) : 0;
}

static int do_devnode(Apply *a, const Loc *l, char **argv, size_t argc) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (!rel_ok(argv[1]))
                return fail(a, l, -EINVAL, "devnode: bad path \"%s\"", argv[1]);
        if (asprintf(&p, "dev/%s", argv[1]) < 0)
                return -ENOMEM;
        /* A regular empty file stands in for the node in a fake dev root. */
        r = fakesys_write_file(a->fs, p, "", 0);
        return r < 0 ? fail_errno(a, l, r, "devnode %s", argv[1]) : 0;
}

static const char *const pcie_type_names[_FAKE_PCIE_TYPE_MAX] = {
        [FAKE_PCIE_AUTO] = "auto",
        [FAKE_PCIE_ENDPOINT] = "endpoint",
        [FAKE_PCIE_LEGACY_ENDPOINT] = "legacy-endpoint",
        [FAKE_PCIE_RC_ENDPOINT] = "rc-endpoint",
        [FAKE_PCIE_ROOT_PORT] = "root-port",
        [FAKE_PCIE_UPSTREAM] = "upstream",
        [FAKE_PCIE_DOWNSTREAM] = "downstream",
        [FAKE_PCIE_TO_PCI_BRIDGE] = "pcie-pci-bridge",
        [FAKE_PCI_CONVENTIONAL] = "conventional",
};

static int device_key(FakeDevice *d, const char *k, const char *v, char *parent, char *physfn) {
        uint64_t u;
        int32_t i;
        bool b;

        /* Numeric keys: name, field, maximum. */
        static const struct {
                const char *key;
                size_t offset, size;
                uint64_t max;
        } nums[] = {
#define NUM(k, f, m) { k, offsetof(FakeDevice, f), sizeof(((FakeDevice *) 0)->f), m }
                NUM("vendor", vendor, 0xffff),
                NUM("device", device, 0xffff),
                NUM("subvendor", subsystem_vendor, 0xffff),
                NUM("subdevice", subsystem_device, 0xffff),
                NUM("class", class_code, 0xffffff),
                NUM("rev", revision, 0xff),
                NUM("sec", secondary_bus, 0xff),
                NUM("sub", subordinate_bus, 0xff),
                NUM("irq", irq, 0xffff),
                NUM("totalvfs", sriov_totalvfs, 0xffff),
                NUM("numvfs", sriov_numvfs, 0xffff),
                NUM("vf_offset", sriov_offset, 0xffff),
                NUM("vf_stride", sriov_stride, 0xffff),
                NUM("vf_device", sriov_vf_device, 0xffff),
#undef NUM
        };

        for (size_t n = 0; n < ELEMENTSOF(nums); n++) {
                uint8_t *f = (uint8_t *) d + nums[n].offset;

                if (!streq(k, nums[n].key))
                        continue;
                if (parse_uint(v, nums[n].max, &u) < 0)
                        return -EINVAL;
                if (nums[n].size == 1)
                        *f = (uint8_t) u;
                else if (nums[n].size == 2)
                        memcpy(f, &(uint16_t) { (uint16_t) u }, 2);
                else
                        memcpy(f, &(uint32_t) { (uint32_t) u }, 4);
                return 0;
        }
        if (streq(k, "parent") || streq(k, "physfn"))
                return parse_bdf(v, streq(k, "parent") ? parent : physfn);
        if (streq(k, "driver"))
                d->driver = isempty(v) || streq(v, "none") ? NULL : v;
        else if (streq(k, "override"))
                d->driver_override = v;
        else if (streq(k, "reset"))
                d->reset_method = isempty(v) || streq(v, "none") ? NULL : v;
        else if (streq(k, "iommu"))
                d->iommu = isempty(v) || streq(v, "none") ? NULL : v;
        else if (streq(k, "numa") || streq(k, "group") || streq(k, "vfio")) {
                if (safe_atoi32(v, &i) < 0 || i < -1)
                        return -EINVAL;
                *(streq(k, "numa")    ? &d->numa_node
                  : streq(k, "group") ? &d->iommu_group
                                      : &d->vfio_dev) = i;
        } else if (streq(k, "boot_vga") || streq(k, "mf")) {
                if (!parse_bool(v, &b))
                        return -EINVAL;
                if (streq(k, "mf"))
                        d->multifunction = b;
                else
                        d->boot_vga = b;
        } else if (streq(k, "pcie")) {
                for (size_t t = 0; t < _FAKE_PCIE_TYPE_MAX; t++)
                        if (streq(v, pcie_type_names[t])) {
                                d->pcie_type = (FakePcieType) t;
                                return 0;
                        }
                return -EINVAL;
        } else
                return -ENOKEY;
        return 0;
}

static int do_device(Apply *a, const Loc *l, char **argv, size_t argc) {
        char bdf[PCI_ADDRESS_STRLEN], parent[PCI_ADDRESS_STRLEN] = "",
                                      physfn[PCI_ADDRESS_STRLEN] = "";
        bool has_vendor = false, has_device = false, has_class = false;
        const char *netdev = NULL;
        uint64_t ifindex = 0;
        FakeDevice d;
        int r;

        if (parse_bdf(argv[1], bdf) < 0)
                return fail(a, l, -EINVAL, "device: bad PCI address \"%s\"", argv[1]);
        fake_device_init(&d, bdf);
        for (size_t i = 2; i < argc; i++) {
                char *k, *v;

                if (!split_kv(argv[i], &k, &v))
                        return fail(a, l, -EINVAL, "device %s: expected key=value, got \"%s\"", bdf,
                                    argv[i]);
                /* The device's netdev, made once the device is there. */
                if (streq(k, "netdev")) {
                        netdev = v;
                        continue;
                }
                if (streq(k, "ifindex")) {
                        if (parse_uint(v, INT32_MAX, &ifindex) < 0 || ifindex == 0)
                                return fail(a, l, -EINVAL,
                                            "device %s: bad value for ifindex: \"%s\"", bdf, v);
                        continue;
                }
                r = device_key(&d, k, v, parent, physfn);
                if (r == -ENOKEY)
                        return fail(a, l, r, "device %s: unknown key \"%s\"", bdf, k);
                if (r < 0)
                        return fail(a, l, r, "device %s: bad value for %s: \"%s\"", bdf, k, v);
                has_vendor |= streq(k, "vendor");
                has_device |= streq(k, "device");
                has_class |= streq(k, "class");
        }
        if (!has_vendor || !has_device || !has_class)
                return fail(a, l, -EINVAL, "device %s: vendor=, device= and class= are required",
                            bdf);
        d.parent = *parent ? parent : NULL;
        d.physfn = *physfn ? physfn : NULL;
        if (fakesys_device_exists(a->fs, bdf))
                return fail(a, l, -EEXIST, "device %s: already exists", bdf);
        if (d.parent && !fakesys_device_exists(a->fs, d.parent))
                return fail(a, l, -ENOENT, "device %s: parent %s does not exist (declare it first)",
                            bdf, d.parent);
        if (d.physfn && !fakesys_device_exists(a->fs, d.physfn))
                return fail(a, l, -ENOENT, "device %s: physfn %s does not exist (declare it first)",
                            bdf, d.physfn);
        if (d.boot_vga >= 0 && (d.class_code >> 8) != 0x0300)
                return fail(a, l, -EINVAL,
                            "device %s: boot_vga only exists on VGA (class 0x0300xx)", bdf);
        if (d.sriov_numvfs > d.sriov_totalvfs)
                return fail(a, l, -EINVAL, "device %s: numvfs %u exceeds totalvfs %u", bdf,
                            d.sriov_numvfs, d.sriov_totalvfs);
        if (ifindex > 0 && !netdev)
                return fail(a, l, -EINVAL, "device %s: ifindex= needs netdev=", bdf);
        r = fakesys_add_device(a->fs, &d);
        if (r == -ENOTDIR)
                return fail(a, l, r, "device %s: parent %s is not a bridge", bdf, d.parent);
        if (r == -EINVAL && d.physfn)
                return fail(a, l, r,
                            "device %s: not a VF of %s (same parent, routing ID = PF + "
                            "vf_offset + n * vf_stride, PF needs totalvfs=)",
                            bdf, d.physfn);
        if (r == -EINVAL && d.parent)
                return fail(a, l, r, "device %s: its bus must be above the bus of parent %s", bdf,
                            d.parent);
        if (r < 0)
                return fail_errno(a, l, r, "device %s", bdf);
        r = netdev ? fakesys_add_netdev_ifindex(a->fs, bdf, netdev, NULL, (unsigned) ifindex) : 0;
        return r < 0 ? fail_errno(a, l, r, "device %s: netdev %s", bdf, netdev) : 0;
}

/* Commands on one existing device: attr, rmattr, bind, unbind, unplug, vfio-dev. */
static int do_device_op(Apply *a, const Loc *l, char **argv, size_t argc) {
        char bdf[PCI_ADDRESS_STRLEN];
        const char *op = argv[0];
        int32_t n;
        int r;

        if (parse_bdf(argv[1], bdf) < 0)
                return fail(a, l, -EINVAL, "%s: bad PCI address \"%s\"", op, argv[1]);
        if (!fakesys_device_exists(a->fs, bdf))
                return fail(a, l, -ENOENT, "%s: no device %s", op, bdf);
        if (streq(op, "attr")) {
                size_t len = strlen(argv[3]);
                _cleanup_free_ char *v = NULL;

                /* sysfs attributes end in a newline; add one unless the value has it. */
                if (asprintf(&v, "%s%s", argv[3], len && argv[3][len - 1] == '\n' ? "" : "\n") < 0)
                        return -ENOMEM;
                r = fakesys_set_attr(a->fs, bdf, argv[2], v);
        } else if (streq(op, "rmattr"))
                r = fakesys_remove_attr(a->fs, bdf, argv[2]);
        else if (streq(op, "bind"))
                r = fakesys_bind(a->fs, bdf, argv[2]);
        else if (streq(op, "unbind"))
                r = fakesys_unbind(a->fs, bdf);
        else if (streq(op, "unplug"))
                r = fakesys_remove_device(a->fs, bdf);
        else {
                if (safe_atoi32(argv[2], &n) < 0 || n < -1)
                        return fail(a, l, -EINVAL, "vfio-dev %s: bad number \"%s\"", bdf, argv[2]);
                r = fakesys_set_vfio_dev(a->fs, bdf, n);
        }
        return r < 0 ? fail_errno(a, l, r, "%s %s", op, bdf) : 0;
}

static int do_driver(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r;

        for (size_t i = 1; i < argc; i++) {
                r = fakesys_add_driver(a->fs, argv[i]);
                if (r < 0)
                        return fail_errno(a, l, r, "driver %s", argv[i]);
        }
        return 0;
}

static int do_sync_drivers(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r = fakesys_sync_drivers(a->fs);

        return r < 0 ? fail_errno(a, l, r, "sync-drivers") : 0;
}

static int do_group(Apply *a, const Loc *l, char **argv, size_t argc) {
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        uint64_t g;
        int r;

        if (parse_uint(argv[1], INT32_MAX, &g) < 0)
                return fail(a, l, -EINVAL, "group: bad number \"%s\"", argv[1]);
        if (asprintf(&dir, "sys/kernel/iommu_groups/%u", (unsigned) g) < 0)
                return -ENOMEM;
        if (fstatat(fakesys_root_fd(a->fs), dir, &st, 0) < 0)
                return fail(a, l, -ENOENT, "group %u: no such group (put a device in it first)",
                            (unsigned) g);
        for (size_t i = 2; i < argc; i++) {
                char *k, *v, *dash, *colon;
                uint64_t start, end;

                if (!split_kv(argv[i], &k, &v))
                        return fail(a, l, -EINVAL, "group %u: expected key=value, got \"%s\"",
                                    (unsigned) g, argv[i]);
                if (streq(k, "type") || streq(k, "name")) {
                        r = fakesys_group_set_attr(a->fs, (unsigned) g, k, v);
                        if (r < 0)
                                return fail_errno(a, l, r, "group %u: %s", (unsigned) g, k);
                        continue;
                }
                if (!streq(k, "region"))
                        return fail(a, l, -EINVAL, "group %u: unknown key \"%s\"", (unsigned) g, k);
                dash = strchr(v, '-');
                colon = dash ? strchr(dash, ':') : NULL;
                if (!colon)
                        return fail(a, l, -EINVAL, "group %u: region is START-END:TYPE, got \"%s\"",
                                    (unsigned) g, v);
                *dash = *colon = 0;
                if (parse_hex(v, &start) < 0 || parse_hex(dash + 1, &end) < 0 || end < start)
                        return fail(a, l, -EINVAL, "group %u: bad region range %s-%s", (unsigned) g,
                                    v, dash + 1);
                r = fakesys_group_add_region(a->fs, (unsigned) g, start, end, colon + 1);
                if (r < 0)
                        return fail_errno(a, l, r, "group %u: region", (unsigned) g);
        }
        return 0;
}

static int do_iommu(Apply *a, const Loc *l, char **argv, size_t argc) {
        char bdf[PCI_ADDRESS_STRLEN];
        FakeIommu u = { .name = argv[1] };
        int r;

        if (streq(argv[2], "intel"))
                u.kind = FAKE_IOMMU_INTEL;
        else if (streq(argv[2], "amd"))
                u.kind = FAKE_IOMMU_AMD;
        else
                return fail(a, l, -EINVAL, "iommu %s: kind is intel or amd, not \"%s\"", argv[1],
                            argv[2]);
        for (size_t i = 3; i < argc; i++) {
                char *k, *v;
                uint64_t *reg = NULL;

                if (!split_kv(argv[i], &k, &v))
                        return fail(a, l, -EINVAL, "iommu %s: expected key=value, got \"%s\"",
                                    argv[1], argv[i]);
                if (streq(k, "cap"))
                        reg = u.kind == FAKE_IOMMU_AMD ? &u.amd_cap : &u.cap;
                else if (streq(k, "ecap"))
                        reg = &u.ecap;
                else if (streq(k, "address"))
                        reg = &u.address;
                else if (streq(k, "version"))
                        u.version = v;
                else if (streq(k, "features"))
                        u.features = v;
                else if (streq(k, "bdf")) {
                        if (parse_bdf(v, bdf) < 0)
                                return fail(a, l, -EINVAL, "iommu %s: bad bdf \"%s\"", argv[1], v);
                        u.bdf = bdf;
                } else
                        return fail(a, l, -EINVAL, "iommu %s: unknown key \"%s\"", argv[1], k);
                if (reg && parse_hex(v, reg) < 0)
                        return fail(a, l, -EINVAL, "iommu %s: %s is hex, not \"%s\"", argv[1], k,
                                    v);
        }
        r = fakesys_add_iommu(a->fs, &u);
        return r < 0 ? fail_errno(a, l, r, "iommu %s", argv[1]) : 0;
}

/* key=value arguments of the DMAR structure lines, all numeric. */
static int dmar_args(Apply *a, const Loc *l, char **argv, size_t argc, const char *const *keys,
                     const uint64_t *max, uint64_t *values) {
        for (size_t i = 1; i < argc; i++) {
                char *k, *v;
                size_t n;

                if (!split_kv(argv[i], &k, &v))
                        return fail(a, l, -EINVAL, "%s: expected key=value, got \"%s\"", argv[0],
                                    argv[i]);
                for (n = 0; keys[n] && !streq(keys[n], k); n++)
                        ;
                if (!keys[n])
                        return fail(a, l, -EINVAL, "%s: unknown key \"%s\"", argv[0], k);
                if (parse_uint(v, max[n], &values[n]) < 0)
                        return fail(a, l, -EINVAL, "%s: bad value for %s: \"%s\"", argv[0], k, v);
        }
        return 0;
}

static int do_dmar(Apply *a, const Loc *l, char **argv, size_t argc) {
        static const char *const keys[] = { "width", "flags", NULL };
        static const uint64_t max[] = { 256, 0xff };
        uint64_t v[] = { 39, 0x01 };
        int r;

        r = dmar_args(a, l, argv, argc, keys, max, v);
        if (r < 0)
                return r;
        if (v[0] == 0)
                return fail(a, l, -EINVAL, "dmar: width is the number of address bits (1-256)");
        /* Host Address Width holds N-1 for N address bits (VT-d 4.1 §8.1). */
        dmar_builder_free(a->dmar);
        a->dmar = dmar_builder_new((uint8_t) (v[0] - 1), (uint8_t) v[1]);
        return a->dmar ? 0 : -ENOMEM;
}

static int do_dmar_struct(Apply *a, const Loc *l, char **argv, size_t argc) {
        static const char *const keys[] = { "flags",  "segment", "base", "limit",
                                            "domain", "number",  NULL };
        static const uint64_t max[] = { 0xff, 0xffff, UINT64_MAX, UINT64_MAX, UINT32_MAX, 0xff };
        uint64_t v[6] = { 0 };
        const char *name = NULL;
        char *args[MAX_ARGS];
        size_t n = 0;
        int r;

        if (!a->dmar)
                return fail(a, l, -EINVAL, "%s before a dmar line", argv[0]);
        /* andd takes a name=, which is not a number. */
        for (size_t i = 0; i < argc; i++)
                if (streq(argv[0], "andd") && strneq(argv[i], "name=", 5))
                        name = argv[i] + 5;
                else
                        args[n++] = argv[i];
        r = dmar_args(a, l, args, n, keys, max, v);
        if (r < 0)
                return r;
        if (streq(argv[0], "drhd"))
                r = dmar_builder_drhd(a->dmar, (uint8_t) v[0], (uint16_t) v[1], v[2]);
        else if (streq(argv[0], "rmrr"))
                r = v[3] < v[2] ? -EINVAL : dmar_builder_rmrr(a->dmar, (uint16_t) v[1], v[2], v[3]);
        else if (streq(argv[0], "atsr"))
                r = dmar_builder_atsr(a->dmar, (uint8_t) v[0], (uint16_t) v[1]);
        else if (streq(argv[0], "rhsa"))
                r = dmar_builder_rhsa(a->dmar, v[2], (uint32_t) v[4]);
        else if (streq(argv[0], "satc"))
                r = dmar_builder_satc(a->dmar, (uint8_t) v[0], (uint16_t) v[1]);
        else
                r = name ? dmar_builder_andd(a->dmar, (uint8_t) v[5], name) : -EINVAL;
        return r < 0 ? fail_errno(a, l, r, "%s", argv[0]) : 0;
}

static int do_scope(Apply *a, const Loc *l, char **argv, size_t argc) {
        static const char *const types[] = { "endpoint", "bridge", "ioapic", "hpet", "acpi" };
        DmarPathEntry path[MAX_PATH_HOPS];
        uint64_t type = 0, id = 0, bus = 0;
        size_t n = 0;
        int r;

        if (!a->dmar)
                return fail(a, l, -EINVAL, "scope before a dmar line");
        for (size_t i = 1; i < argc; i++) {
                char *k, *v;

                if (!split_kv(argv[i], &k, &v))
                        return fail(a, l, -EINVAL, "scope: expected key=value, got \"%s\"",
                                    argv[i]);
                if (streq(k, "type")) {
                        /* Device scope types 1-5 (VT-d 4.1 §8.3.1); numbers for odd ones. */
                        for (size_t t = 0; t < ELEMENTSOF(types) && !type; t++)
                                if (streq(v, types[t]))
                                        type = t + 1;
                        if (!type && parse_uint(v, 0xff, &type) < 0)
                                return fail(a, l, -EINVAL, "scope: bad type \"%s\"", v);
                } else if (streq(k, "id") || streq(k, "bus")) {
                        if (parse_uint(v, 0xff, streq(k, "id") ? &id : &bus) < 0)
                                return fail(a, l, -EINVAL, "scope: bad %s \"%s\"", k, v);
                } else if (streq(k, "path")) {
                        /* DD.F[/DD.F...]: the hops from start_bus down to the device. */
                        for (char *save = NULL, *hop = strtok_r(v, "/", &save); hop;
                             hop = strtok_r(NULL, "/", &save)) {
                                unsigned dev, fn;
                                int end = 0;

                                if (n >= MAX_PATH_HOPS ||
                                    sscanf(hop, "%2x.%1x%n", &dev, &fn, &end) != 2 || hop[end] ||
                                    dev > 0x1f || fn > 7)
                                        return fail(a, l, -EINVAL, "scope: bad path hop \"%s\"",
                                                    hop);
                                path[n++] = (DmarPathEntry) { .dev = (uint8_t) dev,
                                                              .fn = (uint8_t) fn };
                        }
                } else
                        return fail(a, l, -EINVAL, "scope: unknown key \"%s\"", k);
        }
        if (!type)
                return fail(a, l, -EINVAL, "scope: type= is required");
        r = dmar_builder_scope(a->dmar, (uint8_t) type, (uint8_t) id, (uint8_t) bus, path, n);
        return r < 0 ? fail_errno(a, l, r, "scope") : 0;
}

static int do_ivrs(Apply *a, const Loc *l, char **argv, size_t argc) {
        _cleanup_free_ uint8_t *t = NULL;
        char bdf[PCI_ADDRESS_STRLEN] = "0000:00:00.2";
        uint64_t base = 0xfeb80000;
        size_t size;
        int r;

        for (size_t i = 1; i < argc; i++) {
                char *k, *v;

                if (!split_kv(argv[i], &k, &v))
                        return fail(a, l, -EINVAL, "ivrs: expected key=value, got \"%s\"", argv[i]);
                if (streq(k, "iommu")  ? parse_bdf(v, bdf) < 0
                    : streq(k, "base") ? parse_uint(v, UINT64_MAX, &base) < 0
                                       : true)
                        return fail(a, l, -EINVAL, "ivrs: bad %s \"%s\"", k, v);
        }
        r = fakesys_build_ivrs(bdf, base, &t, &size);
        if (r >= 0)
                r = fakesys_set_acpi_table(a->fs, "IVRS", t, size);
        return r < 0 ? fail_errno(a, l, r, "ivrs") : 0;
}

static int do_interrupts(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r;

        if (!streq(argv[1], "remapped") && !streq(argv[1], "plain"))
                return fail(a, l, -EINVAL, "interrupts: remapped or plain, not \"%s\"", argv[1]);
        r = fakesys_write_interrupts(a->fs, streq(argv[1], "remapped"));
        return r < 0 ? fail_errno(a, l, r, "interrupts") : 0;
}

static int do_acpi(Apply *a, const Loc *l, char **argv, size_t argc) {
        _cleanup_free_ char *p = NULL, *dest = NULL;
        int r;

        if (strlen(argv[1]) != 4 || !filename_is_valid(argv[1]))
                return fail(a, l, -EINVAL, "acpi: table names have 4 characters, not \"%s\"",
                            argv[1]);
        if (asprintf(&dest, "sys/firmware/acpi/tables/%s", argv[1]) < 0)
                return -ENOMEM;
        r = resolve_path(l, argv[2], &p);
        if (r >= 0)
                r = fakesys_copy_file(a->fs, p, dest);
        return r < 0 ? fail_errno(a, l, r, "acpi %s %s", argv[1], p ?: argv[2]) : 0;
}

static int do_module(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r;

        for (size_t i = 1; i < argc; i++) {
                r = fakesys_add_module(a->fs, argv[i]);
                if (r < 0)
                        return fail_errno(a, l, r, "module %s", argv[i]);
        }
        return 0;
}

static int do_param(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r = fakesys_set_module_param(a->fs, argv[1], argv[2], argv[3]);

        return r < 0 ? fail_errno(a, l, r, "param %s %s", argv[1], argv[2]) : 0;
}

static int do_iommufd(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r = fakesys_enable_iommufd(a->fs);

        return r < 0 ? fail_errno(a, l, r, "iommufd") : 0;
}

static int do_hugepages(Apply *a, const Loc *l, char **argv, size_t argc) {
        static const char *const keys[] = { "nr", "free", NULL };
        static const uint64_t max[] = { UINT32_MAX, UINT32_MAX };
        uint64_t size, v[2] = { 0, 0 };
        int r;

        if (parse_uint(argv[1], UINT32_MAX, &size) < 0 || size == 0)
                return fail(a, l, -EINVAL, "hugepages: bad size in kB \"%s\"", argv[1]);
        r = dmar_args(a, l, argv + 1, argc - 1, keys, max, v);
        if (r < 0)
                return r;
        if (v[1] > v[0])
                return fail(a, l, -EINVAL, "hugepages: free exceeds nr");
        r = fakesys_set_hugepages(a->fs, (unsigned long) size, (unsigned long) v[0],
                                  (unsigned long) v[1]);
        return r < 0 ? fail_errno(a, l, r, "hugepages") : 0;
}

static int do_osrelease(Apply *a, const Loc *l, char **argv, size_t argc) {
        int r = fakesys_set_osrelease(a->fs, argv[1]);

        return r < 0 ? fail_errno(a, l, r, "osrelease") : 0;
}

static int do_block(Apply *a, const Loc *l, char **argv, size_t argc) {
        char bdf[PCI_ADDRESS_STRLEN];
        unsigned maj, min;
        int r;

        if (parse_bdf(argv[1], bdf) < 0)
                return fail(a, l, -EINVAL, "block: bad PCI address \"%s\"", argv[1]);
        if (!rel_ok(argv[2]))
                return fail(a, l, -EINVAL, "block: bad path \"%s\"", argv[2]);
        if (parse_majmin(argv[3], &maj, &min) < 0)
                return fail(a, l, -EINVAL, "block: bad MAJ:MIN \"%s\"", argv[3]);
        r = fakesys_add_block(a->fs, bdf, argv[2], maj, min);
        return r < 0 ? fail_errno(a, l, r, "block %s %s", bdf, argv[2]) : 0;
}

static int do_dm(Apply *a, const Loc *l, char **argv, size_t argc) {
        char *slaves[MAX_SLAVES + 1] = { NULL };
        const char *dm_name = NULL;
        unsigned maj, min;
        size_t n = 0;
        int r;

        if (parse_majmin(argv[2], &maj, &min) < 0)
                return fail(a, l, -EINVAL, "dm: bad MAJ:MIN \"%s\"", argv[2]);
        for (size_t i = 3; i < argc; i++) {
                char *k, *v, *save = NULL;

                if (!split_kv(argv[i], &k, &v))
                        return fail(a, l, -EINVAL, "dm: expected key=value, got \"%s\"", argv[i]);
                if (streq(k, "name"))
                        dm_name = v;
                else if (streq(k, "slaves"))
                        for (char *s = strtok_r(v, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
                                if (n >= MAX_SLAVES || parse_majmin(s, &maj, &min) < 0)
                                        return fail(a, l, -EINVAL, "dm: bad slave \"%s\"", s);
                                slaves[n++] = s;
                        }
                else
                        return fail(a, l, -EINVAL, "dm: unknown key \"%s\"", k);
        }
        (void) parse_majmin(argv[2], &maj, &min);
        r = fakesys_add_dm(a->fs, argv[1], dm_name ?: argv[1], maj, min, slaves);
        return r < 0 ? fail_errno(a, l, r, "dm %s", argv[1]) : 0;
}

static int do_rootfs(Apply *a, const Loc *l, char **argv, size_t argc) {
        unsigned maj, min;
        int r;

        if (parse_majmin(argv[1], &maj, &min) < 0)
                return fail(a, l, -EINVAL, "rootfs: bad MAJ:MIN \"%s\"", argv[1]);
        r = fakesys_set_root_mount(a->fs, maj, min, argv[2], argv[3]);
        return r < 0 ? fail_errno(a, l, r, "rootfs") : 0;
}

static int do_netdev(Apply *a, const Loc *l, char **argv, size_t argc) {
        char bdf[PCI_ADDRESS_STRLEN];
        const char *mac = NULL;
        int r;

        if (parse_bdf(argv[1], bdf) < 0)
                return fail(a, l, -EINVAL, "netdev: bad PCI address \"%s\"", argv[1]);
        if (argc == 4) {
                if (!strneq(argv[3], "mac=", 4))
                        return fail(a, l, -EINVAL, "netdev: unknown argument \"%s\"", argv[3]);
                mac = argv[3] + 4;
        }
        r = fakesys_add_netdev(a->fs, bdf, argv[2], mac);
        return r < 0 ? fail_errno(a, l, r, "netdev %s %s", bdf, argv[2]) : 0;
}

static int do_route(Apply *a, const Loc *l, char **argv, size_t argc) {
        const char *dev = NULL, *via = NULL;
        _cleanup_free_ char *dest = strdup(argv[1]);
        uint64_t metric = 0, prefix = 0;
        char *slash;
        int r;

        if (!dest)
                return -ENOMEM;
        if (streq(dest, "default")) {
                free(dest);
                dest = strdup("0.0.0.0");
                if (!dest)
                        return -ENOMEM;
        } else {
                slash = strchr(dest, '/');
                if (!slash || parse_uint(slash + 1, 32, &prefix) < 0)
                        return fail(a, l, -EINVAL,
                                    "route: destination is default or NET/LEN, not "
                                    "\"%s\"",
                                    argv[1]);
                *slash = 0;
        }
        for (size_t i = 2; i + 1 < argc; i += 2) {
                if (streq(argv[i], "dev"))
                        dev = argv[i + 1];
                else if (streq(argv[i], "via"))
                        via = argv[i + 1];
                else if (!streq(argv[i], "metric") ||
                         parse_uint(argv[i + 1], UINT32_MAX, &metric) < 0)
                        return fail(a, l, -EINVAL, "route: bad argument \"%s\"", argv[i]);
        }
        if (argc % 2 != 0 || !dev)
                return fail(a, l, -EINVAL, "route: expected DEST dev IF [via GW] [metric N]");
        r = fakesys_add_route(a->fs, dev, dest, (unsigned) prefix, via, (unsigned) metric);
        return r < 0 ? fail_errno(a, l, r, "route %s", argv[1]) : 0;
}

static const struct {
        const char *name;
        size_t min_args, max_args; /* counting the directive */
        Handler handler;
} directives[] = {
        { "untar", 2, 2, do_untar },
        { "include", 2, 2, do_include },
        { "copy", 3, 3, do_copy },
        { "file", 3, 3, do_file },
        { "symlink", 3, 3, do_symlink },
        { "mkdir", 2, 2, do_mkdir },
        { "remove", 2, 2, do_remove },
        { "devnode", 2, 2, do_devnode },
        { "device", 2, MAX_ARGS, do_device },
        { "attr", 4, 4, do_device_op },
        { "rmattr", 3, 3, do_device_op },
        { "bind", 3, 3, do_device_op },
        { "unbind", 2, 2, do_device_op },
        { "unplug", 2, 2, do_device_op },
        { "vfio-dev", 3, 3, do_device_op },
        { "driver", 2, MAX_ARGS, do_driver },
        { "sync-drivers", 1, 1, do_sync_drivers },
        { "group", 2, MAX_ARGS, do_group },
        { "iommu", 3, MAX_ARGS, do_iommu },
        { "dmar", 1, 3, do_dmar },
        { "drhd", 1, 4, do_dmar_struct },
        { "rmrr", 1, 4, do_dmar_struct },
        { "atsr", 1, 3, do_dmar_struct },
        { "rhsa", 1, 3, do_dmar_struct },
        { "satc", 1, 3, do_dmar_struct },
        { "andd", 2, 3, do_dmar_struct },
        { "scope", 2, 5, do_scope },
        { "ivrs", 1, 3, do_ivrs },
        { "acpi", 3, 3, do_acpi },
        { "module", 2, MAX_ARGS, do_module },
        { "param", 4, 4, do_param },
        { "hugepages", 2, 4, do_hugepages },
        { "osrelease", 2, 2, do_osrelease },
        { "block", 4, 4, do_block },
        { "dm", 3, 5, do_dm },
        { "rootfs", 4, 4, do_rootfs },
        { "netdev", 3, 4, do_netdev },
        { "route", 4, 8, do_route },
        { "interrupts", 2, 2, do_interrupts },
        { "iommufd", 1, 1, do_iommufd },
};

/* Splits a line into words in place: blanks separate, double quotes group (and may start
 * inside a word: key="a b"), \" \\ \n \t escape inside quotes, # outside quotes ends the line.
 * Returns the number of words or -EINVAL/-E2BIG. */
static int tokenize(char *line, char **argv, size_t max) {
        char *r = line, *w = line;
        size_t n = 0;

        for (;;) {
                bool quoted = false;

                while (*r == ' ' || *r == '\t' || *r == '\r')
                        r++;
                if (!*r || *r == '#')
                        return (int) n;
                if (n >= max)
                        return -E2BIG;
                argv[n++] = w;
                for (; *r && (quoted || (*r != ' ' && *r != '\t' && *r != '\r')); r++) {
                        if (*r == '"')
                                quoted = !quoted;
                        else if (quoted && *r == '\\') {
                                r++;
                                if (*r == 'n')
                                        *w++ = '\n';
                                else if (*r == 't')
                                        *w++ = '\t';
                                else if (*r == '"' || *r == '\\')
                                        *w++ = *r;
                                else
                                        return -EINVAL;
                        } else
                                *w++ = *r;
                }
                if (quoted)
                        return -EINVAL;
                if (*r)
                        r++;
                *w++ = 0;
        }
}

static int apply_text(Apply *a, const char *text, size_t size, const char *name, const char *dir) {
        Loc l = { .name = name, .dir = dir };

        if (strlen(text) != size)
                return fail(a, &l, -EBADMSG, "contains a NUL byte");
        for (const char *p = text; *p;) {
                const char *end = strchrnul(p, '\n');
                char line[MAX_LINE], *argv[MAX_ARGS];
                size_t i;
                int n, r;

                l.line++;
                if ((size_t) (end - p) >= sizeof(line))
                        return fail(a, &l, -E2BIG, "line longer than %d bytes", MAX_LINE - 1);
                memcpy(line, p, (size_t) (end - p));
                line[end - p] = 0;
                p = *end ? end + 1 : end;
                n = tokenize(line, argv, ELEMENTSOF(argv));
                if (n == -E2BIG)
                        return fail(a, &l, n, "more than %d words", MAX_ARGS);
                if (n < 0)
                        return fail(a, &l, n, "unterminated quote or bad escape");
                if (n == 0)
                        continue;
                for (i = 0; i < ELEMENTSOF(directives); i++)
                        if (streq(argv[0], directives[i].name))
                                break;
                if (i == ELEMENTSOF(directives))
                        return fail(a, &l, -EINVAL, "unknown directive \"%s\"", argv[0]);
                if ((size_t) n < directives[i].min_args || (size_t) n > directives[i].max_args)
                        return fail(a, &l, -EINVAL, "%s: wrong number of arguments", argv[0]);
                r = directives[i].handler(a, &l, argv, (size_t) n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_spec(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if (st.st_size > (off_t) MAX_SPEC_SIZE)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static int apply_file(Apply *a, const char *path, const char *name) {
        _cleanup_free_ char *text = NULL, *dir = NULL;
        size_t size = 0;
        char *slash;
        int r;

        r = read_spec(path, &text, &size);
        if (r < 0) {
                /* An include names its own line (do_include()); the top file names itself. */
                if (a->depth == 0 && !a->error &&
                    asprintf(&a->error, "%s: %s", name, strerror(-r)) < 0)
                        a->error = NULL;
                return r;
        }
        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = 0;
        else if (slash)
                *slash = 0;
        else
                strcpy(dir, ".");
        return apply_text(a, text, size, name, dir);
}

/* Writes the DMAR table the spec described, if any. */
static int finish(Apply *a, int r, char **ret_error) {
        if (r >= 0 && a->dmar) {
                _cleanup_free_ uint8_t *t = NULL;
                size_t size;

                r = dmar_builder_finish(a->dmar, &t, &size);
                if (r >= 0)
                        r = fakesys_set_acpi_table(a->fs, "DMAR", t, size);
                if (r < 0 && asprintf(&a->error, "DMAR table: %s", strerror(-r)) < 0)
                        a->error = NULL;
        }
        dmar_builder_free(a->dmar);
        if (r < 0 && !a->error)
                a->error = strdup(strerror(-r));
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(a->error);
        free(a->error);
        return r;
}

int hostspec_apply(FakeSys *fs, const char *spec_path, char **ret_error) {
        Apply a = { .fs = fs };

        if (!fs || isempty(spec_path))
                return -EINVAL;
        return finish(&a, apply_file(&a, spec_path, spec_path), ret_error);
}

int hostspec_apply_string(FakeSys *fs, const char *text, const char *base_dir, char **ret_error) {
        Apply a = { .fs = fs };

        if (!fs || !text)
                return -EINVAL;
        return finish(&a, apply_text(&a, text, strlen(text), "<string>", base_dir ?: "."),
                      ret_error);
}
