/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lease.h"
#include "names.h"
#include "util.h"
#include "vfio.h"

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

Lease *lease_free(Lease *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_devices; i++)
                free(l->devices[i].original_driver);
        free(l->devices);
        free(l->holder);
        free(l->reason);
        safe_close(l->group_fd);
        safe_close(l->container_fd);
        safe_close(l->holder_pidfd);
        free(l);
        return NULL;
}

void lease_error_clear(LeaseError *e) {
        free(e->message);
        *e = (LeaseError) {};
}

static int set_error(LeaseError *e, int error, VaError code, const char *fmt, ...) _printf_(4, 5);
static int set_error(LeaseError *e, int error, VaError code, const char *fmt, ...) {
        va_list ap;

        if (e) {
                lease_error_clear(e);
                e->error = error;
                e->code = code;
                va_start(ap, fmt);
                if (vasprintf(&e->message, fmt, ap) < 0)
                        e->message = NULL;
                va_end(ap);
        }
        return error;
}

bool lease_has_device(const Lease *l, const char *address) {
        for (size_t i = 0; i < l->n_devices; i++)
                if (streq(l->devices[i].address, address))
                        return true;
        return false;
}

bool lease_holder_is(const Lease *l, const char *bus_id, uint32_t uid, uint32_t pid) {
        uint64_t start;

        if (!l->holder || !bus_id || !streq(l->holder_bus_id, bus_id) || l->uid != uid || l->pid != pid)
                return false;
        /* The pidfd is that process until it exits, whatever the pid is given to later. */
        if (l->holder_pidfd >= 0)
                return pidfd_is_alive(l->holder_pidfd);
        return l->holder_start_time != 0 && pid_start_time((pid_t) pid, &start) >= 0 &&
               start == l->holder_start_time;
}

bool lease_group_busy(const LeaseContext *c, const Lease *l) {
        int fd = -1;

        if (l->group_fd >= 0)
                return false; /* we hold it ourselves */
        if (vfio_group_open(c->model->root, l->group, &fd) == -EBUSY)
                return true;
        if (fd >= 0)
                safe_close(fd);
        return false;
}

int lease_new(const LeaseContext *c, LeaseKind kind, uint32_t group, uint64_t id, Lease **ret, LeaseError *err) {
        _cleanup_(lease_freep) Lease *l = NULL;
        size_t n_endpoints = 0;
        const Group *g;
        int k;

        g = topology_find_group(c->model->topology, group);
        if (!g)
                return set_error(err, -ENOENT, VA_ERROR_NO_SUCH_GROUP,
                                 "IOMMU group %" PRIu32 " does not exist", group);
        if (strv_length(g->devices) == 0)
                return set_error(err, -ENODEV, VA_ERROR_NO_SUCH_GROUP,
                                 "IOMMU group %" PRIu32 " has no PCI devices", group);

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->id = id;
        l->kind = kind;
        l->state = LEASE_BINDING;
        l->group = group;
        l->granted_uid = UINT32_MAX;
        l->container_fd = l->group_fd = l->close_wd = l->holder_pidfd = -1;
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
                        return set_error(err, -ENODEV, VA_ERROR_NOT_ASSIGNABLE,
                                         "%s, a member of IOMMU group %" PRIu32 ", cannot be read", *a, group);
                strcpy(ld->address, d->address);
                ld->bridge = !device_is_endpoint(d);
                n_endpoints += !ld->bridge;
                /* The driver now, from sysfs: the model may not have seen the latest uevent. */
                k = binding_current_driver(c->model->root, d->address, &ld->original_driver);
                if (k < 0)
                        return set_error(err, k, VA_ERROR_NO_SUCH_DEVICE,
                                         "Cannot read the driver of %s: %s", d->address, strerror(-k));
                l->n_devices++;
        }
        if (n_endpoints == 0)
                return set_error(err, -ENODEV, VA_ERROR_NOT_ASSIGNABLE,
                                 "IOMMU group %" PRIu32 " has only bridges: nothing in it can be assigned", group);
        *ret = TAKE_PTR(l);
        return 0;
}

static int save(const LeaseContext *c) {
        return c->save ? c->save(c->save_userdata) : 0;
}

/* Puts members [0, n) back on their original drivers. Returns 0 or the first failure, with the
 * failures described in *reason. */
