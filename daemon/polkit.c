/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-event.h>

#include "polkit.h"
#include "util.h"

typedef struct PolkitQuery PolkitQuery;
struct PolkitQuery {
        PolkitRegistry *registry;
        PolkitQuery *next;
        sd_bus_message *request;
        sd_bus_slot *slot;
        sd_event_source *rerun_done; /* after the message ran again, see on_check_reply() */
        char *action;
        int verdict;             /* -1 pending, 0 denied, 1 granted */
        sd_bus_error error;      /* why it failed, when polkit could not answer */
};

struct PolkitRegistry {
        PolkitQuery *queries;
};

static PolkitQuery *query_free(PolkitQuery *q) {
        if (!q)
                return NULL;
        sd_bus_slot_unref(q->slot);
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

int polkit_registry_new(PolkitRegistry **ret) {
        PolkitRegistry *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        *ret = r;
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

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        const sd_bus_error *e;
        int authorized = 0, challenge = 0, k;

        q->slot = sd_bus_slot_unref(q->slot);
        e = sd_bus_message_get_error(reply);
        if (e) {
                /* polkitd missing or broken: deny, and say why. */
                q->verdict = 0;
                (void) sd_bus_error_setf(&q->error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Authorisation for %s could not be checked: polkit: %s", q->action,
                                         e->message ?: e->name);
        } else {
                k = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (k >= 0)
                        k = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (k < 0) {
                        q->verdict = 0;
                        (void) sd_bus_error_setf(&q->error, SD_BUS_ERROR_ACCESS_DENIED,
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
                                                  "Authorisation for %s could not be completed: %s", q->action,
                                                  strerror(-k));
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

int polkit_check_async(PolkitRegistry *r, sd_bus_message *m, const char *action, char *const *details,
                       sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        PolkitQuery *q;
        uint32_t flags = 0;
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
        if (sd_bus_message_get_allow_interactive_authorization(m))
                flags |= 1; /* CheckAuthorization AllowUserInteraction */

        k = sd_bus_message_new_method_call(sd_bus_message_get_bus(m), &call, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (k < 0)
                return k;
        k = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender, action);
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
        k = sd_bus_message_append(call, "us", flags, "");
        if (k < 0)
                return k;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->registry = r;
        q->verdict = -1;
        q->request = sd_bus_message_ref(m);
        q->action = strdup(action);
        if (!q->action) {
                query_free(q);
                return -ENOMEM;
        }
        /* Interactive authentication may take as long as the user needs. */
        k = sd_bus_call_async(sd_bus_message_get_bus(m), &q->slot, call, on_check_reply, q,
                              flags ? 300 * 1000000ULL : 0);
        if (k < 0) {
                query_free(q);
                return k;
        }
        q->next = r->queries;
        r->queries = q;
        return 0;
}
