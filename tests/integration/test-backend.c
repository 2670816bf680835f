/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VFIO backend seam through the daemon, on the kernel model (tests/mock) and a private bus
 * with python-dbusmock's polkitd, like test-claim.c: the backends a host supports
 * (Manager.Backends), a lease's backend (Lease.Backend, state.json, assignctl), the fds a claim
 * hands out are its backend's, and state.json's "backend" at start: absent is type1, a name this
 * daemon does not know refuses the start and changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "../mock/mock-observe.h"
#include "names.h"
#include "util.h"

#define NO_IOMMU_HOST "hosts/no-iommu.host"

/* Manager.Backends as "a,b" ("" for none). */
static char *manager_backends(void) {
        _cleanup_json_ json_object *reply = get_property(OBJ_ROOT, IFACE_MANAGER, "Backends");
        json_object *data = jget(reply, "data");
        char *text = NULL;

        ck_assert_str_eq(jstr_or_null(reply, "type"), "as");
        for (size_t i = 0; i < jlen(data); i++)
                ck_assert_int_ge(strextendf(&text, ",", "%s",
                                            json_object_get_string(jidx(data, i))),
                                 0);
        return text ?: strdup("");
}

/* What /proc/self/fd/N says fd is. */
static char *fd_target(int fd) {
        _cleanup_free_ char *link = xasprintf("/proc/self/fd/%d", fd);
        char buf[PATH_MAX];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);

        ck_assert_msg(n > 0, "readlink %s: %s", link, strerror(errno));
        buf[n] = 0;
        return strdup(buf);
}

static bool same_file(int a, int b) {
        struct stat sa, sb;

        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
               sa.st_ino == sb.st_ino;
}

/* Rewrites the one lease's "backend" in state.json (NULL: removes it), mode and owner kept. */
static void set_state_backend(const char *backend) {
        _cleanup_json_ json_object *state = state_json();
        _cleanup_free_ char *p = path_join(C.run, STATE_FILE);
        json_object *lease = state_only_lease(state);

        json_object_object_del(lease, "backend");
        if (backend)
                ck_assert_int_eq(json_object_object_add(lease, "backend",
                                                        json_object_new_string(backend)),
                                 0);
        write_file(p, json_object_to_json_string_ext(state, JSON_C_TO_STRING_PRETTY));
}

/* ---- the backends a host supports ---- */

static const struct {
        const char *host;
        const char *backends;
} hosts[] = {
        { Q35_HOST, "type1" },
        /* It loads the iommufd module (its "module" line): the kernel has /dev/iommu. */
        { SERVER_HOST, "type1,iommufd" },
        /* /dev/vfio/vfio and the vfio module, but no IOMMU: nothing type1 could attach. */
        { NO_IOMMU_HOST, "" },
};

START_TEST(test_backends_of_host) {
        _cleanup_free_ char *got = NULL;

        case_start(hosts[_i].host);
        got = manager_backends();
        ck_assert_msg(streq(got, hosts[_i].backends), "%s: Backends [%s], expected [%s]",
                      hosts[_i].host, got, hosts[_i].backends);
        case_end();
}
END_TEST

/* ---- a lease's backend and its fds ---- */

