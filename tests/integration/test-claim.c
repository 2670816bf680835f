/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fast level of group-atomic claim and release (issue 5): the real vfio-assignd, run under
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

/* ---- 1. a whole group, bridge included, there and back ---- */

typedef struct GroupCase {
        const char *host;
        uint32_t group;
        const char *bridge;
        const char *members[3]; /* the non-bridge members, NULL-terminated */
        const char *drivers[3]; /* their host drivers */
} GroupCase;

static void claim_and_release(const GroupCase *g) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL, *row = NULL, *devices = NULL;
        _cleanup_free_ char *path = NULL, *bridge_before = NULL, *msg = NULL;
        json_object *lease;
        int fds[5], n_fds = 0;
        size_t n_members = 0;

        case_start(g->host);
        bridge_before = driver_of(g->bridge);
        for (size_t i = 0; g->members[i]; i++, n_members++)
                assert_on_host(g->members[i], g->drivers[i]);
        ck_assert(!node_exists(g->group));

        bus = bus_connect();
        path = claim_group(bus, g->group);

        /* Every non-bridge member on vfio-pci with the override set; the bridge untouched. */
        for (size_t i = 0; g->members[i]; i++)
                assert_on_vfio(g->members[i]);
        assert_driver(g->bridge, bridge_before);
        assert_override(g->bridge, NULL);
        ck_assert_msg(node_exists(g->group), "no dev/vfio/%" PRIu32, g->group);

        row = lease_row(path);
        ck_assert_msg(row, "%s is not in ListLeases", path);
        ck_assert_int_eq(json_object_get_int64(jidx(row, ROW_GROUP)), g->group);
        ck_assert_str_eq(row_str(row, ROW_KIND), "claim");
        ck_assert_str_eq(row_str(row, ROW_STATE), "active");
        ck_assert_str_eq(row_str(row, ROW_HOLDER), unique_name(bus));
        ck_assert_int_eq(json_object_get_int64(jidx(row, ROW_UID)), getuid());
        devices = lease_property(path, "Devices");
        ck_assert_uint_eq(jlen(devices), n_members + 1);

        /* state.json has it, with the drivers to give the members back to. */
        state = state_json();
        lease = state_only_lease(state);
        ck_assert_str_eq(jstr_or_null(lease, "kind"), "claim");
        ck_assert_str_eq(jstr_or_null(lease, "state"), "active");
        ck_assert_int_eq(json_object_get_int64(jget(lease, "group")), g->group);
        ck_assert_str_eq(jstr_or_null(lease, "holder"), unique_name(bus));
        ck_assert(state_bridge(lease, g->bridge));
        ck_assert(!state_original_driver(lease, g->bridge) == !bridge_before);
        for (size_t i = 0; g->members[i]; i++) {
                ck_assert(!state_bridge(lease, g->members[i]));
                ck_assert_str_eq(state_original_driver(lease, g->members[i]), g->drivers[i]);
        }

        /* The fds: the container, the group and one per member. */
        fds[n_fds++] = open_fd(bus, path, "OpenContainer", NULL);
        fds[n_fds++] = open_fd(bus, path, "OpenGroup", NULL);
        for (size_t i = 0; g->members[i]; i++)
                fds[n_fds++] = open_fd(bus, path, "OpenDevice", g->members[i]);
        for (int i = 0; i < n_fds; i++)
                for (int j = i + 1; j < n_fds; j++)
                        ck_assert_int_ne(fds[i], fds[j]);
        /* The bridge is in the lease but VFIO has no device for it. */
        msg = call_error(bus, ERROR_PREFIX "VfioFailed", path, IFACE_LEASE, "OpenDevice", "s",
                         g->bridge);
        assert_contains(msg, g->bridge);
        /* A claimed group cannot be claimed again. */
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "Busy", OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", "sa{sv}",
                         g->members[0], 0);
        assert_contains(msg, "already leased");
        /* Our copies go before the release: VFIO holds a device until every fd is closed. */
        for (int i = 0; i < n_fds; i++)
                ck_assert_int_eq(close(fds[i]), 0);

        release(bus, path);
        for (size_t i = 0; g->members[i]; i++)
                assert_on_host(g->members[i], g->drivers[i]);
        assert_driver(g->bridge, bridge_before);
        assert_override(g->bridge, NULL);
        ck_assert_uint_eq(n_leases(), 0);
        assert_state_empty();
        ck_assert(!node_exists(g->group));
        case_end();
}

START_TEST(test_claim_bridge_group_q35) {
        static const GroupCase g = {
                .host = Q35_HOST,
                .group = Q35_GROUP,
                .bridge = Q35_BRIDGE,
                .members = { NIC1, NIC2 },
                .drivers = { NIC_DRIVER, NIC_DRIVER },
        };

        claim_and_release(&g);
}
END_TEST

START_TEST(test_claim_bridge_group_server) {
        static const GroupCase g = {
                .host = SERVER_HOST,
                .group = SERVER_GROUP,
                .bridge = SERVER_BRIDGE,
                .members = { SERVER_NIC, SERVER_SERIAL },
                .drivers = { "e1000", "serial" },
        };

        claim_and_release(&g);
}
END_TEST

/* ---- 2. a failure on the third member rolls the first two back ---- */

/* The q35 host plus a three-function NIC (igb) in a group of its own behind a root port. */
static void case_start_multifunction(void) {
        _cleanup_free_ char *spec = path_join(H.tmpdir, "multifunction.host");
        _cleanup_free_ char *text = NULL;
        const char *data = getenv("TEST_DATA_DIR") ?: "tests/data";

        text = xasprintf(
                "include %s/" Q35_HOST "\n"
                "device 0000:00:05.0 vendor=0x1b36 device=0x000c class=0x060400 driver=pcieport "
                "group=7 iommu=dmar0\n"
                "device " MF0 " parent=0000:00:05.0 vendor=0x8086 device=0x1521 class=0x020000 "
                "mf=1 driver=" MF_DRIVER " reset=flr group=8 iommu=dmar0\n"
                "device " MF1 " parent=0000:00:05.0 vendor=0x8086 device=0x1521 class=0x020000 "
                "driver=" MF_DRIVER " reset=flr group=8 iommu=dmar0\n"
                "device " MF2 " parent=0000:00:05.0 vendor=0x8086 device=0x1521 class=0x020000 "
                "driver=" MF_DRIVER " reset=flr group=8 iommu=dmar0\n",
                data);
        write_file(spec, text);
        case_begin(spec);
        polkit_allow_all();
        daemon_start();
}

static void assert_mf_on_host(void) {
        assert_on_host(MF0, MF_DRIVER);
        assert_on_host(MF1, MF_DRIVER);
        assert_on_host(MF2, MF_DRIVER);
        ck_assert(!node_exists(MF_GROUP));
}

/* drivers_probe binds nothing for the third function: verifying the driver link fails (EIO).
 * The way back (bind to igb by name) works, so nothing may remain. */
