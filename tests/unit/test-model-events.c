/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The incremental model against the full one: after random hotplug, driver, group and region
 * changes on a fake tree, each announced by the uevents the kernel would send, the model that
 * followed the events is the model a fresh load of the same tree makes (every device's and
 * group's facts, derived ones too, and the RMRR and host-critical inputs); every event announces
 * exactly the objects it changed; and one event derives a bounded number of objects, whatever
 * the size of the host. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
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

/* The devices the random steps take away and bring back. */
typedef struct Spec {
        const char *bdf, *parent, *physfn;
        uint16_t vendor, device;
        uint32_t class;
        const char *driver;
        int group, boot_vga;
        bool present;
} Spec;

static Spec specs[] = {
        { "0000:00:01.0", NULL, NULL, 0x8086, 0x1901, 0x060400, "pcieport", 1, -1, true },
        { "0000:01:00.0", "0000:00:01.0", NULL, 0x10de, 0x1b80, 0x030000, "nouveau", 2, 1, true },
        { "0000:01:00.1", "0000:00:01.0", NULL, 0x10de, 0x10f0, 0x040300, "snd_hda_intel", 2, -1,
          true },
        { "0000:00:04.0", NULL, NULL, 0x1b36, 0x000c, 0x060400, "pcieport", 7, -1, true },
        { "0000:02:00.0", "0000:00:04.0", NULL, 0x1b36, 0x000e, 0x060400, NULL, 3, -1, true },
        { "0000:03:01.0", "0000:02:00.0", NULL, 0x8086, 0x100e, 0x020000, "e1000", 3, -1, true },
        { "0000:03:02.0", "0000:02:00.0", NULL, 0x8086, 0x100e, 0x020000, "e1000", 3, -1, true },
        { "0000:00:14.0", NULL, NULL, 0x8086, 0xa36d, 0x0c0330, "xhci_hcd", 4, -1, true },
        { "0000:00:1d.0", NULL, NULL, 0x8086, 0xa330, 0x060400, "pcieport", 8, -1, true },
        { "0000:04:00.0", "0000:00:1d.0", NULL, 0x144d, 0xa808, 0x010802, "nvme", 5, -1, true },
        { "0000:00:1f.6", NULL, NULL, 0x8086, 0x15bc, 0x020000, "e1000e", 6, -1, true },
        { "0000:05:00.0", NULL, NULL, 0x8086, 0x1572, 0x020000, "i40e", 20, -1, true },
        { "0000:05:02.0", NULL, "0000:05:00.0", 0x8086, 0x154c, 0x020000, "iavf", 21, -1, true },
        { "0000:05:02.1", NULL, "0000:05:00.0", 0x8086, 0x154c, 0x020000, NULL, 22, -1, true },
};

#define PF "0000:05:00.0"
#define NVME "0000:04:00.0"
#define NIC "0000:00:1f.6"

static Spec *spec(const char *bdf) {
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                if (streq(specs[i].bdf, bdf))
                        return &specs[i];
        return NULL;
}

static void sync_numvfs(void) {
        char n[8];
        unsigned vfs = 0;

        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                vfs += specs[i].physfn && specs[i].present;
        snprintf(n, sizeof(n), "%u", vfs);
        if (fakesys_device_exists(fs, PF))
                ck_assert_int_eq(fakesys_set_attr(fs, PF, "sriov_numvfs", n), 0);
}

static void add_spec(Spec *s) {
        FakeDevice d;

        fake_device_init(&d, s->bdf);
        d.parent = s->parent;
        d.physfn = s->physfn;
        d.vendor = s->vendor;
        d.device = s->device;
        d.subsystem_vendor = s->vendor;
        d.subsystem_device = 0x0001;
        d.class_code = s->class;
        d.driver = s->driver;
        d.iommu_group = s->group;
        d.boot_vga = s->boot_vga;
        d.reset_method = (s->class >> 8) == 0x0604 ? NULL : "flr bus";
        d.iommu = "dmar0";
        if (streq(s->bdf, PF)) {
                d.sriov_totalvfs = 8;
                d.sriov_offset = 16;
                d.sriov_stride = 1;
                d.sriov_vf_device = 0x154c;
        }
        ck_assert_int_eq(fakesys_add_device(fs, &d), 0);
        s->present = true;
        /* What the drivers of the NVMe and the NIC create below them: "/" and the default
         * route resolve through these. */
        if (streq(s->bdf, NVME)) {
                ck_assert_int_eq(fakesys_add_block(fs, NVME, "nvme/nvme0/nvme0n1", 259, 0), 0);
                ck_assert_int_eq(fakesys_add_block(fs, NVME, "nvme/nvme0/nvme0n1/nvme0n1p2", 259,
                                                   2),
                                 0);
        }
        if (streq(s->bdf, NIC))
                ck_assert_int_eq(fakesys_add_netdev(fs, NIC, "eno1", NULL), 0);
}

/* An Intel host with an endpoint RMRR scope (00:14.0, its group has the direct region) and a
 * bridge scope two hops deep (00:04.0, then 02:00.0 on its secondary bus: the RMRR covers the
 * two NICs below it), the boot GPU, the NVMe with "/", the NIC with the default route and an
 * SR-IOV PF with two VFs. */
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
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                add_spec(&specs[i]);
        sync_numvfs();
        ck_assert_int_eq(fakesys_group_add_region(fs, 4, 0x7b800000, 0x7b9fffff, "direct"), 0);
        ck_assert_int_eq(fakesys_group_add_region(fs, 3, 0x7c000000, 0x7c0fffff, "direct"), 0);
        ck_assert_int_eq(fakesys_set_root_mount(fs, 259, 2, "ext4", "/dev/nvme0n1p2"), 0);
        ck_assert_int_eq(fakesys_add_route(fs, "eno1", "0.0.0.0", 0, "192.168.1.1", 100), 0);

        b = dmar_builder_new(38, DMAR_FLAG_INTR_REMAP);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(dmar_builder_drhd(b, 1, 0, 0xfed90000), 0);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x7b800000, 0x7b9fffff), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0,
                                            &(DmarPathEntry) { 0x14, 0 }, 1),
                         0);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x7c000000, 0x7c0fffff), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_BRIDGE, 0, 0,
                                            (DmarPathEntry[]) { { 0x04, 0 }, { 0x00, 0 } }, 2),
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
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                specs[i].present = true;
}

