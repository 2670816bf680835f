/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A tiny builder of synthetic ACPI DMAR tables for tests and sample hosts (tests/mkhost.c).
 * It writes whatever it is told (so tests can make odd tables) and only fixes the lengths of
 * the table and of each structure, and the checksum. */

#include <stddef.h>
#include <stdint.h>

#include "dmar.h"

typedef struct DmarBuilder DmarBuilder;

/* OEM ID "VFIOAS", OEM table ID "DMARTEST", revision 1. NULL on OOM. */
DmarBuilder *dmar_builder_new(uint8_t host_address_width_field, uint8_t flags);
DmarBuilder *dmar_builder_free(DmarBuilder *b);

/* Start a structure; its fixed part is filled from the arguments. Returns 0 or -errno
 * (-E2BIG when a structure would exceed 65535 bytes). */
int dmar_builder_drhd(DmarBuilder *b, uint8_t flags, uint16_t segment, uint64_t register_base);
int dmar_builder_rmrr(DmarBuilder *b, uint16_t segment, uint64_t base, uint64_t limit);
int dmar_builder_atsr(DmarBuilder *b, uint8_t flags, uint16_t segment);
int dmar_builder_rhsa(DmarBuilder *b, uint64_t register_base, uint32_t proximity_domain);
int dmar_builder_andd(DmarBuilder *b, uint8_t acpi_device_number, const char *object_name);
int dmar_builder_satc(DmarBuilder *b, uint8_t flags, uint16_t segment);
/* Any type: a 4-byte structure header followed by body. */
int dmar_builder_raw(DmarBuilder *b, uint16_t type, const void *body, size_t body_len);
/* Append a device scope to the current structure; path = n (dev, fn) pairs (n <= 124).
 * -EINVAL if no structure was started. */
int dmar_builder_scope(DmarBuilder *b, uint8_t type, uint8_t enumeration_id, uint8_t start_bus,
                       const DmarPathEntry *path, size_t n);
/* Fix lengths and the checksum; returns a malloc'd copy. The builder stays usable. */
int dmar_builder_finish(DmarBuilder *b, uint8_t **ret, size_t *ret_size);
