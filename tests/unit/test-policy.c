/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the policy module (daemon/policy.c, daemon/policy-parse.c): the good and bad
 * corpora in tests/policy/, the shipped files in policy/, generated inputs at the limits, the
 * merge of policy directories, and the evaluation matrix (rules x devices x callers x host
 * interrupt-remapping facts). Devices, groups and host facts are built by hand. */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "macro.h"
#include "names.h"
#include "policy-world.h"
#include "util.h"

#ifndef POLICY_TEST_SRCDIR
#define POLICY_TEST_SRCDIR "."
#endif

/* ---- helpers ---- */

static const char *srcdir(void) {
        const char *d = getenv("TOP_SRCDIR");

        return isempty(d) ? POLICY_TEST_SRCDIR : d;
}

/* Through the daemon's own reader, as every policy file is read. */
static char *read_file(const char *path, size_t *ret_size) {
        _cleanup_free_ char *error = NULL;
        char *text = NULL;

        ck_assert_msg(policy_read_file(path, &text, ret_size, &error) == 0, "%s", strna(error));
        return text;
}

static void write_file(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        size_t n = strlen(text);

        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
        ck_assert_int_eq(write(fd, text, n), (ssize_t) n);
}

static char *make_dir(const char *parent, const char *name) {
        char *path;

        ck_assert_int_ge(asprintf(&path, "%s/%s", parent, name), 0);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        return path;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *f) {
        return remove(path);
}

static void rm_rf(char *dir) {
        if (!dir)
                return;
        ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(dir);
}

static char *make_tmpdir(void) {
        char *d = strdup("/tmp/test-policy.XXXXXX");

        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_nonnull(mkdtemp(d));
        return d;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && streq(s + n - m, suffix);
}

static char **list_dir(const char *dir, const char *suffix) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        d = opendir(dir);
        ck_assert_msg(d, "%s: %s", dir, strerror(errno));
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && has_suffix(de->d_name, suffix))
                        ck_assert_int_eq(strv_extend(&l, de->d_name), 0);
        strv_sort(l);
        return TAKE_PTR(l);
}

/* ---- corpora ---- */

START_TEST(test_good_files) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Policy *all = NULL;
        char *dirs[2];
        size_t total = 0;

        ck_assert_int_ge(asprintf(&dir, "%s/tests/policy/good", srcdir()), 0);
        names = list_dir(dir, ".json");
        ck_assert_uint_ge(strv_length(names), 10);
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                _cleanup_strv_free_ char **errs = NULL;
                _cleanup_free_ char *joined = NULL;
                _cleanup_(policy_freep) Policy *p = NULL;
                size_t size;
                int r;

                ck_assert_int_ge(asprintf(&path, "%s/%s", dir, *n), 0);
                text = read_file(path, &size);
                r = policy_parse_file(*n, text, size, &p, &errs);
                joined = join_lines(errs);
                ck_assert_msg(r == 0, "%s: %d: %s", *n, r, joined);
                ck_assert_ptr_nonnull(p);
                ck_assert_str_eq(policy_files(p)[0], *n);
                ck_assert_ptr_null(policy_files(p)[1]);
                total += policy_n_rules(p);
        }

        /* All of them at once, through the directory loader. */
        dirs[0] = dir;
        dirs[1] = NULL;
        ck_assert_int_eq(policy_load_dirs(dirs, &all, &errors), 0);
        ck_assert_ptr_null(errors);
        ck_assert_uint_eq(policy_n_rules(all), total);
        ck_assert_uint_eq(strv_length(policy_files(all)), strv_length(names));
        policy_free(all);
}
END_TEST

START_TEST(test_bad_files) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_strv_free_ char **names = NULL, **errs_names = NULL;
        size_t n_checked = 0;

        ck_assert_int_ge(asprintf(&dir, "%s/tests/policy/bad", srcdir()), 0);
        names = list_dir(dir, ".json");
        errs_names = list_dir(dir, ".err");
        ck_assert_uint_ge(strv_length(names), 90);
        /* Every bad file has its expected errors and every .err file its input. */
        ck_assert_uint_eq(strv_length(names), strv_length(errs_names));
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *path = NULL, *text = NULL, *err_path = NULL, *expected = NULL;
                size_t size, err_size;

                ck_assert_int_ge(asprintf(&path, "%s/%s", dir, *n), 0);
                ck_assert_int_ge(asprintf(&err_path, "%s/%.*s.err", dir, (int) (strlen(*n) - 5),
                                          *n),
                                 0);
                text = read_file(path, &size);
                expected = read_file(err_path, &err_size);
                ck_assert_msg(err_size > strlen(*n) && strneq(expected, *n, strlen(*n)),
                              "%s does not start with the file name", err_path);
                {
                        Policy *sentinel = SENTINEL, *p = sentinel;
                        _cleanup_strv_free_ char **errors = NULL;
                        _cleanup_free_ char *joined = NULL;
                        int r;

                        r = policy_parse_file(*n, text, size, &p, &errors);
                        ck_assert_msg(r == -EINVAL, "%s: %d", *n, r);
                        ck_assert_ptr_eq(p, sentinel);
                        joined = join_lines(errors);
                        ck_assert_msg(streq(joined, expected), "%s:\n got: %s want: %s", *n, joined,
                                      expected);
                }
                n_checked++;
        }
        ck_assert_uint_eq(n_checked, strv_length(names));
}
END_TEST

/* The directory loader reports the same lines, named by the full path. */
START_TEST(test_bad_file_through_loader) {
        _cleanup_free_ char *text = NULL, *expected = NULL, *path = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Policy *sentinel = SENTINEL, *p = sentinel;
        char *tmp = make_tmpdir(), *dirs[] = { tmp, NULL };
        size_t size;

        ck_assert_int_ge(asprintf(&path, "%s/tests/policy/bad/vendor-no-prefix.json", srcdir()), 0);
        text = read_file(path, &size);
        write_file(tmp, "50-gpu.json", text);
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), -EINVAL);
        ck_assert_ptr_eq(p, sentinel);
        ck_assert_uint_eq(strv_length(errors), 1);
        ck_assert_int_ge(asprintf(&expected,
                                  "%s/50-gpu.json: rules[0].match.vendor: "
                                  "expected \"0x\" and 4 hex digits, got \"10de\"",
                                  tmp),
                         0);
        ck_assert_str_eq(errors[0], expected);
        rm_rf(tmp);
}
END_TEST

START_TEST(test_shipped_files) {
        _cleanup_free_ char *examples = NULL, *policy_dir = NULL;
        _cleanup_strv_free_ char **names = NULL, **errors = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        char *dirs[2];

        ck_assert_int_ge(asprintf(&examples, "%s/policy/examples", srcdir()), 0);
        names = list_dir(examples, ".json");
        ck_assert_uint_ge(strv_length(names), 5);
        dirs[0] = examples;
        dirs[1] = NULL;
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), 0);
        ck_assert_uint_eq(strv_length(policy_files(p)), strv_length(names));
        ck_assert_ptr_nonnull(policy_files(p));
        ck_assert(policy_host(p)->allow_unsafe_interrupts); /* lab-unsafe-interrupts.json */
        p = policy_free(p);

        /* policy/ holds default.json and the examples/ directory, which the loader skips. */
        ck_assert_int_ge(asprintf(&policy_dir, "%s/policy", srcdir()), 0);
        dirs[0] = policy_dir;
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), 0);
        ck_assert_uint_eq(strv_length(policy_files(p)), 1);
        ck_assert(has_suffix(policy_files(p)[0], "/policy/default.json"));
        /* No rules: it must never shadow an administrator's (root is allowed by the built-in
         * default when nothing matches). */
        ck_assert_uint_eq(policy_n_rules(p), 0);
        ck_assert(policy_host(p)->require_interrupt_remapping);
        ck_assert(!policy_host(p)->allow_unsafe_interrupts);
        ck_assert_ptr_nonnull(policy_host_source(p, "require_interrupt_remapping"));
        ck_assert_ptr_nonnull(policy_host_source(p, "allow_unsafe_interrupts"));

        /* Root may claim anything not host-critical; nobody else by default. */
        {
                Device gpu = DEV("0000:01:00.0", 0x10de, 0x1b80, 0x030000);
                Device nic = DEV("0000:00:1f.6", 0x8086, 0x15bc, 0x020000);
                PolicyVerdict v = POLICY_VERDICT_INIT;

                nic.host_critical = (char *) "carries the default route (eno1)";
                eval_device(p, &gpu, &ROOT, &v);
                ck_assert(v.allowed); /* by the built-in default */
                ck_assert_int_eq(v.rule_index, -1);
                ck_assert_ptr_null(v.rule_file);
                policy_verdict_clear(&v);
                eval_device(p, &gpu, &VMM, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_DEFAULT);
                policy_verdict_clear(&v);
                eval_device(p, &nic, &ROOT, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_HOST_CRITICAL);
                assert_reason(&v, "default route");
                policy_verdict_clear(&v);
        }
}
END_TEST

/* ---- generated inputs at the limits ---- */

START_TEST(test_file_size_limit) {
        _cleanup_free_ char *text = malloc(POLICY_FILE_SIZE_MAX + 2);
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const char *body = "{\"version\": 1}";
        size_t n = strlen(body);

        ck_assert_ptr_nonnull(text);
        /* Exactly 64 KiB (whitespace padding) is fine... */
        memcpy(text, body, n);
        memset(text + n, ' ', POLICY_FILE_SIZE_MAX - n);
        ck_assert_int_eq(policy_parse_file("big.json", text, POLICY_FILE_SIZE_MAX, &p, &errors), 0);
        ck_assert_ptr_nonnull(p);
        /* ...one byte more is not. */
        text[POLICY_FILE_SIZE_MAX] = ' ';
        expect_errors_n(text, POLICY_FILE_SIZE_MAX + 1, "test.json: larger than 65536 bytes\n");
}
END_TEST

