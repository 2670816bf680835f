/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the DMAR parser (daemon/dmar.c), its JSON form (daemon/dmar-json.c) and the
 * test-table builder (tests/dmar-build.c).
 *
 * The synthetic seed tables in tests/data/dmar/ are made by the builders below; a test checks
 * that the files still match. To regenerate them: test-dmar --write-seeds tests/data/dmar */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "dmar-build.h"
#include "dmar.h"
#include "macro.h"
#include "util.h"

#ifndef TEST_DATA_DIR_DEFAULT
#define TEST_DATA_DIR_DEFAULT "tests/data"
#endif

#define QEMU_ON "qemu-q35-vtd/DMAR-qemu72-q35-intremap-on.bin"
#define QEMU_OFF "qemu-q35-vtd/DMAR-qemu72-q35-intremap-off.bin"

/* ---- helpers ---- */

static const char *data_dir(void) {
        const char *d = getenv("TEST_DATA_DIR");

        return isempty(d) ? TEST_DATA_DIR_DEFAULT : d;
}

static uint8_t *read_file(const char *path, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = NULL;
        uint8_t *buf;
        long n;

        f = fopen(path, "re");
        ck_assert_msg(f, "cannot open %s: %s", path, strerror(errno));
        ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        ck_assert_int_gt(n, 0);
        ck_assert_int_le(n, DMAR_SIZE_MAX);
        rewind(f);
        buf = malloc((size_t) n);
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
        *ret_size = (size_t) n;
        return buf;
}

static uint8_t *read_data(const char *rel, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;

        ck_assert_int_ge(asprintf(&path, "%s/%s", data_dir(), rel), 0);
        return read_file(path, ret_size);
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
        put16(p, (uint16_t) v);
        put16(p + 2, (uint16_t) (v >> 16));
}

static void fix_checksum(uint8_t *buf, size_t n) {
        uint8_t sum = 0;

        buf[9] = 0;
        for (size_t i = 0; i < n; i++)
                sum = (uint8_t) (sum + buf[i]);
        buf[9] = (uint8_t) (0x100 - sum);
}

static DmarTable *parse_ok(const uint8_t *buf, size_t n) {
        _cleanup_free_ char *error = NULL;
        DmarTable *t = NULL;
        int r;

        r = dmar_parse(buf, n, &t, &error);
        ck_assert_msg(r == 0, "dmar_parse: %d: %s", r, strna(error));
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_null(error);
        ck_assert_ptr_nonnull(t->notes);
        return t;
}

/* Parses a table that must fail with -EBADMSG, a message containing every needle (NULL-terminated
 * list) and the outputs untouched; also checks the same without ret_error. */
static void expect_error_v(const uint8_t *buf, size_t n, const char *const *needles) {
        DmarTable sentinel, *t = &sentinel;
        char *error = NULL;
        int r;

        r = dmar_parse(buf, n, &t, &error);
        ck_assert_int_eq(r, -EBADMSG);
        ck_assert_ptr_eq(t, &sentinel);
        ck_assert_ptr_nonnull(error);
        for (const char *const *s = needles; *s; s++)
                ck_assert_msg(strstr(error, *s), "error \"%s\" lacks \"%s\"", error, *s);
        free(error);

        r = dmar_parse(buf, n, &t, NULL);
        ck_assert_int_eq(r, -EBADMSG);
        ck_assert_ptr_eq(t, &sentinel);
}
#define expect_error(buf, n, ...) \
        expect_error_v(buf, n, (const char *const[]) { __VA_ARGS__, NULL })

/* Builder calls are checked with B(), which also works outside Check (--write-seeds). */
static bool writing_seeds;

static void builder_check(int r, const char *expr, int line) {
        if (r >= 0)
                return;
        if (writing_seeds) {
                fprintf(stderr, "line %d: %s: %s\n", line, expr, strerror(-r));
                exit(EXIT_FAILURE);
        }
        ck_abort_msg("line %d: %s: %s", line, expr, strerror(-r));
}
#define B(expr) builder_check((expr), #expr, __LINE__)

static uint8_t *finish(DmarBuilder *b, size_t *ret_size) {
        uint8_t *buf = NULL;

        B(b ? 0 : -ENOMEM);
        B(dmar_builder_finish(b, &buf, ret_size));
        dmar_builder_free(b);
        return buf;
}

static void check_scope(const DmarScope *sc, uint8_t type, uint8_t enumeration_id,
                        uint8_t start_bus, size_t n_path, const DmarPathEntry *path) {
        ck_assert_uint_eq(sc->type, type);
        ck_assert_uint_eq(sc->enumeration_id, enumeration_id);
        ck_assert_uint_eq(sc->start_bus, start_bus);
        ck_assert_uint_eq(sc->n_path, n_path);
        for (size_t i = 0; i < n_path; i++) {
                ck_assert_uint_eq(sc->path[i].dev, path[i].dev);
                ck_assert_uint_eq(sc->path[i].fn, path[i].fn);
        }
}
#define P(...) ((const DmarPathEntry[]) { __VA_ARGS__ })
#define NP(...) (sizeof(P(__VA_ARGS__)) / sizeof(DmarPathEntry))
#define SCOPE(sc, type, id, bus, ...) \
        check_scope(sc, type, id, bus, NP(__VA_ARGS__), P(__VA_ARGS__))

static json_object *jget(json_object *o, const char *key) {
        json_object *v = NULL;

        ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key \"%s\" in %s", key,
                      json_object_to_json_string(o));
        return v;
}

static void jstr(json_object *o, const char *key, const char *want) {
        json_object *v = jget(o, key);

        ck_assert_msg(json_object_is_type(v, json_type_string), "%s is not a string", key);
        ck_assert_str_eq(json_object_get_string(v), want);
}

static void jint(json_object *o, const char *key, int64_t want) {
        json_object *v = jget(o, key);

        ck_assert_msg(json_object_is_type(v, json_type_int), "%s is not an int", key);
        ck_assert_int_eq(json_object_get_int64(v), want);
}

static void jbool(json_object *o, const char *key, bool want) {
        json_object *v = jget(o, key);

        ck_assert_msg(json_object_is_type(v, json_type_boolean), "%s is not a boolean", key);
        ck_assert_int_eq(json_object_get_boolean(v), want);
}

static json_object *jarray(json_object *o, const char *key, size_t n) {
        json_object *v = jget(o, key);

        ck_assert_msg(json_object_is_type(v, json_type_array), "%s is not an array", key);
        ck_assert_uint_eq(json_object_array_length(v), n);
        return v;
}

static void jscope(json_object *sc, const char *type, int id, int bus, const char *path0) {
        ck_assert_int_eq(json_object_object_length(sc), 4);
        jstr(sc, "type", type);
        jint(sc, "enumeration_id", id);
        jint(sc, "start_bus", bus);
        if (path0) {
                json_object *path = jarray(sc, "path", 1);

                ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(path, 0)), path0);
        } else
                jarray(sc, "path", 0);
}

/* ---- fake topology for scope resolution ---- */

typedef struct FakeBridge {
        PciAddress bridge;
        uint8_t secondary;
} FakeBridge;

static const FakeBridge fake_bridges[] = {
        { { 0, 0x00, 0x1c, 0 }, 0x01 }, /* root port -> bus 1 */
        { { 0, 0x01, 0x00, 0 }, 0x02 }, /* switch upstream port -> bus 2 */
        { { 0, 0x00, 0x1c, 4 }, 0x03 },
        { { 1, 0x80, 0x01, 0 }, 0x81 }, /* segment 1 */
};

static unsigned fake_calls;

static int fake_secondary_bus(void *userdata, const PciAddress *bridge, uint8_t *ret_bus) {
        fake_calls++;
        if (userdata)
                return *(const int *) userdata;
        for (size_t i = 0; i < ELEMENTSOF(fake_bridges); i++)
                if (pci_address_compare(&fake_bridges[i].bridge, bridge) == 0) {
                        *ret_bus = fake_bridges[i].secondary;
                        return 0;
                }
        return -ENOENT;
}

/* ---- seed tables (also written to tests/data/dmar) ---- */

