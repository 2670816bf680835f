/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the policy verbs on a private bus with the real vfio-assignd on the
 * workstation sample host (see harness.h): `assignctl policy check` on the corpora and the
 * shipped files, `policy explain` offline (the daemon's evaluator linked into assignctl) and
 * online (ExplainPolicy) for the GPU, its audio function, the host-critical NVMe and the
 * RMRR-locked USB controller, `policy status`, and reload atomicity by SIGHUP and by ReloadPolicy
 * under python-dbusmock's polkitd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "names.h"
#include "util.h"

/* The workstation host (tests/data/hosts/workstation.host). */
#define GPU "0000:01:00.0" /* group 7 with its audio function */
#define GPU_AUDIO "0000:01:00.1"
#define NVME "0000:02:00.0" /* holds "/": host-critical */
#define USB "0000:00:14.0"  /* named by a DMAR RMRR: rmrr-locked */
#define MISSING_DEVICE "0000:09:00.0"

#define PROPERTY_TIMEOUT_MS 20000
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_AUTHORITY "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_MOCK "org.freedesktop.DBus.Mock"
#define ACTION_CLAIM "org.vfioassign1.claim"
#define ACTION_MANAGE "org.vfioassign1.manage"

/* A file that must never take effect: it denies the GPU to everyone (10- sorts before 50-gpu,
 * so a half-loaded policy would flip the GPU's verdict) and has an unknown key. */
#define BAD_FILE "10-deny-gpu.json"
#define BAD_POLICY                                                                             \
        "{\"version\": 1, \"rules\": [\n"                                                      \
        "  {\"match\": {\"vendor\": \"0x10de\"}, \"action\": \"deny\", \"reason\": \"no\"},\n" \
        "  {\"action\": \"allow\", \"colour\": \"red\"}]}\n"
/* A valid file that changes what is in effect. */
#define EXTRA_FILE "20-extra.json"
#define EXTRA_POLICY                                                        \
        "{\"version\": 1, \"rules\": [{\"match\": {\"class\": \"0x02*\"}, " \
        "\"action\": \"deny\"}]}\n"

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *xasprintf(const char *fmt, ...) _printf_(1, 2);
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        ck_assert_msg(r >= 0, "out of memory");
        return p;
}

/* The *.json names in dir, sorted. */
static char **list_json(const char *dir) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_closedir_ DIR *d = opendir(dir);

        ck_assert_msg(d, "opendir %s: %s", dir, strerror(errno));
        for (struct dirent *de; (de = readdir(d));) {
                size_t n = strlen(de->d_name);

                if (n > 5 && streq(de->d_name + n - 5, ".json"))
                        ck_assert_int_ge(strv_extend(&l, de->d_name), 0);
        }
        ck_assert_msg(l, "no *.json in %s", dir);
        strv_sort(l);
        return TAKE_PTR(l);
}

static uint32_t uid_of(const char *user) {
        struct passwd *pw = getpwnam(user);

        ck_assert_msg(pw, "no user %s on this system", user);
        return (uint32_t) pw->pw_uid;
}

/* ---- the daemon's policy state ---- */

static char *policy_error(void) {
        _cleanup_json_ json_object *reply = get_property(OBJ_ROOT, IFACE_MANAGER, "PolicyError");
        char *s;

        ck_assert_str_eq(jstr_or_null(reply, "type"), "s");
        s = strdup(json_object_get_string(jget(reply, "data")));
        ck_assert_ptr_nonnull(s);
        return s;
}

static json_object *policy_files(void) {
        _cleanup_json_ json_object *reply = get_property(OBJ_ROOT, IFACE_MANAGER, "PolicyFiles");

        ck_assert_str_eq(jstr_or_null(reply, "type"), "as");
        return json_object_get(jget(reply, "data"));
}

static bool files_contain(json_object *files, const char *name) {
        _cleanup_free_ char *path = path_join(H.policy_dir, name);

        for (size_t i = 0; i < jlen(files); i++)
                if (streq(json_object_get_string(jidx(files, i)), path))
                        return true;
        return false;
}

/* Exactly the two files the harness starts with. */
static bool files_are_baseline(json_object *files) {
        return jlen(files) == 2 && files_contain(files, POLICY_FILE_DEFAULT) &&
               files_contain(files, POLICY_FILE_GPU);
}

static json_object *get_policy(void) {
        _cleanup_json_ json_object *reply = busctl((char *) "call", (char *) BUS_NAME,
                                                   (char *) OBJ_ROOT, (char *) IFACE_MANAGER,
                                                   (char *) "GetPolicy");

        return parse_json(json_object_get_string(jidx(jget(reply, "data"), 0)), "GetPolicy");
}

