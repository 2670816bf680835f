/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvfio-mock.so: /dev/iommu and the VFIO device cdevs (tests/mock/mock-iommufd.c), checked
 * with plain syscalls on the fake host of test-mock-lib.c, as Linux 6.12 answers them. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostspec.h"
#include "iommufd-uapi.h"
#include "mock-observe.h"
#include "test-mock-lib.h"

#define CDEV0 "dev/vfio/devices/vfio0"
#define CDEV1 "dev/vfio/devices/vfio1"

static void host_has_iommufd(void) {
        _cleanup_free_ char *error = NULL;

        /* As a sample host says it: the hostspec directive. */
        mock_off();
        ck_assert_msg(hostspec_apply_string(fs, "iommufd\n", NULL, &error) == 0, "%s",
                      strna(error));
        mock_on();
}

static int ioas_alloc(int ictx) {
        struct va_iommu_ioas_alloc a = { .size = sizeof(a) };
        int r = xioctl(ictx, VA_IOMMU_IOAS_ALLOC, &a);

        return r < 0 ? r : (int) a.out_ioas_id;
}

static int destroy(int ictx, uint32_t id) {
        struct va_iommu_destroy d = { .size = sizeof(d), .id = id };

        return xioctl(ictx, VA_IOMMU_DESTROY, &d);
}

static int bind_cdev(int cdev, int ictx) {
        struct va_vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = ictx };
        int r = xioctl(cdev, VA_VFIO_DEVICE_BIND_IOMMUFD, &b);

        return r < 0 ? r : (int) b.out_devid;
}

static int attach(int cdev, uint32_t pt_id) {
        struct va_vfio_device_attach_iommufd_pt a = { .argsz = sizeof(a), .pt_id = pt_id };
        int r = xioctl(cdev, VA_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a);

        return r < 0 ? r : (int) a.pt_id;
}

static int detach(int cdev) {
        struct va_vfio_device_detach_iommufd_pt d = { .argsz = sizeof(d) };

        return xioctl(cdev, VA_VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
}

static int map(int ictx, uint32_t ioas, uint32_t flags, uint64_t iova, uint64_t length,
               uint64_t *ret_iova) {
        static char buf[1 << 16];
        struct va_iommu_ioas_map m = {
                .size = sizeof(m),
                .flags = flags,
                .ioas_id = ioas,
                .user_va = (uint64_t) (uintptr_t) buf,
                .length = length,
                .iova = iova,
        };
        int r = xioctl(ictx, VA_IOMMU_IOAS_MAP, &m);

        if (r >= 0 && ret_iova)
                *ret_iova = m.iova;
        return r;
}

#define RW (VA_IOMMU_IOAS_MAP_READABLE | VA_IOMMU_IOAS_MAP_WRITEABLE)
#define FIXED (RW | VA_IOMMU_IOAS_MAP_FIXED_IOVA)

static int unmap(int ictx, uint32_t ioas, uint64_t iova, uint64_t length, uint64_t *ret_len) {
        struct va_iommu_ioas_unmap u = {
                .size = sizeof(u), .ioas_id = ioas, .iova = iova, .length = length
        };
        int r = xioctl(ictx, VA_IOMMU_IOAS_UNMAP, &u);

        if (r >= 0 && ret_len)
                *ret_len = u.length;
        return r;
}

static int option(int ictx, uint16_t op, uint32_t object_id, uint64_t *val) {
        struct va_iommu_option o = { .size = sizeof(o),
                                     .option_id = VA_IOMMU_OPTION_RLIMIT_MODE,
                                     .op = op,
                                     .object_id = object_id,
                                     .val64 = *val };
        int r = xioctl(ictx, VA_IOMMU_OPTION, &o);

        *val = o.val64;
        return r;
}

static int set_unsafe(const char *value) {
        int r;

        mock_off();
        r = fakesys_set_module_param(fs, "iommufd", "allow_unsafe_interrupts", value);
        mock_on();
        return r;
}

/* A process that changed uid must be dumpable again for /proc/self/fd (see the README). */
static int become_nobody(void) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0 ||
            prctl(PR_SET_DUMPABLE, 1) < 0)
                return -1;
        return 0;
}

static int open_iommu_as_nobody(void) {
        int fd;

        if (become_nobody() < 0)
                return 100;
        fd = open_dev("dev/iommu", O_RDWR);
        return fd >= 0 ? 0 : -fd;
}

