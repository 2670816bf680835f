/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "names.h"
#include "util.h"

Harness H = { .daemon_status = -1, .bus_stdout = -1 };

/* A runaway child must not eat the machine's memory. */
#define MAX_OUTPUT (64u * 1024u * 1024u)
/* Generous: the daemon may run under valgrind (VFIO_ASSIGND pointing at a wrapper). */
#define DAEMON_START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 30000

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *xstrdup(const char *s) {
        char *p = strdup(s);

        ck_assert_msg(p, "out of memory");
        return p;
}

static char *xasprintf(const char *fmt, ...) _printf_(1, 2);
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        ck_assert_msg(r >= 0, "out of memory");
        return p;
}

char *path_join(const char *a, const char *b) {
        return xasprintf("%s/%s", a, b);
}

bool path_exists(const char *p) {
        struct stat st;

        return lstat(p, &st) == 0;
}

char *read_file_or_abort(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;
        ssize_t n;

        ck_assert_msg(f, "cannot open %s: %s", path, strerror(errno));
        n = getdelim(&buf, &size, '\0', f);
        ck_assert_msg(n >= 0 || feof(f), "cannot read %s", path);
        /* An empty file: getdelim() may have allocated without writing a NUL. */
        if (n < 0) {
                free(buf);
                buf = xstrdup("");
        }
        return buf;
}

int exit_code_of(int wstatus) {
        if (WIFEXITED(wstatus))
                return WEXITSTATUS(wstatus);
        if (WIFSIGNALED(wstatus))
                return 128 + WTERMSIG(wstatus);
        return 255;
}

/* Appends what is available on fd; returns false at EOF. */
static bool drain(int fd, char **buf, size_t *n) {
        char chunk[8192];
        ssize_t k;

        k = read(fd, chunk, sizeof(chunk));
        if (k < 0)
                return errno == EAGAIN || errno == EINTR;
        if (k == 0)
                return false;
        ck_assert_msg(*n + (size_t) k < MAX_OUTPUT, "child wrote more than %u bytes", MAX_OUTPUT);
        *buf = realloc(*buf, *n + (size_t) k + 1);
        ck_assert_msg(*buf, "out of memory");
        memcpy(*buf + *n, chunk, (size_t) k);
        *n += (size_t) k;
        (*buf)[*n] = '\0';
        return true;
}

static pid_t spawn_in(const char *cwd, char *const argv[], int out_fd, int err_fd) {
        pid_t pid = fork();

        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
                    dup2(err_fd, STDERR_FILENO) < 0)
                        _exit(127);
                if (cwd && chdir(cwd) < 0) {
                        dprintf(STDERR_FILENO, "chdir %s: %s\n", cwd, strerror(errno));
                        _exit(127);
                }
                /* Check blocks nothing, but be sure the child sees default signal handling. */
                signal(SIGPIPE, SIG_DFL);
                execvp(argv[0], argv);
                dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        return pid;
}

static pid_t spawn(char *const argv[], int out_fd, int err_fd) {
        return spawn_in(NULL, argv, out_fd, err_fd);
}

int run_argv(char *const argv[], char **ret_out, char **ret_err) {
        return run_argv_in(NULL, argv, ret_out, ret_err);
}

