/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The interrupt-remapping verdict over every combination of DMAR flag, unit ECAPs, kernel
 * state and command line (and once through host_info_read() on a sample host), and the
 * host-critical parsers (mountinfo, routes, device paths). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmar.h"
#include "host.h"
#include "hostcrit.h"
#include "macro.h"
#include "util.h"

#define IR_INTERRUPTS " 24:  0  IR-PCI-MSI 512000-edge  ahci[0000:00:1f.2]\n"
#define NO_IR_INTERRUPTS " 24:  0  PCI-MSI 512000-edge  ahci[0000:00:1f.2]\n"

/* A host as host_info_read() would leave it, minus the verdict. */
static HostInfo *intel_host(bool table, int dmar_flags_ir, const int *unit_ir, size_t n_units,
                            bool present) {
        HostInfo *h = calloc(1, sizeof(*h));

        ck_assert_ptr_nonnull(h);
        h->kind = IOMMU_KIND_INTEL;
        h->dmar_table = table;
        if (table) {
                h->dmar = calloc(1, sizeof(DmarTable));
                ck_assert_ptr_nonnull(h->dmar);
                h->dmar->flags = dmar_flags_ir ? DMAR_FLAG_INTR_REMAP : 0;
                h->dmar->checksum_valid = true;
        }
        h->units = calloc(n_units + 1, sizeof(IommuUnit));
        for (size_t i = 0; i < n_units; i++) {
                ck_assert_int_ge(asprintf(&h->units[i].name, "dmar%zu", i), 0);
                h->units[i].ir = unit_ir[i];
                h->units[i].has_ecap = unit_ir[i] >= 0;
                h->units[i].ecap = unit_ir[i] > 0 ? 0xf00f4a : 0xf42;
        }
        h->n_units = n_units;
        h->iommu_present = present;
        return h;
}

static bool reasons_mention(const HostInfo *h, const char *needle) {
        for (char **r = h->ir_reasons; r && *r; r++)
                if (strstr(*r, needle))
                        return true;
        return false;
}

START_TEST(test_ir_enabled) {
        int ir[] = { 1, 1 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 1, ir, 2, true);

        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, "BOOT_IMAGE=/vmlinuz intel_iommu=on"),
                         0);
        ck_assert_int_eq(h->ir, IR_ENABLED);
        ck_assert_str_eq(ir_verdict_to_string(h->ir), "enabled");
        ck_assert(reasons_mention(h, "IR-"));
}
END_TEST

START_TEST(test_ir_dmar_flag_clear) {
        int ir[] = { 1 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 0, ir, 1, true);

        /* Even with IR- domains (impossible in practice), a clear INTR_REMAP flag is decisive. */
        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNSUPPORTED);
        ck_assert(reasons_mention(h, "INTR_REMAP (bit 0) is clear"));
}
END_TEST

START_TEST(test_ir_one_unit_without_ir) {
        int ir[] = { 1, 0 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 1, ir, 2, true);

        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNSUPPORTED);
        ck_assert(reasons_mention(h, "dmar1: ecap 0xf42 has IR (bit 3) clear"));
        ck_assert(!reasons_mention(h, "dmar0"));
}
END_TEST

START_TEST(test_ir_qemu_intremap_off) {
        /* QEMU intel-iommu,intremap=off: DMAR flags 0x00 and ecap f42 (vm-recipe.md). */
        int ir[] = { 0 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 0, ir, 1, true);

        ck_assert_int_eq(host_ir_verdict(h, NO_IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNSUPPORTED);
        ck_assert_uint_eq(strv_length(h->ir_reasons), 2);
}
END_TEST

START_TEST(test_ir_cmdline_off) {
        int ir[] = { 1 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 1, ir, 1, true);

        ck_assert_int_eq(host_ir_verdict(h, NO_IR_INTERRUPTS, "ro intremap=off quiet"), 0);
        ck_assert_int_eq(h->ir, IR_DISABLED);
        ck_assert(reasons_mention(h, "command line"));
        ck_assert_int_eq(host_ir_verdict(h, NO_IR_INTERRUPTS, "nointremap"), 0);
        ck_assert_int_eq(h->ir, IR_DISABLED);
        /* A word that merely contains the option does not count. */
        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, "xintremap=off"), 0);
        ck_assert_int_eq(h->ir, IR_ENABLED);
}
END_TEST

