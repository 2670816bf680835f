/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cards at the addresses policy rules name (issue 14, Proxmox's mapping check): the first
 * card the daemon finds at such an address is recorded in identities.json, and another card
 * there is refused (IdentityChanged) until AcceptIdentity records it in its place. A rule that
 * names an address means that card: a replaced one could be anything, the host's own disk
 * controller included. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "persistent.h"
#include "util.h"

/* No more records than a policy could name, and not unbounded. */
#define IDENTITY_MAX STATE_MAX_LEASES

static PersistentDevice *find_record(const Manager *d, const char *address) {
        for (size_t i = 0; i < d->n_identities; i++)
                if (streq(d->identities[i].address, address))
                        return &d->identities[i];
        return NULL;
}

static int save(Manager *d) {
        return identities_save(d->leases->state_fd, d->identities, d->n_identities);
}

/* Appends the record of dev; 0 when it could not be recorded (no ids, too many). */
static int add_record(Manager *d, const Device *dev) {
        PersistentDevice *n;

        if (!dev->ids_known || d->n_identities >= IDENTITY_MAX)
                return 0;
        n = reallocarray(d->identities, d->n_identities + 1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        d->identities = n;
        persistent_device_record(dev, &d->identities[d->n_identities++]);
        return 1;
}

/* Records that no rule in force names are dropped: the rule that meant a card is gone, and a new
 * rule naming the address records what is there then. Without a policy in force nothing is
 * known about the rules, and everything is kept. */
static bool drop_unnamed(Manager *d) {
        size_t j = 0;

        if (!d->policy)
                return false;
        for (size_t i = 0; i < d->n_identities; i++) {
                if (!policy_names_address(d->policy, d->identities[i].address, NULL, NULL)) {
                        log_info("%s: no policy rule names the address any more, its card's "
                                 "identity is forgotten",
                                 d->identities[i].address);
                        continue;
                }
                d->identities[j++] = d->identities[i];
        }
        if (j == d->n_identities)
                return false;
        d->n_identities = j;
        return true;
}

void manager_identities_record(Manager *d, const char *address, bool prune) {
        bool changed;
        int k;

        if (!d->leases)
                return;
        changed = prune && drop_unnamed(d);
        for (size_t i = 0; i < policy_n_rules(d->policy); i++) {
                const char *a = policy_rule_address(d->policy, i, NULL, NULL);
                const Device *dev;

                if (!a || (address && !streq(a, address)) || find_record(d, a))
                        continue;
                dev = topology_find_device(d->model->topology, a);
                if (!dev)
                        continue;
                k = add_record(d, dev);
                if (k < 0) {
                        log_warning_errno(k, "%s: cannot record its card's identity: %m", a);
                        break;
                }
                if (k > 0) {
                        log_info("%s: recorded its card %04x:%04x subsystem %04x:%04x, as a "
                                 "policy rule names the address",
                                 a, dev->vendor, dev->device, dev->subsystem_vendor,
                                 dev->subsystem_device);
                        changed = true;
                }
        }
        if (!changed)
                return;
        k = save(d);
        if (k < 0)
                log_warning_errno(k, "Cannot write %s: %m", IDENTITY_FILE);
}

int manager_identities_load(Manager *d) {
        _cleanup_free_ char *error = NULL;
        int fd = d->leases->state_fd, k;

        k = identities_load(fd, &d->identities, &d->n_identities, &error);
        if (k == -EBADMSG) {
                /* The cards are recorded again from what is there: kept aside for whoever wants
                 * to compare. */
                log_error("%s: %s; kept as %s.corrupt, the cards at the addresses rules name are "
                          "recorded again",
                          IDENTITY_FILE, strna(error), IDENTITY_FILE);
                return renameat(fd, IDENTITY_FILE, fd, IDENTITY_FILE ".corrupt") < 0
                               ? negative_errno()
                               : 0;
        }
        if (k < 0)
                log_error("%s: %s", IDENTITY_FILE, error ?: strerror(-k));
        return k;
}

void manager_identities_free(Manager *d) {
        d->identities = mfree(d->identities);
        d->n_identities = 0;
}

int manager_identity_refusal(Manager *d, uint32_t group, char **ret_message) {
        const Group *g = topology_find_group(d->model->topology, group);

        for (char **a = g ? g->devices : NULL; a && *a; a++) {
                const PersistentDevice *pd = find_record(d, *a);
                const Device *dev = topology_find_device(d->model->topology, *a);
                const char *file = NULL;
                int index = 0, k;

                if (!pd || !dev || persistent_identity_matches(pd, dev))
                        continue;
                (void) policy_names_address(d->policy, *a, &file, &index);
                k = identity_rule_message(pd, dev, file, index, ret_message);
                return k < 0 ? k : -EREMCHG;
        }
        return 0;
}

int manager_identity_check(Manager *d, uint32_t group, LeaseError *err) {
        _cleanup_free_ char *message = NULL;
        int k = manager_identity_refusal(d, group, &message);

        if (k != -EREMCHG)
                return k;
        return lease_error_set(err, k, VA_ERROR_IDENTITY_CHANGED, "%s", message);
}

int manager_accept_identity(Manager *d, const char *address, const char *who, LeaseError *err) {
        const Device *dev = topology_find_device(d->model->topology, address);
        PersistentDevice *pd = find_record(d, address), old;
        int k;

        if (!dev)
                return lease_error_set(err, -ENODEV, VA_ERROR_NO_SUCH_DEVICE, "No PCI device %s",
                                       address);
        if (!policy_names_address(d->policy, address, NULL, NULL))
                return lease_error_set(err, -EINVAL, VA_ERROR_INVALID_ARGUMENT,
                                       "%s: no policy rule in force names the address, so no "
                                       "card is recorded there to replace",
                                       address);
        if (!dev->ids_known)
                return lease_error_set(err, -EIO, VA_ERROR_FAILED,
                                       "%s: the card's ids cannot be read, so it cannot be "
                                       "recorded",
                                       address);
        if (pd) {
                old = *pd;
                persistent_device_record(dev, pd);
        } else {
                k = add_record(d, dev);
                if (k <= 0)
                        return k < 0 ? k
                                     : lease_error_set(err, -E2BIG, VA_ERROR_FAILED,
                                                       "%s: too many recorded cards", address);
        }
        k = save(d);
        if (k < 0) {
                if (pd)
                        *pd = old;
                else
                        d->n_identities--;
                return lease_error_set(err, k, VA_ERROR_STATE_FAILED, "Cannot write %s: %s",
                                       IDENTITY_FILE, strerror(-k));
        }
        log_notice("%s: card %04x:%04x subsystem %04x:%04x accepted by %s%s", address, dev->vendor,
                   dev->device, dev->subsystem_vendor, dev->subsystem_device, who,
                   pd ? ", in place of the one recorded" : "");
        return 0;
}