int run_argv_in(const char *cwd, char *const argv[], char **ret_out, char **ret_err) {
        int out[2], err[2], wstatus;
        char *bufs[2] = { NULL, NULL };
        size_t ns[2] = { 0, 0 };
        bool open_[2] = { true, true };
        int64_t deadline = now_ms() + RUN_TIMEOUT_S * 1000;
        pid_t pid;

        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
        pid = spawn_in(cwd, argv, out[1], err[1]);
        close(out[1]);
        close(err[1]);

        while (open_[0] || open_[1]) {
                struct pollfd p[2] = {
                        { .fd = open_[0] ? out[0] : -1, .events = POLLIN },
                        { .fd = open_[1] ? err[0] : -1, .events = POLLIN },
                };
                int64_t left = deadline - now_ms();

                if (left <= 0) {
                        kill(pid, SIGKILL);
                        break;
                }
                if (poll(p, 2, (int) MIN(left, 1000)) < 0 && errno != EINTR)
                        ck_abort_msg("poll: %s", strerror(errno));
                for (int i = 0; i < 2; i++)
                        if (open_[i] && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                open_[i] = drain(p[i].fd, &bufs[i], &ns[i]);
        }
        close(out[0]);
        close(err[0]);
        ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);

        for (int i = 0; i < 2; i++)
                if (!bufs[i])
                        bufs[i] = xstrdup("");
        if (ret_out)
                *ret_out = bufs[0];
        else
                free(bufs[0]);
        if (ret_err)
                *ret_err = bufs[1];
        else
                free(bufs[1]);
        return exit_code_of(wstatus);
}

/* ---- background processes ---- */

void proc_start(Proc *p, char *const argv[]) {
        int out[2], err[2];

        *p = (Proc) { .out_fd = -1, .err_fd = -1 };
        ck_assert_int_eq(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
        ck_assert_int_eq(pipe2(err, O_CLOEXEC | O_NONBLOCK), 0);
        p->pid = spawn(argv, out[1], err[1]);
        close(out[1]);
        close(err[1]);
        p->out_fd = out[0];
        p->err_fd = err[0];
}

/* Waits up to timeout_ms for output; false when both streams are closed. */
static bool proc_read(Proc *p, int timeout_ms) {
        struct pollfd fds[2] = {
                { .fd = p->out_fd, .events = POLLIN },
                { .fd = p->err_fd, .events = POLLIN },
        };

        if (p->out_fd < 0 && p->err_fd < 0)
                return false;
        if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR)
                ck_abort_msg("poll: %s", strerror(errno));
        if (p->out_fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
            !drain(p->out_fd, &p->out, &p->n_out))
                p->out_fd = safe_close(p->out_fd);
        if (p->err_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
            !drain(p->err_fd, &p->err, &p->n_err))
                p->err_fd = safe_close(p->err_fd);
        return true;
}

bool proc_wait_stderr(Proc *p, const char *needle, int timeout_ms) {
        int64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                int64_t left;

                if (p->err && strstr(p->err, needle))
                        return true;
                left = deadline - now_ms();
                if (left <= 0 || !proc_read(p, (int) left))
                        return false;
        }
}

bool match_any(const char *line, const void *data) {
        return true;
}

bool match_substring(const char *line, const void *needle) {
        return strstr(line, needle) != NULL;
}

const char *proc_wait_line(Proc *p, bool (*match)(const char *line, const void *data),
                           const void *data, int timeout_ms) {
        int64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                int64_t left;

                while (p->out && p->out_consumed < p->n_out) {
                        char *start = p->out + p->out_consumed;
                        char *nl = memchr(start, '\n', p->n_out - p->out_consumed);

                        if (!nl)
                                break;
                        free(p->line);
                        p->line = strndup(start, (size_t) (nl - start));
                        ck_assert_msg(p->line, "out of memory");
                        p->out_consumed += (size_t) (nl - start) + 1;
                        if (match(p->line, data))
                                return p->line;
                }
                left = deadline - now_ms();
                if (left <= 0 || !proc_read(p, (int) left))
                        return NULL;
        }
}

