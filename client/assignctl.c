/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl: command line client of vfio-assignd (see docs/assignctl.1). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assignctl.h"
#include "bdf.h"
#include "names.h"
#include "output.h"
#include "util.h"

JsonMode arg_json = JSON_OFF;

static int json_add(json_object *o, const char *key, json_object *v) {
        /* json_object_object_add() only fails on allocation failure; it does not take v then. */
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* {"error": {"message": ..., "name": ..., "exit_code": n}} on one line; false if out of memory. */
static bool print_json_error(int exit_code, const char *error_name, const char *msg) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_json_ json_object *e = json_object_new_object();

        if (!o || !e)
                return false;
        if (json_add(e, "message", json_object_new_string(msg)) < 0 ||
            json_add(e, "name", error_name ? json_object_new_string(error_name) : NULL) < 0 ||
            json_add(e, "exit_code", json_object_new_int(exit_code)) < 0 ||
            json_add(o, "error", json_object_get(e)) < 0)
                return false;
        fprintf(stderr, "%s\n",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
        return true;
}

int fail(int exit_code, const char *error_name, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&msg, format, ap);
        va_end(ap);
        if (r < 0) {
                fputs("Out of memory.\n", stderr);
                return exit_code;
        }
        /* With --json, errors are JSON too, so a script parses one format. They still go to
         * stderr: stdout carries only results. */
        if (arg_json != JSON_OFF && print_json_error(exit_code, error_name, msg))
                return exit_code;
        fprintf(stderr, "%s\n", msg);
        return exit_code;
}

#define UNREACHABLE "vfio-assignd is not running or not reachable on the system bus: "

int connect_bus(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        /* sd_bus_open_system() honours $DBUS_SYSTEM_BUS_ADDRESS, which the tests rely on. */
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return fail(EXIT_UNREACHABLE, NULL, UNREACHABLE "cannot connect to the bus: %s",
                            strerror(-r));
        *ret = bus;
        return EXIT_OK;
}

/* Errors that mean "nobody answered", as opposed to "the daemon said no". */
static bool error_is_unreachable(const char *name, int r) {
        static const char *const names[] = {
                SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                SD_BUS_ERROR_NO_SERVER,       SD_BUS_ERROR_DISCONNECTED,
                SD_BUS_ERROR_NO_REPLY,        SD_BUS_ERROR_TIMEOUT,
                "org.freedesktop.DBus.Error.TimedOut",
        };

        if (name) {
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if (streq(name, names[i]))
                                return true;
                return false;
        }
        /* No error name: the call failed locally, typically while connecting or authenticating. */
        switch (-r) {
        case ENOENT:
        case EACCES:
        case ECONNREFUSED:
        case ECONNRESET:
        case ENOTCONN:
        case EPIPE:
        case ESHUTDOWN:
        case ETIMEDOUT:
                return true;
        default:
                return false;
        }
}

int fail_bus_call(const char *what, const sd_bus_error *error, int r) {
        const char *name = sd_bus_error_is_set(error) ? error->name : NULL;
        const char *msg = name && error->message ? error->message : strerror(-r);

        if (error_is_unreachable(name, r))
                return fail(EXIT_UNREACHABLE, name, UNREACHABLE "%s", msg);
        /* The daemon's own errors (org.vfioassign1.Error.*) carry a message that names the
         * device, group or rule; print it as is. */
        if (name && strneq(name, ERROR_PREFIX, strlen(ERROR_PREFIX)))
                return fail(EXIT_FAILED, name, "%s", msg);
        return fail(EXIT_FAILED, name, "%s failed: %s", what, msg);
}

int fetch_report(sd_bus *bus, json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        enum json_tokener_error jerr = json_tokener_success;
        json_object *report;
        const char *text;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "GetHostReport", &error,
                               &reply, "");
        if (r < 0)
                return fail_bus_call("GetHostReport", &error, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Malformed reply to GetHostReport: %s",
                            strerror(-r));

        report = json_tokener_parse_verbose(text, &jerr);
        if (!report)
                return fail(EXIT_FAILED, NULL, "GetHostReport returned invalid JSON: %s",
                            json_tokener_error_desc(jerr));
        if (!json_object_is_type(report, json_type_object)) {
                json_object_put(report);
                return fail(EXIT_FAILED, NULL, "GetHostReport returned JSON that is not an object");
        }
        *ret = report;
        return EXIT_OK;
}

