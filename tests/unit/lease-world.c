/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The world of test-lease.c and test-lease-crash.c (lease-world.h). */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostspec.h"
#include "json-util.h"
#include "lease-world.h"
#include "../mock/mock-observe.h"
#include "names.h"
#include "state.h"
#include "topology.h"
#include "util.h"

#ifndef TEST_DATA_DIR_DEFAULT
#define TEST_DATA_DIR_DEFAULT "tests/data"
#endif

#define HOST "hosts/workstation.host"

char *root, *run_dir, *state_dir, *uevents_path;
FakeSys *fs;
Model *model;
static char *tmpdir, *faults_path;

/* ---- the ioctls the code under test makes ----
 *
 * A reset through VFIO_DEVICE_RESET leaves no trace in the tree (the kernel's changes no sysfs
 * file), so this ioctl(), in front of the model's, notes which device each VFIO device fd
 * stands for and which devices were reset. vfio.c calls it like any other; it passes every call
 * on unchanged. */

char spy_fd_device[SPY_FDS][PCI_ADDRESS_STRLEN];
char **spy_resets;

/* A VFIO device cdev is a file of the model's .vfio-mock/cdev/BDF/ (tests/mock/README.md). */
static void cdev_device(int fd, char ret[static PCI_ADDRESS_STRLEN]) {
        char link[32], target[PATH_MAX];
        const char *p;
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
                return;
        target[n] = 0;
        p = strstr(target, "/.vfio-mock/cdev/");
        if (p) {
                p += strlen("/.vfio-mock/cdev/");
                snprintf(ret, PCI_ADDRESS_STRLEN, "%.*s",
                         (int) MIN(strcspn(p, "/"), (size_t) PCI_ADDRESS_STRLEN - 1), p);
        }
}

int ioctl(int fd, unsigned long request, ...) {
        static int (*next)(int, unsigned long, ...);
        va_list ap;
        void *arg;
        int r;

        va_start(ap, request);
        arg = va_arg(ap, void *);
        va_end(ap);
        if (!next)
                next = (int (*)(int, unsigned long, ...)) dlsym(RTLD_NEXT, "ioctl");
        r = next(fd, request, arg);
        if (request == VFIO_GROUP_GET_DEVICE_FD && r >= 0 && r < SPY_FDS)
                snprintf(spy_fd_device[r], PCI_ADDRESS_STRLEN, "%s", (const char *) arg);
        if (request == VFIO_DEVICE_RESET && r == 0 && fd >= 0 && fd < SPY_FDS) {
                char cdev[PCI_ADDRESS_STRLEN] = "";

                /* A cdev says which device it is; a legacy device fd, the call that made it. */
                cdev_device(fd, cdev);
                (void) strv_extend(&spy_resets, cdev[0] ? cdev : spy_fd_device[fd]);
        }
        return r;
}

bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

int64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the tree ---- */

static void mock_on(void) {
        ck_assert_int_eq(setenv("VFIO_MOCK_ROOT", root, 1), 0);
}

static void mock_off(void) {
        ck_assert_int_eq(unsetenv("VFIO_MOCK_ROOT"), 0);
}

static const char *data_dir(void) {
        const char *d = getenv("TEST_DATA_DIR");

        return isempty(d) ? TEST_DATA_DIR_DEFAULT : d;
}

char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(k, 0);
        return s;
}

void write_text(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        size_t n = strlen(text);

        ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
        ck_assert_int_eq(fchmod(fd, mode), 0);
        ck_assert_int_eq(write(fd, text, n), (ssize_t) n);
        ck_assert_int_eq(close(fd), 0);
}

/* The whole file, "" when it is missing. */
char *read_text(const char *path) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return strdup("");
        if (getdelim(&text, &size, 0, f) < 0) {
                ck_assert(feof(f));
                free(text);
                text = strdup("");
        }
        fclose(f);
        return text;
}

void faults(const char *text) {
        write_text(faults_path, text, 0600);
}

