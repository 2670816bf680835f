/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Manager.SetNumVfs (issue 14) on the kernel model and a private bus: VFs for the host driver and
 * for VFIO (each then prepared, its own group), the count through 0, refusals that change nothing,
 * a failure at each step putting the PF back at its old count, a VF in a lease keeping its PF's
 * count, and a daemon killed in the middle of a change undoing it at its next start. The PF is an
 * igb (8086:1521) behind its own root port on the q35 host, with VFs 8086:1520 on igbvf. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "../mock/mock-observe.h"
#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

/* VF n is at RID 0x0400 + offset 0x80 + n * stride 2 (PCIe 6.0 §9.3.3.9, §9.3.3.10). */
#define PF "0000:04:00.0"
#define VF0 "0000:04:10.0"
#define VF1 "0000:04:10.2"
#define VF2 "0000:04:10.4"
#define PF_GROUP 8
#define VF_DRIVER "igbvf"
#define VF_FAULTS PF " vf-driver " VF_DRIVER "\n"
#define PF_NETDEV "enp4s0"

static void case_start_sriov(void) {
        _cleanup_free_ char *spec = path_join(H.tmpdir, "sriov.host");
        _cleanup_free_ char *text = NULL;

        text = xasprintf("include %s/" Q35_HOST "\n"
                         "driver " VF_DRIVER "\n"
                         "device 0000:00:05.0 vendor=0x1b36 device=0x000c class=0x060400 "
                         "driver=pcieport group=7 iommu=dmar0\n"
                         "device " PF " parent=0000:00:05.0 vendor=0x8086 device=0x1521 "
                         "class=0x020000 driver=igb reset=flr group=%d iommu=dmar0 totalvfs=4 "
                         "numvfs=0 vf_offset=128 vf_stride=2 vf_device=0x1520 netdev=" PF_NETDEV
                         "\n",
                         getenv("TEST_DATA_DIR") ?: "tests/data", PF_GROUP);
        write_file(spec, text);
        case_begin(spec);
        set_faults(VF_FAULTS);
        polkit_allow_all();
        daemon_start();
}

static char *pf_attr(const char *name) {
        _cleanup_free_ char *dir = xasprintf("%s/sys/bus/pci/devices/" PF, C.host);
        char *text = file_or_empty(dir, name);

        strstrip_trailing(text);
        return text;
}

#define assert_pf(name, want)                                                                     \
        do {                                                                                      \
                _cleanup_free_ char *_v = pf_attr(name);                                          \
                ck_assert_msg(streq(_v, (want)), PF " %s is \"%s\", not %s", (name), _v, (want)); \
        } while (0)

static bool device_exists(const char *bdf) {
        _cleanup_free_ char *p = xasprintf("%s/sys/bus/pci/devices/%s", C.host, bdf);

        return access(p, F_OK) == 0;
}

/* SetNumVfs that must succeed: the VFs it returned, joined by spaces. */
static char *set_num_vfs(sd_bus *bus, uint32_t n, bool vfio) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **vfs = NULL;
        char *joined = NULL;

        reply = vfio ? call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "SetNumVfs", "sua{sv}", PF, n, 1,
                               "vfio", "b", 1)
                     : call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "SetNumVfs", "sua{sv}", PF, n, 0);
        ck_assert_int_ge(sd_bus_message_read_strv(reply, &vfs), 0);
        for (char **v = vfs; v && *v; v++)
                ck_assert_int_ge(strextendf(&joined, " ", "%s", *v), 0);
        return joined ?: strdup("");
}

static char *set_num_vfs_error(sd_bus *bus, const char *name, uint32_t n, bool vfio) {
        return vfio ? manager_error(bus, name, "SetNumVfs", "sua{sv}", PF, n, 1, "vfio", "b", 1)
                    : manager_error(bus, name, "SetNumVfs", "sua{sv}", PF, n, 0);
}

static void assert_no_change_recorded(void) {
        _cleanup_free_ char *text = file_or_empty(C.run, "sriov.json");

        ck_assert_str_eq(text, "");
}

