/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration: a private system bus with our bus policy, the real vfio-assignd on a sample host
 * tree, and two clients: assignctl and busctl (one nobody here wrote). See harness.h. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "names.h"
#include "util.h"

/* The device and group the brief's `show` cases use; the sample hosts have both. */
#define SHOW_DEVICE "0000:01:00.0"
#define SHOW_GROUP "1"
#define MISSING_DEVICE "0000:09:00.0"
#define EVENT_TIMEOUT_MS 20000

/* ---- JSON helpers ---- */

static json_object *report_device(json_object *report, const char *address) {
        json_object *devices = jget(report, "devices");

        for (size_t i = 0; i < jlen(devices); i++) {
                json_object *d = jidx(devices, i);

                if (streq(jstr_or_null(d, "address"), address))
                        return d;
        }
        return NULL;
}

static json_object *report_group(json_object *report, int64_t id) {
        json_object *groups = jget(report, "groups");

        for (size_t i = 0; i < jlen(groups); i++) {
                json_object *g = jidx(groups, i);

                if (json_object_get_int64(jget(g, "id")) == id)
                        return g;
        }
        return NULL;
}

/* A device the hotplug tests can take away and give back: a leaf (not a bridge, not part of
 * SR-IOV) with a driver, so unbind has something to drop. The last one in address order tends
 * to sit behind bridges, as hotplugged devices do. */
static json_object *pick_hotplug_device(json_object *report) {
        json_object *devices = jget(report, "devices"), *pick = NULL;

        for (size_t i = 0; i < jlen(devices); i++) {
                json_object *d = jidx(devices, i);

                if (!jstr_or_null(d, "driver") || json_object_get_boolean(jget(d, "bridge")) ||
                    jstr_or_null(d, "physfn") || jlen(jget(d, "virtfns")) > 0 || !jget(d, "group"))
                        continue;
                pick = d;
        }
        ck_assert_msg(pick, "the sample host has no leaf device with a driver");
        return pick;
}

/* ---- running the clients ---- */

static char *device_path(const char *address) {
        char *p = NULL;

        ck_assert_int_ge(sd_bus_path_encode(OBJ_DEVICE_PREFIX, address, &p), 0);
        return p;
}

/* ---- introspection ---- */

/* The <interface name="iface"> element of an introspection document, whitespace-normalised:
 * comments dropped, blanks between tags dropped, other runs of blanks made one space, and
 * " />" spelled "/>" -- so a pretty-printed file compares equal to what sd-bus emits. */
static char *interface_element(const char *xml, const char *iface) {
        _cleanup_free_ char *open_tag = NULL;
        const char *start, *end;
        char *norm, *w;
        bool space = false;

        ck_assert_int_ge(asprintf(&open_tag, "<interface name=\"%s\">", iface), 0);
        start = strstr(xml, open_tag);
        if (!start)
                return NULL;
        end = strstr(start, "</interface>");
        ck_assert_msg(end, "unterminated interface %s", iface);
        end += strlen("</interface>");

        norm = w = calloc(1, (size_t) (end - start) + 1);
        ck_assert_msg(norm, "out of memory");
        for (const char *c = start; c < end; c++) {
                if (strneq(c, "<!--", 4)) {
                        const char *close = strstr(c, "-->");

                        ck_assert_msg(close && close < end, "unterminated comment");
                        c = close + 2;
                        continue;
                }
                if (isspace((unsigned char) *c)) {
                        space = true;
                        continue;
                }
                /* a blank run survives only between two characters inside a tag */
                if (space && w > norm && w[-1] != '>' && *c != '<' && *c != '/' && *c != '>')
                        *w++ = ' ';
                space = false;
                *w++ = *c;
        }
        *w = '\0';
        return norm;
}

static char *first_object_path(const char *method) {
        _cleanup_json_ json_object *reply = busctl((char *) "call", (char *) BUS_NAME,
                                                   (char *) OBJ_ROOT, (char *) IFACE_MANAGER,
                                                   (char *) method);
        json_object *list = jidx(jget(reply, "data"), 0);

        ck_assert_uint_gt(jlen(list), 0);
        return strdup(json_object_get_string(jidx(jidx(list, 0), 1)));
}