static int open_cdev_as_nobody(void) {
        int fd;

        if (become_nobody() < 0)
                return 100;
        fd = open_dev(CDEV0, O_RDWR);
        return fd >= 0 ? 0 : -fd;
}

/* ---- /dev/iommu ---- */

START_TEST(test_iommu_open) {
        int a, b;

        /* A kernel without iommufd has no node. */
        ck_assert_int_eq(open_dev("dev/iommu", O_RDWR), -ENOENT);
        host_has_iommufd();
        assert_file("sys/module/iommufd/parameters/allow_unsafe_interrupts", "N\n");
        a = open_dev("dev/iommu", O_RDWR);
        ck_assert_int_ge(a, 0);
        ck_assert_int_eq(fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        b = open_dev("dev/iommu", O_RDWR);
        ck_assert_int_ge(b, 0);
        /* Each open is its own context: ids start at 1 in each. */
        ck_assert_int_eq(ioas_alloc(a), 1);
        ck_assert_int_eq(ioas_alloc(b), 1);
        ck_assert_int_eq(ioas_alloc(a), 2);
        ck_assert_int_eq(write(a, "x", 1), -1);
        ck_assert_int_eq(errno, EINVAL);
        close(a);
        close(b);
        /* The injected kernel without iommufd, even though the node is there. */
        config("no-iommufd\n");
        ck_assert_int_eq(open_dev("dev/iommu", O_RDWR), -ENOENT);
        config("");
        if (geteuid() != 0)
                return; /* needs to change uid */
        ck_assert_int_eq(chmod(tmpdir, 0755), 0);
        ck_assert_int_eq(fchmodat(root_fd, "dev/iommu", 0600, 0), 0);
        ck_assert_int_eq(in_child(open_iommu_as_nobody), EACCES);
        ck_assert_int_eq(fchmodat(root_fd, "dev/iommu", 0666, 0), 0);
        ck_assert_int_eq(in_child(open_iommu_as_nobody), 0);
}
END_TEST

START_TEST(test_iommu_ioctls) {
        uint64_t v = 0;
        int c;

        host_has_iommufd();
        c = open_dev("dev/iommu", O_RDWR);
        ck_assert_int_ge(c, 0);
        /* IOMMU_OPTION_RLIMIT_MODE: global, 0 or 1, only while the context is empty. */
        ck_assert_int_eq(option(c, VA_IOMMU_OPTION_OP_GET, 0, &v), 0);
        ck_assert_uint_eq(v, 0);
        v = 1;
        ck_assert_int_eq(option(c, VA_IOMMU_OPTION_OP_SET, 0, &v), 0);
        v = 7;
        ck_assert_int_eq(option(c, VA_IOMMU_OPTION_OP_GET, 0, &v), 0);
        ck_assert_uint_eq(v, 1);
        v = 2;
        ck_assert_int_eq(option(c, VA_IOMMU_OPTION_OP_SET, 0, &v), -EINVAL);
        ck_assert_int_eq(option(c, VA_IOMMU_OPTION_OP_GET, 5, &v), -EOPNOTSUPP);
        ck_assert_int_eq(option(c, 9, 0, &v), -EOPNOTSUPP);
        /* IOAS ids from 1; an object blocks the mode. */
        ck_assert_int_eq(ioas_alloc(c), 1);
        ck_assert_int_eq(ioas_alloc(c), 2);
        v = 0;
        ck_assert_int_eq(option(c, VA_IOMMU_OPTION_OP_SET, 0, &v), -EBUSY);
        {
                struct va_iommu_ioas_alloc a = { .size = sizeof(a), .flags = 1 };

                ck_assert_int_eq(xioctl(c, VA_IOMMU_IOAS_ALLOC, &a), -EOPNOTSUPP);
                /* Smaller than the first version: EINVAL. */
                a = (struct va_iommu_ioas_alloc) { .size = 8 };
                ck_assert_int_eq(xioctl(c, VA_IOMMU_IOAS_ALLOC, &a), -EINVAL);
        }
        {
                /* A longer structure: unknown bytes must be zero. */
                struct {
                        struct va_iommu_ioas_alloc a;
                        uint32_t more;
                } big = { .a = { .size = sizeof(big) }, .more = 1 };

                ck_assert_int_eq(xioctl(c, VA_IOMMU_IOAS_ALLOC, &big), -E2BIG);
                big.more = 0;
                ck_assert_int_eq(xioctl(c, VA_IOMMU_IOAS_ALLOC, &big), 0);
                ck_assert_uint_eq(big.a.out_ioas_id, 3);
        }
        /* DESTROY: unknown ids, then the lowest free id is used again. */
        ck_assert_int_eq(destroy(c, 99), -ENOENT);
        ck_assert_int_eq(destroy(c, 0), -ENOENT);
        ck_assert_int_eq(destroy(c, 2), 0);
        ck_assert_int_eq(destroy(c, 2), -ENOENT);
        ck_assert_int_eq(ioas_alloc(c), 2);
        /* Commands the model does not know, and other ioctl types. */
        ck_assert_int_eq(xioctl(c, _IO(';', 0x8a), NULL), -ENOTTY);
        ck_assert_int_eq(xioctl(c, VFIO_GROUP_GET_STATUS, NULL), -ENOTTY);
        ck_assert_int_eq(xioctl(c, VA_IOMMU_DESTROY, NULL), -EFAULT);
        close(c);
}
END_TEST

START_TEST(test_iommu_map_unmap) {
        uint64_t iova = 0, len = 0;
        int c, ioas;

        host_has_iommufd();
        c = open_dev("dev/iommu", O_RDWR);
        ck_assert_int_ge(c, 0);
        ioas = ioas_alloc(c);
        ck_assert_int_eq(map(c, 7, FIXED, 0x100000, 0x10000, NULL), -ENOENT);
        ck_assert_int_eq(map(c, ioas, VA_IOMMU_IOAS_MAP_FIXED_IOVA, 0x100000, 0x10000, NULL),
                         -EINVAL);
        ck_assert_int_eq(map(c, ioas, FIXED | 0x100, 0x100000, 0x10000, NULL), -EOPNOTSUPP);
        ck_assert_int_eq(map(c, ioas, FIXED, 0x100000, 0, NULL), -EINVAL);
        ck_assert_int_eq(map(c, ioas, FIXED, UINT64_MAX - 0xfff, 0x2000, NULL), -EOVERFLOW);
        ck_assert_int_eq(map(c, ioas, FIXED, 0x100000, 0x10000, NULL), 0);
        /* Overlaps, at either end or inside: EEXIST; adjacent is fine. */
        ck_assert_int_eq(map(c, ioas, FIXED, 0x100000, 0x1000, NULL), -EEXIST);
        ck_assert_int_eq(map(c, ioas, FIXED, 0xff000, 0x2000, NULL), -EEXIST);
        ck_assert_int_eq(map(c, ioas, FIXED, 0x10f000, 0x2000, NULL), -EEXIST);
        ck_assert_int_eq(map(c, ioas, FIXED, 0x110000, 0x1000, NULL), 0);
        /* Without FIXED_IOVA the kernel picks the IOVA: the lowest free one here. */
        ck_assert_int_eq(map(c, ioas, RW, 0, 0x2000, &iova), 0);
        ck_assert_uint_eq(iova, 0);
        ck_assert_int_eq(map(c, ioas, RW, 0, 0x2000, &iova), 0);
        ck_assert_uint_eq(iova, 0x2000);
        /* Unmap: only whole areas; nothing there is ENOENT. */
        ck_assert_int_eq(unmap(c, ioas, 0x100000, 0x1000, NULL), -ENOENT);
        ck_assert_int_eq(unmap(c, ioas, 0x200000, 0x1000, NULL), -ENOENT);
        ck_assert_int_eq(unmap(c, ioas, 0x100000, 0, NULL), -EINVAL);
        ck_assert_int_eq(unmap(c, 9, 0x100000, 0x10000, NULL), -ENOENT);
        ck_assert_int_eq(unmap(c, ioas, 0x100000, 0x10000, &len), 0);
        ck_assert_uint_eq(len, 0x10000);
        ck_assert_int_eq(unmap(c, ioas, 0x100000, 0x10000, NULL), -ENOENT);
        /* A range covering several areas takes them all. */
        ck_assert_int_eq(unmap(c, ioas, 0, 0x4000, &len), 0);
        ck_assert_uint_eq(len, 0x4000);
        ck_assert_int_eq(map(c, ioas, FIXED, 0x100000, 0x10000, NULL), 0);
        /* "Everything" succeeds even when empty. */
        ck_assert_int_eq(unmap(c, ioas, 0, UINT64_MAX, &len), 0);
        ck_assert_uint_eq(len, 0x11000);
        ck_assert_int_eq(unmap(c, ioas, 0, UINT64_MAX, &len), 0);
        ck_assert_uint_eq(len, 0);
        /* Destroying an IOAS takes its mappings along. */
        ck_assert_int_eq(map(c, ioas, FIXED, 0x100000, 0x10000, NULL), 0);
        ck_assert_int_eq(destroy(c, (uint32_t) ioas), 0);
        ioas = ioas_alloc(c);
        ck_assert_int_eq(map(c, ioas, FIXED, 0x100000, 0x10000, NULL), 0);
        close(c);
}
END_TEST

/* ---- cdevs ---- */

START_TEST(test_cdev_open) {
        int a, b;

        ck_assert_int_eq(open_dev(CDEV0, O_RDWR), -ENOENT);
        to_vfio(NVME);
        a = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(a, 0);
        ck_assert_int_eq(fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        /* Several opens of one cdev, each a file of its own. */
        b = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(b, 0);
        ck_assert_int_eq(open_dev(CDEV1, O_RDWR), -ENOENT);
        ck_assert_int_eq(open_dev("dev/vfio/devices/vfio77", O_RDWR), -ENOENT);
        config(NVME " cdev-open-fails\n");
        ck_assert_int_eq(open_dev(CDEV0, O_RDWR), -EIO);
        config("");
        close(a);
        close(b);
        if (geteuid() != 0)
                return; /* needs to change uid */
        ck_assert_int_eq(chmod(tmpdir, 0755), 0);
        ck_assert_int_eq(in_child(open_cdev_as_nobody), EACCES);
        ck_assert_int_eq(fchownat(root_fd, CDEV0, 65534, 0, 0), 0);
        ck_assert_int_eq(in_child(open_cdev_as_nobody), 0);
}
END_TEST

static int open_cdev0(void) {
        int fd = open_dev(CDEV0, O_RDWR);

        return fd >= 0 ? 0 : 1;
}

/* The open waits, then does what it would have done: here, fail with cdev-open-fails. Other
 * devices' cdevs open at once. While a process waits, mock-observe.h sees it, and not after. */
START_TEST(test_cdev_open_hang) {
        double t0;
        int fd, status;
        pid_t pid;

        to_vfio(NVME);
        to_vfio(NIC0);
        config(NVME " cdev-open-hang 1\n");
        t0 = now_sec();
        fd = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(fd, 0);
        ck_assert(now_sec() - t0 >= 0.95);
        close(fd);
        t0 = now_sec();
        fd = open_dev(CDEV1, O_RDWR);
        ck_assert_int_ge(fd, 0);
        ck_assert(now_sec() - t0 < 0.9);
        close(fd);
        config(NVME " cdev-open-hang 1\n" NVME " cdev-open-fails\n");
        t0 = now_sec();
        ck_assert_int_eq(open_dev(CDEV0, O_RDWR), -EIO);
        ck_assert(now_sec() - t0 >= 0.95);

        config(NVME " cdev-open-hang 60\n");
        ck_assert(!mock_is_hanging(root, NVME));
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(open_cdev0());
        for (t0 = now_sec(); !mock_is_hanging(root, NVME); usleep(5000))
                ck_assert_msg(now_sec() - t0 < 10, "the opener never hung");
        ck_assert(!mock_is_hanging(root, NIC0));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(!mock_is_hanging(root, NVME));
}
END_TEST

START_TEST(test_cdev_before_bind) {
        struct vfio_device_info info = { .argsz = sizeof(info) };
        int d;

        to_vfio(NVME);
        d = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(d, 0);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_GET_INFO, &info), -EINVAL);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_RESET, NULL), -EINVAL);
        ck_assert_int_eq(attach(d, 1), -EINVAL);
        ck_assert_int_eq(detach(d), -EINVAL);
        ck_assert_int_eq(xioctl(d, VFIO_GROUP_GET_STATUS, NULL), -EINVAL);
        close(d);
}
END_TEST

