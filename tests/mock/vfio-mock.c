/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvfio-mock.so: the libc side. Interposes the calls through which a process reaches the
 * kernel's files, hands the ones that concern the fake tree to the model, and passes everything
 * else to the next definition (dlsym(RTLD_NEXT)).
 *
 * Cost on the hot path: write(), close() and ioctl() look at one slot of an fd-indexed table
 * and go on when it is empty. Opens are classified once: a write-mode open whose file name
 * could be a modelled attribute is resolved through /proc/self/fd, and an open whose name
 * ends in vfio/vfio or vfio/N is resolved against the dev root. */

/* This file defines open() and open64() (etc.) side by side; the large-file redirects of
 * <fcntl.h> would turn one definition into the other. */
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macro.h"
#include "mock.h"

#define EXPORT __attribute__((visibility("default")))
/* The model classifies fds below this; a kernel-file fd above it fails with EMFILE rather than
 * slip past the model. RLIMIT_NOFILE's usual soft limit is 1024. */
#define MOCK_FD_MAX 65536
/* VFIO_TYPE and IOMMUFD_TYPE alike (include/uapi/linux/vfio.h, iommufd.h). */
#define VFIO_IOCTL_TYPE ';'
/* Larger than any store the kernel accepts (one page); beyond it writev() fails like sysfs. */
#define WRITEV_MAX (64u * 1024u)

__thread int mock_guard __attribute__((tls_model("initial-exec")));

/* Not declared by <fcntl.h> without _FORTIFY_SOURCE; glibc exports them all. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* ---- the next definitions ---- */

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);

static struct {
        open_fn open, open64;
        openat_fn openat, openat64;
        open2_fn open_2, open64_2;
        openat2_fn openat_2, openat64_2;
        int (*creat)(const char *, mode_t);
        int (*creat64)(const char *, mode_t);
        ssize_t (*write)(int, const void *, size_t);
        ssize_t (*pwrite)(int, const void *, size_t, off_t);
        ssize_t (*pwrite64)(int, const void *, size_t, off64_t);
        ssize_t (*writev)(int, const struct iovec *, int);
        int (*close)(int);
        int (*close_range)(unsigned, unsigned, int);
        void (*closefrom)(int);
        int (*dup)(int);
        int (*dup2)(int, int);
        int (*dup3)(int, int, int);
        int (*fcntl)(int, int, ...);
        int (*fcntl64)(int, int, ...);
        int (*ioctl)(int, unsigned long, ...);
        int (*inotify_add_watch)(int, const char *, uint32_t);
        ssize_t (*readlink)(const char *, char *, size_t);
        ssize_t (*readlinkat)(int, const char *, char *, size_t);
        int (*socket)(int, int, int);
        int (*bind)(int, const struct sockaddr *, socklen_t);
        int (*getsockname)(int, struct sockaddr *, socklen_t *);
        int (*setsockopt)(int, int, int, const void *, socklen_t);
        ssize_t (*send)(int, const void *, size_t, int);
        ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
        ssize_t (*sendmsg)(int, const struct msghdr *, int);
} real;

static void *next_symbol(const char *name) {
        void *p = dlsym(RTLD_NEXT, name);

        /* An interposer without its target cannot do anything sensible. */
        if (!p)
                abort();
        return p;
}

/* Lazily, because another library's constructor may call us before ours ran. */
#define REAL(field, name)                                                                   \
        ({                                                                                  \
                __typeof__(real.field) _f = __atomic_load_n(&real.field, __ATOMIC_ACQUIRE); \
                if (__builtin_expect(!_f, 0)) {                                             \
                        _f = (__typeof__(real.field)) next_symbol(name);                    \
                        __atomic_store_n(&real.field, _f, __ATOMIC_RELEASE);                \
                }                                                                           \
                _f;                                                                         \
        })

/* ---- the fd table ---- */

static MockObj *fd_table[MOCK_FD_MAX];
static pthread_mutex_t table_mutex = PTHREAD_MUTEX_INITIALIZER;

void mock_table_lock(void) {
        pthread_mutex_lock(&table_mutex);
}

void mock_table_unlock(void) {
        pthread_mutex_unlock(&table_mutex);
}

static MockObj *slot_peek(int fd) {
        if (fd < 0 || fd >= MOCK_FD_MAX)
                return NULL;
        return __atomic_load_n(&fd_table[fd], __ATOMIC_ACQUIRE);
}

MockObj *mock_obj_new(MockKind kind, const MockRoots *roots) {
        MockObj *o = calloc(1, sizeof(*o));

        if (!o)
                return NULL;
        o->kind = kind;
        if (roots)
                o->roots = *roots;
        return o;
}

