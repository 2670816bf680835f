/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The model on fake sysfs trees: topology, blockers, bad input reported and not fatal, and the
 * uevent handler's view of hotplug and driver changes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmar-build.h"
#include "dmar.h"
#include "fakesys.h"
#include "json-util.h"
#include "macro.h"
#include "model.h"
#include "report.h"
#include "util.h"

static FakeSys *fs;

static void add_dev(const char *bdf, const char *parent, uint16_t vendor, uint16_t device,
                    uint32_t class, const char *driver, int group) {
        FakeDevice d;

        fake_device_init(&d, bdf);
        d.parent = parent;
        d.vendor = vendor;
        d.device = device;
        d.subsystem_vendor = vendor;
        d.subsystem_device = 0x0001;
        d.class_code = class;
        d.driver = driver;
        d.iommu_group = group;
        d.reset_method = (class >> 8) == 0x0604 ? NULL : "flr bus";
        d.iommu = "dmar0";
        ck_assert_int_eq(fakesys_add_device(fs, &d), 0);
}

/* A small Intel host: a root port with a GPU + audio pair (group 2), a PCIe-to-PCI bridge with
 * two NICs (group 3, like QEMU's), an xHCI controller (group 4), an NVMe holding "/" (group 5)
 * and a NIC with the default route (group 6). IR is on. */
static void build_host(void) {
        static const FakeIommu unit = { .name = "dmar0",
                                        .kind = FAKE_IOMMU_INTEL,
                                        .ecap = 0xf00f4a,
                                        .cap = 0xd2008c22260286,
                                        .address = 0xfed90000 };
        DmarBuilder *b;
        uint8_t *table;
        size_t size;

        ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &fs), 0);
        ck_assert_int_eq(fakesys_add_iommu(fs, &unit), 0);
        add_dev("0000:00:01.0", NULL, 0x8086, 0x1901, 0x060400, "pcieport", 1);
        add_dev("0000:01:00.0", "0000:00:01.0", 0x10de, 0x1b80, 0x030000, "nouveau", 2);
        add_dev("0000:01:00.1", "0000:00:01.0", 0x10de, 0x10f0, 0x040300, "snd_hda_intel", 2);
        add_dev("0000:00:04.0", NULL, 0x1b36, 0x000c, 0x060400, "pcieport", 7);
        add_dev("0000:02:00.0", "0000:00:04.0", 0x1b36, 0x000e, 0x060400, NULL, 3);
        add_dev("0000:03:01.0", "0000:02:00.0", 0x8086, 0x100e, 0x020000, "e1000", 3);
        add_dev("0000:03:02.0", "0000:02:00.0", 0x8086, 0x100e, 0x020000, "e1000", 3);
        add_dev("0000:00:14.0", NULL, 0x8086, 0xa36d, 0x0c0330, "xhci_hcd", 4);
        add_dev("0000:00:1d.0", NULL, 0x8086, 0xa330, 0x060400, "pcieport", 8);
        add_dev("0000:04:00.0", "0000:00:1d.0", 0x144d, 0xa808, 0x010802, "nvme", 5);
        add_dev("0000:00:1f.6", NULL, 0x8086, 0x15bc, 0x020000, "e1000e", 6);

        ck_assert_int_eq(fakesys_group_add_region(fs, 4, 0x7b800000, 0x7b9fffff, "direct"), 0);
        ck_assert_int_eq(fakesys_add_block(fs, "0000:04:00.0", "nvme/nvme0/nvme0n1", 259, 0), 0);
        ck_assert_int_eq(fakesys_add_block(fs, "0000:04:00.0", "nvme/nvme0/nvme0n1/nvme0n1p2", 259,
                                           2),
                         0);
        ck_assert_int_eq(fakesys_set_root_mount(fs, 259, 2, "ext4", "/dev/nvme0n1p2"), 0);
        ck_assert_int_eq(fakesys_add_netdev(fs, "0000:00:1f.6", "eno1", NULL), 0);
        ck_assert_int_eq(fakesys_add_route(fs, "eno1", "0.0.0.0", 0, "192.168.1.1", 100), 0);
        ck_assert_int_eq(fakesys_write_file(fs, "proc/interrupts", " 24: 0 IR-PCI-MSI 1-edge x\n",
                                            27),
                         0);

        b = dmar_builder_new(38, DMAR_FLAG_INTR_REMAP);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(dmar_builder_drhd(b, 1, 0, 0xfed90000), 0);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x7b800000, 0x7b9fffff), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0,
                                            &(DmarPathEntry) { 0x14, 0 }, 1),
                         0);
        ck_assert_int_eq(dmar_builder_finish(b, &table, &size), 0);
        dmar_builder_free(b);
        ck_assert_int_eq(fakesys_set_acpi_table(fs, "DMAR", table, size), 0);
        free(table);
}