START_TEST(test_cdev_bind) {
        struct vfio_device_info info = { .argsz = sizeof(info) };
        int c, d, d2, other;

        host_has_iommufd();
        to_vfio(NVME);
        c = open_dev("dev/iommu", O_RDWR);
        d = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(c, 0);
        ck_assert_int_ge(d, 0);
        {
                struct va_vfio_device_bind_iommufd b = { .argsz = 12, .iommufd = c };

                ck_assert_int_eq(xioctl(d, VA_VFIO_DEVICE_BIND_IOMMUFD, &b), -EINVAL);
                b = (struct va_vfio_device_bind_iommufd) { .argsz = sizeof(b),
                                                           .flags = 1,
                                                           .iommufd = c };
                ck_assert_int_eq(xioctl(d, VA_VFIO_DEVICE_BIND_IOMMUFD, &b), -EINVAL);
        }
        ck_assert_int_eq(bind_cdev(d, -1), -EINVAL);
        ck_assert_int_eq(bind_cdev(d, 999), -EBADF);
        other = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(bind_cdev(d, other), -EBADFD);
        close(other);
        /* Another model fd is not an iommufd either. */
        ck_assert_int_eq(bind_cdev(d, d), -EBADFD);
        config(NVME " bind-iommufd-fails\n");
        ck_assert_int_eq(bind_cdev(d, c), -ENODEV);
        config("");
        /* The device id comes from the context's id space. */
        ck_assert_int_eq(ioas_alloc(c), 1);
        ck_assert_int_eq(bind_cdev(d, c), 2);
        ck_assert_int_eq(bind_cdev(d, c), -EINVAL);
        /* A second open of the cdev is a file of its own, but the device is bound once: through
         * the cdev a device is opened once (vfio_df_open()), whatever the context. */
        d2 = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(d2, 0);
        ck_assert_int_eq(bind_cdev(d2, c), -EINVAL);
        {
                int c2 = open_dev("dev/iommu", O_RDWR);

                ck_assert_int_ge(c2, 0);
                ck_assert_int_eq(bind_cdev(d2, c2), -EINVAL);
                close(c2);
        }
        /* Now the device answers like a device fd. */
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_GET_INFO, &info), 0);
        ck_assert_uint_eq(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
        ck_assert_uint_eq(info.num_regions, VFIO_PCI_NUM_REGIONS);
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_RESET, NULL), 0);
        config(NVME " reset-fails\n");
        ck_assert_int_eq(xioctl(d, VFIO_DEVICE_RESET, NULL), -EIO);
        config("");
        ck_assert_int_eq(xioctl(d, VFIO_GROUP_GET_STATUS, NULL), -ENOTTY);
        /* The context outlives its fd while a device is bound to it. */
        close(c);
        ck_assert_int_eq(detach(d), 0);
        close(d2);
        close(d);
}
END_TEST

