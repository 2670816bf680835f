/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lease.h"
#include "lease-vfnet.h"
#include "names.h"
#include "util.h"

static const char *const kind_table[_LEASE_KIND_MAX] = {
        [LEASE_CLAIM] = "claim",
        [LEASE_PREPARE] = "prepare",
};

static const char *const state_table[_LEASE_STATE_MAX] = {
        [LEASE_BINDING] = "binding",
        [LEASE_ACTIVE] = "active",
        [LEASE_RELEASING] = "releasing",
        [LEASE_STUCK] = "stuck",
};

const char *lease_kind_to_string(LeaseKind k) {
        return (size_t) k < _LEASE_KIND_MAX ? kind_table[k] : NULL;
}

LeaseKind lease_kind_from_string(const char *s) {
        for (size_t i = 0; s && i < _LEASE_KIND_MAX; i++)
                if (streq(kind_table[i], s))
                        return (LeaseKind) i;
        return _LEASE_KIND_MAX;
}

const char *lease_state_to_string(LeaseState s) {
        return (size_t) s < _LEASE_STATE_MAX ? state_table[s] : NULL;
}

LeaseState lease_state_from_string(const char *s) {
        for (size_t i = 0; s && i < _LEASE_STATE_MAX; i++)
                if (streq(state_table[i], s))
                        return (LeaseState) i;
        return _LEASE_STATE_MAX;
}

const char *lease_device_vfio_driver(const LeaseDevice *d) {
        return d->vfio_driver ? d->vfio_driver : DRIVER_VFIO_PCI;
}

Lease *lease_free(Lease *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_devices; i++) {
                free(l->devices[i].original_driver);
                free(l->devices[i].vfio_driver);
                free(l->devices[i].vf_net);
        }
        free(l->vf_net_request);
        free(l->devices);
        free(l->holder);
        free(l->owner);
        free(l->reason);
        vfio_backend_free(l->backend);
        safe_close(l->holder_pidfd);
        free(l->holders);
        free(l);
        return NULL;
}

