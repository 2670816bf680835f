/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon as a whole, on the kernel model (tests/mock) and a private bus with python-dbusmock's
 * polkitd, like test-claim.c: what the report, the bus and assignctl say agrees with what a claim
 * does on every sample host, and the daemon's lifecycle and guards (issue 8). Each test starts a
 * daemon of its own on a fresh copy of a host. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

/* ---- the report, the bus, assignctl list and claim agree ---- */

/* Every .host file in tests/data/hosts (test_sample_hosts_listed keeps the list whole). */
static const char *const sample_hosts[] = {
        "amd",    "no-iommu",    "no-ir", "qemu-q35-vtd", "qemu-q35-vtd-intremap-off",
        "server", "workstation",
};

START_TEST(test_sample_hosts_listed) {
        _cleanup_free_ char *dir = path_join(getenv("TEST_DATA_DIR") ?: "tests/data", "hosts");
        _cleanup_closedir_ DIR *d = NULL;
        size_t n = 0;

        d = opendir(dir);
        ck_assert_msg(d, "opendir %s: %s", dir, strerror(errno));
        for (struct dirent *de; (de = readdir(d));) {
                size_t len = strlen(de->d_name);
                bool listed = false;

                if (len < 6 || !streq(de->d_name + len - 5, ".host"))
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(sample_hosts); i++)
                        listed |= strlen(sample_hosts[i]) == len - 5 &&
                                  strneq(de->d_name, sample_hosts[i], len - 5);
                ck_assert_msg(listed, "%s is not in sample_hosts[]", de->d_name);
                n++;
        }
        ck_assert_uint_eq(n, ELEMENTSOF(sample_hosts));
}
END_TEST

/* The drivers and overrides of snapshot(), without the /dev/vfio nodes and the state file, which
 * a claim and its release legitimately leave changed (the container node, next_id). */
static char *drivers_of(const char *snapshot) {
        const char *end = strstr(snapshot, "dev/vfio") ?: strstr(snapshot, STATE_FILE " ");
        char *s = strndup(snapshot, end ? (size_t) (end - snapshot) : strlen(snapshot));

        ck_assert_ptr_nonnull(s);
        return s;
}

static bool group_assignable_on_bus(sd_bus *bus, uint32_t id) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = xasprintf(OBJ_GROUP_PREFIX "/%" PRIu32, id);
        int b = -1, r;

        r = sd_bus_get_property_trivial(bus, BUS_NAME, path, IFACE_GROUP, "Assignable", &e, 'b',
                                        &b);
        ck_assert_msg(r >= 0, "Assignable of group %" PRIu32 ": %s", id, strna(e.message));
        return b;
}

/* The summary word of "Group N (...): assignable|blocked" in `assignctl list`. */
static bool group_assignable_in_list(const char *list, uint32_t id) {
        _cleanup_free_ char *head = xasprintf("Group %" PRIu32 " (", id);
        const char *line = list;

        for (; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                size_t len = strcspn(line, "\n");

                if (!startswith(line, head))
                        continue;
                if (len >= 12 && strneq(line + len - 12, ": assignable", 12))
                        return true;
                ck_assert_msg(len >= 9 && strneq(line + len - 9, ": blocked", 9),
                              "unexpected line: %.*s", (int) len, line);
                return false;
        }
        ck_abort_msg("assignctl list has no line for group %" PRIu32 ":\n%s", id, list);
        return false;
}

/* A claim of each group succeeds exactly when the report, the Group object and assignctl list
 * call it assignable; a refused claim changes nothing; a host bridge never leaves the host. The
 * policy lets root take anything and accepts unsafe interrupts, so only the groups' blockers
 * decide (the interrupt gate has its own tests). */
START_TEST(test_assignable_agrees_with_claim) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *host = xasprintf("hosts/%s.host", sample_hosts[_i]);
        _cleanup_free_ char *file = NULL, *list = NULL;
        json_object *groups;
        size_t n_claimed = 0, n_refused = 0;

        case_begin_data(host);
        file = path_join(C.policy, "zz-agree.json"); /* after default.json */
        write_file(file, "{ \"version\": 1, \"host\": { \"require_interrupt_remapping\": false, "
                         "\"allow_unsafe_interrupts\": true } }\n");
        polkit_allow_all();
        daemon_start();
        bus = bus_connect();
        report = bus_report(bus);
        ck_assert_int_eq(ASSIGNCTL(&list, NULL, (char *) "list"), 0);

        groups = jget(report, "groups");
        for (size_t i = 0; i < jlen(groups); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_free_ char *before = snapshot(), *after = NULL, *drivers_before = NULL;
                _cleanup_free_ char *drivers_after = NULL, *lease = NULL;
                json_object *g = jidx(groups, i), *members = jget(g, "devices");
                uint32_t id = (uint32_t) json_object_get_int64(jget(g, "id"));
                bool assignable = json_object_get_boolean(jget(g, "assignable"));
                int r;

                ck_assert_msg(assignable == (jlen(jget(g, "blockers")) == 0),
                              "group %" PRIu32 ": assignable disagrees with its blockers", id);
                ck_assert_msg(group_assignable_on_bus(bus, id) == assignable,
                              "group %" PRIu32 ": the Group object disagrees with the report", id);
                ck_assert_msg(group_assignable_in_list(list, id) == assignable,
                              "group %" PRIu32 ": assignctl list disagrees with the report", id);

                r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ClaimGroup", &e,
                                       &reply, "ua{sv}", id, 0);
                if (!assignable) {
                        ck_assert_msg(r < 0,
                                      "%s: group %" PRIu32 " is not assignable and was claimed",
                                      host, id);
                        ck_assert_msg(sd_bus_error_has_name(&e, ERROR_PREFIX "NotAssignable") ||
                                              sd_bus_error_has_name(&e,
                                                                    ERROR_PREFIX "HostCritical") ||
                                              sd_bus_error_has_name(&e, ERROR_PREFIX "RmrrLocked"),
                                      "%s: group %" PRIu32 ": %s: %s", host, id, e.name, e.message);
                        after = snapshot();
                        ck_assert_str_eq(after, before);
                        n_refused++;
                        continue;
                }
                ck_assert_msg(r >= 0,
                              "%s: group %" PRIu32 " is assignable and the claim failed: %s: %s",
                              host, id, strna(e.name), strna(e.message));
                for (size_t j = 0; j < jlen(members); j++) {
                        const char *bdf = json_object_get_string(jidx(members, j));
                        json_object *dev = NULL, *devices = jget(report, "devices");

                        for (size_t k = 0; k < jlen(devices) && !dev; k++)
                                if (streq(jstr_or_null(jidx(devices, k), "address"), bdf))
                                        dev = jidx(devices, k);
                        ck_assert_ptr_nonnull(dev);
                        if (json_object_get_boolean(jget(dev, "host_bridge")))
                                ck_assert_msg(!driver_is(bdf, DRIVER_VFIO_PCI),
                                              "the host bridge %s went to vfio-pci", bdf);
                }
                lease = reply_path(TAKE_PTR(reply));
                release(bus, lease);
                after = snapshot();
                drivers_before = drivers_of(before);
                drivers_after = drivers_of(after);
                ck_assert_str_eq(drivers_after, drivers_before);
                n_claimed++;
        }
        /* Each host is there to show something: no-iommu has no groups at all. */
        if (!streq(sample_hosts[_i], "no-iommu"))
                ck_assert_msg(n_claimed > 0 && n_refused > 0, "%s: %zu claimed, %zu refused", host,
                              n_claimed, n_refused);
        daemon_stop();
        case_end();
}
END_TEST

