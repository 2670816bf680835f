/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Guest-RAM regions as memfds that the daemon fills ahead of time (design.md, "Pre-pinned
 * memory"): a cold pin is mostly the kernel zeroing pages, which a filled region has done
 * already. The model's part: making, filling in chunks and describing regions and the pools
 * they come from; no sd-bus, no threads (the caller runs the chunks where it likes). */

#include <stdbool.h>
#include <stdint.h>

#include "sysfs.h"

typedef enum MemPageSize {
        MEM_PAGE_4K, /* shmem: the page cache's small pages */
        MEM_PAGE_2M, /* hugetlb */
        MEM_PAGE_1G, /* hugetlb */
        _MEM_PAGE_MAX,
} MemPageSize;

#define MEM_NODE_ANY (-1)

typedef struct MemRegion MemRegion;

uint64_t mem_page_bytes(MemPageSize p);
const char *mem_page_to_string(MemPageSize p);             /* "4K" "2M" "1G" */
int mem_page_from_string(const char *s, MemPageSize *ret); /* "2M" "1G" "none" (= 4K) */

/* The pool a region of this page size and node comes from: pages in it and free now, in bytes.
 * Hugetlb: hugepages-NkB/{nr,free}_hugepages of the node (Documentation/admin-guide/mm/
 * hugetlbpage.rst) or of the whole system; 4K: the node's MemFree, or the system's MemAvailable
 * (proc(5) meminfo). */
int mem_pool_info(const SysRoot *root, MemPageSize page, int node, uint64_t *ret_total,
                  uint64_t *ret_free);

typedef struct MemPool {
        MemPageSize page;
        int node; /* MEM_NODE_ANY: the whole system's */
        uint64_t total, free_bytes;
} MemPool;

/* Every pool mem_pool_info() can read: per page size the system's, then each NUMA node's
 * (sys/devices/system/node/nodeN, Documentation/ABI/stable/sysfs-devices-node). Pools that
 * cannot be read (no such page size, no node directory) are left out. */
int mem_pools_list(const SysRoot *root, MemPool **ret, size_t *ret_n);

/* A region of size bytes (a whole number of pages), empty, its pages to come from node (or any,
 * MEM_NODE_ANY). Refuses a size of 0 or not a multiple of the page size, and a node without
 * memory, with -EINVAL and a message in *ret_error. */
int mem_region_new(uint64_t size, MemPageSize page, int node, MemRegion **ret, char **ret_error);
MemRegion *mem_region_free(MemRegion *r);

/* Fills the next chunk (at most max bytes, whole pages): hugetlb pages are allocated and zeroed by
 * fallocate; shmem pages are not zeroed by fallocate, so they are faulted in for writing
 * (MADV_POPULATE_WRITE). Returns 1 when the region is full, 0 when more is left, or a negative
 * errno (-ENOMEM/-ENOSPC: the pool ran out; the region keeps what it has, mem_region_free() gives
 * it back). */
int mem_region_fill(MemRegion *r, uint64_t max);

/* Gives every page back to its pool, also while others hold the fd (a hole punched over the whole
 * file; the seals allow it: no F_SEAL_WRITE). For a region that failed or was cancelled while it
 * filled: whoever took the fd already finds it empty, never half filled. */
int mem_region_empty(MemRegion *r);

int mem_region_fd(const MemRegion *r);
uint64_t mem_region_size(const MemRegion *r);
uint64_t mem_region_populated(const MemRegion *r);
MemPageSize mem_region_page(const MemRegion *r);
int mem_region_node(const MemRegion *r);

/* "Cannot fill 1073741824 bytes of 2M pages on node 0: 8388608 bytes free of 16777216 in that
 * pool": what a region that could not be filled says, from the pool as it is now. */
char *mem_region_shortage(const MemRegion *r, const SysRoot *root);
