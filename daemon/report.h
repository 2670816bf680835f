/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "model.h"

struct json_object;

/* The host report (docs/report.md): written as one JSON document, one group or device per line,
 * so that a host with thousands of devices never needs the whole document in memory at once. */
int report_write(const Model *m, FILE *f);
/* The same document in a malloc'd string (for GetHostReport). */
int report_to_string(const Model *m, char **ret);

/* Pieces, for the bus glue and tests. */
int report_host_json(const Model *m, struct json_object **ret);
int report_group_json(const Group *g, struct json_object **ret);
int report_device_json(const Device *d, struct json_object **ret);
