/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The attacks of issue 9, each as a local user would make it, on the kernel model and a private
 * bus with python-dbusmock's polkitd (or no polkitd at all: nobody is ever asked). Each test
 * failed before its fix. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define DISK_GID 6u /* "disk" in Debian's base-passwd: a group nobody is not in */

static bool need_root(const char *test) {
        if (getuid() == 0)
                return true;
        printf("SKIP: %s needs root to act as uid %u\n", test, NOBODY_UID);
        return false;
}

static sd_bus *bus_connect_to(const char *address) {
        sd_bus *bus = NULL;

        ck_assert_int_ge(sd_bus_new(&bus), 0);
        ck_assert_int_ge(sd_bus_set_address(bus, address), 0);
        ck_assert_int_ge(sd_bus_set_bus_client(bus, true), 0);
        ck_assert_int_ge(sd_bus_start(bus), 0);
        return bus;
}

/* The daemon answers on the bus at address (it took its name and reconciled its leases). */
static void wait_daemon_on(const char *address, pid_t daemon, const char *log) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = bus_connect_to(address);

        for (int64_t deadline = now_usec() + WAIT_MS * 1000LL;;) {
                _cleanup_free_ char *text = NULL;
                int status;

                if (sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, "org.freedesktop.DBus.Peer", "Ping",
                                       NULL, NULL, "") >= 0)
                        return;
                text = read_file_or_abort(log);
                ck_assert_msg(now_usec() < deadline, "the daemon did not answer:\n%s", text);
                ck_assert_msg(waitpid(daemon, &status, WNOHANG) == 0, "the daemon exited:\n%s",
                              text);
                sleep_ms(10);
        }
}

/* Runs body(out, arg) in a child (which dies with us) and returns the one line it writes to out;
 * the child must exit 0. */
static char *child_line(void (*body)(int out, const void *arg), const void *arg) {
        _cleanup_close_ int out_fd = -1;
        int out[2];
        pid_t pid;
        char *line;

        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) prctl_die_with_parent();
                body(out[1], arg);
                _exit(0);
        }
        close(out[1]);
        out_fd = out[0];
        line = read_line(out_fd, WAIT_MS);
        ck_assert_int_eq(exit_code_of(wait_exit(pid, WAIT_MS)), 0);
        ck_assert_msg(line, "the client wrote nothing");
        return line;
}

/* Writes "OK <first string of the reply>" or "ERR <name> <message>" for a call's result. */
static void write_result(int out, int r, sd_bus_message *reply, const char *type,
                         const sd_bus_error *e) {
        const char *s;

        if (r < 0 || sd_bus_message_read(reply, type, &s) < 0)
                dprintf(out, "ERR %s %s\n", strna(e->name), strna(e->message));
        else
                dprintf(out, "OK %s\n", s);
}

/* ---- 1. a holder is an identity, not a unique name ---- */

/* Unique names restart at :1.0 with the bus. After a bus restart another user opens connections
 * until it owns the name a claim's holder had; the restarted daemon must not take it for the
 * holder (before the fix it did, and the squatter could GrantAccess itself /dev/vfio/N with no
 * polkit at all). The squatter, uid nobody, reports "OWN" once it has the name and then, on
 * "go", tries to use the lease. */
_noreturn_ static void squatter(const char *address, const char *name, const char *lease, int in,
                                int out) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        char c;
        int r;

        if (setgroups(0, NULL) < 0 || setresgid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0 ||
            setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0)
                _exit(10);
        for (int i = 0; i < 10000; i++) {
                const char *u;

                if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 ||
                    sd_bus_set_bus_client(bus, true) < 0 || sd_bus_start(bus) < 0 ||
                    sd_bus_get_unique_name(bus, &u) < 0)
                        _exit(11);
                if (streq(u, name))
                        break;
                bus = sd_bus_flush_close_unref(bus);
        }
        if (!bus) {
                dprintf(out, "ERR never got %s\n", name);
                _exit(12);
        }
        dprintf(out, "OWN\n");
        if (read(in, &c, 1) != 1)
                _exit(13);
        r = sd_bus_call_method(bus, BUS_NAME, lease, IFACE_LEASE, "GrantAccess", &e, NULL, "ua{sv}",
                               NOBODY_UID, 0);
        if (r >= 0)
                dprintf(out, "GRANTED\n");
        else
                dprintf(out, "ERR %s %s\n", strna(e.name), strna(e.message));
        _exit(0);
}

