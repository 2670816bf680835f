/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Persistent prepares and the identity of the card they prepared (issue 14), on the kernel
 * model and a private bus: persistent.json records vendor, device, subsystem ids and group; after
 * a reboot with another card at the address (here: another subsystem_device), the daemon
 * prepares nothing there, says IdentityChanged in the log and in GetHostReport's "persistent"
 * list, and a caller's persistent prepare of the address accepts the new card. The file the
 * early-prepare udev rule reads follows persistent.json, and a device the rule kept from its
 * host driver is adopted at start and given back through drivers_probe. */
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
#include "util.h"

#define IDENTITY_CHANGED ERROR_PREFIX "IdentityChanged"

/* What the kernel says of SOLO5 in the q35 snapshot, and the other card. */
#define SOLO5_IDS "8086:10d3 subsystem 8086:0000"
#define OTHER_IDS "8086:10d3 subsystem 8086:1234"

/* Until the log has needle (the daemon's arrival job runs after the uevent is read; bounded). */
static void wait_log(const char *needle) {
        int64_t deadline = now_usec() + WAIT_MS * 1000LL;

        while (!log_contains(needle)) {
                if (now_usec() >= deadline)
                        dump_log();
                ck_assert_msg(now_usec() < deadline, "the log never said \"%s\"", needle);
                sleep_ms(5);
        }
}

