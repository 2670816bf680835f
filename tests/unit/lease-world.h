/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The world of tests/unit/test-lease.c and test-lease-crash.c: the workstation sample host built with fakesys, the
 * kernel model (libvfio-mock.so, linked into the program) switched on for it, a runtime and a
 * state directory, and the helpers that read outcomes back from the tree and the state files
 * without going through the code under test. */

#include <check.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fakesys.h"
#include "lease-set.h"
#include "lease.h"
#include "macro.h"

/* tests/data/hosts/workstation.host */
#define GPU "0000:01:00.0"   /* nouveau, group 7 with AUDIO */
#define AUDIO "0000:01:00.1" /* snd_hda_intel */
#define GPU_GROUP 7
#define USB "0000:00:14.0"      /* xhci_hcd, group 3 with USB_SRAM */
#define USB_SRAM "0000:00:14.2" /* no driver */
#define USB_GROUP 3
#define NIC "0000:03:00.0" /* igb 8086:1533, group 8 alone */
#define NIC_GROUP 8
#define PORT_GROUP 1 /* root port 00:01.0 alone */
#define HOLDER ":1.42"
#define BUS_ID "0123456789abcdef0123456789abcdef"
#define WAIT_MS 10000

extern char *root, *run_dir, *state_dir, *uevents_path;
extern FakeSys *fs;
extern Model *model;
/* Which device each VFIO device fd the code under test opened stands for, and the devices it
 * reset through VFIO_DEVICE_RESET (in order). */
#define SPY_FDS 4096
extern char spy_fd_device[SPY_FDS][PCI_ADDRESS_STRLEN];
extern char **spy_resets;

/* The checked fixture: a fresh tree, the model on, no faults, an empty uevent log. */
void world_setup(void);
void world_teardown(void);
/* The kernel has iommufd: dev/iommu (tests/mock/README.md). */
void world_enable_iommufd(void);

bool streq_ptr(const char *a, const char *b);
int64_t now_usec(void);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
void write_text(const char *path, const char *text, mode_t mode);
/* The whole file, "" when it is missing or empty. */
char *read_text(const char *path);
/* The model's failure injections (tests/mock/README.md). */
void faults(const char *text);

/* The lease code's view of the host: the topology as the tree shows it now. */
Model *view_new(const char *root_dir);
Model *view_free(Model *m);

/* The driver from the device's driver link; NULL when unbound. */
char *driver_of(const char *bdf);
char *override_of(const char *bdf);
void assert_driver(const char *bdf, const char *want);
/* On its host driver (or none) with no override left behind. */
void assert_on_host(const char *bdf, const char *driver);
void assert_on_vfio(const char *bdf);
bool node_exists(uint32_t group);
void assert_gpu_group_on_host(void);
void assert_gpu_group_on_vfio(void);
bool uevent_seen(const char *line);
/* Reset, through VFIO_DEVICE_RESET or the sysfs reset attribute (a "change" uevent). */
bool was_reset(const char *bdf);

#define assert_contains(haystack, needle)                                                       \
        do {                                                                                    \
                const char *_h = (haystack), *_n = (needle);                                    \
                ck_assert_msg(_h &&strstr(_h, _n), "\"%s\" does not contain \"%s\"", strna(_h), \
                              _n);                                                              \
        } while (0)

/* The state files, read as JSON. */
json_object *read_json(const char *dir, const char *name);
json_object *jget(json_object *o, const char *key);
const char *jstr(json_object *o, const char *key);
int64_t jint(json_object *o, const char *key);
json_object *state_leases(json_object *state);
json_object *state_only_lease(json_object *state);
size_t state_n_leases(void);
/* Whether state.json holds exactly one lease, in that state. */
bool state_says(const char *want);
void assert_state_device(json_object *lease, size_t i, const char *address, const char *original);

/* The lease set on the runtime and state directories. */
LeaseSet *set_open(void);
/* pidfd_open() works here. It does not under valgrind 3.19, which does not know the system call:
 * claims are then made without a holder, as the daemon cannot identify one either. */
bool holders_identifiable(void);
LeaseRequest claim_request(uint32_t group);
Lease *set_acquire(LeaseSet *s, const LeaseRequest *req);
void set_release(LeaseSet *s, Lease *l);

/* A restart: a new set reconciles what the files say. */
typedef struct Restart {
        bool alive;          /* what holder_alive() says */
        uint64_t adopted[8]; /* ids given to adopt(), in order */
        size_t n_adopted;
        char **log;
} Restart;
void restart_clear(Restart *r);
void on_adopt(void *userdata, Lease *l);
bool on_alive(void *userdata, Lease *l);
LeaseSet *set_restart(Restart *r, int expect);
bool log_has(char **log, const char *needle);
char *log_text(char **log);
#define assert_log_has(log, needle)                                                               \
        do {                                                                                      \
                _cleanup_free_ char *_t = log_text(log);                                          \
                ck_assert_msg(log_has((log), (needle)), "log \"%s\" lacks \"%s\"", _t, (needle)); \
        } while (0)

/* Guards (LeaseSet.guard): yes (counting calls in *userdata when it is not NULL), and no. */
int guard_yes(void *userdata, uint32_t group, char **ret_why);
int guard_no(void *userdata, uint32_t group, char **ret_why);

/* The crash helper: this program run as
 * "--crash-helper ROOT RUN STATE BACKEND claim|release [GO_FD]" claims the GPU group through a
 * lease set with that backend and, for "release", gives it back once a byte arrives on GO_FD. A
 * new process image, not a fork: the writer threads of daemon/worker.c do not survive a fork. */
int crash_helper(int argc, char *argv[]);
/* Starts it; for "release", *ret_go is the pipe's write end. */
pid_t spawn_helper(const char *mode, const char *backend, int *ret_go);

/* main() of a program on this world: the crash helper when asked for, else the suite. */
int lease_world_main(int argc, char *argv[], Suite *(*make_suite)(void) );

/* Waits (bounded) until reached(data) holds; the helper must not end before. */
void wait_until(pid_t pid, bool (*reached)(const void *data), const void *data, const char *what);
/* Until state.json says state and, unless hang is -1, the write of a member hangs (hang 0: the
 * GPU; 1: the audio function, and the GPU has moved: to vfio-pci while binding, back to nouveau
 * while releasing). */
void wait_point(pid_t pid, const char *state, int hang);
/* SIGKILL, reaped. */
void kill_helper(pid_t pid);
void kill_at(pid_t pid, const char *state, int hang);
/* After a restart the whole GPU group is on one side, the host's, reset, and the lease gone. */
void restart_gives_back(const char *was);