START_TEST(test_claim_fds_come_from_backend) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL;
        _cleanup_free_ char *path = NULL, *backend = NULL, *container_target = NULL,
                            *group_target = NULL;
        _cleanup_free_ char *device_target = NULL, *group_file = NULL, *msg = NULL;
        int container, container2, group, group2, device;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        backend = lease_backend(path);
        ck_assert_str_eq(backend, "type1");
        state = state_json();
        ck_assert_str_eq(jstr_or_null(state_only_lease(state), "backend"), "type1");

        /* The container is the model's (a memfd stands for /dev/vfio/vfio), the group and device
         * fds are fds of the model's group file. */
        container = open_fd(bus, path, "OpenContainer", NULL);
        group = open_fd(bus, path, "OpenGroup", NULL);
        device = open_fd(bus, path, "OpenDevice", NIC1);
        container_target = fd_target(container);
        group_target = fd_target(group);
        device_target = fd_target(device);
        group_file = xasprintf("%s/.vfio-mock/group-%d", C.host, Q35_GROUP);
        ck_assert_msg(startswith(container_target, "/memfd:vfio-mock-container"),
                      "the container is %s", container_target);
        ck_assert_str_eq(group_target, group_file);
        ck_assert_str_eq(device_target, group_file);
        /* The backend's own: the same container and group each time, a new device fd. */
        container2 = open_fd(bus, path, "OpenContainer", NULL);
        group2 = open_fd(bus, path, "OpenGroup", NULL);
        ck_assert(same_file(container, container2));
        ck_assert(same_file(group, group2));
        ck_assert_int_eq(close(container), 0);
        ck_assert_int_eq(close(container2), 0);
        ck_assert_int_eq(close(group), 0);
        ck_assert_int_eq(close(group2), 0);
        ck_assert_int_eq(close(device), 0);

        /* GrantAccess hands the backend's node over and closes its fds: none to hand out, and the
         * error names the node. */
        sd_bus_message_unref(call_ok(bus, path, IFACE_LEASE, "GrantAccess", "ua{sv}", 0u, 0));
        msg = call_error(bus, ERROR_PREFIX "NotActive", path, IFACE_LEASE, "OpenGroup", "");
        assert_contains(msg, "/dev/vfio/6 was handed over with GrantAccess");
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "NotActive", path, IFACE_LEASE, "OpenContainer", "");
        assert_contains(msg, "/dev/vfio/6 was handed over with GrantAccess");
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "NotActive", path, IFACE_LEASE, "OpenDevice", "s", NIC1);
        assert_contains(msg, "/dev/vfio/6 was handed over with GrantAccess");

        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* The claim option "backend": an unknown name and a backend this kernel lacks are refused at
 * once, naming the name or what the kernel misses, and change nothing; "auto" takes type1 where
 * there is no iommufd, and such a lease has no iommufd or cdevs to hand out. */
START_TEST(test_backend_option) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL, *path = NULL, *backend = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        msg = manager_error(bus, ERROR_PREFIX "InvalidArgument", "ClaimGroup", "ua{sv}", Q35_GROUP,
                            1, "backend", "s", "spapr");
        assert_contains(msg, "Unknown VFIO backend \"spapr\" (known: type1, iommufd, auto)");
        free(msg);
        msg = manager_error(bus, ERROR_PREFIX "BackendUnavailable", "ClaimDevice", "sa{sv}", NIC1,
                            1, "backend", "s", "iommufd");
        assert_contains(msg, "no iommufd backend: /dev/iommu is missing (CONFIG_IOMMUFD)");
        free(msg);
        msg = manager_error(bus, ERROR_PREFIX "InvalidArgument", "ClaimGroup", "ua{sv}", Q35_GROUP,
                            1, "backend", "u", 1);
        assert_contains(msg, "Option \"backend\" has the wrong type");
        free(msg);
        /* A prepare has no backend: the VMM opens the nodes itself. */
        msg = manager_error(bus, ERROR_PREFIX "InvalidArgument", "Prepare", "sa{sv}", NIC1, 1,
                            "backend", "s", "type1");
        assert_contains(msg, "Unknown option \"backend\"");
        free(msg);
        assert_on_host(NIC1, NIC_DRIVER);
        assert_on_host(NIC2, NIC_DRIVER);
        assert_state_empty();

        path = claim_q35_with_backend(bus, "auto");
        backend = lease_backend(path);
        ck_assert_str_eq(backend, "type1");
        msg = call_error(bus, ERROR_PREFIX "InvalidArgument", path, IFACE_LEASE, "OpenIommufd", "");
        assert_contains(msg, "uses the type1 backend, which has no iommufd to hand out");
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "InvalidArgument", path, IFACE_LEASE, "OpenCdev", "s",
                         NIC1);
        assert_contains(msg, "uses the type1 backend, which has no VFIO device cdevs");
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* An iommufd claim of a two-NIC group on the kernel model: one iommufd, a cdev of each NIC
 * opened afresh for each call, none of type1's fds; the release gives both back. A cdev that
 * cannot be opened rolls the claim back, naming the device. */