START_TEST(test_ir_no_runtime_evidence) {
        int ir[] = { 1 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 1, ir, 1, true);

        ck_assert_int_eq(host_ir_verdict(h, NO_IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_DISABLED);
        ck_assert(reasons_mention(h, "no remapped interrupt domain"));
        ck_assert_int_eq(host_ir_verdict(h, NULL, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNKNOWN);
        ck_assert(reasons_mention(h, "not readable"));
}
END_TEST

START_TEST(test_ir_unit_unreadable) {
        int ir[] = { 1, -1 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 1, ir, 2, true);

        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNKNOWN);
        ck_assert(reasons_mention(h, "dmar1: ecap could not be read"));
}
END_TEST

START_TEST(test_ir_table_invalid_or_missing) {
        int ir[] = { 1 };
        _cleanup_(host_info_freep) HostInfo *h = intel_host(false, 0, ir, 1, true);

        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNKNOWN);
        ck_assert(reasons_mention(h, "no readable DMAR table"));
        h->dmar_error = strdup("structure 0 (DRHD) at offset 0x30: length 80 runs past the end");
        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNKNOWN);
        ck_assert(reasons_mention(h, "the DMAR table is invalid: structure 0 (DRHD)"));
}
END_TEST

#define BAD_CHECKSUM_REASON                                                            \
        "the DMAR table's checksum is invalid (bytes sum to 0x%02x, not 0); like the " \
        "kernel, the table is used anyway"

/* A bad checksum adds a reason and changes no verdict: like the kernel, the table is used. */
START_TEST(test_ir_dmar_bad_checksum) {
        for (int flag = 0; flag <= 1; flag++) {
                int ir[] = { 1 };
                _cleanup_(host_info_freep) HostInfo *h = intel_host(true, flag, ir, 1, true);
                char reason[160];
                size_t n;

                ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
                ck_assert_int_eq(h->ir, flag ? IR_ENABLED : IR_UNSUPPORTED);
                ck_assert(!reasons_mention(h, "checksum"));
                n = strv_length(h->ir_reasons);

                h->dmar->checksum_valid = false;
                h->dmar->checksum_sum = 0x5a;
                ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
                ck_assert_int_eq(h->ir, flag ? IR_ENABLED : IR_UNSUPPORTED);
                ck_assert_uint_eq(strv_length(h->ir_reasons), n + 1);
                snprintf(reason, sizeof(reason), BAD_CHECKSUM_REASON, 0x5a);
                ck_assert_str_eq(h->ir_reasons[0], reason);
        }
}
END_TEST

static HostInfo *read_host(const char *path) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        HostInfo *h = NULL;

        ck_assert_int_eq(sysroot_open(path, path, &root), 0);
        ck_assert_int_eq(host_info_read(root, &h), 0);
        ck_assert_ptr_null(h->dmar_error);
        ck_assert_ptr_nonnull(h->dmar);
        ck_assert_uint_eq(h->dmar->n_structs, 1);
        ck_assert_int_eq(h->ir, IR_ENABLED);
        return h;
}

/* The same through host_info_read() on the QEMU sample host (tests/data/hosts): its real table
 * with the checksum byte changed is decoded, not rejected, and IR is still enabled. */
