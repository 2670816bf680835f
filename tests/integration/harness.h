/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for the integration tests: child processes with captured output, a private system bus,
 * vfio-assignd on a sample host tree, and edits of that tree for hotplug. Test-only code: it
 * aborts the test (ck_abort) instead of returning errors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "macro.h"

/* Everything one test run shares; set up once by the unchecked fixture in the parent process and
 * inherited by each forked test. */
typedef struct Harness {
        char *tmpdir;      /* removed at the end unless something failed */
        char *hostdir;     /* the tree the daemon watches; tests edit it */
        char *pristine;    /* an untouched copy of the same host, to restore from */
        char *fifo;        /* --uevent-fifo */
        char *daemon_log;  /* stdout+stderr of vfio-assignd */
        char *bus_address; /* also exported as DBUS_SYSTEM_BUS_ADDRESS */
        char *policy_dir;  /* --policy-dir: policy/default.json and 50-gpu.json (see below) */
        char *runtime_dir; /* --runtime-dir */
        char *state_dir;   /* --state-dir */
        char *polkit_log;  /* the polkit mock's output */
        pid_t polkit_pid;  /* python-dbusmock's polkitd template, 0 when not available */
        pid_t bus_pid;
        int bus_stdout; /* kept open while the bus runs, see bus_start() */
        pid_t daemon_pid;
        int daemon_status; /* waitpid() status after SIGTERM, -1 before */
        /* Paths of the programs and data (from the environment, see tests/tests.mk). */
        const char *vfio_assignd;
        const char *assignctl;
        const char *mkhost;
        const char *busctl;
        const char *dbus_daemon;
        const char *bus_conf;
        const char *host_file;
        const char *top_srcdir;
        const char *python3; /* one with python-dbusmock (not pyenv's); NULL if none */
} Harness;

/* The policy the daemon starts with: the vendor default and the shipped GPU example, whose
 * user "vmm" is replaced by this one (which exists on every system). */
#define POLICY_USER "nobody"
#define POLICY_FILE_DEFAULT "default.json"
#define POLICY_FILE_GPU "50-gpu.json"

extern Harness H;

static inline void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

/* Exit code of a finished child: its status, or 128 + signal like a shell. */
int exit_code_of(int wstatus);

/* Runs argv (NULL-terminated; argv[0] searched in $PATH) to completion with stdin on /dev/null;
 * returns the exit code and the whole of stdout and stderr (NUL-terminated, caller frees; either
 * pointer may be NULL). A child still running after RUN_TIMEOUT_S is killed (exit code 137). */
#define RUN_TIMEOUT_S 120
int run_argv(char *const argv[], char **ret_out, char **ret_err);
#define run(out, err, ...) run_argv((char *const[]) { __VA_ARGS__, NULL }, out, err)
/* The same in the working directory cwd (NULL: ours). */
int run_argv_in(const char *cwd, char *const argv[], char **ret_out, char **ret_err);

/* A background child whose stdout and stderr we read while it runs. */
typedef struct Proc {
        pid_t pid;
        int out_fd, err_fd;
        char *out, *err; /* everything read so far */
        size_t n_out, n_err;
        size_t out_consumed; /* proc_wait_line() resumes after the last line it returned */
        char *line;          /* the line proc_wait_line() returned last */
} Proc;

void proc_start(Proc *p, char *const argv[]);
#define proc_spawn(p, ...) proc_start(p, (char *const[]) { __VA_ARGS__, NULL })
/* Reads until stderr contains needle; false on timeout or EOF. */
bool proc_wait_stderr(Proc *p, const char *needle, int timeout_ms);
/* Returns the next complete stdout line for which match(line) is true (lines before it are
 * skipped), or NULL on timeout/EOF. The line is owned by p until the next call. */
const char *proc_wait_line(Proc *p, bool (*match)(const char *line, const void *data),
                           const void *data, int timeout_ms);
bool match_any(const char *line, const void *data);
bool match_substring(const char *line, const void *needle);
/* Sends sig, waits (bounded), returns the exit code; frees the buffers. */
int proc_stop(Proc *p, int sig);

