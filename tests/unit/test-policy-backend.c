/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A rule's "backend" (vfio-assignd.policy(5)): parsed and refused like every key, shown by
 * policy_to_json(), and reported in verdicts with the rule that pins it: per device, per group
 * (the first pin among the members' rules; different pins deny the group), and in the JSON of
 * `assignctl policy explain`. The manager applies the pin (tests/integration/test-backend.c). */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "explain.h"
#include "json-util.h"
#include "policy-world.h"
#include "util.h"

/* ---- parsing ---- */

static const char *rule_backend_json(const Policy *p, size_t i) {
        static char buf[64];
        json_object *j = NULL, *rules, *b;

        ck_assert_int_eq(policy_to_json(p, &j), 0);
        ck_assert(json_object_object_get_ex(j, "rules", &rules));
        ck_assert(json_object_object_get_ex(json_object_array_get_idx(rules, i), "backend", &b));
        snprintf(buf, sizeof(buf), "%s", json_object_to_json_string(b));
        json_object_put(j);
        return buf;
}

/* Each value; "any" and no key are the same: no pin, null in the JSON. */
START_TEST(test_parse_backend) {
        _cleanup_(policy_freep)
                Policy *p = parse_ok("{\"version\": 1, \"rules\": ["
                                     "{\"action\": \"allow\", \"backend\": \"iommufd\"},"
                                     "{\"action\": \"allow\", \"backend\": \"type1\"},"
                                     "{\"action\": \"allow\", \"backend\": \"any\"},"
                                     "{\"action\": \"allow\"},"
                                     "{\"action\": \"deny\", \"backend\": \"any\"}]}");

        ck_assert_uint_eq(policy_n_rules(p), 5);
        ck_assert_str_eq(rule_backend_json(p, 0), "\"iommufd\"");
        ck_assert_str_eq(rule_backend_json(p, 1), "\"type1\"");
        ck_assert_str_eq(rule_backend_json(p, 2), "null");
        ck_assert_str_eq(rule_backend_json(p, 3), "null");
        ck_assert_str_eq(rule_backend_json(p, 4), "null");
        ck_assert_str_eq(policy_backend_to_string(POLICY_BACKEND_IOMMUFD), "iommufd");
        ck_assert_ptr_null(policy_backend_to_string(_POLICY_BACKEND_MAX));
}
END_TEST

/* A value the daemon has no backend of, of the wrong type, or a pin on a deny rule: the line
 * names the file, the rule and the value, and every bad rule is reported. */
START_TEST(test_bad_backend) {
        expect_errors("{\"version\": 1, \"rules\": [{\"action\": \"allow\"}, "
                      "{\"action\": \"allow\", \"backend\": \"vfio\"}]}",
                      "test.json: rules[1].backend: expected \"type1\", \"iommufd\" or \"any\", "
                      "got \"vfio\"\n");
        expect_errors("{\"version\": 1, \"rules\": [{\"action\": \"allow\", \"backend\": \"\"}, "
                      "{\"action\": \"allow\", \"backend\": null}, "
                      "{\"action\": \"allow\", \"backend\": \"auto\"}]}",
                      "test.json: rules[0].backend: expected \"type1\", \"iommufd\" or \"any\", "
                      "got \"\"\n"
                      "test.json: rules[1].backend: expected \"type1\", \"iommufd\" or \"any\", "
                      "got null\n"
                      "test.json: rules[2].backend: expected \"type1\", \"iommufd\" or \"any\", "
                      "got \"auto\"\n");
        expect_errors("{\"version\": 1, \"rules\": [{\"action\": \"deny\", \"backend\": \"type1\", "
                      "\"prepare_at_boot\": true}]}",
                      "test.json: rules[0].prepare_at_boot: only an \"allow\" rule can prepare "
                      "devices at boot\n"
                      "test.json: rules[0].backend: only an \"allow\" rule can pin a backend\n");
}
END_TEST

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *f) {
        return remove(path);
}

