/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parallel scan: parallel_for() runs every index once whatever the thread count, and a scan
 * on several threads gives the very topology one thread gives (every device's and group's facts,
 * the errors in the same order) on every sample host and on a generated big host with damaged
 * devices; and a full scan agrees with reading each device alone, as the uevent path does. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakesys.h"
#include "hostspec.h"
#include "json-util.h"
#include "macro.h"
#include "parallel.h"
#include "report.h"
#include "topology.h"
#include "util.h"

#ifndef TEST_DATA_DIR_DEFAULT
#define TEST_DATA_DIR_DEFAULT "tests/data"
#endif

static const char *data_dir(void) {
        const char *d = getenv("TEST_DATA_DIR");

        return isempty(d) ? TEST_DATA_DIR_DEFAULT : d;
}

/* ---- parallel_for ---- */

typedef struct Visits {
        unsigned *count; /* one counter per index: each is written by the one call for it */
} Visits;

static void visit(void *userdata, size_t i) {
        Visits *v = userdata;

        v->count[i]++;
}

START_TEST(test_parallel_for_runs_each_index_once) {
        static const size_t sizes[] = { 0, 1, 2, 5, 63, 64, 65, 1000, 100003 };
        static const unsigned threads[] = { 0, 1, 2, 3, 4, 9 };

        for (size_t s = 0; s < ELEMENTSOF(sizes); s++)
                for (size_t t = 0; t < ELEMENTSOF(threads); t++) {
                        _cleanup_free_ unsigned *count = calloc(sizes[s] + 1, sizeof(unsigned));
                        Visits v = { .count = count };
                        unsigned ran;

                        ck_assert_ptr_nonnull(count);
                        ran = parallel_for(sizes[s], threads[t], visit, &v);
                        ck_assert_uint_ge(ran, 1);
                        ck_assert_uint_le(ran, 4);
                        /* Never more threads than asked for, nor than items. */
                        if (threads[t] > 0)
                                ck_assert_uint_le(ran, threads[t]);
                        ck_assert_uint_le(ran, MAX(sizes[s], (size_t) 1));
                        for (size_t i = 0; i < sizes[s]; i++)
                                ck_assert_msg(count[i] == 1,
                                              "n=%zu threads=%u: index %zu ran %u times", sizes[s],
                                              threads[t], i, count[i]);
                        ck_assert_uint_eq(count[sizes[s]], 0);
                }
        ck_assert_uint_ge(parallel_threads_default(), 1);
        ck_assert_uint_le(parallel_threads_default(), 4);
}
END_TEST

/* ---- names ---- */

/* Each pair is looked up in libpci once and its strings shared; the answers are libpci's, for
 * known and unknown ids alike, however many pairs the table has grown to hold. */
START_TEST(test_names_are_cached_per_pair) {
        _cleanup_(pci_names_freep) PciNames *cached = NULL;
        enum { N = 3000 };
        const char **first = calloc(2 * N, sizeof(char *));
        unsigned named = 0;

        ck_assert_ptr_nonnull(first);
        ck_assert_int_eq(pci_names_new(NULL, PCI_IDS_PATH, &cached), 0);
        for (unsigned i = 0; i < N; i++) {
                /* Intel's and NVIDIA's ids, dense and sparse, and a vendor nobody has. */
                uint16_t vendor = i % 3 == 0 ? 0x8086 : i % 3 == 1 ? 0x10de : 0xfffe;
                uint16_t device = (uint16_t) (i * 7);

                ck_assert_int_eq(pci_names_lookup(cached, vendor, device, &first[2 * i],
                                                  &first[2 * i + 1]),
                                 0);
        }
        for (unsigned i = 0; i < N; i++) {
                _cleanup_(pci_names_freep) PciNames *fresh = NULL;
                uint16_t vendor = i % 3 == 0 ? 0x8086 : i % 3 == 1 ? 0x10de : 0xfffe;
                uint16_t device = (uint16_t) (i * 7);
                const char *v, *d, *fv, *fd;

                ck_assert_int_eq(pci_names_lookup(cached, vendor, device, &v, &d), 0);
                ck_assert_ptr_eq(v, first[2 * i]);
                ck_assert_ptr_eq(d, first[2 * i + 1]);
                if (i % 97 != 0)
                        continue;
                ck_assert_int_eq(pci_names_new(NULL, PCI_IDS_PATH, &fresh), 0);
                ck_assert_int_eq(pci_names_lookup(fresh, vendor, device, &fv, &fd), 0);
                ck_assert_str_eq(strna(v), strna(fv));
                ck_assert_str_eq(strna(d), strna(fd));
                named += v != NULL;
        }
        /* With a database, Intel and NVIDIA are known: the cache kept what libpci said. */
        if (access(PCI_IDS_PATH, R_OK) >= 0)
                ck_assert_uint_gt(named, 0);
        free(first);
}
END_TEST

