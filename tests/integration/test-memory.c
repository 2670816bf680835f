/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest-RAM regions through the daemon (Lease.AllocateMemory, org.vfioassign1.Region), on the
 * kernel model (tests/mock: a hugetlb memfd is a shmem one there, the pools are the fake tree's)
 * and a private bus, like test-claim.c: a region fills and is handed over sealed and populated;
 * the policy's per-uid limit and the pool refuse before anything is allocated, naming the key and
 * the pool; a region released while it fills is cancelled and its pages given back, also from
 * the fd the caller holds; a region goes with its lease and with its holder; the daemon killed
 * with regions holds none when it comes back; a region can be DMA-mapped into the container. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define MiB(n) ((uint64_t) (n) << 20)
/* region.c fills in chunks of this size: the fault below holds the fill after the first. */
#define FILL_CHUNK MiB(64)

/* The shmem pool as the daemon reads it (proc/meminfo of the tree): 2 GiB, 1 GiB available. A
 * tree without it has a pool of unknown size, from which nothing is given. */
static void give_meminfo(void) {
        _cleanup_free_ char *dir = path_join(C.host, "proc"), *file = NULL;

        ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
        file = path_join(dir, "meminfo");
        write_file(file, "MemTotal:        2097152 kB\nMemFree:          524288 kB\n"
                         "MemAvailable:    1048576 kB\n");
}

/* The q35 host with a pool of 2 MiB pages: 64 of them, 16 free (32 MiB); meminfo unless not. */
static void case_start_pools_meminfo(bool meminfo) {
        _cleanup_free_ char *spec = path_join(H.tmpdir, "q35-hugepages.host");
        _cleanup_free_ char *text = xasprintf("include %s/%s\nhugepages 2048 nr=64 free=16\n",
                                              getenv("TEST_DATA_DIR") ?: "tests/data", Q35_HOST);

        write_file(spec, text);
        case_begin(spec);
        if (meminfo)
                give_meminfo();
        polkit_allow_all();
        daemon_start();
}

static void case_start_pools(void) {
        case_start_pools_meminfo(true);
}

/* How many regions' memfds the daemon holds (memfd_create(2)'s "memfd:NAME" links). */
static unsigned daemon_memfds(void) {
        _cleanup_free_ char *dir = xasprintf("/proc/%d/fd", (int) C.pid);
        unsigned n = 0;

        for (int fd = 0; fd < 4096; fd++) {
                _cleanup_free_ char *link = xasprintf("%s/%d", dir, fd);
                char target[PATH_MAX];
                ssize_t len = readlink(link, target, sizeof(target) - 1);

                if (len <= 0)
                        continue;
                target[len] = 0;
                if (startswith(target, "/memfd:vfio-assignd-region"))
                        n++;
        }
        return n;
}

typedef struct Alloc {
        int fd; /* our copy */
        char *path;
} Alloc;

static void alloc_clear(Alloc *a) {
        a->fd = safe_close(a->fd);
        a->path = mfree(a->path);
}

/* AllocateMemory(size, {hugepages: pages} when pages is set) on the lease at lease. */
static Alloc allocate(sd_bus *bus, const char *lease, uint64_t size, const char *pages) {
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *reply = pages ? call_ok(bus, lease, IFACE_LEASE, "AllocateMemory",
                                                        "ta{sv}", size, 1, "hugepages", "s", pages)
                                              : call_ok(bus, lease, IFACE_LEASE, "AllocateMemory",
                                                        "ta{sv}", size, 0);
        const char *path;
        Alloc a;
        int fd;

        ck_assert_int_ge(sd_bus_message_read(reply, "ho", &fd, &path), 0);
        a.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(a.fd, 0);
        a.path = strdup(path);
        ck_assert(startswith(a.path, OBJ_REGION_PREFIX "/"));
        return a;
}

static char *region_str(const char *path, const char *name) {
        _cleanup_json_ json_object *p = get_property(path, IFACE_REGION, name);

        return strdup(strempty(jstr_or_null(p, "data")));
}

static uint64_t region_u64(const char *path, const char *name) {
        _cleanup_json_ json_object *p = get_property(path, IFACE_REGION, name);

        return (uint64_t) json_object_get_uint64(jget(p, "data"));
}

/* Until the region is no longer filling (bounded); its State then. */
static char *wait_filled(const char *path) {
        for (int64_t t0 = now_usec(); now_usec() - t0 < WAIT_MS * 1000LL; sleep_ms(10)) {
                char *s = region_str(path, "State");

                if (!streq(s, "filling"))
                        return s;
                free(s);
        }
        ck_abort_msg("%s still filling after %d ms", path, WAIT_MS);
        return NULL;
}

/* Whether the daemon still serves a region at path. */
static bool region_served(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get",
                                   &e, &reply, "ss", IFACE_REGION, "State");

        if (r < 0 && sd_bus_error_has_name(&e, "org.freedesktop.DBus.Error.UnknownObject"))
                return false;
        ck_assert_msg(r >= 0, "Get %s State: %s: %s", path, strna(e.name), strna(e.message));
        return true;
}

