/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libvirt hook (client/libvirt-hook.c) against the real daemon on the kernel model, run as
 * libvirt runs it: DOMAIN OPERATION SUB-OPERATION EXTRA, the domain's XML on stdin. On the
 * workstation host: "prepare begin" claims the groups of the unmanaged PCI host devices for the
 * owner key libvirt:UUID (the GPU's group with both functions, the spare NIC's), again without a
 * second lease; "release end" gives them back to their drivers; a host-critical device (the NVMe
 * holding "/") makes prepare exit 1 with the daemon's reason and leaves nothing claimed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define WORKSTATION_HOST "hosts/workstation.host"
#define GPU "0000:01:00.0"
#define GPU_AUDIO "0000:01:00.1"
#define SPARE_NIC "0000:03:00.0" /* igb, alone in group 8 */
#define NVME "0000:02:00.0"      /* holds "/": host-critical */

#define UUID "4dc1b0c5-5e24-4c67-9a55-7d1e0b3f2a10"
#define OWNER "libvirt:" UUID
#define DOMAIN "gpu-vm"

/* A domain XML as libvirt formats it for its hooks, with one <hostdev> per address: "M:ADDRESS"
 * is a managed one, "ADDRESS" an unmanaged one. */
static char *domain_xml(const char *const *hostdevs) {
        _cleanup_free_ char *devices = strdup("");

        ck_assert_ptr_nonnull(devices);
        for (const char *const *h = hostdevs; h && *h; h++) {
                bool managed = startswith(*h, "M:");
                const char *a = managed ? *h + 2 : *h;
                char *more =
                        xasprintf("%s    <hostdev mode='subsystem' type='pci' managed='%s'>\n"
                                  "      <driver name='vfio'/>\n"
                                  "      <source>\n"
                                  "        <address domain='0x%.4s' bus='0x%.2s' slot='0x%.2s' "
                                  "function='0x%.1s'/>\n"
                                  "      </source>\n"
                                  "    </hostdev>\n",
                                  devices, managed ? "yes" : "no", a, a + 5, a + 8, a + 11);
                free(devices);
                devices = more;
        }
        return xasprintf("<domain type='qemu' id='1'>\n"
                         "  <name>" DOMAIN "</name>\n"
                         "  <uuid>" UUID "</uuid>\n"
                         "  <memory unit='KiB'>65536</memory>\n"
                         "  <devices>\n"
                         "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                         "%s"
                         "  </devices>\n"
                         "</domain>\n",
                         devices);
}

/* Runs the hook as libvirt does, with xml on its stdin; its exit code, stderr in *ret_err. */
static int run_hook(const char *xml, const char *op, const char *subop, char **ret_err) {
        _cleanup_free_ char *hook = xasprintf("%s/libvirt-hook", getenv("TOP_BUILDDIR"));
        _cleanup_free_ char *file = case_path("domain.xml");
        _cleanup_free_ char *out = NULL;
        int r;

        write_file(file, xml);
        r = run(&out, ret_err, (char *) "/bin/sh", (char *) "-c",
                (char *) "f=$1; shift; exec \"$0\" \"$@\" < \"$f\"", hook, file, (char *) DOMAIN,
                (char *) op, (char *) subop, (char *) "-");
        /* libvirt logs a hook's stdout; this one has nothing to say there. */
        ck_assert_str_eq(out, "");
        return r;
}

static void assert_hook(const char *xml, const char *op, const char *subop, int want) {
        _cleanup_free_ char *err = NULL;
        int r = run_hook(xml, op, subop, &err);

        ck_assert_msg(r == want, "%s %s: exit %d, expected %d\n%s", op, subop, r, want, err);
        if (want == 0)
                ck_assert_msg(streq(err, ""), "%s %s said: %s", op, subop, err);
}

static char *find_lease(sd_bus *bus, const char *owner) {
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "FindLease", "s", owner));
}

/* The owner of every listed lease is the domain's key. */
static void assert_leases_owned(size_t n) {
        _cleanup_json_ json_object *l = list_leases();

        ck_assert_uint_eq(jlen(l), n);
        for (size_t i = 0; i < n; i++) {
                _cleanup_json_ json_object *owner =
                        lease_property(json_object_get_string(jidx(jidx(l, i), 1)), "Owner");

                ck_assert_str_eq(json_object_get_string(owner), OWNER);
        }
}

static void assert_workstation_back(void) {
        assert_on_host(GPU, "nouveau");
        assert_on_host(GPU_AUDIO, "snd_hda_intel");
        assert_on_host(SPARE_NIC, "igb");
        ck_assert_uint_eq(n_leases(), 0);
        assert_state_empty();
}

/* prepare: both groups on vfio-pci under the domain's key; prepare again (a retried start): the
 * same leases; the managed device is left to libvirt; release: back on their drivers; release
 * again (libvirt runs it after a failed start too): nothing to do, exit 0. */
START_TEST(test_prepare_release) {
        static const char *const devs[] = { GPU, GPU_AUDIO, "M:" NVME, SPARE_NIC, NULL };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *xml = domain_xml(devs);
        _cleanup_json_ json_object *before = NULL, *after = NULL;

        case_start(WORKSTATION_HOST);
        assert_hook(xml, "prepare", "begin", 0);
        assert_on_vfio(GPU);
        assert_on_vfio(GPU_AUDIO);
        assert_on_vfio(SPARE_NIC);
        assert_on_host(NVME, "nvme");
        assert_leases_owned(2);
        before = list_leases();

        assert_hook(xml, "prepare", "begin", 0);
        after = list_leases();
        assert_json_equal(before, after, "the leases after a second prepare");

        /* The steps between are not the hook's business. */
        assert_hook(xml, "start", "begin", 0);
        assert_hook(xml, "started", "begin", 0);
        assert_hook(xml, "stopped", "end", 0);
        assert_leases_owned(2);

        assert_hook(xml, "release", "end", 0);
        assert_workstation_back();
        assert_hook(xml, "release", "end", 0);
        assert_workstation_back();

        /* The lease of one domain alone: a group the key claims by hand (a device attached while
         * the domain ran) goes back at release even when the XML no longer lists it. */
        bus = bus_connect();
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", "sa{sv}",
                                     SPARE_NIC, 1, "owner", "s", OWNER));
        free(find_lease(bus, OWNER));
        free(xml);
        xml = domain_xml(NULL);
        assert_hook(xml, "release", "end", 0);
        assert_workstation_back();
        case_end();
}
END_TEST

