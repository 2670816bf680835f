/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "persistent.h"
#include "util.h"

void persistent_device_record(const Device *d, PersistentDevice *ret) {
        *ret = (PersistentDevice) { .vendor = d->vendor,
                                    .device = d->device,
                                    .subsystem_known = true,
                                    .subsystem_vendor = d->subsystem_vendor,
                                    .subsystem_device = d->subsystem_device,
                                    .group_known = d->group >= 0,
                                    .group = d->group >= 0 ? (uint32_t) d->group : 0 };
        strcpy(ret->address, d->address);
}

bool persistent_identity_matches(const PersistentDevice *pd, const Device *d) {
        return d->ids_known && d->vendor == pd->vendor && d->device == pd->device &&
               (!pd->subsystem_known || (d->subsystem_vendor == pd->subsystem_vendor &&
                                         d->subsystem_device == pd->subsystem_device));
}

/* "8086:1533 subsystem 8086:0000", lspci -nv's order. */
static void format_ids(char *buf, size_t size, uint16_t v, uint16_t dv, bool sub, uint16_t sv,
                       uint16_t sd) {
        if (sub)
                snprintf(buf, size, "%04x:%04x subsystem %04x:%04x", v, dv, sv, sd);
        else
                snprintf(buf, size, "%04x:%04x", v, dv);
}

/* What was recorded and what is there, in the same terms, so that the difference shows. */
static void format_change(const PersistentDevice *pd, const Device *d, char was[static 64],
                          char is[static 96]) {
        format_ids(was, 64, pd->vendor, pd->device, pd->subsystem_known, pd->subsystem_vendor,
                   pd->subsystem_device);
        if (d->ids_known)
                format_ids(is, 96, d->vendor, d->device, pd->subsystem_known, d->subsystem_vendor,
                           d->subsystem_device);
        else
                snprintf(is, 96, "unreadable (its ids cannot be read)");
}

int persistent_identity_message(const PersistentDevice *pd, const Device *d, char **ret) {
        char was[64], is[96];

        format_change(pd, d, was, is);
        return asprintf(ret,
                        "%s: the card there is %s, the persistent prepare recorded %s: another "
                        "card at that address is never prepared in its place (%s). To prepare the "
                        "new card, prepare %s again with persistent=true (assignctl prepare %s "
                        "--persistent), which replaces the record; unprepare it then to forget it",
                        d->address, is, was, va_error_name(VA_ERROR_IDENTITY_CHANGED), d->address,
                        d->address) < 0
                       ? -ENOMEM
                       : 0;
}

int identity_rule_message(const PersistentDevice *pd, const Device *d, const char *rule_file,
                          int rule_index, char **ret) {
        _cleanup_free_ char *rule = NULL;
        char was[64], is[96];

        format_change(pd, d, was, is);
        if ((rule_file ? asprintf(&rule, "rule %s#%d", rule_file, rule_index)
                       : asprintf(&rule, "a policy rule")) < 0)
                return -ENOMEM;
        return asprintf(ret,
                        "%s: the card there is %s, but %s was recorded when %s named the "
                        "address: another card there is neither claimed nor prepared (%s). If "
                        "the new card is meant, accept it (assignctl policy accept %s), which "
                        "records it in its place",
                        d->address, is, was, rule, va_error_name(VA_ERROR_IDENTITY_CHANGED),
                        d->address) < 0
                       ? -ENOMEM
                       : 0;
}

static const char *const state_names[_PERSISTENT_STATE_MAX] = {
        [PERSISTENT_PREPARED] = "prepared",
        [PERSISTENT_NOT_PREPARED] = "not-prepared",
        [PERSISTENT_ABSENT] = "absent",
        [PERSISTENT_IDENTITY_CHANGED] = "identity-changed",
};

const char *persistent_state_to_string(PersistentState s) {
        return (size_t) s < _PERSISTENT_STATE_MAX ? state_names[s] : NULL;
}

/* The state of pd on t; rule: NULL for a persistent prepare, else the rule that names its
 * address ("" when none in force does). */
static int state_of(const Topology *t, const PersistentDevice *pd, const char *rule, int rule_index,
                    PersistentState *ret_state, char **ret_message) {
        const Device *d = topology_find_device(t, pd->address);
        char *message = NULL;
        int k = 0;

        if (!d) {
                *ret_state = PERSISTENT_ABSENT;
                *ret_message = NULL;
                return 0;
        }
        if (!persistent_identity_matches(pd, d)) {
                k = rule ? identity_rule_message(pd, d, rule[0] ? rule : NULL, rule_index, &message)
                         : persistent_identity_message(pd, d, &message);
                if (k < 0)
                        return k;
                *ret_state = PERSISTENT_IDENTITY_CHANGED;
                *ret_message = message;
                return 0;
        }
        if (pd->group_known && d->group != (int64_t) pd->group) {
                char now[32] = "no IOMMU group";

                if (d->group >= 0)
                        snprintf(now, sizeof(now), "IOMMU group %" PRId64, d->group);
                if (asprintf(&message,
                             "%s is in %s now, it was in group %" PRIu32 " when %s "
                             "(the kernel renumbers groups when the host's devices change; the "
                             "card is the same)",
                             d->address, now, pd->group,
                             rule ? "its identity was recorded" : "it was persistently prepared") <
                    0)
                        return -ENOMEM;
        }
        *ret_state = driver_is_vfio(d->driver) ? PERSISTENT_PREPARED : PERSISTENT_NOT_PREPARED;
        *ret_message = message;
        return 0;
}

int persistent_state(const Topology *t, const PersistentDevice *pd, PersistentState *ret_state,
                     char **ret_message) {
        return state_of(t, pd, NULL, 0, ret_state, ret_message);
}

int identity_state(const Topology *t, const PersistentDevice *pd, const char *rule_file,
                   int rule_index, PersistentState *ret_state, char **ret_message) {
        return state_of(t, pd, rule_file ?: "", rule_index, ret_state, ret_message);
}
