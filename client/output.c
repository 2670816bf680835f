/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "escape.h"
#include "json-util.h"
#include "macro.h"
#include "output.h"

/* Label column widths: the longest label of each view plus nothing, so values line up. */
#define STATUS_WIDTH 19 /* "Interrupt remapping" */
#define SHOW_WIDTH 17   /* "Physical function" */

/* ---- small readers that never fail: wrong type or missing key is NULL / false ---- */

static json_object *jget(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!json_object_is_type(o, json_type_object))
                return NULL;
        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v = jget(o, key);

        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static json_object *jarray(json_object *o, const char *key) {
        json_object *v = jget(o, key);

        return json_object_is_type(v, json_type_array) ? v : NULL;
}

static size_t jlen(json_object *array) {
        return array ? json_object_array_length(array) : 0;
}

/* The i-th element of an array of strings; NULL if it is not a string. */
static const char *jidx_str(json_object *array, size_t i) {
        json_object *v = json_object_array_get_idx(array, i);

        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Returns 1 for true, 0 for false, -1 when the key is missing, null or not a boolean. */
static int jbool(json_object *o, const char *key) {
        json_object *v = jget(o, key);

        if (!json_object_is_type(v, json_type_boolean))
                return -1;
        return json_object_get_boolean(v) ? 1 : 0;
}

static bool jint(json_object *o, const char *key, int64_t *ret) {
        json_object *v = jget(o, key);

        if (!json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

static const char *yes_no(int b) {
        return b < 0 ? "n/a" : b ? "yes" : "no";
}

/* "0x8086" -> "8086"; the report spells ids with a 0x prefix. */
static const char *hex_id(const char *s) {
        if (!s)
                return "????";
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                return s + 2;
        return s;
}

static const char *driver_of(json_object *dev) {
        const char *d = jstr(dev, "driver");

        return isempty(d) ? "(none)" : d;
}

static void print_label(FILE *f, int width, const char *label) {
        fprintf(f, "%*s: ", width, label);
}

static void print_continuation(FILE *f, int width) {
        fprintf(f, "%*s  ", width, "");
}

static void print_names(FILE *f, json_object *dev) {
        const char *v = jstr(dev, "vendor_name"), *d = jstr(dev, "device_name");

        if (v && d)
                fprintf(f, "%s %s", v, d);
        else if (v)
                fprintf(f, "%s device %s", v, hex_id(jstr(dev, "device")));
        else if (d)
                fputs(d, f);
        else
                fputs("(unknown device)", f);
}

/* Escapes every string in o, in place (see output.h). */
static int escape_strings(json_object *o) {
        int r;

        switch (json_object_get_type(o)) {
        case json_type_string: {
                _cleanup_free_ char *e = cescape(json_object_get_string(o));

                if (!e)
                        return -ENOMEM;
                if (streq(e, json_object_get_string(o)))
                        return 0;
                return json_object_set_string(o, e) ? 0 : -ENOMEM;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++) {
                        r = escape_strings(json_object_array_get_idx(o, i));
                        if (r < 0)
                                return r;
                }
                return 0;
        case json_type_object: {
                json_object_object_foreach(o, key, value) {
                        (void) key; /* the keys are the daemon's schema */
                        r = escape_strings(value);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        default:
                return 0;
        }
}

/* ---- lookups ---- */

json_object *report_find_device(json_object *report, const char *address) {
        json_object *devices = jarray(report, "devices");

        if (!address)
                return NULL;
        for (size_t i = 0; i < jlen(devices); i++) {
                json_object *d = json_object_array_get_idx(devices, i);
                const char *a = jstr(d, "address");

                if (a && streq(a, address))
                        return d;
        }
        return NULL;
}

json_object *report_find_group(json_object *report, uint32_t id) {
        json_object *groups = jarray(report, "groups");

        for (size_t i = 0; i < jlen(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i);
                int64_t n;

                if (jint(g, "id", &n) && n == (int64_t) id)
                        return g;
        }
        return NULL;
}

/* ---- device lines shared by list and show ---- */

typedef struct Columns {
        int driver_width;
        bool bridge; /* some device in the view is a bridge: reserve the column */
} Columns;

static void columns_add(Columns *c, json_object *dev) {
        c->driver_width = MAX(c->driver_width, (int) strlen(driver_of(dev)));
        if (jbool(dev, "bridge") > 0)
                c->bridge = true;
}

static void print_device_line(FILE *f, const Columns *c, json_object *dev) {
        fprintf(f, "%s [%s:%s] %-*s ", strna(jstr(dev, "address")), hex_id(jstr(dev, "vendor")),
                hex_id(jstr(dev, "device")), c->driver_width, driver_of(dev));
        if (c->bridge)
                fputs(jbool(dev, "bridge") > 0 ? "bridge " : "       ", f);
        print_names(f, dev);
        fputc('\n', f);
}

/* The group's members, resolved against the report's device list. */
static void group_columns(json_object *report, json_object *group, Columns *c) {
        json_object *members = jarray(group, "devices");

        for (size_t i = 0; i < jlen(members); i++) {
                json_object *d = report_find_device(report, jidx_str(members, i));
                if (d)
                        columns_add(c, d);
        }
}

/* cont_width < 0: list style, every line indented by two; else the first line follows a label
 * and the others are indented to line up with it. */
static void print_group_members(FILE *f, int cont_width, json_object *report, json_object *group,
                                const Columns *c) {
        json_object *members = jarray(group, "devices");

        for (size_t i = 0; i < jlen(members); i++) {
                const char *a = jidx_str(members, i);
                json_object *d = report_find_device(report, a);

                if (cont_width < 0)
                        fputs("  ", f);
                else if (i > 0)
                        print_continuation(f, cont_width);
                if (d)
                        print_device_line(f, c, d);
                else
                        fprintf(f, "%s (not in the device list)\n", strna(a));
        }
}

static void print_blocker(FILE *f, json_object *b) {
        const char *dev = jstr(b, "device"), *reason = strna(jstr(b, "reason"));

        fputs(strna(jstr(b, "code")), f);
        /* Name the device unless the reason already starts with it. */
        if (!isempty(dev) && !strneq(reason, dev, strlen(dev)))
                fprintf(f, " %s", dev);
        fprintf(f, ": %s\n", reason);
}

static const char *group_verdict(json_object *group) {
        return jbool(group, "assignable") > 0 ? "assignable" : "blocked";
}

static void print_group_heading(FILE *f, json_object *group) {
        const char *type = jstr(group, "type");
        int64_t id = -1;

        (void) jint(group, "id", &id);
        fprintf(f, "Group %" PRIi64, id);
        if (!isempty(type))
                fprintf(f, " (%s)", type);
        fprintf(f, ": %s", group_verdict(group));
        /* The daemon's job on the group (GetHostReport's "job", the Group's Job property). */
        if (!isempty(jstr(group, "job")))
                fprintf(f, ", %s running", jstr(group, "job"));
        fputc('\n', f);
}

/* ---- list ---- */

static void render_list(FILE *f, json_object *report) {
        json_object *groups = jarray(report, "groups"), *devices = jarray(report, "devices");
        size_t n_assignable = 0, n_ungrouped = 0;
        Columns c = { .driver_width = 6 };

        /* One width for the whole listing, so columns line up across groups. */
        for (size_t i = 0; i < jlen(devices); i++)
                columns_add(&c, json_object_array_get_idx(devices, i));

        for (size_t i = 0; i < jlen(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i);
                json_object *blockers = jarray(g, "blockers");

                if (jbool(g, "assignable") > 0)
                        n_assignable++;
                print_group_heading(f, g);
                print_group_members(f, -1, report, g, &c);
                for (size_t j = 0; j < jlen(blockers); j++) {
                        fputs("  blocker: ", f);
                        print_blocker(f, json_object_array_get_idx(blockers, j));
                }
        }

        for (size_t i = 0; i < jlen(devices); i++) {
                json_object *d = json_object_array_get_idx(devices, i);

                if (jget(d, "group"))
                        continue;
                if (n_ungrouped++ == 0)
                        fputs("No IOMMU group:\n", f);
                fputs("  ", f);
                print_device_line(f, &c, d);
        }

        if (jlen(groups) > 0 || jlen(devices) > 0)
                fputc('\n', f);
        fprintf(f, "%zu group%s (%zu assignable, %zu blocked), %zu device%s", jlen(groups),
                jlen(groups) == 1 ? "" : "s", n_assignable, jlen(groups) - n_assignable,
                jlen(devices), jlen(devices) == 1 ? "" : "s");
        if (n_ungrouped > 0)
                fprintf(f, ", %zu without an IOMMU group", n_ungrouped);
        fputs(".\n", f);
        if (jlen(groups) == 0 && jbool(jget(report, "host"), "iommu_present") == 0)
                fputs("No IOMMU is active, so no device can be assigned "
                      "(see 'assignctl status').\n",
                      f);
}

/* ---- status ---- */

static void print_string_list(FILE *f, int width, const char *label, json_object *array,
                              const char *empty) {
        print_label(f, width, label);
        if (jlen(array) == 0) {
                fprintf(f, "%s\n", empty);
                return;
        }
        for (size_t i = 0; i < jlen(array); i++) {
                if (i > 0)
                        print_continuation(f, width);
                fprintf(f, "%s\n", strna(jidx_str(array, i)));
        }
}

static void print_ir(FILE *f, json_object *host) {
        const char *ir = jstr(host, "interrupt_remapping");
        json_object *reasons = jarray(host, "interrupt_remapping_reasons");

        print_label(f, STATUS_WIDTH, "Interrupt remapping");
        if (ir && streq(ir, "enabled"))
                fputs("enabled\n", f);
        else if (ir && (streq(ir, "disabled") || streq(ir, "unsupported")))
                /* Without IR an assigned device can raise arbitrary interrupts on the host
                 * (Documentation/driver-api/vfio.rst); VFIO refuses unless told otherwise. */
                fprintf(f, "%s -- assignment is NOT safe on this host\n", ir);
        else
                fprintf(f, "%s\n", ir ?: "n/a");
        for (size_t i = 0; i < jlen(reasons); i++) {
                print_continuation(f, STATUS_WIDTH);
                fprintf(f, "- %s\n", strna(jidx_str(reasons, i)));
        }
}

static void print_units(FILE *f, json_object *host) {
        json_object *units = jarray(host, "units");

        print_label(f, STATUS_WIDTH, "Units");
        if (jlen(units) == 0) {
                fputs("(none)\n", f);
                return;
        }
        for (size_t i = 0; i < jlen(units); i++) {
                json_object *u = json_object_array_get_idx(units, i);

                if (i > 0)
                        print_continuation(f, STATUS_WIDTH);
                fprintf(f, "%s ecap %s IR %s\n", strna(jstr(u, "name")), strna(jstr(u, "ecap")),
                        yes_no(jbool(u, "interrupt_remapping")));
        }
}

static const char *unsafe_str(int b) {
        return b < 0 ? "n/a" : b ? "ALLOWED (unsafe)" : "no";
}

static void print_modules(FILE *f, json_object *host) {
        static const char *const names[] = { "vfio", "vfio_pci", "vfio_iommu_type1", "iommufd" };
        json_object *modules = jget(host, "modules");

        print_label(f, STATUS_WIDTH, "Modules");
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                fprintf(f, "%s%s %s", i > 0 ? ", " : "", names[i],
                        yes_no(jbool(modules, names[i])));
        fputc('\n', f);
}

static void print_hugepages(FILE *f, json_object *host) {
        json_object *pools = jarray(host, "hugepages");

        print_label(f, STATUS_WIDTH, "Hugepages");
        if (jlen(pools) == 0) {
                fputs("(none)\n", f);
                return;
        }
        for (size_t i = 0; i < jlen(pools); i++) {
                json_object *p = json_object_array_get_idx(pools, i);
                int64_t size = 0, total = 0, free_pages = 0;

                if (i > 0)
                        print_continuation(f, STATUS_WIDTH);
                (void) jint(p, "size_kb", &size);
                (void) jint(p, "total", &total);
                (void) jint(p, "free", &free_pages);
                fprintf(f, "%" PRIi64 " kB: %" PRIi64 " total, %" PRIi64 " free\n", size, total,
                        free_pages);
        }
}

static const char *structure_type(json_object *structures, size_t i) {
        return strna(jstr(json_object_array_get_idx(structures, i), "type"));
}

/* "DRHD x1, RMRR x2": structure types in table order with their counts. */
static void print_structure_counts(FILE *f, json_object *structures) {
        size_t n = jlen(structures);

        for (size_t i = 0; i < n; i++) {
                const char *type = structure_type(structures, i);
                size_t count = 0;
                bool first = true;

                for (size_t j = 0; j < i && first; j++)
                        first = !streq(structure_type(structures, j), type);
                if (!first)
                        continue;
                for (size_t j = i; j < n; j++)
                        count += streq(structure_type(structures, j), type);
                fprintf(f, "%s%s x%zu", i > 0 ? ", " : "", type, count);
        }
}

static void print_dmar(FILE *f, json_object *report) {
        json_object *dmar = jget(report, "dmar");
        json_object *structures, *notes;
        int64_t rev = 0, haw = 0, flags = 0;
        const char *err;

        print_label(f, STATUS_WIDTH, "DMAR");
        if (!dmar) {
                fputs("(no table)\n", f);
                return;
        }
        err = jstr(dmar, "error");
        if (err) {
                fprintf(f, "unreadable: %s\n", err);
                return;
        }
        (void) jint(dmar, "revision", &rev);
        (void) jint(dmar, "host_address_width", &haw);
        (void) jint(dmar, "flags", &flags);
        /* DMAR flags bit 0 is INTR_REMAP (VT-d spec 8.1, "DMA Remapping Reporting Structure"). */
        fprintf(f,
                "revision %" PRIi64 ", OEM %s %s, %" PRIi64 "-bit addresses, flags 0x%" PRIx64
                "%s\n",
                rev, strna(jstr(dmar, "oem_id")), strempty(jstr(dmar, "oem_table_id")), haw,
                (uint64_t) flags, flags & 1 ? " (INTR_REMAP)" : "");
        structures = jarray(dmar, "structures");
        print_continuation(f, STATUS_WIDTH);
        if (jlen(structures) == 0)
                fputs("no remapping structures\n", f);
        else {
                print_structure_counts(f, structures);
                fputc('\n', f);
        }
        notes = jarray(dmar, "notes");
        for (size_t i = 0; i < jlen(notes); i++) {
                print_continuation(f, STATUS_WIDTH);
                fprintf(f, "- %s\n", strna(jidx_str(notes, i)));
        }
}

static void render_status(FILE *f, json_object *report) {
        json_object *host = jget(report, "host");
        const char *kind = jstr(host, "iommu_kind");
        int present = jbool(host, "iommu_present");
        int64_t limit;

        print_label(f, STATUS_WIDTH, "IOMMU");
        fprintf(f, "%s", present < 0 ? "n/a" : present ? "present" : "not present");
        if (!isempty(kind) && !streq(kind, "none"))
                fprintf(f, " (%s)", kind);
        fputc('\n', f);
        print_ir(f, host);
        print_units(f, host);

        print_label(f, STATUS_WIDTH, "Unsafe interrupts");
        fprintf(f, "vfio_iommu_type1 %s, iommufd %s\n",
                unsafe_str(jbool(host, "unsafe_interrupts_allowed")),
                unsafe_str(jbool(host, "iommufd_unsafe_interrupts_allowed")));
        print_label(f, STATUS_WIDTH, "DMA entry limit");
        if (jint(host, "dma_entry_limit", &limit))
                fprintf(f, "%" PRIi64 "\n", limit);
        else
                fputs("n/a\n", f);

        print_modules(f, host);
        print_label(f, STATUS_WIDTH, "Device nodes");
        fprintf(f, "/dev/vfio/vfio %s, /dev/iommu %s\n", yes_no(jbool(host, "vfio_container_node")),
                yes_no(jbool(host, "iommufd_node")));
        print_label(f, STATUS_WIDTH, "Kernel");
        fprintf(f, "%s\n", jstr(host, "kernel_release") ?: "n/a");
        print_hugepages(f, host);
        print_dmar(f, report);
        if (jlen(jarray(host, "errors")) > 0)
                print_string_list(f, STATUS_WIDTH, "Errors", jarray(host, "errors"), "(none)");
}

/* ---- show ---- */

static void print_blockers(FILE *f, int width, json_object *group) {
        json_object *blockers = jarray(group, "blockers");

        print_label(f, width, "Blockers");
        if (jlen(blockers) == 0) {
                fputs("(none)\n", f);
                return;
        }
        for (size_t i = 0; i < jlen(blockers); i++) {
                if (i > 0)
                        print_continuation(f, width);
                print_blocker(f, json_object_array_get_idx(blockers, i));
        }
}

static void print_members(FILE *f, int width, json_object *report, json_object *group) {
        Columns c = { .driver_width = 6 };

        group_columns(report, group, &c);
        print_label(f, width, "Devices");
        if (jlen(jarray(group, "devices")) == 0) {
                fputs("(none)\n", f);
                return;
        }
        print_group_members(f, width, report, group, &c);
}

static void print_opt_string(FILE *f, const char *label, json_object *o, const char *key) {
        const char *s = jstr(o, key);

        print_label(f, SHOW_WIDTH, label);
        fprintf(f, "%s\n", isempty(s) ? "(none)" : s);
}

static void print_opt_int(FILE *f, const char *label, json_object *o, const char *key) {
        int64_t v;

        print_label(f, SHOW_WIDTH, label);
        if (jint(o, key, &v))
                fprintf(f, "%" PRIi64 "\n", v);
        else
                fputs("(none)\n", f);
}

static void print_word_list(FILE *f, const char *label, json_object *array) {
        print_label(f, SHOW_WIDTH, label);
        if (jlen(array) == 0) {
                fputs("(none)\n", f);
                return;
        }
        for (size_t i = 0; i < jlen(array); i++)
                fprintf(f, "%s%s", i > 0 ? " " : "", strna(jidx_str(array, i)));
        fputc('\n', f);
}

static void render_device(FILE *f, json_object *report, json_object *dev) {
        Columns c = { .driver_width = 0 };
        json_object *group = NULL;
        const char *hc = jstr(dev, "host_critical");
        int64_t gid, total;

        print_device_line(f, &c, dev);
        print_label(f, SHOW_WIDTH, "Vendor");
        fprintf(f, "%s %s\n", strna(jstr(dev, "vendor")), jstr(dev, "vendor_name") ?: "(unknown)");
        print_label(f, SHOW_WIDTH, "Device");
        fprintf(f, "%s %s\n", strna(jstr(dev, "device")), jstr(dev, "device_name") ?: "(unknown)");
        print_label(f, SHOW_WIDTH, "Subsystem");
        fprintf(f, "%s:%s\n", strna(jstr(dev, "subsystem_vendor")),
                strna(jstr(dev, "subsystem_device")));
        print_label(f, SHOW_WIDTH, "Class");
        fprintf(f, "%s\n", strna(jstr(dev, "class")));
        print_opt_string(f, "Driver", dev, "driver");
        print_opt_string(f, "Driver override", dev, "driver_override");
        print_label(f, SHOW_WIDTH, "Bridge");
        fprintf(f, "%s\n", yes_no(jbool(dev, "bridge")));
        print_word_list(f, "Reset methods", jarray(dev, "reset_methods"));
        print_opt_int(f, "NUMA node", dev, "numa_node");
        print_opt_string(f, "PCIe root", dev, "pcie_root");
        print_label(f, SHOW_WIDTH, "Boot VGA");
        fprintf(f, "%s\n", yes_no(jbool(dev, "boot_vga")));
        print_label(f, SHOW_WIDTH, "SR-IOV");
        if (jint(dev, "sriov_totalvfs", &total)) {
                int64_t num = 0;

                (void) jint(dev, "sriov_numvfs", &num);
                fprintf(f, "%" PRIi64 " of %" PRIi64 " VFs enabled\n", num, total);
        } else
                fputs("(not capable)\n", f);
        print_opt_string(f, "Physical function", dev, "physfn");
        print_word_list(f, "Virtual functions", jarray(dev, "virtfns"));
        print_opt_string(f, "VFIO device", dev, "vfio_device");
        print_label(f, SHOW_WIDTH, "RMRR locked");
        fprintf(f, "%s\n", yes_no(jbool(dev, "rmrr_locked")));
        print_label(f, SHOW_WIDTH, "Host critical");
        fprintf(f, "%s%s\n", hc ? "yes: " : "no", strempty(hc));

        print_label(f, SHOW_WIDTH, "Group");
        if (!jint(dev, "group", &gid) || gid < 0 || gid > UINT32_MAX) {
                fputs("(none)\n", f);
                return;
        }
        group = report_find_group(report, (uint32_t) gid);
        if (!group) {
                fprintf(f, "%" PRIi64 " (not in the report)\n", gid);
                return;
        }
        fprintf(f, "%" PRIi64 ", %s\n", gid, group_verdict(group));
        print_members(f, SHOW_WIDTH, report, group);
        print_blockers(f, SHOW_WIDTH, group);
}

static void render_group(FILE *f, json_object *report, json_object *group) {
        json_object *regions = jarray(group, "reserved_regions");

        print_group_heading(f, group);
        print_members(f, SHOW_WIDTH, report, group);
        print_blockers(f, SHOW_WIDTH, group);
        print_label(f, SHOW_WIDTH, "Reserved regions");
        if (jlen(regions) == 0)
                fputs("(none)\n", f);
        for (size_t i = 0; i < jlen(regions); i++) {
                json_object *r = json_object_array_get_idx(regions, i);

                if (i > 0)
                        print_continuation(f, SHOW_WIDTH);
                /* "direct" is an RMRR the kernel will not relax (sysfs-kernel-iommu_groups). */
                fprintf(f, "%s-%s %s\n", strna(jstr(r, "start")), strna(jstr(r, "end")),
                        strna(jstr(r, "type")));
        }
}

/* ---- policy ---- */

#define POLICY_WIDTH 5 /* "Files", "Rules" */

static void render_verdict(FILE *f, const char *address, json_object *v) {
        json_object *reasons = jarray(v, "reasons"), *rule = jget(v, "rule");
        json_object *backend = jget(v, "backend");
        const char *user = jstr(v, "user"), *key = jstr(v, "policy_key");
        int64_t group = -1, uid = -1, index = -1;

        (void) jint(v, "group", &group);
        (void) jint(v, "uid", &uid);
        fprintf(f, "%s (IOMMU group %" PRIi64 ") for ", address, group);
        if (user)
                fprintf(f, "user %s (uid %" PRIi64 ")", user, uid);
        else
                fprintf(f, "uid %" PRIi64, uid);

        if (jbool(v, "allowed") > 0) {
                if (jstr(rule, "file")) {
                        (void) jint(rule, "index", &index);
                        fprintf(f, ": ALLOWED by %s rule %" PRIi64 "\n", jstr(rule, "file"), index);
                } else
                        fputs(": ALLOWED by default (no rule matches; root may claim)\n", f);
        } else
                fprintf(f, ": DENIED (%s):\n", strna(jstr(v, "code")));
        for (size_t i = 0; i < jlen(reasons); i++)
                fprintf(f, "  %s\n", strna(jidx_str(reasons, i)));
        if (jbool(v, "set_unsafe_interrupts") > 0)
                fputs("Claiming it sets vfio_iommu_type1.allow_unsafe_interrupts: the device can "
                      "forge interrupts.\n",
                      f);
        if (key)
                fprintf(f, "Policy key to change: %s\n", key);
        if (jbool(v, "allowed") > 0 && jstr(backend, "name")) {
                int64_t pin_index = -1;

                (void) jint(jget(backend, "rule"), "index", &pin_index);
                fprintf(f,
                        "Backend: %s, pinned by %s rule %" PRIi64
                        " (for %s): a claim that asks for "
                        "another is refused.\n",
                        jstr(backend, "name"), strna(jstr(jget(backend, "rule"), "file")),
                        pin_index, strna(jstr(backend, "device")));
        }
}

/* Strings bare, everything else as compact JSON. */
static void print_json_value(FILE *f, json_object *v) {
        if (json_object_is_type(v, json_type_string))
                fputs(json_object_get_string(v), f);
        else
                fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE),
                      f);
}

static void render_policy(FILE *f, json_object *policy) {
        json_object *errors = jarray(policy, "errors"), *host = jget(policy, "host");
        json_object *sources = jget(policy, "host_sources");
        size_t width = 0, i = 0;

        /* First, so nobody reads the policy below as the one on disk. */
        if (jbool(policy, "in_force") == 0)
                fputs("POLICY ERROR: no policy is in force (the files could not be loaded when the "
                      "daemon started): claims and prepares are refused until they are fixed and "
                      "reloaded:\n",
                      f);
        else if (jlen(errors) > 0)
                fputs("POLICY ERROR: the last reload failed; the previous policy stays in "
                      "force:\n",
                      f);
        if (jlen(errors) > 0) {
                for (size_t j = 0; j < jlen(errors); j++)
                        fprintf(f, "  %s\n", strna(jidx_str(errors, j)));
                fputc('\n', f);
        }
        print_string_list(f, POLICY_WIDTH, "Files", jarray(policy, "files"),
                          "(none: the built-in default)");
        print_label(f, POLICY_WIDTH, "Rules");
        fprintf(f, "%zu\n", jlen(jarray(policy, "rules")));

        print_label(f, POLICY_WIDTH, "Host");
        if (!json_object_is_type(host, json_type_object) || json_object_object_length(host) == 0) {
                fputs("n/a\n", f);
                return;
        }
        json_object_object_foreach(host, k1, v1) {
                (void) v1;
                width = MAX(width, strlen(k1));
        }
        json_object_object_foreach(host, key, value) {
                const char *source = jstr(sources, key);

                if (i++ > 0)
                        print_continuation(f, POLICY_WIDTH);
                fprintf(f, "%-*s ", (int) width, key);
                print_json_value(f, value);
                fprintf(f, " (%s%s)\n", source ? "set in " : "", source ? source : "default");
        }
}

/* ---- leases ---- */

/* "held by 1234 (qemu-system-x86), 1240 (vfio-helper)" under a stuck lease's row. */
static void render_holders(FILE *f, json_object *holders, int indent) {
        if (jlen(holders) == 0)
                return;
        fprintf(f, "%*sheld by ", indent, "");
        for (size_t i = 0; i < jlen(holders); i++) {
                json_object *h = json_object_array_get_idx(holders, i);
                int64_t pid = 0;

                (void) jint(h, "pid", &pid);
                fprintf(f, "%s%" PRIi64 " (%s)", i > 0 ? ", " : "", pid, strna(jstr(h, "command")));
        }
        fputc('\n', f);
}

/* The HOLDER column: a claim's unique name, or the owner key of a lease that has one instead. */
static const char *holder_or_owner(json_object *l) {
        return jstr(l, "holder") ?: jstr(l, "owner") ?: "-";
}

/* "CDI vfio-assignd.org/group=8 vfio-assignd.org/group=0000_03_00.0" under a listed lease. */
static void render_cdi(FILE *f, json_object *names, int indent) {
        if (jlen(names) == 0)
                return;
        fprintf(f, "%*sCDI", indent, "");
        for (size_t i = 0; i < jlen(names); i++)
                fprintf(f, " %s", strna(jidx_str(names, i)));
        fputc('\n', f);
}

static void render_leases(FILE *f, json_object *leases) {
        int w_id = 2, w_group = 5, w_kind = 4, w_backend = 7, w_state = 5, w_holder = 6, w_uid = 3;

        if (jlen(leases) == 0) {
                fputs("No leases.\n", f);
                return;
        }
        for (size_t i = 0; i < jlen(leases); i++) {
                json_object *l = json_object_array_get_idx(leases, i);
                char buf[32];
                int64_t n = 0;

                (void) jint(l, "id", &n);
                w_id = MAX(w_id, snprintf(buf, sizeof(buf), "%" PRIi64, n));
                (void) jint(l, "group", &n);
                w_group = MAX(w_group, snprintf(buf, sizeof(buf), "%" PRIi64, n));
                (void) jint(l, "uid", &n);
                w_uid = MAX(w_uid, snprintf(buf, sizeof(buf), "%" PRIi64, n));
                w_kind = MAX(w_kind, (int) strlen(strna(jstr(l, "kind"))));
                w_backend = MAX(w_backend, (int) strlen(jstr(l, "backend") ?: "-"));
                w_state = MAX(w_state, (int) strlen(strna(jstr(l, "state"))));
                w_holder = MAX(w_holder, (int) strlen(holder_or_owner(l)));
        }
        fprintf(f, "%*s %*s %-*s %-*s %-*s %-*s %*s DEVICES\n", w_id, "ID", w_group, "GROUP",
                w_kind, "KIND", w_backend, "BACKEND", w_state, "STATE", w_holder, "HOLDER", w_uid,
                "UID");
        for (size_t i = 0; i < jlen(leases); i++) {
                json_object *l = json_object_array_get_idx(leases, i);
                json_object *devices = jarray(l, "devices");
                int64_t id = 0, group = 0, uid = 0;

                (void) jint(l, "id", &id);
                (void) jint(l, "group", &group);
                (void) jint(l, "uid", &uid);
                fprintf(f, "%*" PRIi64 " %*" PRIi64 " %-*s %-*s %-*s %-*s %*" PRIi64 " ", w_id, id,
                        w_group, group, w_kind, strna(jstr(l, "kind")), w_backend,
                        jstr(l, "backend") ?: "-", w_state, strna(jstr(l, "state")), w_holder,
                        holder_or_owner(l), w_uid, uid);
                if (jlen(devices) == 0)
                        fputc('-', f);
                for (size_t j = 0; j < jlen(devices); j++)
                        fprintf(f, "%s%s", j > 0 ? " " : "", strna(jidx_str(devices, j)));
                fputc('\n', f);
                render_holders(f, jarray(l, "holders"), w_id + 1);
                render_cdi(f, jarray(l, "cdi_devices"), w_id + 1);
        }
}

static void render_lease(FILE *f, const char *verb, json_object *lease, const char *suffix) {
        json_object *devices = jarray(lease, "devices");
        int64_t id = 0, group = 0;

        (void) jint(lease, "id", &id);
        (void) jint(lease, "group", &group);
        fprintf(f, "%s IOMMU group %" PRIi64 " (devices", verb, group);
        for (size_t i = 0; i < jlen(devices); i++)
                fprintf(f, " %s", strna(jidx_str(devices, i)));
        fprintf(f, ") as lease %" PRIi64 " (%s)%s%s%s\n", id, strna(jstr(lease, "path")),
                jstr(lease, "owner") ? " for owner " : "", strempty(jstr(lease, "owner")), suffix);
        render_cdi(f, jarray(lease, "cdi_devices"), 0);
}

/* ---- the entry points: escape, then render ---- */

int output_status(FILE *f, json_object *report) {
        int r = escape_strings(report);

        if (r >= 0)
                render_status(f, report);
        return r;
}

int output_list(FILE *f, json_object *report) {
        int r = escape_strings(report);

        if (r >= 0)
                render_list(f, report);
        return r;
}

int output_device(FILE *f, json_object *report, json_object *device) {
        int r = escape_strings(report);

        if (r >= 0)
                render_device(f, report, device);
        return r;
}

int output_group(FILE *f, json_object *report, json_object *group) {
        int r = escape_strings(report);

        if (r >= 0)
                render_group(f, report, group);
        return r;
}

int output_verdict(FILE *f, const char *address, json_object *verdict) {
        int r = escape_strings(verdict);

        if (r >= 0)
                render_verdict(f, address, verdict);
        return r;
}

int output_policy(FILE *f, json_object *policy) {
        int r = escape_strings(policy);

        if (r >= 0)
                render_policy(f, policy);
        return r;
}

int output_leases(FILE *f, json_object *leases) {
        int r = escape_strings(leases);

        if (r >= 0)
                render_leases(f, leases);
        return r;
}

int output_lease(FILE *f, const char *verb, json_object *lease, const char *suffix) {
        int r = escape_strings(lease);

        if (r >= 0)
                render_lease(f, verb, lease, suffix);
        return r;
}

/* ---- sriov ---- */

json_object *sriov_summary(json_object *report, const char *pf) {
        json_object *dev = report_find_device(report, pf), *virtfns = jarray(dev, "virtfns");
        _cleanup_json_ json_object *o = NULL;
        json_object *vfs;
        int64_t total = -1, num = 0;
        int k = 0;

        if (!dev || !jint(dev, "sriov_totalvfs", &total) || total < 0)
                return NULL;
        (void) jint(dev, "sriov_numvfs", &num);
        o = json_object_new_object();
        vfs = json_object_new_array();
        if (!o || json_add_new(o, "vfs", vfs) < 0)
                return NULL;
        k |= json_add_string(o, "pf", pf);
        k |= json_add_string(o, "driver", jstr(dev, "driver"));
        k |= json_add_new(o, "total", json_object_new_int64(total));
        k |= json_add_new(o, "num", json_object_new_int64(num));
        for (size_t i = 0; !k && i < jlen(virtfns); i++) {
                const char *a = jidx_str(virtfns, i);
                json_object *vf = report_find_device(report, a), *e = json_object_new_object();
                int64_t group;

                k |= json_append_new(vfs, e);
                if (k)
                        break;
                k |= json_add_string(e, "address", a);
                k |= json_add(e, "group",
                              vf && jint(vf, "group", &group) ? json_object_new_int64(group)
                                                              : NULL);
                k |= json_add_string(e, "driver", jstr(vf, "driver"));
        }
        return k ? NULL : TAKE_PTR(o);
}

int output_sriov(FILE *f, json_object *summary) {
        json_object *vfs = jarray(summary, "vfs");
        int64_t total = 0, num = 0;
        int r = escape_strings(summary);

        if (r < 0)
                return r;
        (void) jint(summary, "total", &total);
        (void) jint(summary, "num", &num);
        fprintf(f, "%s (%s): %" PRId64 " of %" PRId64 " VFs\n", strna(jstr(summary, "pf")),
                jstr(summary, "driver") ?: "no driver", num, total);
        for (size_t i = 0; i < jlen(vfs); i++) {
                json_object *vf = json_object_array_get_idx(vfs, i);
                int64_t group = -1;

                if (jint(vf, "group", &group))
                        fprintf(f, "  %s  group %-5" PRId64 " %s\n", strna(jstr(vf, "address")),
                                group, jstr(vf, "driver") ?: "no driver");
                else
                        fprintf(f, "  %s  no group    %s\n", strna(jstr(vf, "address")),
                                jstr(vf, "driver") ?: "no driver");
        }
        return 0;
}