/* ---- one instance at a time, and none without the bus ---- */

/* A second daemon on the same bus and directories finds the name taken before it reads the
 * state: it neither rewrites state.json nor applies a persistent prepare it finds. */
START_TEST(test_second_instance_changes_nothing) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *before = NULL, *after = NULL, *log = NULL, *text = NULL;
        _cleanup_free_ char *persistent = NULL, *state_before = NULL, *state_after = NULL;
        _cleanup_json_ json_object *row = NULL;
        pid_t second;
        int status;

        case_start(Q35_HOST);
        bus = bus_connect();
        lease = claim_group(bus, Q35_GROUP);
        /* A prepare the first daemon has not seen, which a start would apply. */
        persistent = path_join(C.state, PERSISTENT_FILE);
        write_file(persistent, "{ \"version\": 1, \"devices\": [ { \"address\": \"" SOLO1 "\", "
                               "\"vendor\": \"0x8086\", \"device\": \"0x10d3\" } ] }\n");
        before = snapshot();
        state_before = file_or_empty(C.run, STATE_FILE);

        log = path_join(C.dir, "second.log");
        second = daemon_spawn(log, NULL);
        status = wait_exit(second, WAIT_MS);
        text = read_file_or_abort(log);
        ck_assert_msg(exit_code_of(status) == 1, "the second daemon exited %d:\n%s",
                      exit_code_of(status), text);
        assert_contains(text, "Another vfio-assignd already owns " BUS_NAME);

        after = snapshot();
        ck_assert_str_eq(after, before);
        state_after = file_or_empty(C.run, STATE_FILE);
        ck_assert_str_eq(state_after, state_before);
        assert_on_host(SOLO1, SOLO_DRIVER);
        ck_assert_int_eq(name_owner_pid(bus), C.pid);
        row = lease_row(lease);
        ck_assert_str_eq(row_str(row, ROW_STATE), "active");
        case_end();
}
END_TEST

/* A daemon that loses the bus exits non-zero (its service restarts it), saying why. */
START_TEST(test_bus_loss_exits_nonzero) {
        _cleanup_free_ char *socket = NULL, *address = NULL, *log = NULL, *text = NULL;
        int bus_stdout, status;
        pid_t bus, daemon;

        case_begin_data(Q35_HOST);
        socket = path_join(C.dir, "own-bus");
        bus = bus_start(socket, &address, &bus_stdout);
        log = path_join(C.dir, "daemon-own-bus.log");
        daemon = daemon_spawn(log, address);
        /* Ready when it logs its lease setup: the name is taken before that. */
        for (int64_t deadline = now_usec() + WAIT_MS * 1000LL;;) {
                free(text);
                text = read_file_or_abort(log);
                if (strstr(text, "IOMMU groups; interrupt remapping"))
                        break;
                ck_assert_msg(now_usec() < deadline, "the daemon did not start:\n%s", text);
                ck_assert_msg(waitpid(daemon, &status, WNOHANG) == 0, "the daemon exited:\n%s",
                              text);
                sleep_ms(10);
        }
        bus_stop(bus, bus_stdout);
        status = wait_exit(daemon, WAIT_MS);
        free(text);
        text = read_file_or_abort(log);
        ck_assert_msg(exit_code_of(status) != 0 && exit_code_of(status) < 128,
                      "after the bus went the daemon exited %d:\n%s", exit_code_of(status), text);
        assert_contains(text, "Lost the connection to the system bus");
        case_end();
}
END_TEST

/* ---- a large host: bounded replies, memory given back, a bus that drops the daemon ---- */

/* GetManagedObjects' budget per PCI device, every object of the host included
 * (org.vfioassign1(5), LARGE HOSTS), and the size of the host that tests it. */
#define OBJECTS_BYTES_PER_DEVICE 640
#define LARGE_HOST_DEVICES 3000
/* How far the daemon's RSS may stay above where it started once the replies are gone. Without
 * the trim a 3,000-device host keeps about 6 MiB more. */
#define RSS_SLACK_KIB 2048

/* The case's host becomes a bench/mkbighost tree of about n devices; returns how many. */
static unsigned large_host(unsigned n) {
        _cleanup_free_ char *arg = xasprintf("--devices=%u", n), *out = NULL, *err = NULL;
        const char *mkbighost = getenv("MKBIGHOST");
        unsigned devices = 0;

        ck_assert_msg(mkbighost, "MKBIGHOST is not set (tests/tests.mk)");
        free(C.host);
        C.host = case_path("big");
        H.hostdir = C.host;
        ck_assert_msg(run(&out, &err, (char *) mkbighost, arg, C.host) == 0, "mkbighost: %s", err);
        ck_assert_msg(sscanf(out, "devices=%u", &devices) == 1, "mkbighost said: %s", out);
        return devices;
}

