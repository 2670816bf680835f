/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the kernel does when a sysfs attribute of the PCI bus is written
 * (Documentation/ABI/testing/sysfs-bus-pci, drivers/pci/pci-sysfs.c, drivers/pci/iov.c,
 * drivers/base/bus.c), played on a fake tree with tests/fakesys.c doing the edits.
 *
 * Every write runs under the model lock, reads the tree, edits it, and then reports what it
 * changed as uevent lines. Everything runs with mock_guard raised (see vfio-mock.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bdf.h"
#include "fakesys.h"
#include "macro.h"
#include "mock.h"
#include "util.h"

#define DEVICES "sys/bus/pci/devices"
#define DRIVERS "sys/bus/pci/drivers"
#define GROUPS "sys/kernel/iommu_groups"
/* The kernel copies at most a page into store() and driver_override refuses count >=
 * PAGE_SIZE - 1 (drivers/base/driver.c driver_set_override()). */
#define STORE_MAX 4094
#define VFIO_DEV_MAX 4096
#define GROUP_MAX 1000000u

static const char *const attr_files[_MOCK_ATTR_MAX] = {
        [MOCK_ATTR_DRIVER_OVERRIDE] = "driver_override",
        [MOCK_ATTR_RESET] = "reset",
        [MOCK_ATTR_SRIOV_NUMVFS] = "sriov_numvfs",
        [MOCK_ATTR_SRIOV_AUTOPROBE] = "sriov_drivers_autoprobe",
        [MOCK_ATTR_BIND] = "bind",
        [MOCK_ATTR_UNBIND] = "unbind",
        [MOCK_ATTR_DRIVERS_PROBE] = "drivers_probe",
};

bool mock_attr_name_is_candidate(const char *basename) {
        for (size_t i = 0; i < ELEMENTSOF(attr_files); i++)
                if (streq(basename, attr_files[i]))
                        return true;
        return false;
}

static bool copy_name(const char *s, size_t n, char ret[static MOCK_NAME_MAX]) {
        if (n == 0 || n >= MOCK_NAME_MAX)
                return false;
        memcpy(ret, s, n);
        ret[n] = 0;
        return filename_is_valid(ret);
}

int mock_attr_classify(const MockRoots *roots, const char *canonical, MockAttr *ret_attr,
                       char ret_name[static MOCK_NAME_MAX]) {
        size_t len = strlen(roots->root);
        const char *rel, *base, *parent;

        if (!strneq(canonical, roots->root, len) || canonical[len] != '/')
                return 0;
        rel = canonical + len + 1;
        if (streq(rel, "sys/bus/pci/drivers_probe")) {
                *ret_attr = MOCK_ATTR_DRIVERS_PROBE;
                ret_name[0] = 0;
                return 1;
        }
        if (strneq(rel, DRIVERS "/", strlen(DRIVERS "/"))) {
                const char *drv = rel + strlen(DRIVERS "/"), *slash = strchr(drv, '/');

                if (!slash || strchr(slash + 1, '/') ||
                    !copy_name(drv, (size_t) (slash - drv), ret_name))
                        return 0;
                if (streq(slash + 1, "bind"))
                        *ret_attr = MOCK_ATTR_BIND;
                else if (streq(slash + 1, "unbind"))
                        *ret_attr = MOCK_ATTR_UNBIND;
                else
                        return 0;
                return 1;
        }
        if (!strneq(rel, "sys/", 4))
                return 0;
        /* .../<BDF>/<attribute>: the device directory wherever it nests. */
        base = strrchr(rel, '/') + 1;
        for (parent = base - 1; parent > rel && parent[-1] != '/'; parent--)
                ;
        if (!copy_name(parent, (size_t) (base - 1 - parent), ret_name) ||
            !pci_address_is_canonical(ret_name))
                return 0;
        for (MockAttr a = MOCK_ATTR_DRIVER_OVERRIDE; a <= MOCK_ATTR_SRIOV_AUTOPROBE; a++)
                if (streq(base, attr_files[a])) {
                        *ret_attr = a;
                        return 1;
                }
        return 0;
}

/* ---- small file helpers, relative to the root fd ---- */

int mock_read_small(int dirfd, const char *rel, char *buf, size_t size) {
        _cleanup_close_ int fd = -1;
        ssize_t n;

        fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        strstrip_trailing(buf);
        return 0;
}

static int read_u32(int dirfd, const char *rel, unsigned base, uint32_t *ret) {
        char buf[64];
        int r = mock_read_small(dirfd, rel, buf, sizeof(buf));

        return r < 0 ? r : safe_atou32(buf, base, ret);
}

static int write_small(int dirfd, const char *rel, const char *text) {
        _cleanup_close_ int fd = -1;
        size_t n = strlen(text);

        fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        return write(fd, text, n) == (ssize_t) n ? 0 : -EIO;
}

static int link_name(int dirfd, const char *rel, char ret[static MOCK_NAME_MAX]) {
        char target[PATH_MAX];
        const char *base;
        ssize_t n;

        n = readlinkat(dirfd, rel, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strlen(base) >= MOCK_NAME_MAX)
                return -ENAMETOOLONG;
        strcpy(ret, base);
        return 0;
}

int mock_list_names(int dirfd, const char *rel, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        int fd, r = 0;

        fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        for (struct dirent *de; r >= 0 && (de = readdir(d));)
                if (de->d_name[0] != '.')
                        r = strv_extend(&l, de->d_name);
        if (r < 0)
                return r;
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- state in <root>/.vfio-mock ---- */

static int state_dir(int dirfd, const char *sub) {
        char p[64];

        if (mkdirat(dirfd, MOCK_STATE_DIR, 0755) >= 0) {
                /* Like /tmp: unprivileged processes under the model (a VMM given a group) create
                 * their lock files too. */
                if (fchmodat(dirfd, MOCK_STATE_DIR, 01777, 0) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        if (!sub)
                return 0;
        snprintf(p, sizeof(p), MOCK_STATE_DIR "/%s", sub);
        return mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int mock_state_read(int dirfd, const char *sub, const char *bdf, char ret[static MOCK_NAME_MAX]) {
        char p[128];

        snprintf(p, sizeof(p), MOCK_STATE_DIR "/%s/%s", sub, bdf);
        return mock_read_small(dirfd, p, ret, MOCK_NAME_MAX);
}

int mock_state_write(int dirfd, const char *sub, const char *bdf, const char *value) {
        char p[128];
        int r;

        r = state_dir(dirfd, sub);
        if (r < 0)
                return r;
        snprintf(p, sizeof(p), MOCK_STATE_DIR "/%s/%s", sub, bdf);
        return write_small(dirfd, p, value);
}

void mock_state_remove(int dirfd, const char *sub, const char *bdf) {
        char p[128];

        snprintf(p, sizeof(p), MOCK_STATE_DIR "/%s/%s", sub, bdf);
        (void) unlinkat(dirfd, p, 0);
}

int mock_lock_model(const char *root) {
        _cleanup_close_ int dirfd = -1, fd = -1;
        int r;

        dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        r = state_dir(dirfd, NULL);
        if (r < 0)
                return r;
        /* Read-only is enough for flock(), and lets unprivileged processes take the lock. */
        fd = openat(dirfd, MOCK_STATE_DIR "/lock", O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                    0644);
        if (fd < 0)
                return -errno;
        /* flock() locks belong to the open file description, so this excludes other threads of
         * this process as well as other processes. */
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return -errno;
        return TAKE_FD(fd);
}

void mock_unlock_model(int fd) {
        safe_close(fd);
}

/* ---- reading the tree ---- */

int mock_device_driver(int root_fd, const char *bdf, char ret[static MOCK_NAME_MAX]) {
        char p[128];
        int r;

        if (!pci_address_is_canonical(bdf))
                return -ENOENT;
        snprintf(p, sizeof(p), DEVICES "/%s", bdf);
        if (faccessat(root_fd, p, F_OK, 0) < 0)
                return -ENOENT;
        snprintf(p, sizeof(p), DEVICES "/%s/driver", bdf);
        r = link_name(root_fd, p, ret);
        if (r == -ENOENT) {
                ret[0] = 0;
                return 0;
        }
        return r;
}

int mock_device_group(int root_fd, const char *bdf, unsigned *ret) {
        char p[128], name[MOCK_NAME_MAX];
        uint32_t g;
        int r;

        snprintf(p, sizeof(p), DEVICES "/%s/iommu_group", bdf);
        r = link_name(root_fd, p, name);
        if (r < 0)
                return r;
        r = safe_atou32(name, 10, &g);
        if (r < 0)
                return r;
        *ret = g;
        return 0;
}

bool mock_device_has_reset(int root_fd, const char *bdf) {
        char p[128];

        snprintf(p, sizeof(p), DEVICES "/%s/reset", bdf);
        return faccessat(root_fd, p, F_OK, 0) >= 0;
}

int mock_group_members(int root_fd, unsigned group, char ***ret) {
        char p[128];

        snprintf(p, sizeof(p), GROUPS "/%u/devices", group);
        return mock_list_names(root_fd, p, ret);
}

int mock_group_lock_open(const char *root, unsigned group, int flags) {
        _cleanup_close_ int dirfd = -1;
        char p[64];
        int fd, r;

        dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        r = state_dir(dirfd, NULL);
        if (r < 0)
                return r;
        snprintf(p, sizeof(p), MOCK_STATE_DIR "/group-%u", group);
        fd = openat(dirfd, p, O_RDWR | O_CREAT | O_NOFOLLOW | (flags & O_CLOEXEC), 0666);
        if (fd < 0)
                return -errno;
        /* Unprivileged VMMs open groups too (a uid grant on /dev/vfio/N). */
        (void) fchmod(fd, 0666);
        return fd;
}

bool mock_group_in_use(const char *root, unsigned group) {
        _cleanup_close_ int fd = -1;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 2 };
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s/" MOCK_STATE_DIR "/group-%u", root, group);
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        /* Group fds hold byte 0, device fds share byte 1 (see mock-vfio.c). */
        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
                return false;
        return fl.l_type != F_UNLCK;
}

void mock_emit_uevent(const char *action, const char *bdf) {
        _cleanup_close_ int fd = -1;
        const char *path = getenv("VFIO_MOCK_UEVENT_FIFO");
        char line[64];
        int n;

        if (isempty(path))
                return;
        fd = open(path, O_WRONLY | O_NONBLOCK | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return;
        n = snprintf(line, sizeof(line), "%s %s\n", action, bdf);
        /* One write below PIPE_BUF: lines from concurrent writers never interleave. */
        (void) !write(fd, line, (size_t) n);
}

/* ---- natural drivers ---- */

/* The driver a device had when the model first saw it: what drivers_probe finds for it without
 * an override. A device first seen on vfio-pci has none (vfio-pci's id table is empty). */
static void natural_ensure(int root_fd, const char *bdf) {
        char drv[MOCK_NAME_MAX];

        if (mock_state_read(root_fd, "natural", bdf, drv) >= 0)
                return;
        if (mock_device_driver(root_fd, bdf, drv) < 0)
                return;
        (void) mock_state_write(root_fd, "natural", bdf, mock_driver_is_vfio(drv) ? "" : drv);
}

static void natural_get(int root_fd, const char *bdf, char ret[static MOCK_NAME_MAX]) {
        if (mock_state_read(root_fd, "natural", bdf, ret) < 0)
                ret[0] = 0;
}

void mock_record_natural_all(const char *root) {
        _cleanup_strv_free_ char **devs = NULL;
        _cleanup_close_ int root_fd = -1;
        int lock;

        root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0 || mock_list_names(root_fd, DEVICES, &devs) < 0)
                return;
        lock = mock_lock_model(root);
        if (lock < 0)
                return;
        for (char **i = devs; i && *i; i++)
                if (pci_address_is_canonical(*i))
                        natural_ensure(root_fd, *i);
        mock_unlock_model(lock);
}

/* ---- edits ---- */

typedef struct Ctx {
        const MockRoots *roots;
        FakeSys *fs;
        int root_fd;
        int lock_fd;
        MockFaults faults;
} Ctx;

static int ctx_open(Ctx *c, const MockRoots *roots) {
        int r;

        c->roots = roots;
        c->lock_fd = mock_lock_model(roots->root);
        if (c->lock_fd < 0)
                return c->lock_fd;
        r = fakesys_new(roots->root, 0, &c->fs);
        if (r < 0) {
                mock_unlock_model(c->lock_fd);
                return r;
        }
        c->root_fd = fakesys_root_fd(c->fs);
        return 0;
}

static void ctx_close(Ctx *c) {
        c->fs = fakesys_free(c->fs);
        mock_unlock_model(c->lock_fd);
}

/* A regular empty file stands in for a device node in a fake dev root; modes as udev leaves
 * them (/dev/vfio/vfio is for everyone, groups are root's until someone grants them). */
static void dev_node_put(const Ctx *c, const char *rel, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -1;

        if (asprintf(&p, "%s/dev", c->roots->dev_root) < 0)
                return;
        (void) mkdir(p, 0755);
        p = mfree(p);
        if (asprintf(&p, "%s/dev/vfio", c->roots->dev_root) < 0)
                return;
        (void) mkdir(p, 0755);
        p = mfree(p);
        if (asprintf(&p, "%s/dev/vfio/devices", c->roots->dev_root) < 0)
                return;
        (void) mkdir(p, 0755);
        p = mfree(p);
        if (asprintf(&p, "%s/%s", c->roots->dev_root, rel) < 0)
                return;
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0)
                (void) fchmod(fd, mode);
}

static void dev_node_remove(const Ctx *c, const char *rel) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", c->roots->dev_root, rel) >= 0)
                (void) unlink(p);
}

int mock_device_cdev_number(int root_fd, const char *bdf) {
        _cleanup_strv_free_ char **names = NULL;
        char p[128];
        uint32_t n;

        snprintf(p, sizeof(p), DEVICES "/%s/vfio-dev", bdf);
        if (mock_list_names(root_fd, p, &names) < 0)
                return -ENOENT;
        for (char **i = names; i && *i; i++)
                if (strneq(*i, "vfio", 4) && safe_atou32(*i + 4, 10, &n) >= 0 && n < VFIO_DEV_MAX)
                        return (int) n;
        return -ENOENT;
}

/* The lowest free cdev number, as the kernel's ida hands them out (drivers/vfio/device_cdev.c). */
static int vfio_dev_free_number(int root_fd) {
        _cleanup_strv_free_ char **devs = NULL;
        bool used[VFIO_DEV_MAX] = {};

        (void) mock_list_names(root_fd, DEVICES, &devs);
        for (char **i = devs; i && *i; i++) {
                int n = pci_address_is_canonical(*i) ? mock_device_cdev_number(root_fd, *i) : -1;

                if (n >= 0)
                        used[n] = true;
        }
        for (int n = 0; n < VFIO_DEV_MAX; n++)
                if (!used[n])
                        return n;
        return -ENOSPC;
}

static bool group_has_vfio_member(int root_fd, unsigned group) {
        _cleanup_strv_free_ char **members = NULL;
        char drv[MOCK_NAME_MAX];

        if (mock_group_members(root_fd, group, &members) < 0)
                return false;
        for (char **i = members; i && *i; i++)
                if (mock_device_driver(root_fd, *i, drv) >= 0 && mock_driver_is_vfio(drv))
                        return true;
        return false;
}

static int do_bind(Ctx *c, const char *bdf, const char *driver) {
        char node[64];
        unsigned group;
        int r, n;

        r = fakesys_bind(c->fs, bdf, driver);
        if (r < 0)
                return r;
        if (mock_driver_is_vfio(driver)) {
                /* vfio-pci registers the device: its cdev (6.6+, vfio-dev/vfioN) and the group
                 * node /dev/vfio/N; loading the module made /dev/vfio/vfio. */
                n = vfio_dev_free_number(c->root_fd);
                if (n >= 0 && fakesys_set_vfio_dev(c->fs, bdf, n) >= 0) {
                        snprintf(node, sizeof(node), "dev/vfio/devices/vfio%d", n);
                        dev_node_put(c, node, 0600);
                }
                dev_node_put(c, "dev/vfio/vfio", 0666);
                if (mock_device_group(c->root_fd, bdf, &group) >= 0) {
                        snprintf(node, sizeof(node), "dev/vfio/%u", group);
                        dev_node_put(c, node, 0600);
                }
        }
        mock_emit_uevent("bind", bdf);
        return 0;
}

static int do_unbind(Ctx *c, const char *bdf, const char *driver) {
        bool vfio = mock_driver_is_vfio(driver);
        char node[64];
        unsigned group;
        int r, n;

        n = vfio ? mock_device_cdev_number(c->root_fd, bdf) : -1;
        r = fakesys_unbind(c->fs, bdf);
        if (r < 0)
                return r;
        if (vfio) {
                if (n >= 0) {
                        snprintf(node, sizeof(node), "dev/vfio/devices/vfio%d", n);
                        dev_node_remove(c, node);
                }
                if (mock_device_group(c->root_fd, bdf, &group) >= 0 &&
                    !group_has_vfio_member(c->root_fd, group)) {
                        snprintf(node, sizeof(node), "dev/vfio/%u", group);
                        dev_node_remove(c, node);
                }
                if (c->faults.host_driver[0])
                        (void) mock_state_write(c->root_fd, "armed", bdf, c->faults.host_driver);
        }
        mock_emit_uevent("unbind", bdf);
        return 0;
}

/* The host driver of a `host-driver` line, once armed by an unbind from vfio-pci. */
static const char *armed_driver(const Ctx *c, const char *bdf) {
        char armed[MOCK_NAME_MAX];

        if (mock_state_read(c->root_fd, "armed", bdf, armed) < 0)
                return NULL;
        if (!c->faults.host_driver[0]) {
                /* The line is gone: the "upgrade" was rolled back. */
                mock_state_remove(c->root_fd, "armed", bdf);
                return NULL;
        }
        return c->faults.host_driver;
}

static void read_override(const Ctx *c, const char *bdf, char ret[static MOCK_NAME_MAX]) {
        char p[128];

        snprintf(p, sizeof(p), DEVICES "/%s/driver_override", bdf);
        if (mock_read_small(c->root_fd, p, ret, MOCK_NAME_MAX) < 0 || streq(ret, "(null)"))
                ret[0] = 0;
}

static bool driver_dir_exists(const Ctx *c, const char *driver) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), DRIVERS "/%s", driver);
        return faccessat(c->root_fd, p, F_OK, 0) >= 0;
}