START_TEST(test_huge_file_through_loader) {
        _cleanup_free_ char *text = malloc(4 * POLICY_FILE_SIZE_MAX + 1), *expected = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Policy *p = NULL;
        char *tmp = make_tmpdir(), *dirs[] = { tmp, NULL };

        ck_assert_ptr_nonnull(text);
        memset(text, ' ', 4 * POLICY_FILE_SIZE_MAX);
        text[4 * POLICY_FILE_SIZE_MAX] = 0;
        text[0] = '{';
        memcpy(text + 4 * POLICY_FILE_SIZE_MAX - 14, "\"version\": 1}", 13);
        write_file(tmp, "huge.json", text);
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_int_ge(asprintf(&expected, "%s/huge.json: larger than 65536 bytes", tmp), 0);
        ck_assert_uint_eq(strv_length(errors), 1);
        ck_assert_str_eq(errors[0], expected);
        rm_rf(tmp);
}
END_TEST

START_TEST(test_deep_nesting) {
        size_t n = 30000;
        _cleanup_free_ char *text = malloc(2 * n + 1);
        char *nine = NULL;

        ck_assert_ptr_nonnull(text);
        /* Arrays 30000 deep: json-c stops at the depth limit, nothing recurses. */
        memset(text, '[', n);
        memset(text + n, ']', n);
        text[2 * n] = 0;
        expect_errors(text, "test.json:1:9: nesting deeper than 8 levels\n");

        /* Objects: eight levels, and the scalar inside is the ninth. */
        ck_assert_int_ge(asprintf(&nine, "{\"version\": 1, \"x\": %s1%s}",
                                  "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":", "}}}}}}}"),
                         0);
        expect_errors(nine, "test.json:1:56: nesting deeper than 8 levels\n");
        free(nine);
        /* Seven levels and a scalar: within the limit (the scalar counts); the key is unknown. */
        expect_errors("{\"version\": 1, \"x\": {\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}",
                      "test.json: unknown key \"x\"\n");
}
END_TEST

static char *rules_text(size_t n) {
        size_t cap = 64 + n * 64;
        char *text = malloc(cap), *p;

        ck_assert_ptr_nonnull(text);
        p = stpcpy(text, "{\"version\": 1, \"rules\": [");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s{\"match\": {\"group\": %zu}, \"action\": \"deny\"}",
                             i ? "," : "", i);
        strcpy(p, "]}");
        ck_assert_uint_lt(strlen(text), cap);
        return text;
}

START_TEST(test_too_many_rules) {
        _cleanup_free_ char *ok = rules_text(POLICY_RULES_MAX),
                            *bad = rules_text(POLICY_RULES_MAX + 1);
        _cleanup_(policy_freep) Policy *p = NULL;

        ck_assert_uint_lt(strlen(bad), POLICY_FILE_SIZE_MAX);
        p = parse_ok(ok);
        ck_assert_uint_eq(policy_n_rules(p), POLICY_RULES_MAX);
        expect_errors(bad, "test.json: rules: 1025 rules, at most 1024 per file\n");
}
END_TEST

START_TEST(test_errors_capped) {
        _cleanup_free_ char *text = malloc(64 * 1024);
        _cleanup_strv_free_ char **errors = NULL;
        Policy *p = NULL;
        char *w;

        ck_assert_ptr_nonnull(text);
        w = stpcpy(text, "{\"version\": 1, \"rules\": [");
        for (int i = 0; i < 100; i++)
                w += sprintf(w, "%s{\"action\": \"maybe\"}", i ? "," : "");
        strcpy(w, "]}");
        ck_assert_int_eq(policy_parse_file("x.json", text, strlen(text), &p, &errors), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_uint_eq(strv_length(errors), POLICY_ERRORS_MAX + 1);
        ck_assert_str_eq(errors[0],
                         "x.json: rules[0].action: expected \"allow\" or \"deny\", got \"maybe\"");
        ck_assert_str_eq(errors[POLICY_ERRORS_MAX - 1],
                         "x.json: rules[63].action: expected \"allow\" or \"deny\", got \"maybe\"");
        ck_assert_str_eq(errors[POLICY_ERRORS_MAX], "... and 36 more errors");
}
END_TEST

/* ---- syntax details ---- */

START_TEST(test_comments_rejected) {
        static const char *const texts[] = {
                "{\"version\": 1 /* one */}",        "{\"version\": 1 // one\n}",
                "/* header */ {\"version\": 1}",     "{\"version\": 1}\n// trailer\n",
                "# shell comment\n{\"version\": 1}",
        };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                _cleanup_strv_free_ char **errors = NULL;
                Policy *p = NULL;

                ck_assert_int_eq(policy_parse_file("c.json", texts[i], strlen(texts[i]), &p,
                                                   &errors),
                                 -EINVAL);
                ck_assert_ptr_null(p);
                ck_assert_uint_eq(strv_length(errors), 1);
                if (i < 4)
                        ck_assert_msg(strstr(errors[0], "comments are not allowed"), "%s",
                                      errors[0]);
        }
        /* Why JSON_TOKENER_STRICT matters: json-c's default mode takes C comments silently. */
        {
                json_object *o = json_tokener_parse(texts[0]);

                ck_assert_ptr_nonnull(o);
                json_object_put(o);
        }
}
END_TEST

START_TEST(test_duplicate_keys) {
        expect_errors("{\"version\": 1, \"version\": 1}",
                      "test.json: duplicate key \"version\" (line 1, column 16)\n");
        expect_errors(
                "{\"version\": 1, \"host\": {\"require_reset\": true,\n \"require_reset\": false}}",
                "test.json: host: duplicate key \"require_reset\" (line 2, column 2)\n");
        /* The same key spelled with an escape is the same key. */
        expect_errors(
                "{\"version\": 1, \"rules\": [{\"action\": \"allow\", \"\\u0061ction\": \"deny\"}]}",
                "test.json: rules[0]: duplicate key \"action\" (line 1, column 46)\n");
        /* Three copies: the first repetition is named. */
        expect_errors(
                "{\"version\": 1, \"rules\": [{\"action\": \"allow\", \"match\": {\"group\": 1, \"group\": 2, "
                "\"group\": 3}}]}",
                "test.json: rules[0].match: duplicate key \"group\" (line 1, column 68)\n");
        /* Same names in different objects are fine. */
        {
                _cleanup_(policy_freep) Policy *p = parse_ok(
                        "{\"version\": 1, \"rules\": [{\"action\": \"allow\"}, {\"action\": \"deny\"}]}");

                ck_assert_uint_eq(policy_n_rules(p), 2);
        }
}
END_TEST

START_TEST(test_syntax_positions) {
        expect_errors("{\n  \"version\": 1,\n  \"rules\": [\n    {\"action\": \"allow\"}\n  ]\n",
                      "test.json:6:1: unexpected end of file\n");
        expect_errors("{\"version\": 1}}", "test.json:1:15: unexpected character\n");
        expect_errors(
                "{\"version\": 1, \"host\": {\"max_pinned_bytes_per_uid\": 99999999999999999999}}",
                "test.json: host.max_pinned_bytes_per_uid: integer 99999999999999999999 is out of range\n");
        expect_errors("{\"version\": -9223372036854775809}",
                      "test.json: version: integer -9223372036854775809 is out of range\n");
        expect_errors(
                "{\"version\": 9223372036854775807}",
                "test.json: version: unsupported version 9223372036854775807 (this vfio-assignd reads version 1)\n");
        expect_errors("{\"version\": 1, \"rules\": [{\"action\": 'allow'}]}",
                      "test.json:1:37: strings must be in double quotes\n");
        expect_errors("{\"version\": 1, \"host\": {\"max_pinned_bytes_per_uid\": 1.}}",
                      "test.json:1:53: invalid number: a digit must follow \".\"\n");
}
END_TEST

START_TEST(test_nul_and_binary) {
        static const char with_nul[] = "{\"version\": 1,\n\"rules\": [\0]}";

        expect_errors_n(with_nul, sizeof(with_nul) - 1, "test.json:2:11: NUL byte in the file\n");
        expect_errors_n("", 0,
                        "test.json: empty file (a policy file needs at least {\"version\": 1})\n");
        expect_errors_n(
                "\xef\xbb\xbf{\"version\": 1}", 17,
                "test.json:1:1: byte order mark at the start of the file (not allowed in JSON)\n");
        expect_errors(
                "{\"version\": 1, \"rules\": [{\"action\": \"allow\", \"description\": \"\xc3\"}]}",
                "test.json:1:63: invalid UTF-8\n");
        /* A NULL text with size 0 is an empty file, not a crash. */
        {
                _cleanup_strv_free_ char **errors = NULL;
                Policy *p = NULL;

                ck_assert_int_eq(policy_parse_file("n.json", NULL, 0, &p, &errors), -EINVAL);
                ck_assert_uint_eq(strv_length(errors), 1);
                ck_assert_int_eq(policy_parse_file("n.json", NULL, 5, &p, NULL), -EINVAL);
        }
}
END_TEST

/* ---- parsed values ---- */

START_TEST(test_host_values) {
        static const struct {
                const char *value;
                uint64_t bytes;
        } sizes[] = {
                { "0", 0 },
                { "4096", 4096 },
                { "\"4096\"", 4096 },
                { "\"1K\"", 1024 },
                { "\"512M\"", UINT64_C(512) << 20 },
                { "\"64G\"", UINT64_C(64) << 30 },
                { "\"1T\"", UINT64_C(1) << 40 },
                { "\"16777215T\"", UINT64_C(16777215) << 40 },
                { "\"unlimited\"", UINT64_MAX },
                { "9223372036854775807", UINT64_C(9223372036854775807) },
        };
        _cleanup_(policy_freep) Policy *d = NULL;

        ck_assert_int_eq(policy_new_default(&d), 0);
        ck_assert(policy_host(d)->require_interrupt_remapping);
        ck_assert(!policy_host(d)->allow_unsafe_interrupts);
        ck_assert(policy_host(d)->restore_driver_on_release);
        ck_assert(!policy_host(d)->require_reset);
        ck_assert_int_eq(policy_host(d)->on_holder_exit, ON_HOLDER_EXIT_RELEASE);
        ck_assert_uint_eq(policy_host(d)->max_pinned_bytes_per_uid, UINT64_MAX);
        ck_assert_uint_eq(policy_n_rules(d), 0);
        ck_assert_ptr_null(policy_files(d));

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_(policy_freep) Policy *p = NULL;

                ck_assert_int_ge(
                        asprintf(&text,
                                 "{\"version\": 1, \"host\": {\"max_pinned_bytes_per_uid\": %s}}",
                                 sizes[i].value),
                        0);
                p = parse_ok(text);
                ck_assert_msg(policy_host(p)->max_pinned_bytes_per_uid == sizes[i].bytes, "%s",
                              sizes[i].value);
                ck_assert_str_eq(policy_host_source(p, "max_pinned_bytes_per_uid"), "test.json");
                ck_assert_ptr_null(policy_host_source(p, "require_reset"));
        }
        {
                _cleanup_(policy_freep) Policy *p = parse_ok(
                        "{\"version\": 1, \"host\": {\"require_interrupt_remapping\": false, "
                        "\"allow_unsafe_interrupts\": true, \"restore_driver_on_release\": false, "
                        "\"on_holder_exit\": \"keep\", \"require_reset\": true}}");

                ck_assert(!policy_host(p)->require_interrupt_remapping);
                ck_assert(policy_host(p)->allow_unsafe_interrupts);
                ck_assert(!policy_host(p)->restore_driver_on_release);
                ck_assert(policy_host(p)->require_reset);
                ck_assert_int_eq(policy_host(p)->on_holder_exit, ON_HOLDER_EXIT_KEEP);
                ck_assert_uint_eq(policy_host(p)->max_pinned_bytes_per_uid, UINT64_MAX);
                ck_assert_ptr_null(policy_host_source(p, "max_pinned_bytes_per_uid"));
                ck_assert_ptr_null(policy_host_source(p, "no_such_key"));
        }
}
END_TEST

