/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel model's test harness (see test-mock-lib.h). */
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
#include <time.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-mock-lib.h"

#define TMPDIR_TEMPLATE "/tmp/test-mock.XXXXXX"
char tmpdir[] = TMPDIR_TEMPLATE;
char *root, *config_path, *fifo_path;
FakeSys *fs;
int root_fd = -1, fifo_fd = -1;

void mock_on(void) {
        ck_assert_int_eq(setenv("VFIO_MOCK_ROOT", root, 1), 0);
}

void mock_off(void) {
        ck_assert_int_eq(unsetenv("VFIO_MOCK_ROOT"), 0);
}

void add(const char *bdf, const char *parent, uint32_t cls, const char *driver, int group,
         const char *reset) {
        FakeDevice d;

        fake_device_init(&d, bdf);
        d.parent = parent;
        d.vendor = 0x8086;
        d.device = 0x1234;
        d.class_code = cls;
        d.driver = driver;
        d.iommu_group = group;
        d.reset_method = reset;
        if (streq(bdf, PF)) {
                d.sriov_totalvfs = 4;
                d.sriov_offset = 0x80;
                d.sriov_stride = 2;
                d.sriov_vf_device = 0x1520;
        }
        ck_assert_int_eq(fakesys_add_device(fs, &d), 0);
}

void setup(void) {
        /* mkdtemp() fills in the template: a new one for each test (CK_FORK=no runs them all in
         * one process). */
        strcpy(tmpdir, TMPDIR_TEMPLATE);
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        ck_assert_int_ge(asprintf(&root, "%s/root", tmpdir), 0);
        ck_assert_int_ge(asprintf(&config_path, "%s/config", tmpdir), 0);
        ck_assert_int_ge(asprintf(&fifo_path, "%s/uevents", tmpdir), 0);
        mock_off();
        ck_assert_int_eq(fakesys_new(root, 0, &fs), 0);
        root_fd = fakesys_root_fd(fs);
        add("0000:00:01.0", NULL, 0x060400, "pcieport", 1, NULL);
        add(NIC0, "0000:00:01.0", 0x020000, "e1000e", 2, "flr");
        add(NIC1, "0000:00:01.0", 0x020000, "e1000e", 2, "flr");
        add("0000:00:02.0", NULL, 0x060400, "pcieport", 3, NULL);
        add(NVME, "0000:00:02.0", 0x010802, "nvme", 4, "flr bus");
        add("0000:00:03.0", NULL, 0x060400, "pcieport", 5, NULL);
        add(PF, "0000:00:03.0", 0x020000, "igb", 6, "flr");
        add(AUDIO, NULL, 0x040300, "snd_hda_intel", 7, NULL);
        add(SPARE, NULL, 0x0c0500, NULL, 8, "flr");
        ck_assert_int_eq(fakesys_set_module_param(fs, "vfio_iommu_type1", "allow_unsafe_interrupts",
                                                  "N"),
                         0);
        ck_assert_int_eq(mkfifo(fifo_path, 0600), 0);
        /* Read and write: the FIFO always has a reader, as under the daemon. */
        fifo_fd = open(fifo_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        ck_assert_int_ge(fifo_fd, 0);
        ck_assert_int_eq(setenv("VFIO_MOCK_CONFIG", config_path, 1), 0);
        ck_assert_int_eq(setenv("VFIO_MOCK_UEVENT_FIFO", fifo_path, 1), 0);
        ck_assert_int_eq(unsetenv("VFIO_MOCK_DEV_ROOT"), 0);
        mock_on();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

void teardown(void) {
        mock_off();
        safe_close(fifo_fd);
        fs = fakesys_free(fs);
        ck_assert_int_eq(nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(root);
        free(config_path);
        free(fifo_path);
}

/* ---- helpers: plain syscalls only ---- */

void config(const char *text) {
        FILE *f = fopen(config_path, "we");

        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* One write() of value to rel, as the daemon does: 0 or -errno (open errors included). */
int wr_bytes(const char *rel, const void *value, size_t n) {
        ssize_t w;
        int fd, r;

        fd = openat(root_fd, rel, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        w = write(fd, value, n);
        r = w < 0 ? -errno : (size_t) w == n ? 0 : -EIO;
        close(fd);
        return r;
}

int wr(const char *rel, const char *value) {
        return wr_bytes(rel, value, strlen(value));
}

char *rd(const char *rel) {
        char buf[4096];
        ssize_t n;
        int fd;

        fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return NULL;
        buf[n] = 0;
        return strdup(buf);
}

bool exists(const char *rel) {
        return faccessat(root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
}

char *dev_rel(const char *bdf, const char *attr) {
        char *p;

        ck_assert_int_ge(asprintf(&p, DEVS "%s/%s", bdf, attr), 0);
        return p;
}

/* The driver's name from the device's driver link, "" when unbound. */
char *driver_of(const char *bdf) {
        _cleanup_free_ char *p = dev_rel(bdf, "driver");
        char buf[PATH_MAX];
        ssize_t n;

        n = readlinkat(root_fd, p, buf, sizeof(buf) - 1);
        if (n < 0) {
                ck_assert_int_eq(errno, ENOENT);
                return strdup("");
        }
        buf[n] = 0;
        ck_assert_msg(strneq(buf, "../", 3), "driver link %s is not relative", buf);
        return strdup(strrchr(buf, '/') + 1);
}

/* The driver's back link drivers/NAME/BDF, which the kernel keeps with the driver link. */
bool back_link(const char *driver, const char *bdf) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), DRVS "%s/%s", driver, bdf);
        return exists(p);
}

int attr_wr(const char *bdf, const char *attr, const char *value) {
        _cleanup_free_ char *p = dev_rel(bdf, attr);

        return wr(p, value);
}

int drv_wr(const char *driver, const char *file, const char *bdf) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), DRVS "%s/%s", driver, file);
        return wr(p, bdf);
}

