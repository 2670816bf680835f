/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The world of the claim tests (see test-claim.c): the real vfio-assignd, run under
 * the kernel model (tests/mock, LD_PRELOAD), on a sample host tree, on a private bus with
 * python-dbusmock's polkitd. Each test starts a daemon of its own on a fresh copy of a host (a
 * test may kill and restart it) and asserts on the tree (driver links, driver_override, the fake
 * /dev/vfio nodes), on state.json and persistent.json, and on the bus replies.
 *
 * The bus and the polkit mock are shared (an unchecked fixture in the parent). The daemon is
 * spawned with PR_SET_PDEATHSIG by the forked test, so a failing test does not leave it behind.
 * The mock's state lives in the tree (tests/mock/README.md), so the daemon, the shell commands
 * the tests run under the preload and a restarted daemon all see one kernel. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "../mock/mock-observe.h"
#include "harness.h"
#include "names.h"
#include "util.h"

const char *mock_lib;
const char *daemon_write_timeout;
const char *daemon_cdi_version;

/* For children forked by a test: die with it (see spawn_logged()). */
int prctl_die_with_parent(void) {
        return prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* ---- small utilities ---- */

int64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sleep_ms(unsigned ms) {
        /* Polling a file the daemon writes; there is no event to wait on. */
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
                  NULL);
}

bool startswith(const char *s, const char *prefix) {
        return strneq(s, prefix, strlen(prefix));
}

char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        ck_assert_msg(r >= 0, "out of memory");
        return p;
}

/* ---- one test's world: a host tree, a dev tree, directories and a daemon ---- */

Case C;

char *case_path(const char *rel) {
        return path_join(C.dir, rel);
}

void make_dir(const char *path) {
        ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
}

/* Fresh trees from spec (a path), the policy directory with the vendor default, no faults. */
void case_begin(const char *spec) {
        _cleanup_free_ char *tmpl = path_join(H.tmpdir, "case.XXXXXX");
        _cleanup_free_ char *dflt_src = path_join(H.top_srcdir, "policy/default.json");
        _cleanup_free_ char *dflt = read_file_or_abort(dflt_src), *dflt_dst = NULL;

        /* With CK_FORK=no a failed test leaves its daemon to us: it would hold the name. */
        if (C.pid > 0) {
                (void) kill(C.pid, SIGKILL);
                (void) wait_exit(C.pid, 30000);
        }
        ck_assert_msg(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
        /* A caller switched to nobody must reach the bus socket's directory. */
        ck_assert_int_eq(chmod(tmpl, 0755), 0);
        C = (Case) { .dir = strdup(tmpl) };
        ck_assert_ptr_nonnull(C.dir);
        C.host = case_path("host");
        C.pristine = case_path("pristine");
        C.dev = case_path("dev");
        C.fifo = case_path("uevents");
        C.run = case_path("run");
        C.state = case_path("state");
        C.policy = case_path("policy.d");
        C.log = case_path("daemon.log");
        C.faults = case_path("faults");
        C.cdi = case_path("cdi/" CDI_FILE);

        mkhost_spec(spec, C.host);
        mkhost_spec(spec, C.pristine);
        make_dir(C.dev);
        make_dir(C.run);
        make_dir(C.state);
        make_dir(C.policy);
        dflt_dst = path_join(C.policy, "default.json");
        write_file(dflt_dst, dflt);
        write_file(C.faults, "");
        ck_assert_msg(mkfifo(C.fifo, 0600) == 0, "mkfifo: %s", strerror(errno));

        /* The harness's tree helpers (host_*_device, send_uevent) work on these. */
        H.hostdir = C.host;
        H.pristine = C.pristine;
        H.fifo = C.fifo;
        H.daemon_log = C.log;
        H.runtime_dir = C.run;
        H.state_dir = C.state;
        H.policy_dir = C.policy;
}

void case_begin_data(const char *name) {
        _cleanup_free_ char *data = path_join(getenv("TEST_DATA_DIR") ?: "tests/data", name);

        case_begin(data);
}

void dump_log(void) {
        _cleanup_free_ char *text = NULL;

        if (!C.log || !path_exists(C.log))
                return;
        text = read_file_or_abort(C.log);
        fprintf(stderr, "---- %s ----\n%s---- end ----\n", C.log, text);
}

/* The pid of the owner of BUS_NAME, 0 when there is none. */
pid_t name_owner_pid(sd_bus *bus) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        pid_t pid = 0;

        if (sd_bus_get_name_creds(bus, BUS_NAME, SD_BUS_CREDS_PID, &creds) < 0 ||
            sd_bus_creds_get_pid(creds, &pid) < 0)
                return 0;
        return pid;
}