START_TEST(test_to_json) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{\"version\": 1, \"host\": {\"max_pinned_bytes_per_uid\": \"2G\"}, \"rules\": ["
                "{\"description\": \"GPUs\", \"match\": {\"vendor\": \"0x10DE\", \"class\": \"0x03\", "
                "\"address\": \"0000:0[1-2]:*\", \"physfn\": \"0000:3b:00.0\", \"group\": 7, \"numa_node\": 1, "
                "\"boot_vga\": false, \"host_critical\": true, \"driver\": \"nouveau\", \"device\": \"0x1b80\", "
                "\"subsystem_vendor\": \"0x1458\", \"subsystem_device\": \"0x3702\"}, \"action\": \"allow\", "
                "\"users\": [\"vmm\"], \"prepare_at_boot\": true},"
                "{\"match\": {\"class\": \"0x020000\", \"physfn\": true}, \"action\": \"deny\", \"groups\": [\"kvm\"], "
                "\"reason\": \"no\"}]}");
        json_object *j = NULL;
        const char *s;

        ck_assert_int_eq(policy_to_json(p, &j), 0);
        s = json_object_to_json_string_ext(j,
                                           JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        ck_assert_str_eq(
                s,
                "{\"files\":[\"test.json\"],\"host\":{\"require_interrupt_remapping\":true,"
                "\"allow_unsafe_interrupts\":false,\"restore_driver_on_release\":true,\"on_holder_exit\":\"release\","
                "\"max_pinned_bytes_per_uid\":2147483648,\"require_reset\":false},"
                "\"host_sources\":{\"max_pinned_bytes_per_uid\":\"test.json\"},"
                "\"rules\":[{\"file\":\"test.json\",\"index\":0,\"description\":\"GPUs\",\"action\":\"allow\","
                "\"match\":{\"address\":\"0000:0[1-2]:*\",\"vendor\":\"0x10de\",\"device\":\"0x1b80\","
                "\"subsystem_vendor\":\"0x1458\",\"subsystem_device\":\"0x3702\",\"class\":\"0x03*\",\"group\":7,"
                "\"driver\":\"nouveau\",\"boot_vga\":false,\"host_critical\":true,\"numa_node\":1,"
                "\"physfn\":\"0000:3b:00.0\"},\"users\":[\"vmm\"],\"groups\":null,\"reason\":null,"
                "\"prepare_at_boot\":true,\"backend\":null,\"vfio_driver\":null},"
                "{\"file\":\"test.json\",\"index\":1,\"description\":null,\"action\":\"deny\","
                "\"match\":{\"class\":\"0x020000\",\"physfn\":true},\"users\":null,\"groups\":[\"kvm\"],"
                "\"reason\":\"no\",\"prepare_at_boot\":false,\"backend\":null,\"vfio_driver\":null}]}");
        json_object_put(j);

        /* The default policy: no files, unlimited pinning. */
        {
                _cleanup_(policy_freep) Policy *d = NULL;

                ck_assert_int_eq(policy_new_default(&d), 0);
                ck_assert_int_eq(policy_to_json(d, &j), 0);
                ck_assert_str_eq(
                        json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                        "{\"files\":[],\"host\":{\"require_interrupt_remapping\":true,"
                        "\"allow_unsafe_interrupts\":false,\"restore_driver_on_release\":true,"
                        "\"on_holder_exit\":\"release\",\"max_pinned_bytes_per_uid\":\"unlimited\","
                        "\"require_reset\":false},\"host_sources\":{},\"rules\":[]}");
                json_object_put(j);
        }
}
END_TEST

/* ---- matching ---- */

static bool allowed_for(const char *match, const Device *d) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        PolicyVerdict v = POLICY_VERDICT_INIT;
        bool allowed;

        ck_assert_int_ge(
                asprintf(&text,
                         "{\"version\": 1, \"rules\": [{\"match\": %s, \"action\": \"allow\", "
                         "\"users\": [\"vmm\"]}]}",
                         match),
                0);
        p = parse_ok(text);
        eval_device(p, d, &VMM, &v);
        allowed = v.allowed;
        if (allowed) {
                ck_assert_str_eq(v.rule_file, "test.json");
                ck_assert_int_eq(v.rule_index, 0);
                ck_assert_int_eq(v.code, POLICY_DENY_NONE);
                ck_assert_ptr_null(v.device);
        } else {
                ck_assert_int_eq(v.code, POLICY_DENY_DEFAULT);
                ck_assert_ptr_null(v.rule_file);
                ck_assert_int_eq(v.rule_index, -1);
                ck_assert_str_eq(v.device, d->address);
        }
        ck_assert_uint_ge(strv_length(v.reasons), 1);
        policy_verdict_clear(&v);
        return allowed;
}

START_TEST(test_match_keys) {
        Device gpu = DEV("0000:01:00.0", 0x10de, 0x1b80, 0x030000);
        Device vf = DEV("0000:3b:02.1", 0x8086, 0x154c, 0x020000);
        Device nvme = DEV("0001:82:00.0", 0x144d, 0xa808, 0x010802);

        gpu.driver = (char *) "nouveau";
        gpu.group = 12;
        gpu.numa_node = 0;
        gpu.boot_vga = 1;
        vf.physfn = (char *) "0000:3b:00.0";
        vf.numa_node = 1;
        nvme.boot_vga = -1;

        ck_assert(allowed_for("{}", &gpu));
        ck_assert(allowed_for("{\"address\": \"0000:01:00.0\"}", &gpu));
        ck_assert(!allowed_for("{\"address\": \"0000:01:00.1\"}", &gpu));
        ck_assert(allowed_for("{\"address\": \"*:01:00.*\"}", &gpu));
        ck_assert(allowed_for("{\"address\": \"0000:0[0-1]:00.?\"}", &gpu));
        ck_assert(!allowed_for("{\"address\": \"0000:0[2-9]:00.?\"}", &gpu));
        ck_assert(allowed_for("{\"address\": \"0001:*\"}", &nvme));
        ck_assert(!allowed_for("{\"address\": \"0000:*\"}", &nvme));
        ck_assert(allowed_for("{\"vendor\": \"0x10de\"}", &gpu));
        ck_assert(allowed_for("{\"vendor\": \"0x10DE\"}", &gpu));
        ck_assert(!allowed_for("{\"vendor\": \"0x1002\"}", &gpu));
        ck_assert(allowed_for("{\"device\": \"0x1b80\"}", &gpu));
        ck_assert(!allowed_for("{\"device\": \"0x1b81\"}", &gpu));
        ck_assert(allowed_for(
                "{\"subsystem_vendor\": \"0x1458\", \"subsystem_device\": \"0x3702\"}", &gpu));
        ck_assert(!allowed_for(
                "{\"subsystem_vendor\": \"0x1458\", \"subsystem_device\": \"0x3703\"}", &gpu));
        ck_assert(!allowed_for("{\"subsystem_vendor\": \"0x1459\"}", &gpu));
        /* class: 2 and 4 digits compare prefixes, 6 digits the whole code; "*" changes nothing. */
        ck_assert(allowed_for("{\"class\": \"0x03\"}", &gpu));
        ck_assert(allowed_for("{\"class\": \"0x03*\"}", &gpu));
        ck_assert(allowed_for("{\"class\": \"0x0300\"}", &gpu));
        ck_assert(allowed_for("{\"class\": \"0x0300*\"}", &gpu));
        ck_assert(allowed_for("{\"class\": \"0x030000\"}", &gpu));
        ck_assert(!allowed_for("{\"class\": \"0x030001\"}", &gpu));
        ck_assert(!allowed_for("{\"class\": \"0x0302\"}", &gpu));
        ck_assert(!allowed_for("{\"class\": \"0x02\"}", &gpu));
        ck_assert(allowed_for("{\"class\": \"0x0108\"}", &nvme));
        ck_assert(allowed_for("{\"group\": 12}", &gpu));
        ck_assert(!allowed_for("{\"group\": 13}", &gpu));
        ck_assert(!allowed_for("{\"group\": 0}", &nvme)); /* no group (-1) */
        ck_assert(allowed_for("{\"driver\": \"nouveau\"}", &gpu));
        ck_assert(!allowed_for("{\"driver\": \"nvidia\"}", &gpu));
        ck_assert(!allowed_for("{\"driver\": \"nvme\"}", &nvme)); /* unbound */
        ck_assert(allowed_for("{\"boot_vga\": true}", &gpu));
        ck_assert(!allowed_for("{\"boot_vga\": false}", &gpu));
        ck_assert(allowed_for("{\"boot_vga\": false}",
                              &nvme)); /* no attribute = not the boot VGA */
        ck_assert(!allowed_for("{\"boot_vga\": true}", &nvme));
        ck_assert(allowed_for("{\"host_critical\": false}", &gpu));
        ck_assert(!allowed_for("{\"host_critical\": true}", &gpu));
        ck_assert(allowed_for("{\"numa_node\": 0}", &gpu));
        ck_assert(allowed_for("{\"numa_node\": 1}", &vf));
        ck_assert(!allowed_for("{\"numa_node\": 0}", &nvme)); /* unknown (-1) */
        ck_assert(allowed_for("{\"physfn\": true}", &vf));
        ck_assert(!allowed_for("{\"physfn\": true}", &gpu));
        ck_assert(allowed_for("{\"physfn\": false}", &gpu));
        ck_assert(!allowed_for("{\"physfn\": false}", &vf));
        ck_assert(allowed_for("{\"physfn\": \"0000:3b:00.*\"}", &vf));
        ck_assert(!allowed_for("{\"physfn\": \"0000:3b:00.1\"}", &vf));
        ck_assert(!allowed_for("{\"physfn\": \"*\"}", &gpu));
        /* All keys must match. */
        ck_assert(allowed_for("{\"vendor\": \"0x10de\", \"class\": \"0x03*\", \"group\": 12}",
                              &gpu));
        ck_assert(!allowed_for("{\"vendor\": \"0x10de\", \"class\": \"0x04*\", \"group\": 12}",
                               &gpu));
}
END_TEST