/* The lease code's view of the host: the topology as the kernel shows it now. */
Model *view_new(const char *root_dir) {
        Model *m = calloc(1, sizeof(Model));

        if (!m || sysroot_open(root_dir, root_dir, &m->root) < 0 ||
            topology_new(&m->topology) < 0 || topology_scan(m->topology, m->root, NULL) < 0) {
                free(m);
                return NULL;
        }
        return m;
}

Model *view_free(Model *m) {
        if (m) {
                topology_free(m->topology);
                sysroot_free(m->root);
                free(m);
        }
        return NULL;
}

void world_setup(void) {
        _cleanup_free_ char *spec = xasprintf("%s/" HOST, data_dir()), *error = NULL;
        int k;

        tmpdir = strdup("/tmp/test-lease.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        root = xasprintf("%s/root", tmpdir);
        run_dir = xasprintf("%s/run", tmpdir);
        state_dir = xasprintf("%s/state", tmpdir);
        faults_path = xasprintf("%s/faults", tmpdir);
        uevents_path = xasprintf("%s/uevents", tmpdir);
        mock_off();
        ck_assert_int_eq(fakesys_new(root, 0, &fs), 0);
        k = hostspec_apply(fs, spec, &error);
        ck_assert_msg(k == 0, "%s: %s", spec, strna(error));
        faults("");
        write_text(uevents_path, "", 0600);
        ck_assert_int_eq(setenv("VFIO_MOCK_CONFIG", faults_path, 1), 0);
        /* A regular file: the model appends its "ACTION BDF" lines. */
        ck_assert_int_eq(setenv("VFIO_MOCK_UEVENT_FIFO", uevents_path, 1), 0);
        ck_assert_int_eq(unsetenv("VFIO_MOCK_DEV_ROOT"), 0);
        mock_on();
        model = view_new(root);
        ck_assert_ptr_nonnull(model);
        memset(spy_fd_device, 0, sizeof(spy_fd_device));
        spy_resets = NULL;
}

void world_enable_iommufd(void) {
        mock_off();
        ck_assert_int_eq(fakesys_enable_iommufd(fs), 0);
        mock_on();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

void world_teardown(void) {
        model = view_free(model);
        mock_off();
        fs = fakesys_free(fs);
        ck_assert_int_eq(nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        strv_free(spy_resets);
        spy_resets = NULL;
        free(tmpdir);
        free(root);
        free(run_dir);
        free(state_dir);
        free(faults_path);
        free(uevents_path);
}

/* The driver from the device's driver link; NULL when unbound. */
char *driver_of(const char *bdf) {
        _cleanup_free_ char *p = xasprintf(SYSFS_PCI_DEVICES "/%s/driver", bdf);
        char buf[PATH_MAX];
        ssize_t n = readlinkat(fakesys_root_fd(fs), p, buf, sizeof(buf) - 1);

        if (n < 0) {
                ck_assert_int_eq(errno, ENOENT);
                return NULL;
        }
        buf[n] = 0;
        return strdup(strrchr(buf, '/') + 1);
}

void assert_driver(const char *bdf, const char *want) {
        _cleanup_free_ char *now = driver_of(bdf);

        ck_assert_msg(streq_ptr(now, want), "%s is on %s, not on %s", bdf, strna(now), strna(want));
}

char *override_of(const char *bdf) {
        _cleanup_free_ char *p = xasprintf(SYSFS_PCI_DEVICES "/%s/driver_override", bdf);
        char *text = NULL;
        size_t size;

        ck_assert_int_eq(fakesys_read_file(fs, p, &text, &size), 0);
        text[strcspn(text, "\n")] = 0;
        return text;
}

/* On its host driver (or none) with no override left behind. */
void assert_on_host(const char *bdf, const char *driver) {
        _cleanup_free_ char *o = override_of(bdf);

        assert_driver(bdf, driver);
        ck_assert_msg(streq(o, "(null)"), "%s keeps driver_override %s", bdf, o);
}

void assert_on_vfio(const char *bdf) {
        _cleanup_free_ char *o = override_of(bdf);

        assert_driver(bdf, DRIVER_VFIO_PCI);
        ck_assert_str_eq(o, DRIVER_VFIO_PCI);
}

bool node_exists(uint32_t group) {
        _cleanup_free_ char *p = xasprintf("dev/vfio/%" PRIu32, group);

        return fakesys_exists(fs, p);
}

void assert_gpu_group_on_host(void) {
        assert_on_host(GPU, "nouveau");
        assert_on_host(AUDIO, "snd_hda_intel");
        ck_assert(!node_exists(GPU_GROUP));
}

void assert_gpu_group_on_vfio(void) {
        assert_on_vfio(GPU);
        assert_on_vfio(AUDIO);
        ck_assert(node_exists(GPU_GROUP));
}

bool uevent_seen(const char *line) {
        _cleanup_free_ char *text = read_text(uevents_path), *want = xasprintf("%s\n", line);

        return strstr(text, want);
}

/* Reset, through VFIO_DEVICE_RESET or the sysfs reset attribute (which the model reports as a
 * "change" uevent). */
bool was_reset(const char *bdf) {
        _cleanup_free_ char *change = xasprintf("change %s", bdf);

        return strv_contains(spy_resets, bdf) || uevent_seen(change);
}

/* ---- the state files, as JSON ---- */

json_object *read_json(const char *dir, const char *name) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);

        return json_object_from_file(p);
}

json_object *jget(json_object *o, const char *key) {
        json_object *v = NULL;

        ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key %s in %s", key,
                      json_object_to_json_string(o));
        return v;
}

