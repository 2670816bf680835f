/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Manager.SetNumVfs(s pf, u count, a{sv} options) -> (as vfs): parsed and authorised here,
 * decided by manager-sriov.c. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "daemon.h"
#include "util.h"

static int read_sriov_option(sd_bus_message *m, const char *key, void *userdata,
                             sd_bus_error *error) {
        return streq(key, "vfio") ? sd_bus_message_read(m, "v", "b", userdata) : -ENOKEY;
}

/* The arguments; options: "vfio" (b). */
static int read_call(sd_bus_message *m, Manager *d, const char **ret_pf, uint32_t *ret_count,
                     SriovOptions *ret_options, const Group **ret_group, sd_bus_error *error) {
        const Device *dev;
        const char *pf;
        int vfio = 0, k;

        k = sd_bus_message_read(m, "su", &pf, ret_count);
        if (k < 0)
                return k;
        k = bus_read_options(m, read_sriov_option, &vfio, error);
        if (k < 0)
                return k;
        if (!pci_address_is_canonical(pf))
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "\"%.*s\" is not a PCI address like 0000:03:00.0",
                                         utf8_prefix_len(pf, 32), pf);
        dev = topology_find_device(d->model->topology, pf);
        if (!dev)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE, "No PCI device %s", pf);
        *ret_pf = pf;
        *ret_options = (SriovOptions) { .vfio = vfio };
        *ret_group = dev->group >= 0
                             ? topology_find_group(d->model->topology, (uint32_t) dev->group)
                             : NULL;
        return 0;
}

int manager_inspect_set_num_vfs(sd_bus_message *m, Manager *d, void *object, BusAuth *auth,
                                sd_bus_error *error) {
        const Group *g;
        const char *pf;
        SriovOptions o;
        uint32_t n;
        int k = read_call(m, d, &pf, &n, &o, &g, error);

        if (k < 0 || !g)
                return k;
        auth->about_group = true;
        auth->group = g->id;
        return 0;
}

static void reply_vfs(void *userdata, char **vfs, const LeaseError *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = userdata, *reply = NULL;
        int k;

        if (err) {
                (void) bus_error_set_lease(&error, err, err->error ?: -EIO);
                (void) sd_bus_reply_method_error(m, &error);
        } else {
                k = sd_bus_message_new_method_return(m, &reply);
                if (k >= 0)
                        k = sd_bus_message_append_strv(reply, vfs);
                if (k >= 0)
                        k = sd_bus_send(NULL, reply, NULL);
                if (k < 0)
                        (void) sd_bus_reply_method_errno(m, k, NULL);
                sd_bus_message_unref(reply);
        }
        sd_bus_message_unref(m);
}

int manager_method_set_num_vfs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *d = userdata;
        LeaseError err = {};
        const Group *g;
        const char *pf;
        SriovOptions o;
        uint32_t n;
        int k;

        k = read_call(m, d, &pf, &n, &o, &g, error);
        if (k < 0)
                return k;
        k = manager_set_num_vfs(d, pf, n, &o, reply_vfs, m, &err);
        return bus_reply_after_job(m, k, &err, error);
}
