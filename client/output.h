/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/* Human-readable rendering of the host report (docs/report.md). These functions only read the
 * report; a missing or mistyped key is shown as "n/a" rather than treated as an error, so a
 * newer daemon with extra or renamed keys still gives readable output.
 *
 * The names, drivers, reasons and messages in these documents come from sysfs, pci.ids, policy
 * files and callers. Each function first escapes (cescape()) every string of the document it
 * is given, in place, so none can drive the terminal or forge a line: give each document to
 * one of them once. They return 0, or -ENOMEM having printed nothing. */

int output_status(FILE *f, json_object *report);
int output_list(FILE *f, json_object *report);
/* device and group belong to report, which is the document. */
int output_device(FILE *f, json_object *report, json_object *device);
int output_group(FILE *f, json_object *report, json_object *group);

/* policy explain: "ADDRESS (IOMMU group N) for user U (uid X): ALLOWED by FILE rule I" or
 * "...: DENIED (CODE):", then the reasons one per line, then the policy key when there is one. */
int output_verdict(FILE *f, const char *address, json_object *verdict);
/* policy status: the last reload error first, then files, rules and host settings. */
int output_policy(FILE *f, json_object *policy);
/* leases: a table of the lease objects in the array (see lease-cmd.c). */
int output_leases(FILE *f, json_object *leases);
/* claim and prepare: "VERB IOMMU group N (devices ...) as lease I (PATH)SUFFIX" for one lease
 * object. */
int output_lease(FILE *f, const char *verb, json_object *lease, const char *suffix);

/* sriov: the PF's SR-IOV facts from the report as {"pf", "driver", "total", "num", "vfs":
 * [{"address", "group", "driver"}]} (NULL: no such PF, or out of memory), and that object as
 * "PF (DRIVER): N of TOTAL VFs" and a line per VF. */
json_object *sriov_summary(json_object *report, const char *pf);
int output_sriov(FILE *f, json_object *summary);

/* Lookups in the report. They return borrowed references, or NULL when there is no match. */
json_object *report_find_device(json_object *report, const char *address);
json_object *report_find_group(json_object *report, uint32_t id);