static Model *load(void) {
        SysRoot *root;
        Model *m;

        ck_assert_int_eq(sysroot_open(fakesys_root(fs), fakesys_root(fs), &root), 0);
        ck_assert_int_eq(model_new(root, NULL, &m), 0);
        ck_assert_int_eq(model_load(m), 0);
        return m;
}

static void teardown(void) {
        fs = fakesys_free(fs);
}

static const Blocker *find_blocker(const Group *g, const char *code) {
        for (size_t i = 0; i < g->n_blockers; i++)
                if (streq(g->blockers[i].code, code))
                        return &g->blockers[i];
        return NULL;
}

static bool has_error(const Model *m, const char *needle) {
        for (char **e = m->topology->errors; e && *e; e++)
                if (strstr(*e, needle))
                        return true;
        for (char **e = m->host->errors; e && *e; e++)
                if (strstr(*e, needle))
                        return true;
        return false;
}

START_TEST(test_topology) {
        _cleanup_(model_freep) Model *m = NULL;
        char root[PCI_ROOT_STRLEN];
        const Device *d;
        const Group *g;

        build_host();
        m = load();
        ck_assert_uint_eq(m->topology->n_devices, 11);
        ck_assert_uint_eq(m->topology->n_groups, 8);
        ck_assert_ptr_null(m->topology->errors);

        g = topology_find_group(m->topology, 3);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(strv_length(g->devices), 3);
        ck_assert_str_eq(g->devices[0], "0000:02:00.0");
        ck_assert_str_eq(g->devices[2], "0000:03:02.0");
        ck_assert(g->assignable);
        ck_assert_str_eq(g->type, "DMA");

        d = topology_find_device(m->topology, "0000:02:00.0");
        ck_assert(d->bridge);
        ck_assert_ptr_null(d->driver);
        ck_assert_ptr_null(d->reset_methods);
        d = topology_find_device(m->topology, "0000:03:01.0");
        ck_assert(!d->bridge);
        ck_assert_str_eq(d->driver, "e1000");
        ck_assert_uint_eq(d->vendor, 0x8086);
        ck_assert_uint_eq(d->device, 0x100e);
        ck_assert_uint_eq(d->class, 0x020000);
        ck_assert_int_eq(d->group, 3);
        ck_assert_uint_eq(strv_length(d->reset_methods), 2);
        ck_assert_str_eq(d->reset_methods[0], "flr");
        ck_assert_ptr_null(d->driver_override); /* "(null)" */
        ck_assert_str_eq(d->devpath,
                         "sys/devices/pci0000:00/0000:00:04.0/0000:02:00.0/0000:03:01.0");
        ck_assert(pci_root_of_path(d->devpath, root));
        ck_assert_str_eq(root, "pci0000:00");

        ck_assert(m->host->iommu_present);
        ck_assert_int_eq(m->host->ir, IR_ENABLED);
        ck_assert_int_eq(m->host->kind, IOMMU_KIND_INTEL);
        ck_assert_ptr_nonnull(m->host->dmar);
}
END_TEST

START_TEST(test_blockers) {
        _cleanup_(model_freep) Model *m = NULL;
        const Blocker *b;
        const Group *g;

        build_host();
        m = load();

        /* The GPU and its audio function share group 2 and nothing blocks it. */
        g = topology_find_group(m->topology, 2);
        ck_assert(g->assignable);
        ck_assert_uint_eq(g->n_blockers, 0);

        /* The xHCI controller is named by the RMRR and its group has a direct region. */
        g = topology_find_group(m->topology, 4);
        ck_assert(!g->assignable);
        b = find_blocker(g, "rmrr-locked");
        ck_assert_ptr_nonnull(b);
        ck_assert_str_eq(b->device, "0000:00:14.0");
        ck_assert(topology_find_device(m->topology, "0000:00:14.0")->rmrr_locked);

        g = topology_find_group(m->topology, 5);
        b = find_blocker(g, "host-critical");
        ck_assert_ptr_nonnull(b);
        ck_assert_str_eq(b->device, "0000:04:00.0");
        ck_assert_ptr_nonnull(strstr(b->reason, "root filesystem"));
        ck_assert_ptr_nonnull(strstr(b->reason, "259:2"));

        g = topology_find_group(m->topology, 6);
        b = find_blocker(g, "host-critical");
        ck_assert_ptr_nonnull(b);
        ck_assert_ptr_nonnull(strstr(b->reason, "default route (eno1)"));
}
END_TEST

