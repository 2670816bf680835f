/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which VFIO driver a member of a new lease goes to (issue 14): the VFIO variant driver that
 * modules.alias names for it (vfio-variant.h), else vfio-pci. The unit cannot load modules
 * (ProtectKernelModules=yes): a variant that is not loaded is an error that says which module to
 * load, never a silent fall-back to vfio-pci, which would drive the device without what its
 * variant adds (live migration, device-specific quirks). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

int manager_load_variants(Manager *d, const char *file) {
        _cleanup_free_ char *error = NULL;
        int k;

        d->variants = vfio_variants_free(d->variants);
        k = vfio_variants_load(d->model->root, d->model->host->kernel_release, file, &d->variants,
                               &error);
        if (k == -ENOENT) {
                log_info("No VFIO variant drivers: %s", strna(error));
                return 0;
        }
        if (k < 0) {
                /* A broken file is no reason to refuse every claim: devices then go to
                 * vfio-pci, and the log says why. */
                log_warning_errno(k, "Cannot read the VFIO variant drivers: %s", strna(error));
                return 0;
        }
        log_info("%zu VFIO variant driver aliases", d->variants->n);
        return 0;
}

int manager_pick_vfio_driver(void *userdata, const Device *dev, char **ret, LeaseError *err) {
        Manager *d = userdata;
        char alias[VFIO_VARIANT_ALIAS_MAX], path[128];
        const VfioVariant *v;

        vfio_variant_alias(dev, alias);
        v = vfio_variants_match(d->variants, alias);
        if (!v) {
                *ret = NULL;
                return 0;
        }
        /* drivers_probe binds only a loaded driver (Documentation/ABI/testing/sysfs-bus-pci:
         * driver_override); the module's driver directory says it is. */
        snprintf(path, sizeof(path), SYSFS_PCI_DRIVERS "/%s", v->module);
        if (!filename_is_valid(v->module) || !sysfs_exists_at(d->model->root, -1, path))
                return lease_error_set(err, -ENOPKG, VA_ERROR_DRIVER_NOT_LOADED,
                                       "%s goes to the VFIO variant driver %s (modules.alias: "
                                       "\"%s\"), which is not loaded: load it with 'modprobe %s', "
                                       "or at boot from a modules-load.d(5) file (vfio-assignd "
                                       "loads no modules)",
                                       dev->address, v->module, v->pattern, v->module);
        *ret = strdup(v->module);
        return *ret ? 0 : -ENOMEM;
}
