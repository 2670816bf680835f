/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl sriov PF [COUNT] [--vfio]: a PF's VFs, and SetNumVfs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "assignctl.h"
#include "output.h"
#include "util.h"

bool arg_vfio = false;

static int show(sd_bus *bus, const char *pf) {
        _cleanup_json_ json_object *report = NULL, *summary = NULL;
        int r;

        r = fetch_report(bus, &report);
        if (r != EXIT_OK)
                return r;
        if (!report_find_device(report, pf))
                return fail(EXIT_FAILED, NULL, "No PCI device %s.", pf);
        summary = sriov_summary(report, pf);
        if (!summary)
                return fail(EXIT_FAILED, NULL, "%s is no SR-IOV physical function.", pf);
        if (arg_json != JSON_OFF)
                return print_json(summary);
        return printed(output_sriov(stdout, summary));
}

int verb_sriov(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *context = NULL;
        char pf[PCI_ADDRESS_STRLEN];
        uint32_t count;
        int r;

        r = parse_address_arg(argv[1], pf);
        if (r != EXIT_OK)
                return r;
        if (argc > 2 && safe_atou32(argv[2], 10, &count) < 0)
                return fail_arg(EXIT_USAGE, "sriov: \"%s\" is not a number of VFs.", argv[2]);
        if (argc <= 2 && arg_vfio)
                return fail(EXIT_USAGE, NULL, "sriov: --vfio needs a COUNT.");
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        if (argc > 2) {
                if (asprintf(&context, "sriov %s %" PRIu32, pf, count) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
                /* The reply comes once the VFs are there (and prepared, with --vfio). */
                if (arg_vfio)
                        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "SetNumVfs",
                                               &error, NULL, "sua{sv}", pf, count, 1, "vfio", "b",
                                               1);
                else
                        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "SetNumVfs",
                                               &error, NULL, "sua{sv}", pf, count, 0);
                if (r < 0)
                        return fail_call(context, &error, r);
        }
        return show(bus, pf);
}
