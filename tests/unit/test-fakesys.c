/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/fakesys.c, tests/fakesys-host.c and tests/hostspec.c: the trees they build have the
 * kernel's shapes (links resolve to the right device directories, groups hold the right
 * members), edits keep them consistent, errors name the spec line, and every sample host in
 * tests/data/hosts materialises with the facts its header promises. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakesys.h"
#include "hostspec.h"
#include "macro.h"
#include "util.h"

#ifndef TEST_DATA_DIR_DEFAULT
#define TEST_DATA_DIR_DEFAULT "tests/data"
#endif

static FakeSys *fs;
static const char *root;

static void setup(void) {
        ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &fs), 0);
        root = fakesys_root(fs);
}

static void teardown(void) {
        fs = fakesys_free(fs);
        root = NULL;
}

static const char *data_dir(void) {
        const char *d = getenv("TEST_DATA_DIR");

        return isempty(d) ? TEST_DATA_DIR_DEFAULT : d;
}

/* ---- helpers over the tree (paths relative to root) ---- */

static char *at(const char *rel) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", root, rel), 0);
        return p;
}

static char *slurp(const char *rel) {
        char *s = NULL;
        size_t n;

        if (fakesys_read_file(fs, rel, &s, &n) < 0)
                return NULL;
        return s;
}

#define assert_file(rel, expected)                       \
        do {                                             \
                _cleanup_free_ char *_s = slurp(rel);    \
                ck_assert_msg(_s, "%s: missing", (rel)); \
                ck_assert_str_eq(_s, (expected));        \
        } while (0)

static char *link_text(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        char buf[PATH_MAX];
        ssize_t n = readlink(p, buf, sizeof(buf) - 1);

        ck_assert_msg(n > 0, "%s: not a link", rel);
        buf[n] = 0;
        return strdup(buf);
}

#define assert_link(rel, expected)                        \
        do {                                              \
                _cleanup_free_ char *_l = link_text(rel); \
                ck_assert_str_eq(_l, (expected));         \
        } while (0)

/* realpath of rel, relative to root again ("sys/devices/..."); NULL if it does not resolve. */
static char *real(const char *rel) {
        _cleanup_free_ char *p = at(rel), *r = realpath(p, NULL), *base = realpath(root, NULL);

        if (!r)
                return NULL;
        ck_assert(base);
        ck_assert_msg(strneq(r, base, strlen(base)) && r[strlen(base)] == '/', "%s escapes", r);
        return strdup(r + strlen(base) + 1);
}

#define assert_resolves(rel, expected)                           \
        do {                                                     \
                _cleanup_free_ char *_r = real(rel);             \
                ck_assert_msg(_r, "%s does not resolve", (rel)); \
                ck_assert_str_eq(_r, (expected));                \
        } while (0)

static bool present(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        struct stat st;

        return lstat(p, &st) >= 0;
}

static bool is_dir(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        struct stat st;

        return lstat(p, &st) >= 0 && S_ISDIR(st.st_mode);
}

static off_t file_size(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        struct stat st;

        ck_assert_msg(stat(p, &st) >= 0, "%s: %m", rel);
        return st.st_size;
}

static uint8_t config_byte(const char *dev_rel, size_t off) {
        _cleanup_free_ char *p = NULL, *cfg = NULL;
        size_t n;

        ck_assert_int_ge(asprintf(&p, "%s/config", dev_rel), 0);
        ck_assert_int_eq(fakesys_read_file(fs, p, &cfg, &n), 0);
        ck_assert_uint_gt(n, off);
        return (uint8_t) cfg[off];
}

/* Sorted names in a directory, joined by spaces. */
static char *names(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        char *out = NULL, *list[64];
        size_t n = 0, len = 1;
        _cleanup_closedir_ DIR *d = opendir(p);
        struct dirent *de;

        if (!d)
                return NULL;
        while ((de = readdir(d)) && n < ELEMENTSOF(list))
                if (de->d_name[0] != '.')
                        list[n++] = strdup(de->d_name);
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (strcmp(list[j], list[i]) < 0) {
                                char *t = list[i];
                                list[i] = list[j];
                                list[j] = t;
                        }
        for (size_t i = 0; i < n; i++)
                len += strlen(list[i]) + 1;
        out = calloc(1, len);
        ck_assert(out);
        for (size_t i = 0; i < n; i++) {
                if (i)
                        strcat(out, " ");
                strcat(out, list[i]);
                free(list[i]);
        }
        return out;
}

#define assert_names(rel, expected)                           \
        do {                                                  \
                _cleanup_free_ char *_n = names(rel);         \
                ck_assert_msg(_n, "%s: no directory", (rel)); \
                ck_assert_str_eq(_n, (expected));             \
        } while (0)

static FakeDevice dev(const char *bdf, const char *parent, uint16_t vendor, uint16_t device,
                      uint32_t class_code) {
        FakeDevice d;

        fake_device_init(&d, bdf);
        d.parent = parent;
        d.vendor = vendor;
        d.device = device;
        d.class_code = class_code;
        return d;
}

/* ---- fakesys ---- */

START_TEST(test_new_and_free) {
        char tmpl[] = "/tmp/test-fakesys.XXXXXX";
        _cleanup_free_ char *kept = NULL, *mine = NULL;
        FakeSys *f = NULL;
        struct stat st;

        ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &f), 0);
        mine = strdup(fakesys_root(f));
        ck_assert_int_eq(stat(mine, &st), 0);
        ck_assert_int_eq(fakesys_write_file(f, "sys/bus/pci/x", "y", 1), 0);
        ck_assert(fakesys_exists(f, "sys/bus/pci/drivers_probe"));
        ck_assert(fakesys_exists(f, "sys/bus/pci/devices"));
        ck_assert(fakesys_free(f) == NULL);
        ck_assert_int_eq(stat(mine, &st), -1);

        /* An explicit directory is created and kept. */
        ck_assert_ptr_nonnull(mkdtemp(tmpl));
        ck_assert_int_ge(asprintf(&kept, "%s/root", tmpl), 0);
        ck_assert_int_eq(fakesys_new(kept, 0, &f), 0);
        ck_assert_int_eq(fakesys_mkdir(f, "a/b/c"), 0);
        ck_assert_int_eq(fakesys_write_file(f, "../escape", "x", 1), -EINVAL);
        ck_assert_int_eq(fakesys_write_file(f, "a/./b", "x", 1), -EINVAL);
        ck_assert_int_eq(fakesys_write_file(f, "/abs", "x", 1), -EINVAL);
        fakesys_free(f);
        ck_assert_int_eq(stat(kept, &st), 0);
        ck_assert_int_eq(fakesys_new(kept, 0, &f), 0);
        fakesys_set_remove_on_free(f, true);
        fakesys_free(f);
        ck_assert_int_eq(stat(kept, &st), -1);
        ck_assert_int_eq(rmdir(tmpl), 0);
        ck_assert(fakesys_free(NULL) == NULL);
        ck_assert_int_eq(fakesys_new("", 0, &f), -EINVAL);
}
END_TEST