/* ---- the evaluation matrix ---- */

static const char *const MATRIX_POLICY =
        "{\"version\": 1, \"rules\": ["
        /* 0 */
        "{\"match\": {\"boot_vga\": true}, \"action\": \"deny\", \"reason\": \"host console\"},"
        /* 1 */
        "{\"description\": \"GPUs\", \"match\": {\"vendor\": \"0x10de\", \"class\": \"0x03*\"}, "
        "\"action\": \"allow\", \"users\": [\"vmm\"], \"groups\": [\"kvm\"]},"
        /* 2 */
        "{\"match\": {\"vendor\": \"0x10de\"}, \"action\": \"allow\", \"users\": [\"vmm\"]},"
        /* 3 */
        "{\"match\": {\"vendor\": \"0x8086\"}, \"action\": \"deny\", \"users\": [\"root\", \"eve\"], "
        "\"reason\": \"Intel devices stay with the host\"},"
        /* 4 */
        "{\"match\": {\"class\": \"0x0200*\"}, \"action\": \"allow\", \"groups\": [\"users\"]},"
        /* 5 */
        "{\"match\": {\"address\": \"0000:00:1f.6\"}, \"action\": \"allow\", \"users\": [\"vmm\"]},"
        /* 6 */
        "{\"match\": {\"host_critical\": true, \"vendor\": \"0x15b3\"}, \"action\": \"allow\", "
        "\"users\": [\"vmm\"]},"
        /* 7 */
        "{\"match\": {\"address\": \"0000:5e:*\"}, \"action\": \"allow\", \"users\": [\"vmm\"]}"
        "]}";

typedef struct MatrixCase {
        int device; /* index into the devices below */
        const PolicyCaller *caller;
        bool allowed;
        int code;
        int rule; /* -1 = default */
} MatrixCase;

START_TEST(test_device_matrix) {
        _cleanup_(policy_freep) Policy *p = parse_ok(MATRIX_POLICY);
        Device devs[] = {
                DEV("0000:01:00.0", 0x10de, 0x1b80, 0x030000), /* 0 GPU */
                DEV("0000:01:00.1", 0x10de, 0x10f0, 0x040300), /* 1 GPU audio */
                DEV("0000:02:00.0", 0x10de, 0x1c03, 0x030000), /* 2 boot VGA GPU */
                DEV("0000:03:00.0", 0x8086, 0x1533, 0x020000), /* 3 Intel NIC */
                DEV("0000:04:00.0", 0x14e4, 0x1657, 0x020000), /* 4 Broadcom NIC */
                DEV("0000:00:1f.6", 0x8086, 0x15bc, 0x020000), /* 5 host NIC, host-critical */
                DEV("0000:5e:00.0", 0x15b3, 0x1017, 0x020000), /* 6 Mellanox, host-critical */
                DEV("0000:5f:00.0", 0x144d, 0xa808, 0x010802), /* 7 NVMe */
                DEV("0000:5e:00.1", 0x14e4, 0x1657, 0x020000), /* 8 Broadcom, host-critical */
        };
        static const MatrixCase cases[] = {
                /* GPU: users, groups, strangers, root by default */
                { 0, &VMM, true, POLICY_DENY_NONE, 1 },
                { 0, &ALICE, true, POLICY_DENY_NONE, 1 },
                { 0, &EVE, false, POLICY_DENY_DEFAULT, -1 },
                { 0, &NONAME, false, POLICY_DENY_DEFAULT, -1 },
                { 0, &ROOT, true, POLICY_DENY_NONE, -1 },
                { 0, &ROOT_NONAME, true, POLICY_DENY_NONE, -1 },
                /* GPU audio: rule 1 does not match (class), rule 2 is for vmm only */
                { 1, &VMM, true, POLICY_DENY_NONE, 2 },
                { 1, &ALICE, false, POLICY_DENY_DEFAULT, -1 },
                /* boot VGA: the deny rule comes first, for everyone including root */
                { 2, &VMM, false, POLICY_DENY_RULE, 0 },
                { 2, &ALICE, false, POLICY_DENY_RULE, 0 },
                { 2, &ROOT, false, POLICY_DENY_RULE, 0 },
                { 2, &ROOT_NONAME, false, POLICY_DENY_RULE, 0 },
                /* Intel NIC: deny for root and eve (root is bound by deny rules), allow for group
                   users */
                { 3, &ROOT, false, POLICY_DENY_RULE, 3 },
                { 3, &EVE, false, POLICY_DENY_RULE, 3 },
                { 3, &VMM, false, POLICY_DENY_DEFAULT, -1 },
                { 3, &ALICE, false, POLICY_DENY_DEFAULT, -1 },
                /* ROOT_NONAME is uid 0 without a name: "root" in users does not match it */
                { 3, &ROOT_NONAME, true, POLICY_DENY_NONE, -1 },
                { 4, &EVE, true, POLICY_DENY_NONE, 4 },
                { 4, &ROOT, true, POLICY_DENY_NONE, -1 },
                /* host-critical: exact address names it; a wildcard does not; host_critical: true
                   does */
                { 5, &VMM, true, POLICY_DENY_NONE, 5 },
                { 5, &ROOT, false, POLICY_DENY_RULE, 3 },
                { 5, &EVE, false, POLICY_DENY_RULE, 3 },
                { 5, &ROOT_NONAME, false, POLICY_DENY_HOST_CRITICAL, -1 },
                { 8, &VMM, false, POLICY_DENY_HOST_CRITICAL, 7 },
                { 8, &EVE, false, POLICY_DENY_HOST_CRITICAL, 4 },
                { 6, &VMM, true, POLICY_DENY_NONE, 6 },
                { 6, &ROOT, false, POLICY_DENY_HOST_CRITICAL, -1 },
                /* NVMe: nobody but root */
                { 7, &VMM, false, POLICY_DENY_DEFAULT, -1 },
                { 7, &ROOT, true, POLICY_DENY_NONE, -1 },
        };

        devs[2].boot_vga = 1;
        devs[5].host_critical = (char *) "carries the default route (eno1)";
        devs[6].host_critical = (char *) "holds the root file system";
        devs[8].host_critical = (char *) "carries the default route (eno3)";

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const MatrixCase *m = &cases[i];
                const Device *d = &devs[m->device];
                PolicyVerdict v = POLICY_VERDICT_INIT;

                eval_device(p, d, m->caller, &v);
                ck_assert_msg(v.allowed == m->allowed && v.code == m->code &&
                                      v.rule_index == m->rule,
                              "case %zu (%s, uid %u): allowed=%d code=%d rule=%d", i, d->address,
                              m->caller->uid, v.allowed, v.code, v.rule_index);
                ck_assert_uint_ge(strv_length(v.reasons), 1);
                ck_assert_msg(any_contains(v.reasons, d->address), "case %zu: %s", i, v.reasons[0]);
                if (m->rule >= 0)
                        ck_assert_str_eq(v.rule_file, "test.json");
                if (!v.allowed)
                        ck_assert_str_eq(v.device, d->address);
                else
                        ck_assert_ptr_null(v.device);
                ck_assert(!v.set_unsafe_interrupts);
                ck_assert_ptr_null(v.ir_denial_key);
                policy_verdict_clear(&v);
        }

        /* The reasons name the rule as file#index and say why. */
        {
                PolicyVerdict v = POLICY_VERDICT_INIT;

                eval_device(p, &devs[2], &ROOT, &v);
                assert_reason(
                        &v,
                        "0000:02:00.0 is denied for user root (uid 0) by rule test.json#0: host console");
                policy_verdict_clear(&v);
                eval_device(p, &devs[0], &ALICE, &v);
                assert_reason(
                        &v,
                        "0000:01:00.0 is allowed for user alice (uid 1001) by rule test.json#1 (\"GPUs\")");
                policy_verdict_clear(&v);
                eval_device(p, &devs[7], &NONAME, &v);
                assert_reason(&v, "no rule matches 0000:5f:00.0 for uid 1003");
                policy_verdict_clear(&v);
                eval_device(p, &devs[8], &VMM, &v);
                assert_reason(
                        &v,
                        "0000:5e:00.1 is needed by the host (carries the default route (eno3)) and rule "
                        "test.json#7 does not name it explicitly");
                policy_verdict_clear(&v);
        }
}
END_TEST

START_TEST(test_first_match_wins) {
        Device nic = DEV("0000:03:00.0", 0x8086, 0x1533, 0x020000);
        _cleanup_(policy_freep) Policy *allow_first = parse_ok(
                "{\"version\": 1, \"rules\": [{\"match\": {\"vendor\": \"0x8086\"}, \"action\": \"allow\"},"
                "{\"match\": {}, \"action\": \"deny\"}]}");
        _cleanup_(policy_freep) Policy *deny_first =
                parse_ok("{\"version\": 1, \"rules\": [{\"match\": {}, \"action\": \"deny\"},"
                         "{\"match\": {\"vendor\": \"0x8086\"}, \"action\": \"allow\"}]}");
        PolicyVerdict v = POLICY_VERDICT_INIT;

        eval_device(allow_first, &nic, &EVE, &v);
        ck_assert(v.allowed);
        ck_assert_int_eq(v.rule_index, 0);
        policy_verdict_clear(&v);
        eval_device(deny_first, &nic, &EVE, &v);
        ck_assert(!v.allowed);
        ck_assert_int_eq(v.code, POLICY_DENY_RULE);
        ck_assert_int_eq(v.rule_index, 0);
        assert_reason(&v, "by rule test.json#0");
        policy_verdict_clear(&v);
        /* A rule for other callers is skipped, not a stop. */
        {
                _cleanup_(policy_freep) Policy *p = parse_ok(
                        "{\"version\": 1, \"rules\": [{\"match\": {}, \"action\": \"deny\", \"users\": [\"vmm\"]},"
                        "{\"match\": {}, \"action\": \"allow\", \"groups\": [\"users\"]}]}");

                eval_device(p, &nic, &EVE, &v);
                ck_assert(v.allowed);
                ck_assert_int_eq(v.rule_index, 1);
                policy_verdict_clear(&v);
                eval_device(p, &nic, &VMM, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.rule_index, 0);
                policy_verdict_clear(&v);
        }
        /* Clearing twice and clearing NULL are fine. */
        policy_verdict_clear(&v);
        policy_verdict_clear(NULL);
        ck_assert_int_eq(v.rule_index, -1);
}
END_TEST

