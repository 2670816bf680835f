/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bdf.h"
#include "macro.h"
#include "util.h"

/* Reads exactly n hex digits. */
static int hexn(const char *s, unsigned n, uint32_t *ret) {
        uint32_t v = 0;

        for (unsigned i = 0; i < n; i++) {
                int d = unhexchar(s[i]);
                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (uint32_t) d;
        }
        *ret = v;
        return 0;
}

int pci_address_parse(const char *s, PciAddress *ret) {
        uint32_t domain = 0, bus, dev, fn;
        size_t n;

        if (!s)
                return -EINVAL;
        n = strlen(s);
        if (n == 12) {
                if (s[4] != ':' || hexn(s, 4, &domain) < 0)
                        return -EINVAL;
                s += 5;
        } else if (n != 7)
                return -EINVAL;
        if (s[2] != ':' || s[5] != '.' || hexn(s, 2, &bus) < 0 || hexn(s + 3, 2, &dev) < 0 ||
            hexn(s + 6, 1, &fn) < 0)
                return -EINVAL;
        if (dev > 0x1f || fn > 7)
                return -EINVAL;
        *ret = (PciAddress) {
                .domain = domain, .bus = (uint8_t) bus, .dev = (uint8_t) dev, .fn = (uint8_t) fn
        };
        return 0;
}

bool pci_address_is_canonical(const char *s) {
        PciAddress a;
        char buf[PCI_ADDRESS_STRLEN];

        if (!s || strlen(s) != 12 || pci_address_parse(s, &a) < 0)
                return false;
        return streq(pci_address_format(&a, buf), s);
}

char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_STRLEN]) {
        snprintf(buf, PCI_ADDRESS_STRLEN, "%04x:%02x:%02x.%x", a->domain & 0xffffu, a->bus,
                 a->dev & 0x1fu, a->fn & 7u);
        return buf;
}

int pci_address_compare(const PciAddress *a, const PciAddress *b) {
        if (a->domain != b->domain)
                return a->domain < b->domain ? -1 : 1;
        if (a->bus != b->bus)
                return a->bus < b->bus ? -1 : 1;
        if (a->dev != b->dev)
                return a->dev < b->dev ? -1 : 1;
        if (a->fn != b->fn)
                return a->fn < b->fn ? -1 : 1;
        return 0;
}