START_TEST(test_introspection_matches_checked_in_xml) {
        _cleanup_free_ char *xml_path = path_join(H.top_srcdir, "dbus/" BUS_NAME ".xml");
        _cleanup_free_ char *file = read_file_or_abort(xml_path);
        static const struct {
                const char *iface;
                const char *list_method; /* where to find an object, NULL for the root */
        } cases[] = {
                { IFACE_MANAGER, NULL },
                { IFACE_GROUP, "ListGroups" },
                { IFACE_DEVICE, "ListDevices" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *want = interface_element(file, cases[i].iface);
                _cleanup_free_ char *path = NULL, *out = NULL, *err = NULL, *got = NULL;
                int r;

                /* The checked-in file describes at least the Manager; Group and Device are
                 * compared when it has them too. */
                if (!want) {
                        ck_assert_msg(i > 0, "%s has no %s interface", xml_path, cases[i].iface);
                        continue;
                }
                path = cases[i].list_method ? first_object_path(cases[i].list_method)
                                            : strdup(OBJ_ROOT);
                r = run(&out, &err, (char *) H.busctl, (char *) "--system",
                        (char *) "--xml-interface", (char *) "introspect", (char *) BUS_NAME, path);
                ck_assert_msg(r == 0, "busctl introspect %s: %s", path, err);
                got = interface_element(out, cases[i].iface);
                ck_assert_msg(got, "%s does not implement %s:\n%s", path, cases[i].iface, out);
                ck_assert_str_eq(got, want);
        }
}
END_TEST

/* ---- busctl against the report ---- */

START_TEST(test_busctl_list_groups) {
        _cleanup_json_ json_object *report = daemon_report();
        _cleanup_json_ json_object *reply = busctl((char *) "call", (char *) BUS_NAME,
                                                   (char *) OBJ_ROOT, (char *) IFACE_MANAGER,
                                                   (char *) "ListGroups");
        json_object *list;

        ck_assert_str_eq(jstr_or_null(reply, "type"), "a(uobas)");
        list = jidx(jget(reply, "data"), 0);
        ck_assert_uint_eq(jlen(list), jlen(jget(report, "groups")));
        ck_assert_uint_gt(jlen(list), 0);

        for (size_t i = 0; i < jlen(list); i++) {
                json_object *entry = jidx(list, i), *g;
                int64_t id = json_object_get_int64(jidx(entry, 0));
                _cleanup_free_ char *decoded = NULL, *want_id = NULL;

                g = report_group(report, id);
                ck_assert_msg(g, "ListGroups has group %" PRIi64 ", the report does not", id);
                /* the object path carries the id, encoded like any label */
                ck_assert_int_gt(sd_bus_path_decode(json_object_get_string(jidx(entry, 1)),
                                                    OBJ_GROUP_PREFIX, &decoded),
                                 0);
                ck_assert_int_ge(asprintf(&want_id, "%" PRIi64, id), 0);
                ck_assert_str_eq(decoded, want_id);
                ck_assert_int_eq(json_object_get_boolean(jidx(entry, 2)),
                                 json_object_get_boolean(jget(g, "assignable")));
                assert_json_equal(jidx(entry, 3), jget(g, "devices"), "group members");
        }
}
END_TEST

START_TEST(test_busctl_list_devices) {
        _cleanup_json_ json_object *report = daemon_report();
        _cleanup_json_ json_object *reply = busctl((char *) "call", (char *) BUS_NAME,
                                                   (char *) OBJ_ROOT, (char *) IFACE_MANAGER,
                                                   (char *) "ListDevices");
        json_object *list;

        ck_assert_str_eq(jstr_or_null(reply, "type"), "a(sosi)");
        list = jidx(jget(reply, "data"), 0);
        ck_assert_uint_eq(jlen(list), jlen(jget(report, "devices")));

        for (size_t i = 0; i < jlen(list); i++) {
                json_object *entry = jidx(list, i), *d, *group;
                const char *address = json_object_get_string(jidx(entry, 0));
                const char *driver;
                _cleanup_free_ char *decoded = NULL;

                d = report_device(report, address);
                ck_assert_msg(d, "ListDevices has %s, the report does not", address);
                ck_assert_int_gt(sd_bus_path_decode(json_object_get_string(jidx(entry, 1)),
                                                    OBJ_DEVICE_PREFIX, &decoded),
                                 0);
                ck_assert_str_eq(decoded, address);
                driver = jstr_or_null(d, "driver");
                ck_assert_str_eq(json_object_get_string(jidx(entry, 2)), driver ? driver : "");
                group = jget(d, "group");
                ck_assert_int_eq(json_object_get_int64(jidx(entry, 3)),
                                 group ? json_object_get_int64(group) : -1);
        }
}
END_TEST

START_TEST(test_busctl_get_host_report) {
        _cleanup_json_ json_object *report = daemon_report();
        _cleanup_json_ json_object *reply = busctl((char *) "call", (char *) BUS_NAME,
                                                   (char *) OBJ_ROOT, (char *) IFACE_MANAGER,
                                                   (char *) "GetHostReport");
        _cleanup_json_ json_object *doc = NULL;

        ck_assert_str_eq(jstr_or_null(reply, "type"), "s");
        /* busctl call prints the out arguments as an array: ["{...}"] */
        doc = parse_json(json_object_get_string(jidx(jget(reply, "data"), 0)), "GetHostReport");
        ck_assert_int_eq(json_object_get_int(jget(doc, "api_version")), API_VERSION);
        /* The daemon serves exactly what --report prints for the same tree. */
        assert_json_equal(doc, report, "GetHostReport and vfio-assignd --report");
}
END_TEST

static void assert_property(const char *path, const char *iface, const char *name, const char *type,
                            json_object *want) {
        _cleanup_json_ json_object *reply = get_property(path, iface, name);

        ck_assert_str_eq(jstr_or_null(reply, "type"), type);
        ck_assert_msg(json_object_equal(jget(reply, "data"), want), "%s %s.%s = %s, expected %s",
                      path, iface, name, json_object_to_json_string(jget(reply, "data")),
                      json_object_to_json_string(want));
}

/* "0x8086" -> 0x8086 as a JSON number, like busctl prints a 'q'. */
static json_object *hex_number(json_object *o, const char *key) {
        uint64_t v;

        ck_assert_int_eq(safe_atou64(jstr_or_null(o, key), 0, &v), 0);
        return json_object_new_int64((int64_t) v);
}

static json_object *string_or_empty(json_object *o, const char *key) {
        const char *s = jstr_or_null(o, key);

        return json_object_new_string(s ? s : "");
}

START_TEST(test_busctl_properties) {
        _cleanup_json_ json_object *report = daemon_report();
        json_object *host = jget(report, "host"), *dev, *group, *blockers;
        _cleanup_free_ char *dpath = device_path(SHOW_DEVICE);
        _cleanup_json_ json_object *reply = NULL, *want = NULL;
        _cleanup_free_ char *gpath = NULL;
        int64_t gid;

        want = json_object_new_int(API_VERSION);
        assert_property(OBJ_ROOT, IFACE_MANAGER, "APIVersion", "u", want);
        assert_property(OBJ_ROOT, IFACE_MANAGER, "InterruptRemapping", "s",
                        jget(host, "interrupt_remapping"));
        assert_property(OBJ_ROOT, IFACE_MANAGER, "IommuPresent", "b", jget(host, "iommu_present"));

        dev = report_device(report, SHOW_DEVICE);
        ck_assert_msg(dev, "the sample host lacks %s", SHOW_DEVICE);
        assert_property(dpath, IFACE_DEVICE, "Address", "s", jget(dev, "address"));
        {
                _cleanup_json_ json_object *v = hex_number(dev, "vendor");
                _cleanup_json_ json_object *d = hex_number(dev, "device");
                _cleanup_json_ json_object *c = hex_number(dev, "class");
                _cleanup_json_ json_object *drv = string_or_empty(dev, "driver");
                _cleanup_json_ json_object *vn = string_or_empty(dev, "vendor_name");

                assert_property(dpath, IFACE_DEVICE, "Vendor", "q", v);
                assert_property(dpath, IFACE_DEVICE, "Device", "q", d);
                assert_property(dpath, IFACE_DEVICE, "Class", "u", c);
                assert_property(dpath, IFACE_DEVICE, "Driver", "s", drv);
                assert_property(dpath, IFACE_DEVICE, "VendorName", "s", vn);
        }
        assert_property(dpath, IFACE_DEVICE, "Bridge", "b", jget(dev, "bridge"));
        assert_property(dpath, IFACE_DEVICE, "Group", "i", jget(dev, "group"));

        gid = json_object_get_int64(jget(dev, "group"));
        group = report_group(report, gid);
        ck_assert_msg(group, "group %" PRIi64 " missing from the report", gid);
        /* group paths spell the id in decimal (docs/org.vfioassign1.5) */
        ck_assert_int_ge(asprintf(&gpath, OBJ_GROUP_PREFIX "/%" PRIi64, gid), 0);
        assert_property(gpath, IFACE_GROUP, "Id", "u", jget(group, "id"));
        assert_property(gpath, IFACE_GROUP, "Devices", "as", jget(group, "devices"));
        assert_property(gpath, IFACE_GROUP, "Assignable", "b", jget(group, "assignable"));

        reply = get_property(gpath, IFACE_GROUP, "Blockers");
        ck_assert_str_eq(jstr_or_null(reply, "type"), "a(sss)");
        blockers = jget(group, "blockers");
        ck_assert_uint_eq(jlen(jget(reply, "data")), jlen(blockers));
        for (size_t i = 0; i < jlen(blockers); i++) {
                json_object *b = jidx(jget(reply, "data"), i);

                ck_assert_str_eq(json_object_get_string(jidx(b, 0)),
                                 jstr_or_null(jidx(blockers, i), "code"));
                ck_assert_str_eq(json_object_get_string(jidx(b, 2)),
                                 jstr_or_null(jidx(blockers, i), "reason"));
        }
}
END_TEST

/* ---- assignctl ---- */

START_TEST(test_assignctl_json_list_is_the_report) {
        _cleanup_json_ json_object *report = daemon_report();
        _cleanup_free_ char *out = NULL, *err = NULL, *short_out = NULL;
        _cleanup_json_ json_object *doc = NULL, *doc_short = NULL;
        int r;

        r = ASSIGNCTL(&out, &err, (char *) "--json", (char *) "list");
        ck_assert_msg(r == 0, "assignctl --json list: %d %s", r, err);
        doc = parse_json(out, "assignctl --json list");
        ck_assert_int_eq(json_object_object_length(doc), 2);
        assert_json_equal(jget(doc, "groups"), jget(report, "groups"), "groups");
        assert_json_equal(jget(doc, "devices"), jget(report, "devices"), "devices");

        /* --json=short: the same document on one line */
        r = ASSIGNCTL(&short_out, NULL, (char *) "--json=short");
        ck_assert_int_eq(r, 0);
        ck_assert_ptr_eq(strchr(short_out, '\n'), short_out + strlen(short_out) - 1);
        doc_short = parse_json(short_out, "assignctl --json=short");
        assert_json_equal(doc_short, doc, "--json=short and --json");
}
END_TEST

START_TEST(test_assignctl_list_human) {
        _cleanup_json_ json_object *report = daemon_report();
        json_object *devices = jget(report, "devices"), *groups = jget(report, "groups");
        _cleanup_free_ char *out = NULL, *err = NULL, *out_default = NULL;
        int r;

        r = ASSIGNCTL(&out, &err, (char *) "list");
        ck_assert_msg(r == 0, "assignctl list: %d %s", r, err);
        ck_assert_str_eq(err, "");
        /* list is the default verb */
        ck_assert_int_eq(ASSIGNCTL(&out_default, NULL, (char *) "--no-pager"), 0);
        ck_assert_str_eq(out_default, out);

        for (size_t i = 0; i < jlen(groups); i++) {
                json_object *g = jidx(groups, i), *blockers = jget(g, "blockers");
                _cleanup_free_ char *heading = NULL;

                ck_assert_int_ge(asprintf(&heading, "Group %" PRIi64,
                                          json_object_get_int64(jget(g, "id"))),
                                 0);
                assert_contains(out, heading);
                for (size_t j = 0; j < jlen(blockers); j++)
                        assert_contains(out, jstr_or_null(jidx(blockers, j), "reason"));
        }

        for (size_t i = 0; i < jlen(devices); i++) {
                json_object *d = jidx(devices, i);
                const char *addr = jstr_or_null(d, "address"), *drv = jstr_or_null(d, "driver");
                const char *vn = jstr_or_null(d, "vendor_name");
                const char *dn = jstr_or_null(d, "device_name");
                _cleanup_free_ char *needle = NULL;
                const char *line, *eol;
                _cleanup_free_ char *l = NULL;

                /* each device on its own line, with ids, driver or "(none)", names, bridge mark */
                ck_assert_int_ge(asprintf(&needle, "  %s [", addr), 0);
                line = strstr(out, needle);
                ck_assert_msg(line, "%s not listed:\n%s", addr, out);
                eol = strchr(line, '\n');
                l = strndup(line, eol ? (size_t) (eol - line) : strlen(line));
                assert_contains(l, drv ? drv : "(none)");
                if (vn)
                        assert_contains(l, vn);
                if (dn)
                        assert_contains(l, dn);
                if (json_object_get_boolean(jget(d, "bridge")))
                        assert_contains(l, " bridge ");
                else
                        ck_assert_msg(!strstr(l, " bridge "), "%s marked as a bridge", addr);
        }
        assert_contains(out, jlen(groups) == 1 ? "1 group " : "groups (");
}
END_TEST

START_TEST(test_assignctl_status) {
        _cleanup_json_ json_object *report = daemon_report(), *doc = NULL;
        json_object *host = jget(report, "host");
        json_object *reasons = jget(host, "interrupt_remapping_reasons");
        _cleanup_free_ char *out = NULL, *err = NULL, *json_out = NULL, *verdict = NULL;
        const char *kernel = jstr_or_null(host, "kernel_release");
        int r;

        r = ASSIGNCTL(&out, &err, (char *) "status");
        ck_assert_msg(r == 0, "assignctl status: %d %s", r, err);
        ck_assert_int_ge(asprintf(&verdict, "Interrupt remapping: %s",
                                  jstr_or_null(host, "interrupt_remapping")),
                         0);
        assert_contains(out, verdict);
        for (size_t i = 0; i < jlen(reasons); i++)
                assert_contains(out, json_object_get_string(jidx(reasons, i)));
        assert_contains(out, json_object_get_boolean(jget(host, "iommu_present"))
                                     ? "IOMMU: present"
                                     : "IOMMU: not present");
        if (kernel)
                assert_contains(out, kernel);
        assert_contains(out, "Modules: vfio ");

        r = ASSIGNCTL(&json_out, NULL, (char *) "--json=short", (char *) "status");
        ck_assert_int_eq(r, 0);
        doc = parse_json(json_out, "assignctl --json status");
        assert_json_equal(jget(doc, "host"), host, "status host");
        assert_json_equal(jget(doc, "dmar"), jget(report, "dmar"), "status dmar");
}
END_TEST

START_TEST(test_assignctl_show_device) {
        _cleanup_json_ json_object *report = daemon_report(), *doc = NULL;
        json_object *dev = report_device(report, SHOW_DEVICE), *group, *members, *blockers;
        _cleanup_free_ char *out = NULL, *err = NULL, *json_out = NULL, *gline = NULL;
        const char *drv;
        int r;

        ck_assert_msg(dev, "the sample host lacks %s", SHOW_DEVICE);
        r = ASSIGNCTL(&out, &err, (char *) "show", (char *) SHOW_DEVICE);
        ck_assert_msg(r == 0, "assignctl show: %d %s", r, err);
        assert_contains(out, SHOW_DEVICE);
        drv = jstr_or_null(dev, "driver");
        assert_contains(out, drv ? drv : "(none)");
        if (jstr_or_null(dev, "device_name"))
                assert_contains(out, jstr_or_null(dev, "device_name"));
        assert_contains(out, "Reset methods:");
        assert_contains(out, "Host critical:");

        group = report_group(report, json_object_get_int64(jget(dev, "group")));
        ck_assert_ptr_nonnull(group);
        ck_assert_int_ge(asprintf(&gline, "Group: %" PRIi64 ", %s",
                                  json_object_get_int64(jget(dev, "group")),
                                  json_object_get_boolean(jget(group, "assignable")) ? "assignable"
                                                                                     : "blocked"),
                         0);
        assert_contains(out, gline);
        members = jget(group, "devices");
        for (size_t i = 0; i < jlen(members); i++)
                assert_contains(out, json_object_get_string(jidx(members, i)));
        blockers = jget(group, "blockers");
        for (size_t i = 0; i < jlen(blockers); i++)
                assert_contains(out, jstr_or_null(jidx(blockers, i), "reason"));

        /* the short form of the address (domain 0 left out) finds the same device */
        r = ASSIGNCTL(&json_out, NULL, (char *) "--json", (char *) "show",
                      (char *) &SHOW_DEVICE[strlen("0000:")]);
        ck_assert_int_eq(r, 0);
        doc = parse_json(json_out, "assignctl --json show");
        assert_json_equal(doc, dev, "show --json and the report's device");
}
END_TEST

START_TEST(test_assignctl_show_group) {
        _cleanup_json_ json_object *report = daemon_report(), *doc = NULL;
        json_object *group = report_group(report, atoi(SHOW_GROUP)), *members;
        _cleanup_free_ char *out = NULL, *err = NULL, *json_out = NULL;
        int r;

        ck_assert_msg(group, "the sample host lacks group %s", SHOW_GROUP);
        r = ASSIGNCTL(&out, &err, (char *) "show", (char *) SHOW_GROUP);
        ck_assert_msg(r == 0, "assignctl show: %d %s", r, err);
        assert_contains(out, "Group " SHOW_GROUP);
        assert_contains(out, json_object_get_boolean(jget(group, "assignable")) ? ": assignable"
                                                                                : ": blocked");
        members = jget(group, "devices");
        for (size_t i = 0; i < jlen(members); i++)
                assert_contains(out, json_object_get_string(jidx(members, i)));
        assert_contains(out, "Reserved regions:");

        r = ASSIGNCTL(&json_out, NULL, (char *) "--json", (char *) "show", (char *) SHOW_GROUP);
        ck_assert_int_eq(r, 0);
        doc = parse_json(json_out, "assignctl --json show GROUP");
        assert_json_equal(doc, group, "show --json and the report's group");
}
END_TEST

START_TEST(test_assignctl_not_found) {
        _cleanup_free_ char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
        _cleanup_free_ char *out3 = NULL, *err3 = NULL;
        _cleanup_json_ json_object *e = NULL;
        int r;

        r = ASSIGNCTL(&out, &err, (char *) "show", (char *) MISSING_DEVICE);
        ck_assert_int_eq(r, 1);
        ck_assert_str_eq(out, "");
        assert_contains(err, "no device " MISSING_DEVICE);

        r = ASSIGNCTL(&out2, &err2, (char *) "show", (char *) "99999");
        ck_assert_int_eq(r, 1);
        assert_contains(err2, "group 99999 does not exist");

        /* with --json the error is JSON too */
        r = ASSIGNCTL(&out3, &err3, (char *) "--json", (char *) "show", (char *) MISSING_DEVICE);
        ck_assert_int_eq(r, 1);
        ck_assert_str_eq(out3, "");
        e = parse_json(err3, "assignctl --json error");
        ck_assert_int_eq(json_object_get_int(jget(jget(e, "error"), "exit_code")), 1);
        assert_contains(jstr_or_null(jget(e, "error"), "message"), "no device " MISSING_DEVICE);
}
END_TEST

START_TEST(test_assignctl_usage_errors) {
        static const struct {
                const char *args[4];
                const char *message;
        } cases[] = {
                { { "show" }, "Too few arguments" },
                { { "show", "1", "2" }, "Too many arguments" },
                { { "status", "now" }, "Too many arguments" },
                { { "show", "eth0" }, "Invalid argument 'eth0'" },
                { { "show", "-1" }, "Unknown option" },
                { { "show", "4294967296" }, "Invalid argument '4294967296'" },
                { { "show", "0000:00:00.8" }, "Invalid PCI address '0000:00:00.8'" },
                { { "show", "0000:100:00.0" }, "Invalid PCI address" },
                { { "frobnicate" }, "Unknown verb 'frobnicate'" },
                { { "--frobnicate" }, "Unknown option '--frobnicate'" },
                { { "-x" }, "Unknown option '-x'" },
                { { "--json=yaml" }, "Invalid --json= mode 'yaml'" },
                { { "--no-pager=yes" }, "takes no argument" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = NULL, *err = NULL;
                char *argv[6] = { (char *) H.assignctl };
                int r;

                for (size_t j = 0; j < 4 && cases[i].args[j]; j++)
                        argv[j + 1] = (char *) cases[i].args[j];
                r = run_argv(argv, &out, &err);
                ck_assert_msg(r == 2, "assignctl %s: exit %d, expected 2 (%s)", cases[i].args[0], r,
                              err);
                ck_assert_str_eq(out, "");
                assert_contains(err, cases[i].message);
        }
}
END_TEST

START_TEST(test_assignctl_help_version) {
        _cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL;

        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "help"), 0);
        assert_contains(out, "show ADDRESS|GROUP");
        assert_contains(out, "monitor");
        ck_assert_int_eq(ASSIGNCTL(&out2, NULL, (char *) "--help"), 0);
        ck_assert_str_eq(out2, out);
        ck_assert_int_eq(ASSIGNCTL(&out3, NULL, (char *) "--version"), 0);
        assert_contains(out3, "assignctl");
}
END_TEST

