/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake iommufd (/dev/iommu) and VFIO device cdevs (/dev/vfio/devices/vfioN), with the ioctls
 * of include/uapi/linux/iommufd.h and the cdev part of include/uapi/linux/vfio.h (declared in
 * common/iommufd-uapi.h). Modelled on Linux 6.12: drivers/iommu/iommufd/{main,ioas,device,
 * io_pagetable}.c, drivers/vfio/device_cdev.c and group.c; Documentation/userspace-api/iommufd.rst
 * and Documentation/driver-api/vfio.rst ("VFIO device cdev").
 *
 * Both kinds of fd keep their state in a file that the fd itself is an open of, so the state
 * goes wherever the fd goes (dup, fork, SCM_RIGHTS) and every process sees the same thing:
 *
 *   <root>/.vfio-mock/iommufd/ctx-XXXXXX   one per open of dev/iommu: the context (objects and
 *                                          mappings), CtxState below;
 *   <root>/.vfio-mock/cdev/BDF/XXXXXX      one per open of a cdev: CdevState below.
 *
 * The fd holds an open-file-description write lock on byte 0 of its file, so "some process has
 * it open" is a lock test, and it ends with the last close. A bound cdev names its context; a
 * context lives while its lock is held or a live cdev names it. What a close would tear down in
 * the kernel (vfio_df_unbind_iommufd(), iommufd_fops_release()) the model does at the next look:
 * a context drops the devices of cdevs that are gone, and files that nobody holds are removed
 * when a node is opened. Everything here runs under the model lock. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iommufd-uapi.h"
#include "macro.h"
#include "mock.h"
#include "util.h"

#define CTX_DIR MOCK_STATE_DIR "/iommufd"
#define CDEV_DIR MOCK_STATE_DIR "/cdev"
#define CTX_MAGIC 0x76614354u  /* "vaCT" */
#define CDEV_MAGIC 0x76614344u /* "vaCD" */
#define CTX_OBJ_MAX 64
#define CTX_AREA_MAX 256
#define IOVA_PAGE 4096u
#define FILE_NAME_MAX 32
#define ARGSZ_END(type, member) (offsetof(type, member) + sizeof(((type *) NULL)->member))

typedef enum ObjType {
        OBJ_NONE,
        OBJ_IOAS,
        OBJ_DEVICE,
        OBJ_HWPT, /* an automatic domain (iommufd_device_auto_get_domain()) */
} ObjType;

/* One entry of the context's object table (ictx->objects: one id space for every type). */
typedef struct CtxObj {
        uint32_t type;
        uint32_t id;
        uint32_t ioas;  /* hwpt: the IOAS it maps */
        uint32_t hwpt;  /* device: the page table it is attached to, 0: none */
        uint32_t group; /* device: its IOMMU group */
        char bdf[FILE_NAME_MAX];
        char cdev[FILE_NAME_MAX]; /* device: the cdev file that bound it */
} CtxObj;

typedef struct CtxArea {
        uint32_t ioas; /* 0: a free slot */
        uint32_t pad;
        uint64_t iova, length, user_va;
} CtxArea;

typedef struct CtxState {
        uint32_t magic;
        uint32_t account_mm; /* IOMMU_OPTION_RLIMIT_MODE */
        CtxObj objs[CTX_OBJ_MAX];
        CtxArea areas[CTX_AREA_MAX];
} CtxState;

typedef struct CdevState {
        uint32_t magic;
        uint32_t bound; /* df->access_granted */
        uint32_t devid;
        uint32_t group;
        char bdf[FILE_NAME_MAX];
        char self[FILE_NAME_MAX]; /* this file's name below cdev/BDF/ */
        char ctx[FILE_NAME_MAX];  /* bound: the context's file name */
} CdevState;

/* ---- files and their locks ---- */

static int open_root(const MockRoots *roots) {
        int fd = open(roots->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

/* Directories everyone may create files in: unprivileged VMMs open cdevs too. */
static int mkdir_shared(int root_fd, const char *rel) {
        if (mkdirat(root_fd, rel, 0755) >= 0)
                return fchmodat(root_fd, rel, 01777, 0) < 0 ? -errno : 0;
        return errno == EEXIST ? 0 : -errno;
}

static int lock_byte0(int fd) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

        return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Whether some open file description holds rel's lock. A read-only look: a watch for
 * IN_CLOSE_WRITE does not see it. */
static bool file_held(int root_fd, const char *rel) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
        _cleanup_close_ int fd = -1;

        fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        return fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) >= 0 && fl.l_type != F_UNLCK;
}

