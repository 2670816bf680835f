/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl policy check|explain|status|reload|accept. check and the offline explain run the daemon's
 * own reader, parser and evaluator (libpolicy.a), and the offline explain reads the host with
 * the daemon's model (libmodel.a), so they cannot disagree with it; the rest asks the daemon. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assignctl.h"
#include "explain.h"
#include "model.h"
#include "names.h"
#include "output.h"
#include "policy.h"
#include "userdb.h"
#include "util.h"

/* The supplementary groups a process can have (NGROUPS_MAX is 65536 since Linux 2.6.4); far
 * more than anyone has, so the list is cut here. */
#define CALLER_GROUPS_MAX 256

/* ---- policy check ---- */

static int strv_to_json(char *const *l, json_object **ret) {
        _cleanup_json_ json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        for (char *const *i = l; i && *i; i++) {
                json_object *s = json_object_new_string(*i);

                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(a);
        return 0;
}

/* {"file": s, "valid": b, "rules": n|null, "errors": [s]} */
static int check_result_to_json(const char *path, const Policy *p, char **errors,
                                json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *e = NULL;

        if (!o || json_add(o, "file", json_object_new_string(path)) < 0 ||
            json_add(o, "valid", json_object_new_boolean(p != NULL)) < 0 ||
            json_add(o, "rules", p ? json_object_new_int64((int64_t) policy_n_rules(p)) : NULL) <
                    0 ||
            strv_to_json(errors, &e) < 0 || json_add(o, "errors", e) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* Returns 1 when the file is valid, 0 when not (its errors printed or added to results). */
static int check_file(const char *path, json_object *results) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;
        size_t size = 0;
        int r;

        /* /dev/null, a mask in a policy directory, is checked as the empty file it reads as. */
        r = policy_read_file(path, &text, &size, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                r = strv_extend(&errors, error);
        else if (size > POLICY_FILE_SIZE_MAX)
                r = strv_extendf(&errors, "%s: file too large (more than %u bytes)", path,
                                 POLICY_FILE_SIZE_MAX);
        else {
                /* The path names the file in every error line, as the daemon's do. */
                r = policy_parse_file(path, text, size, &p, &errors);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && !errors)
                        r = strv_extendf(&errors, "%s: invalid: %s", path, strerror(-r));
                else
                        r = 0;
        }
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                json_object *o = NULL;

                r = check_result_to_json(path, p, errors, &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(results, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        } else if (p) {
                _cleanup_free_ char *shown = cescape(path);
                size_t n = policy_n_rules(p);

                if (!shown)
                        return -ENOMEM;
                printf("%s: valid, %zu rule%s\n", shown, n, n == 1 ? "" : "s");
        } else
                /* They quote the file name and what the file says: fail() escapes them. */
                for (char **e = errors; e && *e; e++)
                        (void) fail(EXIT_FAILED, NULL, "%s", *e);
        return p ? 1 : 0;
}

int verb_policy_check(int argc, char *argv[]) {
        _cleanup_json_ json_object *doc = NULL, *results = NULL;
        size_t n_invalid = 0;

        results = json_object_new_array();
        doc = json_object_new_object();
        if (!results || !doc || json_add(doc, "files", json_object_get(results)) < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        for (int i = 1; i < argc; i++) {
                int r = check_file(argv[i], results);

                if (r < 0)
                        return fail_errno(EXIT_FAILED, r, "%s: %m", argv[i]);
                if (r == 0)
                        n_invalid++;
        }
        if (arg_json != JSON_OFF)
                (void) print_json(doc);
        return n_invalid > 0 ? EXIT_FAILED : EXIT_OK;
}

/* ---- policy explain ---- */

typedef struct Caller {
        uint32_t uid;
        char *user;
        char **groups;
} Caller;

static void caller_done(Caller *c) {
        free(c->user);
        strv_free(c->groups);
        *c = (Caller) {};
}

/* --user NAME, or the invoking user with the groups this process runs with, as the daemon
 * sees a caller on the bus (daemon/access-bus.c). */
static int caller_lookup(const char *context, Caller *ret) {
        _cleanup_(caller_done) Caller c = {};
        gid_t gids[CALLER_GROUPS_MAX];
        int n, r;

        if (arg_user) {
                r = userdb_by_name(arg_user, &c.uid, &c.user, &c.groups);
                if (r == -ENOMEM)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
                if (r < 0)
                        return fail(EXIT_FAILED, NULL, "%s: %s: no user \"%s\"",
                                    program_invocation_short_name, context, arg_user);
        } else {
                c.uid = (uint32_t) getuid();
                /* A uid without a name is still a caller: rules cannot name it, root can. */
                r = userdb_by_uid(c.uid, &c.user, &c.groups);
                if (r == -ENOMEM || userdb_add_group(&c.groups, (uint32_t) getegid()) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
                n = getgroups((int) ELEMENTSOF(gids), gids);
                for (int i = 0; i < n; i++)
                        if (userdb_add_group(&c.groups, (uint32_t) gids[i]) < 0)
                                return fail(EXIT_FAILED, NULL, "Out of memory.");
        }
        *ret = c;
        c = (Caller) {};
        return EXIT_OK;
}

static int open_model(const char *context, Model **ret) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_(pci_names_freep) PciNames *names = NULL;
        _cleanup_(model_freep) Model *m = NULL;
        int r;

        /* dev/ only tells whether the VFIO nodes exist, which no verdict depends on. */
        r = sysroot_open(arg_sysfs_root, "/", &root);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "%s: %s: cannot open the host tree %s: %m",
                                  program_invocation_short_name, context, arg_sysfs_root);
        /* Names only label devices; without pci.ids the verdicts are the same. */
        if (pci_names_new(sysroot_path(root), PCI_IDS_PATH, &names) < 0)
                names = NULL;
        r = model_new(root, names, &m);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "%s: %s: cannot set up the model: %m",
                                  program_invocation_short_name, context);
        root = NULL; /* the model took both */
        names = NULL;
        r = model_load(m);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "%s: %s: cannot read the host under %s: %m",
                                  program_invocation_short_name, context, arg_sysfs_root);
        *ret = TAKE_PTR(m);
        return EXIT_OK;
}

static int load_policy(const char *context, Policy **ret) {
        static char *const default_dirs[] = { (char *) POLICY_DIR_VENDOR, (char *) POLICY_DIR_ETC,
                                              (char *) POLICY_DIR_RUN, NULL };
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = policy_load_dirs(arg_policy_dirs ?: default_dirs, ret, &errors);
        if (r == -ENOMEM)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        if (r >= 0)
                return EXIT_OK;
        /* One line, as the daemon joins its reasons (fail() escapes line breaks). */
        for (char **e = errors; e && *e; e++)
                if (strextendf(&text, "; ", "%s", *e) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
        return fail(EXIT_FAILED, NULL, "%s: %s: the policy does not load: %s",
                    program_invocation_short_name, context, text ?: strerror(-r));
}

/* Builds the model and the policy here, as the daemon would at start, and evaluates. */
static int explain_offline(const char *context, const char *address, json_object **ret) {
        _cleanup_(model_freep) Model *m = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(policy_verdict_clear) PolicyVerdict v = POLICY_VERDICT_INIT;
        _cleanup_(caller_done) Caller c = {};
        PolicyCaller pc;
        const Device *d;
        const Group *g;
        int r;

        r = caller_lookup(context, &c);
        if (r != EXIT_OK)
                return r;
        r = load_policy(context, &p);
        if (r != EXIT_OK)
                return r;
        r = open_model(context, &m);
        if (r != EXIT_OK)
                return r;

        d = topology_find_device(m->topology, address);
        if (!d)
                return fail(EXIT_FAILED, NULL, "%s: %s: no PCI device %s under %s",
                            program_invocation_short_name, context, address, arg_sysfs_root);
        g = d->group >= 0 ? topology_find_group(m->topology, (uint32_t) d->group) : NULL;
        if (!g)
                return fail(EXIT_FAILED, NULL, "%s: %s: %s is in no IOMMU group",
                            program_invocation_short_name, context, address);

        pc = (PolicyCaller) { .uid = c.uid, .user = c.user, .groups = c.groups };
        r = policy_evaluate_group(p, m->topology, g, m->host, &pc, &v);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "%s: %s: cannot evaluate the policy: %m",
                                  program_invocation_short_name, context);
        r = policy_verdict_to_json(&v, g->id, c.user, c.uid, ret);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        return EXIT_OK;
}

static int explain_online(const char *context, const char *address, json_object **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r;

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        /* Without "user" the daemon judges us, the caller on the bus. */
        if (arg_user)
                r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ExplainPolicy",
                                       &error, &reply, "sa{sv}", address, 1, "user", "s", arg_user);
        else
                r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ExplainPolicy",
                                       &error, &reply, "sa{sv}", address, 0);
        if (r < 0)
                return fail_call(context, &error, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Malformed reply to ExplainPolicy: %m");
        return parse_json_object("ExplainPolicy", text, ret);
}