int wait_exit(pid_t pid, int timeout_ms) {
        int64_t deadline = now_ms() + timeout_ms;
        int wstatus;

        for (;;) {
                pid_t r = waitpid(pid, &wstatus, WNOHANG);

                if (r == pid)
                        return wstatus;
                ck_assert_msg(r == 0, "waitpid(%d): %s", (int) pid, strerror(errno));
                if (now_ms() > deadline) {
                        kill(pid, SIGKILL);
                        ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
                        return wstatus;
                }
                /* Bounded poll for a process exit; nothing to wait on but time here. */
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
}

int proc_stop(Proc *p, int sig) {
        int wstatus;

        if (p->pid <= 0)
                return -1;
        kill(p->pid, sig);
        /* Keep draining so a child blocked on a full pipe can exit. */
        while (p->out_fd >= 0 || p->err_fd >= 0)
                if (!proc_read(p, 1000))
                        break;
        wstatus = wait_exit(p->pid, STOP_TIMEOUT_MS);
        p->pid = 0;
        p->out_fd = safe_close(p->out_fd);
        p->err_fd = safe_close(p->err_fd);
        free(p->out);
        free(p->err);
        free(p->line);
        p->out = p->err = p->line = NULL;
        return exit_code_of(wstatus);
}

/* ---- setup ---- */

static const char *find_program(const char *env, const char *name) {
        static char buf[2][PATH_MAX];
        static int slot;
        const char *v = getenv(env), *path = getenv("PATH");
        char *copy, *saveptr = NULL;

        if (v)
                return access(v, X_OK) == 0 ? v : NULL;
        if (!path)
                path = "/usr/bin:/bin";
        /* Runs before Check does: no ck_assert here (it would report to a runner not there). */
        copy = strdup(path);
        if (!copy)
                return NULL;
        for (char *dir = strtok_r(copy, ":", &saveptr); dir; dir = strtok_r(NULL, ":", &saveptr)) {
                char *slotbuf = buf[slot];

                snprintf(slotbuf, PATH_MAX, "%s/%s", dir, name);
                if (access(slotbuf, X_OK) == 0) {
                        slot = (slot + 1) % 2;
                        free(copy);
                        return slotbuf;
                }
        }
        free(copy);
        return NULL;
}

static const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);

        return isempty(v) ? fallback : v;
}

/* Runs before Check does, so no ck_assert here either. */
static bool python_has_dbusmock(const char *python) {
        int wstatus;
        pid_t pid;

        if (access(python, X_OK) < 0)
                return false;
        pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
                        _exit(127);
                execl(python, python, "-c", "import dbusmock", (char *) NULL);
                _exit(127);
        }
        while (waitpid(pid, &wstatus, 0) < 0)
                if (errno != EINTR)
                        return false;
        return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
}

bool harness_init(void) {
        static char host_file[PATH_MAX], bus_conf[PATH_MAX];
        const char *data = env_or("TEST_DATA_DIR", "tests/data");

        H.top_srcdir = env_or("TOP_SRCDIR", ".");
        H.vfio_assignd = env_or("VFIO_ASSIGND", "./vfio-assignd");
        H.assignctl = env_or("ASSIGNCTL", "./assignctl");
        H.mkhost = env_or("MKHOST", "./tests/mkhost");
        snprintf(bus_conf, sizeof(bus_conf), "%s/tests/test-system-bus.conf", H.top_srcdir);
        H.bus_conf = env_or("TEST_BUS_CONF", bus_conf);
        snprintf(host_file, sizeof(host_file), "%s/hosts/workstation.host", data);
        H.host_file = host_file;

        H.dbus_daemon = find_program("DBUS_DAEMON", "dbus-daemon");
        H.busctl = find_program("BUSCTL", "busctl");
        if (!H.dbus_daemon || !H.busctl) {
                printf("SKIP: %s not found\n", !H.dbus_daemon ? "dbus-daemon" : "busctl");
                return false;
        }
        /* pyenv's python3 on PATH has no dbusmock; the distribution's does. */
        H.python3 = env_or("DBUSMOCK_PYTHON", "/usr/bin/python3");
        if (!python_has_dbusmock(H.python3)) {
                printf("NOTE: %s cannot import dbusmock: the polkit tests are left out\n",
                       H.python3);
                H.python3 = NULL;
        }
        return true;
}

void mkhost_spec(const char *spec, const char *dir) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = run(&out, &err, (char *) H.mkhost, (char *) spec, (char *) dir);
        ck_assert_msg(r == 0, "%s %s %s failed (%d): %s%s", H.mkhost, spec, dir, r, out, err);
}