pid_t daemon_spawn(const char *log, const char *bus_address) {
        _cleanup_free_ char *preload = NULL, *root = NULL, *dev = NULL, *fifo = NULL;
        _cleanup_free_ char *faults = NULL, *address = NULL, *timeout = NULL, *cdi = NULL;
        _cleanup_free_ char *cdi_version = NULL;
        const char *old = getenv("LD_PRELOAD");

        preload = isempty(old) ? xasprintf("LD_PRELOAD=%s", mock_lib)
                               : xasprintf("LD_PRELOAD=%s:%s", mock_lib, old);
        root = xasprintf("VFIO_MOCK_ROOT=%s", C.host);
        dev = xasprintf("VFIO_MOCK_DEV_ROOT=%s", C.dev);
        fifo = xasprintf("VFIO_MOCK_UEVENT_FIFO=%s", C.fifo);
        faults = xasprintf("VFIO_MOCK_CONFIG=%s", C.faults);
        address = xasprintf("DBUS_SYSTEM_BUS_ADDRESS=%s",
                            bus_address ?: getenv("DBUS_SYSTEM_BUS_ADDRESS"));
        timeout = xasprintf("--write-timeout=%s", daemon_write_timeout ?: "10");
        /* Never the host's /run/cdi. */
        cdi = xasprintf("--cdi-spec=%s", C.cdi);
        cdi_version = xasprintf("--cdi-version=%s", daemon_cdi_version ?: "0.5.0");
        return spawn_logged(
                (char *const[]) { (char *) H.vfio_assignd, (char *) "--sysfs-root", C.host,
                                  (char *) "--dev-root", C.dev, (char *) "--uevent-fifo", C.fifo,
                                  (char *) "--policy-dir", C.policy, (char *) "--runtime-dir",
                                  C.run, (char *) "--state-dir", C.state, timeout, cdi, cdi_version,
                                  NULL },
                (char *const[]) { preload, root, dev, fifo, faults, address, NULL }, log, true);
}

void daemon_start(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int64_t deadline;

        ck_assert_int_eq(C.pid, 0);
        C.pid = daemon_spawn(C.log, NULL);
        wait_for_name(BUS_NAME, &C.pid, C.log);
        /* The name comes before the leases are reconciled; a call is answered only after. */
        ck_assert_int_ge(sd_bus_open_system(&bus), 0);
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, "org.freedesktop.DBus.Peer", "Ping", ""));

        /* A daemon of a test that failed dies with it, but maybe not before we look. */
        deadline = now_usec() + WAIT_MS * 1000;
        while (name_owner_pid(bus) != C.pid) {
                ck_assert_msg(now_usec() < deadline, "%s is not owned by our daemon %d", BUS_NAME,
                              (int) C.pid);
                sleep_ms(10);
        }
}

void daemon_start_refused(const char *needle) {
        _cleanup_free_ char *log = case_path("refused.log"), *text = NULL, *before = snapshot(),
                            *after = NULL;
        int status;
        pid_t pid;

        (void) unlink(log);
        pid = daemon_spawn(log, NULL);
        status = wait_exit(pid, WAIT_MS);
        text = read_file_or_abort(log);
        ck_assert_msg(exit_code_of(status) != 0 && exit_code_of(status) < 128,
                      "the daemon exited %d:\n%s", exit_code_of(status), text);
        assert_contains(text, needle);
        after = snapshot();
        ck_assert_str_eq(after, before);
}

/* SIGTERM: the daemon must exit 0 (sanitizer and valgrind findings make it fail). */
void daemon_stop(void) {
        int status;

        ck_assert_int_gt(C.pid, 0);
        ck_assert_int_eq(kill(C.pid, SIGTERM), 0);
        status = wait_exit(C.pid, 30000);
        C.pid = 0;
        if (exit_code_of(status) != 0)
                dump_log();
        ck_assert_msg(exit_code_of(status) == 0, "vfio-assignd exited with %d after SIGTERM",
                      exit_code_of(status));
}

