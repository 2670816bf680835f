/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl: command line client of vfio-assignd (see docs/assignctl.1). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assignctl.h"
#include "memory.h"
#include "bdf.h"
#include "escape.h"
#include "names.h"
#include "output.h"
#include "util.h"

/* A limit on what the command line can make us hold; real setups use three directories. */
#define POLICY_DIRS_MAX 64

JsonMode arg_json = JSON_OFF;
const char *arg_user = NULL;
const char *arg_sysfs_root = NULL;
const char *arg_root = NULL;
bool arg_now = false;
bool arg_needed = false;
bool arg_force = false;
char **arg_policy_dirs = NULL;
bool arg_persistent = false;
const char *arg_owner = NULL;
char **arg_exec = NULL;
const char *arg_backend = NULL;
uint64_t arg_memlock = 0;
const char *arg_vf_mac = NULL;
int arg_vf_vlan = -1, arg_vf_qos = -1, arg_vf_spoofchk = -1, arg_vf_trust = -1;
uint64_t arg_memory = 0;
const char *arg_hugepages = NULL;
int arg_numa_node = ARG_NUMA_NODE_UNSET;
uint64_t arg_map = UINT64_MAX;
static bool arg_ask_password = true;

/* o as JSON text on f; 0 or -ENOMEM. json-c escapes the C0 controls in strings, but leaves DEL,
 * the C1 controls and bytes that are not UTF-8 to us. */
static int print_json_text(FILE *f, json_object *o, int flags) {
        _cleanup_free_ char *text = json_escape_controls(
                json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE));

        if (!text)
                return -ENOMEM;
        fprintf(f, "%s\n", text);
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
        return print_json_text(stderr, o, JSON_C_TO_STRING_PLAIN) >= 0;
}

/* Messages carry the daemon's words, names from sysfs and our arguments: escaped, each is one
 * line that cannot drive the terminal. error (positive) is errno while the format is expanded,
 * for its "%m"; errno is what it was before. NULL when out of memory. */
_printf_(2, 0) static char *message_new(int error, const char *format, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        int saved = errno, k;

        errno = error;
        k = vasprintf(&msg, format, ap);
        errno = saved;
        if (k < 0)
                return NULL;
        return cescape(msg);
}

_printf_(2, 0) static void note_v(int error, const char *format, va_list ap) {
        _cleanup_free_ char *msg = message_new(error, format, ap);

        fprintf(stderr, "%s\n", msg ?: "Out of memory.");
}

void note(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        note_v(errno, format, ap);
        va_end(ap);
}

void note_errno(int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        note_v(error < 0 ? -error : error, format, ap);
        va_end(ap);
}

_printf_(4, 0) static int fail_v(int exit_code, const char *error_name, int error,
                                 const char *format, va_list ap) {
        _cleanup_free_ char *shown = message_new(error, format, ap);

        if (!shown) {
                fputs("Out of memory.\n", stderr);
                return exit_code;
        }
        /* With --json, errors are JSON too, so a script parses one format. They still go to
         * stderr: stdout carries only results. */
        if (arg_json != JSON_OFF && print_json_error(exit_code, error_name, shown))
                return exit_code;
        fprintf(stderr, "%s\n", shown);
        return exit_code;
}

int fail(int exit_code, const char *error_name, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = fail_v(exit_code, error_name, errno, format, ap);
        va_end(ap);
        return r;
}

int fail_errno(int exit_code, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = fail_v(exit_code, NULL, error < 0 ? -error : error, format, ap);
        va_end(ap);
        return r;
}

int printed(int r) {
        return r < 0 ? fail(EXIT_FAILED, NULL, "Out of memory.") : EXIT_OK;
}

#define UNREACHABLE "vfio-assignd is not running or not reachable on the system bus: "

int connect_bus(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        /* sd_bus_open_system() honours $DBUS_SYSTEM_BUS_ADDRESS, which the tests rely on. */
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return fail_errno(EXIT_UNREACHABLE, r, UNREACHABLE "cannot connect to the bus: %m");
        /* Sets ALLOW_INTERACTIVE_AUTHORIZATION on our calls, so polkit may ask for a password
         * instead of refusing outright (D-Bus specification, "Message Format", flag 0x4). */
        r = sd_bus_set_allow_interactive_authorization(bus, arg_ask_password);
        if (r < 0) {
                sd_bus_unref(bus);
                return fail_errno(EXIT_FAILED, r, "Failed to set up the bus: %m");
        }
        *ret = bus;
        return EXIT_OK;
}