/* A host-critical device after an assignable one: exit 1 with the daemon's error naming the
 * device, the NIC the run claimed first is given back, and nothing stays claimed. */
START_TEST(test_prepare_refused) {
        static const char *const devs[] = { SPARE_NIC, NVME, NULL };
        _cleanup_free_ char *xml = domain_xml(devs), *err = NULL;
        int r;

        case_start(WORKSTATION_HOST);
        r = run_hook(xml, "prepare", "begin", &err);
        ck_assert_msg(r == 1, "prepare with the root disk: exit %d\n%s", r, err);
        ck_assert_msg(strstr(err, "vfio-assignd: domain '" DOMAIN "': cannot claim " NVME
                                  " for " OWNER ": " ERROR_PREFIX "HostCritical: ") &&
                              strstr(err, NVME " is needed by the host"),
                      "prepare with the root disk said: %s", err);
        /* One line: libvirt puts it after "unexpected exit status 1: ". */
        ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1);
        assert_on_host(NVME, "nvme");
        assert_workstation_back();
        /* libvirt's stop after the failed start runs release: nothing to give back. */
        assert_hook(xml, "release", "end", 0);
        case_end();
}
END_TEST

/* Domains the hook has nothing to claim for do not touch the bus: with no bus at all, prepare of
 * a domain without unmanaged PCI devices succeeds, and so does release of such a domain (no
 * running daemon is started for it); one with such a device says it cannot reach the bus. An XML
 * the hook cannot read fails prepare, saying where, and claims nothing. */
START_TEST(test_nothing_to_claim) {
        static const char *const managed[] = { "M:" GPU, NULL };
        static const char *const unmanaged[] = { SPARE_NIC, NULL };
        _cleanup_free_ char *none = domain_xml(NULL), *only_managed = domain_xml(managed);
        _cleanup_free_ char *some = domain_xml(unmanaged), *err = NULL, *err2 = NULL;
        _cleanup_free_ char *bad = NULL, *nobus = case_path("no-bus");
        _cleanup_free_ char *saved = strdup(getenv("DBUS_SYSTEM_BUS_ADDRESS"));
        _cleanup_free_ char *nobus_address = xasprintf("unix:path=%s", nobus);
        int r;

        case_start(WORKSTATION_HOST);
        assert_hook(none, "prepare", "begin", 0);
        assert_hook(only_managed, "prepare", "begin", 0);
        assert_on_host(GPU, "nouveau");
        ck_assert_uint_eq(n_leases(), 0);

        bad = strdup(some);
        ck_assert_ptr_nonnull(bad);
        memcpy(strstr(bad, "slot='0x00'"), "slot='0x20'", strlen("slot='0x20'"));
        r = run_hook(bad, "prepare", "begin", &err);
        ck_assert_msg(r == 1 && strstr(err, "cannot read the domain XML: line 10: <hostdev> 1: "
                                            "source address: slot='0x20' is out of range"),
                      "prepare of a bad address: exit %d: %s", r, err);
        ck_assert_uint_eq(n_leases(), 0);

        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", nobus_address, 1), 0);
        assert_hook(none, "prepare", "begin", 0);
        assert_hook(only_managed, "prepare", "begin", 0);
        assert_hook(none, "release", "end", 0);
        r = run_hook(some, "prepare", "begin", &err2);
        ck_assert_msg(r == 1 && strstr(err2, "cannot connect to the system bus"),
                      "prepare without a bus: exit %d: %s", r, err2);
        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", saved, 1), 0);
        assert_on_host(SPARE_NIC, "igb");
        case_end();
}
END_TEST

/* The daemon is stopped while the domain runs: a release of a domain that lists unmanaged devices
 * fails (libvirt logs it and goes on), and the next one, once the daemon runs again, gives the
 * group back: the lease was kept in state.json. */
START_TEST(test_release_daemon_down) {
        static const char *const devs[] = { SPARE_NIC, NULL };
        _cleanup_free_ char *xml = domain_xml(devs), *err = NULL;
        int r;

        case_start(WORKSTATION_HOST);
        assert_hook(xml, "prepare", "begin", 0);
        daemon_stop();
        r = run_hook(xml, "release", "end", &err);
        ck_assert_msg(r == 1 && strstr(err, "cannot give back what " OWNER " holds: "),
                      "release without a daemon: exit %d: %s", r, err);
        daemon_start();
        assert_on_vfio(SPARE_NIC);
        assert_hook(xml, "release", "end", 0);
        assert_workstation_back();
        case_end();
}
END_TEST

static void hook_setup(void) {
        world_setup("libvirt-hook");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the libvirt hook's tests"))
                return 77;
        s = suite_create("libvirt-hook");
        tc = tcase_create("libvirt-hook");
        tcase_add_unchecked_fixture(tc, hook_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_prepare_release);
        tcase_add_test(tc, test_prepare_refused);
        tcase_add_test(tc, test_nothing_to_claim);
        tcase_add_test(tc, test_release_daemon_down);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
