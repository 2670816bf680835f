/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CDI spec through the daemon, on the kernel model (tests/mock) and a private bus with
 * python-dbusmock's polkitd, like test-claim.c: the file (the world's --cdi-spec) appears when a
 * group is prepared, naming the group and its members and the nodes a container needs, goes when
 * the group does, and is set right at start whatever a crash left; a claim without an owner is
 * not in it, a claim with an owner is (type1 and iommufd nodes); Lease.CdiDevices and assignctl
 * say what it lists; a failed write fails no call and is made again at the next change. The file
 * is checked against what SPEC.md and the spec's JSON schema require
 * (github.com/cncf-tags/container-device-interface). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <systemd/sd-bus.h>

#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define KIND "vfio-assignd.org/group"
/* The daemon's default (daemon/cdi.h): a test daemon never writes it. */
#define CDI_SPEC_HOST "/run/cdi/vfio-assignd.json"

/* ---- the spec's rules (SPEC.md, schema/schema.json and defs.json), checked here on their own ---- */

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A device name: letters, digits, '-', '_', '.', beginning and ending with a letter or digit. */
static bool cdi_name_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && !strchr("-_.", s[i]))
                        return false;
        return true;
}

/* The keys one object may have: the loaders refuse unknown fields. */
static void assert_keys(json_object *o, const char *const *known, const char *what) {
        ck_assert_msg(json_object_is_type(o, json_type_object), "%s is no object", what);
        json_object_object_foreach(o, key, value) {
                bool found = false;

                (void) value;
                for (size_t i = 0; known[i] && !found; i++)
                        found = streq(known[i], key);
                ck_assert_msg(found, "%s has a key the CDI spec does not know: %s", what, key);
        }
}

/* Valid as a 0.5.0 spec: required fields present and typed, names and kind well formed and
 * unique, every device's edits non-empty, device node paths absolute, types and permissions of
 * the allowed letters. */
static void assert_cdi_valid(json_object *spec) {
        static const char *const top[] = { "cdiVersion", "kind", "devices", "containerEdits",
                                           NULL };
        static const char *const device[] = { "name", "containerEdits", NULL };
        static const char *const edits[] = { "env", "deviceNodes", "hooks", "mounts", NULL };
        static const char *const node[] = { "path",     "hostPath", "type", "major",       "minor",
                                            "fileMode", "uid",      "gid",  "permissions", NULL };
        json_object *devices = jget(spec, "devices");

        assert_keys(spec, top, "the spec");
        ck_assert(json_object_is_type(jget(spec, "cdiVersion"), json_type_string));
        ck_assert_str_eq(jstr_or_null(spec, "kind"), KIND);
        ck_assert_msg(json_object_is_type(devices, json_type_array) && jlen(devices) > 0,
                      "a spec lists at least one device");
        for (size_t i = 0; i < jlen(devices); i++) {
                json_object *d = jidx(devices, i), *e = jget(d, "containerEdits"), *nodes;
                const char *name = jstr_or_null(d, "name");

                assert_keys(d, device, "a device");
                ck_assert_msg(name && cdi_name_ok(name), "device name %s", strna(name));
                for (size_t j = 0; j < i; j++)
                        ck_assert_str_ne(jstr_or_null(jidx(devices, j), "name"), name);
                assert_keys(e, edits, "containerEdits");
                nodes = jget(e, "deviceNodes");
                ck_assert_msg(jlen(nodes) > 0, "device %s has empty edits", name);
                for (size_t j = 0; j < jlen(nodes); j++) {
                        json_object *n = jidx(nodes, j);
                        const char *type, *perm;

                        assert_keys(n, node, "a device node");
                        ck_assert_msg(jstr_or_null(n, "path")[0] == '/', "relative node path");
                        type = json_object_object_get_ex(n, "type", NULL) ? jstr_or_null(n, "type")
                                                                          : "";
                        ck_assert_msg(strlen(type) <= 1 && strchr("bcup", type[0]), "type %s",
                                      type);
                        perm = json_object_object_get_ex(n, "permissions", NULL)
                                       ? jstr_or_null(n, "permissions")
                                       : "";
                        ck_assert_msg(strspn(perm, "rwm") == strlen(perm), "permissions %s", perm);
                }
        }
}