/* A bus of our test config whose messages may be at most max bytes: the daemon's calls are
 * answered through it from now on (DBUS_SYSTEM_BUS_ADDRESS). */
static pid_t limited_bus(size_t max, int *ret_stdout) {
        _cleanup_free_ char *conf = case_path("limited-bus.conf"), *socket = case_path("own-bus"),
                            *address = NULL,
                            *text = xasprintf(
                                    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus "
                                    "Configuration 1.0//EN\"\n"
                                    " \"http://www.freedesktop.org/standards/dbus/1.0/"
                                    "busconfig.dtd\">\n"
                                    "<busconfig>\n  <include>%s</include>\n"
                                    "  <limit name=\"max_message_size\">%zu</limit>\n"
                                    "</busconfig>\n",
                                    H.bus_conf, max);
        const char *saved = H.bus_conf;
        pid_t pid;

        write_file(conf, text);
        H.bus_conf = conf;
        pid = bus_start(socket, &address, ret_stdout);
        H.bus_conf = saved;
        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1), 0);
        return pid;
}

static sd_bus_message *call_big(sd_bus *bus, const char *path, const char *iface,
                                const char *member, const char *types, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_message *reply = NULL;
        int r;

        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, iface, member), 0);
        if (types)
                ck_assert_int_ge(sd_bus_message_append(m, types, arg), 0);
        r = sd_bus_call(bus, m, 60 * 1000 * 1000, &error, &reply);
        if (r < 0)
                dump_log();
        ck_assert_msg(r >= 0, "%s on %s: %s", member, path, error.message ?: strerror(-r));
        return reply;
}

/* GetManagedObjects of a large host fits a bus whose messages may be at most the budget per
 * device: dbus-daemon drops the connection of a daemon that sends more, and the call would fail.
 * Each object is there, a device with the properties that place it and no explicit one. */
START_TEST(test_large_host_objects_within_budget) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **props = NULL;
        _cleanup_free_ char *names = NULL;
        unsigned devices, n_devices = 0, n_groups = 0;
        const char *path;
        int bus_stdout;
        pid_t bus_pid;

        case_begin_data(Q35_HOST);
        devices = large_host(LARGE_HOST_DEVICES);
        ck_assert_uint_ge(devices, LARGE_HOST_DEVICES * 9 / 10);
        bus_pid = limited_bus((size_t) OBJECTS_BYTES_PER_DEVICE * devices, &bus_stdout);
        daemon_start();
        ck_assert_int_ge(sd_bus_open_system(&bus), 0);

        reply = call_big(bus, OBJ_ROOT, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                         NULL, NULL);
        ck_assert_int_gt(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}"), 0);
        while (sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}") > 0) {
                const char *iface;
                bool device;

                ck_assert_int_ge(sd_bus_message_read(reply, "o", &path), 0);
                device = startswith(path, OBJ_DEVICE_PREFIX "/");
                n_devices += device;
                n_groups += startswith(path, OBJ_GROUP_PREFIX "/");
                ck_assert_int_gt(sd_bus_message_enter_container(reply, 'a', "{sa{sv}}"), 0);
                while (sd_bus_message_enter_container(reply, 'e', "sa{sv}") > 0) {
                        ck_assert_int_ge(sd_bus_message_read(reply, "s", &iface), 0);
                        ck_assert_int_gt(sd_bus_message_enter_container(reply, 'a', "{sv}"), 0);
                        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                                const char *name;

                                ck_assert_int_ge(sd_bus_message_read(reply, "s", &name), 0);
                                if (device && n_devices == 1 && streq(iface, IFACE_DEVICE))
                                        ck_assert_int_ge(strv_extend(&props, name), 0);
                                ck_assert_int_ge(sd_bus_message_skip(reply, "v"), 0);
                                ck_assert_int_ge(sd_bus_message_exit_container(reply), 0);
                        }
                        ck_assert_int_ge(sd_bus_message_exit_container(reply), 0);
                        ck_assert_int_ge(sd_bus_message_exit_container(reply), 0);
                }
                ck_assert_int_ge(sd_bus_message_exit_container(reply), 0);
                ck_assert_int_ge(sd_bus_message_exit_container(reply), 0);
        }
        ck_assert_uint_eq(n_devices, devices);
        ck_assert_uint_ge(n_groups, devices / 2);
        strv_sort(props);
        for (char **p = props; p && *p; p++)
                ck_assert_int_ge(strextendf(&names, ",", "%s", *p), 0);
        ck_assert_str_eq(names, "Address,Class,Device,Driver,Group,Vendor");
        /* Still on the bus: the reply did not cost the daemon its connection. */
        ck_assert_int_eq(name_owner_pid(bus), C.pid);
        daemon_stop();
        bus_stop(bus_pid, bus_stdout);
        case_end();
}
END_TEST

static long rss_kib(pid_t pid) {
        _cleanup_free_ char *path = xasprintf("/proc/%d/status", (int) pid), *text = NULL;
        const char *line;
        long kib = -1;

        text = read_file_or_abort(path);
        line = strstr(text, "\nVmRSS:");
        ck_assert_ptr_nonnull(line);
        ck_assert_int_eq(sscanf(line, "\nVmRSS: %ld kB", &kib), 1);
        return kib;
}

/* The daemon's RSS is back within RSS_SLACK_KIB of start: once the last reply has been written
 * out, soon after it came. */