START_TEST(test_device_shapes) {
        FakeDevice rp = dev("0000:00:1d.0", NULL, 0x8086, 0xa330, 0x060400);
        FakeDevice nvme = dev("0000:02:00.0", "0000:00:1d.0", 0x144d, 0xa808, 0x010802);
        const char *d = "sys/devices/pci0000:00/0000:00:1d.0/0000:02:00.0";

        rp.driver = "pcieport";
        rp.iommu_group = 5;
        ck_assert_int_eq(fakesys_add_device(fs, &rp), 0);
        nvme.driver = "nvme";
        nvme.iommu_group = 9;
        nvme.reset_method = "flr";
        nvme.subsystem_vendor = 0x144d;
        nvme.subsystem_device = 0xa801;
        nvme.numa_node = 1;
        ck_assert_int_eq(fakesys_add_device(fs, &nvme), 0);

        /* Relative links through the common ancestor, as sysfs makes them. */
        assert_link("sys/bus/pci/devices/0000:02:00.0",
                    "../../../devices/pci0000:00/0000:00:1d.0/0000:02:00.0");
        assert_link("sys/devices/pci0000:00/0000:00:1d.0/0000:02:00.0/driver",
                    "../../../../bus/pci/drivers/nvme");
        assert_link("sys/devices/pci0000:00/0000:00:1d.0/0000:02:00.0/iommu_group",
                    "../../../../kernel/iommu_groups/9");
        assert_link("sys/kernel/iommu_groups/9/devices/0000:02:00.0",
                    "../../../../devices/pci0000:00/0000:00:1d.0/0000:02:00.0");
        assert_link("sys/bus/pci/drivers/nvme/0000:02:00.0",
                    "../../../../devices/pci0000:00/0000:00:1d.0/0000:02:00.0");
        assert_resolves("sys/bus/pci/devices/0000:02:00.0", d);
        assert_resolves("sys/kernel/iommu_groups/9/devices/0000:02:00.0", d);
        assert_resolves("sys/bus/pci/devices/0000:02:00.0/iommu_group",
                        "sys/kernel/iommu_groups/9");

        assert_file("sys/bus/pci/devices/0000:02:00.0/vendor", "0x144d\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/device", "0xa808\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/subsystem_vendor", "0x144d\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/subsystem_device", "0xa801\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/class", "0x010802\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/driver_override", "(null)\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/reset_method", "flr\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/numa_node", "1\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/enable", "1\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/modalias",
                    "pci:v0000144Dd0000A808sv0000144Dsd0000A801bc01sc08i02\n");
        assert_file("sys/kernel/iommu_groups/9/type", "DMA\n");
        assert_file("sys/kernel/iommu_groups/9/reserved_regions",
                    "0x00000000fee00000 0x00000000feefffff msi\n");
        ck_assert(present("sys/bus/pci/devices/0000:02:00.0/reset"));
        ck_assert(!present("sys/bus/pci/devices/0000:02:00.0/boot_vga"));
        ck_assert(!present("sys/bus/pci/devices/0000:00:1d.0/reset_method"));
        ck_assert(!present("sys/bus/pci/devices/0000:00:1d.0/reset"));
        ck_assert(present("sys/bus/pci/drivers/nvme/bind"));
        ck_assert(present("sys/bus/pci/drivers/nvme/new_id"));
        ck_assert_int_eq(file_size("sys/bus/pci/devices/0000:02:00.0/resource"), 13 * 57);
        ck_assert_int_eq(file_size("sys/bus/pci/devices/0000:00:1d.0/resource"), 17 * 57);

        /* config: ids, class, header types, bridge bus numbers, PCIe port types. */
        ck_assert_int_eq(file_size("sys/bus/pci/devices/0000:02:00.0/config"), 4096);
        ck_assert_uint_eq(config_byte(d, 0x00), 0x4d);
        ck_assert_uint_eq(config_byte(d, 0x01), 0x14);
        ck_assert_uint_eq(config_byte(d, 0x0b), 0x01);
        ck_assert_uint_eq(config_byte(d, 0x0a), 0x08);
        ck_assert_uint_eq(config_byte(d, 0x0e), 0x00);
        ck_assert_uint_eq(config_byte(d, 0x2c), 0x4d);
        ck_assert_uint_eq(config_byte(d, 0x40), 0x10);
        ck_assert_uint_eq(config_byte(d, 0x42) >> 4, 0);      /* endpoint */
        ck_assert_uint_eq(config_byte(d, 0x47) & 0x10, 0x10); /* FLR capable */
        ck_assert_uint_eq(config_byte("sys/devices/pci0000:00/0000:00:1d.0", 0x0e), 0x01);
        ck_assert_uint_eq(config_byte("sys/devices/pci0000:00/0000:00:1d.0", 0x18), 0x00);
        ck_assert_uint_eq(config_byte("sys/devices/pci0000:00/0000:00:1d.0", 0x19), 0x02);
        ck_assert_uint_eq(config_byte("sys/devices/pci0000:00/0000:00:1d.0", 0x1a), 0x02);
        ck_assert_uint_eq(config_byte("sys/devices/pci0000:00/0000:00:1d.0", 0x42) >> 4, 4);
}
END_TEST

START_TEST(test_nested_bridges) {
        FakeDevice rp = dev("0000:00:01.0", NULL, 0x1022, 0x1483, 0x060400);
        FakeDevice up = dev("0000:08:00.0", "0000:00:01.0", 0x1002, 0x1478, 0x060400);
        FakeDevice dn1 = dev("0000:09:00.0", "0000:08:00.0", 0x1002, 0x1479, 0x060400);
        FakeDevice dn2 = dev("0000:09:01.0", "0000:08:00.0", 0x1002, 0x1479, 0x060400);
        FakeDevice gpu = dev("0000:0a:00.0", "0000:09:00.0", 0x1002, 0x731f, 0x030000);
        FakeDevice br = dev("0000:0c:00.0", "0000:09:01.0", 0x12d8, 0xe113, 0x060400);
        FakeDevice old = dev("0000:0d:04.0", "0000:0c:00.0", 0x8086, 0x107c, 0x020000);
        const char *rpd = "sys/devices/pci0000:00/0000:00:01.0";
        const char *upd = "sys/devices/pci0000:00/0000:00:01.0/0000:08:00.0";
        const char *gpud = "sys/devices/pci0000:00/0000:00:01.0/0000:08:00.0/0000:09:00.0/"
                           "0000:0a:00.0";
        const char *oldd = "sys/devices/pci0000:00/0000:00:01.0/0000:08:00.0/0000:09:01.0/"
                           "0000:0c:00.0/0000:0d:04.0";

        br.pcie_type = FAKE_PCIE_TO_PCI_BRIDGE;
        gpu.boot_vga = 1;
        ck_assert_int_eq(fakesys_add_device(fs, &rp), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &up), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &dn1), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &dn2), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &gpu), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &br), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &old), 0);

        assert_resolves("sys/bus/pci/devices/0000:0a:00.0", gpud);
        assert_resolves("sys/bus/pci/devices/0000:0d:04.0", oldd);
        assert_file("sys/bus/pci/devices/0000:0a:00.0/boot_vga", "1\n");
        /* Port types derived from the position, bus ranges widened up the chain. */
        ck_assert_uint_eq(config_byte(rpd, 0x42) >> 4, 4);
        ck_assert_uint_eq(config_byte(upd, 0x42) >> 4, 5);
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:09:00.0", 0x42) >> 4, 6);
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:0c:00.0", 0x42) >> 4, 7);
        ck_assert_int_eq(file_size("sys/bus/pci/devices/0000:0d:04.0/config"), 256);
        ck_assert_uint_eq(config_byte(oldd, 0x34), 0); /* conventional: no capabilities */
        ck_assert_uint_eq(config_byte(rpd, 0x19), 0x08);
        ck_assert_uint_eq(config_byte(rpd, 0x1a), 0x0d);
        ck_assert_uint_eq(config_byte(upd, 0x18), 0x08);
        ck_assert_uint_eq(config_byte(upd, 0x19), 0x09);
        ck_assert_uint_eq(config_byte(upd, 0x1a), 0x0d);
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:09:01.0", 0x19), 0x0c);
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:09:01.0", 0x1a), 0x0d);
}
END_TEST

START_TEST(test_add_errors) {
        FakeDevice rp = dev("0000:00:01.0", NULL, 0x8086, 0x1901, 0x060400);
        FakeDevice nic = dev("0000:00:19.0", NULL, 0x8086, 0x1503, 0x020000);
        FakeDevice d;

        ck_assert_int_eq(fakesys_add_device(fs, &rp), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &nic), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &rp), -EEXIST);
        d = dev("0000:05:00.0", "0000:00:07.0", 0x8086, 0x1533, 0x020000);
        ck_assert_int_eq(fakesys_add_device(fs, &d), -ENOENT);
        d = dev("0000:05:00.0", "0000:00:19.0", 0x8086, 0x1533, 0x020000);
        ck_assert_int_eq(fakesys_add_device(fs, &d), -ENOTDIR);
        d = dev("0:5:0.0", NULL, 0x8086, 0x1533, 0x020000);
        ck_assert_int_eq(fakesys_add_device(fs, &d), -EINVAL);
        d = dev("0000:00:05.0", "0000:00:01.0", 0x8086, 0x1533, 0x020000); /* bus not below */
        ck_assert_int_eq(fakesys_add_device(fs, &d), -EINVAL);
        d = dev("0000:01:00.0", "0000:00:01.0", 0x8086, 0x1533, 0x020000);
        d.boot_vga = 1; /* not VGA */
        ck_assert_int_eq(fakesys_add_device(fs, &d), -EINVAL);
        d.boot_vga = -1;
        d.driver = "../evil";
        ck_assert_int_eq(fakesys_add_device(fs, &d), -EINVAL);
        /* Nothing of the failed adds is left behind. */
        ck_assert(!fakesys_device_exists(fs, "0000:01:00.0"));
        ck_assert(!fakesys_device_exists(fs, "0000:05:00.0"));
        assert_names("sys/bus/pci/devices", "0000:00:01.0 0000:00:19.0");
        assert_names("sys/devices/pci0000:00/0000:00:01.0/",
                     "class config device driver_override "
                     "enable irq modalias numa_node resource revision subsystem_device "
                     "subsystem_vendor vendor");
}
END_TEST

