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

static bool is_lower_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* "pci" + 4 to 8 hex digits + ":" + 2 hex digits, the n characters at p. */
static bool is_pci_root_name(const char *p, size_t n) {
        size_t colon = n - 3;

        if (n < sizeof("pci0000:00") - 1 || n >= PCI_ROOT_STRLEN || !strneq(p, "pci", 3) ||
            p[colon] != ':')
                return false;
        for (size_t i = 3; i < n; i++)
                if (i != colon && !is_lower_hex(p[i]))
                        return false;
        return true;
}

bool pci_root_of_path(const char *path, char ret[static PCI_ROOT_STRLEN]) {
        for (const char *p = path; p && *p;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);

                if (is_pci_root_name(p, n)) {
                        memcpy(ret, p, n);
                        ret[n] = 0;
                        return true;
                }
                p = *e ? e + 1 : e;
        }
        return false;
}