static void assert_rss_back(long start, const char *member, const char *path) {
#if defined(__SANITIZE_ADDRESS__)
        /* ASan's allocator is not glibc's: malloc_trim() has nothing to give back there. */
        (void) start, (void) member, (void) path;
#else
        long now;

        for (int64_t deadline = now_usec() + WAIT_MS * 1000LL;;) {
                now = rss_kib(C.pid);
                if (now <= start + RSS_SLACK_KIB || now_usec() >= deadline)
                        break;
                sleep_ms(10);
        }
        ck_assert_msg(now <= start + RSS_SLACK_KIB,
                      "after %s on %s the daemon's RSS is %ld KiB, it started at %ld KiB", member,
                      path, now, start);
#endif
}

/* On a large host assignctl list shows every device, and after every read call that builds a
 * large reply the daemon's memory goes back to where it started. */
START_TEST(test_large_host_reads_give_memory_back) {
        static const struct {
                const char *path, *iface, *member;
        } reads[] = {
                { OBJ_ROOT, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects" },
                { OBJ_ROOT, IFACE_MANAGER, "GetHostReport" },
                { OBJ_ROOT, IFACE_MANAGER, "ListDevices" },
                { OBJ_ROOT, IFACE_MANAGER, "ListGroups" },
                { OBJ_ROOT, "org.freedesktop.DBus.Introspectable", "Introspect" },
                { OBJ_DEVICE_PREFIX, "org.freedesktop.DBus.Introspectable", "Introspect" },
                { OBJ_GROUP_PREFIX, "org.freedesktop.DBus.Introspectable", "Introspect" },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *out = NULL, *err = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *pci = NULL;
        struct dirent *de;
        unsigned devices, listed = 0;
        long start;

        case_begin_data(Q35_HOST);
        devices = large_host(LARGE_HOST_DEVICES);
        daemon_start();
        ck_assert_int_ge(sd_bus_open_system(&bus), 0);
        start = rss_kib(C.pid);

        ck_assert_msg(run(&out, &err, (char *) H.assignctl, (char *) "list") == 0,
                      "assignctl list: %s", err);
        pci = path_join(C.host, "sys/bus/pci/devices");
        d = opendir(pci);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        listed += !!strstr(out, de->d_name);
        ck_assert_uint_eq(listed, devices);
        assert_rss_back(start, "GetHostReport", "assignctl list");

        /* After each call: glibc alone gives some of it back, at times, not all of it. */
        for (unsigned round = 0; round < 2; round++)
                for (size_t i = 0; i < ELEMENTSOF(reads); i++) {
                        sd_bus_message_unref(call_big(bus, reads[i].path, reads[i].iface,
                                                      reads[i].member, NULL, NULL));
                        assert_rss_back(start, reads[i].member, reads[i].path);
                }
        daemon_stop();
        case_end();
}
END_TEST

/* A bus that drops the daemon's connection (here: a reply over its message size limit) is a bus
 * lost: the daemon exits non-zero, saying so, and does not stay up without its name. */
START_TEST(test_dropped_by_bus_exits_nonzero) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *text = NULL;
        int bus_stdout, status, r;
        pid_t bus_pid;

        case_begin_data(Q35_HOST);
        /* Room for the daemon's own calls to the bus, not for the host report (8 KiB here). */
        bus_pid = limited_bus(4096, &bus_stdout);
        daemon_start();
        ck_assert_int_ge(sd_bus_open_system(&bus), 0);
        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "GetHostReport", &error,
                               NULL, NULL);
        ck_assert_msg(r < 0, "the host report fit 4 KiB");
        status = wait_exit(C.pid, WAIT_MS);
        C.pid = 0;
        text = read_file_or_abort(C.log);
        ck_assert_msg(exit_code_of(status) != 0 && exit_code_of(status) < 128,
                      "after the bus dropped it the daemon exited %d:\n%s", exit_code_of(status),
                      text);
        assert_contains(text, "Lost the connection to the system bus");
        bus_stop(bus_pid, bus_stdout);
        case_end();
}
END_TEST

/* ---- a holder's death gives the group back within a second ---- */

/* A process that holds fd (and nothing else of ours) until it is killed, like a VMM; named
 * comm (its /proc/PID/comm) unless NULL. */
static pid_t hold_fd(int fd, const char *comm) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* fd only: an inherited bus socket would keep the holder's connection open. */
                if (prctl_die_with_parent() < 0 || dup2(fd, 3) < 0 || close_range(4, ~0U, 0) < 0 ||
                    (comm && prctl(PR_SET_NAME, comm) < 0))
                        _exit(1);
                for (;;)
                        pause();
        }
        ck_assert_int_eq(close(fd), 0);
        return pid;
}

/* The holder's connection goes while its VMM still has the group open: the release waits
 * (stuck) without writing to sysfs, and the group is back within a second of the VMM's death,
 * not at the next periodic check. */
START_TEST(test_group_back_when_vmm_dies) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        char *bdfs[] = { (char *) SOLO5, NULL };
        pid_t vmm;
        int64_t took;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_device(bus, SOLO5);
        vmm = hold_fd(open_fd(bus, path, "OpenGroup", NULL), NULL);
        bus = sd_bus_flush_close_unref(bus);
        ck_assert_msg(wait_state(5, "stuck", WAIT_MS), "the lease did not wait for the VMM");
        assert_on_vfio(SOLO5);

        /* Past the first periodic check, so that only the close can explain a fast release. */
        sleep_ms(2100);
        ck_assert_int_eq(kill(vmm, SIGKILL), 0);
        ck_assert_int_eq(exit_code_of(wait_exit(vmm, WAIT_MS)), 128 + SIGKILL); /* t0 */
        took = wait_group_back(bdfs, SOLO_DRIVER, WAIT_MS);
        printf("VMM gone -> group 5 back on its driver in %.1f ms\n", took / 1000.0);
        ck_assert_msg(took < HOLDER_EXIT_BOUND_MS * 1000,
                      "the group came back %.1f ms after the VMM died", took / 1000.0);
        case_end();
}
END_TEST

