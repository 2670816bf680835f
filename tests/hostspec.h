/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* hostspec: a line-oriented text description of a host, materialised into a FakeSys tree.
 * The sample hosts live in tests/data/hosts/ (NAME.host); its README.md describes
 * every directive. In short:
 *
 *   # comment                       blank lines and comments are ignored
 *   untar FILE | include FILE | copy SRC DEST | file DEST TEXT | symlink DEST TARGET
 *   mkdir DEST | remove DEST | devnode PATH
 *   device BDF vendor=0x8086 device=0x1533 class=0x020000 [parent=BDF driver=NAME group=N
 *          reset="flr bus" numa=N boot_vga=0|1 iommu=dmar0 irq=N pcie=TYPE mf=1
 *          subvendor= subdevice= rev= override= sec= sub= totalvfs= numvfs= vf_offset=
 *          vf_stride= vf_device= physfn=BDF vfio=N netdev=IFNAME ifindex=N]
 *   attr BDF NAME VALUE | rmattr BDF NAME | bind BDF DRIVER | unbind BDF | unplug BDF
 *   driver NAME | sync-drivers | vfio-dev BDF N
 *   group N [type=T] [name=S] [region=START-END:TYPE]...
 *   iommu NAME intel|amd [cap=HEX ecap=HEX address=HEX version=S bdf=BDF features=S]
 *   dmar width=BITS flags=N, then drhd/rmrr/atsr/rhsa/satc/andd lines with scope lines
 *   ivrs iommu=BDF base=ADDR | acpi NAME FILE
 *   iommufd (dev/iommu and iommufd's allow_unsafe_interrupts=N)
 *   module NAME | param MODULE NAME VALUE | hugepages SIZE_KB nr=N free=N | osrelease S
 *   block BDF PATH MAJ:MIN | dm NAME MAJ:MIN name=S slaves=MAJ:MIN[,..] | rootfs MAJ:MIN TYPE SRC
 *   netdev BDF IFNAME [mac=M] | route default|NET/LEN dev IF [via GW] [metric N]
 *
 * Values with blanks go in double quotes ("flr bus"); \" \\ \n and \t escape inside them.
 * Relative FILE/SRC paths are relative to the spec file's directory. A DMAR table is written
 * when the spec (with its includes) has been read. */

#include "fakesys.h"

/* Returns 0 or -errno; on failure *ret_error (if not NULL) gets "FILE:LINE: what: why". */
int hostspec_apply(FakeSys *fs, const char *spec_path, char **ret_error);
/* The same for spec text in memory; relative paths are taken from base_dir (NULL: "."). The
 * name in errors is "<string>". */
int hostspec_apply_string(FakeSys *fs, const char *text, const char *base_dir, char **ret_error);
