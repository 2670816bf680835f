/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvfio-mock.so: every kernel behaviour the model promises, checked with plain syscalls
 * (openat relative to a root fd, write, readlinkat, ioctl) on a fakesys tree, in a process that
 * runs under the preload. main() re-execs itself with LD_PRELOAD when it is not preloaded yet.
 *
 * Each test builds its tree with the model off (VFIO_MOCK_ROOT unset: fakesys' own writes must
 * not look like kernel writes), then switches it on. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "binding.h"
#include "fakesys.h"
#include "macro.h"
#include "sysfs.h"
#include "util.h"
#include "vfio.h"
#include "vfnet.h"
#include "nlmsg.h"
#include "mock-observe.h"

#include "test-mock-lib.h"

/* ---- activation ---- */

START_TEST(test_inactive_passes_through) {
        _cleanup_free_ char *outside = NULL;
        int fd;

        /* Off: a write is a write. */
        mock_off();
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "vfio-pci"), 0);
        assert_file(DEVS NVME "/driver_override", "vfio-pci");
        ck_assert_int_eq(wr(PROBE, NVME), 0);
        assert_driver(NVME, "nvme");
        /* The real "/" is never a model root. */
        ck_assert_int_eq(setenv("VFIO_MOCK_ROOT", "/", 1), 0);
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "xxxxxxxx"), 0);
        assert_file(DEVS NVME "/driver_override", "xxxxxxxx");
        ck_assert_int_eq(attr_wr(NVME, "driver/unbind", NVME), 0);
        assert_driver(NVME, "nvme");

        /* On: files outside the root, and files in it that are not kernel interfaces, are
         * plain files. */
        mock_on();
        ck_assert_int_ge(asprintf(&outside, "%s/driver_override", tmpdir), 0);
        fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "xyz", 3), 3);
        ck_assert_int_eq(close(fd), 0);
        fd = open(outside, O_RDONLY | O_CLOEXEC);
        {
                char b[8] = {};

                ck_assert_int_eq(read(fd, b, sizeof(b)), 3);
                ck_assert_str_eq(b, "xyz");
        }
        close(fd);
        unlink(outside);
        ck_assert_int_eq(attr_wr(NVME, "numa_node", "12\n"), 0);
        assert_file(DEVS NVME "/numa_node", "12\n");
        expect_events("");
}
END_TEST

/* ---- driver_override ---- */

START_TEST(test_driver_override) {
        char big[5000];

        ck_assert_int_eq(attr_wr(NVME, "driver_override", "vfio-pci"), 0);
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "\n"), 0);
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "pci-stub\n"), 0);
        assert_file(DEVS NVME "/driver_override", "pci-stub\n");
        /* An empty string clears too (a NUL, as Python writes it); an empty write() never
         * reaches the attribute. The value ends at the first newline. */
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "vfio-pci"), 0);
        ck_assert_int_eq(wr_bytes(DEVS NVME "/driver_override", "", 0), 0);
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        ck_assert_int_eq(wr_bytes(DEVS NVME "/driver_override", "\0\0", 2), 0);
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "vfio-pci\nrest"), 0);
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        memset(big, 'a', sizeof(big));
        ck_assert_int_eq(wr_bytes(DEVS NVME "/driver_override", big, sizeof(big)), -EINVAL);
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");

        config(NVME " override-eio\n");
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "\n"), -EIO);
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        /* Other devices are not affected, and the file is re-read on every write. */
        ck_assert_int_eq(attr_wr(NIC0, "driver_override", "vfio-pci"), 0);
        config("# nothing\n");
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "\n"), 0);
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        /* Overrides bind nothing by themselves and send no uevent. */
        assert_driver(NVME, "nvme");
        expect_events("");
}
END_TEST

/* ---- unbind ---- */

START_TEST(test_unbind) {
        ck_assert_int_eq(attr_wr(NIC0, "driver/unbind", NIC0), 0);
        assert_driver(NIC0, "");
        ck_assert(!back_link("e1000e", NIC0));
        assert_driver(NIC1, "e1000e");
        ck_assert(back_link("e1000e", NIC1));
        assert_file(DEVS NIC0 "/enable", "0\n");
        expect_events("unbind " NIC0 "\n");

        /* The driver link went with it; the driver's own file refuses a device it lacks. */
        ck_assert_int_eq(attr_wr(NIC0, "driver/unbind", NIC0), -ENOENT);
        ck_assert_int_eq(drv_wr("e1000e", "unbind", NIC0), -ENODEV);
        ck_assert_int_eq(drv_wr("e1000e", "unbind", "0000:09:00.0"), -ENODEV);
        ck_assert_int_eq(drv_wr("e1000e", "unbind", "01:00.1"), -ENODEV);
        ck_assert_int_eq(drv_wr("nvme", "unbind", NIC1), -ENODEV);
        assert_driver(NIC1, "e1000e");

        config(NIC1 " unbind-ebusy\n");
        ck_assert_int_eq(drv_wr("e1000e", "unbind", NIC1 "\n"), -EBUSY);
        assert_driver(NIC1, "e1000e");
        config("");
        ck_assert_int_eq(drv_wr("e1000e", "unbind", NIC1 "\n"), 0);
        assert_driver(NIC1, "");
        expect_events("unbind " NIC1 "\n");
}
END_TEST

/* ---- bind ---- */

START_TEST(test_bind) {
        ck_assert_int_eq(attr_wr(NIC0, "driver/unbind", NIC0), 0);
        /* The natural driver matches without an override. */
        ck_assert_int_eq(drv_wr("e1000e", "bind", NIC0 "\n"), 0);
        assert_driver(NIC0, "e1000e");
        ck_assert(back_link("e1000e", NIC0));
        assert_file(DEVS NIC0 "/enable", "1\n");
        ck_assert_int_eq(drv_wr("e1000e", "bind", NIC0), -EBUSY);
        expect_events("unbind " NIC0 "\nbind " NIC0 "\n");

        /* Another driver does not match. */
        ck_assert_int_eq(drv_wr("e1000e", "unbind", NIC0), 0);
        ck_assert_int_eq(drv_wr("igb", "bind", NIC0), -ENODEV);
        ck_assert_int_eq(drv_wr("e1000e", "bind", "0000:09:00.0"), -ENODEV);
        /* With an override only the override matches; vfio-pci is not loaded yet. */
        ck_assert_int_eq(attr_wr(NIC0, "driver_override", "vfio-pci"), 0);
        ck_assert_int_eq(drv_wr("e1000e", "bind", NIC0), -ENODEV);
        ck_assert_int_eq(drv_wr("vfio-pci", "bind", NIC0), -ENOENT);
        assert_driver(NIC0, "");
        ck_assert_int_eq(attr_wr(NIC0, "driver_override", "\n"), 0);

        config(NIC0 " bind-fails\n");
        ck_assert_int_eq(drv_wr("e1000e", "bind", NIC0), -ENODEV);
        assert_driver(NIC0, "");
        ck_assert(!back_link("e1000e", NIC0));
        config("");
        ck_assert_int_eq(drv_wr("e1000e", "bind", NIC0), 0);
        assert_driver(NIC0, "e1000e");
        expect_events("unbind " NIC0 "\nbind " NIC0 "\n");
}
END_TEST

/* ---- drivers_probe ---- */