static uint8_t *build_all_types(size_t *ret_size) {
        DmarBuilder *b = dmar_builder_new(47, DMAR_FLAG_INTR_REMAP | DMAR_FLAG_X2APIC_OPT_OUT);
        /* SIDP fixed part after the header: reserved u16, segment u16. */
        static const uint8_t sidp_body[4] = { 0, 0, 0x02, 0x00 };

        B(b ? 0 : -ENOMEM);
        B(dmar_builder_drhd(b, 0, 0, 0xfed90000));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x02, 0 }), 1));
        B(dmar_builder_drhd(b, DMAR_DRHD_FLAG_INCLUDE_PCI_ALL, 0, UINT64_C(0x1fed91000)));
        B(dmar_builder_scope(b, DMAR_SCOPE_IOAPIC, 8, 0xf0, P({ 0x1f, 0 }), 1));
        B(dmar_builder_scope(b, DMAR_SCOPE_HPET, 0, 0x00, P({ 0x1f, 7 }), 1));
        B(dmar_builder_scope(b, DMAR_SCOPE_ACPI, 1, 0x00, P({ 0x15, 0 }), 1));
        B(dmar_builder_rmrr(b, 0, 0x3e2e0000, 0x3e2fffff));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x14, 0 }), 1));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x1c, 0 }, { 0, 0 }), 2));
        B(dmar_builder_atsr(b, DMAR_ATSR_FLAG_ALL_PORTS, 0));
        B(dmar_builder_atsr(b, 0, 1));
        B(dmar_builder_scope(b, DMAR_SCOPE_BRIDGE, 0, 0x80, P({ 0x01, 0 }), 1));
        B(dmar_builder_rhsa(b, UINT64_C(0x1fed91000), 0x10002));
        B(dmar_builder_andd(b, 1, "\\_SB.PC00.I2C0"));
        B(dmar_builder_satc(b, DMAR_SATC_FLAG_ATC_REQUIRED, 0));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x02, 0 }), 1));
        B(dmar_builder_raw(b, DMAR_SIDP, sidp_body, sizeof(sidp_body)));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0x10, P({ 0x00, 3 }), 1));
        return finish(b, ret_size);
}

static uint8_t *build_rmrr_multilevel(size_t *ret_size) {
        DmarBuilder *b = dmar_builder_new(38, DMAR_FLAG_INTR_REMAP);

        B(b ? 0 : -ENOMEM);
        B(dmar_builder_drhd(b, DMAR_DRHD_FLAG_INCLUDE_PCI_ALL, 0, 0xfed90000));
        /* 0000:00:1c.0 -> bus 1, 0000:01:00.0 -> bus 2, device 02:03.1 */
        B(dmar_builder_rmrr(b, 0, 0x7c000000, 0x7c7fffff));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x1c, 0 }, { 0x00, 0 }, { 0x03, 1 }),
                             3));
        B(dmar_builder_scope(b, DMAR_SCOPE_BRIDGE, 0, 0, P({ 0x1c, 4 }), 1));
        /* No such bridge: skipped. */
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x1d, 0 }, { 0x00, 0 }), 2));
        /* IOAPIC scopes never lock a PCI device. */
        B(dmar_builder_scope(b, DMAR_SCOPE_IOAPIC, 2, 0xf0, P({ 0x1f, 0 }), 1));
        B(dmar_builder_rmrr(b, 0, 0x7d000000, 0x7d00ffff));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x14, 0 }), 1));
        /* The same device as in the first RMRR, by the same path: deduplicated. */
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x1c, 0 }, { 0x00, 0 }, { 0x03, 1 }),
                             3));
        return finish(b, ret_size);
}

static uint8_t *build_two_segments(size_t *ret_size) {
        DmarBuilder *b = dmar_builder_new(45, DMAR_FLAG_INTR_REMAP |
                                                      DMAR_FLAG_DMA_CTRL_PLATFORM_OPT_IN);

        B(b ? 0 : -ENOMEM);
        B(dmar_builder_drhd(b, DMAR_DRHD_FLAG_INCLUDE_PCI_ALL, 1, 0xfbffc000));
        B(dmar_builder_drhd(b, DMAR_DRHD_FLAG_INCLUDE_PCI_ALL, 0, 0xfed90000));
        B(dmar_builder_scope(b, DMAR_SCOPE_IOAPIC, 8, 0xf0, P({ 0x1f, 0 }), 1));
        B(dmar_builder_rmrr(b, 1, 0x6f000000, 0x6f0fffff));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0x80, P({ 0x01, 0 }, { 0x00, 1 }), 2));
        B(dmar_builder_rhsa(b, 0xfbffc000, 1));
        B(dmar_builder_rhsa(b, 0xfed90000, 0));
        return finish(b, ret_size);
}

static uint8_t *build_unknown_types(size_t *ret_size) {
        DmarBuilder *b = dmar_builder_new(38, 0);
        static const uint8_t body[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

        B(b ? 0 : -ENOMEM);
        B(dmar_builder_drhd(b, 0, 0, 0xfed90000));
        B(dmar_builder_scope(b, 9, 0, 0, P({ 0x02, 0 }), 1)); /* unknown scope type */
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x03, 0 }), 1));
        B(dmar_builder_raw(b, 9, body, sizeof(body)));
        B(dmar_builder_raw(b, 0x8000, NULL, 0));
        B(dmar_builder_rmrr(b, 0, 0x7c000000, 0x7c00ffff));
        B(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x14, 0 }), 1));
        return finish(b, ret_size);
}

typedef struct Seed {
        const char *name;
        uint8_t *(*build)(size_t *ret_size);
} Seed;

static const Seed seeds[] = {
        { "synthetic-all-types.bin", build_all_types },
        { "synthetic-rmrr-multilevel.bin", build_rmrr_multilevel },
        { "synthetic-two-segments.bin", build_two_segments },
        { "synthetic-unknown-types.bin", build_unknown_types },
};

/* ---- the real QEMU tables ---- */

static void check_qemu(const DmarTable *t, uint8_t flags) {
        const DmarStruct *s;

        /* Values as `iasl -d` prints them for both files. */
        ck_assert_uint_eq(t->revision, 1);
        ck_assert_str_eq(t->oem_id, "BOCHS ");
        ck_assert_str_eq(t->oem_table_id, "BXPC    ");
        ck_assert_uint_eq(t->oem_revision, 1);
        ck_assert_uint_eq(t->host_address_width, 0x26);
        ck_assert_uint_eq(t->host_address_width + 1u, 39);
        ck_assert_uint_eq(t->flags, flags);
        ck_assert_ptr_null(t->notes[0]);

        ck_assert_uint_eq(t->n_structs, 1);
        s = &t->structs[0];
        ck_assert_uint_eq(s->type, DMAR_DRHD);
        ck_assert_uint_eq(s->length, 0x50);
        ck_assert_uint_eq(s->offset, 0x30);
        ck_assert_uint_eq(s->flags, 0);
        ck_assert_uint_eq(s->segment, 0);
        ck_assert_uint_eq(s->register_base, 0xfed90000);
        ck_assert_ptr_eq(dmar_find_drhd(t, 0xfed90000), s);
        ck_assert_ptr_null(dmar_find_drhd(t, 0xfed91000));

        ck_assert_uint_eq(s->n_scopes, 8);
        SCOPE(&s->scopes[0], DMAR_SCOPE_IOAPIC, 0, 0xff, { 0x00, 0 });
        SCOPE(&s->scopes[1], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x00, 0 });
        SCOPE(&s->scopes[2], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x02, 0 });
        SCOPE(&s->scopes[3], DMAR_SCOPE_BRIDGE, 0, 0, { 0x03, 0 });
        SCOPE(&s->scopes[4], DMAR_SCOPE_BRIDGE, 0, 0, { 0x04, 0 });
        SCOPE(&s->scopes[5], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x1f, 0 });
        SCOPE(&s->scopes[6], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x1f, 2 });
        SCOPE(&s->scopes[7], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x1f, 3 });
        for (size_t i = 0; i < s->n_scopes; i++) {
                ck_assert_uint_eq(s->scopes[i].offset, 0x40 + 8 * i);
                ck_assert_uint_eq(s->scopes[i].flags, 0);
        }

        ck_assert_uint_eq(dmar_count(t, DMAR_DRHD), 1);
        ck_assert_uint_eq(dmar_count(t, DMAR_RMRR), 0);
        ck_assert_int_eq(dmar_table_intr_remap(t), flags & DMAR_FLAG_INTR_REMAP);
}

