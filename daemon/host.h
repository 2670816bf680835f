/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "sysfs.h"

typedef struct DmarTable DmarTable;

typedef enum IommuKind {
        IOMMU_KIND_NONE,
        IOMMU_KIND_INTEL,
        IOMMU_KIND_AMD,
        IOMMU_KIND_UNKNOWN,
} IommuKind;

typedef enum IrVerdict {
        IR_ENABLED,
        IR_DISABLED,
        IR_UNSUPPORTED,
        IR_UNKNOWN,
} IrVerdict;

typedef struct IommuUnit {
        char *name; /* dmar0, ivhd0 */
        bool has_ecap;
        uint64_t ecap; /* Intel extended capability register, or AMD features */
        int ir;        /* -1 unknown, 0, 1 */
} IommuUnit;

typedef struct Hugepages {
        uint64_t size_kb, total, free;
} Hugepages;

/* The host's isolation facts (host.c). Tristates: -1 = could not be read. */
typedef struct HostInfo {
        IommuKind kind;
        bool iommu_present;
        bool dmar_table, ivrs_table;
        DmarTable *dmar;  /* parsed DMAR, NULL if absent or invalid */
        char *dmar_error; /* why the DMAR table was rejected */
        IommuUnit *units;
        size_t n_units;
        IrVerdict ir;
        char **ir_reasons;
        int unsafe_interrupts;         /* vfio_iommu_type1.allow_unsafe_interrupts */
        int iommufd_unsafe_interrupts; /* iommufd.allow_unsafe_interrupts, -1 when no iommufd */
        int64_t dma_entry_limit;       /* -1 unknown */
        bool mod_vfio, mod_vfio_pci, mod_vfio_iommu_type1, mod_iommufd;
        bool vfio_container_node, iommufd_node;
        char *kernel_release;
        Hugepages *hugepages;
        size_t n_hugepages;
        char **errors;
} HostInfo;

int host_info_read(const SysRoot *root, HostInfo **ret);

/* Reads again what of h can change with no uevent and is cheap to read: the module parameters
 * (allow_unsafe_interrupts, dma_entry_limit), writable by root at any time (module_param(...,
 * 0644)). Everything else host_info_read() reads is fixed for the boot (the ACPI DMAR table, the
 * units' ecap, /proc/cmdline, the IR- domains in /proc/interrupts) or announced by a uevent (the
 * IOMMU groups). Problems are appended to *errors (NULL: dropped; the value says -1). */
void host_read_params(const SysRoot *root, HostInfo *h, char ***errors);

/* Whether iommu_present no longer holds: with no IOMMU unit it is whether a group exists, which
 * the first device added or the last one removed changes. One directory read. */
bool host_iommu_presence_moved(const SysRoot *root, const HostInfo *h);
HostInfo *host_info_free(HostInfo *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(HostInfo *, host_info_free);

/* The interrupt-remapping verdict from the facts already in h (pure; exposed for tests).
 * interrupts: the text of /proc/interrupts or NULL; cmdline: /proc/cmdline or NULL. */
int host_ir_verdict(HostInfo *h, const char *interrupts, const char *cmdline);

/* Sets (allow) or clears vfio_iommu_type1.allow_unsafe_interrupts (and iommufd's, where loaded)
 * at runtime: set only when the policy explicitly allows unsafe interrupts. */
int host_set_unsafe_interrupts(const SysRoot *root, bool allow);

const char *ir_verdict_to_string(IrVerdict v);
const char *iommu_kind_to_string(IommuKind k);