START_TEST(test_holder_name_squat_after_bus_restart) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *holder = NULL;
        _cleanup_free_ char *lease = NULL, *name = NULL, *socket = NULL, *address = NULL,
                            *log = NULL;
        _cleanup_free_ char *line = NULL, *line2 = NULL, *text = NULL, *node = NULL;
        int to[2], from[2], bus_stdout, status;
        pid_t bus_b, daemon_b, child;
        struct stat st;

        if (!need_root("test_holder_name_squat_after_bus_restart"))
                return;
        case_start(Q35_HOST);
        holder = bus_connect();
        lease = claim_device(holder, SOLO5);
        name = strdup(unique_name(holder));
        ck_assert_ptr_nonnull(name);
        /* The daemon dies with the claim on record, active, held by name. */
        daemon_kill();

        /* The bus comes back (a new instance on the same socket path would do; a new path is
         * the same to the daemon): its names start again at :1.0, and no polkitd runs on it. */
        socket = case_path("bus-b");
        bus_b = bus_start(socket, &address, &bus_stdout);
        ck_assert_int_eq(pipe2(to, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(from, O_CLOEXEC), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                (void) prctl_die_with_parent();
                squatter(address, name, lease, to[0], from[1]);
        }
        close(to[0]);
        close(from[1]);
        line = read_line(from[0], WAIT_MS);
        ck_assert_msg(line && streq(line, "OWN"), "the squatter: %s", strna(line));

        log = case_path("daemon-b.log");
        daemon_b = daemon_spawn(log, address);
        wait_daemon_on(address, daemon_b, log);
        text = read_file_or_abort(log);
        ck_assert_msg(wait_driver(SOLO5, SOLO_DRIVER, WAIT_MS),
                      "the claim of a holder on another bus was kept:\n%s", text);
        assert_contains(text, "its holder is gone");

        ck_assert_int_eq(write(to[1], "g", 1), 1);
        line2 = read_line(from[0], WAIT_MS);
        ck_assert_msg(line2 && startswith(line2, "ERR org.freedesktop.DBus.Error.UnknownObject"),
                      "the squatter's GrantAccess: %s", strna(line2));
        ck_assert_int_eq(exit_code_of(wait_exit(child, WAIT_MS)), 0);
        node = xasprintf("%s/dev/vfio/5", C.dev);
        ck_assert(stat(node, &st) < 0 || st.st_uid != NOBODY_UID);
        close(to[1]);
        close(from[0]);

        ck_assert_int_eq(kill(daemon_b, SIGTERM), 0);
        status = wait_exit(daemon_b, WAIT_MS);
        ck_assert_int_eq(exit_code_of(status), 0);
        bus_stop(bus_b, bus_stdout);
        case_end();
}
END_TEST

/* ---- 2. group rules judge groups the caller cannot change after connecting ---- */

typedef struct GroupsClaim {
        const gid_t *at_connect;
        size_t n_at_connect;
        gid_t later_gid;
        uid_t uid;
} GroupsClaim;

static void claim_with_groups_body(int out, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        const GroupsClaim *g = arg;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        int r;

        /* The saved uid stays 0 until the switch: it lets the process change its gid after
         * connecting, as a setgid exec would. */
        if (setgroups(g->n_at_connect, g->at_connect) < 0 ||
            setresgid(g->uid, g->uid, g->uid) < 0 || setresuid(g->uid, g->uid, 0) < 0 ||
            sd_bus_open_system(&bus) < 0)
                _exit(10);
        if (g->later_gid != (gid_t) -1 &&
            (setresuid(-1, 0, -1) < 0 || setresgid(g->later_gid, g->later_gid, g->later_gid) < 0))
                _exit(11);
        if (setresuid(g->uid, g->uid, g->uid) < 0)
                _exit(12);
        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ClaimDevice", &e, &reply,
                               "sa{sv}", SOLO5, 0);
        write_result(out, r, reply, "o", &e);
}

/* A client, uid (and gid) uid, that connects with the groups in at_connect and then, under the
 * same pid, takes egid later_gid unless it is -1 (what exec()ing a setgid binary does) before it
 * claims SOLO5. "OK <path>" or "ERR <name> <message>"; the claim goes with the client. */
