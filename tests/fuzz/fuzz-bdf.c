/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the PCI address parser must never crash, and whatever it accepts must
 * format to a canonical address that parses back to the same value. The same bytes as a sysfs
 * path: a root complex found in it is one of its components, named as pci_root_of_path() says. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_component(const char *path, const char *c) {
        size_t n = strlen(c);

        for (const char *p = path; (p = strstr(p, c)); p++)
                if ((p == path || p[-1] == '/') && (p[n] == '/' || p[n] == 0))
                        return true;
        return false;
}

static void check_root(const char *path) {
        char root[PCI_ROOT_STRLEN];
        size_t n;

        if (!pci_root_of_path(path, root))
                return;
        n = strnlen(root, sizeof(root));
        if (n == sizeof(root) || n < strlen("pci0000:00") || strncmp(root, "pci", 3) != 0 ||
            !is_component(path, root))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char s[256], buf[PCI_ADDRESS_STRLEN];
        PciAddress a, b;

        if (size >= sizeof(s))
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        check_root(s);
        if (size >= 64)
                return 0;
        if (pci_address_parse(s, &a) < 0) {
                if (pci_address_is_canonical(s))
                        abort();
                return 0;
        }
        pci_address_format(&a, buf);
        if (!pci_address_is_canonical(buf) || pci_address_parse(buf, &b) < 0 ||
            pci_address_compare(&a, &b) != 0)
                abort();
        return 0;
}