/* Through the loader the file is named by its path, as in the daemon's PolicyError. */
START_TEST(test_bad_backend_through_loader) {
        char tmp[] = "/tmp/test-policy-backend.XXXXXX", *dirs[] = { tmp, NULL };
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *path = NULL, *expected = NULL;
        Policy *p = SENTINEL;
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(tmp));
        ck_assert_int_ge(asprintf(&path, "%s/50-nic.json", tmp), 0);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("{\"version\": 1, \"rules\": [{\"action\": \"allow\", \"backend\": \"iommu\"}]}", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(policy_load_dirs(dirs, &p, &errors), -EINVAL);
        ck_assert_ptr_eq(p, SENTINEL);
        ck_assert_int_ge(asprintf(&expected,
                                  "%s: rules[0].backend: expected \"type1\", \"iommufd\" or "
                                  "\"any\", got \"iommu\"",
                                  path),
                         0);
        ck_assert_uint_eq(strv_length(errors), 1);
        ck_assert_str_eq(errors[0], expected);
        ck_assert_int_eq(nftw(tmp, rm_one, 4, FTW_DEPTH | FTW_PHYS), 0);
}
END_TEST

/* ---- verdicts ---- */

/* Group 3: two NICs and a bridge, which needs no rule and pins nothing. */
typedef struct World {
        Device nic0, nic1, bridge;
        Device *list[3];
        Topology t;
        Group g;
        HostInfo h;
} World;

static char *members[] = { (char *) "0000:00:1c.0", (char *) "0000:03:00.0",
                           (char *) "0000:03:00.1", NULL };

static void world_init(World *w) {
        w->bridge = DEV("0000:00:1c.0", 0x8086, 0x7ab8, 0x060400);
        w->nic0 = DEV("0000:03:00.0", 0x8086, 0x1533, 0x020000);
        w->nic1 = DEV("0000:03:00.1", 0x8086, 0x1533, 0x020000);
        w->bridge.bridge = true;
        w->bridge.group = w->nic0.group = w->nic1.group = 3;
        w->list[0] = &w->bridge;
        w->list[1] = &w->nic0;
        w->list[2] = &w->nic1;
        w->t = (Topology) { .devices = w->list, .n_devices = ELEMENTSOF(w->list) };
        w->g = (Group) { .id = 3, .devices = members };
        w->h = host_with(IR_ENABLED, 0);
}

static void assert_pin(const PolicyVerdict *v, PolicyBackend backend, int index,
                       const char *device) {
        ck_assert_int_eq(v->backend, backend);
        if (backend == POLICY_BACKEND_ANY) {
                ck_assert_ptr_null(v->backend_rule_file);
                ck_assert_int_eq(v->backend_rule_index, -1);
                ck_assert_ptr_null(v->backend_device);
                return;
        }
        ck_assert_str_eq(v->backend_rule_file, "test.json");
        ck_assert_int_eq(v->backend_rule_index, index);
        ck_assert_str_eq(v->backend_device, device);
}

/* One device: the deciding rule's pin, with a reason naming it; a pin of a rule for another
 * caller, or of a rule the first match shadows, is not this caller's. */
