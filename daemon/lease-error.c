/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lease-error.h"

void lease_error_clear(LeaseError *e) {
        free(e->message);
        *e = (LeaseError) {};
}

int lease_error_set(LeaseError *e, int error, VaError code, const char *fmt, ...) {
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