static char *claim_with_groups(const gid_t *at_connect, size_t n_at_connect, gid_t later_gid,
                               uid_t uid) {
        GroupsClaim g = { at_connect, n_at_connect, later_gid, uid };

        return child_line(claim_with_groups_body, &g);
}

START_TEST(test_group_rule_ignores_gid_taken_after_connect) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *rule = NULL, *raced = NULL, *member = NULL, *before = NULL;
        const gid_t disk = DISK_GID;

        if (!need_root("test_group_rule_ignores_gid_taken_after_connect"))
                return;
        case_start(Q35_HOST);
        rule = path_join(C.policy, "50-disk.json");
        write_file(rule, "{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"" SOLO5 "\"}, "
                         "\"action\": \"allow\", \"groups\": [\"disk\"]}]}\n");
        bus = bus_connect();
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        before = snapshot();

        /* Not in "disk" when it connected; egid "disk" by the time it calls. */
        raced = claim_with_groups(NULL, 0, DISK_GID, NOBODY_UID);
        ck_assert_msg(startswith(raced, "ERR " ERROR_PREFIX "PolicyDenied "),
                      "a claim with a gid taken after "
                      "connecting: %s",
                      raced);
        {
                _cleanup_free_ char *after = snapshot();

                ck_assert_str_eq(after, before);
        }

        /* In "disk" when it connected: the rule is for it. */
        member = claim_with_groups(&disk, 1, (gid_t) -1, NOBODY_UID);
        ck_assert_msg(startswith(member, "OK "), "a claim by a member of disk: %s", member);
        ck_assert_msg(wait_driver(SOLO5, SOLO_DRIVER, WAIT_MS),
                      "the member's claim was not given back");
        case_end();
}
END_TEST

/* ---- 6. GrantAccess gives the grantee what a claim of its own would, and says so ---- */

static void allow_nobody_solo5(sd_bus *bus, const char *host) {
        _cleanup_free_ char *rule = path_join(C.policy, "50-nobody.json");
        _cleanup_free_ char *text = xasprintf(
                "{\"version\": 1, %s\"rules\": [{\"match\": {\"address\": \"" SOLO5 "\"}, "
                "\"action\": \"allow\", \"users\": [\"nobody\"]}]}\n",
                host ?: "");

        write_file(rule, text);
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
}

START_TEST(test_grant_access_to_denied_uid) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *msg = NULL, *state = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        lease = claim_device(bus, SOLO5);
        /* No rule gives nobody the device: the holder cannot hand it the node. */
        msg = call_error(bus, ERROR_PREFIX "PolicyDenied", lease, IFACE_LEASE, "GrantAccess",
                         "ua{sv}", NOBODY_UID, 0);
        assert_contains(msg, "uid 65534 (nobody)");
        assert_contains(msg, "no rule matches");
        ck_assert_uint_eq(node_owner(5), 0);
        state = file_or_empty(C.run, STATE_FILE);
        ck_assert(!strstr(state, "granted_uid"));
        ck_assert(log_contains("refused to hand /dev/vfio/5 to uid 65534"));

        /* With a rule it may; the grant is logged with who made it. */
        allow_nobody_solo5(bus, NULL);
        sd_bus_message_unref(call_ok(bus, lease, IFACE_LEASE, "GrantAccess", "ua{sv}", NOBODY_UID,
                                     0));
        ck_assert_uint_eq(node_owner(5), NOBODY_UID);
        ck_assert(log_contains("/dev/vfio/5 handed to uid 65534 (nobody) by uid 0"));
        release(bus, lease);
        case_end();
}
END_TEST

/* With on_holder_exit "keep" the group stays on vfio-pci when its holder goes, but what the
 * holder handed out does not: the node is root's again. */
