/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BDF parsing, the strict number helpers every parser relies on, and the error catalogue. */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bdf.h"
#include "errors.h"
#include "escape.h"
#include "json-util.h"
#include "json-writer.h"
#include "macro.h"
#include "names.h"
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
                "",
                "0",
                "0000:03:01",
                "0000:03:01.",
                "0000:03:01.8",
                "0000:03:20.0",
                "0000:03:1g.0",
                "0000:003:01.0",
                "00000:03:01.0",
                "0000:03:01.0 ",
                " 0000:03:01.0",
                "0000-03:01.0",
                "0000:03-01.0",
                "0000:03:01:0",
                "../../../../",
                "0000:03:01.0/..",
                "0000:03:01.0\n",
                "+000:03:01.0",
                "0x00:03:01.0",
                "03:01",
                "3:01.0",
                "zz:01.0",
                "0000:03:01.00",
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

/* The root complex is the first "pciDDDD:BB" directory on the path, wherever it sits. */
START_TEST(test_pci_root_of_path) {
        static const struct {
                const char *devpath, *root;
        } cases[] = {
                { "sys/devices/pci0000:00/0000:00:1f.2", "pci0000:00" },
                { "sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0", "pci0000:80" },
                /* Intel VMD: a domain of 5 digits, under the VMD endpoint of another root. */
                { "sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:06.0/10000:e1:00.0",
                  "pci0000:00" },
                { "sys/devices/pci10000:e0/10000:e1:00.0", "pci10000:e0" },
                /* Hyper-V: the root bus under a VMBus device. */
                { "sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00/"
                  "7f3a1c2e-5b1d-4d2e-9c1a-0d2c5e7b8a90/pci5b1d:00/5b1d:00:00.0",
                  "pci5b1d:00" },
                { "sys/devices/pcifeedbeef:ff/feedbeef:ff:00.0", "pcifeedbeef:ff" },
                /* Not a root's name: too many digits, upper case, a short bus, no colon. */
                { "sys/devices/pci123456789:00/0000:00:00.0", NULL },
                { "sys/devices/pci0000:0A/0000:0a:00.0", NULL },
                { "sys/devices/pci0000:0/0000:00:00.0", NULL },
                { "sys/devices/pci000000/0000:00:00.0", NULL },
                { "sys/devices/platform/soc/0000:00:00.0", NULL },
                { "", NULL },
                { NULL, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char root[PCI_ROOT_STRLEN] = "unchanged";
                bool found = pci_root_of_path(cases[i].devpath, root);

                ck_assert_msg(found == !!cases[i].root, "%s: found %s", strna(cases[i].devpath),
                              found ? root : "none");
                ck_assert_str_eq(root, cases[i].root ?: "unchanged");
        }
}
END_TEST

START_TEST(test_parse_size) {
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } cases[] = {
                { "0", 0, 0 },
                { "4096", 0, 4096 },
                { "512K", 0, 512ull << 10 },
                { "8G", 0, 8ull << 30 },
                { "2T", 0, 2ull << 40 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "16777216T", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "G", -EINVAL, 0 },
                { "4g", -EINVAL, 0 },
                { "4 G", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "1.5G", -EINVAL, 0 },
                { "4GB", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 7;

                ck_assert_msg(parse_size(cases[i].s, &v) == cases[i].r, "%s", cases[i].s);
                ck_assert_uint_eq(v, cases[i].r == 0 ? cases[i].v : 7);
        }
        ck_assert_int_eq(parse_size(NULL, NULL), -EINVAL);
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

static void assert_escaped(const char *in, const char *want) {
        _cleanup_free_ char *got = cescape(in);

        ck_assert_ptr_nonnull(got);
        ck_assert_msg(streq(got, want), "cescape(\"%s\") is \"%s\", expected \"%s\"", in, got,
                      want);
}

START_TEST(test_cescape_controls) {
        /* Terminal escapes, line breaks and the other C0 controls, DEL. */
        assert_escaped("0000:01:00.0\x1b[31m", "0000:01:00.0\\x1b[31m");
        assert_escaped("a\nb\rc\td\ae\bf\vg\fh", "a\\nb\\rc\\td\\ae\\bf\\vg\\fh");
        assert_escaped("\x01\x1f\x7f", "\\x01\\x1f\\x7f");
        /* The backslash too, so the escaped text is unambiguous. */
        assert_escaped("C:\\x1b", "C:\\\\x1b");
        /* C1 controls in UTF-8 (U+009B is CSI on some terminals); U+00A0 is printable. */
        assert_escaped("a\xc2\x9b"
                       "2J\xc2\x80\xc2\x9f\xc2\xa0",
                       "a\\xc2\\x9b"
                       "2J\\xc2\\x80\\xc2\\x9f\xc2\xa0");
}
END_TEST

START_TEST(test_cescape_utf8) {
        static const char *const kept[] = {
                "",
                "Intel Corporation",
                "Gr\xc3\xbc\xc3\x9f"
                "e",
                ELLIPSIS,
                "\xe4\xb8\xad\xe6\x96\x87",
                "\xf0\x9f\x96\xa5",
                "\xef\xbf\xbd",
                "\xf4\x8f\xbf\xbf",
        };
        static const struct {
                const char *in, *want;
        } bad[] = {
                { "\xff", "\\xff" },                            /* never in UTF-8 */
                { "\x80x", "\\x80x" },                          /* a stray continuation byte */
                { "\xc0\xaf", "\\xc0\\xaf" },                   /* overlong '/' */
                { "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },          /* overlong, 3 bytes */
                { "\xed\xa0\x80", "\\xed\\xa0\\x80" },          /* a UTF-16 surrogate */
                { "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" }, /* beyond U+10FFFF */
                { "\xe2\x80", "\\xe2\\x80" },                   /* cut short at the end */
                { "\xe2\x80"
                  "a",
                  "\\xe2\\x80"
                  "a" }, /* cut short by ASCII */
        };

        for (size_t i = 0; i < ELEMENTSOF(kept); i++)
                assert_escaped(kept[i], kept[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_escaped(bad[i].in, bad[i].want);
}
END_TEST

static void assert_cut(const char *in, size_t max, const char *want) {
        _cleanup_free_ char *got = strcut(in, max);

        ck_assert_ptr_nonnull(got);
        ck_assert_msg(streq(got, want), "strcut(\"%s\", %zu) is \"%s\", expected \"%s\"", in, max,
                      got, want);
}

START_TEST(test_strcut) {
        _cleanup_free_ char *long_arg = malloc(10001), *cut = NULL;

        assert_cut("0000:01:00.0", 12, "0000:01:00.0");
        assert_cut("0000:01:00.0", 4, "0000" ELLIPSIS);
        assert_cut("abc", 0, ELLIPSIS);
        assert_cut("", 0, "");
        /* Characters, not bytes: a multi-byte character is kept whole; a stray byte is one. */
        assert_cut("\xc3\xbc\xc3\xbc\xc3\xbc", 2, "\xc3\xbc\xc3\xbc" ELLIPSIS);
        assert_cut("\xff\xff\xff", 1, "\xff" ELLIPSIS);
        assert_cut("\xe2\x80", 1, "\xe2" ELLIPSIS);

        /* An address argument of 10,000 characters. */
        ck_assert_ptr_nonnull(long_arg);
        memset(long_arg, '0', 10000);
        long_arg[10000] = '\0';
        cut = strcut(long_arg, 64);
        ck_assert_ptr_nonnull(cut);
        ck_assert_uint_eq(strlen(cut), 64 + strlen(ELLIPSIS));
        ck_assert(streq(cut + 64, ELLIPSIS));
}
END_TEST

START_TEST(test_json_escape_controls) {
        static const struct {
                const char *in, *want;
        } cases[] = {
                { "{\"a\":\"b\"}", "{\"a\":\"b\"}" },
                { "{\n  \"a\":\"b\"\n}", "{\n  \"a\":\"b\"\n}" }, /* pretty */
                /* What json-c writes for "\e", "\\" and a line break stays. */
                { "[\"\\u001b\\\\\\n\"]", "[\"\\u001b\\\\\\n\"]" },
                { "\"Gr\xc3\xbc\xc3\x9f"
                  "e \xc2\xa0\"",
                  "\"Gr\xc3\xbc\xc3\x9f"
                  "e \xc2\xa0\"" },
                { "\"a\x7f\"", "\"a\\u007f\"" },
                { "\"\xc2\x80\xc2\x9b"
                  "2J\"",
                  "\"\\u0080\\u009b"
                  "2J\"" },
                { "\"\xff\xe2\x80\"", "\"\\ufffd\\ufffd\\ufffd\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = json_escape_controls(cases[i].in);

                ck_assert_ptr_nonnull(got);
                ck_assert_msg(streq(got, cases[i].want), "\"%s\" became \"%s\", expected \"%s\"",
                              cases[i].in, got, cases[i].want);
        }
}
END_TEST

/* What json-c prints for o (the report's settings), against what JsonWriter wrote. */
static void assert_like_json_c(json_object *o, char *written) {
        const char *want = json_object_to_json_string_ext(o,
                                                          JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);

        ck_assert_ptr_nonnull(want);
        ck_assert_msg(streq(written, want), "wrote %s, json-c prints %s", written, want);
        free(written);
}

START_TEST(test_json_writer_strings) {
        /* Every byte value, alone and between others, is escaped (or not) as json-c does. */
        for (unsigned c = 1; c < 256; c++) {
                char s[8] = { 'a', (char) c, '/', (char) c, (char) c, 'z', 0 };
                _cleanup_json_ json_object *o = json_object_new_array();
                char *buf = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&buf, &size);
                JsonWriter w = json_writer_init(f);

                ck_assert_ptr_nonnull(f);
                ck_assert_int_eq(json_append_new(o, json_object_new_string(s)), 0);
                ck_assert_int_eq(json_append_new(o, json_object_new_string(s + 1)), 0);
                ck_assert_int_eq(json_object_array_add(o, NULL), 0);
                json_write_begin_array(&w);
                json_write_string(&w, s);
                json_write_string(&w, s + 1);
                json_write_string(&w, NULL);
                json_write_end_array(&w);
                ck_assert(!ferror(f));
                ck_assert_int_eq(fclose(f), 0);
                assert_like_json_c(o, buf);
        }
}
END_TEST

START_TEST(test_json_writer_values) {
        static const int64_t ints[] = { 0, 1, -1, 9, 10, 4095, -32768, INT64_MAX, INT64_MIN };
        static const struct {
                unsigned width;
                uint64_t v;
                const char *want;
        } hexes[] = {
                { 1, 0, "0x0" },
                { 4, 0x8086, "0x8086" },
                { 4, 0x10, "0x0010" },
                { 6, 0x20000, "0x020000" },
                { 1, UINT64_MAX, "0xffffffffffffffff" },
                { 1, 0xfee00000, "0xfee00000" },
        };
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *a = json_object_new_array(), *inner = json_object_new_object();
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        JsonWriter w = json_writer_init(f);

        ck_assert_ptr_nonnull(f);
        /* json-c as the oracle: nesting, empty containers, every kind of value. */
        ck_assert_int_eq(json_add_new(o, "ints", a), 0);
        for (size_t i = 0; i < ELEMENTSOF(ints); i++)
                ck_assert_int_eq(json_append_new(a, json_object_new_int64(ints[i])), 0);
        ck_assert_int_eq(json_add_new(o, "empty", json_object_new_array()), 0);
        ck_assert_int_eq(json_add_new(o, "inner", inner), 0);
        ck_assert_int_eq(json_add_new(inner, "t", json_object_new_boolean(true)), 0);
        ck_assert_int_eq(json_add_new(inner, "f", json_object_new_boolean(false)), 0);
        ck_assert_int_eq(json_add(inner, "n", NULL), 0);
        ck_assert_int_eq(json_add_new(inner, "o", json_object_new_object()), 0);
        ck_assert_int_eq(json_add_string(o, "k\"ey\n", "v"), 0);

        json_write_begin_object(&w);
        json_write_key(&w, "ints");
        json_write_begin_array(&w);
        for (size_t i = 0; i < ELEMENTSOF(ints); i++)
                json_write_int64(&w, ints[i]);
        json_write_end_array(&w);
        json_write_key(&w, "empty");
        json_write_strv(&w, NULL);
        json_write_key(&w, "inner");
        json_write_begin_object(&w);
        json_write_key(&w, "t");
        json_write_bool(&w, true);
        json_write_key(&w, "f");
        json_write_bool(&w, false);
        json_write_key(&w, "n");
        json_write_null(&w);
        json_write_key(&w, "o");
        json_write_begin_object(&w);
        json_write_end_object(&w);
        json_write_end_object(&w);
        json_write_key(&w, "k\"ey\n");
        json_write_string(&w, "v");
        json_write_end_object(&w);
        ck_assert_int_eq(fclose(f), 0);
        assert_like_json_c(o, buf);

        for (size_t i = 0; i < ELEMENTSOF(hexes); i++) {
                buf = NULL;
                f = open_memstream(&buf, &size);
                ck_assert_ptr_nonnull(f);
                w = json_writer_init(f);
                json_write_hex(&w, hexes[i].width, hexes[i].v);
                ck_assert_int_eq(fclose(f), 0);
                {
                        _cleanup_free_ char *want = NULL;

                        ck_assert_int_ge(asprintf(&want, "\"%s\"", hexes[i].want), 0);
                        ck_assert_str_eq(buf, want);
                }
                free(buf);
        }
}
END_TEST

START_TEST(test_utf8_sanitize) {
        char ok[] = "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xa9";
        char bad[] = "a\xff b\xc3 c\xe0\x80\xaf d\xed\xa0\x80 e\xf4\x90\x80\x80 f\xc3\xa9";

        utf8_sanitize(ok);
        ck_assert_str_eq(ok, "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xa9");
        utf8_sanitize(bad);
        ck_assert_str_eq(bad, "a? b? c??? d??? e???? f\xc3\xa9");
        utf8_sanitize(NULL);
}
END_TEST

/* A holder is recognised by pid and start time: the start time must not move when the process
 * renames itself to something with spaces and parentheses, and a reaped pid has none. */
START_TEST(test_pid_start_time) {
        uint64_t self, before, after;
        int ready[2], go[2];
        pid_t pid;
        char c;

        ck_assert_int_eq(pid_start_time(getpid(), &self), 0);
        ck_assert_int_eq(pipe(ready), 0);
        ck_assert_int_eq(pipe(go), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(go[1]);
                if (read(go[0], &c, 1) != 1 || prctl(PR_SET_NAME, "a) 1 2 (b) 3") < 0 ||
                    write(ready[1], "r", 1) != 1)
                        _exit(1);
                (void) read(go[0], &c, 1);
                _exit(0);
        }
        ck_assert_int_eq(pid_start_time(pid, &before), 0);
        ck_assert_uint_ge(before, self);
        ck_assert_int_eq(write(go[1], "g", 1), 1);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        ck_assert_int_eq(pid_start_time(pid, &after), 0);
        ck_assert_uint_eq(after, before);
        close(go[1]);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
        ck_assert_int_eq(pid_start_time(pid, &after), -ESRCH);
        close(go[0]);
        close(ready[0]);
        close(ready[1]);
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
        ck_assert_int_eq(utf8_prefix_len("a\xf0\x9f\x92\xa9"
                                         "b",
                                         3),
                         1);
        ck_assert_int_eq(utf8_prefix_len("a\xf0\x9f\x92\xa9"
                                         "b",
                                         5),
                         5);
        ck_assert_int_eq(utf8_prefix_len("abc", 0), 0);
}
END_TEST

/* Clients match these names and errnos and scripts these exit codes: they are API, and are
 * pinned here as they shipped. */
START_TEST(test_error_catalogue) {
        static const struct {
                const char *suffix;
                int errno_value;
        } shipped[] = {
                { "NoSuchDevice", ENODEV },
                { "NoSuchGroup", ENOENT },
                { "InvalidArgument", EINVAL },
                { "PolicyDenied", EPERM },
                { "InterruptRemappingRequired", EPERM },
                { "HostCritical", EPERM },
                { "RmrrLocked", EPERM },
                { "NotAssignable", EPERM },
                { "BindFailed", EIO },
                { "GroupNotViable", EPERM },
                { "Busy", EBUSY },
                { "Stuck", EBUSY },
                { "NoSuchLease", ENOENT },
                { "NotHolder", EACCES },
                { "PolicyInvalid", EINVAL },
                { "Failed", EIO },
                { "VfioFailed", EIO },
                { "StateFailed", EIO },
                { "NotActive", ESTALE },
                { "NoSuchUser", ESRCH },
                { "NotClaimed", EOPNOTSUPP },
                { "Timeout", ETIMEDOUT },
                { "BackendUnavailable", ENXIO },
                { "NoMemory", ENOMEM },
                { "DriverNotLoaded", ENOPKG },
                { "SriovFailed", EIO },
                { "IdentityChanged", EREMCHG },
        };

        ck_assert_int_eq(EXIT_OK, 0);
        ck_assert_int_eq(EXIT_FAILED, 1);
        ck_assert_int_eq(EXIT_USAGE, 2);
        ck_assert_int_eq(EXIT_UNREACHABLE, 3);
        ck_assert_int_eq(EXIT_ACCESS_DENIED, 4);
        ck_assert_int_eq(EXIT_POLICY_DENIED, 5);

        ck_assert_uint_eq(ELEMENTSOF(shipped), _VA_ERROR_MAX);
        for (size_t i = 0; i < ELEMENTSOF(shipped); i++) {
                char name[128];
                VaError e;

                snprintf(name, sizeof(name), ERROR_PREFIX "%s", shipped[i].suffix);
                e = va_error_from_name(name);
                ck_assert_msg(e < _VA_ERROR_MAX, "%s is not in the catalogue", name);
                ck_assert_str_eq(va_error_name(e), name);
                ck_assert_int_eq(va_error_errno(e), shipped[i].errno_value);
        }

        for (VaError e = 0; e < _VA_ERROR_MAX; e++) {
                const char *name = va_error_name(e);
                int x = va_error_exit_code(e);

                ck_assert_ptr_nonnull(name);
                ck_assert_int_eq(va_error_from_name(name),
                                 e); /* and so no other code has the name */
                ck_assert_int_gt(va_error_errno(e), 0);
                ck_assert_msg(x == EXIT_FAILED || x == EXIT_POLICY_DENIED, "%s: exit code %d", name,
                              x);
        }
        /* An error nobody named (a zeroed struct) is Failed. */
        ck_assert_int_eq(VA_ERROR_FAILED, 0);

        ck_assert_ptr_null(va_error_name(_VA_ERROR_MAX));
        ck_assert_ptr_null(va_error_name((VaError) -1));
        ck_assert_int_eq(va_error_errno(_VA_ERROR_MAX), 0);
        ck_assert_int_eq(va_error_exit_code(_VA_ERROR_MAX), EXIT_FAILED);
        ck_assert_int_eq(va_error_from_name(NULL), _VA_ERROR_MAX);
        ck_assert_int_eq(va_error_from_name(""), _VA_ERROR_MAX);
        ck_assert_int_eq(va_error_from_name(ERROR_PREFIX), _VA_ERROR_MAX);
        ck_assert_int_eq(va_error_from_name("NoSuchGroup"), _VA_ERROR_MAX);
        ck_assert_int_eq(va_error_from_name(ERROR_PREFIX "nosuchgroup"), _VA_ERROR_MAX);
        ck_assert_int_eq(va_error_from_name("org.freedesktop.DBus.Error.AccessDenied"),
                         _VA_ERROR_MAX);
}
END_TEST

static FILE *open_doc(const char *name) {
        const char *top = getenv("TOP_SRCDIR");
        _cleanup_free_ char *path = NULL;
        FILE *f;

        ck_assert_msg(top, "TOP_SRCDIR is not set (make check sets it)");
        ck_assert_int_ge(asprintf(&path, "%s/docs/%s", top, name), 0);
        f = fopen(path, "re");
        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        return f;
}

/* The man pages list every error, and the exit status 5 errors, as the catalogue has them. */
START_TEST(test_error_docs) {
        bool documented[_VA_ERROR_MAX] = {}, exit_5[_VA_ERROR_MAX] = {}, in_exit_5 = false;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        FILE *f;

        /* ".B org.vfioassign1.Error.Name", where more names may follow as ", " Other ", " More. */
        f = open_doc("org.vfioassign1.5");
        while (getline(&line, &size, f) >= 0) {
                const char *lead = ".B " ERROR_PREFIX;

                if (!strneq(line, lead, strlen(lead)))
                        continue;
                for (char *w = strtok(line + strlen(lead), "\", \n"); w;
                     w = strtok(NULL, "\", \n")) {
                        char name[128];
                        VaError e;

                        snprintf(name, sizeof(name), ERROR_PREFIX "%s", w);
                        e = va_error_from_name(name);
                        ck_assert_msg(e < _VA_ERROR_MAX,
                                      "org.vfioassign1.5 documents %s, which is not in the "
                                      "catalogue",
                                      name);
                        documented[e] = true;
                }
        }
        fclose(f);
        for (VaError e = 0; e < _VA_ERROR_MAX; e++)
                ck_assert_msg(documented[e], "org.vfioassign1.5 does not document %s",
                              va_error_name(e));

        /* ".B 5" in EXIT STATUS, then ".BR PolicyDenied ," ... up to the next paragraph. */
        f = open_doc("assignctl.1");
        while (getline(&line, &size, f) >= 0) {
                if (streq(line, ".B 5\n"))
                        in_exit_5 = true;
                else if (in_exit_5 && line[0] == '.' && !strneq(line, ".B", 2))
                        break;
                else if (in_exit_5 && strneq(line, ".B", 2)) {
                        const char *w;
                        char name[128];
                        VaError e;

                        (void) strtok(line, " ,\n"); /* .B or .BR */
                        w = strtok(NULL, " ,\n");
                        snprintf(name, sizeof(name), ERROR_PREFIX "%s", strempty(w));
                        e = va_error_from_name(name);
                        if (e < _VA_ERROR_MAX)
                                exit_5[e] = true;
                }
        }
        fclose(f);
        for (VaError e = 0; e < _VA_ERROR_MAX; e++)
                ck_assert_msg(exit_5[e] == (va_error_exit_code(e) == EXIT_POLICY_DENIED),
                              "assignctl.1 %s %s under exit status 5",
                              exit_5[e] ? "lists" : "does not list", va_error_name(e));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("common");
        TCase *tc = tcase_create("common");

        tcase_add_test(tc, test_bdf_parse_canonical);
        tcase_add_test(tc, test_bdf_parse_short_and_case);
        tcase_add_test(tc, test_bdf_parse_rejects);
        tcase_add_test(tc, test_bdf_compare);
        tcase_add_test(tc, test_pci_root_of_path);
        tcase_add_test(tc, test_safe_atou);
        tcase_add_test(tc, test_parse_size);
        tcase_add_test(tc, test_filename_is_valid);
        tcase_add_test(tc, test_strv);
        tcase_add_test(tc, test_cescape_controls);
        tcase_add_test(tc, test_cescape_utf8);
        tcase_add_test(tc, test_strcut);
        tcase_add_test(tc, test_json_escape_controls);
        tcase_add_test(tc, test_json_writer_strings);
        tcase_add_test(tc, test_json_writer_values);
        tcase_add_test(tc, test_utf8_sanitize);
        tcase_add_test(tc, test_utf8_prefix_len);
        tcase_add_test(tc, test_pid_start_time);
        tcase_add_test(tc, test_error_catalogue);
        tcase_add_test(tc, test_error_docs);
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
