/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "util.h"

/* The holder's pidfd is the lease's; the rest are its backend's, named by it ("container",
 * "group" for type1). */
#define HOLDER "holder"

typedef struct Entry {
        uint64_t id;
        char *name;
        int fd; /* -1 once a lease took it */
} Entry;

struct FdStore {
        Entry *entries;
        size_t n;
};

static void put(uint64_t id, const char *name, int fd) {
        char state[320];

        if (fd < 0)
                return;
        snprintf(state, sizeof(state), "FDSTORE=1\nFDNAME=lease-%" PRIu64 "-%s", id, name);
        (void) sd_pid_notify_with_fds(0, false, state, &fd, 1);
}

static void remove_entry(uint64_t id, const char *name) {
        (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=lease-%" PRIu64 "-%s", id, name);
}

void fdstore_put_lease(const Lease *l) {
        const char *name;
        int fd;

        put(l->id, HOLDER, l->holder_pidfd);
        for (size_t i = 0; (name = l->backend->ops->stored_fd(l->backend, i, &fd)); i++)
                put(l->id, name, fd);
}

void fdstore_remove_holder(uint64_t id) {
        remove_entry(id, HOLDER);
}

void fdstore_remove_fds(const Lease *l) {
        const char *name;
        int fd;

        /* Every name the backend has, open or not: GrantAccess closed them before this. */
        for (size_t i = 0; (name = l->backend->ops->stored_fd(l->backend, i, &fd)); i++)
                remove_entry(l->id, name);
}

void fdstore_wait_removed(void) {
        (void) sd_notify_barrier(0, 5 * 1000000ULL);
}

/* "lease-<id>-<name>" */
static bool parse_name(const char *name, uint64_t *ret_id, const char **ret_name) {
        char id[24];
        const char *dash;
        size_t n;

        if (!name || !strneq(name, "lease-", 6))
                return false;
        name += 6;
        dash = strchr(name, '-');
        n = dash ? (size_t) (dash - name) : 0;
        if (n == 0 || n >= sizeof(id) || !dash[1])
                return false;
        memcpy(id, name, n);
        id[n] = 0;
        if (safe_atou64(id, 10, ret_id) < 0)
                return false;
        *ret_name = dash + 1;
        return true;
}

FdStore *fdstore_take(void) {
        _cleanup_strv_free_ char **names = NULL;
        int n = sd_listen_fds_with_names(true, &names);
        FdStore *s = calloc(1, sizeof(FdStore));

        if (n > 0 && s)
                s->entries = calloc((size_t) n, sizeof(Entry));
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                Entry e = { .fd = fd };
                const char *name = NULL;

                /* Not ours (a stranger's name): closed, and out of the store. A name of ours that
                 * no lease takes goes in fdstore_finish(). */
                if (!s || !s->entries || !names || !parse_name(names[i], &e.id, &name) ||
                    !(e.name = strdup(name))) {
                        safe_close(fd);
                        if (names && names[i])
                                (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=%s", names[i]);
                        continue;
                }
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                s->entries[s->n++] = e;
        }
        return s;
}

void fdstore_adopt(FdStore *s, Lease *l) {
        for (size_t i = 0; s && i < s->n; i++) {
                Entry *e = &s->entries[i];

                if (e->id != l->id || e->fd < 0)
                        continue;
                if (streq(e->name, HOLDER)) {
                        if (l->holder_pidfd < 0)
                                l->holder_pidfd = TAKE_FD(e->fd);
                } else if (l->backend->ops->adopt_fd(l->backend, e->name, e->fd) > 0)
                        e->fd = -1;
        }
}

/* Whether l holds the fd stored under name. */
static bool lease_holds(const Lease *l, const char *name) {
        if (streq(name, HOLDER))
                return l->holder_pidfd >= 0;
        return vfio_backend_stored_fd(l->backend, name) >= 0;
}

void fdstore_finish(FdStore *s, const LeaseSet *set) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++) {
                Entry *e = &s->entries[i];
                Lease *l = lease_set_find_id(set, e->id);

                e->fd = safe_close(e->fd);
                if (!l || !lease_holds(l, e->name))
                        remove_entry(e->id, e->name);
                free(e->name);
        }
        free(s->entries);
        free(s);
}