int print_json(json_object *o) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE;

        flags |= arg_json == JSON_PRETTY ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN;
        printf("%s\n", json_object_to_json_string_ext(o, flags));
        return EXIT_OK;
}

/* Copies report[key] into o (a new reference); a missing key becomes `fallback` (or null). */
static int copy_key(json_object *o, json_object *report, const char *key, bool array_fallback) {
        json_object *v = NULL;

        if (json_object_object_get_ex(report, key, &v))
                v = json_object_get(v);
        else if (array_fallback) {
                v = json_object_new_array();
                if (!v)
                        return -ENOMEM;
        }
        return json_add(o, key, v);
}

static int print_report_part(json_object *report, const char *const *keys, size_t n) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        for (size_t i = 0; i < n; i++) {
                bool is_list = streq(keys[i], "groups") || streq(keys[i], "devices");

                if (copy_key(o, report, keys[i], is_list) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
        }
        return print_json(o);
}

static int verb_status(int argc, char *argv[]) {
        static const char *const keys[] = { "api_version", "host", "dmar" };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *report = NULL;
        int r;

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = fetch_report(bus, &report);
        if (r != EXIT_OK)
                return r;
        if (arg_json != JSON_OFF)
                return print_report_part(report, keys, ELEMENTSOF(keys));
        output_status(stdout, report);
        return EXIT_OK;
}

static int verb_list(int argc, char *argv[]) {
        static const char *const keys[] = { "groups", "devices" };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *report = NULL;
        int r;

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = fetch_report(bus, &report);
        if (r != EXIT_OK)
                return r;
        if (arg_json != JSON_OFF)
                return print_report_part(report, keys, ELEMENTSOF(keys));
        output_list(stdout, report);
        return EXIT_OK;
}

static int verb_show(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *report = NULL;
        char address[PCI_ADDRESS_STRLEN] = "";
        json_object *o;
        uint32_t group = 0;
        int r;

        /* Validate before talking to anyone: a typo is a usage error (2), not "not found" (1). */
        if (strchr(argv[1], ':')) {
                PciAddress a;

                if (pci_address_parse(argv[1], &a) < 0)
                        return fail(EXIT_USAGE, NULL,
                                    "Invalid PCI address '%s': expected DDDD:BB:DD.F, "
                                    "e.g. 0000:01:00.0.", argv[1]);
                pci_address_format(&a, address);
        } else if (safe_atou32(argv[1], 10, &group) < 0)
                return fail(EXIT_USAGE, NULL,
                            "Invalid argument '%s': expected a PCI address (DDDD:BB:DD.F) or an "
                            "IOMMU group number.", argv[1]);

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = fetch_report(bus, &report);
        if (r != EXIT_OK)
                return r;

        if (address[0]) {
                o = report_find_device(report, address);
                if (!o)
                        return fail(EXIT_FAILED, NULL, "no device %s", address);
                if (arg_json != JSON_OFF)
                        return print_json(o);
                output_device(stdout, report, o);
        } else {
                o = report_find_group(report, group);
                if (!o)
                        return fail(EXIT_FAILED, NULL, "group %" PRIu32 " does not exist", group);
                if (arg_json != JSON_OFF)
                        return print_json(o);
                output_group(stdout, report, o);
        }
        return EXIT_OK;
}