static int pf_attr(const Ctx *c, const char *pf, const char *name, unsigned base, uint32_t *ret);

/* pci_device_can_probe() (drivers/pci/pci-driver.c): a VF probes only with an override or while
 * its PF's sriov_drivers_autoprobe is on (Documentation/ABI/testing/sysfs-bus-pci). */
static bool can_probe(const Ctx *c, const char *bdf, const char *override) {
        char p[128], pf[MOCK_NAME_MAX];
        uint32_t autoprobe;

        snprintf(p, sizeof(p), DEVICES "/%s/physfn", bdf);
        if (override[0] || link_name(c->root_fd, p, pf) < 0)
                return true;
        return pf_attr(c, pf, "sriov_drivers_autoprobe", 0, &autoprobe) < 0 || autoprobe != 0;
}

/* drivers/base/bus.c bind_store(): the driver must match (pci_match_device(): only the
 * override when one is set), and the device must be free. */
static int store_bind(Ctx *c, const char *driver, const char *bdf) {
        char cur[MOCK_NAME_MAX], override[MOCK_NAME_MAX], natural[MOCK_NAME_MAX];
        const char *armed;
        bool match;

        if (mock_device_driver(c->root_fd, bdf, cur) < 0)
                return -ENODEV;
        read_override(c, bdf, override);
        natural_get(c->root_fd, bdf, natural);
        armed = armed_driver(c, bdf);
        if (override[0])
                match = streq(driver, override);
        else
                match = streq(driver, natural) || (armed && streq(driver, armed));
        if (!match || !can_probe(c, bdf, override))
                return -ENODEV;
        if (cur[0])
                return -EBUSY;
        if (c->faults.bind_fails)
                return -ENODEV;
        return do_bind(c, bdf, driver);
}