/* Polls PolicyError (busctl get-property, bounded) until it is set or clear; returns it. */
static char *wait_policy_error(bool set) {
        int64_t deadline = now_ms() + PROPERTY_TIMEOUT_MS;

        for (;;) {
                char *e = policy_error();

                if (!isempty(e) == set)
                        return e;
                ck_assert_msg(now_ms() < deadline, "PolicyError did not become %s in %d ms: %s",
                              set ? "set" : "empty", PROPERTY_TIMEOUT_MS, e);
                free(e);
                nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
}

/* Polls PolicyFiles until the file is (or is not) in effect. */
static void wait_policy_file(const char *name, bool present) {
        int64_t deadline = now_ms() + PROPERTY_TIMEOUT_MS;

        for (;;) {
                _cleanup_json_ json_object *files = policy_files();

                if (files_contain(files, name) == present)
                        return;
                ck_assert_msg(now_ms() < deadline, "%s did not %s PolicyFiles in %d ms: %s", name,
                              present ? "enter" : "leave", PROPERTY_TIMEOUT_MS,
                              json_object_to_json_string(files));
                nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
}

static void sighup_daemon(void) {
        ck_assert_int_gt(H.daemon_pid, 0);
        ck_assert_int_eq(kill(H.daemon_pid, SIGHUP), 0);
}

static void write_policy_file(const char *name, const char *text) {
        _cleanup_free_ char *path = path_join(H.policy_dir, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(text);

        ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
        ck_assert_int_eq(write(fd, text, n), (ssize_t) n);
}

static void remove_policy_file(const char *name) {
        _cleanup_free_ char *path = path_join(H.policy_dir, name);

        ck_assert_msg(unlink(path) == 0 || errno == ENOENT, "unlink %s: %s", path, strerror(errno));
}

/* Back to the harness's policy, whatever an earlier (maybe failed) test left: the tests share
 * one daemon. */
static void ensure_good_policy(void) {
        _cleanup_strv_free_ char **names = list_json(H.policy_dir);
        _cleanup_json_ json_object *files = NULL;
        _cleanup_free_ char *e = NULL;

        for (char **n = names; *n; n++)
                if (!streq(*n, POLICY_FILE_DEFAULT) && !streq(*n, POLICY_FILE_GPU))
                        remove_policy_file(*n);
        files = policy_files();
        e = policy_error();
        if (isempty(e) && files_are_baseline(files))
                return;
        sighup_daemon();
        free(wait_policy_error(false));
        wait_policy_file(BAD_FILE, false);
        wait_policy_file(EXTRA_FILE, false);
}

/* ---- the polkit mock ---- */

static void busctl_call(char *const args[]) {
        char *argv[20] = { (char *) H.busctl, (char *) "--system", (char *) "call" };
        _cleanup_free_ char *err = NULL;
        size_t n = 3;
        int r;

        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        r = run_argv(argv, NULL, &err);
        ck_assert_msg(r == 0, "busctl call %s failed (%d): %s", args[3], r, err);
}
#define polkit_mock(...)                                                               \
        busctl_call((char *const[]) { (char *) POLKIT_NAME, (char *) POLKIT_AUTHORITY, \
                                      (char *) POLKIT_MOCK, __VA_ARGS__, NULL })

/* Allows exactly this action (NULL: none, the mock's default). */
static void polkit_allow(const char *action) {
        if (action)
                polkit_mock((char *) "SetAllowed", (char *) "as", (char *) "1", (char *) action);
        else
                polkit_mock((char *) "SetAllowed", (char *) "as", (char *) "0");
}

/* The CheckAuthorization calls the mock saw since the last ClearCalls, as JSON text. */
static char *polkit_calls(void) {
        _cleanup_json_ json_object *reply = busctl((char *) "call", (char *) POLKIT_NAME,
                                                   (char *) POLKIT_AUTHORITY, (char *) POLKIT_MOCK,
                                                   (char *) "GetMethodCalls", (char *) "s",
                                                   (char *) "CheckAuthorization");
        char *s = strdup(json_object_to_json_string(jget(reply, "data")));

        ck_assert_ptr_nonnull(s);
        return s;
}

/* ---- policy check ---- */

/* argv for assignctl [--json=short] policy check FILES... (the strings are borrowed). */
static char **check_argv(bool json, char **files) {
        char **argv = calloc(strv_length(files) + 5, sizeof(char *));
        size_t n = 0;

        ck_assert_ptr_nonnull(argv);
        argv[n++] = (char *) H.assignctl;
        if (json)
                argv[n++] = (char *) "--json=short";
        argv[n++] = (char *) "policy";
        argv[n++] = (char *) "check";
        for (char **f = files; *f; f++)
                argv[n++] = *f;
        return argv;
}

START_TEST(test_policy_check_good) {
        _cleanup_free_ char *dir = path_join(H.top_srcdir, "tests/policy/good");
        _cleanup_strv_free_ char **names = list_json(dir), **paths = NULL;
        _cleanup_free_ char *out = NULL, *err = NULL, *json_out = NULL;
        _cleanup_free_ char **argv = NULL, **argv_json = NULL;
        _cleanup_json_ json_object *doc = NULL;
        size_t n;
        int r;

        for (char **i = names; *i; i++)
                ck_assert_int_ge(strv_extendf(&paths, "%s/%s", dir, *i), 0);
        n = strv_length(paths);

        argv = check_argv(false, paths);
        r = run_argv(argv, &out, &err);
        ck_assert_msg(r == 0, "policy check of the good corpus: exit %d\n%s", r, err);
        ck_assert_str_eq(err, "");
        for (char **p = paths; *p; p++) {
                _cleanup_free_ char *line = xasprintf("%s: valid, ", *p);

                assert_contains(out, line);
        }

        /* --json: one entry per file, in order, all valid without errors */
        argv_json = check_argv(true, paths);
        r = run_argv(argv_json, &json_out, NULL);
        ck_assert_int_eq(r, 0);
        doc = parse_json(json_out, "policy check --json");
        ck_assert_uint_eq(jlen(jget(doc, "files")), n);
        for (size_t i = 0; i < n; i++) {
                json_object *f = jidx(jget(doc, "files"), i);

                ck_assert_str_eq(jstr_or_null(f, "file"), paths[i]);
                ck_assert(json_object_get_boolean(jget(f, "valid")));
                ck_assert_uint_eq(jlen(jget(f, "errors")), 0);
                ck_assert(json_object_is_type(jget(f, "rules"), json_type_int));
        }
}
END_TEST

/* Run from the corpus directory, each file's errors are exactly its .err file (the names in
 * the messages are the names given on the command line, as the daemon's are its paths). */
START_TEST(test_policy_check_bad) {
        _cleanup_free_ char *dir = path_join(H.top_srcdir, "tests/policy/bad");
        _cleanup_strv_free_ char **names = list_json(dir), **paths = NULL;
        _cleanup_free_ char *all_err = NULL;
        _cleanup_free_ char **argv = NULL;
        int r;

        for (char **i = names; *i; i++) {
                _cleanup_free_ char *out = NULL, *err = NULL, *want = NULL, *err_path = NULL;

                err_path = xasprintf("%s/%.*s.err", dir, (int) (strlen(*i) - 5), *i);
                want = read_file_or_abort(err_path);
                r = run_argv_in(dir,
                                (char *const[]) { (char *) H.assignctl, (char *) "policy",
                                                  (char *) "check", *i, NULL },
                                &out, &err);
                ck_assert_msg(r == 1, "policy check %s: exit %d, expected 1\n%s", *i, r, err);
                ck_assert_str_eq(out, "");
                ck_assert_msg(streq(err, want), "policy check %s printed:\n%s\nexpected (%s):\n%s",
                              *i, err, err_path, want);
                ck_assert_int_ge(strv_extendf(&paths, "%s/%s", dir, *i), 0);
        }
        ck_assert_uint_ge(strv_length(paths), 50);

        /* All at once: still 1, and every file is named. */
        argv = check_argv(false, paths);
        r = run_argv(argv, NULL, &all_err);
        ck_assert_int_eq(r, 1);
        for (char **p = paths; *p; p++) {
                _cleanup_free_ char *prefix = xasprintf("%s:", *p);

                assert_contains(all_err, prefix);
        }
}
END_TEST

START_TEST(test_policy_check_shipped) {
        _cleanup_free_ char *examples = path_join(H.top_srcdir, "policy/examples");
        _cleanup_strv_free_ char **names = list_json(examples), **paths = NULL;

        ck_assert_int_ge(strv_extendf(&paths, "%s/policy/default.json", H.top_srcdir), 0);
        for (char **i = names; *i; i++)
                ck_assert_int_ge(strv_extendf(&paths, "%s/%s", examples, *i), 0);

        for (char **p = paths; *p; p++) {
                _cleanup_free_ char *out = NULL, *err = NULL, *want = xasprintf("%s: valid, ", *p);
                int r = ASSIGNCTL(&out, &err, (char *) "policy", (char *) "check", *p);

                ck_assert_msg(r == 0, "policy check %s: exit %d\n%s", *p, r, err);
                assert_contains(out, want);
                ck_assert_str_eq(err, "");
        }
}
END_TEST

static char *tmp_file(const char *name, size_t size) {
        _cleanup_free_ char *text = malloc(size + 1);
        char *path = path_join(H.tmpdir, name);
        _cleanup_close_ int fd = -1;
        const char *json = "{\"version\": 1}";

        ck_assert_ptr_nonnull(text);
        /* Valid JSON padded with blanks to exactly size bytes. */
        memset(text, ' ', size);
        memcpy(text, json, strlen(json));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, size), (ssize_t) size);
        return path;
}

START_TEST(test_policy_check_limits) {
        /* 64 KiB is the most a policy file may have (POLICY_FILE_SIZE_MAX in daemon/policy.h). */
        _cleanup_free_ char *max = tmp_file("max.json", 65536);
        _cleanup_free_ char *over = tmp_file("over.json", 65537);
        _cleanup_free_ char *missing = path_join(H.tmpdir, "missing.json");
        _cleanup_free_ char *out = NULL, *err = NULL, *json_out = NULL, *line = NULL;
        _cleanup_json_ json_object *doc = NULL;
        json_object *f;
        int r;

        r = ASSIGNCTL(&out, &err, (char *) "policy", (char *) "check", max, over, missing);
        ck_assert_int_eq(r, 1);
        line = xasprintf("%s: valid, 0 rules\n", max);
        ck_assert_str_eq(out, line);
        free(line);
        line = xasprintf("%s: file too large", over);
        assert_contains(err, line);
        free(line);
        line = xasprintf("%s: cannot read: ", missing);
        assert_contains(err, line);

        r = ASSIGNCTL(&json_out, NULL, (char *) "--json=short", (char *) "policy", (char *) "check",
                      max, over);
        ck_assert_int_eq(r, 1);
        doc = parse_json(json_out, "policy check --json");
        ck_assert_uint_eq(jlen(jget(doc, "files")), 2);
        f = jidx(jget(doc, "files"), 0);
        ck_assert(json_object_get_boolean(jget(f, "valid")));
        ck_assert_int_eq(json_object_get_int(jget(f, "rules")), 0);
        f = jidx(jget(doc, "files"), 1);
        ck_assert(!json_object_get_boolean(jget(f, "valid")));
        ck_assert_ptr_null(jget(f, "rules"));
        ck_assert_uint_eq(jlen(jget(f, "errors")), 1);
        assert_contains(json_object_get_string(jidx(jget(f, "errors"), 0)), "file too large");
}
END_TEST

/* ---- policy explain ---- */

typedef struct ExplainCase {
        const char *address;
        const char *user;
        bool allowed;
        const char *code;
        const char *rule_file; /* in H.policy_dir; NULL: "rule" is null */
        int rule_index;
        bool any_rule;          /* decided by the vendor default, whose rules may change */
        const char *reasons[3]; /* each must be part of some reason */
} ExplainCase;

static const ExplainCase explain_cases[] = {
        /* The example's rule 0 (NVIDIA display) and rule 1 (its audio) together allow group 7;
         * the group names the rule of its first member. */
        { GPU,
          POLICY_USER,
          true,
          "none",
          POLICY_FILE_GPU,
          0,
          false,
          { GPU " is allowed for user " POLICY_USER, POLICY_FILE_GPU "#0", POLICY_FILE_GPU "#1" } },
        { GPU_AUDIO,
          POLICY_USER,
          true,
          "none",
          POLICY_FILE_GPU,
          0,
          false,
          { GPU_AUDIO " is allowed for user " POLICY_USER, POLICY_FILE_GPU "#1" } },
        /* Root may have what the host does not need, by a rule of the vendor default or
         * without one. */
        { GPU, "root", true, "none", NULL, -1, true, { GPU, "root" } },
        { NVME,
          "root",
          false,
          "host-critical",
          NULL,
          -1,
          true,
          { NVME " is needed by the host", "root filesystem" } },
        { NVME, POLICY_USER, false, "default", NULL, -1, false, { "no rule matches " NVME } },
        { USB,
          "root",
          false,
          "blocker",
          NULL,
          -1,
          false,
          { "rmrr-locked", USB " is named by a DMAR RMRR" } },
        { USB,
          POLICY_USER,
          false,
          "default",
          NULL,
          -1,
          false,
          { "no rule matches " USB, "rmrr-locked" } },
};

static json_object *explain_json(const char *address, const char *user, bool offline) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        char *argv[16] = { (char *) H.assignctl, (char *) "--json=short", (char *) "policy",
                           (char *) "explain", (char *) address };
        size_t n = 5;
        int r;

        if (user) {
                argv[n++] = (char *) "--user";
                argv[n++] = (char *) user;
        }
        if (offline) {
                argv[n++] = (char *) "--sysfs-root";
                argv[n++] = H.hostdir;
                argv[n++] = (char *) "--policy-dir";
                argv[n++] = H.policy_dir;
        }
        argv[n] = NULL;
        r = run_argv(argv, &out, &err);
        ck_assert_msg(r == 0, "policy explain %s (%s): exit %d\n%s", address,
                      offline ? "offline" : "online", r, err);
        return parse_json(out, "policy explain --json");
}