static int read_at(int fd, void *buf, size_t n) {
        ssize_t k = pread(fd, buf, n, 0);

        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

static int write_at(int fd, const void *buf, size_t n) {
        ssize_t k = pwrite(fd, buf, n, 0);

        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

/* A new state file from template (relative to the root), locked, holding n bytes of data. */
static int state_file_new(const MockRoots *roots, const char *rel_template, int flags,
                          const void *data, size_t n, char ret_name[static FILE_NAME_MAX]) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        const char *base;
        int r;

        if (asprintf(&path, "%s/%s", roots->root, rel_template) < 0)
                return -ENOMEM;
        fd = mkostemp(path, flags & O_CLOEXEC);
        if (fd < 0)
                return -errno;
        base = strrchr(path, '/') + 1;
        r = strlen(base) < FILE_NAME_MAX ? 0 : -ENAMETOOLONG;
        if (r >= 0 && fchmod(fd, 0666) < 0)
                r = -errno;
        if (r >= 0)
                r = lock_byte0(fd);
        if (r >= 0) {
                strcpy(ret_name, base);
                r = write_at(fd, data, n);
        }
        if (r < 0) {
                (void) unlink(path);
                return r;
        }
        return TAKE_FD(fd);
}

/* ---- cdev files ---- */

static void cdev_rel(char ret[static PATH_MAX], const char *bdf, const char *name) {
        snprintf(ret, PATH_MAX, CDEV_DIR "/%s/%s", bdf, name);
}

/* The state of a cdev file that is still open somewhere; -ENOENT when nobody holds it. */
static int cdev_peek(int root_fd, const char *bdf, const char *name, CdevState *ret) {
        _cleanup_close_ int fd = -1;
        char rel[PATH_MAX];

        cdev_rel(rel, bdf, name);
        if (!file_held(root_fd, rel))
                return -ENOENT;
        fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return read_at(fd, ret, sizeof(*ret));
}

typedef int (*cdev_visit_fn)(int root_fd, const CdevState *st, void *userdata);

/* Calls fn for every live cdev of bdf (NULL: of every device) until it returns non-zero. */
static int cdev_foreach(int root_fd, const char *bdf, cdev_visit_fn fn, void *userdata) {
        _cleanup_strv_free_ char **devs = NULL;
        int r;

        if (bdf) {
                r = strv_extend(&devs, bdf);
                if (r < 0)
                        return r;
        } else if (mock_list_names(root_fd, CDEV_DIR, &devs) < 0)
                return 0;
        for (char **d = devs; d && *d; d++) {
                _cleanup_strv_free_ char **names = NULL;
                char rel[PATH_MAX];

                snprintf(rel, sizeof(rel), CDEV_DIR "/%s", *d);
                if (mock_list_names(root_fd, rel, &names) < 0)
                        continue;
                for (char **n = names; n && *n; n++) {
                        CdevState st;

                        if (cdev_peek(root_fd, *d, *n, &st) < 0 || st.magic != CDEV_MAGIC)
                                continue;
                        r = fn(root_fd, &st, userdata);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}

static int visit_any(int root_fd, const CdevState *st, void *userdata) {
        return 1;
}

static int visit_bound_in_group(int root_fd, const CdevState *st, void *userdata) {
        return st->bound && st->group == *(const unsigned *) userdata;
}

bool mock_cdev_device_open(const char *root, const char *bdf) {
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return root_fd >= 0 && cdev_foreach(root_fd, bdf, visit_any, NULL) > 0;
}

bool mock_cdev_group_bound(const char *root, unsigned group) {
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return root_fd >= 0 && cdev_foreach(root_fd, NULL, visit_bound_in_group, &group) > 0;
}

static bool cdev_alive(int root_fd, const char *bdf, const char *name) {
        char rel[PATH_MAX];

        cdev_rel(rel, bdf, name);
        return file_held(root_fd, rel);
}

static int visit_names_ctx(int root_fd, const CdevState *st, void *userdata) {
        return st->bound && streq(st->ctx, (const char *) userdata);
}

/* Removes the files nobody holds: cdevs that were closed, and contexts that neither an iommufd
 * fd nor a bound cdev holds (iommufd_fops_release() frees the context once the last reference,
 * the fd's or a bound device's, is gone). Model lock held. */
static void collect_garbage(int root_fd) {
        _cleanup_strv_free_ char **devs = NULL, **ctxs = NULL;
        char rel[PATH_MAX];

        (void) mock_list_names(root_fd, CDEV_DIR, &devs);
        for (char **d = devs; d && *d; d++) {
                _cleanup_strv_free_ char **names = NULL;

                snprintf(rel, sizeof(rel), CDEV_DIR "/%s", *d);
                (void) mock_list_names(root_fd, rel, &names);
                for (char **n = names; n && *n; n++)
                        if (!cdev_alive(root_fd, *d, *n)) {
                                cdev_rel(rel, *d, *n);
                                (void) unlinkat(root_fd, rel, 0);
                        }
        }
        (void) mock_list_names(root_fd, CTX_DIR, &ctxs);
        for (char **c = ctxs; c && *c; c++) {
                snprintf(rel, sizeof(rel), CTX_DIR "/%s", *c);
                if (!file_held(root_fd, rel) &&
                    cdev_foreach(root_fd, NULL, visit_names_ctx, *c) == 0)
                        (void) unlinkat(root_fd, rel, 0);
        }
}

/* ---- the context ---- */

typedef struct Ctx {
        int fd; /* an open of the context file, by name */
        CtxState st;
} Ctx;

static CtxObj *ctx_find(Ctx *c, uint32_t id, ObjType type) {
        for (size_t i = 0; id > 0 && i < CTX_OBJ_MAX; i++)
                if (c->st.objs[i].type != OBJ_NONE && c->st.objs[i].id == id &&
                    (type == OBJ_NONE || c->st.objs[i].type == type))
                        return &c->st.objs[i];
        return NULL;
}

/* The lowest free id from 1 (xa_alloc() on an XA_FLAGS_ALLOC1 array). */
static CtxObj *ctx_alloc(Ctx *c, ObjType type) {
        CtxObj *slot = NULL;
        uint32_t id = 1;

        for (size_t i = 0; i < CTX_OBJ_MAX; i++)
                if (!slot && c->st.objs[i].type == OBJ_NONE)
                        slot = &c->st.objs[i];
        if (!slot)
                return NULL;
        while (ctx_find(c, id, OBJ_NONE))
                id++;
        *slot = (CtxObj) { .type = type, .id = id };
        return slot;
}

static bool ctx_empty(const Ctx *c) {
        for (size_t i = 0; i < CTX_OBJ_MAX; i++)
                if (c->st.objs[i].type != OBJ_NONE)
                        return false;
        return true;
}

/* An automatic domain goes away with its last device (iommufd_hw_pagetable_put()). */
static void ctx_drop_unused_hwpts(Ctx *c) {
        for (size_t i = 0; i < CTX_OBJ_MAX; i++) {
                bool used = false;

                if (c->st.objs[i].type != OBJ_HWPT)
                        continue;
                for (size_t k = 0; k < CTX_OBJ_MAX; k++)
                        used = used || (c->st.objs[k].type == OBJ_DEVICE &&
                                        c->st.objs[k].hwpt == c->st.objs[i].id);
                if (!used)
                        c->st.objs[i].type = OBJ_NONE;
        }
}

/* Devices whose cdev was closed are unbound (vfio_df_unbind_iommufd() at the last fput). */
static void ctx_reap(Ctx *c, int root_fd) {
        for (size_t i = 0; i < CTX_OBJ_MAX; i++)
                if (c->st.objs[i].type == OBJ_DEVICE &&
                    !cdev_alive(root_fd, c->st.objs[i].bdf, c->st.objs[i].cdev))
                        c->st.objs[i].type = OBJ_NONE;
        ctx_drop_unused_hwpts(c);
}

static int ctx_load(int root_fd, const char *name, Ctx *ret) {
        char rel[PATH_MAX];
        int r;

        snprintf(rel, sizeof(rel), CTX_DIR "/%s", name);
        ret->fd = openat(root_fd, rel, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (ret->fd < 0)
                return -errno;
        r = read_at(ret->fd, &ret->st, sizeof(ret->st));
        if (r >= 0 && ret->st.magic != CTX_MAGIC)
                r = -EIO;
        if (r < 0) {
                ret->fd = safe_close(ret->fd);
                return r;
        }
        ctx_reap(ret, root_fd);
        return 0;
}

static int ctx_save_close(Ctx *c, int r) {
        int w = write_at(c->fd, &c->st, sizeof(c->st));

        c->fd = safe_close(c->fd);
        return r < 0 ? r : w < 0 ? w : r;
}

/* ---- opens ---- */

static bool all_digits(const char *s) {
        if (!*s || strlen(s) > 10)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

bool mock_iommufd_path_is_node(const char *rel) {
        return streq(rel, "dev/iommu") ||
               (strneq(rel, "dev/vfio/devices/vfio", 21) && all_digits(rel + 21));
}

/* The device behind cdev number n: the one with vfio-dev/vfioN (device_cdev.c names the cdev
 * after the vfio device's index). */
static int cdev_device(int root_fd, const char *rel, char ret[static MOCK_NAME_MAX]) {
        _cleanup_strv_free_ char **devs = NULL;
        const char *n = rel + strlen("dev/vfio/devices/vfio");

        if (mock_list_names(root_fd, "sys/bus/pci/devices", &devs) < 0)
                return -ENOENT;
        for (char **d = devs; d && *d; d++) {
                char p[PATH_MAX];

                snprintf(p, sizeof(p), "sys/bus/pci/devices/%s/vfio-dev/vfio%s", *d, n);
                if (strlen(*d) < MOCK_NAME_MAX && faccessat(root_fd, p, F_OK, 0) >= 0) {
                        strcpy(ret, *d);
                        return 0;
                }
        }
        return -ENOENT;
}

/* The node's permissions decide who may open it, as the kernel's path walk would. */
static int node_check(const MockRoots *roots, const char *rel) {
        _cleanup_free_ char *node = NULL;

        if (asprintf(&node, "%s/%s", roots->dev_root, rel) < 0)
                return -ENOMEM;
        if (access(node, F_OK) < 0)
                return -ENOENT;
        if (faccessat(AT_FDCWD, node, R_OK | W_OK, AT_EACCESS) < 0 && errno == EACCES)
                return -EACCES;
        return 0;
}

static int open_iommufd(const MockRoots *roots, int flags) {
        _cleanup_close_ int root_fd = -1;
        CtxState st = { .magic = CTX_MAGIC };
        char name[FILE_NAME_MAX];
        MockFaults f;
        int lock, fd;

        /* /dev/iommu exists when the kernel has iommufd (CONFIG_IOMMUFD, module loaded). */
        fd = node_check(roots, "dev/iommu");
        if (fd < 0)
                return fd;
        if (mock_config_load(NULL, &f) >= 0 && f.no_iommufd)
                return -ENOENT;
        root_fd = open_root(roots);
        if (root_fd < 0)
                return root_fd;
        lock = mock_lock_model(roots->root);
        if (lock < 0)
                return lock;
        collect_garbage(root_fd);
        fd = mkdir_shared(root_fd, CTX_DIR);
        if (fd >= 0)
                fd = state_file_new(roots, CTX_DIR "/ctx-XXXXXX", flags, &st, sizeof(st), name);
        mock_unlock_model(lock);
        if (fd < 0)
                return fd;
        /* iommufd_fops_open(): every open is a new context. */
        return mock_obj_install(fd, MOCK_KIND_IOMMUFD, roots, name, 0, false);
}

static int open_cdev(const MockRoots *roots, const char *rel, int flags) {
        _cleanup_close_ int root_fd = -1;
        CdevState st = { .magic = CDEV_MAGIC };
        char bdf[MOCK_NAME_MAX], drv[MOCK_NAME_MAX], dir[PATH_MAX], tmpl[PATH_MAX + 8];
        MockFaults f;
        unsigned group;
        int lock, fd, r;

        r = node_check(roots, rel);
        if (r < 0)
                return r;
        root_fd = open_root(roots);
        if (root_fd < 0)
                return root_fd;
        /* The cdev is there while vfio-pci has the device registered. */
        if (cdev_device(root_fd, rel, bdf) < 0 || mock_device_driver(root_fd, bdf, drv) < 0 ||
            !mock_driver_is_vfio(drv) || strlen(bdf) >= FILE_NAME_MAX ||
            mock_device_group(root_fd, bdf, &group) < 0)
                return -ENOENT;
        r = mock_config_load(bdf, &f);
        if (r < 0)
                return r;
        if (f.cdev_open_hang_sec > 0) {
                /* Nothing in the kernel blocks here: this holds a process between the steps of an
                 * iommufd claim, for a test to kill it there. The open completes afterwards. */
                mock_hang(roots->root, bdf, f.cdev_open_hang_sec);
                r = mock_config_load(bdf, &f);
                if (r < 0)
                        return r;
        }
        if (f.cdev_open_fails)
                return -EIO;
        /* vfio_device_fops_cdev_open() checks nothing else: the group's users and the DMA
         * ownership are the bind's business. */
        st.group = group;
        strcpy(st.bdf, bdf);
        snprintf(dir, sizeof(dir), CDEV_DIR "/%s", bdf);
        snprintf(tmpl, sizeof(tmpl), "%s/XXXXXX", dir);
        lock = mock_lock_model(roots->root);
        if (lock < 0)
                return lock;
        collect_garbage(root_fd);
        fd = mkdir_shared(root_fd, CDEV_DIR);
        if (fd >= 0)
                fd = mkdir_shared(root_fd, dir);
        if (fd >= 0)
                fd = state_file_new(roots, tmpl, flags, &st, sizeof(st), st.self);
        /* The file records its own name for the context that binds it. */
        if (fd >= 0 && (r = write_at(fd, &st, sizeof(st))) < 0) {
                close(fd);
                fd = r;
        }
        mock_unlock_model(lock);
        if (fd < 0)
                return fd;
        return mock_obj_install(fd, MOCK_KIND_CDEV, roots, bdf, group, false);
}

int mock_iommufd_open(const MockRoots *roots, const char *rel, int flags) {
        if (streq(rel, "dev/iommu"))
                return open_iommufd(roots, flags);
        return open_cdev(roots, rel, flags);
}

int mock_cdev_watch_dir(const MockRoots *roots, const char *rel, char ret[static PATH_MAX]) {
        _cleanup_close_ int root_fd = -1;
        char bdf[MOCK_NAME_MAX], dir[PATH_MAX];
        int lock, r;

        root_fd = open_root(roots);
        if (root_fd < 0)
                return root_fd;
        if (strneq(rel, "dev/iommu", 9) || cdev_device(root_fd, rel, bdf) < 0 ||
            strlen(bdf) >= FILE_NAME_MAX)
                return -ENOENT;
        lock = mock_lock_model(roots->root); /* makes .vfio-mock */
        if (lock < 0)
                return lock;
        snprintf(dir, sizeof(dir), CDEV_DIR "/%s", bdf);
        r = mkdir_shared(root_fd, CDEV_DIR);
        if (r >= 0)
                r = mkdir_shared(root_fd, dir);
        mock_unlock_model(lock);
        if (r < 0)
                return r;
        return snprintf(ret, PATH_MAX, "%s/%s", roots->root, dir) < PATH_MAX ? 0 : -ENAMETOOLONG;
}

/* ---- fds that arrived without an open ---- */

MockObj *mock_iommufd_adopt_locked(int fd) {
        char link[64], target[PATH_MAX], prefix[PATH_MAX + 32];
        const char *rest;
        MockKind kind;
        MockRoots roots;
        CdevState st = {};
        struct stat sb;
        MockObj *o;
        ssize_t k;
        size_t len;
        int saved = errno;

        if (mock_roots_get(&roots) < 0)
                return NULL;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        k = readlink(link, target, sizeof(target) - 1);
        if (k < 0 || fstat(fd, &sb) < 0) {
                errno = saved;
                return NULL;
        }
        target[k] = 0;
        len = (size_t) snprintf(prefix, sizeof(prefix), "%s/" MOCK_STATE_DIR "/", roots.root);
        if (!strneq(target, prefix, len)) {
                errno = saved;
                return NULL;
        }
        rest = target + len;
        if (strneq(rest, "iommufd/", 8) && strlen(rest + 8) < FILE_NAME_MAX &&
            !strchr(rest + 8, '/'))
                kind = MOCK_KIND_IOMMUFD;
        else if (strneq(rest, "cdev/", 5) && read_at(fd, &st, sizeof(st)) >= 0 &&
                 st.magic == CDEV_MAGIC && memchr(st.bdf, 0, sizeof(st.bdf)))
                kind = MOCK_KIND_CDEV;
        else {
                errno = saved;
                return NULL;
        }
        errno = saved;
        o = mock_obj_new(kind, &roots);
        if (!o)
                return NULL;
        o->st_dev = sb.st_dev;
        o->st_ino = sb.st_ino;
        o->group = st.group;
        strcpy(o->name, kind == MOCK_KIND_IOMMUFD ? rest + 8 : st.bdf);
        if (mock_table_install_locked(fd, o) < 0) {
                free(o);
                return NULL;
        }
        return o;
}

/* ---- iommufd ioctls (iommufd_fops_ioctl()) ---- */

/* The kernel's table check: the size word first, at least the first version of the structure,
 * and bytes it does not know must be zero (copy_struct_from_user(): E2BIG). Copies what it
 * knows into cmd. */
static int ucmd_get(const void *arg, void *cmd, size_t min, size_t size, uint32_t *ret_size) {
        const uint8_t *u = arg;
        uint32_t user_size;

        if (!u)
                return -EFAULT;
        memcpy(&user_size, u, sizeof(user_size));
        if (user_size < min)
                return -EINVAL;
        for (size_t i = size; i < user_size; i++)
                if (u[i])
                        return -E2BIG;
        memset(cmd, 0, size);
        memcpy(cmd, u, MIN((size_t) user_size, size));
        *ret_size = user_size;
        return 0;
}

static void ucmd_respond(void *arg, const void *cmd, size_t size, uint32_t user_size) {
        memcpy(arg, cmd, MIN((size_t) user_size, size));
}

static int ioas_destroy(Ctx *c, uint32_t id) {
        CtxObj *o = ctx_find(c, id, OBJ_NONE);

        /* iommufd_object_remove(): unknown id ENOENT, an object with users EBUSY. A device is
         * its driver's until iommufd_device_unbind(); an IOAS is used by its page tables. */
        if (!o)
                return -ENOENT;
        if (o->type == OBJ_DEVICE)
                return -EBUSY;
        for (size_t i = 0; i < CTX_OBJ_MAX; i++) {
                const CtxObj *u = &c->st.objs[i];

                if ((o->type == OBJ_IOAS && u->type == OBJ_HWPT && u->ioas == id) ||
                    (o->type == OBJ_HWPT && u->type == OBJ_DEVICE && u->hwpt == id))
                        return -EBUSY;
        }
        if (o->type == OBJ_IOAS)
                for (size_t i = 0; i < CTX_AREA_MAX; i++)
                        if (c->st.areas[i].ioas == id)
                                c->st.areas[i].ioas = 0;
        o->type = OBJ_NONE;
        return 0;
}

static bool area_overlaps(const CtxArea *a, uint64_t first, uint64_t last) {
        return a->ioas && a->iova <= last && first <= a->iova + a->length - 1;
}

static bool range_free(const Ctx *c, uint32_t ioas, uint64_t first, uint64_t last) {
        for (size_t i = 0; i < CTX_AREA_MAX; i++)
                if (c->st.areas[i].ioas == ioas && area_overlaps(&c->st.areas[i], first, last))
                        return false;
        return true;
}

/* iommufd_ioas_map() and iopt_map_user_pages(): bookkeeping only, nothing is pinned. */
static int ioas_map(Ctx *c, struct va_iommu_ioas_map *m) {
        CtxArea *slot = NULL;
        uint64_t last;

        if ((m->flags & ~(VA_IOMMU_IOAS_MAP_FIXED_IOVA | VA_IOMMU_IOAS_MAP_WRITEABLE |
                          VA_IOMMU_IOAS_MAP_READABLE)) ||
            m->reserved)
                return -EOPNOTSUPP;
        if (m->iova == UINT64_MAX || m->length == UINT64_MAX)
                return -EOVERFLOW;
        if (!(m->flags & (VA_IOMMU_IOAS_MAP_WRITEABLE | VA_IOMMU_IOAS_MAP_READABLE)))
                return -EINVAL;
        if (!ctx_find(c, m->ioas_id, OBJ_IOAS))
                return -ENOENT;
        if (m->length == 0)
                return -EINVAL;
        if (m->flags & VA_IOMMU_IOAS_MAP_FIXED_IOVA) {
                /* iopt_check_iova(): no wrap, and nothing mapped in the range yet. */
                if (__builtin_add_overflow(m->iova, m->length - 1, &last))
                        return -EOVERFLOW;
                if (!range_free(c, m->ioas_id, m->iova, last))
                        return -EEXIST;
        } else {
                /* iopt_alloc_iova(): the model takes the lowest free page-aligned hole. */
                uint64_t at = 0;
                bool moved = true;

                while (moved) {
                        moved = false;
                        if (__builtin_add_overflow(at, m->length - 1, &last))
                                return -ENOSPC;
                        for (size_t i = 0; i < CTX_AREA_MAX; i++) {
                                const CtxArea *a = &c->st.areas[i];

                                if (a->ioas == m->ioas_id && area_overlaps(a, at, last)) {
                                        at = (a->iova + a->length + IOVA_PAGE - 1) &
                                             ~(uint64_t) (IOVA_PAGE - 1);
                                        moved = true;
                                        if (at == 0)
                                                return -ENOSPC;
                                }
                        }
                }
                m->iova = at;
        }
        for (size_t i = 0; !slot && i < CTX_AREA_MAX; i++)
                if (!c->st.areas[i].ioas)
                        slot = &c->st.areas[i];
        if (!slot)
                return -ENOMEM;
        *slot = (CtxArea) {
                .ioas = m->ioas_id, .iova = m->iova, .length = m->length, .user_va = m->user_va
        };
        return 0;
}

/* iommufd_ioas_unmap() and iopt_unmap_iova_range(): whole areas only. */
static int ioas_unmap(Ctx *c, struct va_iommu_ioas_unmap *u) {
        bool all = u->iova == 0 && u->length == UINT64_MAX;
        uint64_t last, unmapped = 0;

        if (!ctx_find(c, u->ioas_id, OBJ_IOAS))
                return -ENOENT;
        if (all)
                last = UINT64_MAX;
        else {
                if (u->iova == UINT64_MAX || u->length == UINT64_MAX)
                        return -EOVERFLOW;
                if (u->length == 0)
                        return -EINVAL;
                if (__builtin_add_overflow(u->iova, u->length - 1, &last))
                        return -EOVERFLOW;
        }
        /* An area only partly inside the range cannot be split: ENOENT, nothing unmapped. */
        for (size_t i = 0; i < CTX_AREA_MAX; i++) {
                const CtxArea *a = &c->st.areas[i];

                if (a->ioas == u->ioas_id && area_overlaps(a, u->iova, last) &&
                    (a->iova < u->iova || a->iova + a->length - 1 > last))
                        return -ENOENT;
        }
        for (size_t i = 0; i < CTX_AREA_MAX; i++) {
                CtxArea *a = &c->st.areas[i];

                if (a->ioas == u->ioas_id && area_overlaps(a, u->iova, last)) {
                        unmapped += a->length;
                        a->ioas = 0;
                }
        }
        /* Nothing there is ENOENT, except for "unmap all" (iopt_unmap_all()). */
        if (unmapped == 0 && !all)
                return -ENOENT;
        u->length = unmapped;
        return 0;
}

/* iommufd_option(): only IOMMU_OPTION_RLIMIT_MODE, global (object_id 0). The model does not
 * ask for CAP_SYS_RESOURCE. */
static int ctx_option(Ctx *c, struct va_iommu_option *o) {
        if (o->reserved || o->option_id != VA_IOMMU_OPTION_RLIMIT_MODE || o->object_id)
                return -EOPNOTSUPP;
        if (o->op == VA_IOMMU_OPTION_OP_GET) {
                o->val64 = c->st.account_mm;
                return 0;
        }
        if (o->op != VA_IOMMU_OPTION_OP_SET)
                return -EOPNOTSUPP;
        /* iommufd_option_rlimit_mode(): only while the context has no objects. */
        if (!ctx_empty(c))
                return -EBUSY;
        if (o->val64 > 1)
                return -EINVAL;
        c->st.account_mm = (uint32_t) o->val64;
        return 0;
}

#define UCMD(type, first_member, body)                                                     \
        ({                                                                                 \
                type _cmd;                                                                 \
                uint32_t _size;                                                            \
                int _r = ucmd_get(arg, &_cmd, ARGSZ_END(type, first_member), sizeof(_cmd), \
                                  &_size);                                                 \
                if (_r >= 0)                                                               \
                        _r = body(&c, &_cmd);                                              \
                if (_r >= 0)                                                               \
                        ucmd_respond(arg, &_cmd, sizeof(_cmd), _size);                     \
                _r;                                                                        \
        })

static int do_destroy(Ctx *c, struct va_iommu_destroy *d) {
        return ioas_destroy(c, d->id);
}

static int do_ioas_alloc(Ctx *c, struct va_iommu_ioas_alloc *a) {
        CtxObj *o;

        if (a->flags)
                return -EOPNOTSUPP;
        o = ctx_alloc(c, OBJ_IOAS);
        if (!o)
                return -ENOMEM;
        a->out_ioas_id = o->id;
        return 0;
}

static int iommufd_ioctl(int root_fd, MockObj *o, unsigned long request, void *arg) {
        Ctx c;
        int r;

        switch (request) {
        case VA_IOMMU_DESTROY:
        case VA_IOMMU_IOAS_ALLOC:
        case VA_IOMMU_IOAS_MAP:
        case VA_IOMMU_IOAS_UNMAP:
        case VA_IOMMU_OPTION:
                break;
        default:
                /* Everything else (IOAS_ALLOW_IOVAS, IOAS_COPY, HWPT_ALLOC, the VFIO compat
                 * container, ...) is not modelled; an unknown number is ENOTTY. */
                return -ENOTTY;
        }
        r = ctx_load(root_fd, o->name, &c);
        if (r < 0)
                return r;
        switch (request) {
        case VA_IOMMU_DESTROY:
                r = UCMD(struct va_iommu_destroy, id, do_destroy);
                break;
        case VA_IOMMU_IOAS_ALLOC:
                r = UCMD(struct va_iommu_ioas_alloc, out_ioas_id, do_ioas_alloc);
                break;
        case VA_IOMMU_IOAS_MAP:
                r = UCMD(struct va_iommu_ioas_map, iova, ioas_map);
                break;
        case VA_IOMMU_IOAS_UNMAP:
                r = UCMD(struct va_iommu_ioas_unmap, length, ioas_unmap);
                break;
        default:
                r = UCMD(struct va_iommu_option, val64, ctx_option);
                break;
        }
        return ctx_save_close(&c, r);
}

/* ---- cdev ioctls (vfio_device_fops_unl_ioctl()) ---- */

static bool group_byte_held(const char *root, unsigned group, off_t byte) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
        _cleanup_close_ int fd = -1;
        char p[PATH_MAX + 32];

        snprintf(p, sizeof(p), "%s/" MOCK_STATE_DIR "/group-%u", root, group);
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        return fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) >= 0 && fl.l_type != F_UNLCK;
}

typedef struct OwnerCheck {
        unsigned group;
        const char *ctx;
} OwnerCheck;

static int visit_other_owner(int root_fd, const CdevState *st, void *userdata) {
        const OwnerCheck *oc = userdata;

        return st->bound && st->group == oc->group && !streq(st->ctx, oc->ctx);
}

static int visit_other_file_bound(int root_fd, const CdevState *st, void *userdata) {
        const CdevState *me = userdata;

        return st->bound && !streq(st->self, me->self);
}

/* iommu_device_claim_dma_owner(): the group may be owned by one iommufd context only, and not
 * while a member is on a driver that uses the DMA API or the group is in a type1 container. */
static bool dma_owner_ok(int root_fd, const MockRoots *roots, unsigned group, const char *ctx) {
        OwnerCheck oc = { group, ctx };

        if (!mock_group_viable(root_fd, group))
                return false;
        /* Device fds of the group (byte 1 of its lock file) mean a container owns it. */
        if (group_byte_held(roots->root, group, 1))
                return false;
        return cdev_foreach(root_fd, NULL, visit_other_owner, &oc) == 0;
}

static int cdev_bind(int root_fd, int fd, MockObj *o, CdevState *st, void *arg) {
        struct va_vfio_device_bind_iommufd *b = arg;
        MockObj *ictx;
        MockFaults f;
        CtxObj *dev;
        Ctx c;
        int r;

        if (!b)
                return -EFAULT;
        if (b->argsz < ARGSZ_END(struct va_vfio_device_bind_iommufd, out_devid) || b->flags ||
            b->iommufd < 0)
                return -EINVAL;
        /* vfio_device_block_group(): not while the group is open the legacy way. */
        if (group_byte_held(o->roots.root, o->group, 0))
                return -EBUSY;
        /* "one device cannot be bound twice" (per file). */
        if (st->bound)
                return -EINVAL;
        /* iommufd_ctx_from_fd(): EBADF for no fd, EBADFD for a file that is not an iommufd. */
        ictx = mock_table_get_locked(b->iommufd);
        if (!ictx)
                ictx = mock_iommufd_adopt_locked(b->iommufd);
        if (!ictx)
                return fcntl(b->iommufd, F_GETFD) < 0 ? -EBADF : -EBADFD;
        if (ictx->kind != MOCK_KIND_IOMMUFD)
                return -EBADFD;
        /* vfio_df_open(): "the device cdev path doesn't have a secure way" to open a device
         * twice, so another bound file of the same device, whatever its context, is EINVAL. */
        if (cdev_foreach(root_fd, st->bdf, visit_other_file_bound, st) > 0)
                return -EINVAL;
        /* iommufd_device_bind(): MSI isolation first, then DMA ownership (both EPERM). */
        if (mock_interrupts_unsafe(&o->roots, "iommufd"))
                return -EPERM;
        if (!dma_owner_ok(root_fd, &o->roots, o->group, ictx->name))
                return -EPERM;
        r = mock_config_load(o->name, &f);
        if (r < 0)
                return r;
        /* The driver's open_device() failing (vfio_df_open()). */
        if (f.bind_iommufd_fails)
                return -ENODEV;
        r = ctx_load(root_fd, ictx->name, &c);
        if (r < 0)
                return r;
        dev = ctx_alloc(&c, OBJ_DEVICE);
        if (!dev)
                return ctx_save_close(&c, -ENOMEM);
        dev->group = o->group;
        strcpy(dev->bdf, st->bdf);
        strcpy(dev->cdev, st->self);
        st->bound = 1;
        st->devid = dev->id;
        strcpy(st->ctx, ictx->name);
        r = write_at(fd, st, sizeof(*st));
        r = ctx_save_close(&c, r);
        if (r < 0)
                return r;
        b->out_devid = st->devid;
        return 0;
}

/* vfio_iommufd_physical_attach_ioas(): attach, or replace when attached. pt_id is an IOAS (the
 * kernel finds or makes an automatic domain for it) or a page table. */
static int cdev_attach(int root_fd, const CdevState *st, void *arg) {
        struct va_vfio_device_attach_iommufd_pt *a = arg;
        CtxObj *dev, *pt, *hwpt = NULL;
        Ctx c;
        int r;

        if (!a)
                return -EFAULT;
        if (a->argsz < ARGSZ_END(struct va_vfio_device_attach_iommufd_pt, pt_id) || a->flags)
                return -EINVAL;
        r = ctx_load(root_fd, st->ctx, &c);
        if (r < 0)
                return r;
        dev = ctx_find(&c, st->devid, OBJ_DEVICE);
        pt = ctx_find(&c, a->pt_id, OBJ_NONE);
        if (!dev)
                return ctx_save_close(&c, -ENODEV);
        if (!pt)
                return ctx_save_close(&c, -ENOENT);
        if (pt->type == OBJ_HWPT)
                hwpt = pt;
        else if (pt->type == OBJ_IOAS) {
                for (size_t i = 0; !hwpt && i < CTX_OBJ_MAX; i++)
                        if (c.st.objs[i].type == OBJ_HWPT && c.st.objs[i].ioas == pt->id)
                                hwpt = &c.st.objs[i];
        } else
                return ctx_save_close(&c, -EINVAL);
        /* All devices of a group share one domain (iommufd_hw_pagetable_attach()). */
        for (size_t i = 0; i < CTX_OBJ_MAX; i++) {
                const CtxObj *other = &c.st.objs[i];

                if (other != dev && other->type == OBJ_DEVICE && other->group == dev->group &&
                    other->hwpt && (!hwpt || other->hwpt != hwpt->id))
                        return ctx_save_close(&c, -EINVAL);
        }
        if (!hwpt) {
                uint32_t ioas = pt->id;

                hwpt = ctx_alloc(&c, OBJ_HWPT);
                if (!hwpt)
                        return ctx_save_close(&c, -ENOMEM);
                hwpt->ioas = ioas;
        }
        dev->hwpt = hwpt->id;
        a->pt_id = hwpt->id;
        ctx_drop_unused_hwpts(&c);
        return ctx_save_close(&c, 0);
}

static int cdev_detach(int root_fd, const CdevState *st, void *arg) {
        struct va_vfio_device_detach_iommufd_pt *d = arg;
        CtxObj *dev;
        Ctx c;
        int r;

        if (!d)
                return -EFAULT;
        if (d->argsz < ARGSZ_END(struct va_vfio_device_detach_iommufd_pt, flags) || d->flags)
                return -EINVAL;
        r = ctx_load(root_fd, st->ctx, &c);
        if (r < 0)
                return r;
        /* vfio_iommufd_physical_detach_ioas(): nothing attached is not an error. */
        dev = ctx_find(&c, st->devid, OBJ_DEVICE);
        if (dev)
                dev->hwpt = 0;
        ctx_drop_unused_hwpts(&c);
        return ctx_save_close(&c, 0);
}

static int cdev_ioctl(int root_fd, int fd, MockObj *o, unsigned long request, void *arg) {
        CdevState st;
        int r;

        r = read_at(fd, &st, sizeof(st));
        if (r < 0)
                return r;
        if (st.magic != CDEV_MAGIC)
                return -EIO;
        if (request == VA_VFIO_DEVICE_BIND_IOMMUFD)
                return cdev_bind(root_fd, fd, o, &st, arg);
        /* Before the bind the file grants no access (df->access_granted). */
        if (!st.bound)
                return -EINVAL;
        switch (request) {
        case VA_VFIO_DEVICE_ATTACH_IOMMUFD_PT:
                return cdev_attach(root_fd, &st, arg);
        case VA_VFIO_DEVICE_DETACH_IOMMUFD_PT:
                return cdev_detach(root_fd, &st, arg);
        default:
                return mock_vfio_device_ioctl(&o->roots, o->name, request, arg);
        }
}

int mock_iommufd_ioctl_locked(int fd, MockObj *o, unsigned long request, void *arg) {
        _cleanup_close_ int root_fd = -1;
        int lock, r;

        root_fd = open_root(&o->roots);
        if (root_fd < 0)
                return root_fd;
        lock = mock_lock_model(o->roots.root);
        if (lock < 0)
                return lock;
        r = o->kind == MOCK_KIND_IOMMUFD ? iommufd_ioctl(root_fd, o, request, arg)
                                         : cdev_ioctl(root_fd, fd, o, request, arg);
        mock_unlock_model(lock);
        return r;
}