void mock_obj_unref_locked(MockObj *o) {
        if (!o || --o->refs > 0)
                return;
        if (o->kind == MOCK_KIND_NETLINK)
                REAL(close, "close")(o->peer_fd);
        if (o->container) {
                MockObj *c = o->container;

                /* The last group leaving a container takes its IOMMU model with it
                 * (vfio_group_detach_container()). */
                if (--c->n_groups == 0)
                        c->iommu_set = false;
                mock_obj_unref_locked(c);
        }
        free(o);
}

MockObj *mock_table_get_locked(int fd) {
        return fd >= 0 && fd < MOCK_FD_MAX ? fd_table[fd] : NULL;
}

static void slot_set_locked(int fd, MockObj *o) {
        MockObj *old = fd_table[fd];

        __atomic_store_n(&fd_table[fd], o, __ATOMIC_RELEASE);
        mock_obj_unref_locked(old);
}

int mock_table_install_locked(int fd, MockObj *o) {
        if (fd < 0 || fd >= MOCK_FD_MAX)
                return -EMFILE;
        o->refs++;
        slot_set_locked(fd, o);
        return 0;
}

static void slot_clear(int fd) {
        if (!slot_peek(fd))
                return;
        mock_table_lock();
        slot_set_locked(fd, NULL);
        mock_table_unlock();
}

/* newfd now refers to what oldfd refers to (after a successful dup). Returns newfd, or -1 with
 * EMFILE when a modelled fd landed beyond the table: better unusable than unmodelled. */
static int slot_copy(int oldfd, int newfd) {
        MockObj *o;
        int r = newfd;

        if (newfd < 0 || oldfd == newfd)
                return newfd;
        mock_table_lock();
        o = mock_table_get_locked(oldfd);
        if (o) {
                if (mock_table_install_locked(newfd, o) < 0) {
                        REAL(close, "close")(newfd);
                        errno = EMFILE;
                        r = -1;
                }
        } else if (newfd < MOCK_FD_MAX)
                slot_set_locked(newfd, NULL);
        mock_table_unlock();
        return r;
}

/* Fork with the table lock held would leave the child's lock taken forever. */
static pthread_mutex_t roots_mutex = PTHREAD_MUTEX_INITIALIZER;

static void atfork_prepare(void) {
        pthread_mutex_lock(&roots_mutex);
        pthread_mutex_lock(&table_mutex);
}

static void atfork_release(void) {
        pthread_mutex_unlock(&table_mutex);
        pthread_mutex_unlock(&roots_mutex);
}

/* Linked with --wrap=realpath: fakesys.c calls realpath(path, NULL), and in a program without
 * the sanitizer runtime up front, an ASan build of this library reaches the oldest
 * realpath@GLIBC_2.2.5, which refuses NULL with EINVAL. */
char *__real_realpath(const char *path, char *resolved);
char *__wrap_realpath(const char *path, char *resolved);

char *__wrap_realpath(const char *path, char *resolved) {
        char buf[PATH_MAX];
        char *s;

        if (resolved)
                return __real_realpath(path, resolved);
        if (!__real_realpath(path, buf))
                return NULL;
        s = strdup(buf);
        if (!s)
                errno = ENOMEM;
        return s;
}

/* ---- roots ---- */

static struct {
        char root_env[PATH_MAX], dev_env[PATH_MAX];
        MockRoots roots;
        int result;
        bool valid;
} roots_cache;

static int resolve_root(const char *path, char ret[static PATH_MAX]) {
        char buf[PATH_MAX];

        if (!realpath(path, buf))
                return -ENXIO;
        /* Never the real tree: a test that forgot to set the variable must not rebind the
         * host's devices. */
        if (streq(buf, "/"))
                return -ENXIO;
        strcpy(ret, buf);
        return 0;
}

int mock_roots_get(MockRoots *ret) {
        const char *root = getenv("VFIO_MOCK_ROOT"), *dev = getenv("VFIO_MOCK_DEV_ROOT");
        int r;

        if (isempty(root) || strlen(root) >= PATH_MAX)
                return -ENXIO;
        if (isempty(dev))
                dev = root;
        if (strlen(dev) >= PATH_MAX)
                return -ENXIO;
        pthread_mutex_lock(&roots_mutex);
        if (!roots_cache.valid || !streq(roots_cache.root_env, root) ||
            !streq(roots_cache.dev_env, dev)) {
                strcpy(roots_cache.root_env, root);
                strcpy(roots_cache.dev_env, dev);
                mock_guard++;
                r = resolve_root(root, roots_cache.roots.root);
                if (r >= 0)
                        r = resolve_root(dev, roots_cache.roots.dev_root);
                mock_guard--;
                roots_cache.result = r;
                roots_cache.valid = true;
        }
        r = roots_cache.result;
        if (r >= 0)
                *ret = roots_cache.roots;
        pthread_mutex_unlock(&roots_mutex);
        return r;
}

/* ---- opens ---- */

