/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BDF parsing and the strict number helpers every parser relies on. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "bdf.h"
#include "macro.h"
#include "util.h"

START_TEST(test_bdf_parse_canonical) {
        PciAddress a;
        char buf[PCI_ADDRESS_STRLEN];

        ck_assert_int_eq(pci_address_parse("0000:03:01.0", &a), 0);
        ck_assert_uint_eq(a.domain, 0);
        ck_assert_uint_eq(a.bus, 3);
        ck_assert_uint_eq(a.dev, 1);
        ck_assert_uint_eq(a.fn, 0);
        ck_assert_str_eq(pci_address_format(&a, buf), "0000:03:01.0");

        ck_assert_int_eq(pci_address_parse("ffff:ff:1f.7", &a), 0);
        ck_assert_uint_eq(a.domain, 0xffff);
        ck_assert_uint_eq(a.bus, 0xff);
        ck_assert_uint_eq(a.dev, 0x1f);
        ck_assert_uint_eq(a.fn, 7);
        ck_assert_str_eq(pci_address_format(&a, buf), "ffff:ff:1f.7");
}
END_TEST

START_TEST(test_bdf_parse_short_and_case) {
        PciAddress a;
        char buf[PCI_ADDRESS_STRLEN];

        ck_assert_int_eq(pci_address_parse("3b:02.1", &a), 0);
        ck_assert_str_eq(pci_address_format(&a, buf), "0000:3b:02.1");
        ck_assert_int_eq(pci_address_parse("0000:3B:02.1", &a), 0);
        ck_assert_str_eq(pci_address_format(&a, buf), "0000:3b:02.1");
        /* Only the kernel's spelling is canonical: sysfs names are lower case with a domain. */
        ck_assert(pci_address_is_canonical("0000:3b:02.1"));
        ck_assert(!pci_address_is_canonical("0000:3B:02.1"));
        ck_assert(!pci_address_is_canonical("3b:02.1"));
}
END_TEST

START_TEST(test_bdf_parse_rejects) {
        static const char *const bad[] = {
                "", "0", "0000:03:01", "0000:03:01.", "0000:03:01.8", "0000:03:20.0", "0000:03:1g.0",
                "0000:003:01.0", "00000:03:01.0", "0000:03:01.0 ", " 0000:03:01.0", "0000-03:01.0",
                "0000:03-01.0", "0000:03:01:0", "../../../../", "0000:03:01.0/..", "0000:03:01.0\n",
                "+000:03:01.0", "0x00:03:01.0", "03:01", "3:01.0", "zz:01.0", "0000:03:01.00",
        };
        PciAddress a = { .domain = 42 };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ck_assert_msg(pci_address_parse(bad[i], &a) == -EINVAL, "accepted \"%s\"", bad[i]);
                ck_assert_msg(!pci_address_is_canonical(bad[i]), "canonical \"%s\"", bad[i]);
        }
        ck_assert_int_eq(pci_address_parse(NULL, &a), -EINVAL);
        ck_assert_uint_eq(a.domain, 42); /* untouched on failure */
}
END_TEST

START_TEST(test_bdf_compare) {
        PciAddress a, b;

        ck_assert_int_eq(pci_address_parse("0000:03:01.0", &a), 0);
        ck_assert_int_eq(pci_address_parse("0000:03:02.0", &b), 0);
        ck_assert_int_lt(pci_address_compare(&a, &b), 0);
        ck_assert_int_gt(pci_address_compare(&b, &a), 0);
        ck_assert_int_eq(pci_address_compare(&a, &a), 0);
        ck_assert_int_eq(pci_address_parse("0001:00:00.0", &b), 0);
        ck_assert_int_lt(pci_address_compare(&a, &b), 0);
}
END_TEST