/* Exit 3 and say why, both when there is no bus and when the bus has no vfio-assignd. monitor
 * only without a bus: on a bus it waits for the daemon (test-client.c). */
static void assert_unreachable(const char *what, bool monitor) {
        static const char *const verbs[][2] = {
                { "list" }, { "status" }, { "show", "1" }, { "monitor" }
        };

        for (size_t i = 0; i < ELEMENTSOF(verbs) - !monitor; i++) {
                _cleanup_free_ char *out = NULL, *err = NULL;
                char *argv[] = { (char *) H.assignctl, (char *) verbs[i][0], (char *) verbs[i][1],
                                 NULL };
                int r;

                r = run_argv(argv, &out, &err);
                ck_assert_msg(r == 3, "%s, assignctl %s: exit %d (%s)", what, verbs[i][0], r, err);
                assert_contains(err,
                                "vfio-assignd is not running or not reachable on the system bus");
        }
}

START_TEST(test_assignctl_no_daemon) {
        _cleanup_free_ char *nowhere = NULL, *socket_path = NULL, *addr = NULL;
        _cleanup_free_ char *saved = strdup(getenv("DBUS_SYSTEM_BUS_ADDRESS"));
        int bus_stdout;
        pid_t bus;

        ck_assert_int_ge(asprintf(&nowhere, "unix:path=%s/no-such-socket", H.tmpdir), 0);
        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", nowhere, 1), 0);
        assert_unreachable("no bus", true);
        {
                _cleanup_free_ char *err = NULL;

                /* The reason is the connect's errno, spelled out. */
                ck_assert_int_eq(ASSIGNCTL(NULL, &err, (char *) "list"), 3);
                assert_contains(err, "cannot connect to the bus: No such file or directory");
        }

        /* A second private bus on which nobody owns the name. */
        socket_path = path_join(H.tmpdir, "empty-bus");
        bus = bus_start(socket_path, &addr, &bus_stdout);
        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1), 0);
        assert_unreachable("empty bus", false);
        bus_stop(bus, bus_stdout);

        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", saved, 1), 0);
}
END_TEST