/* Lease.Holders as "pid comm,pid comm" ("" when none; NULL when the lease is gone). */
static char *holders_of(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char *text = strdup("");
        const char *comm;
        uint32_t pid;
        int r;

        ck_assert_ptr_nonnull(text);
        r = sd_bus_get_property(bus, BUS_NAME, path, IFACE_LEASE, "Holders", &error, &reply,
                                "a(us)");
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT)) {
                free(text);
                return NULL;
        }
        ck_assert_msg(r >= 0, "Holders of %s: %s", path, error.message ?: strerror(-r));
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(us)"), 0);
        while ((r = sd_bus_message_read(reply, "(us)", &pid, &comm)) > 0)
                ck_assert_int_ge(strextendf(&text, ",", "%" PRIu32 " %s", pid, comm), 0);
        ck_assert_int_ge(r, 0);
        return text;
}

/* Until Holders reads want (bounded); false when it did not. */
static bool wait_holders(sd_bus *bus, const char *path, const char *want) {
        int64_t deadline = now_usec() + (int64_t) WAIT_MS * 1000;

        for (;;) {
                _cleanup_free_ char *now = holders_of(bus, path);

                if (now && streq(now, want))
                        return true;
                if (now_usec() > deadline) {
                        fprintf(stderr, "Holders of %s: \"%s\", want \"%s\"\n", path, strna(now),
                                want);
                        return false;
                }
                sleep_ms(5);
        }
}

/* The release waits for the processes that have the group open: the lease's Holders names each
 * (pid and command) from the start of the wait, in assignctl leases too; one that lets go while
 * another still holds the group leaves the list at a re-check; with the last the lease goes. */
START_TEST(test_holders_named_while_release_waits) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *reader = NULL;
        _cleanup_free_ char *path = NULL, *both = NULL, *one = NULL, *out = NULL, *held = NULL;
        _cleanup_json_ json_object *doc = NULL;
        char *bdfs[] = { (char *) SOLO5, NULL };
        json_object *holders;
        pid_t vmm, helper;
        int fd;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_device(bus, SOLO5);
        fd = open_fd(bus, path, "OpenGroup", NULL);
        /* One open file of the group, in two processes (a VMM and what it forked). */
        helper = hold_fd(fcntl(fd, F_DUPFD_CLOEXEC, 3), "vfio-helper");
        vmm = hold_fd(fd, "qemu-system-x86");
        reader = bus_connect();
        held = holders_of(reader, path);
        ck_assert_str_eq(held, ""); /* active: nobody is waited for */
        bus = sd_bus_flush_close_unref(bus);
        ck_assert_msg(wait_state(5, "stuck", WAIT_MS), "the lease did not wait for the VMM");
        both = helper < vmm ? xasprintf("%d vfio-helper,%d qemu-system-x86", helper, vmm)
                            : xasprintf("%d qemu-system-x86,%d vfio-helper", vmm, helper);
        ck_assert_msg(wait_holders(reader, path, both), "the waiting lease did not name them");
        assert_on_vfio(SOLO5);

        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "leases"), 0);
        one = xasprintf("%d (qemu-system-x86)", vmm);
        assert_contains(out, "held by ");
        assert_contains(out, one);
        free(out);
        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "--json=short", (char *) "leases"), 0);
        doc = parse_json(out, "assignctl --json leases");
        holders = jget(jidx(jget(doc, "leases"), 0), "holders");
        ck_assert_uint_eq(jlen(holders), 2);
        for (size_t i = 0; i < 2; i++) {
                json_object *h = jidx(holders, i);
                pid_t pid = (pid_t) json_object_get_int64(jget(h, "pid"));

                ck_assert_msg(pid == vmm || pid == helper, "holder %d is neither", pid);
                ck_assert_str_eq(jstr_or_null(h, "command"),
                                 pid == vmm ? "qemu-system-x86" : "vfio-helper");
        }

        /* The helper lets go while the VMM holds on: the file stays open, so no close event;
         * a periodic re-check drops it. */
        ck_assert_int_eq(kill(helper, SIGKILL), 0);
        ck_assert_int_eq(exit_code_of(wait_exit(helper, WAIT_MS)), 128 + SIGKILL);
        free(one);
        one = xasprintf("%d qemu-system-x86", vmm);
        ck_assert_msg(wait_holders(reader, path, one), "a holder that let go is still named");
        assert_on_vfio(SOLO5);

        ck_assert_int_eq(kill(vmm, SIGKILL), 0);
        ck_assert_int_eq(exit_code_of(wait_exit(vmm, WAIT_MS)), 128 + SIGKILL);
        (void) wait_group_back(bdfs, SOLO_DRIVER, WAIT_MS);
        /* Released: the lease, and with it the list, is gone. */
        free(held);
        held = holders_of(reader, path);
        ck_assert_ptr_null(held);
        case_end();
}
END_TEST