START_TEST(test_drivers_probe_override) {
        ck_assert(!exists(DRVS "vfio-pci"));
        ck_assert(!exists("dev/vfio/vfio"));
        to_vfio(NVME);
        /* Probing loaded vfio-pci: its driver directory, the cdev, the group and container
         * nodes. vfio-pci does not enable the device. */
        ck_assert(exists(DRVS "vfio-pci/bind"));
        ck_assert(back_link("vfio-pci", NVME));
        assert_file(DEVS NVME "/vfio-dev/vfio0/dev", "511:0\n");
        assert_file(DEVS NVME "/enable", "0\n");
        ck_assert(exists("dev/vfio/vfio"));
        ck_assert(exists("dev/vfio/4"));
        ck_assert(exists("dev/vfio/devices/vfio0"));
        expect_events("unbind " NVME "\nbind " NVME "\n");

        /* Bound devices are left alone; success, nothing happens. */
        ck_assert_int_eq(wr(PROBE, NVME), 0);
        ck_assert_int_eq(wr(PROBE, NIC0), 0);
        assert_driver(NIC0, "e1000e");
        expect_events("");

        /* Back: clear, unbind vfio-pci, probe finds the natural driver. */
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "\n"), 0);
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), 0);
        ck_assert(!exists(DEVS NVME "/vfio-dev"));
        ck_assert(!exists("dev/vfio/4"));
        ck_assert(!exists("dev/vfio/devices/vfio0"));
        ck_assert(exists("dev/vfio/vfio"));
        ck_assert_int_eq(wr(PROBE, NVME "\n"), 0);
        assert_driver(NVME, "nvme");
        expect_events("unbind " NVME "\nbind " NVME "\n");
}
END_TEST

START_TEST(test_drivers_probe_nothing_matches) {
        /* No natural driver and no override: success, nothing binds. */
        ck_assert_int_eq(wr(PROBE, SPARE), 0);
        assert_driver(SPARE, "");
        /* An override naming a driver that is not loaded matches nothing either. */
        ck_assert_int_eq(attr_wr(NIC0, "driver_override", "foo"), 0);
        ck_assert_int_eq(attr_wr(NIC0, "driver/unbind", NIC0), 0);
        ck_assert_int_eq(wr(PROBE, NIC0), 0);
        assert_driver(NIC0, "");
        ck_assert(!exists(DRVS "foo"));
        ck_assert_int_eq(wr(PROBE, "0000:09:00.0"), -ENODEV);
        ck_assert_int_eq(wr(PROBE, "garbage"), -ENODEV);
        expect_events("unbind " NIC0 "\n");

        /* probe-nothing: the kernel's answer when no driver matches, even though one would. */
        ck_assert_int_eq(attr_wr(NIC0, "driver_override", "\n"), 0);
        config(NIC0 " probe-nothing\n");
        ck_assert_int_eq(wr(PROBE, NIC0), 0);
        assert_driver(NIC0, "");
        /* bind-fails: the probe runs and fails. */
        config(NIC0 " bind-fails\n");
        ck_assert_int_eq(wr(PROBE, NIC0), -ENODEV);
        assert_driver(NIC0, "");
        expect_events("");
        config("");
        ck_assert_int_eq(wr(PROBE, NIC0), 0);
        assert_driver(NIC0, "e1000e");
        expect_events("bind " NIC0 "\n");
}
END_TEST

START_TEST(test_vfio_dev_numbers) {
        to_vfio(NVME);
        to_vfio(SPARE);
        assert_file(DEVS NVME "/vfio-dev/vfio0/dev", "511:0\n");
        assert_file(DEVS SPARE "/vfio-dev/vfio1/dev", "511:1\n");
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), 0);
        /* The lowest free number is reused, as the kernel's ida does. */
        to_vfio(AUDIO);
        assert_file(DEVS AUDIO "/vfio-dev/vfio0/dev", "511:0\n");
        ck_assert(exists("dev/vfio/devices/vfio0"));
        ck_assert(exists("dev/vfio/devices/vfio1"));
        ck_assert(exists("dev/vfio/7"));
        ck_assert(exists("dev/vfio/8"));
        ck_assert(!exists("dev/vfio/4"));
}
END_TEST

START_TEST(test_host_driver) {
        config(NVME " host-driver i2c_new\n");
        /* Armed only by an unbind from vfio-pci. */
        to_vfio(NVME);
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), 0);
        /* The override still says vfio-pci; the "new kernel's" driver takes the device. */
        ck_assert_int_eq(wr(PROBE, NVME), 0);
        assert_driver(NVME, "i2c_new");
        ck_assert(back_link("i2c_new", NVME));
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        expect_events("unbind " NVME "\nbind " NVME "\nunbind " NVME "\nbind " NVME "\n");

        /* Without the line the override wins again. */
        config("");
        ck_assert_int_eq(drv_wr("i2c_new", "unbind", NVME), 0);
        ck_assert_int_eq(wr(PROBE, NVME), 0);
        assert_driver(NVME, "vfio-pci");
}
END_TEST

/* ---- reset ---- */

START_TEST(test_reset) {
        ck_assert_int_eq(attr_wr(NVME, "reset", "1"), 0);
        ck_assert_int_eq(attr_wr(NVME, "reset", "1\n"), 0);
        expect_events("change " NVME "\nchange " NVME "\n");
        ck_assert_int_eq(attr_wr(NVME, "reset", "0"), -EINVAL);
        ck_assert_int_eq(attr_wr(NVME, "reset", "yes"), -EINVAL);
        config(NVME " reset-fails\n");
        ck_assert_int_eq(attr_wr(NVME, "reset", "1"), -EIO);
        /* No reset method, no reset file. */
        ck_assert_int_eq(attr_wr(AUDIO, "reset", "1"), -ENOENT);
        expect_events("");
}
END_TEST

/* ---- SR-IOV ---- */

static bool file_is(const char *rel, const char *text) {
        char buf[64] = {};
        _cleanup_close_ int fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC);

        return fd >= 0 && read(fd, buf, sizeof(buf) - 1) >= 0 && streq(buf, text);
}

static void assert_link_to(const char *rel, const char *bdf) {
        char buf[PATH_MAX];
        ssize_t n = readlinkat(root_fd, rel, buf, sizeof(buf) - 1);

        ck_assert_int_gt(n, 0);
        buf[n] = 0;
        ck_assert_str_eq(strrchr(buf, '/') + 1, bdf);
}

START_TEST(test_sriov) {
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "2"), 0);
        assert_file(DEVS PF "/sriov_numvfs", "2\n");
        assert_link_to(DEVS VF0 "/physfn", PF);
        assert_link_to(DEVS VF1 "/physfn", PF);
        assert_link_to(DEVS PF "/virtfn0", VF0);
        assert_link_to(DEVS PF "/virtfn1", VF1);
        ck_assert(!exists(DEVS PF "/virtfn2"));
        assert_file(DEVS VF0 "/device", "0x1520\n");
        assert_file(DEVS VF0 "/vendor", "0x8086\n");
        assert_file(DEVS VF0 "/class", "0x020000\n");
        ck_assert(exists(DEVS VF0 "/reset"));
        /* Own groups, after the highest existing one; VFs sit next to the PF. */
        assert_link_to(DEVS VF0 "/iommu_group", "9");
        assert_link_to(DEVS VF1 "/iommu_group", "10");
        assert_link_to("sys/kernel/iommu_groups/9/devices/" VF0, VF0);
        assert_link_to(DEVS VF0, VF0);
        {
                char p[PATH_MAX], v[PATH_MAX];
                ssize_t a = readlinkat(root_fd, DEVS PF, p, sizeof(p) - 1);
                ssize_t b = readlinkat(root_fd, DEVS VF0, v, sizeof(v) - 1);

                ck_assert(a > 12 && b > 12);
                ck_assert_int_eq(a, b);
                ck_assert(strneq(p, v, (size_t) a - 12));
        }
        assert_driver(VF0, "");
        expect_events("add " VF0 "\nadd " VF1 "\nchange " PF "\n");

        /* The kernel requires 0 before another count; the same count is a no-op. */
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "3"), -EBUSY);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "2\n"), 0);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "5"), -ERANGE);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "two"), -EINVAL);
        expect_events("");

        /* A VF is a device like any other: bind it, then removal unbinds it first. */
        to_vfio(VF1);
        ck_assert(exists("dev/vfio/10"));
        expect_events("bind " VF1 "\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "0"), 0);
        ck_assert(!exists(DEVS VF0));
        ck_assert(!exists(DEVS VF1));
        ck_assert(!exists(DEVS PF "/virtfn0"));
        ck_assert(!exists("sys/kernel/iommu_groups/9"));
        ck_assert(!exists("dev/vfio/10"));
        assert_file(DEVS PF "/sriov_numvfs", "0\n");
        expect_events("unbind " VF1 "\nremove " VF1 "\nremove " VF0 "\n");

        /* No PF driver, no SR-IOV configuration. */
        ck_assert_int_eq(attr_wr(PF, "driver/unbind", PF), 0);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "1"), -ENOENT);
        ck_assert(!exists(DEVS VF0));
}
END_TEST