START_TEST(test_qemu_on) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        _cleanup_free_ PciAddress *devs = NULL;
        size_t n, n_devs = 99;

        buf = read_data(QEMU_ON, &n);
        ck_assert_uint_eq(n, 128);
        t = parse_ok(buf, n);
        check_qemu(t, DMAR_FLAG_INTR_REMAP);
        ck_assert(t->checksum_valid);
        ck_assert_uint_eq(t->checksum_sum, 0);

        /* No RMRR in QEMU's table ("DMAR: No RMRR found" in its dmesg). */
        ck_assert_int_eq(dmar_rmrr_devices(t, fake_secondary_bus, NULL, &devs, &n_devs), 0);
        ck_assert_uint_eq(n_devs, 0);
        ck_assert_ptr_null(devs);
}
END_TEST

START_TEST(test_qemu_off) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        size_t n;

        buf = read_data(QEMU_OFF, &n);
        ck_assert_uint_eq(n, 128);
        t = parse_ok(buf, n);
        check_qemu(t, 0);
}
END_TEST

static int ecap_value(void *userdata, uint64_t register_base, uint64_t *ret_ecap) {
        const uint64_t *v = userdata;

        if (register_base != 0xfed90000)
                return -ENODEV;
        if (*v == UINT64_MAX)
                return -EIO;
        *ret_ecap = *v;
        return 0;
}

START_TEST(test_qemu_interrupt_remapping) {
        _cleanup_free_ uint8_t *on = NULL, *off = NULL;
        _cleanup_(dmar_table_freep) DmarTable *ton = NULL, *toff = NULL;
        uint64_t ecap;
        size_t n;

        on = read_data(QEMU_ON, &n);
        ton = parse_ok(on, n);
        off = read_data(QEMU_OFF, &n);
        toff = parse_ok(off, n);

        /* ecap of QEMU's dmar0 from the dmesg excerpt: 0xf00f4a, bit 3 (IR) set. */
        ecap = 0xf00f4a;
        ck_assert_int_eq(dmar_interrupt_remapping(ton, ecap_value, &ecap), 1);
        ck_assert_int_eq(dmar_interrupt_remapping(toff, ecap_value, &ecap), 0);
        ecap = 0xf00f4a & ~DMAR_ECAP_IR;
        ck_assert_int_eq(dmar_interrupt_remapping(ton, ecap_value, &ecap), 0);
        ecap = UINT64_MAX;
        ck_assert_int_eq(dmar_interrupt_remapping(ton, ecap_value, &ecap), -EIO);
        ck_assert_int_eq(dmar_interrupt_remapping(ton, NULL, NULL), -EINVAL);
        ck_assert_int_eq(dmar_interrupt_remapping(NULL, ecap_value, &ecap), -EINVAL);
}
END_TEST

START_TEST(test_qemu_json) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        json_object *j = NULL, *structs, *drhd, *scopes;
        static const struct {
                const char *type, *path;
                int bus;
        } want[8] = {
                { "ioapic", "00.0", 0xff }, { "endpoint", "00.0", 0 }, { "endpoint", "02.0", 0 },
                { "bridge", "03.0", 0 },    { "bridge", "04.0", 0 },   { "endpoint", "1f.0", 0 },
                { "endpoint", "1f.2", 0 },  { "endpoint", "1f.3", 0 },
        };
        size_t n;

        buf = read_data(QEMU_ON, &n);
        t = parse_ok(buf, n);
        ck_assert_int_eq(dmar_to_json(t, &j), 0);
        ck_assert_ptr_nonnull(j);

        ck_assert_int_eq(json_object_object_length(j), 8);
        jint(j, "revision", 1);
        jstr(j, "oem_id", "BOCHS ");
        jstr(j, "oem_table_id", "BXPC    ");
        jint(j, "host_address_width", 39);
        jint(j, "flags", 1);
        jbool(j, "checksum_valid", true);
        jarray(j, "notes", 0);
        structs = jarray(j, "structures", 1);

        drhd = json_object_array_get_idx(structs, 0);
        ck_assert_int_eq(json_object_object_length(drhd), 6);
        jstr(drhd, "type", "DRHD");
        jint(drhd, "flags", 0);
        jbool(drhd, "include_pci_all", false);
        jint(drhd, "segment", 0);
        jstr(drhd, "register_base", "0xfed90000");
        scopes = jarray(drhd, "scopes", 8);
        for (size_t i = 0; i < 8; i++)
                jscope(json_object_array_get_idx(scopes, i), want[i].type, 0, want[i].bus,
                       want[i].path);

        json_object_put(j);
}
END_TEST

/* A wrong checksum (ACPI spec 5.2.6) is recorded, not an error: the kernel warns and uses the
 * table, so it is decoded in full. */
START_TEST(test_qemu_bad_checksum) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        json_object *j = NULL;
        size_t n;

        buf = read_data(QEMU_ON, &n);
        buf[9]++;
        t = parse_ok(buf, n);
        ck_assert(!t->checksum_valid);
        ck_assert_uint_eq(t->checksum_sum, 0x01);
        check_qemu(t, DMAR_FLAG_INTR_REMAP);
        ck_assert_uint_eq(strv_length(t->notes), 0);

        ck_assert_int_eq(dmar_to_json(t, &j), 0);
        jbool(j, "checksum_valid", false);
        jarray(j, "structures", 1);
        json_object_put(j);
}
END_TEST

START_TEST(test_qemu_truncated) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;

        buf = read_data(QEMU_ON, &n);
        /* Every prefix is an error (never a crash): the header length no longer matches. Each
         * prefix is copied to its own allocation so ASan/valgrind catch any read past it. */
        for (size_t len = 0; len < n; len++) {
                _cleanup_free_ uint8_t *copy = malloc(len ? len : 1);
                DmarTable sentinel, *t = &sentinel;
                _cleanup_free_ char *error = NULL;

                ck_assert_ptr_nonnull(copy);
                memcpy(copy, buf, len);
                ck_assert_int_eq(dmar_parse(copy, len, &t, &error), -EBADMSG);
                ck_assert_ptr_eq(t, &sentinel);
                ck_assert_ptr_nonnull(error);
                if (len < 36)
                        ck_assert_ptr_nonnull(strstr(error, "shorter than the ACPI table header"));
                else
                        ck_assert_ptr_nonnull(strstr(error,
                                                     "header length (offset 0x4) is 128 bytes"));
        }
}
END_TEST

/* Truncating the table and fixing up its length reaches the structure checks, whether the
 * checksum is fixed up too (odd lengths) or not: a truncated structure is an error, a bad
 * checksum is not. */
START_TEST(test_qemu_truncated_fixed_up) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;

        buf = read_data(QEMU_ON, &n);
        for (size_t len = 48; len < n; len++) {
                _cleanup_free_ uint8_t *copy = malloc(len);
                DmarTable *t = NULL;
                _cleanup_free_ char *error = NULL;
                int r;

                ck_assert_ptr_nonnull(copy);
                memcpy(copy, buf, len);
                put32(copy + 4, (uint32_t) len);
                if (len % 2)
                        fix_checksum(copy, len);
                r = dmar_parse(copy, len, &t, &error);
                if (len == 48) {
                        /* A header and nothing else is a valid (if useless) table. */
                        ck_assert_int_eq(r, 0);
                        ck_assert_uint_eq(t->n_structs, 0);
                        ck_assert_int_eq(dmar_table_intr_remap(t), false);
                        dmar_table_free(t);
                        continue;
                }
                ck_assert_int_eq(r, -EBADMSG);
                ck_assert_ptr_nonnull(error);
                if (len < 52)
                        ck_assert_msg(strstr(error, "structure 0 at offset 0x30: only") &&
                                              strstr(error, "shorter than a structure header"),
                                      "%s", error);
                else
                        ck_assert_msg(strstr(error, "structure 0 (DRHD) at offset 0x30: length 80 "
                                                    "runs past the end"),
                                      "%s", error);
        }
}
END_TEST

/* ---- synthetic tables ---- */