/* Errors that mean "nobody answered", as opposed to "the daemon said no". */
static bool error_is_unreachable(const char *name, int r) {
        static const char *const names[] = {
                SD_BUS_ERROR_SERVICE_UNKNOWN,
                SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                SD_BUS_ERROR_NO_SERVER,
                SD_BUS_ERROR_DISCONNECTED,
                SD_BUS_ERROR_NO_REPLY,
                SD_BUS_ERROR_TIMEOUT,
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

int bus_error_exit_code(const char *name, int r) {
        if (error_is_unreachable(name, r))
                return EXIT_UNREACHABLE;
        if (name && streq(name, SD_BUS_ERROR_ACCESS_DENIED))
                return EXIT_ACCESS_DENIED;
        return va_error_exit_code(va_error_from_name(name));
}

const char *bus_error_short_name(const char *name) {
        const char *dot;

        if (!name)
                return NULL;
        dot = strrchr(name, '.');
        return dot && dot[1] ? dot + 1 : name;
}

static const char *error_name_of(const sd_bus_error *error) {
        return sd_bus_error_is_set(error) ? error->name : NULL;
}

static const char *error_message_of(const sd_bus_error *error, int r) {
        return error_name_of(error) && error->message ? error->message : strerror(-r);
}

int fail_bus_call(const char *what, const sd_bus_error *error, int r) {
        const char *name = error_name_of(error), *msg = error_message_of(error, r);
        int code = bus_error_exit_code(name, r);

        if (code == EXIT_UNREACHABLE)
                return fail(code, name, UNREACHABLE "%s", msg);
        /* The daemon's own errors (org.vfioassign1.Error.*) carry a message that names the
         * device, group or rule; print it as is. */
        if (name && strneq(name, ERROR_PREFIX, strlen(ERROR_PREFIX)))
                return fail(code, name, "%s", msg);
        return fail(code, name, "%s failed: %s", what, msg);
}

int fail_call(const char *context, const sd_bus_error *error, int r) {
        const char *name = error_name_of(error), *msg = error_message_of(error, r);
        int code = bus_error_exit_code(name, r);

        if (code == EXIT_UNREACHABLE)
                return fail(code, name, "%s: %s: " UNREACHABLE "%s", program_invocation_short_name,
                            context, msg);
        if (!name)
                return fail(code, NULL, "%s: %s: %s", program_invocation_short_name, context, msg);
        return fail(code, name, "%s: %s: %s: %s", program_invocation_short_name, context,
                    bus_error_short_name(name), msg);
}

int parse_address_arg(const char *arg, char ret[static PCI_ADDRESS_STRLEN]) {
        PciAddress a;

        if (pci_address_parse(arg, &a) < 0)
                return fail_arg(EXIT_USAGE,
                                "Invalid PCI address '%s': expected DDDD:BB:DD.F, e.g. "
                                "0000:01:00.0.",
                                arg);
        pci_address_format(&a, ret);
        return EXIT_OK;
}

const char *root_prefix(void) {
        return arg_root && !streq(arg_root, "/") ? arg_root : "";
}

int parse_json_object(const char *what, const char *text, json_object **ret) {
        enum json_tokener_error jerr = json_tokener_success;
        json_object *o;

        o = json_tokener_parse_verbose(text, &jerr);
        if (!o)
                return fail(EXIT_FAILED, NULL, "%s returned invalid JSON: %s", what,
                            json_tokener_error_desc(jerr));
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return fail(EXIT_FAILED, NULL, "%s returned JSON that is not an object", what);
        }
        *ret = o;
        return EXIT_OK;
}

int fetch_report(sd_bus *bus, json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "GetHostReport", &error,
                               &reply, "");
        if (r < 0)
                return fail_bus_call("GetHostReport", &error, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Malformed reply to GetHostReport: %m");
        return parse_json_object("GetHostReport", text, ret);
}

int print_json_to(FILE *f, json_object *o) {
        return printed(print_json_text(f, o,
                                       arg_json == JSON_PRETTY ? JSON_C_TO_STRING_PRETTY
                                                               : JSON_C_TO_STRING_PLAIN));
}

int print_json_line(json_object *o) {
        int r = print_json_text(stdout, o, JSON_C_TO_STRING_PLAIN);

        fflush(stdout);
        return r;
}

int set_string(char **field, const char *s) {
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

int print_json(json_object *o) {
        return print_json_to(stdout, o);
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
        if (arg_memory > 0) {
                _cleanup_json_ json_object *preflight = NULL;
                int fits;

                if (arg_json == JSON_OFF) {
                        r = printed(output_status(stdout, report));
                        if (r != EXIT_OK)
                                return r;
                }
                fits = memory_preflight(arg_json == JSON_OFF ? stdout : NULL, report, arg_memory,
                                        arg_hugepages, &preflight);
                if (fits < 0)
                        return fail_errno(EXIT_FAILED, fits, "Cannot check the memory: %m");
                if (arg_json != JSON_OFF) {
                        _cleanup_json_ json_object *o = json_object_new_object();

                        if (!o || copy_key(o, report, "host", false) < 0 ||
                            json_add(o, "memory", TAKE_PTR(preflight)) < 0)
                                return fail(EXIT_FAILED, NULL, "Out of memory.");
                        r = print_json(o);
                        if (r != EXIT_OK)
                                return r;
                }
                /* A pre-flight a script can test. */
                return fits ? EXIT_OK : EXIT_FAILED;
        }
        if (arg_json != JSON_OFF)
                return print_report_part(report, keys, ELEMENTSOF(keys));
        return printed(output_status(stdout, report));
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
        return printed(output_list(stdout, report));
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
                r = parse_address_arg(argv[1], address);
                if (r != EXIT_OK)
                        return r;
        } else if (safe_atou32(argv[1], 10, &group) < 0)
                return fail_arg(EXIT_USAGE,
                                "Invalid argument '%s': expected a PCI address (DDDD:BB:DD.F) or "
                                "an IOMMU group number.",
                                argv[1]);

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
                return printed(output_device(stdout, report, o));
        }
        o = report_find_group(report, group);
        if (!o)
                return fail(EXIT_FAILED, NULL, "group %" PRIu32 " does not exist", group);
        if (arg_json != JSON_OFF)
                return print_json(o);
        return printed(output_group(stdout, report, o));
}