/* ---- hotplug through the daemon's uevent FIFO ---- */

typedef struct SignalMatch {
        const char *member;
        const char *path;
        const char *property; /* PropertiesChanged: this key must be in the changed dict */
        const char *value;    /* ... with this string value; NULL: any value */
} SignalMatch;

/* One line of `busctl monitor --json=short`. */
static bool match_signal(const char *line, const void *data) {
        const SignalMatch *m = data;
        _cleanup_json_ json_object *o = json_tokener_parse(line);
        json_object *v, *payload, *args;

        if (!o || !json_object_object_get_ex(o, "type", &v) ||
            !streq(json_object_get_string(v), "signal"))
                return false;
        if (!json_object_object_get_ex(o, "member", &v) ||
            !streq(json_object_get_string(v), m->member))
                return false;
        if (!json_object_object_get_ex(o, "payload", &payload) ||
            !json_object_object_get_ex(payload, "data", &args) ||
            !json_object_is_type(args, json_type_array) || json_object_array_length(args) < 2)
                return false;

        if (!m->property) /* Interfaces{Added,Removed}: first argument is the object */
                return streq(json_object_get_string(json_object_array_get_idx(args, 0)), m->path);

        /* PropertiesChanged: the object is the signal's path, the dict the second argument */
        if (!json_object_object_get_ex(o, "path", &v) || !streq(json_object_get_string(v), m->path))
                return false;
        if (!json_object_object_get_ex(json_object_array_get_idx(args, 1), m->property, &v) ||
            !json_object_object_get_ex(v, "data", &v))
                return false;
        return !m->value || streq(json_object_get_string(v), m->value);
}

