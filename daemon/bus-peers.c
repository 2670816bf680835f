/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-peers.h"
#include "userdb.h"
#include "util.h"

/* Peers nobody watches are kept for their next call, at most this many (the least recently used
 * go first): a client that connects, calls once and stays costs one entry, not one per call. */
#ifndef PEERS_UNWATCHED_MAX /* tests/integration/test-peers.c builds with a smaller one */
#define PEERS_UNWATCHED_MAX 256
#endif
#define PEERS_BUCKETS 256

typedef struct BusPeer BusPeer;
struct BusPeer {
        BusPeers *peers;
        BusPeer *bucket_next;
        BusPeer *lru_prev, *lru_next; /* unwatched peers only, most recently used first */
        char *name;
        BusPeerCreds creds;
        uint32_t *gids;
        char *user;
        char **groups;
        BusPeerWatch *watches;
        bool in_lru; /* no watches */
        bool gone;
};

struct BusPeerWatch {
        BusPeer *peer;
        BusPeerWatch *next;
        BusPeerGoneFn fn;
        void *userdata;
        sd_event_source *defer;
};

struct BusPeers {
        sd_bus *bus;
        sd_event *event;
        sd_bus_slot *match;
        BusPeer *buckets[PEERS_BUCKETS];
        BusPeer *lru_head, *lru_tail;
        size_t n_unwatched, n;
};

static unsigned bucket_of(const char *name) {
        unsigned h = 5381;

        for (const char *c = name; *c; c++)
                h = h * 33 + (unsigned char) *c;
        return h % PEERS_BUCKETS;
}

static BusPeer *find(const BusPeers *p, const char *name) {
        for (BusPeer *e = p->buckets[bucket_of(name)]; e; e = e->bucket_next)
                if (streq(e->name, name))
                        return e;
        return NULL;
}

static void lru_unlink(BusPeer *e) {
        BusPeers *p = e->peers;

        if (!e->in_lru)
                return;
        if (e->lru_prev)
                e->lru_prev->lru_next = e->lru_next;
        else
                p->lru_head = e->lru_next;
        if (e->lru_next)
                e->lru_next->lru_prev = e->lru_prev;
        else
                p->lru_tail = e->lru_prev;
        e->lru_prev = e->lru_next = NULL;
        e->in_lru = false;
        p->n_unwatched--;
}

static void lru_push(BusPeer *e) {
        BusPeers *p = e->peers;

        e->lru_prev = NULL;
        e->lru_next = p->lru_head;
        if (p->lru_head)
                p->lru_head->lru_prev = e;
        else
                p->lru_tail = e;
        p->lru_head = e;
        e->in_lru = true;
        p->n_unwatched++;
}

/* Only a peer without watches is freed (or all, by bus_peers_free()). */
static void peer_free(BusPeer *e) {
        BusPeers *p = e->peers;

        for (BusPeer **b = &p->buckets[bucket_of(e->name)]; *b; b = &(*b)->bucket_next)
                if (*b == e) {
                        *b = e->bucket_next;
                        break;
                }
        lru_unlink(e);
        p->n--;
        free(e->name);
        free(e->gids);
        free(e->user);
        strv_free(e->groups);
        free(e);
}

static int on_watch_deferred(sd_event_source *s, void *userdata) {
        BusPeerWatch *w = userdata;

        /* A one-shot source: off again now, and fn may free the watch. */
        w->fn(w->userdata);
        return 0;
}

/* Each watch has its source from the start, off: telling it can then never fail. */
static void watch_fire(BusPeerWatch *w) {
        (void) sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT);
}

static void peer_left(BusPeer *e) {
        e->gone = true;
        if (!e->watches) {
                peer_free(e);
                return;
        }
        for (BusPeerWatch *w = e->watches; w; w = w->next)
                watch_fire(w);
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusPeers *p = userdata;
        const char *name, *old_owner, *new_owner;
        BusPeer *e;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        /* The match has arg2='': only names that lost their owner; a unique name goes once. */
        if (name[0] != ':' || new_owner[0] != 0)
                return 0;
        e = find(p, name);
        if (e && !e->gone)
                peer_left(e);
        return 0;
}

int bus_peers_new(sd_bus *bus, sd_event *event, BusPeers **ret) {
        _cleanup_(bus_peers_freep) BusPeers *p = calloc(1, sizeof(*p));
        int k;

        if (!p)
                return -ENOMEM;
        p->bus = sd_bus_ref(bus);
        p->event = sd_event_ref(event);
        /* Synchronous: in place before the first call we serve. */
        k = sd_bus_add_match(bus, &p->match,
                             "type='signal',sender='org.freedesktop.DBus',"
                             "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
                             "member='NameOwnerChanged',arg2=''",
                             on_name_owner_changed, p);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(p);
        return 0;
}

BusPeers *bus_peers_free(BusPeers *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < PEERS_BUCKETS; i++)
                while (p->buckets[i]) {
                        BusPeer *e = p->buckets[i];

                        /* Watches outliving us point nowhere: they are the owners' to free. */
                        for (BusPeerWatch *w = e->watches; w; w = w->next) {
                                w->peer = NULL;
                                (void) sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
                        }
                        e->watches = NULL;
                        peer_free(e);
                }
        sd_bus_slot_unref(p->match);
        sd_event_unref(p->event);
        sd_bus_unref(p->bus);
        free(p);
        return NULL;
}

