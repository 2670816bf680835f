/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The authorisation chokepoint covers every method we serve: every vtable method is the one
 * trampoline, a method missing from the table would be refused, a stale entry hides a mistake,
 * and every method that changes the host has a polkit action. */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "names.h"

static const struct {
        const char *interface;
        const sd_bus_vtable *vtable;
} served[] = {
        { IFACE_MANAGER, manager_vtable }, { IFACE_GROUP, group_vtable },
        { IFACE_DEVICE, device_vtable },   { IFACE_LEASE, lease_vtable },
        { IFACE_REGION, region_vtable },
};

/* The API's naming: members that only read are named for it (List*, Get*, Explain*, Find*); the
 * table alone says which members are free, and this checks it against the names. */
static bool named_as_reading(const char *member) {
        return strneq(member, "List", 4) || strneq(member, "Get", 3) ||
               strneq(member, "Explain", 7) || strneq(member, "Find", 4);
}

START_TEST(test_every_method_is_in_the_table) {
        size_t methods = 0, free_ = 0;

        for (size_t i = 0; i < ELEMENTSOF(served); i++)
                for (const sd_bus_vtable *v = served[i].vtable; v->type != _SD_BUS_VTABLE_END;
                     v++) {
                        const BusAccess *a;

                        if (v->type != _SD_BUS_VTABLE_METHOD)
                                continue;
                        methods++;
                        /* No handler of its own: the trampoline authorises, then runs the row's. */
                        ck_assert_msg(v->x.method.handler == bus_method_trampoline,
                                      "%s.%s does not go through bus_method_trampoline()",
                                      served[i].interface, v->x.method.member);
                        a = bus_access_find(served[i].interface, v->x.method.member);
                        ck_assert_msg(a, "%s.%s is not in bus_access_table", served[i].interface,
                                      v->x.method.member);
                        ck_assert_msg(a->handler, "%s.%s has no handler", served[i].interface,
                                      v->x.method.member);
                        if (named_as_reading(v->x.method.member)) {
                                ck_assert_msg(!a->action, "%s reads only but needs %s",
                                              v->x.method.member, a->action);
                                free_++;
                        } else
                                ck_assert_msg(a->action &&
                                                      strneq(a->action, "org.vfioassign1.", 16),
                                              "%s.%s changes the host but has no polkit action",
                                              served[i].interface, v->x.method.member);
                }
        ck_assert_uint_ge(methods, 16);
        /* ListGroups, ListDevices, GetHostReport, ListLeases, GetPolicy, ExplainPolicy, FindLease */
        ck_assert_uint_eq(free_, 7);
}
END_TEST

START_TEST(test_no_stale_entries) {
        for (const BusAccess *a = bus_access_table; a->interface; a++) {
                bool found = false;

                for (size_t i = 0; i < ELEMENTSOF(served); i++)
                        if (streq(served[i].interface, a->interface))
                                for (const sd_bus_vtable *v = served[i].vtable;
                                     v->type != _SD_BUS_VTABLE_END; v++)
                                        if (v->type == _SD_BUS_VTABLE_METHOD &&
                                            streq(v->x.method.member, a->member))
                                                found = true;
                ck_assert_msg(found, "bus_access_table lists %s.%s, which is not served",
                              a->interface, a->member);
                ck_assert_ptr_eq(bus_access_find(a->interface, a->member), a);
        }
}
END_TEST

START_TEST(test_unknown_is_denied) {
        ck_assert_ptr_null(bus_access_find(IFACE_MANAGER, "Reboot"));
        ck_assert_ptr_null(bus_access_find("org.example.Other", "ClaimGroup"));
        ck_assert_ptr_null(bus_access_find(NULL, "ClaimGroup"));
        ck_assert_ptr_null(bus_access_find(IFACE_MANAGER, NULL));
        ck_assert_str_eq(bus_access_find(IFACE_MANAGER, "ClaimGroup")->action,
                         "org.vfioassign1.claim");
        ck_assert_str_eq(bus_access_find(IFACE_MANAGER, "Prepare")->action,
                         "org.vfioassign1.prepare");
        ck_assert_str_eq(bus_access_find(IFACE_MANAGER, "Unprepare")->action,
                         "org.vfioassign1.prepare");
        ck_assert_str_eq(bus_access_find(IFACE_MANAGER, "ReloadPolicy")->action,
                         "org.vfioassign1.manage");
        ck_assert_str_eq(bus_access_find(IFACE_LEASE, "Release")->action, "org.vfioassign1.manage");
}
END_TEST

/* A connection that is never authenticated: enough to build messages, which is all the
 * trampoline and the inspect hooks look at here. */
static sd_bus *bus;
static int peer = -1;

static void bus_setup(void) {
        int fds[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        ck_assert_int_ge(sd_bus_new(&bus), 0);
        ck_assert_int_ge(sd_bus_set_fd(bus, fds[0], fds[0]), 0);
        ck_assert_int_ge(sd_bus_start(bus), 0);
        peer = fds[1];
}

static void bus_teardown(void) {
        bus = sd_bus_close_unref(bus);
        peer = safe_close(peer);
}

static sd_bus_message *call(const char *path, const char *interface, const char *member,
                            const char *sender) {
        sd_bus_message *m = NULL;

        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, interface, member),
                         0);
        if (sender)
                ck_assert_int_ge(sd_bus_message_set_sender(m, sender), 0);
        ck_assert_int_ge(sd_bus_message_seal(m, 1, 0), 0);
        return m;
}