/* One object as text: what the report says of it, and the facts the report leaves out. */
static char *device_text(const Device *d) {
        _cleanup_json_ json_object *o = NULL;
        char *s;

        ck_assert_int_eq(report_device_json(d, &o), 0);
        ck_assert_int_ge(asprintf(&s, "%s named=%d ids=%d path=%s", json_object_to_json_string(o),
                                  d->rmrr_named, d->ids_known, strna(d->devpath)),
                         0);
        return s;
}

static char *group_text(const Group *g) {
        _cleanup_json_ json_object *o = NULL;
        char *s;

        ck_assert_int_eq(report_group_json(g, NULL, &o), 0);
        ck_assert_int_ge(asprintf(&s, "%s name=%s regions_known=%d", json_object_to_json_string(o),
                                  strna(g->name), g->regions_known),
                         0);
        return s;
}

static void assert_strv_eq(char **a, char **b) {
        ck_assert_uint_eq(strv_length(a), strv_length(b));
        for (size_t i = 0; a && a[i]; i++)
                ck_assert_str_eq(a[i], b[i]);
}

static void assert_same_model(const Model *m, const Model *f) {
        const Topology *a = m->topology, *b = f->topology;

        ck_assert_uint_eq(a->n_devices, b->n_devices);
        for (size_t i = 0; i < a->n_devices; i++) {
                _cleanup_free_ char *x = device_text(a->devices[i]),
                                    *y = device_text(b->devices[i]);

                ck_assert_str_eq(x, y);
        }
        ck_assert_uint_eq(a->n_groups, b->n_groups);
        for (size_t i = 0; i < a->n_groups; i++) {
                _cleanup_free_ char *x = group_text(a->groups[i]), *y = group_text(b->groups[i]);

                ck_assert_str_eq(x, y);
        }
        ck_assert_uint_eq(m->n_rmrr, f->n_rmrr);
        for (size_t i = 0; i < m->n_rmrr; i++)
                ck_assert_int_eq(pci_address_compare(&m->rmrr[i], &f->rmrr[i]), 0);
        ck_assert_uint_eq(m->n_rmrr_subtrees, f->n_rmrr_subtrees);
        ck_assert_uint_eq(m->n_critical, f->n_critical);
        for (size_t i = 0; i < m->n_critical; i++) {
                ck_assert_str_eq(m->critical[i].address, f->critical[i].address);
                ck_assert_str_eq(m->critical[i].reason, f->critical[i].reason);
        }
        assert_strv_eq(m->errors, f->errors);
        ck_assert(model_is_settled(m));
}

