/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The assignment policy (vfio-assignd.policy(5)), libpolicy.a: load, validate, merge, evaluate.
 * Pure: no sd-bus, no logging, no sysfs; the only file access is policy_read_file() and
 * policy_load_dirs() reading the files and directories they are given. It links with
 * libcommon.a and json-c only: the devices, groups and host facts it judges are the model's
 * structs (topology.h, host.h), filled by the caller; no function of the model is called. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.h"
#include "macro.h"
#include "topology.h"

struct json_object;

#define POLICY_VERSION 1

/* The three places policy lives, in the order they are merged. The build may point the vendor
 * directory at $(datadir) (where policy.mk installs default.json) with -DPOLICY_DIR_VENDOR=. */
#ifndef POLICY_DIR_VENDOR
#define POLICY_DIR_VENDOR "/usr/share/vfio-assignd/policy.d"
#endif
#ifndef POLICY_DIR_ETC
#define POLICY_DIR_ETC "/etc/vfio-assignd/policy.d"
#endif
#ifndef POLICY_DIR_RUN
#define POLICY_DIR_RUN "/run/vfio-assignd/policy.d"
#endif

/* Limits on what a policy file can make the daemon allocate. */
#define POLICY_FILE_SIZE_MAX (64u * 1024u)
#define POLICY_DEPTH_MAX 8       /* json_tokener_new_ex() depth; a scalar counts as a level */
#define POLICY_RULES_MAX 1024    /* per file */
#define POLICY_FILES_MAX 256     /* in effect after same-name replacement */
#define POLICY_NAMES_MAX 64      /* entries of users / groups */
#define POLICY_NAME_LEN_MAX 32   /* user and group names (useradd's limit) */
#define POLICY_TEXT_LEN_MAX 1024 /* description, reason */
#define POLICY_GLOB_LEN_MAX 32
#define POLICY_DRIVER_LEN_MAX 64
#define POLICY_ERRORS_MAX 64 /* error lines per load; one more line says how many were cut */

typedef struct Policy Policy;

typedef enum PolicyOnHolderExit {
        ON_HOLDER_EXIT_RELEASE,
        ON_HOLDER_EXIT_KEEP,
} PolicyOnHolderExit;

typedef struct PolicyHost {
        bool require_interrupt_remapping, allow_unsafe_interrupts, restore_driver_on_release,
                require_reset;
        PolicyOnHolderExit on_holder_exit;
        uint64_t max_pinned_bytes_per_uid; /* UINT64_MAX = unlimited */
} PolicyHost;

/* Parses one file's text (name used in messages). text need not be NUL-terminated. On failure
 * returns -EINVAL (or -ENOMEM) and, for -EINVAL, the error lines "NAME: key.path: reason" in
 * *ret_errors (which may be NULL); *ret is untouched. */
int policy_parse_file(const char *name, const char *text, size_t size, Policy **ret,
                      char ***ret_errors);

/* The one reader of policy files: at most POLICY_FILE_SIZE_MAX + 1 bytes (one more than a valid
 * file may have, so that the parser reports an oversized file), of a regular file; a FIFO does
 * not block. Returns 0 with the text (NUL-terminated for convenience; it may hold NULs) and its
 * size, 1 for /dev/null (the mask of policy_load_dirs(): *ret_text NULL, size 0), -ENOMEM, or
 * -EINVAL with the line "PATH: cannot read: reason" or "PATH: not a regular file" in
 * *ret_error (which may be NULL). */
int policy_read_file(const char *path, char **ret_text, size_t *ret_size, char **ret_error);

/* Loads *.json from each directory (in order; missing directories are fine), applies the
 * same-name-replaces rule (a same-named symlink to /dev/null masks the earlier file), parses
 * all, merges. On any error: returns -EINVAL (or -ENOMEM) and all error lines in *ret_errors,
 * no policy. With no files at all: the built-in default (everything at its default, no rules).
 * dirs is a NULL-terminated list. */
int policy_load_dirs(char *const *dirs, Policy **ret, char ***ret_errors);

/* Everything at its default, no rules, no files. */
int policy_new_default(Policy **ret);

Policy *policy_free(Policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Policy *, policy_free);

/* NULL (no policy in force): the built-in defaults. */
const PolicyHost *policy_host(const Policy *p);
size_t policy_n_rules(const Policy *p);
char **policy_files(const Policy *p); /* the files in effect, in order (borrowed) */
/* The file that last set a host key ("require_reset", ...), or NULL when it is at its default. */
const char *policy_host_source(const Policy *p, const char *key);

/* How a claim reaches the VMM, as a rule may pin it ("backend"); the names are the daemon's
 * backends' (vfio-backend.h), which this module does not link. */
typedef enum PolicyBackend {
        POLICY_BACKEND_ANY, /* no pin: the claim's option decides */
        POLICY_BACKEND_TYPE1,
        POLICY_BACKEND_IOMMUFD,
        _POLICY_BACKEND_MAX,
} PolicyBackend;

/* "any", "type1", "iommufd"; NULL for other values. */
const char *policy_backend_to_string(PolicyBackend b);