static int help(void) {
        printf("%s [OPTIONS...] [VERB] [ARG...]\n\n"
               "Query and drive vfio-assignd, the VFIO device assignment daemon.\n\n"
               "Host:\n"
               "  list                 List IOMMU groups with their devices and blockers\n"
               "                       (the default)\n"
               "  status [--memory SIZE [--hugepages 2M|1G]]\n"
               "                       Show IOMMU, interrupt remapping and VFIO readiness\n"
               "                       (and whether a VM of SIZE fits memlock and the pool)\n"
               "  show ADDRESS|GROUP   Show one device (e.g. 0000:01:00.0) or one IOMMU group\n"
               "  monitor              Print a line per device or group change until stopped\n\n"
               "Policy:\n"
               "  policy check FILE... Validate policy files (offline, no daemon needed)\n"
               "  policy explain ADDRESS\n"
               "                       Say whether and why a user may claim the device's group\n"
               "  policy status        Show the policy in force and the last reload error\n"
               "  policy reload        Make the daemon read its policy files again\n"
               "  policy accept ADDRESS\n"
               "                       Accept the card now at an address a rule names\n\n"
               "Leases:\n"
               "  claim ADDRESS|GROUP [--backend NAME] [--memory SIZE] [--exec CMD [ARG...]]\n"
               "                       Claim a group until Ctrl-C, or for the run of CMD\n"
               "  claim ADDRESS|GROUP --owner KEY\n"
               "                       Claim a group for KEY until released by that key\n"
               "  release LEASE|ADDRESS|GROUP|--owner KEY\n"
               "                       Release a lease (by id, or by a device or group in it),\n"
               "                       or every lease of an owner key\n"
               "  prepare ADDRESS      Bind the device's group to vfio-pci with no holder\n"
               "  unprepare ADDRESS    Give a prepared group back to its host drivers\n"
               "  leases               List the leases (and who holds a stuck one's group)\n"
               "  modules-load MODULE...|--needed\n"
               "                       Load VFIO variant drivers at boot (and --now)\n\n"
               "SR-IOV:\n"
               "  sriov PF [COUNT [--vfio]]\n"
               "                       Show a PF's VFs, or make it COUNT VFs (for VFIO)\n\n"
               "  help                 Show this help\n\n"
               "Options:\n"
               "  -h --help            Show this help\n"
               "     --version         Show the package version\n"
               "     --json[=MODE]     Print JSON: pretty (bare --json), short or off\n"
               "     --no-pager        Accepted for compatibility; output is never paged\n"
               "     --no-ask-password Do not let polkit ask for a password\n"
               "     --user=NAME       policy explain: for this user (default: you)\n"
               "     --sysfs-root=DIR  policy explain: offline, on the host tree under DIR\n"
               "     --policy-dir=DIR  policy explain offline: read policy from DIR (repeatable)\n"
               "     --root=DIR        leases, modules-load: DIR/dev, DIR/sys, DIR/etc\n"
               "     --now             modules-load: modprobe them now too\n"
               "     --needed          modules-load: the variants the devices need, not loaded\n"
               "     --force           modules-load: also a module that is not a VFIO driver\n"
               "     --persistent      prepare: keep the group on vfio-pci across reboots\n"
               "     --owner=KEY       claim, prepare: a lease of KEY (e.g. k8s:claim/UID),\n"
               "                       not of this process; release: every lease of KEY\n"
               "     --vfio            sriov: prepare the new VFs for VFIO (else the host driver)\n"
               "     --backend=NAME    claim: type1 (default), iommufd or auto\n"
               "     --memlock=SIZE    claim: raise our RLIMIT_MEMLOCK to SIZE (e.g. 4G) first\n"
               "     --vf-mac=MAC, --vf-vlan=VLAN[:QOS], --vf-spoofchk=on|off, --vf-trust=on|off\n"
               "                       claim of a VF: its network settings, put back at release\n"
               "     --memory=SIZE     claim: guest RAM the daemon fills first, for CMD as a memfd\n"
               "     --hugepages=SIZE  claim --memory: 2M or 1G huge pages, or none (4 KiB)\n"
               "     --numa-node=N     claim --memory: from node N (default: the devices' node)\n"
               "     --map=IOVA        claim --memory: DMA-map it at IOVA for the VMM to adopt\n"
               "     --exec CMD ARG... claim: run CMD with the lease's fds (must come last)\n\n"
               "Exit status: 0 success, 1 failure or not found, 2 usage error,\n"
               "3 vfio-assignd not reachable, 4 access denied (polkit), 5 denied by policy.\n"
               "See assignctl(1).\n",
               program_invocation_short_name);
        return EXIT_OK;
}