/* A crash: nothing of the daemon's runs after this. */
void daemon_kill(void) {
        int status;

        ck_assert_int_gt(C.pid, 0);
        ck_assert_int_eq(kill(C.pid, SIGKILL), 0);
        status = wait_exit(C.pid, 30000);
        C.pid = 0;
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "vfio-assignd did not die of SIGKILL (%d)", exit_code_of(status));
}

void case_end(void) {
        if (C.pid > 0)
                daemon_stop();
        if (!getenv("KEEP_TEST_DIR"))
                (void) run(NULL, NULL, (char *) "rm", (char *) "-rf", (char *) "--", C.dir);
        else
                fprintf(stderr, "Keeping %s\n", C.dir);
        free(C.dir);
        free(C.host);
        free(C.pristine);
        free(C.dev);
        free(C.fifo);
        free(C.run);
        free(C.state);
        free(C.policy);
        free(C.log);
        free(C.faults);
        free(C.cdi);
        C = (Case) {};
        daemon_write_timeout = NULL;
        daemon_cdi_version = NULL;
}

void set_faults(const char *text) {
        write_file(C.faults, text);
}

bool log_contains(const char *needle) {
        _cleanup_free_ char *text = read_file_or_abort(C.log);

        return strstr(text, needle) != NULL;
}

/* Runs a shell script under the kernel model, as a root process on the host would ($1 is the
 * host root). Its uevents go nowhere: a test sends the daemon the one it means, so the daemon
 * does not race the script. Returns the exit code; stderr in *ret_err. */
void wait_uevents_handled(void) {
        _cleanup_close_ int fd = open(C.fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        int64_t deadline = now_usec() + WAIT_MS * 1000LL;
        int queued = 0;

        /* A reader that never reads: it sees what is queued without taking it (FIONREAD,
         * pipe(7)). */
        ck_assert_msg(fd >= 0, "open %s: %s", C.fifo, strerror(errno));
        while (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0) {
                ck_assert_msg(now_usec() < deadline, "the daemon left %d bytes of uevents unread",
                              queued);
                sleep_ms(1);
        }
        /* Read in one dispatch with their handling; a call is answered after it. */
        (void) n_leases();
}

int mock_sh_status(const char *script, char **ret_err) {
        _cleanup_free_ char *preload = NULL, *root = NULL, *dev = NULL, *faults = NULL;
        _cleanup_free_ char *ev = NULL;

        /* The daemon's own binds queued uevents (the model emits them as the kernel would); the
         * script must not change the tree under events the daemon has yet to handle. */
        if (C.pid > 0)
                wait_uevents_handled();

        preload = xasprintf("LD_PRELOAD=%s", mock_lib);
        root = xasprintf("VFIO_MOCK_ROOT=%s", C.host);
        dev = xasprintf("VFIO_MOCK_DEV_ROOT=%s", C.dev);
        faults = xasprintf("VFIO_MOCK_CONFIG=%s", C.faults);
        ev = xasprintf("VFIO_MOCK_UEVENT_FIFO=");
        return run(NULL, ret_err, (char *) "env", preload, root, dev, faults, ev, (char *) "sh",
                   (char *) "-euc", (char *) script, (char *) "sh", C.host);
}

void mock_sh(const char *script) {
        _cleanup_free_ char *err = NULL;
        int r = mock_sh_status(script, &err);

        ck_assert_msg(r == 0, "script failed (%d):\n%s\n%s", r, script, err);
}

/* ---- the tree ---- */

/* The driver bdf is bound to, NULL when none (the basename of its driver link). */
char *driver_of(const char *bdf) {
        _cleanup_free_ char *link = xasprintf("%s/%s/%s/driver", C.host, SYSFS_PCI_DEVICES, bdf);
        char buf[PATH_MAX];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);
        char *slash, *s;

        if (n < 0) {
                ck_assert_msg(errno == ENOENT, "readlink %s: %s", link, strerror(errno));
                return NULL;
        }
        buf[n] = '\0';
        slash = strrchr(buf, '/');
        s = strdup(slash ? slash + 1 : buf);
        ck_assert_ptr_nonnull(s);
        return s;
}