/* Fixture: private bus + daemon on a fresh copy of the sample host. */
void harness_setup(void);
void harness_teardown(void);
/* Resolves programs and data from the environment; false (with a message) when a tool that the
 * tests need is missing, so the caller can exit 77. A missing python-dbusmock only leaves
 * H.python3 NULL: the tests that need polkit are then not added. */
bool harness_init(void);

/* Pieces of the fixture for programs that run a daemon of their own per test (test-claim): the
 * private bus in H.tmpdir and, with python-dbusmock, the polkit mock logging to H.polkit_log
 * (both set by the caller). harness_teardown() stops them and removes H.tmpdir. */
void harness_start_bus(void);
/* Runs argv in the background with stdin on /dev/null and stdout+stderr appended to log_path;
 * env holds extra "NAME=VALUE" entries (borrowed until exec). With die_with_parent the child is
 * SIGKILLed when the calling process ends, e.g. when a forked test fails. */
pid_t spawn_logged(char *const argv[], char *const env[], const char *log_path,
                   bool die_with_parent);
/* Waits (bounded) for pid to exit and returns its status; SIGKILLs it at the deadline. */
int wait_exit(pid_t pid, int timeout_ms);
/* Waits until name has an owner on the bus; fails the test (with log) if *pid exits first. */
void wait_for_name(const char *name, pid_t *pid, const char *log);
/* tests/mkhost spec dir. */
void mkhost_spec(const char *spec, const char *dir);
/* Creates or truncates path with text. */
void write_file(const char *path, const char *text);

/* A dbus-daemon with our test config listening on socket_path; its log is socket_path.log. */
/* Reads one line from fd within timeout_ms; NULL on timeout or EOF. What follows the line in
 * the same read is dropped: for peers that write one line and wait. */
char *read_line(int fd, int timeout_ms);
pid_t bus_start(const char *socket_path, char **ret_address, int *ret_stdout);
void bus_stop(pid_t pid, int stdout_fd);

/* Runs `vfio-assignd --report --sysfs-root HOSTDIR` and parses it. */
json_object *daemon_report(void);
/* Parses text as JSON or fails the test. */
json_object *parse_json(const char *text, const char *what);

/* ---- assertions and clients shared by the test programs ---- */

/* o[key], failing the test when o is not an object or has no such key (a JSON null is NULL). */
json_object *jget(json_object *o, const char *key);
/* o[key] as a string (NULL for null), failing when it is something else. */
const char *jstr_or_null(json_object *o, const char *key);
json_object *jidx(json_object *array, size_t i);
size_t jlen(json_object *array);
void assert_json_equal(json_object *a, json_object *b, const char *what);

#define assert_contains(haystack, needle) \
        ck_assert_msg(strstr((haystack), (needle)), "expected \"%s\" in:\n%s", (needle), (haystack))

/* busctl --system --json=short ARGS...; fails the test unless it exits 0; the parsed output. */
json_object *busctl_json(char *const args[]);
#define busctl(...) busctl_json((char *const[]) { __VA_ARGS__, NULL })
/* busctl get-property of the manager or another object: {"type": ..., "data": ...}. */
json_object *get_property(const char *path, const char *iface, const char *name);

/* assignctl ARGS... (at most 14); its exit code, stdout and stderr. */
int assignctl(char **out, char **err, char *const args[]);
#define ASSIGNCTL(out, err, ...) assignctl(out, err, (char *const[]) { __VA_ARGS__, NULL })

/* Hotplug helpers: change the host tree like the kernel would, then tell the daemon. */
void host_remove_device(const char *bdf);  /* device dir + every link naming it */
void host_restore_device(const char *bdf); /* the same paths copied back from the pristine tree */
void host_unbind_device(const char *bdf);  /* drops the driver links */
void host_rebind_device(const char *bdf);  /* restores them from the pristine tree */
void send_uevent(const char *action, const char *bdf);

/* A fresh string "%s/%s". */
char *path_join(const char *a, const char *b);
bool path_exists(const char *p);
char *read_file_or_abort(const char *path);
