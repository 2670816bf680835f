/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's log helpers (daemon/log.h): what log_*_errno() prints for "%m", what it returns,
 * and that errno survives every log call. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

static int saved_stderr = -1;
static FILE *captured;

/* log_setup() with the environment of a daemon started by hand (no journal) or by systemd. */
static void setup_log(const char *level, bool journal) {
        if (level)
                ck_assert_int_eq(setenv("VFIO_ASSIGND_LOG_LEVEL", level, 1), 0);
        else
                ck_assert_int_eq(unsetenv("VFIO_ASSIGND_LOG_LEVEL"), 0);
        if (journal)
                ck_assert_int_eq(setenv("JOURNAL_STREAM", "8:1234", 1), 0);
        else
                ck_assert_int_eq(unsetenv("JOURNAL_STREAM"), 0);
        log_setup();
}

static void capture_begin(void) {
        fflush(stderr);
        captured = tmpfile();
        ck_assert_ptr_nonnull(captured);
        saved_stderr = dup(STDERR_FILENO);
        ck_assert_int_ge(saved_stderr, 0);
        ck_assert_int_eq(dup2(fileno(captured), STDERR_FILENO), STDERR_FILENO);
}

/* What was written to stderr since capture_begin(); errno is left as it was. */
static char *capture_end(void) {
        int saved_errno = errno;
        char *text;
        long n;

        fflush(stderr);
        ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
        saved_stderr = safe_close(saved_stderr);
        n = ftell(captured);
        ck_assert_int_ge(n, 0);
        text = calloc(1, (size_t) n + 1);
        ck_assert_ptr_nonnull(text);
        rewind(captured);
        ck_assert_uint_eq(fread(text, 1, (size_t) n, captured), (size_t) n);
        fclose(captured);
        captured = NULL;
        errno = saved_errno;
        return text;
}

START_TEST(test_errno_negative) {
        _cleanup_free_ char *out = NULL;
        int r;

        setup_log(NULL, false);
        errno = EBUSY;
        capture_begin();
        r = log_error_errno(-ENOENT, "Cannot open %s: %m", "/x");
        out = capture_end();
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_int_eq(errno, EBUSY);
        ck_assert_str_eq(out, "Cannot open /x: No such file or directory\n");
}
END_TEST

START_TEST(test_errno_positive) {
        _cleanup_free_ char *out = NULL;
        int r;

        /* errno values straight from errno (e.g. after access()) are positive. */
        setup_log(NULL, false);
        errno = 0;
        capture_begin();
        r = log_warning_errno(EACCES, "%s %s: %m; going on", "--pci-ids", "/y");
        out = capture_end();
        ck_assert_int_eq(r, -EACCES);
        ck_assert_int_eq(errno, 0);
        ck_assert_str_eq(out, "--pci-ids /y: Permission denied; going on\n");
}
END_TEST

START_TEST(test_errno_journal_prefix) {
        _cleanup_free_ char *out = NULL;
        int r;

        /* The "<N>" prefix is printed before the message: "%m" still names the given error. */
        setup_log(NULL, true);
        errno = EINTR;
        capture_begin();
        r = log_notice_errno(-EPERM, "a: %m");
        out = capture_end();
        ck_assert_int_eq(r, -EPERM);
        ck_assert_int_eq(errno, EINTR);
        ck_assert_str_eq(out, "<5>a: Operation not permitted\n");

        capture_begin();
        r = log_error_errno(-EIO, "b: %m");
        out = mfree(out);
        out = capture_end();
        ck_assert_int_eq(r, -EIO);
        ck_assert_str_eq(out, "<3>b: Input/output error\n");
}
END_TEST

START_TEST(test_errno_level_filtered) {
        _cleanup_free_ char *out = NULL;
        int r;

        /* Not shown at the default level (6, info), yet still returns the error. */
        setup_log("6", false);
        errno = EAGAIN;
        capture_begin();
        r = log_debug_errno(-ENOMEM, "never: %m");
        out = capture_end();
        ck_assert_int_eq(r, -ENOMEM);
        ck_assert_int_eq(errno, EAGAIN);
        ck_assert_str_eq(out, "");

        setup_log("7", false);
        capture_begin();
        r = log_debug_errno(-ENOMEM, "now: %m");
        out = mfree(out);
        out = capture_end();
        ck_assert_int_eq(r, -ENOMEM);
        ck_assert_str_eq(out, "now: Cannot allocate memory\n");

        setup_log("3", false);
        capture_begin();
        r = log_warning_errno(-ENOMEM, "hidden: %m");
        out = mfree(out);
        out = capture_end();
        ck_assert_int_eq(r, -ENOMEM);
        ck_assert_str_eq(out, "");
        setup_log("6", false);
}
END_TEST

START_TEST(test_plain_log_keeps_errno) {
        _cleanup_free_ char *out = NULL;

        /* log_msg()'s "%m" is the caller's errno, even after the prefix is printed. */
        setup_log(NULL, true);
        errno = ENOENT;
        capture_begin();
        log_info("c: %m (%d)", 7);
        out = capture_end();
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_str_eq(out, "<6>c: No such file or directory (7)\n");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("log");

        tcase_add_test(tc, test_errno_negative);
        tcase_add_test(tc, test_errno_positive);
        tcase_add_test(tc, test_errno_journal_prefix);
        tcase_add_test(tc, test_errno_level_filtered);
        tcase_add_test(tc, test_plain_log_keeps_errno);
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