START_TEST(test_roundtrip_all_types) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        const DmarStruct *s;
        size_t n;

        buf = build_all_types(&n);
        t = parse_ok(buf, n);
        ck_assert_uint_eq(t->revision, 1);
        ck_assert_str_eq(t->oem_id, "VFIOAS");
        ck_assert_str_eq(t->oem_table_id, "DMARTEST");
        ck_assert_uint_eq(t->host_address_width, 47);
        ck_assert_uint_eq(t->flags, DMAR_FLAG_INTR_REMAP | DMAR_FLAG_X2APIC_OPT_OUT);
        ck_assert_ptr_null(t->notes[0]);
        ck_assert_uint_eq(t->n_structs, 9);

        s = &t->structs[0];
        ck_assert_uint_eq(s->type, DMAR_DRHD);
        ck_assert_uint_eq(s->offset, 48);
        ck_assert_uint_eq(s->length, 16 + 8);
        ck_assert_uint_eq(s->flags, 0);
        ck_assert_uint_eq(s->register_base, 0xfed90000);
        ck_assert_uint_eq(s->n_scopes, 1);
        SCOPE(&s->scopes[0], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x02, 0 });

        s = &t->structs[1];
        ck_assert_uint_eq(s->type, DMAR_DRHD);
        ck_assert_uint_eq(s->offset, 48 + 24);
        ck_assert_uint_eq(s->length, 16 + 3 * 8);
        ck_assert_uint_eq(s->flags, DMAR_DRHD_FLAG_INCLUDE_PCI_ALL);
        ck_assert_uint_eq(s->register_base, UINT64_C(0x1fed91000));
        ck_assert_uint_eq(s->n_scopes, 3);
        SCOPE(&s->scopes[0], DMAR_SCOPE_IOAPIC, 8, 0xf0, { 0x1f, 0 });
        SCOPE(&s->scopes[1], DMAR_SCOPE_HPET, 0, 0, { 0x1f, 7 });
        SCOPE(&s->scopes[2], DMAR_SCOPE_ACPI, 1, 0, { 0x15, 0 });

        s = &t->structs[2];
        ck_assert_uint_eq(s->type, DMAR_RMRR);
        ck_assert_uint_eq(s->length, 24 + 8 + 10);
        ck_assert_uint_eq(s->segment, 0);
        ck_assert_uint_eq(s->base, 0x3e2e0000);
        ck_assert_uint_eq(s->limit, 0x3e2fffff);
        ck_assert_uint_eq(s->n_scopes, 2);
        SCOPE(&s->scopes[0], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x14, 0 });
        SCOPE(&s->scopes[1], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x1c, 0 }, { 0x00, 0 });

        s = &t->structs[3];
        ck_assert_uint_eq(s->type, DMAR_ATSR);
        ck_assert_uint_eq(s->length, 8);
        ck_assert_uint_eq(s->flags, DMAR_ATSR_FLAG_ALL_PORTS);
        ck_assert_uint_eq(s->n_scopes, 0);
        ck_assert_ptr_null(s->scopes);

        s = &t->structs[4];
        ck_assert_uint_eq(s->type, DMAR_ATSR);
        ck_assert_uint_eq(s->flags, 0);
        ck_assert_uint_eq(s->segment, 1);
        ck_assert_uint_eq(s->n_scopes, 1);
        SCOPE(&s->scopes[0], DMAR_SCOPE_BRIDGE, 0, 0x80, { 0x01, 0 });

        s = &t->structs[5];
        ck_assert_uint_eq(s->type, DMAR_RHSA);
        ck_assert_uint_eq(s->length, 20);
        ck_assert_uint_eq(s->register_base, UINT64_C(0x1fed91000));
        ck_assert_uint_eq(s->proximity_domain, 0x10002);
        ck_assert_uint_eq(s->n_scopes, 0);

        s = &t->structs[6];
        ck_assert_uint_eq(s->type, DMAR_ANDD);
        ck_assert_uint_eq(s->length, 8 + strlen("\\_SB.PC00.I2C0") + 1);
        ck_assert_uint_eq(s->acpi_device_number, 1);
        ck_assert_str_eq(s->object_name, "\\_SB.PC00.I2C0");

        s = &t->structs[7];
        ck_assert_uint_eq(s->type, DMAR_SATC);
        ck_assert_uint_eq(s->flags, DMAR_SATC_FLAG_ATC_REQUIRED);
        ck_assert_uint_eq(s->n_scopes, 1);
        SCOPE(&s->scopes[0], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x02, 0 });

        s = &t->structs[8];
        ck_assert_uint_eq(s->type, DMAR_SIDP);
        ck_assert_uint_eq(s->segment, 2);
        ck_assert_uint_eq(s->n_scopes, 1);
        SCOPE(&s->scopes[0], DMAR_SCOPE_ENDPOINT, 0, 0x10, { 0x00, 3 });
        ck_assert_uint_eq(s->offset + s->length, n);

        ck_assert_uint_eq(dmar_count(t, DMAR_DRHD), 2);
        ck_assert_uint_eq(dmar_count(t, DMAR_ATSR), 2);
        ck_assert_uint_eq(dmar_count(t, DMAR_SIDP), 1);
        ck_assert_ptr_eq(dmar_find_drhd(t, UINT64_C(0x1fed91000)), &t->structs[1]);
        ck_assert_int_eq(dmar_table_intr_remap(t), true);
}
END_TEST

START_TEST(test_json_all_types) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        json_object *j = NULL, *st, *o;
        size_t n;

        buf = build_all_types(&n);
        t = parse_ok(buf, n);
        ck_assert_int_eq(dmar_to_json(t, &j), 0);

        jint(j, "host_address_width", 48);
        jint(j, "flags", 3);
        jstr(j, "oem_id", "VFIOAS");
        st = jarray(j, "structures", 9);

        o = json_object_array_get_idx(st, 1);
        ck_assert_int_eq(json_object_object_length(o), 6);
        jstr(o, "type", "DRHD");
        jint(o, "flags", 1);
        jbool(o, "include_pci_all", true);
        jstr(o, "register_base", "0x1fed91000");
        jscope(json_object_array_get_idx(jarray(o, "scopes", 3), 0), "ioapic", 8, 0xf0, "1f.0");
        jscope(json_object_array_get_idx(jarray(o, "scopes", 3), 1), "hpet", 0, 0, "1f.7");
        jscope(json_object_array_get_idx(jarray(o, "scopes", 3), 2), "acpi", 1, 0, "15.0");

        o = json_object_array_get_idx(st, 2);
        ck_assert_int_eq(json_object_object_length(o), 5);
        jstr(o, "type", "RMRR");
        jint(o, "segment", 0);
        jstr(o, "base", "0x3e2e0000");
        jstr(o, "limit", "0x3e2fffff");
        {
                json_object *sc = json_object_array_get_idx(jarray(o, "scopes", 2), 1);
                json_object *path = jarray(sc, "path", 2);

                ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(path, 0)),
                                 "1c.0");
                ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(path, 1)),
                                 "00.0");
        }

        o = json_object_array_get_idx(st, 3);
        ck_assert_int_eq(json_object_object_length(o), 5);
        jstr(o, "type", "ATSR");
        jint(o, "flags", 1);
        jbool(o, "all_ports", true);
        jint(o, "segment", 0);
        jarray(o, "scopes", 0);
        o = json_object_array_get_idx(st, 4);
        jbool(o, "all_ports", false);
        jint(o, "segment", 1);
        jscope(json_object_array_get_idx(jarray(o, "scopes", 1), 0), "bridge", 0, 0x80, "01.0");

        o = json_object_array_get_idx(st, 5);
        ck_assert_int_eq(json_object_object_length(o), 4);
        jstr(o, "type", "RHSA");
        jstr(o, "register_base", "0x1fed91000");
        jint(o, "proximity_domain", 0x10002);
        jarray(o, "scopes", 0);

        o = json_object_array_get_idx(st, 6);
        ck_assert_int_eq(json_object_object_length(o), 4);
        jstr(o, "type", "ANDD");
        jint(o, "acpi_device_number", 1);
        jstr(o, "object_name", "\\_SB.PC00.I2C0");

        o = json_object_array_get_idx(st, 7);
        ck_assert_int_eq(json_object_object_length(o), 4);
        jstr(o, "type", "SATC");
        jint(o, "flags", 1);
        jint(o, "segment", 0);
        jscope(json_object_array_get_idx(jarray(o, "scopes", 1), 0), "endpoint", 0, 0, "02.0");

        o = json_object_array_get_idx(st, 8);
        ck_assert_int_eq(json_object_object_length(o), 3);
        jstr(o, "type", "SIDP");
        jint(o, "segment", 2);
        jscope(json_object_array_get_idx(jarray(o, "scopes", 1), 0), "endpoint", 0, 0x10, "00.3");

        json_object_put(j);
}
END_TEST