static const char *basename_of(const char *path) {
        const char *s = strrchr(path, '/');

        return s ? s + 1 : path;
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* Whether path ends in "/DIR/base" (or is "DIR/base"). */
static bool in_dir_named(const char *path, const char *base, const char *dir) {
        size_t off = (size_t) (base - path), n = strlen(dir);

        return off >= n + 1 && strneq(path + off - n - 1, dir, n) && path[off - 1] == '/' &&
               (off == n + 1 || path[off - n - 2] == '/');
}

/* "…vfio/vfio", "…vfio/<digits>", "…dev/iommu", "…devices/vfio<digits>": the only names worth
 * resolving against the dev root. */
static bool looks_like_vfio_node(const char *path) {
        const char *base = basename_of(path);

        if (streq(base, "iommu"))
                return in_dir_named(path, base, "dev");
        if (strneq(base, "vfio", 4) && all_digits(base + 4))
                return in_dir_named(path, base, "devices");
        if (!streq(base, "vfio") && !all_digits(base))
                return false;
        return in_dir_named(path, base, "vfio");
}

/* dirfd + path, made absolute and lexically normalised (the roots are realpaths, and a dirfd's
 * /proc/self/fd link is canonical). */
static int absolute_path(int dirfd, const char *path, char ret[static PATH_MAX]) {
        char base[PATH_MAX], joined[2 * PATH_MAX + 2];
        char *comp[PATH_MAX / 2], *save = NULL, *p;
        size_t n = 0, len = 0;

        if (path[0] == '/')
                base[0] = 0;
        else if (dirfd == AT_FDCWD) {
                if (!getcwd(base, sizeof(base)))
                        return -errno;
        } else {
                char link[64];
                ssize_t k;

                snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
                k = readlink(link, base, sizeof(base) - 1);
                if (k < 0)
                        return -errno;
                base[k] = 0;
        }
        snprintf(joined, sizeof(joined), "%s/%s", base, path);
        for (p = strtok_r(joined, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
                if (streq(p, "."))
                        continue;
                if (streq(p, "..")) {
                        if (n > 0)
                                n--;
                        continue;
                }
                if (n >= ELEMENTSOF(comp))
                        return -ENAMETOOLONG;
                comp[n++] = p;
        }
        ret[0] = 0;
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(comp[i]);

                if (len + l + 2 > PATH_MAX)
                        return -ENAMETOOLONG;
                ret[len++] = '/';
                memcpy(ret + len, comp[i], l + 1);
                len += l;
        }
        if (len == 0)
                strcpy(ret, "/");
        return 0;
}

/* Before the real open: the fake VFIO nodes never reach libc. Returns true when handled, with
 * *ret_fd the result (-1 and errno on failure). */
static bool open_pre(int dirfd, const char *path, int flags, int *ret_fd) {
        char abs_path[PATH_MAX];
        MockRoots roots;
        size_t len;
        int saved = errno, r;

        if (!looks_like_vfio_node(path))
                return false;
        mock_guard++;
        r = mock_roots_get(&roots);
        if (r >= 0)
                r = absolute_path(dirfd, path, abs_path);
        mock_guard--;
        if (r < 0) {
                errno = saved;
                return false;
        }
        len = strlen(roots.dev_root);
        if (!strneq(abs_path, roots.dev_root, len) || abs_path[len] != '/' ||
            (!mock_vfio_path_is_node(abs_path + len + 1) &&
             !mock_iommufd_path_is_node(abs_path + len + 1))) {
                errno = saved;
                return false;
        }
        mock_guard++;
        if (mock_iommufd_path_is_node(abs_path + len + 1))
                r = mock_iommufd_open(&roots, abs_path + len + 1, flags);
        else
                r = mock_vfio_open(&roots, abs_path + len + 1, flags);
        mock_guard--;
        if (r < 0) {
                errno = -r;
                *ret_fd = -1;
        } else {
                errno = saved;
                *ret_fd = r;
        }
        return true;
}

/* After the real open: remember write-mode fds on modelled attributes. */
static int open_post(int fd, const char *path, int flags) {
        char link[64], canonical[PATH_MAX];
        char name[MOCK_NAME_MAX];
        MockRoots roots;
        MockAttr attr;
        MockObj *o;
        struct stat st;
        ssize_t k;
        int saved = errno, r;

        if (fd < 0 || (flags & O_ACCMODE) == O_RDONLY || (flags & O_PATH) ||
            !mock_attr_name_is_candidate(basename_of(path)))
                return fd;
        mock_guard++;
        r = mock_roots_get(&roots);
        if (r >= 0) {
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                k = readlink(link, canonical, sizeof(canonical) - 1);
                if (k < 0)
                        r = -errno;
                else
                        canonical[k] = 0;
        }
        if (r >= 0)
                r = mock_attr_classify(&roots, canonical, &attr, name);
        if (r > 0)
                r = fstat(fd, &st) < 0 ? -errno : 1;
        mock_guard--;
        if (r <= 0) {
                errno = saved;
                return fd;
        }
        o = mock_obj_new(MOCK_KIND_ATTR, &roots);
        if (!o) {
                REAL(close, "close")(fd);
                errno = ENOMEM;
                return -1;
        }
        o->attr = attr;
        o->st_dev = st.st_dev;
        o->st_ino = st.st_ino;
        strcpy(o->name, name);
        mock_table_lock();
        r = mock_table_install_locked(fd, o);
        mock_table_unlock();
        if (r < 0) {
                free(o);
                REAL(close, "close")(fd);
                errno = -r;
                return -1;
        }
        errno = saved;
        return fd;
}

/* libc declares the path nonnull, so a plain NULL test would be optimised away; the kernel
 * answers EFAULT for it, and so does the next definition. */
static inline bool path_is_null(const char *p) {
        __asm__("" : "+r"(p));
        return !p;
}

static mode_t mode_arg(int flags, va_list ap) {
        return __OPEN_NEEDS_MODE(flags) ? (mode_t) va_arg(ap, int) : 0;
}

#define OPEN_BODY(dirfd, path, flags, real_call)              \
        do {                                                  \
                int _fd;                                      \
                if (mock_guard || path_is_null(path))         \
                        return (real_call);                   \
                if (open_pre((dirfd), (path), (flags), &_fd)) \
                        return _fd;                           \
                _fd = (real_call);                            \
                return open_post(_fd, (path), (flags));       \
        } while (0)

EXPORT int open(const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = mode_arg(flags, ap);
        va_end(ap);
        OPEN_BODY(AT_FDCWD, path, flags, REAL(open, "open")(path, flags, mode));
}

EXPORT int open64(const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = mode_arg(flags, ap);
        va_end(ap);
        OPEN_BODY(AT_FDCWD, path, flags, REAL(open64, "open64")(path, flags, mode));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = mode_arg(flags, ap);
        va_end(ap);
        OPEN_BODY(dirfd, path, flags, REAL(openat, "openat")(dirfd, path, flags, mode));
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = mode_arg(flags, ap);
        va_end(ap);
        OPEN_BODY(dirfd, path, flags, REAL(openat64, "openat64")(dirfd, path, flags, mode));
}

/* The _FORTIFY_SOURCE entry points for opens whose flags are not compile-time constants. */
EXPORT int __open_2(const char *path, int flags) {
        OPEN_BODY(AT_FDCWD, path, flags, REAL(open_2, "__open_2")(path, flags));
}

EXPORT int __open64_2(const char *path, int flags) {
        OPEN_BODY(AT_FDCWD, path, flags, REAL(open64_2, "__open64_2")(path, flags));
}

EXPORT int __openat_2(int dirfd, const char *path, int flags) {
        OPEN_BODY(dirfd, path, flags, REAL(openat_2, "__openat_2")(dirfd, path, flags));
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
        OPEN_BODY(dirfd, path, flags, REAL(openat64_2, "__openat64_2")(dirfd, path, flags));
}

EXPORT int creat(const char *path, mode_t mode) {
        OPEN_BODY(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, REAL(creat, "creat")(path, mode));
}

EXPORT int creat64(const char *path, mode_t mode) {
        OPEN_BODY(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC,
                  REAL(creat64, "creat64")(path, mode));
}

/* ---- inotify ---- */

/* A watch on a fake /dev/vfio/N is put on the group's lock file: that is the file every group
 * and device fd of the model is an open of (read-write), so its last close is the group being
 * let go, as the kernel reports the last close of /dev/vfio/N (fsnotify_close() in __fput()).
 * The model's own read-only looks at the lock file are not such closes: IN_CLOSE_NOWRITE is
 * dropped from the mask. */
EXPORT int inotify_add_watch(int fd, const char *path, uint32_t mask) {
        char abs_path[PATH_MAX], lock[PATH_MAX + 32] = "";
        MockRoots roots;
        unsigned group;
        size_t len;
        int r, lock_fd;

        if (mock_guard || path_is_null(path) || !looks_like_vfio_node(path))
                return REAL(inotify_add_watch, "inotify_add_watch")(fd, path, mask);
        mock_guard++;
        r = mock_roots_get(&roots);
        if (r >= 0)
                r = absolute_path(AT_FDCWD, path, abs_path);
        len = strlen(roots.dev_root);
        if (r >= 0 && strneq(abs_path, roots.dev_root, len) && abs_path[len] == '/' &&
            mock_vfio_path_is_node(abs_path + len + 1) &&
            sscanf(abs_path + len + 1, "dev/vfio/%u", &group) == 1 &&
            (lock_fd = mock_group_lock_open(roots.root, group, O_CLOEXEC)) >= 0) {
                REAL(close, "close")(lock_fd);
                snprintf(lock, sizeof(lock), "%s/" MOCK_STATE_DIR "/group-%u", roots.root, group);
                path = lock;
                if (mask & IN_CLOSE_WRITE)
                        mask &= ~IN_CLOSE_NOWRITE;
        } else if (r >= 0 && strneq(abs_path, roots.dev_root, len) && abs_path[len] == '/' &&
                   mock_iommufd_path_is_node(abs_path + len + 1) &&
                   mock_cdev_watch_dir(&roots, abs_path + len + 1, lock) >= 0) {
                /* A cdev's opens are files in one directory (mock-iommufd.c): a watch on it
                 * reports the close of each, as the kernel reports the last close of each
                 * open of the cdev. */
                path = lock;
                if (mask & IN_CLOSE_WRITE)
                        mask &= ~IN_CLOSE_NOWRITE;
        }
        mock_guard--;
        return REAL(inotify_add_watch, "inotify_add_watch")(fd, path, mask);
}

/* ---- /proc/PID/fd links ---- */

/* Whether abs is /proc/<pid>/fd/<n> of another process. */
static bool is_other_fd_link(const char *abs) {
        char pid[16], fd[16], rest;

        if (sscanf(abs, "/proc/%15[0-9]/fd/%15[0-9]%c", pid, fd, &rest) != 2)
                return false;
        return strtol(pid, NULL, 10) != (long) getpid();
}

/* What the kernel shows for a model's fd: the node that was opened (d_path() of the file), where
 * the model has its state file: .vfio-mock/group-N is dev/vfio/N, .vfio-mock/cdev/BDF/<open> is
 * the device's dev/vfio/devices/vfioN. A device fd is an open of the group's file too, so it
 * reads as dev/vfio/N, where the kernel shows anon_inode:[vfio-device]. */
static void translate_fd_link(char target[static PATH_MAX]) {
        _cleanup_close_ int root_fd = -1;
        char bdf[MOCK_NAME_MAX], prefix[PATH_MAX + 32], shown[PATH_MAX + 64];
        const char *rest;
        MockRoots roots;
        unsigned group;
        size_t len;
        int n;

        if (mock_roots_get(&roots) < 0)
                return;
        len = (size_t) snprintf(prefix, sizeof(prefix), "%s/" MOCK_STATE_DIR "/", roots.root);
        if (!strneq(target, prefix, len))
                return;
        rest = target + len;
        if (sscanf(rest, "group-%u", &group) == 1) {
                if (snprintf(shown, sizeof(shown), "%s/dev/vfio/%u", roots.dev_root, group) <
                    PATH_MAX)
                        strcpy(target, shown);
                return;
        }
        if (!strneq(rest, "cdev/", 5))
                return;
        len = strcspn(rest + 5, "/");
        if (len == 0 || len >= sizeof(bdf) || rest[5 + len] != '/')
                return;
        memcpy(bdf, rest + 5, len);
        bdf[len] = 0;
        root_fd = open(roots.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        n = root_fd >= 0 ? mock_device_cdev_number(root_fd, bdf) : -1;
        if (n >= 0 && snprintf(shown, sizeof(shown), "%s/dev/vfio/devices/vfio%d", roots.dev_root,
                               n) < PATH_MAX)
                strcpy(target, shown);
}

/* Another process's fd link read as the kernel would show it: a scan of /proc for who holds a
 * node (daemon/holders.c) works on the model. The model's own looks at its fds go through
 * /proc/self and see its state files. */
static ssize_t fd_link_read(int dirfd, const char *path, char *buf, size_t size) {
        char abs[PATH_MAX], target[PATH_MAX];
        ssize_t n = -1;

        if (absolute_path(dirfd, path, abs) < 0 || !is_other_fd_link(abs))
                return -2;
        n = REAL(readlink, "readlink")(abs, target, sizeof(target) - 1);
        if (n < 0)
                return -1;
        target[n] = 0;
        translate_fd_link(target);
        n = (ssize_t) MIN(strlen(target), size);
        memcpy(buf, target, (size_t) n);
        return n;
}

EXPORT ssize_t readlink(const char *path, char *buf, size_t size) {
        ssize_t n = -2;

        if (!mock_guard && !path_is_null(path) && all_digits(basename_of(path))) {
                mock_guard++;
                n = fd_link_read(AT_FDCWD, path, buf, size);
                mock_guard--;
        }
        return n != -2 ? n : REAL(readlink, "readlink")(path, buf, size);
}

EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size) {
        ssize_t n = -2;

        if (!mock_guard && !path_is_null(path) && all_digits(basename_of(path))) {
                mock_guard++;
                n = fd_link_read(dirfd, path, buf, size);
                mock_guard--;
        }
        return n != -2 ? n : REAL(readlinkat, "readlinkat")(dirfd, path, buf, size);
}

/* ---- write ---- */

/* A table entry whose fd was closed behind our back (fclose(), a raw syscall) and reused. */
static bool slot_is_stale_locked(int fd, const MockObj *o) {
        struct stat st;
        bool stale;

        mock_guard++;
        stale = fstat(fd, &st) < 0 || st.st_dev != o->st_dev || st.st_ino != o->st_ino;
        mock_guard--;
        return stale;
}

/* A request on a model's NETLINK_ROUTE socket; the table lock is held (the peer fd stays open). */
static ssize_t netlink_send_locked(const MockObj *o, const void *buf, size_t n) {
        ssize_t r;

        mock_guard++;
        r = mock_netlink_send(&o->roots, o->nl_pid, o->peer_fd, buf, n);
        mock_guard--;
        if (r < 0) {
                errno = (int) -r;
                return -1;
        }
        return r;
}

static ssize_t mock_write(int fd, const void *buf, size_t n) {
        MockRoots *roots;
        char name[MOCK_NAME_MAX];
        MockAttr attr;
        MockObj *o;
        ssize_t r;

        mock_table_lock();
        o = mock_table_get_locked(fd);
        if (o && slot_is_stale_locked(fd, o)) {
                slot_set_locked(fd, NULL);
                o = NULL;
        }
        if (!o) {
                mock_table_unlock();
                return REAL(write, "write")(fd, buf, n);
        }
        if (o->kind == MOCK_KIND_NETLINK) {
                r = netlink_send_locked(o, buf, n);
                mock_table_unlock();
                return r;
        }
        if (o->kind != MOCK_KIND_ATTR) {
                /* VFIO character devices have no write method. */
                mock_table_unlock();
                errno = EINVAL;
                return -1;
        }
        /* Copies: the write may block (hang injection), and the fd may be closed meanwhile. */
        roots = malloc(sizeof(*roots));
        if (!roots) {
                mock_table_unlock();
                errno = ENOMEM;
                return -1;
        }
        *roots = o->roots;
        attr = o->attr;
        strcpy(name, o->name);
        mock_table_unlock();

        mock_guard++;
        r = mock_attr_write(roots, attr, name, buf, n);
        mock_guard--;
        free(roots);
        if (r < 0) {
                errno = (int) -r;
                return -1;
        }
        return r;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n) {
        if (__builtin_expect(mock_guard || !slot_peek(fd), 1))
                return REAL(write, "write")(fd, buf, n);
        return mock_write(fd, buf, n);
}

/* sysfs ignores the offset of a store (sysfs_kf_write()), so pwrite() is write(). */
EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
        if (__builtin_expect(mock_guard || !slot_peek(fd), 1))
                return REAL(pwrite, "pwrite")(fd, buf, n, offset);
        return mock_write(fd, buf, n);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset) {
        if (__builtin_expect(mock_guard || !slot_peek(fd), 1))
                return REAL(pwrite64, "pwrite64")(fd, buf, n, offset);
        return mock_write(fd, buf, n);
}