/* ---- scans ---- */

static char *device_text(const Device *d) {
        _cleanup_json_ json_object *o = NULL;
        char *s;

        ck_assert_int_eq(report_device_json(d, &o), 0);
        ck_assert_int_ge(asprintf(&s, "%s ids=%d path=%s", json_object_to_json_string(o),
                                  d->ids_known, strna(d->devpath)),
                         0);
        return s;
}

static char *group_text(const Group *g) {
        _cleanup_json_ json_object *o = NULL;
        char *s;

        ck_assert_int_eq(report_group_json(g, NULL, &o), 0);
        ck_assert_int_ge(asprintf(&s, "%s name=%s regions_known=%d", json_object_to_json_string(o),
                                  strna(g->name), g->regions_known),
                         0);
        return s;
}

static void assert_same_topology(const Topology *a, const Topology *b, const char *what) {
        ck_assert_msg(a->n_devices == b->n_devices, "%s: %zu devices vs %zu", what, a->n_devices,
                      b->n_devices);
        for (size_t i = 0; i < a->n_devices; i++) {
                _cleanup_free_ char *x = device_text(a->devices[i]),
                                    *y = device_text(b->devices[i]);

                ck_assert_msg(streq(x, y), "%s: device %zu: %s vs %s", what, i, x, y);
        }
        ck_assert_msg(a->n_groups == b->n_groups, "%s: %zu groups vs %zu", what, a->n_groups,
                      b->n_groups);
        for (size_t i = 0; i < a->n_groups; i++) {
                _cleanup_free_ char *x = group_text(a->groups[i]), *y = group_text(b->groups[i]);

                ck_assert_msg(streq(x, y), "%s: group %zu: %s vs %s", what, i, x, y);
        }
        ck_assert_msg(strv_length(a->errors) == strv_length(b->errors), "%s: %zu errors vs %zu",
                      what, strv_length(a->errors), strv_length(b->errors));
        for (size_t i = 0; a->errors && a->errors[i]; i++)
                ck_assert_msg(streq(a->errors[i], b->errors[i]), "%s: error %zu: %s vs %s", what, i,
                              a->errors[i], b->errors[i]);
}

static Topology *scan(const SysRoot *root, PciNames *names, unsigned n_threads) {
        Topology *t;

        ck_assert_int_eq(topology_new(&t), 0);
        ck_assert_int_eq(topology_scan_threads(t, root, names, n_threads), 0);
        return t;
}

/* One thread, then 2, 3, 4 and the default, each against the first; and each device read alone
 * (model.c's uevent path) against the scan's. */
static void check_tree(const char *dir, const char *what, size_t min_devices) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_(pci_names_freep) PciNames *names = NULL;
        _cleanup_(topology_freep) Topology *one = NULL;
        static const unsigned threads[] = { 2, 3, 4, 0, 4 };

        ck_assert_int_eq(sysroot_open(dir, dir, &root), 0);
        ck_assert_int_eq(pci_names_new(dir, NULL, &names), 0);
        one = scan(root, names, 1);
        ck_assert_msg(one->n_devices >= min_devices, "%s: only %zu devices", what, one->n_devices);
        for (size_t i = 0; i < ELEMENTSOF(threads); i++) {
                _cleanup_(topology_freep) Topology *many = scan(root, names, threads[i]);

                assert_same_topology(one, many, what);
        }
        for (size_t i = 0; i < one->n_devices; i++) {
                _cleanup_(device_freep) Device *d = NULL;
                _cleanup_strv_free_ char **errors = NULL;
                _cleanup_free_ char *x = NULL, *y = NULL;

                ck_assert_int_eq(device_read(root, names, one->devices[i]->address, &d, &errors),
                                 0);
                x = device_text(one->devices[i]);
                y = device_text(d);
                ck_assert_msg(streq(x, y), "%s: %s read alone: %s vs %s", what,
                              one->devices[i]->address, y, x);
        }
}

START_TEST(test_sample_hosts_scan_the_same_on_any_thread_count) {
        _cleanup_free_ char *hosts = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        unsigned n = 0;

        ck_assert_int_ge(asprintf(&hosts, "%s/hosts", data_dir()), 0);
        d = opendir(hosts);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                _cleanup_(fakesys_freep) FakeSys *fs = NULL;
                _cleanup_free_ char *spec = NULL, *error = NULL;
                size_t len = strlen(de->d_name);

                if (len < 6 || !streq(de->d_name + len - 5, ".host"))
                        continue;
                ck_assert_int_ge(asprintf(&spec, "%s/%s", hosts, de->d_name), 0);
                ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &fs), 0);
                ck_assert_msg(hostspec_apply(fs, spec, &error) == 0, "%s: %s", spec, strna(error));
                check_tree(fakesys_root(fs), de->d_name, 1);
                n++;
        }
        ck_assert_uint_ge(n, 5);
}
END_TEST