/* Every object as text, keyed "d <address>" or "g <id>", sorted by the topology's order. */
typedef struct Snapshot {
        char **keys, **texts;
        size_t n;
} Snapshot;

static void snapshot_take(const Model *m, Snapshot *s) {
        const Topology *t = m->topology;

        *s = (Snapshot) {};
        for (size_t i = 0; i < t->n_devices; i++) {
                _cleanup_free_ char *x = device_text(t->devices[i]);

                ck_assert_int_eq(strv_extendf(&s->keys, "d %s", t->devices[i]->address), 0);
                ck_assert_int_eq(strv_extend(&s->texts, x), 0);
        }
        for (size_t i = 0; i < t->n_groups; i++) {
                _cleanup_free_ char *x = group_text(t->groups[i]);

                ck_assert_int_eq(strv_extendf(&s->keys, "g %u", t->groups[i]->id), 0);
                ck_assert_int_eq(strv_extend(&s->texts, x), 0);
        }
        s->n = strv_length(s->keys);
}

static void snapshot_done(Snapshot *s) {
        strv_free(s->keys);
        strv_free(s->texts);
}

static const char *snapshot_text(const Snapshot *s, const char *key) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->keys[i], key))
                        return s->texts[i];
        return NULL;
}

static const Change *find_key(const ChangeList *l, const char *key) {
        for (size_t i = 0; i < l->n; i++) {
                const Change *c = &l->changes[i];
                char k[32];

                if (c->kind <= CHANGE_DEVICE_CHANGED)
                        snprintf(k, sizeof(k), "d %s", c->address);
                else
                        snprintf(k, sizeof(k), "g %u", c->group);
                if (streq(k, key))
                        return c;
        }
        return NULL;
}

/* The change list names each object at most once, and exactly the objects that came, went or
 * changed, each with the right kind. */
static void assert_changes_sane(const Snapshot *before, const Snapshot *after,
                                const ChangeList *l) {
        for (size_t i = 0; i < l->n; i++)
                for (size_t j = i + 1; j < l->n; j++)
                        ck_assert(l->changes[i].kind / 3 != l->changes[j].kind / 3 ||
                                  (l->changes[i].kind < CHANGE_GROUP_ADDED
                                           ? !streq(l->changes[i].address, l->changes[j].address)
                                           : l->changes[i].group != l->changes[j].group));
        for (size_t i = 0; i < before->n + after->n; i++) {
                const char *key = i < before->n ? before->keys[i] : after->keys[i - before->n];
                const char *x = snapshot_text(before, key), *y = snapshot_text(after, key);
                const Change *c = find_key(l, key);
                bool device = key[0] == 'd';

                if (!x)
                        ck_assert_msg(c && c->kind == (device ? CHANGE_DEVICE_ADDED
                                                              : CHANGE_GROUP_ADDED),
                                      "%s came unannounced", key);
                else if (!y)
                        ck_assert_msg(c && c->kind == (device ? CHANGE_DEVICE_REMOVED
                                                              : CHANGE_GROUP_REMOVED),
                                      "%s went unannounced", key);
                else if (!streq(x, y))
                        ck_assert_msg(c && c->mask != 0 &&
                                              c->kind == (device ? CHANGE_DEVICE_CHANGED
                                                                 : CHANGE_GROUP_CHANGED),
                                      "%s changed unannounced:\n%s\n%s", key, x, y);
                else
                        ck_assert_msg(!c, "%s announced but unchanged", key);
        }
}

static void event(Model *m, const char *action, const char *bdf) {
        Snapshot before, after;
        ChangeList l = {};

        snapshot_take(m, &before);
        ck_assert_int_eq(model_process_event(m, action, bdf, &l), 0);
        snapshot_take(m, &after);
        assert_changes_sane(&before, &after, &l);
        change_list_clear(&l);
        snapshot_done(&before);
        snapshot_done(&after);
}