START_TEST(test_json_error_and_args) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        json_object *j = NULL, *sentinel = (json_object *) &j;
        size_t n;

        ck_assert_int_eq(dmar_error_to_json("structure 0 (DRHD) at offset 0x30: length 0", &j), 0);
        ck_assert_int_eq(json_object_object_length(j), 1);
        jstr(j, "error", "structure 0 (DRHD) at offset 0x30: length 0");
        json_object_put(j);

        j = sentinel;
        ck_assert_int_eq(dmar_error_to_json(NULL, &j), -EINVAL);
        ck_assert_ptr_eq(j, sentinel);
        ck_assert_int_eq(dmar_to_json(NULL, &j), -EINVAL);
        ck_assert_ptr_eq(j, sentinel);

        /* A table a caller built by hand with a type the JSON form cannot name. */
        buf = build_all_types(&n);
        t = parse_ok(buf, n);
        t->structs[0].type = 42;
        ck_assert_int_eq(dmar_to_json(t, &j), -EINVAL);
        ck_assert_ptr_eq(j, sentinel);
        t->structs[0].type = DMAR_DRHD;
        t->structs[0].scopes[0].type = 0;
        ck_assert_int_eq(dmar_to_json(t, &j), -EINVAL);
        ck_assert_ptr_eq(j, sentinel);
}
END_TEST

START_TEST(test_names) {
        ck_assert_str_eq(dmar_type_to_string(DMAR_DRHD), "DRHD");
        ck_assert_str_eq(dmar_type_to_string(DMAR_RMRR), "RMRR");
        ck_assert_str_eq(dmar_type_to_string(DMAR_ATSR), "ATSR");
        ck_assert_str_eq(dmar_type_to_string(DMAR_RHSA), "RHSA");
        ck_assert_str_eq(dmar_type_to_string(DMAR_ANDD), "ANDD");
        ck_assert_str_eq(dmar_type_to_string(DMAR_SATC), "SATC");
        ck_assert_str_eq(dmar_type_to_string(DMAR_SIDP), "SIDP");
        ck_assert_ptr_null(dmar_type_to_string(7));
        ck_assert_ptr_null(dmar_type_to_string(0xffff));
        ck_assert_ptr_null(dmar_scope_type_to_string(0));
        ck_assert_str_eq(dmar_scope_type_to_string(DMAR_SCOPE_ENDPOINT), "endpoint");
        ck_assert_str_eq(dmar_scope_type_to_string(DMAR_SCOPE_BRIDGE), "bridge");
        ck_assert_str_eq(dmar_scope_type_to_string(DMAR_SCOPE_IOAPIC), "ioapic");
        ck_assert_str_eq(dmar_scope_type_to_string(DMAR_SCOPE_HPET), "hpet");
        ck_assert_str_eq(dmar_scope_type_to_string(DMAR_SCOPE_ACPI), "acpi");
        ck_assert_ptr_null(dmar_scope_type_to_string(6));
        ck_assert_ptr_null(dmar_scope_type_to_string(0xff));
}
END_TEST

START_TEST(test_rmrr_multilevel) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        _cleanup_free_ PciAddress *devs = NULL;
        _cleanup_free_ DmarRmrrLock *locks = NULL;
        char s[PCI_ADDRESS_STRLEN];
        const DmarScope *sc;
        size_t n, n_devs, n_locks;
        PciAddress a, untouched = { 0xabcd, 1, 2, 3 };
        int err;

        buf = build_rmrr_multilevel(&n);
        t = parse_ok(buf, n);
        ck_assert_uint_eq(dmar_count(t, DMAR_RMRR), 2);

        /* Three-entry path: 00:1c.0 (-> bus 1), 01:00.0 (-> bus 2), then device 03.1 on bus 2. */
        sc = &t->structs[1].scopes[0];
        fake_calls = 0;
        ck_assert_int_eq(dmar_scope_resolve(sc, 0, fake_secondary_bus, NULL, &a), 0);
        ck_assert_str_eq(pci_address_format(&a, s), "0000:02:03.1");
        ck_assert_uint_eq(fake_calls, 2);

        /* The same path on segment 1 names bridges that do not exist there. */
        a = untouched;
        ck_assert_int_eq(dmar_scope_resolve(sc, 1, fake_secondary_bus, NULL, &a), -ENODEV);
        ck_assert_int_eq(pci_address_compare(&a, &untouched), 0);
        /* Unknown intermediate bridge. */
        sc = &t->structs[1].scopes[2];
        ck_assert_int_eq(dmar_scope_resolve(sc, 0, fake_secondary_bus, NULL, &a), -ENODEV);
        ck_assert_int_eq(pci_address_compare(&a, &untouched), 0);
        /* A one-entry path needs no callback. */
        ck_assert_int_eq(dmar_scope_resolve(&t->structs[1].scopes[1], 0, NULL, NULL, &a), 0);
        ck_assert_str_eq(pci_address_format(&a, s), "0000:00:1c.4");
        /* Other callback errors are passed on. */
        sc = &t->structs[1].scopes[0];
        err = -EIO;
        ck_assert_int_eq(dmar_scope_resolve(sc, 0, fake_secondary_bus, &err, &a), -EIO);
        ck_assert_int_eq(dmar_scope_resolve(sc, 0, NULL, NULL, &a), -EINVAL);

        ck_assert_int_eq(dmar_rmrr_devices(t, fake_secondary_bus, NULL, &devs, &n_devs), 0);
        ck_assert_uint_eq(n_devs, 3);
        ck_assert_str_eq(pci_address_format(&devs[0], s), "0000:00:14.0");
        ck_assert_str_eq(pci_address_format(&devs[1], s), "0000:00:1c.4");
        ck_assert_str_eq(pci_address_format(&devs[2], s), "0000:02:03.1");

        ck_assert_int_eq(dmar_rmrr_locks(t, fake_secondary_bus, NULL, &locks, &n_locks), 0);
        ck_assert_uint_eq(n_locks, 4);
        ck_assert_str_eq(pci_address_format(&locks[0].address, s), "0000:02:03.1");
        ck_assert_int_eq(locks[0].subtree, false);
        ck_assert_uint_eq(locks[0].base, 0x7c000000);
        ck_assert_uint_eq(locks[0].limit, 0x7c7fffff);
        ck_assert_uint_eq(locks[0].rmrr_index, 1);
        ck_assert_str_eq(pci_address_format(&locks[1].address, s), "0000:00:1c.4");
        ck_assert_int_eq(locks[1].subtree, true);
        ck_assert_str_eq(pci_address_format(&locks[2].address, s), "0000:00:14.0");
        ck_assert_uint_eq(locks[2].rmrr_index, 2);
        ck_assert_uint_eq(locks[2].base, 0x7d000000);
        ck_assert_str_eq(pci_address_format(&locks[3].address, s), "0000:02:03.1");

        /* Callback failures other than "no such bridge" abort the whole walk. */
        free(devs);
        devs = NULL;
        n_devs = 77;
        ck_assert_int_eq(dmar_rmrr_devices(t, fake_secondary_bus, &err, &devs, &n_devs), -EIO);
        ck_assert_ptr_null(devs);
        ck_assert_uint_eq(n_devs, 77);
}
END_TEST

START_TEST(test_scope_resolve_invalid) {
        DmarPathEntry bad_dev[] = { { 0x20, 0 } }, bad_fn[] = { { 0x1f, 8 } };
        DmarScope empty = { .type = DMAR_SCOPE_ENDPOINT };
        DmarScope sc = { .type = DMAR_SCOPE_ENDPOINT, .n_path = 1 };
        PciAddress a;

        ck_assert_int_eq(dmar_scope_resolve(&empty, 0, fake_secondary_bus, NULL, &a), -EINVAL);
        sc.path = bad_dev;
        ck_assert_int_eq(dmar_scope_resolve(&sc, 0, fake_secondary_bus, NULL, &a), -EINVAL);
        sc.path = bad_fn;
        ck_assert_int_eq(dmar_scope_resolve(&sc, 0, fake_secondary_bus, NULL, &a), -EINVAL);
        ck_assert_int_eq(dmar_scope_resolve(NULL, 0, fake_secondary_bus, NULL, &a), -EINVAL);
}
END_TEST

