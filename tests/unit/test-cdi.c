/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CDI spec writer (daemon/cdi.c) on leases and a model made by hand: which leases it lists,
 * the document it makes for each backend (compared whole for type1, node by node for iommufd),
 * the names, the versions, the paths it accepts, and the file it writes (atomically, its mode,
 * its directories, its removal). The daemon's use of it is tested on the kernel model
 * (tests/integration/test-cdi.c). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cdi.h"
#include "json-util.h"
#include "util.h"

/* ---- a world made by hand ---- */

static char tmp[] = "/tmp/test-cdi.XXXXXX";

static void setup(void) {
        ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
        ck_assert_int_eq(system(cmd), 0);
        strcpy(tmp, "/tmp/test-cdi.XXXXXX");
}

/* A model whose dev root is dev_root ("/" or a directory), with these devices; cdevs[i] is the
 * vfio-dev of addresses[i] (NULL: none). */
static Model *model_with(const char *dev_root, const char *const *addresses,
                         const char *const *cdevs) {
        SysRoot *root = NULL;
        Model *m = NULL;

        ck_assert_int_eq(sysroot_open("/", dev_root, &root), 0);
        ck_assert_int_eq(model_new(root, NULL, &m), 0);
        for (size_t i = 0; addresses && addresses[i]; i++) {
                Device *d = calloc(1, sizeof(*d)), *old = NULL;

                ck_assert_ptr_nonnull(d);
                snprintf(d->address, sizeof(d->address), "%s", addresses[i]);
                ck_assert_int_eq(pci_address_parse(addresses[i], &d->addr), 0);
                d->group = -1;
                d->numa_node = -1;
                if (cdevs && cdevs[i])
                        ck_assert_ptr_nonnull(d->vfio_dev = strdup(cdevs[i]));
                ck_assert_int_eq(topology_put_device(m->topology, d, &old), 0);
                ck_assert_ptr_null(old);
        }
        return m;
}

/* A lease of group on that backend; bridges[i] says whether members[i] is one. */
static Lease *lease_with(const VfioBackendOps *ops, LeaseKind kind, LeaseState state,
                         uint32_t group, uint64_t id, const char *owner, const char *const *members,
                         const bool *bridges) {
        Lease *l = calloc(1, sizeof(*l));

        ck_assert_ptr_nonnull(l);
        *l = (Lease) { .id = id,
                       .kind = kind,
                       .state = state,
                       .group = group,
                       .granted_uid = UINT32_MAX,
                       .close_wd = -1,
                       .holder_pidfd = -1 };
        ck_assert_int_eq(vfio_backend_new(ops, group, &l->backend), 0);
        if (owner)
                ck_assert_ptr_nonnull(l->owner = strdup(owner));
        for (size_t i = 0; members && members[i]; i++)
                l->n_devices++;
        l->devices = calloc(l->n_devices + 1, sizeof(LeaseDevice));
        ck_assert_ptr_nonnull(l->devices);
        for (size_t i = 0; i < l->n_devices; i++) {
                snprintf(l->devices[i].address, sizeof(l->devices[i].address), "%s", members[i]);
                l->devices[i].bridge = bridges && bridges[i];
        }
        return l;
}

/* The device nodes of the device named name in the spec, "PATH[=HOSTPATH]" each. */
static char *nodes_of(json_object *spec, const char *name) {
        json_object *devices = NULL, *d, *edits, *nodes, *v;
        char *text = NULL;

        ck_assert(json_object_object_get_ex(spec, "devices", &devices));
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                d = json_object_array_get_idx(devices, i);
                ck_assert(json_object_object_get_ex(d, "name", &v));
                if (!streq(json_object_get_string(v), name))
                        continue;
                ck_assert(json_object_object_get_ex(d, "containerEdits", &edits));
                ck_assert(json_object_object_get_ex(edits, "deviceNodes", &nodes));
                for (size_t j = 0; j < json_object_array_length(nodes); j++) {
                        json_object *n = json_object_array_get_idx(nodes, j), *path, *host;

                        ck_assert(json_object_object_get_ex(n, "path", &path));
                        if (json_object_object_get_ex(n, "hostPath", &host))
                                ck_assert_int_ge(strextendf(&text, " ", "%s=%s",
                                                            json_object_get_string(path),
                                                            json_object_get_string(host)),
                                                 0);
                        else
                                ck_assert_int_ge(strextendf(&text, " ", "%s",
                                                            json_object_get_string(path)),
                                                 0);
                }
                return text ?: strdup("");
        }
        return NULL;
}