int verb_policy_explain(int argc, char *argv[]) {
        _cleanup_json_ json_object *verdict = NULL;
        _cleanup_free_ char *context = NULL;
        char address[PCI_ADDRESS_STRLEN];
        int r;

        r = parse_address_arg(argv[1], address);
        if (r != EXIT_OK)
                return r;
        if (asprintf(&context, "policy explain %s", address) < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        r = arg_sysfs_root ? explain_offline(context, address, &verdict)
                           : explain_online(context, address, &verdict);
        if (r != EXIT_OK)
                return r;
        if (arg_json != JSON_OFF)
                return print_json(verdict);
        return printed(output_verdict(stdout, address, verdict));
}

/* ---- policy status, policy reload ---- */

static int fetch_policy(sd_bus *bus, const char *context, json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "GetPolicy", &error, &reply,
                               "");
        if (r < 0)
                return fail_call(context, &error, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Malformed reply to GetPolicy: %m");
        return parse_json_object("GetPolicy", text, ret);
}

static size_t array_length(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
                return 0;
        return json_object_array_length(v);
}

int verb_policy_status(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *policy = NULL;
        int r;

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        /* One call, so files, rules and errors are one consistent snapshot; "errors" holds
         * what the PolicyError property says, line by line. */
        r = fetch_policy(bus, "policy status", &policy);
        if (r != EXIT_OK)
                return r;
        if (arg_json != JSON_OFF)
                r = print_json(policy);
        else
                r = printed(output_policy(stdout, policy));
        if (r != EXIT_OK)
                return r;
        /* A failed reload is not an outage (the previous policy is in force) but scripts
         * must notice it. */
        return array_length(policy, "errors") > 0 ? EXIT_FAILED : EXIT_OK;
}

int verb_policy_reload(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_json_ json_object *policy = NULL;
        int r;

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", &error, NULL,
                               "a{sv}", 0);
        if (r < 0)
                return fail_call("policy reload", &error, r);
        r = fetch_policy(bus, "policy reload", &policy);
        if (r != EXIT_OK)
                return r;
        if (arg_json != JSON_OFF)
                return print_json(policy);
        printf("Policy reloaded: %zu file%s, %zu rule%s.\n", array_length(policy, "files"),
               array_length(policy, "files") == 1 ? "" : "s", array_length(policy, "rules"),
               array_length(policy, "rules") == 1 ? "" : "s");
        return EXIT_OK;
}

/* ---- policy accept ---- */

int verb_policy_accept(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_json_ json_object *o = NULL;
        char address[PCI_ADDRESS_STRLEN];
        int r;

        r = parse_address_arg(argv[1], address);
        if (r != EXIT_OK)
                return r;
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "AcceptIdentity", &error,
                               NULL, "sa{sv}", address, 0);
        if (r < 0)
                return fail_call("policy accept", &error, r);
        if (arg_json != JSON_OFF) {
                o = json_object_new_object();
                if (!o || json_add_new(o, "accepted", json_object_new_string(address)) < 0)
                        return fail_errno(EXIT_FAILED, -ENOMEM, "policy accept: %m");
                return print_json(o);
        }
        printf("The card at %s is accepted: claims and prepares of it are judged by the policy "
               "again.\n",
               address);
        return EXIT_OK;
}