/* A member without a row is refused by name, and its handler (there is none) never runs. */
START_TEST(test_trampoline_refuses_unknown) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *m = call(OBJ_ROOT, IFACE_MANAGER, "Reboot", ":1.7");

        ck_assert_int_eq(bus_method_trampoline(m, NULL, &e), -EACCES);
        ck_assert_str_eq(e.name, SD_BUS_ERROR_ACCESS_DENIED);
        ck_assert_str_eq(e.message, "org.vfioassign1.Manager.Reboot is not an authorised method");
}
END_TEST

/* Outside the daemon's objects there is no manager to ask polkit with: a method that needs an
 * action is refused before its handler (which would find no manager in its userdata). */
START_TEST(test_trampoline_denies_without_manager) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *m = call(OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", ":1.7");

        ck_assert_int_eq(bus_method_trampoline(m, NULL, &e), -EACCES);
        ck_assert_str_eq(e.name, SD_BUS_ERROR_ACCESS_DENIED);
}
END_TEST

/* A free member runs its handler at once: ListLeases of a manager with no leases. */
START_TEST(test_trampoline_runs_free_member) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *m = call(OBJ_ROOT, IFACE_MANAGER, "ListLeases", ":1.7");
        Manager d = {};

        ck_assert_int_ge(bus_method_trampoline(m, &d, &e), 0);
        ck_assert(!sd_bus_error_is_set(&e));
}
END_TEST

static BusAuth inspect_lease(Lease *l, Manager *d, const char *member, const char *sender) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *m = call(OBJ_LEASE_PREFIX "/7", IFACE_LEASE, member, sender);
        BusAuth auth = { .action = bus_access_find(IFACE_LEASE, member)->action };

        ck_assert_int_ge(lease_inspect(m, d, l, &auth, &e), 0);
        ck_assert(!sd_bus_error_is_set(&e));
        return auth;
}

/* The holder needs nothing; anyone else needs manage, with the group's details; releasing a
 * prepare is judged as Unprepare. */
START_TEST(test_lease_inspect) {
        static const char *const members[] = { "OpenContainer", "OpenGroup", "OpenDevice",
                                               "GrantAccess", "Release" };
        Manager d = { .bus_id = "0123456789abcdef0123456789abcdef" };
        Lease claim = { .id = 7,
                        .kind = LEASE_CLAIM,
                        .group = 5,
                        .holder = (char *) ":1.7",
                        .holder_bus_id = "0123456789abcdef0123456789abcdef" };
        Lease prepare = { .id = 8, .kind = LEASE_PREPARE, .group = 6 };
        BusAuth a;

        ck_assert_ptr_nonnull(lease_bus_attach(&d, &claim));
        ck_assert_ptr_nonnull(lease_bus_attach(&d, &prepare));
        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                a = inspect_lease(&claim, &d, members[i], ":1.7");
                ck_assert_msg(!a.action, "the holder's %s needs %s", members[i], a.action);
                a = inspect_lease(&claim, &d, members[i], ":1.8");
                ck_assert_str_eq(a.action, POLKIT_ACTION_MANAGE);
                ck_assert(a.about_group);
                ck_assert_uint_eq(a.group, 5);
                a = inspect_lease(&prepare, &d, members[i], ":1.7");
                if (streq(members[i], "Release"))
                        ck_assert_str_eq(a.action,
                                         bus_access_find(IFACE_MANAGER, "Unprepare")->action);
                else
                        ck_assert_str_eq(a.action, POLKIT_ACTION_MANAGE);
                ck_assert(a.about_group);
                ck_assert_uint_eq(a.group, 6);
        }
        /* The same unique name on another bus instance is someone else. */
        memcpy(claim.holder_bus_id, "fedcba9876543210fedcba9876543210",
               sizeof(claim.holder_bus_id));
        a = inspect_lease(&claim, &d, "OpenContainer", ":1.7");
        ck_assert_str_eq(a.action, POLKIT_ACTION_MANAGE);
        lease_bus_forget(&claim);
        lease_bus_forget(&prepare);
}
END_TEST

START_TEST(test_lease_inspect_not_served) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *m = call(OBJ_LEASE_PREFIX "/7", IFACE_LEASE, "Release", ":1.7");
        Manager d = {};
        Lease l = { .id = 7, .kind = LEASE_CLAIM, .group = 5, .holder = (char *) ":1.7" };
        BusAuth auth = { .action = POLKIT_ACTION_MANAGE };

        ck_assert_int_lt(lease_inspect(m, &d, &l, &auth, &e), 0);
        ck_assert_str_eq(e.name, "org.vfioassign1.Error.Failed");
        ck_assert_str_eq(e.message, "Lease not served");
        ck_assert_str_eq(auth.action, POLKIT_ACTION_MANAGE);
}
END_TEST

int main(void) {
        Suite *s = suite_create("access");
        TCase *tc = tcase_create("chokepoint"), *tt = tcase_create("trampoline");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_every_method_is_in_the_table);
        tcase_add_test(tc, test_no_stale_entries);
        tcase_add_test(tc, test_unknown_is_denied);
        suite_add_tcase(s, tc);
        tcase_add_checked_fixture(tt, bus_setup, bus_teardown);
        tcase_add_test(tt, test_trampoline_refuses_unknown);
        tcase_add_test(tt, test_trampoline_denies_without_manager);
        tcase_add_test(tt, test_trampoline_runs_free_member);
        tcase_add_test(tt, test_lease_inspect);
        tcase_add_test(tt, test_lease_inspect_not_served);
        suite_add_tcase(s, tt);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