static void assert_verdict(const ExplainCase *c, json_object *v, uint32_t group) {
        json_object *rule = jget(v, "rule"), *reasons = jget(v, "reasons");

        ck_assert_int_eq(json_object_get_int64(jget(v, "group")), group);
        ck_assert_str_eq(jstr_or_null(v, "user"), c->user);
        ck_assert_int_eq(json_object_get_int64(jget(v, "uid")), uid_of(c->user));
        ck_assert_msg(json_object_get_boolean(jget(v, "allowed")) == c->allowed,
                      "%s for %s: allowed is not %d: %s", c->address, c->user, c->allowed,
                      json_object_to_json_string(v));
        ck_assert_str_eq(jstr_or_null(v, "code"), c->code);
        if (c->rule_file) {
                _cleanup_free_ char *path = path_join(H.policy_dir, c->rule_file);

                ck_assert_str_eq(jstr_or_null(rule, "file"), path);
                ck_assert_int_eq(json_object_get_int(jget(rule, "index")), c->rule_index);
        } else if (c->any_rule && rule) {
                _cleanup_free_ char *path = path_join(H.policy_dir, POLICY_FILE_DEFAULT);

                ck_assert_str_eq(jstr_or_null(rule, "file"), path);
        } else
                ck_assert_msg(c->any_rule || !rule, "%s for %s: a rule decided: %s", c->address,
                              c->user, json_object_to_json_string(v));
        if (!c->allowed)
                ck_assert_ptr_nonnull(jstr_or_null(v, "device"));
        ck_assert_ptr_null(jget(v, "policy_key")); /* this host has interrupt remapping */
        for (size_t i = 0; i < ELEMENTSOF(c->reasons) && c->reasons[i]; i++) {
                bool found = false;

                for (size_t j = 0; j < jlen(reasons) && !found; j++)
                        found = strstr(json_object_get_string(jidx(reasons, j)), c->reasons[i]);
                ck_assert_msg(found, "%s for %s: no reason says \"%s\": %s", c->address, c->user,
                              c->reasons[i], json_object_to_json_string(reasons));
        }
}