static int restore_members(const LeaseContext *c, Lease *l, size_t n, char **reason) {
        _cleanup_free_ char *text = NULL;
        int r = 0;

        for (size_t i = 0; i < n; i++) {
                const LeaseDevice *d = &l->devices[i];
                BindFailure f = {};
                int k;

                if (d->bridge)
                        continue;
                k = binding_restore(c->model->root, d->address, d->original_driver, c->timeout_usec, &f);
                if (k < 0) {
                        if (strextendf(&text, "; ", "%s cannot be given back to %s: %s failed: %s (now on %s)",
                                       d->address, d->original_driver ?: "no driver", bind_step_to_string(f.step),
                                       strerror(-k), f.driver ?: "no driver") < 0) {
                                bind_failure_clear(&f);
                                return -ENOMEM;
                        }
                        if (r == 0)
                                r = k;
                }
                bind_failure_clear(&f);
        }
        if (reason)
                *reason = TAKE_PTR(text);
        return r;
}

/* Called when acquiring failed after some members moved: put everything back, or go STUCK. */
static int roll_back(const LeaseContext *c, Lease *l, size_t n_bound, LeaseError *err) {
        _cleanup_free_ char *reason = NULL;
        int k;

        safe_close(l->group_fd);
        safe_close(l->container_fd);
        l->group_fd = l->container_fd = -1;
        l->state = LEASE_RELEASING;
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
                        (void) strextendf(&err->message, "; ", "rolling back failed, the group is stuck: %s",
                                          l->reason);
        }
        return 0;
}

/* Which members keep the group from being viable, for the error message. */
static char *not_viable_members(const LeaseContext *c, const Lease *l) {
        char *text = NULL;

        for (size_t i = 0; i < l->n_devices; i++) {
                _cleanup_free_ char *drv = NULL;

                if (binding_current_driver(c->model->root, l->devices[i].address, &drv) < 0 || !drv ||
                    streq(drv, DRIVER_VFIO_PCI) || streq(drv, DRIVER_PCIEPORT) || streq(drv, "pci-stub"))
                        continue;
                if (strextendf(&text, ", ", "%s is on %s", l->devices[i].address, drv) < 0)
                        return mfree(text);
        }
        return text;
}

static int open_container(const LeaseContext *c, Lease *l, LeaseError *err) {
        bool viable = false;
        int k;

        k = vfio_group_open(c->model->root, l->group, &l->group_fd);
        if (k < 0)
                return set_error(err, k, k == -EBUSY ? VA_ERROR_BUSY : VA_ERROR_VFIO_FAILED,
                                 "Cannot open /dev/vfio/%" PRIu32 ": %s%s", l->group, strerror(-k),
                                 k == -EBUSY ? " (another VFIO user holds the group)" : "");
        k = vfio_group_is_viable(l->group_fd, &viable);
        if (k < 0)
                return set_error(err, k, VA_ERROR_VFIO_FAILED,
                                 "VFIO_GROUP_GET_STATUS on group %" PRIu32 " failed: %s",
                                 l->group, strerror(-k));
        if (!viable) {
                _cleanup_free_ char *who = not_viable_members(c, l);

                return set_error(err, -EPERM, VA_ERROR_GROUP_NOT_VIABLE,
                                 "IOMMU group %" PRIu32 " is not viable: %s", l->group,
                                 who ? who : "a member is on a driver that does not allow user DMA");
        }
        k = vfio_container_open(c->model->root, &l->container_fd);
        if (k < 0)
                return set_error(err, k, VA_ERROR_VFIO_FAILED,
                                 "Cannot open the VFIO container /dev/vfio/vfio: %s", strerror(-k));
        k = vfio_group_attach(l->group_fd, l->container_fd, true);
        if (k == -EPERM)
                /* The type1 backend refuses VFIO_SET_IOMMU without interrupt remapping unless
                 * vfio_iommu_type1.allow_unsafe_interrupts is set (vfio_iommu_type1_attach_group). */
                return set_error(err, k, VA_ERROR_IR_REQUIRED,
                                 "The kernel refused IOMMU group %" PRIu32 " a type1 IOMMU domain (EPERM): "
                                 "interrupt remapping is not available and vfio_iommu_type1."
                                 "allow_unsafe_interrupts is off", l->group);
        if (k < 0)
                return set_error(err, k, VA_ERROR_VFIO_FAILED,
                                 "Attaching IOMMU group %" PRIu32 " to a container failed: %s",
                                 l->group, strerror(-k));
        return 0;
}