START_TEST(test_rmrr_relaxable_and_boot_vga) {
        _cleanup_(model_freep) Model *m = NULL;
        const Group *g;

        build_host();
        /* A relaxable RMRR region (USB, Linux 5.3+) does not lock the device. */
        ck_assert_int_eq(
                fakesys_group_set_attr(fs, 4, "reserved_regions",
                                       "0x000000007b800000 0x000000007b9fffff direct-relaxable\n"),
                0);
        ck_assert_int_eq(fakesys_set_attr(fs, "0000:01:00.0", "boot_vga", "1"), 0);
        m = load();
        g = topology_find_group(m->topology, 4);
        ck_assert(g->assignable);
        ck_assert(topology_find_device(m->topology, "0000:00:14.0")->rmrr_named);
        ck_assert(!topology_find_device(m->topology, "0000:00:14.0")->rmrr_locked);
        g = topology_find_group(m->topology, 2);
        ck_assert(!g->assignable);
        ck_assert_ptr_nonnull(strstr(find_blocker(g, "host-critical")->reason, "boot VGA"));
}
END_TEST

START_TEST(test_rmrr_bridge_scope_locks_subtree) {
        _cleanup_(model_freep) Model *m = NULL;
        DmarBuilder *b;
        uint8_t *table;
        size_t size;
        const Group *g;

        build_host();
        /* An RMRR naming the bridge 00:04.0 as a sub-hierarchy: everything below it is named. */
        b = dmar_builder_new(38, DMAR_FLAG_INTR_REMAP);
        ck_assert_int_eq(dmar_builder_drhd(b, 1, 0, 0xfed90000), 0);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x7c000000, 0x7c0fffff), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_BRIDGE, 0, 0,
                                            &(DmarPathEntry) { 0x04, 0 }, 1),
                         0);
        ck_assert_int_eq(dmar_builder_finish(b, &table, &size), 0);
        dmar_builder_free(b);
        ck_assert_int_eq(fakesys_set_acpi_table(fs, "DMAR", table, size), 0);
        free(table);
        ck_assert_int_eq(fakesys_group_add_region(fs, 3, 0x7c000000, 0x7c0fffff, "direct"), 0);
        m = load();

        ck_assert(topology_find_device(m->topology, "0000:00:04.0")->rmrr_named);
        ck_assert(topology_find_device(m->topology, "0000:02:00.0")->rmrr_locked);
        ck_assert(topology_find_device(m->topology, "0000:03:01.0")->rmrr_locked);
        ck_assert(topology_find_device(m->topology, "0000:03:02.0")->rmrr_locked);
        ck_assert(!topology_find_device(m->topology, "0000:00:14.0")->rmrr_named);
        g = topology_find_group(m->topology, 3);
        ck_assert(!g->assignable);
        ck_assert_uint_eq(g->n_blockers, 3);
        /* Group 4 still has its direct region, which nothing names now: the kernel's word
         * stands and the whole group is blocked. */
        g = topology_find_group(m->topology, 4);
        ck_assert(!g->assignable);
        ck_assert_uint_eq(g->n_blockers, 1);
        ck_assert_ptr_null(g->blockers[0].device);
        ck_assert_ptr_nonnull(strstr(g->blockers[0].reason, "0x7b800000-0x7b9fffff"));
}
END_TEST

