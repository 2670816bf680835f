/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --report: the host report as the daemon would give it, written by a process that is not the
 * daemon. It lists the daemon's persistent prepares and recorded cards from its state directory;
 * the policy is not read, so no rule is named for a recorded card. */
#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "report.h"

int report_write_offline(const Model *m, const char *state_dir, FILE *f) {
        _cleanup_free_ PersistentDevice *persistent = NULL, *recorded = NULL;
        _cleanup_free_ ReportIdentity *identities = NULL;
        _cleanup_free_ char *error = NULL, *why = NULL;
        ReportPersistent p = {};
        int k;

        /* What keeps a file from being read (not root) is said in the report. */
        k = devices_read_dir(state_dir, PERSISTENT_FILE, &persistent, &p.n, &error);
        if (k == -ENOMEM)
                return k;
        k = devices_read_dir(state_dir, IDENTITY_FILE, &recorded, &p.n_identities, &why);
        if (k == -ENOMEM)
                return k;
        identities = calloc(p.n_identities + 1, sizeof(*identities));
        if (!identities)
                return -ENOMEM;
        for (size_t i = 0; i < p.n_identities; i++)
                identities[i].record = recorded[i];
        p.devices = persistent;
        p.identities = identities;
        p.error = error ?: why;
        return report_write(m, NULL, NULL, &p, f);
}