/* The VMM is the holder and has the fds: its death ends both at once. */
START_TEST(test_group_back_when_holder_dies) {
        _cleanup_free_ char *path = NULL;
        char *bdfs[] = { (char *) SOLO5, NULL };
        int ready[2];
        pid_t holder;
        int64_t took;
        char c;

        case_start(Q35_HOST);
        ck_assert_int_eq(pipe(ready), 0);
        holder = fork();
        ck_assert_int_ge(holder, 0);
        if (holder == 0) {
                sd_bus *bus;

                if (prctl_die_with_parent() < 0)
                        _exit(1);
                bus = bus_connect();
                path = claim_device(bus, SOLO5);
                (void) open_fd(bus, path, "OpenContainer", NULL);
                (void) open_fd(bus, path, "OpenGroup", NULL);
                (void) open_fd(bus, path, "OpenDevice", SOLO5);
                if (write(ready[1], "r", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(ready[1]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        assert_on_vfio(SOLO5);

        ck_assert_int_eq(kill(holder, SIGKILL), 0);
        ck_assert_int_eq(exit_code_of(wait_exit(holder, WAIT_MS)), 128 + SIGKILL); /* t0 */
        took = wait_group_back(bdfs, SOLO_DRIVER, WAIT_MS);
        printf("holder gone -> group 5 back on its driver in %.1f ms\n", took / 1000.0);
        ck_assert_msg(took < HOLDER_EXIT_BOUND_MS * 1000,
                      "the group came back %.1f ms after the holder died", took / 1000.0);
        case_end();
}
END_TEST

/* The kernel queues the close event before the group can be opened again (__fput() notifies,
 * then calls vfio_group_fops_release()): a group still busy when the daemon reads the event comes
 * back once its release has run, not at the next periodic check 2 s later. The model's group lock
 * stands in (mock-vfio.c: a group fd holds an OFD write lock on byte 0 of .vfio-mock/group-N): an
 * open and close of that file for writing is the event, and the holder dropping its lock without
 * a close, 50 ms later, is the release. */
START_TEST(test_group_back_when_release_follows_close) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *lock = NULL;
        struct flock unlock = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
        char *bdfs[] = { (char *) SOLO5, NULL };
        int group_fd, fd;
        int64_t took;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_device(bus, SOLO5);
        group_fd = open_fd(bus, path, "OpenGroup", NULL);
        bus = sd_bus_flush_close_unref(bus);
        ck_assert_msg(wait_state(5, "stuck", WAIT_MS),
                      "the lease did not wait for the group's holder");
        /* The state file is saved before the watch is set up, in the same dispatch; a call
         * answered after it is answered after the watch. */
        ck_assert_uint_eq(n_leases(), 1);

        lock = case_path("host/.vfio-mock/group-5");
        fd = open(lock, O_WRONLY | O_CLOEXEC);
        ck_assert_msg(fd >= 0, "open %s: %s", lock, strerror(errno));
        ck_assert_int_eq(close(fd), 0); /* the close event */
        sleep_ms(50);
        assert_on_vfio(SOLO5);
        ck_assert_msg(wait_state(5, "stuck", 0), "the lease was given up while the group was open");

        ck_assert_int_eq(fcntl(group_fd, F_OFD_SETLK, &unlock), 0); /* t0: the release has run */
        took = wait_group_back(bdfs, SOLO_DRIVER, WAIT_MS);
        printf("release 50 ms after the close event -> group 5 back on its driver in %.1f ms\n",
               took / 1000.0);
        ck_assert_msg(took < HOLDER_EXIT_BOUND_MS * 1000,
                      "the group came back %.1f ms after its release", took / 1000.0);
        ck_assert_int_eq(close(group_fd), 0);
        case_end();
}
END_TEST

/* ---- the policy at start ---- */

static char *policy_error(void) {
        _cleanup_json_ json_object *p = get_property(OBJ_ROOT, IFACE_MANAGER, "PolicyError");
        char *s = strdup(strempty(json_object_get_string(jget(p, "data"))));

        ck_assert_ptr_nonnull(s);
        return s;
}

/* A policy file that cannot be read at start is not replaced by the built-in default (which lets
 * root take anything the file may forbid): claims and prepares are refused, naming the file,
 * until a reload succeeds. */
START_TEST(test_bad_policy_at_start) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *file = NULL, *why = NULL, *msg = NULL, *before = NULL, *after = NULL;
        _cleanup_free_ char *lease = NULL, *text = NULL;
        _cleanup_json_ json_object *policy = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *json;

        case_begin_data(Q35_HOST);
        file = path_join(C.policy, "50-lab.json");
        write_file(file, "{ \"version\": 1, \"rules\": [ { \"match\": { \"vendor\": \"0x8086\" }, "
                         "\"action\": \"deny\" } ], }\n");
        polkit_allow_all();
        daemon_start();
        bus = bus_connect();

        why = policy_error();
        assert_contains(why, "50-lab.json");
        before = snapshot();
        msg = manager_error(bus, ERROR_PREFIX "PolicyInvalid", "ClaimGroup", "ua{sv}", Q35_GROUP,
                            0);
        assert_contains(msg, "No policy is in force");
        assert_contains(msg, "50-lab.json");
        free(msg);
        msg = manager_error(bus, ERROR_PREFIX "PolicyInvalid", "Prepare", "sa{sv}", SOLO1, 0);
        free(msg);
        msg = manager_error(bus, ERROR_PREFIX "PolicyInvalid", "ExplainPolicy", "sa{sv}", SOLO1, 0);
        after = snapshot();
        ck_assert_str_eq(after, before);
        reply = call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "GetPolicy", "");
        ck_assert_int_ge(sd_bus_message_read(reply, "s", &json), 0);
        policy = parse_json(json, "GetPolicy");
        ck_assert(!json_object_get_boolean(jget(policy, "in_force")));
        ck_assert_uint_gt(jlen(jget(policy, "errors")), 0);
        ck_assert(log_contains("No policy is in force"));
        ck_assert_int_eq(ASSIGNCTL(&text, NULL, (char *) "policy", (char *) "status"), 1);
        assert_contains(text, "no policy is in force");

        /* Fixed and reloaded: the file decides again. */
        write_file(file, "{ \"version\": 1, \"rules\": [ { \"match\": { \"vendor\": \"0x8086\" }, "
                         "\"action\": \"allow\" } ] }\n");
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        free(why);
        why = policy_error();
        ck_assert_str_eq(why, "");
        lease = claim_group(bus, Q35_GROUP);
        release(bus, lease);
        case_end();
}
END_TEST

/* A --policy-dir or --pci-ids that is not there is said in the log. */
START_TEST(test_missing_inputs_warned) {
        _cleanup_free_ char *log = NULL, *text = NULL;
        pid_t pid;

        case_begin_data(Q35_HOST);
        log = path_join(C.dir, "missing.log");
        pid = spawn_logged((char *const[]) { (char *) H.vfio_assignd, (char *) "--sysfs-root",
                                             C.host, (char *) "--policy-dir",
                                             (char *) "/nonexistent/policy.d", (char *) "--pci-ids",
                                             (char *) "/nonexistent/pci.ids",
                                             (char *) "--runtime-dir", C.run,
                                             (char *) "--state-dir", C.state,
                                             (char *) "--cdi-spec=", NULL },
                           NULL, log, true);
        wait_for_name(BUS_NAME, &pid, log);
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        ck_assert_int_eq(exit_code_of(wait_exit(pid, WAIT_MS)), 0);
        text = read_file_or_abort(log);
        assert_contains(text, "--policy-dir /nonexistent/policy.d: No such file or directory");
        assert_contains(text, "--pci-ids /nonexistent/pci.ids: No such file or directory");
        case_end();
}
END_TEST

/* ---- one act, one polkit action ---- */

static void polkit_allow(const char *action) {
        polkit_call((char *const[]) { (char *) "SetAllowed", (char *) "as", (char *) "1",
                                      (char *) action, NULL });
}

/* Giving a prepared group back is one act whether it is called Unprepare or Lease.Release: both
 * need org.vfioassign1.prepare, neither org.vfioassign1.manage. */
START_TEST(test_release_of_prepare_needs_prepare) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *msg = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();

        lease = prepare(bus, SOLO1, false);
        polkit_allow(ACTION_MANAGE);
        msg = call_error(bus, ERROR_ACCESS_DENIED, lease, IFACE_LEASE, "Release", "a{sv}", 0);
        free(msg);
        msg = manager_error(bus, ERROR_ACCESS_DENIED, "Unprepare", "sa{sv}", SOLO1, 0);
        assert_on_vfio(SOLO1);
        polkit_allow(ACTION_PREPARE);
        release(bus, lease);
        assert_on_host(SOLO1, SOLO_DRIVER);

        free(lease);
        lease = prepare(bus, SOLO1, false);
        unprepare(bus, SOLO1);
        assert_on_host(SOLO1, SOLO_DRIVER);
        case_end();
}
END_TEST

