/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-bus: the D-Bus API under fire (issue 8, item 14). Not a libFuzzer target: it drives the
 * real vfio-assignd, run under the kernel model (tests/mock) on a sample host, on a private bus
 * with python-dbusmock's polkitd (the world of tests/integration/claim-world.c), and sends it
 * seeded random calls:
 *
 *  - every method and property of every object, found by introspecting the daemon (new members
 *    are covered without touching this file), plus the standard interfaces sd-bus serves;
 *  - the member's own signature with hostile values (empty, 64 KiB, "../", control characters,
 *    invalid and non-canonical PCI addresses, group ids and uids at the edges, a{sv} options with
 *    unknown keys and known keys of the wrong type, nested containers, fds), and signatures that
 *    are not the member's (built with sd_bus_message_new_method_call, so sd-bus cannot fix them);
 *  - from root (the lease holder and a second root connection) and from uid 65534 (a worker
 *    child that did setresuid), with polkit allowing, denying, or holding its answers back until
 *    other calls have run (bursts), and with connections that go away.
 *
 * Every reply must be a success or a named error: one documented in docs/org.vfioassign1.5, or
 * one of the few standard ones sd-bus and polkit give (see classify()). A refused call must leave
 * the host tree (driver links, driver_override, /dev/vfio nodes) and state.json/persistent.json
 * as they were. At the end the daemon must still answer, hold no more fds than it did with no
 * lease before, and exit 0 on SIGTERM (under ASan a leak makes that fail).
 *
 * Each call is a function of (seed, index) and what the daemon said before, so a run is
 * reproduced with --seed; a finding prints the seed, the call's index and the call. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "bus-calls.h"
#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define IFACE_PEER "org.freedesktop.DBus.Peer"
#define IFACE_MOCK "org.freedesktop.DBus.Mock"
#define CALL_TIMEOUT_US (20 * 1000000ULL)
#define SETTLE_MS 10000
/* Each costs CALL_TIMEOUT_US: after this many, the daemon is not going to answer. */
#define MAX_NO_REPLY 5
/* How much the daemon's RSS may grow from a tenth of the run to its end (it settles at about
 * 8 MiB). Not checked under ASan, whose quarantine keeps freed memory on purpose. */
#define RSS_GROWTH_KB (16 * 1024)
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
/* Enough to see what is wrong; the count is always printed. */
#define FINDINGS_SHOWN 25
static struct {
        uint64_t seed;
        uint64_t calls;
        const char *host;
        bool verbose;
} opt = { .calls = 3000, .host = Q35_HOST };

typedef enum Role { ROLE_HOLDER, ROLE_OTHER, ROLE_NOBODY, _ROLE_MAX } Role;
static const char *const role_names[_ROLE_MAX] = { "root", "root-other", "nobody" };

typedef struct Stats {
        uint64_t calls, ok, refused, findings, no_reply;
        uint64_t by_role[_ROLE_MAX];
        uint64_t wrong_sig, bursts, burst_calls, hung_bursts, reconnects, cleanups;
        uint64_t abandoned;
        uint64_t polkit_changes;
        unsigned fds_idle; /* the daemon's fds with no lease, first seen */
        uint64_t rss_first_kb, rss_max_kb, rss_last_kb;
        uint64_t rss_ref_kb; /* at the first cleanup after a tenth of the calls */
} Stats;

static Stats S;

/* What the polkit mock allows (it ignores the subject: root and nobody alike). */
typedef enum PolkitMode {
        PK_ALLOW,
        PK_DENY,
        PK_CLAIM_ONLY,
        PK_PREPARE_MANAGE,
        PK_UNKNOWN,
        _PK_MAX
} PolkitMode;
static PolkitMode polkit_mode = _PK_MAX;

/* The connections: the lease holder and another root caller here, nobody's in the worker. */
static sd_bus *conn[2];
static struct {
        pid_t pid;
        int cmd, res; /* our ends of its pipes */
} worker = { .pid = 0, .cmd = -1, .res = -1 };

/* What the tree and the daemon's files looked like after the last call. */
static char *last_snapshot;

/* The error names the man page documents: ".B org.vfioassign1.Error.Name" lines, where more
 * names may follow as ", " Other ", " More. */
static void load_documented_errors(void) {
        _cleanup_free_ char *path = path_join(H.top_srcdir, "docs/org.vfioassign1.5");
        _cleanup_free_ char *text = read_file_or_abort(path);
        const char *lead = ".B " ERROR_PREFIX;

        for (const char *p = text; p && *p;) {
                const char *nl = strchrnul(p, '\n');

                if (strneq(p, lead, strlen(lead)))
                        for (const char *q = p + strlen(lead) - strlen(ERROR_PREFIX); q < nl;) {
                                size_t n = 0;

                                if (strneq(q, ERROR_PREFIX, strlen(ERROR_PREFIX)))
                                        q += strlen(ERROR_PREFIX);
                                while (q + n < nl && isalnum((unsigned char) q[n]))
                                        n++;
                                if (n > 0) {
                                        _cleanup_free_ char *name = xasprintf(ERROR_PREFIX "%.*s",
                                                                              (int) n, q);

                                        add_unique(&W.errors, name);
                                        q += n;
                                } else
                                        q++;
                        }
                p = *nl ? nl + 1 : nl;
        }
        ck_assert_msg(strv_length(W.errors) >= 10, "%s documents only %zu error names", path,
                      strv_length(W.errors));
}

static void load_devices(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *address, *path, *driver;
        int32_t group;
        uint32_t id;
        int b, r;

        reply = call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ListDevices", "");
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(sosi)"), 0);
        while ((r = sd_bus_message_read(reply, "(sosi)", &address, &path, &driver, &group)) > 0)
                ck_assert_int_ge(strv_extend(&W.addresses, address), 0);
        ck_assert_int_ge(r, 0);
        sd_bus_message_unref(reply);

        reply = call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ListGroups", "");
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(uobas)"), 0);
        while ((r = sd_bus_message_enter_container(reply, 'r', "uobas")) > 0) {
                ck_assert_int_ge(sd_bus_message_read(reply, "uob", &id, &path, &b), 0);
                ck_assert_int_ge(sd_bus_message_skip(reply, "as"), 0);
                ck_assert_int_ge(sd_bus_message_exit_container(reply), 0);
                W.groups = reallocarray(W.groups, W.n_groups + 1, sizeof(uint32_t));
                ck_assert_ptr_nonnull(W.groups);
                W.groups[W.n_groups++] = id;
        }
        ck_assert_int_ge(r, 0);
        ck_assert_msg(W.addresses, "the host has no devices");
}

/* W.leases, W.holders and W.states from ListLeases. */
static void refresh_leases(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path, *kind, *state, *holder;
        uint32_t group, uid;
        uint64_t id;
        int r;

        strv_free(W.leases);
        strv_free(W.holders);
        strv_free(W.states);
        W.leases = W.holders = W.states = NULL;
        reply = call_ok(conn[ROLE_HOLDER], OBJ_ROOT, IFACE_MANAGER, "ListLeases", "");
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(tousssu)"), 0);
        while ((r = sd_bus_message_read(reply, "(tousssu)", &id, &path, &group, &kind, &state,
                                        &holder, &uid)) > 0) {
                ck_assert_int_ge(strv_extend(&W.leases, path), 0);
                ck_assert_int_ge(strv_extend(&W.holders, holder), 0);
                ck_assert_int_ge(strv_extend(&W.states, state), 0);
                W.max_lease_id = MAX(W.max_lease_id, id);
        }
        ck_assert_int_ge(r, 0);
}

/* ---- replies ---- */

typedef struct Result {
        bool ok;
        char *name, *message; /* the error, when not ok */
        char *reply_sig;
} Result;

