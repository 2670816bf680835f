/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "state.h"
#include "topology.h"

/* The identity of a persistently prepared card (issue 14, Proxmox's mapping check): what
 * persistent.json records of it, and whether the card at its address now is still that card.
 * The identity is vendor, device, subsystem vendor and subsystem device (sysfs-bus-pci). The
 * IOMMU group is recorded and reported, but is no part of it: the kernel numbers groups in the
 * order it finds them, so another card elsewhere or a firmware update renumbers them under the
 * same card, and the prepare judges the group it finds (its members, the policy) anyway. */

/* The record of d (its ids and group) in *ret. */
void persistent_device_record(const Device *d, PersistentDevice *ret);
/* Whether d is the card pd recorded; ids an older file did not record are not compared. A device
 * whose ids could not be read is no match. */
bool persistent_identity_matches(const PersistentDevice *pd, const Device *d);
/* The IdentityChanged message for a card d that does not match pd: the address, the ids
 * recorded, the ids found, and how to accept the new card. */
int persistent_identity_message(const PersistentDevice *pd, const Device *d, char **ret);

/* The same for the card at an address that rule rule_file#rule_index names (identities.json;
 * rule_file NULL: not known, as in --report): how to accept the new card
 * (AcceptIdentity). */
int identity_rule_message(const PersistentDevice *pd, const Device *d, const char *rule_file,
                          int rule_index, char **ret);

/* A persistent prepare as the host report shows it. */
typedef enum PersistentState {
        PERSISTENT_PREPARED,         /* the card is there, on a VFIO driver */
        PERSISTENT_NOT_PREPARED,     /* the card is there on another driver (the log says why) */
        PERSISTENT_ABSENT,           /* no device at the address */
        PERSISTENT_IDENTITY_CHANGED, /* another card at the address: never prepared */
        _PERSISTENT_STATE_MAX,
} PersistentState;
const char *persistent_state_to_string(PersistentState s);
/* The state of pd on topology t and, for the states that need one, a message (else NULL): the
 * IdentityChanged message, or that the group number changed. */
int persistent_state(const Topology *t, const PersistentDevice *pd, PersistentState *ret_state,
                     char **ret_message);
/* persistent_state() of a card recorded because rule_file#rule_index names its address (NULL:
 * not known): the report says "ok" for PREPARED and NOT_PREPARED. */
int identity_state(const Topology *t, const PersistentDevice *pd, const char *rule_file,
                   int rule_index, PersistentState *ret_state, char **ret_message);