START_TEST(test_bad_input_is_reported) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_free_ char *report = NULL;
        const Device *d;

        build_host();
        /* An attribute that cannot be read, one with garbage, a device whose directory went
         * while its bus link stayed (it vanished mid-scan), and a corrupt DMAR table. */
        ck_assert_int_eq(fakesys_attr_make_dir(fs, "0000:01:00.0", "reset_method"), 0);
        ck_assert_int_eq(fakesys_attr_make_garbage(fs, "0000:01:00.1", "numa_node", 16), 0);
        ck_assert_int_eq(fakesys_set_attr(fs, "0000:03:02.0", "vendor", "0xzzzz"), 0);
        ck_assert_int_eq(fakesys_set_attr(fs, "0000:03:02.0", "modalias", "pci:v0000zzzz"), 0);
        ck_assert_int_eq(fakesys_symlink(fs, "sys/bus/pci/devices/0000:09:00.0",
                                         "../../../devices/pci0000:00/0000:09:00.0"),
                         0);
        ck_assert_int_eq(fakesys_set_acpi_table(fs, "DMAR", "DMAR\x10\0\0\0", 8), 0);
        m = load();

        ck_assert(has_error(m, "0000:01:00.0: reset_method"));
        ck_assert(has_error(m, "0000:01:00.1: numa_node"));
        ck_assert(has_error(m, "0000:03:02.0: vendor: invalid value"));
        ck_assert(has_error(m, "0000:09:00.0: vanished during the scan"));
        ck_assert_ptr_nonnull(m->host->dmar_error);
        ck_assert_ptr_null(m->host->dmar);
        ck_assert_int_eq(m->host->ir, IR_UNKNOWN);

        /* The rest is intact. */
        d = topology_find_device(m->topology, "0000:01:00.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->driver, "nouveau");
        ck_assert_ptr_null(d->reset_methods);
        ck_assert_int_eq(topology_find_device(m->topology, "0000:01:00.1")->numa_node, -1);
        /* The NIC with garbage ids stays, undescribed, in its group (test_unreadable_member). */
        ck_assert(!topology_find_device(m->topology, "0000:03:02.0")->ids_known);
        ck_assert_uint_eq(m->topology->n_devices, 11);
        ck_assert_uint_eq(m->topology->n_groups, 8);
        ck_assert_int_eq(report_to_string(m, NULL, NULL, NULL, &report), 0);
        ck_assert_ptr_nonnull(strstr(report, "\"dmar\":{\"error\":"));
}
END_TEST

/* A DMAR table whose checksum is wrong is used, as the kernel uses it, and the report says so. */
START_TEST(test_dmar_bad_checksum_reported) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_free_ char *report = NULL, *table = NULL;
        size_t size;
        bool said = false;

        build_host();
        ck_assert_int_eq(fakesys_read_file(fs, "sys/firmware/acpi/tables/DMAR", &table, &size), 0);
        table[9]++;
        ck_assert_int_eq(fakesys_set_acpi_table(fs, "DMAR", table, size), 0);
        m = load();
        ck_assert_ptr_nonnull(m->host->dmar);
        ck_assert_int_eq(m->host->ir, IR_ENABLED);
        ck_assert(topology_find_device(m->topology, "0000:00:14.0")->rmrr_locked);
        for (char **r = m->host->ir_reasons; r && *r; r++)
                said |= strstr(*r, "checksum is invalid") != NULL;
        ck_assert(said);
        ck_assert_int_eq(report_to_string(m, NULL, NULL, NULL, &report), 0);
        ck_assert_ptr_nonnull(strstr(report, "\"checksum_valid\":false"));
}
END_TEST

START_TEST(test_no_iommu) {
        _cleanup_(model_freep) Model *m = NULL;

        ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &fs), 0);
        add_dev("0000:00:02.0", NULL, 0x8086, 0x10d3, 0x020000, "e1000e", -1);
        m = load();
        ck_assert(!m->host->iommu_present);
        ck_assert_int_eq(m->host->kind, IOMMU_KIND_NONE);
        ck_assert_int_eq(m->host->ir, IR_UNSUPPORTED);
        ck_assert_uint_eq(m->topology->n_groups, 0);
        ck_assert_int_eq(topology_find_device(m->topology, "0000:00:02.0")->group, -1);
}
END_TEST

static const Change *find_change(const ChangeList *l, ChangeKind kind, const char *address,
                                 uint32_t group) {
        for (size_t i = 0; i < l->n; i++)
                if (l->changes[i].kind == kind && (address ? streq(l->changes[i].address, address)
                                                           : l->changes[i].group == group))
                        return &l->changes[i];
        return NULL;
}