static void result_clear(Result *r) {
        free(r->name);
        free(r->message);
        free(r->reply_sig);
        *r = (Result) {};
}

static void result_from(Result *res, int r, const sd_bus_error *e, sd_bus_message *reply) {
        *res = (Result) {};
        if (r >= 0) {
                res->ok = true;
                res->reply_sig = xstrdup(strempty(sd_bus_message_get_signature(reply, true)));
                return;
        }
        res->name = e && e->name ? xstrdup(e->name) : xasprintf("(no reply: %s)", strerror(-r));
        res->message = xstrdup(e && e->message ? e->message : "");
}

typedef enum Verdict { V_OK, V_REFUSED, V_FINDING } Verdict;

/* Which replies are acceptable: success, a documented org.vfioassign1.Error, or the standard
 * errors sd-bus gives for what does not exist or does not fit, and polkit's refusals.
 * InvalidArgs is sd-bus's answer to a signature that is not the member's; our own members
 * answer wrong values with org.vfioassign1.Error.InvalidArgument. Everything else (NoReply,
 * Disconnected, errno names like System.Error.ENODEV, a bare org.freedesktop.DBus.Error.Failed)
 * is a finding. */
static Verdict classify(const Call *c, const Result *res, const char **why) {
        static const char *const standard[] = {
                SD_BUS_ERROR_UNKNOWN_METHOD,
                SD_BUS_ERROR_UNKNOWN_OBJECT,
                SD_BUS_ERROR_UNKNOWN_INTERFACE,
                SD_BUS_ERROR_UNKNOWN_PROPERTY,
                SD_BUS_ERROR_PROPERTY_READ_ONLY,
                SD_BUS_ERROR_ACCESS_DENIED,
                SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
        };

        *why = NULL;
        if (res->ok)
                return V_OK;
        if (startswith(res->name, ERROR_PREFIX)) {
                if (strv_contains(W.errors, res->name))
                        return V_REFUSED;
                *why = "an error name the man page does not document";
                return V_FINDING;
        }
        for (size_t i = 0; i < ELEMENTSOF(standard); i++)
                if (streq(res->name, standard[i]))
                        return V_REFUSED;
        if (streq(res->name, SD_BUS_ERROR_INVALID_ARGS)) {
                if (!c->want || !streq(c->sig, c->want) || c->standard)
                        return V_REFUSED;
                *why = "InvalidArgs for the member's own signature (an errno, not a named error)";
                return V_FINDING;
        }
        *why = "not a named error";
        return V_FINDING;
}

static uint64_t findings_shown;

/* With --verbose, what happens between the calls. */
static void note(const char *fmt, ...) _printf_(1, 2);
static void note(const char *fmt, ...) {
        va_list ap;

        if (!opt.verbose)
                return;
        va_start(ap, fmt);
        printf("# ");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
}

static void finding(uint64_t index, Role role, const char *what, const char *detail) {
        S.findings++;
        if (findings_shown++ >= FINDINGS_SHOWN)
                return;
        printf("FINDING %" PRIu64 " (seed %" PRIu64 ", call %" PRIu64 ", as %s): %s\n%s\n"
               "  reproduce: fuzz-bus --seed %" PRIu64 " --calls %" PRIu64 " --host %s\n",
               S.findings, opt.seed, index, role_names[role], what, detail, opt.seed, index + 1,
               opt.host);
        fflush(stdout);
}

/* "- line" / "+ line" for what differs between two snapshots. */
static char *snapshot_diff(const char *before, const char *after) {
        _cleanup_strv_free_ char **a = NULL, **b = NULL;
        char *out = NULL;

        for (const char *p = before; p && *p;) {
                const char *nl = strchrnul(p, '\n');

                ck_assert_int_ge(strv_extendf(&a, "%.*s", (int) (nl - p), p), 0);
                p = *nl ? nl + 1 : nl;
        }
        for (const char *p = after; p && *p;) {
                const char *nl = strchrnul(p, '\n');

                ck_assert_int_ge(strv_extendf(&b, "%.*s", (int) (nl - p), p), 0);
                p = *nl ? nl + 1 : nl;
        }
        for (char **l = a; l && *l; l++)
                if (!strv_contains(b, *l))
                        ck_assert_int_ge(strextendf(&out, "", "  - %s\n", *l), 0);
        for (char **l = b; l && *l; l++)
                if (!strv_contains(a, *l))
                        ck_assert_int_ge(strextendf(&out, "", "  + %s\n", *l), 0);
        return out ?: xstrdup("  (same lines, another order)\n");
}

static void count(Role role, Verdict v) {
        S.calls++;
        S.by_role[role]++;
        if (v == V_OK)
                S.ok++;
        else
                S.refused++;
}

/* Whether a reply allows the world to have changed: a success, or Error.Stuck (a release that
 * could not give a member back: the lease stays, marked stuck, as documented). */
static bool may_change(const Result *r) {
        return r->ok || streq(r->name, ERROR_PREFIX "Stuck");
}

static void polkit_set(PolkitMode mode);

/* A lease between two states: a job works on it (a retry after the last fd closed, a release
 * whose caller left) and changes the world without any call of ours. */
static bool any_unsettled(void) {
        return strv_contains(W.states, "stuck") || strv_contains(W.states, "releasing") ||
               strv_contains(W.states, "binding");
}

/* A release is stuck while anyone holds the group open, e.g. while a reply carrying one of its fds
 * is still on its way to a caller of the same burst. The daemon retries every 30 s, and at once
 * when the group's last fd closes, in a job of its own; either would change the world between two
 * of our calls: retry now, and wait for the daemon's own jobs, until no lease is in between. */
static void unstick(uint64_t index) {
        PolkitMode mode = polkit_mode;
        bool stuck = true;

        for (unsigned tries = 0; stuck && tries < 100; tries++) {
                stuck = any_unsettled();
                for (size_t i = 0; W.states && W.states[i]; i++)
                        if (streq(W.states[i], "stuck")) {
                                polkit_set(PK_ALLOW);
                                (void) sd_bus_call_method(conn[ROLE_HOLDER], BUS_NAME, W.leases[i],
                                                          IFACE_LEASE, "Release", NULL, NULL,
                                                          "a{sv}", 0);
                        }
                if (stuck) {
                        sleep_ms(20);
                        refresh_leases();
                }
        }
        polkit_set(mode);
        if (stuck)
                finding(index, ROLE_HOLDER, "a lease stays stuck",
                        "  Release kept failing (or the daemon's job kept running) for 2 s though no "
                        "caller holds the group");
        free(last_snapshot);
        last_snapshot = snapshot();
}

/* After a call or a batch: a refusal changes nothing; a success makes the new state the one to
 * compare with. */
static void check_world(uint64_t index, Role role, const char *desc, bool changed) {
        _cleanup_free_ char *now = snapshot();

        if (!changed && !streq(now, last_snapshot)) {
                _cleanup_free_ char *diff = snapshot_diff(last_snapshot, now);
                _cleanup_free_ char *detail = xasprintf("  %s\n  changed:\n%s", desc, diff);

                finding(index, role, "a refused call changed the host or the state files", detail);
        }
        free(last_snapshot);
        last_snapshot = TAKE_PTR(now);
        if (changed) {
                refresh_leases();
                if (any_unsettled())
                        unstick(index);
        }
}

