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

/* What c sets, for the message: the kernel stops at the first setting that fails
 * (do_setvfinfo()) without saying which. */
static void settings_text(const VfNetConfig *c, char ret[static 64]) {
        snprintf(ret, 64, "%s%s%s%s", c->set_mac ? ", MAC address" : "",
                 c->set_vlan ? ", VLAN" : "", c->spoofchk >= 0 ? ", spoof check" : "",
                 c->trust >= 0 ? ", trust" : "");
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
                char what[64];

                settings_text(want, what);
                lease_error_set(err, k, k == -EINVAL ? VA_ERROR_INVALID_ARGUMENT : VA_ERROR_FAILED,
                                "VF %s (vf %" PRIu32 " of %s): the PF's driver refused its "
                                "settings (%s): %s",
                                d->address, t.vf, t.pf_ifname, what + 2, strerror(-k));
                (void) vfnet_set(&t, &d->vf_net->saved);
                d->vf_net = mfree(d->vf_net);
                (void) c->save(c->save_userdata);
                return k;
        }
        return 0;
}

int lease_vfnet_restore(const LeaseContext *c, Lease *l, char **ret_message) {
        int first = 0;

        for (size_t i = 0; i < l->n_devices; i++) {
                LeaseDevice *d = &l->devices[i];
                VfNetTarget t;
                int k;

                if (!d->vf_net)
                        continue;
                k = vfnet_find(c->model->root, d->address, &t);
                if (k >= 0 && (!streq(t.pf_ifname, d->vf_net->pf_ifname) || t.vf != d->vf_net->vf))
                        k = -ENODEV; /* renamed or renumbered: not the netdev we changed */
                /* What vfnet_get() saved sets all it read again (spoof check and trust when
                 * the driver reported them). */
                if (k >= 0)
                        k = vfnet_set(&t, &d->vf_net->saved);
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
