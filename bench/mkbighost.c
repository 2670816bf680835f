/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkbighost [--devices N] DIR: a synthetic large host for benchmarks, about N PCI devices
 * (default 9000) in about two thirds as many IOMMU groups, built with tests/fakesys.
 *
 * The root buses of several PCI segments carry root ports, each heading one of three kinds of
 * unit, interleaved 3:5:5:
 *   sriov   an E810-like dual-function NIC; both PFs have 32 VFs, every PF and VF in a group
 *           of its own (67 devices, 67 groups);
 *   switch  a PCIe switch, upstream port and 8 downstream ports, each with a quad-function
 *           NIC whose functions share a group (42 devices, 18 groups);
 *   legacy  a PCIe-to-PCI bridge with 6 conventional devices, all in one group (8 devices,
 *           2 groups).
 * Every device has a full config file; one DRHD per segment (INCLUDE_PCI_ALL) and an RHSA per
 * unit make the DMAR table; segment 0 also has the NVMe holding "/" and the default route. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmar-build.h"
#include "fakesys.h"
#include "macro.h"
#include "util.h"

#define MAX_SEGMENTS 64

typedef struct Gen {
        FakeSys *fs;
        DmarBuilder *dmar;
        unsigned segment, segments, next_bus, next_port;
        int next_group;
        unsigned devices;
        char iommu[16];
} Gen;

typedef enum Unit { UNIT_SRIOV, UNIT_SWITCH, UNIT_LEGACY } Unit;

/* Buses a unit needs below its root port (the root port itself is on bus 0). */
static const unsigned unit_buses[] = { [UNIT_SRIOV] = 1, [UNIT_SWITCH] = 10, [UNIT_LEGACY] = 2 };

static char *bdf(char buf[static 16], unsigned seg, unsigned bus, unsigned dev, unsigned fn) {
        snprintf(buf, 16, "%04x:%02x:%02x.%x", seg & 0xffffu, bus & 0xffu, dev & 0x1fu, fn & 7u);
        return buf;
}

static int add(Gen *g, FakeDevice *d, int group) {
        int r;

        d->iommu_group = group;
        d->iommu = g->iommu;
        d->numa_node = (int) (g->segment % 2);
        r = fakesys_add_device(g->fs, d);
        if (r < 0) {
                fprintf(stderr, "mkbighost: %s: %s\n", d->bdf, strerror(-r));
                return r;
        }
        g->devices++;
        return 0;
}

static int new_segment(Gen *g) {
        FakeIommu u = { .kind = FAKE_IOMMU_INTEL, .cap = 0x8d2078c106f0466ULL, .ecap = 0xf020df };
        char b[16];
        FakeDevice hb;
        int r;

        if (g->segments > 0)
                g->segment++;
        if (g->segment >= MAX_SEGMENTS)
                return -E2BIG;
        g->segments++;
        g->next_bus = 1;
        g->next_port = 0;
        snprintf(g->iommu, sizeof(g->iommu), "dmar%u", g->segment);
        u.name = g->iommu;
        u.address = 0xc5ffc000ULL - g->segment * 0x4000000ULL;
        r = fakesys_add_iommu(g->fs, &u);
        if (r < 0)
                return r;
        /* VT-d 4.1 §8.3: one catch-all DRHD per segment, and its proximity domain. */
        r = dmar_builder_drhd(g->dmar, 0x01, (uint16_t) g->segment, u.address);
        if (r >= 0 && g->segment == 0) {
                const DmarPathEntry p = { .dev = 0x1f, .fn = 0 };

                r = dmar_builder_scope(g->dmar, 3, 8, 0, &p, 1);
        }
        if (r < 0)
                return r;
        fake_device_init(&hb, bdf(b, g->segment, 0, 0, 0));
        hb.vendor = 0x8086;
        hb.device = 0x2020;
        hb.class_code = 0x060000;
        return add(g, &hb, g->next_group++);
}

/* A root port on bus 0 of the current segment, heading `buses` buses. */
static int root_port(Gen *g, unsigned buses, char port[static 16], unsigned *ret_bus) {
        FakeDevice rp;
        int r;

        if (g->segments == 0 || g->next_bus + buses > 0x100 || g->next_port >= 31 * 8) {
                r = new_segment(g);
                if (r < 0)
                        return r;
        }
        fake_device_init(&rp, bdf(port, g->segment, 0, 1 + g->next_port / 8, g->next_port % 8));
        rp.vendor = 0x8086;
        rp.device = 0x2030 + (g->next_port % 4);
        rp.class_code = 0x060400;
        rp.multifunction = g->next_port % 8 == 0;
        rp.driver = "pcieport";
        rp.irq = 24 + g->next_port % 100;
        g->next_port++;
        *ret_bus = g->next_bus;
        g->next_bus += buses;
        return add(g, &rp, g->next_group++);
}