static void judge(uint64_t index, Role role, const Call *c, const Result *res) {
        const char *why;
        Verdict v = classify(c, res, &why);

        count(role, v);
        S.wrong_sig += !(c->want && streq(c->sig, c->want));
        if (opt.verbose)
                printf("%" PRIu64 " %s %s -> %s%s%s\n", index, role_names[role], c->desc,
                       res->ok ? "ok " : res->name, res->ok ? res->reply_sig : ": ",
                       res->ok ? "" : res->message);
        if (v == V_FINDING) {
                _cleanup_free_ char *detail = xasprintf("  %s\n  -> %s: %s", c->desc, res->name,
                                                        res->message);

                finding(index, role, why, detail);
                if (streq(res->name, SD_BUS_ERROR_TIMEOUT) ||
                    streq(res->name, SD_BUS_ERROR_NO_REPLY))
                        ck_assert_msg(++S.no_reply < MAX_NO_REPLY,
                                      "giving up: %d calls got no reply", MAX_NO_REPLY);
        }
}

/* ---- the unprivileged worker ---- */

/* Line protocol on two pipes. Us: "C index max_lease_id n path..." (make call index with these
 * leases) | "R" (reconnect) | "Q". It: "R ok hash name message" | "U old-unique-name". Strings
 * in replies are hex, so that nothing in them can break a line. */

static uint64_t fnv1a(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
        return h;
}

/* Linear: an error message may quote two 64 KiB arguments. */
static char *hex(const char *s) {
        static const char digits[] = "0123456789abcdef";
        size_t n = s ? strlen(s) : 0;
        char *out;

        if (n == 0)
                return xstrdup("-");
        out = malloc(2 * n + 1);
        ck_assert_ptr_nonnull(out);
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[(unsigned char) s[i] >> 4];
                out[2 * i + 1] = digits[(unsigned char) s[i] & 0xf];
        }
        out[2 * n] = '\0';
        return out;
}

static int hexval(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *unhex(const char *s) {
        size_t n = streq(s, "-") ? 0 : strlen(s) / 2;
        char *out = malloc(n + 1);

        ck_assert_ptr_nonnull(out);
        for (size_t i = 0; i < n; i++) {
                int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

                ck_assert_msg(hi >= 0 && lo >= 0, "the worker sent no hex: %.40s", s);
                out[i] = (char) (hi << 4 | lo);
        }
        out[n] = '\0';
        return out;
}

/* The next line from fd within timeout_ms; NULL with errno ETIMEDOUT or EPIPE (closed). Each
 * process reads one pipe only, so what was read past the line waits in one buffer. */
static char *read_line_fd(int fd, int timeout_ms) {
        static char *buf;
        static size_t n;
        int64_t deadline = now_usec() + (int64_t) timeout_ms * 1000;

        for (;;) {
                char *nl = n ? memchr(buf, '\n', n) : NULL, chunk[65536];
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - now_usec();
                ssize_t k;

                if (nl) {
                        size_t len = (size_t) (nl - buf);
                        char *line = strndup(buf, len);

                        ck_assert_ptr_nonnull(line);
                        memmove(buf, nl + 1, n - len - 1);
                        n -= len + 1;
                        return line;
                }
                if (left <= 0) {
                        errno = ETIMEDOUT;
                        return NULL;
                }
                if (poll(&p, 1, (int) MIN(left / 1000 + 1, 1000)) <= 0)
                        continue;
                k = read(fd, chunk, sizeof(chunk));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        errno = k == 0 ? EPIPE : errno;
                        return NULL;
                }
                buf = realloc(buf, n + (size_t) k);
                ck_assert_ptr_nonnull(buf);
                memcpy(buf + n, chunk, (size_t) k);
                n += (size_t) k;
        }
}

static int call_and_wait(sd_bus *bus, sd_bus_message *m, Result *res) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_call(bus, m, CALL_TIMEOUT_US, &e, &reply);

        result_from(res, r, &e, reply);
        return r;
}

_noreturn_ static void worker_main(int cmd, int res, const int *parent_fds, size_t n_parent_fds) {
        sd_bus *bus = NULL;
        char *line;

        /* The parent's connections must end when the parent closes them, not live on here (after
         * fork sd-bus refuses to tell their fds: they were taken before). */
        for (size_t i = 0; i < n_parent_fds; i++)
                close(parent_fds[i]);
        if (setgroups(0, NULL) < 0 || setresgid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0 ||
            setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0)
                _exit(10);
        if (sd_bus_open_system(&bus) < 0)
                _exit(11);
        while ((line = read_line_fd(cmd, 24 * 3600 * 1000))) {
                if (line[0] == 'C') {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                        _cleanup_free_ char *hname = NULL, *hmsg = NULL;
                        uint64_t index, max_id;
                        Call c;
                        Result r;
                        char *save = NULL, *tok;
                        size_t n;

                        tok = strtok_r(line + 2, " ", &save);
                        index = strtoull(tok, NULL, 10);
                        max_id = strtoull(strtok_r(NULL, " ", &save), NULL, 10);
                        n = strtoul(strtok_r(NULL, " ", &save), NULL, 10);
                        strv_free(W.leases);
                        W.leases = NULL;
                        for (size_t i = 0; i < n; i++)
                                (void) strv_extend(&W.leases, strtok_r(NULL, " ", &save));
                        W.max_lease_id = max_id;
                        gen_call(bus, opt.seed, index, &c, &m);
                        (void) call_and_wait(bus, m, &r);
                        hname = hex(r.name);
                        hmsg = hex(r.ok ? r.reply_sig : r.message);
                        dprintf(res, "R %d %" PRIu64 " %s %s\n", r.ok, fnv1a(c.desc), hname, hmsg);
                        call_clear(&c);
                        result_clear(&r);
                } else if (line[0] == 'R') {
                        const char *old = NULL;
                        _cleanup_free_ char *name = NULL;

                        (void) sd_bus_get_unique_name(bus, &old);
                        name = xstrdup(strempty(old));
                        bus = sd_bus_flush_close_unref(bus);
                        if (sd_bus_open_system(&bus) < 0)
                                _exit(11);
                        dprintf(res, "U %s\n", name);
                } else
                        break;
                free(line);
        }
        sd_bus_flush_close_unref(bus);
        _exit(0);
}

