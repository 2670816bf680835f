/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Vendor and device names from the pci.ids database through libpci. */
typedef struct PciNames PciNames;

/* ids_path NULL = the build's default pci.ids. Never fails for a missing database: lookups
 * then return NULL names. */
int pci_names_new(const char *sysfs_root, const char *ids_path, PciNames **ret);
PciNames *pci_names_free(PciNames *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(PciNames *, pci_names_free);

/* Either output may be NULL on return when the database does not know the id. The strings
 * belong to n (each pair is looked up once) and live as long as it does. Not thread-safe:
 * libpci is not. */
int pci_names_lookup(PciNames *n, uint16_t vendor, uint16_t device, const char **ret_vendor,
                     const char **ret_device);