START_TEST(test_cdev_legacy_group) {
        int c, d, g, g2;

        host_has_iommufd();
        to_vfio(NVME);
        c = open_dev("dev/iommu", O_RDWR);
        ck_assert_int_ge(c, 0);
        /* The group open the legacy way: a cdev opens, but its bind is refused. */
        g = open_dev("dev/vfio/4", O_RDWR);
        ck_assert_int_ge(g, 0);
        d = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(d, 0);
        ck_assert_int_eq(bind_cdev(d, c), -EBUSY);
        ck_assert_int_eq(close(g), 0);
        /* An unbound cdev does not keep the group from opening. */
        g = open_dev("dev/vfio/4", O_RDWR);
        ck_assert_int_ge(g, 0);
        ck_assert_int_eq(close(g), 0);
        ck_assert_int_eq(bind_cdev(d, c), 1);
        /* A bound one does, until it is closed. */
        ck_assert_int_eq(open_dev("dev/vfio/4", O_RDWR), -EBUSY);
        ck_assert_int_eq(close(d), 0);
        g2 = open_dev("dev/vfio/4", O_RDWR);
        ck_assert_int_ge(g2, 0);
        ck_assert_int_eq(close(g2), 0);
        close(c);
}
END_TEST

/* A legacy device fd (group fd closed) keeps the group in its container. */
START_TEST(test_cdev_container_owns_group) {
        int c, d, g, k, dev;

        host_has_iommufd();
        to_vfio(NVME);
        g = open_dev("dev/vfio/4", O_RDWR);
        k = open_dev("dev/vfio/vfio", O_RDWR);
        ck_assert_int_eq(xioctl(g, VFIO_GROUP_SET_CONTAINER, &k), 0);
        ck_assert_int_eq(xioctl(k, VFIO_SET_IOMMU, (void *) (unsigned long) VFIO_TYPE1v2_IOMMU), 0);
        dev = xioctl(g, VFIO_GROUP_GET_DEVICE_FD, NVME);
        ck_assert_int_ge(dev, 0);
        /* A legacy device fd has no BIND_IOMMUFD. */
        ck_assert_int_eq(bind_cdev(dev, g), -EINVAL);
        close(g);
        close(k);
        c = open_dev("dev/iommu", O_RDWR);
        d = open_dev(CDEV0, O_RDWR);
        ck_assert_int_eq(bind_cdev(d, c), -EPERM);
        close(dev);
        ck_assert_int_eq(bind_cdev(d, c), 1);
        close(d);
        close(c);
}
END_TEST