START_TEST(test_vfs_for_the_host) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *vfs = NULL, *none = NULL;

        case_start_sriov();
        bus = bus_connect();
        vfs = set_num_vfs(bus, 2, false);
        ck_assert_str_eq(vfs, VF0 " " VF1);
        assert_pf("sriov_numvfs", "2");
        assert_on_host(VF0, VF_DRIVER);
        assert_on_host(VF1, VF_DRIVER);
        ck_assert_int_eq(n_leases(), 0);
        assert_no_change_recorded();
        /* The same count again changes nothing. */
        free(vfs);
        vfs = set_num_vfs(bus, 2, false);
        ck_assert_str_eq(vfs, VF0 " " VF1);
        none = set_num_vfs(bus, 0, false);
        ck_assert_str_eq(none, "");
        ck_assert(!device_exists(VF0));
        assert_pf("sriov_numvfs", "0");
        assert_pf("sriov_drivers_autoprobe", "1");
        case_end();
}
END_TEST

/* VFs for VFIO never meet their host driver: autoprobe is off while they appear, their overrides
 * name vfio-pci before it is back on, and each is then prepared in its own group. */
START_TEST(test_vfs_for_vfio) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *vfs = NULL, *msg = NULL, *none = NULL, *log = NULL;

        case_start_sriov();
        bus = bus_connect();
        vfs = set_num_vfs(bus, 2, true);
        ck_assert_str_eq(vfs, VF0 " " VF1);
        assert_on_vfio(VF0);
        assert_on_vfio(VF1);
        assert_pf("sriov_drivers_autoprobe", "1");
        ck_assert_int_eq(n_leases(), 2);
        wait_uevents_handled();
        log = read_file_or_abort(C.log);
        ck_assert_msg(!strstr(log, "bind " VF0 " " VF_DRIVER) && !driver_is(VF0, VF_DRIVER),
                      "VF0 met its host driver");
        /* Prepared VFs keep the count: they are leases. */
        msg = set_num_vfs_error(bus, ERROR_PREFIX "Busy", 0, false);
        assert_contains(msg, "VF " VF0 " of " PF " is in lease");
        assert_contains(msg, "release or unprepare it first");
        assert_pf("sriov_numvfs", "2");
        unprepare(bus, VF0);
        unprepare(bus, VF1);
        /* They had no host driver: given back unbound, without an override. */
        assert_driver(VF0, NULL);
        assert_override(VF0, NULL);
        none = set_num_vfs(bus, 0, false);
        ck_assert_str_eq(none, "");
        ck_assert(!device_exists(VF0));
        assert_no_change_recorded();
        case_end();
}
END_TEST

START_TEST(test_refusals_change_nothing) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL, *m1 = NULL, *m2 = NULL, *m3 = NULL,
                            *m4 = NULL, *m5 = NULL;

        case_start_sriov();
        bus = bus_connect();
        before = snapshot();
        m1 = set_num_vfs_error(bus, ERROR_PREFIX "InvalidArgument", 5, false);
        assert_contains(m1, PF " has at most 4 VFs (sriov_totalvfs), not 5");
        m2 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "SetNumVfs", "sua{sv}", NIC1, 1, 0);
        assert_contains(m2, NIC1 " is no SR-IOV physical function");
        m3 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "SetNumVfs", "sua{sv}", PF, 1, 1,
                           "vfio", "s", "yes");
        assert_contains(m3, "\"vfio\" has the wrong type");
        m4 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "SetNumVfs", "sua{sv}", "04:00.0",
                           1, 0);
        assert_contains(m4, "is not a PCI address");
        m5 = manager_error(bus, ERROR_PREFIX "NoSuchDevice", "SetNumVfs", "sua{sv}", MISSING_DEVICE,
                           1, 0);
        polkit_deny_all();
        expect_error(bus, ERROR_ACCESS_DENIED, OBJ_ROOT, IFACE_MANAGER, "SetNumVfs", "sua{sv}", PF,
                     1, 0);
        after = snapshot();
        ck_assert_str_eq(before, after);
        case_end();
}
END_TEST