/* ---- the world's spec ---- */

static json_object *cdi_spec(void) {
        _cleanup_free_ char *text = NULL;
        json_object *spec;

        ck_assert_msg(path_exists(C.cdi), "no CDI spec at %s", C.cdi);
        text = read_file_or_abort(C.cdi);
        spec = parse_json(text, C.cdi);
        assert_cdi_valid(spec);
        return spec;
}

/* Its device names, "5 0000_01_00.0"; "-" when there is no file. */
static char *cdi_names(void) {
        _cleanup_json_ json_object *spec = NULL;
        json_object *devices;
        char *text = NULL;

        if (!path_exists(C.cdi))
                return strdup("-");
        spec = cdi_spec();
        devices = jget(spec, "devices");
        for (size_t i = 0; i < jlen(devices); i++)
                ck_assert_int_ge(strextendf(&text, " ", "%s",
                                            jstr_or_null(jidx(devices, i), "name")),
                                 0);
        return text;
}

/* The nodes of one device as "PATH" each, space-separated; each node's host path must be the
 * world's node (under its dev root), a character device where the spec says so. */
static char *cdi_nodes(const char *name) {
        _cleanup_json_ json_object *spec = cdi_spec();
        json_object *devices = jget(spec, "devices");
        char *text = NULL;

        for (size_t i = 0; i < jlen(devices); i++) {
                json_object *d = jidx(devices, i), *nodes;

                if (!streq(jstr_or_null(d, "name"), name))
                        continue;
                nodes = jget(jget(d, "containerEdits"), "deviceNodes");
                for (size_t j = 0; j < jlen(nodes); j++) {
                        json_object *n = jidx(nodes, j);
                        const char *path = jstr_or_null(n, "path");
                        _cleanup_free_ char *host = xasprintf("%s%s", C.dev, path);

                        ck_assert_str_eq(jstr_or_null(n, "hostPath"), host);
                        ck_assert_str_eq(jstr_or_null(n, "type"), "c");
                        ck_assert_str_eq(jstr_or_null(n, "permissions"), "rw");
                        ck_assert_int_ge(strextendf(&text, " ", "%s", path), 0);
                }
                return text;
        }
        ck_abort_msg("no CDI device %s", name);
        return NULL;
}

/* Lease.CdiDevices, space-separated ("" when none). */
static char *lease_cdi(const char *path) {
        _cleanup_json_ json_object *names = lease_property(path, "CdiDevices");
        char *text = NULL;

        for (size_t i = 0; i < jlen(names); i++)
                ck_assert_int_ge(strextendf(&text, " ", "%s",
                                            json_object_get_string(jidx(names, i))),
                                 0);
        return text ?: strdup("");
}

#define assert_names(want)                                                                    \
        do {                                                                                  \
                _cleanup_free_ char *_n = cdi_names();                                        \
                ck_assert_msg(streq(_n, (want)), "the CDI spec lists \"%s\", not \"%s\"", _n, \
                              (want));                                                        \
        } while (0)

#define assert_nodes(name, want)                                                            \
        do {                                                                                \
                _cleanup_free_ char *_n = cdi_nodes(name);                                  \
                ck_assert_msg(streq(_n, (want)), "CDI device %s: nodes \"%s\", not \"%s\"", \
                              (name), _n, (want));                                          \
        } while (0)

#define assert_lease_cdi(path, want)                                                              \
        do {                                                                                      \
                _cleanup_free_ char *_n = lease_cdi(path);                                        \
                ck_assert_msg(streq(_n, (want)), "%s: CdiDevices \"%s\", not \"%s\"", (path), _n, \
                              (want));                                                            \
        } while (0)

/* The files in the spec's directory but the spec: a temporary file left behind would be read by
 * no runtime, but it would be litter. */
