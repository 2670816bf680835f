/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VFIO variant drivers through the daemon (issue 14), on the kernel model and a private bus: a
 * member that modules.alias gives a vfio_pci alias goes to that driver instead of vfio-pci, the
 * choice is in state.json before the first write, and the release gives it back to its host
 * driver; a variant that is not loaded refuses the claim naming the module, and nothing changes;
 * a device no alias names goes to vfio-pci. The q35 host's e1000 NICs (8086:100e) stand for a
 * device with a variant, "e1000_vfio_pci". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define RELEASE "6.1.0-variant"
#define VARIANT "e1000_vfio_pci"

static bool has_key(json_object *o, const char *key) {
        return json_object_object_get_ex(o, key, NULL);
}

/* The q35 host on a kernel RELEASE whose modules.alias names VARIANT for the e1000 NICs, loaded
 * or not. */
static void case_start_variant(bool loaded) {
        _cleanup_free_ char *spec = path_join(H.tmpdir, "q35-variant.host");
        _cleanup_free_ char *text = xasprintf("include %s/%s\nosrelease " RELEASE "\n%s",
                                              getenv("TEST_DATA_DIR") ?: "tests/data", Q35_HOST,
                                              loaded ? "driver " VARIANT "\n" : "");
        _cleanup_free_ char *dir = NULL, *file = NULL, *cmd = NULL;

        write_file(spec, text);
        case_begin(spec);
        dir = xasprintf("%s/lib/modules/" RELEASE, C.host);
        cmd = xasprintf("mkdir -p '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
        file = path_join(dir, "modules.alias");
        /* As on a real kernel: vfio-pci's catch-all first (drivers/vfio/pci/vfio_pci.c). */
        write_file(file, "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
                         "alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\n"
                         "alias vfio_pci:v00008086d0000100Esv*sd*bc*sc*i* " VARIANT "\n"
                         "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n");
        polkit_allow_all();
        daemon_start();
}

/* A modules.alias that cannot be parsed: the report names the file and the line, and every
 * device goes to vfio-pci. */
START_TEST(test_bad_modules_alias) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *file = NULL, *errors = NULL;
        bool named = false;

        case_start_variant(true);
        file = xasprintf("%s/lib/modules/" RELEASE "/modules.alias", C.host);
        write_file(file, "alias vfio_pci:v00008086d0000100Esv*sd*bc*sc*i* " VARIANT "\n"
                         "alias vfio_pci:v*\n");
        report = daemon_report();
        for (size_t i = 0; i < jlen(jget(jget(report, "host"), "errors")); i++)
                named = named ||
                        streq(json_object_get_string(jidx(jget(jget(report, "host"), "errors"), i)),
                              "VFIO variant drivers: lib/modules/" RELEASE
                              "/modules.alias: line 2: "
                              "an alias line is \"alias PATTERN MODULE\"");
        ck_assert_msg(named, "the report does not name the bad line: %s",
                      json_object_to_json_string(jget(jget(report, "host"), "errors")));
        for (size_t i = 0; i < jlen(jget(report, "devices")); i++) {
                json_object *d = jidx(jget(report, "devices"), i);

                if (streq(jstr_or_null(d, "address"), NIC1))
                        ck_assert_str_eq(jstr_or_null(d, "vfio_driver"), "vfio-pci");
        }
        case_end();
}
END_TEST

/* Device.VfioDriver and the report's vfio_driver say where a claim would bind each function. */
START_TEST(test_vfio_driver_shown) {
        _cleanup_json_ json_object *report = NULL, *nic = NULL, *solo = NULL, *bridge = NULL;
        _cleanup_free_ char *nic_path = NULL, *solo_path = NULL, *bridge_path = NULL;

        case_start_variant(false);
        report = daemon_report();
        for (size_t i = 0; i < jlen(jget(report, "devices")); i++) {
                json_object *d = jidx(jget(report, "devices"), i);
                const char *addr = jstr_or_null(d, "address");

                if (streq(addr, NIC1) || streq(addr, NIC2))
                        ck_assert_str_eq(jstr_or_null(d, "vfio_driver"), VARIANT);
                else if (streq(addr, SOLO5))
                        ck_assert_str_eq(jstr_or_null(d, "vfio_driver"), "vfio-pci");
                else if (streq(addr, Q35_BRIDGE))
                        ck_assert_ptr_null(jstr_or_null(d, "vfio_driver"));
        }
        nic_path = xasprintf(OBJ_DEVICE_PREFIX "/%s", "_30000_3a03_3a01_2e0");
        nic = get_property(nic_path, IFACE_DEVICE, "VfioDriver");
        ck_assert_str_eq(jstr_or_null(nic, "data"), VARIANT);
        solo_path = xasprintf(OBJ_DEVICE_PREFIX "/%s", "_30000_3a01_3a00_2e0");
        solo = get_property(solo_path, IFACE_DEVICE, "VfioDriver");
        ck_assert_str_eq(jstr_or_null(solo, "data"), "vfio-pci");
        bridge_path = xasprintf(OBJ_DEVICE_PREFIX "/%s", "_30000_3a02_3a00_2e0");
        bridge = get_property(bridge_path, IFACE_DEVICE, "VfioDriver");
        ck_assert_str_eq(jstr_or_null(bridge, "data"), "");
        case_end();
}
END_TEST