static uint64_t allocated_bytes(int fd) {
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        return (uint64_t) st.st_blocks * 512;
}

static void release_region(sd_bus *bus, const char *path) {
        sd_bus_message_unref(call_ok(bus, path, IFACE_REGION, "Release", "a{sv}", 0));
}

/* A region fills, is handed over sealed against resizing and with every page there, and is the
 * lease's until Release; our fd keeps its memory after the daemon let go. */
START_TEST(test_allocate_fill_release) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *state = NULL, *pages = NULL, *owner = NULL;
        _cleanup_(alloc_clear) Alloc a = { .fd = -1 };
        struct stat st;
        int seals;

        case_start_pools();
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        a = allocate(bus, lease, MiB(16), NULL);
        state = wait_filled(a.path);
        ck_assert_str_eq(state, "ready");
        ck_assert_uint_eq(region_u64(a.path, "Populated"), MiB(16));
        ck_assert_uint_eq(region_u64(a.path, "Size"), MiB(16));
        pages = region_str(a.path, "PageSize");
        ck_assert_str_eq(pages, "4K");
        owner = region_str(a.path, "Lease");
        ck_assert_str_eq(owner, lease);
        ck_assert_int_eq(fstat(a.fd, &st), 0);
        ck_assert_int_eq(st.st_size, (off_t) MiB(16));
        ck_assert_uint_ge(allocated_bytes(a.fd), MiB(16));
        seals = fcntl(a.fd, F_GET_SEALS);
        ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                         F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        ck_assert_int_eq(ftruncate(a.fd, (off_t) MiB(1)), -1);
        ck_assert_uint_eq(daemon_memfds(), 1);

        release_region(bus, a.path);
        ck_assert(!region_served(bus, a.path));
        ck_assert_uint_eq(daemon_memfds(), 0);
        /* A ready region is the VMM's RAM: the daemon letting go takes nothing from it. */
        ck_assert_uint_ge(allocated_bytes(a.fd), MiB(16));
        ck_assert(log_contains("given back: released by"));
        release(bus, lease);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* Bad sizes and page names, a pool too small and one the host does not have: refused at once,
 * naming what was asked and the pool, and nothing is allocated. */