static char *names_of(char *const *names) {
        char *text = NULL;

        for (char *const *n = names; n && *n; n++)
                ck_assert_int_ge(strextendf(&text, " ", "%s", *n), 0);
        return text ?: strdup("");
}

/* ---- which leases ---- */

START_TEST(test_lists_lease) {
        static const struct {
                LeaseKind kind;
                LeaseState state;
                const char *owner;
                bool listed;
        } cases[] = {
                { LEASE_PREPARE, LEASE_ACTIVE, NULL, true },
                { LEASE_PREPARE, LEASE_ACTIVE, "k8s:claim/1", true },
                { LEASE_PREPARE, LEASE_BINDING, NULL, false },
                { LEASE_PREPARE, LEASE_RELEASING, NULL, false },
                { LEASE_PREPARE, LEASE_STUCK, NULL, false },
                { LEASE_CLAIM, LEASE_ACTIVE, NULL, false }, /* its holder has the fds */
                { LEASE_CLAIM, LEASE_ACTIVE, "libvirt:0b1c", true },
                { LEASE_CLAIM, LEASE_BINDING, "libvirt:0b1c", false },
                { LEASE_CLAIM, LEASE_STUCK, "libvirt:0b1c", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(lease_freep) Lease *l = lease_with(NULL, cases[i].kind, cases[i].state, 3,
                                                             1, cases[i].owner, NULL, NULL);

                ck_assert_msg(cdi_lists_lease(l) == cases[i].listed, "case %zu", i);
        }
}
END_TEST

/* ---- the document ---- */

/* The container edits of either device of test_type1_document: the group's nodes. */
#define EDITS_OF_5                                    \
        "      \"containerEdits\": {\n"               \
        "        \"deviceNodes\": [\n"                \
        "          {\n"                               \
        "            \"path\": \"/dev/vfio/vfio\",\n" \
        "            \"type\": \"c\",\n"              \
        "            \"permissions\": \"rw\"\n"       \
        "          },\n"                              \
        "          {\n"                               \
        "            \"path\": \"/dev/vfio/5\",\n"    \
        "            \"type\": \"c\",\n"              \
        "            \"permissions\": \"rw\"\n"       \
        "          }\n"                               \
        "        ]\n"                                 \
        "      }\n"

/* A type1 prepare of a one-device group on the real dev root: the whole file, as the runtimes
 * read it (no hostPath: the container's path is the host's). */
START_TEST(test_type1_document) {
        static const char *const members[] = { "0000:01:00.0", NULL };
        _cleanup_(model_freep) Model *m = model_with("/", members, NULL);
        _cleanup_(lease_freep)
                Lease *l = lease_with(NULL, LEASE_PREPARE, LEASE_ACTIVE, 5, 7, NULL, members, NULL);
        _cleanup_(cdi_spec_freep) CdiSpec *s = NULL;
        _cleanup_free_ char *names = NULL;
        static const char want[] = "{\n"
                                   "  \"cdiVersion\": \"0.5.0\",\n"
                                   "  \"kind\": \"vfio-assignd.org/group\",\n"
                                   "  \"devices\": [\n"
                                   "    {\n"
                                   "      \"name\": \"5\",\n" EDITS_OF_5 "    },\n"
                                   "    {\n"
                                   "      \"name\": \"0000_01_00.0\",\n" EDITS_OF_5 "    }\n"
                                   "  ]\n"
                                   "}\n";

        ck_assert_int_eq(cdi_spec_build("0.5.0", &l, 1, m, &s), 0);
        ck_assert_str_eq(s->text, want);
        ck_assert_uint_eq(s->n_groups, 1);
        names = names_of(cdi_spec_names(s, 7));
        ck_assert_str_eq(names, "vfio-assignd.org/group=5 vfio-assignd.org/group=0000_01_00.0");
        ck_assert_ptr_null(cdi_spec_names(s, 8));
        ck_assert_ptr_null(cdi_spec_names(NULL, 7));
}
END_TEST

/* An owner's iommufd lease of a group with a bridge and two endpoints, on a dev root of its
 * own: the group gets /dev/iommu and both cdevs, each endpoint /dev/iommu and its own, the
 * bridge no name; every host path is under the dev root. */
START_TEST(test_iommufd_document) {
        static const char *const members[] = { "0000:02:00.0", "0000:03:01.0", "0000:03:02.0",
                                               NULL };
        static const char *const cdevs[] = { NULL, "vfio3", "vfio0", NULL };
        static const bool bridges[] = { true, false, false };
        _cleanup_free_ char *group = NULL, *one = NULL, *two = NULL, *names = NULL;
        _cleanup_free_ char *want_group = NULL, *want_one = NULL, *want_two = NULL;
        _cleanup_(model_freep) Model *m = model_with(tmp, members, cdevs);
        _cleanup_(lease_freep) Lease *l = lease_with(&vfio_iommufd_ops, LEASE_CLAIM, LEASE_ACTIVE,
                                                     6, 2, "k8s:claim/abc", members, bridges);
        _cleanup_(cdi_spec_freep) CdiSpec *s = NULL;
        _cleanup_json_ json_object *spec = NULL;

        ck_assert_int_eq(cdi_spec_build("0.5.0", &l, 1, m, &s), 0);
        spec = json_tokener_parse(s->text);
        ck_assert_ptr_nonnull(spec);
        ck_assert_int_ge(asprintf(&want_group,
                                  "/dev/iommu=%s/dev/iommu "
                                  "/dev/vfio/devices/vfio3=%s/dev/vfio/devices/vfio3 "
                                  "/dev/vfio/devices/vfio0=%s/dev/vfio/devices/vfio0",
                                  tmp, tmp, tmp),
                         0);
        ck_assert_int_ge(asprintf(&want_one,
                                  "/dev/iommu=%s/dev/iommu "
                                  "/dev/vfio/devices/vfio3=%s/dev/vfio/devices/vfio3",
                                  tmp, tmp),
                         0);
        ck_assert_int_ge(asprintf(&want_two,
                                  "/dev/iommu=%s/dev/iommu "
                                  "/dev/vfio/devices/vfio0=%s/dev/vfio/devices/vfio0",
                                  tmp, tmp),
                         0);
        group = nodes_of(spec, "6");
        one = nodes_of(spec, "0000_03_01.0");
        two = nodes_of(spec, "0000_03_02.0");
        ck_assert_str_eq(group, want_group);
        ck_assert_str_eq(one, want_one);
        ck_assert_str_eq(two, want_two);
        ck_assert_ptr_null(nodes_of(spec, "0000_02_00.0"));
        names = names_of(cdi_spec_names(s, 2));
        ck_assert_str_eq(names, "vfio-assignd.org/group=6 vfio-assignd.org/group=0000_03_01.0 "
                                "vfio-assignd.org/group=0000_03_02.0");
}
END_TEST

/* The same lease with the cdevs the model has not seen: a member without one has no device of
 * its own, and a group without any is not listed at all (/dev/iommu alone gives nothing). A
 * type1 group needs no cdev. */
START_TEST(test_iommufd_without_cdevs) {
        static const char *const members[] = { "0000:03:01.0", "0000:03:02.0", NULL };
        static const char *const some[] = { NULL, "vfio1", NULL };
        _cleanup_(model_freep) Model *none = model_with("/", members, NULL);
        _cleanup_(model_freep) Model *half = model_with("/", members, some);
        _cleanup_(lease_freep) Lease *l = lease_with(&vfio_iommufd_ops, LEASE_PREPARE, LEASE_ACTIVE,
                                                     6, 2, NULL, members, NULL);
        _cleanup_(lease_freep) Lease *t1 = lease_with(NULL, LEASE_PREPARE, LEASE_ACTIVE, 6, 3, NULL,
                                                      members, NULL);
        _cleanup_(cdi_spec_freep) CdiSpec *s = NULL, *s2 = NULL, *s3 = NULL;
        _cleanup_free_ char *names = NULL, *names3 = NULL;

        ck_assert_int_eq(cdi_spec_build("0.5.0", &l, 1, none, &s), 0);
        ck_assert_ptr_null(s->text);
        ck_assert_uint_eq(s->n_groups, 0);
        ck_assert_ptr_null(cdi_spec_names(s, 2));

        ck_assert_int_eq(cdi_spec_build("0.5.0", &l, 1, half, &s2), 0);
        names = names_of(cdi_spec_names(s2, 2));
        ck_assert_str_eq(names, "vfio-assignd.org/group=6 vfio-assignd.org/group=0000_03_02.0");

        ck_assert_int_eq(cdi_spec_build("0.5.0", &t1, 1, none, &s3), 0);
        names3 = names_of(cdi_spec_names(s3, 3));
        ck_assert_str_eq(names3, "vfio-assignd.org/group=6 vfio-assignd.org/group=0000_03_01.0 "
                                 "vfio-assignd.org/group=0000_03_02.0");
}
END_TEST

/* Groups in ascending order whatever the order of the leases; nothing at all is no file. */
START_TEST(test_order_and_empty) {
        static const char *const a[] = { "0000:09:00.0", NULL }, *const b[] = { "0000:02:00.0",
                                                                                NULL };
        static const char *const all[] = { "0000:02:00.0", "0000:09:00.0", NULL };
        _cleanup_(model_freep) Model *m = model_with("/", all, NULL);
        _cleanup_(lease_freep)
                Lease *l9 = lease_with(NULL, LEASE_PREPARE, LEASE_ACTIVE, 9, 1, NULL, a, NULL);
        _cleanup_(lease_freep)
                Lease *l2 = lease_with(NULL, LEASE_PREPARE, LEASE_ACTIVE, 2, 4, NULL, b, NULL);
        Lease *leases[] = { l9, l2 };
        _cleanup_(cdi_spec_freep) CdiSpec *s = NULL, *empty = NULL;
        _cleanup_json_ json_object *spec = NULL;
        json_object *devices = NULL, *name = NULL;
        static const char *const order[] = { "2", "0000_02_00.0", "9", "0000_09_00.0" };

        ck_assert_int_eq(cdi_spec_build("0.5.0", leases, 2, m, &s), 0);
        spec = json_tokener_parse(s->text);
        ck_assert(json_object_object_get_ex(spec, "devices", &devices));
        ck_assert_uint_eq(json_object_array_length(devices), ELEMENTSOF(order));
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                ck_assert(json_object_object_get_ex(json_object_array_get_idx(devices, i), "name",
                                                    &name));
                ck_assert_str_eq(json_object_get_string(name), order[i]);
        }
        ck_assert_uint_eq(s->n_groups, 2);
        ck_assert_uint_eq(s->groups[0].lease, 4);
        ck_assert_uint_eq(s->groups[1].lease, 1);

        ck_assert_int_eq(cdi_spec_build("0.5.0", NULL, 0, m, &empty), 0);
        ck_assert_ptr_null(empty->text);
        ck_assert_uint_eq(empty->n_groups, 0);
}
END_TEST