START_TEST(test_variant_chosen_and_recorded) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL;
        _cleanup_json_ json_object *state = NULL;
        json_object *l;

        case_start_variant(true);
        ck_assert(log_contains("2 VFIO variant driver aliases"));
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        assert_driver(NIC1, VARIANT);
        assert_driver(NIC2, VARIANT);
        assert_driver(Q35_BRIDGE, NULL);
        state = state_json();
        l = state_only_lease(state);
        for (size_t i = 0; i < jlen(jget(l, "devices")); i++) {
                json_object *d = jidx(jget(l, "devices"), i);
                const char *addr = jstr_or_null(d, "address");

                if (streq(addr, Q35_BRIDGE))
                        ck_assert(!has_key(d, "vfio_driver"));
                else
                        ck_assert_str_eq(jstr_or_null(d, "vfio_driver"), VARIANT);
        }
        /* The group's fds come as for vfio-pci: the variant registers with VFIO the same way. */
        safe_close(open_fd(bus, lease, "OpenDevice", NIC1));
        release(bus, lease);
        assert_q35_group_back();
        case_end();
}
END_TEST

START_TEST(test_variant_not_loaded) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL, *before = NULL, *after = NULL;

        case_start_variant(false);
        before = snapshot();
        bus = bus_connect();
        msg = manager_error(bus, ERROR_PREFIX "DriverNotLoaded", "ClaimGroup", "ua{sv}", Q35_GROUP,
                            0);
        assert_contains(msg, NIC1 " goes to the VFIO variant driver " VARIANT);
        assert_contains(msg, "load it with 'modprobe " VARIANT "'");
        after = snapshot();
        ck_assert_str_eq(before, after);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* assignctl modules-load, under --root (the host tree) with $ASSIGNCTL_MODPROBE standing in for
 * modprobe; what it prints on stdout. */
static char *modules_load(int want, char *const args[]) {
        _cleanup_free_ char *probe = NULL, *env = NULL, *root = NULL, *err = NULL;
        char *argv[16] = { (char *) "env", NULL, (char *) H.assignctl, (char *) "modules-load",
                           NULL };
        char *out = NULL;
        size_t n = 4;
        int r;

        /* The model's "modprobe": the module's driver directory appears. */
        probe = path_join(C.host, "modprobe");
        write_file(probe, "#!/bin/sh\n[ \"$1\" = -- ] && shift\n"
                          "mkdir -p \"$(dirname \"$0\")/sys/bus/pci/drivers/$1\"\n");
        ck_assert_int_eq(chmod(probe, 0755), 0);
        argv[1] = env = xasprintf("ASSIGNCTL_MODPROBE=%s", probe);
        root = xasprintf("--root=%s", C.host);
        argv[n++] = root;
        for (size_t i = 0; args[i]; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        r = run_argv(argv, &out, &err);
        ck_assert_msg(r == want, "assignctl modules-load exited %d, not %d: %s", r, want, err);
        return out;
}

/* DriverNotLoaded names the command that fixes it: modules-load --needed lists the variant the
 * NICs need (the report's vfio_driver, not loaded) in the modules-load.d file under the root,
 * keeping what the file had, and --now loads it; then the claim goes through. */
START_TEST(test_modules_load_needed) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL, *dir = NULL, *file = NULL, *text = NULL, *out = NULL;
        _cleanup_free_ char *loaded = NULL, *lease = NULL;
        _cleanup_json_ json_object *doc = NULL;

        case_start_variant(false);
        bus = bus_connect();
        msg = manager_error(bus, ERROR_PREFIX "DriverNotLoaded", "ClaimGroup", "ua{sv}", Q35_GROUP,
                            0);
        assert_contains(msg, "'assignctl modules-load --now " VARIANT "'");

        dir = path_join(C.host, "etc");
        make_dir(dir);
        free(dir);
        dir = path_join(C.host, "etc/modules-load.d");
        make_dir(dir);
        file = path_join(dir, "vfio-assignd.conf");
        write_file(file, "# the admin's\nvfio_pci");
        loaded = path_join(C.host, "sys/bus/pci/drivers/" VARIANT);
        out = modules_load(0,
                           (char *const[]) { (char *) "--json=short", (char *) "--needed", NULL });
        doc = parse_json(out, "modules-load --needed");
        ck_assert_uint_eq(jlen(jget(doc, "added")), 1);
        ck_assert_str_eq(json_object_get_string(jidx(jget(doc, "added"), 0)), VARIANT);
        text = read_file_or_abort(file);
        ck_assert_str_eq(text, "# the admin's\nvfio_pci\n" VARIANT "\n");
        ck_assert_msg(!path_exists(loaded), "loaded without --now");

        /* Listed already: nothing is added; --now loads it. */
        free(out);
        out = modules_load(0, (char *const[]) { (char *) "--now", (char *) VARIANT, NULL });
        assert_contains(out, VARIANT ": already in ");
        ck_assert(path_exists(loaded));
        free(text);
        text = read_file_or_abort(file);
        ck_assert_str_eq(text, "# the admin's\nvfio_pci\n" VARIANT "\n");
        free(out);
        out = modules_load(0, (char *const[]) { (char *) "--needed", NULL });
        assert_contains(out, "No VFIO variant driver is missing.");

        lease = claim_group(bus, Q35_GROUP);
        assert_driver(NIC1, VARIANT);
        release(bus, lease);
        assert_q35_group_back();

        /* Names that are no module, or not VFIO's, are refused; the file stays as it was. */
        free(out);
        out = modules_load(2, (char *const[]) { (char *) "../e1000", NULL });
        free(out);
        out = modules_load(2, (char *const[]) { (char *) "e1000e", NULL });
        free(text);
        text = read_file_or_abort(file);
        ck_assert_str_eq(text, "# the admin's\nvfio_pci\n" VARIANT "\n");
        case_end();
}
END_TEST

