/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the daemon knows of its callers (daemon/bus-peers.c), on a private dbus-daemon: the
 * credentials of a connection are asked once and kept while it is connected, forgotten when it
 * leaves; a watch is told once when its peer leaves, also when the peer had left before; the
 * peers nobody watches are bounded (compiled here with a bound of 4). */
#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-peers.h"
#include "harness.h"
#include "util.h"

static char *tmpdir, *address;
static pid_t bus_pid;
static int bus_stdout = -1;
static sd_event *event;
static sd_bus *own; /* the daemon's connection */
static BusPeers *peers;

static sd_bus *connect_bus(void) {
        sd_bus *b = NULL;

        ck_assert_int_ge(sd_bus_new(&b), 0);
        ck_assert_int_ge(sd_bus_set_address(b, address), 0);
        ck_assert_int_ge(sd_bus_set_bus_client(b, true), 0);
        ck_assert_int_ge(sd_bus_start(b), 0);
        return b;
}

static const char *name_of(sd_bus *b) {
        const char *n = NULL;

        ck_assert_int_ge(sd_bus_get_unique_name(b, &n), 0);
        return n;
}

static void setup(void) {
        char tmpl[] = "/tmp/vfio-assignd-peers.XXXXXX";
        _cleanup_free_ char *socket_path = NULL;

        ck_assert_ptr_nonnull(mkdtemp(tmpl));
        tmpdir = strdup(tmpl);
        socket_path = path_join(tmpdir, "bus");
        bus_pid = bus_start(socket_path, &address, &bus_stdout);
        ck_assert_int_ge(sd_event_new(&event), 0);
        own = connect_bus();
        ck_assert_int_ge(sd_bus_attach_event(own, event, SD_EVENT_PRIORITY_NORMAL), 0);
        ck_assert_int_ge(bus_peers_new(own, event, &peers), 0);
}

static void teardown(void) {
        peers = bus_peers_free(peers);
        own = sd_bus_flush_close_unref(own);
        event = sd_event_unref(event);
        bus_stop(bus_pid, bus_stdout);
        (void) run(NULL, NULL, (char *) "rm", (char *) "-rf", (char *) "--", tmpdir);
        tmpdir = mfree(tmpdir);
        address = mfree(address);
}

/* Until the bus no longer knows name: then its NameOwnerChanged is on its way to us. */
static void wait_gone_from_bus(sd_bus *other, const char *name) {
        for (int i = 0; i < 500; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

                if (sd_bus_call_method(other, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetNameOwner", &e, &reply, "s",
                                       name) < 0)
                        return;
                usleep(10 * 1000);
        }
        ck_abort_msg("%s stays on the bus", name);
}

/* Runs our loop until *flag is set or ms passed. */
static void run_until(const int *flag, int ms) {
        for (int i = 0; i < ms / 10 && !*flag; i++)
                ck_assert_int_ge(sd_event_run(event, 10 * 1000), 0);
}

static void on_gone(void *userdata) {
        (*(int *) userdata)++;
}

START_TEST(test_creds_kept_while_connected) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *peer = connect_bus(), *other = connect_bus();
        _cleanup_free_ char *name = strdup(name_of(peer));
        const BusPeerCreds *c = NULL;
        struct passwd *pw = getpwuid(getuid());
        int never = 0;

        ck_assert_int_eq(bus_peers_get(peers, name, &c), 0);
        ck_assert_uint_eq(c->uid, getuid());
        ck_assert_uint_eq(c->pid, getpid());
        if (pw) {
                ck_assert_str_eq(c->user, pw->pw_name);
                ck_assert(strv_length(c->groups) >= 1);
        }
        ck_assert_uint_eq(bus_peers_count(peers), 1);

        /* Gone from the bus, and we have not handled its leaving yet: what we know is what we
         * were told once (asking the bus now would fail). */
        peer = sd_bus_flush_close_unref(peer);
        wait_gone_from_bus(other, name);
        ck_assert_int_eq(bus_peers_get(peers, name, &c), 0);
        ck_assert_uint_eq(c->pid, getpid());

        /* Once its NameOwnerChanged is handled, it is forgotten, and asking again fails. */
        run_until(&never, 300);
        ck_assert_uint_eq(bus_peers_count(peers), 0);
        ck_assert_int_eq(bus_peers_get(peers, name, &c), -ENXIO);
        ck_assert_int_eq(bus_peers_get(peers, "not-unique", &c), -EINVAL);
}
END_TEST

