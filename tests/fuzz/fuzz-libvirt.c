/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the libvirt hook's reader of domain XML (client/libvirt-domain.c): any
 * bytes, read whole and for the UUID only. What it accepts must hold addresses in range and a
 * canonical UUID. Seed corpus: tests/fuzz/corpus/libvirt/ (copies of tests/data/libvirt/). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bdf.h"
#include "libvirt-domain.h"
#include "macro.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const LibvirtDomain *d) {
        char buf[PCI_ADDRESS_STRLEN];

        if (strlen(d->uuid) != LIBVIRT_UUID_STRLEN - 1 || d->n_hostdevs > LIBVIRT_HOSTDEVS_MAX)
                abort();
        for (size_t i = 0; i < d->n_hostdevs; i++) {
                if (d->hostdevs[i].domain > 0xffff || d->hostdevs[i].dev > 0x1f ||
                    d->hostdevs[i].fn > 7)
                        abort();
                if (!pci_address_is_canonical(pci_address_format(&d->hostdevs[i], buf)))
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const LibvirtParseFlags flags[] = { 0, LIBVIRT_PARSE_UUID_ONLY };

        for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
                _cleanup_(libvirt_domain_freep) LibvirtDomain *d = NULL;
                _cleanup_free_ char *error = NULL;
                int r;

                r = libvirt_domain_parse((const char *) data, size, flags[i], &d, &error);
                if (r == 0)
                        check(d);
                else if ((r == -EINVAL || r == -E2BIG) && !error)
                        abort();
        }
        return 0;
}
