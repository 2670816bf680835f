/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The writer threads (daemon/worker.c): a chain of writes is made in order and stops at the first
 * failure; each write has its own timeout; a write that hangs past it is left behind and the rest
 * of its chain is never made, even when it completes later. A FIFO stands in for an attribute
 * whose store hangs: opening it for writing blocks until someone opens it for reading. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"
#include "worker.h"

static char tmpdir[] = "/tmp/test-worker.XXXXXX";
static int dirfd_ = -1;

static void setup(void) {
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dirfd_, 0);
}

static void teardown(void) {
        char cmd[64];

        safe_close(dirfd_);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        ck_assert_int_eq(system(cmd), 0);
        strcpy(tmpdir, "/tmp/test-worker.XXXXXX");
}

static void make_file(const char *name) {
        int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ck_assert_int_ge(fd, 0);
        close(fd);
}

/* The file's text, "" when empty. */
static char *text(const char *name) {
        char buf[64] = "";
        int fd = openat(dirfd_, name, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        ck_assert_int_ge(fd, 0);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        ck_assert_int_ge(n, 0);
        buf[n] = 0;
        return strdup(buf);
}

static void assert_text(const char *name, const char *want) {
        _cleanup_free_ char *t = text(name);

        ck_assert_str_eq(t, want);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void wait_unstuck(void) {
        unsigned threads, stuck;

        for (int i = 0; i < 500; i++) {
                worker_stats(&threads, &stuck);
                if (stuck == 0)
                        return;
                usleep(10 * 1000);
        }
        ck_abort_msg("a writer stays stuck");
}

START_TEST(test_chain_in_order) {
        const WorkerWrite w[] = {
                { .path = "a", .value = "1" },
                { .path = "b", .value = "2" },
                { .path = "a", .value = "3" },
        };
        size_t failed = 99;

        make_file("a");
        make_file("b");
        ck_assert_int_eq(worker_write_chain(dirfd_, w, ELEMENTSOF(w), 1000000, &failed), 0);
        ck_assert_uint_eq(failed, 99); /* only set on failure */
        assert_text("a", "3");
        assert_text("b", "2");
        ck_assert_int_eq(worker_write_chain(dirfd_, w, 0, 1000000, &failed), 0);
}
END_TEST

START_TEST(test_chain_stops_at_first_failure) {
        const WorkerWrite w[] = {
                { .path = "a", .value = "1" },
                { .path = "gone/unbind", .value = "2" },
                { .path = "c", .value = "3" },
        };
        const WorkerWrite tolerant[] = {
                { .path = "gone/unbind", .value = "2", .enoent_ok = true },
                { .path = "c", .value = "4" },
        };
        size_t failed = 99;

        make_file("a");
        make_file("c");
        ck_assert_int_eq(worker_write_chain(dirfd_, w, ELEMENTSOF(w), 1000000, &failed), -ENOENT);
        ck_assert_uint_eq(failed, 1);
        assert_text("a", "1");
        assert_text("c", "");
        /* A write whose target went away by itself counts as done. */
        ck_assert_int_eq(worker_write_chain(dirfd_, tolerant, 2, 1000000, &failed), 0);
        assert_text("c", "4");
}
END_TEST

/* The second write hangs: the chain times out there, and once it completes, the third write is
 * still never made. */
START_TEST(test_hung_write_ends_its_chain) {
        const WorkerWrite w[] = {
                { .path = "a", .value = "1" },
                { .path = "fifo", .value = "2" },
                { .path = "c", .value = "3" },
        };
        char buf[8] = "";
        size_t failed = 99;
        uint64_t t0;
        int fd;

        make_file("a");
        make_file("c");
        ck_assert_int_eq(mkfifoat(dirfd_, "fifo", 0600), 0);
        t0 = now_usec();
        ck_assert_int_eq(worker_write_chain(dirfd_, w, ELEMENTSOF(w), 200 * 1000, &failed),
                         -ETIMEDOUT);
        ck_assert_uint_ge(now_usec() - t0, 200 * 1000);
        ck_assert_uint_eq(failed, 1);
        assert_text("a", "1");

        fd = openat(dirfd_, "fifo", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(read(fd, buf, sizeof(buf)), 1);
        ck_assert_str_eq(buf, "2");
        close(fd);
        wait_unstuck();
        assert_text("c", "");
}
END_TEST

/* A reader that opens the FIFOs one after the other, each after a pause. */
static void *slow_reader(void *p) {
        const char *const *names = p;

        for (size_t i = 0; names[i]; i++) {
                char buf[8];
                int fd;

                usleep(400 * 1000);
                fd = openat(dirfd_, names[i], O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return NULL;
                (void) !read(fd, buf, sizeof(buf));
                close(fd);
        }
        return NULL;
}

/* The timeout is each write's: three writes of 0.4 s each, 1.2 s in all, pass a 1 s timeout. */
START_TEST(test_timeout_is_per_write) {
        static const char *const names[] = { "f1", "f2", "f3", NULL };
        const WorkerWrite w[] = {
                { .path = "f1", .value = "1" },
                { .path = "f2", .value = "2" },
                { .path = "f3", .value = "3" },
        };
        pthread_t reader;
        uint64_t t0;

        for (size_t i = 0; names[i]; i++)
                ck_assert_int_eq(mkfifoat(dirfd_, names[i], 0600), 0);
        ck_assert_int_eq(pthread_create(&reader, NULL, slow_reader, (void *) names), 0);
        t0 = now_usec();
        ck_assert_int_eq(worker_write_chain(dirfd_, w, ELEMENTSOF(w), 1000 * 1000, NULL), 0);
        ck_assert_uint_ge(now_usec() - t0, 1000 * 1000);
        pthread_join(reader, NULL);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("worker");
        TCase *tc = tcase_create("chains");

        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_chain_in_order);
        tcase_add_test(tc, test_chain_stops_at_first_failure);
        tcase_add_test(tc, test_hung_write_ends_its_chain);
        tcase_add_test(tc, test_timeout_is_per_write);
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
