/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libvirt hook's reader of domain XML (client/libvirt-domain.c) on the sample domains of
 * tests/data/libvirt/: which host devices it claims (unmanaged PCI ones only, each once, their
 * addresses read as libvirt reads them), the UUID, and a clear refusal naming the place of each
 * kind of broken input. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdf.h"
#include "libvirt-domain.h"
#include "macro.h"
#include "util.h"

static char *read_sample(const char *name, size_t *ret_size) {
        const char *dir = getenv("TEST_DATA_DIR");
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char *text = NULL;
        size_t n = 0;

        ck_assert_ptr_nonnull(dir);
        ck_assert_int_ge(asprintf(&path, "%s/libvirt/%s", dir, name), 0);
        f = fopen(path, "re");
        ck_assert_msg(f, "cannot open %s", path);
        ck_assert_int_eq(getdelim(&text, &n, '\0', f) > 0, 1);
        *ret_size = strlen(text);
        return text;
}

static LibvirtDomain *parse_sample(const char *name, LibvirtParseFlags flags) {
        _cleanup_free_ char *xml = NULL, *error = NULL;
        LibvirtDomain *d = NULL;
        size_t size;
        int r;

        xml = read_sample(name, &size);
        r = libvirt_domain_parse(xml, size, flags, &d, &error);
        ck_assert_msg(r == 0, "%s: %s", name, strna(error));
        ck_assert_ptr_null(error);
        return d;
}

/* The parse of a broken sample fails with r, saying needle. */
static void assert_refused(const char *name, LibvirtParseFlags flags, int r, const char *needle) {
        _cleanup_free_ char *xml = NULL, *error = NULL;
        LibvirtDomain *d = NULL;
        size_t size;
        int k;

        xml = read_sample(name, &size);
        k = libvirt_domain_parse(xml, size, flags, &d, &error);
        ck_assert_msg(k == r, "%s: %d, expected %d (%s)", name, k, r, strna(error));
        ck_assert_ptr_null(d);
        ck_assert_msg(error && strstr(error, needle), "%s: '%s' does not say '%s'", name,
                      strna(error), needle);
}

static void assert_hostdevs(const LibvirtDomain *d, const char *const *want, size_t n) {
        ck_assert_uint_eq(d->n_hostdevs, n);
        for (size_t i = 0; i < n; i++) {
                char buf[PCI_ADDRESS_STRLEN];

                ck_assert_str_eq(pci_address_format(&d->hostdevs[i], buf), want[i]);
        }
}

START_TEST(test_several) {
        _cleanup_(libvirt_domain_freep) LibvirtDomain *d = parse_sample("several.xml", 0);
        /* The two unmanaged functions of the GPU and the NIC; not the managed VF, the USB, mdev,
         * SCSI and capabilities host devices. */
        static const char *const want[] = { "0000:01:00.0", "0000:01:00.1", "0000:87:04.0" };

        ck_assert_str_eq(d->uuid, "4dc1b0c5-5e24-4c67-9a55-7d1e0b3f2a10");
        assert_hostdevs(d, want, ELEMENTSOF(want));
}
END_TEST

START_TEST(test_none) {
        _cleanup_(libvirt_domain_freep) LibvirtDomain *plain = parse_sample("none.xml", 0);
        _cleanup_(libvirt_domain_freep)
                LibvirtDomain *managed = parse_sample("managed-only.xml", 0);

        ck_assert_str_eq(plain->uuid, "0b1d4a6e-2f4c-4d0e-8a3b-5c6d7e8f9a0b");
        assert_hostdevs(plain, NULL, 0);
        ck_assert_ptr_null(plain->hostdevs);
        ck_assert_str_eq(managed->uuid, "9e8d7c6b-5a49-4837-a261-50f0e1d2c3b4");
        assert_hostdevs(managed, NULL, 0);
}
END_TEST

START_TEST(test_numbers) {
        _cleanup_(libvirt_domain_freep) LibvirtDomain *d = parse_sample("numbers.xml", 0);
        /* Decimal 135 is 0x87; octal 010 is 8 and 07 is 7; missing mode, managed and domain take
         * libvirt's defaults; the hex repetition of the first is dropped; a second <devices>
         * counts. */
        static const char *const want[] = { "0000:87:05.0", "0000:08:1f.7", "0000:2a:03.2",
                                            "ffff:00:00.0" };

        assert_hostdevs(d, want, ELEMENTSOF(want));
}
END_TEST

START_TEST(test_uuid_only) {
        /* Release reads the UUID of a domain whatever its devices say. */
        _cleanup_(libvirt_domain_freep)
                LibvirtDomain *range = parse_sample("bad-slot-range.xml", LIBVIRT_PARSE_UUID_ONLY);
        _cleanup_(libvirt_domain_freep)
                LibvirtDomain *several = parse_sample("several.xml", LIBVIRT_PARSE_UUID_ONLY);

        ck_assert_str_eq(range->uuid, "4dc1b0c5-5e24-4c67-9a55-7d1e0b3f2a10");
        assert_hostdevs(range, NULL, 0);
        assert_hostdevs(several, NULL, 0);
        /* ...but not without one. */
        assert_refused("bad-no-uuid.xml", LIBVIRT_PARSE_UUID_ONLY, -EINVAL, "no <uuid>");
}
END_TEST