bool lease_owner_is_valid(const char *owner) {
        size_t n = owner ? strlen(owner) : 0;

        if (n == 0 || n > LEASE_OWNER_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (owner[i] <= ' ' || owner[i] > '~')
                        return false;
        return true;
}

bool lease_has_device(const Lease *l, const char *address) {
        for (size_t i = 0; i < l->n_devices; i++)
                if (streq(l->devices[i].address, address))
                        return true;
        return false;
}

bool lease_holder_is(const Lease *l, const char *bus_id, uint32_t uid, uint32_t pid) {
        uint64_t start;

        if (!l->holder || !bus_id || !streq(l->holder_bus_id, bus_id) || l->uid != uid ||
            l->pid != pid)
                return false;
        /* The pidfd is that process until it exits, whatever the pid is given to later. */
        if (l->holder_pidfd >= 0)
                return pidfd_is_alive(l->holder_pidfd);
        return l->holder_start_time != 0 && pid_start_time((pid_t) pid, &start) >= 0 &&
               start == l->holder_start_time;
}

bool lease_group_busy(const LeaseContext *c, const Lease *l) {
        _cleanup_(vfio_backend_freep) VfioBackend *look = NULL;

        if (vfio_backend_is_open(l->backend))
                return false; /* we hold it ourselves */
        /* A handle of its own, opened only to look and closed again at once: the lease's stays as
         * it is. */
        if (vfio_backend_new(l->backend->ops, l->group, &look) < 0)
                return false;
        return look->ops->open(look, c->model->root, NULL) == -EBUSY;
}

int lease_new(const LeaseContext *c, LeaseKind kind, uint32_t group, uint64_t id, Lease **ret,
              LeaseError *err) {
        _cleanup_(lease_freep) Lease *l = NULL;
        size_t n_endpoints = 0;
        const Group *g;
        int k;

        g = topology_find_group(c->model->topology, group);
        if (!g)
                return lease_error_set(err, -ENOENT, VA_ERROR_NO_SUCH_GROUP,
                                       "IOMMU group %" PRIu32 " does not exist", group);
        if (strv_length(g->devices) == 0)
                return lease_error_set(err, -ENODEV, VA_ERROR_NO_SUCH_GROUP,
                                       "IOMMU group %" PRIu32 " has no PCI devices", group);

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->id = id;
        l->kind = kind;
        l->state = LEASE_BINDING;
        l->group = group;
        l->granted_uid = UINT32_MAX;
        l->close_wd = l->holder_pidfd = -1;
        k = vfio_backend_new(c->backend, group, &l->backend);
        if (k < 0)
                return k;
        l->devices = calloc(strv_length(g->devices), sizeof(LeaseDevice));
        if (!l->devices)
                return -ENOMEM;
        for (char **a = g->devices; *a; a++) {
                const Device *d = topology_find_device(c->model->topology, *a);
                LeaseDevice *ld = &l->devices[l->n_devices];

                /* Every caller has the policy's word that the group is assignable, but the
                 * transaction does not rely on it: it never moves part of a group it cannot see
                 * whole, and never a group with nothing to move. */
                if (!d || !d->ids_known)
                        return lease_error_set(err, -ENODEV, VA_ERROR_NOT_ASSIGNABLE,
                                               "%s, a member of IOMMU group %" PRIu32
                                               ", cannot be read",
                                               *a, group);
                strcpy(ld->address, d->address);
                ld->bridge = !device_is_endpoint(d);
                n_endpoints += !ld->bridge;
                /* The driver now, from sysfs: the model may not have seen the latest uevent. */
                k = binding_current_driver(c->model->root, d->address, &ld->original_driver);
                if (k < 0)
                        return lease_error_set(err, k, VA_ERROR_NO_SUCH_DEVICE,
                                               "Cannot read the driver of %s: %s", d->address,
                                               strerror(-k));
                l->n_devices++;
                if (!ld->bridge && c->pick_vfio_driver) {
                        k = c->pick_vfio_driver(c->pick_userdata, d, &ld->vfio_driver, err);
                        if (k < 0)
                                return k;
                }
        }
        if (n_endpoints == 0)
                return lease_error_set(err, -ENODEV, VA_ERROR_NOT_ASSIGNABLE,
                                       "IOMMU group %" PRIu32
                                       " has only bridges: nothing in it can be assigned",
                                       group);
        *ret = TAKE_PTR(l);
        return 0;
}

static int save(const LeaseContext *c) {
        return c->save ? c->save(c->save_userdata) : 0;
}

/* Puts members [0, n) back on their original drivers. Returns 0 or the first failure, with the
 * failures described in *reason. */
/* The first n devices that binding moves (bridges stay on their driver), with their original
 * drivers; *ret_devices maps them back to l->devices. */
static int bind_members(const Lease *l, size_t n, BindMember **ret,
                        const LeaseDevice ***ret_devices, size_t *ret_n) {
        _cleanup_free_ const LeaseDevice **devices = calloc(n + 1, sizeof(*devices));
        BindMember *m = calloc(n + 1, sizeof(*m));
        size_t k = 0;

        if (!m || !devices) {
                free(m);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                if (!l->devices[i].bridge) {
                        devices[k] = &l->devices[i];
                        m[k++] = (BindMember) { .address = l->devices[i].address,
                                                .driver = l->devices[i].original_driver,
                                                .vfio_driver = l->devices[i].vfio_driver,
                                                .probe = l->devices[i].restore_probe };
                }
        *ret = m;
        *ret_devices = TAKE_PTR(devices);
        *ret_n = k;
        return 0;
}

/* Every member is given back, whatever happens to the others: after a failure, the members
 * after it are moved again (one chain of writes for all of them, binding_restore_members()). */
static int restore_members(const LeaseContext *c, Lease *l, size_t n, char **reason) {
        _cleanup_free_ const LeaseDevice **devices = NULL;
        _cleanup_free_ BindMember *m = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n_m, i = 0;
        int r = 0, k;

        k = bind_members(l, n, &m, &devices, &n_m);
        if (k < 0)
                return k;
        while (i < n_m) {
                const LeaseDevice *d;
                BindFailure f = {};
                size_t failed = 0;

                k = binding_restore_members(c->model->root, m + i, n_m - i, c->timeout_usec,
                                            &failed, &f);
                if (k >= 0)
                        break;
                d = devices[i + failed];
                if (strextendf(&text, "; ",
                               "%s cannot be given back to %s: %s failed: %s (now on %s)",
                               d->address, d->original_driver ?: "no driver",
                               bind_step_to_string(f.step), strerror(-k),
                               f.driver ?: "no driver") < 0) {
                        bind_failure_clear(&f);
                        return -ENOMEM;
                }
                bind_failure_clear(&f);
                if (r == 0)
                        r = k;
                i += failed + 1;
        }
        if (reason)
                *reason = TAKE_PTR(text);
        return r;
}

/* Called when acquiring failed after some members moved: put everything back, or go STUCK. */
static int roll_back(const LeaseContext *c, Lease *l, size_t n_bound, LeaseError *err) {
        _cleanup_free_ char *reason = NULL, *vfnet = NULL;
        int k;

        vfio_backend_close(l->backend);
        l->state = LEASE_RELEASING;
        if (lease_vfnet_restore(c, l, &vfnet) < 0 && err)
                (void) strextendf(&err->message, "; ", "%s", vfnet);
        (void) save(c);
        k = restore_members(c, l, n_bound, &reason);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                l->state = LEASE_STUCK;
                free(l->reason);
                l->reason = TAKE_PTR(reason);
                (void) save(c);
                if (err)
                        (void) strextendf(&err->message, "; ",
                                          "rolling back failed, the group is stuck: %s", l->reason);
        }
        return 0;
}

/* Which members keep the group from being viable, for the error message. A member on vfio-pci,
 * pcieport (a bridge) or pci-stub (the one driver VFIO allows beside its own: the driver allow
 * list of drivers/vfio) does not. */
static char *not_viable_members(const LeaseContext *c, const Lease *l) {
        char *text = NULL;

        for (size_t i = 0; i < l->n_devices; i++) {
                _cleanup_free_ char *drv = NULL;

                if (binding_current_driver(c->model->root, l->devices[i].address, &drv) < 0 ||
                    !drv || streq(drv, lease_device_vfio_driver(&l->devices[i])) ||
                    streq(drv, DRIVER_PCIEPORT) || streq(drv, DRIVER_PCI_STUB))
                        continue;
                if (strextendf(&text, ", ", "%s is on %s", l->devices[i].address, drv) < 0)
                        return mfree(text);
        }
        return text;
}

/* The backend takes the group for the claim: opens it and attaches it. */
static int attach_group(const LeaseContext *c, Lease *l, LeaseError *err) {
        VfioBackend *b = l->backend;
        LeaseError e = {};
        int k;

        k = b->ops->open(b, c->model->root, &e);
        if (k >= 0)
                k = b->ops->attach(b, c->model->root, &e);
        if (k == -EPERM && e.code == VA_ERROR_IR_REQUIRED && b->ops == &vfio_iommufd_ops &&
            c->model->host && c->model->host->ir == IR_ENABLED)
                /* With interrupt remapping, the kernel's EPERM on an iommufd bind means another
                 * context owns a member's DMA. */
                k = lease_error_set(&e, -EBUSY, VA_ERROR_BUSY,
                                    "A member of IOMMU group %" PRIu32
                                    " is bound to another process's iommufd",
                                    l->group);
        if (k < 0 && e.code == VA_ERROR_GROUP_NOT_VIABLE) {
                _cleanup_free_ char *who = not_viable_members(c, l);

                lease_error_set(&e, k, VA_ERROR_GROUP_NOT_VIABLE,
                                "IOMMU group %" PRIu32 " is not viable: %s", l->group,
                                who ? who : "a member is on a driver that does not allow user DMA");
        }
        if (k < 0 && err) {
                lease_error_clear(err);
                *err = e;
        } else
                lease_error_clear(&e);
        return k;
}

int lease_acquire(const LeaseContext *c, Lease *l, LeaseError *err) {
        _cleanup_free_ const LeaseDevice **devices = NULL;
        _cleanup_free_ BindMember *m = NULL;
        size_t n_m, failed = 0;
        BindFailure f = {};
        int k;

        l->state = LEASE_BINDING;
        /* The original drivers are on disk before the first write to sysfs. */
        k = save(c);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_STATE_FAILED,
                                       "Cannot record the state before binding: %s", strerror(-k));

        k = bind_members(l, l->n_devices, &m, &devices, &n_m);
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_FAILED, "%s", strerror(-k));
        k = binding_bind_vfio_members(c->model->root, m, n_m, c->timeout_usec, &failed, &f);
        if (k < 0) {
                const LeaseDevice *d = devices[failed];

                /* A write the kernel did not finish in time: a driver's probe or remove that
                 * hangs. Named apart, for the caller may well try again. */
                lease_error_set(err, k, k == -ETIMEDOUT ? VA_ERROR_TIMEOUT : VA_ERROR_BIND_FAILED,
                                "Binding %s (was on %s) to %s failed at step \"%s\": %s%s%s",
                                d->address, d->original_driver ?: "no driver",
                                lease_device_vfio_driver(d), bind_step_to_string(f.step),
                                strerror(-k), f.driver ? "; it is now on " : "", f.driver ?: "");
                bind_failure_clear(&f);
                /* Every member: those after the failed one may have moved too. */
                (void) roll_back(c, l, l->n_devices, err);
                return k;
        }

        if (l->kind == LEASE_CLAIM) {
                k = attach_group(c, l, err);
                if (k < 0) {
                        (void) roll_back(c, l, l->n_devices, err);
                        return k;
                }
        }
        k = lease_vfnet_apply(c, l, err);
        if (k < 0) {
                (void) roll_back(c, l, l->n_devices, err);
                return k;
        }
        l->vf_net_request = mfree(l->vf_net_request);
        l->state = LEASE_ACTIVE;
        k = save(c);
        if (k < 0) {
                lease_error_set(err, k, VA_ERROR_STATE_FAILED, "Cannot record the lease: %s",
                                strerror(-k));
                (void) roll_back(c, l, l->n_devices, err);
                return k;
        }
        /* An owner's claim was attached to prove the group usable; its nodes are for whoever the
         * owner hands them to, and the kernel lets one open file own a group. */
        if (l->owner)
                vfio_backend_close(l->backend);
        return 0;
}

