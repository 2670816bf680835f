/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the PCI address parser must never crash, and whatever it accepts must
 * format to a canonical address that parses back to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char s[64], buf[PCI_ADDRESS_STRLEN];
        PciAddress a, b;

        if (size >= sizeof(s))
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
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
