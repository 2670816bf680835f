/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "sysfs.h"
#include "topology.h"

/* Devices the host itself needs: the PCI device behind the block device holding "/" and behind
 * the network interface(s) carrying a default route. Reads proc/ and sys/ under the root, not
 * the PCI tree: the boot VGA device, the third kind, is a fact of each device
 * (topology_derive_device()). Problems go to *errors. */
int host_critical_find(const SysRoot *root, HostCritical **ret, size_t *ret_n, char ***errors);
void host_critical_free(HostCritical *c, size_t n);

/* Pure helpers, exposed for tests. */
/* The "MAJ:MIN" of the filesystem mounted at "/" in a mountinfo text (proc(5)); the last
 * matching line wins, as later mounts stack on top. */
int mountinfo_root_device(const char *mountinfo, unsigned *ret_major, unsigned *ret_minor);
/* Interfaces carrying an IPv4 (proc/net/route) or IPv6 (proc/net/ipv6_route) default route. */
int route_default_interfaces(const char *route, const char *ipv6_route, char ***ret);
/* The last path component that is a canonical PCI address, e.g. from
 * "sys/devices/pci0000:00/0000:00:1d.0/0000:02:00.0/nvme/nvme0/nvme0n1". */
int devpath_pci_device(const char *path, char ret[static PCI_ADDRESS_STRLEN]);