/* One store of the gathered buffer, as kernfs copies the whole iov before calling it. */
EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
        _cleanup_free_ char *buf = NULL;
        size_t total = 0;
        ssize_t r;

        if (__builtin_expect(mock_guard || !slot_peek(fd), 1))
                return REAL(writev, "writev")(fd, iov, iovcnt);
        if (iovcnt < 0 || iovcnt > IOV_MAX) {
                errno = EINVAL;
                return -1;
        }
        for (int i = 0; i < iovcnt; i++) {
                if (iov[i].iov_len > WRITEV_MAX - total) {
                        errno = EINVAL;
                        return -1;
                }
                total += iov[i].iov_len;
        }
        buf = malloc(total ? total : 1);
        if (!buf) {
                errno = ENOMEM;
                return -1;
        }
        total = 0;
        for (int i = 0; i < iovcnt; i++) {
                memcpy(buf + total, iov[i].iov_base, iov[i].iov_len);
                total += iov[i].iov_len;
        }
        r = mock_write(fd, buf, total);
        return r;
}

/* ---- close and dup ---- */

EXPORT int close(int fd) {
        int r;

        if (mock_guard || !slot_peek(fd))
                return REAL(close, "close")(fd);
        r = REAL(close, "close")(fd);
        slot_clear(fd);
        return r;
}