START_TEST(test_refusals_allocate_nothing) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL,
                            *m5 = NULL, *m6 = NULL, *m7 = NULL, *m8 = NULL, *state = NULL,
                            *pages = NULL;
        _cleanup_(alloc_clear) Alloc a = { .fd = -1 };

        case_start_pools_meminfo(false);
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        m7 = call_error(bus, ERROR_PREFIX "NoMemory", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", MiB(4), 0);
        ck_assert_str_eq(m7, "Cannot allocate 4194304 bytes of 4K pages: the pool's size cannot "
                             "be read (proc/meminfo): No such file or directory");
        give_meminfo();
        m8 = call_error(bus, ERROR_PREFIX "NoMemory", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", (uint64_t) 2 << 30, 0);
        ck_assert_str_eq(m8, "Cannot allocate 2147483648 bytes of 4K pages: 1073741824 bytes free "
                             "of 2147483648 in that pool");
        m1 = call_error(bus, ERROR_PREFIX "InvalidArgument", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", MiB(3), 1, "hugepages", "s", "2M");
        ck_assert_str_eq(m1, "A region of 3145728 bytes is not a whole number of 2M pages "
                             "(2097152 bytes each)");
        m2 = call_error(bus, ERROR_PREFIX "InvalidArgument", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", MiB(2), 1, "hugepages", "s", "4M");
        ck_assert_str_eq(m2, "Option hugepages: \"4M\" is none of 2M, 1G, none");
        m3 = call_error(bus, ERROR_PREFIX "NoMemory", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", MiB(64), 1, "hugepages", "s", "2M");
        ck_assert_str_eq(m3, "Cannot allocate 67108864 bytes of 2M pages: 33554432 bytes free of "
                             "134217728 in that pool");
        m4 = call_error(bus, ERROR_PREFIX "NoMemory", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", (uint64_t) 1 << 30, 1, "hugepages", "s", "1G");
        assert_contains(m4, "This host has no pool of 1G pages (no hugepages-1048576kB in sysfs)");
        m5 = call_error(bus, ERROR_PREFIX "InvalidArgument", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", MiB(2), 1, "color", "s", "blue");
        ck_assert_str_eq(m5, "Unknown option \"color\"");
        m6 = call_error(bus, ERROR_PREFIX "InvalidArgument", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", MiB(2), 1, "numa_node", "i", -7);
        ck_assert_str_eq(m6, "Option numa_node: -7 is no node (-1: any)");
        expect_error(bus, ERROR_PREFIX "InvalidArgument", lease, IFACE_LEASE, "AllocateMemory",
                     "ta{sv}", MiB(2), 1, "hugepages", "u", 2);
        ck_assert_uint_eq(daemon_memfds(), 0);

        /* What the pool has is given. */
        a = allocate(bus, lease, MiB(32), "2M");
        state = wait_filled(a.path);
        ck_assert_str_eq(state, "ready");
        pages = region_str(a.path, "PageSize");
        ck_assert_str_eq(pages, "2M");
        release(bus, lease);
        assert_q35_group_back();
        ck_assert_uint_eq(daemon_memfds(), 0);
        case_end();
}
END_TEST

/* host.max_pinned_bytes_per_uid counts every region of the uid, and refuses the one that would
 * pass it before anything is allocated, naming the key; releasing one makes room. */
START_TEST(test_policy_limit_per_uid) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *policy = NULL, *msg = NULL, *s1 = NULL, *s2 = NULL,
                            *want = NULL;
        _cleanup_(alloc_clear) Alloc a = { .fd = -1 }, b = { .fd = -1 };

        case_start_pools();
        policy = path_join(C.policy, "60-pinned.json");
        write_file(policy, "{\"version\": 1, \"host\": {\"max_pinned_bytes_per_uid\": \"24M\"}}\n");
        bus = bus_connect();
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        lease = claim_group(bus, Q35_GROUP);
        a = allocate(bus, lease, MiB(16), NULL);
        msg = call_error(bus, ERROR_PREFIX "PolicyDenied", lease, IFACE_LEASE, "AllocateMemory",
                         "ta{sv}", MiB(16), 0);
        want = xasprintf("A region of 16777216 bytes for uid %u is over the policy's limit: it "
                         "holds 16777216 bytes in 1 regions already "
                         "(host.max_pinned_bytes_per_uid: 25165824 bytes)",
                         (unsigned) getuid());
        ck_assert_str_eq(msg, want);
        ck_assert_uint_eq(daemon_memfds(), 1);
        s1 = wait_filled(a.path);
        ck_assert_str_eq(s1, "ready");
        release_region(bus, a.path);
        b = allocate(bus, lease, MiB(16), NULL);
        s2 = wait_filled(b.path);
        ck_assert_str_eq(s2, "ready");
        release(bus, lease);
        ck_assert(!region_served(bus, b.path));
        ck_assert_uint_eq(daemon_memfds(), 0);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* Released while it fills: the fill stops at its next chunk, and every page goes back, also from
 * the fd the caller already holds; the daemon holds no memfd. */
START_TEST(test_cancel_mid_fill) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *state = NULL;
        _cleanup_(alloc_clear) Alloc a = { .fd = -1 };
        sd_bus_slot *slot = NULL;
        PendingCall call = {};

        case_start_pools();
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        set_faults("fill-hang-after 1\n");
        a = allocate(bus, lease, 2 * FILL_CHUNK, NULL);
        for (int64_t t0 = now_usec(); region_u64(a.path, "Populated") < FILL_CHUNK; sleep_ms(10))
                ck_assert_msg(now_usec() - t0 < WAIT_MS * 1000LL, "the first chunk did not fill");
        state = region_str(a.path, "State");
        ck_assert_str_eq(state, "filling");
        ck_assert_uint_eq(region_u64(a.path, "Populated"), FILL_CHUNK);
        ck_assert_uint_ge(allocated_bytes(a.fd), FILL_CHUNK);

        /* The release waits for the chunk in progress, which the fault holds until it goes. */
        ck_assert_int_ge(sd_bus_call_method_async(bus, &slot, BUS_NAME, a.path, IFACE_REGION,
                                                  "Release", on_pending_reply, &call, "a{sv}", 0),
                         0);
        ck_assert_int_ge(sd_bus_flush(bus), 0);
        set_faults("");
        pending_wait(bus, &call);
        ck_assert_msg(!call.error_name, "Release: %s: %s", call.error_name, call.error_message);
        sd_bus_slot_unref(slot);
        pending_clear(&call);
        ck_assert(!region_served(bus, a.path));
        ck_assert_uint_eq(allocated_bytes(a.fd), 0);
        ck_assert_uint_eq(daemon_memfds(), 0);
        ck_assert(log_contains("(134217728 bytes of 4K pages, filling) given back"));
        release(bus, lease);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* A region goes when its holder leaves the bus, with the lease. */
START_TEST(test_holder_exit_frees_region) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *watcher = NULL;
        _cleanup_free_ char *region = NULL;
        sd_bus *holder;
        uint64_t allocated;
        int fd;

        case_start_pools();
        holder = bus_connect();
        {
                _cleanup_free_ char *lease = claim_group(holder, Q35_GROUP), *state = NULL;
                _cleanup_(alloc_clear) Alloc a = allocate(holder, lease, MiB(8), NULL);

                state = wait_filled(a.path);
                ck_assert_str_eq(state, "ready");
                region = TAKE_PTR(a.path);
                fd = TAKE_FD(a.fd);
        }
        ck_assert_uint_eq(daemon_memfds(), 1);
        sd_bus_flush_close_unref(holder);
        watcher = bus_connect();
        ck_assert_int_ge(wait_group_back((char *[]) { (char *) NIC1, (char *) NIC2, NULL },
                                         NIC_DRIVER, WAIT_MS),
                         0);
        /* The group is back once the release's writes are done, its regions go when the
         * release's end reaches the event loop: a moment later, with no reply to wait for. */
        for (int64_t t0 = now_usec(); region_served(watcher, region); sleep_ms(10))
                ck_assert_msg(now_usec() - t0 < WAIT_MS * 1000LL,
                              "%s still served %d ms after its group was back", region, WAIT_MS);
        ck_assert_uint_eq(daemon_memfds(), 0);
        ck_assert(log_contains("given back: its lease was released"));
        allocated = allocated_bytes(fd);
        ck_assert_uint_ge(allocated, MiB(8)); /* ours to keep */
        safe_close(fd);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* kill -9 of the daemon with a region filling and one ready: the claim comes back at the restart,
 * no region does (they are runtime only), and the daemon holds no memfd. */
START_TEST(test_daemon_killed_with_regions) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *state = NULL;
        _cleanup_(alloc_clear) Alloc a = { .fd = -1 }, b = { .fd = -1 };

        case_start_pools();
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        a = allocate(bus, lease, MiB(8), NULL);
        state = wait_filled(a.path);
        ck_assert_str_eq(state, "ready");
        set_faults("fill-hang-after 1\n");
        b = allocate(bus, lease, 2 * FILL_CHUNK, NULL);
        daemon_kill();
        set_faults("");
        daemon_start();
        ck_assert_uint_eq(n_leases(), 1);
        ck_assert(!region_served(bus, a.path));
        ck_assert(!region_served(bus, b.path));
        ck_assert_uint_eq(daemon_memfds(), 0);
        ck_assert_uint_ge(allocated_bytes(a.fd), MiB(8)); /* the ready one is ours */
        release(bus, lease);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* Option map: the filled region is DMA-mapped into the lease's type1 container at the IOVA asked
 * (Mapped, Iova); an IOVA not aligned to the pages is refused; iommufd cannot yet, and says so. */
START_TEST(test_map_into_container) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *state = NULL, *m1 = NULL;
        _cleanup_json_ json_object *mapped = NULL;
        const char *path;
        sd_bus_message *reply;
        int fd;

        case_start_pools();
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        m1 = call_error(bus, ERROR_PREFIX "InvalidArgument", lease, IFACE_LEASE, "AllocateMemory",
                        "ta{sv}", MiB(4), 2, "hugepages", "s", "2M", "map", "t", (uint64_t) 0x1000);
        ck_assert_str_eq(m1, "Option map: IOVA 0x1000 is not aligned to the region's 2M pages, "
                             "or the region would end past 2^64");
        reply = call_ok(bus, lease, IFACE_LEASE, "AllocateMemory", "ta{sv}", MiB(8), 1, "map", "t",
                        (uint64_t) 1 << 32);
        ck_assert_int_ge(sd_bus_message_read(reply, "ho", &fd, &path), 0);
        path = strdupa(path);
        sd_bus_message_unref(reply);
        state = wait_filled(path);
        ck_assert_str_eq(state, "ready");
        mapped = get_property(path, IFACE_REGION, "Mapped");
        ck_assert(json_object_get_boolean(jget(mapped, "data")));
        ck_assert_uint_eq(region_u64(path, "Iova"), (uint64_t) 1 << 32);
        ck_assert(log_contains(", mapped"));
        release(bus, lease);
        assert_q35_group_back();
        case_end();
}
END_TEST

START_TEST(test_map_refused_for_iommufd) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *msg = NULL;

        case_start_iommufd();
        give_meminfo();
        bus = bus_connect();
        lease = claim_q35_with_backend(bus, "iommufd");
        msg = call_error(bus, ERROR_PREFIX "InvalidArgument", lease, IFACE_LEASE, "AllocateMemory",
                         "ta{sv}", MiB(4), 1, "map", "t", (uint64_t) 1 << 32);
        assert_contains(msg, "uses the iommufd backend, which pins pages only for an IOAS with a "
                             "device attached");
        ck_assert_uint_eq(daemon_memfds(), 0);
        release(bus, lease);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* assignctl claim --memory waits for the fill; when the daemon goes meanwhile (kill -9), it does
 * not wait forever: it says so and exits non-zero without running the command. */
START_TEST(test_assignctl_daemon_gone_while_filling) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *marker = NULL, *cmd = NULL;
        Proc p = {};
        int rc;

        case_start_pools();
        bus = bus_connect();
        set_faults("fill-hang-after 1\n");
        marker = path_join(C.dir, "ran");
        cmd = xasprintf("touch %s", marker);
        proc_spawn(&p, (char *) H.assignctl, (char *) "claim", (char *) "6", (char *) "--memory",
                   (char *) "128M", (char *) "--exec", (char *) "sh", (char *) "-c", cmd);
        for (int64_t t0 = now_usec(); !region_served(bus, OBJ_REGION_PREFIX "/1"); sleep_ms(10))
                ck_assert_msg(now_usec() - t0 < WAIT_MS * 1000LL, "no region was made");
        for (int64_t t0 = now_usec(); region_u64(OBJ_REGION_PREFIX "/1", "Populated") < FILL_CHUNK;
             sleep_ms(10))
                ck_assert_msg(now_usec() - t0 < WAIT_MS * 1000LL, "the first chunk did not fill");
        daemon_kill();
        set_faults("");
        ck_assert_msg(proc_wait_stderr(&p, "claim 6: ", WAIT_MS), "assignctl said nothing: %s",
                      strempty(p.err));
        rc = proc_stop(&p, 0);
        ck_assert_int_ne(rc, 0);
        ck_assert(!path_exists(marker));
        daemon_start();
        ck_assert_int_ge(wait_group_back((char *[]) { (char *) NIC1, (char *) NIC2, NULL },
                                         NIC_DRIVER, WAIT_MS),
                         0);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* Manager.MemoryPools as "PAGE NODE TOTAL FREE HELD;..." */
static char *memory_pools(void) {
        _cleanup_json_ json_object *reply = get_property(OBJ_ROOT, IFACE_MANAGER, "MemoryPools");
        json_object *data = jget(reply, "data");
        char *text = NULL;

        ck_assert_str_eq(jstr_or_null(reply, "type"), "a(sittt)");
        for (size_t i = 0; i < jlen(data); i++) {
                json_object *row = jidx(data, i);

                ck_assert_int_ge(strextendf(&text, ";", "%s %d %" PRIu64 " %" PRIu64 " %" PRIu64,
                                            json_object_get_string(jidx(row, 0)),
                                            json_object_get_int(jidx(row, 1)),
                                            (uint64_t) json_object_get_uint64(jidx(row, 2)),
                                            (uint64_t) json_object_get_uint64(jidx(row, 3)),
                                            (uint64_t) json_object_get_uint64(jidx(row, 4))),
                                 0);
        }
        return text ?: strdup("");
}

/* Manager.MemoryPools: each pool as sysfs has it, and what the daemon's regions hold of it. */
START_TEST(test_memory_pools) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *before = NULL, *during = NULL, *lease = NULL, *state = NULL;
        _cleanup_(alloc_clear) Alloc a = { .fd = -1 };

        case_start_pools();
        before = memory_pools();
        ck_assert_str_eq(before, "4K -1 2147483648 1073741824 0;2M -1 134217728 33554432 0");
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        a = allocate(bus, lease, MiB(8), "2M");
        state = wait_filled(a.path);
        ck_assert_str_eq(state, "ready");
        /* The fake pool does not shrink (the kernel's would); the daemon's share shows. */
        during = memory_pools();
        ck_assert_str_eq(during, "4K -1 2147483648 1073741824 0;2M -1 134217728 33554432 8388608");
        release(bus, lease);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* assignctl status --memory: whether a VM of that size fits our RLIMIT_MEMLOCK (RAM + 1 MiB)
 * and the free pages of the pool, as a script can test (exit 1 when not). */
START_TEST(test_status_preflight) {
        _cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL;
        _cleanup_json_ json_object *j = NULL, *j2 = NULL;
        struct rlimit before;
        json_object *mem;

        case_start_pools();
        ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &before), 0);
        /* 4 MiB of RAM needs 5 MiB locked; give the command 4 MiB (short) first. A test
         * machine's hard limit may be no more than the default 8 MiB. */
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK,
                                   &(struct rlimit) { .rlim_cur = MiB(4),
                                                      .rlim_max = before.rlim_max }),
                         0);
        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "--json", (char *) "status",
                                   (char *) "--memory", (char *) "4M", (char *) "--hugepages",
                                   (char *) "2M"),
                         1);
        j = parse_json(out, "status --memory");
        mem = jget(j, "memory");
        ck_assert_uint_eq(json_object_get_uint64(jget(mem, "memlock_needed")), MiB(5));
        ck_assert_uint_eq(json_object_get_uint64(jget(mem, "memlock_limit")), MiB(4));
        ck_assert(!json_object_get_boolean(jget(mem, "memlock_ok")));
        ck_assert_uint_eq(json_object_get_uint64(jget(mem, "pool_free")), MiB(32));
        ck_assert(json_object_get_boolean(jget(mem, "pool_ok")));
        ck_assert_ptr_nonnull(jget(j, "host"));

        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK,
                                   &(struct rlimit) { .rlim_cur = MiB(5),
                                                      .rlim_max = before.rlim_max }),
                         0);
        ck_assert_int_eq(ASSIGNCTL(&out2, NULL, (char *) "status", (char *) "--memory",
                                   (char *) "4M", (char *) "--hugepages", (char *) "2M"),
                         0);
        assert_contains(out2, "  memlock:   5 MiB here, a VMM needs 5 MiB per IOMMU address "
                              "space (N x with a vIOMMU): ok\n  2M pages: 32 MiB free: ok\n");
        ck_assert_int_eq(ASSIGNCTL(&out3, NULL, (char *) "--json", (char *) "status",
                                   (char *) "--memory", (char *) "64M", (char *) "--hugepages",
                                   (char *) "2M"),
                         1);
        j2 = parse_json(out3, "status --memory 64M");
        ck_assert(!json_object_get_boolean(jget(jget(j2, "memory"), "pool_ok")));
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &before), 0);
        case_end();
}
END_TEST