static void worker_start(void) {
        int cmd[2], res[2], parent_fds[_ROLE_MAX];
        size_t n = 0;

        for (Role role = ROLE_HOLDER; role <= ROLE_OTHER; role++)
                if (conn[role])
                        parent_fds[n++] = sd_bus_get_fd(conn[role]);
        ck_assert_int_eq(pipe2(cmd, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(res, O_CLOEXEC), 0);
        fflush(NULL);
        worker.pid = fork();
        ck_assert_int_ge(worker.pid, 0);
        if (worker.pid == 0) {
                (void) prctl_die_with_parent();
                close(cmd[1]);
                close(res[0]);
                worker_main(cmd[0], res[1], parent_fds, n);
        }
        close(cmd[0]);
        close(res[1]);
        worker.cmd = cmd[1];
        worker.res = res[0];
}

/* Sends the worker a command and returns its answer; what names the command in a failure. */
static char *worker_ask(const char *what, const char *fmt, ...) _printf_(2, 3);
static char *worker_ask(const char *what, const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        char *line;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(r, 0);
        ck_assert_msg(write(worker.cmd, cmd, strlen(cmd)) == (ssize_t) strlen(cmd),
                      "the worker is gone: %s", strerror(errno));
        line = read_line_fd(worker.res, 2 * CALL_TIMEOUT_US / 1000);
        if (!line) {
                int status = 0, e = errno;
                pid_t p = waitpid(worker.pid, &status, WNOHANG);

                ck_abort_msg("the unprivileged worker did not answer (%s; %s %d): %s", strerror(e),
                             p == worker.pid ? "it exited with" : "it runs, pid",
                             p == worker.pid ? exit_code_of(status) : (int) worker.pid, what);
        }
        return line;
}

static void worker_stop(void) {
        int status;

        if (worker.pid <= 0)
                return;
        (void) write(worker.cmd, "Q\n", 2);
        worker.cmd = safe_close(worker.cmd);
        worker.res = safe_close(worker.res);
        status = wait_exit(worker.pid, WAIT_MS);
        ck_assert_msg(exit_code_of(status) == 0, "the worker exited with %d", exit_code_of(status));
        worker.pid = 0;
}

static void worker_call(uint64_t index, Call *c, Result *res) {
        _cleanup_free_ char *cmd = xasprintf("C %" PRIu64 " %" PRIu64 " %zu", index, W.max_lease_id,
                                             strv_length(W.leases));
        _cleanup_free_ char *line = NULL;
        char *save = NULL, *tok[5];

        for (char **l = W.leases; l && *l; l++)
                ck_assert_int_ge(strextendf(&cmd, " ", "%s", *l), 0);
        /* The same call here, to know what it was: both sides must build the same. */
        gen_call(conn[ROLE_HOLDER], opt.seed, index, c, NULL);
        line = worker_ask(c->desc, "%s\n", cmd);
        tok[0] = strtok_r(line, " ", &save);
        for (size_t i = 1; i < ELEMENTSOF(tok); i++)
                tok[i] = tok[i - 1] ? strtok_r(NULL, " ", &save) : NULL;
        ck_assert_msg(tok[4] && streq(tok[0], "R"), "the worker said \"%.200s\"", line);
        ck_assert_msg(strtoull(tok[2], NULL, 10) == fnv1a(c->desc),
                      "the worker built another call %" PRIu64 " than %s", index, c->desc);
        *res = (Result) { .ok = streq(tok[1], "1") };
        if (res->ok)
                res->reply_sig = unhex(tok[4]);
        else {
                res->name = unhex(tok[3]);
                res->message = unhex(tok[4]);
        }
}

/* ---- the polkit mock ---- */

static void mock_call(const char *member, const char *sig, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(conn[ROLE_HOLDER], &m, POLKIT_NAME, POLKIT_AUTHORITY,
                                           IFACE_MOCK, member);
        ck_assert_int_ge(r, 0);
        va_start(ap, sig);
        r = sd_bus_message_appendv(m, sig, ap);
        va_end(ap);
        ck_assert_int_ge(r, 0);
        r = sd_bus_call(conn[ROLE_HOLDER], m, CALL_TIMEOUT_US, &e, NULL);
        ck_assert_msg(r >= 0, "polkit mock %s: %s", member, e.message ?: strerror(-r));
}

static void polkit_set(PolkitMode mode) {
        if (mode == polkit_mode)
                return;
        if (polkit_mode == PK_UNKNOWN)
                mock_call("AllowUnknown", "b", 0);
        switch (mode) {
        case PK_ALLOW:
                mock_call("SetAllowed", "as", 3, ACTION_CLAIM, ACTION_PREPARE, ACTION_MANAGE);
                break;
        case PK_DENY:
        case PK_UNKNOWN:
                mock_call("SetAllowed", "as", 0);
                if (mode == PK_UNKNOWN)
                        mock_call("AllowUnknown", "b", 1);
                break;
        case PK_CLAIM_ONLY:
                mock_call("SetAllowed", "as", 1, ACTION_CLAIM);
                break;
        default:
                mock_call("SetAllowed", "as", 2, ACTION_PREPARE, ACTION_MANAGE);
        }
        polkit_mode = mode;
        S.polkit_changes++;
        note("polkit mode %d", mode);
}

/* ---- the daemon's health ---- */

static unsigned daemon_fds(void) {
        _cleanup_free_ char *dir = xasprintf("/proc/%d/fd", (int) C.pid);
        _cleanup_closedir_ DIR *d = opendir(dir);
        unsigned n = 0;

        ck_assert_msg(d, "%s: %s", dir, strerror(errno));
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        return n;
}

static uint64_t daemon_rss_kb(void) {
        _cleanup_free_ char *path = xasprintf("/proc/%d/status", (int) C.pid);
        _cleanup_free_ char *text = read_file_or_abort(path);
        const char *p = strstr(text, "VmRSS:");
        unsigned long long kb = 0;

        ck_assert_msg(p && sscanf(p, "VmRSS: %llu", &kb) == 1, "no VmRSS in %s", path);
        return kb;
}

static bool daemon_alive(void) {
        int status;

        if (C.pid <= 0)
                return false;
        if (waitpid(C.pid, &status, WNOHANG) == C.pid) {
                printf("vfio-assignd exited with %d\n", exit_code_of(status));
                C.pid = 0;
                return false;
        }
        return true;
}

/* ---- probes: fixed calls every run makes, whatever the seed ---- */

/* Strings that end inside a multi-byte character where a message might cut them (the daemon
 * quotes a caller's string up to 32 or 64 bytes in its errors), and a few fixed edges. */
static char **probe_strings(void) {
        static const size_t cuts[] = { 16, 32, 64, 128, 256 };
        char **l = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cuts); i++)
                for (size_t back = 1; back <= 3; back++) {
                        _cleanup_free_ char *a = repeat("A", cuts[i] - back);

                        ck_assert_int_ge(strv_extendf(&l, "%s\xf0\x9f\x92\xa9tail", a), 0);
                }
        ck_assert_int_ge(strv_extendf(&l, "%s", "0000:00:02.\xc3\xa9"), 0);
        ck_assert_int_ge(strv_extendf(&l, "%s", ""), 0);
        return l;
}

/* One value of type for a probe: the probe string wherever a string goes, the first group for a
 * number, and in options either the probe as a key or as the value of "user". */
static void append_probe(sd_bus_message *m, const char *type, size_t len, const char *probe,
                         bool as_user) {
        _cleanup_free_ char *contents = len > 1 ? strndup(type + 1, len - 2) : NULL;
        uint64_t zero = 0;
        int fd = W.null_fd;

        switch (type[0]) {
        case 's':
                ck_assert_int_ge(sd_bus_message_append_basic(m, 's', probe), 0);
                return;
        case 'u':
                ck_assert_int_ge(sd_bus_message_append_basic(m, 'u',
                                                             W.n_groups ? &W.groups[0]
                                                                        : &(uint32_t) { 0 }),
                                 0);
                return;
        case 'o':
                ck_assert_int_ge(sd_bus_message_append_basic(m, 'o', "/"), 0);
                return;
        case 'g':
                ck_assert_int_ge(sd_bus_message_append_basic(m, 'g', ""), 0);
                return;
        case 'h':
                ck_assert_int_ge(sd_bus_message_append_basic(m, 'h', &fd), 0);
                return;
        case 'v':
                ck_assert_int_ge(sd_bus_message_append(m, "v", "s", probe), 0);
                return;
        case 'a':
                if (strneq(type, "a{sv}", 5) && len == 5)
                        ck_assert_int_ge(as_user ? sd_bus_message_append(m, "a{sv}", 1, "user", "s",
                                                                         probe)
                                                 : sd_bus_message_append(m, "a{sv}", 1, probe, "b",
                                                                         1),
                                         0);
                else {
                        _cleanup_free_ char *elem = strndup(type + 1, len - 1);

                        ck_assert_int_ge(sd_bus_message_open_container(m, 'a', elem), 0);
                        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
                }
                return;
        case '(':
                ck_assert_int_ge(sd_bus_message_open_container(m, 'r', contents), 0);
                for (size_t i = 0, k; (k = type_len(contents + i)) > 0; i += k)
                        append_probe(m, contents + i, k, probe, as_user);
                ck_assert_int_ge(sd_bus_message_close_container(m), 0);
                return;
        default:
                ck_assert_int_ge(sd_bus_message_append_basic(m, type[0], &zero), 0);
        }
}

static void judge(uint64_t index, Role role, const Call *c, const Result *res);
static char *claim_any(void);
static void check_world(uint64_t index, Role role, const char *desc, bool changed);
static bool may_change(const Result *r);

