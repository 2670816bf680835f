/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl's side of issue 8: what it prints and how it follows the daemon.
 *
 * - Under --json, stdout carries one JSON document or nothing, whatever the verb.
 * - Text from the daemon, sysfs or the command line is printed escaped; long arguments are cut.
 *   A fake daemon (python-dbusmock owning org.vfioassign1) says what the real one never would.
 * - monitor waits for a daemon that is not there, and follows one that restarts.
 * - claim learns that a restarted daemon gave its lease back.
 *
 * The real daemon runs as in test-claim.c (claim-world.c): under the kernel model, one per test,
 * on a private bus with the polkit mock. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "escape.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define ESC "\x1b"
/* A name with a colour change, DEL and a C1 CSI (U+009B) that clears the screen. */
#define HOSTILE_VENDOR                     \
        "Evil" ESC "[31m Corp\x7f\xc2\x9b" \
        "2J"
#define HOSTILE_VENDOR_SHOWN "Evil\\x1b[31m Corp\\x7f\\xc2\\x9b2J"
/* A name that starts a line of its own. */
#define FORGED_LINE "assignctl: forged line"
#define HOSTILE_DEVICE "NIC\n" FORGED_LINE
#define HOSTILE_DEVICE_SHOWN "NIC\\n" FORGED_LINE

/* ---- assertions on output ---- */

/* No byte that a terminal acts on (C0 controls but our line feeds, DEL, C1 controls), and no
 * line that a name started. */
static void assert_printable(const char *text, const char *what) {
        for (const unsigned char *p = (const unsigned char *) text; *p; p++)
                ck_assert_msg((*p >= 0x20 || *p == '\n') && *p != 0x7f &&
                                      !(p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0),
                              "%s: control byte 0x%02x at offset %zu in:\n%s", what, *p,
                              (size_t) (p - (const unsigned char *) text), text);
        ck_assert_msg(!strstr(text, "\n" FORGED_LINE) && !startswith(text, FORGED_LINE),
                      "%s: a name started a line:\n%s", what, text);
}

/* Empty, or exactly one JSON document (and white space). */
static void assert_json_only(const char *out, const char *what) {
        json_tokener *tok = json_tokener_new();
        _cleanup_json_ json_object *o = NULL;
        size_t end;

        ck_assert_ptr_nonnull(tok);
        o = json_tokener_parse_ex(tok, out, (int) strlen(out));
        end = json_tokener_get_parse_end(tok);
        if (strspn(out, " \n") == strlen(out)) {
                json_tokener_free(tok);
                return;
        }
        ck_assert_msg(o && json_tokener_get_error(tok) == json_tokener_success,
                      "%s: stdout is not JSON:\n%s", what, out);
        ck_assert_msg(strspn(out + end, " \n") == strlen(out + end),
                      "%s: stdout has more than one JSON document:\n%s", what, out);
        json_tokener_free(tok);
}

static bool match_line(const char *line, const void *want) {
        return streq(line, want);
}

/* ---- a fake daemon ---- */

/* python-dbusmock owning BUS_NAME, with the manager at OBJ_ROOT; methods are added to it. */
static pid_t fake_daemon_start(void) {
        _cleanup_free_ char *log = case_path("fake-daemon.log");
        pid_t pid;

        pid = spawn_logged((char *const[]) { (char *) H.python3, (char *) "-m", (char *) "dbusmock",
                                             (char *) "--system", (char *) "--is-object-manager",
                                             (char *) BUS_NAME, (char *) OBJ_ROOT,
                                             (char *) IFACE_MANAGER, NULL },
                           NULL, log, true);
        wait_for_name(BUS_NAME, &pid, log);
        return pid;
}

static void fake_daemon_call(char *const args[]) {
        busctl_call(BUS_NAME, OBJ_ROOT, "org.freedesktop.DBus.Mock", args);
}

/* A method of the manager running Python code (dbusmock's AddMethod). */
static void fake_method(const char *name, const char *in_sig, const char *out_sig,
                        const char *code) {
        fake_daemon_call((char *const[]) { (char *) "AddMethod", (char *) "sssss",
                                           (char *) IFACE_MANAGER, (char *) name, (char *) in_sig,
                                           (char *) out_sig, (char *) code, NULL });
}