EXPORT int close_range(unsigned first, unsigned last, int flags) {
        int r = REAL(close_range, "close_range")(first, last, flags);

        if (r >= 0 && !mock_guard && !(flags & CLOSE_RANGE_CLOEXEC))
                for (unsigned fd = first; fd <= last && fd < MOCK_FD_MAX; fd++)
                        slot_clear((int) fd);
        return r;
}

EXPORT void closefrom(int lowfd) {
        REAL(closefrom, "closefrom")(lowfd);
        if (!mock_guard)
                for (int fd = MAX(lowfd, 0); fd < MOCK_FD_MAX; fd++)
                        slot_clear(fd);
}

EXPORT int dup(int fd) {
        int r = REAL(dup, "dup")(fd);

        if (r >= 0 && !mock_guard && slot_peek(fd))
                r = slot_copy(fd, r);
        return r;
}

EXPORT int dup2(int oldfd, int newfd) {
        int r = REAL(dup2, "dup2")(oldfd, newfd);

        if (r >= 0 && !mock_guard && oldfd != newfd && (slot_peek(oldfd) || slot_peek(newfd)))
                r = slot_copy(oldfd, newfd);
        return r;
}

EXPORT int dup3(int oldfd, int newfd, int flags) {
        int r = REAL(dup3, "dup3")(oldfd, newfd, flags);

        if (r >= 0 && !mock_guard && (slot_peek(oldfd) || slot_peek(newfd)))
                r = slot_copy(oldfd, newfd);
        return r;
}

