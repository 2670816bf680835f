/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <systemd/sd-bus.h>

#include "daemon.h"

/* One map from our named errors to errnos, so sd_bus_error_set_errno() and clients agree. */
static const sd_bus_error_map vfioassign_errors[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_DEVICE, ENODEV),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_GROUP, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_ARGUMENT, EINVAL),
        SD_BUS_ERROR_MAP_END,
};

int bus_errors_register(void) {
        return sd_bus_error_add_map(vfioassign_errors);
}