static int unit_sriov(Gen *g, unsigned index) {
        char port[16], pf[2][16], vf[16];
        unsigned bus;
        FakeDevice d;
        int r;

        r = root_port(g, unit_buses[UNIT_SRIOV], port, &bus);
        for (unsigned f = 0; r >= 0 && f < 2; f++) {
                fake_device_init(&d, bdf(pf[f], g->segment, bus, 0, f));
                d.parent = port;
                d.vendor = 0x8086;
                d.device = 0x1592;
                d.subsystem_vendor = 0x8086;
                d.subsystem_device = 0x0002;
                d.class_code = 0x020000;
                d.multifunction = f == 0;
                d.driver = "ice";
                d.reset_method = "flr bus";
                /* VFs of PF0 at devfn 0x80.., of PF1 at 0xa0..: RID = PF + offset + n. */
                d.sriov_totalvfs = 128;
                d.sriov_offset = (uint16_t) (0x80 + f * 0x20 - f);
                d.sriov_stride = 1;
                d.sriov_vf_device = 0x1889;
                r = add(g, &d, g->next_group++);
        }
        for (unsigned f = 0; r >= 0 && f < 2; f++)
                for (unsigned n = 0; r >= 0 && n < 32; n++) {
                        unsigned devfn = 0x80 + f * 0x20 + n;

                        fake_device_init(&d, bdf(vf, g->segment, bus, devfn >> 3, devfn & 7));
                        d.parent = port;
                        d.physfn = pf[f];
                        d.vendor = 0x8086;
                        d.device = 0x1889;
                        d.class_code = 0x020000;
                        d.driver = n % 2 == 0 ? "iavf" : NULL;
                        d.reset_method = "flr";
                        r = add(g, &d, g->next_group++);
                }
        if (r >= 0 && index == 0) {
                /* The first NIC's port 1 carries the host's default route. */
                r = fakesys_add_netdev(g->fs, pf[1], "ens1f1", NULL);
                if (r >= 0)
                        r = fakesys_add_route(g->fs, "ens1f1", "0.0.0.0", 0, "10.0.0.1", 100);
        }
        return r;
}

static int unit_switch(Gen *g) {
        char port[16], up[16], down[16], fn[16];
        unsigned bus;
        FakeDevice d;
        int r, group;

        r = root_port(g, unit_buses[UNIT_SWITCH], port, &bus);
        if (r < 0)
                return r;
        fake_device_init(&d, bdf(up, g->segment, bus, 0, 0));
        d.parent = port;
        d.vendor = 0x10b5;
        d.device = 0x8747;
        d.class_code = 0x060400;
        d.driver = "pcieport";
        r = add(g, &d, g->next_group++);
        for (unsigned k = 0; r >= 0 && k < 8; k++) {
                fake_device_init(&d, bdf(down, g->segment, bus + 1, 8 + k, 0));
                d.parent = up;
                d.vendor = 0x10b5;
                d.device = 0x8747;
                d.class_code = 0x060400;
                d.driver = "pcieport";
                r = add(g, &d, g->next_group++);
                /* A quad-port NIC without ACS between its functions: one group for all four. */
                group = g->next_group++;
                for (unsigned f = 0; r >= 0 && f < 4; f++) {
                        fake_device_init(&d, bdf(fn, g->segment, bus + 2 + k, 0, f));
                        d.parent = down;
                        d.vendor = 0x8086;
                        d.device = 0x1521;
                        d.subsystem_vendor = 0x8086;
                        d.subsystem_device = 0x0001;
                        d.class_code = 0x020000;
                        d.revision = 0x01;
                        d.multifunction = f == 0;
                        d.driver = "igb";
                        d.reset_method = "flr";
                        d.irq = 16 + f;
                        r = add(g, &d, group);
                }
        }
        return r;
}

static int unit_legacy(Gen *g) {
        char port[16], br[16], dev[16];
        unsigned bus;
        FakeDevice d;
        int r, group;

        r = root_port(g, unit_buses[UNIT_LEGACY], port, &bus);
        if (r < 0)
                return r;
        /* Behind a PCIe-to-PCI bridge requester IDs alias: bridge and devices share a group. */
        group = g->next_group++;
        fake_device_init(&d, bdf(br, g->segment, bus, 0, 0));
        d.parent = port;
        d.vendor = 0x12d8;
        d.device = 0xe113;
        d.class_code = 0x060400;
        d.pcie_type = FAKE_PCIE_TO_PCI_BRIDGE;
        d.reset_method = "pm bus";
        r = add(g, &d, group);
        for (unsigned k = 0; r >= 0 && k < 6; k++) {
                fake_device_init(&d, bdf(dev, g->segment, bus + 1, 4 + k, 0));
                d.parent = br;
                d.vendor = 0x8086;
                d.device = 0x107c;
                d.subsystem_vendor = 0x8086;
                d.subsystem_device = 0x1376;
                d.class_code = 0x020000;
                d.revision = 0x05;
                d.driver = k < 4 ? "e1000" : NULL;
                d.reset_method = "bus";
                d.irq = 16 + k % 4;
                r = add(g, &d, group);
        }
        return r;
}

