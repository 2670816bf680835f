/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* Exit codes, documented in docs/assignctl.1. */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,      /* the daemon reported a failure, or the object does not exist */
        EXIT_USAGE = 2,       /* bad command line; nothing was sent to the daemon */
        EXIT_UNREACHABLE = 3, /* no system bus, or nobody owns org.vfioassign1 */
};

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
} JsonMode;

extern JsonMode arg_json;

static inline void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

/* Prints an error on stderr (as one JSON object when --json is on) and returns exit_code.
 * error_name may be NULL; it is the D-Bus error name when there is one. */
int fail(int exit_code, const char *error_name, const char *format, ...) _printf_(3, 4);

/* Connects to the system bus; on failure prints why and returns EXIT_UNREACHABLE. */
int connect_bus(sd_bus **ret);

/* Turns a failed call into a message and an exit code: 3 if the daemon is not reachable,
 * 1 otherwise. `what` names the operation ("GetHostReport"). */
int fail_bus_call(const char *what, const sd_bus_error *error, int r);

/* Calls GetHostReport and parses the answer; on failure prints why and returns the exit code. */
int fetch_report(sd_bus *bus, json_object **ret);

/* Prints o on stdout in the --json mode; returns an exit code. */
int print_json(json_object *o);

/* Verbs. Each returns an exit code. */
int verb_monitor(int argc, char *argv[]);