START_TEST(test_bind_unbind) {
        FakeDevice gpu = dev("0000:00:02.0", NULL, 0x8086, 0x3e92, 0x030000);
        const char *g = "sys/bus/pci/devices/0000:00:02.0";

        gpu.driver = "i915";
        ck_assert_int_eq(fakesys_add_device(fs, &gpu), 0);
        assert_file("sys/bus/pci/devices/0000:00:02.0/boot_vga", "0\n");
        assert_names("sys/bus/pci/drivers/i915", "0000:00:02.0 bind new_id remove_id unbind");
        ck_assert_int_eq(fakesys_bind(fs, "0000:00:02.0", "vfio-pci"), 0);
        assert_link("sys/devices/pci0000:00/0000:00:02.0/driver",
                    "../../../bus/pci/drivers/vfio-pci");
        assert_names("sys/bus/pci/drivers/i915", "bind new_id remove_id unbind");
        assert_resolves("sys/bus/pci/drivers/vfio-pci/0000:00:02.0",
                        "sys/devices/pci0000:00/0000:00:02.0");
        assert_file("sys/bus/pci/devices/0000:00:02.0/enable", "0\n");
        ck_assert_int_eq(fakesys_set_vfio_dev(fs, "0000:00:02.0", 3), 0);
        assert_file("sys/bus/pci/devices/0000:00:02.0/vfio-dev/vfio3/dev", "511:3\n");
        ck_assert_int_eq(fakesys_unbind(fs, "0000:00:02.0"), 0);
        ck_assert(!present("sys/devices/pci0000:00/0000:00:02.0/driver"));
        ck_assert(!present("sys/devices/pci0000:00/0000:00:02.0/vfio-dev"));
        assert_names("sys/bus/pci/drivers/vfio-pci", "bind new_id remove_id unbind");
        ck_assert_int_eq(fakesys_unbind(fs, "0000:00:02.0"), 0); /* unbound already: fine */
        ck_assert_int_eq(fakesys_bind(fs, "0000:00:02.0", "i915"), 0);
        assert_file("sys/bus/pci/devices/0000:00:02.0/enable", "1\n");
        ck_assert_int_eq(fakesys_bind(fs, "0000:00:07.0", "i915"), -ENOENT);
        ck_assert_int_eq(fakesys_bind(fs, "0000:00:02.0", "a/b"), -EINVAL);

        /* Single attributes, and the stand-ins for unreadable ones. */
        ck_assert_int_eq(fakesys_set_attr(fs, "0000:00:02.0", "driver_override", "vfio-pci\n"), 0);
        assert_file("sys/bus/pci/devices/0000:00:02.0/driver_override", "vfio-pci\n");
        ck_assert_int_eq(fakesys_attr_make_dir(fs, "0000:00:02.0", "vendor"), 0);
        ck_assert(is_dir("sys/bus/pci/devices/0000:00:02.0/vendor"));
        ck_assert_int_eq(fakesys_attr_make_dangling(fs, "0000:00:02.0", "class"), 0);
        ck_assert(present("sys/bus/pci/devices/0000:00:02.0/class"));
        ck_assert_ptr_null(real("sys/bus/pci/devices/0000:00:02.0/class"));
        ck_assert_int_eq(fakesys_attr_make_garbage(fs, "0000:00:02.0", "numa_node", 9), 0);
        {
                _cleanup_free_ char *p = NULL, *s = NULL;
                size_t n;

                ck_assert_int_ge(asprintf(&p, "%s/numa_node", g), 0);
                ck_assert_int_eq(fakesys_read_file(fs, p, &s, &n), 0);
                ck_assert_uint_eq(n, 9);
                ck_assert_uint_eq((uint8_t) s[0], 0xff);
                ck_assert_uint_eq((uint8_t) s[1], 0x00);
                ck_assert(!memchr(s, '\n', n));
        }
        ck_assert_int_eq(fakesys_set_attr(fs, "0000:00:02.0", "vendor", "0x8086\n"), 0);
        assert_file("sys/bus/pci/devices/0000:00:02.0/vendor", "0x8086\n");
        ck_assert_int_eq(fakesys_remove_attr(fs, "0000:00:02.0", "boot_vga"), 0);
        ck_assert(!present("sys/bus/pci/devices/0000:00:02.0/boot_vga"));
        ck_assert_int_eq(fakesys_remove_attr(fs, "0000:00:02.0", "boot_vga"), -ENOENT);
        ck_assert_int_eq(fakesys_set_attr(fs, "0000:00:02.0", "../../x", "1"), -EINVAL);
}
END_TEST

START_TEST(test_groups) {
        FakeDevice a = dev("0000:00:1f.0", NULL, 0x8086, 0xa305, 0x060100);
        FakeDevice b = dev("0000:00:1f.3", NULL, 0x8086, 0xa348, 0x040300);

        a.iommu_group = 6;
        b.iommu_group = 6;
        ck_assert_int_eq(fakesys_add_device(fs, &a), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &b), 0);
        assert_names("sys/kernel/iommu_groups/6/devices", "0000:00:1f.0 0000:00:1f.3");
        ck_assert_int_eq(fakesys_group_add_region(fs, 6, 0x3a9e7000, 0x3aa06fff, "direct"), 0);
        ck_assert_int_eq(fakesys_group_add_region(fs, 6, 0x100000000ULL, 0x1000fffffULL,
                                                  "reserved"),
                         0);
        assert_file("sys/kernel/iommu_groups/6/reserved_regions",
                    "0x000000003a9e7000 0x000000003aa06fff direct\n"
                    "0x00000000fee00000 0x00000000feefffff msi\n"
                    "0x0000000100000000 0x00000001000fffff reserved\n");
        ck_assert_int_eq(fakesys_group_set_attr(fs, 6, "type", "identity"), 0);
        assert_file("sys/kernel/iommu_groups/6/type", "identity\n");
        ck_assert_int_eq(fakesys_group_add_region(fs, 6, 2, 1, "direct"), -EINVAL);

        /* Moving the last member out drops the group; the new group is made. */
        ck_assert_int_eq(fakesys_set_group(fs, "0000:00:1f.3", 7), 0);
        assert_names("sys/kernel/iommu_groups/6/devices", "0000:00:1f.0");
        assert_resolves("sys/bus/pci/devices/0000:00:1f.3/iommu_group",
                        "sys/kernel/iommu_groups/7");
        ck_assert_int_eq(fakesys_set_group(fs, "0000:00:1f.0", -1), 0);
        ck_assert(!present("sys/kernel/iommu_groups/6"));
        ck_assert(!present("sys/devices/pci0000:00/0000:00:1f.0/iommu_group"));
        assert_names("sys/kernel/iommu_groups", "7");

        /* Garbage in reserved_regions is refused rather than rewritten. */
        ck_assert_int_eq(fakesys_group_set_attr(fs, 7, "reserved_regions", "garbage"), 0);
        ck_assert_int_eq(fakesys_group_add_region(fs, 7, 0, 1, "direct"), -EBADMSG);
}
END_TEST

START_TEST(test_sriov) {
        FakeDevice rp = dev("0000:3a:00.0", NULL, 0x8086, 0x2030, 0x060400);
        FakeDevice pf = dev("0000:3b:00.0", "0000:3a:00.0", 0x8086, 0x1572, 0x020000);
        FakeDevice vf;
        char bdf[4][32];

        pf.sriov_totalvfs = 64;
        pf.sriov_offset = 16;
        pf.sriov_stride = 1;
        pf.sriov_vf_device = 0x154c;
        pf.iommu_group = 1;
        ck_assert_int_eq(fakesys_add_device(fs, &rp), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &pf), 0);
        for (int i = 0; i < 4; i++) {
                snprintf(bdf[i], sizeof(bdf[i]), "0000:3b:02.%u", (unsigned) i & 7);
                vf = dev(bdf[i], "0000:3a:00.0", 0x8086, 0x154c, 0x020000);
                vf.physfn = "0000:3b:00.0";
                vf.iommu_group = 10 + i;
                ck_assert_int_eq(fakesys_add_device(fs, &vf), 0);
        }
        assert_link("sys/bus/pci/devices/0000:3b:00.0/virtfn0", "../0000:3b:02.0");
        assert_link("sys/bus/pci/devices/0000:3b:02.3/physfn", "../0000:3b:00.0");
        assert_resolves("sys/bus/pci/devices/0000:3b:00.0/virtfn3",
                        "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:02.3");
        assert_resolves("sys/bus/pci/devices/0000:3b:02.1/physfn",
                        "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0");
        assert_file("sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs", "4\n");
        assert_file("sys/bus/pci/devices/0000:3b:00.0/sriov_totalvfs", "64\n");
        assert_file("sys/bus/pci/devices/0000:3b:00.0/sriov_vf_device", "154c\n");
        ck_assert(!present("sys/bus/pci/devices/0000:3b:02.0/sriov_totalvfs"));
        /* The SR-IOV extended capability at 0x100. */
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:3b:00.0", 0x100), 0x10);
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:3b:00.0", 0x10e), 64);
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:3b:00.0", 0x114), 16);

        /* A VF whose routing ID does not follow from offset/stride, or under another parent. */
        vf = dev("0000:3b:00.1", "0000:3a:00.0", 0x8086, 0x154c, 0x020000);
        vf.physfn = "0000:3b:00.0";
        ck_assert_int_eq(fakesys_add_device(fs, &vf), -EINVAL);
        ck_assert(!fakesys_device_exists(fs, "0000:3b:00.1"));

        /* Removing a VF drops its virtfn link; removing the PF takes the other VFs along. */
        ck_assert_int_eq(fakesys_remove_device(fs, "0000:3b:02.1"), 0);
        ck_assert(!present("sys/bus/pci/devices/0000:3b:00.0/virtfn1"));
        ck_assert(present("sys/bus/pci/devices/0000:3b:00.0/virtfn2"));
        ck_assert(!present("sys/kernel/iommu_groups/11"));
        ck_assert_int_eq(fakesys_remove_device(fs, "0000:3b:00.0"), 0);
        assert_names("sys/bus/pci/devices", "0000:3a:00.0");
        assert_names("sys/kernel/iommu_groups", "");
        assert_names("sys/devices/pci0000:3a/0000:3a:00.0/",
                     "class config device driver_override "
                     "enable irq modalias numa_node resource revision subsystem_device "
                     "subsystem_vendor vendor");
}
END_TEST