/* A topology of hand-made devices; groups list member addresses. */
typedef struct Fixture {
        Device gpu, audio, bridge, nic, hostnic;
        Device *list[5];
        Topology t;
} Fixture;

static void fixture_init(Fixture *f) {
        f->gpu = DEV("0000:01:00.0", 0x10de, 0x1b80, 0x030000);
        f->audio = DEV("0000:01:00.1", 0x10de, 0x10f0, 0x040300);
        f->bridge = DEV("0000:00:01.0", 0x8086, 0x1901, 0x060400);
        f->nic = DEV("0000:03:00.0", 0x14e4, 0x1657, 0x020000);
        f->hostnic = DEV("0000:03:00.1", 0x14e4, 0x1657, 0x020000);
        f->bridge.bridge = true;
        f->hostnic.host_critical = (char *) "carries the default route (eno2)";
        f->gpu.group = f->audio.group = f->bridge.group = 1;
        f->nic.group = f->hostnic.group = 3;
        f->list[0] = &f->bridge;
        f->list[1] = &f->gpu;
        f->list[2] = &f->audio;
        f->list[3] = &f->nic;
        f->list[4] = &f->hostnic;
        f->t = (Topology) { .devices = f->list, .n_devices = ELEMENTSOF(f->list) };
}

static char *gpu_group_members[] = { (char *) "0000:00:01.0", (char *) "0000:01:00.0",
                                     (char *) "0000:01:00.1", NULL };
static char *nic_group_members[] = { (char *) "0000:03:00.0", (char *) "0000:03:00.1", NULL };

START_TEST(test_group_bridges_and_members) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{\"version\": 1, \"rules\": ["
                "{\"match\": {\"vendor\": \"0x10de\", \"class\": \"0x03*\"}, \"action\": \"allow\", \"users\": [\"vmm\"]},"
                "{\"match\": {\"vendor\": \"0x10de\", \"class\": \"0x0403*\"}, \"action\": \"allow\", "
                "\"groups\": [\"kvm\"]}]}");
        Group g = { .id = 1, .devices = gpu_group_members };
        HostInfo h = host_with(IR_ENABLED, 0);
        PolicyVerdict v = POLICY_VERDICT_INIT;
        Fixture f;

        fixture_init(&f);

        /* alice (kvm) gets the audio function but not the GPU: the whole group is denied and the
         * GPU is named. The bridge is skipped (no rule would match it for anyone but root). */
        eval_group(p, &f.t, &g, &h, &ALICE, &v);
        ck_assert(!v.allowed);
        ck_assert_int_eq(v.code, POLICY_DENY_DEFAULT);
        ck_assert_str_eq(v.device, "0000:01:00.0");
        ck_assert_ptr_null(v.rule_file);
        ck_assert(!any_contains(v.reasons, "0000:00:01.0"));
        assert_reason(&v, "0000:01:00.1 is allowed for user alice");
        policy_verdict_clear(&v);

        /* vmm: the GPU by rule 0, the audio function by no rule. */
        eval_group(p, &f.t, &g, &h, &VMM, &v);
        ck_assert(!v.allowed);
        ck_assert_str_eq(v.device, "0000:01:00.1");
        policy_verdict_clear(&v);

        /* A caller allowed both: the bridge does not need a rule. */
        {
                char *both[] = { (char *) "vmm", (char *) "kvm", NULL };
                PolicyCaller c = { .uid = 1000, .user = "vmm", .groups = both };

                eval_group(p, &f.t, &g, &h, &c, &v);
                ck_assert(v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_NONE);
                ck_assert_str_eq(v.rule_file, "test.json");
                ck_assert_int_eq(v.rule_index, 0); /* the first assignable member's rule */
                ck_assert_ptr_null(v.device);
                ck_assert_uint_eq(strv_length(v.reasons), 2);
                ck_assert(!v.set_unsafe_interrupts);
                policy_verdict_clear(&v);
        }

        /* Root: default allows every member. */
        eval_group(p, &f.t, &g, &h, &ROOT, &v);
        ck_assert(v.allowed);
        ck_assert_int_eq(v.rule_index, -1);
        ck_assert_ptr_null(v.rule_file);
        policy_verdict_clear(&v);

        /* The topology's blockers for a member it cannot read and for a group of bridges only
         * (topology_derive() sets them, test-model checks that) deny everyone and name the
         * member; the policy adds no verdict of its own for those members. */
        {
                char *members[] = { (char *) "0000:01:00.0", (char *) "0000:09:00.0", NULL };
                Blocker unreadable = {
                        .code = (char *) "unreadable",
                        .device = (char *) "0000:09:00.0",
                        .reason = (char *) "0000:09:00.0 is listed in IOMMU group 9 but "
                                           "its device cannot be read"
                };
                Group g2 = {
                        .id = 9, .devices = members, .blockers = &unreadable, .n_blockers = 1
                };

                eval_group(p, &f.t, &g2, &h, &ROOT, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_BLOCKER);
                ck_assert_str_eq(v.device, "0000:09:00.0");
                assert_reason(&v,
                              "group 9 cannot be assigned (unreadable): 0000:09:00.0 is listed");
                policy_verdict_clear(&v);
        }
        {
                char *members[] = { (char *) "0000:00:01.0", NULL };
                Blocker bridges = {
                        .code = (char *) "no-endpoint",
                        .reason = (char *) "group 2 has only bridges: nothing in it can be assigned"
                };
                Group g2 = { .id = 2, .devices = members, .blockers = &bridges, .n_blockers = 1 };

                eval_group(p, &f.t, &g2, &h, &ROOT, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_BLOCKER);
                assert_reason(&v, "group 2 cannot be assigned (no-endpoint)");
                ck_assert_uint_eq(strv_length(v.reasons), 1);
                policy_verdict_clear(&v);
        }
}
END_TEST

START_TEST(test_group_host_critical) {
        _cleanup_(policy_freep) Policy *wild = parse_ok(
                "{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"0000:03:00.*\"}, \"action\": \"allow\", "
                "\"users\": [\"vmm\"]}]}");
        _cleanup_(policy_freep) Policy *exact = parse_ok(
                "{\"version\": 1, \"rules\": ["
                "{\"match\": {\"address\": \"0000:03:00.1\"}, \"action\": \"allow\", \"users\": [\"vmm\"]},"
                "{\"match\": {\"address\": \"0000:03:00.0\"}, \"action\": \"allow\", \"users\": [\"vmm\"]}]}");
        _cleanup_(policy_freep) Policy *flag = parse_ok(
                "{\"version\": 1, \"rules\": [{\"match\": {\"host_critical\": true}, \"action\": \"allow\", "
                "\"users\": [\"vmm\"]}, {\"match\": {}, \"action\": \"allow\", \"users\": [\"vmm\"]}]}");
        Group g = { .id = 3, .devices = nic_group_members };
        HostInfo h = host_with(IR_ENABLED, 0);
        PolicyVerdict v = POLICY_VERDICT_INIT;
        Fixture f;

        fixture_init(&f);
        /* The topology's host-critical blocker is there too; it is handled per member. */
        Blocker b = { .code = (char *) BLOCKER_HOST_CRITICAL,
                      .device = (char *) "0000:03:00.1",
                      .reason = (char *) "0000:03:00.1 carries the default route (eno2)" };
        g.blockers = &b;
        g.n_blockers = 1;

        eval_group(wild, &f.t, &g, &h, &VMM, &v);
        ck_assert(!v.allowed);
        ck_assert_int_eq(v.code, POLICY_DENY_HOST_CRITICAL);
        ck_assert_str_eq(v.device, "0000:03:00.1");
        ck_assert_str_eq(v.rule_file, "test.json");
        ck_assert_int_eq(v.rule_index, 0);
        assert_reason(&v, "does not name it explicitly");
        policy_verdict_clear(&v);

        eval_group(exact, &f.t, &g, &h, &VMM, &v);
        ck_assert(v.allowed);
        ck_assert_int_eq(v.rule_index, 1); /* the first member, 0000:03:00.0, matched rule 1 */
        policy_verdict_clear(&v);

        eval_group(flag, &f.t, &g, &h, &VMM, &v);
        ck_assert(v.allowed);
        policy_verdict_clear(&v);

        /* Root's default does not name anything. */
        eval_group(wild, &f.t, &g, &h, &ROOT, &v);
        ck_assert(!v.allowed);
        ck_assert_int_eq(v.code, POLICY_DENY_HOST_CRITICAL);
        ck_assert_ptr_null(v.rule_file);
        assert_reason(&v, "no rule names it explicitly");
        policy_verdict_clear(&v);

        /* A host-critical bridge is never skipped. */
        f.bridge.host_critical = (char *) "odd, but possible";
        {
                _cleanup_(policy_freep) Policy *all =
                        parse_ok("{\"version\": 1, \"rules\": [{\"match\": "
                                 "{\"host_critical\": true}, \"action\": \"allow\"}]}");
                Group gg = { .id = 1, .devices = gpu_group_members };

                eval_group(all, &f.t, &gg, &h, &ROOT, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_HOST_CRITICAL);
                ck_assert_str_eq(v.device, "0000:00:01.0");
                policy_verdict_clear(&v);
        }
}
END_TEST

