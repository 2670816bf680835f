/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* claim --memory: a region of guest RAM from the daemon (Lease.AllocateMemory), waited for while
 * it fills (a progress bar on a terminal), and what a command needs to use it: the memfd and the
 * QEMU arguments that make it the guest's RAM. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "assignctl.h"
#include "memory.h"
#include "util.h"

void memory_done(Memory *m) {
        m->fd = safe_close(m->fd);
        m->path = mfree(m->path);
        m->state = mfree(m->state);
        m->error = mfree(m->error);
}

/* One property of a PropertiesChanged or GetAll array a{sv}. */
static int read_region_property(sd_bus_message *m, Memory *mem) {
        const char *key, *s;
        int r;

        r = sd_bus_message_read(m, "s", &key);
        if (r < 0)
                return r;
        if (streq(key, "Populated"))
                return sd_bus_message_read(m, "v", "t", &mem->populated);
        if (streq(key, "State") || streq(key, "Error")) {
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r < 0)
                        return r;
                return set_string(streq(key, "State") ? &mem->state : &mem->error, s);
        }
        return sd_bus_message_skip(m, "v");
}

static int read_region_properties(sd_bus_message *m, Memory *mem) {
        int r = sd_bus_message_enter_container(m, 'a', "{sv}");

        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = read_region_property(m, mem);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int on_region_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Memory *mem = userdata;
        const char *iface;
        const char *path = sd_bus_message_get_path(m);

        if (!mem->path || !path || !streq(path, mem->path))
                return 0;
        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, IFACE_REGION))
                return 0;
        (void) read_region_properties(m, mem);
        return 0;
}

/* "[#########...........]  1.2 GiB of 4.0 GiB" on one line of a terminal, redrawn. */
static void show_progress(const Memory *m, bool last) {
        const unsigned width = 30;
        unsigned done = m->size ? (unsigned) (m->populated * width / m->size) : width;
        char bar[64];

        for (unsigned i = 0; i < width; i++)
                bar[i] = i < done ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\rFilling guest RAM [%s] %6.1f MiB of %.1f MiB%s", bar,
                (double) m->populated / (1 << 20), (double) m->size / (1 << 20), last ? "\n" : "");
        fflush(stderr);
}

static int call_allocate(sd_bus *bus, const char *lease, Memory *mem, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        int r, fd;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, lease, IFACE_LEASE, "AllocateMemory");
        if (r >= 0)
                r = sd_bus_message_append(m, "t", arg_memory);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_hugepages)
                r = sd_bus_message_append(m, "{sv}", "hugepages", "s", arg_hugepages);
        if (r >= 0 && arg_numa_node != ARG_NUMA_NODE_UNSET)
                r = sd_bus_message_append(m, "{sv}", "numa_node", "i", (int32_t) arg_numa_node);
        if (r >= 0 && arg_map != UINT64_MAX)
                r = sd_bus_message_append(m, "{sv}", "map", "t", arg_map);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, 0, error, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "ho", &fd, &path);
        if (r < 0)
                return r;
        mem->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (mem->fd < 0)
                return negative_errno();
        mem->size = arg_memory;
        return set_string(&mem->path, path);
}

/* GetAll of the region: its state now. A region that is gone (its lease released, the daemon
 * restarted) is an error. */
static int region_refresh(sd_bus *bus, Memory *mem, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *all = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, mem->path, "org.freedesktop.DBus.Properties",
                               "GetAll", error, &all, "s", IFACE_REGION);
        return r < 0 ? r : read_region_properties(all, mem);
}

/* Signals carry the fill's progress; a look every second also notices a region that went away
 * without one. */
#define REFRESH_USEC (1000 * 1000)

int memory_allocate(sd_bus *bus, const char *context, const char *lease, Memory *mem) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        bool tty = isatty(STDERR_FILENO);
        int r;

        /* Watched from before the call: a small region may be ready before its reply is read. */
        r = sd_bus_match_signal(bus, &slot, BUS_NAME, NULL, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_region_changed, mem);
        if (r < 0)
                return fail_call(context, NULL, r);
        r = call_allocate(bus, lease, mem, &error);
        if (r < 0)
                return fail_call(context, &error, r);
        r = region_refresh(bus, mem, &error);
        if (r < 0)
                return fail_call(context, &error, r);
        while (mem->state && streq(mem->state, "filling")) {
                if (tty)
                        show_progress(mem, false);
                r = sd_bus_process(bus, NULL);
                if (r == 0) {
                        r = sd_bus_wait(bus, REFRESH_USEC);
                        if (r == 0)
                                r = region_refresh(bus, mem, &error);
                }
                if (r < 0)
                        return fail_call(context, &error, r);
        }
        if (tty)
                show_progress(mem, true);
        if (!mem->state || !streq(mem->state, "ready"))
                return fail(EXIT_FAILED, NULL, "%s: the guest RAM could not be filled: %s", context,
                            mem->error ? mem->error : strna(mem->state));
        return EXIT_OK;
}