static void assert_no_leftovers(void) {
        _cleanup_free_ char *dir = path_join(C.dir, "cdi");
        _cleanup_closedir_ DIR *d = opendir(dir);

        for (struct dirent *de; d && (de = readdir(d));)
                ck_assert_msg(streq(de->d_name, ".") || streq(de->d_name, "..") ||
                                      streq(de->d_name, CDI_FILE),
                              "%s left in %s", de->d_name, dir);
}

/* ---- prepares are listed, with their nodes ---- */

/* A prepared single-device group: the group and its device by address, each with the type1
 * nodes; the file is new (its directory too), 0644, and goes with the group. */
START_TEST(test_prepare_listed) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        struct stat st;

        case_start(Q35_HOST);
        ck_assert(!path_exists(C.cdi));
        bus = bus_connect();
        path = prepare(bus, SOLO5, false);
        /* In the file before the call returned. */
        assert_names("5 0000_01_00.0");
        assert_nodes("5", "/dev/vfio/vfio /dev/vfio/5");
        assert_nodes("0000_01_00.0", "/dev/vfio/vfio /dev/vfio/5");
        ck_assert(node_exists(5));
        ck_assert_int_eq(stat(C.cdi, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
        assert_no_leftovers();
        assert_lease_cdi(path, KIND "=5 " KIND "=0000_01_00.0");

        unprepare(bus, SOLO5);
        assert_names("-");
        assert_no_leftovers();
        case_end();
}
END_TEST

/* A group with a bridge: the group and its two NICs by address, the bridge (left on its driver)
 * not; a device appearing in the prepared group later is added once it is on vfio-pci. */
START_TEST(test_group_members) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *want = "6 0000_03_01.0 0000_03_02.0";
        _cleanup_free_ char *path = NULL;

        case_begin_data(Q35_HOST);
        polkit_allow_all();
        host_remove_device(NIC2);
        daemon_start();
        bus = bus_connect();
        path = prepare(bus, NIC1, false);
        assert_names("6 0000_03_01.0");
        assert_nodes("6", "/dev/vfio/vfio /dev/vfio/6");

        host_restore_device(NIC2);
        send_uevent("add", NIC2);
        ck_assert_msg(wait_driver(NIC2, DRIVER_VFIO_PCI, WAIT_MS), "%s did not join", NIC2);
        for (int64_t deadline = now_usec() + WAIT_MS * 1000LL;;) {
                _cleanup_free_ char *names = cdi_names();

                if (streq(names, want))
                        break;
                ck_assert_msg(now_usec() < deadline, "the CDI spec lists \"%s\", not \"%s\"", names,
                              want);
                sleep_ms(5);
        }
        assert_nodes("0000_03_02.0", "/dev/vfio/vfio /dev/vfio/6");
        assert_lease_cdi(path, KIND "=6 " KIND "=0000_03_01.0 " KIND "=0000_03_02.0");
        unprepare(bus, NIC1);
        assert_names("-");
        case_end();
}
END_TEST

/* A claim without an owner holds the group's fds: nobody else could open the group, so it is
 * not listed. Two prepares are, in group order; each goes on its own. */
START_TEST(test_claims_and_two_prepares) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *claim = NULL, *p1 = NULL, *p5 = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        claim = claim_group(bus, Q35_GROUP);
        assert_names("-");
        assert_lease_cdi(claim, "");

        p5 = prepare(bus, SOLO5, false);
        p1 = prepare(bus, SOLO1, false);
        assert_names("1 0000_00_02.0 5 0000_01_00.0");
        assert_nodes("0000_00_02.0", "/dev/vfio/vfio /dev/vfio/1");
        assert_lease_cdi(claim, "");
        assert_lease_cdi(p1, KIND "=1 " KIND "=0000_00_02.0");

        unprepare(bus, SOLO1);
        assert_names("5 0000_01_00.0");
        release(bus, p5); /* Lease.Release of a prepare is an Unprepare */
        assert_names("-");
        release(bus, claim);
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- owners' leases ---- */

#define OWNER "k8s:claim/0f3c"

static void release_by_owner(sd_bus *bus) {
        sd_bus_message_unref(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ReleaseByOwner", "sa{sv}",
                                     OWNER, 0));
}