START_TEST(test_remove_subtree) {
        FakeDevice rp = dev("0000:00:1d.0", NULL, 0x8086, 0xa330, 0x060400);
        FakeDevice up = dev("0000:02:00.0", "0000:00:1d.0", 0x10b5, 0x8747, 0x060400);
        FakeDevice dn = dev("0000:03:08.0", "0000:02:00.0", 0x10b5, 0x8747, 0x060400);
        FakeDevice ssd = dev("0000:04:00.0", "0000:03:08.0", 0x144d, 0xa808, 0x010802);
        FakeDevice nic = dev("0000:00:1f.6", NULL, 0x8086, 0x15bc, 0x020000);

        rp.iommu_group = 1;
        up.iommu_group = 2;
        dn.iommu_group = 2;
        ssd.iommu_group = 3;
        ssd.driver = "nvme";
        nic.iommu_group = 4;
        ck_assert_int_eq(fakesys_add_device(fs, &rp), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &up), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &dn), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &ssd), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &nic), 0);
        ck_assert_int_eq(fakesys_add_block(fs, "0000:04:00.0", "nvme/nvme0/nvme0n1", 259, 0), 0);
        ck_assert_int_eq(fakesys_add_netdev(fs, "0000:00:1f.6", "eno1", NULL), 0);

        ck_assert_int_eq(fakesys_remove_device(fs, "0000:02:00.0"), 0);
        assert_names("sys/bus/pci/devices", "0000:00:1d.0 0000:00:1f.6");
        assert_names("sys/kernel/iommu_groups", "1 4");
        assert_names("sys/bus/pci/drivers/nvme", "bind new_id remove_id unbind");
        assert_names("sys/dev/block", "");
        assert_names("sys/class/block", "");
        ck_assert(!present("sys/devices/pci0000:00/0000:00:1d.0/0000:02:00.0"));
        assert_names("sys/class/net", "eno1 lo");
        ck_assert_int_eq(fakesys_remove_device(fs, "0000:02:00.0"), -ENOENT);
        ck_assert_int_eq(fakesys_remove_device(fs, "0000:00:1f.6"), 0);
        assert_names("sys/class/net", "lo");
}
END_TEST

START_TEST(test_iommu_units) {
        FakeIommu vtd = { .name = "dmar0",
                          .kind = FAKE_IOMMU_INTEL,
                          .cap = 0xd2008c22260286ULL,
                          .ecap = 0xf00f4a,
                          .address = 0xfed90000 };
        FakeIommu amd = { .name = "ivhd0",
                          .kind = FAKE_IOMMU_AMD,
                          .bdf = "0000:00:00.2",
                          .amd_cap = 0x190b640f,
                          .features = "58f77ef22294a5a" };
        FakeDevice iommu = dev("0000:00:00.2", NULL, 0x1022, 0x1481, 0x080600);
        FakeDevice nic = dev("0000:00:02.0", NULL, 0x8086, 0x10d3, 0x020000);

        ck_assert_int_eq(fakesys_add_iommu(fs, &vtd), 0);
        assert_link("sys/class/iommu/dmar0", "../../devices/virtual/iommu/dmar0");
        assert_file("sys/class/iommu/dmar0/intel-iommu/ecap", "f00f4a\n");
        assert_file("sys/class/iommu/dmar0/intel-iommu/cap", "d2008c22260286\n");
        assert_file("sys/class/iommu/dmar0/intel-iommu/address", "fed90000\n");
        assert_file("sys/class/iommu/dmar0/intel-iommu/version", "1:0\n");
        nic.iommu = "dmar0";
        ck_assert_int_eq(fakesys_add_device(fs, &nic), 0);
        assert_link("sys/devices/pci0000:00/0000:00:02.0/iommu", "../../virtual/iommu/dmar0");
        assert_resolves("sys/class/iommu/dmar0/devices/0000:00:02.0",
                        "sys/devices/pci0000:00/0000:00:02.0");

        ck_assert_int_eq(fakesys_add_device(fs, &iommu), 0);
        ck_assert_int_eq(fakesys_add_iommu(fs, &amd), 0);
        assert_resolves("sys/class/iommu/ivhd0", "sys/devices/pci0000:00/0000:00:00.2/iommu/ivhd0");
        assert_file("sys/class/iommu/ivhd0/amd-iommu/features", "58f77ef22294a5a\n");
        ck_assert_int_eq(fakesys_set_device_iommu(fs, "0000:00:02.0", "ivhd0"), 0);
        assert_link("sys/devices/pci0000:00/0000:00:02.0/iommu", "../0000:00:00.2/iommu/ivhd0");
        ck_assert(!present("sys/devices/virtual/iommu/dmar0/devices/0000:00:02.0"));
        ck_assert_int_eq(fakesys_set_device_iommu(fs, "0000:00:02.0", NULL), 0);
        ck_assert(!present("sys/devices/pci0000:00/0000:00:02.0/iommu"));

        ck_assert_int_eq(fakesys_set_acpi_table(fs, "DMAR", "DMAR", 4), 0);
        assert_file("sys/firmware/acpi/tables/DMAR", "DMAR");
        ck_assert_int_eq(fakesys_set_acpi_table(fs, "TOOLONG", "x", 1), -EINVAL);
}
END_TEST