static void probe_one(const char *path, const Member *mb, const char *probe, bool as_user) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Call c = { .path = xstrdup(path),
                   .iface = xstrdup(mb->iface),
                   .member = xstrdup(mb->name),
                   .sig = xstrdup(mb->sig),
                   .want = mb->sig,
                   .standard = startswith(mb->iface, IFACE_STD_PREFIX) };
        Result res;

        c.desc = xasprintf("probe: %s %s.%s(%s) with %s\"%.40s\"... (%zu bytes)", c.path, c.iface,
                           c.member, c.sig, as_user ? "user option " : "", probe, strlen(probe));
        ck_assert_int_ge(sd_bus_message_new_method_call(conn[ROLE_HOLDER], &m, BUS_NAME, c.path,
                                                        c.iface, c.member),
                         0);
        for (size_t i = 0, k; (k = type_len(mb->sig + i)) > 0; i += k)
                append_probe(m, mb->sig + i, k, probe, as_user);
        (void) call_and_wait(conn[ROLE_HOLDER], m, &res);
        judge(0, ROLE_HOLDER, &c, &res);
        check_world(0, ROLE_HOLDER, c.desc, may_change(&res));
        call_clear(&c);
        result_clear(&res);
}

/* Every method that takes a string, on the manager, a group, a device and a live lease, with
 * each probe string in every string argument and in its options. */
static void probe(void) {
        _cleanup_strv_free_ char **probes = probe_strings();
        _cleanup_free_ char *lease = NULL;
        const Node *nodes[4] = { &W.nodes[0] };
        const char *paths[4] = { W.nodes[0].path };

        for (size_t i = 0; i < W.n_nodes; i++) {
                if (!nodes[1] && startswith(W.nodes[i].path, OBJ_GROUP_PREFIX "/"))
                        nodes[1] = &W.nodes[i];
                if (!nodes[2] && startswith(W.nodes[i].path, OBJ_DEVICE_PREFIX "/"))
                        nodes[2] = &W.nodes[i];
        }
        lease = W.lease.n_members > 0 ? claim_any() : NULL;
        if (lease)
                nodes[3] = &W.lease;
        for (size_t n = 0; n < ELEMENTSOF(nodes); n++)
                paths[n] = n == 3 ? lease : nodes[n] ? nodes[n]->path : NULL;
        free(last_snapshot);
        last_snapshot = snapshot();
        refresh_leases();

        for (size_t n = 0; n < ELEMENTSOF(nodes); n++)
                for (size_t j = 0; nodes[n] && j < nodes[n]->n_members; j++) {
                        const Member *mb = &nodes[n]->members[j];

                        if (mb->property || !strpbrk(mb->sig, "sv"))
                                continue;
                        for (char **p = probes; *p; p++) {
                                probe_one(paths[n], mb, *p, false);
                                if (strstr(mb->sig, "a{sv}"))
                                        probe_one(paths[n], mb, *p, true);
                        }
                }
        refresh_leases();
        if (lease && strv_contains(W.leases, lease))
                release(conn[ROLE_HOLDER], lease);
        refresh_leases();
        free(last_snapshot);
        last_snapshot = snapshot();
}

/* Every group claimed in turn, and every member of its lease called the plain way by the holder:
 * each group's own edge (a device on vfio-pci from the start, no /dev/vfio node, a bridge) meets
 * every lease method, whatever the seed. */
static void sweep_one(const char *path, const char *member, const char *sig, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *what = NULL;
        Call c = { .path = xstrdup(path),
                   .iface = xstrdup(IFACE_LEASE),
                   .member = xstrdup(member),
                   .sig = xstrdup(sig) };
        const Member *mb = node_find(&W.lease, IFACE_LEASE, member, false);
        Result res;
        va_list ap;

        if (!mb)
                return call_clear(&c);
        c.want = mb->sig;
        ck_assert_int_ge(sd_bus_message_new_method_call(conn[ROLE_HOLDER], &m, BUS_NAME, path,
                                                        IFACE_LEASE, member),
                         0);
        va_start(ap, sig);
        ck_assert_int_ge(sd_bus_message_appendv(m, sig, ap), 0);
        va_end(ap);
        c.desc = xasprintf("sweep: %s %s(%s)", path, member, sig);
        (void) call_and_wait(conn[ROLE_HOLDER], m, &res);
        judge(0, ROLE_HOLDER, &c, &res);
        what = xasprintf("%s\n  -> %s: %s", c.desc, res.ok ? "ok" : res.name,
                         res.ok ? strempty(res.reply_sig) : res.message);
        check_world(0, ROLE_HOLDER, what, may_change(&res));
        call_clear(&c);
        result_clear(&res);
}

static void sweep(void) {
        polkit_set(PK_ALLOW);
        for (size_t i = 0; i < W.n_groups && W.lease.n_members > 0; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_strv_free_ char **devices = NULL;
                _cleanup_free_ char *lease = NULL;

                if (sd_bus_call_method(conn[ROLE_HOLDER], BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                       "ClaimGroup", &e, &reply, "ua{sv}", W.groups[i], 0) < 0)
                        continue;
                lease = reply_path(sd_bus_message_ref(reply));
                free(last_snapshot);
                last_snapshot = snapshot();
                ck_assert_int_ge(sd_bus_get_property_strv(conn[ROLE_HOLDER], BUS_NAME, lease,
                                                          IFACE_LEASE, "Devices", &e, &devices),
                                 0);
                sweep_one(lease, "OpenContainer", "");
                sweep_one(lease, "OpenGroup", "");
                for (char **d = devices; d && *d; d++)
                        sweep_one(lease, "OpenDevice", "s", *d);
                sweep_one(lease, "GrantAccess", "ua{sv}", NOBODY_UID, 0);
                sweep_one(lease, "GrantAccess", "ua{sv}", 0, 0);
                sweep_one(lease, "Release", "a{sv}", 0);
                refresh_leases();
                if (strv_contains(W.leases, lease))
                        release(conn[ROLE_HOLDER], lease);
        }
        refresh_leases();
        free(last_snapshot);
        last_snapshot = snapshot();
}

/* ---- races: polkit answers after the object is gone ---- */

typedef struct Pending {
        bool done;
        Result res;
} Pending;

static int on_burst_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

static void pump(sd_bus *const *buses, size_t n, int timeout_ms);

/* A call that waits for polkit while the holder releases the lease under it: when polkit answers,
 * the call runs again on an object that is gone. The call carries an fd (in its options, where
 * the signature allows one) and a large payload: whatever the daemon keeps of such a call shows
 * in its fds and its RSS. */