static char *claim_owned(sd_bus *bus, uint32_t group, const char *backend) {
        return reply_path(call_ok(bus, OBJ_ROOT, IFACE_MANAGER, "ClaimGroup", "ua{sv}", group, 2,
                                  "owner", "s", OWNER, "backend", "s", backend));
}

/* The cdev the kernel model gave a member on vfio-pci (its vfio-dev/vfioN). */
static char *cdev_of(const char *bdf) {
        _cleanup_free_ char *dir = xasprintf("%s/%s/%s/vfio-dev", C.host, SYSFS_PCI_DEVICES, bdf);
        _cleanup_closedir_ DIR *d = opendir(dir);

        ck_assert_msg(d, "%s: %s", dir, strerror(errno));
        for (struct dirent *de; (de = readdir(d));)
                if (startswith(de->d_name, "vfio"))
                        return strdup(de->d_name);
        ck_abort_msg("%s has no cdev", bdf);
        return NULL;
}

/* A claim with an owner keeps no fd of the group: its runtime opens the nodes, so it is listed,
 * and stays listed across a crash and a restart; ReleaseByOwner takes it out. */
START_TEST(test_owner_claim_listed) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = claim_owned(bus, SOLO5_GROUP, "type1");
        assert_names("5 0000_01_00.0");
        assert_nodes("5", "/dev/vfio/vfio /dev/vfio/5");
        assert_lease_cdi(path, KIND "=5 " KIND "=0000_01_00.0");

        daemon_kill();
        ck_assert_int_eq(unlink(C.cdi), 0);
        daemon_start();
        assert_names("5 0000_01_00.0");
        assert_lease_cdi(path, KIND "=5 " KIND "=0000_01_00.0");

        release_by_owner(bus);
        assert_names("-");
        assert_on_host(SOLO5, SOLO_DRIVER);
        case_end();
}
END_TEST

/* An owner's iommufd claim of the q35 NICs' group: /dev/iommu and each NIC's cdev for the group,
 * /dev/iommu and its own cdev for each NIC, nothing for the bridge. */
START_TEST(test_owner_claim_iommufd) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *c1 = NULL, *c2 = NULL, *group = NULL, *one = NULL,
                            *two = NULL;

        case_start_iommufd();
        bus = bus_connect();
        path = claim_owned(bus, Q35_GROUP, "iommufd");
        c1 = cdev_of(NIC1);
        c2 = cdev_of(NIC2);
        group = xasprintf("/dev/iommu /dev/vfio/devices/%s /dev/vfio/devices/%s", c1, c2);
        one = xasprintf("/dev/iommu /dev/vfio/devices/%s", c1);
        two = xasprintf("/dev/iommu /dev/vfio/devices/%s", c2);
        assert_names("6 0000_03_01.0 0000_03_02.0");
        assert_nodes("6", group);
        assert_nodes("0000_03_01.0", one);
        assert_nodes("0000_03_02.0", two);
        assert_lease_cdi(path, KIND "=6 " KIND "=0000_03_01.0 " KIND "=0000_03_02.0");
        release_by_owner(bus);
        assert_names("-");
        assert_q35_group_back();
        case_end();
}
END_TEST

/* ---- a crash anywhere is set right at start ---- */

/* Killed after the prepare: a missing, a corrupt and a stale spec are each written again from
 * state.json at the next start; after the unprepare, a spec that still lists the group (killed
 * between state.json and the spec) goes. */
START_TEST(test_crash_reconciled) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *good = NULL, *now = NULL;

        case_start(Q35_HOST);
        bus = bus_connect();
        path = prepare(bus, SOLO5, false);
        good = read_file_or_abort(C.cdi);

        daemon_kill();
        ck_assert_int_eq(unlink(C.cdi), 0);
        daemon_start();
        now = read_file_or_abort(C.cdi);
        ck_assert_str_eq(now, good);
        assert_lease_cdi(path, KIND "=5 " KIND "=0000_01_00.0");

        daemon_kill();
        write_file(C.cdi, "{\"cdiVersion\": \"0.5.0\", \"kind\": ");
        daemon_start();
        free(now);
        now = read_file_or_abort(C.cdi);
        ck_assert_str_eq(now, good);

        daemon_kill();
        write_file(C.cdi, "{\"cdiVersion\": \"0.5.0\", \"kind\": \"" KIND "\", \"devices\": "
                          "[{\"name\": \"1\", \"containerEdits\": {\"deviceNodes\": "
                          "[{\"path\": \"/dev/vfio/1\"}]}}]}\n");
        daemon_start();
        free(now);
        now = read_file_or_abort(C.cdi);
        ck_assert_str_eq(now, good);

        unprepare(bus, SOLO5);
        assert_names("-");
        daemon_kill();
        write_file(C.cdi, good);
        daemon_start();
        assert_names("-");
        case_end();
}
END_TEST