char *override_of(const char *bdf) {
        _cleanup_free_ char *p = xasprintf("%s/%s/%s/driver_override", C.host, SYSFS_PCI_DEVICES,
                                           bdf);
        char *s = read_file_or_abort(p);

        return strstrip_trailing(s);
}

bool driver_is(const char *bdf, const char *want) {
        _cleanup_free_ char *d = driver_of(bdf);

        return want ? d && streq(d, want) : !d;
}

/* On its host driver with no override, as the host had it. */
void assert_on_host(const char *bdf, const char *driver) {
        assert_driver(bdf, driver);
        assert_override(bdf, NULL);
}

void assert_on_vfio(const char *bdf) {
        assert_driver(bdf, DRIVER_VFIO_PCI);
        assert_override(bdf, DRIVER_VFIO_PCI);
}

bool wait_driver(const char *bdf, const char *want, int timeout_ms) {
        int64_t deadline = now_usec() + (int64_t) timeout_ms * 1000;

        while (!driver_is(bdf, want))
                if (now_usec() > deadline)
                        return false;
                else
                        sleep_ms(2);
        return true;
}

/* "BDF driver override" for every device, the owner and mode of every fake /dev/vfio node, and
 * the state files: what "nothing changed" compares. */
char *snapshot(void) {
        _cleanup_free_ char *devices = path_join(C.host, SYSFS_PCI_DEVICES);
        _cleanup_free_ char *vfio = path_join(C.dev, "dev/vfio");
        _cleanup_free_ char *state = path_join(C.run, STATE_FILE);
        _cleanup_free_ char *persistent = path_join(C.state, PERSISTENT_FILE);
        _cleanup_strv_free_ char **names = NULL, **nodes = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        char *text = NULL;

        d = opendir(devices);
        ck_assert_msg(d, "opendir %s: %s", devices, strerror(errno));
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        ck_assert_int_ge(strv_extend(&names, de->d_name), 0);
        d = safe_closedir(d);
        strv_sort(names);
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *drv = driver_of(*n), *ovr = override_of(*n);

                ck_assert_int_ge(strextendf(&text, "", "%s %s %s\n", *n, drv ?: "-", ovr), 0);
        }
        d = opendir(vfio);
        if (d) {
                for (struct dirent *de; (de = readdir(d));) {
                        _cleanup_free_ char *p = path_join(vfio, de->d_name);
                        struct stat st;

                        if (de->d_name[0] == '.' || lstat(p, &st) < 0)
                                continue;
                        ck_assert_int_ge(strv_extendf(&nodes, "dev/vfio/%s %u %o\n", de->d_name,
                                                      (unsigned) st.st_uid,
                                                      (unsigned) st.st_mode & 07777),
                                         0);
                }
        }
        strv_sort(nodes);
        for (char **n = nodes; n && *n; n++)
                ck_assert_int_ge(strextendf(&text, "", "%s", *n), 0);
        for (size_t i = 0; i < 3; i++) {
                const char *p = i == 0   ? state
                                : i == 1 ? persistent
                                         : C.cdi,
                           *name = i == 0   ? STATE_FILE
                                   : i == 1 ? PERSISTENT_FILE
                                            : "cdi";
                struct stat st;

                if (lstat(p, &st) < 0)
                        continue;
                /* Owner and mode count: they decide whether the daemon trusts the file. */
                ck_assert_int_ge(strextendf(&text, "", "%s %u %o:\n", name, (unsigned) st.st_uid,
                                            (unsigned) st.st_mode),
                                 0);
                if (S_ISREG(st.st_mode)) {
                        _cleanup_free_ char *s = read_file_or_abort(p);

                        ck_assert_int_ge(strextendf(&text, "", "%s\n", s), 0);
                }
        }
        return text;
}

/* ---- the daemon's files ---- */

json_object *state_json(void) {
        _cleanup_free_ char *p = path_join(C.run, STATE_FILE);
        _cleanup_free_ char *text = read_file_or_abort(p);

        return parse_json(text, p);
}

json_object *state_leases(json_object *state) {
        return jget(state, "leases");
}

/* The one lease in state.json (failing when there is not exactly one). */
json_object *state_only_lease(json_object *state) {
        json_object *leases = state_leases(state);

        ck_assert_msg(jlen(leases) == 1, "state.json has %zu leases: %s", jlen(leases),
                      json_object_to_json_string(state));
        return jidx(leases, 0);
}