/* A failure at each step: the PF is back at its old count (1), autoprobe back on, nothing
 * recorded, and the error names the step. */
START_TEST(test_failure_at_each_step) {
        static const struct {
                const char *faults, *step;
                bool vfio;
        } steps[] = {
                { PF " autoprobe-fails EIO\n", "writing sriov_drivers_autoprobe 0 failed", true },
                { PF " sriov-disable-fails EBUSY\n", "writing sriov_numvfs 0", false },
                { PF " sriov-limit 2\n", "writing sriov_numvfs 3 failed", false },
                { VF0 " override-eio\n", "Setting driver_override of VF " VF0, true },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;

        daemon_write_timeout = "1";
        case_start_sriov();
        bus = bus_connect();
        free(set_num_vfs(bus, 1, false));
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                _cleanup_free_ char *faults = xasprintf(VF_FAULTS "%s", steps[i].faults);
                _cleanup_free_ char *msg = NULL;

                set_faults(faults);
                msg = set_num_vfs_error(bus, ERROR_PREFIX "SriovFailed", 3, steps[i].vfio);
                assert_contains(msg, steps[i].step);
                if (!strstr(steps[i].faults, "disable"))
                        assert_contains(msg, "it is back at 1 VFs");
                set_faults(VF_FAULTS);
                assert_pf("sriov_numvfs", "1");
                assert_pf("sriov_drivers_autoprobe", "1");
                ck_assert(device_exists(VF0));
                ck_assert(!device_exists(VF1));
                assert_no_change_recorded();
                ck_assert_int_eq(n_leases(), 0);
        }
        case_end();
}
END_TEST

/* A PF driver that adds its VFs after the write returned: the daemon waits for them. */
START_TEST(test_late_vfs) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *vfs = NULL;

        case_start_sriov();
        set_faults(VF_FAULTS PF " sriov-async 300\n");
        bus = bus_connect();
        vfs = set_num_vfs(bus, 3, true);
        ck_assert_str_eq(vfs, VF0 " " VF1 " " VF2);
        assert_on_vfio(VF2);
        ck_assert_int_eq(n_leases(), 3);
        case_end();
}
END_TEST

START_TEST(test_leased_vf_keeps_the_count) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *msg = NULL;

        case_start_sriov();
        bus = bus_connect();
        free(set_num_vfs(bus, 2, false));
        wait_uevents_handled();
        lease = claim_device(bus, VF1);
        assert_on_vfio(VF1);
        msg = set_num_vfs_error(bus, ERROR_PREFIX "Busy", 0, false);
        assert_contains(msg, "VF " VF1 " of " PF " is in lease");
        assert_contains(msg, "(claim, ");
        assert_pf("sriov_numvfs", "2");
        release(bus, lease);
        assert_on_host(VF1, VF_DRIVER);
        free(set_num_vfs(bus, 0, false));
        case_end();
}
END_TEST

/* Killed while a VF's override is being written: the next start finds the change in sriov.json
 * and puts the PF back at 0 VFs with autoprobe on. */
START_TEST(test_killed_during_change) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        PendingCall call = {};

        case_start_sriov();
        bus = bus_connect();
        set_faults(VF_FAULTS VF0 " hang 30\n");
        ck_assert_int_ge(sd_bus_call_method_async(bus, NULL, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                                  "SetNumVfs", on_pending_reply, &call, "sua{sv}",
                                                  PF, 2, 1, "vfio", "b", 1),
                         0);
        ck_assert_int_ge(sd_bus_flush(bus), 0);
        wait_hanging(VF0);
        assert_pf("sriov_drivers_autoprobe", "0");
        ck_assert(device_exists(VF1));
        daemon_kill();
        set_faults(VF_FAULTS);
        daemon_start();
        ck_assert(log_contains(PF ": the change to 2 VFs was not finished when vfio-assignd "
                                  "stopped: back at 0 VFs"));
        assert_pf("sriov_numvfs", "0");
        assert_pf("sriov_drivers_autoprobe", "1");
        ck_assert(!device_exists(VF0));
        assert_no_change_recorded();
        pending_clear(&call);
        case_end();
}
END_TEST

