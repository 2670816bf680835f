/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Leases by owner key (issue 15), on the kernel model and a private bus: a claim with the option
 * owner outlives its caller's connection and keeps none of the group's fds; the same owner asking
 * again gets the same lease; FindLease finds it after the caller (and the daemon) restarted;
 * ReleaseByOwner gives every lease of the key back, and polkit judges it as a claim. assignctl's
 * --owner goes the same way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define OWNER "k8s:claim/6a1e0c52-9d1f-4c5e-a4a4-1f2b3c4d5e6f"
#define OTHER_OWNER "libvirt:0e6f4f0c-1111-2222-3333-444455556666"

static char *claim_owned(sd_bus *bus, const char *bdf, const char *owner) {
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", "sa{sv}", bdf, 1,
                                  "owner", "s", owner));
}

static char *find_lease(sd_bus *bus, const char *owner) {
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "FindLease", "s", owner));
}

static void release_by_owner(sd_bus *bus, const char *owner) {
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReleaseByOwner", "sa{sv}",
                                     owner, 0));
}

static const char *state_owner(json_object *lease) {
        return jstr_or_null(lease, "owner");
}

/* The caller's connection closes: the lease stays (no holder, no tracking), with its owner in
 * state.json and on the bus, and it hands out no fds: the nodes are for its owner's runtime. */
START_TEST(test_owner_claim_outlives_connection) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL, *owner = NULL, *holder = NULL;
        _cleanup_free_ char *path = NULL, *msg = NULL;
        sd_bus *caller;

        case_start(Q35_HOST);
        caller = bus_connect();
        path = claim_owned(caller, SOLO5, OWNER);
        sd_bus_flush_close_unref(caller);
        /* Twice the bound a holder's lease gets after its connection closes. */
        sleep_ms(2 * HOLDER_EXIT_BOUND_MS);
        assert_on_vfio(SOLO5);
        ck_assert_uint_eq(n_leases(), 1);
        state = state_json();
        ck_assert_str_eq(state_owner(state_only_lease(state)), OWNER);
        ck_assert_ptr_null(jstr_or_null(state_only_lease(state), "holder"));
        owner = lease_property(path, "Owner");
        ck_assert_str_eq(json_object_get_string(owner), OWNER);
        holder = lease_property(path, "Holder");
        ck_assert_str_eq(json_object_get_string(holder), "");

        bus = bus_connect();
        msg = call_error(bus, ERROR_PREFIX "NotActive", path, IFACE_LEASE, "OpenContainer", "");
        ck_assert_msg(strstr(msg, "owned by \"" OWNER "\"") && strstr(msg, "/dev/vfio/5"),
                      "OpenContainer of an owner's claim: %s", msg);
        release_by_owner(bus, OWNER);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_state_empty();
        ck_assert(!node_exists(SOLO5_GROUP));
        case_end();
}
END_TEST

/* The same owner again, from another connection: the same lease; another owner, no owner, or the
 * same owner asking for a prepare: Busy, naming the owner. */
START_TEST(test_owner_claim_idempotent) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *again = NULL;
        _cleanup_free_ char *path = NULL, *path2 = NULL, *msg = NULL, *msg2 = NULL, *msg3 = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        again = bus_connect();
        path = claim_owned(bus, SOLO5, OWNER);
        path2 = claim_owned(again, SOLO5, OWNER);
        ck_assert_str_eq(path, path2);
        ck_assert_uint_eq(n_leases(), 1);
        ck_assert(log_contains("already claimed for owner \"" OWNER "\""));

        msg = manager_error(again, ERROR_PREFIX "Busy", "ClaimDevice", "sa{sv}", SOLO5, 1, "owner",
                            "s", OTHER_OWNER);
        ck_assert_msg(strstr(msg, "owner \"" OWNER "\""), "another owner: %s", msg);
        msg2 = manager_error(again, ERROR_PREFIX "Busy", "ClaimDevice", "sa{sv}", SOLO5, 0);
        msg3 = manager_error(again, ERROR_PREFIX "Busy", "Prepare", "sa{sv}", SOLO5, 1, "owner",
                             "s", OWNER);
        ck_assert_uint_eq(n_leases(), 1);
        release_by_owner(bus, OWNER);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* FindLease and ReleaseByOwner: found, not found, not a key; one key over two groups is released
 * as a whole, and FindLease names both rather than picking one. */