START_TEST(test_host_facts) {
        FakeDevice nvme = dev("0000:02:00.0", NULL, 0x144d, 0xa808, 0x010802);
        FakeDevice nic = dev("0000:00:1f.6", NULL, 0x8086, 0x15bc, 0x020000);
        char *slaves[] = { (char *) "259:3", NULL };
        _cleanup_free_ char *route = NULL;
        const char *p3 = "sys/devices/pci0000:02/0000:02:00.0/nvme/nvme0/nvme0n1/nvme0n1p3";

        nvme.driver = "nvme";
        nic.driver = "e1000e";
        ck_assert_int_eq(fakesys_add_device(fs, &nvme), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &nic), 0);
        ck_assert_int_eq(fakesys_set_module_param(fs, "vfio_iommu_type1", "allow_unsafe_interrupts",
                                                  "N"),
                         0);
        assert_file("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n");
        ck_assert(is_dir("sys/module/vfio_iommu_type1"));
        ck_assert_int_eq(fakesys_add_module(fs, "vfio_pci"), 0);
        ck_assert(is_dir("sys/module/vfio_pci"));
        ck_assert_int_eq(fakesys_set_hugepages(fs, 2048, 16, 8), 0);
        assert_file("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "16\n");
        assert_file("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "8\n");
        ck_assert_int_eq(fakesys_set_hugepages(fs, 2048, 1, 2), -EINVAL);
        ck_assert_int_eq(fakesys_set_osrelease(fs, "6.1.0-18-amd64"), 0);
        assert_file("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");

        ck_assert_int_eq(fakesys_add_block(fs, "0000:02:00.0", "nvme/nvme0/nvme0n1", 259, 0), 0);
        ck_assert_int_eq(fakesys_add_block(fs, "0000:02:00.0", "nvme/nvme0/nvme0n1/nvme0n1p3", 259,
                                           3),
                         0);
        assert_file("sys/dev/block/259:3/dev", "259:3\n");
        assert_file("sys/dev/block/259:3/partition", "3\n");
        ck_assert(!present("sys/dev/block/259:0/partition"));
        assert_resolves("sys/dev/block/259:3", p3);
        assert_link("sys/dev/block/259:3",
                    "../../devices/pci0000:02/0000:02:00.0/nvme/nvme0/nvme0n1/nvme0n1p3");
        ck_assert_int_eq(fakesys_add_dm(fs, "dm-0", "vg0-root", 253, 0, slaves), 0);
        assert_resolves("sys/dev/block/253:0/slaves/nvme0n1p3", p3);
        assert_resolves("sys/class/block/nvme0n1p3/holders/dm-0", "sys/devices/virtual/block/dm-0");
        assert_file("sys/devices/virtual/block/dm-0/dm/name", "vg0-root\n");
        ck_assert_int_eq(fakesys_set_root_mount(fs, 253, 0, "xfs", "/dev/mapper/vg0-root"), 0);
        assert_file("proc/self/mountinfo",
                    "26 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/vg0-root rw\n"
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
                    "rw,pagesize=2M\n");

        ck_assert_int_eq(fakesys_add_netdev(fs, "0000:00:1f.6", "eno1", "30:9c:23:0a:11:c2"), 0);
        assert_resolves("sys/class/net/eno1", "sys/devices/pci0000:00/0000:00:1f.6/net/eno1");
        assert_file("sys/class/net/eno1/address", "30:9c:23:0a:11:c2\n");
        assert_file("sys/class/net/eno1/ifindex", "2\n");
        ck_assert_int_eq(fakesys_add_route(fs, "eno1", "0.0.0.0", 0, "192.168.1.1", 100), 0);
        ck_assert_int_eq(fakesys_add_route(fs, "eno1", "192.168.1.0", 24, NULL, 100), 0);
        ck_assert_int_eq(fakesys_add_route(fs, "eno1", "300.1.1.1", 24, NULL, 100), -EINVAL);
        route = slurp("proc/net/route");
        ck_assert_ptr_nonnull(route);
        /* Three lines of 127 characters plus newline; fields as the kernel prints them. */
        ck_assert_uint_eq(strlen(route), 3 * 128);
        ck_assert(strneq(route, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask",
                         52));
        ck_assert(strneq(route + 128,
                         "eno1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0 ", 51));
        ck_assert(strneq(route + 256,
                         "eno1\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0 ", 51));

        ck_assert_int_eq(fakesys_write_interrupts(fs, true), 0);
        {
                _cleanup_free_ char *irq = slurp("proc/interrupts");

                ck_assert_ptr_nonnull(strstr(irq, "IR-IO-APIC"));
                /* 02:00.0 has requester ID 0x0200; its MSI hwirq is that << 11. */
                ck_assert_ptr_nonnull(strstr(irq, "IR-PCI-MSI 1048576-edge      nvme\n"));
        }
        ck_assert_int_eq(fakesys_write_interrupts(fs, false), 0);
        {
                _cleanup_free_ char *irq = slurp("proc/interrupts");

                ck_assert_ptr_null(strstr(irq, "IR-"));
                ck_assert_ptr_nonnull(strstr(irq, " PCI-MSI "));
        }
}
END_TEST

/* The links fakesys makes are the links the real kernel made in the QEMU snapshot. */
START_TEST(test_matches_real_kernel) {
        _cleanup_free_ char *tarball = NULL;
        FakeSys *snap = NULL;
        FakeDevice rp = dev("0000:00:04.0", NULL, 0x1b36, 0x000c, 0x060400);
        FakeDevice br = dev("0000:02:00.0", "0000:00:04.0", 0x1b36, 0x000e, 0x060400);
        FakeDevice nic = dev("0000:03:01.0", "0000:02:00.0", 0x8086, 0x100e, 0x020000);
        static const char *const links[] = {
                "sys/bus/pci/devices/0000:03:01.0",
                "sys/devices/pci0000:00/0000:00:04.0/0000:02:00.0/0000:03:01.0/driver",
                "sys/devices/pci0000:00/0000:00:04.0/0000:02:00.0/0000:03:01.0/iommu_group",
                "sys/devices/pci0000:00/0000:00:04.0/0000:02:00.0/0000:03:01.0/iommu",
                "sys/kernel/iommu_groups/6/devices/0000:03:01.0",
                "sys/devices/pci0000:00/0000:00:04.0/iommu",
        };

        ck_assert_int_ge(asprintf(&tarball, "%s/qemu-q35-vtd/sysfs-snapshot.tar.gz", data_dir()),
                         0);
        ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &snap), 0);
        ck_assert_int_eq(fakesys_untar(snap, tarball), 0);

        rp.iommu_group = 3;
        rp.iommu = "dmar0";
        br.pcie_type = FAKE_PCIE_TO_PCI_BRIDGE;
        br.iommu_group = 6;
        br.iommu = "dmar0";
        nic.driver = "e1000";
        nic.iommu_group = 6;
        nic.iommu = "dmar0";
        ck_assert_int_eq(fakesys_add_device(fs, &rp), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &br), 0);
        ck_assert_int_eq(fakesys_add_device(fs, &nic), 0);
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                char a[PATH_MAX], b[PATH_MAX];
                _cleanup_free_ char *pa = NULL, *pb = NULL;
                ssize_t na, nb;

                ck_assert_int_ge(asprintf(&pa, "%s/%s", fakesys_root(snap), links[i]), 0);
                ck_assert_int_ge(asprintf(&pb, "%s/%s", root, links[i]), 0);
                na = readlink(pa, a, sizeof(a) - 1);
                nb = readlink(pb, b, sizeof(b) - 1);
                ck_assert_msg(na > 0 && nb > 0, "%s: missing", links[i]);
                a[na] = b[nb] = 0;
                ck_assert_str_eq(b, a);
        }
        /* The same tree edited after unpacking: fakesys finds devices through their links. */
        ck_assert_int_eq(fakesys_bind(snap, "0000:03:02.0", "vfio-pci"), 0);
        ck_assert_int_eq(fakesys_remove_device(snap, "0000:02:00.0"), 0);
        ck_assert(!fakesys_device_exists(snap, "0000:03:01.0"));
        ck_assert(!fakesys_exists(snap, "sys/kernel/iommu_groups/6"));
        ck_assert(fakesys_exists(snap, "sys/kernel/iommu_groups/5"));
        fakesys_free(snap);
}
END_TEST

/* ---- hostspec ---- */

static int apply_string(const char *text, char **ret_error) {
        return hostspec_apply_string(fs, text, data_dir(), ret_error);
}

/* netdev= on a device line: the device's netdev with the ifindex given, else the lowest free
 * one from 100 up (where the kernel model's rtnetlink looks for PFs). */
START_TEST(test_spec_netdev_key) {
        static const char *const expected[][2] = {
                { "sys/class/net/eno1/ifindex", "100\n" },
                { "sys/class/net/eno2/ifindex", "101\n" },
                { "sys/class/net/eno3/ifindex", "7\n" },
                { "sys/bus/pci/devices/0000:00:1a.0/net/eno2/ifindex", "101\n" },
        };
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(
                apply_string("device 00:19.0 vendor=0x8086 device=1 class=0x020000 netdev=eno1 "
                             "ifindex=100\n"
                             "device 00:1a.0 vendor=0x8086 device=1 class=0x020000 netdev=eno2\n"
                             "device 00:1b.0 vendor=0x8086 device=1 class=0x020000 ifindex=7 "
                             "netdev=eno3\n",
                             &error),
                0);
        ck_assert_ptr_null(error);
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(fakesys_read_file(fs, expected[i][0], &v, NULL), 0);
                ck_assert_str_eq(v, expected[i][1]);
        }
}
END_TEST