START_TEST(test_grant_revoked_when_holder_goes) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *admin = NULL;
        _cleanup_free_ char *lease = NULL;
        int64_t deadline;

        case_start(Q35_HOST);
        admin = bus_connect();
        allow_nobody_solo5(admin, "\"host\": {\"on_holder_exit\": \"keep\"}, ");
        bus = bus_connect();
        lease = claim_device(bus, SOLO5);
        sd_bus_message_unref(call_ok(bus, lease, IFACE_LEASE, "GrantAccess", "ua{sv}", NOBODY_UID,
                                     0));
        ck_assert_uint_eq(node_owner(5), NOBODY_UID);

        bus = sd_bus_flush_close_unref(bus);
        for (deadline = now_usec() + WAIT_MS * 1000LL; node_owner(5) != 0;) {
                ck_assert_msg(now_usec() < deadline,
                              "/dev/vfio/5 still belongs to nobody after its holder went");
                sleep_ms(5);
        }
        assert_on_vfio(SOLO5);
        ck_assert_uint_eq(n_leases(), 1);
        ck_assert(log_contains("/dev/vfio/5 taken back from uid 65534: its holder is gone"));
        sd_bus_message_unref(call_ok(admin, lease, IFACE_LEASE, "Release", "a{sv}", 0));
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* ---- 7. ExplainPolicy for another user is for administrators ---- */

static void explain_as_nobody_body(int out, const void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *user = arg;
        sd_bus *bus = NULL;
        int r;

        if (setgroups(0, NULL) < 0 || setresgid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0 ||
            setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0 || sd_bus_open_system(&bus) < 0)
                _exit(10);
        if (user)
                r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ExplainPolicy", &e,
                                       &reply, "sa{sv}", SOLO5, 1, "user", "s", user);
        else
                r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ExplainPolicy", &e,
                                       &reply, "sa{sv}", SOLO5, 0);
        write_result(out, r, reply, "s", &e);
}

/* As uid nobody: ExplainPolicy(SOLO5, {user}) (no option when user is NULL); "OK <json>" or
 * "ERR <name> <message>". */
static char *explain_as_nobody(const char *user) {
        return child_line(explain_as_nobody_body, user);
}

START_TEST(test_explain_policy_for_other_user_needs_manage) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *own = NULL, *own_named = NULL, *other = NULL, *missing = NULL;
        const char *json;

        if (!need_root("test_explain_policy_for_other_user_needs_manage"))
                return;
        case_start(Q35_HOST);
        polkit_deny_all();
        /* Its own verdict, with or without naming itself, needs nothing. */
        own = explain_as_nobody(NULL);
        ck_assert_msg(startswith(own, "OK ") && strstr(own, "\"uid\":65534"),
                      "nobody's own verdict: %s", own);
        own_named = explain_as_nobody("nobody");
        ck_assert_msg(startswith(own_named, "OK "), "nobody's own verdict by name: %s", own_named);
        /* Another user's, and whether an account exists, is refused without manage. */
        other = explain_as_nobody("root");
        ck_assert_msg(startswith(other, "ERR " ERROR_ACCESS_DENIED " "),
                      "root's verdict for nobody: %s", other);
        missing = explain_as_nobody("no-such-user-here");
        ck_assert_msg(startswith(missing, "ERR " ERROR_ACCESS_DENIED " "),
                      "a missing user for nobody: %s", missing);

        /* With manage (root, polkit allowing) another user's verdict is given. */
        polkit_allow_all();
        bus = bus_connect();
        reply = call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ExplainPolicy", "sa{sv}", SOLO5, 1, "user",
                        "s", "nobody");
        ck_assert_int_ge(sd_bus_message_read(reply, "s", &json), 0);
        assert_contains(json, "\"uid\":65534");
        case_end();
}
END_TEST

/* ---- 3. one user cannot fill the polkit queue for everyone ---- */

#define DAEMON_UID 1u /* "daemon" in Debian's base-passwd: the second unprivileged user */

/* As uid: n ReloadPolicy calls sent without expecting replies (each makes the daemon ask polkit
 * for manage), then a Ping that returns once they were all dispatched; then one more
 * ReloadPolicy awaiting its reply. Writes "SENT <error name of the last call>" and keeps its
 * connection until its stdin closes. */
