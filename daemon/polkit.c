/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "bus-peers.h"
#include "polkit.h"
#include "util.h"

/* Each pending check is an outstanding reply on our connection, and dbus-daemon allows a
 * connection 128 of them (max_replies_per_connection in /usr/share/dbus-1/system.conf): past
 * that every further check fails, for everyone. So the checks go out on a connection of their
 * own, and no uid may have more than POLKIT_MAX_PER_UID pending, all unprivileged callers
 * together no more than POLKIT_MAX_TOTAL, root no more than POLKIT_MAX_PER_UID besides: a user
 * flooding us cannot keep root or another user from being asked. A query counts until polkit (or
 * the bus, on its timeout) answers it, even after its caller left: until then dbus-daemon counts
 * it too. */
#define POLKIT_MAX_PER_UID 16
#define POLKIT_MAX_TOTAL 64

typedef struct PolkitQuery PolkitQuery;
struct PolkitQuery {
        PolkitRegistry *registry;
        PolkitQuery *next;
        sd_bus_message *request;     /* NULL once the caller left (the check was cancelled) */
        sd_bus_slot *slot;           /* the pending CheckAuthorization */
        BusPeerWatch *caller;        /* while pending: its going cancels the check */
        sd_event_source *rerun_done; /* after the message ran again, see on_check_reply() */
        char *action;
        char cancel_id[48]; /* CheckAuthorization's cancellation_id */
        uint32_t uid;       /* whose budget it counts against */
        int verdict;        /* -1 pending, 0 denied, 1 granted */
        sd_bus_error error; /* why it failed, when polkit could not answer */
};

struct PolkitRegistry {
        PolkitQuery *queries;
        sd_bus *bus;       /* our connection for polkit, see above */
        BusPeers *peers;   /* the callers, on the daemon's connection */
        uint64_t n_checks; /* for cancellation ids */
};

static PolkitQuery *query_free(PolkitQuery *q) {
        if (!q)
                return NULL;
        sd_bus_slot_unref(q->slot);
        bus_peer_watch_free(q->caller);
        sd_event_source_disable_unref(q->rerun_done);
        sd_bus_message_unref(q->request);
        free(q->action);
        sd_bus_error_free(&q->error);
        free(q);
        return NULL;
}

static void query_unlink(PolkitQuery *q) {
        for (PolkitQuery **p = &q->registry->queries; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        return;
                }
}