START_TEST(test_host_read_bad_checksum) {
        const char *mkhost = getenv("MKHOST"), *data = getenv("TEST_DATA_DIR");
        char dir[] = "/tmp/test-host.XXXXXX", reason[160];
        _cleanup_free_ char *root = NULL, *table = NULL, *cmd = NULL;
        _cleanup_(host_info_freep) HostInfo *good = NULL, *bad = NULL;
        FILE *f;
        int c;

        if (isempty(mkhost) || isempty(data) || access(mkhost, X_OK) < 0)
                return; /* covered when run by make check, which sets both */
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(asprintf(&root, "%s/root", dir), 0);
        ck_assert_int_ge(asprintf(&table, "%s/sys/firmware/acpi/tables/DMAR", root), 0);
        ck_assert_int_ge(asprintf(&cmd, "'%s' '%s/hosts/qemu-q35-vtd.host' '%s'", mkhost, data,
                                  root),
                         0);
        ck_assert_int_eq(system(cmd), 0);

        good = read_host(root);
        ck_assert(good->dmar->checksum_valid);
        ck_assert(!reasons_mention(good, "checksum"));

        /* The checksum byte is at offset 9 (ACPI spec 5.2.6); the file is 0400 like in sysfs. */
        ck_assert_int_eq(chmod(table, 0600), 0);
        f = fopen(table, "r+e");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fseek(f, 9, SEEK_SET), 0);
        c = getc(f);
        ck_assert_int_eq(fseek(f, 9, SEEK_SET), 0);
        ck_assert_int_eq(fputc((c + 1) & 0xff, f), (c + 1) & 0xff);
        ck_assert_int_eq(fclose(f), 0);

        bad = read_host(root);
        ck_assert(!bad->dmar->checksum_valid);
        ck_assert_uint_eq(strv_length(bad->ir_reasons), strv_length(good->ir_reasons) + 1);
        snprintf(reason, sizeof(reason), BAD_CHECKSUM_REASON, 0x01);
        ck_assert_str_eq(bad->ir_reasons[0], reason);

        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static void write_text(const char *root, const char *path, const char *text) {
        _cleanup_free_ char *file = NULL;
        FILE *f;

        ck_assert_int_ge(asprintf(&file, "%s/%s", root, path), 0);
        f = fopen(file, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

/* What a claim reads again (host_read_params()) follows the module parameters as root writes
 * them; IOMMU presence moves only without units, when the last group goes. */
START_TEST(test_host_read_params) {
        const char *mkhost = getenv("MKHOST"), *data = getenv("TEST_DATA_DIR");
        char dir[] = "/tmp/test-host.XXXXXX";
        _cleanup_free_ char *root = NULL, *cmd = NULL;
        _cleanup_(sysroot_freep) SysRoot *r = NULL;
        _cleanup_(host_info_freep) HostInfo *h = NULL, *bare = NULL;
        _cleanup_strv_free_ char **errors = NULL;

        if (isempty(mkhost) || isempty(data) || access(mkhost, X_OK) < 0)
                return; /* covered when run by make check, which sets both */
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(asprintf(&root, "%s/root", dir), 0);
        ck_assert_int_ge(asprintf(&cmd, "'%s' '%s/hosts/qemu-q35-vtd.host' '%s'", mkhost, data,
                                  root),
                         0);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(sysroot_open(root, root, &r), 0);
        ck_assert_int_eq(host_info_read(r, &h), 0);
        ck_assert_int_eq(h->unsafe_interrupts, 0);
        ck_assert_int_eq(h->iommufd_unsafe_interrupts, -1); /* no iommufd module */

        write_text(root, "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n");
        write_text(root, "sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "4096\n");
        host_read_params(r, h, &errors);
        ck_assert_int_eq(h->unsafe_interrupts, 1);
        ck_assert_int_eq(h->dma_entry_limit, 4096);
        ck_assert_ptr_null(errors);

        write_text(root, "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "x\n");
        host_read_params(r, h, &errors);
        ck_assert_int_eq(h->unsafe_interrupts, -1);
        ck_assert_uint_eq(strv_length(errors), 1);
        ck_assert_ptr_nonnull(strstr(errors[0], "allow_unsafe_interrupts: invalid value"));
        host_read_params(r, h, NULL); /* errors dropped */
        ck_assert_int_eq(h->unsafe_interrupts, -1);

        /* dmar0 is a unit: whatever the groups do, there is an IOMMU. */
        ck_assert(h->iommu_present);
        ck_assert(!host_iommu_presence_moved(r, h));
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s/sys/class/iommu/dmar0'", root), 0);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(host_info_read(r, &bare), 0);
        ck_assert_uint_eq(bare->n_units, 0);
        ck_assert(bare->iommu_present); /* the groups say so */
        ck_assert(!host_iommu_presence_moved(r, bare));
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s/sys/kernel/iommu_groups'/*", root), 0);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert(host_iommu_presence_moved(r, bare));
        ck_assert(!host_iommu_presence_moved(r, h)); /* it has a unit */

        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_ir_iommu_off_in_kernel) {
        _cleanup_(host_info_freep) HostInfo *h = intel_host(true, 1, NULL, 0, false);

        ck_assert_int_eq(host_ir_verdict(h, NO_IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_DISABLED);
        ck_assert(reasons_mention(h, "intel_iommu=on"));
}
END_TEST

START_TEST(test_ir_no_iommu_and_amd) {
        _cleanup_(host_info_freep) HostInfo *h = calloc(1, sizeof(HostInfo));

        h->kind = IOMMU_KIND_NONE;
        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNSUPPORTED);
        ck_assert(reasons_mention(h, "no IOMMU"));
        h->iommu_present = true; /* groups, but nothing describes the hardware */
        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_UNKNOWN);
        ck_assert(reasons_mention(h, "no DMAR or IVRS table"));

        h->kind = IOMMU_KIND_AMD;
        h->iommu_present = true;
        ck_assert_int_eq(host_ir_verdict(h, IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_ENABLED);
        ck_assert_int_eq(host_ir_verdict(h, NO_IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_DISABLED);
        h->iommu_present = false;
        ck_assert_int_eq(host_ir_verdict(h, NO_IR_INTERRUPTS, NULL), 0);
        ck_assert_int_eq(h->ir, IR_DISABLED);
        ck_assert(reasons_mention(h, "amd_iommu=on"));
}
END_TEST

START_TEST(test_mountinfo) {
        unsigned maj, min;
        const char *mi = "22 28 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
                         "28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
                         "29 28 259:1 / /boot rw - vfat /dev/nvme0n1p1 rw\n"
                         "30 28 0:25 / /run rw - tmpfs tmpfs rw\n";

        ck_assert_int_eq(mountinfo_root_device(mi, &maj, &min), 0);
        ck_assert_uint_eq(maj, 259);
        ck_assert_uint_eq(min, 2);
        /* A later mount on "/" stacks on top and wins. */
        ck_assert_int_eq(mountinfo_root_device(
                                 "28 1 259:2 / / rw - ext4 x rw\n99 28 0:50 / / rw - overlay o rw",
                                 &maj, &min),
                         0);
        ck_assert_uint_eq(maj, 0);
        ck_assert_uint_eq(min, 50);
        ck_assert_int_eq(mountinfo_root_device("29 28 259:1 / /boot rw - vfat x rw\n", &maj, &min),
                         -ENOENT);
        ck_assert_int_eq(mountinfo_root_device("", &maj, &min), -ENOENT);
        ck_assert_int_eq(mountinfo_root_device("garbage\n\n\n1 2 3\n", &maj, &min), -ENOENT);
}
END_TEST

START_TEST(test_routes) {
        _cleanup_strv_free_ char **l = NULL;
        const char *route =
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                "eno1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                "eno1\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
                "wlan0\t00000000\t0101A8C0\t0002\t0\t0\t600\t00000000\t0\t0\t0\n"; /* not RTF_UP */
        const char *route6 =
                "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 enp5s0\n"
                "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
                "00000000000000000000000000000000 00000000 00000001 00000000 00200001 lo\n";

        ck_assert_int_eq(route_default_interfaces(route, route6, &l), 0);
        ck_assert_uint_eq(strv_length(l), 2);
        ck_assert_str_eq(l[0], "eno1");
        ck_assert_str_eq(l[1], "enp5s0");
        strv_free(l);
        l = NULL;
        ck_assert_int_eq(route_default_interfaces(NULL, NULL, &l), 0);
        ck_assert_uint_eq(strv_length(l), 0);
        ck_assert_int_eq(route_default_interfaces("../..\t00000000\t0\t0003\t0\t0\t0\t00000000\n",
                                                  NULL, &l),
                         0);
        ck_assert_uint_eq(strv_length(l), 0); /* not a valid interface name */
}
END_TEST

START_TEST(test_devpath_pci_device) {
        char addr[PCI_ADDRESS_STRLEN];

        ck_assert_int_eq(
                devpath_pci_device(
                        "sys/devices/pci0000:00/0000:00:1d.0/0000:02:00.0/nvme/nvme0/nvme0n1",
                        addr),
                0);
        ck_assert_str_eq(addr, "0000:02:00.0");
        ck_assert_int_eq(devpath_pci_device("sys/devices/pci0000:00/0000:00:1f.6/net/eno1", addr),
                         0);
        ck_assert_str_eq(addr, "0000:00:1f.6");
        ck_assert_int_eq(devpath_pci_device("sys/devices/virtual/block/dm-0", addr), -ENODEV);
        ck_assert_int_eq(devpath_pci_device("sys/devices/pci0000:00", addr), -ENODEV);
        ck_assert_int_eq(devpath_pci_device("", addr), -ENODEV);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("host");
        TCase *ir = tcase_create("interrupt-remapping");
        TCase *crit = tcase_create("host-critical");

        tcase_add_test(ir, test_ir_enabled);
        tcase_add_test(ir, test_ir_dmar_flag_clear);
        tcase_add_test(ir, test_ir_one_unit_without_ir);
        tcase_add_test(ir, test_ir_qemu_intremap_off);
        tcase_add_test(ir, test_ir_cmdline_off);
        tcase_add_test(ir, test_ir_no_runtime_evidence);
        tcase_add_test(ir, test_ir_unit_unreadable);
        tcase_add_test(ir, test_ir_table_invalid_or_missing);
        tcase_add_test(ir, test_ir_dmar_bad_checksum);
        tcase_add_test(ir, test_host_read_bad_checksum);
        tcase_add_test(ir, test_host_read_params);
        tcase_add_test(ir, test_ir_iommu_off_in_kernel);
        tcase_add_test(ir, test_ir_no_iommu_and_amd);
        tcase_add_test(crit, test_mountinfo);
        tcase_add_test(crit, test_routes);
        tcase_add_test(crit, test_devpath_pci_device);
        suite_add_tcase(s, ir);
        suite_add_tcase(s, crit);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