START_TEST(test_group_blockers) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"0000:01:00.0\"}, \"action\": \"allow\"},"
                "{\"match\": {\"host_critical\": true}, \"action\": \"allow\"}, {\"match\": {}, \"action\": \"allow\"}]}");
        static const char *const codes[] = { BLOCKER_RMRR, BLOCKER_NO_IOMMU, BLOCKER_VFIO_NOIOMMU,
                                             BLOCKER_IDENTITY };
        HostInfo h = host_with(IR_ENABLED, 0);
        Fixture f;

        fixture_init(&f);
        for (size_t i = 0; i < ELEMENTSOF(codes); i++)
                for (int who = 0; who < 3; who++) {
                        const PolicyCaller *c = who == 0 ? &ROOT : who == 1 ? &VMM : &EVE;
                        Blocker b = { .code = (char *) codes[i],
                                      .device = i == 0 ? (char *) "0000:01:00.0" : NULL,
                                      .reason = (char *) "the reason from the topology" };
                        Group g = { .id = 1,
                                    .devices = gpu_group_members,
                                    .blockers = &b,
                                    .n_blockers = 1 };
                        PolicyVerdict v = POLICY_VERDICT_INIT;

                        eval_group(p, &f.t, &g, &h, c, &v);
                        ck_assert_msg(!v.allowed, "%s overridden", codes[i]);
                        ck_assert_int_eq(v.code, POLICY_DENY_BLOCKER);
                        if (i == 0)
                                ck_assert_str_eq(v.device, "0000:01:00.0");
                        else
                                ck_assert_ptr_null(v.device);
                        ck_assert_ptr_null(v.rule_file);
                        assert_reason(&v, codes[i]);
                        assert_reason(&v, "the reason from the topology");
                        assert_reason(&v, "no policy overrides this");
                        policy_verdict_clear(&v);
                }
}
END_TEST

START_TEST(test_group_require_reset) {
        _cleanup_(policy_freep) Policy *lax = parse_ok("{\"version\": 1}");
        _cleanup_(policy_freep)
                Policy *strict = parse_ok("{\"version\": 1, \"host\": {\"require_reset\": true}}");
        char *flr[] = { (char *) "flr", (char *) "bus", NULL };
        Group g = { .id = 1, .devices = gpu_group_members };
        HostInfo h = host_with(IR_ENABLED, 0);
        PolicyVerdict v = POLICY_VERDICT_INIT;
        Fixture f;

        fixture_init(&f);
        f.gpu.reset_methods = flr;
        /* audio has no reset method; the bridge does not count. */
        eval_group(lax, &f.t, &g, &h, &ROOT, &v);
        ck_assert(v.allowed);
        policy_verdict_clear(&v);
        eval_group(strict, &f.t, &g, &h, &ROOT, &v);
        ck_assert(!v.allowed);
        ck_assert_int_eq(v.code, POLICY_DENY_NO_RESET);
        ck_assert_str_eq(v.device, "0000:01:00.1");
        assert_reason(&v, "host.require_reset");
        policy_verdict_clear(&v);
        f.audio.reset_methods = flr;
        eval_group(strict, &f.t, &g, &h, &ROOT, &v);
        ck_assert(v.allowed);
        policy_verdict_clear(&v);

        /* A "no-reset" blocker from the topology counts only with require_reset. */
        {
                Blocker b = { .code = (char *) BLOCKER_NO_RESET,
                              .device = (char *) "0000:01:00.0",
                              .reason = (char *) "0000:01:00.0 cannot be reset" };

                g.blockers = &b;
                g.n_blockers = 1;
                eval_group(lax, &f.t, &g, &h, &ROOT, &v);
                ck_assert(v.allowed);
                policy_verdict_clear(&v);
                eval_group(strict, &f.t, &g, &h, &ROOT, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_NO_RESET);
                ck_assert_str_eq(v.device, "0000:01:00.0");
                policy_verdict_clear(&v);
        }
}
END_TEST

/* IR verdict x allow_unsafe_interrupts x kernel parameter already set. */
START_TEST(test_interrupt_remapping_matrix) {
        static const IrVerdict irs[] = { IR_ENABLED, IR_DISABLED, IR_UNSUPPORTED, IR_UNKNOWN };
        static const char *const ir_words[] = { "enabled", "disabled", "unsupported", "unknown" };
        Group g = { .id = 3, .devices = nic_group_members };
        Fixture f;

        fixture_init(&f);
        f.hostnic.host_critical = NULL;
        for (int allow = 0; allow <= 1; allow++) {
                _cleanup_(policy_freep) Policy *p = parse_ok(
                        allow ? "{\"version\": 1, \"host\": {\"allow_unsafe_interrupts\": true}}"
                              : "{\"version\": 1}");

                for (size_t i = 0; i < ELEMENTSOF(irs); i++)
                        for (int param = 0; param <= 1; param++) {
                                HostInfo h = host_with(irs[i], param);
                                PolicyVerdict v = POLICY_VERDICT_INIT;
                                bool ir_ok = irs[i] == IR_ENABLED;

                                eval_group(p, &f.t, &g, &h, &ROOT, &v);
                                if (ir_ok && !param) {
                                        /* Nothing to say about interrupts. */
                                        ck_assert(v.allowed);
                                        ck_assert(!v.set_unsafe_interrupts);
                                        ck_assert(!any_contains(v.reasons, "interrupt"));
                                } else if (!allow) {
                                        ck_assert_msg(!v.allowed, "ir %s param %d", ir_words[i],
                                                      param);
                                        ck_assert_int_eq(v.code, POLICY_DENY_INTERRUPT_REMAPPING);
                                        ck_assert_str_eq(v.ir_denial_key,
                                                         "host.allow_unsafe_interrupts");
                                        ck_assert(!v.set_unsafe_interrupts);
                                        ck_assert_ptr_null(v.device);
                                        assert_reason(&v, "host.allow_unsafe_interrupts");
                                        if (!ir_ok) {
                                                _cleanup_free_ char *word = NULL;

                                                ck_assert_int_ge(
                                                        asprintf(&word, "interrupt remapping is %s",
                                                                 ir_words[i]),
                                                        0);
                                                assert_reason(&v, word);
                                                assert_reason(
                                                        &v,
                                                        "intremap=off on the kernel command line");
                                        } else
                                                assert_reason(
                                                        &v,
                                                        "vfio_iommu_type1.allow_unsafe_interrupts=1");
                                } else {
                                        ck_assert_msg(v.allowed, "ir %s param %d", ir_words[i],
                                                      param);
                                        ck_assert_int_eq(v.code, POLICY_DENY_NONE);
                                        ck_assert_ptr_null(v.ir_denial_key);
                                        /* Set it only when remapping is missing and the kernel does
                                         * not already accept unsafe interrupts. */
                                        ck_assert(v.set_unsafe_interrupts == (!ir_ok && !param));
                                        assert_reason(
                                                &v,
                                                "host.allow_unsafe_interrupts is true (set in test.json)");
                                        if (!ir_ok)
                                                assert_reason(
                                                        &v,
                                                        param ? "is already set in the kernel"
                                                              : "will be set when the group is claimed");
                                }
                                policy_verdict_clear(&v);
                        }
        }
}
END_TEST

START_TEST(test_interrupt_remapping_not_required) {
        _cleanup_(policy_freep) Policy *off =
                parse_ok("{\"version\": 1, \"host\": {\"require_interrupt_remapping\": false}}");
        _cleanup_(policy_freep) Policy *off_unsafe = parse_ok(
                "{\"version\": 1, \"host\": {\"require_interrupt_remapping\": false, \"allow_unsafe_interrupts\": true}}");
        Group g = { .id = 3, .devices = nic_group_members };
        HostInfo h = host_with(IR_DISABLED, 0);
        PolicyVerdict v = POLICY_VERDICT_INIT;
        Fixture f;

        fixture_init(&f);
        f.hostnic.host_critical = NULL;
        eval_group(off, &f.t, &g, &h, &ROOT, &v);
        ck_assert(v.allowed);
        ck_assert(!v.set_unsafe_interrupts);
        policy_verdict_clear(&v);
        eval_group(off_unsafe, &f.t, &g, &h, &ROOT, &v);
        ck_assert(v.allowed);
        ck_assert(v.set_unsafe_interrupts);
        policy_verdict_clear(&v);
        h.unsafe_interrupts = 1;
        eval_group(off, &f.t, &g, &h, &ROOT, &v);
        ck_assert(v.allowed);
        ck_assert(!v.set_unsafe_interrupts);
        policy_verdict_clear(&v);

        /* iommufd's own parameter counts as "already set" too. */
        {
                _cleanup_(policy_freep) Policy *on = parse_ok("{\"version\": 1}");
                HostInfo hi = host_with(IR_ENABLED, 0);

                hi.iommufd_unsafe_interrupts = 1;
                eval_group(on, &f.t, &g, &hi, &ROOT, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_INTERRUPT_REMAPPING);
                assert_reason(&v, "iommufd.allow_unsafe_interrupts=1");
                policy_verdict_clear(&v);
        }
        /* A rule denial comes first; the IR refusal is still reported with its key. */
        {
                _cleanup_(policy_freep) Policy *on = parse_ok("{\"version\": 1}");
                HostInfo hd = host_with(IR_UNSUPPORTED, 0);

                eval_group(on, &f.t, &g, &hd, &EVE, &v);
                ck_assert(!v.allowed);
                ck_assert_int_eq(v.code, POLICY_DENY_DEFAULT);
                ck_assert_str_eq(v.device, "0000:03:00.0");
                ck_assert_str_eq(v.ir_denial_key, "host.allow_unsafe_interrupts");
                assert_reason(&v, "interrupt remapping is unsupported");
                policy_verdict_clear(&v);
        }
}
END_TEST

