/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the modules.alias reader of VFIO variant drivers: parse, and on success
 * match a few device aliases against what was read, then free everything.
 * Seed corpus: tests/fuzz/corpus/variant/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vfio-variant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const aliases[] = {
                "vfio_pci:v000015B3d0000101Esv000015B3sd00000001bc02sc00i00",
                "vfio_pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
                "vfio_pci:v*d*sv*sd*bc*sc*i*",
        };
        VfioVariants *v = NULL;
        char *error = NULL;

        if (vfio_variants_parse((const char *) data, size, &v, &error) >= 0)
                for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
                        (void) vfio_variants_match(v, aliases[i]);
        vfio_variants_free(v);
        free(error);
        return 0;
}