START_TEST(test_iommufd_claim) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *state = NULL;
        _cleanup_free_ char *path = NULL, *backend = NULL, *backends = NULL, *msg = NULL;
        _cleanup_free_ char *ctx = NULL, *cdev1 = NULL, *cdev2 = NULL;
        int fd, fd2, c1, c2;

        case_start_iommufd();
        backends = manager_backends();
        ck_assert_str_eq(backends, "type1,iommufd");
        bus = bus_connect();

        set_faults(NIC2 " cdev-open-fails\n");
        msg = manager_error(bus, ERROR_PREFIX "VfioFailed", "ClaimGroup", "ua{sv}", Q35_GROUP, 1,
                            "backend", "s", "iommufd");
        assert_contains(msg, NIC2);
        assert_q35_group_back();
        set_faults("");

        path = claim_q35_with_backend(bus, "iommufd");
        backend = lease_backend(path);
        ck_assert_str_eq(backend, "iommufd");
        state = state_json();
        ck_assert_str_eq(jstr_or_null(state_only_lease(state), "backend"), "iommufd");
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);

        fd = open_fd(bus, path, "OpenIommufd", NULL);
        fd2 = open_fd(bus, path, "OpenIommufd", NULL);
        ck_assert(same_file(fd, fd2));
        ctx = fd_target(fd);
        ck_assert_msg(strstr(ctx, "/.vfio-mock/iommufd/"), "the iommufd is %s", ctx);
        c1 = open_fd(bus, path, "OpenCdev", NIC1);
        c2 = open_fd(bus, path, "OpenCdev", NIC1);
        ck_assert(!same_file(c1, c2)); /* a new file each time */
        cdev1 = fd_target(c1);
        cdev2 = fd_target(c2);
        ck_assert_msg(strstr(cdev1, "/.vfio-mock/cdev/" NIC1 "/"), "the cdev is %s", cdev1);
        ck_assert_msg(strstr(cdev2, "/.vfio-mock/cdev/" NIC1 "/"), "the cdev is %s", cdev2);
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "InvalidArgument", path, IFACE_LEASE, "OpenContainer",
                         "");
        assert_contains(msg, "uses the iommufd backend, which has no container to hand out");
        free(msg);
        msg = call_error(bus, ERROR_PREFIX "NoSuchDevice", path, IFACE_LEASE, "OpenCdev", "s",
                         SOLO5);
        assert_contains(msg, SOLO5);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(close(fd2), 0);
        ck_assert_int_eq(close(c1), 0);
        ck_assert_int_eq(close(c2), 0);

        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- a rule that pins a backend ---- */

/* 60-pin.json: the q35 NICs' group for everyone, with that backend; reloaded. Its path. */
static char *pin_group_backend(sd_bus *bus, const char *users, const char *backend) {
        char *path = path_join(C.policy, "60-pin.json");
        _cleanup_free_ char *text = xasprintf(
                "{\"version\": 1, \"rules\": [{\"description\": \"the q35 NICs\", "
                "\"match\": {\"group\": %d}, \"action\": \"allow\", %s\"backend\": \"%s\"}]}\n",
                Q35_GROUP, users ?: "", backend);

        write_file(path, text);
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        return path;
}

/* The rule that allows the claim pins its backend: a claim without the option, or with "auto",
 * gets the pinned one; a claim that names another is refused with PolicyDenied naming the rule
 * and both backends, and nothing moves. assignctl policy explain shows the pin. */
START_TEST(test_policy_pins_backend) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *rule = NULL, *msg = NULL, *want = NULL, *path = NULL, *out = NULL;
        _cleanup_free_ char *backend = NULL;
        _cleanup_json_ json_object *state = NULL;

        case_start_iommufd();
        bus = bus_connect();
        rule = pin_group_backend(bus, NULL, "iommufd");

        msg = manager_error(bus, ERROR_PREFIX "PolicyDenied", "ClaimGroup", "ua{sv}", Q35_GROUP, 1,
                            "backend", "s", "type1");
        want = xasprintf("IOMMU group 6 for uid 0 (root): the claim asks for the type1 backend, "
                         "but rule %s#0 pins the iommufd backend for " NIC1,
                         rule);
        assert_contains(msg, want);
        assert_q35_group_back();
        assert_state_empty();
        ck_assert(log_contains("Refused claim of IOMMU group 6 for uid 0"));

        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "policy", (char *) "explain",
                                   (char *) NIC1),
                         0);
        free(want);
        want = xasprintf("Backend: iommufd, pinned by %s rule 0 (for " NIC1 "): a claim that asks "
                         "for another is refused.",
                         rule);
        assert_contains(out, want);
        assert_contains(out, "which pins the iommufd backend");

        path = claim_device(bus, NIC1);
        backend = lease_backend(path);
        ck_assert_str_eq(backend, "iommufd");
        state = state_json();
        ck_assert_str_eq(jstr_or_null(state_only_lease(state), "backend"), "iommufd");
        release(bus, path);
        assert_q35_group_back();

        /* A type1 pin on a kernel with iommufd: "auto" gets type1, "iommufd" is refused. */
        free(rule);
        rule = pin_group_backend(bus, NULL, "type1");
        free(msg);
        msg = manager_error(bus, ERROR_PREFIX "PolicyDenied", "ClaimDevice", "sa{sv}", NIC2, 1,
                            "backend", "s", "iommufd");
        assert_contains(msg, "the claim asks for the iommufd backend, but rule");
        assert_contains(msg, "#0 pins the type1 backend for " NIC1);
        assert_q35_group_back();
        free(path);
        path = claim_q35_with_backend(bus, "auto");
        free(backend);
        backend = lease_backend(path);
        ck_assert_str_eq(backend, "type1");
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* A pin on a backend this kernel lacks is BackendUnavailable, as the option would be, and says
 * which rule pins it. */