/* The report of the q35 host with hostile names on NIC1, in a file GetHostReport returns. */
static void fake_report(void) {
        _cleanup_json_ json_object *report = daemon_report();
        _cleanup_free_ char *path = case_path("report.json"), *code = NULL;
        json_object *devices = jget(report, "devices"), *dev = NULL;

        for (size_t i = 0; i < jlen(devices); i++)
                if (streq(jstr_or_null(jidx(devices, i), "address"), NIC1))
                        dev = jidx(devices, i);
        ck_assert_ptr_nonnull(dev);
        ck_assert_int_eq(json_object_object_add(dev, "vendor_name",
                                                json_object_new_string(HOSTILE_VENDOR)),
                         0);
        ck_assert_int_eq(json_object_object_add(dev, "device_name",
                                                json_object_new_string(HOSTILE_DEVICE)),
                         0);
        write_file(path, json_object_to_json_string_ext(report, JSON_C_TO_STRING_PLAIN));
        code = xasprintf("ret = open('%s', encoding='utf-8').read()", path);
        fake_method("GetHostReport", "", "s", code);
}

/* ---- 1. --json: stdout is one JSON document or nothing ---- */

/* assignctl --json ARGS... must succeed and print JSON or nothing. */
static void assert_json_verb(char *const args[]) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = assignctl(&out, &err, args);
        ck_assert_msg(r == 0, "assignctl %s %s: exit %d: %s", args[1], strempty(args[2]), r, err);
        assert_json_only(out, args[1]);
}
#define JSON_VERB(...) assert_json_verb((char *const[]) { (char *) "--json", __VA_ARGS__, NULL })

START_TEST(test_json_stdout_is_only_json) {
        _cleanup_free_ char *policy = NULL;
        Proc claim;

        case_start(Q35_HOST);
        policy = path_join(C.policy, "default.json");
        JSON_VERB((char *) "list");
        JSON_VERB((char *) "status");
        JSON_VERB((char *) "show", (char *) NIC1);
        JSON_VERB((char *) "show", (char *) "6");
        JSON_VERB((char *) "policy", (char *) "check", policy);
        JSON_VERB((char *) "policy", (char *) "explain", (char *) NIC1);
        JSON_VERB((char *) "policy", (char *) "status");
        JSON_VERB((char *) "policy", (char *) "reload");
        JSON_VERB((char *) "prepare", (char *) SOLO5);
        JSON_VERB((char *) "leases");
        JSON_VERB((char *) "unprepare", (char *) SOLO5);

        /* A claim prints its lease; a release by someone else ends it (exit 1). */
        proc_spawn(&claim, (char *) H.assignctl, (char *) "--json", (char *) "claim",
                   (char *) SOLO1);
        ck_assert_msg(proc_wait_stderr(&claim, "Holding IOMMU group 1 ", WAIT_MS),
                      "assignctl claim did not hold: %s", strempty(claim.err));
        ck_assert_msg(proc_wait_line(&claim, match_line, "}", WAIT_MS), "no lease: %s",
                      strempty(claim.out));
        JSON_VERB((char *) "release", (char *) SOLO1);
        ck_assert_msg(proc_wait_stderr(&claim, "was released by someone else", WAIT_MS),
                      "assignctl claim did not notice the release: %s", strempty(claim.err));
        assert_json_only(claim.out, "claim");
        ck_assert_int_eq(proc_stop(&claim, 0), EXIT_FAILURE);
        case_end();
}
END_TEST

/* ---- 2. escaped text, cut arguments ---- */

