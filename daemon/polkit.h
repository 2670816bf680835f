/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "bus-peers.h"
#include "errors.h"
#include "macro.h"

/* Asynchronous polkit checks without threads (systemd's bus-polkit.c protocol), asked by
 * bus_method_trampoline() alone (access-bus.c): the first time a call asks, CheckAuthorization
 * is sent and the trampoline returns "reply later"; when polkit answers, the original message is
 * rewound and queued again, the trampoline runs a second time and finds the verdict. polkit not
 * running means denied. */
typedef struct PolkitRegistry PolkitRegistry;

/* Opens the registry's own connection to the system bus, attached to event. The callers' uids
 * and their leaving come from peers (the daemon's connection), which must outlive the registry. */
int polkit_registry_new(sd_event *event, BusPeers *peers, PolkitRegistry **ret);
PolkitRegistry *polkit_registry_free(PolkitRegistry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(PolkitRegistry *, polkit_registry_free);

/* Returns 1 when authorised, 0 when the question was sent (the handler must return 1 and do
 * nothing else), or a negative errno with error set (-EACCES: denied, sd_bus_error
 * org.freedesktop.DBus.Error.AccessDenied naming the action). details: NULL-terminated key/value
 * list, e.g. { "address", "0000:01:00.0", NULL }. Too many checks pending (per uid, in all):
 * POLKIT_ERROR_BUSY at once. */
#define POLKIT_ERROR_BUSY va_error_name(VA_ERROR_BUSY)
int polkit_check_async(PolkitRegistry *r, sd_bus_message *m, const char *action,
                       char *const *details, sd_bus_error *error);
