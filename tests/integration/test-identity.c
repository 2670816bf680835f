/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The card at an address a policy rule names (issue 14, "Hardware identity"), on the kernel model
 * and a private bus: identities.json records vendor, device, subsystem ids and group of the card
 * the daemon first finds there; after a reboot with another card at the address (another
 * subsystem_device), a claim is refused with IdentityChanged naming the rule and both ids, and
 * nothing is bound, until `assignctl policy accept` records the new card. A wildcard address
 * names no card, and a rule taken away forgets its record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "state.h"
#include "util.h"

#define IDENTITY_CHANGED ERROR_PREFIX "IdentityChanged"
#define SOLO5_IDS "8086:10d3 subsystem 8086:0000"
#define OTHER_IDS "8086:10d3 subsystem 8086:1234"
#define RULE_FILE "50-solo.json"

/* A rule for user nobody that names address (a glob when it has wildcards), in force. */
static void write_rule(sd_bus *bus, const char *address) {
        _cleanup_free_ char *path = path_join(C.policy, RULE_FILE);
        _cleanup_free_ char *text =
                xasprintf("{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"%s\"}, "
                          "\"action\": \"allow\", \"users\": [\"nobody\"]}]}\n",
                          address);

        write_file(path, text);
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
}

/* The "devices" of identities.json (a new reference; an empty list when there is no file). */
static json_object *identities(void) {
        _cleanup_free_ char *text = file_or_empty(C.state, IDENTITY_FILE);
        _cleanup_json_ json_object *o = NULL;

        if (!text[0])
                return json_object_new_array();
        o = parse_json(text, IDENTITY_FILE);
        return json_object_get(jget(o, "devices"));
}

/* The rule names SOLO5: its card is recorded, and the report says ok with the rule. */
START_TEST(test_rule_records_card) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *devices = NULL, *entry = NULL;
        json_object *d;

        case_start(Q35_HOST);
        bus = bus_connect();
        write_rule(bus, SOLO5);
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 1);
        d = jidx(devices, 0);
        assert_solo5_record(d);

        entry = report_entry(bus, "identities", SOLO5);
        ck_assert_str_eq(jstr_or_null(entry, "state"), "ok");
        assert_contains(jstr_or_null(entry, "rule"), RULE_FILE "#");
        ck_assert_str_eq(jstr_or_null(entry, "subsystem_device"), "0x0000");
        ck_assert_ptr_null(jget(entry, "error"));
        ck_assert_ptr_null(jget(entry, "message"));
        case_end();
}
END_TEST

/* After a reboot with another card at SOLO5: the claim is refused (IdentityChanged, the rule,
 * both ids, how to accept), nothing is bound; `assignctl policy accept` records the new card and
 * the claim goes through. */
START_TEST(test_changed_card_refused_until_accepted) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *entry = NULL, *devices = NULL;
        _cleanup_free_ char *msg = NULL, *out = NULL, *err = NULL, *path = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        write_rule(bus, SOLO5);
        bus = sd_bus_flush_close_unref(bus);
        daemon_stop();
        assert_on_host(SOLO5, SOLO_DRIVER);
        swap_card(SOLO5, "0x1234");
        daemon_start();
        bus = bus_connect();

        msg = manager_error(bus, IDENTITY_CHANGED, "ClaimDevice", "sa{sv}", SOLO5, 0);
        assert_contains(msg, SOLO5 ": the card there is " OTHER_IDS ", but " SOLO5_IDS
                                   " was recorded when rule ");
        assert_contains(msg, RULE_FILE "#");
        assert_contains(msg, "assignctl policy accept " SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_override(SOLO5, NULL);
        ck_assert_uint_eq(n_leases(), 0);
        /* A prepare too. */
        msg = mfree(msg);
        msg = manager_error(bus, IDENTITY_CHANGED, "Prepare", "sa{sv}", SOLO5, 0);
        assert_contains(msg, OTHER_IDS);
        ck_assert_uint_eq(n_leases(), 0);

        entry = report_entry(bus, "identities", SOLO5);
        ck_assert_str_eq(jstr_or_null(entry, "state"), "identity-changed");
        ck_assert_str_eq(jstr_or_null(entry, "error"), IDENTITY_CHANGED);
        ck_assert_str_eq(jstr_or_null(entry, "subsystem_device"), "0x0000");
        assert_contains(jstr_or_null(entry, "message"), "assignctl policy accept " SOLO5);
        /* Only an accept replaces the record. */
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 1);
        ck_assert_str_eq(jstr_or_null(jidx(devices, 0), "subsystem_device"), "0x0000");

        ck_assert_int_eq(ASSIGNCTL(&out, &err, "policy", "accept", SOLO5), 0);
        json_object_put(devices);
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 1);
        ck_assert_str_eq(jstr_or_null(jidx(devices, 0), "subsystem_device"), "0x1234");
        ck_assert(log_contains(SOLO5 ": card 8086:10d3 subsystem 8086:1234 accepted by "));

        path = claim_device(bus, SOLO5);
        assert_on_vfio(SOLO5);
        release(bus, path);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* An accept of an address no rule names, or of no device: a named error, nothing recorded. */