static int verb_help(int argc, char *argv[]) {
        return help();
}

/* Options that only some verbs take. */
enum {
        OPT_USER = 1u << 0,
        OPT_OFFLINE = 1u << 1, /* --sysfs-root, --policy-dir */
        OPT_PERSISTENT = 1u << 2,
        OPT_EXEC = 1u << 3,
        OPT_BACKEND = 1u << 4, /* --backend, --memlock */
        OPT_MEMORY = 1u << 5,  /* --memory, --hugepages, --numa-node, --map */
        OPT_ROOT = 1u << 6,    /* --root */
        OPT_MODULES = 1u << 7, /* --now, --needed, --force */
        OPT_VFIO = 1u << 8,    /* --vfio */
        OPT_VF = 1u << 9,      /* --vf-mac, --vf-vlan, --vf-spoofchk, --vf-trust */
        OPT_OWNER = 1u << 10,  /* --owner */
};

typedef struct Verb {
        const char *name;
        unsigned min_args; /* arguments after the verb itself */
        unsigned max_args;
        int (*fn)(int argc, char *argv[]); /* argv[0] is the verb */
        const char *usage;
        unsigned options; /* OPT_* the verb accepts */
} Verb;

static int verb_policy(int argc, char *argv[]);

#define ARGS_MAX UINT_MAX

