/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "bdf.h"
#include "names.h"
#include "util.h"

static const char *const bind_step_table[_BIND_STEP_MAX] = {
        [BIND_STEP_READ] = "read the driver link",
        [BIND_STEP_OVERRIDE] = "write driver_override",
        [BIND_STEP_UNBIND] = "unbind",
        [BIND_STEP_PROBE] = "drivers_probe",
        [BIND_STEP_BIND] = "bind",
        [BIND_STEP_VERIFY] = "verify the driver link",
};

const char *bind_step_to_string(BindStep s) {
        return (size_t) s < _BIND_STEP_MAX ? bind_step_table[s] : NULL;
}

void bind_failure_clear(BindFailure *f) {
        free(f->driver);
        *f = (BindFailure) {};
}

int binding_current_driver(const SysRoot *r, const char *address, char **ret) {
        char path[128];
        int k;

        if (!pci_address_is_canonical(address))
                return -EINVAL;
        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/driver", address);
        k = sysfs_read_link_name_at(r, -1, path, ret);
        if (k == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        return k;
}

static int fail(const SysRoot *r, const char *address, BindStep step, int error, BindFailure *f) {
        if (f) {
                bind_failure_clear(f);
                f->step = step;
                f->error = error;
                (void) binding_current_driver(r, address, &f->driver);
        }
        return error;
}

static bool driver_is(const char *driver, const char *want) {
        if (!driver || !want)
                return driver == want;
        return streq(driver, want);
}

/* The kernel binds synchronously inside the write to drivers_probe or bind, so the link is there
 * when the write returns; a short grace period covers asynchronous probing (PROBE_PREFER_ASYNCHRONOUS
 * drivers) without sleeping when it is not needed. */
static int verify_driver(const SysRoot *r, const char *address, const char *want,
                         uint64_t timeout_usec) {
        uint64_t waited = 0;

        for (;;) {
                _cleanup_free_ char *now = NULL;
                int k = binding_current_driver(r, address, &now);

                if (k < 0)
                        return k;
                if (driver_is(now, want))
                        return 0;
                if (waited >= MIN(timeout_usec, 1000000ULL))
                        return -EIO;
                /* Others may run meanwhile (a job holds the daemon lock otherwise). */
                blocking_sleep(10000);
                waited += 10000;
        }
}

/* The paths a binding writes, under the sysfs root (sysfs-bus-pci). */
typedef struct MemberPaths {
        char override[160], unbind[160], bind[160];
} MemberPaths;

static void member_paths(const char *address, const char *bind_driver, MemberPaths *p) {
        snprintf(p->override, sizeof(p->override), SYSFS_PCI_DEVICES "/%s/driver_override",
                 address);
        snprintf(p->unbind, sizeof(p->unbind), SYSFS_PCI_DEVICES "/%s/driver/unbind", address);
        if (bind_driver)
                snprintf(p->bind, sizeof(p->bind), SYSFS_PCI_DRIVERS "/%s/bind", bind_driver);
        else
                snprintf(p->bind, sizeof(p->bind), "%s", SYSFS_PCI_DRIVERS_PROBE);
}

int binding_set_override(const SysRoot *r, const char *address, const char *driver,
                         uint64_t timeout_usec) {
        MemberPaths p;

        if (!pci_address_is_canonical(address) || (driver && !filename_is_valid(driver)))
                return -EINVAL;
        member_paths(address, NULL, &p);
        /* A lone newline clears the override (sysfs-bus-pci: driver_override). */
        return sysfs_write_attr(r, p.override, driver ?: "\n", timeout_usec);
}

static const char *vfio_target(const BindMember *m) {
        return m->vfio_driver ? m->vfio_driver : DRIVER_VFIO_PCI;
}

/* Moves each member to its VFIO driver (through drivers_probe) or, restoring, to its m[i].driver
 * (bound by name): the writes of all members in one chain, one hand-over to a writer
 * (sysfs_write_attrs()), then each member's driver link verified. A member already on its
 * target only gets its override written. */
static int move_members(const SysRoot *r, const BindMember *m, size_t n, bool restore,
                        uint64_t timeout_usec, size_t *ret_failed, BindFailure *ret_failure) {
        _cleanup_free_ WorkerWrite *w = NULL;
        _cleanup_free_ MemberPaths *p = NULL;
        _cleanup_free_ BindStep *steps = NULL;
        _cleanup_free_ size_t *owner = NULL;
        char **current = NULL;
        size_t n_w = 0, i = 0, failed = 0;
        int k = 0;

        if (n == 0)
                return 0;
        w = calloc(3 * n, sizeof(*w));
        steps = calloc(3 * n, sizeof(*steps));
        owner = calloc(3 * n, sizeof(*owner));
        p = calloc(n, sizeof(*p));
        current = calloc(n, sizeof(*current));
        if (!w || !steps || !owner || !p || !current) {
                free(current);
                return -ENOMEM;
        }
        for (i = 0; i < n; i++) {
                const char *target = restore ? m[i].driver : vfio_target(&m[i]);

                if (!pci_address_is_canonical(m[i].address) ||
                    (restore && m[i].driver && !filename_is_valid(m[i].driver)) ||
                    (!restore && !filename_is_valid(target))) {
                        k = -EINVAL;
                        goto out;
                }
                /* Writing the override binds nothing: the driver read before it is the one
                 * after. */
                k = binding_current_driver(r, m[i].address, &current[i]);
                if (k < 0) {
                        k = fail(r, m[i].address, BIND_STEP_READ, k, ret_failure);
                        goto out;
                }
                member_paths(m[i].address, restore ? m[i].driver : NULL, &p[i]);
                /* A lone newline clears the override (sysfs-bus-pci: driver_override). */
                steps[n_w] = BIND_STEP_OVERRIDE;
                owner[n_w] = i;
                w[n_w++] = (WorkerWrite) { .path = p[i].override,
                                           .value = restore ? "\n" : target };
                if (driver_is(current[i], target))
                        continue;
                if (current[i]) {
                        /* ENOENT: the driver let go by itself meanwhile. */
                        steps[n_w] = BIND_STEP_UNBIND;
                        owner[n_w] = i;
                        w[n_w++] = (WorkerWrite) { .path = p[i].unbind,
                                                   .value = m[i].address,
                                                   .enoent_ok = true };
                }
                /* Restoring binds the recorded driver by name, which is exact: drivers_probe
                 * could pick another driver that also claims the id. No driver: left unbound, as
                 * it was found. */
                if (target || (restore && m[i].probe)) {
                        steps[n_w] = restore && target ? BIND_STEP_BIND : BIND_STEP_PROBE;
                        owner[n_w] = i;
                        w[n_w++] = (WorkerWrite) { .path = p[i].bind, .value = m[i].address };
                }
        }
        k = sysfs_write_attrs(r, w, n_w, timeout_usec, &failed);
        if (k < 0) {
                i = owner[MIN(failed, n_w - 1)];
                k = fail(r, m[i].address, steps[MIN(failed, n_w - 1)], k, ret_failure);
                goto out;
        }
        for (i = 0; i < n; i++) {
                const char *target = restore ? m[i].driver : vfio_target(&m[i]);

                if (driver_is(current[i], target) || (restore && !target && m[i].probe))
                        continue;
                k = verify_driver(r, m[i].address, target, timeout_usec);
                if (k < 0) {
                        k = fail(r, m[i].address, BIND_STEP_VERIFY, k, ret_failure);
                        goto out;
                }
        }
out:
        for (size_t j = 0; j < n; j++)
                free(current[j]);
        free(current);
        if (k < 0 && ret_failed)
                *ret_failed = MIN(i, n - 1);
        return k;
}

int binding_bind_vfio_members(const SysRoot *r, const BindMember *m, size_t n,
                              uint64_t timeout_usec, size_t *ret_failed, BindFailure *ret_failure) {
        return move_members(r, m, n, false, timeout_usec, ret_failed, ret_failure);
}

int binding_restore_members(const SysRoot *r, const BindMember *m, size_t n, uint64_t timeout_usec,
                            size_t *ret_failed, BindFailure *ret_failure) {
        return move_members(r, m, n, true, timeout_usec, ret_failed, ret_failure);
}

int binding_bind_vfio(const SysRoot *r, const char *address, uint64_t timeout_usec,
                      BindFailure *ret_failure) {
        return move_members(r, &(BindMember) { .address = address }, 1, false, timeout_usec, NULL,
                            ret_failure);
}

int binding_restore(const SysRoot *r, const char *address, const char *original,
                    uint64_t timeout_usec, BindFailure *ret_failure) {
        return move_members(r, &(BindMember) { .address = address, .driver = original }, 1, true,
                            timeout_usec, NULL, ret_failure);
}
