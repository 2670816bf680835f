/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the DMAR parser: parse, and on success build the JSON form and resolve
 * the RMRR scopes against a made-up topology, then free everything.
 * Seed corpus: tests/data/dmar/. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "dmar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every bridge has a secondary bus derived from its address, except those on odd functions,
 * which are "not present", so both outcomes of the walk are exercised. */
static int fake_secondary_bus(void *userdata, const PciAddress *bridge, uint8_t *ret_bus) {
        if (bridge->fn & 1)
                return -ENODEV;
        *ret_bus = (uint8_t) (bridge->bus + bridge->dev + 1);
        return 0;
}

static int fake_ecap(void *userdata, uint64_t register_base, uint64_t *ret_ecap) {
        *ret_ecap = register_base;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DmarTable *t = NULL;
        char *error = NULL;
        json_object *j = NULL;
        PciAddress *devs = NULL;
        DmarRmrrLock *locks = NULL;
        size_t n;

        if (dmar_parse(data, size, &t, &error) < 0) {
                if (error && dmar_error_to_json(error, &j) >= 0) {
                        (void) json_object_to_json_string(j);
                        json_object_put(j);
                }
                free(error);
                return 0;
        }

        if (dmar_to_json(t, &j) >= 0) {
                (void) json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
                json_object_put(j);
        }
        if (dmar_rmrr_devices(t, fake_secondary_bus, NULL, &devs, &n) >= 0)
                free(devs);
        if (dmar_rmrr_locks(t, fake_secondary_bus, NULL, &locks, &n) >= 0)
                free(locks);
        (void) dmar_interrupt_remapping(t, fake_ecap, NULL);
        dmar_table_free(t);
        return 0;
}