/* "/dev/vfio/7": the backend's device nodes, for messages. */
static char *nodes_text(const Lease *l) {
        _cleanup_strv_free_ char **nodes = NULL;
        char *text = NULL;

        if (l->backend->ops->nodes(l->backend, &nodes) < 0)
                return NULL;
        for (char **n = nodes; *n; n++)
                if (strextendf(&text, ", ", "/%s", *n) < 0)
                        return mfree(text);
        return text;
}

/* Hands the backend's device nodes to uid (0: back to root). On failure the nodes changed so
 * far go back to undo_uid. */
static int chown_nodes(const LeaseContext *c, const Lease *l, uid_t uid, uid_t undo_uid) {
        _cleanup_strv_free_ char **nodes = NULL;
        int k;

        k = l->backend->ops->nodes(l->backend, &nodes);
        if (k < 0)
                return k;
        for (size_t i = 0; nodes[i]; i++) {
                k = dev_chown(c->model->root, nodes[i], uid);
                if (k < 0) {
                        for (size_t j = 0; j <= i; j++)
                                (void) dev_chown(c->model->root, nodes[j], undo_uid);
                        return k;
                }
        }
        return 0;
}

static void reset_members(const LeaseContext *c, Lease *l) {
        for (size_t i = 0; i < l->n_devices; i++) {
                const LeaseDevice *d = &l->devices[i];
                char path[160];

                if (d->bridge)
                        continue;
                /* Through VFIO first: VFIO_DEVICE_RESET picks the device's best method (FLR, PM,
                 * bus). */
                if (l->backend->ops->reset_device(l->backend, c->model->root, d->address) >= 0)
                        continue;
                /* sysfs-bus-pci "reset": present only when some reset method exists. */
                snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/reset", d->address);
                if (sysfs_exists_at(c->model->root, -1, path))
                        (void) sysfs_write_attr(c->model->root, path, "1", c->timeout_usec);
        }
}