START_TEST(test_third_member_fails) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL, *eio = xasprintf(": %s", strerror(EIO));

        case_start_multifunction();
        assert_mf_on_host();
        set_faults(MF2 " probe-nothing\n");
        bus = bus_connect();
        msg = manager_error(bus, ERROR_PREFIX "BindFailed", "ClaimGroup", "ua{sv}", MF_GROUP, 0);
        /* device, its driver, the step, the errno */
        assert_contains(msg, MF2);
        assert_contains(msg, "(was on " MF_DRIVER ")");
        assert_contains(msg, "\"verify the driver link\"");
        assert_contains(msg, eio);
        ck_assert_msg(!strstr(msg, "stuck"), "the roll-back did not complete: %s", msg);

        assert_mf_on_host();
        ck_assert_uint_eq(n_leases(), 0);
        assert_state_empty();
        case_end();
}
END_TEST

/* With bind-fails the model refuses every bind of the function, including the one back to igb:
 * the first two go back, the third cannot, and the daemon keeps the group as a stuck lease
 * (never dropped) that names it. Once the fault is gone, releasing it completes. */
START_TEST(test_third_member_bind_fails) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL, *enodev = xasprintf(": %s", strerror(ENODEV));
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_object *leases = NULL, *reason = NULL;
        json_object *row;

        case_start_multifunction();
        set_faults(MF2 " bind-fails\n");
        bus = bus_connect();
        msg = manager_error(bus, ERROR_PREFIX "BindFailed", "ClaimGroup", "ua{sv}", MF_GROUP, 0);
        assert_contains(msg, "Binding " MF2 " (was on " MF_DRIVER ") to vfio-pci failed");
        assert_contains(msg, "\"drivers_probe\"");
        assert_contains(msg, enodev);
        assert_contains(msg, "stuck");

        assert_on_host(MF0, MF_DRIVER);
        assert_on_host(MF1, MF_DRIVER);
        assert_driver(MF2, NULL);
        leases = list_leases();
        ck_assert_uint_eq(jlen(leases), 1);
        row = jidx(leases, 0);
        ck_assert_str_eq(row_str(row, ROW_STATE), "stuck");
        path = strdup(row_str(row, 1));
        reason = lease_property(path, "Reason");
        assert_contains(json_object_get_string(reason), MF2);

        set_faults("");
        release(bus, path);
        assert_mf_on_host();
        ck_assert_uint_eq(n_leases(), 0);
        assert_state_empty();
        case_end();
}
END_TEST

/* ---- 3. crashes at every recorded transition, and restarts ---- */

/* The member whose writes hang in the crash tests: the first (nothing moved yet) or the
 * second (the first is already on vfio-pci, or already back). */
static const char *const hang_members[] = { NIC1, NIC2 };

/* The crash tests run for each backend (the index's high part) and, where a write hangs, each
 * hanging member (its low part): a lease's backend is recorded from the first state on. */
static const char *const crash_backends[] = { "type1", "iommufd" };
#define CRASH_BACKEND(i) crash_backends[(i) / ELEMENTSOF(hang_members)]
#define CRASH_HANG(i) ((i) % ELEMENTSOF(hang_members))

static char *claim_with(sd_bus *bus, const char *backend) {
        return streq(backend, "type1") ? claim_group(bus, Q35_GROUP)
                                       : claim_q35_with_backend(bus, backend);
}

static void assert_state_backend(const char *backend) {
        _cleanup_json_ json_object *state = state_json();

        ck_assert_str_eq(jstr_or_null(state_only_lease(state), "backend"), backend);
}

/* SIGKILL while a member is being bound (state.json says "binding"); the restarted daemon
 * rolls the group back. */
START_TEST(test_crash_while_binding) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(pending_clear) PendingCall claim = {};
        const char *backend = CRASH_BACKEND(_i), *member = hang_members[CRASH_HANG(_i)];
        _cleanup_free_ char *fault = xasprintf("%s hang 60\n", member);
        int k;

        case_start_backend(backend);
        /* Writes concerning that member block: the daemon freezes in its binding. */
        set_faults(fault);
        bus = bus_connect();
        if (streq(backend, "type1"))
                k = sd_bus_call_method_async(bus, &slot, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                             "ClaimGroup", on_pending_reply, &claim, "ua{sv}",
                                             Q35_GROUP, 0);
        else
                k = sd_bus_call_method_async(bus, &slot, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                             "ClaimGroup", on_pending_reply, &claim, "ua{sv}",
                                             Q35_GROUP, 1, "backend", "s", backend);
        ck_assert_int_ge(k, 0);
        ck_assert_int_ge(sd_bus_flush(bus), 0);
        ck_assert_msg(wait_state(Q35_GROUP, "binding", WAIT_MS), "state.json never said binding");
        if (CRASH_HANG(_i) > 0)
                ck_assert_msg(wait_driver(NIC1, DRIVER_VFIO_PCI, WAIT_MS),
                              "the first NIC was not bound");
        /* The daemon is inside the hanging write; that member has not moved. */
        wait_hanging(member);
        assert_on_host(member, NIC_DRIVER);
        ck_assert(wait_state(Q35_GROUP, "binding", 0));

        daemon_kill();
        pending_wait(bus, &claim);
        ck_assert_msg(claim.error_name, "the claim succeeded after all: %s", strna(claim.path));
        assert_state_backend(backend);

        set_faults("");
        daemon_start();
        assert_q35_group_back();
        ck_assert(log_contains("was binding: giving it back"));
        case_end();
}
END_TEST

/* SIGKILL while a member is being given back (state.json says "releasing"); the restarted
 * daemon finishes the release. */
START_TEST(test_crash_while_releasing) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(pending_clear) PendingCall rel = {};
        _cleanup_free_ char *path = NULL;
        const char *backend = CRASH_BACKEND(_i), *member = hang_members[CRASH_HANG(_i)];
        _cleanup_free_ char *fault = xasprintf("%s hang 60\n", member);

        case_start_backend(backend);
        bus = bus_connect();
        path = claim_with(bus, backend);
        ck_assert(wait_state(Q35_GROUP, "active", 0));

        set_faults(fault);
        ck_assert_int_ge(sd_bus_call_method_async(bus, &slot, BUS_NAME, path, IFACE_LEASE,
                                                  "Release", on_pending_reply, &rel, "a{sv}", 0),
                         0);
        ck_assert_int_ge(sd_bus_flush(bus), 0);
        ck_assert_msg(wait_state(Q35_GROUP, "releasing", WAIT_MS),
                      "state.json never said releasing");
        if (CRASH_HANG(_i) > 0)
                ck_assert_msg(wait_driver(NIC1, NIC_DRIVER, WAIT_MS),
                              "the first NIC was not given back");
        wait_hanging(member);
        assert_driver(member, DRIVER_VFIO_PCI);
        assert_driver(NIC2, DRIVER_VFIO_PCI);

        daemon_kill();
        pending_wait(bus, &rel);
        ck_assert(rel.error_name);
        assert_state_backend(backend);

        set_faults("");
        daemon_start();
        assert_q35_group_back();
        ck_assert(log_contains("was releasing: giving it back"));
        case_end();
}
END_TEST