START_TEST(test_text_escapes_daemon_strings) {
        _cleanup_free_ char *list = NULL, *show = NULL, *json = NULL, *err = NULL, *err2 = NULL;
        _cleanup_free_ char *msg = path_join(H.tmpdir, "message");
        _cleanup_free_ char *raise = NULL;
        _cleanup_json_ json_object *doc = NULL;
        Proc monitor;
        pid_t fake;

        case_begin_data(Q35_HOST);
        fake = fake_daemon_start();
        fake_report();
        /* A refusal whose message colours the terminal and forges a line. */
        write_file(msg, "cannot bind " ESC "[31m" NIC1 "\nassignctl: forged line");
        raise = xasprintf("raise dbus.exceptions.DBusException(open('%s', encoding='utf-8')"
                          ".read(), name='" ERROR_PREFIX "BindFailed')",
                          msg);
        fake_method("ClaimDevice", "sa{sv}", "o", raise);

        ck_assert_int_eq(ASSIGNCTL(&list, NULL, (char *) "list"), 0);
        assert_printable(list, "list");
        assert_contains(list, HOSTILE_VENDOR_SHOWN " " HOSTILE_DEVICE_SHOWN);
        ck_assert_int_eq(ASSIGNCTL(&show, NULL, (char *) "show", (char *) NIC1), 0);
        assert_printable(show, "show");
        assert_contains(show, "Vendor: 0x8086 " HOSTILE_VENDOR_SHOWN "\n");
        assert_contains(show, " " HOSTILE_DEVICE_SHOWN "\n");
        assert_contains(show, "PCIe root: pci0000:00\n");

        /* JSON carries the names as they are, escaped the JSON way. */
        ck_assert_int_eq(ASSIGNCTL(&json, NULL, (char *) "--json", (char *) "show", (char *) NIC1),
                         0);
        assert_printable(json, "--json show");
        doc = parse_json(json, "--json show");
        ck_assert_str_eq(jstr_or_null(doc, "vendor_name"), HOSTILE_VENDOR);

        /* The daemon's message: one line, escaped, in text and in JSON. */
        ck_assert_int_eq(ASSIGNCTL(NULL, &err, (char *) "claim", (char *) NIC1), 1);
        assert_printable(err, "claim");
        ck_assert_str_eq(err, "assignctl: claim " NIC1 ": BindFailed: cannot bind \\x1b[31m" NIC1
                              "\\nassignctl: forged line\n");
        ck_assert_int_eq(ASSIGNCTL(NULL, &err2, (char *) "--json=short", (char *) "claim",
                                   (char *) NIC1),
                         1);
        assert_printable(err2, "--json claim");
        assert_contains(err2, "\"name\":\"" ERROR_PREFIX "BindFailed\"");

        /* monitor: a property whose value drives the terminal. */
        proc_spawn(&monitor, (char *) H.assignctl, (char *) "monitor");
        ck_assert_msg(proc_wait_stderr(&monitor, "Monitoring " BUS_NAME, WAIT_MS),
                      "assignctl monitor did not start: %s", strempty(monitor.err));
        fake_daemon_call((char *const[]) {
                (char *) "EmitSignal", (char *) "sssav", (char *) "org.freedesktop.DBus.Properties",
                (char *) "PropertiesChanged", (char *) "sa{sv}as", (char *) "3", (char *) "s",
                (char *) IFACE_MANAGER, (char *) "a{sv}", (char *) "1", (char *) "PolicyError",
                (char *) "s", (char *) HOSTILE_DEVICE, (char *) "as", (char *) "0", NULL });
        ck_assert_msg(proc_wait_line(&monitor, match_line,
                                     "changed manager PolicyError=" HOSTILE_DEVICE_SHOWN, WAIT_MS),
                      "assignctl monitor did not print the property:\n%s", strempty(monitor.out));
        assert_printable(monitor.out, "monitor");
        ck_assert_int_eq(proc_stop(&monitor, SIGTERM), 0);

        ck_assert_int_eq(kill(fake, SIGTERM), 0);
        (void) wait_exit(fake, WAIT_MS);
        case_end();
}
END_TEST

/* Runs assignctl ARGS... where it must refuse: the exit code, and stderr must be printable. */
static int refused(char **ret_err, char *const args[]) {
        int r = assignctl(NULL, ret_err, args);

        assert_printable(*ret_err, args[0]);
        return r;
}
#define REFUSED(err, ...) refused(err, (char *const[]) { __VA_ARGS__, NULL })

