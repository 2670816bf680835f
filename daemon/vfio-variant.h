/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* VFIO variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, nvgrace_gpu_vfio_pci, ...): the
 * device-specific drivers a device should go to instead of vfio-pci. Each declares the devices it
 * drives with MODULE_DEVICE_TABLE(vfio_pci, ...) (include/linux/mod_devicetable.h,
 * PCI_DRIVER_OVERRIDE_DEVICE_VFIO), which depmod writes to lib/modules/RELEASE/modules.alias as
 * "alias vfio_pci:vVVVVVVVVdDDDDDDDDsvSSSSSSSSsdSSSSSSSSbcCCscSSiII MODULE" with '*' for what it
 * leaves open. Of the aliases that match a device, the one with the fewest wildcards is the most
 * specific (libvirt picks it the same way); vfio-pci's own catch-all alias (module vfio_pci) is no
 * variant. No sd-bus, no sysfs writes. */

#include <stddef.h>

#include "macro.h"
#include "sysfs.h"
#include "topology.h"

typedef struct VfioVariant {
        char *pattern; /* fnmatch(3) pattern, "vfio_pci:v..." */
        char *module;  /* also the driver's name: variants register KBUILD_MODNAME */
        unsigned wildcards;
} VfioVariant;

typedef struct VfioVariants {
        VfioVariant *variants;
        size_t n;
} VfioVariants;

/* "vfio_pci:" and the device's modalias without its "pci:" (drivers/pci/pci-sysfs.c,
 * modalias_show()), what a vfio_pci alias is matched against. */
#define VFIO_VARIANT_ALIAS_MAX 64
void vfio_variant_alias(const Device *d, char ret[static VFIO_VARIANT_ALIAS_MAX]);

/* Parses modules.alias text (size bytes, no terminator needed): every "alias vfio_pci:..."
 * line is kept, other aliases are skipped. A line that is not "alias PATTERN MODULE" or "#..."
 * (or blank), a pattern or module name that cannot be one, or a NUL byte, is -EBADMSG with "line
 * N: why" in *ret_error, and nothing is returned. */
int vfio_variants_parse(const char *text, size_t size, VfioVariants **ret, char **ret_error);

/* Reads lib/modules/RELEASE/modules.alias under the root's tree (a fake tree in tests), or the
 * file at the absolute path `file` when it is not NULL (a copy made where the daemon can read it:
 * its unit hides /usr/lib/modules). A missing file is -ENOENT (no modules installed for that
 * kernel: no variants). The error names the file. */
int vfio_variants_load(const SysRoot *root, const char *kernel_release, const char *file,
                       VfioVariants **ret, char **ret_error);

VfioVariants *vfio_variants_free(VfioVariants *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(VfioVariants *, vfio_variants_free);

/* The best variant for the alias: the match with the fewest wildcards, the first in the file
 * among equals; NULL when none matches (vfio-pci then). */
const VfioVariant *vfio_variants_match(const VfioVariants *v, const char *alias);
