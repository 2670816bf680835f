/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "json-util.h"
#include <systemd/sd-bus.h>

#include "bdf.h"
#include "errors.h"
#include "escape.h"
#include "macro.h"
#include "names.h"

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
} JsonMode;

extern JsonMode arg_json;

/* Options that belong to some verbs only; dispatch refuses them elsewhere (see assignctl.c). */
extern const char *arg_user;       /* policy explain --user */
extern const char *arg_sysfs_root; /* policy explain --sysfs-root (offline) */
extern char **arg_policy_dirs;     /* policy explain --policy-dir, repeatable */
/* --root as a prefix for absolute paths: "" for "/" or none. */
const char *root_prefix(void);
extern bool arg_now;              /* modules-load --now: modprobe them too */
extern bool arg_needed;           /* modules-load --needed: the missing variants */
extern bool arg_force;            /* modules-load --force: a module that is not VFIO's */
extern const char *arg_root;      /* leases --root: the tree with dev/ and sys/ (NULL: "/") */
extern bool arg_persistent;       /* prepare --persistent */
extern const char *arg_owner;     /* claim, prepare, release --owner */
extern char **arg_exec;           /* claim --exec CMD ARGS...: points into argv, NULL-terminated */
extern const char *arg_backend;   /* claim --backend NAME: the claim's "backend" option */
extern uint64_t arg_memlock;      /* claim --memlock SIZE: the claim's "memlock" option, 0: none */
extern uint64_t arg_memory;       /* claim --memory SIZE: a region of guest RAM, 0: none */
extern const char *arg_hugepages; /* claim --hugepages: its page size ("2M", "1G", "none") */
#define ARG_NUMA_NODE_UNSET (-2)
extern int arg_numa_node; /* claim --numa-node N; ARG_NUMA_NODE_UNSET: the daemon's pick */
extern uint64_t arg_map;  /* claim --map IOVA; UINT64_MAX: not mapped */
/* claim --vf-mac, --vf-vlan VLAN[:QOS], --vf-spoofchk, --vf-trust: the claim's vf_* options;
 * NULL or -1: not given. */
extern const char *arg_vf_mac;
extern int arg_vf_vlan, arg_vf_qos, arg_vf_spoofchk, arg_vf_trust;
extern bool arg_vfio; /* sriov --vfio: the new VFs are prepared for VFIO */

/* Replaces *field with a copy of s (-ENOMEM: *field untouched). */
int set_string(char **field, const char *s);

/* Prints an error on stderr (as one JSON object when --json is on) and returns exit_code.
 * error_name may be NULL; it is the D-Bus error name when there is one. The message is escaped
 * (cescape()): whatever it quotes, it prints as one line of text. */
int fail(int exit_code, const char *error_name, const char *format, ...) _printf_(3, 4);

/* Prints a line on stderr that is not an error (text also under --json), escaped like fail()'s. */
void note(const char *format, ...) _printf_(1, 2);

/* fail() and note() for a failed call: error, an errno negative or positive, is what the
 * message's "%m" prints (as daemon/log.h's log_error_errno() does), so callers write
 * `return fail_errno(EXIT_FAILED, r, "Cannot ...: %m");`. */
int fail_errno(int exit_code, int error, const char *format, ...) _printf_(3, 4);
void note_errno(int error, const char *format, ...) _printf_(2, 3);

/* Error messages quote arguments from the command line up to this many characters. */
#define ARG_SHOWN_MAX 64

/* fail() for a message that quotes one argument of the command line (format's one "%s"), cut to
 * ARG_SHOWN_MAX characters: an address of 10,000 characters is not echoed whole. */
#define fail_arg(exit_code, format, arg)                                    \
        ({                                                                  \
                _cleanup_free_ char *_shown = strcut((arg), ARG_SHOWN_MAX); \
                fail((exit_code), NULL, (format), strna(_shown));           \
        })

/* The exit code after an output_*() call (output.h): EXIT_OK, or EXIT_FAILED after saying that
 * memory ran out. */
int printed(int r);

/* The bus's signal that org.vfioassign1 has a new owner, or none: the daemon started, stopped or
 * restarted. */
#define MATCH_OWNER_CHANGED                                                             \
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus'," \
        "member='NameOwnerChanged',arg0='" BUS_NAME "'"

/* Connects to the system bus; on failure prints why and returns EXIT_UNREACHABLE. Interactive
 * polkit authentication is allowed unless --no-ask-password was given. */
int connect_bus(sd_bus **ret);

/* Turns a failed call into a message and an exit code: 3 if the daemon is not reachable,
 * 1 otherwise. `what` names the operation ("GetHostReport"). */
int fail_bus_call(const char *what, const sd_bus_error *error, int r);

/* The exit code for a failed call: 3 unreachable, 4 AccessDenied, else the catalogue's (5 for a
 * policy denial, 1 for the rest and for errors not ours). */
int bus_error_exit_code(const char *name, int r);
/* "org.vfioassign1.Error.HostCritical" -> "HostCritical" (the part after the last dot). */
const char *bus_error_short_name(const char *name);
/* For the verbs that act: prints "assignctl: CONTEXT: ShortName: message" (the daemon's message
 * names device, driver and rule) and returns bus_error_exit_code(). */
int fail_call(const char *context, const sd_bus_error *error, int r);

/* Validates a PCI address argument and writes its canonical form; EXIT_OK, or EXIT_USAGE after
 * saying what is wrong. */
int parse_address_arg(const char *arg, char ret[static PCI_ADDRESS_STRLEN]);

/* Parses a JSON object a method returned (what names it in messages); EXIT_OK or the exit
 * code after saying what is wrong. */
int parse_json_object(const char *what, const char *text, json_object **ret);

/* Calls GetHostReport and parses the answer; on failure prints why and returns the exit code. */
int fetch_report(sd_bus *bus, json_object **ret);

/* Prints o on stdout (or f) in the --json mode; returns an exit code. */
int print_json(json_object *o);
int print_json_to(FILE *f, json_object *o);
/* Prints o on one line of stdout whatever the mode, and flushes it (monitor's events); 0 or
 * -ENOMEM. */
int print_json_line(json_object *o);

/* Verbs. Each returns an exit code. */
int verb_monitor(int argc, char *argv[]);
int verb_policy_check(int argc, char *argv[]);
int verb_policy_explain(int argc, char *argv[]);
int verb_policy_status(int argc, char *argv[]);
int verb_policy_reload(int argc, char *argv[]);
int verb_policy_accept(int argc, char *argv[]);
int verb_claim(int argc, char *argv[]);
int verb_sriov(int argc, char *argv[]);
int verb_release(int argc, char *argv[]);
int verb_prepare(int argc, char *argv[]);
int verb_unprepare(int argc, char *argv[]);
int verb_leases(int argc, char *argv[]);
int verb_modules_load(int argc, char *argv[]);
