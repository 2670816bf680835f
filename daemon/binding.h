/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "sysfs.h"

/* Moving one PCI function between its host driver and vfio-pci through driver_override
 * (Documentation/ABI/testing/sysfs-bus-pci). new_id is never used: it is global per driver and
 * pulls in every device with the same id. */

#define BINDING_TIMEOUT_USEC (10 * 1000000ULL)

typedef enum BindStep {
        BIND_STEP_READ,
        BIND_STEP_OVERRIDE,
        BIND_STEP_UNBIND,
        BIND_STEP_PROBE,
        BIND_STEP_BIND,
        BIND_STEP_VERIFY,
        _BIND_STEP_MAX,
} BindStep;

typedef struct BindFailure {
        BindStep step;
        int error;    /* negative errno */
        char *driver; /* the driver found bound after the failure, or NULL */
} BindFailure;

void bind_failure_clear(BindFailure *f);
const char *bind_step_to_string(BindStep s);

/* The driver bound now (NULL = none). */
int binding_current_driver(const SysRoot *r, const char *address, char **ret);

/* driver_override = vfio-pci, unbind the current driver, drivers_probe, then verify the driver
 * link: drivers_probe reports success even when nothing bound. Idempotent. */
int binding_bind_vfio(const SysRoot *r, const char *address, uint64_t timeout_usec,
                      BindFailure *ret_failure);

/* Clears driver_override, unbinds vfio-pci and binds original (NULL: leaves the device
 * unbound, as it was found), then verifies. */
int binding_restore(const SysRoot *r, const char *address, const char *original,
                    uint64_t timeout_usec, BindFailure *ret_failure);

/* The same for several functions (the members of an IOMMU group) at once: the writes of all of
 * them in order in one writer thread (sysfs_write_attrs(): one hand-over instead of one per
 * write), then each verified. Stops at the first member that fails: *ret_failed is its index and
 * *ret_failure says at which step. Members before it moved; members after it are untouched when
 * a write failed, and moved too when its verification failed. Calling again for the members after
 * it is always right: a member already where it belongs only gets its override written. */
typedef struct BindMember {
        const char *address;
        const char *driver;      /* binding_restore_members(): the original driver (NULL: none) */
        const char *vfio_driver; /* binding_bind_vfio_members(): the VFIO driver (NULL: vfio-pci) */
        /* binding_restore_members() with no driver: drivers_probe after clearing the override,
         * so that the kernel binds the natural driver (the early-prepare rule kept it from ever
         * binding, so none was recorded); whatever binds, or nothing, is right. */
        bool probe;
} BindMember;

int binding_bind_vfio_members(const SysRoot *r, const BindMember *m, size_t n,
                              uint64_t timeout_usec, size_t *ret_failed, BindFailure *ret_failure);
int binding_restore_members(const SysRoot *r, const BindMember *m, size_t n, uint64_t timeout_usec,
                            size_t *ret_failed, BindFailure *ret_failure);

/* Only sets driver_override, so that the next probe (hotplug, boot) picks vfio-pci before a
 * host driver can take the device. */
int binding_set_override(const SysRoot *r, const char *address, const char *driver,
                         uint64_t timeout_usec);