/* persistent.json records the card: ids, subsystem ids, group; the report says prepared. */
START_TEST(test_identity_recorded) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *devices = NULL, *entry = NULL;
        json_object *d;

        case_start(Q35_HOST);
        bus = bus_connect();
        free(prepare(bus, SOLO5, true));
        devices = persistent_devices();
        ck_assert_uint_eq(jlen(devices), 1);
        d = jidx(devices, 0);
        assert_solo5_record(d);

        entry = report_entry(bus, "persistent", SOLO5);
        ck_assert_str_eq(jstr_or_null(entry, "state"), "prepared");
        ck_assert_str_eq(jstr_or_null(entry, "subsystem_device"), "0x0000");
        ck_assert_int_eq(json_object_get_int64(jget(entry, "group")), SOLO5_GROUP);
        ck_assert_ptr_null(jget(entry, "error"));
        ck_assert_ptr_null(jget(entry, "message"));

        unprepare(bus, SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* After a reboot with another card at the address: nothing is bound, at start or on its "add";
 * the log and the report say IdentityChanged with both ids; a persistent prepare by a caller
 * replaces the record, and the unprepare forgets it. */
START_TEST(test_identity_changed_not_prepared) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *entry = NULL, *entry2 = NULL, *devices = NULL;
        _cleanup_json_ json_object *devices2 = NULL;
        static const char *const solo[] = { SOLO5, NULL };
        const char *message;

        case_start(Q35_HOST);
        bus = bus_connect();
        free(prepare(bus, SOLO5, true));
        daemon_stop();
        reboot_to_host_drivers(solo, SOLO_DRIVER);
        swap_card(SOLO5, "0x1234");
        daemon_start();

        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_override(SOLO5, NULL);
        ck_assert_uint_eq(n_leases(), 0);
        ck_assert(log_contains(SOLO5 ": the card there is " OTHER_IDS
                                     ", the persistent prepare recorded " SOLO5_IDS));
        ck_assert(log_contains("(" IDENTITY_CHANGED ")"));

        entry = report_entry(bus, "persistent", SOLO5);
        ck_assert_str_eq(jstr_or_null(entry, "state"), "identity-changed");
        ck_assert_str_eq(jstr_or_null(entry, "error"), IDENTITY_CHANGED);
        ck_assert_str_eq(jstr_or_null(entry, "subsystem_device"), "0x0000");
        message = jstr_or_null(entry, "message");
        ck_assert_ptr_nonnull(message);
        assert_contains(message, "the card there is " OTHER_IDS
                                 ", the persistent prepare recorded " SOLO5_IDS);
        assert_contains(message, "assignctl prepare " SOLO5 " --persistent");
        /* The record stays what it was: only a caller replaces it. */
        devices = persistent_devices();
        ck_assert_uint_eq(jlen(devices), 1);
        ck_assert_str_eq(jstr_or_null(jidx(devices, 0), "subsystem_device"), "0x0000");

        /* The card's "add" (a hotplug, a rescan) does not prepare it either. */
        send_uevent("add", SOLO5);
        wait_log("prepare of IOMMU group 5 failed (" IDENTITY_CHANGED "): " SOLO5
                 ": the card there is " OTHER_IDS);
        assert_on_host(SOLO5, SOLO_DRIVER);
        ck_assert_uint_eq(n_leases(), 0);

        /* The caller accepts the new card. */
        free(prepare(bus, SOLO5, true));
        assert_on_vfio(SOLO5);
        devices2 = persistent_devices();
        ck_assert_uint_eq(jlen(devices2), 1);
        ck_assert_str_eq(jstr_or_null(jidx(devices2, 0), "subsystem_device"), "0x1234");
        entry2 = report_entry(bus, "persistent", SOLO5);
        ck_assert_str_eq(jstr_or_null(entry2, "state"), "prepared");
        unprepare(bus, SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        json_object_put(devices);
        devices = persistent_devices();
        ck_assert_uint_eq(jlen(devices), 0);
        case_end();
}
END_TEST

/* An entry an older daemon wrote (vendor and device only) is still applied at start: the
 * subsystem ids it lacks are not compared, and the report shows them null. */
START_TEST(test_old_entry_applied) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *entry = NULL;
        _cleanup_free_ char *p = NULL;
        static const char *const solo[] = { SOLO5, NULL };

        case_start(Q35_HOST);
        bus = bus_connect();
        free(prepare(bus, SOLO5, true));
        daemon_stop();
        reboot_to_host_drivers(solo, SOLO_DRIVER);
        swap_card(SOLO5, "0x1234");
        p = path_join(C.state, PERSISTENT_FILE);
        ck_assert_int_eq(unlink(p), 0);
        write_file(p, "{\"version\":1,\"devices\":[{\"address\":\"" SOLO5 "\",\"vendor\":"
                      "\"0x8086\",\"device\":\"0x10d3\"}]}\n");
        ck_assert_int_eq(chmod(p, 0600), 0);
        bus = sd_bus_flush_close_unref(bus);
        daemon_start();
        bus = bus_connect();

        assert_on_vfio(SOLO5);
        ck_assert_uint_eq(n_leases(), 1);
        entry = report_entry(bus, "persistent", SOLO5);
        ck_assert_str_eq(jstr_or_null(entry, "state"), "prepared");
        ck_assert_ptr_null(jget(entry, "subsystem_vendor"));
        ck_assert_ptr_null(jget(entry, "subsystem_device"));
        ck_assert_ptr_null(jget(entry, "group"));
        unprepare(bus, SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* The boot with the early-prepare rule (systemd/udev/70-vfio-assignd.rules), as udev runs it
 * at the device's "add", before the daemon: the helper finds the card in the daemon's file, the
 * override is written, the helper's --probe binds vfio-pci. The host driver never binds; the
 * daemon adopts the device at start and its release lets drivers_probe find the host driver. */
START_TEST(test_early_prepared_adopted) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL, *entry = NULL;
        _cleanup_free_ char *conf = NULL, *text = NULL, *script = NULL, *early = NULL;
        _cleanup_free_ char *state_path = NULL;
        json_object *lease, *devs;

        case_start(Q35_HOST);
        bus = bus_connect();
        free(prepare(bus, SOLO5, true));
        conf = path_join(C.state, EARLY_PREPARE_FILE);
        text = read_file_or_abort(conf);
        assert_contains(text, "\n" SOLO5 " 8086 10d3 8086 0000 vfio-pci\n");
        daemon_stop();

        /* Power off: no override, no driver, /run empty. */
        mock_sh("echo > \"$1/" SYSFS_PCI_DEVICES "/" SOLO5 "/driver_override\"\n"
                "echo " SOLO5 " > \"$1/" SYSFS_PCI_DRIVERS "/vfio-pci/unbind\"\n");
        assert_on_host(SOLO5, NULL);
        state_path = path_join(C.run, STATE_FILE);
        ck_assert_int_eq(unlink(state_path), 0);
        /* The rule's three steps, with the ids as udev passes them ($attr{...}). */
        early = path_join(getenv("TOP_BUILDDIR") ?: ".", "vfio-assignd-early");
        script = xasprintf("d=\"$1/" SYSFS_PCI_DEVICES "/" SOLO5 "\"\n"
                           "out=$('%s' --file='%s' " SOLO5
                           " $(cat \"$d/vendor\") $(cat \"$d/device\") "
                           "$(cat \"$d/subsystem_vendor\") $(cat \"$d/subsystem_device\"))\n"
                           "[ \"$out\" = " EARLY_PREPARE_ENV "=vfio-pci ]\n"
                           "echo vfio-pci > \"$d/driver_override\"\n"
                           "'%s' --probe --sysfs-root=\"$1\" " SOLO5 "\n",
                           early, conf, early);
        mock_sh(script);
        assert_on_vfio(SOLO5);
        assert_override(SOLO5, DRIVER_VFIO_PCI);

        bus = sd_bus_flush_close_unref(bus);
        daemon_start();
        bus = bus_connect();
        assert_on_vfio(SOLO5);
        ck_assert_uint_eq(n_leases(), 1);
        state = state_json();
        lease = state_only_lease(state);
        devs = jget(lease, "devices");
        ck_assert_uint_eq(jlen(devs), 1);
        /* vfio-pci is no driver to give it back to: the release probes. */
        ck_assert_ptr_null(jstr_or_null(jidx(devs, 0), "original_driver"));
        ck_assert(json_object_get_boolean(jget(jidx(devs, 0), "restore_probe")));
        entry = report_entry(bus, "persistent", SOLO5);
        ck_assert_str_eq(jstr_or_null(entry, "state"), "prepared");

        unprepare(bus, SOLO5);
        assert_on_host(SOLO5, SOLO_DRIVER);
        assert_override(SOLO5, NULL);
        json_object_put(state);
        state = NULL;
        text = mfree(text);
        text = read_file_or_abort(conf);
        ck_assert_msg(!strstr(text, SOLO5), "unprepared, still in %s:\n%s", conf, text);
        case_end();
}
END_TEST

static void persistent_setup(void) {
        world_setup("persistent");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the persistent prepare tests"))
                return 77;
        s = suite_create("persistent");
        tc = tcase_create("identity");
        tcase_add_unchecked_fixture(tc, persistent_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_identity_recorded);
        tcase_add_test(tc, test_identity_changed_not_prepared);
        tcase_add_test(tc, test_old_entry_applied);
        tcase_add_test(tc, test_early_prepared_adopted);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