typedef struct PolicyCaller {
        uint32_t uid;
        const char *user;    /* NULL when the uid has no name */
        char *const *groups; /* names of the caller's groups, NULL-terminated, may be NULL */
} PolicyCaller;

enum {
        POLICY_DENY_NONE,
        POLICY_DENY_RULE,                /* a rule with action "deny" */
        POLICY_DENY_DEFAULT,             /* no rule matched and the caller is not root */
        POLICY_DENY_HOST_CRITICAL,       /* the host needs a member and no rule names it */
        POLICY_DENY_BLOCKER,             /* rmrr-locked, no-iommu, noiommu-group, ... */
        POLICY_DENY_INTERRUPT_REMAPPING, /* the host.require_interrupt_remapping gate */
        POLICY_DENY_NO_RESET,            /* host.require_reset and a member has no reset method */
        POLICY_DENY_BACKEND_CONFLICT,    /* the members' rules pin different backends */
};

typedef struct PolicyVerdict {
        bool allowed;
        char *rule_file; /* the deciding rule (index within its file), NULL/-1 = default */
        int rule_index;
        char *device;               /* the member that decided a denial, or NULL */
        char **reasons;             /* human sentences naming device, rule (file#index), and why */
        char **denials;             /* the subset of reasons that deny, for an error message */
        bool set_unsafe_interrupts; /* allowed only because policy allows unsafe interrupts: the
                                       caller must set the module parameter at claim time */
        char *ir_denial_key;        /* when denied for IR: the policy key to change */
        int code;                   /* POLICY_DENY_* */
        /* The backend the allowing rules pin (the claim's option cannot choose another), the
         * first rule that pins it (file, index) and the member it allowed; ANY/NULL/-1: none. */
        PolicyBackend backend;
        char *backend_rule_file;
        int backend_rule_index;
        char *backend_device;
} PolicyVerdict;

#define POLICY_VERDICT_INIT ((PolicyVerdict) { .rule_index = -1, .backend_rule_index = -1 })

/* Frees the members and resets *v to POLICY_VERDICT_INIT. */
void policy_verdict_clear(PolicyVerdict *v);
const char *policy_deny_code_to_string(int code);

/* One device: the first matching rule for this caller, or the default (only root allowed).
 * A host-critical device is denied unless the deciding rule names it explicitly (see
 * policy_evaluate_group()). *ret is overwritten (not cleared) on success only. */
int policy_evaluate_device(const Policy *p, const Device *d, const PolicyCaller *c,
                           PolicyVerdict *ret);

/* A whole group: allowed only if every non-bridge member is allowed; the group's backend pin is
 * the one of the rules that allow its members, and rules pinning different backends deny it
 * (a group is claimed with one backend); host-critical members deny
 * the group unless the deciding rule names them explicitly (its match has host_critical: true,
 * or an address with no wildcard equal to the member's address); any other group blocker
 * (rmrr-locked, no-iommu, noiommu-group, ...) denies regardless of rules, except "no-reset",
 * which denies only with host.require_reset (which also denies members with no reset method);
 * then the interrupt-remapping gate: with require_interrupt_remapping, deny when host->ir !=
 * IR_ENABLED or when an allow_unsafe_interrupts module parameter is already set, unless
 * allow_unsafe_interrupts: true, in which case allow with set_unsafe_interrupts =
 * (host->unsafe_interrupts <= 0) and a reason saying so. */
int policy_evaluate_group(const Policy *p, const Topology *t, const Group *g, const HostInfo *host,
                          const PolicyCaller *c, PolicyVerdict *ret);

/* Whether d should be bound to vfio-pci at boot: some rule with prepare_at_boot matches d
 * (caller-independent), no earlier rule denying everyone matches it, d is not a bridge, and d
 * is not host-critical unless that rule names it explicitly. */
bool policy_prepare_at_boot(const Policy *p, const Device *d);

/* The address rule i (0 .. policy_n_rules() - 1) names, with its file and index: the "address"
 * of its match when that has no wildcard, else NULL. The daemon records the card it finds at
 * such an address (identities.json, vfio-assignd(8)) and refuses another card there. */
const char *policy_rule_address(const Policy *p, size_t i, const char **ret_file, int *ret_index);
/* The first rule that names address, as policy_rule_address() says; false when none does. */
bool policy_names_address(const Policy *p, const char *address, const char **ret_file,
                          int *ret_index);

/* The VFIO driver a rule chooses for d ("vfio_driver"): the first allow rule that matches the
 * device and names one, whoever asks (the driver is the device's, not the caller's), with its
 * file and index; NULL when none does (modules.alias decides). */
const char *policy_vfio_driver(const Policy *p, const Device *d, const char **ret_file,
                               int *ret_index);

/* {"files": [...], "host": {...}, "host_sources": {...}, "rules": [{"file", "index",
 * "description", "action", "match", "users", "groups", "reason", "prepare_at_boot",
 * "backend", "vfio_driver"}]}; "backend" is null when the rule pins none, "vfio_driver" when it
 * chooses none. */
int policy_to_json(const Policy *p, struct json_object **ret);