int polkit_registry_new(sd_event *event, BusPeers *peers, PolkitRegistry **ret) {
        _cleanup_(polkit_registry_freep) PolkitRegistry *r = calloc(1, sizeof(*r));
        int k;

        if (!r)
                return -ENOMEM;
        r->peers = peers;
        k = sd_bus_open_system_with_description(&r->bus, "polkit");
        if (k < 0)
                return k;
        k = sd_bus_attach_event(r->bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

PolkitRegistry *polkit_registry_free(PolkitRegistry *r) {
        if (!r)
                return NULL;
        while (r->queries) {
                PolkitQuery *q = r->queries;
                r->queries = q->next;
                query_free(q);
        }
        sd_bus_flush_close_unref(r->bus);
        free(r);
        return NULL;
}

/* The message ran again without asking for its verdict (its object went away meanwhile, or the
 * handler failed before asking): nobody will, so the query goes, and with it the message. */
static int on_rerun_done(sd_event_source *s, void *userdata) {
        PolkitQuery *q = userdata;

        query_unlink(q);
        query_free(q);
        return 0;
}

/* Queries of uid, and of every unprivileged caller: pending, or answered and waiting for their
 * message to run again (which frees them at once). */
static void count_pending(const PolkitRegistry *r, uint32_t uid, size_t *ret_uid,
                          size_t *ret_total) {
        size_t n_uid = 0, total = 0;

        for (const PolkitQuery *q = r->queries; q; q = q->next) {
                if (q->uid == uid)
                        n_uid++;
                if (q->uid != 0)
                        total++;
        }
        *ret_uid = n_uid;
        *ret_total = total;
}

/* The caller left before polkit answered: nobody is waiting for the verdict. polkit is told to
 * stop (an authentication dialog goes away), and the query stays, without its message, until
 * the answer to the check comes, which frees it. */
static void on_caller_gone(void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *cancel = NULL;
        PolkitQuery *q = userdata;

        q->caller = bus_peer_watch_free(q->caller);
        q->request = sd_bus_message_unref(q->request);
        if (sd_bus_message_new_method_call(q->registry->bus, &cancel, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority",
                                           "CancelCheckAuthorization") >= 0 &&
            sd_bus_message_append(cancel, "s", q->cancel_id) >= 0 &&
            sd_bus_message_set_expect_reply(cancel, false) >= 0)
                (void) sd_bus_send(q->registry->bus, cancel, NULL);
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        const sd_bus_error *e;
        int authorized = 0, challenge = 0, k;

        q->slot = sd_bus_slot_unref(q->slot);
        q->caller = bus_peer_watch_free(q->caller);
        if (!q->request) {
                /* Cancelled: its caller left. The answer only frees its place. */
                query_unlink(q);
                query_free(q);
                return 1;
        }
        e = sd_bus_message_get_error(reply);
        if (e) {
                /* polkitd missing or broken: deny, and say why. */
                q->verdict = 0;
                (void) sd_bus_error_setf(&q->error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Authorisation for %s could not be checked: polkit: %s",
                                         q->action, e->message ?: e->name);
        } else {
                k = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (k >= 0)
                        k = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (k < 0) {
                        q->verdict = 0;
                        (void) sd_bus_error_setf(
                                &q->error, SD_BUS_ERROR_ACCESS_DENIED,
                                "Authorisation for %s could not be checked: bad reply from polkit",
                                q->action);
                } else
                        q->verdict = authorized ? 1 : 0;
        }
        /* Run the method again; this time it finds the verdict. An idle event frees the query
         * once the queued messages have been dispatched, in case the handler never asks (as
         * systemd's bus-polkit.c does). */
        k = sd_bus_message_rewind(q->request, true);
        if (k >= 0) {
                sd_event *event = sd_bus_get_event(sd_bus_message_get_bus(q->request));

                k = event ? sd_event_add_defer(event, &q->rerun_done, on_rerun_done, q) : -ENXIO;
        }
        if (k >= 0)
                k = sd_event_source_set_priority(q->rerun_done, SD_EVENT_PRIORITY_IDLE);
        if (k >= 0)
                k = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (k < 0) {
                /* Cannot re-run: answer the caller here so it is not left waiting. An
                 * authorisation that cannot be completed is a refusal. */
                (void) sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_ACCESS_DENIED,
                                                  "Authorisation for %s could not be completed: %s",
                                                  q->action, strerror(-k));
                query_unlink(q);
                query_free(q);
        }
        return 1;
}

static PolkitQuery *find_query(PolkitRegistry *r, sd_bus_message *m) {
        for (PolkitQuery *q = r->queries; q; q = q->next)
                if (q->request == m)
                        return q;
        return NULL;
}

int polkit_check_async(PolkitRegistry *r, sd_bus_message *m, const char *action,
                       char *const *details, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        const BusPeerCreds *creds;
        size_t n_uid, n_total;
        PolkitQuery *q;
        uint32_t uid, flags = 0;
        const char *sender;
        int k;

        q = find_query(r, m);
        if (q) {
                int verdict = q->verdict;

                if (verdict < 0)
                        return 0; /* still waiting (the message was dispatched again early) */
                query_unlink(q);
                if (verdict > 0) {
                        query_free(q);
                        return 1;
                }
                if (sd_bus_error_is_set(&q->error))
                        k = sd_bus_error_copy(error, &q->error);
                else
                        k = sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                              "Not authorised by polkit for %s", action);
                query_free(q);
                return k < 0 ? k : -EACCES;
        }

        sender = sd_bus_message_get_sender(m);
        if (!sender)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "No sender to authorise for %s", action);
        /* The bus's record of the caller's uid, for its budget. */
        k = bus_peers_get(r->peers, sender, &creds);
        if (k < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot identify the caller %s for %s: %s", sender, action,
                                         strerror(-k));
        uid = creds->uid;
        count_pending(r, uid, &n_uid, &n_total);
        if (n_uid >= POLKIT_MAX_PER_UID || (uid != 0 && n_total >= POLKIT_MAX_TOTAL))
                return sd_bus_error_setf(
                        error, POLKIT_ERROR_BUSY,
                        "Too many authorisation checks are waiting for polkit (%zu of uid %" PRIu32
                        ", %zu in all); try again once they are answered",
                        n_uid, (uint32_t) uid, n_total);
        if (sd_bus_message_get_allow_interactive_authorization(m))
                flags |= 1; /* CheckAuthorization AllowUserInteraction */

        k = sd_bus_message_new_method_call(r->bus, &call, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority",
                                           "CheckAuthorization");
        if (k < 0)
                return k;
        k = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender,
                                  action);
        if (k < 0)
                return k;
        k = sd_bus_message_open_container(call, 'a', "{ss}");
        if (k < 0)
                return k;
        for (char *const *d = details; d && d[0] && d[1]; d += 2) {
                k = sd_bus_message_append(call, "{ss}", d[0], d[1]);
                if (k < 0)
                        return k;
        }
        k = sd_bus_message_close_container(call);
        if (k < 0)
                return k;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        /* Unique to this daemon's run, so that a cancel names only this check. */
        snprintf(q->cancel_id, sizeof(q->cancel_id), "vfio-assignd-%d-%" PRIu64, (int) getpid(),
                 ++r->n_checks);
        k = sd_bus_message_append(call, "us", flags, q->cancel_id);
        if (k < 0) {
                free(q);
                return k;
        }
        q->registry = r;
        q->verdict = -1;
        q->uid = uid;
        q->request = sd_bus_message_ref(m);
        q->action = strdup(action);
        if (!q->action) {
                query_free(q);
                return -ENOMEM;
        }
        k = bus_peers_watch(r->peers, sender, on_caller_gone, q, &q->caller);
        /* Interactive authentication may take as long as the user needs. */
        if (k >= 0)
                k = sd_bus_call_async(r->bus, &q->slot, call, on_check_reply, q,
                                      flags ? 300 * 1000000ULL : 0);
        if (k < 0) {
                query_free(q);
                return k;
        }
        q->next = r->queries;
        r->queries = q;
        return 0;
}