/* VFs probe their host driver as they appear unless the PF's sriov_drivers_autoprobe is off;
 * then only an override binds them. Each step can fail; a PF driver may add them late. */
START_TEST(test_sriov_autoprobe) {
        mock_off();
        ck_assert_int_eq(fakesys_add_driver(fs, "igbvf"), 0);
        mock_on();
        config(PF " vf-driver igbvf\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "1"), 0);
        assert_driver(VF0, "igbvf");
        expect_events("add " VF0 "\nbind " VF0 "\nchange " PF "\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "0"), 0);
        expect_events("unbind " VF0 "\nremove " VF0 "\n");

        ck_assert_int_eq(attr_wr(PF, "sriov_drivers_autoprobe", "maybe"), -EINVAL);
        ck_assert_int_eq(attr_wr(PF, "sriov_drivers_autoprobe", "0"), 0);
        assert_file(DEVS PF "/sriov_drivers_autoprobe", "0\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "1"), 0);
        assert_driver(VF0, "");
        expect_events("add " VF0 "\nchange " PF "\n");
        /* Without an override the VF matches nothing: bind ENODEV, a probe binds nothing. */
        ck_assert_int_eq(drv_wr("igbvf", "bind", VF0), -ENODEV);
        ck_assert_int_eq(wr(PROBE, VF0), 0);
        assert_driver(VF0, "");
        ck_assert_int_eq(attr_wr(VF0, "driver_override", "vfio-pci"), 0);
        ck_assert_int_eq(wr(PROBE, VF0), 0);
        assert_driver(VF0, "vfio-pci");
        expect_events("bind " VF0 "\n");

        config(PF " sriov-disable-fails EBUSY\n" PF " autoprobe-fails EIO\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "0"), -EBUSY);
        ck_assert_int_eq(attr_wr(PF, "sriov_drivers_autoprobe", "1"), -EIO);
        ck_assert(exists(DEVS VF0));
        config("");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "0"), 0);
        expect_events("unbind " VF0 "\nremove " VF0 "\n");
        config(PF " sriov-enable-fails ENOMEM\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "2"), -ENOMEM);
        ck_assert(!exists(DEVS VF0));
        assert_file(DEVS PF "/sriov_numvfs", "0\n");
        config(PF " sriov-limit 1\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "2"), -ENOMEM);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "1"), 0);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "0"), 0);
        expect_events("add " VF0 "\nchange " PF "\nremove " VF0 "\n");

        /* Late VFs: none when the write returns, both a moment later. */
        config(PF " sriov-async 200\n");
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "2"), 0);
        ck_assert(!exists(DEVS VF0));
        /* sriov_numvfs is the enable's last step. */
        for (unsigned i = 0; i < 500 && !file_is(DEVS PF "/sriov_numvfs", "2\n"); i++)
                usleep(10000);
        assert_file(DEVS PF "/sriov_numvfs", "2\n");
        assert_link_to(DEVS PF "/virtfn1", VF1);
        expect_events("add " VF0 "\nadd " VF1 "\nchange " PF "\n");
}
END_TEST

/* ---- hang ---- */

START_TEST(test_hang) {
        double t0;

        config(NVME " hang 1\n");
        t0 = now_sec();
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "vfio-pci"), 0);
        ck_assert(now_sec() - t0 >= 0.95);
        /* Then it does what it would have done. */
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        /* Other devices do not wait. */
        t0 = now_sec();
        ck_assert_int_eq(attr_wr(NIC0, "driver_override", "vfio-pci"), 0);
        ck_assert(now_sec() - t0 < 0.9);
}
END_TEST

/* Only the probe waits: the writes before it and a bind by name go through at once. */
START_TEST(test_probe_hang) {
        double t0;

        config(NVME " probe-hang 1\n");
        t0 = now_sec();
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "vfio-pci"), 0);
        ck_assert_int_eq(attr_wr(NVME, "driver/unbind", NVME), 0);
        ck_assert(now_sec() - t0 < 0.9);
        t0 = now_sec();
        ck_assert_int_eq(wr(PROBE, NVME), 0);
        ck_assert(now_sec() - t0 >= 0.95);
        assert_driver(NVME, "vfio-pci");
        ck_assert_int_eq(attr_wr(NVME, "driver/unbind", NVME), 0);
        ck_assert_int_eq(attr_wr(NVME, "driver_override", "\n"), 0);
        t0 = now_sec();
        ck_assert_int_eq(drv_wr("nvme", "bind", NVME), 0);
        ck_assert(now_sec() - t0 < 0.9);
}
END_TEST

/* ---- /dev/vfio ---- */