START_TEST(test_event_remove_add) {
        _cleanup_(model_freep) Model *m = NULL;
        ChangeList l = {};
        const Change *c;

        build_host();
        m = load();
        ck_assert_int_eq(fakesys_remove_device(fs, "0000:03:02.0"), 0);
        ck_assert_int_eq(model_process_event(m, "remove", "0000:03:02.0", &l), 0);
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_DEVICE_REMOVED, "0000:03:02.0", 0));
        c = find_change(&l, CHANGE_GROUP_CHANGED, NULL, 3);
        ck_assert_ptr_nonnull(c);
        ck_assert(c->mask & GROUP_CHANGED_DEVICES);
        ck_assert_ptr_null(topology_find_device(m->topology, "0000:03:02.0"));
        ck_assert_uint_eq(strv_length(topology_find_group(m->topology, 3)->devices), 2);
        change_list_clear(&l);

        add_dev("0000:03:02.0", "0000:02:00.0", 0x8086, 0x100e, 0x020000, "e1000", 3);
        ck_assert_int_eq(model_process_event(m, "add", "0000:03:02.0", &l), 0);
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_DEVICE_ADDED, "0000:03:02.0", 0));
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_GROUP_CHANGED, NULL, 3));
        ck_assert_uint_eq(strv_length(topology_find_group(m->topology, 3)->devices), 3);
        change_list_clear(&l);

        /* The same event again changes nothing. */
        ck_assert_int_eq(model_process_event(m, "add", "0000:03:02.0", &l), 0);
        ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(test_event_group_appears_and_goes) {
        _cleanup_(model_freep) Model *m = NULL;
        ChangeList l = {};

        build_host();
        m = load();
        add_dev("0000:00:05.0", NULL, 0x8086, 0x1533, 0x020000, "igb", 9);
        ck_assert_int_eq(model_process_event(m, "add", "0000:00:05.0", &l), 0);
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_GROUP_ADDED, NULL, 9));
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_DEVICE_ADDED, "0000:00:05.0", 0));
        /* A new group is announced before the device that points at it. */
        ck_assert_int_eq(l.changes[0].kind, CHANGE_GROUP_ADDED);
        change_list_clear(&l);

        ck_assert_int_eq(fakesys_remove_device(fs, "0000:00:05.0"), 0);
        ck_assert_int_eq(model_process_event(m, "remove", "0000:00:05.0", &l), 0);
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_GROUP_REMOVED, NULL, 9));
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_DEVICE_REMOVED, "0000:00:05.0", 0));
        ck_assert_ptr_null(topology_find_group(m->topology, 9));
        change_list_clear(&l);
}
END_TEST

START_TEST(test_event_unbind_bind) {
        _cleanup_(model_freep) Model *m = NULL;
        ChangeList l = {};
        const Change *c;

        build_host();
        m = load();
        ck_assert_int_eq(fakesys_unbind(fs, "0000:03:01.0"), 0);
        ck_assert_int_eq(model_process_event(m, "unbind", "0000:03:01.0", &l), 0);
        c = find_change(&l, CHANGE_DEVICE_CHANGED, "0000:03:01.0", 0);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->mask, DEVICE_CHANGED_DRIVER);
        ck_assert_ptr_null(topology_find_device(m->topology, "0000:03:01.0")->driver);
        ck_assert_ptr_null(find_change(&l, CHANGE_GROUP_CHANGED, NULL, 3));
        change_list_clear(&l);

        ck_assert_int_eq(fakesys_set_attr(fs, "0000:03:01.0", "driver_override", "vfio-pci"), 0);
        ck_assert_int_eq(fakesys_bind(fs, "0000:03:01.0", "vfio-pci"), 0);
        ck_assert_int_eq(fakesys_set_vfio_dev(fs, "0000:03:01.0", 0), 0);
        ck_assert_int_eq(model_process_event(m, "bind", "0000:03:01.0", &l), 0);
        c = find_change(&l, CHANGE_DEVICE_CHANGED, "0000:03:01.0", 0);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->mask, DEVICE_CHANGED_DRIVER | DEVICE_CHANGED_DRIVER_OVERRIDE |
                                           DEVICE_CHANGED_VFIO_DEV);
        ck_assert_str_eq(topology_find_device(m->topology, "0000:03:01.0")->driver, "vfio-pci");
        ck_assert_str_eq(topology_find_device(m->topology, "0000:03:01.0")->vfio_dev, "vfio0");
        change_list_clear(&l);
}
END_TEST