START_TEST(test_cdev_dma_ownership) {
        int a, b, d0, d1;

        host_has_iommufd();
        /* Group 2: NIC0 on vfio-pci, NIC1 still on e1000e (not viable). */
        to_vfio(NIC0);
        a = open_dev("dev/iommu", O_RDWR);
        b = open_dev("dev/iommu", O_RDWR);
        d0 = open_dev(CDEV0, O_RDWR);
        ck_assert_int_ge(d0, 0);
        ck_assert_int_eq(bind_cdev(d0, a), -EPERM);
        to_vfio(NIC1);
        d1 = open_dev(CDEV1, O_RDWR);
        ck_assert_int_ge(d1, 0);
        ck_assert_int_eq(bind_cdev(d0, a), 1);
        /* The whole group belongs to one context. */
        ck_assert_int_eq(bind_cdev(d1, b), -EPERM);
        ck_assert_int_eq(bind_cdev(d1, a), 2);
        close(d0);
        close(d1);
        /* Let go: another context may take the group. */
        d1 = open_dev(CDEV1, O_RDWR);
        ck_assert_int_eq(bind_cdev(d1, b), 1);
        close(d1);
        close(a);
        close(b);
}
END_TEST

START_TEST(test_cdev_interrupt_remapping) {
        int c, d;

        host_has_iommufd();
        to_vfio(NVME);
        c = open_dev("dev/iommu", O_RDWR);
        d = open_dev(CDEV0, O_RDWR);
        config("no-interrupt-remapping\n");
        ck_assert_int_eq(bind_cdev(d, c), -EPERM);
        /* The type1 parameter is not iommufd's. */
        mock_off();
        ck_assert_int_eq(fakesys_set_module_param(fs, "vfio_iommu_type1", "allow_unsafe_interrupts",
                                                  "Y"),
                         0);
        mock_on();
        ck_assert_int_eq(bind_cdev(d, c), -EPERM);
        ck_assert_int_eq(set_unsafe("Y"), 0);
        ck_assert_int_eq(bind_cdev(d, c), 1);
        close(d);
        ck_assert_int_eq(set_unsafe("N"), 0);
        d = open_dev(CDEV0, O_RDWR);
        ck_assert_int_eq(bind_cdev(d, c), -EPERM);
        /* With remapping the parameter does not matter. */
        config("");
        ck_assert_int_eq(bind_cdev(d, c), 1);
        close(d);
        close(c);
}
END_TEST

