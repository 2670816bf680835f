/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mempool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

/* Linux 5.14; Debian 12's glibc headers may lack it. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct MemRegion {
        int fd;
        uint64_t size, populated;
        MemPageSize page;
        int node;
};

static const struct {
        const char *name;
        uint64_t bytes;
        unsigned memfd_flags; /* MFD_HUGETLB and the page size in its bits (memfd_create(2)) */
} pages[_MEM_PAGE_MAX] = {
        [MEM_PAGE_4K] = { "4K", UINT64_C(4) << 10, 0 },
        [MEM_PAGE_2M] = { "2M", UINT64_C(2) << 20, MFD_HUGETLB | MFD_HUGE_2MB },
        [MEM_PAGE_1G] = { "1G", UINT64_C(1) << 30, MFD_HUGETLB | MFD_HUGE_1GB },
};

uint64_t mem_page_bytes(MemPageSize p) {
        return p < _MEM_PAGE_MAX ? pages[p].bytes : 0;
}

const char *mem_page_to_string(MemPageSize p) {
        return p < _MEM_PAGE_MAX ? pages[p].name : NULL;
}

int mem_page_from_string(const char *s, MemPageSize *ret) {
        if (s && streq(s, "none")) {
                *ret = MEM_PAGE_4K;
                return 0;
        }
        for (MemPageSize p = MEM_PAGE_2M; p < _MEM_PAGE_MAX; p++)
                if (s && streq(s, pages[p].name)) {
                        *ret = p;
                        return 0;
                }
        return -EINVAL;
}

/* "Key:   123 kB" of a meminfo file ("Node 0 Key:" in a node's); bytes. */
static int meminfo_value(const char *text, const char *key, uint64_t *ret) {
        size_t n = strlen(key);

        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                const char *k = l;
                char num[24];
                size_t len;
                uint64_t v;

                if (strneq(k, "Node ", 5)) /* "Node 0 MemFree:" */
                        k = strchr(k + 5, ' ') ? strchr(k + 5, ' ') + 1 : k;
                if (!strneq(k, key, n) || k[n] != ':')
                        continue;
                k += n + 1;
                k += strspn(k, " ");
                len = strspn(k, "0123456789");
                if (len == 0 || len >= sizeof(num) || !strneq(k + len, " kB", 3))
                        return -EBADMSG;
                memcpy(num, k, len);
                num[len] = 0;
                if (safe_atou64(num, 10, &v) < 0 || v > UINT64_MAX >> 10)
                        return -EBADMSG;
                *ret = v << 10;
                return 0;
        }
        return -ENODATA;
}

static int read_u64(const SysRoot *root, const char *path, uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        int k = sysfs_read_attr(root, path, &text);

        if (k < 0)
                return k;
        return safe_atou64(text, 10, ret) < 0 ? -EBADMSG : 0;
}

int mem_pool_info(const SysRoot *root, MemPageSize page, int node, uint64_t *ret_total,
                  uint64_t *ret_free) {
        char dir[96], path[160];
        uint64_t total, free_pages;
        int k;

        if (page >= _MEM_PAGE_MAX || node < MEM_NODE_ANY)
                return -EINVAL;
        if (page == MEM_PAGE_4K) {
                _cleanup_free_ char *text = NULL;

                if (node == MEM_NODE_ANY)
                        snprintf(path, sizeof(path), "proc/meminfo");
                else
                        snprintf(path, sizeof(path), "sys/devices/system/node/node%d/meminfo",
                                 node);
                k = sysfs_read_attr(root, path, &text);
                if (k >= 0)
                        k = meminfo_value(text, "MemTotal", ret_total);
                if (k >= 0)
                        k = meminfo_value(text, node == MEM_NODE_ANY ? "MemAvailable" : "MemFree",
                                          ret_free);
                return k;
        }
        if (node == MEM_NODE_ANY)
                snprintf(dir, sizeof(dir), "sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB",
                         pages[page].bytes >> 10);
        else
                snprintf(dir, sizeof(dir),
                         "sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64 "kB", node,
                         pages[page].bytes >> 10);
        snprintf(path, sizeof(path), "%s/nr_hugepages", dir);
        k = read_u64(root, path, &total);
        if (k < 0)
                return k;
        snprintf(path, sizeof(path), "%s/free_hugepages", dir);
        k = read_u64(root, path, &free_pages);
        if (k < 0)
                return k;
        if (total > UINT64_MAX / pages[page].bytes || free_pages > total)
                return -EBADMSG;
        *ret_total = total * pages[page].bytes;
        *ret_free = free_pages * pages[page].bytes;
        return 0;
}