/* ---- a write that fails ---- */

typedef struct Changed {
        const char *path;
        bool seen;
} Changed;

/* PropertiesChanged of a lease that names CdiDevices. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Changed *c = userdata;
        const char *iface, *key;

        if (!streq(strempty(sd_bus_message_get_path(m)), c->path) ||
            sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, IFACE_LEASE) ||
            sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &key) < 0)
                        return 0;
                c->seen |= streq(key, "CdiDevices");
                if (sd_bus_message_skip(m, "v") < 0 || sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

/* The spec's directory cannot be made (a file has its name): the prepare succeeds all the same,
 * the log names the path and the error, and the lease is listed nowhere. Once the way is free,
 * the next change writes both groups, and the first lease's CdiDevices changes with a signal. */
START_TEST(test_failed_write_retried) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_free_ char *dir = NULL, *p5 = NULL, *p1 = NULL, *msg = NULL, *log = NULL;
        Changed changed = {};

        case_start(Q35_HOST);
        dir = path_join(C.dir, "cdi");
        write_file(dir, "in the way\n");
        bus = bus_connect();
        p5 = prepare(bus, SOLO5, false);
        assert_on_vfio(SOLO5);
        msg = xasprintf("Cannot write the CDI spec %s: Not a directory", C.cdi);
        ck_assert_msg(log_contains(msg), "the log does not say: %s", msg);
        /* Once for the change, not again at the end of its job. */
        log = read_file_or_abort(C.log);
        ck_assert_ptr_null(strstr(strstr(log, msg) + 1, msg));
        assert_lease_cdi(p5, "");

        ck_assert_int_eq(unlink(dir), 0);
        changed.path = p5;
        ck_assert_int_ge(sd_bus_match_signal(bus, &slot, NULL, p5,
                                             "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                             on_properties_changed, &changed),
                         0);
        p1 = prepare(bus, SOLO1, false);
        assert_names("1 0000_00_02.0 5 0000_01_00.0");
        for (int64_t deadline = now_usec() + WAIT_MS * 1000LL; !changed.seen;) {
                ck_assert_msg(now_usec() < deadline, "no PropertiesChanged of CdiDevices");
                ck_assert_int_ge(sd_bus_process(bus, NULL), 0);
                if (!changed.seen)
                        (void) sd_bus_wait(bus, 100 * 1000);
        }
        assert_lease_cdi(p5, KIND "=5 " KIND "=0000_01_00.0");
        case_end();
}
END_TEST

/* ---- options ---- */

/* --cdi-version: the file says the version asked for. */
START_TEST(test_version_option) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *spec = NULL;

        daemon_cdi_version = "1.1.0";
        case_start(Q35_HOST);
        bus = bus_connect();
        free(prepare(bus, SOLO5, false));
        spec = cdi_spec();
        ck_assert_str_eq(jstr_or_null(spec, "cdiVersion"), "1.1.0");
        case_end();
}
END_TEST

/* What the daemon cannot write is refused before it starts, with exit status 2 and a message
 * that says why. */