START_TEST(test_safe_atou) {
        uint64_t v64;
        uint32_t v32;
        int32_t i32;

        ck_assert_int_eq(safe_atou64("65535\n", 10, &v64), 0);
        ck_assert_uint_eq(v64, 65535);
        ck_assert_int_eq(safe_atou64("0x8086", 0, &v64), 0);
        ck_assert_uint_eq(v64, 0x8086);
        ck_assert_int_eq(safe_atou64("010", 0, &v64), 0);
        ck_assert_uint_eq(v64, 10); /* never octal */
        ck_assert_int_eq(safe_atou64("f00f4a", 16, &v64), 0);
        ck_assert_uint_eq(v64, 0xf00f4a);
        ck_assert_int_eq(safe_atou64("18446744073709551615", 10, &v64), 0);
        ck_assert_int_eq(safe_atou64("18446744073709551616", 10, &v64), -ERANGE);
        ck_assert_int_eq(safe_atou64("-1", 10, &v64), -EINVAL);
        ck_assert_int_eq(safe_atou64(" 1", 10, &v64), -EINVAL);
        ck_assert_int_eq(safe_atou64("1 ", 10, &v64), -EINVAL);
        ck_assert_int_eq(safe_atou64("1\n\n", 10, &v64), -EINVAL);
        ck_assert_int_eq(safe_atou64("", 10, &v64), -EINVAL);
        ck_assert_int_eq(safe_atou64("0x", 0, &v64), -EINVAL);
        ck_assert_int_eq(safe_atou64("12abc", 10, &v64), -EINVAL);
        ck_assert_int_eq(safe_atou32("4294967296", 10, &v32), -ERANGE);
        ck_assert_int_eq(safe_atou32("4294967295", 10, &v32), 0);
        ck_assert_int_eq(safe_atoi32("-1", &i32), 0);
        ck_assert_int_eq(i32, -1);
        ck_assert_int_eq(safe_atoi32("-2147483648", &i32), 0);
        ck_assert_int_eq(i32, INT32_MIN);
        ck_assert_int_eq(safe_atoi32("2147483648", &i32), -ERANGE);
        ck_assert_int_eq(safe_atoi32("--1", &i32), -EINVAL);
}
END_TEST

START_TEST(test_filename_is_valid) {
        char longname[300];

        ck_assert(filename_is_valid("e1000e"));
        ck_assert(filename_is_valid("vfio-pci"));
        ck_assert(!filename_is_valid(""));
        ck_assert(!filename_is_valid(NULL));
        ck_assert(!filename_is_valid("."));
        ck_assert(!filename_is_valid(".."));
        ck_assert(!filename_is_valid("a/b"));
        ck_assert(!filename_is_valid("a\nb"));
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        ck_assert(!filename_is_valid(longname));
}
END_TEST

START_TEST(test_strv) {
        _cleanup_strv_free_ char **l = NULL;

        ck_assert_uint_eq(strv_length(l), 0);
        ck_assert_int_eq(strv_extend(&l, "b"), 0);
        ck_assert_int_eq(strv_extend(&l, "a"), 0);
        ck_assert_uint_eq(strv_length(l), 2);
        strv_sort(l);
        ck_assert_str_eq(l[0], "a");
        ck_assert_str_eq(l[1], "b");
        ck_assert_ptr_null(l[2]);
        ck_assert(strv_contains(l, "b"));
        ck_assert(!strv_contains(l, "c"));
}
END_TEST

/* A caller's string cut for an error message must stay valid UTF-8, or sd-bus sends no reply. */
START_TEST(test_utf8_prefix_len) {
        /* "é" is c3 a9, "💩" is f0 9f 92 a9. */
        ck_assert_int_eq(utf8_prefix_len("abc", 32), 3);
        ck_assert_int_eq(utf8_prefix_len("", 32), 0);
        ck_assert_int_eq(utf8_prefix_len("abcdef", 4), 4);
        ck_assert_int_eq(utf8_prefix_len("ab\xc3\xa9", 3), 2);
        ck_assert_int_eq(utf8_prefix_len("ab\xc3\xa9", 4), 4);
        ck_assert_int_eq(utf8_prefix_len("ab\xc3\xa9z", 4), 4);
        for (size_t cut = 1; cut <= 4; cut++)
                ck_assert_int_eq(utf8_prefix_len("\xf0\x9f\x92\xa9", cut), cut == 4 ? 4 : 0);
        ck_assert_int_eq(utf8_prefix_len("a\xf0\x9f\x92\xa9" "b", 3), 1);
        ck_assert_int_eq(utf8_prefix_len("a\xf0\x9f\x92\xa9" "b", 5), 5);
        ck_assert_int_eq(utf8_prefix_len("abc", 0), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("common");
        TCase *tc = tcase_create("common");

        tcase_add_test(tc, test_bdf_parse_canonical);
        tcase_add_test(tc, test_bdf_parse_short_and_case);
        tcase_add_test(tc, test_bdf_parse_rejects);
        tcase_add_test(tc, test_bdf_compare);
        tcase_add_test(tc, test_safe_atou);
        tcase_add_test(tc, test_filename_is_valid);
        tcase_add_test(tc, test_strv);
        tcase_add_test(tc, test_utf8_prefix_len);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