START_TEST(test_container) {
        int cfd, fd;

        /* Neither the node nor vfio-pci: vfio is not loaded. */
        ck_assert_int_eq(open_dev("dev/vfio/vfio", O_RDWR), -ENOENT);
        mock_off();
        ck_assert_int_eq(fakesys_write_file(fs, "dev/vfio/vfio", "", 0), 0);
        mock_on();
        cfd = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_ge(cfd, 0);
        ck_assert_int_eq(fcntl(cfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ck_assert_int_eq(ioctl(cfd, VFIO_GET_API_VERSION), VFIO_API_VERSION);
        ck_assert_int_eq(ioctl(cfd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
        ck_assert_int_eq(ioctl(cfd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 1);
        ck_assert_int_eq(ioctl(cfd, VFIO_CHECK_EXTENSION, 12345), 0);
        /* No group yet. */
        ck_assert_int_eq(xioctl(cfd, VFIO_SET_IOMMU, (void *) (unsigned long) VFIO_TYPE1v2_IOMMU),
                         -EINVAL);
        ck_assert_int_eq(xioctl(cfd, VFIO_GROUP_GET_STATUS, NULL), -ENOTTY);
        ck_assert_int_eq(write(cfd, "x", 1), -1);
        ck_assert_int_eq(errno, EINVAL);
        /* Other fds get the kernel's answer. */
        if (!under_valgrind()) {
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                ck_assert_int_eq(xioctl(fd, VFIO_GET_API_VERSION, NULL), -ENOTTY);
                close(fd);
        }
        /* Several containers may be open. */
        fd = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(close(cfd), 0);
        /* A closed fd number is nobody's container any more. */
        if (!under_valgrind())
                ck_assert_int_eq(xioctl(cfd, VFIO_GET_API_VERSION, NULL), -EBADF);
}
END_TEST

static int open_group4_in_child(void) {
        int fd = open_dev("dev/vfio/4", O_RDWR);

        return fd >= 0 ? 0 : -fd;
}

START_TEST(test_group_open) {
        int g, d;

        ck_assert_int_eq(open_dev("dev/vfio/4", O_RDWR), -ENOENT);
        ck_assert_int_eq(open_dev("dev/vfio/99", O_RDWR), -ENOENT);
        to_vfio(NVME);
        g = open_dev("dev/vfio/4", O_RDWR);
        ck_assert_int_ge(g, 0);
        /* One opener per group, in this process and in any other. */
        ck_assert_int_eq(open_dev("dev/vfio/4", O_RDWR), -EBUSY);
        ck_assert_int_eq(in_child(open_group4_in_child), EBUSY);
        /* A dup keeps it open; the last close lets go. */
        d = fcntl(g, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(d, 0);
        ck_assert_int_eq(close(g), 0);
        ck_assert_int_eq(group_status(d), VFIO_GROUP_FLAGS_VIABLE);
        ck_assert_int_eq(in_child(open_group4_in_child), EBUSY);
        ck_assert_int_eq(close(d), 0);
        ck_assert_int_eq(in_child(open_group4_in_child), 0);
        g = open_dev("dev/vfio/4", O_RDWR);
        ck_assert_int_ge(g, 0);
        ck_assert_int_eq(close(g), 0);
        /* Absolute paths and the dev root's own fd work too. */
        {
                _cleanup_free_ char *abs = NULL;

                ck_assert_int_ge(asprintf(&abs, "%s/dev/vfio/../vfio/4", root), 0);
                g = open(abs, O_RDWR | O_CLOEXEC);
                ck_assert_int_ge(g, 0);
                ck_assert_int_eq(close(g), 0);
        }
}
END_TEST

/* A watch on /dev/vfio/N sees the last close of the group, as fsnotify_close() in the kernel's
 * __fput() reports it, and nothing for an open refused with EBUSY (no file was opened). */
START_TEST(test_group_close_watch) {
        _cleanup_free_ char *node = NULL;
        _cleanup_close_ int ifd = -1;
        int g, d;

        to_vfio(NVME);
        ck_assert_int_ge(asprintf(&node, "%s/dev/vfio/4", root), 0);
        ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ifd, 0);
        ck_assert_int_ge(inotify_add_watch(ifd, node, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE), 0);
        ck_assert_int_eq(close_events(ifd), 0);

        g = open_dev("dev/vfio/4", O_RDWR);
        ck_assert_int_ge(g, 0);
        ck_assert_int_eq(open_dev("dev/vfio/4", O_RDWR), -EBUSY);
        ck_assert_int_eq(in_child(open_group4_in_child), EBUSY);
        d = fcntl(g, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_eq(close(g), 0);
        ck_assert_int_eq(close_events(ifd), 0);
        ck_assert_int_eq(close(d), 0);
        ck_assert_int_eq(close_events(ifd), 1);
}
END_TEST

/* A VMM running as nobody (dumpable again, as after an exec, so /proc/self/fd works). */
static int open_group4_as_nobody(void) {
        struct vfio_group_status st = { .argsz = sizeof(st) };
        int fd;

        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0 ||
            prctl(PR_SET_DUMPABLE, 1) < 0)
                return 100;
        fd = open_dev("dev/vfio/4", O_RDWR);
        if (fd < 0)
                return -fd;
        return ioctl(fd, VFIO_GROUP_GET_STATUS, &st) == 0 && st.flags == VFIO_GROUP_FLAGS_VIABLE
                       ? 0
                       : 101;
}

START_TEST(test_group_permissions) {
        struct stat st;

        to_vfio(NVME);
        ck_assert_int_eq(fstatat(root_fd, "dev/vfio/4", &st, 0), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(fstatat(root_fd, "dev/vfio/vfio", &st, 0), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0666);
        if (geteuid() != 0)
                return; /* needs to change uid */
        ck_assert_int_eq(chmod(tmpdir, 0755), 0);
        ck_assert_int_eq(in_child(open_group4_as_nobody), EACCES);
        /* What the daemon's uid grant does. */
        ck_assert_int_eq(fchownat(root_fd, "dev/vfio/4", 65534, 0, 0), 0);
        ck_assert_int_eq(in_child(open_group4_as_nobody), 0);
        ck_assert_int_eq(fchownat(root_fd, "dev/vfio/4", 0, 0, 0), 0);
        ck_assert_int_eq(in_child(open_group4_as_nobody), EACCES);
}
END_TEST

START_TEST(test_group_viability) {
        int g, c, other;

        /* Group 2: NIC0 on vfio-pci, NIC1 still on e1000e. */
        to_vfio(NIC0);
        g = open_dev("dev/vfio/2", O_RDWR);
        ck_assert_int_ge(g, 0);
        ck_assert_int_eq(group_status(g), 0);
        c = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_ge(c, 0);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c), -EPERM);
        /* Unbound members do not hurt, neither do pci-stub or pcieport. */
        ck_assert_int_eq(attr_wr(NIC1, "driver/unbind", NIC1), 0);
        ck_assert_int_eq(group_status(g), VFIO_GROUP_FLAGS_VIABLE);
        mock_off();
        ck_assert_int_eq(fakesys_add_driver(fs, "pci-stub"), 0);
        mock_on();
        ck_assert_int_eq(attr_wr(NIC1, "driver_override", "pci-stub"), 0);
        ck_assert_int_eq(wr(PROBE, NIC1), 0);
        assert_driver(NIC1, "pci-stub");
        ck_assert_int_eq(group_status(g), VFIO_GROUP_FLAGS_VIABLE);
        {
                struct vfio_group_status st = { .argsz = 4 };

                ck_assert_int_eq(xioctl(g, VFIO_GROUP_GET_STATUS, &st), -EINVAL);
        }

        /* Attach: not a container, not an fd, then the real thing, then once only. */
        other = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &other), -EINVAL);
        close(other);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &other), -EBADF);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
        ck_assert_int_eq(group_status(g), VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c), -EBUSY);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
        ck_assert_int_eq(group_status(g), VFIO_GROUP_FLAGS_VIABLE);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EINVAL);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
        /* The container outlives its fd while a group holds it. */
        ck_assert_int_eq(close(c), 0);
        ck_assert_int_eq(group_status(g), VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
        ck_assert_int_eq(close(g), 0);
}
END_TEST

static int unsafe_interrupts(const char *value) {
        return fakesys_set_module_param(fs, "vfio_iommu_type1", "allow_unsafe_interrupts", value);
}

START_TEST(test_device_fd) {
        struct vfio_device_info info = { .argsz = sizeof(info) };
        int g, c, c2, d, d2;

        to_vfio(NVME);
        g = open_dev("dev/vfio/4", O_RDWR);
        c = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_ge(g, 0);
        ck_assert_int_ge(c, 0);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_GET_DEVICE_FD, NVME), -EINVAL);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
        /* No IOMMU backend yet. */
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_GET_DEVICE_FD, NVME), -EINVAL);
        ck_assert_int_eq(xioctl(c, VFIO_SET_IOMMU, (void *) 77UL), -ENODEV);
        ck_assert_int_eq(xioctl(c, VFIO_SET_IOMMU, (void *) (unsigned long) VFIO_TYPE1v2_IOMMU), 0);
        ck_assert_int_eq(xioctl(c, VFIO_SET_IOMMU, (void *) (unsigned long) VFIO_TYPE1v2_IOMMU),
                         -EINVAL);

        ck_assert_int_eq(xioctl(g, VFIO_GROUP_GET_DEVICE_FD, NIC0), -EINVAL);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_GET_DEVICE_FD, "nonsense"), -EINVAL);
        d = xioctl(g, VFIO_GROUP_GET_DEVICE_FD, NVME);
        ck_assert_int_ge(d, 0);
        ck_assert_int_eq(fcntl(d, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_GET_INFO, &info), 0);
        ck_assert_uint_eq(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
        ck_assert_uint_eq(info.num_regions, VFIO_PCI_NUM_REGIONS);
        ck_assert_uint_eq(info.num_irqs, VFIO_PCI_NUM_IRQS);
        info.argsz = 8;
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_GET_INFO, &info), -EINVAL);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_RESET, NULL), 0);
        config(NVME " reset-fails\n");
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_RESET, NULL), -EIO);
        config("");
        ck_assert_int_eq(xioctl(d, VFIO_GROUP_GET_STATUS, NULL), -ENOTTY);
        /* A second device fd, and the device fds outlive the group fd. */
        d2 = xioctl(g, VFIO_GROUP_GET_DEVICE_FD, NVME);
        ck_assert_int_ge(d2, 0);
        ck_assert_int_eq(close(g), 0);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_RESET, NULL), 0);
        ck_assert_int_eq(close(d2), 0);
        ck_assert_int_eq(close(d), 0);
        ck_assert_int_eq(close(c), 0);

        /* A device without a reset method: no RESET flag, VFIO_DEVICE_RESET refused. */
        to_vfio(AUDIO);
        g = open_dev("dev/vfio/7", O_RDWR);
        c2 = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c2), 0);
        ck_assert_int_eq(xioctl(c2, VFIO_SET_IOMMU, (void *) (unsigned long) VFIO_TYPE1_IOMMU), 0);
        d = xioctl(g, VFIO_GROUP_GET_DEVICE_FD, AUDIO);
        ck_assert_int_ge(d, 0);
        info.argsz = sizeof(info);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_GET_INFO, &info), 0);
        ck_assert_uint_eq(info.flags, VFIO_DEVICE_FLAGS_PCI);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_RESET, NULL), -EINVAL);
        close(d);
        close(g);
        close(c2);
}
END_TEST