static const Verb verbs[] = {
        { "list", 0, 0, verb_list, "list", 0 },
        { "status", 0, 0, verb_status, "status [--memory SIZE [--hugepages 2M|1G|none]]",
          OPT_MEMORY },
        { "show", 1, 1, verb_show, "show ADDRESS|GROUP", 0 },
        { "monitor", 0, 0, verb_monitor, "monitor", 0 },
        { "policy", 1, ARGS_MAX, verb_policy, "policy check|explain|status|reload|accept ...",
          OPT_USER | OPT_OFFLINE },
        { "claim", 1, 1, verb_claim,
          "claim ADDRESS|GROUP [--owner KEY] [--backend NAME] [--memlock SIZE] [--vf-mac MAC] "
          "[--vf-vlan VLAN[:QOS]] [--vf-spoofchk on|off] [--vf-trust on|off] [--memory SIZE "
          "[--hugepages 2M|1G|none] [--numa-node N] [--map IOVA]] [--exec CMD [ARG...]]",
          OPT_EXEC | OPT_BACKEND | OPT_MEMORY | OPT_VF | OPT_OWNER },
        { "release", 0, 1, verb_release, "release LEASE|ADDRESS|GROUP|--owner KEY", OPT_OWNER },
        { "prepare", 1, 1, verb_prepare, "prepare ADDRESS [--persistent] [--owner KEY]",
          OPT_PERSISTENT | OPT_OWNER },
        { "unprepare", 1, 1, verb_unprepare, "unprepare ADDRESS", 0 },
        { "leases", 0, 0, verb_leases, "leases [--root DIR]", OPT_ROOT },
        { "modules-load", 0, ARGS_MAX, verb_modules_load,
          "modules-load [--now] [--force] [--root DIR] MODULE...|--needed",
          OPT_MODULES | OPT_ROOT },
        { "sriov", 1, 2, verb_sriov, "sriov PF [COUNT [--vfio]]", OPT_VFIO },
        { "help", 0, 0, verb_help, "help", 0 },
};

static const Verb policy_verbs[] = {
        { "check", 1, ARGS_MAX, verb_policy_check, "policy check FILE...", 0 },
        { "explain", 1, 1, verb_policy_explain,
          "policy explain ADDRESS [--user NAME] [--sysfs-root DIR [--policy-dir DIR...]]",
          OPT_USER | OPT_OFFLINE },
        { "status", 0, 0, verb_policy_status, "policy status", 0 },
        { "reload", 0, 0, verb_policy_reload, "policy reload", 0 },
        { "accept", 1, 1, verb_policy_accept, "policy accept ADDRESS", 0 },
};

/* Refuses an option the verb does not take, so a misplaced one is not silently ignored. */
static int check_options(const Verb *v) {
        const struct {
                unsigned flag;
                const char *option;
                bool given;
        } table[] = {
                { OPT_USER, "--user", arg_user },
                { OPT_OFFLINE, "--sysfs-root", arg_sysfs_root },
                { OPT_OFFLINE, "--policy-dir", arg_policy_dirs },
                { OPT_ROOT, "--root", arg_root },
                { OPT_MODULES, "--now", arg_now },
                { OPT_MODULES, "--needed", arg_needed },
                { OPT_MODULES, "--force", arg_force },
                { OPT_PERSISTENT, "--persistent", arg_persistent },
                { OPT_OWNER, "--owner", arg_owner },
                { OPT_VFIO, "--vfio", arg_vfio },
                { OPT_EXEC, "--exec", arg_exec },
                { OPT_BACKEND, "--backend", arg_backend },
                { OPT_BACKEND, "--memlock", arg_memlock > 0 },
                { OPT_VF, "--vf-mac", arg_vf_mac },
                { OPT_VF, "--vf-vlan", arg_vf_vlan >= 0 },
                { OPT_VF, "--vf-spoofchk", arg_vf_spoofchk >= 0 },
                { OPT_VF, "--vf-trust", arg_vf_trust >= 0 },
                { OPT_MEMORY, "--memory", arg_memory > 0 },
                { OPT_MEMORY, "--hugepages", arg_hugepages },
                { OPT_MEMORY, "--numa-node", arg_numa_node != ARG_NUMA_NODE_UNSET },
                { OPT_MEMORY, "--map", arg_map != UINT64_MAX },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].given && !(v->options & table[i].flag))
                        return fail(EXIT_USAGE, NULL,
                                    "Option %s does not apply to 'assignctl %s'. "
                                    "Try 'assignctl help'.",
                                    table[i].option, v->usage);
        return EXIT_OK;
}