START_TEST(test_prepare_at_boot) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{\"version\": 1, \"rules\": ["
                "{\"match\": {\"boot_vga\": true}, \"action\": \"deny\"},"
                "{\"match\": {\"vendor\": \"0x8086\"}, \"action\": \"deny\", \"users\": [\"eve\"]},"
                "{\"match\": {\"class\": \"0x02*\"}, \"action\": \"allow\", \"users\": [\"vmm\"], \"prepare_at_boot\": true},"
                "{\"match\": {\"address\": \"0000:00:1f.6\"}, \"action\": \"allow\", \"prepare_at_boot\": true},"
                "{\"match\": {\"vendor\": \"0x10de\"}, \"action\": \"allow\", \"prepare_at_boot\": true},"
                "{\"match\": {}, \"action\": \"allow\"}]}");
        Device nic = DEV("0000:03:00.0", 0x8086, 0x1533, 0x020000);
        Device hostnic = DEV("0000:00:1f.6", 0x8086, 0x15bc, 0x020000);
        Device hostnic2 = DEV("0000:00:1f.7", 0x8086, 0x15bc, 0x020000);
        Device gpu = DEV("0000:01:00.0", 0x10de, 0x1b80, 0x030000);
        Device vga = DEV("0000:02:00.0", 0x10de, 0x1c03, 0x030000);
        Device nvme = DEV("0000:5f:00.0", 0x144d, 0xa808, 0x010802);
        Device bridge = DEV("0000:00:1c.0", 0x10de, 0x1901, 0x060400);

        hostnic.host_critical = hostnic2.host_critical = (char *) "default route";
        vga.boot_vga = 1;
        bridge.bridge = true;
        /* A deny rule for some users does not stop it; caller-independent. */
        ck_assert(policy_prepare_at_boot(p, &nic));
        /* Host-critical: only with a rule naming it explicitly. */
        ck_assert(policy_prepare_at_boot(p, &hostnic));
        ck_assert(!policy_prepare_at_boot(p, &hostnic2));
        ck_assert(policy_prepare_at_boot(p, &gpu));
        /* An earlier rule denying everyone wins. */
        ck_assert(!policy_prepare_at_boot(p, &vga));
        ck_assert(!policy_prepare_at_boot(p, &nvme));
        ck_assert(!policy_prepare_at_boot(p, &bridge));
        ck_assert(!policy_prepare_at_boot(NULL, &gpu));
}
END_TEST

/* ---- loading and merging ---- */

START_TEST(test_merge_order) {
        char *tmp = make_tmpdir();
        _cleanup_free_ char *vendor = make_dir(tmp, "usr"), *etc = make_dir(tmp, "etc"),
                            *run = make_dir(tmp, "run"), *missing = NULL, *masked_path = NULL,
                            *expect = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        Device d = DEV("0000:01:00.0", 0x1111, 0x2222, 0x030000);
        PolicyVerdict v = POLICY_VERDICT_INIT;
        char **files;

        ck_assert_int_ge(asprintf(&missing, "%s/nonexistent", tmp), 0);
        write_file(
                vendor, "10-a.json",
                "{\"version\": 1, \"host\": {\"require_reset\": true, \"on_holder_exit\": \"keep\", "
                "\"max_pinned_bytes_per_uid\": \"1G\"}, \"rules\": ["
                "{\"description\": \"a0\", \"match\": {\"vendor\": \"0x1111\"}, \"action\": \"allow\", "
                "\"users\": [\"vmm\"]}]}");
        write_file(vendor, "20-b.json",
                   "{\"version\": 1, \"rules\": [{\"description\": \"vendor b\", "
                   "\"match\": {}, \"action\": \"deny\"}]}");
        write_file(vendor, "30-c.json",
                   "{\"version\": 1, \"rules\": [{\"description\": \"vendor c\", "
                   "\"match\": {}, \"action\": \"deny\"}]}");
        write_file(vendor, "40-masked.json",
                   "{\"version\": 1, \"host\": {\"require_reset\": false}}");
        write_file(vendor, "README", "not policy");
        write_file(vendor, ".hidden.json", "not even JSON");
        write_file(vendor, "50-d.json~", "an editor backup");
        write_file(
                etc, "20-b.json",
                "{\"version\": 1, \"rules\": [{\"description\": \"etc b0\", \"match\": {}, \"action\": \"allow\", "
                "\"groups\": [\"kvm\"]}, {\"description\": \"etc b1\", \"match\": {}, \"action\": \"allow\", "
                "\"users\": [\"eve\"]}]}");
        write_file(etc, "15-x.json",
                   "{\"version\": 1, \"host\": {\"on_holder_exit\": \"release\"}}");
        write_file(etc, "30-c.json",
                   "{\"version\": 1, \"rules\": [{\"description\": \"etc c\", "
                   "\"match\": {}, \"action\": \"deny\"}]}");
        ck_assert_int_ge(asprintf(&masked_path, "%s/40-masked.json", etc), 0);
        ck_assert_int_eq(symlink("/dev/null", masked_path), 0);
        write_file(run, "30-c.json",
                   "{\"version\": 1, \"host\": {\"max_pinned_bytes_per_uid\": 4096}, \"rules\": ["
                   "{\"description\": \"run c\", \"match\": {}, \"action\": \"allow\"}]}");

        {
                char *dirs[] = { vendor, missing, etc, run, NULL };

                ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), 0);
        }
        ck_assert_ptr_null(errors);
        files = policy_files(p);
        ck_assert_uint_eq(strv_length(files), 4);
        ck_assert_int_ge(asprintf(&expect, "%s/10-a.json", vendor), 0);
        ck_assert_str_eq(files[0], expect);
        free(expect);
        ck_assert_int_ge(asprintf(&expect, "%s/15-x.json", etc), 0);
        ck_assert_str_eq(files[1], expect);
        free(expect);
        ck_assert_int_ge(asprintf(&expect, "%s/20-b.json", etc), 0);
        ck_assert_str_eq(files[2], expect);
        free(expect);
        ck_assert_int_ge(asprintf(&expect, "%s/30-c.json", run), 0);
        ck_assert_str_eq(files[3], expect);

        /* Host keys: the later file wins per key; untouched keys keep earlier values. */
        ck_assert_int_eq(policy_host(p)->on_holder_exit, ON_HOLDER_EXIT_RELEASE);
        ck_assert_str_eq(policy_host_source(p, "on_holder_exit"), files[1]);
        ck_assert(policy_host(p)->require_reset); /* the masked file would have cleared it */
        ck_assert_str_eq(policy_host_source(p, "require_reset"), files[0]);
        ck_assert_uint_eq(policy_host(p)->max_pinned_bytes_per_uid, 4096);
        ck_assert_str_eq(policy_host_source(p, "max_pinned_bytes_per_uid"), files[3]);
        ck_assert(policy_host(p)->require_interrupt_remapping);
        ck_assert_ptr_null(policy_host_source(p, "require_interrupt_remapping"));

        /* Rules: a0, etc b0, etc b1, run c, in that order. */
        ck_assert_uint_eq(policy_n_rules(p), 4);
        eval_device(p, &d, &VMM, &v);
        ck_assert(v.allowed);
        ck_assert_str_eq(v.rule_file, files[0]);
        ck_assert_int_eq(v.rule_index, 0);
        policy_verdict_clear(&v);
        eval_device(p, &d, &ALICE, &v);
        ck_assert(v.allowed);
        ck_assert_str_eq(v.rule_file, files[2]);
        ck_assert_int_eq(v.rule_index, 0);
        policy_verdict_clear(&v);
        eval_device(p, &d, &EVE, &v);
        ck_assert(v.allowed);
        ck_assert_str_eq(v.rule_file, files[2]);
        ck_assert_int_eq(v.rule_index, 1);
        assert_reason(&v, "(\"etc b1\")");
        policy_verdict_clear(&v);
        eval_device(p, &d, &NONAME, &v);
        ck_assert(v.allowed);
        ck_assert_str_eq(v.rule_file, files[3]);
        ck_assert_int_eq(v.rule_index, 0);
        policy_verdict_clear(&v);

        /* The JSON form lists rules in the same order with their files. */
        {
                json_object *j = NULL, *rules, *r3, *f3;

                ck_assert_int_eq(policy_to_json(p, &j), 0);
                ck_assert(json_object_object_get_ex(j, "rules", &rules));
                ck_assert_uint_eq(json_object_array_length(rules), 4);
                r3 = json_object_array_get_idx(rules, 3);
                ck_assert(json_object_object_get_ex(r3, "file", &f3));
                ck_assert_str_eq(json_object_get_string(f3), files[3]);
                json_object_put(j);
        }
        rm_rf(tmp);
}
END_TEST

/* The "Merge order in practice" example of vfio-assignd.policy(5), with the shipped files. */
static void copy_file(const char *from, const char *dir, const char *name) {
        _cleanup_free_ char *text = NULL;
        size_t size;

        text = read_file(from, &size);
        write_file(dir, name, text);
}

START_TEST(test_documented_merge) {
        char *tmp = make_tmpdir();
        _cleanup_free_ char *usr = make_dir(tmp, "usr"), *etc = make_dir(tmp, "etc"), *src = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        static const char *const copies[][2] = {
                { "policy/examples/deny-boot-vga.json", "10-deny-boot-vga.json" },
                { "policy/examples/gpu-passthrough.json", "50-gpu-passthrough.json" },
                { "policy/examples/lab-unsafe-interrupts.json", "90-lab-unsafe-interrupts.json" },
        };
        char *dirs[] = { usr, etc, NULL };
        Device vga = DEV("0000:02:00.0", 0x10de, 0x1c03, 0x030000);
        PolicyVerdict v = POLICY_VERDICT_INIT;
        char **files;

        ck_assert_int_ge(asprintf(&src, "%s/policy/default.json", srcdir()), 0);
        copy_file(src, usr, "00-default.json"); /* as make install names it */
        for (size_t i = 0; i < ELEMENTSOF(copies); i++) {
                _cleanup_free_ char *from = NULL;

                ck_assert_int_ge(asprintf(&from, "%s/%s", srcdir(), copies[i][0]), 0);
                copy_file(from, etc, copies[i][1]);
        }
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), 0);
        files = policy_files(p);
        ck_assert_uint_eq(strv_length(files), 4);
        ck_assert(has_suffix(files[0], "/usr/00-default.json"));
        ck_assert(has_suffix(files[1], "/etc/10-deny-boot-vga.json"));
        ck_assert(policy_host(p)->allow_unsafe_interrupts);
        ck_assert_str_eq(policy_host_source(p, "allow_unsafe_interrupts"), files[3]);
        ck_assert(policy_host(p)->require_interrupt_remapping);
        ck_assert_str_eq(policy_host_source(p, "require_interrupt_remapping"), files[0]);
        /* The boot VGA is denied to root by the first administrator's file. */
        vga.boot_vga = 1;
        eval_device(p, &vga, &ROOT, &v);
        ck_assert(!v.allowed);
        ck_assert_str_eq(v.rule_file, files[1]);
        policy_verdict_clear(&v);
        rm_rf(tmp);
}
END_TEST