START_TEST(test_device_pin) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{\"version\": 1, \"rules\": ["
                "{\"match\": {\"class\": \"0x0200*\"}, \"action\": \"allow\", \"users\": [\"vmm\"], "
                "\"backend\": \"iommufd\", \"description\": \"NICs\"},"
                "{\"match\": {\"address\": \"0000:03:00.1\"}, \"action\": \"allow\"},"
                "{\"match\": {\"vendor\": \"0x8086\"}, \"action\": \"allow\", "
                "\"backend\": \"type1\"}]}");
        PolicyVerdict v = POLICY_VERDICT_INIT;
        World w;

        world_init(&w);
        eval_device(p, &w.nic0, &VMM, &v);
        ck_assert(v.allowed);
        assert_pin(&v, POLICY_BACKEND_IOMMUFD, 0, "0000:03:00.0");
        assert_reason(&v, "0000:03:00.0 is allowed for user vmm (uid 1000) by rule test.json#0 "
                          "(\"NICs\"), which pins the iommufd backend");
        policy_verdict_clear(&v);
        assert_pin(&v, POLICY_BACKEND_ANY, -1, NULL);

        /* Root skips rule 0 (vmm's) and gets rule 2's pin for the first NIC, none for the second
         * (rule 1 matches it first). */
        eval_device(p, &w.nic0, &ROOT, &v);
        ck_assert(v.allowed);
        assert_pin(&v, POLICY_BACKEND_TYPE1, 2, "0000:03:00.0");
        policy_verdict_clear(&v);
        eval_device(p, &w.nic1, &ROOT, &v);
        ck_assert(v.allowed);
        ck_assert_int_eq(v.rule_index, 1);
        assert_pin(&v, POLICY_BACKEND_ANY, -1, NULL);
        ck_assert(!any_contains(v.reasons, "pins"));
        policy_verdict_clear(&v);

        /* A denied device carries no pin: rule 0 does not name a NIC the host needs. */
        w.nic0.host_critical = (char *) "carries the default route (eno1)";
        eval_device(p, &w.nic0, &VMM, &v);
        ck_assert(!v.allowed);
        ck_assert_int_eq(v.code, POLICY_DENY_HOST_CRITICAL);
        assert_pin(&v, POLICY_BACKEND_ANY, -1, NULL);
        policy_verdict_clear(&v);
}
END_TEST

/* A group: the pin of the first member whose rule pins one, whichever rule decides the verdict;
 * members with no pin, and pins that agree, change nothing; different pins deny the group,
 * naming both rules and members. */
