/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the files of libpolicy.a: policy.c (the Policy object, evaluation), policy-parse.c
 * (text -> Policy) and policy-load.c (files -> Policy), each calling only the ones before it.
 * Not for other modules: they use policy.h. */

#include <stdarg.h>
#include <sys/types.h>

#include "policy.h"

typedef enum PolicyAction {
        POLICY_ACTION_ALLOW,
        POLICY_ACTION_DENY,
} PolicyAction;

typedef enum PolicyPhysfn {
        POLICY_PHYSFN_ANY,
        POLICY_PHYSFN_VF,     /* physfn: true */
        POLICY_PHYSFN_NOT_VF, /* physfn: false */
        POLICY_PHYSFN_GLOB,   /* physfn: "glob of the PF address" */
} PolicyPhysfn;

typedef enum PolicyHostKey {
        POLICY_HOST_REQUIRE_IR,
        POLICY_HOST_ALLOW_UNSAFE,
        POLICY_HOST_RESTORE_DRIVER,
        POLICY_HOST_ON_HOLDER_EXIT,
        POLICY_HOST_MAX_PINNED,
        POLICY_HOST_REQUIRE_RESET,
        _POLICY_HOST_KEY_MAX,
} PolicyHostKey;

extern const char *const policy_host_key_names[_POLICY_HOST_KEY_MAX];

/* Absent criteria: NULL strings, -1 numbers and tristates. */
typedef struct PolicyMatch {
        char *address; /* fnmatch() glob over the canonical address */
        int32_t vendor, device, subsystem_vendor, subsystem_device;
        unsigned class_digits; /* 0 (any), 2, 4 or 6 */
        uint32_t class_prefix; /* the top class_digits hex digits of the class */
        int64_t group;
        char *driver;
        int boot_vga, host_critical;
        int64_t numa_node;
        PolicyPhysfn physfn;
        char *physfn_glob;
} PolicyMatch;

typedef struct PolicyRule {
        size_t file;    /* index into Policy.files */
        unsigned index; /* position in its file */
        char *description;
        PolicyMatch match;
        PolicyAction action;
        char **users, **groups; /* NULL when absent (never empty) */
        char *reason;
        bool prepare_at_boot;
        PolicyBackend backend; /* the pin of an allow rule; ANY: none */
        char *vfio_driver;     /* an allow rule's VFIO driver for its devices (vfio-pci: no
                                * variant); NULL: the one modules.alias names */
} PolicyRule;

struct Policy {
        char **files;
        PolicyHost host;
        ssize_t host_source[_POLICY_HOST_KEY_MAX]; /* index into files of the file that set it, or
                                                      -1 */
        PolicyRule *rules;
        size_t n_rules;
};

/* policy.c */
void policy_match_init(PolicyMatch *m);
/* An empty policy with the host defaults. */
Policy *policy_alloc(void);
bool policy_glob_has_wildcard(const char *glob);

/* policy-parse.c */
/* Error lines of one load, capped at POLICY_ERRORS_MAX. */
typedef struct PolicyErrors {
        char **lines;
        size_t n, dropped;
        bool oom;
} PolicyErrors;

void policy_errors_add(PolicyErrors *e, const char *fmt, ...) _printf_(2, 3);
/* Appends the "N more errors" line if needed and hands the lines over (NULL on OOM). */
int policy_errors_finish(PolicyErrors *e, char ***ret);
void policy_errors_done(PolicyErrors *e);

/* Parses one file; errors go to *e. -EINVAL when the file has errors, -ENOMEM. */
int policy_parse_text(PolicyErrors *e, const char *name, const char *text, size_t size,
                      Policy **ret);

/* For messages: a JSON-style quoted, escaped copy of s (at most about 64 bytes of it). */
char *policy_quote(const char *s, size_t len);