/* assignctl sriov: the VFs with their groups and drivers, as text and JSON; a count it cannot
 * have is the daemon's message and exit 1. */
START_TEST(test_assignctl_sriov) {
        _cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL, *err = NULL, *err2 = NULL;
        _cleanup_json_ json_object *j = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;

        case_start_sriov();
        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "sriov", (char *) PF, (char *) "2",
                                   (char *) "--vfio"),
                         0);
        assert_contains(out, PF " (igb): 2 of 4 VFs\n");
        assert_contains(out, "  " VF0 "  group 9     vfio-pci\n");
        assert_contains(out, "  " VF1 "  group 10    vfio-pci\n");
        ck_assert_int_eq(ASSIGNCTL(&out2, NULL, (char *) "--json", (char *) "sriov", (char *) PF),
                         0);
        j = parse_json(out2, "sriov --json");
        ck_assert_int_eq(json_object_get_int64(jget(j, "num")), 2);
        ck_assert_int_eq(json_object_get_int64(jget(j, "total")), 4);
        ck_assert_str_eq(jstr_or_null(jidx(jget(j, "vfs"), 1), "driver"), "vfio-pci");
        ck_assert_int_eq(ASSIGNCTL(NULL, &err, (char *) "sriov", (char *) PF, (char *) "9"), 1);
        assert_contains(err, "sriov " PF " 9: InvalidArgument: " PF " has at most 4 VFs");
        ck_assert_int_eq(ASSIGNCTL(NULL, &err2, (char *) "sriov", (char *) PF, (char *) "--vfio"),
                         2);
        assert_contains(err2, "--vfio needs a COUNT");
        ck_assert_int_eq(ASSIGNCTL(&out3, NULL, (char *) "sriov", (char *) NIC1), 1);
        bus = bus_connect();
        unprepare(bus, VF0);
        unprepare(bus, VF1);
        free(set_num_vfs(bus, 0, false));
        case_end();
}
END_TEST

static char *vf_settings(const char *vf) {
        char buf[128];

        mock_vfnet_settings(C.host, vf, buf);
        return strdup(buf);
}

#define assert_vf_settings(vf, want)                                                       \
        do {                                                                               \
                _cleanup_free_ char *_s = vf_settings(vf);                                 \
                ck_assert_msg(streq(_s, (want)), "%s's settings are %s, not %s", (vf), _s, \
                              (want));                                                     \
        } while (0)

/* A claim sets the VF's settings on its PF's netdev, saved in the lease first; the release puts
 * them back. */
START_TEST(test_vf_settings_claimed_and_put_back) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL;
        _cleanup_free_ char *lease = NULL;
        json_object *dev, *saved;

        case_start_sriov();
        bus = bus_connect();
        free(set_num_vfs(bus, 2, false));
        wait_uevents_handled();
        assert_vf_settings(VF1, MOCK_VFNET_DEFAULT);
        lease = reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", "sa{sv}", VF1, 5,
                                   "vf_mac", "s", "52:54:00:12:34:56", "vf_vlan", "u", 100,
                                   "vf_qos", "u", 3, "vf_spoofchk", "b", 0, "vf_trust", "b", 1));
        assert_on_vfio(VF1);
        assert_vf_settings(VF1, "mac=52:54:00:12:34:56 vlan=100 qos=3 spoofchk=0 trust=1");
        assert_vf_settings(VF0, MOCK_VFNET_DEFAULT);
        state = state_json();
        dev = jidx(jget(state_only_lease(state), "devices"), 0);
        saved = jget(dev, "vf_net");
        ck_assert_str_eq(jstr_or_null(saved, "pf"), PF_NETDEV);
        ck_assert_int_eq(json_object_get_int64(jget(saved, "vf")), 1);
        ck_assert_str_eq(jstr_or_null(saved, "mac"), "00:00:00:00:00:00");
        ck_assert(json_object_get_boolean(jget(saved, "spoofchk")));
        release(bus, lease);
        assert_on_host(VF1, VF_DRIVER);
        assert_vf_settings(VF1, MOCK_VFNET_DEFAULT);
        case_end();
}
END_TEST

