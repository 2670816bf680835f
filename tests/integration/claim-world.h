/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One claim test's world (test-claim.c): a host tree and a dev tree under the kernel model, the
 * daemon's directories, the daemon itself, and helpers to look at the tree, the daemon's files
 * and the bus. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* qemu-q35-vtd.host, group 6: a PCIe-to-PCI bridge (unbound, as QEMU's is) with two
 * conventional e1000 NICs behind it (tests/data/qemu-q35-vtd/iommu-groups.txt). */
#define Q35_HOST "hosts/qemu-q35-vtd.host"
#define Q35_GROUP 6
#define Q35_BRIDGE "0000:02:00.0"
#define NIC1 "0000:03:01.0"
#define NIC2 "0000:03:02.0"
#define NIC_DRIVER "e1000"
/* Single-device groups of the same host (e1000e). */
#define SOLO1 "0000:00:02.0" /* group 1 */
#define SOLO5 "0000:01:00.0" /* group 5 */
#define SOLO_DRIVER "e1000e"
#define SOLO5_GROUP 5

/* server.host, group 8: bridge 86:00.0 with an e1000 and a serial card behind it. */
#define SERVER_HOST "hosts/server.host"
#define SERVER_GROUP 8
#define SERVER_BRIDGE "0000:86:00.0"
#define SERVER_NIC "0000:87:04.0"
#define SERVER_SERIAL "0000:87:05.0"

/* A three-function card in one group, added to the q35 host by the failure tests. */
#define MF_GROUP 8
#define MF0 "0000:04:00.0"
#define MF1 "0000:04:00.1"
#define MF2 "0000:04:00.2"
#define MF_DRIVER "igb"

#define MISSING_DEVICE "0000:7f:00.0"
#define NOBODY_UID 65534u

#define ACTION_CLAIM "org.vfioassign1.claim"
#define ACTION_PREPARE "org.vfioassign1.prepare"
#define ACTION_MANAGE "org.vfioassign1.manage"
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_AUTHORITY "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_MOCK "org.freedesktop.DBus.Mock"
#define ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"

/* The daemon's files (daemon/state.h). */
#define STATE_FILE "state.json"
#define PERSISTENT_FILE "persistent.json"

#define WAIT_MS 10000
/* The brief's bound for giving a group back after its holder's connection closes. */
#define HOLDER_EXIT_BOUND_MS 1000

/* The CDI spec's file name (daemon/cdi.h's default); the world's is in the case's cdi/, which
 * the daemon makes. */
#define CDI_FILE "vfio-assignd.json"

typedef struct Case {
        char *dir;
        char *host, *pristine, *dev, *fifo, *run, *state, *policy, *log, *faults, *cdi;
        pid_t pid;
} Case;

#define assert_driver(bdf, want)                                                                \
        do {                                                                                    \
                _cleanup_free_ char *_d = driver_of(bdf);                                       \
                const char *_w = (want);                                                        \
                ck_assert_msg(_w ? _d &&streq(_d, _w) : !_d, "%s is on %s, expected %s", (bdf), \
                              _d ?: "no driver", _w ?: "no driver");                            \
        } while (0)

/* want NULL: no override, which the kernel shows as "(null)" (driver_override_show(), see
 * Documentation/ABI/testing/sysfs-bus-pci). */
#define assert_override(bdf, want)                                                               \
        do {                                                                                     \
                _cleanup_free_ char *_o = override_of(bdf);                                      \
                ck_assert_msg(streq(_o, (want) ?: "(null)"), "%s: driver_override is %s", (bdf), \
                              _o);                                                               \
        } while (0)

#define call_error(bus, name, path, iface, member, ...)                                            \
        ({                                                                                         \
                _cleanup_(sd_bus_error_free) sd_bus_error _e = SD_BUS_ERROR_NULL;                  \
                int _r = sd_bus_call_method((bus), BUS_NAME, (path), (iface), (member), &_e, NULL, \
                                            __VA_ARGS__);                                          \
                check_error(_r, &_e, (name), (member));                                            \
        })

/* The same for calls that must fail, ignoring the message. */
#define expect_error(bus, name, path, iface, member, ...) \
        free(call_error(bus, name, path, iface, member, __VA_ARGS__))

#define manager_error(bus, name, member, ...) \
        call_error(bus, name, OBJ_ROOT, IFACE_MANAGER, member, __VA_ARGS__)

/* A call that must succeed; returns the reply. */
#define call_ok(bus, path, iface, member, ...)                                                   \
        ({                                                                                       \
                _cleanup_(sd_bus_error_free) sd_bus_error _e = SD_BUS_ERROR_NULL;                \
                sd_bus_message *_reply = NULL;                                                   \
                int _r = sd_bus_call_method((bus), BUS_NAME, (path), (iface), (member), &_e,     \
                                            &_reply, __VA_ARGS__);                               \
                ck_assert_msg(_r >= 0, "%s %s failed: %s: %s", (path), (member), strna(_e.name), \
                              _e.message ?: strerror(-_r));                                      \
                _reply;                                                                          \
        })

#define ROW_GROUP 2

#define ROW_KIND 3

#define ROW_STATE 4

#define ROW_HOLDER 5

#define ROW_UID 6

extern const char *mock_lib;
/* --write-timeout for the daemons the case starts (NULL: the default); reset by case_end(). */
extern const char *daemon_write_timeout;
/* --cdi-version for the daemons the case starts (NULL: 0.5.0); reset by case_end(). */
extern const char *daemon_cdi_version;
extern Case C;

int prctl_die_with_parent(void);
int64_t now_usec(void);
void sleep_ms(unsigned ms);
bool startswith(const char *s, const char *prefix);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *case_path(const char *rel);
void make_dir(const char *path);
void case_begin(const char *spec);
void case_begin_data(const char *name);
void dump_log(void);
pid_t name_owner_pid(sd_bus *bus);
/* Starts vfio-assignd on the case's world under the kernel model, logging to log, on the bus at
 * bus_address (NULL: ours); the caller waits for it. daemon_start() does that for C.pid and
 * waits until it owns the name. */
pid_t daemon_spawn(const char *log, const char *bus_address);
void daemon_start(void);
/* A daemon started on the case's trees must refuse to start, saying needle, and change nothing
 * (the tree, the nodes, the state files: snapshot()). */
void daemon_start_refused(const char *needle);
void daemon_stop(void);
void daemon_kill(void);
void case_end(void);
void set_faults(const char *text);
bool log_contains(const char *needle);
/* Returns once the daemon has read and handled every uevent queued in the FIFO so far. */
void wait_uevents_handled(void);
int mock_sh_status(const char *script, char **ret_err);
void mock_sh(const char *script);
char *driver_of(const char *bdf);
char *override_of(const char *bdf);
bool driver_is(const char *bdf, const char *want);
void assert_on_host(const char *bdf, const char *driver);
void assert_on_vfio(const char *bdf);
bool wait_driver(const char *bdf, const char *want, int timeout_ms);
char *snapshot(void);
json_object *state_json(void);
json_object *state_leases(json_object *state);
json_object *state_only_lease(json_object *state);
const char *state_original_driver(json_object *lease, const char *bdf);
bool state_bridge(json_object *lease, const char *bdf);
void assert_state_empty(void);
/* The text of dir/name, "" when there is no such file. */
char *file_or_empty(const char *dir, const char *name);
bool wait_state(uint32_t group, const char *state, int timeout_ms);
sd_bus *bus_connect(void);
const char *unique_name(sd_bus *bus);
char *check_error(int r, const sd_bus_error *e, const char *name, const char *what);
char *reply_path(sd_bus_message *reply);
char *claim_group(sd_bus *bus, uint32_t group);
char *claim_device(sd_bus *bus, const char *bdf);
char *prepare(sd_bus *bus, const char *bdf, bool persistent);
void unprepare(sd_bus *bus, const char *bdf);
void release(sd_bus *bus, const char *path);
int open_fd(sd_bus *bus, const char *path, const char *member, const char *address);

/* Until a process waits in a hang injection of bdf (tests/mock/mock-observe.h; bounded). */
void wait_hanging(const char *bdf);
/* Lease.Backend of the lease at path. */
char *lease_backend(const char *path);
/* ClaimGroup of the q35 NICs' group with the option backend; the lease's path. */
char *claim_q35_with_backend(sd_bus *bus, const char *backend);
/* case_start() of the q35 host on a kernel with iommufd (the kernel model's "iommufd" host
 * directive, and dev/iommu). */
void case_start_iommufd(void);
/* The q35 host where that backend works: case_start_iommufd() for "iommufd". */
void case_start_backend(const char *backend);

/* A call left running (sd_bus_call_method_async() with on_pending_reply and a PendingCall): its
 * error, or the path it returned, once pending_wait() (bounded) saw the reply. */
typedef struct PendingCall {
        bool done;
        char *error_name, *error_message;
        char *path;
} PendingCall;
int on_pending_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
void pending_clear(PendingCall *p);
void pending_wait(sd_bus *bus, PendingCall *p);
json_object *list_leases(void);
size_t n_leases(void);
json_object *lease_row(const char *path);
const char *row_str(json_object *row, size_t i);
json_object *lease_property(const char *path, const char *name);
int64_t wait_group_back(char *const *bdfs, const char *driver, int timeout_ms);
/* busctl --system call DEST PATH IFACE ARGS...; fails the test unless it exits 0. */
void busctl_call(const char *dest, const char *path, const char *iface, char *const args[]);
void polkit_call(char *const args[]);
void polkit_allow_all(void);
void polkit_deny_all(void);
void case_start(const char *host);
/* harness_init() and what a claim world needs besides (python-dbusmock's polkitd, the kernel
 * model); false after a "SKIP: who ..." line. */
bool world_init(const char *who);
/* The unchecked fixture of a program of claim worlds: H.tmpdir as /tmp/vfio-assignd-NAME.XXXXXX,
 * reachable by a caller switched to nobody, with the private bus and the polkit mock in it. */
void world_setup(const char *name);
bool node_exists(uint32_t group);
uid_t node_owner(uint32_t group); /* of the fake /dev/vfio/N */
/* Nothing of the q35 group 6 is left on vfio-pci and nothing is leased (the no-lease-lost part
 * is the tests' own: each says which lease must still be there). */
void assert_q35_group_back(void);
/* A record of the card at SOLO5 (persistent.json, identities.json): its ids and group. */
void assert_solo5_record(json_object *d);

/* GetHostReport, parsed. */
json_object *bus_report(sd_bus *bus);

/* The entry of bdf in the report's list ("persistent", "identities"; a new reference). */
json_object *report_entry(sd_bus *bus, const char *list_name, const char *bdf);
/* Another card in the slot of bdf while the host is down: the same vendor and device, another
 * subsystem_device (an OEM variant of the board). */
void swap_card(const char *bdf, const char *subsystem_device);

/* Persistent prepares: the "devices" of persistent.json (a new reference); whether it lists bdf;
 * what a reboot does to a prepared group (the overrides are gone, the host drivers bind, /run is
 * empty). */
json_object *persistent_devices(void);
bool persistent_lists(json_object *devices, const char *bdf);
void reboot_to_host_drivers(const char *const *bdfs, const char *driver);