/* SIGKILL with the group stuck (a member refuses to leave vfio-pci): the restarted daemon keeps
 * the lease while the member still refuses, the member stays bound (never driverless), and the
 * lease goes once the member can be given back. */
START_TEST(test_crash_while_stuck) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *leases = NULL, *state = NULL;
        _cleanup_free_ char *path = NULL, *msg = NULL, *backend = NULL;

        case_start_backend(crash_backends[_i]);
        bus = bus_connect();
        path = claim_with(bus, crash_backends[_i]);
        set_faults(NIC2 " refuse-release EBUSY\n");
        msg = call_error(bus, ERROR_PREFIX "Stuck", path, IFACE_LEASE, "Release", "a{sv}", 0);
        assert_contains(msg, NIC2);

        daemon_kill();
        daemon_start();
        leases = list_leases();
        ck_assert_uint_eq(jlen(leases), 1);
        ck_assert_str_eq(row_str(jidx(leases, 0), ROW_STATE), "stuck");
        state = state_json();
        ck_assert_str_eq(jstr_or_null(state_only_lease(state), "state"), "stuck");
        assert_state_backend(crash_backends[_i]);
        backend = lease_backend(path);
        ck_assert_str_eq(backend, crash_backends[_i]);
        assert_on_host(NIC1, NIC_DRIVER);
        assert_driver(NIC2, DRIVER_VFIO_PCI);

        set_faults("");
        daemon_kill();
        daemon_start();
        assert_q35_group_back();
        case_end();
}
END_TEST

/* SIGKILL with an active claim whose holder stays connected: the claim survives with its
 * backend, is tracked again, and goes when its holder does. */
START_TEST(test_restart_keeps_claim) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *row = NULL, *state = NULL;
        _cleanup_free_ char *path = NULL, *holder = NULL, *backend = NULL;
        char *bdfs[] = { (char *) NIC1, (char *) NIC2, NULL };

        case_start_backend(crash_backends[_i]);
        bus = bus_connect();
        path = claim_with(bus, crash_backends[_i]);
        holder = strdup(unique_name(bus));

        daemon_kill();
        daemon_start();
        row = lease_row(path);
        ck_assert_msg(row, "the claim did not survive the restart");
        ck_assert_str_eq(row_str(row, ROW_STATE), "active");
        ck_assert_str_eq(row_str(row, ROW_HOLDER), holder);
        state = state_json();
        ck_assert_str_eq(jstr_or_null(state_only_lease(state), "holder"), holder);
        assert_state_backend(crash_backends[_i]);
        backend = lease_backend(path);
        ck_assert_str_eq(backend, crash_backends[_i]);
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);
        if (streq(crash_backends[_i], "iommufd")) {
                /* Its iommufd went with the killed daemon (no fd store here). */
                _cleanup_free_ char *msg = call_error(bus, ERROR_PREFIX "NotActive", path,
                                                      IFACE_LEASE, "OpenIommufd", "");

                assert_contains(msg, "did not survive a restart of the daemon");
        }

        /* Tracked again: the holder goes, the group comes back. */
        bus = sd_bus_flush_close_unref(bus);
        (void) wait_group_back(bdfs, NIC_DRIVER, WAIT_MS);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* The holder goes while the daemon is down: the claim is given back at start. */
START_TEST(test_restart_releases_orphan) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        daemon_kill();
        bus = sd_bus_flush_close_unref(bus);
        /* The group stays on vfio-pci while nobody runs. */
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);

        daemon_start();
        assert_q35_group_back();
        ck_assert(log_contains("was active and its holder is gone: giving it back"));
        case_end();
}
END_TEST

/* A prepare has no holder: it survives a crash and a clean stop, still on vfio-pci. */
START_TEST(test_restart_keeps_prepare) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = prepare(bus, NIC1, false);
        for (int round = 0; round < 2; round++) {
                _cleanup_json_ json_object *row = NULL, *state = NULL;

                if (round == 0)
                        daemon_kill();
                else
                        daemon_stop();
                daemon_start();
                row = lease_row(path);
                ck_assert_msg(row, "the prepare did not survive restart %d", round);
                ck_assert_str_eq(row_str(row, ROW_KIND), "prepare");
                ck_assert_str_eq(row_str(row, ROW_STATE), "active");
                state = state_json();
                ck_assert_str_eq(jstr_or_null(state_only_lease(state), "kind"), "prepare");
                assert_on_vfio(NIC1);
                assert_on_vfio(NIC2);
                ck_assert(node_exists(Q35_GROUP));
        }
        /* The bus connection of the daemon that prepared it is long gone. */
        unprepare(bus, NIC2);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- 4. a holder that goes is released within a second ---- */

START_TEST(test_holder_exit_releases_fast) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        char *bdfs[] = { (char *) NIC1, (char *) NIC2, NULL };
        int fd;
        int64_t took;

        case_start(Q35_HOST);
        bus = bus_connect();
        /* Claiming a device claims its whole group. */
        path = claim_device(bus, NIC2);
        assert_on_vfio(NIC1);
        /* A VMM that dies closes its fds with its connection. */
        fd = open_fd(bus, path, "OpenGroup", NULL);
        ck_assert_int_eq(close(fd), 0);
        assert_on_vfio(NIC1);

        bus = sd_bus_flush_close_unref(bus); /* t0 */
        took = wait_group_back(bdfs, NIC_DRIVER, WAIT_MS);
        printf("holder gone -> group 6 back on its drivers and the lease gone in %.1f ms\n",
               took / 1000.0);
        ck_assert_msg(took < HOLDER_EXIT_BOUND_MS * 1000, "release took %.1f ms", took / 1000.0);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- 5. polkit says no: AccessDenied, and nothing changes ---- */

/* The tree, the daemon's files and ListLeases. */
static char *world(void) {
        _cleanup_json_ json_object *leases = list_leases();
        char *text = snapshot();

        ck_assert_int_ge(strextendf(&text, "", "ListLeases: %s\n",
                                    json_object_to_json_string(leases)),
                         0);
        return text;
}

static void assert_world(const char *before, const char *what) {
        _cleanup_free_ char *after = world();

        ck_assert_msg(streq(before, after), "%s changed something:\n---- before\n%s---- after\n%s",
                      what, before, after);
}