static bool below(const Spec *s, const Spec *top) {
        while (s) {
                const char *up = s->parent ? s->parent : s->physfn;

                if (s == top)
                        return true;
                s = up ? spec(up) : NULL;
        }
        return false;
}

static unsigned depth(const Spec *s) {
        unsigned n = 0;

        for (; s; n++)
                s = s->parent ? spec(s->parent) : s->physfn ? spec(s->physfn) : NULL;
        return n;
}

/* Takes the device and everything below it away; the kernel announces the deepest first. */
static void step_remove(Model *m, Spec *s) {
        ck_assert_int_eq(fakesys_remove_device(fs, s->bdf), 0);
        /* A PF's VFs are not below it in sysfs: the kernel removes them with the PF. */
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                if (specs[i].present && specs[i].physfn && below(&specs[i], s) &&
                    fakesys_device_exists(fs, specs[i].bdf))
                        ck_assert_int_eq(fakesys_remove_device(fs, specs[i].bdf), 0);
        for (unsigned d = 8; d > 0; d--)
                for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                        if (specs[i].present && below(&specs[i], s) && depth(&specs[i]) == d) {
                                specs[i].present = false;
                                sync_numvfs();
                                event(m, "remove", specs[i].bdf);
                        }
}

static void step(Model *m, unsigned r) {
        Spec *s = &specs[r % ELEMENTSOF(specs)];
        const char *up = s->parent ? s->parent : s->physfn;
        unsigned op = (r / 16) % 6;

        if (!s->present) {
                if (up && !spec(up)->present)
                        return;
                add_spec(s);
                sync_numvfs();
                event(m, "add", s->bdf);
                return;
        }
        switch (op) {
        case 0:
                step_remove(m, s);
                break;
        case 1: {
                _cleanup_free_ char *link = NULL, *path = NULL;
                bool bound;

                ck_assert_int_eq(fakesys_device_path(fs, s->bdf, &path), 0);
                ck_assert_int_ge(asprintf(&link, "%s/driver", path), 0);
                bound = fakesys_exists(fs, link);
                if (bound)
                        ck_assert_int_eq(fakesys_unbind(fs, s->bdf), 0);
                else
                        ck_assert_int_eq(fakesys_bind(fs, s->bdf, "vfio-pci"), 0);
                event(m, bound ? "unbind" : "bind", s->bdf);
                break;
        }
        case 2: {
                static const int groups[] = { 2, 3, 4, 9, 20, 21 };

                ck_assert_int_eq(fakesys_set_group(fs, s->bdf, groups[(r / 128) % 6]), 0);
                event(m, "change", s->bdf);
                break;
        }
        case 3: {
                /* The kernel gives a group the regions of its members (a device joining it): the
                 * event is the member's. */
                const Device *d = topology_find_device(m->topology, s->bdf);

                if (d && d->group >= 0)
                        ck_assert_int_eq(fakesys_group_add_region(
                                                 fs, (unsigned) d->group, 0x7d000000, 0x7d00ffff,
                                                 (r / 128) % 2 ? "direct" : "direct-relaxable"),
                                         0);
                event(m, "change", s->bdf);
                break;
        }
        case 4:
                ck_assert_int_eq(fakesys_set_attr(fs, s->bdf, "driver_override",
                                                  (r / 128) % 2 ? "vfio-pci" : "(null)"),
                                 0);
                event(m, "change", s->bdf);
                break;
        default:
                /* Nothing changed: the event must change nothing. */
                event(m, "change", s->bdf);
        }
}

START_TEST(test_random_events_match_full_load) {
        _cleanup_(model_freep) Model *m = NULL;
        unsigned seed = 0x5eed + (unsigned) _i;

        build_host();
        m = load();
        for (unsigned n = 0; n < 150; n++) {
                _cleanup_(model_freep) Model *fresh = NULL;

                seed = seed * 1103515245u + 12345u;
                step(m, seed >> 8);
                fresh = load();
                assert_same_model(m, fresh);
        }
}
END_TEST