/* unbind_store(): only from the driver the device is bound to. */
static int store_unbind(Ctx *c, const char *driver, const char *bdf) {
        char cur[MOCK_NAME_MAX];
        unsigned group;

        if (mock_device_driver(c->root_fd, bdf, cur) < 0 || !streq(cur, driver))
                return -ENODEV;
        if (c->faults.unbind_ebusy)
                return -EBUSY;
        if (mock_driver_is_vfio(driver)) {
                if (c->faults.refuse_release)
                        return -c->faults.refuse_release;
                /* The real kernel blocks in vfio_unregister_group_dev() until the user lets go;
                 * the model refuses instead of hanging the test. */
                if (mock_device_group(c->root_fd, bdf, &group) >= 0 &&
                    mock_group_in_use(c->roots->root, group))
                        return -EBUSY;
                /* An open cdev holds the device's registration (vfio_device_fops_cdev_open()
                 * takes it) just as a device fd does. */
                if (mock_cdev_device_open(c->roots->root, bdf))
                        return -EBUSY;
        }
        return do_unbind(c, bdf, driver);
}

/* drivers_probe_store(): attach a free device to whatever matches; "no driver" is success. */
static int store_drivers_probe(Ctx *c, const char *bdf) {
        char cur[MOCK_NAME_MAX], override[MOCK_NAME_MAX], natural[MOCK_NAME_MAX];
        const char *target = NULL, *armed;

        if (mock_device_driver(c->root_fd, bdf, cur) < 0)
                return -ENODEV;
        if (cur[0] || c->faults.probe_nothing)
                return 0;
        read_override(c, bdf, override);
        if (!can_probe(c, bdf, override))
                return 0;
        natural_get(c->root_fd, bdf, natural);
        armed = armed_driver(c, bdf);
        if (armed)
                target = armed;
        else if (override[0]) {
                /* Only a loaded driver can match; vfio-pci stands for a module that a
                 * modprobe would load. */
                if (driver_dir_exists(c, override) || streq(override, MOCK_DRIVER_VFIO))
                        target = override;
        } else if (natural[0])
                target = natural;
        if (!target)
                return 0;
        if (c->faults.bind_fails)
                return -ENODEV;
        return do_bind(c, bdf, target);
}

