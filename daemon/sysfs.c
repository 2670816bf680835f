/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs.h"
#include "util.h"
#include "worker.h"

struct SysRoot {
        int fd;
        int dev_fd;
        char *path;
        char *dev_path;
        bool host;
};

int sysroot_open(const char *sysfs_root, const char *dev_root, SysRoot **ret) {
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        char *real;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->fd = r->dev_fd = -1;
        r->fd = open(sysfs_root ?: "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r->fd < 0)
                return negative_errno();
        r->dev_fd = open(dev_root ?: "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r->dev_fd < 0)
                return negative_errno();
        real = realpath(sysfs_root ?: "/", NULL);
        if (!real)
                return negative_errno();
        r->path = real;
        r->host = streq(real, "/");
        r->dev_path = realpath(dev_root ?: "/", NULL);
        if (!r->dev_path)
                return negative_errno();
        *ret = TAKE_PTR(r);
        return 0;
}

SysRoot *sysroot_free(SysRoot *r) {
        if (!r)
                return NULL;
        safe_close(r->fd);
        safe_close(r->dev_fd);
        free(r->path);
        free(r->dev_path);
        free(r);
        return NULL;
}

const char *sysroot_path(const SysRoot *r) {
        return r->path;
}

bool sysroot_is_host(const SysRoot *r) {
        return r->host;
}

static int at(const SysRoot *r, int dirfd) {
        return dirfd >= 0 ? dirfd : r->fd;
}

int sysroot_open_dir_at(const SysRoot *r, int dirfd, const char *path, int *ret_fd) {
        int fd;

        fd = openat(at(r, dirfd), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

int sysroot_open_dir(const SysRoot *r, const char *path, int *ret_fd) {
        return sysroot_open_dir_at(r, -1, path, ret_fd);
}

int sysroot_opendir_at(const SysRoot *r, int dirfd, const char *path, DIR **ret) {
        int fd;
        DIR *d;

        fd = openat(at(r, dirfd), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                int r2 = negative_errno();
                close(fd);
                return r2;
        }
        *ret = d;
        return 0;
}

int sysfs_read_attr_buf(const SysRoot *r, int dirfd, const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (size < 2)
                return -EINVAL;
        fd = openat(at(r, dirfd), path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        /* sysfs attributes are produced whole by one read (Documentation/filesystems/sysfs.rst:
         * show() fills one page), so a single read suffices; a regular file in a fake tree too. */
        n = read(fd, buf, size);
        if (n < 0)
                return negative_errno();
        if ((size_t) n == size)
                return -EFBIG;
        buf[n] = 0;
        if (strlen(buf) != (size_t) n)
                return -EBADMSG; /* embedded NUL: not a text attribute */
        strstrip_trailing(buf);
        return (int) strlen(buf);
}

int sysfs_read_attr_at(const SysRoot *r, int dirfd, const char *path, char **ret) {
        char buf[SYSFS_ATTR_MAX + 1];
        char *s;
        int n;

        n = sysfs_read_attr_buf(r, dirfd, path, buf, sizeof(buf));
        if (n < 0)
                return n;
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int sysfs_read_attr(const SysRoot *r, const char *path, char **ret) {
        return sysfs_read_attr_at(r, -1, path, ret);
}

int sysfs_read_file(const SysRoot *r, const char *path, size_t max, uint8_t **ret,
                    size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t have = 0, alloc = 4096;

        fd = openat(r->fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (have == alloc) {
                        uint8_t *nb;

                        if (alloc > max)
                                return -EFBIG;
                        alloc *= 2;
                        nb = realloc(buf, alloc);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                n = read(fd, buf + have, alloc - have);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                have += (size_t) n;
                if (have > max)
                        return -EFBIG;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = have;
        return 0;
}

int sysfs_readlink_at(const SysRoot *r, int dirfd, const char *path, char **ret) {
        char buf[PATH_MAX];
        ssize_t n;
        char *s;

        n = readlinkat(at(r, dirfd), path, buf, sizeof(buf) - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = 0;
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int sysfs_read_link_name_at(const SysRoot *r, int dirfd, const char *path, char **ret) {
        _cleanup_free_ char *target = NULL;
        const char *base;
        char *s;
        int k;

        k = sysfs_readlink_at(r, dirfd, path, &target);
        if (k < 0)
                return k;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (!filename_is_valid(base))
                return -EBADMSG;
        s = strdup(base);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

bool sysfs_exists_at(const SysRoot *r, int dirfd, const char *path) {
        return faccessat(at(r, dirfd), path, F_OK, 0) >= 0;
}

bool dev_node_exists(const SysRoot *r, const char *path) {
        return faccessat(r->dev_fd, path, F_OK, 0) >= 0;
}

int dev_open(const SysRoot *r, const char *path, int flags) {
        int fd = openat(r->dev_fd, path, flags | O_CLOEXEC | O_NOCTTY);

        return fd < 0 ? negative_errno() : fd;
}

int dev_abs_path(const SysRoot *r, const char *path, char **ret) {
        return asprintf(ret, "%s/%s", streq(r->dev_path, "/") ? "" : r->dev_path, path) < 0
                       ? -ENOMEM
                       : 0;
}

int dev_add_watch(const SysRoot *r, int inotify_fd, const char *path, uint32_t mask) {
        _cleanup_free_ char *abs = NULL;
        int wd;

        /* inotify has no *at() form; the dev root's real path stands in for its fd. */
        if (dev_abs_path(r, path, &abs) < 0)
                return -ENOMEM;
        wd = inotify_add_watch(inotify_fd, abs, mask);
        return wd < 0 ? negative_errno() : wd;
}

int dev_chown(const SysRoot *r, const char *path, uint32_t uid) {
        uid_t self = geteuid();

        /* The mode is set while the daemon's own user owns the node: chmod of another user's
         * file, root's included when the unit runs the daemon as its own user, would need
         * CAP_FOWNER, which the unit does not give us (chown(2), chmod(2)). */
        if (fchownat(r->dev_fd, path, self, 0, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(r->dev_fd, path, 0600, 0) < 0)
                return negative_errno();
        if (uid != self && fchownat(r->dev_fd, path, uid, 0, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        return 0;
}

/* Applies a link's relative target to dir (dir_len bytes: the link's directory relative to the
 * root). */
static int resolve_target(const char *dir, size_t dir_len, const char *target, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t outlen = dir_len;
        const char *p;

        if (target[0] == '/')
                return -EXDEV;
        out = malloc(dir_len + strlen(target) + 2);
        if (!out)
                return -ENOMEM;
        memcpy(out, dir, outlen);
        out[outlen] = 0;
        for (p = target; *p;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);

                if (n == 0 || (n == 1 && p[0] == '.')) {
                        /* nothing */
                } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        char *slash;

                        if (outlen == 0)
                                return -EXDEV;
                        slash = strrchr(out, '/');
                        outlen = slash ? (size_t) (slash - out) : 0;
                        out[outlen] = 0;
                } else {
                        if (outlen > 0)
                                out[outlen++] = '/';
                        memcpy(out + outlen, p, n);
                        outlen += n;
                        out[outlen] = 0;
                }
                p = *e ? e + 1 : e;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int sysfs_resolve_link(const SysRoot *r, const char *link_path, char **ret) {
        _cleanup_free_ char *target = NULL;
        const char *slash;
        int k;

        k = sysfs_readlink_at(r, -1, link_path, &target);
        if (k < 0)
                return k;
        /* Start from the link's directory, then apply the target's components. */
        slash = strrchr(link_path, '/');
        return resolve_target(link_path, slash ? (size_t) (slash - link_path) : 0, target, ret);
}

int sysfs_resolve_link_at(const SysRoot *r, int dirfd, const char *dir, const char *name,
                          char **ret) {
        _cleanup_free_ char *target = NULL;
        int k;

        k = sysfs_readlink_at(r, dirfd, name, &target);
        if (k < 0)
                return k;
        return resolve_target(dir, strlen(dir), target, ret);
}

int sysfs_write_attr(const SysRoot *r, const char *path, const char *value, uint64_t timeout_usec) {
        return worker_write(r->fd, path, value, timeout_usec);
}

int sysfs_write_attrs(const SysRoot *r, const WorkerWrite *writes, size_t n, uint64_t timeout_usec,
                      size_t *ret_failed) {
        return worker_write_chain(r->fd, writes, n, timeout_usec, ret_failed);
}
