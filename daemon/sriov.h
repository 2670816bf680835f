/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdf.h"
#include "sysfs.h"

/* A PF's virtual functions (Documentation/ABI/testing/sysfs-bus-pci: sriov_totalvfs,
 * sriov_numvfs, sriov_drivers_autoprobe; Documentation/PCI/pci-iov-howto.rst). The kernel takes a
 * new count only from 0 (EBUSY otherwise), creates the VFs inside the write (a PF driver may do it
 * later from a work item) and sets sriov_numvfs last; sriov_numvfs 0 blocks while a VF is open
 * through VFIO, so every write here runs in a job's writer thread with a timeout. */

typedef struct SriovInfo {
        uint32_t total, num;
        bool autoprobe;
} SriovInfo;

/* -ENOTSUP when address is no PF (no sriov_totalvfs). */
int sriov_read(const SysRoot *r, const char *pf, SriovInfo *ret);

int sriov_write_num_vfs(const SysRoot *r, const char *pf, uint32_t n, uint64_t timeout_usec);
int sriov_write_autoprobe(const SysRoot *r, const char *pf, bool on, uint64_t timeout_usec);

/* The VFs virtfn0..n-1 once sriov_numvfs reads n and every link is there, waiting for them in
 * blocking sections until timeout_usec: -ETIMEDOUT then. */
int sriov_wait_vfs(const SysRoot *r, const char *pf, uint32_t n, uint64_t timeout_usec,
                   char ***ret_vfs);

/* A change under way, kept in $RUNTIME_DIRECTORY/sriov.json from before its first write until
 * it is done or undone, so that a daemon killed in the middle puts the PF back at start: the
 * caller never heard that it happened. */
typedef struct SriovChange {
        char pf[PCI_ADDRESS_STRLEN];
        uint32_t from, to;
        int autoprobe; /* sriov_drivers_autoprobe before the change turned it off; -1: untouched */
} SriovChange;

#define SRIOV_FILE "sriov.json"
#define SRIOV_MAX_CHANGES 1024

/* n == 0 removes the file. */
int sriov_changes_save(int dir_fd, const SriovChange *c, size_t n);
/* No file: none. A file that cannot be trusted or read: as state_load(). */
int sriov_changes_load(int dir_fd, SriovChange **ret, size_t *ret_n, char **ret_error);

/* Puts the PF back where c found it: sriov_numvfs through 0 to c->from, autoprobe as it was.
 * Every step is tried; the first error is returned and *ret_step (may be NULL) names it. */
int sriov_undo(const SysRoot *r, const SriovChange *c, uint64_t timeout_usec,
               const char **ret_step);
