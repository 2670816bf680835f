/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "lease.h"

/* l->vf_net_request (if any) applied to the lease's VF member, in lease_acquire() once the group
 * is on vfio-pci: the VF's settings read and saved in the lease (and on disk) first, then the
 * new ones set. On failure what was set is put back and nothing stays saved. */
int lease_vfnet_apply(const LeaseContext *c, Lease *l, LeaseError *err);

/* Every member's saved settings put back, in the release and in the roll back of an acquire;
 * forgotten afterwards whatever happened. Returns the first error, *ret_message saying which VF
 * and netdev (the lease is still given back: the settings are not the device). */
int lease_vfnet_restore(const LeaseContext *c, Lease *l, char **ret_message);