static int fcntl_common(int (*fn)(int, int, ...), int fd, int cmd, void *arg) {
        int r = fn(fd, cmd, arg);

        if (r >= 0 && !mock_guard && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && slot_peek(fd))
                r = slot_copy(fd, r);
        return r;
}

/* The third argument is an int or a pointer depending on cmd; passing it on as a pointer is
 * what every fcntl wrapper does on the LP64 ABIs. */
EXPORT int fcntl(int fd, int cmd, ...) {
        va_list ap;
        void *arg;

        va_start(ap, cmd);
        arg = va_arg(ap, void *);
        va_end(ap);
        return fcntl_common(REAL(fcntl, "fcntl"), fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...) {
        va_list ap;
        void *arg;

        va_start(ap, cmd);
        arg = va_arg(ap, void *);
        va_end(ap);
        return fcntl_common(REAL(fcntl64, "fcntl64"), fd, cmd, arg);
}

/* ---- ioctl ---- */

static int mock_ioctl(int fd, unsigned long request, void *arg) {
        MockObj *o;
        int r;

        mock_table_lock();
        o = mock_table_get_locked(fd);
        if (o && slot_is_stale_locked(fd, o)) {
                slot_set_locked(fd, NULL);
                o = NULL;
        }
        if (!o && _IOC_TYPE(request) == VFIO_IOCTL_TYPE) {
                /* An iommufd or cdev fd that came over SCM_RIGHTS or an exec. */
                mock_guard++;
                o = mock_iommufd_adopt_locked(fd);
                mock_guard--;
        }
        if (!o || o->kind == MOCK_KIND_ATTR) {
                mock_table_unlock();
                return REAL(ioctl, "ioctl")(fd, request, arg);
        }
        mock_guard++;
        if (o->kind == MOCK_KIND_IOMMUFD || o->kind == MOCK_KIND_CDEV)
                r = mock_iommufd_ioctl_locked(fd, o, request, arg);
        else
                r = mock_vfio_ioctl_locked(o, request, arg);
        mock_guard--;
        mock_table_unlock();
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return r;
}

EXPORT int ioctl(int fd, unsigned long request, ...) {
        va_list ap;
        void *arg;

        va_start(ap, request);
        arg = va_arg(ap, void *);
        va_end(ap);
        if (__builtin_expect(mock_guard ||
                                     (!slot_peek(fd) && _IOC_TYPE(request) != VFIO_IOCTL_TYPE),
                             1))
                return REAL(ioctl, "ioctl")(fd, request, arg);
        return mock_ioctl(fd, request, arg);
}

/* ---- NETLINK_ROUTE sockets ---- */

/* While the model is active, a NETLINK_ROUTE socket is one end of an AF_UNIX socketpair
 * (SOCK_SEQPACKET keeps each answer one datagram, as netlink does); what is sent on it goes to
 * mock-netlink.c, which writes the answers into the other end. Reading them needs nothing of
 * ours: recv(), recvmsg() and read() go to libc. Other netlink families (udev's
 * NETLINK_KOBJECT_UEVENT) and all other sockets are left alone. */
EXPORT int socket(int domain, int type, int protocol) {
        static uint32_t sockets;
        MockRoots roots;
        int sv[2], r;
        uint32_t n;
        MockObj *o;

        if (mock_guard || domain != AF_NETLINK || protocol != NETLINK_ROUTE)
                return REAL(socket, "socket")(domain, type, protocol);
        mock_guard++;
        r = mock_roots_get(&roots);
        mock_guard--;
        if (r < 0)
                return REAL(socket, "socket")(domain, type, protocol);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | (type & (SOCK_CLOEXEC | SOCK_NONBLOCK)), 0, sv) <
            0)
                return -1;
        /* The answers' end: never blocks the model (a full buffer loses answers, as netlink's
         * ENOBUFS), and no exec'd program inherits it. */
        if (REAL(fcntl, "fcntl")(sv[1], F_SETFL, O_NONBLOCK) < 0 ||
            REAL(fcntl, "fcntl")(sv[1], F_SETFD, FD_CLOEXEC) < 0) {
                r = -errno;
                REAL(close, "close")(sv[0]);
                REAL(close, "close")(sv[1]);
                errno = -r;
                return -1;
        }
        r = mock_obj_install(sv[0], MOCK_KIND_NETLINK, &roots, NULL, 0, false);
        if (r < 0) {
                REAL(close, "close")(sv[1]);
                errno = -r;
                return -1;
        }
        /* The kernel's autobind: the process's pid for its first socket, then numbers of its
         * own (netlink_autobind() counts down from -4096). */
        n = __atomic_fetch_add(&sockets, 1, __ATOMIC_RELAXED);
        mock_table_lock();
        o = mock_table_get_locked(sv[0]);
        o->peer_fd = sv[1];
        o->nl_pid = n == 0 ? (uint32_t) getpid() : (uint32_t) -4096 - n;
        mock_table_unlock();
        return sv[0];
}