static int dispatch(const Verb *table, size_t n, const char *what, int argc, char *argv[]) {
        _cleanup_free_ char *unknown = NULL;
        unsigned n_args = (unsigned) argc - 1;

        for (size_t i = 0; i < n; i++) {
                const Verb *v = &table[i];
                int r;

                if (!streq(argv[0], v->name))
                        continue;
                if (n_args < v->min_args)
                        return fail(EXIT_USAGE, NULL, "Too few arguments. Usage: assignctl %s",
                                    v->usage);
                if (n_args > v->max_args)
                        return fail(EXIT_USAGE, NULL, "Too many arguments. Usage: assignctl %s",
                                    v->usage);
                r = check_options(v);
                if (r != EXIT_OK)
                        return r;
                return v->fn(argc, argv);
        }
        unknown = strcut(argv[0], ARG_SHOWN_MAX);
        return fail(EXIT_USAGE, NULL, "Unknown %s '%s'. Try 'assignctl help'.", what,
                    strna(unknown));
}

static int verb_policy(int argc, char *argv[]) {
        return dispatch(policy_verbs, ELEMENTSOF(policy_verbs), "policy verb", argc - 1, argv + 1);
}

static int dispatch_verb(int argc, char *argv[]) {
        static char *default_argv[] = { (char *) "list", NULL };

        if (argc <= 0) {
                argc = 1;
                argv = default_argv;
        }
        return dispatch(verbs, ELEMENTSOF(verbs), "verb", argc, argv);
}

/* Everything after the first "--exec" is the command, options included, so getopt must not see
 * it. Cuts argv there; returns the new argc. */
static int split_exec(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--"))
                        break;
                if (streq(argv[i], "--exec")) {
                        arg_exec = argv + i + 1;
                        argv[i] = NULL;
                        return i;
                }
        }
        return argc;
}