START_TEST(test_find_and_release_by_owner) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *p1 = NULL, *p5 = NULL, *found = NULL, *msg = NULL, *msg2 = NULL;
        _cleanup_free_ char *msg3 = NULL, *msg4 = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        p5 = claim_owned(bus, SOLO5, OWNER);
        found = find_lease(bus, OWNER);
        ck_assert_str_eq(found, p5);
        msg = manager_error(bus, ERROR_PREFIX "NoSuchLease", "FindLease", "s", OTHER_OWNER);
        ck_assert_msg(strstr(msg, OTHER_OWNER), "FindLease of an unknown key: %s", msg);
        expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER, "FindLease", "s",
                     "has a space");
        expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER, "ClaimDevice",
                     "sa{sv}", SOLO1, 1, "owner", "s", "");
        expect_error(bus, ERROR_PREFIX "InvalidArgument", OBJ_ROOT, IFACE_MANAGER, "ClaimDevice",
                     "sa{sv}", SOLO1, 1, "owner", "u", 5);
        ck_assert_uint_eq(n_leases(), 1);

        p1 = claim_owned(bus, SOLO1, OWNER);
        msg2 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "FindLease", "s", OWNER);
        ck_assert_msg(strstr(msg2, "2 leases") && strstr(msg2, p1) && strstr(msg2, p5),
                      "FindLease of a key with two leases: %s", msg2);
        release_by_owner(bus, OWNER);
        assert_on_host(SOLO1, SOLO_DRIVER);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_state_empty();
        msg3 = manager_error(bus, ERROR_PREFIX "NoSuchLease", "ReleaseByOwner", "sa{sv}", OWNER, 0);
        msg4 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "ReleaseByOwner", "sa{sv}", OWNER,
                             1, "force", "b", 1);
        case_end();
}
END_TEST

/* kill -9 of the daemon: the owner's claim is kept at the restart (its owner has no connection
 * to have lost), FindLease finds it again under the same path, and it still goes back. */
START_TEST(test_owner_claim_survives_restart) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *bus2 = NULL;
        _cleanup_free_ char *path = NULL, *found = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_owned(bus, SOLO5, OWNER);
        daemon_kill();
        daemon_start();
        assert_on_vfio(SOLO5);
        bus2 = bus_connect();
        found = find_lease(bus2, OWNER);
        ck_assert_str_eq(found, path);
        release_by_owner(bus2, OWNER);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_state_empty();
        case_end();
}
END_TEST

/* ReleaseByOwner needs the claim action (the key stands for the holder), and so does Release of
 * an owner's claim by someone else: refused, the lease stays. A key that holds a prepare needs
 * the prepare action. */
START_TEST(test_owner_polkit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *prep = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_owned(bus, SOLO5, OWNER);
        prep = reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "Prepare", "sa{sv}", SOLO1, 1,
                                  "owner", "s", OTHER_OWNER));
        polkit_call((char *const[]) { (char *) "SetAllowed", (char *) "as", (char *) "1",
                                      (char *) ACTION_PREPARE, NULL });
        expect_error(bus, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "ReleaseByOwner", "sa{sv}",
                     OWNER, 0);
        expect_error(bus, ERROR_ACCESS_DENIED, path, IFACE_LEASE, "Release", "a{sv}", 0);
        ck_assert_uint_eq(n_leases(), 2);
        release_by_owner(bus, OTHER_OWNER); /* a prepare: the prepare action */
        assert_on_host(SOLO1, SOLO_DRIVER);
        polkit_call((char *const[]) { (char *) "SetAllowed", (char *) "as", (char *) "1",
                                      (char *) ACTION_CLAIM, NULL });
        release_by_owner(bus, OWNER);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_state_empty();
        case_end();
}
END_TEST

/* assignctl claim --owner returns at once with the lease, leases shows the key, release --owner
 * gives it back; --owner with --exec, or release with both a target and --owner, is a usage
 * error. */
START_TEST(test_assignctl_owner) {
        _cleanup_free_ char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
        _cleanup_free_ char *out3 = NULL, *err3 = NULL, *out4 = NULL, *err4 = NULL;
        _cleanup_free_ char *out5 = NULL, *err5 = NULL;

        case_start(Q35_HOST);
        ck_assert_int_eq(assignctl(&out, &err,
                                   (char *const[]) { (char *) "claim", (char *) SOLO5,
                                                     (char *) "--owner=" OWNER, NULL }),
                         0);
        ck_assert_msg(strstr(out, "for owner " OWNER), "claim --owner said: %s", out);
        assert_on_vfio(SOLO5);
        ck_assert_int_eq(assignctl(&out2, &err2, (char *const[]) { (char *) "leases", NULL }), 0);
        ck_assert_msg(strstr(out2, OWNER), "leases: %s", out2);
        ck_assert_int_eq(assignctl(&out3, &err3,
                                   (char *const[]) { (char *) "claim", (char *) SOLO1,
                                                     (char *) "--owner=x", (char *) "--exec",
                                                     (char *) "true", NULL }),
                         2);
        ck_assert_int_eq(assignctl(&out4, &err4,
                                   (char *const[]) { (char *) "release", (char *) SOLO5,
                                                     (char *) "--owner=" OWNER, NULL }),
                         2);
        ck_assert_int_eq(assignctl(&out5, &err5,
                                   (char *const[]) { (char *) "release", (char *) "--owner=" OWNER,
                                                     NULL }),
                         0);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_state_empty();
        case_end();
}
END_TEST

static void owner_setup(void) {
        world_setup("owner");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the owner key tests"))
                return 77;
        s = suite_create("owner");
        tc = tcase_create("owner");
        tcase_add_unchecked_fixture(tc, owner_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_owner_claim_outlives_connection);
        tcase_add_test(tc, test_owner_claim_idempotent);
        tcase_add_test(tc, test_find_and_release_by_owner);
        tcase_add_test(tc, test_owner_claim_survives_restart);
        tcase_add_test(tc, test_owner_polkit);
        tcase_add_test(tc, test_assignctl_owner);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
