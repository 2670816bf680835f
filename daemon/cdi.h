/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lease.h"
#include "macro.h"
#include "model.h"

/* The groups a container may be given, as a CDI spec (the Container Device Interface,
 * github.com/cncf-tags/container-device-interface, SPEC.md): a container runtime that reads it
 * (podman, CRI-O, containerd) turns `--device vfio-assignd.org/group=7` into the group's device
 * nodes in the container. It lists every group that is away from the host with nobody's fds on
 * it: an active prepare, and an active lease with an owner key. No sd-bus here: manager-cdi.c
 * keeps the file true to the lease set. */

/* The kind is "vendor/class" (SPEC.md, "Kind"): both start with a letter, hold letters, digits,
 * '-', '_' and '.', and end with a letter or digit; a '.' in the class would need 0.6.0. */
#define CDI_VENDOR "vfio-assignd.org"
#define CDI_CLASS "group"
#define CDI_KIND CDI_VENDOR "/" CDI_CLASS

/* /var/run is /run on Debian; /var/run/cdi is the directory runtimes read generated specs from
 * (with /etc/cdi for static ones). Consumers read only *.json and *.yaml files. */
#define CDI_SPEC_DEFAULT "/run/cdi/vfio-assignd.json"
/* The spec version podman 4.3.1 (Debian 12) reads: its CDI library (0.5.x) knows 0.1.0 to
 * 0.5.0. */
#define CDI_VERSION_DEFAULT "0.5.0"

/* Whether this daemon writes that spec version (cdi_versions_known()). */
bool cdi_version_is_supported(const char *version);
/* "0.5.0, 0.6.0, ...": for messages. */
const char *cdi_versions_known(void);
/* Whether path can be the spec: absolute, in a directory, a file name that ends in ".json" and
 * leaves room for the temporary name beside it. 0, or -EINVAL and *ret_why. */
int cdi_spec_path_check(const char *path, const char **ret_why);

/* Whether the lease's group belongs in the spec: it is ACTIVE and either a prepare or a lease
 * with an owner. A claim without one holds the group's fds itself: a container could not open
 * the group. */
bool cdi_lists_lease(const Lease *l);

/* A member's device name: its address with '_' for ':' ("0000_03_00.0"). SPEC.md allows
 * letters, digits, '-', '_' and '.' in a device name (from 0.5.0 it may start with a digit);
 * the reference parsers take ':' as well, but a consumer that follows SPEC.md would refuse
 * the whole file. */
#define CDI_ADDRESS_NAME_MAX PCI_ADDRESS_STRLEN
void cdi_address_name(const char *address, char ret[static CDI_ADDRESS_NAME_MAX]);

/* One listed group: its lease and the fully qualified names it is listed under. */
typedef struct CdiGroup {
        uint64_t lease;
        char **names; /* "vfio-assignd.org/group=7", then one by address per non-bridge member */
} CdiGroup;

typedef struct CdiSpec {
        char *text; /* the file; NULL when no group is listed (then there is no file) */
        CdiGroup *groups;
        size_t n_groups;
} CdiSpec;

/* The spec of these leases, in that version, groups ascending. Each group's device lists the
 * backend's context node and the group's nodes (VfioBackendOps.context_node, group_nodes(),
 * with the members' cdevs from the model); each non-bridge member's device lists the context
 * node and the nodes of that member alone (type1: the group's node all the same). A member
 * whose cdev the model has not seen yet is left out of an iommufd lease's devices, and a group
 * left with no node of its own is not listed. The host paths are under the model's dev root. */
int cdi_spec_build(const char *version, Lease *const *leases, size_t n, const Model *m,
                   CdiSpec **ret);
CdiSpec *cdi_spec_free(CdiSpec *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(CdiSpec *, cdi_spec_free);
/* The names a lease is listed under in s (borrowed), NULL when it is not. s may be NULL. */
char *const *cdi_spec_names(const CdiSpec *s, uint64_t lease);

/* Writes s->text to path atomically, 0644 (write_file_atomic_at()), creating the directories
 * (0755) that are missing; with no text, removes the file (none is fine). */
int cdi_spec_write(const CdiSpec *s, const char *path);