/* The model's netlink socket of fd, or NULL; with the table lock held when not NULL. */
static MockObj *netlink_get(int fd) {
        MockObj *o;

        if (mock_guard || !slot_peek(fd))
                return NULL;
        mock_table_lock();
        o = mock_table_get_locked(fd);
        if (o && o->kind == MOCK_KIND_NETLINK && !slot_is_stale_locked(fd, o))
                return o;
        mock_table_unlock();
        return NULL;
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len) {
        MockObj *o = netlink_get(fd);

        if (!o)
                return REAL(bind, "bind")(fd, addr, len);
        mock_table_unlock();
        /* Port 0 (autobind) or the one getsockname() gives: nothing to do. */
        return 0;
}

EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        MockObj *o = netlink_get(fd);

        if (!o)
                return REAL(getsockname, "getsockname")(fd, addr, len);
        sa.nl_pid = o->nl_pid;
        mock_table_unlock();
        memcpy(addr, &sa, MIN((size_t) *len, sizeof(sa)));
        *len = sizeof(sa);
        return 0;
}

/* SOL_NETLINK options (extended acks, capped acks...) are accepted and change nothing; socket
 * options (a receive timeout) apply to the socketpair's end. */
EXPORT int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
        MockObj *o = level == SOL_NETLINK ? netlink_get(fd) : NULL;

        if (!o)
                return REAL(setsockopt, "setsockopt")(fd, level, name, value, len);
        mock_table_unlock();
        return 0;
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags) {
        MockObj *o = netlink_get(fd);
        ssize_t r;

        if (!o)
                return REAL(send, "send")(fd, buf, n, flags);
        r = netlink_send_locked(o, buf, n);
        mock_table_unlock();
        return r;
}