static void run_mkbighost(const char *dir, unsigned devices) {
        const char *top = getenv("TOP_BUILDDIR");
        _cleanup_free_ char *tool = NULL, *arg = NULL;
        pid_t pid;
        int status;

        ck_assert_msg(!isempty(top), "TOP_BUILDDIR is not set (run under make check)");
        ck_assert_int_ge(asprintf(&tool, "%s/bench/mkbighost", top), 0);
        ck_assert_int_ge(asprintf(&arg, "--devices=%u", devices), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) freopen("/dev/null", "w", stdout);
                execl(tool, tool, arg, dir, (char *) NULL);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %s %s failed (%d)", tool,
                      arg, dir, status);
}

/* Damage that makes each kind of error the scan reports, spread over the big host. */
static void damage(FakeSys *fs, const Topology *t) {
        size_t n = t->n_devices;

        ck_assert_uint_ge(n, 1000);
        /* Bad values, attributes that are directories or garbage, links that lead nowhere. */
        ck_assert_int_eq(fakesys_set_attr(fs, t->devices[3]->address, "numa_node", "many"), 0);
        ck_assert_int_eq(fakesys_set_attr(fs, t->devices[n / 7]->address, "driver_override", "a/b"),
                         0);
        ck_assert_int_eq(fakesys_attr_make_dir(fs, t->devices[n / 5]->address, "reset_method"), 0);
        ck_assert_int_eq(fakesys_attr_make_garbage(fs, t->devices[n / 3]->address, "reset_method",
                                                   8192),
                         0);
        ck_assert_int_eq(fakesys_attr_make_dangling(fs, t->devices[n / 2]->address, "driver"), 0);
        ck_assert_int_eq(fakesys_set_attr(fs, t->devices[n - 2]->address, "iommu_group", "x"), 0);
        /* Ids that cannot be read: the device stays, its group is blocked. */
        ck_assert_int_eq(fakesys_remove_attr(fs, t->devices[n / 4]->address, "modalias"), 0);
        ck_assert_int_eq(fakesys_set_attr(fs, t->devices[n / 4]->address, "vendor", "0xzz"), 0);
        /* A group whose attributes cannot be read, a name that is not an address. */
        ck_assert_int_eq(fakesys_group_set_attr(fs, (unsigned) t->devices[n / 6]->group,
                                                "reserved_regions", "garbage line\n"),
                         0);
        ck_assert_int_eq(fakesys_symlink(fs, "sys/bus/pci/devices/not-a-device", "nowhere"), 0);
}

/* A new tree, in memory when /dev/shm is there: a disk file system takes seconds to make the
 * big host's thousands of files. */
static FakeSys *new_tree_in_memory(void) {
        char dir[] = "/dev/shm/test-scan-XXXXXX";
        FakeSys *fs;

        if (access("/dev/shm", W_OK) < 0 || !mkdtemp(dir)) {
                ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &fs), 0);
                return fs;
        }
        ck_assert_int_eq(fakesys_new(dir, FAKESYS_REMOVE_ON_FREE, &fs), 0);
        return fs;
}

START_TEST(test_big_host_scans_the_same_on_any_thread_count) {
        _cleanup_(fakesys_freep) FakeSys *fs = new_tree_in_memory();
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_(topology_freep) Topology *t = NULL;
        static const char *const expect[] = {
                "numa_node: invalid value",
                "driver_override: invalid value",
                "reset_method: Is a directory",
                "reset_method: ",
                "iommu_group: ",
                "vendor: invalid value",
                "reserved_regions: invalid line",
                "not-a-device: not a PCI address",
        };

        run_mkbighost(fakesys_root(fs), 2000);
        check_tree(fakesys_root(fs), "big host", 1900);

        ck_assert_int_eq(sysroot_open(fakesys_root(fs), fakesys_root(fs), &root), 0);
        t = scan(root, NULL, 1);
        ck_assert_ptr_null(t->errors);
        damage(fs, t);
        t = topology_free(t);
        check_tree(fakesys_root(fs), "damaged big host", 1900);
        t = scan(root, NULL, 4);
        /* Every kind of damage was seen (a dangling driver link still names its driver). */
        ck_assert_uint_eq(strv_length(t->errors), ELEMENTSOF(expect));
        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                bool found = false;

                for (char **e = t->errors; e && *e && !found; e++)
                        found = strstr(*e, expect[i]);
                ck_assert_msg(found, "no error says \"%s\"", expect[i]);
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("scan");
        TCase *tc = tcase_create("scan");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_parallel_for_runs_each_index_once);
        tcase_add_test(tc, test_names_are_cached_per_pair);
        tcase_add_test(tc, test_sample_hosts_scan_the_same_on_any_thread_count);
        tcase_add_test(tc, test_big_host_scans_the_same_on_any_thread_count);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