/* A host of n extra single-device groups on root buses 0x10 and up. */
static void add_filler(unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                char bdf[16];
                FakeDevice d;

                snprintf(bdf, sizeof(bdf), "0000:%02x:%02x.%x", (0x10 + i / 256) & 0xffu,
                         (i / 8) % 32, i % 8);
                fake_device_init(&d, bdf);
                d.vendor = 0x8086;
                d.device = 0x10fb;
                d.class_code = 0x020000;
                d.driver = "ixgbe";
                d.iommu_group = 100 + (int) i;
                d.multifunction = true;
                ck_assert_int_eq(fakesys_add_device(fs, &d), 0);
        }
}

/* What each kind of event derives on a host of `filler` more devices. */
static void derived_per_event(unsigned filler, unsigned long ret[5]) {
        _cleanup_(model_freep) Model *m = NULL;
        const char *const what[][2] = {
                { "change", "0000:03:01.0" }, { "unbind", "0000:01:00.0" },
                { "remove", "0000:05:02.1" }, { "add", "0000:05:02.1" },
                { "remove", NVME },
        };

        build_host();
        add_filler(filler);
        m = load();
        for (size_t i = 0; i < ELEMENTSOF(what); i++) {
                unsigned long before = m->topology->derived_devices + m->topology->derived_groups;
                ChangeList l = {};

                if (streq(what[i][0], "unbind"))
                        ck_assert_int_eq(fakesys_unbind(fs, what[i][1]), 0);
                else if (streq(what[i][0], "remove"))
                        ck_assert_int_eq(fakesys_remove_device(fs, what[i][1]), 0);
                else if (streq(what[i][0], "add")) {
                        add_spec(spec(what[i][1]));
                }
                ck_assert_int_eq(model_process_event(m, what[i][0], what[i][1], &l), 0);
                change_list_clear(&l);
                ret[i] = m->topology->derived_devices + m->topology->derived_groups - before;
                /* At most the device, its PF, their groups and those groups' members (none when
                 * the device's group went with it). */
                ck_assert_uint_le(ret[i], 8);
        }
        fs = fakesys_free(fs);
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                specs[i].present = true;
}

START_TEST(test_event_work_is_bounded) {
        unsigned long small[5], large[5];

        derived_per_event(8, small);
        derived_per_event(600, large);
        for (size_t i = 0; i < ELEMENTSOF(small); i++)
                ck_assert_uint_eq(small[i], large[i]);
}
END_TEST

/* The boot VGA device and the devices behind "/" and the default route: an event that takes the
 * NVMe away drops its reason (the root filesystem's block device went with it) and reports the
 * resolution error a full load reports; bringing it back restores both. */
START_TEST(test_host_critical_follows_the_nvme) {
        _cleanup_(model_freep) Model *m = NULL;

        build_host();
        m = load();
        ck_assert_ptr_nonnull(strstr(topology_find_device(m->topology, NVME)->host_critical,
                                     "root filesystem"));
        ck_assert_ptr_nonnull(strstr(topology_find_device(m->topology, NIC)->host_critical,
                                     "default route"));
        ck_assert_ptr_nonnull(strstr(
                topology_find_device(m->topology, "0000:01:00.0")->host_critical, "boot VGA"));
        ck_assert_ptr_null(m->errors);
        step_remove(m, spec(NVME));
        ck_assert_uint_eq(strv_length(m->errors), 1);
        ck_assert_ptr_nonnull(strstr(m->errors[0], "root filesystem"));
        add_spec(spec(NVME));
        event(m, "add", NVME);
        ck_assert_ptr_null(m->errors);
        ck_assert_ptr_nonnull(strstr(topology_find_device(m->topology, NVME)->host_critical,
                                     "root filesystem"));
}
END_TEST

/* The bridge scope resolves through 00:04.0's secondary bus: when that bridge and the one below
 * it go and come back, the NICs below are named again, as a full load names them. */
START_TEST(test_rmrr_bridge_scope_follows_hotplug) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_(model_freep) Model *fresh = NULL;

        build_host();
        m = load();
        ck_assert(topology_find_device(m->topology, "0000:03:01.0")->rmrr_locked);
        step_remove(m, spec("0000:00:04.0"));
        ck_assert_uint_eq(m->n_rmrr_subtrees, 0);
        for (const char *const *b =
                     (const char *const[]) { "0000:00:04.0", "0000:02:00.0", "0000:03:01.0", NULL };
             *b; b++) {
                add_spec(spec(*b));
                event(m, "add", *b);
        }
        ck_assert_uint_eq(m->n_rmrr_subtrees, 1);
        /* Named again; group 3 came back without the direct region, so not locked. */
        ck_assert(topology_find_device(m->topology, "0000:03:01.0")->rmrr_named);
        fresh = load();
        assert_same_model(m, fresh);
}
END_TEST

