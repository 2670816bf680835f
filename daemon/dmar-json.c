/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON form of a parsed DMAR table. Its shape is a stable API (host report, assignctl):
 * keys are only ever added, never renamed. 64-bit addresses are strings because JSON numbers
 * lose precision above 2^53 in many consumers. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <json-c/json.h>

#include "dmar.h"
#include "macro.h"

static void dmar_json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(dmar_json_putp)

/* Adds v (consumed, even on failure) under key. */
static int add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int append(json_object *a, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_array_add(a, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *hex64(uint64_t v) {
        char buf[sizeof("0x") + 16];

        snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
        return json_object_new_string(buf);
}

static int scope_to_json(const DmarScope *sc, json_object **ret) {
        _cleanup_json_ json_object *o = NULL, *path = NULL;
        const char *type;
        int r;

        type = dmar_scope_type_to_string(sc->type);
        if (!type)
                return -EINVAL;
        o = json_object_new_object();
        path = json_object_new_array();
        if (!o || !path)
                return -ENOMEM;
        for (size_t i = 0; i < sc->n_path; i++) {
                /* "dd.f" as lspci prints the device part of an address. */
                char buf[sizeof("ff.ff")];

                snprintf(buf, sizeof(buf), "%02x.%x", sc->path[i].dev, sc->path[i].fn);
                r = append(path, json_object_new_string(buf));
                if (r < 0)
                        return r;
        }
        if ((r = add(o, "type", json_object_new_string(type))) < 0 ||
            (r = add(o, "enumeration_id", json_object_new_int(sc->enumeration_id))) < 0 ||
            (r = add(o, "start_bus", json_object_new_int(sc->start_bus))) < 0 ||
            (r = add(o, "path", TAKE_PTR(path))) < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int struct_fields_to_json(const DmarStruct *s, json_object *o) {
        int r = 0;

        switch (s->type) {
        case DMAR_DRHD:
                if ((r = add(o, "flags", json_object_new_int(s->flags))) < 0 ||
                    (r = add(o, "include_pci_all",
                             json_object_new_boolean(s->flags & DMAR_DRHD_FLAG_INCLUDE_PCI_ALL))) <
                            0 ||
                    (r = add(o, "segment", json_object_new_int(s->segment))) < 0 ||
                    (r = add(o, "register_base", hex64(s->register_base))) < 0)
                        return r;
                break;
        case DMAR_RMRR:
                if ((r = add(o, "segment", json_object_new_int(s->segment))) < 0 ||
                    (r = add(o, "base", hex64(s->base))) < 0 ||
                    (r = add(o, "limit", hex64(s->limit))) < 0)
                        return r;
                break;
        case DMAR_ATSR:
                if ((r = add(o, "flags", json_object_new_int(s->flags))) < 0 ||
                    (r = add(o, "all_ports",
                             json_object_new_boolean(s->flags & DMAR_ATSR_FLAG_ALL_PORTS))) < 0 ||
                    (r = add(o, "segment", json_object_new_int(s->segment))) < 0)
                        return r;
                break;
        case DMAR_RHSA:
                if ((r = add(o, "register_base", hex64(s->register_base))) < 0 ||
                    (r = add(o, "proximity_domain", json_object_new_int64(s->proximity_domain))) <
                            0)
                        return r;
                break;
        case DMAR_ANDD:
                if ((r = add(o, "acpi_device_number", json_object_new_int(s->acpi_device_number))) <
                            0 ||
                    (r = add(o, "object_name", json_object_new_string(strempty(s->object_name)))) <
                            0)
                        return r;
                break;
        case DMAR_SATC:
                if ((r = add(o, "flags", json_object_new_int(s->flags))) < 0 ||
                    (r = add(o, "segment", json_object_new_int(s->segment))) < 0)
                        return r;
                break;
        case DMAR_SIDP:
                r = add(o, "segment", json_object_new_int(s->segment));
                break;
        default:
                return -EINVAL;
        }
        return r;
}

static int struct_to_json(const DmarStruct *s, json_object **ret) {
        _cleanup_json_ json_object *o = NULL, *scopes = NULL;
        const char *type;
        int r;

        type = dmar_type_to_string(s->type);
        if (!type)
                return -EINVAL;
        o = json_object_new_object();
        scopes = json_object_new_array();
        if (!o || !scopes)
                return -ENOMEM;
        r = add(o, "type", json_object_new_string(type));
        if (r < 0)
                return r;
        r = struct_fields_to_json(s, o);
        if (r < 0)
                return r;
        /* Every structure has "scopes" (empty for RHSA and ANDD) so consumers need no case. */
        for (size_t i = 0; i < s->n_scopes; i++) {
                json_object *sc;

                r = scope_to_json(&s->scopes[i], &sc);
                if (r < 0)
                        return r;
                r = append(scopes, sc);
                if (r < 0)
                        return r;
        }
        r = add(o, "scopes", TAKE_PTR(scopes));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int dmar_to_json(const DmarTable *t, json_object **ret) {
        _cleanup_json_ json_object *o = NULL, *structs = NULL, *notes = NULL;
        int r;

        if (!t || !ret)
                return -EINVAL;
        o = json_object_new_object();
        structs = json_object_new_array();
        notes = json_object_new_array();
        if (!o || !structs || !notes)
                return -ENOMEM;

        for (size_t i = 0; i < t->n_structs; i++) {
                json_object *s;

                r = struct_to_json(&t->structs[i], &s);
                if (r < 0)
                        return r;
                r = append(structs, s);
                if (r < 0)
                        return r;
        }
        for (char **n = t->notes; n && *n; n++) {
                r = append(notes, json_object_new_string(*n));
                if (r < 0)
                        return r;
        }

        /* host_address_width is reported as address bits: VT-d spec 8.1, HAW field + 1. */
        if ((r = add(o, "revision", json_object_new_int(t->revision))) < 0 ||
            (r = add(o, "oem_id", json_object_new_string(t->oem_id))) < 0 ||
            (r = add(o, "oem_table_id", json_object_new_string(t->oem_table_id))) < 0 ||
            (r = add(o, "host_address_width", json_object_new_int(t->host_address_width + 1))) <
                    0 ||
            (r = add(o, "flags", json_object_new_int(t->flags))) < 0 ||
            (r = add(o, "checksum_valid", json_object_new_boolean(t->checksum_valid))) < 0 ||
            (r = add(o, "structures", TAKE_PTR(structs))) < 0 ||
            (r = add(o, "notes", TAKE_PTR(notes))) < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

int dmar_error_to_json(const char *error, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        if (!error || !ret)
                return -EINVAL;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = add(o, "error", json_object_new_string(error));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}
