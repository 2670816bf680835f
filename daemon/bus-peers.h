/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* What the bus told us about the connections that call us, asked once per connection and kept
 * until it leaves: its credentials (GetConnectionCredentials), its user and groups (the user
 * database), and who waits for it to leave.
 *
 * A unique name is never given to another connection on the same bus instance, and what the bus
 * recorded of a connection (the uid, pid and groups the kernel gave dbus-daemon when it
 * connected, SO_PEERCRED, SO_PEERGROUPS) does not change while it is connected, so what was asked
 * once stays true. The user database is read once per connection too: a change of a user's
 * groups applies to its next connection, as it applies to its next login.
 *
 * One match on NameOwnerChanged, added before the daemon serves anyone, tells of every
 * connection that leaves; dbus-daemon sends that signal after every message of the connection,
 * so a peer we have heard from and not seen leave is still connected as far as the messages we
 * have handled go, and watching it needs no call to the bus. */
typedef struct BusPeers BusPeers;
typedef struct BusPeerWatch BusPeerWatch;

typedef struct BusPeerCreds {
        uint32_t uid, pid;
        const uint32_t *gids; /* the connection's groups, as the bus recorded them */
        size_t n_gids;
        const char *user;    /* the uid's name, NULL without a user entry */
        char *const *groups; /* every group of the uid and of gids, by name */
} BusPeerCreds;

/* Adds the match on bus; the callbacks of watches run from event. */
int bus_peers_new(sd_bus *bus, sd_event *event, BusPeers **ret);
BusPeers *bus_peers_free(BusPeers *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusPeers *, bus_peers_free);

/* The connection with unique name `name`: *ret stays valid until the next call into p or the
 * next message the loop handles (a peer that left and is not watched is forgotten then). -ENXIO
 * when it is not on the bus (it left), -EINVAL for a name that is not unique, -ENODATA when the
 * bus gave no uid, -ENOMEM. */
int bus_peers_get(BusPeers *p, const char *name, const BusPeerCreds **ret);

/* Calls fn(userdata) once, from a deferred event source of its own, when `name` has left the bus
 * (at once if it is gone already). Free the watch to stop watching (also after fn ran). */
typedef void (*BusPeerGoneFn)(void *userdata);
int bus_peers_watch(BusPeers *p, const char *name, BusPeerGoneFn fn, void *userdata,
                    BusPeerWatch **ret);
BusPeerWatch *bus_peer_watch_free(BusPeerWatch *w);

/* Connections known, for tests. */
size_t bus_peers_count(const BusPeers *p);
