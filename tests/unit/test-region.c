/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon/region.c: a region fills on its own thread while an sd-event loop runs, tells the loop
 * how far it got and when it is done; freed while it fills, it stops at its next chunk and gives
 * every page back, also from a copy of the fd. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "region.h"
#include "sysfs.h"
#include "util.h"

typedef struct Seen {
        sd_event *event;
        unsigned progress, done;
        RegionState state;
        uint64_t populated;
} Seen;

static void on_change(Region *r, bool done, void *userdata) {
        Seen *s = userdata;

        if (!done) {
                s->progress++;
                return;
        }
        s->done++;
        s->state = r->state;
        s->populated = region_populated(r);
        ck_assert_int_ge(sd_event_exit(s->event, 0), 0);
}

static uint64_t allocated(int fd) {
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        return (uint64_t) st.st_blocks * 512;
}

/* Filled on the loop's watch: once done, ready, every byte there, and the thread is gone. */
START_TEST(test_fill_on_loop) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        const uint64_t size = 96 << 20; /* two chunks */
        MemRegion *mem = NULL;
        Region *r = NULL;
        Seen seen = {};

        ck_assert_int_eq(sd_event_new(&e), 0);
        seen.event = e;
        ck_assert_int_eq(mem_region_new(size, MEM_PAGE_4K, MEM_NODE_ANY, &mem, NULL), 0);
        ck_assert_int_eq(region_new(e, mem, 7, 3, 1000, on_change, &seen, &r), 0);
        ck_assert_int_eq(r->state, REGION_FILLING);
        ck_assert_uint_eq(region_size(r), size);
        ck_assert_int_eq(sd_event_loop(e), 0);
        ck_assert_uint_eq(seen.done, 1);
        ck_assert_int_eq(seen.state, REGION_READY);
        ck_assert_uint_eq(seen.populated, size);
        ck_assert(!r->thread_running);
        ck_assert_uint_ge(allocated(mem_region_fd(r->mem)), size);
        ck_assert_str_eq(region_state_to_string(r->state), "ready");
        region_free(r);
        region_free(NULL);
}
END_TEST

/* Freed at once: the fill is cancelled (at most one chunk later), nothing is reported, and the
 * pages of the copy of its fd are gone. */
START_TEST(test_free_while_filling) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        const uint64_t size = 256 << 20;
        MemRegion *mem = NULL;
        Region *r = NULL;
        Seen seen = {};
        int copy;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(mem_region_new(size, MEM_PAGE_4K, MEM_NODE_ANY, &mem, NULL), 0);
        copy = fcntl(mem_region_fd(mem), F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(copy, 0);
        ck_assert_int_eq(region_new(e, mem, 1, 1, 0, on_change, &seen, &r), 0);
        region_free(r);
        ck_assert_uint_eq(seen.done, 0);
        ck_assert_uint_eq(allocated(copy), 0);
        close(copy);
}
END_TEST

/* A fill the pool cannot meet (a hugetlb region past this machine's free huge pages) is reported
 * done and failed, with the fill's errno, and the copy of its fd holds nothing afterwards. */
START_TEST(test_fill_fails) {
        _cleanup_(sysroot_freep) SysRoot *host = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *oc = NULL;
        uint64_t total = 0, free_bytes = 0;
        MemRegion *mem = NULL;
        Region *r = NULL;
        Seen seen = {};
        int copy;

        ck_assert_int_eq(sysroot_open("/", "/", &host), 0);
        if (mem_pool_info(host, MEM_PAGE_2M, MEM_NODE_ANY, &total, &free_bytes) < 0 ||
            sysfs_read_attr(host, "proc/sys/vm/nr_overcommit_hugepages", &oc) < 0 ||
            !streq(oc, "0")) {
                fprintf(stderr, "no 2M pool without overcommit here: a failing fill not tried\n");
                return;
        }
        ck_assert_int_eq(sd_event_new(&e), 0);
        seen.event = e;
        ck_assert_int_eq(mem_region_new(free_bytes + (4 << 20), MEM_PAGE_2M, MEM_NODE_ANY, &mem,
                                        NULL),
                         0);
        copy = fcntl(mem_region_fd(mem), F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(copy, 0);
        ck_assert_int_eq(region_new(e, mem, 2, 1, 0, on_change, &seen, &r), 0);
        ck_assert_int_eq(sd_event_loop(e), 0);
        ck_assert_uint_eq(seen.done, 1);
        ck_assert_int_eq(seen.state, REGION_FAILED);
        ck_assert_msg(r->result == -ENOSPC || r->result == -ENOMEM, "fill ended with %d",
                      r->result);
        ck_assert_uint_le(seen.populated, free_bytes);
        ck_assert_uint_eq(allocated(copy), 0);
        region_free(r);
        close(copy);
}
END_TEST

int main(void) {
        SRunner *sr;
        Suite *s = suite_create("region");
        TCase *tc = tcase_create("fill");
        int failed;

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_fill_on_loop);
        tcase_add_test(tc, test_free_while_filling);
        tcase_add_test(tc, test_fill_fails);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