const char *jstr(json_object *o, const char *key) {
        return json_object_get_string(jget(o, key));
}

int64_t jint(json_object *o, const char *key) {
        return json_object_get_int64(jget(o, key));
}

json_object *state_leases(json_object *state) {
        ck_assert_ptr_nonnull(state);
        ck_assert_int_eq(jint(state, "version"), 1);
        return jget(state, "leases");
}

/* The only lease in state.json. */
json_object *state_only_lease(json_object *state) {
        json_object *leases = state_leases(state);

        ck_assert_uint_eq(json_object_array_length(leases), 1);
        return json_object_array_get_idx(leases, 0);
}

size_t state_n_leases(void) {
        _cleanup_json_ json_object *state = read_json(run_dir, STATE_FILE);

        return json_object_array_length(state_leases(state));
}

void assert_state_device(json_object *lease, size_t i, const char *address, const char *original) {
        json_object *d = json_object_array_get_idx(jget(lease, "devices"), i);

        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(jstr(d, "address"), address);
        ck_assert_msg(streq_ptr(jstr(d, "original_driver"), original),
                      "%s: original_driver %s, not %s", address, strna(jstr(d, "original_driver")),
                      strna(original));
        ck_assert(!json_object_get_boolean(jget(d, "bridge")));
}

/* ---- the lease set ---- */

LeaseSet *set_open(void) {
        _cleanup_free_ char *error = NULL;
        int run_fd = -1, state_fd = -1;
        LeaseSet *s;

        ck_assert_msg(state_open_dir(run_dir, &run_fd, &error) == 0, "%s", strna(error));
        ck_assert_msg(state_open_dir(state_dir, &state_fd, &error) == 0, "%s", strna(error));
        ck_assert_int_eq(lease_set_new(model, run_fd, state_fd, &s), 0);
        return s;
}

bool holders_identifiable(void) {
        static int works = -1;

        if (works < 0) {
                int fd = pidfd_open(getpid(), 0);

                ck_assert_msg(fd >= 0 || errno == ENOSYS, "pidfd_open: %s", strerror(errno));
                works = fd >= 0;
                safe_close(fd);
                if (!works)
                        fprintf(stderr,
                                "pidfd_open() fails with ENOSYS (valgrind before 3.20 does not implement "
                                "it): claims are made without a holder\n");
        }
        return works;
}

LeaseRequest claim_request(uint32_t group) {
        bool holder = holders_identifiable();

        return (LeaseRequest) {
                .kind = LEASE_CLAIM,
                .group = group,
                .holder = holder ? HOLDER : NULL,
                .holder_bus_id = holder ? BUS_ID : NULL,
                .uid = (uint32_t) getuid(),
                .pid = (uint32_t) getpid(),
        };
}