const char *state_original_driver(json_object *lease, const char *bdf) {
        json_object *devices = jget(lease, "devices");

        for (size_t i = 0; i < jlen(devices); i++)
                if (streq(jstr_or_null(jidx(devices, i), "address"), bdf))
                        return jstr_or_null(jidx(devices, i), "original_driver");
        ck_abort_msg("%s is not in the lease: %s", bdf, json_object_to_json_string(lease));
        return NULL;
}

bool state_bridge(json_object *lease, const char *bdf) {
        json_object *devices = jget(lease, "devices");

        for (size_t i = 0; i < jlen(devices); i++)
                if (streq(jstr_or_null(jidx(devices, i), "address"), bdf))
                        return json_object_get_boolean(jget(jidx(devices, i), "bridge"));
        ck_abort_msg("%s is not in the lease: %s", bdf, json_object_to_json_string(lease));
        return false;
}

void assert_state_empty(void) {
        _cleanup_json_ json_object *state = state_json();

        ck_assert_msg(jlen(state_leases(state)) == 0, "state.json still has leases: %s",
                      json_object_to_json_string(state));
}

/* Polls state.json until a lease on group is in state; false on timeout. */
char *file_or_empty(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_join(dir, name);

        return path_exists(p) ? read_file_or_abort(p) : strdup("");
}

bool wait_state(uint32_t group, const char *state, int timeout_ms) {
        _cleanup_free_ char *p = path_join(C.run, STATE_FILE);
        int64_t deadline = now_usec() + (int64_t) timeout_ms * 1000;

        for (;;) {
                if (path_exists(p)) {
                        _cleanup_free_ char *text = read_file_or_abort(p);
                        _cleanup_json_ json_object *o = json_tokener_parse(text);
                        json_object *leases = NULL;

                        /* Written by rename: any file we read is whole. */
                        ck_assert_msg(o, "state.json is not JSON: %s", text);
                        if (json_object_object_get_ex(o, "leases", &leases))
                                for (size_t i = 0; i < jlen(leases); i++) {
                                        json_object *l = jidx(leases, i);

                                        if (json_object_get_int64(jget(l, "group")) == group &&
                                            streq(jstr_or_null(l, "state"), state))
                                                return true;
                                }
                }
                if (now_usec() > deadline)
                        return false;
                sleep_ms(2);
        }
}

/* ---- the bus ---- */

sd_bus *bus_connect(void) {
        sd_bus *bus = NULL;
        int r = sd_bus_open_system(&bus);

        ck_assert_msg(r >= 0, "cannot connect to the private bus: %s", strerror(-r));
        return bus;
}

const char *unique_name(sd_bus *bus) {
        const char *u = NULL;

        ck_assert_int_ge(sd_bus_get_unique_name(bus, &u), 0);
        return u;
}

/* Fails unless the call failed with the error name; returns its message (caller frees). */
char *check_error(int r, const sd_bus_error *e, const char *name, const char *what) {
        char *msg;

        ck_assert_msg(r < 0, "%s succeeded; expected %s", what, name);
        ck_assert_msg(sd_bus_error_has_name(e, name), "%s: expected %s, got %s: %s", what, name,
                      strna(e->name), strna(e->message));
        msg = strdup(strempty(e->message));
        ck_assert_ptr_nonnull(msg);
        return msg;
}

/* The lease path of a reply "o". */
char *reply_path(sd_bus_message *reply) {
        const char *path;
        char *p;

        ck_assert_int_ge(sd_bus_message_read(reply, "o", &path), 0);
        p = strdup(path);
        ck_assert_ptr_nonnull(p);
        sd_bus_message_unref(reply);
        return p;
}

char *claim_group(sd_bus *bus, uint32_t group) {
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimGroup", "ua{sv}", group, 0));
}

char *claim_device(sd_bus *bus, const char *bdf) {
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", "sa{sv}", bdf, 0));
}

char *prepare(sd_bus *bus, const char *bdf, bool persistent) {
        if (persistent)
                return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "Prepare", "sa{sv}", bdf, 1,
                                          "persistent", "b", 1));
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "Prepare", "sa{sv}", bdf, 0));
}

void unprepare(sd_bus *bus, const char *bdf) {
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "Unprepare", "sa{sv}", bdf, 0));
}

