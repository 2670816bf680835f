/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "util.h"

typedef enum FdKind {
        FD_HOLDER,
        FD_CONTAINER,
        FD_GROUP,
        _FD_KIND_MAX,
} FdKind;

static const char *const kind_names[_FD_KIND_MAX] = {
        [FD_HOLDER] = "holder",
        [FD_CONTAINER] = "container",
        [FD_GROUP] = "group",
};

typedef struct Entry {
        uint64_t id;
        FdKind kind;
        int fd; /* -1 once a lease took it */
} Entry;

struct FdStore {
        Entry *entries;
        size_t n;
};

static int *lease_fd(Lease *l, FdKind kind) {
        switch (kind) {
        case FD_HOLDER:
                return &l->holder_pidfd;
        case FD_CONTAINER:
                return &l->container_fd;
        default:
                return &l->group_fd;
        }
}

static void put(uint64_t id, FdKind kind, int fd) {
        char state[96];

        if (fd < 0)
                return;
        snprintf(state, sizeof(state), "FDSTORE=1\nFDNAME=lease-%" PRIu64 "-%s", id, kind_names[kind]);
        (void) sd_pid_notify_with_fds(0, false, state, &fd, 1);
}

static void remove_entry(uint64_t id, FdKind kind) {
        (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=lease-%" PRIu64 "-%s", id, kind_names[kind]);
}

void fdstore_put_lease(const Lease *l) {
        put(l->id, FD_HOLDER, l->holder_pidfd);
        put(l->id, FD_CONTAINER, l->container_fd);
        put(l->id, FD_GROUP, l->group_fd);
}

void fdstore_remove_holder(uint64_t id) {
        remove_entry(id, FD_HOLDER);
}

void fdstore_remove_fds(uint64_t id) {
        remove_entry(id, FD_CONTAINER);
        remove_entry(id, FD_GROUP);
        (void) sd_notify_barrier(0, 5 * 1000000ULL);
}

/* "lease-<id>-<kind>" */
static bool parse_name(const char *name, uint64_t *ret_id, FdKind *ret_kind) {
        char id[24];
        const char *dash;
        size_t n;

        if (!name || !strneq(name, "lease-", 6))
                return false;
        name += 6;
        dash = strchr(name, '-');
        n = dash ? (size_t) (dash - name) : 0;
        if (n == 0 || n >= sizeof(id))
                return false;
        memcpy(id, name, n);
        id[n] = 0;
        if (safe_atou64(id, 10, ret_id) < 0)
                return false;
        for (FdKind k = 0; k < _FD_KIND_MAX; k++)
                if (streq(dash + 1, kind_names[k])) {
                        *ret_kind = k;
                        return true;
                }
        return false;
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

                /* Not ours (an older daemon's name, or a stranger's): closed, and out of the store. */
                if (!s || !s->entries || !names || !parse_name(names[i], &e.id, &e.kind)) {
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
                int *fd = lease_fd(l, e->kind);

                if (e->id == l->id && e->fd >= 0 && *fd < 0)
                        *fd = TAKE_FD(e->fd);
        }
}

void fdstore_finish(FdStore *s, const LeaseSet *set) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++) {
                Entry *e = &s->entries[i];
                Lease *l = lease_set_find_id(set, e->id);

                e->fd = safe_close(e->fd);
                if (!l || *lease_fd(l, e->kind) < 0)
                        remove_entry(e->id, e->kind);
        }
        free(s->entries);
        free(s);
}
