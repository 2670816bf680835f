/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A PCI address "DDDD:BB:DD.F" as the kernel spells the names under /sys/bus/pci/devices
 * (domain 16 bits in practice, bus 8 bits, device 5 bits, function 3 bits). */
typedef struct PciAddress {
        uint32_t domain;
        uint8_t bus;
        uint8_t dev;
        uint8_t fn;
} PciAddress;

#define PCI_ADDRESS_STRLEN sizeof("ffff:ff:1f.7")

/* Accepts "DDDD:BB:DD.F" and, for people typing, "BB:DD.F" (domain 0); hex in either case.
 * Anything else (extra characters, out-of-range fields) is -EINVAL. */
int pci_address_parse(const char *s, PciAddress *ret);
/* Only the full canonical form, as sysfs names devices: lower-case, 4-digit domain. */
bool pci_address_is_canonical(const char *s);
/* Writes the canonical lower-case form into buf (PCI_ADDRESS_STRLEN bytes). */
char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_STRLEN]);
int pci_address_compare(const PciAddress *a, const PciAddress *b);

/* A root complex's directory in /sys/devices, named "pci%04x:%02x" (domain, root bus) by
 * pci_register_host_bridge() (drivers/pci/probe.c); a domain has up to 8 digits (Intel VMD's
 * start at 0x10000). */
#define PCI_ROOT_STRLEN sizeof("pci01234567:00")
/* The root complex above a device, from its sysfs path ("sys/devices/pci0000:00/0000:00:1c.0/
 * 0000:01:00.0"): the first directory named so, wherever it sits (under a VMBus or ACPI parent
 * on some platforms), as Kubernetes' DRA attribute resource.kubernetes.io/pcieRoot names it.
 * false when the path (may be NULL) names none; ret is then untouched. */
bool pci_root_of_path(const char *path, char ret[static PCI_ROOT_STRLEN]);