static int attach_and_set_iommu(const char *group_node) {
        int g, c, r;

        g = open_dev(group_node, O_RDWR);
        c = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_ge(g, 0);
        ck_assert_int_ge(c, 0);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
        r = xioctl(c, VFIO_SET_IOMMU, (void *) (unsigned long) VFIO_TYPE1v2_IOMMU);
        close(g);
        close(c);
        return r;
}

START_TEST(test_interrupt_remapping) {
        to_vfio(NVME);
        /* With interrupt remapping (no config line) the parameter does not matter. */
        ck_assert_int_eq(attach_and_set_iommu("dev/vfio/4"), 0);
        config("no-interrupt-remapping\n");
        ck_assert_int_eq(attach_and_set_iommu("dev/vfio/4"), -EPERM);
        mock_off();
        ck_assert_int_eq(unsafe_interrupts("Y"), 0);
        mock_on();
        ck_assert_int_eq(attach_and_set_iommu("dev/vfio/4"), 0);
        mock_off();
        ck_assert_int_eq(unsafe_interrupts("N"), 0);
        mock_on();
        ck_assert_int_eq(attach_and_set_iommu("dev/vfio/4"), -EPERM);
        /* A missing parameter file is the default, N. */
        mock_off();
        ck_assert_int_eq(fakesys_remove(fs, "sys/module/vfio_iommu_type1"), 0);
        mock_on();
        ck_assert_int_eq(attach_and_set_iommu("dev/vfio/4"), -EPERM);
}
END_TEST

START_TEST(test_refuse_release) {
        struct vfio_device_info info = { .argsz = sizeof(info) };
        int g, c, d;

        to_vfio(NVME);
        expect_events("unbind " NVME "\nbind " NVME "\n");
        g = open_dev("dev/vfio/4", O_RDWR);
        ck_assert_int_ge(g, 0);
        /* While a VFIO user holds the group, vfio-pci does not let go. */
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), -EBUSY);
        assert_driver(NVME, "vfio-pci");
        c = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
        ck_assert_int_eq(xioctl(c, VFIO_SET_IOMMU, (void *) (unsigned long) VFIO_TYPE1v2_IOMMU), 0);
        d = xioctl(g, VFIO_GROUP_GET_DEVICE_FD, NVME);
        ck_assert_int_ge(d, 0);
        /* Nor while a device fd is open after the group fd closed. */
        ck_assert_int_eq(close(g), 0);
        ck_assert_int_eq(close(c), 0);
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), -EBUSY);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_GET_INFO, &info), 0);
        ck_assert_int_eq(close(d), 0);
        expect_events("");
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), 0);
        expect_events("unbind " NVME "\n");

        /* The configured refusal, with the errno it names. */
        to_vfio(NVME);
        config(NVME " refuse-release\n");
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), -EBUSY);
        config(NVME " refuse-release EAGAIN\n");
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), -EAGAIN);
        assert_driver(NVME, "vfio-pci");
        /* Other drivers are not concerned. */
        config(NIC0 " refuse-release\n");
        ck_assert_int_eq(drv_wr("e1000e", "unbind", NIC0), 0);
}
END_TEST

/* ---- fds ---- */

START_TEST(test_fd_operations) {
        int fd, d, d2, d3, plain;
        char *plain_path;

        fd = openat(root_fd, DEVS NVME "/driver_override", O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        d = dup(fd);
        d2 = fcntl(fd, F_DUPFD_CLOEXEC, 100);
        ck_assert_int_ge(d2, 100);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(write(d, "vfio-pci", 8), 8);
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        ck_assert_int_eq(write(d2, "\n", 1), 1);
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        /* dup3 onto a modelled fd: the target now stands for the source. */
        ck_assert_int_ge(asprintf(&plain_path, "%s/plain", tmpdir), 0);
        plain = open(plain_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(plain, 0);
        ck_assert_int_eq(dup3(plain, d2, O_CLOEXEC), d2);
        ck_assert_int_eq(write(d2, "vfio-pci", 8), 8);
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        d3 = dup2(d, plain);
        ck_assert_int_eq(d3, plain);
        ck_assert_int_eq(write(plain, "pci-stub", 8), 8);
        assert_file(DEVS NVME "/driver_override", "pci-stub\n");
        close(plain);
        close(d);
        close(d2);
        {
                _cleanup_free_ char *s = NULL;
                FILE *f = fopen(plain_path, "re");

                ck_assert_ptr_nonnull(f);
                ck_assert_int_gt(getline(&s, &(size_t) { 0 }, f), 0);
                fclose(f);
                ck_assert_str_eq(s, "vfio-pci");
        }
        unlink(plain_path);
        free(plain_path);

        /* pwrite() and writev() store like write(): sysfs ignores the offset, and a gathered
         * write is one store. */
        fd = openat(root_fd, DEVS NVME "/driver_override", O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite(fd, "vfio-pci", 8, 100), 8);
        assert_file(DEVS NVME "/driver_override", "vfio-pci\n");
        {
                struct iovec iov[2] = { { (char *) "pci-", 4 }, { (char *) "stub\n", 5 } };

                ck_assert_int_eq(writev(fd, iov, 2), 9);
        }
        assert_file(DEVS NVME "/driver_override", "pci-stub\n");
        close(fd);

        /* close_range() forgets what it closed. */
        fd = openat(root_fd, DEVS NVME "/driver_override", O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(close_range((unsigned) fd, (unsigned) fd, 0), 0);
        plain = open("/dev/null", O_WRONLY | O_CLOEXEC);
        ck_assert_int_eq(plain, fd);
        ck_assert_int_eq(write(plain, "vfio-pci", 8), 8);
        close(plain);
        assert_file(DEVS NVME "/driver_override", "pci-stub\n");
}
END_TEST

START_TEST(test_open_variants) {
        _cleanup_free_ char *abs = NULL, *cwd = getcwd(NULL, 0);
        int fd;

        /* open() with an absolute path through the device link and the driver link. */
        ck_assert_int_ge(asprintf(&abs, "%s/" DEVS NVME "/driver/unbind", root), 0);
        fd = open(abs, O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, NVME, strlen(NVME)), (ssize_t) strlen(NVME));
        close(fd);
        assert_driver(NVME, "");
        /* openat(AT_FDCWD) relative to the working directory; creat() truncates, as a shell's
         * "echo 1 > reset" does. */
        ck_assert_int_eq(chdir(root), 0);
        fd = openat(AT_FDCWD, "./sys/bus/pci/drivers_probe", O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, NVME "\n", strlen(NVME) + 1), (ssize_t) strlen(NVME) + 1);
        close(fd);
        assert_driver(NVME, "nvme");
        fd = creat(DEVS NVME "/reset", 0200);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "1", 1), 1);
        close(fd);
        ck_assert_int_eq(chdir(cwd), 0);
        expect_events("unbind " NVME "\nbind " NVME "\nchange " NVME "\n");
        /* A read-only open is never modelled. */
        fd = openat(root_fd, DEVS NVME "/driver_override", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, NVME, 12), -1);
        ck_assert_int_eq(errno, EBADF);
        close(fd);
}
END_TEST