static void mkhost(const char *dir) {
        mkhost_spec(H.host_file, dir);
}

char *read_line(int fd, int timeout_ms) {
        int64_t deadline = now_ms() + timeout_ms;
        char *buf = NULL, *nl;
        size_t n = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - now_ms();

                if (buf && (nl = strchr(buf, '\n'))) {
                        *nl = '\0';
                        return buf;
                }
                if (left <= 0 || poll(&p, 1, (int) left) <= 0 || !drain(fd, &buf, &n)) {
                        free(buf);
                        return NULL;
                }
        }
}

pid_t bus_start(const char *socket_path, char **ret_address, int *ret_stdout) {
        _cleanup_free_ char *listen = xasprintf("--address=unix:path=%s", socket_path);
        _cleanup_free_ char *conf = xasprintf("--config-file=%s", H.bus_conf);
        _cleanup_free_ char *log_path = xasprintf("%s.log", socket_path);
        _cleanup_close_ int log = -1;
        int out[2];
        pid_t pid;

        /* Its stderr goes to a file, never to a pipe we might close: dbus-daemon logs (e.g.
         * "became a monitor") and would die of SIGPIPE on a closed one. */
        log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        ck_assert_msg(log >= 0, "%s: %s", log_path, strerror(errno));
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        pid = spawn((char *const[]) { (char *) H.dbus_daemon, conf, listen, (char *) "--nofork",
                                      (char *) "--nopidfile", (char *) "--print-address=1", NULL },
                    out[1], log);
        close(out[1]);
        *ret_address = read_line(out[0], 10000);
        if (!*ret_address) {
                _cleanup_free_ char *text = read_file_or_abort(log_path);

                ck_abort_msg("dbus-daemon did not start: %s", text);
        }
        /* Kept open until the bus is stopped, for the same SIGPIPE reason. */
        *ret_stdout = out[0];
        return pid;
}

void bus_stop(pid_t pid, int stdout_fd) {
        kill(pid, SIGTERM);
        (void) wait_exit(pid, STOP_TIMEOUT_MS);
        safe_close(stdout_fd);
}

static void start_bus(void) {
        _cleanup_free_ char *socket_path = path_join(H.tmpdir, "bus");

        H.bus_address = mfree(H.bus_address); /* a previous world's */
        H.bus_pid = bus_start(socket_path, &H.bus_address, &H.bus_stdout);
        /* The daemon and every client we run find the bus through this (sd_bus_open_system). */
        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", H.bus_address, 1), 0);
}