START_TEST(test_refused) {
        assert_refused("bad-truncated.xml", 0, -EINVAL, "line ");
        assert_refused("bad-root.xml", 0, -EINVAL, "the root element is not <domain>");
        assert_refused("bad-uuid.xml", 0, -EINVAL,
                       "line 3: <uuid>: '4dc1b0c55e244c679a557d1e0b3f2a10' is not a UUID");
        assert_refused("bad-no-uuid.xml", 0, -EINVAL, "the domain has no <uuid>");
        assert_refused("bad-two-uuids.xml", 0, -EINVAL, "line 4: a second <uuid>");
        /* Counted from 1 among all <hostdev>s, the managed one before it included. */
        assert_refused("bad-slot-range.xml", 0, -EINVAL,
                       "line 12: <hostdev> 2: source address: slot='0x20' is out of range "
                       "(at most 0x1f)");
        assert_refused("bad-bus-text.xml", 0, -EINVAL,
                       "<hostdev> 1: source address: bus=' 1' is not a number");
        assert_refused("bad-no-address.xml", 0, -EINVAL,
                       "line 5: <hostdev> 1: no <source><address .../></source>");
        assert_refused("bad-managed.xml", 0, -EINVAL,
                       "<hostdev> 1: managed='maybe' is neither 'yes' nor 'no'");
        assert_refused("bad-doctype.xml", 0, -EINVAL, "<!DOCTYPE>");
}
END_TEST

START_TEST(test_not_xml) {
        _cleanup_free_ char *error = NULL;
        LibvirtDomain *d = NULL;

        ck_assert_int_eq(libvirt_domain_parse("", 0, 0, &d, &error), -EINVAL);
        ck_assert_ptr_nonnull(error);
        ck_assert_ptr_null(d);
        error = mfree(error);
        ck_assert_int_eq(libvirt_domain_parse("\x01\x02garbage", 9, 0, &d, &error), -EINVAL);
        ck_assert_ptr_nonnull(error);
        ck_assert_ptr_null(d);
        /* Without a place for the message it still fails. */
        ck_assert_int_eq(libvirt_domain_parse("<domain/>", 9, 0, &d, NULL), -EINVAL);
        ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_too_large) {
        _cleanup_free_ char *error = NULL, *xml = NULL, *buf = NULL;
        LibvirtDomain *d = NULL;
        size_t n = 0;
        FILE *f;

        ck_assert_int_eq(libvirt_domain_parse("<domain/>", LIBVIRT_XML_MAX + 1, 0, &d, &error),
                         -E2BIG);
        ck_assert_ptr_nonnull(strstr(error, "more than"));
        error = mfree(error);

        /* One more unmanaged device than the limit (each a different function). */
        f = open_memstream(&buf, &n);
        ck_assert_ptr_nonnull(f);
        fputs("<domain><uuid>4dc1b0c5-5e24-4c67-9a55-7d1e0b3f2a10</uuid><devices>", f);
        for (unsigned i = 0; i <= LIBVIRT_HOSTDEVS_MAX; i++)
                fprintf(f,
                        "<hostdev mode='subsystem' type='pci' managed='no'><source><address "
                        "domain='0' bus='%u' slot='%u' function='%u'/></source></hostdev>",
                        i >> 8, (i >> 3) & 0x1f, i & 7);
        fputs("</devices></domain>", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(libvirt_domain_parse(buf, n, 0, &d, &error), -E2BIG);
        ck_assert_ptr_nonnull(strstr(error, "more than 1024 unmanaged PCI host devices"));
        ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_address_numbers) {
        static const struct {
                const char *s;
                unsigned max, want;
                int r;
        } cases[] = {
                { "0x1f", 0x1f, 0x1f, 0 },
                { "0X1F", 0x1f, 0x1f, 0 },
                { "31", 0x1f, 31, 0 },
                { "037", 0x1f, 31, 0 },
                { "0", 7, 0, 0 },
                { "0x0000", 0xffff, 0, 0 },
                { "0x20", 0x1f, 0, -ERANGE },
                { "32", 0x1f, 0, -ERANGE },
                { "040", 0x1f, 0, -ERANGE },
                { "08", 7, 0, -EINVAL },
                { "0x", 7, 0, -EINVAL },
                { "", 7, 0, -EINVAL },
                { "-1", 7, 0, -EINVAL },
                { "+1", 7, 0, -EINVAL },
                { " 1", 7, 0, -EINVAL },
                { "1 ", 7, 0, -EINVAL },
                { "1a", 0xff, 0, -EINVAL },
                { "0xg", 0xff, 0, -EINVAL },
                { "99999999999999999999999", 0xffff, 0, -ERANGE },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned v = 12345;
                int r = libvirt_parse_address_number(cases[i].s, cases[i].max, &v);

                ck_assert_msg(r == cases[i].r, "'%s': %d, expected %d", cases[i].s, r, cases[i].r);
                ck_assert_uint_eq(v, r == 0 ? cases[i].want : 12345);
        }
        ck_assert_int_eq(libvirt_parse_address_number(NULL, 7, &(unsigned) { 0 }), -EINVAL);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("libvirt-domain");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_several);
        tcase_add_test(tc, test_none);
        tcase_add_test(tc, test_numbers);
        tcase_add_test(tc, test_uuid_only);
        tcase_add_test(tc, test_refused);
        tcase_add_test(tc, test_not_xml);
        tcase_add_test(tc, test_too_large);
        tcase_add_test(tc, test_address_numbers);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *r = srunner_create(suite());
        int failed;

        srunner_run_all(r, CK_ENV);
        failed = srunner_ntests_failed(r);
        srunner_free(r);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