START_TEST(test_cdev_attach) {
        int c, d0, d1, ioas, ioas2, hwpt;

        host_has_iommufd();
        to_vfio(NIC0);
        to_vfio(NIC1);
        c = open_dev("dev/iommu", O_RDWR);
        d0 = open_dev(CDEV0, O_RDWR);
        d1 = open_dev(CDEV1, O_RDWR);
        ioas = ioas_alloc(c);
        ck_assert_int_eq(ioas, 1);
        ck_assert_int_eq(bind_cdev(d0, c), 2);
        ck_assert_int_eq(bind_cdev(d1, c), 3);
        ck_assert_int_eq(attach(d0, 99), -ENOENT);
        ck_assert_int_eq(attach(d0, 2), -EINVAL);
        {
                struct va_vfio_device_attach_iommufd_pt a = { .argsz = 8, .pt_id = 1 };

                ck_assert_int_eq(xioctl(d0, VA_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), -EINVAL);
                a = (struct va_vfio_device_attach_iommufd_pt) { .argsz = sizeof(a),
                                                                .flags = 1,
                                                                .pt_id = 1 };
                ck_assert_int_eq(xioctl(d0, VA_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), -EINVAL);
        }
        /* An IOAS gets an automatic domain; the group's other device shares it. */
        hwpt = attach(d0, (uint32_t) ioas);
        ck_assert_int_eq(hwpt, 4);
        ck_assert_int_eq(attach(d1, (uint32_t) ioas), hwpt);
        ck_assert_int_eq(attach(d1, (uint32_t) hwpt), hwpt);
        /* A member cannot move to another domain alone. */
        ioas2 = ioas_alloc(c);
        ck_assert_int_eq(attach(d1, (uint32_t) ioas2), -EINVAL);
        /* Objects in use. */
        ck_assert_int_eq(destroy(c, (uint32_t) ioas), -EBUSY);
        ck_assert_int_eq(destroy(c, (uint32_t) hwpt), -EBUSY);
        ck_assert_int_eq(destroy(c, 2), -EBUSY);
        ck_assert_int_eq(map(c, (uint32_t) ioas, FIXED, 0x100000, 0x10000, NULL), 0);
        /* Detach both: the domain goes, the IOAS is free. */
        ck_assert_int_eq(detach(d0), 0);
        ck_assert_int_eq(destroy(c, (uint32_t) ioas), -EBUSY);
        ck_assert_int_eq(detach(d1), 0);
        ck_assert_int_eq(detach(d1), 0);
        ck_assert_int_eq(destroy(c, (uint32_t) hwpt), -ENOENT);
        ck_assert_int_eq(destroy(c, (uint32_t) ioas), 0);
        /* Closing a bound cdev unbinds its device and detaches it. */
        ck_assert_int_eq(attach(d0, (uint32_t) ioas2), 1);
        ck_assert_int_eq(destroy(c, (uint32_t) ioas2), -EBUSY);
        ck_assert_int_eq(close(d0), 0);
        ck_assert_int_eq(destroy(c, (uint32_t) ioas2), 0);
        ck_assert_int_eq(destroy(c, 2), -ENOENT);
        ck_assert_int_eq(destroy(c, 3), -EBUSY);
        close(d1);
        close(c);
}
END_TEST

