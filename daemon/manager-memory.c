/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager's decisions about guest RAM (design.md, "Pre-pinned memory"): who may have how
 * much, from which pool and node, and when a region goes. The regions fill on threads of their
 * own (region.c); their lease's release, or their own, gives them back. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static int region_index(const Manager *d, const Region *r) {
        for (size_t i = 0; i < d->n_regions; i++)
                if (d->regions[i] == r)
                        return (int) i;
        return -1;
}

Region *manager_find_region(const Manager *d, uint64_t id) {
        for (size_t i = 0; i < d->n_regions; i++)
                if (d->regions[i]->id == id)
                        return d->regions[i];
        return NULL;
}

uint64_t manager_memory_held(const Manager *d, uint32_t uid, size_t *ret_n) {
        uint64_t sum = 0;
        size_t n = 0;

        for (size_t i = 0; i < d->n_regions; i++)
                if (d->regions[i]->uid == uid) {
                        sum += region_size(d->regions[i]);
                        n++;
                }
        if (ret_n)
                *ret_n = n;
        return sum;
}

uint64_t manager_memory_held_in(const Manager *d, MemPageSize page, int node) {
        uint64_t sum = 0;

        for (size_t i = 0; i < d->n_regions; i++) {
                const MemRegion *m = d->regions[i]->mem;

                if (mem_region_page(m) == page &&
                    (node == MEM_NODE_ANY || mem_region_node(m) == node))
                        sum += region_size(d->regions[i]);
        }
        return sum;
}

/* The node the group's devices sit on (sysfs numa_node, Documentation/ABI/testing/
 * sysfs-bus-pci): DMA to RAM on the same node avoids the interconnect. Any node when the
 * firmware does not say (-1) or the members disagree. */
static int devices_node(const Manager *d, const Lease *l) {
        int node = MEM_NODE_ANY;

        for (size_t i = 0; i < l->n_devices; i++) {
                const Device *dev = topology_find_device(d->model->topology, l->devices[i].address);

                if (!dev || dev->numa_node < 0 || l->devices[i].bridge)
                        continue;
                if (node != MEM_NODE_ANY && node != dev->numa_node)
                        return MEM_NODE_ANY;
                node = dev->numa_node;
        }
        return node;
}

static void describe_pool(char *buf, size_t n, MemPageSize page, int node) {
        if (node == MEM_NODE_ANY)
                snprintf(buf, n, "%s pages", mem_page_to_string(page));
        else
                snprintf(buf, n, "%s pages on node %d", mem_page_to_string(page), node);
}

/* The pool is asked before anything is allocated, so that a request it cannot meet fails at once,
 * naming the pool, rather than after minutes of filling. Free pages can still go to others
 * before the fill takes them: the fill then fails the same way. */
static int check_pool(Manager *d, uint64_t size, MemPageSize page, int node, LeaseError *err) {
        uint64_t total = 0, free_bytes = 0;
        char pool[48];
        int k;

        describe_pool(pool, sizeof(pool), page, node);
        k = mem_pool_info(d->model->root, page, node, &total, &free_bytes);
        if (k == -ENOENT && page != MEM_PAGE_4K)
                return lease_error_set(err, -ENOMEM, VA_ERROR_NO_MEMORY,
                                       "This host has no pool of %s (no hugepages-%" PRIu64
                                       "kB in sysfs): reserve them with hugepages= at boot or "
                                       "nr_hugepages (Documentation/admin-guide/mm/"
                                       "hugetlbpage.rst)",
                                       pool, mem_page_bytes(page) >> 10);
        /* Unread, the pool could be anything: a fill of a size nobody checked could take the
         * host's last free page. */
        if (k < 0)
                return lease_error_set(err, k == -ENOMEM ? k : -ENOMEM, VA_ERROR_NO_MEMORY,
                                       "Cannot allocate %" PRIu64 " bytes of %s: the pool's size "
                                       "cannot be read (%s): %s",
                                       size, pool,
                                       page == MEM_PAGE_4K
                                               ? (node == MEM_NODE_ANY ? "proc/meminfo"
                                                                       : "the node's meminfo")
                                               : "hugepages in sysfs",
                                       strerror(-k));
        if (free_bytes < size)
                return lease_error_set(err, -ENOMEM, VA_ERROR_NO_MEMORY,
                                       "Cannot allocate %" PRIu64 " bytes of %s: %" PRIu64
                                       " bytes free of %" PRIu64 " in that pool",
                                       size, pool, free_bytes, total);
        return 0;
}

