/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "daemon.h"
#include "util.h"

int bus_read_options(sd_bus_message *m, BusOptionFn fn, void *userdata, sd_bus_error *error) {
        int k;

        k = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (k < 0)
                return k;
        while ((k = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                k = sd_bus_message_read(m, "s", &key);
                if (k < 0)
                        return k;
                k = fn(m, key, userdata, error);
                if (k == -ENOKEY)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                 "Unknown option \"%.*s\"",
                                                 utf8_prefix_len(key, 64), key);
                if (k < 0)
                        return sd_bus_error_is_set(error)
                                       ? k
                                       : sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                           "Option \"%s\" has the wrong type", key);
                k = sd_bus_message_exit_container(m);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        return sd_bus_message_exit_container(m);
}

int bus_read_no_options(sd_bus_message *m, sd_bus_error *error) {
        int k = sd_bus_message_enter_container(m, 'a', "{sv}");

        if (k < 0)
                return k;
        if (sd_bus_message_at_end(m, false) == 0)
                return sd_bus_error_set(error, BUS_ERROR_INVALID_ARGUMENT,
                                        "This method takes no options yet");
        return sd_bus_message_exit_container(m);
}