START_TEST(test_separate_dev_root) {
        _cleanup_free_ char *dev_root = NULL, *node = NULL;
        int g;

        ck_assert_int_ge(asprintf(&dev_root, "%s/devroot", tmpdir), 0);
        ck_assert_int_eq(mkdir(dev_root, 0755), 0);
        ck_assert_int_eq(setenv("VFIO_MOCK_DEV_ROOT", dev_root, 1), 0);
        to_vfio(NVME);
        ck_assert_int_ge(asprintf(&node, "%s/dev/vfio/4", dev_root), 0);
        ck_assert_int_eq(access(node, F_OK), 0);
        ck_assert(!exists("dev/vfio/4"));
        /* The group opens under the dev root only. */
        ck_assert_int_eq(open_dev("dev/vfio/4", O_RDWR), -ENOENT);
        g = open(node, O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(g, 0);
        ck_assert_int_eq(group_status(g), VFIO_GROUP_FLAGS_VIABLE);
        close(g);
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), 0);
        ck_assert_int_ne(access(node, F_OK), 0);
}
END_TEST

/* ---- other processes ---- */

static int unbind_nic0_in_child(void) {
        return attr_wr(NIC0, "driver/unbind", NIC0) == 0 ? 0 : 1;
}

START_TEST(test_other_processes) {
        char cmd[PATH_MAX * 2];

        /* A child records the natural driver in the tree; the parent can bind it back. */
        ck_assert_int_eq(in_child(unbind_nic0_in_child), 0);
        ck_assert_int_eq(drv_wr("e1000e", "bind", NIC0), 0);
        expect_events("unbind " NIC0 "\nbind " NIC0 "\n");
        /* A shell under the preload acts on the model exactly as on the kernel. */
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && echo vfio-pci > " DEVS NVME "/driver_override && "
                 "echo " NVME " > " DEVS NVME "/driver/unbind && "
                 "echo " NVME " > " PROBE " && echo 1 > " DEVS NVME "/reset",
                 root);
        ck_assert_int_eq(system(cmd), 0);
        assert_driver(NVME, "vfio-pci");
        expect_events("unbind " NVME "\nbind " NVME "\nchange " NVME "\n");
        snprintf(cmd, sizeof(cmd), "cd '%s' && echo 2 > " DEVS NVME "/reset 2>/dev/null", root);
        ck_assert_int_ne(system(cmd), 0);
}
END_TEST

/* ---- the daemon's own code, unchanged ---- */

START_TEST(test_daemon_binding_and_vfio) {
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        BindFailure f = {};
        int g = -1, c = -1, d = -1;
        bool viable = false, can_reset = false;

        ck_assert_int_eq(sysroot_open(root, root, &r), 0);
        ck_assert_int_eq(binding_bind_vfio(r, NVME, BINDING_TIMEOUT_USEC, &f), 0);
        assert_driver(NVME, "vfio-pci");
        ck_assert_int_eq(vfio_group_open(r, 4, &g), 0);
        ck_assert_int_eq(vfio_group_is_viable(g, &viable), 0);
        ck_assert(viable);
        ck_assert_int_eq(vfio_container_open(r, &c), 0);
        ck_assert_int_eq(vfio_group_attach(g, c, true), 0);
        ck_assert_int_eq(vfio_group_device_fd(g, NVME, &d), 0);
        ck_assert_int_eq(vfio_device_can_reset(d, &can_reset), 0);
        ck_assert(can_reset);
        ck_assert_int_eq(vfio_device_reset(d), 0);
        /* Still held: release refuses. */
        ck_assert_int_eq(binding_restore(r, NVME, "nvme", BINDING_TIMEOUT_USEC, &f), -EBUSY);
        ck_assert_int_eq(f.step, BIND_STEP_UNBIND);
        ck_assert_str_eq(f.driver, "vfio-pci");
        close(d);
        close(g);
        close(c);
        ck_assert_int_eq(binding_restore(r, NVME, "nvme", BINDING_TIMEOUT_USEC, &f), 0);
        assert_driver(NVME, "nvme");
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        expect_events("unbind " NVME "\nbind " NVME "\nunbind " NVME "\nbind " NVME "\n");

        /* Failures surface at the step the daemon reports. */
        config(NVME " bind-fails\n");
        ck_assert_int_eq(binding_bind_vfio(r, NVME, BINDING_TIMEOUT_USEC, &f), -ENODEV);
        ck_assert_int_eq(f.step, BIND_STEP_PROBE);
        ck_assert_ptr_null(f.driver);
        config(NVME " probe-nothing\n");
        ck_assert_int_eq(wr(PROBE, NVME), 0);
        ck_assert_int_eq(binding_bind_vfio(r, NVME, 100 * 1000, &f), -EIO);
        ck_assert_int_eq(f.step, BIND_STEP_VERIFY);
        config("");
        ck_assert_int_eq(binding_restore(r, NVME, "nvme", BINDING_TIMEOUT_USEC, &f), 0);
        config(NVME " unbind-ebusy\n");
        ck_assert_int_eq(binding_bind_vfio(r, NVME, BINDING_TIMEOUT_USEC, &f), -EBUSY);
        ck_assert_int_eq(f.step, BIND_STEP_UNBIND);
        ck_assert_str_eq(f.driver, "nvme");
        config("no-interrupt-remapping\n");
        ck_assert_int_eq(binding_bind_vfio(r, NVME, BINDING_TIMEOUT_USEC, &f), 0);
        ck_assert_int_eq(vfio_group_open(r, 4, &g), 0);
        ck_assert_int_eq(vfio_container_open(r, &c), 0);
        ck_assert_int_eq(vfio_group_attach(g, c, true), -EPERM);
        close(g);
        close(c);
        ck_assert_int_eq(vfio_group_open(r, 99, &g), -ENOENT);
        bind_failure_clear(&f);
}
END_TEST

/* A group's members move in one chain of writes: one that fails stops the chain there and is
 * named with its step, the ones before it moved and the ones after it did not; giving back goes
 * on past a member that fails when called again for the rest. */
START_TEST(test_daemon_binding_members) {
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        const BindMember group[] = { { NIC0, "e1000e", NULL, false },
                                     { NIC1, "e1000e", NULL, false },
                                     { NVME, "nvme", NULL, false } };
        BindFailure f = {};
        size_t failed = 99;

        ck_assert_int_eq(sysroot_open(root, root, &r), 0);
        config(NIC1 " bind-fails\n");
        ck_assert_int_eq(binding_bind_vfio_members(r, group, 3, BINDING_TIMEOUT_USEC, &failed, &f),
                         -ENODEV);
        ck_assert_uint_eq(failed, 1);
        ck_assert_int_eq(f.step, BIND_STEP_PROBE);
        ck_assert_ptr_null(f.driver);
        assert_driver(NIC0, "vfio-pci");
        assert_driver(NVME, "nvme");
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        expect_events("unbind " NIC0 "\nbind " NIC0 "\nunbind " NIC1 "\n");

        /* NIC1 cannot go back to e1000e either: the others still do. */
        ck_assert_int_eq(binding_restore_members(r, group, 3, BINDING_TIMEOUT_USEC, &failed, &f),
                         -ENODEV);
        ck_assert_uint_eq(failed, 1);
        ck_assert_int_eq(f.step, BIND_STEP_BIND);
        assert_driver(NIC0, "e1000e");
        config("");
        ck_assert_int_eq(binding_restore_members(r, group + 1, 2, BINDING_TIMEOUT_USEC, &failed,
                                                 &f),
                         0);
        assert_driver(NIC1, "e1000e");
        assert_driver(NVME, "nvme");
        assert_file(DEVS NIC0 "/driver_override", "(null)\n");
        assert_file(DEVS NIC1 "/driver_override", "(null)\n");
        expect_events("unbind " NIC0 "\nbind " NIC0 "\nbind " NIC1 "\n");

        ck_assert_int_eq(binding_bind_vfio_members(r, group, 3, BINDING_TIMEOUT_USEC, &failed, &f),
                         0);
        assert_driver(NIC0, "vfio-pci");
        assert_driver(NIC1, "vfio-pci");
        assert_driver(NVME, "vfio-pci");
        ck_assert_int_eq(binding_restore_members(r, group, 3, BINDING_TIMEOUT_USEC, &failed, &f),
                         0);
        assert_driver(NIC0, "e1000e");
        assert_driver(NIC1, "e1000e");
        assert_driver(NVME, "nvme");
        bind_failure_clear(&f);
}
END_TEST