/* ---- processes ---- */

static int fork_ictx = -1, fork_cdev = -1;

static int bound_in_child(void) {
        /* The same file: bound already, and its context is the parent's. */
        if (bind_cdev(fork_cdev, fork_ictx) != -EINVAL)
                return 1;
        return attach(fork_cdev, 1) == 3 && ioas_alloc(fork_ictx) == 4 ? 0 : 2;
}

static int send_fds(int sock, int a, int b) {
        int fds[2] = { a, b };
        char c = 'x', ctl[CMSG_SPACE(sizeof(fds))] = {};
        struct iovec iov = { &c, 1 };
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
        };
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);

        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(h), fds, sizeof(fds));
        return sendmsg(sock, &m, 0) == 1 ? 0 : -errno;
}

static int recv_fds(int sock, int ret[2]) {
        char c, ctl[CMSG_SPACE(2 * sizeof(int))];
        struct iovec iov = { &c, 1 };
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
        };
        struct cmsghdr *h;

        if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
                return -EIO;
        h = CMSG_FIRSTHDR(&m);
        if (!h || h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(2 * sizeof(int)))
                return -EIO;
        memcpy(ret, CMSG_DATA(h), 2 * sizeof(int));
        return 0;
}

/* A VMM given an unbound cdev and an iommufd over a socket: fds its table has never seen. */
static int vmm_child(int sock) {
        int fds[2];

        if (recv_fds(sock, fds) < 0)
                return 10;
        if (bind_cdev(fds[1], fds[0]) != 1)
                return 11;
        if (ioas_alloc(fds[0]) != 2)
                return 12;
        if (attach(fds[1], 2) != 3)
                return 13;
        if (map(fds[0], 2, FIXED, 0x100000, 0x10000, NULL) != 0)
                return 14;
        return 0;
}