void release(sd_bus *bus, const char *path) {
        sd_bus_message_unref(call_ok(bus, path, IFACE_LEASE, "Release", "a{sv}", 0));
}

/* Lease.OpenContainer/OpenGroup/OpenDevice: a copy of the fd, checked to be an open fd. */
int open_fd(sd_bus *bus, const char *path, const char *member, const char *address) {
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *reply = address ? call_ok(bus, path, IFACE_LEASE, member, "s",
                                                          address)
                                                : call_ok(bus, path, IFACE_LEASE, member, "");
        struct stat st;
        int fd, copy;

        ck_assert_int_ge(sd_bus_message_read(reply, "h", &fd), 0);
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ck_assert_msg(copy >= 0, "%s returned fd %d: %s", member, fd, strerror(errno));
        ck_assert_int_ge(fcntl(copy, F_GETFD), 0);
        ck_assert_int_ge(fcntl(copy, F_GETFL), 0);
        ck_assert_msg(fstat(copy, &st) == 0, "fstat of the %s fd: %s", member, strerror(errno));
        return copy;
}

/* ListLeases as [[id, path, group, kind, state, holder, uid], ...] (busctl's JSON). */
json_object *list_leases(void) {
        _cleanup_json_ json_object *reply = busctl((char *) "call", (char *) BUS_NAME,
                                                   (char *) OBJ_ROOT, (char *) IFACE_MANAGER,
                                                   (char *) "ListLeases");

        ck_assert_str_eq(jstr_or_null(reply, "type"), "a(tousssu)");
        return json_object_get(jidx(jget(reply, "data"), 0));
}

size_t n_leases(void) {
        _cleanup_json_ json_object *l = list_leases();

        return jlen(l);
}

/* The ListLeases row of a lease path, NULL when not listed (a new reference). */
json_object *lease_row(const char *path) {
        _cleanup_json_ json_object *l = list_leases();

        for (size_t i = 0; i < jlen(l); i++)
                if (streq(json_object_get_string(jidx(jidx(l, i), 1)), path))
                        return json_object_get(jidx(l, i));
        return NULL;
}

const char *row_str(json_object *row, size_t i) {
        return json_object_get_string(jidx(row, i));
}

json_object *lease_property(const char *path, const char *name) {
        _cleanup_json_ json_object *reply = get_property(path, IFACE_LEASE, name);

        return json_object_get(jget(reply, "data"));
}

/* Polls until no lease is listed and every member is on its host driver; the time it took. */
int64_t wait_group_back(char *const *bdfs, const char *driver, int timeout_ms) {
        int64_t start = now_usec(), deadline = start + (int64_t) timeout_ms * 1000;

        for (char *const *b = bdfs; *b; b++)
                while (!driver_is(*b, driver)) {
                        ck_assert_msg(now_usec() < deadline, "%s did not go back to %s in %d ms",
                                      *b, driver, timeout_ms);
                        sleep_ms(1);
                }
        /* The lease is forgotten in the same dispatch that restored the drivers, and ListLeases
         * is answered after it. */
        while (n_leases() != 0) {
                ck_assert_msg(now_usec() < deadline, "the lease is still listed after %d ms",
                              timeout_ms);
                sleep_ms(5);
        }
        return now_usec() - start;
}

/* ---- the polkit mock ---- */

void busctl_call(const char *dest, const char *path, const char *iface, char *const args[]) {
        char *argv[24] = { (char *) H.busctl, (char *) "--system", (char *) "call",
                           (char *) dest,     (char *) path,       (char *) iface };
        _cleanup_free_ char *err = NULL;
        size_t n = 6;
        int r;

        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        r = run_argv(argv, NULL, &err);
        ck_assert_msg(r == 0, "busctl call %s %s on %s failed (%d): %s", iface, args[0], dest, r,
                      err);
}

void polkit_call(char *const args[]) {
        busctl_call(POLKIT_NAME, POLKIT_AUTHORITY, POLKIT_MOCK, args);
}

void polkit_allow_all(void) {
        polkit_call((char *const[]) { (char *) "SetAllowed", (char *) "as", (char *) "3",
                                      (char *) ACTION_CLAIM, (char *) ACTION_PREPARE,
                                      (char *) ACTION_MANAGE, NULL });
}