int lease_acquire(const LeaseContext *c, Lease *l, LeaseError *err) {
        size_t i;
        int k;

        l->state = LEASE_BINDING;
        /* The original drivers are on disk before the first write to sysfs. */
        k = save(c);
        if (k < 0)
                return set_error(err, k, VA_ERROR_STATE_FAILED,
                                 "Cannot record the state before binding: %s", strerror(-k));

        for (i = 0; i < l->n_devices; i++) {
                const LeaseDevice *d = &l->devices[i];
                BindFailure f = {};

                if (d->bridge)
                        continue;
                k = binding_bind_vfio(c->model->root, d->address, c->timeout_usec, &f);
                if (k < 0) {
                        /* A write the kernel did not finish in time: a driver's probe or remove
                         * that hangs. Named apart, for the caller may well try again. */
                        set_error(err, k, k == -ETIMEDOUT ? VA_ERROR_TIMEOUT : VA_ERROR_BIND_FAILED,
                                  "Binding %s (was on %s) to vfio-pci failed at step \"%s\": %s%s%s",
                                  d->address, d->original_driver ?: "no driver", bind_step_to_string(f.step),
                                  strerror(-k), f.driver ? "; it is now on " : "", f.driver ?: "");
                        bind_failure_clear(&f);
                        (void) roll_back(c, l, i + 1, err);
                        return k;
                }
        }

        if (l->kind == LEASE_CLAIM) {
                k = open_container(c, l, err);
                if (k < 0) {
                        (void) roll_back(c, l, l->n_devices, err);
                        return k;
                }
        }
        l->state = LEASE_ACTIVE;
        k = save(c);
        if (k < 0) {
                set_error(err, k, VA_ERROR_STATE_FAILED, "Cannot record the lease: %s", strerror(-k));
                (void) roll_back(c, l, l->n_devices, err);
                return k;
        }
        return 0;
}

static void reset_members(const LeaseContext *c, Lease *l) {
        for (size_t i = 0; i < l->n_devices; i++) {
                const LeaseDevice *d = &l->devices[i];
                char path[160];

                if (d->bridge)
                        continue;
                if (l->group_fd >= 0 && l->container_fd >= 0) {
                        _cleanup_close_ int fd = -1;
                        bool can = false;

                        /* VFIO_DEVICE_RESET picks the device's best method (FLR, PM, bus). */
                        if (vfio_group_device_fd(l->group_fd, d->address, &fd) >= 0 &&
                            vfio_device_can_reset(fd, &can) >= 0 && can && vfio_device_reset(fd) >= 0)
                                continue;
                }
                /* sysfs-bus-pci "reset": present only when some reset method exists. */
                snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/reset", d->address);
                if (sysfs_exists_at(c->model->root, -1, path))
                        (void) sysfs_write_attr(c->model->root, path, "1", c->timeout_usec);
        }
}

int lease_release(const LeaseContext *c, Lease *l, LeaseError *err) {
        _cleanup_free_ char *reason = NULL;
        int k;

        l->state = LEASE_RELEASING;
        l->waiting = false;
        (void) save(c); /* best effort: a crash now is reconciled as "releasing" */

        if (l->granted_uid != UINT32_MAX) {
                char path[64];

                snprintf(path, sizeof(path), "dev/vfio/%" PRIu32, l->group);
                (void) dev_chown(c->model->root, path, 0);
                l->granted_uid = UINT32_MAX;
        }

        /* vfio-pci's unbind waits, inside the kernel and with the device lock held, until every
         * fd of the device is closed; the daemon would freeze with it. So first: is anyone else
         * still holding the group (a VMM that got or inherited our fds, or opened the node after
         * GrantAccess)? The kernel lets one open file own a group: once ours are closed, EBUSY
         * on a fresh open says so, and we wait without writing to sysfs. */
        l->group_fd = safe_close(l->group_fd);
        l->container_fd = safe_close(l->container_fd);
        k = vfio_group_open(c->model->root, l->group, &l->group_fd);
        if (k == -EBUSY) {
                l->state = LEASE_STUCK;
                l->waiting = true;
                free(l->reason);
                l->reason = NULL;
                if (asprintf(&l->reason, "/dev/vfio/%" PRIu32 " is still open in another process (a VMM still "
                             "running?); waiting for it to close before giving the devices back", l->group) < 0)
                        l->reason = NULL;
                (void) save(c);
                return set_error(err, -EBUSY, VA_ERROR_STUCK,
                                 "IOMMU group %" PRIu32 " is stuck: %s", l->group, strna(l->reason));
        }
        /* With the group ours again, VFIO can reset each device; without it (prepared and never
         * opened, or no node), the sysfs reset attribute does. */
        if (l->group_fd >= 0 && (vfio_container_open(c->model->root, &l->container_fd) < 0 ||
                                 vfio_group_attach(l->group_fd, l->container_fd, true) < 0))
                l->container_fd = safe_close(l->container_fd);
        reset_members(c, l);
        l->group_fd = safe_close(l->group_fd);
        l->container_fd = safe_close(l->container_fd);

        k = restore_members(c, l, l->n_devices, &reason);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                l->state = LEASE_STUCK;
                free(l->reason);
                l->reason = TAKE_PTR(reason);
                (void) save(c);
                return set_error(err, -EBUSY, VA_ERROR_STUCK,
                                 "IOMMU group %" PRIu32 " is stuck: %s", l->group, l->reason);
        }
        l->reason = mfree(l->reason);
        return 0;
}