START_TEST(test_arguments_escaped_and_cut) {
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL, *e6 = NULL;
        _cleanup_free_ char *e7 = NULL, *zeros = malloc(10001), *address = NULL, *cut = NULL;
        _cleanup_free_ char *nines = NULL;
        _cleanup_json_ json_object *doc = NULL;

        /* No daemon: these are refused before anyone is asked. */
        case_begin_data(Q35_HOST);
        ck_assert_int_eq(REFUSED(&e1, (char *) "show", (char *) "0000:01:00.0" ESC "[31m"), 2);
        assert_contains(e1, "'0000:01:00.0\\x1b[31m'");
        ck_assert_int_eq(REFUSED(&e2, (char *) "frob" ESC "[2J"), 2);
        assert_contains(e2, "Unknown verb 'frob\\x1b[2J'");
        ck_assert_int_eq(REFUSED(&e3, (char *) "--json=x\n", (char *) "list"), 2);
        assert_contains(e3, "'x\\n'");
        ck_assert_int_eq(REFUSED(&e4, (char *) "policy", (char *) "check",
                                 (char *) "/nonexistent/" ESC "]0;title\a.json"),
                         1);
        assert_contains(e4, "/nonexistent/\\x1b]0;title\\a.json: cannot read");

        /* 10,000 characters: the first 64 are quoted, then an ellipsis. */
        ck_assert_ptr_nonnull(zeros);
        memset(zeros, '0', 10000);
        zeros[10000] = '\0';
        address = xasprintf("0000:%s", zeros);
        cut = xasprintf("'%.64s" ELLIPSIS "'", address);
        ck_assert_int_eq(REFUSED(&e5, (char *) "claim", address), 2);
        assert_contains(e5, cut);
        ck_assert_uint_lt(strlen(e5), 200);
        nines = strdup(zeros);
        ck_assert_ptr_nonnull(nines);
        memset(nines, '9', 10000);
        ck_assert_int_eq(REFUSED(&e6, (char *) "release", nines), 2);
        ck_assert_uint_lt(strlen(e6), 200);
        /* Errors in JSON quote it cut as well. */
        ck_assert_int_eq(REFUSED(&e7, (char *) "--json=short", (char *) "show", address), 2);
        ck_assert_uint_lt(strlen(e7), 300);
        doc = parse_json(e7, "the error");
        assert_contains(jstr_or_null(jget(doc, "error"), "message"), cut);
        case_end();
}
END_TEST

/* ---- 3. monitor without a daemon, and across a restart ---- */

typedef struct AnyOf {
        bool (*match)(const char *line, const void *data);
        const void *const *wants;
        bool *seen;
        size_t n;
} AnyOf;

static bool match_any_of(const char *line, const void *data) {
        const AnyOf *a = data;

        for (size_t i = 0; i < a->n; i++)
                if (!a->seen[i] && a->match(line, a->wants[i])) {
                        a->seen[i] = true;
                        return true;
                }
        return false;
}

/* Waits until each of wants (at most 8) has matched a line of stdout, in any order. */
static void expect_lines(Proc *p, bool (*match)(const char *line, const void *data),
                         const void *const *wants, size_t n) {
        bool seen[8] = {};
        AnyOf a = { match, wants, seen, n };

        ck_assert_uint_le(n, ELEMENTSOF(seen));
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(proc_wait_line(p, match_any_of, &a, WAIT_MS),
                              "assignctl printed %zu of the %zu lines expected:\n%s", i, n,
                              strempty(p->out));
}

/* Makes the daemon's next start give the one lease back: a lease found "releasing" is one a
 * crash interrupted, and reconcile finishes it (daemon/lease-set.c). Returns the lease id. */
static uint64_t give_back_at_next_start(void) {
        _cleanup_json_ json_object *state = state_json();
        _cleanup_free_ char *path = path_join(C.run, STATE_FILE);
        json_object *lease = state_only_lease(state);

        ck_assert_int_eq(json_object_object_add(lease, "state",
                                                json_object_new_string("releasing")),
                         0);
        write_file(path, json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN));
        return (uint64_t) json_object_get_int64(jget(lease, "id"));
}

typedef struct EventMatch {
        const char *event, *type, *address;
        int64_t id; /* a group's, when address is NULL */
        const char *property, *value;
} EventMatch;

/* One line of `assignctl --json monitor`; every line must be a JSON object. */
static bool match_event(const char *line, const void *data) {
        const EventMatch *m = data;
        _cleanup_json_ json_object *o = parse_json(line, "a line of assignctl --json monitor");
        json_object *v = NULL;

        ck_assert_msg(json_object_is_type(o, json_type_object), "not an object: %s", line);
        if (!streq(jstr_or_null(o, "event"), m->event) || !streq(jstr_or_null(o, "type"), m->type))
                return false;
        if (m->address ? !streq(jstr_or_null(o, "address"), m->address)
                       : json_object_get_int64(jget(o, "id")) != m->id)
                return false;
        if (!m->property)
                return true;
        return streq(jstr_or_null(o, "property"), m->property) &&
               json_object_object_get_ex(o, "value", &v) &&
               streq(json_object_get_string(v), m->value);
}