/* The nodes sysfs lists, ascending. */
static int list_nodes(const SysRoot *root, int **ret, size_t *ret_n) {
        _cleanup_free_ int *nodes = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d = NULL;
        int k;

        k = sysroot_opendir_at(root, -1, "sys/devices/system/node", &d);
        if (k == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (k < 0)
                return k;
        while ((de = readdir(d))) {
                uint32_t v;
                int *grown;

                if (!strneq(de->d_name, "node", 4) || safe_atou32(de->d_name + 4, 10, &v) < 0 ||
                    v > INT32_MAX)
                        continue;
                grown = reallocarray(nodes, n + 1, sizeof(*nodes));
                if (!grown) {
                        closedir(d);
                        return -ENOMEM;
                }
                nodes = grown;
                nodes[n++] = (int) v;
        }
        closedir(d);
        for (size_t i = 1; i < n; i++) /* insertion sort: a handful of nodes */
                for (size_t j = i; j > 0 && nodes[j - 1] > nodes[j]; j--) {
                        int t = nodes[j];

                        nodes[j] = nodes[j - 1];
                        nodes[j - 1] = t;
                }
        *ret = TAKE_PTR(nodes);
        *ret_n = n;
        return 0;
}

int mem_pools_list(const SysRoot *root, MemPool **ret, size_t *ret_n) {
        _cleanup_free_ MemPool *pools = NULL;
        _cleanup_free_ int *nodes = NULL;
        size_t n_nodes = 0, n = 0;
        int k;

        k = list_nodes(root, &nodes, &n_nodes);
        if (k < 0)
                return k;
        for (MemPageSize p = 0; p < _MEM_PAGE_MAX; p++)
                for (size_t i = 0; i <= n_nodes; i++) {
                        MemPool pool = { .page = p, .node = i == 0 ? MEM_NODE_ANY : nodes[i - 1] };
                        MemPool *grown;

                        if (mem_pool_info(root, p, pool.node, &pool.total, &pool.free_bytes) < 0)
                                continue;
                        grown = reallocarray(pools, n + 1, sizeof(*pools));
                        if (!grown)
                                return -ENOMEM;
                        pools = grown;
                        pools[n++] = pool;
                }
        *ret = TAKE_PTR(pools);
        *ret_n = n;
        return 0;
}

/* The NUMA nodes a mask can name; more than any machine the daemon runs on has. */
#define MEM_NODES_MAX 1024
#define MEM_MPOL_BIND 2 /* include/uapi/linux/mempolicy.h */

/* Binds the file's pages to node before any is allocated: mbind(2) on a shared mapping of a
 * shmem or hugetlbfs file sets the file's own (shared) policy, which the later fill and every
 * mapping of the VMM follow. MAP_NORESERVE: hugetlbfs would otherwise reserve the whole region's
 * pages at mmap time, and a short pool would fail here rather than in the fill that says how
 * short. */
static int bind_node(int fd, uint64_t size, int node) {
        unsigned long mask[MEM_NODES_MAX / (8 * sizeof(unsigned long))] = {};
        void *p;
        int k = 0;

        if (node >= MEM_NODES_MAX)
                return -EINVAL;
        mask[node / (8 * sizeof(unsigned long))] = 1UL << (node % (8 * sizeof(unsigned long)));
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED)
                return negative_errno();
        if (syscall(SYS_mbind, p, size, MEM_MPOL_BIND, mask, MEM_NODES_MAX + 1, 0) < 0)
                k = negative_errno();
        munmap(p, size);
        return k;
}