int lease_can_hand_out_fds(const Lease *l, LeaseError *err) {
        if (l->kind == LEASE_PREPARE)
                return set_error(err, -EOPNOTSUPP, VA_ERROR_NOT_CLAIMED,
                                 "Lease %" PRIu64 " prepares IOMMU group %" PRIu32 " for a VMM that opens /dev/vfio/%"
                                 PRIu32 " itself: a prepare hands out no file descriptors; claim the group for them",
                                 l->id, l->group, l->group);
        if (l->state != LEASE_ACTIVE)
                return set_error(err, -ESTALE, VA_ERROR_NOT_ACTIVE,
                                 "The claim of IOMMU group %" PRIu32 " is %s", l->group,
                                 lease_state_to_string(l->state));
        if (l->group_fd < 0)
                return set_error(err, -ESTALE, VA_ERROR_NOT_ACTIVE,
                                 "The claim of IOMMU group %" PRIu32 " has no file descriptors any more: %s", l->group,
                                 l->granted_uid != UINT32_MAX ? "/dev/vfio/N was handed over with GrantAccess"
                                                              : "they did not survive a restart of the daemon "
                                                                "(systemd's fd store keeps them when systemd "
                                                                "runs it)");
        return 0;
}

int lease_open_device(const LeaseContext *c, Lease *l, const char *address, int *ret_fd, LeaseError *err) {
        int k;

        if (!lease_has_device(l, address))
                return set_error(err, -ENODEV, VA_ERROR_NO_SUCH_DEVICE,
                                 "%s is not in IOMMU group %" PRIu32 " of this lease", address, l->group);
        k = lease_can_hand_out_fds(l, err);
        if (k < 0)
                return k;
        k = vfio_group_device_fd(l->group_fd, address, ret_fd);
        if (k < 0)
                return set_error(err, k, VA_ERROR_VFIO_FAILED,
                                 "VFIO_GROUP_GET_DEVICE_FD for %s failed: %s", address, strerror(-k));
        return 0;
}

int lease_watch_close(const LeaseContext *c, Lease *l, int inotify_fd) {
        char path[64];
        int wd;

        snprintf(path, sizeof(path), "dev/vfio/%" PRIu32, l->group);
        wd = dev_add_watch(c->model->root, inotify_fd, path, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
        if (wd < 0)
                return wd;
        l->close_wd = wd;
        return 0;
}

int lease_grant_access(const LeaseContext *c, Lease *l, uint32_t uid, LeaseError *err) {
        uint32_t before = l->granted_uid;
        char path[64];
        int k;

        if (l->kind != LEASE_CLAIM || l->state != LEASE_ACTIVE)
                return set_error(err, -ESTALE, VA_ERROR_NOT_ACTIVE,
                                 "The lease on IOMMU group %" PRIu32 " is not an active claim", l->group);
        snprintf(path, sizeof(path), "dev/vfio/%" PRIu32, l->group);
        /* The grant is recorded before the node changes hands, so a crash cannot leave an
         * unrecorded grant behind. */
        l->granted_uid = uid;
        k = save(c);
        if (k < 0) {
                l->granted_uid = before;
                return set_error(err, k, VA_ERROR_STATE_FAILED, "Cannot record the grant: %s", strerror(-k));
        }
        k = dev_chown(c->model->root, path, uid == UINT32_MAX ? 0 : uid);
        if (k < 0) {
                /* Refused: the node stays (or goes back to) whose it was, and so does the record. */
                (void) dev_chown(c->model->root, path, before == UINT32_MAX ? 0 : before);
                l->granted_uid = before;
                (void) save(c);
                return set_error(err, k, VA_ERROR_FAILED,
                                 "Cannot hand /dev/vfio/%" PRIu32 " to uid %" PRIu32 ": %s",
                                 l->group, uid, strerror(-k));
        }
        /* The kernel lets one open file own a group: the VMM that opens the node itself needs
         * ours closed. The lease then hands out no fds of its own. */
        l->group_fd = safe_close(l->group_fd);
        l->container_fd = safe_close(l->container_fd);
        return 0;
}