static pid_t flood_start(uid_t uid, unsigned n, int *ret_in, int *ret_out) {
        int to[2], from[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(to, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(from, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus *bus = NULL;
                char c;

                (void) prctl_die_with_parent();
                close(to[1]);
                close(from[0]);
                if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
                    setresuid(uid, uid, uid) < 0 || sd_bus_open_system(&bus) < 0)
                        _exit(10);
                for (unsigned i = 0; i < n; i++) {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                        if (sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_ROOT,
                                                           IFACE_MANAGER, "ReloadPolicy") < 0 ||
                            sd_bus_message_append(m, "a{sv}", 0) < 0 ||
                            sd_bus_message_set_expect_reply(m, false) < 0 ||
                            sd_bus_send(bus, m, NULL) < 0)
                                _exit(11);
                }
                if (sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, "org.freedesktop.DBus.Peer", "Ping",
                                       NULL, NULL, "") < 0)
                        _exit(12);
                (void) sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy",
                                          &e, NULL, "a{sv}", 0);
                dprintf(from[1], "SENT %s\n", strna(e.name));
                while (read(to[0], &c, 1) > 0)
                        ;
                _exit(0);
        }
        close(to[0]);
        close(from[1]);
        *ret_in = to[1];
        *ret_out = from[0];
        return pid;
}

static void polkit_hang(const char *action) {
        if (action)
                polkit_call((char *const[]) { (char *) "SimulateHangActions", (char *) "as",
                                              (char *) "1", (char *) action, NULL });
        else {
                polkit_call((char *const[]) { (char *) "SimulateHangActions", (char *) "as",
                                              (char *) "0", NULL });
                polkit_call((char *const[]) { (char *) "ReleaseHangingCalls", NULL });
        }
}

START_TEST(test_polkit_flood_blocks_nobody_else) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *root = NULL;
        _cleanup_free_ char *line = NULL, *rule = NULL, *claim = NULL, *root_lease = NULL,
                            *again = NULL;
        int in, out;
        pid_t flooder;

        if (!need_root("test_polkit_flood_blocks_nobody_else"))
                return;
        case_start(Q35_HOST);
        root = bus_connect();
        rule = path_join(C.policy, "50-daemon.json");
        write_file(rule, "{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"" SOLO5 "\"}, "
                         "\"action\": \"allow\", \"users\": [\"daemon\"]}]}\n");
        sd_bus_message_unref(call_ok(root, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));

        /* polkit never answers for manage: nobody's 200 checks would all stay pending. */
        polkit_hang(ACTION_MANAGE);
        flooder = flood_start(NOBODY_UID, 200, &in, &out);
        line = read_line(out, WAIT_MS);
        ck_assert_msg(line && streq(line, "SENT " ERROR_PREFIX "Busy"),
                      "the flooder's last call: %s", strna(line));

        /* Another user, and root, are asked and answered at once. */
        claim = claim_with_groups(NULL, 0, (gid_t) -1, DAEMON_UID);
        ck_assert_msg(startswith(claim, "OK "), "uid %u's claim while nobody floods: %s",
                      DAEMON_UID, claim);
        root_lease = claim_device(root, SOLO1);
        release(root, root_lease);

        /* Its connection gone, nobody's checks are cancelled; their places come free as polkit
         * answers them, and nobody is asked again. */
        close(in);
        ck_assert_int_eq(exit_code_of(wait_exit(flooder, WAIT_MS)), 0);
        close(out);
        polkit_hang(NULL);
        again = explain_as_nobody("root");
        ck_assert_msg(!strstr(again, "Busy"), "nobody's next check after the flood: %s", again);
        case_end();
}
END_TEST

/* ---- 8. a query whose method no longer asks is freed ---- */

static bool daemon_lists_device(sd_bus *bus, const char *address) {
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *reply = call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ListDevices", "");
        const char *a, *o, *drv;
        bool found = false;
        int32_t group;

        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(sosi)"), 0);
        while (sd_bus_message_read(reply, "(sosi)", &a, &o, &drv, &group) > 0)
                found |= streq(a, address);
        return found;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char **name = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        *name = strdup(e ? e->name : "OK");
        return 0;
}

/* The device goes while polkit decides: the method, run again with the verdict, fails before it
 * asks for it (NoSuchDevice). The query must still go: a query left behind keeps counting
 * against its uid, and after 16 root would get Busy. */