void polkit_deny_all(void) {
        polkit_call((char *const[]) { (char *) "SetAllowed", (char *) "as", (char *) "0", NULL });
}

/* A daemon on a fresh copy of the host, with every action allowed by the polkit mock. */
void case_start(const char *host) {
        case_begin_data(host);
        polkit_allow_all();
        daemon_start();
}

void assert_q35_group_back(void) {
        assert_on_host(NIC1, NIC_DRIVER);
        assert_on_host(NIC2, NIC_DRIVER);
        assert_driver(Q35_BRIDGE, NULL);
        assert_override(Q35_BRIDGE, NULL);
        ck_assert_uint_eq(n_leases(), 0);
        assert_state_empty();
        ck_assert(!node_exists(Q35_GROUP));
}

uid_t node_owner(uint32_t group) {
        _cleanup_free_ char *p = xasprintf("%s/dev/vfio/%" PRIu32, C.dev, group);
        struct stat st;

        ck_assert_msg(stat(p, &st) == 0, "stat %s: %s", p, strerror(errno));
        return st.st_uid;
}

bool node_exists(uint32_t group) {
        _cleanup_free_ char *p = xasprintf("%s/dev/vfio/%" PRIu32, C.dev, group);

        return path_exists(p);
}

bool world_init(const char *who) {
        if (!harness_init())
                return false;
        if (!H.python3) {
                printf("SKIP: %s: python-dbusmock's polkitd is missing\n", who);
                return false;
        }
        mock_lib = getenv("VFIO_MOCK_LIB");
        if (isempty(mock_lib) || access(mock_lib, R_OK) < 0) {
                printf("SKIP: VFIO_MOCK_LIB (tests/mock/libvfio-mock.so) is not set or missing\n");
                return false;
        }
        return true;
}

void world_setup(const char *name) {
        _cleanup_free_ char *tmpl = xasprintf("/tmp/vfio-assignd-%s.XXXXXX", name);

        ck_assert_msg(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
        /* A program with two test cases sets up a world for each: the first one's paths go. */
        free(H.tmpdir);
        H.tmpdir = TAKE_PTR(tmpl);
        /* The bus socket lives here; callers switched to nobody must reach it. */
        ck_assert_int_eq(chmod(H.tmpdir, 0755), 0);
        free(H.polkit_log);
        H.polkit_log = path_join(H.tmpdir, "polkit.log");
        harness_start_bus();
}

int on_pending_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        PendingCall *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;

        p->done = true;
        if (e) {
                p->error_name = strdup(strna(e->name));
                p->error_message = strdup(strempty(e->message));
        } else if (sd_bus_message_read(m, "o", &path) > 0)
                p->path = strdup(path);
        return 0;
}

void pending_clear(PendingCall *p) {
        free(p->error_name);
        free(p->error_message);
        free(p->path);
        *p = (PendingCall) {};
}

/* Dispatches bus until the pending call has its reply (bounded). */
void pending_wait(sd_bus *bus, PendingCall *p) {
        int64_t deadline = now_usec() + WAIT_MS * 1000;

        while (!p->done) {
                int r = sd_bus_process(bus, NULL);

                ck_assert_int_ge(r, 0);
                if (r > 0)
                        continue;
                ck_assert_msg(now_usec() < deadline, "no reply in %d ms", WAIT_MS);
                ck_assert_int_ge(sd_bus_wait(bus, 100 * 1000), 0);
        }
}

char *lease_backend(const char *path) {
        _cleanup_json_ json_object *v = lease_property(path, "Backend");

        ck_assert(json_object_is_type(v, json_type_string));
        return strdup(json_object_get_string(v));
}

char *claim_q35_with_backend(sd_bus *bus, const char *backend) {
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimGroup", "ua{sv}", Q35_GROUP,
                                  1, "backend", "s", backend));
}

void case_start_iommufd(void) {
        _cleanup_free_ char *spec = path_join(H.tmpdir, "q35-iommufd.host");
        _cleanup_free_ char *text = xasprintf("include %s/%s\niommufd\n",
                                              getenv("TEST_DATA_DIR") ?: "tests/data", Q35_HOST);
        _cleanup_free_ char *devdir = NULL, *node = NULL;

        write_file(spec, text);
        case_begin(spec);
        /* The world's dev root is a directory of its own: the node goes there too. */
        devdir = path_join(C.dev, "dev");
        node = path_join(devdir, "iommu");
        ck_assert_int_eq(mkdir(devdir, 0755), 0);
        write_file(node, "");
        polkit_allow_all();
        daemon_start();
}

