/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ACPI DMAR table parser. Layout: Intel VT-d spec (rev 4.x) chapter 8 "BIOS Considerations";
 * the field names follow ACPICA's actbl1.h (acpi_dmar_*). Everything is little-endian and read
 * byte by byte, so no struct is ever laid over the caller's buffer. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmar.h"
#include "macro.h"

/* ACPI spec 5.2.6: the generic table header; DMAR adds HAW, flags and 10 reserved bytes. */
#define ACPI_HEADER_SIZE 36u
#define DMAR_HEADER_SIZE 48u
#define DMAR_STRUCT_HEADER_SIZE 4u
#define DMAR_SCOPE_HEADER_SIZE 6u
/* VT-d spec 8.4: RMRR base is 4 KiB aligned and limit + 1 is too. */
#define DMAR_RMRR_ALIGN 4096u

/* Fixed part of each structure type, header included (VT-d spec 8.3 - 8.9). */
static const uint16_t fixed_size[_DMAR_TYPE_MAX] = {
        [DMAR_DRHD] = 16, [DMAR_RMRR] = 24, [DMAR_ATSR] = 8, [DMAR_RHSA] = 20,
        [DMAR_ANDD] = 8,  [DMAR_SATC] = 8,  [DMAR_SIDP] = 8,
};

static const char *const type_names[_DMAR_TYPE_MAX] = {
        [DMAR_DRHD] = "DRHD", [DMAR_RMRR] = "RMRR", [DMAR_ATSR] = "ATSR", [DMAR_RHSA] = "RHSA",
        [DMAR_ANDD] = "ANDD", [DMAR_SATC] = "SATC", [DMAR_SIDP] = "SIDP",
};

static const char *const scope_type_names[_DMAR_SCOPE_TYPE_MAX] = {
        [DMAR_SCOPE_ENDPOINT] = "endpoint", [DMAR_SCOPE_BRIDGE] = "bridge",
        [DMAR_SCOPE_IOAPIC] = "ioapic",     [DMAR_SCOPE_HPET] = "hpet",
        [DMAR_SCOPE_ACPI] = "acpi",
};

const char *dmar_type_to_string(uint16_t type) {
        return type < _DMAR_TYPE_MAX ? type_names[type] : NULL;
}

const char *dmar_scope_type_to_string(uint8_t type) {
        return type < _DMAR_SCOPE_TYPE_MAX ? scope_type_names[type] : NULL;
}

static bool type_has_scopes(uint16_t type) {
        return type == DMAR_DRHD || type == DMAR_RMRR || type == DMAR_ATSR || type == DMAR_SATC ||
               type == DMAR_SIDP;
}

static uint16_t rd16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) {
        return (uint64_t) rd32(p) | (uint64_t) rd32(p + 4) << 32;
}

/* Copies an ACPI fixed-width ID: stops at a NUL, keeps space padding, and replaces anything
 * that is not printable ASCII so the result is safe for JSON and logs. */
static void copy_id(char *dst, const uint8_t *src, size_t n) {
        size_t i;

        for (i = 0; i < n && src[i] != 0; i++)
                dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char) src[i] : '?';
        dst[i] = 0;
}

static void dmar_struct_done(DmarStruct *s) {
        for (size_t i = 0; i < s->n_scopes; i++)
                free(s->scopes[i].path);
        free(s->scopes);
        free(s->object_name);
}

DmarTable *dmar_table_free(DmarTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_structs; i++)
                dmar_struct_done(&t->structs[i]);
        free(t->structs);
        strv_free(t->notes);
        free(t);
        return NULL;
}