/* GetConnectionCredentials (D-Bus specification, "Message Bus Messages"). */
static int ask_bus(BusPeers *p, BusPeer *e) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        bool have_uid = false;
        const char *key;
        int k;

        k = sd_bus_call_method(p->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetConnectionCredentials", &error, &reply,
                               "s", e->name);
        if (k < 0)
                return sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ? -ENXIO : k;
        k = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (k >= 0 && (k = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                k = sd_bus_message_read(reply, "s", &key);
                if (k < 0)
                        break;
                if (streq(key, "UnixUserID")) {
                        k = sd_bus_message_read(reply, "v", "u", &e->creds.uid);
                        have_uid = k >= 0;
                } else if (streq(key, "ProcessID"))
                        k = sd_bus_message_read(reply, "v", "u", &e->creds.pid);
                else if (streq(key, "UnixGroupIDs")) {
                        const void *gids = NULL;
                        size_t size = 0;

                        k = sd_bus_message_enter_container(reply, 'v', "au");
                        if (k >= 0)
                                k = sd_bus_message_read_array(reply, 'u', &gids, &size);
                        if (k >= 0 && size > 0) {
                                e->gids = malloc(size);
                                if (!e->gids)
                                        return -ENOMEM;
                                memcpy(e->gids, gids, size);
                                e->creds.n_gids = size / sizeof(uint32_t);
                        }
                        if (k >= 0)
                                k = sd_bus_message_exit_container(reply);
                } else
                        k = sd_bus_message_skip(reply, "v");
                if (k >= 0)
                        k = sd_bus_message_exit_container(reply);
        }
        if (k < 0)
                return k;
        if (!have_uid)
                return -ENODATA;
        e->creds.gids = e->gids;

        /* The user database adds every group of the uid to those of the connection. */
        k = userdb_by_uid(e->creds.uid, &e->user, &e->groups);
        if (k == -ENOMEM)
                return k;
        for (size_t i = 0; i < e->creds.n_gids; i++)
                if (userdb_add_group(&e->groups, e->gids[i]) < 0)
                        return -ENOMEM;
        e->creds.user = e->user;
        e->creds.groups = e->groups;
        return 0;
}

static int lookup(BusPeers *p, const char *name, BusPeer **ret) {
        BusPeer *e;
        unsigned b;
        int k;

        if (!name || name[0] != ':')
                return -EINVAL;
        e = find(p, name);
        if (e) {
                if (e->in_lru) {
                        lru_unlink(e);
                        lru_push(e);
                }
                *ret = e;
                return 0;
        }
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->peers = p;
        e->name = strdup(name);
        k = e->name ? ask_bus(p, e) : -ENOMEM;
        if (k < 0) {
                free(e->name);
                free(e->gids);
                free(e->user);
                strv_free(e->groups);
                free(e);
                return k;
        }
        b = bucket_of(name);
        e->bucket_next = p->buckets[b];
        p->buckets[b] = e;
        p->n++;
        lru_push(e);
        while (p->n_unwatched > PEERS_UNWATCHED_MAX)
                peer_free(p->lru_tail);
        *ret = e;
        return 0;
}

int bus_peers_get(BusPeers *p, const char *name, const BusPeerCreds **ret) {
        BusPeer *e;
        int k = lookup(p, name, &e);

        if (k < 0)
                return k;
        if (e->gone)
                return -ENXIO;
        *ret = &e->creds;
        return 0;
}

int bus_peers_watch(BusPeers *p, const char *name, BusPeerGoneFn fn, void *userdata,
                    BusPeerWatch **ret) {
        BusPeerWatch *w;
        BusPeer *e;
        int k;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fn = fn;
        w->userdata = userdata;
        k = sd_event_add_defer(p->event, &w->defer, on_watch_deferred, w);
        if (k >= 0)
                k = sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
        if (k >= 0)
                k = lookup(p, name, &e);
        if (k == -ENXIO) {
                /* Left before we looked: told at once, as it would have been had it left after. */
                watch_fire(w);
                *ret = w;
                return 0;
        }
        if (k < 0) {
                bus_peer_watch_free(w);
                return k;
        }
        lru_unlink(e);
        w->peer = e;
        w->next = e->watches;
        e->watches = w;
        if (e->gone)
                watch_fire(w);
        *ret = w;
        return 0;
}

BusPeerWatch *bus_peer_watch_free(BusPeerWatch *w) {
        BusPeer *e;

        if (!w)
                return NULL;
        e = w->peer;
        sd_event_source_disable_unref(w->defer);
        if (e) {
                for (BusPeerWatch **i = &e->watches; *i; i = &(*i)->next)
                        if (*i == w) {
                                *i = w->next;
                                break;
                        }
                if (!e->watches) {
                        if (e->gone)
                                peer_free(e);
                        else
                                lru_push(e);
                }
        }
        free(w);
        return NULL;
}

size_t bus_peers_count(const BusPeers *p) {
        return p ? p->n : 0;
}
