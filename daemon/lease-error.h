/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "errors.h"
#include "macro.h"

/* What went wrong in a transaction, for an error message that names device, driver, step and
 * errno. */
typedef struct LeaseError {
        int error;    /* negative errno */
        VaError code; /* VA_ERROR_BIND_FAILED, VA_ERROR_GROUP_NOT_VIABLE, ... */
        char *message;
} LeaseError;
void lease_error_clear(LeaseError *e);
/* Replaces *e (NULL: nothing) and returns error. */
int lease_error_set(LeaseError *e, int error, VaError code, const char *fmt, ...) _printf_(4, 5);
