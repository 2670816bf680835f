/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lease.h"
#include "lease-set.h"
#include "macro.h"

/* A lease's file descriptors in systemd's fd store (sd_pid_notify_with_fds(3), FDSTORE=1 with
 * FDNAME=lease-<id>-<name>; FileDescriptorStoreMax= in the unit): the holder's pidfd ("holder"),
 * so that the holder is known as a process after a restart, and a claim's backend fds under the
 * backend's names (type1: "container", "group"), so that a claim that survives a crash or
 * restart still hands out fds. systemd gives them back at the next start
 * (sd_listen_fds_with_names(3)). Not run by systemd, every call here does nothing. */

/* Stores l's holder pidfd and whichever of its backend's fds are open. */
void fdstore_put_lease(const Lease *l);
/* Takes a lease's holder pidfd, or its backend's fds, out of the store. */
void fdstore_remove_holder(uint64_t id);
void fdstore_remove_fds(const Lease *l);
/* Waits until systemd has closed its copies of what was removed (sd_notify_barrier(3)): until
 * then the group is open in PID 1, and would look busy to a release or to a VMM given the node.
 * Blocks: it touches nothing of the daemon's. */
void fdstore_wait_removed(void);

/* What systemd gave back at start. */
typedef struct FdStore FdStore;
FdStore *fdstore_take(void);
/* Moves the fds stored for l into it: the holder's pidfd when it has none, the rest to its
 * backend (VfioBackendOps.adopt_fd). */
void fdstore_adopt(FdStore *s, Lease *l);
/* After the leases are settled: closes what no lease took and removes from the store every entry
 * whose lease is gone or does not hold that fd any more. Frees s. */
void fdstore_finish(FdStore *s, const LeaseSet *set);