int mem_region_new(uint64_t size, MemPageSize page, int node, MemRegion **ret, char **ret_error) {
        _cleanup_free_ MemRegion *r = NULL;

        *ret = NULL;
        if (page >= _MEM_PAGE_MAX || node < MEM_NODE_ANY)
                return -EINVAL;
        if (size == 0 || size % pages[page].bytes != 0 || size > (uint64_t) INT64_MAX) {
                if (ret_error &&
                    asprintf(ret_error,
                             "A region of %" PRIu64 " bytes is not a whole number of %s pages "
                             "(%" PRIu64 " bytes each)",
                             size, pages[page].name, pages[page].bytes) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (MemRegion) { .size = size, .page = page, .node = node };
        /* Sealed against shrinking: the VMM maps all of it, and a ftruncate by anyone holding
         * the fd would make its mapping fault (SIGBUS) where the daemon has pinned pages. */
        r->fd = memfd_create("vfio-assignd-region",
                             MFD_CLOEXEC | MFD_ALLOW_SEALING | pages[page].memfd_flags);
        if (r->fd < 0)
                return negative_errno();
        if (ftruncate(r->fd, (off_t) size) < 0 ||
            fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
                int k = negative_errno();

                safe_close(r->fd);
                return k;
        }
        if (node != MEM_NODE_ANY) {
                int k = bind_node(r->fd, size, node);

                if (k < 0) {
                        safe_close(r->fd);
                        if (ret_error &&
                            asprintf(ret_error, "Cannot bind a region to NUMA node %d: %s", node,
                                     k == -EINVAL ? "no such node has memory" : strerror(-k)) < 0)
                                *ret_error = NULL;
                        return k;
                }
        }
        *ret = TAKE_PTR(r);
        return 0;
}

MemRegion *mem_region_free(MemRegion *r) {
        if (!r)
                return NULL;
        safe_close(r->fd);
        free(r);
        return NULL;
}

int mem_region_fill(MemRegion *r, uint64_t max) {
        uint64_t page = pages[r->page].bytes, len;
        int k = 0;

        if (r->populated >= r->size)
                return 1;
        len = MIN(r->size - r->populated, MAX(max - max % page, page));
        if (r->page != MEM_PAGE_4K) {
                /* hugetlbfs allocates and zeroes the pages (hugetlbfs_fallocate()); no mapping
                 * needed. */
                if (fallocate(r->fd, 0, (off_t) r->populated, (off_t) len) < 0)
                        k = negative_errno();
        } else {
                /* shmem's fallocate leaves pages uncleared until first touched
                 * (shmem_fallocate()): fault them in for writing instead, which zeroes them. */
                void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
                               (off_t) r->populated);

                if (p == MAP_FAILED)
                        return negative_errno();
                if (madvise(p, len, MADV_POPULATE_WRITE) < 0)
                        k = negative_errno();
                munmap(p, len);
        }
        if (k < 0)
                /* Out of pages shows as ENOSPC (hugetlb) or ENOMEM/EFAULT (shmem). */
                return k == -EFAULT ? -ENOMEM : k;
        r->populated += len;
        return r->populated >= r->size;
}

int mem_region_empty(MemRegion *r) {
        if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t) r->size) < 0)
                return negative_errno();
        r->populated = 0;
        return 0;
}

int mem_region_fd(const MemRegion *r) {
        return r->fd;
}

uint64_t mem_region_size(const MemRegion *r) {
        return r->size;
}

uint64_t mem_region_populated(const MemRegion *r) {
        return r->populated;
}

MemPageSize mem_region_page(const MemRegion *r) {
        return r->page;
}

int mem_region_node(const MemRegion *r) {
        return r->node;
}

char *mem_region_shortage(const MemRegion *r, const SysRoot *root) {
        uint64_t total = 0, free_bytes = 0;
        char where[32] = "";
        char *text = NULL;
        int k;

        if (r->node != MEM_NODE_ANY)
                snprintf(where, sizeof(where), " on node %d", r->node);
        k = mem_pool_info(root, r->page, r->node, &total, &free_bytes);
        if (k < 0)
                k = asprintf(&text,
                             "Cannot fill %" PRIu64 " bytes of %s pages%s (%" PRIu64
                             " filled); the pool's size cannot be read: %s",
                             r->size, pages[r->page].name, where, r->populated, strerror(-k));
        else
                k = asprintf(&text,
                             "Cannot fill %" PRIu64 " bytes of %s pages%s (%" PRIu64
                             " filled): %" PRIu64 " bytes free of %" PRIu64 " in that pool",
                             r->size, pages[r->page].name, where, r->populated, free_bytes, total);
        return k < 0 ? NULL : text;
}