START_TEST(test_group_pin) {
        static const struct {
                const char *rules;
                bool allowed;
                PolicyBackend backend;
                int pin_index; /* of the pinning rule */
                const char *pin_device;
        } cases[] = {
                /* No rule pins. */
                { "{\"match\": {\"class\": \"0x0200*\"}, \"action\": \"allow\"}", true,
                  POLICY_BACKEND_ANY, -1, NULL },
                /* The second member's rule pins, the first's does not. */
                { "{\"match\": {\"address\": \"0000:03:00.0\"}, \"action\": \"allow\"},"
                  "{\"match\": {\"address\": \"0000:03:00.1\"}, \"action\": \"allow\", "
                  "\"backend\": \"iommufd\"}",
                  true, POLICY_BACKEND_IOMMUFD, 1, "0000:03:00.1" },
                /* Two rules, the same pin: the first names it. */
                { "{\"match\": {\"address\": \"0000:03:00.0\"}, \"action\": \"allow\", "
                  "\"backend\": \"type1\"},"
                  "{\"match\": {\"address\": \"0000:03:00.1\"}, \"action\": \"allow\", "
                  "\"backend\": \"type1\"}",
                  true, POLICY_BACKEND_TYPE1, 0, "0000:03:00.0" },
                /* Different pins. */
                { "{\"match\": {\"address\": \"0000:03:00.0\"}, \"action\": \"allow\", "
                  "\"backend\": \"iommufd\"},"
                  "{\"match\": {\"address\": \"0000:03:00.1\"}, \"action\": \"allow\", "
                  "\"backend\": \"type1\"}",
                  false, POLICY_BACKEND_IOMMUFD, 0, "0000:03:00.0" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;
                PolicyVerdict v = POLICY_VERDICT_INIT;
                Policy *p;
                World w;

                world_init(&w);
                ck_assert_int_ge(asprintf(&text, "{\"version\": 1, \"rules\": [%s]}",
                                          cases[i].rules),
                                 0);
                p = parse_ok(text);
                eval_group(p, &w.t, &w.g, &w.h, &ROOT, &v);
                ck_assert_msg(v.allowed == cases[i].allowed, "case %zu", i);
                assert_pin(&v, cases[i].backend, cases[i].pin_index, cases[i].pin_device);
                if (cases[i].allowed) {
                        ck_assert_int_eq(v.code, POLICY_DENY_NONE);
                        ck_assert_int_eq(v.rule_index, 0); /* the first member's rule decides */
                } else {
                        ck_assert_int_eq(v.code, POLICY_DENY_BACKEND_CONFLICT);
                        ck_assert_str_eq(policy_deny_code_to_string(v.code), "backend-conflict");
                        ck_assert_str_eq(v.device, "0000:03:00.1");
                        ck_assert_int_eq(v.rule_index, 1);
                        ck_assert_uint_eq(strv_length(v.denials), 1);
                        ck_assert_str_eq(v.denials[0],
                                         "rule test.json#0 pins the iommufd backend for "
                                         "0000:03:00.0 and rule test.json#1 the type1 backend "
                                         "for 0000:03:00.1: the members of an IOMMU group are "
                                         "claimed with one backend");
                }
                policy_verdict_clear(&v);
                policy_free(p);
        }
}
END_TEST

/* A group denied for another reason keeps that reason's code: the pin does not hide it. */
START_TEST(test_group_pin_with_denial) {
        _cleanup_(policy_freep) Policy *p =
                parse_ok("{\"version\": 1, \"rules\": ["
                         "{\"match\": {\"address\": \"0000:03:00.0\"}, \"action\": \"allow\", "
                         "\"backend\": \"iommufd\"},"
                         "{\"match\": {\"address\": \"0000:03:00.1\"}, \"action\": \"deny\"}]}");
        PolicyVerdict v = POLICY_VERDICT_INIT;
        World w;

        world_init(&w);
        eval_group(p, &w.t, &w.g, &w.h, &ROOT, &v);
        ck_assert(!v.allowed);
        ck_assert_int_eq(v.code, POLICY_DENY_RULE);
        ck_assert_str_eq(v.device, "0000:03:00.1");
        policy_verdict_clear(&v);
}
END_TEST

/* `assignctl policy explain --json` and the daemon's ExplainPolicy: "backend" is the pin with its
 * rule and member, or null. */
START_TEST(test_explain_json) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{\"version\": 1, \"rules\": ["
                "{\"match\": {\"class\": \"0x0200*\"}, \"action\": \"allow\", \"users\": [\"vmm\"], "
                "\"backend\": \"iommufd\"}]}");
        PolicyVerdict v = POLICY_VERDICT_INIT;
        json_object *j = NULL, *b;
        World w;

        world_init(&w);
        eval_group(p, &w.t, &w.g, &w.h, &VMM, &v);
        ck_assert(v.allowed);
        ck_assert_int_eq(policy_verdict_to_json(&v, 3, "vmm", 1000, &j), 0);
        ck_assert(json_object_object_get_ex(j, "backend", &b));
        ck_assert_str_eq(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN),
                         "{\"name\":\"iommufd\",\"rule\":{\"file\":\"test.json\",\"index\":0},"
                         "\"device\":\"0000:03:00.0\"}");
        json_object_put(j);
        policy_verdict_clear(&v);

        /* Root: no rule for it, the default decides, nothing is pinned. */
        eval_group(p, &w.t, &w.g, &w.h, &ROOT, &v);
        ck_assert(v.allowed);
        ck_assert_int_eq(policy_verdict_to_json(&v, 3, "root", 0, &j), 0);
        ck_assert(json_object_object_get_ex(j, "backend", &b));
        ck_assert_ptr_null(b);
        json_object_put(j);
        policy_verdict_clear(&v);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("policy-backend");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_test(tc, test_parse_backend);
        tcase_add_test(tc, test_bad_backend);
        tcase_add_test(tc, test_bad_backend_through_loader);
        suite_add_tcase(s, tc);

        tc = tcase_create("evaluate");
        tcase_add_test(tc, test_device_pin);
        tcase_add_test(tc, test_group_pin);
        tcase_add_test(tc, test_group_pin_with_denial);
        tcase_add_test(tc, test_explain_json);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        sr = srunner_create(suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