/* GrantAccess to a uid that no user has is refused by name, and the node stays root's. */
START_TEST(test_grant_access_needs_a_user) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *msg = NULL, *node = NULL, *state = NULL;
        uint32_t uid = 2000000000u;
        struct stat st;

        ck_assert_ptr_null(getpwuid(uid));
        case_start(Q35_HOST);
        bus = bus_connect();
        lease = claim_device(bus, SOLO1);
        msg = call_error(bus, ERROR_PREFIX "NoSuchUser", lease, IFACE_LEASE, "GrantAccess",
                         "ua{sv}", uid, 0);
        assert_contains(msg, "uid 2000000000 has no user entry");
        node = xasprintf("%s/dev/vfio/1", C.dev);
        ck_assert_int_eq(stat(node, &st), 0);
        ck_assert_uint_eq(st.st_uid, 0);
        state = file_or_empty(C.run, STATE_FILE);
        ck_assert(!strstr(state, "granted_uid"));
        release(bus, lease);
        case_end();
}
END_TEST

/* ---- allow_unsafe_interrupts: set for the leases that need it, cleared after the last ---- */

#define Q35_NO_IR_HOST "hosts/qemu-q35-vtd-intremap-off.host"
#define PARAM_UNSAFE "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"

static char *unsafe_param(void) {
        _cleanup_free_ char *p = path_join(C.host, PARAM_UNSAFE);
        char *v = read_file_or_abort(p);

        v[strcspn(v, "\n")] = 0;
        return v;
}

#define assert_unsafe(want)                                                                 \
        do {                                                                                \
                _cleanup_free_ char *_v = unsafe_param();                                   \
                ck_assert_msg(streq(_v, (want)) || streq(_v, (want)[0] == 'Y' ? "1" : "0"), \
                              "allow_unsafe_interrupts is %s, expected %s", _v, (want));    \
        } while (0)

/* A host without interrupt remapping whose policy accepts unsafe interrupts; the parameter reads
 * initial. */
static void unsafe_case(const char *initial) {
        _cleanup_free_ char *file = NULL, *param = NULL, *dir = NULL;

        case_begin_data(Q35_NO_IR_HOST);
        file = path_join(C.policy, "zz-lab.json");
        write_file(file, "{ \"version\": 1, \"host\": { \"allow_unsafe_interrupts\": true } }\n");
        dir = path_join(C.host, "sys/module/vfio_iommu_type1/parameters");
        ck_assert_int_eq(run(NULL, NULL, (char *) "mkdir", (char *) "-p", dir), 0);
        param = path_join(C.host, PARAM_UNSAFE);
        write_file(param, initial);
        set_faults("no-interrupt-remapping\n");
        polkit_allow_all();
        daemon_start();
}

/* The daemon sets the parameter for the first claim that needs it and clears it when the last
 * such lease ends, not before. */
START_TEST(test_unsafe_interrupts_cleared_with_last_lease) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;

        unsafe_case("N\n");
        bus = bus_connect();
        a = claim_device(bus, SOLO1);
        assert_unsafe("Y");
        b = claim_device(bus, SOLO5);
        release(bus, a);
        assert_unsafe("Y");
        release(bus, b);
        assert_unsafe("N");
        ck_assert(log_contains("allow_unsafe_interrupts cleared"));
        case_end();
}
END_TEST

/* A claim that fails after the daemon set the parameter for it leaves it as it was: group 6's
 * bridge on a driver that does not let the group go to user space (not pcieport) makes the
 * kernel call the group not viable, after its NICs went to vfio-pci and before the lease. */
START_TEST(test_unsafe_interrupts_cleared_after_failed_claim) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL, *drv = NULL, *dev = NULL, *link = NULL, *real = NULL;

        unsafe_case("N\n");
        daemon_stop();
        drv = path_join(C.host, "sys/bus/pci/drivers/shpchp");
        ck_assert_int_eq(run(NULL, NULL, (char *) "mkdir", (char *) "-p", drv), 0);
        dev = path_join(C.host, "sys/bus/pci/devices/" Q35_BRIDGE);
        real = realpath(dev, NULL);
        ck_assert_ptr_nonnull(real);
        link = path_join(real, "driver");
        ck_assert_int_eq(symlink(drv, link), 0);
        daemon_start();
        bus = bus_connect();
        msg = manager_error(bus, ERROR_PREFIX "GroupNotViable", "ClaimGroup", "ua{sv}", Q35_GROUP,
                            0);
        assert_contains(msg, Q35_BRIDGE " is on shpchp");
        assert_on_host(NIC1, NIC_DRIVER);
        assert_unsafe("N");
        case_end();
}
END_TEST

