/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon/mempool.c: page sizes, the pools' sizes from sysfs and meminfo (a fake tree), regions
 * made and filled on this kernel (shmem; hugetlb where the machine has no huge pages, which must
 * fail with the pool named). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "mempool.h"
#include "sysfs.h"
#include "util.h"

static char tree[] = "/tmp/test-mempool.XXXXXX";

static void put(const char *path, const char *text) {
        _cleanup_free_ char *full = NULL, *cmd = NULL;
        FILE *f;

        ck_assert_int_ge(asprintf(&full, "%s/%s", tree, path), 0);
        ck_assert_int_ge(asprintf(&cmd, "mkdir -p \"$(dirname '%s')\"", full), 0);
        ck_assert_int_eq(system(cmd), 0);
        f = fopen(full, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

static void setup(void) {
        strcpy(tree, "/tmp/test-mempool.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tree));
}

static void teardown(void) {
        _cleanup_free_ char *cmd = NULL;

        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", tree), 0);
        ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_page_names) {
        MemPageSize p = _MEM_PAGE_MAX;

        ck_assert_int_eq(mem_page_from_string("2M", &p), 0);
        ck_assert_int_eq(p, MEM_PAGE_2M);
        ck_assert_int_eq(mem_page_from_string("1G", &p), 0);
        ck_assert_int_eq(p, MEM_PAGE_1G);
        ck_assert_int_eq(mem_page_from_string("none", &p), 0);
        ck_assert_int_eq(p, MEM_PAGE_4K);
        ck_assert_int_eq(mem_page_from_string("4M", &p), -EINVAL);
        ck_assert_int_eq(mem_page_from_string("2m", &p), -EINVAL);
        ck_assert_int_eq(mem_page_from_string(NULL, &p), -EINVAL);
        ck_assert_str_eq(mem_page_to_string(MEM_PAGE_2M), "2M");
        ck_assert_uint_eq(mem_page_bytes(MEM_PAGE_1G), 1ULL << 30);
        ck_assert_ptr_null(mem_page_to_string(_MEM_PAGE_MAX));
}
END_TEST

/* Sizes that are no whole number of pages are refused with the sizes named; nothing is made. */
START_TEST(test_bad_sizes) {
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;
        MemRegion *r = (MemRegion *) 1;

        ck_assert_int_eq(mem_region_new(0, MEM_PAGE_4K, MEM_NODE_ANY, &r, &e1), -EINVAL);
        ck_assert_ptr_null(r);
        ck_assert_str_eq(e1, "A region of 0 bytes is not a whole number of 4K pages (4096 bytes "
                             "each)");
        ck_assert_int_eq(mem_region_new(3 << 20, MEM_PAGE_2M, 0, &r, &e2), -EINVAL);
        ck_assert_str_eq(e2, "A region of 3145728 bytes is not a whole number of 2M pages "
                             "(2097152 bytes each)");
        ck_assert_int_eq(mem_region_new(4096, MEM_PAGE_4K, -2, &r, NULL), -EINVAL);
        ck_assert_int_eq(mem_region_new(4096, _MEM_PAGE_MAX, 0, &r, NULL), -EINVAL);
}
END_TEST

/* A shmem region fills chunk by chunk; afterwards every page is in memory (mincore) and zero, and
 * the region cannot be resized under a VMM's mapping. */
START_TEST(test_shmem_fill) {
        const uint64_t size = 8 << 20, chunk = 1 << 20;
        unsigned char vec[(8 << 20) / 4096];
        MemRegion *r = NULL;
        struct stat st;
        uint8_t *p;
        int k, rounds = 0;

        ck_assert_int_eq(mem_region_new(size, MEM_PAGE_4K, MEM_NODE_ANY, &r, NULL), 0);
        ck_assert_uint_eq(mem_region_populated(r), 0);
        while ((k = mem_region_fill(r, chunk)) == 0) {
                rounds++;
                ck_assert_uint_eq(mem_region_populated(r), rounds * chunk);
        }
        ck_assert_int_eq(k, 1);
        ck_assert_int_eq(rounds, 7);
        ck_assert_uint_eq(mem_region_populated(r), size);
        ck_assert_int_eq(mem_region_fill(r, chunk), 1);

        ck_assert_int_eq(fstat(mem_region_fd(r), &st), 0);
        ck_assert_int_eq(st.st_size, (off_t) size);
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, mem_region_fd(r), 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        ck_assert_int_eq(mincore(p, size, vec), 0);
        for (size_t i = 0; i < sizeof(vec); i++)
                ck_assert_msg(vec[i] & 1, "page %zu of the filled region is not in memory", i);
        for (size_t i = 0; i < size; i += 4096)
                ck_assert_uint_eq(p[i], 0);
        munmap(p, size);

        ck_assert_int_eq(fcntl(mem_region_fd(r), F_GET_SEALS),
                         F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        ck_assert_int_eq(ftruncate(mem_region_fd(r), 4096), -1);
        ck_assert_int_eq(errno, EPERM);
        mem_region_free(r);
        mem_region_free(NULL);
}
END_TEST

/* A region for node 0 has its pages there (move_pages(2) with no target nodes says where each
 * page is); a node that does not exist is refused before anything is filled. */
START_TEST(test_numa_node) {
        const uint64_t size = 1 << 20;
        void *pages_at[(1 << 20) / 4096];
        int status[(1 << 20) / 4096];
        _cleanup_free_ char *error = NULL;
        MemRegion *r = NULL;
        uint8_t *p;

        ck_assert_int_eq(mem_region_new(size, MEM_PAGE_4K, 0, &r, NULL), 0);
        ck_assert_int_eq(mem_region_node(r), 0);
        ck_assert_int_eq(mem_region_fill(r, size), 1);
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, mem_region_fd(r), 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        /* Mapped here too, or move_pages() says ENOENT: the filled pages are only in the file. */
        for (size_t i = 0; i < ELEMENTSOF(pages_at); i++) {
                pages_at[i] = p + i * 4096;
                ck_assert_uint_eq(*(volatile uint8_t *) pages_at[i], 0);
        }
        ck_assert_int_eq(syscall(SYS_move_pages, 0, ELEMENTSOF(pages_at), pages_at, NULL, status,
                                 0),
                         0);
        for (size_t i = 0; i < ELEMENTSOF(status); i++)
                ck_assert_msg(status[i] == 0, "page %zu is on node %d", i, status[i]);
        munmap(p, size);
        mem_region_free(r);

        ck_assert_int_eq(mem_region_new(size, MEM_PAGE_4K, 63, &r, &error), -EINVAL);
        ck_assert_ptr_null(r);
        ck_assert_str_eq(error, "Cannot bind a region to NUMA node 63: no such node has memory");
}
END_TEST

/* The pools as sysfs and meminfo describe them, and what is refused. */
START_TEST(test_pool_info) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        uint64_t total = 0, free_bytes = 0;

        put("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "8\n");
        put("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "3\n");
        put("sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages", "2\n");
        put("sys/devices/system/node/node1/hugepages/hugepages-1048576kB/free_hugepages", "2\n");
        put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "1\n");
        put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages", "2\n");
        put("sys/devices/system/node/node0/meminfo",
            "Node 0 MemTotal:       16384 kB\nNode 0 MemFree:         4096 kB\n");
        put("sys/devices/system/node/node2/meminfo", "Node 2 MemTotal:   12 MB\n");
        put("proc/meminfo", "MemTotal:       32768 kB\nMemFree:  1 kB\nMemAvailable:   "
                            "20480 kB\n");
        ck_assert_int_eq(sysroot_open(tree, tree, &root), 0);

        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_2M, MEM_NODE_ANY, &total, &free_bytes), 0);
        ck_assert_uint_eq(total, 16 << 20);
        ck_assert_uint_eq(free_bytes, 6 << 20);
        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_1G, 1, &total, &free_bytes), 0);
        ck_assert_uint_eq(total, 2ULL << 30);
        ck_assert_uint_eq(free_bytes, 2ULL << 30);
        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_4K, 0, &total, &free_bytes), 0);
        ck_assert_uint_eq(total, 16 << 20);
        ck_assert_uint_eq(free_bytes, 4 << 20);
        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_4K, MEM_NODE_ANY, &total, &free_bytes), 0);
        ck_assert_uint_eq(total, 32 << 20);
        ck_assert_uint_eq(free_bytes, 20 << 20);

        /* More free than there are pages, a unit that is not kB, a pool that is not there. */
        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_2M, 1, &total, &free_bytes), -EBADMSG);
        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_4K, 2, &total, &free_bytes), -EBADMSG);
        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_1G, MEM_NODE_ANY, &total, &free_bytes),
                         -ENOENT);
        ck_assert_int_eq(mem_pool_info(root, MEM_PAGE_4K, -3, &total, &free_bytes), -EINVAL);
}
END_TEST