/* No alias for the device (the e1000e of group 5): vfio-pci, and no vfio_driver in the state. */
START_TEST(test_no_variant_is_vfio_pci) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL;
        _cleanup_json_ json_object *state = NULL;

        case_start_variant(true);
        bus = bus_connect();
        lease = claim_device(bus, SOLO5);
        assert_driver(SOLO5, "vfio-pci");
        state = state_json();
        ck_assert(!has_key(jidx(jget(state_only_lease(state), "devices"), 0), "vfio_driver"));
        release(bus, lease);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* A rule's vfio_driver wins over modules.alias: "vfio-pci" keeps the NICs off their variant; a
 * variant the rule names that is not loaded is refused naming the rule. */
START_TEST(test_policy_chooses_driver) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *policy = NULL, *lease = NULL, *msg = NULL;

        case_start_variant(true);
        policy = path_join(C.policy, "60-driver.json");
        write_file(policy, "{\"version\": 1, \"rules\": [{\"action\": \"allow\", \"match\": "
                           "{\"vendor\": \"0x8086\", \"device\": \"0x100e\"}, "
                           "\"vfio_driver\": \"vfio-pci\"}]}\n");
        bus = bus_connect();
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        lease = claim_group(bus, Q35_GROUP);
        assert_driver(NIC1, "vfio-pci");
        assert_driver(NIC2, "vfio-pci");
        release(bus, lease);
        assert_q35_group_back();

        write_file(policy, "{\"version\": 1, \"rules\": [{\"action\": \"allow\", \"match\": "
                           "{\"vendor\": \"0x8086\", \"device\": \"0x100e\"}, "
                           "\"vfio_driver\": \"intel_vfio_pci\"}]}\n");
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        msg = manager_error(bus, ERROR_PREFIX "DriverNotLoaded", "ClaimGroup", "ua{sv}", Q35_GROUP,
                            0);
        assert_contains(msg, "goes to the VFIO variant driver intel_vfio_pci (rule ");
        assert_contains(msg, "60-driver.json#0), which is not loaded");
        assert_q35_group_back();
        case_end();
}
END_TEST

static void variant_setup(void) {
        world_setup("variant");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the variant driver tests"))
                return 77;
        s = suite_create("variant");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, variant_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_vfio_driver_shown);
        tcase_add_test(tc, test_bad_modules_alias);
        tcase_add_test(tc, test_variant_chosen_and_recorded);
        tcase_add_test(tc, test_variant_not_loaded);
        tcase_add_test(tc, test_modules_load_needed);
        tcase_add_test(tc, test_no_variant_is_vfio_pci);
        tcase_add_test(tc, test_policy_chooses_driver);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