static int help(void) {
        printf("%s [OPTIONS...] [VERB] [ARG]\n\n"
               "Query vfio-assignd, the VFIO device assignment daemon.\n\n"
               "Verbs:\n"
               "  list                 List IOMMU groups with their devices and blockers\n"
               "                       (the default)\n"
               "  status               Show IOMMU, interrupt remapping and VFIO readiness\n"
               "  show ADDRESS|GROUP   Show one device (e.g. 0000:01:00.0) or one IOMMU group\n"
               "  monitor              Print a line per device or group change until stopped\n"
               "  help                 Show this help\n\n"
               "Options:\n"
               "  -h --help            Show this help\n"
               "     --version         Show the package version\n"
               "     --json[=MODE]     Print JSON: pretty (bare --json), short or off\n"
               "     --no-pager        Accepted for compatibility; output is never paged\n\n"
               "Exit status: 0 success, 1 failure or not found, 2 usage error,\n"
               "3 vfio-assignd not reachable. See assignctl(1).\n",
               program_invocation_short_name);
        return EXIT_OK;
}

static int verb_help(int argc, char *argv[]) {
        return help();
}

typedef struct Verb {
        const char *name;
        unsigned min_args; /* arguments after the verb itself */
        unsigned max_args;
        int (*fn)(int argc, char *argv[]); /* argv[0] is the verb */
        const char *usage;
} Verb;

static const Verb verbs[] = {
        { "list", 0, 0, verb_list, "list" },
        { "status", 0, 0, verb_status, "status" },
        { "show", 1, 1, verb_show, "show ADDRESS|GROUP" },
        { "monitor", 0, 0, verb_monitor, "monitor" },
        { "help", 0, 0, verb_help, "help" },
};

static int dispatch_verb(int argc, char *argv[]) {
        static char *default_argv[] = { (char *) "list", NULL };
        unsigned n_args;

        if (argc <= 0) {
                argc = 1;
                argv = default_argv;
        }
        n_args = (unsigned) argc - 1;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = &verbs[i];

                if (!streq(argv[0], v->name))
                        continue;
                if (n_args < v->min_args)
                        return fail(EXIT_USAGE, NULL, "Too few arguments. Usage: assignctl %s",
                                    v->usage);
                if (n_args > v->max_args)
                        return fail(EXIT_USAGE, NULL, "Too many arguments. Usage: assignctl %s",
                                    v->usage);
                return v->fn(argc, argv);
        }
        return fail(EXIT_USAGE, NULL, "Unknown verb '%s'. Try 'assignctl help'.", argv[0]);
}

/* Returns -1 to continue with the verb, or an exit code. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_PAGER,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                {},
        };
        int c;

        opterr = 0; /* our own messages, on the usage-error path */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        return help();
                case ARG_VERSION:
                        printf("assignctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
                        return EXIT_OK;
                case ARG_JSON:
                        if (!optarg || streq(optarg, "pretty"))
                                arg_json = JSON_PRETTY;
                        else if (streq(optarg, "short"))
                                arg_json = JSON_SHORT;
                        else if (streq(optarg, "off"))
                                arg_json = JSON_OFF;
                        else
                                return fail(EXIT_USAGE, NULL,
                                            "Invalid --json= mode '%s': expected pretty, short "
                                            "or off.", optarg);
                        break;
                case ARG_NO_PAGER:
                        break;
                case '?': {
                        /* getopt sets optopt to the option's value when a known long option
                         * got an argument it does not take, and to 0 for unknown long ones. */
                        const char *opt = argv[optind - 1];
                        bool is_long = strneq(opt, "--", 2);

                        if (optopt != 0 && !is_long)
                                return fail(EXIT_USAGE, NULL,
                                            "Unknown option '-%c'. Try 'assignctl --help'.",
                                            optopt);
                        if (optopt != 0)
                                return fail(EXIT_USAGE, NULL,
                                            "Option '%s' takes no argument. "
                                            "Try 'assignctl --help'.", opt);
                        return fail(EXIT_USAGE, NULL,
                                    "Unknown option '%s'. Try 'assignctl --help'.", opt);
                }
                default:
                        return fail(EXIT_USAGE, NULL, "Unexpected option. Try 'assignctl --help'.");
                }
        }
        return -1;
}

int main(int argc, char *argv[]) {
        int r;

        r = parse_argv(argc, argv);
        if (r < 0)
                r = dispatch_verb(argc - optind, argv + optind);

        if (fflush(stdout) != 0 || ferror(stdout))
                return fail(EXIT_FAILED, NULL, "Failed to write to standard output: %s",
                            strerror(errno));
        return r;
}