int lease_release(const LeaseContext *c, Lease *l, LeaseError *err) {
        _cleanup_free_ char *reason = NULL, *vfnet = NULL;
        VfioBackend *b = l->backend;
        int k;

        l->state = LEASE_RELEASING;
        l->waiting = false;
        (void) save(c); /* best effort: a crash now is reconciled as "releasing" */

        if (l->granted_uid != UINT32_MAX) {
                (void) chown_nodes(c, l, 0, 0);
                l->granted_uid = UINT32_MAX;
        }

        /* vfio-pci's unbind waits, inside the kernel and with the device lock held, until every
         * fd of the device is closed; the daemon would freeze with it. So first: is anyone else
         * still holding the group (a VMM that got or inherited our fds, or opened the node after
         * GrantAccess)? The kernel lets one open file own a group: once ours are closed, EBUSY
         * on a fresh open says so, and we wait without writing to sysfs. */
        vfio_backend_close(b);
        k = b->ops->open(b, c->model->root, NULL);
        if (k == -EBUSY) {
                _cleanup_free_ char *nodes = nodes_text(l);

                l->state = LEASE_STUCK;
                l->waiting = true;
                free(l->reason);
                l->reason = NULL;
                if (asprintf(
                            &l->reason,
                            "%s is still open in another process (a VMM still running?); waiting for "
                            "it to close before giving the devices back",
                            strna(nodes)) < 0)
                        l->reason = NULL;
                (void) save(c);
                return lease_error_set(err, -EBUSY, VA_ERROR_STUCK,
                                       "IOMMU group %" PRIu32 " is stuck: %s", l->group,
                                       strna(l->reason));
        }
        /* With the group ours again, VFIO can reset each device; without it (prepared and never
         * opened, or no node), the sysfs reset attribute does. */
        if (k >= 0)
                (void) b->ops->attach(b, c->model->root, NULL);
        /* Not an error of the release: the VF is given back whatever its settings; the caller
         * hears of it through err's message. */
        if (lease_vfnet_restore(c, l, &vfnet) < 0 && err) {
                free(err->message);
                err->message = TAKE_PTR(vfnet);
        }
        reset_members(c, l);
        vfio_backend_close(b);

        k = restore_members(c, l, l->n_devices, &reason);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                l->state = LEASE_STUCK;
                free(l->reason);
                l->reason = TAKE_PTR(reason);
                (void) save(c);
                return lease_error_set(err, -EBUSY, VA_ERROR_STUCK,
                                       "IOMMU group %" PRIu32 " is stuck: %s", l->group, l->reason);
        }
        l->reason = mfree(l->reason);
        return 0;
}