START_TEST(test_monitor_waits_for_daemon) {
        static const EventMatch group_added = { .event = "added",
                                                .type = "group",
                                                .id = Q35_GROUP };
        static const EventMatch nic_added = { .event = "added", .type = "device", .address = NIC1 };
        static const EventMatch nic_bound = { .event = "changed",
                                              .type = "device",
                                              .address = NIC1,
                                              .property = "Driver",
                                              .value = DRIVER_VFIO_PCI };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        Proc monitor;

        case_begin_data(Q35_HOST);
        polkit_allow_all();
        proc_spawn(&monitor, (char *) H.assignctl, (char *) "--json", (char *) "monitor");
        ck_assert_msg(proc_wait_stderr(&monitor, "waiting for it to appear on the bus", WAIT_MS),
                      "assignctl monitor does not wait: %s", strempty(monitor.err));
        ck_assert_msg(proc_wait_stderr(&monitor, "Monitoring " BUS_NAME, WAIT_MS), "no banner: %s",
                      strempty(monitor.err));

        /* The daemon appears: its objects are new to the monitor. */
        daemon_start();
        expect_lines(&monitor, match_event, (const void *const[]) { &group_added, &nic_added }, 2);
        /* ... and its signals reach the monitor. */
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        expect_lines(&monitor, match_event, (const void *const[]) { &nic_bound }, 1);
        release(bus, path);
        ck_assert_int_eq(proc_stop(&monitor, SIGTERM), 0);
        case_end();
}
END_TEST

START_TEST(test_monitor_reports_restart_changes) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *again = NULL, *removed = NULL;
        Proc monitor;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        proc_spawn(&monitor, (char *) H.assignctl, (char *) "monitor");
        ck_assert_msg(proc_wait_stderr(&monitor, "Monitoring " BUS_NAME, WAIT_MS),
                      "assignctl monitor did not start: %s", strempty(monitor.err));

        /* A daemon that restarts gives the group back at start, where nobody hears it. */
        daemon_kill();
        ck_assert_msg(proc_wait_stderr(&monitor, "vfio-assignd left the bus", WAIT_MS), "%s",
                      strempty(monitor.err));
        (void) give_back_at_next_start();
        daemon_start();
        assert_on_host(NIC1, NIC_DRIVER);
        removed = xasprintf("removed object %s", path);
        expect_lines(&monitor, match_line,
                     (const void *const[]) { "changed device " NIC1 " Driver=" NIC_DRIVER,
                                             "changed device " NIC2 " Driver=" NIC_DRIVER,
                                             removed },
                     3);

        /* The new daemon's own signals reach it too. */
        again = claim_group(bus, Q35_GROUP);
        expect_lines(&monitor, match_line,
                     (const void *const[]) { "changed device " NIC1 " Driver=" DRIVER_VFIO_PCI },
                     1);
        release(bus, again);
        ck_assert_int_eq(proc_stop(&monitor, SIGINT), 0);
        case_end();
}
END_TEST

/* ---- 4. a claim that a restarted daemon gave back ---- */

/* The command of --exec: prints its pid, exits 0 on SIGTERM. */
#define EXEC_SCRIPT "trap 'kill $!; exit 0' TERM; sleep 1000 & echo \"pid $$\"; wait"

static bool match_pid(const char *line, const void *data) {
        return startswith(line, "pid ");
}

static void claim_given_back(bool exec) {
        _cleanup_free_ char *gone = NULL;
        Proc claim;
        pid_t command = 0;
        uint64_t id;

        case_start(Q35_HOST);
        if (exec) {
                const char *line;

                proc_spawn(&claim, (char *) H.assignctl, (char *) "claim", (char *) "6",
                           (char *) "--exec", (char *) "sh", (char *) "-c", (char *) EXEC_SCRIPT);
                line = proc_wait_line(&claim, match_pid, NULL, WAIT_MS);
                ck_assert_msg(line, "the command did not start: %s", strempty(claim.err));
                ck_assert_int_eq(safe_atoi32(line + 4, &command), 0);
        } else {
                proc_spawn(&claim, (char *) H.assignctl, (char *) "claim", (char *) "6");
                ck_assert_msg(proc_wait_stderr(&claim, "Holding IOMMU group 6 ", WAIT_MS),
                              "assignctl claim did not hold: %s", strempty(claim.err));
        }

        /* While no daemon runs, the claim holds on. */
        daemon_kill();
        ck_assert_msg(proc_wait_stderr(&claim, "vfio-assignd left the bus; holding lease", WAIT_MS),
                      "%s", strempty(claim.err));
        ck_assert_int_eq(waitpid(claim.pid, NULL, WNOHANG), 0);

        id = give_back_at_next_start();
        daemon_start();
        /* The command holds the group: the daemon waits for it to let go (the lease is stuck). */
        if (!exec)
                assert_on_host(NIC1, NIC_DRIVER);
        gone = xasprintf("assignctl: claim 6: lease %" PRIu64 " on IOMMU group 6 was given back "
                         "by the restarted daemon\n",
                         id);
        ck_assert_msg(proc_wait_stderr(&claim, gone, WAIT_MS),
                      "assignctl claim did not learn that its lease is gone: %s",
                      strempty(claim.err));

        if (exec) {
                /* The command decides; it ends well, but the claim did not. */
                ck_assert_int_eq(waitpid(claim.pid, NULL, WNOHANG), 0);
                ck_assert_int_eq(kill(command, SIGTERM), 0);
        }
        /* Nothing to send: it ends by itself. */
        ck_assert_int_eq(proc_stop(&claim, 0), EXIT_FAILURE);
        case_end();
}