static void start_daemon(void) {
        _cleanup_free_ char *cdi = NULL;
        _cleanup_close_ int log = -1;

        log = open(H.daemon_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        ck_assert_msg(log >= 0, "%s: %s", H.daemon_log, strerror(errno));
        /* Temporary policy, runtime and state directories and CDI spec: without them the daemon
         * would read /etc and write /run and /var/lib. */
        cdi = xasprintf("--cdi-spec=%s/cdi/vfio-assignd.json", H.tmpdir);
        H.daemon_pid = spawn((char *const[]) { (char *) H.vfio_assignd, (char *) "--sysfs-root",
                                               H.hostdir, (char *) "--uevent-fifo", H.fifo,
                                               (char *) "--policy-dir", H.policy_dir,
                                               (char *) "--runtime-dir", H.runtime_dir,
                                               (char *) "--state-dir", H.state_dir, cdi, NULL },
                             log, log);
}

void write_file(const char *path, const char *text) {
        _cleanup_close_ int fd = -1;
        size_t n = strlen(text);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
        ck_assert_msg(write(fd, text, n) == (ssize_t) n, "write %s: %s", path, strerror(errno));
}

/* The shipped example with every "vmm" made POLICY_USER; fails if there was none to replace. */
static char *gpu_policy(void) {
        _cleanup_free_ char *path = path_join(H.top_srcdir, "policy/examples/gpu-passthrough.json");
        _cleanup_free_ char *text = read_file_or_abort(path);
        const char *from = "\"vmm\"", *to = "\"" POLICY_USER "\"";
        char *out = NULL;
        const char *p = text, *hit;
        size_t n = 0;

        while ((hit = strstr(p, from))) {
                ck_assert_int_ge(strextendf(&out, "", "%.*s%s", (int) (hit - p), p, to), 0);
                p = hit + strlen(from);
                n++;
        }
        ck_assert_msg(n > 0, "%s names no user \"vmm\" any more", path);
        ck_assert_int_ge(strextendf(&out, "", "%s", p), 0);
        return out;
}

static void make_policy_dir(void) {
        _cleanup_free_ char *src = path_join(H.top_srcdir, "policy/" POLICY_FILE_DEFAULT);
        _cleanup_free_ char *dflt = read_file_or_abort(src), *gpu = gpu_policy();
        _cleanup_free_ char *p1 = path_join(H.policy_dir, POLICY_FILE_DEFAULT);
        _cleanup_free_ char *p2 = path_join(H.policy_dir, POLICY_FILE_GPU);

        ck_assert_msg(mkdir(H.policy_dir, 0755) == 0, "mkdir %s: %s", H.policy_dir,
                      strerror(errno));
        write_file(p1, dflt);
        write_file(p2, gpu);
}

static void start_polkit_mock(void) {
        _cleanup_close_ int log = -1;

        log = open(H.polkit_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        ck_assert_msg(log >= 0, "%s: %s", H.polkit_log, strerror(errno));
        /* The polkitd template owns org.freedesktop.PolicyKit1 on $DBUS_SYSTEM_BUS_ADDRESS and
         * denies every action until told otherwise (org.freedesktop.DBus.Mock.SetAllowed). */
        H.polkit_pid = spawn((char *const[]) { (char *) H.python3, (char *) "-m",
                                               (char *) "dbusmock", (char *) "--template",
                                               (char *) "polkitd", NULL },
                             log, log);
}

static void dump_daemon_log(void) {
        _cleanup_free_ char *log = NULL;

        if (!H.daemon_log || !path_exists(H.daemon_log))
                return;
        log = read_file_or_abort(H.daemon_log);
        fprintf(stderr, "---- %s ----\n%s---- end ----\n", H.daemon_log, log);
}

/* Event-driven wait for a bus name, with a wake-up now and then to notice an owner that died. */
void wait_for_name(const char *name, pid_t *pid, const char *log) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int64_t deadline = now_ms() + DAEMON_START_TIMEOUT_MS;
        int r;

        r = sd_bus_open_system(&bus);
        ck_assert_msg(r >= 0, "cannot connect to the private bus: %s", strerror(-r));
        r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "NameOwnerChanged", NULL, NULL);
        ck_assert_msg(r >= 0, "AddMatch: %s", strerror(-r));

        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                int has = 0, wstatus;

                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s",
                                       name);
                ck_assert_msg(r >= 0, "NameHasOwner: %s", strerror(-r));
                ck_assert_int_ge(sd_bus_message_read(reply, "b", &has), 0);
                if (has)
                        return;
                if (waitpid(*pid, &wstatus, WNOHANG) == *pid) {
                        _cleanup_free_ char *text = read_file_or_abort(log);

                        *pid = 0;
                        ck_abort_msg("the owner of %s exited with %d before taking it:\n%s", name,
                                     exit_code_of(wstatus), text);
                }
                ck_assert_msg(now_ms() < deadline, "nobody took %s in %d ms", name,
                              DAEMON_START_TIMEOUT_MS);
                /* Returns on any traffic (the NameOwnerChanged we matched) or after 100 ms. */
                do {
                        r = sd_bus_process(bus, NULL);
                        ck_assert_int_ge(r, 0);
                } while (r > 0);
                ck_assert_int_ge(sd_bus_wait(bus, 100 * 1000), 0);
        }
}

void harness_start_bus(void) {
        start_bus();
        if (H.python3) {
                start_polkit_mock();
                wait_for_name("org.freedesktop.PolicyKit1", &H.polkit_pid, H.polkit_log);
        }
}