static bool match_line(const char *line, const void *want) {
        return streq(line, want);
}

typedef struct Watchers {
        Proc assignctl;
        Proc busctl;
} Watchers;

static void watchers_start(Watchers *w) {
        proc_spawn(&w->assignctl, (char *) H.assignctl, (char *) "monitor");
        /* The banner comes after the matches are installed, so nothing is missed from here. */
        ck_assert_msg(proc_wait_stderr(&w->assignctl, "Monitoring " BUS_NAME " (Ctrl-C to stop)",
                                       EVENT_TIMEOUT_MS),
                      "assignctl monitor did not start: %s", strempty(w->assignctl.err));
        proc_spawn(&w->busctl, (char *) H.busctl, (char *) "--system", (char *) "--json=short",
                   (char *) "monitor", (char *) BUS_NAME);
        ck_assert_msg(proc_wait_stderr(&w->busctl, "Monitoring bus message stream",
                                       EVENT_TIMEOUT_MS),
                      "busctl monitor did not start: %s", strempty(w->busctl.err));
}

static void watchers_stop(Watchers *w, int sig) {
        /* assignctl monitor exits 0 on SIGINT and SIGTERM alike */
        ck_assert_int_eq(proc_stop(&w->assignctl, sig), 0);
        (void) proc_stop(&w->busctl, SIGTERM);
}