START_TEST(test_event_sriov_vf) {
        _cleanup_(model_freep) Model *m = NULL;
        ChangeList l = {};
        FakeDevice pf, vf;
        const Change *c;
        const Device *d;

        build_host();
        fake_device_init(&pf, "0000:05:00.0");
        pf.vendor = 0x8086;
        pf.device = 0x1572;
        pf.class_code = 0x020000;
        pf.driver = "i40e";
        pf.iommu_group = 20;
        pf.sriov_totalvfs = 8;
        pf.sriov_offset = 16;
        pf.sriov_stride = 1;
        pf.sriov_vf_device = 0x154c;
        ck_assert_int_eq(fakesys_add_device(fs, &pf), 0);
        m = load();
        d = topology_find_device(m->topology, "0000:05:00.0");
        ck_assert_int_eq(d->sriov_totalvfs, 8);
        ck_assert_int_eq(d->sriov_numvfs, 0);
        ck_assert_ptr_null(d->virtfns);

        /* The kernel creates the VF (routing ID = PF + offset) and bumps sriov_numvfs. */
        fake_device_init(&vf, "0000:05:02.0");
        vf.vendor = 0x8086;
        vf.device = 0x154c;
        vf.class_code = 0x020000;
        vf.iommu_group = 21;
        vf.physfn = "0000:05:00.0";
        ck_assert_int_eq(fakesys_add_device(fs, &vf), 0);
        ck_assert_int_eq(fakesys_set_attr(fs, "0000:05:00.0", "sriov_numvfs", "1"), 0);
        ck_assert_int_eq(model_process_event(m, "add", "0000:05:02.0", &l), 0);
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_DEVICE_ADDED, "0000:05:02.0", 0));
        c = find_change(&l, CHANGE_DEVICE_CHANGED, "0000:05:00.0", 0);
        ck_assert_ptr_nonnull(c);
        ck_assert(c->mask & DEVICE_CHANGED_VIRTFNS);
        ck_assert(c->mask & DEVICE_CHANGED_SRIOV);
        d = topology_find_device(m->topology, "0000:05:00.0");
        ck_assert_uint_eq(strv_length(d->virtfns), 1);
        ck_assert_str_eq(d->virtfns[0], "0000:05:02.0");
        ck_assert_str_eq(topology_find_device(m->topology, "0000:05:02.0")->physfn, "0000:05:00.0");
        change_list_clear(&l);
}
END_TEST

START_TEST(test_event_bad_address) {
        _cleanup_(model_freep) Model *m = NULL;
        ChangeList l = {};

        build_host();
        m = load();
        ck_assert_int_eq(model_process_event(m, "add", "../../etc", &l), -EINVAL);
        ck_assert_int_eq(model_process_event(m, "add", "0000:03:01.0/..", &l), -EINVAL);
        ck_assert_int_eq(model_process_event(m, "add", "", &l), -EINVAL);
        ck_assert_uint_eq(l.n, 0);
        ck_assert_uint_eq(m->topology->n_devices, 11);
        /* An address that names nothing is not an error: there is nothing to change. */
        ck_assert_int_eq(model_process_event(m, "change", "0000:7f:00.0", &l), 0);
        ck_assert_uint_eq(l.n, 0);
}
END_TEST

/* Groups of bridges only (the root ports of build_host() each sit alone), and a host bridge,
 * have nothing to assign and say so; a host bridge beside an endpoint does not block it. */