/* The destination is the kernel whatever it says. */
EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                      socklen_t len) {
        MockObj *o = netlink_get(fd);
        ssize_t r;

        if (!o)
                return REAL(sendto, "sendto")(fd, buf, n, flags, addr, len);
        r = netlink_send_locked(o, buf, n);
        mock_table_unlock();
        return r;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t total = 0;
        MockObj *o;
        ssize_t r;

        o = netlink_get(fd);
        if (!o)
                return REAL(sendmsg, "sendmsg")(fd, msg, flags);
        for (size_t i = 0; i < msg->msg_iovlen; i++) {
                if (msg->msg_iov[i].iov_len > WRITEV_MAX - total) {
                        mock_table_unlock();
                        errno = EMSGSIZE;
                        return -1;
                }
                total += msg->msg_iov[i].iov_len;
        }
        buf = malloc(total ? total : 1);
        if (!buf) {
                mock_table_unlock();
                errno = ENOMEM;
                return -1;
        }
        total = 0;
        for (size_t i = 0; i < msg->msg_iovlen; i++) {
                memcpy(buf + total, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
                total += msg->msg_iov[i].iov_len;
        }
        r = netlink_send_locked(o, buf, total);
        mock_table_unlock();
        return r;
}

/* ---- load ---- */

__attribute__((constructor)) static void mock_init(void) {
        MockRoots roots;

        (void) REAL(write, "write");
        (void) REAL(close, "close");
        (void) REAL(ioctl, "ioctl");
        (void) REAL(openat, "openat");
        pthread_atfork(atfork_prepare, atfork_release, atfork_release);
        /* Natural drivers are recorded the first time the model sees a device; doing it for the
         * whole tree at start catches devices before anything rebinds them. */
        if (mock_roots_get(&roots) >= 0) {
                mock_guard++;
                mock_record_natural_all(roots.root);
                mock_guard--;
        }
}