/* driver_set_override(): the value up to the first NUL or newline; empty clears. */
static int store_driver_override(Ctx *c, const char *bdf, char *value) {
        _cleanup_free_ char *line = NULL;
        char *nl = strchr(value, '\n');

        if (c->faults.override_eio)
                return -EIO;
        if (nl)
                *nl = 0;
        /* driver_override_show() prints "%s\n", and "(null)" for none. */
        if (asprintf(&line, "%s\n", *value ? value : "(null)") < 0)
                return -ENOMEM;
        return fakesys_set_attr(c->fs, bdf, "driver_override", line);
}

/* reset_store(): only "1" (kstrtoul), then pci_reset_function(). */
static int store_reset(Ctx *c, const char *bdf, const char *value) {
        uint64_t v;

        if (safe_atou64(value, 0, &v) < 0 || v != 1)
                return -EINVAL;
        if (c->faults.reset_fails)
                return -EIO;
        mock_emit_uevent("change", bdf);
        return 0;
}

static int pf_attr(const Ctx *c, const char *pf, const char *name, unsigned base, uint32_t *ret) {
        char p[128 + MOCK_NAME_MAX];

        snprintf(p, sizeof(p), DEVICES "/%s/%s", pf, name);
        return read_u32(c->root_fd, p, base, ret);
}