/* What a VM of `size` bytes of RAM needs, against this process's RLIMIT_MEMLOCK (which a VMM
 * started from here inherits) and the free pages of the pool: a VMM pins all its RAM once per
 * IOMMU address space (RAM plus about 1 MiB, measured with QEMU in the test VM; libvirt sets
 * RAM + 1 GiB, and N x RAM with a vIOMMU, kubevirt#17805). */
int memory_preflight(FILE *f, json_object *report, uint64_t size, const char *hugepages,
                     json_object **ret_json) {
        uint64_t need = size + (UINT64_C(1) << 20), page_kb = 0, free_bytes = 0;
        json_object *host = NULL, *pools = NULL, *o;
        bool memlock_ok, pool_ok = true, pool_known = false;
        struct rlimit rl;

        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                return -errno;
        memlock_ok = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need;
        if (hugepages && !streq(hugepages, "none")) {
                page_kb = streq(hugepages, "1G") ? UINT64_C(1) << 20 : UINT64_C(2) << 10;
                if (json_object_object_get_ex(report, "host", &host) &&
                    json_object_object_get_ex(host, "hugepages", &pools))
                        for (size_t i = 0; i < json_object_array_length(pools); i++) {
                                json_object *e = json_object_array_get_idx(pools, i), *v;

                                if (json_object_object_get_ex(e, "size_kb", &v) &&
                                    (uint64_t) json_object_get_int64(v) == page_kb &&
                                    json_object_object_get_ex(e, "free", &v)) {
                                        free_bytes = (uint64_t) json_object_get_int64(v) *
                                                     (page_kb << 10);
                                        pool_known = true;
                                }
                        }
                pool_ok = pool_known && free_bytes >= size;
        }
        if (f) {
                fprintf(f, "Guest RAM:   %" PRIu64 " MiB\n", size >> 20);
                if (rl.rlim_cur == RLIM_INFINITY)
                        fprintf(f, "  memlock:   unlimited here: ok\n");
                else
                        fprintf(f,
                                "  memlock:   %" PRIu64 " MiB here, a VMM needs %" PRIu64
                                " MiB per IOMMU address space (N x with a vIOMMU): %s\n",
                                (uint64_t) rl.rlim_cur >> 20, need >> 20,
                                memlock_ok ? "ok" : "short (claim --memlock SIZE raises it)");
                if (page_kb && !pool_known)
                        fprintf(f, "  %s pages: this host has no such pool: short\n", hugepages);
                else if (page_kb)
                        fprintf(f, "  %s pages: %" PRIu64 " MiB free: %s\n", hugepages,
                                free_bytes >> 20, pool_ok ? "ok" : "short");
        }
        if (ret_json) {
                o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                json_object_object_add(o, "size", json_object_new_int64((int64_t) size));
                json_object_object_add(o, "memlock_needed", json_object_new_int64((int64_t) need));
                json_object_object_add(o, "memlock_limit",
                                       rl.rlim_cur == RLIM_INFINITY
                                               ? NULL
                                               : json_object_new_int64((int64_t) rl.rlim_cur));
                json_object_object_add(o, "memlock_ok", json_object_new_boolean(memlock_ok));
                if (page_kb) {
                        json_object_object_add(o, "hugepages", json_object_new_string(hugepages));
                        json_object_object_add(o, "pool_free",
                                               json_object_new_int64((int64_t) free_bytes));
                        json_object_object_add(o, "pool_ok", json_object_new_boolean(pool_ok));
                }
                *ret_json = o;
        }
        return memlock_ok && pool_ok;
}

/* QEMU takes a file as guest RAM with memory-backend-file (QEMU's docs/system/invocation,
 * "-object memory-backend-file"); /dev/fd/N opens our memfd again, share=on maps it MAP_SHARED
 * so that the pages the daemon filled are the guest's. -m says the same size: QEMU insists that
 * the machine's RAM and its backend agree. */
int memory_qemu_args(const Memory *m, char **ret) {
        char size[32];

        if (m->size % (UINT64_C(1) << 20) == 0)
                snprintf(size, sizeof(size), "%" PRIu64 "M", m->size >> 20);
        else
                snprintf(size, sizeof(size), "%" PRIu64 "k", m->size >> 10);
        return asprintf(ret,
                        "-object memory-backend-file,id=vfio-ram,mem-path=/dev/fd/%d,share=on,"
                        "size=%" PRIu64 " -machine memory-backend=vfio-ram -m %s",
                        m->fd, m->size, size) < 0
                       ? -ENOMEM
                       : 0;
}