/* ---- versions, names, paths ---- */

START_TEST(test_versions) {
        static const char *const good[] = { "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0" };
        static const char *const bad[] = { "0.4.0", "0.3.0",  "0.5",    "0.5.0,", "1.1.0x", "5.0",
                                           "",      "0.5.0 ", "v0.5.0", "1.2.0",  ", 0.6.0" };
        static const char *const members[] = { "0000:01:00.0", NULL };
        _cleanup_(model_freep) Model *m = model_with("/", members, NULL);
        _cleanup_(lease_freep)
                Lease *l = lease_with(NULL, LEASE_PREPARE, LEASE_ACTIVE, 5, 7, NULL, members, NULL);

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_(cdi_spec_freep) CdiSpec *s = NULL;
                _cleanup_json_ json_object *spec = NULL;
                json_object *v = NULL;

                ck_assert_msg(cdi_version_is_supported(good[i]), "%s", good[i]);
                ck_assert_ptr_nonnull(strstr(cdi_versions_known(), good[i]));
                ck_assert_int_eq(cdi_spec_build(good[i], &l, 1, m, &s), 0);
                spec = json_tokener_parse(s->text);
                ck_assert(json_object_object_get_ex(spec, "cdiVersion", &v));
                ck_assert_str_eq(json_object_get_string(v), good[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                CdiSpec *s = NULL;

                ck_assert_msg(!cdi_version_is_supported(bad[i]), "\"%s\"", bad[i]);
                ck_assert_int_eq(cdi_spec_build(bad[i], &l, 1, m, &s), -EPROTONOSUPPORT);
                ck_assert_ptr_null(s);
        }
        ck_assert(!cdi_version_is_supported(NULL));
        ck_assert(cdi_version_is_supported(CDI_VERSION_DEFAULT));
}
END_TEST

START_TEST(test_address_name) {
        char name[CDI_ADDRESS_NAME_MAX];

        cdi_address_name("0000:03:00.0", name);
        ck_assert_str_eq(name, "0000_03_00.0");
        cdi_address_name("ffff:ff:1f.7", name);
        ck_assert_str_eq(name, "ffff_ff_1f.7");
}
END_TEST

START_TEST(test_spec_path) {
        static const char *const good[] = { CDI_SPEC_DEFAULT, "/etc/cdi/x.json", "/x.json" };
        static const char *const bad[] = { "vfio-assignd.json",    "./a.json",
                                           "/run/cdi/vfio.yaml",   "/run/cdi/",
                                           "/run/cdi/.json",       "/run/cdi/a.json.tmp",
                                           "/run/cdi/a\001b.json", "" };
        char longname[NAME_MAX + 8];
        const char *why;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                why = NULL;
                ck_assert_msg(cdi_spec_path_check(good[i], &why) == 0, "%s: %s", good[i],
                              strna(why));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                why = NULL;
                ck_assert_msg(cdi_spec_path_check(bad[i], &why) == -EINVAL, "%s", bad[i]);
                ck_assert_ptr_nonnull(why);
        }
        /* Room for the temporary name beside it. */
        longname[0] = '/';
        memset(longname + 1, 'a', NAME_MAX - 5);
        strcpy(longname + 1 + NAME_MAX - 5, ".json");
        ck_assert_int_eq(cdi_spec_path_check(longname, &why), -EINVAL);
        strcpy(longname + 1 + NAME_MAX - 10, ".json");
        ck_assert_int_eq(cdi_spec_path_check(longname, &why), 0);
}
END_TEST