/* Settings the PF's driver refuses fail the claim naming the VF, the netdev and the setting, and
 * leave everything as it was; options without one VF to set them on are refused at once. */
START_TEST(test_vf_settings_refused) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;

        case_start_sriov();
        bus = bus_connect();
        free(set_num_vfs(bus, 1, false));
        wait_uevents_handled();
        set_faults(VF_FAULTS PF " vfnet-fails EINVAL vlan\n");
        m1 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "ClaimDevice", "sa{sv}", VF0, 2,
                           "vf_mac", "s", "52:54:00:12:34:56", "vf_vlan", "u", 100);
        assert_contains(m1, "VF " VF0 " (vf 0 of " PF_NETDEV "): the PF's driver refused its "
                            "settings (MAC address, VLAN): Invalid argument");
        assert_on_host(VF0, VF_DRIVER);
        /* The MAC the kernel had set before the VLAN failed went back too. */
        assert_vf_settings(VF0, MOCK_VFNET_DEFAULT);
        ck_assert_int_eq(n_leases(), 0);
        set_faults(VF_FAULTS);
        m2 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "ClaimDevice", "sa{sv}", NIC1, 1,
                           "vf_mac", "s", "52:54:00:12:34:56");
        assert_contains(m2, "has 0 VFs, not one");
        m3 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "ClaimDevice", "sa{sv}", VF0, 1,
                           "vf_mac", "s", "01:00:5e:00:00:01");
        assert_contains(m3, "is not a unicast MAC address");
        m4 = manager_error(bus, ERROR_PREFIX "InvalidArgument", "ClaimDevice", "sa{sv}", VF0, 1,
                           "vf_vlan", "u", 4096);
        assert_contains(m4, "vf_vlan 4096 is out of range");
        assert_on_host(VF0, VF_DRIVER);
        case_end();
}
END_TEST

/* What the settings were survives a kill -9 of the daemon in state.json: the restarted daemon's
 * release puts them back. */
START_TEST(test_vf_settings_put_back_after_kill) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL;

        case_start_sriov();
        bus = bus_connect();
        free(set_num_vfs(bus, 1, false));
        wait_uevents_handled();
        lease = reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", "sa{sv}", VF0, 1,
                                   "vf_mac", "s", "52:54:00:ab:cd:ef"));
        assert_vf_settings(VF0, "mac=52:54:00:ab:cd:ef vlan=0 qos=0 spoofchk=1 trust=0");
        daemon_kill();
        daemon_start();
        release(bus, lease);
        assert_on_host(VF0, VF_DRIVER);
        assert_vf_settings(VF0, MOCK_VFNET_DEFAULT);
        case_end();
}
END_TEST

static void sriov_setup(void) {
        world_setup("sriov");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the SR-IOV tests"))
                return 77;
        s = suite_create("sriov");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, sriov_setup, harness_teardown);
        tcase_set_timeout(tc, 90);
        tcase_add_test(tc, test_vfs_for_the_host);
        tcase_add_test(tc, test_vfs_for_vfio);
        tcase_add_test(tc, test_refusals_change_nothing);
        tcase_add_test(tc, test_failure_at_each_step);
        tcase_add_test(tc, test_late_vfs);
        tcase_add_test(tc, test_leased_vf_keeps_the_count);
        tcase_add_test(tc, test_killed_during_change);
        tcase_add_test(tc, test_assignctl_sriov);
        tcase_add_test(tc, test_vf_settings_claimed_and_put_back);
        tcase_add_test(tc, test_vf_settings_refused);
        tcase_add_test(tc, test_vf_settings_put_back_after_kill);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