START_TEST(test_polkit_denies) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *holder = NULL, *other = NULL;
        _cleanup_free_ char *claim = NULL, *prepared = NULL, *before = NULL, *calls = NULL;
        _cleanup_json_ json_object *reply = NULL;

        case_start(Q35_HOST);
        holder = bus_connect();
        other = bus_connect();
        claim = claim_group(holder, Q35_GROUP);
        prepared = prepare(holder, SOLO5, false);
        before = world();

        polkit_deny_all();
        polkit_call((char *const[]) { (char *) "ClearCalls", NULL });
        expect_error(other, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "ClaimGroup", "ua{sv}", 1,
                     0);
        expect_error(other, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", "sa{sv}",
                     SOLO1, 0);
        expect_error(other, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "Prepare", "sa{sv}",
                     SOLO1, 0);
        expect_error(other, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "Prepare", "sa{sv}",
                     SOLO1, 1, "persistent", "b", 1);
        expect_error(other, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "Unprepare", "sa{sv}",
                     SOLO5, 0);
        expect_error(other, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}",
                     0);
        /* Someone else's lease needs org.vfioassign1.manage. */
        expect_error(other, ERROR_ACCESS_DENIED, claim, IFACE_LEASE, "Release", "a{sv}", 0);
        expect_error(other, ERROR_ACCESS_DENIED, claim, IFACE_LEASE, "OpenContainer", "");
        expect_error(other, ERROR_ACCESS_DENIED, claim, IFACE_LEASE, "OpenGroup", "");
        expect_error(other, ERROR_ACCESS_DENIED, claim, IFACE_LEASE, "OpenDevice", "s", NIC1);
        expect_error(other, ERROR_ACCESS_DENIED, claim, IFACE_LEASE, "GrantAccess", "ua{sv}",
                     NOBODY_UID, 0);
        expect_error(other, ERROR_ACCESS_DENIED, prepared, IFACE_LEASE, "Release", "a{sv}", 0);
        assert_world(before, "a call polkit refused");

        /* Each was put to polkit with its action. */
        reply = busctl((char *) "call", (char *) POLKIT_NAME, (char *) POLKIT_AUTHORITY,
                       (char *) POLKIT_MOCK, (char *) "GetMethodCalls", (char *) "s",
                       (char *) "CheckAuthorization");
        calls = strdup(json_object_to_json_string(jget(reply, "data")));
        assert_contains(calls, ACTION_CLAIM);
        assert_contains(calls, ACTION_PREPARE);
        assert_contains(calls, ACTION_MANAGE);

        /* The holder needs no authorisation for its own lease. */
        close(open_fd(holder, claim, "OpenContainer", NULL));
        release(holder, claim);
        assert_on_host(NIC1, NIC_DRIVER);
        assert_on_host(NIC2, NIC_DRIVER);
        polkit_allow_all();
        unprepare(holder, SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* ---- 6. an unprivileged caller is judged by the policy for its uid ---- */

/* A client in a child switched to uid/gid (testing-recipes.md §4): it calls member(address, {})
 * on the manager and writes "OK <path>" or "ERR <name> <message>" as one line to its stdout;
 * after "OK" it keeps its connection (and so the claim) until its stdin closes, then releases
 * and writes "RELEASED" or "ERR ...". Never returns. */
_noreturn_ static void user_client(uid_t uid, gid_t gid, const char *member, const char *address,
                                   int in, int out) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path = NULL;
        sd_bus *bus = NULL;
        char c;
        int r;

        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                _exit(10);
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                dprintf(out, "ERR connect %s\n", strerror(-r));
                _exit(11);
        }
        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, member, &e, &reply, "sa{sv}",
                               address, 0);
        if (r < 0 || sd_bus_message_read(reply, "o", &path) < 0) {
                dprintf(out, "ERR %s %s\n", strna(e.name), strna(e.message));
                _exit(0);
        }
        dprintf(out, "OK %s\n", path);
        while (read(in, &c, 1) > 0)
                ;
        sd_bus_error_free(&e);
        r = sd_bus_call_method(bus, BUS_NAME, path, IFACE_LEASE, "Release", &e, NULL, "a{sv}", 0);
        if (r < 0)
                dprintf(out, "ERR %s %s\n", strna(e.name), strna(e.message));
        else
                dprintf(out, "RELEASED\n");
        _exit(0);
}

typedef struct UserClient {
        pid_t pid;
        int in, out; /* our ends */
} UserClient;

static UserClient user_client_start(uid_t uid, gid_t gid, const char *member, const char *address) {
        int to[2], from[2];
        UserClient u;

        ck_assert_int_eq(pipe2(to, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(from, O_CLOEXEC), 0);
        u.pid = fork();
        ck_assert_int_ge(u.pid, 0);
        if (u.pid == 0) {
                (void) prctl_die_with_parent();
                /* Only the parent's end may keep the pipe open: its close means "release". */
                close(to[1]);
                close(from[0]);
                user_client(uid, gid, member, address, to[0], from[1]);
        }
        close(to[0]);
        close(from[1]);
        u.in = to[1];
        u.out = from[0];
        return u;
}

/* The client's next line (bounded); caller frees. */
static char *user_client_line(UserClient *u) {
        int64_t deadline = now_usec() + WAIT_MS * 1000;
        char *line = NULL;

        for (;;) {
                struct pollfd p = { .fd = u->out, .events = POLLIN };
                char c;
                ssize_t n;

                ck_assert_msg(now_usec() < deadline, "the client did not answer: %s",
                              strempty(line));
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = read(u->out, &c, 1);
                ck_assert_msg(n == 1, "the client exited without a line: %s", strempty(line));
                if (c == '\n')
                        return line ?: strdup("");
                ck_assert_int_ge(strextendf(&line, "", "%c", c), 0);
        }
}

static void user_client_finish(UserClient *u) {
        int status;

        u->in = safe_close(u->in);
        status = wait_exit(u->pid, WAIT_MS);
        u->out = safe_close(u->out);
        ck_assert_msg(exit_code_of(status) == 0, "the client exited with %d", exit_code_of(status));
}

START_TEST(test_unprivileged_caller) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *line = NULL, *line2 = NULL, *line3 = NULL, *msg = NULL;
        _cleanup_free_ char *allow = NULL, *deny = NULL, *before = NULL;
        _cleanup_json_ json_object *row = NULL;
        const char *path;
        UserClient u;

        if (getuid() != 0) {
                printf("SKIP: test_unprivileged_caller needs root to switch to uid %u\n",
                       NOBODY_UID);
                return;
        }
        case_start(Q35_HOST);
        before = world();

        /* No rule names the device: only root may claim it. */
        u = user_client_start(NOBODY_UID, NOBODY_UID, "ClaimDevice", SOLO5);
        line = user_client_line(&u);
        user_client_finish(&u);
        ck_assert_msg(startswith(line, "ERR " ERROR_PREFIX "PolicyDenied "), "nobody's claim: %s",
                      line);
        assert_contains(line, "no rule matches");
        assert_world(before, "a claim the policy refused");

        /* A rule for user nobody and that device. */
        allow = path_join(C.policy, "50-nobody.json");
        write_file(allow, "{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"" SOLO5 "\"}, "
                          "\"action\": \"allow\", \"users\": [\"nobody\"]}]}\n");
        bus = bus_connect();
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        u = user_client_start(NOBODY_UID, NOBODY_UID, "ClaimDevice", SOLO5);
        line2 = user_client_line(&u);
        ck_assert_msg(startswith(line2, "OK "), "nobody's claim with a rule: %s", line2);
        path = line2 + 3;
        assert_on_vfio(SOLO5);
        row = lease_row(path);
        ck_assert_ptr_nonnull(row);
        ck_assert_int_eq(json_object_get_int64(jidx(row, ROW_UID)), NOBODY_UID);
        /* Its stdin closing tells it to release. */
        u.in = safe_close(u.in);
        line3 = user_client_line(&u);
        ck_assert_str_eq(line3, "RELEASED");
        user_client_finish(&u);
        assert_on_host(SOLO5, SOLO_DRIVER);
        ck_assert_uint_eq(n_leases(), 0);

        /* A deny rule binds root too (10- sorts first; the first match decides). */
        deny = path_join(C.policy, "10-deny.json");
        write_file(deny, "{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"" SOLO5 "\"}, "
                         "\"action\": \"deny\", \"reason\": \"the lab's uplink\"}]}\n");
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        msg = manager_error(bus, ERROR_PREFIX "PolicyDenied", "ClaimDevice", "sa{sv}", SOLO5, 0);
        assert_contains(msg, "the lab's uplink");
        assert_contains(msg, "10-deny.json");
        assert_on_host(SOLO5, SOLO_DRIVER);
        ck_assert_uint_eq(n_leases(), 0);
        case_end();
}
END_TEST