/* A prepare hands out nothing, memory neither. */
START_TEST(test_prepare_has_no_memory) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL;

        case_start_pools();
        bus = bus_connect();
        lease = prepare(bus, NIC1, false);
        expect_error(bus, ERROR_PREFIX "NotClaimed", lease, IFACE_LEASE, "AllocateMemory", "ta{sv}",
                     MiB(4), 0);
        unprepare(bus, NIC1);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* assignctl claim --memory --exec: the command gets the filled memfd and the QEMU arguments that
 * make it the guest's RAM (for iommufd inside VFIO_QEMU_ARGS too); a region the pool cannot give
 * fails the claim with the daemon's message, and the group goes back. */
START_TEST(test_assignctl_memory_exec) {
        _cleanup_free_ char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL, *err3 = NULL;

        case_start_iommufd();
        give_meminfo();
        ck_assert_int_eq(ASSIGNCTL(&out, &err, (char *) "claim", (char *) "6", (char *) "--backend",
                                   (char *) "iommufd", (char *) "--memory", (char *) "16M",
                                   (char *) "--exec", (char *) "sh", (char *) "-c",
                                   (char *) "echo \"size=$(stat -L -c %s /dev/fd/$VFIO_MEMFD) "
                                            "blocks=$(stat -L -c %b /dev/fd/$VFIO_MEMFD) "
                                            "bytes=$VFIO_MEMORY_SIZE region=$VFIO_REGION\"; "
                                            "echo \"$VFIO_QEMU_MEMORY_ARGS\"; "
                                            "echo \"$VFIO_QEMU_ARGS\""),
                         0);
        assert_contains(out,
                        "size=16777216 blocks=32768 bytes=16777216 region=" OBJ_REGION_PREFIX "/1");
        assert_contains(out, "-object memory-backend-file,id=vfio-ram,mem-path=/dev/fd/");
        assert_contains(out, ",share=on,size=16777216 -machine memory-backend=vfio-ram -m 16M\n"
                             "-object memory-backend-file,id=vfio-ram");
        assert_contains(out, "-m 16M -object iommufd,id=vfio-iommufd,fd=");
        /* Not a terminal: no progress bar. */
        ck_assert_ptr_null(strstr(err, "Filling guest RAM"));
        assert_q35_group_back();
        ck_assert_uint_eq(daemon_memfds(), 0);

        ck_assert_int_eq(ASSIGNCTL(&out2, &err2, (char *) "claim", (char *) "6",
                                   (char *) "--memory", (char *) "4G", (char *) "--hugepages",
                                   (char *) "1G", (char *) "--exec", (char *) "true"),
                         1);
        assert_contains(err2, "This host has no pool of 1G pages");
        assert_q35_group_back();

        ck_assert_int_eq(ASSIGNCTL(NULL, &err3, (char *) "claim", (char *) "6",
                                   (char *) "--hugepages", (char *) "2M", (char *) "--exec",
                                   (char *) "true"),
                         2);
        assert_contains(err3, "--hugepages, --numa-node and --map are for --memory");
        case_end();
}
END_TEST

static void memory_setup(void) {
        world_setup("memory");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the memory tests"))
                return 77;

        s = suite_create("memory");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, memory_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_allocate_fill_release);
        tcase_add_test(tc, test_refusals_allocate_nothing);
        tcase_add_test(tc, test_policy_limit_per_uid);
        tcase_add_test(tc, test_cancel_mid_fill);
        tcase_add_test(tc, test_holder_exit_frees_region);
        tcase_add_test(tc, test_daemon_killed_with_regions);
        tcase_add_test(tc, test_map_into_container);
        tcase_add_test(tc, test_map_refused_for_iommufd);
        tcase_add_test(tc, test_prepare_has_no_memory);
        tcase_add_test(tc, test_assignctl_memory_exec);
        tcase_add_test(tc, test_memory_pools);
        tcase_add_test(tc, test_assignctl_daemon_gone_while_filling);
        tcase_add_test(tc, test_status_preflight);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