static void regions_remove(Manager *d, Region *r) {
        int i = region_index(d, r);

        if (i < 0)
                return;
        memmove(d->regions + i, d->regions + i + 1,
                (d->n_regions - (size_t) i - 1) * sizeof(*d->regions));
        d->n_regions--;
}

/* A filled region is mapped for the VMM to adopt: the daemon's own mapping of the memfd, pinned
 * into the lease's container at the IOVA the caller chose. Pinning pages already there costs
 * little (kernel-facts.md: about 60 GB/s), so it runs here, on the loop. */
static int map_region(Manager *d, Region *r, char **ret_error) {
        Lease *l = d->leases ? lease_set_find_id(d->leases, r->lease_id) : NULL;
        uint64_t size = region_size(r);
        void *p;
        int k;

        if (!l || l->state != LEASE_ACTIVE || !vfio_backend_is_open(l->backend))
                return asprintf(ret_error,
                                "Lease %" PRIu64 " is no active claim any more: the region "
                                "cannot be mapped into its container",
                                r->lease_id) < 0
                               ? -ENOMEM
                               : -ESTALE;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mem_region_fd(r->mem), 0);
        if (p == MAP_FAILED)
                k = negative_errno();
        else
                k = l->backend->ops->map_dma(l->backend, p, r->iova, size);
        if (k < 0) {
                if (p != MAP_FAILED)
                        munmap(p, size);
                return asprintf(ret_error,
                                "Cannot map %" PRIu64 " bytes at IOVA 0x%" PRIx64
                                " into the %s container of lease %" PRIu64 "%s: %s",
                                size, r->iova, vfio_backend_name(l->backend), l->id,
                                k == -ENOMEM ? " (the daemon's RLIMIT_MEMLOCK, or the "
                                               "container's dma_entry_limit)"
                                             : "",
                                strerror(-k)) < 0
                               ? -ENOMEM
                               : k;
        }
        r->vaddr = p;
        r->mapped = true;
        return 0;
}

static void on_region_change(Region *r, bool done, void *userdata) {
        Manager *d = userdata;
        char pool[48];
        uint64_t now = 0;

        if (!done) {
                (void) region_bus_emit_changed(d, r);
                return;
        }
        describe_pool(pool, sizeof(pool), mem_region_page(r->mem), mem_region_node(r->mem));
        if (r->state == REGION_FAILED) {
                r->error = r->result == -ENOMEM || r->result == -ENOSPC
                                   ? mem_region_shortage(r->mem, d->model->root)
                                   : NULL;
                if (!r->error && asprintf(&r->error, "Cannot fill %" PRIu64 " bytes of %s: %s",
                                          region_size(r), pool, strerror(-r->result)) < 0)
                        r->error = NULL;
        } else if (r->iova != REGION_NO_IOVA) {
                if (map_region(d, r, &r->error) < 0)
                        r->state = REGION_FAILED; /* region.c gives the pages back */
        }
        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (r->state == REGION_FAILED)
                log_warning("Region %" PRIu64 " of lease %" PRIu64 " failed: %s", r->id,
                            r->lease_id, strna(r->error));
        else
                log_info("Region %" PRIu64 " of lease %" PRIu64 ": %" PRIu64
                         " bytes of %s filled in %.3f s%s",
                         r->id, r->lease_id, region_size(r), pool,
                         (double) (now - r->started_usec) / 1e6, r->mapped ? ", mapped" : "");
        (void) region_bus_emit_changed(d, r);
}