/* The pools listed: per page size the system's first, then the nodes' in order (node10 after
 * node2); what cannot be read is left out. */
START_TEST(test_pools_list) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_free_ MemPool *pools = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n = 0;

        put("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "8\n");
        put("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "3\n");
        put("sys/devices/system/node/node10/hugepages/hugepages-2048kB/nr_hugepages", "4\n");
        put("sys/devices/system/node/node10/hugepages/hugepages-2048kB/free_hugepages", "1\n");
        put("sys/devices/system/node/node2/hugepages/hugepages-2048kB/nr_hugepages", "4\n");
        put("sys/devices/system/node/node2/hugepages/hugepages-2048kB/free_hugepages", "2\n");
        put("sys/devices/system/node/node2/meminfo",
            "Node 2 MemTotal:       16384 kB\nNode 2 MemFree:         4096 kB\n");
        put("sys/devices/system/node/possible", "0-10\n");
        put("proc/meminfo", "MemTotal:       32768 kB\nMemAvailable:   20480 kB\n");
        ck_assert_int_eq(sysroot_open(tree, tree, &root), 0);

        ck_assert_int_eq(mem_pools_list(root, &pools, &n), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_ge(strextendf(&text, ";", "%s %d %" PRIu64 " %" PRIu64,
                                            mem_page_to_string(pools[i].page), pools[i].node,
                                            pools[i].total, pools[i].free_bytes),
                                 0);
        ck_assert_str_eq(text, "4K -1 33554432 20971520;4K 2 16777216 4194304;"
                               "2M -1 16777216 6291456;2M 2 8388608 4194304;2M 10 8388608 2097152");
}
END_TEST

/* A hugetlb region larger than this machine's free huge pages cannot be filled: the fill stops
 * with ENOSPC or ENOMEM, and the message names the pool (here a fake tree's). */
START_TEST(test_hugetlb_shortage) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL, *host = NULL;
        _cleanup_free_ char *text = NULL;
        uint64_t total = 0, free_bytes = 0;
        _cleanup_free_ char *oc = NULL;
        MemRegion *r = NULL;
        int k;

        put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "8\n");
        put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages", "3\n");
        ck_assert_int_eq(sysroot_open(tree, tree, &root), 0);
        ck_assert_int_eq(sysroot_open("/", "/", &host), 0);
        if (mem_pool_info(host, MEM_PAGE_2M, MEM_NODE_ANY, &total, &free_bytes) < 0 ||
            sysfs_read_attr(host, "proc/sys/vm/nr_overcommit_hugepages", &oc) < 0 ||
            !streq(oc, "0")) {
                fprintf(stderr, "no 2M pool without overcommit here: hugetlb fill not tried\n");
                return;
        }
        k = mem_region_new(free_bytes + (4 << 20), MEM_PAGE_2M, 0, &r, NULL);
        ck_assert_int_eq(k, 0);
        do
                k = mem_region_fill(r, 2 << 20);
        while (k == 0);
        ck_assert_msg(k == -ENOSPC || k == -ENOMEM, "fill ended with %d", k);
        ck_assert_uint_le(mem_region_populated(r), free_bytes);
        text = mem_region_shortage(r, root);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(strstr(text, "of 2M pages on node 0 (") &&
                              strstr(text, "filled): 6291456 bytes free of 16777216 in that pool"),
                      "%s", text);
        mem_region_free(r);
}
END_TEST

int main(void) {
        Suite *s = suite_create("mempool");
        TCase *tc = tcase_create("mempool");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_page_names);
        tcase_add_test(tc, test_bad_sizes);
        tcase_add_test(tc, test_shmem_fill);
        tcase_add_test(tc, test_numa_node);
        tcase_add_test(tc, test_pool_info);
        tcase_add_test(tc, test_pools_list);
        tcase_add_test(tc, test_hugetlb_shortage);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
