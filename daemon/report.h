/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "model.h"

struct json_object;

/* What the daemon is doing to a group (the kind of its running job), or NULL: the model knows
 * the host, the daemon its jobs. */
typedef const char *(*ReportJobFn)(const void *userdata, uint32_t group);

/* The host report (docs/report.md): written as one JSON document, one group or device per line,
 * so that a host with thousands of devices never needs the whole document in memory at once.
 * job (NULL for --report): a group with a running job has a "job" key; an idle host's report is
 * the same from the daemon and from --report. */
int report_write(const Model *m, ReportJobFn job, const void *userdata, FILE *f);
/* The same document in a malloc'd string (for GetHostReport). */
int report_to_string(const Model *m, ReportJobFn job, const void *userdata, char **ret);

/* Pieces, for the bus glue and tests. job: the group's running job, NULL for none. */
int report_host_json(const Model *m, struct json_object **ret);
int report_group_json(const Group *g, const char *job, struct json_object **ret);
int report_device_json(const Device *d, struct json_object **ret);