START_TEST(test_two_segments) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        _cleanup_free_ PciAddress *devs = NULL;
        char s[PCI_ADDRESS_STRLEN];
        size_t n, n_devs;

        buf = build_two_segments(&n);
        t = parse_ok(buf, n);
        ck_assert_uint_eq(t->n_structs, 5);
        ck_assert_uint_eq(t->flags, DMAR_FLAG_INTR_REMAP | DMAR_FLAG_DMA_CTRL_PLATFORM_OPT_IN);
        ck_assert_uint_eq(t->structs[0].segment, 1);
        ck_assert_uint_eq(t->structs[2].segment, 1);
        ck_assert_int_eq(dmar_rmrr_devices(t, fake_secondary_bus, NULL, &devs, &n_devs), 0);
        ck_assert_uint_eq(n_devs, 1);
        ck_assert_str_eq(pci_address_format(&devs[0], s), "0001:81:00.1");
}
END_TEST

START_TEST(test_unknown_types) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        json_object *j = NULL, *notes;
        size_t n;

        buf = build_unknown_types(&n);
        t = parse_ok(buf, n);
        /* DRHD at 0x30 (16 + 2 scopes = 32), type 9 at 0x50 (12), type 0x8000 at 0x5c (4), RMRR at 0x60. */
        ck_assert_uint_eq(t->n_structs, 2);
        ck_assert_uint_eq(t->structs[0].type, DMAR_DRHD);
        ck_assert_uint_eq(t->structs[0].n_scopes, 1);
        SCOPE(&t->structs[0].scopes[0], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x03, 0 });
        ck_assert_uint_eq(t->structs[0].scopes[0].offset, 0x48);
        ck_assert_uint_eq(t->structs[1].type, DMAR_RMRR);
        ck_assert_uint_eq(t->structs[1].offset, 0x60);
        ck_assert_uint_eq(t->structs[1].base, 0x7c000000);
        SCOPE(&t->structs[1].scopes[0], DMAR_SCOPE_ENDPOINT, 0, 0, { 0x14, 0 });

        ck_assert_uint_eq(strv_length(t->notes), 3);
        ck_assert_str_eq(t->notes[0], "skipped device scope of unknown type 9 at offset 0x40");
        ck_assert_str_eq(t->notes[1], "skipped structure of unknown type 9 at offset 0x50");
        ck_assert_str_eq(t->notes[2], "skipped structure of unknown type 32768 at offset 0x5c");

        ck_assert_int_eq(dmar_to_json(t, &j), 0);
        notes = jarray(j, "notes", 3);
        ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(notes, 1)),
                         "skipped structure of unknown type 9 at offset 0x50");
        jarray(j, "structures", 2);
        json_object_put(j);
}
END_TEST

START_TEST(test_notes_capped) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        DmarBuilder *b = dmar_builder_new(38, 0);
        size_t n;

        ck_assert_ptr_nonnull(b);
        for (unsigned i = 0; i < DMAR_NOTES_MAX + 36; i++)
                ck_assert_int_eq(dmar_builder_raw(b, 100, NULL, 0), 0);
        ck_assert_int_eq(dmar_builder_drhd(b, 1, 0, 0xfed90000), 0);
        buf = finish(b, &n);
        t = parse_ok(buf, n);
        ck_assert_uint_eq(t->n_structs, 1);
        ck_assert_uint_eq(strv_length(t->notes), DMAR_NOTES_MAX + 1);
        ck_assert_str_eq(t->notes[DMAR_NOTES_MAX], "36 more notes not shown");
}
END_TEST

START_TEST(test_rmrr_notes) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        DmarBuilder *b = dmar_builder_new(38, 0);
        size_t n;

        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x2000, 0x1fff), 0);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x2800, 0x2fff), 0);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x2000, 0x2fff), 0);
        buf = finish(b, &n);
        t = parse_ok(buf, n);
        ck_assert_uint_eq(t->n_structs, 3);
        ck_assert_uint_eq(strv_length(t->notes), 2);
        ck_assert_str_eq(t->notes[0], "RMRR at offset 0x30: limit 0x1fff is below base 0x2000");
        ck_assert_str_eq(t->notes[1],
                         "RMRR at offset 0x48: region 0x2800-0x2fff is not 4 KiB aligned");
}
END_TEST

/* ---- malformed tables ---- */

START_TEST(test_bad_signature) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;

        buf = read_data(QEMU_ON, &n);
        memcpy(buf, "APIC", 4);
        fix_checksum(buf, n);
        expect_error(buf, n, "signature at offset 0x0 is \"APIC\", not \"DMAR\"");
        memcpy(buf, "D\x01\xff", 3);
        expect_error(buf, n, "signature at offset 0x0 is \"D??C\"");
}
END_TEST

START_TEST(test_header_length) {
        _cleanup_free_ uint8_t *buf = NULL, *big = NULL;
        size_t n;

        buf = read_data(QEMU_ON, &n);
        put32(buf + 4, 129);
        fix_checksum(buf, n);
        expect_error(buf, n, "header length (offset 0x4) is 129 bytes but the table is 128 bytes");
        put32(buf + 4, 120);
        fix_checksum(buf, n);
        expect_error(buf, n, "header length (offset 0x4) is 120 bytes but the table is 128 bytes");
        put32(buf + 4, UINT32_MAX);
        fix_checksum(buf, n);
        expect_error(buf, n, "is 4294967295 bytes but the table is 128 bytes");

        /* Consistent, but too short for the DMAR fields. */
        put32(buf + 4, 40);
        fix_checksum(buf, 40);
        expect_error(buf, 40,
                     "header length (offset 0x4) 40 is shorter than the DMAR header (48 "
                     "bytes)");

        /* Over the size limit: refused before anything is read. */
        big = calloc(1, DMAR_SIZE_MAX + 1);
        ck_assert_ptr_nonnull(big);
        {
                DmarTable sentinel, *t = &sentinel;
                _cleanup_free_ char *error = NULL;

                ck_assert_int_eq(dmar_parse(big, DMAR_SIZE_MAX + 1, &t, &error), -EFBIG);
                ck_assert_ptr_eq(t, &sentinel);
                ck_assert_ptr_nonnull(strstr(error, "larger than the limit"));
                ck_assert_int_eq(dmar_parse(NULL, 1, &t, NULL), -EINVAL);
                ck_assert_int_eq(dmar_parse(buf, n, NULL, NULL), -EINVAL);
                ck_assert_ptr_eq(t, &sentinel);
        }
}
END_TEST

/* A table whose structure area is given byte for byte (length and checksum fixed up). */
static uint8_t *raw_table(const uint8_t *body, size_t body_len, size_t *ret_size) {
        _cleanup_free_ uint8_t *head = NULL;
        DmarBuilder *b = dmar_builder_new(38, 1);
        uint8_t *buf;
        size_t n;

        ck_assert_ptr_nonnull(b);
        head = finish(b, &n);
        ck_assert_uint_eq(n, 48);
        buf = malloc(48 + body_len);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, head, 48);
        memcpy(buf + 48, body, body_len);
        put32(buf + 4, (uint32_t) (48 + body_len));
        fix_checksum(buf, 48 + body_len);
        *ret_size = 48 + body_len;
        return buf;
}

START_TEST(test_structure_lengths) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;
        /* DRHD, then an RMRR with length 0. */
        static const uint8_t zero[] = {
                0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0xd9, 0xfe, 0, 0, 0, 0, 1, 0, 0, 0,
        };
        static const uint8_t two[] = { 1, 0, 2, 0 };
        static const uint8_t past[24] = { 1, 0, 40, 0 }; /* RMRR, 24 bytes present */
        static const uint8_t tail[22] = {
                3, 0, 20, 0, [20] = 0x42, 0x42
        }; /* RHSA + 2 stray bytes */
        static const uint8_t unknown_past[] = { 9, 0, 8, 0, 0 };

        buf = raw_table(zero, sizeof(zero), &n);
        expect_error(buf, n,
                     "structure 1 (RMRR) at offset 0x40: length 0 is shorter than a "
                     "structure header (4 bytes)");
        free(buf);
        buf = raw_table(two, sizeof(two), &n);
        expect_error(buf, n,
                     "structure 0 (RMRR) at offset 0x30: length 2 is shorter than a "
                     "structure header");
        free(buf);
        buf = raw_table(past, sizeof(past), &n);
        expect_error(buf, n,
                     "structure 0 (RMRR) at offset 0x30: length 40 runs past the end of "
                     "the table (24 bytes left)");
        free(buf);
        buf = raw_table(tail, sizeof(tail), &n);
        expect_error(buf, n,
                     "structure 1 at offset 0x44: only 2 bytes left in the table, shorter "
                     "than a structure header");
        free(buf);
        /* Unknown types are skipped, but only once their length has been checked. */
        buf = raw_table(unknown_past, sizeof(unknown_past), &n);
        expect_error(buf, n,
                     "structure 0 (type 9) at offset 0x30: length 8 runs past the end of "
                     "the table (5 bytes left)");
}
END_TEST