/* A member no host driver ever had (the early-prepare rule set its override at "add") is given
 * back with no driver to name: the override cleared, drivers_probe finds its own; without probe
 * it is left unbound, as it was found. */
START_TEST(test_daemon_restore_probe) {
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        const BindMember early = { NIC0, NULL, NULL, true }, unbound = { NIC1, NULL, NULL, false };
        BindFailure f = {};

        ck_assert_int_eq(sysroot_open(root, root, &r), 0);
        ck_assert_int_eq(binding_bind_vfio_members(r, &early, 1, BINDING_TIMEOUT_USEC, NULL, &f),
                         0);
        ck_assert_int_eq(binding_bind_vfio_members(r, &unbound, 1, BINDING_TIMEOUT_USEC, NULL, &f),
                         0);
        assert_driver(NIC0, "vfio-pci");
        assert_driver(NIC1, "vfio-pci");
        expect_events("unbind " NIC0 "\nbind " NIC0 "\nunbind " NIC1 "\nbind " NIC1 "\n");
        ck_assert_int_eq(binding_restore_members(r, &early, 1, BINDING_TIMEOUT_USEC, NULL, &f), 0);
        assert_driver(NIC0, "e1000e");
        assert_file(DEVS NIC0 "/driver_override", "(null)\n");
        ck_assert_int_eq(binding_restore_members(r, &unbound, 1, BINDING_TIMEOUT_USEC, NULL, &f),
                         0);
        assert_driver(NIC1, "");
        assert_file(DEVS NIC1 "/driver_override", "(null)\n");
        expect_events("unbind " NIC0 "\nbind " NIC0 "\nunbind " NIC1 "\n");
        bind_failure_clear(&f);
}
END_TEST

START_TEST(test_daemon_write_timeout) {
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        _cleanup_free_ char *s = NULL;
        double t0;

        ck_assert_int_eq(sysroot_open(root, root, &r), 0);
        config(NVME " hang 1\n");
        t0 = now_sec();
        ck_assert_int_eq(binding_set_override(r, NVME, "vfio-pci", 200 * 1000), -ETIMEDOUT);
        ck_assert(now_sec() - t0 < 0.9);
        assert_file(DEVS NVME "/driver_override", "(null)\n");
        /* The write completes later, in the worker the daemon left behind. */
        for (int i = 0; i < 300; i++) {
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };

                free(s);
                s = rd(DEVS NVME "/driver_override");
                if (s && streq(s, "vfio-pci\n"))
                        break;
                nanosleep(&ts, NULL);
        }
        ck_assert_str_eq(s, "vfio-pci\n");
        ck_assert(now_sec() - t0 >= 0.95);
}
END_TEST

/* ---- rtnetlink: a VF's network settings ---- */

/* The PF with a netdev (ifindex 100, the first free one from 100) and two VFs; the VF settings
 * through daemon/vfnet.c itself. */
static void vfnet_setup(SysRoot **ret_root, VfNetTarget *ret) {
        mock_off();
        ck_assert_int_eq(fakesys_add_netdev_ifindex(fs, PF, "eth3", NULL, 0), 0);
        mock_on();
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "2"), 0);
        ck_assert_int_eq(sysroot_open(root, root, ret_root), 0);
        ck_assert_int_eq(vfnet_find(*ret_root, VF1, ret), 0);
        ck_assert_str_eq(ret->pf_ifname, "eth3");
        ck_assert_int_eq(ret->pf_ifindex, 100);
        ck_assert_uint_eq(ret->vf, 1);
}

#define assert_vfnet(vf, expected)                   \
        do {                                         \
                char _s[128];                        \
                mock_vfnet_settings(root, (vf), _s); \
                ck_assert_str_eq(_s, (expected));    \
        } while (0)

static VfNetConfig vfnet_all(const char *mac, uint16_t vlan, uint8_t qos, int spoofchk, int trust) {
        VfNetConfig c = { .set_mac = true,
                          .set_vlan = true,
                          .vlan = vlan,
                          .qos = qos,
                          .spoofchk = spoofchk,
                          .trust = trust };

        ck_assert_int_eq(vfnet_parse_mac(mac, c.mac), 0);
        return c;
}

START_TEST(test_vfnet_get_set) {
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        VfNetConfig c, want;
        VfNetTarget t, other;
        char mac[18];

        vfnet_setup(&r, &t);
        /* What a PF driver starts a VF with. */
        ck_assert_int_eq(vfnet_get(&t, &c), 0);
        vfnet_format_mac(c.mac, mac);
        ck_assert_str_eq(mac, "00:00:00:00:00:00");
        ck_assert(c.set_mac && c.set_vlan);
        ck_assert_uint_eq(c.vlan, 0);
        ck_assert_uint_eq(c.qos, 0);
        ck_assert_int_eq(c.spoofchk, 1);
        ck_assert_int_eq(c.trust, 0);
        assert_vfnet(VF1, MOCK_VFNET_DEFAULT);

        want = vfnet_all("52:54:00:AA:bb:01", 100, 3, 0, 1);
        ck_assert_int_eq(vfnet_set(&t, &want), 0);
        assert_vfnet(VF1, "mac=52:54:00:aa:bb:01 vlan=100 qos=3 spoofchk=0 trust=1");
        assert_vfnet(VF0, MOCK_VFNET_DEFAULT);
        ck_assert_int_eq(vfnet_get(&t, &c), 0);
        ck_assert_mem_eq(&c, &want, sizeof(c));
        /* Only what is set changes. */
        ck_assert_int_eq(vfnet_set(&t, &(VfNetConfig) { .spoofchk = -1, .trust = 0 }), 0);
        assert_vfnet(VF1, "mac=52:54:00:aa:bb:01 vlan=100 qos=3 spoofchk=0 trust=0");
        ck_assert_int_eq(vfnet_set(&t, &VF_NET_CONFIG_NONE), 0);
        /* Back to what it was, the all-zero MAC included. */
        ck_assert_int_eq(vfnet_set(&t, &(VfNetConfig) { .set_mac = true,
                                                        .set_vlan = true,
                                                        .spoofchk = 1,
                                                        .trust = 0 }),
                         0);
        assert_vfnet(VF1, MOCK_VFNET_DEFAULT);

        /* VF 0 of the same PF. */
        ck_assert_int_eq(vfnet_find(r, VF0, &other), 0);
        ck_assert_uint_eq(other.vf, 0);
        ck_assert_int_eq(vfnet_set(&other, &(VfNetConfig) { .spoofchk = 0, .trust = -1 }), 0);
        assert_vfnet(VF0, "mac=00:00:00:00:00:00 vlan=0 qos=0 spoofchk=0 trust=0");

        /* The VFs go: their settings with them; new VFs start afresh. */
        ck_assert_int_eq(vfnet_set(&t, &want), 0);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "0"), 0);
        ck_assert_int_eq(vfnet_get(&t, &c), -ENOENT);
        ck_assert_int_eq(vfnet_set(&t, &want), -EINVAL);
        ck_assert_int_eq(attr_wr(PF, "sriov_numvfs", "2"), 0);
        assert_vfnet(VF1, MOCK_VFNET_DEFAULT);
        ck_assert_int_eq(vfnet_get(&t, &c), 0);
        ck_assert_int_eq(c.spoofchk, 1);
        /* Nothing of the settings is a uevent. */
        expect_events("add " VF0 "\nadd " VF1 "\nchange " PF "\nremove " VF1 "\nremove " VF0
                      "\nadd " VF0 "\nadd " VF1 "\nchange " PF "\n");
}
END_TEST