static int next_free_group(const Ctx *c, unsigned *ret) {
        _cleanup_strv_free_ char **groups = NULL;
        uint32_t g, next = 0;

        (void) mock_list_names(c->root_fd, GROUPS, &groups);
        for (char **i = groups; i && *i; i++)
                if (safe_atou32(*i, 10, &g) >= 0 && g < GROUP_MAX && g + 1 > next)
                        next = g + 1;
        *ret = next;
        return 0;
}

/* The VFs a PF lists as virtfnN, highest N first (sriov_del_vfs() removes them so). */
static int list_vfs(const Ctx *c, const char *pf, char ***ret) {
        _cleanup_strv_free_ char **names = NULL, **vfs = NULL;
        char p[128], vf[MOCK_NAME_MAX];
        int r;

        snprintf(p, sizeof(p), DEVICES "/%s", pf);
        r = mock_list_names(c->root_fd, p, &names);
        if (r < 0)
                return r;
        for (size_t k = strv_length(names); k > 0; k--) {
                char *i = names[k - 1];

                if (!strneq(i, "virtfn", 6))
                        continue;
                snprintf(p, sizeof(p), DEVICES "/%s/%s", pf, i);
                if (link_name(c->root_fd, p, vf) >= 0 && pci_address_is_canonical(vf) &&
                    (r = strv_extend(&vfs, vf)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(vfs);
        return 0;
}

static int remove_vf(Ctx *c, const char *vf) {
        char drv[MOCK_NAME_MAX];
        int r;

        if (mock_device_driver(c->root_fd, vf, drv) >= 0 && drv[0]) {
                r = do_unbind(c, vf, drv);
                if (r < 0)
                        return r;
        }
        r = fakesys_remove_device(c->fs, vf);
        if (r < 0)
                return r;
        mock_state_remove(c->root_fd, "natural", vf);
        mock_state_remove(c->root_fd, "armed", vf);
        /* The PF driver forgets what was set on a VF it no longer has. */
        mock_state_remove(c->root_fd, MOCK_VFNET_DIR, vf);
        mock_emit_uevent("remove", vf);
        return 0;
}

static int remove_vfs(Ctx *c, const char *pf) {
        _cleanup_strv_free_ char **vfs = NULL;
        unsigned group;
        int r;

        r = list_vfs(c, pf, &vfs);
        if (r < 0)
                return r;
        for (char **i = vfs; i && *i; i++)
                if ((mock_device_group(c->root_fd, *i, &group) >= 0 &&
                     mock_group_in_use(c->roots->root, group)) ||
                    mock_cdev_device_open(c->roots->root, *i))
                        return -EBUSY;
        for (char **i = vfs; i && *i; i++) {
                r = remove_vf(c, *i);
                if (r < 0)
                        return r;
        }
        return fakesys_set_attr(c->fs, pf, "sriov_numvfs", "0\n");
}

/* sriov_enable(): VF n has routing ID PF + First VF Offset + n * VF Stride (PCIe 6.0 §9.3.3.9,
 * §9.3.3.10), the PF's ids but the VF Device ID, and like every VF it supports FLR
 * (§9.2.1.2 of the same spec requires Function Level Reset of VFs). */
static int create_vfs(Ctx *c, const char *pf, unsigned count) {
        _cleanup_free_ char *pf_path = NULL;
        char parent[MOCK_NAME_MAX], unit[MOCK_NAME_MAX], p[128];
        uint32_t offset, stride, vf_device, vendor, sub_vendor = 0, sub_device = 0, cls;
        int32_t numa = -1;
        bool has_parent, has_unit;
        PciAddress a;
        unsigned group;
        char *slash;
        int r;

        r = pf_attr(c, pf, "sriov_offset", 0, &offset);
        if (r >= 0)
                r = pf_attr(c, pf, "sriov_stride", 0, &stride);
        if (r >= 0)
                r = pf_attr(c, pf, "sriov_vf_device", 16, &vf_device);
        if (r >= 0)
                r = pf_attr(c, pf, "vendor", 0, &vendor);
        if (r >= 0)
                r = pf_attr(c, pf, "class", 0, &cls);
        if (r < 0)
                return -EIO;
        (void) pf_attr(c, pf, "subsystem_vendor", 0, &sub_vendor);
        (void) pf_attr(c, pf, "subsystem_device", 0, &sub_device);
        snprintf(p, sizeof(p), DEVICES "/%s/numa_node", pf);
        {
                char buf[32];

                if (mock_read_small(c->root_fd, p, buf, sizeof(buf)) >= 0)
                        (void) safe_atoi32(buf, &numa);
        }
        if (stride == 0 || vf_device > 0xffff || vendor > 0xffff || cls > 0xffffff)
                return -EIO;
        r = fakesys_device_path(c->fs, pf, &pf_path);
        if (r < 0)
                return r;
        /* VFs sit below the PF's bridge: the PF directory's parent, when that is a device. */
        slash = strrchr(pf_path, '/');
        *slash = 0;
        slash = strrchr(pf_path, '/');
        has_parent = slash && strlen(slash + 1) < MOCK_NAME_MAX &&
                     pci_address_is_canonical(slash + 1);
        if (has_parent)
                strcpy(parent, slash + 1);
        snprintf(p, sizeof(p), DEVICES "/%s/iommu", pf);
        has_unit = link_name(c->root_fd, p, unit) >= 0;
        (void) pci_address_parse(pf, &a);
        r = next_free_group(c, &group);
        for (unsigned n = 0; r >= 0 && n < count; n++) {
                uint32_t rid = (uint32_t) (a.bus << 8 | a.dev << 3 | a.fn) + offset + n * stride;
                PciAddress va = { .domain = a.domain };
                char vf[PCI_ADDRESS_STRLEN];
                FakeDevice d;

                /* sriov_enable() refuses VFs beyond the bus range with ENOMEM. */
                if (rid > 0xffff) {
                        r = -ENOMEM;
                        break;
                }
                va.bus = (uint8_t) (rid >> 8);
                va.dev = (uint8_t) ((rid >> 3) & 0x1f);
                va.fn = (uint8_t) (rid & 7);
                pci_address_format(&va, vf);
                fake_device_init(&d, vf);
                d.parent = has_parent ? parent : NULL;
                d.vendor = (uint16_t) vendor;
                d.device = (uint16_t) vf_device;
                d.subsystem_vendor = (uint16_t) sub_vendor;
                d.subsystem_device = (uint16_t) sub_device;
                d.class_code = cls;
                d.physfn = pf;
                d.reset_method = "flr";
                d.numa_node = numa;
                d.iommu_group = (int) (group + n);
                d.iommu = has_unit ? unit : NULL;
                /* The kernel's sriov_numvfs reads 0 until the enable is done (sriov_enable()
                 * sets num_VFs last): fakesys must not count the VFs as they come. */
                d.pf_numvfs_kept = true;
                r = fakesys_add_device(c->fs, &d);
                if (r >= 0)
                        r = mock_state_write(c->root_fd, "natural", vf, c->faults.vf_driver);
                if (r >= 0)
                        mock_emit_uevent("add", vf);
                /* pci_bus_add_device() probes the VF at once when its PF lets it. */
                if (r >= 0 && c->faults.vf_driver[0] && can_probe(c, vf, "") &&
                    driver_dir_exists(c, c->faults.vf_driver))
                        r = do_bind(c, vf, c->faults.vf_driver);
        }
        if (r < 0) {
                /* sriov_enable() undoes a partial enable. */
                (void) remove_vfs(c, pf);
                return r;
        }
        /* sriov_enable() announces the VFs with a change uevent of the PF, then sets num_VFs:
         * a reader woken by that uevent may still see the old count. */
        mock_emit_uevent("change", pf);
        snprintf(p, sizeof(p), "%u\n", count);
        return fakesys_set_attr(c->fs, pf, "sriov_numvfs", p);
}

/* A PF driver that enables SR-IOV from a work item (sriov-async): the VFs appear in a thread of
 * the writing process after the write returned; a writer that exits first gets none. */
typedef struct AsyncEnable {
        MockRoots roots;
        char pf[PCI_ADDRESS_STRLEN];
        unsigned count, delay_ms;
} AsyncEnable;

static void *async_enable(void *p) {
        AsyncEnable *a = p;
        struct timespec ts = { .tv_sec = a->delay_ms / 1000,
                               .tv_nsec = (long) (a->delay_ms % 1000) * 1000000L };
        Ctx c = {};

        /* This thread's own file calls are the model's, not the kernel's writes. */
        mock_guard++;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        if (mock_config_load(a->pf, &c.faults) >= 0 && ctx_open(&c, &a->roots) >= 0) {
                (void) create_vfs(&c, a->pf, a->count);
                ctx_close(&c);
        }
        mock_guard--;
        free(a);
        return NULL;
}

static int enable_later(Ctx *c, const char *pf, unsigned count) {
        AsyncEnable *a = calloc(1, sizeof(*a));
        pthread_attr_t attr;
        pthread_t t;
        int r;

        if (!a)
                return -ENOMEM;
        *a = (AsyncEnable) { .roots = *c->roots,
                             .count = count,
                             .delay_ms = c->faults.sriov_async_ms };
        strcpy(a->pf, pf);
        r = -pthread_attr_init(&attr);
        if (r == 0) {
                (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                r = -pthread_create(&t, &attr, async_enable, a);
                pthread_attr_destroy(&attr);
        }
        if (r < 0)
                free(a);
        return r;
}

/* sriov_numvfs_store(): the count must fit, a driver must be bound to the PF, and a non-zero
 * count can only follow zero. */
static int store_sriov_numvfs(Ctx *c, const char *pf, const char *value) {
        uint32_t want, total, cur;
        char drv[MOCK_NAME_MAX];
        int r;

        r = safe_atou32(value, 0, &want);
        if (r < 0)
                return r;
        if (want > 0xffff)
                return -ERANGE;
        if (pf_attr(c, pf, "sriov_totalvfs", 0, &total) < 0 ||
            pf_attr(c, pf, "sriov_numvfs", 0, &cur) < 0)
                return -EIO;
        if (want > total)
                return -ERANGE;
        if (want == cur)
                return 0;
        if (mock_device_driver(c->root_fd, pf, drv) < 0 || !drv[0])
                return -ENOENT;
        if (want == 0)
                return c->faults.sriov_disable_fails ? -c->faults.sriov_disable_fails
                                                     : remove_vfs(c, pf);
        if (cur != 0)
                return -EBUSY;
        if (c->faults.sriov_enable_fails)
                return -c->faults.sriov_enable_fails;
        /* A PF driver without the resources (queues, MSI-X vectors) for that many. */
        if (c->faults.sriov_limit > 0 && want > c->faults.sriov_limit)
                return -ENOMEM;
        if (c->faults.sriov_async_ms > 0)
                return enable_later(c, pf, want);
        return create_vfs(c, pf, want);
}

/* sriov_drivers_autoprobe_store(): kstrtobool(). */
static int store_sriov_autoprobe(Ctx *c, const char *pf, const char *value) {
        bool on;

        if (strchr("1yYtT", value[0]) || (value[0] == 'o' && value[1] == 'n'))
                on = true;
        else if (strchr("0nNfF", value[0]) || (value[0] == 'o' && value[1] == 'f'))
                on = false;
        else
                return -EINVAL;
        if (c->faults.autoprobe_fails)
                return -c->faults.autoprobe_fails;
        return fakesys_set_attr(c->fs, pf, "sriov_drivers_autoprobe", on ? "1\n" : "0\n");
}

void mock_hang(const char *root, const char *bdf, unsigned s) {
        _cleanup_close_ int dirfd = -1, fd = -1;
        struct timespec ts = { .tv_sec = s };
        char p[128];

        /* The marker is best effort: without it the hang is the same, only not observable. */
        dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd >= 0 && state_dir(dirfd, NULL) >= 0) {
                snprintf(p, sizeof(p), MOCK_STATE_DIR "/" MOCK_HANG_PREFIX "%s", bdf);
                fd = openat(dirfd, p, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd >= 0 && flock(fd, LOCK_SH) < 0)
                        fd = safe_close(fd);
        }
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

ssize_t mock_attr_write(const MockRoots *roots, MockAttr attr, const char *name, const void *buf,
                        size_t n) {
        char value[STORE_MAX + 1], bdf[PCI_ADDRESS_STRLEN];
        size_t len;
        Ctx c = {};
        int r;

        /* sysfs_kf_write() does not call store() for an empty write. */
        if (n == 0)
                return 0;
        if (n > STORE_MAX)
                return -EINVAL;
        memcpy(value, buf, n);
        value[n] = 0;
        len = strlen(value);
        /* bind, unbind and drivers_probe compare names with sysfs_streq(): one trailing
         * newline does not count. */
        if (attr == MOCK_ATTR_BIND || attr == MOCK_ATTR_UNBIND || attr == MOCK_ATTR_DRIVERS_PROBE) {
                if (len > 0 && value[len - 1] == '\n')
                        value[--len] = 0;
                if (!pci_address_is_canonical(value))
                        return -ENODEV;
                strcpy(bdf, value);
        } else {
                if (!pci_address_is_canonical(name))
                        return -EINVAL;
                strcpy(bdf, name);
        }

        r = mock_config_load(bdf, &c.faults);
        if (r < 0)
                return r;
        if (c.faults.hang_sec > 0 ||
            (attr == MOCK_ATTR_DRIVERS_PROBE && c.faults.probe_hang_sec > 0)) {
                /* A probe or remove that takes its time; the write completes afterwards. */
                mock_hang(roots->root, bdf, c.faults.hang_sec ?: c.faults.probe_hang_sec);
                r = mock_config_load(bdf, &c.faults);
                if (r < 0)
                        return r;
        }

        r = ctx_open(&c, roots);
        if (r < 0)
                return r;
        natural_ensure(c.root_fd, bdf);
        switch (attr) {
        case MOCK_ATTR_DRIVER_OVERRIDE:
                r = store_driver_override(&c, bdf, value);
                break;
        case MOCK_ATTR_RESET:
                r = store_reset(&c, bdf, value);
                break;
        case MOCK_ATTR_SRIOV_NUMVFS:
                r = store_sriov_numvfs(&c, bdf, value);
                break;
        case MOCK_ATTR_SRIOV_AUTOPROBE:
                r = store_sriov_autoprobe(&c, bdf, value);
                break;
        case MOCK_ATTR_BIND:
                r = store_bind(&c, name, bdf);
                break;
        case MOCK_ATTR_UNBIND:
                r = store_unbind(&c, name, bdf);
                break;
        case MOCK_ATTR_DRIVERS_PROBE:
                r = store_drivers_probe(&c, bdf);
                break;
        default:
                r = -EINVAL;
        }
        ctx_close(&c);
        return r < 0 ? r : (ssize_t) n;
}