START_TEST(test_polkit_query_freed_when_device_goes) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        for (int i = 0; i < 17; i++) {
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
                _cleanup_free_ char *answer = NULL;
                int64_t deadline;

                polkit_hang(ACTION_CLAIM);
                ck_assert_int_ge(sd_bus_call_method_async(bus, &slot, BUS_NAME, OBJ_ROOT,
                                                          IFACE_MANAGER, "ClaimDevice", on_reply,
                                                          &answer, "sa{sv}", SOLO5, 0),
                                 0);
                /* Dispatched, and polkit asked, once a later call is answered. */
                sd_bus_message_unref(call_ok(bus, OBJ_ROOT, "org.freedesktop.DBus.Peer", "Ping",
                                             ""));
                ck_assert_ptr_null(answer);

                host_remove_device(SOLO5);
                send_uevent("remove", SOLO5);
                for (deadline = now_usec() + WAIT_MS * 1000LL; daemon_lists_device(bus, SOLO5);) {
                        ck_assert_msg(now_usec() < deadline, "the daemon still lists %s", SOLO5);
                        sleep_ms(2);
                }
                polkit_hang(NULL);
                for (deadline = now_usec() + WAIT_MS * 1000LL; !answer;) {
                        ck_assert_msg(now_usec() < deadline, "the claim was not answered");
                        ck_assert_int_ge(sd_bus_process(bus, NULL), 0);
                        if (!answer)
                                ck_assert_int_ge(sd_bus_wait(bus, 100000), 0);
                }
                ck_assert_msg(streq(answer, ERROR_PREFIX "NoSuchDevice"),
                              "claim %d of a vanished device: %s", i, answer);

                host_restore_device(SOLO5);
                send_uevent("add", SOLO5);
                for (deadline = now_usec() + WAIT_MS * 1000LL; !daemon_lists_device(bus, SOLO5);) {
                        ck_assert_msg(now_usec() < deadline, "the daemon does not list %s again",
                                      SOLO5);
                        sleep_ms(2);
                }
        }
        lease = claim_device(bus, SOLO5);
        release(bus, lease);
        case_end();
}
END_TEST

/* ---- 4. what the daemon binds on its own passes the guards of a bus call ---- */

#define WORKSTATION_HOST "hosts/workstation.host"
#define ROOT_NVME "0000:02:00.0" /* holds "/" on the workstation: host-critical */

/* An entry in persistent.json for the disk holding "/" bound it to vfio-pci at start. */
START_TEST(test_persistent_root_disk_left_alone) {
        _cleanup_free_ char *persistent = NULL;

        case_begin_data(WORKSTATION_HOST);
        polkit_allow_all();
        persistent = path_join(C.state, PERSISTENT_FILE);
        write_file(persistent, "{ \"version\": 1, \"devices\": [ { \"address\": \"" ROOT_NVME "\", "
                               "\"vendor\": \"0x144d\", \"device\": \"0xa808\" } ] }\n");
        ck_assert_int_eq(chmod(persistent, 0600), 0);
        daemon_start();
        assert_on_host(ROOT_NVME, "nvme");
        ck_assert_uint_eq(n_leases(), 0);
        ck_assert(log_contains("persistent prepare of " ROOT_NVME ": " ROOT_NVME
                               " is needed by the host"));
        case_end();
}
END_TEST

/* A device that appears in a leased group joins it on vfio-pci, unless the checks of a bus call
 * would refuse the group with it: then it is left on its driver, and the log says why. */
START_TEST(test_member_joining_lease_guarded) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *rule = NULL;

        case_begin_data(Q35_HOST);
        polkit_allow_all();
        host_remove_device(NIC2);
        daemon_start();
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        assert_on_vfio(NIC1);

        rule = path_join(C.policy, "10-uplink.json");
        write_file(rule, "{\"version\": 1, \"rules\": [{\"match\": {\"address\": \"" NIC2 "\"}, "
                         "\"action\": \"deny\", \"reason\": \"the lab's uplink\"}]}\n");
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        host_restore_device(NIC2);
        send_uevent("add", NIC2);
        for (int64_t deadline = now_usec() + WAIT_MS * 1000LL;
             !log_contains(NIC2 " appeared in leased");) {
                ck_assert_msg(now_usec() < deadline, "the daemon did not judge %s's arrival", NIC2);
                sleep_ms(5);
        }
        ck_assert(log_contains(NIC2 " appeared in leased IOMMU group 6 and was left on " NIC_DRIVER
                                    ": "));
        ck_assert(log_contains("the lab's uplink"));
        assert_on_host(NIC2, NIC_DRIVER);
        release(bus, path);
        assert_on_host(NIC1, NIC_DRIVER);
        case_end();
}
END_TEST

/* ---- 5. the runtime and state directories and files are root's alone ---- */