START_TEST(test_policy_pin_unavailable) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *rule = NULL, *msg = NULL, *want = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        rule = pin_group_backend(bus, NULL, "iommufd");
        msg = manager_error(bus, ERROR_PREFIX "BackendUnavailable", "ClaimDevice", "sa{sv}", NIC1,
                            0);
        want = xasprintf("This kernel offers no iommufd backend: /dev/iommu is missing "
                         "(CONFIG_IOMMUFD); rule %s#0 pins it for " NIC1,
                         rule);
        assert_contains(msg, want);
        assert_q35_group_back();
        assert_state_empty();
        case_end();
}
END_TEST

/* GrantAccess gives what a claim of the grantee's own would: not a type1 lease's node to a user
 * whose rule pins iommufd. */
START_TEST(test_grant_access_checks_pin) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *rule = NULL, *msg = NULL, *want = NULL, *path = NULL, *state = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        rule = pin_group_backend(bus, "\"users\": [\"nobody\"], ", "iommufd");
        path = claim_group(bus, Q35_GROUP);
        msg = call_error(bus, ERROR_PREFIX "PolicyDenied", path, IFACE_LEASE, "GrantAccess",
                         "ua{sv}", NOBODY_UID, 0);
        want = xasprintf("IOMMU group 6 for uid 65534 (nobody): the lease uses the type1 backend, "
                         "but rule %s#0 pins the iommufd backend for " NIC1,
                         rule);
        assert_contains(msg, want);
        ck_assert_uint_eq(node_owner(Q35_GROUP), 0);
        state = file_or_empty(C.run, STATE_FILE);
        ck_assert(!strstr(state, "granted_uid"));
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* The claim option "memlock": the caller's RLIMIT_MEMLOCK is raised to it before the group moves
 * (never lowered), within the policy's host.max_pinned_bytes_per_uid; past that it is refused,
 * naming the key, and nothing changes. */
START_TEST(test_memlock_option) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL, *policy = NULL, *path = NULL;
        struct rlimit before, after;
        sd_bus_message *reply;
        const char *p;
        uint64_t want;

        case_start(Q35_HOST);
        /* Raising a hard limit needs CAP_SYS_RESOURCE, which a test machine may not give even
         * root: the soft limit goes down to 1 MiB here and is raised up to the hard limit. */
        ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &before), 0);
        want = before.rlim_max == RLIM_INFINITY ? 4 << 20 : before.rlim_max;
        ck_assert_uint_gt(want, 1 << 20);
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK,
                                   &(struct rlimit) { .rlim_cur = 1 << 20,
                                                      .rlim_max = before.rlim_max }),
                         0);
        policy = path_join(C.policy, "60-pinned.json");
        write_file(policy, "{\"version\": 1, \"host\": {\"max_pinned_bytes_per_uid\": \"1M\"}}\n");
        bus = bus_connect();
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));
        msg = manager_error(bus, ERROR_PREFIX "PolicyDenied", "ClaimGroup", "ua{sv}", Q35_GROUP, 1,
                            "memlock", "t", (uint64_t) 2 << 20);
        assert_contains(msg, "host.max_pinned_bytes_per_uid: 1048576 bytes");
        assert_q35_group_back();
        ck_assert_int_eq(unlink(policy), 0);
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReloadPolicy", "a{sv}", 0));

        reply = call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimGroup", "ua{sv}", Q35_GROUP, 1,
                        "memlock", "t", want);
        ck_assert_int_ge(sd_bus_message_read(reply, "o", &p), 0);
        path = strdup(p);
        sd_bus_message_unref(reply);
        ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &after), 0);
        ck_assert_uint_eq(after.rlim_cur, want);
        ck_assert_uint_eq(after.rlim_max, before.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : want);
        release(bus, path);
        assert_q35_group_back();
        /* Given back to what it was, for the tests after this one in the same process. */
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &before), 0);
        case_end();
}
END_TEST