START_TEST(test_load_no_files) {
        char *tmp = make_tmpdir();
        _cleanup_free_ char *missing = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Policy *p = NULL;
        char *dirs[] = { tmp, NULL, NULL };

        ck_assert_int_ge(asprintf(&missing, "%s/missing", tmp), 0);
        dirs[1] = missing;
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), 0);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_null(errors);
        ck_assert_uint_eq(policy_n_rules(p), 0);
        ck_assert_uint_eq(strv_length(policy_files(p)), 0);
        ck_assert(policy_host(p)->require_interrupt_remapping);
        ck_assert_uint_eq(policy_host(p)->max_pinned_bytes_per_uid, UINT64_MAX);
        p = policy_free(p);
        ck_assert_ptr_null(p);

        /* No directories at all is the same. */
        ck_assert_int_eq(policy_load_dirs(NULL, &p, &errors), 0);
        ck_assert_uint_eq(policy_n_rules(p), 0);
        policy_free(p);
        ck_assert_int_eq(policy_load_dirs(NULL, NULL, NULL), -EINVAL);
        rm_rf(tmp);
}
END_TEST

/* Validate everything first: one bad file means no policy, and every bad file is reported. */
START_TEST(test_load_all_or_nothing) {
        char *tmp = make_tmpdir();
        _cleanup_free_ char *a = make_dir(tmp, "a"), *b = make_dir(tmp, "b"), *sub = NULL,
                            *fifo = NULL, *e0 = NULL, *e1 = NULL, *e2 = NULL, *e3 = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Policy *sentinel = SENTINEL, *p = sentinel;
        char *dirs[] = { a, b, NULL };

        write_file(a, "10-good.json",
                   "{\"version\": 1, \"rules\": [{\"match\": {}, \"action\": \"allow\"}]}");
        write_file(a, "20-bad.json",
                   "{\"version\": 1, \"rules\": [{\"match\": {\"vendor\": \"10de\"}}]}");
        write_file(b, "30-good.json", "{\"version\": 1}");
        write_file(b, "40-bad.json", "{\"version\": 1,");
        ck_assert_int_ge(asprintf(&sub, "%s/50-dir.json", b), 0);
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        ck_assert_int_ge(asprintf(&fifo, "%s/60-fifo.json", b), 0);
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);

        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), -EINVAL);
        ck_assert_ptr_eq(p, sentinel);
        ck_assert_int_ge(
                asprintf(&e0,
                         "%s/20-bad.json: rules[0].match.vendor: expected \"0x\" and 4 hex digits, "
                         "got \"10de\"",
                         a),
                0);
        ck_assert_int_ge(asprintf(&e1,
                                  "%s/20-bad.json: rules[0]: required key \"action\" is missing",
                                  a),
                         0);
        ck_assert_int_ge(asprintf(&e2, "%s/40-bad.json:1:15: unexpected end of file", b), 0);
        ck_assert_int_ge(asprintf(&e3, "%s/50-dir.json: not a regular file", b), 0);
        ck_assert_uint_eq(strv_length(errors), 5);
        ck_assert_str_eq(errors[0], e0);
        ck_assert_str_eq(errors[1], e1);
        ck_assert_str_eq(errors[2], e2);
        ck_assert_str_eq(errors[3], e3);
        ck_assert(has_suffix(errors[4], "/60-fifo.json: not a regular file"));

        /* Once fixed, it loads. */
        ck_assert_int_eq(unlink(fifo), 0);
        ck_assert_int_eq(rmdir(sub), 0);
        write_file(a, "20-bad.json", "{\"version\": 1}");
        write_file(b, "40-bad.json", "{\"version\": 1}");
        strv_free(errors);
        errors = NULL;
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), 0);
        ck_assert_ptr_ne(p, sentinel);
        ck_assert_uint_eq(strv_length(policy_files(p)), 4);
        ck_assert_uint_eq(policy_n_rules(p), 1);
        policy_free(p);
        rm_rf(tmp);
}
END_TEST

START_TEST(test_load_bad_directory) {
        char *tmp = make_tmpdir();
        _cleanup_free_ char *expected = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Policy *p = NULL;
        char *dirs[] = { NULL, NULL };

        /* A file where a directory should be. */
        write_file(tmp, "notadir", "x");
        ck_assert_int_ge(asprintf(&dirs[0], "%s/notadir", tmp), 0);
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_int_ge(asprintf(&expected, "%s: cannot open directory: %s", dirs[0],
                                  strerror(ENOTDIR)),
                         0);
        ck_assert_uint_eq(strv_length(errors), 1);
        ck_assert_str_eq(errors[0], expected);
        free(dirs[0]);
        rm_rf(tmp);
}
END_TEST

/* The one reader of policy files, for the daemon and `assignctl policy check` alike. */
START_TEST(test_read_file) {
        char *tmp = make_tmpdir();
        _cleanup_free_ char *big = malloc(POLICY_FILE_SIZE_MAX + 11), *path = NULL, *text = NULL,
                            *error = NULL, *expected = NULL;
        char *const untouched = (char *) "untouched";
        size_t size = 0;

        ck_assert_ptr_nonnull(big);
        write_file(tmp, "a.json", "{\"version\": 1}");
        ck_assert_int_ge(asprintf(&path, "%s/a.json", tmp), 0);
        ck_assert_int_eq(policy_read_file(path, &text, &size, &error), 0);
        ck_assert_uint_eq(size, 14);
        ck_assert_str_eq(text, "{\"version\": 1}");
        ck_assert_ptr_null(error);
        free(text);
        free(path);

        /* One byte past the limit and no more: enough for the parser to say it is too large. */
        memset(big, ' ', POLICY_FILE_SIZE_MAX + 10);
        big[POLICY_FILE_SIZE_MAX + 10] = 0;
        write_file(tmp, "big.json", big);
        ck_assert_int_ge(asprintf(&path, "%s/big.json", tmp), 0);
        ck_assert_int_eq(policy_read_file(path, &text, &size, &error), 0);
        ck_assert_uint_eq(size, POLICY_FILE_SIZE_MAX + 1);
        ck_assert_uint_eq(strlen(text), POLICY_FILE_SIZE_MAX + 1);
        free(text);
        free(path);

        /* A mask. */
        text = untouched;
        ck_assert_int_eq(policy_read_file("/dev/null", &text, &size, &error), 1);
        ck_assert_ptr_null(text);
        ck_assert_uint_eq(size, 0);
        ck_assert_ptr_null(error);

        /* Failures leave the text and size alone and say why, naming the file. */
        text = untouched;
        size = 7;
        ck_assert_int_eq(policy_read_file(tmp, &text, &size, &error), -EINVAL);
        ck_assert_int_ge(asprintf(&expected, "%s: not a regular file", tmp), 0);
        ck_assert_str_eq(error, expected);
        free(expected);
        free(error);
        error = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/fifo.json", tmp), 0);
        ck_assert_int_eq(mkfifo(path, 0644), 0);
        ck_assert_int_eq(policy_read_file(path, &text, &size, &error), -EINVAL); /* no hang */
        ck_assert_int_ge(asprintf(&expected, "%s: not a regular file", path), 0);
        ck_assert_str_eq(error, expected);
        free(expected);
        free(error);
        free(path);
        error = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/missing.json", tmp), 0);
        ck_assert_int_eq(policy_read_file(path, &text, &size, &error), -EINVAL);
        ck_assert_int_ge(asprintf(&expected, "%s: cannot read: %s", path, strerror(ENOENT)), 0);
        ck_assert_str_eq(error, expected);
        ck_assert_int_eq(policy_read_file(path, &text, &size, NULL), -EINVAL);
        ck_assert_ptr_eq(text, untouched);
        ck_assert_uint_eq(size, 7);
        text = NULL;
        rm_rf(tmp);
}
END_TEST

START_TEST(test_load_too_many_files) {
        char *tmp = make_tmpdir();
        _cleanup_strv_free_ char **errors = NULL;
        Policy *p = NULL;
        char *dirs[] = { tmp, NULL };

        for (int i = 0; i <= POLICY_FILES_MAX; i++) {
                char name[32];

                snprintf(name, sizeof(name), "%03d.json", i);
                write_file(tmp, name, "{\"version\": 1}");
        }
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_uint_eq(strv_length(errors), 1);
        ck_assert(has_suffix(errors[0], ": more than 256 policy files in effect"));
        rm_rf(tmp);
}
END_TEST

static Suite *policy_suite(void) {
        Suite *s = suite_create("policy");
        TCase *tc;

        tc = tcase_create("corpora");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_good_files);
        tcase_add_test(tc, test_bad_files);
        tcase_add_test(tc, test_bad_file_through_loader);
        tcase_add_test(tc, test_shipped_files);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_file_size_limit);
        tcase_add_test(tc, test_huge_file_through_loader);
        tcase_add_test(tc, test_deep_nesting);
        tcase_add_test(tc, test_too_many_rules);
        tcase_add_test(tc, test_errors_capped);
        tcase_add_test(tc, test_comments_rejected);
        tcase_add_test(tc, test_duplicate_keys);
        tcase_add_test(tc, test_syntax_positions);
        tcase_add_test(tc, test_nul_and_binary);
        tcase_add_test(tc, test_host_values);
        tcase_add_test(tc, test_to_json);
        suite_add_tcase(s, tc);

        tc = tcase_create("evaluate");
        tcase_add_test(tc, test_match_keys);
        tcase_add_test(tc, test_device_matrix);
        tcase_add_test(tc, test_first_match_wins);
        tcase_add_test(tc, test_group_bridges_and_members);
        tcase_add_test(tc, test_group_host_critical);
        tcase_add_test(tc, test_group_blockers);
        tcase_add_test(tc, test_group_require_reset);
        tcase_add_test(tc, test_interrupt_remapping_matrix);
        tcase_add_test(tc, test_interrupt_remapping_not_required);
        tcase_add_test(tc, test_prepare_at_boot);
        suite_add_tcase(s, tc);

        tc = tcase_create("load");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_merge_order);
        tcase_add_test(tc, test_documented_merge);
        tcase_add_test(tc, test_load_no_files);
        tcase_add_test(tc, test_load_all_or_nothing);
        tcase_add_test(tc, test_load_bad_directory);
        tcase_add_test(tc, test_read_file);
        tcase_add_test(tc, test_load_too_many_files);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        sr = srunner_create(policy_suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