START_TEST(test_claim_learns_restart_gave_lease_back) {
        claim_given_back(false);
}
END_TEST

START_TEST(test_claim_exec_learns_restart_gave_lease_back) {
        claim_given_back(true);
}
END_TEST

/* ---- 5. claim --backend ---- */

/* The daemon's verdict on the name reaches the user; auto on a kernel without iommufd gives a
 * type1 claim and the command the type1 variables only. */
START_TEST(test_claim_backend) {
        _cleanup_free_ char *err = NULL, *err2 = NULL, *err3 = NULL, *out = NULL;

        case_start(Q35_HOST);
        ck_assert_int_eq(ASSIGNCTL(NULL, &err, (char *) "claim", (char *) "6", (char *) "--backend",
                                   (char *) "spapr"),
                         1);
        assert_contains(err, "Unknown VFIO backend \"spapr\" (known: type1, iommufd, auto)");
        ck_assert_int_eq(ASSIGNCTL(NULL, &err2, (char *) "claim", (char *) NIC1,
                                   (char *) "--backend=iommufd"),
                         1);
        assert_contains(err2, "This kernel offers no iommufd backend: /dev/iommu is missing");
        ck_assert_int_eq(ASSIGNCTL(NULL, &err3, (char *) "list", (char *) "--backend=type1"), 2);
        assert_contains(err3, "Option --backend does not apply to 'assignctl list");
        free(err3);
        ck_assert_int_eq(ASSIGNCTL(NULL, &err3, (char *) "claim", (char *) "6",
                                   (char *) "--memlock=4GB"),
                         2);
        assert_contains(err3, "Invalid size '4GB' for --memlock");
        free(err3);
        ck_assert_int_eq(ASSIGNCTL(NULL, &err3, (char *) "claim", (char *) "6",
                                   (char *) "--memlock=0"),
                         2);
        assert_contains(err3, "Invalid size '0' for --memlock");
        assert_on_host(NIC1, NIC_DRIVER);

        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "claim", (char *) "6", (char *) "--backend",
                                   (char *) "auto", (char *) "--exec", (char *) "sh", (char *) "-c",
                                   (char *) "echo \"${VFIO_CONTAINER_FD:+container} "
                                            "${VFIO_GROUP_FD:+group} ${VFIO_IOMMUFD_FD-no iommufd} "
                                            "${VFIO_QEMU_ARGS-no args}\""),
                         0);
        ck_assert_str_eq(out, "container group no iommufd no args\n");
        assert_on_host(NIC1, NIC_DRIVER);
        case_end();
}
END_TEST

/* ---- main ---- */

static void client_setup(void) {
        world_setup("client");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the client tests"))
                return 77;

        s = suite_create("client");
        tc = tcase_create("assignctl");
        tcase_add_unchecked_fixture(tc, client_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_json_stdout_is_only_json);
        tcase_add_test(tc, test_text_escapes_daemon_strings);
        tcase_add_test(tc, test_arguments_escaped_and_cut);
        tcase_add_test(tc, test_monitor_waits_for_daemon);
        tcase_add_test(tc, test_monitor_reports_restart_changes);
        tcase_add_test(tc, test_claim_learns_restart_gave_lease_back);
        tcase_add_test(tc, test_claim_exec_learns_restart_gave_lease_back);
        tcase_add_test(tc, test_claim_backend);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