/* assignctl claim --backend iommufd --exec: the command gets the iommufd, a cdev per NIC and the
 * QEMU arguments; when it fails, assignctl names the RLIMIT_MEMLOCK it ran with (QEMU's own
 * error is only "-12"), and says nothing of it when the command succeeds. */
START_TEST(test_assignctl_iommufd_exec) {
        _cleanup_free_ char *out = NULL, *err = NULL, *err2 = NULL;
        struct rlimit before;

        case_start_iommufd();
        ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &before), 0);
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK,
                                   &(struct rlimit) { .rlim_cur = 8 << 20,
                                                      .rlim_max = before.rlim_max }),
                         0);
        ck_assert_int_eq(ASSIGNCTL(&out, &err, (char *) "claim", (char *) "6", (char *) "--backend",
                                   (char *) "iommufd", (char *) "--exec", (char *) "sh",
                                   (char *) "-c",
                                   (char *) "echo \"${VFIO_CONTAINER_FD-no container} "
                                            "${VFIO_IOMMUFD_FD:+iommufd} $VFIO_CDEV_FDS\"; "
                                            "echo \"$VFIO_QEMU_ARGS\""),
                         0);
        assert_contains(out, "no container iommufd " NIC1 "=");
        assert_contains(out, "," NIC2 "=");
        assert_contains(out, "-object iommufd,id=vfio-iommufd,fd=");
        assert_contains(out, "-device vfio-pci,iommufd=vfio-iommufd,fd=");
        ck_assert_ptr_null(strstr(err, "RLIMIT_MEMLOCK"));
        assert_q35_group_back();

        ck_assert_int_eq(ASSIGNCTL(NULL, &err2, (char *) "claim", (char *) "6",
                                   (char *) "--backend", (char *) "iommufd", (char *) "--exec",
                                   (char *) "sh", (char *) "-c", (char *) "exit 3"),
                         3);
        assert_contains(err2, "the command ran with RLIMIT_MEMLOCK 8388608 bytes (8 MiB)");
        assert_contains(err2, "--memlock=SIZE raises it");
        assert_q35_group_back();
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &before), 0);
        case_end();
}
END_TEST

/* Not run by systemd, a claim that survives a restart keeps its backend but not its fds, and says
 * so. */
START_TEST(test_restart_without_fd_store) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *backend = NULL, *msg = NULL;
        static const char *const members[] = { "OpenContainer", "OpenGroup", "OpenDevice" };

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        daemon_kill();
        daemon_start();
        backend = lease_backend(path);
        ck_assert_str_eq(backend, "type1");
        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                msg = streq(members[i], "OpenDevice")
                              ? call_error(bus, ERROR_PREFIX "NotActive", path, IFACE_LEASE,
                                           members[i], "s", NIC1)
                              : call_error(bus, ERROR_PREFIX "NotActive", path, IFACE_LEASE,
                                           members[i], "");
                assert_contains(
                        msg,
                        "has no file descriptors any more: they did not survive a restart of the "
                        "daemon (systemd's fd store keeps them when systemd runs it)");
                msg = mfree(msg);
        }
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* assignctl leases shows it, in text and in JSON. */
START_TEST(test_assignctl_shows_backend) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *out = NULL, *json = NULL, *line = NULL;
        _cleanup_json_ json_object *doc = NULL;
        json_object *leases;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "leases"), 0);
        assert_contains(out, "ID GROUP KIND  BACKEND STATE  HOLDER");
        line = xasprintf(" 1     6 claim type1   active %s ", unique_name(bus));
        assert_contains(out, line);
        ck_assert_int_eq(ASSIGNCTL(&json, NULL, (char *) "--json", (char *) "leases"), 0);
        doc = parse_json(json, "assignctl --json leases");
        leases = jget(doc, "leases");
        ck_assert_uint_eq(jlen(leases), 1);
        ck_assert_str_eq(jstr_or_null(jidx(leases, 0), "backend"), "type1");
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- kill -9 in the iommufd backend's open (the states a claim records, for both backends:
 * test-claim.c) ---- */