/* Makes room for one more element in a doubling array. */
static int grow(void **array, size_t *allocated, size_t n, size_t element_size) {
        size_t want;
        void *p;

        if (n < *allocated)
                return 0;
        want = *allocated ? *allocated * 2 : 4;
        if (want > SIZE_MAX / element_size)
                return -ENOMEM;
        p = realloc(*array, want * element_size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *allocated = want;
        return 0;
}

typedef struct Parser {
        const uint8_t *p;
        size_t size;
        DmarTable *t;
        size_t structs_allocated;
        size_t n_notes;
        size_t notes_dropped;
        char *error;
        char where[64]; /* "structure N (TYPE) at offset 0x..", context of structure errors */
        char scope[48]; /* "device scope N at offset 0x..", context of scope errors */
} Parser;

/* Sets the error "[structure: ][scope: ]message"; depth says how much context to prepend. */
_printf_(3, 0) static int vfail(Parser *ps, unsigned depth, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;

        /* glibc leaves the pointer undefined when vasprintf() fails. */
        if (vasprintf(&msg, fmt, ap) < 0) {
                msg = NULL;
                return -ENOMEM;
        }
        free(ps->error);
        if (asprintf(&ps->error, "%s%s%s%s%s", depth > 0 ? ps->where : "", depth > 0 ? ": " : "",
                     depth > 1 ? ps->scope : "", depth > 1 ? ": " : "", msg) < 0) {
                ps->error = NULL;
                return -ENOMEM;
        }
        return -EBADMSG;
}

#define DEFINE_FAIL(name, depth)                                           \
        _printf_(2, 3) static int name(Parser *ps, const char *fmt, ...) { \
                va_list ap;                                                \
                int r;                                                     \
                                                                           \
                va_start(ap, fmt);                                         \
                r = vfail(ps, depth, fmt, ap);                             \
                va_end(ap);                                                \
                return r;                                                  \
        }
DEFINE_FAIL(fail, 0)
DEFINE_FAIL(fail_struct, 1)
DEFINE_FAIL(fail_scope, 2)

_printf_(3, 4) static int note_add(Parser *ps, bool capped, const char *fmt, ...) {
        char *s, **l;
        va_list ap;
        int r;

        /* The table is input: cap the notes it can make us keep. */
        if (capped && ps->n_notes >= DMAR_NOTES_MAX) {
                ps->notes_dropped++;
                return 0;
        }
        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        l = realloc(ps->t->notes, (ps->n_notes + 2) * sizeof(char *));
        if (!l) {
                free(s);
                return -ENOMEM;
        }
        l[ps->n_notes++] = s;
        l[ps->n_notes] = NULL;
        ps->t->notes = l;
        return 0;
}

#define note(ps, ...) note_add(ps, true, __VA_ARGS__)

static int parse_header(Parser *ps) {
        const uint8_t *p = ps->p;
        DmarTable *t = ps->t;
        uint32_t length;
        uint8_t sum = 0;
        char sig[5];

        if (ps->size < ACPI_HEADER_SIZE)
                return fail(ps, "table is %zu bytes, shorter than the ACPI table header (%u bytes)",
                            ps->size, ACPI_HEADER_SIZE);
        if (memcmp(p, "DMAR", 4) != 0) {
                copy_id(sig, p, 4);
                return fail(ps, "signature at offset 0x0 is \"%s\", not \"DMAR\"", sig);
        }
        length = rd32(p + 4);
        if (length != ps->size)
                return fail(ps,
                            "header length (offset 0x4) is %" PRIu32 " bytes but the table is "
                            "%zu bytes",
                            length, ps->size);
        if (length < DMAR_HEADER_SIZE)
                return fail(ps,
                            "header length (offset 0x4) %" PRIu32
                            " is shorter than the DMAR header "
                            "(%u bytes)",
                            length, DMAR_HEADER_SIZE);
        /* ACPI spec 5.2.6: all bytes of the table, checksum included, add up to zero. A table
         * that does not is still decoded: ACPICA's acpi_ut_verify_checksum() only warns
         * (ACPI_CHECKSUM_ABORT is FALSE in acconfig.h) and the kernel uses the table. */
        for (size_t i = 0; i < ps->size; i++)
                sum = (uint8_t) (sum + p[i]);
        t->checksum_valid = sum == 0;
        t->checksum_sum = sum;

        t->revision = p[8];
        copy_id(t->oem_id, p + 10, 6);
        copy_id(t->oem_table_id, p + 16, 8);
        t->oem_revision = rd32(p + 24);
        t->host_address_width = p[36];
        t->flags = p[37];
        return 0;
}

/* Parses the device scopes in [start, end) of the structure being built (VT-d spec 8.3.1). */
static int parse_scopes(Parser *ps, DmarStruct *s, size_t start, size_t end) {
        size_t allocated = 0, index = 0;
        int r;

        for (size_t off = start; off < end; index++) {
                const uint8_t *q = ps->p + off;
                size_t left = end - off, n;
                uint8_t type, len;
                DmarScope *sc;

                snprintf(ps->scope, sizeof(ps->scope), "device scope %zu at offset 0x%zx", index,
                         off);
                if (left < DMAR_SCOPE_HEADER_SIZE)
                        return fail_scope(ps,
                                          "only %zu bytes left in the structure, shorter than a "
                                          "device scope (%u bytes)",
                                          left, DMAR_SCOPE_HEADER_SIZE);
                type = q[0];
                len = q[1];
                if (len < DMAR_SCOPE_HEADER_SIZE)
                        return fail_scope(ps, "length %u is shorter than a device scope (%u bytes)",
                                          len, DMAR_SCOPE_HEADER_SIZE);
                if (len > left)
                        return fail_scope(ps,
                                          "length %u runs past the end of its structure "
                                          "(%zu bytes left)",
                                          len, left);
                /* The path is a list of 2-byte (device, function) pairs. */
                if ((len - DMAR_SCOPE_HEADER_SIZE) % 2 != 0)
                        return fail_scope(ps, "length %u leaves an odd number of path bytes (%u)",
                                          len, len - DMAR_SCOPE_HEADER_SIZE);

                if (!dmar_scope_type_to_string(type)) {
                        r = note(ps, "skipped device scope of unknown type %u at offset 0x%zx",
                                 type, off);
                        if (r < 0)
                                return r;
                        off += len;
                        continue;
                }

                r = grow((void **) &s->scopes, &allocated, s->n_scopes, sizeof(DmarScope));
                if (r < 0)
                        return r;
                sc = &s->scopes[s->n_scopes];
                n = (len - DMAR_SCOPE_HEADER_SIZE) / 2;
                *sc = (DmarScope) {
                        .type = type,
                        .flags = q[2],
                        .enumeration_id = q[4],
                        .start_bus = q[5],
                        .offset = off,
                };
                if (n > 0) {
                        sc->path = calloc(n, sizeof(DmarPathEntry));
                        if (!sc->path)
                                return -ENOMEM;
                        for (size_t i = 0; i < n; i++)
                                sc->path[i] = (DmarPathEntry) {
                                        .dev = q[DMAR_SCOPE_HEADER_SIZE + 2 * i],
                                        .fn = q[DMAR_SCOPE_HEADER_SIZE + 2 * i + 1],
                                };
                        sc->n_path = n;
                }
                s->n_scopes++;
                off += len;
        }
        return 0;
}

static int parse_andd_name(Parser *ps, DmarStruct *s, size_t start, size_t end) {
        const uint8_t *name = ps->p + start, *nul;
        size_t n;

        nul = memchr(name, 0, end - start);
        if (!nul)
                return fail_struct(ps, "ACPI object name at offset 0x%zx is not NUL-terminated",
                                   start);
        n = (size_t) (nul - name);
        for (size_t i = 0; i < n; i++)
                if (name[i] < 0x20 || name[i] >= 0x7f)
                        return fail_struct(ps,
                                           "ACPI object name has a non-printable byte 0x%02x "
                                           "at offset 0x%zx",
                                           name[i], start + i);
        s->object_name = strndup((const char *) name, n);
        return s->object_name ? 0 : -ENOMEM;
}

static int parse_rmrr_notes(Parser *ps, const DmarStruct *s) {
        if (s->limit < s->base)
                return note(ps,
                            "RMRR at offset 0x%zx: limit 0x%" PRIx64 " is below base 0x%" PRIx64,
                            s->offset, s->limit, s->base);
        if (s->base % DMAR_RMRR_ALIGN != 0 || (s->limit + 1) % DMAR_RMRR_ALIGN != 0)
                return note(ps,
                            "RMRR at offset 0x%zx: region 0x%" PRIx64 "-0x%" PRIx64
                            " is not 4 KiB aligned",
                            s->offset, s->base, s->limit);
        return 0;
}

/* Fills s from the fixed part of a known structure at off (length already checked). */
static int parse_struct(Parser *ps, DmarStruct *s, size_t off, uint16_t type, uint16_t len) {
        const uint8_t *q = ps->p + off;
        size_t body = off + fixed_size[type], end = off + len;
        int r;

        *s = (DmarStruct) { .type = type, .length = len, .offset = off };
        switch (type) {
        case DMAR_DRHD:
                s->flags = q[4];
                s->segment = rd16(q + 6);
                s->register_base = rd64(q + 8);
                break;
        case DMAR_RMRR:
                s->segment = rd16(q + 6);
                s->base = rd64(q + 8);
                s->limit = rd64(q + 16);
                r = parse_rmrr_notes(ps, s);
                if (r < 0)
                        return r;
                break;
        case DMAR_ATSR:
        case DMAR_SATC:
                s->flags = q[4];
                s->segment = rd16(q + 6);
                break;
        case DMAR_RHSA:
                s->register_base = rd64(q + 8);
                s->proximity_domain = rd32(q + 16);
                break;
        case DMAR_ANDD:
                s->acpi_device_number = q[7];
                return parse_andd_name(ps, s, body, end);
        case DMAR_SIDP:
                s->segment = rd16(q + 6);
                break;
        }
        if (type_has_scopes(type))
                return parse_scopes(ps, s, body, end);
        return 0;
}

static int parse_structs(Parser *ps) {
        size_t index = 0;
        int r;

        for (size_t off = DMAR_HEADER_SIZE; off < ps->size; index++) {
                const uint8_t *q = ps->p + off;
                size_t left = ps->size - off;
                const char *name;
                uint16_t type, len;
                DmarStruct *s;

                if (left < DMAR_STRUCT_HEADER_SIZE) {
                        snprintf(ps->where, sizeof(ps->where), "structure %zu at offset 0x%zx",
                                 index, off);
                        return fail_struct(ps,
                                           "only %zu bytes left in the table, shorter than a "
                                           "structure header (%u bytes)",
                                           left, DMAR_STRUCT_HEADER_SIZE);
                }
                type = rd16(q);
                len = rd16(q + 2);
                name = dmar_type_to_string(type);
                if (name)
                        snprintf(ps->where, sizeof(ps->where), "structure %zu (%s) at offset 0x%zx",
                                 index, name, off);
                else
                        snprintf(ps->where, sizeof(ps->where),
                                 "structure %zu (type %u) at offset 0x%zx", index, type, off);

                /* A zero length would make every later structure unreachable (and loop forever). */
                if (len < DMAR_STRUCT_HEADER_SIZE)
                        return fail_struct(
                                ps, "length %u is shorter than a structure header (%u bytes)", len,
                                DMAR_STRUCT_HEADER_SIZE);
                if (len > left)
                        return fail_struct(ps,
                                           "length %u runs past the end of the table "
                                           "(%zu bytes left)",
                                           len, left);
                if (!name) {
                        r = note(ps, "skipped structure of unknown type %u at offset 0x%zx", type,
                                 off);
                        if (r < 0)
                                return r;
                        off += len;
                        continue;
                }
                if (len < fixed_size[type])
                        return fail_struct(ps,
                                           "length %u is shorter than its fixed part (%u bytes)",
                                           len, fixed_size[type]);

                r = grow((void **) &ps->t->structs, &ps->structs_allocated, ps->t->n_structs,
                         sizeof(DmarStruct));
                if (r < 0)
                        return r;
                s = &ps->t->structs[ps->t->n_structs];
                /* Counted before parsing so that a half-filled structure is freed with the table. */
                ps->t->n_structs++;
                r = parse_struct(ps, s, off, type, len);
                if (r < 0)
                        return r;
                off += len;
        }
        return 0;
}

int dmar_parse(const void *data, size_t size, DmarTable **ret, char **ret_error) {
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        Parser ps = { .p = data, .size = size };
        int r;

        if (!ret || (!data && size > 0))
                return -EINVAL;
        if (size > DMAR_SIZE_MAX) {
                char *e;

                if (ret_error) {
                        if (asprintf(&e, "table is %zu bytes, larger than the limit (%u bytes)",
                                     size, DMAR_SIZE_MAX) < 0)
                                return -ENOMEM;
                        *ret_error = e;
                }
                return -EFBIG;
        }

        t = calloc(1, sizeof(DmarTable));
        if (!t)
                return -ENOMEM;
        ps.t = t;

        r = parse_header(&ps);
        if (r >= 0)
                r = parse_structs(&ps);
        if (r >= 0 && ps.notes_dropped > 0)
                r = note_add(&ps, false, "%zu more notes not shown", ps.notes_dropped);
        if (r >= 0 && !t->notes) {
                t->notes = calloc(1, sizeof(char *));
                if (!t->notes)
                        r = -ENOMEM;
        }
        if (r < 0) {
                if (r == -EBADMSG && ret_error)
                        *ret_error = TAKE_PTR(ps.error);
                free(ps.error);
                return r;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

size_t dmar_count(const DmarTable *t, DmarType type) {
        size_t n = 0;

        if (!t)
                return 0;
        for (size_t i = 0; i < t->n_structs; i++)
                if (t->structs[i].type == type)
                        n++;
        return n;
}

const DmarStruct *dmar_find_drhd(const DmarTable *t, uint64_t register_base) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_structs; i++)
                if (t->structs[i].type == DMAR_DRHD && t->structs[i].register_base == register_base)
                        return &t->structs[i];
        return NULL;
}

int dmar_scope_resolve(const DmarScope *scope, uint16_t segment, DmarSecondaryBusFn secondary_bus,
                       void *userdata, PciAddress *ret) {
        uint8_t bus;

        if (!scope || !ret || scope->n_path == 0)
                return -EINVAL;
        if (scope->n_path > 1 && !secondary_bus)
                return -EINVAL;
        /* PCI: 5-bit device, 3-bit function; anything else cannot name a device. */
        for (size_t i = 0; i < scope->n_path; i++)
                if (scope->path[i].dev > 0x1f || scope->path[i].fn > 7)
                        return -EINVAL;

        bus = scope->start_bus;
        for (size_t i = 0; i + 1 < scope->n_path; i++) {
                PciAddress bridge = {
                        .domain = segment,
                        .bus = bus,
                        .dev = scope->path[i].dev,
                        .fn = scope->path[i].fn,
                };
                uint8_t next;
                int r;

                r = secondary_bus(userdata, &bridge, &next);
                if (r == -ENODEV || r == -ENOENT)
                        return -ENODEV;
                if (r < 0)
                        return r;
                bus = next;
        }

        *ret = (PciAddress) {
                .domain = segment,
                .bus = bus,
                .dev = scope->path[scope->n_path - 1].dev,
                .fn = scope->path[scope->n_path - 1].fn,
        };
        return 0;
}

int dmar_rmrr_locks(const DmarTable *t, DmarSecondaryBusFn secondary_bus, void *userdata,
                    DmarRmrrLock **ret, size_t *ret_n) {
        _cleanup_free_ DmarRmrrLock *locks = NULL;
        size_t n = 0, allocated = 0;
        int r;

        if (!t || !ret || !ret_n)
                return -EINVAL;

        for (size_t i = 0; i < t->n_structs; i++) {
                const DmarStruct *s = &t->structs[i];

                if (s->type != DMAR_RMRR)
                        continue;
                for (size_t j = 0; j < s->n_scopes; j++) {
                        const DmarScope *sc = &s->scopes[j];
                        PciAddress a;

                        if (sc->type != DMAR_SCOPE_ENDPOINT && sc->type != DMAR_SCOPE_BRIDGE)
                                continue;
                        r = dmar_scope_resolve(sc, s->segment, secondary_bus, userdata, &a);
                        if (r == -ENODEV || r == -EINVAL)
                                continue;
                        if (r < 0)
                                return r;
                        r = grow((void **) &locks, &allocated, n, sizeof(DmarRmrrLock));
                        if (r < 0)
                                return r;
                        locks[n++] = (DmarRmrrLock) {
                                .address = a,
                                .subtree = sc->type == DMAR_SCOPE_BRIDGE,
                                .base = s->base,
                                .limit = s->limit,
                                .rmrr_index = i,
                        };
                }
        }

        *ret = n > 0 ? TAKE_PTR(locks) : NULL;
        *ret_n = n;
        return 0;
}

static int address_cmp(const void *a, const void *b) {
        return pci_address_compare(a, b);
}

int dmar_rmrr_devices(const DmarTable *t, DmarSecondaryBusFn secondary_bus, void *userdata,
                      PciAddress **ret, size_t *ret_n) {
        _cleanup_free_ DmarRmrrLock *locks = NULL;
        _cleanup_free_ PciAddress *a = NULL;
        size_t n_locks, n = 0;
        int r;

        if (!ret || !ret_n)
                return -EINVAL;
        r = dmar_rmrr_locks(t, secondary_bus, userdata, &locks, &n_locks);
        if (r < 0)
                return r;
        if (n_locks > 0) {
                a = calloc(n_locks, sizeof(PciAddress));
                if (!a)
                        return -ENOMEM;
                for (size_t i = 0; i < n_locks; i++)
                        a[i] = locks[i].address;
                qsort(a, n_locks, sizeof(PciAddress), address_cmp);
                /* One device often appears in several RMRRs (e.g. USB controllers). */
                for (size_t i = 0; i < n_locks; i++)
                        if (n == 0 || pci_address_compare(&a[n - 1], &a[i]) != 0)
                                a[n++] = a[i];
        }

        *ret = TAKE_PTR(a);
        *ret_n = n;
        return 0;
}

bool dmar_table_intr_remap(const DmarTable *t) {
        return t && (t->flags & DMAR_FLAG_INTR_REMAP) && dmar_count(t, DMAR_DRHD) > 0;
}

int dmar_interrupt_remapping(const DmarTable *t, DmarEcapFn ecap, void *userdata) {
        if (!t || !ecap)
                return -EINVAL;
        /* Linux intel_irq_remapping_supported(): the table flag and every unit's ECAP.IR. */
        if (!dmar_table_intr_remap(t))
                return 0;
        for (size_t i = 0; i < t->n_structs; i++) {
                uint64_t e;
                int r;

                if (t->structs[i].type != DMAR_DRHD)
                        continue;
                r = ecap(userdata, t->structs[i].register_base, &e);
                if (r < 0)
                        return r;
                if (!(e & DMAR_ECAP_IR))
                        return 0;
        }
        return 1;
}
