/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bdf.h"
#include "fakesys.h"
#include "macro.h"
#include "util.h"

struct FakeSys {
        char *root;
        int dirfd;
        bool remove_on_free;
};

#define DEVICES_LINK_DIR "sys/bus/pci/devices"
#define DRIVERS_DIR "sys/bus/pci/drivers"
#define GROUPS_DIR "sys/kernel/iommu_groups"
#define CLASS_IOMMU "sys/class/iommu"
#define VIRTUAL_IOMMU "sys/devices/virtual/iommu"
#define MAX_FILE_SIZE (64u << 20)
#define MAX_COMPONENTS 64

/* PCI config space offsets (PCI Local Bus 3.0 §6.1, PCI-to-PCI Bridge 1.2 §3.2, PCIe 6.0 §7.5). */
#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_HEADER_TYPE 0x0e
#define CFG_PRIMARY_BUS 0x18
#define CFG_SECONDARY_BUS 0x19
#define CFG_SUBORDINATE_BUS 0x1a
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_CAP_PTR 0x34
#define CFG_INT_LINE 0x3c
#define CAP_PCIE_AT 0x40
#define CAP_SSVID_AT 0x80
#define EXT_CAP_AT 0x100
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_SSVID 0x0d
#define PCI_EXT_CAP_ID_SRIOV 0x0010
#define PCIE_DEVCAP_FLR (1u << 28)

typedef char Path[PATH_MAX];

static _printf_(2, 3) int pathf(char *buf, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, PATH_MAX, fmt, ap);
        va_end(ap);
        return n < 0 ? -EINVAL : n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static bool rel_is_valid(const char *rel) {
        size_t n = 0;

        if (isempty(rel) || rel[0] == '/' || strlen(rel) >= PATH_MAX)
                return false;
        for (const char *p = rel; *p;) {
                const char *e = strchrnul(p, '/');
                size_t l = (size_t) (e - p);

                if (l == 0 || l > 255 || (l == 1 && p[0] == '.') ||
                    (l == 2 && p[0] == '.' && p[1] == '.') || ++n > MAX_COMPONENTS)
                        return false;
                p = *e ? e + 1 : e;
                if (*e && !*p)
                        return false;
        }
        return true;
}

/* ---- filesystem primitives, all relative to the root fd ---- */

/* Creates rel and its missing parents. The whole path is tried first and the walk goes up only
 * as far as a parent is missing: a tree of thousands of devices adds files to directories that
 * mostly exist, and a walk down from the root for each costs a lookup per level. */
