/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        struct timespec step = { .tv_nsec = 10 * 1000 * 1000 };
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
                nanosleep(&step, NULL);
                waited += 10000;
        }
}

static int write_dev_attr(const SysRoot *r, const char *address, const char *attr,
                          const char *value, uint64_t timeout_usec) {
        char path[160];

        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/%s", address, attr);
        return sysfs_write_attr(r, path, value, timeout_usec);
}

int binding_set_override(const SysRoot *r, const char *address, const char *driver,
                         uint64_t timeout_usec) {
        if (!pci_address_is_canonical(address) || (driver && !filename_is_valid(driver)))
                return -EINVAL;
        /* A lone newline clears the override (sysfs-bus-pci: driver_override). */
        return write_dev_attr(r, address, "driver_override", driver ?: "\n", timeout_usec);
}

int binding_bind_vfio(const SysRoot *r, const char *address, uint64_t timeout_usec,
                      BindFailure *ret_failure) {
        _cleanup_free_ char *current = NULL;
        int k;

        if (!pci_address_is_canonical(address))
                return -EINVAL;
        k = binding_current_driver(r, address, &current);
        if (k < 0)
                return fail(r, address, BIND_STEP_READ, k, ret_failure);
        k = binding_set_override(r, address, DRIVER_VFIO_PCI, timeout_usec);
        if (k < 0)
                return fail(r, address, BIND_STEP_OVERRIDE, k, ret_failure);
        if (driver_is(current, DRIVER_VFIO_PCI))
                return 0;
        if (current) {
                k = write_dev_attr(r, address, "driver/unbind", address, timeout_usec);
                if (k < 0 && k != -ENOENT) /* ENOENT: it went away by itself meanwhile */
                        return fail(r, address, BIND_STEP_UNBIND, k, ret_failure);
        }
        k = sysfs_write_attr(r, SYSFS_PCI_DRIVERS_PROBE, address, timeout_usec);
        if (k < 0)
                return fail(r, address, BIND_STEP_PROBE, k, ret_failure);
        k = verify_driver(r, address, DRIVER_VFIO_PCI, timeout_usec);
        if (k < 0)
                return fail(r, address, BIND_STEP_VERIFY, k, ret_failure);
        return 0;
}

int binding_restore(const SysRoot *r, const char *address, const char *original,
                    uint64_t timeout_usec, BindFailure *ret_failure) {
        _cleanup_free_ char *current = NULL;
        int k;

        if (!pci_address_is_canonical(address) || (original && !filename_is_valid(original)))
                return -EINVAL;
        k = binding_set_override(r, address, NULL, timeout_usec);
        if (k < 0)
                return fail(r, address, BIND_STEP_OVERRIDE, k, ret_failure);
        k = binding_current_driver(r, address, &current);
        if (k < 0)
                return fail(r, address, BIND_STEP_READ, k, ret_failure);
        if (driver_is(current, original))
                return 0;
        if (current) {
                k = write_dev_attr(r, address, "driver/unbind", address, timeout_usec);
                if (k < 0 && k != -ENOENT)
                        return fail(r, address, BIND_STEP_UNBIND, k, ret_failure);
        }
        if (original) {
                char path[160];

                /* Binding the recorded driver by name is exact; drivers_probe could pick another
                 * driver that also claims the id. */
                snprintf(path, sizeof(path), SYSFS_PCI_DRIVERS "/%s/bind", original);
                k = sysfs_write_attr(r, path, address, timeout_usec);
                if (k < 0)
                        return fail(r, address, BIND_STEP_BIND, k, ret_failure);
        }
        k = verify_driver(r, address, original, timeout_usec);
        if (k < 0)
                return fail(r, address, BIND_STEP_VERIFY, k, ret_failure);
        return 0;
}