/* The text form of the verdict v (already checked against c). */
static void assert_verdict_text(const ExplainCase *c, json_object *v, const char *out,
                                uint32_t group) {
        json_object *rule = jget(v, "rule");
        _cleanup_free_ char *head = NULL;

        if (c->allowed && rule)
                head = xasprintf("%s (IOMMU group %" PRIu32 ") for user %s (uid %" PRIu32 "): "
                                 "ALLOWED by %s rule %d\n",
                                 c->address, group, c->user, uid_of(c->user),
                                 jstr_or_null(rule, "file"),
                                 json_object_get_int(jget(rule, "index")));
        else if (c->allowed)
                head = xasprintf("%s (IOMMU group %" PRIu32 ") for user %s (uid %" PRIu32 "): "
                                 "ALLOWED by default (no rule matches; root may claim)\n",
                                 c->address, group, c->user, uid_of(c->user));
        else
                head = xasprintf("%s (IOMMU group %" PRIu32 ") for user %s (uid %" PRIu32 "): "
                                 "DENIED (%s):\n",
                                 c->address, group, c->user, uid_of(c->user), c->code);
        ck_assert_msg(strneq(out, head, strlen(head)), "expected the first line\n%sin\n%s", head,
                      out);
        /* then the reasons, one per line */
        for (size_t i = 0; i < ELEMENTSOF(c->reasons) && c->reasons[i]; i++)
                assert_contains(out, c->reasons[i]);
}