/* Returns -1 to continue with the verb, or an exit code. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_PAGER,
                ARG_NO_ASK_PASSWORD,
                ARG_USER,
                ARG_SYSFS_ROOT,
                ARG_ROOT,
                ARG_NOW,
                ARG_NEEDED,
                ARG_FORCE,
                ARG_POLICY_DIR,
                ARG_PERSISTENT,
                ARG_OWNER,
                ARG_VFIO,
                ARG_BACKEND,
                ARG_MEMLOCK,
                ARG_VF_MAC,
                ARG_VF_VLAN,
                ARG_VF_SPOOFCHK,
                ARG_VF_TRUST,
                ARG_MEMORY,
                ARG_HUGEPAGES,
                ARG_NUMA_NODE,
                ARG_MAP,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "user", required_argument, NULL, ARG_USER },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "root", required_argument, NULL, ARG_ROOT },
                { "now", no_argument, NULL, ARG_NOW },
                { "needed", no_argument, NULL, ARG_NEEDED },
                { "force", no_argument, NULL, ARG_FORCE },
                { "policy-dir", required_argument, NULL, ARG_POLICY_DIR },
                { "persistent", no_argument, NULL, ARG_PERSISTENT },
                { "owner", required_argument, NULL, ARG_OWNER },
                { "vfio", no_argument, NULL, ARG_VFIO },
                { "backend", required_argument, NULL, ARG_BACKEND },
                { "memlock", required_argument, NULL, ARG_MEMLOCK },
                { "vf-mac", required_argument, NULL, ARG_VF_MAC },
                { "vf-vlan", required_argument, NULL, ARG_VF_VLAN },
                { "vf-spoofchk", required_argument, NULL, ARG_VF_SPOOFCHK },
                { "vf-trust", required_argument, NULL, ARG_VF_TRUST },
                { "memory", required_argument, NULL, ARG_MEMORY },
                { "hugepages", required_argument, NULL, ARG_HUGEPAGES },
                { "numa-node", required_argument, NULL, ARG_NUMA_NODE },
                { "map", required_argument, NULL, ARG_MAP },
                {},
        };
        int c;

        opterr = 0; /* our own messages, on the usage-error path */
        /* The leading ':' makes a missing option argument return ':' instead of '?'. */
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
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
                                return fail_arg(EXIT_USAGE,
                                                "Invalid --json= mode '%s': expected pretty, "
                                                "short or off.",
                                                optarg);
                        break;
                case ARG_NO_PAGER:
                        break;
                case ARG_NO_ASK_PASSWORD:
                        arg_ask_password = false;
                        break;
                case ARG_USER:
                        /* What the daemon's user lookup accepts (common/userdb.c). */
                        if (!filename_is_valid(optarg))
                                return fail_arg(EXIT_USAGE, "Invalid user name '%s'.", optarg);
                        arg_user = optarg;
                        break;
                case ARG_SYSFS_ROOT:
                        if (isempty(optarg))
                                return fail(EXIT_USAGE, NULL, "--sysfs-root needs a directory.");
                        arg_sysfs_root = optarg;
                        break;
                case ARG_NOW:
                        arg_now = true;
                        break;
                case ARG_NEEDED:
                        arg_needed = true;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_ROOT:
                        if (isempty(optarg))
                                return fail(EXIT_USAGE, NULL, "--root needs a directory.");
                        arg_root = optarg;
                        break;
                case ARG_POLICY_DIR:
                        if (isempty(optarg))
                                return fail(EXIT_USAGE, NULL, "--policy-dir needs a directory.");
                        if (strv_length(arg_policy_dirs) >= POLICY_DIRS_MAX)
                                return fail(EXIT_USAGE, NULL,
                                            "Too many --policy-dir options (at most %d).",
                                            POLICY_DIRS_MAX);
                        if (strv_extend(&arg_policy_dirs, optarg) < 0)
                                return fail(EXIT_FAILED, NULL, "Out of memory.");
                        break;
                case ARG_VFIO:
                        arg_vfio = true;
                        break;
                case ARG_PERSISTENT:
                        arg_persistent = true;
                        break;
                case ARG_OWNER:
                        /* The daemon checks the key; an empty one is no key at all. */
                        if (isempty(optarg))
                                return fail(EXIT_USAGE, NULL,
                                            "--owner needs a key, like k8s:claim/UID.");
                        arg_owner = optarg;
                        break;
                case ARG_BACKEND:
                        /* The daemon knows the names; this only keeps out what is no name. */
                        if (isempty(optarg) || !filename_is_valid(optarg))
                                return fail_arg(EXIT_USAGE, "Invalid backend name '%s'.", optarg);
                        arg_backend = optarg;
                        break;
                case ARG_MEMLOCK:
                        if (parse_size(optarg, &arg_memlock) < 0 || arg_memlock == 0)
                                return fail_arg(EXIT_USAGE,
                                                "Invalid size '%s' for --memlock (e.g. 4096, 512M, "
                                                "8G).",
                                                optarg);
                        break;
                case ARG_VF_MAC:
                        /* The daemon says what is no unicast address. */
                        arg_vf_mac = optarg;
                        break;
                case ARG_VF_VLAN: {
                        uint32_t vlan, qos = 0;
                        char *colon = strchr(optarg, ':');

                        if (colon)
                                *colon = 0;
                        if (safe_atou32(optarg, 10, &vlan) < 0 || vlan > 4095 ||
                            (colon && (safe_atou32(colon + 1, 10, &qos) < 0 || qos > 7))) {
                                if (colon)
                                        *colon = ':';
                                return fail_arg(EXIT_USAGE,
                                                "Invalid --vf-vlan '%s' (VLAN 0-4095, optionally "
                                                ":QOS 0-7).",
                                                optarg);
                        }
                        arg_vf_vlan = (int) vlan;
                        arg_vf_qos = colon ? (int) qos : -1;
                        break;
                }
                case ARG_VF_SPOOFCHK:
                case ARG_VF_TRUST: {
                        int *v = c == ARG_VF_TRUST ? &arg_vf_trust : &arg_vf_spoofchk;

                        if (streq(optarg, "on"))
                                *v = 1;
                        else if (streq(optarg, "off"))
                                *v = 0;
                        else
                                return fail_arg(EXIT_USAGE, "Expected on or off, not '%s'.",
                                                optarg);
                        break;
                }
                case ARG_MEMORY:
                        if (parse_size(optarg, &arg_memory) < 0 || arg_memory == 0)
                                return fail_arg(EXIT_USAGE,
                                                "Invalid size '%s' for --memory (e.g. 512M, 4G).",
                                                optarg);
                        break;
                case ARG_HUGEPAGES:
                        if (!streq(optarg, "2M") && !streq(optarg, "1G") && !streq(optarg, "none"))
                                return fail_arg(EXIT_USAGE,
                                                "Invalid page size '%s' for --hugepages: 2M, 1G or "
                                                "none.",
                                                optarg);
                        arg_hugepages = optarg;
                        break;
                case ARG_NUMA_NODE: {
                        uint32_t n;

                        if (safe_atou32(optarg, 10, &n) < 0 || n > INT32_MAX)
                                return fail_arg(EXIT_USAGE, "Invalid NUMA node '%s'.", optarg);
                        arg_numa_node = (int) n;
                        break;
                }
                case ARG_MAP:
                        if (safe_atou64(optarg, 0, &arg_map) < 0 || arg_map == UINT64_MAX)
                                return fail_arg(EXIT_USAGE,
                                                "Invalid IOVA '%s' for --map (e.g. 0x100000000).",
                                                optarg);
                        break;
                case ':':
                        return fail_arg(EXIT_USAGE,
                                        "Option '%s' needs an argument. Try 'assignctl --help'.",
                                        argv[optind - 1]);
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
                                return fail_arg(EXIT_USAGE,
                                                "Option '%s' takes no argument. "
                                                "Try 'assignctl --help'.",
                                                opt);
                        return fail_arg(EXIT_USAGE, "Unknown option '%s'. Try 'assignctl --help'.",
                                        opt);
                }
                default:
                        return fail(EXIT_USAGE, NULL, "Unexpected option. Try 'assignctl --help'.");
                }
        }
        if (arg_policy_dirs && !arg_sysfs_root)
                return fail(EXIT_USAGE, NULL,
                            "--policy-dir is for the offline mode; give --sysfs-root too.");
        if ((arg_hugepages || arg_numa_node != ARG_NUMA_NODE_UNSET || arg_map != UINT64_MAX) &&
            arg_memory == 0)
                return fail(EXIT_USAGE, NULL,
                            "--hugepages, --numa-node and --map are for --memory; give it too.");
        if (arg_memory > 0 && !arg_exec && optind < argc && streq(argv[optind], "claim"))
                return fail(EXIT_USAGE, NULL,
                            "--memory is for --exec: the command gets the guest RAM as a memfd.");
        if (arg_exec && !arg_exec[0])
                return fail(EXIT_USAGE, NULL, "--exec needs a command.");
        /* An owner's lease is not ours: nothing to hold, no fds to run a command with. */
        if (arg_owner && (arg_exec || arg_memory > 0))
                return fail(EXIT_USAGE, NULL,
                            "--owner makes a lease that is not this command's: --exec and "
                            "--memory need one it holds.");
        return -1;
}

int main(int argc, char *argv[]) {
        int r;

        argc = split_exec(argc, argv);
        r = parse_argv(argc, argv);
        if (r < 0)
                r = dispatch_verb(argc - optind, argv + optind);
        strv_free(arg_policy_dirs);

        if (fflush(stdout) != 0 || ferror(stdout))
                return fail_errno(EXIT_FAILED, errno, "Failed to write to standard output: %m");
        return r;
}