/* ---- 7. bad arguments: a named error each, and nothing changes ---- */

START_TEST(test_bad_arguments) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *claim = NULL, *before = NULL, *msg = NULL;
        static const char *const bad_addresses[] = { "../..",           "",
                                                     "0000:03:01.0/..", "03:01.0",
                                                     "0000:03:01.0\n",  "eth0" };
        static const char *const methods[] = { "ClaimDevice", "Prepare", "Unprepare" };
        const char *missing_lease = OBJ_LEASE_PREFIX "/999";

        case_start(Q35_HOST);
        bus = bus_connect();
        /* A claim in place, so that the lease methods have a lease, and one group prepared. */
        claim = claim_group(bus, Q35_GROUP);
        free(prepare(bus, SOLO5, true));
        before = world();

        msg = manager_error(bus, ERROR_PREFIX "NoSuchGroup", "ClaimGroup", "ua{sv}", 99999, 0);
        assert_contains(msg, "99999");
        expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER, "ClaimGroup",
                     "ua{sv}", 1, 1, "frobnicate", "b", 1);
        /* Only Prepare knows "persistent". */
        expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER, "ClaimGroup",
                     "ua{sv}", 1, 1, "persistent", "b", 1);
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                _cleanup_free_ char *m = NULL;

                m = call_error(bus, ERROR_PREFIX "NoSuchDevice", OBJ_ROOT, IFACE_MANAGER,
                               methods[i], "sa{sv}", MISSING_DEVICE, 0);
                assert_contains(m, MISSING_DEVICE);
                for (size_t j = 0; j < ELEMENTSOF(bad_addresses); j++)
                        expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER,
                                     methods[i], "sa{sv}", bad_addresses[j], 0);
                expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER,
                             methods[i], "sa{sv}", SOLO1, 1, "frobnicate", "b", 1);
                expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER,
                             methods[i], "sa{sv}", SOLO1, 1, "persistent", "s", "yes");
                expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER,
                             methods[i], "sa{sv}", SOLO1, 2, "persistent", "b", 1, "user", "u", 0);
                /* A signature that is not the method's: sd-bus refuses it itself. */
                expect_error(bus, SD_BUS_ERROR_INVALID_ARGS, OBJ_ROOT, IFACE_MANAGER, methods[i],
                             "ua{sv}", 1, 0);
        }
        expect_error(bus, SD_BUS_ERROR_INVALID_ARGS, OBJ_ROOT, IFACE_MANAGER, "ClaimGroup",
                     "sa{sv}", "6", 0);
        /* A group that is not prepared, or claimed rather than prepared. */
        expect_error(bus, ERROR_PREFIX "NoSuchLease", OBJ_ROOT, IFACE_MANAGER, "Unprepare",
                     "sa{sv}", SOLO1, 0);
        free(msg);
        msg = manager_error(bus, ERROR_PREFIX "NoSuchLease", "Unprepare", "sa{sv}", NIC1, 0);
        assert_contains(msg, "claimed");
        expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy",
                     "a{sv}", 1, "force", "b", 1);

        /* The lease's methods. */
        for (size_t j = 0; j < ELEMENTSOF(bad_addresses); j++)
                expect_error(bus, ERROR_PREFIX "InvalidArgument", claim, IFACE_LEASE, "OpenDevice",
                             "s", bad_addresses[j]);
        expect_error(bus, ERROR_PREFIX "NoSuchDevice", claim, IFACE_LEASE, "OpenDevice", "s",
                     SOLO1);
        expect_error(bus, ERROR_PREFIX "NoSuchDevice", claim, IFACE_LEASE, "OpenDevice", "s",
                     MISSING_DEVICE);
        expect_error(bus, ERROR_PREFIX "InvalidArgument", claim, IFACE_LEASE, "GrantAccess",
                     "ua{sv}", UINT32_MAX, 0);
        expect_error(bus, ERROR_PREFIX "InvalidArgument", claim, IFACE_LEASE, "GrantAccess",
                     "ua{sv}", NOBODY_UID, 1, "mode", "u", 0660);
        expect_error(bus, ERROR_PREFIX "InvalidArgument", claim, IFACE_LEASE, "Release", "a{sv}", 1,
                     "force", "b", 1);
        expect_error(bus, SD_BUS_ERROR_INVALID_ARGS, claim, IFACE_LEASE, "GrantAccess", "s",
                     "nobody");
        expect_error(bus, SD_BUS_ERROR_UNKNOWN_OBJECT, missing_lease, IFACE_LEASE, "Release",
                     "a{sv}", 0);
        expect_error(bus, SD_BUS_ERROR_UNKNOWN_OBJECT, missing_lease, IFACE_LEASE, "OpenContainer",
                     "");
        assert_world(before, "a call with bad arguments");

        release(bus, claim);
        unprepare(bus, SOLO5);
        case_end();
}
END_TEST

/* ---- 8. a host driver that takes a group-mate is undone ---- */

typedef struct Reverted {
        unsigned n;
        char *address, *driver, *message;
        uint32_t group;
} Reverted;

static int on_driver_reverted(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Reverted *r = userdata;
        const char *address, *driver, *message;
        uint32_t group;

        if (sd_bus_message_read(m, "ssus", &address, &driver, &group, &message) < 0)
                return 0;
        r->n++;
        free(r->address);
        free(r->driver);
        free(r->message);
        r->address = strdup(address);
        r->driver = strdup(driver);
        r->message = strdup(message);
        r->group = group;
        return 0;
}

static void reverted_clear(Reverted *r) {
        free(r->address);
        free(r->driver);
        free(r->message);
        *r = (Reverted) {};
}

static void watch_reverted(sd_bus *bus, Reverted *r) {
        ck_assert_int_ge(sd_bus_match_signal(bus, NULL, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                             "DriverReverted", on_driver_reverted, r),
                         0);
}