static int mkdir_p_at(int dirfd, const char *rel) {
        Path p;
        char *s;
        int r;

        if (mkdirat(dirfd, rel, 0755) >= 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        if (pathf(p, "%s", rel) < 0)
                return -ENAMETOOLONG;
        s = strrchr(p, '/');
        if (!s)
                return -ENOENT;
        *s = 0;
        r = mkdir_p_at(dirfd, p);
        if (r < 0)
                return r;
        return mkdirat(dirfd, rel, 0755) >= 0 || errno == EEXIST ? 0 : -errno;
}

static int mkdir_parent_at(int dirfd, const char *rel) {
        Path p;
        char *s;

        if (pathf(p, "%s", rel) < 0)
                return -ENAMETOOLONG;
        s = strrchr(p, '/');
        if (!s)
                return 0;
        *s = 0;
        return mkdir_p_at(dirfd, p);
}

static int rm_rf_at(int dirfd, const char *rel);

static int rm_rf_children(int fd) {
        _cleanup_closedir_ DIR *d = NULL;
        int dfd, r = 0;

        dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -ENOMEM;
        }
        rewinddir(d);
        for (struct dirent *de; r >= 0 && (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = rm_rf_at(fd, de->d_name);
        return r;
}

static int rm_rf_at(int dirfd, const char *rel) {
        _cleanup_close_ int fd = -1;
        int r;

        if (unlinkat(dirfd, rel, 0) >= 0)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = rm_rf_children(fd);
        if (r < 0)
                return r;
        return unlinkat(dirfd, rel, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Removes whatever is at rel (file, link, tree); absent is fine. */
static int clear_at(int dirfd, const char *rel) {
        int r = rm_rf_at(dirfd, rel);

        return r == -ENOENT ? 0 : r;
}

static bool exists_at(int dirfd, const char *rel) {
        struct stat st;

        return fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

static int write_at(int dirfd, const char *rel, const void *data, size_t size, mode_t mode) {
        _cleanup_close_ int fd = -1;
        const uint8_t *p = data;
        int r;

        fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno == ENOENT) {
                /* The parent is missing: only then create it (see mkdir_p_at()). */
                r = mkdir_parent_at(dirfd, rel);
                if (r < 0)
                        return r;
                fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                            mode);
        }
        if (fd < 0) {
                /* A directory or a link where a file should be: replace it. */
                if (errno != EISDIR && errno != ELOOP)
                        return -errno;
                r = clear_at(dirfd, rel);
                if (r < 0)
                        return r;
                fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                            mode);
                if (fd < 0)
                        return -errno;
        }
        while (size > 0) {
                ssize_t n = write(fd, p, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Writes printf-formatted text to DIR/NAME (NAME NULL: to DIR). */
/* write_at() for a file that may be there already: a reader sees the old contents or the new,
 * never a truncated file, as with a real attribute's show(). The kernel model changes attributes
 * while the daemon reads them. An existing file keeps its mode. */
static int replace_at(int dirfd, const char *rel, const void *data, size_t size, mode_t mode) {
        char tmp[sizeof(Path) + 8];
        struct stat st;
        int r;

        if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return write_at(dirfd, rel, data, size, mode);
        if (snprintf(tmp, sizeof(tmp), "%s.new", rel) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        (void) unlinkat(dirfd, tmp, 0);
        r = write_at(dirfd, tmp, data, size, st.st_mode & 07777);
        if (r >= 0 && renameat(dirfd, tmp, dirfd, rel) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dirfd, tmp, 0);
        return r;
}

static _printf_(5, 6) int putf(FakeSys *fs, const char *dir, const char *name, mode_t mode,
                               const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        Path p;
        int n, r;

        r = name ? pathf(p, "%s/%s", dir, name) : pathf(p, "%s", dir);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return replace_at(fs->dirfd, p, s, (size_t) n, mode);
}

/* Writes value to DIR/NAME, adding a newline if it has none (sysfs attributes end in one). */
static int put_line(FakeSys *fs, const char *dir, const char *name, const char *value) {
        size_t n = strlen(value);

        return putf(fs, dir, name, 0644, "%s%s", value, n > 0 && value[n - 1] == '\n' ? "" : "\n");
}

/* Reads a whole (small) file; NUL-terminated. */
static int read_at(int dirfd, const char *rel, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, alloc = 0;

        fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (alloc - n < 4096) {
                        char *nb;

                        if (alloc >= MAX_FILE_SIZE)
                                return -EFBIG;
                        alloc = alloc ? alloc * 2 : 8192;
                        nb = realloc(buf, alloc + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read(fd, buf + n, alloc - n);
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
        if (ret_size)
                *ret_size = n;
        return 0;
}

/* The target of a link at link_rel pointing to target_rel, relative through the deepest common
 * ancestor as sysfs_create_link() spells it ("../../../bus/pci/drivers/e1000e"). */
static int relative_target(const char *link_rel, const char *target_rel, char *buf) {
        const char *a = link_rel, *b = target_rel, *last_a = link_rel, *last_b = target_rel;
        size_t ups = 0, len;
        char *p = buf;

        while (*a && *a == *b) {
                if (*a == '/') {
                        last_a = a + 1;
                        last_b = b + 1;
                }
                a++;
                b++;
        }
        if (*a == '/' && *b == 0) {
                /* The target is an ancestor of the link. */
                last_a = a + 1;
                last_b = b;
        }
        for (const char *q = last_a; *q; q++)
                if (*q == '/')
                        ups++;
        len = ups * 3 + strlen(last_b);
        if (len + 1 > PATH_MAX)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < ups; i++)
                p = stpcpy(p, "../");
        strcpy(p, last_b);
        if (p > buf && !*last_b)
                p[-1] = 0;
        return 0;
}

/* Resolves the link at rel to a root-relative path in buf. */
static int get_link(FakeSys *fs, const char *rel, char *buf) {
        Path target, joined;
        char *comp[256], *save = NULL, *slash, *p = buf;
        size_t n = 0;
        ssize_t k;

        k = readlinkat(fs->dirfd, rel, target, sizeof(target) - 1);
        if (k < 0)
                return -errno;
        target[k] = 0;
        slash = strrchr(rel, '/');
        if (target[0] == '/' || !slash)
                return -EXDEV;
        if (pathf(joined, "%.*s/%s", (int) (slash - rel), rel, target) < 0)
                return -ENAMETOOLONG;
        for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (streq(t, "."))
                        continue;
                if (streq(t, "..")) {
                        if (n == 0)
                                return -EXDEV;
                        n--;
                } else if (n >= ELEMENTSOF(comp))
                        return -ENAMETOOLONG;
                else
                        comp[n++] = t;
        }
        if (n == 0)
                return -EXDEV;
        *p = 0;
        for (size_t i = 0; i < n; i++)
                p = stpcpy(i > 0 ? stpcpy(p, "/") : p, comp[i]);
        return 0;
}

static int put_raw_link(FakeSys *fs, const char *rel, const char *target) {
        int r;

        if (symlinkat(target, fs->dirfd, rel) >= 0)
                return 0;
        /* Something is in the way, or the parent is missing: the slow path. */
        if (errno != EEXIST && errno != ENOENT)
                return -errno;
        r = mkdir_parent_at(fs->dirfd, rel);
        if (r >= 0)
                r = clear_at(fs->dirfd, rel);
        if (r < 0)
                return r;
        return symlinkat(target, fs->dirfd, rel) < 0 ? -errno : 0;
}

/* A relative link at DIR/NAME (NAME NULL: at DIR) to the root-relative target. */
static int put_link(FakeSys *fs, const char *dir, const char *name, const char *target_rel) {
        Path l, t;
        int r;

        r = name ? pathf(l, "%s/%s", dir, name) : pathf(l, "%s", dir);
        if (r >= 0)
                r = relative_target(l, target_rel, t);
        if (r < 0)
                return r;
        return put_raw_link(fs, l, t);
}

/* Names in a directory of the tree, sorted. */
static int list_dir(FakeSys *fs, const char *rel, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        int fd, r = 0;

        fd = openat(fs->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        for (struct dirent *de; r >= 0 && (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = strv_extend(&l, de->d_name);
        if (r < 0)
                return r;
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- object ---- */

static int make_skeleton(FakeSys *fs) {
        static const char *const dirs[] = {
                "sys/bus/pci/devices",
                "sys/bus/pci/drivers",
                "sys/devices/virtual",
                "sys/class",
                "sys/dev/block",
                "sys/firmware/acpi/tables",
                "sys/module",
                "sys/kernel/mm",
                "proc/self",
                "proc/sys/kernel",
                "proc/net",
                "dev",
        };
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(dirs); i++)
                r = mkdir_p_at(fs->dirfd, dirs[i]);
        /* Write-only in the kernel (Documentation/ABI/testing/sysfs-bus-pci); plain files here. */
        if (r >= 0 && !exists_at(fs->dirfd, "sys/bus/pci/drivers_probe"))
                r = putf(fs, "sys/bus/pci/drivers_probe", NULL, 0200, "%s", "");
        if (r >= 0 && !exists_at(fs->dirfd, "sys/bus/pci/rescan"))
                r = putf(fs, "sys/bus/pci/rescan", NULL, 0200, "%s", "");
        if (r >= 0 && !exists_at(fs->dirfd, "sys/bus/pci/drivers_autoprobe"))
                r = put_line(fs, "sys/bus/pci/drivers_autoprobe", NULL, "1");
        return r;
}

int fakesys_new(const char *dir, unsigned flags, FakeSys **ret) {
        _cleanup_free_ char *root = NULL;
        FakeSys *fs;
        int r;

        if (!ret || (flags & ~FAKESYS_REMOVE_ON_FREE) || (dir && !*dir))
                return -EINVAL;
        if (!dir) {
                const char *tmp = getenv("TMPDIR");

                if (asprintf(&root, "%s/fakesys.XXXXXX", isempty(tmp) ? "/tmp" : tmp) < 0)
                        return -ENOMEM;
                if (!mkdtemp(root))
                        return -errno;
        } else {
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
                root = realpath(dir, NULL);
                if (!root)
                        return -errno;
        }
        fs = calloc(1, sizeof(*fs));
        if (!fs)
                return -ENOMEM;
        fs->dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fs->dirfd < 0) {
                r = -errno;
                free(fs);
                return r;
        }
        fs->root = TAKE_PTR(root);
        fs->remove_on_free = flags & FAKESYS_REMOVE_ON_FREE;
        r = make_skeleton(fs);
        if (r < 0) {
                fakesys_free(fs);
                return r;
        }
        *ret = fs;
        return 0;
}

FakeSys *fakesys_free(FakeSys *fs) {
        if (!fs)
                return NULL;
        if (fs->remove_on_free) {
                (void) rm_rf_children(fs->dirfd);
                (void) rmdir(fs->root);
        }
        safe_close(fs->dirfd);
        free(fs->root);
        free(fs);
        return NULL;
}

void fakesys_set_remove_on_free(FakeSys *fs, bool remove) {
        if (fs)
                fs->remove_on_free = remove;
}

const char *fakesys_root(const FakeSys *fs) {
        return fs ? fs->root : NULL;
}

int fakesys_root_fd(const FakeSys *fs) {
        return fs ? fs->dirfd : -EBADF;
}

/* ---- raw files ---- */

int fakesys_write_file(FakeSys *fs, const char *rel, const void *data, size_t size) {
        if (!fs || !rel_is_valid(rel) || (!data && size > 0))
                return -EINVAL;
        return write_at(fs->dirfd, rel, data ? data : "", size, 0644);
}

int fakesys_symlink(FakeSys *fs, const char *rel, const char *target) {
        if (!fs || !rel_is_valid(rel) || isempty(target) || strlen(target) >= PATH_MAX)
                return -EINVAL;
        return put_raw_link(fs, rel, target);
}

int fakesys_link_to(FakeSys *fs, const char *rel, const char *target_rel) {
        if (!fs || !rel_is_valid(rel) || !rel_is_valid(target_rel))
                return -EINVAL;
        return put_link(fs, rel, NULL, target_rel);
}

int fakesys_mkdir(FakeSys *fs, const char *rel) {
        if (!fs || !rel_is_valid(rel))
                return -EINVAL;
        return mkdir_p_at(fs->dirfd, rel);
}

int fakesys_remove(FakeSys *fs, const char *rel) {
        if (!fs || !rel_is_valid(rel))
                return -EINVAL;
        return rm_rf_at(fs->dirfd, rel);
}

int fakesys_copy_file(FakeSys *fs, const char *src_path, const char *rel) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (!fs || isempty(src_path) || !rel_is_valid(rel))
                return -EINVAL;
        r = read_at(AT_FDCWD, src_path, &data, &size);
        if (r < 0)
                return r;
        return write_at(fs->dirfd, rel, data, size, 0644);
}

int fakesys_untar(FakeSys *fs, const char *tarball) {
        posix_spawn_file_actions_t fa;
        char *argv[] = { (char *) "tar",
                         (char *) "-x",
                         (char *) "-f",
                         (char *) tarball,
                         (char *) "-C",
                         NULL,
                         (char *) "--no-same-owner",
                         NULL };
        pid_t pid;
        int r, status;

        if (!fs || isempty(tarball))
                return -EINVAL;
        if (access(tarball, R_OK) < 0)
                return -errno;
        argv[5] = fs->root;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        /* Library code stays quiet: tar's diagnostics go nowhere, its exit status speaks. */
        r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        if (r == 0)
                r = posix_spawnp(&pid, "tar", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EBADMSG;
        return make_skeleton(fs);
}

int fakesys_read_file(FakeSys *fs, const char *rel, char **ret, size_t *ret_size) {
        if (!fs || !rel_is_valid(rel) || !ret)
                return -EINVAL;
        return read_at(fs->dirfd, rel, ret, ret_size);
}

int fakesys_resolve_link(FakeSys *fs, const char *rel, char **ret) {
        Path p;
        int r;

        if (!fs || !rel_is_valid(rel) || !ret)
                return -EINVAL;
        r = get_link(fs, rel, p);
        if (r < 0)
                return r;
        *ret = strdup(p);
        return *ret ? 0 : -ENOMEM;
}

bool fakesys_exists(FakeSys *fs, const char *rel) {
        return fs && rel_is_valid(rel) && exists_at(fs->dirfd, rel);
}

/* ---- devices ---- */

static int dev_path(FakeSys *fs, const char *bdf, char *buf) {
        Path l;
        int r;

        if (!pci_address_is_canonical(bdf))
                return -EINVAL;
        r = pathf(l, DEVICES_LINK_DIR "/%s", bdf);
        if (r >= 0)
                r = get_link(fs, l, buf);
        if (r < 0)
                return r;
        return strneq(buf, "sys/devices/", strlen("sys/devices/")) ? 0 : -EXDEV;
}

int fakesys_device_path(FakeSys *fs, const char *bdf, char **ret) {
        Path p;
        int r;

        if (!fs || !ret)
                return -EINVAL;
        r = dev_path(fs, bdf, p);
        if (r < 0)
                return r;
        *ret = strdup(p);
        return *ret ? 0 : -ENOMEM;
}

bool fakesys_device_exists(FakeSys *fs, const char *bdf) {
        Path p;

        return fs && dev_path(fs, bdf, p) >= 0;
}

/* Path of an attribute of a device. */
static int attr_path(FakeSys *fs, const char *bdf, const char *name, char *buf) {
        Path dev;
        int r;

        if (!fs || !rel_is_valid(name))
                return -EINVAL;
        r = dev_path(fs, bdf, dev);
        return r < 0 ? r : pathf(buf, "%s/%s", dev, name);
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
        put16(p, (uint16_t) v);
        put16(p + 2, (uint16_t) (v >> 16));
}

static bool class_is_bridge(uint32_t class_code) {
        /* PCI-to-PCI (0x0604) and semi-transparent PCI-to-PCI (0x0609) use header type 1. */
        return (class_code >> 8) == 0x0604 || (class_code >> 8) == 0x0609;
}

static bool is_vga(uint32_t class_code) {
        return (class_code >> 8) == 0x0300;
}

static int read_config(FakeSys *fs, const char *dev, char **ret, size_t *ret_size) {
        Path p;
        int r;

        r = pathf(p, "%s/config", dev);
        if (r >= 0)
                r = read_at(fs->dirfd, p, ret, ret_size);
        if (r >= 0 && *ret_size < 64) {
                free(*ret);
                *ret = NULL;
                return -EBADMSG;
        }
        return r;
}

/* The PCI Express port type of an existing device from its config (PCIe 6.0 §7.5.3.2), or
 * FAKE_PCI_CONVENTIONAL; FAKE_PCIE_AUTO when there is no config (a snapshot lacks it). */
static FakePcieType read_pcie_type(FakeSys *fs, const char *dev) {
        static const FakePcieType map[16] = {
                [0] = FAKE_PCIE_ENDPOINT,    [1] = FAKE_PCIE_LEGACY_ENDPOINT,
                [4] = FAKE_PCIE_ROOT_PORT,   [5] = FAKE_PCIE_UPSTREAM,
                [6] = FAKE_PCIE_DOWNSTREAM,  [7] = FAKE_PCIE_TO_PCI_BRIDGE,
                [9] = FAKE_PCIE_RC_ENDPOINT,
        };
        _cleanup_free_ char *cfg = NULL;
        size_t size;
        uint8_t ptr;

        if (read_config(fs, dev, &cfg, &size) < 0)
                return FAKE_PCIE_AUTO;
        ptr = (uint8_t) cfg[CFG_CAP_PTR];
        for (unsigned hops = 0; ptr >= 0x40 && (size_t) ptr + 4 <= size && hops < 48; hops++) {
                if ((uint8_t) cfg[ptr] == PCI_CAP_ID_EXP) {
                        unsigned t = ((uint8_t) cfg[ptr + 2] >> 4) & 0xf;

                        return map[t] ? map[t] : FAKE_PCIE_ENDPOINT;
                }
                ptr = (uint8_t) cfg[ptr + 1];
        }
        return FAKE_PCI_CONVENTIONAL;
}

static bool is_bridge_dir(FakeSys *fs, const char *dev) {
        _cleanup_free_ char *cfg = NULL, *cls = NULL;
        size_t size;
        uint32_t c;
        Path p;

        if (read_config(fs, dev, &cfg, &size) >= 0)
                return ((uint8_t) cfg[CFG_HEADER_TYPE] & 0x7f) == 1;
        /* Snapshots without config: go by class. */
        return pathf(p, "%s/class", dev) >= 0 && read_at(fs->dirfd, p, &cls, NULL) >= 0 &&
               safe_atou32(cls, 0, &c) >= 0 && class_is_bridge(c);
}

static FakePcieType derive_pcie_type(FakeSys *fs, const FakeDevice *d, const char *parent) {
        FakePcieType pt;
        bool bridge = class_is_bridge(d->class_code);

        if (d->pcie_type != FAKE_PCIE_AUTO)
                return d->pcie_type;
        if (!parent)
                return bridge ? FAKE_PCIE_ROOT_PORT : FAKE_PCIE_RC_ENDPOINT;
        pt = read_pcie_type(fs, parent);
        if (pt == FAKE_PCIE_TO_PCI_BRIDGE || pt == FAKE_PCI_CONVENTIONAL)
                return FAKE_PCI_CONVENTIONAL;
        if (!bridge)
                return FAKE_PCIE_ENDPOINT;
        return pt == FAKE_PCIE_UPSTREAM ? FAKE_PCIE_DOWNSTREAM : FAKE_PCIE_UPSTREAM;
}

static size_t build_config(const FakeDevice *d, const PciAddress *a, FakePcieType type,
                           uint8_t cfg[static 4096]) {
        static const uint8_t port_code[_FAKE_PCIE_TYPE_MAX] = {
                [FAKE_PCIE_ENDPOINT] = 0,    [FAKE_PCIE_LEGACY_ENDPOINT] = 1,
                [FAKE_PCIE_ROOT_PORT] = 4,   [FAKE_PCIE_UPSTREAM] = 5,
                [FAKE_PCIE_DOWNSTREAM] = 6,  [FAKE_PCIE_TO_PCI_BRIDGE] = 7,
                [FAKE_PCIE_RC_ENDPOINT] = 9,
        };
        bool bridge = class_is_bridge(d->class_code), pcie = type != FAKE_PCI_CONVENTIONAL;
        size_t size = pcie ? 4096 : 256;
        uint8_t next = 0;

        memset(cfg, 0, size);
        put16(cfg + 0, d->vendor);
        put16(cfg + 2, d->device);
        put16(cfg + CFG_COMMAND, d->driver ? 0x0006 : 0x0000); /* memory space, bus master */
        cfg[0x08] = d->revision;
        cfg[0x09] = (uint8_t) d->class_code;
        cfg[0x0a] = (uint8_t) (d->class_code >> 8);
        cfg[0x0b] = (uint8_t) (d->class_code >> 16);
        cfg[CFG_HEADER_TYPE] = (uint8_t) ((bridge ? 1 : 0) | (d->multifunction ? 0x80 : 0));
        if (bridge) {
                cfg[CFG_PRIMARY_BUS] = a->bus;
                cfg[CFG_SECONDARY_BUS] = d->secondary_bus;
                cfg[CFG_SUBORDINATE_BUS] = MAX(d->subordinate_bus, d->secondary_bus);
                /* Bridges carry subsystem ids in a capability (PCI-to-PCI Bridge 1.2 §3.2.5). */
                cfg[CAP_SSVID_AT] = PCI_CAP_ID_SSVID;
                put16(cfg + CAP_SSVID_AT + 4, d->subsystem_vendor);
                put16(cfg + CAP_SSVID_AT + 6, d->subsystem_device);
                next = CAP_SSVID_AT;
        } else {
                put16(cfg + CFG_SUBSYS_VENDOR, d->subsystem_vendor);
                put16(cfg + CFG_SUBSYS_VENDOR + 2, d->subsystem_device);
        }
        cfg[CFG_INT_LINE] = (uint8_t) d->irq;
        cfg[CFG_INT_LINE + 1] = d->irq ? 1 : 0;
        if (pcie) {
                uint16_t flags = (uint16_t) (2 | port_code[type] << 4);

                if (type == FAKE_PCIE_ROOT_PORT || type == FAKE_PCIE_DOWNSTREAM)
                        flags |= 1u << 8; /* slot implemented */
                cfg[CAP_PCIE_AT] = PCI_CAP_ID_EXP;
                cfg[CAP_PCIE_AT + 1] = next;
                put16(cfg + CAP_PCIE_AT + 2, flags);
                if (d->reset_method && strstr(d->reset_method, "flr"))
                        put32(cfg + CAP_PCIE_AT + 4, PCIE_DEVCAP_FLR);
                next = CAP_PCIE_AT;
        }
        cfg[CFG_CAP_PTR] = next;
        put16(cfg + CFG_STATUS, next ? 0x0010 : 0); /* capabilities list */
        if (pcie && d->sriov_totalvfs > 0) {
                /* SR-IOV extended capability (PCIe 6.0 §9.3.3). */
                uint8_t *c = cfg + EXT_CAP_AT;

                put32(c, PCI_EXT_CAP_ID_SRIOV | 1u << 16);
                put16(c + 0x08, d->sriov_numvfs ? 0x0019 : 0x0010); /* VF enable, MSE, ARI */
                put16(c + 0x0c, d->sriov_totalvfs);
                put16(c + 0x0e, d->sriov_totalvfs);
                put16(c + 0x10, d->sriov_numvfs);
                put16(c + 0x14, d->sriov_offset);
                put16(c + 0x16, d->sriov_stride);
                put16(c + 0x1a, d->sriov_vf_device);
                put32(c + 0x1c, 0x553);
                put32(c + 0x20, 1);
        }
        return size;
}

static uint16_t routing_id(const PciAddress *a) {
        return (uint16_t) (a->bus << 8 | a->dev << 3 | a->fn);
}

/* Grows the bus range of bridge dev (and of its bridge ancestors) to cover bus: secondary is
 * the lowest bus below a bridge, subordinate the highest. */
static int widen_bridges(FakeSys *fs, const char *dev, uint8_t bus) {
        Path p, c;
        char *slash;
        int r;

        if (pathf(p, "%s", dev) < 0)
                return -ENAMETOOLONG;
        for (;;) {
                _cleanup_free_ char *cfg = NULL;
                size_t size;

                if (read_config(fs, p, &cfg, &size) >= 0 &&
                    ((uint8_t) cfg[CFG_HEADER_TYPE] & 0x7f) == 1) {
                        uint8_t sec = (uint8_t) cfg[CFG_SECONDARY_BUS];
                        bool changed = false;

                        if (sec == 0 || bus < sec) {
                                cfg[CFG_SECONDARY_BUS] = (char) bus;
                                changed = true;
                        }
                        if (bus > (uint8_t) cfg[CFG_SUBORDINATE_BUS]) {
                                cfg[CFG_SUBORDINATE_BUS] = (char) bus;
                                changed = true;
                        }
                        /* Most children land in a range their bridges cover already. */
                        r = changed ? pathf(c, "%s/config", p) : 0;
                        if (r >= 0 && changed)
                                r = write_at(fs->dirfd, c, cfg, size, 0644);
                        if (r < 0)
                                return r;
                }
                slash = strrchr(p, '/');
                if (!slash)
                        return 0;
                *slash = 0;
                /* Stop at the root bus directory "sys/devices/pciDDDD:BB". */
                slash = strrchr(p, '/');
                if (!pci_address_is_canonical(slash ? slash + 1 : p))
                        return 0;
        }
}

static int write_resource(FakeSys *fs, const char *dev, bool bridge) {
        /* "resource": PCI_NUM_RESOURCES lines for bridges, PCI_BRIDGE_RESOURCES for others
         * (drivers/pci/pci-sysfs.c resource_show()); all unassigned here. */
        static const char line[] = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
        char buf[sizeof(line) * 17];
        size_t n = bridge ? 17 : 13;
        Path p;

        for (size_t i = 0; i < n; i++)
                memcpy(buf + i * (sizeof(line) - 1), line, sizeof(line) - 1);
        if (pathf(p, "%s/resource", dev) < 0)
                return -ENAMETOOLONG;
        return write_at(fs->dirfd, p, buf, n * (sizeof(line) - 1), 0444);
}

static bool driver_enables(const char *driver) {
        /* vfio-pci and pci-stub do not enable the device at probe. */
        return driver && !streq(driver, "vfio-pci") && !streq(driver, "pci-stub");
}

/* The attributes every PCI device has (Documentation/ABI/testing/sysfs-bus-pci). */
static int write_device_attrs(FakeSys *fs, const FakeDevice *d, const char *dev, const uint8_t *cfg,
                              size_t cfg_size) {
        const bool reset = !isempty(d->reset_method), pf = d->sriov_totalvfs > 0;
        char v[20][64];
        const struct {
                const char *name;
                mode_t mode;
                bool present;
        } attrs[] = {
                { "vendor", 0444, true },
                { "device", 0444, true },
                { "subsystem_vendor", 0444, true },
                { "subsystem_device", 0444, true },
                { "class", 0444, true },
                { "revision", 0444, true },
                { "driver_override", 0644, true },
                { "numa_node", 0644, true },
                { "irq", 0444, true },
                { "enable", 0644, true },
                { "modalias", 0444, true },
                /* boot_vga only on VGA devices (pci_dev_attrs_are_visible()), reset_method
                 * and reset only when a method exists (5.15), sriov_* on PFs. */
                { "boot_vga", 0444, is_vga(d->class_code) },
                { "reset_method", 0644, reset },
                { "reset", 0200, reset },
                { "sriov_totalvfs", 0444, pf },
                { "sriov_numvfs", 0644, pf },
                { "sriov_offset", 0444, pf },
                { "sriov_stride", 0444, pf },
                { "sriov_vf_device", 0444, pf },
                { "sriov_drivers_autoprobe", 0644, pf },
        };
        Path p;
        int r = 0;

        snprintf(v[0], 64, "0x%04x\n", d->vendor);
        snprintf(v[1], 64, "0x%04x\n", d->device);
        snprintf(v[2], 64, "0x%04x\n", d->subsystem_vendor);
        snprintf(v[3], 64, "0x%04x\n", d->subsystem_device);
        snprintf(v[4], 64, "0x%06x\n", d->class_code);
        snprintf(v[5], 64, "0x%02x\n", d->revision);
        snprintf(v[6], 64, "%.60s\n", d->driver_override ?: "(null)");
        snprintf(v[7], 64, "%d\n", d->numa_node);
        snprintf(v[8], 64, "%u\n", d->irq);
        snprintf(v[9], 64, "%d\n", driver_enables(d->driver));
        snprintf(v[10], 64, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n", d->vendor, d->device,
                 d->subsystem_vendor, d->subsystem_device, d->class_code >> 16,
                 (d->class_code >> 8) & 0xff, d->class_code & 0xff);
        snprintf(v[11], 64, "%d\n", d->boot_vga > 0);
        snprintf(v[12], 64, "%.60s\n", d->reset_method ?: "");
        v[13][0] = 0;
        snprintf(v[14], 64, "%u\n", d->sriov_totalvfs);
        snprintf(v[15], 64, "%u\n", d->sriov_numvfs);
        snprintf(v[16], 64, "%u\n", d->sriov_offset);
        snprintf(v[17], 64, "%u\n", d->sriov_stride);
        snprintf(v[18], 64, "%x\n", d->sriov_vf_device);
        snprintf(v[19], 64, "1\n");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(attrs); i++)
                if (attrs[i].present)
                        r = putf(fs, dev, attrs[i].name, attrs[i].mode, "%s", v[i]);
        if (r >= 0)
                r = pathf(p, "%s/config", dev);
        if (r >= 0)
                r = write_at(fs->dirfd, p, cfg, cfg_size, 0644);
        return r < 0 ? r : write_resource(fs, dev, class_is_bridge(d->class_code));
}

static int read_u32_in(FakeSys *fs, const char *dev, const char *name, uint32_t *ret) {
        _cleanup_free_ char *v = NULL;
        Path p;
        int r;

        r = pathf(p, "%s/%s", dev, name);
        if (r >= 0)
                r = read_at(fs->dirfd, p, &v, NULL);
        return r < 0 ? r : safe_atou32(v, 0, ret);
}

/* physfn on the VF, virtfnN on the PF, N from the routing IDs (PCIe 6.0 §9.3.3.9-10:
 * VF n has RID = PF RID + First VF Offset + n * VF Stride). */
static int link_vf(FakeSys *fs, const char *vf_bdf, const char *vf_dev, const char *pf_bdf,
                   bool count) {
        PciAddress vf, pf;
        uint32_t offset, stride, numvfs, first, index;
        Path pf_dev, name;
        int r;

        r = dev_path(fs, pf_bdf, pf_dev);
        if (r < 0)
                return r;
        (void) pci_address_parse(vf_bdf, &vf);
        (void) pci_address_parse(pf_bdf, &pf);
        r = read_u32_in(fs, pf_dev, "sriov_offset", &offset);
        if (r >= 0)
                r = read_u32_in(fs, pf_dev, "sriov_stride", &stride);
        if (r >= 0)
                r = read_u32_in(fs, pf_dev, "sriov_numvfs", &numvfs);
        if (r < 0)
                return r == -ENOENT ? -EINVAL : r;
        first = routing_id(&pf) + offset;
        if (routing_id(&vf) < first || stride == 0 || (routing_id(&vf) - first) % stride != 0)
                return -EINVAL;
        index = (routing_id(&vf) - first) / stride;
        r = put_link(fs, vf_dev, "physfn", pf_dev);
        if (r >= 0)
                r = pathf(name, "virtfn%u", index);
        if (r >= 0)
                r = put_link(fs, pf_dev, name, vf_dev);
        if (r >= 0 && count && index + 1 > numvfs)
                r = putf(fs, pf_dev, "sriov_numvfs", 0644, "%u\n", index + 1);
        return r;
}

int fakesys_add_driver(FakeSys *fs, const char *driver) {
        static const char *const files[] = { "bind", "unbind", "new_id", "remove_id" };
        Path p;
        int r;

        if (!fs || !filename_is_valid(driver))
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = pathf(p, DRIVERS_DIR "/%s/%s", driver, files[i]);
                if (r >= 0 && !exists_at(fs->dirfd, p))
                        r = write_at(fs->dirfd, p, "", 0, 0200);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int bind_links(FakeSys *fs, const char *bdf, const char *dev, const char *driver) {
        Path d;
        int r;

        r = fakesys_add_driver(fs, driver);
        if (r >= 0)
                r = pathf(d, DRIVERS_DIR "/%s", driver);
        if (r >= 0)
                r = put_link(fs, dev, "driver", d);
        if (r >= 0)
                r = put_link(fs, d, bdf, dev);
        return r;
}

static int dir_is_empty(FakeSys *fs, const char *rel) {
        _cleanup_strv_free_ char **l = NULL;
        int r = list_dir(fs, rel, &l);

        return r < 0 ? r : !l;
}

/* Takes the device out of its group; a group left without devices goes away. */
static int leave_group(FakeSys *fs, const char *bdf, const char *dev) {
        Path l, g, m;
        int r;

        r = pathf(l, "%s/iommu_group", dev);
        if (r >= 0)
                r = get_link(fs, l, g);
        if (r == -ENOENT)
                return 0;
        if (r >= 0)
                r = clear_at(fs->dirfd, l);
        if (r >= 0)
                r = pathf(m, "%s/devices/%s", g, bdf);
        if (r >= 0)
                r = clear_at(fs->dirfd, m);
        if (r >= 0)
                r = pathf(m, "%s/devices", g);
        if (r < 0)
                return r;
        /* Only a group that lives under iommu_groups/ is ours to drop. */
        if (dir_is_empty(fs, m) > 0 && strneq(g, GROUPS_DIR "/", strlen(GROUPS_DIR "/")))
                return clear_at(fs->dirfd, g);
        return 0;
}

int fakesys_set_group(FakeSys *fs, const char *bdf, int group) {
        Path dev, g;
        int r;

        if (!fs)
                return -EINVAL;
        r = dev_path(fs, bdf, dev);
        if (r >= 0)
                r = leave_group(fs, bdf, dev);
        if (r < 0 || group < 0)
                return r;
        r = pathf(g, GROUPS_DIR "/%d", group);
        if (r >= 0 && !exists_at(fs->dirfd, g)) {
                /* A new group: the default DMA domain and the x86 interrupt window, which
                 * the VT-d and AMD-Vi drivers report for every device. */
                r = fakesys_group_set_attr(fs, (unsigned) group, "type", "DMA");
                if (r >= 0)
                        r = fakesys_group_add_region(fs, (unsigned) group, 0xfee00000ULL,
                                                     0xfeefffffULL, "msi");
        }
        if (r >= 0)
                r = pathf(g, GROUPS_DIR "/%d/devices", group);
        if (r >= 0)
                r = put_link(fs, g, bdf, dev);
        if (r >= 0)
                r = pathf(g, GROUPS_DIR "/%d", group);
        if (r >= 0)
                r = put_link(fs, dev, "iommu_group", g);
        return r;
}

int fakesys_group_set_attr(FakeSys *fs, unsigned group, const char *name, const char *value) {
        Path g;
        int r;

        if (!fs || !rel_is_valid(name) || !value)
                return -EINVAL;
        r = pathf(g, GROUPS_DIR "/%u/devices", group);
        if (r >= 0)
                r = mkdir_p_at(fs->dirfd, g);
        if (r >= 0)
                r = pathf(g, GROUPS_DIR "/%u", group);
        return r < 0 ? r : put_line(fs, g, name, value);
}

typedef struct Region {
        uint64_t start, end;
        char type[32];
} Region;

static int cmp_region(const void *a, const void *b) {
        const Region *x = a, *y = b;

        return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

int fakesys_group_add_region(FakeSys *fs, unsigned group, uint64_t start, uint64_t end,
                             const char *type) {
        _cleanup_free_ char *text = NULL, *out = NULL;
        _cleanup_free_ Region *regs = NULL;
        size_t n = 0, len = 0;
        char *save = NULL;
        Path p;
        int r;

        if (!fs || !filename_is_valid(type) || strlen(type) >= sizeof(regs->type) || end < start)
                return -EINVAL;
        r = pathf(p, GROUPS_DIR "/%u/reserved_regions", group);
        if (r < 0)
                return r;
        r = read_at(fs->dirfd, p, &text, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        /* The shortest line that parses ("0x0 0x0 a\n") has 10 bytes. */
        regs = calloc(text ? strlen(text) / 8 + 2 : 1, sizeof(Region));
        if (!regs)
                return -ENOMEM;
        for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save)) {
                unsigned long long s, e;

                if (sscanf(line, "0x%llx 0x%llx %31s", &s, &e, regs[n].type) != 3)
                        return -EBADMSG;
                regs[n].start = s;
                regs[n++].end = e;
        }
        regs[n] = (Region) { .start = start, .end = end };
        strcpy(regs[n++].type, type);
        /* The kernel lists regions sorted by start (iommu_insert_resv_region()). */
        qsort(regs, n, sizeof(Region), cmp_region);
        out = malloc(n * 80 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                len += (size_t) sprintf(out + len, "0x%016llx 0x%016llx %s\n",
                                        (unsigned long long) regs[i].start,
                                        (unsigned long long) regs[i].end, regs[i].type);
        r = fakesys_group_set_attr(fs, group, "reserved_regions", "");
        return r < 0 ? r : write_at(fs->dirfd, p, out, len, 0444);
}

/* The directory of a unit: whatever sys/class/iommu/NAME points at, or where an Intel unit
 * would be. */
static int iommu_unit_path(FakeSys *fs, const char *unit, char *buf) {
        Path l;
        int r;

        r = pathf(l, CLASS_IOMMU "/%s", unit);
        if (r >= 0)
                r = get_link(fs, l, buf);
        return r == -ENOENT ? pathf(buf, VIRTUAL_IOMMU "/%s", unit) : r;
}

static int unlink_from_iommu(FakeSys *fs, const char *bdf, const char *dev) {
        Path l, u, back;
        int r;

        r = pathf(l, "%s/iommu", dev);
        if (r >= 0)
                r = get_link(fs, l, u);
        if (r == -ENOENT)
                return 0;
        if (r >= 0)
                r = pathf(back, "%s/devices/%s", u, bdf);
        if (r >= 0)
                r = clear_at(fs->dirfd, back);
        return r < 0 ? r : clear_at(fs->dirfd, l);
}

int fakesys_set_device_iommu(FakeSys *fs, const char *bdf, const char *unit) {
        Path dev, u, back;
        int r;

        if (!fs || (unit && !filename_is_valid(unit)))
                return -EINVAL;
        r = dev_path(fs, bdf, dev);
        if (r >= 0)
                r = unlink_from_iommu(fs, bdf, dev);
        if (r < 0 || !unit)
                return r;
        r = iommu_unit_path(fs, unit, u);
        if (r >= 0)
                r = put_link(fs, dev, "iommu", u);
        /* The unit lists its devices too (Documentation/ABI/testing/sysfs-class-iommu). */
        if (r >= 0)
                r = pathf(back, "%s/devices", u);
        return r < 0 ? r : put_link(fs, back, bdf, dev);
}

static bool device_is_valid(const FakeDevice *d) {
        return pci_address_is_canonical(d->bdf) && d->class_code <= 0xffffff &&
               (unsigned) d->pcie_type < _FAKE_PCIE_TYPE_MAX && d->numa_node >= -1 &&
               (!d->driver || filename_is_valid(d->driver)) &&
               (!d->iommu || filename_is_valid(d->iommu)) &&
               (!d->driver_override || !strchr(d->driver_override, '\n')) &&
               (!d->reset_method || !strchr(d->reset_method, '\n')) &&
               (d->boot_vga < 0 || is_vga(d->class_code)) && d->sriov_numvfs <= d->sriov_totalvfs &&
               (!d->physfn || !d->sriov_totalvfs);
}

int fakesys_add_device(FakeSys *fs, const FakeDevice *d) {
        Path parent, dev, pf;
        uint8_t cfg[4096];
        PciAddress a, pa;
        size_t cfg_size;
        char *slash;
        int r;

        if (!fs || !d || !device_is_valid(d))
                return -EINVAL;
        (void) pci_address_parse(d->bdf, &a);
        if (fakesys_device_exists(fs, d->bdf))
                return -EEXIST;
        if (d->parent) {
                r = dev_path(fs, d->parent, parent);
                if (r < 0)
                        return r == -EINVAL ? r : -ENOENT;
                if (!is_bridge_dir(fs, parent))
                        return -ENOTDIR;
                (void) pci_address_parse(d->parent, &pa);
                if (pa.domain != a.domain || a.bus <= pa.bus)
                        return -EINVAL;
                r = pathf(dev, "%s/%s", parent, d->bdf);
        } else
                r = pathf(dev, "sys/devices/pci%04x:%02x/%s", a.domain, a.bus, d->bdf);
        if (r < 0)
                return r;
        if (d->physfn) {
                r = dev_path(fs, d->physfn, pf);
                if (r < 0)
                        return r == -EINVAL ? r : -ENOENT;
                /* VFs sit next to their PF, below the same bridge. */
                slash = strrchr(pf, '/');
                if (!strneq(pf, dev, (size_t) (slash - pf + 1)) ||
                    strchr(dev + (slash - pf + 1), '/'))
                        return -EINVAL;
        }
        cfg_size = build_config(d, &a, derive_pcie_type(fs, d, d->parent ? parent : NULL), cfg);
        r = mkdir_p_at(fs->dirfd, dev);
        if (r >= 0)
                r = write_device_attrs(fs, d, dev, cfg, cfg_size);
        if (r >= 0)
                r = put_link(fs, DEVICES_LINK_DIR, d->bdf, dev);
        if (r >= 0 && d->parent)
                r = widen_bridges(fs, parent, a.bus);
        if (r >= 0 && d->physfn)
                r = link_vf(fs, d->bdf, dev, d->physfn, !d->pf_numvfs_kept);
        if (r >= 0 && d->driver)
                r = bind_links(fs, d->bdf, dev, d->driver);
        if (r >= 0 && d->iommu_group >= 0)
                r = fakesys_set_group(fs, d->bdf, d->iommu_group);
        if (r >= 0 && d->iommu)
                r = fakesys_set_device_iommu(fs, d->bdf, d->iommu);
        if (r >= 0 && d->vfio_dev >= 0)
                r = fakesys_set_vfio_dev(fs, d->bdf, d->vfio_dev);
        if (r >= 0)
                return 0;
        if (fakesys_device_exists(fs, d->bdf))
                (void) fakesys_remove_device(fs, d->bdf);
        else
                (void) clear_at(fs->dirfd, dev);
        return r;
}

void fake_device_init(FakeDevice *d, const char *bdf) {
        *d = (FakeDevice) {
                .bdf = bdf,
                .numa_node = -1,
                .boot_vga = -1,
                .iommu_group = -1,
                .vfio_dev = -1,
        };
}

int fakesys_set_attr_bytes(FakeSys *fs, const char *bdf, const char *name, const void *data,
                           size_t size) {
        Path p;
        int r;

        if (!data && size > 0)
                return -EINVAL;
        r = attr_path(fs, bdf, name, p);
        return r < 0 ? r : replace_at(fs->dirfd, p, data ? data : "", size, 0644);
}

int fakesys_set_attr(FakeSys *fs, const char *bdf, const char *name, const char *value) {
        if (!value)
                return -EINVAL;
        return fakesys_set_attr_bytes(fs, bdf, name, value, strlen(value));
}

int fakesys_remove_attr(FakeSys *fs, const char *bdf, const char *name) {
        Path p;
        int r;

        r = attr_path(fs, bdf, name, p);
        return r < 0 ? r : rm_rf_at(fs->dirfd, p);
}

int fakesys_attr_make_dir(FakeSys *fs, const char *bdf, const char *name) {
        Path p;
        int r;

        r = attr_path(fs, bdf, name, p);
        if (r >= 0)
                r = clear_at(fs->dirfd, p);
        return r < 0 ? r : mkdir_p_at(fs->dirfd, p);
}

int fakesys_attr_make_dangling(FakeSys *fs, const char *bdf, const char *name) {
        Path p;
        int r;

        r = attr_path(fs, bdf, name, p);
        return r < 0 ? r : put_raw_link(fs, p, "../fakesys-dangling/nowhere");
}

int fakesys_attr_make_garbage(FakeSys *fs, const char *bdf, const char *name, size_t size) {
        static const uint8_t pattern[] = { 0xff, 0x00, 'x', 0xfe, '-', 0x80, ' ' };
        _cleanup_free_ uint8_t *buf = NULL;

        if (size > MAX_FILE_SIZE)
                return -EINVAL;
        buf = malloc(size ? size : 1);
        if (!buf)
                return -ENOMEM;
        /* NULs, high bytes and no newline: nothing a number or name parser should accept. */
        for (size_t i = 0; i < size; i++)
                buf[i] = pattern[i % sizeof(pattern)];
        return fakesys_set_attr_bytes(fs, bdf, name, buf, size);
}

int fakesys_unbind(FakeSys *fs, const char *bdf) {
        Path dev, l, drv;
        int r;

        if (!fs)
                return -EINVAL;
        r = dev_path(fs, bdf, dev);
        if (r >= 0)
                r = pathf(l, "%s/driver", dev);
        if (r >= 0)
                r = get_link(fs, l, drv);
        if (r == -ENOENT)
                return 0;
        if (r >= 0)
                r = clear_at(fs->dirfd, l);
        if (r >= 0)
                r = pathf(l, "%s/%s", drv, bdf);
        if (r >= 0)
                r = clear_at(fs->dirfd, l);
        /* The vfio cdev goes with the vfio-pci binding. */
        if (r >= 0)
                r = pathf(l, "%s/vfio-dev", dev);
        if (r >= 0)
                r = clear_at(fs->dirfd, l);
        return r < 0 ? r : putf(fs, dev, "enable", 0644, "0\n");
}

int fakesys_bind(FakeSys *fs, const char *bdf, const char *driver) {
        Path dev;
        int r;

        if (!fs || !filename_is_valid(driver))
                return -EINVAL;
        r = fakesys_unbind(fs, bdf);
        if (r >= 0)
                r = dev_path(fs, bdf, dev);
        if (r >= 0)
                r = bind_links(fs, bdf, dev, driver);
        return r < 0 ? r : putf(fs, dev, "enable", 0644, "%d\n", driver_enables(driver));
}

int fakesys_sync_drivers(FakeSys *fs) {
        _cleanup_strv_free_ char **drivers = NULL, **devices = NULL;
        int r;

        if (!fs)
                return -EINVAL;
        r = list_dir(fs, DRIVERS_DIR, &drivers);
        for (char **i = drivers; r >= 0 && i && *i; i++)
                r = fakesys_add_driver(fs, *i);
        if (r >= 0)
                r = list_dir(fs, DEVICES_LINK_DIR, &devices);
        for (char **i = devices; r >= 0 && i && *i; i++) {
                Path dev, l, drv;

                if (!pci_address_is_canonical(*i))
                        continue;
                r = dev_path(fs, *i, dev);
                if (r >= 0)
                        r = pathf(l, "%s/driver", dev);
                if (r >= 0)
                        r = get_link(fs, l, drv);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r >= 0 && !strneq(drv, DRIVERS_DIR "/", strlen(DRIVERS_DIR "/")))
                        r = -EXDEV;
                if (r >= 0)
                        r = bind_links(fs, *i, dev, strrchr(drv, '/') + 1);
        }
        return r;
}

int fakesys_set_vfio_dev(FakeSys *fs, const char *bdf, int n) {
        Path dev, v;
        int r;

        if (!fs)
                return -EINVAL;
        r = dev_path(fs, bdf, dev);
        if (r >= 0)
                r = pathf(v, "%s/vfio-dev", dev);
        if (r >= 0)
                r = clear_at(fs->dirfd, v);
        if (r < 0 || n < 0)
                return r;
        r = pathf(v, "%s/vfio-dev/vfio%d", dev, n);
        return r < 0 ? r : putf(fs, v, "dev", 0444, "511:%d\n", n);
}

/* Removes links in dir that resolve into the subtree at prefix. */
static int drop_links_into(FakeSys *fs, const char *dir, const char *prefix) {
        _cleanup_strv_free_ char **names = NULL;
        size_t plen = strlen(prefix);
        int r;

        r = list_dir(fs, dir, &names);
        if (r == -ENOENT)
                return 0;
        for (char **i = names; r >= 0 && i && *i; i++) {
                Path l, t;

                r = pathf(l, "%s/%s", dir, *i);
                if (r < 0 || get_link(fs, l, t) < 0)
                        continue;
                if (strneq(t, prefix, plen) && (t[plen] == '/' || t[plen] == 0))
                        r = clear_at(fs->dirfd, l);
        }
        return r;
}

/* Undoes the links of one device (not its directory). */
static int unlink_device(FakeSys *fs, const char *bdf, const char *dev) {
        Path l, pf;
        int r;

        r = fakesys_unbind(fs, bdf);
        if (r >= 0)
                r = leave_group(fs, bdf, dev);
        if (r >= 0)
                r = unlink_from_iommu(fs, bdf, dev);
        if (r >= 0)
                r = pathf(l, "%s/physfn", dev);
        if (r >= 0 && get_link(fs, l, pf) >= 0)
                r = drop_links_into(fs, pf, dev);
        if (r >= 0)
                r = pathf(l, DEVICES_LINK_DIR "/%s", bdf);
        return r < 0 ? r : clear_at(fs->dirfd, l);
}

/* Children first: every device directory below dev. */
static int unlink_subtree(FakeSys *fs, const char *dev) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = list_dir(fs, dev, &names);
        for (char **i = names; r >= 0 && i && *i; i++) {
                Path child;
                struct stat st;

                if (!pci_address_is_canonical(*i))
                        continue;
                r = pathf(child, "%s/%s", dev, *i);
                if (r < 0 || fstatat(fs->dirfd, child, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                r = unlink_subtree(fs, child);
                if (r >= 0)
                        r = unlink_device(fs, *i, child);
        }
        return r;
}

static int remove_vfs(FakeSys *fs, const char *dev) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = list_dir(fs, dev, &names);
        for (char **i = names; r >= 0 && i && *i; i++) {
                Path l, vf;

                if (!strneq(*i, "virtfn", 6))
                        continue;
                r = pathf(l, "%s/%s", dev, *i);
                if (r < 0 || get_link(fs, l, vf) < 0)
                        continue;
                r = fakesys_remove_device(fs, strrchr(vf, '/') + 1);
                if (r == -ENOENT)
                        r = 0;
        }
        return r;
}

int fakesys_remove_device(FakeSys *fs, const char *bdf) {
        static const char *const link_dirs[] = { "sys/dev/block", "sys/class/block",
                                                 "sys/class/net", CLASS_IOMMU };
        Path dev;
        int r;

        if (!fs)
                return -EINVAL;
        r = dev_path(fs, bdf, dev);
        /* A PF's VFs are its siblings, not its children; they go first (sriov_del_vfs()). */
        if (r >= 0)
                r = remove_vfs(fs, dev);
        if (r >= 0)
                r = unlink_subtree(fs, dev);
        if (r >= 0)
                r = unlink_device(fs, bdf, dev);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(link_dirs); i++)
                r = drop_links_into(fs, link_dirs[i], dev);
        return r < 0 ? r : clear_at(fs->dirfd, dev);
}

/* ---- IOMMU units, ACPI ---- */

int fakesys_add_iommu(FakeSys *fs, const FakeIommu *u) {
        Path dir;
        int r;

        if (!fs || !u || !filename_is_valid(u->name) ||
            (u->kind != FAKE_IOMMU_INTEL && u->kind != FAKE_IOMMU_AMD) ||
            (u->version && strchr(u->version, '\n')) || (u->features && strchr(u->features, '\n')))
                return -EINVAL;
        if (u->bdf) {
                Path dev;

                r = dev_path(fs, u->bdf, dev);
                if (r >= 0)
                        r = pathf(dir, "%s/iommu/%s", dev, u->name);
        } else
                r = pathf(dir, VIRTUAL_IOMMU "/%s", u->name);
        if (r >= 0)
                r = mkdir_p_at(fs->dirfd, dir);
        if (r >= 0)
                r = put_link(fs, CLASS_IOMMU, u->name, dir);
        if (r >= 0 && u->kind == FAKE_IOMMU_INTEL) {
                /* Documentation/ABI/testing/sysfs-class-iommu-intel-iommu: hex without 0x. */
                const char *const names[] = { "intel-iommu/address", "intel-iommu/cap",
                                              "intel-iommu/ecap" };
                const uint64_t regs[] = { u->address, u->cap, u->ecap };

                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(regs); i++)
                        r = putf(fs, dir, names[i], 0444, "%llx\n", (unsigned long long) regs[i]);
                if (r >= 0)
                        r = putf(fs, dir, "intel-iommu/version", 0444, "%s\n", u->version ?: "1:0");
        } else if (r >= 0) {
                /* Documentation/ABI/testing/sysfs-class-iommu-amd-iommu. */
                r = putf(fs, dir, "amd-iommu/cap", 0444, "%llx\n", (unsigned long long) u->amd_cap);
                if (r >= 0)
                        r = putf(fs, dir, "amd-iommu/features", 0444, "%s\n", u->features ?: "0");
        }
        return r;
}

int fakesys_set_acpi_table(FakeSys *fs, const char *name, const void *data, size_t size) {
        Path p;

        if (!fs || !filename_is_valid(name) || strlen(name) != 4 || (!data && size > 0))
                return -EINVAL;
        if (pathf(p, "sys/firmware/acpi/tables/%s", name) < 0)
                return -ENAMETOOLONG;
        /* Root-only in the kernel (drivers/acpi/sysfs.c: 0400). */
        return write_at(fs->dirfd, p, data ? data : "", size, 0400);
}