/* A lease that needed it ended while the daemon was down: the next start clears it. */
START_TEST(test_unsafe_interrupts_cleared_at_start) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *a = NULL;

        unsafe_case("N\n");
        bus = bus_connect();
        a = claim_device(bus, SOLO1);
        assert_unsafe("Y");
        daemon_kill();
        bus = sd_bus_flush_close_unref(bus); /* the holder goes while nobody watches */
        daemon_start();
        assert_on_host(SOLO1, SOLO_DRIVER);
        assert_unsafe("N");
        case_end();
}
END_TEST

/* Set by the administrator: the daemon did not set it and leaves it alone. */
START_TEST(test_unsafe_interrupts_set_by_admin_stay) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *a = NULL;

        unsafe_case("Y\n");
        bus = bus_connect();
        a = claim_device(bus, SOLO1);
        release(bus, a);
        assert_unsafe("Y");
        case_end();
}
END_TEST

/* ---- messages a user can act on ---- */

START_TEST(test_prepare_hands_out_no_fds) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *msg = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        lease = prepare(bus, SOLO1, false);
        msg = call_error(bus, ERROR_PREFIX "NotClaimed", lease, IFACE_LEASE, "OpenDevice", "s",
                         SOLO1);
        assert_contains(msg, "a prepare hands out no file descriptors");
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "NotClaimed", lease, IFACE_LEASE, "OpenContainer", "");
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "NotClaimed", lease, IFACE_LEASE, "OpenGroup", "");
        release(bus, lease);
        case_end();
}
END_TEST

START_TEST(test_release_logged_with_caller) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *lease = NULL, *who = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        lease = claim_device(bus, SOLO1);
        release(bus, lease);
        who = xasprintf("released by uid 0 (root), pid %d, %s", (int) getpid(), unique_name(bus));
        ck_assert_msg(log_contains(who), "the log does not say \"%s\"", who);
        free(lease);
        lease = prepare(bus, SOLO1, false);
        unprepare(bus, SOLO1);
        free(who);
        who = xasprintf("IOMMU group 1 unprepared by uid 0 (root), pid %d, %s", (int) getpid(),
                        unique_name(bus));
        ck_assert_msg(log_contains(who), "the log does not say \"%s\"", who);
        case_end();
}
END_TEST

/* sysfs may hold any bytes; what the daemon quotes of them reaches the bus as UTF-8. */
START_TEST(test_report_with_garbage_in_sysfs) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *attr = NULL, *text = NULL;

        case_begin_data(Q35_HOST);
        attr = xasprintf("%s/sys/bus/pci/devices/" SOLO1 "/numa_node", C.host);
        write_file(attr, "\xff\xfe\xc3(0\n");
        polkit_allow_all();
        daemon_start();
        bus = bus_connect();
        report = bus_report(bus);
        text = strdup(json_object_to_json_string(report));
        ck_assert_ptr_nonnull(text);
        assert_contains(text, SOLO1 ": numa_node: invalid value");
        case_end();
}
END_TEST

START_TEST(test_roots_named) {
        _cleanup_free_ char *err = NULL, *err2 = NULL;

        case_begin_data(Q35_HOST);
        ck_assert_int_eq(run(NULL, &err, (char *) H.vfio_assignd, (char *) "--report",
                             (char *) "--sysfs-root", (char *) "/nonexistent",
                             (char *) "--dev-root", (char *) "/"),
                         1);
        assert_contains(err, "Cannot open the sysfs root /nonexistent: No such file or directory");
        ck_assert_int_eq(run(NULL, &err2, (char *) H.vfio_assignd, (char *) "--report",
                             (char *) "--sysfs-root", C.host, (char *) "--dev-root",
                             (char *) "/nonexistent"),
                         1);
        assert_contains(err2, "Cannot open the dev root /nonexistent: No such file or directory");
        case_end();
}
END_TEST

static void daemon_setup(void) {
        world_setup("daemon");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the daemon tests"))
                return 77;

        s = suite_create("daemon");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, daemon_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_sample_hosts_listed);
        tcase_add_loop_test(tc, test_assignable_agrees_with_claim, 0, ELEMENTSOF(sample_hosts));
        tcase_add_test(tc, test_second_instance_changes_nothing);
        tcase_add_test(tc, test_bus_loss_exits_nonzero);
        tcase_add_test(tc, test_group_back_when_vmm_dies);
        tcase_add_test(tc, test_group_back_when_holder_dies);
        tcase_add_test(tc, test_group_back_when_release_follows_close);
        tcase_add_test(tc, test_holders_named_while_release_waits);
        tcase_add_test(tc, test_bad_policy_at_start);
        tcase_add_test(tc, test_missing_inputs_warned);
        tcase_add_test(tc, test_release_of_prepare_needs_prepare);
        tcase_add_test(tc, test_grant_access_needs_a_user);
        tcase_add_test(tc, test_unsafe_interrupts_cleared_with_last_lease);
        tcase_add_test(tc, test_unsafe_interrupts_cleared_at_start);
        tcase_add_test(tc, test_unsafe_interrupts_cleared_after_failed_claim);
        tcase_add_test(tc, test_unsafe_interrupts_set_by_admin_stay);
        tcase_add_test(tc, test_prepare_hands_out_no_fds);
        tcase_add_test(tc, test_release_logged_with_caller);
        tcase_add_test(tc, test_roots_named);
        tcase_add_test(tc, test_report_with_garbage_in_sysfs);
        suite_add_tcase(s, tc);

        /* Bounded replies and memory on a bench/mkbighost host, a bus that drops the daemon. */
        tc = tcase_create("large-host");
        tcase_add_unchecked_fixture(tc, daemon_setup, harness_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_dropped_by_bus_exits_nonzero);
        tcase_add_test(tc, test_large_host_objects_within_budget);
        tcase_add_test(tc, test_large_host_reads_give_memory_back);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