static void expect_events(Watchers *w, const char *text, const SignalMatch *sig) {
        ck_assert_msg(proc_wait_line(&w->assignctl, match_line, text, EVENT_TIMEOUT_MS),
                      "assignctl monitor did not print \"%s\"; it printed:\n%s", text,
                      strempty(w->assignctl.out));
        ck_assert_msg(proc_wait_line(&w->busctl, match_signal, sig, EVENT_TIMEOUT_MS),
                      "busctl monitor saw no %s for %s; it saw:\n%s", sig->member, sig->path,
                      strempty(w->busctl.out));
}

START_TEST(test_hotplug_remove_add) {
        _cleanup_json_ json_object *report = daemon_report();
        json_object *dev = pick_hotplug_device(report);
        const char *bdf = jstr_or_null(dev, "address");
        _cleanup_free_ char *path = device_path(bdf), *removed = NULL, *added = NULL;
        _cleanup_free_ char *out = NULL, *err = NULL, *out2 = NULL;
        _cleanup_json_ json_object *reply = NULL, *after = NULL;
        Watchers w;

        ck_assert_int_ge(asprintf(&removed, "removed device %s", bdf), 0);
        ck_assert_int_ge(asprintf(&added, "added device %s group %" PRIi64, bdf,
                                  json_object_get_int64(jget(dev, "group"))),
                         0);
        watchers_start(&w);

        host_remove_device(bdf);
        send_uevent("remove", bdf);
        expect_events(&w, removed, &(SignalMatch) { .member = "InterfacesRemoved", .path = path });
        ck_assert_int_eq(ASSIGNCTL(&out, &err, (char *) "show", (char *) bdf), 1);
        assert_contains(err, "no device");

        host_restore_device(bdf);
        send_uevent("add", bdf);
        expect_events(&w, added, &(SignalMatch) { .member = "InterfacesAdded", .path = path });
        ck_assert_int_eq(ASSIGNCTL(&out2, NULL, (char *) "show", (char *) bdf), 0);
        assert_contains(out2, bdf);

        watchers_stop(&w, SIGINT);
        /* The daemon's model is back where it started (and later tests see the host as it was). */
        reply = busctl((char *) "call", (char *) BUS_NAME, (char *) OBJ_ROOT,
                       (char *) IFACE_MANAGER, (char *) "GetHostReport");
        after = parse_json(json_object_get_string(jidx(jget(reply, "data"), 0)), "GetHostReport");
        assert_json_equal(after, report, "the report after remove + add");
}
END_TEST