static void race(unsigned rounds) {
        _cleanup_free_ char *big = repeat("A", 1024 * 1024);
        uint64_t rss_before, rss_after;
        unsigned fds_before, fds_after;

        polkit_set(PK_ALLOW);
        refresh_leases();
        if (W.leases || W.lease.n_members == 0)
                return;
        fds_before = daemon_fds();
        rss_before = daemon_rss_kb();
        for (unsigned i = 0; i < rounds; i++) {
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
                _cleanup_free_ char *lease = claim_any();
                Pending p = {};
                Call c = {};
                int64_t deadline = now_usec() + CALL_TIMEOUT_US;

                if (!lease)
                        return;
                mock_call("SimulateHang", "b", 1);
                ck_assert_int_ge(sd_bus_call_method_async(conn[ROLE_OTHER], &slot, BUS_NAME, lease,
                                                          IFACE_LEASE, "Release", on_burst_reply,
                                                          &p, "a{sv}", 2, "fd", "h", W.memfd,
                                                          "payload", "s", big),
                                 0);
                /* Dispatched once: waiting for polkit. */
                sd_bus_message_unref(call_ok(conn[ROLE_OTHER], OBJ_ROOT, IFACE_PEER, "Ping", ""));
                release(conn[ROLE_HOLDER], lease);
                mock_call("SimulateHang", "b", 0);
                mock_call("ReleaseHangingCalls", "");
                while (!p.done && now_usec() < deadline)
                        pump(&conn[ROLE_OTHER], 1, 10);
                if (!p.done)
                        result_from(&p.res, -ETIMEDOUT, NULL, NULL);
                c = (Call) { .path = xstrdup(lease),
                             .iface = xstrdup(IFACE_LEASE),
                             .member = xstrdup("Release"),
                             .sig = xstrdup("a{sv}"),
                             .want = "a{sv}",
                             .desc = xasprintf("race: %s Release({\"fd\": <h>, \"payload\": <s> "
                                               "<1 MiB>}) from a non-holder, waiting for polkit "
                                               "while the holder releases",
                                               lease) };
                judge(0, ROLE_OTHER, &c, &p.res);
                call_clear(&c);
                result_clear(&p.res);
        }
        refresh_leases();
        free(last_snapshot);
        last_snapshot = snapshot();
        fds_after = daemon_fds();
        rss_after = daemon_rss_kb();
        note("race: %u rounds, daemon fds %u -> %u, RSS %" PRIu64 " -> %" PRIu64 " KiB", rounds,
             fds_before, fds_after, rss_before, rss_after);
        if (fds_after != fds_before) {
                _cleanup_free_ char *d =
                        xasprintf("  %u times: a non-holder's Release({\"fd\": <h>, "
                                  "...}) waited for polkit while the holder released "
                                  "the lease; the daemon had %u fds before, %u after "
                                  "(RSS %" PRIu64 " -> %" PRIu64 " KiB)",
                                  rounds, fds_before, fds_after, rss_before, rss_after);

                finding(0, ROLE_OTHER,
                        "the daemon keeps calls whose object went while polkit "
                        "decided",
                        d);
        }
}

/* ---- steps ---- */

static void single(uint64_t index, Role role) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *what = NULL;
        Call c;
        Result res;

        if (role == ROLE_NOBODY)
                worker_call(index, &c, &res);
        else {
                gen_call(conn[role], opt.seed, index, &c, &m);
                (void) call_and_wait(conn[role], m, &res);
        }
        judge(index, role, &c, &res);
        what = xasprintf("%s\n  -> %s: %s", c.desc, res.ok ? "ok" : res.name,
                         res.ok ? strempty(res.reply_sig) : res.message);
        check_world(index, role, what, may_change(&res));
        call_clear(&c);
        result_clear(&res);
}

static int on_burst_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        result_from(&p->res, e ? -sd_bus_message_get_errno(m) ?: -EIO : 0, e, m);
        p->done = true;
        return 0;
}

static void pump(sd_bus *const *buses, size_t n, int timeout_ms) {
        struct pollfd p[2];

        ck_assert_uint_le(n, ELEMENTSOF(p));
        for (size_t i = 0; i < n; i++) {
                while (sd_bus_process(buses[i], NULL) > 0)
                        ;
                p[i] = (struct pollfd) { .fd = sd_bus_get_fd(buses[i]),
                                         .events = (short) sd_bus_get_events(buses[i]) };
        }
        (void) poll(p, n, timeout_ms);
}

static void settle_holder(uint64_t index, Role role, const char *holder);

/* Several calls from both root connections at once. With hold, polkit keeps its answers until
 * all of them were dispatched once, so that the ones it lets through run again after the others
 * changed the world (a lease released, a group claimed) under them; with abandon, the second
 * connection goes away before polkit answers: what it was granted must not outlive it. */
static uint64_t burst(uint64_t index, Rng *r, uint64_t left) {
        size_t n = MIN(2 + rng_below(r, 5), left);
        bool hold = rng_percent(r, 50), abandon = hold && rng_percent(r, 30);
        _cleanup_free_ char *gone = NULL;
        sd_bus_slot *slots[8] = {};
        Pending pending[8] = {};
        Call calls[8] = {};
        Role roles[8];
        bool any_ok = false;
        int64_t deadline;
        _cleanup_free_ char *descs = NULL;

        note("burst of %zu%s%s", n, hold ? ", polkit held" : "",
             abandon ? ", the second connection leaves" : "");
        S.bursts++;
        S.burst_calls += n;
        S.hung_bursts += hold;
        if (hold)
                mock_call("SimulateHang", "b", 1);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                roles[i] = rng_percent(r, 60) ? ROLE_HOLDER : ROLE_OTHER;
                gen_call(conn[roles[i]], opt.seed, index + i, &calls[i], &m);
                ck_assert_int_ge(sd_bus_call_async(conn[roles[i]], &slots[i], m, on_burst_reply,
                                                   &pending[i], CALL_TIMEOUT_US),
                                 0);
        }
        if (hold) {
                /* Each connection's messages are dispatched in order: a Ping answered means the
                 * calls before it have been seen and are waiting for polkit. */
                for (Role role = ROLE_HOLDER; role <= ROLE_OTHER; role++)
                        sd_bus_message_unref(call_ok(conn[role], OBJ_ROOT, IFACE_PEER, "Ping", ""));
                if (abandon) {
                        gone = xstrdup(unique_name(conn[ROLE_OTHER]));
                        for (size_t i = 0; i < n; i++)
                                if (roles[i] == ROLE_OTHER) {
                                        slots[i] = sd_bus_slot_unref(slots[i]);
                                        pending[i].done = true;
                                }
                        conn[ROLE_OTHER] = sd_bus_flush_close_unref(conn[ROLE_OTHER]);
                        conn[ROLE_OTHER] = bus_connect();
                        S.reconnects++;
                }
                mock_call("SimulateHang", "b", 0);
                mock_call("ReleaseHangingCalls", "");
                /* polkit answered the daemon before us: once this Ping is answered, the calls it
                 * let through have run again, the abandoned ones too. */
                sd_bus_message_unref(call_ok(conn[ROLE_HOLDER], OBJ_ROOT, IFACE_PEER, "Ping", ""));
        }
        deadline = now_usec() + 2 * CALL_TIMEOUT_US;
        for (;;) {
                bool all = true;

                for (size_t i = 0; i < n; i++)
                        all = all && pending[i].done;
                if (all || now_usec() > deadline)
                        break;
                pump(conn, 2, 10);
        }
        for (size_t i = 0; i < n; i++) {
                if (gone && roles[i] == ROLE_OTHER) {
                        /* Nobody is left to hear the answer. */
                        S.abandoned++;
                        call_clear(&calls[i]);
                        continue;
                }
                if (!pending[i].done)
                        result_from(&pending[i].res, -ETIMEDOUT, NULL, NULL);
                judge(index + i, roles[i], &calls[i], &pending[i].res);
                any_ok = any_ok || may_change(&pending[i].res);
                ck_assert_int_ge(strextendf(&descs, "\n  ", "[%s] %s -> %s", role_names[roles[i]],
                                            calls[i].desc,
                                            pending[i].res.ok ? "ok" : pending[i].res.name),
                                 0);
                sd_bus_slot_unref(slots[i]);
                call_clear(&calls[i]);
                result_clear(&pending[i].res);
        }
        if (gone)
                settle_holder(index + n - 1, ROLE_OTHER, gone);
        else
                check_world(index + n - 1, ROLE_HOLDER, descs, any_ok);
        return n;
}