static uint32_t group_of(json_object *report, const char *address) {
        json_object *devices = jget(report, "devices");

        for (size_t i = 0; i < jlen(devices); i++)
                if (streq(jstr_or_null(jidx(devices, i), "address"), address))
                        return (uint32_t) json_object_get_int64(jget(jidx(devices, i), "group"));
        ck_abort_msg("%s is not on the sample host", address);
        return 0;
}

START_TEST(test_policy_explain) {
        _cleanup_json_ json_object *report = daemon_report();

        ensure_good_policy();
        /* Another user's verdict is for administrators (org.vfioassign1.manage). */
        polkit_allow(ACTION_MANAGE);
        for (size_t i = 0; i < ELEMENTSOF(explain_cases); i++) {
                const ExplainCase *c = &explain_cases[i];
                uint32_t group = group_of(report, c->address);
                _cleanup_json_ json_object *online = explain_json(c->address, c->user, false);
                _cleanup_json_ json_object *offline = explain_json(c->address, c->user, true);
                _cleanup_free_ char *out = NULL, *err = NULL, *out2 = NULL;
                int r;

                assert_verdict(c, online, group);
                /* The same evaluator on the same host and files: the same verdict. */
                assert_json_equal(offline, online, "the offline and the online verdict");

                r = ASSIGNCTL(&out, &err, (char *) "policy", (char *) "explain",
                              (char *) c->address, (char *) "--user", (char *) c->user);
                ck_assert_msg(r == 0, "policy explain: exit %d\n%s", r, err);
                assert_verdict_text(c, online, out, group);
                r = ASSIGNCTL(&out2, NULL, (char *) "policy", (char *) "explain",
                              (char *) c->address, (char *) "--user", (char *) c->user,
                              (char *) "--sysfs-root", H.hostdir, (char *) "--policy-dir",
                              H.policy_dir);
                ck_assert_int_eq(r, 0);
                ck_assert_str_eq(out2, out);
        }
        polkit_allow(NULL);
}
END_TEST

/* Without --user: online the daemon judges the caller on the bus, offline the invoking user. */
START_TEST(test_policy_explain_caller) {
        struct passwd *pw = getpwuid(getuid());

        ck_assert_msg(pw, "uid %u has no name", (unsigned) getuid());
        ensure_good_policy();
        for (int offline = 0; offline <= 1; offline++) {
                _cleanup_json_ json_object *v = explain_json(GPU, NULL, offline);

                ck_assert_int_eq(json_object_get_int64(jget(v, "uid")), getuid());
                ck_assert_str_eq(jstr_or_null(v, "user"), pw->pw_name);
        }
}
END_TEST

