/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who holds a node (daemon/holders.c), on the real /proc: a child process that keeps a file open
 * stands for a VMM that keeps /dev/vfio/N open. The scan names it by pid and command, leaves out
 * the scanning process (which has the file open too), and forgets the child once it is gone. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "holders.h"
#include "macro.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-holders.XXXXXX";
static char node[PATH_MAX];

static void setup(void) {
        char *real;
        int fd;

        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        /* As /proc/PID/fd links name it: the real path. */
        real = realpath(tmpdir, NULL);
        ck_assert_ptr_nonnull(real);
        snprintf(node, sizeof(node), "%s/vfio-5", real);
        free(real);
        fd = open(node, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
}

static void teardown(void) {
        unlink(node);
        rmdir(tmpdir);
        strcpy(tmpdir, "/tmp/test-holders.XXXXXX");
}

/* A child named comm that has path open (unless NULL) until killed; returns once it has. */
static pid_t holder(const char *path, const char *comm) {
        int ready[2];
        pid_t pid;
        char c;

        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || prctl(PR_SET_NAME, comm) < 0 ||
                    (path && open(path, O_RDWR) < 0) || write(ready[1], "r", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(ready[1]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        return pid;
}

static void reap(pid_t pid) {
        int status;

        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}

START_TEST(test_holder_named) {
        char *paths[] = { (char *) "/nonexistent/vfio-4", node, NULL };
        _cleanup_free_ Holder *h = NULL;
        size_t n = 0;
        pid_t child, bystander;
        int own;

        bystander = holder(NULL, "bystander");
        child = holder(node, "qemu-system-x86");
        /* Ours is left out: the daemon's own fds are not someone else's. (Opened after the
         * forks, which would inherit it.) */
        own = open(node, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(own, 0);

        ck_assert_int_eq(holders_scan(paths, &h, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(h[0].pid, (uint32_t) child);
        ck_assert_str_eq(h[0].comm, "qemu-system-x86");

        reap(child);
        h = mfree(h);
        ck_assert_int_eq(holders_scan(paths, &h, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_ptr_null(h);
        reap(bystander);
        close(own);
}
END_TEST

/* A process names itself: what is not printable ASCII goes on the bus as '?'. */
START_TEST(test_comm_sanitised) {
        char *paths[] = { node, NULL };
        _cleanup_free_ Holder *h = NULL;
        size_t n = 0;
        pid_t child;

        child = holder(node, "vm\t\xc3\xa9");
        ck_assert_int_eq(holders_scan(paths, &h, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(h[0].comm, "vm???");
        reap(child);
}
END_TEST

START_TEST(test_equal) {
        Holder a[] = { { 1, "qemu" }, { 2, "helper" } }, b[] = { { 1, "qemu" }, { 2, "other" } };

        ck_assert(holders_equal(a, 2, a, 2));
        ck_assert(holders_equal(NULL, 0, NULL, 0));
        ck_assert(!holders_equal(a, 2, a, 1));
        ck_assert(!holders_equal(a, 2, b, 2));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("holders");
        TCase *tc = tcase_create("scan");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_holder_named);
        tcase_add_test(tc, test_comm_sanitised);
        tcase_add_test(tc, test_equal);
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