Lease *set_acquire(LeaseSet *s, const LeaseRequest *req) {
        LeaseError err = {};
        Lease *l = NULL;
        int k = lease_set_acquire(s, req, &l, &err);

        ck_assert_msg(k == 0, "lease_set_acquire(%" PRIu32 "): %s", req->group, strna(err.message));
        ck_assert_ptr_nonnull(l);
        lease_error_clear(&err);
        return l;
}

void set_release(LeaseSet *s, Lease *l) {
        LeaseError err = {};
        int k = lease_set_release(s, l, &err);

        ck_assert_msg(k == 0, "lease_set_release: %s", strna(err.message));
        lease_error_clear(&err);
}

void on_adopt(void *userdata, Lease *l) {
        Restart *r = userdata;

        ck_assert_uint_lt(r->n_adopted, ELEMENTSOF(r->adopted));
        r->adopted[r->n_adopted++] = l->id;
}

bool on_alive(void *userdata, Lease *l) {
        Restart *r = userdata;

        ck_assert_int_eq(l->kind, LEASE_CLAIM);
        return r->alive;
}

void restart_clear(Restart *r) {
        strv_free(r->log);
        *r = (Restart) {};
}

bool log_has(char **log, const char *needle) {
        for (char **l = log; l && *l; l++)
                if (strstr(*l, needle))
                        return true;
        return false;
}

char *log_text(char **log) {
        char *text = NULL;

        for (char **l = log; l && *l; l++)
                ck_assert_int_ge(strextendf(&text, " | ", "%s", *l), 0);
        return text ?: strdup("");
}

/* A new lease set reads the files as a restarted daemon does. */
LeaseSet *set_restart(Restart *r, int expect) {
        LeaseSet *s = set_open();

        ck_assert_int_eq(lease_set_reconcile(s, on_adopt, on_alive, r, &r->log), expect);
        return s;
}

int guard_yes(void *userdata, uint32_t group, char **ret_why) {
        unsigned *calls = userdata;

        if (calls)
                (*calls)++;
        return 0;
}

int guard_no(void *userdata, uint32_t group, char **ret_why) {
        *ret_why = xasprintf("IOMMU group %" PRIu32 ": denied by rule test-rule", group);
        return -EPERM;
}

static char *self_exe(void) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        ck_assert_int_gt(n, 0);
        exe[n] = 0;
        return strdup(exe);
}

/* Exit 0 means the test did not kill it on the way. */
int crash_helper(int argc, char *argv[]) {
        LeaseRequest req = { .kind = LEASE_CLAIM, .group = GPU_GROUP };
        _cleanup_free_ char *error = NULL;
        LeaseSet *s = NULL;
        LeaseError err = {};
        int run_fd, state_fd, go_fd = -1, r = 0;
        Lease *l = NULL;
        Model *m;
        char b;

        if (argc != 7 && argc != 8)
                return 2;
        if (argc == 8 && safe_atoi32(argv[7], &go_fd) < 0)
                return 2;
        req.backend = vfio_backend_ops_from_name(argv[5]);
        if (!req.backend)
                return 2;
        m = view_new(argv[2]);
        if (!m || state_open_dir(argv[3], &run_fd, &error) < 0 ||
            state_open_dir(argv[4], &state_fd, &error) < 0 ||
            lease_set_new(m, run_fd, state_fd, &s) < 0) {
                fprintf(stderr, "crash helper: cannot set up: %s\n", strna(error));
                view_free(m);
                return 3;
        }
        if (lease_set_acquire(s, &req, &l, &err) < 0)
                r = 4;
        else if (streq(argv[6], "release") &&
                 (read(go_fd, &b, 1) != 1 || lease_set_release(s, l, &err) < 0))
                r = 5;
        if (err.message)
                fprintf(stderr, "crash helper: %s\n", err.message);
        lease_error_clear(&err);
        lease_set_free(s);
        view_free(m);
        return r;
}