START_TEST(test_policy_explain_errors) {
        _cleanup_free_ char *out = NULL, *err = NULL, *err2 = NULL, *err3 = NULL, *err4 = NULL;
        _cleanup_free_ char *err5 = NULL;
        _cleanup_json_ json_object *e = NULL;
        int r;

        polkit_allow(ACTION_MANAGE); /* for --user: another user's verdict */

        r = ASSIGNCTL(&out, &err, (char *) "policy", (char *) "explain", (char *) MISSING_DEVICE);
        ck_assert_int_eq(r, 1);
        ck_assert_str_eq(out, "");
        assert_contains(err, "assignctl: policy explain " MISSING_DEVICE ": NoSuchDevice: ");

        r = ASSIGNCTL(NULL, &err2, (char *) "policy", (char *) "explain", (char *) MISSING_DEVICE,
                      (char *) "--sysfs-root", H.hostdir, (char *) "--policy-dir", H.policy_dir);
        ck_assert_int_eq(r, 1);
        assert_contains(err2, "no PCI device " MISSING_DEVICE);

        r = ASSIGNCTL(NULL, &err3, (char *) "policy", (char *) "explain", (char *) GPU,
                      (char *) "--user", (char *) "no-such-user-here");
        ck_assert_int_eq(r, 1);
        assert_contains(err3, "InvalidArgument: ");
        assert_contains(err3, "no-such-user-here");

        r = ASSIGNCTL(NULL, &err4, (char *) "policy", (char *) "explain", (char *) GPU,
                      (char *) "--user", (char *) "no-such-user-here", (char *) "--sysfs-root",
                      H.hostdir, (char *) "--policy-dir", H.policy_dir);
        ck_assert_int_eq(r, 1);
        assert_contains(err4, "no user \"no-such-user-here\"");

        /* errors in JSON carry the D-Bus error name */
        r = ASSIGNCTL(NULL, &err5, (char *) "--json=short", (char *) "policy", (char *) "explain",
                      (char *) MISSING_DEVICE);
        ck_assert_int_eq(r, 1);
        e = parse_json(err5, "assignctl --json error");
        ck_assert_str_eq(jstr_or_null(jget(e, "error"), "name"), ERROR_PREFIX "NoSuchDevice");
        ck_assert_int_eq(json_object_get_int(jget(jget(e, "error"), "exit_code")), 1);
        polkit_allow(NULL);
}
END_TEST

/* ---- policy status and reload ---- */

START_TEST(test_policy_status) {
        _cleanup_free_ char *out = NULL, *err = NULL, *json_out = NULL, *e = NULL;
        _cleanup_free_ char *rules = NULL, *source = NULL;
        _cleanup_json_ json_object *policy = NULL, *doc = NULL;
        json_object *files;

        ensure_good_policy();
        e = policy_error();
        ck_assert_str_eq(e, "");
        policy = get_policy();
        ck_assert_uint_eq(jlen(jget(policy, "errors")), 0);

        ck_assert_int_eq(ASSIGNCTL(&out, &err, (char *) "policy", (char *) "status"), 0);
        ck_assert_str_eq(err, "");
        files = jget(policy, "files");
        ck_assert_uint_eq(jlen(files), 2);
        for (size_t i = 0; i < jlen(files); i++)
                assert_contains(out, json_object_get_string(jidx(files, i)));
        rules = xasprintf("Rules: %zu\n", jlen(jget(policy, "rules")));
        assert_contains(out, rules);
        /* default.json sets require_interrupt_remapping; status says where each came from */
        source = xasprintf("(set in %s/%s)", H.policy_dir, POLICY_FILE_DEFAULT);
        assert_contains(out, "require_interrupt_remapping");
        assert_contains(out, source);
        ck_assert_ptr_null(strstr(out, "POLICY ERROR"));

        ck_assert_int_eq(ASSIGNCTL(&json_out, NULL, (char *) "--json=short", (char *) "policy",
                                   (char *) "status"),
                         0);
        doc = parse_json(json_out, "policy status --json");
        assert_json_equal(doc, policy, "policy status --json and GetPolicy");
}
END_TEST

/* A bad file dropped in and SIGHUP: nothing of it takes effect, the error is shown, the old
 * policy keeps deciding. */
START_TEST(test_policy_reload_sighup) {
        _cleanup_free_ char *e = NULL, *out = NULL, *err = NULL, *bad = NULL;
        _cleanup_json_ json_object *files = NULL, *v = NULL, *policy = NULL;
        _cleanup_json_ json_object *report = daemon_report();
        const ExplainCase *gpu = &explain_cases[0];

        ensure_good_policy();
        write_policy_file(BAD_FILE, BAD_POLICY);
        sighup_daemon();
        e = wait_policy_error(true);
        bad = path_join(H.policy_dir, BAD_FILE);
        assert_contains(e, bad);
        assert_contains(e, "unknown key \"colour\"");

        ck_assert_int_eq(ASSIGNCTL(&out, &err, (char *) "policy", (char *) "status"), 1);
        assert_contains(out, "POLICY ERROR");
        assert_contains(out, bad);
        files = policy_files();
        ck_assert_msg(files_are_baseline(files), "the bad policy took effect: %s",
                      json_object_to_json_string(files));
        policy = get_policy();
        ck_assert_uint_gt(jlen(jget(policy, "errors")), 0);

        /* Its deny rule would deny the GPU; the old policy still allows it. */
        polkit_allow(ACTION_MANAGE);
        v = explain_json(GPU, POLICY_USER, false);
        polkit_allow(NULL);
        assert_verdict(gpu, v, group_of(report, GPU));

        remove_policy_file(BAD_FILE);
        sighup_daemon();
        free(wait_policy_error(false));
        ck_assert_int_eq(ASSIGNCTL(NULL, NULL, (char *) "policy", (char *) "status"), 0);
}
END_TEST

