/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "errors.h"
#include "macro.h"
#include "names.h"

/* The D-Bus names and errnos are API: clients and tests match them. */
static const struct {
        const char *name;
        int errno_value;
        int exit_code;
} table[_VA_ERROR_MAX] = {
        [VA_ERROR_FAILED] = { ERROR_PREFIX "Failed", EIO, EXIT_FAILED },
        [VA_ERROR_NO_SUCH_DEVICE] = { ERROR_PREFIX "NoSuchDevice", ENODEV, EXIT_FAILED },
        [VA_ERROR_NO_SUCH_GROUP] = { ERROR_PREFIX "NoSuchGroup", ENOENT, EXIT_FAILED },
        [VA_ERROR_INVALID_ARGUMENT] = { ERROR_PREFIX "InvalidArgument", EINVAL, EXIT_FAILED },
        [VA_ERROR_POLICY_DENIED] = { ERROR_PREFIX "PolicyDenied", EPERM, EXIT_POLICY_DENIED },
        [VA_ERROR_IR_REQUIRED] = { ERROR_PREFIX "InterruptRemappingRequired", EPERM,
                                   EXIT_POLICY_DENIED },
        [VA_ERROR_HOST_CRITICAL] = { ERROR_PREFIX "HostCritical", EPERM, EXIT_POLICY_DENIED },
        [VA_ERROR_RMRR_LOCKED] = { ERROR_PREFIX "RmrrLocked", EPERM, EXIT_POLICY_DENIED },
        [VA_ERROR_NOT_ASSIGNABLE] = { ERROR_PREFIX "NotAssignable", EPERM, EXIT_POLICY_DENIED },
        [VA_ERROR_BIND_FAILED] = { ERROR_PREFIX "BindFailed", EIO, EXIT_FAILED },
        [VA_ERROR_GROUP_NOT_VIABLE] = { ERROR_PREFIX "GroupNotViable", EPERM, EXIT_FAILED },
        [VA_ERROR_BUSY] = { ERROR_PREFIX "Busy", EBUSY, EXIT_FAILED },
        [VA_ERROR_STUCK] = { ERROR_PREFIX "Stuck", EBUSY, EXIT_FAILED },
        [VA_ERROR_NO_SUCH_LEASE] = { ERROR_PREFIX "NoSuchLease", ENOENT, EXIT_FAILED },
        [VA_ERROR_NOT_HOLDER] = { ERROR_PREFIX "NotHolder", EACCES, EXIT_FAILED },
        [VA_ERROR_POLICY_INVALID] = { ERROR_PREFIX "PolicyInvalid", EINVAL, EXIT_FAILED },
        [VA_ERROR_VFIO_FAILED] = { ERROR_PREFIX "VfioFailed", EIO, EXIT_FAILED },
        [VA_ERROR_STATE_FAILED] = { ERROR_PREFIX "StateFailed", EIO, EXIT_FAILED },
        [VA_ERROR_NOT_ACTIVE] = { ERROR_PREFIX "NotActive", ESTALE, EXIT_FAILED },
        [VA_ERROR_NO_SUCH_USER] = { ERROR_PREFIX "NoSuchUser", ESRCH, EXIT_FAILED },
        [VA_ERROR_NOT_CLAIMED] = { ERROR_PREFIX "NotClaimed", EOPNOTSUPP, EXIT_FAILED },
        [VA_ERROR_TIMEOUT] = { ERROR_PREFIX "Timeout", ETIMEDOUT, EXIT_FAILED },
        [VA_ERROR_BACKEND_UNAVAILABLE] = { ERROR_PREFIX "BackendUnavailable", ENXIO, EXIT_FAILED },
        [VA_ERROR_NO_MEMORY] = { ERROR_PREFIX "NoMemory", ENOMEM, EXIT_FAILED },
        [VA_ERROR_DRIVER_NOT_LOADED] = { ERROR_PREFIX "DriverNotLoaded", ENOPKG, EXIT_FAILED },
        [VA_ERROR_SRIOV_FAILED] = { ERROR_PREFIX "SriovFailed", EIO, EXIT_FAILED },
        [VA_ERROR_IDENTITY_CHANGED] = { ERROR_PREFIX "IdentityChanged", EREMCHG, EXIT_FAILED },
};

const char *va_error_name(VaError e) {
        return (size_t) e < _VA_ERROR_MAX ? table[e].name : NULL;
}

VaError va_error_from_name(const char *name) {
        for (size_t i = 0; name && i < _VA_ERROR_MAX; i++)
                if (streq(table[i].name, name))
                        return (VaError) i;
        return _VA_ERROR_MAX;
}

int va_error_errno(VaError e) {
        return (size_t) e < _VA_ERROR_MAX ? table[e].errno_value : 0;
}

int va_error_exit_code(VaError e) {
        return (size_t) e < _VA_ERROR_MAX ? table[e].exit_code : EXIT_FAILED;
}