int lease_can_hand_out_fds(const Lease *l, LeaseError *err) {
        if (l->kind == LEASE_PREPARE) {
                _cleanup_free_ char *nodes = nodes_text(l);

                return lease_error_set(
                        err, -EOPNOTSUPP, VA_ERROR_NOT_CLAIMED,
                        "Lease %" PRIu64 " prepares IOMMU group %" PRIu32 " for a VMM that "
                        "opens %s itself: a prepare hands out no file descriptors; claim the "
                        "group for them",
                        l->id, l->group, strna(nodes));
        }
        if (l->state != LEASE_ACTIVE)
                return lease_error_set(err, -ESTALE, VA_ERROR_NOT_ACTIVE,
                                       "The claim of IOMMU group %" PRIu32 " is %s", l->group,
                                       lease_state_to_string(l->state));
        if (l->owner) {
                _cleanup_free_ char *nodes = nodes_text(l);

                return lease_error_set(err, -EOPNOTSUPP, VA_ERROR_NOT_ACTIVE,
                                       "The claim of IOMMU group %" PRIu32 " is owned by \"%s\": "
                                       "it hands out no file descriptors, %s is for its owner to "
                                       "open (a container runtime through CDI, libvirt)",
                                       l->group, l->owner, strna(nodes));
        }
        if (!vfio_backend_is_open(l->backend)) {
                _cleanup_free_ char *nodes = l->granted_uid != UINT32_MAX ? nodes_text(l) : NULL;

                if (l->granted_uid != UINT32_MAX)
                        return lease_error_set(err, -ESTALE, VA_ERROR_NOT_ACTIVE,
                                               "The claim of IOMMU group %" PRIu32
                                               " has no file descriptors "
                                               "any more: %s was handed over with GrantAccess",
                                               l->group, strna(nodes));
                return lease_error_set(
                        err, -ESTALE, VA_ERROR_NOT_ACTIVE,
                        "The claim of IOMMU group %" PRIu32 " has no file descriptors any more: "
                        "they did not survive a restart of the daemon (systemd's fd store keeps "
                        "them when systemd runs it)",
                        l->group);
        }
        return 0;
}

int lease_hand_out_fd(Lease *l, VfioFdKind kind, int *ret_fd, LeaseError *err) {
        int k;

        k = lease_can_hand_out_fds(l, err);
        if (k < 0)
                return k;
        k = l->backend->ops->hand_out(l->backend, kind, ret_fd);
        if (k == -EOPNOTSUPP)
                return lease_error_set(err, k, VA_ERROR_INVALID_ARGUMENT,
                                       "Lease %" PRIu64
                                       " uses the %s backend, which has no %s to hand out",
                                       l->id, vfio_backend_name(l->backend),
                                       strna(vfio_fd_kind_to_string(kind)));
        if (k < 0)
                return lease_error_set(err, k, VA_ERROR_NOT_ACTIVE,
                                       "The claim of IOMMU group %" PRIu32 " has no %s any more",
                                       l->group, strna(vfio_fd_kind_to_string(kind)));
        return 0;
}