void case_start_backend(const char *backend) {
        if (streq(backend, "iommufd"))
                case_start_iommufd();
        else
                case_start(Q35_HOST);
}

void wait_hanging(const char *bdf) {
        int64_t deadline = now_usec() + WAIT_MS * 1000LL;

        while (!mock_is_hanging(C.host, bdf)) {
                ck_assert_msg(now_usec() < deadline, "nothing of %s hangs", bdf);
                sleep_ms(5);
        }
}

json_object *bus_report(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *reply = call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "GetHostReport", "");
        const char *json;

        ck_assert_int_ge(sd_bus_message_read(reply, "s", &json), 0);
        return parse_json(json, "GetHostReport");
}

/* ---- persistent prepares ---- */

json_object *persistent_devices(void) {
        _cleanup_free_ char *p = path_join(C.state, PERSISTENT_FILE);
        _cleanup_free_ char *text = read_file_or_abort(p);
        _cleanup_json_ json_object *o = parse_json(text, p);

        return json_object_get(jget(o, "devices"));
}

bool persistent_lists(json_object *devices, const char *bdf) {
        for (size_t i = 0; i < jlen(devices); i++)
                if (streq(jstr_or_null(jidx(devices, i), "address"), bdf))
                        return true;
        return false;
}

/* What a reboot does to a prepared group: the overrides are gone and the host drivers bind. */
void reboot_to_host_drivers(const char *const *bdfs, const char *driver) {
        _cleanup_free_ char *script = NULL;

        for (size_t i = 0; bdfs[i]; i++)
                ck_assert_int_ge(strextendf(&script, "",
                                            "echo > \"$1/" SYSFS_PCI_DEVICES
                                            "/%s/driver_override\"\n"
                                            "echo %s > \"$1/" SYSFS_PCI_DRIVERS
                                            "/vfio-pci/unbind\"\n"
                                            "echo %s > \"$1/" SYSFS_PCI_DRIVERS "/%s/bind\"\n",
                                            bdfs[i], bdfs[i], bdfs[i], driver),
                                 0);
        mock_sh(script);
        for (size_t i = 0; bdfs[i]; i++)
                assert_on_host(bdfs[i], driver);
        /* /run does not survive a reboot. */
        {
                _cleanup_free_ char *state = path_join(C.run, STATE_FILE);

                ck_assert_msg(unlink(state) == 0, "unlink %s: %s", state, strerror(errno));
        }
}

void swap_card(const char *bdf, const char *subsystem_device) {
        _cleanup_free_ char *p = xasprintf("%s/" SYSFS_PCI_DEVICES "/%s/subsystem_device", C.host,
                                           bdf);
        _cleanup_free_ char *text = xasprintf("%s\n", subsystem_device);

        ck_assert_msg(unlink(p) == 0, "unlink %s: %s", p, strerror(errno));
        write_file(p, text);
}

json_object *report_entry(sd_bus *bus, const char *list_name, const char *bdf) {
        _cleanup_json_ json_object *report = bus_report(bus);
        json_object *list = jget(report, list_name);

        for (size_t i = 0; i < jlen(list); i++)
                if (streq(jstr_or_null(jidx(list, i), "address"), bdf))
                        return json_object_get(jidx(list, i));
        ck_abort_msg("GetHostReport's \"%s\" lists no %s: %s", list_name, bdf,
                     json_object_to_json_string(list));
}

void assert_solo5_record(json_object *d) {
        ck_assert_str_eq(jstr_or_null(d, "address"), SOLO5);
        ck_assert_str_eq(jstr_or_null(d, "vendor"), "0x8086");
        ck_assert_str_eq(jstr_or_null(d, "device"), "0x10d3");
        ck_assert_str_eq(jstr_or_null(d, "subsystem_vendor"), "0x8086");
        ck_assert_str_eq(jstr_or_null(d, "subsystem_device"), "0x0000");
        ck_assert_int_eq(json_object_get_int64(jget(d, "group")), SOLO5_GROUP);
}