/* The lease in state.json is in that state, with the iommufd backend. */
static void assert_state_is(const char *state) {
        _cleanup_json_ json_object *s = state_json();
        json_object *lease = state_only_lease(s);

        ck_assert_str_eq(jstr_or_null(lease, "state"), state);
        ck_assert_str_eq(jstr_or_null(lease, "backend"), "iommufd");
}

/* SIGKILL while the daemon opens the backend: both NICs on vfio-pci, the iommufd open, NIC2's cdev
 * open hanging, state.json "binding". The kernel closes the daemon's iommufd; the restarted daemon
 * gives the group back. */
START_TEST(test_iommufd_crash_in_backend_open) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(pending_clear) PendingCall claim = {};

        case_start_iommufd();
        set_faults(NIC2 " cdev-open-hang 60\n");
        bus = bus_connect();
        ck_assert_int_ge(sd_bus_call_method_async(bus, &slot, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                                  "ClaimGroup", on_pending_reply, &claim, "ua{sv}",
                                                  Q35_GROUP, 1, "backend", "s", "iommufd"),
                         0);
        ck_assert_int_ge(sd_bus_flush(bus), 0);
        wait_hanging(NIC2);
        ck_assert(wait_state(Q35_GROUP, "binding", 0));
        ck_assert(mock_iommufd_context_exists(C.host));

        daemon_kill();
        pending_wait(bus, &claim);
        ck_assert_msg(claim.error_name, "the claim succeeded after all: %s", strna(claim.path));
        assert_state_is("binding");
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);

        set_faults("");
        daemon_start();
        assert_q35_group_back();
        ck_assert(log_contains("was binding: giving it back"));
        assert_state_empty();
        case_end();
}
END_TEST

/* ---- state.json's "backend" at start ---- */

/* A file written before there were backends has none: its leases are type1, and are written
 * back with it. */
START_TEST(test_state_without_backend_is_type1) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *row = NULL, *state = NULL;
        _cleanup_free_ char *path = NULL, *backend = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        daemon_kill();
        set_state_backend(NULL);
        daemon_start();
        row = lease_row(path);
        ck_assert_msg(row, "the claim did not survive the restart");
        ck_assert_str_eq(row_str(row, ROW_STATE), "active");
        backend = lease_backend(path);
        ck_assert_str_eq(backend, "type1");
        state = state_json();
        ck_assert_str_eq(jstr_or_null(state_only_lease(state), "backend"), "type1");
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* A backend this daemon does not know (a newer one wrote the file): the start is refused, naming
 * the file and the value, and nothing changes: the group stays on vfio-pci, the file as it was.
 * With the file fixed, the lease is there again. */
START_TEST(test_state_unknown_backend_refused) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *row = NULL;
        _cleanup_free_ char *path = NULL, *corrupt = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_group(bus, Q35_GROUP);
        daemon_kill();
        set_state_backend("spapr");
        daemon_start_refused(
                "state: state.json: leases[0].backend: unknown VFIO backend \"spapr\" (this "
                "vfio-assignd knows type1, iommufd)");
        corrupt = path_join(C.run, STATE_FILE ".corrupt");
        ck_assert(!path_exists(corrupt));
        assert_on_vfio(NIC1);
        assert_on_vfio(NIC2);

        set_state_backend("type1");
        daemon_start();
        row = lease_row(path);
        ck_assert_msg(row, "the claim did not survive the refused start");
        ck_assert_str_eq(row_str(row, ROW_STATE), "active");
        release(bus, path);
        assert_q35_group_back();
        case_end();
}
END_TEST

static void backend_setup(void) {
        world_setup("backend");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the backend tests"))
                return 77;

        s = suite_create("backend");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, backend_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_backends_of_host, 0, ELEMENTSOF(hosts));
        tcase_add_test(tc, test_claim_fds_come_from_backend);
        tcase_add_test(tc, test_backend_option);
        tcase_add_test(tc, test_iommufd_claim);
        tcase_add_test(tc, test_iommufd_crash_in_backend_open);
        tcase_add_test(tc, test_policy_pins_backend);
        tcase_add_test(tc, test_policy_pin_unavailable);
        tcase_add_test(tc, test_grant_access_checks_pin);
        tcase_add_test(tc, test_memlock_option);
        tcase_add_test(tc, test_restart_without_fd_store);
        tcase_add_test(tc, test_assignctl_shows_backend);
        tcase_add_test(tc, test_assignctl_iommufd_exec);
        tcase_add_test(tc, test_state_without_backend_is_type1);
        tcase_add_test(tc, test_state_unknown_backend_refused);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