START_TEST(test_bridge_only_groups) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_free_ char *report = NULL;
        const Blocker *b;
        const Group *g;

        build_host();
        add_dev("0000:00:00.0", NULL, 0x8086, 0x3e30, 0x060000, NULL, 0);
        add_dev("0000:00:1f.0", NULL, 0x8086, 0xa305, 0x060100, NULL, 10); /* LPC: an endpoint */
        add_dev("0000:00:1f.4", NULL, 0x8086, 0xa323, 0x0c0500, "i801_smbus", 10);
        add_dev("0000:00:08.0", NULL, 0x8086, 0x1911, 0x060000, NULL,
                11); /* host bridge + endpoint */
        add_dev("0000:00:08.1", NULL, 0x8086, 0x1912, 0x088000, NULL, 11);
        m = load();

        for (size_t i = 0; i < 4; i++) {
                uint32_t id = (uint32_t[]) { 0, 1, 7, 8 }[i];

                g = topology_find_group(m->topology, id);
                ck_assert_ptr_nonnull(g);
                ck_assert_msg(!g->assignable, "group %u is assignable", id);
                b = find_blocker(g, "no-endpoint");
                ck_assert_ptr_nonnull(b);
                ck_assert_ptr_null(b->device);
                ck_assert_ptr_nonnull(strstr(b->reason, "only bridges"));
        }
        ck_assert(topology_find_device(m->topology, "0000:00:00.0")->host_bridge);
        ck_assert(!device_is_endpoint(topology_find_device(m->topology, "0000:00:00.0")));
        ck_assert(device_is_endpoint(topology_find_device(m->topology, "0000:00:1f.0")));
        ck_assert(topology_find_group(m->topology, 10)->assignable);
        g = topology_find_group(m->topology, 11);
        ck_assert(g->assignable);
        ck_assert_uint_eq(g->n_blockers, 0);
        /* Group 3: a PCIe-to-PCI bridge with two NICs behind it. */
        ck_assert(topology_find_group(m->topology, 3)->assignable);

        ck_assert_int_eq(report_to_string(m, NULL, NULL, NULL, &report), 0);
        ck_assert_ptr_nonnull(strstr(report, "\"code\":\"no-endpoint\""));
        ck_assert_ptr_nonnull(strstr(report, "\"host_bridge\":true"));
}
END_TEST

/* A member whose ids cannot be read stays in its group, with null ids, and blocks it. */
START_TEST(test_unreadable_member) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *v;
        const Blocker *b;
        const Device *d;
        const Group *g;

        build_host();
        ck_assert_int_eq(fakesys_remove_attr(fs, "0000:01:00.1", "modalias"), 0);
        ck_assert_int_eq(fakesys_remove_attr(fs, "0000:01:00.1", "vendor"), 0);
        m = load();
        d = topology_find_device(m->topology, "0000:01:00.1");
        ck_assert_ptr_nonnull(d);
        ck_assert(!d->ids_known);
        ck_assert_int_eq(d->group, 2);
        ck_assert_str_eq(d->driver, "snd_hda_intel");
        ck_assert(has_error(m, "0000:01:00.1: vendor: missing"));
        g = topology_find_group(m->topology, 2);
        ck_assert_uint_eq(strv_length(g->devices), 2);
        ck_assert(!g->assignable);
        b = find_blocker(g, "unreadable");
        ck_assert_ptr_nonnull(b);
        ck_assert_str_eq(b->device, "0000:01:00.1");
        ck_assert_ptr_null(find_blocker(g, "no-endpoint"));

        ck_assert_int_eq(report_device_json(d, &o), 0);
        for (size_t i = 0; i < 3; i++) {
                const char *key = (const char *[]) { "vendor", "device", "class" }[i];

                ck_assert(json_object_object_get_ex(o, key, &v));
                ck_assert_msg(!v, "%s is not null", key);
        }
}
END_TEST

/* The kernel sends the remove uevent while iommu_groups/3/devices still lists the device: the
 * group keeps it (blocked: it cannot be read) and is unsettled until the kernel drops it. */
