/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The ACPI DMAR table (Intel VT-d spec, chapter 8 "BIOS Considerations"), parsed by a pure
 * function over bytes: no I/O, no logging. The daemon reads /sys/firmware/acpi/tables/DMAR and
 * hands the bytes in; tests and the fuzzer do the same with files. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdf.h"

struct json_object;

typedef enum DmarType {
        DMAR_DRHD = 0, /* DMA remapping hardware unit definition */
        DMAR_RMRR = 1, /* reserved memory region reporting */
        DMAR_ATSR = 2, /* root port ATS capability reporting */
        DMAR_RHSA = 3, /* remapping hardware static affinity */
        DMAR_ANDD = 4, /* ACPI namespace device declaration */
        DMAR_SATC = 5, /* SoC integrated address translation cache (VT-d 3.2) */
        DMAR_SIDP = 6, /* SoC integrated device property (newer ACPICA; >= 7 reserved) */
        _DMAR_TYPE_MAX,
} DmarType;

typedef enum DmarScopeType {
        DMAR_SCOPE_ENDPOINT = 1, /* PCI endpoint device */
        DMAR_SCOPE_BRIDGE = 2,   /* PCI sub-hierarchy: the bridge and everything below it */
        DMAR_SCOPE_IOAPIC = 3,
        DMAR_SCOPE_HPET = 4, /* MSI-capable HPET */
        DMAR_SCOPE_ACPI = 5, /* ACPI namespace device (see ANDD) */
        _DMAR_SCOPE_TYPE_MAX,
} DmarScopeType;

/* Table flags (DMAR offset 37). */
#define DMAR_FLAG_INTR_REMAP 0x01
#define DMAR_FLAG_X2APIC_OPT_OUT 0x02
#define DMAR_FLAG_DMA_CTRL_PLATFORM_OPT_IN 0x04

/* Structure flags. */
#define DMAR_DRHD_FLAG_INCLUDE_PCI_ALL 0x01
#define DMAR_ATSR_FLAG_ALL_PORTS 0x01
#define DMAR_SATC_FLAG_ATC_REQUIRED 0x01

/* ECAP bit 3 (IR) of a remapping unit, VT-d spec 11.4.3; see dmar_interrupt_remapping(). */
#define DMAR_ECAP_IR (UINT64_C(1) << 3)

/* Upper bound on what dmar_parse() accepts; real tables are a few KiB. */
#define DMAR_SIZE_MAX (1024u * 1024u)
/* Notes beyond this many are folded into one summary note. */
#define DMAR_NOTES_MAX 64u

typedef struct DmarPathEntry {
        uint8_t dev, fn;
} DmarPathEntry;

typedef struct DmarScope {
        uint8_t type; /* DmarScopeType; unknown types are skipped with a note */
        uint8_t flags;
        uint8_t enumeration_id; /* IOAPIC id, HPET number or ACPI device number */
        uint8_t start_bus;
        size_t n_path; /* may be 0 (names nothing; dmar_scope_resolve() gives -EINVAL) */
        DmarPathEntry *path;
        size_t offset; /* offset of the scope in the table */
} DmarScope;

typedef struct DmarStruct {
        uint16_t type;
        uint16_t length;
        size_t offset;              /* offset in the table */
        uint8_t flags;              /* DRHD/ATSR/SATC flags */
        uint16_t segment;           /* DRHD/RMRR/ATSR/SATC/SIDP segment */
        uint64_t register_base;     /* DRHD, RHSA */
        uint64_t base, limit;       /* RMRR (limit inclusive) */
        uint32_t proximity_domain;  /* RHSA */
        uint8_t acpi_device_number; /* ANDD */
        char *object_name;          /* ANDD */
        size_t n_scopes;
        DmarScope *scopes;
} DmarStruct;

typedef struct DmarTable {
        uint8_t revision;
        char oem_id[7]; /* as in the table, space padding kept, stops at a NUL */
        char oem_table_id[9];
        uint32_t oem_revision;
        uint8_t host_address_width; /* the raw field; address bits = field + 1 */
        uint8_t flags;
        bool checksum_valid;  /* all bytes add up to 0 (ACPI spec 5.2.6) */
        uint8_t checksum_sum; /* what they add up to */
        size_t n_structs;
        DmarStruct *structs; /* known types only, in table order */
        char **notes;        /* NULL-terminated strv, never NULL after a successful parse */
} DmarTable;

