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

/* Runs call with errno set to a value of its own and stderr captured; asserts what call returned,
 * that errno is unchanged, and what it printed. */
#define ASSERT_LOGGED(call, want_r, want_out)       \
        do {                                        \
                _cleanup_free_ char *_out = NULL;   \
                int _r;                             \
                                                    \
                capture_begin();                    \
                errno = EBUSY;                      \
                _r = (call);                        \
                _out = capture_end();               \
                ck_assert_int_eq(errno, EBUSY);     \
                ck_assert_int_eq(_r, (want_r));     \
                ck_assert_str_eq(_out, (want_out)); \
        } while (0)

START_TEST(test_errno_negative) {
        setup_log(NULL, false);
        ASSERT_LOGGED(log_error_errno(-ENOENT, "Cannot open %s: %m", "/x"), -ENOENT,
                      "Cannot open /x: No such file or directory\n");
}
END_TEST

START_TEST(test_errno_positive) {
        /* errno values straight from errno (e.g. after access()) are positive. */
        setup_log(NULL, false);
        ASSERT_LOGGED(log_warning_errno(EACCES, "%s %s: %m; going on", "--pci-ids", "/y"), -EACCES,
                      "--pci-ids /y: Permission denied; going on\n");
}
END_TEST

START_TEST(test_errno_journal_prefix) {
        /* The "<N>" prefix is printed before the message: "%m" still names the given error. */
        setup_log(NULL, true);
        ASSERT_LOGGED(log_notice_errno(-EPERM, "a: %m"), -EPERM, "<5>a: Operation not permitted\n");
        ASSERT_LOGGED(log_error_errno(-EIO, "b: %m"), -EIO, "<3>b: Input/output error\n");
}
END_TEST

START_TEST(test_errno_level_filtered) {
        /* Not shown above the level, yet the error is returned all the same. */
        setup_log("6", false);
        ASSERT_LOGGED(log_debug_errno(-ENOMEM, "never: %m"), -ENOMEM, "");
        setup_log("7", false);
        ASSERT_LOGGED(log_debug_errno(-ENOMEM, "now: %m"), -ENOMEM,
                      "now: Cannot allocate memory\n");
        setup_log("3", false);
        ASSERT_LOGGED(log_warning_errno(-ENOMEM, "hidden: %m"), -ENOMEM, "");
        ASSERT_LOGGED(log_error_errno(-ENOMEM, "shown: %m"), -ENOMEM,
                      "shown: Cannot allocate memory\n");
        setup_log("6", false);
}
END_TEST

static int log_info_returning(void) {
        log_info("c: %m (%d)", 7);
        return 0;
}

START_TEST(test_plain_log_keeps_errno) {
        /* log_msg()'s "%m" is the caller's errno, even after the prefix is printed. */
        setup_log(NULL, true);
        ASSERT_LOGGED(log_info_returning(), 0, "<6>c: Device or resource busy (7)\n");
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