pid_t spawn_logged(char *const argv[], char *const env[], const char *log_path,
                   bool die_with_parent) {
        _cleanup_close_ int log = -1;
        pid_t parent = getpid(), pid;

        log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ck_assert_msg(log >= 0, "%s: %s", log_path, strerror(errno));
        pid = fork();
        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                /* A test that fails leaves through exit() without its teardown: whatever it
                 * started must not outlive it and hold the bus name or the group. */
                if (die_with_parent &&
                    (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
                        _exit(127);
                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 ||
                    dup2(log, STDERR_FILENO) < 0)
                        _exit(127);
                for (size_t i = 0; env && env[i]; i++)
                        if (putenv(env[i]) < 0)
                                _exit(127);
                signal(SIGPIPE, SIG_DFL);
                execvp(argv[0], argv);
                dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        return pid;
}

void harness_setup(void) {
        char tmpl[] = "/tmp/vfio-assignd-integration.XXXXXX";

        ck_assert_msg(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
        H.tmpdir = xstrdup(tmpl);
        H.hostdir = path_join(H.tmpdir, "host");
        H.pristine = path_join(H.tmpdir, "pristine");
        H.fifo = path_join(H.tmpdir, "uevents");
        H.daemon_log = path_join(H.tmpdir, "daemon.log");
        H.policy_dir = path_join(H.tmpdir, "policy.d");
        H.runtime_dir = path_join(H.tmpdir, "run");
        H.state_dir = path_join(H.tmpdir, "state");
        H.polkit_log = path_join(H.tmpdir, "polkit.log");

        mkhost(H.hostdir);
        mkhost(H.pristine);
        make_policy_dir();
        ck_assert_msg(mkfifo(H.fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
        harness_start_bus();
        start_daemon();
        wait_for_name(BUS_NAME, &H.daemon_pid, H.daemon_log);
}

void harness_teardown(void) {
        bool keep = getenv("KEEP_TEST_DIR") != NULL;

        if (H.daemon_pid > 0) {
                kill(H.daemon_pid, SIGTERM);
                H.daemon_status = wait_exit(H.daemon_pid, STOP_TIMEOUT_MS);
                H.daemon_pid = 0;
                if (exit_code_of(H.daemon_status) != 0) {
                        dump_daemon_log();
                        keep = true;
                }
        }
        if (H.polkit_pid > 0) {
                kill(H.polkit_pid, SIGTERM);
                (void) wait_exit(H.polkit_pid, STOP_TIMEOUT_MS);
                H.polkit_pid = 0;
        }
        if (H.bus_pid > 0) {
                bus_stop(H.bus_pid, H.bus_stdout);
                H.bus_pid = 0;
                H.bus_stdout = -1;
        }
        if (H.tmpdir && !keep)
                (void) run(NULL, NULL, (char *) "rm", (char *) "-rf", (char *) "--", H.tmpdir);
        else if (H.tmpdir)
                fprintf(stderr, "Keeping %s\n", H.tmpdir);
}

json_object *parse_json(const char *text, const char *what) {
        enum json_tokener_error e = json_tokener_success;
        json_object *o = json_tokener_parse_verbose(text, &e);

        ck_assert_msg(o, "%s is not JSON (%s):\n%s", what, json_tokener_error_desc(e), text);
        return o;
}

json_object *daemon_report(void) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = run(&out, &err, (char *) H.vfio_assignd, (char *) "--report", (char *) "--sysfs-root",
                H.hostdir, (char *) "--state-dir", H.state_dir);
        ck_assert_msg(r == 0, "vfio-assignd --report failed (%d): %s", r, err);
        return parse_json(out, "vfio-assignd --report");
}

/* ---- host tree edits ---- */

static void add_if_exists(char ***l, const char *root, char *rel /* takes */) {
        _cleanup_free_ char *abs = path_join(root, rel);

        if (path_exists(abs))
                ck_assert_int_ge(strv_extend(l, rel), 0);
        free(rel);
}

/* Relative paths (under root) of the links that name bdf: the bus entry, the group's entry and
 * the driver's entry, as the kernel lays them out (Documentation/ABI/testing/sysfs-bus-pci,
 * sysfs-kernel-iommu_groups). NULL-terminated; caller frees. */
static char **device_links(const char *root, const char *bdf) {
        static const char *const parents[] = { SYSFS_IOMMU_GROUPS, SYSFS_PCI_DRIVERS };
        char **l = NULL;

        add_if_exists(&l, root, xasprintf("%s/%s", SYSFS_PCI_DEVICES, bdf));
        for (size_t i = 0; i < ELEMENTSOF(parents); i++) {
                _cleanup_free_ char *dir = path_join(root, parents[i]);
                _cleanup_closedir_ DIR *d = opendir(dir);

                if (!d)
                        continue;
                for (struct dirent *de; (de = readdir(d));) {
                        if (de->d_name[0] == '.')
                                continue;
                        /* groups hold devices/BDF, drivers hold BDF directly */
                        add_if_exists(&l, root,
                                      i == 0 ? xasprintf("%s/%s/devices/%s", parents[i], de->d_name,
                                                         bdf)
                                             : xasprintf("%s/%s/%s", parents[i], de->d_name, bdf));
                }
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                ck_assert_msg(l, "out of memory");
        }
        return l;
}

/* The device directory of bdf below root, relative to root (the target of the bus link). */
static char *device_dir(const char *root, const char *bdf) {
        _cleanup_free_ char *link = xasprintf("%s/%s/%s", root, SYSFS_PCI_DEVICES, bdf);
        _cleanup_free_ char *real_root = realpath(root, NULL);
        _cleanup_free_ char *real = realpath(link, NULL);
        size_t n;

        ck_assert_msg(real && real_root, "%s does not resolve: %s", link, strerror(errno));
        n = strlen(real_root);
        ck_assert_msg(strneq(real, real_root, n) && real[n] == '/', "%s leaves %s", real, root);
        return xstrdup(real + n + 1);
}

static void copy_from_pristine(const char *rel) {
        _cleanup_free_ char *src = path_join(H.pristine, rel), *dst = path_join(H.hostdir, rel);
        _cleanup_free_ char *err = NULL;
        int r;

        /* cp -a copies links as links, so relative targets stay right. */
        r = run(NULL, &err, (char *) "cp", (char *) "-a", (char *) "--", src, dst);
        ck_assert_msg(r == 0, "cp -a %s %s: %s", src, dst, err);
}

void host_remove_device(const char *bdf) {
        _cleanup_free_ char *dir = device_dir(H.hostdir, bdf);
        _cleanup_free_ char *abs = path_join(H.hostdir, dir);
        _cleanup_strv_free_ char **links = device_links(H.hostdir, bdf);
        int r;

        r = run(NULL, NULL, (char *) "rm", (char *) "-rf", (char *) "--", abs);
        ck_assert_int_eq(r, 0);
        for (char **l = links; *l; l++) {
                _cleanup_free_ char *p = path_join(H.hostdir, *l);

                ck_assert_msg(unlink(p) == 0, "unlink %s: %s", p, strerror(errno));
        }
}

void host_restore_device(const char *bdf) {
        _cleanup_free_ char *dir = device_dir(H.pristine, bdf);
        _cleanup_strv_free_ char **links = device_links(H.pristine, bdf);

        copy_from_pristine(dir);
        for (char **l = links; *l; l++)
                copy_from_pristine(*l);
}

static char **driver_links(const char *root, const char *bdf) {
        _cleanup_strv_free_ char **all = device_links(root, bdf);
        _cleanup_free_ char *dir = device_dir(root, bdf);
        char **l = calloc(strv_length(all) + 2, sizeof(char *));
        size_t n = 0;

        ck_assert_msg(l, "out of memory");
        l[n++] = xasprintf("%s/driver", dir);
        for (char **i = all; *i; i++)
                if (strneq(*i, SYSFS_PCI_DRIVERS "/", strlen(SYSFS_PCI_DRIVERS) + 1))
                        l[n++] = xstrdup(*i);
        return l;
}

void host_unbind_device(const char *bdf) {
        _cleanup_strv_free_ char **links = driver_links(H.hostdir, bdf);

        for (char **l = links; *l; l++) {
                _cleanup_free_ char *p = path_join(H.hostdir, *l);

                if (unlink(p) < 0)
                        ck_assert_msg(errno == ENOENT, "unlink %s: %s", p, strerror(errno));
        }
}

void host_rebind_device(const char *bdf) {
        _cleanup_strv_free_ char **links = driver_links(H.pristine, bdf);

        for (char **l = links; *l; l++) {
                _cleanup_free_ char *p = path_join(H.pristine, *l);

                if (path_exists(p))
                        copy_from_pristine(*l);
        }
}

void send_uevent(const char *action, const char *bdf) {
        int64_t deadline = now_ms() + 10000;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *line = xasprintf("%s %s\n", action, bdf);
        ssize_t n;

        /* O_NONBLOCK: fails with ENXIO instead of hanging when the daemon is not reading. */
        for (;;) {
                fd = open(H.fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0 || errno != ENXIO || now_ms() > deadline)
                        break;
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        ck_assert_msg(fd >= 0, "open %s: %s (is vfio-assignd reading it?)", H.fifo,
                      strerror(errno));
        n = write(fd, line, strlen(line));
        /* Lines shorter than PIPE_BUF are written whole (pipe(7)). */
        ck_assert_msg(n == (ssize_t) strlen(line), "write %s: %s", H.fifo, strerror(errno));
}

/* ---- assertions and clients shared by the test programs ---- */

json_object *jget(json_object *o, const char *key) {
        json_object *v = NULL;

        ck_assert_msg(json_object_is_type(o, json_type_object), "not an object looking up %s", key);
        ck_assert_msg(json_object_object_get_ex(o, key, &v), "key %s missing in %s", key,
                      json_object_to_json_string(o));
        return v;
}

const char *jstr_or_null(json_object *o, const char *key) {
        json_object *v = jget(o, key);

        if (!v)
                return NULL;
        ck_assert_msg(json_object_is_type(v, json_type_string), "%s is not a string", key);
        return json_object_get_string(v);
}

json_object *jidx(json_object *array, size_t i) {
        ck_assert_msg(json_object_is_type(array, json_type_array), "not an array");
        ck_assert_uint_lt(i, json_object_array_length(array));
        return json_object_array_get_idx(array, i);
}

size_t jlen(json_object *array) {
        ck_assert_msg(json_object_is_type(array, json_type_array), "not an array: %s",
                      json_object_to_json_string(array));
        return json_object_array_length(array);
}

void assert_json_equal(json_object *a, json_object *b, const char *what) {
        ck_assert_msg(json_object_equal(a, b), "%s differ:\n%s\n---\n%s", what,
                      json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY),
                      json_object_to_json_string_ext(b, JSON_C_TO_STRING_PRETTY));
}

json_object *busctl_json(char *const args[]) {
        char *argv[16] = { (char *) H.busctl, (char *) "--system", (char *) "--json=short" };
        _cleanup_free_ char *out = NULL, *err = NULL;
        size_t n = 3;
        int r;

        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        r = run_argv(argv, &out, &err);
        ck_assert_msg(r == 0, "busctl %s %s failed (%d): %s", args[0], args[1] ? args[1] : "", r,
                      err);
        return parse_json(out, "busctl output");
}

json_object *get_property(const char *path, const char *iface, const char *name) {
        return busctl((char *) "get-property", (char *) BUS_NAME, (char *) path, (char *) iface,
                      (char *) name);
}

int assignctl(char **out, char **err, char *const args[]) {
        char *argv[16] = { (char *) H.assignctl };
        size_t n = 1;

        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        return run_argv(argv, out, err);
}