int manager_allocate_memory(Manager *d, Lease *l, const MemoryOptions *o, Region **ret,
                            LeaseError *err) {
        uint64_t limit = policy_host(d->policy)->max_pinned_bytes_per_uid, held;
        _cleanup_free_ char *problem = NULL;
        MemRegion *mem = NULL;
        MemPageSize page;
        Region *r = NULL, **grown;
        size_t n_held;
        int node, k;

        k = lease_can_hand_out_fds(l, err);
        if (k < 0)
                return k;
        if (mem_page_from_string(o->hugepages ? o->hugepages : "none", &page) < 0)
                return lease_error_set(err, -EINVAL, VA_ERROR_INVALID_ARGUMENT,
                                       "Option hugepages: \"%s\" is none of 2M, 1G, none",
                                       o->hugepages);
        node = o->numa_node == MEMORY_NODE_OF_DEVICES ? devices_node(d, l) : o->numa_node;
        if (o->iova != REGION_NO_IOVA) {
                if (!l->backend->ops->map_dma)
                        return lease_error_set(err, -EOPNOTSUPP, VA_ERROR_INVALID_ARGUMENT,
                                               "Option map: lease %" PRIu64 " uses the %s "
                                               "backend, which pins pages only for an IOAS with "
                                               "a device attached, and the device's one binding "
                                               "is the VMM's: there would be nothing pinned to "
                                               "adopt; the memfd itself is the hand-off (type1 "
                                               "can map)",
                                               l->id, vfio_backend_name(l->backend));
                if (o->iova % mem_page_bytes(page) != 0 || o->iova > UINT64_MAX - o->size)
                        return lease_error_set(err, -EINVAL, VA_ERROR_INVALID_ARGUMENT,
                                               "Option map: IOVA 0x%" PRIx64
                                               " is not aligned to the region's %s pages, or "
                                               "the region would end past 2^64",
                                               o->iova, mem_page_to_string(page));
        }
        /* Charged before anything is allocated, with what the uid's other regions hold. */
        held = manager_memory_held(d, l->uid, &n_held);
        if (o->size > limit || held > limit - o->size)
                return lease_error_set(err, -EPERM, VA_ERROR_POLICY_DENIED,
                                       "A region of %" PRIu64 " bytes for uid %" PRIu32
                                       " is over the policy's limit: it holds %" PRIu64
                                       " bytes in %zu regions already "
                                       "(host.max_pinned_bytes_per_uid: %" PRIu64 " bytes)",
                                       o->size, l->uid, held, n_held, limit);
        k = mem_region_new(o->size, page, node, &mem, &problem);
        if (k == -EINVAL)
                return lease_error_set(err, k, VA_ERROR_INVALID_ARGUMENT, "%s",
                                       problem ? problem : "Invalid region");
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_NO_MEMORY,
                                       "Cannot make a memfd of %" PRIu64 " bytes of %s pages: %s",
                                       o->size, mem_page_to_string(page), strerror(-k));
        k = check_pool(d, o->size, page, node, err);
        if (k < 0)
                goto fail;
        grown = reallocarray(d->regions, d->n_regions + 1, sizeof(*d->regions));
        if (!grown) {
                k = -ENOMEM;
                goto fail;
        }
        d->regions = grown;
        k = region_new(d->event, mem, d->next_region_id + 1, l->id, l->uid, on_region_change, d,
                       &r);
        if (k < 0) {
                lease_error_set(err, k, VA_ERROR_FAILED, "Cannot start filling a region: %s",
                                strerror(-k));
                goto fail;
        }
        d->next_region_id++;
        r->iova = o->iova;
        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &r->started_usec);
        d->regions[d->n_regions++] = r;
        *ret = r;
        return 0;
fail:
        mem_region_free(mem);
        return k;
}

void manager_release_region(Manager *d, Region *r, const char *why) {
        char pool[48];

        describe_pool(pool, sizeof(pool), mem_region_page(r->mem), mem_region_node(r->mem));
        log_info("Region %" PRIu64 " of lease %" PRIu64 " (%" PRIu64 " bytes of %s, %s) "
                 "given back: %s",
                 r->id, r->lease_id, region_size(r), pool, region_state_to_string(r->state), why);
        regions_remove(d, r);
        (void) region_bus_emit_removed(d, r);
        region_free(r);
}

void manager_drop_regions(Manager *d, uint64_t lease_id, const char *why) {
        for (size_t i = d->n_regions; i > 0; i--)
                if (d->regions[i - 1]->lease_id == lease_id)
                        manager_release_region(d, d->regions[i - 1], why);
}

void manager_free_regions(Manager *d) {
        for (size_t i = 0; i < d->n_regions; i++)
                region_free(d->regions[i]);
        d->regions = mfree(d->regions);
        d->n_regions = 0;
}