/* ---- the file ---- */

/* Written with its missing directories (0755) and 0644 whatever the umask; nothing left beside
 * it; a symlink at its name replaced, not followed; removed when nothing is listed, and a
 * missing file or directory is fine then. */
START_TEST(test_write) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *victim = NULL, *text = NULL;
        CdiSpec s = { .text = (char *) "{\"x\": 1}\n" }, none = {};
        struct stat st;
        char buf[64];
        FILE *f;
        mode_t old = umask(077);

        ck_assert_int_ge(asprintf(&dir, "%s/run/cdi", tmp), 0);
        ck_assert_int_ge(asprintf(&path, "%s/vfio-assignd.json", dir), 0);
        ck_assert_int_ge(asprintf(&victim, "%s/victim", tmp), 0);
        ck_assert_int_eq(cdi_spec_write(&none, path), 0);
        ck_assert_int_eq(cdi_spec_write(&s, path), 0);
        umask(old);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
        fclose(f);
        ck_assert_str_eq(buf, "{\"x\": 1}\n");
        ck_assert_int_ge(asprintf(&text, "%s/.vfio-assignd.json.tmp", dir), 0);
        ck_assert_int_ne(access(text, F_OK), 0);

        /* A symlink in its place: replaced. */
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(symlink(victim, path), 0);
        ck_assert_int_eq(cdi_spec_write(&s, path), 0);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_ne(access(victim, F_OK), 0);

        ck_assert_int_eq(cdi_spec_write(&none, path), 0);
        ck_assert_int_ne(access(path, F_OK), 0);
        ck_assert_int_eq(cdi_spec_write(&none, path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
        ck_assert_int_eq(cdi_spec_write(&none, path), 0);
}
END_TEST

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        s = suite_create("cdi");
        tc = tcase_create("writer");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_lists_lease);
        tcase_add_test(tc, test_type1_document);
        tcase_add_test(tc, test_iommufd_document);
        tcase_add_test(tc, test_iommufd_without_cdevs);
        tcase_add_test(tc, test_order_and_empty);
        tcase_add_test(tc, test_versions);
        tcase_add_test(tc, test_address_name);
        tcase_add_test(tc, test_spec_path);
        tcase_add_test(tc, test_write);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
