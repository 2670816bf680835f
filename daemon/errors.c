/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <systemd/sd-bus.h>

#include "daemon.h"

/* The catalogue as sd-bus wants it, so that sd_bus_error_setf() returns, and clients see, each
 * name's errno. sd-bus keeps the pointer: static. */
static sd_bus_error_map map[_VA_ERROR_MAX + 1];

int bus_errors_register(void) {
        for (VaError e = 0; e < _VA_ERROR_MAX; e++)
                map[e] = (sd_bus_error_map) SD_BUS_ERROR_MAP(va_error_name(e), va_error_errno(e));
        map[_VA_ERROR_MAX] = (sd_bus_error_map) SD_BUS_ERROR_MAP_END;
        return sd_bus_error_add_map(map);
}

int bus_error_set_lease(sd_bus_error *error, const LeaseError *err, int k) {
        return sd_bus_error_setf(error, va_error_name(err->code), "%s",
                                 err->message ?: strerror(-k));
}

int bus_reply_after_job(sd_bus_message *m, int k, LeaseError *err, sd_bus_error *error) {
        if (k < 0) {
                k = bus_error_set_lease(error, err, k);
                lease_error_clear(err);
                return k;
        }
        sd_bus_message_ref(m); /* until the job's reply */
        return 1;
}