/* Everything in the FIFO so far must be exactly expected. */
void expect_events(const char *expected) {
        char buf[4096];
        ssize_t n;
        size_t have = 0;

        while ((n = read(fifo_fd, buf + have, sizeof(buf) - 1 - have)) > 0)
                have += (size_t) n;
        ck_assert(n < 0 && errno == EAGAIN);
        buf[have] = 0;
        ck_assert_str_eq(buf, expected);
}

/* override + unbind + drivers_probe, as binding.c does, checked step by step. */
void to_vfio(const char *bdf) {
        _cleanup_free_ char *cur = driver_of(bdf);

        ck_assert_int_eq(attr_wr(bdf, "driver_override", "vfio-pci"), 0);
        if (*cur)
                ck_assert_int_eq(attr_wr(bdf, "driver/unbind", bdf), 0);
        ck_assert_int_eq(wr(PROBE, bdf), 0);
        assert_driver(bdf, "vfio-pci");
}

int open_dev(const char *rel, int flags) {
        int fd = openat(root_fd, rel, flags | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

int xioctl(int fd, unsigned long req, void *arg) {
        int r = ioctl(fd, req, arg);

        return r < 0 ? -errno : r;
}

int group_status(int gfd) {
        struct vfio_group_status st = { .argsz = sizeof(st) };

        ck_assert_int_eq(xioctl(gfd, VFIO_GROUP_GET_STATUS, &st), 0);
        return (int) st.flags;
}

/* Runs fn in a forked child (which inherits the preload and the environment) and returns its
 * exit status. */
int in_child(int (*fn)(void)) {
        int status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(fn());
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* valgrind warns about every VFIO ioctl that reaches the kernel (it knows no size for them),
 * so the two checks that send one there on purpose stay out of valgrind runs. */
bool under_valgrind(void) {
        return strstr(strempty(getenv("LD_PRELOAD")), "vgpreload");
}

/* This binary. By name rather than /proc/self/exe itself: under valgrind --trace-children the
 * latter is the tool, while readlink() on it tells the client's path. */
static char *self_exe(void) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        if (n < 0)
                return NULL;
        exe[n] = 0;
        return strdup(exe);
}

/* The library: $VFIO_MOCK_LIB (make check sets it), else next to this binary. */
static char *mock_lib(void) {
        _cleanup_free_ char *exe = NULL;
        const char *env = getenv("VFIO_MOCK_LIB");
        char *p;

        if (!isempty(env))
                return strdup(env);
        exe = self_exe();
        if (!exe || asprintf(&p, "%s/libvfio-mock.so", dirname(exe)) < 0)
                return NULL;
        return p;
}

static bool preloaded(void) {
        const char *p = getenv("LD_PRELOAD");

        return p && strstr(p, "libvfio-mock.so");
}

int test_mock_main(int argc, char *argv[], Suite *(*make_suite)(void) ) {
        SRunner *sr;
        int failed;

        if (!preloaded()) {
                _cleanup_free_ char *lib = mock_lib(), *exe = self_exe(), *preload = NULL;
                const char *old = getenv("LD_PRELOAD");

                if (!lib || !exe || access(lib, R_OK) < 0) {
                        fprintf(stderr, "%s: no libvfio-mock.so (%s)\n", argv[0], strna(lib));
                        return 1;
                }
                if (asprintf(&preload, "%s%s%s", lib, isempty(old) ? "" : ":", strempty(old)) < 0)
                        return 1;
                setenv("LD_PRELOAD", preload, 1);
                execv(exe, argv);
                fprintf(stderr, "%s: cannot re-exec: %m\n", argv[0]);
                return 1;
        }
        /* Whatever the caller's environment says, each test picks its own root. */
        unsetenv("VFIO_MOCK_ROOT");
        unsetenv("VFIO_MOCK_DEV_ROOT");
        sr = srunner_create(make_suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}

/* How many close events the watch has queued (it is non-blocking). */
int close_events(int ifd) {
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;
        int n = 0;
        ssize_t k;

        while ((k = read(ifd, &u, sizeof(u))) > 0)
                for (char *p = u.buf; p < u.buf + k;
                     p += sizeof(struct inotify_event) + ((struct inotify_event *) p)->len)
                        n += !!(((struct inotify_event *) p)->mask &
                                (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE));
        return n;
}

double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}