START_TEST(test_event_remove_before_group_updates) {
        _cleanup_(model_freep) Model *m = NULL;
        ChangeList l = {};
        const Change *c;
        const Group *g;

        build_host();
        m = load();
        ck_assert(model_is_settled(m));
        ck_assert_int_eq(fakesys_remove_device(fs, "0000:03:02.0"), 0);
        ck_assert_int_eq(
                fakesys_symlink(
                        fs, "sys/kernel/iommu_groups/3/devices/0000:03:02.0",
                        "../../../../devices/pci0000:00/0000:00:04.0/0000:02:00.0/0000:03:02.0"),
                0);
        ck_assert_int_eq(model_process_event(m, "remove", "0000:03:02.0", &l), 0);
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_DEVICE_REMOVED, "0000:03:02.0", 0));
        g = topology_find_group(m->topology, 3);
        ck_assert_uint_eq(strv_length(g->devices), 3);
        ck_assert(!g->assignable);
        ck_assert_str_eq(find_blocker(g, "unreadable")->device, "0000:03:02.0");
        ck_assert(!model_is_settled(m));
        ck_assert_uint_eq(m->n_unsettled_groups, 1);
        ck_assert_uint_eq(m->unsettled_groups[0], 3);
        change_list_clear(&l);

        /* Still there: still unsettled, nothing changed. */
        ck_assert_int_eq(model_settle(m, &l), 0);
        ck_assert(!model_is_settled(m));
        ck_assert_uint_eq(l.n, 0);

        /* The kernel drops it from the group. */
        ck_assert_int_eq(fakesys_remove(fs, "sys/kernel/iommu_groups/3/devices/0000:03:02.0"), 0);
        ck_assert_int_eq(model_settle(m, &l), 0);
        ck_assert(model_is_settled(m));
        c = find_change(&l, CHANGE_GROUP_CHANGED, NULL, 3);
        ck_assert_ptr_nonnull(c);
        ck_assert(c->mask & GROUP_CHANGED_DEVICES);
        ck_assert(c->mask & GROUP_CHANGED_ASSIGNABLE);
        g = topology_find_group(m->topology, 3);
        ck_assert_uint_eq(strv_length(g->devices), 2);
        ck_assert(g->assignable);
        change_list_clear(&l);
}
END_TEST

/* An add uevent before the device has its group: unsettled until the group appears. */
START_TEST(test_event_add_before_group) {
        _cleanup_(model_freep) Model *m = NULL;
        ChangeList l = {};
        const Change *c;

        build_host();
        m = load();
        add_dev("0000:00:05.0", NULL, 0x8086, 0x1533, 0x020000, "igb", -1);
        ck_assert_int_eq(model_process_event(m, "add", "0000:00:05.0", &l), 0);
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_DEVICE_ADDED, "0000:00:05.0", 0));
        ck_assert_int_eq(topology_find_device(m->topology, "0000:00:05.0")->group, -1);
        ck_assert(!model_is_settled(m));
        change_list_clear(&l);

        ck_assert_int_eq(fakesys_set_group(fs, "0000:00:05.0", 9), 0);
        ck_assert_int_eq(model_settle(m, &l), 0);
        ck_assert(model_is_settled(m));
        ck_assert_ptr_nonnull(find_change(&l, CHANGE_GROUP_ADDED, NULL, 9));
        c = find_change(&l, CHANGE_DEVICE_CHANGED, "0000:00:05.0", 0);
        ck_assert_ptr_nonnull(c);
        ck_assert(c->mask & DEVICE_CHANGED_GROUP);
        ck_assert_int_eq(topology_find_device(m->topology, "0000:00:05.0")->group, 9);
        ck_assert_uint_eq(strv_length(topology_find_group(m->topology, 9)->devices), 1);
        change_list_clear(&l);

        /* Without an IOMMU, a device without a group is the normal state. */
        model_forget_unsettled(m);
        m->host->iommu_present = false;
        add_dev("0000:00:06.0", NULL, 0x8086, 0x1533, 0x020000, "igb", -1);
        ck_assert_int_eq(model_process_event(m, "add", "0000:00:06.0", &l), 0);
        ck_assert(model_is_settled(m));
        change_list_clear(&l);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("model");
        TCase *tc = tcase_create("model");

        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_topology);
        tcase_add_test(tc, test_blockers);
        tcase_add_test(tc, test_rmrr_relaxable_and_boot_vga);
        tcase_add_test(tc, test_rmrr_bridge_scope_locks_subtree);
        tcase_add_test(tc, test_bad_input_is_reported);
        tcase_add_test(tc, test_dmar_bad_checksum_reported);
        tcase_add_test(tc, test_no_iommu);
        tcase_add_test(tc, test_event_remove_add);
        tcase_add_test(tc, test_event_group_appears_and_goes);
        tcase_add_test(tc, test_event_unbind_bind);
        tcase_add_test(tc, test_event_sriov_vf);
        tcase_add_test(tc, test_event_bad_address);
        tcase_add_test(tc, test_bridge_only_groups);
        tcase_add_test(tc, test_unreadable_member);
        tcase_add_test(tc, test_event_remove_before_group_updates);
        tcase_add_test(tc, test_event_add_before_group);
        suite_add_tcase(s, tc);
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