static void wait_reverted(sd_bus *bus, Reverted *r) {
        int64_t deadline = now_usec() + WAIT_MS * 1000;

        while (r->n == 0) {
                int k = sd_bus_process(bus, NULL);

                ck_assert_int_ge(k, 0);
                if (k > 0)
                        continue;
                ck_assert_msg(now_usec() < deadline, "no DriverReverted in %d ms", WAIT_MS);
                ck_assert_int_ge(sd_bus_wait(bus, 100 * 1000), 0);
        }
}

/* Claimed: the daemon holds the group open, so a member cannot leave vfio-pci (the kernel blocks
 * in vfio_unregister_group_dev() until the fds are closed; the model answers EBUSY). The host
 * driver is therefore put in place behind the model's back, by editing the tree as the kernel
 * would have (driver link and drivers/e1000/BDF), and the bind uevent is sent. */
START_TEST(test_driver_reverted_claimed) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *err = NULL, *script = NULL;
        _cleanup_(reverted_clear) Reverted rev = {};
        int r;

        case_start(Q35_HOST);
        bus = bus_connect();
        watch_reverted(bus, &rev);
        path = claim_group(bus, Q35_GROUP);

        script = xasprintf("echo %s > \"$1/" SYSFS_PCI_DRIVERS "/vfio-pci/unbind\"", NIC2);
        r = mock_sh_status(script, &err);
        /* (dash says "I/O error" whatever the errno; the model answers EBUSY.) */
        ck_assert_msg(r != 0, "unbinding a member of a claimed group succeeded");
        assert_on_vfio(NIC2);

        host_unbind_device(NIC2);
        host_rebind_device(NIC2);
        assert_driver(NIC2, NIC_DRIVER);
        send_uevent("bind", NIC2);
        wait_reverted(bus, &rev);
        ck_assert_str_eq(rev.address, NIC2);
        ck_assert_str_eq(rev.driver, NIC_DRIVER);
        ck_assert_uint_eq(rev.group, Q35_GROUP);
        assert_contains(rev.message, "moved back to vfio-pci");
        assert_on_vfio(NIC2);
        assert_on_vfio(NIC1);
        ck_assert(wait_state(Q35_GROUP, "active", 0));

        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* Prepared (nobody holds the group): through the model, someone clears the override, unbinds
 * vfio-pci and binds e1000, as a script or a new driver at boot might. */
START_TEST(test_driver_reverted_prepared) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(reverted_clear) Reverted rev = {};

        case_start(Q35_HOST);
        bus = bus_connect();
        watch_reverted(bus, &rev);
        free(prepare(bus, NIC1, false));
        assert_on_vfio(NIC2);

        mock_sh("echo > \"$1/" SYSFS_PCI_DEVICES "/" NIC2 "/driver_override\"\n"
                "echo " NIC2 " > \"$1/" SYSFS_PCI_DRIVERS "/vfio-pci/unbind\"\n"
                "echo " NIC2 " > \"$1/" SYSFS_PCI_DRIVERS "/" NIC_DRIVER "/bind\"\n");
        assert_on_host(NIC2, NIC_DRIVER);
        /* One uevent for the whole change, so that the daemon does not race the script. */
        send_uevent("bind", NIC2);
        wait_reverted(bus, &rev);
        ck_assert_str_eq(rev.address, NIC2);
        ck_assert_str_eq(rev.driver, NIC_DRIVER);
        ck_assert_uint_eq(rev.group, Q35_GROUP);
        assert_contains(rev.message, "moved back to vfio-pci");
        assert_on_vfio(NIC2);
        assert_on_vfio(NIC1);

        unprepare(bus, NIC1);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- 8b. group jobs: one group's hung probe holds up nobody else; one group's jobs in order ---- */

/* The Job property of an IOMMU group ("" when none runs). */
static char *group_job(sd_bus *bus, uint32_t group) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = xasprintf(OBJ_GROUP_PREFIX "/%" PRIu32, group);
        char *job = NULL;
        int r = sd_bus_get_property_string(bus, BUS_NAME, path, IFACE_GROUP, "Job", &e, &job);

        ck_assert_msg(r >= 0, "Job of group %" PRIu32 ": %s", group, e.message ?: strerror(-r));
        return job;
}

static void wait_group_job(sd_bus *bus, uint32_t group, const char *want) {
        int64_t deadline = now_usec() + WAIT_MS * 1000;

        for (;;) {
                _cleanup_free_ char *job = group_job(bus, group);

                if (streq(job, want))
                        return;
                ck_assert_msg(now_usec() < deadline, "group %" PRIu32 " runs \"%s\", not \"%s\"",
                              group, job, want);
                sleep_ms(5);
        }
}

#define PROBE_HANG_S 4

/* The first member's drivers_probe hangs past the daemon's write timeout (2 s). While the claim
 * of its group waits in the kernel, another group is claimed and the daemon answers at once; the
 * hung claim then fails with Timeout naming the device and step, and its group is whole on its
 * host drivers; the write that completes late changes nothing. */
START_TEST(test_hung_probe_holds_up_only_its_group) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *other = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(pending_clear) PendingCall hung = {};
        _cleanup_free_ char *path = NULL, *job = NULL, *out = NULL, *heading = NULL, *line = NULL;
        sd_bus_message *reply;
        int64_t t0, list_us, claim_us;

        daemon_write_timeout = "2";
        case_start(Q35_HOST);
        set_faults(NIC1 " probe-hang 4\n"); /* PROBE_HANG_S */
        bus = bus_connect();
        other = bus_connect();
        ck_assert_int_ge(sd_bus_call_method_async(bus, &slot, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                                  "ClaimGroup", on_pending_reply, &hung, "ua{sv}",
                                                  Q35_GROUP, 0),
                         0);
        ck_assert_int_ge(sd_bus_flush(bus), 0);
        wait_group_job(other, Q35_GROUP, "claim");
        /* Unbound from e1000 and not yet on vfio-pci: in the hanging drivers_probe. */
        ck_assert_msg(wait_driver(NIC1, NULL, WAIT_MS), "the first NIC never left e1000");
        sleep_ms(100);

        t0 = now_usec();
        reply = call_ok(other, OBJ_ROOT, IFACE_MANAGER, "ListGroups", "");
        list_us = now_usec() - t0;
        sd_bus_message_unref(reply);
        ck_assert_msg(list_us < 100 * 1000, "ListGroups took %" PRId64 " ms while a probe hung",
                      list_us / 1000);
        /* assignctl list shows what the daemon is doing to the group (GetHostReport's "job"). */
        ck_assert_int_eq(ASSIGNCTL(&out, NULL, "list"), 0);
        heading = xasprintf("Group %u ", Q35_GROUP);
        for (char *save = NULL, *l = strtok_r(out, "\n", &save); l && !line;
             l = strtok_r(NULL, "\n", &save))
                if (startswith(l, heading))
                        line = strdup(l);
        ck_assert_msg(line, "assignctl list has no line for group %u", Q35_GROUP);
        ck_assert_msg(strstr(line, ": assignable, claim running") ||
                              strstr(line, ": blocked, claim running"),
                      "assignctl list shows group %u as \"%s\"", Q35_GROUP, line);

        t0 = now_usec();
        path = claim_device(other, SOLO5);
        claim_us = now_usec() - t0;
        assert_on_vfio(SOLO5);
        /* ... while the hung claim still runs. */
        job = group_job(other, Q35_GROUP);
        ck_assert_str_eq(job, "claim");
        ck_assert_msg(claim_us < 1000 * 1000, "the other claim took %" PRId64 " ms",
                      claim_us / 1000);

        pending_wait(bus, &hung);
        ck_assert_msg(hung.error_name, "the hung claim succeeded: %s", strna(hung.path));
        ck_assert_str_eq(hung.error_name, ERROR_PREFIX "Timeout");
        assert_contains(hung.error_message, NIC1);
        assert_contains(hung.error_message, "drivers_probe");
        assert_on_host(NIC1, NIC_DRIVER);
        assert_on_host(NIC2, NIC_DRIVER);
        assert_override(NIC1, NULL);
        assert_override(NIC2, NULL);
        ck_assert(!node_exists(Q35_GROUP));
        wait_group_job(other, Q35_GROUP, "");

        /* The late probe finds the NIC on e1000 without an override: nothing moves. */
        sleep_ms(PROBE_HANG_S * 1000);
        assert_on_host(NIC1, NIC_DRIVER);
        assert_override(NIC1, NULL);
        release(other, path);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_state_empty();
        case_end();
}
END_TEST