START_TEST(test_fixed_part_too_short) {
        _cleanup_free_ uint8_t *buf = NULL;
        DmarBuilder *b = dmar_builder_new(38, 1);
        static const uint8_t rmrr_short[8] = { 0 };
        size_t n;

        /* Two 32-byte DRHDs put structure 2 at 0x70, as in the API's example message. */
        ck_assert_ptr_nonnull(b);
        for (unsigned i = 0; i < 2; i++) {
                ck_assert_int_eq(dmar_builder_drhd(b, 0, 0, 0xfed90000 + 0x1000 * i), 0);
                ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 2, 0 }), 1),
                                 0);
                ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 3, 0 }), 1),
                                 0);
        }
        ck_assert_int_eq(dmar_builder_raw(b, DMAR_RMRR, rmrr_short, sizeof(rmrr_short)), 0);
        buf = finish(b, &n);
        {
                DmarTable *t = NULL;
                _cleanup_free_ char *error = NULL;

                ck_assert_int_eq(dmar_parse(buf, n, &t, &error), -EBADMSG);
                ck_assert_str_eq(error,
                                 "structure 2 (RMRR) at offset 0x70: length 12 is shorter than its "
                                 "fixed part (24 bytes)");
        }

        /* Every known type, one byte short of its fixed part. */
        static const struct {
                uint16_t type;
                size_t fixed;
                const char *name;
        } types[] = {
                { DMAR_DRHD, 16, "DRHD" }, { DMAR_RMRR, 24, "RMRR" }, { DMAR_ATSR, 8, "ATSR" },
                { DMAR_RHSA, 20, "RHSA" }, { DMAR_ANDD, 8, "ANDD" },  { DMAR_SATC, 8, "SATC" },
                { DMAR_SIDP, 8, "SIDP" },
        };
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                static const uint8_t zeros[32] = { 0 };
                _cleanup_free_ uint8_t *t_buf = NULL;
                char want[128];

                b = dmar_builder_new(38, 1);
                ck_assert_ptr_nonnull(b);
                ck_assert_int_eq(dmar_builder_raw(b, types[i].type, zeros, types[i].fixed - 5), 0);
                t_buf = finish(b, &n);
                snprintf(want, sizeof(want),
                         "structure 0 (%s) at offset 0x30: length %zu is "
                         "shorter than its fixed part (%zu bytes)",
                         types[i].name, types[i].fixed - 1, types[i].fixed);
                expect_error(t_buf, n, want);
        }
}
END_TEST

/* Builds a DRHD with one endpoint scope (path 02.0) and returns the table; the scope is at 0x40. */
static uint8_t *drhd_with_scope(size_t *ret_size) {
        DmarBuilder *b = dmar_builder_new(38, 1);

        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(dmar_builder_drhd(b, 0, 0, 0xfed90000), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 2, 0 }), 1), 0);
        return finish(b, ret_size);
}

START_TEST(test_scope_lengths) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;

        buf = drhd_with_scope(&n);
        ck_assert_uint_eq(n, 0x48);

        buf[0x41] = 10;
        fix_checksum(buf, n);
        expect_error(buf, n,
                     "structure 0 (DRHD) at offset 0x30: device scope 0 at offset 0x40: length 10 "
                     "runs past the end of its structure (8 bytes left)");
        buf[0x41] = 4;
        fix_checksum(buf, n);
        expect_error(buf, n,
                     "structure 0 (DRHD) at offset 0x30: device scope 0 at offset 0x40: "
                     "length 4 is shorter than a device scope (6 bytes)");
        buf[0x41] = 0;
        fix_checksum(buf, n);
        expect_error(buf, n, "device scope 0 at offset 0x40: length 0 is shorter");
        buf[0x41] = 7;
        fix_checksum(buf, n);
        expect_error(buf, n,
                     "structure 0 (DRHD) at offset 0x30: device scope 0 at offset 0x40: "
                     "length 7 leaves an odd number of path bytes (1)");

        /* A scope of length 6 followed by 2 stray bytes. */
        buf[0x41] = 6;
        fix_checksum(buf, n);
        expect_error(buf, n,
                     "device scope 1 at offset 0x46: only 2 bytes left in the structure, "
                     "shorter than a device scope (6 bytes)");

        /* Structure length 20: the scope runs past its structure even though the table has room. */
        buf[0x41] = 8;
        put16(buf + 0x32, 20);
        put32(buf + 4, (uint32_t) n);
        fix_checksum(buf, n);
        expect_error(buf, n, "device scope 0 at offset 0x40: only 4 bytes left in the structure");
}
END_TEST

START_TEST(test_scope_empty_path) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        _cleanup_free_ PciAddress *devs = NULL;
        DmarBuilder *b = dmar_builder_new(38, 1);
        size_t n, n_devs;

        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0x1000, 0x1fff), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, NULL, 0), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, P({ 0x40, 0 }), 1), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 5, P({ 0x1f, 7 }), 1), 0);
        buf = finish(b, &n);
        t = parse_ok(buf, n);
        ck_assert_uint_eq(t->structs[0].n_scopes, 3);
        ck_assert_uint_eq(t->structs[0].scopes[0].n_path, 0);
        ck_assert_ptr_null(t->structs[0].scopes[0].path);
        /* Scopes that cannot name a device are skipped. */
        ck_assert_int_eq(dmar_rmrr_devices(t, fake_secondary_bus, NULL, &devs, &n_devs), 0);
        ck_assert_uint_eq(n_devs, 1);
        ck_assert_uint_eq(devs[0].bus, 5);
        ck_assert_uint_eq(devs[0].dev, 0x1f);
        ck_assert_uint_eq(devs[0].fn, 7);
}
END_TEST

START_TEST(test_andd_names) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;
        /* ANDD: header, 3 reserved, device number, then the name. */
        static const uint8_t unterminated[] = { 4, 0, 11, 0, 0, 0, 0, 1, 'A', 'B', 'C' };
        static const uint8_t empty[] = { 4, 0, 8, 0, 0, 0, 0, 1 };
        static const uint8_t ctrl[] = { 4, 0, 12, 0, 0, 0, 0, 1, 'A', '\n', 'C', 0 };
        static const uint8_t padded[] = { 4, 0, 16, 0, 0, 0, 0, 7, 'X', 0, 0, 0, 0, 0, 0, 0 };

        buf = raw_table(unterminated, sizeof(unterminated), &n);
        expect_error(buf, n,
                     "structure 0 (ANDD) at offset 0x30: ACPI object name at offset 0x38 "
                     "is not NUL-terminated");
        free(buf);
        buf = raw_table(empty, sizeof(empty), &n);
        expect_error(buf, n,
                     "structure 0 (ANDD) at offset 0x30: ACPI object name at offset 0x38 "
                     "is not NUL-terminated");
        free(buf);
        buf = raw_table(ctrl, sizeof(ctrl), &n);
        expect_error(buf, n,
                     "structure 0 (ANDD) at offset 0x30: ACPI object name has a "
                     "non-printable byte 0x0a at offset 0x39");
        free(buf);
        buf = raw_table(padded, sizeof(padded), &n);
        {
                _cleanup_(dmar_table_freep) DmarTable *t = parse_ok(buf, n);

                ck_assert_uint_eq(t->n_structs, 1);
                ck_assert_uint_eq(t->structs[0].acpi_device_number, 7);
                ck_assert_str_eq(t->structs[0].object_name, "X");
        }
}
END_TEST

START_TEST(test_oem_ids_sanitized) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_(dmar_table_freep) DmarTable *t = NULL;
        size_t n;

        buf = read_data(QEMU_ON, &n);
        memcpy(buf + 10,
               "AB\x80"
               "D\0F",
               6);
        memcpy(buf + 16, "12345678", 8);
        fix_checksum(buf, n);
        t = parse_ok(buf, n);
        ck_assert_str_eq(t->oem_id, "AB?D");
        ck_assert_str_eq(t->oem_table_id, "12345678");
}
END_TEST