/* Whether a group has a job running (GetHostReport's "job" of each group). */
static bool any_job(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ json_object *report = NULL;
        json_object *groups;
        const char *text;

        reply = call_ok(conn[ROLE_HOLDER], OBJ_ROOT, IFACE_MANAGER, "GetHostReport", "");
        ck_assert_int_ge(sd_bus_message_read(reply, "s", &text), 0);
        report = parse_json(text, "GetHostReport");
        groups = jget(report, "groups");
        for (size_t i = 0; i < jlen(groups); i++) {
                json_object *job = NULL;

                /* "job" is there only while one runs. */
                if (json_object_object_get_ex(jidx(groups, i), "job", &job) && job)
                        return true;
        }
        return false;
}

/* Waits until no lease names holder (a lease of a holder that left must be given back) and no
 * group has a job: a call left unanswered when its caller left (a Release, Unprepare or
 * ReleaseByOwner) still runs its jobs, which change the world after no call of ours. */
static void settle_holder(uint64_t index, Role role, const char *holder) {
        int64_t deadline = now_usec() + (int64_t) SETTLE_MS * 1000;
        bool listed = true, busy = true;

        for (;;) {
                refresh_leases();
                if (any_unsettled())
                        unstick(index);
                listed = strv_contains(W.holders, holder);
                busy = !listed && any_job();
                if (!listed && !busy)
                        break;
                if (now_usec() > deadline) {
                        _cleanup_free_ char *d =
                                listed ? xasprintf("  %s left with a lease; after %d ms it is "
                                                   "still listed",
                                                   holder, SETTLE_MS)
                                       : xasprintf("  after %s left, a job of the daemon still "
                                                   "runs after %d ms",
                                                   holder, SETTLE_MS);

                        finding(index, role,
                                listed ? "a holder's lease outlived its connection"
                                       : "a job outlived the calls that queued it",
                                d);
                        break;
                }
                sleep_ms(5);
        }
        /* The last job's lease may have been given back: its end is the world to compare with. */
        refresh_leases();
        free(last_snapshot);
        last_snapshot = snapshot();
}

static void reconnect(uint64_t index, Role role) {
        _cleanup_free_ char *old = NULL;

        S.reconnects++;
        note("reconnect %s", role_names[role]);
        if (role == ROLE_NOBODY) {
                _cleanup_free_ char *line = worker_ask("reconnect", "R\n");

                ck_assert_msg(startswith(line, "U "), "the worker said \"%s\"", line);
                old = xstrdup(line + 2);
        } else {
                old = xstrdup(unique_name(conn[role]));
                conn[role] = sd_bus_flush_close_unref(conn[role]);
                conn[role] = bus_connect();
        }
        settle_holder(index, role, old);
}

/* Every lease released (by a root connection with every action allowed), then the daemon's fds
 * compared with the first time it had no lease. */
static void cleanup(uint64_t index) {
        PolkitMode mode = polkit_mode;
        unsigned fds;
        uint64_t rss;

        S.cleanups++;
        note("cleanup");
        polkit_set(PK_ALLOW);
        refresh_leases();
        for (char **l = W.leases; l && *l; l++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(conn[ROLE_HOLDER], BUS_NAME, *l, IFACE_LEASE, "Release",
                                           &e, NULL, "a{sv}", 0);

                if (r < 0) {
                        _cleanup_free_ char *d = xasprintf("  %s Release({}) -> %s: %s", *l, e.name,
                                                           e.message);

                        finding(index, ROLE_HOLDER, "a lease could not be released", d);
                }
        }
        refresh_leases();
        free(last_snapshot);
        last_snapshot = snapshot();
        polkit_set(mode);
        mock_call("ClearCalls", "");

        rss = daemon_rss_kb();
        S.rss_first_kb = S.rss_first_kb ?: rss;
        if (!S.rss_ref_kb && index >= opt.calls / 10)
                S.rss_ref_kb = rss;
        S.rss_max_kb = MAX(S.rss_max_kb, rss);
        S.rss_last_kb = rss;
        if (W.leases)
                return;
        fds = daemon_fds();
        if (S.fds_idle == 0)
                S.fds_idle = fds;
        else if (fds > S.fds_idle) {
                _cleanup_free_ char *d =
                        xasprintf("  with no lease the daemon had %u fds at first, "
                                  "now %u",
                                  S.fds_idle, fds);

                finding(index, ROLE_HOLDER, "the daemon's fds grow", d);
                S.fds_idle = fds;
        }
}

/* A claim made the plain way, of the first group that can be claimed; NULL when none can. */
static char *claim_any(void) {
        for (size_t i = 0; i < W.n_groups; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

                if (sd_bus_call_method(conn[ROLE_HOLDER], BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                       "ClaimGroup", &e, &reply, "ua{sv}", W.groups[i], 0) >= 0)
                        return reply_path(sd_bus_message_ref(reply));
        }
        return NULL;
}

/* A lease's members, from a real one. On a host where nothing can be claimed (no IOMMU, no
 * interrupt remapping) there is none: then the lease members are not called. */
static void learn_lease(void) {
        _cleanup_free_ char *path = NULL, *xml = NULL;
        _cleanup_strv_free_ char **children = NULL;

        polkit_set(PK_ALLOW);
        path = claim_any();
        if (!path) {
                printf("bus-fuzz: no group of %s can be claimed: the Lease members are not "
                       "called\n",
                       opt.host);
                return;
        }
        W.lease.path = xstrdup(path);
        xml = introspect(conn[ROLE_HOLDER], path);
        parse_introspection(xml, &W.lease, &children);
        ck_assert_msg(node_find(&W.lease, IFACE_LEASE, "Release", false), "%s has no %s.Release",
                      path, IFACE_LEASE);
        refresh_leases();
        release(conn[ROLE_HOLDER], path);
}

/* Lets the policy give uid 65534 network controllers, so that its claims can succeed. */
static void policy_for_nobody(void) {
        _cleanup_free_ char *p = path_join(C.policy, "50-fuzz-nobody.json");

        write_file(p, "{\"version\": 1, \"rules\": [{\"description\": \"fuzz-bus: network "
                      "controllers for nobody\", \"match\": {\"class\": \"0x02*\"}, "
                      "\"action\": \"allow\", \"users\": [\"nobody\"]}]}\n");
}