/* Pure: no I/O. Validates the signature, the header length against size, every structure and
 * scope length; a bad checksum is not an error, it is recorded in checksum_valid and
 * checksum_sum. On a malformed table returns -EBADMSG and, if ret_error != NULL, a
 * malloc'd message naming the offset and what is wrong; -EFBIG if size > DMAR_SIZE_MAX; -ENOMEM.
 * Unknown structure types (>= 7) and unknown scope types are skipped with a note. *ret and
 * *ret_error are only written on the paths described. */
int dmar_parse(const void *data, size_t size, DmarTable **ret, char **ret_error);
DmarTable *dmar_table_free(DmarTable *t);
static inline void dmar_table_freep(DmarTable **t) {
        dmar_table_free(*t);
}

const char *dmar_type_to_string(uint16_t type);      /* "DRHD"..."SIDP", NULL if unknown */
const char *dmar_scope_type_to_string(uint8_t type); /* "endpoint", "bridge", "ioapic", "hpet",
                                                      * "acpi", NULL if unknown */

/* Number of structures of one type. */
size_t dmar_count(const DmarTable *t, DmarType type);
/* The DRHD whose register base is register_base (sysfs intel-iommu/address), or NULL. */
const DmarStruct *dmar_find_drhd(const DmarTable *t, uint64_t register_base);

/* Resolve a scope path to the device it names (VT-d spec 8.3.1: the first path entry is on
 * start_bus; each further entry is on the secondary bus of the bridge named by the previous one).
 * The callback returns 0, -ENODEV/-ENOENT for a bridge that is not present, or another -errno
 * which is passed on. Returns -ENODEV if a bridge is unknown, -EINVAL for an empty path or a
 * path entry that is not a valid device/function. */
typedef int (*DmarSecondaryBusFn)(void *userdata, const PciAddress *bridge, uint8_t *ret_bus);
int dmar_scope_resolve(const DmarScope *scope, uint16_t segment, DmarSecondaryBusFn secondary_bus,
                       void *userdata, PciAddress *ret);

/* Every endpoint or bridge device named by an RMRR scope, resolved, sorted and without
 * duplicates; unresolvable scopes (-ENODEV, -EINVAL) are skipped: they name devices that are not
 * present. Returns a malloc'd array (NULL when *ret_n is 0). Note that the kernel also gives
 * every device below an RMRR bridge scope the direct-mapped region; dmar_rmrr_locks() says which
 * entries are bridges. */
int dmar_rmrr_devices(const DmarTable *t, DmarSecondaryBusFn secondary_bus, void *userdata,
                      PciAddress **ret, size_t *ret_n);

typedef struct DmarRmrrLock {
        PciAddress address;
        bool subtree;         /* a bridge scope: devices below it are locked too */
        uint64_t base, limit; /* the region (limit inclusive) */
        size_t rmrr_index;    /* index into DmarTable.structs */
} DmarRmrrLock;
/* Like dmar_rmrr_devices(), one entry per (RMRR, resolved endpoint/bridge scope), table order. */
int dmar_rmrr_locks(const DmarTable *t, DmarSecondaryBusFn secondary_bus, void *userdata,
                    DmarRmrrLock **ret, size_t *ret_n);

/* The table side of intel_irq_remapping_supported(): INTR_REMAP is set and there is at least
 * one DRHD. */
bool dmar_table_intr_remap(const DmarTable *t);
/* The full static check: dmar_table_intr_remap() and every DRHD's ECAP has bit 3 (IR). ecap() is
 * asked per DRHD register base (the daemon reads /sys/class/iommu/dmarN/intel-iommu/ecap of
 * the unit whose address matches). Returns 1 if supported, 0 if not, or ecap()'s -errno. */
typedef int (*DmarEcapFn)(void *userdata, uint64_t register_base, uint64_t *ret_ecap);
int dmar_interrupt_remapping(const DmarTable *t, DmarEcapFn ecap, void *userdata);

/* dmar-json.c (links json-c; no I/O). The shape is a stable API, see docs. */
int dmar_to_json(const DmarTable *t, struct json_object **ret);
int dmar_error_to_json(const char *error, struct json_object **ret);