/* Deterministic mutations of a valid table (checksum fixed so that only the mutation is wrong):
 * the result is either a table that converts to JSON or -EBADMSG with a message. */
START_TEST(test_mutations) {
        _cleanup_free_ uint8_t *orig = NULL;
        uint32_t rng = 0x12345678;
        size_t n;

        orig = build_all_types(&n);
        for (unsigned iter = 0; iter < 20000; iter++) {
                _cleanup_free_ uint8_t *buf = malloc(n);
                _cleanup_free_ char *error = NULL;
                DmarTable *t = NULL;
                size_t len = n;
                int r;

                ck_assert_ptr_nonnull(buf);
                memcpy(buf, orig, n);
                for (unsigned k = 0; k < 1 + iter % 4; k++) {
                        rng = rng * 1103515245u + 12345u;
                        buf[48 + (rng >> 8) % (n - 48)] = (uint8_t) (rng >> 24);
                }
                if (iter % 7 == 0) {
                        rng = rng * 1103515245u + 12345u;
                        len = 48 + (rng >> 8) % (n - 48);
                        put32(buf + 4, (uint32_t) len);
                }
                fix_checksum(buf, len);
                r = dmar_parse(buf, len, &t, &error);
                if (r == 0) {
                        json_object *j = NULL;
                        PciAddress *devs = NULL;
                        size_t n_devs;

                        ck_assert_ptr_null(error);
                        ck_assert_int_eq(dmar_to_json(t, &j), 0);
                        ck_assert_ptr_nonnull(json_object_to_json_string(j));
                        json_object_put(j);
                        ck_assert_int_eq(dmar_rmrr_devices(t, fake_secondary_bus, NULL, &devs,
                                                           &n_devs),
                                         0);
                        free(devs);
                        dmar_table_free(t);
                } else {
                        ck_assert_int_eq(r, -EBADMSG);
                        ck_assert_ptr_nonnull(error);
                        ck_assert_ptr_null(t);
                }
        }
}
END_TEST

/* ---- builder ---- */

START_TEST(test_builder_limits) {
        DmarBuilder *b = dmar_builder_new(38, 1);
        DmarPathEntry path[125] = { { 0 } };
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;

        ck_assert_ptr_nonnull(b);
        /* No structure yet. */
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, path, 1), -EINVAL);
        ck_assert_int_eq(dmar_builder_drhd(b, 0, 0, 0xfed90000), 0);
        /* A scope length is one byte: at most 124 path entries. */
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, path, 125), -E2BIG);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, path, 124), 0);
        ck_assert_int_eq(dmar_builder_raw(b, 9, path, 0xffff - 3), -E2BIG);
        ck_assert_int_eq(dmar_builder_raw(b, 9, NULL, 1), -EINVAL);
        ck_assert_int_eq(dmar_builder_andd(b, 0, NULL), -EINVAL);
        ck_assert_int_eq(dmar_builder_drhd(NULL, 0, 0, 0), -EINVAL);
        ck_assert_int_eq(dmar_builder_finish(NULL, &buf, &n), -EINVAL);
        ck_assert_ptr_null(dmar_builder_free(NULL));

        /* Fill one structure up to the 16-bit length limit. */
        ck_assert_int_eq(dmar_builder_rmrr(b, 0, 0, 0xfff), 0);
        for (unsigned i = 0; i < (0xffff - 24) / 254; i++)
                ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, path, 124), 0);
        ck_assert_int_eq(dmar_builder_scope(b, DMAR_SCOPE_ENDPOINT, 0, 0, path, 124), -E2BIG);

        ck_assert_int_eq(dmar_builder_finish(b, &buf, &n), 0);
        /* The builder stays usable after finish. */
        ck_assert_int_eq(dmar_builder_atsr(b, 0, 0), 0);
        dmar_builder_free(b);
        {
                _cleanup_(dmar_table_freep) DmarTable *t = parse_ok(buf, n);

                ck_assert_uint_eq(t->n_structs, 2);
                ck_assert_uint_eq(t->structs[0].scopes[0].n_path, 124);
                ck_assert_uint_eq(t->structs[1].n_scopes, (0xffff - 24) / 254);
                ck_assert_uint_eq(t->structs[1].length, 24 + 254 * ((0xffff - 24) / 254));
        }
}
END_TEST

/* ---- seed corpus ---- */

START_TEST(test_seeds_match) {
        for (size_t i = 0; i < ELEMENTSOF(seeds); i++) {
                _cleanup_free_ uint8_t *want = NULL, *have = NULL;
                _cleanup_free_ char *rel = NULL;
                size_t n_want, n_have;

                ck_assert_int_ge(asprintf(&rel, "dmar/%s", seeds[i].name), 0);
                want = seeds[i].build(&n_want);
                have = read_data(rel, &n_have);
                ck_assert_msg(n_want == n_have && memcmp(want, have, n_want) == 0,
                              "%s differs from its builder; run test-dmar --write-seeds "
                              "tests/data/dmar",
                              rel);
        }
        /* The copies of the QEMU tables in the corpus are the originals. */
        for (unsigned i = 0; i < 2; i++) {
                _cleanup_free_ uint8_t *a = NULL, *b = NULL;
                size_t na, nb;

                a = read_data(i ? QEMU_ON : QEMU_OFF, &na);
                b = read_data(i ? "dmar/qemu72-q35-intremap-on.bin"
                                : "dmar/qemu72-q35-intremap-off.bin",
                              &nb);
                ck_assert_uint_eq(na, nb);
                ck_assert_mem_eq(a, b, na);
        }
}
END_TEST

static int write_seeds(const char *dir) {
        for (size_t i = 0; i < ELEMENTSOF(seeds); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                _cleanup_free_ char *path = NULL;
                _cleanup_fclose_ FILE *f = NULL;
                size_t n;

                buf = seeds[i].build(&n);
                if (asprintf(&path, "%s/%s", dir, seeds[i].name) < 0)
                        return 1;
                f = fopen(path, "we");
                if (!f || fwrite(buf, 1, n, f) != n || fflush(f) != 0) {
                        fprintf(stderr, "%s: %s\n", path, strerror(errno));
                        return 1;
                }
                printf("%s (%zu bytes)\n", path, n);
        }
        return 0;
}

static Suite *dmar_suite(void) {
        Suite *s = suite_create("dmar");
        TCase *tc;

        tc = tcase_create("qemu");
        tcase_add_test(tc, test_qemu_on);
        tcase_add_test(tc, test_qemu_off);
        tcase_add_test(tc, test_qemu_interrupt_remapping);
        tcase_add_test(tc, test_qemu_json);
        tcase_add_test(tc, test_qemu_bad_checksum);
        tcase_add_test(tc, test_qemu_truncated);
        tcase_add_test(tc, test_qemu_truncated_fixed_up);
        suite_add_tcase(s, tc);

        tc = tcase_create("synthetic");
        tcase_add_test(tc, test_roundtrip_all_types);
        tcase_add_test(tc, test_json_all_types);
        tcase_add_test(tc, test_json_error_and_args);
        tcase_add_test(tc, test_names);
        tcase_add_test(tc, test_rmrr_multilevel);
        tcase_add_test(tc, test_scope_resolve_invalid);
        tcase_add_test(tc, test_two_segments);
        tcase_add_test(tc, test_unknown_types);
        tcase_add_test(tc, test_notes_capped);
        tcase_add_test(tc, test_rmrr_notes);
        tcase_add_test(tc, test_builder_limits);
        tcase_add_test(tc, test_seeds_match);
        suite_add_tcase(s, tc);

        tc = tcase_create("malformed");
        /* The mutation loop is slow under valgrind. */
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_bad_signature);
        tcase_add_test(tc, test_header_length);
        tcase_add_test(tc, test_structure_lengths);
        tcase_add_test(tc, test_fixed_part_too_short);
        tcase_add_test(tc, test_scope_lengths);
        tcase_add_test(tc, test_scope_empty_path);
        tcase_add_test(tc, test_andd_names);
        tcase_add_test(tc, test_oem_ids_sanitized);
        tcase_add_test(tc, test_mutations);
        suite_add_tcase(s, tc);

        return s;
}

int main(int argc, char *argv[]) {
        SRunner *sr;
        int failed;

        if (argc == 3 && streq(argv[1], "--write-seeds")) {
                writing_seeds = true;
                return write_seeds(argv[2]);
        }

        sr = srunner_create(dmar_suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