static void set_secondary_bus(const char *bdf, uint8_t bus) {
        _cleanup_free_ char *path = NULL, *config = NULL, *data = NULL;
        size_t size;

        ck_assert_int_eq(fakesys_device_path(fs, bdf, &path), 0);
        ck_assert_int_ge(asprintf(&config, "%s/config", path), 0);
        ck_assert_int_eq(fakesys_read_file(fs, config, &data, &size), 0);
        ck_assert_uint_gt(size, 0x19);
        data[0x19] = (char) bus;
        ck_assert_int_eq(fakesys_write_file(fs, config, data, size), 0);
}

/* When the bridge a scope resolves through reads another secondary bus, the devices below the
 * scope's old and new bridge are derived again, though no event names them. */
START_TEST(test_rmrr_bridge_scope_moves) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_(model_freep) Model *fresh = NULL;

        build_host();
        set_secondary_bus("0000:00:04.0", 0x09);
        m = load();
        ck_assert(!topology_find_device(m->topology, "0000:03:01.0")->rmrr_named);
        set_secondary_bus("0000:00:04.0", 0x02);
        event(m, "change", "0000:00:04.0");
        ck_assert(topology_find_device(m->topology, "0000:03:01.0")->rmrr_named);
        ck_assert(topology_find_device(m->topology, "0000:03:02.0")->rmrr_locked);
        fresh = load();
        assert_same_model(m, fresh);
}
END_TEST

/* A bind or unbind event reads the device's driver and nothing else: a change of the group's
 * regions that no event announced stays unseen until the next event that may change them (a
 * "change"), while the driver, its group's verdict and the driver-only facts follow. A bind event
 * for a device that went meanwhile reads it whole: it is gone. */
START_TEST(test_driver_events_read_only_the_driver) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_(model_freep) Model *fresh = NULL, *fresh2 = NULL;
        const Device *d;
        const Group *g;
        size_t regions;

        build_host();
        m = load();
        g = topology_find_group(m->topology, 6);
        ck_assert_ptr_nonnull(g);
        regions = g->n_regions;
        ck_assert_int_eq(fakesys_group_add_region(fs, 6, 0x7d000000, 0x7d00ffff, "direct"), 0);
        ck_assert_int_eq(fakesys_unbind(fs, NIC), 0);
        ck_assert_int_eq(fakesys_bind(fs, NIC, "vfio-pci"), 0);
        ck_assert_int_eq(fakesys_set_vfio_dev(fs, NIC, 3), 0);
        event(m, "bind", NIC);
        d = topology_find_device(m->topology, NIC);
        ck_assert_str_eq(d->driver, "vfio-pci");
        ck_assert_str_eq(d->vfio_dev, "vfio3");
        ck_assert_uint_eq(topology_find_group(m->topology, 6)->n_regions, regions);

        event(m, "change", NIC);
        ck_assert_uint_eq(topology_find_group(m->topology, 6)->n_regions, regions + 1);
        fresh = load();
        assert_same_model(m, fresh);

        ck_assert_int_eq(fakesys_remove_device(fs, NIC), 0);
        event(m, "unbind", NIC);
        ck_assert_ptr_null(topology_find_device(m->topology, NIC));
        ck_assert_ptr_null(topology_find_group(m->topology, 6));
        fresh2 = load();
        assert_same_model(m, fresh2);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("model-events");
        TCase *tc = tcase_create("events");

        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_loop_test(tc, test_random_events_match_full_load, 0, 8);
        tcase_add_test(tc, test_event_work_is_bounded);
        tcase_add_test(tc, test_host_critical_follows_the_nvme);
        tcase_add_test(tc, test_rmrr_bridge_scope_follows_hotplug);
        tcase_add_test(tc, test_rmrr_bridge_scope_moves);
        tcase_add_test(tc, test_driver_events_read_only_the_driver);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *r = srunner_create(suite());
        int failed;

        srunner_run_all(r, CK_ENV);
        failed = srunner_ntests_failed(r);
        srunner_free(r);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