START_TEST(test_bad_options_refused) {
        static const struct {
                const char *arg, *says;
        } bad[] = {
                { "--cdi-version=0.4.0", "0.5.0 is the first whose device names may start with "
                                         "a digit" },
                { "--cdi-version=2.0.0", "--cdi-version=2.0.0: not a CDI spec version this "
                                         "daemon writes (known: 0.5.0, 0.6.0, 0.7.0, 0.8.0, "
                                         "1.0.0, 1.1.0" },
                { "--cdi-version=", "not a CDI spec version" },
                { "--cdi-spec=cdi/vfio-assignd.json", "not an absolute path" },
                { "--cdi-spec=/run/cdi/vfio-assignd.yaml", "the file name must end in .json" },
                { "--cdi-spec=/run/cdi/", "the file name must end in .json" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *err = NULL;
                int r = run(NULL, &err, (char *) H.vfio_assignd, (char *) bad[i].arg);

                ck_assert_msg(r == 2, "%s: exit %d", bad[i].arg, r);
                assert_contains(err, bad[i].says);
        }
}
END_TEST

/* --cdi-spec="": no spec anywhere. */
START_TEST(test_cdi_off) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *dir = NULL, *path = NULL;
        struct stat before, after;
        bool existed;

        case_begin_data(Q35_HOST);
        dir = path_join(C.dir, "cdi");
        free(C.cdi);
        C.cdi = strdup("");
        existed = stat(CDI_SPEC_HOST, &before) == 0;
        polkit_allow_all();
        daemon_start();
        bus = bus_connect();
        path = prepare(bus, SOLO5, false);
        assert_lease_cdi(path, "");
        ck_assert(!path_exists(dir));
        /* Not the host's either. */
        ck_assert_int_eq(stat(CDI_SPEC_HOST, &after) == 0, existed);
        if (existed)
                ck_assert(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
                          before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
        case_end();
}
END_TEST

/* ---- assignctl ---- */

/* What assignctl shows of a lease names its CDI devices: leases (text and JSON), prepare, and a
 * claim with an owner. */
START_TEST(test_assignctl_shows_cdi) {
        _cleanup_free_ char *out = NULL, *err = NULL, *out2 = NULL, *out3 = NULL, *out4 = NULL;
        _cleanup_json_ json_object *doc = NULL;
        json_object *names;

        case_start(Q35_HOST);
        ck_assert_int_eq(ASSIGNCTL(&out, &err, (char *) "prepare", (char *) SOLO5), 0);
        assert_contains(out, "\nCDI " KIND "=5 " KIND "=0000_01_00.0\n");
        ck_assert_int_eq(ASSIGNCTL(&out2, NULL, (char *) "leases"), 0);
        assert_contains(out2, " CDI " KIND "=5 " KIND "=0000_01_00.0\n");
        ck_assert_int_eq(ASSIGNCTL(&out3, NULL, (char *) "--json", (char *) "leases"), 0);
        doc = parse_json(out3, "assignctl --json leases");
        names = jget(jidx(jget(doc, "leases"), 0), "cdi_devices");
        ck_assert_uint_eq(jlen(names), 2);
        ck_assert_str_eq(json_object_get_string(jidx(names, 0)), KIND "=5");
        ck_assert_str_eq(json_object_get_string(jidx(names, 1)), KIND "=0000_01_00.0");
        ck_assert_int_eq(ASSIGNCTL(&out4, NULL, (char *) "claim", (char *) SOLO1,
                                   (char *) "--owner", (char *) OWNER),
                         0);
        assert_contains(out4, "\nCDI " KIND "=1 " KIND "=0000_00_02.0\n");
        case_end();
}
END_TEST

static void cdi_setup(void) {
        world_setup("cdi");
}

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!world_init("the CDI tests"))
                return 77;

        s = suite_create("cdi");
        tc = tcase_create("kernel-model");
        tcase_add_unchecked_fixture(tc, cdi_setup, harness_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_prepare_listed);
        tcase_add_test(tc, test_group_members);
        tcase_add_test(tc, test_claims_and_two_prepares);
        tcase_add_test(tc, test_owner_claim_listed);
        tcase_add_test(tc, test_owner_claim_iommufd);
        tcase_add_test(tc, test_crash_reconciled);
        tcase_add_test(tc, test_failed_write_retried);
        tcase_add_test(tc, test_version_option);
        tcase_add_test(tc, test_bad_options_refused);
        tcase_add_test(tc, test_cdi_off);
        tcase_add_test(tc, test_assignctl_shows_cdi);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
