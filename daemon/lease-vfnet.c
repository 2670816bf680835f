/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A claim's network settings for its VF (issue 14): set on the PF's netdev once the group is on
 * vfio-pci, what they were saved in the lease on disk first, and put back when the lease ends,
 * also by the next start after a crash (the release of a lease read back). libvirt does the same
 * for an <interface type='hostdev'>. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease-vfnet.h"
#include "util.h"

static const char *const step_names[] = { "MAC address", "VLAN", "spoof check", "trust" };

/* Which setting of c failed, for the message: the kernel stops at the first one that fails, in
 * this order (do_setvfinfo()), and does not say which; the first one set is the best guess. */
static const char *first_set(const VfNetConfig *c) {
        return c->set_mac         ? step_names[0]
               : c->set_vlan      ? step_names[1]
               : c->spoofchk >= 0 ? step_names[2]
                                  : step_names[3];
}

static LeaseDevice *the_vf(const LeaseContext *c, Lease *l) {
        for (size_t i = 0; i < l->n_devices; i++) {
                const Device *d = topology_find_device(c->model->topology, l->devices[i].address);

                if (d && d->physfn)
                        return &l->devices[i];
        }
        return NULL;
}

int lease_vfnet_apply(const LeaseContext *c, Lease *l, LeaseError *err) {
        const VfNetConfig *want = l->vf_net_request;
        _cleanup_free_ LeaseVfNet *saved = NULL;
        LeaseDevice *d;
        VfNetTarget t;
        int k;

        if (!want)
                return 0;
        d = the_vf(c, l);
        if (!d)
                return lease_error_set(err, -EINVAL, VA_ERROR_INVALID_ARGUMENT,
                                       "IOMMU group %" PRIu32 " has no VF whose network settings "
                                       "could be set",
                                       l->group);
        k = vfnet_find(c->model->root, d->address, &t);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_FAILED, "VF %s: %s", d->address,
                                       k == -ENOENT ? "its PF has no network interface (is its "
                                                      "NIC driver bound?)"
                                                    : strerror(-k));
        saved = calloc(1, sizeof(*saved));
        if (!saved)
                return -ENOMEM;
        k = vfnet_get(&t, &saved->saved);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_FAILED,
                                       "VF %s (vf %" PRIu32 " of %s): reading its settings "
                                       "failed: %s",
                                       d->address, t.vf, t.pf_ifname, strerror(-k));
        strcpy(saved->pf_ifname, t.pf_ifname);
        saved->vf = t.vf;
        /* On disk before the change: a crash from here on restores what was there. */
        d->vf_net = TAKE_PTR(saved);
        k = c->save(c->save_userdata);
        if (k < 0) {
                d->vf_net = mfree(d->vf_net);
                return lease_error_set(err, k, VA_ERROR_STATE_FAILED,
                                       "Cannot record VF %s's settings: %s", d->address,
                                       strerror(-k));
        }
        k = vfnet_set(&t, want);
        if (k < 0) {
                lease_error_set(err, k, k == -EINVAL ? VA_ERROR_INVALID_ARGUMENT : VA_ERROR_FAILED,
                                "VF %s (vf %" PRIu32 " of %s): setting its %s failed: %s",
                                d->address, t.vf, t.pf_ifname, first_set(want), strerror(-k));
                (void) vfnet_set(&t, &d->vf_net->saved);
                d->vf_net = mfree(d->vf_net);
                (void) c->save(c->save_userdata);
                return k;
        }
        return 0;
}

/* Everything that was saved is set again, spoof check and trust only when the driver reported
 * them. */
static VfNetConfig restore_config(const VfNetConfig *saved) {
        VfNetConfig r = *saved;

        r.set_mac = true;
        r.set_vlan = true;
        return r;
}

int lease_vfnet_restore(const LeaseContext *c, Lease *l, char **ret_message) {
        int first = 0;

        for (size_t i = 0; i < l->n_devices; i++) {
                LeaseDevice *d = &l->devices[i];
                VfNetTarget t;
                VfNetConfig r;
                int k;

                if (!d->vf_net)
                        continue;
                r = restore_config(&d->vf_net->saved);
                k = vfnet_find(c->model->root, d->address, &t);
                if (k >= 0 && (!streq(t.pf_ifname, d->vf_net->pf_ifname) || t.vf != d->vf_net->vf))
                        k = -ENODEV; /* renamed or renumbered: not the netdev we changed */
                if (k >= 0)
                        k = vfnet_set(&t, &r);
                if (k < 0 && first == 0) {
                        first = k;
                        free(*ret_message);
                        if (asprintf(ret_message,
                                     "VF %s: its network settings could not be put back on vf "
                                     "%" PRIu32 " of %s: %s",
                                     d->address, d->vf_net->vf, d->vf_net->pf_ifname,
                                     strerror(-k)) < 0)
                                *ret_message = NULL;
                }
                /* Forgotten either way: a PF whose netdev is gone has nothing to put back. */
                d->vf_net = mfree(d->vf_net);
        }
        return first;
}