int lease_open_device(const LeaseContext *c, Lease *l, const char *address, int *ret_fd,
                      LeaseError *err) {
        int k;

        if (!lease_has_device(l, address))
                return lease_error_set(err, -ENODEV, VA_ERROR_NO_SUCH_DEVICE,
                                       "%s is not in IOMMU group %" PRIu32 " of this lease",
                                       address, l->group);
        k = lease_can_hand_out_fds(l, err);
        if (k < 0)
                return k;
        return l->backend->ops->open_device(l->backend, c->model->root, address, ret_fd, err);
}

int lease_open_cdev(const LeaseContext *c, Lease *l, const char *address, int *ret_fd,
                    LeaseError *err) {
        if (l->backend->ops != &vfio_iommufd_ops)
                return lease_error_set(err, -EOPNOTSUPP, VA_ERROR_INVALID_ARGUMENT,
                                       "Lease %" PRIu64 " uses the %s backend, which has no VFIO "
                                       "device cdevs to hand out (claim with backend iommufd)",
                                       l->id, vfio_backend_name(l->backend));
        return lease_open_device(c, l, address, ret_fd, err);
}

int lease_update_holders(const LeaseContext *c, Lease *l) {
        _cleanup_strv_free_ char **nodes = NULL;
        _cleanup_free_ Holder *found = NULL;
        size_t n = 0;
        int k;

        if (l->state == LEASE_STUCK && l->waiting) {
                k = l->backend->ops->nodes(l->backend, &nodes);
                for (size_t i = 0; k >= 0 && nodes[i]; i++) {
                        char *abs;

                        k = dev_abs_path(c->model->root, nodes[i], &abs);
                        if (k >= 0) {
                                free(nodes[i]);
                                nodes[i] = abs;
                        }
                }
                if (k >= 0)
                        k = holders_scan(nodes, &found, &n);
                if (k < 0)
                        return k;
        }
        if (holders_equal(l->holders, l->n_holders, found, n))
                return 0;
        free(l->holders);
        l->holders = TAKE_PTR(found);
        l->n_holders = n;
        return 1;
}

int lease_watch_close(const LeaseContext *c, Lease *l, int inotify_fd) {
        _cleanup_strv_free_ char **nodes = NULL;
        int k, wd = -1;

        k = l->backend->ops->nodes(l->backend, &nodes);
        if (k < 0)
                return k;
        /* Any of them closing is worth a look (the stuck check is cheap); one wd says "watched". */
        for (char **n = nodes; *n; n++) {
                k = dev_add_watch(c->model->root, inotify_fd, *n,
                                  IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
                if (k < 0)
                        return k;
                if (wd < 0)
                        wd = k;
        }
        if (wd < 0)
                return -ENOENT;
        l->close_wd = wd;
        return 0;
}

int lease_grant_access(const LeaseContext *c, Lease *l, uint32_t uid, LeaseError *err) {
        uint32_t before = l->granted_uid;
        int k;

        if (l->kind != LEASE_CLAIM || l->state != LEASE_ACTIVE)
                return lease_error_set(err, -ESTALE, VA_ERROR_NOT_ACTIVE,
                                       "The lease on IOMMU group %" PRIu32
                                       " is not an active claim",
                                       l->group);
        /* The grant is recorded before the node changes hands, so a crash cannot leave an
         * unrecorded grant behind. */
        l->granted_uid = uid;
        k = save(c);
        if (k < 0) {
                l->granted_uid = before;
                return lease_error_set(err, k, VA_ERROR_STATE_FAILED, "Cannot record the grant: %s",
                                       strerror(-k));
        }
        /* Refused: the nodes stay (or go back to) whose they were, and so does the record. */
        k = chown_nodes(c, l, uid == UINT32_MAX ? 0 : uid, before == UINT32_MAX ? 0 : before);
        if (k < 0) {
                _cleanup_free_ char *nodes = nodes_text(l);

                l->granted_uid = before;
                (void) save(c);
                return lease_error_set(err, k, VA_ERROR_FAILED,
                                       "Cannot hand %s to uid %" PRIu32 ": %s", strna(nodes), uid,
                                       strerror(-k));
        }
        /* The kernel lets one open file own a group: the VMM that opens the node itself needs
         * ours closed. The lease then hands out no fds of its own. */
        vfio_backend_close(l->backend);
        return 0;
}
