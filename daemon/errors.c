/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "daemon.h"
#include "names.h"

/* One map from our named errors to errnos, so sd_bus_error_set_errno() and clients agree. */
static const sd_bus_error_map vfioassign_errors[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_DEVICE, ENODEV),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_GROUP, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_ARGUMENT, EINVAL),
        SD_BUS_ERROR_MAP(BUS_ERROR_POLICY_DENIED, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_IR_REQUIRED, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_HOST_CRITICAL, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_RMRR_LOCKED, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_ASSIGNABLE, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_BIND_FAILED, EIO),
        SD_BUS_ERROR_MAP(BUS_ERROR_GROUP_NOT_VIABLE, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_STUCK, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_LEASE, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_HOLDER, EACCES),
        SD_BUS_ERROR_MAP(BUS_ERROR_POLICY_INVALID, EINVAL),
        SD_BUS_ERROR_MAP(BUS_ERROR_FAILED, EIO),
        SD_BUS_ERROR_MAP(BUS_ERROR_VFIO_FAILED, EIO),
        SD_BUS_ERROR_MAP(BUS_ERROR_STATE_FAILED, EIO),
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_ACTIVE, ESTALE),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_USER, ESRCH),
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_CLAIMED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP_END,
};

int bus_errors_register(void) {
        return sd_bus_error_add_map(vfioassign_errors);
}

int bus_error_set_lease(sd_bus_error *error, const LeaseError *e, int k) {
        char name[128];

        /* LeaseError names are the suffixes of our bus errors. */
        if (!e->name)
                return sd_bus_error_setf(error, BUS_ERROR_FAILED, "%s", e->message ?: strerror(-k));
        snprintf(name, sizeof(name), ERROR_PREFIX "%s", e->name);
        return sd_bus_error_setf(error, name, "%s", e->message ?: strerror(-k));
}