/* ReloadPolicy needs org.vfioassign1.manage: denied, nothing changes (exit 4); allowed, a good
 * change takes effect (0) and a bad one is refused with the daemon's message (1). */
START_TEST(test_policy_reload_polkit) {
        _cleanup_free_ char *err = NULL, *calls = NULL, *e = NULL, *err2 = NULL, *out3 = NULL;
        _cleanup_free_ char *err3 = NULL, *bad = path_join(H.policy_dir, BAD_FILE);
        _cleanup_free_ char *e2 = NULL, *e3 = NULL, *out4 = NULL;
        _cleanup_json_ json_object *files = NULL, *files2 = NULL, *files3 = NULL, *v = NULL;
        _cleanup_json_ json_object *report = daemon_report(), *policy = NULL;
        _cleanup_free_ char *reloaded = NULL;
        int r;

        ensure_good_policy();
        policy = get_policy();
        reloaded = xasprintf("Policy reloaded: 2 files, %zu rules.\n", jlen(jget(policy, "rules")));
        polkit_allow(NULL);
        polkit_mock((char *) "ClearCalls");
        write_policy_file(EXTRA_FILE, EXTRA_POLICY);

        r = ASSIGNCTL(NULL, &err, (char *) "policy", (char *) "reload");
        ck_assert_msg(r == 4, "reload without authorisation: exit %d\n%s", r, err);
        assert_contains(err, "assignctl: policy reload: AccessDenied: ");
        calls = polkit_calls();
        assert_contains(calls, ACTION_MANAGE);
        files = policy_files();
        ck_assert_msg(files_are_baseline(files), "a refused reload changed the policy: %s",
                      json_object_to_json_string(files));
        e = policy_error();
        ck_assert_str_eq(e, "");

        polkit_allow(ACTION_MANAGE);
        r = ASSIGNCTL(&out3, &err2, (char *) "policy", (char *) "reload");
        ck_assert_msg(r == 0, "authorised reload: exit %d\n%s", r, err2);
        assert_contains(out3, "Policy reloaded: 3 files");
        files2 = policy_files();
        ck_assert(files_contain(files2, EXTRA_FILE));

        /* Now a bad file as well: refused as a whole, the previous policy (with the extra
         * file) stays. */
        write_policy_file(BAD_FILE, BAD_POLICY);
        r = ASSIGNCTL(NULL, &err3, (char *) "policy", (char *) "reload");
        ck_assert_msg(r == 1, "reload of a bad policy: exit %d\n%s", r, err3);
        assert_contains(err3, "assignctl: policy reload: PolicyInvalid: ");
        assert_contains(err3, bad);
        e2 = policy_error();
        assert_contains(e2, bad);
        files3 = policy_files();
        ck_assert(files_contain(files3, EXTRA_FILE) && !files_contain(files3, BAD_FILE));
        v = explain_json(GPU, POLICY_USER, false);
        assert_verdict(&explain_cases[0], v, group_of(report, GPU));
        ck_assert_int_eq(ASSIGNCTL(NULL, NULL, (char *) "policy", (char *) "status"), 1);

        remove_policy_file(BAD_FILE);
        remove_policy_file(EXTRA_FILE);
        r = ASSIGNCTL(&out4, NULL, (char *) "policy", (char *) "reload");
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(out4, reloaded);
        e3 = policy_error();
        ck_assert_str_eq(e3, "");
        ck_assert_int_eq(ASSIGNCTL(NULL, NULL, (char *) "policy", (char *) "status"), 0);
        polkit_allow(NULL);
}
END_TEST

/* ---- exit codes of refused claims (nothing is bound: they are refused before that) ---- */

