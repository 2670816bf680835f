/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest-RAM memfds under the model: a test machine has no huge pages reserved, so a hugetlb memfd
 * (memfd_create(2) with MFD_HUGETLB) is made as a plain shmem one, which fallocate fills the same
 * way; the pool's size is what the fake tree's hugepages files say (the daemon asks them, the
 * model does not keep them). The global directive "fill-hang-after N" lets the first N fill steps
 * of the process (fallocate of a memfd, MADV_POPULATE_WRITE) run and holds every later one until
 * the directive is gone from the config, so that a test can act on a region half filled. Outside
 * the model (no $VFIO_MOCK_ROOT) everything goes to libc untouched. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "mock.h"
#include "util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* The page size bits of MFD_HUGETLB (include/uapi/linux/memfd.h: MFD_HUGE_SHIFT, 6 bits). */
#define HUGE_SIZE_BITS (0x3fU << MFD_HUGE_SHIFT)

#define EXPORT __attribute__((visibility("default")))

EXPORT int memfd_create(const char *name, unsigned flags);
EXPORT int fallocate(int fd, int mode, off_t offset, off_t len);
EXPORT int fallocate64(int fd, int mode, off_t offset, off_t len);
EXPORT int madvise(void *addr, size_t len, int advice);

static bool model_on(void) {
        MockRoots roots;

        return mock_roots_get(&roots) >= 0;
}

static bool is_memfd(int fd) {
        char link[64], target[PATH_MAX];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
                return false;
        target[n] = 0;
        return strneq(target, "/memfd:", 7);
}

static void fill_step(void) {
        static atomic_uint steps;
        unsigned i = atomic_fetch_add(&steps, 1);
        struct timespec t = { .tv_nsec = 10 * 1000000L };
        int saved = errno;

        /* Bounded like the other hangs: a test that forgets the line gets its answer late. */
        for (unsigned n = 0; n < MOCK_HANG_MAX_SEC * 100u && mock_fill_hang_after() <= i; n++)
                nanosleep(&t, NULL);
        errno = saved;
}

int memfd_create(const char *name, unsigned flags) {
        static int (*real)(const char *, unsigned);

        if (!real)
                real = (int (*)(const char *, unsigned)) dlsym(RTLD_NEXT, "memfd_create");
        if (!real) {
                errno = ENOSYS;
                return -1;
        }
        if ((flags & MFD_HUGETLB) && model_on())
                flags &= ~(MFD_HUGETLB | HUGE_SIZE_BITS);
        return real(name, flags);
}

static int fallocate_common(const char *symbol, int fd, int mode, off_t offset, off_t len) {
        int (*real)(int, int, off_t, off_t) = (int (*)(int, int, off_t, off_t)) dlsym(RTLD_NEXT,
                                                                                      symbol);

        if (!real) {
                errno = ENOSYS;
                return -1;
        }
        if (mode == 0 && model_on() && is_memfd(fd))
                fill_step();
        return real(fd, mode, offset, len);
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
        return fallocate_common("fallocate", fd, mode, offset, len);
}

int fallocate64(int fd, int mode, off_t offset, off_t len) {
        return fallocate_common("fallocate64", fd, mode, offset, len);
}

int madvise(void *addr, size_t len, int advice) {
        static int (*real)(void *, size_t, int);

        if (!real)
                real = (int (*)(void *, size_t, int)) dlsym(RTLD_NEXT, "madvise");
        if (!real) {
                errno = ENOSYS;
                return -1;
        }
        if (advice == MADV_POPULATE_WRITE && model_on())
                fill_step();
        return real(addr, len, advice);
}