START_TEST(test_hotplug_unbind_bind) {
        _cleanup_json_ json_object *report = daemon_report();
        json_object *dev = pick_hotplug_device(report);
        const char *bdf = jstr_or_null(dev, "address"), *driver = jstr_or_null(dev, "driver");
        _cleanup_free_ char *path = device_path(bdf), *unbound = NULL, *bound = NULL;
        _cleanup_free_ char *out = NULL, *err = NULL;
        Watchers w;

        ck_assert_int_ge(asprintf(&unbound, "changed device %s Driver=\"\"", bdf), 0);
        ck_assert_int_ge(asprintf(&bound, "changed device %s Driver=%s", bdf, driver), 0);
        watchers_start(&w);

        host_unbind_device(bdf);
        send_uevent("unbind", bdf);
        expect_events(&w, unbound,
                      &(SignalMatch) { .member = "PropertiesChanged",
                                       .path = path,
                                       .property = "Driver",
                                       .value = "" });
        ck_assert_int_eq(ASSIGNCTL(&out, &err, (char *) "show", (char *) bdf), 0);
        assert_contains(out, "Driver: (none)");

        host_rebind_device(bdf);
        send_uevent("bind", bdf);
        expect_events(&w, bound,
                      &(SignalMatch) { .member = "PropertiesChanged",
                                       .path = path,
                                       .property = "Driver",
                                       .value = driver });

        watchers_stop(&w, SIGTERM);
}
END_TEST

static bool group_lists(const char *group_path, const char *bdf) {
        _cleanup_json_ json_object *p = get_property(group_path, IFACE_GROUP, "Devices");
        json_object *list = jget(p, "data");

        for (size_t i = 0; i < jlen(list); i++)
                if (streq(json_object_get_string(jidx(list, i)), bdf))
                        return true;
        return false;
}