static void run_fuzz(void) {
        int64_t start;
        uint64_t i = 0, progress = 0;
        double secs;

        case_begin_data(opt.host);
        policy_for_nobody();
        polkit_allow_all();
        daemon_start();
        conn[ROLE_HOLDER] = bus_connect();
        conn[ROLE_OTHER] = bus_connect();
        polkit_mode = PK_ALLOW;
        W.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        W.memfd = memfd_create("fuzz-bus", MFD_CLOEXEC);
        ck_assert(W.null_fd >= 0 && W.memfd >= 0);
        load_documented_errors();
        load_devices(conn[ROLE_HOLDER]);
        introspect_tree(conn[ROLE_HOLDER]);
        learn_lease();
        ck_assert_msg(W.n_nodes > 0, "nothing to call");
        worker_start();
        cleanup(0);
        probe();
        sweep();
        race(8);

        printf("bus-fuzz: seed %" PRIu64 ", %" PRIu64 " random calls, host %s, %zu objects, %zu "
               "interfaces, %zu methods, %zu properties, %zu documented errors\n",
               opt.seed, opt.calls, opt.host, W.n_nodes, strv_length(W.ifaces),
               strv_length(W.methods), strv_length(W.props), strv_length(W.errors));
        fflush(stdout);
        start = now_usec();
        while (i < opt.calls) {
                Rng r;

                rng_init(&r, opt.seed, i, 0);
                if (rng_percent(&r, 2))
                        polkit_set((PolkitMode) rng_below(&r, _PK_MAX));
                if (rng_below(&r, 1000) < 3)
                        reconnect(i, (Role) rng_below(&r, _ROLE_MAX));
                if (rng_below(&r, 1000) < 5)
                        cleanup(i);
                if (rng_percent(&r, 3))
                        i += burst(i, &r, opt.calls - i);
                else {
                        unsigned k = (unsigned) rng_below(&r, 100);

                        single(i, k < 50 ? ROLE_HOLDER : k < 65 ? ROLE_OTHER : ROLE_NOBODY);
                        i++;
                }
                if (!daemon_alive()) {
                        finding(i, ROLE_HOLDER, "the daemon died", "  (its log follows)");
                        dump_log();
                        break;
                }
                /* Bursts move i by more than one: report when a 10,000 is crossed. */
                if (i / 10000 != progress) {
                        progress = i / 10000;
                        printf("bus-fuzz: %" PRIu64 " random calls, %" PRIu64 " findings, "
                               "%.0f calls/s\n",
                               i, S.findings, (double) i / ((double) (now_usec() - start) / 1e6));
                }
        }
        secs = (double) (now_usec() - start) / 1e6;

        if (daemon_alive()) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(conn[ROLE_OTHER], BUS_NAME, OBJ_ROOT, IFACE_PEER, "Ping",
                                           &e, NULL, "");

                if (r < 0)
                        finding(i, ROLE_OTHER, "the daemon does not answer Ping at the end",
                                e.message ?: strerror(-r));
                cleanup(i);
#ifndef UNDER_ASAN
                if (S.rss_ref_kb && S.rss_last_kb > S.rss_ref_kb + RSS_GROWTH_KB) {
                        _cleanup_free_ char *d = xasprintf("  RSS %" PRIu64 " KiB after a tenth of "
                                                           "the calls, %" PRIu64 " KiB at the end",
                                                           S.rss_ref_kb, S.rss_last_kb);

                        finding(i, ROLE_HOLDER, "the daemon's memory grows", d);
                }
#endif
        }
        worker_stop();
        printf("bus-fuzz: %.1f s, %.0f calls/s; %" PRIu64 " as root, %" PRIu64 " as another root "
               "connection, %" PRIu64 " as nobody; %" PRIu64 " with a wrong signature, %" PRIu64
               " in %" PRIu64 " bursts (%" PRIu64 " with polkit held), %" PRIu64
               " reconnects (%" PRIu64 " calls left unanswered), %" PRIu64
               " polkit changes, %" PRIu64 " invalid UTF-8 strings "
               "refused by sd-bus; daemon fds with no lease %u, RSS %" PRIu64 "/%" PRIu64
               "/%" PRIu64 " KiB (first/max/last)\n",
               secs, secs > 0 ? (double) S.calls / secs : 0.0, S.by_role[ROLE_HOLDER],
               S.by_role[ROLE_OTHER], S.by_role[ROLE_NOBODY], S.wrong_sig, S.burst_calls, S.bursts,
               S.hung_bursts, S.reconnects, S.abandoned, S.polkit_changes, W.utf8_rejected,
               S.fds_idle, S.rss_first_kb, S.rss_max_kb, S.rss_last_kb);
        fflush(stdout);
        /* SIGTERM: exit 0, or ASan's report (a leak, an error) makes it fail here. */
        if (C.pid > 0)
                daemon_stop();
        printf("bus-fuzz: %" PRIu64 " calls, %" PRIu64 " refused, %" PRIu64 " succeeded, %" PRIu64
               " findings (seed %" PRIu64 ")\n",
               S.calls, S.refused, S.ok, S.findings, opt.seed);
        fflush(stdout);
        ck_assert_msg(S.findings == 0, "%" PRIu64 " findings", S.findings);
        case_end();
}

START_TEST(test_bus_fuzz) {
        run_fuzz();
}
END_TEST

/* ---- main ---- */

static void fuzz_setup(void) {
        world_setup("fuzz-bus");
}

static void help(void) {
        printf("Usage: fuzz-bus [--seed N] [--calls N] [--host FILE] [--verbose]\n"
               "Sends N random calls to vfio-assignd on the kernel model (see the top of\n"
               "tests/fuzz/fuzz-bus.c). FILE is relative to tests/data (default %s).\n",
               Q35_HOST);
}

/* Defaults for running it by hand from the build tree, without make's environment. */
static void default_env(void) {
        static const struct {
                const char *name, *value;
        } defaults[] = {
                { "TOP_SRCDIR", ABS_TOP_SRCDIR },
                { "TEST_DATA_DIR", ABS_TOP_SRCDIR "/tests/data" },
                { "TEST_BUS_CONF", ABS_TOP_SRCDIR "/tests/test-system-bus.conf" },
                { "VFIO_ASSIGND", ABS_TOP_BUILDDIR "/vfio-assignd" },
                { "ASSIGNCTL", ABS_TOP_BUILDDIR "/assignctl" },
                { "MKHOST", ABS_TOP_BUILDDIR "/tests/mkhost" },
                { "VFIO_MOCK_LIB", ABS_TOP_BUILDDIR "/tests/mock/libvfio-mock.so" },
                /* The preload comes before the sanitizer runtime (tests/mock/README.md). */
                { "ASAN_OPTIONS", "verify_asan_link_order=0" },
        };

        /* Before Check runs: no ck_assert here. */
        for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
                if (setenv(defaults[i].name, defaults[i].value, 0) < 0)
                        abort();
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },        { "seed", required_argument, NULL, 's' },
                { "calls", required_argument, NULL, 'n' }, { "host", required_argument, NULL, 'H' },
                { "verbose", no_argument, NULL, 'v' },     {}
        };
        const char *env;
        bool seeded = false;
        int c;

        if ((env = getenv("FUZZ_BUS_SEED"))) {
                if (safe_atou64(env, 10, &opt.seed) < 0) {
                        fprintf(stderr, "FUZZ_BUS_SEED: not a number: %s\n", env);
                        return -EINVAL;
                }
                seeded = true;
        }
        if ((env = getenv("FUZZ_BUS_CALLS")) && safe_atou64(env, 10, &opt.calls) < 0) {
                fprintf(stderr, "FUZZ_BUS_CALLS: not a number: %s\n", env);
                return -EINVAL;
        }
        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        exit(0);
                case 's':
                        if (safe_atou64(optarg, 10, &opt.seed) < 0) {
                                fprintf(stderr, "--seed: not a number: %s\n", optarg);
                                return -EINVAL;
                        }
                        seeded = true;
                        break;
                case 'n':
                        if (safe_atou64(optarg, 10, &opt.calls) < 0) {
                                fprintf(stderr, "--calls: not a number: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'H':
                        opt.host = optarg;
                        break;
                case 'v':
                        opt.verbose = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "fuzz-bus: unexpected argument %s\n", argv[optind]);
                return -EINVAL;
        }
        if (!seeded) {
                /* Printed at the start and the end: that is all a rerun needs. */
                if (getrandom(&opt.seed, sizeof(opt.seed), 0) != sizeof(opt.seed))
                        opt.seed = (uint64_t) time(NULL) ^ (uint64_t) getpid();
                opt.seed %= 1000000000000ULL;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (parse_argv(argc, argv) < 0)
                return 2;
        setvbuf(stdout, NULL, _IOLBF, 0);
        default_env();
        if (getuid() != 0) {
                printf("SKIP: fuzz-bus runs the daemon and a caller as uid %u: it needs root\n",
                       NOBODY_UID);
                return 77;
        }
        if (!world_init("fuzz-bus"))
                return 77;
        printf("bus-fuzz: seed %" PRIu64 "\n", opt.seed);

        s = suite_create("bus-fuzz");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, fuzz_setup, harness_teardown);
        /* Generous: ASan, a slow machine shared with others; a hang is caught per call. */
        tcase_set_timeout(tc, 300 + (double) opt.calls / 10);
        tcase_add_test(tc, test_bus_fuzz);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