/* Two clients claim one group at once: the second claim waits for the first one's job and sees
 * its result, an active claim held by the first client. */
START_TEST(test_jobs_of_one_group_run_in_order) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *first = NULL, *second = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot1 = NULL, *slot2 = NULL;
        _cleanup_(pending_clear) PendingCall a = {};
        _cleanup_(pending_clear) PendingCall b = {};
        _cleanup_free_ char *held = NULL;

        case_start(Q35_HOST);
        /* The first claim takes a second in its probe. */
        set_faults(NIC1 " probe-hang 1\n");
        first = bus_connect();
        second = bus_connect();
        ck_assert_int_ge(sd_bus_call_method_async(first, &slot1, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                                  "ClaimGroup", on_pending_reply, &a, "ua{sv}",
                                                  Q35_GROUP, 0),
                         0);
        ck_assert_int_ge(sd_bus_flush(first), 0);
        wait_group_job(second, Q35_GROUP, "claim");
        ck_assert_int_ge(sd_bus_call_method_async(second, &slot2, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                                  "ClaimGroup", on_pending_reply, &b, "ua{sv}",
                                                  Q35_GROUP, 0),
                         0);
        ck_assert_int_ge(sd_bus_flush(second), 0);

        pending_wait(second, &b);
        ck_assert_msg(b.error_name, "both claims succeeded");
        ck_assert_str_eq(b.error_name, ERROR_PREFIX "Busy");
        held = xasprintf("claim, active, held by %s", unique_name(first));
        assert_contains(b.error_message, held);
        pending_wait(first, &a);
        ck_assert_msg(!a.error_name, "the first claim failed: %s: %s", a.error_name,
                      a.error_message);
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);
        set_faults("");
        release(first, a.path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- 9. persistent prepares: on disk, re-applied at start and on arrival ---- */

START_TEST(test_persistent_prepare) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *devices = NULL, *devices2 = NULL, *prop = NULL;
        _cleanup_json_ json_object *prop2 = NULL, *leases = NULL;
        json_object *row;
        _cleanup_free_ char *path = NULL, *path2 = NULL, *path3 = NULL;
        static const char *const nics[] = { NIC1, NIC2, NULL };

        case_start(Q35_HOST);
        bus = bus_connect();
        path = prepare(bus, NIC1, true);
        devices = persistent_devices();
        ck_assert_uint_eq(jlen(devices), 2);
        ck_assert(persistent_lists(devices, NIC1) && persistent_lists(devices, NIC2));
        ck_assert(!persistent_lists(devices, Q35_BRIDGE));
        ck_assert_str_eq(jstr_or_null(jidx(devices, 0), "vendor"), "0x8086");
        ck_assert_str_eq(jstr_or_null(jidx(devices, 0), "device"), "0x100e");
        prop = lease_property(path, "Persistent");
        ck_assert(json_object_get_boolean(prop));

        unprepare(bus, NIC2);
        devices2 = persistent_devices();
        ck_assert_uint_eq(jlen(devices2), 0);
        assert_q35_group_back();

        /* Prepared again, then a reboot: the daemon binds the group again at start. */
        path2 = prepare(bus, NIC2, true);
        daemon_stop();
        reboot_to_host_drivers(nics, NIC_DRIVER);
        daemon_start();
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);
        leases = list_leases();
        ck_assert_uint_eq(jlen(leases), 1);
        row = jidx(leases, 0);
        ck_assert_str_eq(row_str(row, ROW_KIND), "prepare");
        path3 = strdup(row_str(row, 1));
        prop2 = lease_property(path3, "Persistent");
        ck_assert(json_object_get_boolean(prop2));

        unprepare(bus, NIC1);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* A persistent device that is not there at start is prepared when it appears. */