static int root_disk(Gen *g) {
        char port[16], nvme[16];
        unsigned bus;
        FakeDevice d;
        int r;

        r = root_port(g, 1, port, &bus);
        if (r < 0)
                return r;
        fake_device_init(&d, bdf(nvme, g->segment, bus, 0, 0));
        d.parent = port;
        d.vendor = 0x144d;
        d.device = 0xa808;
        d.class_code = 0x010802;
        d.driver = "nvme";
        d.reset_method = "flr";
        r = add(g, &d, g->next_group++);
        if (r >= 0)
                r = fakesys_add_block(g->fs, nvme, "nvme/nvme0/nvme0n1", 259, 0);
        if (r >= 0)
                r = fakesys_add_block(g->fs, nvme, "nvme/nvme0/nvme0n1/nvme0n1p2", 259, 2);
        if (r >= 0)
                r = fakesys_set_root_mount(g->fs, 259, 2, "ext4", "/dev/nvme0n1p2");
        return r;
}

static int host_facts(Gen *g) {
        _cleanup_free_ uint8_t *table = NULL;
        size_t size;
        int r;

        /* VT-d 4.1 §8.6: RHSAs follow the DRHDs; one per unit. */
        for (unsigned s = 0; s < g->segments; s++) {
                r = dmar_builder_rhsa(g->dmar, 0xc5ffc000ULL - s * 0x4000000ULL, s % 2);
                if (r < 0)
                        return r;
        }
        r = dmar_builder_finish(g->dmar, &table, &size);
        if (r >= 0)
                r = fakesys_set_acpi_table(g->fs, "DMAR", table, size);
        if (r >= 0)
                r = fakesys_set_module_param(g->fs, "vfio_iommu_type1", "allow_unsafe_interrupts",
                                             "N");
        if (r >= 0)
                r = fakesys_set_module_param(g->fs, "vfio_iommu_type1", "dma_entry_limit", "65535");
        if (r >= 0)
                r = fakesys_add_module(g->fs, "vfio_pci");
        if (r >= 0)
                r = fakesys_add_module(g->fs, "vfio");
        if (r >= 0)
                r = fakesys_set_hugepages(g->fs, 2048, 4096, 4096);
        if (r >= 0)
                r = fakesys_set_osrelease(g->fs, "6.1.0-18-amd64");
        if (r >= 0)
                r = fakesys_write_file(g->fs, "dev/vfio/vfio", "", 0);
        if (r >= 0)
                r = fakesys_write_interrupts(g->fs, true);
        return r;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = { { "devices", required_argument, NULL, 'n' },
                                                 { "help", no_argument, NULL, 'h' },
                                                 {} };
        Gen g = { .next_group = 0 };
        uint32_t want = 9000;
        unsigned units;
        int c, r;

        while ((c = getopt_long(argc, argv, "n:h", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        if (safe_atou32(optarg, 10, &want) < 0 || want < 100 || want > 60000) {
                                fprintf(stderr, "mkbighost: --devices takes 100..60000\n");
                                return 1;
                        }
                        break;
                case 'h':
                        printf("Usage: %s [--devices N] DIR\n"
                               "Builds a synthetic host of about N PCI devices (default 9000) in "
                               "DIR (missing or empty).\n",
                               program_invocation_short_name);
                        return 0;
                default:
                        return 1;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "Usage: %s [--devices N] DIR\n", program_invocation_short_name);
                return 1;
        }
        /* 13 units of the 3:5:5 mix hold 451 devices. */
        units = MAX(1u, (want * 13 + 225) / 451);
        r = fakesys_new(argv[optind], 0, &g.fs);
        if (r < 0) {
                fprintf(stderr, "mkbighost: %s: %s\n", argv[optind], strerror(-r));
                return 1;
        }
        g.dmar = dmar_builder_new(45, 0x01);
        r = g.dmar ? root_disk(&g) : -ENOMEM;
        for (unsigned i = 0, n_sriov = 0, n_other = 0; r >= 0 && i < units; i++) {
                unsigned k = i % 13;

                if (k == 0 || k == 4 || k == 8)
                        r = unit_sriov(&g, n_sriov++);
                else
                        r = n_other++ % 2 ? unit_legacy(&g) : unit_switch(&g);
        }
        if (r >= 0)
                r = host_facts(&g);
        dmar_builder_free(g.dmar);
        fakesys_free(g.fs);
        if (r < 0) {
                fprintf(stderr, "mkbighost: %s\n", strerror(-r));
                return 1;
        }
        printf("devices=%u groups=%d segments=%u\n", g.devices, g.next_group, g.segments);
        return 0;
}