/* The kernel can send "remove" while iommu_groups/N/devices still lists the device, and drop the
 * link a moment later without another uevent (issue 8: a Group's Devices stayed stale for good).
 * The daemon reads the group again by itself until it agrees with its devices. */
START_TEST(test_hotplug_remove_before_group_updates) {
        _cleanup_json_ json_object *report = daemon_report(), *assignable = NULL;
        json_object *dev = pick_hotplug_device(report);
        const char *bdf = jstr_or_null(dev, "address");
        uint32_t group = (uint32_t) json_object_get_int64(jget(dev, "group"));
        _cleanup_free_ char *path = device_path(bdf), *group_path = NULL, *rel = NULL;
        _cleanup_free_ char *link = NULL, *pristine = NULL;
        char target[PATH_MAX];
        ssize_t n;
        Proc busctl;

        ck_assert_int_ge(asprintf(&group_path, OBJ_GROUP_PREFIX "/%" PRIu32, group), 0);
        ck_assert_int_ge(asprintf(&rel, SYSFS_IOMMU_GROUPS "/%" PRIu32 "/devices/%s", group, bdf),
                         0);
        link = path_join(H.hostdir, rel);
        pristine = path_join(H.pristine, rel);
        n = readlink(pristine, target, sizeof(target) - 1);
        ck_assert_int_gt(n, 0);
        target[n] = 0;

        proc_spawn(&busctl, (char *) H.busctl, (char *) "--system", (char *) "--json=short",
                   (char *) "monitor", (char *) BUS_NAME);
        ck_assert(proc_wait_stderr(&busctl, "Monitoring bus message stream", EVENT_TIMEOUT_MS));

        /* The device is gone, its group link not yet. */
        host_remove_device(bdf);
        ck_assert_int_eq(symlink(target, link), 0);
        send_uevent("remove", bdf);
        ck_assert_msg(proc_wait_line(&busctl, match_signal,
                                     &(SignalMatch) { .member = "InterfacesRemoved", .path = path },
                                     EVENT_TIMEOUT_MS),
                      "no InterfacesRemoved for %s:\n%s", path, strempty(busctl.out));
        /* The group is what the kernel lists: the device, which cannot be read, blocks it. */
        ck_assert(group_lists(group_path, bdf));
        assignable = get_property(group_path, IFACE_GROUP, "Assignable");
        ck_assert(!json_object_get_boolean(jget(assignable, "data")));

        /* The kernel drops the link; no uevent says so. */
        ck_assert_int_eq(unlink(link), 0);
        ck_assert_msg(proc_wait_line(&busctl, match_signal,
                                     &(SignalMatch) { .member = "PropertiesChanged",
                                                      .path = group_path,
                                                      .property = "Devices" },
                                     EVENT_TIMEOUT_MS),
                      "group %" PRIu32 " did not change after the link went:\n%s", group,
                      strempty(busctl.out));
        ck_assert(!group_lists(group_path, bdf));

        host_restore_device(bdf);
        send_uevent("add", bdf);
        ck_assert(proc_wait_line(&busctl, match_signal,
                                 &(SignalMatch) { .member = "InterfacesAdded", .path = path },
                                 EVENT_TIMEOUT_MS));
        ck_assert(group_lists(group_path, bdf));
        (void) proc_stop(&busctl, SIGTERM);
}
END_TEST

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!harness_init())
                return 77;

        s = suite_create("integration");
        tc = tcase_create("private-bus");
        /* One bus and one daemon for all tests (unchecked: runs in this process, once). */
        tcase_add_unchecked_fixture(tc, harness_setup, harness_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_introspection_matches_checked_in_xml);
        tcase_add_test(tc, test_busctl_list_groups);
        tcase_add_test(tc, test_busctl_list_devices);
        tcase_add_test(tc, test_busctl_get_host_report);
        tcase_add_test(tc, test_busctl_properties);
        tcase_add_test(tc, test_assignctl_json_list_is_the_report);
        tcase_add_test(tc, test_assignctl_list_human);
        tcase_add_test(tc, test_assignctl_status);
        tcase_add_test(tc, test_assignctl_show_device);
        tcase_add_test(tc, test_assignctl_show_group);
        tcase_add_test(tc, test_assignctl_not_found);
        tcase_add_test(tc, test_assignctl_usage_errors);
        tcase_add_test(tc, test_assignctl_help_version);
        tcase_add_test(tc, test_assignctl_no_daemon);
        tcase_add_test(tc, test_hotplug_remove_add);
        tcase_add_test(tc, test_hotplug_unbind_bind);
        tcase_add_test(tc, test_hotplug_remove_before_group_updates);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);

        /* The teardown SIGTERMed the daemon: it must exit 0 (sanitizers and valgrind wrappers
         * turn their findings into a non-zero exit). */
        if (H.daemon_status != -1 && exit_code_of(H.daemon_status) != 0) {
                fprintf(stderr, "FAIL: vfio-assignd exited with %d after SIGTERM\n",
                        exit_code_of(H.daemon_status));
                failed++;
        }
        return failed ? 1 : 0;
}