START_TEST(test_watch_told_once) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *peer = connect_bus();
        _cleanup_free_ char *name = strdup(name_of(peer));
        BusPeerWatch *w = NULL, *unwatched = NULL;
        int gone = 0, never = 0;

        ck_assert_int_eq(bus_peers_watch(peers, name, on_gone, &gone, &w), 0);
        /* A watch freed before its peer leaves is never told. */
        ck_assert_int_eq(bus_peers_watch(peers, name, on_gone, &never, &unwatched), 0);
        unwatched = bus_peer_watch_free(unwatched);
        run_until(&gone, 100);
        ck_assert_int_eq(gone, 0);

        peer = sd_bus_flush_close_unref(peer);
        run_until(&gone, 5000);
        ck_assert_int_eq(gone, 1);
        run_until(&never, 200);
        ck_assert_int_eq(gone, 1);
        ck_assert_int_eq(never, 0);
        /* Kept while watched, forgotten with its last watch. */
        ck_assert_uint_eq(bus_peers_count(peers), 1);
        w = bus_peer_watch_free(w);
        ck_assert_uint_eq(bus_peers_count(peers), 0);
}
END_TEST

/* A peer that left before it was watched (a claim's holder that went while its job ran): the
 * watch is told at once, from the loop, not from inside bus_peers_watch(). */
START_TEST(test_watch_after_leaving) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *peer = connect_bus(), *other = connect_bus();
        _cleanup_free_ char *name = strdup(name_of(peer));
        const BusPeerCreds *c = NULL;
        BusPeerWatch *known = NULL, *unknown = NULL;
        int gone_known = 0, gone_unknown = 0, never = 0;

        ck_assert_int_eq(bus_peers_get(peers, name, &c), 0);
        peer = sd_bus_flush_close_unref(peer);
        wait_gone_from_bus(other, name);
        /* Not handled yet: known and connected, told when its leaving is handled. */
        ck_assert_int_eq(bus_peers_watch(peers, name, on_gone, &gone_known, &known), 0);
        ck_assert_int_eq(gone_known, 0);
        run_until(&gone_known, 5000);
        ck_assert_int_eq(gone_known, 1);

        /* Never seen (or forgotten): the bus is asked, and says it has no owner. */
        ck_assert_int_eq(bus_peers_watch(peers, ":1.99999", on_gone, &gone_unknown, &unknown), 0);
        ck_assert_int_eq(gone_unknown, 0);
        run_until(&gone_unknown, 1000);
        ck_assert_int_eq(gone_unknown, 1);
        run_until(&never, 100);
        ck_assert_int_eq(gone_known + gone_unknown, 2);
        bus_peer_watch_free(known);
        bus_peer_watch_free(unknown);
        ck_assert_uint_eq(bus_peers_count(peers), 0);
}
END_TEST

/* Six callers that stay connected: four are kept (the bound this test is built with), the least
 * recently asked go first, and a watched one is never dropped. */
START_TEST(test_unwatched_bounded) {
        sd_bus *p[6];
        const BusPeerCreds *c = NULL;
        BusPeerWatch *w = NULL;
        int gone = 0;

        for (size_t i = 0; i < ELEMENTSOF(p); i++)
                p[i] = connect_bus();
        ck_assert_int_eq(bus_peers_watch(peers, name_of(p[0]), on_gone, &gone, &w), 0);
        for (size_t i = 1; i < ELEMENTSOF(p); i++) {
                ck_assert_int_eq(bus_peers_get(peers, name_of(p[i]), &c), 0);
                ck_assert_uint_eq(c->pid, getpid());
        }
        ck_assert_uint_eq(bus_peers_count(peers), 1 + 4);
        p[0] = sd_bus_flush_close_unref(p[0]);
        run_until(&gone, 5000);
        ck_assert_int_eq(gone, 1);
        bus_peer_watch_free(w);
        ck_assert_uint_eq(bus_peers_count(peers), 4);
        for (size_t i = 1; i < ELEMENTSOF(p); i++)
                sd_bus_flush_close_unref(p[i]);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("peers");
        TCase *tc = tcase_create("peers");

        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_creds_kept_while_connected);
        tcase_add_test(tc, test_watch_told_once);
        tcase_add_test(tc, test_watch_after_leaving);
        tcase_add_test(tc, test_unwatched_bounded);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *r;
        int failed;

        /* A peer that closes its connection must not take the test with it. */
        signal(SIGPIPE, SIG_IGN);
        if (!harness_init())
                return 77;
        r = srunner_create(suite());
        srunner_run_all(r, CK_ENV);
        failed = srunner_ntests_failed(r);
        srunner_free(r);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
