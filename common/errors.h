/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The catalogue of the daemon's errors: for each, its D-Bus name, the errno a bus client gets
 * for it (sd_bus_error_get_errno()) and assignctl's exit code. The model names its failures by
 * code, the bus glue and assignctl translate through here, and no other source file spells a
 * name. */

/* assignctl's exit codes, documented in docs/assignctl.1. */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,        /* the daemon reported a failure, or the object does not exist */
        EXIT_USAGE = 2,         /* bad command line; nothing was sent to the daemon */
        EXIT_UNREACHABLE = 3,   /* no system bus, or nobody owns org.vfioassign1 */
        EXIT_ACCESS_DENIED = 4, /* polkit refused (org.freedesktop.DBus.Error.AccessDenied) */
        EXIT_POLICY_DENIED = 5, /* the policy refused the device or group (PolicyDenied, ...) */
};

/* Documented in docs/org.vfioassign1.5. */
typedef enum VaError {
        VA_ERROR_FAILED, /* first: an error nobody named (a zeroed struct) is Failed */
        VA_ERROR_NO_SUCH_DEVICE,
        VA_ERROR_NO_SUCH_GROUP,
        VA_ERROR_INVALID_ARGUMENT,
        VA_ERROR_POLICY_DENIED,
        VA_ERROR_IR_REQUIRED,
        VA_ERROR_HOST_CRITICAL,
        VA_ERROR_RMRR_LOCKED,
        VA_ERROR_NOT_ASSIGNABLE,
        VA_ERROR_BIND_FAILED,
        VA_ERROR_GROUP_NOT_VIABLE,
        VA_ERROR_BUSY,
        VA_ERROR_STUCK,
        VA_ERROR_NO_SUCH_LEASE,
        VA_ERROR_NOT_HOLDER,
        VA_ERROR_POLICY_INVALID,
        VA_ERROR_VFIO_FAILED,
        VA_ERROR_STATE_FAILED,
        VA_ERROR_NOT_ACTIVE,
        VA_ERROR_NO_SUCH_USER,
        VA_ERROR_NOT_CLAIMED,
        VA_ERROR_TIMEOUT,
        VA_ERROR_BACKEND_UNAVAILABLE,
        VA_ERROR_NO_MEMORY,
        VA_ERROR_DRIVER_NOT_LOADED,
        VA_ERROR_SRIOV_FAILED,
        VA_ERROR_IDENTITY_CHANGED,
        _VA_ERROR_MAX, /* also: not one of ours */
} VaError;

/* "org.vfioassign1.Error.NoSuchGroup"; NULL for a code out of range. */
const char *va_error_name(VaError e);
/* The code of a full name; _VA_ERROR_MAX for NULL or a name not in the catalogue. */
VaError va_error_from_name(const char *name);
/* The positive errno the name maps to on the bus (ENOENT); 0 for a code out of range. */
int va_error_errno(VaError e);
/* assignctl's exit code: EXIT_POLICY_DENIED for a policy's refusal, else (and for a code out of
 * range) EXIT_FAILED. */
int va_error_exit_code(VaError e);
