/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The authorisation chokepoint covers every method we serve: a method missing from the table
 * would be refused, a stale entry hides a mistake, and every method that changes the host has
 * a polkit action. */
#include <check.h>
#include <string.h>

#include "daemon.h"
#include "names.h"

static const struct {
        const char *interface;
        const sd_bus_vtable *vtable;
} served[] = {
        { IFACE_MANAGER, manager_vtable },
        { IFACE_GROUP, group_vtable },
        { IFACE_DEVICE, device_vtable },
        { IFACE_LEASE, lease_vtable },
};

/* Methods that only read. Everything else must carry an action. */
static const char *const read_only[] = {
        "ListGroups", "ListDevices", "GetHostReport", "ListLeases", "GetPolicy", "ExplainPolicy",
};

static bool is_read_only(const char *member) {
        for (size_t i = 0; i < ELEMENTSOF(read_only); i++)
                if (streq(read_only[i], member))
                        return true;
        return false;
}

START_TEST(test_every_method_is_in_the_table) {
        size_t methods = 0;

        for (size_t i = 0; i < ELEMENTSOF(served); i++)
                for (const sd_bus_vtable *v = served[i].vtable; v->type != _SD_BUS_VTABLE_END; v++) {
                        const BusAccess *a;

                        if (v->type != _SD_BUS_VTABLE_METHOD)
                                continue;
                        methods++;
                        a = bus_access_find(served[i].interface, v->x.method.member);
                        ck_assert_msg(a, "%s.%s is not in bus_access_table", served[i].interface,
                                      v->x.method.member);
                        if (is_read_only(v->x.method.member))
                                ck_assert_msg(!a->action, "%s reads only but needs %s", v->x.method.member, a->action);
                        else
                                ck_assert_msg(a->action && strneq(a->action, "org.vfioassign1.", 16),
                                              "%s.%s changes the host but has no polkit action", served[i].interface,
                                              v->x.method.member);
                }
        ck_assert_uint_ge(methods, 16);
}
END_TEST

START_TEST(test_no_stale_entries) {
        for (const BusAccess *a = bus_access_table; a->interface; a++) {
                bool found = false;

                for (size_t i = 0; i < ELEMENTSOF(served); i++)
                        if (streq(served[i].interface, a->interface))
                                for (const sd_bus_vtable *v = served[i].vtable; v->type != _SD_BUS_VTABLE_END; v++)
                                        if (v->type == _SD_BUS_VTABLE_METHOD && streq(v->x.method.member, a->member))
                                                found = true;
                ck_assert_msg(found, "bus_access_table lists %s.%s, which is not served", a->interface, a->member);
        }
}
END_TEST

START_TEST(test_unknown_is_denied) {
        ck_assert_ptr_null(bus_access_find(IFACE_MANAGER, "Reboot"));
        ck_assert_ptr_null(bus_access_find("org.example.Other", "ClaimGroup"));
        ck_assert_str_eq(bus_access_find(IFACE_MANAGER, "ClaimGroup")->action, "org.vfioassign1.claim");
        ck_assert_str_eq(bus_access_find(IFACE_MANAGER, "Prepare")->action, "org.vfioassign1.prepare");
        ck_assert_str_eq(bus_access_find(IFACE_MANAGER, "ReloadPolicy")->action, "org.vfioassign1.manage");
}
END_TEST

int main(void) {
        Suite *s = suite_create("access");
        TCase *tc = tcase_create("chokepoint");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_every_method_is_in_the_table);
        tcase_add_test(tc, test_no_stale_entries);
        tcase_add_test(tc, test_unknown_is_denied);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