START_TEST(test_persistent_prepare_on_add) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *leases = NULL;
        static const char *const solo[] = { SOLO5, NULL };

        case_start(Q35_HOST);
        bus = bus_connect();
        free(prepare(bus, SOLO5, true));
        daemon_stop();
        reboot_to_host_drivers(solo, SOLO_DRIVER);
        host_remove_device(SOLO5);
        daemon_start();
        ck_assert_uint_eq(n_leases(), 0);

        host_restore_device(SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        send_uevent("add", SOLO5);
        ck_assert_msg(wait_driver(SOLO5, DRIVER_VFIO_PCI, WAIT_MS), "not prepared on arrival");
        assert_override(SOLO5, DRIVER_VFIO_PCI);
        leases = list_leases();
        ck_assert_uint_eq(jlen(leases), 1);
        ck_assert_str_eq(row_str(jidx(leases, 0), ROW_KIND), "prepare");
        ck_assert_int_eq(json_object_get_int64(jidx(jidx(leases, 0), ROW_GROUP)), 5);

        unprepare(bus, SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* The functions of a multi-device group appear one at a time (a hotplugged card, a VM host
 * whose NICs come up in turn). Each must end on vfio-pci in the group's one lease: a member
 * left on its host driver makes the group unusable (knowledge: "group not viable"). */
START_TEST(test_persistent_group_members_arrive) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *leases = NULL, *members = NULL, *devices = NULL;
        _cleanup_free_ char *path = NULL;
        static const char *const nics[] = { NIC1, NIC2, NULL };

        case_start(Q35_HOST);
        bus = bus_connect();
        free(prepare(bus, NIC1, true));
        daemon_stop();
        reboot_to_host_drivers(nics, NIC_DRIVER);
        host_remove_device(NIC1);
        host_remove_device(NIC2);
        daemon_start();
        ck_assert_uint_eq(n_leases(), 0);

        host_restore_device(NIC1);
        send_uevent("add", NIC1);
        ck_assert_msg(wait_driver(NIC1, DRIVER_VFIO_PCI, WAIT_MS), "%s not prepared on arrival",
                      NIC1);
        host_restore_device(NIC2);
        send_uevent("add", NIC2);
        /* The daemon acts in milliseconds; a failure need not take the full WAIT_MS. */
        ck_assert_msg(wait_driver(NIC2, DRIVER_VFIO_PCI, 2000),
                      "%s arrived in prepared group %d and stayed on %s", NIC2, Q35_GROUP,
                      NIC_DRIVER);
        leases = list_leases();
        ck_assert_uint_eq(jlen(leases), 1);
        path = strdup(row_str(jidx(leases, 0), 1));
        members = lease_property(path, "Devices");
        ck_assert_uint_eq(jlen(members), 3);

        unprepare(bus, NIC1);
        assert_q35_group_back();
        devices = persistent_devices();
        ck_assert_msg(jlen(devices) == 0, "unprepared, still persistent: %s",
                      json_object_to_json_string(devices));
        case_end();
}
END_TEST

/* ---- 10. GrantAccess hands /dev/vfio/N to a uid; release gives it back ---- */

START_TEST(test_grant_access) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL, *state2 = NULL;
        _cleanup_free_ char *path = NULL, *msg = NULL, *rule = NULL;
        json_object *lease, *v = NULL;

        case_start(Q35_HOST);
        /* The grantee gets what a claim of its own would: a rule must give nobody the group. */
        rule = path_join(C.policy, "50-nobody.json");
        write_file(
                rule,
                "{\"version\": 1, \"rules\": [{\"match\": {\"group\": 6}, \"action\": \"allow\", "
                "\"users\": [\"nobody\"]}]}\n");
        bus = bus_connect();
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        path = claim_group(bus, Q35_GROUP);
        ck_assert_uint_eq(node_owner(Q35_GROUP), 0);

        sd_bus_message_unref(call_ok(bus, path, IFACE_LEASE, "GrantAccess", "ua{sv}", NOBODY_UID,
                                     0));
        ck_assert_uint_eq(node_owner(Q35_GROUP), NOBODY_UID);
        state = state_json();
        ck_assert_int_eq(json_object_get_int64(jget(state_only_lease(state), "granted_uid")),
                         NOBODY_UID);

        /* The second NIC refuses to leave vfio-pci: the release stops half-way (stuck), with
         * the node still there, and already root's again. */
        set_faults(NIC2 " refuse-release EBUSY\n");
        msg = call_error(bus, ERROR_PREFIX "Stuck", path, IFACE_LEASE, "Release", "a{sv}", 0);
        assert_contains(msg, NIC2);
        ck_assert(node_exists(Q35_GROUP));
        ck_assert_uint_eq(node_owner(Q35_GROUP), 0);
        state2 = state_json();
        lease = state_only_lease(state2);
        ck_assert_str_eq(jstr_or_null(lease, "state"), "stuck");
        ck_assert(!json_object_object_get_ex(lease, "granted_uid", &v));
        assert_on_host(NIC1, NIC_DRIVER);

        set_faults("");
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- more edges of the same contract ---- */

/* A group whose members have no driver at all (q35 group 4: the ICH9 LPC, SATA and SMBus
 * functions): they go to vfio-pci and come back to no driver, not to some driver a probe
 * finds. */
START_TEST(test_claim_unbound_group) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL;
        _cleanup_free_ char *path = NULL;
        static const char *const members[] = { "0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3" };

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, 4);
        state = state_json();
        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                assert_on_vfio(members[i]);
                ck_assert_ptr_null(state_original_driver(state_only_lease(state), members[i]));
        }
        release(bus, path);
        for (size_t i = 0; i < ELEMENTSOF(members); i++)
                assert_on_host(members[i], NULL);
        ck_assert_uint_eq(n_leases(), 0);
        case_end();
}
END_TEST

/* The caller goes away while its claim is being carried out (a client killed, a timeout):
 * whatever the claim left must be given back, not held for a holder that is gone. */
START_TEST(test_holder_exit_during_claim) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(pending_clear) PendingCall claim = {};
        char *bdfs[] = { (char *) NIC1, (char *) NIC2, NULL };

        case_start(Q35_HOST);
        /* The second NIC's writes take a second: time for the caller to leave mid-claim. */
        set_faults(NIC2 " hang 1\n");
        bus = bus_connect();
        ck_assert_int_ge(sd_bus_call_method_async(bus, &slot, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                                  "ClaimGroup", on_pending_reply, &claim, "ua{sv}",
                                                  Q35_GROUP, 0),
                         0);
        ck_assert_int_ge(sd_bus_flush(bus), 0);
        ck_assert_msg(wait_state(Q35_GROUP, "binding", WAIT_MS), "state.json never said binding");
        slot = sd_bus_slot_unref(slot);
        bus = sd_bus_flush_close_unref(bus);
        /* Gone while the daemon still sleeps in the first write; the rest may be fast. */
        set_faults("");

        (void) wait_group_back(bdfs, NIC_DRIVER, WAIT_MS);
        assert_q35_group_back();
        ck_assert(log_contains("holder gone, released"));
        case_end();
}
END_TEST

/* ---- main ---- */

static void claim_setup(void) {
        world_setup("claim");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the claim tests"))
                return 77;

        s = suite_create("claim");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, claim_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_claim_bridge_group_q35);
        tcase_add_test(tc, test_claim_bridge_group_server);
        tcase_add_test(tc, test_third_member_fails);
        tcase_add_test(tc, test_third_member_bind_fails);
        tcase_add_loop_test(tc, test_crash_while_binding, 0,
                            ELEMENTSOF(hang_members) * ELEMENTSOF(crash_backends));
        tcase_add_loop_test(tc, test_crash_while_releasing, 0,
                            ELEMENTSOF(hang_members) * ELEMENTSOF(crash_backends));
        tcase_add_loop_test(tc, test_crash_while_stuck, 0, ELEMENTSOF(crash_backends));
        tcase_add_loop_test(tc, test_restart_keeps_claim, 0, ELEMENTSOF(crash_backends));
        tcase_add_test(tc, test_restart_releases_orphan);
        tcase_add_test(tc, test_restart_keeps_prepare);
        tcase_add_test(tc, test_holder_exit_releases_fast);
        tcase_add_test(tc, test_polkit_denies);
        tcase_add_test(tc, test_unprivileged_caller);
        tcase_add_test(tc, test_bad_arguments);
        tcase_add_test(tc, test_driver_reverted_claimed);
        tcase_add_test(tc, test_driver_reverted_prepared);
        tcase_add_test(tc, test_hung_probe_holds_up_only_its_group);
        tcase_add_test(tc, test_jobs_of_one_group_run_in_order);
        tcase_add_test(tc, test_persistent_prepare);
        tcase_add_test(tc, test_persistent_prepare_on_add);
        tcase_add_test(tc, test_persistent_group_members_arrive);
        tcase_add_test(tc, test_grant_access);
        tcase_add_test(tc, test_claim_unbound_group);
        tcase_add_test(tc, test_holder_exit_during_claim);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