pid_t spawn_helper(const char *mode, const char *backend, int *ret_go) {
        _cleanup_free_ char *exe = self_exe(), *go_arg = NULL;
        char *argv[] = { exe,       (char *) "--crash-helper", root,          run_dir,
                         state_dir, (char *) backend,          (char *) mode, NULL,
                         NULL };
        int go[2] = { -1, -1 };
        pid_t pid;

        if (ret_go) {
                /* The read end goes to the helper; the write end stays here. */
                ck_assert_int_eq(pipe(go), 0);
                ck_assert_int_eq(fcntl(go[1], F_SETFD, FD_CLOEXEC), 0);
                argv[7] = go_arg = xasprintf("%d", go[0]);
        }

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                execv(exe, argv);
                _exit(127);
        }
        if (ret_go) {
                safe_close(go[0]);
                *ret_go = go[1];
        }
        return pid;
}

bool state_says(const char *want) {
        _cleanup_json_ json_object *state = read_json(run_dir, STATE_FILE);
        json_object *leases, *l, *v;

        if (!state || !json_object_object_get_ex(state, "leases", &leases) ||
            json_object_array_length(leases) != 1)
                return false;
        l = json_object_array_get_idx(leases, 0);
        return json_object_object_get_ex(l, "state", &v) && streq(json_object_get_string(v), want);
}

/* ---- kill -9 half way ---- */

typedef struct Point {
        const char *state;
        int hang;
} Point;

/* state.json says `state`, the member's write hangs and, when it is the second member, the
 * first has moved: to vfio-pci while binding, back to nouveau while releasing. */
static bool crash_point(const void *data) {
        const Point *p = data;
        _cleanup_free_ char *gpu = NULL;

        if (!state_says(p->state))
                return false;
        if (p->hang < 0)
                return true;
        if (!mock_is_hanging(root, p->hang == 0 ? GPU : AUDIO))
                return false;
        if (p->hang == 0)
                return true;
        gpu = driver_of(GPU);
        return streq_ptr(gpu, streq(p->state, "binding") ? DRIVER_VFIO_PCI : "nouveau");
}

void wait_until(pid_t pid, bool (*reached)(const void *data), const void *data, const char *what) {
        int64_t deadline = now_usec() + WAIT_MS * 1000LL;
        int status = 0;

        while (!reached(data)) {
                ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
                              "the helper ended on its own (status %d)", status);
                ck_assert_msg(now_usec() < deadline, "never reached: %s", what);
                nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
}

void wait_point(pid_t pid, const char *state, int hang) {
        _cleanup_free_ char *what = xasprintf("state.json saying %s", state);

        wait_until(pid, crash_point, &(Point) { .state = state, .hang = hang }, what);
}

void kill_helper(pid_t pid) {
        int status = 0;

        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

void kill_at(pid_t pid, const char *state, int hang) {
        wait_point(pid, state, hang);
        kill_helper(pid);
}

void restart_gives_back(const char *was) {
        _cleanup_(restart_clear) Restart r = { .alive = true };
        _cleanup_free_ char *line = xasprintf("lease 1 on IOMMU group 7 was %s: giving it back",
                                              was);
        LeaseSet *s;

        faults("");
        s = set_restart(&r, 0);
        assert_log_has(r.log, line);
        ck_assert_uint_eq(r.n_adopted, 1);
        ck_assert_uint_eq(s->n, 0);
        assert_gpu_group_on_host();
        ck_assert(was_reset(GPU) && was_reset(AUDIO));
        ck_assert_uint_eq(state_n_leases(), 0);
        lease_set_free(s);
}

int lease_world_main(int argc, char *argv[], Suite *(*make_suite)(void) ) {
        SRunner *sr;
        int failed;

        if (argc > 1 && streq(argv[1], "--crash-helper"))
                return crash_helper(argc, argv);
        /* Whatever the caller's environment says, each test picks its own root. */
        unsetenv("VFIO_MOCK_ROOT");
        unsetenv("VFIO_MOCK_DEV_ROOT");
        sr = srunner_create(make_suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