START_TEST(test_vfnet_refusals) {
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        VfNetConfig c, keep = { .trust = 7 }, good = vfnet_all("52:54:00:00:00:09", 5, 0, 1, 1);
        VfNetTarget t, bad;

        vfnet_setup(&r, &t);
        /* No such link (rtnl_getlink(), rtnl_setlink()), no such VF. */
        bad = t;
        bad.pf_ifindex = 999;
        c = keep;
        ck_assert_int_eq(vfnet_get(&bad, &c), -ENODEV);
        ck_assert_int_eq(vfnet_set(&bad, &good), -ENODEV);
        bad = t;
        bad.vf = 2;
        ck_assert_int_eq(vfnet_get(&bad, &c), -ENOENT);
        ck_assert_int_eq(vfnet_set(&bad, &good), -EINVAL);
        ck_assert_mem_eq(&c, &keep, sizeof(c));
        /* The driver refuses a group address; vfnet.c refuses a VLAN beyond 4095 itself. */
        c = good;
        c.mac[0] = 0x01;
        ck_assert_int_eq(vfnet_set(&t, &c), -EINVAL);
        c = good;
        c.vlan = 4096;
        ck_assert_int_eq(vfnet_set(&t, &c), -EINVAL);
        assert_vfnet(VF1, MOCK_VFNET_DEFAULT);

        /* Failure injection: at the VLAN, the MAC before it stays; at the first attribute of
         * the request by default. */
        config(PF " vfnet-fails EIO vlan\n");
        ck_assert_int_eq(vfnet_set(&t, &good), -EIO);
        assert_vfnet(VF1, "mac=52:54:00:00:00:09 vlan=0 qos=0 spoofchk=1 trust=0");
        config(PF " vfnet-fails EPERM\n");
        ck_assert_int_eq(vfnet_set(&t, &(VfNetConfig) { .spoofchk = 0, .trust = 1 }), -EPERM);
        assert_vfnet(VF1, "mac=52:54:00:00:00:09 vlan=0 qos=0 spoofchk=1 trust=0");
        config(PF " vfnet-fails EOPNOTSUPP trust\n");
        ck_assert_int_eq(vfnet_set(&t, &(VfNetConfig) { .spoofchk = 0, .trust = 1 }), -EOPNOTSUPP);
        assert_vfnet(VF1, "mac=52:54:00:00:00:09 vlan=0 qos=0 spoofchk=0 trust=0");
        /* Reading is never refused. */
        ck_assert_int_eq(vfnet_get(&t, &c), 0);
        config("");
        ck_assert_int_eq(vfnet_set(&t, &good), 0);
        assert_vfnet(VF1, "mac=52:54:00:00:00:09 vlan=5 qos=0 spoofchk=1 trust=1");
}
END_TEST

/* The socket itself: only NETLINK_ROUTE is modelled, and only while the model is on; answers are
 * read with plain read(); what the model does not know is answered as the kernel would. */
START_TEST(test_vfnet_socket) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = 100 };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        uint8_t req[128], reply[4096];
        NlBuild b = { .buf = req, .size = sizeof(req) };
        socklen_t len = sizeof(sa);
        int fd, v, found = 0;
        const uint8_t *data;
        NlAttrIter it;
        uint16_t type;
        size_t alen;
        ssize_t n;

        mock_off();
        ck_assert_int_eq(fakesys_add_netdev_ifindex(fs, PF, "eth3", NULL, 0), 0);
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        ck_assert_int_ge(fd, 0);
        len = sizeof(v);
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len), 0);
        ck_assert_int_eq(v, AF_NETLINK);
        close(fd);
        mock_on();
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len), 0);
        ck_assert_int_eq(v, AF_NETLINK);
        close(fd);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len), 0);
        ck_assert_int_eq(v, AF_UNIX);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &(int) { 1 }, sizeof(int)),
                         0);
        len = sizeof(sa);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        ck_assert_uint_eq(len, sizeof(sa));
        ck_assert_int_eq(sa.nl_family, AF_NETLINK);
        ck_assert_uint_ne(sa.nl_pid, 0);

        /* RTM_GETLINK without RTEXT_FILTER_VF: the link, no VF list. */
        (void) nlb_msg(&b, RTM_GETLINK, NLM_F_REQUEST, 7, 0);
        (void) nlb_raw(&b, &ifi, sizeof(ifi));
        nlb_msg_end(&b, 0);
        ck_assert_int_eq(write(fd, req, b.len), (ssize_t) b.len);
        n = read(fd, reply, sizeof(reply));
        ck_assert_int_gt(n, (ssize_t) NLMSG_SPACE(sizeof(ifi)));
        ck_assert_uint_eq(((struct nlmsghdr *) reply)->nlmsg_type, RTM_NEWLINK);
        ck_assert_uint_eq(((struct nlmsghdr *) reply)->nlmsg_seq, 7);
        ck_assert_uint_eq(((struct nlmsghdr *) reply)->nlmsg_pid, sa.nl_pid);
        it = (NlAttrIter) { reply + NLMSG_SPACE(sizeof(ifi)),
                            (size_t) n - NLMSG_SPACE(sizeof(ifi)) };
        while (nla_next(&it, &type, &data, &alen) > 0) {
                ck_assert_uint_ne(type, IFLA_VFINFO_LIST);
                if (type == IFLA_IFNAME) {
                        ck_assert_str_eq((const char *) data, "eth3");
                        found++;
                }
        }
        ck_assert_int_eq(found, 1);

        /* A message type the model does not know: EOPNOTSUPP, acked though no ack was asked
         * for (netlink_rcv_skb() acks every error). */
        b.len = 0;
        (void) nlb_msg(&b, RTM_GETADDR, NLM_F_REQUEST, 8, 0);
        (void) nlb_raw(&b, &ifi, sizeof(ifi));
        nlb_msg_end(&b, 0);
        ck_assert_int_eq(send(fd, req, b.len, 0), (ssize_t) b.len);
        n = recv(fd, reply, sizeof(reply), 0);
        ck_assert_int_ge(n, (ssize_t) NLMSG_SPACE(sizeof(struct nlmsgerr)));
        ck_assert_uint_eq(((struct nlmsghdr *) reply)->nlmsg_type, NLMSG_ERROR);
        ck_assert_int_eq(((struct nlmsgerr *) NLMSG_DATA(reply))->error, -EOPNOTSUPP);
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("mock");
        TCase *tc;

        tc = tcase_create("sysfs");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_inactive_passes_through);
        tcase_add_test(tc, test_driver_override);
        tcase_add_test(tc, test_unbind);
        tcase_add_test(tc, test_bind);
        tcase_add_test(tc, test_drivers_probe_override);
        tcase_add_test(tc, test_drivers_probe_nothing_matches);
        tcase_add_test(tc, test_vfio_dev_numbers);
        tcase_add_test(tc, test_host_driver);
        tcase_add_test(tc, test_reset);
        tcase_add_test(tc, test_sriov);
        tcase_add_test(tc, test_sriov_autoprobe);
        tcase_add_test(tc, test_hang);
        tcase_add_test(tc, test_probe_hang);
        suite_add_tcase(s, tc);

        tc = tcase_create("vfio");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_container);
        tcase_add_test(tc, test_group_open);
        tcase_add_test(tc, test_group_close_watch);
        tcase_add_test(tc, test_group_permissions);
        tcase_add_test(tc, test_group_viability);
        tcase_add_test(tc, test_device_fd);
        tcase_add_test(tc, test_interrupt_remapping);
        tcase_add_test(tc, test_refuse_release);
        suite_add_tcase(s, tc);

        tc = tcase_create("process");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_fd_operations);
        tcase_add_test(tc, test_open_variants);
        tcase_add_test(tc, test_separate_dev_root);
        tcase_add_test(tc, test_other_processes);
        tcase_add_test(tc, test_daemon_binding_and_vfio);
        tcase_add_test(tc, test_daemon_write_timeout);
        tcase_add_test(tc, test_daemon_binding_members);
        tcase_add_test(tc, test_daemon_restore_probe);
        suite_add_tcase(s, tc);

        tc = tcase_create("vfnet");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_vfnet_get_set);
        tcase_add_test(tc, test_vfnet_refusals);
        tcase_add_test(tc, test_vfnet_socket);
        suite_add_tcase(s, tc);
        return s;
}

int main(int argc, char *argv[]) {
        return test_mock_main(argc, argv, suite);
}