START_TEST(test_loose_directories_refused) {
        _cleanup_free_ char *msg = NULL, *msg2 = NULL;

        case_begin_data(Q35_HOST);
        polkit_allow_all();
        ck_assert_int_eq(chmod(C.run, 0777), 0);
        msg = xasprintf("Cannot use the runtime directory %s: %s is writable by group or others",
                        C.run, C.run);
        daemon_start_refused(msg);
        ck_assert_int_eq(chmod(C.run, 0755), 0);

        ck_assert_int_eq(chown(C.state, NOBODY_UID, NOBODY_UID), 0);
        msg2 = xasprintf("Cannot use the state directory %s: %s is not owned by the daemon's user",
                         C.state, C.state);
        daemon_start_refused(msg2);
        ck_assert_int_eq(chown(C.state, 0, 0), 0);

        /* Fixed, it starts. */
        daemon_start();
        case_end();
}
END_TEST

/* A state.json someone else could have written is not acted on, nor moved aside: the start is
 * refused, and the group it names stays as it is. */
START_TEST(test_planted_state_refused) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *state = NULL, *persistent = NULL, *tmp = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        lease = claim_device(bus, SOLO5);
        daemon_kill();
        state = path_join(C.run, STATE_FILE);

        ck_assert_int_eq(chown(state, NOBODY_UID, NOBODY_UID), 0);
        daemon_start_refused(
                "state: state.json is not owned by the daemon's user (owner uid 65534, mode 0600)");
        ck_assert_int_eq(chown(state, 0, 0), 0);
        ck_assert_int_eq(chmod(state, 0644), 0);
        daemon_start_refused("state: state.json can be read or written by group or others");
        ck_assert_int_eq(chmod(state, 0600), 0);

        persistent = path_join(C.state, PERSISTENT_FILE);
        write_file(persistent, "{ \"version\": 1, \"devices\": [ { \"address\": \"" SOLO1 "\", "
                               "\"vendor\": \"0x8086\", \"device\": \"0x10d3\" } ] }\n");
        daemon_start_refused(
                "persistent prepares: persistent.json can be read or written by group or others");
        ck_assert_int_eq(unlink(persistent), 0);

        /* A leftover temporary file, or a symlink in its place, is replaced, never followed. */
        tmp = path_join(C.run, ".state.json.tmp");
        ck_assert_int_eq(symlink("/nonexistent-vfio-assignd-target", tmp), 0);
        daemon_start();
        assert_on_vfio(SOLO5);
        release(bus, lease);
        ck_assert(access("/nonexistent-vfio-assignd-target", F_OK) < 0);
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* A FIFO named state.json used to hang the start for good, out of SIGTERM's reach. */
START_TEST(test_fifo_state_refused) {
        _cleanup_free_ char *state = NULL;

        case_begin_data(Q35_HOST);
        state = path_join(C.run, STATE_FILE);
        ck_assert_int_eq(mkfifo(state, 0600), 0);
        daemon_start_refused("state: state.json is not a regular file");
        case_end();
}
END_TEST

/* Every test starts with a polkit mock that answers (a failed test may have left it hanging). */
static void polkit_reset(void) {
        polkit_hang(NULL);
}

static void security_setup(void) {
        world_setup("security");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the security tests"))
                return 77;

        s = suite_create("security");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, security_setup, harness_teardown);
        tcase_add_checked_fixture(tc, polkit_reset, NULL);
        tcase_set_timeout(tc, 60);
        /* First: on a young bus the holder's unique name is small, and the squatter's
         * connections to reach it few. */
        tcase_add_test(tc, test_holder_name_squat_after_bus_restart);
        tcase_add_test(tc, test_group_rule_ignores_gid_taken_after_connect);
        tcase_add_test(tc, test_grant_access_to_denied_uid);
        tcase_add_test(tc, test_grant_revoked_when_holder_goes);
        tcase_add_test(tc, test_explain_policy_for_other_user_needs_manage);
        tcase_add_test(tc, test_polkit_flood_blocks_nobody_else);
        tcase_add_test(tc, test_polkit_query_freed_when_device_goes);
        tcase_add_test(tc, test_persistent_root_disk_left_alone);
        tcase_add_test(tc, test_member_joining_lease_guarded);
        tcase_add_test(tc, test_loose_directories_refused);
        tcase_add_test(tc, test_planted_state_refused);
        tcase_add_test(tc, test_fifo_state_refused);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