START_TEST(test_cdev_fd_passing) {
        host_has_iommufd();
        to_vfio(NVME);
        /* fork(): the child's fds are the same files, with the same state. */
        for (int i = 0; i < 10; i++) {
                fork_ictx = open_dev("dev/iommu", O_RDWR);
                fork_cdev = open_dev(CDEV0, O_RDWR);
                ck_assert_int_eq(ioas_alloc(fork_ictx), 1);
                ck_assert_int_eq(bind_cdev(fork_cdev, fork_ictx), 2);
                ck_assert_int_eq(in_child(bound_in_child), 0);
                /* What the child did is the parent's too. */
                ck_assert_int_eq(destroy(fork_ictx, 1), -EBUSY);
                ck_assert_int_eq(destroy(fork_ictx, 4), 0);
                ck_assert_int_eq(attach(fork_cdev, 1), 3);
                close(fork_cdev);
                close(fork_ictx);
        }
        /* SCM_RIGHTS to a process whose table never saw the fds. */
        for (int i = 0; i < 10; i++) {
                int sv[2], c, d, status;
                pid_t pid;

                ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
                pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        close(sv[0]);
                        _exit(vmm_child(sv[1]));
                }
                close(sv[1]);
                c = open_dev("dev/iommu", O_RDWR);
                d = open_dev(CDEV0, O_RDWR);
                ck_assert_int_eq(send_fds(sv[0], c, d), 0);
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_assert(WIFEXITED(status));
                ck_assert_int_eq(WEXITSTATUS(status), 0);
                close(sv[0]);
                /* The child bound the parent's cdev into the parent's context. */
                ck_assert_int_eq(bind_cdev(d, c), -EINVAL);
                ck_assert_int_eq(destroy(c, 2), -EBUSY);
                ck_assert_int_eq(map(c, 2, FIXED, 0x100000, 0x1000, NULL), -EEXIST);
                ck_assert_int_eq(ioas_alloc(c), 4);
                close(d);
                close(c);
        }
}
END_TEST

/* An open cdev holds the device on vfio-pci, and a watch on the node sees each close. */
START_TEST(test_cdev_release) {
        _cleanup_free_ char *node = NULL;
        _cleanup_close_ int ifd = -1;
        int c, d, d2;

        host_has_iommufd();
        to_vfio(NVME);
        expect_events("unbind " NVME "\nbind " NVME "\n");
        ck_assert_int_ge(asprintf(&node, "%s/" CDEV0, root), 0);
        ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ifd, 0);
        ck_assert_int_ge(inotify_add_watch(ifd, node, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE), 0);
        c = open_dev("dev/iommu", O_RDWR);
        d = open_dev(CDEV0, O_RDWR);
        d2 = fcntl(d, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(d2, 0);
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), -EBUSY);
        ck_assert_int_eq(bind_cdev(d, c), 1);
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), -EBUSY);
        /* A refused open makes no event; the model's own looks make none either. */
        config(NVME " cdev-open-fails\n");
        ck_assert_int_eq(open_dev(CDEV0, O_RDWR), -EIO);
        config("");
        ck_assert_int_eq(close(d), 0);
        ck_assert_int_eq(close_events(ifd), 0);
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), -EBUSY);
        ck_assert_int_eq(close(d2), 0);
        ck_assert_int_eq(close_events(ifd), 1);
        expect_events("");
        ck_assert_int_eq(drv_wr("vfio-pci", "unbind", NVME), 0);
        ck_assert(!exists(CDEV0));
        ck_assert_int_eq(open_dev(CDEV0, O_RDWR), -ENOENT);
        expect_events("unbind " NVME "\n");
        close(c);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("mock-iommufd");
        TCase *tc;

        tc = tcase_create("iommufd");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_iommu_open);
        tcase_add_test(tc, test_iommu_ioctls);
        tcase_add_test(tc, test_iommu_map_unmap);
        suite_add_tcase(s, tc);

        tc = tcase_create("cdev");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_cdev_open);
        tcase_add_test(tc, test_cdev_open_hang);
        tcase_add_test(tc, test_cdev_before_bind);
        tcase_add_test(tc, test_cdev_bind);
        tcase_add_test(tc, test_cdev_legacy_group);
        tcase_add_test(tc, test_cdev_container_owns_group);
        tcase_add_test(tc, test_cdev_dma_ownership);
        tcase_add_test(tc, test_cdev_interrupt_remapping);
        tcase_add_test(tc, test_cdev_attach);
        tcase_add_test(tc, test_cdev_fd_passing);
        tcase_add_test(tc, test_cdev_release);
        suite_add_tcase(s, tc);
        return s;
}

int main(int argc, char *argv[]) {
        return test_mock_main(argc, argv, suite);
}