START_TEST(test_spec_errors) {
        static const struct {
                const char *text, *error;
        } cases[] = {
                { "# c\n\nbogus 1\n", "<string>:3: unknown directive \"bogus\"" },
                { "device 0000:01:00.0 parent=00:01.0 vendor=0x8086 device=1 class=0x020000\n",
                  "<string>:1: device 0000:01:00.0: parent 0000:00:01.0 does not exist "
                  "(declare it first)" },
                { "device 00:02.0 vendor=0x8086 device=1 class=0x030000 colour=red\n",
                  "<string>:1: device 0000:00:02.0: unknown key \"colour\"" },
                { "device 00:02.0 vendor=0x18086 device=1 class=0x030000\n",
                  "<string>:1: device 0000:00:02.0: bad value for vendor: \"0x18086\"" },
                { "device 00:02.0 vendor=0x8086 class=0x030000\n",
                  "<string>:1: device 0000:00:02.0: vendor=, device= and class= are required" },
                { "device 00:19.0 vendor=0x8086 device=1 class=0x020000 boot_vga=1\n",
                  "<string>:1: device 0000:00:19.0: boot_vga only exists on VGA (class 0x0300xx)" },
                { "device 00:19.0 vendor=0x8086 device=1 class=0x020000\n"
                  "device 01:00.0 parent=00:19.0 vendor=0x8086 device=1 class=0x020000\n",
                  "<string>:2: device 0000:01:00.0: parent 0000:00:19.0 is not a bridge" },
                { "attr 00:18.0 vendor 1\n", "<string>:1: attr: no device 0000:00:18.0" },
                { "device 00:19.0 vendor=0x8086 reset=\"flr bus class=1\n",
                  "<string>:1: unterminated quote or bad escape" },
                { "scope type=endpoint path=14.0\n", "<string>:1: scope before a dmar line" },
                { "dmar width=39\nrmrr base=0x2000 limit=0x1000\n",
                  "<string>:2: rmrr: Invalid argument" },
                { "dmar\ndrhd base=1\nscope type=endpoint path=20.0\n",
                  "<string>:3: scope: bad path hop \"20.0\"" },
                { "group 3 type=DMA\n",
                  "<string>:1: group 3: no such group (put a device in it first)" },
                { "route default dev\n", "<string>:1: route: wrong number of arguments" },
                { "route 10.0.0.0 dev eth0\n",
                  "<string>:1: route: destination is default or NET/LEN, not \"10.0.0.0\"" },
                { "copy nothing/here sys/x\n", NULL /* checked by prefix below */ },
                { "file ../x y\n", "<string>:1: file: bad path \"../x\"" },
                { "osrelease\n", "<string>:1: osrelease: wrong number of arguments" },
                { "device 00:1c.0 vendor=0x8086 device=1 class=0x020000 ifindex=3\n",
                  "<string>:1: device 0000:00:1c.0: ifindex= needs netdev=" },
                { "device 00:1d.0 vendor=0x8086 device=1 class=0x020000 netdev=x ifindex=0\n",
                  "<string>:1: device 0000:00:1d.0: bad value for ifindex: \"0\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *error = NULL;

                ck_assert_int_lt(apply_string(cases[i].text, &error), 0);
                ck_assert_msg(error, "case %zu: no error text", i);
                if (cases[i].error)
                        ck_assert_str_eq(error, cases[i].error);
                else
                        ck_assert_msg(strneq(error, "<string>:1: copy ", 17) &&
                                              strstr(error, "No such file or directory"),
                                      "%s", error);
        }
        /* A spec that includes itself stops at the depth limit. */
        {
                char dir[] = "/tmp/test-fakesys-spec.XXXXXX";
                _cleanup_free_ char *spec = NULL, *error = NULL;
                FILE *f;

                ck_assert_ptr_nonnull(mkdtemp(dir));
                ck_assert_int_ge(asprintf(&spec, "%s/loop.host", dir), 0);
                f = fopen(spec, "we");
                ck_assert_ptr_nonnull(f);
                fputs("# loops\ninclude loop.host\n", f);
                fclose(f);
                ck_assert_int_eq(hostspec_apply(fs, spec, &error), -ELOOP);
                ck_assert_ptr_nonnull(strstr(error,
                                             "loop.host:2: include loop.host: nested deeper"));
                ck_assert_int_eq(unlink(spec), 0);
                ck_assert_int_eq(rmdir(dir), 0);
                free(error);
                error = NULL;
                ck_assert_int_eq(hostspec_apply(fs, "/nonexistent/x.host", &error), -ENOENT);
                ck_assert_str_eq(error, "/nonexistent/x.host: No such file or directory");
                free(error);
                error = NULL;
                ck_assert_int_eq(apply_string("\ninclude no/such.host\n", &error), -ENOENT);
                ck_assert_str_eq(error, "<string>:2: include no/such.host: No such file or "
                                        "directory");
        }
}
END_TEST

START_TEST(test_spec_directives) {
        _cleanup_free_ char *error = NULL;
        const char *text =
                "device 0000:00:1c.0 vendor=0x8086 device=0xa338 class=0x060400 "
                "driver=pcieport group=4\n"
                "device 03:00.0 parent=00:1c.0 vendor=0x8086 device=0x1533 class=0x020000 "
                "driver=igb reset=\"flr bus\" numa=0 group=8 irq=17   # trailing comment\n"
                "attr 03:00.0 label \"Onboard \\\"LAN\\\"\"\n"
                "bind 03:00.0 vfio-pci\n"
                "vfio-dev 03:00.0 2\n"
                "group 8 type=DMA-FQ region=0x1000-0x1fff:direct-relaxable\n"
                "file etc/motd \"a\\tb\\n\"\n"
                "symlink sys/x ../nowhere\n"
                "mkdir proc/self/fd\n"
                "devnode vfio/vfio\n"
                "hugepages 2048 nr=4 free=2\n"
                "param vfio_iommu_type1 dma_entry_limit 65535\n"
                "driver pci-stub\n"
                "dmar width=39 flags=0x01\n"
                "drhd flags=0x01 segment=0 base=0xfed91000\n"
                "scope type=ioapic id=2 bus=0xf0 path=1f.0\n";

        ck_assert_int_eq(apply_string(text, &error), 0);
        ck_assert_ptr_null(error);
        assert_file("sys/bus/pci/devices/0000:03:00.0/reset_method", "flr bus\n");
        assert_file("sys/bus/pci/devices/0000:03:00.0/label", "Onboard \"LAN\"\n");
        assert_file("sys/bus/pci/devices/0000:03:00.0/irq", "17\n");
        assert_resolves("sys/bus/pci/devices/0000:03:00.0/driver", "sys/bus/pci/drivers/vfio-pci");
        assert_file("sys/bus/pci/devices/0000:03:00.0/vfio-dev/vfio2/dev", "511:2\n");
        assert_file("sys/kernel/iommu_groups/8/type", "DMA-FQ\n");
        assert_file("sys/kernel/iommu_groups/8/reserved_regions",
                    "0x0000000000001000 0x0000000000001fff direct-relaxable\n"
                    "0x00000000fee00000 0x00000000feefffff msi\n");
        assert_file("etc/motd", "a\tb\n");
        assert_link("sys/x", "../nowhere");
        ck_assert(is_dir("proc/self/fd"));
        assert_file("dev/vfio/vfio", "");
        assert_file("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "2\n");
        assert_file("sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "65535\n");
        ck_assert(present("sys/bus/pci/drivers/pci-stub/bind"));
        /* The DMAR is written at the end: header, one DRHD with one 8-byte scope. */
        {
                _cleanup_free_ char *t = NULL;
                size_t n;

                ck_assert_int_eq(fakesys_read_file(fs, "sys/firmware/acpi/tables/DMAR", &t, &n), 0);
                ck_assert_uint_eq(n, 48 + 16 + 8);
                ck_assert(strneq(t, "DMAR", 4));
                ck_assert_uint_eq((uint8_t) t[36], 38);
                ck_assert_uint_eq((uint8_t) t[37], 0x01);
                ck_assert_uint_eq((uint8_t) t[48], 0);
                ck_assert_uint_eq((uint8_t) t[64], 3);
        }
}
END_TEST

/* Walks a DMAR table: counts remapping structures by type; for RMRRs, notes endpoint scopes
 * by (start bus, dev, fn) of single-hop paths in *rmrr_endpoints as "bb:dd.f " words. */
static void dmar_walk(const uint8_t *t, size_t n, unsigned counts[8], char *rmrr_endpoints,
                      size_t size) {
        ck_assert_uint_ge(n, 48);
        ck_assert(memcmp(t, "DMAR", 4) == 0);
        ck_assert_uint_eq((size_t) (t[4] | t[5] << 8 | t[6] << 16 | (size_t) t[7] << 24), n);
        for (size_t off = 48; off + 4 <= n;) {
                unsigned type = t[off] | t[off + 1] << 8, len = t[off + 2] | t[off + 3] << 8;

                ck_assert_uint_ge(len, 4);
                ck_assert_uint_le(off + len, n);
                counts[MIN(type, 7u)]++;
                if (type == 1)
                        for (size_t s = off + 24; s + 6 <= off + len; s += t[s + 1]) {
                                ck_assert_uint_ge(t[s + 1], 6);
                                if (t[s] == 1 && t[s + 1] == 8)
                                        snprintf(rmrr_endpoints + strlen(rmrr_endpoints),
                                                 size - strlen(rmrr_endpoints), "%02x:%02x.%x ",
                                                 t[s + 5], t[s + 6], t[s + 7]);
                        }
                off += len;
        }
}

static void load_host(const char *name) {
        _cleanup_free_ char *spec = NULL, *error = NULL;
        int r;

        ck_assert_int_ge(asprintf(&spec, "%s/hosts/%s.host", data_dir(), name), 0);
        r = hostspec_apply(fs, spec, &error);
        ck_assert_msg(r == 0, "%s: %s", name, strna(error));
}

static void check_dmar(unsigned flags, const unsigned expected[8], const char *rmrr_endpoints) {
        _cleanup_free_ char *t = NULL;
        unsigned counts[8] = { 0 };
        char eps[256] = "";
        uint8_t sum = 0;
        size_t n;

        ck_assert_int_eq(fakesys_read_file(fs, "sys/firmware/acpi/tables/DMAR", &t, &n), 0);
        for (size_t i = 0; i < n; i++)
                sum = (uint8_t) (sum + (uint8_t) t[i]);
        ck_assert_uint_eq(sum, 0);
        ck_assert_uint_eq((uint8_t) t[37], flags);
        dmar_walk((const uint8_t *) t, n, counts, eps, sizeof(eps));
        for (int i = 0; i < 8; i++)
                ck_assert_msg(counts[i] == expected[i], "type %d: %u structures, expected %u", i,
                              counts[i], expected[i]);
        ck_assert_str_eq(eps, rmrr_endpoints);
}

static const char *const sample_hosts[] = {
        "qemu-q35-vtd", "qemu-q35-vtd-intremap-off", "workstation", "server", "no-ir", "amd",
        "no-iommu",
};

/* Every sample host: materialises, and every link in its tree resolves inside the tree. */
START_TEST(test_sample_materialises) {
        _cleanup_strv_free_ char **queue = NULL;
        size_t links = 0;

        load_host(sample_hosts[_i]);
        ck_assert_int_eq(strv_extend(&queue, "sys"), 0);
        for (size_t q = 0; q < strv_length(queue); q++) {
                _cleanup_free_ char *p = at(queue[q]);
                _cleanup_closedir_ DIR *d = opendir(p);
                struct dirent *de;

                ck_assert_msg(d, "%s: %m", queue[q]);
                while ((de = readdir(d))) {
                        _cleanup_free_ char *rel = NULL;

                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        ck_assert_int_ge(asprintf(&rel, "%s/%s", queue[q], de->d_name), 0);
                        if (de->d_type == DT_LNK) {
                                _cleanup_free_ char *r = real(rel);

                                /* The bus's own driver dirs may be empty; nothing dangles. */
                                ck_assert_msg(r, "%s: %s dangles", sample_hosts[_i], rel);
                                links++;
                        } else if (de->d_type == DT_DIR)
                                ck_assert_int_eq(strv_extend(&queue, rel), 0);
                }
        }
        ck_assert_uint_gt(links, 20);
}
END_TEST

START_TEST(test_sample_workstation) {
        static const unsigned dmar[8] = { 2, 2, 0, 0, 0, 0, 0, 0 };

        load_host("workstation");
        assert_names("sys/kernel/iommu_groups", "0 1 2 3 4 5 6 7 8 9");
        assert_names("sys/kernel/iommu_groups/7/devices", "0000:01:00.0 0000:01:00.1");
        assert_names("sys/kernel/iommu_groups/6/devices",
                     "0000:00:1f.0 0000:00:1f.3 0000:00:1f.4 0000:00:1f.5 0000:00:1f.6");
        assert_names("sys/kernel/iommu_groups/8/devices", "0000:03:00.0");
        assert_resolves("sys/kernel/iommu_groups/7/devices/0000:01:00.1",
                        "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.1");
        assert_resolves("sys/bus/pci/devices/0000:01:00.0/driver", "sys/bus/pci/drivers/nouveau");
        assert_resolves("sys/bus/pci/devices/0000:00:01.0/driver", "sys/bus/pci/drivers/pcieport");
        assert_file("sys/bus/pci/devices/0000:00:02.0/boot_vga", "1\n");
        assert_file("sys/bus/pci/devices/0000:01:00.0/boot_vga", "0\n");
        assert_file("sys/bus/pci/devices/0000:01:00.0/class", "0x030000\n");
        assert_file("sys/bus/pci/devices/0000:01:00.1/class", "0x040300\n");
        assert_file("sys/bus/pci/devices/0000:01:00.0/reset_method", "flr bus\n");
        assert_file("sys/bus/pci/devices/0000:01:00.1/reset_method", "flr\n");
        assert_file("sys/bus/pci/devices/0000:00:14.0/reset_method", "pm\n");
        assert_file("sys/bus/pci/devices/0000:02:00.0/reset_method", "flr\n");
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:01:00.0", 0x0e), 0x80);
        /* The RMRR-locked USB controller: a direct (not relaxable) region, and a DMAR RMRR
         * whose endpoint scope names 00:14.0. */
        assert_file("sys/kernel/iommu_groups/3/reserved_regions",
                    "0x000000003a9e7000 0x000000003aa06fff direct\n"
                    "0x00000000fee00000 0x00000000feefffff msi\n");
        check_dmar(0x01, dmar, "00:14.0 00:02.0 ");
        assert_file("sys/class/iommu/dmar1/intel-iommu/ecap", "f050da\n");
        /* "/" on nvme0n1p2 below the NVMe; the default route on eno1 = 00:1f.6. */
        {
                _cleanup_free_ char *mi = slurp("proc/self/mountinfo");

                ck_assert(strneq(mi, "26 1 259:2 / / ", 15));
        }
        assert_resolves("sys/dev/block/259:2",
                        "sys/devices/pci0000:00/0000:00:1d.0/0000:02:00.0/nvme/nvme0/nvme0n1/"
                        "nvme0n1p2");
        assert_resolves("sys/class/net/eno1", "sys/devices/pci0000:00/0000:00:1f.6/net/eno1");
        {
                _cleanup_free_ char *route = slurp("proc/net/route");

                ck_assert(strneq(route + 128, "eno1\t00000000\t0101A8C0\t0003\t", 27));
        }
        ck_assert(present("dev/vfio/vfio"));
        assert_file("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n");
}
END_TEST

START_TEST(test_sample_server) {
        static const unsigned dmar[8] = { 2, 0, 1, 2, 0, 0, 0, 0 };

        load_host("server");
        for (int i = 0; i < 4; i++) {
                char l[128], vf[128], g[64];

                snprintf(l, sizeof(l), "sys/bus/pci/devices/0000:3b:00.0/virtfn%d", i);
                snprintf(vf, sizeof(vf), "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:02.%d", i);
                assert_resolves(l, vf);
                snprintf(l, sizeof(l), "sys/bus/pci/devices/0000:3b:02.%d/physfn", i);
                assert_resolves(l, "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0");
                snprintf(g, sizeof(g), "sys/kernel/iommu_groups/%d/devices", 11 + i);
                {
                        _cleanup_free_ char *n = names(g);
                        char expected[32];

                        snprintf(expected, sizeof(expected), "0000:3b:02.%d", i);
                        ck_assert_str_eq(n, expected);
                }
        }
        assert_file("sys/bus/pci/devices/0000:3b:00.0/sriov_totalvfs", "64\n");
        assert_file("sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs", "4\n");
        assert_file("sys/bus/pci/devices/0000:3b:02.0/device", "0x154c\n");
        ck_assert(!present("sys/bus/pci/devices/0000:3b:02.2/driver"));
        assert_resolves("sys/bus/pci/devices/0000:3b:02.0/driver", "sys/bus/pci/drivers/iavf");
        /* Bridge + two conventional devices in one group, like the QEMU one. */
        assert_names("sys/kernel/iommu_groups/8/devices", "0000:86:00.0 0000:87:04.0 0000:87:05.0");
        assert_names("sys/kernel/iommu_groups/7/devices", "0000:85:00.0");
        ck_assert_int_eq(file_size("sys/bus/pci/devices/0000:87:04.0/config"), 256);
        assert_file("sys/bus/pci/devices/0000:d8:00.0/numa_node", "1\n");
        assert_file("sys/bus/pci/devices/0000:3b:00.0/numa_node", "0\n");
        /* "/" is dm-0 whose slave is nvme0n1p3 on the NVMe; the default route on ens1f1. */
        {
                _cleanup_free_ char *mi = slurp("proc/self/mountinfo");

                ck_assert(strneq(mi, "26 1 253:0 / / ", 15));
        }
        assert_resolves("sys/dev/block/253:0/slaves/nvme0n1p3",
                        "sys/devices/pci0000:d7/0000:d7:00.0/0000:d8:00.0/nvme/nvme0/nvme0n1/"
                        "nvme0n1p3");
        assert_resolves("sys/class/net/ens1f1",
                        "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.1/net/ens1f1");
        check_dmar(0x01, dmar, "");
        assert_names("sys/class/iommu", "dmar0 dmar1");
}
END_TEST

START_TEST(test_sample_qemu) {
        static const char *const variants[][3] = {
                { "qemu-q35-vtd", "DMAR-qemu72-q35-intremap-on.bin", "f00f4a\n" },
                { "qemu-q35-vtd-intremap-off", "DMAR-qemu72-q35-intremap-off.bin", "f42\n" },
        };
        _cleanup_free_ char *bin = NULL, *expected = NULL, *actual = NULL;
        size_t n_expected, n_actual;
        FakeSys *ref = NULL;

        load_host(variants[_i][0]);
        /* The table is the one QEMU gave the guest, byte for byte. */
        ck_assert_int_ge(asprintf(&bin, "%s/qemu-q35-vtd/%s", data_dir(), variants[_i][1]), 0);
        ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &ref), 0);
        ck_assert_int_eq(fakesys_copy_file(ref, bin, "t"), 0);
        ck_assert_int_eq(fakesys_read_file(ref, "t", &expected, &n_expected), 0);
        fakesys_free(ref);
        ck_assert_int_eq(fakesys_read_file(fs, "sys/firmware/acpi/tables/DMAR", &actual, &n_actual),
                         0);
        ck_assert_uint_eq(n_actual, n_expected);
        ck_assert(memcmp(actual, expected, n_actual) == 0);
        assert_file("sys/class/iommu/dmar0/intel-iommu/ecap", variants[_i][2]);
        /* The snapshot's facts, untouched. */
        assert_names("sys/kernel/iommu_groups/6/devices", "0000:02:00.0 0000:03:01.0 0000:03:02.0");
        assert_names("sys/kernel/iommu_groups/4/devices", "0000:00:1f.0 0000:00:1f.2 0000:00:1f.3");
        assert_file("sys/kernel/iommu_groups/4/reserved_regions",
                    "0x0000000000000000 0x0000000000ffffff direct-relaxable\n"
                    "0x00000000fee00000 0x00000000feefffff msi\n");
        assert_file("sys/bus/pci/devices/0000:03:01.0/reset_method", "bus\n");
        ck_assert(!present("sys/bus/pci/devices/0000:03:01.0/config"));
        /* What was added: the unit the iommu links point at, back links, module parameters. */
        assert_resolves("sys/bus/pci/devices/0000:00:02.0/iommu",
                        "sys/devices/virtual/iommu/dmar0");
        assert_resolves("sys/class/iommu/dmar0", "sys/devices/virtual/iommu/dmar0");
        assert_resolves("sys/bus/pci/drivers/e1000/0000:03:02.0",
                        "sys/devices/pci0000:00/0000:00:04.0/0000:02:00.0/0000:03:02.0");
        assert_names("sys/bus/pci/drivers/vfio-pci", "bind new_id remove_id unbind");
        assert_file("sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "65535\n");
}
END_TEST

START_TEST(test_sample_no_ir) {
        static const unsigned dmar[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
        _cleanup_free_ char *ecap = NULL, *irq = NULL;
        unsigned long v;

        load_host("no-ir");
        check_dmar(0x00, dmar, "");
        ecap = slurp("sys/class/iommu/dmar0/intel-iommu/ecap");
        ck_assert_ptr_nonnull(ecap);
        v = strtoul(ecap, NULL, 16);
        ck_assert_uint_eq(v & (1u << 3), 0);
        assert_file("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n");
        irq = slurp("proc/interrupts");
        ck_assert_ptr_null(strstr(irq, "IR-"));
}
END_TEST

START_TEST(test_sample_amd) {
        _cleanup_free_ char *t = NULL;
        uint8_t sum = 0;
        size_t n;

        load_host("amd");
        ck_assert(!present("sys/firmware/acpi/tables/DMAR"));
        ck_assert_int_eq(fakesys_read_file(fs, "sys/firmware/acpi/tables/IVRS", &t, &n), 0);
        ck_assert(strneq(t, "IVRS", 4));
        ck_assert_uint_eq((uint8_t) t[4], n);
        for (size_t i = 0; i < n; i++)
                sum = (uint8_t) (sum + (uint8_t) t[i]);
        ck_assert_uint_eq(sum, 0);
        assert_names("sys/class/iommu", "ivhd0");
        assert_resolves("sys/class/iommu/ivhd0", "sys/devices/pci0000:00/0000:00:00.2/iommu/ivhd0");
        assert_resolves("sys/bus/pci/devices/0000:0a:00.0/iommu",
                        "sys/devices/pci0000:00/0000:00:00.2/iommu/ivhd0");
        ck_assert(present("sys/class/iommu/ivhd0/amd-iommu/features"));
        ck_assert(!present("sys/bus/pci/devices/0000:00:00.2/iommu_group"));
        assert_names("sys/kernel/iommu_groups/10/devices", "0000:0a:00.0 0000:0a:00.1");
        assert_resolves(
                "sys/bus/pci/devices/0000:0a:00.0",
                "sys/devices/pci0000:00/0000:00:03.1/0000:08:00.0/0000:09:00.0/0000:0a:00.0");
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:08:00.0", 0x42) >> 4, 5);
        ck_assert_uint_eq(config_byte("sys/bus/pci/devices/0000:09:00.0", 0x42) >> 4, 6);
        assert_file("sys/kernel/iommu_groups/10/reserved_regions",
                    "0x00000000fee00000 0x00000000feefffff msi\n"
                    "0x000000fd00000000 0x000000ffffffffff reserved\n");
}
END_TEST

START_TEST(test_sample_no_iommu) {
        _cleanup_free_ char *list = NULL;

        load_host("no-iommu");
        ck_assert(!present("sys/firmware/acpi/tables/DMAR"));
        ck_assert(!present("sys/firmware/acpi/tables/IVRS"));
        ck_assert(!present("sys/class/iommu"));
        ck_assert(!present("sys/kernel/iommu_groups"));
        list = names("sys/bus/pci/devices");
        ck_assert_ptr_nonnull(list);
        ck_assert_uint_ge(strlen(list), 10 * 13);
        for (char *save = NULL, *b = strtok_r(list, " ", &save); b;
             b = strtok_r(NULL, " ", &save)) {
                char p[128];

                snprintf(p, sizeof(p), "sys/bus/pci/devices/%s/iommu_group", b);
                ck_assert_msg(!present(p), "%s", p);
                snprintf(p, sizeof(p), "sys/bus/pci/devices/%s/iommu", b);
                ck_assert_msg(!present(p), "%s", p);
        }
        assert_file("sys/bus/pci/devices/0000:00:02.0/boot_vga", "1\n");
}
END_TEST

/* tests/mkhost: exit 0 and a tree, or exit 1 and the spec line on stderr. */
START_TEST(test_mkhost) {
        const char *mkhost = getenv("MKHOST");
        char dir[] = "/tmp/test-fakesys-mkhost.XXXXXX";
        _cleanup_free_ char *cmd = NULL, *bad = NULL, *err = NULL, *out = NULL;
        FILE *f;
        int status;

        if (isempty(mkhost) || access(mkhost, X_OK) < 0)
                mkhost = "tests/mkhost";
        if (access(mkhost, X_OK) < 0)
                return; /* not built next to us: covered when run by make check */
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(asprintf(&out, "%s/root", dir), 0);
        ck_assert_int_ge(asprintf(&cmd, "'%s' '%s/hosts/workstation.host' '%s'", mkhost, data_dir(),
                                  out),
                         0);
        status = system(cmd);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "'%s' '%s/hosts/workstation.host' '%s' 2>/dev/null", mkhost,
                                  data_dir(), out),
                         0);
        status = system(cmd); /* DIR not empty now */
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        ck_assert_int_ge(asprintf(&bad, "%s/bad.host", dir), 0);
        ck_assert_int_ge(asprintf(&err, "%s/err", dir), 0);
        f = fopen(bad, "we");
        ck_assert_ptr_nonnull(f);
        fputs("osrelease 6.1\nfrobnicate\n", f);
        fclose(f);
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "'%s' '%s' '%s/other' 2>'%s'", mkhost, bad, dir, err), 0);
        status = system(cmd);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd,
                                  "grep -qxF 'mkhost: %s:2: unknown directive "
                                  "\"frobnicate\"' '%s'",
                                  bad, err),
                         0);
        ck_assert_int_eq(system(cmd), 0);
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("fakesys");
        TCase *tc;

        tc = tcase_create("fakesys");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_new_and_free);
        tcase_add_test(tc, test_device_shapes);
        tcase_add_test(tc, test_nested_bridges);
        tcase_add_test(tc, test_add_errors);
        tcase_add_test(tc, test_bind_unbind);
        tcase_add_test(tc, test_groups);
        tcase_add_test(tc, test_sriov);
        tcase_add_test(tc, test_remove_subtree);
        tcase_add_test(tc, test_iommu_units);
        tcase_add_test(tc, test_host_facts);
        tcase_add_test(tc, test_matches_real_kernel);
        suite_add_tcase(s, tc);

        tc = tcase_create("hostspec");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_spec_errors);
        tcase_add_test(tc, test_spec_netdev_key);
        tcase_add_test(tc, test_spec_directives);
        tcase_add_loop_test(tc, test_sample_materialises, 0, ELEMENTSOF(sample_hosts));
        tcase_add_test(tc, test_sample_workstation);
        tcase_add_test(tc, test_sample_server);
        tcase_add_loop_test(tc, test_sample_qemu, 0, 2);
        tcase_add_test(tc, test_sample_no_ir);
        tcase_add_test(tc, test_sample_amd);
        tcase_add_test(tc, test_sample_no_iommu);
        tcase_add_test(tc, test_mkhost);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