START_TEST(test_accept_refused) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *devices = NULL;
        _cleanup_free_ char *msg = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        msg = manager_error(bus, ERROR_PREFIX "InvalidArgument", "AcceptIdentity", "sa{sv}", SOLO5,
                            0);
        assert_contains(msg, SOLO5 ": no policy rule in force names the address");
        msg = mfree(msg);
        msg = manager_error(bus, ERROR_PREFIX "NoSuchDevice", "AcceptIdentity", "sa{sv}",
                            MISSING_DEVICE, 0);
        assert_contains(msg, MISSING_DEVICE);
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 0);
        case_end();
}
END_TEST

/* A wildcard names no card: nothing is recorded. A rule taken away forgets its record. */
START_TEST(test_wildcard_and_removed_rule) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *devices = NULL, *report = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        write_rule(bus, "0000:01:00.*");
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 0);
        report = bus_report(bus);
        ck_assert_uint_eq(jlen(jget(report, "identities")), 0);

        write_rule(bus, SOLO5);
        json_object_put(devices);
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 1);
        write_rule(bus, "0000:01:00.*");
        json_object_put(devices);
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 0);
        ck_assert(log_contains(SOLO5 ": no policy rule names the address any more"));
        case_end();
}
END_TEST

/* A file that cannot be parsed is kept aside and the card recorded again. */
START_TEST(test_corrupt_file_kept_aside) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *devices = NULL;
        _cleanup_free_ char *file = NULL, *aside = NULL, *kept = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        write_rule(bus, SOLO5);
        bus = sd_bus_flush_close_unref(bus);
        daemon_stop();
        file = path_join(C.state, IDENTITY_FILE);
        ck_assert_int_eq(unlink(file), 0);
        write_file(file, "{\"version\": 1, \"devices\": [{\"address\": 7}]}\n");
        ck_assert_int_eq(chmod(file, 0600), 0);
        daemon_start();
        aside = xasprintf("%s.corrupt", IDENTITY_FILE);
        kept = file_or_empty(C.state, aside);
        assert_contains(kept, "\"address\": 7");
        ck_assert(log_contains(IDENTITY_FILE ": devices[0]: missing or invalid fields; kept as"));
        devices = identities();
        ck_assert_uint_eq(jlen(devices), 1);
        ck_assert_str_eq(jstr_or_null(jidx(devices, 0), "address"), SOLO5);
        case_end();
}
END_TEST

static void identity_setup(void) {
        world_setup("identity");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the recorded card tests"))
                return 77;
        s = suite_create("identity");
        tc = tcase_create("rule");
        tcase_add_unchecked_fixture(tc, identity_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_rule_records_card);
        tcase_add_test(tc, test_changed_card_refused_until_accepted);
        tcase_add_test(tc, test_accept_refused);
        tcase_add_test(tc, test_wildcard_and_removed_rule);
        tcase_add_test(tc, test_corrupt_file_kept_aside);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
