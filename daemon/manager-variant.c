/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which VFIO driver a member of a new lease goes to (issue 14): the one a policy rule chooses
 * ("vfio_driver"), else the VFIO variant driver that modules.alias names for it
 * (vfio-variant.h), else vfio-pci. The unit cannot load modules
 * (ProtectKernelModules=yes): a variant that is not loaded is an error that says which module to
 * load, never a silent fall-back to vfio-pci, which would drive the device without what its
 * variant adds (live migration, device-specific quirks). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "util.h"

int manager_pick_vfio_driver(void *userdata, const Device *dev, char **ret, LeaseError *err) {
        Manager *d = userdata;
        const VfioVariant *v = dev->vfio_variant;
        const char *driver, *file = NULL;
        _cleanup_free_ char *why = NULL;
        char path[128];
        int index = -1;

        driver = policy_vfio_driver(d->policy, dev, &file, &index);
        if (driver && asprintf(&why, "rule %s#%d", file, index) < 0)
                return -ENOMEM;
        if (!driver && v) {
                driver = v->module;
                if (asprintf(&why, "modules.alias: \"%s\"", v->pattern) < 0)
                        return -ENOMEM;
        }
        if (!driver || streq(driver, DRIVER_VFIO_PCI)) {
                *ret = NULL;
                return 0;
        }
        /* drivers_probe binds only a loaded driver (Documentation/ABI/testing/sysfs-bus-pci:
         * driver_override); the module's driver directory says it is. */
        snprintf(path, sizeof(path), SYSFS_PCI_DRIVERS "/%s", driver);
        if (!filename_is_valid(driver) || !sysfs_exists_at(d->model->root, -1, path))
                return lease_error_set(err, -ENOPKG, VA_ERROR_DRIVER_NOT_LOADED,
                                       "%s goes to the VFIO variant driver %s (%s), which is not "
                                       "loaded: load it with 'modprobe %s', and at every boot "
                                       "with 'assignctl modules-load --now %s' (vfio-assignd "
                                       "loads no modules)",
                                       dev->address, driver, why, driver, driver);
        *ret = strdup(driver);
        return *ret ? 0 : -ENOMEM;
}
