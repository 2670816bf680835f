/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A rule's "vfio_driver" (vfio-assignd.policy(5)): vfio-pci or a variant's name, on allow rules
 * only, refused otherwise naming file, rule and value; shown by policy_to_json(); and the rule
 * that chooses a device's driver found whoever asks. The manager applies it
 * (tests/integration/test-variant.c). */

#include <check.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "policy-world.h"
#include "util.h"

static const char *rule_driver_json(const Policy *p, size_t i) {
        static char buf[96];
        json_object *j = NULL, *rules, *v;

        ck_assert_int_eq(policy_to_json(p, &j), 0);
        ck_assert(json_object_object_get_ex(j, "rules", &rules));
        ck_assert(json_object_object_get_ex(json_object_array_get_idx(rules, i), "vfio_driver",
                                            &v));
        snprintf(buf, sizeof(buf), "%s", json_object_to_json_string(v));
        json_object_put(j);
        return buf;
}

START_TEST(test_parse_vfio_driver) {
        _cleanup_(policy_freep)
                Policy *p = parse_ok("{\"version\": 1, \"rules\": ["
                                     "{\"action\": \"allow\", \"vfio_driver\": \"mlx5_vfio_pci\"},"
                                     "{\"action\": \"allow\", \"vfio_driver\": \"vfio-pci\"},"
                                     "{\"action\": \"allow\"}]}");

        ck_assert_str_eq(rule_driver_json(p, 0), "\"mlx5_vfio_pci\"");
        ck_assert_str_eq(rule_driver_json(p, 1), "\"vfio-pci\"");
        ck_assert_str_eq(rule_driver_json(p, 2), "null");
}
END_TEST

START_TEST(test_bad_vfio_driver) {
        expect_errors("{\"version\": 1, \"rules\": ["
                      "{\"action\": \"allow\", \"vfio_driver\": \"e1000e\"},"
                      "{\"action\": \"allow\", \"vfio_driver\": \"../x_vfio_pci\"},"
                      "{\"action\": \"allow\", \"vfio_driver\": \"_vfio_pci\"},"
                      "{\"action\": \"allow\", \"vfio_driver\": 1},"
                      "{\"action\": \"deny\", \"vfio_driver\": \"vfio-pci\"}]}",
                      "test.json: rules[0].vfio_driver: expected \"vfio-pci\" or a VFIO variant "
                      "driver (NAME_vfio_pci), got \"e1000e\"\n"
                      "test.json: rules[1].vfio_driver: expected \"vfio-pci\" or a VFIO variant "
                      "driver (NAME_vfio_pci), got \"../x_vfio_pci\"\n"
                      "test.json: rules[2].vfio_driver: expected \"vfio-pci\" or a VFIO variant "
                      "driver (NAME_vfio_pci), got \"_vfio_pci\"\n"
                      "test.json: rules[3].vfio_driver: expected \"vfio-pci\" or a VFIO variant "
                      "driver (NAME_vfio_pci), got an integer\n"
                      "test.json: rules[4].vfio_driver: only an \"allow\" rule can choose a VFIO "
                      "driver\n");
}
END_TEST

/* The first allow rule that matches the device and names a driver, whatever its users. */
START_TEST(test_rule_chooses_driver) {
        _cleanup_(policy_freep)
                Policy *p = parse_ok("{\"version\": 1, \"rules\": ["
                                     "{\"action\": \"allow\", \"match\": {\"vendor\": \"0x10de\"}},"
                                     "{\"action\": \"allow\", \"users\": [\"alice\"], "
                                     "\"match\": {\"vendor\": \"0x15b3\"}, "
                                     "\"vfio_driver\": \"vfio-pci\"},"
                                     "{\"action\": \"allow\", \"match\": {\"vendor\": \"0x15b3\"}, "
                                     "\"vfio_driver\": \"mlx5_vfio_pci\"}]}");
        Device mlx = DEV("0000:3b:00.2", 0x15b3, 0x101e, 0x020000);
        Device gpu = DEV("0000:01:00.0", 0x10de, 0x2684, 0x030000);
        const char *file = NULL;
        int index = -1;

        ck_assert_str_eq(policy_vfio_driver(p, &mlx, &file, &index), "vfio-pci");
        ck_assert_str_eq(file, "test.json");
        ck_assert_int_eq(index, 1);
        ck_assert_ptr_null(policy_vfio_driver(p, &gpu, NULL, NULL));
        ck_assert_ptr_null(policy_vfio_driver(NULL, &gpu, NULL, NULL));
}
END_TEST

int main(void) {
        Suite *s = suite_create("policy-driver");
        TCase *tc = tcase_create("vfio_driver");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_parse_vfio_driver);
        tcase_add_test(tc, test_bad_vfio_driver);
        tcase_add_test(tc, test_rule_chooses_driver);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