START_TEST(test_claim_refused) {
        _cleanup_json_ json_object *report = daemon_report(), *e = NULL;
        _cleanup_free_ char *err = NULL, *err2 = NULL, *err3 = NULL, *err4 = NULL, *out = NULL;
        _cleanup_free_ char *usb_group = xasprintf("%" PRIu32, group_of(report, USB));
        _cleanup_free_ char *want = NULL;
        int r;

        ensure_good_policy();
        polkit_allow(NULL);
        r = ASSIGNCTL(NULL, &err, (char *) "claim", (char *) NVME);
        ck_assert_msg(r == 4, "claim without authorisation: exit %d\n%s", r, err);
        assert_contains(err, "assignctl: claim " NVME ": AccessDenied: ");

        polkit_allow(ACTION_CLAIM);
        r = ASSIGNCTL(NULL, &err2, (char *) "claim", (char *) NVME);
        ck_assert_msg(r == 5, "claim of the root disk: exit %d\n%s", r, err2);
        want = xasprintf("assignctl: claim " NVME ": HostCritical: IOMMU group %" PRIu32 ": ",
                         group_of(report, NVME));
        assert_contains(err2, want);
        assert_contains(err2, NVME " is needed by the host");

        r = ASSIGNCTL(NULL, &err3, (char *) "claim", usb_group);
        ck_assert_msg(r == 5, "claim of the RMRR group: exit %d\n%s", r, err3);
        assert_contains(err3, "RmrrLocked: ");

        r = ASSIGNCTL(NULL, &err4, (char *) "--json=short", (char *) "claim", (char *) NVME);
        ck_assert_int_eq(r, 5);
        e = parse_json(err4, "claim --json error");
        ck_assert_str_eq(jstr_or_null(jget(e, "error"), "name"), ERROR_PREFIX "HostCritical");
        ck_assert_int_eq(json_object_get_int(jget(jget(e, "error"), "exit_code")), 5);
        polkit_allow(NULL);

        ck_assert_int_eq(ASSIGNCTL(&out, NULL, (char *) "leases"), 0);
        ck_assert_str_eq(out, "No leases.\n");
}
END_TEST

START_TEST(test_new_verbs_usage_errors) {
        static const struct {
                const char *args[6];
                const char *message;
        } cases[] = {
                { { "policy" }, "Too few arguments" },
                { { "policy", "frobnicate" }, "Unknown policy verb 'frobnicate'" },
                { { "policy", "check" }, "Too few arguments" },
                { { "policy", "explain" }, "Too few arguments" },
                { { "policy", "explain", "eth0" }, "Invalid PCI address 'eth0'" },
                { { "policy", "explain", GPU, "--user", "a/b" }, "Invalid user name 'a/b'" },
                { { "policy", "explain", GPU, "--policy-dir", "/tmp" }, "give --sysfs-root too" },
                { { "policy", "explain", GPU, "--user" }, "Option '--user' needs an argument" },
                { { "policy", "status", "--user", "root" }, "Option --user does not apply" },
                { { "policy", "reload", "now" }, "Too many arguments" },
                { { "show", "1", "--persistent" }, "Option --persistent does not apply" },
                { { "claim" }, "Too few arguments" },
                { { "claim", "0000:01:00.8" }, "Invalid PCI address '0000:01:00.8'" },
                { { "claim", "4294967296" }, "Invalid argument '4294967296'" },
                { { "claim", "7", "--exec" }, "--exec needs a command" },
                { { "claim", "7", "--persistent" }, "Option --persistent does not apply" },
                { { "release", "-1" }, "Unknown option '-1'" },
                { { "release", "lease7" }, "Invalid argument 'lease7'" },
                { { "release", "18446744073709551616" }, "Invalid argument" },
                { { "prepare", "7" }, "Invalid PCI address '7'" },
                { { "prepare", GPU, "--exec", "true" }, "Option --exec does not apply" },
                { { "unprepare" }, "Too few arguments" },
                { { "leases", "all" }, "Too many arguments" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = NULL, *err = NULL;
                char *argv[8] = { (char *) H.assignctl };
                int r;

                for (size_t j = 0; j < ELEMENTSOF(cases[i].args) && cases[i].args[j]; j++)
                        argv[j + 1] = (char *) cases[i].args[j];
                r = run_argv(argv, &out, &err);
                ck_assert_msg(r == 2, "assignctl %s %s: exit %d, expected 2 (%s)", cases[i].args[0],
                              strempty(cases[i].args[1]), r, err);
                ck_assert_str_eq(out, "");
                assert_contains(err, cases[i].message);
        }
}
END_TEST

int main(void) {
        SRunner *sr;
        Suite *s;
        TCase *tc;
        int failed;

        if (!harness_init())
                return 77;

        s = suite_create("policy");
        tc = tcase_create("private-bus");
        tcase_add_unchecked_fixture(tc, harness_setup, harness_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_policy_check_good);
        tcase_add_test(tc, test_policy_check_bad);
        tcase_add_test(tc, test_policy_check_shipped);
        tcase_add_test(tc, test_policy_check_limits);
        tcase_add_test(tc, test_policy_explain);
        tcase_add_test(tc, test_policy_explain_caller);
        tcase_add_test(tc, test_policy_explain_errors);
        tcase_add_test(tc, test_policy_status);
        tcase_add_test(tc, test_policy_reload_sighup);
        /* ReloadPolicy and claims go through polkit: only with the mock. */
        if (H.python3) {
                tcase_add_test(tc, test_policy_reload_polkit);
                tcase_add_test(tc, test_claim_refused);
        }
        tcase_add_test(tc, test_new_verbs_usage_errors);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);

        /* The teardown SIGTERMed the daemon: it must exit 0 (sanitizers and valgrind wrappers
         * turn their findings into a non-zero exit). */
        if (H.daemon_status != -1 && exit_code_of(H.daemon_status) != 0) {
                fprintf(stderr, "FAIL: vfio-assignd exited with %d after SIGTERM\n",
                        exit_code_of(H.daemon_status));
                failed++;
        }
        return failed ? 1 : 0;
}
