/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "model.h"
#include "state.h"

struct json_object;

/* What the daemon is doing to a group (the kind of its running job), or NULL: the model knows
 * the host, the daemon its jobs. */
typedef const char *(*ReportJobFn)(const void *userdata, uint32_t group);

/* The host report (docs/report.md): written as one JSON document, one group or device per line,
 * so that a host with thousands of devices never needs the whole document in memory at once.
 * job (NULL for --report): a group with a running job has a "job" key; an idle host's report is
 * the same from the daemon and from --report. */
/* The persistent prepares the report lists with their state (persistent.h): the daemon's, or
 * those persistent.json names for --report; error: why they could not be read (a line of
 * host.errors), else NULL. A NULL ReportPersistent lists none. */
typedef struct ReportIdentity {
        PersistentDevice record;
        const char *rule_file; /* the rule that names the address; NULL: not known */
        int rule_index;
} ReportIdentity;
typedef struct ReportPersistent {
        const PersistentDevice *devices;
        size_t n;
        const char *error;
        /* The cards recorded at the addresses rules name (identities.json), listed as
         * "identities". */
        const ReportIdentity *identities;
        size_t n_identities;
} ReportPersistent;
int report_write(const Model *m, ReportJobFn job, const void *userdata, const ReportPersistent *p,
                 FILE *f);
/* report_write() for --report (report-offline.c): the persistent prepares and recorded cards from
 * the daemon's state directory at state_dir, read as a process that is not the daemon. */
int report_write_offline(const Model *m, const char *state_dir, FILE *f);
/* The same document in a malloc'd string (for GetHostReport). */
int report_to_string(const Model *m, ReportJobFn job, const void *userdata,
                     const ReportPersistent *p, char **ret);

/* Pieces, for the bus glue and tests. job: the group's running job, NULL for none. */
int report_host_json(const Model *m, struct json_object **ret);
int report_group_json(const Group *g, const char *job, struct json_object **ret);
int report_device_json(const Device *d, struct json_object **ret);
